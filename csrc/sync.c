/***
@submodule smobject
*/

/*
 * Synchronisation: the crash-safe lock, atomics, wait/wake on a uint32 field,
 * and the sequence-counter snapshots of the one-writer pattern.
 *
 * Two locks, chosen by who may write the bookkeeping set (whose mode is the
 * segment's): no byte of the user's data is taken by either.
 *
 * - SMO_LOCK_FAST, when no other uid may write the set (0600, 0640, 0644...):
 *   a robust, process-shared pthread mutex (a dead holder is reported as
 *   EOWNERDEAD, never silently released) in a small private segment of mode
 *   0600, the "aux" segment, found through the bookkeeping set.  glibc follows
 *   pointers kept inside a robust mutex, so it must live where only our uid
 *   can write.  The aux segment lives exactly as long as the bookkeeping set:
 *   it is removed with it (sync_remove_aux is bk_remove_hook), never when its
 *   last attacher goes, because a holder that dies as the only process
 *   attached must still be reported as "recovered" to the next one (the
 *   kernel marks the dead owner in the mutex word, which must outlive it).
 *   It also counts sleepers in wait(), so that wake() skips the system call
 *   when nobody sleeps.  Its creator's pid is recorded in the set around the
 *   window between its shmget and the recording of its id, so an orphan of a
 *   death there is found and removed by the next user (bk_reap_pending).
 * - SMO_LOCK_KERNEL, when group or others may write the set: a semaphore of
 *   the set taken with SEM_UNDO (the kernel releases a dead holder's) plus an
 *   "owner died" flag that only a clean unlock lowers, as LMDB does with
 *   System V semaphores.  Nothing in it is a pointer, so a user who may write
 *   it can at worst hold it or release it, never crash us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "areas.h"
#include "bookkeeping.h"
#include "counter.h"

#define AUX_MAGIC 0x31305855414f4d53ULL   /* "SMOAUX01" */
#define AUX_SLOTS 64                      /* sleeper counters, by offset hash */
#define SPIN_CHECKS 2000                  /* value checks before wait() sleeps */

typedef struct smo_aux {
  uint64_t magic;
  int32_t semid;                /* the bookkeeping set it belongs to */
  uint32_t removed;             /* set by remove(): lock then fails with EIDRM */
  uint32_t sleepers[AUX_SLOTS];
  pthread_mutex_t lock;
  unsigned char pad[BK_AUX_SIZE - 16 - 4 * AUX_SLOTS - sizeof(pthread_mutex_t)];
} smo_aux;

/* Its exact size tells an orphan of ours from other segments (bookkeeping.c). */
typedef char aux_size_check[sizeof(smo_aux) == BK_AUX_SIZE ? 1 : -1];

/* ------------------------------------------------------------ aux segment */

static int aux_valid(const smo_aux *a, int semid) {
  return a->magic == AUX_MAGIC && a->semid == semid;
}

/* Attaches the aux segment of semid whose id the set records, or returns
 * NULL.  The id may be stale (freed, even reused by anyone): before anything
 * of it is read, the kernel must say it is a private segment of our size,
 * owned and made by this uid, that no other uid may write, and then it must
 * carry our marker for this very set. */
static smo_aux *aux_open(int semid, int id) {
  struct shmid_ds ds;
  void *p;
  if (id < 0 || shmctl(id, IPC_STAT, &ds) != 0) return NULL;
  if (ds.shm_perm.__key != IPC_PRIVATE || ds.shm_segsz != sizeof(smo_aux) || (ds.shm_perm.mode & 0077) != 0 ||
      !bk_ours_uid((unsigned)ds.shm_perm.uid, (unsigned)ds.shm_perm.cuid))
    return NULL;
  p = shmat(id, NULL, 0);
  if (p == (void *)-1) return NULL;
  if (!aux_valid((smo_aux *)p, semid)) {
    shmdt(p);
    return NULL;
  }
  return (smo_aux *)p;
}

