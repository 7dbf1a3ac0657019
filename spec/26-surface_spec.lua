-- The public surface: require("smobject") exposes exactly the documented API,
-- and what the CLI and examples need is part of it.
local H = require("spec.helpers")
local smo = H.smo

describe("the public surface", function()
  teardown(H.cleanup_all)

  it("is exactly the documented module table (an allowlist)", function()
    local names = {}
    for k in pairs(smo) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same({ "PRIVATE", "_VERSION", "array", "attach", "bookkeeping", "cdef", "cdef_file", "clock", "dict",
                      "dict_min_size", "errno",
                      "geteuid", "getpid", "getuid", "key", "limits", "list", "new", "open", "remove", "scope",
                      "sleep", "struct", "type", "with" }, names)
    assert.matches("^smobject %d+%.%d+%.%d+$", smo._VERSION)
  end)

  it("smo.type tells handles, closed handles and views from anything else, as io.type does", function()
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
    local v = seg:view(smo.struct("int32_t a; char n[4];"))
    assert.are.equal("smobject", smo.type(seg))
    assert.are.equal("view", smo.type(v))
    seg:close()
    assert.are.equal("closed smobject", smo.type(seg))
    assert.are.equal("view", smo.type(v))
    assert.are.equal("closed smobject", smo.type(smo.new(H.tmpdir(), 1, 64)))
    for _, x in ipairs{ 1, "smobject", {}, io.stdout, print, true } do assert.is_nil(smo.type(x)) end
    assert.is_nil(smo.type(nil))
  end)

  it("smo.cdef_file reads a header; a missing file is nil, msg, errno; a bad one names the file", function()
    local T = assert(smo.cdef_file(H.ROOT .. "/examples/pose.h")).pose
    assert.is_true(T.size > 0)
    local none, msg, err = smo.cdef_file(H.tmpdir() .. "/none.h")
    assert.is_nil(none)
    assert.matches("none%.h: No such file or directory", msg)
    assert.are.equal(smo.errno.ENOENT, err)
    local bad = H.tmpdir() .. "/bad.h"
    local f = assert(io.open(bad, "w"))
    f:write("struct s { int *p; };\nstruct t { int x }\n")
    f:close()
    assert.matches("/bad%.h: expected ';', got '}' at line 2, column 18$", H.raised(function() smo.cdef_file(bad) end))
    f = assert(io.open(bad, "w"))
    f:write("struct s { int *p; };\n")
    f:close()
    local ns = smo.cdef_file(bad, smo.scope())   -- an unsupported type raises when used, naming the file
    assert.matches("/bad%.h: 'struct s' is not supported: member 'p': pointer '%*' is not supported .* at line 1, column 16$",
      H.raised(function() return ns.s end))
    assert.matches("bad argument #1 to 'cdef_file' %(string expected, got number%)",
      H.raised(function() smo.cdef_file(42) end))
  end)

  it("View:format shows the values, or a copy, or a copy of one member", function()
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
    finally(function() seg:close() end)
    local v = seg:view(smo.struct("struct p { int32_t a; double x[2]; char n[4]; }"))
    v.a, v.x[1], v.n = 7, 2.5, "bot"
    assert.are.equal('{ a = 7, x = { 0.0, 2.5 }, n = "bot" }', v:format())
    local copy = v:get()
    v.a = 8
    assert.are.equal('{ a = 7, x = { 0.0, 2.5 }, n = "bot" }', v:format(copy))
    assert.are.equal("{ 0.0, 2.5 }", v:format(copy.x, "x"))
    assert.matches("format", H.raised(function() v:format(copy, "nope") end))
    assert.are.equal(tostring(v):match("{.*}"), v:format())
  end)
end)
