#!/bin/sh
# /init of the test guest (busybox sh; the test itself runs under bash, because busybox sh
# prefers its own applets to the real tools on PATH, e.g. util-linux's losetup). guest.py puts the test in /test: main.sh, its helper
# files and args (one argument per line). The host's run directory is mounted at /out over 9p:
# the test's stdout and stderr go to /out/stdout and /out/stderr as they are written (so a
# timeout still shows how far the test got), its exit status to /out/rc, the kernel log to
# /out/dmesg. Disks are named by their serial: /dev/disk/NAME.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/disk
ln -s /proc/self/fd /dev/fd
ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/mdadm /run/meshraid /etc/nvme
ip link set lo up
hostname guest
say() { echo "guest-init: $*" >/dev/console; }

for m in virtio_blk 9pnet_virtio 9p; do /usr/sbin/modprobe "$m" || say "modprobe $m failed"; done
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out; then
  say "cannot mount the host's run directory over 9p"
  poweroff -f
fi
for d in /sys/block/vd*; do
  [ -e "$d/serial" ] || continue
  s=$(cat "$d/serial")
  [ -n "$s" ] && ln -s "/dev/${d##*/}" "/dev/disk/$s"
done

set --
if [ -f /test/args ]; then
  while IFS= read -r a; do set -- "$@" "$a"; done </test/args
fi
say "running /test/main.sh $*"
cd /test
(/usr/bin/bash /test/main.sh "$@") </dev/null >/out/stdout 2>/out/stderr
rc=$?
dmesg >/out/dmesg 2>&1
echo "$rc" >/out/rc
sync
say "test exited $rc"
umount /out
poweroff -f
