/***
@module smobject
*/

/*
 * Struct views: the hot path of field access.  The layout logic lives in Lua
 * (lua/smobject/struct.lua); it compiles each layout once into a vtype, a
 * userdata with a field table, and a view is a userdata of (segment, vtype,
 * base offset) whose __index/__newindex read that table.  Field names are
 * found by the address of their interned text, as C type names are
 * (access.h); sub-views of nested structs and arrays are made once and cached.
 *
 * A compiled layout is checked whole when compiled (every field inside its
 * parent, sizes without overflow, nesting bounded), whoever described it; a
 * view is checked against its segment's size when made.  A view belongs to
 * one attachment of its handle (attach_gen): the size of that attachment
 * never changes, so an access only needs the attachment to be the same.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <limits.h>

#include "access.h"
#include "areas.h"
#include "lock.h"

#define VIEW_MAGIC 0x5745495645534d53ULL   /* "SMSEVIEW" */
#define SHORT_NAME 40                       /* LUAI_MAXSHORTLEN: longer names are not interned */

/* The limits struct.lua enforces with clear errors, checked again here:
 * sizes up to 2^53 bytes, 100 levels of nesting, 2^20 fields. */
#define LAYOUT_MAX_DEPTH 100
#define LAYOUT_MAX_FIELDS (1 << 20)
#if SIZE_MAX >= 9007199254740992ULL
#define LAYOUT_MAX_SIZE ((lua_Integer)1 << 53)
#else
#define LAYOUT_MAX_SIZE ((lua_Integer)(SIZE_MAX / 2))
#endif
#define VIEW_MAX_SUBSLOTS 64                /* sub-views cached in user values; more go to the table */

enum { VK_SCALAR, VK_STRING, VK_STRUCT, VK_ARRAY };

typedef struct vtype vtype;

typedef struct vfield {
  const char *name;       /* interned text, anchored by the vtype's user value */
  size_t namelen;
  int name_ref;           /* the name in the anchors table (copies push it from there) */
  int kind;
  int code;               /* C type code of a scalar */
  size_t offset, size;
  const vtype *type;      /* struct or array */
  int slot;               /* user value caching its sub-view (struct members), 0: none */
} vfield;

struct vtype {
  int kind;               /* VK_STRUCT or VK_ARRAY */
  int layout_ref;         /* the Lua layout, in the anchors table */
  size_t size;
  size_t count;           /* arrays: elements, each elem.size bytes */
  vfield elem;
  int nfields, slots;     /* structs: fields and name probe table */
  int nsub;               /* struct members that are sub-views (one user value each) */
  vfield *fields;
  const char **ptext;
  int *pidx;
};

typedef struct view {
  unsigned long long magic;
  smo_seg *seg;
  const vtype *type;
  size_t base;
  unsigned gen;           /* the handle's attach_gen when the view was made */
} view;

/* Upvalues of view functions: see set_view_funcs. */
#define VIEW_FIRST_SLOT 4   /* user values: 1 segment, 2 layout, 3 element cache, 4.. sub-views */
#define VIEW_META lua_upvalueindex(1)
#define VIEW_METHODS lua_upvalueindex(2)
#define VIEW_CTYPES lua_upvalueindex(4)
#define VIEW_HOLDER_META lua_upvalueindex(5)

#define STALE_MESSAGE "attempt to use a view of an earlier attachment (make a new view)"

static unsigned name_slot(const char *p, int slots) {
  uintptr_t v = (uintptr_t)p;
  return (unsigned)((v >> 4) ^ (v >> 11)) & (unsigned)(slots - 1);
}

/* ---------------------------------------------------------- compiling */

/*
 * A description (made by struct.lua) is read with raw accesses only and
 * every number in it is checked, so that no table, however made, can give a
 * vtype that reaches outside its own size.
 */

static SMO_NORETURN void raise_desc(lua_State *L, const char *what) {
  smo_error(L, "layout: %s", what);
}

/* Pushes t[key] of the table at idx (raw). */
static int raw_field(lua_State *L, int idx, const char *key) {
  idx = smo_absindex(L, idx);
  lua_pushstring(L, key);
  return smo_rawget(L, idx);
}

/* The integer t[key] of the description at idx, within lo..hi (a missing
 * key gives dflt when dflt >= 0). */
static size_t desc_integer(lua_State *L, int idx, const char *key, lua_Integer lo, lua_Integer hi, lua_Integer dflt) {
  lua_Integer v;
  int type = raw_field(L, idx, key);
  if (type == LUA_TNIL && dflt >= 0) {
    v = dflt;
  } else {
    if (!smo_isint(L, -1)) raise_desc(L, smo_pushf(L, "'%s' must be an integer", key));
    v = smo_toint(L, -1);
    if (v < lo || v > hi) raise_desc(L, smo_pushf(L, "'%s' out of range (%lld)", key, (long long)v));
  }
  lua_pop(L, 1);
  return (size_t)v;
}

/* The kind string of the description at idx, as its VK_ code. */
static int desc_kind(lua_State *L, int idx, int field) {
  const char *k;
  int kind = -1;
  if (raw_field(L, idx, "kind") != LUA_TSTRING) raise_desc(L, "'kind' must be a string");
  k = lua_tostring(L, -1);
  if (strcmp(k, "struct") == 0 || strcmp(k, "union") == 0) kind = VK_STRUCT;
  else if (strcmp(k, "array") == 0) kind = VK_ARRAY;
  else if (field && strcmp(k, "scalar") == 0) kind = VK_SCALAR;
  else if (field && strcmp(k, "string") == 0) kind = VK_STRING;
  if (kind < 0) raise_desc(L, smo_pushf(L, "unknown kind '%s'", k));
  lua_pop(L, 1);
  return kind;
}

static const vtype *compile_type(lua_State *L, int desc, int anchors, int depth);

/* Reads the field description at stack index d into f, which must lie
 * within a parent of `room` bytes; anchors holds what f points to. */
