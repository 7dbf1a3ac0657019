--- Errors of the library's Lua side, worded and placed as the C core's are:
-- luaL_argerror's "bad argument #n to 'f' (why)", raised at the line that
-- called into the library, whatever depth inside it raised.
-- (Private: only the library's own modules require it.)

local compat = require("smobject.compat")

local M = {}

-- Errors point at the caller's line, as error(msg, 2) does for a function
-- called directly: the first frame outside this library (lua/smobject.lua
-- and lua/smobject/**.lua) is blamed.
local THIS = debug.getinfo(1, "S").source
local LIB = THIS:match("^(@.*)smobject/errors%.lua$")
local function in_library(info)
  local src = info.source
  if LIB then return src:sub(1, #LIB + 8) == LIB .. "smobject" end
  return src == THIS
end

-- The level of the first frame outside the library, counted from
-- outside_level itself (1) and starting the search at level `from`.  On
-- 5.1, a function that a library function tail-called sits above a
-- "(tail call)" marker (what "tail") standing for the frame that was
-- replaced; it is skipped, as 5.2+ and LuaJIT leave no such frame.
local function outside_level(from)
  local level = from
  while true do
    local info = debug.getinfo(level, "S")
    if not info or (info.what ~= "tail" and not in_library(info)) then return level end
    level = level + 1
  end
end

-- Raises msg at the caller's line.
function M.raise(msg)
  error(msg, outside_level(3) - 1)
end

-- The metatables of the library's sealed objects hide behind these names
-- (__metatable), so getmetatable gives the name itself.
local SEALED = { ["smobject layout"] = true, ["smobject scope"] = true }

-- The value's type name as luaL_typeerror gives it (__name first); none:
-- the argument is absent.
function M.typename(x, none)
  if none then return "no value" end
  local mt = getmetatable(x)
  if SEALED[mt] then return mt end
  if type(mt) == "table" and type(rawget(mt, "__name")) == "string" then return rawget(mt, "__name") end
  return type(x)
end

-- Raises "bad argument #n to 'fname' (why)" at the caller's line, counting
-- arguments as luaL_argerror does: the self of a method call is not counted
-- (and a bad self reads "calling 'fname' on bad self").
-- method: fname is a method, so that a call whose form cannot be seen (a
-- tail call; on LuaJIT any call without a name) is numbered as a method
-- call, as smobject.lua's methods and the C methods number it.
local NT = pcall(debug.getinfo, 1, "t") and "nt" or "n"
local LUAJIT = rawget(_G, "jit") ~= nil
function M.argerror(n, fname, why, method)
  local level = outside_level(3)            -- counted from outside_level: one more than here
  local entry = debug.getinfo(level - 2, NT)
  local as_method = entry ~= nil and entry.namewhat == "method"
  if not as_method and method and entry and n > 1 then
    if NT == "nt" then
      as_method = entry.istailcall or (LUAJIT and entry.name == nil)
    else                                    -- 5.1: a tail call leaves a marker frame where the entry was
      local marker = debug.getinfo(level - 2, "S")
      as_method = (marker ~= nil and marker.what == "tail") or (LUAJIT and entry.name == nil)
    end
  end
  if as_method then
    n = n - 1
    if n == 0 then error(("calling '%s' on bad self (%s)"):format(fname, why), level - 1) end
  end
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, why), level - 1)
end

-- The integer value of argument n, as luaL_checkinteger takes it (floats
-- with an exact integer value too); raises naming the argument.
function M.check_integer(x, n, fname, none)
  local i = compat.to_integer(x)
  if i then return i end
  if type(x) == "number" then
    M.argerror(n, fname, "number has no integer representation")
  end
  M.argerror(n, fname, "number expected, got " .. M.typename(x, none))
end

-- ------------------------------------------------------------- names

-- The edit distance of strings a and b (optimal string alignment: insert,
-- delete, substitute, swap two neighbours), in bytes.
local function distance(a, b)
  local la, lb = #a, #b
  local prev2, prev, cur = {}, {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, lb do
      local cb = b:byte(j)
      local d = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca == cb and 0 or 1))
      if i > 1 and j > 1 and ca == b:byte(j - 1) and a:byte(i - 1) == cb then d = math.min(d, prev2[j - 2] + 1) end
      cur[j] = d
    end
    prev2, prev, cur = prev, cur, prev2
  end
  return prev[lb]
end
M.distance = distance

local SHOWN = 10                          -- names listed at most

-- What to add to "unknown ... 'name'": the closest of the names (a list of
-- strings, in declaration order) as " (did you mean 'x'?)" when one is
-- close (the same but for case, or at most a third of the name's length
-- apart, and never all of it), else " (fields: a, b, ... and n more)".
-- For error paths only.
function M.suggestion(name, names, what)
  local best, bestd = nil, math.huge
  local lname, limit = name:lower(), math.max(1, math.floor(#name / 3))
  for _, n in ipairs(names) do
    local d = n:lower() == lname and 0 or distance(name, n)
    if d < bestd and d <= limit and d < #name then best, bestd = n, d end
  end
  if best then return (" (did you mean '%s'?)"):format(best) end
  local shown = {}
  for i = 1, math.min(#names, SHOWN) do shown[i] = names[i] end
  local more = #names > SHOWN and (" and %d more"):format(#names - SHOWN) or ""
  return (" (%s: %s%s)"):format(what or "fields", table.concat(shown, ", "), more)
end

return M
