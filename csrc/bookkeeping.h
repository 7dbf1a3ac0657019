/*
 * The memory counter's bookkeeping: a System V semaphore set stored under the
 * same key as the segment.  Every semaphore starts at zero on Linux, and every
 * meaning below makes zero the right initial state:
 *
 *   BK_GATE   0 = free; held (1) around find/create/attach/count and around
 *             uncount/decide/remove.  Taken with SEM_UNDO, so a death frees it.
 *   BK_COUNT  the memory counter; each handle adds 1 with SEM_UNDO, so the
 *             kernel takes a dead process's shares back.
 *   BK_MAGIC  BK_MAGIC_VALUE once initialised; tells our sets from foreign ones
 *             together with the unusual size BK_NSEMS.
 *   BK_OWNED  1 when smobject created the segment and must remove it when the
 *             count drops to zero; 0 for persistent or foreign segments.
 *   BK_AUX0..2 the id + 1 of the lock's private segment (sync.c), 15 bits
 *             in each; 0 = none yet.  Set under the gate, without SEM_UNDO.
 */
#ifndef SMOBJECT_BOOKKEEPING_H
#define SMOBJECT_BOOKKEEPING_H

enum {
  BK_GATE, BK_COUNT, BK_MAGIC, BK_OWNED, BK_AUX0, BK_AUX1, BK_AUX2,
  BK_NSEMS = 11
};
#define BK_MAGIC_VALUE 21325   /* "SM"; below SEMVMX (32767) */

/* Results besides 0 and errno values. */
#define BK_FOREIGN (-2)        /* a set that is not ours holds the key */

#define BK_CREATE 1
#define BK_CREATE_FIRST 2
int bk_enter_key(int key, int may_create, int mode, int *semid, unsigned *uid, int *fresh);
int bk_state(int semid, int *count, int *owned);
int bk_enter(int semid, int count_delta, int retry_intr);
int bk_leave(int semid, int count_delta);
int bk_get(int semid, int which);
int bk_set(int semid, int which, int value);
void bk_remove(int semid);
int bk_is_ours(int semid);
int bk_mode(int semid);
int bk_get_aux(int semid);
int bk_set_aux(int semid, int shmid);

#endif
