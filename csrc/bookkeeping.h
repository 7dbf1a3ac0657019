/*
 * The memory counter's bookkeeping: a System V semaphore set stored under the
 * same key as the segment, with exactly the segment's permission bits (so no
 * one may write it who may not write the data).  Every semaphore starts at
 * zero on Linux, and every meaning below makes zero the right initial state:
 *
 *   BK_GATE   0 = free; held (1) around find/create/attach/count and around
 *             uncount/decide/remove.  Taken with SEM_UNDO, so a death frees it.
 *   BK_COUNT  the memory counter; each handle adds 1 with SEM_UNDO, so the
 *             kernel takes a dead process's shares back.
 *   BK_MAGIC  BK_MAGIC_VALUE once initialised; tells our sets from foreign ones
 *             together with the unusual size BK_NSEMS.
 *   BK_OWNED  1 when smobject created the segment and must remove it when the
 *             count drops to zero; 0 for persistent or foreign segments.
 *   BK_AUX0..2 the id + 1 of the fast lock's private segment (sync.c), 15
 *             bits in each; 0 = none yet.  Set under the gate, without SEM_UNDO.
 *             That segment lives as long as the set: bk_remove removes it.
 *   BK_LOCK   the kernel-kept lock of segments other users may write: 1 while
 *             held, taken with SEM_UNDO (a death releases it).
 *   BK_HELD   the lock's "owner died" flag: +1 with the lock, -1 with the
 *             unlock, never undone; found set by the next taker = recovered.
 *   BK_PEND0..1 the pid (15 bits each) of a process making the fast lock's
 *             private segment, set before its shmget and cleared once its id
 *             is recorded: found set under the gate, it names a creator that
 *             died in between, whose orphan segment can then be found.
 */
#ifndef SMOBJECT_BOOKKEEPING_H
#define SMOBJECT_BOOKKEEPING_H

#include <sys/types.h>

#include "visibility.h"

SMO_HIDDEN_BEGIN

enum {
  BK_GATE, BK_COUNT, BK_MAGIC, BK_OWNED, BK_AUX0, BK_AUX1, BK_AUX2,
  BK_LOCK, BK_HELD, BK_PEND0, BK_PEND1,
  BK_NSEMS
};
#define BK_MAGIC_VALUE 21325   /* "SM"; below SEMVMX (32767) */

/* The fast lock's private segment has exactly this size (sync.c), which
 * with its creator's pid and uid tells an orphan of ours from anything else. */
#define BK_AUX_SIZE 512

/* Results of bk_enter_key besides 0 and errno values. */
#define BK_FOREIGN (-2)        /* a set of this uid that is not ours holds the key */
#define BK_NOT_OURS (-3)       /* a set of another uid holds the key (info says whose) */
#define BK_NO_ACCESS (-4)      /* our set, but this process may not write it (a reader) */
#define BK_NOT_COUNTED (-5)    /* bk_enter: gate held, but the count was zero already */

#define BK_CREATE 1
#define BK_CREATE_FIRST 2
#define BK_MARK_OWNED 4        /* or'ed in: a set this call makes starts with OWNED = 1,
                                * in the operation that marks it (its caller creates
                                * the segment next, which OWNED must precede) */

/* What bk_enter_key learnt of the set. */
typedef struct bk_info {
  unsigned uid, cuid;    /* owner and creator */
  int mode;              /* permission bits */
  int fresh;             /* 1 when this call made the set: count and flags are 0 */
  int owned;             /* (fresh) OWNED was set to 1 with the marker (BK_MARK_OWNED) */
} bk_info;

/* The set's values at one moment (GETALL). */
typedef struct bk_values {
  unsigned short v[BK_NSEMS];
} bk_values;

int bk_enter_key(int key, int may_create, int mode, int any_owner, int *semid, bk_info *info);
int bk_read(int semid, bk_values *out);
int bk_enter(int semid, int count_delta, int retry_intr);
int bk_leave(int semid, int count_delta);
int bk_get(int semid, int which);
int bk_set(int semid, int which, int value);
void bk_remove(int semid);
/* The same, given the values read under the gate that is still held (no
 * second read: what the removal needs changes only under the gate). */
void bk_remove_read(int semid, const bk_values *vals);
/* Called by bk_remove, under the gate, just before the set goes: whatever
 * else lives as long as the set (the fast lock's segment, lock.c, whose id
 * the set records: aux_id, -1 for none). */
extern void (*bk_remove_hook)(int semid, int aux_id);
int bk_is_ours(int semid);
int bk_mode(int semid);
int bk_set_mode(int semid, int mode);
int bk_get_aux(int semid);
int bk_set_aux(int semid, int shmid);
int bk_pending_begin(int semid);
void bk_reap_pending(int semid);
int bk_ours_uid(unsigned uid, unsigned cuid);

SMO_HIDDEN_END

#endif
