# In the guest: our NVMe/TCP host (meshraid's nvme+tcp:// members) against the kernel's
# nvmet-tcp target.
#   1. nvmet exports one subsystem on 127.0.0.1:4420 to our host NQN only (allowed_hosts) with
#      two namespaces: 1 a file on XFS (4096-byte LBA), 2 a virtio disk (512-byte LBA); the
#      kernel's own nvme-tcp host, connected once, sees those LBA sizes.
#   2. meshraid create: a 3-way RAID1 of a local file and both namespaces (header and data
#      digests on), internal bitmap; meshraid run exports it over NBD on a Unix socket;
#      nbd-client -unix -> /dev/nbd0.
#   3. fio randwrite with crc32c headers on the first MiBs of /dev/nbd0; mid-run nvmet's
#      namespace 1 is disabled: the member fails in meshraid's log, fio's write pass and a
#      verify-only pass are clean, the kernel logged no I/O error on nbd0.
#   4. Namespace 1 enabled again, meshraid manage --re-add: the recovery is bitmap-guided
#      (run's log) and copies only the dirty bitmap chunks (detail --json: copied and skipped
#      sectors); the array is in sync again.
#   5. nbd-client -d, a clean stop; meshraid cat of each member alone (the local file, the
#      4096-LBA namespace, the 512-LBA namespace) has the sha256 /dev/nbd0 served before.
set -euo pipefail
. /test/guest_lib.sh
size_mib=$1   # each member
fio_mib=$2    # the region fio writes, from array offset 0
modprobe nvmet-tcp
modprobe nbd nbds_max=2
modprobe xfs
mount -t configfs none /sys/kernel/config

uuid=$(cat /proc/sys/kernel/random/uuid)
hostnqn="nqn.2014-08.org.nvmexpress:uuid:$uuid"
echo "$hostnqn" >/etc/nvme/hostnqn
echo "$uuid" >/etc/nvme/hostid

step "nvmet: subsystem with a file namespace on XFS (1) and a virtio disk namespace (2)"
mkfs.xfs -q -f "$(disk t)"
mkdir -p /mnt/t
mount "$(disk t)" /mnt/t
truncate -s "${size_mib}M" /mnt/t/ns1.img
ns2dev=$(disk n2)
[ "$(blockdev --getss "$ns2dev")" = 512 ] || fail "$ns2dev does not have 512-byte sectors"
S=/sys/kernel/config/nvmet
N=nqn.2026-12.io.meshraid:members
mkdir "$S/subsystems/$N"
echo 0 >"$S/subsystems/$N/attr_allow_any_host"
mkdir "$S/hosts/$hostnqn"
ln -s "$S/hosts/$hostnqn" "$S/subsystems/$N/allowed_hosts/$hostnqn"
mkdir "$S/subsystems/$N/namespaces/1" "$S/subsystems/$N/namespaces/2"
echo -n /mnt/t/ns1.img >"$S/subsystems/$N/namespaces/1/device_path"
echo -n "$ns2dev" >"$S/subsystems/$N/namespaces/2/device_path"
echo 1 >"$S/subsystems/$N/namespaces/1/enable"
echo 1 >"$S/subsystems/$N/namespaces/2/enable"
mkdir "$S/ports/1"
echo tcp >"$S/ports/1/addr_trtype"
echo ipv4 >"$S/ports/1/addr_adrfam"
echo 127.0.0.1 >"$S/ports/1/addr_traddr"
echo 4420 >"$S/ports/1/addr_trsvcid"
ln -s "$S/subsystems/$N" "$S/ports/1/subsystems/$N"
ns1_enable=$S/subsystems/$N/namespaces/1/enable

step "the kernel's own host sees namespace 1 with a 4096-byte LBA and namespace 2 with 512"
modprobe nvme-tcp
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$N" >/out/kernel-connect.txt 2>&1 \
  || { cat /out/kernel-connect.txt; fail "the kernel host could not connect to nvmet"; }
