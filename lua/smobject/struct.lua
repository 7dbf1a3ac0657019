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

local Layout = {}
Layout.__index = Layout
M.Layout = Layout

local SCALAR_SIZE = core.ctypes           -- name -> sizeof
local SCALAR_ALIGN = core.ctype_align     -- name -> _Alignof
local MAX_ALIGN = core.max_align          -- what __attribute__((aligned)) means

-- Types declared by smo.cdef (and named structs of smo.struct), by name:
-- "struct pose", "union u", or a typedef name.
local registry = {}
M.registry = registry

local function is_layout(v) return getmetatable(v) == Layout end
M.is_layout = is_layout

local function align_up(n, a) return (n + a - 1) // a * a end

local function scalar(ctype)
  return setmetatable({ kind = "scalar", ctype = ctype, size = SCALAR_SIZE[ctype],
                        align = SCALAR_ALIGN[ctype], name = ctype }, Layout)
end

local function string_type(n)
  return setmetatable({ kind = "string", size = n, align = SCALAR_ALIGN.char,
                        name = ("char[%d]"):format(n), count = n }, Layout)
end

local function array_of(elem, n)
  if elem.kind == "scalar" and elem.ctype == "char" then return string_type(n) end
  -- float[3][4] is an array of 3 float[4]: the new dimension goes first
  local base, dims = (elem.name or elem.kind):match("^(.-)(%[.*)$")
  local name = base and ("%s[%d]%s"):format(base, n, dims) or ("%s[%d]"):format(elem.name or elem.kind, n)
  return setmetatable({ kind = "array", elem = elem, count = n, size = elem.size * n, align = elem.align,
                        name = name }, Layout)
end

-- ------------------------------------------------------------- tokens

