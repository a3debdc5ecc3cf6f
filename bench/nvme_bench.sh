#!/usr/bin/env bash
# Benchmark (not a test): NVMe/TCP against NBD, 4 KiB random reads and writes at QD1 and QD32,
# everything on this machine over 127.0.0.1, tmpfs files, in one run:
#   A. members: one file served by `meshraid serve-member --nvme` (our target), read by our
#      NVMe/TCP host, against the same kind of file served by `serve-member` over NBD/TCP (our
#      NBD server) and by nbdkit's file plugin, both read by our NBD member client (libnbd);
#      the client is bench/nvme/load.cc (meshraid_load) in every case.
#   B. through the array: a RAID1 whose only running member is remote (the other is left out,
#      so every I/O crosses the member's transport), NVMe/TCP member vs NBD member, fio's nbd
#      engine on the array's NBD export.
#   C. the array as an export: a RAID1 of two tmpfs files served by `meshraid run` over our
#      NVMe/TCP target and over NBD/TCP, read by meshraid_load, and nbdkit on one file.
# Prints IOPS, p50 and p99 per case and the ratios against NBD. Each pair runs back to back,
# alternating which goes first; the machine is shared, so read the ratios, not the absolutes.
# Usage: bench/nvme_bench.sh [RUNTIME_SECONDS]   (default 5 per job; needs build/meshraid and
# build/bench/meshraid_load, e.g. from scripts/test)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=${1:-5}
SIZE=${SIZE:-256M}
mr=$PWD/build/meshraid
load=$PWD/build/bench/meshraid_load
for b in "$mr" "$load"; do [ -x "$b" ] || { echo "build first: $b is missing (scripts/test builds it)"; exit 1; }; done
for t in fio nbdkit python3; do command -v $t >/dev/null || { echo "$t missing: run scripts/setup"; exit 1; }; done

