-- `smo list` explains everything it shows, `smo list --json` is for
-- monitoring, and `smo gc` removes smobject's own orphans, saying what it
-- removed (issue 11, point 8).
local H = require("spec.helpers")
local smo = H.smo

local SMO = H.ROOT .. "/bin/smo"
local function smo_cmd(args)
  return H.sh(H.child_env() .. H.LUA .. " " .. SMO .. " " .. args)
end

local function hex(k) return ("0x%08x"):format(k % 0x100000000) end

-- A small strict JSON reader for the specs: values, or raises on bad text.
local json_null = setmetatable({}, { __name = "null" })
local function json_decode(s)
  local i = 1
  local function ws() i = s:find("[^ \t\r\n]", i) or #s + 1 end
  local value
  local function str()
    local out = {}
    i = i + 1
    while true do
      local c = s:sub(i, i)
      if c == "" then error("unterminated string") end
      if c == '"' then i = i + 1 return table.concat(out) end
      if c == "\\" then
        local e = s:sub(i + 1, i + 1)
        local map = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        if map[e] then out[#out + 1] = map[e] i = i + 2
        elseif e == "u" then
          local h = s:sub(i + 2, i + 5)
          assert(h:match("^%x%x%x%x$"), "bad \\u escape")
          out[#out + 1] = utf8.char(tonumber(h, 16))
          i = i + 6
        else error("bad escape \\" .. e) end
      else
        assert(c:byte() >= 32, "control character in a string")
        out[#out + 1] = c
        i = i + 1
      end
    end
  end
  function value()
    ws()
    local c = s:sub(i, i)
    if c == "{" then
      local t = {}
      i = i + 1 ws()
      if s:sub(i, i) == "}" then i = i + 1 return t end
      while true do
        ws()
        assert(s:sub(i, i) == '"', "object key expected at " .. i)
        local k = str()
        ws()
        assert(s:sub(i, i) == ":", "':' expected at " .. i)
        i = i + 1
        t[k] = value()
        ws()
        local d = s:sub(i, i)
        i = i + 1
        if d == "}" then return t end
        assert(d == ",", "',' or '}' expected at " .. i)
      end
    elseif c == "[" then
      local t = {}
      i = i + 1 ws()
      if s:sub(i, i) == "]" then i = i + 1 return t end
      while true do
        t[#t + 1] = value()
        ws()
        local d = s:sub(i, i)
        i = i + 1
        if d == "]" then return t end
        assert(d == ",", "',' or ']' expected at " .. i)
      end
    elseif c == '"' then
      return str()
    elseif s:sub(i, i + 3) == "true" then i = i + 4 return true
    elseif s:sub(i, i + 4) == "false" then i = i + 5 return false
    elseif s:sub(i, i + 3) == "null" then i = i + 4 return json_null
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
      assert(num and num ~= "", "value expected at " .. i)
      i = i + #num
      return H.to_integer(tonumber(num)) or tonumber(num)
    end
  end
  local v = value()
  ws()
  assert(i > #s, "trailing text at " .. i)
  return v
end

describe("smo list", function()
  after_each(H.cleanup)

  it("names the key a lock segment belongs to", function()
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 64, create = true })
    assert(seg:lock())
    seg:unlock()
    local lock_id = assert(smo.bookkeeping(k).lock_shmid, "no lock segment recorded")
    local out, ok = smo_cmd("list")
    seg:close()
    assert.is_true(ok, out)
    local line = ("\n" .. out):match("\n(0x00000000%s+" .. lock_id .. "%s[^\n]*)")
    assert.is_not_nil(line, out)
    assert.matches("%slock%s+lock of key " .. hex(k) .. " %(goes with its bookkeeping%)$", line)
  end)

  it("smo.bookkeeping tells the lock segment's id, and nothing before there is one", function()
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 64, create = true })
    assert.is_nil(smo.bookkeeping(k).lock_shmid)
    assert(seg:lock())
    seg:unlock()
    local id = smo.bookkeeping(k).lock_shmid
    assert.is_number(id)
    local st = H.shm_by_id(id)
    seg:close()
    assert.is_truthy(st)
    assert.are.equal(512, tonumber(st.size))
  end)

  it("--json gives every row with its fields, as the text does", function()
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 100, create = true })
    assert(seg:lock())
    seg:unlock()
    local lock_id, shmid = smo.bookkeeping(k).lock_shmid, seg:shmid()
    local out, ok = smo_cmd("list --json")
    local text = smo_cmd("list")
    seg:close()
    assert.is_true(ok, out)
    local rows = json_decode(out)
    assert.are.equal("table", type(rows))
    local mine, lockrow
    for _, r in ipairs(rows) do
      if r.shmid == shmid then mine = r end
      if r.shmid == lock_id then lockrow = r end
    end
    assert.is_table(mine, out)
    assert.are.equal(hex(k), mine.key)
    assert.are.equal(k % 0x100000000, mine.key_number % 0x100000000)
    assert.are.equal(100, mine.size)
    assert.are.equal("0600", mine.mode)
    assert.are.equal(1, mine.nattch)
    assert.are.equal(1, mine.users)
    assert.is_true(mine.managed)
    assert.are.equal("keyed", mine.kind)
    assert.are.equal(json_null, mine.lock_of)
    assert.are.equal("removed by last user", mine.fate)
    assert.are.equal(H.pid(), mine.cpid)
    assert.is_number(mine.ctime)
    assert.is_false(mine.removed)
    assert.is_table(lockrow, out)
    assert.is_true(lockrow.managed)
    assert.are.equal("lock", lockrow.kind)
    assert.are.equal(json_null, lockrow.users)
    assert.are.equal(hex(k), lockrow.lock_of)
    -- the same rows as the text
    local n = 0
    for _ in text:gmatch("\n0x") do n = n + 1 end
    assert.are.equal(n, #rows)
  end)

  it("--json with nothing to show is an empty array; other arguments are bad usage", function()
    local out, ok = H.sh("unshare --ipc " .. H.child_env() .. H.LUA .. " " .. SMO .. " list --json")
    if ok then assert.are.same({}, json_decode(out)) end
    local _, _, code = smo_cmd("list --yaml")
    assert.are.equal(2, code)
  end)
end)