local function tokenize(src, what)
  local toks, i, line, col0 = {}, 1, 1, 0
  local n = #src
  local function err(msg, at)
    error(("%s: %s at line %d, column %d"):format(what, msg, line, (at or i) - col0), 0)
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
      local v = text:match("^0[xX]") and tonumber(text:sub(3), 16)
        or (text:match("^0%d") and tonumber(text, 8)) or tonumber(text)
      if not v then err("bad number '" .. text .. "'") end
      toks[#toks + 1] = { t = "num", v = math.tointeger(v), text = src:sub(s, suffix_e), line = line, col = i - col0 }
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
  return setmetatable({ toks = tokenize(src, what), pos = 1, what = what, scope = scope or {} }, Parser)
end

function Parser:peek(k) return self.toks[self.pos + (k or 0)] end
function Parser:next()
  local t = self.toks[self.pos]
  self.pos = self.pos + 1
  return t
end

function Parser:fail(tok, msg)
  error(("%s: %s at line %d, column %d"):format(self.what, msg, tok.line, tok.col), 0)
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

-- Integer constant expressions: + - * / % ( ) on literals.
function Parser:const_expr()
  local function primary()
    local t = self:next()
    if t.t == "num" then return t.v end
    if t.v == "(" then
      local v = self:const_expr()
      self:expect(")")
      return v
    end
    if t.v == "-" then return -primary() end
    if t.v == "+" then return primary() end
    self:fail(t, ("expected an integer constant, got '%s'"):format(tostring(t.v)))
  end
  local function term()
    local v = primary()
    while true do
      local t = self:peek()
      if t.v == "*" and t.t == "punct" then self:next() v = v * primary()
      elseif (t.v == "/" or t.v == "%") and t.t == "punct" then
        self:next()
        local d = primary()
        if d == 0 then self:fail(t, "division by zero") end
        v = t.v == "/" and v // d or v % d
      else return v end
    end
  end
  local v = term()
  while true do
    local t = self:peek()
    if t.v == "+" and t.t == "punct" then self:next() v = v + term()
    elseif t.v == "-" and t.t == "punct" then self:next() v = v - term()
    else return v end
  end
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
            n = self:const_expr()
            self:expect(")")
            if n <= 0 or n & (n - 1) ~= 0 then self:fail(nt, ("alignment %d is not a power of 2"):format(n)) end
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
        n = self:const_expr()
        if n <= 0 or n & (n - 1) ~= 0 then self:fail(nt, ("alignment %d is not a power of 2"):format(n)) end
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
  local attrs = self:attributes({})
  local tag
  if self:peek().t == "id" and self:peek().v ~= "__attribute__" then tag = self:next().v end
  local key = tag and (kw.v .. " " .. tag)
  if not self:accept("{") then
    if not tag then self:fail(self:peek(), "expected a tag or '{' after " .. kw.v) end
    local T = self.scope[key] or registry[key]
    if not T then self:fail(kw, ("unknown type '%s'"):format(key)) end
    return T
  end
  local members = self:member_list("}")
  self:expect("}")
  self:attributes(attrs)
  local T = M.layout(kw.v, members, attrs, kw, self)
  T.name = key or ("anonymous " .. kw.v)
  T.tag = key
  if key then self.scope[key] = T end
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
  local dims = {}
  while self:accept("[") do
    local dt = self:peek()
    if dt.v == "]" then self:fail(dt, ("flexible array member '%s[]' is not supported"):format(nt.v)) end
    local n = self:const_expr()
    if n <= 0 then self:fail(dt, ("array '%s' needs a positive size, got %d"):format(nt.v, n)) end
    self:expect("]")
    dims[#dims + 1] = n
  end
  local ct = self:peek()
  if ct.v == ":" then self:fail(ct, ("bitfield '%s' is not supported"):format(nt.v)) end
  if ct.v == "(" then self:fail(ct, ("function '%s' is not a data member"):format(nt.v)) end
  self:attributes(attrs)
  local T = base
  for i = #dims, 1, -1 do T = array_of(T, dims[i]) end
  return nt.v, T, nt
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
-- type's own attributes; tok/parser for errors.
function M.layout(kind, members, attrs, tok, parser)
  local fail = function(t, msg)
    if parser then parser:fail(t or tok, msg) end
    error("smo.struct: " .. msg, 0)
  end
  if #members == 0 then fail(tok, "empty " .. kind .. " is not supported") end
  local fields, offset, size, align = {}, 0, 0, 1
  local seen = {}
  local function note_names(T, prefix_tok)
    for _, f in ipairs(T.fields) do
      if f.name then
        if seen[f.name] then fail(prefix_tok, ("duplicate member '%s'"):format(f.name)) end
        seen[f.name] = true
      else
        note_names(f.type, prefix_tok)
      end
    end
  end
  for _, m in ipairs(members) do
    local T = m.type
    if m.attrs.alignas and m.attrs.alignas < T.align then
      fail(m.tok, ("_Alignas(%d) cannot reduce the alignment of '%s' (%d)"):format(m.attrs.alignas,
        m.name or "anonymous member", T.align))
    end
    local a = (attrs.packed or m.attrs.packed) and 1 or T.align
    local explicit = math.max(m.attrs.aligned or 1, m.attrs.alignas or 1)
    a = math.max(a, explicit)
    local off = kind == "union" and 0 or align_up(offset, a)
    fields[#fields + 1] = { name = m.name, type = T, offset = off }
    if m.name then
      if seen[m.name] then fail(m.tok, ("duplicate member '%s'"):format(m.name)) end
      seen[m.name] = true
    else
      note_names(T, m.tok)
    end
    offset = off + T.size
    size = math.max(size, offset)
    align = math.max(align, a)
  end
  if attrs.aligned then align = math.max(align, attrs.aligned) end
  local T = setmetatable({ kind = kind, fields = fields, align = align, size = align_up(size, align),
                           packed = attrs.packed or nil }, Layout)
  return T
end

-- ------------------------------------------------------------- queries

--- The named members of a struct or union layout, anonymous members
-- flattened, in declaration order.
-- @function Layout:members
-- @treturn {table,...} `{ name = ..., type = Layout, offset = n }` each
-- @usage for _, m in ipairs(Pose:members()) do print(m.name, m.offset) end
function Layout:members()
  if self._members then return self._members end
  local list = {}
  local function walk(T, base)
    for _, f in ipairs(T.fields) do
      if f.name then
        list[#list + 1] = { name = f.name, type = f.type, offset = base + f.offset }
      else
        walk(f.type, base + f.offset)
      end
    end
  end
  walk(self, 0)
  self._members = list
  local byname = {}
  for _, f in ipairs(list) do byname[f.name] = f end
  self._byname = byname
  return list
end

function Layout:member(name)
  if not self._byname then self:members() end
  return self._byname[name]
end

--- A layout's byte offset of a member path, as C's `offsetof`.
-- A layout also has the fields `size` and `align` (C's `sizeof` and
-- `_Alignof`), `name`, and `kind` (`"struct"`, `"union"`, `"array"`...).
-- @function Layout:offsetof
-- @tparam string path `"x"`, `"gps.lat"`, `"samples[3]"`, `"m[1][2]"`
-- @treturn integer the offset in bytes
-- @treturn Layout the member's type
-- @raise on an unknown member or an index out of range
-- @usage local off = Pose:offsetof("gps.lat")
function Layout:offsetof(path)
  if type(path) ~= "string" then error("offsetof: member path expected, got " .. type(path), 2) end
  local T, off, pos = self, 0, 1
  while pos <= #path do
    local name, e = path:match("^%.?([%a_][%w_]*)()", pos)
    if name and (pos == 1 or path:sub(pos, pos) == ".") then
      if T.kind ~= "struct" and T.kind ~= "union" then
        error(("offsetof: '%s' is not a struct in '%s'"):format(path:sub(1, pos - 1), path), 2)
      end
      local f = T:member(name)
      if not f then error(("offsetof: no member '%s' in %s"):format(name, T.name or "struct"), 2) end
      off, T, pos = off + f.offset, f.type, e
    else
      local idx, e2 = path:match("^%[%s*(%d+)%s*%]()", pos)
      if not idx then error(("offsetof: bad member path '%s'"):format(path), 2) end
      idx = tonumber(idx)
      if T.kind ~= "array" and T.kind ~= "string" then
        error(("offsetof: '%s' is not an array"):format(path:sub(1, pos - 1)), 2)
      end
      if idx >= T.count then
        error(("offsetof: index %d out of range for '%s' (%d elements)"):format(idx, path:sub(1, pos - 1), T.count), 2)
      end
      local esize = T.kind == "string" and 1 or T.elem.size
      off, pos = off + idx * esize, e2
      T = T.kind == "string" and scalar("char") or T.elem
    end
  end
  return off, T
end

--- The type of a member path.
-- @function Layout:typeof
-- @tparam string path a member path
-- @treturn Layout its type (`.name` reads like C: `"float[3][4]"`)
-- @usage print(Pose:typeof("name").name)   --> char[16]
function Layout:typeof(path)
  local _, T = self:offsetof(path)
  return T
end

function Layout:__tostring()
  return ("layout %s (%d bytes, align %d)"):format(self.name or self.kind, self.size, self.align)
end

-- ------------------------------------------------------------- entry points

-- A type string of the Lua list form: "double", "char[16]", "float[3][4]",
-- "struct pose", a typedef name.
local function parse_type_string(s, where)
  local p = new_parser(s, where)
  local base = p:type_spec({})
  local dims = {}
  while p:accept("[") do
    local dt = p:peek()
    local n = p:const_expr()
    if n <= 0 then p:fail(dt, "array size must be positive") end
    p:expect("]")
    dims[#dims + 1] = n
  end
  local t = p:peek()
  if t.v == "*" then p:fail(t, "pointer '*' is not supported (an address means nothing in another process)") end
  if t.t ~= "eof" then p:fail(t, ("unexpected '%s'"):format(tostring(t.v))) end
  for i = #dims, 1, -1 do base = array_of(base, dims[i]) end
  return base
end

local function from_list(list)
  local members = {}
  for i, m in ipairs(list) do
    if type(m) ~= "table" or type(m[1]) ~= "string" then
      error(("smo.struct: member %d must be {name, type}"):format(i), 3)
    end
    local T = m[2]
    if type(T) == "string" then
      T = parse_type_string(T, ("smo.struct: member '%s'"):format(m[1]))
    elseif not is_layout(T) then
      error(("smo.struct: member '%s' needs a type string or a layout, got %s"):format(m[1], type(T)), 3)
    end
    if not m[1]:match("^[%a_][%w_]*$") then error(("smo.struct: bad member name '%s'"):format(m[1]), 3) end
    members[#members + 1] = { name = m[1], type = T, attrs = { aligned = m.aligned }, tok = nil }
  end
  local T = M.layout(list.union and "union" or "struct", members, { packed = list.packed, aligned = list.aligned })
  T.name = list.name or "anonymous struct"
  return T
end

--- A layout from a C declaration: one struct or union (named or not), or
-- just a member list, or a Lua list of `{name, type}` pairs. Named structs
-- can be used by name in later declarations. Layouts equal gcc's.
-- @function struct
-- @tparam string|table decl `"struct pose { double x, y; char name[16]; }"`,
-- `"double x, y;"`, or `{ {"x", "double"}, {"name", "char[16]"} }`
-- @treturn Layout the layout
-- @raise on anything unsupported or malformed, naming the token and its
-- position: `"smo.struct: bitfield 'x' is not supported at line 1, column 7"`
-- @usage local Pose = smo.struct[[ struct pose { double x, y; int32_t seq; char name[16]; } ]]
function M.struct(decl)
  if type(decl) == "table" then return from_list(decl) end
  if type(decl) ~= "string" then error("smo.struct: declaration string or list expected, got " .. type(decl), 2) end
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
    T = M.layout("struct", members, {}, t, p)
    T.name = "anonymous struct"
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
        local name, T = p:declarator(base, attrs)
        if T.kind == "scalar" then
          T = setmetatable({ kind = "scalar", ctype = T.ctype, size = T.size, name = name,
                             align = math.max(T.align, attrs.aligned or 1) }, Layout)
        elseif attrs.aligned and attrs.aligned > T.align then
          local copy = setmetatable({}, Layout)
          for k, v in pairs(T) do copy[k] = v end
          copy.align, copy.size = attrs.aligned, align_up(T.size, attrs.aligned)
          T = copy
        end
        p.scope[name] = T
        if T.kind == "struct" or T.kind == "union" then
          if not T.tag then T.name = name end
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
  if type(decls) ~= "string" then error("smo.cdef: declaration string expected, got " .. type(decls), 2) end
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
-- @raise on a bad type or count
-- @usage local Poses = smo.array(Pose, 10)
function M.array(T, n)
  if type(T) == "string" then T = parse_type_string(T, "smo.array") end
  if not is_layout(T) then error("smo.array: layout or type string expected, got " .. type(T), 2) end
  if math.type(n) ~= "integer" or n <= 0 then error("smo.array: count must be a positive integer", 2) end
  return array_of(T, n)
end

return M
