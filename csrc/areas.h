/*
 * The areas of the module, each in its own file: core.c calls these (with
 * the stack handle.h describes) and nothing calls back into core.c.
 */
#ifndef SMOBJECT_AREAS_H
#define SMOBJECT_AREAS_H

#include "lua.h"

#include "visibility.h"

SMO_HIDDEN_BEGIN

void segment_open(lua_State *L);   /* segment.c: open, attach, close, stat... */
void access_open(lua_State *L);    /* access.c: read, write, get, set */
void sync_open(lua_State *L);      /* sync.c: lock, atomics, wait/wake, snapshots */
void view_open(lua_State *L);      /* view.c: struct views */

/* Tables the Lua side reads (access.c). */
void push_ctype_index(lua_State *L);
void push_ctype_align(lua_State *L);

SMO_HIDDEN_END

#endif
