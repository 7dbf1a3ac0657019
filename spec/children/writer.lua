-- Writes a string at offset 0 and an int32 at offset 256 of an existing
-- segment, then closes.  usage: writer.lua KEY TEXT NUMBER
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local key = I.tointeger(tonumber(arg[1]))
local seg = assert(smo.open{ key = key })
seg:write(0, arg[2] .. "\0")
seg:set("int32_t", 256, I.tointeger(tonumber(arg[3])))
seg:close()
io.write("written\n")
