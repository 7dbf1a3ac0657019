-- make bench-dict: smo.dict beside ngx.shared.DICT (inside an nginx worker,
-- lua-resty-core's FFI methods on OpenResty's LuaJIT) and Redis (loopback,
-- one Lua client), 1000 keys, each measured in this run (bench/dict_ref.lua).
-- Runs under lua5.4.  Until smo.dict exists its columns say so.
local HERE = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$")) or "bench"
package.path = HERE .. "/?.lua;" .. package.path
local ref = require("dict_ref")
package.path = (HERE:match("^(.*)/bench$") or ".") .. "/lua/?.lua;" .. package.path
local smo_ok, smo = pcall(require, "smobject")
if not smo_ok then smo = {} end

local NOT_BUILT = "(smo.dict not yet built)"

-- PASSES passes, each side in turn (nginx and Redis, then ours on 5.4 and
-- LuaJIT), keeping each figure's best: a slow spell of this machine (a
-- shared one) then hurts no side more than the others.
local PASSES = tonumber(os.getenv("SMO_BENCH_PASSES") or "") or 3

-- The per-operation minimum of two tables of figures (nil: the other).
local function best(a, b)
  if not a then return b end
  if not b then return a end
  local t = {}
  for k, v in pairs(a) do t[k] = v end
  for k, v in pairs(b) do
    if type(v) == "number" and (type(t[k]) ~= "number" or v < t[k]) then t[k] = v end
  end
  return t
end

-- One column: a title, its figures by operation name (nil: `missing` is
-- printed), a scale from ns and a format.
-- smo.dict's figures from bench/dict_ours.lua under a runtime: its table,
-- or nil and why.
local ROOT = HERE:match("^(.*)/bench$") or "."
local function ours(lua, build, ...)
  local cmd = ("LUA_PATH=%q LUA_CPATH=%q %s %s/dict_ours.lua %s 2>&1"):format(ROOT .. "/lua/?.lua;;",
    ROOT .. "/" .. build .. "/?.so;;", lua, HERE, table.concat({ ... }, " "))
  local p = io.popen(cmd)
  local text = p:read("*a")
  p:close()
  local chunk = load(text, "=dict_ours", "t", {})
  local ok, t = pcall(chunk or error, text)
  if not ok or t == nil then return nil, (text:gsub("\n.*", "")) end
  return t
end
local function have(lua) return os.execute("command -v " .. lua .. " >/dev/null 2>&1") end
-- (env -u: the headers and build directory come from LUA, not from a make
-- that started this one, which exports its own for Lua 5.4)
local jit_built = have("luajit") and os.execute("env -u LUA_INC -u SMO_BUILD -u BUILD_DIR make -s -C " .. ROOT
  .. " LUA=luajit all >/dev/null 2>&1")
local r = {}
local o54, why54, ojit, whyjit = nil, nil, nil, "luajit not installed"
for _ = 1, PASSES do
  local rr, err = ref.run()
  if not rr then
    io.stderr:write("bench-dict: ", err, "\n")
    os.exit(1)
  end
  r.nginx, r.redis = best(r.nginx, rr.nginx), best(r.redis, rr.redis)
  for k, v in pairs(rr) do
    if k ~= "nginx" and k ~= "redis" then r[k] = v end
  end
  local t, why = ours("lua5.4", "build", "loops")
  o54, why54 = best(o54, t), why54 or why
  if jit_built then
    t, why = ours("luajit", "build/luajit", "loops")
    ojit, whyjit = best(ojit, t), why
  end
end
if o54 then why54 = nil end
if ojit then whyjit = nil end

local columns = {
  { title = "nginx ns/op", t = r.nginx, scale = 1, fmt = "%.1f" },
  { title = "redis us/op", t = r.redis, scale = 1e-3, fmt = "%.1f" },
  { title = "smo.dict Lua 5.4 ns/op", t = o54, scale = 1, fmt = "%.1f", missing = why54 or NOT_BUILT },
  { title = "smo.dict LuaJIT ns/op", t = ojit, scale = 1, fmt = "%.1f", missing = whyjit or NOT_BUILT },
}

local function cell(c, name)
  local v = c.t and c.t[name]
  if type(v) ~= "number" then return c.missing or "-" end
  return (c.fmt):format(v * c.scale)
end

