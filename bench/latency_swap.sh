#!/usr/bin/env bash
# The latency-swap check by hand: runs tests/cli/latency_swap_test.sh (ctest runs it as
# cli.latency_swap_test); see that script's header for what it does and asserts.
#   MESHRAID=build/meshraid WORK=/tmp/swap bash bench/latency_swap.sh
# Loop it to look for rare failures, e.g.
#   for i in $(seq 20); do MESHRAID=build/meshraid WORK=/tmp/swap bash bench/latency_swap.sh || break; done
set -euo pipefail
exec bash "$(dirname "$0")/../tests/cli/latency_swap_test.sh" "$@"
