-- One declaration shared by a C program and Lua, in separate processes:
-- C writes every field and Lua reads it back exactly, and the reverse.
local H = require("spec.helpers")
local smo = H.smo

local DECL = [[
struct gps { double lat, lon; float alt; };
struct telemetry {
  uint32_t seq;
  int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
  int64_t i64; uint64_t u64;
  char c; signed char sc; unsigned char uc; short s; unsigned short us; int i; unsigned int ui;
  long l; unsigned long ul; long long ll; unsigned long long ull;
  size_t sz; ssize_t ssz; intptr_t ip; uintptr_t uip;
  float f; double d; _Bool b;
  char name[12];
  struct gps fix;
  struct gps track[3];
  int16_t grid[2][3];
  union { int32_t as_int; float as_float; };
  struct { uint8_t r, g, b; } __attribute__((packed)) color;
} __attribute__((aligned(8)));
]]

-- Every leaf field with the value C writes (and Lua then writes back).
local FIELDS = {
  { "seq", 7 }, { "i8", -100 }, { "u8", 200 }, { "i16", -30000 }, { "u16", 60000 }, { "i32", -2000000000 },
  -- (64-bit values beyond 2^53 only where integers are 64-bit: doubles hold +-2^53)
  { "u32", 4000000000 }, { "i64", H.INTEGERS and -9000000000000000000 or -9000000000000000 },
  { "u64", H.INTEGERS and -1 or 2 ^ 53 }, { "c", -5 }, { "sc", -6 },
  { "uc", 250 }, { "s", -7 }, { "us", 65000 }, { "i", -8 }, { "ui", 4000000001 }, { "l", -9 }, { "ul", 10 },
  { "ll", -11 }, { "ull", 12 }, { "sz", 13 }, { "ssz", -14 }, { "ip", -15 }, { "uip", 16 }, { "f", 1.5 },
  { "d", -2.25 }, { "b", true }, { "name", "telemetry" }, { "fix.lat", 51.5 }, { "fix.lon", -0.125 },
  { "fix.alt", 35.5 }, { "track[0].lat", 1 }, { "track[2].lon", 2 }, { "track[1].alt", 3 },
  { "grid[0][0]", 1 }, { "grid[1][2]", -2 }, { "as_int", 1078530011 }, { "color.r", 1 }, { "color.g", 2 },
  { "color.b", 3 },
}

local function c_literal(v)
  if type(v) == "string" then return nil end
  if v == true then return "1" end
  if H.is_integer(v) then
    if v == -1 then return "18446744073709551615ULL" end
    if v < -2147483648 or v > 2147483647 then return ("%dLL"):format(v) end
  end
  return tostring(v)
end

local function c_program(header)
  local writes, prints = {}, {}
  for _, f in ipairs(FIELDS) do
    if type(f[2]) == "string" then
      writes[#writes + 1] = ('strcpy(p->%s, "%s");'):format(f[1], f[2])
      prints[#prints + 1] = ('printf("[\\"%s\\"] = \\"%%s\\",\\n", p->%s);'):format(f[1], f[1])
    else
      writes[#writes + 1] = ("p->%s = %s;"):format(f[1], c_literal(f[2]))
      local fmt = "%.17g"
      if type(f[2]) == "boolean" then fmt = "%d"
      elseif H.is_integer(f[2]) then fmt = "%lld" end
      local cast = fmt == "%.17g" and "(double)" or "(long long)"
      prints[#prints + 1] = ('printf("[\\"%s\\"] = %s,\\n", %sp->%s);'):format(f[1], fmt, cast, f[1])
    end
  end
  return ([[
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>
#include "%s"
int main(int argc, char **argv) {
  int id = shmget(ftok(argv[2], 'T'), sizeof(struct telemetry), 0);
  struct telemetry *p;
  (void)argc;
  if (id < 0) { perror("shmget"); return 1; }
  p = shmat(id, NULL, 0);
  if (p == (void *)-1) { perror("shmat"); return 1; }
  if (strcmp(argv[1], "write") == 0) {
    memset(p, 0, sizeof *p);
    %s
  } else {
    printf("return {\n");
    %s
    printf("}\n");
  }
  shmdt(p);
  return 0;
}
]]):format(header, table.concat(writes, "\n    "), table.concat(prints, "\n    "))
end


if H.missing("cc") then   -- every test here runs a C peer
  describe("views shared with a C process", function() pending(H.missing("cc")) end)
  return
end

describe("struct views shared with C", function()
  local exe, T, path
  setup(function()
    local dir = H.tmpdir()
    local header = dir .. "/telemetry.h"
    local f = assert(io.open(header, "w"))
    f:write(DECL)
    f:close()
    exe = H.compile("telemetry", c_program(header), "-std=gnu11")
    T = smo.cdef(DECL).telemetry
    path = dir
  end)
  after_each(H.cleanup)
  teardown(H.cleanup_all)

  it("sizeof agrees", function()
    local probe = H.compile("tsize", ('#include <stdint.h>\n#include <stdio.h>\n#include <sys/types.h>\n#include "%s"\n'
      .. 'int main(void) { printf("%%zu %%zu", sizeof(struct telemetry), _Alignof(struct telemetry)); return 0; }')
      :format(H.tmpdir() .. "/telemetry.h"), "-std=gnu11")
    assert.are.equal(("%d %d"):format(T.size, T.align), H.sh(probe))
  end)

  it("Lua reads exactly what a C process wrote to every field", function()
    H.track(smo.key(path, "T"))
    local seg = assert(smo.open{ path = path, proj = "T", size = T.size, create = true })
    local out, ok = H.sh(exe .. " write " .. path)
    assert.is_true(ok, out)
    local v = seg:view(T)
    for _, f in ipairs(FIELDS) do
      local got = H.load("local v = ...; return v." .. f[1])(v)
      if f[1] == "f" or f[1]:match("alt") then
        assert.are.equal(H.float32(f[2]), got, f[1])
      else
        assert.are.equal(f[2], got, f[1])
      end
    end
    assert.are.equal(1078530011, v.as_int)
    assert.are.equal(H.unpack_f32(H.pack("i4", 1078530011)), v.as_float)  -- the same bytes
    seg:close()
  end)

  it("a C process reads exactly what Lua wrote to every field", function()
    H.track(smo.key(path, "T"))
    local seg = assert(smo.open{ path = path, proj = "T", size = T.size, create = true })
    local v = seg:view(T)
    for _, f in ipairs(FIELDS) do H.load("local v, x = ...; v." .. f[1] .. " = x")(v, f[2]) end
    local out, ok = H.sh(exe .. " read " .. path)
    assert.is_true(ok, out)
    local got = H.load(out)()
    for _, f in ipairs(FIELDS) do
      local want = f[2]
      if want == true then want = 1 end
      if f[1] == "f" or f[1]:match("alt") then want = H.float32(want) end
      assert.are.equal(want, got[f[1]], f[1])
    end
    seg:close()
  end)
end)
