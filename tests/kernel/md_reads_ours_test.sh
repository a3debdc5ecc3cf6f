#!/usr/bin/env bash
# Kernel test: Linux MD in the guest assembles, reads and checks arrays meshraid wrote
# (md_reads_ours_test.py says what is checked).
set -euo pipefail
: "${MESHRAID:?}" "${WORK:?}"
exec python3 "$(dirname "$0")/md_reads_ours_test.py"
