-- The library's Lua side on every runtime (issue 12): every file under lua/
-- parses with each installed luac and LuaJIT; the pure-Lua modules (the
-- C declaration parser and the layouts, given the core's scalar table) load
-- and agree with this process on 5.1, 5.2, 5.3, 5.4 and both LuaJITs; C's
-- integer arithmetic (cdecl/cint.lua) agrees with the native 64-bit one
-- within +-2^53 and refuses beyond where numbers are doubles; smo.with
-- closes on return and on error; seg:pack names the Lua it needs; a core
-- built for another Lua is refused in one sentence.
-- (This file uses only syntax and functions every runtime has.)
local H = require("spec.helpers")
local smo = H.smo

local loadstring = rawget(_G, "loadstring") or load
-- (absolute: children run from another directory)
local ROOT = H.sh("cd " .. H.shell_quote(H.ROOT) .. " && pwd"):match("[^\n]+")

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function have(cmd)
  if cmd:sub(1, 1) == "/" then return exists(cmd) end
  local _, ok = H.sh("command -v " .. cmd .. " >/dev/null")
  return ok == true or ok == 0
end

local LUAJIT2 = (os.getenv("LUAJIT2_DIR") or "/opt/luajit2") .. "/usr/bin/luajit"

-- The runtimes: the interpreter, how it only parses a file, the build
-- directory the Makefile gives it (LUA=...), whether its numbers include
-- 64-bit integers, and how the sentence of a mismatched core names it.
local RUNTIMES = {
  { name = "lua5.1", cmd = "lua5.1", parse = "luac5.1 -p", build = "build/5.1", native = false, abi = "5.1" },
  { name = "lua5.2", cmd = "lua5.2", parse = "luac5.2 -p", build = "build/5.2", native = false, abi = "5.2" },
  { name = "lua5.3", cmd = "lua5.3", parse = "luac5.3 -p", build = "build/5.3", native = true, abi = "5.3" },
  { name = "lua5.4", cmd = "lua5.4", parse = "luac5.4 -p", build = "build", native = true, abi = "5.4" },
  { name = "luajit", cmd = "luajit", parse = "luajit -bl", build = "build/luajit", native = false, abi = "5.1" },
  { name = "luajit2", cmd = LUAJIT2, parse = LUAJIT2 .. " -bl", build = "build/luajit2", native = false, abi = "5.1" },
}

-- This process's runtime, as RUNTIMES names its ABI.
local THIS_ABI = rawget(_G, "jit") and "5.1" or _VERSION:match("%d+%.%d+")

-- Runs Lua source src with runtime rt (paths: lua/ and spec/, and cpath
-- when given); returns its output and whether it succeeded.
local function run_with(rt, src, cpath)
  local file = H.tmpdir() .. "/probe-" .. rt.name .. ".lua"
  local f = assert(io.open(file, "w"))
  f:write(src)
  f:close()
  local env = ("LUA_PATH=%s LUA_CPATH=%s "):format(
    H.shell_quote(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. ROOT .. "/spec/?.lua;;"),
    H.shell_quote(cpath or "/nonexistent/?.so"))
  local out, ok = H.sh("cd / && " .. env .. "timeout 120 " .. rt.cmd .. " " .. H.shell_quote(file))
  return out, ok == true or ok == 0
end

-- What a child without the core needs of it: the scalars' sizes and
-- alignments as this process's core has them (the layouts never compile
-- for a view there).
local function fake_core()
  local core = require("smobject.core")
  local rows = {}
  for name, size in pairs(core.ctypes) do
    rows[#rows + 1] = ("[%q] = { %d, %d }"):format(name, size, core.ctype_align[name])
  end
  return ("local S, A = {}, {}\nfor k, v in pairs({ %s }) do S[k], A[k] = v[1], v[2] end\n"
    .. "package.loaded[\"smobject.core\"] = { ctypes = S, ctype_align = A, max_align = %d,\n"
    .. "  compile_layout = function() error(\"no core in this probe\") end }\n"):format(table.concat(rows, ", "),
    core.max_align)
end

-- A number as text the same on every runtime (integers in full).
local SHOW = [[
local function show(v)
  if type(v) == "number" and v == math.floor(v) and v > -2^63 and v < 2^63 then return ("%d"):format(v) end
  return tostring(v)
end
]]

-- Declarations and constants; the lines they give (layouts, offsets,
-- constants, messages) must be the same on every runtime.
local LAYOUT_PROBE = SHOW .. [[
local struct = ...
local lines = {}
local function try(label, fn)
  local ok, a, b, c = pcall(fn)
  if ok then
    lines[#lines + 1] = label .. " = " .. show(a) .. (b ~= nil and (" " .. show(b)) or "") .. (c ~= nil and (" " .. show(c)) or "")
  else
    lines[#lines + 1] = label .. " raises " .. tostring(a):gsub("^[^:]*:%d+: ", "")
  end
end
local ns = struct.scope()
try("cdef", function() struct.cdef([==[
#define N (1 << 4)
#define BIG 0x7fffffffL
#if N == 16 && defined(N) && !defined(NOPE) && (-7 / 2) == -3 && (-7 % 2) == -1 && (0xf0 & 0x3c) == 0x30 \
    && (-1L & 0xff) == 255 && (-16 >> 2) == -4 && (3 ^ 5) == 6 && (8 | 1) == 9 && BIG + 1 == 0x80000000
enum e { A = N, B, C = -5 * 3, D = 1u << 31, E = ~0u, F = -1 & 0xff, G = -1u, H = 1 << 31, I = (0u - 1) * 3u,
         J = 0x12345678 * 16u, K = (unsigned char)300, L = (signed char)200, M = (short)-40000, O = sizeof(long) };
#else
#error the #if was false
#endif
typedef struct { char c; double x; int32_t a[3]; struct { uint16_t h; } in; } __attribute__((aligned(32))) rec;
struct packed_one { char c; int64_t v; } __attribute__((packed));
union u { char c[13]; double d; };
struct big { char huge[1L << 40]; int tail; };
static const unsigned int Q = 7;
struct arr { int v[Q][N]; };
]==], ns) return true end)
for _, c in ipairs({ "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "O", "Q", "N", "BIG" }) do
  try("constant " .. c, function() return ns:constant(c) end)
end
for _, t in ipairs({ "rec", "struct packed_one", "union u", "struct big", "struct arr", "enum e", "rec[3]" }) do
  try("layout " .. t, function() local T = ns:type(t) return T.size, T.align end)
end
try("offset in.h", function() return ns.rec:offsetof("in.h") end)
try("offset a[2]", function() return ns.rec:offsetof("a[2]") end)
try("offset tail", function() return ns.big:offsetof("tail") end)
try("members", function()
  local names = {}
  for _, m in ipairs(ns.rec:members()) do names[#names + 1] = m.name .. "@" .. m.offset end
  return table.concat(names, ",")
end)
try("T:pairs", function()
  local keys = {}
  for k, v in ns.rec:pairs() do keys[#keys + 1] = k .. "=" .. show(v) end
  table.sort(keys)
  return table.concat(keys, ",")
end)
try("ns:pairs", function()
  local keys = {}
  for k, T in ns:pairs() do keys[#keys + 1] = k .. ":" .. T.size end
  return table.concat(keys, ",")
end)
try("array", function() local T = struct.array("double", 4.0) return T.size, T.name end)
try("aligned list", function() return struct.struct({ { "a", "int", aligned = 16.0 }, { "b", "char[3]" } }).size end)
for _, bad in ipairs({ "2147483647 + 1", "-2147483647 - 2", "1 / 0", "1 << 32", "-1 >> 64L", "0x7fffffff * 2",
                       "(0 ? 1 : 2", "1 ? 2", "4.5", "09", "'ab'", "x" }) do
  try("bad " .. bad, function() return struct.cdef("enum { V = " .. bad .. " };", struct.scope()) end)
end
for _, bad in ipairs({ "struct s { int x; } __attribute__((aligned(3)));", "struct s { int x[-1]; };",
                       "struct s { int x[2147483647 * 2]; };", "enum { A = 2147483647, B };" }) do
  try("bad " .. bad, function() return struct.cdef(bad, struct.scope()) end)
end
try("bad array", function() return struct.array("double", 1.5) end)
try("bad align", function() return struct.struct({ { "a", "int", aligned = 6 } }) end)
try("too large", function() return struct.struct("char c[9007199254740992]; char d;") end)
return lines
]]

-- Constants beyond 2^53: exact on 5.3+, refused where numbers are doubles.
local BIG_PROBE = SHOW .. [[
local struct = ...
local lines = {}
for _, e in ipairs({ "9007199254740993", "0xffffffffffffffff", "1L << 60", "~0UL", "(1L << 52) * 4", "1UL - 2",
                     "(1L << 53) + 1", "-9007199254740993L" }) do
  local ok, r = pcall(function() return struct.cdef("#if " .. e .. "\n#endif\nenum { V = " .. e .. " };",
    struct.scope()):constant("V") end)
  lines[#lines + 1] = e .. (ok and (" = " .. show(r)) or (" raises " .. tostring(r):gsub("^[^:]*:%d+: ", "")))
end
local ok, r = pcall(function() return struct.struct("char c[0x20000000000001];") end)
lines[#lines + 1] = ok and "char[2^53+1] laid out" or tostring(r):gsub("^[^:]*:%d+: ", "")
-- (within the range, and in a branch not evaluated, nothing is refused)
lines[#lines + 1] = show(struct.cdef("enum { V = (1L << 52) * 2, W = 0 && ~0UL, X = -9007199254740992L };",
  struct.scope()):constant("V"))
return lines
]]

-- A child's output of probe with the pure-Lua modules and the fake core.
local function probe_on(rt, probe)
  local src = fake_core() .. SHOW .. ("local lines = assert((rawget(_G, 'loadstring') or load)(%q))("
    .. "require('smobject.struct'))\nio.write(table.concat(lines, '\\n'), '\\n')\n"):format(probe)
  return run_with(rt, src)
end

local function probe_here(probe)
  local lines = assert(loadstring(probe))(require("smobject.struct"))
  return table.concat(lines, "\n") .. "\n"
end

describe("the Lua side on every runtime", function()
  teardown(H.cleanup_all)

  it("every file under lua/ parses with each installed luac and LuaJIT", function()
    local files = {}
    for file in H.sh("cd " .. ROOT .. " && find lua -name '*.lua' | sort"):gmatch("%S+") do files[#files + 1] = file end
    assert.is_true(#files >= 13, "found " .. #files .. " files")
    local bad, tools = {}, 0
    for _, rt in ipairs(RUNTIMES) do
      local tool = rt.parse:match("^%S+")
      if have(tool) then
        tools = tools + 1
        for _, file in ipairs(files) do
          local out, ok = H.sh("cd " .. ROOT .. " && " .. rt.parse .. " " .. file .. " >/dev/null")
          if not (ok == true or ok == 0) then bad[#bad + 1] = rt.name .. ": " .. out end
        end
      end
    end
    assert.is_true(tools >= 1, "no luac or luajit installed")
    assert.are.same({}, bad)
  end)

  for _, rt in ipairs(RUNTIMES) do
    describe(rt.name, function()
      local function available()
        if not have(rt.cmd) then
          pending(rt.name .. " is not installed (make deps-matrix)")
          return false
        end
        return true
      end

      it("loads the C declaration parser and lays out, evaluates and refuses as this process does", function()
        if not available() then return end
        local out, ok = probe_on(rt, LAYOUT_PROBE)
        assert.is_true(ok, out)
        assert.are.equal(probe_here(LAYOUT_PROBE), out)
      end)

      it("evaluates constants beyond 2^53 exactly (5.3+) or refuses them, naming the runtime", function()
        if not available() then return end
        local out, ok = probe_on(rt, BIG_PROBE)
        assert.is_true(ok, out)
        if rt.native then
          -- exact, as this process computes them when it is 5.3+ too
          if math.type then assert.are.equal(probe_here(BIG_PROBE), out) end
          assert.matches("\n%(1L << 53%) %+ 1 = 9007199254740993\n", "\n" .. out)
          return
        end
        local name = rt.name:match("^luajit") and "LuaJIT" or ("Lua " .. rt.abi)
        local why = ("exceeds 2^53, which %s numbers cannot hold exactly (Lua 5.3 and later compute it)"):format(name)
        local expected = {
          "9007199254740993 raises smo.cdef: #if: integer constant '9007199254740993' " .. why .. " at line 1, column 5",
          "0xffffffffffffffff raises smo.cdef: #if: integer constant '0xffffffffffffffff' " .. why .. " at line 1, column 5",
          "1L << 60 raises smo.cdef: #if: constant value " .. why .. " at line 1, column 8",
          "~0UL raises smo.cdef: #if: constant value " .. why .. " at line 1, column 5",
          "(1L << 52) * 4 raises smo.cdef: #if: constant value " .. why .. " at line 1, column 16",
          "1UL - 2 raises smo.cdef: #if: constant value " .. why .. " at line 1, column 9",
          "(1L << 53) + 1 raises smo.cdef: #if: constant value " .. why .. " at line 1, column 16",
          "-9007199254740993L raises smo.cdef: #if: integer constant '9007199254740993' " .. why .. " at line 1, column 6",
          "smo.struct: integer constant '0x20000000000001' " .. why .. " at line 1, column 8",
          "9007199254740992",
        }
        assert.are.equal(table.concat(expected, "\n") .. "\n", out)
      end)
    end)
  end
end)

-- C's integer operations, one line per case: the native backend (5.3+)
-- is the reference; the doubles backend must give the same value, or
-- refuse ("big") exactly when the true value is beyond +-2^53.
local CINT_PROBE = [[
local C = require("smobject.cdecl.cint")
local function show(v)
  if v == nil then return "nil" end
  if type(v) == "number" then return ("%d"):format(v) end
  return tostring(v)
end
local function res(r, why) return why == "big" and "big" or show(r) end
local V = { "0", "1", "-1", "2", "7", "-7", "255", "2147483647", "-2147483648", "2147483648", "4294967295",
            "4294967296", "1099511627779", "-1099511627781", "4503599627370496", "9007199254740991",
            "-9007199254740991", "9007199254740992", "-9007199254740992", "3037000499" }
for i = 1, #V do V[i] = assert((rawget(_G, "loadstring") or load)("return " .. V[i]))() end
local RANGE = { int = { -2147483648, 2147483647 }, uint = { 0, 4294967295 }, long = { -9007199254740992, 9007199254740992 },
                ulong = { 0, 9007199254740992 } }
local function values(T)
  local out = {}
  for _, v in ipairs(V) do if v >= RANGE[T][1] and v <= RANGE[T][2] then out[#out + 1] = v end end
  return out
end
local lines = {}
local function add(...) lines[#lines + 1] = table.concat({ ... }, " ") end
for _, op in ipairs({ "+", "-", "*", "/", "%" }) do
  for _, a in ipairs(values("long")) do
    for _, b in ipairs(values("long")) do
      if not ((op == "/" or op == "%") and b == 0) then add("arith", show(a), op, show(b), res(C.arith(op, a, b))) end
    end
  end
end
for _, a in ipairs(values("ulong")) do
  for _, b in ipairs(values("ulong")) do
    if b ~= 0 then add("udiv", show(a), show(b), res(C.udiv(a, b))) end
  end
end
for _, T in ipairs({ "int", "uint", "long", "ulong" }) do
  for _, v in ipairs(values("long")) do add("convert", show(v), T, res(C.convert(v, T))) end
  for _, v in ipairs(values(T)) do
    add("complement", show(v), T, res(C.complement(v, T)))
    if T == "uint" or T == "ulong" then add("negate", show(v), T, res(C.negate(v, T))) end
    for _, b in ipairs({ 0, 1, 5, 16, 31, 40, 52, 63 }) do
      if b < ((T == "int" or T == "uint") and 32 or 64) then
        add("shift", show(v), "<<", b, T, res(C.shift("<<", v, b, T)))
        add("shift", show(v), ">>", b, T, res(C.shift(">>", v, b, T)))
      end
    end
    for _, w in ipairs(values(T)) do
      for _, op in ipairs({ "&", "|", "^" }) do add("bitwise", show(v), op, show(w), T, res(C.bitwise(op, v, w, T))) end
      if T == "uint" or T == "ulong" then
        for _, op in ipairs({ "+", "-", "*" }) do add("wrap", show(v), op, show(w), T, res(C.wrap(op, v, w, T))) end
      end
      add("less", show(v), show(w), T, tostring(C.less(v, w, T)))
    end
  end
end
for _, v in ipairs(values("long")) do
  for _, bits in ipairs({ 8, 16, 32 }) do
    add("cast", show(v), bits, "signed", res(C.cast(v, bits, false)))
    add("cast", show(v), bits, "unsigned", res(C.cast(v, bits, true)))
  end
end
for _, lit in ipairs({ { "0", 10 }, { "9007199254740992", 10 }, { "9007199254740993", 10 }, { "1fffffffffffff", 16 },
                       { "20000000000001", 16 }, { "777", 8 }, { "18446744073709551615", 10 }, { "18446744073709551616", 10 },
                       { "ffffffffffffffff", 16 }, { "8", 8 } }) do
  add("literal", lit[1], lit[2], res(C.parse_integer(lit[1], lit[2])))
end
io.write(table.concat(lines, "\n"), "\n")
]]

-- Whether the native result line `n` is matched by the doubles one `d`:
-- the same, or "big" where the true value is beyond +-2^53 (a "ulong"
-- printed negative, or a literal, is 2^63 or more; unsigned + and * past
-- 2^53 are refused before they wrap), or where the native one overflowed.
--
-- The values are compared as decimal text, exactly: where this spec runs
-- on a runtime of doubles, tonumber("9007199254740993") is 2^53.
local TWO53 = "9007199254740992"

-- -1, 0 or 1 as the decimal a (no sign, no leading zero) is below, equal
-- to or above the decimal b.
local function dec_cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  return a < b and -1 or (a > b and 1 or 0)
end

-- The digits of a decimal, least significant first.
local function digits(s)
  local out = {}
  for i = #s, 1, -1 do out[#out + 1] = s:byte(i) - 48 end
  return out
end

-- Decimal text of the digit list r (least significant first).
local function dec_text(r)
  local n = #r
  while n > 1 and r[n] == 0 do n = n - 1 end
  local t = {}
  for i = n, 1, -1 do t[#t + 1] = string.char(48 + r[i]) end
  return table.concat(t)
end

-- The exact sum or product of two non-negative decimals, as text.
local function dec_op(op, a, b)
  local x, y, r = digits(a), digits(b), {}
  if op == "+" then
    for i = 1, math.max(#x, #y) + 1 do r[i] = (x[i] or 0) + (y[i] or 0) end
  else
    for i = 1, #x + #y do r[i] = 0 end
    for i = 1, #x do
      for j = 1, #y do r[i + j - 1] = r[i + j - 1] + x[i] * y[j] end
    end
  end
  local carry = 0
  for i = 1, #r do
    local t = r[i] + carry
    r[i], carry = t % 10, (t - t % 10) / 10
  end
  while carry > 0 do r[#r + 1] = carry % 10; carry = (carry - carry % 10) / 10 end
  return dec_text(r)
end

local function agrees(n, d)
  if n == d then return true end
  local head, value = n:match("^(.* )(%S+)$")
  local dhead, dvalue = d:match("^(.* )(%S+)$")
  if head ~= dhead or dvalue ~= "big" then return false end
  if value == "nil" then return true end
  local sign, mag = value:match("^(%-?)(%d+)$")
  if not mag then return false end
  local a, op, b = head:match("^wrap (%d+) ([%+%*]) (%d+) ulong $")
  if a and dec_cmp(dec_op(op, a, b), TWO53) > 0 then return true end
  return ((head:find(" ulong $") or head:find("^literal ")) and sign == "-") or dec_cmp(mag, TWO53) > 0
end

describe("C integer arithmetic (cdecl/cint.lua)", function()
  teardown(H.cleanup_all)

  local native
  for _, rt in ipairs(RUNTIMES) do
    if rt.native and not native and have(rt.cmd) then native = rt end
  end

  for _, rt in ipairs(RUNTIMES) do
    if not rt.native then
      it(rt.name .. ": agrees with the 64-bit integers of " .. (native and native.name or "Lua 5.3+")
        .. " within +-2^53, and refuses beyond", function()
        if not native then return pending("needs lua5.3 or lua5.4 as the reference") end
        if not have(rt.cmd) then return pending(rt.name .. " is not installed (make deps-matrix)") end
        local ref, ok = run_with(native, CINT_PROBE)
        assert.is_true(ok, ref)
        local out, ok2 = run_with(rt, CINT_PROBE)
        assert.is_true(ok2, out)
        local nlines, dlines = {}, {}
        for l in ref:gmatch("[^\n]+") do nlines[#nlines + 1] = l end
        for l in out:gmatch("[^\n]+") do dlines[#dlines + 1] = l end
        assert.are.equal(#nlines, #dlines)
        assert.is_true(#nlines > 5000, "only " .. #nlines .. " cases")
        local bad, refused = {}, 0
        for i = 1, #nlines do
          if not agrees(nlines[i], dlines[i]) then bad[#bad + 1] = nlines[i] .. "  vs  " .. dlines[i] end
          if dlines[i]:match(" big$") then refused = refused + 1 end
          if #bad > 20 then break end
        end
        assert.are.same({}, bad)
        -- (the refusal is exercised, and most cases are exact)
        assert.is_true(refused > 100 and refused < #nlines / 2, refused .. " of " .. #nlines .. " refused")
      end)
    end
  end
end)

-- ------------------------------------------------------------- with the core

-- The core built for runtime rt (the Makefile's LUA=... build), or nil.
local function core_for(rt)
  local dir = ROOT .. "/" .. ((rt.cmd == H.LUA or rt.name == H.LUA) and H.BUILD or rt.build)
  if exists(dir .. "/smobject/core.so") then return dir .. "/?.so;;" end
  return nil
end

local WITH_PROBE = [[
local smo = require("smobject")
local key = tonumber(arg[1])
local function out(...) io.write(table.concat({ ... }, " "), "\n") end
local seg = assert(smo.open({ key = key, size = 64, create = true }))
local n, a, b, c = (function(...) return select("#", ...), ... end)(smo.with(seg, function(s, x, y)
  s:set("int32_t", 0, x + y)
  return s:get("int32_t", 0), nil, smo.type(s)
end, 2, 3))
out("returned", n, a, tostring(b), c, smo.type(seg))
local seg2 = assert(smo.open({ key = key, size = 64, create = true }))
local ok, err = pcall(smo.with, seg2, function() error("boom") end)
out("raised", tostring(ok), (tostring(err):gsub("^.*:%d+: ", "")), smo.type(seg2))
local seg3 = assert(smo.open({ key = key, size = 64, create = true }))
local e = {}
local ok3, err3 = pcall(smo.with, seg3, function(s) s:close() error(e) end)
out("object", tostring(ok3), tostring(err3 == e), smo.type(seg3))
out("gone", tostring(smo.open({ key = key }) == nil))
out("bad", select(2, pcall(smo.with, nil, print)))
out("bad", select(2, pcall(smo.with, seg3, 42)))
local seg4 = assert(smo.open({ key = key, size = 64, create = true }))
local okp, errp = pcall(function() return seg4:pack(0, "<i4", 1) end)
out("pack", string.pack and tostring(okp and errp) or (tostring(okp) .. " " .. tostring(errp):gsub("^.*:%d+: ", "")))
local v = seg4:view(smo.struct("struct f { double d[2]; float f; int64_t big; int32_t i; bool b; char s[4]; }"))
v.d[0], v.d[1], v.f, v.big, v.i, v.b, v.s = 2, 0.5, -3, 2^52 + 1, -7, true, "a\n"
out("format", v:format())
local _, terr = pcall(function() return seg4:publish(1.5, print) end)   -- (a tail call)
out("tail", (tostring(terr):gsub("^.*:%d+: ", "")))
local names = {}
for name in v:pairs() do names[#names + 1] = name end
out("fields", table.concat(names, ","))
v.big = 2^60
out("tostring", (tostring(v):gsub("@%d+", "@0")))
seg4:close()
]]

describe("with the core", function()
  local k
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  local function probe(rt, src)
    k = H.key()
    return run_with(rt, ("arg = { %q }\n"):format(tostring(k)) .. src, core_for(rt))
  end

  local function check_with(out, rt)
    assert.are.equal(table.concat({
      "returned 3 5 nil smobject closed smobject",
      "raised false boom closed smobject",
      "object false true closed smobject",
      "gone true",
      "bad bad argument #1 to 'with' (smobject expected, got nil)",
      "bad bad argument #2 to 'with' (function expected, got number)",
    }, "\n"), out:match("^(.-)\npack"))
    -- (views print their numbers as 5.3+ does, whatever the runtime)
    assert.are.equal('format { d = { 2.0, 0.5 }, f = -3.0, big = 4503599627370497, i = -7, b = true, s = "a\\\n" }',
      out:match("\n(format [^\n]*\n[^\n]*)\n"))
    -- (tostring never raises: where a double cannot hold a field, it says so)
    local text = out:match("\ntostring ([^\n]*)")
    if rt.native then
      assert.matches("^struct f @0 { d = { 2%.0, 0%.5 }, f = %-3%.0, big = 1152921504606846976, i = %-7, b = true, s = \"a\\$", text)
    else
      assert.matches("^struct f @0 %(field 'big': int64_t value 1152921504606846976 does not fit a double exactly .*%)$", text)
    end
    assert.are.equal("fields d,f,big,i,b,s", out:match("\n(fields [^\n]*)"))
    -- (an argument error in a tail-called method counts as in a method call; LuaJIT cannot see the tail
    -- call, and assumes one when it sees no name: see lua/smobject.lua's argerror)
    assert.are.equal("tail bad argument #1 to 'publish' (number has no integer representation)",
      out:match("\n(tail [^\n]*)"))
  end

  it("smo.with is public (spec/26's allowlist gains \"with\", after \"type\")", function()
    assert.are.equal("function", type(smo.with))
    assert.are.equal(smo.with, require("smobject").with)
  end)

  it("smo.with closes the handle on return and on error, and re-raises the error (this process)", function()
    local seg = assert(smo.open({ key = H.key(), size = 64, create = true }))
    local n, a, b = (function(...) return select("#", ...), ... end)(smo.with(seg, function(s, x)
      assert.are.equal(seg, s)
      assert.are.equal("smobject", smo.type(s))
      return x, nil
    end, 7))
    assert.are.same({ 2, 7 }, { n, a })
    assert.is_nil(b)
    assert.are.equal("closed smobject", smo.type(seg))
    local seg2 = assert(smo.open({ key = H.key(), size = 64, create = true }))
    local e = setmetatable({}, { __tostring = function() return "E" end })
    local ok, err = pcall(smo.with, seg2, function() error(e) end)
    assert.is_false(ok)
    assert.are.equal(e, err)
    assert.are.equal("closed smobject", smo.type(seg2))
    assert.matches("^spec/35%-lua_portable_spec%.lua:%d+: bad argument #1 to 'with' %(smobject expected, got table%)$",
      select(2, pcall(function() smo.with({}, print) end)):gsub("^.*/spec/", "spec/"))
  end)

  for _, rt in ipairs(RUNTIMES) do
    it(rt.name .. ": smo.with closes on return and on error; seg:pack works or names the Lua it needs", function()
      if not have(rt.cmd) then return pending(rt.name .. " is not installed (make deps-matrix)") end
      local cpath = core_for(rt)
      if not cpath then
        return pending(("no core built for %s yet (%s/smobject/core.so: `make LUA=%s`)"):format(rt.name, rt.build, rt.name))
      end
      local out, ok = probe(rt, WITH_PROBE)
      assert.is_true(ok, out)
      check_with(out, rt)
      local pack = out:match("\npack ([^\n]*)")
      if rt.native then
        assert.are.equal("4", pack)
      else
        local name = rt.name:match("^luajit") and "LuaJIT" or ("Lua " .. rt.abi)
        assert.are.equal("false seg:pack needs string.pack (Lua 5.3 or later); this is " .. name, pack)
      end
    end)
  end

  it("seg:pack and seg:unpack without string.pack raise naming the version (string.pack hidden, this core)", function()
    local rt = { name = "this", cmd = H.LUA, build = H.BUILD }
    if not have(rt.cmd) then return pending(H.LUA .. " is not installed") end
    k = H.key()
    local out, ok = run_with(rt, ([[
      string.pack, string.unpack, string.packsize = nil, nil, nil
      _VERSION = "Lua 5.1"
      local smo = require("smobject")
      local seg = assert(smo.open({ key = %d, size = 64, create = true }))
      local _, e1 = pcall(function() seg:pack(0, "i4", 1) end)
      local _, e2 = pcall(function() seg:unpack(0, "i4") end)
      seg:close()
      io.write(e1, "\n", e2, "\n")
    ]]):format(k), ROOT .. "/" .. H.BUILD .. "/?.so;;")
    assert.is_true(ok, out)
    local file = "/probe%-this%.lua"
    -- (LuaJIT is named as such whatever _VERSION says: it sets _VERSION to "Lua 5.1" itself)
    local this = H.LUA:find("luajit", 1, true) and "LuaJIT" or "Lua 5%.1"
    assert.matches("^[^\n]*" .. file .. ":5: seg:pack needs string%.pack %(Lua 5%.3 or later%); this is " .. this .. "\n"
      .. "[^\n]*" .. file .. ":6: seg:unpack needs string%.unpack %(Lua 5%.3 or later%); this is " .. this .. "\n$", out)
  end)

  it("require('smobject') with a core built for another Lua says so in one sentence", function()
    local core = ROOT .. "/" .. H.BUILD .. "/smobject/core.so"
    local built = THIS_ABI == "5.1" and "Lua 5.1 or LuaJIT" or _VERSION
    local tried = 0
    for _, rt in ipairs(RUNTIMES) do
      if rt.abi ~= THIS_ABI and have(rt.cmd) then
        tried = tried + 1
        local out, ok = run_with(rt, "require('smobject')", ROOT .. "/" .. H.BUILD .. "/?.so;;")
        assert.is_false(ok, out)
        local this, how
        if rt.name:match("^luajit") then
          this = "LuaJIT %S+"
          how = "`make LUA=luajit`, or `make LUA=luajit2` for OpenResty's"
        else
          this = "Lua " .. rt.abi
          how = ("`make LUA=lua%s`, or `luarocks --lua-version=%s make`"):format(rt.abi, rt.abi)
        end
        local expected = ("smobject's C core (%s) was built for %s, but this interpreter is "):format(core, built)
        local first = out:match("^[^\n]*")
        if first:sub(1, #rt.cmd + 2) == rt.cmd .. ": " then first = first:sub(#rt.cmd + 3) end   -- (the interpreter's name)
        assert.are.equal(expected, first:sub(1, #expected))
        assert.matches("^" .. this .. " %(undefined symbol luaL?_[%w_]+%): build the core for this interpreter %("
          .. how:gsub("%p", "%%%0") .. "%) and put that build on package%.cpath$", first:sub(#expected + 1))
      end
    end
    if tried == 0 then pending("no runtime of another ABI is installed (make deps-matrix)") end
  end)

  it("every other runtime's core, where built, is refused the same way by the interpreters of other ABIs", function()
    local tried = 0
    for _, built in ipairs(RUNTIMES) do
      local cpath = core_for(built)
      if cpath and built.abi ~= THIS_ABI then
        local name = built.abi == "5.1" and "Lua 5.1 or LuaJIT" or ("Lua " .. built.abi)
        for _, rt in ipairs(RUNTIMES) do
          if rt.abi ~= built.abi and have(rt.cmd) then
            tried = tried + 1
            local out, ok = run_with(rt, "require('smobject')", cpath)
            assert.is_false(ok, out)
            assert.matches("smobject's C core %(" .. (ROOT .. "/" .. built.build):gsub("%p", "%%%0")
              .. "/smobject/core%.so%) was built for " .. name:gsub("%p", "%%%0") .. ", but this interpreter is ", out)
          end
        end
      end
    end
    if tried == 0 then pending("no core built for a runtime of another ABI (make LUA=lua5.3 ...)") end
  end)
end)
