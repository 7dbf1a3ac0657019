#!/bin/bash
# The references of make bench-dict, measured on this machine: prints one Lua
# chunk, `return { nginx = {...}, redis = {...} }` (ns per operation; see
# bench/dict_ref.lua), on stdout, and what it does on stderr.
#
# - nginx (unpacked by make deps-bench-dict into SMO_NGINX_DIR): started from
#   a temporary prefix with bench/dict_nginx.conf.in on a free loopback port,
#   one process; one request runs bench/dict_ref_nginx.lua's loops inside it.
# - Redis: redis-server on a free loopback port, no persistence, its dir the
#   temporary one, a random password; one client, no pipelining:
#   bench/dict_ref_redis.lua (lua5.4 with Debian's lua-socket: the same loops
#   as nginx's), or with SMO_DICT_REDIS_CLIENT=redis-benchmark, that
#   (-c 1 -P 1 -r 1000, random keys among 1000; a cross-check: its event loop
#   measured about 10% slower than a plain blocking client here).
#
# Both servers are this script's children, started under setpriv --pdeathsig
# KILL (the kernel kills them if this script dies, even by SIGKILL), stopped
# and reaped at the end or on any error or signal; the script then checks that
# no process of its own is left and that the servers' listening sockets are
# closed, and fails otherwise.
#
# Settings (environment): SMO_NGINX_DIR (/opt/smo-nginx); SMO_DICT_ROUNDS
# (best of, 5); SMO_DICT_ROUND_MS (the shortest round, 100);
# SMO_DICT_REDIS_CLIENT (lua or redis-benchmark); SMO_DICT_REDIS_N (requests
# per redis-benchmark round, 10000: about 0.3 s here; its timer counts
# milliseconds); SMO_DICT_REF ("nginx redis": which to run); SMO_DICT_JITLOG
# (an absolute file: nginx's LuaJIT writes its jit.v trace log there, to see
# that the loops compile).
set -u
here=$(cd "$(dirname "$0")" && pwd)
NGINX_DIR=${SMO_NGINX_DIR:-/opt/smo-nginx}
ROUNDS=${SMO_DICT_ROUNDS:-5}
ROUND_MS=${SMO_DICT_ROUND_MS:-100}
REDIS_N=${SMO_DICT_REDIS_N:-10000}
JITLOG=${SMO_DICT_JITLOG:-}
REDIS_CLIENT=${SMO_DICT_REDIS_CLIENT:-lua}
WHICH=${SMO_DICT_REF:-nginx redis}
KEYS=1000

say() { echo "dict_ref: $*" >&2; }
die() { say "$*"; exit 1; }

for v in ROUNDS ROUND_MS REDIS_N; do
  case ${!v} in '' | *[!0-9]*) die "SMO_DICT_$v must be a positive integer (is '${!v}')" ;; esac
  [ "${!v}" -gt 0 ] || die "SMO_DICT_$v must be a positive integer (is '${!v}')"
