/* The shared state of examples/manager.lua and module.lua. */
#include <stdint.h>

struct module_slot {
  uint32_t heartbeat;   /* bumped by the module while it runs */
  int32_t pid;
  uint32_t restarts;    /* how often the manager restarted it */
  uint32_t pad;
  double value;         /* what the module publishes */
  char name[16];
};

struct plant {
  uint32_t stop;        /* set by the manager: modules detach and exit */
  uint32_t pad;
  struct module_slot modules[3];
};
