#!/bin/sh
# /init of the denovmm default guest (busybox). Mounts the basics, prints the ready marker, then
# runs the command the kernel passed after " -- " (or a shell), and ends the VM with reboot -f:
# with reboot=k the kernel resets through the i8042 and denovmm exits.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
hostname denovmm
ip link set lo up 2>/dev/null

# denovmm.ip=ADDR/PREFIX on the kernel command line configures eth0.
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    denovmm.ip=*)
      ip link set eth0 up && ip addr add "${arg#denovmm.ip=}" dev eth0
      ;;
  esac
done

echo DENOVMM_READY
if [ "$#" -gt 0 ]; then
  sh -c "$*"
  echo "DENOVMM_EXIT=$?"
else
  setsid cttyhack sh -l
fi
sync
reboot -f
