#!/usr/bin/env bash
# The simulated read-balancing benchmark (issue 4, section 5): sweeps queue depth for every
# policy on each scenario of modelled members, in virtual time (deterministic: the same output
# on every run). Writes bench/sim/sim.svg (the headline scenario) and bench/sim/results.txt.
#   bench/sim/run.sh [BUILD_DIR]   (default: build; the meshraid binary must be built there)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build}"
meshraid="$build/meshraid"
if [[ ! -x "$meshraid" ]]; then
  echo "run.sh: $meshraid not found; build it first (cmake --build $build --target meshraid)" >&2
  exit 1
fi
qd=1,4,16,32,64
policies=latency,md,round-robin,local-only
out="$here/results.txt"
: >"$out"
for scenario in local-rdma local-tcp local-rdma-tcp tlc-rdma fast-slow; do
  "$meshraid" sim --qd="$qd" --policies="$policies" --scenario="$scenario" \
    --svg="$here/sim-$scenario.svg" | tee -a "$out"
  echo | tee -a "$out"
done
cp "$here/sim-local-rdma.svg" "$here/sim.svg"  # the headline: local NVMe + NVMe over RDMA
echo "wrote $here/sim.svg, $here/sim-<scenario>.svg and $out"
