-- make soak: a crash storm.  Worker processes do random open, close, lock,
-- unlock, publish, snapshot, atomic_add, wait and wake on a few keys while
-- a killer sends SIGKILL to random workers at random instants and starts new
-- ones.  Every other worker mostly churns short-lived users (open, lock,
-- unlock, close) on a key of their own, so that the lock's segment is made
-- again and again and kills land while it is made.  At the end every worker
-- is stopped, a last user opens and closes each key, and the storm must have
-- left nothing: no object of its keys in /proc/sysvipc, no orphan PRIVATE
-- segment made by a worker, no count that outlived its process, no lock that
-- let two holders in or forgot that its holder died, no torn snapshot, no
-- unexpected error.  Exit status 1 if anything is wrong.
--
-- SMO_SOAK_SECONDS  how long the storm lasts (default 60)
-- SMO_SOAK_WORKERS  workers alive at a time (default 8)
-- SMO_SOAK_KEYS     keys they share (default 3; one more has only short-lived users)
-- SMO_SOAK_SEED     the killer's random seed (default: the time)
--
-- usage: lua5.4 tools/soak.lua                (the storm; LUA_PATH and
--                                               LUA_CPATH as make sets them)
--        lua5.4 tools/soak.lua worker DIR KEYS ID   (one worker; internal)
local smo = require("smobject")

local LUA = os.getenv("SMO_LUA") or arg[-1] or "lua5.4"
local SELF = arg[0]

-- The shared layout of each key's 4096-byte segment.
local SEQ, A, B = 0, 8, 16          -- published pair: B == -A, under seq
local WORD = 24                     -- wait/wake word (uint32_t)
local TOTAL = 32                    -- atomic_add counter
local INSIDE = 40                   -- holders inside the critical section
local OWNER = 48                    -- pid of the holder
local SIZE = 4096

-- ------------------------------------------------------------------ worker

