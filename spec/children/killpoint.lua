-- The process spec/19-killpoint_spec.lua kills: it writes its pid to
-- PIDFILE, does the SETUP steps, then the operation OP between two markers
-- written to stderr ("KP-BEGIN", "KP-END"), so that a trace tells the
-- operation's own system calls from the setup's.  strace kills it before
-- one of them.
-- usage: killpoint.lua KEY PIDFILE SETUP OP
--   SETUP: comma-separated steps (open, lock, unlock); OP: open, lock,
--   unlock, remove or close
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local key, pidfile, setup, op = I.tointeger(tonumber(arg[1])), arg[2], arg[3], arg[4]

local f = assert(io.open(pidfile, "w"))
f:write(io.open("/proc/self/stat"):read("*l"):match("^%d+"), "\n")
f:close()

local seg
local steps = {
  open = function() seg = assert(smo.open{ key = key, size = 4096, create = true }) end,
  lock = function() assert(seg:lock()) end,
  unlock = function() seg:unlock() end,
  remove = function() assert(seg:remove()) end,
  close = function() seg:close() end,
}
for step in setup:gmatch("[^,]+") do steps[step]() end
io.stderr:write("KP-BEGIN\n")
steps[op]()
io.stderr:write("KP-END\n")
-- what follows is not under test: leave without closing anything
os.exit(0)
