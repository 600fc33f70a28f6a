#!/usr/bin/env bash
# test_replay_failures.sh: a replay that did not do its job exits non-zero and says why in one
# line; error replies are shown by message; the preflight names a bad target before anything is
# sent; a misbehaving target costs bounded memory and no nonsense figures.
# - a target frozen (SIGSTOP) or gone silent (CLIENT PAUSE) mid-replay: exit 1, "stopped
#   answering", the stall inside the disruption window (the killed-for-good target is in
#   test_replay_faults.sh)
# - a full target (maxmemory, OOM): exit 0 (error replies are answers), the OOM message and its
#   count under the table and in the JSON, overall and per command
# - NOAUTH without credentials, a wrong password, /99 on a 16-database server, an HTTP server, a
#   missing trace, an unwritable JSON path: exit 1 within 2 s, named, nothing written
# - a target that sends replies before any request: counted as protocol errors, latencies sane
# - a target sending 128 MiB replies, a trace of 3,000 SETs of 120 kB values: peak RSS bounded
# - --from past the end: nothing to replay, said so, exit 0
. "$(dirname "$0")/lib.sh"
GEN=$(dirname "$RT")/make_paced_trace
FAKE=$SRC/tests/cli/fake_server.py
BG_PIDS=""
cleanup_f() {
    local p
    for p in $BG_PIDS; do kill -CONT "$p" 2> /dev/null; kill "$p" 2> /dev/null; done
    cleanup_x
}
trap cleanup_f EXIT
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# last_line FILE: the last "resptrace replay: " line of FILE (not the throwaway server's)
last_line() { grep '^resptrace replay: ' "$1" | grep -v throwaway | tail -n 1; }
# fake MODE [ARG]: a fake_server.py in the background; sets FK_PORT
fake() {
    rm -f "$TMP/fk.port"
    python3 "$FAKE" "$1" "$TMP/fk.port" "${2:-0}" &
    BG_PIDS="$BG_PIDS $!"
    for _ in $(seq 1 50); do [ -s "$TMP/fk.port" ] && break; sleep 0.1; done
    FK_PORT=$(cat "$TMP/fk.port")
}
maxrss_kib() { awk '/^MAXRSS/ {print $2}' "$1"; }
# the memory bounds hold for the plain build; a sanitizer build (shadow memory, quarantine)
# runs the same replays without them
SANITIZED=0
if ldd "$RT" 2> /dev/null | grep -Eq 'libasan|libubsan'; then SANITIZED=1; fi

"$GEN" "$TMP/p.rtrace" 6 100 2 INCR ctr; check_eq "paced trace" 0 $?

# ---- a target frozen with SIGSTOP 1.5 s in ---------------------------------------------------
start_redis_x; F=$RX_PORT; FPID=$RX_PID
t0=$(now_ms)
timeout -s KILL 60 "$RT" replay "$TMP/p.rtrace" --speed 1 --target "redis://127.0.0.1:$F" \
    --stall-timeout 3 --json="$TMP/frozen.json" -q > "$TMP/frozen.out" 2> "$TMP/frozen.err" &
rp=$!
sleep 1.5
kill -STOP "$FPID"
wait $rp; rc=$?; t1=$(now_ms)
kill -CONT "$FPID"
check_eq "frozen target: exit 1" 1 "$rc"
check_eq "frozen target: ends within 15 s" 1 "$(( t1 - t0 < 15000 ))"
check_match "frozen target: one line says it stopped answering" \
    "^resptrace replay: [0-9]+ of 600 requests were not answered:.*stopped answering" "$(last_line "$TMP/frozen.err")"
check_eq "frozen target: stalled in the JSON" true "$(jq .stalled "$TMP/frozen.json")"
check_eq "frozen target: not_answered > 0" 1 "$(( $(jnum "$TMP/frozen.json" .not_answered) > 0 ))"
check_eq "frozen target: every request accounted for" 600 \
    "$(jnum "$TMP/frozen.json" '.ops + .skipped + .lost + .unanswered + .unsent + .unread + .cut + .skipped_by.unreachable')"
