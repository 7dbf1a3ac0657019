-- The smo command under hostile arguments: every subcommand and option with
-- huge, negative, fractional, NaN-like and missing values, unknown options,
-- missing files, directories, headers that do not parse, fields that do not
-- exist or are not uint32_t.  smo never prints a Lua traceback: a message
-- "smo: ..." on stderr, exit code 2 for bad usage and 1 for failures.
local H = require("spec.helpers")
local smo = H.smo

local SMO = H.ROOT .. "/bin/smo"
-- The largest integer an argument can be: math.maxinteger on 5.3+, 2^53 where
-- numbers are doubles (beyond it smo refuses the number as not an integer).
local BIGINT = H.INTEGERS and "9223372036854775807" or "9007199254740992"

-- Runs smo with the given argument list (each quoted); returns code, stdout, stderr.
local function smo_run(args)
  local q = {}
  for i, a in ipairs(args) do q[i] = H.shell_quote(a) end
  local errf = H.tmpdir() .. "/smo-stderr"
  local out, _, _, code = H.popen(H.child_env() .. "timeout 20 " .. H.LUA .. " " .. SMO .. " " .. table.concat(q, " ")
    .. " 2>" .. errf)
  local f = assert(io.open(errf))
  local err = f:read("*a")
  f:close()
  return code, out, err
end

local function write_file(name, text)
  local path = H.tmpdir() .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- No traceback, no Lua location, one "smo: " message first.
local function assert_clean(what, err)
  assert.is_nil(err:match("traceback"), what .. ": " .. err)
  assert.is_nil(err:match("^lua5%.%d:") or err:match("\nlua5%.%d:") or err:match("luajit:"), what .. ": " .. err)
  assert.is_nil(err:match("%.lua:%d+:"), what .. ": " .. err)
  assert.is_nil(err:match("bin/smo:%d+:"), what .. ": " .. err)
  assert.matches("^smo: ", err, 1, false, what)
end

