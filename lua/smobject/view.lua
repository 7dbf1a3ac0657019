--- Struct views: `seg:view(T [, offset])` and the view methods written in Lua.
-- Field access itself (`v.x`, `v.x = 1`, `v.gps.lat`, `v.m[1][2]`) is in C
-- (csrc/view.c); this file compiles layouts for it and adds what is not hot:
-- atomics and wait/wake on fields, sequence-counter snapshots, `pairs`,
-- `tostring`.
-- @module smobject.view

local core = require("smobject.core")
local struct = require("smobject.struct")

local M = {}
local methods = core.view_methods
local meta = core.view_meta
local view_info, new_view, decode = core.view_info, core.new_view, core.view_decode

-- Layout -> compiled holder (a userdata of this Lua state).
local compiled = setmetatable({}, { __mode = "k" })

local desc_of

local function field_desc(T, name, offset)
  local d = { name = name, offset = offset, size = T.size }
  if T.kind == "scalar" then
    d.kind, d.ctype = "scalar", T.ctype
  elseif T.kind == "string" then
    d.kind = "string"
  else
    d.kind, d.type = T.kind == "array" and "array" or "struct", desc_of(T)
  end
  return d
end

function desc_of(T)
  if T.kind == "array" then
    return { kind = "array", size = T.size, count = T.count, elem = field_desc(T.elem, nil, 0), layout = T }
  end
  local fields = {}
  for _, m in ipairs(T:members()) do fields[#fields + 1] = field_desc(m.type, m.name, m.offset) end
  return { kind = "struct", size = T.size, fields = fields, layout = T }
end

local function holder_of(T)
  local h = compiled[T]
  if not h then
    h = core.compile_layout(desc_of(T))
    compiled[T] = h
  end
  return h
end

--- seg:view(T [, offset]): a view of layout T (a struct, union or array
-- layout) at a 0-based offset; it must fit inside the segment.
function M.view(seg, T, offset)
  offset = offset or 0
  if not struct.is_layout(T) or T.kind == "scalar" or T.kind == "string" then
    error("bad argument #1 to 'view' (struct or array layout expected, got " ..
      (struct.is_layout(T) and T.kind or type(T)) .. ")", 2)
  end
  if math.type(offset) ~= "integer" then
    error("bad argument #2 to 'view' (integer offset expected, got " .. type(offset) .. ")", 2)
  end
  local size = seg:size()
  if offset < 0 or T.size > size or offset > size - T.size then
    error(("bad argument #2 to 'view' (a %d-byte %s at offset %d does not fit in a %d-byte segment)")
      :format(T.size, T.name or T.kind, offset, size), 2)
  end
  return new_view(seg, holder_of(T), offset)
end

-- Member paths already resolved, per layout: path -> { offset, type }.
local resolved = setmetatable({}, { __mode = "k" })

-- The segment, absolute offset and layout of a field of view v.
local function field(v, name, fname)
  local seg, base, T = view_info(v)
  local paths = resolved[T]
  if not paths then
    paths = {}
    resolved[T] = paths
  end
  local r = paths[name]
  if not r then
    if type(name) ~= "string" then
      error(("bad argument #1 to '%s' (field path expected, got %s)"):format(fname, type(name)), 3)
    end
    local ok, off, FT = pcall(T.offsetof, T, name)
    if not ok then error(("%s: %s"):format(fname, (tostring(off):gsub("^offsetof: ", ""))), 3) end
    r = { off, FT }
    paths[name] = r
  end
  return seg, base + r[1], r[2], base, T
end

local function integer_field(v, name, fname)
  local seg, off, FT = field(v, name, fname)
  if FT.kind ~= "scalar" then
    error(("%s: field '%s' is a %s, not an integer"):format(fname, name, FT.name or FT.kind), 3)
  end
  return seg, off, FT.ctype
end

--- v:atomic_load(field) and friends: the segment's atomics on a field.
function methods.atomic_load(v, name)
  local seg, off, ctype = integer_field(v, name, "atomic_load")
  return seg:atomic_load(ctype, off)
end

function methods.atomic_store(v, name, value)
  local seg, off, ctype = integer_field(v, name, "atomic_store")
  return seg:atomic_store(ctype, off, value)
end

function methods.atomic_add(v, name, delta)
  local seg, off, ctype = integer_field(v, name, "atomic_add")
  return seg:atomic_add(ctype, off, delta)
end

function methods.atomic_cas(v, name, expected, desired)
  local seg, off, ctype = integer_field(v, name, "atomic_cas")
  return seg:atomic_cas(ctype, off, expected, desired)
end

local function uint32_field(v, name, fname)
  local seg, off, ctype = integer_field(v, name, fname)
  if ctype ~= "uint32_t" and ctype ~= "unsigned int" and ctype ~= "unsigned" then
    error(("%s: field '%s' must be a uint32_t, not %s"):format(fname, name, ctype), 3)
  end
  return seg, off
end

--- v:wait(field, expected [, timeout]) / v:wake(field [, n]) on a uint32_t field.
function methods.wait(v, name, expected, timeout)
  local seg, off = uint32_field(v, name, "wait")
  return seg:wait(off, expected, timeout)
end

function methods.wake(v, name, n)
  local seg, off = uint32_field(v, name, "wake")
  return seg:wake(off, n)
end

--- v:publish(seq, fn, ...): the writer's side of the one-writer pattern:
-- runs fn(v, ...) with the uint32_t sequence field `seq` odd.
function methods.publish(v, seq, fn, ...)
  local seg, off = uint32_field(v, seq, "publish")
  if type(fn) ~= "function" then error("bad argument #2 to 'publish' (function expected, got " .. type(fn) .. ")", 2) end
  return seg:publish(off, fn, v, ...)
end

--- v:snapshot(seq [, timeout]): a consistent copy of the whole struct as a
-- plain table (like v:get()), taken while no write was under way.
function methods.snapshot(v, seq, timeout)
  local seg, off, FT, base, T = field(v, seq, "snapshot")
  if FT.ctype ~= "uint32_t" and FT.ctype ~= "unsigned int" and FT.ctype ~= "unsigned" then
    uint32_field(v, seq, "snapshot")   -- raises with the reason
  end
  local bytes, msg, err = seg:snapshot(off, base, T.size, timeout)
  if not bytes then return nil, msg, err end
  return decode(v, bytes)
end

--- v:offsetof(path): the absolute segment offset of a member path.
function methods.offsetof(v, path)
  local _, off = field(v, path, "offsetof")
  return off
end

--- v:layout(): the layout this view shows.
function methods.layout(v)
  local _, _, T = view_info(v)
  return T
end

-- pairs(v): fields in declaration order (arrays: indices 0..n-1).
meta.__pairs = function(v)
  local _, _, T = view_info(v)
  if T.kind == "array" then
    local i = -1
    return function()
      i = i + 1
      if i < T.count then return i, v[i] end
    end, v, nil
  end
  local list, i = T:members(), 0
  return function()
    i = i + 1
    local m = list[i]
    if m then return m.name, v[m.name] end
  end, v, nil
end

-- Formats a plain copy x of layout T, fields in declaration order.
local function format_value(x, T, depth)
  if type(x) == "string" then return ("%q"):format(x) end
  if type(x) ~= "table" then return tostring(x) end
  if depth > 4 then return "{...}" end
  local parts = {}
  if T.kind == "array" then
    for i = 1, math.min(#x, 16) do parts[#parts + 1] = format_value(x[i], T.elem, depth + 1) end
    if #x > 16 then parts[#parts + 1] = ("... (%d more)"):format(#x - 16) end
  else
    for _, m in ipairs(T:members()) do
      parts[#parts + 1] = ("%s = %s"):format(m.name, format_value(x[m.name], m.type, depth + 1))
    end
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end
M.format = format_value

-- tostring(v): the type, its offset in the segment, and its values.
meta.__tostring = function(v)
  local _, base, T = view_info(v)
  local ok, copy = pcall(v.get, v)
  if not ok then return ("%s @%d (closed)"):format(T.name or T.kind, base) end
  return ("%s @%d %s"):format(T.name or T.kind, base, format_value(copy, T, 1))
end

return M
