#!/usr/bin/env bash
# Bad members get one clear line naming the member and the problem, and nothing is touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/bad_input.py" --meshraid "$MESHRAID" --work "$WORK"
