-- Hostile neighbours (issue 9, "Security" 1-4, points 9 and 12): another uid
-- reading or writing our segments, objects handed over with IPC_SET, keys
-- squatted by sets that are not ours, the counter's ceiling, and remove()
-- racing lock().  The attacker runs as uid 65534 under setpriv; whatever could
-- hang runs in a child under timeout, so a hang fails a test instead of the run.
-- Attacks that go after "every object the attacker can see" run in an IPC
-- namespace of their own (unshare --ipc): they then see ours only, and leave
-- other programs on this machine alone.
local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

local function capture(cmd)
  local out, ok, how, code = H.popen(cmd .. " 2>&1")
  return out, ok, (how or "exit") .. " " .. tostring(code)
end

local IS_ROOT = capture("id -u"):match("^0%s") ~= nil
local HAVE_SETPRIV = select(2, capture("command -v setpriv"))
local HAVE_UNSHARE = IS_ROOT and select(2, capture("unshare --ipc true"))
-- Time limits stretch under valgrind.
local SLOW = H.LUA:match("valgrind") and 5 or 1

local NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups "
local NOBODY_IN_ROOT_GROUP = "setpriv --reuid=65534 --regid=65534 --groups=0 "

local function limit(seconds) return "timeout -k 2 " .. seconds * SLOW .. " " end

-- Permission bits of a /proc/sysvipc row (its perms column is octal digits).
local function perms(row) return tonumber(tostring(row.perms), 8) % 512 end

local function hex(k) return ("0x%08x"):format(k % 0x100000000) end

local mypid = H.pid

-- Runs a Lua chunk in a child under timeout (and prefix, e.g. setpriv);
-- returns its output, "exit N" or "signal N", and the seconds it took.
local function child(code, seconds, prefix)
  local t0 = H.now()
  local out, _, status = capture(H.child_env() .. limit(seconds) .. (prefix or "") .. H.LUA .. " -e "
    .. H.shell_quote(code))
  return out, status, H.now() - t0
end

-- Starts a shell command in the background; returns its pid and output file.
local function background(cmd)
  local out = H.tmpdir() .. "/hostile-" .. math.random(1, 1e9) .. ".out"
  local p = io.popen(cmd .. " >" .. out .. " 2>&1 & echo $!")
  local pid = tonumber(p:read("*l"))
  p:close()
  return pid, out
end

local function slurp(file)
  local f = io.open(file)
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

-- The first line of out matching pat (anchored at a line start), its captures.
local function line(out, pat)
  return ("\n" .. out):match("\n" .. pat)
end

-- A Lua chunk that opens with opts and prints "open ok" or "open nil MSG ERRNO".
local function open_chunk(opts, after)
  return ([[
    local smo = require("smobject")
    local seg, msg, err = smo.open(%s)
    if seg then io.write("open ok\n") %s seg:close()
    else io.write("open nil\t", tostring(msg), "\t", tostring(err), "\n") end
  ]]):format(opts, after or "")
end

local function open_result(out)
  if line(out, "open ok") then return true end
  local msg, err = line(out, "open nil\t([^\t]*)\t(%d+)")
  return nil, msg, tonumber(err)
end

if not (IS_ROOT and HAVE_SETPRIV) then
  describe("hostile neighbours", function()
    pending("needs root for setpriv")
  end)
  return
end

