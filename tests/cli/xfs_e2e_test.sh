#!/usr/bin/env bash
# End to end, as root: meshraid create -> meshraid run -> nbdfuse + losetup + mkfs.xfs + mount ->
# write files with known sha256 -> one member fails for real while files are being written (the
# filesystem holding its file is shut down with xfs_io) -> every file still verifies -> stop ->
# examine shows the failed member and higher events -> run again degraded -> files verify.
# Runs for RAID1 (2 members) and RAID10 near=2 (4 members). Needs root, /dev/fuse and loop devices.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root"; exit 1; }
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }
cli_begin nbdfuse mkfs.xfs xfs_io losetup mount fusermount3

pid="" fusepid="" loop=""
# Leaves nothing behind after a failure: each nbdfuse stack is taken down as stop_and_unmount
# does (bounded waits, in order); one that will not let go is reported and detached lazily, so
# that the server is not stopped under a FUSE mount that still has a loop device on it. Mount
# points are named from the case directories, not globbed: a glob stats them, which fails on a
# dead FUSE mount (ENOTCONN) or a shut-down XFS (EIO), and the mount would be left behind.
cleanup() {
  set +e
  local c d
  for c in "$WORK"/*/; do
    c=${c%/}; d=$c/fuse
    if is_mounted "$d" || [ -n "$(nbdfuse_loops_of "$d")" ]; then
      if ! nbdfuse_teardown "$c/mnt" "" "$d" "$fusepid"; then
        echo "cleanup: detaching $d lazily"
        is_mounted "$c/mnt" && umount -l "$c/mnt"
        fusermount3 -u -z "$d"
      fi
    fi
  done
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; wait "$pid"; fi
  for c in "$WORK"/*/; do
    is_mounted "${c%/}/badfs" && umount -l "${c%/}/badfs"
    for l in $(losetup -j "${c%/}/badfs.img" -O NAME --noheadings 2>/dev/null); do losetup -d "$l"; done
  done
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

wait_for() {  # wait_for SECONDS CMD...
  local t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# Serves the array in $dir in the background; sets $pid, mounts XFS at $dir/mnt.
start_and_mount() {  # start_and_mount DIR MKFS(0|1) MEMBERS...
  local dir=$1 mkfs=$2; shift 2
  "$MESHRAID" run --export="nbd+unix:///vol?socket=$dir/nbd.sock" "$@" >>"$dir/run.log" 2>&1 &
  pid=$!
  wait_for 10 test -S "$dir/nbd.sock" || { cat "$dir/run.log"; fail "meshraid run did not start"; }
  mkdir -p "$dir/fuse" "$dir/mnt"
  nbdfuse "$dir/fuse" "nbd+unix:///vol?socket=$dir/nbd.sock" &
  fusepid=$!
  wait_for 10 test -e "$dir/fuse/nbd" || fail "nbdfuse did not come up"
  loop=$(losetup -f --show "$dir/fuse/nbd")
  if [ "$mkfs" = 1 ]; then mkfs.xfs -q -f "$loop"; fi
  mount "$loop" "$dir/mnt"
}

# Takes the stack down in order (lib.sh nbdfuse_teardown: umount, losetup -d, wait until the
# loop device has let go of the FUSE file, fusermount3 -u, nbdfuse exits), then stops the server.
stop_and_unmount() {  # stop_and_unmount DIR
  local dir=$1
  nbdfuse_teardown "$dir/mnt" "$loop" "$dir/fuse" "$fusepid" || fail "teardown of $dir (see above)"
  loop="" fusepid=""
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 0 ] || { cat "$dir/run.log"; fail "meshraid run exited $rc after SIGTERM"; }
  grep -q "stopped cleanly" "$dir/run.log" || fail "no clean stop in the log"
}

write_files() {  # write_files DIR FIRST LAST
  local dir=$1
  for i in $(seq "$2" "$3"); do
    head -c $((1024 * 1024 + i * 4096)) /dev/urandom >"$dir/src.$i"
    cp "$dir/src.$i" "$dir/mnt/file.$i"
    sha256sum <"$dir/src.$i" | cut -d' ' -f1 >"$dir/sum.$i"
    rm -f "$dir/src.$i"
  done
}

verify_files() {  # verify_files DIR LAST
  local dir=$1 bad=0
  echo 3 >/proc/sys/vm/drop_caches
  for i in $(seq 1 "$2"); do
    got=$(sha256sum <"$dir/mnt/file.$i" | cut -d' ' -f1)
    [ "$got" = "$(cat "$dir/sum.$i")" ] || { echo "file.$i differs"; bad=1; }
  done
  [ "$bad" = 0 ] || fail "files do not verify"
}

run_case() {  # run_case NAME LEVEL COUNT [create args...]
  local name=$1 n=$3
  local dir="$WORK/$name"
  mkdir -p "$dir/badfs"
  echo "== $name"
  # The last member lives on its own small XFS, which is shut down to make the member fail.
  truncate -s 1G "$dir/badfs.img"
  mkfs.xfs -q -f "$dir/badfs.img"
  mount -o loop "$dir/badfs.img" "$dir/badfs"
  local members=()
  for i in $(seq 0 $((n - 2))); do truncate -s 400M "$dir/m$i.img"; members+=("$dir/m$i.img"); done
  truncate -s 400M "$dir/badfs/m$((n - 1)).img"
  members+=("$dir/badfs/m$((n - 1)).img")
  "$MESHRAID" create --assume-clean "${@:4}" --raid-devices="$n" "${members[@]}" >/dev/null

  start_and_mount "$dir" 1 "${members[@]}"
  # A second meshraid on the same members is refused (each member is locked exclusively).
  if "$MESHRAID" run --export="nbd+unix:///vol?socket=$dir/second.sock" "${members[@]}" 2>"$dir/second.err"; then
    fail "a second meshraid run on the same members was not refused"
  fi
  grep -q "in use" "$dir/second.err" || { cat "$dir/second.err"; fail "second run: no 'in use' message"; }
  write_files "$dir" 1 10
  sync
  # Break the member in the middle of more writes.
  write_files "$dir" 11 15
  xfs_io -x -c "shutdown" "$dir/badfs"
  write_files "$dir" 16 30
  sync
  verify_files "$dir" 30
  grep -q "member .*m$((n - 1)).img failed" "$dir/run.log" || { cat "$dir/run.log"; fail "member failure not logged"; }
  stop_and_unmount "$dir"

  # The survivors record the failure; the failed member is stale.
  local ex
  ex=$("$MESHRAID" examine --json "${members[0]}")
  python3 - "$ex" <<'PY' || fail "examine does not show the failed member"
import json, sys
e = json.loads(sys.argv[1])[0]
roles = e["superblock"]["dev_roles"]
assert any(r["role"] == "faulty" for r in roles), roles
assert int(e["superblock"]["events"]) > 1, e["superblock"]["events"]
print("survivor: events %s, roles %s" % (e["superblock"]["events"], roles))
PY
  umount "$dir/badfs"
  mount -o loop "$dir/badfs.img" "$dir/badfs"
  local ev_bad ev_good
  ev_bad=$("$MESHRAID" examine --json "${members[n - 1]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["superblock"]["events"])')
  ev_good=$("$MESHRAID" examine --json "${members[0]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["superblock"]["events"])')
  [ "$ev_bad" -lt "$ev_good" ] || fail "failed member events $ev_bad not below survivor's $ev_good"

  # Run again: degraded (the stale member is named and left out), files verify.
  start_and_mount "$dir" 0 "${members[@]}"
  grep -q "degraded" "$dir/run.log" || fail "restart did not report the array degraded"
  verify_files "$dir" 30
  stop_and_unmount "$dir"
  umount "$dir/badfs"
  echo "ok $name"
}

run_case raid1 1 2 --level=1
run_case raid10 10 4 --level=10 --layout=n2 --chunk=64K
echo "2 passed, 0 failed"
