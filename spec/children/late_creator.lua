-- Child for spec/27-open_wait_spec.lua: after DELAY seconds, creates the
-- segment of KEY, writes "made" at 0, holds it HOLD seconds and closes.
-- usage: late_creator.lua KEY DELAY HOLD
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local key, delay, hold = I.tointeger(tonumber(arg[1])), tonumber(arg[2]), tonumber(arg[3])
smo.sleep(delay)
local seg = assert(smo.open{ key = key, size = 64, create = true })
seg:write(0, "made")
io.write("created\n")
io.flush()
smo.sleep(hold)
seg:close()
