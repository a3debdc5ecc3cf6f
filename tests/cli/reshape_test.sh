#!/usr/bin/env bash
# Online RAID10 reshape 2 -> 4 members under load: a 2-way RAID1 of two 128 MiB files gets a
# random 32 MiB pattern (its sha256 kept), is taken over to RAID10 (grow --level=10), then
# `meshraid grow ARRAY --raid-devices=4 --add M3 --add M4` runs while fio writes random 4 KiB
# blocks with crc32c verify headers through NBD into the next 64 MiB of the old array. Checks: the
# refusals (no spares; a stopped array), fio finishes with err=0 and verifies, the reshape and
# the resync of the new space finish (stat shows the reshape line meanwhile, detail the
# mdadm-style reshape fields), the array is twice as large (detail --json and nbdinfo), the
# old region read back by `meshraid cat` of the stopped members matches the pattern, mdadm
# --examine on every member says raid10, 4 devices, near=2, a correct checksum and no reshape,
# and a verify-only fio pass after a restart is clean.
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin fio mdadm nbdinfo nbdcopy python3 cmp sha256sum
uri="nbd+unix:///rs?socket=$WORK/rs.sock"
members=("$WORK/m1" "$WORK/m2")
speed=6000  # KiB/s during the reshape: the 127 MiB move takes ~22 s; fio writes for ~32 s
rp="" fp=""
passed=0 failed=0

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
  echo "$passed passed, $((failed + 1)) failed"
  exit 1
}
pass() { passed=$((passed + 1)); echo "ok $passed: $*"; }
# A failed check after which the rest still means something: reported, counted, the test goes on.
soft_fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

start_run() {
  rm -f "$WORK/rs.sock"
  "$MESHRAID" run --export="$uri" --sync-speed-max="$speed" "${members[@]}" 2>>"$WORK/run.log" &
  rp=$!
  for _ in $(seq 100); do
    if [ -S "$WORK/rs.sock" ] && "$MESHRAID" stat rs >/dev/null 2>&1; then return 0; fi
    kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
    sleep 0.1
  done
  fail "meshraid run did not come up"
}
stop_run() {
  kill -TERM "$rp"
  wait "$rp" || fail "meshraid run did not stop cleanly"
  rp=""
}
json() {  # json PYTHON-EXPR over d = detail --json
  "$MESHRAID" detail --json rs >"$WORK/detail.json" || fail "detail --json failed"
  python3 -c "import json; d=json.load(open('$WORK/detail.json')); print($1)"
}

truncate -s 128M m1 m2 m3 m4
"$MESHRAID" create --level=1 --raid-devices=2 --assume-clean --bitmap=internal --name=rs \
  m1 m2 >/dev/null || fail "create"
start_run
old_sectors=$(json 'd["array_sectors"]')
# The pattern: 32 MiB of random bytes at the start of the array, kept until the end.
head -c 32M /dev/urandom >pattern
pattern_sha=$(sha256sum <pattern | cut -d' ' -f1)
nbdcopy pattern "$uri" || fail "nbdcopy of the pattern into the array"
"$MESHRAID" grow rs --level=10 >grow.txt 2>&1 || fail "takeover: $(cat grow.txt)"
[ "$(json 'd["level"]')" = 10 ] || fail "detail does not say level 10 after the takeover"
pass "raid1 -> raid10 takeover: $(cat grow.txt)"

# Refusals, each one line on stderr with a non-zero exit, nothing changed.
if "$MESHRAID" grow rs --raid-devices=4 >out.txt 2>err.txt; then fail "grow without spares succeeded"; fi
[ "$(wc -l <err.txt)" = 1 ] || fail "refusal is not one line: $(cat err.txt)"
grep -q "spare" err.txt || fail "refusal without spares does not say so: $(cat err.txt)"
[ "$(json 'd["reshape"] is None and d["raid_disks"] == 2')" = True ] || fail "a refused grow changed the array"
pass "no spares: $(cat err.txt)"
if "$MESHRAID" grow --raid-devices=4 m3 m4 >out.txt 2>err.txt; then fail "offline --raid-devices succeeded"; fi
[ "$(wc -l <err.txt)" = 1 ] && grep -q "run it first" err.txt || fail "offline refusal: $(cat err.txt)"
pass "stopped members: $(cat err.txt)"