local rows = { { "operation" } }
for _, c in ipairs(columns) do rows[1][#rows[1] + 1] = c.title end
for _, op in ipairs(ref.OPS) do
  local row = { op.label }
  for _, c in ipairs(columns) do row[#row + 1] = cell(c, op.name) end
  rows[#rows + 1] = row
end
local width = {}
for _, row in ipairs(rows) do
  for i, s in ipairs(row) do width[i] = math.max(width[i] or 0, #s) end
end
print("smo.dict against ngx.shared.DICT and Redis, 1000 keys (\"k1\"..\"k1000\"); lpush+rpop per pair")
for n, row in ipairs(rows) do
  local out = {}
  for i, s in ipairs(row) do
    out[i] = i == 1 and s .. (" "):rep(width[i] - #s) or (" "):rep(width[i] - #s) .. s
  end
  print(table.concat(out, "  "))
  if n == 1 then
    local rule = {}
    for i = 1, #row do rule[i] = ("-"):rep(width[i]) end
    print(table.concat(rule, "  "))
  end
end

-- "1022001" -> "1.22.1" (nginx's and ngx_lua's version numbers)
local function version(v)
  v = tonumber(v)
  if not v then return "?" end
  return ("%d.%d.%d"):format(v // 1000000, v // 1000 % 1000, v % 1000)
end
local ng, rd = r.nginx or {}, r.redis or {}
print()
print(("each figure the best of %d passes, the sides in turn"):format(PASSES))
print(("nginx %s, ngx_lua %s, %s; get through %s; best of %s rounds of >= %s ms inside the worker")
  :format(version(ng.nginx), version(ng.ngx_lua), tostring(ng.luajit),
          ng.ffi and "lua-resty-core's FFI" or "ngx_lua's C function (lua-resty-core missing)",
          tostring(ng.rounds), tostring(ng.round_ms)))
print(("redis %s, %s, best of %s rounds of %s")
  :format(tostring(rd.redis), tostring(rd.client), tostring(rd.rounds),
          rd.round_requests and rd.round_requests .. " requests" or ">= " .. tostring(rd.round_ms) .. " ms"))

-- The issue's goals, from the figures of this run.
local function ratio_row(what, a, b, goal, le)
  if type(a) ~= "number" or type(b) ~= "number" then
    print(("%-44s (not measured)"):format(what))
    return
  end
  local x = a / b
  local met = le and x <= goal or (not le and x >= goal)
  print(("%-44s %8.2f  goal %s %.2f: %s"):format(what, x, le and "<=" or ">=", goal, met and "met" or "MISSED"))
end
print()
print("goals (ratio of times; below 1 is faster):")
local ngt = r.nginx or {}
for _, op in ipairs({ "get_num", "set_num" }) do
  ratio_row("Lua 5.4 " .. op .. " / nginx", o54 and o54[op], ngt[op], 2.0, true)
  ratio_row("LuaJIT " .. op .. " / nginx", ojit and ojit[op], ngt[op], 1.0, true)
end
local rd_get = (r.redis or {}).get_num
ratio_row("Redis get / Lua 5.4 get (times faster)", rd_get, o54 and o54.get_num, 200, false)

-- Two writers on different keys against one: throughput, for 64-byte
-- strings (each set makes a new entry, under its bucket's lock and its
-- lane's) and for numbers (each set is one lock-free swap in place), and,
-- for reference, the same loop on a Lua table (nothing shared: what two
-- processes reach on this machine at best).  ROUNDS2 rounds of 0.5 s, one
-- writer then two, in turn; each figure the best of its rounds (a shared
-- machine's slow spells hurt both sides), and the median of the rounds'
-- ratios beside it.
local ROUNDS2 = tonumber(os.getenv("SMO_BENCH_ROUNDS2") or "") or math.max(12, PASSES)
local function two_writers(kind)
  local key = 0x5d1cbe00 + (os.time() % 200) + (kind == "num" and 256 or 0)
  local d
  if kind ~= "spin" then
    d = smo.dict and smo.dict{ key = key, size = 64 * 1024 * 1024, create = true }
    if not d then return end
  end
  local extra = kind == "num" and " num" or ""
  local env = ("LUA_PATH=%q LUA_CPATH=%q lua5.4 %s/dict_ours.lua "):format(ROOT .. "/lua/?.lua;;",
    ROOT .. "/build/?.so;;", HERE)
  local cmd = kind == "spin" and env .. "spin 0.5" or env .. ("writer %d %%s 0.5%s"):format(key, extra)
  local function run(id) return io.popen(cmd:format(id)) end
  local function value(p)
    local t = p:read("*a")
    p:close()
    local f = load(t, "=writer", "t", {})
    local v = f and f()
    return type(v) == "number" and v or nil, t
  end
  local one, two, ratios, why = nil, nil, {}, nil
  for _ = 1, ROUNDS2 do
    local o, t0 = value(run("a"))
    local p1, p2 = run("b"), run("c")
    local a, t1 = value(p1)
    local b, t2 = value(p2)
    if not (o and a and b) then why = tostring(t0) .. ", " .. tostring(t1) .. ", " .. tostring(t2) break end
    if not one or o > one then one = o end
    if not two or a + b > two then two = a + b end
    ratios[#ratios + 1] = (a + b) / o
  end
  if d then d:close() end
  local what = ("two writers, different keys / one (%s)"):format(kind == "num" and "numbers"
    or kind == "spin" and "a Lua table, reference" or "64-byte strings")
  if why then
    print(what .. ": not measured (" .. why .. ")")
    return
  end
  table.sort(ratios)
  local median = ratios[(#ratios + 1) // 2]
  if kind == "spin" then
    print(("%-44s %8.2f  (median of %d rounds %.2f; one: %.0f sets/s)"):format(what, two / one, #ratios, median, one))
  else
    print(("%-44s %8.2f  goal >= 1.60: %s   (median of %d rounds %.2f; one: %.0f sets/s; two: %.0f)"):format(
      what, two / one, two / one >= 1.6 and "met" or "MISSED", #ratios, median, one, two))
  end
end
two_writers("str")
two_writers("num")
two_writers("spin")
