-- smo.open{ wait = seconds }: waiting for a segment to be created.
local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

describe("smo.open with wait", function()
  local pids = {}
  after_each(function()
    H.stop_all(pids)
    H.cleanup()
  end)
  teardown(H.cleanup_all)

  for _, wait in ipairs{ 10, math.huge } do
    it("returns the segment once it is created (wait = " .. tostring(wait) .. "), counted once", function()
      local k = H.key()
      pids[1] = H.spawn("late_creator.lua", k, 0.3, 5)
      local t0 = H.now()
      local seg, created = assert(smo.open{ key = k, wait = wait })
      assert.is_true(H.now() - t0 >= 0.2)
      assert.is_false(created)
      assert.are.equal("made", seg:read(0, 4))
      assert.are.equal(2, seg:users())        -- the creator and us: no failed try counted
      seg:close()
      assert.are.equal(1, smo.bookkeeping(k).count)
    end)
  end

  it("times out with nil, msg, ETIMEDOUT naming the key, and leaves nothing", function()
    local k = H.key()
    local t0, c0 = H.now(), os.clock()
    local seg, msg, err = smo.open{ key = k, wait = 0.5 }
    local elapsed, cpu = H.now() - t0, os.clock() - c0
    assert.is_nil(seg)
    assert.are.equal(E.ETIMEDOUT, err)
    assert.matches(("0x%08x"):format(k), msg, 1, true)
    assert.is_true(elapsed >= 0.45)
    assert.is_true(cpu < 0.1, "waiting burnt " .. cpu .. " s of CPU")
    H.assert_gone(k)
  end)

  it("wait = 0 is one try, as without wait", function()
    local k = H.key()
    local seg, msg, err = smo.open{ key = k, wait = 0 }
    assert.is_nil(seg)
    assert.are.equal(("shmget: No such file or directory: no segment has key 0x%08x (create = true makes it)")
      :format(k), msg)
    assert.are.equal(E.ENOENT, err)
  end)

  it("other failures are not waited on", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    local t0 = H.now()
    local seg, _, err = smo.open{ key = k, size = 128, wait = 5 }   -- too small: EINVAL at once
    assert.is_nil(seg)
    assert.are.equal(E.EINVAL, err)
    assert.is_true(H.now() - t0 < 1)
    a:close()
  end)

  for _, how in ipairs{ "in the main thread", "in a coroutine" } do
    it("is ended by Ctrl-C (SIGINT) in " .. H.LUA .. " " .. how .. ", leaving nothing", function()
      -- (under valgrind a SIGINT can come before the child has its handler)
      if H.LUA:find("valgrind", 1, true) then pending("signal timing under valgrind") return end
      local k = H.key()
      local dir = H.tmpdir()
      local child = dir .. "/wait_int.lua"
      -- (flushed: the print of 5.2+ flushes stdout, 5.1's does not, and the
      -- hook's message on stderr would come first in the file)
      local body = ("local seg, msg, err = smo.open{ key = %d, wait = math.huge }\n"
        .. "print(tostring(seg), msg, err)\nio.stdout:flush()\n"):format(k)
      if how == "in a coroutine" then body = "coroutine.wrap(function()\n" .. body .. "end)()\n" end
      local f = assert(io.open(child, "w"))
      f:write('local smo = require("smobject")\nprint("waiting")\nio.stdout:flush()\n', body)
      f:close()
      local res, dt, text = H.interrupt(child, "waiting")
      -- the wait returns nil, msg, EINTR and lua.c's hook raises at once,
      -- as it does in any Lua code: the program ends as Ctrl-C ends it
      assert.are.equal("rc=1\n", res, text)
      assert.is_true(dt < 15, ("took %.1f s"):format(dt))
      -- (in a coroutine, which has no hook of its own, the wait's result is
      -- printed (and flushed: stderr is not buffered) before the main
      -- thread's hook raises.  LuaJIT's hooks are global, not per thread:
      -- there the coroutine is interrupted as the main thread is, on the
      -- return from open, and prints nothing.)
      local own_hook = how == "in a coroutine" and not H.LUA:find("luajit", 1, true)
      local printed = ("nil\topen: interrupted while waiting for key 0x%08x\t%d\n"):format(k, E.EINTR)
      assert.matches("^waiting\n" .. (own_hook and printed:gsub("%p", "%%%0") or "")
        .. "[^\n]*interrupted!\n", text)
      if not own_hook then assert.is_nil(text:find("interrupted while waiting", 1, true), text) end
      assert.is_nil(H.sem_by_key(k))
      assert.is_nil(H.shm_by_key(k))
    end)
  end

  it("refuses a bad wait", function()
    local k = H.key()
    assert.matches("option 'wait' must be a number", H.raised(function() smo.open{ key = k, wait = "1" } end))
    assert.matches("option 'wait' is NaN", H.raised(function() smo.open{ key = k, wait = 0 / 0 } end))
    assert.matches("must not be negative", H.raised(function() smo.open{ key = k, wait = -1 } end))
    assert.matches("cannot go with 'create'",
      H.raised(function() smo.open{ key = k, size = 64, create = true, wait = 1 } end))
  end)
end)
