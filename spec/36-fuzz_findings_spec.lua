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
