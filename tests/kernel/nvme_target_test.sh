#!/usr/bin/env bash
# Kernel test: the guest kernel's NVMe/TCP host (nvme discover/connect, nvme-tcp) against
# meshraid's target: host NQN checks, XFS and fio verify while a remote member dies, ?lba=4096,
# the kernel's reconnect across a restart of meshraid run (guest/nvme_target.sh says what is
# checked).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${MESHRAID:?}" "${WORK:?}"
rm -rf "$WORK"; mkdir -p "$WORK"
truncate -s 320M "$WORK/m1.img"
exec python3 "$here/guest.py" --run-dir "$WORK" --timeout 400 --disk "m1=$WORK/m1.img" \
  "$here/guest/nvme_target.sh"
