local H = require("spec.helpers")
local smo = H.smo

local raised = H.raised

describe("declarations", function()
  it("accept comments, several declarators, every spelling, arrays and nesting", function()
    local T = smo.struct[[
      /* a pose */ struct pose {
        double x, y, z;          // three at once
        unsigned u; signed s; long int li; unsigned long long int ull; _Bool flag;
        const volatile int cv;
        float m[3][4];
        struct { float lat, lon; } gps;   /* a named nested member */
        union { int32_t i; float f; };    /* anonymous: its members are ours */
        char name[16];
      }
    ]]
    assert.are.equal("struct pose", T.name)
    assert.are.equal(0, T:offsetof("x"))
    assert.are.equal(16, T:offsetof("z"))
    assert.are.equal(T:offsetof("i"), T:offsetof("f"))
    assert.are.equal(T:offsetof("m") + (1 * 4 + 2) * 4, T:offsetof("m[1][2]"))
    assert.are.equal(T:offsetof("gps") + 4, T:offsetof("gps.lon"))
    assert.are.equal("char[16]", T:typeof("name").name)
    assert.are.equal("float[3][4]", T:typeof("m").name)
  end)

  it("take a member list, and the same layout as a Lua list", function()
    local A = smo.struct("double x; int32_t seq; char name[16]; float m[2][3];")
    local B = smo.struct{ { "x", "double" }, { "seq", "int32_t" }, { "name", "char[16]" }, { "m", "float[2][3]" } }
    assert.are.equal(A.size, B.size)
    assert.are.equal(A.align, B.align)
    for _, p in ipairs({ "x", "seq", "name", "m", "m[1][2]" }) do assert.are.equal(A:offsetof(p), B:offsetof(p)) end
    local C = smo.struct{ { "p", B }, { "n", "uint8_t" } }
    assert.are.equal(B.size, C:offsetof("n"))
    assert.are.equal(B:offsetof("m[1][2]"), C:offsetof("p.m[1][2]"))
  end)

  it("cdef declares several types by name for later use", function()
    local t = smo.cdef[[
      struct gps { double lat, lon; };
      typedef struct { struct gps fix; uint8_t sats; } reading;
      union word { uint32_t u; uint8_t b[4]; };
    ]]
    assert.are.equal(16, t.gps.size)
    assert.are.equal(24, t.reading.size)
    assert.are.equal(4, t.word.size)
    local later = smo.struct("struct gps a; reading r; union word w;")
    assert.are.equal(16, later:offsetof("r"))
    assert.are.equal(40, later:offsetof("w"))
  end)

  it("refuse what has no meaning across processes or is unsupported, naming token and position", function()
    local cases = {
      { "int *p;", "smo.struct: pointer '*' is not supported (an address means nothing in another process) at line 1, column 5" },
      { "int x : 3;", "smo.struct: bitfield 'x' is not supported at line 1, column 7" },
      { "int n; int data[];", "smo.struct: flexible array member 'data[]' is not supported at line 1, column 17" },
      { "int (*fn)(int);", "smo.struct: '(' in a declarator is not supported (function pointers mean nothing in another process) at line 1, column 5" },
      { "long double ld;", "smo.struct: 'long double' is not supported at line 1, column 1" },
      { "mytype_t v;", "smo.struct: unknown type name 'mytype_t' at line 1, column 1" },
      { "int x", "smo.struct: expected ';', got 'end of declaration' at line 1, column 6" },
      { "int 5x;", "smo.struct: expected a member name, got '5' at line 1, column 5" },
      { "enum color c;", "smo.struct: unknown type 'enum color' at line 1, column 1" },   -- enums are laid out once declared (spec/28)
      { "struct nope n;", "smo.struct: unknown type 'struct nope' at line 1, column 1" },
      { "struct e {};", "smo.struct: empty struct is not supported at line 1, column 1" },
      { "int a; double a;", "smo.struct: duplicate member 'a' at line 1, column 15" },
      { "int a[0];", "smo.struct: array 'a' needs a positive size, got 0 at line 1, column 7" },
      { "int a __attribute__((mode(DI)));", "smo.struct: attribute 'mode' is not supported at line 1, column 22" },
      { "#pragma pack(1)\nint a;", "smo.struct: '#pragma pack' is not supported (use __attribute__((packed))) at line 1, column 1" },
      { "char c;\n  void *p;", "smo.struct: pointer '*' is not supported (an address means nothing in another process) at line 2, column 8" },
      { "_Alignas(1) int x;", "smo.struct: _Alignas(1) cannot reduce the alignment of 'x' (4) at line 1, column 17" },
      { "int x __attribute__((aligned(3)));", "smo.struct: alignment 3 is not a power of 2 at line 1, column 30" },
      { "void v;", "smo.struct: 'void' is not supported at line 1, column 1" },
      { "unsigned float f;", "smo.struct: 'unsigned float' is not supported at line 1, column 1" },
      { "static int s;", "smo.struct: storage class 'static' has no place in a struct at line 1, column 1" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], raised(function() smo.struct(c[1]) end), c[1])
    end
    assert.are.equal("smo.struct: member 'p': pointer '*' is not supported (an address means nothing in another process) at line 1, column 6",
      raised(function() smo.struct{ { "p", "char *" } } end))
    assert.are.equal("smo.struct: declaration string or list expected, got number", raised(function() smo.struct(5) end))
  end)
end)

