local H = require("spec.helpers")
local smo = H.smo

describe("concurrent open and close #slow", function()
  local pids = {}
  after_each(function()
    H.stop_all(pids)
    H.cleanup()
  end)
  teardown(H.cleanup_all)

  it("8 processes x 400 open/close cycles: no error, no orphan, nothing left", function()
    local k = H.key()
    for i = 1, 8 do pids[i] = H.spawn("cycler.lua", k, 400) end
    for _, pid in ipairs(pids) do assert.is_true(H.wait_exit(pid, 120)) end
    for _, pid in ipairs(pids) do assert.are.equal("done 0\n", H.output(pid)) end
    H.assert_gone(k)
  end)

  it("cycling processes killed mid-use leave a state the next user repairs", function()
    local k = H.key()
    for i = 1, 6 do pids[i] = H.spawn("cycler.lua", k, 100000) end
    -- (they must really be cycling when killed, not still starting)
    assert.is_truthy(H.wait_for(function()
      local bk = smo.bookkeeping(k)
      return bk and bk.count >= 2
    end, 20), "the cyclers never got going")
    H.sleep(0.2)
    local killed = {}
    for i, pid in ipairs(pids) do killed[i] = pid end
    H.stop_all(pids)
    for _, pid in ipairs(killed) do assert.is_false(H.alive(pid)) end
    -- whatever instant they died in, the next user finds a sane count and cleans up
    local a = assert(smo.open{ key = k, size = 4096, create = true })
    assert.are.equal(1, a:users())
    a:close()
    H.assert_gone(k)
  end)

  it("a long-lived user keeps the segment alive through others' cycles", function()
    local k = H.key()
    local a = assert(smo.open{ key = k, size = 4096, create = true })
    local id = a:shmid()
    for i = 1, 4 do pids[i] = H.spawn("cycler.lua", k, 300) end
    for _, pid in ipairs(pids) do assert.is_true(H.wait_exit(pid, 120)) end
    for _, pid in ipairs(pids) do assert.are.equal("done 0\n", H.output(pid)) end
    assert.are.equal(1, a:users())
    assert.are.equal(id, H.shm_by_key(k).shmid)  -- never removed and recreated under us
    assert.are.equal(300, a:get("int32_t", 0))
    a:close()
    assert.is_nil(H.shm_by_key(k))
  end)
end)
