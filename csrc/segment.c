/***
@module smobject
*/

/***
Opening and finding segments.
@section opening
*/
/*
 * The Lua binding of the segment lifecycle: keys, open/attach, the SMObject
 * form, close/remove, stat and the module-wide queries.  This file checks
 * arguments and translates results; the protocol itself (find or create,
 * check, attach, count; uncount, decide, remove) is counter.c, without Lua.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "areas.h"
#include "bookkeeping.h"
#include "counter.h"
#include "handle.h"

/* ---------------------------------------------------------------- checks */
/* proj: an integer 1..255 or a one-character string. */
static int check_proj(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    luaL_argcheck(L, n == 1 && (unsigned char)s[0] != 0, idx,
                  "proj must be one character or an integer 1..255");
    return (unsigned char)s[0];
  }
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Integer p = smo_checkinteger(L, idx, "integer 1..255 or one-character string");
    luaL_argcheck(L, p >= 1 && p <= 255, idx, "proj must be 1..255");
    return (int)p;
  }
  return smo_typeerror(L, idx, "integer 1..255 or one-character string");
}

static size_t check_size(lua_State *L, int idx, const char *what) {
  lua_Integer n = 0;
  smo_int rc = smo_tointeger(L, idx, &n);
  if (rc != SMO_INTEGER) {
    smo_pushf(L, rc == SMO_NOT_NUMBER ? "%s must be an integer" : "%s: number has no integer representation",
                    what);
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
  if (n <= 0) {
    smo_pushf(L, "%s must be positive", what);
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
  return (size_t)n;
}

/* A path for ftok: a string without NUL bytes (C would silently cut it). */
static const char *check_path(lua_State *L, int idx) {
  size_t n;
  const char *p;
  luaL_checktype(L, idx, LUA_TSTRING);
  p = lua_tolstring(L, idx, &n);
  luaL_argcheck(L, strlen(p) == n, idx, "path contains a NUL byte");
  return p;
}

/* ------------------------------------------------------ option parsing */

static const char *const open_options[] = {
  "key", "path", "proj", "size", "create", "mode", "readonly", "persist", "any_owner", "wait", NULL
};
static const char *const attach_options[] = { "readonly", "any_owner", NULL };

/* Raises on a key of opts that is not in names. */
static void check_option_names(lua_State *L, int idx, const char *const names[]) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int known = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; names[i]; i++)
        if (strcmp(k, names[i]) == 0) known = 1;
    }
    if (!known) {
      if (lua_type(L, -1) == LUA_TSTRING) smo_error(L, "unknown option '%s'", lua_tostring(L, -1));
      smo_error(L, "unknown option (a %s key)", luaL_typename(L, -1));
    }
  }
}

/* Field name of opts at idx onto the stack; returns its type. */
static int opt_field(lua_State *L, int idx, const char *name) {
  return smo_getfield(L, idx, name);
}

