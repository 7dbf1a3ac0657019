/*
 * The C references for the benchmarks: memcpy of 1 MiB blocks to and from a
 * System V segment, and the bare shmget/shmat/shmdt/shmctl(IPC_RMID) cycle.
 * Prints a Lua table literal of nanoseconds per operation.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  size_t block = 1 << 20, segsize = (size_t)16 << 20;
  int reps = argc > 1 ? atoi(argv[1]) : 2000, cycles = argc > 2 ? atoi(argv[2]) : 5000, i;
  key_t key = (key_t)(argc > 3 ? strtol(argv[3], NULL, 0) : 0x5bec0001);
  int id = shmget(IPC_PRIVATE, segsize, IPC_CREAT | 0600);
  unsigned char *seg, *buf = malloc(block);
  volatile unsigned char sink = 0;
  double t0, rd, wr, cyc, fresh;
  if (id < 0 || buf == NULL) { perror("setup"); return 1; }
  seg = shmat(id, NULL, 0);
  shmctl(id, IPC_RMID, NULL);
  memset(seg, 1, segsize);
  memset(buf, 2, block);
  t0 = now();
  for (i = 0; i < reps; i++) {
    memcpy(buf, seg + (size_t)(i % 16) * block, block);
    sink ^= buf[i % block];
  }
  rd = (now() - t0) / reps;
  t0 = now();
  for (i = 0; i < reps; i++) {
    memcpy(seg + (size_t)(i % 16) * block, buf, block);
    __asm__ __volatile__("" ::: "memory");
  }
  wr = (now() - t0) / reps;
  /* what producing a new string costs: memcpy into fresh memory, freed a
   * few copies later (as a garbage collector does), not into one hot buffer */
  {
    unsigned char *ring[8] = { 0 };
    t0 = now();
    for (i = 0; i < reps; i++) {
      unsigned char *b = malloc(block);
      memcpy(b, seg + (size_t)(i % 16) * block, block);
      sink ^= b[i % block];
      free(ring[i % 8]);
      ring[i % 8] = b;
    }
    fresh = (now() - t0) / reps;
    for (i = 0; i < 8; i++) free(ring[i]);
  }
  shmdt(seg);
  t0 = now();
  for (i = 0; i < cycles; i++) {
    int sid = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    void *p;
    if (sid < 0) { perror("shmget"); return 1; }
    p = shmat(sid, NULL, 0);
    ((volatile char *)p)[0] = 1;
    shmdt(p);
    shmctl(sid, IPC_RMID, NULL);
  }
  cyc = (now() - t0) / cycles;
  printf("return { memcpy_read = %.1f, memcpy_write = %.1f, fresh_read = %.1f, cycle = %.1f, sink = %d }\n",
         rd, wr, fresh, cyc, sink);
  free(buf);
  return 0;
}
