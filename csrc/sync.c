/***
@module smobject
*/

/*
 * Synchronisation: the crash-safe lock, atomics, wait/wake on a uint32 field,
 * and the sequence-counter snapshots of the one-writer pattern: the Lua
 * binding.  The lock itself, its two kinds and their crash states, is
 * lock.c (no Lua).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "areas.h"
#include "counter.h"
#include "handle.h"
#include "lock.h"

/* ---------------------------------------------------------------- lock */

/* Timeout argument: nil, math.huge or more than 2^31 s (for ever: -1), or seconds >= 0. */
static double check_timeout(lua_State *L, int idx) {
  double t;
  if (lua_isnoneornil(L, idx)) return -1;
  if (lua_type(L, idx) != LUA_TNUMBER) smo_typeerror(L, idx, "number of seconds");
  t = (double)lua_tonumber(L, idx);
  luaL_argcheck(L, !isnan(t), idx, "timeout is NaN (give seconds >= 0, or nil to wait for ever)");
  luaL_argcheck(L, t >= 0, idx, "timeout must not be negative");
  /* beyond 2^31 s (68 years) is for ever, as for wait: then a second handle
   * of this process gets EDEADLK instead of a sleep of that length */
  return isinf(t) || t > 2147483648.0 ? -1 : t;
}

static smo_seg *check_lockable(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  if (h->semid < 0) smo_error(L, "this smobject has no bookkeeping for a lock (PRIVATE, a foreign key, or one this process may only read)");
  if (ctr_self() != h->pid) smo_error(L, "a forked child cannot use its parent's handle for the lock: open its own");
  return h;
}

/***
Synchronisation: the lock, atomics, wait/wake, snapshots.
@section synchronisation
*/

/***
Takes the segment's crash-safe lock: a robust process-shared mutex where only
this uid may write the bookkeeping (modes like `0600`, `0640`, `0644`), a
kernel-kept semaphore lock where group or others may (`0660`, `0666`).
@function Segment:lock
@tparam[opt] number timeout seconds, fractions allowed; none (or `math.huge`) waits for ever
@treturn boolean `true`
@treturn[opt] string `"recovered"` when the previous holder died holding it
@return[2] nil, `"timeout"`, `ETIMEDOUT`
@return[3] nil, message, errno (`EIDRM` after remove, `EDEADLK` when another handle of this thread holds it and no timeout was given)
@raise when this handle already holds it, or on a PRIVATE segment
@usage local ok, state = seg:lock(1.5)
*/
static int seg_lock(lua_State *L) {
  smo_seg *h = check_lockable(L);
  double timeout = check_timeout(L, 2);
  int rc;
  if (h->locked) smo_error(L, "this handle already holds the lock (it is not reentrant)");
  rc = lock_take(h, timeout);
  if (rc == ETIMEDOUT) {
    smo_pushfail(L);
    lua_pushliteral(L, "timeout");
    lua_pushinteger(L, ETIMEDOUT);
    return 3;
  }
  if (rc == LOCK_RECOVERED) {
    h->locked = 1;
    lua_pushboolean(L, 1);
    lua_pushliteral(L, "recovered");
    return 2;
  }
  if (rc != 0) return push_oserror(L, "lock", rc);
  h->locked = 1;
  lua_pushboolean(L, 1);
  return 1;
}

/***
Releases the lock.
@function Segment:unlock
@raise when this handle does not hold it
@usage seg:unlock()
*/
static int seg_unlock(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  if (!h->locked) smo_error(L, "unlock: this handle does not hold the lock");
  lock_release(h);
  return 0;
}

/***
Whether this handle holds the lock.
@function Segment:holds_lock
@treturn boolean
@usage if seg:holds_lock() then seg:unlock() end
*/
static int seg_holds_lock(lua_State *L) {
  smo_seg *h = check_seg_any(L, 1);
  lua_pushboolean(L, h->state == SMO_ATTACHED && h->locked);
  return 1;
}

/***
Whether this handle can take the segment's lock: a keyed segment with
bookkeeping, in the process that opened it.
@function Segment:lockable
@treturn boolean
@usage if seg:lockable() then seg:with_lock(update) else update() end
*/
static int seg_lockable(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  lua_pushboolean(L, h->semid >= 0 && ctr_self() == h->pid);
  return 1;
}

/* ------------------------------------------------------------- atomics */

