/*
 * The segment's lock without Lua (lock.h): its two kinds, the fast lock's
 * private segment and its lifetime, and what closing a handle must release.
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
 *   it is removed with it (remove_aux is bk_remove_hook), never when its
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
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"

#include <linux/futex.h>   /* after our headers: elsewhere than Linux, their #error comes first */

#define AUX_MAGIC 0x31305855414f4d53ULL   /* "SMOAUX01" */
#define AUX_SLOTS 64                      /* sleeper counters, by offset hash */

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

/* A set gone (removed, its id stale or reused) reads as EIDRM, as the API says. */
static int gone_as_eidrm(int err) {
  return err == EINVAL ? EIDRM : err;
}

/* Under the gate: the aux segment the set records, if it is valid and live.
 * Crash state: marked removed, yet its set lives: a removal was cut short by
 * a death.  It goes now, and the set gets a new one. */
static smo_aux *aux_find(int semid) {
  int id = bk_get_aux(semid);
  smo_aux *a = aux_open(semid, id);
  if (a == NULL || !__atomic_load_n(&a->removed, __ATOMIC_SEQ_CST)) return a;
  shmdt(a);
  shmctl(id, IPC_RMID, NULL);
  return NULL;
}

/* A robust, process-shared, error-checking mutex, then the marker. */
static void aux_init(smo_aux *a, int semid) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&a->lock, &ma);
  pthread_mutexattr_destroy(&ma);
  a->semid = semid;
  __atomic_store_n(&a->magic, AUX_MAGIC, __ATOMIC_RELEASE);
}

/* Nothing was left behind: no orphan to look for. */
static int aux_abandon(int semid, int err) {
  bk_set(semid, BK_PEND0, 0);
  bk_set(semid, BK_PEND1, 0);
  return err;
}

/* Under the gate: makes the aux segment of h's set.  Only this uid may touch
 * it.  Crash state: a death between shmget and the recording of the id
 * leaves a segment no key names; the pid recorded first (pending) lets the
 * next user under the gate remove that orphan (bk_reap_pending). */
static int aux_create(smo_seg *h) {
  int id, err;
  void *p;
  bk_reap_pending(h->semid);
  if ((err = bk_pending_begin(h->semid)) != 0) return gone_as_eidrm(err);
  id = shmget(IPC_PRIVATE, sizeof(smo_aux), IPC_CREAT | 0600);
  if (id < 0) return aux_abandon(h->semid, errno);
  p = shmat(id, NULL, 0);
  if (p == (void *)-1) {
    err = errno;
    shmctl(id, IPC_RMID, NULL);
    return aux_abandon(h->semid, err);
  }
  aux_init((smo_aux *)p, h->semid);
  if ((err = bk_set_aux(h->semid, id)) != 0) {
    shmdt(p);   /* still pending: the next user removes it */
    return gone_as_eidrm(err);
  }
  h->aux = (smo_aux *)p;
  return 0;
}

/* Attaches the aux segment of h's bookkeeping, making it if there is none;
 * under the gate.  0 or an errno (EIDRM when the bookkeeping is gone). */
static int aux_attach(smo_seg *h) {
  int err = bk_enter(h->semid, 0, 1);
  if (err != 0) return gone_as_eidrm(err);
  h->aux = aux_find(h->semid);
  err = h->aux != NULL ? 0 : aux_create(h);
  bk_leave(h->semid, 0);
  return err;
}

/* Removes the aux segment of semid (under the gate, just before the set
 * goes): processes still attached keep it until they detach, and see it
 * marked removed (lock then gives EIDRM). */
static void remove_aux(int semid, int id) {
  smo_aux *p = aux_open(semid, id);
  if (p == NULL) return;
  __atomic_store_n(&p->removed, 1, __ATOMIC_SEQ_CST);
  shmdt(p);
  shmctl(id, IPC_RMID, NULL);
}

/* ------------------------------------------------------------- timeouts */

/* Seconds as a timespec, never out of range. */
struct timespec timespec_of(double seconds) {
  struct timespec ts;
  double whole = floor(seconds);
  ts.tv_sec = (time_t)whole;
  ts.tv_nsec = (long)((seconds - whole) * 1e9);
  if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  return ts;
}

