/***
@module smobject
*/

/*
 * The LuaJIT FFI path's C side: the exported smo_ffi_* functions (ffi.h),
 * and the Lua binding that lua/smobject/ffi.lua builds on: their addresses
 * (smobject.core.ffi_entry), pinning a handle while FFI pointers into its
 * mapping live (counter.h: a pinned handle's close parks the mapping), and
 * Segment:ptr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "access.h"
#include "areas.h"
#include "ffi.h"
#include "handle.h"
#include "lock.h"

/* ------------------------------------------------------------- exported */

#define SMO_FFI_ATOMICS_DEF(N)                                                              \
  uint##N##_t smo_ffi_load_u##N(const uint##N##_t *p) {                                     \
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);                                            \
  }                                                                                         \
  void smo_ffi_store_u##N(uint##N##_t *p, uint##N##_t v) {                                  \
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);                                               \
  }                                                                                         \
  uint##N##_t smo_ffi_add_u##N(uint##N##_t *p, uint##N##_t d) {                             \
    return __atomic_fetch_add(p, d, __ATOMIC_SEQ_CST);                                      \
  }                                                                                         \
  uint##N##_t smo_ffi_exchange_u##N(uint##N##_t *p, uint##N##_t v) {                        \
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);                                     \
  }                                                                                         \
  int smo_ffi_cas_u##N(uint##N##_t *p, uint##N##_t *expected, uint##N##_t desired) {        \
    return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
  }

SMO_FFI_ATOMICS_DEF(8)
SMO_FFI_ATOMICS_DEF(16)
SMO_FFI_ATOMICS_DEF(32)
SMO_FFI_ATOMICS_DEF(64)

/* h as an attached handle whose mapping holds len bytes at p, aligned to
 * align; NULL when it is not. */
static smo_seg *attached(void *h, const void *p, size_t len, size_t align) {
  smo_seg *s = (smo_seg *)h;
  uintptr_t a = (uintptr_t)p, base;
  if (s == NULL || s->magic != SMO_MAGIC || s->state != SMO_ATTACHED) return NULL;
  base = (uintptr_t)s->addr;
  if (a < base || len > s->size || a - base > s->size - len || a % align != 0) return NULL;
  return s;
}

int smo_ffi_wait(void *h, uint32_t *word, uint32_t expected, double timeout) {
  smo_seg *s = attached(h, word, 4, 4);
  if (s == NULL) return -EBADF;
  if (timeout != timeout) return -EINVAL;   /* NaN */
  return word_wait(s, word, expected, timeout > TIMEOUT_FOREVER ? -1 : timeout);
}

int smo_ffi_wake(void *h, uint32_t *word, int n) {
  smo_seg *s = attached(h, word, 4, 4);
  long rc;
  if (s == NULL) return -EBADF;
  if (n < 0) return -EINVAL;
  rc = word_wake(s, word, n);
  return rc < 0 ? -errno : (int)rc;
}

int smo_ffi_snapshot(void *h, void *dst, const void *src, size_t len, const uint32_t *seq, double timeout) {
  smo_seg *s = attached(h, seq, 4, 4);
  if (s == NULL || attached(h, src, len, 1) == NULL) return -EBADF;
  if (timeout != timeout) return -EINVAL;
  return seq_copy(seq, (unsigned char *)dst, (const unsigned char *)src, len,
                  timeout > TIMEOUT_FOREVER ? -1 : timeout);
}

