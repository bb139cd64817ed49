# Shared shell helpers for tools/ scripts. Source it; do not run it.
# Every download and build is cached outside the repository, under TOPOLVM_CACHE.
set -euo pipefail

: "${TOPOLVM_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/topolvm-ts}"
: "${TOPOLVM_BIN:=$TOPOLVM_CACHE/bin}"
export TOPOLVM_CACHE TOPOLVM_BIN
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
mkdir -p "$TOPOLVM_CACHE" "$TOPOLVM_BIN"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# link_workspace_bins: links node_modules/.bin/<bin> for every bin of every workspace package. npm links a bin
# only if its target existed when it installed, and the targets are in dist/, built after `npm ci`, so call
# this after each build. Idempotent, offline, and runs no package scripts.
link_workspace_bins() {
  (cd "$REPO_ROOT" && npm rebuild --workspaces --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
}

# apt_install PKG...: installs the Debian packages that are missing, quietly; nothing when all are present.
apt_install() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local stamp="$TOPOLVM_CACHE/apt-updated"
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