static int opt_bool(lua_State *L, int idx, const char *name) {
  int t = opt_field(L, idx, name), v = 0;
  if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL) smo_error(L, "option '%s' must be a boolean, got %s", name, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

/* Execute bits, and write without read (shmat needs read), mean nothing for
 * shared memory: both are what 444, 440 or 400 written in Lua give (decimal:
 * octal 0674, 0670, 0620), the usual slip, which the message names. */
static int mode_is_slip(lua_Integer m) {
  return (m & 0111) || ((m & 0222) & ~((m & 0444) >> 1)) || !(m & 0400);
}

SMO_NORETURN static void raise_mode_slip(lua_State *L, lua_Integer m) {
  char digits[24], msg[240];
  const char *why = (m & 0111) ? "has execute bits"
                    : ((m & 0222) & ~((m & 0444) >> 1)) ? "grants write without read"
                    : "gives its owner no read (not even its creator could attach it)";
  int looks_octal = 1;
  snprintf(digits, sizeof digits, "%d", (int)m);
  for (const char *c = digits; *c; c++)
    if (*c > '7') looks_octal = 0;
  if (looks_octal)
    snprintf(msg, sizeof msg, "option 'mode' %d is octal 0%o, which %s: that means nothing for shared "
             "memory. Lua has no octal literals: did you mean tonumber(\"%s\", 8)?",
             (int)m, (unsigned)m, why, digits);
  else
    snprintf(msg, sizeof msg, "option 'mode' 0%o %s, which means nothing for shared memory "
             "(give read or read and write bits, e.g. tonumber(\"640\", 8))", (unsigned)m, why);
  smo_error(L, "%s", msg);
}

/* Option 'mode': permission bits, default 0600. */
static int opt_mode(lua_State *L, int idx) {
  int v = 0600;
  if (opt_field(L, idx, "mode") != LUA_TNIL) {
    lua_Integer m = 0;
    smo_int rc = smo_tointeger(L, -1, &m);
    if (rc == SMO_NOT_NUMBER) smo_error(L, "option 'mode' must be an integer (e.g. tonumber('640', 8))");
    if (rc == SMO_FRACTION) smo_error(L, "option 'mode': number has no integer representation");
    if (m < 0 || m > 0777) smo_error(L, "option 'mode' must be permission bits 0..0777 (0..511)");
    if (mode_is_slip(m)) raise_mode_slip(L, m);
    v = (int)m;
  }
  lua_pop(L, 1);
  return v;
}
/* The integer value of option name (on the stack top). */
static lua_Integer opt_integer(lua_State *L, const char *name) {
  lua_Integer n = 0;
  smo_int rc = smo_tointeger(L, -1, &n);
  if (rc == SMO_NOT_NUMBER) smo_error(L, "option '%s' must be an integer", name);
  if (rc == SMO_FRACTION) smo_error(L, "option '%s': number has no integer representation", name);
  return n;
}

/* Option 'create': false, true or "exclusive". */
static ctr_create opt_create(lua_State *L, int idx) {
  int t = opt_field(L, idx, "create");
  ctr_create c = CTR_ATTACH_ONLY;
  if (t == LUA_TBOOLEAN) c = lua_toboolean(L, -1) ? CTR_CREATE : CTR_ATTACH_ONLY;
  else if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "exclusive") == 0) c = CTR_CREATE_EXCL;
  else if (t != LUA_TNIL) smo_error(L, "option 'create' must be true, false or \"exclusive\"");
  lua_pop(L, 1);
  return c;
}

/* Option 'size': positive, required to create; 0 when not given. */
static size_t opt_size(lua_State *L, int idx, ctr_create create) {
  size_t size = 0;
  if (opt_field(L, idx, "size") != LUA_TNIL) {
    lua_Integer n = opt_integer(L, "size");
    if (n <= 0) smo_error(L, "option 'size' must be positive");
    size = (size_t)n;
  } else if (create != CTR_ATTACH_ONLY) {
    smo_error(L, "option 'size' is required to create a segment");
  }
  lua_pop(L, 1);
  return size;
}

/* Option 'key' (on the stack top); 'proj' goes with 'path' only. */
static int opt_key(lua_State *L, int idx) {
  lua_Integer k = opt_integer(L, "key");
  if (k < -2147483648LL || k > 4294967295LL) smo_error(L, "option 'key' out of range for key_t");
  if (opt_field(L, idx, "proj") != LUA_TNIL) smo_error(L, "option 'proj' goes with 'path', not 'key'");
  lua_pop(L, 1);
  return (int)(unsigned)(k & 0xffffffff);
}

/* Option 'path' (at stack index at): a string without NUL bytes. */
static const char *opt_path(lua_State *L, int at) {
  size_t n;
  const char *p;
  if (lua_type(L, at) != LUA_TSTRING) smo_error(L, "option 'path' must be a string");
  p = lua_tolstring(L, at, &n);
  if (strlen(p) != n) smo_error(L, "option 'path' contains a NUL byte");
  return p;
}

/* Option 'proj': one character or an integer 1..255, default 1. */
static int opt_proj(lua_State *L, int idx) {
  int proj = 1;
  if (opt_field(L, idx, "proj") != LUA_TNIL) {
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      if (n != 1 || s[0] == '\0') smo_error(L, "option 'proj' must be one character or an integer 1..255");
      proj = (unsigned char)s[0];
    } else {
      lua_Integer pv = 0;
      if (smo_tointeger(L, -1, &pv) != SMO_INTEGER || pv < 1 || pv > 255)
        smo_error(L, "option 'proj' must be one character or an integer 1..255");
      proj = (int)pv;
    }
  }
  lua_pop(L, 1);
  return proj;
}

/* s into buf (n bytes), its middle cut out ("...") when it does not fit. */
static void shortened(char *buf, size_t n, const char *s) {
  size_t len = strlen(s);
  if (len < n) {
    memcpy(buf, s, len + 1);
  } else {
    size_t head = (n - 4) / 2, tail = n - 4 - head;
    memcpy(buf, s, head);
    memcpy(buf + head, "...", 3);
    memcpy(buf + head + 3, s + len - tail, tail + 1);
  }
}

