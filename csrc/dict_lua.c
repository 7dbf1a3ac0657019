/***
@module smobject
*/

/*
 * smo.dict's Lua binding: a dictionary handle (a userdata holding the
 * segment handle it maps, as its user value, and the geometry dict.c
 * checked), argument checks and value conversions.  Every argument is
 * checked and every value copied before the store is touched, and nothing
 * that can raise runs while a lock of the store is held (dict.c takes and
 * releases its locks inside each call).  lua/smobject/dict.lua opens the
 * segment and formats it; this file knows nothing of options.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "access.h"
#include "areas.h"
#include "dict.h"
#include "ffi.h"
#include "handle.h"
#include "lock.h"

#define DICT_TYPENAME "smo.dict"
#define MAX_KEY 65535

#define DICT_UD_MAGIC 0x5443494444534d53ULL   /* marks our userdata (the fast check) */

typedef struct lua_dict {
  unsigned long long magic;
  smo_seg *seg;        /* kept alive by the user value */
  unsigned gen;        /* seg's attach_gen when mapped */
  dict_map map;
  dict_buf buf;        /* reused by reads of strings (freed when closed) */
  int closed;
} lua_dict;

static lua_dict *check_dict(lua_State *L, int idx) {
  lua_dict *d = (lua_dict *)lua_touserdata(L, idx);
  /* (the userdata's exact size and marker: no metatable lookup on the hot path) */
  if (d == NULL || smo_rawlen(L, idx) != sizeof(lua_dict) || d->magic != DICT_UD_MAGIC)
    d = (lua_dict *)luaL_checkudata(L, idx, DICT_TYPENAME);
  if (d->closed || d->seg->state != SMO_ATTACHED || d->seg->attach_gen != d->gen || d->seg->addr != d->map.base)
    smo_error(L, "attempt to use a closed smo.dict");
  return d;
}

static const char *check_dkey(lua_State *L, int idx, size_t *len) {
  const char *k;
  if (lua_type(L, idx) != LUA_TSTRING) smo_typeerror(L, idx, "string");
  k = lua_tolstring(L, idx, len);
  if (*len == 0) luaL_argerror(L, idx, "empty key");
  if (*len > MAX_KEY) {
    smo_pushf(L, "key too long (%lld bytes, %d at most)", (long long)*len, MAX_KEY);
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
  return k;
}

/* A value argument: nil (none), boolean, number, string; else raises. */
static void check_value(lua_State *L, int idx, dict_value *v) {
  memset(v, 0, sizeof *v);
  switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: v->type = DICT_NONE; break;
    case LUA_TBOOLEAN: v->type = DICT_BOOLEAN; v->i = lua_toboolean(L, idx); break;
    case LUA_TNUMBER:
      if (smo_isint(L, idx)) {
        lua_Integer i = smo_toint(L, idx);
#if !SMO_INT64_NUMBERS
        /* a double runtime's integral numbers within 2^53 are integers (counters stay exact) */
        if (i < -((lua_Integer)1 << 53) || i > (lua_Integer)1 << 53) {
          v->type = DICT_NUMBER;
          v->d = (double)lua_tonumber(L, idx);
          break;
        }
#endif
        v->type = DICT_INTEGER;
        v->i = (int64_t)i;
      } else {
        v->type = DICT_NUMBER;
        v->d = (double)lua_tonumber(L, idx);
      }
      break;
    case LUA_TSTRING: v->type = DICT_STRING; v->s = lua_tolstring(L, idx, &v->len); break;
    default:
      smo_pushf(L, "bad value type: %s (nil, boolean, number or string)", luaL_typename(L, idx));
      luaL_argerror(L, idx, lua_tostring(L, -1));
  }
}

