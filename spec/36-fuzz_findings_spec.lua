-- Defects the fuzz spec found, each kept as a plain case so that it stays
-- fixed whatever seed the fuzzer draws (seeds 12371449 and 12513071).
local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

describe("fuzz findings", function()
  after_each(H.cleanup)

  it("a declaration ending in a bare __attribute is a positioned error, not an internal one", function()
    for _, decl in ipairs{
      "struct p { int x; } __attribute",
      "struct p { int x; } __attribute__((packed)) __attribute",
      "struct p { int x; } __attribute__((",
      "struct p { int x; } __attribute__",
    } do
      local msg = H.raised(function() smo.struct(decl) end)
      assert.matches("^smo%.struct: .* at line 1, column %d+$", msg, nil, false, decl)
      msg = H.raised(function() smo.cdef(decl, smo.scope()) end)
      assert.matches("^smo%.cdef: .* at line 1, column %d+$", msg, nil, false, decl)
    end
  end)

  it("a view of a bare compiled type (internal functions) prints and raises in words (seed 13041202)", function()
    local core = require("smobject.core")
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
    local D = core.compile_layout({ kind = "struct", size = 8, fields = { { name = "x", kind = "scalar",
      ctype = "double", size = 8, offset = 0 } } })
    local v = core.new_view(seg, D, 8)
    assert.are.equal("view @8 (8 bytes, no layout)", tostring(v))
    assert.matches("^attempt to use a view without a layout", H.raised(function() return v:wait("x", 0, 0) end))
    seg:close()
  end)

  it("an error while iterating a view names the loop's line, not view.lua (seed 14481623)", function()
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
    local a = seg:view(smo.array("int64_t", 4))
    local s = seg:view(smo.struct("struct q { int64_t x; int64_t y; }"), 32)
    local here = debug.getinfo(1, "S").short_src
    local function line_of(fn)
      local ok, err = pcall(fn)
      assert.is_false(ok)
      return (tostring(err):match("^([^:]*:%d+):"))
    end
    -- (a handle closed in mid-loop: on every runtime)
    for _, w in ipairs{ a, s } do
      local line = debug.getinfo(1, "l").currentline + 1
      local at = line_of(function() for _ in w:pairs() do seg:close() end end)
      assert.are.equal(here .. ":" .. line, at)
      seg = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
      a, s = seg:view(smo.array("int64_t", 4)), seg:view(smo.struct("struct q { int64_t x; int64_t y; }"), 32)
    end
    -- (an int64_t beyond 2^53: raises where numbers are doubles)
    if not math.type then
      seg:write(8, ("\255"):rep(7) .. "\127")
      seg:write(40, ("\255"):rep(7) .. "\127")
      for _, w in ipairs{ a, s } do
        local line = debug.getinfo(1, "l").currentline + 1
        local at = line_of(function() for _ in w:pairs() do end end)
        assert.are.equal(here .. ":" .. line, at)
      end
    end
    seg:close()
  end)

  for _, mode in ipairs{ "600", "660" } do
    it("lock(2^53) through a second handle of this process is EDEADLK at once, as lock() (mode " .. mode .. ")",
      function()
        -- (in a child under timeout: the defect was a sleep of 2^53 seconds)
        local k = H.key()
        local out, ok = H.sh(H.child_env() .. "timeout 10 " .. H.LUA .. " -e " .. H.shell_quote(([[
          local smo = require("smobject")
          local a = assert(smo.open{ key = %d, size = 64, create = true, mode = tonumber("%s", 8) })
          local b = assert(smo.open{ key = %d })
          assert(a:lock())
          for _, t in ipairs{ 2^53, 2^31 + 1, math.huge } do
            local r, msg, err = b:lock(t)
            io.write(tostring(r), " ", tostring(msg), " ", tostring(err), "\n")
          end
          a:unlock() a:close() b:close()
        ]]):format(k, mode, k)))
        assert.is_true(ok, out)
        local expected = ("nil lock: Resource deadlock avoided %d\n"):format(E.EDEADLK)
        assert.are.equal(expected:rep(3), out)
      end)
  end
end)
