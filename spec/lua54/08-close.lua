-- Lua 5.4 only (<close>), from spec/08-smobject_form_spec.lua through H.lua54:
-- this chunk runs in that spec file's environment, inside its describe.
-- luacheck: std +busted
local H = ...
local smo = H.smo

it("to-be-closed variables close the handle at scope end", function()
  local k = H.key()
  do
    local seg <close> = assert(smo.open{ key = k, size = 64, create = true })
    assert.are.equal(1, seg:users())
  end
  assert.is_nil(H.shm_by_key(k))
  local ok = pcall(function()
    local seg <close> = assert(smo.open{ key = k, size = 64, create = true })
    error("boom " .. seg:users())
  end)
  assert.is_false(ok)
  assert.is_nil(H.shm_by_key(k))
end)
