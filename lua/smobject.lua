--- smobject: System V shared memory for Lua, with a memory counter that
-- survives crashes.  The C core (smobject.core) does the system calls and
-- the bounds-checked access; this file adds what is best written in Lua.
-- @module smobject

local compat = require("smobject.compat")

-- The signs, in a core's symbol table, of the Lua it was built for (the
-- first match wins: 5.4 has 5.3's functions too).
local BUILT_FOR = {
  { "Lua 5.4", { "lua_newuserdatauv", "lua_getiuservalue", "lua_setiuservalue" } },
  { "Lua 5.3", { "lua_rotate", "lua_geti", "lua_isinteger" } },
  { "Lua 5.2", { "lua_callk", "lua_pcallk", "lua_rawlen", "lua_getuservalue" } },
  { "Lua 5.1 or LuaJIT", { "lua_objlen", "lua_setfenv", "lua_getfenv", "luaL_register" } },
}

-- The Lua the core at path was built for, or nil when unknown.
local function built_for(path)
  local f = path and io.open(path, "rb")
  if not f then return nil end
  local bytes = f:read("*a") or ""
  f:close()
  for _, sign in ipairs(BUILT_FOR) do
    for _, symbol in ipairs(sign[2]) do
      if bytes:find("\0" .. symbol .. "\0", 1, true) then return sign[1] end
    end
  end
  return nil
end

-- The C core; a core built for another Lua (its loader error: an undefined
-- lua_* or luaL_* symbol, a version mismatch) raises one sentence saying
-- so, and how to build the right one.
local function load_core()
  local ok, core = pcall(require, "smobject.core")
  if ok then return core end
  local msg = tostring(core)
  local symbol = msg:match("undefined symbol: (luaL?_[%w_]+)")
  if not (symbol or msg:find("version mismatch", 1, true) or msg:find("multiple Lua VMs", 1, true)) then
    error(core, 0)
  end
  local path = msg:match("from file '([^']+)'")
  local this = compat.RUNTIME == "LuaJIT" and rawget(_G, "jit").version or _VERSION
  local built = built_for(path)
  local how
  if compat.RUNTIME == "LuaJIT" then
    how = "`make LUA=luajit`, or `make LUA=luajit2` for OpenResty's"
  else
    local v = _VERSION:match("%d+%.%d+")
    how = ("`make LUA=lua%s`, or `luarocks --lua-version=%s make`"):format(v, v)
  end
  error(("smobject's C core%s was built for %s, but this interpreter is %s (%s): build the core for this "
    .. "interpreter (%s) and put that build on package.cpath"):format(path and (" (" .. path .. ")") or "",
    built or "another Lua", this, symbol and ("undefined symbol " .. symbol) or "version mismatch", how), 3)
end

local core = load_core()

local struct = require("smobject.struct")
local view = require("smobject.view")

-- What `require("smobject")` exposes is exactly the documented API (an
-- allowlist); the internals stay in smobject.core, read only by the
-- library's own modules.
local smo = {}
for _, name in ipairs{ "open", "attach", "key", "new", "remove", "list", "limits", "bookkeeping", "errno",
                       "PRIVATE", "sleep", "clock", "getpid", "getuid", "geteuid" } do
  smo[name] = core[name]
end
smo.struct = struct.struct
smo.cdef = struct.cdef
smo.array = struct.array
smo.scope = struct.scope
local dict = require("smobject.dict")
smo.dict = dict.dict
smo.dict_min_size = dict.min_size
core.methods.view = view.view

--- The version of this library.
-- @field _VERSION
-- @usage print(smo._VERSION)   --> smobject 0.2.0
smo._VERSION = "smobject 0.2.0"

--- Error numbers by name (`ENOENT`, `EEXIST`, `EACCES`, `EPERM`, `EINVAL`,
-- `ENOMEM`, `ENOSPC`, `EIDRM`, `ETIMEDOUT`, `EINTR`, `EDEADLK`...), and names
-- by number.
-- @table errno
-- @usage local seg, msg, err = smo.open{ key = 42 }
-- if err == smo.errno.ENOENT then print("no such segment") end

--- The `IPC_PRIVATE` key (0): a segment only its id can name.
-- @field PRIVATE
-- @usage local seg = smo.open{ key = smo.PRIVATE, size = 64, create = true }

