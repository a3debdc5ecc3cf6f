#!/usr/bin/env bash
# Benchmark (not a test): fio's nbd engine, 4K randread and randwrite at QD1 and QD32, against
#   (a) meshraid: a RAID1 of two tmpfs files served by `meshraid run`, and
#   (b) nbdkit's file plugin serving one tmpfs file,
# in the same run, and prints IOPS, p50, p99 and the meshraid/nbdkit ratios.
# Usage: bench/nbd_bench.sh [RUNTIME_SECONDS]   (default 10 per job; needs a built build/meshraid)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=${1:-10}
SIZE=${SIZE:-512M}
mr=build/meshraid
[ -x "$mr" ] || { echo "build meshraid first (scripts/demo or scripts/test)"; exit 1; }
for t in fio nbdkit python3; do command -v $t >/dev/null || { echo "$t missing: run scripts/setup"; exit 1; }; done

dir=$(mktemp -d /dev/shm/meshraid-bench.XXXXXX)
cleanup() {
  [ -n "${mpid:-}" ] && kill -TERM "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null
  [ -n "${kpid:-}" ] && kill -TERM "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

truncate -s "$SIZE" "$dir/m0.img" "$dir/m1.img" "$dir/ref.img"
$mr create --level=1 --raid-devices=2 --assume-clean --name=bench "$dir/m0.img" "$dir/m1.img" >/dev/null
$mr run --export="nbd+unix:///bench?socket=$dir/mr.sock" "$dir/m0.img" "$dir/m1.img" 2>"$dir/run.log" &
mpid=$!
nbdkit -f -t 64 -U "$dir/nk.sock" -P "$dir/nk.pid" file "$dir/ref.img" &
kpid=$!
for _ in $(seq 100); do [ -S "$dir/mr.sock" ] && [ -s "$dir/nk.pid" ] && break; sleep 0.1; done

run_fio() {  # run_fio URI RW QD -> json file path
  local out="$dir/fio.$RANDOM.json"
  fio --name=j --ioengine=nbd --uri="$1" --rw="$2" --bs=4k --iodepth="$3" \
      --time_based=1 --runtime="$RUNTIME" --ramp_time=2 --norandommap=1 --randrepeat=0 \
      --iodepth_batch_submit=$(( $3 > 8 ? 8 : 1 )) --iodepth_batch_complete_min=1 \
      --percentile_list=50:99 --output-format=json --output="$out" >/dev/null
  echo "$out"
}

# Fill both targets so that reads do not hit holes.
for uri in "nbd+unix:///bench?socket=$dir/mr.sock" "nbd+unix:///?socket=$dir/nk.sock"; do
  fio --name=fill --ioengine=nbd --uri="$uri" --rw=write --bs=1M --iodepth=8 --output=/dev/null >/dev/null
done

results=()
for rw in randread randwrite; do
  for qd in 1 32; do
    a=$(run_fio "nbd+unix:///bench?socket=$dir/mr.sock" $rw $qd)
    b=$(run_fio "nbd+unix:///?socket=$dir/nk.sock" $rw $qd)
    results+=("$rw $qd $a $b")
  done
done

python3 - "${results[@]}" <<'PY'
import json, sys
def stats(path, rw):
    j = json.load(open(path))["jobs"][0]["read" if rw == "randread" else "write"]
    p = j["clat_ns"]["percentile"]
    return j["iops"], p["50.000000"] / 1000, p["99.000000"] / 1000
rows = []
print("%-10s %3s | %10s %8s %8s | %10s %8s %8s | %6s %6s %6s" % (
    "workload", "QD", "ours IOPS", "p50 us", "p99 us", "nbdkit", "p50 us", "p99 us",
    "IOPS x", "p50 x", "p99 x"))
for arg in sys.argv[1:]:
    rw, qd, a, b = arg.split()
    oi, o50, o99 = stats(a, rw)
    ki, k50, k99 = stats(b, rw)
    print("%-10s %3s | %10.0f %8.1f %8.1f | %10.0f %8.1f %8.1f | %6.2f %6.2f %6.2f" % (
        rw, qd, oi, o50, o99, ki, k50, k99, oi / ki, o50 / k50, o99 / k99))
print("ratios are meshraid / nbdkit (IOPS: higher is better; latency: lower is better)")
PY