/* Seconds: none or nil 0 (never), a number >= 0; NaN and negatives raise. */
static double check_seconds(lua_State *L, int idx, const char *what) {
  double t;
  if (lua_isnoneornil(L, idx)) return 0;
  if (lua_type(L, idx) != LUA_TNUMBER) smo_typeerror(L, idx, "number of seconds");
  t = (double)lua_tonumber(L, idx);
  if (isnan(t) || t < 0) {
    smo_pushf(L, "%s must be a number of seconds >= 0 (0: never expires)", what);
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
  return t;
}

static uint32_t check_flags(lua_State *L, int idx) {
  lua_Integer f;
  if (lua_isnoneornil(L, idx)) return 0;
  f = smo_checkinteger(L, idx, "integer flags");
  luaL_argcheck(L, f >= 0 && f <= (lua_Integer)UINT32_MAX, idx, "flags must be 0..2^32-1");
  return (uint32_t)f;
}

static void push_int(lua_State *L, int64_t i) {
#if SMO_INT64_NUMBERS
  lua_pushinteger(L, (lua_Integer)i);
#else
  if (!smo_fits_number(i))
    smo_error(L, "smo.dict: the integer %lld does not fit a double exactly (|v| <= 2^53 on this runtime; "
                 "Lua 5.3 or later reads it)", (long long)i);
  lua_pushnumber(L, (lua_Number)i);
#endif
}

static int push_value(lua_State *L, const dict_value *v, const dict_buf *b) {
  switch (v->type) {
    case DICT_BOOLEAN: lua_pushboolean(L, v->i != 0); break;
    case DICT_INTEGER: push_int(L, v->i); break;
    case DICT_NUMBER: lua_pushnumber(L, (lua_Number)v->d); break;
    case DICT_STRING: lua_pushlstring(L, b->len ? b->p : "", v->len); break;
    default: lua_pushnil(L);
  }
  return 1;
}

/* An error of dict.c that is not one of its results: nil, msg, errno. */
static int push_dict_oserror(lua_State *L, int rc) {
  if (rc == EDEADLK) {       /* (a dictionary on its segment's lock, which this thread holds elsewhere) */
    smo_pushfail(L);
    lua_pushliteral(L, "smo.dict: this thread holds the segment's lock through another handle, and this "
                       "dictionary's writers take that lock: unlock it first");
    lua_pushinteger(L, EDEADLK);
    return 3;
  }
  return push_oserror(L, "smo.dict", rc > 0 ? rc : EIO);
}

/* ------------------------------------------------------------- reading */

/* get and get_stale. */
static int dict_get_common(lua_State *L, int stale_ok) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  dict_value v;
  int stale = 0, rc;
  rc = dict_get(&d->map, key, klen, stale_ok, &v, &d->buf, &stale, NULL);
  if (rc == DICT_NOT_FOUND) {
    lua_pushnil(L);
    return 1;
  }
  if (rc == DICT_IS_LIST) {
    lua_pushnil(L);
    lua_pushliteral(L, "value is a list");
    return 2;
  }
  if (rc != 0) return push_dict_oserror(L, rc);
  push_value(L, &v, &d->buf);    /* (the handle's buffer: nothing to free on a raise) */
  if (d->buf.cap > 65536) dict_buf_free(&d->buf);   /* (a large one is not kept) */
  if (!stale_ok) {
    if (v.flags == 0) return 1;
    lua_pushinteger(L, (lua_Integer)v.flags);
    return 2;
  }
  if (v.flags) lua_pushinteger(L, (lua_Integer)v.flags);
  else lua_pushnil(L);
  lua_pushboolean(L, stale);
  return 3;
}

/***
The value of a key, as `ngx.shared.DICT:get`: `nil` when missing or expired.
Reads take no lock: a writer stopped or dead inside a write never delays them.
@function Dict:get
@tparam string key 1..65535 bytes
@return the value (boolean, number, string), then its flags when not 0
@usage local v, flags = d:get("k")
*/
static int d_get(lua_State *L) { return dict_get_common(L, 0); }

/***
The value even when expired (not yet reclaimed): `value, flags or nil, stale`.
@function Dict:get_stale
@tparam string key
@return value, flags (or nil), whether it is expired
*/
static int d_get_stale(lua_State *L) { return dict_get_common(L, 1); }

/***
Seconds left before the key expires (0: never), or `nil, "not found"`.
@function Dict:ttl
@tparam string key
*/
static int d_ttl(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  double t;
  int rc = dict_ttl(&d->map, key, klen, &t);
  if (rc == DICT_NOT_FOUND) {
    lua_pushnil(L);
    lua_pushliteral(L, "not found");
    return 2;
  }
  if (rc != 0) return push_dict_oserror(L, rc);
  lua_pushnumber(L, (lua_Number)(t < 0 ? 0 : t));
  return 1;
}

