#!/usr/bin/env bash
# test_replay_scale.sh: growth as more users (issue 16). A trace of 4 request/response loops
# (loop_client.py: SET or GET of 10,000 keys, each SET followed by WAIT 1 2: the server, with no
# replica, holds that reply 2 ms without working, as a durable service holds a write until its
# log has it; --hz 500 so that the server looks at the timeout every 2 ms) recorded live. `--scale 3` replayed into a fresh server: the server ends with 3x the original's keys
# (within 5%) and counted 3x the trace's SETs and GETs (INFO commandstats); copy i's keys are
# the originals with "~i" (at the end of the key, or of its hash tag). Then, on one server, a
# speed sweep and a scale sweep with the same SLO: loops cannot go faster than their round
# trips (here the 2 ms WAITs), so the speed sweep breaks early (its users slip behind their
# pace); the scale sweep, more users at the recorded pace, reports a headroom at least twice
# the speed sweep's.
. "$(dirname "$0")/lib.sh"

start_redis_x --hz 500; A=$RX_PORT
start_recorder "$A" "$TMP/loops.rtrace"; check_eq "trace created" 0 $?
python3 "$SRC/tests/cli/loop_client.py" "$A" 3 4 0 10000 2 > "$TMP/app.out"
# and a few keys with hash tags, MSET across two of them (one slot)
rcli "$A" MSET '{user:1}:cart' c1 '{user:1}:profile' p1 > /dev/null
rcli "$A" SET 'plain' x > /dev/null
stop_recorder; check_eq "recorder exit" 0 $?
KEYS=$(rcli "$A" DBSIZE)
"$RT" cat "$TMP/loops.rtrace" --format jsonl > "$TMP/loops.jsonl"
SETS=$(jq -s '[.[] | select(.event == "request" and .cmd == "SET")] | length' "$TMP/loops.jsonl")
GETS=$(jq -s '[.[] | select(.event == "request" and .cmd == "GET")] | length' "$TMP/loops.jsonl")
WAITS=$(jq -s '[.[] | select(.event == "request" and .cmd == "WAIT")] | length' "$TMP/loops.jsonl")
echo "recorded: $(cat "$TMP/app.out"); $KEYS keys, $SETS SET, $GETS GET"

# ---- --scale 3 ---------------------------------------------------------------------------------
start_redis_x --hz 500; S=$RX_PORT
"$RT" replay "$TMP/loops.rtrace" --target "redis://127.0.0.1:$S" --scale 3 --speed max \
    --json="$TMP/s3.json" -q > "$TMP/s3.out" 2> "$TMP/s3.err"
check_eq "--scale 3: exit 0" 0 $?
GOT=$(rcli "$S" DBSIZE)
echo "--scale 3: $GOT keys (original $KEYS)"
check_eq "--scale 3: 3x the keys (within 5%)" 1 \
    "$(awk -v g="$GOT" -v k="$KEYS" 'BEGIN { print (g >= 2.85 * k && g <= 3.15 * k) }')"
cstat() { rcli "$S" INFO commandstats | awk -F'[:=,]' -v c="cmdstat_$1" '$1 == c {print $3}'; }
check_eq "--scale 3: the server counted 3x the trace's SETs" "$((3 * SETS))" "$(cstat set)"
check_eq "--scale 3: the server counted 3x the trace's GETs" "$((3 * GETS))" "$(cstat get)"
check_eq "--scale 3: and 3x its WAITs" "$((3 * WAITS))" "$(cstat wait)"
check_eq "--scale 3: the JSON says 3 copies" 3 "$(jq .scale "$TMP/s3.json")"
check_eq "--scale 3: every key placed" 0 "$(jq .scale_unkeyed "$TMP/s3.json")"
check_eq "--scale 3: copy 2 of a plain key" x "$(rcli "$S" GET 'plain~2')"
check_eq "--scale 3: copy 1 inside the hash tag" c1 "$(rcli "$S" GET '{user:1~1}:cart')"
check_eq "--scale 3: its MSET partner too" p1 "$(rcli "$S" GET '{user:1~1}:profile')"
check_eq "--scale 3: copy 0 keeps the recorded keys" c1 "$(rcli "$S" GET '{user:1}:cart')"
check_match "--scale 3: the table says so" "^scale: 3 copies" "$(cat "$TMP/s3.out")"
"$RT" replay "$TMP/loops.rtrace" --scale 2.5 2> "$TMP/bad.err"
check_eq "--scale takes whole copies" 2 $?

