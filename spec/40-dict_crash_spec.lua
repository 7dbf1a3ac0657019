-- smo.dict under stress (issue 13, "Proof"): incr from many processes is
-- exact; readers never wait for a writer stopped (SIGSTOP) inside a write;
-- a storm of SIGKILLs across writers of every operation loses no completed
-- write, applies the interrupted one wholly or not at all, tears nothing and
-- loses no memory; mixed sizes never fail for fragmentation; a segment that
-- another process scribbles over never crashes or hangs its users.
--
-- Children: spec/children/dict_*.lua (dict_common.lua holds what they share
-- with this file: self-checking values, value codes, the progress board and
-- the raw geometry of a dictionary's segment).  Whatever could hang runs in
-- a child, under a timeout or watched, so a hang fails a test instead of the
-- run.
--
-- SMO_DICT_SEED=n            repeat a run's random choices (the seed is printed;
--                            timing still differs between runs)
-- SMO_DICT_STORM_SECONDS=n   the kill storm's length (default 40)
-- SMO_DICT_STORM_KERNEL_SECONDS=n  the storm on a kernel-lock dictionary
--                            (default a quarter of the other, at least 5)
-- SMO_DICT_STOP_SECONDS=n    the SIGSTOP test's length (default 10)
-- SMO_DICT_FRAG_SECONDS=n    the long fragmentation run (default 20)
-- SMO_DICT_HOSTILE_SECONDS=n the scribbling (default 10)
local H = require("spec.helpers")
local smo = H.smo
local C = dofile(H.ROOT .. "/spec/children/dict_common.lua")

local function env_num(name, default)
  local v = tonumber(os.getenv(name) or "")
  return v or default
end

local SEED = H.to_integer(env_num("SMO_DICT_SEED", math.floor(H.now() * 1000) % 1000000007))
local STORM = env_num("SMO_DICT_STORM_SECONDS", 40)
local STORM_KERNEL = env_num("SMO_DICT_STORM_KERNEL_SECONDS", math.max(STORM / 4, 5))
local STOP = env_num("SMO_DICT_STOP_SECONDS", 10)
local FRAG = env_num("SMO_DICT_FRAG_SECONDS", 20)
local HOSTILE = env_num("SMO_DICT_HOSTILE_SECONDS", 10)
local MiB = 1024 * 1024
local q = H.shell_quote

local function repro(extra)
  return ("SMO_DICT_SEED=%d%s unshare --ipc %s /usr/bin/busted spec/40-dict_crash_spec.lua")
    :format(SEED, extra and " " .. extra or "", H.LUA)
end
io.stdout:write(("\ndict crash specs: seed %d (to repeat: %s)\n"):format(SEED, repro()))

