# In the guest: Linux MD creates and writes arrays for meshraid to read (md_writes_test.py).
# For each line of cases.txt (name|level|layout|chunk_kib|bitmap|ndev|kind|places|gen1|gen2|bytes):
# map the members from the bundle disk, mdadm --create (MD's own initial resync runs to the end),
# write pattern generation 1 over the whole array and generation 2 over a part, taken from the
# "src" disk where the host put both streams at byte offsets gen1 and gen2. Kinds:
#   plain    gen 2 over sectors [S/4, S/4 + S/8)
#   readd    RAID1 with a bitmap: a member failed and removed, gen 2 written, --re-add
#            (a bitmap-guided recovery), then a check
#   reshape  RAID10 near created on 2 of the members, gen 1, the other 2 added as spares,
#            mdadm --grow --raid-devices=ndev; gen 2 over the new space
# Then a check (mismatch_cnt 0), the sha256 MD reads, and the records golden cases keep
# (mdadm --detail, --examine, -X, /proc/mdstat, sysfs) in /out/NAME; stop.
set -euo pipefail
. /test/guest_lib.sh
. /test/md_lib.sh
modprobe loop
modprobe raid1
modprobe raid10
bundle=$(disk bundle)
src=$(disk src)
MIB=1048576

log() { echo "\$ $*" >>"$rec/transcript.txt"; "$@" >>"$rec/transcript.txt" 2>&1; }
# put GEN FROM_SECTOR COUNT: pattern generation GEN for array sectors [FROM, FROM+COUNT).
put() {
  local off=$gen1
  [ "$1" = 2 ] && off=$gen2
  echo "$1 $2 $3" >>"$rec/writes.txt"
  echo "\$ pattern_write gen=$1 start=$2 count=$3" >>"$rec/transcript.txt"
  dd if="$src" of=/dev/md0 bs=1M skip=$((off + $2 * 512)) seek=$(($2 * 512)) count=$(($3 * 512)) \
     iflag=skip_bytes,count_bytes,fullblock oflag=seek_bytes,direct status=none conv=notrunc
}
sectors() { echo $(( $(blockdev --getsize64 /dev/md0) / 512 )); }
record() {  # record STATE
  cat /proc/mdstat >"$rec/$1.mdstat"
  mdadm --detail /dev/md0 >"$rec/$1.detail"
  mdadm --detail --export /dev/md0 >"$rec/$1.detail-export"
  : >"$rec/$1.sysfs"
  local f
  for f in level layout chunk_size raid_disks component_size array_size array_state metadata_version \
           resync_start degraded sync_action mismatch_cnt consistency_policy uuid reshape_position \
           bitmap/location bitmap/chunksize bitmap/metadata bitmap/time_base; do
    [ -e "/sys/block/md0/md/$f" ] && echo "$f=$(cat "/sys/block/md0/md/$f")" >>"$rec/$1.sysfs"
  done
  for d in /sys/block/md0/md/dev-*; do
    for f in slot offset new_offset size state errors recovery_start; do
      echo "${d##*/}/$f=$(cat "$d/$f")" >>"$rec/$1.sysfs"
    done
  done
}

while IFS='|' read -r name level layout chunk bitmap ndev kind places gen1 gen2 bytes; do
  step "$name: mdadm --create (level $level ${layout/-/} x$ndev, bitmap $bitmap, $kind)"
  rec=/out/$name
  mkdir -p "$rec"
  map_members "$bundle" "$places"
  geo=(--level="$level" --bitmap="$bitmap")
  [ "$level" = 10 ] && geo+=(--layout="$layout" --chunk="$chunk")
  first=("${LOOPS[@]}")
  [ "$kind" = reshape ] && first=("${LOOPS[0]}" "${LOOPS[1]}")
  log mdadm --create /dev/md0 --metadata=1.2 --run --homehost=guest --name="$name" "${geo[@]}" \
    --raid-devices="${#first[@]}" "${first[@]}" || { cat "$rec/transcript.txt"; fail "$name: mdadm --create failed"; }
  wait_idle
  record created
  s=$(sectors)
  put 1 0 "$s"
  case $kind in
    plain)
      put 2 $((s / 4)) $((s / 8));;
    readd)
      log mdadm /dev/md0 --fail "${LOOPS[1]}"
      log mdadm /dev/md0 --remove "${LOOPS[1]}"
      put 2 $((s / 4)) $((s / 8))
      sync
      log mdadm /dev/md0 --re-add "${LOOPS[1]}" || fail "$name: --re-add refused"
      wait_idle
      [ "$(md degraded)" = 0 ] || fail "$name: still degraded after the re-add";;
    reshape)
      log mdadm /dev/md0 --add "${LOOPS[2]}" "${LOOPS[3]}"
      log mdadm --grow /dev/md0 --raid-devices="$ndev" || { cat "$rec/transcript.txt"; fail "$name: mdadm --grow failed"; }
      sleep 1
      wait_idle
      grown=$(sectors)
      [ "$grown" -gt "$s" ] || fail "$name: the array did not grow ($s -> $grown sectors)"
      put 2 "$s" $((grown - s))
      s=$grown;;
  esac
  [ $((s * 512)) -le "$bytes" ] || fail "$name: the array ($s sectors) is larger than the pattern streams"
  sync
  md_check "$name"
  [ "$(md last_sync_action)" = check ] || fail "$name: the check did not run"
  echo "final sha256 $(md_sha256 $((s * 512))) sectors $s" >"$rec/sha256.txt"
  record final
  log mdadm --stop /dev/md0
  i=0
  for l in "${LOOPS[@]}"; do
    i=$((i + 1))
    mdadm --examine "$l" >"$rec/final.examine.$i" 2>&1 || true
    mdadm --examine --export "$l" >"$rec/final.examine-export.$i" 2>&1 || true
    if [ "$bitmap" = internal ]; then mdadm -X "$l" >"$rec/final.xbitmap.$i" 2>&1 || true; fi
    echo "member$i ${l#/dev/}" >>"$rec/final.devices"
  done
  unmap_members
  echo "ok $name: $(cat "$rec/sha256.txt"), check: mismatch_cnt 0"
done </test/cases.txt
echo "md_create: all cases passed"
