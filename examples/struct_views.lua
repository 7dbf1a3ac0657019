-- A struct shared with a C program: the declaration is read from pose.h,
-- which the C side includes, so both agree on every offset.
--   lua5.4 examples/struct_views.lua      (run from the repository root)
local smo = require("smobject")

local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local header = dir .. "/pose.h"
local types = assert(smo.cdef_file(header))
local Pose = types.pose
print(("struct pose: %d bytes, align %d, fix.lon at %d, covariance[1][1] at %d"):format(
  Pose.size, Pose.align, Pose:offsetof("fix.lon"), Pose:offsetof("covariance[1][1]")))

-- The key: ftok on the header itself, proj 'P', as pose_reader.c does.
local seg = assert(smo.open{ path = header, proj = "P", size = Pose.size, create = true })
local pose = seg:view(Pose)

-- The writer publishes under the sequence counter, so that readers using
-- pose:snapshot("seq") never see a half-written pose.
pose:publish("seq", function(p)
  p.x, p.y, p.heading = 12.5, -3.25, 90
  p.fix = { lat = 51.5074, lon = -0.1278 }
  p.covariance[1][1] = 0.25
  p.frame = "map"
end)
print("Lua wrote:", pose)
print("snapshot:", pose:snapshot("seq").frame, pose:snapshot("seq").fix.lat)

-- The C side, if a compiler is at hand.
-- os.execute's success on every Lua (5.1 and LuaJIT return the exit status)
local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end
if execute("command -v cc >/dev/null 2>&1") then
  local exe = os.tmpname()
  assert(execute(("cc -o %s %s/pose_reader.c"):format(exe, dir)), "pose_reader.c did not compile")
  io.stdout:flush()
  local ok = execute(("%s %s"):format(exe, header))
  os.remove(exe)
  assert(ok, "the C reader failed")
else
  print("(no C compiler: skipped the C reader)")
end

-- The last user: closing removes the segment and its bookkeeping, as
-- smo.list and smo.bookkeeping (which count nothing) confirm.
local key = seg:key()
seg:close()
local left = {}
for _, st in ipairs(assert(smo.list())) do
  if st.key == key then left[#left + 1] = ("segment (shmid %d)"):format(st.shmid) end
end
local bk, _, err = smo.bookkeeping(key)
if bk or err ~= smo.errno.ENOENT then left[#left + 1] = "semaphore set" end
if #left > 0 then
  print(("left behind under key 0x%08x: %s"):format(key % 0x100000000, table.concat(left, ", ")))
  os.exit(1)
end
print(("closed as the last user: nothing left under key 0x%08x"):format(key % 0x100000000))
