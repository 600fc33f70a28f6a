#!/usr/bin/env bash
# test_replay_chains.sh: request/response loops are replayed as loops (issue 13). A client that
# sends each request the moment the previous reply arrives (redis-benchmark without pipelining)
# is recorded, then replayed at speed 1 into a plain redis-server and into one that fsyncs every
# write (appendonly yes, appendfsync always: a durable log). The chained requests are due when
# their predecessor's reply arrives in the replay (plus the recorded gap), so latency stays near
# service time instead of counting a slower target's whole backlog, and does not grow with the
# trace's length (--loop 3); the connections' slip behind the recording is reported instead, and
# is larger on the fsync target. --pace scheduled keeps the old open-loop model (which the test
# shows growing). The timer-paced CLIENT PAUSE case (latency still shows a stall) is in
# test_replay_timing.sh.
. "$(dirname "$0")/lib.sh"

# ---- the loop workload, recorded live -----------------------------------------------------------
start_redis_x; A=$RX_PORT
start_recorder "$A" "$TMP/loop.rtrace"; check_eq "trace created" 0 $?
redis-benchmark -h 127.0.0.1 -p "$A" -c 10 -n 20000 -t set,get -r 10000 -q > /dev/null
stop_recorder; check_eq "recorder exit" 0 $?
"$RT" info --json "$TMP/loop.rtrace" > "$TMP/loop.info"
check_eq "the trace has the benchmark's 40,000 requests" 1 "$(( $(jq .requests "$TMP/loop.info") >= 40000 ))"

# replay NAME PORT [args]: speed 1 into the server on PORT, NAME.json
replay() {
    local name=$1 port=$2
    shift 2
    timeout 300 "$RT" replay "$TMP/loop.rtrace" --speed 1 --target "redis://127.0.0.1:$port" \
        --json="$TMP/$name.json" -q "$@" > "$TMP/$name.out" 2> "$TMP/$name.err"
    check_eq "$name: exit 0" 0 $?
    echo "$name: $(jq -c '{ops, latency_p99: .latency_us.p99, service_p99: .service_time_us.p99, lag_p99: .lag_us.p99, slip_p99: .slip_us.p99, slip_final: .slip_us.final, pacing}' "$TMP/$name.json")"
}
# within NAME: latency p99 within 1.5x of service-time p99, plus the replayer's own lateness as
# it measured it (schedule lag p99: a chained request's latency is its send's lateness plus its
# service time; CI's machine in a slow spell had service p99 1.3-3 ms and lag p99 0.4-1.4 ms,
# and missed the old bound of 1.5x + 0.5 ms three times running), plus 0.5 ms of scheduling
# noise on a 2-core machine (the test runs alone). A replay that counts the backlog as latency
# misses by seconds. Under ASan+UBSan the replayer's own time per request
# is several times larger and so is its share of the latency: 3x there, which still tells a
# loop from the open-loop model's seconds (--pace scheduled below).
SANITIZED=0
if ldd "$RT" 2> /dev/null | grep -Eq 'libasan|libubsan'; then SANITIZED=1; fi
FACTOR=1.5 LOOPF=1.25
[ "$SANITIZED" = 1 ] && FACTOR=3 LOOPF=2
is_within() { jq --argjson f "$FACTOR" '.latency_us.p99 <= $f * .service_time_us.p99 + .lag_us.p99 + 500' "$TMP/$1.json"; }
within() {
    check_eq "$1: latency p99 within ${FACTOR}x of service time p99 plus lag p99" true "$(is_within "$1")"
}
# replay_within NAME PORT [args]: as replay, with up to 3 attempts (each into an emptied target)
# until the latency p99 is within; a slow or loaded host can stall the replayer at the wrong
# moment once (CI's machine missed by 12 us of 3.4 ms once), but a replay that counts the
# backlog as latency misses by far every time.
replay_within() {
    local name=$1 port=$2 attempt
    for attempt in 1 2 3; do
        rcli "$port" FLUSHALL > /dev/null
        replay "$@"
        [ "$(is_within "$name")" = true ] && break
        echo "$name: attempt $attempt not within, again"
    done
}

start_redis_x; P=$RX_PORT
replay_within plain "$P"
within plain
check_eq "plain: most requests chained" true "$(jq '.pacing.chained > 0.9 * .ops' "$TMP/plain.json")"
check_eq "plain: pacing counts add up" true "$(jq '.pacing.chained + .pacing.scheduled == .sent' "$TMP/plain.json")"
check_match "plain: slip in the table" "^slip behind the recording" "$(cat "$TMP/plain.out")"

start_redis_x --appendonly yes --appendfsync always; F=$RX_PORT
replay_within fsync "$F"
within fsync
check_eq "fsync: slip larger than on the plain target" true \
    "$(jq --slurpfile p "$TMP/plain.json" '.slip_us.final > $p[0].slip_us.final' "$TMP/fsync.json")"
replay_within fsync3 "$F" --loop 3
# (latency over service time: the fsync target's own service time varies from run to run with
# the disk; what must not grow with the trace's length is what the replay adds to it)
check_eq "fsync --loop 3: latency p99 within ${LOOPF}x of a single pass (over service p99)" true \
    "$(jq --argjson f "$LOOPF" --slurpfile one "$TMP/fsync.json" \
        '(.latency_us.p99 / .service_time_us.p99) <= $f * ($one[0].latency_us.p99 / $one[0].service_time_us.p99) + 0.1' \
        "$TMP/fsync3.json")"
within fsync3

# the old model, for the record: latency from the recorded schedule grows with the backlog
rcli "$F" FLUSHALL > /dev/null
replay sched "$F" --pace scheduled
check_eq "--pace scheduled: nothing chained" 0 "$(jnum "$TMP/sched.json" .pacing.chained)"
echo "scheduled: latency p99 $(jnum "$TMP/sched.json" .latency_us.p99) us vs chained $(jnum "$TMP/fsync.json" .latency_us.p99) us"
"$RT" replay "$TMP/loop.rtrace" --pace sometimes 2> "$TMP/bad.err"
check_eq "--pace takes auto, chained or scheduled" 2 $?
finish
