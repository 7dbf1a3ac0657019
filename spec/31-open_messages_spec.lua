-- Errors of opening that say what to do (issue 11, point 3): a missing
-- segment names its key as `smo list` shows it and, without create, says that
-- create = true makes it; a missing ftok file says so in words of its own;
-- another uid's segment that this process may not use names its owner and
-- mode.  Every message still starts with the system's words, so that code
-- matching on "No such file or directory" keeps working.
local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

local function hex(k) return ("0x%08x"):format(k % 0x100000000) end

local function capture(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

local IS_ROOT = capture("id -u"):match("^0%s") ~= nil
local HAVE_SETPRIV = capture("command -v setpriv") ~= ""
local NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups "

-- Runs chunk as uid 65534; its output.
local function as_nobody(chunk)
  return capture(H.child_env() .. "timeout -k 2 20 " .. NOBODY .. H.LUA .. " -e " .. H.shell_quote(chunk))
end

describe("a missing segment", function()
  after_each(H.cleanup)

  it("names the key in hex and says that create = true makes it", function()
    local k = H.key()
    local seg, msg, err = smo.open{ key = k }
    assert.is_nil(seg)
    assert.are.equal(E.ENOENT, err)
    assert.are.equal(("shmget: No such file or directory: no segment has key %s"
      .. " (create = true makes it)"):format(hex(k)), msg)
  end)

  it("opened by path names the file and proj as well as the key", function()
    local dir = H.tmpdir()
    local path = dir .. "/app.key"
    assert(io.open(path, "w")):close()
    local k = assert(smo.key(path, "Q"))
    H.track(k)
    local seg, msg, err = smo.open{ path = path, proj = "Q" }
    assert.is_nil(seg)
    assert.are.equal(E.ENOENT, err)
    assert.are.equal(("shmget: No such file or directory: no segment has key %s (ftok of '%s', proj 'Q')"
      .. " (create = true makes it)"):format(hex(k), path), msg)
    -- proj as a number is shown as a number
    k = assert(smo.key(path, 200))
    H.track(k)
    msg = select(2, smo.open{ path = path, proj = 200 })
    assert.matches("(ftok of '" .. path .. "', proj 200)", msg, 1, true)
  end)

  it("readonly opens say the same: only the writer's create makes it", function()
    local k = H.key()
    local _, msg = smo.open{ key = k, readonly = true }
    assert.matches("no segment has key " .. hex(k) .. " (create = true makes it)", msg, 1, true)
  end)

  it("through the SMObject form says that create() makes it", function()
    local dir = H.tmpdir()
    local s = smo.new(dir, 91, 64)
    H.track(assert(smo.key(dir, 91)))
    local ok, msg, err = s:access()
    assert.is_nil(ok)
    assert.are.equal(E.ENOENT, err)
    assert.matches("^shmget: No such file or directory: no segment has key 0x%x+ %(ftok of '.*', proj 91%)"
      .. " %(its create%(%) makes it%)$", msg)
  end)

  it("smo.remove of a missing key names the key", function()
    local k = H.key()
    local ok, msg, err = smo.remove(k)
    assert.is_nil(ok)
    assert.are.equal(E.ENOENT, err)
    assert.are.equal(("shmget: No such file or directory: no segment has key %s"):format(hex(k)), msg)
  end)

  it("waited for and never made times out naming the key, as before", function()
    local k = H.key()
    local _, msg, err = smo.open{ key = k, wait = 0.01 }
    assert.are.equal(E.ETIMEDOUT, err)
    assert.matches(hex(k), msg, 1, true)
  end)

  it('under create = "exclusive" an existing segment names the key', function()
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 64, create = true })
    local s2, msg, err = smo.open{ key = k, size = 64, create = "exclusive" }
    seg:close()
    assert.is_nil(s2)
    assert.are.equal(E.EEXIST, err)
    assert.are.equal(("shmget: File exists: key %s names a segment already (create = \"exclusive\" wants a new one)")
      :format(hex(k)), msg)
  end)
end)

