# In the guest (bench/nvme_guest_bench.sh): the kernel's NVMe/TCP host and fio against our
# target (`meshraid serve-member --nvme`, ?lba=4096) and against the kernel's nvmet-tcp, each
# serving a file of the same size on the same XFS (so both have 4096-byte LBAs), one after the
# other. Prints "name rw qd iops p50_us" lines.
set -euo pipefail
. /test/guest_lib.sh
rt=$1
modprobe nvmet-tcp; modprobe nvme-tcp; modprobe xfs
mount -t configfs none /sys/kernel/config
U=$(cat /proc/sys/kernel/random/uuid)
echo "nqn.2014-08.org.nvmexpress:uuid:$U" >/etc/nvme/hostnqn; echo "$U" >/etc/nvme/hostid
mkfs.xfs -q -f "$(disk b)"; mkdir -p /mnt/b; mount "$(disk b)" /mnt/b
truncate -s 256M /mnt/b/ours.img /mnt/b/kernel.img
dd if=/dev/zero of=/mnt/b/ours.img bs=1M count=256 conv=notrunc status=none
dd if=/dev/zero of=/mnt/b/kernel.img bs=1M count=256 conv=notrunc status=none
S=/sys/kernel/config/nvmet; K=nqn.2026-12.io.meshraid:kernel
mkdir $S/subsystems/$K; echo 1 >$S/subsystems/$K/attr_allow_any_host
mkdir $S/subsystems/$K/namespaces/1
echo -n /mnt/b/kernel.img >$S/subsystems/$K/namespaces/1/device_path
echo 1 >$S/subsystems/$K/namespaces/1/enable
mkdir $S/ports/1
echo tcp >$S/ports/1/addr_trtype; echo ipv4 >$S/ports/1/addr_adrfam
echo 127.0.0.1 >$S/ports/1/addr_traddr; echo 4421 >$S/ports/1/addr_trsvcid
ln -s $S/subsystems/$K $S/ports/1/subsystems/$K
O=nqn.2026-12.io.meshraid:ours
meshraid serve-member --nvme="127.0.0.1:4420/$O?lba=4096" --allow-any-host /mnt/b/ours.img 2>/out/serve.log &
wait_for 20 grep -q serving /out/serve.log || fail "serve-member did not start"
dev_of() { for d in /sys/class/nvme/nvme*; do grep -q "$1" "$d/subsysnqn" && { echo "/dev/$(basename "$d")n1"; return; }; done; }
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $O >/dev/null
nvme connect -t tcp -a 127.0.0.1 -s 4421 -n $K >/dev/null
sleep 1
ours=$(dev_of $O); kern=$(dev_of $K)
[ -b "$ours" ] && [ -b "$kern" ] || fail "no namespaces: $(ls /dev/nvme*)"
for rw in randread randwrite; do
  for qd in 1 32; do
    for name in ours kernel; do
      d=$ours; [ $name = kernel ] && d=$kern
      fio --name=j --filename="$d" --rw=$rw --bs=4k --iodepth=$qd --ioengine=libaio --direct=1 \
          --time_based=1 --runtime="$rt" --ramp_time=1 --percentile_list=50 \
          --output-format=terse --terse-version=3 \
          --output=/tmp/t >/dev/null
      # terse v3: read IOPS field 8, its first clat percentile 18; write IOPS 49, percentile 59.
      if [ $rw = randread ]; then iops=$(cut -d';' -f8 /tmp/t); p50=$(cut -d';' -f18 /tmp/t | cut -d= -f2)
      else iops=$(cut -d';' -f49 /tmp/t); p50=$(cut -d';' -f59 /tmp/t | cut -d= -f2); fi
      echo "$name $rw $qd $iops $p50"
    done
  done
done
nvme disconnect -n $O >/dev/null; nvme disconnect -n $K >/dev/null
