--- smobject: System V shared memory for Lua 5.4, with a memory counter that
-- survives crashes.  The C core (smobject.core) does the system calls and
-- the bounds-checked access; this file adds what is best written in Lua.
-- @module smobject

local core = require("smobject.core")

local smo = {}
local INTERNAL = { methods = true, ctypes = true, ctype_align = true, max_align = true, bookkeeping = true,
                   compile_layout = true, new_view = true, view_info = true, view_decode = true,
                   view_meta = true, view_methods = true }
for k, v in pairs(core) do
  if not INTERNAL[k] then smo[k] = v end
end

local struct = require("smobject.struct")
local view = require("smobject.view")

smo.struct = struct.struct
smo.cdef = struct.cdef
smo.array = struct.array
smo.bookkeeping = core.bookkeeping
core.methods.view = view.view

--- Error numbers by name (`ENOENT`, `EEXIST`, `EACCES`, `EPERM`, `EINVAL`,
-- `ENOMEM`, `ENOSPC`, `EIDRM`, `ETIMEDOUT`, `EINTR`, `EDEADLK`...), and names
-- by number.
-- @table errno
-- @usage local seg, msg, err = smo.open{ key = 42 }
-- if err == smo.errno.ENOENT then print("no such segment") end

--- The `IPC_PRIVATE` key (0): a segment only its id can name.
-- @field PRIVATE
-- @usage local seg = smo.open{ key = smo.PRIVATE, size = 64, create = true }

--- Segment methods written in Lua.
-- @section lua_methods

local methods = core.methods
local type, pcall, error, select = type, pcall, error, select
local spack, sunpack, spacksize = string.pack, string.unpack, string.packsize

-- Re-raises an error of string.pack/unpack as one of seg:pack/unpack: pack's
-- arguments stand one place further right (the offset comes first); every
-- unpack error is the format's (#2), the data being the segment itself.
local function reraise(name, err)
  local n, why = tostring(err):match("bad argument #(%d+) to '[^']*' %((.*)%)$")
  if not n then error(err, 3) end
  n = name == "pack" and tonumber(n) + 1 or 2
  if why == "data string too short" then why = "format reads past the end of the segment" end
  error(("bad argument #%d to '%s' (%s)"):format(n, name, why), 3)
end

local function check_format(name, fmt)
  if type(fmt) ~= "string" then
    error(("bad argument #2 to '%s' (string.pack format expected, got %s)"):format(name, type(fmt)), 3)
  end
end

--- Packs values with a `string.pack` format straight into the segment.
-- Alignment (`!`) is relative to `offset`, as `string.pack`'s is to the start
-- of its string.
-- @function Segment:pack
-- @tparam integer offset 0-based byte offset
-- @tparam string fmt a `string.pack` format
-- @param ... the values
-- @treturn integer the offset just past what was written
-- @raise when the bytes do not fit, on a bad format or value
-- @usage local nxt = seg:pack(0, "<i4d", 1, 2.5)
function methods.pack(self, offset, fmt, ...)
  check_format("pack", fmt)
  local ok, s = pcall(spack, fmt, ...)
  if not ok then reraise("pack", s) end
  self:write(offset, s)
  return offset + #s
end

local function unpacked(offset, ok, ...)
  if not ok then reraise("unpack", (...)) end
  local n = select("#", ...)
  local res = { ... }
  res[n] = offset + res[n] - 1
  return table.unpack(res, 1, n)
end

--- Unpacks values with a `string.unpack` format straight from the segment.
-- @function Segment:unpack
-- @tparam integer offset 0-based byte offset
-- @tparam string fmt a `string.unpack` format
-- @return the values, then the offset just past them
-- @raise when the format reads past the end, on a bad format
-- @usage local n, x, nxt = seg:unpack(0, "<i4d")
function methods.unpack(self, offset, fmt)
  check_format("unpack", fmt)
  -- A fixed-size format reads only its bytes; 's' and 'z' need the rest.
  local fixed, n = pcall(spacksize, fmt)
  local size = self:size()
  local bytes
  if fixed and math.type(offset) == "integer" and offset >= 0 and offset <= size and n <= size - offset then
    bytes = self:read(offset, n)
  else
    bytes = self:read(offset)
  end
  return unpacked(offset, pcall(sunpack, fmt, bytes))
end

local function unlocked(self, ok, ...)
  if self:holds_lock() then self:unlock() end
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
-- @raise what `fn` raises
-- @usage local n = seg:with_lock(function() local v = seg:get("int64_t", 0) + 1; seg:set("int64_t", 0, v); return v end)
function methods.with_lock(self, fn, ...)
  local ok, msg, err = self:lock()
  if not ok then return nil, msg, err end
  return unlocked(self, pcall(fn, ...))
end

local function published(self, seq_off, locked_here, ok, ...)
  self:publish_end(seq_off)
  if locked_here then self:unlock() end
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
-- what it does not write may be half-written by the dead writer. A live writer, however slow, holds the lock, so it
-- is never "repaired" from under itself. Writers that use `publish_begin`
-- directly should hold the lock too. On a `PRIVATE` segment (no lock) the
-- counter is not repaired.
-- @function Segment:publish
-- @tparam integer seq_off the counter, aligned to 4
-- @tparam function fn the writes
-- @param ... its arguments
-- @return `fn`'s results
-- @return[2] nil, message, errno when the lock cannot be had (`EIDRM`)
-- @raise what `fn` raises (the counter is made even again, and the lock released, first)
-- @usage seg:publish(0, function() seg:set("double", 8, x) end)
local function begin(self, seq_off)
  -- Odd while this handle holds the lock: the writer that made it odd died
  -- holding it.  Its begin is taken over (the counter stays odd, so no
  -- reader takes its half-written bytes), and this write's end closes it.
  if self:holds_lock() and self:atomic_load("uint32_t", seq_off) % 2 == 1 then return end
  self:publish_begin(seq_off)
end

function methods.publish(self, seq_off, fn, ...)
  local locked_here = false
  if self:lockable() and not self:holds_lock() then
    local ok, msg, err = self:lock()
    if not ok then return nil, msg, err end
    locked_here = true
  end
  local ok, err = pcall(begin, self, seq_off)
  if not ok then
    if locked_here then self:unlock() end
    error(err, 2)
  end
  return published(self, seq_off, locked_here, pcall(fn, ...))
end

return smo
