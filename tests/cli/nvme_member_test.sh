#!/usr/bin/env bash
# A RAID1 (internal bitmap) of a local file and an NVMe/TCP member: the other file served by
# another process's `meshraid serve-member --nvme`, reached as nvme+tcp://...?digest=header,data
# (our host against our target, header and data digests on). Data written through the array
# lands on both members; serve-member is killed (SIGKILL) while a client reads the whole array
# and another writes: no client sees an error, the member is failed in run's log and in
# `detail --json`, and the local superblock records it. After 2 MiB more are written while
# degraded, serve-member is started again on the same port and `manage --re-add URI` takes the
# member back: the recovery is bitmap-guided (only dirty chunks copied), the array is in sync,
# and `meshraid cat` of each member alone equals what was written.
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin fio nbdcopy python3 cmp
nqn="nqn.2026-01.io.meshraid.test:nvme-member"
uri="nbd+unix:///nvm?socket=$WORK/nvm.sock"
rp="" sp="" wp=""

cleanup() {
  set +e
  [ -n "$wp" ] && kill -9 "$wp" 2>/dev/null
  [ -n "$rp" ] && kill -9 "$rp" 2>/dev/null
  [ -n "$sp" ] && kill -9 "$sp" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$WORK/run.log" ] && sed 's/^/  run: /' "$WORK/run.log" | tail -40
  [ -f "$WORK/serve.log" ] && sed 's/^/  serve: /' "$WORK/serve.log" | tail -20
  exit 1
}
json() { "$MESHRAID" detail --json nvm >"$WORK/detail.json" && python3 -c "import json; d=json.load(open('$WORK/detail.json')); m={x['path']: x for x in d['members']}; print($1)"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# serve: serve-member --nvme on $port (the port stays the same across restarts).
serve() {
  local before
  before=$(grep -c "nvme: serving" "$WORK/serve.log" 2>/dev/null || true)
  "$MESHRAID" serve-member --nvme="127.0.0.1:$port/$nqn" --allow-any-host "$WORK/remote.img" \
    2>>"$WORK/serve.log" &
  sp=$!
  for _ in $(seq 100); do
    [ "$(grep -c "nvme: serving" "$WORK/serve.log" 2>/dev/null || true)" -gt "${before:-0}" ] && return 0
    kill -0 "$sp" 2>/dev/null || { wait "$sp" 2>/dev/null || true; sp=""; return 1; }
    sleep 0.1
  done
  fail "serve-member did not start"
}
write_at() {  # write_at OFFSET SIZE PATTERN: sequential 1 MiB writes of PATTERN, verified
  fio --name=w --ioengine=nbd --uri="$uri" --rw=write --bs=1m --offset="$1" --size="$2" \
    --verify=pattern --verify_pattern="$3" --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
    --output="$WORK/fio-$1.out" || { cat "$WORK/fio-$1.out"; return 1; }
}

truncate -s 256M "$WORK/local.img" "$WORK/remote.img"
for _ in 1 2 3; do
  port=$(free_port)
  serve && break
  port=""
done
[ -n "$port" ] || fail "serve-member could not bind a port"
remote="nvme+tcp://127.0.0.1:$port/$nqn?digest=header,data"
echo "serve-member --nvme on 127.0.0.1:$port; member $remote"

"$MESHRAID" create --level=1 --raid-devices=2 --bitmap=internal --assume-clean --name=nvm \
  "$WORK/local.img" "$remote" >/dev/null || fail "create over nvme+tcp"
"$MESHRAID" examine --json "$remote" >"$WORK/examine-remote.json" || fail "examine over nvme+tcp"
"$MESHRAID" run --export="$uri" "$WORK/local.img" "$remote" 2>"$WORK/run.log" &
rp=$!
for _ in $(seq 100); do
  if [ -S "$WORK/nvm.sock" ] && "$MESHRAID" stat nvm >/dev/null 2>&1; then break; fi
  kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
  sleep 0.1
done
[ "$(json 'm["'"$remote"'"]["state"]')" = in_sync ] || fail "the NVMe/TCP member is not in sync at start"
chunk=$(json 'd["bitmap"]["chunk_bytes"]')
echo "bitmap chunk $((chunk >> 20)) MiB"

# --- data through the array: on both members -------------------------------------------------
head -c 160M /dev/urandom >"$WORK/data"
nbdcopy "$WORK/data" "$uri" || fail "write through the array"
echo "160 MiB written through the array"
# Wait for the bitmap to clear those chunks (one to two daemon periods after the last write), so
# that what the member misses later is only what is written from now on.
for _ in $(seq 300); do
  [ "$(json 'd["bitmap"]["dirty_chunks"]')" = 0 ] && break
  sleep 0.1
done
[ "$(json 'd["bitmap"]["dirty_chunks"]')" = 0 ] || fail "the bitmap is still dirty 30 s after the writes"

# --- serve-member killed while a client reads everything and another writes ------------------
# The writer loops on [200m, 202m) (pattern 0x11111111) until the member is failed, once more
# after that; the reader copies the whole array out, three times.
(
  n=0
  while :; do
    write_at 200m 2m 0x11111111 >/dev/null || exit 1
    n=$((n + 1))
    if grep -q "member .* failed" "$WORK/run.log" 2>/dev/null; then
      write_at 200m 2m 0x11111111 >/dev/null || exit 1
      echo "writer: $((n + 1)) passes" >"$WORK/writer.txt"
      exit 0
    fi
    [ "$n" -lt 3000 ] || exit 2  # bound: the member was never failed
  done
) &
wp=$!
( sleep 0.5; kill -9 "$sp" ) &
killer=$!
for pass in 1 2 3; do
  nbdcopy --synchronous "$uri" "$WORK/back" || fail "a read failed at the client (pass $pass)"
  cmp -n $((160 << 20)) "$WORK/data" "$WORK/back" || fail "data read back differs (pass $pass)"
done
wait "$killer"
wait "$sp" 2>/dev/null || true
sp=""
for _ in $(seq 100); do
  grep -qF "member $remote failed" "$WORK/run.log" && break
  sleep 0.1
done
grep -qF "member $remote failed" "$WORK/run.log" || fail "the NVMe/TCP member was not failed in the log"
wait "$wp" || fail "a write failed at the client while the member died"
wp=""
cat "$WORK/writer.txt"
[ "$(json 'm["'"$remote"'"]["state"]')" = faulty ] || fail "detail --json does not show the member faulty"
"$MESHRAID" examine --json "$WORK/local.img" | python3 -c '
import json, sys
sb = json.load(sys.stdin)[0]["superblock"]
assert any(r["role"] == "faulty" for r in sb["dev_roles"]), sb["dev_roles"]
print("local superblock: events", sb["events"], "roles", sb["dev_roles"])
' || fail "the local superblock does not record the failure"

# --- degraded: 2 MiB more in another chunk ---------------------------------------------------
write_at 10m 2m 0x22222222 || fail "write while degraded"
dirty=$(json 'd["bitmap"]["dirty_chunks"]')
total=$(json '(d["dev_sectors"] * 512 + d["bitmap"]["chunk_bytes"] - 1) // d["bitmap"]["chunk_bytes"]')
echo "degraded: $dirty of $total bitmap chunks dirty"
[ "$dirty" -ge 2 ] || fail "expected at least 2 dirty chunks, the bitmap has $dirty"
[ "$dirty" -lt "$total" ] || fail "every chunk is dirty: a re-add would copy everything"

# --- serve-member back on the same port, re-add: only the dirty chunks are copied ---------------
serve || fail "serve-member did not start again on port $port"
"$MESHRAID" manage --re-add "$remote" >"$WORK/manage.txt" 2>&1 || fail "manage --re-add: $(cat "$WORK/manage.txt")"
grep -qF "$remote re-added to slot 1" "$WORK/manage.txt" || fail "manage --re-add said: $(cat "$WORK/manage.txt")"
for _ in $(seq 600); do
  grep -qF "recovery of $remote done" "$WORK/run.log" && break
  sleep 0.1
done
grep -qF "$remote re-added to slot 1 (bitmap-guided" "$WORK/run.log" || fail "the re-add was not bitmap-guided"
grep -qF "recovery of $remote done: in sync in slot 1" "$WORK/run.log" || fail "the recovery did not finish"
read -r copied skipped used <<<"$(json '"%d %d %d" % (d["copied_sectors"], d["skipped_sectors"], d["dev_sectors"])')"
echo "re-add: $copied sectors copied, $skipped skipped as clean, of $used"
[ "$copied" -gt 0 ] || fail "the recovery copied nothing"
[ "$copied" -le $((dirty * chunk / 512)) ] || fail "copied $copied sectors: more than the $dirty dirty chunks"
[ "$copied" -lt "$used" ] || fail "the recovery copied everything"
[ "$(json 'm["'"$remote"'"]["state"]')" = in_sync ] || fail "the NVMe/TCP member is not in sync after the re-add"
[ "$(json 'd["degraded"]')" = 0 ] || fail "the array is still degraded"

# --- each member alone holds what was written -------------------------------------------------
kill -TERM "$rp"; wait "$rp" || fail "meshraid run did not stop cleanly"; rp=""
python3 - "$WORK" <<'EOF' || fail "building the expected contents"
import sys
w = sys.argv[1]
m = bytearray(open(f"{w}/data", "rb").read())
m[10 << 20:12 << 20] = b"\x22" * (2 << 20)
m += bytes((200 << 20) - len(m))
m += b"\x11" * (2 << 20)
open(f"{w}/model", "wb").write(m)
EOF
n=$((202 << 20))
"$MESHRAID" cat "$WORK/local.img" 2>"$WORK/cat-local.err" | head -c $n >"$WORK/cat-local" || true
"$MESHRAID" cat "$remote" 2>"$WORK/cat-remote.err" | head -c $n >"$WORK/cat-remote" || true
cmp "$WORK/model" "$WORK/cat-local" || fail "cat of the local member differs from what was written: $(cat "$WORK/cat-local.err")"
cmp "$WORK/model" "$WORK/cat-remote" || fail "cat of the NVMe/TCP member differs from what was written: $(cat "$WORK/cat-remote.err")"
echo "cat of each member equals what was written"
kill -TERM "$sp"; wait "$sp" || fail "serve-member did not stop cleanly"; sp=""
grep -q "stopped serving on 127.0.0.1:$port" "$WORK/serve.log" || fail "serve-member did not say it stopped"
echo "PASS"
