#!/usr/bin/env bash
# Hot replace under load: a RAID1 of two 256 MiB files is written by fio through NBD (random
# 4 KiB writes with crc32c verify headers, then fio's verify pass) while
# `meshraid manage --replace m1 --with m3` rebuilds m1's slot onto a third file. The rebuild
# runs beside fio (stat shows the recovery line); fio finishes without an error and verifies;
# then detail shows m3 in sync and m1 faulty, `manage --remove m1` drops m1, a second fio
# verify-only pass reads everything back and m3's data area equals m2's.
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin fio python3 cmp
uri="nbd+unix:///rep?socket=$WORK/rep.sock"
rp="" fp=""

cleanup() {
  set +e
  [ -n "$fp" ] && kill -9 "$fp" 2>/dev/null
  [ -n "$rp" ] && kill -9 "$rp" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$WORK/fio.out" ] && sed 's/^/  fio: /' "$WORK/fio.out"
  [ -f "$WORK/run.log" ] && sed 's/^/  run: /' "$WORK/run.log"
  exit 1
}
json() { "$MESHRAID" detail --json rep >"$WORK/detail.json" && python3 -c "import json; d=json.load(open('$WORK/detail.json')); m={x['path']: x for x in d['members']}; print($1)"; }
now_ms() { date +%s%3N; }

truncate -s 256M "$WORK/m1" "$WORK/m2" "$WORK/m3"
"$MESHRAID" create --level=1 --raid-devices=2 --assume-clean --name=rep "$WORK/m1" "$WORK/m2" \
  >/dev/null || fail "create"