done
case $JITLOG in '' | /*) ;; *) die "SMO_DICT_JITLOG must be an absolute path" ;; esac
case $JITLOG in *[!A-Za-z0-9/._-]*) die "SMO_DICT_JITLOG: only letters, digits and / . _ - please" ;; esac
case $REDIS_CLIENT in lua | redis-benchmark) ;; *) die "SMO_DICT_REDIS_CLIENT: lua or redis-benchmark" ;; esac
for w in $WHICH; do
  case $w in nginx | redis) ;; *) die "SMO_DICT_REF: unknown reference '$w' (nginx redis)" ;; esac
done
command -v setpriv >/dev/null || die "setpriv is missing (util-linux): run 'make deps'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smo-dictbench.XXXXXX") || die "mktemp failed"
nonce=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
nginx_pid=""
redis_pid=""
child_pid=""
socks=""

# Whether the process is there and not a zombie waiting to be reaped.
alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$st" ] && [ "$st" != Z ]
}

# Stops one child: SIGTERM (both servers shut down at once on it), SIGKILL
# after 10 s, then reaps it.
stop() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    say "pid $pid did not stop on SIGTERM in 10 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# Whether something listens on 127.0.0.1:PORT (or any address), from /proc.
listening() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# The inode of the socket listening on PORT that process PID holds, if any
# (something else may listen on the same port: 0.0.0.0 against 127.0.0.1).
sock_inode() {
  local pid=$1 hex inodes fd l i
  hex=$(printf '%04X' "$2")
  inodes=$(awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  [ -n "$inodes" ] || return 1
  for fd in /proc/"$pid"/fd/*; do
    l=$(readlink "$fd" 2>/dev/null) || continue
    for i in $inodes; do
      if [ "$l" = "socket:[$i]" ]; then echo "$i"; return 0; fi
    done
  done
  return 1
}

# Whether a listening socket with that inode still exists.
sock_open() {
  awk -v i="$1" 'NR > 1 && $4 == "0A" && $10 == i { f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# A port nothing listens on (the server's own bind decides; on a clash the
# caller tries another).
free_port() {
  local p
  while :; do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    listening "$p" || { echo "$p"; return; }
  done
}

# Pids of processes whose command line names our temporary directory (only
# builtins here, so that no helper process of this search is found).
ours() {
  local f pid arg
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    if [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ]; then continue; fi
    while IFS= read -r -d '' arg; do
      case $arg in *"$tmp"*) echo "$pid"; break ;; esac
    done 2>/dev/null <"$f"
  done
}

cleanup() {
  local rc=$? left i f
  trap '' INT TERM HUP
  if [ -n "$child_pid" ]; then kill -TERM "$child_pid" 2>/dev/null; wait "$child_pid" 2>/dev/null; fi
  stop "$nginx_pid"
  stop "$redis_pid"
  left=$(ours)
  if [ -n "$left" ]; then
    say "processes left running from $tmp: $left (killed)"
    # shellcheck disable=SC2086 # (a list of pids)
    kill -KILL $left 2>/dev/null
    rc=1
  fi
  for i in $socks; do
    if sock_open "$i"; then
      left=$(find /proc/[0-9]*/fd -lname "socket:\[$i\]" 2>/dev/null | cut -d/ -f3 | sort -u | tr '\n' ' ')
      say "the servers' listening socket $i is still open after they stopped, in: $left(killed)"
      # shellcheck disable=SC2086 # (a list of pids)
      [ -n "$left" ] && kill -KILL $left 2>/dev/null
      rc=1
    fi
  done
  if [ "$rc" != 0 ] && [ -d "$tmp" ]; then
    for f in "$tmp"/error.log "$tmp"/nginx.out "$tmp"/redis.log; do
      [ -s "$f" ] && { say "--- $f (last lines)"; tail -n 20 "$f" >&2; }
    done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Waits up to 10 s until PID listens on PORT (its socket is added to those
# checked at the end); fails when PID is gone first.
await_listen() {
  local pid=$1 port=$2 i inode
  for ((i = 0; i < 200; i++)); do
    alive "$pid" || return 1
    if inode=$(sock_inode "$pid" "$port"); then socks="$socks $inode"; return 0; fi
    sleep 0.05
  done
  return 1
}

# --- nginx ---------------------------------------------------------------

run_nginx() {
  local libdir="" f port try conf resp status
  for f in "$NGINX_DIR"/usr/lib/*/libluajit-5.1.so.2; do [ -e "$f" ] && libdir=$(dirname "$f"); done
  if [ ! -x "$NGINX_DIR/usr/sbin/nginx" ] || [ -z "$libdir" ]; then
    die "no nginx with its Lua module in $NGINX_DIR: run 'make deps-bench-dict'"
  fi
  mkdir -p "$tmp/logs"
  for ((try = 1; try <= 5; try++)); do
    port=$(free_port)
    conf="$tmp/nginx.conf"
    sed -e "s|@TMP@|$tmp|g" -e "s|@NGINX_DIR@|$NGINX_DIR|g" -e "s|@BENCH_DIR@|$here|g" \
        -e "s|@PORT@|$port|g" -e "s|@NONCE@|$nonce|g" "$here/dict_nginx.conf.in" >"$conf"
    : >"$tmp/error.log"
    say "nginx on 127.0.0.1:$port (prefix $tmp)"
    LD_LIBRARY_PATH=$libdir setpriv --pdeathsig KILL -- \
      "$NGINX_DIR/usr/sbin/nginx" -p "$tmp" -c "$conf" -e "$tmp/error.log" \
      </dev/null >"$tmp/nginx.out" 2>&1 &
    nginx_pid=$!
    await_listen "$nginx_pid" "$port" && break
    if grep -q 'Address already in use' "$tmp/error.log" "$tmp/nginx.out" 2>/dev/null; then
      stop "$nginx_pid"; nginx_pid=""
      continue
    fi
    die "nginx did not start"
  done
  [ -n "$nginx_pid" ] || die "nginx found no free port in 5 tries"

  say "ngx.shared.DICT loops inside the nginx worker (best of $ROUNDS rounds of >= $ROUND_MS ms)"
  # one request, HTTP/1.0 (the server closes), through bash's /dev/tcp
  # shellcheck disable=SC2016 # (the inner bash expands them)
  timeout 600 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /bench?rounds=%s&round_ms=%s&jitlog=%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" "$3" "$4" >&3
    cat <&3' _ "$port" "$ROUNDS" "$ROUND_MS" "$JITLOG" >"$tmp/response" </dev/null &
  child_pid=$!
  wait "$child_pid" || die "the request to nginx failed"
  child_pid=""
  status=$(head -n 1 "$tmp/response" | tr -d '\r')
  resp=$(sed '1,/^\r*$/d' "$tmp/response")
  case $status in
    "HTTP/1."?" 200 "*) ;;
    *) die "nginx answered '$status': $resp" ;;
  esac
  grep -qF "nonce = \"$nonce\"" <<<"$resp" || die "the answer is not from this nginx: $resp"
  stop "$nginx_pid"
  nginx_pid=""
  NGINX_RESULT=$resp
}

# --- redis ---------------------------------------------------------------

# ns per request of one redis-benchmark command, best of ROUNDS.
redis_cmd() {
  local port=$1 best="" out rps ns r
  shift
  for ((r = 0; r < ROUNDS; r++)); do
    out=$(redis-benchmark -h 127.0.0.1 -p "$port" -a "$nonce" -c 1 -P 1 -n "$REDIS_N" -r "$KEYS" --csv "$@" \
          </dev/null 2>"$tmp/redis-benchmark.err") || die "redis-benchmark $* failed: $(cat "$tmp/redis-benchmark.err")"
    rps=$(awk -F'"' 'NR == 2 { print $4 }' <<<"$out")
    case $rps in '' | *[!0-9.]*) die "redis-benchmark $*: no requests per second in: $out" ;; esac
    ns=$(awk -v r="$rps" 'BEGIN { if (r > 0) printf "%.1f", 1e9 / r; else exit 1 }') \
      || die "redis-benchmark $*: $rps requests per second"
    if [ -z "$best" ] || awk -v a="$ns" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$ns; fi
  done
  echo "$best"
}

run_redis() {
  local port try pong ver
  if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null || ! command -v redis-cli >/dev/null; then
    die "redis-server, redis-cli or redis-benchmark is missing: run 'make deps-bench-dict'"
  fi
  if [ "$REDIS_CLIENT" = lua ] && ! lua5.4 -e 'require("socket")' 2>/dev/null; then
    die "lua5.4 or its lua-socket is missing: run 'make deps-bench-dict'"
  fi
  mkdir -p "$tmp/redis"
  for ((try = 1; try <= 5; try++)); do
    port=$(free_port)
    : >"$tmp/redis.log"
    say "redis-server on 127.0.0.1:$port (dir $tmp/redis, no persistence)"
    setpriv --pdeathsig KILL -- redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --dir "$tmp/redis" --logfile "$tmp/redis.log" --daemonize no --supervised no --requirepass "$nonce" \
      </dev/null >/dev/null 2>&1 &
    redis_pid=$!
    await_listen "$redis_pid" "$port" && break
    if grep -q 'Address already in use' "$tmp/redis.log" 2>/dev/null; then
      stop "$redis_pid"; redis_pid=""
      continue
    fi
    die "redis-server did not start"
  done
  [ -n "$redis_pid" ] || die "redis-server found no free port in 5 tries"
  # the password proves it is ours
  pong=$(redis-cli -h 127.0.0.1 -p "$port" --no-auth-warning -a "$nonce" ping </dev/null 2>&1)
  [ "$pong" = PONG ] || die "redis-server on $port answered '$pong' to PING"

  ver=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
  if [ "$REDIS_CLIENT" = lua ]; then
    say "redis round trips from one Lua client (lua5.4, lua-socket; best of $ROUNDS rounds of >= $ROUND_MS ms)"
    SMO_DICT_REDIS_PASS=$nonce lua5.4 "$here/dict_ref_redis.lua" "$port" "$ROUNDS" "$ROUND_MS" \
      </dev/null >"$tmp/redis.out" 2>"$tmp/redis.err" &
    child_pid=$!
    wait "$child_pid" || die "bench/dict_ref_redis.lua failed: $(cat "$tmp/redis.err")"
    child_pid=""
    # its table, and the server's version
    REDIS_RESULT="$(sed '$d' "$tmp/redis.out")
  redis = \"$ver\",
}"
  else
    say "redis round trips from redis-benchmark, one client (best of $ROUNDS rounds of $REDIS_N requests)"
    local s64 set_num get_num set_str get_str incr lpush rpop
    s64=$(printf '%64s' '' | tr ' ' x)
    set_num=$(redis_cmd "$port" SET k__rand_int__ 12345) || exit 1
    get_num=$(redis_cmd "$port" GET k__rand_int__) || exit 1
    set_str=$(redis_cmd "$port" SET k__rand_int__ "$s64") || exit 1
    get_str=$(redis_cmd "$port" GET k__rand_int__) || exit 1
    incr=$(redis_cmd "$port" INCR n__rand_int__) || exit 1
    lpush=$(redis_cmd "$port" LPUSH l__rand_int__ 1) || exit 1
    rpop=$(redis_cmd "$port" RPOP l__rand_int__) || exit 1
    REDIS_RESULT="{
  get_num = $get_num,
  set_num = $set_num,
  set_str = $set_str,
  get_str = $get_str,
  incr = $incr,
  lpush_rpop = $(awk -v a="$lpush" -v b="$rpop" 'BEGIN { printf "%.1f", a + b }'),
  lpush = $lpush, rpop = $rpop,
  redis = \"$ver\", client = \"redis-benchmark -c 1 -P 1 -r $KEYS\",
  rounds = $ROUNDS, round_requests = $REDIS_N,
}"
  fi
  stop "$redis_pid"
  redis_pid=""
}

NGINX_RESULT=""
REDIS_RESULT=""
for w in $WHICH; do "run_$w"; done
{
  echo "return {"
  [ -n "$NGINX_RESULT" ] && echo "nginx = $NGINX_RESULT,"
  [ -n "$REDIS_RESULT" ] && echo "redis = $REDIS_RESULT,"
  echo "}"
}
