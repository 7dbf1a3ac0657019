-- A reader of another uid (run under setpriv by spec/17-hostile_spec.lua):
-- opens a segment read-only with any_owner, reads it and says what it saw.
-- usage: hostile_reader.lua KEY quick          open, read, close
--        hostile_reader.lua KEY stay GOFILE    open, read, wait for GOFILE, read again, close
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")

local key, how, gofile = I.tointeger(tonumber(arg[1])), arg[2], arg[3]

local function say(...)
  local t = I.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  io.write(table.concat(t, " "), "\n")
  io.flush()
end

local seg, msg, err = smo.open{ key = key, readonly = true, any_owner = true }
if not seg then
  say("refused", err, msg)
  os.exit(1)
end
say("opened", seg:read(0, 6))
if how == "stay" then
  local deadline = smo.clock() + 15
  while smo.clock() < deadline do
    local f = io.open(gofile)
    if f then f:close() break end
    smo.sleep(0.01)
  end
  say("read", seg:read(0, 6))
end
seg:close()
say("closed")
