/* The lecture's writer: puts a string in a segment named by ftok(path, 65).
 * usage: writer PATH [TEXT]   (TEXT defaults to a line read from stdin) */
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv) {
  key_t key = ftok(argc > 1 ? argv[1] : "f1.txt", 65);
  int shmid = shmget(key, 1024, 0600 | IPC_CREAT);
  char *buffer;
  if (shmid < 0) { perror("shmget"); return 1; }
  buffer = (char *)shmat(shmid, NULL, 0);
  if (buffer == (char *)-1) { perror("shmat"); return 1; }
  if (argc > 2) {
    snprintf(buffer, 512, "%s", argv[2]);
  } else {
    printf("Please enter a string to be written in shared memory:\n");
    if (fgets(buffer, 512, stdin) == NULL) buffer[0] = '\0';
    buffer[strcspn(buffer, "\n")] = '\0';
  }
  printf("C writer: wrote \"%s\"\n", buffer);
  shmdt(buffer);
  return 0;
}
