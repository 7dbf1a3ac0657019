/*
 * Shared by the areas that read and write C scalars (access.c, sync.c): the
 * C type codes and the inline checks of the hot path.
 */
#ifndef SMOBJECT_ACCESS_H
#define SMOBJECT_ACCESS_H

#include <stdint.h>
#include <string.h>

#include "handle.h"

SMO_HIDDEN_BEGIN

enum { CT_I8, CT_U8, CT_I16, CT_U16, CT_I32, CT_U32, CT_I64, CT_U64, CT_F32, CT_F64, CT_BOOL, CT_COUNT };

extern const unsigned char ctype_width[CT_COUNT];

/*
 * C type names are found by the address of their text.  Lua interns short
 * strings, so every live "double" is one object, and the names are kept
 * alive by the ctypes table (the index's user value): an address in this
 * probe table can only ever belong to that name.  One index per Lua state,
 * as each state has its own strings; every handle points to its state's.
 */
#define CT_SLOTS 128                /* power of two, > 2 x the names */
typedef struct ctype_index {
  const char *text[CT_SLOTS];
  unsigned char code[CT_SLOTS];
} ctype_index;

static inline unsigned ct_slot(const char *p) {
  uintptr_t v = (uintptr_t)p;
  return (unsigned)((v >> 4) ^ (v >> 11)) & (CT_SLOTS - 1);
}

/* Cold paths of the checks below.  An integer argument that is not a Lua
 * integer goes through smo_checkinteger (handle.h): a float with an exact
 * integer value passes (as for luaL_checkinteger), a fraction raises "number
 * has no integer representation", anything but a number (strings included)
 * raises "<what> expected, got <type>". */
SMO_NORETURN void raise_ctype(lua_State *L, int idx);
SMO_NORETURN void raise_span(lua_State *L, const smo_seg *h, int idx, lua_Integer off, size_t width);
size_t span_slow(lua_State *L, const smo_seg *h, int idx, size_t width);

/* The code of the C type named at idx.  A number there becomes its string
 * (lua_tolstring) and then fails as an unknown name. */
static inline int check_ctype(lua_State *L, const smo_seg *h, int idx) {
  const char *p = lua_tolstring(L, idx, NULL);
  if (p != NULL)
    for (unsigned i = ct_slot(p); h->ctypes->text[i] != NULL; i = (i + 1) & (CT_SLOTS - 1))
      if (h->ctypes->text[i] == p) return h->ctypes->code[i];
  raise_ctype(L, idx);
  return 0;
}

/* Offset of a width-byte access; raises unless it lies inside the segment.
 * Written as in lstrlib: width <= size && off <= size - width (no overflow).
 * A Lua integer is checked inline; anything else (an integral float, or an
 * error) goes out of line. */
static inline size_t check_span(lua_State *L, const smo_seg *h, int idx, size_t width) {
  lua_Integer off;
  if (!smo_isint(L, idx)) return span_slow(L, h, idx, width);
  off = smo_toint(L, idx);
  if (off < 0 || width > h->size || (size_t)off > h->size - width) raise_span(L, h, idx, off, width);
  return (size_t)off;
}

SMO_NORETURN void raise_readonly(lua_State *L);
SMO_NORETURN void raise_range(lua_State *L, int idx, int code, lua_Integer v);
uint64_t scalar_bits_slow(lua_State *L, int idx, int code);
const char *scalar_convert(lua_State *L, int idx, int code, uint64_t *out);
extern const lua_Integer int_min[], int_max[];

/* The representation of the Lua value at idx as C type code, in the low
 * bits; raises when it does not fit.  Integers into integer types inline. */
static inline uint64_t scalar_bits(lua_State *L, int idx, int code) {
  if (code <= CT_U64 && smo_isint(L, idx)) {
    lua_Integer v = smo_toint(L, idx);
    if (code < CT_I64 && (v < int_min[code] || v > int_max[code])) raise_range(L, idx, code, v);
    return (uint64_t)v;
  }
  return scalar_bits_slow(L, idx, code);
}

/* Stores the low ctype_width[code] bytes of bits at p (unaligned is fine). */
static inline void store_bits(unsigned char *p, int code, uint64_t bits) {
  switch (ctype_width[code]) {
    case 1: *p = (unsigned char)bits; break;
    case 2: { uint16_t b = (uint16_t)bits; memcpy(p, &b, 2); break; }
    case 4: { uint32_t b = (uint32_t)bits; memcpy(p, &b, 4); break; }
    default: memcpy(p, &bits, 8); break;
  }
}

void push_scalar(lua_State *L, int code, const unsigned char *p);

/* The value of type code at p reads as a number exactly: always on 5.3+
 * (this folds to 1), and where numbers are doubles unless it is a 64-bit
 * integer beyond +-2^53 (compat.h).  Readers test it first and raise with
 * raise_inexact, saying where; push_scalar raises too, without saying. */
static inline int scalar_exact(int code, const unsigned char *p) {
  int64_t v;
  if (SMO_INT64_NUMBERS || (code != CT_I64 && code != CT_U64)) return 1;
  memcpy(&v, p, 8);
  return code == CT_I64 ? smo_fits_number(v) : smo_fits_unumber((uint64_t)v);
}

/* "<prefix><type> value V[ at offset off] does not fit a double exactly
 * (|v| <= 2^53 on Lua 5.1 and LuaJIT)"; type NULL: code's own name, off < 0:
 * no offset. */
SMO_NORETURN void raise_inexact(lua_State *L, const char *prefix, const char *type, int code, const unsigned char *p,
                                long long off);

SMO_HIDDEN_END

#endif
