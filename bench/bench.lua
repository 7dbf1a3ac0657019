-- make bench: smobject against its references, measured in one run on this
-- machine and reported as ratios.  Builds its own C references (bench/*.c).
local smo = require("smobject")
local now = smo.clock

local ROOT = (arg[0]:match("^(.*)/bench/bench%.lua$")) or "."
local TMP = os.getenv("TMPDIR") or "/tmp"
local LUA_INC = os.getenv("LUA_INC") or "/usr/include/lua5.4"
local PYTHON = os.getenv("PYTHON") or "/usr/bin/python3"

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  assert(p:close(), "command failed: " .. cmd .. "\n" .. out)
  return out
end

-- Builds the C references.
local build = TMP .. "/smobject-bench"
sh("mkdir -p " .. build)
sh(("cc -O2 -shared -fPIC -I%s -o %s/benchfloor.so %s/bench/floor.c"):format(LUA_INC, build, ROOT))
sh(("cc -O2 -o %s/cbench %s/bench/cbench.c"):format(build, ROOT))
package.cpath = build .. "/?.so;" .. package.cpath
local new_floor = require("benchfloor")

-- Best of `rounds` runs of fn(n), in nanoseconds per operation.
local function measure(n, fn, rounds)
  local best = math.huge
  for _ = 1, rounds or 5 do
    local t0 = now()
    fn(n)
    local dt = (now() - t0) * 1e9 / n
    if dt < best then best = dt end
  end
  return best
end

local rows = {}
local function row(what, ours, ref_name, ref, goal, met)
  rows[#rows + 1] = { what, ours, ref_name, ref, goal, met }
end

local MiB = 1 << 20
local seg = assert(smo.open{ key = smo.PRIVATE, size = 16 * MiB, create = true })
seg:fill(0, 16 * MiB, 1)
local block = string.rep("\2", MiB)
local sink

-- 1. bytes: 1 MiB blocks
local REPS = 2000
local c = load(sh(("%s/cbench %d %d"):format(build, REPS, 5000)))()
local py = load(sh(("%s %s/bench/sysv_ipc_bench.py %d %d %d"):format(PYTHON, ROOT, REPS, 1000000, 5000)))()
-- (the string goes to a local and dies at once, as Python's bytes do: kept
-- alive in an upvalue, every string survives a GC cycle and reads halve)
local rd = measure(REPS, function(n)
  for i = 1, n do local s = seg:read((i % 16) * MiB, MiB) sink = #s end
end)
local wr = measure(REPS, function(n) for i = 1, n do seg:write((i % 16) * MiB, block) end end)
row("seg:read 1 MiB", rd, "C memcpy", c.memcpy_read, 1 / 0.9)
row("seg:read 1 MiB", rd, "sysv_ipc read", py.read, 1.0)
row("seg:read 1 MiB", rd, "C malloc+memcpy, freed 8 later", c.fresh_read, nil)
row("seg:write 1 MiB", wr, "C memcpy", c.memcpy_write, 1 / 0.9)
row("seg:write 1 MiB", wr, "sysv_ipc write", py.write, 1.0)

-- 2. scalars: the cost of a method call and what it adds
local N = 5000000
local fl = new_floor()
local floor_get = measure(N, function(n) local s = fl for _ = 1, n do sink = s:get("double", 0) end end)
local floor_set = measure(N, function(n) local s = fl for i = 1, n do s:set("int32_t", 8, i) end end)
local get = measure(N, function(n) local s = seg for _ = 1, n do sink = s:get("double", 0) end end)
local set = measure(N, function(n) local s = seg for i = 1, n do s:set("int32_t", 8, i) end end)
local t = { x = 1.5 }
local tget = measure(N, function(n) local tt = t for _ = 1, n do sink = tt.x end end)
local tset = measure(N, function(n) local tt = t for i = 1, n do tt.x = i end end)
row('seg:get("double", 0)', get, "floor method call", floor_get, 1.5)
row('seg:get("double", 0)', get, "Lua table field read", tget, nil)
row('seg:get("double", 0)', get, "sysv_ipc read(8)", py.read8, 1 / 5)
row('seg:set("int32_t", 8, i)', set, "floor method call", floor_set, 1.5)
row('seg:set("int32_t", 8, i)', set, "Lua table field write", tset, nil)
row('seg:set("int32_t", 8, i)', set, "sysv_ipc write(8)", py.write8, 1 / 5)
seg:close()

-- 3. lifecycle: create + attach + count, then uncount + detach + remove
local CYCLES = 5000
local key = 0x5bec0003
local cycle = measure(CYCLES, function(n)
  for _ = 1, n do
    local s = assert(smo.open{ key = key, size = 4096, create = "exclusive" })
    s:set("uint8_t", 0, 1)
    s:close()
  end
end, 3)
row("open-create/close-remove", cycle, "C shmget/shmat/shmdt/RMID", c.cycle, 2.0)
row("open-create/close-remove", cycle, "sysv_ipc create/detach/remove", py.cycle, 1.0)

-- 3b. struct views: each step of an access against the floor
local VT = smo.struct[[ struct pose { double x, y; int32_t seq; struct { double lat, lon; } gps; double samples[8]; } ]]
local vseg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
local v = vseg:view(VT)
local bytes = vseg:read(0, VT.size)
local gps_off, s3_off = VT:offsetof("gps.lat") + 1, VT:offsetof("samples[3]") + 1
local vx = measure(N, function(n) local vv = v for _ = 1, n do sink = vv.x end end)
local vxw = measure(N, function(n) local vv = v for i = 1, n do vv.x = i end end)
local vg = measure(N, function(n) local vv = v for _ = 1, n do sink = vv.gps end end)
local samples = v.samples
local va = measure(N, function(n) local a = samples for _ = 1, n do sink = a[3] end end)
local vgl = measure(N, function(n) local vv = v for _ = 1, n do sink = vv.gps.lat end end)
local tab = { x = 1.5, gps = { lat = 1 } }
local tx = measure(N, function(n) local tt = tab for _ = 1, n do sink = tt.x end end)
local up = measure(N, function(n) local b = bytes for _ = 1, n do sink = string.unpack("<d", b, 1) end end)
local upg = measure(N, function(n) local b, o = bytes, gps_off for _ = 1, n do sink = string.unpack("<d", b, o) end end)
local pk = measure(N, function(n) for i = 1, n do sink = string.pack("<d", i) end end)
local sa3 = measure(N, function(n) local b, o = bytes, s3_off for _ = 1, n do sink = string.unpack("<d", b, o) end end)
row("view read v.x", vx, "floor method call", floor_get, 1.5)
row("view read v.x", vx, "Lua table field read", tx, nil)
row("view read v.x", vx, 'string.unpack("<d", s, 1)', up, 1.0)
row("view write v.x = i", vxw, "floor method call", floor_set, 1.5)
row("view write v.x = i", vxw, 'string.pack("<d", i)', pk, 1.0)
row("view step v.gps (sub-view)", vg, "floor method call", floor_get, 1.5)
row("view step a[3] (element)", va, "floor method call", floor_get, 1.5)
row("view read a[3]", va, 'string.unpack("<d", s, off)', sa3, 1.0)
row("view read v.gps.lat (2 steps)", vgl, "2 floor method calls", 2 * floor_get, 1.5)
row("view read v.gps.lat (2 steps)", vgl, 'string.unpack("<d", s, off)', upg, 1.0)
vseg:close()

-- 4. synchronisation
local sseg = assert(smo.open{ key = 0x5bec0004, size = 4096, create = "exclusive" })
local lock = measure(N // 5, function(n) local s = sseg for _ = 1, n do s:lock() s:unlock() end end)
row("lock+unlock, uncontended", lock, "goal: 200 ns", 200, 1.0)
row("lock+unlock (fast lock, 0600)", lock, "2 floor method calls", 2 * floor_get, nil)
-- group-writable: the kernel-kept semaphore lock (no pointers where others write)
local gseg = assert(smo.open{ key = 0x5bec0005, size = 4096, create = "exclusive", mode = tonumber("660", 8) })
local glock = measure(N // 50, function(n) local s = gseg for _ = 1, n do s:lock() s:unlock() end end)
gseg:close()
row("lock+unlock (kernel lock, 0660)", glock, "2 floor method calls", 2 * floor_get, nil)
row("lock+unlock (kernel lock, 0660)", glock, "fast lock (0600)", lock, nil)
local aadd = measure(N, function(n) local s = sseg for _ = 1, n do s:atomic_add("int64_t", 8, 1) end end)
local sset = measure(N, function(n) local s = sseg for i = 1, n do s:set("int64_t", 8, i) end end)
row('atomic_add("int64_t", 8, 1)', aadd, 'seg:set("int64_t", 8, i)', sset, 1.5)

local ROUNDS = 20000
local LUA = os.getenv("SMO_LUA") or "lua5.4"
local function pingpong_futex(n)
  sseg:atomic_store("uint32_t", 0, 0)
  os.execute(("%s %s/bench/pingpong.lua futex %d %d &"):format(LUA, ROOT, 0x5bec0004, n))
  for r = 1, n do
    sseg:atomic_store("uint32_t", 0, 2 * r - 1)
    sseg:wake(0)
    while sseg:atomic_load("uint32_t", 0) ~= 2 * r do sseg:wait(0, 2 * r - 1) end
  end
end
local function pingpong_pipe(n)
  local a, b = build .. "/ping", build .. "/pong"
  os.execute(("rm -f %s %s && mkfifo %s %s"):format(a, b, a, b))
  os.execute(("%s %s/bench/pingpong.lua pipe %s %s %d &"):format(LUA, ROOT, a, b, n))
  local out, inp = assert(io.open(a, "wb")), assert(io.open(b, "rb"))
  out:setvbuf("no")
  for _ = 1, n do
    out:write("p")
    inp:read(1)
  end
  out:close()
  inp:close()
end
-- (each run includes starting the partner: a few ms, under 1% of the run)
local ppf = measure(ROUNDS, pingpong_futex, 3)
local ppp = measure(ROUNDS, pingpong_pipe, 3)
row("wait/wake ping-pong round trip", ppf, "pipe ping-pong round trip", ppp, 0.1)

local ST = smo.struct[[ struct snap { uint32_t seq; uint32_t pad; double v[7]; } ]]
local sv = sseg:view(ST, 64)
local snap = measure(N // 5, function(n) local vv = sv for _ = 1, n do sink = vv:snapshot("seq") end end)
local plain = measure(N // 5, function(n) local vv = sv for _ = 1, n do sink = vv:get() end end)
row("v:snapshot() of a 64-byte struct", snap, "v:get() (unprotected)", plain, 2.0)
-- the same copies into one table, filled again each time (no allocation)
local into = {}
local snap_into = measure(N // 5, function(n) local vv, tt = sv, into for _ = 1, n do sink = vv:snapshot("seq", tt) end end)
local get_into = measure(N // 5, function(n) local vv, tt = sv, into for _ = 1, n do sink = vv:get(tt) end end)
row("v:snapshot(seq, into)", snap_into, "v:snapshot(seq), a fresh table", snap, 1.0)
row("v:get(into)", get_into, "v:get(), a fresh table", plain, 1.0)
sseg:close()

-- Report: ratio = ours / reference (time per operation; lower is faster).
print(("%-28s %12s   %-32s %12s %8s  %s"):format("operation", "ours (ns)", "reference", "ref (ns)", "ratio", "goal"))
for _, r in ipairs(rows) do
  local ratio = r[2] / r[4]
  local goal = "-"
  if r[5] then
    goal = (ratio <= r[5] and "met" or "MISSED") .. (" (ratio <= %.2f)"):format(r[5])
  end
  print(("%-28s %12.1f   %-32s %12.1f %8.2f  %s"):format(r[1], r[2], r[3], r[4], ratio, goal))
end
print("ratio = our time / reference time per operation: below 1 is faster than the reference.")

-- 5. every runtime side by side: bench/runtime.lua (portable) under each Lua
-- that is installed, with the core built for it (make LUA=...) on its
-- LUA_CPATH; one table, operations by runtimes, then LuaJIT's goals.
local LUAJIT2_DIR = os.getenv("LUAJIT2_DIR") or "/opt/luajit2"
local RUNTIMES = {
  { name = "lua5.1", cmd = "lua5.1", dir = "build/5.1" },
  { name = "lua5.2", cmd = "lua5.2", dir = "build/5.2" },
  { name = "lua5.3", cmd = "lua5.3", dir = "build/5.3" },
  { name = "lua5.4", cmd = "lua5.4", dir = "build" },
  { name = "luajit", cmd = "luajit", dir = "build/luajit" },
  { name = "luajit2", cmd = LUAJIT2_DIR .. "/usr/bin/luajit", dir = "build/luajit2" },
}
local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function first_line(path, pattern)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("a")
  f:close()
  return text:match(pattern or "[^\n]+") or text:match("[^\n]+") or ""
end
-- (a make started by make bench exports these for lua5.4; each runtime's
-- build derives its own)
local MAKE_ENV = "env -u LUA_INC -u SMO_BUILD -u BUILD_DIR -u MAKEFLAGS -u MAKELEVEL"
-- The lowest of a and b's numbers, key by key (in nested tables too); a
-- number wins over a string (an error in one pass).
local function merge(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then
    if type(a) == "number" and type(b) == "number" then return math.min(a, b) end
    if type(a) == "number" or a == nil then return a or b end
    return type(b) == "number" and b or a
  end
  local m = {}
  for k, x in pairs(a) do m[k] = merge(x, b[k]) end
  for k, x in pairs(b) do if m[k] == nil then m[k] = x end end
  return m
end

-- Each runtime is built once, then measured in PASSES passes over all of
-- them, the best of all passes kept: the machine's other work then weighs
-- on every runtime alike instead of on whichever ran when it peaked.
local PASSES = 3
local results, notes, ready = {}, {}, {}
for _, rt in ipairs(RUNTIMES) do
  local log = ("%s/%s-build.log"):format(build, rt.name)
  if not os.execute("command -v " .. quote(rt.cmd) .. " >/dev/null 2>&1") then
    results[rt.name] = "not installed"
    notes[#notes + 1] = ("%s: %s is not installed (make deps-matrix installs it)"):format(rt.name, rt.cmd)
  elseif not os.execute(("cd %s && %s make --no-print-directory LUA=%s all >%s 2>&1"):format(
      quote(ROOT), MAKE_ENV, rt.name, quote(log))) then
    results[rt.name] = "build failed"
    notes[#notes + 1] = ("%s: the core does not build: %s (%s)"):format(rt.name,
      first_line(log, "[^\n]*error[^\n]*"), log)
  else
    ready[#ready + 1] = rt
  end
end
for pass = 1, PASSES do
  for i, rt in ipairs(ready) do
    if results[rt.name] ~= "failed" then
      io.stderr:write(("bench: %s, pass %d of %d\n"):format(rt.name, pass, PASSES))
      local log = ("%s/%s-run.log"):format(build, rt.name)
      local cmd = ("LUA_PATH=%s LUA_CPATH=%s %s %s/bench/runtime.lua %s %s %d 3 2 2>%s"):format(
        quote(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"), quote(ROOT .. "/" .. rt.dir .. "/?.so;;"),
        quote(rt.cmd), quote(ROOT), quote(rt.cmd), quote(ROOT), 0x5bec0010 + i, quote(log))
      local p = io.popen(cmd)
      local out = p:read("a")
      local chunk = p:close() and load(out, "=" .. rt.name, "t", {})
      local res = chunk and chunk()
      if type(res) == "table" then
        results[rt.name] = merge(results[rt.name], res)
        results[rt.name].passes = pass
      else
        results[rt.name] = "failed"
        notes[#notes + 1] = ("%s: bench/runtime.lua failed: %s (%s)"):format(rt.name, first_line(log), log)
      end
    end
  end
end

local OPS = {
  { "get", 'seg:get("double", 0)' },
  { "set", 'seg:set("int32_t", 8, i)' },
  { "vread", "view read v.x" },
  { "vwrite", "view write v.x = i" },
  { "lock", "lock+unlock (fast lock, 0600)" },
  { "pingpong", "wait/wake ping-pong round trip" },
}
print()
local how = "-"
for _, rt in ipairs(RUNTIMES) do
  local res = results[rt.name]
  if type(res) == "table" then
    how = ("best of %d passes x %d runs of at least %d ms each; ping-pong: best of %d x %d runs of %d round trips")
      :format(res.passes, res.rounds, res.min_time * 1000, res.passes, res.pp_runs, res.pp_rounds)
    break
  end
end
print(("every runtime, the classic API (ns per operation, %s):"):format(how))
local head = { ("%-31s"):format("operation") }
for _, rt in ipairs(RUNTIMES) do head[#head + 1] = ("%14s"):format(rt.name) end
print(table.concat(head))
for _, op in ipairs(OPS) do
  local line = { ("%-31s"):format(op[2]) }
  for _, rt in ipairs(RUNTIMES) do
    local res = results[rt.name]
    local val = type(res) == "table" and res[op[1]]
    line[#line + 1] = type(val) == "number" and ("%14.1f"):format(val) or ("%14s"):format(type(res) == "string" and res or "-")
  end
  print(table.concat(line))
end
for _, note in ipairs(notes) do print("  " .. note) end

-- The LuaJIT goals: ratio = LuaJIT's time / the reference's.
print()
print(("%-36s %10s   %-34s %10s %7s  %s"):format("LuaJIT goal", "ns", "reference", "ref (ns)", "ratio", "goal"))
local function goal_row(what, ours, ref_name, ref, goal)
  if type(ours) ~= "number" or type(ref) ~= "number" then
    local why = type(ours) == "string" and ours or type(ref) == "string" and ref or "not measured"
    print(("%-36s %s"):format(what, "(" .. why .. ")"))
    return
  end
  local ratio = ours / ref
  local verdict = goal and ((ratio <= goal and "met" or "MISSED") .. (" (ratio <= %.2f)"):format(goal)) or "-"
  print(("%-36s %10.2f   %-34s %10.2f %7.2f  %s"):format(what, ours, ref_name, ref, ratio, verdict))
end
local base = type(results["lua5.4"]) == "table" and results["lua5.4"] or {}
for _, name in ipairs({ "luajit", "luajit2" }) do
  local res = results[name]
  if type(res) ~= "table" then
    print(("%-36s (%s)"):format(name, res))
  else
    goal_row(name .. ": view read v.x", res.vread, "lua5.4: view read v.x", base.vread or "lua5.4 not measured", 1.0)
    goal_row(name .. ": view write v.x = i", res.vwrite, "lua5.4: view write v.x = i",
      base.vwrite or "lua5.4 not measured", 1.0)
    local f = res.ffi or {}
    if f.missing then
      print(("%-36s (%s; a plain FFI pointer's p.x = p.x + 1: %s ns)"):format(name .. ": FFI rows", f.missing,
        type(f.plain_rw) == "number" and ("%.2f"):format(f.plain_rw) or tostring(f.plain_rw)))
    else
      goal_row(name .. ": ffi_view p.x = p.x + 1", f.view_rw, "plain FFI pointer p.x = p.x + 1", f.plain_rw, 2.0)
      goal_row(name .. ': F.atomic(p, "hits"):add(1)', f.atomic_add, 'seg:atomic_add("int32_t", off, 1)',
        f.classic_add, nil)
      goal_row(name .. ': F.snapshot(p, "seq")', f.snapshot, 'v:snapshot("seq")', f.classic_snap, nil)
      goal_row(name .. ': F.snapshot(p, "seq", nil, into)', f.snapshot_into, 'v:snapshot("seq", into)',
        f.classic_snap_into, nil)
    end
  end
end
print("ping-pong: the waiter spins briefly, then sleeps in the kernel; a partner that answers within the spin"
  .. " costs well under 1 us,\na sleep and wake-up tens of us (likelier on a loaded machine or a slower runtime).")
local _ = sink
