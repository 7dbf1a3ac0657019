/*
 * The hostile neighbour of spec/17-hostile_spec.lua, and the raw System V
 * steps it needs that smobject would never take.  Every call is nonblocking
 * (IPC_NOWAIT, SETVAL, SETALL, IPC_SET, shmat): whatever the objects hold,
 * this program finishes.  Compiled by the spec with H.compile.
 *
 *   attack reader          one pass over every segment and set this process
 *                          can see, trying every kind of write once; prints
 *                          "WROTE kind id what" for each write that worked and
 *                          "denied kind id what errno NAME" for each refusal
 *   attack writer SECONDS  for SECONDS: overwrites every segment it can attach
 *                          read-write with garbage (first half: pointers in the
 *                          last 16 bytes only; then also 0xff and pointer-like
 *                          words everywhere) and SETVALs semaphore
 *                          1 (the count) to 0 and 30000 and 3 to 0 and 1 in
 *                          every set; prints "WROTE ..." once per object
 *   mkset KEY MODE [I=V...|all=V]  semget(KEY, 11, IPC_CREAT|IPC_EXCL|MODE),
 *                          then SETVAL semaphore I to V; prints the semid
 *   mkshm KEY SIZE MODE    shmget(KEY, SIZE, IPC_CREAT|IPC_EXCL|MODE); prints the shmid
 *   handover-shm KEY SIZE  creates the segment (0600) and gives it to uid 0
 *                          with IPC_SET (cuid stays this uid); prints the shmid
 *   handover-set KEY GATE [forge]  creates an 11-semaphore set (0600) marked
 *                          like smobject's (semaphore 2 += 21325 by semop),
 *                          semaphore 0 += GATE (no SEM_UNDO: held for good);
 *                          with forge, also a 312-byte lock segment of its own
 *                          (pointer garbage inside) whose id + 1 goes into
 *                          semaphores 4..6; then gives all of it to uid 0;
 *                          prints "semid S shmid M"
 *   getall SEMID           prints the set's values, space separated
 *   chmod-set SEMID MODE   IPC_SET of the set's permission bits to MODE (octal)
 *   hold-count SEMID DELTA SECONDS  semop {1, DELTA, SEM_UNDO}, prints
 *                          "held" (or "error N"), then sleeps SECONDS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

union semun {
  int val;
  struct semid_ds *buf;
  unsigned short *array;
};

#define MAXOBJ 4096

static const char *ename(int e) {
  switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case EIDRM: return "EIDRM";
    case EAGAIN: return "EAGAIN";
    case ERANGE: return "ERANGE";
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case EFBIG: return "EFBIG";
    case ENOMEM: return "ENOMEM";
    default: return "E?";
  }
}

static int nshm, nsem;
static int shm_ids[MAXOBJ], sem_ids[MAXOBJ], sem_n[MAXOBJ];

/* The objects this process can see, from /proc/sysvipc (every one, whatever its mode). */
static void enumerate(void) {
  char line[512];
  FILE *f = fopen("/proc/sysvipc/shm", "r");
  nshm = nsem = 0;
  if (f) {
    if (fgets(line, sizeof line, f))
      while (fgets(line, sizeof line, f) && nshm < MAXOBJ) {
        int key, id;
        if (sscanf(line, "%d %d", &key, &id) == 2) shm_ids[nshm++] = id;
      }
    fclose(f);
  }
  f = fopen("/proc/sysvipc/sem", "r");
  if (f) {
    if (fgets(line, sizeof line, f))
      while (fgets(line, sizeof line, f) && nsem < MAXOBJ) {
        int key, id, n;
        unsigned perms;
        if (sscanf(line, "%d %d %o %d", &key, &id, &perms, &n) == 4) {
          sem_ids[nsem] = id;
          sem_n[nsem++] = n;
        }
      }
    fclose(f);
  }
}

static const uint64_t ptrs[] = { 0x10, 0x00007ffff7a00000ULL, 0xdeadbeefcafebabeULL, 0x00005555555550a0ULL };

/* One garbage pattern over a mapping of size bytes. */
static void scribble(unsigned char *p, size_t size, unsigned round) {
  uint64_t w = ptrs[round % 4];
  size_t i;
  switch (round % 3) {
    case 0:
      memset(p, 0xff, size);
      break;
    case 1:
      for (i = 0; i + 8 <= size; i += 8) memcpy(p + i, &w, 8);
      break;
    default:   /* only the tail: where a robust mutex keeps its list pointers */
      if (size >= 16) {
        memcpy(p + size - 16, &w, 8);
        memcpy(p + size - 8, &w, 8);
      }
      break;
  }
}

static size_t seg_size(int id) {
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return 0;
  return ds.shm_segsz;
}

static int failures_ok = 1;

static void report(const char *kind, int id, const char *what, int rc) {
  if (rc == 0) {
    printf("WROTE %s %d %s\n", kind, id, what);
  } else {
    printf("denied %s %d %s %d %s\n", kind, id, what, errno, ename(errno));
    if (errno != EACCES && errno != EPERM) failures_ok = 0;
  }
}