static void compile_field(lua_State *L, int d, vfield *f, int anchors, int depth, size_t room) {
  if (lua_type(L, d) != LUA_TTABLE) raise_desc(L, "a field description must be a table");
  f->kind = desc_kind(L, d, 1);
  f->offset = desc_integer(L, d, "offset", 0, LAYOUT_MAX_SIZE, 0);
  f->size = desc_integer(L, d, "size", 1, LAYOUT_MAX_SIZE, -1);
  if (f->offset > room || f->size > room - f->offset) raise_desc(L, "a field lies outside its struct");
  f->type = NULL;
  if (f->kind == VK_SCALAR) {
    raw_field(L, d, "ctype");
    if (lua_type(L, -1) != LUA_TSTRING || smo_rawget(L, VIEW_CTYPES) != LUA_TNUMBER) raise_desc(L, "unknown C type");
    f->code = (int)smo_toint(L, -1);
    lua_pop(L, 1);
    if (f->size != ctype_width[f->code]) raise_desc(L, "a scalar's size is not its C type's");
  } else if (f->kind != VK_STRING) {
    raw_field(L, d, "type");
    f->type = compile_type(L, lua_gettop(L), anchors, depth + 1);
    lua_pop(L, 1);
    if (f->type->size != f->size) raise_desc(L, "a field's size is not its type's");
  }
}

/*
 * desc (a Lua table made by struct.lua) -> vtype, a userdata kept alive by
 * the anchors table (so the top type's holder keeps everything alive).
 */