/* Why ftok failed, in words about the file (its errno stays in e). */
static void ftok_failed(const char *path, int err, ctr_error *e) {
  char p[128];
  shortened(p, sizeof p, path);
  e->what = "ftok";
  e->err = err;
  switch (err) {
    case ENOENT:
      snprintf(e->detail, sizeof e->detail, "%s: '%s' does not exist; a key made by ftok needs an existing file "
               "(create it once, or give key =)", strerror(err), p);
      break;
    case ENOTDIR:
      snprintf(e->detail, sizeof e->detail, "%s: '%s' cannot be reached (a part of it is not a directory)",
               strerror(err), p);
      break;
    case EACCES:
      snprintf(e->detail, sizeof e->detail, "%s: '%s' cannot be reached (a directory on the way may not be "
               "searched by this process)", strerror(err), p);
      break;
    default:
      snprintf(e->detail, sizeof e->detail, "%s: '%s'", strerror(err), p);
  }
}

/* ftok's key of path and proj; 0, or -1 with e filled. */
static int key_from_path(const char *path, int proj, int *key, ctr_error *e) {
  key_t k = ftok(path, proj);
  if (k == (key_t)-1) {
    ftok_failed(path, errno, e);
    return -1;
  }
  *key = (int)k;
  return 0;
}

/* Where an open's key came from, for its messages: ftok's path and proj. */
typedef struct key_origin {
  char path[112];
  char proj[8];
} key_origin;

static void origin_of(key_origin *o, const char *path, int proj, int proj_is_char) {
  shortened(o->path, sizeof o->path, path);
  if (proj_is_char && proj > 32 && proj < 127) snprintf(o->proj, sizeof o->proj, "'%c'", proj);
  else snprintf(o->proj, sizeof o->proj, "%d", proj);
}

/* Adds to a failed open's message where its key came from and, for a key
 * that names no segment (or one already, under "exclusive"), what to do. */
static void add_hint(ctr_error *e, const ctr_request *rq, const key_origin *o, const char *if_missing) {
  size_t n = strlen(e->detail);
  const char *todo = NULL;
  if (!e->what || strcmp(e->what, "shmget") != 0) return;
  if (e->err == ENOENT) todo = if_missing;
  else if (e->err == EEXIST && rq->create == CTR_CREATE_EXCL) todo = "create = \"exclusive\" wants a new one";
  else return;
  if (o && o->path[0] && n < sizeof e->detail)
    n += (size_t)snprintf(e->detail + n, sizeof e->detail - n, " (ftok of '%s', proj %s)", o->path, o->proj);
  if (todo && n < sizeof e->detail) snprintf(e->detail + n, sizeof e->detail - n, " (%s)", todo);
}

/* Options 'key', or 'path' and 'proj': the key, and in o where it came
 * from.  0, or -1 with e filled (ftok failed). */
static int opt_target(lua_State *L, int idx, int *key, key_origin *o, ctr_error *e) {
  int has_path = opt_field(L, idx, "path") != LUA_TNIL;
  int has_key = opt_field(L, idx, "key") != LUA_TNIL, rc = 0;
  o->path[0] = '\0';
  if (has_key && has_path) smo_error(L, "give either option 'key' or 'path', not both");
  if (has_key) {
    *key = opt_key(L, idx);
  } else if (has_path) {
    const char *path = opt_path(L, -2);
    int proj = opt_proj(L, idx), proj_is_char;
    smo_getfield(L, idx, "proj");
    proj_is_char = lua_type(L, -1) == LUA_TSTRING;
    lua_pop(L, 1);
    rc = key_from_path(path, proj, key, e);
    if (rc == 0) origin_of(o, path, proj, proj_is_char);
  } else {
    smo_error(L, "option 'key' or 'path' is required");
  }
  lua_pop(L, 2);
  return rc;
}

