/*
 * The segment's crash-safe lock, without Lua (lock.c): taking and releasing
 * it, the fast lock's private segment (which lives exactly as long as the
 * bookkeeping set), and the sleeper counters of wait/wake kept there.
 * lock_init registers what the lifecycle must call without naming the lock:
 * the release of a closing handle (ctr_release_hook) and the removal of the
 * private segment with its set (bk_remove_hook).
 */
#ifndef SMOBJECT_LOCK_H
#define SMOBJECT_LOCK_H

#include <stdint.h>
#include <time.h>

#include "bookkeeping.h"
#include "counter.h"

SMO_HIDDEN_BEGIN

/* lock_take's result besides 0, ETIMEDOUT and errno values (EIDRM once the
 * bookkeeping is gone, EDEADLK when another handle of this thread holds it
 * and no timeout was given): the previous holder died holding it. */
#define LOCK_RECOVERED (-1)

/* Takes h's lock; timeout in seconds, < 0 for ever, 0 not waiting.  The
 * caller checked that h has bookkeeping and belongs to this process, and
 * marks h->locked. */
int lock_take(smo_seg *h, double timeout);

/* Releases the lock h holds (h->locked is cleared). */
void lock_release(smo_seg *h);

/* The sleeper counter of the uint32 at word (in h's mapping), in the fast
 * lock's segment (attached on first use); NULL where there is none (the
 * kernel lock, or no bookkeeping): wake then always makes the system call. */
uint32_t *lock_sleepers(smo_seg *h, const uint32_t *word);

/* Segment:wait without Lua: sleeps while the uint32 at word (in h's
 * mapping, aligned) equals expected, after a brief spin, counting itself in
 * the sleeper counter.  timeout in seconds, < 0 for ever, 0 spins only.  1
 * when woken or the value differs (look again), 0 on timeout. */
int word_wait(smo_seg *h, uint32_t *word, uint32_t expected, double timeout);

/* Segment:wake without Lua: wakes at most n sleepers of word (none without
 * a system call when the sleeper counter says nobody sleeps); how many, or
 * -1 with errno. */
long word_wake(smo_seg *h, uint32_t *word, int n);

/* Registers the hooks (once, at module load). */
void lock_init(void);

/* Longer timeouts than this are for ever (about 68 years; no timespec overflows). */
#define TIMEOUT_FOREVER 2147483647.0
struct timespec timespec_of(double seconds);
struct timespec deadline_after(double seconds);

SMO_HIDDEN_END

#endif
