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

# link_workspace_bins: makes node_modules/.bin/<bin> work for every bin of every workspace package. npm links a
# bin only if its target existed when it installed, and the targets are in dist/, built after `npm ci`, so call
# this after each build. npm makes a target executable only when it creates its link, and a rebuilt dist/ (tsc,
# Nx's cache) drops that mode, so the targets are made executable here too. Idempotent, offline, no scripts run.
link_workspace_bins() {
  (
    cd "$REPO_ROOT"
    npm rebuild --workspaces --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
    npm query .workspace | node -e '
      const { chmodSync, readFileSync, statSync } = require("node:fs");
      const { resolve } = require("node:path");
      for (const { path, bin } of JSON.parse(readFileSync(0, "utf8"))) {
        for (const target of Object.values(bin ?? {})) {
          const file = resolve(path, target);
          chmodSync(file, statSync(file).mode | 0o111);
        }
      }'
  )
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
