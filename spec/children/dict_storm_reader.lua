-- The reader of spec/40-dict_crash_spec.lua's kill storm: for SECONDS, reads
-- every writer's keys (w1k1..w<W>k<NKEYS>) with get, get_stale, ttl and,
-- every 20th round, get_keys, timing every call; a string that is not a
-- whole self-checking value (dict_common.strval) is torn.  Prints
-- "calls N max S op OP torn T" and the first torn value's code, if any.
-- usage: dict_storm_reader.lua KEY W NKEYS SECONDS
local C = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/dict_common.lua")
local smo = require("smobject")
local function int(x) x = tonumber(x) return math.tointeger and math.tointeger(x) or x end
local key, nw, nkeys, seconds = int(arg[1]), int(arg[2]), int(arg[3]), tonumber(arg[4])

local d = assert(smo.dict{ key = key })
local clock = smo.clock
local keys = {}
for w = 1, nw do
  for j = 1, nkeys do keys[#keys + 1] = "w" .. w .. "k" .. j end
end

local calls, max, maxop, torn, first = 0, 0, "", 0, nil
local function timed(op, f, ...)
  local t0 = clock()
  local a, b, c = f(d, ...)
  local dt = clock() - t0
  if dt > max then max, maxop = dt, op end
  calls = calls + 1
  return a, b, c
end
local function check(k, v)
  if v == nil then return end
  local code = C.code(v)
  if code:match("^TORN") then
    torn = torn + 1
    first = first or (k .. "=" .. code)
  end
end

local deadline = clock() + seconds
local round = 0
while clock() < deadline do
  round = round + 1
  for _, k in ipairs(keys) do
    check(k, (timed("get", d.get, k)))
    check(k, (timed("get_stale", d.get_stale, k)))
    timed("ttl", d.ttl, k)
  end
  if round % 20 == 0 then
    for _, k in ipairs(timed("get_keys", d.get_keys, 0)) do
      if not k:match("^w%d+k%d+$") then torn = torn + 1 first = first or ("key " .. ("%q"):format(k)) end
    end
  end
end
io.write(("calls %d max %.6f op %s torn %d\n"):format(calls, max, maxop, torn))
if first then io.write("first torn: ", first, "\n") end
