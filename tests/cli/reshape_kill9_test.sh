#!/usr/bin/env bash
# Reshape 2 -> 4 members with `kill -9` at random points: a 2-way RAID1 of two 128 MiB files is
# filled with random bytes through NBD (their sha256 kept), taken over to RAID10, given two
# spares and grown with `meshraid grow ARRAY --raid-devices=4 --add M3 --add M4` at a limited
# sync speed. `meshraid run` is killed with SIGKILL right after the grow request returns and at
# 3 random points between 10 % and 90 % of the move (printed; RESHAPE_KILL_SEED=N replays a
# run). After each kill, with the array stopped, mdadm --examine shows the reshape (Reshape
# pos'n, Delta Devices 2 (2->4), New Offset) with a correct checksum on every member; the
# restart resumes the move from the checkpoint the superblocks hold, never from 0 after
# progress was recorded. Just before each random kill, two 1 MiB writes are acknowledged (and
# flushed) through NBD: one in the part already moved (between the last checkpoint and the
# live position when there is room: those writes go to both layouts) and one in the part not
# moved yet; they must survive the kill. At the end the array is twice as large, mdadm sees a plain raid10
# near=2 over 4 members, and the old region read through NBD and with `meshraid cat` equals
# the bytes written before the reshape.
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin mdadm nbdcopy qemu-io python3 cmp sha256sum
uri="nbd+unix:///rk?socket=$WORK/rk.sock"
members=("$WORK/m1" "$WORK/m2")
speed=5000  # KiB/s: the 127 MiB move takes ~26 s without the kills
seed=${RESHAPE_KILL_SEED:-$(( $(date +%s) % 100000 ))}
rp=""
passed=0

cleanup() {
  set +e
  [ -n "$rp" ] && kill -9 "$rp" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$WORK/run.log" ] && sed 's/^/  run: /' "$WORK/run.log"
  echo "(replay with RESHAPE_KILL_SEED=$seed)"
  echo "$passed passed, 1 failed"
  exit 1
}
pass() { passed=$((passed + 1)); echo "ok $passed: $*"; }

start_run() {
  rm -f "$WORK/rk.sock"
  echo "--- meshraid run (start $1)" >>"$WORK/run.log"
  "$MESHRAID" run --export="$uri" --sync-speed-max="$speed" "${members[@]}" 2>>"$WORK/run.log" &
  rp=$!
  for _ in $(seq 100); do
    if [ -S "$WORK/rk.sock" ] && "$MESHRAID" stat rk >/dev/null 2>&1; then return 0; fi
    kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
    sleep 0.1
  done
  fail "meshraid run did not come up"
}
kill_run() {
  kill -9 "$rp"
  { wait "$rp"; } 2>/dev/null || true
  rp=""
}
json() {  # json PYTHON-EXPR over d = detail --json
  "$MESHRAID" detail --json rk >"$WORK/detail.json" || fail "detail --json failed"
  python3 -c "import json; d=json.load(open('$WORK/detail.json')); print($1)"
}
# The reshape_position every member's superblock records, one line: "S1 S2 S3 S4".
sb_positions() {
  "$MESHRAID" examine --json "${members[@]}" | python3 -c '
import json, sys
print(" ".join(str(e["superblock"]["reshape_position"]) if e["superblock"]["feature_map"] & 4 else "none"
               for e in json.load(sys.stdin)))'
}
# mdadm --examine of every stopped member shows the reshape and a correct checksum; prints
# mdadm's "Reshape pos'n" of the first member in KiB.
mdadm_reshape_fields() {
  local first=""
  for m in "${members[@]}"; do
    e=$(mdadm --examine "$m" 2>&1) || fail "mdadm --examine $m: $e"
    grep -q "Checksum : .* - correct" <<<"$e" || fail "$m: checksum: $e"
    grep -q "Raid Level : raid10" <<<"$e" || fail "$m: $e"
    grep -q "Raid Devices : 4" <<<"$e" || fail "$m: not 4 devices during the reshape: $e"
    grep -q "Reshape pos'n : [0-9]" <<<"$e" || fail "$m: mdadm shows no reshape position: $e"
    grep -q "Delta Devices : 2 (2->4)" <<<"$e" || fail "$m: mdadm shows no delta devices: $e"
    grep -q "New Offset : [0-9]* sectors" <<<"$e" || fail "$m: mdadm shows no new offset: $e"
    if [ -z "$first" ]; then
      first=$(sed -n "s/.*Reshape pos'n : \([0-9]*\).*/\1/p" <<<"$e")
      echo "$e" >mdadm-mid.txt
    fi
  done
  echo "$first"
}
# Writes LEN bytes of byte PATTERN at OFFSET through NBD (acknowledged and flushed) and into
# the expected image.
write_block() {  # write_block OFFSET LEN PATTERN
  qemu-io -f raw -c "write -P $3 $1 $2" -c flush "$uri" >qemu.out 2>&1 ||
    fail "qemu-io write at $1: $(cat qemu.out)"
  python3 - "$1" "$2" "$3" <<'PY'
import sys
off, n, pat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3], 0)
with open("expected", "r+b") as f:
    f.seek(off)
    f.write(bytes([pat]) * n)
