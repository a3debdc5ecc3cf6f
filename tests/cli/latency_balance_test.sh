#!/usr/bin/env bash
# Latency-aware reads, end to end: a RAID1 of a local file and a remote member (the other file
# served by nbdkit behind its delay filter, 2 ms per read). fio 4K random reads at QD1 through
# the array: under `latency` >= 99 % of reads go to the local member, also when the slow
# member is slot 0 (where MD's stock rule would send them); under `md` with the slow member at
# slot 0 the slow member gets them. Counts come from the per-member lines `meshraid run` logs
# when it stops.
set -euo pipefail
: "${MESHRAID:?}" "${WORK:?}"
for t in nbdkit fio; do command -v $t >/dev/null || { echo "FAIL: $t missing (scripts/setup)"; exit 1; }; done
rm -rf "$WORK"; mkdir -p "$WORK"
cleanup() { set +e; [ -n "${rp:-}" ] && kill -9 "$rp"; [ -n "${kp:-}" ] && kill "$kp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$WORK"/run*.log 2>/dev/null | grep -v "nbd: conn"; exit 1; }

share() {  # share LOG MEMBER_SUBSTRING -> percentage of reads
  grep "member .*$2.*reads (" "$1" | sed -E 's/.* reads \(([0-9.]+)%\).*/\1/' | head -1
}

run_case() {  # run_case NAME POLICY SLOW_FIRST(0|1) -> prints the slow member's share
  local name=$1 policy=$2 slow_first=$3
  local d="$WORK/$name"; mkdir -p "$d"
  truncate -s 128M "$d/fast.img" "$d/slow.img"
  local order=("$d/fast.img" "$d/slow.img")
  [ "$slow_first" = 1 ] && order=("$d/slow.img" "$d/fast.img")
  "$MESHRAID" create --level=1 --raid-devices=2 --assume-clean "${order[@]}" >/dev/null
  nbdkit -f -t 16 -U "$d/slow.sock" -P "$d/slow.pid" --filter=delay file "$d/slow.img" rdelay=2ms &
  kp=$!
  for _ in $(seq 50); do [ -s "$d/slow.pid" ] && break; sleep 0.1; done
  local slow_uri="nbd+unix:///?socket=$d/slow.sock"
  local members=("$d/fast.img" "$slow_uri")
  [ "$slow_first" = 1 ] && members=("$slow_uri" "$d/fast.img")
  "$MESHRAID" run --read-policy="$policy" --export="nbd+unix:///v?socket=$d/a.sock" "${members[@]}" \
    2>"$d/run.log" &
  rp=$!
  for _ in $(seq 50); do [ -S "$d/a.sock" ] && break; sleep 0.1; done
  fio --name=r --ioengine=nbd --uri="nbd+unix:///v?socket=$d/a.sock" --rw=randread --bs=4k \
      --iodepth=1 --number_ios=3000 --norandommap=1 --output=/dev/null >/dev/null \
    || fail "$name: fio"
  kill -TERM "$rp"; wait "$rp" || fail "$name: run did not stop cleanly"; rp=""
  kill "$kp"; wait "$kp" 2>/dev/null || true; kp=""
  local s
  s=$(share "$d/run.log" "slow.sock")
  [ -n "$s" ] || fail "$name: no per-member read counts in the log"
  grep "member .*reads (" "$d/run.log" | sed 's/^/   /'
  if [ "$policy" = latency ]; then  # both legs measured (the slow one by probe reads)
    [ "$(grep -c 'latency_ewma_ns [1-9]' "$d/run.log")" = 2 ] || fail "$name: a member was never measured"
  fi
  echo "$s"
}

slow=$(run_case latency-slow-second latency 0 | tail -1)
echo "latency, slow member second: slow share $slow%"
python3 -c "import sys; sys.exit(0 if float('$slow') <= 1.0 else 1)" || fail "slow member got $slow% (> 1%)"
slow=$(run_case latency-slow-first latency 1 | tail -1)
echo "latency, slow member first: slow share $slow%"
python3 -c "import sys; sys.exit(0 if float('$slow') <= 10.0 else 1)" || fail "slow member at slot 0 got $slow% (> 10%)"
slow=$(run_case md-slow-first md 1 | tail -1)
echo "md, slow member first: slow share $slow%"
python3 -c "import sys; sys.exit(0 if float('$slow') >= 20.0 else 1)" || fail "md: slow member at slot 0 got only $slow%"
echo "3 passed, 0 failed"
