-- A child of spec/40-dict_crash_spec.lua: one d:set(NAME, LEN bytes) that
-- needs eviction to fit; prints "set <ok> <err> <forcible> <seconds>", then
-- stays alive (sleeping) until killed, so that whatever it still holds is
-- held by a live process.
-- usage: dict_evictor.lua KEY NAME LEN
local C = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/dict_common.lua")
local smo = require("smobject")
local function int(x) x = tonumber(x) return math.tointeger and math.tointeger(x) or x end
local key, name, len = int(arg[1]), arg[2], int(arg[3])

local d = assert(smo.dict{ key = key })
local v = C.strval(len, "z")
local t0 = smo.clock()
local ok, err, forcible = d:set(name, v)
io.write(("set %s %s %s %.6f\n"):format(tostring(ok), tostring(err), tostring(forcible), smo.clock() - t0))
io.flush()
smo.sleep(120)
