local H = require("spec.helpers")

describe("the rockspec", function()
  teardown(H.cleanup_all)

  local ROCKSPEC = "rockspec/smobject-scm-1.rockspec"

  it("lists every C source and Lua module of the tree", function()
    local f = assert(io.open(H.ROOT .. "/" .. ROCKSPEC))
    local text = f:read("*a")
    f:close()
    local out = H.sh("cd " .. H.ROOT .. " && ls csrc/*.c && find lua -name '*.lua'")
    for file in out:gmatch("%S+") do
      assert.is_truthy(text:find('"' .. file .. '"', 1, true), file .. " missing from the rockspec")
    end
  end)

  it("installs offline with luarocks make, and a script using only that tree requires it", function()
    -- (for this runtime: luarocks knows the LuaJITs as 5.1 with their own headers)
    local lv = H.RUNTIME:match("^luajit") and "5.1" or H.RUNTIME
    local incdir = lv ~= H.RUNTIME and (" LUA_INCDIR=" .. H.shell_quote(H.lua_inc())) or ""
    local lua = H.LUA:match("(%S+)$")   -- (without valgrind)
    local f = assert(io.open(H.ROOT .. "/" .. ROCKSPEC))
    local lo, hi = f:read("*a"):match('"lua >= ([%d.]+), < ([%d.]+)"')
    f:close()
    local function num(v) local a, b = v:match("^(%d+)%.(%d+)") return tonumber(a) * 100 + tonumber(b) end
    if not lo or num(lv) < num(lo) or num(lv) >= num(hi) then
      pending("the rockspec's dependencies do not allow Lua " .. lv .. " (" .. tostring(lo) .. " to " .. tostring(hi) .. ")")
      return
    end
    local dir = H.tmpdir() .. "/rock"
    local tree = dir .. "/tree"
    local out, ok = H.sh("mkdir -p " .. dir .. " && cd " .. H.ROOT .. " && cp -r csrc lua rockspec bin docs " .. dir
      .. " 2>/dev/null; cd " .. dir .. " && luarocks --lua-version=" .. lv .. " make " .. ROCKSPEC .. " --tree " .. tree
      .. incdir)
    assert.is_true(ok, out)
    local script = [[
      local smo = require("smobject")
      local seg = assert(smo.open{ key = smo.PRIVATE, size = 64, create = true })
      seg:set("int32_t", 0, 42)
      local where   -- (package.searchpath is 5.2+)
      for t in package.cpath:gmatch("[^;]+") do
        local p = t:gsub("%?", "smobject/core")
        local f = io.open(p)
        if f and not where then where = p end
        if f then f:close() end
      end
      io.write(where, " ", seg:get("int32_t", 0))
      seg:close()
    ]]
    local res, ok2 = H.sh("cd / && LUA_PATH=" .. H.shell_quote(tree .. "/share/lua/" .. lv .. "/?.lua;" .. tree .. "/share/lua/"
      .. lv .. "/?/init.lua") .. " LUA_CPATH=" .. H.shell_quote(tree .. "/lib/lua/" .. lv .. "/?.so") .. " " .. lua .. " -e "
      .. H.shell_quote(script))
    assert.is_true(ok2, res)
    assert.are.equal(tree .. "/lib/lua/" .. lv .. "/smobject/core.so 42", res)
  end)
end)
