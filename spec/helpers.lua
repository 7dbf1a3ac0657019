-- Helpers shared by the specs: unique keys, child Lua processes, C programs,
-- and the cleanup that leaves nothing in ipcs even when a spec fails.
local smo = require("smobject")

local H = {}

H.LUA = os.getenv("SMO_LUA") or "lua5.4"
H.BUILD = os.getenv("SMO_BUILD") or "build"     -- build-asan under make test-asan
H.ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/helpers%.lua$")) or "."
H.sleep = smo.sleep   -- (smobject has what the specs need: no lua-system)
H.now = smo.clock

-- The runtime this suite runs on, for what differs between them (this file
-- and every common spec parse on Lua 5.1 to 5.4 and LuaJIT; 5.4-only syntax
-- lives in spec/lua54/, loaded by H.lua54 only there).
H.RUNTIME = rawget(_G, "jit") and (pcall(require, "table.isempty") and "luajit2" or "luajit")
  or _VERSION:match("%d+%.%d+")
H.LUA54 = _VERSION == "Lua 5.4"
H.INTEGERS = math.type ~= nil     -- 5.3+: numbers have an integer subtype

--- On 5.4, runs the 5.4-only chunk spec/lua54/NAME.lua in env (the spec
-- file's _ENV: its describe, it...) with the extra arguments; elsewhere
-- declares, with the spec's (describe-level) pending, one pending test
-- `what` that names the reason.
--   H.lua54("08-close", _ENV, pending, "closes at scope end", "<close>", H)
function H.lua54(name, env, pending, what, reason, ...)
  if H.LUA54 then
    return assert(loadfile(H.ROOT .. "/spec/lua54/" .. name .. ".lua", "t", env))(...)
  end
  pending(what .. " (needs Lua 5.4: " .. reason .. ")")
end

-- pairs(x) through x's __pairs (5.2+); on 5.1 and LuaJIT, whose pairs
-- ignores __pairs, the library's x:pairs().
local honours_pairs = false
for _ in pairs(setmetatable({}, { __pairs = function()
  honours_pairs = true
  return function() end
end })) do end
H.HONOURS_PAIRS = honours_pairs
function H.pairs(x)
  if honours_pairs then return pairs(x) end
  return x:pairs()
end

-- The type name Lua's messages give io.stdout: "FILE*" where its metatable
-- has a __name (5.3+), "userdata" on 5.1, 5.2 and LuaJIT.
H.FILE_T = rawget(getmetatable(io.stdout) or {}, "__name") or "userdata"

--- Whether x is an integer: the integer subtype on 5.3+; where numbers are
-- doubles, an integral number a double holds exactly (|x| <= 2^53).
function H.is_integer(x)
  if H.INTEGERS then return math.type(x) == "integer" end
  return type(x) == "number" and x == math.floor(x) and x >= -2 ^ 53 and x <= 2 ^ 53
end

--- x as an integer (math.tointeger on 5.3+; elsewhere x when H.is_integer), or nil.
H.to_integer = math.tointeger or function(x)
  if H.is_integer(x) then return x end
  return nil
end

-- The integer limits: 64-bit on 5.3+, the exact doubles' +-2^53 elsewhere.
H.MAXINT = math.maxinteger or 2 ^ 53
H.MININT = math.mininteger or -2 ^ 53

--- nil when this runtime has `what`, else the reason a spec is pending:
-- "integers" (64-bit integers, math.maxinteger...), "string.pack",
-- "yield across pcall".
function H.needs(what)
  if what == "integers" then return not H.INTEGERS and "needs Lua 5.3+: 64-bit integers" or nil end
  if what == "string.pack" then return not string.pack and "needs Lua 5.3+: string.pack" or nil end
  if what == "yield across pcall" then
    return H.RUNTIME == "5.1" and "needs Lua 5.2+ or LuaJIT: a coroutine cannot yield across pcall in 5.1" or nil
  end
  error("H.needs: unknown feature " .. tostring(what))
end

-- The byte strings of string.pack's formats the specs use as a reference
-- (one option: i1-i8, I1-I8, b B h H i I l L j J T, f, d; little-endian, as
-- on x86), for runtimes without string.pack.
local SIZES = { b = 1, B = 1, h = 2, H = 2, i = 4, I = 4, l = 8, L = 8, j = 8, J = 8, T = 8, f = 4, d = 8 }
local function option(fmt)
  local o, n = fmt:match("^[<=]?([bBhHiIlLjJTfd])(%d*)$")
  assert(o, "H.pack: format " .. fmt .. " is not one of the specs' subset")
  return o, tonumber(n) or SIZES[o]
end
local function float_bytes(x, n)
  local mbits, ebits, bias = n == 4 and 23 or 52, n == 4 and 8 or 11, n == 4 and 127 or 1023
  local sign = (x < 0 or 1 / x < 0) and 1 or 0
  x = math.abs(x)
  local e, m
  if x ~= x then e, m = 2 ^ ebits - 1, 2 ^ (mbits - 1)
  elseif x == math.huge then e, m = 2 ^ ebits - 1, 0
  elseif x == 0 then e, m = 0, 0
  else
    local fr, ex = rawget(math, "frexp")(x)   -- x = fr * 2^ex, 0.5 <= fr < 1 (5.1, 5.2)
    e = ex + bias - 1
    if e <= 0 then                            -- subnormal
      m, e = math.floor(x / 2 ^ (1 - bias - mbits) + 0.5), 0
    else
      m = fr * 2 ^ (mbits + 1) - 2 ^ mbits    -- (rounded to nearest, ties to even)
      local fl = math.floor(m)
      local rest = m - fl
      m = (rest > 0.5 or (rest == 0.5 and fl % 2 == 1)) and fl + 1 or fl
      if m == 2 ^ mbits then m, e = 0, e + 1 end
      if e >= 2 ^ ebits - 1 then e, m = 2 ^ ebits - 1, 0 end
    end
  end
  -- bit by bit (the whole does not fit a double's 53 bits): m, e, sign
  local bits = {}
  for _ = 1, mbits do bits[#bits + 1] = m % 2 m = (m - m % 2) / 2 end
  for _ = 1, ebits do bits[#bits + 1] = e % 2 e = (e - e % 2) / 2 end
  bits[#bits + 1] = sign
  local t = {}
  for i = 1, n do
    local b = 0
    for j = 8, 1, -1 do b = b * 2 + bits[(i - 1) * 8 + j] end
    t[i] = string.char(b)
  end
  return table.concat(t)
end
--- string.pack(fmt, v) for one value (string.pack itself where it exists).
function H.pack(fmt, v)
  if string.pack then return string.pack(fmt, v) end
  local o, n = option(fmt)
  if o == "f" or o == "d" then return float_bytes(v, n) end
  local neg = v < 0
  if neg then v = -v - 1 end                  -- two's complement: the bytes of -v-1, inverted
  local t = {}
  for i = 1, n do
    local b = v % 256
    t[i] = string.char(neg and 255 - b or b)
    v = (v - b) / 256
  end
  return table.concat(t)
end
--- string.packsize(fmt) for the same subset.
function H.packsize(fmt)
  if string.packsize then return string.packsize(fmt) end
  return select(2, option(fmt))
end
--- string.unpack("f", s): the float of the 4 bytes s.
function H.unpack_f32(s)
  if string.unpack then return (string.unpack("f", s)) end
  local v = 0
  for i = 4, 1, -1 do v = v * 256 + s:byte(i) end
  local sign, e, m = math.floor(v / 2 ^ 31), math.floor(v / 2 ^ 23) % 256, v % 2 ^ 23
  local r = e == 0 and m * 2 ^ -149 or (1 + m / 2 ^ 23) * 2 ^ (e - 127)
  return sign == 1 and -r or r
end

--- The value a float (4 bytes) holds closest to x: string.unpack("f", string.pack("f", x)).
function H.float32(x) return H.unpack_f32(H.pack("f", x)) end

-- &, |, ~, <<, >>, // as functions (spec/intops.lua: native on 5.3+,
-- arithmetic below 2^53 elsewhere; the operators do not parse before 5.3).
local I = dofile(H.ROOT .. "/spec/intops.lua")
H.band, H.bor, H.bxor, H.shl, H.shr, H.idiv = I.band, I.bor, I.bxor, I.shl, I.shr, I.idiv
H.le_int, H.tpack, H.unpack = I.le_int, I.pack, I.unpack
--- load(src, name [, env]) on every runtime (intops.load).
H.load = I.load

--- The NUL-terminated string at offset off of seg (seg:unpack(off, "z")
-- without string.pack).
function H.cstring(seg, off)
  local s = seg:read(off)
  local z = s:find("\0", 1, true)
  return z and s:sub(1, z - 1) or s
end

--- Reseeds math.random unpredictably (5.4's math.randomseed() with no
-- argument; the others need a number).
function H.reseed()
  if H.LUA54 then return math.randomseed() end
  local f = io.open("/dev/urandom", "rb")
  local s = f and f:read(4) or ""
  if f then f:close() end
  local n = os.time() % 65536
  for i = 1, #s do n = (n * 256 + s:byte(i)) % 2147483648 end
  math.randomseed(n)
end


-- 5.1 and the LuaJITs: a pipe's close() gives only true, os.execute the raw
-- wait status.
local OLD_STATUS = _VERSION == "Lua 5.1"

--- Runs cmd (a shell command) and reads all its output; returns the output
-- and what 5.2+'s close() of the pipe gives: ok (true or nil), "exit" or
-- "signal", the code.  (On 5.1 and LuaJIT the shell reports the status:
-- always "exit", with 128 + n for signal n.)
function H.popen(cmd)
  if not OLD_STATUS then
    local p = io.popen(cmd)
    local out = p:read("*a")
    local ok, how, code = p:close()
    return out, ok, how, code
  end
  local p = io.popen("(" .. cmd .. "\n); printf '\\001smo-status:%d' $?")
  local all = p:read("*a")
  p:close()
  local out, code = all:match("^(.*)\1smo%-status:(%d+)$")
  code = tonumber(code)
  return out or all, code == 0 or nil, "exit", code
end

--- os.execute(cmd) as 5.2+ gives it: ok (true or nil), "exit" or "signal",
-- the code.
function H.execute(cmd)
  local a, how, code = os.execute(cmd)
  if type(a) ~= "number" then return a, how, code end
  if a % 256 == 0 then return a == 0 or nil, "exit", a / 256 end
  return nil, "signal", a % 128
end

--- The header directory of this runtime (LUA_INC when set).
function H.lua_inc()
  local r = H.RUNTIME
  return os.getenv("LUA_INC") or r == "luajit" and "/usr/include/luajit-2.1"
    or r == "luajit2" and "/opt/luajit2/usr/include/luajit-2.1" or "/usr/include/lua" .. r
end

--- The compiler flags of a C program that embeds this runtime (its headers
-- and library), or nil and why not.
function H.embed_flags()
  local r = H.RUNTIME
  if r == "luajit" then return "-I/usr/include/luajit-2.1 -lluajit-5.1" end
  if r == "luajit2" then
    local lib = "/opt/luajit2/usr/lib/x86_64-linux-gnu/libluajit-5.1.a"
    local f = io.open(lib)
    if not f then return nil, "needs OpenResty's static libluajit-5.1.a (" .. lib .. ")" end
    f:close()
    -- (-Wl,-E: a static VM must export the lua_* API to the C modules it loads)
    return "-I/opt/luajit2/usr/include/luajit-2.1 -Wl,-E " .. lib .. " -lm -ldl"
  end
  local inc = H.lua_inc()
  local f = io.open(inc .. "/lua.h")
  if not f then return nil, "needs Lua " .. r .. "'s headers (" .. inc .. ")" end
  f:close()
  return "-I" .. inc .. " -llua" .. r
end

-- Child processes get the same module paths as this process.
local function child_env()
  return string.format("LUA_PATH=%q LUA_CPATH=%q ",
    H.ROOT .. "/lua/?.lua;" .. H.ROOT .. "/lua/?/init.lua;" .. H.ROOT .. "/spec/?.lua;;",
    H.ROOT .. "/" .. H.BUILD .. "/?.so;;")
end
H.child_env = child_env

function H.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local tmpdir
--- A scratch directory for this run, removed by H.cleanup_all.
function H.tmpdir()
  if not tmpdir then
    local p = io.popen("mktemp -d /tmp/smobject-spec.XXXXXX")
    tmpdir = p:read("*l")
    p:close()
  end
  return tmpdir
end

-- Keys made by this run, so that cleanup can remove whatever they left.
local used = {}

--- A key no segment or semaphore set uses now.
function H.key()
  for _ = 1, 1000 do
    local k = math.random(0x10000000, 0x6fffffff)
    if not H.shm_by_key(k) and not H.sem_by_key(k) then
      used[#used + 1] = k
      return k
    end
  end
  error("no free key")
end

--- Records a key made elsewhere (ftok) for cleanup.
function H.track(k)
  used[#used + 1] = k
  return k
end

local function read_sysvipc(file)
  local rows = {}
  local f = assert(io.open(file))
  local header = f:read("*l")
  local names = {}
  for w in header:gmatch("%S+") do names[#names + 1] = w end
  for line in f:lines() do
    local row, i = {}, 0
    for w in line:gmatch("%S+") do
      i = i + 1
      row[names[i]] = tonumber(w) or w
    end
    rows[#rows + 1] = row
  end
  f:close()
  return rows
end

--- The /proc/sysvipc/shm row of the segment with key k, or nil.
function H.shm_by_key(k)
  for _, r in ipairs(read_sysvipc("/proc/sysvipc/shm")) do
    if r.key == k then return r end
  end
end

--- The /proc/sysvipc/sem row of the set with key k, or nil.
function H.sem_by_key(k)
  for _, r in ipairs(read_sysvipc("/proc/sysvipc/sem")) do
    if r.key == k then return r end
  end
end

function H.shm_by_id(id)
  for _, r in ipairs(read_sysvipc("/proc/sysvipc/shm")) do
    if r.shmid == id then return r end
  end
end

--- Removes every segment and set under the keys this run used.
function H.cleanup()
  for _, k in ipairs(used) do
    local r = H.shm_by_key(k)
    if r then os.execute("ipcrm -m " .. r.shmid .. " 2>/dev/null") end
    local s = H.sem_by_key(k)
    if s then os.execute("ipcrm -s " .. s.semid .. " 2>/dev/null") end
  end
  used = {}
end

--- Runs a Lua chunk in a child interpreter (H.LUA); returns its output, ok, exit code.
function H.run(code, ...)
  local args = {}
  for i = 1, select("#", ...) do args[i] = H.shell_quote(select(i, ...)) end
  local cmd = child_env() .. H.LUA .. " -e " .. H.shell_quote(code) .. " " .. table.concat(args, " ") .. " 2>&1"
  local out, ok, _, rc = H.popen(cmd)
  return out, ok, rc
end

--- Starts a child script from spec/children in the background; returns its pid.
-- Its output goes to a file read by H.output(pid).
local outputs = {}
function H.spawn(script, ...)
  local args = {}
  for i = 1, select("#", ...) do args[i] = H.shell_quote(select(i, ...)) end
  local out = H.tmpdir() .. "/child-" .. math.random(1, 1e9) .. ".out"
  local cmd = child_env() .. H.LUA .. " " .. H.shell_quote(H.ROOT .. "/spec/children/" .. script) .. " "
    .. table.concat(args, " ") .. " >" .. out .. " 2>&1 & echo $!"
  local p = io.popen(cmd)
  local pid = tonumber(p:read("*l"))
  p:close()
  outputs[pid] = out
  return pid
end

function H.output(pid)
  local f = io.open(outputs[pid] or "/nonexistent")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

function H.alive(pid)
  -- A zombie is dead for our purposes: it holds no attachments and no counts.
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local st = f:read("*l")
  f:close()
  return st ~= nil and not st:match("^%d+ %b() Z")
end

function H.kill(pid, sig)
  os.execute("kill -" .. (sig or "KILL") .. " " .. pid .. " 2>/dev/null")
end

--- Kills every child in pids with SIGKILL, waits until they are gone, and
-- empties the list for the next test.
function H.stop_all(pids)
  for _, pid in ipairs(pids) do H.kill(pid) end
  for _, pid in ipairs(pids) do H.wait_exit(pid) end
  for i = #pids, 1, -1 do pids[i] = nil end
end

--- Waits until fn() is true, polling; returns the last value of fn().
function H.wait_for(fn, timeout)
  local deadline = H.now() + (timeout or 10)
  local v = fn()
  while not v and H.now() < deadline do
    H.sleep(0.01)
    v = fn()
  end
  return v
end

--- Waits for a background child to exit (it is reaped by the shell that started it).
function H.wait_exit(pid, timeout)
  return H.wait_for(function() return not H.alive(pid) end, timeout or 20)
end

--- Compiles a C source (string) into an executable in the scratch dir.
function H.compile(name, source, flags)
  local dir = H.tmpdir()
  local src = dir .. "/" .. name .. ".c"
  local f = assert(io.open(src, "w"))
  f:write(source)
  f:close()
  local exe = dir .. "/" .. name
  local out, ok = H.popen("cc -std=c99 -O1 -Wall -o " .. exe .. " " .. src .. " " .. (flags or "") .. " 2>&1")
  assert(ok, "compile failed:\n" .. out)
  return exe
end

--- Runs a shell command; returns output, ok, code.
function H.sh(cmd)
  local out, ok, _, rc = H.popen(cmd .. " 2>&1")
  return out, ok, rc
end

--- The message of the error fn raises, without any "file:line: " prefix;
-- fails when fn does not raise.
function H.raised(fn)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error, got success")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

function H.cleanup_all()
  H.cleanup()
  if tmpdir then os.execute("rm -rf " .. H.shell_quote(tmpdir)) end
  tmpdir = nil
end

-- What the machine offers the specs that need more than Lua: root (for
-- setpriv to other uids), a C compiler, setpriv, strace.  H.missing(...)
-- names the first one missing, for `pending`:
--   local why = H.missing("root", "cc"); if why then pending(why) return end
local function have_cmd(name)
  return H.execute("command -v " .. name .. " >/dev/null 2>&1") == true
end
local checks = {
  root = function()
    local p = io.popen("id -u")
    local uid = p:read("*l")
    p:close()
    return uid == "0"
  end,
}
local known = {}
function H.missing(...)
  for i = 1, select("#", ...) do
    local what = select(i, ...)
    if known[what] == nil then
      local check = checks[what] or function() return have_cmd(what) end
      -- (SMO_SPEC_WITHOUT=cc,root pretends they are missing: to see the pending path)
      local pretend = ("," .. (os.getenv("SMO_SPEC_WITHOUT") or "") .. ","):find("," .. what .. ",", 1, true)
      known[what] = not pretend and check() and true or false
    end
    if not known[what] then
      return what == "root" and "needs root (setpriv to other uids)" or ("needs " .. what)
    end
  end
  return nil
end

--- Ctrl-C of a child: runs the Lua script at path in the background, sends
-- it SIGINT 0.3 s after it has printed `ready` (a word), and waits for it.
-- Returns the shell's "rc=N\n" line, the seconds it took, and the child's output.
function H.interrupt(path, ready)
  local out = path .. ".out"
  local sh = ("%s%s %s >%s 2>&1 & p=$!; i=0; "
    .. "while ! grep -q %s %s 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
    .. "sleep 0.3; kill -INT $p; wait $p; echo \"rc=$?\""):format(H.child_env(), H.LUA, path, out, ready, out)
  local t0 = H.now()
  local res = H.sh("timeout 25 sh -c " .. H.shell_quote(sh))
  local dt = H.now() - t0
  local f = assert(io.open(out))
  local text = f:read("*a")
  f:close()
  return res, dt, text
end

--- This process's pid.
H.pid = smo.getpid

--- Asserts that nothing of key k is left: no segment, no semaphore set.
function H.assert_gone(k, what)
  assert(H.shm_by_key(k) == nil, (what or "") .. ": a segment of key " .. ("0x%08x"):format(k) .. " is left")
  assert(H.sem_by_key(k) == nil, (what or "") .. ": a semaphore set of key " .. ("0x%08x"):format(k) .. " is left")
end

--- Runs a child script from spec/children in the foreground (as H.spawn
-- starts one in the background); returns its output, ok, exit code.
function H.run_script(script, ...)
  local args = {}
  for i = 1, select("#", ...) do args[i] = H.shell_quote(select(i, ...)) end
  return H.sh(child_env() .. H.LUA .. " " .. H.shell_quote(H.ROOT .. "/spec/children/" .. script) .. " "
    .. table.concat(args, " "))
end

--- Waits until process pid sleeps in the kernel on a futex (a wait() that
-- really sleeps, not one still spinning or not started); true when it does.
function H.wait_futex_sleep(pid, timeout)
  return H.wait_for(function()
    local f = io.open("/proc/" .. pid .. "/wchan")
    if not f then return false end
    local w = f:read("*a") or ""
    f:close()
    return w:match("futex") ~= nil
  end, timeout or 10)
end

H.smo = smo
return H