describe("views", function()
  local seg, T
  setup(function()
    T = smo.struct[[
      struct sample {
        double x;
        int32_t seq;
        uint8_t small;
        bool ok;
        char name[8];
        struct { double lat, lon; } gps;
        int16_t m[2][3];
        uint32_t counter;
      }
    ]]
  end)
  before_each(function() seg = assert(smo.open{ key = H.key(), size = 4096, create = true }) end)
  after_each(function() seg:close() H.cleanup() end)
  teardown(H.cleanup_all)

  it("read and write fields at the layout's offsets", function()
    local v = seg:view(T, 64)
    v.x = 2.5
    v.seq = -9
    v.ok = true
    v.gps.lat = 1.25
    v.m[1][2] = -300
    assert.are.equal(2.5, seg:get("double", 64 + T:offsetof("x")))
    assert.are.equal(-9, seg:get("int32_t", 64 + T:offsetof("seq")))
    assert.is_true(seg:get("bool", 64 + T:offsetof("ok")))
    assert.are.equal(1.25, seg:get("double", 64 + T:offsetof("gps.lat")))
    assert.are.equal(-300, seg:get("int16_t", 64 + T:offsetof("m[1][2]")))
    seg:set("uint32_t", 64 + T:offsetof("counter"), 77)
    assert.are.equal(77, v.counter)
    assert.are.equal(-300, v.m[1][2])
    assert.are.equal(2, #v.m)
    assert.are.equal(3, #v.m[0])
    assert.are.equal(64 + T:offsetof("gps.lon"), v:offsetof("gps.lon"))
  end)

  it("cache sub-views instead of making one per access", function()
    local v = seg:view(T)
    assert.are.equal(v.gps, v.gps)
    assert.are.equal(v.m[1], v.m[1])
  end)

  it("treat char[N] as strings: NUL-padded, N bytes or more raises (set_bytes writes N)", function()
    local v = seg:view(T)
    seg:fill(T:offsetof("name"), 8, 0xFF)
    v.name = "bot"
    assert.are.equal("bot", v.name)
    assert.are.equal("bot\0\0\0\0\0", seg:read(T:offsetof("name"), 8))
    v:set_bytes("name", "12345678")  -- exactly N, no NUL, as C allows, when asked for
    assert.are.equal("12345678", v.name)
    assert.are.equal("field 'name': string of 9 bytes is too long for char[8] (7 bytes and the NUL at most)",
      raised(function() v.name = "123456789" end))
    assert.are.equal("12345678", v.name)
    assert.are.equal("a string is needed for char[8], got number", raised(function() v.name = 5 end))
  end)

  it("raise on unknown fields, bad indices and values that do not fit", function()
    local v = seg:view(T)
    local fields = " in struct sample (fields: x, seq, small, ok, name, gps, m, counter)"
    assert.are.equal("unknown field 'nope'" .. fields, raised(function() return v.nope end))
    assert.are.equal("unknown field 'nope'" .. fields, raised(function() v.nope = 1 end))
    assert.are.equal("index 2 out of range (array of 2 elements, indices 0..1)", raised(function() return v.m[2] end))
    assert.are.equal("index -1 out of range (array of 3 elements, indices 0..2)", raised(function() v.m[0][-1] = 1 end))
    assert.are.equal("field 'small': value 256 out of range for uint8_t", raised(function() v.small = 256 end))
    assert.are.equal("field 'seq': number has no integer representation", raised(function() v.seq = 1.5 end))
    assert.are.equal("field 'ok': boolean expected, got number", raised(function() v.ok = 1 end))
    assert.are.equal("array element: number expected, got string", raised(function() v.m[0][1] = "1" end))
    assert.are.equal("struct fields are named by strings, not by number", raised(function() return v[1] end))
    assert.are.equal("array views are indexed by integers 0..1, not by x", raised(function() return v.m.x end))
  end)

  it("get() copies deeply to plain tables; set() writes partially and checks first", function()
    local v = seg:view(T)
    v:set{ x = 1.5, seq = 3, name = "n", gps = { lat = 2, lon = 3 }, m = { { 1, 2, 3 }, { 4, 5, 6 } } }
    local c = v:get()
    assert.are.same({ x = 1.5, seq = 3, small = 0, ok = false, name = "n", gps = { lat = 2, lon = 3 },
                      m = { { 1, 2, 3 }, { 4, 5, 6 } }, counter = 0 }, c)
    c.x = 100                              -- a copy: the segment is not touched
    assert.are.equal(1.5, v.x)
    v:set{ gps = { lon = 9 } }             -- partial
    assert.are.same({ lat = 2, lon = 9 }, v.gps:get())
    assert.are.equal("unknown field 'bogus' in struct sample (fields: x, seq, small, ok, name, gps, m, counter)",
      raised(function() v:set{ x = 7, bogus = 1 } end))
    assert.are.equal(1.5, v.x)             -- nothing written when anything is wrong
    assert.are.equal("field 'small': value 300 out of range for uint8_t",
      raised(function() v:set{ x = 8, small = 300 } end))
    assert.are.equal(1.5, v.x)
    v.gps = { lat = -1 }                   -- a table into a nested struct
    assert.are.equal(-1, v.gps.lat)
    v.m[0]:set({ 7, 8 }, { partial = true })   -- an array's table is whole unless partial
    assert.are.same({ 7, 8, 3 }, v.m[0]:get())
    assert.are.equal("array element: a table of 4 values for int16_t[3] (3 elements, keys 1..3): give all 3, "
      .. "or pass { partial = true } to set", raised(function() v.m[0] = { 1, 2, 3, 4 } end))
  end)

  it("pairs() walks fields in declaration order; tostring shows them", function()
    local v = seg:view(T)
    v.x, v.name = 1, "p"
    local names = {}
    for k in H.pairs(v) do names[#names + 1] = k end   -- (v:pairs() where pairs ignores __pairs)
    assert.are.same({ "x", "seq", "small", "ok", "name", "gps", "m", "counter" }, names)
    local idx = {}
    for i, row in H.pairs(v.m) do idx[#idx + 1] = i .. ":" .. #row end
    assert.are.same({ "0:3", "1:3" }, idx)
    assert.are.equal('struct sample @0 { x = 1.0, seq = 0, small = 0, ok = false, name = "p", gps = { lat = 0.0, lon = 0.0 }, m = { { 0, 0, 0 }, { 0, 0, 0 } }, counter = 0 }',
      tostring(v))
  end)

  it("must fit inside the segment, and raise once the segment is closed", function()
    assert.are.equal(("bad argument #2 to 'view' (a %d-byte struct sample at offset 4090 does not fit in a 4096-byte segment)"):format(T.size),
      raised(function() seg:view(T, 4090) end))
    assert.are.equal(("bad argument #2 to 'view' (a %d-byte struct sample at offset -1 does not fit in a 4096-byte segment)"):format(T.size),
      raised(function() seg:view(T, -1) end))
    assert.are.equal("bad argument #1 to 'view' (struct or array layout expected, got string)",
      raised(function() seg:view("struct sample") end))
    local other = assert(smo.open{ key = seg:key() })
    local v = other:view(T)
    local g = v.gps
    other:close()
    assert.are.equal("attempt to use a closed smobject", raised(function() return v.x end))
    assert.are.equal("attempt to use a closed smobject", raised(function() return g.lat end))
    assert.are.equal("attempt to use a closed smobject", raised(function() v.x = 1 end))
    assert.are.equal("attempt to use a closed smobject", raised(function() return v:get() end))
  end)

  it("of a read-only handle refuse every write", function()
    local ro = assert(smo.open{ key = seg:key(), readonly = true })
    local v = ro:view(T)
    assert.are.equal("attempt to write to a read-only smobject", raised(function() v.x = 1 end))
    assert.are.equal("attempt to write to a read-only smobject", raised(function() v.name = "x" end))
    assert.are.equal("attempt to write to a read-only smobject", raised(function() v:set{ x = 1 } end))
    assert.are.equal(0, v.x)
    ro:close()
  end)

  it("arrays of structs work as arrays of views", function()
    local A = smo.array(T, 10)
    assert.are.equal(10 * T.size, A.size)
    local a = seg:view(A, 128)
    assert.are.equal(10, #a)
    a[9].name = "last"
    a[9].gps.lon = 4
    assert.are.equal("last", seg:view(T, 128 + 9 * T.size).name)
    assert.are.equal(4, a[9].gps.lon)
    local B = smo.struct("struct sample items[3]; int n;")
    local b = seg:view(B)
    b.items[2].seq = 5
    assert.are.equal(5, b.items[2].seq)
    assert.are.equal(3, #b.items)
  end)

  it("offer the segment's atomics on fields, and snapshots with a sequence field", function()
    local v = seg:view(T)
    assert.are.equal(0, v:atomic_add("seq", 5))
    assert.are.equal(5, v:atomic_load("seq"))
    v:atomic_store("counter", 2)
    assert.are.same({ true }, { v:atomic_cas("seq", 5, 6) })
    assert.are.equal("atomic_add: field 'name' is a char[8], not an integer", raised(function() v:atomic_add("name", 1) end))
    assert.are.equal("atomic_add: no member 'nope' in struct sample (fields: x, seq, small, ok, name, gps, m, counter)",
      raised(function() v:atomic_add("nope", 1) end))
    v:publish("counter", function(p, val) p.x = val p.gps.lat = val end, 42)
    assert.are.equal(4, v.counter)
    local snap = v:snapshot("counter")
    assert.are.equal(42, snap.x)
    assert.are.equal(42, snap.gps.lat)
    assert.are.equal("snapshot: field 'seq' must be a uint32_t, not int32_t", raised(function() v:snapshot("seq") end))
  end)
end)
