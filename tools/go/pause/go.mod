// The pause command of the VM node's sandbox image (tools/deps/47-vm-node.sh): no registry is reachable, so the image
// is built here from this module.
module topolvm-ts/tools/pause

go 1.26.0
