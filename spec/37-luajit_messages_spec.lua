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

  -- The difference (README): LuaJIT keeps no frame for a tail call and names
  -- no function called from C, so there the error of a method whose call it
  -- cannot see counts self as a method call does, and a tail call's error
  -- has no position (5.4 gives the caller's line).
  it("a method whose call is not seen: 5.4's numbering, or on LuaJIT the method call's", function()
    local LJ = rawget(_G, "jit") ~= nil
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() return seg.read(seg, -1, 1) end)
    assert.is_false(ok)
    if LJ then
      assert.are.equal("bad argument #1 to 'read' (offset -1 out of range (0-byte access in a 4096-byte segment))", err)
    else
      assert.are.equal(("%s:%d: bad argument #2 to 'read' (offset -1 out of range (0-byte access in a 4096-byte "
        .. "segment))"):format(SRC, line), err)
    end
    local _, err2 = pcall(seg.publish, seg, 1.5, print)
    assert.are.equal(("bad argument #%d to 'publish' (number has no integer representation)"):format(LJ and 1 or 2),
      err2)
    -- (a call the runtime sees is numbered alike everywhere)
    line = debug.getinfo(1, "l").currentline + 1
    local _, err3 = pcall(function() seg.read(seg, -1, 1) end)
    assert.are.equal(("%s:%d: bad argument #2 to 'read' (offset -1 out of range (0-byte access in a 4096-byte "
      .. "segment))"):format(SRC, line), err3)
  end)
end)
