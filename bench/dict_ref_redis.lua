-- The Redis reference of make bench-dict: one Lua client (Debian's
-- lua-socket, one TCP connection with TCP_NODELAY, no pipelining) against the
-- redis-server bench/dict_ref.sh started; prints a Lua table constructor of
-- ns per operation (per round trip; lpush_rpop: per pair, two round trips).
--   lua5.4 bench/dict_ref_redis.lua PORT ROUNDS ROUND_MS   (password: env SMO_DICT_REDIS_PASS)
-- The loops and their states are bench/dict_ref_nginx.lua's: the 1000 keys
-- "k1".."k1000" in order, `reps` times, best of ROUNDS rounds of at least
-- ROUND_MS; here after 1 s of warm-up and with the operations interleaved
-- (see below why).  Each command's bytes are built once, before the loops, so the
-- client's own cost is a send and a buffered read of the reply: what is
-- measured is Redis's round trip, not Lua building strings.
local socket = require("socket")

local PORT = assert(tonumber(arg[1]), "usage: dict_ref_redis.lua PORT ROUNDS ROUND_MS")
local ROUNDS = tonumber(arg[2]) or 5
local ROUND_S = (tonumber(arg[3]) or 100) / 1000
local PASS = os.getenv("SMO_DICT_REDIS_PASS")
local KEYS = 1000
local S64 = string.rep("x", 64)
local now = socket.gettime

local c = assert(socket.tcp())
c:settimeout(30)
assert(c:connect("127.0.0.1", PORT))
assert(c:setoption("tcp-nodelay", true))

-- A command in RESP, Redis's protocol: an array of bulk strings.
local function encode(...)
  local out = { "*" .. select("#", ...) .. "\r\n" }
  for i = 1, select("#", ...) do
    local a = tostring((select(i, ...)))
    out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
  end
  return table.concat(out)
end

-- One reply: a status or bulk string, an integer, or nil; an error raises.
local function reply()
  local line, err = c:receive("*l")
  if not line then error("redis: " .. err) end
  local t, rest = line:sub(1, 1), line:sub(2)
  if t == "+" then return rest end
  if t == ":" then return math.tointeger(tonumber(rest)) end
  if t == "$" then
    local n = tonumber(rest)
    if n < 0 then return nil end
    local s, e = c:receive(n + 2)
    if not s then error("redis: " .. e) end
    return s:sub(1, n)
  end
  if t == "-" then error("redis: " .. rest) end
  error("redis: unexpected reply " .. line)
end

local function call(...)
  assert(c:send(encode(...)))
  return reply()
end

if PASS then assert(call("AUTH", PASS) == "OK") end

local keys = {}
for j = 1, KEYS do keys[j] = "k" .. j end
local function cmds(fn)
  local t = {}
  for j = 1, KEYS do t[j] = fn(keys[j], j) end
  return t
end
local SET_NUM = cmds(function(k, j) return encode("SET", k, j) end)
local GET = cmds(function(k) return encode("GET", k) end)
local SET_STR = cmds(function(k) return encode("SET", k, S64) end)
local INCR = cmds(function(k) return encode("INCR", k) end)
local LPUSH = cmds(function(k, j) return encode("LPUSH", k, j) end)
local RPOP = cmds(function(k) return encode("RPOP", k) end)
local sink

-- The loop of one command list, each reply stored to sink.
local function loop(list)
  return function(reps)
    for _ = 1, reps do
      for j = 1, KEYS do
        c:send(list[j])
        sink = reply()
      end
    end
  end
end

local function check(cond, what)
  if not cond then error("dict_ref_redis: " .. what, 0) end
end
local function fill(cmd, v)
  call("FLUSHALL")
  for j = 1, KEYS do call(cmd, keys[j], v) end
end

-- Each operation: the state it needs (set up untimed), its loop, and a check
-- of what it left, run after the last round.  In this order the state one
-- leaves is the next one's (as in bench/dict_ref_nginx.lua).
local OPS = {
  { name = "set_num", setup = function() call("FLUSHALL") end, run = loop(SET_NUM),
    check = function() return call("GET", "k1") == "1" and call("GET", "k1000") == "1000" end },
  { name = "get_num", run = loop(GET), check = function() return sink == "1000" end },
  { name = "set_str", run = loop(SET_STR), check = function() return call("GET", "k1") == S64 end },
  { name = "get_str", run = loop(GET), check = function() return sink == S64 end },
  { name = "incr", setup = function() fill("SET", 0) end, run = loop(INCR),
    check = function()
      local n1, n2 = call("GET", "k1"), call("GET", "k1000")
      return tonumber(n1) and tonumber(n1) > 0 and n1 == n2
    end },
  { name = "lpush_rpop", setup = function() fill("LPUSH", 0) end,
    run = function(reps)
      for _ = 1, reps do
        for j = 1, KEYS do
          c:send(LPUSH[j])
          reply()
          c:send(RPOP[j])
          sink = reply()
        end
      end
    end,
    check = function() return sink == "1000" and call("LLEN", "k1") == 1 and call("LLEN", "k1000") == 1 end },
}

-- A round trip's time depends on the moment here: it swings between about
-- 19 and 80 us for seconds at a time (two vCPUs shared with other work; each
-- round trip wakes a sleeping process, and an idle vCPU halts after the
-- guest's haltpoll cpuidle window), and the first second after start was
-- often in the slow mode.  Hence a warm-up, and rounds that take every
-- operation in turn (not all rounds of one, then the next), so that each
-- operation's best round comes from the same good moments as the others'.
local WARM_S = 1
local t_warm = now()
while now() - t_warm < WARM_S do loop(GET)(1) end

-- reps for each operation: doubled from 1 until a run lasts ROUND_S.
for _, op in ipairs(OPS) do
  if op.setup then op.setup() end
  op.reps = 1
  while true do
    local t0 = now()
    op.run(op.reps)
    if now() - t0 >= ROUND_S then break end
    op.reps = op.reps * 2
  end
  op.best = math.huge
end
for _ = 1, ROUNDS do
  for _, op in ipairs(OPS) do
    if op.setup then op.setup() end
    local t0 = now()
    op.run(op.reps)
    local dt = now() - t0
    if dt < op.best then op.best = dt end
  end
end
-- The checks: each operation once more from its own state, then what it left.
local res, ops = {}, {}
for _, op in ipairs(OPS) do
  if op.setup then op.setup() end
  op.run(2)
  check(op.check(), op.name .. ": wrong state or result after its loop")
  res[op.name] = op.best * 1e9 / (op.reps * KEYS)
  ops[op.name] = op.reps * KEYS
end
call("FLUSHALL")
c:close()

local out = { "{" }
for _, k in ipairs({ "get_num", "set_num", "set_str", "get_str", "incr", "lpush_rpop" }) do
  out[#out + 1] = ("  %s = %.1f,"):format(k, res[k])
end
out[#out + 1] = "  round_ops = {"
for _, k in ipairs({ "get_num", "set_num", "set_str", "get_str", "incr", "lpush_rpop" }) do
  out[#out + 1] = ("    %s = %d,"):format(k, ops[k])
end
out[#out + 1] = "  },"
out[#out + 1] = ("  rounds = %d, round_ms = %d,"):format(ROUNDS, math.floor(ROUND_S * 1000 + 0.5))
out[#out + 1] = ("  client = %q,"):format(_VERSION .. " + " .. tostring(socket._VERSION)
  .. ", one connection, no pipelining; 1 s warm-up, operations interleaved")
out[#out + 1] = "}"
print(table.concat(out, "\n"))