describe("smo with hostile arguments #slow", function()
  local seg, K, hdr, dir
  setup(function()
    K = ("0x%x"):format(H.key())
    seg = assert(smo.open{ key = tonumber(K), size = 100, create = true })
    dir = H.tmpdir()
    hdr = {
      s = write_file("s.h", "struct s { uint32_t seq; double d; uint64_t w; char name[4]; unsigned u; };\n"),
      bad = write_file("bad.h", "struct s { int a;\n"),
      int = write_file("int.h", "typedef int myint;\n"),
      empty = write_file("empty.h", ""),
      bin = write_file("bin.h", "\0\1\2\255struct"),
    }
  end)
  teardown(function()
    seg:close()
    H.cleanup_all()
  end)

  -- { args, exit code, pattern the stderr must match }
  local function cases()
    local s = hdr.s
    return {
      -- SEGMENT
      { { "stat", "id:99999999999999999999" }, 2, "smo: bad id 'id:99999999999999999999'" },
      { { "stat", "id:2147483648" }, 2, "smo: bad id 'id:2147483648'" },
      { { "stat", "id:-1" }, 2, "smo: bad id 'id:%-1'" },
      { { "stat", "id:" }, 2, "smo: bad id 'id:'" },
      { { "stat", "id:0x10" }, 2, "smo: bad id 'id:0x10'" },
      { { "stat", "0x10000000000000005" }, 2, "smo: key 0x10000000000000005 is wider than 32 bits" },
      { { "stat", "0x1ffffffffffffffff" }, 2, "smo: key 0x1ffffffffffffffff is wider than 32 bits" },
      { { "stat", "99999999999999999999" }, 2, "smo: key 99999999999999999999 out of range" },
      { { "stat", "-2147483649" }, 2, "smo: key %-2147483649 out of range" },
      { { "stat", "key:99999999999999999999" }, 2, "smo: key 99999999999999999999 out of range" },
      { { "stat", "key:" }, 2, "smo: bad SEGMENT 'key:'" },
      { { "stat", "" }, 2, "smo: bad SEGMENT ''" },
      { { "stat", dir .. ":0" }, 2, "smo: bad PROJ '0' %(a number 1..255 or one character%)" },
      { { "stat", dir .. ":256" }, 2, "smo: bad PROJ '256'" },
      { { "stat", dir .. ":-1" }, 2, "smo: bad PROJ '%-1'" },
      { { "stat", dir .. ":1.5" }, 2, "smo: bad PROJ '1.5'" },
      { { "stat", dir .. ":99999999999999999999" }, 2, "smo: bad PROJ '99999999999999999999'" },
      { { "stat", dir .. ":0x41" }, 1, "smo: no segment with key" },
      { { "stat", "/no/such/path:1" }, 1, "smo: ftok: No such file or directory" },
      { { "stat", "--bogus" }, 2, "smo: unknown option %-%-bogus" },
      { { "stat", "-x" }, 2, "smo: unknown option %-x" },
      { { "stat", K, "extra" }, 2, "smo: stat takes one SEGMENT" },
      { { "rm", "--bogus" }, 2, "smo: unknown option %-%-bogus" },
      { { "rm", "id:99999999999999999999" }, 2, "smo: bad id" },
      { { "rm", "0x10000000000000005" }, 2, "wider than 32 bits" },
      { { "list", "--bogus" }, 2, "smo: unknown option %-%-bogus" },
      { { "list", "--json", "--json" }, 2, "smo: %-%-json given twice" },
      { { "list", "extra" }, 2, "smo: list takes no arguments but %-%-json" },
      { { "" }, 2, "smo: unknown command ''" },
      { { "--bogus" }, 2, "smo: unknown command '%-%-bogus'" },
      -- dump OFFSET LEN
      { { "dump", K, "0x10000000000000005" }, 2, "smo: OFFSET must be a non%-negative integer, got '0x10000000000000005'" },
      { { "dump", K, "99999999999999999999" }, 2, "smo: OFFSET must be a non%-negative integer" },
      { { "dump", K, "1e400" }, 2, "smo: OFFSET must be a non%-negative integer, got '1e400'" },
      { { "dump", K, "nan" }, 2, "smo: OFFSET must be a non%-negative integer, got 'nan'" },
      { { "dump", K, "inf" }, 2, "smo: OFFSET must be a non%-negative integer" },
      { { "dump", K, "1.5" }, 2, "smo: OFFSET must be a non%-negative integer" },
      { { "dump", K, "-1" }, 2, "smo: OFFSET must be a non%-negative integer" },
      { { "dump", K, "" }, 2, "smo: OFFSET must be a non%-negative integer, got ''" },
      { { "dump", K, "0", "99999999999999999999" }, 2, "smo: LEN must be a non%-negative integer" },
      { { "dump", K, "0", "-5" }, 2, "smo: LEN must be a non%-negative integer" },
      { { "dump", K, BIGINT }, 1, "smo: offset " .. BIGINT .. " is past the end of the 100%-byte segment" },
      { { "dump", K, "--x" }, 2, "smo: unknown option %-%-x" },
      { { "dump", K, "1", "2", "3" }, 2, "smo: dump takes SEGMENT" },
      { { "dump", "id:99999999999999999999" }, 2, "smo: bad id" },
      -- watch options
      { { "watch", K, "--struct" }, 2, "smo: %-%-struct needs a value" },
      { { "watch", K, "--struct", "--count", "1" }, 2, "smo: %-%-struct needs a value" },
      { { "watch", K, "--struct", s, "--struct", s }, 2, "smo: %-%-struct given twice" },
      { { "watch", K, "--struct=" .. s }, 2, "smo: unknown option %-%-struct=" },
      { { "watch", K, "--", s }, 2, "smo: unknown option %-%-" },
      { { "watch", K, "-s", s }, 2, "smo: unknown option %-s" },
      { { "watch", K, "--struct", s, "extra" }, 2, "smo: unexpected argument 'extra'" },
      { { "watch", "--struct", s }, 2, "smo: missing SEGMENT" },
      { { "watch", "id:99999999999999999999", "--struct", s }, 2, "smo: bad id" },
      { { "watch", K, "--struct", s, "--count", "-1" }, 2, "smo: %-%-count must be a non%-negative integer" },
      { { "watch", K, "--struct", s, "--count", "1.5" }, 2, "smo: %-%-count must be a non%-negative integer" },
      { { "watch", K, "--struct", s, "--count", "99999999999999999999" }, 2, "smo: %-%-count must be" },
      { { "watch", K, "--struct", s, "--count", "x" }, 2, "smo: %-%-count must be" },
      { { "watch", K, "--struct", s, "--offset", "99999999999999999999" }, 2, "smo: %-%-offset must be" },
      { { "watch", K, "--struct", s, "--offset", "0x10000000000000000" }, 2, "smo: %-%-offset must be" },
      { { "watch", K, "--struct", s, "--interval", "nan" }, 2, "smo: %-%-interval must be" },
      { { "watch", K, "--struct", s, "--interval", "inf" }, 2, "smo: %-%-interval must be" },
      { { "watch", K, "--struct", s, "--interval", "1e400", "--count", "2" }, 2, "smo: %-%-interval must be" },
      { { "watch", K, "--struct", s, "--interval", "-1" }, 2, "smo: %-%-interval must be" },
      { { "watch", K, "--struct", s, "--interval", "0x" }, 2, "smo: %-%-interval must be" },
      { { "watch", K, "--struct", s, "--interval", "99999999" }, 2, "smo: %-%-interval must be" },
      -- watch: files, headers, types, fields
      { { "watch", K, "--struct", "/no/such.h", "--count", "1" }, 1, "smo: /no/such.h: No such file or directory" },
      { { "watch", K, "--struct", dir, "--count", "1" }, 1, "smo: " .. dir:gsub("%p", "%%%0") .. ": Is a directory" },
      { { "watch", K, "--struct", hdr.bad, "--count", "1" }, 1, "smo: " .. hdr.bad:gsub("%p", "%%%0") .. ": .*expected" },
      { { "watch", K, "--struct", hdr.bin, "--count", "1" }, 1, "smo: " .. hdr.bin:gsub("%p", "%%%0") .. ": " },
      { { "watch", K, "--struct", hdr.empty, "--count", "1" }, 1, "smo: no struct in" },
      { { "watch", K, "--struct", hdr.int, "--count", "1" }, 1, "smo: no struct in" },
      { { "watch", K, "--struct", hdr.int, "--type", "myint", "--count", "1" }, 1,
        "smo: 'myint' in .* is a scalar, not a struct, union or array" },
      { { "watch", K, "--struct", s, "--type", "nope", "--count", "1" }, 1, "smo: no struct 'nope' in" },
      { { "watch", K, "--struct", s, "--seq", "nope", "--count", "1" }, 1, "smo: %-%-seq: no field 'nope' in struct s" },
      { { "watch", K, "--struct", s, "--seq", "", "--count", "1" }, 1, "smo: %-%-seq: no field '' in struct s" },
      { { "watch", K, "--struct", s, "--seq", "d", "--count", "1" }, 1,
        "smo: %-%-seq: field 'd' is a double, not a uint32_t" },
      { { "watch", K, "--struct", s, "--seq", "w", "--count", "1" }, 1,
        "smo: %-%-seq: field 'w' is a uint64_t, not a uint32_t" },
      { { "watch", K, "--struct", s, "--seq", "name", "--count", "1" }, 1,
        "smo: %-%-seq: field 'name' is a char%[4%], not a uint32_t" },
      { { "watch", K, "--struct", s, "--seq", "name[0]", "--count", "1" }, 1, "smo: %-%-seq: " },
      { { "watch", K, "--struct", s, "--seq", "seq", "--offset", "2", "--count", "1" }, 1,
        "smo: %-%-seq: the counter at offset 2 is misaligned for a uint32_t" },
      { { "watch", K, "--struct", s, "--offset", "4000", "--count", "1" }, 1, "does not fit in a 100%-byte segment" },
    }
  end

  it("each case: a clear message, the right exit code, no traceback", function()
    for _, c in ipairs(cases()) do
      local what = table.concat(c[1], " ")
      local code, _, err = smo_run(c[1])
      assert.are.equal(c[2], code, what .. ": " .. err)
      assert_clean(what, err)
      assert.matches(c[3], err, 1, false, what .. ": " .. err)
    end
  end)

  it("still does its job around those checks", function()
    local code, out, err = smo_run({ "watch", K, "--struct", hdr.s, "--seq", "seq", "--count", "1", "--interval", "0" })
    assert.are.equal(0, code, err)
    assert.matches("struct s at ", out)
    code, out, err = smo_run({ "watch", K, "--struct", hdr.s, "--seq", "u", "--count", "1", "--offset", "0x4" })
    assert.are.equal(0, code, err)
    assert.matches("offset 4,", out)
    code, out = smo_run({ "dump", K, "0x60", "0x10" })
    assert.are.equal(0, code)
    assert.are.equal("00000060  00 00 00 00                                      ....\n", out)
    code, out = smo_run({ "dump", K, "0", BIGINT })
    assert.are.equal(0, code)
    assert.are.equal(7, select(2, out:gsub("\n", "")))
    code, out = smo_run({ "stat", "id:" .. seg:shmid() })
    assert.are.equal(0, code)
    assert.matches("shmid:%s+" .. seg:shmid(), out)
  end)

  it("an interrupted watch ends quietly (exit 130, no traceback)", function()
    -- (under valgrind the child may not have its SIGINT handler yet when the
    -- signal comes, and a background child of sh ignores SIGINT until then)
    if H.LUA:find("valgrind", 1, true) then pending("signal timing under valgrind") return end
    local errf = H.tmpdir() .. "/watch-int.err"
    local pidf = H.tmpdir() .. "/watch-int.pid"
    os.execute(("%stimeout 20 %s %s watch %s --struct %s --interval 0.05 >/dev/null 2>%s & echo $! > %s"):format(
      H.child_env(), H.LUA, SMO, K, hdr.s, errf, pidf))
    local pid = assert(tonumber(assert(io.open(pidf)):read("*l")))
    H.sleep(0.5)
    assert.is_true(H.alive(pid), "watch is not running")
    os.execute("kill -INT " .. pid)
    assert.is_true(H.wait_exit(pid, 10), "watch did not stop")
    local f = assert(io.open(errf))
    local err = f:read("*a")
    f:close()
    -- (under make test-valgrind, valgrind's own report lines are not ours)
    assert.are.equal("", (err:gsub("==%d+==[^\n]*\n?", "")))
    -- the exit code, from a shell that waits for it
    local code = select(3, H.execute(("sh -c '%s%s %s watch %s --struct %s --interval 0.05 --count 400 >/dev/null 2>&1 & p=$!; "
      .. "sleep 0.5; kill -INT $p; wait $p'"):format(H.child_env():gsub("'", "'\\''"), H.LUA, SMO, K, hdr.s)))
    assert.are.equal(130, code)
  end)

  it("random hostile argument lists never give a traceback", function()
    local seed = tonumber(os.getenv("SMO_ARGS_SEED")) or os.time()
    print(("\n(smo argument fuzz seed %d; rerun with SMO_ARGS_SEED=%d)"):format(seed, seed))
    math.randomseed(seed)
    finally(H.reseed)   -- keys of later specs stay random
    local function pick(t) return t[math.random(#t)] end
    local segments = { K, "id:99999999999999999999", "id:-1", "0x10000000000000005", "99999999999999999999",
      "-1", "", "key:", dir .. ":0", dir .. ":1.5", "--bogus", "/no/such:1" }
    local values = { "-1", "1.5", "nan", "inf", "1e400", "", "0x", "99999999999999999999", "0x10000000000000005",
      "0", "2", "--count", "seq", "d", "w", "name", "nope", "s", "myint", hdr.s, hdr.bad, hdr.int, hdr.empty,
      hdr.bin, dir, "/no/such", "\1", ("x"):rep(300) }
    local options = { "--struct", "--type", "--offset", "--interval", "--count", "--seq", "--bogus", "-x" }
    -- (no rm: a random SEGMENT could name a segment that is not ours)
    for _ = 1, 150 do
      local cmd = pick({ "stat", "dump", "watch", "watch", "watch", "list" })
      local args = { cmd }
      if math.random() < 0.9 then args[2] = pick(segments) end
      if cmd == "watch" then
        args[#args + 1] = "--struct"
        args[#args + 1] = math.random() < 0.7 and hdr.s or pick(values)
        for _ = 1, math.random(0, 3) do
          args[#args + 1] = pick(options)
          if math.random() < 0.9 then args[#args + 1] = pick(values) end
        end
        args[#args + 1] = "--count"
        args[#args + 1] = "1"
        args[#args + 1] = "--interval"
        args[#args + 1] = "0"
      else
        for _ = 1, math.random(0, 3) do args[#args + 1] = pick(values) end
      end
      local what = table.concat(args, " ")
      local code, _, err = smo_run(args)
      assert.is_true(code == 0 or code == 1 or code == 2, what .. ": exit " .. tostring(code) .. " " .. err)
      if code ~= 0 then assert_clean(what, err) end
      assert.is_nil(err:match("traceback"), what .. ": " .. err)
    end
  end)
end)
