/*
 * The memory counter's semaphore set: finding, initialising, the gate.
 * See bookkeeping.h for the meaning of each semaphore.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <string.h>
#include <unistd.h>

#include "bookkeeping.h"

union bk_semun {
  int val;
  struct semid_ds *buf;
  unsigned short *array;
};

/* Runs ops on semid, retrying EINTR when asked; 0 or errno. */
static int bk_semop(int semid, struct sembuf *ops, size_t n, int retry_intr) {
  for (;;) {
    if (semop(semid, ops, n) == 0) return 0;
    if (errno != EINTR || !retry_intr) return errno;
  }
}

/*
 * Takes the gate of an initialised set: the magic test comes first with
 * IPC_NOWAIT, so a set without our marker fails at once with EAGAIN instead
 * of queueing on a gate that is not ours.  count_delta rides in the same
 * atomic operation (a close gives its share back as it enters).  Returns 0,
 * BK_NOT_COUNTED (the gate is held, but the count was already zero), or an
 * errno.
 */
int bk_enter(int semid, int count_delta, int retry_intr) {
  struct sembuf ops[5] = {
    { BK_MAGIC, -BK_MAGIC_VALUE, IPC_NOWAIT },
    { BK_MAGIC, BK_MAGIC_VALUE, 0 },
    { BK_GATE, 0, 0 },
    { BK_GATE, 1, SEM_UNDO },
    { BK_COUNT, (short)count_delta, SEM_UNDO | IPC_NOWAIT },
  };
  /* A count that cannot go down (zero: someone who may write the set set it)
   * must not block a close: the share is then given up as already gone. */
  int err = bk_semop(semid, ops, count_delta ? 5 : 4, retry_intr);
  if (err == EAGAIN && count_delta < 0 && bk_semop(semid, ops, 4, retry_intr) == 0) return BK_NOT_COUNTED;
  return err;
}

/* Releases the gate; an open adds its share in the same operation. */
int bk_leave(int semid, int count_delta) {
  struct sembuf ops[2] = {
    { BK_COUNT, (short)count_delta, SEM_UNDO },
    { BK_GATE, -1, SEM_UNDO },
  };
  return count_delta ? bk_semop(semid, ops, 2, 1) : bk_semop(semid, ops + 1, 1, 1);
}

/* Marks a fresh set (otime 0, magic 0) as ours and takes its gate, atomically,
 * so that two processes initialising it at once cannot both succeed; owned
 * sets OWNED in the same operation.  Every operation is IPC_NOWAIT: a set
 * whose gate is held is not fresh, and is never waited on here. */
static int bk_init(int semid, int owned) {
  struct sembuf ops[5] = {
    { BK_MAGIC, 0, IPC_NOWAIT },
    { BK_MAGIC, BK_MAGIC_VALUE, IPC_NOWAIT },
    { BK_GATE, 0, IPC_NOWAIT },
    { BK_GATE, 1, SEM_UNDO | IPC_NOWAIT },
    { BK_OWNED, 1, IPC_NOWAIT },
  };
  return bk_semop(semid, ops, owned ? 5 : 4, 0);
}

/* Both the owner and the creator are this process's effective uid. */
int bk_ours_uid(unsigned uid, unsigned cuid) {
  unsigned me = (unsigned)geteuid();
  return uid == me && cuid == me;
}

/* A set nobody has ever operated on or set: what our creator leaves when it
 * dies between semget and marking.  SETVAL and SETALL record a pid, semop an
 * otime, so a set a foreign program initialised never passes. */
static int bk_untouched(int semid, const struct semid_ds *ds) {
  unsigned short v[BK_NSEMS];
  union bk_semun arg;
  int i;
  if (ds->sem_otime != 0) return 0;
  arg.array = v;
  if (semctl(semid, 0, GETALL, arg) != 0) return 0;
  for (i = 0; i < BK_NSEMS; i++)
    if (v[i] != 0 || semctl(semid, i, GETPID) != 0) return 0;
  return 1;
}

int bk_get(int semid, int which) {
  return semctl(semid, which, GETVAL);
}

/* Only for semaphores nobody adjusts with SEM_UNDO (SETVAL wipes adjustments). */
int bk_set(int semid, int which, int value) {
  union bk_semun arg;
  arg.val = value;
  return semctl(semid, which, SETVAL, arg) == 0 ? 0 : errno;
}

static int aux_of(const bk_values *vals);
static void reap_pending(int semid, const bk_values *vals);