# --- fio writes while the array grows onto two more members ------------------------------------
cat >job.fio <<FIO
[global]
ioengine=nbd
uri=$uri
offset=32m
size=64m
bs=4k
iodepth=16
rate=2m
randseed=4242
serialize_overlap=1
verify=crc32c
verify_fatal=1
verify_state_save=0

[reshape]
rw=randwrite
do_verify=1
FIO
fio --output=fio.out job.fio 2>fio.err &
fp=$!
sleep 2
kill -0 "$fp" 2>/dev/null || fail "fio finished before the reshape started: $(cat fio.err)"
"$MESHRAID" grow rs --raid-devices=4 --add m3 --add m4 >grow.txt 2>err.txt ||
  fail "grow --raid-devices=4: $(cat err.txt)"
kill -0 "$fp" 2>/dev/null || fail "fio was not running when the reshape started"
grep -q "m3 added as a spare" grow.txt && grep -q "m4 added as a spare" grow.txt ||
  fail "grow --add did not add both members: $(cat grow.txt)"
grep -q "raid devices: 2 -> 4, reshape started" grow.txt || fail "grow: $(cat grow.txt)"
pass "grow under fio: $(tr '\n' ';' <grow.txt)"

# While the data moves: stat shows MD's reshape line, detail the reshape fields.
seen_stat="" seen_detail="" seen_json=""
for _ in $(seq 100); do
  "$MESHRAID" stat rs >stat.txt 2>&1 || true
  "$MESHRAID" detail rs >detail.txt 2>&1 || true
  if [ -z "$seen_stat" ] && grep -Eq '\[=*>\.*\]  reshape = *[0-9]+\.[0-9]% \([1-9][0-9]*/[0-9]+\) finish=[0-9.]+min speed=[1-9][0-9]*K/sec' stat.txt; then
    seen_stat=$(grep "reshape =" stat.txt | sed 's/^ *//')
  fi
  if [ -z "$seen_detail" ] && grep -q "Reshape Status : [0-9]*% complete" detail.txt &&
     grep -q "Delta Devices : 2, (2->4)" detail.txt && grep -q "State : .*reshaping" detail.txt; then
    seen_detail=$(grep -E "Reshape Status|Delta Devices" detail.txt | sed 's/^ *//' | tr '\n' ';')
  fi
  if [ -z "$seen_json" ]; then
    seen_json=$(json '"%d/%d delta %d" % (d["reshape"]["reshape_position"], d["array_sectors"], d["reshape"]["delta_disks"]) if d["reshape"] and d["sync_action"] == "reshape" and d["raid_disks"] == 4 and d["reshape"]["reshape_position"] > 0 else ""')
  fi
  [ -n "$seen_stat" ] && [ -n "$seen_detail" ] && [ -n "$seen_json" ] && break
  sleep 0.2
done
[ -n "$seen_stat" ] || fail "stat never showed the reshape line: $(cat stat.txt)"
[ -n "$seen_detail" ] || fail "detail never showed the reshape fields: $(cat detail.txt)"
[ -n "$seen_json" ] || fail "detail --json never showed the reshape: $(cat detail.json)"
pass "during the reshape: stat '$seen_stat'; detail '$seen_detail'; json reshape_position $seen_json"

# Wait for the move; fio keeps writing meanwhile.
fio_end_pct=""
for _ in $(seq 900); do
  [ "$(json 'd["reshape"] is None')" = True ] && break
  if [ -z "$fio_end_pct" ] && ! kill -0 "$fp" 2>/dev/null; then
    fio_end_pct=$(json '100 * d["reshape"]["reshape_position"] // d["array_sectors"] if d["reshape"] else 100')
  fi
  sleep 0.1
done
[ "$(json 'd["reshape"] is None')" = True ] || fail "the reshape did not finish within 90 s: $(cat detail.json)"
grep -q "reshape done: 4 members" run.log || fail "the array did not log the end of the reshape"
echo "fio was still writing when the reshape reached ${fio_end_pct:-100}%"
"$MESHRAID" set rs sync-speed-max=system >/dev/null || fail "set sync-speed-max"
wait "$fp" || fail "fio failed across the reshape"; fp=""
grep -q "err= 0" fio.out || fail "fio reported an error"
pass "fio randwrite + crc32c verify across the reshape: err=0"
for _ in $(seq 600); do
  [ "$(json 'd["sync_action"]')" = idle ] && break
  sleep 0.1
