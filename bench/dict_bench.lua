-- make bench-dict: smo.dict beside ngx.shared.DICT (inside an nginx worker,
-- lua-resty-core's FFI methods on OpenResty's LuaJIT) and Redis (loopback,
-- one Lua client), 1000 keys, each measured in this run (bench/dict_ref.lua).
-- Runs under lua5.4.  Until smo.dict exists its columns say so.
local HERE = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$")) or "bench"
package.path = HERE .. "/?.lua;" .. package.path
local ref = require("dict_ref")

local NOT_BUILT = "(smo.dict not yet built)"

local r, err = ref.run()
if not r then
  io.stderr:write("bench-dict: ", err, "\n")
  os.exit(1)
end

-- One column: a title, its figures by operation name (nil: `missing` is
-- printed), a scale from ns and a format.
local columns = {
  { title = "nginx ns/op", t = r.nginx, scale = 1, fmt = "%.1f" },
  { title = "redis us/op", t = r.redis, scale = 1e-3, fmt = "%.1f" },
  { title = "smo.dict Lua 5.4 ns/op", t = nil, missing = NOT_BUILT },
  { title = "smo.dict LuaJIT ns/op", t = nil, missing = NOT_BUILT },
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
print(("nginx %s, ngx_lua %s, %s; get through %s; best of %s rounds of >= %s ms inside the worker")
  :format(version(ng.nginx), version(ng.ngx_lua), tostring(ng.luajit),
          ng.ffi and "lua-resty-core's FFI" or "ngx_lua's C function (lua-resty-core missing)",
          tostring(ng.rounds), tostring(ng.round_ms)))
print(("redis %s, %s, best of %s rounds of %s")
  :format(tostring(rd.redis), tostring(rd.client), tostring(rd.rounds),
          rd.round_requests and rd.round_requests .. " requests" or ">= " .. tostring(rd.round_ms) .. " ms"))
