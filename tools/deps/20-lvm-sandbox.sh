# What tools/lvm-sandbox/sandbox runs beyond lvm2: losetup (package mount), flock (util-linux), truncate and
# sha256sum (coreutils). All are priority "required" on Debian; listed so a trimmed image gets them too.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
apt_install mount util-linux coreutils lvm2
