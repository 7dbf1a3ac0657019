-- A child of spec/40-dict_crash_spec.lua: sets NAME to self-checking values
-- of LEN bytes, over and over (most of its time inside the store's lane
-- and bucket locks), until stopped or killed.  Prints "ready" once it loops.
-- usage: dict_setloop.lua KEY NAME LEN
local C = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/dict_common.lua")
local smo = require("smobject")
local function int(x) x = tonumber(x) return math.tointeger and math.tointeger(x) or x end
local key, name, len = int(arg[1]), arg[2], int(arg[3])

local d = assert(smo.dict{ key = key })
local values = { C.strval(len, "x"), C.strval(len, "y") }
assert(d:set(name, values[1]))
io.write("ready\n")
io.flush()
local i = 0
while true do
  i = i + 1
  d:set(name, values[i % 2 + 1])
end
