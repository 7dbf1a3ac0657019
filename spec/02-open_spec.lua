local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

describe("smo.open", function()
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("creates, reports created, and attaches with the kernel's size", function()
    local k = H.key()
    local a, created = smo.open{ key = k, size = 1000, create = true }
    assert.is_true(created)
    assert.are.equal(1000, a:size())
    assert.are.equal(1000, #a)
    local b, created2 = smo.open{ key = k }
    assert.is_false(created2)
    assert.are.equal(1000, b:size())
    assert.are.equal(k, b:key())
    assert.are.equal(a:shmid(), b:shmid())
    b:close()
    a:close()
  end)

  it("gives ENOENT when attaching to a missing key, and leaves nothing behind", function()
    local k = H.key()
    local s, msg, err = smo.open{ key = k }
    assert.is_nil(s)
    assert.are.equal(("shmget: No such file or directory: no segment has key 0x%08x (create = true makes it)")
      :format(k), msg)
    assert.are.equal(E.ENOENT, err)
    assert.is_nil(H.sem_by_key(k))
  end)

  it("exclusive creation fails with EEXIST on an existing key", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = "exclusive" })
    local s, msg, err = smo.open{ key = k, size = 64, create = "exclusive" }
    assert.is_nil(s)
    assert.are.equal(("shmget: File exists: key 0x%08x names a segment already"
      .. ' (create = "exclusive" wants a new one)'):format(k), msg)
    assert.are.equal(E.EEXIST, err)
    assert.are.equal(1, a:users())
    a:close()
    assert.is_nil(H.shm_by_key(k))
  end)

  it("create = true joins an existing segment", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    local b, created = smo.open{ key = k, size = 64, create = true }
    assert.is_false(created)
    assert.are.equal(2, b:users())
    a:close() b:close()
  end)

  it("refuses a size larger than the existing segment with EINVAL", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 100, create = true })
    local s, msg, err = smo.open{ key = k, size = 101 }
    assert.is_nil(s)
    assert.are.equal(E.EINVAL, err)
    assert.matches("^open: segment has 100 bytes, fewer than the 101 asked", msg)
    assert.are.equal(1, a:users())
    a:close()
  end)

  it("uses mode 0600 by default and the given mode otherwise", function()
    local k1, k2 = H.key(), H.key()
    local a = assert(smo.open{ key = k1, size = 64, create = true })
    assert.are.equal(tonumber("600", 8), a:stat().mode)
    assert.are.equal(600, H.shm_by_key(k1).perms)
    local b = assert(smo.open{ key = k2, size = 64, create = true, mode = tonumber("640", 8) })
    assert.are.equal(tonumber("640", 8), b:stat().mode)
    -- the bookkeeping set has the segment's mode: no other uid may write
    -- the counter unless it may write the data
    assert.are.equal(640, H.sem_by_key(k2).perms)
    a:close() b:close()
  end)

  it("opens by path and proj through ftok", function()
    local path = H.tmpdir()
    local k = H.track(smo.key(path, "Q"))
    local a, created = assert(smo.open{ path = path, proj = "Q", size = 64, create = true })
    assert.is_true(created)
    assert.are.equal(k, a:key())
    local b = assert(smo.open{ path = path, proj = string.byte("Q") })
    assert.are.equal(a:shmid(), b:shmid())
    a:close() b:close()
    -- proj defaults to 1
    local c = assert(smo.open{ path = path, size = 8, create = true })
    assert.are.equal(smo.key(path, 1), c:key())
    H.track(c:key())
    c:close()
  end)

  it("read-only handles read but every write raises", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    a:write(0, "hello")
    local r = assert(smo.open{ key = k, readonly = true })
    assert.are.equal("hello", r:read(0, 5))
    for _, f in ipairs({
      function() r:write(0, "x") end,
      function() r:set("int32_t", 0, 1) end,
      function() r:fill(0, 4) end,
      string.pack and function() r:pack(0, "i4", 1) end or nil,   -- (seg:pack is 5.3+)
    }) do
      assert.has_error(f, "attempt to write to a read-only smobject")
    end
    assert.are.equal("hello", a:read(0, 5))
    assert.are.equal(2, r:users())
    r:close() a:close()
  end)

  it("refuses a segment owned by another uid unless any_owner", function()
    local k = H.key()
    -- a nobody-owned segment, mode 0666, made by a plain C program running as nobody
    local why = H.missing("root", "cc", "setpriv") if why then pending(why) return end
    local exe = H.compile("mk_nobody", [[
      #include <stdlib.h>
      #include <sys/shm.h>
      int main(int c, char **v) { return shmget((key_t)atol(v[1]), 64, IPC_CREAT | 0666) < 0; }
    ]])
    os.execute("chmod 755 " .. H.tmpdir() .. " " .. exe)
    local _, ok = H.sh("setpriv --reuid=65534 --regid=65534 --clear-groups " .. exe .. " " .. k)
    assert.is_true(ok)
    assert.are.equal(65534, H.shm_by_key(k).uid)
    local s, msg, err = smo.open{ key = k }
    assert.is_nil(s)
    assert.are.equal(E.EPERM, err)
    assert.matches("^open: segment owned by uid 65534", msg)
    assert.is_nil(H.sem_by_key(k))  -- refused before any bookkeeping was kept
    local a = assert(smo.open{ key = k, any_owner = true })
    assert.are.equal(1, a:users())
    a:close()
    assert.is_not_nil(H.shm_by_key(k))  -- foreign: never removed by us
    assert.is_nil(H.sem_by_key(k))
  end)

  it("PRIVATE segments are marked for removal at once and attachable by id", function()
    local a, created = assert(smo.open{ key = smo.PRIVATE, size = 128, create = true })
    assert.is_true(created)
    assert.are.equal(smo.PRIVATE, a:key())
    local st = a:stat()
    assert.is_true(st.removed)
    assert.are.equal(1, a:users())
    a:write(0, "private")
    local b = assert(smo.attach(a:shmid()))
    assert.are.equal("private", b:read(0, 7))
    assert.are.equal(2, b:users())
    local id = a:shmid()
    a:close() b:close()
    assert.is_nil(H.shm_by_id(id))
  end)

  it("persistent PRIVATE segments stay until removed", function()
    local a = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true, persist = true })
    local id = a:shmid()
    a:close()
    assert.is_not_nil(H.shm_by_id(id))
    local b = assert(smo.attach(id))
    assert.is_true(b:remove())
    b:close()
    assert.is_nil(H.shm_by_id(id))
  end)

  it("smo.attach by id joins the key's memory counter", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    local b = assert(smo.attach(a:shmid()))
    assert.are.equal(2, a:users())
    b:close()
    assert.are.equal(1, a:users())
    a:close()
    assert.is_nil(H.shm_by_key(k))
  end)

  it("attach by a missing id gives EINVAL", function()
    local s, msg, err = smo.attach(2147480000)
    assert.is_nil(s)
    assert.are.equal(E.EINVAL, err)
    assert.matches("^shmctl: ", msg)
  end)

  it("stat describes the segment", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 321, create = true })
    local st = a:stat()
    assert.are.equal(k, st.key)
    assert.are.equal(a:shmid(), st.shmid)
    assert.are.equal(321, st.size)
    assert.are.equal(1, st.nattch)
    for _, f in ipairs({ "uid", "gid", "cuid", "cgid", "cpid", "lpid", "atime", "dtime", "ctime" }) do
      assert.is_true(H.is_integer(st[f]), f)
    end
    assert.is_false(st.removed)
    a:close()
  end)

  it("tostring says key, id and size, or closed", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    assert.are.equal(string.format("smobject (key 0x%08x, shmid %d, 64 bytes)", k, a:shmid()), tostring(a))
    a:close()
    assert.are.equal("smobject (closed)", tostring(a))
  end)

  it("list shows our segments and limits gives the kernel's", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    local found
    for _, st in ipairs(smo.list()) do
      if st.shmid == a:shmid() then found = st end
    end
    assert.is_not_nil(found)
    assert.are.equal(k, found.key)
    local lim = smo.limits()
    for _, f in ipairs({ "shmmax", "shmmni", "shmall" }) do
      assert.is_true(lim[f] > 0, f)
    end
    local f = io.open("/proc/sys/kernel/shmmni")
    assert.are.equal(tonumber(f:read("*l")), lim.shmmni)
    f:close()
    a:close()
  end)

  it("OS limits come back as nil, msg, errno", function()
    local k = H.key()
    local s, msg, err = smo.open{ key = k, size = H.MAXINT, create = true }
    assert.is_nil(s)
    assert.is_true(err == E.EINVAL or err == E.ENOMEM or err == E.ENOSPC)
    assert.matches("^shmget: ", msg)
    assert.is_nil(H.sem_by_key(k))
  end)
end)