describe("a missing ftok file", function()
  it("says that the file does not exist and that ftok needs one (smo.open, smo.key)", function()
    local path = H.tmpdir() .. "/no-such.key"
    local expected = ("ftok: No such file or directory: '%s' does not exist; a key made by ftok needs an "
      .. "existing file (create it once, or give key =)"):format(path)
    local seg, msg, err = smo.open{ path = path, proj = 1 }
    assert.is_nil(seg)
    assert.are.equal(E.ENOENT, err)
    assert.are.equal(expected, msg)
    local k
    k, msg, err = smo.key(path, 1)
    assert.is_nil(k)
    assert.are.equal(E.ENOENT, err)
    assert.are.equal(expected, msg)
    -- create = true cannot make the file: the same words
    msg = select(2, smo.open{ path = path, proj = 1, size = 64, create = true })
    assert.are.equal(expected, msg)
  end)

  it("a path through a file names the path (ENOTDIR)", function()
    local file = H.tmpdir() .. "/plain"
    assert(io.open(file, "w")):close()
    local _, msg, err = smo.key(file .. "/x", 1)
    assert.are.equal(E.ENOTDIR or 20, err)
    assert.are.equal(("ftok: Not a directory: '%s/x' cannot be reached (a part of it is not a directory)")
      :format(file), msg)
  end)

  it("a very long path is shortened in the message, never overflows it", function()
    local path = "/" .. ("x"):rep(3000)
    local _, msg = smo.key(path, 1)
    assert.is_truthy(#msg < 400)
    assert.matches("^ftok: ", msg)
  end)
end)

describe("another uid's segment that this process may not use", function()
  after_each(H.cleanup)

  local function pending_unless_root()
    if not (IS_ROOT and HAVE_SETPRIV) then
      pending("needs root and setpriv to act as another uid")
      return true
    end
  end

  local CHUNK = [[
    local smo = require("smobject")
    for _, o in ipairs({ {}, { readonly = true }, { any_owner = true } }) do
      o.key = %d
      local seg, msg, err = smo.open(o)
      io.write(tostring(seg and "opened" or msg), "\t", tostring(err), "\n")
      if seg then seg:close() end
    end
  ]]

  it("a 0600 segment names its owner, its mode and this process's uid", function()
    if pending_unless_root() then return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 64, create = true })
    local out = as_nobody(CHUNK:format(k))
    seg:close()
    local expected = ("open: Permission denied: key %s is a segment of uid 0 (created by uid 0) with mode 0600,"
      .. " which grants this process (uid 65534) no %%s (its owner can give a mode that does)"):format(hex(k))
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(3, #lines, out)
    assert.are.equal(expected:format("read and write") .. "\t" .. E.EACCES, lines[1])
    assert.are.equal(expected:format("read") .. "\t" .. E.EACCES, lines[2])
    assert.are.equal(expected:format("read and write") .. "\t" .. E.EACCES, lines[3])
  end)

  it("attached by id (smo.attach), a 0600 segment names its key, id, owner and mode", function()
    if pending_unless_root() then return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 64, create = true })
    local out = as_nobody(([[
      local smo = require("smobject")
      for _, o in ipairs({ {}, { readonly = true } }) do
        local s, msg, err = smo.attach(%d, o)
        io.write(tostring(s and "attached" or msg), "\t", tostring(err), "\n")
      end
    ]]):format(seg:shmid()))
    local id = seg:shmid()
    seg:close()
    local expected = ("open: Permission denied: key %s is a segment (id %d) of uid 0 (created by uid 0) with mode"
      .. " 0600, which grants this process (uid 65534) no %%s (its owner can give a mode that does)\t%d\n")
      :format(hex(k), id, E.EACCES)
    assert.are.equal(expected:format("read and write") .. expected:format("read"), out)
  end)

  it("a 0640 segment: a reader outside its group hears the same", function()
    if pending_unless_root() then return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 64, create = true, mode = tonumber("640", 8) })
    local out = as_nobody(CHUNK:format(k))
    seg:close()
    assert.matches("key " .. hex(k) .. " is a segment of uid 0 (created by uid 0) with mode 0640, which grants"
      .. " this process (uid 65534) no read (its owner", out, 1, true)
  end)

  it("a set without its segment (a 0600 set of another uid) names the set's owner and mode", function()
    if pending_unless_root() then return end
    local k = H.key()
    -- a bare semaphore set of root's under the key, no segment
    local mkset = H.compile("mkset31", ([[
      #define _DEFAULT_SOURCE
      #include <sys/sem.h>
      #include <stdio.h>
      int main(void) { int id = semget(%d, 1, IPC_CREAT | IPC_EXCL | 0600); printf("%%d\n", id); return id < 0; }
    ]]):format(k))
    local semid = tonumber(capture(mkset))
    assert.is_number(semid)
    local out = as_nobody(CHUNK:format(k))
    assert.matches("key " .. hex(k) .. " is held by a semaphore set of uid 0 (created by uid 0) with mode 0600,"
      .. " which grants this process (uid 65534) no read and write", out, 1, true)
  end)
end)
