#!/usr/bin/env bash
# test_replay.sh: `resptrace replay` against real redis-servers: a live-recorded workload
# replayed into a fresh server ends in the same dataset (DEBUG DIGEST), the JSON report,
# the embedded throwaway server, divergence, the safety filter (unsafe commands, --allow,
# --read-only, --key-prefix), an unreachable target, and AUTH replacement.
. "$(dirname "$0")/lib.sh"
DBG=(--enable-debug-command local)
EMPTY_DIGEST=0000000000000000000000000000000000000000
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# no_crash WHAT STDERR-FILE: the command reported its error instead of crashing (an ASan build
# exits 1 on a crash, so the exit status alone does not tell)
no_crash() { check_eq "$1: no crash" "" "$(grep -E 'Sanitizer|runtime error|Segmentation|core dumped' "$2" | head -1)"; }

# ---- fidelity: a redis-benchmark + redis-cli workload, recorded live on A ----------------
start_redis_x "${DBG[@]}"; A=$RX_PORT
start_recorder "$A" "$TMP/a.rtrace"; check_eq "live trace created" 0 $?
for p in 1 16; do
    redis-benchmark -h 127.0.0.1 -p "$A" -c 1 -n 1000 -r 1000 -d 16 -P "$p" \
        -t set,incr,lpush,sadd,hset,mset -q > /dev/null
done
# binary values: CR LF, NUL, high bytes, and a larger random blob
printf 'a\r\nb\0c\377\r\n' > "$TMP/b1"
head -c 5000 /dev/urandom > "$TMP/b2"
redis-cli -h 127.0.0.1 -p "$A" -x SET bin1 < "$TMP/b1" > /dev/null
redis-cli -h 127.0.0.1 -p "$A" -x SET bin2 < "$TMP/b2" > /dev/null
redis-cli -h 127.0.0.1 -p "$A" -x HSET binh f < "$TMP/b2" > /dev/null
redis-cli -h 127.0.0.1 -p "$A" -x RPUSH binl < "$TMP/b1" > /dev/null
stop_recorder; check_eq "recorder exit" 0 $?
# what A executed while recorded: every command but the readiness PING and INFO (lib.sh asks
# a server it started for its process id)
CALLS=$(rcli "$A" INFO commandstats | grep -Ev '^cmdstat_(ping|info):' | sed -n 's/^cmdstat_[^:]*:calls=\([0-9]*\),.*/\1/p' | awk '{s += $1} END {print s + 0}')
DA=$(rcli "$A" DEBUG DIGEST)
check_match "digest of A" '^[0-9a-f]{40}$' "$DA"
check_eq "A's dataset is not empty" 1 "$([ "$DA" = "$EMPTY_DIGEST" ]; echo $?)"
check_eq "A: bin1 length" 9 "$(rcli "$A" STRLEN bin1)"
"$RT" info --json "$TMP/a.rtrace" > "$TMP/a.info"
REQS=$(jq .requests "$TMP/a.info")
# 6 tests x (1000 + 1008 with -P 16: whole pipelines) + 4 CONFIG GETs + 4 redis-cli
check_eq "trace requests = A's calls" "$CALLS" "$REQS"
check_eq "trace holds the workload" 12056 "$REQS"

start_redis_x "${DBG[@]}"; B=$RX_PORT
t0=$(now_ms)
"$RT" replay "$TMP/a.rtrace" --speed max --target "redis://127.0.0.1:$B" --json="$TMP/out.json" -q \
    > "$TMP/out.txt" 2> "$TMP/out.err"
