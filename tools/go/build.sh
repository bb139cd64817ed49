# Shared by tools/deps/4x-*.sh (source it after tools/lib.sh): builds Go commands from the Go module proxy into a
# versioned cache directory and links them into TOPOLVM_BIN.
#
# Each build lands in $TOPOLVM_CACHE/build/NAME-VERSION-HASH, where HASH covers everything that shapes the result
# (the recipe arguments and the wrapper module's go.mod, go.sum and sources), so a changed pin rebuilds and an
# unchanged one is skipped. A build writes into a .partial directory first and is renamed only once complete, so an
# interrupted build is never mistaken for a finished one.
#
# Builds are static (CGO_ENABLED=0) so that the result does not depend on whether a C compiler is installed, and
# stripped (-s -w) to keep the cache small; GOCACHE and GOMODCACHE stay at their defaults so later builds reuse them.

GO_TOOLS_DIR="$REPO_ROOT/tools/go"
GO_BUILD_ROOT="$TOPOLVM_CACHE/build"

command -v go >/dev/null || die "go is not installed; the cluster binaries are built with the Go toolchain"

# _recipe_hash ARG...: short hash of the arguments and, for a wrapper module named by the first argument, its files.
# The module is named relative to the repository, so every clone of the same commit shares one cache.
_recipe_hash() {
  local module_dir=$1
  {
    printf '%s\n' "${module_dir#"$REPO_ROOT"/}" "${@:2}"
    if [ -d "$module_dir" ]; then
      find "$module_dir" -maxdepth 1 -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) -print0 \
        | sort -z | xargs -0 cat
    fi
  } | sha256sum | cut -c1-12
}

# _cached NAME BUILD_DIR BINARIES RUNNER ARG...: unless BUILD_DIR is complete, runs RUNNER OUT_DIR ARG..., checks
# that it produced every binary in BINARIES (space separated) and times it; then links the binaries into
# TOPOLVM_BIN and deletes the other builds of NAME (older pins). Checkouts sharing the cache take turns per NAME.
_cached() {
  local build=$1 dir=$2 names=$3 runner=$4 name lock
  shift 4
  mkdir -p "$GO_BUILD_ROOT"
  exec {lock}>"$GO_BUILD_ROOT/.$build.lock"
  flock "$lock"
  if [ ! -f "$dir/.complete" ]; then
    local start=$SECONDS
    log "building $names ($(basename "$dir"))"
    rm -rf "$dir.partial"
    mkdir -p "$dir.partial"
    "$runner" "$dir.partial" "$@"
    for name in $names; do
      [ -x "$dir.partial/$name" ] || die "the build of $(basename "$dir") did not produce $name"
    done
    touch "$dir.partial/.complete"
    rm -rf "$dir"
    mv "$dir.partial" "$dir"
    log "built $names in $((SECONDS - start)) s"
  fi
  for name in $names; do
    ln -sfn "$dir/$name" "$TOPOLVM_BIN/$name"
  done
  find "$GO_BUILD_ROOT" -mindepth 1 -maxdepth 1 -name "$build-v*" ! -name "$(basename "$dir")" -exec rm -rf {} +
  exec {lock}>&-
  GO_BUILT_DIR=$dir
}

# On an empty module cache go prints one "go: downloading" line per module, hundreds for Kubernetes; the build's
# own messages (errors) pass through.
_without_downloads() {
  grep -v '^go: downloading ' >&2 || true
}

_run_go_build() {
  local out=$1 module_dir=$2 ldflags=$3
  shift 3
  (cd "$module_dir" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w $ldflags" -o "$out/" "$@") \
    2> >(_without_downloads)
}

_run_go_install() {
  local out=$1 ldflags=$2
  shift 2
  # GOFLAGS=-mod=mod is rejected by `go install module@version`, so the caller's GOFLAGS are not passed on.
  CGO_ENABLED=0 GOBIN="$out" GOFLAGS= go install -trimpath -buildvcs=false -ldflags="-s -w $ldflags" "$@" \
    2> >(_without_downloads)
}

# go_build_cached NAME VERSION MODULE LDFLAGS PKG...: builds PKG... (commands of the wrapper module tools/go/MODULE)
# with `go build`; each binary is named after the last element of its package path. Sets GO_BUILT_DIR.
go_build_cached() {
  local name=$1 version=$2 module=$3 ldflags=$4
  shift 4
  local module_dir="$GO_TOOLS_DIR/$module"
  [ -f "$module_dir/go.mod" ] || die "no wrapper module at $module_dir"
  local pkg names=""
  for pkg in "$@"; do names+="${names:+ }${pkg##*/}"; done
  local hash
  hash=$(_recipe_hash "$module_dir" "$ldflags" "$@")
  _cached "$name" "$GO_BUILD_ROOT/$name-$version-$hash" "$names" _run_go_build "$module_dir" "$ldflags" "$@"
}

# go_install_cached NAME VERSION LDFLAGS PKG@VERSION...: builds modules that have no replace directives with
# `go install module@version`; each binary is named after the last element of its package path. Sets GO_BUILT_DIR.
go_install_cached() {
  local name=$1 version=$2 ldflags=$3
  shift 3
  local pkg names=""
  for pkg in "$@"; do
    pkg=${pkg%@*}
    names+="${names:+ }${pkg##*/}"
  done
  local hash
  hash=$(_recipe_hash "" "$ldflags" "$@")
  _cached "$name" "$GO_BUILD_ROOT/$name-$version-$hash" "$names" _run_go_install "$ldflags" "$@"
}

# go_module_dir MODULE@VERSION: downloads a module (verified against go.sum or the checksum database) and prints its
# directory in GOMODCACHE.
go_module_dir() {
  (cd "$GO_TOOLS_DIR" && GOFLAGS= go mod download -json "$1") | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}
