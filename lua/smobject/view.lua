--- Struct views: `seg:view(T [, offset])` and the view methods written in Lua.
-- Field access itself (`v.x`, `v.x = 1`, `v.gps.lat`, `v.m[1][2]`) is in C
-- (csrc/view.c); this file compiles layouts for it and adds what is not hot:
-- atomics and wait/wake on fields, sequence-counter snapshots, `pairs`,
-- `tostring`.
-- @module smobject

local core = require("smobject.core")
local errors = require("smobject.errors")
local compat = require("smobject.compat")
local layouts = require("smobject.cdecl.layout")

local M = {}
local methods = core.view_methods
local meta = core.view_meta
local seg_methods = core.methods
local view_info, new_view, view_snapshot = core.view_info, core.new_view, core.view_snapshot
local seg_snapshot = core.methods.snapshot
local raise, argerror, typename = errors.raise, errors.argerror, errors.typename

local STALE = "attempt to use a view of an earlier attachment (make a new view)"

-- The words after "unknown field 'name'" (csrc/view.c asks, on its error
-- path only): the struct, and the closest field or the list of fields.
core.view_hint(function(T, name)
  local names = {}
  for i, m in ipairs(T:members()) do names[i] = m.name end
  return (" in %s%s"):format(T.name or T.kind, errors.suggestion(name, names))
end)

-- The handle's own "closed" message (segment.c words it), raised at the
-- caller's line.
local function raise_closed(seg)
  local _, msg = pcall(seg_methods.size, seg)
  raise(msg)
end

--- A struct view of the segment (a method of Segment).  The view belongs to
-- the handle's current attachment: once the handle is closed (or attached
-- again by `create`/`access`), using the view raises.
-- @function Segment:view
-- @tparam Layout T a struct, union or array layout
-- @tparam[opt=0] integer offset 0-based; the view must fit inside the segment
-- @treturn View the view
-- @raise when it does not fit, or T is not a struct or array layout
-- @usage local v = seg:view(Pose); v.x = 1
function M.view(seg, T, offset)
  local holder, size, name = layouts.compiled(T)
  if offset == nil then offset = 0 end
  local v, n, why, segsize = new_view(seg, holder or false, offset)
  if v then return v end
  if why == "handle" then argerror(1, "view", "smobject expected, got " .. typename(seg)) end
  if why == "closed" then raise_closed(seg) end
  if why == "layout" then
    argerror(2, "view", "struct or array layout expected, got " .. (layouts.is_layout(T) and T.kind or typename(T)))
  end
  if why == "type" then argerror(n, "view", "number expected, got " .. typename(offset)) end
  if why == "integer" then argerror(n, "view", "number has no integer representation") end
  argerror(n, "view", ("a %d-byte %s at offset %d does not fit in a %d-byte segment"):format(size, name, offset,
    segsize))
end

-- A view made by core.new_view from a compiled type that carries no layout
-- of ours (only the internal functions can make one).
local NO_LAYOUT = "attempt to use a view without a layout (made from a bare compiled type)"

-- The segment, base offset and layout of view v (argument 1 of method
-- fname); raises unless v is a live view.
local function info(v, fname)
  if getmetatable(v) ~= meta then argerror(1, fname, "smobject view expected, got " .. typename(v)) end
  local seg, base, T, state = view_info(v)
  if state == "closed" then raise_closed(seg) end
  if state then raise(STALE) end
  if not layouts.is_layout(T) then raise(NO_LAYOUT) end
  return seg, base, T
end

-- Member paths already resolved, per layout: path -> { offset, type }.
local resolved = setmetatable({}, { __mode = "k" })

-- The segment, absolute offset and layout of a field of view v.
local function field(v, name, fname)
  local seg, base, T = info(v, fname)
  local paths = resolved[T]
  if not paths then
    paths = {}
    resolved[T] = paths
  end
  local r = paths[name]
  if not r then
    if type(name) ~= "string" then argerror(2, fname, "field path expected, got " .. typename(name)) end
    local ok, off, FT = pcall(T.offsetof, T, name)
    if not ok then raise(("%s: %s"):format(fname, (tostring(off):gsub("^offsetof: ", "")))) end
    r = { off, FT }
    paths[name] = r
  end
  return seg, base + r[1], r[2], base, T
