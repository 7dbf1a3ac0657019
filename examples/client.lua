-- A client of the simulated device: sleeps until a new reading is published
-- (wait/wake on `count`), then takes a consistent snapshot of it.
-- usage: lua5.4 examples/client.lua [READINGS]   (then asks the device to stop)
local smo = require("smobject")

local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local header = dir .. "/device.h"
local Reading = assert(smo.cdef_file(header)).reading
local want = tonumber(arg[1]) or 10

-- The device may not be up yet: wait up to 5 s for its segment to appear.
local seg, msg = smo.open{ path = header, proj = "D", size = Reading.size, wait = 5 }
if not seg then error("client: no device found: " .. msg, 0) end
local r = seg:view(Reading)
local seen = r:atomic_load("count")
local first, last
for i = 1, want do
  local deadline = smo.clock() + 5
  while r:atomic_load("count") == seen do
    if smo.clock() > deadline then error("client: the device published nothing for 5 s", 0) end
    r:wait("count", seen, 1)
  end
  seen = r:atomic_load("count")
  -- the snapshot is of whichever reading is the latest now: its own number says which
  local s = assert(r:snapshot("seq"))
  print(("client: reading %2d (#%d): %.3f %s"):format(i, s.number, s.value, s.unit))
  first, last = first or s.number, s.number
end
r:atomic_store("stop", 1)
print(("client: got %d readings (#%d to #%d), asked the device to stop"):format(want, first, last))
seg:close()