# the stall (from about 1.6 s) is inside the disruption window
check_eq "frozen target: the disruption window starts by the stall" true \
    "$(jq '.disruption != null and .disruption.from_s <= 2.5 and .disruption.to_s >= 2.5' "$TMP/frozen.json")"

# ---- a target gone silent after about 50 replies (CLIENT PAUSE) --------------------------------
start_redis_x; S=$RX_PORT
timeout -s KILL 60 "$RT" replay "$TMP/p.rtrace" --speed 1 --target "redis://127.0.0.1:$S" \
    --stall-timeout 3 --json="$TMP/silent.json" -q > "$TMP/silent.out" 2> "$TMP/silent.err" &
rp=$!
sleep 0.35
rcli "$S" CLIENT PAUSE 30000 ALL > /dev/null
wait $rp; rc=$?
check_eq "silent target: exit 1" 1 "$rc"
check_match "silent target: says so" "stopped answering" "$(last_line "$TMP/silent.err")"
check_eq "silent target: some answered before" 1 "$(( $(jnum "$TMP/silent.json" .ops) > 10 ))"
rcli "$S" CLIENT UNPAUSE > /dev/null

# ---- a full target: the OOM message under the table and in the JSON -----------------------------
start_redis_x --maxmemory 2mb --maxmemory-policy noeviction; O=$RX_PORT
"$GEN" "$TMP/oom.rtrace" 1 400 1 RPUSH biglist "$(head -c 8000 /dev/zero | tr '\0' v)"
"$RT" replay "$TMP/oom.rtrace" --speed max --target "redis://127.0.0.1:$O" --json="$TMP/oom.json" -q \
    > "$TMP/oom.out" 2> "$TMP/oom.err"
check_eq "OOM target: exit 0 (error replies are answers)" 0 $?
OERR=$(jnum "$TMP/oom.json" .errors)
check_eq "OOM target: errors" 1 "$(( OERR > 100 ))"
check_match "OOM target: the message is shown under the table" \
    "^ +$OERR  OOM command not allowed when used memory > 'maxmemory'" "$(cat "$TMP/oom.out")"
check_eq "OOM target: error_messages in the JSON" \
    "$OERR" "$(jq '[.error_messages[] | select(.message | startswith("OOM command not allowed")) | .count] | add' "$TMP/oom.json")"
check_eq "OOM target: per command" \
    "$OERR" "$(jq '.commands.rpush.error_messages[0].count' "$TMP/oom.json")"
check_eq "OOM target: the server refused as many (INFO errorstats)" \
    "$OERR" "$(rcli "$O" INFO errorstats | awk -F'[=,]' '/^errorstat_OOM/ {print $2}')"

# ---- NOAUTH, a wrong password, a database that does not exist -----------------------------------
start_redis_x --requirepass sekret; A=$RX_PORT
t0=$(now_ms)
"$RT" replay "$TMP/p.rtrace" --target "redis://127.0.0.1:$A" -q > "$TMP/na.out" 2> "$TMP/na.err"
rc=$?; t1=$(now_ms)
check_eq "NOAUTH: exit 1" 1 "$rc"
check_match "NOAUTH: said" "requires authentication \(NOAUTH\)" "$(last_line "$TMP/na.err")"
check_eq "NOAUTH: within 2 s" 1 "$(( t1 - t0 < 2000 ))"
check_eq "NOAUTH: nothing written" 0 "$(redis-cli -h 127.0.0.1 -p "$A" -a sekret --no-auth-warning DBSIZE)"
RESPTRACE_PASS=wrong "$RT" replay "$TMP/p.rtrace" --target "redis://127.0.0.1:$A" -q > /dev/null 2> "$TMP/wp.err"
check_eq "wrong password: exit 1" 1 $?
check_match "wrong password: AUTH refused" "refused AUTH: WRONGPASS" "$(last_line "$TMP/wp.err")"
check_eq "a password from the environment: no warning" 0 "$(grep -c 'Warning' "$TMP/wp.err")"
"$RT" replay "$TMP/p.rtrace" --target "redis://127.0.0.1:$A" --pass wrong -q > /dev/null 2> "$TMP/wp2.err"
check_match "--pass on the command line: the redis-cli warning" "Warning: a password given with --pass.*RESPTRACE_PASS" "$(cat "$TMP/wp2.err")"
start_redis_x; D=$RX_PORT
"$RT" replay "$TMP/p.rtrace" --target "redis://127.0.0.1:$D/99" -q > /dev/null 2> "$TMP/db.err"
check_eq "/99 on 16 databases: exit 1" 1 $?
check_match "/99: the refused SELECT is named" "refused SELECT 99.*DB index is out of range" "$(last_line "$TMP/db.err")"
check_eq "/99: nothing written to db 0" 0 "$(rcli "$D" DBSIZE)"

