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

# --- --encoding: chunks older readers read (2: resptrace 1.2, 1: 1.0 and 1.1), the same events
check_eq "default encoding" 3 "$(chunk_encodings "$TMP/f.rtrace")"
for e in 2 1; do
    "$RT" record -q -r "$P" -f tcp -w "$TMP/e$e.rtrace" --encoding $e > /dev/null 2>&1
    check_eq "record --encoding $e exit" 0 $?
    check_eq "--encoding $e: every chunk" $e "$(chunk_encodings "$TMP/e$e.rtrace")"
    check_eq "--encoding $e: the same events" "$(md5sum < "$TMP/f.jsonl")" \
        "$("$RT" cat "$TMP/e$e.rtrace" --format jsonl | md5sum)"
done
"$RT" record -r "$P" -w "$TMP/x" --encoding 4 > /dev/null 2> "$TMP/u.err"
check_eq "record --encoding 4: usage exit" 2 $?
check_match "record --encoding 4: says which" "encoding 1-3, not '4'" "$(head -1 "$TMP/u.err")"

# --- conventions: help fits 80 columns, a usage error is one line and a pointer to --help
for c in record cat; do
    check_eq "$c --help: every line under 80 columns" "" "$("$RT" $c --help | awk 'length >= 80')"
done
"$RT" record -r "$P" > /dev/null 2> "$TMP/u.err"; check_eq "record without -w: usage exit" 2 $?
check_eq "record usage error: two lines" 2 "$(wc -l < "$TMP/u.err")"
check_match "record usage error names the problem" "^resptrace record: give the trace to write: -w TRACE" "$(head -1 "$TMP/u.err")"
check_eq "record usage error points to --help" "see 'resptrace record --help'" "$(tail -1 "$TMP/u.err")"
"$RT" record -r "$P" -w "$TMP/x" --level zero > /dev/null 2> "$TMP/u.err"; check_eq "record --level zero: usage exit" 2 $?
check_eq "record --level: one line and the pointer" 2 "$(wc -l < "$TMP/u.err")"
"$RT" cat "$TMP/f.rtrace" --format xml > /dev/null 2> "$TMP/u.err"; check_eq "cat --format xml: usage exit" 2 $?
check_eq "cat usage error: two lines" "resptrace cat: unknown format 'xml' (text, jsonl, resp)|see 'resptrace cat --help'" "$(paste -sd'|' "$TMP/u.err")"
"$RT" cat > /dev/null 2> "$TMP/u.err"; check_eq "cat without a trace: usage exit" 2 $?
check_eq "cat without a trace: two lines" 2 "$(wc -l < "$TMP/u.err")"

# --- --json is one document with the tool's header; the text then goes to stderr
check_eq "record --json: header" "resptrace record 2" "$(jq -r '"\(.tool) \(.command) \(.schema)"' "$TMP/f.json")"
check_eq "record --json: wall time in seconds" number "$(jq -r '.wall_s|type' "$TMP/f.json")"
check_match "record --json: the text summary on stderr" "^trace " "$(head -1 "$TMP/f.err")"
"$RT" record -q -r "$P" -p 46534 -w "$TMP/j.rtrace" --json="$TMP/j.json" > "$TMP/j.out"
check_eq "record --json=FILE exit" 0 $?
check_eq "record --json=FILE: the document in the file" "$(jq .requests "$TMP/f.json")" "$(jq .requests "$TMP/j.json")"
check_match "record --json=FILE: the text summary on stdout" "^trace " "$(head -1 "$TMP/j.out")"

# --- outputs never destroy inputs: -w that is the capture read is refused before anything
# is opened for writing (also through a hard link or a symlink, and for a -C name that comes
# to be the input)
cp "$P" "$TMP/in.pcap"
ln "$TMP/in.pcap" "$TMP/hard.pcap"
ln -s "$TMP/in.pcap" "$TMP/sym.pcap"
for w in in.pcap hard.pcap sym.pcap; do
    "$RT" record -q -r "$TMP/in.pcap" -w "$TMP/$w" > /dev/null 2> "$TMP/same.err"
    check_eq "record -r in.pcap -w $w refused" 2 $?
    check_match "record -w $w: says why" "will not write .*$w: it is the input" "$(cat "$TMP/same.err")"
    check_eq "record -w $w: the input is untouched" "$(md5sum < "$P")" "$(md5sum < "$TMP/in.pcap")"
done
"$RT" record -q -r "$TMP/in.pcap" -p 46534 -w "$TMP/x.pcap" --json="$TMP/in.pcap" > /dev/null 2> "$TMP/same.err"
check_eq "record --json=the input refused" 2 $?
check_eq "record --json=the input: untouched" "$(md5sum < "$P")" "$(md5sum < "$TMP/in.pcap")"
# -C names TRACE, TRACE1, ...: with -w "$TMP/in" the second file would be the input "in1"
cp "$P" "$TMP/in1"
"$RT" record -q -r "$TMP/in1" -p 46534 -C 0.01 -w "$TMP/in" > /dev/null 2> "$TMP/rot.err"
check_eq "record -C into the input's name: exit" 1 $?
check_match "record -C into the input's name: says why" "will not write .*/in1: it is the input" "$(cat "$TMP/rot.err")"
check_eq "record -C into the input's name: the input is untouched" "$(md5sum < "$P")" "$(md5sum < "$TMP/in1")"
check_eq "record -C: the first trace is closed" true "$("$RT" info --json "$TMP/in" | jq .closed)"

