-- Hardening of the counter's neighbours: a writer that dies inside publish,
-- long and infinite timeouts, paths with NUL bytes, integers given as floats.
local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

describe("hardening", function()
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

  local function all_fields(v)
    for f = 0, 7 do if seg:get("int64_t", 8 + f * 8) ~= v then return false end end
    return true
  end

  describe("a writer that dies inside publish", function()
    for _, mode in ipairs{ "600", "660" } do
      it("is recovered by the next writer, and readers resume (mode " .. mode .. ")", function()
        if mode ~= "600" then
          seg:close()
          k = H.key()
          seg = assert(smo.open{ key = k, size = 4096, create = true, mode = tonumber(mode, 8) })
        end
        seg:publish(0, function() for f = 0, 7 do seg:set("int64_t", 8 + f * 8, 7) end end)
        pids[1] = H.spawn("hardening_child.lua", "stuck", k)
        assert.is_truthy(H.wait_for(function() return H.output(pids[1]):match("inside") end, 20))
        -- while it lives, it is a slow writer: no one takes its write over
        assert.are.equal(1, seg:atomic_load("uint32_t", 0) % 2)
        assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { seg:lock(0.05) })
        assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { seg:snapshot(0, 8, 64, 0.05) })
        H.kill(pids[1])
        assert.is_true(H.wait_exit(pids[1]))
        -- dead mid-write: readers still refuse its half-written bytes ...
        assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { seg:snapshot(0, 8, 64, 0.05) })
        -- ... and the next writer goes on without an error, repairing the counter
        local other = assert(smo.open{ key = k })
        assert.are.same({ "ok" }, { other:publish(0, function()
          for f = 0, 7 do other:set("int64_t", 8 + f * 8, 9) end
          return "ok"
        end) })
        assert.are.equal(0, seg:atomic_load("uint32_t", 0) % 2)
        assert.is_false(other:holds_lock())
        local bytes = assert(seg:snapshot(0, 8, 64))
        for f = 0, 7 do assert.are.equal(9, H.le_int(bytes, f * 8 + 1)) end
        assert.is_true(all_fields(9))
        other:close()
      end)
    end

    it("a live writer holding the lock makes the next publish wait, not repair", function()
      assert(seg:lock())
      seg:publish_begin(0)                 -- a slow writer, mid-write
      pids[1] = H.spawn("hardening_child.lua", "once", k)
      -- (it must be blocked on the lock, not merely late)
      assert.is_truthy(H.wait_futex_sleep(pids[1]), "the second writer never waited for the lock")
      assert.are.equal("", H.output(pids[1]))
      assert.are.equal(1, seg:atomic_load("uint32_t", 0))   -- untouched
      seg:publish_end(0)
      seg:unlock()
      assert.is_true(H.wait_exit(pids[1]))
      assert.are.equal("wrote\n", H.output(pids[1]))
      assert.are.equal(4, seg:atomic_load("uint32_t", 0))
      assert.are.equal(5, seg:get("int64_t", 8))
    end)

    it("publish releases the lock it took, also when fn raises; keeps one held by the caller", function()
      local ok, err = pcall(seg.publish, seg, 0, function() error("inside") end)
      assert.is_false(ok)
      assert.matches("inside", err)
      assert.is_false(seg:holds_lock())
      assert.are.equal(0, seg:atomic_load("uint32_t", 0) % 2)
      assert(seg:lock())
      seg:publish(0, function() end)
      assert.is_true(seg:holds_lock())
      seg:unlock()
    end)
  end)

  describe("timeouts", function()
    for _, t in ipairs{ 2e9, math.huge, 1e300 } do
      it("wait(off, v, " .. tostring(t) .. ") sleeps until woken", function()
        pids[1] = H.spawn("hardening_child.lua", "wait", k, t)
        assert.is_truthy(H.wait_futex_sleep(pids[1]), "the child never slept in wait()")
        H.sleep(0.3)
        assert.are.equal("waiting\n", H.output(pids[1]))   -- still asleep
        seg:atomic_store("uint32_t", 0, 1)
        seg:wake(0)
        assert.is_true(H.wait_exit(pids[1]))
        assert.matches("woken true", H.output(pids[1]))
      end)
    end

    it("a NaN timeout raises, saying NaN", function()
      assert.matches("timeout is NaN", H.raised(function() seg:wait(0, 0, 0 / 0) end))
      assert.matches("timeout is NaN", H.raised(function() seg:lock(0 / 0) end))
      assert.matches("timeout is NaN", H.raised(function() seg:snapshot(0, 8, 8, 0 / 0) end))
      assert.matches("must not be negative", H.raised(function() seg:lock(-1) end))
    end)

    it("lock and snapshot take math.huge for ever", function()
      assert.are.same({ true }, { seg:lock(math.huge) })
      seg:unlock()
      assert.are.equal(8, #assert(seg:snapshot(0, 8, 8, math.huge)))
    end)
  end)

  describe("paths", function()
    it("a NUL byte inside a path is refused, never cut", function()
      local path = H.tmpdir()
      assert.matches("NUL", H.raised(function() smo.key(path .. "\0junk", 1) end))
      assert.matches("NUL", H.raised(function() smo.open{ path = path .. "\0junk", size = 64, create = true } end))
      assert.matches("NUL", H.raised(function() smo.new(path .. "\0junk", 1, 64) end))
      assert.matches("NUL", H.raised(function() smo.new(path, 1, 64):set_key(path .. "\0", 2) end))
    end)
  end)

  describe("smo gc", function()
    local SMO = H.ROOT .. "/bin/smo"
    local function smo_cmd(args)
      return H.sh(H.child_env() .. H.LUA .. " " .. SMO .. " " .. args)
    end
    local function child(code)
      local out, ok = H.run(code)
      assert(ok, out)
      return H.to_integer(tonumber(out:match("(%d+)")))
    end

    it("finds and removes only orphans: never attached, or smobject's lock segment", function()
      local why = H.missing("cc") if why then pending(why) return end
      local exe = H.compile("mkprivate", [[
        #include <stdio.h>
        #include <sys/ipc.h>
        #include <sys/shm.h>
        int main(void) { printf("%d\n", shmget(IPC_PRIVATE, 64, IPC_CREAT | 0600)); return 0; }
      ]])
      local never = H.to_integer(tonumber((H.sh(exe))))
      -- a lock segment whose bookkeeping set was removed behind smobject's back
      local lockseg = child([[
        local smo = require("smobject")
        local s = assert(smo.open{ key = smo.PRIVATE, size = 512, create = true, persist = true })
        s:write(0, "SMOAUX01")
        s:set("int32_t", 8, 2147483000)   -- (no such set)
        print(s:shmid())
        s:close()
      ]])
      -- a live one: the lock segment of a key in use is never listed
      local live = assert(smo.open{ key = H.key(), size = 64, create = true })
      local mine = {}
      for _, st in ipairs(smo.list()) do mine[st.shmid] = true end
      assert(live:lock())
      live:unlock()
      local live_lock
      for _, st in ipairs(smo.list()) do
        if not mine[st.shmid] and st.key == smo.PRIVATE and st.size == 512 then live_lock = st.shmid end
      end
      assert.is_truthy(live_lock)
      -- a kept one: attached once, persist, creator gone: never an orphan
      local kept = child([[
        local smo = require("smobject")
        local s = assert(smo.open{ key = smo.PRIVATE, size = 512, create = true, persist = true })
        print(s:shmid())
        s:close()
      ]])
      local ids = { never, lockseg, kept }
      local ok, err = pcall(function()
        local out, done = smo_cmd("gc --min-age 0")
        assert.is_true(done, out)
        assert.matches("shmid " .. never .. ", 64 bytes.*never attached", out)
        assert.matches("shmid " .. lockseg .. ", 512 bytes.*smobject lock segment whose bookkeeping is gone", out)
        assert.is_nil(out:find("shmid " .. kept .. ",", 1, true))
        assert.is_nil(out:find("shmid " .. live_lock .. ",", 1, true))
        -- nothing young is listed
        assert.is_nil(smo_cmd("gc"):find("shmid " .. never .. ",", 1, true))
        assert.is_truthy(H.shm_by_id(never))           -- listing removes nothing
        out, done = smo_cmd("gc --remove --min-age 0")
        assert.is_true(done, out)
        assert.matches("removed shmid " .. never, out)
        assert.is_nil(H.shm_by_id(never))
        assert.is_nil(H.shm_by_id(lockseg))
        assert.is_truthy(H.shm_by_id(kept))
      end)
      for _, id in ipairs(ids) do os.execute("ipcrm -m " .. id .. " 2>/dev/null") end
      live:close()
      assert(ok, err)
    end)

    it("refuses unknown arguments with exit code 2", function()
      local _, _, code = smo_cmd("gc --frobnicate")
      assert.are.equal(2, code)
      _, _, code = smo_cmd("gc --min-age")
      assert.are.equal(2, code)
    end)
  end)

  describe("integers given as floats", function()
    it("are taken where they have an exact integer value, as luaL_checkinteger does", function()
      local k2 = H.key()
      local s = assert(smo.open{ key = k2 + 0.0, size = 2.0 ^ 12, create = true, mode = 384.0 })
      assert.are.equal(4096, s:size())
      assert.are.equal(k2, s:key())
      assert.are.equal(tonumber("600", 8), s:stat().mode)
      assert.are.equal(0, s:atomic_add("int32_t", 0, 2.0))
      assert.is_true(s:wait(0, 0.0, 0.0))   -- differs (2): returns at once
      assert.are.equal(0, s:wake(0, 1.0))
      assert.are.equal(8, #assert(s:snapshot(4, 8, 8.0)))
      local a = assert(smo.attach(s:shmid() + 0.0))
      a:close()
      local n = smo.new(H.tmpdir(), 66.0, 64.0)
      assert.is_truthy(n)
      s:close()
    end)

    it("a fraction raises 'number has no integer representation'", function()
      assert.matches("no integer representation", H.raised(function() smo.open{ key = 1.5 } end))
      assert.matches("no integer representation",
        H.raised(function() smo.open{ key = k, size = 64.5, create = true } end))
      assert.matches("no integer representation",
        H.raised(function() smo.open{ key = k, size = 64, mode = 384.5 } end))
      assert.matches("no integer representation", H.raised(function() seg:atomic_add("int32_t", 0, 0.5) end))
      assert.matches("no integer representation", H.raised(function() seg:wait(0, 0.5, 0) end))
    end)
  end)

  describe("mode", function()
    it("refuses execute bits and write without read, saying why and how to write octal", function()
      for _, m in ipairs{ 444, 440, 400 } do
        local msg = H.raised(function() smo.open{ key = H.key(), size = 64, create = true, mode = m } end)
        assert.matches(m == 400 and "write without read" or "execute bits", msg)
        assert.matches("means nothing for shared memory", msg)
        assert.matches('tonumber%("' .. m .. '", 8%)', msg)
      end
      assert.matches("execute bits",
        H.raised(function() smo.open{ key = H.key(), size = 64, create = true, mode = tonumber("700", 8) } end))
      -- a mode its owner cannot read is no use to anyone but root
      for _, m in ipairs{ "0", "040", "044", "004" } do
        local msg = H.raised(function() smo.open{ key = H.key(), size = 64, create = true, mode = tonumber(m, 8) } end)
        assert.matches("gives its owner no read", msg)
      end
      -- every sensible mode, in decimal or octal, is taken
      for _, m in ipairs{ "600", "640", "644", "660", "666", "400", "440", "444" } do
        -- (without write for its owner, even the creator attaches read-only; root may anyway)
        local ro = m:sub(1, 1) == "4"
        local s = assert(smo.open{ key = H.key(), size = 64, create = true, mode = tonumber(m, 8), readonly = ro })
        assert.are.equal(tonumber(m, 8), s:stat().mode)
        s:close()
      end
    end)
  end)
end)
