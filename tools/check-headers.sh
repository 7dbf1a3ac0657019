#!/bin/sh
# Compiles every csrc/*.c with the Makefile's strict warnings and -Werror
# against each Lua header set smobject supports (Lua 5.1-5.4, Debian's
# LuaJIT 2.1 and OpenResty's luajit2), syntax only.  One line per set; exit 1
# when any set that is installed fails, or when none is installed.
#   tools/check-headers.sh [INCDIR...]   (default: the six sets below)
# CC and WARN come from the environment (make passes its own).
CC=${CC:-gcc}
WARN=${WARN:-"-Wall -Wextra -pedantic -Wmissing-prototypes -Wshadow -Wwrite-strings -Wcast-qual -Wstrict-prototypes -Wconversion -Wno-sign-conversion"}
cd "$(dirname "$0")/.." || exit 1
[ $# -gt 0 ] || set -- /usr/include/lua5.1 /usr/include/lua5.2 /usr/include/lua5.3 /usr/include/lua5.4 \
  /usr/include/luajit-2.1 /opt/luajit2/usr/include/luajit-2.1
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
failed=0 checked=0
for inc in "$@"; do
  if [ ! -f "$inc/lua.h" ]; then
    printf '%-40s not installed (no lua.h), skipped\n' "$inc"
    continue
  fi
  checked=$((checked + 1))
  # shellcheck disable=SC2086
  if $CC -std=c99 -fPIC $WARN -Werror -fsyntax-only -I"$inc" csrc/*.c >"$log" 2>&1; then
    printf '%-40s ok\n' "$inc"
  else
    failed=1
    printf '%-40s FAILED: %s errors\n' "$inc" "$(grep -c 'error:' "$log")"
    sed -n '1,40s/^/    /p' "$log"   # the first errors are the ones to read
    [ "$(wc -l <"$log")" -le 40 ] || echo "    ..."
  fi
done
[ "$checked" -gt 0 ] || { echo "no Lua header set found"; exit 1; }
exit $failed
