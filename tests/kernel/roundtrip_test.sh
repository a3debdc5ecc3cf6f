#!/usr/bin/env bash
# Kernel test: a RAID1 made by meshraid goes meshraid -> Linux MD -> meshraid -> Linux MD with
# writes at every step; data and MD's check agree each time (guest/roundtrip.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${MESHRAID:?}" "${WORK:?}"
rm -rf "$WORK"; mkdir -p "$WORK"
truncate -s 32M "$WORK/r0.img" "$WORK/r1.img"
stream=$((32 << 20))
python3 -c '
import sys, os
sys.path.insert(0, os.path.join(sys.argv[1], "..", "golden"))
import pattern
out, n = sys.argv[2], int(sys.argv[3])
with open(out, "wb") as f:
    for gen in (1, 2, 3):
        f.write(b"".join(pattern.sector("roundtrip", gen, lba) for lba in range(n // 512)))
' "$here" "$WORK/src.img" "$stream"
exec python3 "$here/guest.py" --run-dir "$WORK" --timeout 600 --disk "r0=$WORK/r0.img" \
  --disk "r1=$WORK/r1.img" --disk "src=$WORK/src.img" --file "$here/guest/md_lib.sh" \
  "$here/guest/roundtrip.sh" "$stream"