local handle_state_of = core.handle_state

--- What x is, as `io.type` tells files: `"smobject"` for an attached
-- handle, `"closed smobject"` for a handle that is closed (or, in the
-- SMObject form, not attached yet), `"view"` for a struct view, `nil` for
-- anything else.
-- @function smo.type
-- @param x any value
-- @treturn string|nil
-- @usage assert(smo.type(seg) == "smobject")
function smo.type(x)
  local state = handle_state_of(x)
  if state then return "smobject" end
  if state == false then return "closed smobject" end
  if view.is_view(x) then return "view" end
  return nil
end

--- The C declarations of a header file, as `smo.cdef` takes them from a
-- string.
-- @function smo.cdef_file
-- @tparam string path the header
-- @param ... what `smo.cdef` takes after the declarations
-- @return what `smo.cdef` returns (the declared types by name)
-- @return[2] nil, message, errno when the file cannot be read
-- @raise on a declaration `smo.cdef` refuses: the message starts with the
-- file's path (`"pose.h: bitfield 'x' ... at line 3, column 9"`), as do
-- the errors of its unsupported types when used
-- @usage local types = assert(smo.cdef_file("pose.h")); local Pose = types.pose
function smo.cdef_file(path, ...)
  if type(path) ~= "string" then
    error(("bad argument #1 to 'cdef_file' (string expected, got %s)"):format(type(path)), 2)
  end
  local ns = struct.check_scope(..., 2, "cdef_file")
  local f, msg, err = io.open(path)
  if not f then return nil, msg, err end
  local text, rmsg, rerr = f:read("*a")       -- ("*a": every version reads it)
  f:close()
  if not text then return nil, ("%s: %s"):format(path, tostring(rmsg)), rerr end
  return struct.cdef_as(text, ns, path)
end

local c_close = core.methods.close

