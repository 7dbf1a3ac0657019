-- Fuzzing: tens of thousands of random calls over the whole API (module
-- functions, segment methods, lock, atomics, wait/wake, snapshots, layouts
-- from random and hostile declarations, views, the C internals, the smo
-- command), with arguments from a hostile pool.  Each batch of calls runs in
-- a child process (spec/children/fuzz_batch.lua) under a timeout, so that a
-- crash or a hang is caught; the child logs every call before making it, so
-- the call that crashed is known, and its batch can be replayed (exactly,
-- but for crashes that read wild pointers: those depend on memory contents).
--
-- SMO_FUZZ_SEED=n      repeat a run (the seed is printed)
-- SMO_FUZZ_CALLS=n     calls in all (default 30000; a batch that crashes is
--                      run again skipping the call, so more are made)
-- SMO_FUZZ_BATCH_CALLS=n  calls per child (default 500)
-- SMO_FUZZ_JOBS=n      children at a time (default 2)
-- SMO_FUZZ_ONLY=b      run batch b only; SMO_FUZZ_SKIP=i,j: calls it skips
-- SMO_FUZZ_FINDINGS=f  write every finding to file f, one a line
-- SMO_FUZZ_VERBOSE=1   one line per child run
--
-- A crash (signal), a hang, a leaked IPC object, a raw internal Lua error, an
-- error naming another function or a library line, or a wrong answer is a
-- finding; an ordinary raised error is not.
local H = require("spec.helpers")
local smo = H.smo

local function env_int(name, default)
  local v = os.getenv(name)
  return v and H.to_integer(tonumber(v)) or default
end

local UNDER_VALGRIND = H.LUA:find("valgrind", 1, true) ~= nil
local SEED = env_int("SMO_FUZZ_SEED", nil) or math.floor(H.now() * 1000) % 1000000007
local CALLS = env_int("SMO_FUZZ_CALLS", UNDER_VALGRIND and 1000 or 30000)
local PER_BATCH = env_int("SMO_FUZZ_BATCH_CALLS", UNDER_VALGRIND and 250 or 500)
local JOBS = env_int("SMO_FUZZ_JOBS", 2)
local ONLY = env_int("SMO_FUZZ_ONLY", nil)
local SKIP0 = os.getenv("SMO_FUZZ_SKIP") or ""
local UNDER_ASAN = (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) ~= nil
-- seconds per child (a batch takes about 1)
local TIMEOUT = UNDER_VALGRIND and 300 or UNDER_ASAN and 60 or 12
local MAX_RUNS = 5                                -- runs of one batch (each crash skips its call)
local SCRIPT = H.ROOT .. "/spec/children/fuzz_batch.lua"
local AFTER = H.ROOT .. "/spec/children/fuzz_after.lua"
local q = H.shell_quote
-- Without address randomisation a crash on a wild pointer replays more alike.
local NORAND = H.execute("setarch -R true 2>/dev/null") and "setarch -R " or ""

local CATEGORY = {
  crash = "crash", ["cli-crash"] = "crash", ["side-crash"] = "crash", ["next-user-crash"] = "crash",
  hang = "hang", ["cli-hang"] = "hang", ["next-user-hang"] = "hang",
  ["leaked-private"] = "leak", ["orphan-lock-segment"] = "leak", ["stray-key"] = "leak", ["count-leak"] = "leak",
  ["not-removed"] = "leak", ["next-user-fails"] = "leak",
  ["internal-error"] = "internal", ["cli-traceback"] = "internal",
  ["library-location"] = "message", misattributed = "message",
  ["nul-path-accepted"] = "wrong", ["exec-mode-accepted"] = "wrong", ["wait-spurious"] = "wrong",
  ["wait-long-timeout"] = "wrong",
  harness = "harness",
}

-- ------------------------------------------------------------ System V state