/* Attaches the aux segment of h's bookkeeping, making it if there is none;
 * under the gate.  0 or an errno (EIDRM when the bookkeeping is gone). */
static int aux_attach(smo_seg *h) {
  int id, err;
  void *p;
  if ((err = bk_enter(h->semid, 0, 1)) != 0) return err == EINVAL ? EIDRM : err;
  id = bk_get_aux(h->semid);
  if ((h->aux = aux_open(h->semid, id)) != NULL) {
    if (!__atomic_load_n(&h->aux->removed, __ATOMIC_SEQ_CST)) {
      bk_leave(h->semid, 0);
      return 0;
    }
    /* Marked removed, yet its set lives: a removal was cut short by a
     * death.  It goes now, and the set gets a new one. */
    shmdt(h->aux);
    h->aux = NULL;
    shmctl(id, IPC_RMID, NULL);
  }
  {
    pthread_mutexattr_t ma;
    smo_aux *a;
    /* Only this uid may touch it; a death between shmget and IPC_RMID is
     * recorded (pending) so that the next user under the gate removes the orphan. */
    bk_reap_pending(h->semid);
    if ((err = bk_pending_begin(h->semid)) != 0) {
      bk_leave(h->semid, 0);
      return err == EINVAL ? EIDRM : err;
    }
    id = shmget(IPC_PRIVATE, sizeof(smo_aux), IPC_CREAT | 0600);
    if (id < 0) goto fail;
    p = shmat(id, NULL, 0);
    if (p == (void *)-1) {
      shmctl(id, IPC_RMID, NULL);
      goto fail;
    }
    a = (smo_aux *)p;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&a->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    a->semid = h->semid;
    __atomic_store_n(&a->magic, AUX_MAGIC, __ATOMIC_RELEASE);
    if ((err = bk_set_aux(h->semid, id)) != 0) {
      shmdt(p);
      bk_leave(h->semid, 0);
      return err == EINVAL ? EIDRM : err;
    }
    h->aux = a;
    bk_leave(h->semid, 0);
    return 0;
  }
fail:
  err = errno;
  bk_set(h->semid, BK_PEND0, 0);   /* nothing left behind: no orphan to look for */
  bk_set(h->semid, BK_PEND1, 0);
  bk_leave(h->semid, 0);
  return err;
}

/* Removes the aux segment of semid (under the gate, just before the set
 * goes): processes still attached keep it until they detach, and see it
 * marked removed (lock then gives EIDRM). */
static void sync_remove_aux(int semid) {
  int id = bk_get_aux(semid);
  smo_aux *p = aux_open(semid, id);
  if (p == NULL) return;
  __atomic_store_n(&p->removed, 1, __ATOMIC_SEQ_CST);
  shmdt(p);
  shmctl(id, IPC_RMID, NULL);
}

/* Closing a handle releases its lock and its aux attachment (this is
 * ctr_release_hook: the close protocol calls it, never by name).  A forked
 * child holds neither the lock (its thread is not the owner) nor anything
 * else but the mapping. */
static void klock_release(smo_seg *h);

static void sync_release(smo_seg *h) {
  if (h->locked && getpid() == h->pid && h->lock_kind == SMO_LOCK_KERNEL) klock_release(h);
  if (h->aux == NULL) {
    h->locked = 0;
    return;
  }
  if (h->locked && getpid() == h->pid) pthread_mutex_unlock(&h->aux->lock);
  h->locked = 0;
  shmdt(h->aux);
  h->aux = NULL;
}

/* ---------------------------------------------------------------- lock */

/* Timeout argument: nil or math.huge (for ever: -1) or seconds >= 0. */
static double check_timeout(lua_State *L, int idx) {
  double t;
  if (lua_isnoneornil(L, idx)) return -1;
  if (lua_type(L, idx) != LUA_TNUMBER) luaL_typeerror(L, idx, "number of seconds");
  t = (double)lua_tonumber(L, idx);
  luaL_argcheck(L, !isnan(t), idx, "timeout is NaN (give seconds >= 0, or nil to wait for ever)");
  luaL_argcheck(L, t >= 0, idx, "timeout must not be negative");
  return isinf(t) ? -1 : t;
}

