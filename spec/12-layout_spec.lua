-- Layouts equal gcc's: many random declarations, compiled by gcc, every
-- sizeof, _Alignof and offsetof compared with smo.struct / smo.cdef.
local H = require("spec.helpers")
local smo = H.smo

local SCALARS = {
  "char", "signed char", "unsigned char", "short", "unsigned short", "short int", "int", "unsigned",
  "unsigned int", "signed", "long", "unsigned long", "long int", "long long", "unsigned long long",
  "long long int", "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t",
  "uint64_t", "size_t", "ssize_t", "intptr_t", "uintptr_t", "float", "double", "_Bool", "bool",
}
local ALIGNS = { 1, 2, 4, 8, 16, 32 }

local function pick(t) return t[math.random(#t)] end

-- Random declarations as C text; names of the named types made so far.
local function generate(n)
  local decls, named, counter = {}, {}, 0
  local function member_name()
    counter = counter + 1
    return "m" .. counter
  end
  local function dims()
    local d = ""
    local k = math.random(10) <= 6 and 0 or math.random(3)
    for _ = 1, k do d = d .. "[" .. math.random(1, 4) .. "]" end
    return d
  end
  local body
  local function member(depth)
    local r = math.random(100)
    local pre, post = "", ""
    if math.random(12) == 1 then post = " __attribute__((aligned(" .. pick(ALIGNS) .. ")))" end
    if r <= 70 or depth >= 3 then
      local t = pick(SCALARS)
      if math.random(8) == 1 then   -- _Alignas may raise alignment, never lower it (gcc refuses)
        local a = pick(ALIGNS)
        if a >= smo.struct(t .. " x;").align then pre = "_Alignas(" .. a .. ") " end
      end
      return pre .. t .. " " .. member_name() .. dims() .. post .. ";"
    elseif r <= 80 and #named > 0 then
      return pick(named) .. " " .. member_name() .. dims() .. post .. ";"
    elseif r <= 90 then
      -- anonymous struct or union member
      return (math.random(2) == 1 and "struct" or "union") .. " { " .. body(depth + 1) .. " };"
    else
      return (math.random(2) == 1 and "struct" or "union") .. " { " .. body(depth + 1) .. " } "
        .. member_name() .. dims() .. ";"
    end
  end
  function body(depth)
    local parts = {}
    for _ = 1, math.random(1, 6) do parts[#parts + 1] = member(depth) end
    return table.concat(parts, " ")
  end
  for i = 1, n do
    local kw = math.random(6) == 1 and "union" or "struct"
    local name = ("%s S%d"):format(kw, i)
    local attr_before, attr_after = "", ""
    if math.random(5) == 1 then attr_before = "__attribute__((packed)) " end
    if math.random(6) == 1 then attr_after = " __attribute__((aligned(" .. pick(ALIGNS) .. ")))" end
    if math.random(8) == 1 then attr_after = attr_after .. " __attribute__((__packed__))" end
    decls[#decls + 1] = ("%s %sS%d { %s }%s;"):format(kw, attr_before, i, body(1), attr_after)
    named[#named + 1] = name
  end
  return table.concat(decls, "\n")
end

-- Every member path of layout T worth checking: members, nested members,
-- the last element of arrays.
local function paths(T, prefix, out, depth)
  out = out or {}
  depth = depth or 0
  if depth > 4 then return out end
  if T.kind == "struct" or T.kind == "union" then
    for _, m in ipairs(T:members()) do
      local p = prefix and (prefix .. "." .. m.name) or m.name
      out[#out + 1] = p
      paths(m.type, p, out, depth + 1)
    end
  elseif T.kind == "array" then
    local p = prefix .. "[" .. (T.count - 1) .. "]"
    out[#out + 1] = p
    paths(T.elem, p, out, depth + 1)
  end
  return out
end

describe("layouts", function()
  teardown(H.cleanup_all)

  it("equal gcc's for 300 random declarations (sizeof, _Alignof, every offsetof)", function()
    local seed = tonumber(os.getenv("SMO_SEED")) or 20261122
    math.randomseed(seed)
    local src = generate(300)
    local types = smo.cdef(src)
    local lines, expected = {}, {}
    lines[#lines + 1] = "#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n"
    lines[#lines + 1] = "#include <sys/types.h>\n" .. src .. "\nint main(void) {"
    for i = 1, 300 do
      local T = types["S" .. i]
      assert.is_not_nil(T, "S" .. i)
      local cname = (T.kind == "union" and "union" or "struct") .. " S" .. i
      lines[#lines + 1] = ('printf("S%d sizeof %%zu\\n", sizeof(%s));'):format(i, cname)
      lines[#lines + 1] = ('printf("S%d alignof %%zu\\n", _Alignof(%s));'):format(i, cname)
      expected[#expected + 1] = ("S%d sizeof %d"):format(i, T.size)
      expected[#expected + 1] = ("S%d alignof %d"):format(i, T.align)
      for _, p in ipairs(paths(T)) do
        lines[#lines + 1] = ('printf("S%d %s %%zu\\n", offsetof(%s, %s));'):format(i, p, cname, p)
        expected[#expected + 1] = ("S%d %s %d"):format(i, p, (T:offsetof(p)))
      end
    end
    lines[#lines + 1] = "return 0; }"
    local why = H.missing("cc") if why then pending(why) return end
    local exe = H.compile("layouts", table.concat(lines, "\n"), "-std=gnu11 -w")
    local out = H.sh(exe)
    local got = {}
    for l in out:gmatch("[^\n]+") do got[#got + 1] = l end
    assert.are.equal(#expected, #got)
    local mismatches = {}
    for i = 1, #expected do
      if expected[i] ~= got[i] then mismatches[#mismatches + 1] = ("gcc: %s / smo: %s"):format(got[i], expected[i]) end
    end
    assert.are.same({}, mismatches, "seed " .. seed)
    assert.is_true(#expected > 1500, "only " .. #expected .. " figures compared")
  end)

  it("equal gcc's for the documented kinds of declaration", function()
    local src = [[
      struct pose { double x, y; int32_t seq; char name[16]; };
      struct packed_s { char c; int i; double d; } __attribute__((packed));
      struct __attribute__((packed)) packed_before { char c; short s; };
      struct aligned_s { char c; } __attribute__((aligned(16)));
      struct member_aligned { char c; int i __attribute__((aligned(8))); _Alignas(16) char d; };
      struct nested { struct pose p; struct packed_s q[2]; union { int a; double b; }; struct { char e, f; } g; };
      union u { char c[5]; int i; double d; };
      struct multi { float m[3][4]; uint8_t b[2][3][5]; };
      struct quals { const volatile int a; unsigned long long int b; signed short int c; long int d; };
      typedef struct { uint16_t a; struct pose p; } wrapped;
    ]]
    local types = smo.cdef(src)
    local checks = {
      { "struct pose", types.pose }, { "struct packed_s", types.packed_s }, { "struct packed_before", types.packed_before },
      { "struct aligned_s", types.aligned_s }, { "struct member_aligned", types.member_aligned },
      { "struct nested", types.nested }, { "union u", types.u }, { "struct multi", types.multi },
      { "struct quals", types.quals }, { "wrapped", types.wrapped },
    }
    local lines, expected = { "#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n" .. src .. "\nint main(void) {" }, {}
    for _, c in ipairs(checks) do
      local T = c[2]
      lines[#lines + 1] = ('printf("%%zu %%zu\\n", sizeof(%s), _Alignof(%s));'):format(c[1], c[1])
      expected[#expected + 1] = ("%d %d"):format(T.size, T.align)
      for _, p in ipairs(paths(T)) do
        lines[#lines + 1] = ('printf("%%zu\\n", offsetof(%s, %s));'):format(c[1], p)
        expected[#expected + 1] = tostring((T:offsetof(p)))
      end
    end
    lines[#lines + 1] = "return 0; }"
    local why = H.missing("cc") if why then pending(why) return end
    local exe = H.compile("layouts2", table.concat(lines, "\n"), "-std=gnu11 -w")
    local got = {}
    for l in H.sh(exe):gmatch("[^\n]+") do got[#got + 1] = l end
    assert.are.same(expected, got)
  end)
end)
