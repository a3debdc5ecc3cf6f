# Linux MD helpers for the guest scripts (sourced after guest_lib.sh).
# map_members BUNDLE PLACES: one loop device per OFF:SIZE of PLACES (comma separated); sets LOOPS.
map_members() {
  LOOPS=()
  local p
  for p in ${2//,/ }; do
    LOOPS+=("$(losetup --find --show --offset "${p%%:*}" --sizelimit "${p##*:}" "$1")")
  done
}
unmap_members() { local l; for l in "${LOOPS[@]}"; do losetup -d "$l"; done; LOOPS=(); }
md() { cat "/sys/block/md0/md/$1"; }
# wait_idle: until MD's sync action (resync, recovery, reshape, check) is over.
wait_idle() {
  local n=0
  while [ "$(md sync_action)" != idle ] || [ "$(md reshape_position 2>/dev/null || echo none)" != none ]; do
    sleep 0.2; n=$((n + 1))
    [ $n -lt 3000 ] || fail "md0 still busy after 600 s: $(cat /proc/mdstat)"
  done
}
# md_check: a full check ends with mismatch_cnt 0.
md_check() {
  echo check >/sys/block/md0/md/sync_action
  sleep 0.2
  wait_idle
  [ "$(md mismatch_cnt)" = 0 ] || fail "$1: check found mismatch_cnt $(md mismatch_cnt)"
}
md_sha256() { head -c "$1" /dev/md0 | sha256sum | cut -d' ' -f1; }
