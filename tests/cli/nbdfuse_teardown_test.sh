#!/usr/bin/env bash
# lib.sh nbdfuse_teardown against real holders, as root, on `meshraid run` + nbdfuse + loop:
#   1. something has the loop device open while the stack comes down (udev's probe after a
#      umount does that): `losetup -d` returns at once but the loop device keeps the FUSE file,
#      so fusermount3 -u right away fails with EBUSY (checked: otherwise this test tests
#      nothing); nbdfuse_teardown waits for the loop device to let go, unmounts, nbdfuse exits 0,
#      and only then is the server stopped, cleanly;
#   2. a holder that outlasts the bound: nbdfuse_teardown fails, names the loop device and the
#      process that holds it, and leaves FUSE mounted (the server is not stopped under it);
#      once the holder is gone it succeeds;
#   3. a process with the FUSE file itself open: fusermount3 -u fails until the bound, the
#      report names that process; after it is gone the teardown succeeds.
# Needs root, /dev/fuse and loop devices.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root"; exit 1; }
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
cli_begin nbdfuse mkfs.xfs losetup mount fusermount3

fail() { echo "FAIL: $*"; exit 1; }
pid="" fusepid="" loop="" holder=""
dir=$WORK/stack
cleanup() {
  set +e
  [ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
  if is_mounted "$dir/fuse" && ! nbdfuse_teardown "$dir/mnt" "$loop" "$dir/fuse" "$fusepid"; then
    fusermount3 -u -z "$dir/fuse"
  fi
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
}
trap cleanup EXIT

mkdir -p "$dir/fuse" "$dir/mnt"
truncate -s 400M "$dir/m0.img" "$dir/m1.img"
"$MESHRAID" create --assume-clean --level=1 --raid-devices=2 "$dir/m0.img" "$dir/m1.img" >/dev/null
"$MESHRAID" run --export="nbd+unix:///vol?socket=$dir/nbd.sock" "$dir/m0.img" "$dir/m1.img" \
  >>"$dir/run.log" 2>&1 &
pid=$!
_nbdfuse_wait 10 test -S "$dir/nbd.sock" || { cat "$dir/run.log"; fail "meshraid run did not start"; }

fuse_up() {  # nbdfuse + a loop device on its file; sets fusepid and loop
  nbdfuse "$dir/fuse" "nbd+unix:///vol?socket=$dir/nbd.sock" &
  fusepid=$!
  _nbdfuse_wait 10 test -e "$dir/fuse/nbd" || fail "nbdfuse did not come up"
  loop=$(losetup -f --show "$dir/fuse/nbd")
}

echo "== 1: a short-lived opener of the loop device during the teardown"
fuse_up
mkfs.xfs -q -f "$loop"
mount "$loop" "$dir/mnt"
echo data >"$dir/mnt/file"
sleep 3 <"$loop" &
holder=$!
umount "$dir/mnt"
losetup -d "$loop"
if fusermount3 -u "$dir/fuse" 2>"$WORK/fusermount.err"; then
  fail "fusermount3 -u right after losetup -d succeeded although the loop device was open: the hazard is not reproduced"
fi
grep -q "busy" "$WORK/fusermount.err" || { cat "$WORK/fusermount.err"; fail "fusermount3 failed, but not with EBUSY"; }
echo "   right after losetup -d: $(cat "$WORK/fusermount.err")"
t0=$(date +%s%N)
nbdfuse_teardown "$dir/mnt" "$loop" "$dir/fuse" "$fusepid" || fail "nbdfuse_teardown failed on a holder that lets go after 3 s"
waited_ms=$((($(date +%s%N) - t0) / 1000000))
wait "$holder"; holder=""
echo "   nbdfuse_teardown waited $waited_ms ms for the loop device, then unmounted; nbdfuse exited 0"
is_mounted "$dir/fuse" && fail "FUSE still mounted after a successful teardown"
[ -z "$(nbdfuse_loops_of "$dir/fuse")" ] || fail "a loop device is still on the FUSE file"
loop="" fusepid=""

echo "== 2: a holder of the loop device that outlasts the bound"
fuse_up
sleep 30 <"$loop" &
holder=$!
if NBDFUSE_LOOP_WAIT_S=2 nbdfuse_teardown "" "$loop" "$dir/fuse" "$fusepid" >"$WORK/report" 2>&1; then
  fail "nbdfuse_teardown succeeded while a process held the loop device"
fi
sed 's/^/   report: /' "$WORK/report"
grep -q "a loop device still holds $dir/fuse/nbd 2 s after losetup -d" "$WORK/report" || fail "the report does not say which step failed"
grep -q "loop device still attached: $loop" "$WORK/report" || fail "the report does not name $loop"
grep -q "pid $holder .* has $loop open" "$WORK/report" || fail "the report does not name the holder (pid $holder)"
is_mounted "$dir/fuse" || fail "FUSE was unmounted although the loop device still held it"
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=""
nbdfuse_teardown "" "$loop" "$dir/fuse" "$fusepid" || fail "nbdfuse_teardown failed after the holder was gone"
loop="" fusepid=""

echo "== 3: a process with the FUSE file open"
fuse_up
losetup -d "$loop"
_nbdfuse_wait 10 _nbdfuse_no_loops "$dir/fuse" || fail "the loop device did not let go"
loop=""
sleep 30 <"$dir/fuse/nbd" &
holder=$!
if NBDFUSE_RETRY_S=1 nbdfuse_teardown "" "" "$dir/fuse" "$fusepid" >"$WORK/report" 2>&1; then
  fail "nbdfuse_teardown succeeded while a process had the FUSE file open"
fi
sed 's/^/   report: /' "$WORK/report"
grep -q "fusermount3 -u $dir/fuse failed for 1 s" "$WORK/report" || fail "the report does not say that fusermount3 failed"
grep -q "pid $holder .* has $dir/fuse/nbd open" "$WORK/report" || fail "the report does not name the holder (pid $holder)"
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=""
nbdfuse_teardown "" "" "$dir/fuse" "$fusepid" || fail "nbdfuse_teardown failed after the holder was gone"
fusepid=""

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || { cat "$dir/run.log"; fail "meshraid run exited $rc after SIGTERM"; }
grep -q "stopped cleanly" "$dir/run.log" || fail "no clean stop in the log"
echo "3 passed, 0 failed"
