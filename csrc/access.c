/***
@module smobject
*/

/*
 * Data access: bytes (read, write, fill) and C scalars (get, set), every
 * access bounds-checked against the kernel's size of the segment.
 *
 * get/set are the hot path: a handle is recognised by its magic number and
 * the userdata's exact size (check_seg in handle.h, no metatable lookup),
 * and the C type name by the address of its interned string in a small
 * per-state probe table (access.h).
 */
#include <float.h>
#include <stddef.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "access.h"
#include "areas.h"

/* C type names and their representation on this machine. */
typedef struct ctype_name {
  const char *name;
  int code;
  size_t align;   /* _Alignof inside a struct, as gcc lays it out */
} ctype_name;

/* Alignment of T as a struct member on this machine. */
#define ALIGN_OF(T) offsetof(struct { char c; T t; }, t)

#define INT_CODE(T) ((T)-1 < (T)1 ? (sizeof(T) == 1 ? CT_I8 : sizeof(T) == 2 ? CT_I16 : sizeof(T) == 4 ? CT_I32 : CT_I64) \
                               : (sizeof(T) == 1 ? CT_U8 : sizeof(T) == 2 ? CT_U16 : sizeof(T) == 4 ? CT_U32 : CT_U64))

static const ctype_name ctype_names[] = {
#define E(name, T) { name, INT_CODE(T), ALIGN_OF(T) }
  E("int8_t", int8_t), E("uint8_t", uint8_t), E("int16_t", int16_t), E("uint16_t", uint16_t),
  E("int32_t", int32_t), E("uint32_t", uint32_t), E("int64_t", int64_t), E("uint64_t", uint64_t),
  E("char", char), E("signed char", signed char), E("unsigned char", unsigned char),
  E("short", short), E("short int", short), E("signed short", short),
  E("unsigned short", unsigned short), E("unsigned short int", unsigned short),
  E("int", int), E("signed", int), E("signed int", int),
  E("unsigned int", unsigned), E("unsigned", unsigned),
  E("long", long), E("long int", long), E("signed long", long),
  E("unsigned long", unsigned long), E("unsigned long int", unsigned long),
  E("long long", long long), E("long long int", long long), E("signed long long", long long),
  E("unsigned long long", unsigned long long), E("unsigned long long int", unsigned long long),
  E("size_t", size_t), E("ssize_t", ssize_t), E("intptr_t", intptr_t), E("uintptr_t", uintptr_t),
#undef E
  { "float", CT_F32, ALIGN_OF(float) }, { "double", CT_F64, ALIGN_OF(double) },
  { "bool", CT_BOOL, ALIGN_OF(_Bool) }, { "_Bool", CT_BOOL, ALIGN_OF(_Bool) },
  { NULL, 0, 0 }
};

const unsigned char ctype_width[CT_COUNT] = { 1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 1 };

void raise_ctype(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TSTRING) smo_typeerror(L, idx, "C type name");
  smo_pushf(L, "unknown C type '%s'", lua_tostring(L, idx));
  luaL_argerror(L, idx, lua_tostring(L, -1));
  __builtin_unreachable();   /* luaL_ errors longjmp */
}

void raise_span(lua_State *L, const smo_seg *h, int idx, lua_Integer off, size_t width) {
  smo_pushf(L, "offset %lld out of range (%lld-byte access in a %lld-byte segment)",
            (long long)off, (long long)width, (long long)h->size);
  luaL_argerror(L, idx, lua_tostring(L, -1));
  __builtin_unreachable();   /* luaL_ errors longjmp */
}

/* check_span for what is not a Lua integer. */
size_t span_slow(lua_State *L, const smo_seg *h, int idx, size_t width) {
  lua_Integer off = smo_checkinteger(L, idx, "integer offset");
  if (off < 0 || width > h->size || (size_t)off > h->size - width) raise_span(L, h, idx, off, width);
  return (size_t)off;
}

void raise_readonly(lua_State *L) {
  smo_error(L, "attempt to write to a read-only smobject");
}