/* Longer timeouts than this are for ever (about 68 years; no timespec overflows). */
#define TIMEOUT_FOREVER 2147483647.0

static struct timespec timespec_of(double seconds) {
  struct timespec ts;
  double whole = floor(seconds);
  ts.tv_sec = (time_t)whole;
  ts.tv_nsec = (long)((seconds - whole) * 1e9);
  if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  return ts;
}

static struct timespec deadline_after(double seconds) {
  struct timespec ts, d;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (seconds > TIMEOUT_FOREVER) seconds = TIMEOUT_FOREVER;
  d = timespec_of(seconds);
  ts.tv_sec += d.tv_sec;
  ts.tv_nsec += d.tv_nsec;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* Seconds left until dl (0 when past). */
static double seconds_until(const struct timespec *dl) {
  struct timespec now;
  double left;
  clock_gettime(CLOCK_MONOTONIC, &now);
  left = (double)(dl->tv_sec - now.tv_sec) + (double)(dl->tv_nsec - now.tv_nsec) / 1e9;
  return left > 0 ? left : 0;
}

static smo_seg *check_lockable(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  if (h->semid < 0) luaL_error(L, "this smobject has no bookkeeping for a lock (PRIVATE, a foreign key, or one this process may only read)");
  if (getpid() != h->pid) luaL_error(L, "a forked child cannot use its parent's handle for the lock: open its own");
  return h;
}

/* Which lock the segment has: the kernel's when group or others may write
 * the bookkeeping set, else the fast one.  0 or an errno. */
static int find_lock_kind(smo_seg *h) {
  int mode;
  if (h->lock_kind != SMO_LOCK_UNKNOWN) return 0;
  mode = bk_mode(h->semid);
  if (mode < 0) return errno == EINVAL ? EIDRM : errno;
  h->lock_kind = (mode & 0022) ? SMO_LOCK_KERNEL : SMO_LOCK_FAST;
  return 0;
}

/* A set gone (removed, its id stale or reused) reads as EIDRM, as the API says. */
static int gone_as_eidrm(int err) {
  return err == EINVAL ? EIDRM : err;
}

/* ------------------------------------------------------- the kernel lock */

/* Lock results besides 0 and errno values. */
#define LOCK_RECOVERED (-1)

/* Takes BK_LOCK (0 -> 1, SEM_UNDO), when check_held only if BK_HELD is 0,
 * raising BK_HELD, in one atomic operation.  dl: the deadline, NULL for
 * ever; nowait: do not wait at all.  0, EAGAIN (busy, timed out, or the flag
 * is up) or an errno. */
static int klock_take(smo_seg *h, const struct timespec *dl, int nowait, int check_held) {
  struct sembuf ops[4] = {
    { BK_LOCK, 0, 0 },
    { BK_LOCK, 1, SEM_UNDO },
    { BK_HELD, 0, IPC_NOWAIT },
    { BK_HELD, 1, 0 },
  };
  size_t nops = check_held ? 4 : 2;
  if (nowait) ops[0].sem_flg = IPC_NOWAIT;
  for (;;) {
    int rc;
    if (dl != NULL && !nowait) {
      struct timespec rel = timespec_of(seconds_until(dl));
      rc = semtimedop(h->semid, ops, nops, &rel);
    } else {
      rc = semop(h->semid, ops, nops);
    }
    if (rc == 0) return 0;
    if (errno == EINTR) continue;
    return errno;
  }
}

/* The kernel lock.  The flag still raised when BK_LOCK is free means that its
 * holder died holding it: the kernel undid its BK_LOCK, nothing undid the
 * flag.  0, LOCK_RECOVERED, ETIMEDOUT, EDEADLK or an errno. */
static int klock_lock(smo_seg *h, double timeout) {
  struct timespec deadline, *dl = NULL;
  int nowait = timeout == 0, rc;
  if (timeout > 0) {
    deadline = deadline_after(timeout);
    dl = &deadline;
  }
  rc = klock_take(h, NULL, 1, 1);
  if (rc == EAGAIN) {
    /* Busy, or free with the flag up.  Held by this very process? */
    if (bk_get(h->semid, BK_LOCK) == 1 && semctl(h->semid, BK_LOCK, GETPID) == (int)getpid()) {
      if (dl == NULL && !nowait) return EDEADLK;
      if (dl != NULL)
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, dl, NULL) == EINTR) {}
      return ETIMEDOUT;
    }
    if (!nowait) rc = klock_take(h, dl, 0, 1);
  }
  if (rc == EAGAIN && bk_get(h->semid, BK_HELD) > 0) {
    /* Perhaps a dead holder's flag: take the lock whatever the flag, then
     * look at the flag, which only a holder changes. */
    int held;
    rc = klock_take(h, dl, nowait, 0);
    if (rc != 0) return rc == EAGAIN ? ETIMEDOUT : gone_as_eidrm(rc);
    held = bk_get(h->semid, BK_HELD);
    if (held < 0) return gone_as_eidrm(errno);
    if (held > 0) {
      if (held > 1) bk_set(h->semid, BK_HELD, 1);
      return LOCK_RECOVERED;
    }
    {
      struct sembuf up = { BK_HELD, 1, 0 };
      if (semop(h->semid, &up, 1) != 0) return gone_as_eidrm(errno);
    }
    return 0;
  }
  if (rc == EAGAIN) return ETIMEDOUT;
  return gone_as_eidrm(rc);
}

