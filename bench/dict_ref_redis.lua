-- The Redis reference of make bench-dict: one Lua client (Debian's
-- lua-socket, one TCP connection with TCP_NODELAY, no pipelining) against the
-- redis-server bench/dict_ref.sh started; prints a Lua table constructor of
-- ns per operation (per round trip; lpush_rpop: per pair, two round trips).
--   lua5.4 bench/dict_ref_redis.lua PORT ROUNDS ROUND_MS   (password: env SMO_DICT_REDIS_PASS)
-- The loops and their states are bench/dict_ref_nginx.lua's: the 1000 keys
-- "k1".."k1000" in order, `reps` times, best of ROUNDS rounds of at least
-- ROUND_MS.  Each command's bytes are built once, before the loops, so the
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

-- Best time of fn(reps) in ns per key visit (see bench/dict_ref_nginx.lua).
local function measure(fn)
  local reps = 1
  while true do
    local t0 = now()
    fn(reps)
    if now() - t0 >= ROUND_S then break end
    reps = reps * 2
  end
  local best = math.huge
  for _ = 1, ROUNDS do
    local t0 = now()
    fn(reps)
    local dt = now() - t0
    if dt < best then best = dt end
  end
  return best * 1e9 / (reps * KEYS), reps * KEYS
end

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

local res, ops = {}, {}
call("FLUSHALL")
res.set_num, ops.set_num = measure(loop(SET_NUM))
check(call("GET", "k1") == "1" and call("GET", "k1000") == "1000", "set_num did not store the numbers")
res.get_num, ops.get_num = measure(loop(GET))
check(sink == "1000", "get_num read " .. tostring(sink))
res.set_str, ops.set_str = measure(loop(SET_STR))
check(call("GET", "k1") == S64, "set_str did not store the string")
res.get_str, ops.get_str = measure(loop(GET))
check(sink == S64, "get_str read " .. tostring(sink))

call("FLUSHALL")
for j = 1, KEYS do call("SET", keys[j], 0) end
res.incr, ops.incr = measure(loop(INCR))
local n1, n2 = call("GET", "k1"), call("GET", "k1000")
check(tonumber(n1) and tonumber(n1) > 0 and n1 == n2, "incr left k1=" .. tostring(n1) .. " k1000=" .. tostring(n2))

call("FLUSHALL")
for j = 1, KEYS do call("LPUSH", keys[j], 0) end
res.lpush_rpop, ops.lpush_rpop = measure(function(reps)
  for _ = 1, reps do
    for j = 1, KEYS do
      c:send(LPUSH[j])
      reply()
      c:send(RPOP[j])
      sink = reply()
    end
  end
end)
check(sink == "1000" and call("LLEN", "k1") == 1 and call("LLEN", "k1000") == 1,
      "lpush_rpop: lists are not of one element")
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
out[#out + 1] = ("  client = %q,"):format(_VERSION .. " + " .. tostring(socket._VERSION) .. ", one connection, no pipelining")
out[#out + 1] = "}"
print(table.concat(out, "\n"))
