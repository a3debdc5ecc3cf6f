#!/usr/bin/env bash
# Latency-aware reads follow a change of latency at run time: a RAID1 of two remote members,
# each file served by its own nbdkit behind the rate filter, whose per-connection rate is read
# from a file on every request (so writing the file changes a member's latency at once).
#   slow: 16M bits/s with burstiness 1 ms: a 4 KiB read takes ~1.4 ms when the member is idle
#         (a probe) and ~2.9 ms back to back (the bucket, 16 Kbit, is smaller than one read);
#   fast: 1G bits/s: ~33 us per 4 KiB read on top of the socket round trip.
# Phase 1: A fast, B slow; fio 4K random reads at QD1 for 4 s: A gets >= 95 % of the reads.
# Phase 2: fio runs on; 1 s in, the rate files are swapped (A slow, B fast); after a 3 s
# warm-up, a 4 s measured window: B (slot 1, where MD's stock rule never sends QD1 reads) gets
# >= 90 % of it. Read counts are deltas of `meshraid detail --json` snapshots; during the
# warm-up detail is polled every 0.25 s and the time until A's share of an interval falls
# below 10 % is printed (not asserted).
# Env: MESHRAID (the built binary), WORK (a scratch directory), MESHRAID_RUN_DIR (optional).
# Timing-based (shares of reads at QD1, ~17 s); bench/latency_swap.sh runs this same script by
# hand.
#
# History: this used to stall in about one run in three to six: a read to the fast member got no
# reply for 10 s and the array failed the member. The cause was our NBD client, not nbdkit (the
# log filter showed nbdkit never received the stuck read, and our socket's send queue was empty):
# a stale io_uring POLLIN completion (no data left to read) was passed to nbd_aio_notify_read on
# an idle connection, which parks libnbd 1.14 in REPLY.START, where new commands are queued but
# not sent. NbdConnection now re-checks readiness with poll(2) first (see nbd_connection.h and
# NbdDeviceTest.StaleReadWakeOnAnIdleConnectionDoesNotStallTheNextRequest).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_begin nbdkit fio python3
mkdir -p "$WORK/snap"
mkdir -p "$MESHRAID_RUN_DIR"

SLOW=16M FAST=1G BURST=0.001               # see the header
P1_SECS=4 LEAD_SECS=1 WARM_SECS=3 MEAS_SECS=4
P1_MIN=95 P2_MIN=90                        # % of reads on the fast leg
uri="nbd+unix:///v?socket=$WORK/v.sock"
rp="" kpa="" kpb="" fp=""

cleanup() {
  set +e
  [ -n "$fp" ] && kill -9 "$fp" 2>/dev/null
  [ -n "$rp" ] && kill -9 "$rp" 2>/dev/null
  for p in $kpa $kpb; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in run.log nbdkit-A.log nbdkit-B.log fio1.txt fio2.txt poll.txt; do
    [ -s "$WORK/$f" ] && { echo "--- $f"; grep -v "nbd: conn" "$WORK/$f" | tail -40; }
  done
  [ -n "$rp" ] && "$MESHRAID" detail --json swap 2>/dev/null | sed 's/^/  detail: /'
  exit 1
}
set_rate() {  # set_rate A|B RATE: replace the rate file atomically
  echo "$2" > "$WORK/$1.rate.new"; mv -f "$WORK/$1.rate.new" "$WORK/$1.rate"
}
raw() {  # raw NAME: saves `detail --json` as snap/NAME.json (cheap: no parsing)
  "$MESHRAID" detail --json swap >"$WORK/snap/$1.json" 2>>"$WORK/detail.err" \
    || fail "meshraid detail --json swap: $(tail -3 "$WORK/detail.err")"
}
counts() {  # counts NAME...: per snapshot "reads_A reads_B ewma_A_ns ewma_B_ns", one a line
  (cd "$WORK/snap" && python3 -c '
import json, sys
for name in sys.argv[1:]:
    d = json.load(open(name + ".json"))
    if d["read_policy"] != "latency":
        sys.exit("%s: read policy is %s, not latency" % (name, d["read_policy"]))
    m = {}
    for x in d["members"]:
        for leg in ("A", "B"):
            if x["path"].endswith("/%s.sock" % leg):
                if x["state"] != "in_sync":
                    sys.exit("%s: member %s is %s" % (name, leg, x["state"]))
                m[leg] = x
    if len(m) != 2:
        sys.exit("%s: members not found: %s" % (name, [x["path"] for x in d["members"]]))
    print(m["A"]["reads"], m["B"]["reads"], m["A"]["latency_ewma_ns"], m["B"]["latency_ewma_ns"])
' "$@" 2>&1)
}
snap() {  # snap NAME: raw NAME, then sets R_A R_B E_A E_B from it
  local o
  raw "$1"
  o=$(counts "$1") || fail "detail --json: $o"
  read -r R_A R_B E_A E_B <<<"$o"
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a + b) ? 100 * a / (a + b) : 0 }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
start_fio() {  # start_fio SECONDS OUT: 4K random reads at QD1 through the array, in the background
  fio --name=r --ioengine=nbd --uri="$uri" --rw=randread --bs=4k --iodepth=1 --time_based \
      --runtime="$1" --norandommap=1 --output="$WORK/$2" >/dev/null 2>&1 &
  fp=$!
}
wait_fio() { local p=$fp; fp=""; wait "$p" || fail "fio failed (see $1)"; }

# --- the array: two files, each served by its own nbdkit -----------------------------------
truncate -s 128M A.img B.img
"$MESHRAID" create --level=1 --raid-devices=2 --name=swap --assume-clean A.img B.img >/dev/null \
  || fail "create"