/***
Opens a segment: attaches it, creating it when asked, and counts this handle
in the memory counter.
@function smo.open
@tparam table opts `key` (integer or `PRIVATE`) or `path` and `proj` (`ftok`;
`proj` 1..255 or one character, default 1); `size` (bytes, required to create;
an existing segment smaller than it is `EINVAL`); `create` (`false`: attach
only; `true`: attach or create; `"exclusive"`: create only); `mode`
(permission bits of a new segment, default `0600`, e.g. `tonumber("640", 8)`;
execute bits and write without read are refused); `readonly`; `persist`
(the segment outlives its last user); `any_owner` (trust a segment and
bookkeeping whose owner or creator is another uid, refused with `EPERM` by
default); `wait` (seconds to wait for the segment to be created, without
`create`; `math.huge` for ever: sleeps between tries, counts nothing until it
returns a handle, `nil, msg, ETIMEDOUT` when none appears, `EINTR` on Ctrl-C).
Integers may be given as floats with an exact integer value.
@treturn Segment the handle
@treturn boolean `true` when this call created the segment
@return[2] nil, message (`"shmget: No such file or directory: no segment has key 0x7eadbeef (create =
true makes it)"`), errno
@raise on an unknown option, a wrong type or value (`"unknown option 'sise'"`)
@usage local seg, created = assert(smo.open{ path = "/tmp/x", proj = "A", size = 4096, create = true })
if created then seg:fill(0, 4096) end
*/
/* Option 'wait': seconds to wait for the segment to appear; 0 when not given,
 * a negative value for ever (math.huge). */
static double opt_wait(lua_State *L, int idx, ctr_create create) {
  double w = 0;
  int t = opt_field(L, idx, "wait");
  if (t != LUA_TNIL) {
    if (t != LUA_TNUMBER) smo_error(L, "option 'wait' must be a number of seconds, got %s", luaL_typename(L, -1));
    w = (double)lua_tonumber(L, -1);
    if (isnan(w)) smo_error(L, "option 'wait' is NaN (give seconds >= 0, or math.huge to wait for ever)");
    if (w < 0) smo_error(L, "option 'wait' must not be negative");
    if (create != CTR_ATTACH_ONLY) smo_error(L, "option 'wait' is for attaching: it cannot go with 'create'");
    if (isinf(w)) w = -1;
  }
  lua_pop(L, 1);
  return w;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens, waiting up to `wait` seconds (< 0: for ever) while the segment does
 * not exist.  Sleeps between tries (1 ms, doubling up to 50 ms), so a waiter
 * costs no CPU; a failed try counts nothing.  A SIGINT that the interpreter
 * turned into a hook ends the wait, so that Ctrl-C works. */
static int open_waiting(lua_State *L, const ctr_request *rq, smo_seg *h, int *created, ctr_error *e,
                        double wait) {
  double deadline = now_seconds() + wait, pause = 0.001;
  smo_intr w;
  intr_begin(L, &w);
  for (;;) {
    double left;
    struct timespec ts;
    if (ctr_open(rq, h, created, e) == 0) return 0;
    if (e->err != ENOENT || wait == 0) return -1;
    left = wait < 0 ? pause : deadline - now_seconds();
    if (left <= 0) {
      e->err = ETIMEDOUT;
      snprintf(e->detail, sizeof e->detail, "no segment of key 0x%08x appeared within %g s", (unsigned)rq->key,
               wait);
      e->what = "open";
      return -1;
    }
    if (left > pause) left = pause;
    ts.tv_sec = (time_t)left;
    ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    if (intr_seen(&w)) {   /* lua.c's SIGINT handler set its hook */
      e->err = EINTR;
      e->what = "open";
      snprintf(e->detail, sizeof e->detail, "interrupted while waiting for key 0x%08x", (unsigned)rq->key);
      return -1;
    }
    if (pause < 0.05) pause *= 2;
  }
}

static int smo_open(lua_State *L) {
  ctr_request rq;
  ctr_error e;
  smo_seg *h;
  int created;
  double wait;
  key_origin origin;
  luaL_checktype(L, 1, LUA_TTABLE);
  check_option_names(L, 1, open_options);
  memset(&rq, 0, sizeof rq);
  memset(&e, 0, sizeof e);
  rq.create = opt_create(L, 1);
  rq.size = opt_size(L, 1, rq.create);
  rq.mode = opt_mode(L, 1);
  rq.readonly = opt_bool(L, 1, "readonly");
  rq.persist = opt_bool(L, 1, "persist");
  rq.any_owner = opt_bool(L, 1, "any_owner");
  wait = opt_wait(L, 1, rq.create);
  if (opt_target(L, 1, &rq.key, &origin, &e) != 0) return push_ctr_error(L, &e);
  if (rq.key == IPC_PRIVATE) {
    if (rq.create == CTR_ATTACH_ONLY)
      smo_error(L, "a PRIVATE segment can only be created (set create), or attached by id with smo.attach");
    rq.is_private = 1;
  }
  h = new_handle(L);
  if (open_waiting(L, &rq, h, &created, &e, wait) != 0) {
    add_hint(&e, &rq, &origin, "create = true makes it");
    return push_ctr_error(L, &e);
  }
  lua_pushboolean(L, created);
  return 2;
}

/***
Attaches a segment by id (a `PRIVATE` segment, or an id shown by `ipcs`). A
keyed segment joins its key's memory counter.
@function smo.attach
@tparam integer shmid the segment id
@tparam[opt] table opts `readonly`, `any_owner`
@treturn Segment the handle
@return[2] nil, message, errno (`EINVAL` for a missing id)
@raise on a negative id or an unknown option
@usage local again = assert(smo.attach(seg:shmid()))
*/
static int smo_attach(lua_State *L) {
  ctr_error e;
  smo_seg *h;
  lua_Integer id = smo_checkinteger(L, 1, "number");
  int readonly = 0, any_owner = 0;
  luaL_argcheck(L, id >= 0 && id <= 0x7fffffff, 1, "shmid out of range");
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_option_names(L, 2, attach_options);
    readonly = opt_bool(L, 2, "readonly");
    any_owner = opt_bool(L, 2, "any_owner");
  }
  h = new_handle(L);
  memset(&e, 0, sizeof e);
  if (ctr_attach_id((int)id, readonly, any_owner, h, &e) != 0) return push_ctr_error(L, &e);
  return 1;
}

