--- Layout objects: sealed, read-only descriptions of C types (scalars,
-- char[n] strings, arrays, structs and unions), their queries (`members`,
-- `offsetof`, `typeof`) and their compiled form for views (csrc/view.c).
-- Only this file makes layouts, so none can be forged or changed once made.
-- @module smobject

--- Struct layouts: C declarations laid out as gcc does.
-- @section layouts

local core = require("smobject.core")
local errors = require("smobject.errors")
local compat = require("smobject.compat")

local raise, argerror, typename = errors.raise, errors.argerror, errors.typename

local M = {}

local SCALAR_SIZE = core.ctypes           -- name -> sizeof
local SCALAR_ALIGN = core.ctype_align     -- name -> _Alignof
M.SCALAR_SIZE = SCALAR_SIZE
M.MAX_ALIGN = core.max_align              -- what __attribute__((aligned)) means

-- Limits, checked with clear errors here and in the parser, and again in C
-- (csrc/view.c) when a layout is compiled: no segment holds more than 2^53
-- bytes (exact in a double too); gcc refuses alignments above 2^28; nesting
-- is bounded so that no recursion, here or in C, can exhaust a stack.
M.MAX_SIZE = 9007199254740992            -- 2^53 (an integer on 5.3+, exact as a double elsewhere)
M.MAX_ALIGNMENT = 268435456               -- 2^28
M.MAX_DEPTH = 100                         -- nested structs and array dimensions
M.MAX_FIELDS = 1048576                    -- 2^20 named members of one struct, anonymous ones flattened
M.DEEP = ("layout nested deeper than %d levels"):format(M.MAX_DEPTH)
local MAX_SIZE, MAX_DEPTH = M.MAX_SIZE, M.MAX_DEPTH

-- ------------------------------------------------------------- sealing

-- A layout is an empty table whose metatable (hidden by __metatable) reads
-- its fields from a private record r: kind, size, align, name, and by kind
-- ctype (scalar), count (string, array), elem (array), fields, packed, tag
-- (struct, union); depth and nflat bound nesting and member counts.
local data_of = setmetatable({}, { __mode = "k" })
local Layout = {}                         -- methods
M.methods = Layout                        -- (cdecl/emit.lua adds cdecl)
local PUBLIC = { kind = true, ctype = true, size = true, align = true, name = true, count = true, elem = true,
                 packed = true, tag = true }

local LayoutMeta = {
  __name = "smobject layout",
  __metatable = "smobject layout",
  __index = function(T, k)
    if PUBLIC[k] then return data_of[T][k] end
    return Layout[k]
  end,
  __newindex = function(_, k)
    raise(("layouts are read-only (cannot set '%s')"):format(tostring(k)))
  end,
  __pairs = function(T)
    local r = data_of[T]
    return function(_, k)
      repeat k = next(PUBLIC, k) until k == nil or r[k] ~= nil
      if k then return k, r[k] end
    end, T, nil
  end,
  __tostring = function(T)
    local r = data_of[T]
    return ("layout %s (%d bytes, align %d)"):format(r.name or r.kind, r.size, r.align)
  end,
}

--- `T:pairs()`: the iterator `pairs(T)` gives on 5.2 and later (the
-- fields `kind`, `size`, `align`, `name`...), for every Lua version: 5.1
-- and LuaJIT do not call `__pairs`.
-- @function Layout:pairs
-- @usage for k, v in T:pairs() do print(k, v) end
function Layout:pairs()
  if not data_of[self] then argerror(1, "pairs", "smobject layout expected, got " .. typename(self)) end
  return LayoutMeta.__pairs(self)
end

-- The layout of record r (r is the layout's from now on).
function M.seal(r)
  local T = setmetatable({}, LayoutMeta)
  data_of[T] = r
  return T
end

-- The record of layout T, or nil when T is not a layout.
function M.record(T) return data_of[T] end

function M.is_layout(v) return data_of[v] ~= nil end

-- A copy of layout T's record without what is derived from it (flattened
-- members, compiled form): the start of a variant of T.
function M.copy_record(T)
  local copy = {}
  for k, v in pairs(data_of[T]) do copy[k] = v end
  copy.members, copy.byname, copy.holder = nil, nil, nil
  return copy
end

-- ------------------------------------------------------------- leaves and arrays

-- Sizes and alignments stay below 2^53 and 2^28 (a power of 2): no
-- overflow here, and exact in doubles too.
function M.align_up(n, a) return n + (-n) % a end

