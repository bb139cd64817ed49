# cert-manager's CustomResourceDefinitions (cert-manager.io: Certificate, CertificateRequest, Issuer, ClusterIssuer) of
# github.com/cert-manager/cert-manager v1.21.2, from the Go module proxy: the chart's tests apply them to the local
# cluster so that the Issuers and the Certificate the chart renders pass a server-side dry-run against their real
# schemas. cert-manager itself is not run. Copied into $TOPOLVM_CACHE/build/cert-manager-crds-VERSION, linked at
# $TOPOLVM_CACHE/cert-manager-crds.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/tools/go/build.sh"

CERT_MANAGER_VERSION=v1.21.2

crds="$GO_BUILD_ROOT/cert-manager-crds-$CERT_MANAGER_VERSION"
if [ ! -f "$crds/.complete" ]; then
  module_dir=$(go_module_dir "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION")
  [ -n "$module_dir" ] || die "could not download github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION for its CRDs"
  rm -rf "$crds.partial"
  mkdir -p "$crds.partial"
  for kind in certificates certificaterequests issuers clusterissuers; do
    file="$module_dir/deploy/crds/cert-manager.io_$kind.yaml"
    [ -f "$file" ] || die "cert-manager $CERT_MANAGER_VERSION has no deploy/crds/cert-manager.io_$kind.yaml"
    cp "$file" "$crds.partial/"
  done
  # The module cache is read-only; the copies need not be.
  chmod 0644 "$crds.partial"/*.yaml
  touch "$crds.partial/.complete"
  rm -rf "$crds"
  mv "$crds.partial" "$crds"
  find "$GO_BUILD_ROOT" -mindepth 1 -maxdepth 1 -name 'cert-manager-crds-v*' ! -name "$(basename "$crds")" -exec rm -rf {} +
  log "cert-manager $CERT_MANAGER_VERSION CRDs in $crds"
fi
ln -sfn "$crds" "$TOPOLVM_CACHE/cert-manager-crds"
