#!/usr/bin/env bash
# Benchmark (not a test): resync barriers and resync throughput, in one process
# (build/bench/meshraid_barrier_bench; see bench/barrier/barrier_bench.cc for the set-up).
#
#  1. Foreground 4 KiB random writes (QD1, QD16) outside a 64 MiB region being resynced on a
#     RAID10 n2 of 4 memory members with NVMe-like latency and a finite bandwidth: per-bucket
#     barriers vs the global barrier vs no resync at all, p50/p99/p99.9/IOPS and the ratios
#     to the no-resync run; plus the same on members without the bandwidth limit (control).
#  2. Resync throughput (unthrottled, no foreground) vs the members' sequential bandwidth and
#     vs a raw member-to-member copy, measured in the same run; first with the member channel
#     shared round-robin in 64 KiB slices (the default model), then as a FIFO channel.
#
# Usage: bench/barrier_bench.sh [SECONDS_PER_ROW]   (default 5; extra arguments go to the
# program, e.g. --bw-mib 1024). Writes bench/barrier/latency_cdf.svg.
# Runs the program under SCHED_FIFO (chrt -f 10) when allowed: on a shared 2-vCPU VM, ordinary
# scheduling adds multi-millisecond stalls to every row's p99. Set BENCH_RT=0 to not do that.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_ROW=${1:-5}
shift || true
BUILD=${BUILD:-build}

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD" meshraid_barrier_bench >/dev/null
bin="$BUILD/bench/meshraid_barrier_bench"

run=()
if [ "${BENCH_RT:-1}" != 0 ] && chrt -f 10 true 2>/dev/null; then
  run=(chrt -f 10)
  echo "(running under SCHED_FIFO priority 10)"
else
  echo "(running with normal scheduling: expect noisy tails)"
fi
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

"${run[@]}" "$bin" --measure "$SECONDS_PER_ROW" --svg bench/barrier/latency_cdf.svg \
  --alt-sync 512x4,512x16,64x64 "$@"
echo "### The same throughput table with a FIFO member channel (--quantum-kib 4096)"
echo
"${run[@]}" "$bin" --no-latency --quantum-kib 4096 --alt-sync 512x4,512x16,64x64 "$@" |
  sed -n '/^| what/,$p'
