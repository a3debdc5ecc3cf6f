#!/usr/bin/env bash
# Members written by `meshraid create` are accepted by Debian's real mdadm --examine (and
# --examine-bitmap when there is a bitmap), with the geometry we wrote.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v mdadm >/dev/null || { echo "mdadm is not installed (scripts/setup installs it)"; exit 1; }
exec python3 "$here/mdadm_interop.py" --meshraid "$MESHRAID" --work "$WORK"
