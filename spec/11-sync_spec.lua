local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

local function worker(...) return H.spawn("sync_worker.lua", ...) end

describe("synchronisation", function()
  local pids, seg, k = {}, nil, nil
  before_each(function()
    k = H.key()
    seg = assert(smo.open{ key = k, size = 4096, create = true })
  end)
  after_each(function()
    H.stop_all(pids)
    seg:close()
    H.cleanup()
  end)
  teardown(H.cleanup_all)

  local function wait_all(timeout)
    for _, pid in ipairs(pids) do assert.is_true(H.wait_exit(pid, timeout or 120), "child still running") end
  end

  -- Every property of the lock holds for both kinds: the fast lock (0600,
  -- only this uid may write the bookkeeping) and the kernel lock (0660).
  for _, lock_mode in ipairs{ "600", "660" } do
    describe("the lock (mode " .. lock_mode .. ")", function()
      before_each(function()
        if lock_mode ~= "600" then
          seg:close()
          k = H.key()
          seg = assert(smo.open{ key = k, size = 4096, create = true, mode = tonumber(lock_mode, 8) })
        end
      end)

      it("is held by one handle at a time and released by unlock", function()
        local other = assert(smo.open{ key = k })
        assert.are.same({ true }, { seg:lock() })
        assert.is_true(seg:holds_lock())
        local t0 = H.now()
        assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { other:lock(0.2) })
        assert.is_true(H.now() - t0 >= 0.15)
        seg:unlock()
        assert.are.same({ true }, { other:lock(0) })
        other:unlock()
        other:close()
      end)

      it("a second handle of the same thread: a timeout runs out, no timeout is EDEADLK, not a hang", function()
        local other = assert(smo.open{ key = k })
        seg:lock()
        assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { other:lock(0.05) })
        assert.are.same({ nil, "lock: Resource deadlock avoided", E.EDEADLK }, { other:lock() })
        seg:unlock()
        other:close()
      end)

      it("waiters without a timeout get the lock, never \"timeout\", while holders keep dying", function()
        -- Three waiters lock and unlock for 3 s, while a killer keeps starting
        -- a holder and killing it (SIGKILL) a few ms later, so that waiters
        -- race each other for dead holders' locks.
        local waiter = ([[
          local smo = require("smobject")
          local s = assert(smo.open{ key = %d })
          local n, rec, deadline = 0, 0, smo.clock() + 3
          while smo.clock() < deadline do
            local ok, state, err = s:lock()
            if not ok then io.write("BAD ", tostring(state), " ", tostring(err), "\n") os.exit(1) end
            if state == "recovered" then rec = rec + 1 end
            s:unlock()
            n = n + 1
          end
          io.write("ok ", n, " ", rec, "\n")
        ]]):format(k)
        local holder = ([[
          local smo = require("smobject")
          local s = assert(smo.open{ key = %d })
          s:lock()
          smo.sleep(1)
        ]]):format(k)
        local wfile, hfile = H.tmpdir() .. "/lock-waiter.lua", H.tmpdir() .. "/lock-holder.lua"
        for f, text in pairs({ [wfile] = waiter, [hfile] = holder }) do
          local fh = assert(io.open(f, "w"))
          fh:write(text)
          fh:close()
        end
        local run = H.child_env() .. H.LUA .. " "
        local out = H.sh("timeout -s KILL 60 bash -c " .. H.shell_quote(table.concat({
          "for i in 1 2 3; do " .. run .. wfile .. " & done",
          "end=$((SECONDS + 3)); kills=0",
          "while [ $SECONDS -lt $end ]; do " .. run .. hfile .. " & p=$!; sleep 0.00$((RANDOM % 8 + 2)); "
            .. "kill -9 $p 2>/dev/null; wait $p 2>/dev/null; kills=$((kills + 1)); done",
          "wait; echo kills $kills",
        }, "\n")))
        local oks = 0
        for _ in out:gmatch("ok %d+ %d+") do oks = oks + 1 end
        assert.is_nil(out:match("BAD[^\n]*"), out)
        assert.are.equal(3, oks, out)
        assert(tonumber(out:match("kills (%d+)")) >= 10, out)
      end)

      it("is not reentrant, and unlocking a lock not held raises", function()
        assert.has_error(function() seg:unlock() end, "unlock: this handle does not hold the lock")
        seg:lock()
        assert.has_error(function() seg:lock() end, "this handle already holds the lock (it is not reentrant)")
        seg:unlock()
        assert.has_error(function() seg:unlock() end, "unlock: this handle does not hold the lock")
      end)

      it("closing the holding handle releases it", function()
        local other = assert(smo.open{ key = k })
        other:lock()
        other:close()
        assert.are.same({ true }, { seg:lock(1) })
        seg:unlock()
      end)

      it("with_lock returns fn's results and releases when fn raises", function()
        assert.are.same({ 42, "x" }, { seg:with_lock(function(a, b) return a * 2, b end, 21, "x") })
        assert.is_false(seg:holds_lock())
        local ok, err = pcall(seg.with_lock, seg, function() error("inside") end)
        assert.is_false(ok)
        assert.matches("inside", err)
        assert.is_false(seg:holds_lock())
        local t = {}
        local ok2, err2 = pcall(seg.with_lock, seg, function() error(t) end)
        assert.is_false(ok2)
        assert.are.equal(t, err2)   -- non-string errors pass through untouched
        assert.are.same({ true }, { seg:lock(0) })
        seg:unlock()
      end)

      it("4 processes doing read-modify-write under with_lock lose no update #slow", function()
        for i = 1, 4 do pids[i] = worker("locked", k, 2500) end
        wait_all()
        for _, pid in ipairs(pids) do assert.are.equal("done\n", H.output(pid)) end
        assert.are.equal(10000, seg:get("int64_t", 8))
      end)

      it("a holder killed with SIGKILL: the next lock returns true, 'recovered' within a second", function()
        pids[1] = worker("hold", k)
        assert.is_truthy(H.wait_for(function() return H.output(pids[1]):match("locked") end, 20))
        assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { seg:lock(0.05) })
        H.kill(pids[1])
        local t0 = H.now()
        assert.are.same({ true, "recovered" }, { seg:lock(5) })
        assert.is_true(H.now() - t0 < 1)
        seg:unlock()
        -- recovered only once: a normal unlock and relock is ordinary again
        assert.are.same({ true }, { seg:lock(1) })
        seg:unlock()
      end)

      it("after remove(), lock gives EIDRM", function()
        local other = assert(smo.open{ key = k })
        other:lock()
        other:unlock()
        assert.is_true(seg:remove())
        assert.are.same({ nil, "lock: Identifier removed", E.EIDRM }, { other:lock() })
        assert.are.same({ nil, "lock: Identifier removed", E.EIDRM }, { seg:lock() })
        other:close()
      end)

    end)
  end

  describe("the lock", function()
    -- The private segments this process made, by id.
    local function my_private_segments()
      local mypid = H.pid()
      local found = {}
      for _, st in ipairs(smo.list()) do
        if st.key == smo.PRIVATE and st.cpid == mypid then found[st.shmid] = st end
      end
      return found
    end
    local function new_since(before)
      local new = {}
      for id, st in pairs(my_private_segments()) do if not before[id] then new[#new + 1] = st end end
      return new
    end

    it("keeps the fast lock in a segment only this uid may touch, removed with the bookkeeping", function()
      for _, mode in ipairs{ "600", "640", "644" } do
        local g = assert(smo.open{ key = H.key(), size = 64, create = true, mode = tonumber(mode, 8) })
        local before = my_private_segments()
        assert(g:lock())
        local new = new_since(before)
        assert.are.equal(1, #new)
        assert.are.equal(tonumber("600", 8), new[1].mode)
        assert.are.equal(512, new[1].size)
        g:unlock()
        g:close()
        assert.are.equal(0, #new_since(before))
      end
    end)

    it("gives segments that others may write a kernel lock, with no segment of its own", function()
      for _, mode in ipairs{ "660", "664", "666" } do
        local g = assert(smo.open{ key = H.key(), size = 64, create = true, mode = tonumber(mode, 8) })
        local before = my_private_segments()
        assert.are.same({ true }, { g:lock() })
        local other = assert(smo.open{ key = g:key() })
        assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { other:lock(0) })
        other:close()
        g:unlock()
        assert(g:wait(0, 1, 0.01) ~= nil)
        g:wake(0)
        assert.are.equal(0, #new_since(before))
        g:close()
      end
    end)

    it("raises on PRIVATE segments", function()
      local p = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
      assert.has_error(function() p:lock() end,
        "this smobject has no bookkeeping for a lock (PRIVATE, a foreign key, or one this process may only read)")
      p:close()
    end)

    it("leaves no private segment behind", function()
      local mypid = H.pid()
      local function mine()   -- (other programs may make segments meanwhile)
        local n = 0
        for _, st in ipairs(smo.list()) do if st.cpid == mypid then n = n + 1 end end
        return n
      end
      local before = mine()
      seg:lock()
      seg:unlock()
      local other = assert(smo.open{ key = k })
      other:lock()
      other:unlock()
      other:close()
      assert.are.equal(before + 1, mine())   -- the lock's segment, while in use
      seg:close()
      assert.are.equal(before - 1, mine())
      seg = assert(smo.open{ key = k, size = 4096, create = true })
    end)
  end)

  describe("atomics", function()
    it("8 processes x 20,000 atomic_add give exactly 160,000 #slow", function()
      for i = 1, 8 do pids[i] = worker("add", k, 20000) end
      wait_all()
      for _, pid in ipairs(pids) do assert.are.equal("done\n", H.output(pid)) end
      assert.are.equal(160000, seg:atomic_load("int64_t", 0))
    end)

    it("work on every integer width and return the previous value", function()
      for _, t in ipairs({ "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t" }) do
        seg:atomic_store(t, 16, 5)
        assert.are.equal(5, seg:atomic_add(t, 16, 3), t)
        assert.are.equal(8, seg:atomic_load(t, 16), t)
        assert.are.same({ true }, { seg:atomic_cas(t, 16, 8, 1) }, t)
        assert.are.same({ false, 1 }, { seg:atomic_cas(t, 16, 8, 2) }, t)
      end
      seg:atomic_store("uint8_t", 0, 255)
      assert.are.equal(255, seg:atomic_add("uint8_t", 0, 1))
      assert.are.equal(0, seg:atomic_load("uint8_t", 0))       -- wraps as in C
      assert.are.equal(0, seg:atomic_add("uint32_t", 4, -1))
      assert.are.equal(4294967295, seg:atomic_load("uint32_t", 4))
    end)

    it("refuse misaligned offsets, non-integer types and values that do not fit", function()
      assert.has_error(function() seg:atomic_load("int32_t", 2) end,
        "bad argument #2 to 'atomic_load' (offset 2 is misaligned for a 4-byte atomic)")
      assert.has_error(function() seg:atomic_add("int64_t", 4, 1) end,
        "bad argument #2 to 'atomic_add' (offset 4 is misaligned for a 8-byte atomic)")
      assert.has_error(function() seg:atomic_add("double", 0, 1) end,
        "bad argument #1 to 'atomic_add' (atomic operations need an integer type, not 'double')")
      assert.has_error(function() seg:atomic_store("int8_t", 0, 200) end,
        "bad argument #3 to 'atomic_store' (value 200 out of range for int8_t)")
      assert.has_error(function() seg:atomic_add("int8_t", 0, 256) end,
        "bad argument #3 to 'atomic_add' (delta 256 out of range for a 1-byte integer)")
      assert.has_error(function() seg:atomic_add("int32_t", 4096, 1) end,
        "bad argument #2 to 'atomic_add' (offset 4096 out of range (4-byte access in a 4096-byte segment))")
      local ro = assert(smo.open{ key = k, readonly = true })
      assert.has_error(function() ro:atomic_add("int32_t", 0, 1) end, "attempt to write to a read-only smobject")
      assert.are.equal(0, ro:atomic_load("int32_t", 0))
      ro:close()
    end)
  end)

  describe("wait and wake", function()
    it("wait returns at once when the value differs, false on timeout", function()
      seg:set("uint32_t", 0, 3)
      assert.is_true(seg:wait(0, 2))
      local t0 = H.now()
      assert.is_false(seg:wait(0, 3, 0.1))
      assert.is_true(H.now() - t0 >= 0.09)
      assert.are.equal(0, seg:wake(0))
      assert.has_error(function() seg:wait(2, 0) end,
        "bad argument #1 to 'wait' (offset 2 is misaligned for a uint32_t)")
      assert.has_error(function() seg:wait(0, -1) end,
        "bad argument #2 to 'wait' (expected value out of range for uint32_t)")
      assert.has_error(function() seg:wait(0, 3, -1) end, "bad argument #3 to 'wait' (timeout must not be negative)")
    end)

    it("ping-pong between two processes for 10,000 rounds completes #slow", function()
      pids[1] = worker("pong", k, 10000)
      for r = 1, 10000 do
        seg:atomic_store("uint32_t", 192, 2 * r - 1)
        seg:wake(192)
        while seg:atomic_load("uint32_t", 192) ~= 2 * r do seg:wait(192, 2 * r - 1, 5) end
      end
      assert.is_true(H.wait_exit(pids[1], 30))
      assert.are.equal("done\n", H.output(pids[1]))
      assert.are.equal(20000, seg:atomic_load("uint32_t", 192))
    end)

    it("a sleeping waiter in another process is woken", function()
      -- the pong child sleeps in wait() until we write 1 and wake it
      pids[1] = worker("pong", k, 1)
      -- (it must really sleep in the kernel: a late child would make this
      -- test pass without waking anybody)
      assert.is_truthy(H.wait_futex_sleep(pids[1]), "the child never slept in wait()")
      seg:atomic_store("uint32_t", 192, 1)
      assert.are.equal(1, seg:wake(192))
      assert.is_true(H.wait_exit(pids[1], 10))
      assert.are.equal(2, seg:atomic_load("uint32_t", 192))
    end)
  end)

  describe("snapshots", function()
    it("readers never see a torn write over 100,000 reads while a writer publishes #slow", function()
      pids[1] = worker("publish", k)
      assert.is_truthy(H.wait_for(function() return seg:get("int64_t", 0) > 0 end, 20))
      pids[2] = worker("check", k, 50000)
      pids[3] = worker("check", k, 50000)
      for i = 2, 3 do assert.is_true(H.wait_exit(pids[i], 120)) end
      seg:atomic_store("uint32_t", 128, 1)
      assert.is_true(H.wait_exit(pids[1], 20))
      assert.are.equal("torn 0\ndone\n", H.output(pids[2]))
      assert.are.equal("torn 0\ndone\n", H.output(pids[3]))
      local published = tonumber(H.output(pids[1]):match("published (%d+)"))
      assert.is_true(published > 100, "the writer published only " .. tostring(published))
    end)

    it("the check can fail: unprotected reads of the same writer do see torn writes #slow", function()
      pids[1] = worker("publish", k)
      assert.is_truthy(H.wait_for(function() return seg:get("int64_t", 0) > 0 end, 20))
      local torn = 0
      for _ = 1, 200000 do
        local bytes = seg:read(0, 64)
        local first = H.le_int(bytes)
        if H.le_int(bytes, 57) ~= first then torn = torn + 1 end
        if torn > 0 then break end
      end
      seg:atomic_store("uint32_t", 128, 1)
      assert.is_true(H.wait_exit(pids[1], 20))
      assert.is_true(torn > 0)
    end)

    it("snapshot times out on a writer that died mid-write", function()
      seg:publish_begin(64)
      assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { seg:snapshot(64, 0, 8, 0.05) })
      seg:publish_end(64)
      assert.are.equal(8, #seg:snapshot(64, 0, 8))
      assert.are.equal(2, seg:get("uint32_t", 64))
    end)
  end)
end)