# --- empty results are loud: a wrong -p names the ports the capture has traffic on
"$RT" record -q -r "$P" -p 6379 -w "$TMP/e.rtrace" > /dev/null 2> "$TMP/e.err"
check_eq "record with a wrong -p: exit 0 (an empty trace)" 0 $?
check_match "wrong -p: says nothing matched and where the traffic is" \
    "^resptrace record: 0 packets matched '.*tcp port 6379.*'; the capture has TCP traffic on ports 46534 \(10,522 packets\).*: try -p 46534$" \
    "$(cat "$TMP/e.err")"
"$RT" record -q -r "$P" -p 6379 -w "$TMP/e.rtrace" --json > "$TMP/e.json" 2> /dev/null
check_eq "wrong -p: the ports in the JSON" '[{"port":46534,"packets":10522}]' "$(jq -c .unmatched_tcp_ports "$TMP/e.json")"

# --- a write that fails (a file size limit: EFBIG, as a full disk gives ENOSPC) says how much
# of the trace is readable, keeps it readable, and exits 1
GEN=$(dirname "$RT")/make_synflood_pcap
if [ ! -x "$GEN" ]; then
    GEN=$TMP/make_synflood_pcap
    cc -O2 -o "$GEN" "$SRC/tests/make_synflood_pcap.c" -lpcap
fi
"$GEN" "$TMP/slow.pcap" 40000 -g 100 > /dev/null   # 4 s of packets: 4 chunks of about 20 KB
(trap '' XFSZ; ulimit -f 40; exec "$RT" record -q -r "$TMP/slow.pcap" -w "$TMP/cut.rtrace" --json="$TMP/cut.json") > /dev/null 2> "$TMP/cut.err"
check_eq "record into a 40 KiB file limit: exit 1" 1 $?
msg=$(grep 'write failed' "$TMP/cut.err")
check_match "the error names the file, the offset and the cause" "cut.rtrace: write failed at offset [0-9]+: File too large" "$msg"
check_match "the error says how much is readable" "its first [1-9][0-9]* chunks \([0-9]+ events, [0-9]+ bytes\) are readable" "$msg"
events=$(printf '%s' "$msg" | sed -n 's/.*chunks (\([0-9]*\) events, \([0-9]*\) bytes).*/\1/p')
bytes=$(printf '%s' "$msg" | sed -n 's/.*chunks (\([0-9]*\) events, \([0-9]*\) bytes).*/\2/p')
check_eq "the file is cut at the last whole block" "$bytes" "$(stat -c %s "$TMP/cut.rtrace")"
check_eq "cat reads every event it says" "$events" "$("$RT" cat "$TMP/cut.rtrace" 2> /dev/null | wc -l)"
"$RT" info --verify "$TMP/cut.rtrace" > "$TMP/cut.info" 2> "$TMP/cut.verr"
check_match "info --verify: not closed, readable to its end" "without an index" "$(cat "$TMP/cut.verr")"
check_eq "the JSON summary carries the error" "$(jq -r .error "$TMP/cut.json")" "$(printf '%s' "$msg" | sed 's/^resptrace record: //')"

# --- `record -r` stopped by SIGINT closes the trace and exits 130 (a FIFO that stays open)
mkfifo "$TMP/fifo"
"$RT" record -q -r "$TMP/fifo" -p 46534 -w "$TMP/int.rtrace" > /dev/null 2> "$TMP/int.err" &
rec=$!
exec 3> "$TMP/fifo"
cat "$P" >&3
sleep 1
kill -INT $rec
wait $rec; check_eq "record -r interrupted: exit 130" 130 $?
exec 3>&-
check_match "record -r interrupted: says so" "interrupted" "$(cat "$TMP/int.err")"
check_eq "record -r interrupted: the trace is closed" true "$("$RT" info --json "$TMP/int.rtrace" | jq .closed)"
check_eq "record -r interrupted: every request of what was read" "$(jq .requests "$TMP/j.json")" "$("$RT" info --json "$TMP/int.rtrace" | jq .requests)"

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

# --- live: SIGTERM is a normal end too; a capture that saw nothing says what it listened to
timeout -s KILL 60 "$RT" record -q -i lo -p 9 -w "$TMP/q.rtrace" > /dev/null 2> "$TMP/q.err" &
rec=$!
for _ in $(seq 1 100); do [ -s "$TMP/q.rtrace" ] && break; sleep 0.1; done
sleep 0.5
kill -TERM $rec
wait $rec; check_eq "live record exit after SIGTERM" 0 $?
check_eq "live after SIGTERM: the trace is closed" true "$("$RT" info --json "$TMP/q.rtrace" | jq .closed)"
check_match "live, nothing matched: the filter, interface and time" \
    "0 packets matched '.*tcp port 9.*' on lo in [0-9.]+ s" "$(cat "$TMP/q.err")"
finish