describe("smo gc", function()
  after_each(H.cleanup)

  -- A child that opens the key (creating it), reports, and is killed with SIGKILL.
  local function killed_sole_user(k, extra)
    local out = H.run(([[
      local smo = require("smobject")
      local seg = assert(smo.open{ key = %d, size = 64, create = true })
      %s
      io.write(seg:shmid(), "\n") io.stdout:flush()
      os.execute("kill -9 $PPID")
    ]]):format(k, extra or ""))
    return H.to_integer(tonumber(out:match("^(%d+)")))
  end

  it("removes a segment whose only user was killed (count zero, nobody attached, every user dead)", function()
    local k = H.key()
    local shmid = killed_sole_user(k, "assert(seg:lock()) seg:unlock()")
    assert.is_number(shmid)
    local bk = assert(smo.bookkeeping(k))
    assert.are.equal(0, bk.count)
    local lock_id = bk.lock_shmid
    assert.is_truthy(H.shm_by_id(shmid))
    -- listed, not removed
    local out, ok = smo_cmd("gc --min-age 0")
    assert.is_true(ok, out)
    assert.matches("key " .. hex(k) .. ", shmid " .. shmid .. ", 64 bytes.*: its users are gone", out)
    assert.is_truthy(H.shm_by_id(shmid))
    -- young ones wait for --min-age
    out = smo_cmd("gc")
    assert.is_nil(out:find("shmid " .. shmid .. ",", 1, true), out)
    out, ok = smo_cmd("gc --remove --min-age 0")
    assert.is_true(ok, out)
    assert.matches("removed key " .. hex(k) .. ", shmid " .. shmid, out)
    assert.is_nil(H.shm_by_id(shmid))
    assert.is_nil(H.sem_by_key(k))
    assert.is_nil(H.shm_by_id(lock_id))
  end)

  it("leaves a persistent segment with no users alone", function()
    local k = H.key()
    local s = assert(smo.open{ key = k, size = 64, create = true, persist = true })
    local shmid = s:shmid()
    s:close()
    local out = smo_cmd("gc --remove --min-age 0")
    assert.is_nil(out:find("shmid " .. shmid .. ",", 1, true), out)
    assert.is_truthy(H.shm_by_id(shmid))
    smo.remove(k)
  end)

  it("leaves a segment in use alone, and one whose creator is alive", function()
    local k = H.key()
    local s = assert(smo.open{ key = k, size = 64, create = true })
    local out = smo_cmd("gc --remove --min-age 0")
    assert.is_nil(out:find("key " .. hex(k), 1, true), out)
    assert.are.equal(1, s:users())
    -- uncounted (count zero) but attached by this live process: not an orphan
    assert(s:decrement() == 0)
    out = smo_cmd("gc --remove --min-age 0")
    assert.is_nil(out:find("key " .. hex(k), 1, true), out)
    assert.is_truthy(H.shm_by_id(s:shmid()))
    s:close()
  end)

  it("removes a bookkeeping set left without its segment (ipcrm -m behind smobject's back)", function()
    local k = H.key()
    local out = H.run(([[
      local smo = require("smobject")
      local seg = assert(smo.open{ key = %d, size = 64, create = true })
      os.execute("ipcrm -m " .. seg:shmid())
      os.execute("kill -9 $PPID")
    ]]):format(k))
    assert.is_truthy(H.sem_by_key(k), out)
    assert.is_nil(H.shm_by_key(k))
    out = smo_cmd("gc --min-age 0")
    assert.matches("key " .. hex(k) .. ", semid %d+: bookkeeping without a segment", out)
    assert.is_truthy(H.sem_by_key(k))
    out = smo_cmd("gc --remove --min-age 0")
    assert.matches("removed key " .. hex(k) .. ", semid %d+: bookkeeping without a segment", out)
    assert.is_nil(H.sem_by_key(k))
  end)

  it("never touches a foreign set or another program's segment", function()
    local why = H.missing("cc")
    if why then return pending(why) end
    local k = H.key()
    local exe = H.compile("foreign33", ([[
      #define _DEFAULT_SOURCE
      #include <stdio.h>
      #include <sys/ipc.h>
      #include <sys/sem.h>
      #include <sys/shm.h>
      int main(void) {
        printf("%%d %%d\n", semget(%d, 3, IPC_CREAT | 0600), shmget(%d + 1, 64, IPC_CREAT | 0600));
        return 0;
      }
    ]]):format(k, k))
    H.track(k + 1)
    local out = H.sh(exe)
    assert.matches("^%d+ %d+", out)
    out = smo_cmd("gc --remove --min-age 0")
    assert.is_nil(out:find(hex(k), 1, true), out)
    assert.is_nil(out:find(hex(k + 1), 1, true), out)
    assert.is_truthy(H.sem_by_key(k))
    assert.is_truthy(H.shm_by_key(k + 1))
  end)
end)

