/* The lecture's reader: prints the string and destroys the segment.
 * usage: reader PATH */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv) {
  key_t key = ftok(argc > 1 ? argv[1] : "f1.txt", 65);
  int shmid = shmget(key, 1024, 0);
  char *buffer;
  if (shmid < 0) { perror("shmget"); return 1; }
  buffer = (char *)shmat(shmid, NULL, SHM_RDONLY);
  if (buffer == (char *)-1) { perror("shmat"); return 1; }
  printf("C reader: data read from memory: \"%s\"\n", buffer);
  shmdt(buffer);
  if (shmctl(shmid, IPC_RMID, NULL) < 0) { perror("shmctl"); return 1; }
  return 0;
}
