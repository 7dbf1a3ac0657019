/*
 * The Lua C API differences between Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1,
 * behind names of our own (smo_*).  Every file of csrc/ calls these instead
 * of the lua_/luaL_ functions that differ, and this is the only file that
 * tests LUA_VERSION_NUM.  On 5.4 each is the real call (a macro, or a static
 * inline function that compiles to it), so the 5.4 build is the code it was.
 * LuaJIT's headers are used as 5.1's (only the plain 5.1 API is called), so
 * one build serves lua5.1 and both LuaJITs.
 *
 * Numbers: before 5.3 (LuaJIT included) a Lua number is a double, and
 * lua_Integer is only a C type.  The rules there (SMO_INT64_NUMBERS == 0):
 * an integer argument is a number with an exact integer value in int64_t's
 * range (smo_isint, smo_tointx: 1.5 is refused, where 5.2's lua_tointegerx
 * truncates); a 64-bit value read from memory beyond +-2^53 raises instead
 * of rounding (smo_fits_number; access.c and view.c say where).
 *
 * Only what csrc/ calls is here.  Not used, so not wrapped: luaL_len,
 * luaL_newlib, luaL_testudata, luaL_setmetatable, lua_len, lua_compare,
 * lua_arith, lua_Unsigned (32-bit on 5.2: use uint64_t or size_t).  Alike in
 * all six, so called directly: lua_gethook, lua_Hook, luaL_checkstack,
 * luaL_ref, luaL_argerror, lua_pcall, lua_next, lua_pushinteger below 2^53.
 */
#ifndef SMOBJECT_COMPAT_H
#define SMOBJECT_COMPAT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lua.h"
#include "lauxlib.h"

#if !defined(LUA_VERSION_NUM) || LUA_VERSION_NUM < 501 || LUA_VERSION_NUM > 504
#error "smobject builds against the headers of Lua 5.1, 5.2, 5.3, 5.4 or LuaJIT 2.1 only, and these lua.h headers are of another version: set LUA_INC to one of those (Debian: liblua5.4-dev, LUA_INC=/usr/include/lua5.4)"
#endif

#if LUA_VERSION_NUM < 503 && PTRDIFF_MAX < INT64_MAX
#error "smobject needs a 64-bit lua_Integer: with Lua 5.1, 5.2 or LuaJIT it builds on 64-bit systems only"
#endif

#if LUA_VERSION_NUM >= 503
#define SMO_INT64_NUMBERS 1          /* Lua integers are 64-bit */
#define SMO_MAXINT LUA_MAXINTEGER
#else
#define SMO_INT64_NUMBERS 0          /* numbers are doubles */
#define SMO_MAXINT ((lua_Integer)1 << 53)
#endif

/* The runtimes a double-number build serves, for messages. */
#if LUA_VERSION_NUM == 501
#define SMO_DOUBLE_RUNTIMES "Lua 5.1 and LuaJIT"
#else
#define SMO_DOUBLE_RUNTIMES "Lua 5.2"
#endif

#ifndef LUA_OK
#define LUA_OK 0
#endif

#define SMO_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ------------------------------------------------------- formatting */

/*
 * lua_pushfstring with C's printf formats, on every version: %I (5.3+) is
 * unknown to 5.2, which raises, and to 5.1, which prints it and shifts every
 * later argument.  Integers go as %lld with a (long long) cast, and gcc
 * checks each call's arguments against its format.  Error paths only.
 */
SMO_PRINTF(2, 0) static inline const char *smo_pushvf(lua_State *L, const char *fmt, va_list ap) {
  char small[256];
  va_list again;
  int n;
  va_copy(again, ap);
  n = vsnprintf(small, sizeof small, fmt, ap);
  if (n < 0) {
    n = 0;
    small[0] = '\0';
  }
  if ((size_t)n < sizeof small) {
    lua_pushlstring(L, small, (size_t)n);
  } else {
    char *big = (char *)lua_newuserdata(L, (size_t)n + 1);   /* collected with the message's stack slot */
    vsnprintf(big, (size_t)n + 1, fmt, again);
    lua_pushlstring(L, big, (size_t)n);
    lua_remove(L, -2);
  }
  va_end(again);
  return lua_tostring(L, -1);
}

