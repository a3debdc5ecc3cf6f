#!/usr/bin/env bash
# A RAID1 of a local file and a remote member (another process's `meshraid serve-member`, over
# NBD): data written through the array lands on both; the remote member is killed (SIGKILL)
# while a client reads the whole array: no read fails at the client, the member is failed and
# the local superblock records it.
set -euo pipefail
: "${MESHRAID:?}" "${WORK:?}"
for tool in nbdcopy; do command -v $tool >/dev/null || { echo "FAIL: $tool missing (scripts/setup)"; exit 1; }; done
rm -rf "$WORK"; mkdir -p "$WORK"
cleanup() { set +e; [ -n "${rp:-}" ] && kill -9 "$rp" 2>/dev/null; [ -n "${sp:-}" ] && kill -9 "$sp" 2>/dev/null; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$WORK/run.log" ] && cat "$WORK/run.log"; exit 1; }

truncate -s 256M "$WORK/local.img" "$WORK/remote.img"
"$MESHRAID" create --level=1 --raid-devices=2 --assume-clean "$WORK/local.img" "$WORK/remote.img" >/dev/null
"$MESHRAID" serve-member --socket="$WORK/remote.sock" "$WORK/remote.img" 2>"$WORK/serve.log" &
sp=$!
for _ in $(seq 50); do [ -S "$WORK/remote.sock" ] && break; sleep 0.1; done
uri="nbd+unix:///vol?socket=$WORK/array.sock"
"$MESHRAID" run --export="$uri" "$WORK/local.img" "nbd+unix:///remote.img?socket=$WORK/remote.sock" \
  2>"$WORK/run.log" &
rp=$!
for _ in $(seq 50); do [ -S "$WORK/array.sock" ] && break; sleep 0.1; done
[ -S "$WORK/array.sock" ] || fail "meshraid run did not start"

head -c 200M /dev/urandom >"$WORK/data"
nbdcopy "$WORK/data" "$uri" || fail "write through the array"
# Both members hold the data (data offset 1 MiB).
cmp -n $((200 << 20)) "$WORK/data" <(tail -c +$((1048576 + 1)) "$WORK/remote.img") || fail "remote member lacks the data"
cmp -n $((200 << 20)) "$WORK/data" <(tail -c +$((1048576 + 1)) "$WORK/local.img") || fail "local member lacks the data"

# Read everything back, several times, killing the remote member during the first pass.
( sleep 0.3; kill -9 "$sp" ) &
killer=$!
for pass in 1 2 3; do
  nbdcopy --synchronous "$uri" "$WORK/back" || fail "a read failed at the client (pass $pass)"
  cmp -n $((200 << 20)) "$WORK/data" "$WORK/back" || fail "data differs (pass $pass)"
done
wait "$killer"
wait "$sp" 2>/dev/null || true
sp=""
grep -q "member nbd+unix:///remote.img.* failed" "$WORK/run.log" || fail "the remote member was not failed"
kill -TERM "$rp"; wait "$rp" || fail "meshraid run did not stop cleanly"; rp=""
"$MESHRAID" examine --json "$WORK/local.img" | python3 -c '
import json, sys
sb = json.load(sys.stdin)[0]["superblock"]
assert any(r["role"] == "faulty" for r in sb["dev_roles"]), sb["dev_roles"]
print("local superblock: events", sb["events"], "roles", sb["dev_roles"])
' || fail "the local superblock does not record the failure"
echo "1 passed, 0 failed"
