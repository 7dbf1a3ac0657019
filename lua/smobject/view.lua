--- Struct views: `seg:view(T [, offset])` and the view methods written in Lua.
-- Field access itself (`v.x`, `v.x = 1`, `v.gps.lat`, `v.m[1][2]`) is in C
-- (csrc/view.c); this file compiles layouts for it and adds what is not hot:
-- atomics and wait/wake on fields, sequence-counter snapshots, `pairs`,
-- `tostring`.
-- @submodule smobject

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

--- A struct view of the segment (a method of Segment).
-- @function Segment:view
-- @tparam Layout T a struct, union or array layout
-- @tparam[opt=0] integer offset 0-based; the view must fit inside the segment
-- @treturn View the view
-- @raise when it does not fit, or T is not a struct or array layout
-- @usage local v = seg:view(Pose); v.x = 1
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

--- The segment's atomics on an integer field: `atomic_load(field)`,
-- `atomic_store(field, value)`, `atomic_add(field, delta)` (returns the
-- previous value), `atomic_cas(field, expected, desired)`.
-- @function View:atomic_add
-- @tparam string field a member path of an integer field
-- @tparam integer delta the amount
-- @treturn integer the previous value
-- @raise on a field that is not an integer, or misaligned
-- @usage v:atomic_add("seq", 1)
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

--- `Segment:wait` and `Segment:wake` on a `uint32_t` field:
-- `wait(field, expected [, timeout])`, `wake(field [, n])`.
-- @function View:wait
-- @tparam string field a `uint32_t` member path
-- @tparam integer expected sleep while the field equals this
-- @tparam[opt] number timeout seconds
-- @treturn boolean `true` when woken or changed, `false` on timeout
-- @usage while v.count == seen do v:wait("count", seen) end
function methods.wait(v, name, expected, timeout)
  local seg, off = uint32_field(v, name, "wait")
  return seg:wait(off, expected, timeout)
end

function methods.wake(v, name, n)
  local seg, off = uint32_field(v, name, "wake")
  return seg:wake(off, n)
end

--- The writer's side of the one-writer pattern: runs `fn(v, ...)` with the
-- `uint32_t` sequence field `seq` odd. One writer at a time.
-- @function View:publish
-- @tparam string seq the sequence counter field
-- @tparam function fn the writes; gets the view and the extra arguments
-- @param ... extra arguments
-- @return `fn`'s results
-- @usage v:publish("seq", function(p) p.x, p.y = 1, 2 end)
function methods.publish(v, seq, fn, ...)
  local seg, off = uint32_field(v, seq, "publish")
  if type(fn) ~= "function" then error("bad argument #2 to 'publish' (function expected, got " .. type(fn) .. ")", 2) end
  return seg:publish(off, fn, v, ...)
end

--- A consistent copy of the whole struct as a plain table (like `get`),
-- taken while no write was under way: never a torn write.
-- @function View:snapshot
-- @tparam string seq the `uint32_t` sequence counter field
-- @tparam[opt=1] number timeout seconds to wait for a writer mid-write
-- @treturn table the copy
-- @return[2] nil, `"timeout"`, `ETIMEDOUT` when the writer died mid-write
-- @usage local pose = assert(v:snapshot("seq"))
function methods.snapshot(v, seq, timeout)
  local seg, off, FT, base, T = field(v, seq, "snapshot")
  if FT.ctype ~= "uint32_t" and FT.ctype ~= "unsigned int" and FT.ctype ~= "unsigned" then
    uint32_field(v, seq, "snapshot")   -- raises with the reason
  end
  local bytes, msg, err = seg:snapshot(off, base, T.size, timeout)
  if not bytes then return nil, msg, err end
  return decode(v, bytes)
end

--- The segment offset of a member path of this view.
-- @function View:offsetof
-- @tparam string path a member path
-- @treturn integer the offset in the segment
-- @usage seg:atomic_add("int32_t", v:offsetof("seq"), 1)
function methods.offsetof(v, path)
  local _, off = field(v, path, "offsetof")
  return off
end

--- The layout this view shows.
-- @function View:layout
-- @treturn Layout
-- @usage print(v:layout().size)
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
