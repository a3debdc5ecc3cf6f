# Shared start of the CLI tests (sourced; not a test itself: only *_test.sh are registered).
# cli_begin TOOL...: checks the environment ctest sets (MESHRAID, WORK), that each TOOL is
# installed, then makes WORK empty and the current directory (fio drops state files there) and
# exports MESHRAID_RUN_DIR (default WORK/run).
cli_begin() {
  : "${MESHRAID:?set MESHRAID to the meshraid binary}"
  : "${WORK:?set WORK to a scratch directory}"
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (scripts/setup installs it)"; exit 1; }
  done
  rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
  export MESHRAID_RUN_DIR="${MESHRAID_RUN_DIR:-$WORK/run}"
}

# --- nbdfuse + loop stacks ---------------------------------------------------------------------
# A served volume is used through `nbdfuse FUSEDIR URI` (the file FUSEDIR/nbd), a loop device on
# that file and a filesystem on the loop device. `losetup -d` only asks for the detach: the
# kernel lets go of the backing file when the last user of the loop device is gone, which can
# be a while later, so an immediate `fusermount3 -u` fails with EBUSY, and a server stopped
# after that is stopped under a live nbdfuse. nbdfuse_teardown waits, bounded, for each layer
# to let go before it takes the next one down, and says what still held it when a step fails.

# _nbdfuse_file FUSEDIR: the canonical path of FUSEDIR/nbd, as a loop device's backing_file
# shows it. Only the mount point's parent is resolved: nothing inside the FUSE mount is stat'ed.
_nbdfuse_file() {
  local parent
  parent=$(realpath -m -- "$(dirname -- "$1")")
  echo "${parent%/}/$(basename -- "$1")/nbd"
}