static void attack_reader(void) {
  int i, j;
  enumerate();
  for (i = 0; i < nshm; i++) {
    int id = shm_ids[i];
    size_t size = seg_size(id);
    struct shmid_ds ds;
    void *p = shmat(id, NULL, 0);
    if (p != (void *)-1) {
      unsigned r;
      for (r = 0; r < 3; r++) scribble((unsigned char *)p, size, r);
      shmdt(p);
      report("shm", id, "shmat-rw", 0);
    } else {
      report("shm", id, "shmat-rw", -1);
    }
    if (shmctl(id, IPC_STAT, &ds) == 0) {
      ds.shm_perm.mode = 0666;
      ds.shm_perm.uid = getuid();
      report("shm", id, "IPC_SET", shmctl(id, IPC_SET, &ds));
    }
    report("shm", id, "IPC_RMID", shmctl(id, IPC_RMID, NULL));
  }
  for (i = 0; i < nsem; i++) {
    int id = sem_ids[i], n = sem_n[i];
    unsigned short vals[512];
    union semun arg;
    struct semid_ds ds;
    char what[32];
    for (j = 0; j < n && j < 512; j++) {
      arg.val = j == 2 ? 0 : 1;
      snprintf(what, sizeof what, "SETVAL-%d", j);
      report("sem", id, what, semctl(id, j, SETVAL, arg));
    }
    for (j = 0; j < 512; j++) vals[j] = 7;
    arg.array = vals;
    if (n <= 512) report("sem", id, "SETALL", semctl(id, 0, SETALL, arg));
    for (j = 0; j < n && j < 512; j++) {
      struct sembuf up = { (unsigned short)j, 1, IPC_NOWAIT };
      struct sembuf down = { (unsigned short)j, -1, IPC_NOWAIT };
      snprintf(what, sizeof what, "semop+1-%d", j);
      report("sem", id, what, semop(id, &up, 1));
      snprintf(what, sizeof what, "semop-1-%d", j);
      if (semop(id, &down, 1) == 0) report("sem", id, what, 0);
      else if (errno != EAGAIN) report("sem", id, what, -1);
    }
    arg.buf = &ds;
    if (semctl(id, 0, IPC_STAT, arg) == 0) {
      ds.sem_perm.mode = 0666;
      ds.sem_perm.uid = getuid();
      arg.buf = &ds;
      report("sem", id, "IPC_SET", semctl(id, 0, IPC_SET, arg));
    }
    report("sem", id, "IPC_RMID", semctl(id, 0, IPC_RMID));
  }
  printf("seen shm %d sem %d\n", nshm, nsem);
  printf("failures %s\n", failures_ok ? "all EACCES/EPERM" : "OTHER");
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int already(const int *list, int n, int id) {
  int i;
  for (i = 0; i < n; i++)
    if (list[i] == id) return 1;
  return 0;
}

static void attack_writer(double seconds) {
  static int wrote_shm[MAXOBJ], wrote_sem[MAXOBJ];
  int nws = 0, nwm = 0, i;
  unsigned round = 0;
  long shm_writes = 0, sem_writes = 0;
  double start = now(), end = start + seconds;
  while (now() < end) {
    /* first only the tails (a mutex's robust list, left working otherwise),
     * then every pattern */
    unsigned pattern = now() < start + seconds / 2 ? 2 : round;
    enumerate();
    for (i = 0; i < nshm; i++) {
      int id = shm_ids[i];
      size_t size = seg_size(id);
      void *p;
      if (size == 0) continue;
      p = shmat(id, NULL, 0);
      if (p == (void *)-1) continue;
      scribble((unsigned char *)p, size, pattern);
      shmdt(p);
      shm_writes++;
      if (!already(wrote_shm, nws, id) && nws < MAXOBJ) {
        wrote_shm[nws++] = id;
        printf("WROTE shm %d garbage\n", id);
      }
    }
    for (i = 0; i < nsem; i++) {
      int id = sem_ids[i], ok = 0;
      union semun arg;
      if (sem_n[i] < 4) continue;
      arg.val = round % 2 ? 30000 : 0;
      if (semctl(id, 1, SETVAL, arg) == 0) ok = 1;
      arg.val = (int)(round % 2);
      if (semctl(id, 3, SETVAL, arg) == 0) ok = 1;
      if (!ok) continue;
      sem_writes++;
      if (!already(wrote_sem, nwm, id) && nwm < MAXOBJ) {
        wrote_sem[nwm++] = id;
        printf("WROTE sem %d SETVAL\n", id);
      }
    }
    round++;
    fflush(stdout);
  }
  printf("summary rounds %u shm_writes %ld sem_writes %ld\n", round, shm_writes, sem_writes);
}

static int mkset(int argc, char **argv) {
  int key = (int)strtol(argv[2], NULL, 0), mode = (int)strtol(argv[3], NULL, 8), id, i;
  id = semget((key_t)key, 11, IPC_CREAT | IPC_EXCL | mode);
  if (id < 0) {
    printf("error %d %s\n", errno, ename(errno));
    return 1;
  }
  for (i = 4; i < argc; i++) {
    union semun arg;
    int which, v;
    if (sscanf(argv[i], "all=%d", &v) == 1) {
      int j;
      for (j = 0; j < 11; j++) {
        arg.val = v;
        if (semctl(id, j, SETVAL, arg) != 0) return 1;
      }
    } else if (sscanf(argv[i], "%d=%d", &which, &v) == 2) {
      arg.val = v;
      if (semctl(id, which, SETVAL, arg) != 0) return 1;
    } else {
      return 2;
    }
  }
  printf("%d\n", id);
  return 0;
}

static int give_shm(int id) {
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return -1;
  ds.shm_perm.uid = 0;
  ds.shm_perm.gid = 0;
  return shmctl(id, IPC_SET, &ds);
}

static int give_set(int id) {
  struct semid_ds ds;
  union semun arg;
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) != 0) return -1;
  ds.sem_perm.uid = 0;
  ds.sem_perm.gid = 0;
  arg.buf = &ds;
  return semctl(id, 0, IPC_SET, arg);
}

