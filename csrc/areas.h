/*
 * The areas of the module, each in its own file: core.c calls these (with
 * the stack handle.h describes) and nothing calls back into core.c.
 */
#ifndef SMOBJECT_AREAS_H
#define SMOBJECT_AREAS_H

#include <stddef.h>
#include <stdint.h>

#include "lua.h"

#include "visibility.h"

SMO_HIDDEN_BEGIN

void handle_open(lua_State *L);    /* handle.c: errno names, the methods table */
void segment_open(lua_State *L);   /* segment.c: open, attach, close, stat... */
void access_open(lua_State *L);    /* access.c: read, write, get, set */
void sync_open(lua_State *L);      /* sync.c: lock, atomics, wait/wake, snapshots */
void view_open(lua_State *L);      /* view.c: struct views */
void process_open(lua_State *L);   /* process.c: sleep, clock, getpid, getuid, geteuid */
void ffi_open(lua_State *L);       /* ffi.c: the FFI entry points, pins, Segment:ptr */
void dict_open(lua_State *L);      /* dict_lua.c: smo.dict's handles (the store: dict.c) */

/* sync.c: the reader's side of a sequence counter, also view.c's: copies len
 * bytes from src to dst while the uint32_t counter at seq is even and
 * unchanged; 0, or ETIMEDOUT after timeout seconds (< 0: for ever). */
int seq_copy(const uint32_t *seq, unsigned char *dst, const unsigned char *src, size_t len, double timeout);

/* The C type index (access.c), made before the areas: their upvalue 2. */
void push_ctype_index(lua_State *L);

SMO_HIDDEN_END

#endif
