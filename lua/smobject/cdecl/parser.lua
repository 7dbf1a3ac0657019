--- C declarations to layouts: a recursive-descent parser for the part of C
-- that describes data (struct, union, typedef, scalar types, fixed arrays,
-- integer constant expressions, gcc attributes and _Alignas).  Names are
-- resolved and defined through `names` (a scope's transaction, see
-- scope.lua): the parser itself keeps no names between calls.

local errors = require("smobject.errors")
local lexer = require("smobject.cdecl.lexer")
local L = require("smobject.cdecl.layout")
local gcc = require("smobject.cdecl.gcc")

local M = {}

local record, scalar = L.record, L.scalar
local SCALAR_SIZE, MAX_ALIGN, MAX_ALIGNMENT = L.SCALAR_SIZE, L.MAX_ALIGN, L.MAX_ALIGNMENT
local MAX_DEPTH, DEEP = L.MAX_DEPTH, L.DEEP
local MAX_EXPR_DEPTH = 200                -- parentheses and unary signs in a constant

local Parser = {}
Parser.__index = Parser

-- A parser of src; what names the caller in errors ("smo.cdef"); names
-- resolves names (names:lookup(key) -> Layout or nil) and defines them
-- (names:define(key, T, origin) -> T, or nil and why not).
function M.new(src, what, names)
  return setmetatable({ toks = lexer.tokenize(src, what), pos = 1, what = what, names = names, depth = 0,
                        edepth = 0 }, Parser)
end

function Parser:peek(k) return self.toks[self.pos + (k or 0)] end
function Parser:next()
  local t = self.toks[self.pos]
  self.pos = self.pos + 1
  return t
end

function Parser:fail(tok, msg)
  errors.raise(("%s: %s at line %d, column %d"):format(self.what, msg, tok.line, tok.col))
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
    elseif self.names:lookup(t.v) then
      self:next()
      return self.names:lookup(t.v)
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
  self.depth = self.depth + 1   -- bounds the recursion; gcc.layout checks the exact depth
  if self.depth > MAX_DEPTH then self:fail(kw, DEEP) end
  local attrs = self:attributes({})
  local tag
  if self:peek().t == "id" and self:peek().v ~= "__attribute__" then tag = self:next().v end
  local key = tag and (kw.v .. " " .. tag)
  if not self:accept("{") then
    if not tag then self:fail(self:peek(), "expected a tag or '{' after " .. kw.v) end
    local T = self.names:lookup(key)
    if not T then self:fail(kw, ("unknown type '%s'"):format(key)) end
    self.depth = self.depth - 1
    return T
  end
  local members = self:member_list("}")
  self:expect("}")
  self:attributes(attrs)
  local T = gcc.layout(kw.v, members, attrs, function(t, msg) self:fail(t or kw, msg) end,
    key or ("anonymous " .. kw.v), key)
  if key then T = self:define(kw, key, T) end
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
  local b = record(base)
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
    local A, why = L.array_of(T, dims[i])
    if not A then
      if why == "deep" then self:fail(toks[i], DEEP) end
      self:fail(toks[i], ("%s is too large (%s)"):format(what, L.too_large(dims[i], T)))
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

-- Defines key as T through self.names (origin: this token); the type the
-- name now has (the earlier one when T is the same); raises on a different one.
function Parser:define(tok, key, T)
  local origin = ("%s, line %d, column %d"):format(self.what, tok.line, tok.col)
  local known, why = self.names:define(key, T, origin)
  if not known then self:fail(tok, why) end
  return known
end

-- Top-level declarations: struct/union definitions and typedefs.  Returns
-- the layouts in order.
function Parser:declarations()
  local p = self
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
        local kind = T.kind
        T = gcc.typedef(T, name, attrs)
        if not T then p:fail(nt, kind .. " is too large (more than 2^53 bytes)") end
        local r = record(T)
        if (r.kind == "struct" or r.kind == "union") and not r.tag then
          r.name = name   -- typedef struct { ... } name: named by its only name
        end
        defs[#defs + 1] = p:define(nt, name, T)
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
    else
      p:fail(t, ("expected 'struct', 'union' or 'typedef', got '%s'"):format(tostring(t.v)))
    end
  end
  return defs
end


-- A type string ("double", "char[16]", "float[3][4]", "struct pose", a
-- typedef name) as a layout; where names the caller in errors.
function M.type_string(s, where, names)
  local p = M.new(s, where, names)
  local base = p:type_spec({})
  base = p:dimensions(base, "array", function(dt) p:fail(dt, "an array needs a size") end)
  local t = p:peek()
  if t.v == "*" then p:fail(t, "pointer '*' is not supported (an address means nothing in another process)") end
  if t.t ~= "eof" then p:fail(t, ("unexpected '%s'"):format(tostring(t.v))) end
  return base
end

return M
