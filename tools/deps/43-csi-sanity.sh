# csi-sanity v5.6.0 (github.com/kubernetes-csi/csi-test/v5), the CSI conformance suite run against the TopoLVM driver.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

CSI_TEST_VERSION=v5.6.0

go_install_cached csi-sanity "$CSI_TEST_VERSION" "-X main.VERSION=$CSI_TEST_VERSION" \
  "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$CSI_TEST_VERSION"
