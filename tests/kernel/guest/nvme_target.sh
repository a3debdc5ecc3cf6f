# In the guest: the kernel's NVMe/TCP host (nvme-cli, nvme-tcp) against meshraid's target.
#   1. A RAID1 of a local file and a remote member (meshraid serve-member --nvme on a virtio
#      disk, reached by our own host with digests) runs with
#      --export=nvme+tcp://127.0.0.1:4420/NQN --allow-host=<the guest's host NQN>.
#   2. nvme discover lists the subsystem; nvme connect with another host NQN fails and our log
#      names the refused host.
#   3. nvme connect (2 I/O queues, header and data digests): the namespace has the array's size
#      and a 512-byte LBA; mkfs.xfs, mount, fio randwrite with crc32c headers; the remote member
#      is killed (-9) under it; the write pass and a verify-only pass are clean and the kernel
#      logged no I/O error; umount, nvme disconnect, a clean stop.
#   4. A second array exported with ?lba=4096: the namespace's logical block size is 4096.
#      Under a dd writing a known file to it, meshraid run is stopped (SIGTERM; later SIGKILL)
#      and started again on the same members and export each time: the kernel host reconnects
#      (controller state live, "Successfully reconnected"), dd finishes without an error and
#      the namespace reads back the file; meshraid cat of each member agrees. nvme
#      disconnect, a clean stop.
set -euo pipefail
. /test/guest_lib.sh
modprobe nvme-tcp
modprobe crc32c_generic  # the digests (nvme-tcp asks the crypto API for crc32c)
modprobe xfs
mkdir -p /mnt/vol

uuid=$(cat /proc/sys/kernel/random/uuid)
hostnqn="nqn.2014-08.org.nvmexpress:uuid:$uuid"
echo "$hostnqn" >/etc/nvme/hostnqn
echo "$uuid" >/etc/nvme/hostid

