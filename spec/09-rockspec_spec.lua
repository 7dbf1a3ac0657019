local H = require("spec.helpers")

describe("the rockspec", function()
  teardown(H.cleanup_all)

  local ROCKSPEC = "rockspec/smobject-scm-1.rockspec"

  it("lists every C source and Lua module of the tree", function()
    local f = assert(io.open(H.ROOT .. "/" .. ROCKSPEC))
    local text = f:read("a")
    f:close()
    local out = H.sh("cd " .. H.ROOT .. " && ls csrc/*.c && find lua -name '*.lua'")
    for file in out:gmatch("%S+") do
      assert.is_truthy(text:find('"' .. file .. '"', 1, true), file .. " missing from the rockspec")
    end
  end)

  it("installs offline with luarocks make, and a script using only that tree requires it", function()
    local dir = H.tmpdir() .. "/rock"
    local tree = dir .. "/tree"
    local out, ok = H.sh("mkdir -p " .. dir .. " && cd " .. H.ROOT .. " && cp -r csrc lua rockspec bin docs " .. dir
      .. " 2>/dev/null; cd " .. dir .. " && luarocks --lua-version=5.4 make " .. ROCKSPEC .. " --tree " .. tree)
    assert.is_true(ok, out)
    local script = [[
      local smo = require("smobject")
      local seg = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
      seg:set("int32_t", 0, 42)
      io.write(package.searchpath("smobject.core", package.cpath), " ", seg:get("int32_t", 0))
      seg:close()
    ]]
    local res, ok2 = H.sh("cd / && LUA_PATH=" .. H.shell_quote(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua")
      .. " LUA_CPATH=" .. H.shell_quote(tree .. "/lib/lua/5.4/?.so") .. " lua5.4 -e " .. H.shell_quote(script))
    assert.is_true(ok2, res)
    assert.are.equal(tree .. "/lib/lua/5.4/smobject/core.so 42", res)
  end)
end)
