-- A child of spec/40-dict_crash_spec.lua: N d:incr(NAME, 1, 0) on the
-- dictionary of key KEY; writes every value incr returned to OUT, one a
-- line, and prints "done" (or what went wrong).
-- usage: dict_incr.lua KEY NAME N OUT
local smo = require("smobject")
local key, name, n, out = tonumber(arg[1]), arg[2], tonumber(arg[3]), arg[4]
key = math.tointeger and math.tointeger(key) or key

local d = assert(smo.dict{ key = key })
local got = {}
for i = 1, n do
  local v, err = d:incr(name, 1, 0)
  if v == nil then
    io.write("incr ", i, " failed: ", tostring(err), "\n")
    os.exit(1)
  end
  got[i] = v
end
d:close()
local f = assert(io.open(out, "w"))
for i = 1, n do f:write(tostring(got[i]), "\n") end
f:close()
io.write("done\n")
