# smobject: build, test, demo, bench.  Plain `make` only compiles.  Installing
# packages is `make deps` (build and test: what `make demo` and `make test`,
# the README's two commands, call first, so that a fresh Debian 12 machine
# works; it needs root and apt and does nothing when all is there),
# `make deps-dev` (lint, doc, valgrind), `make deps-bench` and `make deps-matrix`
# (the five other runtimes).  LUA=lua5.1|lua5.2|lua5.3|luajit|luajit2 (or a
# path) builds and tests with that runtime instead of lua5.4; `make
# test-matrix` runs the suite on all six.

LUA      ?= lua5.4
# OpenResty's LuaJIT (luajit2) conflicts with Debian's luajit as a package, so
# make deps-matrix unpacks its .debs here instead of installing them.
LUAJIT2_DIR ?= /opt/luajit2
ifeq ($(LUA),luajit2)
override LUA := $(LUAJIT2_DIR)/usr/bin/luajit
endif

# The runtime LUA is (lua5.1 ... lua5.4, luajit, luajit2), from its name, or
# else from asking it; it chooses the headers (LUA_INC, unless given) and the
# build directory, one per runtime, so that builds for several runtimes live
# side by side.  Lua 5.4 keeps build/ (what specs and tools use by default).
ifneq ($(filter $(LUAJIT2_DIR)/%,$(LUA)),)
SMO_RT := luajit2
else ifneq ($(filter lua5.1 lua5.2 lua5.3 lua5.4 luajit,$(notdir $(LUA))),)
SMO_RT := $(notdir $(LUA))
else
SMO_RT := $(or $(filter lua5.% luajit,$(shell $(LUA) -e 'print(jit and "luajit" or "lua" .. _VERSION:sub(5))' 2>/dev/null)),lua5.4)
endif
LUA_INC_luajit  = /usr/include/luajit-2.1
LUA_INC_luajit2 = $(LUAJIT2_DIR)/usr/include/luajit-2.1
LUA_INC  ?= $(or $(LUA_INC_$(SMO_RT)),/usr/include/$(SMO_RT))
# A directory relative to the tree (specs find it as SMO_BUILD).
BUILD_DIR ?= $(if $(filter lua5.4,$(SMO_RT)),build,build/$(patsubst lua5.%,5.%,$(SMO_RT)))
CC       ?= gcc
WARN      = -Wall -Wextra -pedantic -Wmissing-prototypes -Wshadow -Wwrite-strings \
            -Wcast-qual -Wstrict-prototypes -Wconversion -Wno-sign-conversion
CFLAGS   ?= -O2 -g
# -fvisibility=hidden: only luaopen_smobject_core is exported (the internal
# functions cannot clash with other modules').  -fno-plt: calls into libc
# go straight through the GOT, which the get/set hot path notices.
ALL_CFLAGS = -std=c99 -fPIC -fvisibility=hidden -fno-plt $(WARN) -I$(LUA_INC) $(CFLAGS)
LDFLAGS  ?=

