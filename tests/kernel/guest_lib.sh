# Helpers for the scripts that run inside the guest (sourced from /test/guest_lib.sh; busybox sh).
# step announces where the script is (guest.py reports the last one on a timeout).
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; echo "FAIL: $*" >&2; exit 1; }
# wait_for SECONDS CMD...: polls CMD every 0.1 s.
wait_for() {
  _t=$(($1 * 10)); shift
  while [ "$_t" -gt 0 ]; do "$@" 2>/dev/null && return 0; sleep 0.1; _t=$((_t - 1)); done
  return 1
}
# A disk passed with guest.py --disk NAME=IMAGE.
disk() { [ -b "/dev/disk/$1" ] || fail "no disk named $1"; readlink -f "/dev/disk/$1"; }
