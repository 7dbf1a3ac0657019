-- Opens a segment (creating it if needed), says "ready", then holds it for a
-- while before closing: the parent counts, reads or kills it meanwhile.
-- usage: holder.lua KEY SECONDS [HANDLES] [SIZE]
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local key, seconds = I.tointeger(tonumber(arg[1])), tonumber(arg[2])
local handles, size = tonumber(arg[3]) or 1, I.tointeger(tonumber(arg[4])) or 4096
local segs = {}
for i = 1, handles do
  local seg, err = smo.open{ key = key, size = size, create = true }
  if not seg then
    io.write("error ", err, "\n")
    os.exit(1)
  end
  segs[i] = seg
end
io.write("ready ", segs[1]:users(), "\n")
io.flush()
smo.sleep(seconds)
for _, s in ipairs(segs) do s:close() end
io.write("closed\n")
