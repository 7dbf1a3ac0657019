-- make demo: the SMObject scenario with real processes.  A manager creates a
-- shared segment; three modules (separate lua5.4 processes) attach and
-- exchange data through it; one is killed with SIGKILL; the memory counter
-- recovers without anyone's help; the last one out removes the segment.
local smo = require("smobject")
local system = require("system")

local HERE = arg[0]:match("^(.*)/[^/]*$") or "."
local LUA = os.getenv("SMO_LUA") or "lua5.4"

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

local function ipcs_lines(key)
  local hex = ("0x%08x"):format(key & 0xffffffff)
  local found = {}
  for line in sh("ipcs -m -s"):gmatch("[^\n]+") do
    if line:find(hex, 1, true) then found[#found + 1] = "    " .. line end
  end
  return found
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local st = f:read("l")
  f:close()
  return not st:match("^%d+ %b() Z")
end

-- The key comes from ftok on a file of our own, as in the original SMObject.
local path = os.tmpname()
local key = assert(smo.key(path, "M"))
print(("manager: key 0x%08x from ftok(%q, 'M')"):format(key & 0xffffffff, path))

local obj = smo.new(path, "M", 256)
local ok, created = obj:create()
assert(ok, created)
print(("manager: created the segment (%s), memory counter %d"):format(tostring(obj), obj:users()))
obj:fill(0, 256)

-- Modules write to our stdout; each publishes its pid in its slot.
local names = { "sensor", "display", "logger" }
for slot, name in ipairs(names) do
  os.execute(("%s %s/demo_module.lua %q %d %s &"):format(LUA, HERE, path, slot - 1, name))
end

-- Wait until all three are attached.
local deadline = system.gettime() + 10
while obj:users() < 4 and system.gettime() < deadline do system.sleep(0.02) end
system.sleep(0.3)
local pids = {}
for slot = 1, #names do pids[slot] = obj:get("int32_t", 32 + (slot - 1) * 32 + 4) end
print(("manager: %d users now (manager + %d modules)"):format(obj:users(), #names))

local function show()
  for slot, name in ipairs(names) do
    local base = 32 + (slot - 1) * 32
    print(("    %-8s pid %-7d heartbeat %-4d reading %8.2f"):format(name, obj:get("int32_t", base + 4),
      obj:get("uint32_t", base), obj:get("double", base + 8)))
  end
end
print("manager: what the modules published:")
show()
print("manager: ipcs shows the segment and its bookkeeping set:")
for _, l in ipairs(ipcs_lines(key)) do print(l) end

print(("manager: kill -9 %d (%s), which never gets to run a finalizer"):format(pids[2], names[2]))
os.execute("kill -9 " .. pids[2])
deadline = system.gettime() + 10
while alive(pids[2]) and system.gettime() < deadline do system.sleep(0.01) end
print(("manager: the kernel gave its share back: memory counter %d"):format(obj:users()))
system.sleep(0.2)
show()

print("manager: raising the stop flag")
obj:set("uint8_t", 0, 1)
deadline = system.gettime() + 10
while (alive(pids[1]) or alive(pids[3])) and system.gettime() < deadline do system.sleep(0.02) end
print(("manager: modules gone, memory counter %d"):format(obj:users()))
obj:close()
os.remove(path)
local left = ipcs_lines(key)
print(("manager: closed as the last user; ipcs entries for the key now: %d"):format(#left))
for _, l in ipairs(left) do print(l) end
assert(#left == 0, "the demo left System V objects behind")
print("demo finished: nothing left behind")
