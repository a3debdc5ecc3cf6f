#!/usr/bin/env bash
# Every golden case written by real Linux MD (discovered, not listed): meshraid examine agrees
# with the manifest and meshraid cat reproduces the array's sha256.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/golden_check.py" --meshraid "$MESHRAID" --golden "$GOLDEN" --work "$WORK"
