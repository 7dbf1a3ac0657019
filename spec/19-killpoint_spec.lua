-- Kill points: a SIGKILL before each System V call (shmget, shmat, shmdt,
-- shmctl, semget, semop/semtimedop, semctl) of open, lock, unlock, remove
-- and close, placed deterministically by strace's fault injection
-- (-e inject=SYSCALL:signal=KILL:when=N).  After each, the next user must
-- work (open, lock, the right count, close; "recovered" exactly when the dead
-- process held the lock), and once every user is gone nothing of the key may
-- be left in /proc/sysvipc, nor an orphan PRIVATE segment (the lock's) whose
-- creator is the killed process.
--
-- The operation's calls are found by a first, traced run of the same child
-- (spec/children/killpoint.lua), which marks the operation's start and end
-- on stderr; the Nth call of the operation is then the k-th call of its name
-- counted from the start of the process.
local H = require("spec.helpers")

local SYSV = { "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl" }
local CHILD = H.ROOT .. "/spec/children/killpoint.lua"
local NEXT = H.ROOT .. "/spec/children/kp_next.lua"
local q = H.shell_quote
-- (strace and valgrind do not mix: the interpreter valgrind would run)
local LUA = H.LUA:find("valgrind", 1, true) and H.LUA:match("(%S+)$") or H.LUA

-- Whether strace can kill a process before a given call (the syscall that
-- smo.bookkeeping makes first): nil, or why not.
local function strace_missing()
  local out = H.sh("strace -V")
  if not out:match("strace %-%- version (%d+)") then return "strace is missing" end
  local _, _, rc = H.sh(("%s strace -qq -o /dev/null -e trace=semget -e inject=semget:signal=KILL:when=1 %s -e %s")
    :format(H.child_env(), LUA, q("require('smobject').bookkeeping(1)")))
  if rc ~= 137 then return "strace cannot inject a SIGKILL here (" .. out:match("[^\n]*") .. ")" end
end
local MISSING = strace_missing()

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function sysvipc(file)
  local rows = {}
  local f = assert(io.open(file))
  f:read("*l")
  for line in f:lines() do
    local w = {}
    for x in line:gmatch("%S+") do w[#w + 1] = tonumber(x) end
    rows[#rows + 1] = w
  end
  f:close()
  return rows
end

-- ------------------------------------------------------------ the processes

local stopfiles, holders = {}, {}

-- Another user of key (LOCK: it has taken and released the lock once).
local function start_holder(key, lock)
  local stop = ("%s/stop-%d"):format(H.tmpdir(), key)
  os.remove(stop)
  local pid = H.spawn("kp_holder.lua", key, lock and "1" or "0", stop)
  assert(H.wait_for(function() return H.output(pid):find("ready", 1, true) end, 20),
    "the other user did not start: " .. H.output(pid))
  stopfiles[pid], holders[#holders + 1] = stop, pid
  return pid
end

local function stop_holder(pid)
  assert(io.open(stopfiles[pid], "w")):close()
  H.wait_exit(pid, 20)
  if H.alive(pid) then H.kill(pid) end
end

-- Runs the child, traced (trace: the strace options) or not; returns its
-- exit code and pid.
local function run_child(key, case, strace)
  local pidfile = ("%s/pid-%d"):format(H.tmpdir(), key)
  os.remove(pidfile)
  local cmd = ("%s timeout -k 2 20 strace -qq %s %s %s %d %s %s %s 2>&1; echo \"rc=$?\""):format(H.child_env(), strace,
    LUA, q(CHILD), key, q(pidfile), q(case.setup), case.op)
  local out = H.sh(cmd)
  return tonumber(out:match("rc=(%d+)%s*$")), tonumber(read_file(pidfile)), out
end

local function next_user(key, ...)
  local cmd = ("%s timeout -k 2 20 %s %s %d %s 2>&1; echo \"rc=$?\""):format(H.child_env(), LUA, q(NEXT), key,
    table.concat({ ... }, " "))
  local out = H.sh(cmd)
  local problems = {}
  for msg in out:gmatch("\nF ([^\n]*)") do problems[#problems + 1] = msg end
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  if rc == 124 or rc == 137 then
    problems[#problems + 1] = "the next user hangs"
  elseif rc ~= 0 or not out:find("DONE", 1, true) then
    problems[#problems + 1] = ("the next user ended with %s: %s"):format(tostring(rc), out:sub(1, 300))
  end
  return problems, tonumber(out:match("PID (%d+)"))
end

-- What is left of key, and PRIVATE segments made by the given pids; all
-- of it is removed.
local function leftovers(key, pids)
  local found, args = {}, {}
  for _, r in ipairs(sysvipc("/proc/sysvipc/shm")) do
    local rkey, id, size, cpid = r[1], r[2], r[4], r[5]
    if rkey == key then
      found[#found + 1] = ("segment %d (%d bytes) of the key"):format(id, size)
      args[#args + 1] = "-m " .. id
    elseif rkey == 0 and pids[cpid] then
      found[#found + 1] = ("orphan PRIVATE segment %d (%d bytes%s) made by the %s (pid %d)"):format(id, size,
        size == 312 and ", the lock's" or "", pids[cpid], cpid)
      args[#args + 1] = "-m " .. id
    end
  end
  for _, r in ipairs(sysvipc("/proc/sysvipc/sem")) do
    if r[1] == key then
      found[#found + 1] = ("semaphore set %d of the key"):format(r[2])
      args[#args + 1] = "-s " .. r[2]
    end
  end
  if #args > 0 then os.execute("ipcrm " .. table.concat(args, " ") .. " 2>/dev/null") end
  return found
end

-- ------------------------------------------------------------ counting

-- The operation's System V calls, in order ({ name, line }), and how many
-- calls of each name (and writes) come before it.
local function count_calls(case)
  local key = H.key()
  local holder = case.holder and start_holder(key, case.holder == "locked")
  local trace = ("%s/trace-%d"):format(H.tmpdir(), key)
  local rc, pid, out = run_child(key, case, ("-o %s -e trace=%s,write"):format(q(trace), table.concat(SYSV, ",")))
  if holder then stop_holder(holder) end
  next_user(key, "last")
  leftovers(key, { [pid or -1] = "traced process" })
  assert(rc == 0, "the traced run failed: " .. out)
  local before, calls, state = { write = 0 }, {}, "setup"
  for line in assert(io.open(trace)):lines() do
    local name = line:match("^(%w+)%(")
    if name == "write" and line:find('"KP-BEGIN\\n"', 1, true) then
      state = "op"
    elseif name == "write" and line:find('"KP-END\\n"', 1, true) then
      state = "done"
    elseif name and state == "setup" then
      before[name] = (before[name] or 0) + 1
    elseif name and name ~= "write" and state == "op" then
      calls[#calls + 1] = { name = name, line = line }
    end
  end
  assert(state == "done", "the trace has no markers")
  return calls, before
end

-- ------------------------------------------------------------ the cases

-- setup: steps before the operation; holder: another user ("plain", or
-- "locked": it made the lock segment); held(n): whether the killed process
-- holds the lock at kill point n (0: just before the operation).
local CASES = {
  { name = "open, creating the segment and its bookkeeping", setup = "", op = "open" },
  { name = "open, attaching to another user's segment", setup = "", op = "open", holder = "plain" },
  { name = "the first lock of a key (it makes the lock segment)", setup = "open", op = "lock" },
  { name = "lock, with the lock segment made by another user", setup = "open", op = "lock", holder = "locked" },
  { name = "unlock", setup = "open,lock", op = "unlock", held = function(n) return n == 0 end },
  { name = "remove", setup = "open", op = "remove" },
  { name = "close by the last user", setup = "open,lock,unlock", op = "close" },
  { name = "close, another user staying", setup = "open,lock,unlock", op = "close", holder = "locked" },
  { name = "close holding the lock", setup = "open,lock", op = "close", held = function(n) return n == 0 end },
}

-- Kills the child at point n (0: just before the operation) and returns
-- what is wrong afterwards.
local function kill_point(case, n, calls, before)
  local key = H.key()
  local holder = case.holder and start_holder(key, case.holder == "locked")
  local name, when
  if n == 0 then
    name, when = "write", before.write + 1          -- the KP-BEGIN marker
  else
    name, when = calls[n].name, before[calls[n].name] or 0
    for i = 1, n do
      if calls[i].name == name then when = when + 1 end
    end
  end
  local rc, pid, out = run_child(key, case, ("-o /dev/null -e trace=%s -e inject=%s:signal=KILL:when=%d")
    :format(name, name, when))
  local problems = {}
  local pids = { [pid or -1] = "killed process" }
  if rc ~= 137 then
    problems[#problems + 1] = ("the kill point was not reached (exit %s): %s"):format(tostring(rc), out:sub(1, 200))
  end
  local users = holder and 2 or 1
  local p, npid = next_user(key, "check", users, case.held and case.held(n) and "1" or "0")
  if npid then pids[npid] = "next user" end
  for _, m in ipairs(p) do problems[#problems + 1] = m end
  if holder then
    pids[holder] = "other user"
    stop_holder(holder)
  end
  p, npid = next_user(key, "last")
  if npid then pids[npid] = "last user" end
  for _, m in ipairs(p) do problems[#problems + 1] = m end
  for _, m in ipairs(leftovers(key, pids)) do problems[#problems + 1] = "left when every user is gone: " .. m end
  return problems
end

describe("a SIGKILL before each System V call #slow", function()
  after_each(function()
    for _, pid in ipairs(holders) do
      if H.alive(pid) then stop_holder(pid) end
    end
    holders = {}
    H.cleanup()
  end)
  teardown(H.cleanup_all)

  for _, case in ipairs(CASES) do
    it(case.name .. ": the next user works and nothing is left", function()
      if MISSING then
        pending(MISSING)
        return
      end
      local calls, before = count_calls(case)
      local failures = {}
      for n = 0, #calls do
        local problems = kill_point(case, n, calls, before)
        if #problems > 0 then
          local where = n == 0 and "just before the operation" or ("before call %d of %d: %s"):format(n, #calls,
            calls[n].line:sub(1, 90))
          failures[#failures + 1] = ("  kill %s\n    %s"):format(where, table.concat(problems, "\n    "))
        end
      end
      io.stdout:write(("\nkill points: %s: %d System V calls, %d of %d kill points fail\n"):format(case.name, #calls,
        #failures, #calls + 1))
      assert(#failures == 0, ("%d of %d kill points of %s fail:\n%s"):format(#failures, #calls + 1, case.name,
        table.concat(failures, "\n")))
    end)
  end
end)