# ---- not a Redis server; a bad trace or output: said before anything is sent -------------------
fake http; H=$FK_PORT
t0=$(now_ms)
"$RT" replay "$TMP/p.rtrace" --target "redis://127.0.0.1:$H" -q > /dev/null 2> "$TMP/http.err"
rc=$?; t1=$(now_ms)
check_eq "HTTP server: exit 1" 1 "$rc"
check_match "HTTP server: named for what it is" 'does not speak RESP: it answered PING with "HTTP/1.1 400 Bad Request" \(an HTTP server\)' "$(last_line "$TMP/http.err")"
check_eq "HTTP server: within a second" 1 "$(( t1 - t0 < 1000 ))"
"$RT" replay "$TMP/missing.rtrace" --target "redis://127.0.0.1:$D" -q > /dev/null 2> "$TMP/mt.err"
check_eq "missing trace: exit 1" 1 $?
check_match "missing trace: named" "missing\.rtrace" "$(cat "$TMP/mt.err")"
"$RT" replay "$TMP/p.rtrace" --target "redis://127.0.0.1:$D" --json="$TMP/nodir/r.json" -q > /dev/null 2> "$TMP/jd.err"
check_eq "unwritable JSON path: exit 1" 1 $?
check_match "unwritable JSON path: named" "nodir/r\.json" "$(cat "$TMP/jd.err")"
check_eq "unwritable JSON path: nothing sent" 0 "$(rcli "$D" DBSIZE)"
"$RT" replay "$TMP/p.rtrace" --target "redis://127.0.0.1:$D" --json="$TMP/p.rtrace" -q > /dev/null 2> "$TMP/ji.err"
check_eq "JSON over the trace: refused" 1 $?
check_eq "JSON over the trace: the trace is intact" 600 "$("$RT" info --json "$TMP/p.rtrace" | jq .requests)"
"$RT" replay "$TMP/p.rtrace" --frobnicate 2> "$TMP/us.err"
check_eq "usage error: exit 2" 2 $?
check_eq "usage error: two lines (the problem, where to look)" 2 "$(wc -l < "$TMP/us.err")"
check_match "usage error: points to --help" "see 'resptrace replay --help'" "$(cat "$TMP/us.err")"
check_eq "help fits 80 columns" 0 "$("$RT" replay --help | awk 'length($0) > 79' | wc -l)"

# ---- --from past the end --------------------------------------------------------------------------
"$RT" replay "$TMP/p.rtrace" --target "redis://127.0.0.1:$D" --from +1000 -q > /dev/null 2> "$TMP/from.err"
check_eq "--from past the end: exit 0" 0 $?
check_match "--from past the end: said" "select no request" "$(cat "$TMP/from.err")"

# ---- replies before any request ------------------------------------------------------------------
fake early 3; E=$FK_PORT
"$GEN" "$TMP/e.rtrace" 1 20 1 SET k v
"$RT" replay "$TMP/e.rtrace" --speed 1 --target "redis://127.0.0.1:$E" --json="$TMP/early.json" -q \
    > /dev/null 2> "$TMP/early.err"