PY
}
# The sector the last start resumed the reshape at.
resumed_at() {
  for _ in $(seq 100); do
    r=$(sed -n '/^--- meshraid run/h; /^--- meshraid run/!H; ${x;p}' "$WORK/run.log" |
        sed -n 's/.*reshape running from sector \([0-9]*\) of.*/\1/p' | tail -1)
    [ -n "$r" ] && { echo "$r"; return 0; }
    sleep 0.1
  done
  fail "the restarted array did not resume the reshape"
}

truncate -s 128M m1 m2 m3 m4
"$MESHRAID" create --level=1 --raid-devices=2 --assume-clean --bitmap=internal --name=rk \
  m1 m2 >/dev/null || fail "create"
start_run 1
old_sectors=$(json 'd["array_sectors"]')
head -c $((old_sectors * 512)) /dev/urandom >pattern
pattern_sha=$(sha256sum <pattern | cut -d' ' -f1)
nbdcopy pattern "$uri" || fail "nbdcopy of the pattern into the array"
cp pattern expected
"$MESHRAID" grow rk --level=10 >grow.txt 2>&1 || fail "takeover: $(cat grow.txt)"
pass "$old_sectors sectors of random data written (sha256 $pattern_sha); $(cat grow.txt)"

# Kill points: right after the request, then 3 random percentages of the move, increasing.
read -r -a pcts <<<"$(python3 -c "
import random
r = random.Random($seed)
print(' '.join(str(p) for p in sorted(r.sample(range(10, 91), 3))))")"
echo "kill points (seed $seed): right after grow returns, then at ${pcts[*]} % of the move"

"$MESHRAID" grow rk --raid-devices=4 --add m3 --add m4 >grow.txt 2>err.txt ||
  fail "grow --raid-devices=4: $(cat err.txt)"
members=("$WORK/m1" "$WORK/m2" "$WORK/m3" "$WORK/m4")
kill_run
sbs=$(sb_positions)
mdadm_pos=$(mdadm_reshape_fields)
start_run 2
r=$(resumed_at)
echo "kill 0: right after '$(tail -1 grow.txt)'; superblocks: $sbs; mdadm Reshape pos'n $mdadm_pos KiB; restart resumed at sector $r"
for s in $sbs; do [ "$s" = "$r" ] || fail "resumed at $r, a superblock says $s"; done
pass "kill -9 right after the grow request: mdadm sees the reshape on all 4 members, resumed at $r"

last=$r
k=1
for p in "${pcts[@]}"; do
  for _ in $(seq 900); do
    done_pct=$(json '100 * d["reshape"]["reshape_position"] // d["array_sectors"] if d["reshape"] else 100')
    [ "$done_pct" -ge "$p" ] && break
    kill -0 "$rp" 2>/dev/null || fail "meshraid run exited during the reshape"
    sleep 0.1
  done
  [ "$done_pct" -ge "$p" ] || fail "the reshape did not reach $p % within 90 s"
  [ "$done_pct" -lt 100 ] || fail "the reshape finished before kill point $p %"
  read -r live checkpoint <<<"$(json '"%d %d" % (d["reshape"]["reshape_position"], d["reshape"]["checkpoint"])')"
  # Two acknowledged writes: in the moved part (moved after the checkpoint when there is
  # room) and in the part not moved yet.
  read -r moved_off unmoved_off <<<"$(python3 -c "