local function rows(file)
  local out = {}
  local f = io.open(file)
  if not f then return out end
  f:read("*l")
  for line in f:lines() do
    local w = {}
    for x in line:gmatch("%S+") do w[#w + 1] = tonumber(x) end
    out[#out + 1] = w
  end
  f:close()
  return out
end

-- shm rows: key, id, perms, size, cpid, lpid, nattch; sem rows: key, id.
local function shm_rows()
  local out = {}
  for _, w in ipairs(rows("/proc/sysvipc/shm")) do
    out[#out + 1] = { key = w[1], id = w[2], perms = w[3], size = w[4], cpid = w[5], nattch = w[7] }
  end
  return out
end
local function sem_rows()
  local out = {}
  for _, w in ipairs(rows("/proc/sysvipc/sem")) do out[#out + 1] = { key = w[1], id = w[2] } end
  return out
end

-- ------------------------------------------------------------ lanes

-- A lane: 4 keys and a directory whose files p1, p2 give 256 ftok keys
-- each; one batch at a time uses it, so batches are independent.
local lanes = {}

local function ftok_keys(path)
  local base = assert(smo.key(path, 1))
  local out = {}
  for proj = 0, 255 do
    local v = base % 0x1000000 + proj * 0x1000000   -- (base & 0x00ffffff) | (proj << 24)
    if v >= 0x80000000 then v = v - 0x100000000 end
    out[#out + 1] = v
  end
  return out
end

local function new_lane(n)
  local lane = { dir = H.tmpdir() .. "/fuzz-lane" .. n, keys = {}, ours = {} }
  os.execute("mkdir -p " .. q(lane.dir))
  for i = 1, 4 do
    lane.keys[i] = H.key()
    lane.ours[lane.keys[i]] = true
  end
  local busy = {}
  for _, r in ipairs(shm_rows()) do busy[r.key] = true end
  for _, r in ipairs(sem_rows()) do busy[r.key] = true end
  for _, name in ipairs({ "p1", "p2" }) do
    -- a file whose 256 ftok keys are all free (a new name is a new inode)
    for attempt = 1, 50 do
      local tmp = ("%s/%s.%d"):format(lane.dir, name, attempt)
      assert(io.open(tmp, "w")):close()
      local free = true
      for _, k in ipairs(ftok_keys(tmp)) do
        if busy[k] or lane.ours[k] then free = false end
      end
      if free then
        assert(os.rename(tmp, lane.dir .. "/" .. name))
        for _, k in ipairs(ftok_keys(lane.dir .. "/" .. name)) do lane.ours[k] = true end
        break
      end
      assert(attempt < 50, "no file with free ftok keys")
    end
  end
  for k in pairs(lane.ours) do
    if k ~= lane.keys[1] and k ~= lane.keys[2] and k ~= lane.keys[3] and k ~= lane.keys[4] then H.track(k) end
  end
  return lane
end

-- Removes every object of the lane's keys, and those the child pids made.
local function sweep(lane, pids)
  local stray, args = {}, {}
  for _, r in ipairs(shm_rows()) do
    if lane.ours[r.key] or (pids and pids[r.cpid]) then
      args[#args + 1] = "-m " .. r.id
      if r.key ~= 0 then stray[r.key] = true end
    end
  end
  for _, r in ipairs(sem_rows()) do
    if lane.ours[r.key] or stray[r.key] then args[#args + 1] = "-s " .. r.id end
  end
  if #args > 0 then os.execute("ipcrm " .. table.concat(args, " ") .. " 2>/dev/null") end
end

-- ------------------------------------------------------------ logs

-- The lines of a batch's log, parsed.
local function read_log(path)
  local log = { lines = {}, calls = 0, persist = {}, findings = {} }
  local f = io.open(path, "rb")
  if not f then return log end
  local last_call, n = nil, 0
  for line in f:lines() do
    n = n + 1
    local tag, rest = line:match("^(%u) (.*)$")
    if tag == "O" or tag == "M" then
      log.lines[#log.lines + 1] = { tag = tag, rest = rest, pos = n }
    elseif tag == "C" then
      log.calls = log.calls + 1
      last_call = rest
      log.last = rest
    elseif tag == "Q" then
      log.last = rest
    elseif tag == "P" then
      log.persist[tonumber(rest)] = true
    elseif tag == "F" then
      local kind, idx, msg = rest:match("^(%S+) (%d+) (.*)$")
      log.findings[#log.findings + 1] = { kind = kind, index = tonumber(idx), msg = msg, src = last_call, at = n }
    elseif tag == "E" then
      log.ended = true
    elseif tag == "W" then
      log.side = { path = rest:match("^(%S+)"), src = rest:match("^%S+ (.*)$") }
    elseif line:match("^PID %d+") then
      log.pid = tonumber(line:match("^PID (%d+)"))
    end
  end
  f:close()
  return log
end

-- The objects a call used, as they were made: Lua lines to replay it.
local function reproducer(log, upto, src)
  local defs = {}
  for _, l in ipairs(log.lines) do
    if upto and l.pos > upto then break end
    local name, text = l.rest:match("^(%S+) (.*)$")
    if name then defs[#defs + 1] = { name = name, text = text, tag = l.tag } end
  end
  local need = {}
  local function want(s)
    for n in s:gmatch("%f[%w_]([HVLD]%d+)%f[^%w_]") do need[n] = true end
  end
  want(src or "")
  local keep = {}
  for i = #defs, 1, -1 do
    local d = defs[i]
    if need[d.name] or (d.name == "-" and src and src:find(d.text:match("^write (%S+):") or "\0", 1, true)) then
      keep[#keep + 1] = d
      want(d.text)
    end
  end
  local out = {}
  for i = #keep, 1, -1 do
    local d = keep[i]
    if d.name == "-" then
      out[#out + 1] = "-- " .. d.text
    elseif d.tag == "O" then
      out[#out + 1] = ("local %s = %s"):format(d.name, d.text)
    else
      out[#out + 1] = d.text
    end
  end
  return out
end

-- ------------------------------------------------------------ running batches

local findings = {}
local totals = { calls = 0, runs = 0, batches = 0, crashes = 0 }
local sides = {}      -- the long-wait checks the batches started
local VERBOSE = os.getenv("SMO_FUZZ_VERBOSE")

local function replay_line(b, skip)
  return ("SMO_FUZZ_SEED=%d SMO_FUZZ_ONLY=%d SMO_FUZZ_BATCH_CALLS=%d%s %s /usr/bin/busted%s spec/18-fuzz_spec.lua")
    :format(SEED, b, PER_BATCH, #skip > 0 and (" SMO_FUZZ_SKIP=" .. table.concat(skip, ",")) or "", H.LUA,
      H.LUA54 and "" or " --ignore-lua")
end

local function note(kind, run, src, msg, repro)
  findings[#findings + 1] = { kind = kind, batch = run.b, skip = run.skip, src = src, msg = msg,
                              repro = repro, replay = replay_line(run.b, run.skip) }
end

local function start(lane, b, skip)
  local tag = ("b%d-r%d"):format(b, #skip)
  local logfile = ("%s/%s.log"):format(lane.dir, tag)
  local run = { b = b, skip = skip, log = logfile, rcfile = logfile .. ".rc", out = logfile .. ".out", t0 = H.now() }
  os.remove(run.rcfile)
  os.remove(logfile)
  local cmd = ("(%stimeout -k 2 %d %s%s %s %d %d %d %s %s %s %s > %s 2>&1; echo $? > %s) &"):format(
    H.child_env(), TIMEOUT, NORAND, H.LUA, q(SCRIPT), SEED, b, PER_BATCH, q(lane.dir), table.concat(lane.keys, ","),
    q(logfile), q(table.concat(skip, ",")), q(run.out), q(run.rcfile))
  os.execute(cmd)
  lane.run = run
  totals.runs = totals.runs + 1
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- What the batch left: checked by /proc and by a next user, then removed.
local function after_batch(lane, run, log, normal)
  local pids = {}
  if log.pid then pids[log.pid] = true end
  local present = {}
  for _, r in ipairs(shm_rows()) do
    if log.pid and r.cpid == log.pid and not lane.ours[r.key] then
      if r.key ~= 0 then
        note("stray-key", run, "", ("a segment at key 0x%08x, outside the keys the batch was given (a key was " ..
          "truncated or misread)"):format(r.key % 0x100000000))
      elseif not log.persist[r.id] then
        if r.size == 312 then
          note("orphan-lock-segment", run, "", ("lock segment %d (312 bytes) outlived its creator"):format(r.id))
        else
          note("leaked-private", run, "", ("PRIVATE segment %d (%d bytes, not persistent) outlived its creator")
            :format(r.id, r.size))
        end
      end
    end
    if lane.ours[r.key] then present[r.key] = true end
  end
  for _, r in ipairs(sem_rows()) do
    if lane.ours[r.key] then present[r.key] = true end
  end
  local keys = {}
  for k in pairs(present) do keys[#keys + 1] = tostring(k) end
  if #keys > 0 then
    table.sort(keys)
    local cmd = ("%stimeout -k 2 %d %s %s %s %s 2>&1; echo \"rc=$?\""):format(H.child_env(), TIMEOUT, H.LUA, q(AFTER),
      normal and "1" or "0", table.concat(keys, " "))
    local out = H.sh(cmd)
    local rc = tonumber(out:match("rc=(%d+)%s*$")) or -1
    for kind, msg in out:gmatch("F (%S+) ([^\n]*)") do note(kind, run, "", msg) end
    if rc == 124 or rc == 137 then
      note("next-user-hang", run, "", "the next user's open/close of the batch's keys hangs")
    elseif rc ~= 0 or not out:find("DONE", 1, true) then
      note("next-user-crash", run, "", ("the next user (open/close of the batch's keys) ended with %d: %s")
        :format(rc, out:sub(1, 300)))
    end
  end
  sweep(lane, pids)
end

local SIGNALS = { [4] = "SIGILL", [5] = "SIGTRAP", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [11] = "SIGSEGV" }

-- A child ended: collect its findings, check what it left, maybe run the
-- batch again skipping the call that crashed.
local function finish(lane)
  local run = lane.run
  lane.run = nil
  local rc = tonumber(read_file(run.rcfile)) or -1
  local log = read_log(run.log)
  totals.calls = totals.calls + log.calls
  if log.side then sides[#sides + 1] = { run = run, path = log.side.path, src = log.side.src } end
  if VERBOSE then
    io.stdout:write(("fuzz: batch %d run %d: exit %d, %d calls, %.2f s\n"):format(run.b, #run.skip + 1, rc, log.calls,
      H.now() - run.t0))
  end
  for _, fd in ipairs(log.findings) do
    local src = fd.src or ""
    note(fd.kind, run, src, fd.msg, { log = log, at = fd.at, src = src })
  end
  local crashed_at
  local normal = rc == 0 and log.ended
  if normal then
    crashed_at = nil
  elseif rc == 124 or rc == 137 then
    crashed_at = log.last
    note("hang", run, log.last or "(before the first call)", ("no progress for %d s"):format(TIMEOUT),
      { log = log, src = log.last })
  elseif rc == 1 then
    note("harness", run, log.last or "", "the batch raised: " .. (read_file(run.out) or ""):sub(1, 600))
  else
    crashed_at = log.last
    totals.crashes = totals.crashes + 1
    local why = rc > 128 and (SIGNALS[rc - 128] or ("signal " .. (rc - 128)))
      or rc == 98 and "sanitizer report (exit 98)" or rc == 99 and "valgrind error (exit 99)" or ("exit status " .. rc)
    local summary = (read_file(run.out) or ""):match("SUMMARY: [^\n]*")
    if summary then why = why .. ": " .. summary end
    note("crash", run, log.last or "(before the first call)", why, { log = log, src = log.last })
  end
  after_batch(lane, run, log, normal)
  local idx = crashed_at and tonumber(crashed_at:match("^(%d+)"))
  if idx and idx > 0 and #run.skip + 1 < MAX_RUNS then
    local skip = { H.unpack(run.skip) }
    skip[#skip + 1] = idx
    start(lane, run.b, skip)
  end
end

-- The long waits the batches started in the background: any return within
-- their 0.5 s is wrong (they must sleep), a signal is a crash.
local function side_results()
  for _, sd in ipairs(sides) do
    local text = ""
    for _ = 1, 300 do
      text = read_file(sd.path) or ""
      if text:match("rc=%d+") then break end
      H.sleep(0.01)
    end
    local rc = tonumber(text:match("rc=(%d+)"))
    local ret = text:match("RET\t([^\n]*)")
    if ret then
      note("wait-long-timeout", sd.run, sd.src, ("%s on an unchanged word nobody wakes returned %s at once (it must " ..
        "sleep)"):format(sd.src, ret))
    elseif rc and rc >= 128 and rc ~= 137 then
      note("side-crash", sd.run, sd.src, ("%s died with signal %d"):format(sd.src, rc - 128))
    elseif rc ~= 137 then
      note("wait-long-timeout", sd.run, sd.src, ("%s raised instead of sleeping: %s"):format(sd.src,
        (text:gsub("\n", " "):sub(1, 200))))
    end
  end
end

local function run_all()
  local queue = {}
  if ONLY then
    local skip = {}
    for n in SKIP0:gmatch("%d+") do skip[#skip + 1] = tonumber(n) end
    queue[1] = { b = ONLY, skip = skip }
  else
    for b = 1, math.max(1, H.idiv(CALLS + PER_BATCH - 1, PER_BATCH)) do queue[#queue + 1] = { b = b, skip = {} } end
  end
  totals.batches = #queue
  for i = 1, math.max(1, math.min(JOBS, #queue)) do lanes[i] = new_lane(i) end
  local t0 = H.now()
  while true do
    local busy = false
    for _, lane in ipairs(lanes) do
      if lane.run and read_file(lane.run.rcfile) then
        H.sleep(0.005)     -- the status file is written; let the shell finish it
        finish(lane)
      end
      if not lane.run and #queue > 0 then
        local job = table.remove(queue, 1)
        sweep(lane)
        start(lane, job.b, job.skip)
      end
      busy = busy or lane.run ~= nil
    end
    if not busy then break end
    H.sleep(0.01)
  end
  side_results()
  totals.seconds = H.now() - t0
end

-- ------------------------------------------------------------ reporting

local function shape(s)
  return (s:sub(1, 200):gsub("[%w_%-%./]*/([%w_%-]+%.lua):%d+:", "%1:N:")
           :gsub("%f[%w_][HVLD]%d+%f[^%w_]", function(n) return n:sub(1, 1) end)
           :gsub('"[^"]*"', "S")
           :gsub("0x%x+", "N"):gsub("%d+%.?%d*", "N")
           :sub(1, 110))
end

-- Findings grouped by kind and shape, most frequent first.
local function groups(category)
  local by, list = {}, {}
  for _, f in ipairs(findings) do
    if CATEGORY[f.kind] == category then
      local base = (f.kind == "crash" or f.kind == "hang") and (f.src:gsub("^[%d.]+ ", "")) or f.msg
      local sig = f.kind .. " | " .. shape(base)
      local g = by[sig]
      if not g then
        g = { sig = sig, first = f, n = 0 }
        by[sig] = g
        list[#list + 1] = g
      end
      g.n = g.n + 1
    end
  end
  table.sort(list, function(a, b) return a.n > b.n or (a.n == b.n and a.sig < b.sig) end)
  return list
end

local function describe_group(g, full)
  local f = g.first
  local t = { ("  [%s] x%d  %s"):format(f.kind, g.n, g.sig:match("| (.*)$")) }
  if f.src ~= "" then t[#t + 1] = ("    first: batch %d, call %s"):format(f.batch, f.src) end
  if f.msg and f.msg ~= "" and f.msg ~= f.src then t[#t + 1] = "    message: " .. f.msg:sub(1, 300) end
  t[#t + 1] = "    replay: " .. f.replay
  local repro = full and f.repro and reproducer(f.repro.log, f.repro.at, f.repro.src)
  if repro and #repro > 0 then
    t[#t + 1] = "    made with:"
    for i = math.max(1, #repro - 11), #repro do t[#t + 1] = "      " .. repro[i]:sub(1, 300) end
  end
  return table.concat(t, "\n")
end

local function report(category, full)
  local gs = groups(category)
  if #gs == 0 then return nil end
  local n = 0
  for _, g in ipairs(gs) do n = n + g.n end
  local t = { ("%d finding(s) in %d group(s); seed %d, %d calls:"):format(n, #gs, SEED, totals.calls) }
  for i = 1, math.min(#gs, 25) do t[#t + 1] = describe_group(gs[i], full) end
  if #gs > 25 then t[#t + 1] = ("  ... and %d more groups"):format(#gs - 25) end
  return table.concat(t, "\n")
end

local ran = false
local function fuzz()
  if ran then return end
  ran = true
  io.stdout:write(("\nfuzz: seed %d (SMO_FUZZ_SEED=%d to repeat), %d calls in batches of %d, %d at a time\n")
    :format(SEED, SEED, ONLY and PER_BATCH or CALLS, PER_BATCH, JOBS))
  run_all()
  local counts = {}
  for _, f in ipairs(findings) do
    local c = CATEGORY[f.kind] or "harness"
    counts[c] = (counts[c] or 0) + 1
  end
  io.stdout:write(("fuzz: %d calls made in %d runs of %d batches, %.1f s; %d crashes; findings: " ..
    "crash %d, hang %d, leak %d, internal %d, message %d, wrong %d, harness %d\n"):format(totals.calls, totals.runs,
    totals.batches, totals.seconds, totals.crashes, counts.crash or 0, counts.hang or 0, counts.leak or 0,
    counts.internal or 0, counts.message or 0, counts.wrong or 0, counts.harness or 0))
  for _, c in ipairs({ "crash", "hang", "leak", "internal", "message", "wrong", "harness" }) do
    local r = report(c, false)
    if r then io.stdout:write(("fuzz %s: %s\n"):format(c, r)) end
  end
  local path = os.getenv("SMO_FUZZ_FINDINGS")
  if path then
    local f = assert(io.open(path, "w"))
    for _, fd in ipairs(findings) do
      local repro = fd.repro and reproducer(fd.repro.log, fd.repro.at, fd.repro.src) or {}
      f:write(("%s\tbatch %d\t%s\t%s\t%s\t%s\n"):format(fd.kind, fd.batch, fd.src:gsub("[\t\n]", " "),
        (fd.msg or ""):gsub("[\t\n]", " "), table.concat(repro, " ; "):gsub("[\t\n]", " "), fd.replay))
    end
    f:close()
  end
end

local function check(category)
  fuzz()
  local r = report(category, true)
  assert(r == nil, r)
end

describe("fuzzing the whole API with hostile arguments #slow", function()
  teardown(function()
    for _, lane in ipairs(lanes) do sweep(lane) end
    H.cleanup_all()
  end)

  it("makes its calls, each batch in a child process, without a fault of the fuzzer itself", function()
    fuzz()
    assert(totals.calls > 0, "no call was made")
    check("harness")
  end)

  it("no call crashes the interpreter (SIGSEGV, SIGBUS, abort)", function() check("crash") end)

  it("no call hangs", function() check("hang") end)

  it("leaves no IPC object behind, and the next user of every key works", function() check("leak") end)

  it("raises no raw internal Lua error, and the smo command prints no traceback", function() check("internal") end)

  it("errors name the function called, and the caller's line, not a library line", function() check("message") end)

  it("gives no wrong answer (NUL in paths, execute bits, spurious or early wake-ups)", function() check("wrong") end)
end)
