-- One role of the remove storm of spec/17-hostile_spec.lua, for SECONDS.
-- Prints "fail OP ERRNO MESSAGE" for every failure, "raised OP MESSAGE" for
-- every error raised, and "done N" with its number of rounds.
-- usage: hostile_storm.lua locker|opener|remover KEY MODE SECONDS
local I = require("intops")   -- (spec/intops.lua: math.tointeger on every runtime)
local smo = require("smobject")

local role, key, mode, seconds = arg[1], I.tointeger(tonumber(arg[2])), tonumber(arg[3], 8), tonumber(arg[4])

local function say(...)
  local t = I.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  io.write(table.concat(t, " "), "\n")
end

-- Runs fn under pcall; returns true with its results packed, or false when it raised.
local function try(op, fn, ...)
  local r = I.pack(pcall(fn, ...))
  if not r[1] then
    say("raised", op, r[2])
    return false
  end
  return true, I.pack(I.unpack(r, 2, r.n))
end

local deadline, n = smo.clock() + seconds, 0
while smo.clock() < deadline do
  n = n + 1
  if role == "locker" then
    local seg, msg, err = smo.open{ key = key, size = 64, create = true, mode = mode }
    if not seg then
      say("fail open", err, msg)
    else
      for _ = 1, 3 do
        local ok, r = try("lock", seg.lock, seg)
        if not ok then break end
        if not r[1] then
          say("fail lock", r[3], r[2])
          break
        end
        if not try("unlock", seg.unlock, seg) then break end
      end
      local ok, r = try("with_lock", seg.with_lock, seg, function() return "ran" end)
      if ok and r[1] ~= "ran" then say("fail with_lock", r[3], r[2]) end
      try("close", seg.close, seg)
    end
  elseif role == "opener" then
    local seg, msg, err = smo.open{ key = key }
    if not seg then say("fail open", err, msg)
    else try("close", seg.close, seg) end
  else
    local seg = smo.open{ key = key, size = 64, create = true, mode = mode }
    if n % 2 == 0 then smo.remove(key)
    elseif seg then seg:remove() end
    if seg then seg:close() end
  end
end
say("done", n)
