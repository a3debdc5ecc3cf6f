#!/usr/bin/env bash
# Re-adding a remote member after an outage copies only what it missed: a RAID1 (internal
# bitmap, 64 MiB chunks) of a local file and a remote member served by another process's
# `meshraid serve-member`. The remote member's server is killed (SIGKILL) and the next write
# fails it; 2 MiB are then written into each of 2 bitmap chunks; serve-member is restarted and
# `meshraid manage --re-add URI` takes the member back. The log says the recovery is
# bitmap-guided, detail --json's copied_sectors covers only the 2 dirty chunks (the others are
# skipped_sectors), and the members' data areas end up identical.
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin fio nbdcopy python3 cmp
uri="nbd+unix:///readd?socket=$WORK/readd.sock"
remote="nbd+unix:///remote.img?socket=$WORK/remote.sock"
rp="" sp=""

cleanup() {
  set +e
  [ -n "$rp" ] && kill -9 "$rp" 2>/dev/null
  [ -n "$sp" ] && kill -9 "$sp" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$WORK/run.log" ] && sed 's/^/  run: /' "$WORK/run.log"; exit 1; }
json() { "$MESHRAID" detail --json readd >"$WORK/detail.json" && python3 -c "import json; d=json.load(open('$WORK/detail.json')); m={x['path']: x for x in d['members']}; print($1)"; }
serve() {
  rm -f "$WORK/remote.sock"
  "$MESHRAID" serve-member --socket="$WORK/remote.sock" "$WORK/remote.img" 2>>"$WORK/serve.log" &
  sp=$!
  for _ in $(seq 50); do [ -S "$WORK/remote.sock" ] && return 0; sleep 0.1; done
  fail "serve-member did not start"
}
write_at() {  # write_at OFFSET SIZE: sequential 1 MiB writes through the array, then verified
  fio --name=w --ioengine=nbd --uri="$uri" --rw=write --bs=1m --offset="$1" --size="$2" \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
    --output="$WORK/fio.out" || { cat "$WORK/fio.out"; fail "fio write at $1"; }
}

truncate -s 256M "$WORK/local.img" "$WORK/remote.img"
"$MESHRAID" create --level=1 --raid-devices=2 --bitmap=internal --assume-clean --name=readd \
  "$WORK/local.img" "$WORK/remote.img" >/dev/null || fail "create"
off=$("$MESHRAID" examine --json "$WORK/local.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["superblock"]["data_offset"])')
serve
"$MESHRAID" run --export="$uri" "$WORK/local.img" "$remote" 2>"$WORK/run.log" &
rp=$!
for _ in $(seq 100); do
  if [ -S "$WORK/readd.sock" ] && "$MESHRAID" stat readd >/dev/null 2>&1; then break; fi
  kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
  sleep 0.1
done
write_at 0 32m
chunk=$(json 'd["bitmap"]["chunk_bytes"]')
echo "bitmap chunk $((chunk >> 20)) MiB; 32 MiB written with both members in sync"

# --- the remote member's server dies; the next write fails the member -------------------------
kill -9 "$sp"; wait "$sp" 2>/dev/null || true; sp=""
write_at 10m 2m
for _ in $(seq 100); do
  grep -q "member $remote failed" "$WORK/run.log" && break
  sleep 0.1
done
grep -q "member $remote failed" "$WORK/run.log" || fail "the remote member was not failed"
[ "$(json 'm["'"$remote"'"]["state"]')" = faulty ] || fail "the remote member is not faulty"
write_at 130m 2m  # a second bitmap chunk
dirty=$(json 'd["bitmap"]["dirty_chunks"]')
echo "remote member failed; 2 MiB written into each of 2 chunks while degraded ($dirty dirty chunks)"
[ "$dirty" = 2 ] || fail "expected 2 dirty chunks, the bitmap has $dirty"

# --- serve-member back, re-add: only the dirty chunks are copied --------------------------------
serve
"$MESHRAID" manage --re-add "$remote" >"$WORK/manage.txt" || fail "manage --re-add: $(cat "$WORK/manage.txt")"
grep -q "$remote re-added to slot 1" "$WORK/manage.txt" || fail "manage --re-add said: $(cat "$WORK/manage.txt")"
for _ in $(seq 300); do
  grep -q "recovery of $remote done" "$WORK/run.log" && break
  sleep 0.1
done
grep -q "$remote re-added to slot 1 (bitmap-guided: events" "$WORK/run.log" || fail "the re-add was not bitmap-guided"
grep -q "recovery of $remote into slot 1 started at sector 0 (bitmap-guided)" "$WORK/run.log" ||
  fail "no bitmap-guided recovery in the log"
grep -q "recovery of $remote done: in sync in slot 1" "$WORK/run.log" || fail "the recovery did not finish"
read -r copied skipped used <<<"$(json '"%d %d %d" % (d["copied_sectors"], d["skipped_sectors"], d["dev_sectors"])')"
echo "re-add: $copied sectors copied, $skipped skipped as clean, of $used"
[ "$copied" -gt 0 ] || fail "the recovery copied nothing"
[ "$copied" -le $((2 * chunk / 512)) ] || fail "copied $copied sectors: more than the 2 dirty chunks"
[ "$copied" -lt "$used" ] || fail "the recovery copied everything"
[ "$(json 'm["'"$remote"'"]["state"]')" = in_sync ] || fail "the remote member is not in sync"
[ "$(json 'd["degraded"]')" = 0 ] || fail "the array is still degraded"
"$MESHRAID" detail | grep -q "active sync   $remote" || fail "detail does not show the member active"
if "$MESHRAID" manage --re-add "$remote" 2>"$WORK/err.txt"; then fail "re-add of an in-sync member succeeded"; fi
grep -q "$remote: cannot re-add a member that is in_sync" "$WORK/err.txt" || fail "unclear error: $(cat "$WORK/err.txt")"

# --- data identical --------------------------------------------------------------------------------
kill -TERM "$rp"; wait "$rp" || fail "meshraid run did not stop cleanly"; rp=""
kill -TERM "$sp"; wait "$sp" || true; sp=""
cmp <(tail -c +$((off * 512 + 1)) "$WORK/local.img") <(tail -c +$((off * 512 + 1)) "$WORK/remote.img") ||
  fail "the members' data areas differ after the re-add"
echo "data areas identical after the re-add"
echo "PASS"
