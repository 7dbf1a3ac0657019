/*
 * The memory counter protocol and the lock tested without Lua: links
 * csrc/counter.c, csrc/lock.c and csrc/bookkeeping.c only.
 *
 *   cc -std=c99 -I csrc tests/counter_test.c csrc/counter.c csrc/lock.c csrc/bookkeeping.c -lm
 *   ./a.out KEY1 KEY2 KEY3 KEY4 KEY5 KEY6     (six keys no object uses)
 *
 * Prints one line per check; exits 0 when all pass, 1 otherwise.  Removes
 * everything it made, failures included (spec/24-counter_unit_spec.lua
 * cleans the keys again).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counter.h"
#include "lock.h"

static int failures;

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (cond) {                                                 \
      printf("ok: ");                                           \
    } else {                                                    \
      printf("FAIL (%s:%d): ", __FILE__, __LINE__);             \
      failures++;                                               \
    }                                                           \
    printf(__VA_ARGS__);                                        \
    printf("\n");                                               \
  } while (0)

static int key_has_segment(int key) { return shmget((key_t)key, 0, 0) >= 0; }
static int key_has_set(int key) { return semget((key_t)key, 0, 0) >= 0; }

/* Removes whatever the key names. */
static void scrub(int key) {
  int id = shmget((key_t)key, 0, 0);
  if (id >= 0) shmctl(id, IPC_RMID, NULL);
  id = semget((key_t)key, 0, 0);
  if (id >= 0) semctl(id, 0, IPC_RMID);
}

static ctr_request request(int key, ctr_create create) {
  ctr_request rq;
  memset(&rq, 0, sizeof rq);
  rq.key = key;
  rq.size = 4096;
  rq.create = create;
  rq.mode = 0600;
  return rq;
}

static int open_key(int key, ctr_create create, smo_seg *h, int *created, ctr_error *e) {
  ctr_request rq = request(key, create);
  memset(h, 0, sizeof *h);
  memset(e, 0, sizeof *e);
  return ctr_open(&rq, h, created, e);
}

static int users(const smo_seg *h) {
  ctr_error e;
  int n = -1;
  return ctr_users(h, &n, &e) == 0 ? n : -1;
}

/* Create, open twice, count, close, removal. */
static void test_lifecycle(int key) {
  smo_seg a, b;
  ctr_error e;
  int created = -1, n = -1;
  CHECK(open_key(key, CTR_CREATE, &a, &created, &e) == 0, "create opens (%s)", e.what ? e.what : "");
  CHECK(created == 1 && a.state == SMO_ATTACHED && a.semid >= 0 && a.counted, "a new, counted segment");
  CHECK(users(&a) == 1, "count 1 after create");
  CHECK(open_key(key, CTR_ATTACH_ONLY, &b, &created, &e) == 0 && created == 0, "a second open attaches");
  CHECK(users(&a) == 2 && a.shmid == b.shmid, "count 2, one segment");
  a.addr[0] = 42;
  CHECK(b.addr[0] == 42, "the two attachments share the bytes");
  ctr_release(&b);
  CHECK(b.state == SMO_CLOSED && users(&a) == 1 && key_has_segment(key), "one close: count 1, segment kept");
  CHECK(open_key(key, CTR_CREATE_EXCL, &b, &created, &e) != 0 && e.err == EEXIST && b.state == SMO_CLOSED,
        "exclusive create refused, the handle stays closed");
  CHECK(users(&a) == 1, "a refused open counts nothing");
  CHECK(open_key(key, CTR_ATTACH_ONLY, &b, &created, &e) == 0, "open again");
  CHECK(ctr_decrement(&b, &n, &e) == 0 && n == 1, "decrement gives the share up (count %d)", n);
  ctr_release(&b);
  CHECK(b.state == SMO_CLOSED && users(&a) == 1, "closing a decremented handle leaves count 1");
  ctr_release(&b);
  CHECK(users(&a) == 1, "a second close is a no-op");
  ctr_release(&a);
  CHECK(a.state == SMO_CLOSED, "closed");
  CHECK(!key_has_segment(key) && !key_has_set(key), "the last close removed the segment and its set");
  CHECK(open_key(key, CTR_ATTACH_ONLY, &a, &created, &e) != 0 && e.err == ENOENT &&
        strcmp(e.what, "shmget") == 0, "attach-only of a missing key: shmget ENOENT");
  CHECK(!key_has_set(key), "a refused open leaves no set behind");
}

/* A child that opens key (creating it when create), says so on fd, and waits
 * to be killed. */
