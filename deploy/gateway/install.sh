#!/usr/bin/env bash
# Installs (or upgrades) the Mertah premises gateway as a systemd service on Raspberry Pi OS
# or any Debian-based system. Idempotent: run it again to upgrade; an existing
# /etc/mertah-gateway/gateway.json is never overwritten.
#
#   sudo deploy/gateway/install.sh                       # from a built repo checkout
#   sudo deploy/gateway/install.sh --from mertah-gateway.tar.gz
#   deploy/gateway/install.sh --dry-run                  # print what it would do, change nothing
#   deploy/gateway/install.sh --root /tmp/stage --no-deps --no-start   # stage into a prefix
#
# Options:
#   --from <dir|tar.gz>  release tarball (gateway/dist, protocol/dist, package files, optionally
#                        node_modules) or repo checkout (default: the checkout holding this script;
#                        build it first with `npx tsc -b gateway`)
#   --gateway-id <id>    gateway_id for a new config (default: gw-<hostname>)
#   --cloud-url <url>    cloud.url for a new config (default: mqtts://cloud.example.invalid:8883)
#   --root <dir>         install under <dir> (a staging root): no user, apt or systemctl changes
#   --no-deps            skip `npm ci` (the tarball ships node_modules, or staging/tests)
#   --no-start           install and enable nothing; do not start the service
#   --dry-run            print every action instead of doing it
# The cloud secret for a new config comes from $MERTAH_GATEWAY_SECRET (else a placeholder).
set -euo pipefail

NAME=mertah-gateway
SERVICE_USER=mertah-gateway
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
from=$(cd "$here/../.." && pwd)
root=""
dry_run=0
deps=1
start=1
gateway_id="gw-$(hostname | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9_\n-' '-' | cut -c1-60)"
cloud_url="mqtts://cloud.example.invalid:8883"

die() {
  echo "install.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
  --from) from=${2:?--from needs a value}; shift 2 ;;
  --gateway-id) gateway_id=${2:?--gateway-id needs a value}; shift 2 ;;
  --cloud-url) cloud_url=${2:?--cloud-url needs a value}; shift 2 ;;
  --root) root=${2:?--root needs a value}; shift 2 ;;
  --no-deps) deps=0; shift ;;
  --no-start) start=0; shift ;;
  --dry-run) dry_run=1; shift ;;
  -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
  *) die "unknown option: $1 (see --help)" ;;
  esac
done

[[ $gateway_id =~ ^[a-z0-9][a-z0-9_-]{2,63}$ ]] || die "gateway id '$gateway_id' must match ^[a-z0-9][a-z0-9_-]{2,63}\$"

app_dir="$root/opt/$NAME"
conf_dir="$root/etc/$NAME"
conf_file="$conf_dir/gateway.json"
state_dir="$root/var/lib/$NAME"
unit_dir="$root/etc/systemd/system"

# Every change goes through run: printed with --dry-run, executed otherwise.
run() {
  if [ "$dry_run" = 1 ]; then
    printf 'would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}
say() { echo "install.sh: $*"; }

if [ -z "$root" ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo), or use --dry-run / --root <dir>"
fi

# --- Node.js >= 20.19 ---------------------------------------------------------------------
node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  local v major minor
  v=$(node -p 'process.versions.node' 2>/dev/null) || return 1
  major=${v%%.*}
  minor=${v#*.}
  minor=${minor%%.*}
  [ "$major" -gt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -ge "$NODE_MIN_MINOR" ]; }
}
if node_ok; then
  say "node $(node -p 'process.versions.node') at $(command -v node): ok"
elif [ -n "$root" ]; then
  say "warning: node >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR not found here; the target needs it"
else
  candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ {print $2}')
  cmajor=${candidate%%.*}
  cmajor=${cmajor#*:}
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && [ "${cmajor:-0}" -ge "$NODE_MIN_MAJOR" ] 2>/dev/null; then
    say "installing nodejs $candidate from the distribution"
    run apt-get install -y nodejs npm
  else
    die "Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR is required and the distribution offers '${candidate:-none}'.
  Install it from NodeSource (https://github.com/nodesource/distributions):
    curl -fsSL https://deb.nodesource.com/setup_22.x | sudo bash - && sudo apt-get install -y nodejs
  or use Raspberry Pi OS / Debian 13 (trixie) or later, whose nodejs is recent enough; then run this again."
  fi
fi
node_bin=$(command -v node || echo /usr/bin/node)

# --- service user ---------------------------------------------------------------------------
if [ -n "$root" ]; then
  say "staging root $root: not creating user $SERVICE_USER"
elif id "$SERVICE_USER" >/dev/null 2>&1; then
  say "user $SERVICE_USER exists"
  run usermod -a -G dialout "$SERVICE_USER"
else
  run useradd --system --user-group --groups dialout --home-dir "/var/lib/$NAME" \
    --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi

# --- the gateway itself ---------------------------------------------------------------------
src="$from"
cleanup=""
if [ -f "$from" ]; then
  case "$from" in *.tar.gz | *.tgz) ;; *) die "--from $from: expected a directory or a .tar.gz" ;; esac
  src=$(mktemp -d)
  cleanup="$src"
  tar -xzf "$from" -C "$src"
