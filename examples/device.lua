-- A simulated I/O device: publishes readings into a shared struct (under
-- its sequence counter) and wakes the clients waiting for a new one.
-- usage: lua5.4 examples/device.lua [INTERVAL [COUNT]]   (stops when `stop` is set, or after COUNT readings)
local smo = require("smobject")

local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local header = dir .. "/device.h"
local Reading = assert(smo.cdef_file(header)).reading
local interval, limit = tonumber(arg[1]) or 0.05, tonumber(arg[2]) or math.huge

local seg = assert(smo.open{ path = header, proj = "D", size = Reading.size, create = true })
local r = seg:view(Reading)
r.unit = "degC"
print(("device: publishing into 0x%08x every %gs"):format(seg:key() % 0x100000000, interval))
io.stdout:flush()
local n = 0
while r:atomic_load("stop") == 0 and n < limit do
  n = n + 1
  r:publish("seq", function(p)
    p.number = n
    p.value = 20 + 5 * math.sin(n / 5)
    p.timestamp = smo.clock()
  end)
  r:atomic_add("count", 1)
  r:wake("count")
  smo.sleep(interval)
end
seg:close()   -- the last user (this device or the last client) removes the segment
print(("device: stopped after %d readings"):format(n))
