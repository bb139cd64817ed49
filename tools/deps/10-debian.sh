# Debian packages used by the tests: real LVM on loop devices, TLS material for the local cluster.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
apt_install lvm2 thin-provisioning-tools openssl util-linux
