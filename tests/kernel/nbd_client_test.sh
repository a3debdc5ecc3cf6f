#!/usr/bin/env bash
# Kernel test: the guest kernel's nbd client (nbd-client -unix and TCP) on meshraid run, with
# XFS, fio verify, a remote member killed mid-run, fstrim and a wrong export name
# (guest/nbd_client.sh says what is checked).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${MESHRAID:?}" "${WORK:?}"
rm -rf "$WORK"; mkdir -p "$WORK"
truncate -s 320M "$WORK/m1.img"
exec python3 "$here/guest.py" --run-dir "$WORK" --timeout 600 --disk "m1=$WORK/m1.img" \
  "$here/guest/nbd_client.sh"
