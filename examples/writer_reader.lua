-- One command for the writer/reader examples: a C writer and a Lua reader,
-- then a Lua writer and a C reader, sharing a string through ftok keys.
--   lua5.4 examples/writer_reader.lua
local smo = require("smobject")
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local lua = os.getenv("SMO_LUA") or "lua5.4"
local keyfile = dir .. "/f1.txt"
local tmp = os.tmpname()
os.remove(tmp)
-- os.execute's success on every Lua (5.1 and LuaJIT return the exit status)
local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end
assert(execute(("mkdir -p %s && cc -o %s/writer %s/writer.c && cc -o %s/reader %s/reader.c")
  :format(tmp, tmp, dir, tmp, dir)), "a C compiler is needed (cc)")
local function run(cmd)
  io.stdout:flush()
  assert(execute(cmd), "failed: " .. cmd)
end
print(("key: ftok(%q, 65) = 0x%08x"):format(keyfile, smo.key(keyfile, 65) % 0x100000000))
run(("%s/writer %s 'hello from C'"):format(tmp, keyfile))
run(("%s %s/reader.lua %s"):format(lua, dir, keyfile))
run(("%s %s/writer.lua %s 'hello from Lua'"):format(lua, dir, keyfile))
run(("%s/reader %s"):format(tmp, keyfile))
os.execute("rm -rf " .. tmp)
-- Looked for with smo.list and smo.bookkeeping, which count nothing (a
-- handle opened here would be a user of its own).
local key = smo.key(keyfile, 65)
local left = {}
for _, st in ipairs(assert(smo.list())) do
  if st.key == key then left[#left + 1] = ("segment (shmid %d)"):format(st.shmid) end
end
local bk, _, err = smo.bookkeeping(key)
if bk or err ~= smo.errno.ENOENT then left[#left + 1] = "semaphore set" end
if #left > 0 then
  print(("left behind under key 0x%08x: %s"):format(key % 0x100000000, table.concat(left, ", ")))
  os.exit(1)
end
print(("both readers removed the segment: nothing left under key 0x%08x"):format(key % 0x100000000))