set_rate A "$FAST"; set_rate B "$SLOW"
for leg in A B; do
  # -t 1: nbdkit 1.32 can abort when a client hangs up with replies still queued.
  nbdkit -f -t 1 -U "$WORK/$leg.sock" -P "$WORK/$leg.pid" --filter=rate file "$WORK/$leg.img" \
    connection-rate="$SLOW" connection-rate-file="$WORK/$leg.rate" burstiness="$BURST" \
    2>"$WORK/nbdkit-$leg.log" &
  if [ $leg = A ]; then kpa=$!; else kpb=$!; fi
done
for leg in A B; do
  for _ in $(seq 100); do [ -s "$WORK/$leg.pid" ] && [ -S "$WORK/$leg.sock" ] && break; sleep 0.1; done
  [ -S "$WORK/$leg.sock" ] || fail "nbdkit for $leg did not start"
done
"$MESHRAID" run --export="$uri" "nbd+unix:///?socket=$WORK/A.sock" \
  "nbd+unix:///?socket=$WORK/B.sock" 2>"$WORK/run.log" &
rp=$!
for _ in $(seq 100); do
  [ -S "$WORK/v.sock" ] && "$MESHRAID" detail --json swap >/dev/null 2>&1 && break
  kill -0 "$rp" 2>/dev/null || fail "meshraid run exited"
  sleep 0.1
done
"$MESHRAID" detail --json swap >/dev/null 2>&1 || fail "meshraid run did not come up"
t_start=$EPOCHREALTIME

# --- phase 1: A fast, B slow ----------------------------------------------------------------
snap p1-start; a0=$R_A b0=$R_B
start_fio "$P1_SECS" fio1.txt; wait_fio fio1.txt
snap p1-end; a1=$R_A b1=$R_B ea1=$E_A eb1=$E_B
da=$((a1 - a0)) db=$((b1 - b0))
share1=$(pct "$da" "$db")
echo "phase 1 (A fast, B slow): $((da + db)) reads, A $da, B $db: A share $share1%" \
     "(ewma A $((ea1 / 1000)) us, B $((eb1 / 1000)) us)"
[ $((da + db)) -ge 200 ] || fail "phase 1: only $((da + db)) reads in ${P1_SECS}s"
[ "$eb1" -gt $((2 * ea1)) ] || fail "phase 1: B does not look slow (ewma A $ea1 ns, B $eb1 ns)"
ge "$share1" "$P1_MIN" || fail "phase 1: the fast leg A got $share1% of the reads (< $P1_MIN%)"

# --- phase 2: swap under load ---------------------------------------------------------------
start_fio $((LEAD_SECS + WARM_SECS + MEAS_SECS)) fio2.txt
sleep "$LEAD_SECS"
set_rate A "$SLOW"; set_rate B "$FAST"
t_swap=$EPOCHREALTIME
raw poll-0  # after the swap: every interval counts only reads at the new rates
names=(poll-0) times=(0.00) i=0
while :; do  # raw snapshots every 0.25 s through the warm-up; the last one starts the window
  sleep 0.25
  i=$((i + 1)); raw "poll-$i"
  t=$(awk -v n="$EPOCHREALTIME" -v s="$t_swap" 'BEGIN { printf "%.2f", n - s }')
  names+=("poll-$i"); times+=("$t")
  ge "$t" "$WARM_SECS" && break
done
wait_fio fio2.txt
snap p2-end; a4=$R_A b4=$R_B ea4=$E_A eb4=$E_B
o=$(counts "${names[@]}") || fail "detail --json: $o"
mapfile -t rows <<<"$o"
moved="" j=0
read -r a2 b2 _ _ <<<"${rows[0]}"; pa=$a2 pb=$b2
for ((j = 1; j < ${#rows[@]}; j++)); do
  read -r a b ea eb <<<"${rows[j]}"
  s=$(pct $((a - pa)) $((b - pb)))
  echo "   t+${times[j]}s: A $((a - pa)), B $((b - pb)) reads (A share $s%)," \
       "ewma A $((ea / 1000)) us, B $((eb / 1000)) us" | tee -a poll.txt
  [ "$j" = 1 ] && first_a=$((a - pa))
  if [ -z "$moved" ] && [ $((a - pa + b - pb)) -gt 0 ] && ! ge "$s" 10; then moved=${times[j]}; fi
  pa=$a pb=$b
done
a3=$pa b3=$pb
wa=$((a3 - a2)) wb=$((b3 - b2)) da=$((a4 - a3)) db=$((b4 - b3))
share2=$(pct "$db" "$da")
echo "phase 2 warm-up (${times[-1]}s after the swap): A $wa, B $wb reads"
if [ -n "$moved" ]; then
  echo "phase 2: the reads moved to B within ${moved}s of the swap (first 0.25 s interval with" \
       "A < 10 %; A served $first_a reads in the first interval)"
else
  echo "phase 2: A kept >= 10 % of every interval of the warm-up"
fi
echo "phase 2 measured window: $((da + db)) reads, A $da, B $db: B share $share2%" \
     "(ewma A $((ea4 / 1000)) us, B $((eb4 / 1000)) us)"
[ $((da + db)) -ge 200 ] || fail "phase 2: only $((da + db)) reads in the measured window"
ge "$share2" "$P2_MIN" || fail "phase 2: the new fast leg B got $share2% of the measured reads (< $P2_MIN%)"

# --- stop ------------------------------------------------------------------------------------
kill -TERM "$rp"; p=$rp; rp=""
wait "$p" || { rp=$p; fail "meshraid run did not stop cleanly"; }
grep -q "stopped cleanly" run.log || fail "meshraid run did not log 'stopped cleanly'"
echo "wall time $(awk -v n="$EPOCHREALTIME" -v s="$t_start" 'BEGIN { printf "%.1f", n - s }')s from the array up"
echo "2 passed, 0 failed"
