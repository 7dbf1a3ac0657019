/*
 * Lua handles (handle.h): the checks, argument helpers, failure results and
 * the registration every binding file uses.
 */
#include <errno.h>
#include <string.h>

#include "areas.h"
#include "handle.h"

/* Any handle, attached or not; raises on a value that is not one. */
smo_seg *check_seg_any(lua_State *L, int idx) {
  smo_seg *h = (smo_seg *)lua_touserdata(L, idx);
  if (h == NULL || smo_rawlen(L, idx) != sizeof(smo_seg) || h->magic != SMO_MAGIC)
    smo_typeerror(L, idx, SMO_TYPENAME);
  return h;
}

/* (handle.h) */
void intr_begin(lua_State *L, smo_intr *w) {
  w->L = L;
  w->hook = lua_gethook(L);
  smo_pushmainthread(L);
  w->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  w->main_hook = w->main ? lua_gethook(w->main) : NULL;
}

/* (handle.h) */
int intr_seen(const smo_intr *w) {
  return lua_gethook(w->L) != w->hook || (w->main && lua_gethook(w->main) != w->main_hook);
}

/* (handle.h) Before 5.2 the changed hook is cleared first, as lua.c's own
 * stop hook does: LuaJIT's hooks are global and would fire again in the
 * interpreter's traceback, which then ends with "error in error handling". */
void intr_raise(lua_State *L, const smo_intr *w) {
#if LUA_VERSION_NUM < 502
  if (lua_gethook(w->L) != w->hook) lua_sethook(w->L, NULL, 0, 0);
  if (w->main && lua_gethook(w->main) != w->main_hook) lua_sethook(w->main, NULL, 0, 0);
#else
  (void)w;   /* 5.4's lua.c: its hook clears itself when it raises */
#endif
  smo_error(L, "interrupted!");
}

/* The one closed-handle message (an SMObject-form handle says why). */
void raise_closed(lua_State *L, const smo_seg *h) {
  if (h->state == SMO_CONFIGURED)
    smo_error(L, "attempt to use a closed smobject (not attached yet: call create() or access())");
  smo_error(L, "attempt to use a closed smobject");
}

/* Pushed closed, before any system call (as liolib does): a failure halfway
 * leaves a consistent handle for __gc. */
smo_seg *new_handle(lua_State *L) {
  smo_seg *h = (smo_seg *)smo_newud(L, sizeof(smo_seg), 1);
  memset(h, 0, sizeof *h);
  h->magic = SMO_MAGIC;
  h->state = SMO_CLOSED;
  h->ctypes = (const struct ctype_index *)lua_touserdata(L, lua_upvalueindex(2));
  h->shmid = -1;
  h->semid = -1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
  return h;
}

/* (handle.h) */
lua_Integer smo_checkinteger(lua_State *L, int idx, const char *expected) {
  lua_Integer v = 0;
  smo_int rc = smo_tointeger(L, idx, &v);
  if (rc == SMO_NOT_NUMBER) smo_typeerror(L, idx, expected);
  if (rc == SMO_FRACTION) luaL_argerror(L, idx, "number has no integer representation");
  return v;
}

/* (handle.h) */
int check_key(lua_State *L, int idx) {
  lua_Integer k = smo_checkinteger(L, idx, "integer key");
  luaL_argcheck(L, k >= -2147483648LL && k <= 4294967295LL, idx, "key out of range for key_t");
  return (int)(unsigned)(k & 0xffffffff);
}

/* The one place failures become results: nil, "what: reason", errno. */
static int push_fail(lua_State *L, const char *what, const char *reason, int err) {
  smo_pushfail(L);
  smo_pushf(L, "%s: %s", what, reason);
  lua_pushinteger(L, err);
  return 3;
}

/* nil, "what: strerror(err)", err. */
int push_oserror(lua_State *L, const char *what, int err) {
  return push_fail(L, what, strerror(err), err);
}

/* A protocol failure: its sentence replaces strerror when it has one. */
int push_ctr_error(lua_State *L, const ctr_error *e) {
  return push_fail(L, e->what, e->detail[0] ? e->detail : strerror(e->err), e->err);
}

static const struct { const char *name; int value; } errno_names[] = {
  { "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EINTR", EINTR }, { "E2BIG", E2BIG },
  { "EBADF", EBADF }, { "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM }, { "EACCES", EACCES }, { "EFAULT", EFAULT },
  { "EBUSY", EBUSY }, { "EEXIST", EEXIST }, { "EINVAL", EINVAL }, { "ENFILE", ENFILE },
  { "EMFILE", EMFILE }, { "EFBIG", EFBIG }, { "ENOSPC", ENOSPC }, { "ERANGE", ERANGE },
  { "EDEADLK", EDEADLK }, { "ENOSYS", ENOSYS }, { "EIDRM", EIDRM }, { "EOVERFLOW", EOVERFLOW },
  { "ETIMEDOUT", ETIMEDOUT }, { "EOWNERDEAD", EOWNERDEAD }, { "ENOTRECOVERABLE", ENOTRECOVERABLE },
  { NULL, 0 }
};

/* smo.errno: name -> number, and number -> name for reading results. */
static void push_errno_table(lua_State *L) {
  int i;
  lua_newtable(L);
  for (i = 0; errno_names[i].name; i++) {
    lua_pushinteger(L, errno_names[i].value);
    lua_setfield(L, -2, errno_names[i].name);
    lua_pushstring(L, errno_names[i].name);
    smo_rawseti(L, -2, errno_names[i].value);
  }
}

/* smo.errno, and the methods table for the Lua side. */
void handle_open(lua_State *L) {
  push_errno_table(L);
  lua_setfield(L, SMO_MODULE, "errno");
  lua_pushvalue(L, SMO_METHODS);
  lua_setfield(L, SMO_MODULE, "methods");
}

/* Adds funcs to the table at stack index target, each with the metatable
 * and the C type index as upvalues. */
void register_funcs(lua_State *L, int target, const luaL_Reg *funcs) {
  lua_pushvalue(L, target);
  lua_pushvalue(L, SMO_META);
  lua_pushvalue(L, SMO_CTYPES);
  smo_setfuncs(L, funcs, 2);
  lua_pop(L, 1);
}