describe("the smo command needs only the rock", function()
  after_each(H.cleanup)

  it("runs list, gc and watch (which sleeps) with lua-system absent", function()
    local guard = 'package.preload.system = function() error("smo needs lua-system", 2) end '
      .. 'package.preload["system.core"] = package.preload.system'
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 64, create = true })
    local hdr = H.tmpdir() .. "/one.h"
    local f = assert(io.open(hdr, "w"))
    f:write("struct one { int32_t n; };\n")
    f:close()
    seg:set("int32_t", 0, 7)
    local env = "LUA_INIT_5_4=" .. H.shell_quote(guard) .. " " .. H.child_env()
    for _, args in ipairs{ "list", "gc", ("watch %s --struct %s --count 2 --interval 0.05"):format(hex(k), hdr) } do
      local out, ok = H.sh(env .. H.LUA .. " " .. SMO .. " " .. args)
      assert.is_true(ok, args .. ": " .. out)
      assert.is_nil(out:find("lua-system", 1, true), out)
    end
    local out = H.sh(env .. H.LUA .. " " .. SMO .. " " .. ("watch %s --struct %s --count 2 --interval 0.05"):format(hex(k), hdr))
    seg:close()
    local n = 0
    for _ in out:gmatch("\n  n%s+7\n") do n = n + 1 end
    assert.are.equal(2, n, out)
  end)
end)
