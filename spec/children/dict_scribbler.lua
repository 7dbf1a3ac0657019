-- A hostile process of spec/40-dict_crash_spec.lua: for SECONDS, scribbles
-- over the buckets and slots of the dictionary in segment KEY (through a
-- plain segment handle): bucket heads and chain links set to slot numbers
-- in range (cycles, cross-links) or out of it, sequence numbers flipped,
-- random bytes, one slot copied over another.  It never touches the header
-- or the mutexes.  Prints "writes N".
-- usage: dict_scribbler.lua KEY SECONDS SEED
local C = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/dict_common.lua")
local smo = require("smobject")
local function int(x) x = tonumber(x) return math.tointeger and math.tointeger(x) or x end
local key, seconds, seed = int(arg[1]), tonumber(arg[2]), int(arg[3])
math.randomseed(seed)

local seg = assert(smo.open{ key = key })
local g = C.geometry(seg)
local function slot_off(i) return g.slots_off + 64 * i end
local function some_index()
  local r = math.random()
  if r < 0.85 then return math.random(0, g.nslots - 1) end
  if r < 0.95 then return 4294967295 end           -- NIL
  -- out of range (5.1's math.random takes no interval past 2^31)
  return g.nslots + math.floor(math.random() * (4294967294 - g.nslots))
end

local writes = 0
local deadline = smo.clock() + seconds
while smo.clock() < deadline do
  local r = math.random(1, 100)
  if r <= 25 then                                   -- a bucket head
    seg:set("uint32_t", g.buckets_off + 16 * math.random(0, g.nbuckets - 1), some_index())
  elseif r <= 50 then                               -- a chain (0) or next (8) link
    seg:set("uint32_t", slot_off(math.random(0, g.nslots - 1)) + (math.random() < 0.5 and 0 or 8), some_index())
  elseif r <= 65 then                               -- a sequence number
    local off = slot_off(math.random(0, g.nslots - 1)) + 4
    seg:set("uint32_t", off, (seg:get("uint32_t", off) + math.random(1, 3)) % 4294967296)
  elseif r <= 85 then                               -- random bytes anywhere in buckets or slots
    local n = math.random(1, 16)
    local off = math.random(g.buckets_off, g.size - n)
    local t = {}
    for i = 1, n do t[i] = string.char(math.random(0, 255)) end
    seg:write(off, table.concat(t))
  elseif r <= 95 then                               -- a head's lengths (vlen at 48, klen at 56)
    local off = slot_off(math.random(0, g.nslots - 1))
    if math.random() < 0.5 then seg:set("uint16_t", off + 56, math.random(0, 65535))
    else seg:set("uint32_t", off + 48, math.floor(math.random() * 4294967296)) end
  else                                              -- a whole slot over another
    seg:write(slot_off(math.random(0, g.nslots - 1)), seg:read(slot_off(math.random(0, g.nslots - 1)), 64))
  end
  writes = writes + 1
  if writes % 20 == 0 then smo.sleep(0.0005) end
end
io.write("writes ", writes, "\n")