static void klock_release(smo_seg *h) {
  struct sembuf ops[2] = {
    { BK_HELD, -1, IPC_NOWAIT },
    { BK_LOCK, -1, SEM_UNDO | IPC_NOWAIT },
  };
  if (semop(h->semid, ops, 2) != 0) {
    /* (The flag was changed by someone who may write the set: release anyway.) */
    semop(h->semid, ops + 1, 1);
  }
}

/* --------------------------------------------------------- the fast lock */

static int flock_lock(smo_seg *h, double timeout) {
  int rc;
  if (h->aux == NULL && (rc = aux_attach(h)) != 0) return gone_as_eidrm(rc);
  if (__atomic_load_n(&h->aux->removed, __ATOMIC_RELAXED)) return EIDRM;
  rc = pthread_mutex_trylock(&h->aux->lock);
  if (rc == EBUSY && timeout != 0) {
    if (timeout < 0) {
      rc = pthread_mutex_lock(&h->aux->lock);
    } else {
      struct timespec dl = deadline_after(timeout);
      rc = pthread_mutex_clocklock(&h->aux->lock, CLOCK_MONOTONIC, &dl);
    }
  }
  if (rc == EDEADLK && timeout >= 0) {
    /* Another handle of this thread holds it: nothing can release it while
     * we wait, so the wait can only time out.  (Without a timeout this
     * would hang for ever: EDEADLK is returned instead.) */
    struct timespec dl = deadline_after(timeout);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL) == EINTR) {}
    rc = ETIMEDOUT;
  }
  if (rc == EBUSY) return ETIMEDOUT;
  if (rc == EOWNERDEAD) {
    /* The holder died holding it: the data it guards may be half-written. */
    pthread_mutex_consistent(&h->aux->lock);
    return LOCK_RECOVERED;
  }
  return rc;
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
  if (h->locked) luaL_error(L, "this handle already holds the lock (it is not reentrant)");
  if ((rc = find_lock_kind(h)) != 0) return push_oserror(L, "lock", rc);
  rc = h->lock_kind == SMO_LOCK_KERNEL ? klock_lock(h, timeout) : flock_lock(h, timeout);
  if (rc == ETIMEDOUT) {
    luaL_pushfail(L);
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
  if (rc != 0) return push_oserror(L, "lock", gone_as_eidrm(rc));
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
  if (!h->locked) luaL_error(L, "unlock: this handle does not hold the lock");
  h->locked = 0;
  if (h->lock_kind == SMO_LOCK_KERNEL) klock_release(h);
  else pthread_mutex_unlock(&h->aux->lock);
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
  lua_pushboolean(L, h->semid >= 0 && getpid() == h->pid);
  return 1;
}

