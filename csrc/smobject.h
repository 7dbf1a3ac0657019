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
#define SMO_NORETURN __attribute__((noreturn))

/* The two locks (see sync.c and the README): a robust mutex in a private
 * segment only this uid can touch, or a kernel-kept semaphore lock in the
 * bookkeeping set when other users may write it. */
enum { SMO_LOCK_UNKNOWN, SMO_LOCK_FAST, SMO_LOCK_KERNEL };

/* Marks our userdata: checked with the userdata's exact size, it tells a
 * handle from any other value without a metatable lookup (the hot path). */
#define SMO_MAGIC 0x534d4f424a454354ULL   /* "SMOBJECT" */

/* One handle: an attachment of a segment plus its share of the counter. */
typedef struct smo_seg {
  unsigned long long magic;
  const struct ctype_index *ctypes;  /* this Lua state's C type names (access.h) */
  unsigned char *addr;   /* NULL while not attached (closed or not yet opened) */
  unsigned attach_gen;   /* +1 at every attach: a view made during one attachment
                          * is dead once it ends, even if the handle attaches again */
  size_t size;           /* real size, from the kernel */
  int shmid;
  int semid;             /* bookkeeping set, -1 when the segment has none */
  int key;               /* key_t it was opened by (0 for IPC_PRIVATE) */
  pid_t pid;             /* process that attached; a forked child only detaches */
  unsigned char readonly;
  unsigned char counted; /* holds one unit of the memory counter */
  unsigned char locked;  /* this handle holds the segment's lock */
  unsigned char lock_kind; /* SMO_LOCK_*: which lock the segment has, found on first use (sync.c) */
  struct smo_aux *aux;   /* the lock's private segment, attached on first use (sync.c) */
  /* SMObject form: configuration kept until create()/access() */
  int cfg_proj;          /* 0 when not made by smo.new */
  size_t cfg_size;
} smo_seg;

/* Handle checks.  check_seg raises on a closed handle as well. */
smo_seg *check_seg_any(lua_State *L, int idx);
SMO_NORETURN void raise_closed(lua_State *L, const smo_seg *h);

static inline smo_seg *check_seg(lua_State *L, int idx) {
  smo_seg *h = (smo_seg *)lua_touserdata(L, idx);
  if (h == NULL || lua_rawlen(L, idx) != sizeof(smo_seg) || h->magic != SMO_MAGIC)
    h = check_seg_any(L, idx);
  if (h->addr == NULL) raise_closed(L, h);
  return h;
}

/* An integer argument as Lua's own library takes it: an integer, or a float
 * with an exact integer value (64 * 2^20).  1 with *out set; 0 for a number
 * without an integer representation; -1 for a value that is not a number. */
static inline int smo_tointeger(lua_State *L, int idx, lua_Integer *out) {
  int ok;
  if (lua_isinteger(L, idx)) {
    *out = lua_tointeger(L, idx);
    return 1;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return -1;
  *out = lua_tointegerx(L, idx, &ok);
  return ok ? 1 : 0;
}

/* The same, raising as luaL_checkinteger does (expected names the type). */
lua_Integer smo_checkinteger(lua_State *L, int idx, const char *expected);

/* Failure results: pushes nil, "what: strerror(err)", err and returns 3. */
int push_oserror(lua_State *L, const char *what, int err);

/* Option helpers shared by area files. */
int check_key(lua_State *L, int idx);

/* Area registration, called by core.c with the stack holding, from the
 * bottom: module, metatable, methods, C type index.  Each area adds its
 * functions with register_funcs, which gives them the metatable (upvalue 1)
 * and the C type index (upvalue 2). */
#define SMO_MODULE  1
#define SMO_META    2
#define SMO_METHODS 3
#define SMO_CTYPES  4
void register_funcs(lua_State *L, int target, const luaL_Reg *funcs);
void segment_open(lua_State *L);
void access_open(lua_State *L);
void sync_open(lua_State *L);
void view_open(lua_State *L);

/* sync.c: what closing and removing a handle must do about the lock. */
void sync_release(smo_seg *h);

#endif
