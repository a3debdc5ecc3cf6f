#!/usr/bin/env bash
# Sync actions from the CLI: a RAID1 of two 256 MiB files (internal bitmap) is written through
# NBD and stopped; 4 KiB of member 2's data area are corrupted offline; after a restart
# `meshraid action check` finds the mismatch (detail --json mismatch_cnt > 0), `action repair`
# rewrites it and a second check finds 0, and the members' data areas are identical. Then a
# check slowed down with `set sync-speed-max` shows MD's progress line in `meshraid stat`, twice
# with `stat --watch --count=2`, until `action idle` stops it; `stat --watch` exits 0 on SIGINT.
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin nbdcopy python3 dd cmp
uri="nbd+unix:///sync?socket=$WORK/sync.sock"
rp="" wp=""

cleanup() {
  set +e
  [ -n "$wp" ] && kill -9 "$wp" 2>/dev/null
  [ -n "$rp" ] && kill -9 "$rp" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$WORK/run.log" ] && sed 's/^/  run: /' "$WORK/run.log"; exit 1; }

start_run() {  # start_run [RUN OPTIONS]
  rm -f "$WORK/sync.sock"
  "$MESHRAID" run --export="$uri" "$@" "$WORK/a" "$WORK/b" 2>>"$WORK/run.log" &
  rp=$!
  for _ in $(seq 100); do
    if [ -S "$WORK/sync.sock" ] && "$MESHRAID" stat sync >/dev/null 2>&1; then return 0; fi
    kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
    sleep 0.1
  done
  fail "meshraid run did not come up"
}
stop_run() {
  kill -TERM "$rp"; wait "$rp" || fail "meshraid run did not stop cleanly"; rp=""
}
field() { "$MESHRAID" detail --json sync | python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
wait_idle() {  # wait_idle SECONDS
  for _ in $(seq $(($1 * 10))); do
    [ "$(field sync_action)" = idle ] && return 0
    sleep 0.1
  done
  fail "the sync action did not finish within $1 s (sync_action $(field sync_action))"
}
now_ms() { date +%s%3N; }

truncate -s 256M "$WORK/a" "$WORK/b"
"$MESHRAID" create --level=1 --raid-devices=2 --bitmap=internal --assume-clean --name=sync \
  "$WORK/a" "$WORK/b" >/dev/null || fail "create"
off=$("$MESHRAID" examine --json "$WORK/b" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["superblock"]["data_offset"])')
data_bytes=$(( (256 << 20) - off * 512 ))
echo "data offset $off sectors, $data_bytes data bytes per member"

# --- write, stop, corrupt 4 KiB of member 2 offline -----------------------------------------
start_run
head -c 64M /dev/urandom >"$WORK/data"
nbdcopy "$WORK/data" "$uri" || fail "writing through the array"
stop_run
dd if=/dev/urandom of="$WORK/b" bs=4096 count=1 seek=$(( (off * 512 + (8 << 20)) / 4096 )) \
  conv=notrunc status=none
cmp -s <(tail -c +$((off * 512 + 1)) "$WORK/a") <(tail -c +$((off * 512 + 1)) "$WORK/b") &&
  fail "the corruption did not change member 2"

# --- check finds it, repair fixes it, check finds nothing ------------------------------------
start_run --barrier=global --sync-speed-min=500
[ "$(field sync_speed_min)" = 500 ] || fail "--sync-speed-min=500 not applied: $(field sync_speed_min)"
t0=$(now_ms)
"$MESHRAID" action check >"$WORK/out.txt" || fail "action check: $(cat "$WORK/out.txt")"
grep -q "sync_action: idle -> check" "$WORK/out.txt" || fail "action check said: $(cat "$WORK/out.txt")"
wait_idle 120
t1=$(now_ms)
mismatch=$(field mismatch_cnt)
[ "$mismatch" -gt 0 ] || fail "check found no mismatch after the corruption"
grep -q "check done, $mismatch mismatched sectors" "$WORK/run.log" || fail "the log does not report the check"
echo "check of $((data_bytes >> 20)) MiB: $mismatch mismatched sectors, $((t1 - t0)) ms"
"$MESHRAID" action sync repair >/dev/null || fail "action repair"
wait_idle 120
t2=$(now_ms)
copied=$(field copied_sectors)
[ "$copied" -gt 0 ] || fail "repair copied nothing"
"$MESHRAID" action check >/dev/null || fail "second action check"
wait_idle 120
[ "$(field mismatch_cnt)" = 0 ] || fail "check after repair: mismatch_cnt $(field mismatch_cnt)"
echo "repair: $((t2 - t1)) ms, $copied sectors rewritten; check after repair: 0 mismatched sectors"
cmp <(tail -c +$((off * 512 + 1)) "$WORK/a") <(tail -c +$((off * 512 + 1)) "$WORK/b") ||
  fail "the members' data areas differ after repair"
nbdcopy "$uri" "$WORK/back" || fail "reading the array back"
cmp -n $((64 << 20)) "$WORK/back" "$WORK/data" || fail "the data read back differs"
echo "members identical after repair, data reads back intact"

# --- errors -----------------------------------------------------------------------------------
if "$MESHRAID" action scrub 2>"$WORK/err.txt"; then fail "action scrub accepted"; fi
grep -q "sync action 'scrub': use idle, frozen, resync, recover, check or repair" "$WORK/err.txt" ||
  fail "unclear error: $(cat "$WORK/err.txt")"

# --- a slow check: the progress line in stat, stat --watch, action idle ------------------------
"$MESHRAID" set sync-speed-max=4000 >/dev/null || fail "set sync-speed-max"
[ "$(field sync_speed_max)" = 4000 ] || fail "sync-speed-max not applied"
"$MESHRAID" action check >/dev/null || fail "slow action check"
sleep 2
"$MESHRAID" stat >"$WORK/stat.txt" || fail "stat"
grep -Eq '^      \[=*>\.*\]  check = *[0-9]+\.[0-9]% \([0-9]+/261120\) finish=[0-9]+\.[0-9]min speed=[0-9]+K/sec$' \
  "$WORK/stat.txt" || { cat "$WORK/stat.txt"; fail "stat shows no progress line"; }
echo "stat: $(grep ' check = ' "$WORK/stat.txt" | sed 's/^ *//')"
speed=$(sed -n 's/.*speed=\([0-9]*\)K.*/\1/p' "$WORK/stat.txt")
[ "$speed" -le 6000 ] || fail "speed $speed K/sec is above sync-speed-max=4000"
"$MESHRAID" detail >"$WORK/detail.txt" || fail "detail"
for want in "      Check Status : " "Consistency Policy : bitmap" "       Sync Action : check" \
            "        Sync Speed : min 500K/sec, max 4000K/sec" "             State : clean, checking"; do
  grep -qF -- "$want" "$WORK/detail.txt" || { cat "$WORK/detail.txt"; fail "detail lacks '$want'"; }
done
if "$MESHRAID" action repair 2>"$WORK/err.txt"; then fail "repair started while a check runs"; fi
grep -q "cannot start repair: check is running" "$WORK/err.txt" || fail "unclear error: $(cat "$WORK/err.txt")"
"$MESHRAID" stat --watch --count=2 --interval=0.5 >"$WORK/watch.txt" || fail "stat --watch --count=2"
[ "$(grep -c '^Every 0.5s: meshraid stat$' "$WORK/watch.txt")" = 2 ] || { cat "$WORK/watch.txt"; fail "stat --watch --count=2 did not print twice"; }
[ "$(grep -c ' check = ' "$WORK/watch.txt")" = 2 ] || fail "stat --watch lacks the progress line"
grep ' check = ' "$WORK/watch.txt" | sed 's/^ */watch: /'
"$MESHRAID" stat --watch --interval=0.2 >"$WORK/watch2.txt" &
wp=$!
sleep 1
kill -INT "$wp"
wait "$wp" || fail "stat --watch did not exit 0 on SIGINT"
wp=""
n=$(grep -c '^Every 0.2s: meshraid stat$' "$WORK/watch2.txt")
[ "$n" -ge 3 ] || fail "stat --watch --interval=0.2 drew $n times in 1 s"
echo "stat --watch: $n redraws in 1 s, exit 0 on SIGINT"
"$MESHRAID" action idle >/dev/null || fail "action idle"
wait_idle 10
grep -q "check interrupted at sector" "$WORK/run.log" || fail "the log does not show the check stopping"
"$MESHRAID" stat | grep -q ' check = ' && fail "stat still shows the progress line after action idle"
"$MESHRAID" action frozen >/dev/null || fail "action frozen"
[ "$(field sync_action)" = frozen ] || fail "sync_action is $(field sync_action) after frozen"
if "$MESHRAID" action check 2>"$WORK/err.txt"; then fail "check started while frozen"; fi
"$MESHRAID" action idle >/dev/null || fail "action idle (unfreeze)"
[ "$(field sync_action)" = idle ] || fail "sync_action is $(field sync_action) after idle"
echo "action idle stops the check; frozen refuses a check until idle"
stop_run
echo "PASS"