/* ------------------------------------------------------------- atomics */

/* An integer C type and an aligned offset for an atomic access. */
static size_t check_atomic(lua_State *L, smo_seg *h, int *code) {
  size_t off, w;
  *code = check_ctype(L, h, 2);
  if (*code > CT_U64) {
    lua_pushfstring(L, "atomic operations need an integer type, not '%s'", lua_tostring(L, 2));
    luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  w = ctype_width[*code];
  off = check_span(L, h, 3, w);
  if (((uintptr_t)(h->addr + off)) % w != 0) {
    lua_pushfstring(L, "offset %I is misaligned for a %d-byte atomic", (lua_Integer)off, (int)w);
    luaL_argerror(L, 3, lua_tostring(L, -1));
  }
  return off;
}

static void push_atomic(lua_State *L, int code, uint64_t bits) {
  unsigned char buf[8];
  store_bits(buf, code, bits);
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
  push_atomic(L, code, v);
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
      lua_pushfstring(L, "delta %I out of range for a %d-byte integer", d, (int)w);
      luaL_argerror(L, 4, lua_tostring(L, -1));
    }
  }
  if (h->readonly) raise_readonly(L);
  ATOMIC_BY_WIDTH(w, h->addr + off, prev = __atomic_fetch_add(q, (__typeof__(*q))(uint64_t)d, __ATOMIC_SEQ_CST))
  push_atomic(L, code, prev);
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
  push_atomic(L, code, cur);
  return 2;
}

/* ----------------------------------------------------------- wait/wake */

