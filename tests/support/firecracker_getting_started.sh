#!/usr/bin/env bash
# The API calls of Firecracker's getting-started guide (docs/getting-started.md, "Running
# Firecracker": set the guest kernel, set the guest rootfs, the optional machine-config of its
# note, start the guest machine), written as the guide has them. Only one path differs: the
# guide's socket /tmp/firecracker.sock is "${API_SOCKET}" here, so that test runs cannot collide.
# The kernel and rootfs keep the guide's names: the caller runs this in a directory where
# ./hello-vmlinux.bin and ./hello-rootfs.ext4 are denovmm's default guest kernel and root image.
set -eu
: "${API_SOCKET:?set API_SOCKET to the denovmm API socket}"

# set the guest kernel:
curl --unix-socket "${API_SOCKET}" -i \
    -X PUT 'http://localhost/boot-source'   \
    -H 'Accept: application/json'           \
    -H 'Content-Type: application/json'     \
    -d '{
        "kernel_image_path": "./hello-vmlinux.bin",
        "boot_args": "console=ttyS0 reboot=k panic=1 pci=off"
    }'

# set the guest rootfs:
curl --unix-socket "${API_SOCKET}" -i \
    -X PUT 'http://localhost/drives/rootfs' \
    -H 'Accept: application/json'           \
    -H 'Content-Type: application/json'     \
    -d '{
        "drive_id": "rootfs",
        "path_on_host": "./hello-rootfs.ext4",
        "is_root_device": true,
        "is_read_only": false
    }'

# 2 vCPUs and 1024 MiB RAM instead of the default 1 vCPU and 128 MiB, before InstanceStart:
curl --unix-socket "${API_SOCKET}" -i  \
    -X PUT 'http://localhost/machine-config' \
    -H 'Accept: application/json'            \
    -H 'Content-Type: application/json'      \
    -d '{
        "vcpu_count": 2,
        "mem_size_mib": 1024
    }'

# start the guest machine:
curl --unix-socket "${API_SOCKET}" -i \
    -X PUT 'http://localhost/actions'       \
    -H  'Accept: application/json'          \
    -H  'Content-Type: application/json'    \
    -d '{
        "action_type": "InstanceStart"
     }'
