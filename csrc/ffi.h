/*
 * The functions the core exports for LuaJIT's FFI (and for C code that
 * loads the module): atomics, wait/wake and the sequence counter, on
 * pointers into a segment, with no lua_State, never raising.  They are the
 * only symbols besides luaopen_smobject_core that the module exports.  Lua
 * reaches them through smobject.core.ffi_entry (their addresses, so that no
 * dlopen is needed) from lua/smobject/ffi.lua, which declares the same
 * prototypes: keep the two in step (spec 38 compares them).
 *
 * What they do not check: that a pointer points into a segment, is aligned,
 * or is writable.  smobject.ffi checks that once, when it makes an accessor.
 * The functions that take the handle (h: the smobject userdata) check it:
 * a handle that is closed, or a word outside its mapping, gives -EBADF.
 * Integers are unsigned; a signed caller casts (the same bits, the same ABI).
 * All atomics are sequentially consistent, as Segment:atomic_* are.
 */
#ifndef SMOBJECT_FFI_H
#define SMOBJECT_FFI_H

#include <stddef.h>
#include <stdint.h>

#include "visibility.h"

#define SMO_FFI_ATOMICS(N)                                                                        \
  SMO_EXPORT uint##N##_t smo_ffi_load_u##N(const uint##N##_t *p);                                 \
  SMO_EXPORT void smo_ffi_store_u##N(uint##N##_t *p, uint##N##_t v);                              \
  SMO_EXPORT uint##N##_t smo_ffi_add_u##N(uint##N##_t *p, uint##N##_t d);       /* the old value */ \
  SMO_EXPORT uint##N##_t smo_ffi_exchange_u##N(uint##N##_t *p, uint##N##_t v);  /* the old value */ \
  /* 1 when swapped, else 0 with *expected set to the value found */                             \
  SMO_EXPORT int smo_ffi_cas_u##N(uint##N##_t *p, uint##N##_t *expected, uint##N##_t desired);

SMO_FFI_ATOMICS(8)
SMO_FFI_ATOMICS(16)
SMO_FFI_ATOMICS(32)
SMO_FFI_ATOMICS(64)

/* Segment:wait: sleeps while *word == expected; timeout in seconds, < 0 for
 * ever.  1 when woken or the value differs, 0 on timeout, -EBADF, -EINVAL. */
SMO_EXPORT int smo_ffi_wait(void *h, uint32_t *word, uint32_t expected, double timeout);

/* Segment:wake: wakes at most n sleepers of word; how many, or -errno. */
SMO_EXPORT int smo_ffi_wake(void *h, uint32_t *word, int n);

/* The reader's side of the sequence counter at seq: copies len bytes from
 * src to dst while the counter is even and unchanged.  0, ETIMEDOUT after
 * timeout seconds (< 0: for ever), -EBADF or -EINVAL (src or seq outside
 * h's mapping). */
SMO_EXPORT int smo_ffi_snapshot(void *h, void *dst, const void *src, size_t len, const uint32_t *seq,
                                double timeout);

/* The writer's side: begin makes the counter odd (0), or finds it odd
 * already (EBUSY: a write under way, or its writer died); end makes it even. */
SMO_EXPORT int smo_ffi_publish_begin(uint32_t *seq);
SMO_EXPORT void smo_ffi_publish_end(uint32_t *seq);

/* smo.dict's hot calls for LuaJIT (dict_lua.c): d is the dictionary's
 * userdata; -EBADF when it is not one or is closed.  Keys are checked by the
 * caller (1..65535 bytes).  A value in or out: */
typedef struct smo_ffi_dval {
  int32_t type;        /* dict.h's DICT_*: 0 none, 1 boolean, 2 number, 3 integer, 4 string, 5 list */
  uint32_t flags;
  int64_t i;           /* boolean, integer */
  double d;            /* number; an integer as a double too, out */
  int32_t exact;       /* out: the integer fits a double exactly */
  int32_t pad;
  size_t len;          /* string length (out: the whole length, even when buf is too small) */
  const char *s;       /* string in */
  char *buf;           /* string out: the caller's buffer of cap bytes */
  size_t cap;
} smo_ffi_dval;

/* get (stale 0) or get_stale (1): 0 with *out, 1 not found, 6 a list, 8 the
 * string does not fit out->buf (out->len says how long it is), -errno.
 * *stale set for get_stale. */
SMO_EXPORT int smo_ffi_dict_get(void *d, const char *key, size_t klen, int stale, smo_ffi_dval *out, int *is_stale);

/* set/add/replace (how: 0, 1, 2), may_evict: 0 for the safe_ forms; exptime
 * seconds (0 never).  0, 2 exists, 1 not found, 3 no memory, -errno; *forcible. */
SMO_EXPORT int smo_ffi_dict_store(void *d, const char *key, size_t klen, int how, int may_evict,
                                  const smo_ffi_dval *v, double exptime, int *forcible);

/* incr: n, with init when has_init (init_ttl seconds); 0 with *out, 1 not
 * found, 4 not a number, 3 no memory, -errno; *forcible. */
SMO_EXPORT int smo_ffi_dict_incr(void *d, const char *key, size_t klen, const smo_ffi_dval *n, int has_init,
                                 const smo_ffi_dval *init, double init_ttl, smo_ffi_dval *out, int *forcible);

#endif
