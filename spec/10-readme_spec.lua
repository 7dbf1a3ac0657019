-- Every ```lua block of the README runs, each in its own lua5.4 process.
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
      local out, ok = H.run(block)
      assert.is_true(ok, out)
    end)
  end
end)