/***
Up to `max` live keys (default 1024, 0: all), in no particular order.
Takes no lock.
@function Dict:get_keys
@tparam[opt=1024] integer max
@treturn {string,...} the keys
*/
static int d_get_keys(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  lua_Integer max = lua_isnoneornil(L, 2) ? 1024 : smo_checkinteger(L, 2, "integer");
  dict_buf b = { NULL, 0, 0, 0 };
  uint32_t n = 0, i;
  size_t off = 0;
  int rc;
  luaL_argcheck(L, max >= 0, 2, "max must not be negative (0: all keys)");
  if (max > (lua_Integer)UINT32_MAX) max = 0;
  rc = dict_keys(&d->map, (uint32_t)max, &b, &n);
  if (rc != 0) {
    dict_buf_free(&b);
    return push_dict_oserror(L, rc);
  }
  if (max && n > (uint32_t)max) n = (uint32_t)max;
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n && off + 2 <= b.len; i++) {
    size_t klen = ((size_t)(unsigned char)b.p[off] << 8) | (unsigned char)b.p[off + 1];
    if (off + 2 + klen > b.len) break;
    lua_pushlstring(L, b.p + off + 2, klen);
    smo_rawseti(L, -2, (lua_Integer)i + 1);
    off += 2 + klen;
  }
  dict_buf_free(&b);
  return 1;
}

/* ------------------------------------------------------------- writing */

static void check_writable(lua_State *L, const lua_dict *d) {
  if (d->map.readonly) smo_error(L, "attempt to write to a read-only smo.dict");
}

static int store_common(lua_State *L, int how, int may_evict, int nil_raises, const char *fname) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  dict_value v;
  double exptime;
  int forcible = 0, rc;
  check_value(L, 3, &v);
  if (v.type == DICT_NONE && nil_raises) {
    smo_pushf(L, "attempt to %s a nil value (set or delete removes a key)", fname);
    luaL_argerror(L, 3, lua_tostring(L, -1));
  }
  exptime = 0;
  if (lua_gettop(L) >= 4) {               /* (most calls give a key and a value only) */
    exptime = check_seconds(L, 4, "exptime");
    v.flags = check_flags(L, 5);
  }
  check_writable(L, d);
  rc = dict_store(&d->map, how, key, klen, &v, exptime, may_evict, &forcible);
  switch (rc) {
    case 0: lua_pushboolean(L, 1); lua_pushnil(L); break;
    case DICT_EXISTS: lua_pushboolean(L, 0); lua_pushliteral(L, "exists"); break;
    case DICT_NOT_FOUND: lua_pushboolean(L, 0); lua_pushliteral(L, "not found"); break;
    case DICT_NO_MEMORY: lua_pushboolean(L, 0); lua_pushliteral(L, "no memory"); break;
    case DICT_TOO_LARGE: lua_pushboolean(L, 0); lua_pushliteral(L, "no memory"); break;
    default: return push_dict_oserror(L, rc);
  }
  lua_pushboolean(L, forcible);
  return 3;
}

/***
Stores a value (`nil` deletes), as `ngx.shared.DICT:set`: `true, nil,
forcible`, or `false, "no memory", forcible`. When full, entries read least
recently are evicted (`forcible` is `true` when a live one was).
@function Dict:set
@tparam string key 1..65535 bytes
@param value nil, boolean, number or string (binary safe)
@tparam[opt=0] number exptime seconds, fractions allowed, 0 never
@tparam[opt=0] integer flags 0..2^32-1
*/
static int d_set(lua_State *L) { return store_common(L, DICT_SET, 1, 0, "set"); }

/*** As `set`, never evicting: `false, "no memory"` when it does not fit.
@function Dict:safe_set */
static int d_safe_set(lua_State *L) { return store_common(L, DICT_SET, 0, 0, "safe_set"); }

/*** As `set` when the key is missing (or expired), else `false, "exists"`.
@function Dict:add */
static int d_add(lua_State *L) { return store_common(L, DICT_ADD, 1, 1, "add"); }

/*** As `add`, never evicting.
@function Dict:safe_add */
static int d_safe_add(lua_State *L) { return store_common(L, DICT_ADD, 0, 1, "safe_add"); }

/*** As `set` when the key exists (and is live), else `false, "not found"`.
@function Dict:replace */
static int d_replace(lua_State *L) { return store_common(L, DICT_REPLACE, 1, 1, "replace"); }

