/* The shared reading of examples/device.lua and client.lua (a C device or
 * client would include this header). */
#include <stdint.h>

struct reading {
  uint32_t seq;        /* sequence counter: odd while the device writes */
  uint32_t count;      /* readings published so far; clients wait on it */
  uint32_t stop;       /* set by whoever wants the device to stop */
  uint32_t number;     /* which reading this is (1, 2...), published with it */
  double value;
  double timestamp;    /* smo.clock() (CLOCK_MONOTONIC) when it was taken */
  char unit[8];
};
