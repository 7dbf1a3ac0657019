-- Layouts with scope: declarations go into a scope (smo.scope(), or the one
-- smo.cdef returns), so that two libraries' `struct header` never meet, the
-- same text means the same layout whatever was loaded before, and a name is
-- never silently redefined.
local H = require("helpers")
local smo = H.smo

local raised = H.raised
-- (smo.scope once lua/smobject.lua exports it; the module's meanwhile)
local new_scope = smo.scope

-- Two libraries that both declare `struct header`, differently; their
-- records embed it.
local LIB_A = [[
  struct header { uint32_t len; };
  struct rec { struct header h; double x; };
]]
local LIB_B = [[
  struct header { uint64_t len; uint64_t stamp; };
  struct rec { struct header h; double x; };
]]
-- The text a user of library A adds later, in A's scope.
local USER = "struct more { struct header h; char tag[8]; };"

describe("scopes", function()
  teardown(H.cleanup_all)

  it("keep two libraries' struct header apart: neither changes the other's layouts", function()
    local a = smo.cdef(LIB_A, new_scope())
    local a_rec = a.rec
    assert.are.equal(4, a.header.size)
    assert.are.equal(16, a_rec.size)
    local b = smo.cdef(LIB_B, new_scope())
    assert.are.equal(16, b.header.size)
    assert.are.equal(24, b.rec.size)
    -- A's names still mean what A declared, in old and new declarations
    assert.are.equal(4, a.header.size)
    assert.are.equal(a_rec, a.rec)
    assert.are.equal(16, a:type("struct rec").size)
    assert.are.equal(8, smo.struct("struct header h; double y;", a):offsetof("y"))
    assert.are.equal(16, smo.struct("struct header h; double y;", b):offsetof("y"))
    assert.are.equal(12, smo.cdef(USER, a).more.size)
    assert.are.equal(24, smo.cdef(USER, b).more.size)
  end)

  it("give the same text the same layout whatever was loaded before", function()
    local function load(order)
      local ns = {}
      for _, lib in ipairs(order) do ns[lib] = smo.cdef(lib == "A" and LIB_A or LIB_B, new_scope()) end
      local more = smo.cdef(USER, ns.A).more
      return { more.size, more:offsetof("tag"), ns.A.rec.size, ns.B.rec.size }
    end
    local ab, ba = load({ "A", "B" }), load({ "B", "A" })
    assert.are.same({ 12, 4, 16, 24 }, ab)
    assert.are.same(ab, ba)
  end)

  it("in the default scope, refuse a second library's different struct instead of changing the first's", function()
    -- names of their own: the default scope lives as long as the process
    local a = smo.cdef((LIB_A:gsub("header", "hdr25"):gsub("rec", "rec25")))
    local rec = a.rec25
    assert.are.equal(16, rec.size)
    local msg = raised(function() smo.cdef((LIB_B:gsub("header", "hdr25"):gsub("rec", "rec25"))) end)
    assert.are.equal("smo.cdef: 'struct hdr25' redefined differently: 16 bytes here, 4 in its first definition "
      .. "(smo.cdef, line 1, column 3) at line 1, column 3", msg)
    assert.are.equal(rec, a.rec25)
    assert.are.equal(4, smo.struct("struct hdr25 h;").size)
    assert.are.equal(rec, smo.struct("struct rec25 r;"):typeof("r"))
  end)

  it("raise on an incompatible redefinition in one scope, naming the name, both sizes and positions", function()
    local ns = smo.cdef("struct header { uint32_t len; };", new_scope())
    assert.are.equal("smo.cdef: 'struct header' redefined differently: 16 bytes here, 4 in its first definition "
      .. "(smo.cdef, line 1, column 1) at line 2, column 1",
      raised(function() smo.cdef("struct other { int x; };\nstruct header { uint64_t len; uint64_t stamp; };", ns) end))
    -- the same size, different members: the difference is named
    assert.are.equal("smo.struct: 'struct header' redefined differently (member 'len': int32_t, not uint32_t): "
      .. "4 bytes here, 4 in its first definition (smo.cdef, line 1, column 1) at line 1, column 3",
      raised(function() smo.struct("  struct header { int32_t len; }", ns) end))
    assert.are.equal("smo.cdef: 'struct header' redefined differently (member 'n' where the other has 'len'): "
      .. "4 bytes here, 4 in its first definition (smo.cdef, line 1, column 1) at line 1, column 1",
      raised(function() smo.cdef("struct header { uint32_t n; };", ns) end))
    -- within one text too, and for typedefs
    assert.are.equal("smo.cdef: 'len_t' redefined differently: 8 bytes here, 4 in its first definition "
      .. "(smo.cdef, line 1, column 18) at line 1, column 42",
      raised(function() smo.cdef("typedef uint32_t len_t; typedef uint64_t len_t;", new_scope()) end))
    -- a failed declaration leaves the scope as it was: all of a text or none
    assert.is_nil(ns.other)
    assert.are.equal(4, ns.header.size)
  end)

  it("accept an identical redefinition (a header included twice) and keep the first layout", function()
    local header = [[
      #ifndef HEADER_H
      #define HEADER_H
      typedef uint32_t len_t;
      struct header { len_t len; uint16_t flags; };
      typedef struct { struct header h; double x; } rec;
      #endif
    ]]
    local ns = smo.cdef(header, new_scope())
    local H1, R1 = ns.header, ns.rec
    assert.are.equal(ns, smo.cdef(header .. header, ns))
    assert.are.equal(H1, ns.header)
    assert.are.equal(R1, ns.rec)
    assert.are.equal(H1, smo.struct("struct header { uint32_t len; uint16_t flags; }", ns))
    local two = smo.cdef("struct header { uint32_t len; uint16_t flags; }; struct two { rec r; };", ns).two
    assert.are.equal(R1, two:typeof("r"))
    assert.are.equal(8, two:offsetof("r.x"))
  end)

  it("chain: cdef's second argument declares into a scope and resolves against it; smo.scope(parent) sees parent", function()
    local base = smo.cdef("struct header { uint32_t len; };", new_scope())
    assert.are.equal(base, smo.cdef("struct rec { struct header h; double x; };", base))
    assert.are.equal(16, base.rec.size)
    assert.are.equal(32, smo.array("struct rec", 2, base).size)
    assert.are.equal(8, smo.struct({ { "h", "struct header" }, { "y", "double" } }, base):offsetof("y"))
    local child = new_scope(base)
    smo.cdef("struct wrap { struct rec r; uint8_t k; };", child)
    assert.are.equal(24, child.wrap.size)
    assert.are.equal(base.header, child.header)
    assert.is_nil(base.wrap)
    assert.are.equal("smo.cdef: unknown type 'struct wrap' at line 1, column 12",
      raised(function() smo.cdef("struct w { struct wrap v; };", base) end))
    -- the child may not give a name its parent has another meaning
    assert.are.equal("smo.cdef: 'struct header' redefined differently: 8 bytes here, 4 in its first definition "
      .. "(smo.cdef, line 1, column 1) at line 1, column 1",
      raised(function() smo.cdef("struct header { uint64_t len; };", child) end))
    -- a fresh scope sees nothing, the default scope included
    smo.cdef("struct only_default25 { int x; };")
    assert.are.equal("smo.struct: unknown type 'struct only_default25' at line 1, column 1",
      raised(function() smo.struct("struct only_default25 d;", new_scope()) end))
  end)

  it("are read-only objects: names by short and C name, pairs in declaration order, clear argument errors", function()
    local ns = smo.cdef([[
      struct pose { double x, y; };
      typedef struct pose pose_t;
      union word { uint32_t u; uint8_t b[4]; };
      typedef struct gps { double lat, lon; } gps;
    ]], new_scope())
    assert.are.equal(ns.pose, ns:type("struct pose"))
    assert.are.equal(ns.pose, ns.pose_t)
    assert.are.equal(ns.word, ns:type("union word"))
    assert.are.equal(64, ns:type("struct pose[4]").size)
    assert.are.equal(4, ns:type("uint32_t").size)
    local names = {}
    for k, T in H.pairs(ns) do names[#names + 1] = k .. "=" .. T.size end   -- (ns:pairs() before 5.2)
    assert.are.same({ "pose=16", "pose_t=16", "word=4", "gps=16" }, names)
    assert.are.equal("smobject scope (5 names)", tostring(ns))
    assert.is_nil(ns.nope)
    assert.are.equal("type: unknown type name 'nope' at line 1, column 1", raised(function() ns:type("nope") end))
    assert.are.equal("bad argument #1 to 'type' (type string expected, got nil)", raised(function() ns:type() end))
    assert.are.equal("scopes are read-only: declare with smo.cdef (cannot set 'pose')",
      raised(function() ns.pose = ns.word end))
    assert.are.equal("smobject scope", getmetatable(ns))
    assert.are.equal("bad argument #2 to 'cdef' (smobject scope expected, got table)",
      raised(function() smo.cdef("struct s { int x; };", {}) end))
    assert.are.equal("bad argument #2 to 'struct' (smobject scope expected, got string)",
      raised(function() smo.struct("int x;", "ns") end))
    assert.are.equal("bad argument #3 to 'array' (smobject scope expected, got number)",
      raised(function() smo.array("int", 2, 5) end))
    assert.are.equal("bad argument #1 to 'scope' (smobject scope expected, got smobject layout)",
      raised(function() new_scope(ns.pose) end))
  end)

  it("agree with gcc for each library's header compiled on its own", function()
    local dir = H.tmpdir()
    for lib, text in pairs({ a = LIB_A, b = LIB_B }) do
      local ns = smo.cdef(text .. USER, new_scope())
      local src = ("#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n%s\n%s\n"):format(text, USER)
        .. 'int main(void) { printf("%zu %zu %zu %zu", sizeof(struct header), sizeof(struct rec), '
        .. "sizeof(struct more), offsetof(struct more, tag)); return 0; }"
      local out = H.sh(H.compile("scope_" .. lib, src, "-std=gnu11"))
      assert.are.equal(("%d %d %d %d"):format(ns.header.size, ns.rec.size, ns.more.size, (ns.more:offsetof("tag"))),
        out, dir .. " " .. lib)
    end
  end)
end)
