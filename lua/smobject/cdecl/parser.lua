--- C declarations to layouts: a recursive-descent parser for the part of C
-- that describes data (struct, union, enum, typedef, scalar types, fixed
-- arrays, integer constant expressions with sizeof and casts, static const
-- integers, gcc attributes and _Alignas), after the preprocessor
-- (preproc.lua).  Names are resolved and defined through `names` (a scope's
-- transaction, see scope.lua): the parser itself keeps no names between
-- calls.
--
-- What has no layout here (a pointer, a function pointer, a bitfield, long
-- double, an unknown attribute...) is not an error where it is declared:
-- it becomes an *unsupported* type, which a typedef or a struct may hold,
-- and which raises, naming the member and the type, only when a layout is
-- asked of it.  So a header (or gcc -E's output) is read whole, and only
-- what a struct member uses must be supported.  Function prototypes,
-- extern variables and function bodies are skipped.

local errors = require("smobject.errors")
local lexer = require("smobject.cdecl.lexer")
local preproc = require("smobject.cdecl.preproc")
local expr = require("smobject.cdecl.expr")
local L = require("smobject.cdecl.layout")
local gcc = require("smobject.cdecl.gcc")
local C = require("smobject.cdecl.cint")
local compat = require("smobject.compat")

local M = {}

local record, scalar = L.record, L.scalar
local SCALAR_SIZE, MAX_ALIGN, MAX_ALIGNMENT = L.SCALAR_SIZE, L.MAX_ALIGN, L.MAX_ALIGNMENT
local MAX_DEPTH, DEEP = L.MAX_DEPTH, L.DEEP
local POINTER = "pointer '*' is not supported (an address means nothing in another process)"
local POINTER_SIZE = SCALAR_SIZE.uintptr_t

-- ------------------------------------------------------------- unsupported types

-- An unsupported type: { reason = "pointer '*' is not supported (...)",
-- what = "smo.cdef", line, col } where the reason arose, and named = the C
-- name it was reached through ("timer_t", "struct tm"), if any.  Private to
-- the library: no user ever holds one.
local Unsupported = {}

local function unsupported(what, tok, reason)
  return setmetatable({ what = what, line = tok.line, col = tok.col, reason = reason }, Unsupported)
end

function M.is_unsupported(x) return getmetatable(x) == Unsupported end

-- Where u arose, in words: "smo.cdef, line 3, column 9".
function M.origin(u) return ("%s, line %d, column %d"):format(u.what, u.line, u.col) end

-- The error u raises where it arose: "smo.struct: bitfield 'x' is not
-- supported at line 1, column 7".
function M.message(u) return ("%s: %s at line %d, column %d"):format(u.what, u.reason, u.line, u.col) end

-- Why u is unsupported, naming the member it arose in, if any.
function M.reason(u)
  if u.member then return ("member '%s': %s"):format(u.member, u.reason) end
  return u.reason
end

-- u reached through the name `name`.
local function named(u, name)
  return setmetatable({ what = u.what, line = u.line, col = u.col, reason = M.reason(u), named = name }, Unsupported)
end

-- u as it makes a struct unsupported: the member it arose in noted.
local function in_member(u, name)
  if u.member or not name then return u end
  return setmetatable({ what = u.what, line = u.line, col = u.col, reason = u.reason, member = name }, Unsupported)
end

-- ------------------------------------------------------------- tokens

local Parser = {}
Parser.__index = Parser

-- A token as an error message shows it: its text as written.
local function show(t) return t.text or tostring(t.v) end

-- A parser of src; what names the caller in errors ("smo.cdef"); names
-- resolves names (names:lookup(key) -> Layout, unsupported type or nil),
-- defines them (names:define(key, T, origin) -> T, or nil and why not),
-- and keeps macros and constants (see scope.lua).  lenient: unsupported
-- things met inside a constant expression (sizeof(long double)) make the
-- declaration unsupported instead of raising (smo.cdef).
function M.new(src, what, names, lenient)
  names.includes = names.includes or {}
  local toks = preproc.run(lexer.tokenize(src, what), what, names)
  return setmetatable({ toks = toks, pos = 1, what = what, names = names, depth = 0, lenient = lenient }, Parser)
end

function Parser:peek(k)
  local t = self.toks[self.pos + (k or 0)] or self.toks[#self.toks]
  if t.t == "bad" then self:fail(t, t.why) end
  return t
end

function Parser:next()
  local t = self:peek()
  if t.t ~= "eof" then self.pos = self.pos + 1 end
  return t
end

-- msg at token tok, with where it came from when a macro made it.
function Parser.where(_, tok, msg)
  if tok.note then msg = ("%s (%s)"):format(msg, tok.note) end
  if tok.macro then msg = ("%s (in the expansion of macro '%s', line %d)"):format(msg, tok.macro, tok.mline) end
  return msg
end

function Parser:fail(tok, msg)
  errors.raise(("%s: %s at line %d, column %d"):format(self.what, self:where(tok, msg), tok.line, tok.col))
end

function Parser:unsupported(tok, reason) return unsupported(self.what, tok, self:where(tok, reason)) end

-- Raises u where it arose, or (lenient) throws it for the declaration to catch.
function Parser:throw(u)
  if self.lenient then error(u, 0) end
  errors.raise(M.message(u))
end

function Parser:accept(v)
  local t = self:peek()
  if t.v == v and t.t ~= "num" and t.t ~= "str" then
    self.pos = self.pos + 1
    return t
  end
end

function Parser:expect(v)
  local t = self:peek()
  if not self:accept(v) then self:fail(t, ("expected '%s', got '%s'"):format(v, show(t))) end
  return t
end

-- Skips a balanced group from the '(' (or '[' or '{') at the current token.
function Parser:skip_group()
  local open = self.toks[self.pos]
  local close = ({ ["("] = ")", ["["] = "]", ["{"] = "}" })[open.v]
  local depth = 0
  repeat
    local t = self.toks[self.pos]
    if t.t == "eof" then self:fail(open, ("'%s' is not closed"):format(open.v)) end
    if t.t == "punct" then
      if t.v == open.v then depth = depth + 1 elseif t.v == close then depth = depth - 1 end
    end
    self.pos = self.pos + 1
  until depth == 0
end

-- ------------------------------------------------------------- constant expressions

local UNSIGNED = { ["unsigned char"] = true, ["unsigned short"] = true, ["unsigned short int"] = true,
                   ["unsigned int"] = true, unsigned = true, ["unsigned long"] = true, ["unsigned long int"] = true,
                   ["unsigned long long"] = true, ["unsigned long long int"] = true, uint8_t = true,
                   uint16_t = true, uint32_t = true, uint64_t = true, size_t = true, uintptr_t = true }
local FLOATS = { float = true, double = true }

-- v (64 bits) converted to the integer scalar ctype, as a C cast does
-- (gcc wraps), and the type the result has in an expression (expr.lua's:
-- what is smaller than int is promoted to int).
local function convert(v, ctype)
  if ctype == "bool" or ctype == "_Bool" then return v ~= 0 and 1 or 0, "int" end
  local bits = SCALAR_SIZE[ctype] * 8
  if bits < 64 then v = C.cast(v, bits, UNSIGNED[ctype]) end
  if bits == 64 then return v, UNSIGNED[ctype] and "ulong" or "long" end
  return v, (bits == 32 and UNSIGNED[ctype]) and "uint" or "int"
end

-- The type an enum constant of value v has in later expressions: int
-- when it fits, else long.
local function constant_type(v) return (v >= -0x80000000 and v <= 0x7fffffff) and "int" or "long" end

-- The size and alignment of a type name at the current token (as in
-- sizeof(T) or a cast): type specifiers, then '*'s and [N]s.  Returns
-- size, align, the layout (nil for a pointer).
function Parser:type_name(at)
  local attrs = {}
  local base = self:type_spec(attrs, "typename")
  local pointer = false
  while self:accept("*") do
    pointer = true
    self:qualifiers()
  end
  if pointer then
    local r = record(scalar("uintptr_t"))
    return POINTER_SIZE, r.align, nil
  end
  if M.is_unsupported(base) then self:throw(base) end
  local T = self:dimensions(base, "array", function(dt) self:fail(dt, "an array needs a size") end)
  if attrs.unsupported then self:throw(attrs.unsupported) end
  local r = record(T)
  if not r then self:fail(at, "type has no size") end
  return r.size, r.align, T
end

local SIZEOF = { sizeof = "size", _Alignof = "align", alignof = "align", __alignof__ = "align", __alignof = "align" }

-- The expression hooks (see expr.lua): identifiers are constants (enum,
-- static const), sizeof and _Alignof of a type.
function Parser:operand(tok)
  local k = SIZEOF[tok.v]
  if k then
    if not (self:peek().v == "(" and self:is_type_start(self:peek(1))) then
      self:fail(tok, ("%s of an expression is not supported (give it a type)"):format(tok.v))
    end
    self:next()
    local size, align = self:type_name(tok)
    self:expect(")")
    return k == "size" and size or align, "ulong"      -- a size_t
  end
  local v, T = self.names:constant(tok.v)
  if v then return v, T end
  local msg = ("unknown identifier '%s' in a constant expression"):format(tok.v)
  self:fail(tok, msg .. self:include_hint(tok.v))
end

function Parser:cast()
  if not self:is_type_start(self:peek()) then return false end
  local at = self:peek()
  local _, _, T = self:type_name(at)
  self:expect(")")
  local r = T and record(T)
  if not r then self:fail(at, "a cast to a pointer is not an integer constant") end
  if r.kind ~= "scalar" then self:fail(at, "a cast to a struct or array is not a constant") end
  if FLOATS[r.ctype] then self:fail(at, "a cast to a floating type is not an integer constant") end
  return function(v) return convert(v, r.ctype) end
end

-- Integer constant expression at the current token (see expr.lua: the
-- parser is the token source and the hooks): its value, which must fit in
-- 64 signed bits here, and its C type.
function Parser:const_expr()
  local start = self:peek()
  local v, T = expr.evaluate(self)
  if T == "ulong" and v < 0 then self:fail(start, ("value 0x%x is too large"):format(v)) end
  return v, T
end

-- An alignment constant at token nt: a power of 2, at most what gcc takes.
function Parser:alignment(nt, n)
  if not compat.is_power_of_two(n) then self:fail(nt, ("alignment %d is not a power of 2"):format(n)) end
  if n > MAX_ALIGNMENT then self:fail(nt, ("alignment %d exceeds the maximum %d"):format(n, MAX_ALIGNMENT)) end
  return n
end

-- ------------------------------------------------------------- attributes

-- Attributes that change nothing in a layout.
local HARMLESS_ATTRS = { unused = true, deprecated = true, may_alias = true, used = true, nonstring = true,
                         designated_init = true }

-- __attribute__((...)) lists and _Alignas: into gets packed = true,
-- aligned = N, alignas = N, and unsupported = the first attribute that
-- may change a layout and is not understood (an unsupported type).
function Parser:attributes(into)
  into = into or {}
  while true do
    local t = self:peek()
    if t.v == "__attribute__" or t.v == "__attribute" then
      self:next()
      self:expect("(")
      self:expect("(")
      repeat
        local a = self:peek()
        if a.v == ")" then break end
        a = self:next()
        if a.t ~= "id" then self:fail(a, ("unexpected '%s' in __attribute__"):format(show(a))) end
        local name = a.v:gsub("^__(.-)__$", "%1")
        if name == "packed" then
          into.packed = true
        elseif name == "aligned" then
          local n = MAX_ALIGN
          if self:accept("(") then
            local nt = self:peek()
            n = self:alignment(nt, self:const_expr())
            self:expect(")")
          end
          into.aligned = math.max(into.aligned or 1, n)
        else
          if not HARMLESS_ATTRS[name] and not into.unsupported then
            into.unsupported = self:unsupported(a, ("attribute '%s' is not supported"):format(a.v))
          end
          if self:peek().v == "(" then self:skip_group() end
        end
      until not self:accept(",")
      self:expect(")")
      self:expect(")")
    elseif t.v == "_Alignas" or t.v == "alignas" then
      self:next()
      self:expect("(")
      local nt = self:peek()
      local n
      if self:is_type_start(nt) then
        local _, align = self:type_name(nt)
        n = align
      else
        n = self:alignment(nt, self:const_expr())
      end
      self:expect(")")
      into.alignas = math.max(into.alignas or 1, n)
    elseif t.v == "__asm__" or t.v == "__asm" or t.v == "asm" then
      -- a symbol name for a declaration: nothing to do with a layout
      self:next()
      if self:peek().v == "(" then self:skip_group() end
    else
      return into
    end
  end
end

-- ------------------------------------------------------------- type specifiers

local SCALAR_WORDS = { signed = "signed", unsigned = "unsigned", char = "char", short = "short", int = "int",
                       long = "long", float = "float", double = "double", _Bool = "_Bool", bool = "bool",
                       void = "void", __signed__ = "signed", __signed = "signed" }
local QUALIFIERS = { const = true, volatile = true, restrict = true, __restrict = true, __restrict__ = true,
                     __volatile__ = true, __volatile = true, __const = true, __extension__ = true }
local STORAGE = { static = true, extern = true, register = true, auto = true, inline = true, __inline = true,
                  __inline__ = true, _Noreturn = true, __thread = true, _Thread_local = true, typedef = true }
-- type words gcc knows and we do not lay out
local UNSUPPORTED_WORDS = { __int128 = true, __int128_t = true, __uint128_t = true, _Complex = true,
                            __complex__ = true, _Float16 = true, _Float32 = true, _Float64 = true, _Float128 = true,
                            _Float32x = true, _Float64x = true, __float128 = true, __float80 = true,
                            _Decimal32 = true, _Decimal64 = true, _Decimal128 = true, _Imaginary = true,
                            __fp16 = true, __bf16 = true, _Atomic = true }

-- The canonical scalar name of a list of type words, or nil (and why).
local function canonical(words)
  local c = {}
  for _, w in ipairs(words) do c[w] = (c[w] or 0) + 1 end
  local function only(...)
    local allowed = {}
    for _, w in ipairs({ ... }) do allowed[w] = true end
    for w in pairs(c) do if not allowed[w] then return false end end
    return true
  end
  if c.signed and c.unsigned then return nil end
  local u = c.unsigned and "unsigned " or ""
  if c.void then return nil, "void" end
  if c.float then return (#words == 1) and "float" or nil end
  if c.double then
    if c.long then return nil, "long double" end
    return (#words == 1) and "double" or nil
  end
  if c._Bool or c.bool then return (#words == 1) and "bool" or nil end
  if c.char then
    if not only("char", "signed", "unsigned") or c.char > 1 then return nil end
    if c.signed then return "signed char" end
    return c.unsigned and "unsigned char" or "char"
  end
  if c.short then
    if not only("short", "int", "signed", "unsigned") or c.short > 1 or (c.int or 0) > 1 then return nil end
    return u .. "short"
  end
  if c.long then
    if not only("long", "int", "signed", "unsigned") or c.long > 2 or (c.int or 0) > 1 then return nil end
    return u .. (c.long == 2 and "long long" or "long")
  end
  if not only("int", "signed", "unsigned") or (c.int or 0) > 1 then return nil end
  return c.unsigned and "unsigned int" or "int"
end

-- Whether token t can start a type name (after '(' in sizeof or a cast).
function Parser:is_type_start(t)
  if t.t ~= "id" then return false end
  local v = t.v
  return SCALAR_WORDS[v] ~= nil or QUALIFIERS[v] or v == "struct" or v == "union" or v == "enum"
    or UNSUPPORTED_WORDS[v] or (SCALAR_SIZE[v] ~= nil and not v:find(" ")) or self.names:lookup(v) ~= nil
end

function Parser:qualifiers()
  while QUALIFIERS[self:peek().v] and self:peek().t == "id" do self:next() end
end

-- Headers that declare the types a shared header most often takes from
-- an #include (which smo.cdef does not read).
local HEADER_OF = {
  pid_t = "sys/types.h", uid_t = "sys/types.h", gid_t = "sys/types.h", off_t = "sys/types.h",
  mode_t = "sys/types.h", key_t = "sys/types.h", dev_t = "sys/types.h", ino_t = "sys/types.h",
  time_t = "time.h", clock_t = "time.h", timer_t = "time.h", clockid_t = "time.h", ptrdiff_t = "stddef.h",
  wchar_t = "stddef.h", max_align_t = "stddef.h", FILE = "stdio.h", int_least8_t = "stdint.h",
  int_fast32_t = "stdint.h", intmax_t = "stdint.h", uintmax_t = "stdint.h", sig_atomic_t = "signal.h",
  UINT8_MAX = "stdint.h", UINT16_MAX = "stdint.h", UINT32_MAX = "stdint.h", INT32_MAX = "stdint.h",
  INT64_MAX = "stdint.h", UINT64_MAX = "stdint.h", SIZE_MAX = "stdint.h", CHAR_BIT = "limits.h",
  INT_MAX = "limits.h", PATH_MAX = "limits.h", NAME_MAX = "limits.h",
}

-- What an unknown name may lack: the #include lines smo.cdef did not read.
function Parser:include_hint(name)
  local inc = self.names.includes
  local h = HEADER_OF[name]
  local lines = {}
  for _, i in ipairs(inc) do
    if not h or i.text:find(h, 1, true) then lines[#lines + 1] = ("#include %s (line %d)"):format(i.text, i.line) end
  end
  if #lines > 0 then
    return (" (%s %s not read: smo.cdef reads no #include; declare it, or give smo.cdef the output of gcc -E -P)")
      :format(table.concat(lines, ", "), #lines == 1 and "is" or "are")
  elseif h then
    return (" (it comes from <%s>, which smo.cdef does not read: declare it, or give smo.cdef the output of gcc -E -P)")
      :format(h)
  end
  return ""
end

-- A type specifier: scalar words, a typedef name, or struct/union/enum.
-- attrs collects attributes and _Alignas met on the way.  ctx: "member",
-- "typedef", "decl" (top level), "typename".  An unknown name gives an
-- unsupported type with unknown = the message (the caller decides: a
-- pointer to it is as unsupported as any pointer).
function Parser:type_spec(attrs, ctx)
  local words, first = {}, self:peek()
  local unsup                             -- a word we do not lay out (_Atomic, __int128...)
  local function finish(T) return unsup or T end
  while true do
    local t = self:peek()
    if t.t ~= "id" then break end
    if QUALIFIERS[t.v] then
      if t.v == "const" or t.v == "__const" then attrs.const = true end
      self:next()
    elseif STORAGE[t.v] then
      if ctx == "member" or ctx == "typename" then
        self:fail(t, ("storage class '%s' has no place in a struct"):format(t.v))
      end
      self:next()
      attrs.storage = attrs.storage or {}
      attrs.storage[t.v] = true
    elseif t.v == "__attribute__" or t.v == "__attribute" or t.v == "_Alignas" or t.v == "alignas" then
      self:attributes(attrs)
    elseif SCALAR_WORDS[t.v] then
      if #words == 0 then first = t end
      words[#words + 1] = SCALAR_WORDS[self:next().v]
    elseif UNSUPPORTED_WORDS[t.v] then
      -- read on, so that the whole type is consumed (_Atomic struct { ... })
      self:next()
      if self:peek().v == "(" then self:skip_group() end   -- _Atomic(T)
      unsup = unsup or self:unsupported(t, ("'%s' is not supported"):format(t.v))
    elseif #words > 0 or (unsup and not self.names:lookup(t.v) and not SCALAR_SIZE[t.v]
        and t.v ~= "struct" and t.v ~= "union" and t.v ~= "enum") then
      break
    elseif t.v == "struct" or t.v == "union" then
      return finish(self:struct_spec(attrs))
    elseif t.v == "enum" then
      return finish(self:enum_spec(attrs))
    elseif t.v == "typeof" or t.v == "__typeof__" or t.v == "__typeof" then
      self:next()
      if self:peek().v == "(" then self:skip_group() end
      return self:unsupported(t, ("'%s' is not supported"):format(t.v))
    elseif SCALAR_SIZE[t.v] and not t.v:find(" ") then
      self:next()
      return finish(scalar(t.v))
    else
      local T = self.names:lookup(t.v)
      if not T then
        -- not raised yet: a pointer to an unknown type is a pointer, and a
        -- typedef of one is unsupported only if used (the declarator decides)
        local u = self:unsupported(t, ("unknown type name '%s'"):format(t.v) .. self:include_hint(t.v))
        u.unknown = true
        self:next()
        return u
      end
      self:next()
      if M.is_unsupported(T) then return named(T, t.v) end
      return finish(T)
    end
  end
  if unsup then return unsup end
  if #words == 0 then
    local t = self:peek()
    self:fail(t, ("expected a type, got '%s'"):format(show(t)))
  end
  local name, why = canonical(words)
  if not name then
    return self:unsupported(first, ("'%s' is not supported"):format(why or table.concat(words, " ")))
  end
  return scalar(name)
end

-- struct/union [attrs] [tag] [{ members }] [attrs]
function Parser:struct_spec(outer_attrs)
  local kw = self:next()
  self.depth = self.depth + 1   -- bounds the recursion; gcc.layout checks the exact depth
  if self.depth > MAX_DEPTH then self:fail(kw, DEEP) end
  local attrs = self:attributes({})
  local tag
  if self:peek().t == "id" and self:peek().v ~= "__attribute__" then tag = self:next().v end
  local key = tag and (kw.v .. " " .. tag)
  if not self:accept("{") then
    if not tag then self:fail(self:peek(), "expected a tag or '{' after " .. kw.v) end
    local T = self.names:lookup(key)
    self.depth = self.depth - 1
    if not T then
      local u = self:unsupported(kw, ("unknown type '%s'"):format(key))
      u.unknown = true
      return u
    end
    if M.is_unsupported(T) then return named(T, key) end
    return T
  end
  local members, bad = self:member_list("}")
  self:expect("}")
  self:attributes(attrs)
  local T
  if bad then
    T = bad
  elseif attrs.unsupported then
    T = attrs.unsupported
  else
    T = gcc.layout(kw.v, members, attrs, function(t, msg) self:fail(t or kw, msg) end,
      key or ("anonymous " .. kw.v), key)
  end
  if key then T = self:define(kw, key, T) end
  self.depth = self.depth - 1
  -- attributes after the closing brace belong to the type, not the member
  outer_attrs.defines = key or true
  return T
end

-- The layout gcc gives an enum of values lo..hi (packed: the smallest type).
local function enum_ctype(lo, hi, packed)
  if packed then
    if lo >= 0 then
      if hi <= 0xff then return "unsigned char" end
      if hi <= 0xffff then return "unsigned short" end
    else
      if lo >= -0x80 and hi <= 0x7f then return "signed char" end
      if lo >= -0x8000 and hi <= 0x7fff then return "short" end
    end
  end
  if lo >= 0 then
    if hi <= 0xffffffff then return "unsigned int" end
    return "unsigned long"
  end
  if lo >= -0x80000000 and hi <= 0x7fffffff then return "int" end
  return "long"
end

-- enum [attrs] [tag] [{ A [= expr], ... }] [attrs]: the enum's integer
-- layout, its constants defined as it goes (a later one may use an
-- earlier one).
function Parser:enum_spec(outer_attrs)
  local kw = self:next()
  local attrs = self:attributes({})
  local tag
  if self:peek().t == "id" and self:peek().v ~= "__attribute__" then tag = self:next().v end
  local key = tag and ("enum " .. tag)
  if not self:accept("{") then
    if not tag then self:fail(self:peek(), "expected a tag or '{' after enum") end
    local T = self.names:lookup(key)
    if not T then
      local u = self:unsupported(kw, ("unknown type '%s'"):format(key))
      u.unknown = true
      return u
    end
    return T
  end
  local lo, hi, v, T, prev_tok = nil, nil, -1, "int", nil
  local LAST = { int = 0x7fffffff, uint = 0xffffffff, long = C.LONG_MAX, ulong = C.LONG_MAX }
  while self:peek().v ~= "}" do
    local nt = self:next()
    if nt.t ~= "id" then self:fail(nt, ("expected an enumerator name, got '%s'"):format(show(nt))) end
    self:attributes({})
    if self:accept("=") then
      v, T = self:const_expr()
    else
      -- the successor is computed in the previous value's type: gcc refuses it past that type
      if v == LAST[T] then
        self:fail(nt, ("overflow in enumeration values ('%s' after %d)"):format(nt.v, v))
      end
      v = v + 1
      if not C.NATIVE and v > C.LIMIT then self:fail(nt, ("enumeration value %s"):format(C.BIG)) end
    end
    lo, hi = math.min(lo or v, v), math.max(hi or v, v)
    self:define_constant(nt, nt.v, v, constant_type(v))
    prev_tok = nt
    if not self:accept(",") then break end
  end
  if not prev_tok then self:fail(self:peek(), "an enum needs at least one enumerator") end
  self:expect("}")
  self:attributes(attrs)
  local E = scalar(enum_ctype(lo, hi, attrs.packed), key or "enum")
  if key then E = self:define(kw, key, E) end
  outer_attrs.defines = key or true
  return E
end

-- ------------------------------------------------------------- declarators

-- A declarator, C's whole shape: '*'s, '(' groups, a name, [N], [] and
-- (parameters).  Returns { name = token or nil, dims = { n... } (from the
-- name outward, as written), dtoks = their tokens, bad = an unsupported
-- type for the first thing we cannot lay out (pointer, function, [],
-- bitfield), pointer = true when it is a pointer }; need_name: raise when
-- the name is missing.
function Parser:declarator(attrs, need_name)
  local d = { dims = {}, dtoks = {} }
  local function note(tok, reason)
    if not d.bad then d.bad = self:unsupported(tok, reason) end
  end
  local level = 0
  local function direct()
    level = level + 1
    if level > MAX_DEPTH then self:fail(self:peek(), DEEP) end
    local ptrs = {}
    while self:peek().v == "*" and self:peek().t == "punct" do
      ptrs[#ptrs + 1] = self:next()
      self:qualifiers()
      self:attributes(attrs)
    end
    if ptrs[1] then
      note(ptrs[1], POINTER)
      d.pointer = true
    end
    self:attributes(attrs)
    local t = self:peek()
    if t.v == "(" and t.t == "punct" then
      note(t, "'(' in a declarator is not supported (function pointers mean nothing in another process)")
      self:next()
      direct()
      self:expect(")")
    elseif t.t == "id" and not QUALIFIERS[t.v] then
      d.name = self:next()
    elseif need_name and not (t.v == ":" and t.t == "punct") then   -- (int : 3; pads, unnamed)
      self:fail(t, ("expected a member name, got '%s'"):format(show(t)))
    end
    while true do
      local s = self:peek()
      if s.v == "[" and s.t == "punct" then
        self:next()
        local dt = self:peek()
        if dt.v == "]" then
          note(dt, ("flexible array member '%s[]' is not supported"):format(d.name and d.name.v or ""))
          self:next()
        else
          local n = self:const_expr()
          local what = ("array '%s'"):format(d.name and d.name.v or "")
          -- gcc takes [0] (an extension, as glibc's struct sysinfo has it): not laid out here
          if n == 0 then note(dt, ("%s needs a positive size, got 0"):format(what)) end
          if n < 0 then self:fail(dt, ("%s needs a positive size, got %d"):format(what, n)) end
          self:expect("]")
          d.dims[#d.dims + 1], d.dtoks[#d.dtoks + 1] = math.max(n, 1), dt
        end
      elseif s.v == "(" and s.t == "punct" then
        note(s, ("function '%s' is not a data member"):format(d.name and d.name.v or ""))
        d.func = true
        self:skip_group()
      else
        break
      end
    end
    level = level - 1
  end
  direct()
  local ct = self:peek()
  if ct.v == ":" and ct.t == "punct" then
    note(ct, d.name and ("bitfield '%s' is not supported"):format(d.name.v) or "an unnamed bitfield is not supported")
    self:next()
    self:const_expr()
  end
  self:attributes(attrs)
  return d
end

-- The type declarator d gives base: an array layout, base, or an
-- unsupported type.  ctx "typedef": an unknown base stays unsupported (a
-- typedef of anything); elsewhere it raises now.
function Parser:declared_type(base, d, ctx)
  if d.bad then return d.bad end
  if M.is_unsupported(base) then
    if base.unknown and ctx ~= "typedef" then self:throw_eager(base) end
    return base
  end
  return self:dimensions(base, ("array '%s'"):format(d.name and d.name.v or ""), nil, d.dims, d.dtoks)
end

-- An unknown name where a layout is needed now: raised, whatever the mode.
function Parser.throw_eager(_, u)
  errors.raise(M.message(u))
end

-- base wrapped in array dimensions: dims (from the name outward) or, when
-- nil, the [N][M]... at the current token (a type string); what names the
-- array in errors; empty handles `[]`.
function Parser:dimensions(base, what, empty, dims, toks)
  if not dims then
    dims, toks = {}, {}
    while self:accept("[") do
      local dt = self:peek()
      if dt.v == "]" then empty(dt) end
      local n = self:const_expr()
      if n <= 0 then self:fail(dt, ("%s needs a positive size, got %d"):format(what, n)) end
      self:expect("]")
      dims[#dims + 1], toks[#toks + 1] = n, dt
    end
  end
  if #dims == 0 then return base end
  local b = record(base)
  local depth0 = b.depth - ((b.kind == "scalar" and b.ctype == "char") and 1 or 0)   -- char[N] is a leaf
  for i = 1, #dims do
    if depth0 + i > MAX_DEPTH then self:fail(toks[i], DEEP) end
  end
  local T = base
  for i = #dims, 1, -1 do
    local A, why = L.array_of(T, dims[i])
    if not A then
      if why == "deep" then self:fail(toks[i], DEEP) end
      self:fail(toks[i], ("%s is too large (%s)"):format(what, L.too_large(dims[i], T)))
    end
    T = A
  end
  return T
end

-- The unsupported type a member of type T (named by token nt) makes its
-- struct: T itself when it arose in this member, else one naming the
-- member and the type.
function Parser:member_unsupported(T, nt, name)
  if not T.named then return in_member(T, name) end
  return self:unsupported(nt, ("member '%s' has type '%s', which is not supported: %s (%s)")
    :format(name or "(anonymous)", T.named, T.reason, M.origin(T)))
end

-- Members up to (not including) the token `stop`: the list, and the
-- first unsupported type a member has (the struct is then unsupported).
function Parser:member_list(stop)
  local members, bad = {}, nil
  while self:peek().v ~= stop and self:peek().t ~= "eof" do
    local attrs = self:attributes({})
    local start = self:peek()
    local base = self:type_spec(attrs, "member")
    self:attributes(attrs)
    if self:accept(";") then
      -- (a tagged struct, union or enum declared inside is a nested tag, no member)
      if type(attrs.defines) ~= "string" and M.is_unsupported(base) then
        if base.unknown then self:throw_eager(base) end
        bad = bad or self:member_unsupported(base, start, nil)
      elseif type(attrs.defines) ~= "string" and (base.kind == "struct" or base.kind == "union") then
        members[#members + 1] = { name = nil, type = base, attrs = attrs, tok = start }
      elseif not attrs.defines then
        self:fail(start, "declaration declares no member")
      end -- an anonymous enum declared inside: its constants, no member
    else
      repeat
        local mattrs = { packed = attrs.packed, aligned = attrs.aligned, alignas = attrs.alignas,
                         unsupported = attrs.unsupported }
        local d = self:declarator(mattrs, true)
        local T = self:declared_type(base, d, "member")
        local nt = d.name or start
        if M.is_unsupported(T) then
          bad = bad or self:member_unsupported(T, nt, d.name and d.name.v)
        elseif mattrs.unsupported then
          bad = bad or mattrs.unsupported
        end
        members[#members + 1] = { name = d.name and d.name.v, type = T, attrs = mattrs, tok = nt }
      until not self:accept(",")
      self:expect(";")
    end
  end
  return members, bad
end

-- ------------------------------------------------------------- top level

-- Whether the tokens are one struct/union definition (struct [tag] { ... }
-- [attributes] [;]) rather than a member list that starts with a struct type.
function Parser:whole_definition()
  local toks, i = self.toks, self.pos
  if toks[i].v ~= "struct" and toks[i].v ~= "union" then return false end
  i = i + 1
  local depth = 0
  while toks[i].t ~= "eof" do
    local v = toks[i].v
    if v == "{" then
      depth = depth + 1
    elseif v == "}" then
      depth = depth - 1
      if depth == 0 then break end
    elseif depth == 0 and v == ";" then
      return false
    end
    i = i + 1
  end
  if toks[i].t == "eof" then return false end
  i = i + 1
  -- only attributes (balanced parentheses) and one ';' may follow
  while toks[i].v == "__attribute__" or toks[i].v == "__attribute" do
    i = i + 1
    local d = 0
    while toks[i].t ~= "eof" do   -- (never past the end: "} __attribute" may end the text)
      if toks[i].v == "(" then d = d + 1 elseif toks[i].v == ")" then d = d - 1 end
      i = i + 1
      if d == 0 then break end
    end
  end
  if toks[i].v == ";" then i = i + 1 end
  return toks[i].t == "eof"
end

-- Defines key as T through self.names (origin: this token); the type the
-- name now has (the earlier one when T is the same); raises on a different one.
function Parser:define(tok, key, T)
  local origin = ("%s, line %d, column %d"):format(self.what, tok.line, tok.col)
  local known, why = self.names:define(key, T, origin)
  if not known then self:fail(tok, why) end
  return known
end

function Parser:define_constant(tok, name, v, T)
  local origin = ("%s, line %d, column %d"):format(self.what, tok.line, tok.col)
  local ok, why = self.names:define_constant(name, v, origin, T)
  if not ok then self:fail(tok, why) end
end

-- Skips to the end of a declaration we do not lay out (a variable, a
-- function prototype or definition): its ';', or its body's '}'.
function Parser:skip_declaration(start)
  local prev
  while true do
    local t = self.toks[self.pos]
    if t.t == "eof" then self:fail(t, ("expected ';' to end the declaration at line %d"):format(start.line)) end
    if t.t == "punct" and (t.v == "(" or t.v == "[") then
      self:skip_group()
      t = { t = "punct", v = t.v == "(" and ")" or "]" }
    elseif t.t == "punct" and t.v == "{" then
      self:skip_group()
      if prev and prev.t == "punct" and prev.v == ")" then return end   -- a function body ends its definition
    else
      self.pos = self.pos + 1
      if t.t == "punct" and t.v == ";" then return end
    end
    prev = t
  end
end

-- The names a declaration from token index i declares, guessed for one
-- that failed halfway: its tag, and (typedef) the last identifier before
-- each ',' or ';' outside braces and parentheses.
local function declared_names(toks, i, j)
  local names, depth, last = {}, 0, nil
  local k = i
  while toks[k] and (toks[k].v == "typedef" or toks[k].v == "__extension__" or QUALIFIERS[toks[k].v]) do k = k + 1 end
  local typedef = false
  for q = i, j do if toks[q].v == "typedef" then typedef = true break end end
  if toks[k] and (toks[k].v == "struct" or toks[k].v == "union" or toks[k].v == "enum") and toks[k + 1]
      and toks[k + 1].t == "id" then
    names[#names + 1] = toks[k].v .. " " .. toks[k + 1].v
  end
  if not typedef then return names end
  for q = i, j do
    local t = toks[q]
    if t.t == "punct" and (t.v == "(" or t.v == "{" or t.v == "[") then
      depth = depth + 1
    elseif t.t == "punct" and (t.v == ")" or t.v == "}" or t.v == "]") then
      depth = depth - 1
    elseif depth == 0 and t.t == "id" and t.v ~= "__attribute__" and not QUALIFIERS[t.v] then
      last = t.v
    elseif depth == 0 and t.t == "punct" and (t.v == "," or t.v == ";") and last then
      names[#names + 1] = last
      last = nil
    end
  end
  return names
end

-- static const T NAME = expr [, NAME = expr]... ; with T an integer type:
-- constants for array sizes.
function Parser:constants(base)
  local r = record(base)
  repeat
    local nt = self:next()
    if nt.t ~= "id" then self:fail(nt, ("expected a constant's name, got '%s'"):format(show(nt))) end
    self:attributes({})
    self:expect("=")
    local v, T = convert(self:const_expr(), r.ctype)
    self:define_constant(nt, nt.v, v, T)
  until not self:accept(",")
  self:expect(";")
end

-- Whether a const integer constant declaration starts here (after the specifiers).
function Parser:is_constant(base, attrs)
  if not attrs.const or M.is_unsupported(base) then return false end
  local r = record(base)
  if r.kind ~= "scalar" or FLOATS[r.ctype] then return false end
  local t, n = self.toks[self.pos], self.toks[self.pos + 1]
  return t.t == "id" and n and n.t == "punct" and n.v == "="
end

-- One top-level declaration.  defs receives the layouts it defines;
-- strict (smo.struct): only struct, union and typedef, and what is
-- unsupported raises.
function Parser:declaration(defs, strict)
  local p = self
  local t = p:peek()
  if t.v == ";" then
    p:next()   -- a stray semicolon
    return
  end
  if strict and t.v ~= "typedef" and t.v ~= "struct" and t.v ~= "union" then
    p:fail(t, ("expected 'struct', 'union' or 'typedef', got '%s'"):format(show(t)))
  end
  local attrs = {}
  local base = p:type_spec(attrs, "decl")
  while p:peek().t == "id" and QUALIFIERS[p:peek().v] do   -- int const N = 4;
    if p:peek().v == "const" or p:peek().v == "__const" then attrs.const = true end
    p:next()
  end
  if not (attrs.storage and attrs.storage.typedef) then
    if strict then
      if p:peek().t == "id" then
        p:fail(p:peek(), "a variable declaration is not a type: declare the struct alone")
      end
      p:accept(";")
      if M.is_unsupported(base) then p:throw(base) end
      defs[#defs + 1] = base
      return
    end
    if attrs.defines and not M.is_unsupported(base) then defs[#defs + 1] = base end
    if attrs.defines and p:accept(";") then return end
    if p:is_constant(base, attrs) then return p:constants(base) end
    return p:skip_declaration(t)   -- a variable or a function: nothing to lay out
  end
  repeat
    local dattrs = { packed = attrs.packed, aligned = attrs.aligned, unsupported = attrs.unsupported }
    local d = p:declarator(dattrs, true)
    local T = p:declared_type(base, d, "typedef")
    local nt = d.name
    if not M.is_unsupported(T) and dattrs.unsupported then T = dattrs.unsupported end
    if M.is_unsupported(T) then
      if strict then p:throw(T) end
    else
      local kind = T.kind
      T = gcc.typedef(T, nt.v, dattrs)
      if not T then p:fail(nt, kind .. " is too large (more than 2^53 bytes)") end
      local r = record(T)
      if (r.kind == "struct" or r.kind == "union") and not r.tag then
        r.name = nt.v   -- typedef struct { ... } name: named by its only name
      end
    end
    T = p:define(nt, nt.v, T)
    if not M.is_unsupported(T) then defs[#defs + 1] = T end
  until not p:accept(",")
  p:expect(";")
end

-- Top-level declarations: struct/union/enum definitions, typedefs,
-- constants; prototypes and variables skipped.  Returns the layouts
-- defined, in order.  strict (smo.struct): only struct, union and typedef.
function Parser:declarations(strict)
  local defs = {}
  while self:peek().t ~= "eof" do
    if self.lenient then
      local start, depth = self.pos, self.depth
      local ok, err = pcall(self.declaration, self, defs, strict)
      if not ok then
        -- an error raised inside pcall has no position yet: placed here
        if type(err) == "string" then errors.raise(err) end
        if not M.is_unsupported(err) then error(err, 0) end
        -- unsupported deep inside (sizeof(long double)): the names it
        -- declares are unsupported, the rest is read on
        self.depth = depth
        self.pos = start
        self:skip_declaration(self.toks[start])
        for _, key in ipairs(declared_names(self.toks, start, self.pos - 1)) do
          -- (a name the declaration defined before it failed keeps its layout)
          if not self.names:lookup(key) then self.names:define(key, err, M.origin(err)) end
        end
      end
    else
      self:declaration(defs, strict)
    end
  end
  return defs
end

-- A type string ("double", "char[16]", "float[N]", "struct pose", a
-- typedef name) as a layout; where names the caller in errors.
function M.type_string(s, where, names)
  local p = M.new(s, where, names)
  local base = p:type_spec({}, "typename")
  local t = p:peek()
  if t.v == "*" then p:fail(t, POINTER) end
  if M.is_unsupported(base) then
    if base.named then
      p:fail(p.toks[1], ("type '%s' is not supported: %s (%s)"):format(base.named, base.reason, M.origin(base)))
    end
    p:throw(base)
  end
  base = p:dimensions(base, "array", function(dt) p:fail(dt, "an array needs a size") end)
  t = p:peek()
  if t.v == "*" then p:fail(t, POINTER) end
  if t.t ~= "eof" then p:fail(t, ("unexpected '%s'"):format(show(t))) end
  return base
end

-- The integer constant `name` means (an enum constant, a static const, a
-- macro whose expansion is an integer constant expression), or nil when it
-- names none of them; where names the caller in errors.
function M.constant_string(name, where, names)
  local v = names:constant(name)
  if v or not names:macro(name) then return v end
  local p = M.new(name, where, names)
  v = p:const_expr()
  local t = p:peek()
  if t.t ~= "eof" then p:fail(t, ("unexpected '%s'"):format(show(t))) end
  return v
end

return M