/* Removes the set, and what lives as long as it; under the gate, so an
 * orphan of a dead creator of the fast lock's segment goes too
 * (bk_reap_pending). */
void (*bk_remove_hook)(int semid, int aux_id);

void bk_remove_read(int semid, const bk_values *vals) {
  reap_pending(semid, vals);
  if (bk_remove_hook) bk_remove_hook(semid, aux_of(vals));
  semctl(semid, 0, IPC_RMID);
}

void bk_remove(int semid) {
  bk_values vals;
  if (bk_read(semid, &vals) == 0) bk_remove_read(semid, &vals);
  else semctl(semid, 0, IPC_RMID);
}

/* Gives the set the permission bits mode (the owner's right to). */
int bk_set_mode(int semid, int mode) {
  struct semid_ds ds;
  union bk_semun arg;
  arg.buf = &ds;
  if (semctl(semid, 0, IPC_STAT, arg) != 0) return errno;
  ds.sem_perm.mode = (unsigned short)((ds.sem_perm.mode & ~0777u) | ((unsigned)mode & 0777u));
  return semctl(semid, 0, IPC_SET, arg) == 0 ? 0 : errno;
}

/* The set's permission bits, or -1. */
int bk_mode(int semid) {
  struct semid_ds ds;
  union bk_semun arg;
  arg.buf = &ds;
  if (semctl(semid, 0, IPC_STAT, arg) != 0) return -1;
  return (int)(ds.sem_perm.mode & 0777);
}

/* A set is ours when it has our size and carries the marker. */
int bk_is_ours(int semid) {
  struct semid_ds ds;
  union bk_semun arg;
  arg.buf = &ds;
  if (semctl(semid, 0, IPC_STAT, arg) != 0) return 0;
  return ds.sem_nsems == BK_NSEMS && semctl(semid, BK_MAGIC, GETVAL) == BK_MAGIC_VALUE;
}

/*
 * Finds the bookkeeping set of key and takes its gate.  may_create: 0 only
 * finds; BK_CREATE also creates a missing set (with mode); BK_CREATE_FIRST
 * tries creating before looking (the caller saw it missing a moment ago).
 *
 * Nothing about a set is believed before its owner is checked: a set whose
 * owner or creator is another uid is BK_NOT_OURS (unless any_owner), and is
 * never waited on, written or removed.  Then a set of our size carrying the
 * marker is ours; one that nobody ever touched is ours too (its creator died
 * before marking it) and is marked now; anything else is BK_FOREIGN.
 *
 * Returns 0 with the gate held, ENOENT when there is no set and creating was
 * not allowed, BK_FOREIGN, BK_NOT_OURS, BK_NO_ACCESS (ours, but this process
 * may only read it), or another errno.  *info tells whose set it is.
 */
int bk_enter_key(int key, int may_create, int mode, int any_owner, int *semid, bk_info *info) {
  int owned = (may_create & BK_MARK_OWNED) != 0;
  int try_create;
  may_create &= ~BK_MARK_OWNED;
  try_create = may_create == BK_CREATE_FIRST;
  memset(info, 0, sizeof *info);
  for (;;) {
    struct semid_ds ds;
    union bk_semun arg;
    int id = -1, err, trusted;
    if (!try_create) id = semget((key_t)key, 0, 0);
    if (id < 0) {
      if (!try_create && (errno != ENOENT || !may_create)) return errno;
      try_create = 0;
      id = semget((key_t)key, BK_NSEMS, IPC_CREAT | IPC_EXCL | (mode & 0666));
      if (id < 0) {
        if (errno == EEXIST) continue;   /* another process was quicker */
        return errno;
      }
      /* Ours and new: mark it and take the gate at once, unless another
       * process found it first (then it is an ordinary existing set). */
      if (bk_init(id, owned) == 0) {
        *semid = id;
        info->uid = info->cuid = (unsigned)geteuid();
        info->mode = mode & 0666;
        info->fresh = 1;
        info->owned = owned;
        return 0;
      }
    }
    arg.buf = &ds;
    if (semctl(id, 0, IPC_STAT, arg) != 0) {
      if (errno == EIDRM || errno == EINVAL) continue;
      return errno;
    }
    info->uid = (unsigned)ds.sem_perm.uid;
    info->cuid = (unsigned)ds.sem_perm.cuid;
    info->mode = (int)(ds.sem_perm.mode & 0777);
    trusted = bk_ours_uid(info->uid, info->cuid);
    if (!trusted && !any_owner) return BK_NOT_OURS;
    if (ds.sem_nsems != BK_NSEMS) return BK_FOREIGN;
    err = bk_enter(id, 0, 0);
    if (err == EAGAIN) {
      /* No marker.  Only a set of ours that nobody ever touched is adopted. */
      if (!trusted) return BK_FOREIGN;
      if (!bk_untouched(id, &ds)) {
        /* Its creator may have marked it since we looked: then it is ours. */
        int magic = semctl(id, BK_MAGIC, GETVAL);
        if (magic == BK_MAGIC_VALUE) continue;
        /* ... or it is gone already (made, used and removed meanwhile). */
        if (magic < 0 && (errno == EIDRM || errno == EINVAL)) continue;
        return BK_FOREIGN;
      }
      err = bk_init(id, 0);
      if (err == EAGAIN) continue;     /* another process marked it first */
    }
    if (err == EIDRM || err == EINVAL) continue;  /* removed under us: start again */
    if (err == EACCES) return BK_NO_ACCESS;
    if (err) return err;
    *semid = id;
    return 0;
  }
}

