# Kubernetes control plane for tools/cluster, built from the Go module proxy: kube-apiserver, kube-controller-manager
# and kube-scheduler from k8s.io/kubernetes v1.37.2 (the newest release the proxy serves), through the wrapper module
# tools/go/kubernetes, which replaces the staging modules with k8s.io/* v0.37.2. One `go build` of the three commands
# shares their compile work. kubectl comes from the same module, and only when the machine's own kubectl is missing or
# older than the supported skew (one minor below the apiserver); otherwise TOPOLVM_BIN/kubectl links to the machine's.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

K8S_VERSION=v1.37.2
k8s_minor=${K8S_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}

# The version reported by /version, --version and kubectl comes from these linker variables, as in Kubernetes'
# own release builds; unset, every component would call itself v0.0.0-master.
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
done

go_build_cached kubernetes "$K8S_VERSION" kubernetes "$ldflags" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler

# system_kubectl: the first kubectl on PATH that is not one this script linked, or nothing.
system_kubectl() {
  local candidate
  for candidate in $(type -ap kubectl); do
    case "$(readlink -f "$candidate")" in
      "$TOPOLVM_CACHE"/*) ;;
      *) printf '%s\n' "$candidate"; return 0 ;;
    esac
  done
}

# kubectl_minor PATH: the client's minor version, or nothing when it cannot say.
kubectl_minor() {
  "$1" version --client -o json 2>/dev/null | sed -n 's/^ *"minor": *"\([0-9]*\).*/\1/p' | head -n1
}

machine_kubectl=$(system_kubectl)
machine_minor=""
[ -n "$machine_kubectl" ] && machine_minor=$(kubectl_minor "$machine_kubectl")
if [ -n "$machine_minor" ] && [ "$machine_minor" -ge $((k8s_minor - 1)) ]; then
  ln -sfn "$machine_kubectl" "$TOPOLVM_BIN/kubectl"
else
  go_build_cached kubectl "$K8S_VERSION" kubernetes "$ldflags" k8s.io/kubernetes/cmd/kubectl
fi
