/*
 * Shared by the areas that read and write C scalars (access.c, sync.c).
 */
#ifndef SMOBJECT_ACCESS_H
#define SMOBJECT_ACCESS_H

#include "smobject.h"

enum { CT_I8, CT_U8, CT_I16, CT_U16, CT_I32, CT_U32, CT_I64, CT_U64, CT_F32, CT_F64, CT_BOOL, CT_COUNT };

extern const unsigned char ctype_width[CT_COUNT];

int check_ctype(lua_State *L, int idx);
size_t check_span(lua_State *L, const smo_seg *h, int idx, size_t width);
void check_writable(lua_State *L, const smo_seg *h);
void push_scalar(lua_State *L, int code, const unsigned char *p);
void check_scalar(lua_State *L, int idx, int code, unsigned char *out);
void push_ctype_table(lua_State *L);

#endif
