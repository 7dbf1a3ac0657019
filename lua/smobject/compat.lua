--- What differs between the Lua runtimes the library runs on (5.1, 5.2,
-- 5.3, 5.4, LuaJIT), in one place.  Every file of the library parses on all
-- of them: code that needs 5.3's operators (//, &, <<...) is a string
-- compiled here with `load` on 5.3 and later only (`M.native`).
-- (Private: only the library's own modules require it.)

local M = {}

--- The runtime, as messages name it: "Lua 5.1" ... "Lua 5.4", or "LuaJIT".
M.RUNTIME = rawget(_G, "jit") and "LuaJIT" or _VERSION

--- Whether numbers include 64-bit integers (5.3 and later); elsewhere
-- every number is a double, exact for integers up to 2^53.
M.NATIVE_INTEGERS = math.type ~= nil

M.unpack = table.unpack or rawget(_G, "unpack")
M.pack = table.pack or function(...) return { n = select("#", ...), ... } end

-- The functions that chunk src returns (src may use 5.3's operators), or
-- nil before 5.3.
function M.native(src, name)
  if not M.NATIVE_INTEGERS then return nil end
  return assert(load(src, "=" .. name, "t"))()
end

local floor, fmod = math.floor, math.fmod

if M.NATIVE_INTEGERS then
  local mtype, tointeger = math.type, math.tointeger

  --- Whether x is an integer: on 5.3 and later of the integer subtype.
  function M.is_integer(x) return mtype(x) == "integer" end

  --- x as an integer when it is a number with an exact integer value (as
  -- luaL_checkinteger takes it), else nil.
  function M.to_integer(x)
    local t = mtype(x)
    if t == "integer" then return x end
    if t == "float" then return tointeger(x) end
    return nil
  end

  local ops = M.native([[
    local M = {}
    function M.idiv(a, b) return a // b end
    function M.is_power_of_two(n) return n > 0 and n & (n - 1) == 0 end
    return M
  ]], "smobject.compat")
  M.idiv, M.is_power_of_two = ops.idiv, ops.is_power_of_two
else
  -- doubles: every integral number in the int64 range counts, as the C side takes them
  function M.is_integer(x)
    return type(x) == "number" and x == floor(x) and x >= -2^63 and x < 2^63
  end

  function M.to_integer(x)
    if M.is_integer(x) then return x end
    return nil
  end

  --- a // b (floor division), exact for integers within +-2^53.
  function M.idiv(a, b)
    local r = fmod(a, b)
    if r ~= 0 and (r < 0) ~= (b < 0) then r = r + b end
    local q = (a - r) / b
    return q == 0 and 0 or q             -- (never -0)
  end

  -- (exact: 2^53 is divisible by the powers of two only)
  function M.is_power_of_two(n) return n > 0 and n <= 2^53 and n == floor(n) and 2^53 % n == 0 end
end

return M
