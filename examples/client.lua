-- A client of the simulated device: sleeps until a new reading is published
-- (wait/wake on `count`), then takes a consistent snapshot of it.
-- usage: lua5.4 examples/client.lua [READINGS]   (then asks the device to stop)
local smo = require("smobject")
local system = require("system")

local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local header = dir .. "/device.h"
local Reading = assert(smo.cdef_file(header)).reading
local want = tonumber(arg[1]) or 10

-- The device may not be up yet: try for a few seconds.
local seg
for _ = 1, 100 do
  seg = smo.open{ path = header, proj = "D", size = Reading.size }
  if seg then break end
  system.sleep(0.05)
end
assert(seg, "client: no device found")
local r = seg:view(Reading)
local seen = r:atomic_load("count")
for i = 1, want do
  while r:atomic_load("count") == seen do r:wait("count", seen, 2) end
  seen = r:atomic_load("count")
  local s = assert(r:snapshot("seq"))
  print(("client: reading %2d (#%d): %.3f %s"):format(i, seen, s.value, s.unit))
end
r:atomic_store("stop", 1)
print(("client: got %d readings, asked the device to stop (memory counter %d)"):format(want, seg:users()))
seg:close()
