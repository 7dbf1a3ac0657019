-- Writes a string at offset 0 and an int32 at offset 256 of an existing
-- segment, then closes.  usage: writer.lua KEY TEXT NUMBER
local smo = require("smobject")
local key = math.tointeger(tonumber(arg[1]))
local seg = assert(smo.open{ key = key })
seg:write(0, arg[2] .. "\0")
seg:set("int32_t", 256, math.tointeger(tonumber(arg[3])))
seg:close()
io.write("written\n")