/***
The key of `ftok(path, proj)`, signed as `key_t` and `/proc/sysvipc` show it.
@function smo.key
@tparam string path an existing file
@tparam integer|string proj 1..255, or a one-character string
@treturn integer the key
@return[2] nil, `"ftok: No such file or directory: '/x' does not exist; ..."`, `ENOENT`
@raise on a bad `proj`
@usage local k = smo.key("/etc/hostname", "A")
*/
static int smo_key(lua_State *L) {
  const char *path;
  int proj;
  key_t k;
  path = check_path(L, 1);
  proj = check_proj(L, 2);
  k = ftok(path, proj);
  if (k == (key_t)-1) {
    ctr_error e;
    ftok_failed(path, errno, &e);
    return push_ctr_error(L, &e);
  }
  lua_pushinteger(L, (lua_Integer)k);
  return 1;
}

/***
Removes the segment of a key and its bookkeeping at once; handles still open
keep their memory.
@function smo.remove
@tparam integer key the key
@treturn boolean `true`
@return[2] nil, message, errno (`ENOENT` when no segment has the key)
@raise for `PRIVATE` (remove those by handle)
@usage smo.remove(smo.key("/tmp/x", "A"))
*/
static int smo_remove(lua_State *L) {
  int key = check_key(L, 1);
  ctr_error e;
  luaL_argcheck(L, key != IPC_PRIVATE, 1, "PRIVATE segments are removed by id: smo.attach(id):remove()");
  if (ctr_remove_key(key, &e) != 0) return push_ctr_error(L, &e);
  lua_pushboolean(L, 1);
  return 1;
}

/* ------------------------------------------------------ SMObject form */

/***
The SMObject form: a handle configured with a key and a size but not
attached; no system call is made until `create` or `access`.
@function smo.new
@tparam string path an existing file (for `ftok`)
@tparam integer|string proj 1..255 or one character
@tparam integer size bytes
@treturn Segment an unattached handle
@raise on a missing or bad argument
@usage local obj = smo.new("/tmp/x", "M", 1024)
assert(obj:create())
*/
static int smo_new(lua_State *L) {
  smo_seg *h;
  int proj;
  size_t size;
  check_path(L, 1);
  proj = check_proj(L, 2);
  size = check_size(L, 3, "size");
  h = new_handle(L);
  h->state = SMO_CONFIGURED;
  h->cfg_proj = proj;
  h->cfg_size = size;
  lua_pushvalue(L, 1);
  smo_setuv(L, -2, 1);
  return 1;
}

static smo_seg *check_configured(lua_State *L) {
  smo_seg *h = check_seg_any(L, 1);
  if (h->state == SMO_ATTACHED) smo_error(L, "smobject is already attached (close it first)");
  if (h->cfg_proj == 0) smo_error(L, "smobject was not made by smo.new (no path and proj to use)");
  return h;
}

