#!/usr/bin/env bash
# Kernel test of the harness itself: a guest script's exit status, stdout, stderr and the files
# it writes come back; a failure shows the guest's kernel log; a script that hangs is killed at
# the timeout and the runner names the last step it reached; a guest that cannot boot is a
# failure with a message, not a pass or a skip.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${MESHRAID:?}" "${WORK:?}"
rm -rf "$WORK"; mkdir -p "$WORK"
fail() { echo "FAIL: $*"; exit 1; }
g() { python3 "$here/guest.py" "$@"; }

g --run-dir "$WORK/exit" --timeout 300 "$here/guest/harness_fail.sh" 3 >"$WORK/exit.txt" 2>&1
rc=$?
cat "$WORK/exit.txt"
[ "$rc" = 3 ] || fail "exit status $rc, want the script's 3"
grep -q "^== the last step before the end" "$WORK/exit.txt" || fail "the script's stdout is not shown"
grep -q "^to stderr" "$WORK/exit.txt" || fail "the script's stderr is not shown"
grep -q "guest kernel log" "$WORK/exit.txt" || fail "a failure does not show the kernel log"
grep -q "harness-test: a line for the kernel log" "$WORK/exit.txt" || fail "the kernel log shown is not the guest's"
grep -q "from the guest: 6.12" "$WORK/exit/out/file.txt" || fail "the file the script wrote did not come back"

g --run-dir "$WORK/hang" --timeout 40 "$here/guest/harness_fail.sh" hang >"$WORK/hang.txt" 2>&1
rc=$?
tail -5 "$WORK/hang.txt"
[ "$rc" = 124 ] || fail "a hanging script ended with status $rc, want 124"
grep -q "timed out after 40 s; it was at: == the last step before the end" "$WORK/hang.txt" \
  || fail "the timeout does not name the last step"

# A guest that cannot boot: no init to run (the kernel panics), and no kernel at all.
g --run-dir "$WORK/panic" --timeout 120 --append "rdinit=/no-such-init" "$here/guest/harness_fail.sh" 0 \
  >"$WORK/panic.txt" 2>&1
rc=$?
tail -4 "$WORK/panic.txt"
[ "$rc" = 125 ] || fail "a guest whose kernel panics ended with status $rc, want 125"
grep -q "Kernel panic" "$WORK/panic.txt" || fail "the panic is not in the kernel log shown"
: >"$WORK/empty-vmlinuz"
g --run-dir "$WORK/nokernel" --timeout 60 --kernel "$WORK/empty-vmlinuz" "$here/guest/harness_fail.sh" 0 \
  >"$WORK/nokernel.txt" 2>&1
rc=$?
tail -3 "$WORK/nokernel.txt"
[ "$rc" = 125 ] || fail "a guest without a kernel ended with status $rc, want 125"
grep -q "could not load kernel" "$WORK/nokernel.txt" || fail "qemu's complaint is not shown"
echo "harness_test: exit status, output, files, kernel log, timeout, a panic and a missing kernel all reported"