local function closing(handle, ok, ...)
  if not ok then
    pcall(c_close, handle)                -- (fn's error is the one raised)
    error((...), 0)
  end
  c_close(handle)
  return ...
end

--- Runs `fn(handle, ...)` and closes the handle when `fn` returns or
-- raises (re-raising its error), as a `<close>` variable does on 5.4: the
-- scope helper for every Lua version.
-- @function smo.with
-- @param handle a segment handle (from `smo.open`, `smo.attach`, `smo.new`)
-- @tparam function fn what to run; gets the handle and the extra arguments
-- @param ... extra arguments
-- @return `fn`'s results
-- @raise what `fn` raises (after the handle is closed); when handle is not
-- a handle or fn not a function
-- @usage local n = smo.with(assert(smo.open{ key = 42 }), function(seg) return seg:get("int64_t", 0) end)
function smo.with(handle, fn, ...)
  local state, tname = handle_state_of(handle)
  if state == nil then error(("bad argument #1 to 'with' (smobject expected, got %s)"):format(tname), 2) end
  if type(fn) ~= "function" then
    local s, fname = handle_state_of(fn)
    error(("bad argument #2 to 'with' (function expected, got %s)"):format(s == nil and fname or "smobject"), 2)
  end
  return closing(handle, pcall(fn, handle, ...))
end

--- Segment methods written in Lua.
-- @section lua_methods

local methods = core.methods
local type, pcall, error = type, pcall, error
local getinfo = debug.getinfo
local spack, sunpack, spacksize = string.pack, string.unpack, string.packsize
local tpack, tunpack = compat.pack, compat.unpack
-- debug.getinfo's "t" (istailcall) exists from 5.2 on; 5.1 and LuaJIT raise on it
local NT = pcall(getinfo, 1, "t") and "nt" or "n"
local handle_state = core.handle_state
local c_size, c_read, c_write = methods.size, methods.read, methods.write
local c_lock, c_unlock, c_holds_lock = methods.lock, methods.unlock, methods.holds_lock

-- Errors of the methods below follow the C methods': luaL_argerror's
-- numbering (self is not counted in a method call, and a bad self there is
-- "calling 'f' on bad self"), raised from the line that called the method.
local lua_methods = {}   -- the methods, to find them on the stack

-- The stack level of the innermost of lua_methods, as seen from the
-- function that calls method_level (1 = that function).
local function method_level()
  local level = 2
  repeat
    local ar = getinfo(level, "f")
    if ar == nil then return 1 end
    level = level + 1
  until lua_methods[ar.func]
  return level - 2
end

-- Raises msg from the line that called the method.
local function raise(msg)
  error(msg, method_level() + 1)
end

-- Raises "bad argument #arg to 'name' (why)" for argument arg (self is #1)
-- of the method.  A Lua function run by a tail call (`return seg:pack(...)`)
-- cannot see how it was called, and its caller's frame is gone (the
-- position is then that of the caller's caller, as for any Lua error): the
-- usual forms are assumed, a method call unless self is wrong.  LuaJIT
-- shows no trace of a tail call: there a method run with no name (a tail
-- call, or a call from C such as pcall(seg.publish, seg, ...)) is assumed
-- a tail call, as the C methods assume (smo_argerror, csrc/compat.h).
local LUAJIT = type(rawget(_G, "jit")) == "table"
local function argerror(arg, name, why)
  local level = method_level()
  local ar = getinfo(level, NT)
  local tail = ar and ar.istailcall
  if NT == "n" then                       -- 5.1 shows a tail call as a frame of its own; LuaJIT not at all
    local up = getinfo(level + 1, "S")
    tail = up ~= nil and up.what == "tail" or LUAJIT and ar ~= nil and ar.name == nil
  end
  if ar and (ar.namewhat == "method" or (tail and arg > 1)) then
    arg = arg - 1
    if arg == 0 then error(("calling '%s' on bad self (%s)"):format(name, why), level + 1) end
  end
  error(("bad argument #%d to '%s' (%s)"):format(arg, name, why), level + 1)
end

-- The type name luaL_typeerror would give v.
local function typename(v)
  local size, name = handle_state(v)
  if size == nil then return name end
  return "smobject"
end

-- The slow paths of the checks, called once a fast test in the method has
-- failed; they raise.

-- self is not an attached handle, or is read-only for a write: the
-- messages of a closed or read-only handle are the C methods' own.
local function bad_handle(name, self)
  local size, tname = handle_state(self)
  if size == nil then argerror(1, name, "smobject expected, got " .. tname) end
  local _, msg
  if size == false then _, msg = pcall(c_size, self) else _, msg = pcall(c_write, self, 0, "") end
  raise(msg)
end

-- An integer argument that is neither an integer nor an integral float
-- (handle_state takes those, as luaL_checkinteger does; strings are refused).
local function bad_integer(name, arg, v, what)
  if type(v) ~= "number" then argerror(arg, name, ("%s expected, got %s"):format(what, typename(v))) end
  argerror(arg, name, "number has no integer representation")
end

local function bad_format(name, fmt)
  argerror(3, name, "string.pack format expected, got " .. typename(fmt))
end

local function bad_function(name, arg, fn)
  argerror(arg, name, "function expected, got " .. typename(fn))
end

-- The offset (#2) is out of range for a width-byte access.
local function span_error(name, off, width, size)
  argerror(2, name, ("offset %d out of range (%d-byte access in a %d-byte segment)"):format(off, width, size))
end

-- A uint32_t sequence counter at off is outside the segment or misaligned.
local function bad_seq(name, off, size)
  if off < 0 or size < 4 or off > size - 4 then span_error(name, off, 4, size) end
  argerror(2, name, ("sequence counter offset %d is misaligned for a uint32_t"):format(off))
end

-- Re-raises an error of string.pack/unpack as one of seg:pack/unpack: pack's
-- value arguments stand two places further right (self and offset come
-- first); every other error is the format's (#3 counting self), the data
-- being the segment itself.
local function reraise(name, err)
  local n, why = tostring(err):match("^bad argument #(%d+) to '[^']*' %((.*)%)$")
  n = (n and name == "pack" and tonumber(n) > 1) and tonumber(n) + 2 or 3
  why = why or tostring(err)
  if why == "data string too short" then why = "format reads past the end of the segment" end
  argerror(n, name, why)
end

--- Packs values with a `string.pack` format straight into the segment.
-- Alignment (`!`) is relative to `offset`, as `string.pack`'s is to the start
-- of its string.
-- @function Segment:pack
-- @tparam integer offset 0-based byte offset
-- @tparam string fmt a `string.pack` format
-- @param ... the values
-- @treturn integer the offset just past what was written
-- @raise when the bytes do not fit, on a bad format or value, a read-only or closed handle
-- @usage local nxt = seg:pack(0, "<i4d", 1, 2.5)
-- Where string.pack does not exist (before 5.3), seg:pack and seg:unpack
-- raise this, naming the version needed.
local function needs_pack(name)
  raise(("seg:%s needs string.%s (Lua 5.3 or later); this is %s"):format(name, name, compat.RUNTIME))
end

function methods.pack(self, offset, fmt, ...)
  if not spack then needs_pack("pack") end
  local size, readonly, off = handle_state(self, offset)
  if not size then bad_handle("pack", self) end
  if not off then bad_integer("pack", 2, offset, "integer offset") end
  if type(fmt) ~= "string" then bad_format("pack", fmt) end
  local ok, s = pcall(spack, fmt, ...)
  if not ok then reraise("pack", s) end
  local n = #s
  if off < 0 or n > size or off > size - n then span_error("pack", off, n, size) end
  if readonly then bad_handle("pack", self) end
  c_write(self, off, s)
  return off + n
end

--- Unpacks values with a `string.unpack` format straight from the segment.
-- @function Segment:unpack
-- @tparam integer offset 0-based byte offset
-- @tparam string fmt a `string.unpack` format
-- @return the values, then the offset just past them
-- @raise when the format reads past the end, on a bad format, a closed handle
-- @usage local n, x, nxt = seg:unpack(0, "<i4d")
function methods.unpack(self, offset, fmt)
  if not sunpack then needs_pack("unpack") end
  local size, _, off = handle_state(self, offset)
  if not size then bad_handle("unpack", self) end
  if not off then bad_integer("unpack", 2, offset, "integer offset") end
  if type(fmt) ~= "string" then bad_format("unpack", fmt) end
  -- A fixed-size format reads only its bytes; 's' and 'z' need the rest.
  local fixed, n = pcall(spacksize, fmt)
  if not fixed then n = 0 end
  if off < 0 or off > size then span_error("unpack", off, n, size) end
  local res = tpack(pcall(sunpack, fmt, c_read(self, off, fixed and n <= size - off and n or nil)))
  if not res[1] then reraise("unpack", res[2]) end
  local last = res.n
  res[last] = off + res[last] - 1
  return tunpack(res, 2, last)
end

local function unlocked(self, ok, ...)
  if c_holds_lock(self) then c_unlock(self) end
  if not ok then error((...), 0) end
  return ...
end

--- Runs `fn(...)` holding the segment's lock; releases it also when `fn`
-- raises, and re-raises the error.
-- @function Segment:with_lock
-- @tparam function fn what to run
-- @param ... its arguments
-- @return `fn`'s results
-- @return[2] nil, message, errno when the lock cannot be had (`EIDRM`, `EDEADLK`)
-- @raise what `fn` raises; when `fn` is not a function, on a closed handle or one without a lock
-- @usage local n = seg:with_lock(function() local v = seg:get("int64_t", 0) + 1; seg:set("int64_t", 0, v); return v end)
function methods.with_lock(self, fn, ...)
  local size, _, _, isfn = handle_state(self, nil, fn)
  if not size then bad_handle("with_lock", self) end
  if not isfn then bad_function("with_lock", 2, fn) end
  -- (lock's own errors, such as a segment without a lock, from our caller's line)
  local done, ok, msg, err = pcall(c_lock, self)
  if not done then raise(ok) end
  if not ok then return nil, msg, err end
  return unlocked(self, pcall(fn, ...))
end

local function published(self, seq_off, locked_here, ok, ...)
  -- (fn may have closed the handle, or released the lock itself)
  if handle_state(self) then
    self:publish_end(seq_off)
    if locked_here and self:holds_lock() then self:unlock() end
  end
  if not ok then error((...), 0) end
  return ...
end

--- The writer's side of a sequence counter (the `uint32_t` at `seq_off`):
-- runs `fn(...)` with the counter odd, so that `snapshot` never returns
-- bytes written half-way. It holds the segment's lock meanwhile (taking it
-- unless this handle already holds it), so writers take turns, and a writer
-- that died mid-write is known dead: the next `publish` finds the counter odd
-- while holding the lock, takes that write over (the counter stays odd) and
-- ends it, and readers resume with its bytes. Write the whole record then:
-- what it does not write may be half-written by the dead writer. A live
-- writer, however slow, holds the lock, so it is never "repaired" from under
-- itself. Writers that use `publish_begin`
-- directly should hold the lock too. On a `PRIVATE` segment (no lock) the
-- counter is not repaired. It does not wake readers sleeping in
-- `wait(seq_off, seen)`: call `wake(seq_off)` after it.
-- @function Segment:publish
-- @tparam integer seq_off the counter, aligned to 4
-- @tparam function fn the writes
-- @param ... its arguments
-- @return `fn`'s results
-- @return[2] nil, message, errno when the lock cannot be had (`EIDRM`)
-- @raise what `fn` raises (the counter is made even again, and the lock
-- released, first); on a misaligned counter, a `fn` that is not a function,
-- a read-only or closed handle
-- @usage seg:publish(0, function() seg:set("double", 8, x) end)
local c_publish_begin = methods.publish_begin
local function begin(self, seq_off)
  -- Odd while this handle holds the lock: the writer that made it odd died
  -- holding it.  Its begin is taken over (the counter stays odd, so no
  -- reader takes its half-written bytes), and this write's end closes it.
  if self:holds_lock() and self:atomic_load("uint32_t", seq_off) % 2 == 1 then return true end
  -- (called by pcall, not from this line: its error carries no position of
  -- the library's, and raise gives it the caller's)
  return pcall(c_publish_begin, self, seq_off)
end

function methods.publish(self, seq_off, fn, ...)
  local size, readonly, off, isfn = handle_state(self, seq_off, fn)
  if not size then bad_handle("publish", self) end
  if not off then bad_integer("publish", 2, seq_off, "integer offset") end
  if off < 0 or size < 4 or off > size - 4 or off % 4 ~= 0 then bad_seq("publish", off, size) end
  seq_off = off
  if not isfn then bad_function("publish", 3, fn) end
  if readonly then bad_handle("publish", self) end
  local locked_here = false
  if self:lockable() and not self:holds_lock() then
    local ok, msg, err = self:lock()
    if not ok then return nil, msg, err end
    locked_here = true
  end
  local ok, err = begin(self, seq_off)
  if not ok then
    if locked_here then self:unlock() end
    raise(err)
  end
  return published(self, seq_off, locked_here, pcall(fn, ...))
end

--- A typed FFI pointer into the segment (LuaJIT): a cdata `T *` (`const T
-- *` on a read-only handle) for the struct laid out as the layout `T`,
-- declared to the FFI from `T:cdecl()` and checked member by member against
-- the layout; the bounds and alignment are checked here, once. Reading and
-- writing its fields is then the FFI's own, at memory speed; atomics, waits
-- and snapshots on it are `smobject.ffi`'s. An array layout gives a pointer
-- to its element 0. The view keeps the handle alive; after `close` it
-- points at private zeroed memory until it is collected. What the FFI does
-- not check (indexes past an array member, pointer arithmetic, casts, and
-- pointers derived from the view, which keep nothing alive) is listed in
-- `smobject.ffi`.
-- @function Segment:ffi_view
-- @tparam Layout T a layout
-- @tparam[opt=0] integer offset aligned to `T.align`
-- @return the cdata pointer
-- @raise where the runtime has no FFI (naming it); when `T` does not fit at
-- `offset`, on a misaligned offset, a closed handle
-- @usage local v = seg:ffi_view(Pose); v.x = v.x + 1
local has_jit_ffi, jit_ffi = false, nil
if LUAJIT then has_jit_ffi, jit_ffi = pcall(require, "smobject.ffi") end
if has_jit_ffi then
  methods.ffi_view = jit_ffi.view
  methods.ptr = jit_ffi.ptr
else
  function methods.ffi_view()
    raise(("seg:ffi_view needs LuaJIT's FFI; this is %s (seg:view gives the same fields here)"):format(
      compat.RUNTIME))
  end
end

for _, name in ipairs({ "pack", "unpack", "with_lock", "publish", "ffi_view" }) do lua_methods[methods[name]] = true end

return smo
