--- Scopes: where declared names live.  A scope maps C names ("struct
-- header", "union word", a typedef name) to layouts; a name means one thing
-- in a scope and in every scope that sees it (its parent chain): defining it
-- again with a different layout raises, with the same layout is accepted
-- (a header included twice).  One call's declarations go in all together
-- or not at all: they are gathered in a transaction and committed at the end.
-- @module smobject

--- Scopes: namespaces of declared types.
-- @section scopes

local errors = require("smobject.errors")
local L = require("smobject.cdecl.layout")
local parser = require("smobject.cdecl.parser")

local raise, argerror, typename = errors.raise, errors.argerror, errors.typename

local M = {}

-- A scope is an empty table whose hidden metatable reads a private record:
-- { names = { key -> Layout }, origins = { key -> "smo.cdef, line 1,
-- column 8" }, order = { key, ... }, parent = record or nil }.
local data_of = setmetatable({}, { __mode = "k" })
local Scope = {}                          -- methods

-- The layout a short name means in scope record s (its own names only):
-- the typedef, else the struct, else the union of that name.
local function own_short(s, name)
  return s.names[name] or s.names["struct " .. name] or s.names["union " .. name]
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
      local T = own_short(s, k)
      if T then return T end
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
        local short = key:gsub("^struct ", ""):gsub("^union ", "")
        if not seen[short] then
          seen[short] = true
          return short, own_short(s, short)
        end
      end
    end, ns, nil
  end,
  __tostring = function(ns)
    local n = #data_of[ns].order
    return ("smobject scope (%d name%s)"):format(n, n == 1 and "" or "s")
  end,
}

-- A new scope that sees parent's names (a scope record, or nil).
local function new(parent)
  local ns = setmetatable({}, ScopeMeta)
  data_of[ns] = { names = {}, origins = {}, order = {}, parent = parent }
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
  return setmetatable({ scope = data_of[ns], names = {}, origins = {}, order = {} }, Tx)
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
  local why = L.difference(T, known)
  if not why then return known end
  local sizes = ("%d bytes here, %d in its first definition (%s)"):format(T.size, known.size, where)
  if T.size ~= known.size then return nil, ("'%s' redefined differently: %s"):format(key, sizes) end
  return nil, ("'%s' redefined differently (%s): %s"):format(key, why, sizes)
end

-- The names go into the scope.
function Tx:commit()
  local s = self.scope
  for _, key in ipairs(self.order) do
    s.names[key], s.origins[key] = self.names[key], self.origins[key]
    s.order[#s.order + 1] = key
  end
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

return M