/* CLOCK_MONOTONIC now + seconds (capped at TIMEOUT_FOREVER). */
struct timespec deadline_after(double seconds) {
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


/* ------------------------------------------------------- the kernel lock */

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
    if (bk_get(h->semid, BK_LOCK) == 1 && semctl(h->semid, BK_LOCK, GETPID) == (int)ctr_self()) {
      if (dl == NULL && !nowait) return EDEADLK;
      if (dl != NULL)
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, dl, NULL) == EINTR) {}
      return ETIMEDOUT;
    }
    if (!nowait) rc = klock_take(h, dl, 0, 1);
  }
  if (rc == EAGAIN) {
    /* Busy (timed out or not waiting), or free with a dead holder's flag up:
     * take the lock whatever the flag (within what is left of the wait),
     * then look at the flag, which only a holder changes.  (Not "is the flag
     * up?" first: another waiter may recover the lock and release it between
     * our wait and that look, and a waiter without a timeout would then be
     * told "timeout".) */
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

/* The fast lock or the kernel's, found on first use. */
int lock_take(smo_seg *h, double timeout) {
  int rc = find_lock_kind(h);
  if (rc != 0) return rc;
  rc = h->lock_kind == SMO_LOCK_KERNEL ? klock_lock(h, timeout) : flock_lock(h, timeout);
  return rc == ETIMEDOUT || rc == LOCK_RECOVERED ? rc : gone_as_eidrm(rc);
}

/* (lock.h) */
void lock_release(smo_seg *h) {
  h->locked = 0;
  if (h->lock_kind == SMO_LOCK_KERNEL) klock_release(h);
  else pthread_mutex_unlock(&h->aux->lock);
}

/* ------------------------------------------------------------ on close */

/* Closing a handle releases its lock and its aux attachment (this is
 * ctr_release_hook: the close protocol calls it, never by name).  A forked
 * child holds neither the lock (its thread is not the owner) nor anything
 * else but the mapping. */
static void release_on_close(smo_seg *h) {
  if (h->locked && ctr_self() == h->pid && h->lock_kind == SMO_LOCK_KERNEL) klock_release(h);
  if (h->aux == NULL) {
    h->locked = 0;
    return;
  }
  if (h->locked && ctr_self() == h->pid) pthread_mutex_unlock(&h->aux->lock);
  h->locked = 0;
  shmdt(h->aux);
  h->aux = NULL;
}

/* ------------------------------------------------------------- sleepers */

/* The sleeper counters live in the fast lock's aux segment; segments with the
 * kernel lock have none (wake then always makes the system call). */
static void attach_sleepers(smo_seg *h) {
  if (h->aux == NULL && h->semid >= 0 && ctr_self() == h->pid && find_lock_kind(h) == 0 &&
      h->lock_kind == SMO_LOCK_FAST)
    aux_attach(h);
}

static uint32_t *sleepers_of(smo_seg *h, const uint32_t *word) {
  size_t off = (size_t)((const unsigned char *)word - h->addr);
  if (h->aux == NULL) return NULL;
  return &h->aux->sleepers[(off >> 2) % AUX_SLOTS];
}

/* (lock.h) */
uint32_t *lock_sleepers(smo_seg *h, const uint32_t *word) {
  attach_sleepers(h);
  return sleepers_of(h, word);
}

/* ----------------------------------------------------------- wait/wake */

#define SPIN_CHECKS 2000                  /* value checks before word_wait sleeps */

static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* (lock.h) */
int word_wait(smo_seg *h, uint32_t *word, uint32_t expected, double timeout) {
  struct timespec rel, *relp = NULL;
  uint32_t *sleepers;
  long rc;
  int i;
  /* A fast partner is caught here without a system call. */
  for (i = 0; i < SPIN_CHECKS; i++) {
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected) return 1;
    __builtin_ia32_pause();
  }
  if (timeout == 0) return 0;
  if (timeout > 0 && timeout <= TIMEOUT_FOREVER) {
    rel = timespec_of(timeout);
    relp = &rel;
  }
  sleepers = lock_sleepers(h, word);
  if (sleepers) __atomic_fetch_add(sleepers, 1, __ATOMIC_SEQ_CST);
  /* The kernel compares *word with expected atomically with going to sleep. */
  rc = futex(word, FUTEX_WAIT, expected, relp);
  if (sleepers) __atomic_fetch_sub(sleepers, 1, __ATOMIC_SEQ_CST);
  return !(rc != 0 && errno == ETIMEDOUT);
}

/* (lock.h) */
long word_wake(smo_seg *h, uint32_t *word, int n) {
  uint32_t *sleepers = lock_sleepers(h, word);
  /* Pairs with the waiter's increment: the caller's store of the new value
   * comes before this load, so a sleeper we miss sees the new value. */
  if (sleepers && __atomic_load_n(sleepers, __ATOMIC_SEQ_CST) == 0) return 0;
  return futex(word, FUTEX_WAKE, (uint32_t)n, NULL);
}

/* (lock.h) */
void lock_init(void) {
  bk_remove_hook = remove_aux;
  ctr_release_hook = release_on_close;
}
