-- The smo command, run as a child process: output and exit codes.
local H = require("spec.helpers")
local smo = H.smo

local function run(args)
  local out, _, code = H.sh(H.LUA .. " " .. H.ROOT .. "/bin/smo " .. args)
  return out, code
end

describe("the smo command", function()
  local seg, k
  before_each(function()
    k = H.key()
    seg = assert(smo.open{ key = k, size = 100, create = true })
    seg:write(0, "hello, smo\0")
  end)
  after_each(function() seg:close() H.cleanup() end)
  teardown(H.cleanup_all)

  it("lists segments with what only smobject knows", function()
    local p = assert(smo.open{ key = H.key(), size = 64, create = true, persist = true })
    local out, code = run("list")
    assert.are.equal(0, code)
    assert.matches("key%s+shmid%s+owner%s+perms%s+bytes%s+nattch%s+users%s+managed", out)
    local line = out:match(("0x%08x[^\n]*"):format(k))
    assert.is_not_nil(line, out)
    assert.matches(("^0x%%x+%%s+%d%%s+%%S+%%s+600%%s+100%%s+1%%s+1%%s+yes%%s+removed by last user$"):format(seg:shmid()), line)
    local pline = out:match(("0x%08x[^\n]*"):format(p:key()))
    assert.matches("yes%s+kept %(persistent or foreign%)$", pline)
    p:remove()
    p:close()
  end)

  it("stat prints every shmid_ds field", function()
    local out, code = run(("0x%x"):format(k):gsub("^", "stat "))
    assert.are.equal(0, code, out)
    for _, label in ipairs({ "key", "shmid", "size", "mode", "owner", "creator", "creator pid", "last op pid",
                             "attached", "last attach", "last detach", "last change", "marked for removal",
                             "memory counter", "managed by smobject" }) do
      assert.matches("\n?" .. label:gsub("%p", "%%%0") .. ":", out)
    end
    assert.matches("mode:%s+rw%-%-%-%-%-%-%- %(0600%)", out)
    assert.matches("size:%s+100 bytes", out)
    assert.matches("memory counter:%s+1\n", out)
    assert.matches(("shmid:%%s+%d\n"):format(seg:shmid()), out)
  end)

  it("accepts keys as decimal, hex and PATH:PROJ, and ids as id:N", function()
    local dir = H.tmpdir()
    local pk = H.track(smo.key(dir, "Z"))
    local p = assert(smo.open{ key = pk, size = 32, create = true })
    for _, spec in ipairs({ tostring(k), ("0x%x"):format(k), "id:" .. seg:shmid(), "key:" .. k }) do
      local out, code = run("stat " .. spec)
      assert.are.equal(0, code, spec .. ": " .. out)
      assert.matches(("shmid:%%s+%d\n"):format(seg:shmid()), out)
    end
    local out, code = run("stat " .. dir .. ":Z")
    assert.are.equal(0, code, out)
    assert.matches(("shmid:%%s+%d\n"):format(p:shmid()), out)
    out = run("stat " .. dir .. ":90")
    assert.matches(("shmid:%%s+%d\n"):format(p:shmid()), out)
    p:close()
  end)

  it("dumps bytes in hex with their ASCII", function()
    local out, code = run(("dump 0x%x 0 16"):format(k))
    assert.are.equal(0, code)
    assert.are.equal("00000000  68 65 6c 6c 6f 2c 20 73 6d 6f 00 00 00 00 00 00  hello, smo......\n", out)
    out = run(("dump 0x%x 96"):format(k))
    assert.are.equal("00000060  00 00 00 00                                      ....\n", out)
    local all = run(("dump 0x%x"):format(k))
    assert.are.equal(7, select(2, all:gsub("\n", "")))
  end)

  it("rm removes the segment and its bookkeeping", function()
    local out, code = run(("rm 0x%x"):format(k))
    assert.are.equal(0, code)
    assert.are.equal(("removed 0x%08x (shmid %d)\n"):format(k, seg:shmid()), out)
    H.assert_gone(k)
    seg:write(0, "still mapped")
  end)

  it("watch shows a struct view from a header, refreshed COUNT times", function()
    local header = H.tmpdir() .. "/watch.h"
    local f = assert(io.open(header, "w"))
    f:write("#pragma once\n#include <stdint.h>\nstruct status { uint32_t seq; double temp; char name[8]; };\n")
    f:close()
    local v = seg:view(smo.struct("struct status { uint32_t seq; double temp; char name[8]; }"))
    v.seq, v.temp, v.name = 4, 21.5, "boiler"
    local out, code = run(("watch 0x%x --struct %s --count 2 --interval 0"):format(k, header))
    assert.are.equal(0, code, out)
    local _, frames = out:gsub("struct status at ", "")
    assert.are.equal(2, frames)
    assert.matches("  seq%s+4\n  temp%s+21.5\n  name%s+\"boiler\"\n", out)
    out, code = run(("watch 0x%x --struct %s --type status --count 1 --seq seq"):format(k, header))
    assert.are.equal(0, code, out)
    assert.matches("temp%s+21.5", out)
  end)

  it("says what is wrong, with exit code 2 for usage and 1 for failures", function()
    local cases = {
      { "", 2, "^usage: smo COMMAND" },
      { "--help", 0, "^usage: smo COMMAND" },
      { "bogus", 2, "smo: unknown command 'bogus'" },
      { "stat", 2, "smo: stat takes one SEGMENT" },
      { "stat nonsense", 2, "smo: bad SEGMENT 'nonsense'" },
      { "stat 0x123456789", 2, "smo: key 0x123456789 is wider than 32 bits" },
      { "stat /no/such/path:1", 1, "smo: ftok: No such file or directory" },
      { "stat /tmp:ab", 2, "smo: bad PROJ 'ab'" },
      { "stat id:2147480000", 1, "smo: no segment with id 2147480000" },
      { "stat 0x7ffffff0", 1, "smo: no segment with key 0x7ffffff0" },
      { "dump 0x1 x", 2, "smo: OFFSET must be a non%-negative integer, got 'x'" },
      { ("dump 0x%x 101"):format(k), 1, "smo: offset 101 is past the end of the 100%-byte segment" },
      { "list extra", 2, "smo: list takes no arguments" },
      { "rm", 2, "smo: rm takes one SEGMENT" },
      { ("watch 0x%x"):format(k), 2, "smo: %-%-struct FILE is required" },
      { ("watch 0x%x --struct /no/such.h"):format(k), 1, "smo: /no/such.h: No such file or directory" },
      { ("watch 0x%x --bogus 1"):format(k), 2, "smo: unknown option %-%-bogus" },
      { "stat --help", 0, "^usage: smo stat SEGMENT" },
      { "watch --help", 0, "^usage: smo watch SEGMENT %-%-struct FILE" },
      { "list -h", 0, "^usage: smo list" },
      { "dump --help", 0, "^usage: smo dump" },
      { "rm --help", 0, "^usage: smo rm" },
    }
    for _, c in ipairs(cases) do
      local out, code = run(c[1])
      assert.are.equal(c[2], code, c[1] .. ": " .. out)
      assert.matches(c[3], out, 1, false, c[1])
    end
  end)

  it("refuses a permission problem with exit code 1", function()
    local why = H.missing("root", "cc", "setpriv") if why then pending(why) return end
    local exe = H.compile("mk_private_nobody", [[
      #include <stdlib.h>
      #include <sys/shm.h>
      int main(int c, char **v) { return shmget((key_t)atol(v[1]), 64, IPC_CREAT | 0600) < 0; }
    ]])
    os.execute("chmod 755 " .. H.tmpdir() .. " " .. exe)
    local nk = H.key()
    assert.is_true((select(2, H.sh("setpriv --reuid=65534 --regid=65534 --clear-groups " .. exe .. " " .. nk))))
    local id = H.shm_by_key(nk).shmid
    local out, _, code = H.sh(H.child_env() .. "setpriv --reuid=65533 --regid=65533 --clear-groups " .. H.LUA .. " "
      .. H.ROOT .. "/bin/smo dump id:" .. id)
    assert.are.equal(1, code, out)
    assert.matches("^smo: ", out)
  end)
end)
