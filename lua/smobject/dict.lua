--- smo.dict: a crash-safe shared dictionary with the API of OpenResty's
-- `ngx.shared.DICT`, for any set of processes (csrc/dict.c is the store,
-- csrc/dict_lua.c its binding; this file opens and formats).
-- @module smobject

local core = require("smobject.core")
local errors = require("smobject.errors")

local raise, typename = errors.raise, errors.typename
local open = core.open
local state_of, format, new = core.dict_state, core.dict_format, core.dict_new
local EINVAL, EPERM = core.errno.EINVAL, core.errno.EPERM

local M = {}

-- On LuaJIT the hot methods go through the FFI (smobject.dict_ffi).
if rawget(_G, "jit") and pcall(require, "ffi") then
  require("smobject.dict_ffi").install(core.dict_meta.__index)
end

-- How long a reader waits for a dictionary another process is laying out.
local FORMAT_WAIT = 2

local function key_text(seg)
  local ok, k = pcall(seg.key, seg)
  return ok and k and ("key 0x%08x"):format(k % 2 ^ 32) or tostring(seg)
end

--- Opens (or makes) a shared dictionary: `smo.open`'s options (`key` or
-- `path` + `proj`, `size`, `create`, `mode`, `persist`, `readonly`), and
-- the memory counter removes it with its last user. Its methods are
-- `ngx.shared.DICT`'s: `get`, `get_stale`, `set`, `safe_set`, `add`,
-- `safe_add`, `replace`, `delete`, `incr`, `ttl`, `expire`, `flush_all`,
-- `flush_expired`, `get_keys`, `capacity`, `free_space`, and `close`
-- (also `<close>` and `__gc`).
-- @function smo.dict
-- @tparam table opts as `smo.open`'s; `size` (bytes, at least
-- `smo.dict_min_size`) when it may be created
-- @return the dictionary
-- @return[2] nil, message, errno (`smo.open`'s failures; a segment that is
-- not a dictionary: `EINVAL`; a dictionary laid out for an owner-only mode
-- whose segment others may now write: `EPERM`)
-- @raise on bad options, as `smo.open`
-- @usage local d = assert(smo.dict{ key = 0x5d1c7000, size = 64 * 2^20, create = true })
function M.dict(opts)
  if type(opts) ~= "table" then
    raise(("bad argument #1 to 'dict' (table of options expected, got %s)"):format(typename(opts)))
  end
  local called, seg, msg, err = pcall(open, opts)
  if not called then
    -- smo.open's misuse errors, as smo.dict's, from the caller's line
    raise((tostring(seg):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("to 'open'", "to 'dict'")))
  end
  if not seg then return nil, msg, err end
  local where = key_text(seg)
  local _, readonly = core.handle_state(seg)
  -- Who may write it decides its locks: robust mutexes in the segment (64
  -- lanes, and a lock per bucket) when only its owner may, the segment's kernel lock (one lane)
  -- when group or others may, since glibc follows pointers kept in a robust
  -- mutex and another uid must not be able to write those.
  local st = seg:stat()
  local others_write = st and st.mode and st.mode % 64 >= 16 or false
  local state, theirs, ours = state_of(seg)
  if state == "version" then
    seg:close()
    return nil, ("smo.dict: %s is a dictionary of format %d, and this smobject reads format %d (open it with "
      .. "the smobject that made it)"):format(where, theirs, ours), EINVAL
  end
  if state ~= "ready" and readonly then
    local deadline = core.clock() + FORMAT_WAIT
    while state == "formatting" or state == "blank" do
      if core.clock() > deadline then break end
      core.sleep(0.001)
      state = state_of(seg)
    end
  elseif state ~= "ready" then
    if state == "foreign" then
      seg:close()
      return nil, ("smo.dict: %s names a segment that is not a dictionary"):format(where), EINVAL
    end
    -- blank (new) or formatting (its formatter died): laid out under the lock
    if others_write and not seg:lockable() then
      seg:close()
      return nil, ("smo.dict: %s has mode %o, which lets other users write it, so its writers take the segment's "
        .. "lock, which a PRIVATE segment has not: give it a key or a path, or a mode only its owner may write"):format(
        where, st.mode), EPERM
    end
    if seg:lockable() then
      local ok, fmsg, ferr = seg:with_lock(function()
        if state_of(seg) ~= "ready" then return format(seg, others_write) end
        return true
      end)
      if not ok then
        seg:close()
        return nil, fmsg, ferr
      end
    else
      local ok, fmsg, ferr = format(seg, others_write)
      if not ok then
        seg:close()
        return nil, fmsg, ferr
      end
    end
    state = state_of(seg)
  end
  if state ~= "ready" then
    seg:close()
    return nil, ("smo.dict: %s is not a dictionary (yet: %s)"):format(where, state), EINVAL
  end
  local d, nmsg, nerr = new(seg, others_write)
  if not d then seg:close() end
  return d, nmsg, nerr
end

-- The dictionary of segment id shmid, read-only (for `smo dict`): the
-- dictionary, or nil, message, errno.  (Internal: bin/smo.)
function M.attach_readonly(shmid)
  local seg, msg, err = core.attach(shmid, { readonly = true, any_owner = true })
  if not seg then return nil, msg, err end
  local where = key_text(seg)
  local state = state_of(seg)
  if state ~= "ready" then
    seg:close()
    return nil, ("smo.dict: %s is not a dictionary%s"):format(where, state == "formatting" and " (yet)" or ""),
      EINVAL
  end
  return new(seg)
end

--- The smallest `size` a dictionary may have, in bytes.
-- @field smo.dict_min_size
M.min_size = core.dict_min_size()

return M
