package = "smobject"
version = "scm-1"
rockspec_format = "3.0"

source = {
  url = "git+file:///dev/null",   -- built from a checkout with `luarocks make`
}

description = {
  summary = "System V shared memory for Lua 5.1-5.4 and LuaJIT, with a crash-safe memory counter",
  detailed = [[
    Segments named by ftok keys, shared between processes, with a memory
    counter the kernel keeps right after any death (SEM_UNDO), typed access,
    struct views, a crash-safe lock, atomics and wait/wake.
  ]],
  license = "MIT",
}

-- Linux only: futex(2), SHM_STAT_ANY, MADV_WIPEONFORK, /proc/sysvipc.
supported_platforms = { "linux" }

dependencies = {
  "lua >= 5.1, < 5.5",
}

build = {
  type = "builtin",
  copy_directories = { "docs" },   -- the API contract (docs/API.md) goes with the rock
  install = {
    bin = { smo = "bin/smo" },
  },
  modules = {
    ["smobject.core"] = {
      sources = {
        "csrc/core.c", "csrc/segment.c", "csrc/sync.c", "csrc/view.c", "csrc/access.c",
        "csrc/handle.c", "csrc/lock.c", "csrc/counter.c", "csrc/bookkeeping.c", "csrc/process.c",
        "csrc/ffi.c", "csrc/dict.c", "csrc/dict_lua.c",
      },
      incdirs = { "csrc" },
    },
    smobject = "lua/smobject.lua",
    ["smobject.errors"] = "lua/smobject/errors.lua",
    ["smobject.compat"] = "lua/smobject/compat.lua",
    ["smobject.cdecl.cint"] = "lua/smobject/cdecl/cint.lua",
    ["smobject.cdecl.layout"] = "lua/smobject/cdecl/layout.lua",
    ["smobject.cdecl.lexer"] = "lua/smobject/cdecl/lexer.lua",
    ["smobject.cdecl.expr"] = "lua/smobject/cdecl/expr.lua",
    ["smobject.cdecl.preproc"] = "lua/smobject/cdecl/preproc.lua",
    ["smobject.cdecl.gcc"] = "lua/smobject/cdecl/gcc.lua",
    ["smobject.cdecl.parser"] = "lua/smobject/cdecl/parser.lua",
    ["smobject.cdecl.scope"] = "lua/smobject/cdecl/scope.lua",
    ["smobject.cdecl.emit"] = "lua/smobject/cdecl/emit.lua",
    ["smobject.struct"] = "lua/smobject/struct.lua",
    ["smobject.view"] = "lua/smobject/view.lua",
    ["smobject.ffi"] = "lua/smobject/ffi.lua",
    ["smobject.dict"] = "lua/smobject/dict.lua",
    ["smobject.dict_ffi"] = "lua/smobject/dict_ffi.lua",
  },
}
