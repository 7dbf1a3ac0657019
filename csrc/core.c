/*
 * smobject.core: builds the module table and the handle metatable, then lets
 * each area (areas.h) register its functions and fields.  Nothing calls back
 * into this file.
 */
#include "handle.h"
#include "areas.h"

/* In this order: the areas below may use what those above registered. */
static void (*const areas[])(lua_State *L) = {
  handle_open,    /* handle.c: errno names, the methods table */
  segment_open,   /* segment.c: open, attach, key, new, remove, list...; close, stat... */
  access_open,    /* access.c: read, write, get, set; the C type tables */
  sync_open,      /* sync.c: lock, atomics, wait/wake, snapshots (registers lock.c's hooks) */
  view_open,      /* view.c: struct views */
  process_open,   /* process.c: sleep, clock, getpid, getuid, geteuid */
  ffi_open,       /* ffi.c: the FFI entry points (smo_ffi_*, ffi.h), pins, ptr */
  dict_open,      /* dict_lua.c: smo.dict (the store: dict.c) */
};

/* Which Lua this build is for ("smobject-abi: Lua 5.4"; a LuaJIT build says
 * Lua 5.1), in the file: a require that fails on an undefined symbol can read
 * it and say which interpreter the module was built for. */
__attribute__((used)) static const char smo_abi[] = "smobject-abi: " LUA_VERSION;

/* The one exported symbol besides ffi.h's smo_ffi_* (everything else is
 * hidden: visibility.h). */
SMO_EXPORT int luaopen_smobject_core(lua_State *L);

int luaopen_smobject_core(lua_State *L) {
  size_t i;
  lua_settop(L, 0);
  smo_compat_open(L);
  lua_newtable(L);                           /* SMO_MODULE */
  smo_newmetatable(L, SMO_TYPENAME);        /* SMO_META, with __name */
  lua_newtable(L);                           /* SMO_METHODS */
  lua_pushvalue(L, SMO_METHODS);
  lua_setfield(L, SMO_META, "__index");
  push_ctype_index(L);                       /* SMO_CTYPES */
  for (i = 0; i < sizeof areas / sizeof areas[0]; i++) areas[i](L);
  /* before 5.2, the names an argument error gives a tail-called function
   * (smo_argerror); nothing on 5.2+ */
  smo_compat_names(L, SMO_MODULE, 0);
  smo_compat_names(L, SMO_METHODS, 1);
  smo_compat_names(L, SMO_META, 0);
  lua_getfield(L, SMO_MODULE, "view_methods");
  smo_compat_names(L, -1, 1);
  lua_getfield(L, SMO_MODULE, "view_meta");
  smo_compat_names(L, -1, 0);
  lua_settop(L, SMO_MODULE);
  return 1;
}
