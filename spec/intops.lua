-- Integer operators for specs and child scripts that must parse on every
-- runtime: on 5.3+ the native operators (compiled from a string, which
-- older runtimes never parse), elsewhere arithmetic on non-negative
-- integers below 2^53 (exact in doubles).  Also math.type, math.tointeger
-- and math.maxinteger/mininteger, which are 5.3+: where numbers are
-- doubles, an integer is an integral number within +-2^53.
local I = {}

local function integral(x)
  return type(x) == "number" and x == math.floor(x) and x >= -2 ^ 53 and x <= 2 ^ 53
end
I.type = math.type or function(x)
  if type(x) ~= "number" then return nil end
  return integral(x) and "integer" or "float"
end
I.tointeger = math.tointeger or function(x)
  if integral(x) then return x end
  return nil
end
I.maxinteger = math.maxinteger or 2 ^ 53
I.mininteger = math.mininteger or -2 ^ 53

--- The signed little-endian integer of n bytes (default 8) at pos (default 1)
-- of s: string.unpack("<in", s, pos) where it exists; elsewhere exact
-- within 2^53.
function I.le_int(s, pos, n)
  pos, n = pos or 1, n or 8
  if string.unpack then return (string.unpack("<i" .. n, s, pos)) end
  local v = 0
  for i = pos + n - 1, pos, -1 do v = v * 256 + s:byte(i) end
  if s:byte(pos + n - 1) >= 128 then v = v - 2 ^ (8 * n) end
  return v
end

--- load(src, name) with an environment (5.1's load takes only functions: there
-- loadstring and setfenv); env nil: the global one.
function I.load(src, name, env)
  local setfenv, loadstring = rawget(_G, "setfenv"), rawget(_G, "loadstring")
  if setfenv and loadstring then
    local f, err = loadstring(src, name)
    if f and env then setfenv(f, env) end
    return f, err
  end
  if env == nil then return load(src, name, "t") end   -- (an explicit nil env would be the chunk's _ENV)
  return load(src, name, "t", env)
end

--- table.pack and table.unpack (5.2+), and 5.1's unpack.
I.pack = table.pack or function(...) return { n = select("#", ...), ... } end
I.unpack = table.unpack or rawget(_G, "unpack")

if math.type then
  local native = assert(load([[return {
    band = function(a, b) return a & b end,
    bor = function(a, b) return a | b end,
    bxor = function(a, b) return a ~ b end,
    shl = function(a, n) return a << n end,
    shr = function(a, n) return a >> n end,
    idiv = function(a, b) return a // b end,
  }]]))()
  for k, f in pairs(native) do I[k] = f end
  return I
end

local function bitop(a, b, keep)
  local r, bit = 0, 1
  while a > 0 or b > 0 do
    local x, y = a % 2, b % 2
    if keep(x, y) then r = r + bit end
    a, b, bit = (a - x) / 2, (b - y) / 2, bit * 2
  end
  return r
end
function I.band(a, b) return bitop(a, b, function(x, y) return x == 1 and y == 1 end) end
function I.bor(a, b) return bitop(a, b, function(x, y) return x == 1 or y == 1 end) end
function I.bxor(a, b) return bitop(a, b, function(x, y) return x ~= y end) end
function I.shl(a, n) return a * 2 ^ n end
function I.shr(a, n) return math.floor(a / 2 ^ n) end
function I.idiv(a, b) return math.floor(a / b) end

return I
