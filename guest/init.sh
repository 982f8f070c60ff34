#!/bin/sh
# /init of the denovmm default guest (busybox only).
#
# Mounts the basics, prints DENOVMM_READY on the console, then runs the words the kernel passed
# to init (everything after " -- " on the kernel command line) as one shell command and prints
# DENOVMM_EXIT=<code>; with no words it runs an interactive shell. With denovmm.agent=1 on the
# kernel command line it runs the guest agent instead (guest/agent/PROTOCOL.md) until the host
# asks it to shut down. Either way it ends the VM with
# `reboot -f`: the VMM boots with reboot=k, so the kernel resets through the i8042 and the VMM
# exits. (`poweroff -f` would only halt the CPU: there is no ACPI.)
#
# stdin/stdout/stderr are /dev/console: the kernel's built-in initramfs has that node, and it is
# opened before this script runs.
#
# Every new process costs about a second on kvm_pvm hosts (the kernel side of fork and exec runs
# emulated), so this script starts as few as it can: one `mount -a` for proc, sysfs, devtmpfs and
# the tmpfs mounts of /etc/fstab, shell builtins for the hostname and /proc/cmdline.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -a
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
echo denovmm >/proc/sys/kernel/hostname
ip link set lo up

# denovmm.ip=ADDR/PREFIX on the kernel command line configures eth0 (the kernel ignores dotted
# parameters it does not know, so this never reaches init's argv or environment).
read -r cmdline </proc/cmdline
agent=
set -f
for word in $cmdline; do
  case "$word" in
    denovmm.ip=*)
      ip link set eth0 up && ip addr add "${word#denovmm.ip=}" dev eth0
      ;;
    denovmm.agent=1)
      agent=1
      ;;
  esac
done
set +f

echo DENOVMM_READY
if [ -n "$agent" ]; then
  cd /root
  HOME=/root /bin/denovmm-agent denovmm.agent
elif [ "$#" -gt 0 ]; then
  sh -c "$*"
  echo "DENOVMM_EXIT=$?"
else
  # cttyhack opens the real console device (ttyS0, hvc0) so the shell gets job control.
  setsid cttyhack sh -l
fi
sync
reboot -f
