-- The ngx.shared.DICT reference of make bench-dict, run inside the nginx
-- worker (content_by_lua_file in bench/dict_nginx.conf.in) so that no HTTP
-- cost is measured: the request only starts the loops and carries back the
-- figures, as a Lua table constructor (ns per operation; bench/dict_ref.sh
-- puts it into its own table).  LuaJIT 2.1 (OpenResty's) runs it.
--
-- Every loop walks the 1000 keys "k1".."k1000" in order, `reps` times:
--   for _ = 1, reps do for j = 1, 1000 do <op on keys[j]> end end
-- and each figure is the best of ROUNDS rounds, each one at least ROUND_MS
-- long (reps found by doubling from 1; the doubling runs are the warm-up).
-- Results that get returns are stored to an upvalue, so the JIT cannot drop
-- the string building.  The state each loop runs on:
--   set_num     d:set(k, j)           (the first round creates the keys)
--   get_num     d:get(k)              keys hold numbers (set_num's)
--   set_str     d:set(k, S64)         S64 = 64 bytes; keys held numbers before
--   get_str     d:get(k)              keys hold S64
--   incr        d:incr(k, 1)          after flush_all + flush_expired, keys set to 0
--   lpush_rpop  d:lpush(k, j); d:rpop(k)   after a flush, each key a list of one
--               element, so a pair leaves it at one (no key created or freed)
-- luacheck: globals ngx
-- luacheck: read globals jit
local ffi = require("ffi")

local KEYS = 1000
local S64 = string.rep("x", 64)
local args = ngx.req.get_uri_args()
local ROUNDS = tonumber(args.rounds) or 5
local ROUND_S = (tonumber(args.round_ms) or 100) / 1000
if args.jitlog and args.jitlog ~= "" then require("jit.v").on(args.jitlog) end

-- A monotonic clock: clock_gettime(CLOCK_MONOTONIC) through the FFI (ngx.now
-- has millisecond resolution only).  Declared once per LuaJIT state.
if not pcall(ffi.typeof, "struct smo_dictbench_ts") then
  ffi.cdef[[
    struct smo_dictbench_ts { long tv_sec; long tv_nsec; };
    int clock_gettime(int clock, struct smo_dictbench_ts *ts);
  ]]
end
local CLOCK_MONOTONIC = 1
local ts = ffi.new("struct smo_dictbench_ts")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local d = ngx.shared.bench
local keys = {}
for j = 1, KEYS do keys[j] = "k" .. j end
local sink

local function clear()
  d:flush_all()
  d:flush_expired()
end

-- Best time of fn(reps) in ns per operation (one operation per key visit).
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
  return best * 1e9 / (reps * KEYS), reps * KEYS
end

local function fail(what)
  ngx.status = 500
  ngx.say("dict_ref_nginx: ", what)
  return ngx.exit(500)
end

local res, ops = {}, {}
local function check(cond, what)
  if not cond then fail(what) end
end

clear()
res.set_num, ops.set_num = measure(function(reps)
  for _ = 1, reps do for j = 1, KEYS do d:set(keys[j], j) end end
end)
check(d:get("k1") == 1 and d:get("k1000") == 1000, "set_num did not store the numbers")

res.get_num, ops.get_num = measure(function(reps)
  for _ = 1, reps do for j = 1, KEYS do sink = d:get(keys[j]) end end
end)
check(sink == 1000, "get_num read " .. tostring(sink))

res.set_str, ops.set_str = measure(function(reps)
  for _ = 1, reps do for j = 1, KEYS do d:set(keys[j], S64) end end
end)
check(d:get("k1") == S64 and d:get("k1000") == S64, "set_str did not store the string")

res.get_str, ops.get_str = measure(function(reps)
  for _ = 1, reps do for j = 1, KEYS do sink = d:get(keys[j]) end end
end)
check(sink == S64, "get_str read " .. tostring(sink))

clear()
for j = 1, KEYS do d:set(keys[j], 0) end
res.incr, ops.incr = measure(function(reps)
  for _ = 1, reps do for j = 1, KEYS do d:incr(keys[j], 1) end end
end)
local n1, n2 = d:get("k1"), d:get("k1000")
check(type(n1) == "number" and n1 > 0 and n1 == n2, "incr left k1=" .. tostring(n1) .. " k1000=" .. tostring(n2))

clear()
for j = 1, KEYS do d:lpush(keys[j], 0) end
res.lpush_rpop, ops.lpush_rpop = measure(function(reps)
  for _ = 1, reps do
    for j = 1, KEYS do
      local k = keys[j]
      d:lpush(k, j)
      sink = d:rpop(k)
    end
  end
end)
check(sink == KEYS and d:llen("k1") == 1 and d:llen("k1000") == 1, "lpush_rpop: lists are not of one element")
clear()

-- ngx.shared.DICT's get is resty.core's FFI one, not ngx_lua's C function.
local via = debug.getinfo(d.get, "S").source
local function q(s) return string.format("%q", tostring(s)) end
local out = { "{" }
for _, k in ipairs({ "get_num", "set_num", "set_str", "get_str", "incr", "lpush_rpop" }) do
  out[#out + 1] = string.format("  %s = %.3f,", k, res[k])
end
out[#out + 1] = "  round_ops = {"
for k, v in pairs(ops) do out[#out + 1] = string.format("    %s = %d,", k, v) end
out[#out + 1] = "  },"
out[#out + 1] = "  rounds = " .. ROUNDS .. ", round_ms = " .. ROUND_S * 1000 .. ","
out[#out + 1] = "  nginx = " .. q(ngx.config.nginx_version) .. ", ngx_lua = " .. q(ngx.config.ngx_lua_version) .. ","
out[#out + 1] = "  luajit = " .. q(jit.version) .. ", jit_on = " .. tostring(jit.status()) .. ","
out[#out + 1] = "  get_source = " .. q(via) .. ", ffi = " .. tostring(via:find("resty/core/shdict", 1, true) ~= nil) .. ","
out[#out + 1] = "  nonce = " .. q(ngx.var.bench_nonce) .. ","
out[#out + 1] = "}"
ngx.say(table.concat(out, "\n"))
