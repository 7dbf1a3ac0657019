/* Reads the pose that examples/struct_views.lua publishes, with the same
 * declaration (pose.h) and the same ftok key.  Build: cc -o pose_reader pose_reader.c */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "pose.h"

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "pose.h";
  int id = shmget(ftok(path, 'P'), sizeof(struct pose), 0);
  const struct pose *p;
  if (id < 0) { perror("shmget"); return 1; }
  p = shmat(id, NULL, SHM_RDONLY);
  if (p == (void *)-1) { perror("shmat"); return 1; }
  printf("C sees: seq %u, %s at (%.2f, %.2f) heading %.1f, fix %.4f/%.4f, cov[1][1] %.2f\n",
         p->seq, p->frame, p->x, p->y, p->heading, p->fix.lat, p->fix.lon, p->covariance[1][1]);
  shmdt((const void *)p);
  return 0;
}