check_eq "replay exit" 0 $?
WALL=$(( $(now_ms) - t0 ))
DB=$(rcli "$B" DEBUG DIGEST)
check_eq "B's digest equals A's" "$DA" "$DB"
check_eq "B: bin1 length" 9 "$(rcli "$B" STRLEN bin1)"
check_eq "B: bin2 length" 5000 "$(rcli "$B" STRLEN bin2)"
J=$TMP/out.json
check_eq "ops + skipped = the trace's requests" "$REQS" "$(jnum "$J" '.ops + .skipped')"
check_eq "JSON requests = the trace's requests" "$REQS" "$(jnum "$J" .requests)"
check_eq "errors" 0 "$(jnum "$J" .errors)"
check_eq "unanswered" 0 "$(jnum "$J" .unanswered)"
check_eq "redis-benchmark's CONFIG GETs skipped as unsafe" 1 "$(jq '.skipped_by.unsafe >= 1' "$J" | sed 's/true/1/;s/false/0/')"
check_eq "only unsafe commands skipped" "$(jnum "$J" .skipped_by.unsafe)" "$(jnum "$J" .skipped)"
check_eq "CONFIG never reached B" "" "$(rcli "$B" INFO commandstats | grep cmdstat_config)"
check_eq "B executed every SET" "$(jq -c 'select(.event=="request" and .cmd=="SET")' <("$RT" cat "$TMP/a.rtrace" --format jsonl) | wc -l)" \
    "$(rcli "$B" INFO commandstats | sed -n 's/^cmdstat_set:calls=\([0-9]*\),.*/\1/p')"

# --threads: the connections partitioned over two event loops; one connection's commands stay
# in one loop and in order, so the dataset is the same
start_redis_x "${DBG[@]}"; T2=$RX_PORT
"$RT" replay "$TMP/a.rtrace" --speed max --threads 2 --target "redis://127.0.0.1:$T2" \
    --json="$TMP/t2.json" -q > /dev/null 2>&1
check_eq "--threads 2 exit" 0 $?
check_eq "--threads 2: same ops" "$(jnum "$J" .ops)" "$(jnum "$TMP/t2.json" .ops)"
check_eq "--threads 2: same digest" "$DA" "$(rcli "$T2" DEBUG DIGEST)"
check_eq "divergence: nothing compared differs" "0 0 0" "$(jq -r '[.divergence.misses,.divergence.new_errors,.divergence.type_changed]|map(tostring)|join(" ")' "$J")"
check_eq "every reply compared" "$(jnum "$J" .ops)" "$(jnum "$J" .divergence.compared)"

# ---- the JSON report's fields ---------------------------------------------------------------
for f in .ops .errors .skipped .duration_s .divergence.misses .divergence.new_errors \
    .divergence.type_changed .connections.opened .connections.failures \
    .commands.set.ops .commands.set.latency_us.p99 .commands.mset.service_time_us.p50 \
    .commands.incr.divergence.misses; do
    check_eq "JSON $f is a number" number "$(jq -r "$f | type" "$J")"
done
for h in latency_us service_time_us lag_us; do
    for p in p50 p90 p99 p999 max; do
        check_eq "JSON .$h.$p is a number" number "$(jq -r ".$h.$p | type" "$J")"
    done
    check_eq "$h percentiles ordered" true "$(jq ".$h | .p50 <= .p90 and .p90 <= .p99 and .p99 <= .p999 and .p999 <= .max" "$J")"
done
check_eq "latency counts every op" "$(jnum "$J" .ops)" "$(jnum "$J" .latency_us.count)"
check_eq "latency is positive" true "$(jq '.latency_us.p50 > 0 and .service_time_us.p50 > 0' "$J")"
check_eq "duration_s positive and within the command's wall time (${WALL} ms)" true \
    "$(jq --argjson w "$WALL" '.duration_s > 0 and .duration_s * 1000 <= $w' "$J")"
# a small trace replayed at --speed max finishes quickly: its duration must still be sane
start_redis_x; H=$RX_PORT
t0=$(now_ms)
"$RT" replay "$SRC/traces/sample-cache.rtrace" --speed max --target "redis://127.0.0.1:$H" \
    --json="$TMP/sc.json" -q > "$TMP/sc.txt" 2>&1
