-- The LuaJIT fast path (issue 12, point 4): T:cdecl() (every runtime, checked
-- with gcc), seg:ptr(), seg:ffi_view(T), and smobject.ffi's atomics,
-- wait/wake and snapshots (LuaJIT; pending elsewhere with the reason).
local H = require("spec.helpers")
local smo = H.smo

local LUAJIT = rawget(_G, "jit") ~= nil
local NO_FFI = not LUAJIT and ("needs LuaJIT's FFI; this is " .. _VERSION) or nil
local ffi = LUAJIT and require("ffi") or nil

local function have_cc()
  local _, ok = H.sh("command -v cc")
  return ok
end

-- Declarations whose cdecl() gcc must lay out as smo.struct does.
local DECLS = {
  "struct pose { char c; double x, y; int32_t seq; struct { double lat, lon; } gps; union { int a; char b[3]; } u;"
    .. " long samples[2][3]; char name[5]; struct { short q; }; _Bool ok; }",
  "struct __attribute__((packed)) pk { char a; int64_t b; short c; uint8_t d[3]; double e; }",
  "struct al { char a; int b __attribute__((aligned(16))); char c; } __attribute__((aligned(32)))",
  "union un { double d; struct { char x; int y; } s; uint8_t raw[13]; }",
  "struct en { enum { A, B = -3 } e; enum { BIG = 0x100000000 } big; unsigned char f; }",
  "struct deep { struct { struct { float f[2][2]; char t; } in[3]; long long z; } mid[2]; unsigned long u; }",
  "struct flat { struct { int a; union { char b; short c; }; }; double d; }",
  "struct one { char c; }",
}

