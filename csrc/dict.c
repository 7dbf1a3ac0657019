/*
 * smo.dict's store (dict.h), without Lua.
 *
 * Layout of the segment (offsets from its start; all 64-byte aligned):
 *
 *   header    magic, geometry, hash seed, flush time, counters, the global
 *             free list of slots and the mutex that guards it ("alloc")
 *   lanes     nlanes (64) robust mutexes, each with a pool of free slots,
 *             an entry count and an eviction hand.  A writer holds one lane
 *             for the whole of an operation, and the lock of the bucket it
 *             changes: writers of different keys take different lanes and
 *             buckets, and rarely share a cache line.  Where other uids may write
 *             the segment (lock_kind DICT_LOCK_EXTERNAL) there is one lane,
 *             its lock is the caller's (smo.dict: the segment's kernel lock),
 *             buckets are not locked, and the alloc lock is implied by it
 *   buckets   nbuckets x { head slot, version, read time, lock }: the hash
 *             index; lock is the holder's lane + 1, or 0
 *   slots     nslots x 64 bytes: every entry is a chain of slots, a head
 *             slot (the entry's header) and continuation slots (56 bytes of
 *             key and string value each)
 *
 * Every slot begins { chain, seq }: chain links the slots of an entry, and
 * of the free list; seq is even exactly while the slot is an entry's head,
 * and changes whenever it becomes or stops being one.
 *
 * Readers take no lock.  A writer never changes a published entry's key,
 * type or length in place: it builds the new entry in slots nobody can
 * reach, then publishes it with one store of a chain pointer (the bucket's
 * head, or the predecessor's next); only then does it bump the bucket's
 * version, kill the old head (seq + 1) and free the old slots.  A reader
 * notes the bucket's version and the head's seq, copies, and checks both
 * again: a change means a writer freed something it read, and it retries.
 * A number changes in place (set over one of the same type and flags,
 * neither expiring; incr keeping the type) by one 16-byte compare-and-swap
 * of the head's { chain, seq, num }, without any lock: it fails when the
 * head was freed, reused or re-expired since it was read (each changes
 * seq), so it never writes into someone else's slot.  An expiry (expire)
 * is one aligned 8-byte store, after seq + 2.  So a writer stopped at any
 * instruction leaves readers nothing to wait for: what they see is always
 * a published entry or none.
 *
 * A list is a head entry (type DICT_LIST: flags holds its first node, spare
 * its last, vlen its length) and nodes, each a chain of its own (a head slot
 * whose next is the following node and atime the previous one).  The next
 * links are the truth; prev links, the last node and the length are derived
 * (and rebuilt by the repair); a push or pop is published by one store of a
 * next link or of the first node.
 *
 * Crash safety.  Every change of a chain is one store, so chains are
 * consistent at every instruction.  What a death can leave is slots taken
 * from the free list but not yet published, or unpublished but not yet
 * freed, counters half updated, and a bucket's lock word.  The mutexes are
 * robust: the next locker gets EOWNERDEAD, marks the dictionary for repair
 * and releases what it holds; a writer who finds a bucket locked asks the
 * lane named in it (only that lane's holder can hold such a word), and so
 * meets a dead holder the same way.  The repair ("fsck") takes every lane
 * and the alloc lock in order, clears every bucket's lock word, and rebuilds
 * the free list and the counters from what the buckets reach.  A lock the
 * repair itself finds left by a dead holder is repaired in the same pass,
 * even when the repair it came for was done meanwhile by another process.
 * Nothing is lost for good, and no operation is half applied: it is
 * applied exactly when its publishing store was made.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "dict.h"

#define DICT_MAGIC 0x31544349444f4d53ULL       /* "SMODICT1" */
#define DICT_FORMATTING 0x2154434944444f53ULL  /* being laid out (or its formatter died) */
#define DICT_VERSION DICT_FORMAT
#define SLOT 64
#define CONT_DATA 56                           /* key and value bytes per continuation slot */
#define NIL UINT32_MAX
#define LANES 64
/* A lane is two cache lines: the CPU's adjacent-line prefetch moves lines
 * in aligned pairs, and with two writers' lanes in one pair, two processes
 * setting strings reached 1.4 times one's throughput instead of 2 (here,
 * AMD EPYC); for the same reason lanes take free slots in whole pages */
#define LANE_SIZE 128
#define EVICT_SAMPLE 24                        /* entries looked at per eviction */

/* Cache lines apart by who writes them, so that writers in different
 * processes do not make each other's readers miss: line 0 is written once
 * (format); line 1 rarely (flush_all, a repair); line 2 by evictions and
 * repairs; then the free list and its lock. */
typedef struct dict_header {
  uint64_t magic;
  uint32_t version, nlanes;
  uint64_t size;
  uint32_t nslots, nbuckets;
  uint64_t lanes_off, buckets_off, slots_off;
  uint64_t seed;
  uint64_t flush_gen;        /* + 1 by flush_all: entries made before (made < flush_gen) are expired */
  uint32_t needs_fsck;       /* a lock holder died: repair before anything else */
  uint32_t lock_kind;        /* DICT_LOCK_LANES or DICT_LOCK_EXTERNAL (written once) */
  /* cppcheck-suppress unusedStructMember */
  unsigned char pad1[SLOT - 16];
  uint64_t evictions, recoveries;
  uint32_t next_lane;        /* the lane a thread tries first, handed out in turn */
  /* cppcheck-suppress unusedStructMember */
  unsigned char pad2[SLOT - 20];
  uint32_t free_head;        /* the free list (alloc lock) */
  uint32_t free_count;
  pthread_mutex_t alloc;
} dict_header;

typedef char header_lines_check[offsetof(dict_header, flush_gen) == SLOT && offsetof(dict_header, evictions) == 2 * SLOT
                                && offsetof(dict_header, free_head) == 3 * SLOT ? 1 : -1];

typedef struct dict_lane {
  pthread_mutex_t mu;        /* held by a writer for the whole of one operation */
  uint32_t hand;             /* where its next eviction looks */
  uint32_t pool_head;        /* free slots kept by this lane (its lock): most writes */
  uint32_t pool_count;       /* take and give back slots without the alloc lock */
  /* cppcheck-suppress unusedStructMember ; (read and written through __atomic builtins) */
  uint32_t entries;          /* entries made minus entries removed through this lane (mod 2^32:
                              * only the sum over the lanes is the count) */
  /* cppcheck-suppress unusedStructMember */
  unsigned char pad[LANE_SIZE - sizeof(pthread_mutex_t) - 16];
} dict_lane;

typedef struct dict_bucket {
  uint32_t head;
  uint32_t version;          /* + 1 after every publish and unpublish in this bucket */
  uint32_t rtime;            /* last read of any of its entries, coarse seconds: readers
                              * store here, never into slots, which may be reused meanwhile */
  uint32_t lock;             /* its writer's lane + 1, or 0 (| BUCKET_WAITERS: somebody sleeps on it) */
} dict_bucket;

typedef struct dict_item {   /* a head slot */
  uint32_t chain, seq;
  uint64_t num;              /* DICT_NUMBER, DICT_INTEGER, DICT_BOOLEAN: the bits.  With chain and
                              * seq, the first 16 bytes: a number is changed in place by one
                              * 16-byte compare-and-swap of them (num_swap), with no lock */
  uint32_t next;             /* the next entry of the bucket */
  uint32_t atime;            /* when written, coarse seconds (approximate LRU, with the bucket's
                              * rtime); a list node: the previous node */
  uint64_t hash;
  int64_t exp_ns;            /* CLOCK_MONOTONIC ns; 0: never */
  uint64_t made;             /* the header's flush_gen when it was made (flush_all) */
  uint32_t vlen, flags;
  uint16_t klen;
  uint8_t type, pad;
  uint32_t spare;
} dict_item;

typedef struct dict_cont {   /* a continuation slot */
  uint32_t chain;
  /* cppcheck-suppress unusedStructMember */
  uint32_t seq;              /* odd (read through the head's view of it) */
  unsigned char data[CONT_DATA];
} dict_cont;

typedef char slot_size_check[sizeof(dict_item) == SLOT && sizeof(dict_cont) == SLOT && offsetof(dict_item, num) == 8 &&
                             sizeof(dict_lane) == LANE_SIZE ? 1 : -1];

/* ------------------------------------------------------------- geometry */

#define HDR(m) ((dict_header *)(void *)(m)->base)
#define LANE(m, i) ((dict_lane *)(void *)((m)->base + (m)->lanes_off) + (i))
#define BUCKET(m, i) ((dict_bucket *)(void *)((m)->base + (m)->buckets_off) + (i))
#define ITEM(m, i) ((dict_item *)(void *)((m)->base + (m)->slots_off + (size_t)(i) * SLOT))
#define CONT(m, i) ((dict_cont *)(void *)((m)->base + (m)->slots_off + (size_t)(i) * SLOT))

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

size_t dict_min_size(void) {
  return round_up(round_up(sizeof(dict_header), SLOT) + LANES * LANE_SIZE + 64 * sizeof(dict_bucket), 4096) + 64 * SLOT;
}

size_t dict_entry_bytes(size_t klen, size_t vlen) {
  return SLOT * (1 + (klen + vlen + CONT_DATA - 1) / CONT_DATA);
}

static uint32_t slots_for(size_t klen, size_t slen) {
  return (uint32_t)(1 + (klen + slen + CONT_DATA - 1) / CONT_DATA);
}

static void init_mutex(pthread_mutex_t *mu) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(mu, &ma);
  pthread_mutexattr_destroy(&ma);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint32_t)ts.tv_sec;
}

static uint64_t seed_of(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 17) ^ 0x9e3779b97f4a7c15ULL;
}

