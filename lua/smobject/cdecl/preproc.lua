--- The C preprocessor, as much of it as shared headers need: #define of
-- object-like macros (expanded as cpp does, a macro never inside its own
-- expansion), #undef, #if/#ifdef/#ifndef/#elif/#else/#endif with defined()
-- and integer expressions, #error, #pragma once; #include lines are not
-- read (recorded, so that an unknown type can name them), #pragma pack is
-- refused.  Function-like macros are recorded but not expanded: their use
-- in a declaration raises, naming the macro.  Macros live in the scope
-- (through `names`), so a header read twice sees its include guard.
-- Nothing loops or recurses without bound: conditionals are a stack,
-- expansion is a work list with a ceiling.

local errors = require("smobject.errors")
local expr = require("smobject.cdecl.expr")

local M = {}

M.MAX_EXPANSION = 1000000                 -- tokens made by macro expansion in one call

local function fail(what, tok, msg)
  errors.raise(("%s: %s at line %d, column %d"):format(what, msg, tok.line, tok.col))
end

-- Whether name is in the hide set h (a chain { name, up }).
local function hidden(h, name)
  while h do
    if h.name == name then return true end
    h = h.up
  end
  return false
end

-- The chain of macros of hide set h ending with name: "A -> B -> A".
local function chain(h, name)
  local names = { name }
  while h do
    table.insert(names, 1, h.name)
    h = h.up
  end
  return table.concat(names, " -> ")
end

local function same_body(a, b)
  if #a ~= #b or (a.params or false) ~= (b.params or false) then return false end
  for i = 1, #a do
    if a[i].t ~= b[i].t or a[i].v ~= b[i].v then return false end
  end
  return true
end

local function body_text(body)
  local parts = {}
  for i, t in ipairs(body) do parts[i] = tostring(t.text or t.v) end
  return table.concat(parts, " ")
end

