-- One module of the process manager example: attaches to the manager's
-- segment (the SMObject way), beats its heartbeat and publishes a value
-- until the manager raises the stop flag.
-- usage: lua5.4 examples/module.lua SLOT NAME
local smo = require("smobject")

local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local header = dir .. "/plant.h"
local Plant = assert(smo.cdef_file(header)).plant
local slot, name = tonumber(arg[1]), arg[2]

local obj = smo.new(header, "M", Plant.size)
assert(obj:access())
local plant = obj:view(Plant)
local me = plant.modules[slot]
me.pid = smo.getpid()
me.name = name
print(("  [%s] attached as pid %d, memory counter %d"):format(name, me.pid, obj:users()))
io.stdout:flush()
local beat = 0
while plant:atomic_load("stop") == 0 do
  beat = beat + 1
  me.value = math.sin(beat / 10) * 100
  me:atomic_add("heartbeat", 1)
  smo.sleep(0.05)
end
print(("  [%s] stop flag seen, detaching"):format(name))
io.stdout:flush()   -- before the manager, seeing the counter drop, prints its last lines
obj:close()