end

local function integer_field(v, name, fname)
  local seg, off, FT = field(v, name, fname)
  if FT.kind ~= "scalar" then
    raise(("%s: field '%s' is a %s, not an integer"):format(fname, name, FT.name or FT.kind))
  end
  return seg, off, FT.ctype
end

-- Argument n (counting self) of method fname as an integer when it is a float with an
-- exact integer value (anything else goes to the segment method as it is).
local function int_arg(x, n, fname)
  if type(x) ~= "number" or compat.is_integer(x) then return x end
  local i = compat.to_integer(x)
  if not i then argerror(n, fname, "number has no integer representation") end
  return i
end

-- Re-raises the error err of a segment method called for view method fname
-- at the caller's line; an argument error names the view method's argument:
-- the segment's argument k is the view's max(2, k - shift) (the field path
-- stands for the segment's type and offset).
-- (Before 5.2 -- 5.1, LuaJIT -- the core names a method run by pcall, which
-- those runtimes do not, and numbers it as a method call, not counting self
-- (smo_argerror, csrc/compat.h): its number is then one lower.)
local NAMED_LOW = _VERSION == "Lua 5.1"
local function seg_error(fname, shift, err)
  local k, name, why = tostring(err):match("^bad argument #(%d+) to '([^']*)' %((.*)%)$")
  if k then
    k = tonumber(k)
    if NAMED_LOW and name ~= "?" then k = k + 1 end
    argerror(math.max(2, k - shift), fname, why)
  end
  raise(err)
end

--- Atomic load of an integer field (`Segment:atomic_load` at its offset).
-- @function View:atomic_load
-- @tparam string field a member path of an integer field
-- @treturn integer the value
-- @usage local n = v:atomic_load("count")
function methods.atomic_load(v, name)
  local seg, off, ctype = integer_field(v, name, "atomic_load")
  local ok, r = pcall(seg_methods.atomic_load, seg, ctype, off)
  if not ok then seg_error("atomic_load", 1, r) end
  return r
end

--- Atomic store into an integer field.
-- @function View:atomic_store
-- @tparam string field a member path of an integer field
-- @tparam integer value fits the field's type
-- @usage v:atomic_store("flag", 1)
function methods.atomic_store(v, name, value)
  local seg, off, ctype = integer_field(v, name, "atomic_store")
  local ok, err = pcall(seg_methods.atomic_store, seg, ctype, off, int_arg(value, 3, "atomic_store"))
  if not ok then seg_error("atomic_store", 1, err) end
end

--- Atomic fetch-and-add on an integer field (the segment's atomics on a
-- field: `atomic_load`, `atomic_store`, `atomic_add`, `atomic_cas`).
-- @function View:atomic_add
-- @tparam string field a member path of an integer field
-- @tparam integer delta the amount
-- @treturn integer the previous value
-- @raise on a field that is not an integer, or misaligned
-- @usage v:atomic_add("seq", 1)
function methods.atomic_add(v, name, delta)
  local seg, off, ctype = integer_field(v, name, "atomic_add")
  local ok, r = pcall(seg_methods.atomic_add, seg, ctype, off, int_arg(delta, 3, "atomic_add"))
  if not ok then seg_error("atomic_add", 1, r) end
  return r
end

--- Atomic compare-and-swap of an integer field.
-- @function View:atomic_cas
-- @tparam string field a member path of an integer field
-- @tparam integer expected the value to replace
-- @tparam integer desired the new value
-- @treturn boolean `true` when swapped
-- @treturn[opt] integer the current value, when not swapped
-- @usage local ok, cur = v:atomic_cas("owner", 0, 7)
function methods.atomic_cas(v, name, expected, desired)
  local seg, off, ctype = integer_field(v, name, "atomic_cas")
  local ok, swapped, cur = pcall(seg_methods.atomic_cas, seg, ctype, off, int_arg(expected, 3, "atomic_cas"),
    int_arg(desired, 4, "atomic_cas"))
  if not ok then seg_error("atomic_cas", 1, swapped) end
  if swapped then return true end
  return false, cur
end

local function uint32_field(v, name, fname)
  local seg, off, ctype = integer_field(v, name, fname)
  if ctype ~= "uint32_t" and ctype ~= "unsigned int" and ctype ~= "unsigned" then
    raise(("%s: field '%s' must be a uint32_t, not %s"):format(fname, name, ctype))
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
  local ok, r = pcall(seg_methods.wait, seg, off, int_arg(expected, 3, "wait"), timeout)
  if not ok then seg_error("wait", 0, r) end
  return r
end

--- Wakes processes sleeping in `wait` on a `uint32_t` field. Nothing else
-- wakes them (`publish`, assignments and atomics do not): a writer whose
-- readers wait on its sequence field calls `v:wake("seq")` after `publish`.
-- @function View:wake
-- @tparam string field a member path of a `uint32_t` field
-- @tparam[opt] integer n how many at most (default all)
-- @treturn integer how many were woken
-- @usage v:atomic_store("ready", 1); v:wake("ready")
function methods.wake(v, name, n)
  local seg, off = uint32_field(v, name, "wake")
  local ok, r, msg, err = pcall(seg_methods.wake, seg, off, int_arg(n, 3, "wake"))
  if not ok then seg_error("wake", 0, r) end
  return r, msg, err
end

--- The writer's side of the sequence-counter pattern: runs `fn(v, ...)` with
-- the `uint32_t` sequence field `seq` odd, holding the segment's lock (as
-- `Segment:publish` does, which also takes over the write of a writer that
-- died mid-write). It wakes nobody: readers sleeping in `v:wait("seq", seen)`
-- need `v:wake("seq")` after it.
-- @function View:publish
-- @tparam string seq the sequence counter field
-- @tparam function fn the writes; gets the view and the extra arguments
-- @param ... extra arguments
-- @return `fn`'s results
-- @usage v:publish("seq", function(p) p.x, p.y = 1, 2 end)
function methods.publish(v, seq, fn, ...)
  local seg, off = uint32_field(v, seq, "publish")
  if type(fn) ~= "function" then argerror(3, "publish", "function expected, got " .. typename(fn)) end
  -- what Segment:publish would refuse, refused here at the caller's line
  -- (fn runs inside it: its errors must pass untouched)
  if off % 4 ~= 0 then raise(("publish: field '%s' is misaligned for a uint32_t (offset %d)"):format(seq, off)) end
  if select(6, view_info(v)) then raise("attempt to write to a read-only smobject") end
  return seg:publish(off, fn, v, ...)
