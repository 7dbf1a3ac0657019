#!/bin/sh
# Installs the runtimes named that are missing, and does nothing when all are
# there.  usage: tools/deps-matrix.sh RUNTIME...
#   lua5.1 lua5.2 lua5.3 lua5.4 luajit   Debian's interpreter and -dev package
#   luajit2   OpenResty's LuaJIT: it conflicts with Debian's luajit as a
#             package, so its .debs are fetched (apt-get download) and
#             unpacked (dpkg-deb -x) into LUAJIT2_DIR (default /opt/luajit2)
# Installing lua5.X moves Debian's lua-interpreter alternative (/usr/bin/lua,
# the interpreter /usr/bin/busted's "#!/usr/bin/env lua" starts) to the
# highest priority, which 5.4 never is; so /usr/bin/lua and luac are put back
# where they were (in manual mode, if they had moved).
set -u
LUAJIT2_DIR=${LUAJIT2_DIR:-/opt/luajit2}
LUAJIT2_DEBS="luajit2 libluajit2-5.1-2 libluajit2-5.1-common libluajit2-5.1-dev"

has() { command -v "$1" >/dev/null 2>&1 && [ -f "$2/lua.h" ]; }

pkgs=""
luajit2=""
for rt in "$@"; do
  case $rt in
    lua5.1) has lua5.1 /usr/include/lua5.1 || pkgs="$pkgs lua5.1 liblua5.1-0-dev" ;;
    lua5.[234]) has "$rt" "/usr/include/$rt" || pkgs="$pkgs $rt lib$rt-dev" ;;
    luajit) has luajit /usr/include/luajit-2.1 || pkgs="$pkgs luajit libluajit-5.1-dev" ;;
    luajit2) has "$LUAJIT2_DIR/usr/bin/luajit" "$LUAJIT2_DIR/usr/include/luajit-2.1" || luajit2=1 ;;
    *) echo "deps-matrix: unknown runtime '$rt' (lua5.1 lua5.2 lua5.3 lua5.4 luajit luajit2)"; exit 2 ;;
  esac
done
[ -z "$pkgs" ] && [ -z "$luajit2" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps-matrix: missing:${pkgs}${luajit2:+ $LUAJIT2_DEBS (into $LUAJIT2_DIR)}; installing needs root"
  exit 1
fi
set -e
apt-get update

# "Value: ..." of an alternative, or nothing when it does not exist.
alt_value() { update-alternatives --query "$1" 2>/dev/null | sed -n 's/^Value: //p'; }
alts="lua-interpreter lua-compiler"
saved=""
if command -v update-alternatives >/dev/null 2>&1; then
  for a in $alts; do saved="$saved $a=$(alt_value "$a")"; done
fi

if [ -n "$pkgs" ]; then
  echo "installing missing packages:$pkgs"
  # shellcheck disable=SC2086 # (a list of names)
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs
fi

for entry in $saved; do
  a=${entry%%=*}
  was=${entry#*=}
  now=$(alt_value "$a")
  if [ -n "$was" ] && [ "$now" != "$was" ]; then
    echo "deps-matrix: $a had moved to $now; set back to $was"
    update-alternatives --set "$a" "$was"
  fi
done

if [ -n "$luajit2" ]; then
  echo "fetching $LUAJIT2_DEBS, unpacking into $LUAJIT2_DIR"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # apt's sandbox user must be able to write there (else apt warns)
  id _apt >/dev/null 2>&1 && chown _apt "$tmp"
  # shellcheck disable=SC2086 # (a list of names)
  (cd "$tmp" && apt-get download $LUAJIT2_DEBS)
  mkdir -p "$LUAJIT2_DIR"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$LUAJIT2_DIR"; done
  has "$LUAJIT2_DIR/usr/bin/luajit" "$LUAJIT2_DIR/usr/include/luajit-2.1" || {
    echo "deps-matrix: $LUAJIT2_DIR/usr/bin/luajit or its headers are missing after unpacking"; exit 1; }
fi
