# In the guest: the kernel's nbd client on meshraid's NBD server.
#   1. RAID1 of a local file and a remote member (meshraid serve-member on a virtio disk, over a
#      Unix socket); nbd-client -unix -> /dev/nbd0; mkfs.xfs; fio randwrite with crc32c
#      headers; the remote member is killed mid-run; a verify-only pass over everything fio
#      wrote is clean and the kernel logged no I/O error on nbd0.
#   2. fstrim reaches the array: the local member file gives the space back.
#   3. nbd-client -d and a clean stop; a connection asking for a wrong export name is refused
#      with a message.
#   4. The same over TCP on 127.0.0.1 (nbd-client HOST PORT): written bytes read back.
set -euo pipefail
. /test/guest_lib.sh
modprobe nbd nbds_max=4
modprobe xfs
mkdir -p /mnt/vol
m0=/tmp/m0.img
m1=$(disk m1)
truncate -s 320M "$m0"

step "create a RAID1 of $m0 and $m1"
meshraid create --level=1 --raid-devices=2 --assume-clean --name=vol "$m0" "$m1"
meshraid serve-member --socket=/run/m1.sock --name=m1 "$m1" >/out/serve-member.log 2>&1 &
sm=$!
wait_for 20 test -S /run/m1.sock || fail "serve-member did not start"
meshraid run --export="nbd+unix:///vol?socket=/run/vol.sock" "$m0" "nbd+unix:///m1?socket=/run/m1.sock" \
  >/out/run.log 2>&1 &
run=$!
wait_for 30 test -S /run/vol.sock || { cat /out/run.log; fail "meshraid run did not start"; }

step "nbd-client -unix: /dev/nbd0, mkfs.xfs, mount"
nbd-client -unix /run/vol.sock /dev/nbd0 -N vol -b 4096
[ "$(blockdev --getsize64 /dev/nbd0)" -gt $((300 << 20)) ] || fail "nbd0 has the wrong size"
mkfs.xfs -q -f /dev/nbd0
mount /dev/nbd0 /mnt/vol

written() { awk '{print $7}' /sys/block/nbd0/stat; }  # sectors written to nbd0
wrote_more_than() { [ $(( $(written) - start )) -gt $(($1 << 11)) ]; }  # MiB since $start
step "fio randwrite verify=crc32c at QD16; the remote member is killed mid-run"
job=(--name=verify --filename=/mnt/vol/fio.dat --size=48M --bs=4k --rw=randwrite --iodepth=16
     --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --randrepeat=1 --norandommap=0)
start=$(written)
fio "${job[@]}" --do_verify=0 --output=/out/fio-write.txt &
fio_pid=$!
wait_for 300 wrote_more_than 8 || fail "fio wrote less than 8 MiB"
kill -9 "$sm"
kill -0 "$fio_pid" 2>/dev/null || fail "fio had ended before the member was killed"
step "member killed after $(( ($(written) - start) / 2048 )) MiB; fio goes on"
wait "$fio_pid" || { cat /out/fio-write.txt; fail "fio's write pass failed after the member died"; }
grep -q "err= 0" /out/fio-write.txt || { cat /out/fio-write.txt; fail "fio write pass reports errors"; }
grep -q "member .*m1.* failed" /out/run.log || { cat /out/run.log; fail "meshraid did not log the member failure"; }
sync
echo 3 >/proc/sys/vm/drop_caches
step "verify-only pass over everything fio wrote"
fio "${job[@]}" --verify_only=1 --output=/out/fio-verify.txt \
  || { cat /out/fio-verify.txt; fail "fio verify failed"; }
grep -q "err= 0" /out/fio-verify.txt || { cat /out/fio-verify.txt; fail "fio verify reports errors"; }
if dmesg | grep -E "nbd0|I/O error" | grep -iE "error|timed out|disconnect"; then
  fail "the kernel logged I/O errors on nbd0"
fi
meshraid detail --json >/out/detail.json

step "fstrim reaches the array"
rm /mnt/vol/fio.dat
sync
before=$(du -k "$m0" | cut -f1)
fstrim -v /mnt/vol | tee /out/fstrim.txt
after=$(du -k "$m0" | cut -f1)
echo "local member allocated: ${before} KiB before fstrim, ${after} KiB after"
[ "$after" -lt $((before - 32 * 1024)) ] || fail "fstrim did not release the member's space ($before -> $after KiB)"

step "unmount, nbd-client -d, a wrong export name, a clean stop"
umount /mnt/vol
nbd-client -d /dev/nbd0
if nbd-client -unix /run/vol.sock /dev/nbd1 -N wrong -b 4096 >/out/wrong.txt 2>&1; then
  cat /out/wrong.txt; fail "nbd-client connected to an export name that does not exist"
fi
cat /out/wrong.txt
grep -qi "wrong" /out/wrong.txt || fail "the refusal does not name the export"
kill -TERM "$run"
wait "$run" || { cat /out/run.log; fail "meshraid run did not exit 0 after SIGTERM"; }
grep -q "stopped cleanly" /out/run.log || { cat /out/run.log; fail "no clean stop"; }

step "over TCP: nbd-client 127.0.0.1 10809"
truncate -s 64M /tmp/t0.img /tmp/t1.img
meshraid create --level=10 --layout=n2 --raid-devices=2 --assume-clean --name=tcp /tmp/t0.img /tmp/t1.img
meshraid run --listen=127.0.0.1:10809 /tmp/t0.img /tmp/t1.img >/out/run-tcp.log 2>&1 &
run=$!
wait_for 30 grep -q "serving .* on 127.0.0.1:10809" /out/run-tcp.log || { cat /out/run-tcp.log; fail "meshraid run --listen did not start"; }
nbd-client 127.0.0.1 10809 /dev/nbd1 -N tcp -b 4096
head -c $((24 << 20)) /dev/urandom >/tmp/data
dd if=/tmp/data of=/dev/nbd1 bs=1M oflag=direct status=none
echo 3 >/proc/sys/vm/drop_caches
cmp /tmp/data <(dd if=/dev/nbd1 bs=1M count=24 iflag=direct status=none) || fail "TCP read-back differs"
nbd-client -d /dev/nbd1
kill -TERM "$run"
wait "$run" || { cat /out/run-tcp.log; fail "meshraid run (TCP) did not exit 0"; }
grep -q "stopped cleanly" /out/run-tcp.log || fail "no clean stop (TCP)"
echo "nbd_client: all steps passed"
