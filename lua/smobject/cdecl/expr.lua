--- Integer constant expressions, as in array sizes, enum values and #if
-- lines: C's operators (?: || && | ^ & == != < > <= >= << >> + - * / % and
-- unary + - ~ !) with C's precedence and C's types on this machine: every
-- value is an int, unsigned int, long or unsigned long (int and unsigned
-- int of 32 bits, long of 64), literals take the type C gives them (0x80000000
-- is unsigned, ~0u is 4294967295), operands meet in the type C's usual
-- arithmetic conversions give, unsigned arithmetic wraps.  In #if every
-- value is 64-bit (intmax_t or uintmax_t), as in C.  Signed overflow and
-- division by zero raise at the operator, a shift out of range too, except
-- in a branch that is not evaluated (`0 && 1/0`, as C); a signed `<<` may
-- reach the sign bit, as gcc defines it.  What an identifier means is the
-- caller's business (an enum constant, sizeof, 0 in #if).
--
-- A value is a pair v, T: T one of "int", "uint", "long", "ulong"; v the
-- value itself for the first three, the 64 bits for "ulong" (so that a
-- value of 2^63 or more is a negative Lua integer) on 5.3 and later; on
-- runtimes whose numbers are doubles (5.1, 5.2, LuaJIT) every value is the
-- true one, and one beyond +-2^53 is refused (cint.lua).

local C = require("smobject.cdecl.cint")

local M = {}

M.MAX_DEPTH = 200                         -- parentheses, unary operators and ?: in one expression

local INT_MIN, INT_MAX, UINT_MAX = -0x80000000, 0x7fffffff, 0xffffffff
local UNSIGNED = { uint = true, ulong = true }
local RANK = { int = 1, uint = 1, long = 2, ulong = 2 }
local OVERFLOW = "integer overflow in constant expression"
local BIG = "constant value " .. C.BIG

-- The arithmetic itself is cint.lua's: Lua's 64-bit integers on 5.3 and
-- later, doubles exact within +-2^53 (and a refusal beyond) elsewhere.
local arith, convert = C.arith, C.convert
M.arith, M.convert = arith, convert

