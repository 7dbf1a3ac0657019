/*
 * smo.dict's store, without Lua (dict.c): a hash table of keys and typed
 * values in one mapped segment, crash-safe against a process killed at any
 * instruction, readable without any lock.  The Lua binding (dict_lua.c)
 * checks arguments, encodes values and calls these; a C program could link
 * dict.c alone.
 *
 * All positions in the segment are slot indices or byte offsets, never
 * pointers: every process maps it at its own address.  Everything read from
 * the segment is checked against the geometry the opener validated once
 * (dict_map), so a segment written by anyone cannot make us read or write
 * outside it; at worst it gives wrong answers.
 */
#ifndef SMOBJECT_DICT_H
#define SMOBJECT_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "visibility.h"

SMO_HIDDEN_BEGIN

/* Value types, as stored. */
enum {
  DICT_NONE = 0,       /* (no value: not found) */
  DICT_BOOLEAN = 1,    /* 1 byte, 0 or 1 */
  DICT_NUMBER = 2,     /* a double, 8 bytes */
  DICT_INTEGER = 3,    /* an int64_t, 8 bytes (Lua 5.3+ integers) */
  DICT_STRING = 4,     /* bytes */
  DICT_LIST = 5        /* a list of numbers and strings (lpush, rpop...) */
};

/* Results besides 0. */
enum {
  DICT_NOT_FOUND = 1,
  DICT_EXISTS = 2,
  DICT_NO_MEMORY = 3,
  DICT_NOT_NUMBER = 4,
  DICT_TOO_LARGE = 5,   /* more than a uint32 length, or than the whole dictionary */
  DICT_IS_LIST = 6,     /* get of a list */
  DICT_NOT_LIST = 7     /* a list operation on another value */
};

/* How a write treats what is there (ngx's set, add, replace, and their safe_ forms). */
enum {
  DICT_SET = 0,        /* store, found or not */
  DICT_ADD = 1,        /* only when not found (expired counts as not found) */
  DICT_REPLACE = 2     /* only when found */
};

/* A mapped dictionary: the geometry checked when it was mapped (never read
 * again from the segment, which anyone with write access may change). */
typedef struct dict_map {
  unsigned char *base;
  size_t size;
  uint32_t nslots, nbuckets, nlanes;
  size_t lanes_off, buckets_off, slots_off;
  int readonly;
  int lock_kind;       /* DICT_LOCK_LANES or DICT_LOCK_EXTERNAL, as laid out */
  /* DICT_LOCK_EXTERNAL: the one lock of its one lane, kept by the caller
   * (smo.dict: the segment's kernel lock).  lock: 0, DICT_LOCK_RECOVERED
   * (taken; its previous holder died holding it) or an errno value. */
  int (*lock)(void *ctx);
  void (*unlock)(void *ctx);
  void *lock_ctx;
} dict_map;

/* How a dictionary's writers exclude each other, chosen when it is laid out. */
enum {
  DICT_LOCK_LANES = 0,   /* bucket locks and 64 lanes, robust pthread mutexes in the segment (only the owner's
                            * uid may write it: glibc follows pointers kept in a robust mutex) */
  DICT_LOCK_EXTERNAL = 1   /* one lane, locked by dict_map's lock (group or others may write) */
};
#define DICT_LOCK_RECOVERED (-1)

/* The bytes a dictionary of `size` bytes needs at least. */
size_t dict_min_size(void);

/* Lays out a fresh dictionary in [base, base+size) (zeroed memory).  0, or
 * an errno (EINVAL: too small). */
int dict_format(unsigned char *base, size_t size, int lock_kind);

/* The format version of the dictionary at base (one of any version), or
 * -1 when it is none; DICT_FORMAT is this build's. */
#define DICT_FORMAT 4
int dict_format_of(const unsigned char *base, size_t size);

/* Checks the segment's header and fills m; 0, or EINVAL (not a dictionary,
 * or its geometry does not fit the size), EAGAIN (being formatted). */
int dict_map_of(dict_map *m, unsigned char *base, size_t size, int readonly);

/* One value, in and out. */
typedef struct dict_value {
  int type;
  int64_t i;           /* DICT_INTEGER, DICT_BOOLEAN */
  double d;            /* DICT_NUMBER */
  const char *s;       /* DICT_STRING in */
  size_t len;
  uint32_t flags;
} dict_value;

