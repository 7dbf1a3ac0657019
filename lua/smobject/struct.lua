--- C declarations to layouts that match gcc's on this machine.
-- `smo.struct(decl)` parses a struct declaration (or a member list, or a Lua
-- list of `{name, type}` pairs) and lays it out with gcc's rules: natural
-- alignment from the C core (`_Alignof` of each scalar as this compiler sees
-- it), `__attribute__((packed))`, `aligned(N)`, `_Alignas(N)`, unions,
-- anonymous members, fixed arrays.  What has no meaning across processes
-- (pointers) or is not supported (bitfields, flexible arrays, long double)
-- raises an error naming the token and its position.
-- @submodule smobject

--- Struct layouts: C declarations laid out as gcc does.
-- @section layouts

local core = require("smobject.core")

local M = {}

local SCALAR_SIZE = core.ctypes           -- name -> sizeof
local SCALAR_ALIGN = core.ctype_align     -- name -> _Alignof
local MAX_ALIGN = core.max_align          -- what __attribute__((aligned)) means

-- Limits, checked here with clear errors and again in C (csrc/view.c) when a
-- layout is compiled: no segment holds more than 2^53 bytes (exact in a
-- double too); gcc refuses alignments above 2^28; nesting is bounded so that
-- no recursion, here or in C, can exhaust a stack.
local MAX_SIZE = 1 << 53
local MAX_ALIGNMENT = 1 << 28
local MAX_DEPTH = 100                     -- nested structs and array dimensions
local MAX_EXPR_DEPTH = 200                -- parentheses and unary signs in a constant
local MAX_FIELDS = 1 << 20                -- named members of one struct, anonymous ones flattened

-- ------------------------------------------------------------- errors