end

-- Whether x is a sealed object (its metatable protected): not a table to fill.
local function sealed(x)
  local mt = debug.getmetatable(x)
  return mt ~= nil and rawget(mt, "__metatable") ~= nil
end

--- A consistent copy of the whole struct as a plain table (as `get` makes
-- it: arrays as sequences, keys 1..n unless `zero_based`), taken while no
-- write was under way: never a torn write. Given a table `into`, fills it
-- instead, reusing its nested tables: a reader that fills the same table
-- again allocates nothing.
-- @function View:snapshot
-- @tparam string seq the `uint32_t` sequence counter field
-- @tparam[opt=1] number timeout seconds to wait for a writer mid-write
-- @tparam[opt] table into the table to fill (default: a new one); untouched on timeout
-- @tparam[opt] table opts `zero_based = true`: arrays with keys 0..n-1, as the view's indices
-- @treturn table the copy (`into` when given)
-- @return[2] nil, `"timeout"`, `ETIMEDOUT` when the writer died mid-write
-- @usage local pose = assert(v:snapshot("seq")); assert(v:snapshot("seq", reading))
-- Per layout and counter field, once checked: { offset in the struct, struct size }.
local snapshot_plans = setmetatable({}, { __mode = "k" })

-- The option zero_based of argument n of method fname (nil: false).
local function zero_based_option(opts, n, fname)
  if opts == nil then return false end
  if type(opts) ~= "table" then argerror(n, fname, "options table expected, got " .. typename(opts)) end
  local zb = false
  for k, val in next, opts do
    if k ~= "zero_based" then argerror(n, fname, ("unknown option '%s' (options: zero_based)"):format(tostring(k))) end
    if type(val) ~= "boolean" then argerror(n, fname, "option 'zero_based' must be a boolean, got " .. typename(val)) end
    zb = val
  end
  return zb
