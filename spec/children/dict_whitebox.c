/* spec/40-dict_crash_spec.lua's white-box tests (csrc/dict.c, built in).
 *   dict_whitebox fsck: a repair that meets a second dead holder must repair
 *     what that one left too, even when the repair it came for was done by
 *     another process first.  Prints "lost N ..."; exit 0 when nothing is lost.
 *   dict_whitebox swap: a lock-free number change that read a head which was
 *     freed and reused since (with the same number in it) must fail and leave
 *     the new entry alone, and so must one that read a head whose expiry
 *     changed since.  Prints "swap ..."; exit 0 when both were refused.
 *   dict_whitebox bucket: a writer killed holding its lane and a bucket's
 *     lock, with slots cut off the free list: the next writer of that
 *     bucket must repair (not wait for ever), and nothing is lost.  Then a
 *     word left in a bucket whose lane is free (not smobject's doing) is
 *     repaired too.  Prints "bucket ..."; exit 0 when all went right.
 *   dict_whitebox stopped: a writer stopped (SIGSTOP) holding its lane and
 *     a bucket delays no writer of another bucket, even one whose thread
 *     tries that lane first, nor while more writers of its bucket than there
 *     are lanes wait for it; when it dies, they all get through.  Prints
 *     "stopped ..."; exit 0 when they got through.  (Each mode gives up after 20 s: alarm.) */
#define _GNU_SOURCE
#include "dict.c"   /* (its static functions and layout: -I csrc) */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <signal.h>

static int swap_test(void) {
  size_t size = 1 << 20;
  unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  dict_map m;
  dict_value v, out;
  dict_buf buf = { NULL, 0, 0, 0 };
  snap sn;
  int f, stale, ok, r;
  if (base == MAP_FAILED || dict_format(base, size, DICT_LOCK_LANES) != 0 || dict_map_of(&m, base, size, 0) != 0)
    return 2;
  memset(&v, 0, sizeof v);
  v.type = DICT_INTEGER;
  v.i = 0;
  if (dict_store(&m, DICT_SET, "a", 1, &v, 0, 1, &f) != 0) return 2;
  r = find_nolock(&m, hash_of(&m, "a", 1), "a", 1, &sn);   /* a writer reads the head, then stops */
  if (r != 1) return 2;
  dict_store(&m, DICT_SET, "a", 1, &(dict_value){ .type = DICT_NONE }, 0, 1, &f);   /* deleted... */
  v.i = 0;
  if (dict_store(&m, DICT_SET, "b", 1, &v, 0, 1, &f) != 0) return 2;               /* ...its slot reused */
  ok = num_swap(ITEM(&m, sn.idx), sn.chain, sn.seq, sn.num, 12345);          /* the writer resumes */
  if (dict_get(&m, "b", 1, 0, &out, &buf, &stale, NULL) != 0) return 2;
  printf("swap %s, b = %lld, the slot %s", ok ? "done" : "refused", (long long)out.i,
         ITEM(&m, sn.idx)->type == DICT_INTEGER ? "reused" : "not reused");
  if (ok || out.i != 0) return 1;
  /* a swap that read the head before an expire changed it is refused too
   * (set keeps a number in place only when neither side expires) */
  v.i = 5;
  if (dict_store(&m, DICT_SET, "c", 1, &v, 0, 1, &f) != 0) return 2;
  if (find_nolock(&m, hash_of(&m, "c", 1), "c", 1, &sn) != 1) return 2;
  if (dict_expire(&m, "c", 1, 100) != 0) return 2;
  ok = num_swap(ITEM(&m, sn.idx), sn.chain, sn.seq, sn.num, 6);
  printf("; after expire: swap %s\n", ok ? "done" : "refused");
  return ok ? 1 : 0;
}

