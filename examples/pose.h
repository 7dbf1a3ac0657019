/* The shared declaration of examples/struct_views.lua and pose_reader.c:
 * both sides lay it out the same way (gcc's rules). */
#include <stdint.h>

struct gps { double lat, lon; };

struct pose {
  uint32_t seq;            /* sequence counter: odd while the writer writes */
  double x, y, heading;
  struct gps fix;
  float covariance[3][3];
  char frame[16];
};
