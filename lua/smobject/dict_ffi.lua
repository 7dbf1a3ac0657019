-- smo.dict on LuaJIT: get, get_stale, the stores and incr through the FFI
-- (the core's smo_ffi_dict_* functions, csrc/ffi.h), so that a loop of them
-- stays in compiled code.  Anything unusual (a bad argument, a list, a
-- closed dictionary, an integer beyond 2^53) is handed to the C method of
-- the same name, which raises or answers exactly as on other runtimes.
-- (Private: lua/smobject/dict.lua installs it where LuaJIT's FFI exists.)

local ffi = require("ffi")
local core = require("smobject.core")

local E = core.ffi_entry
local M = {}

if not pcall(ffi.typeof, "struct smo_ffi_dval") then
  ffi.cdef[[
    struct smo_ffi_dval {
      int32_t type; uint32_t flags; int64_t i; double d; int32_t exact; int32_t pad;
      size_t len; const char *s; char *buf; size_t cap;
    };
  ]]
end

local f_get = ffi.cast("int (*)(void *, const char *, size_t, int, struct smo_ffi_dval *, int *)", E.dict_get)
local f_store = ffi.cast("int (*)(void *, const char *, size_t, int, int, const struct smo_ffi_dval *, double, int *)",
  E.dict_store)
local f_incr = ffi.cast("int (*)(void *, const char *, size_t, const struct smo_ffi_dval *, int, "
  .. "const struct smo_ffi_dval *, double, struct smo_ffi_dval *, int *)", E.dict_incr)

local new, fstring, floor = ffi.new, ffi.string, math.floor
local out = new("struct smo_ffi_dval")
local vin = new("struct smo_ffi_dval")
local vinit = new("struct smo_ffi_dval")
local flag = new("int[1]")
local buf_size = 4096
local buf = new("char[?]", buf_size)
out.buf, out.cap = buf, buf_size

local LIMIT = 9007199254740992    -- 2^53: integral numbers within it are integers (as the C binding stores them)

-- v into a value struct; false for what the C method must handle (it raises).
local function value_in(v, x)
  local t = type(x)
  if t == "number" then
    if x == floor(x) and x >= -LIMIT and x <= LIMIT then
      v.type, v.i = 3, x
    else
      v.type, v.d = 2, x
    end
  elseif t == "string" then
    v.type, v.s, v.len = 4, x, #x
  elseif t == "boolean" then
    v.type, v.i = 1, x and 1 or 0
  elseif x == nil then
    v.type = 0
  else
    return false
  end
  return true
end

local function good_key(k)
  if type(k) ~= "string" then return false end
  local n = #k
  return n > 0 and n <= 65535
end

local function value_out()
  local t = out.type
  if t == 2 then return out.d end
  if t == 3 then return out.d end
  if t == 1 then return out.i ~= 0 end
  return fstring(buf, out.len)
end

local function grow(n)
  buf_size = math.max(tonumber(n), buf_size * 2)
  buf = new("char[?]", buf_size)
  out.buf, out.cap = buf, buf_size
end

-- Installs the FFI versions into the methods table of the dictionaries.
function M.install(methods)
  local c_get, c_get_stale, c_incr = methods.get, methods.get_stale, methods.incr

  local function get(d, key)
    if not good_key(key) then return c_get(d, key) end
    while true do
      local rc = f_get(d, key, #key, 0, out, flag)
      if rc == 0 then
        if out.type == 3 and out.exact == 0 then return c_get(d, key) end
        local fl = out.flags
        if fl ~= 0 then return value_out(), fl end
        return value_out()
      end
      if rc == 1 then return nil end
      if rc ~= 8 then return c_get(d, key) end
      grow(out.len)
    end
  end

  local function get_stale(d, key)
    if not good_key(key) then return c_get_stale(d, key) end
    while true do
      local rc = f_get(d, key, #key, 1, out, flag)
      if rc == 0 then
        if out.type == 3 and out.exact == 0 then return c_get_stale(d, key) end
        local fl = out.flags
        return value_out(), fl ~= 0 and fl or nil, flag[0] ~= 0
      end
      if rc == 1 then return nil end
      if rc ~= 8 then return c_get_stale(d, key) end
      grow(out.len)
    end
  end

  local RESULT = { [2] = "exists", [1] = "not found", [3] = "no memory" }

  local function store(name, how, evict)
    local c_fn = methods[name]
    local nil_ok = how == 0
    methods[name] = function(d, key, value, exptime, flags)
      if not good_key(key) or not value_in(vin, value) or (value == nil and not nil_ok) then
        return c_fn(d, key, value, exptime, flags)
      end
      if exptime == nil then
        exptime = 0
      elseif type(exptime) ~= "number" or exptime ~= exptime or exptime < 0 then
        return c_fn(d, key, value, exptime, flags)
      end
      if flags == nil then
        vin.flags = 0
      elseif type(flags) == "number" and flags >= 0 and flags <= 4294967295 and flags == floor(flags) then
        vin.flags = flags
      else
        return c_fn(d, key, value, exptime, flags)
      end
      local rc = f_store(d, key, #key, how, evict, vin, exptime, flag)
      if rc == 0 then return true, nil, flag[0] ~= 0 end
      local err = RESULT[rc]
      if err then return false, err, flag[0] ~= 0 end
      return c_fn(d, key, value, exptime, flags)          -- (closed, read-only...: its error)
    end
  end
  store("set", 0, 1)
  store("safe_set", 0, 0)
  store("add", 1, 1)
  store("safe_add", 1, 0)
  store("replace", 2, 1)

  methods.incr = function(d, key, n, init, init_ttl)
    if not good_key(key) or type(n) ~= "number" or not value_in(vin, n) then return c_incr(d, key, n, init, init_ttl) end
    local has_init = init ~= nil
    if has_init and (type(init) ~= "number" or not value_in(vinit, init)) then
      return c_incr(d, key, n, init, init_ttl)
    end
    if init_ttl == nil then
      init_ttl = 0
    elseif not has_init or type(init_ttl) ~= "number" or init_ttl ~= init_ttl or init_ttl < 0 then
      return c_incr(d, key, n, init, init_ttl)
    end
    local rc = f_incr(d, key, #key, vin, has_init and 1 or 0, vinit, init_ttl, out, flag)
    if rc == 0 then
      if out.type == 3 and out.exact == 0 then return c_incr(d, key, 0) end
      if has_init then return out.d, nil, flag[0] ~= 0 end
      return out.d
    end
    if rc == 1 or rc == 4 or rc == 3 then
      local err = rc == 1 and "not found" or rc == 4 and "not a number" or "no memory"
      if has_init then return nil, err, flag[0] ~= 0 end
      return nil, err
    end
    return c_incr(d, key, n, init, init_ttl)
  end

  methods.get = get
  methods.get_stale = get_stale
end

return M
