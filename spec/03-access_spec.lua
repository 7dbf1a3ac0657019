local H = require("spec.helpers")
local smo = H.smo

-- Each C type with the string.pack format of the same representation.
local CTYPES = {
  int8_t = "i1", uint8_t = "I1", int16_t = "i2", uint16_t = "I2", int32_t = "i4", uint32_t = "I4",
  int64_t = "i8", uint64_t = "I8", char = "i1", ["signed char"] = "i1", ["unsigned char"] = "I1",
  short = "h", ["unsigned short"] = "H", int = "i", ["unsigned int"] = "I", long = "l",
  ["unsigned long"] = "L", ["long long"] = "j", ["unsigned long long"] = "J", size_t = "T",
  ssize_t = "j", intptr_t = "j", uintptr_t = "J", float = "f", double = "d",
}

local RANGES = {
  int8_t = { -128, 127 }, uint8_t = { 0, 255 }, int16_t = { -32768, 32767 }, uint16_t = { 0, 65535 },
  int32_t = { -2147483648, 2147483647 }, uint32_t = { 0, 4294967295 },
}

describe("data access", function()
  local seg
  before_each(function() seg = assert(smo.open{ key = H.key(), size = 4096, create = true }) end)
  after_each(function() seg:close() H.cleanup() end)
  teardown(H.cleanup_all)

  it("set/get of every C type uses C's representation", function()
    for ctype, fmt in pairs(CTYPES) do
      local v = fmt:match("[fd]") and 1.5 or 100
      seg:fill(0, 16, 0xAA)
      seg:set(ctype, 3, v)
      assert.are.equal(H.pack(fmt, v), seg:read(3, H.packsize(fmt)), ctype)
      assert.are.equal(v, seg:get(ctype, 3), ctype)
      assert.are.equal(0xAA, seg:get("uint8_t", 3 + H.packsize(fmt)), ctype .. " wrote too far")
    end
  end)

  it("integer types take their full range and refuse one past it", function()
    for ctype, r in pairs(RANGES) do
      seg:set(ctype, 8, r[1])
      assert.are.equal(r[1], seg:get(ctype, 8))
      seg:set(ctype, 8, r[2])
      assert.are.equal(r[2], seg:get(ctype, 8))
      assert.has_error(function() seg:set(ctype, 8, r[1] - 1) end)
      assert.has_error(function() seg:set(ctype, 8, r[2] + 1) end)
    end
    assert.has_error(function() seg:set("int8_t", 0, 128) end,
      "bad argument #3 to 'set' (value 128 out of range for int8_t)")
  end)

  it("64-bit unsigned values read as the same bits, and any get can be set back", function()
    local why = H.needs("integers") if why then pending(why) return end
    seg:write(0, string.rep("\255", 8))
    assert.are.equal(-1, seg:get("uint64_t", 0))
    assert.are.equal(-1, seg:get("size_t", 0))
    seg:set("uint64_t", 0, math.mininteger)
    assert.are.equal(string.pack("j", math.mininteger), seg:read(0, 8))
    seg:set("int64_t", 0, math.maxinteger)
    assert.are.equal(math.maxinteger, seg:get("int64_t", 0))
  end)

  it("floats: exact integers and floats as numbers; inf and nan pass; overflow raises", function()
    seg:set("int32_t", 0, 3.0)
    assert.are.equal(3, seg:get("int32_t", 0))
    assert.is_true(H.is_integer(seg:get("int32_t", 0)))
    seg:set("double", 0, 1 / 0)
    assert.are.equal(1 / 0, seg:get("double", 0))
    seg:set("float", 0, 0 / 0)
    local nan = seg:get("float", 0)
    assert.is_true(nan ~= nan)
    seg:set("float", 0, 0.1)
    assert.are.equal(H.float32(0.1), seg:get("float", 0))
    assert.has_error(function() seg:set("float", 0, 1e39) end,
      "bad argument #3 to 'set' (value out of range for float)")
    assert.has_error(function() seg:set("int32_t", 0, 1.5) end,
      "bad argument #3 to 'set' (number has no integer representation)")
  end)

  it("bool reads and writes booleans", function()
    seg:set("bool", 5, true)
    assert.are.equal(1, seg:get("uint8_t", 5))
    assert.is_true(seg:get("bool", 5))
    seg:set("bool", 5, false)
    assert.is_false(seg:get("bool", 5))
  end)

  it("read, write and fill work on byte ranges up to the very end", function()
    seg:write(4090, "abcdef")
    assert.are.equal("abcdef", seg:read(4090))
    assert.are.equal("abc", seg:read(4090, 3))
    assert.are.equal("", seg:read(4096))
    assert.are.equal("", seg:read(100, 0))
    seg:fill(4090, 6, string.byte("z"))
    assert.are.equal("zzzzzz", seg:read(4090))
    seg:fill(4094, 2)
    assert.are.equal("zzzz\0\0", seg:read(4090))
    assert.are.equal(4096, #seg:read(0))
    seg:write(0, "")
    seg:set("uint8_t", 4095, 7)
    assert.are.equal(7, seg:get("uint8_t", 4095))
  end)

  it("pack and unpack use string.pack formats in place", function()
    local why = H.needs("string.pack") if why then pending(why) return end
    local nxt = seg:pack(10, "<i4dz", -3, 2.5, "hi")
    assert.are.equal(10 + 4 + 8 + 3, nxt)
    local a, b, c, after = seg:unpack(10, "<i4dz")
    assert.are.same({ -3, 2.5, "hi", nxt }, { a, b, c, after })
    assert.are.equal(string.pack("<i4dz", -3, 2.5, "hi"), seg:read(10, nxt - 10))
    assert.has_error(function() seg:pack(4094, "i4", 1) end)
    assert.has_error(function() seg:unpack(4094, "i4") end)
  end)

  it("a second handle sees the same bytes", function()
    local other = assert(smo.open{ key = seg:key() })
    seg:set("double", 16, 6.25)
    assert.are.equal(6.25, other:get("double", 16))
    other:write(100, "shared")
    assert.are.equal("shared", seg:read(100, 6))
    other:close()
  end)
end)
