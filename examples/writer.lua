-- The writer of the lecture notes in Lua: puts a string in the segment named
-- by ftok(PATH, 65), and leaves it for a reader (persist).
-- usage: lua5.4 examples/writer.lua PATH [TEXT]   (TEXT defaults to a line from stdin)
local smo = require("smobject")
local path = arg[1] or "f1.txt"
local text = arg[2]
if not text then
  print("Please enter a string to be written in shared memory:")
  text = io.read("*l") or ""
end
local seg = assert(smo.open{ path = path, proj = 65, size = 1024, create = true, persist = true })
local kept = text:sub(1, 511)   -- as the C writer, at most 511 bytes and a NUL
seg:write(0, kept .. "\0")
print(("Lua writer: wrote %q"):format(kept))
seg:close()
