#!/usr/bin/env bash
# Benchmark (not a test) of read balancing on real processes: a RAID1 of a local tmpfs file and
# a remote member (another tmpfs file served by nbdkit on a Unix socket, behind its delay filter
# with 0, 1 and 2 ms per read), fio 4K random reads at QD 1, 4, 16, 32, 64, for the policies
# latency, md and round-robin, and a local-only array (one member) for reference, in one run.
# Prints per policy and depth: IOPS, p50, p99 and the share of reads on the local member
# (from `meshraid detail --json` before and after each fio run).
# Usage: bench/balance_bench.sh [SECONDS_PER_POINT]   (default 3)
# Env (optional, to rerun a subset): MESHRAID (binary, default build/meshraid), DELAYS ("0 1 2"),
# POLICIES ("latency md round-robin"), QDS ("1 4 16 32 64"), SOLO=0 skips the local-only rows.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-3}
mr=${MESHRAID:-$PWD/build/meshraid}
DELAYS=${DELAYS:-0 1 2} POLICIES=${POLICIES:-latency md round-robin} QDS=${QDS:-1 4 16 32 64}
[ -x "$mr" ] || { echo "build meshraid first (scripts/demo or scripts/test)"; exit 1; }
dir=$(mktemp -d /dev/shm/meshraid-bal.XXXXXX)
export MESHRAID_RUN_DIR="$dir/run"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

reads() {  # reads NAME -> "local remote" read counts
  "$mr" detail --json "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
m = d["members"]
loc = sum(x["reads"] for x in m if not x["path"].startswith("nbd"))
rem = sum(x["reads"] for x in m if x["path"].startswith("nbd"))
print(loc, rem)'
}

point() {  # point NAME QD -> "iops p50_us p99_us local_share"
  local before after
  before=$(reads "$1")
  fio --name=b --ioengine=nbd --uri="nbd+unix:///$1?socket=$dir/$1.sock" --rw=randread --bs=4k \
      --iodepth="$2" --iodepth_batch_submit=$(( $2 > 8 ? 8 : 1 )) --iodepth_batch_complete_min=1 \
      --time_based=1 --runtime="$T" --norandommap=1 --randrepeat=0 --percentile_list=50:99 \
      --output-format=json --output="$dir/fio.json" >/dev/null
  after=$(reads "$1")
  python3 - "$dir/fio.json" "$before" "$after" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]["read"]
b = [int(x) for x in sys.argv[2].split()]; a = [int(x) for x in sys.argv[3].split()]
loc, rem = a[0] - b[0], a[1] - b[1]
p = r["clat_ns"]["percentile"]
print("%.0f %.1f %.1f %.2f" % (r["iops"], p["50.000000"] / 1e3, p["99.000000"] / 1e3,
                              100.0 * loc / max(1, loc + rem)))
PY
}

serve() {  # serve NAME POLICY MEMBERS...
  local name=$1 policy=$2; shift 2
  "$mr" run --read-policy="$policy" --export="nbd+unix:///$name?socket=$dir/$name.sock" "$@" \
    2>>"$dir/run.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/$name.sock" ] && [ -S "$MESHRAID_RUN_DIR/$name.ctl" ] && break; sleep 0.1; done
}

printf '%-6s %-12s %3s | %9s %8s %8s | %7s\n' delay policy QD IOPS "p50 us" "p99 us" "local%"
# The local-only reference: a one-member array on the local file.
truncate -s 256M "$dir/solo.img"
"$mr" create --level=1 --raid-devices=1 --assume-clean --name=solo "$dir/solo.img" >/dev/null
if [ "${SOLO:-1}" != 0 ]; then
  serve solo latency "$dir/solo.img"
  fio --name=fill --ioengine=nbd --uri="nbd+unix:///solo?socket=$dir/solo.sock" --rw=write --bs=1M \
      --output=/dev/null >/dev/null
  for qd in $QDS; do
    read -r i p5 p9 _ <<<"$(point solo $qd)"
    printf '%-6s %-12s %3s | %9s %8s %8s | %7s\n' - local-only "$qd" "$i" "$p5" "$p9" 100.00
  done
fi
for delay in $DELAYS; do
  name=d$delay
  truncate -s 256M "$dir/$name-l.img" "$dir/$name-r.img"
  "$mr" create --level=1 --raid-devices=2 --assume-clean --name=$name "$dir/$name-l.img" "$dir/$name-r.img" >/dev/null
  filter=()
  [ "$delay" != 0 ] && filter=(--filter=delay)
  nbdkit -f -t 64 -U "$dir/$name-r.sock" -P "$dir/$name-r.pid" "${filter[@]}" file "$dir/$name-r.img" \
    ${filter:+rdelay=${delay}ms} &
  pids+=($!)
  for _ in $(seq 50); do [ -s "$dir/$name-r.pid" ] && break; sleep 0.1; done
  for policy in $POLICIES; do
    n=$name
    rm -f "$dir/$n.sock"
    serve "$n" "$policy" "$dir/$name-l.img" "nbd+unix:///?socket=$dir/$name-r.sock"
    [ "$policy" = latency ] && fio --name=fill --ioengine=nbd --uri="nbd+unix:///$n?socket=$dir/$n.sock" \
        --rw=write --bs=1M --output=/dev/null >/dev/null
    for qd in $QDS; do
      read -r i p5 p9 sh <<<"$(point "$n" $qd)"
      printf '%-6s %-12s %3s | %9s %8s %8s | %7s\n' "${delay}ms" "$policy" "$qd" "$i" "$p5" "$p9" "$sh"
    done
    kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
  done
done