static const vtype *compile_type(lua_State *L, int desc, int anchors, int depth) {
  int nfields = 0, slots = 1, i, kind;
  size_t bytes, size;
  vtype *t;
  if (depth > LAYOUT_MAX_DEPTH) raise_desc(L, smo_pushf(L, "nested deeper than %d levels", LAYOUT_MAX_DEPTH));
  luaL_checkstack(L, 12, "layout too deep");
  if (lua_type(L, desc) != LUA_TTABLE) raise_desc(L, "a type description must be a table");
  kind = desc_kind(L, desc, 0);
  size = desc_integer(L, desc, "size", 1, LAYOUT_MAX_SIZE, -1);
  if (kind == VK_STRUCT) {
    uint64_t n;
    if (raw_field(L, desc, "fields") != LUA_TTABLE) raise_desc(L, "'fields' must be a table");
    n = smo_rawlen(L, -1);
    lua_pop(L, 1);
    if (n == 0 || n > LAYOUT_MAX_FIELDS) raise_desc(L, "a struct needs 1 to 2^20 fields");
    nfields = (int)n;
    while (slots < 2 * nfields + 2) slots *= 2;
  }
  bytes = sizeof(vtype) + (size_t)nfields * sizeof(vfield) + (size_t)slots * (sizeof(char *) + sizeof(int));
  t = (vtype *)smo_newud(L, bytes, 0);
  memset(t, 0, bytes);
  luaL_ref(L, anchors);                   /* anchored, off the stack */
  raw_field(L, desc, "layout");
  t->layout_ref = luaL_ref(L, anchors);
  t->size = size;
  if (kind == VK_ARRAY) {
    t->kind = VK_ARRAY;
    t->count = desc_integer(L, desc, "count", 1, (lua_Integer)size, -1);
    raw_field(L, desc, "elem");
    compile_field(L, lua_gettop(L), &t->elem, anchors, depth, size);
    lua_pop(L, 1);
    t->elem.offset = 0;
    /* count x elem.size == size, without overflow (count <= size) */
    if (t->elem.size > size / t->count || t->elem.size * t->count != size)
      raise_desc(L, "an array's size is not count x element size");
    return t;
  }
  t->kind = VK_STRUCT;
  t->nfields = nfields;
  t->slots = slots;
  t->fields = (vfield *)(void *)(t + 1);
  t->ptext = (const char **)(void *)(t->fields + nfields);
  t->pidx = (int *)(void *)(t->ptext + slots);
  raw_field(L, desc, "fields");
  for (i = 0; i < nfields; i++) {
    vfield *f = &t->fields[i];
    unsigned s;
    smo_rawgeti(L, -1, i + 1);
    if (lua_type(L, -1) != LUA_TTABLE) raise_desc(L, "a field description must be a table");
    if (raw_field(L, -1, "name") != LUA_TSTRING) raise_desc(L, "a field needs a name");
    f->name = lua_tolstring(L, -1, &f->namelen);
    f->name_ref = luaL_ref(L, anchors);   /* keeps the interned name alive */
    compile_field(L, lua_gettop(L), f, anchors, depth, size);
    if ((f->kind == VK_STRUCT || f->kind == VK_ARRAY) && t->nsub < VIEW_MAX_SUBSLOTS)
      f->slot = VIEW_FIRST_SLOT + t->nsub++;
    for (s = name_slot(f->name, slots); t->ptext[s] != NULL; s = (s + 1) & (unsigned)(slots - 1)) {}
    t->ptext[s] = f->name;
    t->pidx[s] = i;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return t;
}

/* core.compile_layout(desc) -> holder: a userdata of the holder metatable
 * pointing to the vtype (its user value anchors names and sub-types). */
static int smo_compile_layout(lua_State *L) {
  int anchors;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_newtable(L);
  anchors = 2;
  {
    const vtype *top = compile_type(L, 1, anchors, 1);
    const vtype **holder = (const vtype **)smo_newud(L, sizeof(vtype *), 1);
    *holder = top;
    lua_pushvalue(L, anchors);
    smo_setuv(L, -2, 1);
    lua_pushvalue(L, VIEW_HOLDER_META);
    lua_setmetatable(L, -2);
  }
  return 1;
}

/* The vtype of the holder at idx, or NULL when it is not one. */
static const vtype *to_holder(lua_State *L, int idx) {
  const vtype **holder = (const vtype **)lua_touserdata(L, idx);
  int ok;
  if (holder == NULL || smo_rawlen(L, idx) != sizeof(vtype *) || !lua_getmetatable(L, idx)) return NULL;
  ok = lua_rawequal(L, -1, VIEW_HOLDER_META);
  lua_pop(L, 1);
  return ok ? *holder : NULL;
}

/* ------------------------------------------------------------- views */

static SMO_NORETURN void raise_not_view(lua_State *L, int idx) {
  smo_typeerror(L, idx, "smobject view");
}

/* Registry key of view.lua's words for an unknown field (core.view_hint). */
static const char hint_key = 'h';

/* Pushes the Lua layout of type t, a type of the view at 1 (error paths). */
static void push_layout(lua_State *L, const vtype *t) {
  smo_getuv(L, 1, 2);           /* holder */
  smo_getuv(L, -1, 1);          /* anchors */
  smo_rawgeti(L, -1, t->layout_ref);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* Pushes the C name of type t of the view at 1 ("float[8]"; error paths). */
static const char *push_type_name(lua_State *L, const vtype *t) {
  push_layout(L, t);
  if (lua_type(L, -1) != LUA_TTABLE || smo_getfield(L, -1, "name") != LUA_TSTRING) {
    lua_settop(L, lua_gettop(L) - 1);
    lua_pushstring(L, t->kind == VK_ARRAY ? "the array" : "the struct");
  }
  lua_remove(L, -2);
  return lua_tostring(L, -1);
}

/* The key at idx names no field of struct type t (of the view at 1): the
 * message names the type and the closest field, or lists the fields (words
 * view.lua gives: only the error path pays for them). */
static SMO_NORETURN void raise_bad_key(lua_State *L, const vtype *t, int idx) {
  idx = smo_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TSTRING) smo_error(L, "struct fields are named by strings, not by %s", luaL_typename(L, idx));
  luaL_checkstack(L, 4, NULL);
  if (smo_rawgetp(L, LUA_REGISTRYINDEX, &hint_key) == LUA_TFUNCTION) {
    push_layout(L, t);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
      smo_error(L, "unknown field '%s'%s", lua_tostring(L, idx), lua_tostring(L, -1));
  }
  smo_error(L, "unknown field '%s'", lua_tostring(L, idx));
}

/* A view whose attachment ended: its handle is closed, or attached again. */
static SMO_NORETURN void raise_dead(lua_State *L, const view *v) {
  if (v->seg->state != SMO_ATTACHED) raise_closed(L, v->seg);
  smo_error(L, STALE_MESSAGE);
}

static int is_view(lua_State *L, int idx, const view *v) {
  return v != NULL && smo_rawlen(L, idx) == sizeof(view) && v->magic == VIEW_MAGIC;
}

/* The live view at idx (one test more than a closed check: the generation). */
static view *check_view(lua_State *L, int idx) {
  view *v = (view *)lua_touserdata(L, idx);
  if (!is_view(L, idx, v)) raise_not_view(L, idx);
  if (v->seg->state != SMO_ATTACHED || v->gen != v->seg->attach_gen) raise_dead(L, v);
  return v;
}

/* Pushes a new view of type t at base of attachment gen, sharing the
 * segment (user value 1) and the layout holder (user value 2) at seg_idx and
 * holder_idx. */
static view *push_view(lua_State *L, smo_seg *seg, unsigned gen, const vtype *t, size_t base, int seg_idx,
                       int holder_idx) {
  view *v = (view *)smo_newud(L, sizeof(view), VIEW_FIRST_SLOT - 1 + t->nsub);
  v->magic = VIEW_MAGIC;
  v->seg = seg;
  v->type = t;
  v->base = base;
  v->gen = gen;
  lua_pushvalue(L, seg_idx);
  smo_setuv(L, -2, 1);
  lua_pushvalue(L, holder_idx);
  smo_setuv(L, -2, 2);
  lua_pushvalue(L, VIEW_META);
  lua_setmetatable(L, -2);
  return v;
}

/* nil, n, why[, segment size]: argument n of new_view (and of seg:view) is
 * wrong; view.lua words the error at its caller's line. */
static int view_refused(lua_State *L, int n, const char *why, size_t segsize) {
  lua_pushnil(L);
  lua_pushinteger(L, n);
  lua_pushstring(L, why);
  lua_pushinteger(L, (lua_Integer)segsize);
  return 4;
}

/* core.new_view(seg, holder, offset) -> view, or nil, n, why, size: why is
 * "handle" (1 is not one), "closed", "layout" (2 is false: not a struct or
 * array layout), "type" or "integer" (3 is not an integer), "fit" (the view
 * does not fit in the segment).  Any other holder than a compiled layout
 * raises. */
static int smo_new_view(lua_State *L) {
  smo_seg *h = (smo_seg *)lua_touserdata(L, 1);
  const vtype *t = NULL;
  lua_Integer off;
  int isint;
  if (lua_toboolean(L, 2)) {
    t = to_holder(L, 2);
    if (t == NULL) smo_typeerror(L, 2, "compiled layout");
  }
  if (h == NULL || smo_rawlen(L, 1) != sizeof(smo_seg) || h->magic != SMO_MAGIC) return view_refused(L, 1, "handle", 0);
  if (h->state != SMO_ATTACHED) return view_refused(L, 1, "closed", 0);
  if (t == NULL) return view_refused(L, 2, "layout", h->size);
  if (lua_type(L, 3) != LUA_TNUMBER) return view_refused(L, 3, "type", h->size);
  off = smo_tointx(L, 3, &isint);
  if (!isint) return view_refused(L, 3, "integer", h->size);
  if (off < 0 || t->size > h->size || (size_t)off > h->size - t->size) return view_refused(L, 3, "fit", h->size);
  push_view(L, h, h->attach_gen, t, (size_t)off, 1, 2);
  return 1;
}

/* The field of struct view type t named by the string at idx, or NULL. */
static const vfield *find_field(lua_State *L, const vtype *t, int idx) {
  size_t len;
  const char *p;
  unsigned s;
  if (lua_type(L, idx) != LUA_TSTRING) return NULL;
  p = lua_tolstring(L, idx, &len);
  for (s = name_slot(p, t->slots); t->ptext[s] != NULL; s = (s + 1) & (unsigned)(t->slots - 1))
    if (t->ptext[s] == p) return &t->fields[t->pidx[s]];
  if (len > SHORT_NAME)   /* long names are not interned: compare the text */
    for (int i = 0; i < t->nfields; i++)
      if (t->fields[i].namelen == len && memcmp(t->fields[i].name, p, len) == 0) return &t->fields[i];
  return NULL;
}

/* Pushes a new view of the struct/array field f of the view at 1, sharing
 * its segment and layout. */
static void push_new_subview(lua_State *L, const view *v, const vfield *f) {
  smo_getuv(L, 1, 1);
  smo_getuv(L, 1, 2);
  push_view(L, v->seg, v->gen, f->type, v->base + f->offset, lua_gettop(L) - 1, lua_gettop(L));
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* The sub-view of the struct/array field f of the view at 1, made once: a
 * struct member's is cached in its own user value, an array element's in a
 * table under key. */
static void push_subview(lua_State *L, view *v, const vfield *f, lua_Integer key) {
  if (f->slot) {
    if (smo_getuv(L, 1, f->slot) == LUA_TUSERDATA) return;
    lua_pop(L, 1);
    push_new_subview(L, v, f);
    lua_pushvalue(L, -1);
    smo_setuv(L, 1, f->slot);
    return;
  }
  if (smo_getuv(L, 1, 3) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    smo_setuv(L, 1, 3);
  }
  if (smo_rawgeti(L, -1, key) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    push_new_subview(L, v, f);
    lua_pushvalue(L, -1);
    smo_rawseti(L, -3, key);
  }
  lua_remove(L, -2);
}

static const char *field_prefix(lua_State *L, const vfield *f);

/* Pushes scalar field f at p; where numbers are doubles, a 64-bit value
 * beyond +-2^53 raises naming the field (the test folds away on 5.3+). */
static inline void push_field_scalar(lua_State *L, const vfield *f, const unsigned char *p) {
  if (!scalar_exact(f->code, p)) raise_inexact(L, field_prefix(L, f), NULL, f->code, p, -1);
  push_scalar(L, f->code, p);
}

/* Pushes the value of field f at p (scalars, strings) or its sub-view. */
static void push_field(lua_State *L, view *v, const vfield *f, const unsigned char *p, lua_Integer key) {
  switch (f->kind) {
    case VK_SCALAR: push_field_scalar(L, f, p); break;
    case VK_STRING: {
      const void *nul = memchr(p, 0, f->size);
      lua_pushlstring(L, (const char *)p, nul ? (size_t)((const unsigned char *)nul - p) : f->size);
      break;
    }
    default: push_subview(L, v, f, key); break;
  }
}

static int raise_index(lua_State *L, const view *v, lua_Integer i) {
  return smo_error(L, "index %lld out of range (array of %lld elements, indices 0..%lld)", (long long)i,
                   (long long)v->type->count, (long long)v->type->count - 1);
}

static int raise_unknown(lua_State *L, const view *v, int idx) {
  if (v->type->kind == VK_ARRAY) {
    return smo_error(L, "array views are indexed by integers 0..%lld, not by %s", (long long)v->type->count - 1,
                     lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : luaL_typename(L, idx));
  }
  raise_bad_key(L, v->type, idx);
}

/* The array index at idx into *i: an integer, or a float with an exact
 * integer value (raises for others); 0 when idx is not a number. */
static inline int array_index(lua_State *L, int idx, lua_Integer *i) {
  int isint;
  if (smo_isint(L, idx)) {
    *i = smo_toint(L, idx);
    return 1;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  *i = smo_tointx(L, idx, &isint);
  if (!isint) smo_error(L, "array index: number has no integer representation");
  return 1;
}

/***
Struct views: the fields of a layout in shared memory (`seg:view(T, offset)`).
@section views
*/

/***
`v.field` / `a[i]`: a scalar reads as a number or boolean, `char[N]` as a
string (up to its first NUL, or all N bytes when there is none), a nested
struct or array as a sub-view (made once, then cached). Array views index
from 0, as C does. Fields come before view methods.
@function View:__index
@raise on an unknown field, naming the struct and the closest field or
listing the fields (`"unknown field 'nmae' in struct telemetry (did you mean
'name'?)"`), an index out of range, a closed segment
@usage local lat = v.gps.lat
*/
static int view_index(lua_State *L) {
  view *v = check_view(L, 1);
  const vtype *t = v->type;
  if (t->kind == VK_STRUCT) {
    const vfield *f = find_field(L, t, 2);
    if (f != NULL) {
      push_field(L, v, f, v->seg->addr + v->base + f->offset, (lua_Integer)(f - t->fields) + 1);
      return 1;
    }
  } else {
    lua_Integer i;
    if (array_index(L, 2, &i)) {
      if (i >= 0 && (size_t)i < t->count) {
        vfield f = t->elem;
        f.offset = (size_t)i * t->elem.size;
        push_field(L, v, &f, v->seg->addr + v->base + f.offset, i + 1);
        return 1;
      }
      return raise_index(L, v, i);
    }
  }
  lua_pushvalue(L, 2);
  if (smo_rawget(L, VIEW_METHODS) != LUA_TNIL) return 1;
  return raise_unknown(L, v, 2);
}

/* ------------------------------------------------------------- writes */

/* Options of set (and get): { partial = true }, { zero_based = true }. */
#define OPT_PARTIAL 1                 /* an array table may give some elements only */
#define OPT_ZERO 2                    /* array tables are 0-based, as views are */

/* The options table at idx (none or nil: none), of the options allowed. */
static int read_options(lua_State *L, int idx, int allowed) {
  int flags = 0;
  const char *names = (allowed & OPT_PARTIAL) ? "partial, zero_based" : "zero_based";
  if (lua_isnoneornil(L, idx)) return 0;
  if (lua_type(L, idx) != LUA_TTABLE) smo_typeerror(L, idx, "options table");
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int bit = 0;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (k != NULL && strcmp(k, "partial") == 0) bit = OPT_PARTIAL;
    else if (k != NULL && strcmp(k, "zero_based") == 0) bit = OPT_ZERO;
    if (!(bit & allowed)) {
      luaL_argerror(L, idx, smo_pushf(L, "unknown option '%s' (options: %s)", smo_tolstring(L, -2, NULL), names));
    }
    if (lua_type(L, -1) != LUA_TBOOLEAN)
      luaL_argerror(L, idx, smo_pushf(L, "option '%s' must be a boolean, got %s", k, luaL_typename(L, -1)));
    if (lua_toboolean(L, -1)) flags |= bit;
    lua_pop(L, 1);
  }
  return flags;
}

/* A field's place in messages: "field 'x': ", "array element: ", or, for
 * the whole view given to set (slot -1), "set: ". */
static const char *field_prefix(lua_State *L, const vfield *f) {
  if (f->name) return smo_pushf(L, "field '%s': ", f->name);
  return f->slot < 0 ? "set: " : "array element: ";
}

static void store_value(lua_State *L, view *v, const vfield *f, unsigned char *p, int val, int flags, int write);

/* The bits of the value at val for scalar field f; raises naming the field. */
static uint64_t field_bits(lua_State *L, const vfield *f, int val) {
  uint64_t bits = 0;
  const char *why;
  if (f->code <= CT_U64 && smo_isint(L, val)) {
    lua_Integer x = smo_toint(L, val);
    if (f->code >= CT_I64 || (x >= int_min[f->code] && x <= int_max[f->code])) return (uint64_t)x;
  }
  why = scalar_convert(L, val, f->code, &bits);
  if (why != NULL) {
    if (f->name) smo_error(L, "field '%s': %s", f->name, why);
    smo_error(L, "array element: %s", why);
  }
  return bits;
}

/* A string of len bytes does not fit char[N] field f with its NUL. */
static SMO_NORETURN void raise_string(lua_State *L, const vfield *f, size_t len) {
  const char *pre = field_prefix(L, f);
  long long n = (long long)f->size;
  if (len > f->size) {
    smo_error(L, "%sstring of %lld bytes is too long for char[%lld] (%lld bytes and the NUL at most)", pre, (long long)len,
              n, n - 1);
  }
  if (f->name) smo_pushf(L, "set_bytes(\"%s\", s)", f->name);
  else lua_pushliteral(L, "set_bytes(path, s)");
  smo_error(L, "%sstring of %lld bytes leaves no room for the NUL of char[%lld] (%lld bytes at most; %s writes all %lld without one)",
            pre, (long long)len, n, n - 1, lua_tostring(L, -1), n);
}

/* A table of n values for array field f (of type t) that takes them all. */
static SMO_NORETURN void raise_count(lua_State *L, const vfield *f, const vtype *t, lua_Integer n, lua_Integer base) {
  const char *pre = field_prefix(L, f);
  long long c = (long long)t->count;
  smo_error(L, "%sa table of %lld values for %s (%lld elements, keys %lld..%lld): give all %lld, or pass { partial = true } to set",
            pre, (long long)n, push_type_name(L, t), c, (long long)base, c - 1 + base, c);
}

/* Key k of a table for array field f (of type t) is out of range. */
static SMO_NORETURN void raise_key(lua_State *L, const vfield *f, const vtype *t, lua_Integer k, lua_Integer base) {
  const char *pre = field_prefix(L, f);
  long long c = (long long)t->count;
  smo_error(L, "%skey %lld out of range for %s (a sequence, keys %lld..%lld%s)", pre, (long long)k, push_type_name(L, t),
            (long long)base, c - 1 + base, k == 0 && base == 1 ? "; a 0-based table needs { zero_based = true }" : "");
}

/* Checks (write = 0) or writes (write = 1) the table at val into the struct
 * or array field f at p.  A struct's table may name some fields only (unknown
 * names raise); an array's must give every element (keys 1..n, or 0..n-1
 * with OPT_ZERO) unless OPT_PARTIAL. */
static void store_table(lua_State *L, view *v, const vfield *f, unsigned char *p, int val, int flags, int write) {
  const vtype *t = f->type;
  lua_Integer base = (flags & OPT_ZERO) ? 0 : 1, n = 0, bad = 0;
  int has_bad = 0;
  luaL_checkstack(L, 6, "value too deep");
  if (lua_type(L, val) != LUA_TTABLE) {
    smo_error(L, "a table is needed to set a %s, got %s", t->kind == VK_ARRAY ? "array" : "struct",
               luaL_typename(L, val));
  }
  lua_pushnil(L);
  while (lua_next(L, val) != 0) {
    int vi = lua_gettop(L);
    if (t->kind == VK_STRUCT) {
      const vfield *m = find_field(L, t, vi - 1);
      if (m == NULL) raise_bad_key(L, t, vi - 1);
      store_value(L, v, m, p + m->offset, vi, flags, write);
    } else {
      lua_Integer i;
      vfield e = t->elem;
      if (!smo_isint(L, vi - 1)) {
        smo_error(L, "%sarrays are set from sequences (keys %lld..%lld)", field_prefix(L, f), (long long)base,
                  (long long)t->count - 1 + base);
      }
      i = smo_toint(L, vi - 1);
      n++;
      if (i < base || (uint64_t)(i - base) >= (uint64_t)t->count) {
        if (!has_bad) bad = i;
        has_bad = 1;
      } else {
        store_value(L, v, &e, p + (size_t)(i - base) * t->elem.size, vi, flags, write);
      }
    }
    lua_pop(L, 1);
  }
  if (t->kind == VK_ARRAY && !write) {
    if (!(flags & OPT_PARTIAL) && (uint64_t)n != (uint64_t)t->count) raise_count(L, f, t, n, base);
    if (has_bad) raise_key(L, f, t, bad, base);
  }
}

static void store_value(lua_State *L, view *v, const vfield *f, unsigned char *p, int val, int flags, int write) {
  switch (f->kind) {
    case VK_SCALAR: {
      uint64_t bits = field_bits(L, f, val);
      if (write) store_bits(p, f->code, bits);
      break;
    }
    case VK_STRING: {
      size_t len;
      const char *s;
      if (lua_type(L, val) != LUA_TSTRING)
        smo_error(L, "a string is needed for char[%lld], got %s", (long long)f->size, luaL_typename(L, val));
      s = lua_tolstring(L, val, &len);
      if (len >= f->size) raise_string(L, f, len);
      if (write) {
        memcpy(p, s, len);
        memset(p + len, 0, f->size - len);
      }
      break;
    }
    default:
      store_table(L, v, f, p, val, flags, write);
      break;
  }
}

/* Validates everything first, then writes: a bad value leaves memory alone. */
static void store_checked(lua_State *L, view *v, const vfield *f, unsigned char *p, int val, int flags) {
  if (v->seg->readonly) raise_readonly(L);
  store_value(L, v, f, p, val, flags, 0);
  store_value(L, v, f, p, val, flags, 1);
}

/***
`v.field = value`: writes a scalar (it must fit), a string into `char[N]`
(at most N-1 bytes: it is NUL-padded to N, so a C reader always finds a NUL;
`set_bytes` writes all N without one), or a table into a nested struct or
array (checked whole before anything is written): a struct's table may name
some fields only, an array's must give every element (a sequence, keys
1..n; `set` with `{ partial = true }` writes some).
@function View:__newindex
@raise on an unknown field (suggesting the closest name), a value that does
not fit, a string of N bytes or more, an array table of the wrong length, a
read-only or closed segment
@usage v.name = "rover"; v.gps = { lat = 1 }; v.samples = { 1, 2, 3, 4 }
*/
static int view_newindex(lua_State *L) {
  view *v = check_view(L, 1);
  const vtype *t = v->type;
  if (t->kind == VK_STRUCT) {
    const vfield *f = find_field(L, t, 2);
    if (f == NULL) raise_bad_key(L, t, 2);
    if (f->kind == VK_SCALAR) {   /* the hot path */
      uint64_t bits;
      if (v->seg->readonly) raise_readonly(L);
      bits = field_bits(L, f, 3);
      store_bits(v->seg->addr + v->base + f->offset, f->code, bits);
      return 0;
    }
    store_checked(L, v, f, v->seg->addr + v->base + f->offset, 3, 0);
    return 0;
  }
  {
    lua_Integer i;
    if (array_index(L, 2, &i)) {
      if (i >= 0 && (size_t)i < t->count) {
        store_checked(L, v, &t->elem, v->seg->addr + v->base + (size_t)i * t->elem.size, 3, 0);
        return 0;
      }
      return raise_index(L, v, i);
    }
  }
  return raise_unknown(L, v, 2);
}

/***
Writes a plain table into the view; every value is checked before any is
written. A struct's table may name some fields only; an array's (the view's
own, or a nested one) must give every element, as a sequence (keys 1..n),
unless `opts.partial`. Strings as in `v.field = s`.
@function View:set
@tparam table values fields by name, arrays as sequences
@tparam[opt] table opts `partial = true`: array tables may give some
elements only (the others are kept); `zero_based = true`: array tables have
keys 0..n-1, as the view's indices and the copies `get(into, { zero_based =
true })` gives
@treturn View the view
@raise on an unknown key, a value that does not fit, an array table of the
wrong length (without `partial`), an unknown option
@usage v:set{ x = 1, gps = { lon = 2 } }; v.samples:set({ 9, 9 }, { partial = true })
*/
static int view_set(lua_State *L) {
  view *v = check_view(L, 1);
  vfield whole;
  int flags;
  memset(&whole, 0, sizeof whole);
  whole.kind = v->type->kind == VK_ARRAY ? VK_ARRAY : VK_STRUCT;
  whole.type = v->type;
  whole.size = v->type->size;
  whole.slot = -1;                      /* messages say "set: " */
  luaL_checktype(L, 2, LUA_TTABLE);
  flags = read_options(L, 3, OPT_PARTIAL | OPT_ZERO);
  store_checked(L, v, &whole, v->seg->addr + v->base, 2, flags);
  lua_settop(L, 1);
  return 1;
}

/* ------------------------------------------------------------- reads */

/*
 * Copies are plain tables, made fresh or filled into a table the caller
 * gives: its nested tables are reused (a sealed object, whose metatable has
 * a __metatable field, is replaced, never written), its other keys are left
 * alone, and a string equal to the one it holds is kept, so that a reader
 * filling the same table again allocates nothing.  Only raw accesses: no
 * metamethod runs.
 */
typedef struct fill_ctx {
  const view *live;       /* a view read in place: checked again after anything that may run a finalizer */
  int names;              /* stack index of the anchors table (the field names), 0: none (a fresh copy) */
  lua_Integer base;       /* the first array key: 1, or 0 (zero_based) */
} fill_ctx;

/* A finalizer run by an allocation may have closed the segment. */
static inline void check_live(lua_State *L, const fill_ctx *c) {
  const view *v = c->live;
  if (v != NULL && (v->seg->state != SMO_ATTACHED || v->gen != v->seg->attach_gen)) raise_dead(L, v);
}

/* Whether the table at idx is a sealed object (its metatable protected). */
static int sealed(lua_State *L, const fill_ctx *c, int idx) {
  int is;
  if (!lua_getmetatable(L, idx)) return 0;
  lua_pushliteral(L, "__metatable");
  check_live(L, c);
  is = smo_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return is;
}

/* The length of the text in char[size] at q: up to its first NUL, or all. */
static size_t text_len(const unsigned char *q, size_t size) {
  const void *nul = memchr(q, 0, size);
  return nul ? (size_t)((const unsigned char *)nul - q) : size;
}

/* Whether the value at idx is the text of the char[size] at q. */
static int same_text(lua_State *L, int idx, const unsigned char *q, size_t size) {
  size_t len;
  const char *s;
  if (lua_type(L, idx) != LUA_TSTRING) return 0;
  s = lua_tolstring(L, idx, &len);
  return len == text_len(q, size) && memcmp(s, q, len) == 0;
}

static inline void push_text(lua_State *L, const fill_ctx *c, const unsigned char *q, size_t size) {
  lua_pushlstring(L, (const char *)q, text_len(q, size));
  check_live(L, c);
}

/* Pushes a new table for a copy of type t. */
static void new_copy(lua_State *L, const fill_ctx *c, const vtype *t) {
  if (t->kind == VK_ARRAY) {
    int n = t->count > INT32_MAX ? 0 : (int)t->count;
    if (c->base == 0) lua_createtable(L, n > 0 ? n - 1 : 0, 1);
    else lua_createtable(L, n, 0);
  } else {
    lua_createtable(L, 0, t->nfields);
  }
  check_live(L, c);
}

/* Pushes a new copy of type t found at p. */
static void push_copy(lua_State *L, const fill_ctx *c, const vtype *t, const unsigned char *p) {
  size_t i;
  luaL_checkstack(L, 4, "layout too deep");
  new_copy(L, c, t);
  if (t->kind == VK_ARRAY) {
    const vfield *f = &t->elem;
    for (i = 0; i < t->count; i++) {
      const unsigned char *q = p + i * f->size;
      if (f->kind == VK_SCALAR) push_field_scalar(L, f, q);
      else if (f->kind == VK_STRING) push_text(L, c, q, f->size);
      else push_copy(L, c, f->type, q);
      smo_rawseti(L, -2, (lua_Integer)i + c->base);
    }
    return;
  }
  for (i = 0; i < (size_t)t->nfields; i++) {
    const vfield *f = &t->fields[i];
    const unsigned char *q = p + f->offset;
    if (c->names) {
      smo_rawgeti(L, c->names, f->name_ref);   /* no allocation, however long */
    } else {
      lua_pushlstring(L, f->name, f->namelen);
      check_live(L, c);   /* (an allocation: 5.2 and 5.1 may run a finalizer here too) */
    }
    if (f->kind == VK_SCALAR) push_field_scalar(L, f, q);
    else if (f->kind == VK_STRING) push_text(L, c, q, f->size);
    else push_copy(L, c, f->type, q);
    lua_rawset(L, -3);
  }
}

static void fill_copy(lua_State *L, const fill_ctx *c, const vtype *t, const unsigned char *p, int tbl);

/* The key is on top, its value in the table at tbl (pushed, raw): fills
 * the table there with field f at q, or sets a new copy when there is no
 * table to reuse; a string equal to the one there is kept.  Pops the key. */
static void fill_field(lua_State *L, const fill_ctx *c, const vfield *f, const unsigned char *q, int tbl) {
  int type;
  if (f->kind == VK_SCALAR) {
    push_field_scalar(L, f, q);
    lua_rawset(L, tbl);
    return;
  }
  lua_pushvalue(L, -1);
  type = smo_rawget(L, tbl);
  if (f->kind == VK_STRING) {
    int same = type == LUA_TSTRING && same_text(L, -1, q, f->size);
    lua_pop(L, 1);
    if (same) {
      lua_pop(L, 1);
      return;
    }
    push_text(L, c, q, f->size);
  } else if (type == LUA_TTABLE && !sealed(L, c, -1)) {
    fill_copy(L, c, f->type, q, lua_gettop(L));
    lua_pop(L, 2);
    return;
  } else {
    lua_pop(L, 1);
    push_copy(L, c, f->type, q);
  }
  lua_rawset(L, tbl);
}

/* Fills the table at tbl with the copy of type t found at p. */
static void fill_copy(lua_State *L, const fill_ctx *c, const vtype *t, const unsigned char *p, int tbl) {
  size_t i;
  luaL_checkstack(L, 8, "layout too deep");
  if (t->kind == VK_ARRAY) {
    const vfield *f = &t->elem;
    if (f->kind == VK_SCALAR) {         /* the common case, straight into the array part */
      for (i = 0; i < t->count; i++) {
        push_field_scalar(L, f, p + i * f->size);
        smo_rawseti(L, tbl, (lua_Integer)i + c->base);
      }
      return;
    }
    for (i = 0; i < t->count; i++) {
      lua_pushinteger(L, (lua_Integer)i + c->base);
      fill_field(L, c, f, p + i * f->size, tbl);
    }
    return;
  }
  for (i = 0; i < (size_t)t->nfields; i++) {
    const vfield *f = &t->fields[i];
    smo_rawgeti(L, c->names, f->name_ref);
    fill_field(L, c, f, p + f->offset, tbl);
  }
}

/* The table to fill at idx: a table that is not a sealed object. */
static void check_into(lua_State *L, int idx) {
  fill_ctx none = { NULL, 0, 1 };
  if (lua_type(L, idx) != LUA_TTABLE || sealed(L, &none, idx)) smo_typeerror(L, idx, "table to fill");
}

/* The copy of type t at p, of the view at 1, into the table at tbl, or
 * pushed new when tbl holds nil (replacing it); live: the view read in place. */
static void copy_into(lua_State *L, const view *live, const vtype *t, const unsigned char *p, int tbl, int zero_based) {
  fill_ctx c;
  c.live = live;
  c.base = zero_based ? 0 : 1;
  c.names = 0;
  if (lua_isnil(L, tbl)) {
    push_copy(L, &c, t, p);
    lua_replace(L, tbl);
    return;
  }
  smo_getuv(L, 1, 2);           /* holder */
  smo_getuv(L, -1, 1);          /* anchors */
  lua_remove(L, -2);
  c.names = lua_gettop(L);
  fill_copy(L, &c, t, p, tbl);
  lua_pop(L, 1);
}

/***
A copy of the view's values as a plain table: nested structs as tables,
arrays as sequences (keys 1..n, as Lua's tables are, while the view's indices
are 0..n-1; `{ zero_based = true }` gives keys 0..n-1, as the view), `char[N]`
as strings (up to the first NUL, or all N bytes when there is none). Given a
table `into`, fills it instead: its nested tables are reused and its other
keys left alone, so a reader that fills the same table again allocates
nothing.
@function View:get
@tparam[opt] table into the table to fill (default: a new one)
@tparam[opt] table opts `zero_based = true`: arrays with keys 0..n-1
@treturn table the copy (`into` when given)
@raise when `into` is not a table, on an unknown option
@usage local copy = v:get(); v:get(reading); local z = v:get(nil, { zero_based = true })
*/
static int view_get(lua_State *L) {
  view *v = check_view(L, 1);
  int flags;
  if (!lua_isnoneornil(L, 2)) check_into(L, 2);
  flags = read_options(L, 3, OPT_ZERO);
  lua_settop(L, 2);
  copy_into(L, v, v->type, v->seg->addr + v->base, 2, flags & OPT_ZERO);
  return 1;
}

/* core.view_decode(v, bytes) -> the table v:get() would give for these bytes
 * (a snapshot taken with seg:snapshot). */
static int smo_view_decode(lua_State *L) {
  view *v = check_view(L, 1);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  luaL_argcheck(L, len == v->type->size, 2, "bytes do not match the view's size");
  lua_settop(L, 2);
  lua_pushnil(L);
  copy_into(L, NULL, v->type, (const unsigned char *)s, 3, 0);
  return 1;
}

/* core.view_snapshot(v, seq_offset, timeout, into, zero_based) -> the copy
 * of the view (into, or a new table) taken while the uint32_t counter at
 * segment offset seq_offset was even and unchanged, or nil, "timeout",
 * ETIMEDOUT (into untouched).  timeout: nil (1 s), seconds >= 0, math.huge.
 * view.lua checks the arguments with the words of View:snapshot; they are
 * checked here again.  The bytes go to a buffer kept in the view's user
 * value 3 (key 0), taken out while in use, and are decoded from there. */
static int smo_view_snapshot(lua_State *L) {
  view *v = check_view(L, 1);
  smo_seg *h = v->seg;
  lua_Integer so;
  double timeout = 1.0;
  size_t size = v->type->size;
  unsigned char *buf;
  int cache, rc;
  luaL_checktype(L, 2, LUA_TNUMBER);   /* (not a string) */
  so = smo_checkinteger(L, 2, "integer offset");
  if (so < 0 || h->size < 4 || (size_t)so > h->size - 4 || ((uintptr_t)(h->addr + so)) % 4 != 0)
    luaL_argerror(L, 2, "the sequence counter lies outside the segment or is misaligned");
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TNUMBER);
    timeout = (double)lua_tonumber(L, 3);
    luaL_argcheck(L, timeout >= 0, 3, "timeout must be a number of seconds >= 0");
    if (timeout > TIMEOUT_FOREVER) timeout = -1;
  }
  if (!lua_isnoneornil(L, 4)) check_into(L, 4);
  lua_settop(L, 5);
  if (smo_getuv(L, 1, 3) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    smo_setuv(L, 1, 3);
  }
  cache = lua_gettop(L);
  if (smo_rawgeti(L, cache, 0) == LUA_TUSERDATA && smo_rawlen(L, -1) == size) {
    lua_pushnil(L);                     /* taken out: a snapshot nested in this one (a finalizer's) makes its own */
    smo_rawseti(L, cache, 0);
  } else {
    lua_pop(L, 1);
    smo_newud(L, size, 0);
  }
  buf = (unsigned char *)lua_touserdata(L, -1);
  /* making the buffer may have run a finalizer that closed the segment;
   * nothing runs Lua code from here to the copy's end */
  if (h->state != SMO_ATTACHED || v->gen != h->attach_gen) raise_dead(L, v);
  rc = seq_copy((const uint32_t *)(const void *)(h->addr + so), buf, h->addr + v->base, size, timeout);
  if (rc == 0) copy_into(L, NULL, v->type, buf, 4, lua_toboolean(L, 5));
  lua_pushvalue(L, cache + 1);
  smo_rawseti(L, cache, 0);             /* the buffer back, for the next snapshot */
  if (rc != 0) {
    smo_pushfail(L);
    lua_pushliteral(L, "timeout");
    lua_pushinteger(L, ETIMEDOUT);
    return 3;
  }
  lua_settop(L, 4);
  return 1;
}