# The namespace block device and the controller of subsystem $1 (fail when not connected).
# /sys/block/X/device is the controller, or with native multipath the subsystem: both have a
# subsysnqn.
ns_dev() {
  for b in /sys/block/nvme*n*; do
    case ${b##*/} in nvme*c*n*) continue ;; esac  # a hidden multipath path
    [ -e "$b/device/subsysnqn" ] && [ "$(cat "$b/device/subsysnqn")" = "$1" ] && { echo "/dev/${b##*/}"; return 0; }
  done
  return 1
}
ctrl_of() {
  for c in /sys/class/nvme/nvme*; do
    [ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$1" ] && { echo "${c##*/}"; return 0; }
  done
  return 1
}
no_controllers() { ! ls /sys/class/nvme/ 2>/dev/null | grep -q nvme; }

N=nqn.2026-12.io.meshraid:vol
NM=nqn.2026-12.io.meshraid:m1
m0=/tmp/m0.img
m1=$(disk m1)
truncate -s 320M "$m0"
M1="nvme+tcp://127.0.0.1:4421/$NM?digest=header,data"

step "serve-member --nvme on $m1; create a RAID1 of $m0 and $M1"
meshraid serve-member --nvme="127.0.0.1:4421/$NM" --allow-host="$hostnqn" "$m1" >/out/serve-member.log 2>&1 &
sm=$!
wait_for 30 grep -q "serving $NM" /out/serve-member.log || { cat /out/serve-member.log; fail "serve-member did not start"; }
meshraid create --level=1 --raid-devices=2 --assume-clean --name=vol "$m0" "$M1"
meshraid run --export="nvme+tcp://127.0.0.1:4420/$N" --allow-host="$hostnqn" "$m0" "$M1" >/out/run.log 2>&1 &
run=$!
wait_for 60 grep -q "serving $N " /out/run.log || { cat /out/run.log; fail "meshraid run did not start its NVMe/TCP target"; }
meshraid detail --json >/out/detail.json
array_sectors=$(sed -n 's/^ *"array_sectors": \([0-9]*\),$/\1/p' /out/detail.json)
[ -n "$array_sectors" ] || { cat /out/detail.json; fail "no array_sectors in detail --json"; }

step "nvme discover lists $N"
nvme discover -t tcp -a 127.0.0.1 -s 4420 >/out/discover.txt 2>&1 || { cat /out/discover.txt; fail "nvme discover failed"; }
cat /out/discover.txt
grep -qE "subnqn: +$N\$" /out/discover.txt || fail "the discovery log does not list $N"
grep -qE "trsvcid: +4420" /out/discover.txt || fail "the discovery log has no port 4420"
no_controllers || fail "the discovery controller stayed connected"

step "nvme connect with a host NQN that is not allowed is refused"
other=$(cat /proc/sys/kernel/random/uuid)
if nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$N" --hostnqn="nqn.2014-08.org.nvmexpress:uuid:$other" \
     --hostid="$other" >/out/connect-refused.txt 2>&1; then
  cat /out/connect-refused.txt; fail "nvme connect with a host NQN that is not allowed succeeded"
fi
cat /out/connect-refused.txt
grep -q "Connect of host nqn.2014-08.org.nvmexpress:uuid:$other to $N refused" /out/run.log \
  || { cat /out/run.log; fail "our log does not name the refused host"; }
no_controllers || fail "a refused connect left a controller"

step "nvme connect (2 I/O queues, header and data digests)"
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$N" --nr-io-queues=2 --hdr-digest --data-digest \
  >/out/connect.txt 2>&1 || { cat /out/connect.txt; cat /out/run.log; fail "nvme connect failed"; }
wait_for 30 ns_dev "$N" >/dev/null || fail "no namespace block device for $N"
dev=$(ns_dev "$N")
ctrl=$(ctrl_of "$N")
echo "connected: $ctrl, $dev"
[ "$(cat /sys/class/nvme/"$ctrl"/state)" = live ] || fail "$ctrl is not live"
[ "$(blockdev --getsize64 "$dev")" = $((array_sectors * 512)) ] \
  || fail "$dev has $(blockdev --getsize64 "$dev") bytes, the array $((array_sectors * 512))"
[ "$(blockdev --getss "$dev")" = 512 ] || fail "$dev does not have 512-byte logical blocks"
[ "$(grep -c "I/O queue [12] of controller" /out/run.log)" = 2 ] || { cat /out/run.log; fail "not 2 I/O queues"; }
mkfs.xfs -q -f "$dev"
mount "$dev" /mnt/vol

bdev=${dev#/dev/}
written() { awk '{print $7}' "/sys/block/$bdev/stat"; }  # sectors written
wrote_more_than() { [ $(( $(written) - start )) -gt $(($1 << 11)) ]; }  # MiB since $start
step "fio randwrite verify=crc32c on XFS; the remote member is killed mid-run"
job=(--name=verify --filename=/mnt/vol/fio.dat --size=32M --bs=4k --rw=randwrite --iodepth=16
     --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --randrepeat=1)
start=$(written)
fio "${job[@]}" --do_verify=0 --output=/out/fio-write.txt &
fio_pid=$!
wait_for 300 wrote_more_than 8 || fail "fio wrote less than 8 MiB"
kill -9 "$sm"
kill -0 "$fio_pid" 2>/dev/null || fail "fio had ended before the member was killed"
step "member killed after $(( ($(written) - start) / 2048 )) MiB; fio goes on"
wait "$fio_pid" || { cat /out/fio-write.txt; fail "fio's write pass failed after the member died"; }
grep -q "err= 0" /out/fio-write.txt || { cat /out/fio-write.txt; fail "fio write pass reports errors"; }
wait_for 30 grep -q "member .*$NM.* failed" /out/run.log || { cat /out/run.log; fail "meshraid did not log the member failure"; }
grep "failed" /out/run.log
sync
echo 3 >/proc/sys/vm/drop_caches
step "verify-only pass"
fio "${job[@]}" --verify_only=1 --output=/out/fio-verify.txt \
  || { cat /out/fio-verify.txt; fail "fio verify failed"; }
grep -q "err= 0" /out/fio-verify.txt || { cat /out/fio-verify.txt; fail "fio verify reports errors"; }
if dmesg | grep -iE "I/O error|$bdev.*error|nvme.*(reset|error recovery|timeout)"; then
  fail "the kernel logged the lines above"
fi

step "umount, nvme disconnect, a clean stop"
umount /mnt/vol
nvme disconnect -n "$N" >/out/disconnect.txt 2>&1 || { cat /out/disconnect.txt; fail "nvme disconnect failed"; }
grep -q "disconnected 1 controller" /out/disconnect.txt || { cat /out/disconnect.txt; fail "nvme disconnect did not disconnect one controller"; }
wait_for 10 no_controllers || fail "a controller is left after nvme disconnect"
kill -TERM "$run"
wait "$run" || { cat /out/run.log; fail "meshraid run did not exit 0 after SIGTERM"; }
grep -q "stopped cleanly" /out/run.log || { cat /out/run.log; fail "no clean stop"; }

N2=nqn.2026-12.io.meshraid:rc
r0=/tmp/r0.img
r1=/tmp/r1.img
truncate -s 96M "$r0" "$r1"
meshraid create --level=1 --raid-devices=2 --assume-clean --name=rc "$r0" "$r1"
run_rc() {
  meshraid run --export="nvme+tcp://127.0.0.1:4420/$N2?lba=4096" --allow-host="$hostnqn" "$r0" "$r1" >"$1" 2>&1 &
  run=$!
  wait_for 60 grep -q "serving $N2 " "$1" || { cat "$1"; fail "meshraid run did not start its NVMe/TCP target"; }
}
step "?lba=4096: nvme connect with a 1 s reconnect delay"
run_rc /out/run-rc1.log
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$N2" --reconnect-delay=1 --ctrl-loss-tmo=120 \
  >/out/connect-rc.txt 2>&1 || { cat /out/connect-rc.txt; cat /out/run-rc1.log; fail "nvme connect failed"; }
wait_for 30 ns_dev "$N2" >/dev/null || fail "no namespace block device for $N2"
dev=$(ns_dev "$N2")
ctrl=$(ctrl_of "$N2")
bdev=${dev#/dev/}
echo "connected: $ctrl, $dev"
[ "$(cat "/sys/block/$bdev/queue/logical_block_size")" = 4096 ] \
  || fail "$dev has a logical block size of $(cat "/sys/block/$bdev/queue/logical_block_size"), not 4096"
[ "$(blockdev --getsize64 "$dev")" -ge $((80 << 20)) ] || fail "$dev is too small"

data_mib=48
head -c $((data_mib << 20)) /dev/urandom >/tmp/data
step "dd of a known file to $dev; meshraid run stopped (SIGTERM, then SIGKILL) and started again under it"
start=$(written)
dd if=/tmp/data of="$dev" bs=256k oflag=direct status=none 2>/out/dd.err &
dd_pid=$!
n=1
for sig in TERM KILL; do
  wait_for 300 wrote_more_than $((n * 12)) || fail "dd wrote less than $((n * 12)) MiB"
  kill -"$sig" "$run"
  if [ "$sig" = TERM ]; then
    wait "$run" || { cat "/out/run-rc$n.log"; fail "meshraid run did not exit 0 after SIGTERM under I/O"; }
    grep -q "stopped cleanly" "/out/run-rc$n.log" || { cat "/out/run-rc$n.log"; fail "no clean stop under I/O"; }
  else
    wait "$run" 2>/dev/null && fail "meshraid run survived SIGKILL"
  fi
  at=$(( ($(written) - start) / 2048 ))
  kill -0 "$dd_pid" 2>/dev/null || fail "dd had ended before meshraid stopped ($at MiB)"
  wait_for 30 sh -c "[ \"\$(cat /sys/class/nvme/$ctrl/state)\" != live ]" || fail "$ctrl stayed live without its target"
  echo "meshraid run got SIG$sig after $at MiB; $ctrl is $(cat /sys/class/nvme/"$ctrl"/state)"
  n=$((n + 1))
  run_rc "/out/run-rc$n.log"
  wait_for 60 sh -c "[ \$(dmesg | grep -c '$ctrl: Successfully reconnected') -ge $((n - 1)) ]" \
    || { dmesg | grep -i nvme | tail -20; cat "/out/run-rc$n.log"; fail "the kernel host did not reconnect after SIG$sig"; }
  wait_for 30 sh -c "[ \"\$(cat /sys/class/nvme/$ctrl/state)\" = live ]" || fail "$ctrl is not live again after SIG$sig"
  dmesg | grep -E "$ctrl: (starting error|Reconnecting|Successfully|Failed)" | tail -4
done
grep -q "not cleanly stopped" /out/run-rc3.log || { cat /out/run-rc3.log; fail "the run after SIGKILL did not see an unclean array"; }
wait "$dd_pid" || { cat /out/dd.err; fail "dd failed across the restarts"; }
echo 3 >/proc/sys/vm/drop_caches
cmp /tmp/data <(dd if="$dev" bs=1M count="$data_mib" iflag=direct status=none) || fail "$dev does not read back what dd wrote"
if dmesg | grep -iE "I/O error|$bdev.*error"; then
  fail "the kernel logged I/O errors"
fi
nvme disconnect -n "$N2" >/out/disconnect-rc.txt 2>&1 || { cat /out/disconnect-rc.txt; fail "nvme disconnect failed"; }
wait_for 10 no_controllers || fail "a controller is left after nvme disconnect"
wait_for 120 grep -q "resync done" /out/run-rc3.log || { cat /out/run-rc3.log; fail "the resync after SIGKILL did not finish"; }
kill -TERM "$run"
wait "$run" || { cat /out/run-rc3.log; fail "meshraid run did not exit 0 after SIGTERM"; }
grep -q "stopped cleanly" /out/run-rc3.log || { cat /out/run-rc3.log; fail "no clean stop"; }
for m in "$r0" "$r1"; do
  cmp /tmp/data <(meshraid cat "$m" | head -c $((data_mib << 20))) || fail "meshraid cat $m differs from what dd wrote"
done
echo "nvme_target: all steps passed"
