#!/usr/bin/env bash
# RAID1 -> RAID10 takeover of stopped arrays (meshraid grow --level=10 MEMBER...): on a 2-way and
# a 3-way RAID1 holding data, only the superblock and the bitmap header change (every other byte
# of every member hashes the same), the array reads the same, mdadm --examine reports raid10
# near=N with the chunk and a correct checksum; and back (--level=1). The bytes written are
# counted with strace and are the same for a 1 GiB and a 64 GiB (sparse) array. Each
# precondition that can be built from the CLI is refused with its message, touching nothing.
set -euo pipefail
: "${MESHRAID:?}" "${WORK:?}"
for t in mdadm strace python3; do command -v $t >/dev/null || { echo "FAIL: $t missing (scripts/setup)"; exit 1; }; done
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
fail() { echo "FAIL: $*"; exit 1; }

# sha256 of a member without its superblock (4 KiB at 4096) and bitmap header (at 8192).
body_hash() {
  python3 - "$1" <<'PY'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], 'rb') as f:
    data = f.read()
h.update(data[:4096]); h.update(data[8192 + 256:])
print(h.hexdigest())
PY
}
fill() {  # fill ARRAY_MEMBERS... : write a pattern through the array (offline writer: run + nbd)
  local sock="$WORK/fill.sock"
  "$MESHRAID" run --export="nbd+unix:///v?socket=$sock" "$@" 2>"$WORK/fill.log" &
  local rp=$!
  for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
  head -c 48M /dev/urandom > "$WORK/pattern"
  nbdcopy "$WORK/pattern" "nbd+unix:///v?socket=$sock" || fail "nbdcopy into the array"
  kill -TERM $rp; wait $rp || fail "run did not stop cleanly"
}
examine() { mdadm --examine "$1" 2>&1; }

for n in 2 3; do
  d="$WORK/r$n"; mkdir -p "$d"; members=()
  for i in $(seq $n); do truncate -s 256M "$d/m$i"; members+=("$d/m$i"); done
  "$MESHRAID" create --level=1 --raid-devices=$n --assume-clean --bitmap=internal "${members[@]}" >/dev/null
  fill "${members[@]}"
  before_cat=$("$MESHRAID" cat "${members[@]}" | sha256sum)
  before=(); for m in "${members[@]}"; do before+=("$(body_hash "$m")"); done
  out=$("$MESHRAID" grow --level=10 "${members[@]}") || fail "grow $n-way: $out"
  echo "$out"
  for k in "${!members[@]}"; do
    m=${members[$k]}
    [ "$(body_hash "$m")" = "${before[$k]}" ] || fail "$m: bytes outside the superblock changed"
    e=$(examine "$m")
    grep -q "Raid Level : raid10" <<<"$e" || fail "$m: mdadm does not see raid10: $e"
    grep -q "Layout : near=$n" <<<"$e" || fail "$m: layout is not near=$n"
    grep -q "Chunk Size : 512K" <<<"$e" || fail "$m: chunk is not 512K"
    grep -q "Checksum : .* - correct" <<<"$e" || fail "$m: checksum not correct"
  done
  [ "$("$MESHRAID" cat "${members[@]}" | sha256sum)" = "$before_cat" ] || fail "$n-way: array contents changed"
  # The array runs as raid10 and reads the same (through NBD).
  "$MESHRAID" run --export="nbd+unix:///v?socket=$d/s" "${members[@]}" 2>"$d/run.log" &
  rp=$!
  for _ in $(seq 50); do [ -S "$d/s" ] && break; sleep 0.1; done
  grep -q "assembled raid10" "$d/run.log" || fail "did not assemble as raid10: $(cat "$d/run.log")"
  nbdcopy "nbd+unix:///v?socket=$d/s" "$d/read" || fail "read back through NBD"
  cmp -n $((48 << 20)) "$d/read" "$WORK/pattern" || fail "$n-way: data read as raid10 differs"
  kill -TERM $rp; wait $rp || fail "run did not stop cleanly"
  "$MESHRAID" grow --level=1 "${members[@]}" >/dev/null || fail "reverse takeover"
  e=$(examine "${members[0]}")
  grep -q "Raid Level : raid1" <<<"$e" || fail "reverse: not raid1"
  [ "$("$MESHRAID" cat "${members[@]}" | sha256sum)" = "$before_cat" ] || fail "reverse: contents changed"
  echo "ok: $n-way raid1 -> raid10 -> raid1, data and member bytes unchanged"
