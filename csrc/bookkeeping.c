/*
 * The memory counter's semaphore set: finding, initialising, the gate.
 * See bookkeeping.h for the meaning of each semaphore.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/types.h>

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
 * atomic operation (a close gives its share back as it enters).
 */
int bk_enter(int semid, int count_delta, int retry_intr) {
  struct sembuf ops[5] = {
    { BK_MAGIC, -BK_MAGIC_VALUE, IPC_NOWAIT },
    { BK_MAGIC, BK_MAGIC_VALUE, 0 },
    { BK_GATE, 0, 0 },
    { BK_GATE, 1, SEM_UNDO },
    { BK_COUNT, (short)count_delta, SEM_UNDO },
  };
  return bk_semop(semid, ops, count_delta ? 5 : 4, retry_intr);
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
 * so that two processes initialising it at once cannot both succeed. */
static int bk_init(int semid) {
  struct sembuf ops[4] = {
    { BK_MAGIC, 0, IPC_NOWAIT },
    { BK_MAGIC, BK_MAGIC_VALUE, 0 },
    { BK_GATE, 0, 0 },
    { BK_GATE, 1, SEM_UNDO },
  };
  return bk_semop(semid, ops, 4, 0);
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

void bk_remove(int semid) {
  semctl(semid, 0, IPC_RMID);
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
 * Returns 0 with the gate held, ENOENT when there is no set and creating was
 * not allowed, BK_FOREIGN when a set that is not ours holds the key, or
 * another errno.  *uid is the set's owner (0 when fresh); *fresh is 1 when this call made
 * the set (its count and flags are then known to be zero).
 */
int bk_enter_key(int key, int may_create, int mode, int *semid, unsigned *uid, int *fresh) {
  int try_create = may_create == BK_CREATE_FIRST;
  *fresh = 0;
  for (;;) {
    struct semid_ds ds;
    union bk_semun arg;
    int id = -1, err;
    if (!try_create) id = semget((key_t)key, 0, 0);
    if (id < 0) {
      if (!try_create && (errno != ENOENT || !may_create)) return errno;
      try_create = 0;
      id = semget((key_t)key, BK_NSEMS, IPC_CREAT | IPC_EXCL | (mode & 0777));
      if (id < 0) {
        if (errno == EEXIST) continue;   /* another process was quicker */
        return errno;
      }
      /* Ours and new: mark it and take the gate at once, unless another
       * process found it first (then it is an ordinary existing set). */
      if (bk_init(id) == 0) {
        *semid = id;
        *uid = 0;          /* not asked: the caller made it */
        *fresh = 1;
        return 0;
      }
    }
    arg.buf = &ds;
    if (semctl(id, 0, IPC_STAT, arg) != 0) {
      if (errno == EIDRM || errno == EINVAL) continue;
      return errno;
    }
    if (ds.sem_nsems != BK_NSEMS) return BK_FOREIGN;
    err = bk_enter(id, 0, 0);
    if (err == EAGAIN) {
      /* No marker: a set nobody has operated on yet is a fresh one of ours
       * (its creator may have died before marking it); anything else is foreign. */
      if (ds.sem_otime != 0) return BK_FOREIGN;
      err = bk_init(id);
      if (err == EAGAIN) continue;     /* someone else initialised it */
    }
    if (err == EIDRM || err == EINVAL) continue;  /* removed under us: start again */
    if (err) return err;
    *semid = id;
    *uid = ds.sem_perm.uid;
    return 0;
  }
}

/* The count and the OWNED flag in one call. */
int bk_state(int semid, int *count, int *owned) {
  unsigned short v[BK_NSEMS];
  union bk_semun arg;
  arg.array = v;
  if (semctl(semid, 0, GETALL, arg) != 0) return errno;
  *count = v[BK_COUNT];
  *owned = v[BK_OWNED];
  return 0;
}

/* The lock segment's id, -1 when there is none (or on error). */
int bk_get_aux(int semid) {
  unsigned short v[BK_NSEMS];
  union bk_semun arg;
  long id;
  arg.array = v;
  if (semctl(semid, 0, GETALL, arg) != 0) return -1;
  id = (long)v[BK_AUX0] | ((long)v[BK_AUX1] << 15) | ((long)v[BK_AUX2] << 30);
  return (int)(id - 1);
}

int bk_set_aux(int semid, int shmid) {
  long v = (long)shmid + 1;
  int err;
  if ((err = bk_set(semid, BK_AUX0, (int)(v & 0x7fff))) != 0) return err;
  if ((err = bk_set(semid, BK_AUX1, (int)((v >> 15) & 0x7fff))) != 0) return err;
  return bk_set(semid, BK_AUX2, (int)((v >> 30) & 0x7fff));
}
