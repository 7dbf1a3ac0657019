--- Scopes: where declared names live.  A scope maps C names ("struct
-- header", "union word", a typedef name) to layouts; a name means one thing
-- in a scope and in every scope that sees it (its parent chain): defining it
-- again with a different layout raises, with the same layout is accepted
-- (a header included twice).  One call's declarations go in all together
-- or not at all: they are gathered in a transaction and committed at the end.
-- A scope also keeps the macros (#define) and integer constants (enum
-- constants, static const) its declarations made, so that a header read
-- again sees its include guard and a later declaration may use them.
-- A name may stand for an unsupported type (a typedef of a pointer, a
-- struct with a bitfield): kept, so that a member of that type can say
-- why, but never handed out: `ns.name` raises, `pairs` skips it.
-- @module smobject

--- Scopes: namespaces of declared types.
-- @section scopes

local errors = require("smobject.errors")
local L = require("smobject.cdecl.layout")
local parser = require("smobject.cdecl.parser")

local raise, argerror, typename = errors.raise, errors.argerror, errors.typename

local M = {}

-- A scope is an empty table whose hidden metatable reads a private record:
-- { names = { key -> Layout or unsupported type }, origins = { key ->
-- "smo.cdef, line 1, column 8" }, order = { key, ... }, consts = { name ->
-- { value, origin } }, macros = { name -> body, or false once #undef'd },
-- parent = record or nil }.
local data_of = setmetatable({}, { __mode = "k" })
local Scope = {}                          -- methods

-- The layout a short name means in scope record s (its own names only):
-- the typedef, else the struct, else the union, else the enum of that
-- name; and the key it has.
local function own_short(s, name)
  for _, key in ipairs({ name, "struct " .. name, "union " .. name, "enum " .. name }) do
    if s.names[key] then return s.names[key], key end
  end
end

-- Raises why the unsupported type u (the name key's) has no layout.
local function refuse(key, u)
  raise(("%s: '%s' is not supported: %s at line %d, column %d"):format(u.what, key, parser.reason(u), u.line, u.col))
end

-- The first value of field f (consts or macros) for name in s's chain.
local function find_in(s, f, name)
  repeat
    local v = s[f][name]
    if v ~= nil then return v end
    s = s.parent
  until not s
end

-- key's layout and origin in s or the scopes it sees.
local function find(s, key)
  repeat
    local T = s.names[key]
    if T then return T, s.origins[key] end
    s = s.parent
  until not s
end

local ScopeMeta = {
  __name = "smobject scope",
  __metatable = "smobject scope",
  __index = function(ns, k)
    if Scope[k] then return Scope[k] end
    if type(k) ~= "string" then return nil end
    local s = data_of[ns]
    repeat
      local T, key = own_short(s, k)
      if T then
        if parser.is_unsupported(T) then refuse(key, T) end
        return T
      end
      s = s.parent
    until not s
  end,
  __newindex = function(_, k)
    raise(("scopes are read-only: declare with smo.cdef (cannot set '%s')"):format(tostring(k)))
  end,
  -- the scope's own names, short ("header" for struct header), in declaration order
  __pairs = function(ns)
    local s, i, seen = data_of[ns], 0, {}
    return function()
      while true do
        i = i + 1
        local key = s.order[i]
        if not key then return nil end
        local short = key:gsub("^struct ", ""):gsub("^union ", ""):gsub("^enum ", "")
        if not seen[short] then
          seen[short] = true
          local T = own_short(s, short)
          if not parser.is_unsupported(T) then return short, T end
        end
      end
    end, ns, nil
  end,
  __tostring = function(ns)
    local n = #data_of[ns].order
    return ("smobject scope (%d name%s)"):format(n, n == 1 and "" or "s")
  end,
}

--- `ns:pairs()`: the iterator `pairs(ns)` gives on 5.2 and later (the
-- scope's own names, short, in declaration order, with their layouts),
-- for every Lua version: 5.1 and LuaJIT do not call `__pairs`.
-- @function Scope:pairs
-- @usage for name, T in ns:pairs() do print(name, T.size) end
function Scope:pairs()
  if not data_of[self] then argerror(1, "pairs", "smobject scope expected, got " .. typename(self)) end
  return ScopeMeta.__pairs(self)
end

-- A new scope that sees parent's names (a scope record, or nil).
local function new(parent)
  local ns = setmetatable({}, ScopeMeta)
  data_of[ns] = { names = {}, origins = {}, order = {}, consts = {}, macros = {}, parent = parent }
  return ns
end

-- The scope every declaration made without a scope goes to.
local default = new(nil)

--- A new, empty scope: a namespace for one library's declarations, so that
-- its `struct header` and another library's never meet.
-- @function smo.scope
-- @tparam[opt] Scope parent a scope whose names this one sees (and may not
-- redefine differently)
-- @treturn Scope the scope
-- @usage local ns = smo.scope(); smo.cdef(header_text, ns); local H = ns.header
function M.scope(...)
  local parent = ...
  if parent ~= nil and not data_of[parent] then
    argerror(1, "scope", "smobject scope expected, got " .. typename(parent))
  end
  return new(parent and data_of[parent])
end

-- The scope argument n of fname: the given scope, or the default one.
function M.check(ns, n, fname)
  if ns == nil then return default end
  if not data_of[ns] then argerror(n, fname, "smobject scope expected, got " .. typename(ns)) end
  return ns
end

-- ------------------------------------------------------------- transactions

-- One call's names, on top of scope ns until committed.
local Tx = {}
Tx.__index = Tx

function M.begin(ns)
  return setmetatable({ scope = data_of[ns], names = {}, origins = {}, order = {}, consts = {}, macros = {},
                        includes = {} }, Tx)
end

function Tx:lookup(key)
  return self.names[key] or (find(self.scope, key))
end

-- Defines key as T (origin: where, in words); returns the layout the name
-- has now (the earlier one when T is the same), or nil and why not.
function Tx:define(key, T, origin)
  local known, where = self.names[key], self.origins[key]
  if not known then known, where = find(self.scope, key) end
  if not known then
    self.names[key], self.origins[key] = T, origin
    self.order[#self.order + 1] = key
    return T
  end
  local bad_t, bad_k = parser.is_unsupported(T), parser.is_unsupported(known)
  if bad_t or bad_k then
    if bad_t and bad_k and T.reason == known.reason then return known end
    local function says(x) return parser.is_unsupported(x) and ("not supported (%s)"):format(x.reason) or x.size .. " bytes" end
    return nil, ("'%s' redefined differently: %s here, %s in its first definition (%s)"):format(key, says(T),
      says(known), where)
  end
  local why = L.difference(T, known)
  if not why then return known end
  local sizes = ("%d bytes here, %d in its first definition (%s)"):format(T.size, known.size, where)
  if T.size ~= known.size then return nil, ("'%s' redefined differently: %s"):format(key, sizes) end
  return nil, ("'%s' redefined differently (%s): %s"):format(key, why, sizes)
end

-- The integer constant `name` (an enum constant, a static const) and its
-- C type in expressions (see expr.lua), or nil.
function Tx:constant(name)
  local c = self.consts[name] or find_in(self.scope, "consts", name)
  if c then return c[1], c[3] end
end

-- Defines the constant name as v of type T; true, or nil and why not
-- (another value).
function Tx:define_constant(name, v, origin, T)
  local c = self.consts[name] or find_in(self.scope, "consts", name)
  if c then
    if c[1] == v then return true end
    return nil, ("constant '%s' redefined differently: %d here, %d in its first definition (%s)"):format(name, v,
      c[1], c[2])
  end
  self.consts[name] = { v, origin, T }
  return true
end

-- The body of macro `name` (a list of tokens, params = true when it takes
-- parameters, line = where defined), or nil.
function Tx:macro(name)
  local m = self.macros[name]
  if m == nil then m = find_in(self.scope, "macros", name) end
  return m or nil
end

function Tx:define_macro(name, body) self.macros[name] = body end

function Tx:undef_macro(name) self.macros[name] = false end

-- The names, constants and macros go into the scope.
function Tx:commit()
  local s = self.scope
  for _, key in ipairs(self.order) do
    s.names[key], s.origins[key] = self.names[key], self.origins[key]
    s.order[#s.order + 1] = key
  end
  for name, c in pairs(self.consts) do s.consts[name] = c end
  for name, m in pairs(self.macros) do s.macros[name] = m end
end

--- A layout by its C name in this scope (or the scopes it sees): `"struct
-- header"`, `"union word"`, a typedef name, a scalar, with array
-- dimensions (`"struct header[4]"`).  `ns.header` is the short form: the
-- typedef `header`, else `struct header`, else `union header`.
-- @function Scope:type
-- @tparam string name a type string
-- @treturn Layout the layout
-- @raise on an unknown name or a malformed type string
-- @usage local H = ns:type("struct header")
function Scope:type(name)
  if not data_of[self] then argerror(1, "type", "smobject scope expected, got " .. typename(self)) end
  if type(name) ~= "string" then argerror(2, "type", "type string expected, got " .. typename(name)) end
  return parser.type_string(name, "type", M.begin(self))
end

--- The value of an integer constant the scope's declarations made: an
-- enum constant, a `static const` integer, or a `#define` whose body is an
-- integer constant expression.
-- @function Scope:constant
-- @tparam string name the constant's name
-- @treturn integer|nil its value, or nil when the scope has no such name
-- @raise when name is a macro whose body is not an integer constant
-- expression (`#define NAME "text"`, a function-like macro)
-- @usage smo.cdef("#define NSAMPLES 8", ns); for i = 0, ns:constant("NSAMPLES") - 1 do ... end
function Scope:constant(name)
  if not data_of[self] then argerror(1, "constant", "smobject scope expected, got " .. typename(self)) end
  if type(name) ~= "string" then argerror(2, "constant", "string expected, got " .. typename(name)) end
  if not name:match("^[%a_][%w_]*$") then argerror(2, "constant", ("'%s' is not a C identifier"):format(name)) end
  return parser.constant_string(name, ("constant '%s'"):format(name), M.begin(self))
end

return M
