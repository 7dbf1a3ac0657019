-- What the smo.dict crash specs (spec/40-dict_crash_spec.lua) and their
-- children share: self-checking values, value codes for logs, a shared
-- progress board, and the raw geometry of a dictionary's segment.
-- Parses on Lua 5.1-5.4 and LuaJIT.  Loaded with dofile (it is no module of
-- the library's): local C = dofile(ROOT .. "/spec/children/dict_common.lua")
local C = {}

C.LANE_SIZE = 128   -- bytes per lane (csrc/dict.c LANE_SIZE: a lane is two cache lines)

-- The bytes a self-checking string value is made of (no space: codes go
-- into space-separated log lines).
C.ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

--- A self-checking string of len (>= 8) bytes: its length in 6 digits, a
-- colon, then the byte c repeated.  A mix of two versions shows as a wrong
-- length or as two different bytes.
function C.strval(len, c)
  return ("%06d:"):format(len) .. string.rep(c, len - 7)
end

--- The byte of the alphabet for n (any integer).
function C.byte_for(n)
  local i = n % #C.ALPHABET + 1
  return C.ALPHABET:sub(i, i)
end

--- Whether x is an integer (the subtype on 5.3+, an integral double
-- within 2^53 elsewhere, as smo.dict stores them there).
local function is_int(x)
  if math.type then return math.type(x) == "integer" end
  return x == math.floor(x) and x >= -2 ^ 53 and x <= 2 ^ 53
end

--- The code of a value as the logs write it: "nil", "t", "F", "i<int>",
-- "f<%.17g>", "s<len>:<byte>" for a self-checking string, "TORN<len>" for
-- any other string (a broken value: what must never be read).
function C.code(v)
  local t = type(v)
  if v == nil then return "nil" end
  if t == "boolean" then return v and "t" or "F" end
  if t == "number" then
    if is_int(v) then return "i" .. (math.type and tostring(v) or ("%.0f"):format(v)) end
    return "f" .. ("%.17g"):format(v)
  end
  if t == "string" then
    local len = tonumber(v:sub(1, 6))
    if #v >= 8 and v:sub(7, 7) == ":" and v:match("^%d%d%d%d%d%d:") and len == #v then
      local c = v:sub(8, 8)
      if C.ALPHABET:find(c, 1, true) and v == C.strval(len, c) then return "s" .. len .. ":" .. c end
    end
    return "TORN" .. #v
  end
  return "TORN-" .. t
end

--- The value a code stands for (the inverse of C.code).
function C.value(code)
  if code == "nil" then return nil end
  if code == "t" then return true end
  if code == "F" then return false end
  local k, rest = code:sub(1, 1), code:sub(2)
  if k == "i" then
    local n = tonumber(rest)
    return math.tointeger and math.tointeger(n) or n
  end
  if k == "f" then return tonumber(rest) + 0.0 end
  if k == "s" then
    local len, c = rest:match("^(%d+):(.)$")
    return C.strval(tonumber(len), c)
  end
  error("dict_common: bad value code " .. code)
end

--- Bytes an entry takes, as Dict:free_space's documentation says:
-- 64 * (1 + ceil((k + v) / 56)) (v = 0 for numbers and booleans).
function C.entry_bytes(klen, vlen)
  return 64 * (1 + math.ceil((klen + (vlen or 0)) / 56))
end

-- A progress board: a plain segment where each process (slot i = 0, 1, ...)
-- notes what it is doing (a uint32 code at 16 * i) and how many calls it
-- finished (an int64 at 16 * i + 8), so that the parent sees progress and,
-- after a hang, the call it hung in.
C.OPS = { "get", "get_stale", "ttl", "get_keys", "set", "safe_set", "add", "safe_add", "replace", "delete",
  "incr", "expire", "flush_expired", "flush_all", "capacity", "free_space", "stats", "setnil", "open", "close" }
C.OP_ID = {}
for i, name in ipairs(C.OPS) do C.OP_ID[name] = i end

function C.board_note(board, slot, op)
  board:set("uint32_t", 16 * slot, C.OP_ID[op] or 0)
end

function C.board_done(board, slot)
  board:atomic_add("int64_t", 16 * slot + 8, 1)
end

function C.board_read(board, slot)
  return C.OPS[board:get("uint32_t", 16 * slot)] or "none", board:atomic_load("int64_t", 16 * slot + 8)
end

-- The raw geometry of a dictionary's segment (csrc/dict.c's dict_header,
-- read through a plain handle): what the specs that look at locks or
-- scribble over buckets and slots need.
function C.geometry(seg)
  return {
    nlanes = seg:get("uint32_t", 12),
    size = seg:get("uint64_t", 16),
    nslots = seg:get("uint32_t", 24),
    nbuckets = seg:get("uint32_t", 28),
    lanes_off = seg:get("uint64_t", 32),
    buckets_off = seg:get("uint64_t", 40),
    slots_off = seg:get("uint64_t", 48),
    alloc_off = 3 * 64 + 8, -- the free list's mutex (dict_header.alloc: its fourth line, after free_head and free_count)
  }
end

--- The lanes (0-based) whose mutex is held now (its lock word is not 0),
-- and whether the free list's mutex is.
function C.held_locks(seg, g)
  local held = {}
  for s = 0, g.nlanes - 1 do
    if seg:get("uint32_t", g.lanes_off + C.LANE_SIZE * s) ~= 0 then held[#held + 1] = s end
  end
  return held, seg:get("uint32_t", g.alloc_off) ~= 0
end

return C