-- Every member path of layout T (into nested structs and array elements 0 and last).
local function paths(T, prefix, out)
  out = out or {}
  local r = T
  if r.kind == "struct" or r.kind == "union" then
    for _, m in ipairs(T:members()) do
      local p = prefix and (prefix .. "." .. m.name) or m.name
      out[#out + 1] = p
      paths(m.type, p, out)
    end
  elseif (r.kind == "array" or r.kind == "string") and prefix then
    for _, i in ipairs(r.count > 1 and { 0, r.count - 1 } or { 0 }) do
      local p = ("%s[%d]"):format(prefix, i)
      out[#out + 1] = p
      if r.kind == "array" then paths(r.elem, p, out) end
    end
  end
  return out
end

describe("T:cdecl() (every runtime)", function()
  it("gcc lays out the declaration exactly as the layout: sizeof, _Alignof and offsetof of every member path", function()
    if not have_cc() then pending("needs cc") return end
    local lines = { "#include <stdint.h>", "#include <stdbool.h>", "#include <stddef.h>", "#include <stdio.h>" }
    local main = { "int main(void) {" }
    local expect = {}
    for i, d in ipairs(DECLS) do
      local T = smo.struct(d, smo.scope())
      local name = "t" .. i
      lines[#lines + 1] = T:cdecl(name)
      main[#main + 1] = ('  printf("%s size %%zu align %%zu\\n", sizeof(%s), _Alignof(%s));'):format(name, name, name)
      expect[#expect + 1] = ("%s size %d align %d"):format(name, T.size, T.align)
      for _, p in ipairs(paths(T)) do
        main[#main + 1] = ('  printf("%s %s %%zu\\n", offsetof(%s, %s));'):format(name, p, name, p)
        expect[#expect + 1] = ("%s %s %d"):format(name, p, (T:offsetof(p)))
      end
    end
    main[#main + 1] = "  return 0;\n}"
    local exe = H.compile("cdecl_layouts", table.concat(lines, "\n") .. "\n" .. table.concat(main, "\n") .. "\n",
      "-std=c11 -Werror")
    local out, ok = H.sh(exe)
    assert(ok, out)
    assert.are.equal(table.concat(expect, "\n") .. "\n", out)
    assert.is_true(#expect > 60)
  end)

  it("a struct is declared by its own tag, and by a typedef name when given one", function()
    local T = smo.struct("struct tagged { int32_t a; char b; }", smo.scope())
    assert.matches("^struct __attribute__%(%(packed, aligned%(4%)%)%) tagged {\n  int32_t a;\n  char b;\n};$", T:cdecl())
    assert.matches("^typedef struct __attribute__%(%(packed, aligned%(4%)%)%) {.*} tagged_t;$", T:cdecl("tagged_t"))
    local ns = smo.cdef("typedef struct { double v; } reading;", smo.scope())
    assert.matches("} reading;$", ns.reading:cdecl())
    assert.are.equal("typedef int64_t big[2];", smo.array("long", 2):cdecl("big"))
    assert.are.equal("typedef char label[16];", smo.array("char", 16):cdecl("label"))
  end)

  it("refuses what no C declaration can say, with the reason", function()
    local anon = smo.struct("int a;")
    assert.matches("anonymous struct has no name: give one", H.raised(function() return anon:cdecl() end))
    assert.matches("bad argument #1 to 'cdecl' %(C identifier expected, got '1x'%)",
      H.raised(function() return anon:cdecl("1x") end))
    local kw = smo.struct({ { "int", "double" } })
    assert.matches("member 'int' is a C keyword", H.raised(function() return kw:cdecl("k") end))
    local pad = smo.struct({ { "__smo_pad0", "double" } })
    assert.matches("prefix of the padding members", H.raised(function() return pad:cdecl("p") end))
    assert.matches("smobject layout expected, got number", H.raised(function() return anon.cdecl(5) end))
  end)
end)

describe("seg:ptr() and seg:ffi_view() where there is no FFI", function()
  after_each(function() H.cleanup() end)

  it("ffi_view and require('smobject.ffi') name the runtime; ptr is a lightuserdata", function()
    if LUAJIT then pending("LuaJIT has the FFI") return end
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
    local T = smo.struct("double x;")
    assert.matches("seg:ffi_view needs LuaJIT's FFI; this is " .. _VERSION:gsub("%.", "%%."),
      H.raised(function() return seg:ffi_view(T) end))
    local ok, err = pcall(require, "smobject.ffi")
    assert.is_false(ok)
    assert.matches("smobject.ffi needs LuaJIT's FFI; this is " .. _VERSION:gsub("%.", "%%."), err)
    assert.are.equal("userdata", type(seg:ptr()))
    assert.matches("out of range", H.raised(function() return seg:ptr(4097) end))
    seg:close()
  end)

  it("a lightuserdata handed out does not keep the segment attached after close: the last close removes it", function()
    if LUAJIT then pending("LuaJIT's ptr is a cdata (below)") return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local p = seg:ptr(16)
    assert.is_truthy(p)
    seg:close()
    H.assert_gone(k, "after close with a pointer out")
    seg = nil   -- luacheck: ignore (dropped, for the collector)
    collectgarbage()
    collectgarbage()
  end)
end)

describe("seg:ffi_view(T) (LuaJIT)", function()
  local T = LUAJIT and smo.struct([[ struct fv { uint32_t seq; int32_t count; double x, y; int64_t n; uint64_t u;
    struct { double lat, lon; } gps; char name[8]; bool on; uint8_t b; int16_t h; float f; double arr[4]; } ]],
    smo.scope())
  after_each(function() H.cleanup() end)

  it("reads and writes the same bytes as the classic view, every member", function()
    if NO_FFI then pending(NO_FFI) return end
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
    local v, cv = seg:ffi_view(T, 64), seg:view(T, 64)
    assert.are.equal("cdata", type(v))
    v.count, v.x, v.y, v.n, v.u = -5, 1.5, -2.25, -2 ^ 40, 2 ^ 50
    v.gps.lat, v.on, v.b, v.h, v.f, v.arr[3] = 47.5, true, 255, -300, 0.5, 9
    ffi.copy(v.name, "abc")
    assert.are.equal(-5, cv.count)
    assert.are.equal(1.5, cv.x)
    assert.are.equal(-2.25, cv.y)
    assert.are.equal(-2 ^ 40, cv.n)
    assert.are.equal(2 ^ 50, cv.u)
    assert.are.equal(47.5, cv.gps.lat)
    assert.are.equal("abc", cv.name)
    assert.are.equal(true, cv.on)
    assert.are.equal(255, cv.b)
    assert.are.equal(-300, cv.h)
    assert.are.equal(0.5, cv.f)
    assert.are.equal(9, cv.arr[3])
    cv.x, cv.n = 7.25, 12345
    assert.are.equal(7.25, v.x)
    assert.are.equal("cdata", type(v.n))
    assert.are.equal(12345, tonumber(v.n))
    seg:close()
  end)

  it("checks the bounds and alignment once, when made, with clear errors", function()
    if NO_FFI then pending(NO_FFI) return end
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
    assert.matches("bad argument #2 to 'ffi_view' %(struct fv of %d+ bytes at offset 4088 runs past the end of the 4096%-byte segment%)",
      H.raised(function() return seg:ffi_view(T, 4088) end))
    assert.matches("offset 4 is misaligned for struct fv %(alignment 8%)", H.raised(function() return seg:ffi_view(T, 4) end))
    assert.matches("runs past the end", H.raised(function() return seg:ffi_view(T, -8) end))
    assert.matches("number has no integer representation", H.raised(function() return seg:ffi_view(T, 1.5) end))
    assert.matches("integer offset expected, got string", H.raised(function() return seg:ffi_view(T, "8") end))
    assert.matches("smobject layout expected, got table", H.raised(function() return seg:ffi_view({}) end))
    assert.is_truthy(seg:ffi_view(T, 2 ^ 10))              -- an integral float is an integer
    local big = smo.array("double", 513)
    assert.matches("runs past the end", H.raised(function() return seg:ffi_view(big) end))
    seg:close()
    assert.matches("attempt to use a closed smobject", H.raised(function() return seg:ffi_view(T) end))
  end)

  it("an array layout points at element 0; a read-only handle gives a const pointer that refuses writes", function()
    if NO_FFI then pending(NO_FFI) return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local arr = seg:ffi_view(smo.array(T, 3))
    arr[2].x = 3.5
    assert.are.equal(3.5, seg:view(smo.array(T, 3))[2].x)
    local ro = assert(smo.open{ key = k, readonly = true })
    local rv = ro:ffi_view(smo.array(T, 3))
    assert.are.equal(3.5, rv[2].x)
    assert.matches("constant", H.raised(function() rv[2].x = 1 end))
    assert.matches("constant", H.raised(function() ro:ptr()[0] = 1 end))
    ro:close()
    seg:close()
  end)

  it("keeps its handle alive while reachable; the segment goes with the last view", function()
    if NO_FFI then pending(NO_FFI) return end
    local k = H.key()
    local v = assert(smo.open{ key = k, size = 4096, create = true }):ffi_view(T)
    collectgarbage()
    collectgarbage()
    v.x = 2
    assert.is_truthy(H.shm_by_key(k), "the handle was collected under a live view")
    assert.are.equal(2, v.x)
    local p = assert(smo.open{ key = k }):ptr(8)
    collectgarbage()
    assert.are.equal(2, ffi.cast("double *", p)[0])
    v, p = nil, nil   -- luacheck: ignore (dropped, for the collector)
    collectgarbage()
    collectgarbage()
    H.assert_gone(k, "after the views were collected")
  end)

  it("close with views alive: counted out and removed at once, and the views read zeros instead of faulting", function()
    if NO_FFI then pending(NO_FFI) return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local other = assert(smo.open{ key = k })
    local v, p = seg:ffi_view(T), seg:ptr()
    v.x = 5
    seg:close()
    assert.are.equal(1, other:users())
    assert.are.equal(5, other:view(T).x)                   -- the segment itself is intact
    assert.are.equal(0, v.x)                              -- parked: private zeroed memory
    v.x = 9                                               -- writes reach nobody
    p[4095] = 1
    assert.are.equal(5, other:view(T).x)
    other:close()
    H.assert_gone(k, "after the last close, views still alive")
    assert.are.equal(9, v.x)
    v, p = nil, nil   -- luacheck: ignore (dropped, for the collector)
    collectgarbage()
    collectgarbage()
  end)
end)

describe("smobject.ffi (LuaJIT)", function()
  local T = LUAJIT and smo.struct([[ struct at { uint32_t seq; uint32_t word; int32_t i32; uint8_t u8; int8_t i8;
    uint16_t u16; int64_t i64; uint64_t u64; double x, y; char c; } ]], smo.scope())
  local F = LUAJIT and require("smobject.ffi") or nil
  after_each(function() H.cleanup() end)

  it("atomics of every width and sign agree with the classic ones", function()
    if NO_FFI then pending(NO_FFI) return end
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
    local v = seg:ffi_view(T)
    local cases = { { "word", "uint32_t" }, { "i32", "int32_t" }, { "u8", "uint8_t" }, { "i8", "int8_t" },
                    { "u16", "uint16_t" }, { "i64", "int64_t" }, { "u64", "uint64_t" } }
    for _, c in ipairs(cases) do
      local a = F.atomic(v, c[1])
      local off = T:offsetof(c[1])
      a:store(5)
      assert.are.equal(5, tonumber(a:load()), c[1])
      assert.are.equal(5, tonumber(a:add(3)), c[1])
      assert.are.equal(8, seg:atomic_load(c[2], off), c[1])
      assert.are.equal(8, tonumber(a:exchange(2)), c[1])
      local ok, cur = a:cas(7, 1)
      assert.is_false(ok, c[1])
      assert.are.equal(2, tonumber(cur), c[1])
      assert.is_true((a:cas(2, 6)), c[1])
      seg:atomic_add(c[2], off, 1)
      assert.are.equal(7, tonumber(a:load()), c[1])
    end
    local i8 = F.atomic(v, "i8")
    i8:store(-1)
    assert.are.equal(-1, i8:load())
    assert.are.equal(255, seg:get("uint8_t", T:offsetof("i8")))
    local i64 = F.atomic(v, "i64")
    i64:store(-2)
    assert.are.equal("cdata", type(i64:load()))
    assert.are.equal(-2, tonumber(i64:load()))
    seg:close()
  end)

  it("refuses members that are not integers, misaligned ones, and writes through a read-only handle", function()
    if NO_FFI then pending(NO_FFI) return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local v = seg:ffi_view(T)
    assert.matches("member 'x' is double, not an integer", H.raised(function() return F.atomic(v, "x") end))
    assert.matches("member 'c' is char, not an integer", H.raised(function() return F.atomic(v, "c") end))
    assert.matches("no member 'nope' in struct at", H.raised(function() return F.atomic(v, "nope") end))
    assert.matches("bad argument #1 to 'atomic' %(smobject FFI view expected, got table%)",
      H.raised(function() return F.atomic({}, "word") end))
    local P = smo.struct("struct __attribute__((packed)) mis { uint8_t a; uint32_t w; }", smo.scope())
    assert.matches("member 'w' is misaligned for a 4%-byte atomic",
      H.raised(function() return F.atomic(seg:ffi_view(P), "w") end))
    local ro = assert(smo.open{ key = k, readonly = true })
    local a = F.atomic(ro:ffi_view(T), "word")
    assert.are.equal(0, a:load())
    for _, m in ipairs({ "store", "add", "exchange", "cas" }) do
      assert.matches("attempt to write to a read%-only smobject", H.raised(function() return a[m](a, 1, 1) end), m)
    end
    assert.matches("read%-only", H.raised(function() F.publish_begin(ro:ffi_view(T), "seq") end))
    ro:close()
    seg:close()
  end)

  it("accessor arguments that are not integers raise naming the method, at the caller's line (fuzz findings)", function()
    if NO_FFI then pending(NO_FFI) return end
    local seg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
    local v = seg:ffi_view(T)
    local a, w = F.atomic(v, "u8"), F.atomic(v, "word")
    local src = debug.getinfo(1, "S").short_src
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() a:store({}) end)
    assert.is_false(ok)
    assert.are.equal(("%s:%d: bad argument #1 to 'store' (integer expected, got table)"):format(src, line), err)
    assert.matches("bad argument #1 to 'add' %(number has no integer representation%)",
      H.raised(function() a:add(1.5) end))
    assert.matches("bad argument #2 to 'cas' %(integer expected, got smobject%)", H.raised(function() a:cas(1, seg) end))
    assert.matches("bad argument #1 to 'exchange' %(integer expected, got cdata%)",
      H.raised(function() a:exchange(v) end))
    assert.matches("bad argument #1 to 'wait' %(integer expected, got smobject%)",
      H.raised(function() w:wait(seg, 0.001) end))
    assert.matches("bad argument #1 to 'wake' %(count %(an integer >= 0%) expected, got 1.5%)",
      H.raised(function() w:wake(1.5) end))
    a:store(ffi.new("int64_t", 7))                        -- int64 cdata are integers
    assert.are.equal(7, a:load())
    seg:close()
  end)

  it("N processes adding through F.atomic give the exact sum", function()
    if NO_FFI then pending(NO_FFI) return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local code = ([[
      local smo = require("smobject"); local F = require("smobject.ffi")
      local T = smo.struct("struct at { uint32_t seq; uint32_t word; int32_t i32; uint8_t u8; int8_t i8; uint16_t u16; int64_t i64; }")
      local seg = assert(smo.open{ key = %d })
      local a, b = F.atomic(seg:ffi_view(T), "word"), F.atomic(seg:ffi_view(T), "i64")
      for _ = 1, 200000 do a:add(1); b:add(-1) end
      seg:close() print("done")]]):format(k)
    local pids = {}
    for i = 1, 3 do pids[i] = H.spawn("run_code.lua", code) end
    for _, pid in ipairs(pids) do assert.is_true(H.wait_exit(pid, 60)) assert.matches("done", H.output(pid)) end
    assert.are.equal(600000, seg:atomic_load("uint32_t", T:offsetof("word")))
    assert.are.equal(-600000, seg:atomic_load("int64_t", T:offsetof("i64")))
    seg:close()
  end)

  it("wait/wake: an FFI waiter is woken by a classic wake from another process, and the other way round", function()
    if NO_FFI then pending(NO_FFI) return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local v = seg:ffi_view(T)
    local word = F.atomic(v, "word")
    local t0 = H.now()
    assert.is_false(word:wait(0, 0.05))                    -- timeout
    assert.is_true(H.now() - t0 >= 0.04)
    assert.is_true(word:wait(1, 0))                        -- the value differs
    assert.matches("timeout must not be negative", H.raised(function() return word:wait(0, -1) end))
    assert.matches("NaN", H.raised(function() return word:wait(0, 0 / 0) end))
    -- a child sleeps in the classic wait; FFI wakes it
    local pid = H.spawn("run_code.lua", ([[
      local smo = require("smobject"); local seg = assert(smo.open{ key = %d })
      while seg:atomic_load("uint32_t", 4) == 0 do seg:wait(4, 0, 30) end
      seg:atomic_store("uint32_t", 4, 2); seg:wake(4); print("child done")]]):format(k))
    assert.is_true(H.wait_futex_sleep(pid, 20))
    word:store(1)
    assert.is_true(word:wake() >= 0)
    -- and then the parent sleeps in the FFI wait until the child's classic wake
    local deadline = H.now() + 30
    while word:load() ~= 2 and H.now() < deadline do word:wait(1, 1) end
    assert.are.equal(2, word:load())
    assert.is_true(H.wait_exit(pid, 30))
    assert.matches("child done", H.output(pid))
    seg:close()
    assert.matches("attempt to use a closed smobject", H.raised(function() return word:wait(2, 0) end))
    assert.matches("attempt to use a closed smobject", H.raised(function() return word:wake() end))
  end)

  it("snapshot: a copy never torn by a writer in another process; into; timeout on a dead writer's odd counter", function()
    if NO_FFI then pending(NO_FFI) return end
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    local v = seg:ffi_view(T)
    local pid = H.spawn("run_code.lua", ([[
      local smo = require("smobject"); local F = require("smobject.ffi")
      local T = smo.struct("struct at { uint32_t seq; uint32_t word; int32_t i32; uint8_t u8; int8_t i8; uint16_t u16; int64_t i64; uint64_t u64; double x, y; char c; }")
      local seg = assert(smo.open{ key = %d }); local v = seg:ffi_view(T)
      local t0 = smo.clock()
      local i = 0
      while smo.clock() - t0 < 1 do i = i + 1; F.publish_begin(v, "seq"); v.x = i; v.y = -i; F.publish_end(v, "seq") end
      print("wrote", i)]]):format(k))
    local into = F.snapshot(v, "seq")
    local reads, t0 = 0, H.now()
    while H.alive(pid) and H.now() - t0 < 20 do
      local s = assert(F.snapshot(v, "seq", nil, into))
      assert(s == into)
      assert(s.x == -s.y, "torn")
      reads = reads + 1
    end
    assert.is_true(H.wait_exit(pid, 30))
    assert.matches("wrote", H.output(pid))
    assert.is_true(reads > 100)
    assert.are.equal(v.x, F.snapshot(v, "seq").x)
    F.publish_begin(v, "seq")                             -- a writer that never finishes
    local s, msg, err = F.snapshot(v, "seq", 0.05)
    assert.is_nil(s)
    assert.are.equal("timeout", msg)
    assert.are.equal(smo.errno.ETIMEDOUT, err)
    assert.matches("sequence counter is odd", H.raised(function() F.publish_begin(v, "seq") end))
    F.publish_end(v, "seq")
    -- F.publish takes the lock and ends a dead writer's odd counter
    F.publish_begin(v, "seq")
    assert.are.equal(7, F.publish(v, "seq", function() v.x = 7 return 7 end))
    assert.are.equal(0, v.seq % 2)
    assert.matches("not a uint32_t sequence counter", H.raised(function() return F.snapshot(v, "i32") end))
    assert.matches("not a uint32_t sequence counter", H.raised(function() F.publish(v, "i64", function() end) end))
    assert.matches("not a uint32_t sequence counter", H.raised(function() F.publish_begin(v, "u64") end))
    assert.matches("a copy made by snapshot of a view of struct at expected, got table",
      H.raised(function() return F.snapshot(v, "seq", nil, {}) end))
    assert.matches("a copy made by snapshot", H.raised(function() return F.snapshot(v, "seq", nil, v) end))
    seg:close()
    assert.matches("attempt to use a closed smobject", H.raised(function() return F.snapshot(v, "seq") end))
  end)

  it("the hot loops stay in compiled code: field access, atomics, snapshots (nothing the JIT cannot compile, no stitch)", function()
    if NO_FFI then pending(NO_FFI) return end
    local log = H.tmpdir() .. "/jit-v.txt"
    local out, ok = H.run(([[
      require("jit.v").on(%q)
      -- (the JIT is off while the setup runs: LuaJIT's hot counters are
      -- shared by hash, so a setup function called once may start a trace,
      -- which an unrelated closure aborts; only the loops are judged)
      jit.off()
      local smo = require("smobject"); local F = require("smobject.ffi")
      local T = smo.struct("struct hot { uint32_t seq; uint32_t n; double x; }")
      local seg = assert(smo.open{ key = smo.PRIVATE, size = 4096, create = true })
      local v = seg:ffi_view(T); local a = F.atomic(v, "n"); local into = F.snapshot(v, "seq")
      local HOT = "HOT"
      jit.on()
      for i = 1, 1e6 do v.x = v.x + i end
      for _ = 1, 1e6 do a:add(1) end
      for _ = 1, 1e6 do F.snapshot(v, "seq", nil, into) end
      for _ = 1, 1e5 do a:wait(0, 0) end
      print(HOT, a:load(), v.x)]]):format(log))
    assert(ok, out)
    local f = assert(io.open(log))
    local text = f:read("*a")
    f:close()
    assert.matches("HOT\t1000000", out)
    local loops = 0
    for line in text:gmatch("[^\n]+") do
      if line:match("%(command line%)") or line:match("ffi%.lua") then
        assert.falsy(line:match("NYI"), line)              -- what the JIT cannot compile
        assert.falsy(line:match("stitch"), line)
        if line:match("loop%]") then loops = loops + 1 end
      end
    end
    assert.is_true(loops >= 4, text)
  end)

  it("the core exports the functions by name, with the prototypes smobject.ffi declares (csrc/ffi.h)", function()
    if NO_FFI then pending(NO_FFI) return end
    local path = assert(package.searchpath("smobject.core", package.cpath))
    local lib = ffi.load(path)
    local mem = ffi.new("uint32_t[1]", 40)
    ffi.cdef("uint32_t smo_ffi_add_u32(uint32_t *p, uint32_t d);")
    assert.are.equal(40, lib.smo_ffi_add_u32(mem, 2))
    assert.are.equal(42, mem[0])
    -- the header's prototypes, without parameter names, are smobject.ffi's
    local f = assert(io.open(H.ROOT .. "/csrc/ffi.h"))
    local header = f:read("*a")
    f:close()
    local function strip(params)
      local out = {}
      for p in params:gmatch("[^,]+") do
        out[#out + 1] = (p:gsub("^%s+", ""):gsub("%s*[%a_][%w_]*%s*$", ""):gsub("%s+%*", " *"))
      end
      return table.concat(out, ", ")
    end
    for _, name in ipairs({ "wait", "wake", "snapshot", "publish_begin", "publish_end" }) do
      local ret, params = header:match("SMO_EXPORT ([%w_]+) smo_ffi_" .. name .. "%(([^)]*)%)")
      assert(ret, name)
      assert.are.equal(("%s (*)(%s)"):format(ret, strip(params)), F.PROTOTYPES[name], name)
    end
    for _, name in ipairs({ "load", "store", "add", "exchange", "cas" }) do
      local ret, params = header:match("SMO_EXPORT ([%w_#]+) smo_ffi_" .. name .. "_u##N%(([^)]*)%)")
      assert(ret, name)
      local proto = ("%s (*)(%s)"):format(ret, strip(params)):gsub("uint##N##_t", "T")
      assert.are.equal(proto, F.PROTOTYPES[name], name)
    end
  end)
end)

describe("parking a closed handle's mapping (every runtime)", function()
  after_each(function() H.cleanup() end)

  -- mmap fails only for the park of a segment of exactly this size
  local SHIM = [[
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  static void *(*real)(void *, size_t, int, int, int, off_t);
  const char *fail = getenv("SMO_FAIL_PARK");
  if (fail && (flags & MAP_FIXED) && (flags & MAP_ANONYMOUS) && len == (size_t)atol(fail)) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  if (!real) real = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
  return real(addr, len, prot, flags, fd, off);
}
]]

  it("when the park's mmap fails, the segment stays attached (no fault), and is detached once the pointer is gone", function()
    if not have_cc() then pending("needs cc") return end
    local dir = H.tmpdir()
    local src = dir .. "/parkshim.c"
    local f = assert(io.open(src, "w"))
    f:write(SHIM)
    f:close()
    local so = dir .. "/parkshim.so"
    local out, ok = H.sh("cc -shared -fPIC -O1 -o " .. so .. " " .. src .. " -ldl")
    assert(ok, out)
    local k = H.key()
    local code = ([[
      local smo = require("smobject")
      local function nattch()
        for line in io.lines("/proc/sysvipc/shm") do
          local key, _, _, _, _, _, n = line:match("^%%s*(%%-?%%d+)%%s+(%%d+)%%s+(%%d+)%%s+(%%d+)%%s+(%%d+)%%s+(%%d+)%%s+(%%d+)")
          if tonumber(key) == %d then return tonumber(n) end
        end
        return "gone"
      end
      local seg = assert(smo.open{ key = %d, size = 40960, create = true })
      local p = seg:ptr(8)
      seg:close()
      print("after close", nattch())
      p, seg = nil, nil
      collectgarbage() collectgarbage()
      print("after collect", nattch())]]):format(k, k)
    local preload = ((os.getenv("LD_PRELOAD") or "") .. " " .. so):gsub("^ ", "")
    out, ok = H.sh("LD_PRELOAD=" .. H.shell_quote(preload) .. " SMO_FAIL_PARK=40960 " .. H.child_env() .. H.LUA
      .. " -e " .. H.shell_quote(code))
    assert(ok, out)
    assert.matches("after close\t1\n", out)          -- kept attached: the pointer stays valid
    assert.matches("after collect\t0\n", out)        -- detached once nothing can use it
    -- (left for `smo gc`: no user is attached and none counted)
    local seg = assert(smo.open{ key = k })
    seg:remove()
    seg:close()
    H.assert_gone(k, "after the cleanup")
  end)
end)
