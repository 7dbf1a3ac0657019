-- Every ```lua block of the README runs, each in its own process of the
-- runtime under test (H.LUA); a block with 5.4 syntax (<close>, <const>) is
-- pending elsewhere, and so is one with seg:ffi_view where there is no FFI.
local H = require("spec.helpers")

describe("the README", function()
  teardown(H.cleanup_all)

  local f = assert(io.open(H.ROOT .. "/README.md"))
  local text = f:read("*a")
  f:close()
  local blocks = {}
  for block in text:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = block end

  it("has Lua examples", function() assert.is_true(#blocks >= 4) end)

  for i, block in ipairs(blocks) do
    it("example " .. i .. " runs: " .. block:match("[^\n]*\n([^\n]*)"), function()
      local attrib = block:match("<close>") or block:match("<const>")
      if attrib and not H.LUA54 then pending("needs Lua 5.4: the example uses " .. attrib) return end
      if block:find("ffi_view", 1, true) and not rawget(_G, "jit") then
        pending("needs LuaJIT's FFI (the example uses seg:ffi_view)")
        return
      end
      local why = block:find(":u?n?pack%(") and H.needs("string.pack")
      if why then pending(why .. " (the example uses seg:pack or seg:unpack)") return end
      local out, ok = H.run(block)
      assert.is_true(ok, out)
    end)
  end
end)
