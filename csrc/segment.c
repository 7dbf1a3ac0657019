/***
@submodule smobject
*/

/***
Opening and finding segments.
@section opening
*/
/*
 * Segment lifecycle: keys, open/attach, the SMObject form, the memory counter
 * protocol, close/remove, stat and the module-wide queries.
 *
 * Open and close run under the bookkeeping gate (bookkeeping.c) so that the
 * steps "find/create, check, attach, count" and "uncount, decide, remove" of
 * different processes never interleave.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <unistd.h>

#include "smobject.h"
#include "bookkeeping.h"

/* One open request, after the options have been checked. */
typedef struct open_req {
  int key;
  int is_private;
  size_t size;       /* 0 when not given */
  int create;        /* 0 attach only, 1 attach or create, 2 exclusive */
  int mode;
  int readonly, persist, any_owner;
} open_req;

/* Where an open failed: the operation named first in the message. */
typedef struct open_err {
  const char *what;
  int err;
  char detail[224];  /* replaces strerror when set */
} open_err;

#define OPEN_CREATE_EXCL 2

int push_oserror(lua_State *L, const char *what, int err) {
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", what, strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

static int push_openerror(lua_State *L, const open_err *e) {
  if (e->detail[0] == '\0') return push_oserror(L, e->what, e->err);
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", e->what, e->detail);
  lua_pushinteger(L, e->err);
  return 3;
}

static int fail(open_err *e, const char *what, int err) {
  e->what = what;
  e->err = err;
  e->detail[0] = '\0';
  return -1;
}

/* ---------------------------------------------------------------- checks */

/* Any handle, attached or not; raises on a value that is not one. */
smo_seg *check_seg_any(lua_State *L, int idx) {
  smo_seg *h = (smo_seg *)lua_touserdata(L, idx);
  if (h == NULL || lua_rawlen(L, idx) != sizeof(smo_seg) || h->magic != SMO_MAGIC)
    luaL_typeerror(L, idx, SMO_TYPENAME);
  return h;
}

void raise_closed(lua_State *L, const smo_seg *h) {
  if (h->cfg_proj != 0 && h->shmid < 0)
    luaL_error(L, "attempt to use a closed smobject (not attached yet: call create() or access())");
  luaL_error(L, "attempt to use a closed smobject");
  __builtin_unreachable();   /* luaL_error longjmps */
}

/* Integer key: accepts key_t's signed range and the unsigned spelling ipcs prints. */
lua_Integer smo_checkinteger(lua_State *L, int idx, const char *expected) {
  lua_Integer v = 0;
  int rc = smo_tointeger(L, idx, &v);
  if (rc < 0) luaL_typeerror(L, idx, expected);
  if (rc == 0) luaL_argerror(L, idx, "number has no integer representation");
  return v;
}

int check_key(lua_State *L, int idx) {
  lua_Integer k = smo_checkinteger(L, idx, "integer key");
  luaL_argcheck(L, k >= -2147483648LL && k <= 4294967295LL, idx, "key out of range for key_t");
  return (int)(unsigned)(k & 0xffffffff);
}

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
  return luaL_typeerror(L, idx, "integer 1..255 or one-character string");
}