/* A growing buffer for what a read copies (strings, key lists). */
typedef struct dict_buf {
  char *p;
  size_t len, cap;
  int fixed;           /* p is the caller's: never grown (ERANGE when too small) */
} dict_buf;
void dict_buf_free(dict_buf *b);

/* Reads key: 0 with *out (strings into buf) and *stale (expired, for
 * get_stale) and *ttl (seconds left, -1 never... only when asked), or
 * DICT_NOT_FOUND.  stale_ok: an expired value is returned (stale = 1)
 * instead of not found.  Never waits for a writer. */
int dict_get(const dict_map *m, const char *key, size_t klen, int stale_ok, dict_value *out, dict_buf *buf,
             int *stale, double *ttl);

/* Writes: value type DICT_NONE deletes.  exptime seconds (0: never).
 * may_evict: set's forcible eviction of least recently used entries when
 * full (safe_ forms pass 0).  *forcible set when something valid was
 * evicted.  0, DICT_EXISTS, DICT_NOT_FOUND, DICT_NO_MEMORY, or an errno of
 * the lock (EIDRM...). */
int dict_store(const dict_map *m, int how, const char *key, size_t klen, const dict_value *v, double exptime,
               int may_evict, int *forcible);

/* incr: adds n (an integer when both are integers, else a double) to a
 * number; a missing (or expired) key is created with init + n when has_init
 * (init_ttl seconds, 0 never), else DICT_NOT_FOUND; DICT_NOT_NUMBER. */
int dict_incr(const dict_map *m, const char *key, size_t klen, const dict_value *n, int has_init,
              const dict_value *init, double init_ttl, dict_value *result, int *forcible);

/* Lists: push (left: lpush, else rpush) v (a number or a string) onto the
 * list at key (made when missing or expired; DICT_NOT_LIST on another live
 * value; never evicts: DICT_NO_MEMORY); *len the new length. */
int dict_push(const dict_map *m, const char *key, size_t klen, int left, const dict_value *v, uint32_t *len);

/* pop (left: lpop): the element into *out (strings into buf), or
 * DICT_NOT_FOUND (missing, expired or empty), DICT_NOT_LIST.  The last
 * element's pop removes the key. */
int dict_pop(const dict_map *m, const char *key, size_t klen, int left, dict_value *out, dict_buf *buf);

/* llen without a lock: *len (0 when missing or expired), or DICT_NOT_LIST. */
int dict_llen(const dict_map *m, const char *key, size_t klen, uint32_t *len);

/* ttl: seconds left (0: never expires); DICT_NOT_FOUND. */
int dict_ttl(const dict_map *m, const char *key, size_t klen, double *ttl);

/* expire: sets the expiry (seconds, 0: never) of a live key; DICT_NOT_FOUND. */
int dict_expire(const dict_map *m, const char *key, size_t klen, double exptime);

/* flush_all: every entry expires now (one store: all or nothing). */
int dict_flush_all(const dict_map *m);

/* flush_expired: frees up to max expired entries (0: all); *freed. */
int dict_flush_expired(const dict_map *m, uint32_t max, uint32_t *freed);

/* get_keys: up to max live keys (0: all), each as a uint16 length and its
 * bytes in buf; *n how many.  Lock-free, retried per bucket. */
int dict_keys(const dict_map *m, uint32_t max, dict_buf *buf, uint32_t *n);

/* What `smo dict stat` shows. */
typedef struct dict_stats {
  uint64_t capacity, free_bytes, entries, evictions, recoveries, slots, free_slots;
  uint32_t lanes, buckets, slot_size;
} dict_stats;
void dict_stat(const dict_map *m, dict_stats *st);

/* A check of the bookkeeping under every lock, changing nothing (a dead
 * holder's lock is made consistent and the dictionary marked for repair, as
 * any user meeting it does): every slot in exactly one place (an entry, the
 * free list, a lane's pool), and the counters equal to what is there. */
typedef struct dict_check_report {
  uint32_t slots, used, free_listed, pooled, lost, twice, broken;
  uint32_t free_count, pool_count, entries_counted, entries_found;
  uint32_t needs_repair, dead_holders;
  uint32_t locked_buckets;   /* bucket locks held while every lane is: a dead writer's (repaired next) */
} dict_check_report;
int dict_check(const dict_map *m, dict_check_report *r);

/* The bytes an entry of this key and value occupies (capacity accounting). */
size_t dict_entry_bytes(size_t klen, size_t vlen);

SMO_HIDDEN_END

#endif
