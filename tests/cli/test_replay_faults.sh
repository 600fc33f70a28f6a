#!/usr/bin/env bash
# test_replay_faults.sh: the target is killed (SIGKILL) and restarted on the same port in the
# middle of a paced replay: the replay reconnects, carries on, ends by itself, reports the
# requests lost with the connections as errors and exits 1 saying so (a replay that lost
# requests did not do its job); a target killed for good ends the replay with exit 1 too.
. "$(dirname "$0")/lib.sh"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- a paced trace: two connections, one INCR every 5 ms each, about 4 s ------------------------
start_redis_x; A=$RX_PORT
start_recorder "$A" "$TMP/f.rtrace"; check_eq "trace created" 0 $?
redis-cli -h 127.0.0.1 -p "$A" -r 800 -i 0.005 INCR fa > /dev/null &
c1=$!
redis-cli -h 127.0.0.1 -p "$A" -r 800 -i 0.005 INCR fb > /dev/null &
c2=$!
wait $c1 $c2
stop_recorder; check_eq "recorder exit" 0 $?
"$RT" info --json "$TMP/f.rtrace" > "$TMP/f.info"
REQS=$(jq .requests "$TMP/f.info")
check_eq "trace requests" 1600 "$REQS"
check_eq "trace spans 3.5 s or more" true "$(jq '.duration_s >= 3.5' "$TMP/f.info")"
SPAN_MS=$(jq '.duration_s * 1000 | floor' "$TMP/f.info")

# ---- replay at --speed 1; kill -9 the target 1.2 s in, restart it 2 s in -------------------------
start_redis_x; B=$RX_PORT; BPID=$RX_PID
t0=$(now_ms)
timeout -s KILL 60 "$RT" replay "$TMP/f.rtrace" --speed 1 --target "redis://127.0.0.1:$B" \
    --json="$TMP/r.json" -q > "$TMP/r.out" 2> "$TMP/r.err" &
rp=$!
BG_PIDS="$BG_PIDS $rp"
sleep 1.05
BEFORE=$(rcli "$B" MGET fa fb | awk '{ s += $1 } END { print s + 0 }')
# a pause first, so that each connection has a request in flight when the server dies (else
# the kill, noticed at once on loopback, would catch none: replies take microseconds)
check_eq "CLIENT PAUSE before the kill" OK "$(rcli "$B" CLIENT PAUSE 5000)"
sleep 0.15
kill -9 "$BPID"; wait "$BPID" 2> /dev/null
tk=$(now_ms)
check_eq "the target is down" 1 "$(redis_ready "$B" && echo 0 || echo 1)"
sleep "$(awk -v t="$(( 2000 - ($(now_ms) - t0) ))" 'BEGIN { if (t < 0) t = 0; print t / 1000 }')"
start_redis_at "$B"; check_eq "the target restarted on its port" 0 $?
tr=$(now_ms)
wait $rp; rc=$?; t1=$(now_ms)
echo "killed $(( tk - t0 )) ms in (after ~$BEFORE INCRs), restarted $(( tr - t0 )) ms in, replay ended $(( t1 - t0 )) ms in (trace span $SPAN_MS ms)"
# requests lost with their connection at the kill: the replay did not do all of its job
check_eq "replay exit after the restart: 1 (requests lost at the kill)" 1 "$rc"
check_match "the reason is one line naming the lost requests" \
    "^resptrace replay: [0-9]+ of $REQS requests were not answered: [0-9]+ lost with their connection" \
    "$(grep '^resptrace replay: ' "$TMP/r.err" | tail -n 1)"
check_eq "the replay ended within the trace span + 10 s" 1 "$(( t1 - t0 < SPAN_MS + 10000 ))"
J=$TMP/r.json
echo "$(jq -c '{requests, sent, ops, errors, skipped, skipped_by, unanswered, connections}' "$J")"
check_eq "requests" "$REQS" "$(jnum "$J" .requests)"
check_eq "errors > 0 (the requests in flight at the kill)" 1 "$(( $(jnum "$J" .errors) > 0 ))"
check_eq "connections.failures > 0" 1 "$(( $(jnum "$J" .connections.failures) > 0 ))"
check_eq "reconnected: more connections opened than recorded" 1 "$(( $(jnum "$J" .connections.opened) > 2 ))"
check_match "the first connection error is recorded" '.' "$(jq -r '.connections.first_error // ""' "$J")"
check_eq "every request accounted for" "$REQS" "$(jnum "$J" '.ops + .errors + .skipped + .unanswered')"
# requests due before the kill: about 1.1 s of the schedule (starts 0.1 s after launch)
check_eq "ops > the requests due before the kill ($BEFORE)" 1 "$(( $(jnum "$J" .ops) > BEFORE + 200 ))"
check_eq "at least half the trace answered" 1 "$(( $(jnum "$J" .ops) * 2 >= REQS ))"
AFTER=$(rcli "$B" MGET fa fb | awk '{ s += $1 } END { print s + 0 }')
check_eq "the restarted target got the rest of the trace (about 1.5 s x 2 x 200/s: $AFTER)" 1 "$(( AFTER >= 400 ))"
check_eq "INCR answers after the restart start from 1 again: not all replies are the recorded ones" 1 \
    "$(( $(jnum "$J" .divergence.compared) > 0 ))"
check_eq "no unanswered request left (the replay waited for the restarted target)" 0 "$(jnum "$J" .unanswered)"

# ---- a target that never comes back: the replay still ends -------------------------------------
start_redis_x; B=$RX_PORT; BPID=$RX_PID
t0=$(now_ms)
timeout -s KILL 60 "$RT" replay "$TMP/f.rtrace" --speed 2 --target "redis://127.0.0.1:$B" \
    --json="$TMP/g.json" -q > /dev/null 2> "$TMP/g.err" &
rp=$!
BG_PIDS="$BG_PIDS $rp"
sleep 0.6
kill -9 "$BPID"; wait "$BPID" 2> /dev/null
wait $rp; rc=$?; t1=$(now_ms)
echo "target gone: exit $rc after $(( t1 - t0 )) ms"
check_eq "target gone for good: the replay ends with exit 1" 1 "$rc"
check_match "target gone for good: one line says what became of the requests" \
    "^resptrace replay: [0-9]+ of $REQS requests were not answered:.*dropped while the target was unreachable" \
    "$(grep '^resptrace replay: ' "$TMP/g.err" | tail -n 1)"
check_eq "target gone for good: within 20 s" 1 "$(( t1 - t0 < 20000 ))"
J=$TMP/g.json
echo "target gone: $(jq -c '{requests, sent, ops, errors, skipped, skipped_by, unanswered, connections}' "$J")"
check_eq "target gone: requests due while it was down are dropped as unreachable" 1 "$(( $(jnum "$J" .skipped_by.unreachable) > 0 ))"
check_eq "target gone: every request accounted for" "$REQS" "$(jnum "$J" '.ops + .errors + .skipped + .unanswered')"
finish
