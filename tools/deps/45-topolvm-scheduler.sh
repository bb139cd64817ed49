# Upstream TopoLVM v0.38.0's scheduler extender (github.com/topolvm/topolvm/cmd/topolvm-scheduler), the Go
# implementation the project's own extender is benchmarked against. Built through tools/go/topolvm, whose go.sum
# records the module's hash (the checksum database reachable here has no entry for it).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

TOPOLVM_VERSION=v0.38.0

go_build_cached topolvm-scheduler "$TOPOLVM_VERSION" topolvm \
  "-X github.com/topolvm/topolvm.Version=$TOPOLVM_VERSION" \
  github.com/topolvm/topolvm/cmd/topolvm-scheduler