/* (dict.h) */
int dict_format(unsigned char *base, size_t size, int lock_kind) {
  dict_header *h = (dict_header *)(void *)base;
  dict_map m;
  size_t hdr = round_up(sizeof(dict_header), SLOT), rest, nb = 64, ns;
  uint32_t i;
  if (size < dict_min_size() || (lock_kind != DICT_LOCK_LANES && lock_kind != DICT_LOCK_EXTERNAL)) return EINVAL;
  __atomic_store_n(&h->magic, DICT_FORMATTING, __ATOMIC_SEQ_CST);
  rest = size - hdr - LANES * LANE_SIZE;
  /* about one bucket per two slots, a power of 2 */
  while ((nb * 2) * sizeof(dict_bucket) + (nb * 2) * 2 * SLOT <= rest && nb < (1u << 30)) nb *= 2;
  ns = (rest - nb * sizeof(dict_bucket)) / SLOT;
  if (ns >= NIL) ns = NIL - 1;
  memset(base + sizeof(uint64_t), 0, hdr - sizeof(uint64_t));
  h->version = DICT_VERSION;
  h->lock_kind = (uint32_t)lock_kind;
  h->nlanes = lock_kind == DICT_LOCK_EXTERNAL ? 1 : LANES;   /* (the lanes' room is laid out either way) */
  h->size = size;
  h->nslots = (uint32_t)ns;
  h->nbuckets = (uint32_t)nb;
  h->lanes_off = hdr;
  h->buckets_off = hdr + LANES * LANE_SIZE;
  h->slots_off = round_up(h->buckets_off + nb * sizeof(dict_bucket), 4096);   /* (see PAGE_SLOTS) */
  h->nslots = (uint32_t)((size - h->slots_off) / SLOT);
  h->seed = seed_of();
  if (lock_kind == DICT_LOCK_LANES) init_mutex(&h->alloc);
  m.base = base;
  m.lanes_off = h->lanes_off;
  m.buckets_off = h->buckets_off;
  m.slots_off = h->slots_off;
  for (i = 0; i < LANES; i++) {
    memset(LANE(&m, i), 0, SLOT);
    if (lock_kind == DICT_LOCK_LANES) init_mutex(&LANE(&m, i)->mu);
    LANE(&m, i)->pool_head = NIL;
  }
  for (i = 0; i < nb; i++) {
    BUCKET(&m, i)->head = NIL;
    BUCKET(&m, i)->version = 0;
    BUCKET(&m, i)->rtime = 0;
    BUCKET(&m, i)->lock = 0;
  }
  for (i = 0; i < h->nslots; i++) {
    CONT(&m, i)->chain = i + 1 < h->nslots ? i + 1 : NIL;
    CONT(&m, i)->seq = 1;           /* odd: not a head */
  }
  h->free_head = h->nslots ? 0 : NIL;
  h->free_count = h->nslots;
  __atomic_store_n(&h->magic, DICT_MAGIC, __ATOMIC_SEQ_CST);
  return 0;
}

/* (dict.h) */
int dict_format_of(const unsigned char *base, size_t size) {
  const dict_header *h = (const dict_header *)(const void *)base;
  if (size < dict_min_size() || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != DICT_MAGIC) return -1;
  return (int)h->version;
}

/* (dict.h) */
int dict_map_of(dict_map *m, unsigned char *base, size_t size, int readonly) {
  const dict_header *h = (const dict_header *)(const void *)base;
  uint64_t magic;
  size_t hdr = round_up(sizeof(dict_header), SLOT);
  if (size < dict_min_size()) return EINVAL;
  magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
  if (magic == DICT_FORMATTING) return EAGAIN;
  if (magic != DICT_MAGIC || h->version != DICT_VERSION) return EINVAL;
  m->base = base;
  m->size = size;
  m->nlanes = h->nlanes;
  m->nbuckets = h->nbuckets;
  m->nslots = h->nslots;
  m->lanes_off = h->lanes_off;
  m->buckets_off = h->buckets_off;
  m->slots_off = h->slots_off;
  m->readonly = readonly;
  m->lock_kind = (int)h->lock_kind;
  m->lock = NULL;
  m->unlock = NULL;
  m->lock_ctx = NULL;
  /* the geometry must fit the segment as the kernel sizes it */
  if (h->size != size || (m->lock_kind != DICT_LOCK_LANES && m->lock_kind != DICT_LOCK_EXTERNAL) ||
      m->nlanes != (m->lock_kind == DICT_LOCK_EXTERNAL ? 1u : LANES) || m->nbuckets == 0 ||
      (m->nbuckets & (m->nbuckets - 1)) != 0 || m->lanes_off != hdr ||
      m->buckets_off != hdr + (size_t)LANES * LANE_SIZE ||
      m->slots_off < m->buckets_off + (size_t)m->nbuckets * sizeof(dict_bucket) || m->slots_off % SLOT != 0 ||
      m->slots_off > size || (size - m->slots_off) / SLOT < m->nslots || m->nslots >= NIL)
    return EINVAL;
  return 0;
}

