#!/usr/bin/env bash
# The offline verbs on remote members: `meshraid create`, `examine` and `cat` take NBD URIs
# (each member served by its own `meshraid serve-member`) as they take paths: the superblocks
# written over NBD are what mdadm --examine reads in the files, cat over the URIs gives what
# `run` served, and a member named twice is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cli_begin nbdcopy mdadm
pids=()
cleanup() { set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

truncate -s 64M a.img b.img
for m in a b; do
  "$MESHRAID" serve-member --socket="$WORK/$m.sock" "$WORK/$m.img" 2>"$WORK/serve-$m.log" &
  pids+=($!)
done
for m in a b; do for _ in $(seq 50); do [ -S "$WORK/$m.sock" ] && break; sleep 0.1; done; done
A="nbd+unix:///a.img?socket=$WORK/a.sock"
B="nbd+unix:///b.img?socket=$WORK/b.sock"

if "$MESHRAID" create --level=1 --raid-devices=2 "$A" "$A" 2>twice.err; then fail "a member named twice was accepted"; fi
grep -q "given twice" twice.err || fail "member named twice: $(cat twice.err)"
"$MESHRAID" create --level=1 --raid-devices=2 --bitmap=internal --name=remote "$A" "$B" >create.txt \
  || fail "create over NBD: $(cat create.txt)"
"$MESHRAID" examine "$A" >examine.txt || fail "examine over NBD"
grep -q "Raid Level : raid1" examine.txt || fail "examine over NBD: $(cat examine.txt)"
# What went over NBD is what is in the files.
for m in a b; do
  mdadm --examine "$WORK/$m.img" >"mdadm-$m.txt" 2>&1 || fail "mdadm --examine $m.img: $(cat mdadm-$m.txt)"
  grep -q "Name : .*:remote" "mdadm-$m.txt" || fail "mdadm sees no array in $m.img"
done
uuid=$(grep "Array UUID" examine.txt | awk '{print $4}')
grep -q "$uuid" mdadm-b.txt || fail "mdadm reads another UUID in b.img"

"$MESHRAID" run --export="nbd+unix:///remote?socket=$WORK/array.sock" "$A" "$B" 2>run.log &
run=$!
for _ in $(seq 100); do [ -S "$WORK/array.sock" ] && break; sleep 0.1; done
[ -S "$WORK/array.sock" ] || { cat run.log; fail "run over NBD members did not start"; }
head -c 32M /dev/urandom >data
nbdcopy data "nbd+unix:///remote?socket=$WORK/array.sock"
kill -TERM "$run"; wait "$run" || { cat run.log; fail "run did not stop cleanly"; }
"$MESHRAID" cat "$A" "$B" >array.bin 2>cat.err || fail "cat over NBD: $(cat cat.err)"
cmp -n $((32 << 20)) array.bin data || fail "cat over NBD does not read what run served"
[ "$(stat -c %s array.bin)" -gt $((60 << 20)) ] || fail "cat over NBD stopped short"
echo "ok: create, examine, run and cat over NBD URIs"
