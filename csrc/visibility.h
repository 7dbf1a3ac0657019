/*
 * What the shared object exports: only luaopen_smobject_core and ffi.h's
 * smo_ffi_* functions (SMO_EXPORT),
 * whatever the build's flags (luarocks' builtin build passes no
 * -fvisibility=hidden).  Every header of the core wraps its declarations in
 * SMO_HIDDEN_BEGIN / SMO_HIDDEN_END; a definition takes the visibility of
 * its declaration, and -Wmissing-prototypes makes sure every function that
 * is not static has one.  (Only our own declarations: a Lua or libc function
 * declared hidden would not link.)
 */
#ifndef SMOBJECT_VISIBILITY_H
#define SMOBJECT_VISIBILITY_H

/* Every header includes this one: a build elsewhere stops here, at once. */
#ifndef __linux__
#error "smobject runs on Linux only (it needs futex(2), SHM_STAT_ANY and MADV_WIPEONFORK); this system is not Linux"
#endif

#define SMO_HIDDEN_BEGIN _Pragma("GCC visibility push(hidden)")
#define SMO_HIDDEN_END _Pragma("GCC visibility pop")

#define SMO_EXPORT __attribute__((visibility("default")))
#define SMO_NORETURN __attribute__((noreturn))

#endif
