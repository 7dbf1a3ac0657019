-- Child for the synchronisation specs.  usage: sync_worker.lua MODE KEY [N]
--   add N:       N atomic_add of 1 on the int64 at 0
--   locked N:    N non-atomic read-modify-writes of the int64 at 8 under with_lock
--   hold:        takes the lock, says "locked", and sleeps until killed
--   publish:     publishes 8 int64 fields all equal to i (i = 1, 2, ...) under
--                the sequence counter at 64, until the uint32 at 128 is non-zero
--   check N:     N snapshots of the 8 fields; prints "torn K" (K broken ones)
--   pong N:      answers N pings on the uint32 at 192: waits for an odd value,
--                writes the next even one and wakes
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")

local mode, key, n = arg[1], I.tointeger(tonumber(arg[2])), tonumber(arg[3])
local seg = assert(smo.open{ key = key })

if mode == "add" then
  for _ = 1, n do seg:atomic_add("int64_t", 0, 1) end
elseif mode == "locked" then
  for i = 1, n do
    seg:with_lock(function()
      local v = seg:get("int64_t", 8)
      if i % 50 == 0 then smo.sleep(0) end   -- give the others a chance to race
      seg:set("int64_t", 8, v + 1)
    end)
  end
elseif mode == "hold" then
  assert(seg:lock())
  io.write("locked\n")
  io.flush()
  smo.sleep(60)
elseif mode == "publish" then
  local i = 0
  while seg:atomic_load("uint32_t", 128) == 0 do
    i = i + 1
    seg:publish(64, function()
      for f = 0, 7 do seg:set("int64_t", f * 8, i) end
    end)
  end
  io.write("published ", i, "\n")
elseif mode == "check" then
  local torn = 0
  for _ = 1, n do
    local bytes = assert(seg:snapshot(64, 0, 64))
    local first = I.le_int(bytes)
    for f = 1, 7 do
      if I.le_int(bytes, f * 8 + 1) ~= first then torn = torn + 1 break end
    end
  end
  io.write("torn ", torn, "\n")
elseif mode == "pong" then
  for r = 1, n do
    local want = 2 * r - 1
    while seg:atomic_load("uint32_t", 192) ~= want do seg:wait(192, want - 1) end
    seg:atomic_store("uint32_t", 192, want + 1)
    seg:wake(192)
  end
end
io.write("done\n")
seg:close()
