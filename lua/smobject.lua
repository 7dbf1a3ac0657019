--- smobject: System V shared memory for Lua 5.4, with a memory counter that
-- survives crashes.  The C core (smobject.core) does the system calls and
-- the bounds-checked access; this file adds what is best written in Lua.
-- @module smobject

local core = require("smobject.core")

local smo = {}
for k, v in pairs(core) do
  if k ~= "methods" and k ~= "ctypes" and k ~= "bookkeeping" then smo[k] = v end
end

local methods = core.methods
local spack, sunpack, spacksize = string.pack, string.unpack, string.packsize
local type, select, pcall, error = type, select, pcall, error

--- Packs values with a `string.pack` format straight into the segment.
-- Alignment (`!`) is relative to `offset`, as `string.pack`'s is to the start
-- of its string.
-- @param offset 0-based byte offset
-- @param fmt a `string.pack` format
-- @return the offset just past what was written
function methods.pack(self, offset, fmt, ...)
  if type(fmt) ~= "string" then
    error("bad argument #2 to 'pack' (string.pack format expected, got " .. type(fmt) .. ")", 2)
  end
  local s = spack(fmt, ...)
  self:write(offset, s)
  return offset + #s
end

--- Unpacks values with a `string.unpack` format straight from the segment.
-- @return the values, then the offset just past them
function methods.unpack(self, offset, fmt)
  if type(fmt) ~= "string" then
    error("bad argument #2 to 'unpack' (string.unpack format expected, got " .. type(fmt) .. ")", 2)
  end
  -- Fixed-size formats read only their bytes; 's' and 'z' need the rest.
  local ok, n = pcall(spacksize, fmt)
  local bytes
  if ok and n <= #self - (math.type(offset) == "integer" and offset or 0) then
    bytes = self:read(offset, n)
  else
    bytes = self:read(offset)
  end
  local res = table.pack(sunpack(fmt, bytes))
  res[res.n] = offset + res[res.n] - 1
  return table.unpack(res, 1, res.n)
end

--- Information only smobject has about a key: `{ semid, count, owned }`, or
-- `nil, msg, errno` when the key has no smobject bookkeeping.
smo.bookkeeping = core.bookkeeping

local _ = select
return smo
