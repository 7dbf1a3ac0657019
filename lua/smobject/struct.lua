--- C declarations to layouts that match gcc's on this machine.
-- `smo.struct(decl)` parses a struct declaration (or a member list, or a Lua
-- list of `{name, type}` pairs) and lays it out with gcc's rules: natural
-- alignment from the C core (`_Alignof` of each scalar as this compiler sees
-- it), `__attribute__((packed))`, `aligned(N)`, `_Alignas(N)`, unions,
-- anonymous members, fixed arrays.  What has no meaning across processes
-- (pointers) or is not supported (bitfields, flexible arrays, long double)
-- raises an error naming the token and its position; `smo.cdef` declares
-- such types but raises only where one is used.
--
-- Names live in scopes (`smo.scope()`): a declaration given a scope
-- resolves and defines its names there; one given none uses the default
-- scope.  In a scope a name means one thing: a different redefinition
-- raises, the same one is accepted.
--
-- The work is split by concern, each file requiring only those before it:
-- smobject/errors.lua (messages at the caller's line), cdecl/layout.lua
-- (sealed layouts and their queries), cdecl/lexer.lua, cdecl/expr.lua
-- (constant expressions), cdecl/preproc.lua (directives and macros),
-- cdecl/gcc.lua (the layout rules), cdecl/parser.lua, cdecl/scope.lua; this
-- file holds the entry points.
-- @module smobject

--- Struct layouts: C declarations laid out as gcc does.
-- @section layouts

local errors = require("smobject.errors")
local compat = require("smobject.compat")
local L = require("smobject.cdecl.layout")
local gcc = require("smobject.cdecl.gcc")
local parser = require("smobject.cdecl.parser")
local scopes = require("smobject.cdecl.scope")
require("smobject.cdecl.emit")               -- (Layout:cdecl)

local raise, argerror, typename = errors.raise, errors.argerror, errors.typename
local is_layout = L.is_layout

local M = {}

M.scope = scopes.scope
M.check_scope = scopes.check

-- An `aligned` option of the list form: nil, or a power of 2 up to 2^28.
local function list_alignment(v, what)
  if v == nil then return nil end
  local n = compat.to_integer(v)
  if not n or not compat.is_power_of_two(n) then
    raise(("smo.struct: %s must be a power of 2, got %s"):format(what, type(v) == "number" and tostring(v) or type(v)))
  end
  if n > L.MAX_ALIGNMENT then
    raise(("smo.struct: %s: alignment %d exceeds the maximum %d"):format(what, n, L.MAX_ALIGNMENT))
  end
  return n
end

-- The layout of the list form, type strings resolved in scope ns.
local function from_list(list, ns)
  local members = {}
  for i, m in ipairs(list) do
    if type(m) ~= "table" or type(m[1]) ~= "string" then
      raise(("smo.struct: member %d must be {name, type}"):format(i))
    end
    local T = m[2]
    if type(T) == "string" then
      T = parser.type_string(T, ("smo.struct: member '%s'"):format(m[1]), scopes.begin(ns))
    elseif not is_layout(T) then
      raise(("smo.struct: member '%s' needs a type string or a layout, got %s"):format(m[1], typename(T)))
    end
    if not m[1]:match("^[%a_][%w_]*$") then raise(("smo.struct: bad member name '%s'"):format(m[1])) end
    local aligned = m.aligned ~= nil and list_alignment(m.aligned, ("member '%s'"):format(m[1])) or nil
    members[#members + 1] = { name = m[1], type = T, attrs = { aligned = aligned }, tok = nil }
  end
  if list.name ~= nil and type(list.name) ~= "string" then
    raise("smo.struct: list field 'name' must be a string, got " .. typename(list.name))
  end
  local aligned = list_alignment(list.aligned, "list field 'aligned'")
  local kind = list.union and "union" or "struct"
  return gcc.layout(kind, members, { packed = list.packed, aligned = aligned },
    function(_, msg) raise("smo.struct: " .. msg) end, list.name or ("anonymous " .. kind))
end

--- A layout from a C declaration: one struct or union (named or not), or
-- just a member list, or a Lua list of `{name, type}` pairs. Names are
-- resolved in `scope`, and a named struct is defined there, usable by name
-- in later declarations given that scope. Layouts equal gcc's, and are
-- read-only.
-- @function smo.struct
-- @tparam string|table decl `"struct pose { double x, y; char name[16]; }"`,
-- `"double x, y;"`, or `{ {"x", "double"}, {"name", "char[16]"} }`
-- @tparam[opt] Scope scope where names are resolved and defined (default:
-- the default scope)
-- @treturn Layout the layout (the earlier one when a named struct is
-- defined again the same way)
-- @raise on anything unsupported or malformed, naming the token and its
-- position: `"smo.struct: bitfield 'x' is not supported at line 1, column 7"`;
-- on sizes above 2^53 bytes and nesting deeper than 100 levels; on a name
-- the scope already has with a different layout
-- @usage local Pose = smo.struct[[ struct pose { double x, y; int32_t seq; char name[16]; } ]]
function M.struct(decl, ns)
  ns = scopes.check(ns, 2, "struct")
  if type(decl) == "table" then return from_list(decl, ns) end
  if type(decl) ~= "string" then raise("smo.struct: declaration string or list expected, got " .. typename(decl)) end
  local tx = scopes.begin(ns)
  local p = parser.new(decl, "smo.struct", tx)
  local t = p:peek()
  local T
  if t.v == "typedef" or p:whole_definition() then
    -- a whole declaration: struct NAME { ... } [attrs] [;]
    local defs = p:declarations(true)
    if #defs ~= 1 then p:fail(t, "smo.struct takes one struct; use smo.cdef for several") end
    T = defs[1]
  else
    local members, bad = p:member_list("eof")
    if bad then raise(parser.message(bad)) end
    T = gcc.layout("struct", members, {}, function(tok, msg) p:fail(tok or t, msg) end, "anonymous struct")
  end
  tx:commit()
  return T
end

--- Several declarations at once (structs, unions, enums, typedefs), defined
-- in a scope for later declarations: all of them, or none when one fails.
-- `decls` may be a header as a C program includes it: object-like
-- `#define`s are expanded (in sizes, expressions, other macros), `#undef`,
-- `#if`/`#ifdef`/`#ifndef`/`#elif`/`#else`/`#endif` with `defined` and
-- integer expressions, `#error` and `#pragma once` are obeyed; `#include`
-- lines are not read (an unknown type's error names them; or pass the
-- output of `gcc -E -P`). Enums are laid out as gcc does; enum constants,
-- `static const` integers, `sizeof`, `_Alignof` and casts may size arrays.
-- Prototypes, `extern` declarations and function bodies are skipped. A
-- macro with parameters is not expanded (its use raises, naming it). What
-- has no layout (a pointer, a bitfield, `long double`...) may be declared,
-- in a typedef or a struct: it raises where a layout is asked of it (`ns.name`,
-- `ns:type`, a member of a struct asked for), naming the member and the type.
-- Macros and constants go into the scope too (`ns:constant(name)`).
-- @function smo.cdef
-- @tparam string decls C declarations, for example a header's text
-- @tparam[opt] Scope scope where names are resolved and defined (default:
-- the default scope)
-- @treturn Scope that scope: `ns.pose` is the typedef `pose`, else `struct
-- pose`, else `union pose`; `ns:type("struct pose")` takes C names; `pairs`
-- lists the scope's own names
-- @raise on a malformed declaration or directive, naming the token and its
-- position (`"smo.cdef: #if: division by zero at line 3, column 9"`); on
-- `#error`; on a name, macro or constant the scope already has with a
-- different layout, body or value (the same is accepted: a header read twice)
-- @usage local ns = smo.cdef("struct gps { double lat, lon; }; typedef struct { struct gps fix; } reading;", smo.scope())
function M.cdef(decls, ns)
  ns = scopes.check(ns, 2, "cdef")
  if type(decls) ~= "string" then raise("smo.cdef: declaration string expected, got " .. typename(decls)) end
  return M.cdef_as(decls, ns, "smo.cdef")
end

-- smo.cdef of decls into the checked scope ns, with what naming the text
-- in errors (smo.cdef_file gives the file's path).
function M.cdef_as(decls, ns, what)
  local tx = scopes.begin(ns)
  parser.new(decls, what, tx, true):declarations()
  tx:commit()
  return ns
end

--- An array layout: `n` elements of `T`; a view of it indexes 0..n-1.
-- @function smo.array
-- @tparam Layout|string T a layout or a type string (`"double"`, `"struct pose"`)
-- @tparam integer n how many
-- @tparam[opt] Scope scope where a type string's names are resolved
-- @treturn Layout the array layout
-- @raise on a bad type or count, on more than 2^53 bytes or 100 levels
-- @usage local Poses = smo.array(Pose, 10)
function M.array(T, ...)
  local n, ns = ...
  ns = scopes.check(ns, 3, "array")
  if type(T) == "string" then T = parser.type_string(T, "smo.array", scopes.begin(ns)) end
  if not is_layout(T) then argerror(1, "array", "layout or type string expected, got " .. typename(T)) end
  n = errors.check_integer(n, 2, "array", select("#", ...) == 0)
  if n <= 0 then argerror(2, "array", ("count must be positive, got %d"):format(n)) end
  local A, why = L.array_of(T, n)
  if why == "deep" then argerror(1, "array", L.DEEP) end
  if not A then argerror(2, "array", "array too large: " .. L.too_large(n, T)) end
  return A
end

return M