static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static uint32_t *check_futex_word(lua_State *L, smo_seg *h) {
  size_t off = check_span(L, h, 2, 4);
  if (((uintptr_t)(h->addr + off)) % 4 != 0) {
    lua_pushfstring(L, "offset %I is misaligned for a uint32_t", (lua_Integer)off);
    luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  return (uint32_t *)(void *)(h->addr + off);
}

/* The sleeper counters live in the fast lock's aux segment; segments with the
 * kernel lock have none (wake then always makes the system call). */
static void attach_sleepers(smo_seg *h) {
  if (h->aux == NULL && h->semid >= 0 && getpid() == h->pid && find_lock_kind(h) == 0 &&
      h->lock_kind == SMO_LOCK_FAST)
    aux_attach(h);
}

static uint32_t *sleepers_of(smo_seg *h, const uint32_t *word) {
  size_t off = (size_t)((const unsigned char *)word - h->addr);
  if (h->aux == NULL) return NULL;
  return &h->aux->sleepers[(off >> 2) % AUX_SLOTS];
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
  uint32_t *word = check_futex_word(L, h), *sleepers;
  lua_Integer e;
  uint32_t expected;
  double timeout;
  struct timespec rel, *relp = NULL;
  int i;
  long rc;
  e = smo_checkinteger(L, 3, "integer");
  luaL_argcheck(L, e >= 0 && e <= (lua_Integer)UINT32_MAX, 3, "expected value out of range for uint32_t");
  expected = (uint32_t)e;
  timeout = check_timeout(L, 4);
  /* A fast partner is caught here without a system call. */
  for (i = 0; i < SPIN_CHECKS; i++) {
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected) {
      lua_pushboolean(L, 1);
      return 1;
    }
    __builtin_ia32_pause();
  }
  if (timeout == 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (timeout > 0 && timeout <= TIMEOUT_FOREVER) {
    rel = timespec_of(timeout);
    relp = &rel;
  }
  attach_sleepers(h);
  sleepers = sleepers_of(h, word);
  if (sleepers) __atomic_fetch_add(sleepers, 1, __ATOMIC_SEQ_CST);
  /* The kernel compares *word with expected atomically with going to sleep. */
  rc = futex(word, FUTEX_WAIT, expected, relp);
  if (sleepers) __atomic_fetch_sub(sleepers, 1, __ATOMIC_SEQ_CST);
  lua_pushboolean(L, !(rc != 0 && errno == ETIMEDOUT));
  return 1;
}

/***
Wakes processes sleeping in `wait` on the `uint32_t` at `offset`.
@function Segment:wake
@tparam integer offset aligned to 4
@tparam[opt] integer n how many at most (default all)
@treturn integer how many were woken
@usage seg:atomic_store("uint32_t", 0, 1); seg:wake(0)
*/
static int seg_wake(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  uint32_t *word = check_futex_word(L, h), *sleepers;
  lua_Integer n = lua_isnoneornil(L, 3) ? INT_MAX : smo_checkinteger(L, 3, "number");
  long rc;
  luaL_argcheck(L, n >= 0, 3, "count must not be negative");
  if (n > INT_MAX) n = INT_MAX;
  attach_sleepers(h);
  sleepers = sleepers_of(h, word);
  /* Pairs with the waiter's increment: the caller's store of the new value
   * comes before this load, so a sleeper we miss sees the new value. */
  if (sleepers && __atomic_load_n(sleepers, __ATOMIC_SEQ_CST) == 0) {
    lua_pushinteger(L, 0);
    return 1;
  }
  rc = futex(word, FUTEX_WAKE, (uint32_t)n, NULL);
  if (rc < 0) return push_oserror(L, "futex", errno);
  lua_pushinteger(L, rc);
  return 1;
}

/* ------------------------------------------------------------ snapshots */

static uint32_t *check_seq(lua_State *L, smo_seg *h, int idx) {
  size_t off = check_span(L, h, idx, 4);
  if (((uintptr_t)(h->addr + off)) % 4 != 0) {
    lua_pushfstring(L, "sequence counter offset %I is misaligned for a uint32_t", (lua_Integer)off);
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
    luaL_error(L, "publish: the sequence counter is odd (a write is under way or its writer died; "
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
  uint32_t *seq = check_seq(L, h, 2);
  size_t off = check_span(L, h, 3, 0), len;
  double timeout;
  struct timespec now, dl;
  luaL_Buffer b;
  char *dst;
  unsigned spins = 0;
  {
    lua_Integer n = smo_checkinteger(L, 4, "integer length");
    luaL_argcheck(L, n >= 0 && (size_t)n <= h->size - off, 4, "length runs past the end of the segment");
    len = (size_t)n;
  }
  /* none: 1 s (a writer that never finishes has died); math.huge: for ever */
  timeout = lua_isnoneornil(L, 5) ? 1.0 : check_timeout(L, 5);
  dl = deadline_after(timeout < 0 ? TIMEOUT_FOREVER : timeout);
  dst = luaL_buffinitsize(L, &b, len);
  for (;;) {
    uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    if (!(s1 & 1u)) {
      uint32_t s2;
      memcpy(dst, h->addr + off, len);
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
      if (s1 == s2) break;
    }
    if (++spins % 1024 == 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > dl.tv_sec || (now.tv_sec == dl.tv_sec && now.tv_nsec >= dl.tv_nsec)) {
        luaL_pushfail(L);
        lua_pushliteral(L, "timeout");
        lua_pushinteger(L, ETIMEDOUT);
        return 3;
      }
      sched_yield();
    } else {
      __builtin_ia32_pause();
    }
  }
  luaL_pushresultsize(&b, len);
  return 1;
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
  bk_remove_hook = sync_remove_aux;
  ctr_release_hook = sync_release;
  register_funcs(L, SMO_METHODS, sync_methods);
}