end

function methods.snapshot(v, seq, a, b, c)
  local seg, base, T = info(v, "snapshot")
  local plans = snapshot_plans[T]
  local plan = plans and plans[seq]
  if not plan then
    local _, off, FT = field(v, seq, "snapshot")
    if FT.ctype ~= "uint32_t" and FT.ctype ~= "unsigned int" and FT.ctype ~= "unsigned" then
      uint32_field(v, seq, "snapshot")   -- raises with the reason
    end
    plan = { off - base, select(5, view_info(v)) }
    plans = plans or {}
    snapshot_plans[T] = plans
    plans[seq] = plan
  end
  -- snapshot(seq, into [, opts]) or snapshot(seq, timeout [, into [, opts]])
  local timeout, into, opts, n = a, b, c, 4
  if type(a) == "table" then timeout, into, opts, n = nil, a, b, 3 end
  if into ~= nil and (type(into) ~= "table" or (getmetatable(into) ~= nil and sealed(into))) then
    argerror(n, "snapshot", "table to fill expected, got " .. typename(into))
  end
  local zb = opts ~= nil and zero_based_option(opts, n + 1, "snapshot")
  local off = base + plan[1]
  if off % 4 ~= 0 or not (timeout == nil or (type(timeout) == "number" and timeout >= 0)) then
    -- what the segment's snapshot refuses, in its words
    local ok, err = pcall(seg_snapshot, seg, off, base, plan[2], timeout)
    if not ok then seg_error("snapshot", 2, err) end
  end
  -- (nothing here can raise: the view is live, the plan and arguments checked, the counter aligned)
  return view_snapshot(v, off, timeout, into, zb)
end

