# Kubernetes CSI sidecars run by the end-to-end tests next to the TopoLVM controller, built from the Go module proxy:
#   external-provisioner v6.4.0 (csi-provisioner), through tools/go/external-provisioner (its go.mod has replaces)
#   external-resizer v2.3.0 (csi-resizer), with go install
#   external-snapshotter v8.7.0 (csi-snapshotter, snapshot-controller), through tools/go/external-snapshotter, plus the
#     snapshot.storage.k8s.io CRDs of the same release, linked at $TOPOLVM_CACHE/snapshot-crds
# Each sidecar prints the version set here with --version, as in the upstream release images.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

PROVISIONER_VERSION=v6.4.0
RESIZER_VERSION=v2.3.0
SNAPSHOTTER_VERSION=v8.7.0

go_build_cached external-provisioner "$PROVISIONER_VERSION" external-provisioner \
  "-X main.version=$PROVISIONER_VERSION" \
  github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner

go_install_cached external-resizer "$RESIZER_VERSION" "-X main.version=$RESIZER_VERSION" \
  "github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer@$RESIZER_VERSION"

go_build_cached external-snapshotter "$SNAPSHOTTER_VERSION" external-snapshotter \
  "-X main.version=$SNAPSHOTTER_VERSION" \
  github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter \
  github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller

crds="$GO_BUILT_DIR/crds"
if [ ! -d "$crds" ]; then
  client_dir=$(go_module_dir "github.com/kubernetes-csi/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION")
  [ -n "$client_dir" ] || die "could not download external-snapshotter/client/v8@$SNAPSHOTTER_VERSION for its CRDs"
  mkdir -p "$crds.partial"
  for kind in volumesnapshotclasses volumesnapshotcontents volumesnapshots; do
    cp "$client_dir/config/crd/snapshot.storage.k8s.io_$kind.yaml" "$crds.partial/"
  done
  chmod 0644 "$crds.partial"/*.yaml
  mv "$crds.partial" "$crds"
fi
ln -sfn "$crds" "$TOPOLVM_CACHE/snapshot-crds"
