#!/usr/bin/env bash
# Benchmark (not a test): in the Linux 6.12 guest of tests/kernel (qemu TCG), the kernel's
# NVMe/TCP host with fio, 4 KiB random reads and writes at QD1 and QD32, against our target
# (`meshraid serve-member --nvme`) and against the kernel's own nvmet-tcp, each serving a 256 MiB
# file on the same XFS. Under TCG only the ratio means anything: both pay the same emulation.
# Usage: bench/nvme_guest_bench.sh [RUNTIME_SECONDS]   (default 10; needs build/meshraid)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=${1:-10}
mr=$PWD/build/meshraid
[ -x "$mr" ] || { echo "build first: $mr is missing"; exit 1; }
work=$(mktemp -d /tmp/meshraid-nvme-guest-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
truncate -s 1G "$work/b.img"
python3 tests/kernel/guest.py --run-dir "$work" --meshraid "$mr" --disk "b=$work/b.img" --timeout 1800 \
  bench/nvme/guest_bench.sh "$RUNTIME" >"$work/guest.txt" 2>&1 || { cat "$work/guest.txt"; exit 1; }
python3 - "$work/out/stdout" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5 and f[0] in ("ours", "kernel"):
        rows.setdefault((f[1], int(f[2])), {})[f[0]] = (float(f[3]), float(f[4]))
print("In the guest (qemu TCG), kernel nvme-tcp host + fio, 4 KiB, 256 MiB file on XFS (4096-byte LBA)")
print("| workload | QD | meshraid target IOPS | p50 µs | kernel nvmet IOPS | p50 µs | IOPS × | p50 × |")
print("|---|---|---|---|---|---|---|---|")
for (rw, qd), v in sorted(rows.items()):
    o, k = v["ours"], v["kernel"]
    print("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |" % (rw, qd, o[0], o[1], k[0], k[1], o[0] / k[0], o[1] / k[1]))
PY
