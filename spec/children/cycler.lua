-- Opens (creating if needed) and closes the same key N times as fast as it
-- can, checking the count is sane each time; prints "done ERRORS".
-- usage: cycler.lua KEY N
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local key, n = I.tointeger(tonumber(arg[1])), tonumber(arg[2])
local errors = 0
for i = 1, n do
  local seg, err = smo.open{ key = key, size = 4096, create = true }
  if not seg then
    errors = errors + 1
    io.write("open ", i, ": ", tostring(err), "\n")
  else
    local u = seg:users()
    if not u or u < 1 then
      errors = errors + 1
      io.write("users ", i, ": ", tostring(u), "\n")
    end
    seg:set("int32_t", 0, i)
    seg:close()
  end
end
io.write("done ", errors, "\n")
