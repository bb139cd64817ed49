# etcd v3.7.3 (the line k8s.io/kubernetes v1.37 is tested against) for tools/cluster, built through the wrapper module
# tools/go/etcd: the module holding the etcd command has relative replace directives, so the wrapper calls the same
# entry point, go.etcd.io/etcd/server/v3/etcdmain.Main.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

ETCD_VERSION=v3.7.3

go_build_cached etcd "$ETCD_VERSION" etcd "" topolvm-ts/tools/etcd