/* Pushes the value of type code found at p. */
void push_scalar(lua_State *L, int code, const unsigned char *p) {
  switch (code) {
    case CT_I8:  { int8_t v;   memcpy(&v, p, 1); lua_pushinteger(L, v); break; }
    case CT_U8:  lua_pushinteger(L, *p); break;
    case CT_I16: { int16_t v;  memcpy(&v, p, 2); lua_pushinteger(L, v); break; }
    case CT_U16: { uint16_t v; memcpy(&v, p, 2); lua_pushinteger(L, v); break; }
    case CT_I32: { int32_t v;  memcpy(&v, p, 4); lua_pushinteger(L, v); break; }
    case CT_U32: { uint32_t v; memcpy(&v, p, 4); lua_pushinteger(L, v); break; }
    case CT_I64: {
      int64_t v;
      memcpy(&v, p, 8);
      if (!smo_fits_number(v)) raise_inexact(L, "", NULL, code, p, -1);
      lua_pushinteger(L, (lua_Integer)v);
      break;
    }
    case CT_U64: {
      uint64_t v;
      memcpy(&v, p, 8);
      if (!smo_fits_unumber(v)) raise_inexact(L, "", NULL, code, p, -1);
      lua_pushinteger(L, (lua_Integer)v);
      break;
    }
    case CT_F32: { float v;    memcpy(&v, p, 4); lua_pushnumber(L, (lua_Number)v); break; }
    case CT_F64: { double v;   memcpy(&v, p, 8); lua_pushnumber(L, (lua_Number)v); break; }
    default:     lua_pushboolean(L, *p != 0); break;
  }
}

const lua_Integer int_min[] = { INT8_MIN, 0, INT16_MIN, 0, INT32_MIN, 0 };
const lua_Integer int_max[] = { INT8_MAX, UINT8_MAX, INT16_MAX, UINT16_MAX, INT32_MAX, UINT32_MAX };
static const char *const code_names[CT_COUNT] = {
  "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t",
  "float", "double", "bool"
};

void raise_inexact(lua_State *L, const char *prefix, const char *type, int code, const unsigned char *p,
                   long long off) {
  char value[24], at[40] = "";
  uint64_t bits;
  memcpy(&bits, p, 8);
  if (code == CT_I64) snprintf(value, sizeof value, "%lld", (long long)(int64_t)bits);
  else snprintf(value, sizeof value, "%llu", (unsigned long long)bits);
  if (off >= 0) snprintf(at, sizeof at, " at offset %lld", off);
  smo_error(L, "%s%s value %s%s does not fit a double exactly (|v| <= 2^53 on %s)", prefix,
            type != NULL ? type : code_names[code], value, at, SMO_DOUBLE_RUNTIMES);
}

void raise_range(lua_State *L, int idx, int code, lua_Integer v) {
  smo_pushf(L, "value %lld out of range for %s", (long long)v, code_names[code]);
  luaL_argerror(L, idx, lua_tostring(L, -1));
  __builtin_unreachable();   /* luaL_ errors longjmp */
}

/* Converts the Lua value at idx to the bits of C type code.  NULL when it
 * fits; else a message saying why not (pushed on the stack). */
const char *scalar_convert(lua_State *L, int idx, int code, uint64_t *out) {
  if (code == CT_BOOL) {
    if (lua_type(L, idx) != LUA_TBOOLEAN)
      return smo_pushf(L, "boolean expected, got %s", luaL_typename(L, idx));
    *out = (uint64_t)lua_toboolean(L, idx);
    return NULL;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return smo_pushf(L, "number expected, got %s", luaL_typename(L, idx));
  if (code == CT_F64) {
    double v = (double)lua_tonumber(L, idx);
    memcpy(out, &v, 8);
  } else if (code == CT_F32) {
    double d = (double)lua_tonumber(L, idx);
    float v;
    uint32_t b;
    if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX)) return smo_pushstring(L, "value out of range for float");
    v = (float)d;
    memcpy(&b, &v, 4);
    *out = b;
  } else {
    int isint;
    lua_Integer v = smo_tointx(L, idx, &isint);
    if (!isint) return smo_pushstring(L, "number has no integer representation");
    if (code < CT_I64 && (v < int_min[code] || v > int_max[code]))
      return smo_pushf(L, "value %lld out of range for %s", (long long)v, code_names[code]);
    *out = (uint64_t)v;
  }
  return NULL;
}

/* scalar_bits for what its fast path leaves: floats, booleans, integral
 * floats for integer types, and every wrong value. */
uint64_t scalar_bits_slow(lua_State *L, int idx, int code) {
  uint64_t bits = 0;
  const char *why = scalar_convert(L, idx, code, &bits);
  if (why != NULL) luaL_argerror(L, idx, why);
  return bits;
}

/***
Bytes and C scalars.
@section bytes_and_c_scalars
*/

