#!/usr/bin/env bash
# test_samples.sh: the sample traces recorded by traces/make-samples.sh: each one reads in
# full (info --verify), holds the commands the script's clients sent (the redis-benchmark -n
# counts and the redis-cli loops), shows what its workload is about (misses, blocking pops
# that waited, WITHSCORES reads, sessions with a TTL), and replays into a fresh server with
# every request answered and no error.
. "$(dirname "$0")/lib.sh"
T=$SRC/traces

# counts COMMAND=N... of a trace, from `stat --json`
check_counts() {
    local f=$1 c name want
    shift
    "$RT" stat --json "$f" > "$TMP/stat.json"
    check_eq "$(basename "$f"): stat exit" 0 $?
    for c in "$@"; do
        name=${c%%=*} want=${c##*=}
        check_eq "$(basename "$f"): $name requests" "$want" \
            "$(jq -r --arg n "$name" '[.commands[] | select(.name==$n) | .count] | add // 0' "$TMP/stat.json")"
    done
}

for s in sample-cache-live sample-session sample-queue sample-leaderboard; do
    f=$T/$s.rtrace
    check_eq "$s exists" 1 "$([ -s "$f" ] && echo 1 || echo 0)"
    check_eq "$s is under 300 KB" 1 "$(( $(stat -c %s "$f") < 300000 ))"
    "$RT" info --verify --json "$f" > "$TMP/$s.info" 2> "$TMP/$s.err"
    check_eq "$s: info --verify" 0 $?
    check_eq "$s: closed" true "$(jq .closed "$TMP/$s.info")"
    check_eq "$s: recorded live" 1 "$(jq -r '.metadata["capture.interface"] // ""' "$TMP/$s.info" | grep -c '^lo$')"
done

check_counts "$T/sample-cache-live.rtrace" get=3300 set=1500 setex=300 del=200 ttl=200
check_counts "$T/sample-session.rtrace" hset=60 hgetall=1560 hincrby=1500 expire=660 del=10
check_counts "$T/sample-queue.rtrace" lpush=1205 brpop=1200 blpop=5 llen=1
check_counts "$T/sample-leaderboard.rtrace" zadd=1000 zincrby=2000 zrevrange=1000 zrevrank=500 zscore=500

# what each workload is about, from its recorded replies
"$RT" cat "$T/sample-cache-live.rtrace" --format jsonl > "$TMP/c.jsonl"
hits=$(jq -c 'select(.event=="request" and .cmd=="GET" and .reply.type=="bulk")' "$TMP/c.jsonl" | wc -l)
miss=$(jq -c 'select(.event=="request" and .cmd=="GET" and .reply.type=="null")' "$TMP/c.jsonl" | wc -l)
check_eq "cache: GETs hit and miss ($hits hits, $miss misses)" 1 "$(( hits > 100 && miss > 100 && hits + miss == 3300 ))"
check_eq "cache: every SET has a TTL" 0 "$(jq -c 'select(.event=="request" and .cmd=="SET" and (.argv|index("EX")|not))' "$TMP/c.jsonl" | wc -l)"
"$RT" cat "$T/sample-session.rtrace" --format jsonl > "$TMP/s.jsonl"
check_eq "session: each login sets 4 fields then EXPIRE 1800 on its connection" 60 \
    "$(jq -rs '[.[] | select(.event=="request")] | group_by(.conn)[] | map(.cmd) | select(index("HSET") != null and .[index("HSET") + 1] == "EXPIRE") | 1' "$TMP/s.jsonl" | wc -l)"
check_eq "session: HGETALL of a login returns 8 elements" 60 \
    "$(jq -c 'select(.event=="request" and .cmd=="HGETALL" and .reply.count==8 and .reply.type=="array")' "$TMP/s.jsonl" | head -60 | wc -l)"
"$RT" cat "$T/sample-queue.rtrace" --format jsonl > "$TMP/q.jsonl"
check_eq "queue: the 5 BLPOPs blocked (>= 0.2 s) until a push" 5 \
    "$(jq -c 'select(.event=="request" and .cmd=="BLPOP" and .reply.latency_ns >= 200000000 and .reply.type=="array")' "$TMP/q.jsonl" | wc -l)"
check_eq "queue: BRPOPs popped jobs" 1 "$(( $(jq -c 'select(.event=="request" and .cmd=="BRPOP" and .reply.type=="array")' "$TMP/q.jsonl" | wc -l) > 1000 ))"
"$RT" cat "$T/sample-leaderboard.rtrace" --format jsonl > "$TMP/l.jsonl"
check_eq "leaderboard: top-10 reads WITHSCORES return 20 elements" 1000 \
    "$(jq -c 'select(.event=="request" and .cmd=="ZREVRANGE" and .argv[4]=="WITHSCORES" and .reply.count==20)' "$TMP/l.jsonl" | wc -l)"

# each replays into a fresh server: every request sent (or skipped as unsafe: redis-benchmark's
# CONFIG GET), every one answered, no error
for s in sample-cache-live sample-session sample-queue sample-leaderboard; do
    start_redis_x; P=$RX_PORT
    "$RT" replay "$T/$s.rtrace" --target "redis://127.0.0.1:$P" --speed max -q --json="$TMP/$s.json" \
        > /dev/null 2> "$TMP/$s.rerr"
    check_eq "$s: replay exit" 0 $?
    J=$TMP/$s.json
    check_eq "$s: replay errors" 0 "$(jnum "$J" .errors)"
    check_eq "$s: unanswered" 0 "$(jnum "$J" .unanswered)"
    check_eq "$s: ops + skipped = requests" "$(jq .requests "$TMP/$s.info")" "$(jnum "$J" '.ops + .skipped')"
    check_eq "$s: only CONFIG skipped" "$(jq '[.commands[] | select(.name=="config|get") | .count] | add // 0' <("$RT" stat --json "$T/$s.rtrace"))" \
        "$(jnum "$J" .skipped)"
done
finish
