--- gcc's layout rules for structs, unions and typedefs on this machine:
-- each member at the next multiple of its alignment (natural, from the C
-- core's _Alignof; 1 when packed; raised by aligned(N) and _Alignas(N)),
-- union members all at 0, the size rounded up to the largest alignment.

local L = require("smobject.cdecl.layout")

local M = {}

local record, align_up = L.record, L.align_up
local MAX_SIZE, MAX_DEPTH, MAX_FIELDS = L.MAX_SIZE, L.MAX_DEPTH, L.MAX_FIELDS

-- The layout of a struct or union.  kind: "struct" or "union"; members:
-- { name = string|nil (anonymous), type = Layout, attrs = { packed,
-- aligned, alignas }, tok = token|nil } each; attrs: the type's own
-- attributes (packed, aligned); fail(tok, msg) raises (tok is a member's,
-- or nil for the type itself); name and tag: the layout's.
function M.layout(kind, members, attrs, fail, name, tag)
  if #members == 0 then fail(nil, "empty " .. kind .. " is not supported") end
  local fields, offset, size, align, depth, nflat = {}, 0, 0, 1, 0, 0
  local seen = {}
  local function note_names(r, prefix_tok)
    for _, f in ipairs(r.fields) do
      if f.name then
        if seen[f.name] then fail(prefix_tok, ("duplicate member '%s'"):format(f.name)) end
        seen[f.name] = true
      else
        note_names(record(f.type), prefix_tok)
      end
    end
  end
  for _, m in ipairs(members) do
    local T = m.type
    local r = record(T)
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
  if depth >= MAX_DEPTH then fail(nil, L.DEEP) end
  if attrs.aligned then align = math.max(align, attrs.aligned) end
  size = align_up(size, align)
  if size > MAX_SIZE then fail(nil, kind .. " is too large (more than 2^53 bytes)") end
  return L.seal({ kind = kind, fields = fields, align = align, size = size, packed = attrs.packed or nil,
                  name = name, tag = tag, depth = depth + 1, nflat = nflat })
end

-- The type a typedef `name` of T gives, with attrs the typedef's
-- attributes: a scalar is renamed; aligned(N) above T's alignment makes a
-- copy aligned to N (its size rounded up, as gcc does), or nil and "large"
-- past 2^53 bytes; otherwise T itself.
function M.typedef(T, name, attrs)
  local r = record(T)
  if r.kind == "scalar" then return L.scalar(r.ctype, name, math.max(r.align, attrs.aligned or 1)) end
  if attrs.aligned and attrs.aligned > r.align then
    local copy = L.copy_record(T)
    copy.align, copy.size = attrs.aligned, align_up(r.size, attrs.aligned)
    if copy.size > MAX_SIZE then return nil, "large" end
    return L.seal(copy)
  end
  return T
end

return M
