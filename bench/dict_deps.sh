#!/bin/sh
# make deps-bench-dict: what bench/dict_ref.sh needs, from Debian's packages;
# does nothing when all is there.
#
# - nginx with its Lua module, unpacked into SMO_NGINX_DIR (default
#   /opt/smo-nginx) and never installed: Debian's libnginx-mod-http-lua needs
#   lua-resty-core, which needs OpenResty's LuaJIT (libluajit2-5.1-2), which
#   conflicts with Debian's libluajit-5.1-2 and would remove Debian's luajit
#   and libluajit-5.1-dev (the test matrix's).  So their .debs are fetched
#   (apt-get download) and unpacked (dpkg-deb -x), as tools/deps-matrix.sh
#   does for luajit2; dict_ref.sh runs that nginx with LD_LIBRARY_PATH.  No
#   nginx service exists, so none starts.  The plain libraries they link
#   (libpcre3 and the like, conflict-free) are installed when missing.
# - redis-server and redis-tools (redis-cli, redis-benchmark), installed, and
#   lua-socket for the bench's Lua client (lua5.4 itself is make deps').  redis-server would
#   start its own service where services can start: a policy-rc.d that forbids
#   it is put in place for the install when there is none, and removed after
#   it (the bench starts its own redis).
set -u
NGINX_DIR=${SMO_NGINX_DIR:-/opt/smo-nginx}
NGINX_DEBS="nginx libnginx-mod-http-ndk libnginx-mod-http-lua lua-resty-core lua-resty-lrucache libluajit2-5.1-2 libluajit2-5.1-common"
# What those .debs depend on besides each other (see apt-cache show).
NGINX_LIBS="libc6 libcrypt1 libpcre2-8-0 libpcre3 libssl3 zlib1g libgcc-s1"
REDIS_PKGS="redis-server redis-tools lua-socket"
POLICY=/usr/sbin/policy-rc.d

# Whether the unpacked nginx is complete and its module's libraries resolve.
nginx_ok() {
  d=$1
  [ -x "$d/usr/sbin/nginx" ] && [ -f "$d/usr/lib/nginx/modules/ngx_http_lua_module.so" ] \
    && [ -f "$d/usr/lib/nginx/modules/ndk_http_module.so" ] \
    && [ -f "$d/usr/share/lua/5.1/resty/core/shdict.lua" ] && [ -f "$d/usr/share/lua/5.1/resty/lrucache.lua" ] \
    || return 1
  lib=""
  for f in "$d"/usr/lib/*/libluajit-5.1.so.2; do [ -e "$f" ] && lib=$f; done
  [ -n "$lib" ] || return 1
  ld="$(dirname "$lib")"
  LD_LIBRARY_PATH=$ld "$d/usr/sbin/nginx" -v >/dev/null 2>&1 || return 1
  ! LD_LIBRARY_PATH=$ld ldd "$d/usr/lib/nginx/modules/ngx_http_lua_module.so" 2>/dev/null | grep -q 'not found'
}
redis_ok() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null \
    && [ -z "$(missing lua-socket)" ]
}
# The packages of the list that are not installed.
missing() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf ' %s' "$p"
  done
}

need_nginx=""
need_redis=""
nginx_ok "$NGINX_DIR" || need_nginx=1
redis_ok || need_redis=1
[ -z "$need_nginx" ] && [ -z "$need_redis" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps-bench-dict: missing:${need_nginx:+ nginx with its Lua module (into $NGINX_DIR)}${need_redis:+ $REDIS_PKGS};" \
       "installing needs root"
  exit 1
fi
set -e
apt-get update

guard=""
tmp=""
cleanup() {
  if [ -n "$guard" ]; then rm -f "$POLICY"; fi
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ -n "$need_redis" ]; then
  if [ ! -e "$POLICY" ]; then
    guard=1
    printf '#!/bin/sh\n# put here by make deps-bench-dict for one install: no service starts\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
  fi
  # shellcheck disable=SC2086 # (a list of names)
  pkgs=$(missing $REDIS_PKGS)
  echo "installing missing packages:$pkgs"
  # shellcheck disable=SC2086 # (a list of names)
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs
  if [ -n "$guard" ]; then rm -f "$POLICY"; guard=""; fi
  redis_ok || { echo "deps-bench-dict: redis-server, redis-cli, redis-benchmark or lua-socket missing after installing"; exit 1; }
fi

if [ -n "$need_nginx" ]; then
  # shellcheck disable=SC2086 # (a list of names)
  libs=$(missing $NGINX_LIBS)
  if [ -n "$libs" ]; then
    echo "installing missing packages:$libs"
    # shellcheck disable=SC2086 # (a list of names)
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $libs
  fi
  tmp=$(mktemp -d)
  # apt's sandbox user must be able to write there (else apt warns)
  if id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
  echo "fetching $NGINX_DEBS, unpacking into $NGINX_DIR"
  # shellcheck disable=SC2086 # (a list of names)
  (cd "$tmp" && apt-get download $NGINX_DEBS)
  # unpacked beside, then put in place: a failed run leaves the old tree
  mkdir -p "$tmp/root"
  for deb in "$tmp"/*.deb; do
    dpkg-deb -x "$deb" "$tmp/root"
    dpkg-deb -f "$deb" Package Version | paste -sd ' ' >>"$tmp/root/VERSIONS"
  done
  nginx_ok "$tmp/root" || { echo "deps-bench-dict: the unpacked nginx does not run (see ldd on its Lua module)"; exit 1; }
  mkdir -p "$(dirname "$NGINX_DIR")"
  rm -rf "$NGINX_DIR"
  mv "$tmp/root" "$NGINX_DIR"
  nginx_ok "$NGINX_DIR" || { echo "deps-bench-dict: $NGINX_DIR is incomplete after unpacking"; exit 1; }
fi