# ---- the speed sweep and the scale sweep, one server, one SLO -------------------------------------
start_redis_x --hz 500; W=$RX_PORT
# (up to 3 attempts: on a busy 2-core machine, another test beside this one, a step can break on
# a p99 spike past the SLO before the loops' slip shows; the slip is what this checks)
slipped() {
    jq '[.steps[] | select(.held == false) | .why | test("could not keep their pace")] | any' \
        "$TMP/speed.json" 2> /dev/null
}
for attempt in 1 2 3; do
    rcli "$W" FLUSHALL > /dev/null
    "$RT" replay "$TMP/loops.rtrace" --target "redis://127.0.0.1:$W" --sweep 1,2,4 --slo 'p99<20ms' \
        --json="$TMP/speed.json" > "$TMP/speed.out" 2> "$TMP/speed.err"
    src=$?
    [ $src = 0 ] && [ "$(slipped)" = true ] && break
    echo "speed sweep, attempt $attempt: exit $src, no step broke on the loops' slip, again"
    grep -E '^speed' "$TMP/speed.out"
done
check_eq "speed sweep: exit 0" 0 $src
grep -E '^speed|serves|does not' "$TMP/speed.out"
SPEED=$(jq '.max_speed_held // 0' "$TMP/speed.json")
# (up to 3 attempts: under ASan the replayer's own CPU per request makes 8 loops slip on a
# busy 2-core machine: a 1x step once slipped past the bound, 3.81 s for a 3.03 s trace, and a
# 2x step once took 4.78 s for 4.04 s, where release builds hold 8x)
for attempt in 1 2 3; do
    rcli "$W" FLUSHALL > /dev/null
    "$RT" replay "$TMP/loops.rtrace" --target "redis://127.0.0.1:$W" --sweep 1,2,4,8 --sweep-by scale \
        --slo 'p99<20ms' --json="$TMP/scale.json" > "$TMP/scale.out" 2> "$TMP/scale.err"
    rc=$?
    SCALE=$(jq '.max_scale_held // 0' "$TMP/scale.json")
    [ "$(awk -v a="$SCALE" -v b="$SPEED" 'BEGIN { print (a >= 2 && a >= 2 * b) }')" = 1 ] && break
    echo "scale sweep, attempt $attempt: held ${SCALE}x the users, again"
    grep -E '^users' "$TMP/scale.out"
done
check_eq "scale sweep: exit 0" 0 $rc
grep -E '^users|serves|does not' "$TMP/scale.out"
check_eq "speed sweep: the loops slipped (why it broke)" true "$(slipped)"
check_eq "scale sweep: sweep_by scale" scale "$(jq -r .sweep_by "$TMP/scale.json")"
check_match "scale sweep: says how many users" "serves [0-9]+x the recorded users at p99<20ms" \
    "$(cat "$TMP/scale.out")"
# (the speed sweep may break at its first step already: on a loaded machine, under ASan, the
# loops' slip passed the bound at 1x once, 3.71 s for a 3.04 s trace: then it held no speed,
# and the scale sweep must still hold at least 2x the users)
check_eq "scale sweep: headroom ($SCALE x) at least twice the speed sweep's ($SPEED x), and 2x" 1 \
    "$(awk -v a="$SCALE" -v b="$SPEED" 'BEGIN { print (a >= 2 && a >= 2 * b) }')"
# each scale step sent scale x the trace's requests
check_eq "scale sweep: each step sent its copies' requests" true \
    "$(jq --argjson n "$(jq .requests "$TMP/s3.json")" \
        '[.steps[] | .result.requests == (.scale * $n / 3)] | all' "$TMP/scale.json")"
"$RT" replay "$TMP/loops.rtrace" --sweep 1,2.5 --sweep-by scale --slo 'p99<20ms' 2> "$TMP/bad.err"
check_eq "--sweep-by scale takes whole numbers" 2 $?
finish