/* Every value in one call; 0 or errno. */
int bk_read(int semid, bk_values *out) {
  union bk_semun arg;
  memset(out, 0, sizeof *out);
  arg.array = out->v;
  return semctl(semid, 0, GETALL, arg) == 0 ? 0 : errno;
}

/* The lock segment's id in vals, -1 when there is none. */
static int aux_of(const bk_values *vals) {
  long id = (long)vals->v[BK_AUX0] | ((long)vals->v[BK_AUX1] << 15) | ((long)vals->v[BK_AUX2] << 30);
  return (int)(id - 1);
}

/* The lock segment's id, -1 when there is none (or on error). */
int bk_get_aux(int semid) {
  bk_values vals;
  return bk_read(semid, &vals) == 0 ? aux_of(&vals) : -1;
}

/* Records the lock segment's id, which ends the pending window (its pid goes). */
int bk_set_aux(int semid, int shmid) {
  long v = (long)shmid + 1;
  int err;
  if ((err = bk_set(semid, BK_AUX0, (int)(v & 0x7fff))) != 0) return err;
  if ((err = bk_set(semid, BK_AUX1, (int)((v >> 15) & 0x7fff))) != 0) return err;
  if ((err = bk_set(semid, BK_AUX2, (int)((v >> 30) & 0x7fff))) != 0) return err;
  if ((err = bk_set(semid, BK_PEND0, 0)) != 0) return err;
  return bk_set(semid, BK_PEND1, 0);
}

/*
 * The window System V cannot close: between the shmget of the fast lock's
 * private segment and its IPC_RMID, a death leaves a segment that no key
 * names.  Its creator records its pid here first (under the gate), and clears
 * it once the segment is safe (removed-while-attached and its id recorded).
 */
int bk_pending_begin(int semid) {
  long pid = (long)getpid();
  int err = bk_set(semid, BK_PEND1, (int)((pid >> 15) & 0x7fff));
  return err ? err : bk_set(semid, BK_PEND0, (int)(pid & 0x7fff));
}

/* Under the gate: a pid still recorded names a creator that died in the
 * window; its orphan is the private segment of exactly BK_AUX_SIZE bytes that
 * this uid owns and made, created by that pid, attached by nobody and not
 * yet removed.  Removes it and clears the record. */
static void reap_pending(int semid, const bk_values *vals) {
  struct shm_info info;
  long pid = (long)vals->v[BK_PEND0] | ((long)vals->v[BK_PEND1] << 15);
  int maxidx, i;
  if (pid == 0) return;
  maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&info);
  for (i = 0; i <= maxidx; i++) {
    struct shmid_ds ds;
    int id = shmctl(i, SHM_STAT, &ds);
    if (id < 0) continue;
    if (ds.shm_perm.__key == IPC_PRIVATE && ds.shm_segsz == BK_AUX_SIZE && (long)ds.shm_cpid == pid &&
        bk_ours_uid((unsigned)ds.shm_perm.uid, (unsigned)ds.shm_perm.cuid) && ds.shm_nattch == 0 &&
        !(ds.shm_perm.mode & SHM_DEST))
      shmctl(id, IPC_RMID, NULL);
  }
  bk_set(semid, BK_PEND0, 0);
  bk_set(semid, BK_PEND1, 0);
}

void bk_reap_pending(int semid) {
  bk_values vals;
  if (bk_read(semid, &vals) == 0) reap_pending(semid, &vals);
}
