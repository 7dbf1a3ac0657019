-- The process manager of the SMObject notes, with real processes: creates the
-- shared state, starts three modules, watches their heartbeats, restarts a
-- module that stops beating (one is killed with SIGKILL to show it: the
-- memory counter recovers by itself), then shuts everything down and checks
-- that nothing is left in ipcs.  This is what `make demo` runs.
--   lua5.4 examples/manager.lua
local smo = require("smobject")

local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local lua = os.getenv("SMO_LUA") or "lua5.4"
local header = dir .. "/plant.h"
local Plant = assert(smo.cdef_file(header)).plant
local NAMES = { "sensor", "display", "logger" }

local function ipcs_lines(key)
  local hex = ("0x%08x"):format(key % 0x100000000)
  local p = io.popen("ipcs -m -s")
  local found = {}
  for line in p:lines() do
    if line:find(hex, 1, true) then found[#found + 1] = "    " .. line end
  end
  p:close()
  return found
end

local function wait_until(fn, timeout)
  local deadline = smo.clock() + (timeout or 10)
  while not fn() and smo.clock() < deadline do smo.sleep(0.02) end
  return fn()
end

-- The SMObject way: configure, then create; the key is ftok(plant.h, 'M').
local obj = smo.new(header, "M", Plant.size)
local ok, created = obj:create()
assert(ok, created)
local plant = obj:view(Plant)
plant:set{ stop = 0 }
print(("manager: created %s for struct plant (%d bytes), memory counter %d"):format(tostring(obj), Plant.size,
  obj:users()))

local function start(slot)
  io.stdout:flush()
  os.execute(("%s %s/module.lua %d %s &"):format(lua, dir, slot, NAMES[slot + 1]))
end
for slot = 0, #NAMES - 1 do start(slot) end
assert(wait_until(function() return obj:users() == 1 + #NAMES end), "the modules did not attach")
print(("manager: %d users (the manager and %d modules)"):format(obj:users(), #NAMES))
print("manager: ipcs shows the segment and its bookkeeping set:")
for _, l in ipairs(ipcs_lines(obj:key())) do print(l) end

-- Watch the heartbeats: a module whose heartbeat has not moved for
-- STALE seconds is restarted.  (Generous: a module beats every 0.05 s, and a
-- busy machine must not make a healthy one look dead.)
local STALE = 1
local last, changed = {}, {}
local function status()
  for slot = 0, #NAMES - 1 do
    local m = plant.modules[slot]
    print(("    %-8s pid %-7d heartbeat %-4d value %8.2f restarts %d"):format(m.name, m.pid, m.heartbeat, m.value,
      m.restarts))
  end
end
-- Watches for `seconds`; returns how many modules' heartbeats moved meanwhile.
local function watch(seconds)
  local deadline = smo.clock() + seconds
  local before = {}
  for slot = 0, #NAMES - 1 do before[slot] = plant.modules[slot].heartbeat end
  while smo.clock() < deadline do
    local now = smo.clock()
    for slot = 0, #NAMES - 1 do
      local hb = plant.modules[slot].heartbeat
      if hb ~= last[slot] then
        last[slot], changed[slot] = hb, now
      elseif now - (changed[slot] or now) > STALE then
        local m = plant.modules[slot]
        print(("manager: %s (pid %d) stopped beating %.1fs ago: restarting it"):format(m.name, m.pid, now - changed[slot]))
        m.restarts = m.restarts + 1
        start(slot)
        assert(wait_until(function() return obj:users() == 1 + #NAMES end, 5), m.name .. " did not come back")
        changed[slot] = smo.clock()   -- its time to beat starts now
        print(("manager: %s is back, memory counter %d"):format(m.name, obj:users()))
      end
    end
    smo.sleep(0.05)
  end
  local moved = 0
  for slot = 0, #NAMES - 1 do
    if plant.modules[slot].heartbeat ~= before[slot] then moved = moved + 1 end
  end
  return moved
end

assert(watch(0.5) == #NAMES, "a module is not beating")
print("manager: all modules beating:")
status()

local victim = plant.modules[1]
local pid = victim.pid
print(("manager: kill -9 %d (%s): it gets no chance to run a finalizer"):format(pid, victim.name))
os.execute("kill -9 " .. pid)
assert(wait_until(function() return obj:users() == #NAMES end), "the counter did not recover")
print(("manager: the kernel gave its share back: memory counter %d"):format(obj:users()))
watch(STALE + 1)
status()

print("manager: raising the stop flag")
plant:atomic_store("stop", 1)
assert(wait_until(function() return obj:users() == 1 end), "modules did not stop")
-- (kill -0 tells whether a process is still there)
-- (5.1 and LuaJIT: os.execute gives the exit status)
local function running(p)
  local r = os.execute(("kill -0 %d 2>/dev/null"):format(p))
  return r == true or r == 0
end
assert(wait_until(function()
  for slot = 0, #NAMES - 1 do
    if running(plant.modules[slot].pid) then return false end
  end
  return true
end), "modules did not exit")
print(("manager: the modules have detached and exited, memory counter %d"):format(obj:users()))
local key = obj:key()
obj:close()
local left = ipcs_lines(key)
print(("manager: closed as the last user; ipcs entries for the key now: %d"):format(#left))
for _, l in ipairs(left) do print(l) end
assert(#left == 0, "the example left System V objects behind")
print("demo finished: nothing left behind")