void dict_buf_free(dict_buf *b) {
  if (!b->fixed) free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

static int buf_reserve(dict_buf *b, size_t n) {
  char *p;
  size_t cap;
  if (n <= b->cap) return 0;
  if (b->fixed) return ERANGE;
  cap = b->cap ? b->cap : 256;
  while (cap < n) cap *= 2;
  p = (char *)realloc(b->p, cap);
  if (!p) return ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

/* ------------------------------------------------------------- hashing */

static inline uint64_t load64(const void *p) {
  uint64_t k;
  memcpy(&k, p, 8);
  return k;
}

static inline uint32_t load32(const void *p) {
  uint32_t k;
  memcpy(&k, p, 4);
  return k;
}

/* The last 1..8 bytes of a key as one word: two overlapping 4-byte loads,
 * or (under 4) its first, middle and last bytes; every byte counts. */
static inline uint64_t tail_word(const char *p, size_t n) {
  if (n >= 4) return (uint64_t)load32(p) | (uint64_t)load32(p + n - 4) << 32;
  return (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[n >> 1] << 8 |
         (uint64_t)(unsigned char)p[n - 1] << 16;
}

static uint64_t hash_of(const dict_map *m, const char *key, size_t len) {
  uint64_t h = HDR(m)->seed ^ (len * 0x9e3779b97f4a7c15ULL);
  size_t i = 0;
  for (; i + 8 < len; i += 8) {
    h ^= load64(key + i) * 0xbf58476d1ce4e5b9ULL;
    h = (h << 27 | h >> 37) * 0x94d049bb133111ebULL;
  }
  if (i < len) {                       /* (1..8 bytes are left: keys are never empty) */
    h ^= tail_word(key + i, len - i) * 0xbf58476d1ce4e5b9ULL;
    h = (h << 27 | h >> 37) * 0x94d049bb133111ebULL;
  }
  h ^= h >> 31;
  h *= 0xd6e8feb86659fd93ULL;
  return h ^ (h >> 32);
}

/* ------------------------------------------------------------- locks */

static void fsck(const dict_map *m);

#define DICT_REPAIR (-2)

/* The two kinds of lock under one face.  mu is a lane's lock or the
 * alloc lock.  With DICT_LOCK_EXTERNAL there is one lane, its lock is the
 * caller's (dict_map's lock), and the alloc lock is implied by it (taken
 * only by a holder of the lane's). */
static int external(const dict_map *m) { return m->lock_kind == DICT_LOCK_EXTERNAL; }
static int is_alloc(const dict_map *m, const pthread_mutex_t *mu) { return mu == &HDR(m)->alloc; }

/* Blocks for mu: 0, EOWNERDEAD (taken from a holder that died), or an error. */
static int lock_raw(const dict_map *m, pthread_mutex_t *mu) {
  int rc;
  if (!external(m)) return pthread_mutex_lock(mu);
  if (is_alloc(m, mu)) return 0;
  if (m->lock == NULL) return EPERM;
  rc = m->lock(m->lock_ctx);
  return rc == DICT_LOCK_RECOVERED ? EOWNERDEAD : rc;
}

static void consistent_raw(const dict_map *m, pthread_mutex_t *mu) {
  if (!external(m)) pthread_mutex_consistent(mu);
}

static void give(const dict_map *m, pthread_mutex_t *mu) {
  if (!external(m)) pthread_mutex_unlock(mu);
  else if (!is_alloc(m, mu)) m->unlock(m->lock_ctx);
}

/* A dead holder met: the dictionary is marked for repair and mu released
 * (the caller must then release everything it holds and repair). */
static int dead_holder(const dict_map *m, pthread_mutex_t *mu) {
  __atomic_store_n(&HDR(m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
  __atomic_fetch_add(&HDR(m)->recoveries, 1, __ATOMIC_RELAXED);
  consistent_raw(m, mu);
  give(m, mu);
  return DICT_REPAIR;
}

/* Tries mu: 0 when taken; a holder that died found this way is handled as
 * take does (DICT_REPAIR); else EBUSY.  (Only other lanes are tried: with
 * one lane there are none.) */
static int try_take(const dict_map *m, pthread_mutex_t *mu) {
  int rc;
  if (external(m)) return is_alloc(m, mu) ? 0 : EBUSY;
  rc = pthread_mutex_trylock(mu);
  if (rc == EOWNERDEAD) return dead_holder(m, mu);
  return rc == 0 ? 0 : EBUSY;
}

/* Locks mu; a holder that died marks the dictionary for repair (the caller
 * must then release everything it holds and repair: DICT_REPAIR). */
static int take(const dict_map *m, pthread_mutex_t *mu) {
  int rc = lock_raw(m, mu);
  if (rc == EOWNERDEAD) return dead_holder(m, mu);
  return rc;
}

/* Lanes.  A writer holds one lane's lock for the whole of an operation,
 * and the lock of the bucket it changes (below).  The lane is what makes a
 * writer's death visible (its robust mutex), and it keeps the writer's
 * pool of free slots and counters: two processes writing different keys
 * take different lanes and different buckets, and rarely share a cache line.
 * A thread tries the lane it had last time first (handed out in turn from
 * the header at its first write, and again in a child after fork), then
 * every other, and only when all are busy does it wait for its own.  (No
 * writer holds a lane while it waits for a bucket: bucket_wait.) */
static __thread uint32_t lane_hint = UINT32_MAX;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_lane(void) { lane_hint = UINT32_MAX; }

static void forget_lane_at_fork(void) { pthread_atfork(NULL, NULL, forget_lane); }

static int take_lane(const dict_map *m, uint32_t *lane) {
  uint32_t n = m->nlanes, l, k;
  if (external(m)) {
    *lane = 0;
    return take(m, &LANE(m, 0)->mu);
  }
  if (lane_hint >= n) {
    pthread_once(&atfork_once, forget_lane_at_fork);
    lane_hint = __atomic_fetch_add(&HDR(m)->next_lane, 1, __ATOMIC_RELAXED) & (n - 1);
  }
  l = lane_hint;
  for (k = 0; k < n; k++) {
    uint32_t t = (l + k) & (n - 1);
    int rc = try_take(m, &LANE(m, t)->mu);
    if (rc == DICT_REPAIR) return rc;
    if (rc == 0) {
      lane_hint = t;
      *lane = t;
      return 0;
    }
  }
  *lane = l;
  return take(m, &LANE(m, l)->mu);
}

/* Bucket locks: the bucket's lock word holds its writer's lane + 1.  Only
 * a holder of that lane can hold such a word, so a writer who finds it
 * taken looks at the lane: busy, its writer is alive (or being repaired)
 * and it waits, holding nothing (a futex wait of 2 ms at most, then it
 * takes a lane and looks again);
 * left by a dead holder (EOWNERDEAD), the dictionary needs a repair, which
 * clears every bucket's word.  With DICT_LOCK_EXTERNAL the one lane
 * excludes every other writer, and buckets are not locked. */
#define BUCKET_WAITERS 0x80000000u
#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif
#define BUCKET_SPINS 64

static void futex_wait(uint32_t *w, uint32_t val, long ns) {
  struct timespec ts = { 0, ns };
  syscall(SYS_futex, w, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake(uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0); }

static int stale_word(const dict_map *m) {
  __atomic_store_n(&HDR(m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
  return DICT_REPAIR;
}

/* Bucket word w was found holding cur, by the holder of lane mine: 0 when
 * its holder is alive (wait), DICT_REPAIR when it is not (marked). */
static int holder_gone(const dict_map *m, const uint32_t *w, uint32_t cur, uint32_t mine) {
  uint32_t hl = (cur & ~BUCKET_WAITERS) - 1;
  pthread_mutex_t *mu;
  int rc;
  /* (our own lane, which we hold: a word left by its previous holder) */
  if (hl >= m->nlanes || hl == mine) return stale_word(m);
  mu = &LANE(m, hl)->mu;
  rc = pthread_mutex_trylock(mu);
  if (rc == EOWNERDEAD) return dead_holder(m, mu);
  if (rc != 0) return 0;
  /* the lane is free: its holder released the bucket first, unless it died
   * and its death was already seen (then a repair is due) */
  rc = ((__atomic_load_n(w, __ATOMIC_ACQUIRE) ^ cur) & ~BUCKET_WAITERS) == 0;
  pthread_mutex_unlock(mu);
  return rc ? stale_word(m) : 0;
}

/* By the holder of lane `lane`: 0 when bucket b's lock is taken;
 * DICT_REPAIR when its holder is dead (marked) or a repair is due; EBUSY
 * when a live writer holds it (let the lane go, bucket_wait, try again). */
static int bucket_lock(const dict_map *m, uint32_t b, uint32_t lane) {
  uint32_t *w = &BUCKET(m, b)->lock, spins;
  for (spins = 0;; spins++) {
    uint32_t cur = 0;
    int rc;
    if (__atomic_compare_exchange_n(w, &cur, lane + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return 0;
    if (spins < BUCKET_SPINS) {
      CPU_RELAX();
      continue;
    }
    if (__atomic_load_n(&HDR(m)->needs_fsck, __ATOMIC_ACQUIRE)) return DICT_REPAIR;
    rc = holder_gone(m, w, cur, lane);
    return rc != 0 ? rc : EBUSY;
  }
}

/* Holding nothing: sleeps until bucket b's lock is let go, 2 ms at most. */
static void bucket_wait(const dict_map *m, uint32_t b) {
  uint32_t *w = &BUCKET(m, b)->lock;
  uint32_t cur = __atomic_load_n(w, __ATOMIC_RELAXED);
  if (cur == 0) return;
  if (!(cur & BUCKET_WAITERS) &&
      !__atomic_compare_exchange_n(w, &cur, cur | BUCKET_WAITERS, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    return;                      /* (it changed: look again now) */
  futex_wait(w, cur | BUCKET_WAITERS, 2000000);
}

/* 0 when taken, EBUSY when not (a dead holder is left for later). */
static int bucket_trylock(const dict_map *m, uint32_t b, uint32_t lane) {
  uint32_t cur = 0;
  if (external(m)) return 0;
  return __atomic_compare_exchange_n(&BUCKET(m, b)->lock, &cur, lane + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
             ? 0 : EBUSY;
}

static void bucket_unlock(const dict_map *m, uint32_t b) {
  uint32_t *w = &BUCKET(m, b)->lock;
  if (external(m)) return;
  if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) & BUCKET_WAITERS) futex_wake(w);
}

#define NO_BUCKET UINT32_MAX

/* Begins a write of bucket b (NO_BUCKET: of no one bucket): a lane, and
 * b's lock, repairing first when a holder died (now or before). */
static int enter(const dict_map *m, uint32_t b, uint32_t *lane) {
  for (;;) {
    int rc;
    if (__atomic_load_n(&HDR(m)->needs_fsck, __ATOMIC_ACQUIRE)) fsck(m);
    rc = take_lane(m, lane);
    if (rc == DICT_REPAIR) continue;
    if (rc != 0) return rc;
    if (__atomic_load_n(&HDR(m)->needs_fsck, __ATOMIC_ACQUIRE)) {
      give(m, &LANE(m, *lane)->mu);
      continue;
    }
    if (b == NO_BUCKET || external(m)) return 0;
    rc = bucket_lock(m, b, *lane);
    if (rc == 0) return 0;
    give(m, &LANE(m, *lane)->mu);
    if (rc == EBUSY) bucket_wait(m, b);
    else if (rc != DICT_REPAIR) return rc;
  }
}

/* Ends it: the bucket first, then the lane (see holder_gone). */
static void leave(const dict_map *m, uint32_t b, uint32_t lane) {
  if (b != NO_BUCKET) bucket_unlock(m, b);
  give(m, &LANE(m, lane)->mu);
}

/* ------------------------------------------------------------- repair */

/* Marks the slots of the entry chain starting at head slot i in mark; 0 when
 * the chain is sound (in range, no slot twice). */
static int mark_entry(const dict_map *m, uint32_t i, unsigned char *mark) {
  uint32_t c = i, steps = 0;
  while (c != NIL) {
    if (c >= m->nslots || mark[c] || ++steps > m->nslots) return -1;
    mark[c] = 1;
    c = CONT(m, c)->chain;
  }
  return 0;
}

/* The nodes of list head l: marked, and its derived links (prev, last,
 * length) made right; a broken next link is cut there. */
static void mark_list(const dict_map *m, dict_item *l, unsigned char *mark) {
  uint32_t *link = &l->flags, prev = NIL, n = 0;
  while (*link != NIL) {
    uint32_t i = *link;
    if (i >= m->nslots || mark[i] || mark_entry(m, i, mark) != 0) {
      *link = NIL;
      break;
    }
    ITEM(m, i)->atime = prev;
    prev = i;
    n++;
    link = &ITEM(m, i)->next;
  }
  l->spare = prev;
  __atomic_store_n(&l->vlen, n, __ATOMIC_RELEASE);
}

/* Every lock in fsck's order (the lanes, then alloc), for the repair and
 * the check: held[s] and *alloc_held say which were had.  A lock left by a
 * holder that died is made consistent and the dictionary marked for repair
 * (*dead counts them).  0, or the error of a lock that could not be had. */
static int lock_all(const dict_map *m, int *held, int *alloc_held, uint32_t *dead) {
  uint32_t s;
  int err = 0;
  *dead = 0;
  for (s = 0; s < m->nlanes && s < LANES; s++) {
    pthread_mutex_t *mu = &LANE(m, s)->mu;
    int rc = lock_raw(m, mu);
    if (rc == EOWNERDEAD) {
      (*dead)++;
      __atomic_store_n(&HDR(m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
      consistent_raw(m, mu);
    }
    held[s] = rc == 0 || rc == EOWNERDEAD;
    if (!held[s]) err = rc;
  }
  {
    int rc = lock_raw(m, &HDR(m)->alloc);
    if (rc == EOWNERDEAD) {
      (*dead)++;
      __atomic_store_n(&HDR(m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
      consistent_raw(m, &HDR(m)->alloc);
    }
    *alloc_held = rc == 0 || rc == EOWNERDEAD;
    if (!*alloc_held) err = rc;
  }
  return err;
}

/* Releases what lock_all had, in the reverse order. */
static void unlock_all(const dict_map *m, const int *held, int alloc_held) {
  uint32_t s;
  if (alloc_held) give(m, &HDR(m)->alloc);
  for (s = m->nlanes < LANES ? m->nlanes : LANES; s-- > 0;)
    if (held[s]) give(m, &LANE(m, s)->mu);
}

/* Every lock in order, then: what the buckets reach is kept; every other
 * slot goes back to the free list; the counters are recounted.  A bucket
 * chain that runs out of range or into itself is cut there (only a writer
 * that is not smobject could have made one). */
static void fsck(const dict_map *m) {
  dict_header *h = HDR(m);
  unsigned char *mark;
  uint32_t s, b, i, nfree = 0, head = NIL, counted = 0, dead;
  int held[LANES], alloc_held, err;
  mark = (unsigned char *)calloc(m->nslots ? m->nslots : 1, 1);
  if (mark == NULL) return;              /* (retried by the next operation) */
  /* A lock whose holder died is met here too, and that death needs a repair
   * of its own: even when the one this call came for was done by another
   * process meanwhile (whose repair took place before this holder died),
   * this one must not be dropped, or what it left is lost for good.
   * (lock_all marks it; one repair counts once: a repairer killed holding
   * every lock is one death.) */
  err = lock_all(m, held, &alloc_held, &dead);
  if (dead) __atomic_fetch_add(&h->recoveries, 1, __ATOMIC_RELAXED);
  /* (another repaired it; or a lock could not be had, EIDRM: the next user retries) */
  if (err || !__atomic_load_n(&h->needs_fsck, __ATOMIC_ACQUIRE)) goto done;
  for (b = 0; b < m->nbuckets; b++) {
    dict_bucket *bk = BUCKET(m, b);
    uint32_t *link = &bk->head;
    /* (every lane is held: a word left in a bucket is a dead writer's) */
    if (__atomic_exchange_n(&bk->lock, 0, __ATOMIC_RELEASE) & BUCKET_WAITERS) futex_wake(&bk->lock);
    while (*link != NIL) {
      uint32_t it = *link;
      if (it >= m->nslots || mark[it] || (ITEM(m, it)->seq & 1u) || mark_entry(m, it, mark) != 0) {
        __atomic_store_n(link, NIL, __ATOMIC_RELEASE);
        __atomic_fetch_add(&bk->version, 1, __ATOMIC_RELEASE);
        break;
      }
      if (ITEM(m, it)->type == DICT_LIST) mark_list(m, ITEM(m, it), mark);
      counted++;
      link = &ITEM(m, it)->next;
    }
  }
  /* the free list, rebuilt from the top so that low slots are used first */
  for (i = m->nslots; i-- > 0;) {
    if (mark[i]) continue;
    if (!(CONT(m, i)->seq & 1u)) CONT(m, i)->seq++;          /* an unpublished head: not one any more */
    CONT(m, i)->chain = head;
    head = i;
    nfree++;
  }
  h->free_head = head;
  h->free_count = nfree;
  for (s = 0; s < m->nlanes && s < LANES; s++) {
    LANE(m, s)->entries = s == 0 ? counted : 0;
    LANE(m, s)->pool_head = NIL;
    __atomic_store_n(&LANE(m, s)->pool_count, 0, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&h->needs_fsck, 0, __ATOMIC_SEQ_CST);
done:
  unlock_all(m, held, alloc_held);
  free(mark);
}

/* ------------------------------------------------------------- slots */

#define POOL_REFILL 32         /* slots a lane takes from the free list beyond what it needs, */
#define PAGE_SLOTS (4096 / SLOT) /* in whole pages */
#define POOL_HIGH 256          /* a lane keeping more gives POOL_HIGH / 2 back */

/* Cuts the first n slots off the list at *head (of *count slots): they
 * stay chained from *first, the last one (*last_out, when asked) ending the chain; DICT_REPAIR on a
 * list that runs out (a writer that is not smobject): repaired. */
static int cut(const dict_map *m, uint32_t *head, uint32_t *count, uint32_t n, uint32_t *first, uint32_t *last_out) {
  uint32_t last = *head, k;
  if (last >= m->nslots) goto broken;
  for (k = 1; k < n; k++) {
    last = CONT(m, last)->chain;
    if (last >= m->nslots) goto broken;
  }
  *first = *head;
  *head = CONT(m, last)->chain;
  __atomic_store_n(count, *count - n, __ATOMIC_RELAXED);
  CONT(m, last)->chain = NIL;
  if (last_out) *last_out = last;
  return 0;
broken:
  __atomic_store_n(&HDR(m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
  return DICT_REPAIR;
}

/* Under lane s's lock: n of its pool's slots back to the free list. */
static int give_back(const dict_map *m, uint32_t s, uint32_t n) {
  dict_header *h = HDR(m);
  dict_lane *st = LANE(m, s);
  uint32_t chain, last;
  int rc;
  if (n == 0) return 0;
  rc = take(m, &h->alloc);
  if (rc != 0) return rc;
  if (cut(m, &st->pool_head, &st->pool_count, n, &chain, &last) != 0) {
    give(m, &h->alloc);
    return DICT_REPAIR;
  }
  CONT(m, last)->chain = h->free_head;
  h->free_head = chain;
  __atomic_store_n(&h->free_count, h->free_count + n, __ATOMIC_RELAXED);
  give(m, &h->alloc);
  return 0;
}

/* Under lane s's lock: n slots, chained, from its pool, refilled from the
 * free list (the alloc lock) when short.  DICT_NO_MEMORY when neither has them. */
static int take_slots(const dict_map *m, uint32_t s, uint32_t n, uint32_t *first) {
  dict_header *h = HDR(m);
  dict_lane *st = LANE(m, s);
  uint32_t want, rc;
  if (st->pool_count >= n) return cut(m, &st->pool_head, &st->pool_count, n, first, NULL);
  rc = (uint32_t)take(m, &h->alloc);
  if (rc != 0) return (int)rc;
  if (h->free_count + st->pool_count < n || (h->free_count && h->free_head == NIL)) {
    give(m, &h->alloc);
    return DICT_NO_MEMORY;
  }
  /* (whole pages of slots: the free list is laid out in order from a page
   * boundary, so a lane that takes whole pages shares none with another
   * lane; the CPU's prefetchers stay within a page, and one that fetches
   * another writer's slots makes both miss) */
  want = n - st->pool_count + POOL_REFILL;
  want = (want + PAGE_SLOTS - 1) / PAGE_SLOTS * PAGE_SLOTS;
  if (want > h->free_count) want = h->free_count;
  if (want) {
    uint32_t chain, last;
    if (cut(m, &h->free_head, &h->free_count, want, &chain, &last) != 0) {
      give(m, &h->alloc);
      return DICT_REPAIR;
    }
    CONT(m, last)->chain = st->pool_head;      /* onto the pool: the chain's end to the pool's head */
    st->pool_head = chain;
    __atomic_store_n(&st->pool_count, st->pool_count + want, __ATOMIC_RELAXED);
  }
  give(m, &h->alloc);
  return cut(m, &st->pool_head, &st->pool_count, n, first, NULL);
}

/* Under lane s's lock: the slots of the chain at first go to its pool;
 * past POOL_HIGH, half of the pool goes back to the free list. */
static int free_slots(const dict_map *m, uint32_t s, uint32_t first) {
  dict_header *h = HDR(m);
  dict_lane *st = LANE(m, s);
  const dict_item *it = ITEM(m, first);
  /* (a head's chain has exactly the slots its lengths take: a longer one
   * was scribbled over, and walking it could take as long as the slots) */
  size_t want = dict_entry_bytes(it->klen, it->type == DICT_STRING ? it->vlen : 0) / SLOT;
  uint32_t last = first, n = 1;
  if (want > m->nslots) want = m->nslots;
  while (CONT(m, last)->chain != NIL) {
    last = CONT(m, last)->chain;
    if (last >= m->nslots || ++n > want) {
      __atomic_store_n(&h->needs_fsck, 1, __ATOMIC_SEQ_CST);
      return DICT_REPAIR;
    }
  }
  CONT(m, last)->chain = st->pool_head;
  st->pool_head = first;
  __atomic_store_n(&st->pool_count, st->pool_count + n, __ATOMIC_RELAXED);
  if (st->pool_count > POOL_HIGH) return give_back(m, s, st->pool_count - POOL_HIGH / 2);
  return 0;
}

/* Copies len bytes of an entry's data from byte off on (0: the key's start),
 * following the chain from continuation slot c; -1 when the chain ends
 * early or leaves the slots (a change under a reader: it retries). */
static int copy_data(const dict_map *m, uint32_t c, size_t off, char *dst, size_t len) {
  size_t done = 0;
  uint32_t steps = 0;
  while (off >= CONT_DATA) {
    if (c >= m->nslots || ++steps > m->nslots) return -1;
    c = __atomic_load_n(&CONT(m, c)->chain, __ATOMIC_RELAXED);
    off -= CONT_DATA;
  }
  while (done < len) {
    size_t k;
    if (c >= m->nslots || ++steps > m->nslots) return -1;
    k = CONT_DATA - off;
    if (k > len - done) k = len - done;
    memcpy(dst + done, CONT(m, c)->data + off, k);
    done += k;
    off = 0;
    c = __atomic_load_n(&CONT(m, c)->chain, __ATOMIC_RELAXED);
  }
  return 0;
}

/* Compares the key stored from continuation slot c with key; 1 when equal,
 * 0 when not, -1 on a broken chain. */
static int key_equals(const dict_map *m, uint32_t c, const char *key, size_t klen) {
  size_t off = 0;
  uint32_t steps = 0;
  for (;;) {
    size_t k = klen - off < CONT_DATA ? klen - off : CONT_DATA;
    const unsigned char *d;
    const char *p = key + off;
    if (c >= m->nslots || ++steps > m->nslots) return -1;
    d = CONT(m, c)->data;
    /* cppcheck-suppress knownConditionTrueFalse ; (it assumes klen - off < 1 in this loop) */
    if (k >= 8) {                             /* (word compares: no call) */
      size_t j;
      for (j = 0; j + 8 < k; j += 8) if (load64(d + j) != load64(p + j)) return 0;
      if (load64(d + k - 8) != load64(p + k - 8)) return 0;
      /* cppcheck-suppress knownConditionTrueFalse */
    } else if (k >= 4) {
      if (load32(d) != load32(p) || load32(d + k - 4) != load32(p + k - 4)) return 0;
    } else {
      size_t j;
      /* cppcheck-suppress knownConditionTrueFalse */
      for (j = 0; j < k; j++) if (d[j] != (unsigned char)p[j]) return 0;
    }
    off += k;
    if (off >= klen) return 1;
    c = __atomic_load_n(&CONT(m, c)->chain, __ATOMIC_RELAXED);
  }
}

/* *now is read from the clock only when an expiry needs it (0: not yet). */
static int expired(const dict_map *m, const dict_item *it, int64_t *now) {
  int64_t e = __atomic_load_n(&it->exp_ns, __ATOMIC_RELAXED);
  if (e != 0) {
    if (*now == 0) *now = now_ns();
    if (*now >= e) return 1;
  }
  return it->made < __atomic_load_n(&HDR(m)->flush_gen, __ATOMIC_RELAXED);
}

static int64_t clock_of(int64_t *now) {
  if (*now == 0) *now = now_ns();
  return *now;
}

static int64_t exp_of(double seconds, int64_t now) {
  if (!(seconds > 0)) return 0;
  if (seconds > 9.0e9) seconds = 9.0e9;   /* (about 285 years: no overflow) */
  return now + (int64_t)(seconds * 1e9) + 1;
}

/* ------------------------------------------------------------- numbers */

/* A number changes in place by one compare-and-swap of a head's first 16
 * bytes {chain, seq, num}: it succeeds only while the slot is still the
 * same published head (seq changes when it is unpublished, reused, or its
 * expiry changes) and num is what the caller read, so a writer stopped or
 * dead anywhere never leaves a half-written number, a writer never writes
 * into a slot that was freed meanwhile, and two writers' changes never
 * overwrite each other.  Lock-free where the machine has the instruction
 * (x86-64's cmpxchg16b); elsewhere numbers change under the bucket lock. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NUM_LOCK_FREE 1
static int cas16(void *p, uint64_t old_lo, uint64_t old_hi, uint64_t new_lo, uint64_t new_hi) {
  unsigned char ok;
  __asm__ __volatile__("lock; cmpxchg16b %1\n\tsetz %0"
                       : "=q"(ok), "+m"(*(volatile uint64_t(*)[2])p), "+a"(old_lo), "+d"(old_hi)
                       : "b"(new_lo), "c"(new_hi)
                       : "memory", "cc");
  return ok;
}
#else
#define NUM_LOCK_FREE 0
#endif

static uint64_t chain_seq(uint32_t chain, uint32_t seq) { return (uint64_t)chain | (uint64_t)seq << 32; }

/* num of head it (chain and seq as the caller saw them) from old to new:
 * 1 done, 0 something changed (look again).  Without the instruction, only
 * under the bucket lock (where nothing else changes it). */
static int num_swap(dict_item *it, uint32_t chain, uint32_t seq, uint64_t old, uint64_t new_bits) {
#if NUM_LOCK_FREE
  uint64_t lo = chain_seq(chain, seq);
  return cas16(it, lo, old, lo, new_bits);
#else
  if (it->chain != chain || it->seq != seq || it->num != old) return 0;
  __atomic_store_n(&it->num, new_bits, __ATOMIC_RELEASE);
  return 1;
#endif
}

/* ------------------------------------------------------------- reading */

/* How many entries a walk of a bucket may meet: a longer chain is a cycle
 * (a corrupt segment), never a real one.  (No count of the writers' is
 * read: a reader touches no writer's counter.) */
static uint32_t chain_cap(const dict_map *m) { return m->nslots; }

/* A reader's view of a head: the fields copied, then checked. */
typedef struct snap {
  uint32_t ver;              /* the bucket's version when the walk began */
  uint32_t idx, seq, chain, klen, vlen, flags, type;
  uint64_t num;
  int64_t exp_ns;
  uint64_t made;
} snap;

/* Finds key in its bucket without a lock: 1 with *sn (the head's fields as
 * they were while it was live), 0 when not there, -1 to retry. */
static int find_nolock(const dict_map *m, uint64_t hash, const char *key, size_t klen, snap *sn) {
  dict_bucket *bk = BUCKET(m, hash & (m->nbuckets - 1));
  uint32_t v1 = __atomic_load_n(&bk->version, __ATOMIC_ACQUIRE);
  uint32_t i = __atomic_load_n(&bk->head, __ATOMIC_ACQUIRE), steps = 0;
  uint32_t cap = chain_cap(m);
  sn->ver = v1;
  while (i != NIL) {
    dict_item *it;
    uint32_t s1;
    if (i >= m->nslots || ++steps > cap) return -1;
    it = ITEM(m, i);
    s1 = __atomic_load_n(&it->seq, __ATOMIC_ACQUIRE);
    if (s1 & 1u) return -1;
    if (it->hash == hash && it->klen == klen) {
      int eq;
      sn->idx = i;
      sn->seq = s1;
      sn->chain = it->chain;
      sn->klen = it->klen;
      sn->vlen = __atomic_load_n(&it->vlen, __ATOMIC_RELAXED);
      sn->flags = it->flags;
      sn->type = it->type;
      sn->num = __atomic_load_n(&it->num, __ATOMIC_RELAXED);
      sn->exp_ns = __atomic_load_n(&it->exp_ns, __ATOMIC_RELAXED);
      sn->made = it->made;
      eq = key_equals(m, sn->chain, key, klen);
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      if (__atomic_load_n(&it->seq, __ATOMIC_RELAXED) != s1) return -1;
      if (eq < 0) return -1;
      if (eq) return 1;
    }
    i = __atomic_load_n(&it->next, __ATOMIC_ACQUIRE);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&it->seq, __ATOMIC_RELAXED) != s1) return -1;
  }
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return __atomic_load_n(&bk->version, __ATOMIC_RELAXED) == v1 ? 0 : -1;
}

static int still_live(const dict_map *m, const snap *sn) {
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return __atomic_load_n(&ITEM(m, sn->idx)->seq, __ATOMIC_RELAXED) == sn->seq;
}

/* A reader's retries.  Every retry that a writer causes comes with a new
 * bucket version (writers bump it after every publish, unpublish and
 * repair), so a walk that keeps failing under the same version is not a
 * race but a corrupt bucket (written by something that is not smobject):
 * after RETRY_SAME such walks, EUCLEAN instead of looping for ever. */
#define RETRY_SAME 512
typedef struct retry {
  unsigned tries, same;
  uint32_t ver;
} retry;

static int backoff(retry *r, uint32_t ver) {
  if (r->tries > 0 && ver == r->ver) {
    if (++r->same >= RETRY_SAME) return EUCLEAN;
  } else {
    r->same = 0;
  }
  r->ver = ver;
  if (++r->tries % 64 == 0) sched_yield();
  else __builtin_ia32_pause();
  return 0;
}

/* *now is read from the clock only when an expiry needs it (0: not yet). */
static int snap_expired(const dict_map *m, const snap *sn, int64_t *now) {
  if (sn->exp_ns != 0) {
    if (*now == 0) *now = now_ns();
    if (*now >= sn->exp_ns) return 1;
  }
  return sn->made < __atomic_load_n(&HDR(m)->flush_gen, __ATOMIC_RELAXED);
}

/* find_nolock until a walk succeeds: 1 found (*sn), 0 not there, -1 a
 * corrupt bucket (backoff gave up). */
static int find_retrying(const dict_map *m, const char *key, size_t klen, snap *sn) {
  uint64_t hash = hash_of(m, key, klen);
  retry rt = { 0, 0, 0 };
  for (;;) {
    int r = find_nolock(m, hash, key, klen, sn);
    if (r >= 0) return r;
    if (backoff(&rt, sn->ver)) return -1;
  }
}

/* (dict.h) */
int dict_get(const dict_map *m, const char *key, size_t klen, int stale_ok, dict_value *out, dict_buf *buf,
             int *stale, double *ttl) {
  uint64_t hash = hash_of(m, key, klen);
  retry rt = { 0, 0, 0 };
  int64_t now = 0;
  for (;;) {
    snap sn;
    int r = find_nolock(m, hash, key, klen, &sn);
    if (r < 0) {
      if (backoff(&rt, sn.ver)) return EUCLEAN;
      continue;
    }
    if (r == 0) return DICT_NOT_FOUND;
    *stale = snap_expired(m, &sn, &now);
    if (*stale && !stale_ok) return DICT_NOT_FOUND;
    out->type = (int)sn.type;
    out->flags = sn.flags;
    out->len = 0;
    if (sn.type == DICT_STRING) {
      int brc;
      out->len = sn.vlen;
      if (sn.vlen > m->size) { if (backoff(&rt, sn.ver)) return EUCLEAN; continue; }
      if ((brc = buf_reserve(buf, sn.vlen ? sn.vlen : 1)) != 0) {
        if (!still_live(m, &sn)) { if (backoff(&rt, sn.ver)) return EUCLEAN; continue; }
        return brc;
      }
      if (copy_data(m, sn.chain, sn.klen, buf->p, sn.vlen) != 0 || !still_live(m, &sn)) {
        if (backoff(&rt, sn.ver)) return EUCLEAN;
        continue;
      }
      out->len = sn.vlen;
      buf->len = sn.vlen;
    } else if (sn.type == DICT_NUMBER) {
      memcpy(&out->d, &sn.num, sizeof out->d);
    } else if (sn.type == DICT_INTEGER || sn.type == DICT_BOOLEAN) {
      out->i = (int64_t)sn.num;
    } else if (sn.type == DICT_LIST) {
      if (!still_live(m, &sn)) { if (backoff(&rt, sn.ver)) return EUCLEAN; continue; }
      return DICT_IS_LIST;
    } else {
      if (!still_live(m, &sn)) { if (backoff(&rt, sn.ver)) return EUCLEAN; continue; }
      return DICT_NOT_FOUND;           /* (a type of no version of ours) */
    }
    if (!still_live(m, &sn)) {
      if (backoff(&rt, sn.ver)) return EUCLEAN;
      continue;
    }
    if (ttl) *ttl = sn.exp_ns == 0 ? 0 : (double)(sn.exp_ns - (now ? now : now_ns())) / 1e9;
    if (!m->readonly) {                /* approximate LRU: the bucket's last read */
      dict_bucket *bk = BUCKET(m, hash & (m->nbuckets - 1));
      uint32_t t = now_s();
      if (__atomic_load_n(&bk->rtime, __ATOMIC_RELAXED) != t) __atomic_store_n(&bk->rtime, t, __ATOMIC_RELAXED);
    }
    return 0;
  }
}

/* (dict.h) */
int dict_ttl(const dict_map *m, const char *key, size_t klen, double *ttl) {
  snap sn;
  int64_t now = now_ns();
  int r = find_retrying(m, key, klen, &sn);
  if (r < 0) return EUCLEAN;
  if (r == 0 || snap_expired(m, &sn, &now)) return DICT_NOT_FOUND;
  *ttl = sn.exp_ns == 0 ? 0 : (double)(sn.exp_ns - now) / 1e9;
  return 0;
}

/* ------------------------------------------------------------- writing */

/* Under the bucket lock: the live or expired entry of key, its predecessor's
 * link, or *at = NIL. */
static void find_locked(const dict_map *m, uint64_t hash, const char *key, size_t klen, uint32_t **link,
                        uint32_t *at) {
  dict_bucket *bk = BUCKET(m, hash & (m->nbuckets - 1));
  uint32_t *l = &bk->head, steps = 0, cap = chain_cap(m);
  while (*l != NIL) {
    uint32_t i = *l;
    dict_item *it;
    if (i >= m->nslots || ++steps > cap) break;
    it = ITEM(m, i);
    if (it->hash == hash && it->klen == klen && key_equals(m, it->chain, key, klen) == 1) {
      *link = l;
      *at = i;
      return;
    }
    l = &it->next;
  }
  *link = l;
  *at = NIL;
}

/* Under the lock: frees entry i's slots, and a list's nodes. */
static int free_entry(const dict_map *m, uint32_t s, uint32_t i) {
  dict_item *it = ITEM(m, i);
  if (it->type == DICT_LIST) {
    uint32_t n = it->flags, steps = 0;
    while (n != NIL) {
      uint32_t next;
      if (n >= m->nslots || ++steps > m->nslots) {
        __atomic_store_n(&HDR(m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
        return DICT_REPAIR;
      }
      next = ITEM(m, n)->next;
      if (free_slots(m, s, n) != 0) return DICT_REPAIR;
      n = next;
    }
  }
  return free_slots(m, s, i);
}

/* Under the lock: takes entry i (linked at *link) out of bucket bk, and
 * frees its slots. */
static int unpublish(const dict_map *m, uint32_t s, dict_bucket *bk, uint32_t *link, uint32_t i) {
  dict_item *it = ITEM(m, i);
  if (it->next == i) {           /* (a chain into itself: not smobject's doing) */
    __atomic_store_n(&HDR(m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
    return DICT_REPAIR;
  }
  __atomic_store_n(link, it->next, __ATOMIC_RELEASE);          /* the commit */
  __atomic_fetch_add(&bk->version, 1, __ATOMIC_RELEASE);
  __atomic_fetch_add(&it->seq, 1, __ATOMIC_RELEASE);           /* odd: readers retry */
  __atomic_store_n(&LANE(m, s)->entries, LANE(m, s)->entries - 1, __ATOMIC_RELAXED);
  return free_entry(m, s, i);
}

/* Fills slots from head h (already taken) with an entry. */
static void fill(const dict_map *m, uint32_t h, uint64_t hash, const char *key, size_t klen, const dict_value *v,
                 int64_t exp_ns) {
  dict_item *it = ITEM(m, h);
  uint32_t c = it->chain;
  size_t total = klen + (v->type == DICT_STRING ? v->len : 0), off = 0;
  it->next = NIL;
  it->atime = now_s();
  it->hash = hash;
  it->exp_ns = exp_ns;
  it->made = __atomic_load_n(&HDR(m)->flush_gen, __ATOMIC_ACQUIRE);
  it->vlen = v->type == DICT_STRING ? (uint32_t)v->len : 0;
  it->flags = v->flags;
  it->klen = (uint16_t)klen;
  it->type = (uint8_t)v->type;
  it->pad = 0;
  it->spare = 0;
  if (v->type == DICT_LIST) {      /* an empty list */
    it->flags = NIL;
    it->spare = NIL;
  }
  if (v->type == DICT_NUMBER) memcpy(&it->num, &v->d, 8);
  else if (v->type == DICT_INTEGER || v->type == DICT_BOOLEAN) it->num = (uint64_t)v->i;
  else it->num = 0;
  while (off < total && c < m->nslots) {      /* (the chain was cut for us: a change is not ours) */
    dict_cont *ct = CONT(m, c);
    size_t room_left = total - off < CONT_DATA ? total - off : CONT_DATA, put = 0;
    if (off < klen) {                         /* key bytes first */
      /* cppcheck-suppress knownConditionTrueFalse ; (it assumes total - off < 1 inside this loop) */
      put = klen - off < room_left ? klen - off : room_left;
      memcpy(ct->data, key + off, put);
    }
    /* cppcheck-suppress knownConditionTrueFalse */
    if (put < room_left) memcpy(ct->data + put, v->s + (off + put - klen), room_left - put);
    off += room_left;
    c = ct->chain;
  }
  /* even: a head (not reachable yet, so no reader looks at it before the publish) */
  __atomic_store_n(&it->seq, (it->seq | 1u) + 1, __ATOMIC_RELEASE);
}

/* Under lane s's lock and bucket own's: frees room by evicting (expired
 * entries first, else the least recently read of a sample of
 * EVICT_SAMPLE entries, from the buckets after the lane's hand, each
 * locked while looked at; busy ones are skipped); 1 when something went,
 * 0 when nothing could, DICT_REPAIR when a bucket's holder is dead.
 * *forcible when a live entry went. */
static int evict_one(const dict_map *m, uint32_t s, uint32_t own, int64_t now, int *forcible) {
  uint32_t k, looked = 0, mask = m->nbuckets - 1, best_b = NO_BUCKET;
  uint32_t best = NIL, best_atime = UINT32_MAX, *best_link = NULL;
  dict_lane *st = LANE(m, s);
  int done = 0;
  for (k = 0; k < m->nbuckets && looked < EVICT_SAMPLE; k++) {
    uint32_t b = (st->hand + k) & mask, steps = 0, cap;
    dict_bucket *bk = BUCKET(m, b);
    uint32_t *l;
    int mine = b == own, keep = 0;
    if (__atomic_load_n(&bk->head, __ATOMIC_RELAXED) == NIL) continue;
    if (!mine && bucket_trylock(m, b, s) != 0) {
      uint32_t cur = __atomic_load_n(&bk->lock, __ATOMIC_ACQUIRE);
      if (cur == 0 || holder_gone(m, &bk->lock, cur, s) == 0) continue;
      if (best_b != NO_BUCKET && best_b != own) bucket_unlock(m, best_b);
      return DICT_REPAIR;
    }
    cap = chain_cap(m);
    l = &bk->head;
    while (*l != NIL && steps++ < cap && looked < 4 * EVICT_SAMPLE) {
      uint32_t i = *l;
      dict_item *it;
      uint32_t at;
      if (i >= m->nslots) break;
      it = ITEM(m, i);
      looked++;
      if (expired(m, it, &now)) {
        done = unpublish(m, s, bk, l, i) == 0 ? 1 : -1;
        break;
      }
      at = it->atime > bk->rtime ? it->atime : bk->rtime;
      if (at < best_atime) {
        if (best_b != NO_BUCKET && best_b != b && best_b != own) bucket_unlock(m, best_b);
        best = i;
        best_atime = at;
        best_link = l;
        best_b = b;
        keep = 1;
      }
      l = &it->next;
    }
    if (done) {
      if (!mine) bucket_unlock(m, b);
      if (best_b != NO_BUCKET && best_b != b && best_b != own) bucket_unlock(m, best_b);
      st->hand += k + 1;
      return done > 0;
    }
    if (!mine && !keep && best_b != b) bucket_unlock(m, b);
  }
  st->hand += k;
  if (best == NIL) return 0;
  __atomic_fetch_add(&HDR(m)->evictions, 1, __ATOMIC_RELAXED);
  *forcible = 1;
  done = unpublish(m, s, BUCKET(m, best_b), best_link, best) == 0;
  if (best_b != own) bucket_unlock(m, best_b);
  return done;
}

/* Under lane s's lock: the other lanes' pools back to the free list
 * (those whose lock is free now); whether any slot came back.  Every lane
 * is tried, so that one left by a dead writer is found and repaired. */
static int drain_pools(const dict_map *m, uint32_t s) {
  uint32_t t, got = 0;
  int rc;
  for (t = 0; t < m->nlanes; t++) {
    dict_lane *st = LANE(m, t);
    /* (a lane free with an empty pool has nothing to give; a held one may
     * be a dead writer's: glibc's lock word is the mutex's first) */
    if (t == s || (__atomic_load_n(&st->pool_count, __ATOMIC_RELAXED) == 0 &&
                   __atomic_load_n((const int *)(const void *)&st->mu, __ATOMIC_RELAXED) == 0))
      continue;
    rc = try_take(m, &st->mu);
    if (rc == DICT_REPAIR) return DICT_REPAIR;
    if (rc != 0) continue;
    if (!__atomic_load_n(&HDR(m)->needs_fsck, __ATOMIC_ACQUIRE) && st->pool_count) {
      got += st->pool_count;
      give_back(m, t, st->pool_count);
    }
    give(m, &st->mu);
  }
  return got > 0;
}

/* (drain_pools: 1 some came back, 0 none, DICT_REPAIR a dead holder was met) */

/* Under lane s's lock and bucket own's: n slots, evicting when allowed. */
static int room(const dict_map *m, uint32_t s, uint32_t own, uint32_t n, int may_evict, int64_t now, int *forcible,
                uint32_t *first) {
  int drained = 0;
  for (;;) {
    int rc = take_slots(m, s, n, first);
    if (rc == DICT_NO_MEMORY && !drained) {
      int got = drain_pools(m, s);
      drained = 1;
      if (got == DICT_REPAIR) return DICT_REPAIR;
      if (got) continue;
    }
    if (rc != DICT_NO_MEMORY || !may_evict) return rc;
    rc = evict_one(m, s, own, now, forcible);
    if (rc == DICT_REPAIR) return rc;
    if (rc == 0) return __atomic_load_n(&HDR(m)->needs_fsck, __ATOMIC_ACQUIRE) ? DICT_REPAIR : DICT_NO_MEMORY;
    if (__atomic_load_n(&HDR(m)->needs_fsck, __ATOMIC_ACQUIRE)) return DICT_REPAIR;
  }
}

/* Under lane s's lock and its bucket's: publishes key's new entry v (replacing what is
 * there), n slots, evicting when allowed.  0, DICT_NO_MEMORY, DICT_REPAIR
 * (nothing published: release and retry), or another lock error. */
static int publish_locked(const dict_map *m, uint32_t s, uint64_t hash, const char *key, size_t klen,
                          const dict_value *v, int64_t exp_ns, int may_evict, int64_t now, int *forcible) {
  uint32_t b = (uint32_t)(hash & (m->nbuckets - 1));
  dict_bucket *bk = BUCKET(m, b);
  uint32_t n = slots_for(klen, v->type == DICT_STRING ? v->len : 0), first, at, *link;
  int rc = room(m, s, b, n, may_evict, now, forcible, &first);
  if (rc != 0) return rc;
  /* (eviction may have taken the old entry: look now) */
  find_locked(m, hash, key, klen, &link, &at);
  fill(m, first, hash, key, klen, v, exp_ns);
  if (at != NIL) {
    dict_item *old = ITEM(m, at);
    ITEM(m, first)->next = old->next;
    __atomic_store_n(link, first, __ATOMIC_RELEASE);        /* the commit */
    __atomic_fetch_add(&bk->version, 1, __ATOMIC_RELEASE);
    __atomic_fetch_add(&old->seq, 1, __ATOMIC_RELEASE);
    free_entry(m, s, at);       /* (a broken chain: the repair frees it; this write is done) */
  } else {
    ITEM(m, first)->next = bk->head;
    __atomic_store_n(&bk->head, first, __ATOMIC_RELEASE);   /* the commit */
    __atomic_fetch_add(&bk->version, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&LANE(m, s)->entries, LANE(m, s)->entries + 1, __ATOMIC_RELAXED);
  }
  return 0;
}

/* Under the lock: a number or boolean over a live one of the same type,
 * flags and no expiry on either side, is one store of its bits (as incr). */
static int in_place(const dict_map *m, dict_item *it, const dict_value *v, double exptime, int64_t now) {
  uint64_t bits;
  if (v->type != it->type || (v->type != DICT_INTEGER && v->type != DICT_NUMBER && v->type != DICT_BOOLEAN) ||
      v->flags != it->flags || exptime > 0 || it->exp_ns != 0 || expired(m, it, &now))
    return 0;
  if (v->type == DICT_NUMBER) memcpy(&bits, &v->d, 8);
  else bits = (uint64_t)v->i;
  __atomic_store_n(&it->num, bits, __ATOMIC_RELEASE);
  it->atime = now_s();
  return 1;
}

#define FAST_TRIES 8           /* lock-free attempts before the locked path */

/* The bits of a number or boolean value. */
static uint64_t bits_of(const dict_value *v) {
  uint64_t bits;
  if (v->type == DICT_NUMBER) memcpy(&bits, &v->d, 8);
  else bits = (uint64_t)v->i;
  return bits;
}

/* After a lock-free write: the bucket's recency (type-stable memory: the
 * head may have been freed and reused since). */
static void touch_bucket(const dict_map *m, uint64_t hash) {
  dict_bucket *bk = BUCKET(m, hash & (m->nbuckets - 1));
  uint32_t t = now_s();
  if (__atomic_load_n(&bk->rtime, __ATOMIC_RELAXED) != t) __atomic_store_n(&bk->rtime, t, __ATOMIC_RELAXED);
}

/* set of a number or boolean over a live one of the same type and flags,
 * neither expiring: one compare-and-swap, no lock.  1 done; 0 the locked
 * path must do it (anything else, or a repair pending). */
static int store_lock_free(const dict_map *m, uint64_t hash, const char *key, size_t klen, const dict_value *v) {
  int tries;
  if (!NUM_LOCK_FREE || __atomic_load_n(&HDR(m)->needs_fsck, __ATOMIC_ACQUIRE)) return 0;
  for (tries = 0; tries < FAST_TRIES; tries++) {
    snap sn;
    int64_t now = 0;
    int r = find_nolock(m, hash, key, klen, &sn);
    if (r < 0) continue;
    if (r == 0 || sn.type != (uint32_t)v->type || sn.flags != v->flags || sn.exp_ns != 0 || snap_expired(m, &sn, &now))
      return 0;
    if (num_swap(ITEM(m, sn.idx), sn.chain, sn.seq, sn.num, bits_of(v))) {
      touch_bucket(m, hash);
      return 1;
    }
  }
  return 0;
}

/* (dict.h) */
int dict_store(const dict_map *m, int how, const char *key, size_t klen, const dict_value *v, double exptime,
               int may_evict, int *forcible) {
  uint64_t hash = hash_of(m, key, klen);
  uint32_t b = (uint32_t)(hash & (m->nbuckets - 1)), s, at;
  uint32_t *link;
  dict_bucket *bk = BUCKET(m, b);
  *forcible = 0;
  /* (larger than every slot: no eviction could make room) */
  if (v->type == DICT_STRING &&
      (v->len > UINT32_MAX || dict_entry_bytes(klen, v->len) > (size_t)m->nslots * SLOT))
    return DICT_TOO_LARGE;
  if (how == DICT_SET && !(exptime > 0) &&
      (v->type == DICT_INTEGER || v->type == DICT_NUMBER || v->type == DICT_BOOLEAN) &&
      store_lock_free(m, hash, key, klen, v))
    return 0;
  __builtin_prefetch(bk);                /* (arrives while the lane is taken) */
  for (;;) {
    int64_t now;
    int rc = enter(m, b, &s);
    if (rc != 0) return rc;
    now = 0;                             /* (read from the clock when needed) */
    find_locked(m, hash, key, klen, &link, &at);
    if (how != DICT_SET && at != NIL && expired(m, ITEM(m, at), &now)) {
      /* an expired entry counts as none for add and replace: it goes first */
      rc = unpublish(m, s, bk, link, at);
      if (rc == DICT_REPAIR) { leave(m, b, s); continue; }
      at = NIL;
    }
    if (how == DICT_ADD && at != NIL) rc = DICT_EXISTS;
    else if (how == DICT_REPLACE && at == NIL) rc = DICT_NOT_FOUND;
    else if (v->type == DICT_NONE) rc = at == NIL ? 0 : unpublish(m, s, bk, link, at);   /* delete */
    else if (at != NIL && in_place(m, ITEM(m, at), v, exptime, now)) rc = 0;
    else rc = publish_locked(m, s, hash, key, klen, v, exptime > 0 ? exp_of(exptime, clock_of(&now)) : 0, may_evict,
                              now, forcible);
    leave(m, b, s);
    if (rc == DICT_REPAIR) continue;
    return rc;
  }
}

/* incr of a live number that keeps its type: compare-and-swap, no lock.
 * 1 done (*result); 0 the locked path must do it. */
static int incr_lock_free(const dict_map *m, uint64_t hash, const char *key, size_t klen, const dict_value *n,
                          dict_value *result) {
  int tries;
  if (!NUM_LOCK_FREE || __atomic_load_n(&HDR(m)->needs_fsck, __ATOMIC_ACQUIRE)) return 0;
  for (tries = 0; tries < FAST_TRIES; tries++) {
    snap sn;
    int64_t now = 0;
    uint64_t bits;
    int r = find_nolock(m, hash, key, klen, &sn);
    if (r < 0) continue;
    if (r == 0 || snap_expired(m, &sn, &now)) return 0;
    memset(result, 0, sizeof *result);
    if (sn.type == DICT_INTEGER && n->type == DICT_INTEGER) {
      bits = sn.num + (uint64_t)n->i;
      result->type = DICT_INTEGER;
      result->i = (int64_t)bits;
    } else if (sn.type == DICT_NUMBER) {
      memcpy(&result->d, &sn.num, 8);
      result->d += n->type == DICT_INTEGER ? (double)n->i : n->d;
      result->type = DICT_NUMBER;
      memcpy(&bits, &result->d, 8);
    } else {
      return 0;                          /* (a type change, or not a number: the locked path says) */
    }
    if (num_swap(ITEM(m, sn.idx), sn.chain, sn.seq, sn.num, bits)) {
      touch_bucket(m, hash);
      return 1;
    }
  }
  return 0;
}

/* (dict.h) */
int dict_incr(const dict_map *m, const char *key, size_t klen, const dict_value *n, int has_init,
              const dict_value *init, double init_ttl, dict_value *result, int *forcible) {
  uint64_t hash = hash_of(m, key, klen);
  uint32_t b = (uint32_t)(hash & (m->nbuckets - 1)), s, at;
  uint32_t *link;
  dict_bucket *bk = BUCKET(m, b);
  *forcible = 0;
  if (incr_lock_free(m, hash, key, klen, n, result)) return 0;
  for (;;) {
    int64_t now;
    dict_item *it;
    dict_value v;
    int rc = enter(m, b, &s);
    if (rc != 0) return rc;
    now = 0;
    find_locked(m, hash, key, klen, &link, &at);
    if (at != NIL && expired(m, ITEM(m, at), &now)) {
      rc = unpublish(m, s, bk, link, at);      /* expired: as if not there */
      if (rc == DICT_REPAIR) { leave(m, b, s); continue; }
      at = NIL;
    }
    memset(&v, 0, sizeof v);
    if (at == NIL) {
      if (!has_init) { leave(m, b, s); return DICT_NOT_FOUND; }
      /* init + n, by Lua's rule: integers stay integers */
      if (init->type == DICT_INTEGER && n->type == DICT_INTEGER) {
        v.type = DICT_INTEGER;
        v.i = (int64_t)((uint64_t)init->i + (uint64_t)n->i);
      } else {
        v.type = DICT_NUMBER;
        v.d = (init->type == DICT_INTEGER ? (double)init->i : init->d) + (n->type == DICT_INTEGER ? (double)n->i
                                                                                                 : n->d);
      }
      rc = publish_locked(m, s, hash, key, klen, &v, init_ttl > 0 ? exp_of(init_ttl, clock_of(&now)) : 0, 1, now,
                          forcible);
    } else if ((it = ITEM(m, at))->type == DICT_INTEGER && n->type == DICT_INTEGER) {
      uint64_t old, nv;
      do {                                                     /* in place (lock-free writers too) */
        old = __atomic_load_n(&it->num, __ATOMIC_ACQUIRE);
        nv = old + (uint64_t)n->i;
      } while (!num_swap(it, it->chain, it->seq, old, nv));
      v.type = DICT_INTEGER;
      v.i = (int64_t)nv;
      rc = 0;
    } else if (it->type == DICT_NUMBER) {
      uint64_t old, bits;
      do {
        old = __atomic_load_n(&it->num, __ATOMIC_ACQUIRE);
        memcpy(&v.d, &old, 8);
        v.d += n->type == DICT_INTEGER ? (double)n->i : n->d;
        memcpy(&bits, &v.d, 8);
      } while (!num_swap(it, it->chain, it->seq, old, bits));
      v.type = DICT_NUMBER;
      rc = 0;
    } else if (it->type == DICT_INTEGER) {
      /* an integer plus a float is a float: a new entry, since the type
       * changes (readers take type and bits in one copy of the head) */
      v.type = DICT_NUMBER;
      v.d = (double)(int64_t)it->num + n->d;
      v.flags = it->flags;
      rc = publish_locked(m, s, hash, key, klen, &v, it->exp_ns, 1, now, forcible);
    } else {
      rc = DICT_NOT_NUMBER;
    }
    leave(m, b, s);
    if (rc == DICT_REPAIR) continue;
    if (rc == 0) *result = v;
    return rc;
  }
}

/* (dict.h) */
int dict_expire(const dict_map *m, const char *key, size_t klen, double exptime) {
  uint64_t hash = hash_of(m, key, klen);
  uint32_t b = (uint32_t)(hash & (m->nbuckets - 1)), s, at;
  uint32_t *link;
  int64_t now;
  int rc = enter(m, b, &s);
  if (rc != 0) return rc;
  now = now_ns();
  find_locked(m, hash, key, klen, &link, &at);
  if (at == NIL || expired(m, ITEM(m, at), &now)) {
    leave(m, b, s);
    return DICT_NOT_FOUND;
  }
  /* seq first (+ 2: still a published head): a lock-free number change that
   * read the old expiry fails and looks again */
  __atomic_fetch_add(&ITEM(m, at)->seq, 2, __ATOMIC_ACQ_REL);
  __atomic_store_n(&ITEM(m, at)->exp_ns, exp_of(exptime, now), __ATOMIC_RELEASE);
  leave(m, b, s);
  return 0;
}

/* (dict.h) */
int dict_flush_all(const dict_map *m) {
  __atomic_fetch_add(&HDR(m)->flush_gen, 1, __ATOMIC_ACQ_REL);
  return 0;
}

/* Under lane s's lock: every other lane held now is tried, so that one left
 * by a dead writer (whom nobody may meet for a while: lanes are taken by
 * turns) is found; DICT_REPAIR then. */
static int reap(const dict_map *m, uint32_t s) {
  uint32_t t;
  int rc;
  for (t = 0; t < m->nlanes; t++) {
    pthread_mutex_t *mu = &LANE(m, t)->mu;
    if (t == s || __atomic_load_n((const int *)(const void *)mu, __ATOMIC_RELAXED) == 0) continue;
    rc = try_take(m, mu);
    if (rc == DICT_REPAIR) return DICT_REPAIR;
    if (rc == 0) give(m, mu);
  }
  return 0;
}

/* (dict.h) */
int dict_flush_expired(const dict_map *m, uint32_t max, uint32_t *freed) {
  uint32_t b = 0, s, n;
  *freed = 0;
  while (b < m->nbuckets) {
    int rc = enter(m, NO_BUCKET, &s);
    int64_t now = now_ns();
    if (rc != 0) return rc;
    if (b == 0 && reap(m, s) == DICT_REPAIR) {
      give(m, &LANE(m, s)->mu);
      continue;
    }
    /* (the lane is let go every 4096 buckets, so that a repair waits little) */
    for (n = 0; b < m->nbuckets && n < 4096; b++, n++) {
      dict_bucket *bk = BUCKET(m, b);
      uint32_t *l = &bk->head, steps = 0, cap = chain_cap(m);
      if (__atomic_load_n(&bk->head, __ATOMIC_RELAXED) == NIL) continue;
      if (!external(m) && (rc = bucket_lock(m, b, s)) != 0) break;
      while (*l != NIL && steps++ < cap) {
        uint32_t i = *l;
        if (i >= m->nslots) break;
        if (expired(m, ITEM(m, i), &now)) {
          if (unpublish(m, s, bk, l, i) != 0) break;
          if (++*freed == max && max) {
            leave(m, b, s);
            return 0;
          }
          continue;
        }
        l = &ITEM(m, i)->next;
      }
      bucket_unlock(m, b);
    }
    give(m, &LANE(m, s)->mu);
    if (rc == EBUSY) bucket_wait(m, b);
    else if (rc != 0 && rc != DICT_REPAIR) return rc;
  }
  return 0;
}

/* (dict.h) */
int dict_keys(const dict_map *m, uint32_t max, dict_buf *buf, uint32_t *n) {
  uint32_t b;
  int64_t now = now_ns();
  *n = 0;
  buf->len = 0;
  for (b = 0; b < m->nbuckets; b++) {
    dict_bucket *bk = BUCKET(m, b);
    retry rt = { 0, 0, 0 };
    for (;;) {
      size_t mark = buf->len;
      uint32_t got = 0, v1 = __atomic_load_n(&bk->version, __ATOMIC_ACQUIRE), steps = 0, ok = 1;
      uint32_t cap = chain_cap(m);
      uint32_t i = __atomic_load_n(&bk->head, __ATOMIC_ACQUIRE);
      while (i != NIL) {
        dict_item *it;
        uint32_t s1, klen;
        if (i >= m->nslots || ++steps > cap) { ok = 0; break; }
        it = ITEM(m, i);
        s1 = __atomic_load_n(&it->seq, __ATOMIC_ACQUIRE);
        klen = it->klen;
        if ((s1 & 1u) || buf_reserve(buf, buf->len + 2 + klen) != 0) { ok = 0; break; }
        if (!expired(m, it, &now)) {
          buf->p[buf->len] = (char)(klen >> 8);
          buf->p[buf->len + 1] = (char)(klen & 0xff);
          if (copy_data(m, it->chain, 0, buf->p + buf->len + 2, klen) != 0) { ok = 0; break; }
          buf->len += 2 + klen;
          got++;
        }
        i = __atomic_load_n(&it->next, __ATOMIC_ACQUIRE);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&it->seq, __ATOMIC_RELAXED) != s1) { ok = 0; break; }
      }
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      if (ok && __atomic_load_n(&bk->version, __ATOMIC_RELAXED) == v1) {
        *n += got;
        break;
      }
      buf->len = mark;
      if (backoff(&rt, v1)) return EUCLEAN;
    }
    if (max && *n >= max) break;
  }
  return 0;
}

/* (dict.h) */
void dict_stat(const dict_map *m, dict_stats *st) {
  const dict_header *h = HDR(m);
  uint32_t t, entries = 0;
  st->slots = m->nslots;
  st->free_slots = __atomic_load_n(&h->free_count, __ATOMIC_RELAXED);
  for (t = 0; t < m->nlanes; t++)
    st->free_slots += __atomic_load_n(&LANE(m, t)->pool_count, __ATOMIC_RELAXED);
  if (st->free_slots > st->slots) st->free_slots = st->slots;
  st->capacity = (uint64_t)m->nslots * SLOT;
  st->free_bytes = st->free_slots * SLOT;
  /* (the lanes' counts wrap: their sum mod 2^32 is the count) */
  for (t = 0; t < m->nlanes; t++) entries += __atomic_load_n(&LANE(m, t)->entries, __ATOMIC_RELAXED);
  st->entries = entries > m->nslots ? 0 : entries;
  st->evictions = __atomic_load_n(&h->evictions, __ATOMIC_RELAXED);
  st->recoveries = __atomic_load_n(&h->recoveries, __ATOMIC_RELAXED);
  st->lanes = m->nlanes;
  st->buckets = m->nbuckets;
  st->slot_size = SLOT;
}

/* Marks slot chain c (an entry's, or a free list) in mark with bit, counting
 * slots met twice; how many slots it has (stops at a bad link or cycle). */
static uint32_t check_chain(const dict_map *m, uint32_t c, unsigned char *mark, unsigned char bit,
                            dict_check_report *r) {
  uint32_t n = 0;
  while (c != NIL) {
    if (c >= m->nslots || (mark[c] & bit) || n >= m->nslots) {
      r->broken++;
      break;
    }
    if (mark[c]) r->twice++;
    mark[c] |= bit;
    n++;
    c = CONT(m, c)->chain;
  }
  return n;
}

/* (dict.h) */
int dict_check(const dict_map *m, dict_check_report *r) {
  dict_header *h = HDR(m);
  unsigned char *mark;
  uint32_t s, b, i, ns = m->nlanes < LANES ? m->nlanes : LANES;
  int held[LANES], alloc_held, err;
  memset(r, 0, sizeof *r);
  r->slots = m->nslots;
  mark = (unsigned char *)calloc(m->nslots ? m->nslots : 1, 1);
  if (mark == NULL) return ENOMEM;
  err = lock_all(m, held, &alloc_held, &r->dead_holders);
  if (err) goto done;
  r->needs_repair = __atomic_load_n(&h->needs_fsck, __ATOMIC_ACQUIRE);
  for (b = 0; b < m->nbuckets; b++) {
    uint32_t it = BUCKET(m, b)->head, steps = 0;
    if (!external(m) && __atomic_load_n(&BUCKET(m, b)->lock, __ATOMIC_ACQUIRE) != 0) r->locked_buckets++;
    while (it != NIL) {
      if (it >= m->nslots || ++steps > m->nslots) {
        r->broken++;
        break;
      }
      r->entries_found++;
      r->used += check_chain(m, it, mark, 1, r);
      if (ITEM(m, it)->type == DICT_LIST) {
        uint32_t n = ITEM(m, it)->flags, k = 0;
        while (n != NIL && n < m->nslots && k++ < m->nslots) {
          r->used += check_chain(m, n, mark, 1, r);
          n = ITEM(m, n)->next;
        }
      }
      it = ITEM(m, it)->next;
    }
  }
  r->free_listed = check_chain(m, h->free_head, mark, 2, r);
  r->free_count = h->free_count;
  for (s = 0; s < ns; s++) {
    r->pooled += check_chain(m, LANE(m, s)->pool_head, mark, 4, r);
    r->pool_count += LANE(m, s)->pool_count;
    r->entries_counted += LANE(m, s)->entries;
  }
  for (i = 0; i < m->nslots; i++)
    if (!mark[i]) r->lost++;
done:
  unlock_all(m, held, alloc_held);
  free(mark);
  return err;
}

/* ------------------------------------------------------------- lists */

/* (dict.h) */
int dict_push(const dict_map *m, const char *key, size_t klen, int left, const dict_value *v, uint32_t *len) {
  uint64_t hash = hash_of(m, key, klen);
  uint32_t b = (uint32_t)(hash & (m->nbuckets - 1)), s;
  dict_bucket *bk = BUCKET(m, b);
  if (v->type == DICT_STRING &&
      (v->len > UINT32_MAX || dict_entry_bytes(0, v->len) > (size_t)m->nslots * SLOT))
    return DICT_NO_MEMORY;
  for (;;) {
    uint32_t at, *link, node, n = slots_for(0, v->type == DICT_STRING ? v->len : 0);
    dict_item *l, *nd;
    int64_t now;
    int forcible = 0, rc = enter(m, b, &s);
    if (rc != 0) return rc;
    now = now_ns();
    find_locked(m, hash, key, klen, &link, &at);
    if (at != NIL && expired(m, ITEM(m, at), &now)) {
      rc = unpublish(m, s, bk, link, at);       /* expired: replaced by a new list */
      if (rc == DICT_REPAIR) { leave(m, b, s); continue; }
      at = NIL;
    }
    if (at != NIL && ITEM(m, at)->type != DICT_LIST) {
      leave(m, b, s);
      return DICT_NOT_LIST;
    }
    if (at == NIL) {                          /* a new, empty list first */
      dict_value lv;
      memset(&lv, 0, sizeof lv);
      lv.type = DICT_LIST;
      rc = publish_locked(m, s, hash, key, klen, &lv, 0, 0, now, &forcible);
      if (rc != 0) {
        leave(m, b, s);
        if (rc == DICT_REPAIR) continue;
        return rc;
      }
      find_locked(m, hash, key, klen, &link, &at);
      if (at == NIL) { leave(m, b, s); return EIO; }
    }
    rc = room(m, s, b, n, 0, now, &forcible, &node);
    if (rc != 0) {
      /* (a list made for this push stays, empty: as ngx's, whose failed push keeps it) */
      leave(m, b, s);
      if (rc == DICT_REPAIR) continue;
      return rc;
    }
    fill(m, node, 0, "", 0, v, 0);
    l = ITEM(m, at);
    nd = ITEM(m, node);
    if (left) {
      uint32_t first = l->flags;
      nd->next = first;
      nd->atime = NIL;
      if (first != NIL && first < m->nslots) ITEM(m, first)->atime = node;
      else l->spare = node;
      __atomic_store_n(&l->flags, node, __ATOMIC_RELEASE);            /* the commit */
    } else {
      uint32_t last = l->spare;
      nd->next = NIL;
      nd->atime = last;
      if (last != NIL && last < m->nslots) __atomic_store_n(&ITEM(m, last)->next, node, __ATOMIC_RELEASE);
      else __atomic_store_n(&l->flags, node, __ATOMIC_RELEASE);       /* the commit */
      l->spare = node;
    }
    *len = __atomic_add_fetch(&l->vlen, 1, __ATOMIC_RELEASE);
    l->atime = now_s();
    leave(m, b, s);
    return 0;
  }
}

/* (dict.h) */
int dict_pop(const dict_map *m, const char *key, size_t klen, int left, dict_value *out, dict_buf *buf) {
  int64_t now = 0;
  uint64_t hash = hash_of(m, key, klen);
  uint32_t b = (uint32_t)(hash & (m->nbuckets - 1)), s;
  dict_bucket *bk = BUCKET(m, b);
  for (;;) {
    uint32_t at, *link, node;
    dict_item *l, *nd;
    int rc = enter(m, b, &s);
    if (rc != 0) return rc;
    find_locked(m, hash, key, klen, &link, &at);
    if (at == NIL || expired(m, ITEM(m, at), &now)) {
      leave(m, b, s);
      return DICT_NOT_FOUND;
    }
    l = ITEM(m, at);
    if (l->type != DICT_LIST) {
      leave(m, b, s);
      return DICT_NOT_LIST;
    }
    node = left ? l->flags : l->spare;
    if (node == NIL || node >= m->nslots) {
      rc = unpublish(m, s, bk, link, at);        /* empty: the key goes */
      leave(m, b, s);
      if (rc == DICT_REPAIR) continue;
      return DICT_NOT_FOUND;
    }
    nd = ITEM(m, node);
    /* the value out first (into our buffer: no Lua under the lock) */
    out->type = nd->type;
    out->flags = 0;
    out->len = 0;
    if (nd->type == DICT_STRING) {
      if (buf_reserve(buf, nd->vlen ? nd->vlen : 1) != 0 || nd->vlen > m->size ||
          copy_data(m, nd->chain, 0, buf->p, nd->vlen) != 0) {
        leave(m, b, s);
        return ENOMEM;
      }
      out->len = nd->vlen;
      buf->len = nd->vlen;
    } else if (nd->type == DICT_NUMBER) {
      memcpy(&out->d, &nd->num, 8);
    } else {
      out->i = (int64_t)nd->num;
    }
    if (left) {
      uint32_t next = nd->next;
      __atomic_store_n(&l->flags, next, __ATOMIC_RELEASE);            /* the commit */
      if (next != NIL && next < m->nslots) ITEM(m, next)->atime = NIL;
      else l->spare = NIL;
    } else {
      uint32_t prev = nd->atime;
      if (prev != NIL && prev < m->nslots) __atomic_store_n(&ITEM(m, prev)->next, NIL, __ATOMIC_RELEASE);
      else __atomic_store_n(&l->flags, NIL, __ATOMIC_RELEASE);         /* the commit */
      l->spare = prev;
    }
    if (l->vlen > 0) __atomic_sub_fetch(&l->vlen, 1, __ATOMIC_RELEASE);
    rc = free_slots(m, s, node);
    if (rc == 0 && l->flags == NIL) rc = unpublish(m, s, bk, link, at);    /* the last element: the key goes */
    leave(m, b, s);
    (void)rc;                                 /* (popped: a broken chain is the repair's) */
    return 0;
  }
}

/* (dict.h) */
int dict_llen(const dict_map *m, const char *key, size_t klen, uint32_t *len) {
  snap sn;
  int64_t now = 0;
  int r = find_retrying(m, key, klen, &sn);
  if (r < 0) return EUCLEAN;
  *len = 0;
  if (r == 0 || snap_expired(m, &sn, &now)) return 0;
  if (sn.type != DICT_LIST) return DICT_NOT_LIST;
  *len = sn.vlen;
  return 0;
}