check_eq "sample-cache replay exit" 0 $?
WALL=$(( $(now_ms) - t0 ))
check_eq "sample-cache: all 2000 answered" 2000 "$(jnum "$TMP/sc.json" .ops)"
check_eq "sample-cache: duration_s ($(jq .duration_s "$TMP/sc.json") s) within the wall time (${WALL} ms)" true \
    "$(jq --argjson w "$WALL" '.duration_s > 0 and .duration_s * 1000 <= $w' "$TMP/sc.json")"
check_eq "sample-cache: ops_per_s at least ops per wall second" true \
    "$(jq --argjson w "$WALL" '.ops_per_s >= .ops / ($w / 1000) and .ops_per_s < 1e8' "$TMP/sc.json")"
kill "$RX_PID"
check_eq "per-command ops add up" "$(jnum "$J" .ops)" "$(jnum "$J" '[.commands[].ops]|add')"

# ---- no --target: the embedded throwaway redis-server --------------------------------------
timeout 60 "$RT" replay "$TMP/a.rtrace" --speed max -q --json="$TMP/emb.json" > /dev/null 2> "$TMP/emb.err"
check_eq "embedded replay exit" 0 $?
EP=$(sed -n 's/.*throwaway redis-server on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/emb.err" | head -1)
check_match "embedded server port on stderr" '^[0-9]+$' "$EP"
check_eq "embedded: ops" "$(jnum "$J" .ops)" "$(jnum "$TMP/emb.json" .ops)"
check_eq "embedded: errors" 0 "$(jnum "$TMP/emb.json" .errors)"
if [ -n "$EP" ]; then
    check_eq "embedded server gone" "" "$(pgrep -f "redis-server.*:$EP\b")"
    check_eq "embedded port closed" 1 "$(redis_ready "$EP" && echo 0 || echo 1)"
fi

# ---- divergence: GETs of recorded keys into an empty server ---------------------------------
start_redis_x; R=$RX_PORT
start_recorder "$R" "$TMP/d.rtrace"; check_eq "divergence trace created" 0 $?
# (three connections, 0.3 s apart: replays at --speed 1 keep them in order on a slow host)
for i in $(seq 1 50); do echo "SET k$i v$i"; done | redis-cli -h 127.0.0.1 -p "$R" > /dev/null
sleep 0.3
for i in $(seq 1 50); do echo "GET k$i"; done | redis-cli -h 127.0.0.1 -p "$R" > /dev/null
sleep 0.3
for i in $(seq 1 10); do echo "GET none$i"; done | redis-cli -h 127.0.0.1 -p "$R" > /dev/null
stop_recorder; check_eq "recorder exit (divergence)" 0 $?
"$RT" cat "$TMP/d.rtrace" --format jsonl > "$TMP/d.jsonl"
HIT=$(jq -c 'select(.event=="request" and .cmd=="GET" and .reply.type!="null")' "$TMP/d.jsonl" | wc -l)
check_eq "GETs with a value in the recording" 50 "$HIT"
start_redis_x; E=$RX_PORT
"$RT" replay "$TMP/d.rtrace" --speed max --target "redis://127.0.0.1:$E" --only get \
    --json="$TMP/d.json" -q > /dev/null 2>&1
check_eq "divergence replay exit" 0 $?
check_eq "misses = GETs that had values" "$HIT" "$(jnum "$TMP/d.json" .divergence.misses)"
check_eq "get misses" "$HIT" "$(jnum "$TMP/d.json" .commands.get.divergence.misses)"
check_eq "GETs sent" 60 "$(jnum "$TMP/d.json" .commands.get.ops)"
check_eq "SETs (and redis-cli's COMMAND DOCS) filtered by --only" \
    "$(jq -c 'select(.event=="request" and .cmd!="GET")' "$TMP/d.jsonl" | wc -l)" "$(jnum "$TMP/d.json" .skipped_by.filter)"
check_eq "nothing else skipped" "$(jnum "$TMP/d.json" .skipped_by.filter)" "$(jnum "$TMP/d.json" .skipped)"
check_eq "no new values" 0 "$(jnum "$TMP/d.json" .divergence.new_values)"
check_eq "--only get wrote nothing" 0 "$(rcli "$E" DBSIZE)"
# the full trace into the now-empty server: no misses
"$RT" replay "$TMP/d.rtrace" --speed 1 --target "redis://127.0.0.1:$E" --json="$TMP/d2.json" -q > /dev/null 2>&1
check_eq "full replay: no misses" 0 "$(jnum "$TMP/d2.json" .divergence.misses)"
check_eq "full replay: keys written" 50 "$(rcli "$E" DBSIZE)"

# ---- --read-only and --key-prefix -------------------------------------------------------------
start_redis_x; F=$RX_PORT
"$RT" replay "$TMP/d.rtrace" --speed max --target "redis://127.0.0.1:$F" --read-only \
    --json="$TMP/ro.json" -q > /dev/null 2>&1
check_eq "read-only replay exit" 0 $?
check_eq "read-only: SETs skipped" 50 "$(jnum "$TMP/ro.json" .skipped_by.read_only)"
check_eq "read-only: GETs sent" 60 "$(jnum "$TMP/ro.json" .commands.get.ops)"
check_eq "read-only: nothing written" 0 "$(rcli "$F" DBSIZE)"
"$RT" replay "$TMP/d.rtrace" --speed 1 --target "redis://127.0.0.1:$F" --key-prefix p: \
    --json="$TMP/kp.json" -q > /dev/null 2>&1
check_eq "key-prefix replay exit" 0 $?
check_eq "key-prefix: nothing skipped for unknown keys" 0 "$(jnum "$TMP/kp.json" .skipped_by.keys)"
check_eq "key-prefix: p:k1 exists" 1 "$(rcli "$F" EXISTS p:k1)"
check_eq "key-prefix: p:k50 holds its value" v50 "$(rcli "$F" GET p:k50)"
check_eq "key-prefix: k1 does not" 0 "$(rcli "$F" EXISTS k1)"
check_eq "key-prefix: no misses (GETs read the prefixed keys)" 0 "$(jnum "$TMP/kp.json" .divergence.misses)"

# the same with the key positions asked of the target (COMMAND GETKEYS), as for a command the
# table does not know: the same keys
start_redis_x; F2=$RX_PORT
RESPTRACE_KEYS_FROM_TARGET=1 "$RT" replay "$TMP/d.rtrace" --speed 1 --target "redis://127.0.0.1:$F2" \
    --key-prefix p: --json="$TMP/kp2.json" -q > /dev/null 2>&1
check_eq "GETKEYS replay exit" 0 $?
check_eq "GETKEYS: every prefixed request asked the target" "$(jnum "$TMP/kp.json" .sent)" "$(jnum "$TMP/kp2.json" .getkeys_asked)"
check_eq "GETKEYS: the same keys as from the table" "$(rcli "$F" KEYS '*' | sort | md5sum)" "$(rcli "$F2" KEYS '*' | sort | md5sum)"
check_eq "GETKEYS: p:k50 holds its value" v50 "$(rcli "$F2" GET p:k50)"
check_eq "GETKEYS: no misses" 0 "$(jnum "$TMP/kp2.json" .divergence.misses)"

# ---- safety: FLUSHALL in the trace ------------------------------------------------------------
start_recorder "$R" "$TMP/s.rtrace"; check_eq "safety trace created" 0 $?
rcli "$R" SET a 1 > /dev/null
sleep 0.3
rcli "$R" FLUSHALL > /dev/null
sleep 0.3
rcli "$R" SET c 3 > /dev/null
stop_recorder; check_eq "recorder exit (safety)" 0 $?
start_redis_x; G=$RX_PORT
rcli "$G" SET keep yes > /dev/null
"$RT" replay "$TMP/s.rtrace" --speed 1 --target "redis://127.0.0.1:$G" --json="$TMP/s.json" -q > /dev/null 2>&1
check_eq "safety replay exit" 0 $?
check_eq "FLUSHALL skipped: the key survives" yes "$(rcli "$G" GET keep)"
check_eq "FLUSHALL counted as unsafe" 1 "$(jnum "$TMP/s.json" .skipped_by.unsafe)"
check_eq "FLUSHALL never ran" "" "$(rcli "$G" INFO commandstats | grep cmdstat_flushall)"
check_eq "the SETs were sent" 2 "$(jnum "$TMP/s.json" .commands.set.ops)"
"$RT" replay "$TMP/s.rtrace" --speed 1 --target "redis://127.0.0.1:$G" --allow flushall \
    --json="$TMP/s2.json" -q > /dev/null 2>&1
check_eq "--allow replay exit" 0 $?
check_eq "--allow flushall: the key is gone" 0 "$(rcli "$G" EXISTS keep)"
check_eq "--allow flushall: nothing skipped" 0 "$(jnum "$TMP/s2.json" .skipped)"
check_match "--allow flushall: FLUSHALL ran once" 'cmdstat_flushall:calls=1,' "$(rcli "$G" INFO commandstats)"

# ---- an unreachable target ----------------------------------------------------------------------
for _ in $(seq 1 20); do CP=$((20000 + RANDOM % 40000)); redis_ready "$CP" || break; done
t0=$(now_ms)
timeout 30 "$RT" replay "$TMP/d.rtrace" --target "redis://127.0.0.1:$CP" -q > /dev/null 2> "$TMP/u.err"
rc=$?; t1=$(now_ms)
check_eq "unreachable target: exit 1" 1 "$rc"
no_crash "unreachable target" "$TMP/u.err"
check_eq "unreachable target: fails within 5 s" 1 "$(( t1 - t0 < 5000 ))"
check_match "unreachable target: message" "cannot connect" "$(cat "$TMP/u.err")"

# ---- a trace or a target that cannot be used: exit 1 with a message, never a crash -------------
"$RT" replay "$TMP/none.rtrace" --target "redis://127.0.0.1:$CP" -q > /dev/null 2> "$TMP/nt.err"
check_eq "missing trace: exit 1" 1 $?
no_crash "missing trace" "$TMP/nt.err"
check_match "missing trace: message" "none\.rtrace" "$(cat "$TMP/nt.err")"
echo "not a trace" > "$TMP/junk.rtrace"
"$RT" replay "$TMP/junk.rtrace" --target "redis://127.0.0.1:$CP" -q > /dev/null 2> "$TMP/jt.err"
check_eq "not a trace: exit 1" 1 $?
no_crash "not a trace" "$TMP/jt.err"
check_match "not a trace: message" "not a resptrace trace" "$(cat "$TMP/jt.err")"
timeout 30 "$RT" replay "$TMP/d.rtrace" --target "redis://no-such-host.invalid:6379" -q > /dev/null 2> "$TMP/nh.err"
check_eq "unresolvable host: exit 1" 1 $?
no_crash "unresolvable host" "$TMP/nh.err"
check_match "unresolvable host: message" "cannot resolve" "$(cat "$TMP/nh.err")"
"$RT" replay "$TMP/none.rtrace" -q > /dev/null 2> "$TMP/ne.err"
check_eq "missing trace, embedded server: exit 1" 1 $?
no_crash "missing trace, embedded server" "$TMP/ne.err"
EP=$(sed -n 's/.*throwaway redis-server on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/ne.err" | head -1)
[ -n "$EP" ] && check_eq "missing trace: the embedded server is stopped" "" "$(sleep 0.3; pgrep -f "redis-server.*:$EP\b")"

# ---- AUTH: the trace's AUTH replaced by the target's password -----------------------------------
# (--speed 1: the SET and the INCR are on two connections, which --speed max runs at once)
start_redis_x --requirepass rec-pass; RA=$RX_PORT
start_recorder "$RA" "$TMP/auth.rtrace"; check_eq "auth trace created" 0 $?
redis-cli -h 127.0.0.1 -p "$RA" -a rec-pass --no-auth-warning SET ak 1 > /dev/null
sleep 0.3
redis-cli -h 127.0.0.1 -p "$RA" -a rec-pass --no-auth-warning INCR ak > /dev/null
printf 'AUTH rec-pass\r\nSET ak2 x\r\nGET ak2\r\n' | redis-cli -h 127.0.0.1 -p "$RA" > /dev/null
stop_recorder; check_eq "recorder exit (auth)" 0 $?
check_eq "the recorded password is not in the trace" 0 "$("$RT" cat "$TMP/auth.rtrace" --format jsonl | grep -c rec-pass)"
check_eq "AUTH recorded" 1 "$(( $("$RT" cat "$TMP/auth.rtrace" --format jsonl | jq -c 'select(.event=="request" and .cmd=="AUTH")' | wc -l) >= 3 ))"
start_redis_x --requirepass s3cret; SA=$RX_PORT
"$RT" replay "$TMP/auth.rtrace" --speed 1 --target "redis://127.0.0.1:$SA" --pass s3cret \
    --json="$TMP/auth.json" -q > /dev/null 2> "$TMP/auth.err"
check_eq "--pass replay exit" 0 $?
check_eq "--pass: ops" 1 "$(( $(jnum "$TMP/auth.json" .ops) >= 4 ))"
check_eq "--pass: errors" 0 "$(jnum "$TMP/auth.json" .errors)"
check_eq "--pass: no new errors (the trace's AUTH sent with s3cret)" 0 "$(jnum "$TMP/auth.json" .divergence.new_errors)"
check_eq "--pass: the commands ran" 2 "$(rcli "$SA" -a s3cret --no-auth-warning GET ak)"
check_eq "--pass: the piped session ran" x "$(rcli "$SA" -a s3cret --no-auth-warning GET ak2)"
# the password in the URL works the same
rcli "$SA" -a s3cret --no-auth-warning FLUSHALL > /dev/null
"$RT" replay "$TMP/auth.rtrace" --speed 1 --target "redis://:s3cret@127.0.0.1:$SA" \
    --json="$TMP/auth2.json" -q > /dev/null 2>&1
check_eq "password in the URL: exit" 0 $?
check_eq "password in the URL: errors" 0 "$(jnum "$TMP/auth2.json" .errors)"
check_eq "password in the URL: ran" 2 "$(rcli "$SA" -a s3cret --no-auth-warning GET ak)"
t0=$(now_ms)
timeout 30 "$RT" replay "$TMP/auth.rtrace" --speed max --target "redis://127.0.0.1:$SA" --pass wrong \
    -q > /dev/null 2> "$TMP/auth3.err"
rc=$?; t1=$(now_ms)
check_eq "wrong password: exit 1" 1 "$rc"
no_crash "wrong password" "$TMP/auth3.err"
check_match "wrong password: message" "refused AUTH" "$(cat "$TMP/auth3.err")"
check_eq "wrong password: the password is not echoed" 0 "$(grep -c s3cret "$TMP/auth3.err")"
check_eq "wrong password: fails fast" 1 "$(( t1 - t0 < 10000 ))"
# an ACL user
rcli "$SA" -a s3cret --no-auth-warning ACL SETUSER rep on '>u-pass' '~*' '+@all' > /dev/null
rcli "$SA" -a s3cret --no-auth-warning FLUSHALL > /dev/null
"$RT" replay "$TMP/auth.rtrace" --speed 1 --target "redis://127.0.0.1:$SA" --user rep --pass u-pass \
    --json="$TMP/auth4.json" -q > /dev/null 2>&1
check_eq "ACL user: exit" 0 $?
check_eq "ACL user: errors" 0 "$(jnum "$TMP/auth4.json" .errors)"
check_eq "ACL user: ran" 2 "$(rcli "$SA" -a s3cret --no-auth-warning GET ak)"
finish
