/*
 * The memory counter protocol (counter.h), top to bottom:
 *
 *   open   = find the bookkeeping set (or make it) and take its gate;
 *            find the segment (or create it); check owner and size; attach;
 *            count and release the gate in one operation.
 *   close  = take the gate and uncount in one operation; detach; decide
 *            (last user of a segment we own?); remove, or release the gate.
 *   remove = under the gate, the segment and its set (and through
 *            bk_remove_hook what lives as long as the set).
 *
 * Each step is a function returning a step result; the crash states a step
 * can meet (a process killed at any instruction of the same protocol, or
 * another program touching the key without it) are listed where the step
 * handles them.  The gate is a SEM_UNDO semaphore, so every death releases
 * it, and every count is SEM_UNDO, so the kernel takes a dead process's
 * shares back: what remains to handle is what a death leaves half done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include "counter.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18   /* Linux 4.14 */
#endif

/* Result of one step of the open protocol. */
typedef enum step {
  STEP_DONE,     /* this step is done: go on (or, at the end, opened) */
  STEP_RETRY,    /* the key changed under us: start again from the set */
  STEP_FAILED    /* failed, e filled; the gate is released or the set removed */
} step;

/* Why an open goes on without a counter (semid < 0). */
typedef enum no_set {
  NOSET_NONE,      /* (a PRIVATE segment, or the set is ours: semid >= 0) */
  NOSET_FOREIGN,   /* a set that is not ours holds the key: never touched */
  NOSET_READER,    /* our set, which this process may only read */
  NOSET_UNOWNED    /* no set, and the segment is not ours to make one for */
} no_set;

/* One open under way. */
typedef struct open_ctx {
  const ctr_request *rq;
  int semid;         /* the set whose gate we hold, -1 without bookkeeping */
  bk_info bi;        /* what bk_enter_key learnt of it */
  no_set no_set;     /* why semid < 0 */
  int fresh;         /* the set was made by this call: it guards nothing yet */
  int shmid;
  int created;       /* this call made the segment */
  smo_seg *h;
  ctr_error *e;
} open_ctx;

void (*ctr_release_hook)(smo_seg *h);

/* ------------------------------------------------------- this process */

/*
 * getpid() is a system call (glibc caches nothing since 2.25) and the fork
 * checks run on every lock and close.  The pid is kept in a page the kernel
 * gives every forked child zeroed (MADV_WIPEONFORK): a child, however it was
 * forked (atfork handlers or not), reads 0 there and asks the kernel again.
 * Where that is not available (an older kernel, valgrind) every call asks.
 */
static pid_t *self_page;   /* NULL until made; MAP_FAILED when unavailable */

