/*
 * The memory counter protocol, without Lua: everything that must be right
 * after any crash.  A handle (smo_seg) is opened with ctr_open (find or
 * create, owner and size checks, attach, count) and closed with ctr_release
 * (uncount, decide, remove), each under the bookkeeping gate (bookkeeping.h)
 * so that the steps of different processes never interleave.  A C program
 * links counter.c and bookkeeping.c and nothing else (tests/counter_test.c).
 */
#ifndef SMOBJECT_COUNTER_H
#define SMOBJECT_COUNTER_H

#include <stddef.h>
#include <sys/types.h>

#include "bookkeeping.h"
#include "visibility.h"

SMO_HIDDEN_BEGIN

/* What a handle is: its one state field.  A zeroed handle is closed. */
typedef enum smo_state {
  SMO_CLOSED,       /* not attached: closed, or an open that failed */
  SMO_ATTACHED,     /* attached: addr, size, shmid... are valid */
  SMO_CONFIGURED    /* made by smo.new (SMObject form), create()/access() not yet done */
} smo_state;

/* The two locks (see sync.c and the README): a robust mutex in a private
 * segment only this uid can touch, or a kernel-kept semaphore lock in the
 * bookkeeping set when other users may write it. */
typedef enum smo_lock_kind { SMO_LOCK_UNKNOWN, SMO_LOCK_FAST, SMO_LOCK_KERNEL } smo_lock_kind;

/* One handle: an attachment of a segment plus its share of the counter.  The
 * fields after `counted` belong to the layers above (the Lua binding and the
 * lock); the protocol only resets them on attach. */
typedef struct smo_seg {
  unsigned long long magic;          /* SMO_MAGIC in a Lua handle (handle.h) */
  smo_state state;
  unsigned char *addr;               /* valid while SMO_ATTACHED */
  unsigned attach_gen;   /* +1 at every attach: a view made during one attachment
                          * is dead once it ends, even if the handle attaches again */
  size_t size;           /* real size, from the kernel */
  int shmid;
  int semid;             /* bookkeeping set, -1 when the segment has none */
  int key;               /* key_t it was opened by (0 for IPC_PRIVATE) */
  pid_t pid;             /* process that attached; a forked child only detaches */
  unsigned char readonly;
  unsigned char counted; /* holds one unit of the memory counter */
  unsigned char locked;  /* this handle holds the segment's lock */
  unsigned char lock_kind;           /* smo_lock_kind, found on first use (sync.c) */
  struct smo_aux *aux;               /* the lock's private segment (sync.c) */
  const struct ctype_index *ctypes;  /* this Lua state's C type names (access.h) */
  /* SMObject form: configuration kept until create()/access() */
  int cfg_proj;          /* 0 when not made by smo.new */
  size_t cfg_size;
  /* Raw pointers into the mapping that Lua code may still hold (seg:ptr,
   * seg:ffi_view: ffi.c): pins counts those whose holder tells when it is
   * gone (an FFI finalizer, ctr_unpin); sticky says a lightuserdata went
   * out, which lives until the handle is collected.  While either may be
   * in use, detaching parks the mapping instead of unmapping it. */
  unsigned pins;
  unsigned char sticky;
  unsigned char collected;           /* __gc ran: nothing pins for it any more */
  struct smo_parked *parked;         /* what detaching parked (counter.c) */
} smo_seg;

/* What an open may do when the segment is missing. */
typedef enum ctr_create {
  CTR_ATTACH_ONLY,  /* attach an existing segment only */
  CTR_CREATE,       /* attach, or create when missing */
  CTR_CREATE_EXCL   /* create only: an existing segment is EEXIST */
} ctr_create;

/* One open request, after the options have been checked. */
typedef struct ctr_request {
  int key;
  int is_private;    /* IPC_PRIVATE: a new segment, removed at once, no counter */
  size_t size;       /* 0 when not given */
  ctr_create create;
  int mode;          /* permission bits of a new segment */
  int readonly, persist, any_owner;
} ctr_request;

/* Why an operation failed: the operation named first in the message, the
 * errno, and a sentence replacing strerror when the refusal is by rule. */
typedef struct ctr_error {
  const char *what;
  int err;
  char detail[384];
} ctr_error;

/* This process's pid, as getpid() gives it, without a system call after the
 * first (counter.c): what tells a forked child's copy of a handle, which
 * only detaches and may not use the lock, from the handle itself. */
pid_t ctr_self(void);

/* Opens: 0 with h attached (and counted when the key has bookkeeping of
 * ours), *created 1 when this call made the segment; -1 with e filled. */
int ctr_open(const ctr_request *rq, smo_seg *h, int *created, ctr_error *e);

/* Attaches by id: a keyed segment joins its key's counter (through
 * ctr_open), anything else is attached uncounted.  0 or -1 with e. */
int ctr_attach_id(int shmid, int readonly, int any_owner, smo_seg *h, ctr_error *e);

/* Detaches and gives the share back; removes the segment when this was its
 * last user and it is ours to remove.  Never fails; a closed handle is left
 * alone.  A forked child only detaches. */
void ctr_release(smo_seg *h);

/* Called by ctr_release first, while h is still attached: what the layers
 * above must let go of (the lock, sync.c). */
extern void (*ctr_release_hook)(smo_seg *h);

/* Parking, what detaching does while h->pins or h->sticky say that raw
 * pointers into the mapping may be in use: the range is replaced, in one
 * mmap, by private zeroed memory, so that the segment is detached (the
 * kernel's attach count drops, the last user's close removes it, exactly as
 * without pointers) while a pointer kept past the close reads zeros and
 * writes to memory nobody shares, instead of faulting.  ctr_unpark unmaps
 * what was parked; call it once no pointer can be in use any more. */
void ctr_unpark(smo_seg *h);

/* One pin fewer (an FFI pointer was collected); unparks when it was the
 * last and nothing else holds the mapping. */
void ctr_unpin(smo_seg *h);

/* Gives h's share up now, staying attached; *count gets the new count.
 * 0 or -1 with e (EIDRM once the bookkeeping is gone). */
int ctr_decrement(smo_seg *h, int *count, ctr_error *e);

/* The memory counter of h (the kernel's attach count without bookkeeping). */
int ctr_users(const smo_seg *h, int *count, ctr_error *e);

/* Marks h's segment removed and removes its bookkeeping, under the gate. */
int ctr_remove(const smo_seg *h, ctr_error *e);

/* The same by key (not IPC_PRIVATE): the segment and its bookkeeping, or an
 * orphan set alone.  0 or -1 with e (ENOENT when no segment has the key). */
int ctr_remove_key(int key, ctr_error *e);

SMO_HIDDEN_END

#endif