/***
Reads a C scalar. 64-bit unsigned values above `math.maxinteger` read as the
same bits, as `string.unpack` does. Where numbers are doubles (Lua 5.1, 5.2,
LuaJIT), a 64-bit value beyond +-2^53 raises, naming the type and the offset,
instead of rounding.
@function Segment:get
@tparam string ctype a C type name (`"double"`, `"int32_t"`, `"unsigned long"`, `"bool"`...)
@tparam integer offset 0-based byte offset
@treturn number|boolean the value
@raise on an unknown type, an offset out of range, a closed handle
@usage local x = seg:get("double", 0)
*/
static int seg_get(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  int code = check_ctype(L, h, 2);
  size_t off = check_span(L, h, 3, ctype_width[code]);
  if (!scalar_exact(code, h->addr + off)) raise_inexact(L, "", lua_tostring(L, 2), code, h->addr + off, (long long)off);
  push_scalar(L, code, h->addr + off);
  return 1;
}

/***
Writes a C scalar; a value that does not fit the type raises.
@function Segment:set
@tparam string ctype a C type name
@tparam integer offset 0-based byte offset
@tparam number|boolean value the value (`uint64_t` takes any integer)
@raise on a value out of range, an offset out of range, a read-only or closed handle
@usage seg:set("int32_t", 8, -5)
*/
static int seg_set(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  int code = check_ctype(L, h, 2);
  size_t off = check_span(L, h, 3, ctype_width[code]);
  if (h->readonly) raise_readonly(L);
  store_bits(h->addr + off, code, scalar_bits(L, 4, code));
  return 0;
}

/* An integer argument (see smo_checkinteger); a Lua integer costs one test. */
static lua_Integer int_arg(lua_State *L, int idx, const char *what) {
  return smo_isint(L, idx) ? smo_toint(L, idx) : smo_checkinteger(L, idx, what);
}

/* A length argument: a non-negative integer. */
static size_t check_length(lua_State *L, int idx) {
  lua_Integer n = int_arg(L, idx, "integer length");
  luaL_argcheck(L, n >= 0, idx, "length must not be negative");
  return (size_t)n;
}

/* A range of len bytes at off that does not fit: says the length, the offset
 * and the segment's size (what ran past the end of what). */
SMO_NORETURN static void raise_past_end(lua_State *L, const smo_seg *h, int idx, const char *what, size_t off,
                                        size_t len) {
  smo_pushf(L, "%s of %lld bytes at offset %lld runs past the end of the %lld-byte segment (room for %lld)",
            what, (long long)len, (long long)off, (long long)h->size, (long long)(h->size - off));
  luaL_argerror(L, idx, lua_tostring(L, -1));
  __builtin_unreachable();   /* luaL_ errors longjmp */
}

/***
Reads bytes.
@function Segment:read
@tparam integer offset 0-based byte offset
@tparam[opt] integer len bytes (default: to the end)
@treturn string the bytes
@raise on a range outside the segment or a closed handle
@usage local header = seg:read(0, 16)
*/
static int seg_read(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  size_t off = check_span(L, h, 2, 0), len;
  if (lua_isnoneornil(L, 3)) len = h->size - off;
  else {
    len = check_length(L, 3);
    if (len > h->size - off) raise_past_end(L, h, 3, "a read", off, len);
  }
  lua_pushlstring(L, (const char *)h->addr + off, len);
  return 1;
}

/***
Copies a string in. Numbers are refused (a number here is almost always meant for `set`).
@function Segment:write
@tparam integer offset 0-based byte offset
@tparam string s the bytes
@raise on a range outside the segment, a number, a read-only or closed handle
@usage seg:write(0, "hello\0")
*/
static int seg_write(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  size_t off = check_span(L, h, 2, 0), len;
  const char *s;
  if (lua_type(L, 3) != LUA_TSTRING) smo_typeerror(L, 3, "string");
  s = lua_tolstring(L, 3, &len);
  if (len > h->size - off) raise_past_end(L, h, 3, "a string", off, len);
  if (h->readonly) raise_readonly(L);
  memcpy(h->addr + off, s, len);
  return 0;
}

