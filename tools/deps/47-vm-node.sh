# What a real Kubernetes node inside the data-path VM needs (tools/vm-cluster): the kubelet of the control plane's
# version, built from the wrapper module tools/go/kubelet: the same pins as tools/go/kubernetes plus the kubelet's own
# dependencies, sharing the module and Go build caches, so it costs only the kubelet's own packages.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

K8S_VERSION=v1.37.2
k8s_minor=${K8S_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}

ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
done

go_build_cached kubelet "$K8S_VERSION" kubelet "$ldflags" k8s.io/kubernetes/cmd/kubelet

# containerd v2 rather than bookworm's 1.6: Kubernetes supports containerd 1.x only up to 1.35, and kubelet v1.37 asks
# the runtime for its cgroup driver (the CRI RuntimeConfig call, added in containerd 2.0); against 1.x it falls back to
# its own setting with a deprecation counter that names v1.38 as the end. The module has no replace directives, so
# `go install module@version` builds it; without cgo the btrfs snapshotter drops out, which the node does not use.
CONTAINERD_VERSION=v2.4.2
containerd_module=github.com/containerd/containerd/v2
go_install_cached containerd "$CONTAINERD_VERSION" "-X $containerd_module/version.Version=$CONTAINERD_VERSION" \
  "$containerd_module/cmd/containerd@$CONTAINERD_VERSION" \
  "$containerd_module/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
  "$containerd_module/cmd/ctr@$CONTAINERD_VERSION"

# runc (cgo, libseccomp) is taken from Debian: containerd v2.4 works with runc 1.1; the CNI bridge, host-local,
# loopback and portmap plugins too (in /usr/lib/cni). Debian's containerd package is not installed: it would start
# a daemon on the host.
apt_install runc containernetworking-plugins

# The sandbox ("pause") image, from tools/go/pause, as an OCI image layout archive that `ctr images import` reads:
# one uncompressed layer holding /pause, named by the io.containerd.image.name annotation.
go_build_cached pause v1 pause "" topolvm-ts/tools/pause
pause_binary="$GO_BUILT_DIR/pause"
PAUSE_IMAGE=localhost/topolvm-ts/pause:v1
node_cache="$TOPOLVM_CACHE/vm-node"
pause_archive="$node_cache/pause-$(sha256sum "$pause_binary" | cut -c1-12).oci.tar"

# blob FILE: moves FILE into the layout's blobs under its digest and prints `"digest":"sha256:…","size":N`.
blob() {
  local digest size
  digest=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$layout/blobs/sha256/$digest"
  printf '"digest":"sha256:%s","size":%d' "$digest" "$size"
}

if [ ! -f "$pause_archive" ]; then
  mkdir -p "$node_cache"
  work=$(mktemp -d "$node_cache/.pause.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  layout="$work/layout"
  mkdir -p "$work/root" "$layout/blobs/sha256"
  install -m 0755 "$pause_binary" "$work/root/pause"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu -cf "$work/layer.tar" -C "$work/root" pause
  layer_digest=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  layer=$(blob "$work/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$layer_digest" >"$work/config.json"
  config=$(blob "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json",%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",%s}]}' \
    "$config" "$layer" >"$work/manifest.json"
  manifest=$(blob "$work/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$PAUSE_IMAGE" "${PAUSE_IMAGE##*:}" >"$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu -cf "$work/image.tar" -C "$layout" .
  mv "$work/image.tar" "$pause_archive"
  find "$node_cache" -maxdepth 1 -name 'pause-*.oci.tar' ! -name "$(basename "$pause_archive")" -delete
fi
ln -sfn "$(basename "$pause_archive")" "$node_cache/pause.oci.tar"