-- An expander: a function (tok, out, nexttok) that appends token tok's
-- expansion to out (nexttok: the token after tok, to tell a use of a
-- function-like macro by its '('), with macros looked up through names;
-- state.budget counts the tokens expansion made, against MAX_EXPANSION.
local function expander(what, names, state)
  return function(tok, out, nexttok)
    local work = { tok }                  -- a stack: the next token to look at is last
    local follow = { nexttok }            -- what follows each work entry, for '(' checks
    while #work > 0 do
      local t = table.remove(work)
      local after = table.remove(follow)
      local m = t.t == "id" and names:macro(t.v)
      if not m then
        out[#out + 1] = t
      elseif hidden(t.hide, t.v) then
        -- cpp leaves it as it is; say why, should it end in a declaration
        local c = {}
        for k, v in pairs(t) do c[k] = v end
        c.note = ("macro '%s' expands to itself: %s"):format(t.v, chain(t.hide, t.v))
        out[#out + 1] = c
      elseif m.params then
        if after and after.t == "punct" and after.v == "(" then
          out[#out + 1] = { t = "bad", v = t.v, line = t.line, col = t.col, macro = t.macro, mline = t.mline,
                            why = ("function-like macro '%s' (defined at line %d) is not expanded: only macros "
                              .. "without parameters are"):format(t.v, m.line) }
        else
          out[#out + 1] = t
        end
      else
        state.budget = state.budget + #m
        if state.budget > M.MAX_EXPANSION then
          fail(what, t, ("macro expansion too large (more than %d tokens, expanding '%s')"):format(M.MAX_EXPANSION,
            t.macro or t.v))
        end
        local hide = { name = t.v, up = t.hide }
        local outer, mline = t.macro or t.v, t.mline or m.line
        -- pushed in reverse: the first body token is looked at first
        for k = #m, 1, -1 do
          local b = m[k]
          work[#work + 1] = { t = b.t, v = b.v, text = b.text, err = b.err, line = t.line, col = t.col, hide = hide,
                              macro = outer, mline = mline }
          follow[#follow + 1] = m[k + 1] or after
        end
      end
    end
  end
end

-- #if's expression in tokens (defined() replaced, macros expanded).
local function if_value(what, toks, at, names, expand)
  local pre = {}
  local i = 1
  while i <= #toks do
    local t = toks[i]
    if t.t == "id" and t.v == "defined" then
      local paren = toks[i + 1] and toks[i + 1].v == "(" and toks[i + 1].t == "punct"
      local n = toks[i + (paren and 2 or 1)]
      if not n or n.t ~= "id" then fail(what, t, "'defined' needs a macro name") end
      if paren and not (toks[i + 3] and toks[i + 3].v == ")") then fail(what, n, "expected ')' after 'defined(" .. n.v) end
      pre[#pre + 1] = { t = "num", v = names:macro(n.v) and 1 or 0, line = t.line, col = t.col }
      i = i + (paren and 4 or 2)
    else
      pre[#pre + 1] = t
      i = i + 1
    end
  end
  local ex = {}
  for k, t in ipairs(pre) do expand(t, ex, pre[k + 1]) end
  if #ex == 0 then fail(what, at, "#" .. at.v .. " with no expression") end
  local eof = { t = "eof", v = "end of line", line = ex[#ex].line, col = ex[#ex].col + 1 }
  local pos = 1
  local S = {
    peek = function() return ex[pos] or eof end,
    next = function()
      local t = ex[pos] or eof
      pos = pos + 1
      return t
    end,
    fail = function(_, tok, msg) fail(what, tok, "#" .. at.v .. ": " .. msg) end,
    cast = function() return false end,
  }
  function S.operand(_, tok)
    -- an identifier that is no macro is 0, as in C; a call of one is not
    local n = ex[pos]
    if n and n.t == "punct" and n.v == "(" then
      S:fail(tok, ("'%s(' is not supported (function-like macros are not expanded)"):format(tok.v))
    end
    return 0, "long"
  end
  for _, t in ipairs(ex) do
    if t.t == "bad" then S:fail(t, t.why) end
  end
  local v = expr.evaluate(S, true)
  if pos <= #ex then S:fail(ex[pos], ("unexpected '%s'"):format(tostring(ex[pos].text or ex[pos].v))) end
  return v ~= 0
end

-- A directive's tokens after its name (no table.unpack: a line may be long).
local function rest(d)
  local r = {}
  for k = 2, #d do r[k - 1] = d[k] end
  return r
end

local SKIPPED_DIRECTIVES = { line = true, warning = true, ident = true, sccs = true, assert = true, unassert = true }

-- The tokens of toks (lexer.tokenize's) once directives are obeyed and
-- macros expanded; names gives and takes macros (macro, define_macro,
-- undef_macro) and hears of includes (names.includes, a list of
-- { text, line }).
function M.run(toks, what, names)
  local out = {}
  local state = { budget = 0 }
  local expand = expander(what, names, state)
  local conds = {}                        -- { live, taken, seen_else, tok } per open #if
  local live = true
  local i = 1
  local n = #toks
  while i <= n do
    local t = toks[i]
    if t.t == "eof" then break end
    if t.t == "punct" and t.v == "#" and t.bol then
      -- a directive: the rest of its logical line
      local d, j = {}, i + 1
      while toks[j].t ~= "eof" and toks[j].lline == t.lline do
        d[#d + 1] = toks[j]
        j = j + 1
      end
      i = j
      local name = d[1]
      local kw = name and name.t == "id" and name.v
      if kw == "if" or kw == "ifdef" or kw == "ifndef" then
        local cond = { parent = live, tok = name }
        if live then
          local v
          if kw == "if" then
            v = if_value(what, rest(d), name, names, expand)
          else
            local m = d[2]
            if not m or m.t ~= "id" then fail(what, name, "#" .. kw .. " needs a macro name") end
            v = (names:macro(m.v) ~= nil) == (kw == "ifdef")
          end
          cond.taken, live = v, v
        else
          cond.taken = true               -- a skipped group's branches all stay skipped
        end
        conds[#conds + 1] = cond
      elseif kw == "elif" or kw == "elifdef" or kw == "elifndef" or kw == "else" then
        local cond = conds[#conds]
        if not cond then fail(what, name, "#" .. kw .. " without #if") end
        if cond.seen_else then fail(what, name, ("#%s after #else (line %d)"):format(kw, cond.seen_else)) end
        if kw == "else" then
          cond.seen_else = name.line
          live = cond.parent and not cond.taken
          cond.taken = true
        elseif cond.parent and not cond.taken then
          local v
          if kw == "elif" then
            v = if_value(what, rest(d), name, names, expand)
          else
            local m = d[2]
            if not m or m.t ~= "id" then fail(what, name, "#" .. kw .. " needs a macro name") end
            v = (names:macro(m.v) ~= nil) == (kw == "elifdef")
          end
          cond.taken, live = v, v
        else
          live = false
        end
      elseif kw == "endif" then
        local cond = table.remove(conds)
        if not cond then fail(what, name, "#endif without #if") end
        live = cond.parent
      elseif live and kw == "define" then
        local m = d[2]
        if not m or m.t ~= "id" then fail(what, name, "#define needs a macro name") end
        if m.v == "defined" then fail(what, m, "'defined' cannot be a macro name") end
        local body, k = { line = m.line }, 3
        local p = d[3]
        if p and p.t == "punct" and p.v == "(" and p.line == m.line and p.col == m.col + #m.v then
          -- function-like: recorded (so that its use can be named), not expanded
          body.params = true
          while d[k] and not (d[k].t == "punct" and d[k].v == ")") do k = k + 1 end
          if not d[k] then fail(what, p, ("unterminated parameter list of macro '%s'"):format(m.v)) end
          k = k + 1
        end
        for q = k, #d do body[#body + 1] = d[q] end
        local old = names:macro(m.v)
        if old and not same_body(old, body) then
          fail(what, m, ("macro '%s' redefined differently: '%s' here, '%s' at line %d (#undef it first)")
            :format(m.v, body_text(body), body_text(old), old.line))
        end
        if not old then names:define_macro(m.v, body) end
      elseif live and kw == "undef" then
        local m = d[2]
        if not m or m.t ~= "id" then fail(what, name, "#undef needs a macro name") end
        names:undef_macro(m.v)
      elseif live and (kw == "include" or kw == "include_next" or kw == "import") then
        local parts = {}
        for q = 2, #d do parts[#parts + 1] = tostring(d[q].text or d[q].v) end
        local inc = names.includes
        inc[#inc + 1] = { text = table.concat(parts, ""), line = name.line }
      elseif live and kw == "pragma" then
        local p = d[2]
        if p and p.v == "pack" then fail(what, t, "'#pragma pack' is not supported (use __attribute__((packed)))") end
      elseif live and kw == "error" then
        local parts = {}
        for q = 2, #d do parts[#parts + 1] = tostring(d[q].text or d[q].v) end
        fail(what, t, "#error " .. table.concat(parts, " "))
      elseif live and not (kw and SKIPPED_DIRECTIVES[kw]) and name and name.t ~= "num" then
        -- (in a skipped group nothing is looked at; #line, #warning... change
        -- no layout; a lone '#' or gcc -E's line markers "# 12 \"x.h\"" neither)
        fail(what, name, ("unknown directive '#%s'"):format(tostring(name.text or name.v)))
      end
    else
      if live then expand(t, out, toks[i + 1]) end
      i = i + 1
    end
  end
  if #conds > 0 then
    local c = conds[#conds]
    fail(what, c.tok, ("#%s at line %d has no #endif"):format(c.tok.v, c.tok.line))
  end
  out[#out + 1] = toks[#toks]
  return out
end

return M
