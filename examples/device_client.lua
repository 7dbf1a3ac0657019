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
for _ = 1, 100 do
  local probe = smo.open{ key = key }
  if not probe then break end
  probe:close()   -- an unclosed probe would count as a user until collected
  system.sleep(0.05)
end
print(smo.open{ key = key } and "the segment is still there" or "done: nothing left behind")
