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

--- Layouts from C declarations (see smobject.struct).
smo.struct = struct.struct
smo.cdef = struct.cdef
smo.array = struct.array

--- seg:view(T [, offset]): a struct view (see smobject.view).
core.methods.view = view.view

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
-- @param offset 0-based byte offset
-- @param fmt a `string.pack` format
-- @return the offset just past what was written
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
-- @return the values, then the offset just past them
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
-- raises (and re-raises the error). Returns `fn`'s results, or
-- `nil, msg, errno` when the lock cannot be had.
function methods.with_lock(self, fn, ...)
  local ok, msg, err = self:lock()
  if not ok then return nil, msg, err end
  return unlocked(self, pcall(fn, ...))
end

local function published(self, seq_off, ok, ...)
  self:publish_end(seq_off)
  if not ok then error((...), 0) end
  return ...
end

--- The writer's side of a sequence counter (the uint32_t at `seq_off`):
-- runs `fn(...)` with the counter odd, so that `seg:snapshot` never returns
-- bytes written half-way. One writer at a time.
function methods.publish(self, seq_off, fn, ...)
  self:publish_begin(seq_off)
  return published(self, seq_off, pcall(fn, ...))
end

--- Information only smobject has about a key: `{ semid, count, owned }`, or
-- `nil, msg, errno` when the key has no smobject bookkeeping.
smo.bookkeeping = core.bookkeeping

return smo