-- Errors point at the caller's line, as error(msg, 2) does for a function
-- called directly: the first frame outside this library (lua/smobject.lua
-- and lua/smobject/*.lua) is blamed, whatever depth raised.
local LIB = debug.getinfo(1, "S").source:match("^(@.*)smobject/struct%.lua$")
local function in_library(info)
  local src = info.source
  if LIB then return src:sub(1, #LIB + 8) == LIB .. "smobject" end
  return src == debug.getinfo(1, "S").source
end

-- The level of the first frame outside the library, counted from
-- outside_level itself (1) and starting the search at level `from`.
local function outside_level(from)
  local level = from
  while true do
    local info = debug.getinfo(level, "S")
    if not info or not in_library(info) then return level end
    level = level + 1
  end
end

-- Raises msg at the caller's line.
local function raise(msg)
  error(msg, outside_level(3) - 1)
end
M.raise = raise

-- The value's type name as luaL_typeerror gives it (__name first).
local function typename(x, none)
  if none then return "no value" end
  if M.is_layout(x) then return "smobject layout" end
  local mt = getmetatable(x)
  if type(mt) == "table" and type(rawget(mt, "__name")) == "string" then return rawget(mt, "__name") end
  return type(x)
end
M.typename = typename

-- Raises "bad argument #n to 'fname' (why)" at the caller's line, counting
-- arguments as luaL_argerror does: the self of a method call is not counted
-- (and a bad self reads "calling 'fname' on bad self").
local function argerror(n, fname, why)
  local level = outside_level(3)            -- counted from outside_level: one more than here
  local entry = debug.getinfo(level - 2, "n")
  if entry and entry.namewhat == "method" then
    n = n - 1
    if n == 0 then error(("calling '%s' on bad self (%s)"):format(fname, why), level - 1) end
  end
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, why), level - 1)
end
M.argerror = argerror

-- The integer value of argument n, as luaL_checkinteger takes it (floats
-- with an exact integer value too); raises naming the argument.
local function check_integer(x, n, fname, none)
  if math.type(x) == "integer" then return x end
  if type(x) == "number" then
    local i = math.tointeger(x)
    if i then return i end
    argerror(n, fname, "number has no integer representation")
  end
  argerror(n, fname, "number expected, got " .. typename(x, none))
end

-- ------------------------------------------------------------- layouts

-- A layout is an empty table whose metatable (hidden by __metatable) reads
-- its fields from a private record; writes raise.  Only this file makes
-- records, so a layout cannot be forged or changed after it is made.
local data_of = setmetatable({}, { __mode = "k" })
local Layout = {}                         -- methods
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

local function seal(r)
  local T = setmetatable({}, LayoutMeta)
  data_of[T] = r
  return T
end

local function is_layout(v) return data_of[v] ~= nil end
M.is_layout = is_layout

-- Types declared by smo.cdef (and named structs of smo.struct), by name:
-- "struct pose", "union u", or a typedef name.
local registry = {}

-- Sizes and alignments stay below 2^53 and 2^28: no overflow here.
local function align_up(n, a) return (n + a - 1) // a * a end

local function scalar(ctype, name, align)
  return seal({ kind = "scalar", ctype = ctype, size = SCALAR_SIZE[ctype], align = align or SCALAR_ALIGN[ctype],
                name = name or ctype, depth = 0, nflat = 1 })
end

-- char[n]: a string (a leaf for views, as scalars are).
local function string_type(n)
  return seal({ kind = "string", size = n, align = SCALAR_ALIGN.char, name = ("char[%d]"):format(n), count = n,
                depth = 0, nflat = 1 })
end

-- n elements of elem, or nil and why not: "large" (more than MAX_SIZE
-- bytes) or "deep" (nested deeper than MAX_DEPTH).
local function array_of(elem, n)
  local e = data_of[elem]
  if e.kind == "scalar" and e.ctype == "char" then
    if n > MAX_SIZE then return nil, "large" end
    return string_type(n)
  end
  if e.depth >= MAX_DEPTH then return nil, "deep" end
  if n > MAX_SIZE // e.size then return nil, "large" end
  -- float[3][4] is an array of 3 float[4]: the new dimension goes first
  local ename = e.name or e.kind
  local base, dims = ename:match("^(.-)(%[.*)$")
  local name = base and ("%s[%d]%s"):format(base, n, dims) or ("%s[%d]"):format(ename, n)
  return seal({ kind = "array", elem = elem, count = n, size = e.size * n, align = e.align, name = name,
                depth = e.depth + 1, nflat = 1 })
end

-- Why array_of refused, in words.
local function too_large(n, elem)
  return ("%d elements of %d bytes, more than 2^53 bytes"):format(n, data_of[elem].size)
end
local DEEP = ("layout nested deeper than %d levels"):format(MAX_DEPTH)

-- ------------------------------------------------------------- tokens

-- A C integer literal (decimal, 0x hex, 0 octal) as a Lua integer, or nil
-- and "large" past math.maxinteger, or nil and "bad" (09).
local function parse_integer(text)
  local base, digits = 10, text
  if text:match("^0[xX]") then
    base, digits = 16, text:sub(3)
  elseif text:match("^0%d") then
    base, digits = 8, text:sub(2)
  end
  local v = 0
  for k = 1, #digits do
    local d = tonumber(digits:sub(k, k), base)
    if not d then return nil, "bad" end
    if v > (math.maxinteger - d) // base then return nil, "large" end
    v = v * base + d
  end
  return v
end

local function tokenize(src, what)
  local toks, i, line, col0 = {}, 1, 1, 0
  local n = #src
  local function err(msg, at)
    raise(("%s: %s at line %d, column %d"):format(what, msg, line, (at or i) - col0))
  end
  while i <= n do
    local c = src:sub(i, i)
    if c == "\n" then
      line, col0, i = line + 1, i, i + 1
    elseif c:match("%s") then
      i = i + 1
    elseif src:sub(i, i + 1) == "//" then
      i = (src:find("\n", i, true) or n + 1)
    elseif src:sub(i, i + 1) == "/*" then
      local e = src:find("*/", i + 2, true)
      if not e then err("unterminated comment") end
      for _ in src:sub(i, e):gmatch("\n") do line = line + 1 end
      local last = src:sub(1, e):match(".*()\n")
      if last and last > i then col0 = last end
      i = e + 2
    elseif c == "#" and src:sub(1, i - 1):match("[^\n%s]$") == nil then
      -- a preprocessor line: include guards and #pragma once are harmless;
      -- anything that could change a layout is refused
      local e = (src:find("\n", i, true) or n + 1)
      local text = src:sub(i, e - 1)
      if text:match("^#%s*pragma%s+pack") then err("'#pragma pack' is not supported (use __attribute__((packed)))") end
      if text:match("^#%s*define%s+[%w_]+%s+%S") then
        err("macro definitions are not expanded ('" .. text:match("^#%s*define%s+([%w_]+)") .. "')")
      end
      i = e
    elseif c:match("[%a_]") then
      local s, e = src:find("^[%w_]+", i)
      toks[#toks + 1] = { t = "id", v = src:sub(s, e), line = line, col = i - col0 }
      i = e + 1
    elseif c:match("%d") then
      local s, e = src:find("^0[xX]%x+", i)
      if not s then s, e = src:find("^%d+", i) end
      local text = src:sub(s, e)
      local suffix_e = select(2, src:find("^[uUlL]*", e + 1))
      local v, why = parse_integer(text)
      if why == "large" then err("integer constant '" .. text .. "' is too large") end
      if not v then err("bad number '" .. text .. "'") end
      toks[#toks + 1] = { t = "num", v = v, text = src:sub(s, suffix_e), line = line, col = i - col0 }
      i = suffix_e + 1
    else
      toks[#toks + 1] = { t = "punct", v = c, line = line, col = i - col0 }
      i = i + 1
    end
  end
  toks[#toks + 1] = { t = "eof", v = "end of declaration", line = line, col = i - col0 }
  return toks
end

-- ------------------------------------------------------------- parser

local Parser = {}
Parser.__index = Parser

local function new_parser(src, what, scope)
  return setmetatable({ toks = tokenize(src, what), pos = 1, what = what, scope = scope or {}, depth = 0,
                        edepth = 0 }, Parser)
end

function Parser:peek(k) return self.toks[self.pos + (k or 0)] end
function Parser:next()
  local t = self.toks[self.pos]
  self.pos = self.pos + 1
  return t
end

function Parser:fail(tok, msg)
  raise(("%s: %s at line %d, column %d"):format(self.what, msg, tok.line, tok.col))
end

function Parser:accept(v)
  local t = self:peek()
  if t.v == v and t.t ~= "num" then
    self.pos = self.pos + 1
    return t
  end
end

function Parser:expect(v)
  local t = self:peek()
  if not self:accept(v) then self:fail(t, ("expected '%s', got '%s'"):format(v, tostring(t.v))) end
  return t
end

-- Integer arithmetic as C's on int64: overflow raises at the operator's
-- token; / and % truncate toward zero.
local MININT = math.mininteger
local function checked(op, a, b)
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

-- Integer constant expressions: + - * / % ( ) on literals.
function Parser:const_expr()
  local function nest(t)
    self.edepth = self.edepth + 1
    if self.edepth > MAX_EXPR_DEPTH then self:fail(t, "constant expression nested too deeply") end
  end
  local function primary()
    local t = self:next()
    if t.t == "num" then return t.v end
    if t.v == "(" or t.v == "-" or t.v == "+" then
      nest(t)
      local v
      if t.v == "(" then
        v = self:const_expr()
        self:expect(")")
      else
        v = primary()
        if t.v == "-" then
          v = checked("-", 0, v)
          if not v then self:fail(t, "integer overflow in constant expression") end
        end
      end
      self.edepth = self.edepth - 1
      return v
    end
    self:fail(t, ("expected an integer constant, got '%s'"):format(tostring(t.v)))
  end
  local function apply(t, a, b)
    local r = checked(t.v, a, b)
    if not r then self:fail(t, "integer overflow in constant expression") end
    return r
  end
  local function term()
    local v = primary()
    while true do
      local t = self:peek()
      if t.v == "*" and t.t == "punct" then
        self:next()
        v = apply(t, v, primary())
      elseif (t.v == "/" or t.v == "%") and t.t == "punct" then
        self:next()
        local d = primary()
        if d == 0 then self:fail(t, "division by zero") end
        v = apply(t, v, d)
      else return v end
    end
  end
  local v = term()
  while true do
    local t = self:peek()
    if (t.v == "+" or t.v == "-") and t.t == "punct" then
      self:next()
      v = apply(t, v, term())
    else return v end
  end
end

-- An alignment constant at token nt: a power of 2, at most what gcc takes.
function Parser:alignment(nt, n)
  if n <= 0 or n & (n - 1) ~= 0 then self:fail(nt, ("alignment %d is not a power of 2"):format(n)) end
  if n > MAX_ALIGNMENT then self:fail(nt, ("alignment %d exceeds the maximum %d"):format(n, MAX_ALIGNMENT)) end
  return n
end

local HARMLESS_ATTRS = { unused = true, __unused__ = true, deprecated = true, __deprecated__ = true,
                         may_alias = true, __may_alias__ = true, used = true, __used__ = true }

-- __attribute__((...)) lists: returns { packed = bool, aligned = N }.
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
        if a.t ~= "id" then self:fail(a, ("unexpected '%s' in __attribute__"):format(tostring(a.v))) end
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
        elseif HARMLESS_ATTRS[a.v] then
          if self:accept("(") then
            local depth = 1
            while depth > 0 do
              local x = self:next()
              if x.t == "eof" then self:fail(x, "unterminated __attribute__") end
              if x.v == "(" then depth = depth + 1 elseif x.v == ")" then depth = depth - 1 end
            end
          end
        else
          self:fail(a, ("attribute '%s' is not supported"):format(a.v))
        end
      until not self:accept(",")
      self:expect(")")
      self:expect(")")
    elseif t.v == "_Alignas" or t.v == "alignas" then
      self:next()
      self:expect("(")
      local nt = self:peek()
      local n
      if nt.t == "num" or nt.v == "(" then
        n = self:alignment(nt, self:const_expr())
      else
        n = self:type_spec({}).align
      end
      self:expect(")")
      into.alignas = math.max(into.alignas or 1, n)
    else
      return into
    end
  end
end

local SCALAR_WORDS = { signed = true, unsigned = true, char = true, short = true, int = true, long = true,
                       float = true, double = true, _Bool = true, bool = true, void = true }
local QUALIFIERS = { const = true, volatile = true, restrict = true, __restrict = true, __volatile__ = true,
                     __const = true, static = false, extern = false, register = false, auto = false }

-- The canonical scalar name of a list of type words, or nil.
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

-- A type specifier: scalar words, a typedef name, or struct/union.
-- attrs collects attributes and _Alignas met on the way.
function Parser:type_spec(attrs)
  local words, first = {}, self:peek()
  while true do
    local t = self:peek()
    if t.t ~= "id" then break end
    if QUALIFIERS[t.v] then
      self:next()
    elseif QUALIFIERS[t.v] == false then
      self:fail(t, ("storage class '%s' has no place in a struct"):format(t.v))
    elseif t.v == "__attribute__" or t.v == "__attribute" or t.v == "_Alignas" or t.v == "alignas" then
      self:attributes(attrs)
    elseif SCALAR_WORDS[t.v] then
      words[#words + 1] = self:next().v
    elseif #words > 0 then
      break
    elseif t.v == "struct" or t.v == "union" then
      return self:struct_spec(attrs)
    elseif t.v == "enum" then
      self:fail(t, "enum is not supported (use a fixed-width integer type)")
    elseif SCALAR_SIZE[t.v] and not t.v:find(" ") then
      self:next()
      return scalar(t.v)
    elseif self.scope[t.v] or registry[t.v] then
      self:next()
      return self.scope[t.v] or registry[t.v]
    else
      self:fail(t, ("unknown type name '%s'"):format(t.v))
    end
  end
  if #words == 0 then
    local t = self:peek()
    self:fail(t, ("expected a type, got '%s'"):format(tostring(t.v)))
  end
  local name, why = canonical(words)
  if why == "void" and self:peek().v == "*" then
    self:fail(self:peek(), "pointer '*' is not supported (an address means nothing in another process)")
  end
  if not name then
    self:fail(first, ("'%s' is not supported"):format(why or table.concat(words, " ")))
  end
  return scalar(name)
end

-- struct/union [attrs] [tag] [{ members }] [attrs]
function Parser:struct_spec(outer_attrs)
  local kw = self:next()
  self.depth = self.depth + 1   -- bounds the recursion; M.layout checks the exact depth
  if self.depth > MAX_DEPTH then self:fail(kw, DEEP) end
  local attrs = self:attributes({})
  local tag
  if self:peek().t == "id" and self:peek().v ~= "__attribute__" then tag = self:next().v end
  local key = tag and (kw.v .. " " .. tag)
  if not self:accept("{") then
    if not tag then self:fail(self:peek(), "expected a tag or '{' after " .. kw.v) end
    local T = self.scope[key] or registry[key]
    if not T then self:fail(kw, ("unknown type '%s'"):format(key)) end
    self.depth = self.depth - 1
    return T
  end
  local members = self:member_list("}")
  self:expect("}")
  self:attributes(attrs)
  local T = M.layout(kw.v, members, attrs, kw, self, key or ("anonymous " .. kw.v), key)
  if key then self.scope[key] = T end
  self.depth = self.depth - 1
  -- attributes after the closing brace belong to the type, not the member
  outer_attrs.defined = true
  return T
end

-- A declarator: name, array dimensions, attributes.  Returns name, type.
function Parser:declarator(base, attrs)
  local t = self:peek()
  if t.v == "*" then self:fail(t, "pointer '*' is not supported (an address means nothing in another process)") end
  if t.v == "(" then self:fail(t, "'(' in a declarator is not supported (function pointers mean nothing in another process)") end
  self:attributes(attrs)
  local nt = self:next()
  if nt.t ~= "id" then self:fail(nt, ("expected a member name, got '%s'"):format(tostring(nt.v))) end
  local T = self:dimensions(base, ("array '%s'"):format(nt.v), function(dt)
    self:fail(dt, ("flexible array member '%s[]' is not supported"):format(nt.v))
  end)
  local ct = self:peek()
  if ct.v == ":" then self:fail(ct, ("bitfield '%s' is not supported"):format(nt.v)) end
  if ct.v == "(" then self:fail(ct, ("function '%s' is not a data member"):format(nt.v)) end
  self:attributes(attrs)
  return nt.v, T, nt
end

-- Array dimensions [N][M]... after a declarator's name (or in a type
-- string): base wrapped in them.  what names the array in errors; empty
-- handles `[]`.
function Parser:dimensions(base, what, empty)
  local dims, toks = {}, {}
  local b = data_of[base]
  local depth0 = b.depth - ((b.kind == "scalar" and b.ctype == "char") and 1 or 0)   -- char[N] is a leaf
  while self:accept("[") do
    local dt = self:peek()
    if dt.v == "]" then empty(dt) end
    local n = self:const_expr()
    if n <= 0 then self:fail(dt, ("%s needs a positive size, got %d"):format(what, n)) end
    self:expect("]")
    dims[#dims + 1], toks[#toks + 1] = n, dt
    if depth0 + #dims > MAX_DEPTH then self:fail(dt, DEEP) end
  end
  local T = base
  for i = #dims, 1, -1 do
    local A, why = array_of(T, dims[i])
    if not A then
      if why == "deep" then self:fail(toks[i], DEEP) end
      self:fail(toks[i], ("%s is too large (%s)"):format(what, too_large(dims[i], T)))
    end
    T = A
  end
  return T
end

-- Members up to (not including) the token `stop`.
function Parser:member_list(stop)
  local members = {}
  while self:peek().v ~= stop and self:peek().t ~= "eof" do
    local attrs = self:attributes({})
    local start = self:peek()
    local base = self:type_spec(attrs)
    self:attributes(attrs)
    if self:accept(";") then
      if base.kind == "struct" or base.kind == "union" then
        if base.tag == nil then
          members[#members + 1] = { name = nil, type = base, attrs = attrs, tok = start }
        end -- a tagged struct declared inside: a nested tag, no member
      else
        self:fail(start, "declaration declares no member")
      end
    else
      repeat
        local mattrs = { packed = attrs.packed, aligned = attrs.aligned, alignas = attrs.alignas }
        local name, T, nt = self:declarator(base, mattrs)
        members[#members + 1] = { name = name, type = T, attrs = mattrs, tok = nt }
      until not self:accept(",")
      self:expect(";")
    end
  end
  return members
end

-- ------------------------------------------------------------- layout

-- Lays members out as gcc does.  kind: "struct" or "union"; attrs: the
-- type's own attributes; tok/parser for errors (without a parser, errors
-- read "smo.struct: ..." with no position).  Sealed, named name and tag.
function M.layout(kind, members, attrs, tok, parser, name, tag)
  local fail = function(t, msg)
    if parser then parser:fail(t or tok, msg) end
    raise("smo.struct: " .. msg)
  end
  if #members == 0 then fail(tok, "empty " .. kind .. " is not supported") end
  local fields, offset, size, align, depth, nflat = {}, 0, 0, 1, 0, 0
  local seen = {}
  local function note_names(r, prefix_tok)
    for _, f in ipairs(r.fields) do
      if f.name then
        if seen[f.name] then fail(prefix_tok, ("duplicate member '%s'"):format(f.name)) end
        seen[f.name] = true
      else
        note_names(data_of[f.type], prefix_tok)
      end
    end
  end
  for _, m in ipairs(members) do
    local T = m.type
    local r = data_of[T]
    if m.attrs.alignas and m.attrs.alignas < r.align then
      fail(m.tok, ("_Alignas(%d) cannot reduce the alignment of '%s' (%d)"):format(m.attrs.alignas,
        m.name or "anonymous member", r.align))
    end
    local a = (attrs.packed or m.attrs.packed) and 1 or r.align
    local explicit = math.max(m.attrs.aligned or 1, m.attrs.alignas or 1)
    a = math.max(a, explicit)
    local off = kind == "union" and 0 or align_up(offset, a)
    if off > MAX_SIZE - r.size then fail(m.tok, kind .. " is too large (more than 2^53 bytes)") end
    fields[#fields + 1] = { name = m.name, type = T, offset = off }
    if m.name then
      if seen[m.name] then fail(m.tok, ("duplicate member '%s'"):format(m.name)) end
      seen[m.name] = true
      nflat = nflat + 1
    else
      note_names(r, m.tok)
      nflat = nflat + r.nflat
    end
    if nflat > MAX_FIELDS then fail(m.tok, ("%s has more than %d members"):format(kind, MAX_FIELDS)) end
    offset = off + r.size
    size = math.max(size, offset)
    align = math.max(align, a)
    -- an anonymous member's fields are the parent's own (views flatten them): no level of its own
    depth = math.max(depth, m.name and r.depth or r.depth - 1)
  end
  if depth >= MAX_DEPTH then fail(tok, DEEP) end
  if attrs.aligned then align = math.max(align, attrs.aligned) end
  size = align_up(size, align)
  if size > MAX_SIZE then fail(tok, kind .. " is too large (more than 2^53 bytes)") end
  return seal({ kind = kind, fields = fields, align = align, size = size, packed = attrs.packed or nil,
                name = name, tag = tag, depth = depth + 1, nflat = nflat })
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

function Layout:member(name)
  local r = check_layout(self, "member")
  flat_members(r)
  local m = r.byname[name]
  if m then return { name = m.name, type = m.type, offset = m.offset } end
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
      if not f then raise(("%s: no member '%s' in %s"):format(what, name, r.name or "struct")) end
      off, T, pos = off + f.offset, f.type, e
    else
      local digits, e2 = path:match("^%[%s*(%d+)%s*%]()", pos)
      if not digits then raise(("%s: bad member path '%s'"):format(what, path)) end
      if r.kind ~= "array" and r.kind ~= "string" then
        raise(("%s: %s is not an array (in '%s')"):format(what, before(pos), path))
      end
      local idx = math.tointeger(tonumber(digits))
      if not idx or idx >= r.count then
        raise(("%s: index %s out of range for '%s' (%d elements)"):format(what, digits, path:sub(1, pos - 1), r.count))
      end
      local elem = r.kind == "string" and scalar("char") or r.elem
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

-- ------------------------------------------------------------- entry points

-- A type string of the Lua list form: "double", "char[16]", "float[3][4]",
-- "struct pose", a typedef name.
local function parse_type_string(s, where)
  local p = new_parser(s, where)
  local base = p:type_spec({})
  base = p:dimensions(base, "array", function(dt) p:fail(dt, "an array needs a size") end)
  local t = p:peek()
  if t.v == "*" then p:fail(t, "pointer '*' is not supported (an address means nothing in another process)") end
  if t.t ~= "eof" then p:fail(t, ("unexpected '%s'"):format(tostring(t.v))) end
  return base
end

-- An `aligned` option of the list form: nil, or a power of 2 up to 2^28.
local function list_alignment(v, what)
  if v == nil then return nil end
  local n = math.type(v) == "float" and math.tointeger(v) or v
  if math.type(n) ~= "integer" or n <= 0 or n & (n - 1) ~= 0 then
    raise(("smo.struct: %s must be a power of 2, got %s"):format(what, type(v) == "number" and tostring(v) or type(v)))
  end
  if n > MAX_ALIGNMENT then
    raise(("smo.struct: %s: alignment %d exceeds the maximum %d"):format(what, n, MAX_ALIGNMENT))
  end
  return n
end

local function from_list(list)
  local members = {}
  for i, m in ipairs(list) do
    if type(m) ~= "table" or type(m[1]) ~= "string" then
      raise(("smo.struct: member %d must be {name, type}"):format(i))
    end
    local T = m[2]
    if type(T) == "string" then
      T = parse_type_string(T, ("smo.struct: member '%s'"):format(m[1]))
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
  return M.layout(list.union and "union" or "struct", members, { packed = list.packed, aligned = aligned }, nil, nil,
    list.name or ("anonymous " .. (list.union and "union" or "struct")))
end

--- A layout from a C declaration: one struct or union (named or not), or
-- just a member list, or a Lua list of `{name, type}` pairs. Named structs
-- can be used by name in later declarations. Layouts equal gcc's, and are
-- read-only.
-- @function struct
-- @tparam string|table decl `"struct pose { double x, y; char name[16]; }"`,
-- `"double x, y;"`, or `{ {"x", "double"}, {"name", "char[16]"} }`
-- @treturn Layout the layout
-- @raise on anything unsupported or malformed, naming the token and its
-- position: `"smo.struct: bitfield 'x' is not supported at line 1, column 7"`;
-- on sizes above 2^53 bytes and nesting deeper than 100 levels
-- @usage local Pose = smo.struct[[ struct pose { double x, y; int32_t seq; char name[16]; } ]]
function M.struct(decl)
  if type(decl) == "table" then return from_list(decl) end
  if type(decl) ~= "string" then raise("smo.struct: declaration string or list expected, got " .. typename(decl)) end
  local p = new_parser(decl, "smo.struct")
  local t = p:peek()
  local T
  if t.v == "typedef" or p:whole_definition() then
    -- a whole declaration: struct NAME { ... } [attrs] [;]
    local defs = M.declarations(p)
    if #defs ~= 1 then p:fail(t, "smo.struct takes one struct; use smo.cdef for several") end
    T = defs[1]
    if T.tag then registry[T.tag] = T end   -- usable by name in later declarations
  else
    local members = p:member_list("eof")
    T = M.layout("struct", members, {}, t, p, "anonymous struct")
  end
  return T
end

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
    repeat
      if toks[i].v == "(" then d = d + 1 elseif toks[i].v == ")" then d = d - 1 end
      i = i + 1
    until d == 0 or toks[i].t == "eof"
  end
  if toks[i].v == ";" then i = i + 1 end
  return toks[i].t == "eof"
end

-- Top-level declarations: struct/union definitions and typedefs.
function M.declarations(p)
  local defs = {}
  while p:peek().t ~= "eof" do
    local t = p:peek()
    if t.v == ";" then
      p:next()   -- a stray semicolon
    elseif t.v == "typedef" then
      p:next()
      local attrs = {}
      local base = p:type_spec(attrs)
      repeat
        local name, T, nt = p:declarator(base, attrs)
        local r = data_of[T]
        if r.kind == "scalar" then
          T = scalar(r.ctype, name, math.max(r.align, attrs.aligned or 1))
        elseif attrs.aligned and attrs.aligned > r.align then
          local copy = {}
          for k, v in pairs(r) do copy[k] = v end
          copy.members, copy.byname, copy.holder = nil, nil, nil
          copy.align, copy.size = attrs.aligned, align_up(r.size, attrs.aligned)
          if copy.size > MAX_SIZE then p:fail(nt, r.kind .. " is too large (more than 2^53 bytes)") end
          T = seal(copy)
        end
        p.scope[name] = T
        r = data_of[T]
        if (r.kind == "struct" or r.kind == "union") and not r.tag then
          r.name = name   -- typedef struct { ... } name: still private to this declaration
        end
        defs[#defs + 1] = T
        defs[name] = T
      until not p:accept(",")
      p:expect(";")
    elseif t.v == "struct" or t.v == "union" then
      local attrs = {}
      local T = p:type_spec(attrs)
      if p:peek().t == "id" then
        p:fail(p:peek(), "a variable declaration is not a type: declare the struct alone")
      end
      p:accept(";")
      defs[#defs + 1] = T
      if T.tag then defs[T.tag] = T end
    else
      p:fail(t, ("expected 'struct', 'union' or 'typedef', got '%s'"):format(tostring(t.v)))
    end
  end
  return defs
end

--- Several declarations at once (structs, unions, typedefs), remembered for
-- later declarations.
-- @function cdef
-- @tparam string decls C declarations, for example a header's text
-- @treturn table the layouts by name (`"pose"` for `struct pose` and for a typedef `pose`)
-- @raise as `struct` does
-- @usage local t = smo.cdef("struct gps { double lat, lon; }; typedef struct { struct gps fix; } reading;")
function M.cdef(decls)
  if type(decls) ~= "string" then raise("smo.cdef: declaration string expected, got " .. typename(decls)) end
  local p = new_parser(decls, "smo.cdef")
  local defs = M.declarations(p)
  local out = {}
  for k, T in pairs(defs) do
    if type(k) == "string" then
      local short = k:gsub("^struct ", ""):gsub("^union ", "")
      out[short] = T
      registry[k] = T
    end
  end
  return out
end

--- An array layout: `n` elements of `T`; a view of it indexes 0..n-1.
-- @function array
-- @tparam Layout|string T a layout or a type string (`"double"`, `"struct pose"`)
-- @tparam integer n how many
-- @treturn Layout the array layout
-- @raise on a bad type or count, on more than 2^53 bytes or 100 levels
-- @usage local Poses = smo.array(Pose, 10)
function M.array(T, ...)
  local n = ...
  if type(T) == "string" then T = parse_type_string(T, "smo.array") end
  if not is_layout(T) then argerror(1, "array", "layout or type string expected, got " .. typename(T)) end
  n = check_integer(n, 2, "array", select("#", ...) == 0)
  if n <= 0 then argerror(2, "array", ("count must be positive, got %d"):format(n)) end
  local A, why = array_of(T, n)
  if why == "deep" then argerror(1, "array", DEEP) end
  if not A then argerror(2, "array", "array too large: " .. too_large(n, T)) end
  return A
end

return M