/* An integer C type and an aligned offset for an atomic access. */
static size_t check_atomic(lua_State *L, smo_seg *h, int *code) {
  size_t off, w;
  *code = check_ctype(L, h, 2);
  if (*code > CT_U64) {
    smo_pushf(L, "atomic operations need an integer type, not '%s'", lua_tostring(L, 2));
    luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  w = ctype_width[*code];
  off = check_span(L, h, 3, w);
  if (((uintptr_t)(h->addr + off)) % w != 0) {
    smo_pushf(L, "offset %lld is misaligned for a %d-byte atomic", (long long)off, (int)w);
    luaL_argerror(L, 3, lua_tostring(L, -1));
  }
  return off;
}

/* The value read at off (messages only). */
static void push_atomic(lua_State *L, int code, uint64_t bits, size_t off) {
  unsigned char buf[8];
  store_bits(buf, code, bits);
  if (!scalar_exact(code, buf)) raise_inexact(L, "", lua_tostring(L, 2), code, buf, (long long)off);
  push_scalar(L, code, buf);
}

#define ATOMIC_BY_WIDTH(w, p, OP)                                   \
  switch (w) {                                                      \
    case 1: { uint8_t *q = (uint8_t *)(void *)(p); OP; break; }     \
    case 2: { uint16_t *q = (uint16_t *)(void *)(p); OP; break; }   \
    case 4: { uint32_t *q = (uint32_t *)(void *)(p); OP; break; }   \
    default: { uint64_t *q = (uint64_t *)(void *)(p); OP; break; }  \
  }

/***
Atomic load (sequentially consistent) of an 8, 16, 32 or 64-bit integer.
@function Segment:atomic_load
@tparam string ctype an integer C type
@tparam integer offset aligned to the type's size
@treturn integer the value
@raise on a misaligned offset or a non-integer type
@usage local n = seg:atomic_load("uint32_t", 0)
*/
static int seg_atomic_load(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  int code;
  size_t off = check_atomic(L, h, &code);
  uint64_t v = 0;
  ATOMIC_BY_WIDTH(ctype_width[code], h->addr + off, v = __atomic_load_n(q, __ATOMIC_SEQ_CST))
  push_atomic(L, code, v, off);
  return 1;
}

/***
Atomic store.
@function Segment:atomic_store
@tparam string ctype an integer C type
@tparam integer offset aligned to the type's size
@tparam integer value fits the type
@raise on a misaligned offset, a value out of range, a read-only handle
@usage seg:atomic_store("uint32_t", 0, 1)
*/
static int seg_atomic_store(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  int code;
  size_t off = check_atomic(L, h, &code);
  uint64_t v = scalar_bits(L, 4, code);
  if (h->readonly) raise_readonly(L);
  ATOMIC_BY_WIDTH(ctype_width[code], h->addr + off, __atomic_store_n(q, (__typeof__(*q))v, __ATOMIC_SEQ_CST))
  return 0;
}

/***
Atomic fetch-and-add; a negative delta works on unsigned types too (wrapping, as in C).
@function Segment:atomic_add
@tparam string ctype an integer C type
@tparam integer offset aligned to the type's size
@tparam integer delta the amount
@treturn integer the previous value
@raise on a misaligned offset, a delta too wide for the type, a read-only handle
@usage local before = seg:atomic_add("int64_t", 8, 1)
*/
static int seg_atomic_add(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  int code;
  size_t off = check_atomic(L, h, &code);
  size_t w = ctype_width[code];
  lua_Integer d;
  uint64_t prev = 0;
  d = smo_checkinteger(L, 4, "integer delta");
  if (w < 8) {
    lua_Integer lim = (lua_Integer)1 << (8 * w);
    if (d <= -lim || d >= lim) {
      smo_pushf(L, "delta %lld out of range for a %d-byte integer", (long long)d, (int)w);
      luaL_argerror(L, 4, lua_tostring(L, -1));
    }
  }
  if (h->readonly) raise_readonly(L);
  ATOMIC_BY_WIDTH(w, h->addr + off, prev = __atomic_fetch_add(q, (__typeof__(*q))(uint64_t)d, __ATOMIC_SEQ_CST))
  push_atomic(L, code, prev, off);
  return 1;
}

/***
Atomic compare-and-swap.
@function Segment:atomic_cas
@tparam string ctype an integer C type
@tparam integer offset aligned to the type's size
@tparam integer expected the value to replace
@tparam integer desired the new value
@treturn boolean `true` when swapped
@treturn[opt] integer the current value, when not swapped
@raise on a misaligned offset, a value out of range, a read-only handle
@usage local ok, cur = seg:atomic_cas("int32_t", 0, 0, 1)
*/
static int seg_atomic_cas(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  int code, ok = 0;
  size_t off = check_atomic(L, h, &code);
  uint64_t expected = scalar_bits(L, 4, code), desired = scalar_bits(L, 5, code), cur = 0;
  if (h->readonly) raise_readonly(L);
  ATOMIC_BY_WIDTH(ctype_width[code], h->addr + off, {
    __typeof__(*q) e = (__typeof__(*q))expected;
    ok = __atomic_compare_exchange_n(q, &e, (__typeof__(*q))desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    cur = e;
  })
  lua_pushboolean(L, ok);
  if (ok) return 1;
  push_atomic(L, code, cur, off);
  return 2;
}

/* ----------------------------------------------------------- wait/wake */

static uint32_t *check_futex_word(lua_State *L, smo_seg *h) {
  size_t off = check_span(L, h, 2, 4);
  if (((uintptr_t)(h->addr + off)) % 4 != 0) {
    smo_pushf(L, "offset %lld is misaligned for a uint32_t", (long long)off);
    luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  return (uint32_t *)(void *)(h->addr + off);
}

/***
Sleeps while the `uint32_t` at `offset` equals `expected` (futex on the
shared mapping, after a brief spin).
@function Segment:wait
@tparam integer offset aligned to 4
@tparam integer expected 0..2^32-1
@tparam[opt] number timeout seconds; none (or `math.huge`, or more than 2^31) waits for ever; NaN raises
@treturn boolean `true` when woken or the value differs (check it again), `false` on timeout
@raise on a misaligned offset or a bad value
@usage while seg:atomic_load("uint32_t", 0) == 0 do seg:wait(0, 0) end
*/
static int seg_wait(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  uint32_t *word = check_futex_word(L, h);
  lua_Integer e;
  double timeout;
  e = smo_checkinteger(L, 3, "integer");
  luaL_argcheck(L, e >= 0 && e <= (lua_Integer)UINT32_MAX, 3, "expected value out of range for uint32_t");
  timeout = check_timeout(L, 4);
  lua_pushboolean(L, word_wait(h, word, (uint32_t)e, timeout));
  return 1;
}

/***
Wakes processes sleeping in `wait` on the `uint32_t` at `offset`. Nothing
else wakes them: `set`, the atomics and `publish` do not, so a writer whose
readers wait on its sequence counter calls `wake` after each `publish`.
@function Segment:wake
@tparam integer offset aligned to 4
@tparam[opt] integer n how many at most (default all)
@treturn integer how many were woken
@usage seg:atomic_store("uint32_t", 0, 1); seg:wake(0)
*/
static int seg_wake(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  uint32_t *word = check_futex_word(L, h);
  lua_Integer n = lua_isnoneornil(L, 3) ? INT_MAX : smo_checkinteger(L, 3, "number");
  long rc;
  luaL_argcheck(L, n >= 0, 3, "count must not be negative");
  if (n > INT_MAX) n = INT_MAX;
  rc = word_wake(h, word, (int)n);
  if (rc < 0) return push_oserror(L, "futex", errno);
  lua_pushinteger(L, rc);
  return 1;
}

/* ------------------------------------------------------------ snapshots */

static uint32_t *check_seq(lua_State *L, smo_seg *h, int idx) {
  size_t off = check_span(L, h, idx, 4);
  if (((uintptr_t)(h->addr + off)) % 4 != 0) {
    smo_pushf(L, "sequence counter offset %lld is misaligned for a uint32_t", (long long)off);
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
  return (uint32_t *)(void *)(h->addr + off);
}

/***
The writer's side of a sequence counter, step 1: makes the `uint32_t` at
`seq_offset` odd. Prefer `publish`.
@function Segment:publish_begin
@tparam integer seq_offset the counter, aligned to 4
@raise when the counter is already odd, or on a read-only handle
@usage seg:publish_begin(0); seg:write(8, data); seg:publish_end(0)
*/
static int seg_publish_begin(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  uint32_t *seq = check_seq(L, h, 2);
  if (h->readonly) raise_readonly(L);
  if (__atomic_load_n(seq, __ATOMIC_RELAXED) & 1u)
    smo_error(L, "publish: the sequence counter is odd (a write is under way or its writer died; "
                  "seg:publish takes the lock and repairs a dead writer's counter)");
  __atomic_fetch_add(seq, 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  return 0;
}

/***
The writer's side of a sequence counter, step 2: makes the counter even again.
@function Segment:publish_end
@tparam integer seq_offset the counter
@usage seg:publish_end(0)
*/
static int seg_publish_end(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  uint32_t *seq = check_seq(L, h, 2);
  if (h->readonly) raise_readonly(L);
  __atomic_fetch_add(seq, 1, __ATOMIC_RELEASE);
  return 0;
}

/***
Copies bytes while no write is under way (the reader's side of a sequence counter).
@function Segment:snapshot
@tparam integer seq_offset the `uint32_t` counter
@tparam integer offset first byte to copy
@tparam integer len bytes
@tparam[opt=1] number timeout seconds to wait for a writer that is mid-write (`math.huge`: for ever)
@treturn string the bytes, never torn
@return[2] nil, `"timeout"`, `ETIMEDOUT` (the writer died mid-write)
@usage local bytes = assert(seg:snapshot(0, 8, 56))
*/
static int seg_snapshot(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  uint32_t *seq;
  size_t off, len;
  double timeout;
  smo_buffer b;
  char *dst;
  check_seq(L, h, 2);                   /* the arguments in order (checked again below) */
  off = check_span(L, h, 3, 0);
  {
    lua_Integer n = smo_checkinteger(L, 4, "integer length");
    luaL_argcheck(L, n >= 0 && (size_t)n <= h->size - off, 4, "length runs past the end of the segment");
    len = (size_t)n;
  }
  /* none: 1 s (a writer that never finishes has died); math.huge: for ever */
  timeout = lua_isnoneornil(L, 5) ? 1.0 : check_timeout(L, 5);
  dst = smo_buffinitsize(L, &b, len);
  /* Making the buffer may have run a finalizer (Lua code) that closed the
   * handle or attached it again: everything is checked again.  From here to
   * the copy's end nothing runs Lua code. */
  h = check_seg(L, 1);
  seq = check_seq(L, h, 2);
  off = check_span(L, h, 3, 0);
  luaL_argcheck(L, len <= h->size - off, 4, "length runs past the end of the segment");
  if (seq_copy(seq, (unsigned char *)dst, h->addr + off, len, timeout) != 0) {
    smo_pushfail(L);
    lua_pushliteral(L, "timeout");
    lua_pushinteger(L, ETIMEDOUT);
    return 3;
  }
  smo_pushresultsize(&b, len);
  return 1;
}

/* Copies len bytes from src to dst while the uint32_t counter at seq is even
 * and unchanged; 0, or ETIMEDOUT when no such copy could be made within
 * timeout seconds (< 0: for ever). */
int seq_copy(const uint32_t *seq, unsigned char *dst, const unsigned char *src, size_t len, double timeout) {
  struct timespec now, dl = { 0, 0 };
  unsigned spins = 0;
  for (;;) {
    uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    if (!(s1 & 1u)) {
      uint32_t s2;
      memcpy(dst, src, len);
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
      if (s1 == s2) return 0;
    }
    /* the clock is read only once a copy failed: the common case never reads it */
    if (spins == 0) dl = deadline_after(timeout < 0 ? TIMEOUT_FOREVER : timeout);
    if (++spins % 1024 == 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > dl.tv_sec || (now.tv_sec == dl.tv_sec && now.tv_nsec >= dl.tv_nsec)) return ETIMEDOUT;
      sched_yield();
    } else {
      __builtin_ia32_pause();
    }
  }
}

static const luaL_Reg sync_methods[] = {
  { "lock", seg_lock },
  { "unlock", seg_unlock },
  { "holds_lock", seg_holds_lock },
  { "lockable", seg_lockable },
  { "atomic_load", seg_atomic_load },
  { "atomic_store", seg_atomic_store },
  { "atomic_add", seg_atomic_add },
  { "atomic_cas", seg_atomic_cas },
  { "wait", seg_wait },
  { "wake", seg_wake },
  { "publish_begin", seg_publish_begin },
  { "publish_end", seg_publish_end },
  { "snapshot", seg_snapshot },
  { NULL, NULL }
};

void sync_open(lua_State *L) {
  lock_init();
  register_funcs(L, SMO_METHODS, sync_methods);
}
