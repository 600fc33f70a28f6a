#!/usr/bin/env bash
# test_replay_warmup.sh: misses over time, the miss storm after a restart and --read-through
# (issue 16). A cache-aside application (cache_aside.py: GET, and on a miss SET with EX 300;
# 4 clients, 2,000 GETs/s over 500 keys) runs against a warm cache while it is recorded. The
# trace is replayed at speed 1 into a server primed with its keys (`resptrace prime`), which is
# killed and restarted empty 3 s in:
#  - with --read-through, the timeline's misses spike in the second after the restart and fall
#    back; warmup_s is reported and ends before the run does; what was written back is counted
#    (and is what the server's INFO commandstats counts as SET calls beyond the trace's own);
#  - without it, misses stay at every read until the end: "not warmed up", warmup_s null.
# Every per-second count is checked against the whole run's (arithmetic done here).
. "$(dirname "$0")/lib.sh"

start_redis_x; A=$RX_PORT
python3 "$SRC/tests/cli/cache_aside.py" "$A" 1.5 4 500 500 > /dev/null # warm, not recorded
start_recorder "$A" "$TMP/ca.rtrace"; check_eq "trace created" 0 $?
python3 "$SRC/tests/cli/cache_aside.py" "$A" 6 4 500 500 > "$TMP/app.out"
stop_recorder; check_eq "recorder exit" 0 $?
echo "recorded application: $(cat "$TMP/app.out")"

# run NAME [replay args]: a primed server, killed and restarted empty 3 s into a speed-1 replay
run() {
    local name=$1 port
    shift
    start_redis_x; port=$RX_PORT
    "$RT" prime "$TMP/ca.rtrace" --target "redis://127.0.0.1:$port" -q > /dev/null 2>&1
    check_eq "$name: primed with the 500 keys" 1 "$(( $(rcli "$port" DBSIZE) >= 495 ))"
    (
        sleep 3
        kill -9 "$RX_PID"
        start_redis_at "$port" > /dev/null
        echo "$RX_PID" > "$TMP/$name.pid2"
    ) &
    local killer=$!
    timeout 60 "$RT" replay "$TMP/ca.rtrace" --target "redis://127.0.0.1:$port" \
        --json="$TMP/$name.json" -q "$@" > "$TMP/$name.out" 2> "$TMP/$name.err"
    echo "$name: exit $? ($(tail -n 1 "$TMP/$name.err"))"
    # (the killed server's "Killed" notice is the shell's, not a failure)
    wait "$killer"
    RX_PIDS="$RX_PIDS $(cat "$TMP/$name.pid2" 2> /dev/null)"
    RUN_PORT=$port
    jq -c '.timeline[] | [.t_s, .ops, .hits, .misses, .errors, .p99_us]' "$TMP/$name.json" | tr '\n' ' '
    echo
    jq -c '.disruption' "$TMP/$name.json"
}

# ---- with --read-through --------------------------------------------------------------------------
run rt --read-through
J=$TMP/rt.json
check_eq "rt: a disruption was found" true "$(jq '.disruption != null' "$J")"
check_eq "rt: the timeline's misses add up to the run's" "$(jq .divergence.misses "$J")" \
    "$(jq '[.timeline[].misses] | add' "$J")"
check_eq "rt: the timeline's hits add up to the run's" "$(jq .hits "$J")" \
    "$(jq '[.timeline[].hits] | add' "$J")"
check_eq "rt: no misses before the restart (primed)" 0 \
    "$(jq '[.timeline[] | select(.t_s < 2.5) | .misses] | add' "$J")"
# the spike: some second after the restart misses more than a tenth of its reads
check_eq "rt: misses spike after the restart" true \
    "$(jq '[.timeline[] | select(.t_s > 3 and .misses > 0.1 * .ops)] | length > 0' "$J")"
check_eq "rt: warmup_s reported" true "$(jq '.disruption.warmup_s | type == "number"' "$J")"
check_eq "rt: warm before the run ends" true \
    "$(jq '.disruption.from_s + .disruption.warmup_s < (.timeline | last | .t_s)' "$J")"
