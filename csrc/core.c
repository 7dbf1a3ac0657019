/*
 * smobject.core: builds the module table and the handle metatable, then lets
 * each area (segment.c, access.c) register its functions.
 */
#include <errno.h>
#include <sys/ipc.h>

#include "smobject.h"
#include "access.h"

static const struct { const char *name; int value; } errno_names[] = {
  { "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EINTR", EINTR }, { "E2BIG", E2BIG },
  { "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM }, { "EACCES", EACCES }, { "EFAULT", EFAULT },
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
    lua_rawseti(L, -2, errno_names[i].value);
  }
}

int luaopen_smobject_core(lua_State *L);

int luaopen_smobject_core(lua_State *L) {
  lua_newtable(L);                           /* module */
  luaL_newmetatable(L, SMO_TYPENAME);        /* metatable, with __name */
  lua_newtable(L);                           /* methods */
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  segment_open(L);
  push_ctype_table(L);
  access_open(L);
  lua_setfield(L, -4, "ctypes");
  lua_setfield(L, -3, "methods");
  lua_pop(L, 1);
  push_errno_table(L);
  lua_setfield(L, -2, "errno");
  lua_pushinteger(L, IPC_PRIVATE);
  lua_setfield(L, -2, "PRIVATE");
  return 1;
}
