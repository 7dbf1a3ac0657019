#!/bin/sh
# Runs the busted suite, checks that it left no System V object behind, and
# ends with the line "N passed, N failed" of the real run.
# usage: tools/run-tests.sh LUA [busted args...]
#
# - The counts come from busted's own counters (tools/busted-counts.lua, a
#   wrapper around whichever output handler is asked for with -o), never from
#   its text, and the status from busted's exit code.
# - As root (where unshare works) the suite runs in an IPC namespace of its
#   own: every object there is the suite's, so the leak check blames nothing
#   else, and nothing the suite does can touch other programs' objects.
#   Elsewhere the check compares /proc/sysvipc before and after.
# - BUSTED names busted's script (default: the busted found on PATH).
# - SMO_RUN_COUNTS names a file that gets "passed failed failures errors
#   pending" (failed as in the last line: failures, errors, a leak, a crash)
#   for tools/matrix.sh; it stays empty when busted reported no counts.
lua=${1:-lua5.4}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "$SMO_IPC_NS" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 \
   && unshare --ipc true 2>/dev/null; then
  SMO_IPC_NS=1 exec unshare --ipc sh "$0" "$lua" "$@"
fi

busted=${BUSTED:-$(command -v busted)}
if [ -z "$busted" ]; then
  echo "busted not found (make deps installs Debian's lua-busted)"
  echo "0 passed, 1 failed"
  exit 1
fi

# The output handler asked for (-o NAME, -oNAME, --output=NAME, --output NAME)
# is shown through ours.
output=""   # (default below: utfTerminal, as .busted asks)
args=""
take=""
for a in "$@"; do
  if [ -n "$take" ]; then output=$a; take=""; continue; fi
  case $a in
    -o|--output) take=1 ;;
    --output=*) output=${a#--output=} ;;
    -o*) output=${a#-o} ;;
    *) args="$args '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'" ;;
  esac
done

[ -n "$output" ] || output=utfTerminal

ipc_ids() { awk 'NR > 1 { print FILENAME, $2 }' /proc/sysvipc/shm /proc/sysvipc/sem | sort; }
before=$(mktemp); after=$(mktemp); counts=$(mktemp)
ipc_ids > "$before"
: > "$counts"

eval "SMO_BUSTED_OUTPUT=\"\$output\" SMO_BUSTED_COUNTS=\"\$counts\" \$lua \"\$busted\" -o \"\$here/busted-counts.lua\" $args"
status=$?

ipc_ids > "$after"
leaked=$(comm -13 "$before" "$after")
read -r passed failures errors pending < "$counts"
rm -f "$before" "$after" "$counts"
if [ -z "$passed" ]; then
  echo "busted reported no counts: the suite did not run (status $status)"
  echo "0 passed, 1 failed"
  exit 1
fi
failed=$((failures + errors))
if [ "$status" != 0 ] && [ "$failed" -eq 0 ]; then
  echo "busted exited with status $status (valgrind error or crash) although no test failed"
  failed=1
fi
if [ -n "$leaked" ]; then
  echo "LEAK: the suite left System V objects behind:"
  echo "$leaked"
  failed=$((failed + 1))
fi
[ -n "$SMO_RUN_COUNTS" ] && echo "$passed $failed $failures $errors $pending" > "$SMO_RUN_COUNTS"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