/***
`#v`: the number of elements of an array view, the size in bytes of a struct view.
@function View:__len
@treturn integer
@usage for i = 0, #v.samples - 1 do print(v.samples[i]) end
*/
static int view_len(lua_State *L) {
  view *v = check_view(L, 1);
  lua_pushinteger(L, (lua_Integer)(v->type->kind == VK_ARRAY ? v->type->count : v->type->size));
  return 1;
}

/* core.view_info(v) -> seg, base offset, Lua layout of the view's type,
 * state (nil: live, "closed", "stale": its attachment ended), size in
 * bytes, read-only.  Raises only when v is not a view: view.lua raises for
 * a dead one at its caller's line. */
static int smo_view_info(lua_State *L) {
  view *v = (view *)lua_touserdata(L, 1);
  if (!is_view(L, 1, v)) raise_not_view(L, 1);
  smo_getuv(L, 1, 1);
  lua_pushinteger(L, (lua_Integer)v->base);
  smo_getuv(L, 1, 2);          /* holder */
  smo_getuv(L, -1, 1);         /* anchors */
  smo_rawgeti(L, -1, v->type->layout_ref);
  lua_replace(L, -3);
  lua_pop(L, 1);
  if (v->seg->state != SMO_ATTACHED) lua_pushliteral(L, "closed");
  else if (v->gen != v->seg->attach_gen) lua_pushliteral(L, "stale");
  else lua_pushnil(L);
  lua_pushinteger(L, (lua_Integer)v->type->size);
  lua_pushboolean(L, v->seg->readonly);
  return 6;
}