static size_t check_size(lua_State *L, int idx, const char *what) {
  lua_Integer n = 0;
  int rc = smo_tointeger(L, idx, &n);
  if (rc <= 0) {
    lua_pushfstring(L, rc < 0 ? "%s must be an integer" : "%s: number has no integer representation", what);
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
  if (n <= 0) {
    lua_pushfstring(L, "%s must be positive", what);
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

/* ------------------------------------------------------- open protocol */

/* Mode for a bookkeeping set: exactly the segment's permission bits, so that
 * no other uid may write the counter, the gate or the lock unless it may write
 * the data; only the owner's read becomes read-write (the owner is us, and a
 * read-only segment of ours must still count us).  Readers of other uids are
 * not counted (they cannot be, without the right to write). */
static int set_mode_for(int seg_mode) {
  int m = seg_mode & 0666;
  return m | ((m & 0400) >> 1);
}

/* EPERM naming the key, whose object it is (owner and creator) and the way out. */
static int fail_owner(open_err *e, const char *what, int key, unsigned uid, unsigned cuid) {
  fail(e, "open", EPERM);
  snprintf(e->detail, sizeof e->detail,
           "%s owned by uid %u (created by uid %u), not this process's uid %u: key 0x%08x "
           "(use any_owner to trust it)", what, uid, cuid, (unsigned)geteuid(), (unsigned)key);
  return -1;
}

/* Attaches shmid after the owner and size checks; fills h.  *seg_mode gets
 * the segment's permission bits. */
static int attach_checked(const open_req *rq, int shmid, int created, smo_seg *h, int *seg_mode,
                          open_err *e) {
  struct shmid_ds ds;
  void *p;
  if (created) {
    /* made by this call: its size is the one asked, its owner us */
    ds.shm_segsz = rq->size;
    ds.shm_perm.mode = (unsigned short)(rq->mode & 0666);
  } else if (shmctl(shmid, IPC_STAT, &ds) != 0) {
    return fail(e, "shmctl", errno);
  }
  /* Linux lets a creator hand an object over (IPC_SET) and keep full control
   * of it as its creator: both must be us. */
  if (!created && !rq->any_owner && !bk_ours_uid((unsigned)ds.shm_perm.uid, (unsigned)ds.shm_perm.cuid))
    return fail_owner(e, "segment", (int)ds.shm_perm.__key, (unsigned)ds.shm_perm.uid,
                      (unsigned)ds.shm_perm.cuid);
  if (rq->size > ds.shm_segsz) {
    fail(e, "open", EINVAL);
    snprintf(e->detail, sizeof e->detail, "segment has %zu bytes, fewer than the %zu asked",
             (size_t)ds.shm_segsz, rq->size);
    return -1;
  }
  p = shmat(shmid, NULL, rq->readonly ? SHM_RDONLY : 0);
  if (p == (void *)-1) return fail(e, "shmat", errno);
  h->addr = (unsigned char *)p;
  h->attach_gen++;
  h->size = ds.shm_segsz;
  h->shmid = shmid;
  h->readonly = (unsigned char)(rq->readonly != 0);
  h->lock_kind = SMO_LOCK_UNKNOWN;
  h->pid = getpid();
  if (seg_mode) *seg_mode = (int)(ds.shm_perm.mode & 0777);
  return 0;
}

static int open_private(const open_req *rq, smo_seg *h, open_err *e) {
  int shmid = shmget(IPC_PRIVATE, rq->size, IPC_CREAT | (rq->mode & 0777));
  if (shmid < 0) return fail(e, "shmget", errno);
  if (attach_checked(rq, shmid, 1, h, NULL, e) != 0) {
    shmctl(shmid, IPC_RMID, NULL);
    return -1;
  }
  /* Linux keeps a removed segment while it is attached, and lets those who
   * know the id attach it: removal now is what makes it leak-proof. */
  if (!rq->persist) shmctl(shmid, IPC_RMID, NULL);
  h->key = IPC_PRIVATE;
  h->semid = -1;
  h->counted = 0;
  return 0;
}

/* Why an open goes on without a counter (semid < 0). */
enum no_set {
  NOSET_NONE,      /* (a PRIVATE segment, or the set is ours: semid >= 0) */
  NOSET_FOREIGN,   /* a set that is not ours holds the key: never touched */
  NOSET_READER,    /* our set, which this process may only read */
  NOSET_UNOWNED    /* no set, and the segment is not ours to make one for */
};

/* The failure of an open that was refused by rule rather than by the kernel. */
static int fail_detail(open_err *e, const char *what, int err, const char *fmt, unsigned a, unsigned b) {
  fail(e, what, err);
  snprintf(e->detail, sizeof e->detail, fmt, a, b);
  return -1;
}

/* A set that grants more than the segment does is narrowed, if it is ours. */
static void narrow_set_mode(int semid, const bk_info *bi, int seg_mode) {
  int allowed = set_mode_for(seg_mode);
  if ((bi->mode & ~allowed & 0666) != 0 && bk_ours_uid(bi->uid, bi->cuid))
    bk_set_mode(semid, bi->mode & allowed);
}

/*
 * Under the gate (semid >= 0) or without bookkeeping (semid < 0, for the
 * reason no_set): find or create the segment, check, attach, count.
 * Returns 0, 1 to start again, or -1 with e filled; the gate is released or
 * the set removed in every case, the error paths included.
 */
static int open_gated(const open_req *rq, int semid, const bk_info *bi, enum no_set no_set, smo_seg *h,
                      int *created, open_err *e) {
  int fresh = semid >= 0 && bi->fresh;
  int count = fresh ? 0 : -1, shmid, seg_exists = 1, rc, seg_mode = 0;
  /* A set this call just made guards no segment yet: go straight to creating. */
  shmid = fresh && rq->create ? -1 : shmget((key_t)rq->key, 0, 0);
  if (shmid < 0) {
    rc = fresh && rq->create ? ENOENT : errno;
    seg_exists = 0;
    if (rc != ENOENT) { fail(e, "shmget", rc); goto abandon; }
    if (semid >= 0 && count < 0 && (count = bk_get(semid, BK_COUNT)) < 0) {
      rc = errno;
      if (rc == EIDRM || rc == EINVAL) return 1;
      bk_leave(semid, 0);
      return fail(e, "semctl", rc);
    }
    if (count > 0) {
      /* Users counted on a segment that is gone (removed behind our back):
       * the bookkeeping is stale; drop it so their closes only detach. */
      bk_remove(semid);
      return 1;
    }
    if (!rq->create) { fail(e, "shmget", ENOENT); goto abandon; }
    if (no_set == NOSET_UNOWNED) return 1;   /* the segment went meanwhile: make bookkeeping */
    if (no_set == NOSET_READER)
      return fail_detail(e, "open", EACCES,
                         "key 0x%08x: this process may not write its bookkeeping set (mode 0%o), "
                         "so it cannot create the segment", (unsigned)rq->key, (unsigned)bi->mode);
    if (no_set == NOSET_FOREIGN && !rq->persist)
      return fail_detail(e, "open", EEXIST,
                         "key 0x%08x is held by a foreign semaphore set (not smobject's; mode 0%o): "
                         "no memory counter possible (use persist, or another key)",
                         (unsigned)rq->key, (unsigned)bi->mode);
    if (semid >= 0 && (!fresh || !rq->persist) && (rc = bk_set(semid, BK_OWNED, rq->persist ? 0 : 1)) != 0) {
      fail(e, "semctl", rc);
      goto abandon;
    }
    shmid = shmget((key_t)rq->key, rq->size, IPC_CREAT | IPC_EXCL | (rq->mode & 0666));
    if (shmid < 0) {
      rc = errno;
      if (rc == EEXIST) {          /* a program that does not use the gate was quicker */
        if (semid >= 0) {
          bk_set(semid, BK_OWNED, 0);   /* not ours to remove */
          bk_leave(semid, 0);
        }
        return 1;
      }
      fail(e, "shmget", rc);
      goto abandon;
    }
    *created = 1;
    seg_exists = 1;
  } else if (rq->create == OPEN_CREATE_EXCL) {
    fail(e, "shmget", EEXIST);
    goto abandon;
  } else if (no_set == NOSET_UNOWNED) {
    /* Not ours when we looked; if the key now names a segment of ours (removed
     * and made again meanwhile), it must get its bookkeeping: start again. */
    struct shmid_ds ds;
    if (shmctl(shmid, IPC_STAT, &ds) != 0 || bk_ours_uid((unsigned)ds.shm_perm.uid, (unsigned)ds.shm_perm.cuid))
      return 1;
  }
  if (attach_checked(rq, shmid, *created, h, &seg_mode, e) != 0) {
    /* Removed between our shmget and shmat (ipcrm, a remove() without the
     * gate): as if it had not been found, start again. */
    if (!*created && (e->err == EINVAL || e->err == EIDRM) && strcmp(e->what, "open") != 0) {
      if (semid >= 0) bk_leave(semid, 0);
      return 1;
    }
    goto unmake;
  }
  if (semid >= 0 && !fresh) narrow_set_mode(semid, bi, seg_mode);
  h->key = rq->key;
  h->semid = semid;
  h->counted = semid >= 0;
  if (semid >= 0 && (rc = bk_leave(semid, 1)) != 0) {
    /* Not counted (ERANGE: the counter is full): the gate must still go back. */
    shmdt(h->addr);
    h->addr = NULL;
    h->counted = 0;
    if (rc == EIDRM || rc == EINVAL) return 1;
    if (rc == ERANGE)
      fail_detail(e, "semop", ERANGE, "the memory counter of key 0x%08x is full (%u handles)",
                  (unsigned)rq->key, 32767u);
    else
      fail(e, "semop", rc);
    goto unmake;
  }
  return 0;

unmake:
  if (*created) {
    shmctl(shmid, IPC_RMID, NULL);
    seg_exists = 0;
    *created = 0;
  }
abandon:
  /* Drop the set when nobody uses it and it guards nothing: no segment, or a
   * segment it would not remove.  A segment with the OWNED mark and no users
   * (its creator died before counting) keeps its set, to be removed by the
   * next user's last close. */
  if (semid >= 0) {
    int owned = 1;
    if (bk_state(semid, &count, &owned) == 0 && count == 0 && (!seg_exists || owned == 0))
      bk_remove(semid);
    else
      bk_leave(semid, 0);
  }
  return -1;
}

static int open_keyed(const open_req *rq, smo_seg *h, int *created, open_err *e) {
  for (;;) {
    int semid = -1, rc;
    enum no_set no_set = NOSET_NONE;
    bk_info bi;
    rc = bk_enter_key(rq->key, 0, 0, rq->any_owner, &semid, &bi);
    if (rc == ENOENT) {
      /* No bookkeeping yet: make it, with the mode of the segment if there
       * is one, else the mode asked for; but never for a segment that is not
       * ours (it is then attached, if allowed, without a counter). */
      struct shmid_ds ds;
      int setmode = set_mode_for(rq->mode), shmid = shmget((key_t)rq->key, 0, 0);
      int stat_rc = shmid >= 0 ? shmctl(shmid, IPC_STAT, &ds) : 0;
      if (stat_rc != 0 && (errno == EIDRM || errno == EINVAL)) continue;   /* removed meanwhile */
      if (shmid >= 0 && (stat_rc != 0 || !bk_ours_uid((unsigned)ds.shm_perm.uid, (unsigned)ds.shm_perm.cuid))) {
        rc = BK_FOREIGN;
        no_set = NOSET_UNOWNED;
      } else {
        if (shmid >= 0) setmode = set_mode_for(ds.shm_perm.mode);
        else if (errno == ENOENT && !rq->create) return fail(e, "shmget", ENOENT);
        rc = bk_enter_key(rq->key, shmid < 0 ? BK_CREATE_FIRST : BK_CREATE, setmode, rq->any_owner, &semid, &bi);
      }
    }
    if (rc == BK_FOREIGN) {
      semid = -1;
      if (no_set == NOSET_NONE) no_set = NOSET_FOREIGN;
    } else if (rc == BK_NO_ACCESS) {
      semid = -1;
      no_set = NOSET_READER;
    } else if (rc == BK_NOT_OURS) {
      return fail_owner(e, "semaphore set", rq->key, bi.uid, bi.cuid);
    } else if (rc != 0) {
      return fail(e, "semget", rc);
    }
    *created = 0;
    rc = open_gated(rq, semid, &bi, no_set, h, created, e);
    if (rc <= 0) return rc;
  }
}

static int do_open(const open_req *rq, smo_seg *h, int *created, open_err *e) {
  *created = 0;
  if (rq->is_private) {
    *created = 1;
    return open_private(rq, h, e);
  }
  return open_keyed(rq, h, created, e);
}

/* --------------------------------------------------------- close protocol */

/* Detaches and gives the share back; never raises (shared by close, __gc,
 * __close).  A forked child holds the attachment but none of the counts. */
static void seg_release(smo_seg *h) {
  struct shmid_ds ds;
  int semid = h->semid, count, owned, rc;
  if (h->addr == NULL) return;
  sync_release(h);
  if (semid < 0 || getpid() != h->pid) {
    shmdt(h->addr);
    h->addr = NULL;
    return;
  }
  rc = bk_enter(semid, h->counted ? -1 : 0, 1);
  if (rc != 0 && rc != BK_NOT_COUNTED) {
    /* The bookkeeping is gone (seg:remove()): nothing left to count. */
    shmdt(h->addr);
    h->addr = NULL;
    h->counted = 0;
    return;
  }
  h->counted = 0;
  shmdt(h->addr);
  h->addr = NULL;
  if (bk_state(semid, &count, &owned) != 0) {   /* removed meanwhile (or unreadable) */
    bk_leave(semid, 0);
    return;
  }
  if (count != 0) {
    bk_leave(semid, 0);
    return;
  }
  if (owned == 1 && shmctl(h->shmid, IPC_STAT, &ds) == 0) {
    if (ds.shm_nattch > 0) {
      /* Attached but uncounted (a forked child, a C program): keep it all;
       * the next smobject user's last close removes it. */
      bk_leave(semid, 0);
      return;
    }
    shmctl(h->shmid, IPC_RMID, NULL);
  }
  bk_remove(semid);
}

/* ------------------------------------------------------------- handles */

static smo_seg *new_handle(lua_State *L) {
  smo_seg *h = (smo_seg *)lua_newuserdatauv(L, sizeof(smo_seg), 1);
  memset(h, 0, sizeof *h);
  h->magic = SMO_MAGIC;
  h->ctypes = (const struct ctype_index *)lua_touserdata(L, lua_upvalueindex(2));
  h->shmid = -1;
  h->semid = -1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
  return h;
}

/* ------------------------------------------------------ option parsing */

static const char *const open_options[] = {
  "key", "path", "proj", "size", "create", "mode", "readonly", "persist", "any_owner", NULL
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
      if (lua_type(L, -1) == LUA_TSTRING) luaL_error(L, "unknown option '%s'", lua_tostring(L, -1));
      luaL_error(L, "unknown option (a %s key)", luaL_typename(L, -1));
    }
  }
}

/* Field name of opts at idx onto the stack; returns its type. */
static int opt_field(lua_State *L, int idx, const char *name) {
  return lua_getfield(L, idx, name);
}

static int opt_bool(lua_State *L, int idx, const char *name) {
  int t = opt_field(L, idx, name), v = 0;
  if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL) luaL_error(L, "option '%s' must be a boolean, got %s", name, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static int opt_mode(lua_State *L, int idx) {
  int t = opt_field(L, idx, "mode"), v = 0600;
  if (t != LUA_TNIL) {
    lua_Integer m = 0;
    int rc = smo_tointeger(L, -1, &m);
    if (rc < 0) luaL_error(L, "option 'mode' must be an integer (e.g. tonumber('640', 8))");
    if (rc == 0) luaL_error(L, "option 'mode': number has no integer representation");
    if (m < 0 || m > 0777) luaL_error(L, "option 'mode' must be permission bits 0..0777 (0..511)");
    /* Execute bits, and write without read (shmat needs read), mean nothing
     * for shared memory: both are what 444, 440 or 400 written in Lua give
     * (decimal: octal 0674, 0670, 0620), the usual slip. */
    if ((m & 0111) || ((m & 0222) & ~((m & 0444) >> 1))) {
      char digits[24], msg[240];
      const char *why = (m & 0111) ? "has execute bits" : "grants write without read";
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
      luaL_error(L, "%s", msg);
    }
    v = (int)m;
  }
  lua_pop(L, 1);
  return v;
}

static int key_from_path(lua_State *L, const char *path, int proj, open_err *e) {
  key_t k = ftok(path, proj);
  if (k == (key_t)-1) fail(e, "ftok", errno);
  (void)L;
  return (int)k;
}

/***
Opens a segment: attaches it, creating it when asked, and counts this handle
in the memory counter.
@function open
@tparam table opts `key` (integer or `PRIVATE`) or `path` and `proj` (`ftok`;
`proj` 1..255 or one character, default 1); `size` (bytes, required to create;
an existing segment smaller than it is `EINVAL`); `create` (`false`: attach
only; `true`: attach or create; `"exclusive"`: create only); `mode`
(permission bits of a new segment, default `0600`, e.g. `tonumber("640", 8)`;
execute bits and write without read are refused); `readonly`; `persist`
(the segment outlives its last user); `any_owner` (trust a segment and
bookkeeping whose owner or creator is another uid, refused with `EPERM` by
default). Integers may be given as floats with an exact integer value.
@treturn Segment the handle
@treturn boolean `true` when this call created the segment
@return[2] nil, message (`"shmget: No such file or directory"`), errno
@raise on an unknown option, a wrong type or value (`"unknown option 'sise'"`)
@usage local seg, created = assert(smo.open{ path = "/tmp/x", proj = "A", size = 4096, create = true })
if created then seg:fill(0, 4096) end
*/
static int smo_open(lua_State *L) {
  open_req rq;
  open_err e;
  smo_seg *h;
  int created, t, has_path;
  luaL_checktype(L, 1, LUA_TTABLE);
  check_option_names(L, 1, open_options);
  memset(&rq, 0, sizeof rq);
  memset(&e, 0, sizeof e);

  t = opt_field(L, 1, "create");
  if (t == LUA_TBOOLEAN) rq.create = lua_toboolean(L, -1);
  else if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "exclusive") == 0) rq.create = OPEN_CREATE_EXCL;
  else if (t != LUA_TNIL) luaL_error(L, "option 'create' must be true, false or \"exclusive\"");
  lua_pop(L, 1);

  t = opt_field(L, 1, "size");
  if (t != LUA_TNIL) {
    lua_Integer n = 0;
    int rc = smo_tointeger(L, -1, &n);
    if (rc < 0) luaL_error(L, "option 'size' must be an integer");
    if (rc == 0) luaL_error(L, "option 'size': number has no integer representation");
    if (n <= 0) luaL_error(L, "option 'size' must be positive");
    rq.size = (size_t)n;
  } else if (rq.create) {
    luaL_error(L, "option 'size' is required to create a segment");
  }
  lua_pop(L, 1);

  rq.mode = opt_mode(L, 1);
  rq.readonly = opt_bool(L, 1, "readonly");
  rq.persist = opt_bool(L, 1, "persist");
  rq.any_owner = opt_bool(L, 1, "any_owner");

  has_path = opt_field(L, 1, "path") != LUA_TNIL;
  t = opt_field(L, 1, "key");
  if (t != LUA_TNIL && has_path) luaL_error(L, "give either option 'key' or 'path', not both");
  if (t != LUA_TNIL) {
    lua_Integer k = 0;
    int rc = smo_tointeger(L, -1, &k);
    if (rc < 0) luaL_error(L, "option 'key' must be an integer");
    if (rc == 0) luaL_error(L, "option 'key': number has no integer representation");
    if (k < -2147483648LL || k > 4294967295LL) luaL_error(L, "option 'key' out of range for key_t");
    rq.key = (int)(unsigned)(k & 0xffffffff);
    if (opt_field(L, 1, "proj") != LUA_TNIL) luaL_error(L, "option 'proj' goes with 'path', not 'key'");
    lua_pop(L, 1);
  } else if (has_path) {
    int proj = 1;
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "option 'path' must be a string");
    {
      size_t n;
      const char *p = lua_tolstring(L, -2, &n);
      if (strlen(p) != n) luaL_error(L, "option 'path' contains a NUL byte");
    }
    if (opt_field(L, 1, "proj") != LUA_TNIL) {
      if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        if (n != 1 || s[0] == '\0') luaL_error(L, "option 'proj' must be one character or an integer 1..255");
        proj = (unsigned char)s[0];
      } else {
        lua_Integer pv = 0;
        if (smo_tointeger(L, -1, &pv) != 1 || pv < 1 || pv > 255)
          luaL_error(L, "option 'proj' must be one character or an integer 1..255");
        proj = (int)pv;
      }
    }
    lua_pop(L, 1);
    rq.key = key_from_path(L, lua_tostring(L, -2), proj, &e);
    if (e.what) return push_openerror(L, &e);
  } else {
    luaL_error(L, "option 'key' or 'path' is required");
  }
  lua_pop(L, 2);

  if (rq.key == IPC_PRIVATE) {
    if (!rq.create) luaL_error(L, "a PRIVATE segment can only be created (set create), or attached by id with smo.attach");
    rq.is_private = 1;
  }
  h = new_handle(L);
  if (do_open(&rq, h, &created, &e) != 0) return push_openerror(L, &e);
  lua_pushboolean(L, created);
  return 2;
}