/***
The segments this user can see.
@function smo.list
@treturn {table,...} stat tables, as `Segment:stat` returns
@return[2] nil, message, errno
@usage for _, st in ipairs(smo.list()) do print(st.key, st.size) end
*/
/***
The kernel's shared memory limits (values above `math.maxinteger` read as it).
@function smo.limits
@treturn table `shmmax`, `shmmin`, `shmmni`, `shmseg`, `shmall`
@return[2] nil, message, errno
@usage print(smo.limits().shmmni)
*/
/***
What only smobject knows of a key: its bookkeeping set. Never creates or
adjusts anything.
@function smo.bookkeeping
@tparam integer key the key
@treturn table `semid`, `count` (the memory counter), `owned` (removed by its last user),
`lock_shmid` (the id of the fast lock's private segment, when it has one)
@return[2] nil, message, errno (`ENOENT`: no set; `EEXIST`: a set that is not ours)
@usage local bk = smo.bookkeeping(seg:key())
*/
/***
Segment handles: an attachment plus its share of the memory counter.
@section handles
*/

/***
Changes the key of an unattached SMObject handle.
@function Segment:set_key
@tparam string path an existing file
@tparam integer|string proj 1..255 or one character
@treturn Segment the handle
@raise when attached, or on a bad argument
@usage obj:set_key("/tmp/y", "B")
*/
static int seg_set_key(lua_State *L) {
  smo_seg *h = check_configured(L);
  check_path(L, 2);
  h->cfg_proj = check_proj(L, 3);
  lua_pushvalue(L, 2);
  smo_setuv(L, 1, 1);
  lua_settop(L, 1);
  return 1;
}

/***
Changes the size of an unattached SMObject handle.
@function Segment:set_size
@tparam integer size bytes
@treturn Segment the handle
@raise when attached, or on a size that is not positive
@usage obj:set_size(4096)
*/
static int seg_set_size(lua_State *L) {
  smo_seg *h = check_configured(L);
  h->cfg_size = check_size(L, 2, "size");
  lua_settop(L, 1);
  return 1;
}

static int configured_open(lua_State *L, ctr_create create) {
  smo_seg *h = check_configured(L);
  ctr_request rq;
  ctr_error e;
  int created;
  memset(&rq, 0, sizeof rq);
  memset(&e, 0, sizeof e);
  smo_getuv(L, 1, 1);
  if (key_from_path(lua_tostring(L, -1), h->cfg_proj, &rq.key, &e) != 0) return push_ctr_error(L, &e);
  rq.size = h->cfg_size;
  rq.create = create;
  rq.mode = 0600;
  h->state = SMO_CONFIGURED;   /* until attached: "not attached yet" */
  if (ctr_open(&rq, h, &created, &e) != 0) {
    key_origin origin;
    origin_of(&origin, lua_tostring(L, -1), h->cfg_proj, 0);
    add_hint(&e, &rq, &origin, "its create() makes it");
    return push_ctr_error(L, &e);
  }
  lua_pushboolean(L, 1);
  lua_pushboolean(L, created);
  return 2;
}

/***
Creates the segment of an SMObject handle (or joins it if it exists),
attaches and counts.
@function Segment:create
@treturn boolean `true`
@treturn boolean `true` when this call created the segment
@return[2] nil, message, errno
@raise when already attached
@usage assert(smo.new("/tmp/x", "M", 1024):create())
*/
static int seg_create(lua_State *L) { return configured_open(L, CTR_CREATE); }

/***
Attaches an SMObject handle to an existing segment and counts.
@function Segment:access
@treturn boolean `true`
@return[2] nil, message, errno (`ENOENT` when missing, `EINVAL` when smaller than the size)
@raise when already attached
@usage assert(smo.new("/tmp/x", "M", 1024):access())
*/
static int seg_access(lua_State *L) { return configured_open(L, CTR_ATTACH_ONLY); }

/***
Gives this handle's share of the memory counter up now, staying attached; the
later `close` only detaches (and removes the segment if it is the last).
@function Segment:decrement
@treturn integer the new count
@return[2] nil, message, `EIDRM` once the segment was removed
@raise on a handle without a counter (PRIVATE or foreign key)
@usage print(obj:decrement())
*/
static int seg_decrement(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  ctr_error e;
  int count;
  if (h->semid < 0) smo_error(L, "this smobject has no memory counter (PRIVATE or foreign key)");
  if (ctr_self() != h->pid) smo_error(L, "a forked child holds no share of its parent's counter");
  if (ctr_decrement(h, &count, &e) != 0) return push_ctr_error(L, &e);
  lua_pushinteger(L, count);
  return 1;
}