local function worker(dir, keylist, id)
  local keys = {}
  for k in keylist:gmatch("[-%d]+") do keys[#keys + 1] = math.tointeger(tonumber(k)) end
  -- the last key only ever has short-lived users: its lock segment is made
  -- again and again (a kill then often lands while it is being made)
  local churn = table.remove(keys)
  local pid = smo.getpid()
  math.randomseed(pid, math.floor(smo.clock() * 1e6))
  local stats = { ops = 0, opens = 0, closes = 0, locks = 0, recovered = 0, lock_timeouts = 0, publishes = 0,
                  snapshots = 0, snapshot_timeouts = 0, adds = 0, waits = 0, wakes = 0 }
  local statsfile, stopfile = ("%s/w%d.stats"):format(dir, id), dir .. "/stop"
  local errfile = assert(io.open(("%s/w%d.err"):format(dir, id), "a"))

  local function save()
    local tmp = statsfile .. ".tmp"
    local f = assert(io.open(tmp, "w"))
    for k, v in pairs(stats) do f:write(k, " ", v, "\n") end
    f:close()
    os.rename(tmp, statsfile)
  end
  -- Something wrong: kind is "error" (unexpected failure) or "counter".
  local function report(kind, fmt, ...)
    errfile:write(kind, " ", fmt:format(...):gsub("\n", " "), "\n")
    errfile:flush()
  end

  local handles = {}           -- key -> list of handles
  for _, k in ipairs(keys) do handles[k] = {} end

  local function open(k)
    local seg, msg = smo.open{ key = k, size = SIZE, create = true }
    if not seg then
      report("error", "open 0x%08x: %s", k, tostring(msg))
      return nil
    end
    stats.opens = stats.opens + 1
    table.insert(handles[k], seg)
    return seg
  end

  local function a_handle(k)
    local list = handles[k]
    if #list == 0 then return open(k) end
    return list[math.random(#list)]
  end

  -- The critical section: nobody else inside, the owner stays ours, and
  -- (unless lean) a pair published for the readers, sometimes slowly.
  local function locked(seg, lean)
    local ok, state, err = seg:lock(math.random() * 0.2)
    if not ok then
      if state == "timeout" then
        stats.lock_timeouts = stats.lock_timeouts + 1
      else
        report("error", "lock: %s (%s)", tostring(state), tostring(err))
      end
      return
    end
    stats.locks = stats.locks + 1
    if state == "recovered" then
      stats.recovered = stats.recovered + 1
      seg:set("int64_t", INSIDE, 0)       -- the dead holder's entry
    end
    local before = seg:atomic_add("int64_t", INSIDE, 1)
    if before ~= 0 then
      report("counter", "lock taken (%s) with %d holder(s) already inside: two holders, or a dead holder's " ..
        "death not reported", state or "plain", before)
      seg:set("int64_t", INSIDE, 1)
    end
    seg:set("int64_t", OWNER, pid)
    if not lean and math.random() < 0.5 then
      local x = math.random(1, 1 << 40)
      local slow = math.random() < 0.1       -- (a kill then lands mid-write)
      local pok, perr = pcall(seg.publish, seg, SEQ, function()
        seg:set("int64_t", A, x)
        if slow then smo.sleep(math.random() * 0.003) end
        seg:set("int64_t", B, -x)
      end)
      if pok then stats.publishes = stats.publishes + 1 else report("error", "publish: %s", tostring(perr)) end
    end
    if not lean and math.random() < 0.1 then smo.sleep(math.random() * 0.002) end
    if seg:get("int64_t", OWNER) ~= pid then
      report("counter", "the lock's owner changed to %d while pid %d held it", seg:get("int64_t", OWNER), pid)
    end
    seg:atomic_add("int64_t", INSIDE, -1)
    seg:unlock()
  end

  local function short_lived(k)
    local seg = smo.open{ key = k, size = SIZE, create = true }
    if seg then
      stats.opens = stats.opens + 1
      locked(seg, true)
      seg:close()
      stats.closes = stats.closes + 1
    end
  end

  local ops = {
    function(k)                                     -- another handle
      if #handles[k] < 3 then open(k) end
    end,
    function(k)                                     -- close one
      local list = handles[k]
      if #list > 0 then
        table.remove(list, math.random(#list)):close()
        stats.closes = stats.closes + 1
      end
    end,
    function(k) local seg = a_handle(k) if seg then locked(seg) end end,
    function(k) local seg = a_handle(k) if seg then locked(seg) end end,
    function(k) short_lived(k) end,
    function() short_lived(churn) end,
    function() short_lived(churn) end,
    function(k)
      local seg = a_handle(k)
      if not seg then return end
      local bytes, msg = seg:snapshot(SEQ, A, 16, 0.05)
      if not bytes then
        if msg == "timeout" then stats.snapshot_timeouts = stats.snapshot_timeouts + 1
        else report("error", "snapshot: %s", tostring(msg)) end
        return
      end
      stats.snapshots = stats.snapshots + 1
      local a, b = string.unpack("<i8<i8", bytes)
      if a ~= -b then report("counter", "torn snapshot: a = %d, b = %d", a, b) end
    end,
    function(k)
      local seg = a_handle(k)
      if seg then
        seg:atomic_add("int64_t", TOTAL, 1)
        stats.adds = stats.adds + 1
      end
    end,
    function(k)
      local seg = a_handle(k)
      if seg then
        seg:wait(WORD, seg:atomic_load("uint32_t", WORD), 0.01)
        stats.waits = stats.waits + 1
      end
    end,
    function(k)
      local seg = a_handle(k)
      if seg then
        seg:atomic_add("uint32_t", WORD, 1)
        seg:wake(WORD)
        stats.wakes = stats.wakes + 1
      end
    end,
  }

  -- Every other worker mostly churns (a kill lands while the lock's segment
  -- is made about once in 300 kills of a churner).
  local churner = id % 2 == 0
  while true do
    local k = keys[math.random(#keys)]
    local op = (churner and math.random() < 0.9) and short_lived or ops[math.random(#ops)]
    if op == short_lived then k = churn end
    local ok, err = pcall(op, k)
    if not ok then report("error", "%s", tostring(err)) end
    stats.ops = stats.ops + 1
    if stats.ops % 50 == 0 then
      save()
      local f = io.open(stopfile)
      if f then
        f:close()
        break
      end
    end
  end
  for _, list in pairs(handles) do
    for _, seg in ipairs(list) do
      seg:close()
      stats.closes = stats.closes + 1
    end
  end
  save()
  errfile:close()
end

-- ------------------------------------------------------------------ the storm

local function sysvipc(file)
  local rows = {}
  local f = assert(io.open(file))
  f:read("l")
  for line in f:lines() do
    local w = {}
    for x in line:gmatch("%S+") do w[#w + 1] = tonumber(x) end
    rows[#rows + 1] = w
  end
  f:close()
  return rows
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local st = f:read("l")
  f:close()
  return st ~= nil and not st:match("^%d+ %b() Z")
end

local function wait_dead(pid, seconds)
  local deadline = smo.clock() + seconds
  while alive(pid) and smo.clock() < deadline do smo.sleep(0.005) end
  return not alive(pid)
end

local function free_keys(n)
  local used = {}
  for _, file in ipairs({ "/proc/sysvipc/shm", "/proc/sysvipc/sem" }) do
    for _, r in ipairs(sysvipc(file)) do used[r[1]] = true end
  end
  local keys, ours = {}, {}
  while #keys < n do
    local k = math.random(0x10000000, 0x6fffffff)
    if not used[k] and not ours[k] then
      keys[#keys + 1], ours[k] = k, true
    end
  end
  return keys, ours
end

local function storm()
  local seconds = tonumber(os.getenv("SMO_SOAK_SECONDS")) or 60
  local nworkers = math.tointeger(tonumber(os.getenv("SMO_SOAK_WORKERS"))) or 8
  local seed = math.tointeger(tonumber(os.getenv("SMO_SOAK_SEED"))) or math.floor(smo.clock() * 1000)
  math.randomseed(seed)
  local keys, ours = free_keys((math.tointeger(tonumber(os.getenv("SMO_SOAK_KEYS"))) or 3) + 1)
  local p = io.popen("mktemp -d /tmp/smobject-soak.XXXXXX")
  local dir = p:read("l")
  p:close()
  local keylist = table.concat(keys, ",")
  print(("soak: %g s, %d workers, keys %s, killer seed %d"):format(seconds, nworkers,
    table.concat((function()
      local t = {}
      for i, k in ipairs(keys) do t[i] = ("0x%08x"):format(k) end
      return t
    end)(), " "), seed))

  local workers, all_pids, next_id = {}, {}, 0
  local function start()
    next_id = next_id + 1
    local cmd = ("%s %q worker %q %s %d >>%q 2>&1 & echo $!"):format(LUA, SELF, dir, keylist, next_id,
      dir .. "/workers.out")
    local pp = io.popen(cmd)
    local pid = math.tointeger(tonumber(pp:read("l")))
    pp:close()
    workers[#workers + 1] = pid
    all_pids[pid] = true
  end

  local kills, stop_kills = 0, 0
  local ok, err = pcall(function()
    for _ = 1, nworkers do start() end
    local deadline = smo.clock() + seconds
    while smo.clock() < deadline do
      smo.sleep(0.005 + math.random() * 0.15)
      local i = math.random(#workers)
      local pid = workers[i]
      os.execute("kill -KILL " .. pid .. " 2>/dev/null")
      wait_dead(pid, 10)
      kills = kills + 1
      table.remove(workers, i)
      start()
    end
  end)

  -- Stop: every worker closes what it has and leaves; stragglers are killed.
  assert(io.open(dir .. "/stop", "w")):close()
  for _, pid in ipairs(workers) do
    if not wait_dead(pid, 15) then
      os.execute("kill -KILL " .. pid .. " 2>/dev/null")
      wait_dead(pid, 10)
      stop_kills = stop_kills + 1
    end
  end

  local problems, counters, errors = {}, {}, {}
  if not ok then problems[#problems + 1] = "the storm itself failed: " .. tostring(err) end

  -- The last user of each key: the count is its own, the lock state is
  -- consistent, and its close removes everything.
  for _, k in ipairs(keys) do
    local seg, msg, e = smo.open{ key = k }
    if seg then
      local n = seg:users()
      if n ~= 1 then counters[#counters + 1] = ("key 0x%08x: the memory counter is %s with only the last user " ..
        "alive"):format(k, tostring(n)) end
      local lok, state = seg:lock(2)
      if not lok then
        counters[#counters + 1] = ("key 0x%08x: the last user cannot lock: %s"):format(k, tostring(state))
      else
        local inside = seg:get("int64_t", INSIDE)
        if inside ~= 0 and state ~= "recovered" then
          counters[#counters + 1] = ("key 0x%08x: a holder died inside the lock (inside = %d), yet the last " ..
            "user's lock did not say \"recovered\""):format(k, inside)
        end
        seg:unlock()
      end
      seg:close()
    elseif e ~= smo.errno.ENOENT then
      problems[#problems + 1] = ("key 0x%08x: the last user's open fails: %s"):format(k, tostring(msg))
    end
  end

  -- What the workers counted and reported.
  local totals = {}
  local ls = io.popen("ls " .. dir)
  for name in ls:lines() do
    if name:match("%.stats$") then
      for line in io.lines(dir .. "/" .. name) do
        local key, v = line:match("^(%S+) (%d+)$")
        if key then totals[key] = (totals[key] or 0) + tonumber(v) end
      end
    elseif name:match("%.err$") then
      for line in io.lines(dir .. "/" .. name) do
        local kind, text = line:match("^(%S+) (.*)$")
        local list = kind == "counter" and counters or errors
        list[#list + 1] = text
      end
    end
  end
  ls:close()

  -- What is left: objects of the keys, PRIVATE segments the workers made.
  local left, args = {}, {}
  for _, r in ipairs(sysvipc("/proc/sysvipc/shm")) do
    if ours[r[1]] then
      left[#left + 1] = ("segment %d of key 0x%08x (%d bytes, %d attached)"):format(r[2], r[1], r[4], r[7])
      args[#args + 1] = "-m " .. r[2]
    elseif r[1] == 0 and all_pids[r[5]] then
      left[#left + 1] = ("orphan PRIVATE segment %d (%d bytes%s) made by worker pid %d"):format(r[2], r[4],
        r[4] == 312 and ", a lock's" or "", r[5])
      args[#args + 1] = "-m " .. r[2]
    end
  end
  for _, r in ipairs(sysvipc("/proc/sysvipc/sem")) do
    if ours[r[1]] then
      left[#left + 1] = ("semaphore set %d of key 0x%08x"):format(r[2], r[1])
      args[#args + 1] = "-s " .. r[2]
    end
  end
  if #args > 0 then os.execute("ipcrm " .. table.concat(args, " ") .. " 2>/dev/null") end
  os.execute("rm -rf " .. ("%q"):format(dir))

  local function t(name) return totals[name] or 0 end
  print(("soak: %d operations (%d opens, %d closes, %d locks of which %d recovered, %d lock timeouts, " ..
    "%d publishes, %d snapshots, %d snapshot timeouts, %d atomic adds, %d waits, %d wakes) by %d workers")
    :format(t("ops"), t("opens"), t("closes"), t("locks"), t("recovered"), t("lock_timeouts"), t("publishes"),
      t("snapshots"), t("snapshot_timeouts"), t("adds"), t("waits"), t("wakes"), next_id))
  print(("soak: %d kills sent (and %d at the stop); counts of killed workers are missing their last ops")
    :format(kills, stop_kills))

  local function section(title, list)
    print(("soak: %s: %d"):format(title, #list))
    local seen, shown = {}, 0
    for _, line in ipairs(list) do
      local shape = line:gsub("%d+", "N")
      seen[shape] = (seen[shape] or 0) + 1
      if seen[shape] == 1 and shown < 20 then
        shown = shown + 1
        print("  " .. line)
      end
    end
  end
  section("left in ipcs (objects of its keys, orphan PRIVATE segments)", left)
  section("counter errors", counters)
  section("unexpected errors", errors)
  section("other problems", problems)
  local bad = #left + #counters + #errors + #problems
  print(bad == 0 and "soak: PASS" or "soak: FAIL")
  return bad == 0
end

if arg[1] == "worker" then
  worker(arg[2], arg[3], math.tointeger(tonumber(arg[4])))
else
  os.exit(storm() and 0 or 1)
end
