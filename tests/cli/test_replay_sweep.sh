#!/usr/bin/env bash
# test_replay_sweep.sh: the capacity sweep against a server of known capacity, and multi-host
# parts:
# - a trace of DEBUG SLEEP 0.002 at 100 requests/s against a redis-server, whose capacity for
#   it redis-benchmark measures in a closed loop: `replay --sweep --slo` reports a headroom
#   within 20% of capacity / 100; every step is in the JSON (--max-lag 50: a busy CI host may
#   delay the replayer by some ms, which is not the server's capacity);
# - --part I/N: the parts together replay every request once, on disjoint connections;
#   --start-at: parts launched apart start their schedules together.
source "$(dirname "$0")/lib.sh"
GEN=$(dirname "$RT")/make_paced_trace
[ -x "$GEN" ] || { echo "no $GEN (build the make_paced_trace target)" >&2; exit 1; }

"$GEN" "$TMP/sleep.rtrace" 4 100 8 DEBUG SLEEP 0.002; check_eq "make_paced_trace exit" 0 $?
start_redis_x --enable-debug-command local; P=$RX_PORT
# the server's capacity for this command, measured by an independent closed-loop client
CAP=$(redis-benchmark -h 127.0.0.1 -p "$P" -c 8 -n 1000 -q DEBUG SLEEP 0.002 | tr '\r' '\n' |
      awk '/requests per second/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) {print $i; exit}}')
check_eq "redis-benchmark measured a capacity" 1 "$(awk -v c="$CAP" 'BEGIN {print (c > 100)}')"
"$RT" replay "$TMP/sleep.rtrace" --target "redis://127.0.0.1:$P" --allow debug \
    --sweep 1,2,3,4,6,8,12,16 --slo 'p99<100ms' --max-lag 50 --json="$TMP/sweep.json" \
    > "$TMP/sweep.out" 2>&1
check_eq "sweep exit" 0 $?
HELD=$(jnum "$TMP/sweep.json" .max_speed_held)
EXPECT=$(awk -v c="$CAP" 'BEGIN {printf "%.3f", c / 100}')
echo "capacity $CAP ops/s: expected headroom ${EXPECT}x, reported ${HELD}x"
check_eq "the reported headroom is within 20% of the measured capacity" 1 \
    "$(awk -v h="$HELD" -v e="$EXPECT" 'BEGIN {d = (h - e) / e; if (d < 0) d = -d; print (d <= 0.2)}')"
check_match "the verdict is printed" "this target serves .*x the recorded load at p99<100ms" "$(cat "$TMP/sweep.out")"
check_eq "every step is in the JSON, each with its full result" 1 \
    "$(jq '(.steps | length) >= 4 and ([.steps[] | .result.requests] | all(. == 400))' "$TMP/sweep.json" | grep -c true)"
check_eq "the first speed that broke is above the one that held" true "$(jq '.first_speed_broke > .max_speed_held' "$TMP/sweep.json")"
check_eq "a step that broke says why" 1 "$(jq '[.steps[] | select(.held == false) | .why | test("p99<100ms broke")] | any' "$TMP/sweep.json" | grep -c true)"
# a bad SLO is a usage error naming it
"$RT" replay "$TMP/sleep.rtrace" --target "redis://127.0.0.1:$P" --sweep 1,2 --slo 'p99<<2' -q > /dev/null 2> "$TMP/slo.err"
check_eq "bad --slo: exit 2" 2 $?
check_match "bad --slo: named" "p99<<2" "$(cat "$TMP/slo.err")"
"$RT" replay "$TMP/sleep.rtrace" --target "redis://127.0.0.1:$P" --sweep 2,1 --slo 'p99<2ms' -q > /dev/null 2>&1
check_eq "decreasing --sweep: exit 2" 2 $?

# ---- parts ----------------------------------------------------------------------------------
"$GEN" "$TMP/inc.rtrace" 2 2000 40 INCR counter; check_eq "make_paced_trace (incr) exit" 0 $?
start_redis_x; Q=$RX_PORT
NOW=$(date +%s)
AT=$((NOW + 2))
"$RT" replay "$TMP/inc.rtrace" --target "redis://127.0.0.1:$Q" --part 1/3 --start-at "$AT" --json="$TMP/p1.json" -q > /dev/null 2>&1 &
A=$!
sleep 0.4
"$RT" replay "$TMP/inc.rtrace" --target "redis://127.0.0.1:$Q" --part 2/3 --start-at "$AT" --json="$TMP/p2.json" -q > /dev/null 2>&1 &
B=$!
sleep 0.4
"$RT" replay "$TMP/inc.rtrace" --target "redis://127.0.0.1:$Q" --part 3/3 --start-at "$AT" --json="$TMP/p3.json" -q > /dev/null 2>&1
check_eq "part 3 exit" 0 $?
wait "$A"; check_eq "part 1 exit" 0 $?
wait "$B"; check_eq "part 2 exit" 0 $?
SUM=$(( $(jnum "$TMP/p1.json" .requests) + $(jnum "$TMP/p2.json" .requests) + $(jnum "$TMP/p3.json" .requests) ))
check_eq "the parts replay every request once" 4000 "$SUM"
check_eq "the counter saw every INCR" 4000 "$(rcli "$Q" GET counter)"
check_eq "the parts use disjoint connections (40 in all)" 40 \
    "$(( $(jnum "$TMP/p1.json" .connections.opened) + $(jnum "$TMP/p2.json" .connections.opened) + $(jnum "$TMP/p3.json" .connections.opened) ))"
check_eq "every part has some" 1 "$(jq -s 'all(.[]; .requests > 0)' "$TMP/p1.json" "$TMP/p2.json" "$TMP/p3.json" | grep -c true)"
SPREAD=$(jq -s '(map(.start_unix_s) | max) - (map(.start_unix_s) | min)' "$TMP/p1.json" "$TMP/p2.json" "$TMP/p3.json")
check_eq "launched 0.8 s apart, the parts start within 10 ms of each other" 1 "$(awk -v s="$SPREAD" 'BEGIN {print (s < 0.01)}')"
check_eq "they start at --start-at" 1 "$(jq --arg at "$AT" '(.start_unix_s - ($at|tonumber)) | fabs < 0.01' "$TMP/p1.json" | grep -c true)"
"$RT" replay "$TMP/inc.rtrace" --target "redis://127.0.0.1:$Q" --part 4/3 -q > /dev/null 2>&1
check_eq "--part 4/3: exit 2" 2 $?
"$RT" replay "$TMP/inc.rtrace" --target "redis://127.0.0.1:$Q" --start-at 1700000000 -q > /dev/null 2> "$TMP/late.err"
check_eq "--start-at in the past: exit 1" 1 $?
check_match "--start-at in the past: says so" "passed" "$(cat "$TMP/late.err")"
# a part a few seconds late (slow ssh, loaded host) starts at once and says by how much
"$RT" replay "$TMP/inc.rtrace" --target "redis://127.0.0.1:$Q" --part 1/3 --start-at "$(( $(date +%s) - 5 ))" \
    --json="$TMP/late.json" > "$TMP/late.out" 2>&1
check_eq "--start-at 5 s ago: exit 0" 0 $?
check_eq "--start-at 5 s ago: start_late_s about 5" 1 "$(jq '.start_late_s >= 4 and .start_late_s < 7' "$TMP/late.json" | grep -c true)"
check_match "--start-at 5 s ago: a warning" "started at once" "$(cat "$TMP/late.out")"
finish