/* -------------------------------------------------------------- methods */

/***
Detaches and gives the share back; removes the segment when this was its last
user (unless persistent or foreign). Idempotent; also the `__close` and `__gc`
metamethods. A forked child's close only detaches.
@function Segment:close
@usage seg:close()
*/
static int seg_close(lua_State *L) {
  ctr_release(check_seg_any(L, 1));
  return 0;
}

/* __gc: a close, and then nothing is left to park for but the FFI pointers
 * whose finalizers have not run yet (each unpins: ctr_unpin). */
static int seg_gc(lua_State *L) {
  smo_seg *h = check_seg_any(L, 1);
  ctr_release(h);
  h->collected = 1;
  if (h->pins == 0) ctr_unpark(h);
  return 0;
}

/***
`tostring(seg)`: key, id and size, or that it is closed.
@function Segment:__tostring
@treturn string `"smobject (key 0x0000002a, shmid 5, 4096 bytes)"`
@usage print(seg)
*/
static int seg_tostring(lua_State *L) {
  smo_seg *h = check_seg_any(L, 1);
  if (h->state != SMO_ATTACHED) lua_pushliteral(L, "smobject (closed)");
  else if (h->key == IPC_PRIVATE)
    smo_pushf(L, "smobject (PRIVATE, shmid %d, %lld bytes)", h->shmid, (long long)h->size);
  else {
    char buf[96];
    snprintf(buf, sizeof buf, "smobject (key 0x%08x, shmid %d, %zu bytes)", (unsigned)h->key,
             h->shmid, h->size);
    lua_pushstring(L, buf);
  }
  return 1;
}

/***
The size in bytes, from the kernel (also `#seg`).
@function Segment:size
@treturn integer bytes
@raise on a closed handle
@usage assert(seg:size() == #seg)
*/
static int seg_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_seg(L, 1)->size);
  return 1;
}

/***
The key (or `PRIVATE`).
@function Segment:key
@treturn integer key
@raise on a closed handle
@usage print(("0x%08x"):format(seg:key()))
*/
static int seg_key(lua_State *L) {
  lua_pushinteger(L, check_seg(L, 1)->key);
  return 1;
}

/***
The segment id.
@function Segment:shmid
@treturn integer id
@raise on a closed handle
@usage print(seg:shmid())
*/
static int seg_shmid(lua_State *L) {
  lua_pushinteger(L, check_seg(L, 1)->shmid);
  return 1;
}

/***
The memory counter: how many handles, in every process, use the segment (the
kernel's attach count for segments without bookkeeping).
@function Segment:users
@treturn integer count
@return[2] nil, message, `EIDRM` once removed
@raise on a closed handle
@usage print(seg:users())
*/
static int seg_users(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  ctr_error e;
  int n;
  if (ctr_users(h, &n, &e) != 0) return push_ctr_error(L, &e);
  lua_pushinteger(L, n);
  return 1;
}

static void push_stat(lua_State *L, int shmid, const struct shmid_ds *ds) {
  lua_createtable(L, 0, 16);
#define F(name, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))
  F("key", ds->shm_perm.__key);
  F("shmid", shmid);
  F("size", ds->shm_segsz);
  F("mode", ds->shm_perm.mode & 0777);
  F("uid", ds->shm_perm.uid);
  F("gid", ds->shm_perm.gid);
  F("cuid", ds->shm_perm.cuid);
  F("cgid", ds->shm_perm.cgid);
  F("cpid", ds->shm_cpid);
  F("lpid", ds->shm_lpid);
  F("nattch", ds->shm_nattch);
  F("atime", ds->shm_atime);
  F("dtime", ds->shm_dtime);
  F("ctime", ds->shm_ctime);
#undef F
  lua_pushboolean(L, (ds->shm_perm.mode & SHM_DEST) != 0);
  lua_setfield(L, -2, "removed");
}

/***
The kernel's `shmid_ds` of the segment.
@function Segment:stat
@treturn table `key, shmid, size, mode, uid, gid, cuid, cgid, cpid, lpid, nattch, atime, dtime, ctime, removed`
@return[2] nil, message, errno
@raise on a closed handle
@usage print(seg:stat().nattch)
*/
static int seg_stat(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  struct shmid_ds ds;
  if (shmctl(h->shmid, IPC_STAT, &ds) != 0) return push_oserror(L, "shmctl", errno);
  push_stat(L, h->shmid, &ds);
  return 1;
}

