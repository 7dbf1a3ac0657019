-- Every example runs with one command and leaves nothing behind.
local H = require("spec.helpers")
local smo = H.smo

local EX = H.ROOT .. "/examples"

local function run_example(script)
  local out, ok = H.sh("SMO_LUA=" .. H.shell_quote(H.LUA) .. " " .. H.child_env() .. H.LUA .. " " .. EX .. "/" .. script)
  return out, ok
end

describe("the examples", function()
  before_each(function()
    -- keys the examples use, removed by cleanup even if an example fails
    H.track(smo.key(EX .. "/f1.txt", 65))
    H.track(smo.key(EX .. "/device.h", "D"))
    H.track(smo.key(EX .. "/plant.h", "M"))
    H.track(smo.key(EX .. "/pose.h", "P"))
  end)
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("writer/reader: a C writer and a Lua reader, and the reverse", function()
    local out, ok = run_example("writer_reader.lua")
    assert.is_true(ok, out)
    assert.matches('C writer: wrote "hello from C"\nLua reader: data read from memory: "hello from C"\n', out)
    assert.matches('Lua writer: wrote "hello from Lua"\nC reader: data read from memory: "hello from Lua"\n', out)
    assert.matches("nothing left", out)
    assert.is_nil(H.shm_by_key(smo.key(EX .. "/f1.txt", 65)))
  end)

  it("device/client: the client gets ten consistent readings and stops the device", function()
    local out, ok = run_example("device_client.lua")
    assert.is_true(ok, out)
    local n = 0
    for value, unit in out:gmatch("client: reading%s+%d+ %(#%d+%): ([%d%.%-]+) (%S+)") do
      n = n + 1
      assert.are.equal("degC", unit)
      assert.is_true(tonumber(value) >= 15 and tonumber(value) <= 25)
    end
    assert.are.equal(10, n)
    assert.matches("device: stopped after %d+ readings", out)
    assert.matches("done: nothing left behind", out)
    assert.is_nil(H.shm_by_key(smo.key(EX .. "/device.h", "D")))
  end)

  it("process manager: a killed module is restarted and the counter recovers (make demo)", function()
    local out, ok = run_example("manager.lua")
    assert.is_true(ok, out)
    assert.matches("manager: 4 users %(the manager and 3 modules%)", out)
    assert.matches("manager: the kernel gave its share back: memory counter 3", out)
    assert.matches("stopped beating [%d%.]+s ago: restarting it", out)
    assert.matches("is back, memory counter 4", out)
    assert.matches("restarts 1", out)
    assert.matches("demo finished: nothing left behind", out)
    assert.is_nil(H.shm_by_key(smo.key(EX .. "/plant.h", "M")))
    assert.is_nil(H.sem_by_key(smo.key(EX .. "/plant.h", "M")))
  end)

  it("struct views: Lua and a C reader share pose.h", function()
    local out, ok = run_example("struct_views.lua")
    assert.is_true(ok, out)
    assert.matches("C sees: seq 2, map at %(12.50, %-3.25%) heading 90.0, fix 51.5074/%-0.1278, cov%[1%]%[1%] 0.25", out)
    assert.is_nil(H.shm_by_key(smo.key(EX .. "/pose.h", "P")))
  end)
end)
