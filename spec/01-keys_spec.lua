local H = require("spec.helpers")
local smo = H.smo

describe("smo.key", function()
  teardown(H.cleanup_all)

  it("equals ftok() from C for the same path and proj", function()
    local path = H.tmpdir()
    local why = H.missing("cc") if why then pending(why) return end
    local exe = H.compile("ftok", [[
      #include <stdio.h>
      #include <stdlib.h>
      #include <sys/ipc.h>
      int main(int c, char **v) { printf("%d\n", (int)ftok(v[1], atoi(v[2]))); return 0; }
    ]])
    for _, proj in ipairs({ 1, 65, 255 }) do
      local out = H.sh(exe .. " " .. path .. " " .. proj)
      assert.are.equal(tonumber(out), smo.key(path, proj))
    end
  end)

  it("takes proj as a one-character string", function()
    local path = H.tmpdir()
    assert.are.equal(smo.key(path, 65), smo.key(path, "A"))
  end)

  it("differs between projects on the same path", function()
    local path = H.tmpdir()
    assert.are_not.equal(smo.key(path, 1), smo.key(path, 2))
  end)

  it("returns nil, msg, ENOENT for a missing path", function()
    local k, msg, err = smo.key("/no/such/file/here", 1)
    assert.is_nil(k)
    assert.are.equal("ftok: No such file or directory: '/no/such/file/here' does not exist; a key made by ftok"
      .. " needs an existing file (create it once, or give key =)", msg)
    assert.are.equal(smo.errno.ENOENT, err)
  end)

  it("is a signed key_t, as /proc/sysvipc shows it", function()
    local path = H.tmpdir()
    local k = smo.key(path, 255)  -- proj 255 sets the top bit
    assert.is_true(k < 0)
    assert.is_true(H.is_integer(k))
  end)

  it("exports PRIVATE and errno names", function()
    assert.are.equal(0, smo.PRIVATE)
    for _, name in ipairs({ "ENOENT", "EEXIST", "EACCES", "EPERM", "EINVAL", "ENOMEM", "ENOSPC",
                            "EIDRM", "ETIMEDOUT", "EINTR" }) do
      assert.is_true(H.is_integer(smo.errno[name]), name)
      assert.are.equal(name, smo.errno[smo.errno[name]])
    end
    assert.are.equal(2, smo.errno.ENOENT)
  end)
end)