describe("hostile neighbours #slow", function()
  local IPC, pids, extra_shm = nil, {}, {}

  -- Runs the tool (as root, or under prefix); returns its output and status.
  local function ipc(prefix, ...)
    local args = { ... }
    for i = 1, #args do args[i] = H.shell_quote(args[i]) end
    local out, _, status = capture(limit(10) .. (prefix or "") .. IPC .. " " .. table.concat(args, " "))
    return out, status
  end

  local function getall(semid)
    local out, status = ipc(nil, "getall", semid)
    assert.are.equal("exit 0", status, out)
    return (out:gsub("%s+$", ""))
  end

  setup(function()
    local f = assert(io.open(H.ROOT .. "/spec/children/hostile_ipc.c"))
    IPC = H.compile("hostile_ipc", f:read("*a"))
    f:close()
    os.execute("chmod 755 " .. H.tmpdir() .. " " .. IPC)
  end)
  after_each(function()
    H.stop_all(pids)
    for _, id in ipairs(extra_shm) do os.execute("ipcrm -m " .. id .. " 2>/dev/null") end
    for i = #extra_shm, 1, -1 do extra_shm[i] = nil end
    H.cleanup()
  end)
  teardown(H.cleanup_all)

  describe("modes (point 4)", function()
    it("a segment's bookkeeping set gets exactly the segment's permission bits", function()
      for _, m in ipairs({ "600", "640", "644", "660", "664", "666", "400", "440", "444" }) do
        local k = H.key()
        local seg = assert(smo.open{ key = k, size = 64, create = true, mode = tonumber(m, 8) })
        local shm, sem = H.shm_by_key(k), H.sem_by_key(k)
        seg:close()
        assert.are.equal(tonumber(m, 8), perms(shm), "segment of mode " .. m)
        if m:sub(1, 1) == "6" then
          assert.are.equal(("%o"):format(perms(shm)), ("%o"):format(perms(sem)), "set of a segment of mode " .. m)
        else
          -- (the owner's read becomes read-write on its own set, so that it can
          -- count itself: only group and other must match)
          assert.are.equal(("%02o"):format(perms(shm) % 64), ("%02o"):format(perms(sem) % 64),
            "group and other bits of the set of a segment of mode " .. m)
        end
      end
    end)

    it("a set of ours that grants more than its segment is narrowed at the next open", function()
      local k = H.key()
      local seg = assert(smo.open{ key = k, size = 64, create = true, mode = tonumber("640", 8) })
      local semid = H.sem_by_key(k).semid
      assert.are.equal("exit 0", select(2, ipc(nil, "chmod-set", semid, "666")))
      assert.are.equal("666", ("%o"):format(perms(H.sem_by_key(k))))
      local two = assert(smo.open{ key = k })
      assert.are.equal("640", ("%o"):format(perms(H.sem_by_key(k))))
      assert.are.equal(2, seg:users())
      two:close()
      seg:close()
    end)

    it("a foreign program's 0644 segment gets a set of mode 0644, not more", function()
      local k = H.key()
      assert.are.equal("exit 0", select(2, ipc(nil, "mkshm", k, 64, "644")))
      local seg = assert(smo.open{ key = k })
      local sem = H.sem_by_key(k)
      seg:close()
      assert.are.equal("644", ("%o"):format(perms(sem)))
    end)

    it("a mode with an execute bit, or write without read, is refused, saying why, and nothing is created", function()
      -- 444, 440, 400 are what `mode = 0444` and the like give in Lua
      -- (decimal: octal 0674, 0670, 0620)
      for _, m in ipairs({ 444, 440, 400, 0x1c0 --[[0700]], 0x1ed --[[0755]], 1, 8, 64, 511 }) do
        local k = H.key()
        local ok, res = pcall(smo.open, { key = k, size = 64, create = true, mode = m })
        if ok and res then res:close() end
        assert.is_false(ok, ("mode %d (%o octal) was accepted"):format(m, m))
        local msg = tostring(res)
        assert.matches("mode", msg, 1, true)
        assert.matches(m == 400 and "write without read" or "execute", msg, 1, true)
        assert.matches("means nothing for shared memory", msg, 1, true)
        assert.matches('tonumber%("%d+", 8%)', msg)
        assert.is_nil(H.shm_by_key(k), "a segment was made for mode " .. m)
        assert.is_nil(H.sem_by_key(k), "a set was made for mode " .. m)
      end
    end)
  end)

  describe("which lock (point 1)", function()
    it("a segment open to group or other gets no memory but its own that group or other may use", function()
      local me = mypid()
      for _, m in ipairs({ "644", "640", "660", "666" }) do
        local k = H.key()
        local old = {}
        for _, st in ipairs(smo.list()) do old[st.shmid] = true end
        local seg = assert(smo.open{ key = k, size = 4096, create = true, mode = tonumber(m, 8) })
        local other = assert(smo.open{ key = k })
        assert.are.same({ true }, { seg:lock() })
        seg:unlock()
        assert.is_true(other:with_lock(function() return true end))
        assert.is_false(seg:wait(0, 0, 0.01))
        seg:wake(0)
        local bad = {}
        for _, st in ipairs(smo.list()) do
          if not old[st.shmid] and st.shmid ~= seg:shmid() and st.cuid == 0 and st.cpid == me and H.band(st.mode, 54) ~= 0 then
            bad[#bad + 1] = ("shmid %d mode %o size %d"):format(st.shmid, st.mode, st.size)
          end
        end
        other:close()
        seg:close()
        assert.are.same({}, bad, "segments made for a segment of mode " .. m)
        H.assert_gone(k)
      end
    end)

    it("the lock of a group-writable segment excludes, and a holder's SIGKILL is 'recovered'", function()
      for _, m in ipairs({ "660", "644" }) do
        local k = H.key()
        local seg = assert(smo.open{ key = k, size = 64, create = true, mode = tonumber(m, 8) })
        pids[1] = H.spawn("sync_worker.lua", "hold", k)
        assert.is_truthy(H.wait_for(function() return H.output(pids[1]):match("locked") end, 20), H.output(pids[1]))
        assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { seg:lock(0.05) }, "mode " .. m)
        H.stop_all(pids)
        assert.are.same({ true, "recovered" }, { seg:lock(5) }, "mode " .. m)
        seg:unlock()
        assert.are.same({ true }, { seg:lock(1) }, "mode " .. m)
        seg:unlock()
        seg:close()
      end
    end)

    it("a writer of another uid shares the lock of a 0666 segment, and its death is 'recovered'", function()
      local k = H.key()
      local seg = assert(smo.open{ key = k, size = 64, create = true, mode = tonumber("666", 8) })
      local code = ([[
        local seg = assert(require("smobject").open{ key = %d, any_owner = true })
        assert(seg:lock())
        io.write("locked\n") io.flush()
        require("smobject").sleep(30)
      ]]):format(k)
      local pid, out = background(H.child_env() .. NOBODY .. H.LUA .. " -e " .. H.shell_quote(code))
      pids[1] = pid
      assert.is_truthy(H.wait_for(function() return slurp(out):match("locked") end, 20), slurp(out))
      assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { seg:lock(0.05) })
      H.stop_all(pids)
      assert.are.same({ true, "recovered" }, { seg:lock(5) })
      seg:unlock()
      seg:close()
    end)
  end)

  describe("a reader of another uid (point 1)", function()
    local function skip_without_unshare()
      if not HAVE_UNSHARE then pending("needs unshare --ipc") return true end
    end

    it("cannot write any of our objects, and the owner works on afterwards", function()
      if skip_without_unshare() then return end
      local runs = {}
      for _, case in ipairs({ { "644", NOBODY }, { "640", NOBODY_IN_ROOT_GROUP } }) do
        local m, who = case[1], case[2]
        local attack = limit(10) .. who .. IPC .. " attack reader"
        local out, _, status = capture(H.child_env() .. limit(15) .. "unshare --ipc " .. H.LUA .. " "
          .. H.shell_quote(H.ROOT .. "/spec/children/hostile_owner.lua") .. " reader " .. H.key() .. " " .. m
          .. " " .. H.shell_quote(attack))
        runs[#runs + 1] = { m = m, out = out, status = status }
      end
      for _, run in ipairs(runs) do
        local out, status = run.out, run.status
        local what = "mode " .. run.m .. ":\n" .. out
        assert.are.equal("exit 0", status, what)
        assert.is_truthy(line(out, "owner ok"), what)
        -- the attack happened, on every object, and every write was refused
        local nshm, nsem = line(out, "attacker: seen shm (%d+) sem (%d+)")
        assert.is_true(tonumber(nshm) >= 1 and tonumber(nsem) >= 1, what)
        assert.is_nil(line(out, "attacker: WROTE[^\n]*"), what)
        assert.is_truthy(line(out, "attacker: failures all EACCES/EPERM"), what)
        assert.is_truthy(line(out, "attacker exit 0"), what)
        -- and the owner did not notice
        assert.is_truthy(line(out, "lock true nil nil"), what)
        assert.is_truthy(line(out, "with_lock 42 nil nil"), what)
        assert.is_truthy(line(out, "users 1\n"), what)
        assert.is_truthy(line(out, "second open ok"), what)
        assert.is_truthy(line(out, "users with two 2\n"), what)
        assert.is_truthy(line(out, "second lock true nil nil"), what)
        assert.is_truthy(line(out, "users after second close 1\n"), what)
        assert.is_truthy(line(out, "data secret"), what)
        assert.is_truthy(line(out, "left shm 0 sem 0"), what)
        assert.is_truthy(line(out, "canary true"), what)
      end
    end)

    it("may open it read-only with any_owner: it reads, is not counted, and its close breaks nothing", function()
      local k = H.key()
      local seg = assert(smo.open{ key = k, size = 64, create = true, mode = tonumber("644", 8) })
      local id = seg:shmid()
      seg:write(0, "secret")
      assert(seg:lock())
      seg:unlock()
      local reader = NOBODY .. H.LUA .. " " .. H.shell_quote(H.ROOT .. "/spec/children/hostile_reader.lua") .. " " .. k
      -- one that comes and goes while we stay
      local out, _, status = capture(H.child_env() .. limit(20) .. reader .. " quick")
      assert.are.equal("exit 0", status, out)
      assert.matches("opened secret\nclosed\n", out, 1, true)
      assert.are.equal(1, seg:users())
      assert.is_not_nil(H.shm_by_key(k))
      assert.are.equal(1, smo.bookkeeping(k).count)
      assert.are.same({ true }, { seg:lock(1) })
      seg:unlock()
      local two = assert(smo.open{ key = k })
      assert.are.equal(2, seg:users())
      two:close()
      -- one that stays attached while we close
      local go = H.tmpdir() .. "/hostile-go-" .. k
      local pid, file = background(H.child_env() .. limit(20) .. reader .. " stay " .. go)
      pids[1] = pid
      assert.is_truthy(H.wait_for(function() return slurp(file):match("opened") end, 20), slurp(file))
      assert.matches("^opened secret\n", slurp(file))
      assert.are.equal(2, seg:stat().nattch)       -- it is attached,
      assert.are.equal(1, seg:users())             -- and not counted
      assert.are.equal(1, smo.bookkeeping(k).count)
      seg:close()
      -- count zero with a process still attached: kept, as for a C program
      -- (the API's rule), for the next user's last close to remove
      assert.are.equal(id, H.shm_by_key(k).shmid)
      io.open(go, "w"):close()
      assert.is_true(H.wait_exit(pid, 20))
      assert.matches("read secret\nclosed\n", slurp(file), 1, true)
      assert.are.equal(id, H.shm_by_key(k).shmid)   -- the reader's close removed nothing
      local again = assert(smo.open{ key = k })
      assert.are.equal("secret", again:read(0, 6))
      again:close()
      assert.is_nil(H.shm_by_id(id))
      assert.is_nil(H.sem_by_key(k))
    end)
  end)

  describe("a writer of another uid (point 1)", function()
    it("overwriting every segment it can attach and the counter never crashes or hangs the owner", function()
      if not HAVE_UNSHARE then pending("needs unshare --ipc") return end
      local runs = {}
      for _, case in ipairs({ { "666", NOBODY }, { "660", NOBODY_IN_ROOT_GROUP } }) do
        local m, who = case[1], case[2]
        local attack = limit(10) .. who .. IPC .. " attack writer 1.5"
        local out, _, status = capture(H.child_env() .. limit(15) .. "unshare --ipc " .. H.LUA .. " "
          .. H.shell_quote(H.ROOT .. "/spec/children/hostile_owner.lua") .. " writer " .. H.key() .. " " .. m
          .. " 1.5 " .. H.shell_quote(attack) .. " " .. H.shell_quote(H.tmpdir() .. "/writer-" .. m .. ".out"))
        runs[#runs + 1] = { m = m, out = out, status = status }
      end
      for _, run in ipairs(runs) do
        local out, status = run.out, run.status
        local what = "mode " .. run.m .. ":\n" .. out
        assert.are.equal("exit 0", status, what)
        assert.is_truthy(line(out, "owner ok"), what)
        assert.is_truthy(line(out, "canary true"), what)
        -- the attack happened: it wrote the data segment and SETVAL'd the counter
        local shm_writes, sem_writes = line(out, "attacker: summary rounds %d+ shm_writes (%d+) sem_writes (%d+)")
        assert.is_true(tonumber(shm_writes) >= 1 and tonumber(sem_writes) >= 1, what)
        local locked = line(out, "iterations %d+ locked (%d+)")
        assert.is_true(tonumber(locked) >= 1, what)
      end
    end)
  end)

  describe("owner checks use uid and cuid (point 2)", function()
    it("a segment made by another uid and handed to us is refused, naming the key and the uids", function()
      local k = H.key()
      local out, status = ipc(NOBODY, "handover-shm", k, 64)
      assert.are.equal("exit 0", status, out)
      local row = H.shm_by_key(k)
      assert.are.same({ 0, 65534 }, { row.uid, row.cuid })
      local res, st, took = child(open_chunk(("{ key = %d }"):format(k)), 10)
      assert.are.equal("exit 0", st, res)
      local ok, msg, err = open_result(res)
      assert.is_nil(ok, "accepted")
      assert.are.equal(E.EPERM, err, msg)
      assert.matches(hex(k), msg, 1, true)
      assert.matches("65534", msg, 1, true)
      assert.is_true(took < 5 * SLOW)
      assert.is_nil(H.sem_by_key(k), "bookkeeping kept for a refused segment")
      res, st = child(open_chunk(("{ key = %d, any_owner = true }"):format(k)), 10)
      assert.are.equal("exit 0", st, res)
      assert.is_true(open_result(res), res)
      assert.are.equal(row.shmid, H.shm_by_key(k).shmid)   -- not ours: never removed
    end)

    it("a set made by another uid and handed to us is refused at once, not waited on", function()
      local k = H.key()
      assert(smo.open{ key = k, size = 64, create = true, persist = true }):close()
      assert.is_nil(H.sem_by_key(k))
      local out, status = ipc(NOBODY, "handover-set", k, 1)   -- its gate held for good
      assert.are.equal("exit 0", status, out)
      local sem = H.sem_by_key(k)
      assert.are.same({ 0, 65534 }, { sem.uid, sem.cuid })
      local before = getall(sem.semid)
      local res, st, took = child(open_chunk(("{ key = %d }"):format(k)), 10)
      assert.are.equal("exit 0", st, res)
      local ok, msg, err = open_result(res)
      assert.is_nil(ok, "accepted")
      assert.are.equal(E.EPERM, err, msg)
      assert.matches(hex(k), msg, 1, true)
      assert.matches("65534", msg, 1, true)
      assert.is_true(took < 5 * SLOW)
      assert.are.equal(sem.semid, H.sem_by_key(k).semid)
      assert.are.equal(before, getall(sem.semid))
      assert.is_not_nil(H.shm_by_key(k))
      -- with any_owner (and a gate that is free) it is accepted
      local k2 = H.key()
      assert(smo.open{ key = k2, size = 64, create = true, persist = true }):close()
      out, status = ipc(NOBODY, "handover-set", k2, 0)
      assert.are.equal("exit 0", status, out)
      res, st = child(open_chunk(("{ key = %d, any_owner = true }"):format(k2)), 10)
      assert.are.equal("exit 0", st, res)
      assert.is_true(open_result(res), res)
    end)

    it("a handed-over set carrying a lock segment of its own is refused at open, before any lock()", function()
      local k = H.key()
      assert(smo.open{ key = k, size = 64, create = true, persist = true }):close()
      local out, status = ipc(NOBODY, "handover-set", k, 0, "forge")
      assert.are.equal("exit 0", status, out)
      local lock_id = tonumber(out:match("shmid (%d+)"))
      extra_shm[#extra_shm + 1] = lock_id
      assert.are.same({ 0, 65534 }, { H.shm_by_id(lock_id).uid, H.shm_by_id(lock_id).cuid })
      local res, st = child(open_chunk(("{ key = %d }"):format(k),
        [[io.write("lock ", tostring(seg:lock(1)), "\n") if seg:holds_lock() then seg:unlock() end io.write("unlocked\n")]]), 10)
      assert.are.equal("exit 0", st, res)
      local ok, msg, err = open_result(res)
      assert.is_nil(ok, "accepted:\n" .. res)
      assert.are.equal(E.EPERM, err, msg)
      assert.matches(hex(k), msg, 1, true)
      assert.matches("65534", msg, 1, true)
    end)
  end)

  describe("squatted sets (point 3)", function()
    -- Squats k with an 11-semaphore set made by prefix's uid with SETVALs only;
    -- checks that our open with create refuses it at once, with errnos, and
    -- that the set is untouched.  Returns its semid and values.
    local function refused_at_once(k, prefix, errnos, ...)
      local out, status = ipc(prefix, "mkset", k, "600", ...)
      assert.are.equal("exit 0", status, out)
      local semid = tonumber(out)
      local before = getall(semid)
      local res, st, took = child(open_chunk(("{ key = %d, size = 64, create = true }"):format(k)), 10)
      assert.are.equal("exit 0", st, res)
      assert.is_true(took < 5 * SLOW, "took " .. took .. " s")
      local ok, msg, err = open_result(res)
      assert.is_nil(ok, "adopted a set that is not ours")
      assert.is_truthy(errnos[err], msg)
      assert.matches(hex(k), msg, 1, true)
      assert.are.equal(semid, H.sem_by_key(k).semid)
      assert.are.equal(before, getall(semid))
      assert.is_nil(H.shm_by_key(k), "a segment was left by the refused open")
      return semid, before
    end

    local EPERM_OR_EEXIST = { [E.EPERM] = true, [E.EEXIST] = true }

    it("another uid's set with semaphore 2 = 1 is refused at once, untouched (no spin)", function()
      refused_at_once(H.key(), NOBODY, EPERM_OR_EEXIST, "2=1")
    end)

    it("another uid's set with semaphore 0 = 1 is refused at once, untouched (no wait)", function()
      refused_at_once(H.key(), NOBODY, EPERM_OR_EEXIST, "0=1")
    end)

    -- A foreign program of our uid squats k with a set made with SETVAL only.
    local function foreign_same_uid(values)
      local k = H.key()
      local what = table.concat(values, " ")
      local semid, before = refused_at_once(k, nil, { [E.EEXIST] = true }, H.unpack(values))
      -- the foreign program makes its segment; ours may use it uncounted, or refuse
      local out, status = ipc(nil, "mkshm", k, 64, "600")
      assert.are.equal("exit 0", status, out)
      local shmid = tonumber(out)
      local res, st = child(open_chunk(("{ key = %d }"):format(k),
        [[io.write("users ", seg:users(), " nattch ", seg:stat().nattch, "\n")]]), 10)
      assert.are.equal("exit 0", st, res)
      if open_result(res) then
        local users, nattch = res:match("users (%d+) nattch (%d+)")
        assert.are.equal(nattch, users, what)
      end
      assert.are.equal(semid, H.sem_by_key(k).semid, what)
      assert.are.equal(before, getall(semid), what)
      assert.are.equal(shmid, H.shm_by_key(k).shmid, what)
    end

    it("a same-uid foreign program's set with semaphores 0 = 1, 3 = 7 is never adopted, written or removed", function()
      foreign_same_uid({ "0=1", "3=7" })
    end)

    it("a same-uid foreign program's set SETVAL'd to all zeros is never adopted, written or removed", function()
      foreign_same_uid({ "all=0" })
    end)

    it("a set of ours whose creator died before marking it is recovered", function()
      local k = H.key()
      local out, status = ipc(nil, "mkset", k, "600")   -- semget(IPC_CREAT|IPC_EXCL|0600), nothing else
      assert.are.equal("exit 0", status, out)
      local res, st = child(([[
        local smo = require("smobject")
        local seg, created = assert(smo.open{ key = %d, size = 64, create = true })
        local two = assert(smo.open{ key = %d })
        io.write("created ", tostring(created), " users ", seg:users(), "\n")
        two:close() seg:close()
      ]]):format(k, k), 10)
      assert.are.equal("exit 0", st, res)
      assert.matches("created true users 2", res, 1, true)
      H.assert_gone(k)
    end)
  end)

  describe("the counter's ceiling (point 9)", function()
    it("the open past SEMVMX gets ERANGE and leaves the gate free for every other process", function()
      local k = H.key()
      local seg = assert(smo.open{ key = k, size = 64, create = true })
      local semid = smo.bookkeeping(k).semid
      -- a helper holds the count at SEMVMX (32767) with SEM_UNDO until killed
      local holder, hout = background(IPC .. " hold-count " .. semid .. " 32766 30")
      pids[#pids + 1] = holder
      assert.is_truthy(H.wait_for(function() return slurp(hout):match("held") end, 10), slurp(hout))
      assert.are.equal(32767, smo.bookkeeping(k).count)
      -- one more open fails; its process stays alive afterwards
      local go = H.tmpdir() .. "/hostile-go-" .. k
      local a, aout = background(H.child_env() .. H.LUA .. " -e " .. H.shell_quote(([[
        local smo = require("smobject")
        local seg, msg, err = smo.open{ key = %d }
        io.write("open ", tostring(seg), "\t", tostring(msg), "\t", tostring(err), "\n") io.flush()
        local t = smo.clock() + 20
        while smo.clock() < t and not io.open(%q) do smo.sleep(0.01) end
      ]]):format(k, go)))
      pids[#pids + 1] = a
      assert.is_truthy(H.wait_for(function() return slurp(aout):match("open") end, 10), slurp(aout))
      assert.are.equal(tostring(E.ERANGE), slurp(aout):match("open nil\t[^\t]*\t(%d+)"), slurp(aout))
      H.kill(holder)
      assert.is_true(H.wait_exit(holder, 10))
      assert.are.equal(1, smo.bookkeeping(k).count)
      -- while the failed one lives, another process opens and closes at once
      local res, st, took = child(([[
        local seg = assert(require("smobject").open{ key = %d })
        io.write("users ", seg:users(), "\n")
        seg:close()
      ]]):format(k), 5)
      assert.are.equal("exit 0", st, res)
      assert.matches("users 2", res, 1, true)
      assert.is_true(took < 3 * SLOW)
      io.open(go, "w"):close()
      assert.is_true(H.wait_exit(a, 10))
      assert.are.equal(1, seg:users())
      seg:close()
      H.assert_gone(k)
    end)
  end)

  describe("a concurrent remove (point 12)", function()
    it("lock() and with_lock() racing remove() fail only with EIDRM, opens with ENOENT or EIDRM", function()
      local seconds = 3
      local started = {}
      for _, m in ipairs({ "600", "660" }) do
        local k = H.key()
        for _, role in ipairs({ "locker", "locker", "opener", "remover" }) do
          local pid = H.spawn("hostile_storm.lua", role, k, m, seconds)
          pids[#pids + 1] = pid
          started[#started + 1] = { pid = pid, role = role, mode = m }
        end
      end
      for _, c in ipairs(started) do assert.is_true(H.wait_exit(c.pid, 30 * SLOW), "storm child hangs") end
      local wrong, seen = {}, {}
      for _, c in ipairs(started) do
        local out = H.output(c.pid)
        assert.matches("done %d+", out, nil, false, c.role .. " did not finish:\n" .. out:sub(-2000))
        for op, err, msg in out:gmatch("fail (%S+) (%S+) ([^\n]*)") do
          local e = tonumber(err)
          local key = c.mode .. " " .. op .. " " .. tostring(smo.errno[e] or err)
          seen[key] = (seen[key] or 0) + 1
          local fine = e == E.EIDRM or (op == "open" and e == E.ENOENT)
          if not fine and #wrong < 10 then wrong[#wrong + 1] = c.mode .. " " .. op .. ": " .. msg end
        end
        for op, msg in out:gmatch("raised (%S+) ([^\n]*)") do
          if #wrong < 20 then wrong[#wrong + 1] = c.mode .. " " .. op .. " raised: " .. msg end
        end
      end
      local summary = {}
      for key, n in pairs(seen) do summary[#summary + 1] = key .. " x" .. n end
      table.sort(summary)
      assert.are.same({}, wrong, "failures seen: " .. table.concat(summary, ", "))
    end)
  end)
end)
