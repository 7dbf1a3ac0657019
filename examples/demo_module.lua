-- One module of the demo (examples/demo.lua): attaches to the manager's
-- segment, beats a heartbeat in its own slot, and publishes a reading
-- until the manager raises the stop flag.
-- usage: demo_module.lua PATH SLOT NAME
local smo = require("smobject")
local system = require("system")

local path, slot, name = arg[1], tonumber(arg[2]), arg[3]
-- Layout shared with the manager: stop flag at 0, then one 32-byte slot per
-- module: heartbeat (uint32) at +0, pid (int32) at +4, reading (double) at
-- +8, name (16 bytes) at +16.
local SLOT0, SLOT_SIZE = 32, 32
local base = SLOT0 + slot * SLOT_SIZE

local obj = smo.new(path, "M", 256)
assert(obj:access())
local f = io.open("/proc/self/stat")
local pid = tonumber(f:read("l"):match("^(%d+)"))
f:close()
obj:set("int32_t", base + 4, pid)
obj:write(base + 16, (name .. string.rep("\0", 16)):sub(1, 16))
print(("  [%s] attached as pid %d, memory counter now %d"):format(name, pid, obj:users()))
io.flush()

local beat = 0
while obj:get("uint8_t", 0) == 0 do
  beat = beat + 1
  obj:set("uint32_t", base, beat)
  obj:set("double", base + 8, math.sin(beat / 10) * 100)
  system.sleep(0.05)
end
print(("  [%s] stop flag seen after %d beats, detaching"):format(name, beat))
obj:close()