-- The type two operands meet in (C's usual arithmetic conversions).
local function common(a, b)
  if a == b then return a end
  local ua, ub = UNSIGNED[a], UNSIGNED[b]
  if ua == ub then return RANK[a] >= RANK[b] and a or b end
  local u, s = ua and a or b, ua and b or a
  if RANK[u] >= RANK[s] then return u end
  return s                                -- long holds every unsigned int
end

-- The type of integer literal token tok (text such as "0x10UL"), or nil
-- and why it has none.
local function literal_type(tok)
  local text = tok.text or ""
  if text:sub(1, 1) == "'" then return "int" end
  local suffix = (text:match("[uUlL]*$") or ""):lower()
  local plain = not text:match("^0[xX]") and not text:match("^0%d")   -- decimal
  local v = tok.v
  local u, l = suffix:find("u", 1, true), suffix:find("l", 1, true)
  if u and l then return "ulong" end
  if u then return (v >= 0 and v <= UINT_MAX) and "uint" or "ulong" end
  if v < 0 then                           -- 2^63 or more
    if plain then return nil, ("integer constant '%s' is too large"):format(text) end
    return "ulong"
  end
  if l then return "long" end
  if v <= INT_MAX then return "int" end
  if not plain and v <= UINT_MAX then return "uint" end
  return "long"
end

local BINARY = {
  ["||"] = 1, ["&&"] = 2, ["|"] = 3, ["^"] = 4, ["&"] = 5, ["=="] = 6, ["!="] = 6,
  ["<"] = 7, [">"] = 7, ["<="] = 7, [">="] = 7, ["<<"] = 8, [">>"] = 8, ["+"] = 9, ["-"] = 9,
  ["*"] = 10, ["/"] = 10, ["%"] = 10,
}
local TOP = 10

local function b2i(x) return x and 1 or 0, "int" end

-- Whether v of type T is zero.
local function zero(v) return v == 0 end

-- a < b in type T.
local less = C.less

-- The value and type of the expression at S's next token.  S has peek(),
-- next(), fail(tok, msg) (raises), operand(tok, live) (the value and type
-- of identifier token tok, already consumed; may consume more, as
-- sizeof(T) does) and cast(tok) (after a consumed '(': when a type name
-- and its ')' follow, it consumes them and returns the cast's conversion, a
-- function (v, T, live) -> v, T; else false).  wide: every value is
-- 64-bit, as in #if.
function M.evaluate(S, wide)
  local depth = 0
  local function nest(t)
    depth = depth + 1
    if depth > M.MAX_DEPTH then S:fail(t, "constant expression nested too deeply") end
  end
  -- r (of type T) from a signed operation; nil: overflow, or (why "big")
  -- past what doubles hold, which for an int is an overflow too.
  local function overflow(t, live, T, r, why)
    if r == nil or (T == "int" and (r < INT_MIN or r > INT_MAX)) then
      if live then S:fail(t, (why == "big" and T ~= "int") and BIG or OVERFLOW) end
      return 0, T
    end
    return r, T
  end
  -- r of type T from an operation that cannot overflow (nil: past what
  -- doubles hold).
  local function value(t, live, T, r)
    if r == nil then
      if live then S:fail(t, BIG) end
      return 0, T
    end
    return r, T
  end
  local conditional
  local function unary(live)
    local t = S:next()
    if t.t == "num" then
      if t.err then S:fail(t, t.err) end
      local T, why = literal_type(t)
      if not T then S:fail(t, why) end
      if wide then T = UNSIGNED[T] and "ulong" or "long" end
      return t.v, T
    elseif t.t == "float" then
      S:fail(t, ("floating constant '%s' in an integer constant expression"):format(t.v))
    elseif t.t == "id" then
      local v, T = S:operand(t, live)
      T = T or "int"
      if wide then T = UNSIGNED[T] and "ulong" or "long" end
      return v, T
    elseif t.t == "punct" and (t.v == "(" or t.v == "-" or t.v == "+" or t.v == "~" or t.v == "!") then
      nest(t)
      local v, T
      if t.v == "(" then
        local conv = S:cast(t)
        if conv then
          v, T = unary(live)
          v, T = conv(v, T, live)
          if wide then T = UNSIGNED[T] and "ulong" or "long" end
        else
          v, T = conditional(live)
          local c = S:next()
          if c.v ~= ")" or c.t ~= "punct" then
            S:fail(c, ("expected ')', got '%s'"):format(tostring(c.text or c.v)))
          end
        end
      else
        v, T = unary(live)
        if t.v == "-" then
          if UNSIGNED[T] then
            v, T = value(t, live, T, C.negate(v, T))
          else
            v, T = overflow(t, live, T, arith("-", 0, v))
          end
        elseif t.v == "~" then
          v, T = value(t, live, T, C.complement(v, T))
        elseif t.v == "!" then
          v, T = b2i(zero(v))
        end
      end
      depth = depth - 1
      return v, T
    end
    S:fail(t, ("expected an integer constant, got '%s'"):format(tostring(t.text or t.v)))
  end
  local function apply(t, op, a, A, b, B, live)
    if op == "<<" or op == ">>" then
      -- the left operand's type; the count must be below its width
      local bits = RANK[A] == 2 and 64 or 32
      if b < 0 or b >= bits then          -- (a huge unsigned count is negative here)
        if live then
          S:fail(t, ("shift by %s is out of range"):format(B == "ulong" and b < 0 and ("0x%x"):format(b)
            or C.NATIVE and b or ("%.0f"):format(b)))
        end
        return 0, A
      end
      return value(t, live, A, C.shift(op, a, b, A))   -- (>> arithmetic on a negative value, as gcc's)
    end
    local T = common(A, B)
    a, b = convert(a, T), convert(b, T)
    if a == nil or b == nil then return value(t, live, T, nil) end
    if op == "/" or op == "%" then
      if b == 0 then
        if live then S:fail(t, "division by zero") end
        return 0, T
      end
      if T == "ulong" then
        local q = C.udiv(a, b)
        return op == "/" and q or a - q * b, T
      end
      return overflow(t, live, T, arith(op, a, b))
    elseif op == "+" or op == "-" or op == "*" then
      if UNSIGNED[T] then return value(t, live, T, C.wrap(op, a, b, T)) end
      return overflow(t, live, T, arith(op, a, b))
    elseif op == "&" or op == "|" or op == "^" then return value(t, live, T, C.bitwise(op, a, b, T))
    elseif op == "==" then return b2i(a == b)
    elseif op == "!=" then return b2i(a ~= b)
    elseif op == "<" then return b2i(less(a, b, T))
    elseif op == ">" then return b2i(less(b, a, T))
    elseif op == "<=" then return b2i(not less(b, a, T))
    end
    return b2i(not less(a, b, T))
  end
  -- operators of precedence level and above
  local function binary(level, live)
    if level > TOP then return unary(live) end
    local v, T = binary(level + 1, live)
    while true do
      local t = S:peek()
      if t.t ~= "punct" or BINARY[t.v] ~= level then return v, T end
      S:next()
      if t.v == "&&" then
        local r = binary(level + 1, live and v ~= 0)
        v, T = b2i(v ~= 0 and r ~= 0)
      elseif t.v == "||" then
        local r = binary(level + 1, live and v == 0)
        v, T = b2i(v ~= 0 or r ~= 0)
      else
        local b, B = binary(level + 1, live)
        v, T = apply(t, t.v, v, T, b, B, live)
      end
    end
  end
  function conditional(live)
    local v, T = binary(1, live)
    local q = S:peek()
    if q.t ~= "punct" or q.v ~= "?" then return v, T end
    S:next()
    nest(q)
    local a, A = conditional(live and v ~= 0)
    local c = S:next()
    if c.v ~= ":" or c.t ~= "punct" then S:fail(c, ("expected ':', got '%s'"):format(tostring(c.text or c.v))) end
    local b, B = conditional(live and v == 0)
    depth = depth - 1
    local R = common(A, B)
    if v ~= 0 then return value(q, live, R, (convert(a, R))) end
    return value(q, live, R, (convert(b, R)))
  end
  return conditional(true)
end

return M
