--- C declaration text to tokens: identifiers, integer literals (decimal,
-- hex, octal, with u/l suffixes), single-character punctuation; comments and
-- harmless preprocessor lines (include guards, #pragma once) skipped.
-- Anything that could change a layout behind the parser's back (#pragma
-- pack, object-like macros) is refused.

local errors = require("smobject.errors")

local M = {}

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

-- The tokens of src, each { t = "id"|"num"|"punct"|"eof", v = value,
-- line = n, col = n } (a number also keeps its text); what names the caller
-- in errors ("smo.cdef").  The last token is "eof".
function M.tokenize(src, what)
  local toks, i, line, col0 = {}, 1, 1, 0
  local n = #src
  local function err(msg, at)
    errors.raise(("%s: %s at line %d, column %d"):format(what, msg, line, (at or i) - col0))
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

return M
