#!/usr/bin/env bash
# Crash and bitmap-guided resync: a RAID1 of two 256 MiB files (internal bitmap, 64 MiB
# chunks) is written by fio through NBD (random 4 KiB writes with crc32c verify headers, a fixed
# seed, confined to the first 48 MiB) and `meshraid run` is killed with SIGKILL in the middle;
# a torn write (4 KiB that reached one copy only) is simulated in the written range with dd.
# The superblocks say "active", so the next run resyncs by itself: the log shows the resync
# start and end, and it copies only the chunks the bitmap marks (copied < array sectors, the
# rest skipped as clean). Then `action check` finds 0 mismatches and the members' data areas
# are byte-identical.
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin fio python3 cmp
uri="nbd+unix:///crash?socket=$WORK/crash.sock"
rp="" fp=""

cleanup() {
  set +e
  [ -n "$fp" ] && kill -9 "$fp" 2>/dev/null
  [ -n "$rp" ] && kill -9 "$rp" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$WORK/run.log" ] && sed 's/^/  run: /' "$WORK/run.log"; exit 1; }

start_run() {
  rm -f "$WORK/crash.sock"
  "$MESHRAID" run --export="$uri" "$WORK/a" "$WORK/b" 2>>"$WORK/run.log" &
  rp=$!
  for _ in $(seq 100); do
    if [ -S "$WORK/crash.sock" ] && "$MESHRAID" stat crash >/dev/null 2>&1; then return 0; fi
    kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
    sleep 0.1
  done
  fail "meshraid run did not come up"
}
json() { "$MESHRAID" detail --json crash >"$WORK/detail.json" && python3 -c "import json; d=json.load(open('$WORK/detail.json')); print($1)"; }
now_ms() { date +%s%3N; }

truncate -s 256M "$WORK/a" "$WORK/b"
"$MESHRAID" create --level=1 --raid-devices=2 --bitmap=internal --assume-clean --name=crash \
  "$WORK/a" "$WORK/b" >/dev/null || fail "create"
off=$("$MESHRAID" examine --json "$WORK/a" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["superblock"]["data_offset"])')

# --- fio writes, meshraid run is killed with SIGKILL meanwhile ---------------------------------
start_run
cat >"$WORK/write.fio" <<FIO
[global]
ioengine=nbd
uri=$uri
size=48m
bs=4k
iodepth=16
randseed=1234
randrepeat=1
serialize_overlap=1
time_based=1
runtime=60

[crashwrite]
rw=randwrite
verify=crc32c
do_verify=0
verify_state_save=0
FIO
# Kills `meshraid run` while fio's writes are in flight (the array is "active"); true when the
# superblock was left active (a pause of fio longer than the 200 ms safe-mode delay can let the
# array go clean just before the kill: then the caller tries again).
crash_during_writes() {
  fio --output="$WORK/fio.out" "$WORK/write.fio" 2>"$WORK/fio.err" &
  fp=$!
  local written=0
  for _ in $(seq 300); do
    sleep 0.05
    kill -0 "$fp" 2>/dev/null || { cat "$WORK/fio.out" "$WORK/fio.err"; fail "fio stopped before the kill"; }
    written=$(json 'd["members"][0]["write_bytes"] if d["active"] else 0')
    [ "$written" -gt $((8 << 20)) ] && break
  done
  kill -9 "$rp"
  { wait "$rp"; } 2>/dev/null || true
  rp=""
  wait "$fp" 2>/dev/null || true  # fio fails: its server is gone
  fp=""
  echo "meshraid run killed with SIGKILL after $((written >> 20)) MiB written by fio"
  "$MESHRAID" examine --json "$WORK/a" | python3 -c '
import json, sys
sb = json.load(sys.stdin)[0]["superblock"]
sys.exit(0 if sb["resync_offset"] == 0 else 1)'
}
crashed=0
for attempt in 1 2 3; do
  if crash_during_writes; then crashed=1; break; fi
  echo "attempt $attempt: the array went clean just before the kill; again"
  start_run
done
[ "$crashed" = 1 ] || fail "the superblock was never left active by a SIGKILL during writes"
# A write that reached only one copy before the crash: 4 KiB at 1 MiB into the written range.
dd if=/dev/urandom of="$WORK/b" bs=4096 count=1 seek=$(( (off * 512 + (1 << 20)) / 4096 )) \
  conv=notrunc status=none
diff_bytes=$(cmp -l <(tail -c +$((off * 512 + 1)) "$WORK/a") <(tail -c +$((off * 512 + 1)) "$WORK/b") | wc -l || true)
[ "$diff_bytes" -gt 0 ] || fail "the members do not differ before the resync"
echo "after the kill: superblock active (resync_offset 0); with a torn write, $diff_bytes bytes differ between the members"

# --- restart: resync of the dirty chunks only ---------------------------------------------------
t0=$(now_ms)
start_run
for _ in $(seq 600); do
  grep -q "resync done" "$WORK/run.log" && break
  sleep 0.1
done
t1=$(now_ms)
grep -q "resync started at sector 0 of" "$WORK/run.log" || fail "no resync started after the crash"
grep -q "resync done, [0-9]* sectors skipped as clean" "$WORK/run.log" || fail "the resync did not finish"
read -r copied skipped total <<<"$(json '"%d %d %d" % (d["copied_sectors"], d["skipped_sectors"], d["array_sectors"])')"
[ "$copied" -gt 0 ] || fail "the resync copied nothing"
[ "$copied" -lt "$total" ] || fail "the resync copied every sector ($copied of $total): the bitmap was not used"
[ $((copied + skipped)) -eq "$total" ] || fail "copied $copied + skipped $skipped != $total"
echo "resync after the crash: $copied of $total sectors copied, $skipped skipped as clean, ~$((t1 - t0)) ms from restart"

# --- check: no mismatch, members identical -------------------------------------------------------
"$MESHRAID" action check >/dev/null || fail "action check"
for _ in $(seq 600); do
  [ "$(json 'd["sync_action"]')" = idle ] && break
  sleep 0.1
done
[ "$(json 'd["sync_action"]')" = idle ] || fail "the check did not finish"
mismatch=$(json 'd["mismatch_cnt"]')
[ "$mismatch" = 0 ] || fail "check after the resync: $mismatch mismatched sectors"
kill -TERM "$rp"; wait "$rp" || fail "meshraid run did not stop cleanly"; rp=""
cmp <(tail -c +$((off * 512 + 1)) "$WORK/a") <(tail -c +$((off * 512 + 1)) "$WORK/b") ||
  fail "the members' data areas differ after the resync"
echo "check: 0 mismatched sectors; data areas identical"
echo "PASS"