done

# Cost does not grow with size: bytes written by the takeover (counted by strace).
written() {  # written MEMBERS... -> total bytes passed to write system calls on the members
  # LeakSanitizer cannot run under ptrace: off for this one run of a sanitizer build.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -e trace=pwrite64,pwritev,pwritev2,write -o "$WORK/strace.txt" "$MESHRAID" grow --level=10 "$@" >/dev/null \
    || fail "grow under strace"
  grep -E "^[0-9]+ +p?write(64|v|v2)?\([3-9]" "$WORK/strace.txt" | sed -E 's/.*= ([0-9]+)$/\1/' \
    | awk '{s+=$1} END {print s+0}'
}
declare -A cost
for size in 1G 64G; do
  d="$WORK/size$size"; mkdir -p "$d"
  truncate -s $size "$d/a" "$d/b"
  "$MESHRAID" create --level=1 --raid-devices=2 --assume-clean --bitmap=internal "$d/a" "$d/b" >/dev/null
  cost[$size]=$(written "$d/a" "$d/b")
  echo "takeover of a $size array: ${cost[$size]} bytes written in total"
done
[ "${cost[1G]}" -gt 0 ] && [ "${cost[1G]}" = "${cost[64G]}" ] || fail "takeover cost differs: ${cost[1G]} vs ${cost[64G]}"
[ "${cost[1G]}" -le $((2 * 8192)) ] || fail "takeover wrote ${cost[1G]} bytes for 2 members (more than metadata)"

# Refusals, each leaving every member untouched.
refused() {  # [CHUNK=SIZE] refused "MESSAGE" MEMBERS...
  local want=$1; shift
  local sums; sums=$(sha256sum "$@")
  local out
  if out=$("$MESHRAID" grow --level=10 ${CHUNK:+--chunk=$CHUNK} "$@" 2>&1); then fail "takeover was not refused ($want)"; fi
  grep -qF "$want" <<<"$out" || fail "expected '$want', got: $out"
  [ "$(sha256sum "$@")" = "$sums" ] || fail "a refused takeover changed a member ($want)"
  echo "refused: $out"
}
d="$WORK/pre"; mkdir -p "$d"; truncate -s 128M "$d/a" "$d/b" "$d/c"
"$MESHRAID" create --level=1 --raid-devices=3 --assume-clean "$d/a" "$d/b" "$d/c" >/dev/null
refused "raid1->raid10 takeover refused: the array is degraded (1 of 3 slots missing)" "$d/a" "$d/b"
CHUNK=8M refused "raid1->raid10 takeover refused: member size" "$d/a" "$d/b" "$d/c"
d2="$WORK/dirty"; mkdir -p "$d2"; truncate -s 128M "$d2/a" "$d2/b"
"$MESHRAID" create --level=1 --raid-devices=2 "$d2/a" "$d2/b" >/dev/null  # never synced
refused "raid1->raid10 takeover refused: resync is not complete (resync_offset 0)" "$d2/a" "$d2/b"
# A running array holds its members: the offline takeover refuses to touch them.
"$MESHRAID" run --export="nbd+unix:///v?socket=$d/s" "$d/a" "$d/b" "$d/c" 2>"$d/run.log" &
rp=$!
for _ in $(seq 50); do [ -S "$d/s" ] && break; sleep 0.1; done
out=$("$MESHRAID" grow --level=10 "$d/a" "$d/b" "$d/c" 2>&1) && fail "grow of a running array's members succeeded"
grep -q "in use" <<<"$out" || fail "expected 'in use', got: $out"
echo "refused: $out"
kill -TERM $rp; wait $rp || fail "run did not stop cleanly"
echo "PASS"
