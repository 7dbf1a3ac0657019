-- A child of spec/40-dict_crash_spec.lua that the parent stops with SIGSTOP
-- at random instants: it writes large self-checking values (dict_common's
-- strval, whose byte is tied to the entry's flags) to the key "hot" and to
-- keys k1..kNKEYS (spread over many buckets), deletes some, counts on "ctr",
-- until killed.
-- usage: dict_stop_writer.lua KEY NKEYS SEED
local C = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/dict_common.lua")
local smo = require("smobject")
local key, nkeys, seed = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3])
key = math.tointeger and math.tointeger(key) or key
math.randomseed(seed)

local d = assert(smo.dict{ key = key })
-- values made beforehand, so that the loop spends its time inside set
local values = {}
for flags = 0, #C.ALPHABET - 1 do values[flags] = C.strval(math.random(1024, 512 * 1024), C.byte_for(flags)) end
io.write("ready\n")
io.flush()
local i = 0
while true do
  i = i + 1
  local r = math.random()
  local k = math.random() < 0.5 and "hot" or "k" .. math.random(1, nkeys)
  if r < 0.7 then
    local flags = math.random(0, #C.ALPHABET - 1)
    local ok, err = d:set(k, values[flags], 0, flags)
    if not ok then io.write("set failed: ", tostring(err), "\n") io.flush() end
  elseif r < 0.8 then
    d:delete(k)
  elseif r < 0.9 then
    assert(d:incr("ctr", 1, 0))
  else
    local flags = math.random(0, 1000000)
    d:safe_set(k, C.strval(math.random(8, 200), C.byte_for(flags)), 0, flags)
  end
end
