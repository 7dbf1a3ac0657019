-- One command for the device/client example: starts the simulated device in
-- the background and a client that waits for ten readings, then stops both.
--   lua5.4 examples/device_client.lua
local smo = require("smobject")
local system = require("system")
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local lua = os.getenv("SMO_LUA") or "lua5.4"
io.stdout:flush()
os.execute(("%s %s/device.lua 0.05 & "):format(lua, dir))
system.sleep(0.1)
assert(os.execute(("%s %s/client.lua 10"):format(lua, dir)))
-- the device sees the stop flag and, as the last user, removes the segment
local key = smo.key(dir .. "/device.h", "D")
-- (looked for in smo.list(), which counts nothing: an open here would be a
-- user of its own, and keep the segment)
local function exists()
  for _, st in ipairs(assert(smo.list())) do
    if st.key == key then return true end
  end
  return false
end
for _ = 1, 100 do
  if not exists() then break end
  system.sleep(0.05)
end
print(exists() and "the segment is still there" or "done: nothing left behind")
