-- Every example runs with one command and only the rock (no lua-system, no
-- procfs), prints only what happened, and leaves nothing behind: each test
-- checks an example's lines, its final one above all, against what the spec
-- knows by itself (gcc's ftok and layouts, values it published, pids, ipcs).
local H = require("spec.helpers")
local smo = H.smo

local EX = H.ROOT .. "/examples"

-- Which test runs each example of examples/ (a new example needs a test).
local RUN_BY = {
  ["writer_reader.lua"] = "writer/reader", ["writer.lua"] = "writer.lua and reader.lua",
  ["reader.lua"] = "writer.lua and reader.lua", ["writer.c"] = "the C examples", ["reader.c"] = "the C examples",
  ["device_client.lua"] = "device/client", ["device.lua"] = "device.lua alone", ["client.lua"] = "client.lua alone",
  ["manager.lua"] = "process manager", ["module.lua"] = "module.lua alone",
  ["struct_views.lua"] = "struct views", ["pose_reader.c"] = "pose_reader.c alone",
}

-- Only the rock: our lua/ tree and the core, none of the system's Lua
-- modules (lua-system among them); and, in every interpreter the example
-- starts, require("system") and opening procfs raise.
local GUARD = [[
for _, m in ipairs{ "system", "system.core" } do
  package.preload[m] = function() error("an example needs lua-system (require '" .. m .. "')", 2) end
end
local open, lines = io.open, io.lines
local function closed(p)
  if type(p) == "string" and p:find("^/proc/") then error("an example reads procfs (" .. p .. ")", 3) end
end
io.open = function(p, ...) closed(p) return open(p, ...) end
io.lines = function(p, ...) closed(p) return lines(p, ...) end
]]
-- (LUA_INIT_5_4 on 5.4, LUA_INIT_5_3 on 5.3...; 5.1 and LuaJIT read only LUA_INIT)
local INIT = H.RUNTIME:match("^%d") and H.RUNTIME ~= "5.1" and "LUA_INIT_" .. H.RUNTIME:gsub("%.", "_") or "LUA_INIT"
local ENV = ("LUA_PATH=%s LUA_CPATH=%s %s=%s SMO_LUA=%s "):format(
  H.shell_quote(H.ROOT .. "/lua/?.lua;" .. H.ROOT .. "/lua/?/init.lua"),
  H.shell_quote(H.ROOT .. "/" .. H.BUILD .. "/?.so"), INIT, H.shell_quote(GUARD), H.shell_quote(H.LUA))

local function quote_all(...)
  local args = {}
  for i = 1, select("#", ...) do args[i] = H.shell_quote(select(i, ...)) end
  return table.concat(args, " ")
end

-- Runs examples/script with args in the foreground: output, ok.
local function run_example(script, ...)
  local out, ok = H.sh(ENV .. H.LUA .. " " .. H.shell_quote(EX .. "/" .. script) .. " " .. quote_all(...))
  return out, ok
end

-- Starts examples/script in the background; returns its pid and the file
-- its output goes to.
local function start_example(script, ...)
  local out = H.tmpdir() .. "/" .. script .. "-" .. math.random(1, 1e9) .. ".out"
  local p = io.popen(ENV .. H.LUA .. " " .. H.shell_quote(EX .. "/" .. script) .. " " .. quote_all(...) .. " >"
    .. out .. " 2>&1 & echo $!")
  local pid = tonumber(p:read("*l"))
  p:close()
  return pid, out
end

local function read_all(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

local function lines_of(out)
  local t = {}
  for l in out:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

local function final_line(out)
  local t = lines_of(out)
  return t[#t]
end

-- What gcc and libc say, apart from smobject: ftok keys, sizes, offsets.
local facts_exe
local function facts(...)
  if not facts_exe then
    facts_exe = H.compile("example_facts", [[
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include "pose.h"
#include "plant.h"
int main(int argc, char **argv) {
  if (argc == 3) {
    printf("0x%08x\n", (unsigned)ftok(argv[1], atoi(argv[2])));
    return 0;
  }
  printf("%zu %zu %zu %zu %zu\n", sizeof(struct pose), _Alignof(struct pose), offsetof(struct pose, fix.lon),
         offsetof(struct pose, covariance[1][1]), sizeof(struct plant));
  return 0;
}
]], "-std=gnu11 -I" .. EX)
  end
  local out, ok = H.sh(facts_exe .. " " .. quote_all(...))
  assert(ok, out)
  return (out:gsub("\n$", ""))
end
local function ftok_hex(path, proj) return facts(path, tostring(proj)) end

-- A key file of its own for the lecture's writers and readers.
local function keyfile(name)
  local path = H.tmpdir() .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:close()
  H.track(smo.key(path, 65))
  return path
end

describe("the examples", function()
  before_each(function()
    -- keys the examples use, removed by cleanup even if an example fails
    H.track(smo.key(EX .. "/f1.txt", 65))
    H.track(smo.key(EX .. "/device.h", "D"))
    H.track(smo.key(EX .. "/plant.h", "M"))
    H.track(smo.key(EX .. "/pose.h", "P"))
  end)
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("each of examples/ is run by a test here", function()
    local out = H.sh("cd " .. H.shell_quote(EX) .. " && ls *.lua *.c")
    local seen = {}
    for name in out:gmatch("%S+") do
      seen[name] = true
      assert.is_truthy(RUN_BY[name], name .. " is run by no test of spec/16-examples_spec.lua")
    end
    for name in pairs(RUN_BY) do assert.is_true(seen[name], name .. " is gone from examples/") end
  end)

  it("their environment has only the rock: lua-system and procfs are out of reach", function()
    local out, ok = H.sh(ENV .. H.LUA .. " -e 'require(\"system\")'")
    assert.is_falsy(ok)
    assert.matches("an example needs lua%-system", out)
    out, ok = H.sh(ENV .. H.LUA .. " -e 'io.open(\"/proc/self/stat\")'")
    assert.is_falsy(ok)
    assert.matches("an example reads procfs", out)
    out, ok = H.sh(ENV .. H.LUA .. " -e 'package.preload.system = nil; require(\"system\")'")
    assert.is_falsy(ok, "lua-system is on the path of the examples: " .. out)
    out, ok = H.sh(ENV .. H.LUA .. " -e 'io.write(require(\"smobject\")._VERSION)'")
    assert.is_true(ok, out)
    assert.matches("^smobject %d", out)
  end)

  it("writer/reader: a C writer and a Lua reader, and the reverse", function()
    local why = H.missing("cc") if why then pending(why) return end
    local k = smo.key(EX .. "/f1.txt", 65)
    local out, ok = run_example("writer_reader.lua")
    assert.is_true(ok, out)
    assert.are.same({
      ('key: ftok("%s", 65) = %s'):format(EX .. "/f1.txt", ftok_hex(EX .. "/f1.txt", 65)),
      'C writer: wrote "hello from C"',
      'Lua reader: data read from memory: "hello from C"',
      'Lua writer: wrote "hello from Lua"',
      'C reader: data read from memory: "hello from Lua"',
      ("both readers removed the segment: nothing left under key 0x%08x"):format(k % 0x100000000),
    }, lines_of(out))
    H.assert_gone(k, "writer_reader.lua")
  end)

  it("writer.lua and reader.lua: a persistent segment, read and removed", function()
    local path = keyfile("lua-pair")
    local k = smo.key(path, 65)
    local out, ok = run_example("writer.lua", path, "one line")
    assert.is_true(ok, out)
    assert.are.equal('Lua writer: wrote "one line"\n', out)
    local row = assert(H.shm_by_key(k), "the writer left no segment")
    assert.are.equal(0, row.nattch)
    assert.is_nil(H.sem_by_key(k), "a persistent segment without users keeps no bookkeeping")
    out, ok = run_example("reader.lua", path)
    assert.is_true(ok, out)
    assert.are.equal('Lua reader: data read from memory: "one line"', final_line(out))
    H.assert_gone(k, "reader.lua")
    -- a line from stdin, and a text longer than the 511 bytes the writer keeps
    out, ok = H.sh("printf 'typed here\\n' | " .. ENV .. H.LUA .. " " .. EX .. "/writer.lua " .. path)
    assert.is_true(ok, out)
    assert.are.equal('Please enter a string to be written in shared memory:\nLua writer: wrote "typed here"\n', out)
    out = run_example("reader.lua", path)
    assert.are.equal('Lua reader: data read from memory: "typed here"', final_line(out))
    out, ok = run_example("writer.lua", path, ("x"):rep(600))
    assert.is_true(ok, out)
    assert.are.equal(('Lua writer: wrote "%s"\n'):format(("x"):rep(511)), out)
    out = run_example("reader.lua", path)
    assert.are.equal(('Lua reader: data read from memory: "%s"'):format(("x"):rep(511)), final_line(out))
    H.assert_gone(k, "reader.lua")
  end)

  it("the C examples compile with strict warnings; writer.c and reader.c share a string", function()
    local why = H.missing("cc") if why then pending(why) return end
    local bin = {}
    for _, name in ipairs{ "writer", "reader", "pose_reader" } do
      bin[name] = H.tmpdir() .. "/ex-" .. name
      local out, ok = H.sh(("cc -std=c99 -Wall -Wextra -pedantic -Werror -o %s %s/%s.c"):format(bin[name], EX, name))
      assert.is_true(ok, out)
    end
    local path = keyfile("c-pair")
    local k = smo.key(path, 65)
    local out, ok = H.sh(bin.writer .. " " .. path .. " 'from C'")
    assert.is_true(ok, out)
    assert.are.equal('C writer: wrote "from C"\n', out)
    assert.is_truthy(H.shm_by_key(k))
    out, ok = H.sh("printf 'second\\n' | " .. bin.writer .. " " .. path)
    assert.is_true(ok, out)
    assert.are.equal('Please enter a string to be written in shared memory:\nC writer: wrote "second"\n', out)
    out, ok = H.sh(bin.reader .. " " .. path)
    assert.is_true(ok, out)
    assert.are.equal('C reader: data read from memory: "second"\n', out)
    H.assert_gone(k, "reader.c")
    out, ok = H.sh(bin.reader .. " " .. path)
    assert.is_falsy(ok)
    assert.are.equal("shmget: No such file or directory\n", out)
  end)

  it("device.lua alone: a number of readings, then it removes its segment", function()
    local k = smo.key(EX .. "/device.h", "D")
    local out, ok = run_example("device.lua", "0.01", "5")
    assert.is_true(ok, out)
    assert.are.same({
      ("device: publishing into %s every 0.01s"):format(ftok_hex(EX .. "/device.h", 68)),
      "device: stopped after 5 readings",
    }, lines_of(out))
    H.assert_gone(k, "device.lua")
  end)

  it("client.lua alone: prints the readings this spec publishes, then asks it to stop", function()
    local Reading = assert(smo.cdef_file(EX .. "/device.h")).reading
    local seg = assert(smo.open{ path = EX .. "/device.h", proj = "D", size = Reading.size, create = true })
    finally(function() seg:close() end)
    local r = seg:view(Reading)
    r.unit = "spec"
    local pid, outf = start_example("client.lua", "3")
    local n, deadline = 0, smo.clock() + 20
    while r:atomic_load("stop") == 0 and smo.clock() < deadline do
      n = n + 1
      r:publish("seq", function(p)
        p.number, p.value, p.timestamp = n, n * 1.5 - 7, smo.clock()
      end)
      r:atomic_add("count", 1)
      r:wake("count")
      smo.sleep(0.05)
    end
    assert.is_true(H.wait_exit(pid), "the client did not end")
    local out = read_all(outf)
    assert.are.equal(1, r:atomic_load("stop"), out)
    local t = lines_of(out)
    assert.are.equal(4, #t, out)
    local first, last
    for i = 1, 3 do
      local j, m, v = t[i]:match("^client: reading +(%d+) %(#(%d+)%): ([%d.%-]+) spec$")
      assert.are.equal(tostring(i), j, out)
      assert.are.equal(("%.3f"):format(tonumber(m) * 1.5 - 7), v, out)
      assert.is_true(tonumber(m) >= 1 and tonumber(m) <= n, out)
      if last then assert.is_true(tonumber(m) > last, out) end
      first, last = first or tonumber(m), tonumber(m)
    end
    assert.are.equal(("client: got 3 readings (#%d to #%d), asked the device to stop"):format(first, last), t[4])
    assert.are.equal(1, seg:users())
    local k = seg:key()
    seg:close()
    H.assert_gone(k, "client.lua")
  end)

  it("device/client: the client gets ten consistent readings and stops the device", function()
    local k = smo.key(EX .. "/device.h", "D")
    local out, ok = run_example("device_client.lua")
    assert.is_true(ok, out)
    local readings, last = 0, nil
    for i, m, v in out:gmatch("client: reading +(%d+) %(#(%d+)%): ([%d%.%-]+) degC\n") do
      readings = readings + 1
      assert.are.equal(readings, tonumber(i))
      -- the device's reading n is 20 + 5 sin(n / 5): the snapshot is of reading #m
      assert.are.equal(("%.3f"):format(20 + 5 * math.sin(tonumber(m) / 5)), v, out)
      if last then assert.is_true(tonumber(m) > last, out) end
      last = tonumber(m)
    end
    assert.are.equal(10, readings, out)
    local first = tonumber(out:match("client: reading +1 %(#(%d+)%)"))
    assert.matches(("client: got 10 readings %%(#%d to #%d%%), asked the device to stop\n"):format(first, last), out)
    local published = tonumber(out:match("device: stopped after (%d+) readings"))
    assert.is_true(published >= last, out)
    assert.are.equal(("done: the device and the client have ended, nothing left under key 0x%08x"):format(
      k % 0x100000000), final_line(out))
    H.assert_gone(k, "device_client.lua")
  end)

  it("module.lua alone: beats in its slot with its own pid until this spec raises the stop flag", function()
    local Plant = assert(smo.cdef_file(EX .. "/plant.h")).plant
    local obj = smo.new(EX .. "/plant.h", "M", Plant.size)
    assert(obj:create())
    local plant = obj:view(Plant)
    local pid, outf = start_example("module.lua", "1", "tester")
    assert.is_true(H.wait_for(function() return plant.modules[1].pid ~= 0 and obj:users() == 2 end), read_all(outf))
    assert.are.equal(pid, plant.modules[1].pid)
    assert.are.equal("tester", plant.modules[1].name)
    local hb = plant.modules[1].heartbeat
    smo.sleep(0.3)
    assert.is_true(plant.modules[1].heartbeat > hb, "no heartbeat")
    assert.are.equal(0, plant.modules[0].heartbeat + plant.modules[2].heartbeat)
    plant:atomic_store("stop", 1)
    assert.is_true(H.wait_exit(pid), "the module did not end")
    assert.are.same({ ("  [tester] attached as pid %d, memory counter 2"):format(pid),
                      "  [tester] stop flag seen, detaching" }, lines_of(read_all(outf)))
    assert.are.equal(1, obj:users())
    local k = obj:key()
    obj:close()
    H.assert_gone(k, "module.lua")
  end)

  it("process manager: a killed module is restarted and the counter recovers (make demo)", function()
    local k = smo.key(EX .. "/plant.h", "M")
    local out, ok = run_example("manager.lua")
    assert.is_true(ok, out)
    local size_plant = tonumber(facts():match("(%d+)$"))
    assert.matches(("^manager: created smobject %%(key %s, shmid %%d+, %d bytes%%) for struct plant %%(%d bytes%%), "
      .. "memory counter 1\n"):format(ftok_hex(EX .. "/plant.h", 77), size_plant, size_plant), out)
    assert.matches("\nmanager: 4 users %(the manager and 3 modules%)\n", out)
    assert.matches(("\n    %s +%%d+ +%%S+ +600 +%d +4 +\n    %s +%%d+ +%%S+ +600 +11 *\n"):format(
      ftok_hex(EX .. "/plant.h", 77), size_plant, ftok_hex(EX .. "/plant.h", 77)), out)
    -- the pids the modules report, and what became of them
    local pids = {}
    for name, pid in out:gmatch("%[(%a+)%] attached as pid (%d+), memory counter %d\n") do
      pids[name] = pids[name] or {}
      table.insert(pids[name], tonumber(pid))
    end
    assert.are.equal(1, #pids.sensor)
    assert.are.equal(1, #pids.logger)
    assert.are.equal(2, #pids.display, out)
    local victim = pids.display[1]
    assert.matches(("\nmanager: kill %%-9 %d %%(display%%): it gets no chance to run a finalizer\n"):format(victim), out)
    assert.matches("\nmanager: the kernel gave its share back: memory counter 3\n", out)
    local _, restarts = out:gsub("restarting it", "")
    assert.are.equal(1, restarts, out)
    assert.matches(("\nmanager: display %%(pid %d%%) stopped beating [%%d.]+s ago: restarting it\n"):format(victim), out)
    assert.matches("\nmanager: display is back, memory counter 4\n", out)
    -- the last status: the new display, restarted once; the others never
    local status = {}
    for name, pid, r in out:gmatch("\n    (%a+) +pid (%d+) +heartbeat %d+ +value +[%d.%-]+ restarts (%d+)") do
      status[name] = { tonumber(pid), tonumber(r) }
    end
    assert.are.same({ sensor = { pids.sensor[1], 0 }, display = { pids.display[2], 1 }, logger = { pids.logger[1], 0 } },
      status)
    local _, detached = out:gsub("stop flag seen, detaching\n", "")
    assert.are.equal(3, detached, out)
    assert.matches("\nmanager: the modules have detached and exited, memory counter 1\n", out)
    assert.matches("\nmanager: closed as the last user; ipcs entries for the key now: 0\n", out)
    assert.are.equal("demo finished: nothing left behind", final_line(out))
    H.assert_gone(k, "manager.lua")
    for _, list in pairs(pids) do
      for _, pid in ipairs(list) do assert.is_false(H.alive(pid), "module pid " .. pid .. " still runs") end
    end
  end)

  it("struct views: Lua and a C reader share pose.h", function()
    local why = H.missing("cc") if why then pending(why) return end
    local k = smo.key(EX .. "/pose.h", "P")
    local out, ok = run_example("struct_views.lua")
    assert.is_true(ok, out)
    local size, align, lon, cov = facts():match("^(%d+) (%d+) (%d+) (%d+)")
    local t = lines_of(out)
    assert.are.equal(("struct pose: %d bytes, align %d, fix.lon at %d, covariance[1][1] at %d"):format(size, align, lon,
      cov), t[1])
    assert.matches("^Lua wrote:\tstruct pose @0 { seq = 2, x = 12%.5, y = %-3%.25, heading = 90%.0, ", t[2])
    assert.are.equal("snapshot:\tmap\t51.5074", t[3])
    assert.are.equal("C sees: seq 2, map at (12.50, -3.25) heading 90.0, fix 51.5074/-0.1278, cov[1][1] 0.25", t[4])
    assert.are.equal(("closed as the last user: nothing left under key 0x%08x"):format(k % 0x100000000), t[5])
    assert.are.equal(5, #t, out)
    H.assert_gone(k, "struct_views.lua")
  end)

  it("pose_reader.c alone: reads a pose this spec publishes; says so when there is none", function()
    local why = H.missing("cc") if why then pending(why) return end
    local exe = H.tmpdir() .. "/ex-pose_reader-alone"
    local out, ok = H.sh(("cc -o %s %s/pose_reader.c"):format(exe, EX))
    assert.is_true(ok, out)
    out, ok = H.sh(exe .. " " .. EX .. "/pose.h")
    assert.is_falsy(ok)
    assert.are.equal("shmget: No such file or directory\n", out)
    local Pose = assert(smo.cdef_file(EX .. "/pose.h")).pose
    local seg = assert(smo.open{ path = EX .. "/pose.h", proj = "P", size = Pose.size, create = true })
    finally(function() seg:close() end)
    local pose = seg:view(Pose)
    pose:publish("seq", function(p)
      p.x, p.y, p.heading, p.fix, p.frame = -1.5, 2.25, 180.5, { lat = 1.25, lon = -2.5 }, "odom"
      p.covariance[1][1] = 0.75
    end)
    out, ok = H.sh(exe .. " " .. EX .. "/pose.h")
    assert.is_true(ok, out)
    assert.are.equal("C sees: seq 2, odom at (-1.50, 2.25) heading 180.5, fix 1.2500/-2.5000, cov[1][1] 0.75\n", out)
    assert.are.equal(1, seg:users())   -- the C reader is no user: it does not count
    local k = seg:key()
    seg:close()
    H.assert_gone(k, "pose_reader.c")
  end)
end)
