-- smo.dict (issue 13): the API, case by case against ngx.shared.DICT's
-- documented results (lua-nginx-module's README and resty.core's shdict),
-- and what it does better: integers, exact free space, eviction, opening.
local H = require("spec.helpers")
local smo = H.smo

local MiB = 1024 * 1024

local function entry_bytes(klen, vlen)
  return 64 * (1 + math.ceil((klen + vlen) / 56))
end

describe("smo.dict", function()
  local d
  before_each(function() d = assert(smo.dict{ key = smo.PRIVATE, size = MiB, create = true }) end)
  after_each(function()
    if d then d:close() end
    H.cleanup()
  end)

  it("stores and reads every value type, binary safe, with flags (get returns flags only when not 0)", function()
    assert.are.same({ true, nil, false }, { d:set("s", "a\0b") })
    assert.are.equal("a\0b", d:get("s"))
    assert.are.equal(1, select("#", d:get("s")))
    d:set("f", 2.5, 0, 7)
    local v, flags = d:get("f")
    assert.are.equal(2.5, v)
    assert.are.equal(7, flags)
    d:set("t", true)
    d:set("n", false)
    assert.is_true(d:get("t"))
    assert.is_false(d:get("n"))
    d:set("e", "")
    assert.are.equal("", d:get("e"))
    d:set("big", ("x"):rep(100000))
    assert.are.equal(("x"):rep(100000), d:get("big"))
    assert.is_nil(d:get("missing"))
    assert.are.equal(1, select("#", d:get("missing")))
  end)

  it("keeps integers integers and floats floats (ngx stores doubles)", function()
    if H.needs("integers") then pending(H.needs("integers")) return end
    d:set("i", 3)
    d:set("x", 3.0)
    assert.are.equal("integer", math.type(d:get("i")))
    assert.are.equal("float", math.type(d:get("x")))
    d:set("max", math.maxinteger)
    assert.are.equal(math.maxinteger, d:get("max"))
    assert.are.equal(math.mininteger, d:incr("max", 1))       -- wraps as Lua's integers do
    d:set("big", H.to_integer(2 ^ 62))
    for _ = 1, 1000 do d:incr("big", 1) end
    assert.are.equal(H.to_integer(2 ^ 62) + 1000, d:get("big"))
    assert.are.equal("float", math.type(d:incr("i", 0.5)))
    assert.are.equal(3.5, d:get("i"))
  end)

  it("set with nil deletes; delete returns true", function()
    d:set("k", 1)
    assert.are.same({ true, nil, false }, { d:set("k", nil) })
    assert.is_nil(d:get("k"))
    d:set("k", 1)
    assert.is_true(d:delete("k"))
    assert.is_nil(d:get("k"))
    assert.is_true(d:delete("never there"))
  end)

  it("add, safe_add and replace as ngx's: exists, not found, expired counts as missing", function()
    assert.are.same({ true, nil, false }, { d:add("a", 1) })
    assert.are.same({ false, "exists", false }, { d:add("a", 2) })
    assert.are.same({ false, "exists", false }, { d:safe_add("a", 2) })
    assert.are.equal(1, d:get("a"))
    assert.are.same({ false, "not found", false }, { d:replace("b", 1) })
    assert.are.same({ true, nil, false }, { d:replace("a", 5) })
    assert.are.equal(5, d:get("a"))
    d:set("x", 1, 0.01)
    H.sleep(0.03)
    assert.are.same({ false, "not found", false }, { d:replace("x", 2) })
    assert.are.same({ true, nil, false }, { d:add("x", 3) })
    assert.are.equal(3, d:get("x"))
    assert.matches("bad argument #2 to 'add' %(attempt to add a nil value", H.raised(function() d:add("z", nil) end))
    assert.matches("attempt to replace a nil value", H.raised(function() d:replace("a", nil) end))
  end)

  it("incr as ngx's: not found, not a number, init and init_ttl, one result without init", function()
    assert.are.same({ nil, "not found" }, { d:incr("c", 1) })
    assert.are.same({ 11, nil, false }, { d:incr("c", 1, 10) })
    assert.are.same({ 12 }, { d:incr("c", 1) })
    assert.are.same({ 13, nil, false }, { d:incr("c", 1, 100, 5) })    -- init and init_ttl ignored: it exists
    assert.are.equal(0, d:ttl("c"))
    assert.are.same({ 2, nil, false }, { d:incr("t", 1, 1, 0.05) })
    assert.is_true(d:ttl("t") > 0)
    d:set("s", "x")
    assert.are.same({ nil, "not a number" }, { d:incr("s", 1) })
    d:set("b", true)
    assert.are.same({ nil, "not a number" }, { d:incr("b", 1) })
    assert.matches("must provide \"init\" when providing \"init_ttl\"", H.raised(function() d:incr("c", 1, nil, 5) end))
    assert.matches("bad argument #2 to 'incr' %(number expected, got string%)", H.raised(function() d:incr("c", "1") end))
    d:set("e", 1, 0.01)
    H.sleep(0.03)
    assert.are.same({ nil, "not found" }, { d:incr("e", 1) })           -- expired counts as missing
    assert.are.same({ 8, nil, false }, { d:incr("e", 1, 7) })
    assert.are.equal(0, d:ttl("e"))                                     -- a new entry: init_ttl none
  end)

  it("ttl, expire, get_stale, flush_all and flush_expired", function()
    d:set("a", "v", 10)
    local t = d:ttl("a")
    assert.is_true(t > 9.9 and t <= 10)
    assert.are.same({ nil, "not found" }, { d:ttl("nope") })
    assert.are.same({ nil, "not found" }, { d:expire("nope", 1) })
    assert.is_true(d:expire("a", 0))
    assert.are.equal(0, d:ttl("a"))
    d:set("b", "w", 0.02)
    H.sleep(0.04)
    assert.is_nil(d:get("b"))
    assert.are.same({ "w", nil, true }, { d:get_stale("b") })
    assert.are.same({ "v", nil, false }, { d:get_stale("a") })
    assert.are.same({ nil, "not found" }, { d:ttl("b") })
    d:flush_all()
    assert.is_nil(d:get("a"))
    assert.are.same({ "v", nil, true }, { d:get_stale("a") })
    assert.are.equal(2, d:flush_expired())
    assert.is_nil(d:get_stale("a"))
    for i = 1, 10 do d:set("x" .. i, i, 0.01) end
    H.sleep(0.03)
    assert.are.equal(3, d:flush_expired(3))
    assert.are.equal(7, d:flush_expired(0))
    assert.matches("exptime must be a number of seconds >= 0", H.raised(function() d:set("k", 1, -1) end))
    assert.matches("exptime must be a number of seconds >= 0", H.raised(function() d:set("k", 1, 0 / 0) end))
    assert.matches("exptime expected", H.raised(function() d:expire("a") end))
  end)

  it("get_keys: live keys, 1024 by default, 0 for all, no expired ones", function()
    for i = 1, 1500 do d:set("k" .. i, i) end
    d:set("gone", 1, 0.01)
    H.sleep(0.03)
    assert.are.equal(1024, #d:get_keys())
    assert.are.equal(10, #d:get_keys(10))
    local all = d:get_keys(0)
    assert.are.equal(1500, #all)
    local seen = {}
    for _, k in ipairs(all) do seen[k] = true end
    for i = 1, 1500 do assert(seen["k" .. i], i) end
    assert.is_nil(seen.gone)
  end)

  it("free_space is exact: every entry's documented bytes, back to the start when emptied", function()
    local start = d:free_space()
    assert.are.equal(d:capacity(), start)
    d:set("key", ("v"):rep(100))
    assert.are.equal(start - entry_bytes(3, 100), d:free_space())
    d:set("n", 42)
    assert.are.equal(start - entry_bytes(3, 100) - entry_bytes(1, 0), d:free_space())
    d:set("key", ("v"):rep(10))                     -- replaced: the old slots come back
    assert.are.equal(start - entry_bytes(3, 10) - entry_bytes(1, 0), d:free_space())
    d:delete("key")
    d:delete("n")
    assert.are.equal(start, d:free_space())
  end)

  it("set evicts the least recently used when full (forcible); safe_set and safe_add never evict", function()
    local v = ("x"):rep(1000)
    local n = 0
    while d:safe_set("k" .. n, v) do n = n + 1 end
    assert.are.same({ false, "no memory", false }, { d:safe_set("more", v) })
    assert.are.same({ false, "no memory", false }, { d:safe_add("more", v) })
    assert.is_true(n > 500)
    for i = n - 50, n - 1 do assert(d:get("k" .. i)) end   -- read recently: kept
    local ok, err, forcible = d:set("more", v)
    assert.is_true(ok, err)
    assert.is_true(forcible)
    assert.are.equal(v, d:get("more"))
    assert.is_true(d:stats().evictions >= 1)
    assert.are.same({ false, "no memory", false }, { d:set("huge", ("y"):rep(2 * MiB)) })
  end)

  it("a write larger than the whole dictionary fails with no memory, and leaves it as it was", function()
    d:set("a", 1)
    local before = d:free_space()
    assert.are.same({ false, "no memory", false }, { d:set("a", ("z"):rep(MiB)) })
    assert.are.equal(1, d:get("a"))
    assert.are.equal(before, d:free_space())
  end)

  it("lists as ngx's: lpush/rpush lengths, lpop/rpop, llen, not a list, the last pop removes the key", function()
    assert.are.equal(1, d:lpush("q", "a"))
    assert.are.equal(2, d:rpush("q", 2))
    assert.are.equal(3, d:lpush("q", "z"))
    assert.are.equal(3, d:llen("q"))
    assert.are.same({ nil, "value is a list" }, { d:get("q") })
    assert.are.same({ nil, "value is a list" }, { d:get_stale("q") })
    assert.are.same({ nil, "not a number" }, { d:incr("q", 1) })
    assert.are.equal("z", d:lpop("q"))
    assert.are.equal(2, d:rpop("q"))
    assert.are.equal("a", d:rpop("q"))
    assert.is_nil(d:rpop("q"))
    assert.are.equal(0, d:llen("q"))
    assert.is_nil(d:get("q"))                               -- the key went with its last element
    d:set("s", "x")
    assert.are.same({ nil, "value not a list" }, { d:lpush("s", 1) })
    assert.are.same({ nil, "value not a list" }, { d:llen("s") })
    assert.are.same({ nil, "value not a list" }, { d:rpop("s") })
    assert.are.equal(0, d:llen("none"))
    assert.is_nil(d:lpop("none"))
    assert.matches("bad value type: boolean", H.raised(function() d:lpush("q", true) end))
    d:set("old", "v", 0.01)
    H.sleep(0.03)
    assert.are.equal(1, d:rpush("old", "new"))             -- an expired value is replaced by a list
    assert.are.equal("new", d:lpop("old"))
  end)

  it("a queue keeps its order and its bytes, and gives all its memory back", function()
    local start = d:free_space()
    for i = 1, 2000 do assert(d:rpush("q", ("%d:"):format(i) .. ("e"):rep(i % 120))) end
    assert.are.equal(2000, d:llen("q"))
    for i = 1, 2000 do assert.are.equal(("%d:"):format(i) .. ("e"):rep(i % 120), d:lpop("q")) end
    for i = 1, 100 do d:lpush("L", i) end
    d:delete("L")                                            -- a whole list at once
    assert.are.equal(start, d:free_space())
  end)

  it("refuses bad arguments with clear errors", function()
    assert.matches("bad argument #1 to 'get' %(string expected, got number%)", H.raised(function() d:get(1) end))
    assert.matches("bad argument #1 to 'get' %(empty key%)", H.raised(function() d:get("") end))
    assert.matches("key too long %(65536 bytes, 65535 at most%)", H.raised(function() d:get(("k"):rep(65536)) end))
    assert.is_true(d:set(("k"):rep(65535), 1))
    assert.are.equal(1, d:get(("k"):rep(65535)))
    assert.matches("bad value type: table", H.raised(function() d:set("k", {}) end))
    assert.matches("flags must be 0..2%^32%-1", H.raised(function() d:set("k", 1, 0, -1) end))
    assert.matches("number has no integer representation", H.raised(function() d:set("k", 1, 0, 1.5) end))
    assert.matches("max must not be negative", H.raised(function() d:get_keys(-1) end))
    assert.matches("bad argument #1 to 'dict' %(table of options expected, got nil%)", H.raised(function() smo.dict() end))
    assert.matches("smo.dict expected", H.raised(function() d.get(io.stdout, "k") end))
    -- (a fuzz finding: smo.open's option errors came from dict.lua's own line)
    local src = debug.getinfo(1, "S").short_src
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() smo.dict{ size = 4096 } end)
    assert.is_false(ok)
    assert.are.equal(("%s:%d: option 'key' or 'path' is required"):format(src, line), err)
    assert.matches("option 'size' must be an integer", H.raised(function() smo.dict{ key = 1, size = "x" } end))
  end)

  it("closes: every method then raises; close is idempotent", function()
    d:close()
    assert.matches("attempt to use a closed smo.dict", H.raised(function() d:get("k") end))
    assert.matches("attempt to use a closed smo.dict", H.raised(function() d:set("k", 1) end))
    d:close()
    assert.are.equal("smo.dict (closed)", tostring(d))
    d = nil
  end)
end)

describe("smo.dict between processes", function()
  after_each(function() H.cleanup() end)

  it("is one dictionary for every process that opens the key; its last user removes it", function()
    local k = H.key()
    local d = assert(smo.dict{ key = k, size = MiB, create = true })
    d:set("from parent", 1)
    local out, ok = H.run(([[
      local smo = require("smobject")
      local d = assert(smo.dict{ key = %d })
      assert(d:get("from parent") == 1)
      d:set("from child", "yes")
      d:close() print("child ok")]]):format(k))
    assert(ok, out)
    assert.matches("child ok", out)
    assert.are.equal("yes", d:get("from child"))
    assert.is_truthy(H.shm_by_key(k))
    d:close()
    H.assert_gone(k, "after the last close")
  end)

  it("a read-only opener reads and cannot write", function()
    local k = H.key()
    local d = assert(smo.dict{ key = k, size = MiB, create = true })
    d:set("a", "b")
    local r = assert(smo.dict{ key = k, readonly = true })
    assert.are.equal("b", r:get("a"))
    assert.matches("attempt to write to a read%-only smo.dict", H.raised(function() r:set("a", 1) end))
    assert.matches("attempt to check a read%-only smo.dict", H.raised(function() r:check() end))
    r:close()
    d:close()
  end)

  it("refuses a segment that is not a dictionary, or of another format", function()
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = MiB, create = true })
    seg:write(0, "not a dictionary")
    local d, msg, err = smo.dict{ key = k }
    assert.is_nil(d)
    assert.matches(("key 0x%08x names a segment that is not a dictionary"):format(k), msg)
    assert.are.equal(smo.errno.EINVAL, err)
    seg:close()
    -- a dictionary of another format (another smobject's): said so, not "not a dictionary"
    local kv = H.key()
    local dv = assert(smo.dict{ key = kv, size = MiB, create = true })
    local raw = assert(smo.open{ key = kv })
    raw:set("uint32_t", 8, 99)                               -- the header's format version
    local none2, vmsg, verr = smo.dict{ key = kv }
    assert.is_nil(none2)
    assert.matches("is a dictionary of format 99, and this smobject reads format %d", vmsg)
    assert.are.equal(smo.errno.EINVAL, verr)
    raw:close()
    dv:close()
    local missing = H.key()
    local none, nmsg, nerr = smo.dict{ key = missing }
    assert.is_nil(none)
    assert.matches("no segment has key", nmsg)
    assert.are.equal(smo.errno.ENOENT, nerr)
  end)

  describe("with a mode that lets other users write it (0660, 0666)", function()
    -- Its writers take the segment's kernel lock (one lane) instead of
    -- robust mutexes in the segment, which another uid could corrupt.
    local MODE660, MODE666 = tonumber("660", 8), tonumber("666", 8)

    it("works as any dictionary, on one lane, and its bookkeeping stays right", function()
      local k = H.key()
      local d = assert(smo.dict{ key = k, size = MiB, create = true, mode = MODE660 })
      assert.are.equal(1, d:stats().lanes)
      assert.are.same({ true, nil, false }, { d:set("n", 41) })
      assert.are.equal(42, d:incr("n", 1))
      assert.are.same({ false, "exists", false }, { d:add("n", 0) })
      assert.are.equal(1, d:lpush("q", "a"))
      assert.are.equal(2, d:rpush("q", "b"))
      assert.are.equal("b", d:rpop("q"))
      for i = 1, 3000 do assert(d:set("k" .. i, ("v"):rep(i % 200))) end
      assert.is_true(d:delete("k7"))
      assert.is_nil(d:get("k7"))
      local ck = d:check()
      assert.are.same({ 0, 0, 0, false }, { ck.lost, ck.twice, ck.broken, ck.needs_repair })
      assert.are.equal(ck.entries_counted, ck.entries_found)
      local other = assert(smo.dict{ key = k })               -- (an opener learns the kind from the segment)
      assert.are.equal(42, other:get("n"))
      assert.are.equal(1, other:stats().lanes)
      other:close()
      d:flush_all()
      d:flush_expired()
      assert.are.equal(d:capacity(), d:free_space())
      d:close()
      H.assert_gone(k, "after the last close")
    end)

    it("repairs after a holder of the lock is killed, without a master", function()
      local k = H.key()
      local d = assert(smo.dict{ key = k, size = MiB, create = true, mode = MODE660 })
      d:set("a", "kept")
      local out = H.run(([[
        local smo = require("smobject")
        local s = assert(smo.open{ key = %d })
        assert(s:lock())
        io.write("locked\n") io.flush()
        os.execute("kill -9 " .. smo.getpid())
      ]]):format(k))
      assert.matches("locked", out)
      local r0 = d:stats().recoveries
      assert.are.same({ true, nil, false }, { d:set("b", 1) })
      assert.are.equal(r0 + 1, d:stats().recoveries)
      assert.are.equal("kept", d:get("a"))
      assert.are.equal(1, d:get("b"))
      d:close()
    end)

    it("N processes doing incr on one key give the exact sum", function()
      local k = H.key()
      local d = assert(smo.dict{ key = k, size = MiB, create = true, mode = MODE660 })
      local code = ([[
        local smo = require("smobject")
        local d = assert(smo.dict{ key = %d })
        for _ = 1, 3000 do assert(d:incr("n", 1, 0)) end
      ]]):format(k)
      local pids = {}
      for i = 1, 4 do
        local f = H.tmpdir() .. "/incr660-" .. i .. ".lua"
        local fh = assert(io.open(f, "w"))
        fh:write(code)
        fh:close()
        pids[i] = io.popen(H.child_env() .. H.LUA .. " " .. f .. " 2>&1")
      end
      for i = 1, 4 do
        local o = pids[i]:read("*a")
        assert.is_true((pids[i]:close()), o)
      end
      assert.are.equal(12000, d:get("n"))
      d:close()
    end)

    it("another uid writes it through the kernel lock and cannot crash us", function()
      local why = H.missing("root", "setpriv") if why then pending(why) return end
      local k = H.key()
      local d = assert(smo.dict{ key = k, size = MiB, create = true, mode = MODE666 })
      d:set("n", 0)
      local out, ok = H.sh(H.child_env() .. "setpriv --reuid=65534 --regid=65534 --clear-groups " .. H.LUA
        .. " -e " .. H.shell_quote(([[
          local smo = require("smobject")
          local d = assert(smo.dict{ key = %d, any_owner = true })   -- (made by another uid: trusted)
          for _ = 1, 1000 do assert(d:incr("n", 1)) end
          assert(d:set("theirs", "hello"))
          io.write("done\n")
        ]]):format(k)) .. " 2>&1")
      assert.is_true(ok, out)
      assert.matches("done", out)
      assert.are.equal(1000, d:get("n"))
      assert.are.equal("hello", d:get("theirs"))
      d:close()
    end)

    it("says what to do when this thread holds the lock elsewhere, or there is no lock to take", function()
      local k = H.key()
      local d = assert(smo.dict{ key = k, size = MiB, create = true, mode = MODE660 })
      local seg = assert(smo.open{ key = k })
      assert(seg:lock())
      local ok, msg, err = d:set("a", 1)
      assert.is_nil(ok)
      assert.matches("this thread holds the segment's lock through another handle.*unlock it first", msg)
      assert.are.equal(smo.errno.EDEADLK, err)
      assert.are.equal(nil, d:get("a"))                         -- (reads take no lock)
      seg:unlock()
      assert.is_true((d:set("a", 1)))
      seg:close()
      d:close()
      local p, pmsg, perr = smo.dict{ key = smo.PRIVATE, size = MiB, create = true, mode = MODE666 }
      assert.is_nil(p)
      assert.matches("lets other users write it, so its writers take the segment's lock, which a PRIVATE", pmsg)
      assert.are.equal(smo.errno.EPERM, perr)
    end)

    it("refuses one laid out with its locks inside when others may write its segment now", function()
      local why = H.missing("root") if why then pending(why) return end
      local k = H.key()
      local d = assert(smo.dict{ key = k, size = MiB, create = true, mode = tonumber("600", 8) })
      -- (the owner changes the mode; only the owner or root can)
      local chmod = H.compile("shm_chmod", [[
        #include <stdlib.h>
        #include <sys/shm.h>
        int main(int c, char **v) {
          struct shmid_ds ds;
          int id = atoi(v[1]);
          if (shmctl(id, IPC_STAT, &ds) != 0) return 1;
          ds.shm_perm.mode = 0666;
          return shmctl(id, IPC_SET, &ds) != 0;
        }
      ]])
      assert.is_true((select(2, H.sh(chmod .. " " .. H.shm_by_key(k).shmid))))
      local none, msg, err = smo.dict{ key = k }
      assert.is_nil(none)
      assert.matches("lets other users write it, but was laid out with its locks inside", msg)
      assert.are.equal(smo.errno.EPERM, err)
      assert.are.equal(0, d:stats().recoveries)                 -- (the first handle still works)
      d:close()
    end)
  end)

  it("N processes doing incr on one key give the exact sum", function()
    local k = H.key()
    local d = assert(smo.dict{ key = k, size = MiB, create = true })
    local code = ([[
      local smo = require("smobject")
      local d = assert(smo.dict{ key = %d })
      for _ = 1, 5000 do assert(d:incr("n", 1, 0)) end
      d:close() print("done")]]):format(k)
    local pids = {}
    for i = 1, 4 do pids[i] = H.spawn("run_code.lua", code) end
    for _, pid in ipairs(pids) do
      assert.is_true(H.wait_exit(pid, 120))
      assert.matches("done", H.output(pid))
    end
    assert.are.equal(20000, d:get("n"))
    d:close()
  end)
end)

describe("smo dict (the command)", function()
  local SMO = H.ROOT .. "/bin/smo"
  local function smo_cmd(args)
    local out, ok, rc = H.sh(H.child_env() .. H.LUA .. " " .. H.shell_quote(SMO) .. " " .. args)
    return out, ok, rc
  end
  after_each(function() H.cleanup() end)

  it("shows a dictionary's counters, one key's value, and its keys, without changing it", function()
    local k = H.key()
    local d = assert(smo.dict{ key = k, size = MiB, create = true })
    d:set("a", 1)
    d:set("s", "hello", 10, 3)
    d:rpush("q", "x")
    local key = ("0x%08x"):format(k)
    local out, ok = smo_cmd("dict stat " .. key)
    assert(ok, out)
    assert.matches("capacity: +%d+ bytes", out)
    assert.matches("free space: +" .. d:free_space() .. " bytes", out)
    assert.matches("entries: +3\n", out)
    assert.matches("recoveries: +0\n", out)
    out, ok = smo_cmd("dict get " .. key .. " s")
    assert(ok, out)
    assert.matches("string %(5 bytes%): hello\nflags: 3\nexpires in %d", out)
    out = smo_cmd("dict get " .. key .. " q")
    assert.matches("list of 1 element", out)
    out, ok = smo_cmd("dict keys " .. key)
    assert(ok, out)
    assert.are.equal("a\nq\ns\n", out)
    local _, rc
    out, ok, rc = smo_cmd("dict get " .. key .. " nope")
    assert.is_falsy(ok)
    assert.are.equal(1, rc)
    assert.matches("no key 'nope'", out)
    assert.is_nil(_)
    out, _, rc = smo_cmd("dict frob " .. key)
    assert.are.equal(2, rc)
    assert.matches("unknown dict command 'frob'", out)
    assert.are.equal(1, d:get("a"))
    d:close()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    out, _, rc = smo_cmd("dict stat " .. key)
    assert.are.equal(1, rc)
    assert.matches("is not a dictionary", out)
    seg:close()
  end)
end)

describe("smo.dict across runtimes", function()
  after_each(function() H.cleanup() end)

  -- The other runtime of a LuaJIT/5.4 pair, when it and its core are here.
  local function other_runtime()
    if rawget(_G, "jit") then
      if H.missing("lua5.4") or not io.open(H.ROOT .. "/build/smobject/core.so") then return nil end
      return "lua5.4", "build"
    end
    if H.missing("luajit") or not io.open(H.ROOT .. "/build/luajit/smobject/core.so") then return nil end
    return "luajit", "build/luajit"
  end

  it("readers on one runtime and writers on the other at the same time (LuaJIT's FFI path and 5.4's C one)", function()
    local lua, build = other_runtime()
    if not lua then pending("needs both lua5.4 and luajit, each with its core built") return end
    local k = H.key()
    local d = assert(smo.dict{ key = k, size = MiB, create = true })
    d:set("n", 0)
    local code = ([[
      local smo = require("smobject")
      local d = assert(smo.dict{ key = %d })
      local seen, mine, t0 = 0, 0, smo.clock()
      while smo.clock() - t0 < 1 do
        local v = d:get("s")
        if v then assert(v == ("x"):rep(#v) or v == ("y"):rep(#v), "torn: " .. v:sub(1, 20)) end
        local n = d:get("n")
        assert(n >= seen, "went back")
        seen = n
        d:incr("c", 1, 0)
        mine = mine + 1
      end
      d:close() print("other done", mine)]]):format(k)
    local cmd = ("LUA_PATH=%q LUA_CPATH=%q %s -e %s 2>&1"):format(H.ROOT .. "/lua/?.lua;;",
      H.ROOT .. "/" .. build .. "/?.so;;", lua, H.shell_quote(code))
    local p = io.popen(cmd)
    local t0 = H.now()
    local i = 0
    while H.now() - t0 < 1.2 do
      i = i + 1
      d:set("s", (i % 2 == 0 and "x" or "y"):rep(1 + i % 300))
      d:incr("n", 1)
      d:incr("c", 1, 0)
    end
    local out = p:read("*a")
    p:close()
    local theirs = tonumber(out:match("other done\t(%d+)"))
    assert(theirs, out)
    assert.is_true(theirs > 0)
    assert.are.equal(i + theirs, d:get("c"))              -- every increment of both, exactly
    d:close()
  end)
end)