off=$("$MESHRAID" examine --json "$WORK/m1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["superblock"]["data_offset"])')
# The rebuild is held to 40 MB/s so that it surely overlaps fio.
"$MESHRAID" run --export="$uri" --sync-speed-max=40000 "$WORK/m1" "$WORK/m2" 2>"$WORK/run.log" &
rp=$!
for _ in $(seq 100); do
  if [ -S "$WORK/rep.sock" ] && "$MESHRAID" stat rep >/dev/null 2>&1; then break; fi
  kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
  sleep 0.1
done

cat >"$WORK/job.fio" <<FIO
[global]
ioengine=nbd
uri=$uri
size=192m
bs=4k
iodepth=16
randseed=4321
serialize_overlap=1
verify=crc32c
verify_fatal=1
verify_state_save=0

[replace]
rw=randwrite
do_verify=1
FIO
t0=$(now_ms)
fio --output="$WORK/fio.out" "$WORK/job.fio" &
fp=$!
sleep 1
kill -0 "$fp" 2>/dev/null || fail "fio finished before the replace started"
"$MESHRAID" manage --replace "$WORK/m1" --with "$WORK/m3" >"$WORK/manage.txt" ||
  fail "manage --replace: $(cat "$WORK/manage.txt")"
grep -q "$WORK/m3 added as a replacement of $WORK/m1 (rebuilding slot 0)" "$WORK/manage.txt" ||
  fail "manage --replace said: $(cat "$WORK/manage.txt")"
sleep 0.5
"$MESHRAID" stat >"$WORK/stat.txt"
grep -q ' recovery = ' "$WORK/stat.txt" || { cat "$WORK/stat.txt"; fail "stat shows no recovery line"; }
echo "during the rebuild: $(grep ' recovery = ' "$WORK/stat.txt" | sed 's/^ *//')"
[ "$(json 'm["'"$WORK"'/m3"]["state"]')" = recovering ] || fail "m3 is not recovering"
fio_running=0; kill -0 "$fp" 2>/dev/null && fio_running=1
[ "$fio_running" = 1 ] || fail "fio was not running during the rebuild"
wait "$fp" || fail "fio failed during the replace"
fp=""
t1=$(now_ms)
grep -q "err= 0" "$WORK/fio.out" || fail "fio reported an error"
for _ in $(seq 600); do
  grep -q "recovery of $WORK/m3 done" "$WORK/run.log" && break
  sleep 0.1
done
grep -q "recovery of $WORK/m3 done: in sync in slot 0" "$WORK/run.log" || fail "the rebuild did not finish"
grep -q "$WORK/m1 replaced by $WORK/m3" "$WORK/run.log" || fail "m1 was not replaced"
log_s() { date -d "$(grep "$1" "$WORK/run.log" | head -1 | cut -c1-19)" +%s; }
rebuild_s=$(( $(log_s "recovery of $WORK/m3 done") - $(log_s "recovery of $WORK/m3 into slot 0 started") ))
fio_bw=$(sed -n 's/^ *WRITE: bw=\([^ ]*\) .*/\1/p' "$WORK/fio.out")
echo "fio: 192 MiB random 4K writes ($fio_bw) + verify in $((t1 - t0)) ms, err=0; rebuild of 255 MiB took ~${rebuild_s} s (log timestamps) beside fio"

# --- detail: m3 in sync, m1 faulty; remove m1 ------------------------------------------------------
[ "$(json 'm["'"$WORK"'/m3"]["state"]')" = in_sync ] || fail "m3 is not in sync"
[ "$(json 'm["'"$WORK"'/m3"]["slot"]')" = 0 ] || fail "m3 is not in slot 0"
[ "$(json 'm["'"$WORK"'/m1"]["state"]')" = faulty ] || fail "m1 is not faulty"
[ "$(json 'd["degraded"]')" = 0 ] || fail "the array is degraded after the replace"
"$MESHRAID" detail >"$WORK/detail.txt"
grep -q "active sync   $WORK/m3" "$WORK/detail.txt" || { cat "$WORK/detail.txt"; fail "detail: m3 not active"; }
grep -q "faulty   $WORK/m1" "$WORK/detail.txt" || { cat "$WORK/detail.txt"; fail "detail: m1 not faulty"; }
copied=$(json 'd["copied_sectors"]')
echo "detail: m3 active sync in slot 0, m1 faulty; $copied sectors copied by the rebuild"
"$MESHRAID" manage --remove "$WORK/m1" >"$WORK/manage.txt" || fail "manage --remove: $(cat "$WORK/manage.txt")"
grep -q "$WORK/m1 removed" "$WORK/manage.txt" || fail "manage --remove said: $(cat "$WORK/manage.txt")"
[ "$(json '"'"$WORK"'/m1" in m')" = False ] || fail "m1 is still listed after --remove"
if "$MESHRAID" manage --remove "$WORK/m1" 2>"$WORK/err.txt"; then fail "a second remove succeeded"; fi
grep -q "$WORK/m1: not a member of this array" "$WORK/err.txt" || fail "unclear error: $(cat "$WORK/err.txt")"
if "$MESHRAID" manage --fail "$WORK/m3" --remove "$WORK/m2" 2>"$WORK/err.txt"; then fail "two operations accepted"; fi
echo "manage --remove m1: removed; errors name the member"

# --- everything reads back; m3 holds what m2 holds -------------------------------------------------
sed -i 's/^do_verify=1$/verify_only=1/' "$WORK/job.fio"
fio --output="$WORK/fio.out" "$WORK/job.fio" || fail "fio verify-only pass"
grep -q "err= 0" "$WORK/fio.out" || fail "fio verify-only pass reported an error"
kill -TERM "$rp"; wait "$rp" || fail "meshraid run did not stop cleanly"; rp=""
cmp <(tail -c +$((off * 512 + 1)) "$WORK/m2") <(tail -c +$((off * 512 + 1)) "$WORK/m3") ||
  fail "m3's data area differs from m2's"
"$MESHRAID" examine --json "$WORK/m3" | python3 -c '
import json, sys
sb = json.load(sys.stdin)[0]["superblock"]
roles = [r["role"] for r in sb["dev_roles"]]
print("m3 superblock: events", sb["events"], "roles", roles)
' || fail "examine m3"
echo "fio verify-only pass: err=0; m3 == m2 byte for byte"
echo "PASS"