-- A child's state letter in /proc (R, S, T stopped, Z...), or nil when gone.
local function proc_state(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local st = f:read("*l")
  f:close()
  return st and st:match("^%d+ %b() (%a)")
end

-- Runs a Lua chunk in a child under a timeout; its output and the shell's
-- status ("rc=0", "rc=137" when the timeout killed it, 128 + n for signal n).
-- (The arguments reach the chunk as arg[1], ...: `lua -e chunk x` would run x.)
local function child(code, seconds, ...)
  local args = {}
  for i = 1, select("#", ...) do args[i] = ("%q"):format(tostring(select(i, ...))) end
  code = "local arg = { " .. table.concat(args, ", ") .. " }\n" .. code
  local out = H.sh(H.child_env() .. "timeout -s KILL " .. seconds .. " " .. H.LUA .. " -e " .. q(code)
    .. "; echo rc=$?")
  local rc = out:match("rc=(%d+)%s*$")
  return out:gsub("rc=%d+%s*$", ""), tonumber(rc)
end

local function status_text(rc)
  if rc == 137 then return "hung (killed by its timeout)" end
  if rc and rc > 128 then return "died of signal " .. (rc - 128) end
  return "exit " .. tostring(rc)
end

describe("smo.dict under crashes (issue 13)", function()
  local pids, handles = {}, {}
  local function keep(h)
    handles[#handles + 1] = h
    return h
  end
  local function new_dict(size, mode)
    local k = H.key()
    return keep(assert(smo.dict{ key = k, size = size, create = true, mode = mode })), k
  end
  local function board()
    return keep(assert(smo.open{ key = H.key(), size = 4096, create = true }))
  end
  after_each(function()
    for _, pid in ipairs(pids) do H.kill(pid, "CONT") end
    H.stop_all(pids)
    for i = #handles, 1, -1 do
      handles[i]:close()
      handles[i] = nil
    end
    H.cleanup()
  end)
  teardown(H.cleanup_all)

  local function spawn(...)
    local pid = H.spawn(...)
    pids[#pids + 1] = pid
    return pid
  end

  local function wait_line(pid, pattern, timeout)
    return H.wait_for(function() return H.output(pid):match(pattern) end, timeout or 20)
  end

  -- ------------------------------------------------------------------ 1
  describe("incr from many processes", function()
    local N = 20000

    -- 4 children x N incr(name, 1, 0): each value start+1..start+4N is
    -- returned exactly once, and the last is what the dictionary holds.
    local function storm(d, k, name, start)
      local outs, kids = {}, {}
      for i = 1, 4 do
        outs[i] = H.tmpdir() .. "/incr-" .. name .. "-" .. i .. ".out"
        kids[i] = spawn("dict_incr.lua", k, name, N, outs[i])
      end
      for i = 1, 4 do
        assert.is_true(H.wait_exit(kids[i], 120), "an incr child still runs")
        assert.are.equal("done\n", H.output(kids[i]))
      end
      local seen, count = {}, 0
      for i = 1, 4 do
        local last
        for line in io.lines(outs[i]) do
          local v = H.to_integer(tonumber(line))
          assert(v, "not an integer: " .. line)
          local off = v - start
          assert(off >= 1 and off <= 4 * N, ("value %s out of %s+1..%s+%d"):format(line, tostring(start),
            tostring(start), 4 * N))
          assert(not seen[off], "value " .. line .. " returned twice")
          assert(last == nil or v > last, "child " .. i .. "'s values went down: " .. tostring(last) .. ", " .. line)
          seen[off], last, count = true, v, count + 1
        end
      end
      assert.are.equal(4 * N, count)
      local final = d:get(name)
      assert.is_true(H.is_integer(final))
      assert.are.equal(start + 4 * N, final)
    end

    it("4 processes x 20000 incr(n, 1, 0) give exactly 80000, every value returned once", function()
      local d, k = new_dict(MiB)
      storm(d, k, "n", 0)
    end)

    it("from 2^62, where a double would drift, the sum is exact and stays an integer", function()
      local why = H.needs("integers")
      if why then
        pending(why)
        return
      end
      local d, k = new_dict(MiB)
      local start = H.to_integer(2 ^ 62)
      assert(d:set("big", start))
      storm(d, k, "big", start)
      assert.are.equal("integer", math.type(d:get("big")))
    end)
  end)

  -- ------------------------------------------------------------------ 2
  describe("readers and a stopped writer", function()
    it("get, get_stale, ttl and get_keys never wait for a writer stopped (SIGSTOP) inside a write #slow", function()
      local NK = 128
      local d, k = new_dict(8 * MiB)
      local raw = keep(assert(smo.open{ key = k }))
      local g = C.geometry(raw)
      local b = board()
      local bk = b:key()
      assert(d:set("hot", C.strval(64, C.byte_for(0))))
      local writer = spawn("dict_stop_writer.lua", k, NK, SEED)
      assert(wait_line(writer, "ready"), "the writer did not start: " .. H.output(writer))
      local readers = {}
      for r = 0, 1 do readers[#readers + 1] = spawn("dict_stop_reader.lua", k, NK, STOP + 2, bk, r) end
      math.randomseed(SEED)
      local stops, in_lock, long_stops, stalls, stall_text = 0, 0, 0, 0, nil
      local deadline = H.now() + STOP
      while H.now() < deadline do
        H.sleep(math.random(1, 20) / 1000)
        H.kill(writer, "STOP")
        assert(H.wait_for(function() return proc_state(writer) == "T" end, 5), "the writer does not stop")
        local held, alloc = C.held_locks(raw, g)
        if #held > 0 or alloc then in_lock = in_lock + 1 end
        local before = {}
        for r = 0, 1 do before[r] = select(2, C.board_read(b, r)) end
        stops = stops + 1
        -- (every 4th stop lasts 0.3 s, every 8th 0.6 s, the others 10-80 ms;
        -- readers must have made a call during each of the long ones, which
        -- no scheduler delay on a busy machine explains away)
        local pause = stops % 8 == 0 and 0.6 or stops % 4 == 0 and 0.3 or math.random(10, 80) / 1000
        if pause > 0.5 then long_stops = long_stops + 1 end
        H.sleep(pause)
        for r = 0, 1 do
          local op, now = C.board_read(b, r)
          if pause >= 0.3 and now <= before[r] then
            stalls = stalls + 1
            stall_text = stall_text or ("reader %d made no call in %.2f s while the writer was stopped "
              .. "(holding lanes {%s}%s; last op %s)"):format(r, pause, table.concat(held, ","),
              alloc and " and the free list" or "", op)
          end
        end
        H.kill(writer, "CONT")
      end
      for _, pid in ipairs(readers) do assert.is_true(H.wait_exit(pid, 30), "a reader still runs: it hung") end
      H.kill(writer)
      io.stdout:write(("\n  SIGSTOP: %d stops (%d holding a lock, %d of 0.6 s)\n"):format(stops, in_lock, long_stops))
      for r, pid in ipairs(readers) do
        local out = H.output(pid)
        io.stdout:write("  reader ", r, ": ", out)
        local calls, max, op, torn, back = out:match("^calls (%d+) max (%S+) op (%S*) torn (%d+) back (%d+)")
        assert(calls, "reader " .. r .. " said: " .. out)
        assert.are.equal(0, tonumber(torn), "torn values: " .. out)
        assert.are.equal(0, tonumber(back), "ctr went down: " .. out)
        assert(tonumber(max) < 0.5, ("reader %d: a %s call took %s s (seed %d)"):format(r, op, max, SEED))
        assert(tonumber(calls) > 1000, "reader " .. r .. " made few calls: " .. out)
      end
      assert.are.equal(0, stalls, stall_text)
      assert(stops >= 20, "only " .. stops .. " stops")
      assert(in_lock > 0, "the writer was never stopped inside a lock (" .. stops .. " stops)")
    end)
  end)

  -- ------------------------------------------------------------------ 3
  -- spec/children/dict_whitebox.c, built with csrc/dict.c in (its static
  -- functions and layout), once.
  local whitebox_exe
  local function whitebox()
    if not whitebox_exe then
      local f = assert(io.open(H.ROOT .. "/spec/children/dict_whitebox.c"))
      local src = f:read("*a")
      f:close()
      whitebox_exe = H.compile("dict_whitebox", src, "-I" .. q(H.ROOT .. "/csrc") .. " -lpthread")
    end
    return whitebox_exe
  end

  -- One white-box case: dict_whitebox MODE must exit 0 and print what
  -- matches pattern.
  local function whitebox_case(mode, pattern)
    local why = H.missing("cc") if why then pending(why) return end
    local out, ok = H.sh(whitebox() .. " " .. mode .. " 2>&1")
    assert.is_true(ok, out)
    assert.matches(pattern, out)
  end

  it("a repair that meets a second dead holder repairs what that one left too (white-box, in C)", function()
    -- The kill storm found it once in about 60 runs: a repair that had been
    -- done by another process when this one got every lock took a later dead
    -- holder's lock (EOWNERDEAD) and dropped it, and the slots that holder had
    -- cut from the free list were lost for good.  spec/children/dict_whitebox.c
    -- builds csrc/dict.c in and makes that order happen with fork().
    whitebox_case("fsck", "^lost 0 needs_repair 0")
  end)

  it("a lock-free number change refuses a head reused since, even holding the same number, or re-expired (white-box)",
    function()
      whitebox_case("swap", "^swap refused, b = 0, the slot reused; after expire: swap refused")
    end)

  it("a writer killed holding its lane and a bucket's lock: the bucket's next writer repairs, nothing is lost (white-box)",
    function()
      -- (the next writer finds the bucket's word naming the dead writer's
      -- lane, and that lane's robust mutex says its holder died; a word naming
      -- a free lane is a scribble, repaired the same way; alarm: 20 s)
      whitebox_case("bucket", "^bucket: set 0, recoveries %+1, lost 0, locked 0, needs_repair 0; stale word: set 0, locked 0")
    end)

  it("a writer stopped holding a lane and a bucket delays no writer of another bucket, even on that lane, even with"
    .. " more waiters of its bucket than lanes (white-box)", function()
      -- (the waiters of the stopped writer's bucket sleep holding no lane;
      -- they used to keep theirs, and with 64 of them every writer stopped)
      whitebox_case("stopped", "^stopped: %d+ sets of other buckets done, rc 0, lane %d+; with 70 writers of its bucket "
        .. "waiting: %d+ sets done, rc 0; after its death 70 of 70 waiters done")
    end)

  describe("a kill storm", function()
    -- The verifier.  A candidate state of a key: v (a value code, nil when
    -- absent), f (flags), e (expiry: "0" never, "L" in an hour, "S" in a
    -- millisecond, which may or may not have passed).  Each logged
    -- operation maps every candidate to what it may become, keeping those
    -- whose result matches the logged one (an interrupted operation: all of
    -- them, and the candidate unchanged).
    local ABSENT = { f = "0", e = "0" }
    local INIT = 1000000000

    local function sig(c) return tostring(c.v) .. "|" .. c.f .. "|" .. c.e end

    local function branches(c)
      if c.v == nil then return { false } end
      if c.e == "S" then return { true, false } end
      return { true }
    end

    -- {result, post} pairs that operation a may give from candidate c.
    local function outcomes(a, c)
      local out = {}
      local function add(res, post) out[#out + 1] = { res, post } end
      local new = a.v and { v = a.v, f = a.f, e = a.e }
      for _, live in ipairs(branches(c)) do
        local op = a.op
        if op == "set" or op == "safe_set" then add("1", new)
        elseif op == "add" or op == "safe_add" then
          if live then add("0 exists", c) else add("1", new) end
        elseif op == "replace" then
          if live then add("1", new) else add("0 not_found", c) end
        elseif op == "delete" or op == "setnil" then add("1", ABSENT)
        elseif op == "incr" then
          if live then
            local x = C.value(c.v)
            if type(x) == "number" then
              local r = C.code(x + a.n)
              add(r, { v = r, f = c.f, e = c.e })
            else
              add("nil not_a_number", c)
            end
          elseif a.init then
            local r = C.code(a.init + a.n)
            add(r, { v = r, f = "0", e = "0" })
          else
            add("nil not_found", c)
          end
        elseif op == "expire" then
          if live then add("1", { v = c.v, f = c.f, e = a.e }) else add("nil not_found", c) end
        elseif op == "flush_expired" then add("*", c)
        elseif op == "get" then
          if live then add(c.v .. " " .. c.f, c) else add("nil 0", c) end
        else
          error("unknown op " .. tostring(op))
        end
      end
      return out
    end

    local function parse_b(fields)
      local a = { op = fields[2], key = fields[3] }
      local op = a.op
      if op == "set" or op == "safe_set" or op == "add" or op == "safe_add" or op == "replace" then
        if #fields < 6 then return nil end
        a.v, a.e, a.f = fields[4], fields[5], fields[6]
      elseif op == "incr" then
        if #fields < 4 then return nil end
        a.n = H.to_integer(tonumber(fields[4]))
        a.init = fields[5] and H.to_integer(tonumber(fields[5])) or nil
        if fields[5] and a.init ~= INIT then return nil end
      elseif op == "expire" then
        if #fields < 4 then return nil end
        a.e = fields[4]
      elseif op ~= "delete" and op ~= "setnil" and op ~= "get" and op ~= "flush_expired" then
        return nil
      end
      return a
    end

    -- Replays the logs; returns the candidates of every key, and a report.
    local function replay(logs)
      local cands, rep = {}, { completed = 0, interrupted = 0, starts = 0, bad = {}, malformed = 0 }
      local function of(key)
        cands[key] = cands[key] or { ABSENT }
        return cands[key]
      end
      local function dedupe(list)
        local out, seen = {}, {}
        for _, c in ipairs(list) do
          local s = sig(c)
          if not seen[s] then seen[s], out[#out + 1] = true, c end
        end
        return out
      end
      local function interrupted(a)
        rep.interrupted = rep.interrupted + 1
        if a.op == "flush_expired" then return end
        local list = {}
        for _, c in ipairs(of(a.key)) do
          list[#list + 1] = c
          for _, o in ipairs(outcomes(a, c)) do list[#list + 1] = o[2] end
        end
        cands[a.key] = dedupe(list)
      end
      local function completed(a, res, where)
        rep.completed = rep.completed + 1
        if a.op == "flush_expired" then return end
        local list, all = {}, {}
        for _, c in ipairs(of(a.key)) do
          for _, o in ipairs(outcomes(a, c)) do
            all[#all + 1] = o[2]
            if o[1] == "*" or o[1] == res then list[#list + 1] = o[2] end
          end
        end
        if #list == 0 then
          local was = {}
          for _, c in ipairs(of(a.key)) do was[#was + 1] = sig(c) end
          rep.bad[#rep.bad + 1] = ("%s: %s %s gave %q; the key was one of {%s}"):format(where, a.op, a.key, res,
            table.concat(was, ", "))
          list = all                              -- (go on from what it might have become)
        end
        cands[a.key] = dedupe(list)
      end
      for w, path in ipairs(logs) do
        local f = assert(io.open(path, "rb"))
        local text = f:read("*a")
        f:close()
        local pending, lineno = nil, 0
        for whole in text:gmatch("([^\n]*)\n?") do
          lineno = lineno + 1
          -- (a line without its end mark was cut by the kill: an E so cut
          -- leaves its operation interrupted, a B so cut never began one)
          local body = whole:match("^(.*) %.$")
          local line = body or whole
          local fields = {}
          for x in line:gmatch("%S+") do fields[#fields + 1] = x end
          local kind = fields[1]
          if not body then
            if line ~= "" then rep.malformed = rep.malformed + 1 end
            if kind == "B" then pending = nil end
          elseif kind == "S" then
            rep.starts = rep.starts + 1
            if pending then interrupted(pending) end
            pending = nil
          elseif kind == "B" then
            if pending then interrupted(pending) end
            pending = parse_b(fields)
            if not pending then rep.malformed = rep.malformed + 1 end
          elseif kind == "E" and pending then
            completed(pending, line:sub(3), ("writer %d's log line %d"):format(w, lineno))
            pending = nil
          elseif line ~= "" then
            rep.malformed = rep.malformed + 1
            if pending then interrupted(pending) end
            pending = nil
          end
        end
        if pending then interrupted(pending) end
      end
      return cands, rep
    end

    -- What the dictionary holds for key, against its candidates: nil when
    -- one of them fits, else why not.
    local function check_key(d, key, list)
      local v, flags = d:get(key)
      local code = C.code(v)
      local got = code .. " " .. tostring(flags or 0)
      local ttl = d:ttl(key)
      local sv, sflags, stale = d:get_stale(key)
      local scode = C.code(sv) .. " " .. tostring(sflags or 0)
      for _, c in ipairs(list) do
        if v ~= nil and c.v ~= nil and got == c.v .. " " .. c.f then
          if c.e == "0" and ttl == 0 then return nil end
          if c.e == "L" and ttl and ttl > 0 and ttl <= 3600 then return nil end
        end
        if v == nil and (c.v == nil or c.e == "S") then
          if sv == nil then return nil end
          if c.e == "S" and stale == true and scode == c.v .. " " .. c.f then return nil end
        end
      end
      local t = {}
      for _, c in ipairs(list) do t[#t + 1] = sig(c) end
      return ("%s: get gave %s (ttl %s), get_stale %s (stale %s); expected one of {%s}"):format(key, got,
        tostring(ttl), scode, tostring(stale), table.concat(t, ", "))
    end

    -- mode: nil (owner-only: 64 lanes of robust mutexes, and bucket locks) or a
    -- mode others may write (the segment's kernel lock, one lane); secs: its length.
    local function storm(mode, secs)
        local W, NK = 4, 24
        local d, k = new_dict(16 * MiB, mode)
        local free0 = d:free_space()
        local logs = {}
        for w = 1, W do logs[w] = H.tmpdir() .. "/storm-" .. w .. ".log" os.remove(logs[w]) end
        local reader = spawn("dict_storm_reader.lua", k, W, NK, secs + 1)
        -- The killer: per writer, a loop that starts it, kills it (SIGKILL)
        -- 2..180 ms later, and starts it again, for secs seconds.
        local writer = H.child_env() .. H.LUA .. " " .. q(H.ROOT .. "/spec/children/dict_storm_writer.lua")
        local loops = {}
        for w = 1, W do
          loops[w] = ("run %d %d %s &"):format(w, (SEED + w) % 32768, q(logs[w]))
        end
        local script = table.concat({
          "run() {",
          "  w=$1; RANDOM=$2; n=0; end=$((SECONDS + " .. math.ceil(secs) .. "))",
          "  while [ $SECONDS -lt $end ]; do",
          "    " .. writer .. " " .. k .. " $w " .. NK .. " \"$3\" $((RANDOM * 32768 + RANDOM)) &",
          "    p=$!",
          "    if [ $((RANDOM % 100)) -lt 70 ]; then ms=$((2 + RANDOM % 30)); else ms=$((30 + RANDOM % 150)); fi",
          "    sleep $(printf '0.%03d' $ms)",
          "    kill -9 $p 2>/dev/null; wait $p 2>/dev/null",
          "    n=$((n + 1))",
          "  done",
          "  echo \"kills $w $n\"",
          "}",
          table.concat(loops, " "),
          "wait",
        }, "\n")
        local out = H.sh("timeout -s KILL " .. math.ceil(secs + 120) .. " bash -c " .. q(script))
        local kills = 0
        for n in out:gmatch("kills %d+ (%d+)") do kills = kills + tonumber(n) end
        assert.is_true(H.wait_exit(reader, 30), "the reader still runs: it hung")
        local rout = H.output(reader)
        local cands, rep = replay(logs)
        local st = d:stats()
        io.stdout:write(("\n  storm: %d kills in %g s, %d writer starts, %d ops completed, %d interrupted, "
          .. "%d recoveries, %d evictions\n  reader: %s"):format(kills, secs, rep.starts, rep.completed,
          rep.interrupted, st.recoveries, st.evictions, rout))
        -- what the writers saw while the storm went on
        assert.are.equal(0, #rep.bad, ("%d result(s) contradict the logs (seed %d), first: %s"):format(#rep.bad,
          SEED, tostring(rep.bad[1])))
        assert(rep.malformed <= W + 2, rep.malformed .. " malformed log lines")
        -- the reader: nothing torn, no call long
        local calls, max, op, torn = rout:match("^calls (%d+) max (%S+) op (%S*) torn (%d+)")
        assert(calls, "the reader said: " .. rout .. " (killer: " .. out .. ")")
        assert.are.equal(0, tonumber(torn), rout)
        assert(tonumber(max) < 0.5, "a reader's " .. op .. " took " .. max .. " s")
        -- what the dictionary holds now
        local wrong = {}
        for w = 1, W do
          for j = 1, NK do
            local key = "w" .. w .. "k" .. j
            local why = check_key(d, key, cands[key] or { ABSENT })
            if why then wrong[#wrong + 1] = why end
          end
        end
        assert.are.equal(0, #wrong, ("%d key(s) wrong (seed %d), first: %s"):format(#wrong, SEED, tostring(wrong[1])))
        -- the bookkeeping: every slot in one place, the counters right
        local function check_text(ck)
          local t = {}
          for name, v in pairs(ck) do t[#t + 1] = name .. "=" .. tostring(v) end
          table.sort(t)
          return table.concat(t, " ")
        end
        -- (flush_expired tries every lane held: a lane left by a writer killed
        -- anywhere, even inside a repair holding every lock, is met and the
        -- repair done, as by any next writer of its bucket)
        d:flush_expired()
        local ck = d:check()
        io.stdout:write("\n  check after the storm: ", check_text(ck), "\n")
        assert(not ck.needs_repair and ck.dead_holders == 0 and ck.lost == 0 and ck.twice == 0 and ck.broken == 0 and ck.free_listed == ck.free_count
          and ck.pooled == ck.pool_count and ck.entries_found == ck.entries_counted,
          ("the bookkeeping is wrong after the storm (seed %d): %s"):format(SEED, check_text(ck)))
        assert(kills >= (secs >= 30 and 1000 or 10 * secs), kills .. " kills only: " .. out)
        assert(st.recoveries > 0, "no recovery counted after " .. kills .. " kills")
        assert.are.equal(0, st.evictions)
        -- everything deleted: all the memory is back
        for w = 1, W do
          for j = 1, NK do assert.is_true(d:delete("w" .. w .. "k" .. j)) end
        end
        d:flush_expired()
        st = d:stats()
        assert.are.equal(0, st.entries)
        assert.are.equal(free0, d:free_space(), "memory lost after " .. kills .. " kills: "
          .. (free0 - d:free_space()) .. " bytes; " .. check_text(d:check()) .. "; keys left: "
          .. table.concat(d:get_keys(0), " "))
        assert.are.same({}, d:get_keys(0))
        -- the last user leaves nothing behind
        for i = #handles, 1, -1 do
          handles[i]:close()
          handles[i] = nil
        end
        H.assert_gone(k, "after the storm")
    end

    it("thousands of SIGKILLs across writers of every operation lose no completed write and tear nothing #slow",
      function() storm(nil, STORM) end)

    it("the same on a dictionary others may write (the segment's kernel lock) #slow",
      function() storm(tonumber("660", 8), STORM_KERNEL) end)
  end)

  -- ------------------------------------------------------------------ 4
  describe("no fragmentation", function()
    local function need(key, v)
      return C.entry_bytes(#key, type(v) == "string" and #v or 0)
    end

    it("in a 4 MiB dictionary: 1 MB, then 100 KB, then 1 MB again never fail, evict nothing, and free_space is exact",
      function()
        local d = new_dict(4 * MiB)
        local free0 = d:free_space()
        assert.are.equal(d:capacity(), free0)
        local MB, KB = 1000 * 1000, 100 * 1000
        -- one key, its size changing
        for round = 1, 10 do
          for _, len in ipairs({ MB, KB, MB }) do
            local v = C.strval(len, C.byte_for(round))
            assert.are.same({ true, nil, false }, { d:set("k", v) })
            assert.are.equal(free0 - need("k", v), d:free_space())
            assert.are.equal(v, d:get("k"))
          end
        end
        assert.is_true(d:delete("k"))
        -- several keys alive at once: 1 MB, 100 KB, 1 MB, 100 KB, 1 MB
        local live = 0
        for i, len in ipairs({ MB, KB, MB, KB, MB }) do
          local v = C.strval(len, C.byte_for(i))
          assert.are.same({ true, nil, false }, { d:set("m" .. i, v) })
          live = live + need("m" .. i, v)
          assert.are.equal(free0 - live, d:free_space())
        end
        assert.is_true(d:delete("m2"))      -- a 100 KB hole between two 1 MB entries...
        assert.is_true(d:delete("m3"))      -- ...and a 1 MB one after it
        live = live - need("m2", C.strval(KB, "A")) - need("m3", C.strval(MB, "A"))
        local v = C.strval(MB, "Q")
        assert.are.same({ true, nil, false }, { d:set("again", v) })
        live = live + need("again", v)
        assert.are.equal(free0 - live, d:free_space())
        -- holes: 100 KB entries until full, every other one deleted; 1 MB
        -- entries then fit exactly as long as free_space says they do
        for i = 1, 5 do d:delete("m" .. i) end
        d:delete("again")
        assert.are.equal(free0, d:free_space())
        local n = 0
        while true do
          local hv = C.strval(KB, C.byte_for(n))
          local fits = need("h" .. n, hv) <= d:free_space()
          local ok, err = d:safe_set("h" .. n, hv)
          assert.are.equal(fits, ok, "safe_set of 100 KB with free_space " .. d:free_space() .. ": " .. tostring(err))
          if not ok then
            assert.are.equal("no memory", err)
            break
          end
          n = n + 1
        end
        for i = 0, n - 1, 2 do assert.is_true(d:delete("h" .. i)) end
        local big = C.strval(MB, "B")
        local placed = 0
        while true do
          local fits = need("b" .. placed, big) <= d:free_space()
          local ok, err = d:safe_set("b" .. placed, big)
          assert.are.equal(fits, ok, ("1 MB entry %d in holes of 100 KB, free_space %d: %s"):format(placed + 1,
            d:free_space(), tostring(err)))
          if not ok then break end
          placed = placed + 1
        end
        assert(placed >= 1, "no 1 MB entry fitted in " .. d:free_space() .. " free bytes of 100 KB holes")
        for i = 0, placed - 1 do assert.are.equal(big, d:get("b" .. i)) end
        for i = 1, n - 1, 2 do assert.are.equal(C.strval(KB, C.byte_for(i)), d:get("h" .. i)) end
        assert.are.equal(0, d:stats().evictions)
        for i = 0, n - 1 do d:delete("h" .. i) end
        for i = 0, placed - 1 do d:delete("b" .. i) end
        assert.are.equal(free0, d:free_space())
        assert.are.equal(0, d:stats().entries)
      end)

    it("a set that can never fit (more than the capacity) fails without evicting anything", function()
      local d = new_dict(MiB)
      for i = 1, 100 do assert(d:set("k" .. i, i)) end
      local cap = d:capacity()
      -- an entry above the capacity, though below the segment's size
      local len = math.floor(cap / 64 * 56)
      assert(C.entry_bytes(1, len) > cap and C.entry_bytes(1, len) < MiB)
      local ok, err, forcible = d:set("x", string.rep("x", len))
      assert.are.same({ false, "no memory" }, { ok, err })
      assert.are.equal(100, d:stats().entries, ("it evicted %d entries for a write that could not succeed (forcible %s)")
        :format(d:stats().evictions, tostring(forcible)))
      assert.is_false(forcible)
    end)

    -- Random sizes with safe_set: "no memory" exactly when the entry's bytes
    -- exceed free_space() just before, and free_space() always equals the
    -- capacity minus what the live entries take (by the documented formula).
    local function random_sizes(seconds, seed)
      local d = new_dict(4 * MiB)
      local free0 = d:free_space()
      math.randomseed(seed)
      local live, bytes, values = {}, 0, {}
      local ops, nomem, sets = 0, 0, 0
      local deadline = H.now() + seconds
      while H.now() < deadline do
        for _ = 1, 200 do
          ops = ops + 1
          local key = "r" .. math.random(1, 500)
          if live[key] and math.random() < 0.35 then
            assert.is_true(d:delete(key))
            bytes, live[key], values[key] = bytes - live[key], nil, nil
          else
            local v
            local r = math.random()
            if r < 0.05 then v = math.random(0, 1000)
            elseif r < 0.5 then v = C.strval(math.floor(8 * 2 ^ (math.random() * 13)), C.byte_for(ops))
            else v = C.strval(math.random(8, 65536), C.byte_for(ops)) end
            local fs, n = d:free_space(), need(key, v)
            local ok, err, forcible = d:safe_set(key, v)
            sets = sets + 1
            if n <= fs then
              assert(ok, ("op %d (seed %d): safe_set of %d bytes failed (%s) with free_space %d"):format(ops, seed, n,
                tostring(err), fs))
            elseif ok then
              -- (only a number written in place over a number of the same type needs no new slots)
              local mtype = math.type or function(x) return x == math.floor(x) and "integer" or "float" end
              assert(type(v) == "number" and type(values[key]) == "number" and mtype(v) == mtype(values[key]),
                ("op %d (seed %d): safe_set of %d bytes with free_space %d succeeded, not in place"):format(ops, seed,
                  n, fs))
            else
              assert(err == "no memory", ("op %d (seed %d): safe_set of %d bytes with free_space %d gave %s, %s")
                :format(ops, seed, n, fs, tostring(ok), tostring(err)))
              nomem = nomem + 1
            end
            assert.is_false(forcible)
            if ok then
              bytes = bytes - (live[key] or 0) + n
              live[key], values[key] = n, v
            end
          end
          local fs = d:free_space()
          if fs ~= free0 - bytes then
            error(("op %d (seed %d): free_space %d, but the live entries take %d of %d"):format(ops, seed, fs, bytes, free0))
          end
          local probe = "r" .. math.random(1, 500)
          assert.are.equal(values[probe], d:get(probe))
        end
      end
      for key in pairs(live) do assert.is_true(d:delete(key)) end
      assert.are.equal(free0, d:free_space())
      assert.are.equal(0, d:stats().entries)
      assert.are.equal(0, d:stats().evictions)
      assert(nomem > 0 and nomem < sets, ("%d of %d sets had no memory: the run says nothing"):format(nomem, sets))
      return ops, nomem
    end

    it("random sizes 8 B..64 KB with safe_set: no memory only when the entry exceeds free_space (2 s)", function()
      random_sizes(2, SEED)
    end)

    it("random sizes 8 B..64 KB with safe_set, for " .. FRAG .. " s #slow", function()
      local ops, nomem = random_sizes(FRAG, SEED + 1)
      io.stdout:write(("\n  fragmentation: %d operations, %d no memory, all exact\n"):format(ops, nomem))
    end)
  end)

  -- ------------------------------------------------------------------ 5
  describe("a hostile segment", function()
    -- A corruption made by hand, then calls in a child under a timeout:
    -- they may fail or answer wrong, not crash or hang.
    local CALLS = [[
      local smo = require("smobject")
      local key = tonumber(arg[1])
      key = math.tointeger and math.tointeger(key) or key
      local d = assert(smo.dict{ key = key })
      local t0 = smo.clock()
      for _, call in ipairs({
        { 'get("a")', function() return d:get("a") end }, { 'get("zz")', function() return d:get("zz") end },
        { 'get_stale("a")', function() return d:get_stale("a") end }, { 'ttl("zz")', function() return d:ttl("zz") end },
        { "get_keys(0)", function() return d:get_keys(0) end }, { 'set("b")', function() return d:set("b", "v") end },
        { 'set("c")', function() return d:set("c", "v") end },
        { 'incr("a")', function() return d:incr("a", 1, 0) end }, { 'delete("a")', function() return d:delete("a") end },
        { "flush_expired()", function() return d:flush_expired() end }, { 'get("b")', function() return d:get("b") end },
      }) do
        if arg[2] ~= "writes" or not (call[1]:match("^get") or call[1]:match("^ttl")) then
          io.write(call[1], " ")
          io.flush()
          pcall(call[2])
        end
      end
      io.write(("ok %.3f\n"):format(smo.clock() - t0))
    ]]

    local function corrupt_then_call(how, mode)
      local d, k = new_dict(MiB)
      assert(d:set("a", C.strval(200, "a")))
      local raw = keep(assert(smo.open{ key = k }))
      local g = C.geometry(raw)
      how(raw, g)
      local out, rc = child(CALLS, 5, k, mode or "all")
      assert(rc == 0 and out:match("ok [%d.]+%s*$"), ("the calls %s; the calls made: %s"):format(status_text(rc), out))
    end

    it("every bucket's head at a free slot: readers do not spin forever", function()
      corrupt_then_call(function(raw, g)
        for b = 0, g.nbuckets - 1 do raw:set("uint32_t", g.buckets_off + 16 * b, g.nslots - 1) end
      end)
    end)

    it("every bucket's head at an entry that links to itself: readers do not spin forever", function()
      corrupt_then_call(function(raw, g)
        -- the first entry of a fresh dictionary is at slot 0 (its value in slots 1..4)
        raw:set("uint32_t", g.slots_off + 8, 0)
        for b = 0, g.nbuckets - 1 do raw:set("uint32_t", g.buckets_off + 16 * b, 0) end
      end)
    end)

    it("an entry whose length runs past its chain: readers do not spin forever", function()
      corrupt_then_call(function(raw, g)
        raw:set("uint32_t", g.slots_off + 48, 100000)
      end)
    end)

    -- Calls of every kind (mode "all") or writes only (mode "writes") by
    -- two processes while a third scribbles, then by one more once it is done.
    local function scribbled(mode)
      local d, k = new_dict(MiB)
      for i = 1, 150 do assert(d:set("h" .. i, C.strval(8 + i * 10, C.byte_for(i)))) end
      local b = board()
      local scribbler = spawn("dict_scribbler.lua", k, HOSTILE, SEED)
      local function users(seconds, n, seed, first)
        local cmds = {}
        for u = first, first + n - 1 do
          -- (a bound on memory, against a runaway allocation; AddressSanitizer
          -- reserves terabytes of address space, so not under it)
          local limit = (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) and "" or "ulimit -v 4000000; "
          cmds[#cmds + 1] = ("(%s%stimeout -s KILL %d %s %s %d %g %d %d %d %s; echo \"rc%d=$?\") &")
            :format(limit, H.child_env(), math.ceil(seconds + 20), H.LUA, q(H.ROOT .. "/spec/children/dict_hostile_user.lua"),
              k, seconds, seed + u, b:key(), u, mode, u)
        end
        return H.sh(table.concat(cmds, " ") .. " wait")
      end
      local out = users(HOSTILE, 2, SEED, 0)
      assert.is_true(H.wait_exit(scribbler, 30))
      local sout = H.output(scribbler)
      -- then, the scribbling over, the next user
      local after = users(2, 1, SEED + 7, 2)
      io.stdout:write("\n  hostile (", mode, "): scribbler ", sout, out, after)
      local function verdict(text, first, n, phase)
        for u = first, first + n - 1 do
          local rc = tonumber(text:match("rc" .. u .. "=(%d+)"))
          if rc ~= 0 then
            local op, calls = C.board_read(b, u)
            assert(false, ("%s (%s): user %d %s in %s after %d calls (seed %d; %s)\n%s"):format(phase, mode, u,
              status_text(rc), op, calls, SEED, repro(), text))
          end
        end
        for max, op in text:gmatch("max (%S+) op (%S+)") do
          assert(tonumber(max) < 1, ("%s (%s): a %s call took %s s (seed %d)"):format(phase, mode, op, max, SEED))
        end
      end
      verdict(out, 0, 2, "while scribbled over")
      verdict(after, 2, 1, "after the scribbling")
      assert(sout:match("^writes %d+"), "the scribbler: " .. sout)
    end

    it("a free-list link out of range: writers do not crash", function()
      corrupt_then_call(function(raw, g)
        -- "a" took slots 0..4; set("b") takes 5 and 6, and the free list's
        -- head becomes slot 6's link
        raw:set("uint32_t", g.slots_off + 64 * 6, 0x7fffffff)
      end, "writes")
    end)

    it("scribbled over by another process while readers and writers run: no crash, no hang #slow", function()
      scribbled("all")
    end)

    it("scribbled over by another process while writers run: no crash, no hang #slow", function()
      scribbled("writes")
    end)
  end)

  -- ------------------------------------------------------------------ 6
  describe("a dead lock holder", function()
    it("a lane whose holder died, met first by another writer's eviction, is repaired, not kept locked", function()
      local d, k = new_dict(MiB)
      local raw = keep(assert(smo.open{ key = k }))
      local g = C.geometry(raw)
      local cap = d:capacity()
      -- a process setting "a" to 40% of the capacity in a loop, killed
      -- while it holds a lane (but not the free list's lock)
      local holder = spawn("dict_setloop.lua", k, "a", math.floor(cap * 0.4))
      assert(wait_line(holder, "ready"), "the set loop did not start: " .. H.output(holder))
      math.randomseed(SEED)
      local lane
      for _ = 1, 500 do
        H.sleep(math.random(0, 3) / 1000)
        H.kill(holder, "STOP")
        assert(H.wait_for(function() return proc_state(holder) == "T" end, 5))
        local held, alloc = C.held_locks(raw, g)
        if #held == 1 and not alloc then
          lane = held[1]
          H.kill(holder, "KILL")
          break
        end
        H.kill(holder, "CONT")
      end
      assert(lane, "the set loop was never stopped holding a lane")
      assert.is_true(H.wait_exit(holder, 10))
      assert(raw:get("uint32_t", g.lanes_off + C.LANE_SIZE * lane) ~= 0, "the dead holder's mutex is not marked")
      -- another writer: a set that must evict to fit, on a key of another
      -- bucket; it stays alive afterwards
      local evictor = spawn("dict_evictor.lua", k, "big", math.floor(cap * 0.7))
      assert(wait_line(evictor, "^set "), "the evicting set did not return within 20 s: hung")
      local res = H.output(evictor)
      local word = raw:get("uint32_t", g.lanes_off + C.LANE_SIZE * lane)
      -- nobody is inside an operation now: no lane may stay locked
      local held = C.held_locks(raw, g)
      assert.are.same({}, held, ("lane(s) {%s} still locked (lane %d's word 0x%x) after %s"):format(
        table.concat(held, ","), lane, word, res))
      -- and the next writer of the dead holder's key gets through
      local out, rc = child([[
        local smo = require("smobject")
        local key = tonumber(arg[1])
        key = math.tointeger and math.tointeger(key) or key
        local d = assert(smo.dict{ key = key })
        print(d:set("a", "small"))
        print(d:get("a"))
      ]], 10, k)
      assert(rc == 0, ("set of the dead holder's key %s: %s (the evictor said %s)"):format(status_text(rc), out, res))
      assert.are.equal("true\tnil\tfalse\nsmall\n", out)
    end)
  end)
end)
