/*
 * smobject.core: builds the module table and the handle metatable, then lets
 * each area (areas.h) register its functions.  Nothing calls back into it.
 */
#include <errno.h>
#include <sys/ipc.h>

#include "handle.h"
#include "areas.h"

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

/* The one exported symbol (everything else is hidden: visibility.h). */
SMO_EXPORT int luaopen_smobject_core(lua_State *L);

int luaopen_smobject_core(lua_State *L) {
  lua_settop(L, 0);
  lua_newtable(L);                           /* SMO_MODULE */
  luaL_newmetatable(L, SMO_TYPENAME);        /* SMO_META, with __name */
  lua_newtable(L);                           /* SMO_METHODS */
  lua_pushvalue(L, SMO_METHODS);
  lua_setfield(L, SMO_META, "__index");
  push_ctype_index(L);                       /* SMO_CTYPES */
  segment_open(L);
  access_open(L);
  sync_open(L);
  view_open(L);
  lua_getiuservalue(L, SMO_CTYPES, 1);
  lua_setfield(L, SMO_MODULE, "ctypes");
  lua_pushvalue(L, SMO_METHODS);
  lua_setfield(L, SMO_MODULE, "methods");
  push_ctype_align(L);
  lua_setfield(L, SMO_MODULE, "ctype_align");
  lua_pushinteger(L, __BIGGEST_ALIGNMENT__);
  lua_setfield(L, SMO_MODULE, "max_align");
  push_errno_table(L);
  lua_setfield(L, SMO_MODULE, "errno");
  lua_pushinteger(L, IPC_PRIVATE);
  lua_setfield(L, SMO_MODULE, "PRIVATE");
  lua_settop(L, SMO_MODULE);
  return 1;
}
