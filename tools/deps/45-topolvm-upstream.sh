# Upstream TopoLVM v0.38.0's topolvm-controller, topolvm-node and topolvm-scheduler (github.com/topolvm/topolvm/cmd/*),
# the Go implementations the project's own are benchmarked against (bench/provisioning, bench/scheduler-extender).
# One go build through tools/go/topolvm, whose go.sum records the module's hash (the checksum database reachable
# here has no entry for it), shares the compile work of the three. They keep upstream's names in TOPOLVM_BIN; the
# project's own bins of the same names are the workspace packages' (node_modules/.bin).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

TOPOLVM_VERSION=v0.38.0

go_build_cached topolvm "$TOPOLVM_VERSION" topolvm \
  "-X github.com/topolvm/topolvm.Version=$TOPOLVM_VERSION" \
  github.com/topolvm/topolvm/cmd/topolvm-controller \
  github.com/topolvm/topolvm/cmd/topolvm-node \
  github.com/topolvm/topolvm/cmd/topolvm-scheduler

# Builds from before the controller and node joined were cached under the scheduler's name.
rm -rf "$GO_BUILD_ROOT"/topolvm-scheduler-v*