static int handover_set(int argc, char **argv) {
  int key = (int)strtol(argv[2], NULL, 0), gate = atoi(argv[3]), forge = argc > 4, id, mid = -1;
  struct sembuf mark = { 2, 21325, 0 }, hold = { 0, 1, 0 };
  id = semget((key_t)key, 11, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0 || semop(id, &mark, 1) != 0) return 1;
  if (gate && semop(id, &hold, 1) != 0) return 1;
  if (forge) {
    /* A lock segment of our own, laid out like smobject's (magic, semid),
     * with pointer garbage where a mutex would keep its robust list. */
    unsigned char *p;
    uint64_t magic = 0x31305855414f4d53ULL;
    int32_t sid = id;
    long v;
    union semun arg;
    mid = shmget(IPC_PRIVATE, 312, IPC_CREAT | 0600);
    if (mid < 0) return 1;
    p = shmat(mid, NULL, 0);
    if (p == (void *)-1) return 1;
    memset(p, 0, 312);
    memcpy(p, &magic, 8);
    memcpy(p + 8, &sid, 4);
    scribble(p + 272, 40, 2);
    shmdt(p);
    v = (long)mid + 1;
    arg.val = (int)(v & 0x7fff);
    if (semctl(id, 4, SETVAL, arg) != 0) return 1;
    arg.val = (int)((v >> 15) & 0x7fff);
    if (semctl(id, 5, SETVAL, arg) != 0) return 1;
    arg.val = (int)((v >> 30) & 0x7fff);
    if (semctl(id, 6, SETVAL, arg) != 0) return 1;
    if (give_shm(mid) != 0) return 1;
  }
  if (give_set(id) != 0) return 1;
  printf("semid %d shmid %d\n", id, mid);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 3 && strcmp(argv[1], "attack") == 0 && strcmp(argv[2], "reader") == 0) {
    attack_reader();
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "attack") == 0 && strcmp(argv[2], "writer") == 0) {
    attack_writer(atof(argv[3]));
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "mkset") == 0) return mkset(argc, argv);
  if (argc == 5 && strcmp(argv[1], "mkshm") == 0) {
    int id = shmget((key_t)strtol(argv[2], NULL, 0), (size_t)atol(argv[3]),
                    IPC_CREAT | IPC_EXCL | (int)strtol(argv[4], NULL, 8));
    if (id < 0) return 1;
    printf("%d\n", id);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "handover-shm") == 0) {
    int id = shmget((key_t)strtol(argv[2], NULL, 0), (size_t)atol(argv[3]), IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0 || give_shm(id) != 0) return 1;
    printf("%d\n", id);
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "handover-set") == 0) return handover_set(argc, argv);
  if (argc == 3 && strcmp(argv[1], "getall") == 0) {
    unsigned short v[512];
    union semun arg;
    struct semid_ds ds;
    int id = atoi(argv[2]);
    unsigned long i;
    arg.buf = &ds;
    if (semctl(id, 0, IPC_STAT, arg) != 0) return 1;
    arg.array = v;
    if (ds.sem_nsems > 512 || semctl(id, 0, GETALL, arg) != 0) return 1;
    for (i = 0; i < ds.sem_nsems; i++) printf(i ? " %u" : "%u", v[i]);
    printf("\n");
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "chmod-set") == 0) {
    struct semid_ds ds;
    union semun a;
    int semid = atoi(argv[2]);
    a.buf = &ds;
    if (semctl(semid, 0, IPC_STAT, a) != 0) return perror("IPC_STAT"), 1;
    ds.sem_perm.mode = (unsigned short)strtol(argv[3], NULL, 8);
    if (semctl(semid, 0, IPC_SET, a) != 0) return perror("IPC_SET"), 1;
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "hold-count") == 0) {
    struct sembuf op = { 1, (short)atoi(argv[3]), SEM_UNDO | IPC_NOWAIT };
    if (semop(atoi(argv[2]), &op, 1) != 0) printf("error %d %s\n", errno, ename(errno));
    else printf("held\n");
    fflush(stdout);
    sleep((unsigned)atoi(argv[4]));
    return 0;
  }
  fprintf(stderr, "usage: see the header of hostile_ipc.c\n");
  return 2;
}
