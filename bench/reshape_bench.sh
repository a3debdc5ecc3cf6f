#!/usr/bin/env bash
# Benchmark (not a test): online RAID1 -> RAID10 takeover and online RAID10 near grow (reshape)
# in one process (build/bench/meshraid_reshape_bench; see bench/reshape/reshape_bench.cc for
# the set-up). Memory members behind the latency + bandwidth model of barrier_bench.sh.
#
#  1. Takeover (Array::Takeover(10), and back) on a RAID1 of 2 members, 1 GiB vs 64 GiB (sparse):
#     wall time and bytes/ops each member was sent; the 64 GiB / 1 GiB ratio should be 1.
#  2. Reshape 2 -> 4 members of a filled RAID10 n2 (512 MiB members), speed_max unlimited, no
#     foreground: array MiB/s of the move vs the members' sequential bandwidth and vs raw copies
#     doing the same data movement on the member stacks, measured in the same run; superblock
#     writes (checkpoints) per member; the old contents read back and compared.
#  3. Foreground 4 KiB random reads+writes (70/30, QD1 and QD16) during a throttled reshape vs
#     the same array without a reshape (and vs the 4-member shape), every read verified.
#
# Usage: bench/reshape_bench.sh [SECONDS_PER_ROW]   (part 3's measured seconds per row, default
# 5; extra arguments go to the program, e.g. --bw-mib 1024 or --fg-speed-max-kib 50000).
# Runs the program under SCHED_FIFO (chrt -f 10) when allowed (see barrier_bench.sh for why).
# Set BENCH_RT=0 to not do that; BUILD=dir to build elsewhere than build/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_ROW=${1:-5}
shift || true
BUILD=${BUILD:-build}

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD" meshraid_reshape_bench >/dev/null
bin="$BUILD/bench/meshraid_reshape_bench"

run=()
if [ "${BENCH_RT:-1}" != 0 ] && chrt -f 10 true 2>/dev/null; then
  run=(chrt -f 10)
  echo "(running under SCHED_FIFO priority 10)"
else
  echo "(running with normal scheduling: expect noisy tails)"
fi
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

start=$(date +%s)
"${run[@]}" "$bin" --measure "$SECONDS_PER_ROW" "$@"
echo "(took $(( $(date +%s) - start )) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
