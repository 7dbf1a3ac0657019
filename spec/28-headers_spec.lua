-- Real headers (issue 11, point 1): smo.cdef reads what shared headers
-- contain: object-like macros (in array sizes, expressions, other macros),
-- #if/#ifdef/#ifndef/#elif/#else/#endif, #undef, #include (not read, named
-- when a type is missing), #pragma once, #error; enums laid out as gcc
-- does; static const integers; typedefs of anything, refused only where a
-- struct member uses them; and the output of gcc -E -P of system headers.
-- Layouts are compared with gcc's, also for random declarations with
-- macros and enums; hostile preprocessor input ends in an error, never a
-- crash or a hang.
local H = require("helpers")
local smo = H.smo

local raised = H.raised

local function pick(t) return t[math.random(#t)] end

-- Every member path of layout T worth checking (members, nested members,
-- the last element of arrays), as spec/12 walks them.
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

-- The C text gcc compiles for declarations src: in C (unlike C++) a static
-- const integer is no constant expression (gcc: "variably modified at file
-- scope"), so gcc gets each one as an enum constant of the same value,
-- converted to its type as the declaration converts it.
local function as_c(src)
  local function integer(t) return not (t:find("double") or t:find("float")) end
  src = src:gsub("static const ([%w_ ]-) ([%w_]+) = ([^;]+);", function(t, n, e)
    if integer(t) then return ("enum { %s = (%s)(%s) };"):format(n, t, e) end
  end)
  src = src:gsub("\n(%s*)const ([%w_ ]-) ([%w_]+) = ([^;]+);", function(sp, t, n, e)
    return ("\n%senum { %s = (%s)(%s) };"):format(sp, n, t, e)
  end)
  return (src:gsub("\n(%s*)([%w_]+) const ([%w_]+) = ([^;]+);", function(sp, t, n, e)
    return ("\n%senum { %s = (%s)(%s) };"):format(sp, n, t, e)
  end))
end

-- figures: { { c = "C integer expression", want = integer } ... }, compiled
-- after prelude by gcc; returns the mismatches ("gcc x / smo y").
local function gcc_disagrees(name, prelude, figures)
  local lines = { "#include <stdio.h>\n#include <stddef.h>\n" .. as_c(prelude) .. "\nint main(void) {" }
  for _, f in ipairs(figures) do
    lines[#lines + 1] = ('printf("%%lld\\n", (long long)(%s));'):format(f.c)
  end
  lines[#lines + 1] = "return 0; }"
  local exe = H.compile(name, table.concat(lines, "\n"), "-std=gnu11 -w")
  local got = {}
  for l in H.sh(exe):gmatch("[^\n]+") do got[#got + 1] = l end
  assert.are.equal(#figures, #got)
  local bad = {}
  for i, f in ipairs(figures) do
    if tostring(f.want) ~= got[i] then bad[#bad + 1] = ("%s: gcc %s / smo %s"):format(f.c, got[i], tostring(f.want)) end
  end
  return bad
end

-- The figures of a struct or union: sizeof, _Alignof, every offsetof.
local function layout_figures(cname, T, out)
  out = out or {}
  out[#out + 1] = { c = ("sizeof(%s)"):format(cname), want = T.size }
  out[#out + 1] = { c = ("_Alignof(%s)"):format(cname), want = T.align }
  for _, p in ipairs(paths(T)) do
    out[#out + 1] = { c = ("offsetof(%s, %s)"):format(cname, p), want = (T:offsetof(p)) }
  end
  return out
end

local UNSIGNED = { ["unsigned char"] = true, ["unsigned short"] = true, ["unsigned int"] = true,
                   ["unsigned long"] = true }

-- The figures of an enum type: size, alignment, signedness.
local function enum_figures(cname, T, out)
  out[#out + 1] = { c = ("sizeof(%s)"):format(cname), want = T.size }
  out[#out + 1] = { c = ("_Alignof(%s)"):format(cname), want = T.align }
  out[#out + 1] = { c = ("(%s)-1 < 0"):format(cname), want = UNSIGNED[T.ctype] and 0 or 1 }
  return out
end

local function write_file(name, text)
  local path = H.tmpdir() .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- The header of the issue's telemetry bus, as a C program includes it.
local TELEMETRY = [[
/* telemetry.h: shared by the Lua producer and a C reader */
#ifndef TELEMETRY_H
#define TELEMETRY_H
#pragma once
#include <stdint.h>

#define TELEMETRY_VERSION   3
#define TELEMETRY_NSAMPLES  8          /* samples per reading */
#define TELEMETRY_NAME_LEN  (2 * TELEMETRY_NSAMPLES)
#define TELEMETRY_RING      \
        (TELEMETRY_NSAMPLES / 2)       // a continued line
#define TELEMETRY_MAGIC     "TLM1"     /* unused by any struct */
#define TELEMETRY_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TELEMETRY_UNUSED_
#undef  TELEMETRY_UNUSED_

#if TELEMETRY_NSAMPLES > 4 && defined(TELEMETRY_H)
#  define TELEMETRY_WIDE 1
#elif TELEMETRY_NSAMPLES > 2
#  define TELEMETRY_WIDE 2
#else
#  error "too few samples"
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum telemetry_state { TS_IDLE, TS_RUN = 5, TS_STOP, TS_FAULT = -1 };
typedef enum { TF_NONE = 0, TF_GPS = 1 << 0, TF_IMU = 1 << 1, TF_ALL = TF_GPS | TF_IMU } telemetry_flags;
static const int TELEMETRY_AXES = 3;
static const unsigned TELEMETRY_SLOTS = TELEMETRY_AXES * TELEMETRY_WIDE + TF_ALL;

typedef void (*telemetry_cb)(void *ctx);      /* no struct uses it */
typedef char *telemetry_str;
int telemetry_init(const char *name, telemetry_cb cb);
extern const char *telemetry_names[TELEMETRY_RING];

typedef struct {
  uint32_t seq;
  enum telemetry_state state;
  telemetry_flags flags;
  float samples[TELEMETRY_NSAMPLES];
  double axes[TELEMETRY_AXES];
  char name[TELEMETRY_NAME_LEN];
  uint8_t slots[TELEMETRY_SLOTS];
#if TELEMETRY_VERSION >= 3
  int64_t stamp_ns;
#endif
} telemetry_reading;

struct telemetry_bus {
  uint64_t generation;
  telemetry_reading ring[TELEMETRY_RING];
};

#ifdef __cplusplus
}
#endif
#endif /* TELEMETRY_H */
]]

describe("headers", function()
  teardown(H.cleanup_all)

  it("a header with #define sizes, guards, enums, static const and unused macros reads as gcc lays it out", function()
    local ns = smo.cdef(TELEMETRY, smo.scope())
    local R, Bus = ns.telemetry_reading, ns.telemetry_bus
    assert.are.equal("float[8]", R:typeof("samples").name)
    assert.are.equal("char[16]", R:typeof("name").name)
    assert.are.equal(4, Bus:typeof("ring").count)
    assert.are.equal(8, ns:constant("TELEMETRY_NSAMPLES"))
    assert.are.equal(6, ns:constant("TS_STOP"))
    assert.are.equal(6, ns:constant("TELEMETRY_SLOTS"))
    assert.is_nil(ns:constant("TELEMETRY_UNUSED_"))
    assert.are.equal("enum telemetry_state", R:typeof("state").name)
    local why = H.missing("cc") if why then pending(why) return end
    local figures = layout_figures("telemetry_reading", R)
    layout_figures("struct telemetry_bus", Bus, figures)
    enum_figures("enum telemetry_state", ns:type("enum telemetry_state"), figures)
    enum_figures("telemetry_flags", ns.telemetry_flags, figures)
    figures[#figures + 1] = { c = "TS_STOP", want = ns:constant("TS_STOP") }
    figures[#figures + 1] = { c = "TF_ALL", want = ns:constant("TF_ALL") }
    figures[#figures + 1] = { c = "TELEMETRY_SLOTS", want = ns:constant("TELEMETRY_SLOTS") }
    assert.are.same({}, gcc_disagrees("telemetry", TELEMETRY, figures))
  end)

  it("a header read twice into one scope is accepted (its guard skips the second reading)", function()
    local ns = smo.cdef(TELEMETRY, smo.scope())
    local R = ns.telemetry_reading
    assert.are.equal(ns, smo.cdef(TELEMETRY, ns))
    assert.are.equal(R, ns.telemetry_reading)
    -- without the guard, the same definitions again are the same names
    local unguarded = TELEMETRY:gsub("#ifndef TELEMETRY_H\n#define TELEMETRY_H\n", ""):gsub("#endif /%* TELEMETRY_H %*/", "")
    local ns2 = smo.cdef(unguarded, smo.scope())
    local R2 = ns2.telemetry_reading
    assert.are.equal(ns2, smo.cdef(unguarded, ns2))
    assert.are.equal(R2, ns2.telemetry_reading)
    assert.are_not.equal(R.size, R2.size)        -- TELEMETRY_WIDE depends on the guard's macro
  end)

  it("macros and constants live in the scope: later declarations and type strings use them", function()
    local ns = smo.cdef("#define NSAMPLES 8\nenum { AXES = 3 };\nstatic const int SLOTS = 2;", smo.scope())
    assert.are.equal("float[8]", ns:type("float[NSAMPLES]").name)
    assert.are.equal(8 * 3 + 2, smo.struct("char a[NSAMPLES * AXES + SLOTS];", ns).size)
    assert.are.equal(16, smo.cdef("struct later { short s[NSAMPLES]; };", ns).later.size)
    assert.are.equal(4, smo.struct({ { "x", "char[AXES + 1]" } }, ns).size)
    assert.are.equal(6, smo.array("short[AXES]", 1, ns).size)
    local child = smo.scope(ns)
    smo.cdef("#undef NSAMPLES\n#define NSAMPLES 2", child)       -- a child may undefine its parent's
    assert.are.equal(2, child:constant("NSAMPLES"))
    assert.are.equal(8, ns:constant("NSAMPLES"))
    assert.are.equal("smo.cdef: constant 'AXES' redefined differently: 4 here, 3 in its first definition (smo.cdef, line 2, column 8) at line 1, column 8",
      raised(function() smo.cdef("enum { AXES = 4 };", ns) end))
    assert.are.equal(3, ns:constant("AXES"))                       -- a failed cdef changes nothing
    assert.are.equal("bad argument #1 to 'constant' (string expected, got number)", raised(function() ns:constant(5) end))
    assert.are.equal("bad argument #1 to 'constant' ('a b' is not a C identifier)", raised(function() ns:constant("a b") end))
    assert.are.equal("bad argument #1 to 'constant' (smobject scope expected, got table)",
      raised(function() ns.constant({}, "X") end))
  end)

  it("enum fields read and write as integers in a view; values outside the enum's type raise", function()
    local ns = smo.cdef(TELEMETRY, smo.scope())
    local k = H.key()
    local seg = assert(smo.open{ key = k, size = 4096, create = true })
    finally(function() seg:close() end)
    H.track(k)
    local v = seg:view(ns.telemetry_reading)
    v.state = ns:constant("TS_RUN")
    v.flags = ns:constant("TF_ALL")
    assert.are.equal(5, v.state)
    assert.are.equal(3, v.flags)
    v.state = ns:constant("TS_FAULT")           -- an enum with a negative value is an int
    assert.are.equal(-1, v.state)
    assert.are.equal(-1, v:get().state)
    assert.matches("flags", raised(function() v.flags = -1 end))    -- unsigned int: no negative value
    seg:remove()
  end)

  it("enums: the type gcc gives (unsigned int, int, 8 bytes, packed), constants in sizes and expressions", function()
    local no64 = H.needs("integers") if no64 then pending(no64 .. " (enum constants beyond 2^53)") return end
    local src = [[
      #define BASE 10
      enum a { A0, A1, A2 };
      enum b { B0 = -3, B1, B2 = BASE * 2 };
      enum c { C0 = 0x100000000 };
      enum d { D0 = -1, D1 = 0x80000000 };
      enum e { E0 = 0xffffffff };
      enum __attribute__((packed)) f { F0, F1 = 200 };
      enum g { G0 = -129, G1 = 127 } __attribute__((packed));
      enum h { H0 = (1 << 4) - 1, H1 = H0 + BASE, H2 = sizeof(int) * A2 };
      enum { ANON_X = 7, ANON_Y };
      /* C's types: 0x80000001 is unsigned, so its negation is too; ~0u wraps; 1 << 31 is INT_MIN in gcc */
      enum u1 { U1A = -0x80000001 };
      enum u2 { U2A = ~0u, U2B = -1u / 2 };
      enum u3 { U3A = 1 << 31, U3B = -1 };
      enum u4 { U4A = 0xffffffffu + 1, U4B = (0u - 1) >> 28, U4C = -1 < 0u, U4D = -1L < 0u };
      enum u5 { U5A = 0x7fffffff + 0u, U5B = (unsigned char)-1 + (signed char)200, U5C = 2147483647 < 2147483648 };
      enum u6 { U6A = 0xffffffffffffffff / 0x100000000, U6B = -1 % 3, U6C = -7 >> 1, U6D = 5 ? -1 : 0u };
      typedef enum { T0 = -5, T1 } tenum;
      struct uses {
        char c;
        enum c big;
        enum f small;
        enum g mid;
        tenum t;
        int arr[ANON_Y];
        char name[H1];
        enum a list[A2 + 1];
        struct { enum b inner; short s; } nested;
      };
    ]]
    local ns = smo.cdef(src, smo.scope())
    assert.are.equal(8, ns:type("char[ANON_Y]").size)
    assert.are.equal(8, ns:type("enum c").size)
    assert.are.equal(1, ns:type("enum f").size)
    local why = H.missing("cc") if why then pending(why) return end
    local figures = layout_figures("struct uses", ns.uses)
    for _, e in ipairs({ "a", "b", "c", "d", "e", "f", "g", "h", "u1", "u2", "u3", "u4", "u5", "u6" }) do
      enum_figures("enum " .. e, ns:type("enum " .. e), figures)
    end
    enum_figures("tenum", ns.tenum, figures)
    for _, c in ipairs({ "A2", "B1", "B2", "C0", "D1", "E0", "F1", "G0", "H0", "H1", "H2", "ANON_Y", "T1", "U1A", "U2A",
                         "U2B", "U3A", "U3B", "U4A", "U4B", "U4C", "U4D", "U5A", "U5B", "U5C", "U6A", "U6B", "U6C", "U6D" }) do
      figures[#figures + 1] = { c = c, want = ns:constant(c) }
    end
    assert.are.same({}, gcc_disagrees("enums", src, figures))
  end)

  it("static const integers and casts size arrays as gcc does", function()
    local src = [[
      #include <stdint.h>
      static const int N = 4;
      static const uint8_t WRAP = 300;          /* 44, as C converts it */
      const short NEG = -2;
      static const long BIG = (long)N << 40;
      int const AFTER = N + 1;
      static const double NOT_AN_INTEGER = 1.5; /* no array uses it */
      struct sc {
        int a[N];
        char w[WRAP];
        char s[(unsigned char)-NEG + sizeof(uint64_t)];
        char b[BIG >> 40];
        char after[AFTER];
        char c[(int)sizeof(struct { char x[3]; })];
      };
    ]]
    local ns = smo.cdef(src, smo.scope())
    assert.are.equal(44, ns:constant("WRAP"))
    assert.are.equal(0x40000000000, ns:constant("BIG"))
    local why = H.missing("cc") if why then pending(why) return end
    local figures = layout_figures("struct sc", ns.sc)
    for _, c in ipairs({ "N", "WRAP", "NEG", "BIG", "AFTER" }) do figures[#figures + 1] = { c = c, want = ns:constant(c) } end
    assert.are.same({}, gcc_disagrees("statics", src, figures))
  end)

  it("conditionals: nested, #elif chains, #else, #undef, defined, skipped groups may hold anything", function()
    local src = [[
      #define LEVEL 2
      #if LEVEL == 1
        #error never
      #elif LEVEL == 2
        #if defined LEVEL && !defined(NOPE) /* comment in a directive */
          #define PICK 16
        #else
          #define PICK 1
        #endif
      #else
        #bogus directive in a skipped group
        int x[09]; 99999999999999999999 "unterminated
      #endif
      #ifndef PICK
      #error PICK must be defined
      #endif
      #undef LEVEL
      #ifdef LEVEL
        #error LEVEL was undefined
      #endif
      #if 0
      #if 1
      #error nested in a skipped group
      #endif
      #elif defined(PICK) ? PICK > 8 : 0
      #define WIDTH 3
      #endif
      # /* the null directive */
      # 12 "line-marker.h"
      #line 40
      #pragma GCC visibility push(default)
      struct cond { char pick[PICK]; int w[WIDTH]; };
    ]]
    local T = smo.cdef(src, smo.scope()).cond
    assert.are.equal(16 + 12, T.size)
    assert.are.equal(16, T:offsetof("w"))
  end)

  it("unused macros of any kind are ignored; a used one that is not an integer raises, naming it and its line", function()
    local ns = smo.cdef([[
      #define STR "text"
      #define FN(a, b) ((a) + (b))
      #define EMPTY
      #define FLOAT 1.5
      #define TYPE unsigned short
      #define PACKED __attribute__((packed))
      struct ok { TYPE t; EMPTY int n; } PACKED;
    ]], smo.scope())
    assert.are.equal(6, ns.ok.size)
    local cases = {
      { "#define FN(a) (a)\nstruct s { int x[FN(2)]; };",
        "smo.cdef: function-like macro 'FN' (defined at line 1) is not expanded: only macros without parameters are at line 2, column 18" },
      { "#define STR \"text\"\nstruct s { char x[STR]; };",
        "smo.cdef: expected an integer constant, got '\"text\"' (in the expansion of macro 'STR', line 1) at line 2, column 19" },
      { "#define FLOAT 1.5\nstruct s { char x[FLOAT]; };",
        "smo.cdef: floating constant '1.5' in an integer constant expression (in the expansion of macro 'FLOAT', line 1) at line 2, column 19" },
      { "#define A B\n#define B A\nstruct s { int x[A]; };",
        "smo.cdef: unknown identifier 'A' in a constant expression (macro 'A' expands to itself: A -> B -> A) (in the expansion of macro 'A', line 1) at line 3, column 18" },
      { "#define N 4\n#define N 8\n",
        "smo.cdef: macro 'N' redefined differently: '8' here, '4' at line 1 (#undef it first) at line 2, column 9" },
      { "struct s { int x[UNDEFINED]; };",
        "smo.cdef: unknown identifier 'UNDEFINED' in a constant expression at line 1, column 18" },
      { "#include <stdint.h>\nstruct s { int x[UINT8_MAX]; };",
        "smo.cdef: unknown identifier 'UINT8_MAX' in a constant expression (#include <stdint.h> (line 1) is not read: smo.cdef reads no #include; "
          .. "declare it, or give smo.cdef the output of gcc -E -P) at line 2, column 18" },
      { "#include <stdio.h>\n#include <sys/types.h>\nstruct s { pid_t p; };",
        "smo.cdef: unknown type name 'pid_t' (#include <sys/types.h> (line 2) is not read: smo.cdef reads no #include; declare it, or give smo.cdef "
          .. "the output of gcc -E -P) at line 3, column 12" },
      { "struct s { pid_t p; };",
        "smo.cdef: unknown type name 'pid_t' (it comes from <sys/types.h>, which smo.cdef does not read: declare it, or give smo.cdef the output of "
          .. "gcc -E -P) at line 1, column 12" },
      { "#error \"version\" 2 is not supported\n", "smo.cdef: #error \"version\" 2 is not supported at line 1, column 1" },
      { "#pragma pack(1)\n", "smo.cdef: '#pragma pack' is not supported (use __attribute__((packed))) at line 1, column 1" },
      { "#frobnicate\n", "smo.cdef: unknown directive '#frobnicate' at line 1, column 2" },
      { "#if 1\nstruct s { int x; };\n", "smo.cdef: #if at line 1 has no #endif at line 1, column 2" },
      { "#endif\n", "smo.cdef: #endif without #if at line 1, column 2" },
      { "#if 1\n#else\n#else\n#endif\n", "smo.cdef: #else after #else (line 2) at line 3, column 2" },
      { "#if 1 / 0\n#endif\n", "smo.cdef: #if: division by zero at line 1, column 7" },
      { "#if 99999999999999999999\n#endif\n", "smo.cdef: #if: integer constant '99999999999999999999' is too large at line 1, column 5",
        needs = "integers" },
      { "#if 0x7fffffffffffffff + 1\n#endif\n", "smo.cdef: #if: integer overflow in constant expression at line 1, column 24",
        needs = "integers" },
      { "#if 1 << 64\n#endif\n", "smo.cdef: #if: shift by 64 is out of range at line 1, column 7", needs = "integers" },
      { "#if F(1)\n#endif\n", "smo.cdef: #if: 'F(' is not supported (function-like macros are not expanded) at line 1, column 5" },
      { "#if\n#endif\n", "smo.cdef: #if with no expression at line 1, column 2" },
      { "#if (1\n#endif\n", "smo.cdef: #if: expected ')', got 'end of line' at line 1, column 7" },
    }
    for _, c in ipairs(cases) do
      if c.needs and H.needs(c.needs) then   -- (beyond 2^53: double runtimes refuse the constant, naming their limit)
        assert.has_error(function() smo.cdef(c[1], smo.scope()) end, nil, c[1])
      else
        assert.are.equal(c[2], raised(function() smo.cdef(c[1], smo.scope()) end), c[1])
      end
    end
    -- #if computes in intmax_t and uintmax_t, as C does (64-bit integers: 5.3+)
    if not H.needs("integers") then
      assert.is_not_nil(smo.cdef("#if -1 < 0u\n#error signed\n#endif\n#if 0xffffffffffffffff != -1\n#error width\n#endif\n"
        .. "#if (~0u >> 63) != 1 || (1 << 40) == 0\n#error 64-bit\n#endif\n", smo.scope()))
    end
    -- #if 0 && 1/0 is not evaluated, as in C
    assert.is_not_nil(smo.cdef("#if 0 && 1 / 0\n#error no\n#endif\n#if 1 || 1 / 0\n#else\n#error no\n#endif\n", smo.scope()))
  end)

  it("typedefs of anything are accepted; a member that uses an unsupported one raises, naming member and type", function()
    local ns = smo.cdef([[
      typedef void *handle_t;
      typedef void (*callback_t)(int, void *);
      typedef long double real_t;
      typedef int word_t __attribute__((__mode__(__word__)));
      typedef __int128 huge_t;
      typedef struct opaque opaque_t;
      typedef struct node { struct node *next; int v; } node_t;
      typedef struct { int bits : 3; } bits_t;
      struct fine { int x; };
    ]], smo.scope())
    assert.are.equal(4, ns.fine.size)
    local cases = {
      { "struct u { handle_t h; };", "smo.cdef: 'struct u' is not supported: member 'h' has type 'handle_t', which is not supported: "
        .. "pointer '*' is not supported (an address means nothing in another process) (smo.cdef, line 1, column 20) at line 1, column 21" },
      { "struct u { int n; callback_t cb; };", "smo.cdef: 'struct u' is not supported: member 'cb' has type 'callback_t', which is "
        .. "not supported: '(' in a declarator is not supported (function pointers mean nothing in another process) "
        .. "(smo.cdef, line 2, column 20) at line 1, column 30" },
      { "struct u { real_t r; };", "smo.cdef: 'struct u' is not supported: member 'r' has type 'real_t', which is not supported: "
        .. "'long double' is not supported (smo.cdef, line 3, column 15) at line 1, column 19" },
      { "struct u { word_t w; };", "smo.cdef: 'struct u' is not supported: member 'w' has type 'word_t', which is not supported: "
        .. "attribute '__mode__' is not supported (smo.cdef, line 4, column 41) at line 1, column 19" },
      { "struct u { huge_t h; };", "smo.cdef: 'struct u' is not supported: member 'h' has type 'huge_t', which is not supported: "
        .. "'__int128' is not supported (smo.cdef, line 5, column 15) at line 1, column 19" },
      { "struct u { opaque_t o; };", "smo.cdef: 'struct u' is not supported: member 'o' has type 'opaque_t', which is not supported: "
        .. "unknown type 'struct opaque' (smo.cdef, line 6, column 15) at line 1, column 21" },
      { "struct u { node_t n; };", "smo.cdef: 'struct u' is not supported: member 'n' has type 'node_t', which is not supported: "
        .. "member 'next': pointer '*' is not supported (an address means nothing in another process) (smo.cdef, line 7, column 41) at line 1, column 19" },
      { "struct u { bits_t b; };", "smo.cdef: 'struct u' is not supported: member 'b' has type 'bits_t', which is not supported: "
        .. "member 'bits': bitfield 'bits' is not supported (smo.cdef, line 8, column 33) at line 1, column 19" },
    }
    for _, c in ipairs(cases) do
      local inner = smo.scope(ns)
      smo.cdef(c[1], inner)                                  -- the declaration is read ...
      assert.are.equal(c[2], raised(function() return inner.u end), c[1])   -- ... and refused when used
      assert.are.equal(c[2]:gsub("^smo.cdef: 'struct u' is not supported: ", "smo.struct: "):gsub(" at line 1, column %d+$", "")
        .. c[2]:match(" at line 1, column %d+$"), raised(function() smo.struct(c[1], ns) end), c[1])
    end
    assert.are.equal("smo.cdef: 'handle_t' is not supported: pointer '*' is not supported (an address means nothing in another process) at line 1, column 20",
      raised(function() return ns.handle_t end))
    assert.are.equal("type: type 'handle_t' is not supported: pointer '*' is not supported (an address means nothing in another process) (smo.cdef, "
      .. "line 1, column 20) at line 1, column 1",
      raised(function() return ns:type("handle_t[2]") end))
    local names = {}
    for name in H.pairs(ns) do names[#names + 1] = name end
    assert.are.same({ "fine" }, names)                        -- pairs lists what has a layout
  end)

  it("reads gcc -E -P (and gcc -E) output of <stdint.h>, <sys/types.h>, <stddef.h>, <stdbool.h>, <time.h>", function()
    local why = H.missing("cc") if why then pending(why) return end
    local header = [[
      #include <stdint.h>
      #include <sys/types.h>
      #include <stddef.h>
      #include <stdbool.h>
      #include <time.h>
      #define NS 4
      enum rec_kind { REC_A = 1, REC_B };
      struct rec {
        int64_t a; time_t t; pid_t p; uid_t u; off_t o; size_t n; ssize_t s; bool ok;
        uint8_t b[NS]; struct timespec ts; clockid_t c; fsid_t f; ptrdiff_t d; wchar_t w;
        int_least16_t l; uint_fast32_t fast; intmax_t m; __sigset_t set; enum rec_kind kind;
      };
    ]]
    local path = write_file("rec.h", header)
    for _, flags in ipairs({ "-E -P", "-E" }) do
      local text = H.sh("cc " .. flags .. " " .. path)
      assert.matches("__timer_t", text)
      local ns = smo.cdef(text, smo.scope())
      local figures = layout_figures("struct rec", ns.rec)
      layout_figures("struct timespec", ns.timespec, figures)
      layout_figures("fd_set", ns.fd_set, figures)
      layout_figures("pthread_attr_t", ns.pthread_attr_t, figures)
      layout_figures("fsid_t", ns.fsid_t, figures)
      layout_figures("sigset_t", ns.sigset_t, figures)
      -- glibc's mutex holds a list of pointers: refused where used, saying where
      assert.matches("^smo%.cdef: 'pthread_mutex_t' is not supported: member '__data' has type 'struct __pthread_mutex_s', "
        .. "which is not supported: member '__list' has type '__pthread_list_t', which is not supported: member '__prev': "
        .. "pointer '%*' is not supported", raised(function() return ns.pthread_mutex_t end))
      assert.are.same({}, gcc_disagrees("gcc_e", header, figures), flags)
      assert.matches("'struct tm' is not supported: member 'tm_zone': pointer", raised(function() return ns.tm end))
      assert.matches("'timer_t' is not supported: pointer", raised(function() return ns.timer_t end))
    end
    -- more of glibc: everything reads, what a struct uses is laid out as gcc does
    local more = [[
      #include <stdio.h>
      #include <stdlib.h>
      #include <string.h>
      #include <pthread.h>
      #include <signal.h>
      #include <stdatomic.h>
      #include <sys/socket.h>
      #include <netinet/in.h>
      #include <sys/stat.h>
      #include <sys/time.h>
      #include <unistd.h>
      #include <math.h>
      #include <sys/timex.h>                   /* unnamed bitfields */
      #include <sys/sysinfo.h>                 /* a zero-length array */
      struct net { struct sockaddr_in a; struct sockaddr_storage ss; struct in6_addr s6; pthread_attr_t at;
                   struct timeval tv; sigset_t set; struct stat st; };
    ]]
    local ns = smo.cdef(H.sh("cc -E -P " .. write_file("more.h", more)), smo.scope())
    assert.are.same({}, gcc_disagrees("gcc_e_more", more, layout_figures("struct net", ns.net)))
    assert.matches("'atomic_int' is not supported: '_Atomic' is not supported", raised(function() return ns.atomic_int end))
    assert.matches("'struct timex' is not supported: an unnamed bitfield is not supported", raised(function() return ns.timex end))
    assert.matches("'struct sysinfo' is not supported: member '_f': array '_f' needs a positive size, got 0",
      raised(function() return ns.sysinfo end))
    -- the header itself (includes not read) names the include a type needs
    assert.matches("unknown type name 'time_t' %(#include <time%.h> %(line 5%) is not read",
      raised(function() smo.cdef(header, smo.scope()) end))
  end)

  it("equal gcc's for 200 random declarations with macros, enums, static consts and #if", function()
    local why = H.missing("cc") if why then pending(why) return end
    local seed = tonumber(os.getenv("SMO_SEED")) or 20261201
    math.randomseed(seed)
    local SCALARS = { "char", "unsigned char", "short", "int", "unsigned", "long", "long long", "int8_t", "uint16_t",
                      "int32_t", "uint64_t", "size_t", "float", "double", "bool" }
    local lines, consts, enums, structs = {}, {}, {}, {}
    -- constants (macros, enum constants, static consts) with their values, all 1..8
    local function size_expr()
      if #consts == 0 or math.random(4) == 1 then return tostring(math.random(1, 6)) end
      local c = pick(consts)
      local r = math.random(6)
      if r == 1 then return ("(%s + 1)"):format(c.name), c.v + 1 end
      if r == 2 and c.v <= 4 then return ("%s * 2"):format(c.name), c.v * 2 end
      if r == 3 then return ("(%s %% 3 + 1)"):format(c.name), c.v % 3 + 1 end
      if r == 4 and c.v > 1 then return ("(%s - 1)"):format(c.name), c.v - 1 end
      if r == 5 then return ("(%s > 3 ? 2 : %s)"):format(c.name, c.name), c.v > 3 and 2 or c.v end
      return c.name, c.v
    end
    local function value_of(e) return H.to_integer(tonumber(e)) end
    local function add_const(name, e, v)
      consts[#consts + 1] = { name = name, v = v or value_of(e) }
    end
    for i = 1, 200 do
      local r = math.random(10)
      if r <= 2 then
        local e, v = size_expr()
        local cont = math.random(4) == 1 and " \\\n   " or " "
        lines[#lines + 1] = ("#define M%d%s%s /* c */"):format(i, cont, e)
        add_const("M" .. i, e, v)
      elseif r == 3 then
        local e, v = size_expr()
        lines[#lines + 1] = ("static const %s K%d = %s;"):format(pick({ "int", "unsigned", "long", "short", "uint8_t" }), i, e)
        add_const("K" .. i, e, v)
      elseif r <= 5 then
        -- an enum: explicit, implicit, negative, large or expression values
        local items = {}
        local v = -1
        for j = 1, math.random(1, 5) do
          local name = ("E%d_%d"):format(i, j)
          local k = math.random(9)
          if k == 9 then
            -- C's unsigned and int types at work; last, as no successor may follow ~0u
            items[j] = ("%s = %s"):format(name, pick({ "~0u", "-1u / 2", "0x80000000", "1 << 31", "-0x80000001",
              "0xffffffffu + 1", "(unsigned char)-1", "-(2u)", "(int)0x80000000u", "-1L * 0x80000000" }))
            break
          elseif k == 1 then
            v = -math.random(1, 300)
            items[j] = ("%s = %d"):format(name, v)
          elseif k == 2 then
            v = 0x100000000 + math.random(0, 9)
            items[j] = ("%s = %d"):format(name, v)
          elseif k == 3 then
            v = math.random(0, 70000)
            items[j] = ("%s = %d"):format(name, v)
          elseif k == 4 then
            local e, ev = size_expr()
            v = ev or value_of(e)
            items[j] = ("%s = %s"):format(name, e)
          else
            v = v + 1
            items[j] = name
          end
          if v >= 1 and v <= 8 then consts[#consts + 1] = { name = name, v = v } end
        end
        local packed = math.random(5) == 1 and " __attribute__((packed))" or ""
        if math.random(3) == 1 then
          lines[#lines + 1] = ("typedef enum {%s }%s T%d;"):format(table.concat(items, ","), packed, i)
          enums[#enums + 1] = "T" .. i
        else
          lines[#lines + 1] = ("enum E%d {%s }%s;"):format(i, table.concat(items, ","), packed)
          enums[#enums + 1] = "enum E" .. i
        end
      else
        local members = {}
        for j = 1, math.random(1, 6) do
          local t
          local k = math.random(10)
          if k <= 3 and #enums > 0 then t = pick(enums)
          elseif k == 4 and #structs > 0 then t = pick(structs)
          else t = pick(SCALARS) end
          local dims = ""
          for _ = 1, (math.random(3) == 1 and math.random(2) or 0) do dims = dims .. "[" .. (size_expr()) .. "]" end
          local m = ("%s m%d%s;"):format(t, j, dims)
          if math.random(8) == 1 and #consts > 0 then
            local c = pick(consts)
            m = ("\n#if %s > 3\n  %s\n#else\n  char alt%d[%s];\n#endif\n"):format(c.name, m, j, c.name)
          end
          members[#members + 1] = m
        end
        local kw = math.random(6) == 1 and "union" or "struct"
        lines[#lines + 1] = ("%s S%d { %s };"):format(kw, i, table.concat(members, " "))
        structs[#structs + 1] = kw .. " S" .. i
      end
    end
    local src = "#include <stdint.h>\n#include <stddef.h>\n#include <stdbool.h>\n" .. table.concat(lines, "\n") .. "\n"
    local ns = smo.cdef(src, smo.scope())
    local figures = {}
    for _, s in ipairs(structs) do layout_figures(s, ns:type(s), figures) end
    for _, e in ipairs(enums) do enum_figures(e, ns:type(e), figures) end
    for _, c in ipairs(consts) do figures[#figures + 1] = { c = c.name, want = ns:constant(c.name) } end
    assert.is_true(#figures > 500, "only " .. #figures .. " figures")
    assert.are.same({}, gcc_disagrees("random_headers", src, figures), "seed " .. seed)
  end)

  it("hostile preprocessor input ends in an error, never a crash or a hang", function()
    -- deep nesting of conditionals, of parentheses in #if, long continued lines
    assert.is_not_nil(smo.cdef(("#if 1\n"):rep(20000) .. "struct deep_if { int x; };\n" .. ("#endif\n"):rep(20000), smo.scope()).deep_if)
    assert.is_not_nil(smo.cdef(("#if 0\n"):rep(20000) .. ("#endif\n"):rep(20000), smo.scope()))
    assert.are.equal("smo.cdef: #if: constant expression nested too deeply at line 1, column 205",
      raised(function() smo.cdef("#if " .. ("("):rep(100000) .. "1" .. (")"):rep(100000) .. "\n#endif", smo.scope()) end))
    assert.is_not_nil(smo.cdef("#define LONG 1" .. (" \\\n + 1"):rep(5000) .. "\nstruct cont { char c[LONG]; };", smo.scope()))
    assert.are.equal(300001, smo.cdef("#define N " .. ("1+"):rep(300000) .. "1\n#if " .. ("1+"):rep(300000)
      .. "1\nstruct wide { char c[N]; };\n#endif\n", smo.scope()).wide.size)
    -- many comments over many lines: linear (the lexer once copied the text before each one)
    local t0 = os.clock()
    assert.are.equal(4, smo.cdef(("/* a\n comment */\n"):rep(50000) .. "struct after_comments { int x; };", smo.scope())
      .after_comments.size)
    assert.is_true(os.clock() - t0 < 5, "50000 comments took " .. (os.clock() - t0) .. " s")
    -- recursive and exponential macros
    assert.matches("expands to itself: X %-> X", raised(function() smo.cdef("#define X X\nstruct x { int v[X]; };", smo.scope()) end))
    local boom = { "#define A0 1" }
    for i = 1, 40 do boom[#boom + 1] = ("#define A%d A%d A%d"):format(i, i - 1, i - 1) end
    assert.are.equal("smo.cdef: macro expansion too large (more than 1000000 tokens, expanding 'A40') at line 42, column 18",
      raised(function() smo.cdef(table.concat(boom, "\n") .. "\nstruct b { int v[A40]; };", smo.scope()) end))
    local cycle = {}
    for i = 1, 500 do cycle[i] = ("#define C%d C%d"):format(i, i % 500 + 1) end
    assert.matches("expands to itself: C1 %-> C2 %-> .* %-> C500 %-> C1",
      raised(function() smo.cdef(table.concat(cycle, "\n") .. "\nstruct c { int v[C1]; };", smo.scope()) end))
    -- random soup: a scope or one of our errors, with its position
    local seed = tonumber(os.getenv("SMO_SEED")) or 20261203
    math.randomseed(seed)
    local words = { "#define", "#if", "#ifdef", "#ifndef", "#elif", "#else", "#endif", "#undef", "#include <x.h>",
                    "#error", "#pragma once", "#pragma pack", "#", "A", "B", "F(", "(", ")", "1", "0", "-", "/", "%",
                    "<<", "64", "defined", "&&", "||", "!", "?", ":", "\\\n", "/*", "*/", "\n", "\n", "\n", ",",
                    "struct s { int x[A]; };", "enum e { P = A, Q };", "static const int C = B;", "enum {", "}", ";",
                    "99999999999999999999", "'a'", '"s"', "1.5", "typedef", "int", "*", "[", "]", "sizeof", "(int)",
                    "__attribute__((packed))", "0x7fffffffffffffff", "#define A B", "#define B A", "#define F(x) x" }
    local bad = {}
    t0 = os.clock()
    for _ = 1, 3000 do
      local soup = {}
      for j = 1, math.random(1, 30) do soup[j] = pick(words) end
      local src = table.concat(soup, " ")
      local ok, res = pcall(smo.cdef, src, smo.scope())
      if not ok then
        local msg = type(res) == "string" and res:gsub("^[^:]*:%d+: ", "")
        if not msg or not msg:match("^smo%.cdef: .* at line %d+, column %d+$") then
          bad[#bad + 1] = ("%q -> %s"):format(src, tostring(res))
        end
      end
    end
    assert.are.same({}, bad, "seed " .. seed)
    assert.is_true(os.clock() - t0 < 60, "the soup took " .. (os.clock() - t0) .. " s")
  end)
end)
