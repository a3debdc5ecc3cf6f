# In the guest: one RAID1 (internal bitmap) passed back and forth between meshraid and Linux MD,
# with writes at every step; after each step the bytes equal a model (the same writes applied
# to a plain file) and MD's check finds no mismatch:
#   meshraid create + run (kernel nbd client) writes gen 1 -> MD assembles, reads, writes gen 2,
#   checks -> meshraid runs it (no resync: MD stopped it clean), reads, writes gen 3 ->
#   MD assembles, reads, checks -> meshraid cat reads the same.
set -euo pipefail
. /test/guest_lib.sh
. /test/md_lib.sh
modprobe nbd nbds_max=2
modprobe raid1
a=$(disk r0)
b=$(disk r1)
src=$(disk src)
stream=$1  # bytes per pattern generation on the src disk
model=/tmp/model.img

# put DEV GEN FROM COUNT: pattern generation GEN for sectors [FROM, FROM+COUNT) onto DEV and the model.
put() {
  local d
  for d in "$1" "$model"; do
    dd if="$src" of="$d" bs=1M skip=$(( ($2 - 1) * stream + $3 * 512 )) seek=$(($3 * 512)) count=$(($4 * 512)) \
       iflag=skip_bytes,count_bytes,fullblock oflag=seek_bytes status=none conv=notrunc,fsync
  done
}
same() {  # same DEV WHAT
  local got want
  got=$(head -c "$bytes" "$1" | sha256sum | cut -d' ' -f1)
  want=$(sha256sum <"$model" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "$2: $1 reads sha256 $got, the model $want"
  echo "   $2: sha256 ${got:0:16} as the model"
}
serve() {
  meshraid run --export="nbd+unix:///rt?socket=/run/rt.sock" "$a" "$b" >>/out/run.log 2>&1 &
  run=$!
  wait_for 30 test -S /run/rt.sock || { cat /out/run.log; fail "meshraid run did not start"; }
  nbd-client -unix /run/rt.sock /dev/nbd0 -N rt -b 4096 >/dev/null
}
unserve() {
  nbd-client -d /dev/nbd0 >/dev/null
  kill -TERM "$run"
  wait "$run" || { cat /out/run.log; fail "meshraid run did not stop cleanly"; }
  rm -f /run/rt.sock
}

step "meshraid create, run, write gen 1 through the kernel nbd client"
meshraid create --level=1 --raid-devices=2 --bitmap=internal --name=rt "$a" "$b" | tee /out/create.txt
serve
bytes=$(blockdev --getsize64 /dev/nbd0)
s=$((bytes / 512))
truncate -s "$bytes" "$model"
put /dev/nbd0 1 0 "$s"
same /dev/nbd0 "meshraid, gen 1"
unserve
grep -E "resync" /out/run.log || true

step "Linux MD assembles it, reads, writes gen 2, checks"
mdadm --assemble /dev/md0 "$a" "$b" 2>&1 | tee -a /out/md.log
wait_idle
[ "$(md degraded)" = 0 ] || fail "MD assembled it degraded"
same /dev/md0 "MD, after meshraid"
put /dev/md0 2 $((s / 4)) $((s / 8))
same /dev/md0 "MD, gen 2"
md_check "MD after gen 2"
mdadm --stop /dev/md0

step "meshraid runs it again: no resync, reads, writes gen 3"
: >/out/run.log
serve
same /dev/nbd0 "meshraid, after MD"
put /dev/nbd0 3 $((s / 2)) $((s / 3))
same /dev/nbd0 "meshraid, gen 3"
unserve
if grep -E "started at sector|recovery of" /out/run.log; then fail "meshraid resynced an array MD stopped clean"; fi

step "Linux MD again: reads, checks"
mdadm --assemble /dev/md0 "$a" "$b" 2>&1 | tee -a /out/md.log
wait_idle
same /dev/md0 "MD, after meshraid again"
md_check "MD, final"
mdadm --stop /dev/md0
step "meshraid cat"
got=$(meshraid cat "$a" "$b" | sha256sum | cut -d' ' -f1)
[ "$got" = "$(sha256sum <"$model" | cut -d' ' -f1)" ] || fail "meshraid cat differs from the model"
echo "roundtrip: every step agreed"
