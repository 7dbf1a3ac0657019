-- Child for spec/23-hardening_spec.lua.  usage: hardening_child.lua MODE KEY [ARG]
--   stuck:   publishes under the counter at 0, half-writes the int64 fields at
--            8..71, says "inside" and sleeps until killed, the counter odd
--   once:    publishes once (the counter at 0), then says "wrote"
--   wait T:  says "waiting", waits on the uint32 at 0 for value 0 with timeout
--            T, then says "woken <result>"
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local mode, key, extra = arg[1], I.tointeger(tonumber(arg[2])), arg[3]
local seg = assert(smo.open{ key = key })
if mode == "stuck" then
  seg:publish(0, function()
    for f = 0, 3 do seg:set("int64_t", 8 + f * 8, -1) end
    io.write("inside\n")
    io.flush()
    smo.sleep(120)
  end)
elseif mode == "once" then
  seg:publish(0, function() seg:set("int64_t", 8, 5) end)
  io.write("wrote\n")
elseif mode == "wait" then
  io.write("waiting\n")
  io.flush()
  local r = seg:wait(0, 0, tonumber(extra))
  io.write("woken ", tostring(r), "\n")
end
seg:close()