static pid_t child_holding(int key, ctr_create create, int take_lock) {
  int fds[2];
  char c = 0;
  pid_t pid;
  if (pipe(fds) != 0) return -1;
  pid = fork();
  if (pid == 0) {
    smo_seg h;
    ctr_error e;
    int created;
    close(fds[0]);
    c = open_key(key, create, &h, &created, &e) == 0 ? 'y' : 'n';
    if (c == 'y' && take_lock) c = lock_take(&h, 1) == 0 ? 'y' : 'n';
    if (write(fds[1], &c, 1) != 1) _exit(2);
    for (;;) pause();
  }
  close(fds[1]);
  if (pid < 0 || read(fds[0], &c, 1) != 1 || c != 'y') {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
    pid = -1;
  }
  close(fds[0]);
  return pid;
}

static void kill_child(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* SIGKILL gives the share back (SEM_UNDO); the survivor's close removes. */
static void test_killed_user(int key) {
  smo_seg a;
  ctr_error e;
  int created;
  pid_t pid;
  CHECK(open_key(key, CTR_CREATE, &a, &created, &e) == 0, "parent creates");
  pid = child_holding(key, CTR_ATTACH_ONLY, 0);
  CHECK(pid > 0, "a child opened it");
  if (pid <= 0) {
    ctr_release(&a);
    return;
  }
  CHECK(users(&a) == 2, "count 2 with the child");
  kill_child(pid);
  CHECK(users(&a) == 1, "the killed child's share came back (count %d)", users(&a));
  ctr_release(&a);
  CHECK(!key_has_segment(key) && !key_has_set(key), "the survivor's last close removed everything");
}

/* The creator killed as the only user: count 0, OWNED; the next user's last
 * close removes the segment and the set. */
static void test_killed_creator(int key) {
  smo_seg a;
  ctr_error e;
  int created = -1;
  pid_t pid = child_holding(key, CTR_CREATE, 0);
  CHECK(pid > 0, "a child created it");
  if (pid <= 0) return;
  kill_child(pid);
  CHECK(key_has_segment(key) && key_has_set(key), "the dead creator's segment and set remain");
  CHECK(open_key(key, CTR_ATTACH_ONLY, &a, &created, &e) == 0 && created == 0, "the next user opens it");
  CHECK(users(&a) == 1, "count 1: the dead creator holds no share");
  ctr_release(&a);
  CHECK(!key_has_segment(key) && !key_has_set(key), "its last close removed the orphan");
}

/* A foreign set of this uid (not our size, no marker) holds the key: refused
 * without persist, never touched; with persist the segment is made uncounted. */
static void test_foreign_set(int key) {
  smo_seg a;
  ctr_error e;
  int created, semid = semget((key_t)key, 3, IPC_CREAT | IPC_EXCL | 0600);
  ctr_request rq;
  CHECK(semid >= 0, "a foreign set made");
  if (semid < 0) return;
  CHECK(open_key(key, CTR_CREATE, &a, &created, &e) != 0 && e.err == EEXIST &&
        strstr(e.detail, "foreign semaphore set") != NULL, "create refused: %s", e.detail);
  CHECK(!key_has_segment(key) && semget((key_t)key, 0, 0) == semid && semctl(semid, 0, GETVAL) == 0,
        "the foreign set is untouched, no segment made");
  rq = request(key, CTR_CREATE);
  rq.persist = 1;
  memset(&a, 0, sizeof a);
  CHECK(ctr_open(&rq, &a, &created, &e) == 0 && created == 1 && a.semid < 0 && !a.counted,
        "with persist: created, without a counter");
  ctr_release(&a);
  CHECK(key_has_segment(key) && semget((key_t)key, 0, 0) == semid, "persist: the segment stays, the set is not ours");
  scrub(key);
}

/* A set squatted by another uid (made by root, handed over): EPERM, never
 * waited on or written.  Needs root to make it. */
static void test_squatted_set(int key) {
  struct semid_ds ds;
  union { int val; struct semid_ds *buf; } arg;
  smo_seg a;
  ctr_error e;
  int created, semid;
  if (geteuid() != 0) {
    printf("skip: a squatted set needs root\n");
    return;
  }
  semid = semget((key_t)key, BK_NSEMS, IPC_CREAT | IPC_EXCL | 0666);
  CHECK(semid >= 0, "a set of our size made");
  if (semid < 0) return;
  arg.buf = &ds;
  semctl(semid, 0, IPC_STAT, arg);
  ds.sem_perm.uid = 65534;
  CHECK(semctl(semid, 0, IPC_SET, arg) == 0, "handed to uid 65534");
  CHECK(open_key(key, CTR_CREATE, &a, &created, &e) != 0 && e.err == EPERM &&
        strstr(e.detail, "semaphore set owned by uid 65534") != NULL, "refused: %s", e.detail);
  CHECK(!key_has_segment(key) && semctl(semid, BK_MAGIC, GETVAL) == 0 && semctl(semid, BK_GATE, GETVAL) == 0,
        "no segment made, the set not marked nor its gate taken");
  scrub(key);
}

/* A holder killed holding the lock: the next taker is told (LOCK_RECOVERED),
 * for the fast lock (mode 0600) and the kernel's (0660); closing a holder
 * releases it; the last close removes the lock's private segment too. */
static void test_killed_lock_holder(int key, int mode) {
  ctr_request rq = request(key, CTR_CREATE);
  smo_seg a, b;
  ctr_error e;
  int created, rc;
  pid_t pid;
  rq.mode = mode;
  memset(&a, 0, sizeof a);
  CHECK(ctr_open(&rq, &a, &created, &e) == 0, "mode 0%o: parent creates", (unsigned)mode);
  pid = child_holding(key, CTR_ATTACH_ONLY, 1);
  CHECK(pid > 0, "mode 0%o: a child holds the lock", (unsigned)mode);
  if (pid > 0) {
    CHECK(lock_take(&a, 0) == ETIMEDOUT, "mode 0%o: busy while it lives", (unsigned)mode);
    kill_child(pid);
    rc = lock_take(&a, 1);
    CHECK(rc == LOCK_RECOVERED, "mode 0%o: recovered after its death (%d)", (unsigned)mode, rc);
    a.locked = 1;
    CHECK(open_key(key, CTR_ATTACH_ONLY, &b, &created, &e) == 0 && lock_take(&b, 0) == ETIMEDOUT,
          "mode 0%o: held by the survivor", (unsigned)mode);
    ctr_release(&a);   /* releases the lock */
    rc = lock_take(&b, 0);
    CHECK(rc == 0, "mode 0%o: a close released it, taken cleanly (%d)", (unsigned)mode, rc);
    if (rc == 0) b.locked = 1;
    ctr_release(&b);
  } else {
    ctr_release(&a);
  }
  CHECK(!key_has_segment(key) && !key_has_set(key), "mode 0%o: the last close removed everything",
        (unsigned)mode);
}

/* A forked child's copy of a handle only detaches: its close gives no share
 * back and removes nothing, however the child was forked (also by a raw
 * system call, which runs no atfork handler: ctr_self must still notice). */
static void test_forked_copy(int key) {
  smo_seg a;
  ctr_error e;
  int created, status = -1;
  pid_t pid;
  CHECK(open_key(key, CTR_CREATE, &a, &created, &e) == 0 && ctr_self() == getpid(), "parent creates");
  pid = fork();
  if (pid == 0) {
    ctr_release(&a);   /* only detaches */
    _exit(ctr_self() == getpid() ? 0 : 3);
  }
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "fork(): the child knows it is not the parent");
  CHECK(users(&a) == 1 && key_has_segment(key), "the child's close gave no share back (count %d)", users(&a));
#ifdef SYS_fork
  pid = (pid_t)syscall(SYS_fork);
  if (pid == 0) _exit(ctr_self() == (pid_t)syscall(SYS_getpid) ? 0 : 3);
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "a raw fork system call: the child knows it is not the parent");
#endif
  CHECK(ctr_self() == getpid(), "the parent is still itself");
  ctr_release(&a);
  CHECK(!key_has_segment(key) && !key_has_set(key), "the parent's close removed everything");
}

int main(int argc, char **argv) {
  int keys[6], i;
  if (argc != 7) {
    fprintf(stderr, "usage: %s KEY1 KEY2 KEY3 KEY4 KEY5 KEY6\n", argv[0]);
    return 2;
  }
  for (i = 0; i < 6; i++) keys[i] = (int)strtol(argv[i + 1], NULL, 0);
  lock_init();
  setvbuf(stdout, NULL, _IONBF, 0);
  test_lifecycle(keys[0]);
  test_killed_user(keys[1]);
  test_killed_creator(keys[2]);
  test_foreign_set(keys[3]);
  test_squatted_set(keys[4]);
  test_killed_lock_holder(keys[5], 0600);
  scrub(keys[5]);
  test_killed_lock_holder(keys[5], 0660);
  scrub(keys[5]);
  test_forked_copy(keys[5]);
  for (i = 0; i < 6; i++) scrub(keys[i]);
  printf("%d failed\n", failures);
  return failures ? 1 : 0;
}