lbs_of_nsid() {  # the logical block size of the kernel's block device for nsid $1 of $N
  for b in /sys/block/nvme*n*; do
    case ${b##*/} in nvme*c*n*) continue ;; esac  # a hidden multipath path
    [ "$(cat "$b/device/subsysnqn" 2>/dev/null)" = "$N" ] && [ "$(cat "$b/nsid")" = "$1" ] || continue
    cat "$b/queue/logical_block_size"
    return 0
  done
  return 1
}
wait_for 30 lbs_of_nsid 2 >/dev/null || fail "the kernel host has no block device for namespace 2"
[ "$(lbs_of_nsid 1)" = 4096 ] || fail "namespace 1 has a $(lbs_of_nsid 1)-byte LBA, not 4096"
[ "$(lbs_of_nsid 2)" = 512 ] || fail "namespace 2 has a $(lbs_of_nsid 2)-byte LBA, not 512"
nvme disconnect -n "$N" >/out/kernel-disconnect.txt 2>&1 || { cat /out/kernel-disconnect.txt; fail "nvme disconnect failed"; }

local=/tmp/local.img
truncate -s "${size_mib}M" "$local"
U1="nvme+tcp://127.0.0.1:4420/$N?nsid=1&digest=header,data"
U2="nvme+tcp://127.0.0.1:4420/$N?nsid=2&digest=header,data"

step "meshraid create: RAID1 of $local, namespace 1 and namespace 2, internal bitmap"
meshraid create --level=1 --raid-devices=3 --assume-clean --bitmap=internal --name=vol \
  "$local" "$U1" "$U2" | tee /out/create.txt
meshraid examine "$U1" >/out/examine-ns1.txt || { cat /out/examine-ns1.txt; fail "examine of namespace 1 failed"; }
meshraid examine "$U2" >/out/examine-ns2.txt || { cat /out/examine-ns2.txt; fail "examine of namespace 2 failed"; }
grep -q "Bitmap" /out/examine-ns1.txt || { cat /out/examine-ns1.txt; fail "namespace 1 has no bitmap"; }

meshraid run --export="nbd+unix:///vol?socket=/run/vol.sock" "$local" "$U1" "$U2" >/out/run.log 2>&1 &
run=$!
wait_for 60 test -S /run/vol.sock || { cat /out/run.log; fail "meshraid run did not start"; }
meshraid detail --json >/out/detail-start.json
json() { sed -n "s/^ *\"$2\": \([0-9]*\),\{0,1\}$/\1/p" "$1" | head -1; }  # first numeric field KEY
chunk_bytes=$(json /out/detail-start.json chunk_bytes)
dev_sectors=$(json /out/detail-start.json dev_sectors)
[ -n "$chunk_bytes" ] && [ "$chunk_bytes" -gt 0 ] || { cat /out/detail-start.json; fail "the running array has no bitmap"; }
chunks=$(( (dev_sectors * 512 + chunk_bytes - 1) / chunk_bytes ))
fio_chunks=$(( (fio_mib * 1048576 + chunk_bytes - 1) / chunk_bytes ))
echo "bitmap: $chunks chunks of $((chunk_bytes >> 20)) MiB; fio writes ${fio_mib} MiB (chunks 0..$((fio_chunks - 1)))"
[ "$chunks" -gt "$fio_chunks" ] || fail "every bitmap chunk is in fio's region: nothing to skip (size $size_mib MiB)"

step "nbd-client -unix: /dev/nbd0"
nbd-client -unix /run/vol.sock /dev/nbd0 -N vol -b 4096
array_bytes=$(blockdev --getsize64 /dev/nbd0)
[ "$array_bytes" -gt $(( (size_mib - 16) << 20 )) ] || fail "nbd0 has the wrong size ($array_bytes)"

written() { awk '{print $7}' /sys/block/nbd0/stat; }  # sectors written to nbd0
wrote_more_than() { [ $(( $(written) - start )) -gt $(($1 << 11)) ]; }  # MiB since $start
step "fio randwrite verify=crc32c on nbd0; nvmet's namespace 1 is disabled mid-run"
job=(--name=verify --filename=/dev/nbd0 --offset=0 --size="${fio_mib}M" --bs=4k --rw=randwrite
     --iodepth=16 --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --randrepeat=1)
start=$(written)
fio "${job[@]}" --do_verify=0 --output=/out/fio-write.txt &
fio_pid=$!
wait_for 300 wrote_more_than $((fio_mib / 4)) || fail "fio wrote less than $((fio_mib / 4)) MiB"
echo 0 >"$ns1_enable"
kill -0 "$fio_pid" 2>/dev/null || fail "fio had ended before the namespace was disabled"
step "namespace 1 disabled after $(( ($(written) - start) / 2048 )) MiB; fio goes on"
wait "$fio_pid" || { cat /out/fio-write.txt; fail "fio's write pass failed after the namespace was disabled"; }
grep -q "err= 0" /out/fio-write.txt || { cat /out/fio-write.txt; fail "fio write pass reports errors"; }
wait_for 30 grep -q "member .*nsid=1.* failed" /out/run.log || { cat /out/run.log; fail "meshraid did not log the failure of namespace 1"; }
grep "failed" /out/run.log
echo 3 >/proc/sys/vm/drop_caches
step "verify-only pass"
fio "${job[@]}" --verify_only=1 --output=/out/fio-verify.txt \
  || { cat /out/fio-verify.txt; fail "fio verify failed"; }
grep -q "err= 0" /out/fio-verify.txt || { cat /out/fio-verify.txt; fail "fio verify reports errors"; }
if dmesg | grep -E "nbd0|I/O error" | grep -iE "error|timed out|disconnect"; then
  fail "the kernel logged I/O errors on nbd0"
fi
meshraid detail --json >/out/detail-degraded.json
grep -q '"degraded": 1' /out/detail-degraded.json || { cat /out/detail-degraded.json; fail "the array is not degraded by one"; }
copied0=$(json /out/detail-degraded.json copied_sectors)
skipped0=$(json /out/detail-degraded.json skipped_sectors)
dirty=$(json /out/detail-degraded.json dirty_chunks)
echo "degraded: $dirty dirty bitmap chunks; sync copied $copied0, skipped $skipped0 sectors so far"
[ "$dirty" -ge 1 ] && [ "$dirty" -le "$fio_chunks" ] \
  || fail "$dirty dirty bitmap chunks after writes to chunks 0..$((fio_chunks - 1)) only"

step "namespace 1 enabled again; meshraid manage --re-add"
echo 1 >"$ns1_enable"
meshraid manage vol --re-add "$U1" | tee /out/re-add.txt
wait_for 300 grep -q "recovery of .*nsid=1.* done: in sync" /out/run.log \
  || { cat /out/run.log; meshraid detail; fail "the recovery of namespace 1 did not finish"; }
grep -E "re-added|recovery" /out/run.log
grep -q "nsid=1.* re-added to slot 1 (bitmap-guided" /out/run.log || fail "the re-add was not bitmap-guided"
grep -q "recovery of .*nsid=1.* started at sector 0 (bitmap-guided)" /out/run.log || fail "the recovery was not bitmap-guided"
meshraid detail --json >/out/detail-after.json
grep -q '"degraded": 0' /out/detail-after.json || { cat /out/detail-after.json; fail "the array is still degraded"; }
[ "$(grep -c '"state": "in_sync"' /out/detail-after.json)" = 3 ] || { cat /out/detail-after.json; fail "not every member is in sync"; }
copied=$(( $(json /out/detail-after.json copied_sectors) - copied0 ))
skipped=$(( $(json /out/detail-after.json skipped_sectors) - skipped0 ))
used=$(json /out/detail-after.json dev_sectors)
echo "re-add recovery copied $copied sectors and skipped $skipped as clean ($used sectors per member)"
[ "$copied" -gt 0 ] || fail "the recovery copied nothing"
[ "$copied" -le $(( dirty * chunk_bytes / 512 )) ] || fail "the recovery copied more than the $dirty dirty chunks"
[ "$skipped" -ge $(( used - dirty * chunk_bytes / 512 )) ] || fail "the recovery skipped less than the clean chunks"

step "sha256 of /dev/nbd0, nbd-client -d, a clean stop"
echo 3 >/proc/sys/vm/drop_caches
served=$(dd if=/dev/nbd0 bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1)
nbd-client -d /dev/nbd0
kill -TERM "$run"
wait "$run" || { cat /out/run.log; fail "meshraid run did not exit 0 after SIGTERM"; }
grep -q "stopped cleanly" /out/run.log || { cat /out/run.log; fail "no clean stop"; }

step "meshraid cat of each member alone equals what nbd0 served"
members=("$local" "$U1" "$U2")
pids=()
for i in 0 1 2; do  # in parallel: each reads the whole array from one member
  (meshraid cat "${members[$i]}" 2>"/out/cat$i.err" | sha256sum | cut -d' ' -f1 >"/out/cat$i.sha") &
  pids+=($!)
done
for i in 0 1 2; do
  wait "${pids[$i]}" || { cat "/out/cat$i.err"; fail "meshraid cat ${members[$i]} failed"; }
  got=$(cat "/out/cat$i.sha")
  echo "cat ${members[$i]}: $got"
  [ "$got" = "$served" ] || { cat "/out/cat$i.err"; fail "meshraid cat ${members[$i]}: sha256 $got, nbd0 served $served"; }
done
nvmet_failed=$(dmesg | grep -c "nvmet_tcp: failed cmd" || true)
echo "nvmet logged $nvmet_failed failed commands (I/O to the disabled namespace)"
echo "nvme_host: all steps passed"
