local H = require("spec.helpers")
local smo = H.smo

-- A plain C program: no smobject, only shmget/shmat, at offset 0 of the segment.
local C_PEER = [[
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

struct shared { double x; int32_t seq; char name[16]; uint64_t big; };

int main(int argc, char **argv) {
  key_t key = ftok(argv[2], argv[3][0]);
  int create = strcmp(argv[1], "create") == 0, id;
  struct shared *p;
  (void)argc;
  id = shmget(key, 4096, create ? IPC_CREAT | 0600 : 0);
  if (id < 0) { perror("shmget"); return 1; }
  p = shmat(id, NULL, 0);
  if (p == (void *)-1) { perror("shmat"); return 1; }
  if (strcmp(argv[1], "read") == 0) {
    printf("return { x = %.17g, seq = %d, name = \"%s\", big = %llu }\n", p->x, p->seq, p->name,
           (unsigned long long)p->big);
  } else {
    p->x = 2.5; p->seq = 77; strcpy(p->name, "from C"); p->big = 18446744073709551615ULL;
    if (strcmp(argv[1], "create") == 0 && argc > 4) {
      /* the device/client pattern: its own semaphore set under the same key */
      int sid = semget(key, 1, IPC_CREAT | 0600);
      if (sid < 0) { perror("semget"); return 1; }
      struct sembuf op = { 0, 1, 0 };
      semop(sid, &op, 1);
    }
  }
  shmdt(p);
  return 0;
}
]]


if H.missing("cc") then   -- every test here runs a C peer
  describe("sharing with a plain C program", function() pending(H.missing("cc")) end)
  return
end

describe("sharing with a plain C program", function()
  local exe
  setup(function() exe = H.compile("cpeer", C_PEER) end)
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  local function c(cmd, path, proj, extra)
    return H.sh(exe .. " " .. cmd .. " " .. path .. " " .. proj .. (extra and " x" or ""))
  end

  it("C reads at offset 0 what Lua wrote", function()
    local path = H.tmpdir()
    H.track(smo.key(path, "L"))
    local seg = assert(smo.open{ path = path, proj = "L", size = 4096, create = true })
    seg:set("double", 0, 1.25)
    seg:set("int32_t", 8, -5)
    seg:write(12, "lua\0")
    seg:set("uint64_t", 32, 1234567890123)
    local out, ok = c("read", path, "L")
    assert.is_true(ok, out)
    assert.are.same({ x = 1.25, seq = -5, name = "lua", big = 1234567890123 }, H.load(out)())
    seg:close()
    assert.is_nil(H.shm_by_key(smo.key(path, "L")))
  end)

  it("Lua reads what C wrote, and leaves a segment C created alone", function()
    local path = H.tmpdir()
    local k = H.track(smo.key(path, "C"))
    local out, ok = c("create", path, "C")
    assert.is_true(ok, out)
    local seg, created = assert(smo.open{ path = path, proj = "C", size = 4096 })
    assert.is_false(created)
    assert.are.equal(2.5, seg:get("double", 0))
    assert.are.equal(77, seg:get("int32_t", 8))
    assert.are.equal("from C", H.cstring(seg, 12))
    if H.INTEGERS then
      assert.are.equal(-1, seg:get("uint64_t", 32))  -- all bits set, as string.unpack reads it
      seg:set("uint64_t", 32, seg:get("uint64_t", 32))  -- a get can always be written back
    else   -- (2^64 - 1 is no double: the read raises, naming the range)
      assert.matches("2%^53", H.raised(function() return seg:get("uint64_t", 32) end))
    end
    assert.are.equal(1, seg:users())
    seg:close()
    assert.is_not_nil(H.shm_by_key(k))   -- foreign: kept
    assert.is_nil(H.sem_by_key(k))       -- our bookkeeping is gone
    local again = assert(smo.open{ key = k })
    assert.is_true(again:remove())       -- removed only when asked
    again:close()
    assert.is_nil(H.shm_by_key(k))
  end)

  it("a foreign semaphore set under the same key is never adopted or touched", function()
    local path = H.tmpdir()
    local k = H.track(smo.key(path, "D"))
    local out, ok = c("create", path, "D", true)
    assert.is_true(ok, out)
    local before = H.sem_by_key(k)
    assert.are.equal(1, before.nsems)
    local seg = assert(smo.open{ key = k })
    local seg2 = assert(smo.open{ key = k })
    assert.are.equal("from C", H.cstring(seg, 12))
    -- no counter is possible: users() falls back to the kernel's attach count
    assert.are.equal(2, seg:users())
    seg:close() seg2:close()
    local after = H.sem_by_key(k)
    assert.are.equal(before.semid, after.semid)
    assert.are.equal(1, after.nsems)
    assert.is_not_nil(H.shm_by_key(k))
    -- creating under a key whose set is foreign would leak: refused unless persist
    assert.is_true(smo.remove(k))
    local s, msg, err = smo.open{ key = k, size = 64, create = true }
    assert.is_nil(s)
    assert.are.equal(smo.errno.EEXIST, err)
    assert.matches("foreign semaphore set", msg)
    local p = assert(smo.open{ key = k, size = 64, create = true, persist = true })
    p:remove()
    p:close()
    assert.are.equal(before.semid, H.sem_by_key(k).semid)
  end)
end)
