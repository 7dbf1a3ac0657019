local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

-- Waits until every child printed "ready".
local function wait_ready(pids)
  return H.wait_for(function()
    for _, pid in ipairs(pids) do
      if not H.output(pid):match("ready") then return false end
    end
    return true
  end, 20)
end

describe("the memory counter", function()
  local pids = {}
  after_each(function()
    H.stop_all(pids)
    H.cleanup()
  end)
  teardown(H.cleanup_all)

  it("counts every handle in this process", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    local b = assert(smo.open{ key = k })
    local c = assert(smo.open{ key = k })
    assert.are.equal(3, a:users())
    b:close()
    assert.are.equal(2, c:users())
    b:close()  -- idempotent: no second decrement
    assert.are.equal(2, a:users())
    c:close() a:close()
    H.assert_gone(k)
  end)

  it("a writer and a reader in different processes exchange data", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 4096, create = true })
    local out, ok = H.sh(H.child_env() .. H.LUA .. " " .. H.ROOT .. "/spec/children/writer.lua "
      .. k .. " 'from a child' 4242")
    assert.is_true(ok, out)
    assert.are.equal("from a child", H.cstring(a, 0))
    assert.are.equal(4242, a:get("int32_t", 256))
    a:write(0, "from the parent\0")
    a:set("int32_t", 256, -7)
    local res = H.sh(H.child_env() .. H.LUA .. " " .. H.ROOT .. "/spec/children/reader.lua " .. k)
    local t = H.load(res)()
    assert.are.same({ text = "from the parent", number = -7, users = 2 }, t)
    assert.are.equal(1, a:users())
    a:close()
  end)

  it("N processes attaching at once count N, and the last out removes the segment", function()
    local k, n = H.key(), 6
    for i = 1, n do pids[i] = H.spawn("holder.lua", k, 1.5) end
    assert.is_true(wait_ready(pids))
    local a = assert(smo.open{ key = k })
    assert.are.equal(n + 1, a:users())
    assert.are.equal(n + 1, a:stat().nattch)
    a:close()
    for _, pid in ipairs(pids) do assert.is_true(H.wait_exit(pid)) end
    for _, pid in ipairs(pids) do assert.matches("closed", H.output(pid)) end
    H.assert_gone(k)
  end)

  it("gives back the shares of children killed with SIGKILL", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 4096, create = true })
    for i = 1, 4 do pids[i] = H.spawn("holder.lua", k, 60, 3) end   -- 3 handles each
    assert.is_true(wait_ready(pids))
    assert.are.equal(13, a:users())
    H.kill(pids[1])
    H.kill(pids[2])
    assert.is_true(H.wait_exit(pids[1]))
    assert.is_true(H.wait_exit(pids[2]))
    assert.are.equal(7, a:users())
    H.kill(pids[3], "ABRT")  -- a crash: no finalizer runs, as with the original SMObject
    H.kill(pids[4], "TERM")
    assert.is_true(H.wait_exit(pids[3]))
    assert.is_true(H.wait_exit(pids[4]))
    assert.are.equal(1, a:users())
    a:close()
    H.assert_gone(k)
  end)

  it("the last survivor cleans up after the creator was killed", function()
    local k = H.key()
    pids[1] = H.spawn("holder.lua", k, 60)
    assert.is_true(wait_ready(pids))
    local a = assert(smo.open{ key = k })
    assert.are.equal(2, a:users())
    H.kill(pids[1])
    assert.is_true(H.wait_exit(pids[1]))
    assert.are.equal(1, a:users())
    a:close()
    H.assert_gone(k)
  end)

  it("a killed last user leaves a segment the next user joins and removes", function()
    local k = H.key()
    pids[1] = H.spawn("holder.lua", k, 60)
    assert.is_true(wait_ready(pids))
    H.kill(pids[1])
    assert.is_true(H.wait_exit(pids[1]))
    -- nobody is left to remove it: the counter is 0 and the set remembers it is ours
    assert.are.equal(0, smo.bookkeeping(k).count)
    assert.is_true(smo.bookkeeping(k).owned)
    local a, created = assert(smo.open{ key = k, size = 4096, create = true })
    assert.is_false(created)
    assert.are.equal(1, a:users())
    a:close()
    H.assert_gone(k)
  end)

  it("persistent segments outlive their last user, without bookkeeping", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true, persist = true })
    a:write(0, "kept")
    local b = assert(smo.open{ key = k })
    assert.are.equal(2, b:users())
    a:close() b:close()
    assert.is_not_nil(H.shm_by_key(k))
    assert.is_nil(H.sem_by_key(k))
    local c = assert(smo.open{ key = k })
    assert.are.equal("kept", c:read(0, 4))
    assert.are.equal(1, c:users())
    c:close()
    assert.is_not_nil(H.shm_by_key(k))
    assert.is_true(smo.remove(k))
    assert.is_nil(H.shm_by_key(k))
  end)

  it("remove() takes the segment and bookkeeping away; open handles keep working", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    local b = assert(smo.open{ key = k })
    assert.is_true(a:remove())
    H.assert_gone(k)
    b:write(0, "still here")
    assert.are.equal("still here", a:read(0, 10))
    local u, msg, err = a:users()
    assert.is_nil(u)
    assert.are.equal(E.EIDRM, err)
    assert.matches("^semctl: ", msg)
    -- the key is free again: a new segment under it is a different one
    local c, created = assert(smo.open{ key = k, size = 64, create = true })
    assert.is_true(created)
    assert.are.equal(1, c:users())
    a:close() b:close()
    assert.are.equal(1, c:users())
    c:close()
    assert.is_nil(H.shm_by_key(k))
  end)

  it("smo.remove(key) removes segment and bookkeeping; a missing key is ENOENT", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 64, create = true })
    assert.is_true(smo.remove(k))
    H.assert_gone(k)
    a:close()
    local ok, msg, err = smo.remove(k)
    assert.is_nil(ok)
    assert.are.equal(("shmget: No such file or directory: no segment has key 0x%08x"):format(k), msg)
    assert.are.equal(E.ENOENT, err)
  end)

  it("a forked child collecting an inherited handle does not change the parent's count", function()
    local k = H.key()
    local why = H.missing("cc") if why then pending(why) return end
    local flags, nolib = H.embed_flags()
    if not flags then pending(nolib) return end
    local exe = H.compile("forker", [[
      #include <stdio.h>
      #include <stdlib.h>
      #include <sys/wait.h>
      #include <unistd.h>
      #include "lua.h"
      #include "lauxlib.h"
      #include "lualib.h"
      int main(int argc, char **argv) {
        lua_State *L = luaL_newstate();
        int st;
        pid_t pid;
        luaL_openlibs(L);
        if (argc < 2) return 2;
        lua_pushstring(L, argv[1]);
        lua_setglobal(L, "arg");
        if (luaL_dostring(L, "smo = require('smobject'); seg = assert(smo.open{key = tonumber(arg), size = 64, create = true})"
                             " b = assert(smo.open{key = tonumber(arg)})") != 0) {
          fprintf(stderr, "%s\n", lua_tostring(L, -1)); return 1;
        }
        pid = fork();
        if (pid == 0) {   /* the child collects both inherited handles */
          lua_close(L);
          _exit(0);
        }
        waitpid(pid, &st, 0);
        if (luaL_dostring(L, "print(seg:users(), seg:stat().nattch); b:close(); print(seg:users())") != 0) {
          fprintf(stderr, "%s\n", lua_tostring(L, -1)); return 1;
        }
        lua_close(L);
        return 0;
      }
    ]], flags)
    local out, ok = H.sh(H.child_env() .. exe .. " " .. k)
    assert.is_true(ok, out)
    assert.are.equal("2\t2\n1\n", out)  -- users, nattch (two handles), users
    H.assert_gone(k)
  end)
end)
