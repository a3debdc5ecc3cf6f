#!/usr/bin/env bash
# `meshraid serve-member` against real NBD clients: nbdinfo (flags as advertised, LIST),
# nbdcopy round trips in both directions, qemu-img compare, fio's nbd engine with crc32c
# verification; then SIGTERM must drain and exit 0, removing the socket.
# Env: MESHRAID (the built binary), WORK (a scratch directory).
set -euo pipefail

: "${MESHRAID:?set MESHRAID to the meshraid binary}"
: "${WORK:?set WORK to a scratch directory}"

for tool in nbdinfo nbdcopy qemu-img fio python3 cmp; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool is not installed (scripts/setup should install it:" \
         "apt-get install nbdkit libnbd-bin qemu-utils fio python3)" >&2
    exit 1
  fi
done

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"  # fio and friends drop state files in the current directory
sock="$WORK/member.sock"
uri="nbd+unix:///?socket=$sock"
img="$WORK/member.img"
size=$((64 << 20))
truncate -s "$size" "$img"
server_pid=""

fail() { echo "FAIL: $*" >&2; [ -f "$WORK/server.log" ] && sed 's/^/  server: /' "$WORK/server.log" >&2; exit 1; }
cleanup() { if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi; }
trap cleanup EXIT

"$MESHRAID" serve-member --socket="$sock" --name=member --description="test member" "$img" \
  2>"$WORK/server.log" &
server_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "the server did not create $sock"

# --- nbdinfo --json: size and flags as advertised -------------------------------------------
nbdinfo --json "$uri" > "$WORK/info.json" || fail "nbdinfo --json"
python3 - "$WORK/info.json" "$size" <<'PY' || fail "nbdinfo --json reports unexpected values"
import json, sys
info = json.load(open(sys.argv[1]))
e = info["exports"][0]
want = {"export-size": int(sys.argv[2]), "is_read_only": False, "can_flush": True,
        "can_fua": True, "can_trim": True, "can_zero": True, "can_multi_conn": True,
        "can_cache": True, "can_df": True, "can_fast_zero": True,
        "block_size_minimum": 512, "block_size_preferred": 4096,
        "block_size_maximum": 32 << 20}
bad = {k: (e.get(k), v) for k, v in want.items() if e.get(k) != v}
assert info["protocol"] == "newstyle-fixed" and info["structured"], info
if bad:
    print("mismatch (got, want):", bad)
    sys.exit(1)
print("nbdinfo --json: size %d, flush/fua/trim/zero/multi-conn as advertised" % e["export-size"])
PY

# --- nbdinfo --list ---------------------------------------------------------------------------
nbdinfo --list "$uri" > "$WORK/list.txt" || fail "nbdinfo --list"
grep -q 'export="member"' "$WORK/list.txt" || fail "nbdinfo --list lacks the export"
grep -q 'description: test member' "$WORK/list.txt" || fail "nbdinfo --list lacks the description"
echo "nbdinfo --list: export and description listed"

# --- nbdcopy: file -> server -> file, byte-exact ----------------------------------------------
head -c "$size" /dev/urandom > "$WORK/src.img"
nbdcopy --flush "$WORK/src.img" "$uri" || fail "nbdcopy to the server"
cmp "$WORK/src.img" "$img" || fail "the member file differs from what nbdcopy wrote"
nbdcopy "$uri" "$WORK/back.img" || fail "nbdcopy from the server"
cmp "$WORK/src.img" "$WORK/back.img" || fail "nbdcopy read back different bytes"
nbdcopy -C 1 --synchronous "$uri" - | cmp - "$WORK/src.img" || fail "single-connection nbdcopy differs"
echo "nbdcopy: round trip byte-exact in both directions"

# --- qemu-img compare ---------------------------------------------------------------------
qemu-img compare -f raw -F raw "$WORK/src.img" "$uri" || fail "qemu-img compare found a difference"
qemu-img convert -n -f raw -O raw "$WORK/back.img" "$uri" || fail "qemu-img convert to the server"
echo "qemu-img: compare identical, convert -n accepted"

# --- fio, nbd engine, write then verify with crc32c ----------------------------------------
cat > "$WORK/verify.fio" <<FIO
[global]
ioengine=nbd
uri=$uri
size=16m
bs=4k
iodepth=32
serialize_overlap=1
randrepeat=0

[randwrite-verify]
rw=randwrite
verify=crc32c
do_verify=1
verify_fatal=1
verify_state_save=0
FIO
timeout 120 fio --output="$WORK/fio.out" "$WORK/verify.fio" || { cat "$WORK/fio.out" >&2; fail "fio"; }
grep -q "err= 0" "$WORK/fio.out" || { cat "$WORK/fio.out" >&2; fail "fio reported an error"; }
echo "fio: 16 MiB randwrite at iodepth 32 verified with crc32c"

# --- SIGTERM: drain, exit 0, remove the socket ---------------------------------------------
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" -eq 0 ] || fail "serve-member exited $rc after SIGTERM"
[ ! -e "$sock" ] || fail "the socket file was left behind"
grep -q "stopping" "$WORK/server.log" || fail "no shutdown line in the server log"
opened=$(grep -c " opened" "$WORK/server.log" || true)
closed=$(grep -c " closed (" "$WORK/server.log" || true)
[ "$opened" -eq "$closed" ] || fail "$opened connections opened but $closed closed"
echo "SIGTERM: exit 0, socket removed, $opened connections opened and closed"
echo "PASS"
