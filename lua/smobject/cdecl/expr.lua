--- Integer constant expressions, as in array sizes, enum values and #if
-- lines: C's operators (?: || && | ^ & == != < > <= >= << >> + - * / % and
-- unary + - ~ !) with C's precedence, on signed 64-bit integers.  Overflow,
-- division by zero and shifts out of range raise at the operator, except in
-- a branch that is not evaluated (`0 && 1/0`, as C).  What an identifier
-- means is the caller's business (an enum constant, sizeof, 0 in #if).

local M = {}

M.MAX_DEPTH = 200                         -- parentheses, unary operators and ?: in one expression

local MININT = math.mininteger

-- a op b as C computes it on int64, or nil on overflow; / and % truncate
-- toward zero (b ~= 0 is the caller's check).
local function arith(op, a, b)
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
M.arith = arith

local BINARY = {
  ["||"] = 1, ["&&"] = 2, ["|"] = 3, ["^"] = 4, ["&"] = 5, ["=="] = 6, ["!="] = 6,
  ["<"] = 7, [">"] = 7, ["<="] = 7, [">="] = 7, ["<<"] = 8, [">>"] = 8, ["+"] = 9, ["-"] = 9,
  ["*"] = 10, ["/"] = 10, ["%"] = 10,
}
local TOP = 10

local function b2i(x) return x and 1 or 0 end

-- The value of the expression at S's next token.  S has peek(), next(),
-- fail(tok, msg) (raises), operand(tok, live) (the value of identifier
-- token tok, already consumed; may consume more, as sizeof(T) does) and
-- cast(tok) (after a consumed '(': when a type name and its ')' follow, it
-- consumes them and returns the cast's conversion, a function (v, live) -> v;
-- else false).
function M.evaluate(S)
  local depth = 0
  local function nest(t)
    depth = depth + 1
    if depth > M.MAX_DEPTH then S:fail(t, "constant expression nested too deeply") end
  end
  local function overflow(t, live, r)
    if r == nil then
      if live then S:fail(t, "integer overflow in constant expression") end
      return 0
    end
    return r
  end
  local conditional
  local function unary(live)
    local t = S:next()
    if t.t == "num" then
      if t.err then S:fail(t, t.err) end
      return t.v
    elseif t.t == "float" then
      S:fail(t, ("floating constant '%s' in an integer constant expression"):format(t.v))
    elseif t.t == "id" then
      return S:operand(t, live)
    elseif t.t == "punct" and (t.v == "(" or t.v == "-" or t.v == "+" or t.v == "~" or t.v == "!") then
      nest(t)
      local v
      if t.v == "(" then
        local conv = S:cast(t)
        if conv then
          v = conv(unary(live), live)
        else
          v = conditional(live)
          local c = S:next()
          if c.v ~= ")" or c.t ~= "punct" then
            S:fail(c, ("expected ')', got '%s'"):format(tostring(c.text or c.v)))
          end
        end
      else
        v = unary(live)
        if t.v == "-" then
          v = overflow(t, live, arith("-", 0, v))
        elseif t.v == "~" then
          v = ~v
        elseif t.v == "!" then
          v = b2i(v == 0)
        end
      end
      depth = depth - 1
      return v
    end
    S:fail(t, ("expected an integer constant, got '%s'"):format(tostring(t.text or t.v)))
  end
  local function apply(t, op, a, b, live)
    if op == "/" or op == "%" then
      if b == 0 then
        if live then S:fail(t, "division by zero") end
        return 0
      end
      return overflow(t, live, arith(op, a, b))
    elseif op == "+" or op == "-" or op == "*" then
      return overflow(t, live, arith(op, a, b))
    elseif op == "<<" or op == ">>" then
      if b < 0 or b > 63 then
        if live then S:fail(t, ("shift by %d is out of range"):format(b)) end
        return 0
      end
      if op == ">>" then
        if b == 63 then return a < 0 and -1 or 0 end
        return a // (1 << b)                  -- arithmetic, as gcc shifts a negative value
      end
      if b == 63 then return overflow(t, live, a == 0 and 0 or nil) end
      return overflow(t, live, arith("*", a, 1 << b))
    elseif op == "&" then return a & b
    elseif op == "|" then return a | b
    elseif op == "^" then return a ~ b
    elseif op == "==" then return b2i(a == b)
    elseif op == "!=" then return b2i(a ~= b)
    elseif op == "<" then return b2i(a < b)
    elseif op == ">" then return b2i(a > b)
    elseif op == "<=" then return b2i(a <= b)
    end
    return b2i(a >= b)
  end
  -- operators of precedence level and above
  local function binary(level, live)
    if level > TOP then return unary(live) end
    local v = binary(level + 1, live)
    while true do
      local t = S:peek()
      if t.t ~= "punct" or BINARY[t.v] ~= level then return v end
      S:next()
      if t.v == "&&" then
        local r = binary(level + 1, live and v ~= 0)
        v = b2i(v ~= 0 and r ~= 0)
      elseif t.v == "||" then
        local r = binary(level + 1, live and v == 0)
        v = b2i(v ~= 0 or r ~= 0)
      else
        v = apply(t, t.v, v, binary(level + 1, live), live)
      end
    end
  end
  function conditional(live)
    local v = binary(1, live)
    local q = S:peek()
    if q.t ~= "punct" or q.v ~= "?" then return v end
    S:next()
    nest(q)
    local a = conditional(live and v ~= 0)
    local c = S:next()
    if c.v ~= ":" or c.t ~= "punct" then S:fail(c, ("expected ':', got '%s'"):format(tostring(c.text or c.v))) end
    local b = conditional(live and v == 0)
    depth = depth - 1
    return v ~= 0 and a or b
  end
  return conditional(true)
end

return M
