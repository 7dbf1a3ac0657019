-- The next user after a batch of spec/18-fuzz_spec.lua (or after a killed
-- child of spec/19-killpoint_spec.lua): for each key given, with no process
-- of the batch left, checks that no share of the memory counter outlived its
-- process, that (after a normal exit) a segment whose last user closed it was
-- removed, and that a fresh open and close work.
-- usage: fuzz_after.lua NORMAL KEY...   (NORMAL: 1 when the batch ended normally)
-- Prints one "F kind message" line per problem, then "DONE".
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")
local E = smo.errno

local normal = arg[1] == "1"

local function shm_exists(k)
  local f = assert(io.open("/proc/sysvipc/shm"))
  f:read("*l")
  for line in f:lines() do
    local key, perms = line:match("^%s*(%-?%d+)%s+%d+%s+(%d+)")
    if tonumber(key) == k and math.floor(tonumber(perms, 8) / 512) % 2 == 0 then   -- 01000: marked for removal
      f:close()
      return true
    end
  end
  f:close()
  return false
end

local function report(kind, k, fmt, ...)
  print(("F %s key 0x%08x: " .. fmt):format(kind, k % 0x100000000, ...))
end

for i = 2, #arg do
  local k = I.tointeger(tonumber(arg[i]))
  local bk = smo.bookkeeping(k)
  if type(bk) == "table" then
    if bk.count ~= 0 then
      report("count-leak", k, "the memory counter is %d with no process of the batch left", bk.count)
    end
    if normal and bk.owned and shm_exists(k) then
      report("not-removed", k, "every user exited normally, yet the segment of a non-persistent key is still there")
    end
  end
  local seg, msg, err = smo.open{ key = k }
  if seg then
    local ok, cerr = pcall(seg.close, seg)
    if not ok then report("next-user-fails", k, "close raised %s", tostring(cerr)) end
  elseif err ~= E.ENOENT and err ~= E.EIDRM then
    report("next-user-fails", k, "open failed: %s", tostring(msg))
  end
end
print("DONE")