int smo_ffi_publish_begin(uint32_t *seq) {
  if (__atomic_load_n(seq, __ATOMIC_RELAXED) & 1u) return EBUSY;
  __atomic_fetch_add(seq, 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  return 0;
}

void smo_ffi_publish_end(uint32_t *seq) {
  __atomic_fetch_add(seq, 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ Lua binding */

/* A function's address as a lightuserdata (ISO C has no cast from a
 * function pointer to void *; the bytes are the same on every ABI Linux runs). */
typedef void (*any_fn)(void);
typedef struct entry {
  const char *name;
  any_fn fn;
} entry;

#define ENTRIES_OF(N)                                                                        \
  { "load_u" #N, (any_fn)smo_ffi_load_u##N }, { "store_u" #N, (any_fn)smo_ffi_store_u##N },  \
  { "add_u" #N, (any_fn)smo_ffi_add_u##N }, { "exchange_u" #N, (any_fn)smo_ffi_exchange_u##N }, \
  { "cas_u" #N, (any_fn)smo_ffi_cas_u##N }

static const entry entries[] = {
  ENTRIES_OF(8), ENTRIES_OF(16), ENTRIES_OF(32), ENTRIES_OF(64),
  { "wait", (any_fn)smo_ffi_wait },
  { "wake", (any_fn)smo_ffi_wake },
  { "snapshot", (any_fn)smo_ffi_snapshot },
  { "publish_begin", (any_fn)smo_ffi_publish_begin },
  { "publish_end", (any_fn)smo_ffi_publish_end },
  { "dict_get", (any_fn)smo_ffi_dict_get },
  { "dict_store", (any_fn)smo_ffi_dict_store },
  { "dict_incr", (any_fn)smo_ffi_dict_incr },
};

/* smobject.core.ffi_pin(seg): base, size, readonly, handle (lightuserdata
 * each but size and readonly), one pin more: the caller's FFI finalizer
 * calls ffi_unpin once its pointer is gone. */
static int smo_ffi_pin(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  if (h->pins == UINT32_MAX) smo_error(L, "too many FFI pointers into one handle");
  h->pins++;
  lua_pushlightuserdata(L, h->addr);
  lua_pushinteger(L, (lua_Integer)h->size);
  lua_pushboolean(L, h->readonly);
  lua_pushlightuserdata(L, h);
  return 4;
}

/* smobject.core.ffi_unpin(seg) (a closed handle too). */
static int smo_ffi_unpin(lua_State *L) {
  ctr_unpin(check_seg_any(L, 1));
  return 0;
}

/***
The address of byte `offset` of the mapping, for code that reads memory
itself. On LuaJIT it is a `uint8_t *` cdata (`const uint8_t *` on a
read-only handle) that keeps the handle alive while it is reachable; on
other runtimes a lightuserdata, for C modules. Nothing checks what is done
with it: indexes, pointer arithmetic and casts are unchecked. Once the
handle is closed, the range holds private zeroed memory (reads give zeros,
writes reach nobody) for as long as such a pointer may be in use: on
LuaJIT until every pointer from `ptr` and `ffi_view` is collected,
elsewhere until the handle itself is. Pointers derived from it (`p + 8`,
`ffi.cast`) do not keep anything alive: keep the one you got reachable.
@function Segment:ptr
@tparam[opt=0] integer offset 0..size
@return a pointer to that byte
@raise on an offset outside the segment, on a closed handle
@usage local p = seg:ptr()   -- LuaJIT: p[0] = 1
*/
static int seg_ptr(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  size_t off = lua_isnoneornil(L, 2) ? 0 : check_span(L, h, 2, 0);
  h->sticky = 1;
  lua_pushlightuserdata(L, h->addr + off);
  return 1;
}

static const luaL_Reg ffi_functions[] = {
  { "ffi_pin", smo_ffi_pin },
  { "ffi_unpin", smo_ffi_unpin },
  { NULL, NULL }
};

static const luaL_Reg ffi_methods[] = {
  { "ptr", seg_ptr },
  { NULL, NULL }
};

void ffi_open(lua_State *L) {
  size_t i;
  register_funcs(L, SMO_MODULE, ffi_functions);
  register_funcs(L, SMO_METHODS, ffi_methods);
  lua_newtable(L);
  for (i = 0; i < sizeof entries / sizeof entries[0]; i++) {
    void *p;
    memcpy(&p, &entries[i].fn, sizeof p);
    lua_pushlightuserdata(L, p);
    lua_setfield(L, -2, entries[i].name);
  }
  lua_setfield(L, SMO_MODULE, "ffi_entry");
}
