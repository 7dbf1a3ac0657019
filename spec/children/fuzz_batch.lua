-- One batch of spec/18-fuzz_spec.lua, in a process of its own so that a
-- crash is caught: NCALLS random calls over the whole API (module functions,
-- segment methods, the lock, atomics, wait/wake, snapshots, layouts, views,
-- the C internals, the smo command) with arguments from a hostile pool.
-- Every call is written to LOG, flushed, before it is made: after a crash the
-- last "C" line is the call that crashed.  Raised errors are fine; raw
-- internal Lua errors, misattributed messages and wrong answers are logged as
-- "F" lines.
--
-- usage: fuzz_batch.lua SEED BATCH NCALLS DIR KEYS LOG [SKIP]
--   DIR   this lane's scratch directory; its files p1 and p2 are this lane's
--         ftok paths (every key ftok gives for them belongs to the lane)
--   KEYS  the lane's numeric keys, comma-separated
--   SKIP  call numbers not to make, comma-separated (they crashed before)
-- Log lines: "PID n", "C i src" (a call), "O name src" (an object made by
-- the call before), "M name stmt" (an object changed), "F kind i message",
-- "P shmid" (a persistent PRIVATE segment: not a leak), "E calls".
--
-- Everything a call may touch stays inside the lane: keys and ids that are
-- not the lane's are replaced before the call (a hostile integer key could
-- otherwise name another program's segment on this machine).
local smo = require("smobject")
local core = require("smobject.core")
local I = require("intops")   -- (spec/intops.lua: &, //, math.type... on every runtime)

local SEED, BATCH = I.tointeger(tonumber(arg[1])), I.tointeger(tonumber(arg[2]))
local NCALLS = I.tointeger(tonumber(arg[3]))
local DIR, LOGFILE = arg[4], arg[6]
local SKIP = {}
for n in (arg[7] or ""):gmatch("%d+") do SKIP[tonumber(n)] = true end
local ROOT = (arg[0]:match("^(.*)/spec/children/[^/]*$")) or "."
local LUA = os.getenv("SMO_LUA") or "lua5.4"
local CLI_TIMEOUT = LUA:find("valgrind", 1, true) and 120                       -- seconds
  or (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) and 30 or 5
if _VERSION == "Lua 5.4" then math.randomseed(SEED, BATCH)
else math.randomseed((SEED * 7919 + BATCH) % 2147483647) end   -- (one number before 5.4)

local KEYS = {}
for k in arg[5]:gmatch("[-%d]+") do KEYS[#KEYS + 1] = I.tointeger(tonumber(k)) end
local P1, P2 = DIR .. "/p1", DIR .. "/p2"

local logf = assert(io.open(LOGFILE, "a"))
local function log(line)
  logf:write(line, "\n")
  logf:flush()
end
local MYPID = I.tointeger(tonumber(io.open("/proc/self/stat"):read("*l"):match("^%d+")))
log("PID " .. MYPID)
local calls, index = 0, 0     -- calls made; the number of the operation under way

local random = math.random
local function chance(p) return random() < p end
-- (an empty list gives nil; random(0) is 5.4's random integer, which 5.3
-- refuses: random() draws the same one number from 5.4's generator)
local function pick(list)
  if #list == 0 then random() return nil end
  return list[random(#list)]
end

-- ------------------------------------------------------------ the lane

-- What the lane owns: its numeric keys and every ftok key of p1/p2.
local OURS = {}
for _, k in ipairs(KEYS) do OURS[k] = true end
for _, p in ipairs({ P1, P2 }) do
  local k = assert(smo.key(p, 1))
  for proj = 0, 255 do
    local v = k % 0x1000000 + proj * 0x1000000   -- (k & 0x00ffffff) | (proj << 24)
    if v >= 0x80000000 then v = v - 0x100000000 end
    OURS[v] = true
  end
end

local function sysvipc(file)
  local rows = {}
  local f = io.open(file)
  if not f then return rows end
  f:read("*l")
  for line in f:lines() do
    local key, id, perms, size, cpid = line:match("^%s*(%-?%d+)%s+(%d+)%s+(%d+)%s+(%d+)%s+(%d+)")
    if key then
      rows[#rows + 1] = { key = tonumber(key), id = tonumber(id), perms = tonumber(perms, 8), size = tonumber(size),
                          cpid = tonumber(cpid) }
    end
  end
  f:close()
  return rows
end

local function as_int(v)
  if I.type(v) == "integer" then return v end
  if I.type(v) == "float" then return I.tointeger(v) end
end

-- The 32-bit value a sloppy conversion could make of v (key_t, int).
local function low32(n)
  local v = n % 0x100000000   -- (n & 0xffffffff)
  if v >= 0x80000000 then v = v - 0x100000000 end
  return v
end

local function key_in_use(k)
  for _, file in ipairs({ "/proc/sysvipc/shm", "/proc/sysvipc/sem" }) do
    for _, r in ipairs(sysvipc(file)) do
      if r.key == k then return true end
    end
  end
  return false
end

-- A key argument that cannot name anything outside the lane: integers that
-- are not ours, or whose low 32 bits name an object in use, become K1.
local function safe_key(v, s)
  local n = as_int(v)
  if not n or OURS[n] then return v, s end
  local t = low32(n)
  if n >= -0x80000000 and n <= 0xffffffff and t ~= 0 then return KEYS[1], "K1" end
  if t ~= 0 and (not OURS[t]) and key_in_use(t) then return KEYS[1], "K1" end
  return v, s
end

local MY_IDS = {}     -- ids of segments this batch has seen through its own handles
local function safe_id(v, s)
  local n = as_int(v)
  if not n or MY_IDS[n] then return v, s end
  for _, cand in ipairs({ n, low32(n) }) do
    for _, r in ipairs(sysvipc("/proc/sysvipc/shm")) do
      if r.id == cand and not OURS[r.key] and r.cpid ~= MYPID then return -1, "-1" end
    end
  end
  return v, s
end

-- Sizes that could really be allocated and touched stay small.
local function safe_size(v, s)
  local n = as_int(v)
  if n and n > 0x400000 and n < 0x1000000000 then return 4096, "4096" end
  return v, s
end

-- A path must be ours or name nothing: ftok of an existing file is a key
-- outside the lane.
local function safe_path(v, s)
  if type(v) ~= "string" then return v, s end
  local prefix = v:match("^[^%z]*")
  if prefix == P1 or prefix == P2 or prefix == "" then return v, s end
  local f = io.open(prefix)
  if f then
    f:close()
    return "/nonexistent/x", '"/nonexistent/x"'
  end
  return v, s
end

-- ------------------------------------------------------------ literals

local function qs(s)
  return '"' .. s:gsub('[%c"\\\128-\255]', function(c) return ("\\%03d"):format(c:byte()) end) .. '"'
end

local BIG = ("A"):rep(0x100000)
local CLOSEDF = io.open("/dev/null")
CLOSEDF:close()
-- The method tables and metatables (also reached by getmetatable); the
-- internal ones may go away, the fuzzer then only loses those calls.
local SEGMETA = getmetatable(smo.new(P1, 1, 64))
local SEG = core.methods or (type(SEGMETA) == "table" and SEGMETA.__index) or {}
local VM, VMETA = core.view_methods or {}, core.view_meta or {}
local LM = getmetatable(smo.struct("int x;"))
local ENV = setmetatable({ smo = smo, core = core, SEG = SEG, SEGMETA = SEGMETA, VM = VM, VMETA = VMETA, LM = LM,
                           BIG = BIG, CLOSEDF = CLOSEDF, P1 = P1, P2 = P2 }, { __index = _G })
for i, k in ipairs(KEYS) do ENV["K" .. i] = k end
-- (the literals name math.maxinteger/mininteger: 2^53 where numbers are doubles)
if not math.maxinteger then
  ENV.math = setmetatable({ maxinteger = I.maxinteger, mininteger = I.mininteger }, { __index = math })
end

-- The value of a literal source text (the log then shows exactly it).
local function lit(src)
  return assert(I.load("return " .. src, "=lit", ENV))()
end

local NUMS = { "0", "1", "-1", "2", "3", "4", "5", "7", "8", "12", "16", "24", "31", "32", "63", "64", "100", "127",
  "128", "255", "256", "1023", "4095", "4096", "4097", "8192", "65535", "65536", "0x100000", "2^31 - 1", "2147483647",
  "2147483648", "-2147483648", "4294967295", "4294967296", "0x10000000000", "0x1000000000000", "0x4000000000000000",
  "4611686018427387905",
  "0x4000000000000001", "100000000", "math.maxinteger", "math.mininteger", "math.maxinteger - 1", "-math.maxinteger",
  "0.5", "1.5", "-0.5", "-0.0", "0.0", "4096.0", "64 * 2^20", "2^53", "2^63", "-2^63", "2^64", "1e300", "-1e300",
  "2e9", "1e10", "math.huge", "-math.huge", "0/0", "-(0/0)", "1e-9", "0.001", "0.01", "3.0" }
local STRS = { '""', '"x"', '"a\\0b"', '"\\0"', '("x"):rep(4096)', '("\\255"):rep(100)', "BIG", '"4096"', '"0x10"',
  '"1e3"', '" 8 "', '"-1"', '"int"', '"double"', '"uint32_t"', '"char[16]"', '"struct"', '"%s%s%n"', '"exclusive"',
  '"key"', '"size"', '"i4"', '"\\n"', '"../../../../etc/passwd"', "P1", 'P1 .. "\\0junk"', '"/nonexistent/x"',
  '"a.b"', '"a[0]"', '"seq"', '"name"', '"__index"', '"nan"', '"inf"', '"a[100000000]"', '"x.y.z"', '"[0]"' }
local MISC = { "nil", "true", "false", "{}", "{ 1, 2, 3 }", "{ key = K1 }", "{ size = 64 }", "{ x = 1, y = 2 }",
  "setmetatable({}, { __index = function() error('index trap') end })",
  "setmetatable({}, { __tostring = function() error('tostring trap') end })",
  "setmetatable({}, { __len = function() return -1 end })",
  "setmetatable({}, { __eq = function() return true end, __lt = function() return true end })",
  "(function() local t = {} t[1] = t t.self = t return t end)()",
  "function() end", "function() error('boom') end", "function() error({}) end", "function() error() end",
  "function(...) return ... end", "function() return 1, 2, 3 end", "io.stdout", "CLOSEDF",
  "coroutine.create(function() end)", "coroutine.running()", "string", "math.pi", "SEGMETA", "LM", "VMETA",
  "smo", "core", "tostring", "error" }
local CTYPES = { "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t", "char",
  "signed char", "unsigned char", "short", "unsigned short", "int", "unsigned int", "long", "unsigned long",
  "long long", "unsigned long long", "size_t", "ssize_t", "intptr_t", "uintptr_t", "float", "double", "bool" }
local BAD_CTYPES = { "int128_t", "", "void", "char*", "int ", "INT", "long double", "_Bool", "struct", "unsigned",
  "uint32_t\0", "double\0x" }
local LONG_TIMEOUTS = { "2e9", "math.huge", "1e300", "1e10", "2^31", "2^32 + 0.5", "9.3e18", "86400 * 366 * 100" }
local SHORT_TIMEOUTS = { "0", "0.001", "0.003" }
local BAD_TIMEOUTS = { "-1", "0/0", "-math.huge", '"0.1"', "{}", "true", "-0.001", "-(0/0)" }

local NUM_V, STR_V = {}, {}
for i, s in ipairs(NUMS) do NUM_V[i] = lit(s) end
for i, s in ipairs(STRS) do STR_V[i] = lit(s) end

local function num()
  local i = random(#NUMS)
  return NUM_V[i], NUMS[i]
end
local function str()
  local i = random(#STRS)
  return STR_V[i], STRS[i]
end
local function rbytes(maxn)
  local t = {}
  for i = 1, random(0, maxn) do t[i] = string.char(random(0, 255)) end
  local s = table.concat(t)
  return s, qs(s)
end
local function misc()
  local s = pick(MISC)
  return lit(s), s
end

-- ------------------------------------------------------------ object pools

local POOL = { H = {}, V = {}, L = {}, D = {} }
local MAX = { H = 10, V = 12, L = 16, D = 6 }
local serial = { H = 0, V = 0, L = 0, D = 0 }
local ALL_HANDLES = setmetatable({}, { __mode = "k" })
local NAMEOF = setmetatable({}, { __mode = "k" })

local function add(kind, v, src)
  serial[kind] = serial[kind] + 1
  local e = { v = v, s = kind .. serial[kind] }
  local p = POOL[kind]
  if #p < MAX[kind] then p[#p + 1] = e else p[random(#p)] = e end
  log("O " .. e.s .. " " .. src)
  if type(v) == "table" or type(v) == "userdata" then NAMEOF[v] = e.s end
  if kind == "H" then ALL_HANDLES[v] = true end
  return e
end

local function from(kind)
  local e = pick(POOL[kind])
  if e then return e.v, e.s end
  return nil, "nil"
end

-- Any value at all: numbers, strings, oddities, our own objects.
local function any()
  local r = random()
  if r < 0.25 then return num() end
  if r < 0.42 then return str() end
  if r < 0.45 then return rbytes(40) end
  if r < 0.62 then return misc() end
  return from(pick({ "H", "H", "V", "V", "L", "L", "D" }))
end

local function name_of(x)
  if type(x) == "string" then return qs(x) end
  if I.type(x) == "float" then return ("%.17g"):format(x) end
  if type(x) == "number" or type(x) == "boolean" or x == nil then return tostring(x) end
  return NAMEOF[x] or ("<" .. type(x) .. ">")
end

-- Looks at an object outside the calls (to choose arguments); logged as "Q"
-- lines, since a look can crash too.  fname names f for the log.
local function probe(fname, f, ...)
  local n = select("#", ...)
  local t = {}
  for i = 1, n do t[i] = name_of((select(i, ...))) end
  log(("Q %d %s(%s)"):format(index, fname, table.concat(t, ", ")))
  local ok, a, b = pcall(f, ...)
  if ok then return a, b end
end

-- Fields and members of a layout that may be anything (forged, changed).
local function tget(t, k) return probe("(function(t, k) return t[k] end)", function() return t[k] end, t, k) end
local function members_of(T)
  local ms = T ~= nil and probe("(function(T) return T:members() end)", function() return T:members() end, T)
  if type(ms) == "table" then return ms end
end

local function live_handles()
  local list = {}
  for _, e in ipairs(POOL.H) do
    if probe("SEG.size", SEG.size, e.v) then list[#list + 1] = e end
  end
  return list
end

local function a_handle(live)
  local e = pick(live and live_handles() or POOL.H) or pick(POOL.H)
  if e then return e.v, e.s end
  return nil, "nil"
end

-- Whether some handle of this process holds a lock (a long wait for a lock
-- would then be a wait for ever, by design).
local function any_lock_held()
  for h in pairs(ALL_HANDLES) do
    if probe("SEG.holds_lock", SEG.holds_lock, h) then return true end
  end
  return false
end

-- ------------------------------------------------------------ making calls

-- Callers with the call syntax a user writes (o:read(...), smo.open(...)),
-- so that messages name functions as they would for the user.
local function caller(expr)
  -- (table.pack is 5.2+: given as an upvalue, or before 5.2 every call
  -- would raise before it is made)
  local src = "local SEG, VM, VMETA, LM, smo, core, pack = ... return function(o, ...) local r = pack(" .. expr ..
    ") return r end"
  return assert(I.load(src, "=fuzzcall", _ENV))(SEG, VM, VMETA, LM, smo, core, I.pack)
end
local CALLERS = {}
local function callfn(expr)
  local f = CALLERS[expr]
  if not f then
    f = caller(expr)
    CALLERS[expr] = f
  end
  return f
end

local INTERNAL = { "attempt to index", "attempt to call", "attempt to compare", "attempt to perform arithmetic",
  "attempt to concatenate", "attempt to get length", "attempt to do bitwise", "stack overflow", "table index is nil",
  "table index is NaN", "invalid key to 'next'", "string length overflow", "not enough memory",
  "wrong number of arguments" }
local STDLIB = { format = 1, rep = 1, sub = 1, byte = 1, char = 1, find = 1, match = 1, gmatch = 1, gsub = 1,
  concat = 1, insert = 1, tointeger = 1, setmetatable = 1, getmetatable = 1, ipairs = 1, pairs = 1, next = 1,
  tostring = 1, tonumber = 1, select = 1, rawget = 1, rawset = 1, rawlen = 1, ["for iterator"] = 1, packsize = 1,
  floor = 1, min = 1, max = 1, upper = 1, lower = 1, len = 1, assert = 1 }

local function finding(kind, msg)
  msg = tostring(msg)
  if #msg > 400 then msg = msg:sub(1, 400) .. ("... (%d bytes)"):format(#msg) end
  log(("F %s %d %s"):format(kind, index, (msg:gsub("\n", "\\n"))))
end

-- What is wrong with an error message, or nil: raw internal errors, a
-- library location instead of the caller's, another function's name.
local function judge(err, fname)
  if type(err) ~= "string" then return end
  if err:match("^fuzzcall:") or err:match("^lit:") or err:find("fuzz_batch.lua:", 1, true) then return end
  for _, p in ipairs(INTERNAL) do
    if err:find(p, 1, true) then return "internal-error" end
  end
  local named = err:match("bad argument #%d+ to '([^']*)'") or err:match("calling '([^']*)' on bad self")
  if named and STDLIB[named] and named ~= fname then return "internal-error" end
  if named and fname and named ~= fname and not named:match("%." .. fname:gsub("%p", "%%%0") .. "$") then
    return "misattributed"
  end
  if err:match("^[^\n]-/lua/smobject[%w_/]*%.lua:%d+:") or err:match("^smobject[%w_/]*%.lua:%d+:") then
    return "library-location"
  end
end

-- Makes one call: logs it, runs it protected, judges what it raised.
-- fname: the function name its messages should carry (nil: no such check).
-- Returns ok and the packed results.
local sub = 0
local function call(src, fn, fname, ...)
  sub = sub + 1
  log(("C %d.%d %s"):format(index, sub, src))
  calls = calls + 1
  local ok, r = pcall(fn, ...)
  if not ok then
    local kind = judge(r, fname)
    if kind then finding(kind, r) end
  end
  return ok, r
end

local function arglist(srcs) return table.concat(srcs, ", ") end

-- Calls o:name(args) (style "method"), or via a table: SEG.name(o, args).
local function method_call(ostr, o, name, args, srcs, via)
  local expr, src
  if via then
    expr, src = via .. "." .. name .. "(o, ...)", ("%s.%s(%s)"):format(via, name, arglist({ ostr, arglist(srcs) }))
    src = src:gsub(", %)$", ")")
  else
    expr, src = "o:" .. name .. "(...)", ("%s:%s(%s)"):format(ostr, name, arglist(srcs))
  end
  return call(src, callfn(expr), name, o, I.unpack(args, 1, args.n or #args))
end

-- ------------------------------------------------------------ argument makers

local function size_of(h) return probe("SEG.size", SEG.size, h) or 4096 end

local function offset_for(h, align)
  if chance(0.25) then return any() end
  if chance(0.3) then return num() end
  local size = size_of(h)
  local v
  if chance(0.55) then v = 0
  elseif chance(0.5) then v = random(0, math.max(size - 1, 0))
  else v = pick({ 1, 2, 3, 4, 8, size - 1, size, size + 1, size - 4, size - 8 }) end
  if align and chance(0.8) then v = I.idiv(v, align) * align end
  return v, tostring(v)
end

local function length_for(h)
  if chance(0.25) then return any() end
  local size = size_of(h)
  local v = pick({ 0, 1, 4, 8, 16, size, size - 1, size + 1, random(0, size) })
  return v, tostring(v)
end

local function ctype()
  if chance(0.85) then
    local c = pick(CTYPES)
    return c, qs(c)
  end
  if chance(0.6) then
    local c = pick(BAD_CTYPES)
    return c, qs(c)
  end
  return any()
end

local function value()
  if chance(0.7) then return num() end
  return any()
end

local function short_timeout()
  if chance(0.75) then
    local s = pick(SHORT_TIMEOUTS)
    return lit(s), s
  end
  local s = pick(BAD_TIMEOUTS)
  return lit(s), s
end

local FMTS = { "i4", "<i4d", "s4", "z", "!8i4i8", "c10", "b", "B", "h", "H", "l", "L", "j", "J", "T", "f", "d", "n",
  "i1", "i16", "i17", "i0", "s", "s1", "c0", "c99999999999", "x", "Xi4", "!", "!3", "=", "<>", "I3", "<i4 z s2",
  "i4i4i4i4i4i4i4i4", "c4096", "c4097", "c", "Xz", "!17", "i4Xi8", ">I8", "s9", "c4611686018427387905" }
local function fmt()
  if chance(0.8) then
    local f = pick(FMTS)
    if chance(0.2) then f = f .. pick(FMTS) end
    return f, qs(f)
  end
  return any()
end

local function fn_arg()
  local r = random()
  if r < 0.5 then
    local s = pick({ "function() end", "function() error('boom') end", "function() error({}) end",
                     "function(...) return ... end", "function() return 1, 2, 3 end" })
    return lit(s), s
  end
  local h, hs = from("H")
  local v, vs = from("V")
  local what = pick({ "close", "unlock", "remove", "publish_begin", "lock", "get", "gc" })
  if what == "get" then
    return function() return v:get() end, ("function() return %s:get() end"):format(vs)
  elseif what == "gc" then
    return function() collectgarbage() end, "function() collectgarbage() end"
  elseif what == "publish_begin" then
    return function() h:publish_begin(0) end, ("function() %s:publish_begin(0) end"):format(hs)
  elseif what == "lock" then
    return function() h:lock(0) end, ("function() %s:lock(0) end"):format(hs)
  end
  return function() h[what](h) end, ("function() %s:%s() end"):format(hs, what)
end

-- ------------------------------------------------------------ open options

local MODES = { { 384, 'tonumber("600", 8)' }, { 420, 'tonumber("644", 8)' }, { 438, 'tonumber("666", 8)' },
  { 416, 'tonumber("640", 8)' }, { 444, "444" }, { 440, "440" }, { 400, "400" }, { 511, 'tonumber("777", 8)' },
  { 0, "0" }, { 256, 'tonumber("400", 8)' } }
local SIZES = { 16, 64, 100, 4096, 8192, 65536, 0x100000, 4, 1 }

local function gen_opts(for_attach)
  if chance(0.08) then return any() end
  local t, parts = {}, {}
  local function put(k, v, s)
    t[k] = v
    parts[#parts + 1] = k .. " = " .. s
  end
  local r = for_attach and 2 or random()
  if r < 0.6 then
    local i = random(#KEYS)
    put("key", KEYS[i], "K" .. i)
  elseif r < 0.7 then
    put("key", smo.PRIVATE, "smo.PRIVATE")
  elseif r < 0.82 then
    local p = chance(0.5) and "P1" or "P2"
    if chance(0.1) then p = p .. ' .. "\\0junk"' end
    put("path", lit(p), p)
    if chance(0.8) then
      local pj = pick({ "1", "2", '"A"', "0", "256", "-1", "1.5", '"AB"', '""', "255", "0x10000000000", "{}" })
      put("proj", lit(pj), pj)
    end
  elseif r < 0.94 then
    put("key", safe_key(any()))
  end
  if chance(0.75) then
    if chance(0.8) then
      local s = pick(SIZES)
      put("size", s, tostring(s))
    else
      put("size", safe_size(any()))
    end
  end
  if chance(0.8) then
    local c = pick({ { true, "true" }, { true, "true" }, { false, "false" }, { "exclusive", '"exclusive"' } })
    if chance(0.1) then put("create", any()) else put("create", c[1], c[2]) end
  end
  if chance(0.3) then
    if chance(0.85) then
      local m = pick(MODES)
      put("mode", m[1], m[2])
    else
      put("mode", any())
    end
  end
  for _, o in ipairs({ "readonly", "persist", "any_owner" }) do
    if chance(0.15) then
      if chance(0.8) then put(o, true, "true") else put(o, any()) end
    end
  end
  if chance(0.04) then put(pick({ "sizee", "Key", "persistent", "1" }), 1, "1") end
  return t, "{ " .. table.concat(parts, ", ") .. " }"
end

local function note_handle(h, src)
  local e = add("H", h, src)
  local id = probe("SEG.shmid", SEG.shmid, h)
  if id then MY_IDS[id] = true end
  -- a PRIVATE segment not marked for removal is a persistent one, kept by
  -- design: tell the parent
  for _, r in ipairs(sysvipc("/proc/sysvipc/shm")) do
    if r.id == id and r.key == 0 and I.band(r.perms, 512) == 0 then log("P " .. id) end
  end
  return e
end

-- ------------------------------------------------------------ declarations

local SCALARS = { "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t", "char",
  "signed char", "unsigned char", "short", "unsigned short", "int", "unsigned int", "long", "unsigned long",
  "long long", "unsigned long long", "size_t", "ssize_t", "intptr_t", "uintptr_t", "float", "double", "bool",
  "unsigned", "signed", "_Bool", "short int", "long int" }
local BADTYPES = { "void", "long double", "int*", "char *", "__int128", "enum e", "struct nosuch", "union nosuch",
  "const int", "volatile int", "int const", "unsigned double", "long long long", "signed float", "int int",
  "typedef", "struct", "_Atomic int", "wchar_t" }
local DIMS = { "1", "2", "3", "4", "8", "16", "0", "-1", "4611686018427387905", "0x4000000000000001",
  "99999999999999999999", "0xffffffffffffffffffff", "2147483648", "4294967296", "1<<62", "(1<<31)*(1<<31)", "1<<63",
  "0x7fffffffffffffff", "9223372036854775807", "9223372036854775808", "1000000", "100000000", "1u", "16UL", "010",
  "0x10", "2*0x2000000000000001", "(4)", "1+1", "8/0", "8%0", "-0x8000000000000000", "'a'", "1.5", "",
  "0x2000000000000001", "1152921504606846977" }
local NAMES = { "x", "y", "a", "b", "seq", "name", "gps", "lat", "m", "s", "_", "__x", "n1", "int", "count" }
local TAGS = { "pose", "gps", "a", "u", "s", "t" }
local ATTRS = { "__attribute__((packed))", "__attribute__((aligned(8)))", "__attribute__((aligned))",
  "__attribute__((aligned(3)))", "__attribute__((aligned(4611686018427387904)))", "__attribute__((aligned(0)))",
  "__attribute__((aligned(1<<62)))", "_Alignas(16)", "_Alignas(3)", "_Alignas(1<<40)", "__attribute__((bogus))",
  "__attribute__((", "__attribute__((aligned(-8)))" }
local JUNK = { "{", "}", ";", "[", "]", "*", "(", ")", "#", "/*", "//", "\0", "\255", "0x", "struct", "typedef", ",",
  ":", "'", '"', "\n#pragma pack(1)\n", "__attribute__", "[99999999999999999999]" }

local gen_members

local function gen_type(depth)
  local r = random()
  if r < 0.7 then return pick(SCALARS) end
  if r < 0.78 then return pick(BADTYPES) end
  if r < 0.9 and depth > 0 then
    local kw = chance(0.75) and "struct" or "union"
    return ("%s %s{ %s }"):format(kw, chance(0.3) and (pick(TAGS) .. " ") or "", gen_members(depth - 1))
  end
  return (chance(0.8) and "struct " or "union ") .. pick(TAGS)
end

local function gen_member(depth)
  local r = random()
  if r < 0.03 then return ("int %s : %d;"):format(pick(NAMES), random(0, 70)) end
  if r < 0.05 then return ("int *%s;"):format(pick(NAMES)) end
  if r < 0.06 then return ("int %s(void);"):format(pick(NAMES)) end
  if r < 0.08 then return ("int %s[];"):format(pick(NAMES)) end
  if r < 0.13 and depth > 0 then return ("%s { %s };"):format(chance(0.5) and "union" or "struct", gen_members(depth - 1)) end
  local decls = {}
  for i = 1, (chance(0.85) and 1 or random(2, 3)) do
    local d = pick(NAMES)
    if chance(0.3) then
      for _ = 1, random(1, 3) do d = d .. "[" .. pick(DIMS) .. "]" end
    end
    decls[i] = d
  end
  local attr = chance(0.1) and (" " .. pick(ATTRS)) or ""
  return ("%s%s %s;"):format(chance(0.04) and "_Alignas(8) " or "", gen_type(depth), table.concat(decls, ", ") .. attr)
end

function gen_members(depth)
  local t = {}
  for i = 1, (chance(0.03) and 0 or random(1, 4)) do t[i] = gen_member(depth) end
  return table.concat(t, " ")
end

local function mutate(s)
  for _ = 1, random(1, 3) do
    local n = #s
    local a = random(1, n + 1)
    local b = math.min(n, a + random(0, 6))
    local r = random()
    if r < 0.3 then s = s:sub(1, a - 1) .. s:sub(b + 1)
    elseif r < 0.7 then s = s:sub(1, a - 1) .. pick(JUNK) .. s:sub(a)
    elseif r < 0.9 then s = s:sub(1, b) .. s:sub(a, b) .. s:sub(b + 1)
    else s = s:sub(1, a) end
  end
  return s
end

local function gen_decl()
  local r = random()
  local s
  if r < 0.04 then return (rbytes(200)) end
  if r < 0.5 then
    s = gen_members(2)
  else
    local kw = r < 0.9 and "struct" or "union"
    s = ("%s %s{ %s }%s;"):format(kw, chance(0.6) and (pick(TAGS) .. " ") or "", gen_members(2),
      chance(0.1) and (" " .. pick(ATTRS)) or "")
  end
  if chance(0.04) then s = pick({ "#pragma once\n", "#pragma pack(1)\n", "#define N 4\n", "#include <x.h>\n",
                                  "/* c */ ", "// c\n", "/* open " }) .. s end
  if chance(0.2) then s = mutate(s) end
  return s
end

local function gen_cdef()
  local t = {}
  for i = 1, random(1, 3) do
    local r = random()
    if r < 0.5 then
      t[i] = ("struct %s { %s };"):format(pick(TAGS), gen_members(2))
    elseif r < 0.75 then
      t[i] = ("typedef struct { %s } %s;"):format(gen_members(2), pick(TAGS) .. "_t")
    elseif r < 0.9 then
      t[i] = ("typedef %s %s;"):format(pick(SCALARS), pick(TAGS) .. "_t")
    else
      t[i] = ("typedef int %s[%s];"):format(pick(TAGS) .. "_t", pick(DIMS))
    end
  end
  local s = table.concat(t, "\n")
  if chance(0.15) then s = mutate(s) end
  return s
end

-- A list-form declaration: the table and its source.
local function gen_list()
  local t, parts = {}, {}
  for i = 1, (chance(0.05) and 0 or random(1, 4)) do
    local r = random()
    local name, nsrc
    if chance(0.9) then
      name = pick(NAMES)
      nsrc = qs(name)
    else
      name, nsrc = any()
    end
    local ty, tsrc
    if r < 0.5 then
      ty = pick(SCALARS)
      if chance(0.3) then ty = ty .. "[" .. pick(DIMS) .. "]" end
      tsrc = qs(ty)
    elseif r < 0.75 then
      ty, tsrc = from("L")
    elseif r < 0.85 then
      ty = pick(BADTYPES)
      tsrc = qs(ty)
    else
      ty, tsrc = any()
    end
    if chance(0.05) then
      local m, ms = any()
      t[i] = m
      parts[i] = ms
    else
      local m = { name, ty }
      local ps = ("{ %s, %s"):format(nsrc, tsrc)
      if chance(0.1) then
        local al, als = num()
        m.aligned = al
        ps = ps .. ", aligned = " .. als
      end
      t[i] = m
      parts[i] = ps .. " }"
    end
  end
  for _, o in ipairs({ "packed", "union", "aligned", "name" }) do
    if chance(0.1) then
      local v, s
      if o == "aligned" then v, s = num() elseif o == "name" then v, s = str() else v, s = true, "true" end
      t[o] = v
      parts[#parts + 1] = o .. " = " .. s
    end
  end
  return t, "{ " .. table.concat(parts, ", ") .. " }"
end

-- ------------------------------------------------------------ operations

local ops = {}

function ops.open()
  local opts, osrc = gen_opts()
  local src = "smo.open(" .. osrc .. ")"
  if chance(0.03) then
    local x, xs = any()
    local ok, r = call("smo.open(" .. osrc .. ", " .. xs .. ")", callfn("smo.open(o, ...)"), "open", opts, x)
    if ok and type(r[1]) == "userdata" then note_handle(r[1], src) end
    return
  end
  local ok, r = call(src, callfn("smo.open(o, ...)"), "open", opts)
  if ok and type(r[1]) == "userdata" then
    note_handle(r[1], src)
    local mode = type(opts) == "table" and as_int(tget(opts, "mode"))
    if r[2] == true and mode and I.band(mode, 73) ~= 0 then
      finding("exec-mode-accepted", ("mode %o (execute bits) created a segment"):format(mode))
    end
  end
end

function ops.attach()
  local id, ids
  if chance(0.65) then
    local h, hs = a_handle(true)
    id, ids = probe("SEG.shmid", SEG.shmid, h), hs .. ":shmid()"
    if not id then id, ids = safe_id(any()) end
  else
    id, ids = safe_id(any())
  end
  local args, srcs = { id }, { ids }
  if chance(0.6) then
    local o, os_ = gen_opts(true)
    args[2], srcs[2] = o, os_
  end
  local src = "smo.attach(" .. arglist(srcs) .. ")"
  local ok, r = call(src, callfn("smo.attach(o, ...)"), "attach", I.unpack(args, 1, #srcs))
  if ok and type(r[1]) == "userdata" then note_handle(r[1], src) end
end

function ops.key()
  local p, ps
  if chance(0.5) then
    p = pick({ P1, P2, DIR, "/", "/tmp", "/nonexistent" })
    ps = qs(p)
    if chance(0.3) then
      p, ps = p .. "\0junk", ps .. ' .. "\\0junk"'
    end
  else
    p, ps = any()
  end
  local j, js
  if chance(0.7) then
    local s = pick({ "1", "2", '"A"', "0", "256", "-1", "1.5", '"AB"', '""', "255", "0x10000000000", "2^63", "0/0" })
    j, js = lit(s), s
  else
    j, js = any()
  end
  local ok, r = call(("smo.key(%s, %s)"):format(ps, js), callfn("smo.key(o, ...)"), "key", p, j)
  if ok and I.type(r[1]) == "integer" and type(p) == "string" and p:find("\0", 1, true) then
    finding("nul-path-accepted", ("smo.key(%s, %s) returned %d"):format(ps, js, r[1]))
  end
end

function ops.new()
  local p, ps
  if chance(0.7) then
    ps = pick({ "P1", "P2", 'P1 .. "\\0x"' })
    p = lit(ps)
  else
    p, ps = safe_path(any())
  end
  local j, js
  if chance(0.7) then
    js = pick({ "1", "2", '"A"', "0", "256", "-1", "1.5" })
    j = lit(js)
  else
    j, js = any()
  end
  local s, ss
  if chance(0.7) then
    s = pick(SIZES)
    ss = tostring(s)
  else
    s, ss = safe_size(any())
  end
  local src = ("smo.new(%s, %s, %s)"):format(ps, js, ss)
  local ok, r = call(src, callfn("smo.new(o, ...)"), "new", p, j, s)
  if ok and type(r[1]) == "userdata" then note_handle(r[1], src) end
end

function ops.remove()
  local k, ks
  if chance(0.7) then
    local i = random(#KEYS)
    k, ks = KEYS[i], "K" .. i
  else
    k, ks = safe_key(any())
  end
  call(("smo.remove(%s)"):format(ks), callfn("smo.remove(o, ...)"), "remove", k)
end

function ops.module_misc()
  local what = pick({ "list", "limits", "bookkeeping", "bookkeeping" })
  if what == "bookkeeping" then
    local k, ks
    if chance(0.7) then
      local i = random(#KEYS)
      k, ks = KEYS[i], "K" .. i
    else
      k, ks = safe_key(any())
    end
    call(("smo.bookkeeping(%s)"):format(ks), callfn("smo.bookkeeping(o, ...)"), "bookkeeping", k)
  else
    local x, xs = any()
    call(("smo.%s(%s)"):format(what, xs), callfn("smo." .. what .. "(o, ...)"), what, x)
  end
end

-- The arguments of segment method name for handle h: values and sources.
local function seg_args(name, h)
  local a, s = {}, {}
  local function push(v, vs)
    a.n = (a.n or 0) + 1
    a[a.n], s[a.n] = v, vs
  end
  if name == "read" then
    push(offset_for(h))
    if chance(0.7) then push(length_for(h)) end
  elseif name == "write" then
    push(offset_for(h))
    if chance(0.8) then push(rbytes(24)) else push(any()) end
  elseif name == "fill" then
    push(offset_for(h))
    push(length_for(h))
    if chance(0.6) then push(value()) end
  elseif name == "get" or name == "atomic_load" then
    push(ctype())
    push(offset_for(h, 8))
  elseif name == "set" or name == "atomic_store" or name == "atomic_add" then
    push(ctype())
    push(offset_for(h, 8))
    push(value())
  elseif name == "atomic_cas" then
    push(ctype())
    push(offset_for(h, 8))
    push(value())
    push(value())
  elseif name == "pack" then
    push(offset_for(h))
    push(fmt())
    for _ = 1, random(0, 3) do push(value()) end
  elseif name == "unpack" then
    push(offset_for(h))
    push(fmt())
  elseif name == "set_key" then
    if chance(0.8) then
      local ps = pick({ "P1", "P2", 'P1 .. "\\0x"' })
      push(lit(ps), ps)
    else
      push(safe_path(any()))
    end
    if chance(0.8) then
      local js = pick({ "1", "2", '"A"', "0", "256", "-1", "1.5" })
      push(lit(js), js)
    else
      push(any())
    end
  elseif name == "set_size" then
    if chance(0.7) then
      local sz = pick(SIZES)
      push(sz, tostring(sz))
    else
      push(safe_size(any()))
    end
  elseif name == "wake" then
    push(offset_for(h, 4))
    if chance(0.5) then push(value()) end
  elseif name == "publish_begin" or name == "publish_end" then
    push(offset_for(h, 4))
  elseif name == "ptr" then
    if chance(0.8) then push(offset_for(h)) end
  elseif name == "ffi_view" then
    if chance(0.85) then push(from("L")) else push(any()) end
    if chance(0.6) then push(offset_for(h, 8)) end
  elseif chance(0.1) then
    push(any())
  end
  return a, s
end

local PLAIN = { "read", "write", "fill", "get", "set", "pack", "unpack", "users", "stat", "remove", "close",
  "decrement", "set_key", "set_size", "create", "access", "size", "key", "shmid", "atomic_load", "atomic_store",
  "atomic_add", "atomic_cas", "wake", "publish_begin", "publish_end", "holds_lock", "unlock", "ptr", "ffi_view" }
local MUTATES = { close = 1, remove = 1, decrement = 1, set_key = 1, set_size = 1, create = 1, access = 1 }

function ops.seg_method()
  local h, hs = a_handle(chance(0.7))
  local name = pick(PLAIN)
  local a, s = seg_args(name, h)
  local ok, r = method_call(hs, h, name, a, s)
  if MUTATES[name] and h then log(("M %s %s:%s(%s)"):format(hs, hs, name, arglist(s))) end
  if ok and (name == "create" or name == "access") and h then
    local id = probe("SEG.shmid", SEG.shmid, h)
    if id then MY_IDS[id] = true end
  end
  return r
end

-- Segment methods with something that is not a handle as self.
function ops.seg_hostile_self()
  local names = { "read", "write", "fill", "get", "set", "pack", "unpack", "users", "stat", "remove", "close",
    "decrement", "set_key", "set_size", "create", "access", "size", "key", "shmid", "lock", "unlock", "with_lock",
    "holds_lock", "atomic_load", "atomic_store", "atomic_add", "atomic_cas", "wait", "wake", "publish",
    "publish_begin", "publish_end", "snapshot", "view", "ptr", "ffi_view" }
  local name = pick(names)
  local o, os_
  local r = random()
  if r < 0.3 then o, os_ = from("V")
  elseif r < 0.45 then o, os_ = from("L")
  elseif r < 0.55 then o, os_ = io.stdout, "io.stdout"
  else o, os_ = any() end
  local a, s = {}, {}
  for i = 1, random(0, 3) do a[i], s[i] = any() end
  a.n = #s
  method_call(os_, o, name, a, s, "SEG")
end

function ops.lock()
  local h, hs = a_handle(chance(0.8))
  local r = random()
  if r < 0.45 then
    local t, ts
    local tr = random()
    if tr < 0.25 then t, ts = nil, nil
    elseif tr < 0.8 then t, ts = short_timeout()
    elseif not any_lock_held() then
      ts = pick(LONG_TIMEOUTS)
      t = lit(ts)
    else
      t, ts = short_timeout()
    end
    method_call(hs, h, "lock", { t, n = ts and 1 or 0 }, { ts })
  elseif r < 0.7 then
    method_call(hs, h, "unlock", { n = 0 }, {})
  elseif r < 0.9 then
    local f, fs = fn_arg()
    local x, xs = any()
    method_call(hs, h, "with_lock", { f, x, n = 2 }, { fs, xs })
  else
    method_call(hs, h, "holds_lock", { n = 0 }, {})
  end
end

function ops.wait()
  local h, hs = a_handle(chance(0.85))
  local off, offs = offset_for(h, 4)
  local cur = probe("SEG.atomic_load", SEG.atomic_load, h, "uint32_t", off)
  local e, es
  if cur and chance(0.6) then e, es = cur, tostring(cur) else e, es = value() end
  local t, ts
  local r = random()
  if r < 0.7 then
    t, ts = short_timeout()
  elseif cur ~= nil and I.type(e) == "integer" and e >= 0 and e <= 0xffffffff and e ~= cur then
    -- the word differs: even no timeout returns at once
    if chance(0.5) then t, ts = nil, nil else ts = pick(LONG_TIMEOUTS) t = lit(ts) end
  else
    ts = pick(BAD_TIMEOUTS)
    t = lit(ts)
  end
  local ok, res = method_call(hs, h, "wait", { off, e, t, n = ts and 3 or 2 }, { offs, es, ts })
  if ok and res[1] == true and cur ~= nil and rawequal(e, cur)
     and probe("SEG.atomic_load", SEG.atomic_load, h, "uint32_t", off) == cur then
    finding("wait-spurious", ("%s:wait(%s, %s, %s) returned true: nobody woke it and the word is unchanged")
      :format(hs, offs, es, tostring(ts)))
  end
end

function ops.publish()
  local h, hs = a_handle(chance(0.85))
  local r = random()
  if r < 0.35 then
    local off, offs = offset_for(h, 4)
    local f, fs = fn_arg()
    method_call(hs, h, "publish", { off, f, n = 2 }, { offs, fs })
  elseif r < 0.55 then
    method_call(hs, h, pick({ "publish_begin", "publish_end" }), { 0, n = 1 }, { "0" })
  else
    local off, offs = offset_for(h, 4)
    local base, bases = offset_for(h)
    local len, lens = length_for(h)
    local t, ts = short_timeout()
    local cur = probe("SEG.atomic_load", SEG.atomic_load, h, "uint32_t", off)
    if chance(0.2) and cur and cur % 2 == 0 then t, ts = nil, nil end
    method_call(hs, h, "snapshot", { off, base, len, t, n = ts and 4 or 3 }, { offs, bases, lens, ts })
  end
end

-- ------------------------------------------------------------ layouts

local function note_layout(T, src)
  if getmetatable(T) == LM then add("L", T, src) end
end

function ops.struct()
  local r = random()
  if r < 0.6 then
    local d = gen_decl()
    local src = "smo.struct(" .. qs(d) .. ")"
    local ok, res = call(src, callfn("smo.struct(o, ...)"), "struct", d)
    if ok then note_layout(res[1], src) end
  elseif r < 0.85 then
    local t, ts = gen_list()
    local src = "smo.struct(" .. ts .. ")"
    local ok, res = call(src, callfn("smo.struct(o, ...)"), "struct", t)
    if ok then note_layout(res[1], src) end
  elseif r < 0.95 then
    local d = gen_cdef()
    local src = "smo.cdef(" .. qs(d) .. ")"
    local ok, res = call(src, callfn("smo.cdef(o, ...)"), "cdef", d)
    if ok and type(res[1]) == "table" then
      local names = {}     -- (in order: pairs' order changes from run to run)
      for name in pairs(res[1]) do
        if type(name) == "string" then names[#names + 1] = name end
      end
      table.sort(names)
      for _, name in ipairs(names) do note_layout(res[1][name], src .. "[" .. qs(name) .. "]") end
    end
  else
    local x, xs = any()
    call("smo.struct(" .. xs .. ")", callfn("smo.struct(o, ...)"), "struct", x)
  end
end

function ops.array()
  local T, ts
  local r = random()
  if r < 0.6 then T, ts = from("L")
  elseif r < 0.85 then
    local s = pick(SCALARS)
    if chance(0.3) then s = s .. "[" .. pick(DIMS) .. "]" end
    T, ts = s, qs(s)
  else T, ts = any() end
  local n, ns = num()
  if chance(0.3) then n, ns = any() end
  local src = ("smo.array(%s, %s)"):format(ts, ns)
  local ok, res = call(src, callfn("smo.array(o, ...)"), "array", T, n)
  if ok then note_layout(res[1], src) end
end

local LAYOUT_FIELDS = { "size", "count", "kind", "align", "elem", "fields", "ctype", "name", "_members", "_byname",
  "offset" }

-- Changes a field of a layout (layouts should not be changeable).
function ops.mutate_layout()
  local T, ts = from("L")
  if not T then return end
  local f = chance(0.4) and "size" or pick(LAYOUT_FIELDS)
  local v, vs
  if f == "kind" and chance(0.7) then
    local k = pick({ "array", "struct", "union", "scalar", "string", "bogus" })
    v, vs = k, qs(k)
  elseif f == "elem" and chance(0.7) then v, vs = from("L")
  elseif f == "size" and chance(0.6) then
    v = pick({ 0, 1, 4, 8, -1, -8, 3 })
    vs = tostring(v)
  else v, vs = num() end
  if chance(0.2) then v, vs = any() end
  local stmt = ("%s.%s = %s"):format(ts, f, vs)
  local ok = call(stmt, function() T[f] = v end, nil)
  log(("M %s %s"):format(ts, stmt))
  if not (ok and f == "size" and I.type(v) == "integer") then return end
  -- a view where the changed size says the layout still fits
  local h, hs = a_handle(true)
  local off = size_of(h) - math.max(v, 0)
  local vok, vres = method_call(hs, h, "view", { T, off, n = 2 }, { ts, tostring(off) })
  if vok and type(vres[1]) == "userdata" then
    local e = add("V", vres[1], ("%s:view(%s, %d)"):format(hs, ts, off))
    method_call(e.s, vres[1], "get", { n = 0 }, {})
  end
end

local function forged_parts()
  local parts, t = {}, {}
  local function put(k, v, s)
    t[k] = v
    parts[#parts + 1] = k .. " = " .. s
  end
  local k = pick({ "array", "array", "struct", "union", "scalar", "string", "bogus" })
  put("kind", k, qs(k))
  if chance(0.9) then put("size", num()) end
  if chance(0.8) then put("count", num()) end
  if chance(0.6) then put("align", num()) end
  if chance(0.6) then
    local c = pick(CTYPES)
    put("ctype", c, qs(c))
  end
  if chance(0.6) then put("elem", from("L")) end
  if chance(0.4) then
    local T, ts = from("L")
    local o, os_ = num()
    local n = pick(NAMES)
    t.fields = { { name = n, type = T, offset = o } }
    parts[#parts + 1] = ("fields = { { name = %s, type = %s, offset = %s } }"):format(qs(n), ts, os_)
  end
  return t, "{ " .. table.concat(parts, ", ") .. " }"
end

-- A table given the layout metatable (as getmetatable(layout) allows).
function ops.forge_layout()
  local t, ts = forged_parts()
  local src = ("setmetatable(%s, LM)"):format(ts)
  local ok, res = call(src, function() return { setmetatable(t, LM) } end, "setmetatable")
  if ok then note_layout(res[1], src) end
end

function ops.layout_method()
  local T, ts = from("L")
  local name = pick({ "offsetof", "members", "member", "typeof", "tostring" })
  local p, ps
  if chance(0.7) then
    p = pick({ "x", "a", "a[0]", "a[100000000]", "gps.lat", "m[1][2]", "seq", "name", "a.b", "[0]", "", "a[",
                "a[99999999999999999999]", "x.y", "a[1][1][1]" })
    ps = qs(p)
  else p, ps = any() end
  if name == "tostring" then
    call(("tostring(%s)"):format(ts), function() return { tostring(T) } end, nil)
  elseif chance(0.85) then
    method_call(ts, T, name, { p, n = 1 }, { ps })
  else
    local o, os_ = any()
    method_call(os_, o, name, { p, n = 1 }, { ps }, "LM")
  end
end

-- Layouts nested deep (the compile is recursive).
function ops.deep()
  local depth = pick({ 64, 64, 64, 64, 64, 64, 200, 200, 200, 200, 200, 1000, 1000, 1000, 1000, 5000, 5000, 20000, 60000 })
  local src, fn
  if chance(0.5) then
    src = ('smo.struct(("struct { "):rep(%d) .. "int x;" .. (" } a;"):rep(%d))'):format(depth, depth)
    fn = function() return { smo.struct(("struct { "):rep(depth) .. "int x;" .. (" } a;"):rep(depth)) } end
  else
    src = ("(function() local T = smo.struct{ { 'x', 'int' } } for _ = 1, %d do T = smo.struct{ { 'a', T } } end " ..
      "return T end)()"):format(depth)
    fn = function()
      local T = smo.struct{ { "x", "int" } }
      for _ = 1, depth do T = smo.struct{ { "a", T } } end
      return { T }
    end
  end
  local ok, res = call(src, fn, nil)
  if not ok then return end
  local e = add("L", res[1], src)
  local h, hs = a_handle(true)
  local vok, vres = method_call(hs, h, "view", { res[1], n = 1 }, { e.s })
  if vok then
    local v = add("V", vres[1], ("%s:view(%s)"):format(hs, e.s))
    call(("tostring(%s)"):format(v.s), function() return { tostring(vres[1]) } end, nil)
  end
end

-- ------------------------------------------------------------ views

function ops.view()
  local h, hs = a_handle(chance(0.9))
  local T, ts
  if chance(0.85) then T, ts = from("L") else T, ts = any() end
  local args, srcs = { T, n = 1 }, { ts }
  if chance(0.4) then
    local o, os_
    if chance(0.6) then
      o = pick({ 0, 1, 4, 8, 16, 4096 })
      os_ = tostring(o)
    else o, os_ = any() end
    args[2], srcs[2], args.n = o, os_, 2
  end
  local ok, r = method_call(hs, h, "view", args, srcs)
  if ok and type(r[1]) == "userdata" then add("V", r[1], ("%s:view(%s)"):format(hs, arglist(srcs))) end
end

local function layout_of(v)
  local T = probe("VM.layout", VM.layout, v)
  if getmetatable(T) == LM then return T end
end

-- A random path into layout T: keys (names and indices), their sources,
-- and how many.
local function gen_path(T)
  local path, srcs, n = {}, {}, 0
  for _ = 1, random(1, 3) do
    local kind = T ~= nil and tget(T, "kind")
    local key, ks
    if (kind == "struct" or kind == "union") and chance(0.9) then
      local ms = members_of(T)
      local m = ms and #ms > 0 and ms[random(#ms)]
      if type(m) == "table" and type(m.name) == "string" then key, T = m.name, m.type else key, T = pick(NAMES), nil end
    elseif (kind == "array" or kind == "string") and chance(0.9) then
      local count = as_int(tget(T, "count")) or 1
      key = pick({ 0, 1, count - 1, count, count + 1, 100000000, -1, 0x10000000000, 3, 1.5, I.maxinteger })
      ks = I.type(key) == "float" and ("%.17g"):format(key) or tostring(key)
      T = kind == "array" and tget(T, "elem") or nil
    elseif chance(0.5) then
      key = pick(NAMES)
      T = nil
    else
      key, ks = any()
      T = nil
    end
    if not ks then
      ks = type(key) == "string" and key:match("^[%a_][%w_]*$") and ("." .. key) or ("[" .. qs(key) .. "]")
    else
      ks = "[" .. ks .. "]"
    end
    n = n + 1
    path[n], srcs[n] = key, ks
    if type(T) ~= "table" then break end
  end
  return path, srcs, n
end

local function path_src(vs, srcs) return vs .. table.concat(srcs) end

local function walk(v, path, n)
  local x = v
  for i = 1, n do x = x[path[i]] end
  return x
end

local function view_set_table(T)
  local t, parts = {}, {}
  local ms = members_of(T)
  if ms then
    for _, m in ipairs(ms) do
      if chance(0.5) and type(m) == "table" and type(m.name) == "string" then
        local v, vs = value()
        if chance(0.3) then v, vs = str() end
        t[m.name] = v
        parts[#parts + 1] = ("[%s] = %s"):format(qs(m.name), vs)
      end
    end
  end
  if chance(0.2) then
    local k, ks = any()
    local v, vs = any()
    if k ~= nil and k == k then
      t[k] = v
      parts[#parts + 1] = ("[%s] = %s"):format(ks, vs)
    end
  end
  return t, "{ " .. table.concat(parts, ", ") .. " }"
end

local function field_name(T)
  local ms = members_of(T)
  if ms and #ms > 0 and chance(0.85) then
    local m = ms[random(#ms)]
    if type(m) == "table" and type(m.name) == "string" then return m.name, qs(m.name) end
  end
  if chance(0.5) then
    local n = pick({ "seq", "x", "a", "a[0]", "gps.lat", "nope", "a[100000000]" })
    return n, qs(n)
  end
  return any()
end

function ops.view_op()
  local v, vs = from("V")
  local T = layout_of(v)
  local r = random()
  if r < 0.3 then
    local path, srcs, n = gen_path(T)
    local ok, res = call(path_src(vs, srcs), function() return { walk(v, path, n) } end, nil)
    if ok and type(res[1]) == "userdata" then add("V", res[1], path_src(vs, srcs)) end
  elseif r < 0.45 then
    local path, srcs, n = gen_path(T)
    local val, vals
    if chance(0.5) then val, vals = value() elseif chance(0.5) then val, vals = rbytes(20) else val, vals = any() end
    local src = path_src(vs, srcs) .. " = " .. vals
    call(src, function()
      local parent = walk(v, path, n - 1)
      parent[path[n]] = val
    end, nil)
  elseif r < 0.52 then
    method_call(vs, v, "get", { n = 0 }, {})
  elseif r < 0.58 then
    local t, ts = view_set_table(T)
    if chance(0.15) then t, ts = any() end
    method_call(vs, v, "set", { t, n = 1 }, { ts })
  elseif r < 0.63 then
    call(("tostring(%s)"):format(vs), function() return { tostring(v) } end, nil)
  elseif r < 0.66 then
    call(("#%s"):format(vs), function() return { #v } end, nil)
  elseif r < 0.71 then
    call(("for k, x in pairs(%s) do end"):format(vs), function()
      local n = 0
      for _ in pairs(v) do
        n = n + 1
        if n >= 50 then break end
      end
    end, nil)
  elseif r < 0.75 then
    local f, fs = field_name(T)
    method_call(vs, v, "offsetof", { f, n = 1 }, { fs })
  elseif r < 0.77 then
    method_call(vs, v, "layout", { n = 0 }, {})
  elseif r < 0.85 then
    local name = pick({ "atomic_load", "atomic_store", "atomic_add", "atomic_cas" })
    local f, fs = field_name(T)
    local a, s = { f }, { fs }
    if name ~= "atomic_load" then a[2], s[2] = value() end
    if name == "atomic_cas" then a[3], s[3] = value() end
    a.n = #s
    method_call(vs, v, name, a, s)
  elseif r < 0.91 then
    local f, fs = field_name(T)
    if chance(0.5) then
      local cur = probe("(function(v, f) return v[f] end)", function() return v[f] end, v, f)
      local e, es
      if I.type(cur) == "integer" and chance(0.6) then e, es = cur, tostring(cur) else e, es = value() end
      local t, ts = short_timeout()
      method_call(vs, v, "wait", { f, e, t, n = 3 }, { fs, es, ts })
    else
      local n, ns = value()
      method_call(vs, v, "wake", { f, n, n = 2 }, { fs, ns })
    end
  elseif r < 0.96 then
    local f, fs = field_name(T)
    local fn, fns = fn_arg()
    method_call(vs, v, "publish", { f, fn, n = 2 }, { fs, fns })
  else
    local f, fs = field_name(T)
    local t, ts = short_timeout()
    method_call(vs, v, "snapshot", { f, t, n = 2 }, { fs, ts })
  end
end

-- View methods and metamethods with something that is not a view as self.
function ops.view_hostile()
  local o, os_
  local r = random()
  if r < 0.35 then o, os_ = from("H")
  elseif r < 0.5 then o, os_ = io.stdout, "io.stdout"
  else o, os_ = any() end
  local names = { "get", "set", "atomic_load", "atomic_store", "atomic_add", "atomic_cas", "wait", "wake", "publish",
    "snapshot", "offsetof", "layout" }
  if chance(0.7) then
    local a, s = {}, {}
    for i = 1, random(0, 3) do a[i], s[i] = any() end
    a.n = #s
    method_call(os_, o, pick(names), a, s, "VM")
  else
    local mm = pick({ "__index", "__newindex", "__len", "__pairs", "__tostring" })
    local k, ks = any()
    local x, xs = any()
    call(("VMETA.%s(%s, %s, %s)"):format(mm, os_, ks, xs), function()
      local f = VMETA[mm]
      return { f(o, k, x) }
    end, nil)
  end
end

-- ------------------------------------------------------------ internals

local function forged_desc(depth)
  local parts, t = {}, {}
  local function put(k, v, s)
    t[k] = v
    parts[#parts + 1] = k .. " = " .. s
  end
  local k = pick({ "struct", "array", "array", "scalar", "string", "bogus" })
  put("kind", k, qs(k))
  put("size", num())
  if chance(0.7) then put("count", num()) end
  if chance(0.5) then
    local c = pick(CTYPES)
    put("ctype", c, qs(c))
  end
  if chance(0.5) then put("offset", num()) end
  if chance(0.6) then put("layout", from("L")) end
  if depth > 0 and chance(0.6) then
    local e, es = forged_desc(depth - 1)
    put("elem", e, es)
  end
  if depth > 0 and chance(0.6) then
    local f, fs = forged_desc(depth - 1)
    local n = pick(NAMES)
    f.name = n
    fs = fs:gsub("^{ ", "{ name = " .. qs(n) .. ", ")
    f.type = chance(0.5) and forged_desc(0) or nil
    put("fields", { f }, "{ " .. fs .. " }")
  end
  if depth > 0 and chance(0.1) then
    local x, xs = any()
    put(pick({ "fields", "elem", "type" }), x, xs)
  end
  return t, "{ " .. table.concat(parts, ", ") .. " }"
end

function ops.core()
  local r = random()
  if r < 0.3 then
    local d, ds = forged_desc(2)
    if chance(0.1) then d, ds = any() end
    local src = "core.compile_layout(" .. ds .. ")"
    local ok, res = call(src, callfn("core.compile_layout(o, ...)"), "compile_layout", d)
    if ok and type(res[1]) == "userdata" then add("D", res[1], src) end
  elseif r < 0.6 then
    local s, ss
    if chance(0.7) then s, ss = a_handle(true) else s, ss = any() end
    local d, ds
    local dr = random()
    if dr < 0.5 then d, ds = from("D")
    elseif dr < 0.7 then d, ds = io.stdout, "io.stdout"
    else d, ds = any() end
    local o, os_
    if chance(0.6) then
      o = pick({ 0, 0, 8, 4096, -1, 0x4000000000000000 })
      os_ = tostring(o)
    else o, os_ = any() end
    local src = ("core.new_view(%s, %s, %s)"):format(ss, ds, os_)
    local ok, res = call(src, callfn("core.new_view(o, ...)"), "new_view", s, d, o)
    if ok and type(res[1]) == "userdata" then add("V", res[1], src) end
  elseif r < 0.8 then
    local x, xs
    if chance(0.5) then x, xs = from("V") else x, xs = any() end
    local b, bs = any()
    if chance(0.6) then b, bs = rbytes(64) end
    local name = pick({ "view_info", "view_decode" })
    call(("core.%s(%s, %s)"):format(name, xs, bs), callfn("core." .. name .. "(o, ...)"), name, x, b)
  else
    -- segment metamethods with any self
    local mm = pick({ "__gc", "__close", "__tostring", "__len" })
    local o, os_
    if chance(0.5) then o, os_ = from("H") else o, os_ = any() end
    local x, xs = any()
    call(("SEGMETA.%s(%s, %s)"):format(mm, os_, xs), function() return { SEGMETA[mm](o, x) } end, nil)
    if (mm == "__gc" or mm == "__close") and o then log(("M %s SEGMETA.%s(%s, %s)"):format(os_, mm, os_, xs)) end
  end
end

function ops.meta()
  local o, os_ = any()
  local r = random()
  if r < 0.4 then
    call(("tostring(%s)"):format(os_), function() return { tostring(o) } end, nil)
  elseif r < 0.6 then
    call(("#%s"):format(os_), function() return { #o } end, nil)
  elseif r < 0.8 then
    local k, ks = any()
    call(("%s[%s]"):format(os_, ks), function() return { o[k] } end, nil)
  else
    -- (never the module tables: the batch needs them)
    o, os_ = from(pick({ "H", "V", "L" }))
    local k, ks = any()
    local x, xs = any()
    call(("%s[%s] = %s"):format(os_, ks, xs), function() o[k] = x end, nil)
  end
end

function ops.gc()
  call("collectgarbage()", function() collectgarbage() end, nil)
end

-- ------------------------------------------------------------ the smo command

local function shq(s) return "'" .. s:gsub("%z", ""):gsub("'", "'\\''") .. "'" end

local function seg_word(for_rm)
  local r = random()
  if r < 0.5 then
    local k = KEYS[random(3)]     -- K1..K3 have segments from the start
    return pick({ tostring(k), ("0x%x"):format(k % 0x100000000), "key:" .. k })
  elseif r < 0.7 then
    local h = a_handle(true)
    local id = probe("SEG.shmid", SEG.shmid, h)
    if id then return pick({ "id:" .. id, tostring(id) }) end
    return "id:99999999999999999999"
  elseif r < 0.8 then
    return pick({ P1, P2 }) .. ":" .. pick({ "1", "2", "A", "0", "256", "AB", "", "-1" })
  elseif r < 0.95 then
    return pick({ "", "id:", "id:-1", "id:99999999999999999999", "id:1e3", "key:", "key:99999999999999999999",
                  "0x1ffffffff", "99999999999999999999", "/nonexistent:1", ":1", "a:b:c", "--help", "-h",
                  "--struct", "\255\254", ("x"):rep(5000), "0x", "-99999999999" })
  end
  -- (no digits: a bare number could name another program's segment, and
  -- no ':' for rm, whose PATH:PROJ could name one)
  local s = rbytes(12):gsub(for_rm and "[:%d]" or "%d", "")
  return s
end

local HUGE_DIMS = { "4611686018427387905", "0x4000000000000001", "2305843009213693953", "1152921504606846977",
  "0x2000000000000001", "99999999999999999999", "4294967297", "2*0x2000000000000001" }
local header_n = 0
local function header_file()
  local r = random()
  if r < 0.85 then
    header_n = header_n + 1
    local path = ("%s/h%d.h"):format(DIR, header_n)
    local text
    local t = random()
    if t < 0.35 then
      text = "struct pose { double x, y; uint32_t seq; char name[16]; double lat; };"
    elseif t < 0.65 then
      text = ("struct big { int a[%s]; };"):format(chance(0.7) and pick(HUGE_DIMS) or pick(DIMS))
    elseif t < 0.7 then
      local depth = pick({ 1000, 60000 })
      text = ("struct deep { %sint x;%s };"):format(("struct { "):rep(depth), (" } a;"):rep(depth))
    else
      text = chance(0.5) and gen_cdef() or gen_decl()
    end
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    log(("M - write %s: %s"):format(path, #text > 300 and (qs(text:sub(1, 300)) .. ("... (%d bytes)"):format(#text))
                                                          or qs(text)))
    return path
  end
  return pick({ "/dev/null", DIR, "/nonexistent.h", "" })
end

function ops.cli()
  local cmd = pick({ "list", "stat", "stat", "dump", "dump", "rm", "watch", "watch", "watch", "help", "--help",
                     "bogus", "" })
  local args = { cmd }
  if cmd == "stat" or cmd == "rm" then
    args[2] = seg_word(cmd == "rm")
    if chance(0.1) then args[3] = seg_word(true) end
  elseif cmd == "dump" then
    args[2] = seg_word()
    if chance(0.6) then args[3] = pick({ "0", "8", "4095", "4096", "4097", "-1", "99999999999999999999", "abc", "1e3" }) end
    if chance(0.5) then args[4] = pick({ "0", "16", "99999999999999999999", "-1", "x", "1.5" }) end
  elseif cmd == "watch" then
    args[2] = seg_word()
    args[#args + 1] = "--struct"
    args[#args + 1] = header_file()
    local count = chance(0.85) and pick({ "1", "2" }) or pick({ "0", "-1", "1.5", "abc", "", "99999999999999999999" })
    args[#args + 1] = "--count"
    args[#args + 1] = count
    args[#args + 1] = "--interval"
    args[#args + 1] = count == "2" and "0" or pick({ "0", "-1", "nan", "1e309", "abc", "0x1" })
    if chance(0.3) then
      args[#args + 1] = "--type"
      args[#args + 1] = pick({ "big", "pose", "gps_t", "nope", "" })
    end
    if chance(0.3) then
      args[#args + 1] = "--offset"
      args[#args + 1] = pick({ "0", "8", "4096", "-1", "99999999999999999999", "abc" })
    end
    if chance(0.3) then
      args[#args + 1] = "--seq"
      args[#args + 1] = pick({ "seq", "x", "a", "nope", "a.b", "a[0]", "" })
    end
    if chance(0.05) then args[#args + 1] = pick({ "--bogus", "--", "-x", "extra" }) end
  elseif chance(0.3) then
    args[2] = seg_word(true)
  end
  local words = {}
  for i, a in ipairs(args) do words[i] = shq(a) end
  local line = table.concat(words, " ")
  local src = "smo " .. line
  sub = sub + 1
  log(("C %d.%d %s"):format(index, sub, src))
  calls = calls + 1
  local p = io.popen(("timeout -k 1 %d %s %s/bin/smo %s 2>&1; echo \"rc=$?\""):format(CLI_TIMEOUT, LUA, ROOT, line))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$")) or -1
  if rc == 124 or rc == 137 then
    finding("cli-hang", ("%s ran for over %d s"):format(src, CLI_TIMEOUT))
  elseif rc >= 128 or rc < 0 then
    finding("cli-crash", ("%s died with signal %d"):format(src, rc - 128))
  elseif out:find("stack traceback", 1, true) or out:match("^lua5%.4: ") or out:match("\nlua5%.4: ") then
    finding("cli-traceback", src .. " printed " .. (out:match("[^\n]*\n?[^\n]*") or ""))
  elseif rc ~= 0 and rc ~= 1 and rc ~= 2 then
    finding("cli-crash", ("%s exited with %d"):format(src, rc))
  end
end

-- ------------------------------------------------------------ side check

-- A wait with a long timeout on a word nobody changes must sleep: one runs
-- in a process of its own, killed after 0.5 s; the parent reads what it
-- printed ("W path src" in the log) once every batch is done.
local function side_check()
  local ts = pick(LONG_TIMEOUTS)
  local view = chance(0.3)
  local code = "local smo = require('smobject') " ..
    "local seg = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true }) " ..
    (view and ("local v = seg:view(smo.struct('uint32_t w;')) print('RET', v:wait('w', 0, %s))")
           or ("print('RET', seg:wait(0, 0, %s))")):format(ts)
  local out = ("%s/side-%d.out"):format(DIR, BATCH)
  os.remove(out)
  log(("W %s %s"):format(out, (view and "v:wait('w', 0, %s)" or "seg:wait(0, 0, %s)"):format(ts)))
  os.execute(("(timeout -s KILL 0.5 %s -e %s > %s 2>&1; echo \"rc=$?\" >> %s) &"):format(LUA, shq(code), out, out))
end

-- LuaJIT: FFI views and smobject.ffi with hostile arguments (timeouts are
-- kept short: a wait with none sleeps for ever, as it should).
local has_F, F = false, nil
if rawget(_G, "jit") then has_F, F = pcall(require, "smobject.ffi") end
local FVIEWS = {}

local function ffi_member(v)
  local info = F._views[v]
  if info and chance(0.8) then
    local ms = info.layout:members()
    if #ms > 0 then
      local m = ms[random(#ms)].name
      return m, ("%q"):format(m)
    end
  end
  return any()
end

function ops.ffi()
  if not has_F then return end
  local h, hs = a_handle(chance(0.9))
  if #FVIEWS == 0 or chance(0.3) then
    local T, ts = from("L")
    if chance(0.1) then T, ts = any() end
    local o, os_ = offset_for(h, 8)
    local ok, r = method_call(hs, h, "ffi_view", { T, o, n = 2 }, { ts, os_ })
    if ok and type(r[1]) == "cdata" then
      if #FVIEWS >= 16 then table.remove(FVIEWS, 1) end
      FVIEWS[#FVIEWS + 1] = r[1]
    end
    return
  end
  local v, vs = FVIEWS[random(#FVIEWS)], "fv"
  if chance(0.1) then v, vs = any() end
  local m, ms = ffi_member(v)
  local short = pick({ 0, 0.001 })
  local what = random()
  if what < 0.45 then
    local ok, r = call(("F.atomic(%s, %s)"):format(vs, ms), F.atomic, "atomic", v, m)
    if not ok then return end
    local a = r
    local op = pick({ "load", "store", "add", "exchange", "cas", "wait", "wake" })
    local x, xs = num()
    if chance(0.2) then x, xs = any() end
    if op == "wait" then
      call(("a:wait(%s, %s)"):format(xs, short), function() return a:wait(x, short) end, "wait")
    elseif op == "wake" then
      call(("a:wake(%s)"):format(xs), function() return a:wake(x) end, "wake")
    else
      call(("a:%s(%s, %s)"):format(op, xs, xs), function() return a[op](a, x, x) end, op)
    end
  elseif what < 0.75 then
    local into = nil
    if chance(0.3) then into = any() end
    call(("F.snapshot(%s, %s, %s)"):format(vs, ms, short), F.snapshot, "snapshot", v, m, short, into)
  elseif what < 0.9 then
    local ok = call(("F.publish_begin(%s, %s)"):format(vs, ms), F.publish_begin, "publish_begin", v, m)
    if ok then call(("F.publish_end(%s, %s)"):format(vs, ms), F.publish_end, "publish_end", v, m) end
  else
    call(("F.publish(%s, %s, fn)"):format(vs, ms), F.publish, "publish", v, m, function() end)
  end
end

-- smo.dict with hostile arguments (a few small private dictionaries).
local DICTS = {}
local DICT_METHODS = { "get", "get_stale", "set", "safe_set", "add", "safe_add", "replace", "delete", "incr",
  "lpush", "rpush", "lpop", "rpop", "llen", "ttl", "expire", "flush_all", "flush_expired", "get_keys", "capacity",
  "free_space", "stats", "close" }

local function dict_key()
  local r = random()
  if r < 0.6 then
    local k = "k" .. random(1, 20)
    return k, ("%q"):format(k)
  end
  if r < 0.7 then return rbytes(random(0, 40)) end
  return any()
end

function ops.dict()
  if #DICTS == 0 or chance(0.05) then
    local size = pick({ 65536, 200000, 1 })
    local ok, r = call(("smo.dict{ key = smo.PRIVATE, size = %d, create = true }"):format(size), smo.dict, "dict",
      { key = smo.PRIVATE, size = size, create = true })
    if ok and type(r) == "userdata" then
      if #DICTS >= 4 then table.remove(DICTS, 1) end
      DICTS[#DICTS + 1] = r
    end
    if chance(0.2) then call("smo.dict(any)", smo.dict, "dict", (any())) end
    return
  end
  local d = DICTS[random(#DICTS)]
  local name = pick(DICT_METHODS)
  local a, srcs = { n = 0 }, {}
  local function push(v, vs) a.n = a.n + 1; a[a.n], srcs[a.n] = v, vs or tostring(v) end
  if name ~= "flush_all" and name ~= "capacity" and name ~= "free_space" and name ~= "stats" and name ~= "close" then
    push(dict_key())
  end
  for _ = 1, random(0, 4) do
    local r = random()
    if r < 0.3 then push(num())
    elseif r < 0.5 then push(rbytes(random(0, 300)))
    elseif r < 0.55 then push(true)
    else push(any()) end
  end
  method_call("d", d, name, a, srcs)
end

-- ------------------------------------------------------------ the batch

local WEIGHTS = {
  { ops.open, 8 }, { ops.attach, 2 }, { ops.key, 2 }, { ops.new, 2 }, { ops.remove, 1 }, { ops.module_misc, 1.5 },
  { ops.seg_method, 30 }, { ops.seg_hostile_self, 5 }, { ops.lock, 6 }, { ops.wait, 4 }, { ops.publish, 4 },
  { ops.struct, 8 }, { ops.array, 2 }, { ops.mutate_layout, 2 }, { ops.forge_layout, 2 }, { ops.layout_method, 2 },
  { ops.deep, 0.12 }, { ops.view, 7 }, { ops.view_op, 16 }, { ops.view_hostile, 3 }, { ops.core, 5 },
  { ops.meta, 2 }, { ops.gc, 0.7 }, { ops.cli, 1.2 }, { ops.ffi, has_F and 6 or 0 }, { ops.dict, 6 },
}
local total = 0
for _, w in ipairs(WEIGHTS) do total = total + w[2] end
local function pick_op()
  local x = random() * total
  for _, w in ipairs(WEIGHTS) do
    x = x - w[2]
    if x <= 0 then return w[1] end
  end
  return WEIGHTS[1][1]
end

-- A few objects to start from, made like any other call.
local function seed_pool()
  index = 0
  for i = 1, 3 do
    local src = ("smo.open{ key = K%d, size = 4096, create = true }"):format(i)
    sub = 0
    local ok, r = call(src, callfn("smo.open(o, ...)"), "open", { key = KEYS[i], size = 4096, create = true })
    if ok and r[1] then note_handle(r[1], src) end
  end
  local src = "smo.open{ key = smo.PRIVATE, size = 4096, create = true }"
  local ok, r = call(src, callfn("smo.open(o, ...)"), "open", { key = smo.PRIVATE, size = 4096, create = true })
  if ok and r[1] then note_handle(r[1], src) end
  for _, d in ipairs({ "struct pose { double x, y; uint32_t seq; char name[16]; }", "uint32_t seq; int a[4]; " ..
                       "struct { double lat, lon; } gps; char s[8];" }) do
    src = "smo.struct(" .. qs(d) .. ")"
    local lok, lr = call(src, callfn("smo.struct(o, ...)"), "struct", d)
    if lok then note_layout(lr[1], src) end
  end
end

-- The collector runs at fixed points only, so that a replay of the batch
-- finalises (and frees) the same objects at the same calls.
collectgarbage("stop")
if BATCH % 4 == 0 and not next(SKIP) then side_check() end
seed_pool()
for i = 1, NCALLS do
  index, sub = i, 0
  if i % 25 == 0 then call("collectgarbage()", function() collectgarbage() end, nil) end
  local op = pick_op()
  if SKIP[i] then
    log(("S %d"):format(i))
  else
    local ok, err = pcall(op)
    if not ok then finding("harness", err) end
  end
end
log("E " .. calls)
