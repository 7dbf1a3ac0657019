/*
 * The floor of a method call from Lua, for the benchmarks: a userdata whose
 * methods check nothing and only return (or store) a number.
 */
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

int luaopen_benchfloor(lua_State *L);

typedef struct { double d; int i; } floor_ud;

static int floor_get(lua_State *L) {
  floor_ud *u = (floor_ud *)lua_touserdata(L, 1);
  lua_pushnumber(L, u->d);
  return 1;
}

static int floor_set(lua_State *L) {
  floor_ud *u = (floor_ud *)lua_touserdata(L, 1);
  u->i = (int)lua_tointeger(L, 4);
  return 0;
}

static int floor_new(lua_State *L) {
  floor_ud *u = (floor_ud *)lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, "benchfloor");
  return 1;
}

int luaopen_benchfloor(lua_State *L) {
  static const luaL_Reg methods[] = { { "get", floor_get }, { "set", floor_set }, { NULL, NULL } };
  luaL_newmetatable(L, "benchfloor");
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, floor_new);
  return 1;
}