static pid_t *make_self_page(void) {
  size_t len = (size_t)sysconf(_SC_PAGESIZE);
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  pid_t *expected = NULL;
  if (m != MAP_FAILED && madvise(m, len, MADV_WIPEONFORK) != 0) {
    munmap(m, len);
    m = MAP_FAILED;
  }
  /* Two threads may make it at once: one page wins, the other goes. */
  if (!__atomic_compare_exchange_n(&self_page, &expected, (pid_t *)m, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    if (m != MAP_FAILED) munmap(m, len);
    return expected;
  }
  return (pid_t *)m;
}

/* (counter.h) */
pid_t ctr_self(void) {
  pid_t *page = __atomic_load_n(&self_page, __ATOMIC_ACQUIRE), pid;
  if (page == NULL) page = make_self_page();
  if (page == (pid_t *)MAP_FAILED) return getpid();
  pid = __atomic_load_n(page, __ATOMIC_RELAXED);
  if (pid == 0) {
    pid = getpid();
    __atomic_store_n(page, pid, __ATOMIC_RELAXED);
  }
  return pid;
}

/* ------------------------------------------------------------- errors */

static int fail(ctr_error *e, const char *what, int err) {
  e->what = what;
  e->err = err;
  e->detail[0] = '\0';
  return -1;
}

/* The failure of an operation refused by rule rather than by the kernel. */
static int fail_detail(ctr_error *e, const char *what, int err, const char *fmt, unsigned a, unsigned b) {
  fail(e, what, err);
  snprintf(e->detail, sizeof e->detail, fmt, a, b);
  return -1;
}

/* EPERM naming the key, whose object it is (owner and creator) and the way out. */
static int fail_owner(ctr_error *e, const char *what, int key, unsigned uid, unsigned cuid) {
  fail(e, "open", EPERM);
  snprintf(e->detail, sizeof e->detail,
           "%s owned by uid %u (created by uid %u), not this process's uid %u: key 0x%08x "
           "(use any_owner to trust it)", what, uid, cuid, (unsigned)geteuid(), (unsigned)key);
  return -1;
}

/* A segment or set removed under us reads as one that is gone. */
static int gone(int err) {
  return err == EIDRM || err == EINVAL;
}

/* ------------------------------------------------------- modes and owners */

/* Mode for a bookkeeping set: exactly the segment's permission bits, so that
 * no other uid may write the counter, the gate or the lock unless it may write
 * the data; only the owner's read becomes read-write (the owner is us, and a
 * read-only segment of ours must still count us).  Readers of other uids are
 * not counted (they cannot be, without the right to write). */
static int set_mode_for(int seg_mode) {
  int m = seg_mode & 0666;
  return m | ((m & 0400) >> 1);
}

/* A set that grants more than the segment does is narrowed, if it is ours. */
static void narrow_set_mode(int semid, const bk_info *bi, int seg_mode) {
  int allowed = set_mode_for(seg_mode);
  if ((bi->mode & ~allowed & 0666) != 0 && bk_ours_uid(bi->uid, bi->cuid))
    bk_set_mode(semid, bi->mode & allowed);
}

static int seg_is_ours(const struct shmid_ds *ds) {
  return bk_ours_uid((unsigned)ds->shm_perm.uid, (unsigned)ds->shm_perm.cuid);
}

/* ----------------------------------------------------------------- attach */

/* Attaches shmid after the owner and size checks; fills h (not its state,
 * which the caller sets once the whole open succeeded).  *seg_mode gets the
 * segment's permission bits. */
static int attach_checked(const ctr_request *rq, int shmid, int created, smo_seg *h, int *seg_mode,
                          ctr_error *e) {
  struct shmid_ds ds;
  void *p;
  if (created) {
    /* made by this call: its size is the one asked, its owner us */
    ds.shm_segsz = rq->size;
    ds.shm_perm.mode = (unsigned short)(rq->mode & 0666);
  } else if (shmctl(shmid, IPC_STAT, &ds) != 0) {
    return fail(e, "shmctl", errno);
  }
  /* Linux lets a creator hand an object over (IPC_SET) and keep full control
   * of it as its creator: both must be us. */
  if (!created && !rq->any_owner && !seg_is_ours(&ds))
    return fail_owner(e, "segment", (int)ds.shm_perm.__key, (unsigned)ds.shm_perm.uid,
                      (unsigned)ds.shm_perm.cuid);
  if (rq->size > ds.shm_segsz) {
    fail(e, "open", EINVAL);
    snprintf(e->detail, sizeof e->detail, "segment has %zu bytes, fewer than the %zu asked",
             (size_t)ds.shm_segsz, rq->size);
    return -1;
  }
  p = shmat(shmid, NULL, rq->readonly ? SHM_RDONLY : 0);
  if (p == (void *)-1) return fail(e, "shmat", errno);
  h->addr = (unsigned char *)p;
  h->attach_gen++;
  h->size = ds.shm_segsz;
  h->shmid = shmid;
  h->readonly = (unsigned char)(rq->readonly != 0);
  h->lock_kind = SMO_LOCK_UNKNOWN;
  h->pid = ctr_self();
  if (seg_mode) *seg_mode = (int)(ds.shm_perm.mode & 0777);
  return 0;
}

/* A parked range (counter.h).  shm: the mmap failed, so the segment itself
 * stays attached until ctr_unpark (it is then not removed by its last
 * close; `smo gc` finds it once detached). */
typedef struct smo_parked {
  void *addr;
  size_t size;
  int shm;
  struct smo_parked *next;
} smo_parked;

/* Replaces h's mapping by private zeroed memory (counter.h).  Without
 * memory for the record the segment stays attached for the process's life:
 * a leak, never a fault. */
static void park(smo_seg *h) {
  smo_parked *p = (smo_parked *)malloc(sizeof *p);
  if (p == NULL) return;
  p->addr = h->addr;
  p->size = h->size;
  p->shm = mmap(h->addr, h->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
           == MAP_FAILED;
  p->next = h->parked;
  h->parked = p;
}

/* (counter.h) */
void ctr_unpark(smo_seg *h) {
  while (h->parked) {
    smo_parked *p = h->parked;
    h->parked = p->next;
    if (p->shm) shmdt(p->addr);
    else munmap(p->addr, p->size);
    free(p);
  }
}

/* (counter.h) */
void ctr_unpin(smo_seg *h) {
  if (h->pins > 0) h->pins--;
  if (h->pins == 0 && (!h->sticky || h->collected)) ctr_unpark(h);
}

/* Unmaps h (or parks it, when raw pointers into it may be in use); it is
 * closed from now on. */
static void detach(smo_seg *h) {
  if (h->pins || h->sticky) park(h);
  else shmdt(h->addr);
  h->addr = NULL;
  h->state = SMO_CLOSED;
}

/* A PRIVATE segment: no key, no counter.  Crash state: none that leaks, once
 * removed; a death between shmget and IPC_RMID leaves a segment only ipcs
 * shows (System V has no atomic create-and-remove). */
static int open_private(const ctr_request *rq, smo_seg *h, ctr_error *e) {
  int shmid = shmget(IPC_PRIVATE, rq->size, IPC_CREAT | (rq->mode & 0777));
  if (shmid < 0) return fail(e, "shmget", errno);
  if (attach_checked(rq, shmid, 1, h, NULL, e) != 0) {
    shmctl(shmid, IPC_RMID, NULL);
    return -1;
  }
  /* Linux keeps a removed segment while it is attached, and lets those who
   * know the id attach it: removal now is what makes it leak-proof. */
  if (!rq->persist) shmctl(shmid, IPC_RMID, NULL);
  h->key = IPC_PRIVATE;
  h->semid = -1;
  h->counted = 0;
  return 0;
}

/* ------------------------------------------------- open, under the gate */

/*
 * The end of every failed open: drop the set when nobody uses it and it
 * guards nothing (no segment, or a segment it would not remove), else just
 * release the gate.  Crash state: a segment with the OWNED mark and no users
 * (its creator died before counting) keeps its set, to be removed by the
 * next user's last close.
 */
static step abandon(open_ctx *c, int seg_exists) {
  bk_values vals;
  if (c->semid < 0) return STEP_FAILED;
  if (bk_read(c->semid, &vals) == 0 && vals.v[BK_COUNT] == 0 && (!seg_exists || vals.v[BK_OWNED] == 0))
    bk_remove_read(c->semid, &vals);
  else
    bk_leave(c->semid, 0);
  return STEP_FAILED;
}

/* A failure after the segment was found or made: a segment this call made
 * goes again, then abandon. */
static step unmake(open_ctx *c) {
  if (c->created) {
    shmctl(c->shmid, IPC_RMID, NULL);
    c->created = 0;
    return abandon(c, 0);
  }
  return abandon(c, 1);
}

/* The key names no segment, yet the set counts users.  Crash state: the
 * segment was removed behind our back (ipcrm, a program without the gate):
 * the bookkeeping is stale; it goes, so that its users' closes only detach. */
static step drop_stale_set(open_ctx *c) {
  int count;
  if (c->semid < 0 || c->fresh) return STEP_DONE;
  if ((count = bk_get(c->semid, BK_COUNT)) < 0) {
    int rc = errno;
    if (gone(rc)) return STEP_RETRY;
    bk_leave(c->semid, 0);
    fail(c->e, "semctl", rc);
    return STEP_FAILED;
  }
  if (count > 0) {
    bk_remove(c->semid);
    return STEP_RETRY;
  }
  return STEP_DONE;
}

/* Whether this open may create the missing segment, given why it has no
 * counter.  Without a set, nothing is touched on refusal. */
static step may_create(open_ctx *c) {
  const ctr_request *rq = c->rq;
  if (!rq->create) {
    fail(c->e, "shmget", ENOENT);
    return abandon(c, 0);
  }
  switch (c->no_set) {
    case NOSET_UNOWNED:
      return STEP_RETRY;   /* the segment went meanwhile: make bookkeeping */
    case NOSET_READER:
      fail_detail(c->e, "open", EACCES,
                  "key 0x%08x: this process may not write its bookkeeping set (mode 0%o), "
                  "so it cannot create the segment", (unsigned)rq->key, (unsigned)c->bi.mode);
      return STEP_FAILED;
    case NOSET_FOREIGN:
      if (rq->persist) return STEP_DONE;
      fail_detail(c->e, "open", EEXIST,
                  "key 0x%08x is held by a foreign semaphore set (not smobject's; mode 0%o): "
                  "no memory counter possible (use persist, or another key)",
                  (unsigned)rq->key, (unsigned)c->bi.mode);
      return STEP_FAILED;
    case NOSET_NONE:
      break;
  }
  return STEP_DONE;
}

/*
 * Creates the missing segment.  The OWNED mark goes on first, so that a
 * death between it and the count leaves a segment that the set will remove
 * (abandon keeps such a set; the next user's last close removes both).
 * Crash state: a program that does not use the gate creates the key first
 * (EEXIST): the mark goes off again (not ours to remove) and we start over.
 */
static step create_segment(open_ctx *c) {
  const ctr_request *rq = c->rq;
  int rc;
  /* (a set this call made starts with the mark asked for: BK_MARK_OWNED) */
  if (c->semid >= 0 && (!c->fresh || !rq->persist) && !(c->fresh && c->bi.owned) &&
      (rc = bk_set(c->semid, BK_OWNED, rq->persist ? 0 : 1)) != 0) {
    fail(c->e, "semctl", rc);
    return abandon(c, 0);
  }
  c->shmid = shmget((key_t)rq->key, rq->size, IPC_CREAT | IPC_EXCL | (rq->mode & 0666));
  if (c->shmid < 0) {
    rc = errno;
    if (rc == EEXIST) {
      if (c->semid >= 0) {
        bk_set(c->semid, BK_OWNED, 0);
        bk_leave(c->semid, 0);
      }
      return STEP_RETRY;
    }
    fail(c->e, "shmget", rc);
    return abandon(c, 0);
  }
  c->created = 1;
  return STEP_DONE;
}

/* The key names no segment (rc: shmget's errno). */
static step segment_missing(open_ctx *c, int rc) {
  step s;
  if (rc != ENOENT) {
    fail(c->e, "shmget", rc);
    return abandon(c, 0);
  }
  if ((s = drop_stale_set(c)) != STEP_DONE) return s;
  if ((s = may_create(c)) != STEP_DONE) return s;
  return create_segment(c);
}

/* The key names a segment. */
static step segment_found(open_ctx *c) {
  if (c->rq->create == CTR_CREATE_EXCL) {
    fail(c->e, "shmget", EEXIST);
    return abandon(c, 1);
  }
  if (c->no_set == NOSET_UNOWNED) {
    /* Not ours when we looked; if the key now names a segment of ours (removed
     * and made again meanwhile), it must get its bookkeeping: start again. */
    struct shmid_ds ds;
    if (shmctl(c->shmid, IPC_STAT, &ds) != 0 || seg_is_ours(&ds)) return STEP_RETRY;
  }
  return STEP_DONE;
}

/*
 * Attaches, then counts and releases the gate in one operation.  Crash
 * states: the segment removed between our shmget and shmat (ipcrm, a
 * remove() without the gate) is as if it had not been found: start again.
 * A count refused (ERANGE: the counter is full) still gives the gate back.
 */
static step attach_and_count(open_ctx *c) {
  const ctr_request *rq = c->rq;
  smo_seg *h = c->h;
  int seg_mode = 0, rc;
  if (attach_checked(rq, c->shmid, c->created, h, &seg_mode, c->e) != 0) {
    if (!c->created && gone(c->e->err) && strcmp(c->e->what, "open") != 0) {
      if (c->semid >= 0) bk_leave(c->semid, 0);
      return STEP_RETRY;
    }
    return unmake(c);
  }
  if (c->semid >= 0 && !c->fresh) narrow_set_mode(c->semid, &c->bi, seg_mode);
  h->key = rq->key;
  h->semid = c->semid;
  h->counted = c->semid >= 0;
  if (c->semid >= 0 && (rc = bk_leave(c->semid, 1)) != 0) {
    shmdt(h->addr);
    h->addr = NULL;
    h->counted = 0;
    if (gone(rc)) return STEP_RETRY;
    if (rc == ERANGE)
      fail_detail(c->e, "semop", ERANGE, "the memory counter of key 0x%08x is full (%u handles)",
                  (unsigned)rq->key, 32767u);
    else
      fail(c->e, "semop", rc);
    return unmake(c);
  }
  return STEP_DONE;
}

/* Under the gate (semid >= 0) or without bookkeeping (for the reason
 * no_set): find or create the segment, check, attach, count. */
static step open_gated(open_ctx *c) {
  step s;
  /* A set this call just made guards no segment yet: go straight to creating. */
  if (c->fresh && c->rq->create) {
    s = segment_missing(c, ENOENT);
  } else {
    c->shmid = shmget((key_t)c->rq->key, 0, 0);
    s = c->shmid < 0 ? segment_missing(c, errno) : segment_found(c);
  }
  return s == STEP_DONE ? attach_and_count(c) : s;
}

/* -------------------------------------------- finding the bookkeeping set */

/*
 * The key has no set yet: make one, with the mode of the segment if there is
 * one, else the mode asked for; but never for a segment that is not ours (it
 * is then attached, if allowed, without a counter).  Returns bk_enter_key's
 * result, or one of these: */
#define MAKE_SET_RETRY (-10)        /* the segment went while we looked: start again */
#define MAKE_SET_NO_SEGMENT (-11)   /* no segment either, and not asked to create */

static int make_set(open_ctx *c) {
  const ctr_request *rq = c->rq;
  struct shmid_ds ds;
  int setmode = set_mode_for(rq->mode), shmid = shmget((key_t)rq->key, 0, 0);
  int stat_rc = shmid >= 0 ? shmctl(shmid, IPC_STAT, &ds) : 0;
  if (stat_rc != 0 && gone(errno)) return MAKE_SET_RETRY;
  if (shmid >= 0 && (stat_rc != 0 || !seg_is_ours(&ds))) {
    c->no_set = NOSET_UNOWNED;
    return BK_FOREIGN;
  }
  if (shmid >= 0) setmode = set_mode_for(ds.shm_perm.mode);
  else if (errno == ENOENT && !rq->create) return MAKE_SET_NO_SEGMENT;
  /* A missing segment this call will create gets its OWNED mark with the set. */
  return bk_enter_key(rq->key, shmid < 0 ? BK_CREATE_FIRST | (rq->create && !rq->persist ? BK_MARK_OWNED : 0)
                                         : BK_CREATE, setmode, rq->any_owner, &c->semid, &c->bi);
}

/* Takes the gate of the key's set (making the set when it is missing), or
 * finds why the open goes on without one.  A set of another uid is refused
 * (EPERM) unless any_owner: it is never waited on, written or removed. */
static step enter_bookkeeping(open_ctx *c) {
  const ctr_request *rq = c->rq;
  int rc = bk_enter_key(rq->key, 0, 0, rq->any_owner, &c->semid, &c->bi);
  if (rc == ENOENT) {
    rc = make_set(c);
    if (rc == MAKE_SET_RETRY) return STEP_RETRY;
    if (rc == MAKE_SET_NO_SEGMENT) {
      fail(c->e, "shmget", ENOENT);
      return STEP_FAILED;
    }
  }
  switch (rc) {
    case 0:
      return STEP_DONE;
    case BK_FOREIGN:
      c->semid = -1;
      if (c->no_set == NOSET_NONE) c->no_set = NOSET_FOREIGN;
      return STEP_DONE;
    case BK_NO_ACCESS:
      c->semid = -1;
      c->no_set = NOSET_READER;
      return STEP_DONE;
    case BK_NOT_OURS:
      fail_owner(c->e, "semaphore set", rq->key, c->bi.uid, c->bi.cuid);
      return STEP_FAILED;
    default:
      fail(c->e, "semget", rc);
      return STEP_FAILED;
  }
}

/* A keyed open: set, then segment, from the start whenever a step finds the
 * key changed under it (STEP_RETRY). */
static int open_keyed(const ctr_request *rq, smo_seg *h, int *created, ctr_error *e) {
  for (;;) {
    open_ctx c;
    step s;
    memset(&c, 0, sizeof c);
    c.rq = rq;
    c.semid = -1;
    c.h = h;
    c.e = e;
    s = enter_bookkeeping(&c);
    if (s == STEP_DONE) {
      c.fresh = c.semid >= 0 && c.bi.fresh;
      s = open_gated(&c);
    }
    *created = c.created;
    if (s == STEP_DONE) return 0;
    if (s == STEP_FAILED) return -1;
  }
}

union ctr_semun {
  struct semid_ds *buf;
  struct seminfo *info;
};

/* Whose an object is, as the kernel tells anyone. */
typedef struct owner_info {
  const char *what;   /* "is a segment", "is held by a semaphore set"; NULL: none found */
  int key, shmid;
  unsigned uid, cuid, mode;
} owner_info;

/* The segment with id shmid (>= 0), or else the segment, then the set, under
 * key: found by SHM_STAT_ANY and SEM_STAT_ANY, which need no read right.
 * (The buffers are zeroed first: valgrind does not know that these commands
 * fill them, and an error path must not be its one report.) */
static void find_owner(int key, int shmid, owner_info *o) {
  struct shm_info si;
  struct seminfo mi;
  union ctr_semun arg;
  int max = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si), i;
  o->what = NULL;
  for (i = 0; i <= max; i++) {
    struct shmid_ds ds;
    int id;
    memset(&ds, 0, sizeof ds);
    id = shmctl(i, SHM_STAT_ANY, &ds);
    if (id < 0 || (shmid >= 0 ? id != shmid : ds.shm_perm.__key != (key_t)key || (ds.shm_perm.mode & SHM_DEST)))
      continue;
    o->what = "is a segment";
    o->key = (int)ds.shm_perm.__key;
    o->shmid = id;
    o->uid = (unsigned)ds.shm_perm.uid;
    o->cuid = (unsigned)ds.shm_perm.cuid;
    o->mode = (unsigned)ds.shm_perm.mode & 0777;
    return;
  }
  if (shmid >= 0) return;
  arg.info = &mi;
  max = semctl(0, 0, SEM_INFO, arg);
  for (i = 0; i <= max; i++) {
    struct semid_ds ds;
    memset(&ds, 0, sizeof ds);
    arg.buf = &ds;
    if (semctl(i, 0, SEM_STAT_ANY, arg) >= 0 && ds.sem_perm.__key == (key_t)key) {
      o->what = "is held by a semaphore set";
      o->key = key;
      o->shmid = -1;
      o->uid = (unsigned)ds.sem_perm.uid;
      o->cuid = (unsigned)ds.sem_perm.cuid;
      o->mode = (unsigned)ds.sem_perm.mode & 0777;
      return;
    }
  }
}

/* A refusal of permission (EACCES) in words: whose the object is, its mode,
 * and what this process was not granted.  Unchanged when nothing is found. */
static void explain_no_access(int key, int shmid, int readonly, ctr_error *e) {
  owner_info o;
  char id[32] = "";
  find_owner(key, shmid, &o);
  if (!o.what) return;
  if (shmid >= 0) snprintf(id, sizeof id, " (id %d)", shmid);
  e->what = "open";
  snprintf(e->detail, sizeof e->detail,
           "%s: key 0x%08x %s%s of uid %u (created by uid %u) with mode 0%o, which grants this process "
           "(uid %u) no %s (its owner can give a mode that does)", strerror(EACCES), (unsigned)o.key, o.what, id,
           o.uid, o.cuid, o.mode, (unsigned)geteuid(), readonly ? "read" : "read and write");
}

/* Words for a failed keyed open that the kernel's alone would not give: the
 * key, and for a refusal of permission whose object it is and its mode. */
static void explain(const ctr_request *rq, ctr_error *e) {
  if (e->detail[0] || rq->is_private) return;
  if (e->err == ENOENT && strcmp(e->what, "shmget") == 0) {
    snprintf(e->detail, sizeof e->detail, "%s: no segment has key 0x%08x", strerror(ENOENT), (unsigned)rq->key);
  } else if (e->err == EEXIST && strcmp(e->what, "shmget") == 0) {
    snprintf(e->detail, sizeof e->detail, "%s: key 0x%08x names a segment already", strerror(EEXIST),
             (unsigned)rq->key);
  } else if (e->err == EACCES) {
    explain_no_access(rq->key, -1, rq->readonly, e);
  }
}

/* (counter.h) The state becomes SMO_ATTACHED only once the whole open succeeded. */
int ctr_open(const ctr_request *rq, smo_seg *h, int *created, ctr_error *e) {
  int rc;
  *created = 0;
  if (rq->is_private) {
    *created = 1;
    rc = open_private(rq, h, e);
  } else {
    rc = open_keyed(rq, h, created, e);
  }
  if (rc == 0) h->state = SMO_ATTACHED;
  else explain(rq, e);
  return rc;
}

/* (counter.h) */
int ctr_attach_id(int shmid, int readonly, int any_owner, smo_seg *h, ctr_error *e) {
  ctr_request rq;
  struct shmid_ds ds;
  int created;
  memset(&rq, 0, sizeof rq);
  rq.readonly = readonly;
  rq.any_owner = any_owner;
  if (shmctl(shmid, IPC_STAT, &ds) != 0) {
    fail(e, "shmctl", errno);
    if (e->err == EACCES) explain_no_access(0, shmid, readonly, e);
    return -1;
  }
  rq.key = (int)ds.shm_perm.__key;
  if (rq.key != IPC_PRIVATE && shmget((key_t)rq.key, 0, 0) == shmid) {
    if (ctr_open(&rq, h, &created, e) != 0) return -1;
    if (h->shmid == shmid) return 0;
    ctr_release(h);              /* the key moved to another segment meanwhile */
  }
  if (attach_checked(&rq, shmid, 0, h, NULL, e) != 0) return -1;
  h->key = rq.key;
  h->semid = -1;
  h->state = SMO_ATTACHED;
  return 0;
}

/* ------------------------------------------------------------------ close */

/* Under the gate, the count just given back: the last user of a segment the
 * set owns removes both.  Crash state: a segment still attached but
 * uncounted (a forked child, a C program) keeps it all; the next smobject
 * user's last close removes it. */
static void decide(int semid, int shmid) {
  struct shmid_ds ds;
  bk_values vals;
  if (bk_read(semid, &vals) != 0 || vals.v[BK_COUNT] != 0) {   /* (or removed meanwhile) */
    bk_leave(semid, 0);
    return;
  }
  if (vals.v[BK_OWNED] == 1 && shmctl(shmid, IPC_STAT, &ds) == 0) {
    if (ds.shm_nattch > 0) {
      bk_leave(semid, 0);
      return;
    }
    shmctl(shmid, IPC_RMID, NULL);
  }
  bk_remove_read(semid, &vals);
}

/* (counter.h) The hook first, while attached; the share goes back in the
 * operation that takes the gate. */
void ctr_release(smo_seg *h) {
  int semid = h->semid, rc;
  if (h->state != SMO_ATTACHED) return;
  if (ctr_release_hook) ctr_release_hook(h);
  if (semid < 0 || ctr_self() != h->pid) {   /* no counter, or a forked child's copy */
    detach(h);
    return;
  }
  rc = bk_enter(semid, h->counted ? -1 : 0, 1);
  h->counted = 0;
  detach(h);
  /* The bookkeeping is gone (seg:remove()): nothing left to count. */
  if (rc != 0 && rc != BK_NOT_COUNTED) return;
  decide(semid, h->shmid);
}

/* (counter.h) A count already zero (BK_NOT_COUNTED) is a share already gone. */
int ctr_decrement(smo_seg *h, int *count, ctr_error *e) {
  if (h->counted) {
    int rc = bk_enter(h->semid, -1, 0);
    if (gone(rc)) return fail(e, "semop", EIDRM);
    if (rc && rc != BK_NOT_COUNTED) return fail(e, "semop", rc);
    h->counted = 0;
    *count = bk_get(h->semid, BK_COUNT);
    bk_leave(h->semid, 0);
  } else {
    *count = bk_get(h->semid, BK_COUNT);
  }
  if (*count < 0) return fail(e, "semctl", errno == EINVAL ? EIDRM : errno);
  return 0;
}

/* (counter.h) */
int ctr_users(const smo_seg *h, int *count, ctr_error *e) {
  if (h->semid < 0) {
    struct shmid_ds ds;
    if (shmctl(h->shmid, IPC_STAT, &ds) != 0) return fail(e, "shmctl", errno);
    *count = (int)ds.shm_nattch;
    return 0;
  }
  *count = bk_get(h->semid, BK_COUNT);
  if (*count < 0) return fail(e, "semctl", errno == EINVAL ? EIDRM : errno);
  return 0;
}

/* ----------------------------------------------------------------- remove */

/* (counter.h) */
int ctr_remove(const smo_seg *h, ctr_error *e) {
  int err = 0;
  /* under the gate, so that no open or close of another process is half done */
  int gated = h->semid >= 0 && bk_is_ours(h->semid) && bk_enter(h->semid, 0, 1) == 0;
  if (shmctl(h->shmid, IPC_RMID, NULL) != 0) err = errno;
  if (gated) bk_remove(h->semid);
  return err ? fail(e, "shmctl", err) : 0;
}

/* (counter.h) */
int ctr_remove_key(int key, ctr_error *e) {
  int semid = -1, shmid, rc, err = 0;
  bk_info bi;
  rc = bk_enter_key(key, 0, 0, 0, &semid, &bi);
  shmid = shmget((key_t)key, 0, 0);
  if (shmid < 0) err = errno;
  else if (shmctl(shmid, IPC_RMID, NULL) != 0) err = errno;
  if (rc == 0) {
    if (err == 0 || err == ENOENT) bk_remove(semid);   /* an orphan set goes too */
    else bk_leave(semid, 0);
  }
  if (!err) return 0;
  fail(e, shmid < 0 ? "shmget" : "shmctl", err);
  if (err == ENOENT)
    snprintf(e->detail, sizeof e->detail, "%s: no segment has key 0x%08x", strerror(ENOENT), (unsigned)key);
  return -1;
}
