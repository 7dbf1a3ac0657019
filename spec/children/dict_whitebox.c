/* spec/40-dict_crash_spec.lua's white-box tests (csrc/dict.c, built in).
 *   dict_whitebox fsck: a repair that meets a second dead holder must repair
 *     what that one left too, even when the repair it came for was done by
 *     another process first.  Prints "lost N ..."; exit 0 when nothing is lost.
 *   dict_whitebox swap: a lock-free number change that read a head which was
 *     freed and reused since (with the same number in it) must fail and leave
 *     the new entry alone, and so must one that read a head whose expiry
 *     changed since.  Prints "swap ..."; exit 0 when both were refused. */
#define _GNU_SOURCE
#include "dict.c"   /* (its static functions and layout: -I csrc) */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>

static int swap_test(void) {
  size_t size = 1 << 20;
  unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  dict_map m;
  dict_value v, out;
  dict_buf buf = { NULL, 0, 0, 0 };
  snap sn;
  int f, stale, ok, r;
  if (base == MAP_FAILED || dict_format(base, size, DICT_LOCK_STRIPES) != 0 || dict_map_of(&m, base, size, 0) != 0)
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
  if (base == MAP_FAILED || dict_format(base, size, DICT_LOCK_STRIPES) != 0 || dict_map_of(&m, base, size, 0) != 0)
    return 2;
  dict_stat(&m, &st0);
  /* 1. a death was seen (needs_fsck up): this process is about to repair */
  __atomic_store_n(&HDR(&m)->needs_fsck, 1, __ATOMIC_SEQ_CST);
  /* 2. another process repairs first */
  p = fork();
  if (p == 0) { fsck(&m); _exit(0); }
  waitpid(p, &status, 0);
  if (HDR(&m)->needs_fsck != 0) return 3;
  /* 3. a writer takes its stripe and the alloc lock, cuts 10 slots off the
   * free list, and dies before it publishes them */
  p = fork();
  if (p == 0) {
    uint32_t first, last;
    pthread_mutex_lock(&STRIPE(&m, 5)->mu);
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

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "swap") == 0) return swap_test();
  return fsck_test();
}
