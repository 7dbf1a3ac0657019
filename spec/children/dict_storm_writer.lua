-- A writer of spec/40-dict_crash_spec.lua's kill storm: random operations of
-- every kind on its own keys w<W>k1..w<W>k<NKEYS> (no other writer touches
-- them), until killed.  Before each operation it appends "B op key args" to
-- LOG, after it "E results", each line flushed on its own, so that the log
-- tells every completed operation, and the one in flight when it was killed
-- (a B line without its E).  A restart appends "S pid" first.  Each line
-- ends with " ." (a line without it was cut by the kill).
--   op and args: set|safe_set|add|safe_add|replace KEY VALUE EXP FLAGS;
--   delete|setnil|get KEY; incr KEY N [INIT]; expire KEY EXP; flush_expired -
--   VALUE: a dict_common code; EXP: 0 (never), L (3600 s), S (0.001 s)
-- usage: dict_storm_writer.lua KEY W NKEYS LOG SEED
local C = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/dict_common.lua")
local smo = require("smobject")
local function int(x) x = tonumber(x) return math.tointeger and math.tointeger(x) or x end
local key, w, nkeys, logname, seed = int(arg[1]), int(arg[2]), int(arg[3]), arg[4], int(arg[5])
math.randomseed(seed)

-- Every line ends with " ." and is flushed on its own: a SIGKILL inside
-- the write(2) of a line that crosses a page of the file can leave part of
-- it, which the missing end marks.  A restart begins with a newline, which
-- ends such a part.
local log = assert(io.open(logname, "a"))
local function line(s)
  log:write(s .. " .\n")
  log:flush()
end
log:write("\n")
line("S " .. tostring(smo.getpid()))

local d = assert(smo.dict{ key = key })
local EXP = { ["0"] = 0, L = 3600, S = 0.001 }
local INIT = 1000000000

local function some_value()
  local r = math.random()
  if r < 0.7 then
    -- 8 B .. 64 KB, sizes spread evenly over the powers of two
    local len = math.floor(8 * 2 ^ (math.random() * 13))
    return C.code(C.strval(len, C.byte_for(math.random(0, 1000))))
  elseif r < 0.8 then
    return "i" .. math.random(0, 1000)
  elseif r < 0.9 then
    return "f" .. ("%.17g"):format(math.random(0, 1000) + 0.5)
  end
  return math.random() < 0.5 and "t" or "F"
end

local function some_exp()
  local r = math.random()
  return r < 0.7 and "0" or r < 0.9 and "L" or "S"
end

local function store_result(ok, err, forcible)
  local s = ok and "1" or "0 " .. tostring(err):gsub(" ", "_")
  if forcible then s = s .. " forcible" end
  return s
end

local function err_result(v, err)
  if v == nil then return "nil " .. tostring(err):gsub(" ", "_") end
  return C.code(v)
end

local STORES = { "set", "safe_set", "add", "safe_add", "replace" }
while true do
  local k = "w" .. w .. "k" .. math.random(1, nkeys)
  local r = math.random(1, 100)
  if r <= 55 then
    local op = STORES[r <= 20 and 1 or r <= 30 and 2 or r <= 40 and 3 or r <= 45 and 4 or 5]
    local v, e, flags = some_value(), some_exp(), math.random() < 0.6 and 0 or math.random(1, 65535)
    line(("B %s %s %s %s %d"):format(op, k, v, e, flags))
    line("E " .. store_result(d[op](d, k, C.value(v), EXP[e], flags)))
  elseif r <= 63 then
    line("B delete " .. k)
    line("E " .. tostring(d:delete(k) and 1 or 0))
  elseif r <= 65 then
    line("B setnil " .. k)
    line("E " .. store_result(d:set(k, nil)))
  elseif r <= 80 then
    local n = math.random(1, 100)
    if math.random() < 0.5 then
      line(("B incr %s %d %d"):format(k, n, INIT))
      line("E " .. err_result(d:incr(k, n, INIT)))
    else
      line(("B incr %s %d"):format(k, n))
      line("E " .. err_result(d:incr(k, n)))
    end
  elseif r <= 88 then
    local e = some_exp()
    line(("B expire %s %s"):format(k, e))
    local ok, err = d:expire(k, EXP[e])
    line("E " .. (ok and "1" or "nil " .. tostring(err):gsub(" ", "_")))
  elseif r <= 90 then
    line("B flush_expired -")
    line("E " .. tostring(d:flush_expired()))
  else
    line("B get " .. k)
    local v, flags = d:get(k)
    line("E " .. C.code(v) .. " " .. tostring(flags or 0))
  end
end
