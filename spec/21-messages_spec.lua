-- Error messages name the right function and argument, and point at the
-- caller's line: the methods written in Lua (pack, unpack, with_lock,
-- publish) raise what the C methods raise, never Lua's own internal errors;
-- and every integer argument of the access methods takes an integral float.
local H = require("spec.helpers")
local smo = H.smo

local raised = H.raised
local SRC = debug.getinfo(1, "S").short_src

-- Without string.pack (5.1, 5.2, LuaJIT) seg:pack and seg:unpack only say
-- so: their tests are pending there, with the reason.
local NOPACK = H.needs("string.pack")
local function it_pack(name, fn)
  if NOPACK and name:find("pack", 1, true) then pending(name .. " (" .. NOPACK .. ")") else it(name, fn) end
end

-- The full message of the error fn raises (position included).
local function full_error(fn)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error, got success")
  return tostring(err)
end

describe("messages of the methods written in Lua", function()
  local K, seg, ro, closed, unattached, priv, M, dir
  setup(function()
    K = H.key()
    dir = H.tmpdir()
    seg = assert(smo.open{ key = K, size = 4096, create = true })
    ro = assert(smo.open{ key = K, readonly = true })
    closed = assert(smo.open{ key = K })
    closed:close()
    unattached = smo.new(dir, 77, 64)
    priv = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
    M = getmetatable(seg).__index
  end)
  teardown(function()
    seg:close() ro:close() priv:close()
    H.cleanup_all()
  end)

  local noop = function() end
  -- name -> a call of the method on self s, as a field call (self is #1)
  local FIELD_CALLS = {
    pack = function(s) return M.pack(s, 0, "i4", 1) end,
    unpack = function(s) return M.unpack(s, 0, "i4") end,
    with_lock = function(s) return M.with_lock(s, noop) end,
    publish = function(s) return M.publish(s, 0, noop) end,
  }

  describe("on a value that is not a handle", function()
    for name, call in pairs(FIELD_CALLS) do
      for _, bad in ipairs({ 42, "x", {}, false, io.stdout }) do
        local tname = io.type(bad) and H.FILE_T or type(bad)
        it_pack(name .. " on a " .. tname .. " says it is not a smobject, as read does", function()
          local expected = ("bad argument #1 to '%s' (smobject expected, got %s)"):format(name, tname)
          assert.are.equal(expected, raised(function() return call(bad) end))
          -- the C method says the same
          assert.are.equal(expected:gsub("'" .. name .. "'", "'read'", 1),
            raised(function() return M.read(bad, 0) end))
        end)
      end
      it_pack(name .. " on nil says so", function()
        assert.are.equal(("bad argument #1 to '%s' (smobject expected, got nil)"):format(name),
          raised(function() return call(nil) end))
      end)
    end

    it_pack("seg.with_lock({}, f) names with_lock and the table", function()
      assert.are.equal("bad argument #1 to 'with_lock' (smobject expected, got table)",
        raised(function() return seg.with_lock({}, noop) end))
    end)

    it_pack("getmetatable(seg).__index.pack(42, 0, 'i4') names pack and the number", function()
      assert.are.equal("bad argument #1 to 'pack' (smobject expected, got number)",
        raised(function() return getmetatable(seg).__index.pack(42, 0, "i4") end))
    end)

    it_pack("a method call on a bad self says 'calling ... on bad self', as the C methods do", function()
      local fake = setmetatable({}, { __index = M })
      assert.are.equal("calling 'read' on bad self (smobject expected, got table)",
        raised(function() local _ = fake:read(0) end))
      if not NOPACK then
        assert.are.equal("calling 'pack' on bad self (smobject expected, got table)",
          raised(function() local _ = fake:pack(0, "i4", 1) end))
        assert.are.equal("calling 'unpack' on bad self (smobject expected, got table)",
          raised(function() local _ = fake:unpack(0, "i4") end))
      end
      assert.are.equal("calling 'with_lock' on bad self (smobject expected, got table)",
        raised(function() local _ = fake:with_lock(noop) end))
      assert.are.equal("calling 'publish' on bad self (smobject expected, got table)",
        raised(function() local _ = fake:publish(0, noop) end))
    end)

    it_pack("a tail call (return seg:unpack(...)) is numbered as the usual forms are", function()
      -- (a Lua function cannot see how it was tail-called: a bad self is taken
      -- as a field call, any other argument as a method call)
      assert.are.equal("bad argument #1 to 'pack' (smobject expected, got number)",
        raised(function() return M.pack(42, 0, "i4") end))
      assert.are.equal("bad argument #1 to 'unpack' (offset 5000 out of range (4-byte access in a 4096-byte segment))",
        raised(function() return seg:unpack(5000, "i4") end))
      assert.are.equal("bad argument #1 to 'with_lock' (function expected, got nil)",
        raised(function() return seg:with_lock() end))
    end)
  end)

  describe("on a closed handle", function()
    for name, call in pairs(FIELD_CALLS) do
      it_pack(name .. " says the smobject is closed", function()
        assert.are.equal("attempt to use a closed smobject", raised(function() return call(closed) end))
      end)
      it_pack(name .. " before create/access says so, as the C methods do", function()
        assert.are.equal("attempt to use a closed smobject (not attached yet: call create() or access())",
          raised(function() return call(unattached) end))
      end)
    end
  end)

  describe("checks every argument", function()
    local CASES = {
      { "with_lock without a function", function() return seg:with_lock() end,
        "bad argument #1 to 'with_lock' (function expected, got nil)" },
      { "with_lock with a string", function() return seg:with_lock("f") end,
        "bad argument #1 to 'with_lock' (function expected, got string)" },
      { "with_lock as a field call", function() local _ = seg.with_lock(seg, 5) end,
        "bad argument #2 to 'with_lock' (function expected, got number)" },
      { "with_lock on a segment without a lock", function() return priv:with_lock(noop) end,
        "this smobject has no bookkeeping for a lock (PRIVATE, a foreign key, or one this process may only read)" },
      { "publish without a function", function() return seg:publish(0) end,
        "bad argument #2 to 'publish' (function expected, got nil)" },
      { "publish with a table as function", function() return seg:publish(0, {}) end,
        "bad argument #2 to 'publish' (function expected, got table)" },
      { "publish at a string offset", function() return seg:publish("0", noop) end,
        "bad argument #1 to 'publish' (integer offset expected, got string)" },
      { "publish at a fractional offset", function() return seg:publish(0.5, noop) end,
        "bad argument #1 to 'publish' (number has no integer representation)" },
      { "publish past the end", function() return seg:publish(4094, noop) end,
        "bad argument #1 to 'publish' (offset 4094 out of range (4-byte access in a 4096-byte segment))" },
      { "publish at a negative offset", function() return seg:publish(-4, noop) end,
        "bad argument #1 to 'publish' (offset -4 out of range (4-byte access in a 4096-byte segment))" },
      { "publish misaligned", function() return seg:publish(2, noop) end,
        "bad argument #1 to 'publish' (sequence counter offset 2 is misaligned for a uint32_t)" },
      { "publish as a field call", function() local _ = seg.publish(seg, 0, 0) end,
        "bad argument #3 to 'publish' (function expected, got number)" },
      { "publish through a read-only handle", function() return ro:publish(0, noop) end,
        "attempt to write to a read-only smobject" },
      { "pack at a string offset", function() return seg:pack("0", "i4", 1) end,
        "bad argument #1 to 'pack' (integer offset expected, got string)" },
      { "pack at a fractional offset", function() return seg:pack(1.5, "i4", 1) end,
        "bad argument #1 to 'pack' (number has no integer representation)" },
      { "pack past the end", function() return seg:pack(5000, "i4", 1) end,
        "bad argument #1 to 'pack' (offset 5000 out of range (4-byte access in a 4096-byte segment))" },
      { "pack over the end", function() return seg:pack(4094, "i4", 1) end,
        "bad argument #1 to 'pack' (offset 4094 out of range (4-byte access in a 4096-byte segment))" },
      { "pack at a negative offset", function() return seg:pack(-1, "i4", 1) end,
        "bad argument #1 to 'pack' (offset -1 out of range (4-byte access in a 4096-byte segment))" },
      { "pack without a format", function() return seg:pack(0) end,
        "bad argument #2 to 'pack' (string.pack format expected, got nil)" },
      { "pack a bad format", function() return seg:pack(0, "i99", 1) end,
        "bad argument #2 to 'pack' (integral size (99) out of limits [1,16])" },
      { "pack an unknown format option", function() return seg:pack(0, "y", 1) end,
        "bad argument #2 to 'pack' (invalid format option 'y')" },
      { "pack a second value of the wrong type", function() return seg:pack(0, "i4i4", 1, {}) end,
        "bad argument #4 to 'pack' (number expected, got table)" },
      { "pack a value as a field call", function() local _ = seg.pack(seg, 0, "i4", "x") end,
        "bad argument #4 to 'pack' (number expected, got string)" },
      { "pack through a read-only handle", function() return ro:pack(0, "i4", 1) end,
        "attempt to write to a read-only smobject" },
      { "unpack past the end", function() return seg:unpack(5000, "i4") end,
        "bad argument #1 to 'unpack' (offset 5000 out of range (4-byte access in a 4096-byte segment))" },
      { "unpack a string past the end", function() return seg:unpack(4097, "z") end,
        "bad argument #1 to 'unpack' (offset 4097 out of range (0-byte access in a 4096-byte segment))" },
      { "unpack at a negative offset", function() return seg:unpack(-1, "i4") end,
        "bad argument #1 to 'unpack' (offset -1 out of range (4-byte access in a 4096-byte segment))" },
      { "unpack at a string offset", function() return seg:unpack("0", "i4") end,
        "bad argument #1 to 'unpack' (integer offset expected, got string)" },
      { "unpack without an offset", function() return seg:unpack() end,
        "bad argument #1 to 'unpack' (integer offset expected, got nil)" },
      { "unpack at a fractional offset", function() return seg:unpack(0.5, "i4") end,
        "bad argument #1 to 'unpack' (number has no integer representation)" },
      { "unpack at 2^63", function() return seg:unpack(2^63, "i4") end,
        "bad argument #1 to 'unpack' (number has no integer representation)" },
      { "unpack without a format", function() return seg:unpack(0) end,
        "bad argument #2 to 'unpack' (string.pack format expected, got nil)" },
      { "unpack a bad format", function() return seg:unpack(0, "i99") end,
        "bad argument #2 to 'unpack' (integral size (99) out of limits [1,16])" },
      { "unpack a format that reads past the end", function() return seg:unpack(4093, "i4") end,
        "bad argument #2 to 'unpack' (format reads past the end of the segment)" },
      { "unpack as a field call", function() local _ = seg.unpack(seg, 5000, "i4") end,
        "bad argument #2 to 'unpack' (offset 5000 out of range (4-byte access in a 4096-byte segment))" },
    }
    for _, case in ipairs(CASES) do
      it_pack(case[1] .. " raises: " .. case[3], function()
        assert.are.equal(case[3], raised(case[2]))
      end)
    end

    it_pack("a failed publish leaves the counter alone", function()
      seg:set("uint32_t", 0, 6)
      pcall(seg.publish, seg, 0, 5)
      pcall(ro.publish, ro, 0, noop)
      assert.are.equal(6, seg:get("uint32_t", 0))
      seg:set("uint32_t", 0, 0)
    end)

    it_pack("a failed pack writes nothing", function()
      seg:fill(0, 16, 0xAA)
      pcall(seg.pack, seg, 0, "i4i4", 1, {})
      pcall(seg.pack, seg, 4094, "i4", 1)
      pcall(ro.pack, ro, 0, "i4", 1)
      assert.are.equal(("\xAA"):rep(16), seg:read(0, 16))
    end)

    it_pack("fn may still yield inside with_lock and publish (the methods stay yieldable)", function()
      local why = H.needs("yield across pcall") if why then pending(why) return end
      local co = coroutine.wrap(function()
        local a = seg:with_lock(function() return coroutine.yield("locked") end)
        local b = seg:publish(0, function() return coroutine.yield("odd") end)
        return a, b
      end)
      assert.are.equal("locked", co())
      assert.is_true(seg:holds_lock())
      assert.are.equal("odd", co(1))
      assert.is_true(seg:holds_lock())          -- publish holds the lock while fn writes
      assert.are.equal(1, seg:get("uint32_t", 0) % 2)
      local a, b = co(2)
      assert.is_false(seg:holds_lock())
      assert.are.same({ 1, 2 }, { a, b })
      assert.are.equal(0, seg:get("uint32_t", 0) % 2)
      seg:set("uint32_t", 0, 0)
    end)

    it_pack("integral floats are offsets, as for the C methods (pack, unpack)", function()
      assert.are.equal(8, seg:pack(4.0, "i4", 7))
      local v, nxt = seg:unpack(4.0, "i4")
      assert.are.equal(7, v)
      assert.are.equal(8, nxt)
      assert.is_true(H.is_integer(nxt))
      assert.are.equal(12, select(2, seg:unpack(8.0, "i4")))
    end)
  end)

  describe("positions", function()
    -- Each case makes its failing call on the line where it is defined: the
    -- message must start with this file's name and that line, not the library's.
    local CASES = {
      { "pack on a number", function() M.pack(42, 0, "i4") end },
      { "pack on a closed handle", function() closed:pack(0, "i4", 1) end },
      { "pack out of range", function() seg:pack(5000, "i4", 1) end },
      { "pack a bad value", function() seg:pack(0, "i4", "x") end },
      { "pack a bad format", function() seg:pack(0, "i99", 1) end },
      { "pack a bad offset type", function() seg:pack("0", "i4", 1) end },
      { "pack read-only", function() ro:pack(0, "i4", 1) end },
      { "unpack on a table", function() M.unpack({}, 0, "i4") end },
      { "unpack out of range", function() seg:unpack(5000, "i4") end },
      { "unpack past the end", function() seg:unpack(4093, "i4") end },
      { "unpack without a format", function() seg:unpack(0) end },
      { "with_lock on a table", function() seg.with_lock({}, noop) end },
      { "with_lock without a function", function() seg:with_lock() end },
      { "with_lock on a closed handle", function() closed:with_lock(noop) end },
      { "with_lock without a lock", function() priv:with_lock(noop) end },
      { "publish on nil", function() M.publish(nil, 0, noop) end },
      { "publish misaligned", function() seg:publish(2, noop) end },
      { "publish without a function", function() seg:publish(0) end },
      { "publish read-only", function() ro:publish(0, noop) end },
      { "a C method (read), for comparison", function() seg:read(5000) end },
    }
    for _, case in ipairs(CASES) do
      it_pack(case[1] .. " points at the caller's line", function()
        local expected = ("%s:%d: "):format(SRC, debug.getinfo(case[2], "S").linedefined)
        local msg = full_error(case[2])
        assert.are.equal(expected, msg:sub(1, #expected), msg)
      end)
    end

    it_pack("errors of fn keep fn's own position (with_lock, publish)", function()
      local boom = function() error("boom") end
      local at = debug.getinfo(boom, "S").linedefined
      assert.are.equal(("%s:%d: boom"):format(SRC, at), full_error(function() seg:with_lock(boom) end))
      assert.are.equal(("%s:%d: boom"):format(SRC, at), full_error(function() seg:publish(0, boom) end))
      assert.are.equal(0, seg:get("uint32_t", 0) % 2)
      local t = {}
      local ok, err = pcall(seg.with_lock, seg, function() error(t) end)
      assert.is_false(ok)
      assert.are.equal(t, err)
      assert.is_false(seg:holds_lock())
    end)
  end)
end)

describe("integer arguments of the access methods", function()
  local seg
  before_each(function() seg = assert(smo.open{ key = H.key(), size = 4096, create = true }) end)
  after_each(function() seg:close() H.cleanup() end)
  teardown(H.cleanup_all)

  it("take floats with an exact integer value", function()
    seg:write(0, "abcdefgh")
    assert.are.equal("abcd", seg:read(0.0, 4.0))
    assert.are.equal("cdefgh", seg:read(2.0, 6.0))
    assert.are.equal("gh", seg:read(6.0):sub(1, 2))
    assert.are.equal(4096 - 6, #seg:read(6.0))
    seg:set("int32_t", 8.0, 3.0)
    assert.are.equal(3, seg:get("int32_t", 8.0))
    assert.is_true(H.is_integer(seg:get("int32_t", 8)))
    seg:set("uint64_t", 16.0, 2^40)
    assert.are.equal(0x10000000000, seg:get("uint64_t", 16))
    seg:set("int8_t", -0.0 + 24, -5.0)
    assert.are.equal(-5, seg:get("int8_t", 24))
    seg:write(32.0, "xy")
    assert.are.equal("xy", seg:read(32, 2))
    seg:fill(40.0, 4.0, 65.0)
    assert.are.equal("AAAA", seg:read(40, 4))
    seg:fill(-0.0, 2.0)
    assert.are.equal("\0\0", seg:read(0, 2))
    assert.are.equal("", seg:read(4096.0))
  end)

  it("keep their range checks for floats", function()
    assert.are.equal("bad argument #1 to 'read' (offset 5000 out of range (0-byte access in a 4096-byte segment))",
      raised(function() return seg:read(5000.0) end))
    assert.are.equal("bad argument #2 to 'get' (offset 4094 out of range (4-byte access in a 4096-byte segment))",
      raised(function() return seg:get("int32_t", 4094.0) end))
    assert.are.equal("bad argument #2 to 'read' (length must not be negative)",
      raised(function() return seg:read(0, -1.0) end))
    assert.are.equal("bad argument #3 to 'fill' (byte must be 0..255)",
      raised(function() return seg:fill(0, 1, 256.0) end))
    assert.are.equal("bad argument #3 to 'set' (value 128 out of range for int8_t)",
      raised(function() return seg:set("int8_t", 0, 128.0) end))
  end)

  local NOINT = {
    { "read offset", function(s, x) return s:read(x) end, "#1 to 'read'" },
    { "read length", function(s, x) return s:read(0, x) end, "#2 to 'read'" },
    { "write offset", function(s, x) return s:write(x, "a") end, "#1 to 'write'" },
    { "fill offset", function(s, x) return s:fill(x, 1) end, "#1 to 'fill'" },
    { "fill length", function(s, x) return s:fill(0, x) end, "#2 to 'fill'" },
    { "fill byte", function(s, x) return s:fill(0, 1, x) end, "#3 to 'fill'" },
    { "get offset", function(s, x) return s:get("int32_t", x) end, "#2 to 'get'" },
    { "set offset", function(s, x) return s:set("int32_t", x, 1) end, "#2 to 'set'" },
    { "set value", function(s, x) return s:set("int32_t", 0, x) end, "#3 to 'set'" },
    { "set uint64_t value", function(s, x) return s:set("uint64_t", 0, x) end, "#3 to 'set'" },
  }
  for _, c in ipairs(NOINT) do
    it(c[1] .. " refuses 1.5, 2^63, inf and NaN: number has no integer representation", function()
      for _, x in ipairs({ 1.5, -0.5, 2^63, -2^64, math.huge, -math.huge, 0 / 0 }) do
        assert.are.equal(("bad argument %s (number has no integer representation)"):format(c[3]),
          raised(function() return c[2](seg, x) end), tostring(x))
      end
    end)
  end

  local STRINGS = {
    { "read offset", function(s) return s:read("0") end, "bad argument #1 to 'read' (integer offset expected, got string)" },
    { "read length", function(s) return s:read(0, "4") end,
      "bad argument #2 to 'read' (integer length expected, got string)" },
    { "write offset", function(s) return s:write("0", "a") end,
      "bad argument #1 to 'write' (integer offset expected, got string)" },
    { "fill length", function(s) return s:fill(0, "1") end,
      "bad argument #2 to 'fill' (integer length expected, got string)" },
    { "fill byte", function(s) return s:fill(0, 1, "65") end,
      "bad argument #3 to 'fill' (integer byte expected, got string)" },
    { "get offset", function(s) return s:get("int32_t", "0") end,
      "bad argument #2 to 'get' (integer offset expected, got string)" },
    { "set value", function(s) return s:set("int32_t", 0, "5") end,
      "bad argument #3 to 'set' (number expected, got string)" },
    { "fill length as a table", function(s) return s:fill(0, {}) end,
      "bad argument #2 to 'fill' (integer length expected, got table)" },
  }
  for _, c in ipairs(STRINGS) do
    it(c[1] .. " still refuses strings", function()
      assert.are.equal(c[3], raised(function() return c[2](seg) end))
    end)
  end
end)