-- A scalar layout: ctype a key of core.ctypes; name (a typedef's) and align
-- (an aligned typedef's) default to the ctype's own.
function M.scalar(ctype, name, align)
  return M.seal({ kind = "scalar", ctype = ctype, size = SCALAR_SIZE[ctype], align = align or SCALAR_ALIGN[ctype],
                  name = name or ctype, depth = 0, nflat = 1 })
end

-- char[n]: a string (a leaf for views, as scalars are).
local function string_type(n)
  return M.seal({ kind = "string", size = n, align = SCALAR_ALIGN.char, name = ("char[%d]"):format(n), count = n,
                  depth = 0, nflat = 1 })
end

-- n elements of elem, or nil and why not: "large" (more than MAX_SIZE
-- bytes) or "deep" (nested deeper than MAX_DEPTH).
function M.array_of(elem, n)
  local e = data_of[elem]
  if e.kind == "scalar" and e.ctype == "char" then
    if n > MAX_SIZE then return nil, "large" end
    return string_type(n)
  end
  if e.depth >= MAX_DEPTH then return nil, "deep" end
  if n > compat.idiv(MAX_SIZE, e.size) then return nil, "large" end
  -- float[3][4] is an array of 3 float[4]: the new dimension goes first
  local ename = e.name or e.kind
  local base, dims = ename:match("^(.-)(%[.*)$")
  local name = base and ("%s[%d]%s"):format(base, n, dims) or ("%s[%d]"):format(ename, n)
  return M.seal({ kind = "array", elem = elem, count = n, size = e.size * n, align = e.align, name = name,
                  depth = e.depth + 1, nflat = 1 })
end

-- Why array_of refused "large", in words.
function M.too_large(n, elem)
  return ("%d elements of %d bytes, more than 2^53 bytes"):format(n, data_of[elem].size)
end

-- ------------------------------------------------------------- queries

local function check_layout(T, fname)
  local r = data_of[T]
  if not r then argerror(1, fname, "smobject layout expected, got " .. typename(T)) end
  return r
end

-- The named members of record r, anonymous members flattened (made once;
-- private: callers get copies).
local function flat_members(r)
  if r.members then return r.members end
  local list, byname = {}, {}
  local function walk(x, base)
    for _, f in ipairs(x.fields) do
      if f.name then
        local m = { name = f.name, type = f.type, offset = base + f.offset }
        list[#list + 1] = m
        byname[f.name] = m
      else
        walk(data_of[f.type], base + f.offset)
      end
    end
  end
  if r.fields then walk(r, 0) end
  r.members, r.byname = list, byname
  return list
end

--- The named members of a struct or union layout, anonymous members
-- flattened, in declaration order.
-- @function Layout:members
-- @treturn {table,...} `{ name = ..., type = Layout, offset = n }` each (a
-- fresh copy; an array or scalar has none)
-- @usage for _, m in ipairs(Pose:members()) do print(m.name, m.offset) end
function Layout:members()
  local out = {}
  for i, m in ipairs(flat_members(check_layout(self, "members"))) do
    out[i] = { name = m.name, type = m.type, offset = m.offset }
  end
  return out
end

-- offsetof on record r; what names the caller in errors ("offsetof: ...").
local function offset_of(r, path, what)
  if type(path) ~= "string" then raise(("%s: member path expected, got %s"):format(what, typename(path))) end
  local T, off, pos = nil, 0, 1
  -- what stands before position pos: "'gps'", or the layout itself
  local function before(p) return p == 1 and (r.name or r.kind) or ("'" .. path:sub(1, p - 1) .. "'") end
  while pos <= #path do
    local name, e = path:match("^%.?([%a_][%w_]*)()", pos)
    if name and (pos == 1 or path:sub(pos, pos) == ".") then
      if r.kind ~= "struct" and r.kind ~= "union" then
        raise(("%s: %s is not a struct (in '%s')"):format(what, before(pos), path))
      end
      flat_members(r)
      local f = r.byname[name]
      if not f then
        local names = {}
        for i, m in ipairs(r.members) do names[i] = m.name end
        raise(("%s: no member '%s' in %s%s"):format(what, name, r.name or "struct", errors.suggestion(name, names)))
      end
      off, T, pos = off + f.offset, f.type, e
    else
      local digits, e2 = path:match("^%[%s*(%d+)%s*%]()", pos)
      if not digits then raise(("%s: bad member path '%s'"):format(what, path)) end
      if r.kind ~= "array" and r.kind ~= "string" then
        raise(("%s: %s is not an array (in '%s')"):format(what, before(pos), path))
      end
      local idx = compat.to_integer(tonumber(digits))
      if not idx or idx >= r.count then
        raise(("%s: index %s out of range for '%s' (%d elements)"):format(what, digits, path:sub(1, pos - 1), r.count))
      end
      local elem = r.kind == "string" and M.scalar("char") or r.elem
      off, pos, T = off + idx * data_of[elem].size, e2, elem
    end
    r = data_of[T]
  end
  return off, T
end

--- A layout's byte offset of a member path, as C's `offsetof`.
-- A layout also has the fields `size` and `align` (C's `sizeof` and
-- `_Alignof`), `name`, and `kind` (`"struct"`, `"union"`, `"array"`...).
-- Layouts are read-only.
-- @function Layout:offsetof
-- @tparam string path `"x"`, `"gps.lat"`, `"samples[3]"`, `"m[1][2]"`
-- @treturn integer the offset in bytes
-- @treturn Layout the member's type
-- @raise on an unknown member or an index out of range
-- @usage local off = Pose:offsetof("gps.lat")
function Layout:offsetof(path)
  local off, T = offset_of(check_layout(self, "offsetof"), path, "offsetof")
  return off, T or self
end

--- The type of a member path.
-- @function Layout:typeof
-- @tparam string path a member path
-- @treturn Layout its type (`.name` reads like C: `"float[3][4]"`)
-- @usage print(Pose:typeof("name").name)   --> char[16]
function Layout:typeof(path)
  local _, T = offset_of(check_layout(self, "typeof"), path, "typeof")
  return T or self
end

-- ------------------------------------------------------------- sameness

-- Why layouts A and B differ in memory or in member names, in words
-- ("24 bytes, not 16", "member 'len' at offset 8, not 4"), or nil when they
-- are the same (the same text declared twice gives the same layout).
function M.difference(A, B)
  if A == B then return nil end
  local a, b = data_of[A], data_of[B]
  if a.kind ~= b.kind then return ("a %s, not a %s"):format(a.kind, b.kind) end
  if a.size ~= b.size then return ("%d bytes, not %d"):format(a.size, b.size) end
  if a.align ~= b.align then return ("alignment %d, not %d"):format(a.align, b.align) end
  if a.kind == "scalar" then
    if a.ctype ~= b.ctype then return ("%s, not %s"):format(a.ctype, b.ctype) end
    return nil
  end
  if a.kind == "string" then return nil end
  if a.kind == "array" then
    local why = M.difference(a.elem, b.elem)
    return why and ("element: %s"):format(why)
  end
  if #a.fields ~= #b.fields then return ("%d members, not %d"):format(#a.fields, #b.fields) end
  for i, fa in ipairs(a.fields) do
    local fb = b.fields[i]
    local what = fa.name and ("member '%s'"):format(fa.name) or ("anonymous member %d"):format(i)
    if fa.name ~= fb.name then
      return ("%s where the other has %s"):format(what, fb.name and ("'" .. fb.name .. "'") or "an anonymous one")
    end
    if fa.offset ~= fb.offset then return ("%s at offset %d, not %d"):format(what, fa.offset, fb.offset) end
    local why = M.difference(fa.type, fb.type)
    if why then return ("%s: %s"):format(what, why) end
  end
  return nil
end

-- ------------------------------------------------------------- compiled

-- The description of a field of type T for the C compiler (csrc/view.c).
local desc_of

local function field_desc(T, name, offset)
  local r = data_of[T]
  local d = { name = name, offset = offset, size = r.size }
  if r.kind == "scalar" then
    d.kind, d.ctype = "scalar", r.ctype
  elseif r.kind == "string" then
    d.kind = "string"
  else
    d.kind, d.type = r.kind == "array" and "array" or "struct", desc_of(T)
  end
  return d
end

function desc_of(T)
  local r = data_of[T]
  if r.kind == "array" then
    return { kind = "array", size = r.size, count = r.count, elem = field_desc(r.elem, nil, 0), layout = T }
  end
  local fields = {}
  for _, m in ipairs(flat_members(r)) do fields[#fields + 1] = field_desc(m.type, m.name, m.offset) end
  return { kind = "struct", size = r.size, fields = fields, layout = T }
end

-- For seg:view (view.lua): the compiled form of a struct, union or array
-- layout, and its size, name and kind; nil for anything else.  Compiled
-- once; C checks the description again, whoever made it.
function M.compiled(T)
  local r = data_of[T]
  if not r or (r.kind ~= "struct" and r.kind ~= "union" and r.kind ~= "array") then return nil end
  if not r.holder then r.holder = core.compile_layout(desc_of(T)) end
  return r.holder, r.size, r.name or r.kind
end

return M