SMO_PRINTF(2, 3) static inline const char *smo_pushf(lua_State *L, const char *fmt, ...) {
  const char *s;
  va_list ap;
  va_start(ap, fmt);
  s = smo_pushvf(L, fmt, ap);
  va_end(ap);
  return s;
}

/* luaL_error with printf formats: the position, then the message. */
SMO_PRINTF(2, 3) __attribute__((noreturn)) static inline int smo_error(lua_State *L, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, 1);
  va_start(ap, fmt);
  smo_pushvf(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  lua_error(L);
  __builtin_unreachable();
}

/* ---------------------------------------------------- stack and tables */

static inline size_t smo_rawlen(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 502
  return (size_t)lua_rawlen(L, idx);
#else
  return lua_objlen(L, idx);
#endif
}

static inline int smo_absindex(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 502
  return lua_absindex(L, idx);
#else
  return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lua_gettop(L) + idx + 1;
#endif
}

/* The getters return the type of the value pushed, as 5.3's do. */
static inline int smo_getfield(lua_State *L, int idx, const char *k) {
#if LUA_VERSION_NUM >= 503
  return lua_getfield(L, idx, k);
#else
  lua_getfield(L, idx, k);
  return lua_type(L, -1);
#endif
}

static inline int smo_rawget(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
  return lua_rawget(L, idx);
#else
  lua_rawget(L, idx);
  return lua_type(L, -1);
#endif
}

/* Array indices here are small (counts are checked where they are made);
 * before 5.3 the API takes an int. */
static inline int smo_rawgeti(lua_State *L, int idx, lua_Integer n) {
#if LUA_VERSION_NUM >= 503
  return lua_rawgeti(L, idx, n);
#else
  lua_rawgeti(L, idx, (int)n);
  return lua_type(L, -1);
#endif
}

static inline void smo_rawseti(lua_State *L, int idx, lua_Integer n) {
#if LUA_VERSION_NUM >= 503
  lua_rawseti(L, idx, n);
#else
  lua_rawseti(L, idx, (int)n);
#endif
}

static inline int smo_rawgetp(lua_State *L, int idx, const void *p) {
#if LUA_VERSION_NUM >= 503
  return lua_rawgetp(L, idx, p);
#elif LUA_VERSION_NUM == 502
  lua_rawgetp(L, idx, p);
  return lua_type(L, -1);
#else
  idx = smo_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)(uintptr_t)p);   /* a key only: never written through */
  lua_rawget(L, idx);
  return lua_type(L, -1);
#endif
}

/* Pops a value into t[p] of the table at idx. */
static inline void smo_rawsetp(lua_State *L, int idx, const void *p) {
#if LUA_VERSION_NUM >= 502
  lua_rawsetp(L, idx, p);
#else
  idx = smo_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)(uintptr_t)p);
  lua_insert(L, -2);
  lua_rawset(L, idx);
#endif
}

/* lua_pushstring, returning the internal copy (5.1's returns nothing). */
static inline const char *smo_pushstring(lua_State *L, const char *s) {
#if LUA_VERSION_NUM >= 502
  return lua_pushstring(L, s);
#else
  lua_pushstring(L, s);
  return lua_tostring(L, -1);
#endif
}

static inline void smo_pushfail(lua_State *L) {
#if LUA_VERSION_NUM >= 504
  luaL_pushfail(L);
#else
  lua_pushnil(L);
#endif
}

/* The main thread, or nil where the registry does not keep it (5.1: what
 * smo_compat_open found, when the module was loaded from the main thread;
 * LuaJIT's hooks are global, so L itself sees them there anyway). */
#define SMO_MAINTHREAD_KEY "smobject.mainthread"

static inline void smo_pushmainthread(lua_State *L) {
#if LUA_VERSION_NUM >= 502
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
#else
  lua_getfield(L, LUA_REGISTRYINDEX, SMO_MAINTHREAD_KEY);
#endif
}

