-- The owner's side of an attack by another uid (spec/17-hostile_spec.lua).
-- Runs as root in an IPC namespace of its own (unshare --ipc), so that the
-- attacker's "every object it can see" is exactly ours.  It only reports what
-- happened, one fact a line; the spec judges.  A crash or a hang shows as the
-- exit status (a signal, or timeout's 124) and the last "step" line.
-- usage: hostile_owner.lua reader KEY MODE ATTACK_COMMAND
--        hostile_owner.lua writer KEY MODE SECONDS ATTACK_COMMAND OUTFILE
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")

local role, key, mode = arg[1], I.tointeger(tonumber(arg[2])), tonumber(arg[3], 8)
local canary = string.rep("canary", 1000)

local function say(...)
  io.write(table.concat({ ... }, " "), "\n")
  io.flush()
end

local function show(v)
  if v == nil then return "nil" end
  return tostring(v)
end

-- Calls seg[name](seg, ...) under pcall; returns its results, or nil, "raised: ...".
local function try(seg, name, ...)
  local r = I.pack(pcall(seg[name], seg, ...))
  if not r[1] then
    say("raised", name, tostring(r[2]))
    return nil, "raised", nil
  end
  return I.unpack(r, 2, r.n)
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local st = f:read("*l")
  f:close()
  return st ~= nil and not st:match("^%d+ %b() Z")
end

local function rows(file)
  local n = 0
  for _ in io.lines(file) do n = n + 1 end
  return n - 1
end

local seg = assert(smo.open{ key = key, size = 4096, create = true, mode = mode })
seg:write(0, "secret")
assert(seg:lock())
seg:unlock()
seg:wait(64, 1, 0)    -- the word is 0: returns at once
seg:wake(64)
say("step setup", seg:shmid())

if role == "reader" then
  -- (5.1 and LuaJIT: a pipe's close() gives no status, so the shell says it)
  local old = _VERSION == "Lua 5.1"
  local p = io.popen(old and "(" .. arg[4] .. ") 2>&1; echo \"\001status $?\"" or arg[4] .. " 2>&1")
  local status
  for line in p:lines() do
    local st = old and line:match("^\1status (%d+)$")
    if st then status = tonumber(st) else say("attacker:", line) end
  end
  local _, _, code = p:close()
  say("attacker exit", status or code)
  say("step lock")
  local a, b, c = try(seg, "lock")
  say("lock", show(a), show(b), show(c))
  if a then try(seg, "unlock") end
  say("step with_lock")
  a, b, c = try(seg, "with_lock", function() return 42 end)
  say("with_lock", show(a), show(b), show(c))
  say("users", show(try(seg, "users")))
  say("step second open")
  local s2, msg, err = smo.open{ key = key }
  if s2 then say("second open ok") else say("second open nil", show(msg), show(err)) end
  if s2 then
    say("users with two", show(try(seg, "users")))
    a, b, c = try(s2, "lock", 5)
    say("second lock", show(a), show(b), show(c))
    if a then try(s2, "unlock") end
    s2:close()
    say("users after second close", show(try(seg, "users")))
  end
  say("data", seg:read(0, 6))
  say("step close")
  seg:close()
  say("left shm", rows("/proc/sysvipc/shm"), "sem", rows("/proc/sysvipc/sem"))
else
  local seconds, out = tonumber(arg[4]), arg[6]
  local p = io.popen(arg[5] .. " >" .. out .. " 2>&1 & echo $!")
  local pid = p:read("*l")
  p:close()
  local deadline, n, locked = smo.clock() + seconds, 0, 0
  say("step loop")
  while smo.clock() < deadline do
    n = n + 1
    local ok = try(seg, "lock")
    if ok then
      locked = locked + 1
      try(seg, "get", "uint32_t", 64)
      try(seg, "unlock")
    end
    if n % 8 == 0 then
      try(seg, "with_lock", function() return 1 end)
      try(seg, "users")
      try(seg, "wait", 64, 0xffffffff, 0.001)
      try(seg, "wake", 64)
      local s2 = smo.open{ key = key }
      if s2 then
        try(s2, "users")
        s2:close()
      end
    end
  end
  say("iterations", n, "locked", locked)
  say("step wait attacker")
  while alive(pid) do smo.sleep(0.01) end
  for line in io.lines(out) do say("attacker:", line) end
  say("step after")
  local a, b, c = try(seg, "lock")
  say("lock", show(a), show(b), show(c))
  if a then try(seg, "unlock") end
  try(seg, "with_lock", function() return 1 end)
  say("step close")
  seg:close()
end
say("canary", tostring(canary == string.rep("canary", 1000)))
say("owner ok")
