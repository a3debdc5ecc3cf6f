#!/usr/bin/env bash
# Kernel test: arrays Linux MD creates, writes, grows and re-adds in the guest are read by
# meshraid cat and served by meshraid run without a resync (md_writes_test.py).
set -euo pipefail
: "${MESHRAID:?}" "${WORK:?}"
exec python3 "$(dirname "$0")/md_writes_test.py" "$@"
