-- The reader of the lecture notes in Lua: prints the string and destroys the
-- segment, as the C reader does.
-- usage: lua5.4 examples/reader.lua PATH
local smo = require("smobject")
local path = arg[1] or "f1.txt"
local seg = assert(smo.open{ path = path, proj = 65, readonly = true })
print(("Lua reader: data read from memory: %q"):format(seg:unpack(0, "z")))
assert(seg:remove())
seg:close()