SRCS     = $(wildcard csrc/*.c)
HDRS     = $(wildcard csrc/*.h)
LIB      = $(BUILD_DIR)/smobject/core.so

# Paths for our Lua and every child process it starts (busted's own path
# settings do not reach children).
export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;$(CURDIR)/?.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD_DIR)/?.so;;
export SMO_LUA   := $(LUA)
export SMO_BUILD := $(BUILD_DIR)
export LUA_INC
export LUAJIT2_DIR

DEB_PKGS   = gcc libc6-dev make procps util-linux strace lua5.4 liblua5.4-dev lua-busted luarocks
DEV_PKGS   = lua-check cppcheck lua-ldoc valgrind
BENCH_PKGS = python3 python3-sysv-ipc
APT_INSTALL = apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends

# Linux only (futex, SHM_STAT_ANY, MADV_WIPEONFORK, /proc/sysvipc): say so
# before anything is tried elsewhere.
UNAME_S ?= $(shell uname -s)
ifneq ($(UNAME_S),Linux)
$(error smobject runs on Linux only (it needs futex(2), SHM_STAT_ANY and MADV_WIPEONFORK); this system is $(UNAME_S))
endif

.PHONY: all deps deps-matrix deps-dev deps-bench deps-bench-dict bench-dict test test-fast test-matrix test-valgrind test-asan demo bench install \
        clean lint doc soak

all: $(LIB)

$(LIB): $(SRCS) $(HDRS)
	@[ -f $(LUA_INC)/lua.h ] || { echo "no lua.h in $(LUA_INC) (the headers for $(LUA)): run 'make deps-matrix', or give LUA_INC=dir"; exit 1; }
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(SRCS) $(LDFLAGS)

# Installs the Debian packages a fresh machine lacks (needs root and apt);
# with another LUA, also that runtime (tools/deps-matrix.sh).
ifeq ($(SMO_RT),lua5.4)
DEPS_LUA = $(LUA)
DEPS_INC = $(LUA_INC)
else
DEPS_LUA = lua5.4
DEPS_INC = /usr/include/lua5.4
endif
deps:
	@if ! command -v $(DEPS_LUA) >/dev/null || [ ! -f $(DEPS_INC)/lua.h ] || ! command -v busted >/dev/null \
	    || ! command -v ipcs >/dev/null || ! command -v luarocks >/dev/null || ! command -v $(CC) >/dev/null \
	    || ! command -v strace >/dev/null || ! command -v setpriv >/dev/null; then \
	  echo "installing missing packages: $(DEB_PKGS)"; \
	  $(APT_INSTALL) $(DEB_PKGS); \
	fi
ifneq ($(filter lua5.1 lua5.2 lua5.3 luajit luajit2,$(SMO_RT)),)
	@sh tools/deps-matrix.sh $(SMO_RT)
endif
# The five other runtimes of the matrix (lua5.1, lua5.2, lua5.3, luajit, and
# OpenResty's luajit2 unpacked into LUAJIT2_DIR); keeps /usr/bin/lua where it was.
deps-matrix: deps
	@sh tools/deps-matrix.sh $(MATRIX_ALL)
deps-dev:
	@if ! command -v luacheck >/dev/null || ! command -v cppcheck >/dev/null || ! command -v ldoc >/dev/null \
	    || ! command -v valgrind >/dev/null; then \
	  echo "installing missing packages: $(DEV_PKGS)"; \
	  $(APT_INSTALL) $(DEV_PKGS); \
	fi
deps-bench:
	@if ! $(PYTHON) -c 'import sysv_ipc' 2>/dev/null; then \
	  echo "installing missing packages: $(BENCH_PKGS)"; \
	  $(APT_INSTALL) $(BENCH_PKGS); \
	fi

# A tool a target needs, or a message saying which deps target installs it.
need = @command -v $(1) >/dev/null || { echo "$(1) is missing: run 'make $(2)' (installs Debian packages)"; exit 1; }

test: deps all
	@sh tools/run-tests.sh $(LUA) $(BUSTED_ARGS)

# The whole suite on each runtime of MATRIX_RUNTIMES (default: all six), each
# built into its own directory and run with a timeout (SMO_MATRIX_TIMEOUT,
# seconds); a table of the counts, then one "N passed, N failed" line.
MATRIX_ALL      = lua5.1 lua5.2 lua5.3 lua5.4 luajit luajit2
MATRIX_RUNTIMES ?= $(MATRIX_ALL)
test-matrix: deps
	@sh tools/deps-matrix.sh $(MATRIX_RUNTIMES)
	@sh tools/matrix.sh $(MATRIX_RUNTIMES)

# The fast subset: no spec tagged #slow (storms, the fuzzer, the hostile and
# kill-point specs, multi-process stress).
test-fast: all
	@sh tools/run-tests.sh $(LUA) --exclude-tags=slow $(BUSTED_ARGS)

# The whole suite with every Lua process (busted and its children) under
# valgrind: any invalid access or definite leak from our code fails it.
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
test-valgrind: all
	$(call need,valgrind,deps-dev)
	SMO_LUA="$(VALGRIND) $(LUA)" sh tools/run-tests.sh "$(VALGRIND) $(LUA)" $(BUSTED_ARGS)

# The core built with AddressSanitizer and UndefinedBehaviorSanitizer; the
# uninstrumented lua5.4 (and every child it starts) gets the runtimes by
# LD_PRELOAD.  Any report fails the run.  Leak detection is off because the
# preload reaches every program the specs run (cc, sed...), whose own leaks
# are not ours; make test-valgrind checks leaks, in our processes only.
ASAN_DIR  = $(BUILD_DIR)-asan
ASAN_LIB  = $(ASAN_DIR)/smobject/core.so
ASAN_RT   = $(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)
$(ASAN_LIB): $(SRCS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -shared -o $@ $(SRCS) $(LDFLAGS)
test-asan: $(ASAN_LIB)
	SMO_BUILD=$(ASAN_DIR) LUA_CPATH="$(CURDIR)/$(ASAN_DIR)/?.so;;" LD_PRELOAD="$(ASAN_RT)" \
	  ASAN_OPTIONS=detect_leaks=0:exitcode=98 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  sh tools/run-tests.sh $(LUA) $(BUSTED_ARGS)

demo: deps all
	$(LUA) examples/manager.lua

# A crash storm, not part of make test: workers doing random operations on a
# few keys while a killer SIGKILLs them; fails when anything is left behind or
# a counter goes wrong.  SMO_SOAK_SECONDS (default 60), SMO_SOAK_WORKERS (8).
soak: all
	$(LUA) tools/soak.lua

# Debian's Python, where python3-sysv-ipc installs (not a pyenv one on PATH).
PYTHON ?= /usr/bin/python3
# bench/bench.lua also builds the core for each other runtime installed
# (make LUA=...) and runs bench/runtime.lua under it: one table of every
# runtime; a runtime that is missing (make deps-matrix) is a column saying so.
bench: all deps-bench
	PYTHON=$(PYTHON) $(LUA) bench/bench.lua

# luarocks make builds in the tree and leaves ./smobject/core.so and csrc/*.o
# behind; they go, so that Lua's ./?.so never loads a stale copy.
# TREE=dir installs into that tree instead of the system's.  luarocks knows
# LuaJIT as 5.1 with other headers.
ROCKS_LUA = $(if $(filter luajit%,$(SMO_RT)),5.1,$(patsubst lua%,%,$(SMO_RT)))
ROCKS_INC = $(if $(filter luajit%,$(SMO_RT)), LUA_INCDIR=$(LUA_INC))
install: all
	luarocks --lua-version=$(ROCKS_LUA) make rockspec/smobject-scm-1.rockspec $(if $(TREE),--tree $(TREE))$(ROCKS_INC)
	rm -rf smobject csrc/*.o

lint: all
	$(call need,luacheck,deps-dev)
	$(call need,cppcheck,deps-dev)
	$(CC) $(ALL_CFLAGS) -Werror -fsyntax-only $(SRCS)
	sh tools/check-headers.sh   # the same against every installed Lua's headers (5.1-5.4, LuaJITs)
	luacheck --no-color lua spec bench examples bin/smo
	cppcheck --quiet --error-exitcode=1 --enable=warning,style,performance,portability --force \
	  --inline-suppr --library=tools/cppcheck-lua.cfg -I$(LUA_INC) --suppress=missingIncludeSystem csrc

# The API reference (LDoc) in doc/html; any LDoc warning fails it.
doc:
	$(call need,ldoc,deps-dev)
	ldoc --fatalwarnings .

clean:
	rm -rf build build-asan smobject luarocks-tree doc/html csrc/*.o

# smo.dict's bench (issue 13): the references, ngx.shared.DICT inside an nginx
# worker and Redis on loopback with one client, measured in the same run
# (bench/dict_ref.sh starts, stops and checks both), beside smo.dict's figures.
# deps-bench-dict unpacks nginx with its Lua module into /opt/smo-nginx
# (SMO_NGINX_DIR; installing it would remove Debian's luajit) and installs
# redis-server (not starting its service) and lua-socket (bench/dict_deps.sh).
deps-bench-dict:
	@sh bench/dict_deps.sh
bench-dict: deps all deps-bench-dict
	lua5.4 bench/dict_bench.lua
