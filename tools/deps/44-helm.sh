# helm v4.3.1 (helm.sh/helm/v4, the current major), used to render and install the TopoLVM chart.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

HELM_VERSION=v4.3.1

go_install_cached helm "$HELM_VERSION" "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