/* At luaopen: what the compat functions need kept (5.1: the main thread). */
static inline void smo_compat_open(lua_State *L) {
#if LUA_VERSION_NUM < 502
  if (lua_pushthread(L)) lua_setfield(L, LUA_REGISTRYINDEX, SMO_MAINTHREAD_KEY);
  else lua_pop(L, 1);
#else
  (void)L;
#endif
}

/* --------------------------------------------------------- integers */

#if !SMO_INT64_NUMBERS
/* An exact integer in int64_t's range (the cast is defined only there). */
static inline int smo_double_isint(double d) {
  return d >= -9223372036854775808.0 && d < 9223372036854775808.0 && (double)(int64_t)d == d;
}
#endif

/* The value at idx is an integer: 5.3+'s subtype (3.0 is not one: the slow
 * paths accept it, see smo_tointeger in handle.h); before, a number with an
 * exact integer value in int64_t's range. */
static inline int smo_isint(lua_State *L, int idx) {
#if SMO_INT64_NUMBERS
  return lua_isinteger(L, idx);
#else
  return lua_type(L, idx) == LUA_TNUMBER && smo_double_isint((double)lua_tonumber(L, idx));
#endif
}

/* The integer at idx, after smo_isint said it is one. */
static inline lua_Integer smo_toint(lua_State *L, int idx) {
#if SMO_INT64_NUMBERS
  return lua_tointeger(L, idx);
#else
  return (lua_Integer)(double)lua_tonumber(L, idx);
#endif
}

/* lua_tointegerx as 5.3 has it: *ok = 0 for a fraction or a value beyond
 * int64_t (5.2's and LuaJIT's truncate 1.5 with *ok = 1). */
static inline lua_Integer smo_tointx(lua_State *L, int idx, int *ok) {
#if SMO_INT64_NUMBERS
  return lua_tointegerx(L, idx, ok);
#else
  double d;
  *ok = 0;
  if (!lua_isnumber(L, idx)) return 0;
  d = (double)lua_tonumber(L, idx);
  if (!smo_double_isint(d)) return 0;
  *ok = 1;
  return (lua_Integer)d;
#endif
}

/* A 64-bit value read from memory can be pushed exactly: always on 5.3+,
 * within +-2^53 where numbers are doubles.  Callers test this before
 * pushing, with a message saying where; on 5.4 the test folds away. */
static inline int smo_fits_number(int64_t v) {
#if SMO_INT64_NUMBERS
  (void)v;
  return 1;
#else
  return v >= -((int64_t)1 << 53) && v <= (int64_t)1 << 53;
#endif
}

static inline int smo_fits_unumber(uint64_t v) {
#if SMO_INT64_NUMBERS
  (void)v;
  return 1;
#else
  return v <= (uint64_t)1 << 53;
#endif
}

/* ------------------------------------------------------------ userdata */

/*
 * n user values.  Before 5.4 the userdata gets one table holding them, as
 * its uservalue (5.2, 5.3) or its environment (5.1, LuaJIT).  The getters
 * and setters must be given a full userdata made by smo_newud with nuv > 0.
 */
static inline void *smo_newud(lua_State *L, size_t size, int nuv) {
#if LUA_VERSION_NUM >= 504
  return lua_newuserdatauv(L, size, nuv);
#else
  void *p = lua_newuserdata(L, size);
  if (nuv > 0) {
    lua_createtable(L, nuv, 0);
#if LUA_VERSION_NUM >= 502
    lua_setuservalue(L, -2);
#else
    lua_setfenv(L, -2);
#endif
  }
  return p;
#endif
}

/* Pushes user value n of the userdata at idx; returns its type (LUA_TNONE
 * and a nil when it has none). */
static inline int smo_getuv(lua_State *L, int idx, int n) {
#if LUA_VERSION_NUM >= 504
  return lua_getiuservalue(L, idx, n);
#else
  int t;
#if LUA_VERSION_NUM >= 502
  lua_getuservalue(L, idx);
#else
  lua_getfenv(L, idx);
#endif
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNONE;
  }
  t = smo_rawgeti(L, -1, n);
  lua_remove(L, -2);
  return t;
#endif
}

/* Pops a value into user value n of the userdata at idx; 0 when it has no
 * user values. */
