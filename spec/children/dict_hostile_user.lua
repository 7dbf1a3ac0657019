-- A user of spec/40-dict_crash_spec.lua's hostile segment: for SECONDS,
-- random calls of every method on keys h1..h200 (each under pcall: a raised
-- error is allowed, a crash or a hang is not), timing each; notes every call
-- on the progress board (slot SLOT of segment BOARD) before making it, so a
-- hang is named.  Prints "done calls N errors E max S op OP" and the first
-- error.
-- MODE "writes" makes only the calls that take locks (no get, get_stale,
-- ttl, get_keys): what writers alone meet.
-- usage: dict_hostile_user.lua KEY SECONDS SEED BOARD SLOT [MODE]
local C = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/dict_common.lua")
local smo = require("smobject")
local function int(x) x = tonumber(x) return math.tointeger and math.tointeger(x) or x end
local key, seconds, seed, boardkey, slot = int(arg[1]), tonumber(arg[2]), int(arg[3]), int(arg[4]), int(arg[5])
local mode = arg[6] or "all"
math.randomseed(seed)

local board = assert(smo.open{ key = boardkey })
C.board_note(board, slot, "open")
local d = assert(smo.dict{ key = key })
local clock = smo.clock

local function some_key() return "h" .. math.random(1, 200) end
local function some_value()
  local r = math.random()
  if r < 0.6 then return C.strval(math.floor(8 * 2 ^ (math.random() * 10)), C.byte_for(math.random(0, 99))) end
  if r < 0.8 then return math.random(0, 1000) end
  if r < 0.9 then return math.random() end
  return math.random() < 0.5
end
local CALLS = {
  { "get", 20, function() return d:get(some_key()) end },
  { "get_stale", 8, function() return d:get_stale(some_key()) end },
  { "ttl", 5, function() return d:ttl(some_key()) end },
  { "get_keys", 2, function() return d:get_keys(math.random(0, 50)) end },
  { "set", 20, function() return d:set(some_key(), some_value(), math.random() < 0.2 and 0.01 or 0) end },
  { "safe_set", 5, function() return d:safe_set(some_key(), some_value()) end },
  { "add", 5, function() return d:add(some_key(), some_value()) end },
  { "safe_add", 3, function() return d:safe_add(some_key(), some_value()) end },
  { "replace", 5, function() return d:replace(some_key(), some_value()) end },
  { "delete", 8, function() return d:delete(some_key()) end },
  { "incr", 8, function() return d:incr(some_key(), 1, 0) end },
  { "expire", 3, function() return d:expire(some_key(), math.random() < 0.5 and 0 or 0.01) end },
  { "flush_expired", 2, function() return d:flush_expired(math.random(0, 5)) end },
  { "flush_all", 0.2, function() return d:flush_all() end },
  { "capacity", 1, function() return d:capacity() end },
  { "free_space", 1, function() return d:free_space() end },
  { "stats", 1, function() return d:stats() end },
}
local READS = { get = true, get_stale = true, ttl = true, get_keys = true }
if mode == "writes" then
  for i = #CALLS, 1, -1 do
    if READS[CALLS[i][1]] then table.remove(CALLS, i) end
  end
end
local total = 0
for _, c in ipairs(CALLS) do total = total + c[2] end

local calls, errors, max, maxop, first = 0, 0, 0, "", nil
local deadline = clock() + seconds
while clock() < deadline do
  local x, c = math.random() * total, nil
  for _, cand in ipairs(CALLS) do
    x = x - cand[2]
    if x <= 0 then c = cand break end
  end
  c = c or CALLS[1]
  C.board_note(board, slot, c[1])
  local t0 = clock()
  local ok, err = pcall(c[3])
  local dt = clock() - t0
  C.board_done(board, slot)
  calls = calls + 1
  if not ok then
    errors = errors + 1
    first = first or (c[1] .. ": " .. tostring(err))
  end
  if dt > max then max, maxop = dt, c[1] end
end
C.board_note(board, slot, "close")
d:close()
io.write(("done calls %d errors %d max %.6f op %s\n"):format(calls, errors, max, maxop))
if first then io.write("first error: ", first, "\n") end
