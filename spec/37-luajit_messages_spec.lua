-- Messages that LuaJIT's debug information made wrong, and what the fuzz
-- found once it ran there (its calls all raised before 5.2: table.pack).
local H = require("spec.helpers")
local smo = H.smo

local SRC = debug.getinfo(1, "S").short_src

local function full_error(fn)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error, got success")
  return tostring(err)
end

describe("messages on every runtime", function()
  local seg
  before_each(function() seg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true }) end)
  after_each(function() seg:close() H.cleanup_all() end)

  it("publish on an odd counter points at the caller's line, not the library's", function()
    seg:set("uint32_t", 0, 1)          -- a write under way (no lock on a PRIVATE segment to repair it)
    local line = debug.getinfo(1, "l").currentline + 1
    local err = full_error(function() seg:publish(0, function() end) end)
    assert.are.equal(("%s:%d: publish: the sequence counter is odd (a write is under way or its writer died; "
      .. "seg:publish takes the lock and repairs a dead writer's counter)"):format(SRC, line), err)
    assert.are.equal(1, seg:get("uint32_t", 0))   -- left as it was
  end)

  it("a tail-called C function's argument error names it (LuaJIT shows no frame for the tail call)", function()
    local _, err = pcall(function() return smo.key() end)
    assert.matches("bad argument #1 to 'key' %(string expected, got no value%)$", err)
    _, err = pcall(function() return seg:read(-1, 1) end)
    assert.matches("bad argument #1 to 'read' %(offset %-1 out of range", err)
  end)
end)