static inline int smo_setuv(lua_State *L, int idx, int n) {
#if LUA_VERSION_NUM >= 504
  return lua_setiuservalue(L, idx, n);
#else
  idx = smo_absindex(L, idx);
#if LUA_VERSION_NUM >= 502
  lua_getuservalue(L, idx);
#else
  lua_getfenv(L, idx);
#endif
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 2);
    return 0;
  }
  lua_insert(L, -2);
  smo_rawseti(L, -2, n);
  lua_pop(L, 1);
  return 1;
#endif
}

/* -------------------------------------------------------- auxiliary */

/* luaL_getmetafield returning the field's type (LUA_TNIL: none), as 5.3's. */
static inline int smo_getmetafield(lua_State *L, int obj, const char *e) {
#if LUA_VERSION_NUM >= 503
  return luaL_getmetafield(L, obj, e);
#else
  return luaL_getmetafield(L, obj, e) ? lua_type(L, -1) : LUA_TNIL;
#endif
}

/* luaL_newmetatable with __name (set by 5.3+ only). */
static inline int smo_newmetatable(lua_State *L, const char *tname) {
#if LUA_VERSION_NUM >= 503
  return luaL_newmetatable(L, tname);
#else
  int made = luaL_newmetatable(L, tname);
  if (made) {
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
  }
  return made;
#endif
}

/* luaL_argerror, with the function's name where 5.1's cannot give it.
 * LuaJIT shows no frame for a tail call (`return smo.open()`), so its
 * luaL_argerror says "to '?'" where 5.2+ still name the function (5.4 from
 * the OP_TAILCALL, 5.2/5.3 from package.loaded).  Ours then looks the
 * running function up in the names recorded by smo_compat_names; a method
 * there is assumed called as a method unless the bad argument is self (the
 * rule the Lua methods follow, lua/smobject.lua), as the call's form is not
 * seen.  Every other case is 5.1's text.  luaL_checktype's internal error
 * takes the same path (smo_checktype). */
#define SMO_FUNCNAMES_KEY "smobject.funcnames"

#if LUA_VERSION_NUM < 502
__attribute__((noreturn)) static inline int smo_argerror(lua_State *L, int arg, const char *why) {
  lua_Debug ar;
  const char *name = NULL;
  int method = 0;
  if (!lua_getstack(L, 0, &ar)) luaL_error(L, "bad argument #%d (%s)", arg, why);
  else {
    lua_getinfo(L, "nf", &ar);
    if (ar.name != NULL) {
      name = ar.name;
      method = ar.namewhat != NULL && ar.namewhat[0] == 'm';   /* "method" */
    } else {
      lua_getfield(L, LUA_REGISTRYINDEX, SMO_FUNCNAMES_KEY);
      if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushvalue(L, -2);
        lua_rawget(L, -2);                   /* { name, is_method } or nil */
        if (lua_type(L, -1) == LUA_TTABLE) {
          lua_rawgeti(L, -1, 1);
          name = lua_tostring(L, -1);
          lua_rawgeti(L, -2, 2);
          method = lua_toboolean(L, -1) && arg > 1;
        }
      }
    }
    if (method) {
      arg--;
      if (arg == 0) luaL_error(L, "calling '%s' on bad self (%s)", name, why);
    }
    luaL_error(L, "bad argument #%d to '%s' (%s)", arg, name != NULL ? name : "?", why);
  }
  __builtin_unreachable();
}
#define luaL_argerror(L, arg, why) smo_argerror((L), (arg), (why))

/* Records "name" for each function in the table at idx (is_method: called
 * as obj:name(...)), for smo_argerror. */
static inline void smo_compat_names(lua_State *L, int idx, int is_method) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  if (lua_type(L, idx) != LUA_TTABLE) return;
  lua_getfield(L, LUA_REGISTRYINDEX, SMO_FUNCNAMES_KEY);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, SMO_FUNCNAMES_KEY);
  }
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -1) == LUA_TFUNCTION && lua_type(L, -2) == LUA_TSTRING) {
      lua_pushvalue(L, -1);                  /* the function, as the key */
      lua_createtable(L, 2, 0);
      lua_pushvalue(L, -4);
      lua_rawseti(L, -2, 1);
      lua_pushboolean(L, is_method);
      lua_rawseti(L, -2, 2);
      lua_rawset(L, -5);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}
