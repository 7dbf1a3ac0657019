--- C's integer arithmetic for constant expressions (expr.lua), literals
-- (lexer.lua) and casts (parser.lua), on this machine's types: int and
-- unsigned int of 32 bits, long and unsigned long of 64.  Two backends with
-- one interface:
--
-- * 5.3 and later: Lua's own 64-bit integers, exactly as C computes (the
--   operator code is a string, compiled only there, so that this file
--   parses everywhere).  A "ulong" value is its 64 bits: 2^63 or more is a
--   negative Lua integer.
-- * 5.1, 5.2, LuaJIT: doubles, exact within +-2^53; an operation whose
--   value goes beyond raises a clear refusal instead of a wrong number
--   (nil, "big" here; expr.lua words it with BIG).  Values are the true
--   ones (a "ulong" is never negative).
--
-- Functions (v, a, b values; T, A one of "int", "uint", "long", "ulong"):
-- arith(op, a, b): + - * / % on signed 64 bits, nil on overflow (/ and %
-- truncate toward zero, b ~= 0 is the caller's check); udiv(a, b): unsigned
-- 64-bit division; convert(v, T): v as a value of type T (wrapping, as gcc
-- does); negate(v, T), complement(v, T): unary - of an unsigned value, ~;
-- shift(op, a, b, A): << or >> in A (0 <= b < its width, the caller's
-- check), >> arithmetic on signed values as gcc's; wrap(op, a, b, T):
-- unsigned + - *; bitwise(op, a, b, T): & | ^; less(a, b, T); cast(v, bits,
-- unsigned): to an integer type narrower than 64 bits; parse_integer(text):
-- a C literal's value, or nil and "bad", "large" (past 64 bits) or "big".
-- (Private.)

local compat = require("smobject.compat")

local NATIVE = [==[
local MININT = math.mininteger
local INT_MAX, UINT_MAX = 0x7fffffff, 0xffffffff
local UNSIGNED = { uint = true, ulong = true }
local C = {}

function C.arith(op, a, b)
  if op == "+" then
    local r = a + b
    if (a >= 0) == (b >= 0) and (r >= 0) ~= (a >= 0) then return nil end
    return r
  elseif op == "-" then
    local r = a - b
    if (a >= 0) ~= (b >= 0) and (r >= 0) ~= (a >= 0) then return nil end
    return r
  elseif op == "*" then
    if a == 0 or b == 0 then return 0 end
    if (a == -1 and b == MININT) or (b == -1 and a == MININT) then return nil end
    local r = a * b
    if r // b ~= a or r % b ~= 0 then return nil end
    return r
  end
  if a == MININT and b == -1 then return nil end
  local q = a // b
  if q < 0 and q * b ~= a then q = q + 1 end   -- floor to truncation
  if op == "/" then return q end
  return a - q * b
end

function C.udiv(a, b)
  if b < 0 then return math.ult(a, b) and 0 or 1 end     -- b >= 2^63
  if a >= 0 then return a // b end
  local q = ((a >> 1) // b) << 1
  if not math.ult(a - q * b, b) then q = q + 1 end
  return q
end

function C.convert(v, T)
  if T == "uint" then return v & UINT_MAX end
  if T == "int" then
    v = v & UINT_MAX
    return v > INT_MAX and v - 0x100000000 or v
  end
  return v                                -- long, ulong: the same 64 bits
end
local convert = C.convert

function C.negate(v, T) return convert(-v, T) end

function C.complement(v, T) return convert(~v, T) end

function C.shift(op, a, b, A)
  if op == "<<" then return convert(a << b, A) end
  if UNSIGNED[A] then return a >> b end
  if b == 63 then return a < 0 and -1 or 0 end
  return a // (1 << b)                    -- arithmetic, as gcc shifts a negative value
end

function C.wrap(op, a, b, T)
  local r = op == "+" and a + b or op == "-" and a - b or a * b
  return convert(r, T)
end

function C.bitwise(op, a, b)
  if op == "&" then return a & b end
  if op == "|" then return a | b end
  return a ~ b
end

function C.less(a, b, T)
  if T == "ulong" then return math.ult(a, b) end
  return a < b
end

function C.cast(v, bits, unsigned)
  v = v & ((1 << bits) - 1)
  if not unsigned and v >= (1 << (bits - 1)) then v = v - (1 << bits) end
  return v
end

-- (2^64 - 1) // base and (2^64 - 1) % base: where 64 unsigned bits end
local LIMIT = { [8] = { 0x1fffffffffffffff, 7 }, [10] = { 1844674407370955161, 5 },
                [16] = { 0x0fffffffffffffff, 15 } }

function C.parse_integer(digits, base)
  local limit, rem = LIMIT[base][1], LIMIT[base][2]
  local v = 0
  for k = 1, #digits do
    local d = tonumber(digits:sub(k, k), base)
    if not d then return nil, "bad" end
    if math.ult(limit, v) or (v == limit and d > rem) then return nil, "large" end
    v = v * base + d
  end
  return v
end

C.LONG_MAX = math.maxinteger
return C
]==]

local C = compat.native(NATIVE, "smobject.cdecl.cint")

--- The refusal of the double backend, after "integer constant '0x...' " or
-- "constant value ".
local BIG = ("exceeds 2^53, which %s numbers cannot hold exactly (Lua 5.3 and later compute it)")
  :format(compat.RUNTIME)

if C then
  C.NATIVE = true
  C.BIG = BIG
  return C
end

-- ------------------------------------------------------------- doubles

C = { NATIVE = false, BIG = BIG, LIMIT = 2^53 }

local floor, fmod, abs = math.floor, math.fmod, math.abs
local LIMIT = 2^53
local INT_MAX = 0x7fffffff
local UNSIGNED = { uint = true, ulong = true }

local function norm(r) return r == 0 and 0 or r end     -- (never -0)

-- r when it is within +-2^53, else nil, "big".
local function fit(r)
  if r ~= r or r > LIMIT or r < -LIMIT then return nil, "big" end
  return norm(r)
end

function C.arith(op, a, b)
  local r
  if op == "+" or op == "-" then
    r = op == "+" and a + b or a - b
    -- (2^53 + 1 rounds to 2^53: a result of 2^53 is checked exact)
    if abs(r) == LIMIT and (op == "+" and r - a ~= b or op == "-" and a - r ~= b) then return nil, "big" end
    return fit(r)
  elseif op == "*" then
    if a == 0 or b == 0 then return 0 end
    r = a * b
    if abs(r) > 2^63 then return nil end                 -- past int64: overflow, as C
    if abs(r) == LIMIT and not (fmod(r, b) == 0 and r / b == a) then return nil, "big" end
    return fit(r)
  end
  local rem = fmod(a, b)                  -- C's %: the dividend's sign, exact
  if op == "%" then return norm(rem) end
  return norm((a - rem) / b)
end

function C.udiv(a, b) return norm((a - fmod(a, b)) / b) end

function C.convert(v, T)
  if T == "uint" then return v % 2^32 end
  if T == "int" then
    v = v % 2^32
    return v > INT_MAX and v - 2^32 or v
  end
  if T == "ulong" and v < 0 then return nil, "big" end   -- 2^64 + v
  return v
end
local convert = C.convert

function C.negate(v, T)
  if T == "uint" then return norm((-v) % 2^32) end
  if v == 0 then return 0 end
  return nil, "big"                       -- 2^64 - v
end

function C.complement(v, T)
  if T == "ulong" then return nil, "big" end              -- 2^64 - 1 - v
  if T == "uint" then return 2^32 - 1 - v end
  if v >= LIMIT then return nil, "big" end                -- (-2^53 - 1)
  return -v - 1                           -- int, long: two's complement
end

function C.shift(op, a, b, A)
  local p = 2^b
  if op == ">>" then return norm(floor(a / p)) end       -- exact; arithmetic for a negative a
  local r = a * p                         -- exact: a power of two
  if A == "int" or A == "uint" then return convert(r, A) end
  if abs(r) <= LIMIT then return r end
  -- past 2^53: wrapped to 64 bits, as C does (exact: r is a multiple of 2^b)
  local m = r % 2^64
  if A == "long" and m >= 2^63 then m = m - 2^64 end
  return fit(m)
end

-- a * b mod 2^32 for a, b in [0, 2^32), exact: b in 16-bit halves.
local function mul32(a, b)
  local hi, lo = floor(b / 2^16), b % 2^16
  return ((a * hi) % 2^16 * 2^16 + a * lo) % 2^32
end

function C.wrap(op, a, b, T)
  if T == "uint" then
    if op == "*" then return mul32(a, b) end
    return (op == "+" and a + b or a - b) % 2^32
  end
  if op == "-" and a < b then return nil, "big" end        -- wraps past 2^64 - 2^53
  local r = C.arith(op, a, b)             -- + and * of non-negative values: exact, or past 2^53
  if r == nil then return nil, "big" end
  return r
end

-- 32-bit and/or/xor of x, y in [0, 2^32), as numbers in [0, 2^32).
local bit32, bitop = rawget(_G, "bit32"), rawget(_G, "bit")
local band32, bor32, bxor32
if bit32 then
  band32, bor32, bxor32 = bit32.band, bit32.bor, bit32.bxor
elseif bitop then                         -- LuaJIT: signed 32-bit results
  local band, bor, bxor = bitop.band, bitop.bor, bitop.bxor
  band32 = function(x, y) return band(x, y) % 2^32 end
  bor32 = function(x, y) return bor(x, y) % 2^32 end
  bxor32 = function(x, y) return bxor(x, y) % 2^32 end
else
  local function each_bit(x, y, rule)
    local r, p = 0, 1
    for _ = 1, 32 do
      local a, b = x % 2, y % 2
      if rule(a, b) then r = r + p end
      x, y, p = (x - a) / 2, (y - b) / 2, p * 2
    end
    return r
  end
  band32 = function(x, y) return each_bit(x, y, function(a, b) return a == 1 and b == 1 end) end
  bor32 = function(x, y) return each_bit(x, y, function(a, b) return a == 1 or b == 1 end) end
  bxor32 = function(x, y) return each_bit(x, y, function(a, b) return a ~= b end) end
end
local BITWISE = { ["&"] = function(x, y) return band32(x, y) end, ["|"] = function(x, y) return bor32(x, y) end,
                  ["^"] = function(x, y) return bxor32(x, y) end }

-- On the 64-bit patterns, in two 32-bit halves; the result is read as T
-- (signed unless unsigned), refused past 2^53.
function C.bitwise(op, a, b, T)
  local f = BITWISE[op]
  local alo, blo = a % 2^32, b % 2^32
  local ahi, bhi = ((a - alo) / 2^32) % 2^32, ((b - blo) / 2^32) % 2^32
  local lo, hi = f(alo, blo), f(ahi, bhi)
  if not UNSIGNED[T] and hi >= 2^31 then hi = hi - 2^32 end
  if hi > 2^21 or hi < -2^21 or (hi == 2^21 and lo > 0) then return nil, "big" end
  return norm(hi * 2^32 + lo)
end

function C.less(a, b) return a < b end

function C.cast(v, bits, unsigned)
  v = v % 2^bits
  if not unsigned and v >= 2^(bits - 1) then v = v - 2^bits end
  return v
end

function C.parse_integer(digits, base)
  local v = 0
  for k = 1, #digits do
    local d = tonumber(digits:sub(k, k), base)
    if not d then return nil, "bad" end
    if v > floor((LIMIT - d) / base) then return nil, "big" end
    v = v * base + d
  end
  return v
end

C.LONG_MAX = nil                          -- (never reached: 2^53 is refused first)
return C
