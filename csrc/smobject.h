/*
 * smobject: shared declarations of the C core (smobject.core).
 *
 * The core is split by concern: core.c builds the module, segment.c owns the
 * lifecycle and the memory counter (bookkeeping.c), access.c reads and writes
 * bytes and C scalars.  Everything else is static to its file.
 */
#ifndef SMOBJECT_H
#define SMOBJECT_H

#include <stddef.h>
#include <sys/types.h>

#include "lua.h"
#include "lauxlib.h"

#define SMO_TYPENAME "smobject"

/* One handle: an attachment of a segment plus its share of the counter. */
typedef struct smo_seg {
  unsigned char *addr;   /* NULL while not attached (closed or not yet opened) */
  size_t size;           /* real size, from the kernel */
  int shmid;
  int semid;             /* bookkeeping set, -1 when the segment has none */
  int key;               /* key_t it was opened by (0 for IPC_PRIVATE) */
  pid_t pid;             /* process that attached; a forked child only detaches */
  unsigned char readonly;
  unsigned char counted; /* holds one unit of the memory counter */
  /* SMObject form: configuration kept until create()/access() */
  int cfg_proj;          /* 0 when not made by smo.new */
  size_t cfg_size;
} smo_seg;

/* Handle checks (segment.c). check_seg raises on a closed handle. */
smo_seg *check_seg(lua_State *L, int idx);
smo_seg *check_seg_any(lua_State *L, int idx);

/* Failure results: pushes nil, "what: strerror(err)", err and returns 3. */
int push_oserror(lua_State *L, const char *what, int err);

/* Option helpers shared by area files. */
int check_key(lua_State *L, int idx);

/* Area registration, called by core.c.  segment_open: stack is module,
 * metatable, methods.  access_open: the same plus the C type table on top.
 * Each adds its functions and methods, with the metatable as upvalue 1. */
void segment_open(lua_State *L);
void access_open(lua_State *L);

#endif