import random
r = random.Random($seed * 10 + $k)
mib = 1 << 20
lo = $checkpoint * 512 if ($live - $checkpoint) * 512 >= 2 * mib else 0
hi = $live * 512 - mib
a = lo + r.randrange(0, max(hi - lo, 1) // 4096) * 4096 if hi > lo else 0
b = $live * 512 + 2 * mib + r.randrange(0, max(($old_sectors - $live) * 512 - 4 * mib, 4096) // 4096) * 4096
print(a, min(b, $old_sectors * 512 - mib))")"
  write_block "$moved_off" 1048576 $((0x10 + k))
  write_block "$unmoved_off" 1048576 $((0x20 + k))
  kill_run
  sbs=$(sb_positions)
  mdadm_pos=$(mdadm_reshape_fields)
  start_run $((k + 2))
  r=$(resumed_at)
  echo "kill $k at $done_pct % (wanted $p %): live position $live, checkpoint $checkpoint; 1 MiB written at sectors $((moved_off / 512)) and $((unmoved_off / 512)) just before; stopped superblocks: $sbs; mdadm Reshape pos'n $mdadm_pos KiB; restart resumed at sector $r"
  for s in $sbs; do [ "$s" = "$r" ] || fail "resumed at $r, a superblock says $s"; done
  [ "$mdadm_pos" = $((r / 2)) ] || fail "mdadm's Reshape pos'n $mdadm_pos KiB is not sector $r"
  [ "$r" -gt 0 ] || fail "the reshape started over from 0 after reaching $live"
  # (The live position was read just before the kill: the move may have gone on meanwhile.)
  [ "$r" -ge "$checkpoint" ] || fail "resumed at $r, behind the checkpoint $checkpoint recorded before the kill"
  [ "$r" -ge "$last" ] || fail "resumed at $r, behind the previous resume point $last"
  if [ "$k" = 1 ]; then
    echo "mdadm --examine ${members[0]} while stopped mid-reshape (reshape lines):"
    grep -E "Raid Devices|Data Offset|New Offset|Reshape pos|Delta Devices|New |Checksum|Layout|Chunk Size" mdadm-mid.txt | sed 's/^/    /'
  fi
  pass "kill -9 at $done_pct %: resumed at sector $r (the superblocks' checkpoint), not 0; live position read before the kill $live"
  last=$r
  k=$((k + 1))
done

# To the end: the move, then the resync of the new space at full speed.
for _ in $(seq 900); do
  [ "$(json 'd["reshape"] is None')" = True ] && break
  sleep 0.1
done
[ "$(json 'd["reshape"] is None')" = True ] || fail "the reshape did not finish: $(cat detail.json)"
"$MESHRAID" set rk sync-speed-max=system >/dev/null || fail "set sync-speed-max"
for _ in $(seq 600); do
  [ "$(json 'd["sync_action"]')" = idle ] && break
  sleep 0.1
done
[ "$(json 'd["sync_action"]')" = idle ] || fail "the resync of the new space did not finish"
read -r new_sectors disks state <<<"$(json '"%d %d %s" % (d["array_sectors"], d["raid_disks"], d["state"])')"
[ "$new_sectors" = $((2 * old_sectors)) ] || fail "array size $new_sectors sectors, expected 2 x $old_sectors"
[ "$disks" = 4 ] && [ "$state" = clean ] || fail "after the reshape: $disks members, state $state"
nbdcopy "$uri" readback || fail "nbdcopy from the array"
cmp -n $((old_sectors * 512)) expected readback || fail "the old region read through NBD differs from the data written"
rm -f readback
expected_sha=$(sha256sum <expected | cut -d' ' -f1)
pass "reshape done after ${#pcts[@]} random kills + 1: $new_sectors sectors (2 x $old_sectors); the old region read through NBD matches the pattern and the acknowledged writes"
kill -TERM "$rp"; wait "$rp" || fail "meshraid run did not stop cleanly"; rp=""
"$MESHRAID" cat "${members[@]}" >after.img 2>cat.err || fail "meshraid cat: $(cat cat.err)"
got_sha=$(head -c $((old_sectors * 512)) after.img | sha256sum | cut -d' ' -f1)
[ "$got_sha" = "$expected_sha" ] || fail "meshraid cat of the old region differs from the data written"
[ "$(stat -c %s after.img)" = $((new_sectors * 512)) ] || fail "meshraid cat gave $(stat -c %s after.img) bytes"
rm -f after.img
for m in "${members[@]}"; do
  e=$(mdadm --examine "$m" 2>&1) || fail "mdadm --examine $m: $e"
  grep -q "Raid Level : raid10" <<<"$e" && grep -q "Raid Devices : 4" <<<"$e" &&
    grep -q "Layout : near=2" <<<"$e" && grep -q "Checksum : .* - correct" <<<"$e" ||
    fail "$m after the reshape: $e"
  if grep -Eq "Reshape|Delta Devices|New Offset" <<<"$e"; then fail "$m: mdadm still sees a reshape: $e"; fi
done
pass "stopped: meshraid cat of the old region has sha256 $got_sha; mdadm --examine: raid10 near=2 over 4, checksum correct, no reshape"
echo "$passed passed, 0 failed"
