-- The next user after a kill point of spec/19-killpoint_spec.lua.
-- usage: kp_next.lua KEY check USERS HELD   open (creating), lock, unlock,
--          count, close: the count must be USERS; the lock must say
--          "recovered" exactly when HELD is 1 (the dead process held it)
--        kp_next.lua KEY last                open if there is a segment, close
-- Prints "PID n", then one "F message" line per problem, then "DONE".
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local E = smo.errno
local key, mode = I.tointeger(tonumber(arg[1])), arg[2]
print("PID " .. io.open("/proc/self/stat"):read("*l"):match("^%d+"))

local function fail(fmt, ...) print("F " .. fmt:format(...)) end

if mode == "check" then
  local users, held = I.tointeger(tonumber(arg[3])), arg[4] == "1"
  local seg, msg = smo.open{ key = key, size = 4096, create = true }
  if not seg then
    fail("the next open fails: %s", tostring(msg))
  else
    local ok, state, err = seg:lock(5)
    if not ok then
      fail("the next lock fails: %s (%s)", tostring(state), tostring(err))
    else
      if held and state ~= "recovered" then
        fail("the dead process held the lock, yet the next lock did not say \"recovered\"")
      elseif not held and state == "recovered" then
        fail("the next lock says \"recovered\", yet the dead process did not hold the lock")
      end
      seg:unlock()
    end
    local n, umsg = seg:users()
    if n ~= users then fail("the memory counter is %s with %d user(s) alive (%s)", tostring(n), users, tostring(umsg)) end
    seg:close()
  end
else
  local seg, msg, err = smo.open{ key = key }
  if seg then
    seg:close()
  elseif err ~= E.ENOENT then
    fail("the last user's open fails: %s", tostring(msg))
  end
end
print("DONE")