check_eq "rt: the last second misses under 1% of its reads" true \
    "$(jq '.timeline | map(select(.ops > 1000)) | last | .misses <= 0.01 * .ops' "$J")"
# the extra misses: each second's misses from the window's start to warm, less what the seconds
# before the window missed at their rate (misses_before_per_s times the second's length; zero
# unless the restart's first misses fell before the window opened, as on a slow ASan start-up),
# rounded to the nearest
check_eq "rt: extra misses = the misses from the disruption to warm, less the rate before" \
    "$(jq '.disruption as $d | .timeline as $t | [range(0; $t | length) as $i | $t[$i] |
        select(.t_s > $d.from_s and .t_s <= $d.from_s + $d.warmup_s + 0.01) |
        ($d.misses_before_per_s * (.t_s - (if $i > 0 then $t[$i - 1].t_s else 0 end))) as $base |
        if .misses > $base then (.misses - $base + 0.5 | floor) else 0 end] | add' "$J")" \
    "$(jq .disruption.extra_misses "$J")"
check_eq "rt: every miss written back" "$(jq .divergence.misses "$J")" \
    "$(jq '.read_through.written + .read_through.skipped' "$J")"
check_eq "rt: none refused" 0 "$(jq .read_through.refused "$J")"
# the restarted server's own count: SET calls = the trace's SETs sent after the restart plus the
# write-backs made after it (all but a handful are); at least the write-backs of the storm
SETS=$(rcli "$RUN_PORT" INFO commandstats | awk -F'[:=,]' '/^cmdstat_set:/ {print $3}')
check_eq "rt: the server counted the write-backs (INFO commandstats)" true \
    "$([ "${SETS:-0}" -ge "$(jq .disruption.extra_misses "$J")" ] && echo true || echo false)"
check_match "rt: the text says how long the warm-up took" "warmed up [0-9.]+ s after its start" \
    "$(cat "$TMP/rt.out")"
# (requests in flight at the kill are lost, and the exit says so; between two requests none is)
if [ "$(jq .lost "$J")" -gt 0 ]; then
    check_match "rt: the exit names what the restart cost" "lost with their connection" \
        "$(tail -n 1 "$TMP/rt.err")"
fi

# ---- without it: the misses never end ------------------------------------------------------------
run cold
J=$TMP/cold.json
# (the window is the restart's storm even where a busy host made a p99 spike before it: CI's
# once did; check_replay.c's disruption cases hold that ranking). The restart is where the
# timeline first shows errors or misses above 1% of its replies (the storm's floor in
# replay/disrupt.c; the cache was primed, so nothing missed before: a kill landing late in a
# second leaves that second only a few percent of misses, as in one CI run, 121 of 1,987). The
# kill lands 3 s of wall time after the replay was started, a little earlier in its own time
# when its start-up was slow, as under ASan: the window holds that second and begins at most
# one second before it (a spike in the second just before is contiguous with the storm, and
# CI's ASan run once merged one), not at the run's start.
check_eq "cold: the window holds the restart (3 s in), not the seconds before" true \
    "$(jq '(.timeline | map(select(.errors > 0 or .misses > 0.01 * .ops)) | first | .t_s) as $e |
        .disruption | .from_s > 0.5 and .from_s >= $e - 2.05 and .from_s < $e and .to_s >= $e
        and $e > 2 and $e < 4.2' "$J")"
check_eq "cold: not warmed up" null "$(jq .disruption.warmup_s "$J")"
check_eq "cold: every read of the last full second misses" true \
    "$(jq '.timeline | map(select(.ops > 1000)) | last | .misses >= 0.99 * .ops' "$J")"
check_eq "cold: far more misses than with --read-through" true \
    "$(jq --slurpfile rt "$TMP/rt.json" '.divergence.misses > 5 * $rt[0].divergence.misses' "$J")"
check_eq "cold: no read_through" null "$(jq .read_through "$J")"
check_match "cold: the text says so" "not warmed up when the run ended" "$(cat "$TMP/cold.out")"
finish
