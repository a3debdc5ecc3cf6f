#!/usr/bin/env bash
# Latency-aware reads with an NVMe/TCP member behind a real 2 ms delay: the machine's kernel has
# no netem, so the delay sits in the member's storage instead. nbdkit serves the slow file
# behind its delay filter (2 ms per read) on a Unix socket; `meshraid serve-member --nvme`
# re-exports that nbd+unix:// URI over NVMe/TCP; `meshraid run` assembles a RAID1 of a local
# file and the nvme+tcp:// member. fio 4K random reads at QD1 through the array: with the
# `latency` policy >= 99 % of reads go to the local member when the slow one is slot 1, and
# >= 90 % (as latency_balance_test allows for slot 0, where MD's rule would send them) when it
# is slot 0. Counts come from the per-member lines `meshraid run` logs when it stops.
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin nbdkit fio python3
rp="" sp="" kp=""
cleanup() {
  set +e
  [ -n "$rp" ] && kill -9 "$rp" 2>/dev/null
  [ -n "$sp" ] && kill -9 "$sp" 2>/dev/null
  [ -n "$kp" ] && kill "$kp" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$WORK"/*/run.log "$WORK"/*/serve.log; do
    [ -f "$f" ] && grep -v "nbd: conn" "$f" | tail -20 | sed "s|^|  $(basename "$(dirname "$f")")/$(basename "$f"): |"
  done
  exit 1
}
share() {  # share LOG MEMBER_SUBSTRING -> percentage of reads
  grep -F "member " "$1" | grep -F "$2" | grep "reads (" | sed -E 's/.* reads \(([0-9.]+)%\).*/\1/' | head -1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_case() {  # run_case NAME SLOW_FIRST(0|1): the slow member's share of reads in $WORK/NAME/share
  local name=$1 slow_first=$2
  local d="$WORK/$name" nqn="nqn.2026-01.io.meshraid.test:slow-$name"
  mkdir -p "$d"
  truncate -s 128M "$d/fast.img" "$d/slow.img"
  local order=("$d/fast.img" "$d/slow.img")
  [ "$slow_first" = 1 ] && order=("$d/slow.img" "$d/fast.img")
  "$MESHRAID" create --level=1 --raid-devices=2 --assume-clean "${order[@]}" >/dev/null || fail "$name: create"

  nbdkit -f -t 16 -U "$d/slow.sock" -P "$d/slow.pid" --filter=delay file "$d/slow.img" rdelay=2ms &
  kp=$!
  for _ in $(seq 100); do [ -s "$d/slow.pid" ] && break; sleep 0.1; done
  [ -s "$d/slow.pid" ] || fail "$name: nbdkit did not start"

  local port="" slow_uri
  for _ in 1 2 3; do
    port=$(free_port)
    "$MESHRAID" serve-member --nvme="127.0.0.1:$port/$nqn" --allow-any-host "nbd+unix:///?socket=$d/slow.sock" \
      2>>"$d/serve.log" &
    sp=$!
    for _ in $(seq 100); do
      grep -q "nvme: serving" "$d/serve.log" 2>/dev/null && break
      kill -0 "$sp" 2>/dev/null || break
      sleep 0.1
    done
    grep -q "nvme: serving" "$d/serve.log" 2>/dev/null && break
    wait "$sp" 2>/dev/null || true
    sp="" port=""
  done
  [ -n "$port" ] || fail "$name: serve-member did not serve the nbd+unix:// member over NVMe/TCP"
  slow_uri="nvme+tcp://127.0.0.1:$port/$nqn"

  local members=("$d/fast.img" "$slow_uri")
  [ "$slow_first" = 1 ] && members=("$slow_uri" "$d/fast.img")
  "$MESHRAID" run --read-policy=latency --export="nbd+unix:///v?socket=$d/a.sock" "${members[@]}" \
    2>"$d/run.log" &
  rp=$!
  for _ in $(seq 100); do
    [ -S "$d/a.sock" ] && break
    kill -0 "$rp" 2>/dev/null || fail "$name: meshraid run exited"
    sleep 0.1
  done
  [ -S "$d/a.sock" ] || fail "$name: meshraid run did not start"
  fio --name=r --ioengine=nbd --uri="nbd+unix:///v?socket=$d/a.sock" --rw=randread --bs=4k \
      --iodepth=1 --number_ios=3000 --norandommap=1 --output="$d/fio.out" >/dev/null \
    || { cat "$d/fio.out"; fail "$name: fio"; }
  kill -TERM "$rp"; wait "$rp" || fail "$name: run did not stop cleanly"; rp=""
  kill -TERM "$sp"; wait "$sp" || fail "$name: serve-member did not stop cleanly"; sp=""
  kill "$kp"; wait "$kp" 2>/dev/null || true; kp=""

  grep -qF "member $slow_uri failed" "$d/run.log" && fail "$name: the NVMe/TCP member was failed"
  local s
  s=$(share "$d/run.log" "$nqn")
  [ -n "$s" ] || fail "$name: no per-member read counts in the log"
  grep "member .*reads (" "$d/run.log" | sed 's/^/   /'
  # Both legs were measured (the slow one by probe reads).
  [ "$(grep -c 'latency_ewma_ns [1-9]' "$d/run.log")" = 2 ] || fail "$name: a member was never measured"
  # The slow leg's latency is the delay's (>= 2 ms), seen through NVMe/TCP and NBD.
  grep -F "member $slow_uri" "$d/run.log" | grep -qE 'latency_ewma_ns ([2-9][0-9]{6}|[0-9]{8,})' ||
    fail "$name: the NVMe/TCP member's latency is below the 2 ms delay"
  echo "$s" >"$d/share"
}

run_case slow-second 0
slow=$(cat "$WORK/slow-second/share")
echo "latency, NVMe/TCP member 2 ms slower, slot 1: slow share $slow%"
python3 -c "import sys; sys.exit(0 if float('$slow') <= 1.0 else 1)" || fail "slow member got $slow% (> 1%)"
run_case slow-first 1
slow=$(cat "$WORK/slow-first/share")
echo "latency, NVMe/TCP member 2 ms slower, slot 0: slow share $slow%"
python3 -c "import sys; sys.exit(0 if float('$slow') <= 10.0 else 1)" || fail "slow member at slot 0 got $slow% (> 10%)"
echo "PASS"
