-- Prints the NUL-terminated string at offset 0 and the int32 at 256 of an
-- existing segment as a Lua table literal.  usage: reader.lua KEY
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local key = I.tointeger(tonumber(arg[1]))
local seg = assert(smo.open{ key = key, readonly = true })
local s = seg:read(0)                    -- (the string up to its NUL: seg:unpack(0, "z") is 5.3+)
s = s:sub(1, (s:find("\0", 1, true) or #s + 1) - 1)
io.write(string.format("return { text = %q, number = %d, users = %d }\n",
  s, seg:get("int32_t", 256), seg:users()))
seg:close()