check_eq "early replies: exit 0 (every request answered)" 0 $?
check_eq "early replies: counted as protocol errors" 3 "$(jnum "$TMP/early.json" .protocol_errors)"
check_eq "early replies: ops" 20 "$(jnum "$TMP/early.json" .ops)"
check_eq "early replies: no latency below zero (max under 1 s)" true \
    "$(jq '.latency_us.max < 1000000 and .service_time_us.max < 1000000' "$TMP/early.json")"

# ---- a malformed request: skipped and counted, or sent as it was -------------------------------
start_redis_x; M=$RX_PORT
start_recorder "$M" "$TMP/m.rtrace"; check_eq "malformed: trace created" 0 $?
{
    exec 3<> "/dev/tcp/127.0.0.1/$M"
    printf 'SET good 1\r\n' >&3
    sleep 0.2
    printf 'SET bad1 "unclosed double quotes\r\n' >&3
    sleep 0.3
    exec 3>&-
}
stop_recorder; check_eq "malformed: recorder exit" 0 $?
start_redis_x; M2=$RX_PORT
"$RT" replay "$TMP/m.rtrace" --target "redis://127.0.0.1:$M2" --json="$TMP/m1.json" -q > /dev/null 2> "$TMP/m1.err"
check_eq "malformed: exit 0" 0 $?
check_eq "malformed: skipped and counted" 1 "$(jnum "$TMP/m1.json" .skipped_by.malformed)"
check_eq "malformed: the good request ran" 1 "$(rcli "$M2" GET good)"
"$RT" replay "$TMP/m.rtrace" --target "redis://127.0.0.1:$M2" --send-malformed --json="$TMP/m2.json" -q \
    > /dev/null 2> "$TMP/m2.err"
check_eq "--send-malformed: exit 0 (answered, with the server's error)" 0 $?
check_match "--send-malformed: the server's protocol error is shown" "Protocol error: unbalanced quotes" \
    "$(jq -r '.error_messages[].message' "$TMP/m2.json")"

# ---- bounded memory: very large replies, very large requests -----------------------------------
fake huge 134217728; G=$FK_PORT
"$GEN" "$TMP/g.rtrace" 1 4 2 GET k
/usr/bin/time -f "MAXRSS %M" -o "$TMP/g.time" "$RT" replay "$TMP/g.rtrace" --speed max \
    --target "redis://127.0.0.1:$G" --json="$TMP/g.json" -q > /dev/null 2> "$TMP/g.err"
check_eq "128 MiB replies: exit 0" 0 $?
check_eq "128 MiB replies: all four answered as bulk strings" 4 "$(jnum "$TMP/g.json" .ops)"
echo "128 MiB replies x 4 on 2 connections: peak RSS $(maxrss_kib "$TMP/g.time") KiB"
[ "$SANITIZED" = 1 ] ||
    check_eq "128 MiB replies: peak RSS under 64 MiB" 1 "$(( $(maxrss_kib "$TMP/g.time") < 65536 ))"
"$GEN" "$TMP/v.rtrace" 1 3000 1 SET bigkey "$(head -c 120000 /dev/zero | tr '\0' x)"
echo "3,000 SETs of 120 kB: the trace takes $(stat -c %s "$TMP/v.rtrace") bytes"
start_redis_x; V=$RX_PORT
/usr/bin/time -f "MAXRSS %M" -o "$TMP/v.time" "$RT" replay "$TMP/v.rtrace" --speed max \
    --target "redis://127.0.0.1:$V" --json="$TMP/v.json" -q > /dev/null 2> "$TMP/v.err"
check_eq "large requests: exit 0" 0 $?
check_eq "large requests: all sent and answered" 3000 "$(jnum "$TMP/v.json" .ops)"
echo "360 MB of requests read ahead: peak RSS $(maxrss_kib "$TMP/v.time") KiB"
[ "$SANITIZED" = 1 ] ||
    check_eq "large requests: peak RSS under 160 MiB (the read-ahead is bounded in bytes)" 1 \
        "$(( $(maxrss_kib "$TMP/v.time") < 163840 ))"
finish
