#!/usr/bin/env bash
# Online RAID1 -> RAID10 takeover under load: fio writes random 4 KiB blocks with crc32c verify
# headers through NBD into a running 2-way RAID1 while `meshraid grow ARRAY --level=10` runs;
# fio finishes without an error and verifies, then verifies again after the array is
# restarted; detail and mdadm --examine report raid10 near=2 with a correct checksum; the
# reverse takeover (--level=1) works online too.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin fio mdadm python3
uri="nbd+unix:///tk?socket=$WORK/tk.sock"
rp="" fp=""
cleanup() { set +e; [ -n "$fp" ] && kill -9 "$fp"; [ -n "$rp" ] && kill -9 "$rp"; wait 2>/dev/null; }
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f fio.out ] && sed 's/^/  fio: /' fio.out
  [ -f run.log ] && sed 's/^/  run: /' run.log
  exit 1
}
start() {
  "$MESHRAID" run --export="$uri" "$WORK/m1" "$WORK/m2" 2>>run.log &
  rp=$!
  for _ in $(seq 100); do
    [ -S "$WORK/tk.sock" ] && "$MESHRAID" stat tk >/dev/null 2>&1 && return
    kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
    sleep 0.1
  done
  fail "the array did not come up"
}
level() { "$MESHRAID" detail --json tk | python3 -c 'import json,sys; print(json.load(sys.stdin)["level"])'; }

truncate -s 256M m1 m2
"$MESHRAID" create --level=1 --raid-devices=2 --assume-clean --bitmap=internal --name=tk m1 m2 >/dev/null
start
cat >job.fio <<FIO
[global]
ioengine=nbd
uri=$uri
size=192m
bs=4k
iodepth=16
randseed=77
serialize_overlap=1
verify=crc32c
verify_fatal=1
verify_state_save=0

[takeover]
rw=randwrite
do_verify=1
FIO
fio --output=fio.out job.fio &
fp=$!
sleep 1
kill -0 "$fp" 2>/dev/null || fail "fio finished before the takeover"
"$MESHRAID" grow tk --level=10 >grow.txt 2>&1 || fail "online grow: $(cat grow.txt)"
kill -0 "$fp" 2>/dev/null || fail "fio was not running during the takeover"
echo "during fio: $(cat grow.txt)"
[ "$(level)" = 10 ] || fail "detail does not say level 10"
wait "$fp" || fail "fio failed across the takeover"; fp=""
grep -q "err= 0" fio.out || fail "fio reported an error"
grep -q "takeover raid1 -> raid10 done" run.log || fail "the array did not log the takeover"
"$MESHRAID" stat tk | grep -q "2 near-copies \[2/2\]" || fail "stat: $("$MESHRAID" stat tk)"
# Restart: the array assembles as raid10 and fio's data verifies.
kill -TERM "$rp"; wait "$rp" || fail "run did not stop cleanly"; rp=""
for m in m1 m2; do
  e=$(mdadm --examine "$m" 2>&1)
  grep -q "Raid Level : raid10" <<<"$e" || fail "$m: mdadm: $e"
  grep -q "Layout : near=2" <<<"$e" || fail "$m: not near=2"
  grep -q "Checksum : .* - correct" <<<"$e" || fail "$m: checksum"
done
start
grep -q "assembled raid10" run.log || fail "restart did not assemble raid10"
sed -i 's/^do_verify=1$/verify_only=1/' job.fio
fio --output=fio.out job.fio || fail "fio verify-only after restart"
grep -q "err= 0" fio.out || fail "fio verify-only reported an error"
# And back, online.
"$MESHRAID" grow tk --level=1 >grow.txt 2>&1 || fail "online reverse takeover: $(cat grow.txt)"
[ "$(level)" = 1 ] || fail "detail does not say level 1 after the reverse takeover"
fio --output=fio.out job.fio || fail "fio verify-only after the reverse takeover"
kill -TERM "$rp"; wait "$rp" || fail "run did not stop cleanly"; rp=""
echo "online takeover under fio: err=0, verified before and after a restart, and back to raid1"
echo "PASS"
