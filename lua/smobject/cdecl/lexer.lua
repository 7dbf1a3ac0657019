--- C text to tokens: identifiers, integer and character constants, string
-- literals, punctuators (C's multi-character operators included); comments
-- and backslash-newlines vanish.  Each token knows its line, column and
-- logical line (a backslash-newline or a comment does not end one), and
-- whether it starts its logical line, which is what the preprocessor
-- (preproc.lua) needs to find directives.  Nothing here refuses a token
-- that could stand in a skipped #if group: a bad or too large number is a
-- token carrying its error, raised only when the number is used.

local errors = require("smobject.errors")

local M = {}

local C = require("smobject.cdecl.cint")

-- A C integer literal (decimal, 0x hex, 0 octal) as its 64 bits (a value
-- of 2^63 or more is a negative Lua integer), or nil and "large" past 64
-- bits, or nil and "bad" (09); where numbers are doubles, nil and "big"
-- past 2^53 (cint.lua).
local function parse_integer(text)
  local base, digits = 10, text
  if text:match("^0[xX]") then
    base, digits = 16, text:sub(3)
  elseif text:match("^0%d") then
    base, digits = 8, text:sub(2)
  end
  return C.parse_integer(digits, base)
end

-- Punctuators of more than one character that a constant expression or a
-- directive uses (no ++ or --: "--1" stays two minus signs, as a constant
-- expression reads it).
local PUNCT3 = { ["..."] = true }
local PUNCT2 = { ["=="] = true, ["!="] = true, ["<="] = true, [">="] = true, ["&&"] = true, ["||"] = true,
                 ["<<"] = true, [">>"] = true, ["##"] = true }
local ESCAPES = { n = 10, t = 9, r = 13, ["0"] = 0, a = 7, b = 8, f = 12, v = 11, ["\\"] = 92, ["'"] = 39,
                  ['"'] = 34, ["?"] = 63 }

-- The tokens of src, each { t = "id"|"num"|"str"|"float"|"punct"|"eof",
-- v = value, line = n, col = n, lline = n, bol = bool }: a number also keeps
-- its text, and err ("integer constant '...' is too large") when its value
-- is unusable.  what names the caller in errors ("smo.cdef"); the last token
-- is "eof".  Only an unterminated comment raises: it swallows the rest.
function M.tokenize(src, what)
  local toks, i, line, col0, lline, bol = {}, 1, 1, 0, 1, true
  local n = #src
  local function add(tok)
    tok.line, tok.lline, tok.bol = tok.line or line, lline, bol
    bol = false
    toks[#toks + 1] = tok
  end
  while i <= n do
    local c = src:sub(i, i)
    if c == "\n" then
      line, col0, i, lline, bol = line + 1, i, i + 1, lline + 1, true
    elseif c == "\\" and src:match("^\\[ \t\r]*\n", i) then
      -- a backslash-newline joins two lines into one logical line
      i = src:find("\n", i, true)
      line, col0, i = line + 1, i, i + 1
    elseif c:match("%s") then
      i = i + 1
    elseif src:sub(i, i + 1) == "//" then
      i = (src:find("\n", i, true) or n + 1)
    elseif src:sub(i, i + 1) == "/*" then
      local e = src:find("*/", i + 2, true)
      if not e then
        errors.raise(("%s: unterminated comment at line %d, column %d"):format(what, line, i - col0))
      end
      -- lines inside the comment (looked for there only: no copy of the text before it)
      local k = src:find("\n", i, true)
      while k and k < e do
        line, col0 = line + 1, k
        k = src:find("\n", k + 1, true)
      end
      i = e + 2
    elseif c:match("[%a_]") then
      local s, e = src:find("^[%w_]+", i)
      add({ t = "id", v = src:sub(s, e), col = i - col0 })
      i = e + 1
    elseif c:match("%d") or (c == "." and src:match("^%.%d", i)) then
      local s, e = src:find("^0[xX]%x+", i)
      if not s then s, e = src:find("^%d*", i) end
      local tok = { t = "num", col = i - col0 }
      local fe = select(2, src:find("^%.?%d*[eE][%+%-]?%d+[fFlL]?", e + 1)) or select(2, src:find("^%.%d*[fFlL]?", e + 1))
      if fe and not src:match("^0[xX]", s) then
        -- a floating constant: a token of its own, refused where an integer is needed
        tok.t, tok.v = "float", src:sub(s, fe)
        e = fe
      else
        local text = src:sub(s, e)
        local suffix_e = select(2, src:find("^[uUlL]*", e + 1))
        local v, why = parse_integer(text)
        tok.v, tok.text = v, src:sub(s, suffix_e)
        if why == "large" then tok.err = ("integer constant '%s' is too large"):format(text) end
        if why == "bad" then tok.err = ("bad number '%s'"):format(text) end
        if why == "big" then tok.err = ("integer constant '%s' %s"):format(text, C.BIG) end
        e = suffix_e
      end
      add(tok)
      i = e + 1
    elseif c == '"' or c == "'" then
      -- a string literal or a character constant, to its closing quote on this line
      local j, col = i + 1, i - col0
      while j <= n and src:sub(j, j) ~= c and src:sub(j, j) ~= "\n" do
        j = j + (src:sub(j, j) == "\\" and 2 or 1)
      end
      local body = src:sub(i + 1, j - 1)
      if c == '"' then
        add({ t = "str", v = src:sub(i, math.min(j, n)), col = col })
      else
        local tok = { t = "num", text = src:sub(i, math.min(j, n)), col = col }
        local ch = body:match("^\\(.)$")
        if #body == 1 and body ~= "\\" then
          tok.v = body:byte()
          if tok.v > 127 then tok.v = tok.v - 256 end     -- char is signed here
        elseif ch and ESCAPES[ch] then
          tok.v = ESCAPES[ch]
        else
          tok.err = ("character constant %s is not supported"):format(tok.text)
        end
        add(tok)
      end
      i = (src:sub(j, j) == "\n") and j or j + 1   -- unterminated: the newline still ends the line
    else
      local three, two = src:sub(i, i + 2), src:sub(i, i + 1)
      local v = PUNCT3[three] and three or PUNCT2[two] and two or c
      add({ t = "punct", v = v, col = i - col0 })
      i = i + #v
    end
  end
  bol = true
  add({ t = "eof", v = "end of declaration", col = i - col0 })
  return toks
end

return M
