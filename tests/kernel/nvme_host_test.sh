#!/usr/bin/env bash
# Kernel test: meshraid's NVMe/TCP host (nvme+tcp:// members) against the guest kernel's
# nvmet-tcp target: a 4096-byte-LBA file namespace and a 512-byte-LBA block namespace with
# digests as members of a RAID1 served over NBD; a namespace disabled under fio, a
# bitmap-guided re-add, each member's bytes afterwards (guest/nvme_host.sh says what is checked).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${MESHRAID:?}" "${WORK:?}"
rm -rf "$WORK"; mkdir -p "$WORK"
size_mib=256  # per member: 4 bitmap chunks of 64 MiB
fio_mib=32    # fio's region: bitmap chunk 0 only
truncate -s 384M "$WORK/t.img"             # XFS holding namespace 1's file
truncate -s "${size_mib}M" "$WORK/n2.img"  # namespace 2's block device
exec python3 "$here/guest.py" --run-dir "$WORK" --timeout 400 --disk "t=$WORK/t.img" \
  --disk "n2=$WORK/n2.img" "$here/guest/nvme_host.sh" "$size_mib" "$fio_mib"