done
[ "$(json 'd["sync_action"]')" = idle ] || fail "the resync of the new space did not finish: $(cat detail.json)"
read -r new_sectors disks layout state <<<"$(json '"%d %d %d %s" % (d["array_sectors"], d["raid_disks"], d["layout"], d["state"])')"
[ "$new_sectors" = $((2 * old_sectors)) ] || fail "array size $new_sectors sectors, expected 2 x $old_sectors"
[ "$disks" = 4 ] && [ "$layout" = 258 ] && [ "$state" = clean ] || fail "after the reshape: $disks members, layout $layout, state $state"
nbd_size=$(nbdinfo --size "$uri") || fail "nbdinfo"
if [ "$nbd_size" != $((new_sectors * 512)) ]; then
  soft_fail "a new NBD connection still sees the old size: nbdinfo says $nbd_size bytes, the array is $((new_sectors * 512))"
fi
"$MESHRAID" detail rs >detail.txt
grep -q "Array Size : $((new_sectors / 2)) " detail.txt || fail "detail: $(cat detail.txt)"
grep -q "Raid Devices : 4" detail.txt || fail "detail: $(cat detail.txt)"
if grep -q "Reshape" detail.txt; then fail "detail still shows a reshape: $(cat detail.txt)"; fi
pass "array grew from $old_sectors to $new_sectors sectors (detail; live nbdinfo $nbd_size bytes); resync of the new space done"

# --- stopped: contents and metadata ------------------------------------------------------------
stop_run
members=("$WORK/m1" "$WORK/m2" "$WORK/m3" "$WORK/m4")
"$MESHRAID" cat "${members[@]}" >after.img 2>cat.err || fail "meshraid cat: $(cat cat.err)"
got_sha=$(head -c 32M after.img | sha256sum | cut -d' ' -f1)
[ "$got_sha" = "$pattern_sha" ] || fail "meshraid cat of the old region differs from the pattern ($(cat cat.err))"
total=$(stat -c %s after.img)
rm -f after.img
[ "$total" = $((new_sectors * 512)) ] || fail "meshraid cat gave $total bytes, expected $((new_sectors * 512))"
pass "meshraid cat: the first 32 MiB match the pattern written before the takeover (sha256 $pattern_sha), $total bytes in all"
for m in "${members[@]}"; do
  e=$(mdadm --examine "$m" 2>&1) || fail "mdadm --examine $m: $e"
  grep -q "Raid Level : raid10" <<<"$e" || fail "$m: mdadm: $e"
  grep -q "Raid Devices : 4" <<<"$e" || fail "$m: not 4 devices: $e"
  grep -q "Layout : near=2" <<<"$e" || fail "$m: not near=2: $e"
  grep -q "Checksum : .* - correct" <<<"$e" || fail "$m: checksum: $e"
  grep -q "State : clean" <<<"$e" || fail "$m: not clean: $e"
  if grep -Eq "Reshape|Delta Devices|New Offset" <<<"$e"; then fail "$m: mdadm still sees a reshape: $e"; fi
done
pass "mdadm --examine on the 4 members: raid10, 4 devices, near=2, checksum correct, no reshape"
e=$(mdadm --examine m1 2>&1)
if "$MESHRAID" grow --raid-devices=6 "${members[@]}" >out.txt 2>err.txt; then fail "offline reshape succeeded"; fi
[ "$(mdadm --examine m1 2>&1)" = "$e" ] || fail "the refused offline grow changed a member"

# --- restart: fio's blocks verify -------------------------------------------------------------
start_run
grep -q "assembled raid10" run.log || fail "restart did not assemble raid10"
nbd_size=$(nbdinfo --size "$uri") || fail "nbdinfo"
[ "$nbd_size" = $((new_sectors * 512)) ] || fail "after the restart nbdinfo says $nbd_size bytes, the array is $((new_sectors * 512))"
sed -i 's/^do_verify=1$/verify_only=1/' job.fio
fio --output=fio.out job.fio || fail "fio verify-only after the restart"
grep -q "err= 0" fio.out || fail "fio verify-only reported an error"
stop_run
pass "after a restart: nbdinfo $nbd_size bytes; fio verify-only over its 64 MiB: err=0"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
