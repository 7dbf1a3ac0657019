-- The reader of the lecture notes in Lua: prints the string and destroys the
-- segment, as the C reader does.
-- usage: lua5.4 examples/reader.lua PATH
local smo = require("smobject")
local path = arg[1] or "f1.txt"
local seg = assert(smo.open{ path = path, proj = 65, readonly = true })
local text = seg:read(0)                        -- up to the NUL the writer put
text = text:sub(1, (text:find("\0", 1, true) or #text + 1) - 1)
print(("Lua reader: data read from memory: %q"):format(text))
assert(seg:remove())
seg:close()