--- Writes a string into a `char[N]` field as bytes, with no NUL when it
-- has N (a C reader must then not look for one: `%.*s`, `strnlen`);
-- shorter ones are NUL-padded. `v.name = s` takes at most N-1 bytes.
-- @function View:set_bytes
-- @tparam string field a member path of a `char[N]` field (`"name"`, `"tags[2]"`)
-- @tparam string s at most N bytes
-- @raise on a field that is not a `char[N]`, a longer string, a read-only or closed segment
-- @usage v:set_bytes("code", "ABCDEFGH")   -- all 8 bytes of a char[8]
function methods.set_bytes(v, name, s)
  local seg, off, FT = field(v, name, "set_bytes")
  if FT.kind ~= "string" then
    raise(("set_bytes: field '%s' (%s) is not a char[N]"):format(name, FT.name or FT.kind))
  end
  if type(s) ~= "string" then argerror(3, "set_bytes", "string expected, got " .. typename(s)) end
  if #s > FT.size then
    raise(("set_bytes: string of %d bytes is too long for char[%d] '%s'"):format(#s, FT.size, name))
  end
  if select(6, view_info(v)) then raise("attempt to write to a read-only smobject") end
  seg:write(off, s)
  if #s < FT.size then seg:fill(off + #s, FT.size - #s, 0) end
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
  if getmetatable(v) ~= meta then argerror(1, "layout", "smobject view expected, got " .. typename(v)) end
  local _, _, T = view_info(v)
  return T
end

-- pairs(v): fields in declaration order (arrays: indices 0..n-1).
--- `pairs(v)`: the members of the view in declaration order, with their
-- values (sub-views for nested structs and arrays).
-- @function View:__pairs
-- @usage for name, value in pairs(v) do print(name, value) end
-- (The iterator reads through a pcall: a read that raises, such as a
-- closed handle or, where numbers are doubles, an int64_t beyond 2^53, is
-- raised again at the loop's line, not at this file's.)
local view_index = meta.__index
local function element(v, key)
  local ok, x = pcall(view_index, v, key)
  if not ok then raise(x) end
  return x
end
meta.__pairs = function(v)
  local _, _, T = info(v, "pairs")
  if T.kind == "array" then
    local i, n = -1, #v
    return function()
      i = i + 1
      if i < n then return i, element(v, i) end
    end, v, nil
  end
  local list, i = T:members(), 0
  return function()
    i = i + 1
    local m = list[i]
    if m then return m.name, element(v, m.name) end
  end, v, nil
end

--- `v:pairs()`: the iterator `pairs(v)` gives on 5.2 and later, for every
-- Lua version (5.1 and LuaJIT do not call `__pairs`).
-- @function View:pairs
-- @usage for name, value in v:pairs() do print(name, value) end
methods.pairs = meta.__pairs

-- A number as 5.3 and later print it, on every runtime: where numbers are
-- doubles, an integer field in full (not 1.1529215046068e+18) and a float
-- or double field with ".0" when integral (2.0, as 5.3+ prints a float).
local FLOATING = { float = true, double = true }
local function number_text(x, T)
  if compat.NATIVE_INTEGERS or type(x) ~= "number" or T.kind ~= "scalar" then return tostring(x) end
  if FLOATING[T.ctype] then
    local s = tostring(x)
    if s:match("^%-?%d+$") then s = s .. ".0" end
    return s
  end
  if compat.is_integer(x) then return ("%d"):format(x) end
  return tostring(x)
end

-- Formats a plain copy x of layout T, fields in declaration order.
local function format_value(x, T, depth)
  if type(x) == "string" then return ("%q"):format(x) end
  if type(x) ~= "table" then return number_text(x, T) end
  if depth > 4 then return "{...}" end
  local parts = {}
  if T.kind == "array" then
    local first = x[0] ~= nil and 0 or 1      -- a copy with zero_based, or not
    local n = #x + 1 - first
    for i = 0, math.min(n, 16) - 1 do parts[#parts + 1] = format_value(x[i + first], T.elem, depth + 1) end
    if n > 16 then parts[#parts + 1] = ("... (%d more)"):format(n - 16) end
  else
    for _, m in ipairs(T:members()) do
      parts[#parts + 1] = ("%s = %s"):format(m.name, format_value(x[m.name], m.type, depth + 1))
    end
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

--- The view's values as one line of text, as `tostring` and `smo watch`
-- show them: `{ x = 1.5, name = "bot", samples = { 0, 0, ... } }`. Given
-- values (a copy from `get` or `snapshot`), formats those instead, as this
-- view's type, or as the type of the member at `path`.
-- @function View:format
-- @param[opt] values a copy of this view's type (or of the member's), 1-based or `zero_based`; default: the
-- view's current values
-- @tparam[opt] string path a member path: format values as that member
-- @treturn string the text
-- @raise on a closed view, or an unknown path
-- @usage print(v:format(assert(v:snapshot("seq"))))
function methods.format(v, values, path)
  local _, _, T = info(v, "format")
  if path ~= nil then
    if type(path) ~= "string" then argerror(3, "format", "member path expected, got " .. typename(path)) end
    local ok, FT = pcall(T.typeof, T, path)
    if not ok then raise(("format: %s"):format((tostring(FT):gsub("^typeof: ", "")))) end
    T = FT
  end
  if values == nil then
    if path ~= nil then argerror(2, "format", "values expected with a path") end
    values = methods.get(v)
  end
  return format_value(values, T, 1)
end

-- Whether x is a view (any state).
function M.is_view(x)
  return getmetatable(x) == meta
end

-- tostring(v): the type, its offset in the segment, and its values (never
-- raises: a view whose attachment ended says so).
--- `tostring(v)`: the type, its offset in the segment and its values (never
-- raises: a view whose attachment ended says so).
-- @function View:__tostring
-- @treturn string `"pose @0 { x = 1.0, y = 2.0 }"`
meta.__tostring = function(v)
  if getmetatable(v) ~= meta then argerror(1, "tostring", "smobject view expected, got " .. typename(v)) end
  local _, base, T, state, size = view_info(v)
  if not layouts.is_layout(T) then return ("view @%d (%d bytes, no layout)"):format(base, size) end
  local name = T.name or T.kind
  if state == "closed" then return ("%s @%d (closed)"):format(name, base) end
  if state then return ("%s @%d (earlier attachment)"):format(name, base) end
  -- (where numbers are doubles, a 64-bit field beyond 2^53 cannot be read: said instead)
  local ok, values = pcall(methods.get, v)
  if not ok then return ("%s @%d (%s)"):format(name, base, (tostring(values):gsub("^[^:]*:%d+: ", ""))) end
  return ("%s @%d %s"):format(name, base, format_value(values, T, 1))
end

return M