#else
static inline void smo_compat_names(lua_State *L, int idx, int is_method) {
  (void)L, (void)idx, (void)is_method;
}
#endif

/* "bad argument #arg (<tname> expected, got <type>)", 5.4's text on every
 * version (5.1's luaL_typerror knows no __name). */
__attribute__((noreturn)) static inline int smo_typeerror(lua_State *L, int arg, const char *tname) {
#if LUA_VERSION_NUM >= 504
  luaL_typeerror(L, arg, tname);
#else
  const char *got;
  if (smo_getmetafield(L, arg, "__name") == LUA_TSTRING) got = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA) got = "light userdata";
  else got = luaL_typename(L, arg);
  luaL_argerror(L, arg, smo_pushf(L, "%s expected, got %s", tname, got));
#endif
  __builtin_unreachable();
}

/* luaL_checktype, its error through smo_argerror before 5.2. */
#if LUA_VERSION_NUM < 502
static inline void smo_checktype(lua_State *L, int arg, int t) {
  if (lua_type(L, arg) != t) smo_typeerror(L, arg, lua_typename(L, t));
}
#define luaL_checktype(L, arg, t) smo_checktype((L), (arg), (t))
#endif

/* luaL_tolstring: the value at idx as 5.4's print shows it, pushed.  Ours
 * before 5.4: 5.1 has none, 5.2's knows no __name, and 5.3's loses a
 * relative idx once it has pushed the __name ("Named: (nil)"). */
static inline const char *smo_tolstring(lua_State *L, int idx, size_t *len) {
#if LUA_VERSION_NUM >= 504
  return luaL_tolstring(L, idx, len);
#else
  idx = smo_absindex(L, idx);
  if (luaL_callmeta(L, idx, "__tostring")) {
    if (!lua_isstring(L, -1)) luaL_error(L, "'__tostring' must return a string");
  } else {
    switch (lua_type(L, idx)) {
      case LUA_TNUMBER:
      case LUA_TSTRING: lua_pushvalue(L, idx); lua_tostring(L, -1); break;
      case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false"); break;
      case LUA_TNIL: lua_pushliteral(L, "nil"); break;
      default: {
        int named = smo_getmetafield(L, idx, "__name");
        const char *kind = named == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, idx);
        smo_pushf(L, "%s: %p", kind, lua_topointer(L, idx));
        if (named != LUA_TNIL) lua_remove(L, -2);
        break;
      }
    }
  }
  return lua_tolstring(L, -1, len);
#endif
}

/* Registers l into the table on top, each function with the nup values
 * below it as upvalues, which it pops (luaL_setfuncs; ours on 5.1, and on
 * LuaJIT too, so that the build keeps to the plain 5.1 API). */
static inline void smo_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
#if LUA_VERSION_NUM >= 502
  luaL_setfuncs(L, l, nup);
#else
  int i;
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name != NULL; l++) {
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
#endif
}

/* A string result of a known length, written in place (one copy on 5.2+;
 * on 5.1 a scratch userdata, then the string).  Between the two calls the
 * stack holds one more slot. */
#if LUA_VERSION_NUM >= 502
typedef luaL_Buffer smo_buffer;
#else
typedef struct smo_buffer {
  lua_State *L;
  char *p;
} smo_buffer;
#endif

static inline char *smo_buffinitsize(lua_State *L, smo_buffer *b, size_t len) {
#if LUA_VERSION_NUM >= 502
  return luaL_buffinitsize(L, b, len);
#else
  b->L = L;
  b->p = (char *)lua_newuserdata(L, len);
  return b->p;
#endif
}

static inline void smo_pushresultsize(smo_buffer *b, size_t len) {
#if LUA_VERSION_NUM >= 502
  luaL_pushresultsize(b, len);
#else
  lua_pushlstring(b->L, b->p, len);
  lua_remove(b->L, -2);
#endif
}

#endif
