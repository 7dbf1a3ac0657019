-- The partner process of the ping-pong benchmarks.
-- usage: pingpong.lua futex KEY ROUNDS | pingpong.lua pipe IN OUT ROUNDS
local mode = arg[1]
if mode == "futex" then
  local smo = require("smobject")
  local seg = assert(smo.open{ key = tonumber(arg[2]) })
  for r = 1, tonumber(arg[3]) do
    local want = 2 * r - 1
    while seg:atomic_load("uint32_t", 0) ~= want do seg:wait(0, want - 1) end
    seg:atomic_store("uint32_t", 0, want + 1)
    seg:wake(0)
  end
  seg:close()
else
  local inp, out = assert(io.open(arg[2], "rb")), assert(io.open(arg[3], "wb"))
  out:setvbuf("no")
  for _ = 1, tonumber(arg[4]) do
    inp:read(1)
    out:write("p")
  end
  inp:close()
  out:close()
end
