-- The memory counter protocol and the lock without Lua: tests/counter_test.c
-- links csrc/counter.c, csrc/lock.c and csrc/bookkeeping.c alone (no Lua
-- header or library on its command line) and checks create, open twice,
-- count, close, removal, a user, a creator and a lock holder killed with
-- SIGKILL, and the refusal of a foreign and of a squatted set.
local H = require("helpers")

local function have_cc()
  local _, ok = H.sh("command -v cc")
  return ok
end

describe("the counter unit", function()
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("links without Lua and passes its C test", function()
    if not have_cc() then pending("needs cc") return end
    local root = H.shell_quote(H.ROOT)
    local f = assert(io.open(H.ROOT .. "/tests/counter_test.c"))
    local source = f:read("*a")
    f:close()
    local exe = H.compile("counter_test", source,
      "-Wextra -Werror -I " .. root .. "/csrc " .. root .. "/csrc/counter.c " .. root .. "/csrc/lock.c "
      .. root .. "/csrc/bookkeeping.c -lm")
    local keys = {}
    for i = 1, 6 do keys[i] = ("%d"):format(H.key()) end
    local out, ok = H.sh(H.shell_quote(exe) .. " " .. table.concat(keys, " "))
    assert(ok, "counter_test failed:\n" .. out)
    assert.truthy(out:match("\n0 failed\n$"), out)
    assert.falsy(out:match("FAIL"), out)
    -- every case ran (the squatted set only as root)
    local _, checks = out:gsub("\nok: ", "")
    assert.is_true(checks >= 50, out)
    for _, k in ipairs(keys) do
      assert.is_nil(H.shm_by_key(tonumber(k)))
      assert.is_nil(H.sem_by_key(tonumber(k)))
    end
  end)

  -- The Makefile passes -fvisibility=hidden; luarocks' builtin build passes
  -- no such flag, so the sources themselves must hide what is not luaopen_*.
  local function exported(so)
    local out, ok = H.sh("nm -D --defined-only " .. H.shell_quote(so))
    assert(ok, out)
    local names = {}
    for name in out:gmatch("%S+ %a (%S+)") do names[#names + 1] = name end
    return names
  end

  -- luaopen_smobject_core and the FFI entry points of csrc/ffi.h, sorted as nm sorts
  local EXPORTS = { "luaopen_smobject_core" }
  for _, op in ipairs({ "add", "cas", "exchange", "load" }) do
    for _, n in ipairs({ 16, 32, 64, 8 }) do EXPORTS[#EXPORTS + 1] = ("smo_ffi_%s_u%d"):format(op, n) end
  end
  for _, name in ipairs({ "publish_begin", "publish_end", "snapshot" }) do EXPORTS[#EXPORTS + 1] = "smo_ffi_" .. name end
  for _, n in ipairs({ 16, 32, 64, 8 }) do EXPORTS[#EXPORTS + 1] = ("smo_ffi_store_u%d"):format(n) end
  EXPORTS[#EXPORTS + 1] = "smo_ffi_wait"
  EXPORTS[#EXPORTS + 1] = "smo_ffi_wake"
  for _, name in ipairs({ "dict_get", "dict_incr", "dict_store" }) do EXPORTS[#EXPORTS + 1] = "smo_ffi_" .. name end
  table.sort(EXPORTS)

  it("exports nothing but luaopen_* and csrc/ffi.h's smo_ffi_* from the module, however it is built", function()
    local _, has_nm = H.sh("command -v nm")
    if not have_cc() or not has_nm then pending("needs cc and nm") return end
    local inc = H.lua_inc()
    if not io.open(inc .. "/lua.h") then pending("needs the Lua headers") return end
    assert.are.same(EXPORTS, exported(H.ROOT .. "/" .. H.BUILD .. "/smobject/core.so"))
    local so = H.tmpdir() .. "/plain-core.so"
    local root = H.shell_quote(H.ROOT)
    local out, ok = H.sh("cc -O2 -fPIC -shared -I" .. H.shell_quote(inc) .. " -I" .. root .. "/csrc -o "
      .. H.shell_quote(so) .. " " .. root .. "/csrc/*.c")
    assert(ok, out)
    assert.are.same(EXPORTS, exported(so))
  end)
end)