/***
Attaches a segment by id (a `PRIVATE` segment, or an id shown by `ipcs`). A
keyed segment joins its key's memory counter.
@function attach
@tparam integer shmid the segment id
@tparam[opt] table opts `readonly`, `any_owner`
@treturn Segment the handle
@return[2] nil, message, errno (`EINVAL` for a missing id)
@raise on a negative id or an unknown option
@usage local again = assert(smo.attach(seg:shmid()))
*/
static int smo_attach(lua_State *L) {
  open_req rq;
  open_err e;
  struct shmid_ds ds;
  smo_seg *h;
  lua_Integer id = smo_checkinteger(L, 1, "number");
  int created;
  luaL_argcheck(L, id >= 0 && id <= 0x7fffffff, 1, "shmid out of range");
  memset(&rq, 0, sizeof rq);
  memset(&e, 0, sizeof e);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_option_names(L, 2, attach_options);
    rq.readonly = opt_bool(L, 2, "readonly");
    rq.any_owner = opt_bool(L, 2, "any_owner");
  }
  if (shmctl((int)id, IPC_STAT, &ds) != 0) return push_oserror(L, "shmctl", errno);
  h = new_handle(L);
  rq.key = (int)ds.shm_perm.__key;
  if (rq.key != IPC_PRIVATE && shmget((key_t)rq.key, 0, 0) == (int)id) {
    if (do_open(&rq, h, &created, &e) != 0) return push_openerror(L, &e);
    if (h->shmid == (int)id) return 1;
    seg_release(h);              /* the key moved to another segment meanwhile */
  }
  if (attach_checked(&rq, (int)id, 0, h, NULL, &e) != 0) return push_openerror(L, &e);
  h->key = rq.key;
  h->semid = -1;
  return 1;
}

