#!/usr/bin/env bash
# The control socket end to end: `meshraid run` on two member files serves <name>.ctl in
# MESHRAID_RUN_DIR; `meshraid stat` prints it like /proc/mdstat, `detail --json` reports the
# members and their read counters, `set read-policy=...` switches policies; a run killed with
# SIGKILL leaves a stale socket that stat ignores and the next run replaces.
# Env: MESHRAID (the built binary), WORK (a scratch directory).
set -euo pipefail

: "${MESHRAID:?set MESHRAID to the meshraid binary}"
: "${WORK:?set WORK to a scratch directory}"
command -v python3 >/dev/null || { echo "FAIL: python3 is not installed" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
export MESHRAID_RUN_DIR="$WORK/run"
ctl="$MESHRAID_RUN_DIR/ctl.ctl"
nbd="$WORK/ctl.nbd"
run_pid=""

fail() { echo "FAIL: $*" >&2; [ -f "$WORK/run.log" ] && sed 's/^/  run: /' "$WORK/run.log" >&2; exit 1; }
cleanup() { if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then kill -KILL "$run_pid"; fi; }
trap cleanup EXIT

start_run() {
  "$MESHRAID" run --export="nbd+unix:///ctl?socket=$nbd" "$WORK/m0" "$WORK/m1" 2>>"$WORK/run.log" &
  run_pid=$!
  for _ in $(seq 100); do
    if [ -S "$ctl" ] && "$MESHRAID" stat ctl >/dev/null 2>&1; then return 0; fi
    kill -0 "$run_pid" 2>/dev/null || fail "meshraid run exited"
    sleep 0.1
  done
  fail "meshraid run did not answer on $ctl"
}

truncate -s 64M "$WORK/m0" "$WORK/m1"
"$MESHRAID" create --level=1 --raid-devices=2 --name=ctl --homehost=testhost --assume-clean \
  "$WORK/m0" "$WORK/m1" >/dev/null || fail "create"
start_run

# --- the socket: private, named after the array -------------------------------------------
[ "$(stat -c %a "$ctl")" = 600 ] || fail "$ctl has mode $(stat -c %a "$ctl"), want 600"
echo "control socket $ctl, mode 0600"

# --- stat: /proc/mdstat's format ------------------------------------------------------------
"$MESHRAID" stat > "$WORK/stat.txt" || fail "meshraid stat"
"$MESHRAID" detail --json > "$WORK/detail.json" || fail "meshraid detail --json"
python3 - "$WORK/stat.txt" "$WORK/detail.json" <<'PY' || fail "stat output is not mdstat's"
import json, sys
got = open(sys.argv[1]).read()
d = json.load(open(sys.argv[2]))
want = ("Personalities : [raid1] [raid10] \n"
        "ctl : active raid1 m1[1] m0[0]\n"
        "      %d blocks super 1.2 [2/2] [UU]\n"
        "      \n"
        "unused devices: <none>\n") % (d["array_sectors"] // 2)
if got != want:
    print("got:\n" + got + "want:\n" + want)
    sys.exit(1)
print("stat: mdstat format, %d blocks [2/2] [UU]" % (d["array_sectors"] // 2))
PY

# --- detail --json: identity, members, counters ---------------------------------------------
if command -v nbdcopy >/dev/null; then
  nbdcopy "nbd+unix:///ctl?socket=$nbd" - > /dev/null || fail "reading the array over NBD"
fi
"$MESHRAID" detail --json ctl > "$WORK/detail.json" || fail "meshraid detail --json ctl"
python3 - "$WORK/detail.json" "$WORK" <<'PY' || fail "detail --json reports unexpected values"
import json, shutil, sys
d = json.load(open(sys.argv[1]))
work = sys.argv[2]
checks = {
    "name": d["name"] == "ctl",
    "set_name": d["set_name"] == "testhost:ctl",
    "level": d["level"] == 1 and d["level_name"] == "raid1",
    "raid_disks": d["raid_disks"] == 2,
    "state": d["state"] in ("clean", "active"),
    "uuid": len(d["uuid"]) == 35,
    "read_policy": d["read_policy"] == "latency",
    "members": [m["path"] for m in d["members"]] == [work + "/m0", work + "/m1"],
    "member states": all(m["state"] == "in_sync" for m in d["members"]),
    "slots": [m["slot"] for m in d["members"]] == [0, 1],
}
keys = ["latency_ewma_ns", "pending", "reads", "read_bytes", "read_errors", "corrected_errors",
        "read_p50_ns", "read_p99_ns"]
checks["member keys"] = all(k in m for m in d["members"] for k in keys)
if shutil.which("nbdcopy"):
    read = sum(m["read_bytes"] for m in d["members"])
    checks["read bytes"] = read >= d["array_sectors"] * 512
    checks["latency measured"] = any(m["latency_ewma_ns"] > 0 and m["read_p99_ns"] > 0
                                     for m in d["members"])
bad = [k for k, ok in checks.items() if not ok]
if bad:
    print("wrong:", bad)
    print(json.dumps(d, indent=2))
    sys.exit(1)
print("detail --json: identity, members, slots and counters as expected")
PY

# --- detail: mdadm's fields ------------------------------------------------------------------
"$MESHRAID" detail > "$WORK/detail.txt" || fail "meshraid detail"
for want in "        Raid Level : raid1" "      Raid Devices : 2" "    Active Devices : 2" \
            "              Name : testhost:ctl" "       Read Policy : latency" \
            "active sync   $WORK/m0" "active sync   $WORK/m1" "latency_ewma_ns"; do
  grep -qF -- "$want" "$WORK/detail.txt" || { cat "$WORK/detail.txt" >&2; fail "detail lacks '$want'"; }
done
echo "detail: mdadm's fields and the member statistics table"

# --- set: read policies ----------------------------------------------------------------------
"$MESHRAID" set read-policy=md > "$WORK/set.txt" || fail "meshraid set read-policy=md"
grep -q "read-policy" "$WORK/set.txt" || fail "set printed nothing useful: $(cat "$WORK/set.txt")"
policy() { "$MESHRAID" detail --json ctl | python3 -c 'import json,sys; print(json.load(sys.stdin)["read_policy"])'; }
[ "$(policy)" = md ] || fail "read policy is $(policy) after set read-policy=md"
"$MESHRAID" set ctl read-policy=round-robin >/dev/null || fail "meshraid set ctl read-policy=round-robin"
[ "$(policy)" = round-robin ] || fail "read policy is $(policy) after set round-robin"
"$MESHRAID" set "$ctl" read-policy=latency >/dev/null || fail "set by socket path"
[ "$(policy)" = latency ] || fail "read policy is $(policy) after set latency"
if "$MESHRAID" set read-policy=fastest 2>"$WORK/err.txt"; then fail "set accepted read-policy=fastest"; fi
grep -q "use latency, md or round-robin" "$WORK/err.txt" || fail "unclear error: $(cat "$WORK/err.txt")"
if "$MESHRAID" set colour=blue 2>"$WORK/err.txt"; then fail "set accepted an unknown key"; fi
grep -q "unknown setting 'colour'" "$WORK/err.txt" || fail "unclear error: $(cat "$WORK/err.txt")"
echo "set: read-policy md, round-robin, latency; bad values and keys refused"

# --- errors for arrays that are not running --------------------------------------------------
if "$MESHRAID" detail nosuch 2>"$WORK/err.txt"; then fail "detail of a missing array succeeded"; fi
grep -qF "no array named nosuch is running (no socket in $MESHRAID_RUN_DIR)" "$WORK/err.txt" ||
  fail "unclear error: $(cat "$WORK/err.txt")"

# --- SIGTERM removes the socket; SIGKILL leaves a stale one that the next run replaces --------
kill -TERM "$run_pid"
wait "$run_pid" || fail "meshraid run did not exit cleanly on SIGTERM"
run_pid=""
[ ! -e "$ctl" ] || fail "$ctl survived a clean stop"
[ "$("$MESHRAID" stat)" = "$(printf 'Personalities : [raid1] [raid10] \nunused devices: <none>')" ] ||
  fail "stat with no array running: $("$MESHRAID" stat)"
start_run
kill -KILL "$run_pid"
wait "$run_pid" 2>/dev/null || true
run_pid=""
[ -S "$ctl" ] || fail "expected a stale socket after SIGKILL"
"$MESHRAID" stat | grep -q "^ctl :" && fail "stat lists a killed array"
if "$MESHRAID" detail ctl 2>"$WORK/err.txt"; then fail "detail of a killed array succeeded"; fi
grep -q "is not running (stale socket" "$WORK/err.txt" || fail "unclear error: $(cat "$WORK/err.txt")"
rm -f "$nbd"  # the NBD socket is stale too
start_run
"$MESHRAID" stat | grep -q "^ctl : active raid1" || fail "stat after replacing the stale socket"
echo "stale socket: ignored by stat, refused clearly by detail, replaced by the next run"

kill -TERM "$run_pid"
wait "$run_pid" || fail "meshraid run did not exit cleanly"
run_pid=""
echo "PASS"
