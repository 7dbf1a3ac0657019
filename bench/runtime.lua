-- The per-runtime benchmarks of make bench: the classic API's hot paths on
-- whichever Lua runs this (5.1 to 5.4, LuaJIT, OpenResty's LuaJIT), and on
-- LuaJIT the FFI paths too when the core has them.  bench/bench.lua runs it
-- once per runtime with LUA_CPATH on that runtime's build, and loads what it
-- prints: a Lua chunk returning a table of nanoseconds per operation.
-- usage: runtime.lua LUA ROOT KEY [ROUNDS [PP_RUNS]]
--   LUA      the command of this interpreter (the ping-pong partner runs it too)
--   ROOT     the tree (for bench/pingpong.lua)
--   KEY      the System V key of the lock and ping-pong segment (decimal)
--   ROUNDS   runs per operation, the best kept (default 9)
--   PP_RUNS  ping-pong runs of 10000 round trips, the best kept (default 5)
-- Portable: no 5.3+ syntax or library calls (no integer division, bitwise
-- operators, <close>, string.pack, math.tointeger).
local smo = require("smobject")
local now = smo.clock

local LUA, ROOT, KEY = arg[1], arg[2], tonumber(arg[3])
assert(LUA and ROOT and KEY, "usage: runtime.lua LUA ROOT KEY [ROUNDS [PP_RUNS]]")
local jit = rawget(_G, "jit")
local loadstring = rawget(_G, "loadstring") or load

-- Each measured run lasts at least this long (seconds), best of ROUNDS.
local MIN_TIME, ROUNDS = 0.06, tonumber(arg[4]) or 9

local sink

local function timed(fn, n)
  local t0 = now()
  fn(n)
  return now() - t0
end
-- Best of ROUNDS runs of fn(n), in nanoseconds per operation, with n grown
-- until one run takes MIN_TIME (growing also warms LuaJIT's traces up).
local function measure(fn, rounds)
  local n = 1000
  local dt = timed(fn, n)
  while dt < MIN_TIME do
    -- at most 10x at a time: a first run can be slow (the JIT compiling);
    -- at most 2^30 (loops write i to an int32_t)
    local grow = dt > 0 and 1.2 * MIN_TIME / dt or 10
    n = math.min(math.floor(n * math.min(math.max(grow, 2), 10)), 2 ^ 30)
    dt = timed(fn, n)
  end
  local best = dt * 1e9 / n
  for _ = 2, rounds or ROUNDS do best = math.min(best, timed(fn, n) * 1e9 / n) end
  return best
end

-- A loop function compiled from its own source: LuaJIT keeps traces per
-- function prototype, so two loops over different cdata types must not
-- share one (the second would run on side traces).
local function fresh(src, ...)
  return assert(loadstring(src))(...)
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local r = { runtime = jit and jit.version or _VERSION, rounds = ROUNDS, min_time = MIN_TIME,
  pp_runs = tonumber(arg[5]) or 5, pp_rounds = 10000 }

-- 1. scalars (the same loops as bench.lua's 5.4 rows)
local seg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
r.get = measure(function(n) local s = seg for _ = 1, n do sink = s:get("double", 0) end end)
r.set = measure(function(n) local s = seg for i = 1, n do s:set("int32_t", 8, i) end end)
seg:close()

-- 2. struct views: a field read and write
local VT = smo.struct[[ struct pose { double x, y; int32_t seq; struct { double lat, lon; } gps; double samples[8]; } ]]
local vseg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
local v = vseg:view(VT)
r.vread = measure(function(n) local vv = v for _ = 1, n do sink = vv.x end end)
r.vwrite = measure(function(n) local vv = v for i = 1, n do vv.x = i end end)
vseg:close()

-- 3. the lock (a key, mode 0600: the fast lock) and wait/wake ping-pong
-- with a partner process of this same runtime
local sseg = assert(smo.open{ key = KEY, size = 4096, create = "exclusive" })
local partner   -- the pid of a ping-pong partner still running
local ok, err = pcall(function()
  r.lock = measure(function(n) local s = sseg for _ = 1, n do s:lock() s:unlock() end end)

  -- round 1 waits for the partner to start; the clock starts after it
  local function pingpong(n)
    sseg:atomic_store("uint32_t", 0, 0)
    local sh = io.popen(("%s %s/bench/pingpong.lua futex %d %d </dev/null >/dev/null & echo $!"):format(
      quote(LUA), quote(ROOT), KEY, n + 1))
    partner = tonumber(sh:read("*l"))
    sh:close()
    local t0
    for i = 1, n + 1 do
      if i == 2 then t0 = now() end
      sseg:atomic_store("uint32_t", 0, 2 * i - 1)
      sseg:wake(0)
      -- (a timeout, so that a partner that died cannot hang the bench)
      while sseg:atomic_load("uint32_t", 0) ~= 2 * i do
        if sseg:wait(0, 2 * i - 1, 10) == false and sseg:atomic_load("uint32_t", 0) == 2 * i - 1 then
          error("the ping-pong partner did not answer for 10 s (round " .. i .. ")")
        end
      end
    end
    partner = nil
    return (now() - t0) * 1e9 / n
  end
  local best = math.huge
  for _ = 1, r.pp_runs do best = math.min(best, pingpong(r.pp_rounds)) end
  r.pingpong = best
end)
-- (a partner left waiting when this failed would wait for ever)
if partner then os.execute("kill " .. partner .. " 2>/dev/null") end
sseg:close()
assert(ok, err)

-- 4. LuaJIT's FFI paths, when the core has them (seg:ffi_view): each
-- against its classic or plain-FFI counterpart.  Each result is a number
-- or the error that stopped it (its first line).
local function try(fn)
  local ok2, res = pcall(fn)
  if ok2 then return res end
  return (tostring(res):match("[^\n]*"))
end

local has_ffi, ffi = pcall(require, "ffi")
if jit and has_ffi then
  local f = {}
  r.ffi = f
  local FT = smo.struct[[ struct ffipose { double x, y; uint32_t seq; int32_t hits; double samples[4]; } ]]
  -- the same layout in ordinary memory, declared by hand
  local S = ffi.typeof("struct { double x, y; uint32_t seq; int32_t hits; double samples[4]; }")
  local plain_mem = ffi.new(ffi.typeof("$[1]", S))
  local plain = ffi.cast(ffi.typeof("$ *", S), plain_mem)
  local RW = "local p = ... return function(n) for _ = 1, n do p.x = p.x + 1 end end"
  f.plain_rw = try(function() return measure(fresh(RW, plain)) end)
  sink = plain.x
  local fseg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
  local has_view, p = false, nil
  if type(fseg.ffi_view) ~= "function" then
    f.missing = "ffi_view not available"
  else
    has_view, p = pcall(fseg.ffi_view, fseg, FT)
    if not has_view then f.missing = "seg:ffi_view(T) failed: " .. tostring(p) end
  end
  if has_view then
    local cv = fseg:view(FT)
    f.view_rw = try(function() return measure(fresh(RW, p)) end)
    sink = p.x
    local hits = FT:offsetof("hits")
    f.classic_add = try(function()
      return measure(function(n) local s = fseg for _ = 1, n do sink = s:atomic_add("int32_t", hits, 1) end end)
    end)
    local has_F, F = pcall(require, "smobject.ffi")
    f.atomic_add = try(function()
      assert(has_F, F)
      local a = F.atomic(p, "hits")
      return measure(fresh("local a = ... return function(n) for _ = 1, n do a:add(1) end end", a))
    end)
    f.classic_snap = try(function()
      return measure(function(n) local vv = cv for _ = 1, n do sink = vv:snapshot("seq") end end)
    end)
    f.snapshot = try(function()
      assert(has_F, F)
      -- (the copies go to an upvalue, so that the loop cannot drop them)
      local keep = {}
      local loop = fresh([[local F, p, keep = ...
        return function(n) for _ = 1, n do keep[1] = F.snapshot(p, "seq") end end]], F, p, keep)
      local t = measure(loop)
      sink = keep[1]
      return t
    end)
    -- the same, filling one copy again (as v:snapshot(seq, into) does)
    f.snapshot_into = try(function()
      assert(has_F, F)
      local into = F.snapshot(p, "seq")
      local loop = fresh([[local F, p, into = ...
        return function(n) for _ = 1, n do F.snapshot(p, "seq", nil, into) end end]], F, p, into)
      return measure(loop)
    end)
    f.classic_snap_into = try(function()
      local into = {}
      return measure(function(n) local vv = cv for _ = 1, n do vv:snapshot("seq", into) end end)
    end)
  end
  fseg:close()
end

-- The results, as a Lua chunk.
local function dump(t, indent)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = { "{\n" }
  for _, k in ipairs(keys) do
    local val = t[k]
    if type(val) == "table" then
      val = dump(val, indent .. "  ")
    elseif type(val) == "number" then
      val = ("%.17g"):format(val)
    else
      val = ("%q"):format(tostring(val))
    end
    out[#out + 1] = ("%s  %s = %s,\n"):format(indent, k, val)
  end
  out[#out + 1] = indent .. "}"
  return table.concat(out)
end
io.write("return ", dump(r, ""), "\n")
local _ = sink