# nbdfuse_loops_of FUSEDIR: the loop devices whose backing file is FUSEDIR/nbd, one per line
# (read from sysfs; `losetup -j` would stat the FUSE file).
nbdfuse_loops_of() {
  local want b
  want=$(_nbdfuse_file "$1")
  for b in /sys/block/loop*/loop/backing_file; do
    [ -r "$b" ] && [ "$(cat "$b" 2>/dev/null)" = "$want" ] || continue
    b=${b#/sys/block/}
    echo "/dev/${b%%/*}"
  done
}

# is_mounted DIR: DIR is a mount point (read from mountinfo: `mountpoint` stats DIR, which
# fails on a FUSE mount whose daemon is gone, ENOTCONN, or on a shut-down XFS, EIO).
is_mounted() {
  local parent
  parent=$(realpath -m -- "$(dirname -- "$1")")
  awk -v m="${parent%/}/$(basename -- "$1")" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

_nbdfuse_no_loops() { [ -z "$(nbdfuse_loops_of "$1")" ]; }

_nbdfuse_exited() {  # PID: gone, or a zombie waiting for its parent
  [ ! -e "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]
}

# _nbdfuse_retry SECONDS WHAT CMD...: runs CMD every 0.2 s until it succeeds; after SECONDS
# prints "teardown: WHAT failed ..." with CMD's last error and returns 1.
_nbdfuse_retry() {
  local t=$1 what=$2 err i; shift 2
  for ((i = 0; ; i++)); do
    err=$("$@" 2>&1) && return 0
    if ((i >= t * 5)); then
      echo "teardown: $what failed for $t s: $err"
      return 1
    fi
    sleep 0.2
  done
}

# nbdfuse_holders FUSEDIR|MNT...: what still holds each path, for a failure message: the loop
# devices backed by its nbd file and the processes that have one of them open, `fuser -vm`
# (psmisc) and every process with a descriptor under the path (a /proc scan: readlink never
# touches the FUSE file itself).
nbdfuse_holders() {
  local p l fd target pid loops
  for p in "$@"; do
    echo "   what holds $p:"
    loops=$(nbdfuse_loops_of "$p" | tr "\n" " ")
    for l in $loops; do
      echo "     loop device still attached: $(losetup -l --noheadings "$l" 2>&1)"
    done
    if command -v fuser >/dev/null; then
      timeout 5 fuser -vm "$p" 2>&1 | grep -v 'Cannot stat file /proc/' | sed 's/^/     fuser: /'
    fi
    for fd in /proc/[0-9]*/fd/*; do
      target=$(readlink "$fd" 2>/dev/null) || continue
      case " $loops " in *" $target "*) ;; *)
        case $target in "$p" | "$p"/*) ;; *) continue ;; esac ;;
      esac
      pid=${fd#/proc/}
      pid=${pid%%/*}
      echo "     pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)) has $target open"
    done
  done
  return 0
}

# nbdfuse_teardown MNT LOOP FUSEDIR [NBDFUSE_PID]: takes an nbdfuse + loop (+ filesystem) stack
# down in order, each step bounded: umount MNT if mounted (retried for 10 s); `losetup -d` of
# LOOP and of any other loop device on FUSEDIR/nbd; wait up to 20 s (NBDFUSE_LOOP_WAIT_S) until
# sysfs shows no loop device backed by FUSEDIR/nbd; `fusermount3 -u FUSEDIR` if mounted (retried
# for 10 s, NBDFUSE_RETRY_S, as is the umount); wait up to 10 s for NBDFUSE_PID to exit (and
# reap it if it is our child: an nbdfuse that died from a signal or an assertion fails the
# teardown). MNT and LOOP may be "". On failure prints
# "teardown: ..." with what held the layer that did not let go and returns 1 without trying
# the later steps, so that the caller does not stop the NBD server under a mounted nbdfuse.
nbdfuse_teardown() {
  local mnt=$1 loop=$2 fusedir=$3 nbdpid=${4:-} l rc
  local loop_wait=${NBDFUSE_LOOP_WAIT_S:-20} retry=${NBDFUSE_RETRY_S:-10}
  if [ -n "$mnt" ] && is_mounted "$mnt"; then
    _nbdfuse_retry "$retry" "umount $mnt" umount "$mnt" || { nbdfuse_holders "$mnt"; return 1; }
  fi
  for l in $loop $(nbdfuse_loops_of "$fusedir"); do
    if [ -r "/sys/block/${l#/dev/}/loop/backing_file" ]; then losetup -d "$l" 2>/dev/null || true; fi
  done
  if ! _nbdfuse_no_loops "$fusedir"; then
    local t0=$SECONDS
    if ! _nbdfuse_wait "$loop_wait" _nbdfuse_no_loops "$fusedir"; then
      echo "teardown: a loop device still holds $fusedir/nbd $loop_wait s after losetup -d"
      nbdfuse_holders "$fusedir"
      return 1
    fi
    echo "teardown: the loop device let go of $fusedir/nbd about $((SECONDS - t0)) s after losetup -d"
  fi
  if is_mounted "$fusedir"; then
    _nbdfuse_retry "$retry" "fusermount3 -u $fusedir" fusermount3 -u "$fusedir" ||
      { nbdfuse_holders "$fusedir"; return 1; }
  fi
  if [ -n "$nbdpid" ]; then
    if ! _nbdfuse_wait 10 _nbdfuse_exited "$nbdpid"; then
      echo "teardown: nbdfuse (pid $nbdpid) still runs 10 s after its unmount"
      return 1
    fi
    rc=0
    wait "$nbdpid" 2>/dev/null || rc=$?
    # 127: not our child (its status is not ours to read).
    if [ "$rc" != 0 ] && [ "$rc" != 127 ]; then
      echo "teardown: nbdfuse (pid $nbdpid) exited with status $rc"
      return 1
    fi
  fi
  return 0
}

# _nbdfuse_wait SECONDS CMD...: polls CMD every 0.1 s until it succeeds; false after SECONDS.
_nbdfuse_wait() {
  local t=$1 i; shift
  for ((i = 0; i < t * 10; i++)); do "$@" 2>/dev/null && return 0; sleep 0.1; done
  "$@" 2>/dev/null
}
