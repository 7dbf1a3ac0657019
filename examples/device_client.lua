-- One command for the device/client example: starts the simulated device in
-- the background and a client that waits for ten readings, then stops both.
--   lua5.4 examples/device_client.lua
local smo = require("smobject")
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local lua = os.getenv("SMO_LUA") or "lua5.4"
local key = smo.key(dir .. "/device.h", "D")
-- os.execute's success on every Lua (5.1 and LuaJIT return the exit status)
local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

-- The client waits for the device's segment itself; the shell waits for
-- both (the device stops at the client's request, or after 400 readings).
io.stdout:flush()
local ok = execute(("%s %s/device.lua 0.05 400 & %s %s/client.lua 10; s=$?; wait; exit $s"):format(lua, dir, lua,
  dir))
assert(ok, "the client failed")

-- Both have ended, so whoever closed last removed the segment and its
-- bookkeeping.  Looked for with smo.list and smo.bookkeeping, which count
-- nothing (a handle opened here would be a user of its own).
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
print(("done: the device and the client have ended, nothing left under key 0x%08x"):format(key % 0x100000000))