fi
trap '[ -z "$cleanup" ] || rm -rf "$cleanup"' EXIT
[ -f "$src/gateway/dist/main.js" ] || die "$src/gateway/dist/main.js is missing: build first (npx tsc -b gateway)"
[ -f "$src/protocol/dist/index.js" ] || die "$src/protocol/dist/index.js is missing: build first (npx tsc -b gateway)"
[ -f "$src/package-lock.json" ] || die "$src/package-lock.json is missing"

say "installing the gateway from $from into $app_dir"
run mkdir -p "$app_dir"
# The root package.json and lockfile plus every workspace's package.json keep `npm ci`
# consistent with the lockfile; only protocol and gateway bring their code.
run cp "$src/package.json" "$src/package-lock.json" "$app_dir/"
for ws in "$src"/*/package.json; do
  w=$(basename "$(dirname "$ws")")
  run mkdir -p "$app_dir/$w"
  run cp "$ws" "$app_dir/$w/package.json"
done
for w in protocol gateway; do
  run rm -rf "$app_dir/$w/dist"
  run cp -R "$src/$w/dist" "$app_dir/$w/dist"
  [ ! -f "$src/$w/README.md" ] || run cp "$src/$w/README.md" "$app_dir/$w/README.md"
done
if [ -d "$src/node_modules" ] && [ -f "$from" ]; then
  run rm -rf "$app_dir/node_modules"
  run cp -R "$src/node_modules" "$app_dir/node_modules"
elif [ "$deps" = 1 ]; then
  run npm ci --prefix "$app_dir" --omit=dev --workspace gateway --workspace protocol --no-audit --no-fund
else
  say "--no-deps: not running npm ci"
fi

# --- systemd unit ---------------------------------------------------------------------------
run mkdir -p "$unit_dir"
if [ "$dry_run" = 1 ]; then
  say "would write $unit_dir/$NAME.service (ExecStart with $node_bin)"
else
  sed "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" "$here/$NAME.service" >"$unit_dir/$NAME.service.tmp"
  chmod 644 "$unit_dir/$NAME.service.tmp"
  mv "$unit_dir/$NAME.service.tmp" "$unit_dir/$NAME.service"
fi

# --- config (never overwritten) and state directory ------------------------------------------
run mkdir -p "$conf_dir" "$state_dir"
run chmod 750 "$conf_dir"
run chmod 700 "$state_dir"
if [ -e "$conf_file" ]; then
  say "$conf_file exists: left as it is"
elif [ "$dry_run" = 1 ]; then
  say "would write a config template to $conf_file (mode 600)"
else
  secret=${MERTAH_GATEWAY_SECRET:-change-me}
  (
    umask 077
    cat >"$conf_file.tmp" <<EOF
{
  "gateway_id": "$gateway_id",
  "data_dir": "/var/lib/$NAME",
  "cloud": { "url": "$cloud_url", "secret": "$secret", "ca_file": null, "keepalive_s": 30 },
  "premises_broker": { "url": "mqtt://127.0.0.1:1883", "base_topic": "zigbee2mqtt" },
  "premises": {
    "version": 1,
    "entry_delay_s": 30,
    "exit_delay_s": 60,
    "siren_time_s": 180,
    "heartbeat_s": 60,
    "zones": []
  },
  "log_level": "info"
}
EOF
  )
  chmod 600 "$conf_file.tmp"
  mv "$conf_file.tmp" "$conf_file"
  say "wrote $conf_file: set cloud.secret and the zones, then: systemctl restart $NAME"
fi
if [ -z "$root" ]; then
  run chown root:"$SERVICE_USER" "$conf_dir"
  run chown "$SERVICE_USER:$SERVICE_USER" "$conf_file" "$state_dir"
fi

# --- enable and start -----------------------------------------------------------------------
if [ -n "$root" ] || [ "$start" = 0 ]; then
  say "not enabling or starting $NAME"
else
  run systemctl daemon-reload
  run systemctl enable "$NAME.service"
  run systemctl restart "$NAME.service"
  say "started; logs: journalctl -u $NAME -f -o cat"
fi
say "done"
