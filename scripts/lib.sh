# Shared helpers for tagtrail's scripts. Sourced, not run.
# shellcheck shell=bash

# Where scripts keep machine-wide state: installed tools, logs, the env file, the shared build.
TAGTRAIL_STATE=${TAGTRAIL_STATE:-${XDG_CACHE_HOME:-$HOME/.cache}/tagtrail}
# One target directory for every build the scripts run (a fresh clone reuses earlier builds).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$TAGTRAIL_STATE/target}
mkdir -p "$TAGTRAIL_STATE"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# True when something accepts TCP connections on host:port.
listening() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Waits up to $3 seconds (default 30) for host:port to accept connections.
wait_for_port() {
  local host=$1 port=$2 limit=${3:-30} i
  for ((i = 0; i < limit * 10; i++)); do
    listening "$host" "$port" && return 0
    sleep 0.1
  done
  return 1
}

APT_UPDATED=
# Installs Debian packages that are not installed yet; runs apt-get update once, only if needed.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt-get)"
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
}

# Loads the settings scripts/services wrote.
load_env() {
  [ -f "$TAGTRAIL_STATE/env" ] || die "no $TAGTRAIL_STATE/env: run scripts/services first"
  set -a
  # shellcheck disable=SC1091
  . "$TAGTRAIL_STATE/env"
  set +a
}
