-- Another user of the key for spec/19-killpoint_spec.lua: opens it
-- (creating it if needed), with LOCK=1 also takes and releases the lock (so
-- that the lock segment exists and is attached), says "ready", and closes
-- when STOPFILE appears.
-- usage: kp_holder.lua KEY LOCK STOPFILE
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local key, lock, stopfile = I.tointeger(tonumber(arg[1])), arg[2] == "1", arg[3]
local seg = assert(smo.open{ key = key, size = 4096, create = true })
if lock then
  assert(seg:lock(5))
  seg:unlock()
end
io.write("ready\n")
io.flush()
for _ = 1, 3000 do
  local f = io.open(stopfile)
  if f then
    f:close()
    break
  end
  smo.sleep(0.01)
end
seg:close()
io.write("closed\n")
