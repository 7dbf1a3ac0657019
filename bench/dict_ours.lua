-- smo.dict's side of make bench-dict: the loops of bench/dict_ref_nginx.lua
-- (same keys, same states, same measurement: best of ROUNDS rounds of at
-- least ROUND_MS, the repetitions found by doubling), printed as a Lua table
-- of ns per operation.  Portable: Lua 5.1-5.4 and LuaJIT run it.
--   dict_ours.lua loops               the six loops, on a private dictionary
--   dict_ours.lua writer KEY ID SECS [num]
--                                     sets its own 1000 keys for SECS seconds
--                                     in dictionary KEY (64-byte strings, or
--                                     numbers with num); prints sets per second
--   dict_ours.lua spin SECS           the same loop with no dictionary (a Lua
--                                     table instead): how two processes scale
--                                     on this machine with nothing shared
local smo = require("smobject")

local KEYS = 1000
local S64 = string.rep("x", 64)
local ROUNDS, ROUND_S = 5, 0.1
local now = smo.clock
local mode = arg[1] or "loops"

if mode == "spin" then
  local secs, t, n, t0 = tonumber(arg[2]), {}, 0, now()
  local keys = {}
  for j = 1, KEYS do keys[j] = "s:k" .. j end
  local deadline = t0 + secs
  while now() < deadline do
    for j = 1, KEYS do t[keys[j]] = S64 end
    n = n + KEYS
  end
  assert(t[keys[KEYS]] == S64)
  io.write(("return %.1f\n"):format(n / (now() - t0)))
  return
end

if mode == "writer" then
  local d = assert(smo.dict{ key = tonumber(arg[2]) })
  local id, secs, num = arg[3], tonumber(arg[4]), arg[5] == "num"
  local keys = {}
  for j = 1, KEYS do keys[j] = id .. ":k" .. j end
  for j = 1, KEYS do d:set(keys[j], S64) end
  local n, t0 = 0, now()
  local deadline = t0 + secs
  if num then
    for j = 1, KEYS do d:set(keys[j], j) end
    while now() < deadline do
      for j = 1, KEYS do d:set(keys[j], j + n) end
      n = n + KEYS
    end
  else
    while now() < deadline do
      for j = 1, KEYS do d:set(keys[j], S64) end
      n = n + KEYS
    end
  end
  io.write(("return %.1f\n"):format(n / (now() - t0)))
  d:close()
  return
end

local d = assert(smo.dict{ key = smo.PRIVATE, size = 64 * 1024 * 1024, create = true })
local keys = {}
for j = 1, KEYS do keys[j] = "k" .. j end
local sink

local function clear()
  d:flush_all()
  d:flush_expired()
end

local function measure(fn)
  local reps = 1
  while true do
    local t0 = now()
    fn(reps)
    if now() - t0 >= ROUND_S then break end
    reps = reps * 2
  end
  local best = math.huge
  for _ = 1, ROUNDS do
    local t0 = now()
    fn(reps)
    local dt = now() - t0
    if dt < best then best = dt end
  end
  return best * 1e9 / (reps * KEYS)
end

local res = {}
clear()
res.set_num = measure(function(reps) for _ = 1, reps do for j = 1, KEYS do d:set(keys[j], j) end end end)
assert(d:get("k1") == 1 and d:get("k1000") == 1000)
res.get_num = measure(function(reps) for _ = 1, reps do for j = 1, KEYS do sink = d:get(keys[j]) end end end)
assert(sink == 1000)
res.set_str = measure(function(reps) for _ = 1, reps do for j = 1, KEYS do d:set(keys[j], S64) end end end)
assert(d:get("k1") == S64)
res.get_str = measure(function(reps) for _ = 1, reps do for j = 1, KEYS do sink = d:get(keys[j]) end end end)
assert(sink == S64)
clear()
for j = 1, KEYS do d:set(keys[j], 0) end
res.incr = measure(function(reps) for _ = 1, reps do for j = 1, KEYS do d:incr(keys[j], 1) end end end)
assert(d:get("k1") > 0 and d:get("k1") == d:get("k1000"))
clear()
for j = 1, KEYS do d:lpush(keys[j], 0) end
res.lpush_rpop = measure(function(reps)
  for _ = 1, reps do
    for j = 1, KEYS do
      local k = keys[j]
      d:lpush(k, j)
      sink = d:rpop(k)
    end
  end
end)
assert(d:llen("k1") == 1 and d:llen("k1000") == 1 and sink ~= nil)
d:close()
local out = { "return {" }
for _, k in ipairs({ "get_num", "set_num", "set_str", "get_str", "incr", "lpush_rpop" }) do
  out[#out + 1] = ("  %s = %.3f,"):format(k, res[k])
end
out[#out + 1] = "}"
print(table.concat(out, "\n"))
