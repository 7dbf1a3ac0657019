#!/bin/sh
# The whole suite on several runtimes from one tree: for each, `make LUA=...`
# (its own build directory and headers), then `make LUA=... test`
# (tools/run-tests.sh with that interpreter) under a timeout; then a table of
# the counts, and as the last line "N passed, N failed" summed over them.
# usage: tools/matrix.sh [RUNTIME...]
#   RUNTIME: lua5.1 lua5.2 lua5.3 lua5.4 luajit luajit2 (default: all six),
#   or an interpreter's command or path.
# A runtime that is not installed, does not build, times out or reports no
# counts is one failure, with a line saying why; it is never skipped.
# SMO_MATRIX_TIMEOUT: seconds per runtime's suite (default 1200).
# SMO_MATRIX_LOGS: where each runtime's build and suite output is kept
# (default build/matrix).  BUSTED_ARGS reaches every run, as with make test.
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.." || exit 1
LUAJIT2_DIR=${LUAJIT2_DIR:-/opt/luajit2}
limit=${SMO_MATRIX_TIMEOUT:-1200}
logs=${SMO_MATRIX_LOGS:-build/matrix}
make=${MAKE:-make}
# each runtime has its own headers and build directory (the Makefile derives
# them from LUA): none inherited from a make that started this
unset LUA_INC SMO_BUILD BUILD_DIR
[ $# -gt 0 ] || set -- lua5.1 lua5.2 lua5.3 lua5.4 luajit luajit2

mkdir -p "$logs" || exit 1
table=$(mktemp)
counts=$(mktemp)
rcfile=$(mktemp)
trap 'rm -f "$table" "$counts" "$rcfile"' EXIT
total_passed=0
total_failed=0

row() {   # runtime status passed failed errors pending seconds note
  printf '%-8s %-7s %7s %7s %7s %7s %6s  %s\n' "$@" >> "$table"
}

for rt in "$@"; do
  case $rt in
    luajit2) lua=$LUAJIT2_DIR/usr/bin/luajit ;;
    *) lua=$rt ;;
  esac
  name=$(printf '%s' "$rt" | tr '/' '_')

  if ! command -v "$lua" >/dev/null 2>&1; then
    case $rt in
      lua5.[1-4]|luajit|luajit2) hint=" (make deps-matrix installs it)" ;;
      *) hint="" ;;
    esac
    echo "matrix: $rt: $lua is not installed$hint"
    row "$rt" FAILED - - - - - "not installed: $lua$hint"
    total_failed=$((total_failed + 1))
    continue
  fi

  echo "matrix: $rt: make LUA=$lua"
  if ! "$make" --no-print-directory LUA="$lua" all > "$logs/$name-build.log" 2>&1; then
    head -n 30 "$logs/$name-build.log"
    echo "matrix: $rt: (the whole build log: $logs/$name-build.log)"
    # the compiler's first error, else the Makefile's own message
    why=$(grep -m 1 -E ': (fatal )?error:' "$logs/$name-build.log")
    [ -n "$why" ] || why=$(grep -v -m 1 '^make: \*\*\*' "$logs/$name-build.log")
    echo "matrix: $rt: the build failed: $why"
    row "$rt" FAILED - - - - - "build failed: $why"
    total_failed=$((total_failed + 1))
    continue
  fi

  echo "matrix: $rt: the suite (make LUA=$lua test, at most ${limit}s)"
  : > "$counts"
  start=$(date +%s)
  { SMO_RUN_COUNTS=$counts timeout -k 30 "$limit" "$make" --no-print-directory LUA="$lua" test 2>&1
    echo $? > "$rcfile"; } | tee "$logs/$name.log"
  rc=$(cat "$rcfile")
  secs=$(($(date +%s) - start))
  read -r passed failed failures errors pending < "$counts"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    why="timed out after ${limit}s"
    [ -n "$passed" ] || { passed=-; failures=-; errors=-; pending=-; }
    failed=$((${failed:-0} + 1))
  elif [ -z "$passed" ]; then
    why="the suite reported no counts (status $rc)"
    passed=-; failures=-; errors=-; pending=-
    failed=1
  elif [ "$failed" -gt $((failures + errors)) ]; then
    why="objects left behind, or busted exited with status $rc although no test failed"
  elif [ "$rc" != 0 ] && [ "$failed" -eq 0 ]; then
    why="make exited with status $rc"
    failed=1
  else
    why=""
  fi
  if [ "$failed" -eq 0 ]; then status=ok; else status=FAILED; fi
  echo "matrix: $rt: ${passed} passed, ${failed} failed${why:+ ($why)}"
  row "$rt" "$status" "$passed" "$failures" "$errors" "$pending" "$secs" "$why"
  [ "$passed" = - ] || total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
done

echo
echo "matrix (failed: busted's failures; errors: its errors; logs in $logs/):"
printf '%-8s %-7s %7s %7s %7s %7s %6s  %s\n' runtime status passed failed errors pending secs note
cat "$table"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
