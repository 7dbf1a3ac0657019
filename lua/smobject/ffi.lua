--- The LuaJIT fast path: typed FFI pointers into a segment, with atomics,
-- wait/wake and sequence-counter snapshots that stay in compiled code.
-- `seg:ffi_view(T)` gives a cdata pointer to a struct laid out as the
-- layout `T` (gcc's layout, checked member by member against what the FFI
-- made of `T:cdecl()`), bounds-checked once, when it is made; reading and
-- writing its fields is then the FFI's own, at memory speed. This module
-- adds what plain FFI loads cannot do safely (LuaJIT's compiled code ignores
-- `volatile`, and may hoist a load out of a loop): atomics and waits on
-- fields, through C functions the core exports (`smo_ffi_*`).
--
-- What the FFI does not check, and this module cannot: indexes past an
-- array member, pointer arithmetic, casts (a cast can drop the `const` of a
-- read-only handle's view; writing through it faults), and pointers derived
-- from a view (`v.gps`, `ffi.cast(...)`), which do not keep the segment
-- mapped: keep the view itself reachable while you use them. A view keeps
-- its handle alive; after `seg:close()` it points at private zeroed memory
-- (reads give zeros, writes reach nobody) until the view is collected.
-- Values follow the FFI's conversions: 64-bit integer fields read as
-- `int64_t`/`uint64_t` cdata, `char[N]` as a char array (`ffi.string`),
-- `bool` as a boolean, and numbers written to integer fields are
-- converted as C converts them.
--
-- LuaJIT only: `require("smobject.ffi")` elsewhere raises, naming the runtime.
-- @module smobject.ffi
-- @usage local F = require("smobject.ffi")
-- local v = seg:ffi_view(Pose)
-- v.x = v.x + 1                            -- compiled, about 1 ns
-- local n = F.atomic(v, "count"):add(1)    -- an atomic fetch-and-add

local compat = require("smobject.compat")
local errors = require("smobject.errors")
local L = require("smobject.cdecl.layout")
local emit = require("smobject.cdecl.emit")
local core = require("smobject.core")

local has_ffi, ffi = false, nil
if rawget(_G, "jit") then has_ffi, ffi = pcall(require, "ffi") end
if not has_ffi then
  error(("smobject.ffi needs LuaJIT's FFI; this is %s"):format(compat.RUNTIME), 2)
end

local raise, argerror, typename = errors.raise, errors.argerror, errors.typename
local record = L.record
local pin, unpin, handle_state = core.ffi_pin, core.ffi_unpin, core.handle_state
local E = core.ffi_entry
local cast, istype, new, gc, sizeof, offsetof, alignof = ffi.cast, ffi.istype, ffi.new, ffi.gc, ffi.sizeof,
  ffi.offsetof, ffi.alignof
local EBADF, ETIMEDOUT = core.errno.EBADF, core.errno.ETIMEDOUT

local M = {}

local u8p = ffi.typeof("uint8_t *")
local cu8p = ffi.typeof("const uint8_t *")
local u32p = ffi.typeof("uint32_t *")
local uintptr = ffi.typeof("uintptr_t")

-- The prototypes of csrc/ffi.h, as the FFI sees them (spec 38 checks that
-- they match the header).  The atomics are unsigned; a signed accessor casts
-- the same function to its signed type (the same bits and calling
-- convention).
M.PROTOTYPES = {
  load = "T (*)(const T *)",
  store = "void (*)(T *, T)",
  add = "T (*)(T *, T)",
  exchange = "T (*)(T *, T)",
  cas = "int (*)(T *, T *, T)",
  wait = "int (*)(void *, uint32_t *, uint32_t, double)",
  wake = "int (*)(void *, uint32_t *, int)",
  snapshot = "int (*)(void *, void *, const void *, size_t, const uint32_t *, double)",
  publish_begin = "int (*)(uint32_t *)",
  publish_end = "void (*)(uint32_t *)",
}
local P = M.PROTOTYPES

local c_wait = cast(P.wait, E.wait)
local c_wake = cast(P.wake, E.wake)
local c_publish_begin = cast(P.publish_begin, E.publish_begin)
local c_publish_end = cast(P.publish_end, E.publish_end)
local c_snapshot = cast(P.snapshot, E.snapshot)

-- ------------------------------------------------------------- types

-- Per layout: the FFI type of T and its pointer types (weak: a layout that
-- is gone takes its types along).
local types_of = setmetatable({}, { __mode = "k" })

-- Raises unless the FFI's ctype ct has layout T's size, alignment and
-- member offsets, nested structs included (path: where ct stands in the
-- view's type, for the message).
local function check_offsets(T, ct, path)
  local r = record(T)
  local why
  if sizeof(ct) ~= r.size then
    why = ("sizeof is %s, not %d"):format(tostring(sizeof(ct)), r.size)
  elseif (r.kind == "struct" or r.kind == "union") and alignof(ct) ~= r.align then
    why = ("alignment is %s, not %d"):format(tostring(alignof(ct)), r.align)
  elseif r.kind == "struct" or r.kind == "union" then
    for _, m in ipairs(T:members()) do
      local off = offsetof(ct, m.name)
      if off ~= m.offset then
        why = ("member '%s' is at %s, not %d"):format(m.name, tostring(off), m.offset)
        break
      end
      local inner = m.type
      while record(inner).kind == "array" do inner = record(inner).elem end
      local kind = record(inner).kind
      if kind == "struct" or kind == "union" then
        check_offsets(inner, ffi.typeof(emit.type_of(inner)), path .. m.name .. ".")
      end
    end
  end
  if why then
    raise(("ffi_view: the FFI lays out %s differently from gcc (%s%s): please report this"):format(
      r.name or r.kind, path, why))
  end
end

-- The types of layout T: { value = T's ctype, ptr = T *, cptr = const T * }
-- (for an array, the element's: a view of an array points at element 0).
local function types(T)
  local t = types_of[T]
  if t then return t end
  local r = record(T)
  local target = T
  if r.kind == "array" then target = r.elem end
  if r.kind == "string" then target = L.scalar("char") end
  local ok, ct = pcall(ffi.typeof, emit.type_of(target))
  if not ok then raise(("ffi_view: the FFI refuses the declaration of %s: %s"):format(r.name or r.kind, ct)) end
  check_offsets(target, ct, "")
  local whole = ct
  if r.kind == "array" or r.kind == "string" then whole = ffi.typeof("$[" .. r.count .. "]", ct) end
  t = { value = ct, whole = whole, ptr = ffi.typeof("$ *", ct), cptr = ffi.typeof("const $ *", ct),
        wptr = ffi.typeof("$ *", whole), buf = ffi.typeof("$[1]", whole), size = r.size }
  types_of[T] = t
  return t
end

-- ------------------------------------------------------------- views

-- What we know of each view we made (weak keys: the view's own lifetime).
local views = setmetatable({}, { __mode = "k" })
M._views = views

local function check_view(v, arg, fname)
  local info = views[v]
  if not info then argerror(arg, fname, "smobject FFI view expected, got " .. typename(v)) end
  return info
end

-- p, with a finalizer that unpins seg once p is collected (and so keeps
-- seg alive as long as p is reachable).
local function pinned(seg, p)
  return gc(p, function() unpin(seg) end)
end

--- A typed pointer into the segment: seg:ffi_view(T [, offset]), also a
-- method of every handle on LuaJIT. See `Segment:ffi_view`.
-- @function view
-- @param seg a handle
-- @tparam Layout T a layout
-- @tparam[opt=0] integer offset aligned to T's alignment
-- @return a cdata pointer
function M.view(seg, T, offset)
  local size, readonly, off = handle_state(seg, offset == nil and 0 or offset)
  if size == nil then argerror(1, "ffi_view", "smobject expected, got " .. typename(seg), true) end
  if size == false then raise("attempt to use a closed smobject") end
  local r = record(T)
  if not r then argerror(2, "ffi_view", "smobject layout expected, got " .. typename(T), true) end
  if not off then
    if type(offset) ~= "number" then argerror(3, "ffi_view", "integer offset expected, got " .. typename(offset), true) end
    argerror(3, "ffi_view", "number has no integer representation", true)
  end
  if off < 0 or r.size > size or off > size - r.size then
    argerror(3, "ffi_view", ("%s of %d bytes at offset %d runs past the end of the %d-byte segment"):format(
      r.name or r.kind, r.size, off, size), true)
  end
  if off % r.align ~= 0 then
    argerror(3, "ffi_view", ("offset %d is misaligned for %s (alignment %d)"):format(off, r.name or r.kind, r.align), true)
  end
  local t = types(T)
  local base, _, _, h = pin(seg)
  local v = pinned(seg, cast(readonly and t.cptr or t.ptr, cast(u8p, base) + off))
  -- (h as a void * cdata: a lightuserdata argument would leave compiled code)
  views[v] = { seg = seg, layout = T, types = t, h = cast("void *", h), readonly = readonly, offset = off, seqs = {} }
  return v
end

--- seg:ptr([offset]) on LuaJIT: a `uint8_t *` (`const` on a read-only
-- handle) that keeps the handle alive. See `Segment:ptr`.
-- @function ptr
-- @param seg a handle
-- @tparam[opt=0] integer offset
-- @return a cdata pointer
function M.ptr(seg, offset)
  local size, readonly, off = handle_state(seg, offset == nil and 0 or offset)
  if size == nil then argerror(1, "ptr", "smobject expected, got " .. typename(seg), true) end
  if size == false then raise("attempt to use a closed smobject") end
  if not off then
    if type(offset) ~= "number" then argerror(2, "ptr", "integer offset expected, got " .. typename(offset), true) end
    argerror(2, "ptr", "number has no integer representation", true)
  end
  if off < 0 or off > size then
    argerror(2, "ptr", ("offset %d out of range (a %d-byte segment)"):format(off, size), true)
  end
  local base = pin(seg)
  return pinned(seg, cast(readonly and cu8p or u8p, base) + off)
end

-- The address and type of an integer member path of view v (info its
-- record), checked for an atomic access of its width.
local function member(v, info, path, fname, what)
  if type(path) ~= "string" then argerror(2, fname, "member path expected, got " .. typename(path)) end
  local ok, off, T = pcall(info.layout.offsetof, info.layout, path)
  if not ok then argerror(2, fname, (tostring(off):gsub("^offsetof: ", ""))) end
  local r = record(T)
  local ctype = r.kind == "scalar" and emit.exact(r.ctype)
  if not (ctype and ctype:match("^u?int%d+_t$")) then
    argerror(2, fname, ("member '%s' is %s, not %s"):format(path, r.name or r.kind, what))
  end
  local p = cast(u8p, v) + off
  if tonumber(cast(uintptr, p)) % r.size ~= 0 then
    argerror(2, fname, ("member '%s' is misaligned for a %d-byte atomic"):format(path, r.size))
  end
  return p, ctype, off
end

-- ------------------------------------------------------------- atomics

local accessor_type = {}   -- "uint32_t" -> the accessor ctype

local function closed()
  raise("attempt to use a closed smobject")
end

local function readonly_write()
  raise("attempt to write to a read-only smobject")
end

-- Seconds for wait/snapshot: nil for ever (-1), NaN raises, above 2^31 for ever.
local function timeout_of(t, arg, fname, default, method)
  if t == nil then return default end
  if type(t) ~= "number" then argerror(arg, fname, "number of seconds expected, got " .. typename(t), method) end
  if t ~= t then argerror(arg, fname, "timeout is NaN (give seconds >= 0, or nil to wait for ever)", method) end
  if t < 0 then argerror(arg, fname, "timeout must not be negative", method) end
  if t > 2147483648 then return -1 end
  return t
end

local i64, u64 = ffi.typeof("int64_t"), ffi.typeof("uint64_t")
local floor = math.floor

-- An integer argument of an accessor method (#n counting self): a number
-- with an integer value within the 64-bit range, or an int64_t/uint64_t
-- cdata; converted to the member's type as C converts (wrapping).
local function check_int(x, n, fname)
  local tx = type(x)
  if tx == "number" then
    if x == floor(x) and x >= -9223372036854775808 and x < 18446744073709551616 then return end
    argerror(n, fname, "number has no integer representation", true)
  end
  if tx == "cdata" and (istype(i64, x) or istype(u64, x)) then return end
  argerror(n, fname, "integer expected, got " .. typename(x), true)
end

local function make_accessor(ctype)
  local bits = tonumber(ctype:match("(%d+)_t$"))
  local proto = function(p) return (p:gsub("T", ctype)) end
  local load = cast(proto(P.load), E["load_u" .. bits])
  local store = cast(proto(P.store), E["store_u" .. bits])
  local add = cast(proto(P.add), E["add_u" .. bits])
  local exchange = cast(proto(P.exchange), E["exchange_u" .. bits])
  local cas = cast(proto(P.cas), E["cas_u" .. bits])
  local methods = {}
  -- (one type, whose ro field says whether the handle is read-only: the
  -- test stays in compiled code, one compare)
  --- An atomic accessor of an integer member (from `atomic`); every
  -- operation is sequentially consistent, as `Segment:atomic_*` are.
  -- @type Atomic
  --- The value.
  -- @function Atomic:load
  function methods.load(a) return load(a.p) end
  --- Stores `x`.
  -- @function Atomic:store
  function methods.store(a, x)
    if a.ro ~= 0 then readonly_write() end
    check_int(x, 2, "store")
    store(a.p, x)
  end
  --- Adds `d` (wrapping); the value before.
  -- @function Atomic:add
  function methods.add(a, d)
    if a.ro ~= 0 then readonly_write() end
    check_int(d, 2, "add")
    return add(a.p, d)
  end
  --- Stores `x`; the value before.
  -- @function Atomic:exchange
  function methods.exchange(a, x)
    if a.ro ~= 0 then readonly_write() end
    check_int(x, 2, "exchange")
    return exchange(a.p, x)
  end
  --- Stores `desired` if the value is `expected`: `true`, or `false` and the value found.
  -- @function Atomic:cas
  function methods.cas(a, expected, desired)
    if a.ro ~= 0 then readonly_write() end
    check_int(expected, 2, "cas")
    check_int(desired, 3, "cas")
    a.tmp[0] = expected
    if cas(a.p, a.tmp, desired) ~= 0 then return true end
    return false, a.tmp[0]
  end
  if bits == 32 then
    --- (32-bit members) Sleeps while the value is `expected`, as `Segment:wait`: `true` when woken
    -- or changed, `false` on timeout.
    -- @function Atomic:wait
    function methods.wait(a, expected, timeout)
      check_int(expected, 2, "wait")
      local rc = c_wait(a.h, cast(u32p, a.p), expected, timeout_of(timeout, 3, "wait", -1, true))
      if rc < 0 then
        if rc == -EBADF then closed() end
        argerror(2, "wait", "bad arguments (" .. tostring(rc) .. ")", true)
      end
      return rc == 1
    end
    --- (32-bit members) Wakes at most `n` (default all) sleepers, as `Segment:wake`; how many.
    -- @function Atomic:wake
    function methods.wake(a, n)
      if n == nil then n = 2147483647 end
      if type(n) ~= "number" or n < 0 or n ~= floor(n) then
        argerror(2, "wake", "count (an integer >= 0) expected, got " .. (type(n) == "number" and tostring(n)
          or typename(n)), true)
      end
      local rc = c_wake(a.h, cast(u32p, a.p), n > 2147483647 and 2147483647 or n)
      if rc < 0 then
        if rc == -EBADF then closed() end
        return nil, "futex: " .. tostring(-rc), -rc
      end
      return rc
    end
  end
  accessor_type[ctype] = ffi.metatype(ffi.typeof(("struct { %s *p; void *h; int32_t ro; %s tmp[1]; }"):format(ctype,
    ctype)), { __index = methods, __tostring = function(a)
      return ("smobject atomic %s%s"):format(a.ro ~= 0 and "const " or "", ctype)
    end })
end

for _, bits in ipairs({ 8, 16, 32, 64 }) do
  make_accessor(("uint%d_t"):format(bits))
  make_accessor(("int%d_t"):format(bits))
end

--- An atomic accessor of an integer member of an FFI view: its methods
-- `load()`, `store(x)`, `add(d)`, `exchange(x)`, `cas(expected, desired)`
-- and, for 32-bit members, `wait(expected [, timeout])` and `wake([n])`
-- are calls of the core's C functions from compiled code (about 2 ns).
-- 64-bit values are `int64_t`/`uint64_t` cdata. The accessor keeps the view
-- (and so the segment) alive; on a read-only handle's view, the writing
-- methods raise.
-- @function atomic
-- @param v a view from `seg:ffi_view`
-- @tparam string path an integer member: `"count"`, `"stats.n"`, `"slots[3]"`
-- @treturn Atomic the accessor
-- @raise on a member that is not an integer, or misaligned
-- @usage local hits = F.atomic(v, "hits"); hits:add(1)
function M.atomic(v, path)
  local info = check_view(v, 1, "atomic")
  local p, ctype = member(v, info, path, "atomic", "an integer")
  local a = accessor_type[ctype]({ p = cast(ctype .. " *", p), h = info.h, ro = info.readonly and 1 or 0 })
  return gc(a, function() local _ = v end)
end

-- ------------------------------------------------------------- snapshots

-- The counter at seq_path of view v, as a uint32_t pointer (cached per path).
local function seq_of(v, info, seq_path, fname)
  local p = info.seqs[seq_path]
  if p then return p end
  local q, ctype = member(v, info, seq_path, fname, "a uint32_t sequence counter")
  if ctype ~= "uint32_t" then
    argerror(2, fname, ("member '%s' is %s, not a uint32_t sequence counter"):format(seq_path, ctype))
  end
  p = cast(u32p, q)
  info.seqs[seq_path] = p
  return p
end

-- The copies snapshot made, each a pointer to its private buffer (kept
-- alive here while the pointer is): only these may be filled again.
-- (A pointer, not a struct value, goes to C: LuaJIT compiles passing a
-- pointer as void *, not a struct.)
local copies = setmetatable({}, { __mode = "k" })

local function new_copy(t)
  local buf = new(t.buf)
  local p = cast(t.wptr, buf)
  copies[p] = buf
  return p
end

--- A copy of the view's struct taken while no write is under way, as
-- `Segment:snapshot` (the reader's side of the sequence counter `seq`, a
-- `uint32_t` member): one C call, a copy retried until it is not torn.
-- The copy is private memory, given as a pointer (`s.x` reads it).
-- @function snapshot
-- @param v a view from `seg:ffi_view`
-- @tparam string seq the counter's member path
-- @tparam[opt=1] number timeout seconds to wait for a writer that is
-- mid-write (`math.huge`: for ever)
-- @param[opt] into a copy an earlier snapshot of a view of the same
-- layout returned, to fill again (no allocation)
-- @return the copy (a cdata pointer), or `into`
-- @return[2] nil, `"timeout"`, `ETIMEDOUT` (the writer died mid-write)
-- @raise on a closed handle, a counter that is not a `uint32_t` member
-- @usage local s = assert(F.snapshot(v, "seq")); print(s.x)
function M.snapshot(v, seq, timeout, into)
  local info = check_view(v, 1, "snapshot")
  local sp = seq_of(v, info, seq, "snapshot")
  local t = info.types
  if into == nil then
    into = new_copy(t)
  elseif not (istype(t.wptr, into) and copies[into]) then
    argerror(4, "snapshot", ("a copy made by snapshot of a view of %s expected, got %s"):format(
      tostring(record(info.layout).name), typename(into)))
  end
  local rc = c_snapshot(info.h, into, v, t.size, sp, timeout_of(timeout, 3, "snapshot", 1))
  if rc == 0 then return into end
  if rc == ETIMEDOUT then return nil, "timeout", ETIMEDOUT end
  if rc == -EBADF then closed() end
  argerror(3, "snapshot", "bad timeout")
end

--- The writer's side, as `Segment:publish`: runs `fn(...)` with the counter
-- odd, holding the segment's lock (so that a writer that died mid-write is
-- repaired by the next).
-- @function publish
-- @param v a view from `seg:ffi_view`
-- @tparam string seq the counter's member path
-- @tparam function fn the writes
-- @param ... its arguments
-- @return fn's results
-- @return[2] nil, message, errno when the lock cannot be had
-- @usage F.publish(v, "seq", function() v.x = 1; v.y = 2 end)
function M.publish(v, seq, fn, ...)
  local info = check_view(v, 1, "publish")
  seq_of(v, info, seq, "publish")                  -- (a uint32_t member, aligned)
  return info.seg:publish(info.offset + (info.layout:offsetof(seq)), fn, ...)
end

--- The writer's side without the lock (one writer, which never dies mid-write):
-- makes the counter odd; raises when it is odd already.
-- @function publish_begin
-- @param v a view
-- @tparam string seq the counter's member path
function M.publish_begin(v, seq)
  local info = check_view(v, 1, "publish_begin")
  if info.readonly then readonly_write() end
  if c_publish_begin(seq_of(v, info, seq, "publish_begin")) ~= 0 then
    raise("publish: the sequence counter is odd (a write is under way or its writer died; "
      .. "F.publish takes the lock and repairs a dead writer's counter)")
  end
end

--- Makes the counter even again.
-- @function publish_end
-- @param v a view
-- @tparam string seq the counter's member path
function M.publish_end(v, seq)
  local info = check_view(v, 1, "publish_end")
  if info.readonly then readonly_write() end
  c_publish_end(seq_of(v, info, seq, "publish_end"))
end

--- Whether v is a view made by `seg:ffi_view`.
-- @function is_view
function M.is_view(v) return views[v] ~= nil end

return M