/***
Marks the segment for removal now and removes its bookkeeping; attached
handles keep working, `users` and `lock` then return `EIDRM`.
@function Segment:remove
@treturn boolean `true`
@return[2] nil, message, errno
@raise on a closed handle
@usage seg:remove()
*/
static int seg_remove(lua_State *L) {
  smo_seg *h = check_seg(L, 1);
  ctr_error e;
  if (ctr_remove(h, &e) != 0) return push_ctr_error(L, &e);
  lua_pushboolean(L, 1);
  return 1;
}

/* smo.list() (documented with the module functions above) */
static int smo_list(lua_State *L) {
  struct shm_info info;
  int maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&info), i, n = 0;
  if (maxidx < 0) return push_oserror(L, "shmctl", errno);
  lua_newtable(L);
  for (i = 0; i <= maxidx; i++) {
    struct shmid_ds ds;
    int id = shmctl(i, SHM_STAT, &ds);
    if (id < 0) continue;
    push_stat(L, id, &ds);
    smo_rawseti(L, -2, ++n);
  }
  return 1;
}

/* Linux's "unlimited" defaults exceed a Lua integer: clamp them to maxinteger. */
static void push_limit(lua_State *L, const char *name, unsigned long v) {
  lua_pushinteger(L, v > (unsigned long)SMO_MAXINT ? SMO_MAXINT : (lua_Integer)v);
  lua_setfield(L, -2, name);
}

/* smo.limits() (documented above) */
static int smo_limits(lua_State *L) {
  struct shminfo si;
  if (shmctl(0, IPC_INFO, (struct shmid_ds *)(void *)&si) < 0) return push_oserror(L, "shmctl", errno);
  lua_createtable(L, 0, 5);
  push_limit(L, "shmmax", si.shmmax);
  push_limit(L, "shmmin", si.shmmin);
  push_limit(L, "shmmni", si.shmmni);
  push_limit(L, "shmseg", si.shmseg);
  push_limit(L, "shmall", si.shmall);
  return 1;
}

/* smo.bookkeeping(key) (documented above) */
static int smo_bookkeeping(lua_State *L) {
  int key = check_key(L, 1), semid = semget((key_t)key, 0, 0), aux;
  if (semid < 0) return push_oserror(L, "semget", errno);
  if (!bk_is_ours(semid)) return push_oserror(L, "semget", EEXIST);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, semid); lua_setfield(L, -2, "semid");
  lua_pushinteger(L, bk_get(semid, BK_COUNT)); lua_setfield(L, -2, "count");
  lua_pushboolean(L, bk_get(semid, BK_OWNED) == 1); lua_setfield(L, -2, "owned");
  aux = bk_get_aux(semid);
  if (aux >= 0) {
    lua_pushinteger(L, aux);
    lua_setfield(L, -2, "lock_shmid");
  }
  return 1;
}

static const luaL_Reg segment_functions[] = {
  { "open", smo_open },
  { "attach", smo_attach },
  { "key", smo_key },
  { "new", smo_new },
  { "remove", smo_remove },
  { "list", smo_list },
  { "limits", smo_limits },
  { "bookkeeping", smo_bookkeeping },
  { NULL, NULL }
};

static const luaL_Reg segment_methods[] = {
  { "set_key", seg_set_key },
  { "set_size", seg_set_size },
  { "create", seg_create },
  { "access", seg_access },
  { "decrement", seg_decrement },
  { "close", seg_close },
  { "size", seg_size },
  { "key", seg_key },
  { "shmid", seg_shmid },
  { "users", seg_users },
  { "stat", seg_stat },
  { "remove", seg_remove },
  { NULL, NULL }
};

static const luaL_Reg segment_metamethods[] = {
  { "__gc", seg_gc },
  { "__close", seg_close },
  { "__tostring", seg_tostring },
  { "__len", seg_size },
  { NULL, NULL }
};

void segment_open(lua_State *L) {
  register_funcs(L, SMO_MODULE, segment_functions);
  register_funcs(L, SMO_METHODS, segment_methods);
  register_funcs(L, SMO_META, segment_metamethods);
  lua_pushinteger(L, IPC_PRIVATE);
  lua_setfield(L, SMO_MODULE, "PRIVATE");
}