dir=$(mktemp -d /dev/shm/meshraid-nvme-bench.XXXXXX)
pids=()
cleanup() {  # newest first: an array stops before the members it reads from
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null; wait "${pids[i]}" 2>/dev/null; done
  [ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT
export MESHRAID_RUN_DIR=$dir/run
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing on port $1"; exit 1; }
fill() { dd if=/dev/urandom of="$1" bs=1M count=$(( ${SIZE%M} )) status=none; }

results=()
measure() {  # measure LABEL RW QD SPEC -> appends "LABEL RW QD iops p50 p99"
  local out
  out=$("$load" "$4" --rw "$2" --qd "$3" --runtime "$RUNTIME" --ramp 1)
  results+=("$1 $2 $3 $(sed -E 's/.*iops=([0-9.]+).* p50_us=([0-9.]+).* p99_us=([0-9.]+).*/\1 \2 \3/' <<<"$out")")
}
measure_fio() {  # measure_fio LABEL RW QD URI
  local j="$dir/fio.json"
  fio --name=j --ioengine=nbd --uri="$4" --rw="$2" --bs=4k --iodepth="$3" --time_based=1 \
      --runtime="$RUNTIME" --ramp_time=1 --norandommap=1 --randrepeat=0 \
      --percentile_list=50:99 --output-format=json --output="$j" >/dev/null
  results+=("$1 $2 $3 $(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]
p = j["clat_ns"]["percentile"]
print("%.0f %.1f %.1f" % (j["iops"], p["50.000000"] / 1000, p["99.000000"] / 1000))' "$j" "$([ "$2" = randread ] && echo read || echo write)")")
}

echo "== A. members: our NVMe/TCP target + host vs NBD (our server, nbdkit) + libnbd"
for f in nv nb nk; do truncate -s "$SIZE" "$dir/$f.img"; fill "$dir/$f.img"; done
pn=$(port); pb=$(port); pk=$(port)
"$mr" serve-member --nvme="127.0.0.1:$pn/nqn.2026-12.io.meshraid:bench" --allow-any-host "$dir/nv.img" 2>/dev/null &
pids+=($!)
"$mr" serve-member --listen="127.0.0.1:$pb" --name=nb "$dir/nb.img" 2>/dev/null &
pids+=($!)
nbdkit -f -t 64 -p "$pk" file "$dir/nk.img" 2>/dev/null &
pids+=($!)
wait_port "$pn"; wait_port "$pb"; wait_port "$pk"
for rw in randread randwrite; do
  for qd in 1 32; do
    measure "A-nvme" $rw $qd "nvme+tcp://127.0.0.1:$pn/nqn.2026-12.io.meshraid:bench"
    measure "A-nbd" $rw $qd "nbd://127.0.0.1:$pb/nb"
    measure "A-nbdkit" $rw $qd "nbd://127.0.0.1:$pk/"
  done
done

echo "== B. through the array: its only running member is NVMe/TCP vs NBD"
for kind in nvme nbd; do
  truncate -s "$SIZE" "$dir/b-$kind-remote.img" "$dir/b-$kind-local.img"
  p=$(port)
  if [ $kind = nvme ]; then
    "$mr" serve-member --nvme="127.0.0.1:$p/nqn.2026-12.io.meshraid:b" --allow-any-host "$dir/b-$kind-remote.img" 2>/dev/null &
    uri="nvme+tcp://127.0.0.1:$p/nqn.2026-12.io.meshraid:b"
  else
    "$mr" serve-member --listen="127.0.0.1:$p" --name=b "$dir/b-$kind-remote.img" 2>/dev/null &
    uri="nbd://127.0.0.1:$p/b"
  fi
  pids+=($!)
  wait_port "$p"
  "$mr" create --level=1 --raid-devices=2 --assume-clean --name="b$kind" "$uri" "$dir/b-$kind-local.img" >/dev/null
  "$mr" run --export="nbd+unix:///b?socket=$dir/b-$kind.sock" "$uri" 2>"$dir/b-$kind.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/b-$kind.sock" ] && break; sleep 0.1; done
  fio --name=fill --ioengine=nbd --uri="nbd+unix:///b?socket=$dir/b-$kind.sock" --rw=write --bs=1M --iodepth=8 --output=/dev/null >/dev/null
done
for rw in randread randwrite; do
  for qd in 1 32; do
    measure_fio "B-nvme" $rw $qd "nbd+unix:///b?socket=$dir/b-nvme.sock"
    measure_fio "B-nbd" $rw $qd "nbd+unix:///b?socket=$dir/b-nbd.sock"
  done
done

echo "== C. the array as an export: our NVMe/TCP target vs our NBD server (and nbdkit on one file)"
truncate -s "$SIZE" "$dir/c0.img" "$dir/c1.img"
"$mr" create --level=1 --raid-devices=2 --assume-clean --name=c "$dir/c0.img" "$dir/c1.img" >/dev/null
pc=$(port); pd=$(port)
"$mr" run --export="nvme+tcp://127.0.0.1:$pc/nqn.2026-12.io.meshraid:c" --allow-any-host --listen="127.0.0.1:$pd" \
  "$dir/c0.img" "$dir/c1.img" 2>"$dir/c.log" &
pids+=($!)
wait_port "$pc"; wait_port "$pd"
"$load" "nbd://127.0.0.1:$pd/c" --rw randwrite --qd 32 --runtime 2 --ramp 0 >/dev/null  # fill a little
for rw in randread randwrite; do
  for qd in 1 32; do
    measure "C-nvme" $rw $qd "nvme+tcp://127.0.0.1:$pc/nqn.2026-12.io.meshraid:c"
    measure "C-nbd" $rw $qd "nbd://127.0.0.1:$pd/c"
    measure "C-nbdkit" $rw $qd "nbd://127.0.0.1:$pk/"
  done
done

python3 - "${results[@]}" <<'PY'
import sys
rows = {}
for r in sys.argv[1:]:
    label, rw, qd, iops, p50, p99 = r.split()
    part, kind = label.split("-", 1)
    rows.setdefault((part, rw, qd), {})[kind] = (float(iops), float(p50), float(p99))
titles = {"A": "A. members (client: meshraid_load)", "B": "B. through the array (client: fio nbd engine)",
          "C": "C. the array as an export (client: meshraid_load)"}
for part in "ABC":
    keys = [k for k in rows if k[0] == part]
    if not keys:
        continue
    kinds = [k for k in ("nvme", "nbd", "nbdkit") if k in rows[keys[0]]]
    print("\n" + titles[part])
    head = "| workload | QD | " + " | ".join("%s IOPS | p50 µs | p99 µs" % k for k in kinds) + " | nvme/nbd IOPS × | nvme/nbd p50 × |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for k in sorted(keys, key=lambda k: (k[1], int(k[2]))):
        v = rows[k]
        cells = " | ".join("%.0f | %.1f | %.1f" % v[x] for x in kinds)
        print("| %s | %s | %s | %.2f | %.2f |" % (k[1], k[2], cells, v["nvme"][0] / v["nbd"][0], v["nvme"][1] / v["nbd"][1]))
PY
