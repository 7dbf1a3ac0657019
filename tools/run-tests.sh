#!/bin/sh
# Runs the busted suite, then checks that it left no System V object behind,
# and ends with the line "N passed, N failed" taken from busted's own summary.
# usage: tools/run-tests.sh LUA [busted args...]
lua=${1:-lua5.4}
[ $# -gt 0 ] && shift
log=$(mktemp)
ipc_ids() { awk 'NR > 1 { print FILENAME, $2 }' /proc/sysvipc/shm /proc/sysvipc/sem | sort; }
before=$(mktemp); after=$(mktemp)
ipc_ids > "$before"

# (sh has no pipefail: the exit status goes through a file)
statusfile=$(mktemp)
{ $lua /usr/bin/busted "$@" 2>&1; echo "$?" > "$statusfile"; } | tee "$log"
status=$(cat "$statusfile")
rm -f "$statusfile"

ipc_ids > "$after"
leaked=$(comm -13 "$before" "$after")

# busted's closing line: "N successes / N failures / N errors / N pending : T seconds"
summary=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -n 1)
rm -f "$log" "$before" "$after"
if [ -z "$summary" ]; then
  echo "busted printed no summary: the suite did not run"
  echo "0 passed, 1 failed"
  exit 1
fi
passed=$(echo "$summary" | awk '{ print $1 }')
failures=$(echo "$summary" | awk '{ print $4 }')
errors=$(echo "$summary" | awk '{ print $7 }')
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
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
