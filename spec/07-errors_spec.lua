-- Bad input of every kind: each case asserts the exact outcome (the error
-- message raised, or the nil, msg, errno returned), and none may crash.
local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

local raised = H.raised

describe("bad input", function()
  local K, seg, closed, ro, dir, priv
  setup(function()
    K = H.key()
    dir = H.tmpdir()
    seg = assert(smo.open{ key = K, size = 4096, create = true })
    ro = assert(smo.open{ key = K, readonly = true })
    closed = assert(smo.open{ key = K })
    closed:close()
    priv = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
  end)
  teardown(function()
    seg:close() ro:close() priv:close()
    H.cleanup_all()
  end)

  local CASES = {
    -- smo.open: arguments and options
    { "open with no argument", function() return smo.open() end,
      "bad argument #1 to 'open' (table expected, got no value)" },
    { "open with a string", function() return smo.open("x") end,
      "bad argument #1 to 'open' (table expected, got string)" },
    { "open with neither key nor path", function() return smo.open{} end, "option 'key' or 'path' is required" },
    { "open with an unknown option", function() return smo.open{ key = K, sise = 4 } end, "unknown option 'sise'" },
    { "open with a positional value", function() return smo.open{ 5, key = K } end, "unknown option (a number key)" },
    { "open with a string key", function() return smo.open{ key = "12" } end, "option 'key' must be an integer" },
    { "open with a fractional key", function() return smo.open{ key = 1.5 } end,
      "option 'key': number has no integer representation" },
    { "open with a key beyond key_t", function() return smo.open{ key = 0x10000000000 } end,
      "option 'key' out of range for key_t" },
    { "open with key and path", function() return smo.open{ key = K, path = "/tmp" } end,
      "give either option 'key' or 'path', not both" },
    { "open with a numeric path", function() return smo.open{ path = 5 } end, "option 'path' must be a string" },
    { "open with proj 0", function() return smo.open{ path = "/tmp", proj = 0 } end,
      "option 'proj' must be one character or an integer 1..255" },
    { "open with proj 256", function() return smo.open{ path = "/tmp", proj = 256 } end,
      "option 'proj' must be one character or an integer 1..255" },
    { "open with a two-character proj", function() return smo.open{ path = "/tmp", proj = "AB" } end,
      "option 'proj' must be one character or an integer 1..255" },
    { "open with proj beside key", function() return smo.open{ key = K, proj = 1 } end,
      "option 'proj' goes with 'path', not 'key'" },
    { "open with a negative size", function() return smo.open{ key = K, size = -1, create = true } end,
      "option 'size' must be positive" },
    { "open with size 0", function() return smo.open{ key = K, size = 0, create = true } end,
      "option 'size' must be positive" },
    { "open with a string size", function() return smo.open{ key = K, size = "10", create = true } end,
      "option 'size' must be an integer" },
    { "open to create without size", function() return smo.open{ key = K, create = true } end,
      "option 'size' is required to create a segment" },
    { "open with create = 'yes'", function() return smo.open{ key = K, size = 8, create = "yes" } end,
      "option 'create' must be true, false or \"exclusive\"" },
    { "open with a negative mode", function() return smo.open{ key = K, size = 8, create = true, mode = -1 } end,
      "option 'mode' must be permission bits 0..0777 (0..511)" },
    { "open with mode bits beyond 0777", function() return smo.open{ key = K, size = 8, create = true, mode = 512 } end,
      "option 'mode' must be permission bits 0..0777 (0..511)" },
    { "open with a string mode", function() return smo.open{ key = K, size = 8, create = true, mode = "600" } end,
      "option 'mode' must be an integer (e.g. tonumber('640', 8))" },
    { "open with readonly = 1", function() return smo.open{ key = K, readonly = 1 } end,
      "option 'readonly' must be a boolean, got number" },
    { "open with persist = 'yes'", function() return smo.open{ key = K, persist = "yes" } end,
      "option 'persist' must be a boolean, got string" },
    { "open with any_owner = 0", function() return smo.open{ key = K, any_owner = 0 } end,
      "option 'any_owner' must be a boolean, got number" },
    { "open PRIVATE without create", function() return smo.open{ key = smo.PRIVATE, size = 8 } end,
      "a PRIVATE segment can only be created (set create), or attached by id with smo.attach" },
    -- smo.key
    { "key with no argument", function() return smo.key() end,
      "bad argument #1 to 'key' (string expected, got no value)" },
    { "key with a number path", function() return smo.key(5, 1) end,
      "bad argument #1 to 'key' (string expected, got number)" },
    { "key with proj 0", function() return smo.key(dir, 0) end, "bad argument #2 to 'key' (proj must be 1..255)" },
    { "key with proj 256", function() return smo.key(dir, 256) end, "bad argument #2 to 'key' (proj must be 1..255)" },
    { "key with an empty proj", function() return smo.key(dir, "") end,
      "bad argument #2 to 'key' (proj must be one character or an integer 1..255)" },
    { "key with a fractional proj", function() return smo.key(dir, 1.5) end,
      "bad argument #2 to 'key' (number has no integer representation)" },
    { "key with a table proj", function() return smo.key(dir, {}) end,
      "bad argument #2 to 'key' (integer 1..255 or one-character string expected, got table)" },
    -- smo.attach, smo.remove, smo.new
    { "attach with a string id", function() return smo.attach("x") end,
      "bad argument #1 to 'attach' (number expected, got string)" },
    { "attach with a negative id", function() return smo.attach(-1) end,
      "bad argument #1 to 'attach' (shmid out of range)" },
    { "attach with an unknown option", function() return smo.attach(seg:shmid(), { rw = true }) end,
      "unknown option 'rw'" },
    { "attach with string options", function() return smo.attach(seg:shmid(), "ro") end,
      "bad argument #2 to 'attach' (table expected, got string)" },
    { "remove with a string key", function() return smo.remove("k") end,
      "bad argument #1 to 'remove' (integer key expected, got string)" },
    { "remove PRIVATE", function() return smo.remove(smo.PRIVATE) end,
      "bad argument #1 to 'remove' (PRIVATE segments are removed by id: smo.attach(id):remove())" },
    { "new with no argument", function() return smo.new() end,
      "bad argument #1 to 'new' (string expected, got no value)" },
    { "new without size", function() return smo.new(dir, 1) end,
      "bad argument #3 to 'new' (size must be an integer)" },
    { "new with size 0", function() return smo.new(dir, 1, 0) end, "bad argument #3 to 'new' (size must be positive)" },
    { "new with proj 0", function() return smo.new(dir, 0, 10) end, "bad argument #2 to 'new' (proj must be 1..255)" },
    -- offsets, lengths and values on an open handle
    { "read at a negative offset", function() return seg:read(-1) end,
      "bad argument #1 to 'read' (offset -1 out of range (0-byte access in a 4096-byte segment))" },
    { "read past the end", function() return seg:read(4097) end,
      "bad argument #1 to 'read' (offset 4097 out of range (0-byte access in a 4096-byte segment))" },
    { "read a length past the end", function() return seg:read(0, 4097) end,
      "bad argument #2 to 'read' (a read of 4097 bytes at offset 0 runs past the end of the 4096-byte segment (room for 4096))" },
    { "read a negative length", function() return seg:read(0, -1) end,
      "bad argument #2 to 'read' (length must not be negative)" },
    { "read at a string offset", function() return seg:read("0") end,
      "bad argument #1 to 'read' (integer offset expected, got string)" },
    { "read at a fractional offset", function() return seg:read(1.5) end,
      "bad argument #1 to 'read' (number has no integer representation)" },
    { "write a number", function() return seg:write(0, 5) end,
      "bad argument #2 to 'write' (string expected, got number)" },
    { "write past the end", function() return seg:write(4095, "ab") end,
      "bad argument #2 to 'write' (a string of 2 bytes at offset 4095 runs past the end of the 4096-byte segment (room for 1))" },
    { "write at maxinteger", function() return seg:write(math.maxinteger, "a") end,
      "bad argument #1 to 'write' (offset 9223372036854775807 out of range (0-byte access in a 4096-byte segment))",
      needs = "integers" },
    { "fill with byte 256", function() return seg:fill(0, 10, 256) end,
      "bad argument #3 to 'fill' (byte must be 0..255)" },
    { "fill past the end", function() return seg:fill(1, 4096) end,
      "bad argument #2 to 'fill' (a fill of 4096 bytes at offset 1 runs past the end of the 4096-byte segment (room for 4095))" },
    { "fill with a string byte", function() return seg:fill(0, 1, "a") end,
      "bad argument #3 to 'fill' (integer byte expected, got string)" },
    { "get a double over the end", function() return seg:get("double", 4089) end,
      "bad argument #2 to 'get' (offset 4089 out of range (8-byte access in a 4096-byte segment))" },
    { "get at mininteger", function() return seg:get("int", math.mininteger) end,
      "bad argument #2 to 'get' (offset -9223372036854775808 out of range (4-byte access in a 4096-byte segment))",
      needs = "integers" },
    { "get an unknown C type", function() return seg:get("float128", 0) end,
      "bad argument #1 to 'get' (unknown C type 'float128')" },
    { "get a pointer type", function() return seg:get("char *", 0) end,
      "bad argument #1 to 'get' (unknown C type 'char *')" },
    { "get with a number as type", function() return seg:get(5, 0) end,
      "bad argument #1 to 'get' (unknown C type '5')" },
    { "get with a table as type", function() return seg:get({}, 0) end,
      "bad argument #1 to 'get' (C type name expected, got table)" },
    { "set a string as a number", function() return seg:set("int32_t", 0, "5") end,
      "bad argument #3 to 'set' (number expected, got string)" },
    { "set a number into bool", function() return seg:set("bool", 0, 1) end,
      "bad argument #3 to 'set' (boolean expected, got number)" },
    { "set -1 into uint8_t", function() return seg:set("uint8_t", 0, -1) end,
      "bad argument #3 to 'set' (value -1 out of range for uint8_t)" },
    { "set 2^32 into uint32_t", function() return seg:set("uint32_t", 0, 0x100000000) end,
      "bad argument #3 to 'set' (value 4294967296 out of range for uint32_t)" },
    { "set without a value", function() return seg:set("int32_t", 0) end,
      "bad argument #3 to 'set' (number expected, got no value)" },
    { "set a huge float", function() return seg:set("float", 0, -1e300) end,
      "bad argument #3 to 'set' (value out of range for float)" },
    { "pack with a non-string format", function() return seg:pack(0, 5, 1) end,
      "bad argument #2 to 'pack' (string.pack format expected, got number)" },
    { "pack a string as an integer", function() return seg:pack(0, "i4", "x") end,
      "bad argument #3 to 'pack' (number expected, got string)" },
    { "pack a bad format", function() return seg:pack(0, "i99", 1) end,
      "bad argument #2 to 'pack' (integral size (99) out of limits [1,16])" },
    { "unpack past the end", function() return seg:unpack(4093, "i4") end,
      "bad argument #2 to 'unpack' (format reads past the end of the segment)" },
    -- the wrong self
    { "a method on nil", function() return seg.read(nil, 0) end,
      "bad argument #1 to 'read' (smobject expected, got nil)" },
    { "a method on a table", function() return seg.read({}, 0) end,
      "bad argument #1 to 'read' (smobject expected, got table)" },
    { "a method on another userdata", function() return seg.read(io.stdout, 0) end,
      "bad argument #1 to 'read' (smobject expected, got " .. H.FILE_T .. ")" },
    { "__gc on another userdata", function() return getmetatable(seg).__gc(io.stdout) end,
      "bad argument #1 to '__gc' (smobject expected, got " .. H.FILE_T .. ")" },
    -- closed, read-only and unattached handles
    { "read a closed handle", function() return closed:read(0) end, "attempt to use a closed smobject" },
    { "users of a closed handle", function() return closed:users() end, "attempt to use a closed smobject" },
    { "set on a closed handle", function() return closed:set("int", 0, 1) end, "attempt to use a closed smobject" },
    { "length of a closed handle", function() return #closed end, "attempt to use a closed smobject" },
    { "remove a closed handle", function() return closed:remove() end, "attempt to use a closed smobject" },
    { "write through a read-only handle", function() return ro:write(0, "x") end,
      "attempt to write to a read-only smobject" },
    { "set through a read-only handle", function() return ro:set("double", 0, 1) end,
      "attempt to write to a read-only smobject" },
    { "read before create/access", function() return smo.new(dir, 1, 64):read(0) end,
      "attempt to use a closed smobject (not attached yet: call create() or access())" },
    { "set_size to a negative size", function() return smo.new(dir, 1, 64):set_size(-5) end,
      "bad argument #1 to 'set_size' (size must be positive)" },
    { "set_key while attached", function() return seg:set_key(dir, 1) end,
      "smobject is already attached (close it first)" },
    { "create on a handle not made by new", function() return closed:create() end,
      "smobject was not made by smo.new (no path and proj to use)" },
    { "decrement a PRIVATE handle", function() return priv:decrement() end,
      "this smobject has no memory counter (PRIVATE or foreign key)" },
  }

  it("has at least 50 cases", function() assert.is_true(#CASES >= 50) end)

  for _, case in ipairs(CASES) do
    -- (seg:pack/unpack without string.pack only say so: their cases are pending there)
    local why = case.needs and H.needs(case.needs) or case[1]:match("^u?n?pack ") and H.needs("string.pack")
    if why then
      pending(case[1] .. " raises: " .. case[3] .. " (" .. why .. ")")
    else
      it(case[1] .. " raises: " .. case[3], function()
        assert.are.equal(case[3], raised(case[2]))
      end)
    end
  end

  -- OS failures: nil, "call: strerror" (and what to do, after a colon), errno
  local RESULTS = {
    { "open a missing key", function() return smo.open{ key = H.key() } end,
      "shmget: No such file or directory", E.ENOENT },
    { "open a missing path", function() return smo.open{ path = "/no/such/path", size = 1, create = true } end,
      "ftok: No such file or directory", E.ENOENT },
    { "key of a missing path", function() return smo.key("/no/such/path", 1) end,
      "ftok: No such file or directory", E.ENOENT },
    { "remove a missing key", function() return smo.remove(H.key()) end,
      "shmget: No such file or directory", E.ENOENT },
    { "attach a missing id", function() return smo.attach(2147483000) end, "shmctl: Invalid argument", E.EINVAL },
    { "access a missing segment", function() return smo.new(dir, 200, 64):access() end,
      "shmget: No such file or directory", E.ENOENT },
    { "create a second exclusive", function() return smo.open{ key = K, size = 8, create = "exclusive" } end,
      "shmget: File exists", E.EEXIST },
    { "ask for more than the segment has", function() return smo.open{ key = K, size = 8192 } end,
      "open: segment has 4096 bytes, fewer than the 8192 asked", E.EINVAL },
  }

  for _, case in ipairs(RESULTS) do
    it(case[1] .. " returns nil, '" .. case[3] .. "...'", function()
      local v, msg, err = case[2]()
      assert.is_nil(v)
      assert.is_truthy(msg == case[3] or msg:sub(1, #case[3] + 2) == case[3] .. ": ", msg)
      assert.are.equal(case[4], err)
    end)
  end

  it("after all that, the segment still counts exactly its handles", function()
    assert.are.equal(2, seg:users())
  end)
end)
