-- The platform is stated (issue 11, point 9): Linux only, in the README, the
-- rockspec and as one clear sentence when a build is tried elsewhere.
local H = require("spec.helpers")

local function slurp(path)
  local f = assert(io.open(H.ROOT .. "/" .. path))
  local s = f:read("*a")
  f:close()
  return s
end

local SENTENCE = "smobject runs on Linux only (it needs futex(2), SHM_STAT_ANY and MADV_WIPEONFORK)"

describe("the platform", function()
  it("the rockspec supports linux only", function()
    local env = {}
    assert(H.load(slurp("rockspec/smobject-scm-1.rockspec"), "rockspec", env))()
    assert.are.same({ "linux" }, env.supported_platforms)
  end)

  it("the README says Linux only near its top, and why", function()
    local readme = slurp("README.md")
    local at = readme:find("Linux only", 1, true)
    assert.is_truthy(at and at < 2500, "no 'Linux only' in the README's opening")
    assert.is_truthy(readme:find("futex", 1, true))
  end)

  it("every C file, compiled for a system that is not Linux, stops with the one sentence first", function()
    local why = H.missing("cc")
    if why then return pending(why) end
    local files = H.sh("cd " .. H.ROOT .. " && ls csrc/*.c")
    local n = 0
    for file in files:gmatch("%S+") do
      -- -U__linux__: what a compiler for another system defines (or not)
      local out, ok = H.sh("cd " .. H.ROOT .. " && cc -std=c99 -fsyntax-only -U__linux__ -I" .. H.lua_inc()
        .. " " .. file)
      assert.is_falsy(ok, file .. " compiled without __linux__")
      local first = out:match("error: [^\n]*")
      assert.are.equal("error: #error \"" .. SENTENCE .. "; this system is not Linux\"", first, file)
      n = n + 1
    end
    assert.is_true(n >= 9)
  end)

  it("make elsewhere stops with the same sentence before building anything", function()
    local out, ok = H.sh("cd " .. H.ROOT .. " && make -n UNAME_S=FreeBSD")
    assert.is_falsy(ok)
    assert.matches(SENTENCE .. "; this system is FreeBSD.  Stop.", out, 1, true)
  end)
end)
