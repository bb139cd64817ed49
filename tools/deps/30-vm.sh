# The data-path VM (tools/vm/run): QEMU, busybox-static for its initramfs, the tools the tests run inside it
# from the shared host root, and Debian's current amd64 kernel with its modules, unpacked into
# $TOPOLVM_CACHE/vm/kernel-<package>_<version>/ and pointed at by the symlink $TOPOLVM_CACHE/vm/kernel.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
apt_install qemu-system-x86 busybox-static kmod xz-utils lvm2 dmsetup thin-provisioning-tools e2fsprogs xfsprogs btrfs-progs

vm_cache="$TOPOLVM_CACHE/vm"
mkdir -p "$vm_cache"

# kernel_package: the "name version" of the image package that the linux-image-amd64 metapackage depends on.
kernel_package() {
  apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n 's/^Depends: \(linux-image-[^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -n1
}

resolved=$(kernel_package)
if [ -z "$resolved" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  touch "$TOPOLVM_CACHE/apt-updated"
  resolved=$(kernel_package)
fi
[ -n "$resolved" ] || die "apt cannot resolve the kernel package behind linux-image-amd64"
read -r package version <<<"$resolved"

kernel_dir="$vm_cache/kernel-${package}_${version}"
if [ ! -f "$kernel_dir/.complete" ]; then
  log "downloading and unpacking $package $version"
  work=$(mktemp -d "$vm_cache/.download.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # The cache is often under root's home, which apt's unprivileged download user cannot write to.
  (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$package=$version" >/dev/null)
  mkdir -p "$work/root"
  dpkg -x "$work"/"$package"_*.deb "$work/root"
  # The boot image is readable by root only in the package; the harness reads it as whoever runs the tests.
  chmod a+r "$work"/root/boot/vmlinuz-*
  # Under emulation, booting the uncompressed kernel ELF (PVH entry) saves the firmware and xz decompression:
  # seconds per boot. The bzImage carries it as one xz stream.
  for image in "$work"/root/boot/vmlinuz-*; do
    offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$image" | head -n1 | cut -d: -f1)
    [ -n "$offset" ] || die "$image holds no xz-compressed kernel"
    tail -c +$((offset + 1)) "$image" >"$work/kernel.xz"
    xz -dc --single-stream "$work/kernel.xz" >"${image/vmlinuz-/vmlinux-}"
    [ "$(head -c4 "${image/vmlinuz-/vmlinux-}" | od -An -c | tr -d ' ')" = '177ELF' ] || die "$image did not unpack to an ELF kernel"
  done
  # The package leaves modules.dep to its postinst; the VM's modprobe needs it.
  for modules in "$work"/root/lib/modules/*/; do
    depmod -b "$work/root" "$(basename "$modules")"
  done
  rm -rf "$kernel_dir"
  mv "$work/root" "$kernel_dir"
  touch "$kernel_dir/.complete"
  find "$vm_cache" -mindepth 1 -maxdepth 1 -name 'kernel-*' ! -name "$(basename "$kernel_dir")" -exec rm -rf {} +
fi
ln -sfn "$(basename "$kernel_dir")" "$vm_cache/kernel"
