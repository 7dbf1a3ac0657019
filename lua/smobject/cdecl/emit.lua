--- Layouts back to C: `T:cdecl([name])`, a declaration of a layout that gcc
-- and LuaJIT's `ffi.cdef` both lay out exactly as the layout says.
-- @module smobject

--- Struct layouts: C declarations laid out as gcc does.
-- @section layouts

-- How: every struct and union is declared `__attribute__((packed,
-- aligned(A)))` with its layout's alignment A, and every gap before a
-- member is an explicit `uint8_t` padding array.  Packing makes each
-- member's offset the sum of what stands before it (no rule of the reading
-- compiler's can move it), and aligned(A) gives back the alignment and the
-- size rounded up to it.  Nested types are written inline, so a declaration
-- stands alone: no other name is declared.  Scalars are written with exact
-- widths (`int64_t` for `long`), as this machine lays them out.
-- smobject.ffi checks every offset of what LuaJIT made of it against the
-- layout; spec 38 compiles it with gcc and compares.

local L = require("smobject.cdecl.layout")
local errors = require("smobject.errors")

local raise, argerror, typename = errors.raise, errors.argerror, errors.typename
local record = L.record

local M = {}

-- C's scalar names (core.ctypes' keys) to the exact-width names both gcc
-- (with <stdint.h>, <stddef.h>, <stdbool.h>) and LuaJIT know.
local EXACT = {
  char = "char", ["signed char"] = "int8_t", ["unsigned char"] = "uint8_t",
  bool = "bool", _Bool = "bool", float = "float", double = "double",
  int8_t = "int8_t", uint8_t = "uint8_t", int16_t = "int16_t", uint16_t = "uint16_t",
  int32_t = "int32_t", uint32_t = "uint32_t", int64_t = "int64_t", uint64_t = "uint64_t",
}
for name, size in pairs(L.SCALAR_SIZE) do
  if not EXACT[name] then
    local unsigned = name:find("unsigned", 1, true) or name == "size_t" or name == "uintptr_t"
    EXACT[name] = ("%sint%d_t"):format(unsigned and "u" or "", 8 * size)
  end
end

-- The exact-width name of scalar ctype (smobject.ffi).
function M.exact(ctype) return EXACT[ctype] end

-- Names a member may not have in C (or in LuaJIT's C parser).
local KEYWORDS = {}
for w in ([[auto break case char const continue default do double else enum extern float for goto if inline
  int long register restrict return short signed sizeof static struct switch typedef union unsigned void volatile
  while bool _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local
  __attribute__ __attribute __extension__ __asm__ __asm asm __typeof__ __typeof typeof __alignof__ __alignof
  __restrict__ __restrict __const__ __const __volatile__ __volatile __inline__ __inline __declspec]]):gmatch("%S+") do
  KEYWORDS[w] = true
end

local PAD = "__smo_pad"

local function check_name(name)
  if KEYWORDS[name] then raise(("cdecl: member '%s' is a C keyword: no C declaration can name it"):format(name)) end
  if name:sub(1, #PAD) == PAD then
    raise(("cdecl: member '%s' uses the prefix of the padding members (%s)"):format(name, PAD))
  end
end

local declare

-- The body of struct or union record r, at indentation depth d.
local function body(r, d)
  local ind = ("  "):rep(d + 1)
  local out = { ("%s __attribute__((packed, aligned(%d))) {"):format(r.kind, r.align) }
  local pos = 0
  for _, f in ipairs(r.fields) do
    if r.kind == "struct" and f.offset > pos then
      out[#out + 1] = ("%suint8_t %s%d[%d];"):format(ind, PAD, pos, f.offset - pos)
    end
    if f.name then check_name(f.name) end
    out[#out + 1] = ind .. declare(f.type, f.name, d + 1) .. ";"
    pos = f.offset + record(f.type).size
  end
  if #r.fields == 0 then out[#out + 1] = ind .. ("uint8_t %s0[%d];"):format(PAD, r.size) end
  out[#out + 1] = ("  "):rep(d) .. "}"
  return table.concat(out, "\n")
end

-- The type of T as a prefix and a suffix around a declarator: "int32_t",
-- ""; "char", "[16]"; an inline struct, "[3][4]".
local function parts(T, d)
  local r = record(T)
  if r.kind == "scalar" then return EXACT[r.ctype], "" end
  if r.kind == "string" then return "char", ("[%d]"):format(r.count) end
  if r.kind == "array" then
    local prefix, suffix = parts(r.elem, d)
    return prefix, ("[%d]"):format(r.count) .. suffix
  end
  return body(r, d), ""
end

-- A declaration of name (nil: an anonymous member) as type T.
function declare(T, name, d)
  local prefix, suffix = parts(T, d or 0)
  if not name then return prefix .. suffix end
  return prefix .. " " .. name .. suffix
end

--- The type of a layout as one anonymous C type, for `ffi.typeof` (what
-- `seg:ffi_view` uses: no name is declared, so no two layouts clash).
-- (Internal: smobject.ffi.)
function M.type_of(T)
  return declare(T, nil, 0)
end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[s]
end

--- A C declaration of the layout, which `ffi.cdef` and gcc (with
-- `<stdint.h>` and `<stdbool.h>`) lay out exactly as the layout is: every
-- struct and union `__attribute__((packed, aligned(N)))` with its gaps as
-- explicit `uint8_t __smo_padN[n]` members, nested types inline, scalars
-- with exact widths (`long` is `int64_t`).
-- @function Layout:cdecl
-- @tparam[opt] string name declares `typedef ... name;` (default: a struct
-- or union by its own tag, `struct pose {...};`, else by its typedef name)
-- @treturn string the declaration
-- @raise when the layout has no name and none is given, on a member named
-- by a C keyword (possible in the list form)
-- @usage ffi.cdef(Pose:cdecl())   -- then ffi.typeof("struct pose")
function L.methods.cdecl(T, name)
  local r = record(T)
  if not r then argerror(1, "cdecl", "smobject layout expected, got " .. typename(T), true) end
  if name ~= nil and not is_identifier(name) then
    argerror(2, "cdecl", ("C identifier expected, got %s"):format(type(name) == "string" and ("'" .. name .. "'")
      or typename(name)), true)
  end
  if name == nil and r.tag and (r.kind == "struct" or r.kind == "union") then
    local text = body(r, 0)
    local tag = r.tag:match("([%w_]+)$")
    return (text:gsub("^(.-%)%)) {", "%1 " .. tag .. " {", 1)) .. ";"
  end
  name = name or (is_identifier(r.name) and r.name) or nil
  if not name then
    raise(("cdecl: %s has no name: give one (T:cdecl(\"name\"))"):format(r.name or ("anonymous " .. r.kind)))
  end
  return "typedef " .. declare(T, name, 0) .. ";"
end

return M
