# In the guest: Linux MD assembles the arrays meshraid made and wrote (md_reads_ours_test.py).
# For each line of cases.txt: map the members from the bundle disk, mdadm --assemble, the
# degraded count is as expected, sha256 of /dev/md0 equals what meshraid served, a check ends
# with mismatch_cnt 0, stop.
set -euo pipefail
. /test/guest_lib.sh
. /test/md_lib.sh
modprobe loop
modprobe raid1
modprobe raid10
bundle=$(disk bundle)
while IFS='|' read -r name level layout chunk bitmap ndev bytes sha degraded places; do
  step "$name: mdadm --assemble ($ndev members, level $level ${layout/-/}, bitmap $bitmap)"
  map_members "$bundle" "$places"
  mkdir -p "/out/$name"
  mdadm --assemble --run /dev/md0 "${LOOPS[@]}" >"/out/$name/assemble.txt" 2>&1 \
    || { cat "/out/$name/assemble.txt"; fail "$name: mdadm --assemble failed"; }
  cat /proc/mdstat >"/out/$name/mdstat"
  mdadm --detail /dev/md0 >"/out/$name/detail"
  [ "$(md degraded)" = "$degraded" ] || { cat /proc/mdstat; fail "$name: degraded $(md degraded), want $degraded"; }
  [ "$(blockdev --getsize64 /dev/md0)" = "$bytes" ] || fail "$name: md0 is $(blockdev --getsize64 /dev/md0) bytes, want $bytes"
  got=$(md_sha256 "$bytes")
  [ "$got" = "$sha" ] || fail "$name: MD reads sha256 $got, meshraid served $sha"
  checked=""
  if [ "$degraded" = 0 ]; then md_check "$name"; checked=", check: mismatch_cnt 0"; fi
  mdadm --stop /dev/md0 >/dev/null
  unmap_members
  echo "ok $name: sha256 ${sha:0:16}, degraded $degraded$checked"
done </test/cases.txt
echo "md_assemble: all cases passed"
