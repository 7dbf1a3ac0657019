-- A child of spec/40-dict_crash_spec.lua: for SECONDS, reads the keys
-- dict_stop_writer.lua writes with get, get_stale, ttl and (every 50th
-- round) get_keys, timing every call and checking every value (a string
-- must be self-checking and its byte must match its flags; "ctr" must never
-- go down but by an eviction).  Counts its calls on the progress board (slot SLOT of the
-- segment BOARD).  Prints "calls N max S torn T back B" and the first torn
-- value's code, if any.
-- usage: dict_stop_reader.lua KEY NKEYS SECONDS BOARD SLOT
local C = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/dict_common.lua")
local smo = require("smobject")
local function int(x) x = tonumber(x) return math.tointeger and math.tointeger(x) or x end
local key, nkeys, seconds, boardkey, slot = int(arg[1]), int(arg[2]), tonumber(arg[3]), int(arg[4]), int(arg[5])

local d = assert(smo.dict{ key = key })
local board = assert(smo.open{ key = boardkey })
local clock = smo.clock
local keys = { "hot", "ctr" }
for j = 1, nkeys do keys[#keys + 1] = "k" .. j end

local calls, max, maxop, torn, back, first = 0, 0, "", 0, 0, nil
-- ctr's last value, and the evictions counted before it was read: ctr may
-- go down only when an eviction (which may take it) came in between.
local last_ctr, last_evictions = -1, -1

local function check(k, v, flags, ev_before, ev_after)
  if k == "ctr" then
    if v ~= nil then
      if type(v) ~= "number" then torn = torn + 1 first = first or ("ctr=" .. C.code(v)) return end
      if v < last_ctr and ev_after == last_evictions then
        back = back + 1
        first = first or ("ctr went from " .. last_ctr .. " to " .. v .. " without an eviction")
      end
      last_ctr, last_evictions = v, ev_before
    end
    return
  end
  if v == nil then return end
  local code = C.code(v)
  if code:sub(1, 1) ~= "s" or code:sub(-1) ~= C.byte_for(flags or 0) then
    torn = torn + 1
    first = first or (k .. "=" .. code .. " flags " .. tostring(flags))
  end
end

local function timed(op, f, ...)
  local t0 = clock()
  local a, b, c = f(d, ...)
  local dt = clock() - t0
  if dt > max then max, maxop = dt, op end
  calls = calls + 1
  C.board_done(board, slot)
  return a, b, c
end

local deadline = clock() + seconds
local round = 0
while clock() < deadline do
  round = round + 1
  for _, k in ipairs(keys) do
    local e0 = d:stats().evictions
    local v, flags = timed("get", d.get, k)
    check(k, v, flags, e0, d:stats().evictions)
    e0 = d:stats().evictions
    v, flags = timed("get_stale", d.get_stale, k)
    check(k, v, flags, e0, d:stats().evictions)
    timed("ttl", d.ttl, k)
  end
  if round % 50 == 0 then timed("get_keys", d.get_keys, 0) end
end
io.write(("calls %d max %.6f op %s torn %d back %d\n"):format(calls, max, maxop, torn, back))
if first then io.write("first torn: ", first, "\n") end