/* core.view_hint(fn): view.lua's words for an unknown field, fn(layout,
 * name) -> the text after "unknown field 'name'".  The first one stays. */
static int smo_view_hint(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (smo_rawgetp(L, LUA_REGISTRYINDEX, &hint_key) != LUA_TNIL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushvalue(L, 1);
  smo_rawsetp(L, LUA_REGISTRYINDEX, &hint_key);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg view_functions[] = {
  { "compile_layout", smo_compile_layout },
  { "new_view", smo_new_view },
  { "view_info", smo_view_info },
  { "view_decode", smo_view_decode },
  { "view_snapshot", smo_view_snapshot },
  { "view_hint", smo_view_hint },
  { NULL, NULL }
};

static const luaL_Reg view_metamethods[] = {
  { "__index", view_index },
  { "__newindex", view_newindex },
  { "__len", view_len },
  { NULL, NULL }
};

static const luaL_Reg view_methods[] = {
  { "get", view_get },
  { "set", view_set },
  { NULL, NULL }
};

/* Adds regs to the table at target with the view upvalues: 1 view
 * metatable, 2 view methods, 3 the C type index, 4 C type name -> code,
 * 5 the metatable of compiled layouts (holders). */
static void set_view_funcs(lua_State *L, int target, const luaL_Reg *regs, int meta, int methods, int ctypes,
                           int holders) {
  lua_pushvalue(L, target);
  lua_pushvalue(L, meta);
  lua_pushvalue(L, methods);
  lua_pushvalue(L, SMO_CTYPES);
  lua_pushvalue(L, ctypes);
  lua_pushvalue(L, holders);
  smo_setfuncs(L, regs, 5);
  lua_pop(L, 1);
}

void view_open(lua_State *L) {
  int top = lua_gettop(L), meta = top + 1, methods = top + 2, ctypes = top + 3, holders = top + 4, i;
  const ctype_index *ix = (const ctype_index *)lua_touserdata(L, SMO_CTYPES);
  lua_newtable(L);
  lua_pushliteral(L, "smobject view");
  lua_setfield(L, meta, "__name");
  lua_newtable(L);
  lua_newtable(L);
  for (i = 0; i < CT_SLOTS; i++) {
    if (ix->text[i] == NULL) continue;
    lua_pushinteger(L, ix->code[i]);
    lua_setfield(L, ctypes, ix->text[i]);
  }
  lua_newtable(L);
  lua_pushliteral(L, "smobject compiled layout");
  lua_setfield(L, holders, "__name");
  lua_pushboolean(L, 0);
  lua_setfield(L, holders, "__metatable");
  set_view_funcs(L, meta, view_metamethods, meta, methods, ctypes, holders);
  set_view_funcs(L, methods, view_methods, meta, methods, ctypes, holders);
  set_view_funcs(L, SMO_MODULE, view_functions, meta, methods, ctypes, holders);
  lua_pushvalue(L, meta);
  lua_setfield(L, SMO_MODULE, "view_meta");
  lua_pushvalue(L, methods);
  lua_setfield(L, SMO_MODULE, "view_methods");
  lua_settop(L, top);
}