static int fsck_test(void) {
  size_t size = 1 << 20;
  unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  dict_map m;
  dict_check_report r;
  dict_stats st0, st1;
  pid_t p;
  int status;
  if (base == MAP_FAILED || dict_format(base, size, DICT_LOCK_LANES) != 0 || dict_map_of(&m, base, size, 0) != 0)
    return 2;
  dict_stat(&m, &st0);
  /* 1. a death was seen (needs_fsck up): this process is about to repair */
  __atomic_store_n(&HDR(&m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
  /* 2. another process repairs first */
  p = fork();
  if (p == 0) { fsck(&m); _exit(0); }
  waitpid(p, &status, 0);
  if (HDR(&m)->needs_fsck != 0) return 3;
  /* 3. a writer takes its lane and the alloc lock, cuts 10 slots off the
   * free list, and dies before it publishes them */
  p = fork();
  if (p == 0) {
    uint32_t first, last;
    pthread_mutex_lock(&LANE(&m, 5)->mu);
    pthread_mutex_lock(&HDR(&m)->alloc);
    cut(&m, &HDR(&m)->free_head, &HDR(&m)->free_count, 10, &first, &last);
    _exit(0);                       /* (holding both: the kernel marks them owner-dead) */
  }
  waitpid(p, &status, 0);
  /* 4. this process's repair runs now */
  fsck(&m);
  dict_check(&m, &r);
  dict_stat(&m, &st1);
  printf("lost %u needs_repair %u dead_holders %u free %llu of %llu\n", r.lost, r.needs_repair, r.dead_holders,
         (unsigned long long)st1.free_slots, (unsigned long long)st0.free_slots);
  return r.lost == 0 && !r.needs_repair && st1.free_slots == st0.free_slots ? 0 : 1;
}

/* A 1 MiB dictionary in shared memory, formatted and mapped. */
static int fresh(dict_map *m) {
  size_t size = 1 << 20;
  unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED || dict_format(base, size, DICT_LOCK_LANES) != 0 || dict_map_of(m, base, size, 0) != 0)
    return -1;
  return 0;
}

static int set_str(dict_map *m, const char *key, const char *val) {
  dict_value v;
  int f;
  memset(&v, 0, sizeof v);
  v.type = DICT_STRING;
  v.s = val;
  v.len = strlen(val);
  return dict_store(m, DICT_SET, key, strlen(key), &v, 0, 1, &f);
}

static uint32_t bucket_of(const dict_map *m, const char *key) {
  return (uint32_t)(hash_of(m, key, strlen(key)) & (m->nbuckets - 1));
}

static int bucket_test(void) {
  dict_map m;
  dict_check_report r;
  dict_stats st0, st1;
  uint64_t rec0;
  pid_t p;
  int status, rc1, rc2;
  if (fresh(&m) != 0) return 2;
  dict_stat(&m, &st0);
  rec0 = st0.recoveries;
  p = fork();
  if (p == 0) {                /* a writer of "a" dies inside its write */
    uint32_t first, last;
    pthread_mutex_lock(&LANE(&m, 5)->mu);
    __atomic_store_n(&BUCKET(&m, bucket_of(&m, "a"))->lock, 6, __ATOMIC_RELEASE);
    pthread_mutex_lock(&HDR(&m)->alloc);
    cut(&m, &HDR(&m)->free_head, &HDR(&m)->free_count, 10, &first, &last);
    pthread_mutex_unlock(&HDR(&m)->alloc);
    _exit(0);                  /* (holding lane 5 and "a"'s bucket) */
  }
  waitpid(p, &status, 0);
  rc1 = set_str(&m, "a", "after the death");
  dict_check(&m, &r);
  dict_stat(&m, &st1);
  printf("bucket: set %d, recoveries +%llu, lost %u, locked %u, needs_repair %u", rc1,
         (unsigned long long)(st1.recoveries - rec0), r.lost, r.locked_buckets, r.needs_repair);
  if (rc1 != 0 || st1.recoveries != rec0 + 1 || r.lost || r.locked_buckets || r.needs_repair) return 1;
  /* a word naming a free lane, nobody dead: a scribble, repaired */
  __atomic_store_n(&BUCKET(&m, bucket_of(&m, "b"))->lock, 9, __ATOMIC_RELEASE);
  rc2 = set_str(&m, "b", "over a stale word");
  dict_check(&m, &r);
  printf("; stale word: set %d, locked %u, lost %u\n", rc2, r.locked_buckets, r.lost);
  return rc2 == 0 && !r.locked_buckets && !r.lost && !r.twice && !r.broken ? 0 : 1;
}

#define WAITERS 70

/* Sets keys k<from>..k<to - 1> but those of key a's bucket: how many were
 * set (*rc: the first failure's result, else 0). */
static int set_others(dict_map *m, const char *a, int from, int to, int *rc) {
  char key[16];
  int n = 0, k;
  *rc = 0;
  for (k = from; k < to; k++) {
    snprintf(key, sizeof key, "k%d", k);
    if (bucket_of(m, key) == bucket_of(m, a)) continue;
    *rc = set_str(m, key, "v");
    if (*rc != 0) break;
    n++;
  }
  return n;
}

static int stopped_test(void) {
  dict_map m;
  pid_t p, waiters[WAITERS];
  int pf[2], status, rc, n, k, done;
  char c;
  const char *a = "a";
  if (fresh(&m) != 0 || pipe(pf) != 0) return 2;
  p = fork();
  if (p == 0) {                /* a writer stops inside its write of "a", on lane 0 */
    pthread_mutex_lock(&LANE(&m, 0)->mu);
    __atomic_store_n(&BUCKET(&m, bucket_of(&m, a))->lock, 1, __ATOMIC_RELEASE);
    if (write(pf[1], "x", 1) != 1) _exit(1);
    raise(SIGSTOP);
    _exit(0);
  }
  if (read(pf[0], &c, 1) != 1) return 2;
  lane_hint = 0;               /* this thread tries lane 0 first */
  n = set_others(&m, a, 0, 200, &rc);
  printf("stopped: %d sets of other buckets done, rc %d, lane %u", n, rc, lane_hint);
  if (rc != 0 || n <= 150) return 1;
  /* more writers of "a" than there are lanes wait for it: they hold no
   * lane while they wait, so writers of other buckets still get through */
  for (k = 0; k < WAITERS; k++) {
    waiters[k] = fork();
    if (waiters[k] == 0) _exit(set_str(&m, a, "a waiter's") == 0 ? 0 : 1);
  }
  usleep(300000);
  n = set_others(&m, a, 200, 400, &rc);
  printf("; with %d writers of its bucket waiting: %d sets done, rc %d", WAITERS, n, rc);
  /* the stopped writer dies: every waiter gets through (a repair) */
  kill(p, SIGKILL);
  waitpid(p, &status, 0);
  for (k = 0, done = 0; k < WAITERS; k++)
    if (waitpid(waiters[k], &status, 0) == waiters[k] && WIFEXITED(status) && WEXITSTATUS(status) == 0) done++;
  printf("; after its death %d of %d waiters done\n", done, WAITERS);
  return rc == 0 && n > 150 && done == WAITERS ? 0 : 1;
}

int main(int argc, char **argv) {
  alarm(20);
  if (argc > 1 && strcmp(argv[1], "bucket") == 0) return bucket_test();
  if (argc > 1 && strcmp(argv[1], "stopped") == 0) return stopped_test();
  if (argc > 1 && strcmp(argv[1], "swap") == 0) return swap_test();
  return fsck_test();
}
