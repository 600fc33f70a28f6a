#!/usr/bin/env bash
# test_redis_pipe.sh: `cat --format resp` piped into a real redis-server through
# `redis-cli --pipe` rebuilds the dataset that the trace's recorded replies describe.
. "$(dirname "$0")/lib.sh"
S=$SRC/traces/sample-cache.rtrace
start_redis
out=$("$RT" cat "$S" --format resp | redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --pipe 2>&1)
check_match "redis-cli --pipe took every command" "errors: 0, replies: 2000" "$out"

# expected final state from the trace itself: the last INCR reply per counter, and the last
# SET (not followed by DEL) per item
"$RT" cat "$S" --format jsonl > "$TMP/s.jsonl"
jq -r 'select(.event=="request" and .cmd=="INCR") | "\(.argv[1]) \(.reply.int)"' "$TMP/s.jsonl" |
    awk '{last[$1]=$2} END {for (k in last) print k, last[k]}' | sort > "$TMP/expect-counters"
: > "$TMP/got-counters"
while read -r k _; do
    echo "$k $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" GET "$k")" >> "$TMP/got-counters"
done < "$TMP/expect-counters"
sort -o "$TMP/got-counters" "$TMP/got-counters"
check_files "counters equal the recorded INCR replies" "$TMP/expect-counters" "$TMP/got-counters"
check_eq "some counters" 1 "$(( $(wc -l < "$TMP/expect-counters") > 10 ))"

jq -r 'select(.event=="request" and (.cmd=="SET" or .cmd=="DEL")) | "\(.cmd) \(.argv[1]) \(.argv[2] // "")"' "$TMP/s.jsonl" |
    awk '$1=="SET"{v[$2]=$3} $1=="DEL"{delete v[$2]} END {for (k in v) print k, v[k]}' | sort > "$TMP/expect-items"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern 'cache:item:*' | sort | while read -r k; do
    echo "$k $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" GET "$k")"
done > "$TMP/got-items"
check_files "items equal the last SET of each key" "$TMP/expect-items" "$TMP/got-items"

finish
