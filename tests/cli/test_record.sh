#!/usr/bin/env bash
# test_record.sh: `resptrace record` on real captures: the pcap shipped in traces/ (made by
# tcpdump on loopback from redis-benchmark and redis-cli), and a live capture on lo of a
# redis-benchmark run against a redis-server this test starts, counted against the server's
# own INFO commandstats.
. "$(dirname "$0")/lib.sh"
P=$SRC/traces/sample-clients.pcap

# --- from a file
"$RT" record -q -r "$P" -f tcp -w "$TMP/f.rtrace" --json > "$TMP/f.json" 2> "$TMP/f.err"
check_eq "record -r exit" 0 $?
check_eq "trace mode" 600 "$(stat -c %a "$TMP/f.rtrace")"
"$RT" info --json "$TMP/f.rtrace" > "$TMP/f.info"
check_eq "closed trace" true "$(jq .closed "$TMP/f.info")"
check_eq "summary and trace agree" "$(jq .requests "$TMP/f.json")" "$(jq .requests "$TMP/f.info")"
"$RT" cat "$TMP/f.rtrace" --format jsonl > "$TMP/f.jsonl"
# redis-benchmark: 1000 requests for each of set,get,incr,hset,lpush, then 1000 each of set,get
for c in SET:2000 GET:2000 INCR:1000 HSET:1000 LPUSH:1000; do
    cmd=${c%%:*} want=${c##*:}
    got=$(jq -r 'select(.event=="request") | .cmd' "$TMP/f.jsonl" | grep -cx "$cmd")
    check_eq "$cmd requests in the pcap" 1 "$(( got >= want ))"
done
check_eq "every benchmark request paired" 0 "$(jq -c 'select(.event=="request" and (.cmd=="SET" or .cmd=="GET") and .reply==null)' "$TMP/f.jsonl" | wc -l)"
check_eq "the password never reaches the trace" 0 "$(grep -c sample-secret "$TMP/f.jsonl")"
check_eq "AUTH and HELLO ... AUTH are marked redacted" 0 "$(jq -c 'select(.event=="request" and (.cmd=="AUTH" or (.cmd=="HELLO" and (.argv|map(ascii_upcase)|index("AUTH")))) and (.flags|index("redacted")|not))' "$TMP/f.jsonl" | wc -l)"
check_eq "some AUTH seen" 1 "$(( $(jq -c 'select(.event=="request" and .cmd=="AUTH")' "$TMP/f.jsonl" | wc -l) > 0 ))"
check_eq "the SELECTed db is tracked" "2" "$(jq -r 'select(.event=="request" and .argv[1]=="in:db2") | .db' "$TMP/f.jsonl" | sort -u)"
check_eq "HELLO 3 switches to RESP3" "3" "$(jq -r 'select(.event=="request" and .cmd=="HGETALL") | .proto' "$TMP/f.jsonl")"
check_eq "EXEC paired with its array" "array" "$(jq -r 'select(.event=="request" and .cmd=="EXEC") | .reply.type' "$TMP/f.jsonl")"

# --- --redact-values: write values become 'x' bytes of their length; keys and reads stay
"$RT" record -q -r "$P" -f tcp --redact-values -w "$TMP/v.rtrace" > /dev/null
check_eq "redact-values exit" 0 $?
check_eq "redaction.values in the metadata" on "$("$RT" info --json "$TMP/v.rtrace" | jq -r '.metadata["redaction.values"]')"
"$RT" cat "$TMP/v.rtrace" --format jsonl > "$TMP/v.jsonl"
check_eq "no SET value survives" 0 "$(jq -r 'select(.event=="request" and .cmd=="SET") | .argv[2]' "$TMP/v.jsonl" | grep -vc '^x*$')"
check_eq "values keep their length" \
    "$(jq -r 'select(.event=="request" and .cmd=="SET") | .argv[2] | length' "$TMP/f.jsonl" | md5sum)" \
    "$(jq -r 'select(.event=="request" and .cmd=="SET") | .argv[2] | length' "$TMP/v.jsonl" | md5sum)"
check_eq "keys are kept" \
    "$(jq -r 'select(.event=="request" and .cmd=="SET") | .argv[1]' "$TMP/f.jsonl" | md5sum)" \
    "$(jq -r 'select(.event=="request" and .cmd=="SET") | .argv[1]' "$TMP/v.jsonl" | md5sum)"
check_eq "SETs flagged values_redacted" "$(jq -c 'select(.event=="request" and .cmd=="SET")' "$TMP/v.jsonl" | wc -l)" \
    "$(jq -c 'select(.event=="request" and .cmd=="SET" and (.flags|index("values_redacted")))' "$TMP/v.jsonl" | wc -l)"
check_eq "GETs untouched" 0 "$(jq -c 'select(.event=="request" and .cmd=="GET" and (.flags|index("values_redacted")))' "$TMP/v.jsonl" | wc -l)"

# --- live on loopback
start_redis
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" CONFIG RESETSTAT > /dev/null
# bounded: a recorder that ignored SIGINT would be killed after 120 s and fail the test
timeout -s KILL 120 "$RT" record -q -i lo -p "$REDIS_PORT" -w "$TMP/l.rtrace" > "$TMP/l.out" 2> "$TMP/l.err" &
rec=$!
# the trace is created once the capture is active and its filter set
for _ in $(seq 1 100); do [ -s "$TMP/l.rtrace" ] && break; sleep 0.1; done
check_eq "live trace created" 1 "$([ -s "$TMP/l.rtrace" ] && echo 1 || echo 0)"
sleep 0.2
redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c 8 -n 3000 -r 1000 -d 32 -t set,get -q > /dev/null
redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c 4 -n 3000 -r 1000 -d 32 -P 32 -t set,get -q > /dev/null
sleep 1
kill -INT $rec
wait $rec; check_eq "live record exit after SIGINT" 0 $?
stats=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" INFO commandstats)
"$RT" cat "$TMP/l.rtrace" --format jsonl > "$TMP/l.jsonl"
for cmd in set get; do
    want=$(printf '%s\n' "$stats" | tr -d '\r' | sed -n "s/^cmdstat_$cmd:calls=\([0-9]*\),.*/\1/p")
    got=$(jq -r 'select(.event=="request") | .cmd' "$TMP/l.jsonl" | grep -cx "${cmd^^}")
    check_eq "live $cmd requests equal the server's calls" "$want" "$got"
done
check_eq "live: every SET/GET paired" 0 "$(jq -c 'select(.event=="request" and (.cmd=="SET" or .cmd=="GET") and .reply==null)' "$TMP/l.jsonl" | wc -l)"
check_eq "live: no gaps" 0 "$("$RT" info --json "$TMP/l.rtrace" | jq .gaps)"
finish