/***
Sets bytes to one value.
@function Segment:fill
@tparam integer offset 0-based byte offset
@tparam integer len bytes
@tparam[opt=0] integer byte 0..255
@raise on a range outside the segment, a read-only or closed handle
@usage seg:fill(0, #seg)
*/
static int seg_fill(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  size_t off = check_span(L, h, 2, 0), len = check_length(L, 3);
  lua_Integer byte = 0;
  if (len > h->size - off) raise_past_end(L, h, 3, "a fill", off, len);
  if (!lua_isnoneornil(L, 4)) {
    byte = int_arg(L, 4, "integer byte");
    luaL_argcheck(L, byte >= 0 && byte <= 255, 4, "byte must be 0..255");
  }
  if (h->readonly) raise_readonly(L);
  memset(h->addr + off, (int)byte, len);
  return 0;
}

/* smobject.core.handle_state(v [, n [, fn]]), for the methods written in
 * Lua (internal): for an attached handle its size, whether it is read-only,
 * n as an integer when it is one or an integral float (else nil), and
 * whether fn is a function; false for a closed handle; for any other value
 * nil and its name as luaL_typeerror gives it.  One C call for the checks of
 * a method's fast path, and it never raises, so that the Lua side can raise
 * from its caller's line; the handle test is check_seg's. */
static int smo_handle_state(lua_State *L) {
  const smo_seg *h = (const smo_seg *)lua_touserdata(L, 1);
  if (h == NULL || smo_rawlen(L, 1) != sizeof(smo_seg) || h->magic != SMO_MAGIC) {
    int t;
    lua_pushnil(L);
    t = smo_getmetafield(L, 1, "__name");
    if (t == LUA_TSTRING) return 2;
    if (t != LUA_TNIL) lua_pop(L, 1);   /* a __name that is no string */
    if (lua_type(L, 1) == LUA_TLIGHTUSERDATA) lua_pushliteral(L, "light userdata");
    else lua_pushstring(L, luaL_typename(L, 1));
    return 2;
  }
  if (h->state != SMO_ATTACHED) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)h->size);
  lua_pushboolean(L, h->readonly);
  if (smo_isint(L, 2)) {
    lua_pushvalue(L, 2);
  } else {
    int isint = 0;
    lua_Integer n = lua_type(L, 2) == LUA_TNUMBER ? smo_tointx(L, 2, &isint) : 0;
    if (isint) lua_pushinteger(L, n);
    else lua_pushnil(L);
  }
  lua_pushboolean(L, lua_type(L, 3) == LUA_TFUNCTION);
  return 4;
}

static const luaL_Reg access_internal[] = {
  { "handle_state", smo_handle_state },
  { NULL, NULL }
};

static const luaL_Reg access_methods[] = {
  { "get", seg_get },
  { "set", seg_set },
  { "read", seg_read },
  { "write", seg_write },
  { "fill", seg_fill },
  { NULL, NULL }
};

/* Pushes the C type index, holding as its user value the ctypes table
 * (name -> width in bytes, for the Lua side) whose keys keep the names alive. */
void push_ctype_index(lua_State *L) {
  const ctype_name *c;
  ctype_index *ix = (ctype_index *)smo_newud(L, sizeof *ix, 1);
  memset(ix, 0, sizeof *ix);
  lua_newtable(L);
  for (c = ctype_names; c->name; c++) {
    const char *p;
    unsigned i;
    lua_pushstring(L, c->name);
    p = lua_tostring(L, -1);
    for (i = ct_slot(p); ix->text[i] != NULL; i = (i + 1) & (CT_SLOTS - 1)) {}
    ix->text[i] = p;
    ix->code[i] = (unsigned char)c->code;
    lua_pushinteger(L, ctype_width[c->code]);
    lua_rawset(L, -3);
  }
  smo_setuv(L, -2, 1);
}

/* Pushes a table name -> alignment of each C type name. */
static void push_ctype_align(lua_State *L) {
  const ctype_name *c;
  lua_newtable(L);
  for (c = ctype_names; c->name; c++) {
    lua_pushinteger(L, (lua_Integer)c->align);
    lua_setfield(L, -2, c->name);
  }
}

void access_open(lua_State *L) {
  register_funcs(L, SMO_METHODS, access_methods);
  register_funcs(L, SMO_MODULE, access_internal);
  smo_getuv(L, SMO_CTYPES, 1);
  lua_setfield(L, SMO_MODULE, "ctypes");
  push_ctype_align(L);
  lua_setfield(L, SMO_MODULE, "ctype_align");
  lua_pushinteger(L, __BIGGEST_ALIGNMENT__);
  lua_setfield(L, SMO_MODULE, "max_align");
}
