-- Hardening of layouts and views (issue 9, points 5 to 8 and the layout and
-- view parts of 14 and 15): no layout, however built, lets a view reach
-- outside its segment; a view dies with its attachment; errors are clear,
-- name the argument as Lua does, and point at the caller's line.
-- What crashed the interpreter runs in a child process, so that the suite
-- survives and the child's end (a Lua error, not a signal) is checked.
local H = require("spec.helpers")
local smo = H.smo
local core = require("smobject.core")

local raised = H.raised
local HERE = debug.getinfo(1, "S").short_src

-- Runs Lua code in a child (exec'd, so that a signal is seen as one);
-- returns its output, "exit" or "signal", and the code.
local function child(code)
  local prelude = "local smo = require('smobject') local core = require('smobject.core') "
  local cmd = H.child_env() .. "exec " .. H.LUA .. " -e " .. H.shell_quote(prelude .. code) .. " 2>&1"
  local out, _, how, rc = H.popen(cmd)
  return out, how, rc
end

-- The child must end by a Lua error whose message contains `want`.
local function dies_with(want, code)
  local out, how, rc = child(code)
  assert(how == "exit" and rc == 1, ("child ended by %s %s, not a Lua error:\n%s"):format(how, rc, out))
  assert(out:find(want, 1, true), ("child's error lacks %q:\n%s"):format(want, out))
  assert(not out:find("REACHED", 1, true), out)
end

-- The child must end normally (every refusal inside it was a Lua error).
local function survives(code)
  local out, how, rc = child(code)
  assert(how == "exit" and rc == 0, ("child ended by %s %s:\n%s"):format(how, rc, out))
  return out
end

-- The smo command in a child; returns output, "exit"/"signal", code.
local function smo_cmd(args)
  local out, _, how, rc = H.popen(H.child_env() .. "exec " .. H.LUA .. " " .. H.ROOT .. "/bin/smo " .. args .. " 2>&1")
  return out, how, rc
end

local function write_file(name, text)
  local path = H.tmpdir() .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- The raw error of fn, location included.
local function raw_error(fn)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error, got success")
  return tostring(err)
end

-- A layout nested n levels deep (list form), innermost { x = int }.
local function nested(n)
  local T = smo.struct{ { "x", "int32_t" } }
  for _ = 2, n do T = smo.struct{ { "a", T }, { "n", "int32_t" } } end
  return T
end

describe("5. array sizes", function()
  local k
  before_each(function() k = H.key() end)
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("that wrap around are refused, naming the declaration (was: a 4-byte layout read outside the segment)", function()
    -- (the sizes here are beyond 2^53: double runtimes refuse the constants themselves)
    local why = H.needs("integers") if why then pending(why) return end
    dies_with("smo.struct: array 'a' is too large (4611686018427387905 elements of 4 bytes, more than 2^53 bytes) at line 1, column 7",
      ([[local seg = assert(smo.open{ key = %d, size = 4096, create = true })
        local T = smo.struct("int a[4611686018427387905];")
        local v = seg:view(T)
        print(v.a[100000000], v:get(), tostring(v))
        print("REACHED")]]):format(k))
    dies_with("bad argument #2 to 'array' (array too large: 4611686018427387905 elements of 4 bytes, more than 2^53 bytes)",
      ([[local seg = assert(smo.open{ key = %d, size = 4096, create = true })
        local v = seg:view(smo.array("int", 4611686018427387905))
        print(v[100000000])
        print("REACHED")]]):format(k))
  end)

  it("are overflow-checked in every spelling and product", function()
    -- (the sizes here are beyond 2^53: double runtimes refuse the constants themselves)
    local why = H.needs("integers") if why then pending(why) return end
    local cases = {
      { "int a[0x4000000000000001];",
        "smo.struct: array 'a' is too large (4611686018427387905 elements of 4 bytes, more than 2^53 bytes) at line 1, column 7" },
      { "int a[0400000000000000000001];",
        "smo.struct: array 'a' is too large (4611686018427387905 elements of 4 bytes, more than 2^53 bytes) at line 1, column 7" },
      { "int a[0x100000000][0x100000000];",
        "smo.struct: array 'a' is too large (4294967296 elements of 17179869184 bytes, more than 2^53 bytes) at line 1, column 7" },
      { "double d[0x20000000000001];",
        "smo.struct: array 'd' is too large (9007199254740993 elements of 8 bytes, more than 2^53 bytes) at line 1, column 10" },
      { "char a[0x10000000000000004];", "smo.struct: integer constant '0x10000000000000004' is too large at line 1, column 8" },
      { "int a[99999999999999999999];", "smo.struct: integer constant '99999999999999999999' is too large at line 1, column 7" },
      { "int a[0777777777777777777777777];", "smo.struct: integer constant '0777777777777777777777777' is too large at line 1, column 7" },
      { "int a[0x4000000000000000 * 4 + 1];", "smo.struct: integer overflow in constant expression at line 1, column 26" },
      { "int a[0x7fffffffffffffff + 1];", "smo.struct: integer overflow in constant expression at line 1, column 26" },
      { "int a[-0x7fffffffffffffff - 2];", "smo.struct: integer overflow in constant expression at line 1, column 27" },
      { "char a[0x10000000000000]; char b[0x10000000000000]; char c[0x10000000000000];",
        "smo.struct: struct is too large (more than 2^53 bytes) at line 1, column 58" },
      { "char c; char d __attribute__((aligned(0x4000000000000000)));",
        "smo.struct: alignment 4611686018427387904 exceeds the maximum 268435456 at line 1, column 39" },
      { "_Alignas(0x20000000) char c;", "smo.struct: alignment 536870912 exceeds the maximum 268435456 at line 1, column 10" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], raised(function() smo.struct(c[1]) end), c[1])
    end
    assert.are.equal("smo.struct: member 'a': array is too large (4611686018427387905 elements of 4 bytes, more than 2^53 bytes) at line 1, column 5",
      raised(function() smo.struct{ { "a", "int[4611686018427387905]" } } end))
    assert.are.equal("smo.cdef: array 'a' is too large (4611686018427387905 elements of 4 bytes, more than 2^53 bytes) at line 1, column 20",
      raised(function() smo.cdef("struct big { int a[4611686018427387905]; };") end))
    local T = smo.struct("int x;")
    assert.are.equal("bad argument #2 to 'array' (array too large: 2251799813685249 elements of 4 bytes, more than 2^53 bytes)",
      raised(function() smo.array(T, 2 ^ 51 + 1) end))
    local A = smo.array("char", 2 ^ 52)
    assert.are.equal("smo.struct: struct is too large (more than 2^53 bytes)",
      raised(function() smo.struct{ { "a", A }, { "b", A }, { "c", "char" } } end))
    -- the largest sizes that fit are still accepted, and C's division truncates
    assert.are.equal(2 ^ 53, smo.struct("char a[0x20000000000000];").size)
    assert.are.equal(3 * 4, smo.struct("int a[-7 / 2 * -1];").size)
    assert.are.equal(2 ^ 28, smo.struct("char c __attribute__((aligned(268435456)));").align)
  end)

  it("in a header make smo watch fail with a message (was: SIGBUS)", function()
    -- (the sizes here are beyond 2^53: double runtimes refuse the constants themselves)
    local why = H.needs("integers") if why then pending(why) return end
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local header = write_file("big.h", "struct big { int n; int a[4611686018427387905]; };\n")
    local out, how, rc = smo_cmd(("watch 0x%x --struct %s --count 1 --interval 0"):format(k, header))
    seg:close()
    assert.are.equal("exit", how, out)
    assert.are.equal(1, rc, out)
    assert.matches("array 'a' is too large", out)
  end)
end)

describe("6. a view", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("made before close raises after a smaller re-create (was: a write at offset 1048000 of 16 bytes)", function()
    H.track(smo.key(dir, 61))
    dies_with("attempt to use a view of an earlier attachment (make a new view)",
      ([[local obj = smo.new(%q, 61, 1048576)
        assert(obj:create())
        local v = obj:view(smo.struct("double x;"), 1048000)
        obj:close()
        obj:set_size(16)
        assert(obj:create())
        v.x = 1
        print("REACHED")]]):format(dir))
  end)

  it("is bound to one attachment: every access raises once it ended, the handle's new views work", function()
    H.track(smo.key(dir, 62))
    local T = smo.struct("uint32_t seq; double x; struct { double lat; } gps; int16_t m[2][3];")
    local obj = smo.new(dir, 62, 4096)
    assert(obj:create())
    local v = obj:view(T)
    local g, row = v.gps, v.m[1]
    v.x = 5
    obj:close()
    assert.are.equal("attempt to use a closed smobject", (raised(function() return v.x end):gsub(" %(.*", "")))
    assert.are.equal("anonymous struct @0 (closed)", tostring(v))
    assert(obj:create())       -- same size, new attachment
    local stale = "attempt to use a view of an earlier attachment (make a new view)"
    local uses = {
      function() return v.x end, function() v.x = 1 end, function() return g.lat end, function() return row[0] end,
      function() row[0] = 1 end, function() return v:get() end, function() v:set{ x = 1 } end, function() return #v end,
      function() return v:atomic_load("seq") end, function() return v:atomic_add("seq", 1) end,
      function() return v:snapshot("seq") end, function() return v:publish("seq", function() end) end,
      function() return v:wake("seq") end, function() return v:offsetof("x") end,
      function() for _ in H.pairs(v) do end end,
    }
    for i, use in ipairs(uses) do assert.are.equal(stale, raised(use), "use " .. i) end
    assert.matches("%(earlier attachment%)$", tostring(v))
    local w = obj:view(T)
    w.gps.lat = 2.5
    assert.are.equal(2.5, w.gps.lat)
    obj:close()
  end)
end)

describe("7. deep layouts", function()
  local k
  before_each(function() k = H.key() end)
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("of 60,000 levels are refused with a clear error (was: C stack overflow in compile)", function()
    dies_with("smo.struct: layout nested deeper than 100 levels",
      ([[local seg = assert(smo.open{ key = %d, size = 4096, create = true })
        local T = smo.struct{ { "x", "int" } }
        for _ = 1, 60000 do T = smo.struct{ { "a", T } } end
        local v = seg:view(T)
        print(v:get(), tostring(v))
        print("REACHED")]]):format(k))
    dies_with("smo.struct: layout nested deeper than 100 levels at line 1, column 901",
      ([[local seg = assert(smo.open{ key = %d, size = 4096, create = true })
        local T = smo.struct(("struct { "):rep(60000) .. "int x; " .. ("} a; "):rep(60000))
        local v = seg:view(T)
        print(v:get(), tostring(v))
        print("REACHED")]]):format(k))
  end)

  it("are bounded in every form: arrays, smo.array, typedefs, constant expressions", function()
    assert.are.equal("smo.struct: layout nested deeper than 100 levels at line 1, column 307",
      raised(function() smo.struct("int a" .. ("[1]"):rep(200) .. ";") end))
    local A = smo.array("int", 1)
    for _ = 2, 100 do A = smo.array(A, 1) end
    assert.are.equal("bad argument #1 to 'array' (layout nested deeper than 100 levels)",
      raised(function() smo.array(A, 1) end))
    assert.are.equal("smo.struct: constant expression nested too deeply at line 1, column 207",
      raised(function() smo.struct("int a[" .. ("("):rep(100000) .. "1" .. (")"):rep(100000) .. "];") end))
    assert.are.equal("smo.struct: constant expression nested too deeply at line 1, column 207",
      raised(function() smo.struct("int a[" .. ("-"):rep(100000) .. "1];") end))
    assert.are.equal("smo.cdef: layout nested deeper than 100 levels at line 1, column 901",
      raised(function() smo.cdef(("struct { "):rep(200) .. "int x; " .. ("} a; "):rep(200)) end))
  end)

  it("at the limit still work: access, get, set, tostring, pairs", function()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local T = nested(100)
    local v = seg:view(T)
    local p = v
    for _ = 2, 100 do p = p.a end
    p.x = 7
    local copy = v:get()
    local c = copy
    for _ = 2, 100 do c = c.a end
    assert.are.equal(7, c.x)
    c.x = 9
    v:set(copy)
    assert.are.equal(9, p.x)
    assert.matches("@0 { a = { a = { a = ", tostring(v))
    local n = 0
    for _ in H.pairs(v) do n = n + 1 end
    assert.are.equal(2, n)
    assert.are.equal("smo.struct: layout nested deeper than 100 levels",
      raised(function() smo.struct{ { "a", T } } end))
    seg:close()
  end)

  it("wide ones too: more sub-structs than a view caches in user values", function()
    local seg = assert(smo.open{ key = k, size = 8192, create = true })
    local parts = {}
    for i = 1, 100 do parts[i] = ("struct { int32_t a; int16_t b[2]; } s%d;"):format(i) end
    local W = smo.struct(table.concat(parts, " "))
    local v = seg:view(W)
    for i = 1, 100 do v["s" .. i].b[1] = i end
    for i = 1, 100 do
      assert.are.equal(i, seg:get("int16_t", W:offsetof(("s%d.b[1]"):format(i))))
      assert.are.equal(v["s" .. i], v["s" .. i])
    end
    assert.are.equal(100, v:get().s100.b[2])
    seg:close()
  end)

  it("in a header make smo watch fail with a message", function()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local header = write_file("deep.h", "struct deep { " .. ("struct { "):rep(60000) .. "int x; " .. ("} a; "):rep(60000) .. "};\n")
    local out, how, rc = smo_cmd(("watch 0x%x --struct %s --count 1 --interval 0"):format(k, header))
    seg:close()
    assert.are.equal("exit", how, out)
    assert.are.equal(1, rc, out)
    assert.matches("layout nested deeper than 100 levels", out)
  end)
end)

describe("8. layouts", function()
  local k
  before_each(function() k = H.key() end)
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("are read-only (was: T.size = 8 let a view read at offset 8088 of 4096 bytes)", function()
    dies_with("a 8096-byte anonymous struct at offset 4088 does not fit in a 4096-byte segment",
      ([[local seg = assert(smo.open{ key = %d, size = 4096, create = true })
        local T = smo.struct("double pad[1011]; double x;")
        pcall(function() T.size = 8 end)
        rawset(T, "size", 8)
        local v = seg:view(T, 4088)
        v.x = 1
        print(v.x, "REACHED")]]):format(k))
    local T = smo.struct("double x; int32_t n[3];")
    assert.are.equal("layouts are read-only (cannot set 'size')", raised(function() T.size = 8 end))
    assert.are.equal("layouts are read-only (cannot set 'elem')", raised(function() T:typeof("n").elem = T end))
    assert.are.equal(24, T.size)
    local members = T:members()
    members[1].offset = 5000
    members[2] = nil
    assert.are.equal(0, T:offsetof("x"))
    assert.are.equal(2, #T:members())
  end)

  it("give no access to their class, so none can be forged (was: a forged array crashed)", function()
    local T = smo.struct("int x;")
    assert.are_not.equal("table", type(getmetatable(T)))
    assert.has_error(function() setmetatable(T, {}) end)
    dies_with("bad argument #1 to 'view' (struct or array layout expected, got table)",
      ([[local seg = assert(smo.open{ key = %d, size = 4096, create = true })
        local T = smo.struct("int x;")
        local forged = { kind = "array", count = 0x10000000000, size = 4, align = 4,
                         elem = smo.struct("int x;"):typeof("x"), name = "int[]" }
        local mt = getmetatable(T)
        if type(mt) == "table" then setmetatable(forged, mt) end
        local v = seg:view(forged)
        print(v[0x8000000000], "REACHED")]]):format(k))
  end)

  it("are validated in C when compiled, whoever made the description", function()
    local out = survives(([[local seg = assert(smo.open{ key = %d, size = 4096, create = true })
      local int = { kind = "scalar", ctype = "int32_t", size = 4 }
      local function field(t) t.name = t.name or "x" return t end
      local bad = {
        { kind = "array", size = 4, count = 0x10000000000, elem = int },
        { kind = "array", size = 0x4000000000000000, count = 0x1000000000000000, elem = int },
        { kind = "struct", size = 8, fields = { field{ kind = "scalar", ctype = "double", size = 8, offset = 8000 } } },
        { kind = "struct", size = 8, fields = { field{ kind = "scalar", ctype = "double", size = 8, offset = -8 } } },
        { kind = "struct", size = 1, fields = { field{ kind = "scalar", ctype = "double", size = 1, offset = 0 } } },
        { kind = "struct", size = 4, fields = { field{ kind = "string", size = 5000, offset = 0 } } },
        { kind = "struct", size = 4, fields = { field{ kind = "struct", size = 4, offset = 0,
            type = { kind = "struct", size = 4096, fields = { field{ kind = "string", size = 4096, offset = 0 } } } } } },
        { kind = "struct", size = 0, fields = { field{ kind = "string", size = 1, offset = 0 } } },
        { kind = "struct", size = -1, fields = {} },
        { kind = "struct", size = 8, fields = { 42 } },
        { kind = "struct", size = 8, fields = { { name = 5, kind = "scalar", ctype = "int32_t", size = 4, offset = 0 } } },
        { kind = "struct", size = 8, fields = "x" },
        { kind = "bogus", size = 8 },
        { size = 8 },
        42,
      }
      for i, d in ipairs(bad) do
        local ok, h = pcall(core.compile_layout, d)
        if ok then
          local ok2, v = pcall(core.new_view, seg, h, 0)
          if ok2 and v then print("UNEXPECTED: description " .. i .. " made a view") end
        else
          print("refused " .. i .. ": " .. tostring(h))
        end
      end
      local d = int
      for _ = 1, 60000 do d = { kind = "array", size = 4, count = 1, elem = { kind = "array", size = 4, type = d } } end
      print("deep: ", select(2, pcall(core.compile_layout, { kind = "struct", size = 4, fields = { field{ kind = "array", size = 4, offset = 0, type = d } } })))
      print("DONE")]]):format(k))
    assert.matches("DONE", out)
    assert.not_matches("UNEXPECTED", out)
    local _, refused = out:gsub("refused %d+: ", "")
    assert.are.equal(15, refused, out)
    assert.matches("deep: \tlayout: nested deeper than 100 levels", out)
  end)

  it("internal entry points check their arguments (was: new_view dereferenced any userdata)", function()
    local out = survives(([[local seg = assert(smo.open{ key = %d, size = 4096, create = true })
      local v = seg:view(smo.struct("int x;"))
      local function try(name, ...)
        local ok, err = pcall(...)
        print(name, ok, err)
      end
      try("new_view stdout", core.new_view, seg, io.stdout, 0)
      try("new_view view", core.new_view, seg, v, 0)
      try("new_view table", core.new_view, seg, {}, 0)
      try("new_view seg", core.new_view, seg, seg, 0)
      try("view_info stdout", core.view_info, io.stdout)
      try("view_info seg", core.view_info, seg)
      try("view_decode stdout", core.view_decode, io.stdout, "")
      try("view_decode seg", core.view_decode, seg, "")
      try("compile_layout stdout", core.compile_layout, io.stdout)
      print("DONE")]]):format(k))
    assert.matches("DONE", out)
    for _, name in ipairs({ "new_view stdout", "new_view view", "new_view table", "new_view seg", "view_info stdout",
                            "view_info seg", "view_decode stdout", "view_decode seg", "compile_layout stdout" }) do
      assert.matches(name:gsub("%p", "%%%0") .. "\tfalse\t[^\n]*expected", out, 1, false, out)
    end
  end)
end)

describe("14. bad input", function()
  local seg, T, v
  before_each(function()
    seg = assert(smo.open{ key = H.key(), size = 4096, create = true })
    T = smo.struct("uint32_t seq; double x; char name[8]; int16_t m[2][3];")
    v = seg:view(T)
  end)
  after_each(function() seg:close() H.cleanup() end)
  teardown(H.cleanup_all)

  it("raises clear errors, never Lua's internal ones", function()
    local cases = {
      { function() smo.struct("int a[99999999999999999999]") end,
        "smo.struct: integer constant '99999999999999999999' is too large at line 1, column 7", needs = "integers" },
      { function() seg.view(42, T) end, "bad argument #1 to 'view' (smobject expected, got number)" },
      { function() seg.view({}, T) end, "bad argument #1 to 'view' (smobject expected, got table)" },
      { function() core.methods.view(42, T) end, "bad argument #1 to 'view' (smobject expected, got number)" },
      { function() seg.view(io.stdout, T) end, "bad argument #1 to 'view' (smobject expected, got " .. H.FILE_T .. ")" },
      { function() v.atomic_add(42, "seq", 1) end, "bad argument #1 to 'atomic_add' (smobject view expected, got number)" },
      { function() v.snapshot({}, "seq") end, "bad argument #1 to 'snapshot' (smobject view expected, got table)" },
      { function() v.offsetof(seg, "x") end, "bad argument #1 to 'offsetof' (smobject view expected, got smobject)" },
      { function() T.offsetof(5, "x") end, "bad argument #1 to 'offsetof' (smobject layout expected, got number)" },
      { function() T.members({}) end, "bad argument #1 to 'members' (smobject layout expected, got table)" },
      { function() T:offsetof("m[99999999999999999999]") end,
        "offsetof: index 99999999999999999999 out of range for 'm' (2 elements)" },
      { function() smo.struct{ { "a", "int" }, name = 5 } end, "smo.struct: list field 'name' must be a string, got number" },
      { function() smo.struct{ { "a", "int" }, aligned = "x" } end,
        "smo.struct: list field 'aligned' must be a power of 2, got string" },
      { function() smo.struct{ { "a", "int" }, aligned = 3 } end, "smo.struct: list field 'aligned' must be a power of 2, got 3" },
      { function() smo.struct{ { "a", "int", aligned = 2 ^ 40 } } end,
        "smo.struct: member 'a': alignment 1099511627776 exceeds the maximum 268435456" },
      { function() smo.array(T, "2") end, "bad argument #2 to 'array' (number expected, got string)" },
      { function() smo.array(T) end, "bad argument #2 to 'array' (number expected, got no value)" },
      { function() smo.array(T, 0) end, "bad argument #2 to 'array' (count must be positive, got 0)" },
    }
    for i, c in ipairs(cases) do
      if c.needs and H.needs(c.needs) then
        assert.has_error(c[1])   -- (its message names the runtime's own limit)
      else
        assert.are.equal(c[2], raised(c[1]), "case " .. i)
      end
    end
  end)

  it("of any shape gives only our own messages, and what it accepts is sane (random declarations)", function()
    local seed = tonumber(os.getenv("SMO_SEED")) or 20261201
    math.randomseed(seed)
    local function pick(t) return t[math.random(#t)] end
    local NUMS = { "1", "3", "0", "-1", "99999999999999999999", "0x4000000000000001", "0x10000000000000004", "(2*3)",
                   "1/0", "7%0", "0777", "09", "4611686018427387905", "2*0x4000000000000000", "(((1)))", "-(-3)",
                   "0x7fffffffffffffff+1", "268435456", "536870912", "0x20000000000000", "-7/2" }
    local TYPES = { "int", "char", "double", "unsigned long", "bool", "int8_t", "struct { int q; }",
                    "union { char c; double d; }", "struct s", "foo_t", "void", "int *", "long double", "enum e" }
    local function member(i)
      local pre = pick({ "", "", "", "const ", "_Alignas(" .. pick(NUMS) .. ") ", "_Alignas(double) " })
      local dims = ""
      for _ = 1, math.random(0, 3) do dims = dims .. "[" .. pick(NUMS) .. "]" end
      local attr = pick({ "", "", "", " __attribute__((aligned(" .. pick(NUMS) .. ")))", " __attribute__((packed))",
                          " __attribute__((aligned))", " __attribute__((mode(DI)))", " : 3" })
      return pre .. pick(TYPES) .. " m" .. i .. dims .. attr .. ";"
    end
    local bad = {}
    local function check(f, src)
      local ok, res = pcall(f, src)
      if not ok then
        if type(res) ~= "string" or not res:match("^smo%.%a+: .* at line %d+, column %d+$") then
          bad[#bad + 1] = ("%q -> %s"):format(src, tostring(res))
        end
        return
      end
      local layouts = f == smo.struct and { res } or res
      for _, L in pairs(layouts) do
        if not H.is_integer(L.size) or L.size < 1 or L.size > 2 ^ 53 or not H.is_integer(L.align)
            or L.align < 1 or L.align > 2 ^ 28 or H.band(L.align, L.align - 1) ~= 0 then
          bad[#bad + 1] = ("%q -> size %s, align %s"):format(src, tostring(L.size), tostring(L.align))
        end
      end
    end
    local words = { "struct", "union", "typedef", "int", "char", "x", "{", "}", "[", "]", "(", ")", ";", ",", "*",
                    "-", "/", "0", "7", "0x10", "99999999999999999999", "__attribute__", "((", "))", "packed",
                    "aligned", "_Alignas", "const", ":", "enum", "/*", "*/", "\n", "int32_t", "void" }
    for _ = 1, 1500 do
      local parts = {}
      for j = 1, math.random(1, 4) do parts[j] = member(j) end
      local body = table.concat(parts, " ")
      check(smo.struct, body)
      check(smo.cdef, "struct s" .. math.random(1e6) .. " { " .. body .. " }" .. pick({ "", " __attribute__((aligned(" .. pick(NUMS) .. ")))" }) .. ";")
      local soup = {}
      for j = 1, math.random(1, 14) do soup[j] = pick(words) end
      check(smo.struct, table.concat(soup, " "))
    end
    assert.are.same({}, bad, "seed " .. seed)
  end)

  it("random calls on views and layouts raise only our own messages, at the caller's line", function()
    local seed = tonumber(os.getenv("SMO_SEED")) or 20261202
    math.randomseed(seed)
    local ro = assert(smo.open{ key = seg:key(), readonly = true })
    local A = smo.array(T, 3)
    local views = { v, seg:view(A, 8), ro:view(T) }
    local pool = { 0, 1, -1, 1.5, 2 ^ 53, 0 / 0, math.huge, "seq", "x", "name", "m", "m[1]", "m[1][2]", "nope", "",
                   "m[9]", "[0]", "x.y", true, {}, function() end, io.stdout, seg, T, A, v, 255, 2 ^ 31, -2 ^ 63, "1" }
    local names = { "get", "set", "atomic_load", "atomic_store", "atomic_add", "atomic_cas", "wait", "wake",
                    "publish", "snapshot", "offsetof", "layout" }
    local OURS = { "^attempt to use a closed smobject", "^attempt to write to a read%-only smobject",
                   "^bad argument #%d+ to '[%w_?]+' %(.+%)$", "^calling '[%w_]+' on bad self", "^[%w_.]+: ",
                   "^unknown field", "^index %-?%d+ out of range", "^array index: ", "^array views are indexed",
                   "^struct fields are named", "^field '", "^array element: ", "^a table is needed",
                   "^a string is needed", "^string of %d+ bytes", "^key %-?%d+ out of range",
                   "^arrays are set from sequences", "^layouts are read%-only" }
    local bad = {}
    local function check(what, ok, err)
      if ok then return end
      err = tostring(err)
      local msg = err:gsub("^[^:]*:%d+: ", "")
      local ours = false
      for _, pat in ipairs(OURS) do ours = ours or msg:match(pat) ~= nil end
      if not ours or err:match("lua/smobject") or err:match("^%[C%]") then bad[#bad + 1] = what .. " -> " .. err end
    end
    local function pick() return pool[math.random(#pool + 1)] end
    for _ = 1, 5000 do
      local w = views[math.random(#views)]
      local r = math.random(4)
      if r == 1 then
        local key, val = pick(), pick()
        check("index", pcall(function() return w[key] end))
        check("newindex", pcall(function() w[key] = val end))
      elseif r == 2 then
        local n = names[math.random(#names)]
        local a, b, c = pick(), pick(), pick()
        if n == "wait" then c = 0 elseif n == "snapshot" then b = 0 end   -- no sleeping
        check(n, pcall(function() return w[n](w, a, b, c) end))
        -- (on a bad self the arguments shift by one: wait's timeout is then the
        -- fourth, and without it wait(v, "seq", 0) would sleep for ever)
        local d = n == "wait" and 0 or nil
        check(n .. " on a bad self", pcall(function() return w[n](a, b, c, d) end))
      elseif r == 3 then
        local a, b = pick(), pick()
        check("view", pcall(function() return seg:view(a, b) end))
        check("array", pcall(function() return smo.array(a, b) end))
        check("offsetof", pcall(function() return T:offsetof(a) end))
        check("members", pcall(function() return T.members(a) end))
        check("struct", pcall(function() return smo.struct{ { "a", a }, aligned = pick(), name = pick() } end))
      else
        check("tostring", pcall(tostring, w))
        check("pairs", pcall(function() for _ in pairs(w) do end end))
      end
    end
    ro:close()
    assert.are.same({}, bad, "seed " .. seed)
  end)

  it("tostring of a closed view says so instead of raising", function()
    local other = assert(smo.open{ key = seg:key() })
    local w = other:view(T)
    other:close()
    assert.are.equal("anonymous struct @0 (closed)", tostring(w))
  end)
end)

describe("15. messages", function()
  local seg, T, v
  before_each(function()
    seg = assert(smo.open{ key = H.key(), size = 4096, create = true })
    T = smo.struct("uint32_t seq; double x; char name[8]; int16_t m[2][3]; uint32_t count;")
    v = seg:view(T)
  end)
  after_each(function() seg:close() H.cleanup() end)
  teardown(H.cleanup_all)

  it("number view method arguments as luaL_argerror does (the self of a method call is not counted)", function()
    local cases = {
      { function() v:set(42) end, "bad argument #1 to 'set' (table expected, got number)" },
      { function() v.set(v, 42) end, "bad argument #2 to 'set' (table expected, got number)" },
      { function() v:atomic_add("seq", "x") end, "bad argument #2 to 'atomic_add' (integer delta expected, got string)" },
      { function() v.atomic_add(v, "seq", "x") end, "bad argument #3 to 'atomic_add' (integer delta expected, got string)" },
      { function() v:atomic_add(5) end, "bad argument #1 to 'atomic_add' (field path expected, got number)" },
      { function() v:atomic_store("seq", "x") end, "bad argument #2 to 'atomic_store' (number expected, got string)" },
      { function() v:atomic_store("seq", -1) end, "bad argument #2 to 'atomic_store' (value -1 out of range for uint32_t)" },
      { function() v:atomic_cas("seq", 0, "x") end, "bad argument #3 to 'atomic_cas' (number expected, got string)" },
      { function() v:snapshot("seq", "x") end, "bad argument #2 to 'snapshot' (number of seconds expected, got string)" },
      { function() v:wait("count", "x") end, "bad argument #2 to 'wait' (integer expected, got string)" },
      { function() v:wake("count", "x") end, "bad argument #2 to 'wake' (number expected, got string)" },
      { function() v:publish("seq", 5) end, "bad argument #2 to 'publish' (function expected, got number)" },
      { function() seg:view("x") end, "bad argument #1 to 'view' (struct or array layout expected, got string)" },
      { function() seg.view(seg, "x") end, "bad argument #2 to 'view' (struct or array layout expected, got string)" },
      { function() seg:view(T, "8") end, "bad argument #2 to 'view' (number expected, got string)" },
      { function() local o = { view = seg.view } o:view(T) end, "calling 'view' on bad self (smobject expected, got table)" },
    }
    for i, c in ipairs(cases) do
      assert.are.equal(c[2], raised(c[1]), "case " .. i)
    end
  end)

  it("carry the caller's line, not a library location", function()
    local cases = {
      function() return debug.getinfo(1, "l").currentline, raw_error(function() smo.struct("int *p;") end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() smo.cdef("junk") end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() smo.struct{ { "a", "nope" } } end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() smo.array(T, 0) end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() seg:view(T, -1) end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() v:wait("nope", 0) end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() v:wait(5, 0) end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() v:wake("x") end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() v:atomic_add("name", 1) end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() v:atomic_add("seq", "x") end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() v:snapshot("x") end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() v:publish("seq", 5) end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() v:offsetof("nope") end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() T:offsetof("nope") end) end,
      function() return debug.getinfo(1, "l").currentline, raw_error(function() T.size = 1 end) end,
    }
    for i, c in ipairs(cases) do
      local line, err = c()
      assert.are.equal(HERE .. ":" .. line .. ":", err:match("^[^:]*:%d+:"), "case " .. i .. ": " .. err)
    end
  end)

  it("integer arguments take floats with an exact integer value, and refuse others", function()
    local w = seg:view(T, 8.0)
    assert.are.equal(8, w:offsetof("seq"))
    assert.are.equal("bad argument #2 to 'view' (number has no integer representation)", raised(function() seg:view(T, 8.5) end))
    v.m[1.0][2.0] = 5
    assert.are.equal(5, v.m[1][2])
    assert.are.equal(5, v.m[1.0][2.0])
    assert.are.equal("array index: number has no integer representation", raised(function() return v.m[0.5] end))
    assert.are.equal("array index: number has no integer representation", raised(function() v.m[1][0.5] = 1 end))
    assert.are.equal("array index: number has no integer representation", raised(function() return v.m[0 / 0] end))
    assert.are.equal("array views are indexed by integers 0..1, not by 1", raised(function() return v.m["1"] end))
    assert.are.equal(3 * T.size, smo.array(T, 3.0).size)
    assert.are.equal("bad argument #2 to 'array' (number has no integer representation)", raised(function() smo.array(T, 2.5) end))
    assert.are.equal(0, v:atomic_add("seq", 2.0))
    assert.are.equal(2, v:atomic_load("seq"))
    assert.are.equal("bad argument #2 to 'atomic_add' (number has no integer representation)",
      raised(function() v:atomic_add("seq", 2.5) end))
    v:atomic_store("seq", 7.0)
    assert.are.same({ true }, { v:atomic_cas("seq", 7.0, 8.0) })
    assert.are.equal(8, v.seq)
  end)
end)
