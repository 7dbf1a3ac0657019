/*
 * The Lua face of a handle (smo_seg, counter.h): the userdata, its checks,
 * argument helpers and the one way failures are returned (nil, msg, errno).
 * Every Lua binding file (segment.c, access.c, sync.c, view.c, process.c)
 * builds on this; this unit calls nothing above it.
 *
 * Layers of csrc/ (each includes and calls only those below it):
 *   core.c                          the module table: a list of *_open calls
 *   segment.c  sync.c  view.c       Lua bindings by area (areas.h)
 *   process.c                       sleep, clock, process ids (no handles)
 *   access.h/.c                     C scalar codes and the hot-path checks
 *   handle.h/.c                     Lua handles, arguments, failure results
 *   counter.h/.c                    the crash-safe protocol, no Lua
 *   bookkeeping.h/.c                the semaphore set, no Lua
 *   visibility.h                    hidden by default, SMO_EXPORT
 *   compat.h                        Lua 5.1-5.4 and LuaJIT API differences
 */
#ifndef SMOBJECT_HANDLE_H
#define SMOBJECT_HANDLE_H

#include <stddef.h>
#include <sys/types.h>

#include "compat.h"   /* lua.h, lauxlib.h, and the versions' differences */

#include "counter.h"

SMO_HIDDEN_BEGIN

#define SMO_TYPENAME "smobject"

/* Marks our userdata: checked with the userdata's exact size, it tells a
 * handle from any other value without a metatable lookup (the hot path). */
#define SMO_MAGIC 0x534d4f424a454354ULL   /* "SMOBJECT" */

/* Ctrl-C inside C code: lua.c's SIGINT handler sets a hook on the main
 * thread (a coroutine has a hook of its own, which it leaves alone), so a
 * hook that changed on this thread or the main one since intr_begin means
 * "interrupted".  For loops that sleep (smo.sleep, smo.open's wait). */
typedef struct smo_intr {
  lua_State *L, *main;
  lua_Hook hook, main_hook;
} smo_intr;
void intr_begin(lua_State *L, smo_intr *w);
int intr_seen(const smo_intr *w);
/* Raises "interrupted!" once intr_seen said so. */
SMO_NORETURN void intr_raise(lua_State *L, const smo_intr *w);

/* Handle checks.  check_seg raises on a handle that is not attached. */
smo_seg *check_seg_any(lua_State *L, int idx);
SMO_NORETURN void raise_closed(lua_State *L, const smo_seg *h);

static inline smo_seg *check_seg(lua_State *L, int idx) {
  smo_seg *h = (smo_seg *)lua_touserdata(L, idx);
  if (h == NULL || smo_rawlen(L, idx) != sizeof(smo_seg) || h->magic != SMO_MAGIC)
    h = check_seg_any(L, idx);
  if (h->state != SMO_ATTACHED) raise_closed(L, h);
  return h;
}

/* A new closed handle on the stack, for a function registered with
 * register_funcs (its metatable and C type index are the upvalues). */
smo_seg *new_handle(lua_State *L);

/* An integer argument as Lua's own library takes it: an integer, or a float
 * with an exact integer value (64 * 2^20). */
typedef enum smo_int {
  SMO_NOT_NUMBER = -1,   /* not a number (strings included) */
  SMO_FRACTION = 0,      /* a number without an integer representation */
  SMO_INTEGER = 1        /* *out set */
} smo_int;

static inline smo_int smo_tointeger(lua_State *L, int idx, lua_Integer *out) {
  int ok;
  if (smo_isint(L, idx)) {
    *out = smo_toint(L, idx);
    return SMO_INTEGER;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return SMO_NOT_NUMBER;
  *out = smo_tointx(L, idx, &ok);
  return ok ? SMO_INTEGER : SMO_FRACTION;
}

/* The same, raising as luaL_checkinteger does (expected names the type). */
lua_Integer smo_checkinteger(lua_State *L, int idx, const char *expected);

/* A key_t argument: key_t's signed range and the unsigned spelling ipcs prints. */
int check_key(lua_State *L, int idx);

/* Failure results: nil, "what: strerror(err)" (or "what: detail"), err; returns 3. */
int push_oserror(lua_State *L, const char *what, int err);
int push_ctr_error(lua_State *L, const ctr_error *e);

/* Area registration, called by core.c with the stack holding, from the
 * bottom: module, metatable, methods, C type index.  Each area adds its
 * functions with register_funcs, which gives them the metatable (upvalue 1)
 * and the C type index (upvalue 2). */
#define SMO_MODULE  1
#define SMO_META    2
#define SMO_METHODS 3
#define SMO_CTYPES  4
void register_funcs(lua_State *L, int target, const luaL_Reg *funcs);

SMO_HIDDEN_END

#endif