/***
Removes a key: `true`.
@function Dict:delete
@tparam string key
*/
static int d_delete(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  dict_value v;
  int forcible, rc;
  memset(&v, 0, sizeof v);
  check_writable(L, d);
  rc = dict_store(&d->map, DICT_SET, key, klen, &v, 0, 0, &forcible);
  if (rc != 0) return push_dict_oserror(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/***
Adds `n` to a number, as `ngx.shared.DICT:incr`: the new value; `nil, "not
found"` (no `init`), `nil, "not a number"`. With `init`, a missing key is
made `init + n` (expiring after `init_ttl` seconds): `new, nil, forcible`.
Integers stay integers (exact over 64 bits on Lua 5.3+, wrapping as Lua's
do); a float makes a float.
@function Dict:incr
@tparam string key
@tparam number n
@tparam[opt] number init
@tparam[opt] number init_ttl
*/
static int d_incr(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  dict_value n, init, result;
  double init_ttl = 0;
  int has_init = !lua_isnoneornil(L, 4), forcible = 0, rc;
  if (lua_type(L, 3) != LUA_TNUMBER) smo_typeerror(L, 3, "number");
  check_value(L, 3, &n);
  memset(&init, 0, sizeof init);
  if (has_init) {
    if (lua_type(L, 4) != LUA_TNUMBER) smo_typeerror(L, 4, "number");
    check_value(L, 4, &init);
  }
  if (!lua_isnoneornil(L, 5)) {
    if (!has_init) luaL_argerror(L, 5, "must provide \"init\" when providing \"init_ttl\"");
    init_ttl = check_seconds(L, 5, "init_ttl");
  }
  check_writable(L, d);
  memset(&result, 0, sizeof result);
  rc = dict_incr(&d->map, key, klen, &n, has_init, &init, init_ttl, &result, &forcible);
  if (rc == DICT_NOT_FOUND || rc == DICT_NOT_NUMBER || rc == DICT_NO_MEMORY) {
    lua_pushnil(L);
    if (rc == DICT_NOT_FOUND) lua_pushliteral(L, "not found");
    else if (rc == DICT_NOT_NUMBER) lua_pushliteral(L, "not a number");
    else lua_pushliteral(L, "no memory");
    if (!has_init) return 2;
    lua_pushboolean(L, forcible);
    return 3;
  }
  if (rc != 0) return push_dict_oserror(L, rc);
  push_value(L, &result, NULL);
  if (!has_init) return 1;
  lua_pushnil(L);
  lua_pushboolean(L, forcible);
  return 3;
}

/***
Sets when a live key expires (seconds, 0: never): `true`, or `nil, "not found"`.
@function Dict:expire
@tparam string key
@tparam number exptime
*/
static int d_expire(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  double t;
  int rc;
  if (lua_isnoneornil(L, 3)) luaL_argerror(L, 3, "exptime expected (seconds, 0: never)");
  t = check_seconds(L, 3, "exptime");
  check_writable(L, d);
  rc = dict_expire(&d->map, key, klen, t);
  if (rc == DICT_NOT_FOUND) {
    lua_pushnil(L);
    lua_pushliteral(L, "not found");
    return 2;
  }
  if (rc != 0) return push_dict_oserror(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/***
Every entry expires now (`get_stale` still sees them until reclaimed), in one
store: all or nothing.
@function Dict:flush_all
*/
static int d_flush_all(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  check_writable(L, d);
  dict_flush_all(&d->map);
  return 0;
}

/***
Reclaims up to `max` expired entries (0 or none: all); how many.
@function Dict:flush_expired
@tparam[opt=0] integer max
*/
static int d_flush_expired(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  lua_Integer max = lua_isnoneornil(L, 2) ? 0 : smo_checkinteger(L, 2, "integer");
  uint32_t freed = 0;
  int rc;
  luaL_argcheck(L, max >= 0, 2, "max must not be negative (0: all)");
  if (max > (lua_Integer)UINT32_MAX) max = 0;
  check_writable(L, d);
  rc = dict_flush_expired(&d->map, (uint32_t)max, &freed);
  if (rc != 0) return push_dict_oserror(L, rc);
  lua_pushinteger(L, (lua_Integer)freed);
  return 1;
}

/***
The bytes entries can use, in all (64-byte slots; see `free_space`).
@function Dict:capacity
*/
static int d_capacity(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  dict_stats st;
  dict_stat(&d->map, &st);
  lua_pushinteger(L, (lua_Integer)st.capacity);
  return 1;
}

/***
The bytes free now: exact (every free 64-byte slot counts; any of them
serves any entry). An entry of a `k`-byte key and a `v`-byte string takes
64 * (1 + ceil((k + v) / 56)) bytes, a number or boolean 64 * (1 + ceil(k / 56)).
@function Dict:free_space
*/
static int d_free_space(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  dict_stats st;
  dict_stat(&d->map, &st);
  lua_pushinteger(L, (lua_Integer)st.free_bytes);
  return 1;
}

/* d:stats() (for `smo dict stat`): a table of the counters. */
static int d_stats(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  dict_stats st;
  dict_stat(&d->map, &st);
  lua_createtable(L, 0, 10);
#define FIELD(name) (lua_pushinteger(L, (lua_Integer)st.name), lua_setfield(L, -2, #name))
  FIELD(capacity);
  FIELD(free_bytes);
  FIELD(entries);
  FIELD(evictions);
  FIELD(recoveries);
  FIELD(slots);
  FIELD(free_slots);
  FIELD(lanes);
  FIELD(buckets);
  FIELD(slot_size);
#undef FIELD
  return 1;
}

/* d:check(): dict_check's report, a table (what a kill storm must leave
 * right; `smo dict check` shows it). */
static int d_check(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  dict_check_report r;
  int rc;
  if (d->map.readonly) smo_error(L, "attempt to check a read-only smo.dict (check takes its locks: open it writable)");
  rc = dict_check(&d->map, &r);
  if (rc != 0) return push_dict_oserror(L, rc);
  lua_createtable(L, 0, 14);
#define FIELD(name) (lua_pushinteger(L, (lua_Integer)r.name), lua_setfield(L, -2, #name))
  FIELD(slots);
  FIELD(used);
  FIELD(free_listed);
  FIELD(pooled);
  FIELD(lost);
  FIELD(twice);
  FIELD(broken);
  FIELD(free_count);
  FIELD(pool_count);
  FIELD(entries_counted);
  FIELD(entries_found);
  FIELD(dead_holders);
  FIELD(locked_buckets);
#undef FIELD
  lua_pushboolean(L, r.needs_repair != 0);
  lua_setfield(L, -2, "needs_repair");
  return 1;
}

/***
Closes the dictionary's segment handle (the memory counter's last user
removes the dictionary). Idempotent; also `__close` and `__gc`.
@function Dict:close
*/
static int d_close(lua_State *L) {
  lua_dict *d = (lua_dict *)luaL_checkudata(L, 1, DICT_TYPENAME);
  if (d->closed) return 0;
  d->closed = 1;
  dict_buf_free(&d->buf);
  if (d->seg->state == SMO_ATTACHED && d->seg->attach_gen == d->gen) ctr_release(d->seg);
  return 0;
}

static int d_tostring(lua_State *L) {
  lua_dict *d = (lua_dict *)luaL_checkudata(L, 1, DICT_TYPENAME);
  if (d->closed || d->seg->state != SMO_ATTACHED) lua_pushliteral(L, "smo.dict (closed)");
  else smo_pushf(L, "smo.dict (key 0x%08x, %lld bytes)", (unsigned)d->seg->key, (long long)d->map.size);
  return 1;
}

/* ------------------------------------------------------------- lists */

static int push_common(lua_State *L, int left) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  dict_value v;
  uint32_t len = 0;
  int rc;
  if (lua_type(L, 3) != LUA_TNUMBER && lua_type(L, 3) != LUA_TSTRING) {
    smo_pushf(L, "bad value type: %s (a list holds numbers and strings)", luaL_typename(L, 3));
    luaL_argerror(L, 3, lua_tostring(L, -1));
  }
  check_value(L, 3, &v);
  check_writable(L, d);
  rc = dict_push(&d->map, key, klen, left, &v, &len);
  if (rc == DICT_NOT_LIST || rc == DICT_NO_MEMORY || rc == DICT_TOO_LARGE) {
    lua_pushnil(L);
    if (rc == DICT_NOT_LIST) lua_pushliteral(L, "value not a list");
    else lua_pushliteral(L, "no memory");
    return 2;
  }
  if (rc != 0) return push_dict_oserror(L, rc);
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

/***
Pushes a number or a string onto the head of the list at `key` (made when
missing), as `ngx.shared.DICT:lpush`: the new length, or `nil, "value not a
list"`, `nil, "no memory"` (pushes never evict).
@function Dict:lpush
@tparam string key
@param value a number or a string
*/
static int d_lpush(lua_State *L) { return push_common(L, 1); }

/*** As `lpush`, onto the tail.
@function Dict:rpush */
static int d_rpush(lua_State *L) { return push_common(L, 0); }

static int pop_common(lua_State *L, int left) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  dict_value v;
  dict_buf b = { NULL, 0, 0, 0 };
  int rc;
  check_writable(L, d);
  memset(&v, 0, sizeof v);
  rc = dict_pop(&d->map, key, klen, left, &v, &b);
  if (rc == DICT_NOT_FOUND) {
    dict_buf_free(&b);
    lua_pushnil(L);
    return 1;
  }
  if (rc == DICT_NOT_LIST) {
    dict_buf_free(&b);
    lua_pushnil(L);
    lua_pushliteral(L, "value not a list");
    return 2;
  }
  if (rc != 0) {
    dict_buf_free(&b);
    return push_dict_oserror(L, rc);
  }
  push_value(L, &v, &b);
  dict_buf_free(&b);
  return 1;
}

/***
Removes and returns the head of the list at `key` (`nil` when missing or
empty; the last pop removes the key), or `nil, "value not a list"`.
@function Dict:lpop
@tparam string key
*/
static int d_lpop(lua_State *L) { return pop_common(L, 1); }

/*** As `lpop`, from the tail.
@function Dict:rpop */
static int d_rpop(lua_State *L) { return pop_common(L, 0); }

/***
The length of the list at `key` (0 when missing), or `nil, "value not a
list"`. Takes no lock.
@function Dict:llen
@tparam string key
*/
static int d_llen(lua_State *L) {
  lua_dict *d = check_dict(L, 1);
  size_t klen;
  const char *key = check_dkey(L, 2, &klen);
  uint32_t len = 0;
  int rc = dict_llen(&d->map, key, klen, &len);
  if (rc == DICT_NOT_LIST) {
    lua_pushnil(L);
    lua_pushliteral(L, "value not a list");
    return 2;
  }
  if (rc != 0) return push_dict_oserror(L, rc);
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

/* ------------------------------------------------------------- FFI */

/* The dictionary userdata d, open, or NULL. */
static lua_dict *ffi_dict(void *p) {
  lua_dict *d = (lua_dict *)p;
  if (d == NULL || d->magic != DICT_UD_MAGIC || d->closed || d->seg->state != SMO_ATTACHED ||
      d->seg->attach_gen != d->gen || d->seg->addr != d->map.base)
    return NULL;
  return d;
}

static void dval_in(const smo_ffi_dval *in, dict_value *v) {
  memset(v, 0, sizeof *v);
  v->type = in->type;
  v->i = in->i;
  v->d = in->d;
  v->s = in->s;
  v->len = in->len;
  v->flags = in->flags;
}

static void dval_out(const dict_value *v, smo_ffi_dval *out) {
  out->type = v->type;
  out->flags = v->flags;
  out->i = v->i;
  out->d = v->type == DICT_INTEGER ? (double)v->i : v->d;
  out->exact = v->type != DICT_INTEGER || smo_fits_number(v->i);
#if SMO_INT64_NUMBERS
  out->exact = 1;
#endif
}

int smo_ffi_dict_get(void *p, const char *key, size_t klen, int stale, smo_ffi_dval *out, int *is_stale) {
  lua_dict *d = ffi_dict(p);
  dict_value v;
  dict_buf b;
  int rc;
  if (d == NULL) return -EBADF;
  if (klen == 0 || klen > MAX_KEY) return -EINVAL;
  b.p = out->buf;
  b.len = 0;
  b.cap = out->cap;
  b.fixed = 1;
  memset(&v, 0, sizeof v);
  *is_stale = 0;
  rc = dict_get(&d->map, key, klen, stale, &v, &b, is_stale, NULL);
  if (rc == ERANGE) {
    out->len = v.len;
    return 8;
  }
  if (rc == DICT_NOT_FOUND) return 1;
  if (rc == DICT_IS_LIST) return 6;
  if (rc != 0) return -rc;
  dval_out(&v, out);
  out->len = v.len;
  return 0;
}

int smo_ffi_dict_store(void *p, const char *key, size_t klen, int how, int may_evict, const smo_ffi_dval *in,
                       double exptime, int *forcible) {
  lua_dict *d = ffi_dict(p);
  dict_value v;
  int rc;
  *forcible = 0;
  if (d == NULL) return -EBADF;
  if (d->map.readonly) return -EROFS;
  if (klen == 0 || klen > MAX_KEY || how < DICT_SET || how > DICT_REPLACE || !(exptime >= 0) ||
      in->type < DICT_NONE || in->type > DICT_STRING)
    return -EINVAL;
  dval_in(in, &v);
  rc = dict_store(&d->map, how, key, klen, &v, exptime, may_evict, forcible);
  if (rc == DICT_TOO_LARGE) return DICT_NO_MEMORY;
  if (rc == DICT_NOT_FOUND || rc == DICT_EXISTS || rc == DICT_NO_MEMORY || rc == 0) return rc;
  return -rc;
}

int smo_ffi_dict_incr(void *p, const char *key, size_t klen, const smo_ffi_dval *n, int has_init,
                      const smo_ffi_dval *init, double init_ttl, smo_ffi_dval *out, int *forcible) {
  lua_dict *d = ffi_dict(p);
  dict_value vn, vi, r;
  int rc;
  *forcible = 0;
  if (d == NULL) return -EBADF;
  if (d->map.readonly) return -EROFS;
  if (klen == 0 || klen > MAX_KEY || !(init_ttl >= 0) || (n->type != DICT_NUMBER && n->type != DICT_INTEGER) ||
      (has_init && init->type != DICT_NUMBER && init->type != DICT_INTEGER))
    return -EINVAL;
  dval_in(n, &vn);
  if (has_init) dval_in(init, &vi);
  else memset(&vi, 0, sizeof vi);
  memset(&r, 0, sizeof r);
  rc = dict_incr(&d->map, key, klen, &vn, has_init, &vi, init_ttl, &r, forcible);
  if (rc == 0) dval_out(&r, out);
  if (rc == DICT_NOT_FOUND || rc == DICT_NOT_NUMBER || rc == DICT_NO_MEMORY || rc == 0) return rc;
  return -rc;
}

/* ------------------------------------------------------------- making */

/* smobject.core.dict_state(seg): "ready", "formatting", "blank" (a fresh,
 * zeroed segment) or "foreign". */
static int smo_dict_state(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  dict_map m;
  int rc = dict_map_of(&m, h->addr, h->size, h->readonly);
  size_t i, n = dict_min_size() < h->size ? dict_min_size() : h->size;
  int version = dict_format_of(h->addr, h->size);
  if (rc == 0) lua_pushliteral(L, "ready");
  else if (rc == EAGAIN) lua_pushliteral(L, "formatting");
  else if (version >= 0 && version != DICT_FORMAT) {
    lua_pushliteral(L, "version");
    lua_pushinteger(L, version);
    lua_pushinteger(L, DICT_FORMAT);
    return 3;
  } else {
    for (i = 0; i < n && h->addr[i] == 0; i++) {}
    if (i == n && h->size >= dict_min_size()) lua_pushliteral(L, "blank");
    else lua_pushliteral(L, "foreign");
  }
  return 1;
}

/* smobject.core.dict_format(seg, external): lays out a dictionary (the
 * caller holds the segment's lock, or it is PRIVATE); external: its writers
 * take the segment's lock (one lane) instead of mutexes in the segment. */
static int smo_dict_format(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  int kind = lua_toboolean(L, 2) ? DICT_LOCK_EXTERNAL : DICT_LOCK_LANES;
  if (h->readonly) raise_readonly(L);
  if (dict_format(h->addr, h->size, kind) != 0) return push_oserror(L, "smo.dict", EINVAL);
  lua_pushboolean(L, 1);
  return 1;
}

/* smobject.core.dict_min_size() */
static int smo_dict_min_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)dict_min_size());
  return 1;
}

/* The segment's lock, as a dictionary's one lane lock (DICT_LOCK_EXTERNAL):
 * taken and released inside one call of dict.c, with no Lua in between. */
static int seg_lock_take(void *ctx) {
  smo_seg *h = (smo_seg *)ctx;
  int rc;
  if (h->semid < 0) return EPERM;
  rc = lock_take(h, -1);
  if (rc == 0 || rc == LOCK_RECOVERED) h->locked = 1;
  return rc == LOCK_RECOVERED ? DICT_LOCK_RECOVERED : rc;
}

static void seg_lock_give(void *ctx) { lock_release((smo_seg *)ctx); }

/* smobject.core.dict_new(seg, others_write): the handle of a formatted
 * dictionary; nil, msg, EPERM when its locks are mutexes in the segment and
 * others_write (group or others may write it: the mutexes would be theirs
 * to corrupt), or its lock is the segment's and seg has none. */
static int smo_dict_new(lua_State *L) {
  smo_seg *h;
  lua_dict *d;
  check_seg(L, 1);
  d = (lua_dict *)smo_newud(L, sizeof(lua_dict), 1);
  memset(d, 0, sizeof *d);
  d->magic = DICT_UD_MAGIC;
  d->closed = 1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
  lua_pushvalue(L, 1);
  smo_setuv(L, -2, 1);
  h = check_seg(L, 1);          /* (the allocations above may have run a finalizer) */
  if (dict_map_of(&d->map, h->addr, h->size, h->readonly) != 0)
    return push_oserror(L, "smo.dict", EINVAL);
  if (d->map.lock_kind == DICT_LOCK_LANES && lua_toboolean(L, 2) && !h->readonly) {
    smo_pushfail(L);
    smo_pushf(L, "smo.dict: key 0x%08x lets other users write it, but was laid out with its locks inside (by an "
                 "owner-only mode): make it again with the mode it has now", (unsigned)h->key);
    lua_pushinteger(L, EPERM);
    return 3;
  }
  if (d->map.lock_kind == DICT_LOCK_EXTERNAL && !h->readonly) {
    if (h->semid < 0) {
      smo_pushfail(L);
      lua_pushliteral(L, "smo.dict: this dictionary takes its segment's lock, which this handle does not have "
                         "(open it by its key or path, writable)");
      lua_pushinteger(L, EPERM);
      return 3;
    }
    d->map.lock = seg_lock_take;
    d->map.unlock = seg_lock_give;
    d->map.lock_ctx = h;
  }
  d->seg = h;
  d->gen = h->attach_gen;
  d->closed = 0;
  return 1;
}

static const luaL_Reg dict_methods[] = {
  { "get", d_get }, { "get_stale", d_get_stale }, { "ttl", d_ttl }, { "get_keys", d_get_keys },
  { "set", d_set }, { "safe_set", d_safe_set }, { "add", d_add }, { "safe_add", d_safe_add },
  { "replace", d_replace }, { "delete", d_delete }, { "incr", d_incr }, { "expire", d_expire },
  { "flush_all", d_flush_all }, { "flush_expired", d_flush_expired }, { "capacity", d_capacity },
  { "free_space", d_free_space }, { "stats", d_stats }, { "check", d_check }, { "close", d_close },
  { "lpush", d_lpush }, { "rpush", d_rpush }, { "lpop", d_lpop }, { "rpop", d_rpop }, { "llen", d_llen },
  { NULL, NULL }
};

void dict_open(lua_State *L) {
  int meta;
  smo_newmetatable(L, DICT_TYPENAME);
  meta = lua_gettop(L);
  lua_newtable(L);
  smo_setfuncs(L, dict_methods, 0);
  lua_setfield(L, meta, "__index");
  lua_pushcfunction(L, d_close);
  lua_setfield(L, meta, "__gc");
  lua_pushcfunction(L, d_close);
  lua_setfield(L, meta, "__close");
  lua_pushcfunction(L, d_tostring);
  lua_setfield(L, meta, "__tostring");
  lua_pushvalue(L, meta);
  lua_pushcclosure(L, smo_dict_new, 1);   /* upvalue 1: the dictionary metatable */
  lua_setfield(L, SMO_MODULE, "dict_new");
  lua_pushcfunction(L, smo_dict_state);
  lua_setfield(L, SMO_MODULE, "dict_state");
  lua_pushcfunction(L, smo_dict_format);
  lua_setfield(L, SMO_MODULE, "dict_format");
  lua_pushcfunction(L, smo_dict_min_size);
  lua_setfield(L, SMO_MODULE, "dict_min_size");
  lua_setfield(L, SMO_MODULE, "dict_meta");
}