/***
The key of `ftok(path, proj)`, signed as `key_t` and `/proc/sysvipc` show it.
@function key
@tparam string path an existing file
@tparam integer|string proj 1..255, or a one-character string
@treturn integer the key
@return[2] nil, `"ftok: No such file or directory"`, `ENOENT`
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
  if (k == (key_t)-1) return push_oserror(L, "ftok", errno);
  lua_pushinteger(L, (lua_Integer)k);
  return 1;
}

/***
Removes the segment of a key and its bookkeeping at once; handles still open
keep their memory.
@function remove
@tparam integer key the key
@treturn boolean `true`
@return[2] nil, message, errno (`ENOENT` when no segment has the key)
@raise for `PRIVATE` (remove those by handle)
@usage smo.remove(smo.key("/tmp/x", "A"))
*/
static int smo_remove(lua_State *L) {
  int key = check_key(L, 1), semid = -1, shmid, rc, err = 0;
  bk_info bi;
  luaL_argcheck(L, key != IPC_PRIVATE, 1, "PRIVATE segments are removed by id: smo.attach(id):remove()");
  rc = bk_enter_key(key, 0, 0, 0, &semid, &bi);
  shmid = shmget((key_t)key, 0, 0);
  if (shmid < 0) err = errno;
  else if (shmctl(shmid, IPC_RMID, NULL) != 0) err = errno;
  if (rc == 0) {
    if (err == 0 || err == ENOENT) {   /* an orphan set goes too */
      bk_remove(semid);
    }
    else bk_leave(semid, 0);
  }
  if (err) return push_oserror(L, shmid < 0 ? "shmget" : "shmctl", err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ------------------------------------------------------ SMObject form */

/***
The SMObject form: a handle configured with a key and a size but not
attached; no system call is made until `create` or `access`.
@function new
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
  h->cfg_proj = proj;
  h->cfg_size = size;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

static smo_seg *check_configured(lua_State *L) {
  smo_seg *h = check_seg_any(L, 1);
  if (h->addr != NULL) luaL_error(L, "smobject is already attached (close it first)");
  if (h->cfg_proj == 0) luaL_error(L, "smobject was not made by smo.new (no path and proj to use)");
  return h;
}

/***
The segments this user can see.
@function list
@treturn {table,...} stat tables, as `Segment:stat` returns
@return[2] nil, message, errno
@usage for _, st in ipairs(smo.list()) do print(st.key, st.size) end
*/
/***
The kernel's shared memory limits (values above `math.maxinteger` read as it).
@function limits
@treturn table `shmmax`, `shmmin`, `shmmni`, `shmseg`, `shmall`
@return[2] nil, message, errno
@usage print(smo.limits().shmmni)
*/
/***
What only smobject knows of a key: its bookkeeping set. Never creates or
adjusts anything.
@function bookkeeping
@tparam integer key the key
@treturn table `semid`, `count` (the memory counter), `owned` (removed by its last user)
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
  lua_setiuservalue(L, 1, 1);
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

static int configured_open(lua_State *L, int create) {
  smo_seg *h = check_configured(L);
  open_req rq;
  open_err e;
  int created;
  memset(&rq, 0, sizeof rq);
  memset(&e, 0, sizeof e);
  lua_getiuservalue(L, 1, 1);
  rq.key = key_from_path(L, lua_tostring(L, -1), h->cfg_proj, &e);
  if (e.what) return push_openerror(L, &e);
  rq.size = h->cfg_size;
  rq.create = create;
  rq.mode = 0600;
  h->shmid = -1;
  if (do_open(&rq, h, &created, &e) != 0) return push_openerror(L, &e);
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
static int seg_create(lua_State *L) { return configured_open(L, 1); }

/***
Attaches an SMObject handle to an existing segment and counts.
@function Segment:access
@treturn boolean `true`
@return[2] nil, message, errno (`ENOENT` when missing, `EINVAL` when smaller than the size)
@raise when already attached
@usage assert(smo.new("/tmp/x", "M", 1024):access())
*/
static int seg_access(lua_State *L) { return configured_open(L, 0); }

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
  int count;
  if (h->semid < 0) luaL_error(L, "this smobject has no memory counter (PRIVATE or foreign key)");
  if (getpid() != h->pid) luaL_error(L, "a forked child holds no share of its parent's counter");
  if (h->counted) {
    int rc = bk_enter(h->semid, -1, 0);
    if (rc == EIDRM || rc == EINVAL) return push_oserror(L, "semop", EIDRM);
    if (rc && rc != BK_NOT_COUNTED) return push_oserror(L, "semop", rc);
    h->counted = 0;
    count = bk_get(h->semid, BK_COUNT);
    bk_leave(h->semid, 0);
  } else {
    count = bk_get(h->semid, BK_COUNT);
  }
  if (count < 0) return push_oserror(L, "semctl", errno == EINVAL ? EIDRM : errno);
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
  seg_release(check_seg_any(L, 1));
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
  if (h->addr == NULL) lua_pushliteral(L, "smobject (closed)");
  else if (h->key == IPC_PRIVATE)
    lua_pushfstring(L, "smobject (PRIVATE, shmid %d, %I bytes)", h->shmid, (lua_Integer)h->size);
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
  if (h->semid < 0) {
    struct shmid_ds ds;
    if (shmctl(h->shmid, IPC_STAT, &ds) != 0) return push_oserror(L, "shmctl", errno);
    lua_pushinteger(L, (lua_Integer)ds.shm_nattch);
  } else {
    int n = bk_get(h->semid, BK_COUNT);
    if (n < 0) return push_oserror(L, "semctl", errno == EINVAL ? EIDRM : errno);
    lua_pushinteger(L, n);
  }
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
  int err = 0;
  /* under the gate, so that no open or close of another process is half done */
  int gated = h->semid >= 0 && bk_is_ours(h->semid) && bk_enter(h->semid, 0, 1) == 0;
  if (shmctl(h->shmid, IPC_RMID, NULL) != 0) err = errno;
  if (gated) {
    bk_remove(h->semid);
  }
  if (err) return push_oserror(L, "shmctl", err);
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
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* Linux's "unlimited" defaults exceed a Lua integer: clamp them to maxinteger. */
static void push_limit(lua_State *L, const char *name, unsigned long v) {
  lua_pushinteger(L, v > (unsigned long)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)v);
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
  int key = check_key(L, 1), semid = semget((key_t)key, 0, 0);
  if (semid < 0) return push_oserror(L, "semget", errno);
  if (!bk_is_ours(semid)) return push_oserror(L, "semget", EEXIST);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, semid); lua_setfield(L, -2, "semid");
  lua_pushinteger(L, bk_get(semid, BK_COUNT)); lua_setfield(L, -2, "count");
  lua_pushboolean(L, bk_get(semid, BK_OWNED) == 1); lua_setfield(L, -2, "owned");
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
  { "__gc", seg_close },
  { "__close", seg_close },
  { "__tostring", seg_tostring },
  { "__len", seg_size },
  { NULL, NULL }
};

void segment_open(lua_State *L) {
  register_funcs(L, SMO_MODULE, segment_functions);
  register_funcs(L, SMO_METHODS, segment_methods);
  register_funcs(L, SMO_META, segment_metamethods);
}
