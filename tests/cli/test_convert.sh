#!/usr/bin/env bash
# test_convert.sh: `resptrace convert`: a redis-cli MONITOR capture of a real workload (binary
# values, quotes and spaces, SELECT, MULTI/EXEC, EVAL) converted to a trace holds the same
# commands per client as the live-recorded trace of the same workload, and both replay into
# fresh servers to the dataset the workload made (DEBUG DIGEST); --to resp through
# `redis-cli --pipe` does too. Twitter cache-trace CSV rows round-trip through a trace; the
# mapping of each operation is checked on a real server. Bad input names file and line.
. "$(dirname "$0")/lib.sh"
DBG=(--enable-debug-command local)
EMPTY_DIGEST=0000000000000000000000000000000000000000
no_crash() { check_eq "$1: no crash" "" "$(grep -E 'Sanitizer|runtime error|Segmentation|core dumped' "$2" | head -1)"; }

# ---- the workload, captured by MONITOR and by the recorder at once ---------------------------
start_redis_x "${DBG[@]}"; A=$RX_PORT
start_recorder "$A" "$TMP/live.rtrace"; check_eq "live trace created" 0 $?
redis-cli -h 127.0.0.1 -p "$A" monitor > "$TMP/mon.txt" &
MON=$!
BG_PIDS="$BG_PIDS $MON"
for _ in $(seq 1 50); do grep -q '^OK' "$TMP/mon.txt" 2>/dev/null && break; sleep 0.1; done
check_eq "MONITOR started" OK "$(head -1 "$TMP/mon.txt" | tr -d '\r')"

for p in 1 8; do
    redis-benchmark -h 127.0.0.1 -p "$A" -c 1 -n 400 -r 300 -d 24 -P "$p" \
        -t set,incr,lpush,sadd,hset -q > /dev/null
done
printf 'a\r\nb\0c\377\r\n"\\x41\\' > "$TMP/b1"
head -c 3000 /dev/urandom > "$TMP/b2"
redis-cli -h 127.0.0.1 -p "$A" -x SET bin1 < "$TMP/b1" > /dev/null
redis-cli -h 127.0.0.1 -p "$A" -x SET 'bin 2' < "$TMP/b2" > /dev/null
redis-cli -h 127.0.0.1 -p "$A" -x HSET 'h"quoted' 'f 1' < "$TMP/b1" > /dev/null
redis-cli -h 127.0.0.1 -p "$A" -x RPUSH 'list\with\backslash' < "$TMP/b2" > /dev/null
rcli "$A" SET 'key with spaces' 'value "with" quotes' > /dev/null
rcli "$A" SET "tab	and"$'\n'"newline" $'\a\b\t' > /dev/null
rcli "$A" SET num 12345 > /dev/null
rcli "$A" SET 'é' 'ü' > /dev/null
printf 'SELECT 2\nSET in:db2 "two words"\nINCR cnt2\nSELECT 5\nLPUSH in:db5 a b c\n' |
    redis-cli -h 127.0.0.1 -p "$A" > /dev/null
printf 'MULTI\nINCR tx\nSET "tx key" "a b"\nEXEC\n' | redis-cli -h 127.0.0.1 -p "$A" > /dev/null
rcli "$A" EVAL "redis.call('set', KEYS[1], ARGV[1]) return 1" 1 lua:k lua:v > /dev/null
rcli "$A" ZADD z 1.5 m1 2 'm 2' > /dev/null
sleep 0.5
kill "$MON"; wait "$MON" 2>/dev/null
stop_recorder; check_eq "recorder exit" 0 $?
DA=$(rcli "$A" DEBUG DIGEST)
check_match "digest of A" '^[0-9a-f]{40}$' "$DA"
check_eq "A is not empty" 1 "$([ "$DA" = "$EMPTY_DIGEST" ]; echo $?)"
check_eq "A: db 2 written" two\ words "$(rcli "$A" -n 2 GET in:db2)"

# ---- MONITOR -> trace ---------------------------------------------------------------------------
"$RT" convert --from monitor "$TMP/mon.txt" -o "$TMP/mon.rtrace" --json > "$TMP/conv.json" 2> "$TMP/conv.err"
check_eq "convert --from monitor exit" 0 $?
no_crash "convert --from monitor" "$TMP/conv.err"
check_eq "the OK line skipped" 1 "$(jnum "$TMP/conv.json" .skipped.not_monitor)"
check_eq "the script's own SET skipped (its EVAL runs it)" 1 "$(jnum "$TMP/conv.json" .skipped.lua)"
check_eq "no bad line" 0 "$(jnum "$TMP/conv.json" .skipped.bad)"
check_eq "every MONITOR line but OK and lua became a request" \
    "$(( $(wc -l < "$TMP/mon.txt") - 2 ))" "$(jnum "$TMP/conv.json" .requests)"
"$RT" info --verify --json "$TMP/mon.rtrace" > "$TMP/mon.info" 2>&1
check_eq "converted trace verifies" 0 $?
check_eq "info agrees on requests" "$(jnum "$TMP/conv.json" .requests)" "$(jnum "$TMP/mon.info" .requests)"

# per client address, the converted trace holds exactly the recorded trace's commands (MONITOR
# does not show admin commands: redis-benchmark's CONFIG GET and the MONITOR command itself)
per_client() {
    "$RT" cat "$1" --format jsonl |
        jq -c 'select(.event=="open" or .event=="request")' |
        jq -rs 'reduce .[] as $e ({m: {}, out: []};
                   if $e.event == "open" then .m[($e.conn|tostring)] = $e.client
                   else .out += [[.m[($e.conn|tostring)], $e.db, ($e.argv|tojson)]] end) |
                .out[] | select(.[2] | test("^\\[\"(CONFIG|config|MONITOR|monitor)\"") | not) |
                @tsv' |
        sort -s -t "$(printf '\t')" -k1,1
}
per_client "$TMP/live.rtrace" > "$TMP/live.pc"
per_client "$TMP/mon.rtrace" > "$TMP/mon.pc"
check_files "same commands, db and order per client address" "$TMP/live.pc" "$TMP/mon.pc"
check_eq "the workload is all there" 1 "$(( $(wc -l < "$TMP/mon.pc") > 2000 ))"
check_eq "binary value unquoted" "$(od -An -tx1 "$TMP/b1" | tr -d ' \n')" \
    "$("$RT" cat "$TMP/mon.rtrace" --format jsonl | jq -j 'select(.event=="request" and .argv[1]=="bin1") | .argv[2]' |
       perl -0777 -pe 's/\\\\/\x00BS\x00/g; s/\\x([0-9a-f]{2})/chr(hex($1))/ge; s/\x00BS\x00/\\/g' | od -An -tx1 | tr -d ' \n')"
check_eq "SELECT keeps the db before it, then db 2" "0 2" \
    "$("$RT" cat "$TMP/mon.rtrace" --format jsonl | jq -r 'select(.event=="request" and (.argv[0]=="SELECT" and .argv[1]=="2" or .argv[1]=="in:db2")) | .db' | tr '\n' ' ' | sed 's/ $//')"
check_eq "client addresses kept" "$(jnum "$TMP/conv.json" .connections)" \
    "$("$RT" cat "$TMP/mon.rtrace" --format jsonl | jq -r 'select(.event=="open") | .client' | grep -cE '^127\.0\.0\.1:[0-9]+$')"

# replayed: both traces rebuild A's dataset
start_redis_x "${DBG[@]}"; B=$RX_PORT
"$RT" replay "$TMP/mon.rtrace" --target "redis://127.0.0.1:$B" --speed max -q --json="$TMP/rb.json" > /dev/null 2> "$TMP/rb.err"
check_eq "replay of the converted trace exit" 0 $?
check_eq "replay of the converted trace: no errors" 0 "$(jnum "$TMP/rb.json" .errors)"
check_eq "MONITOR trace replays to A's digest" "$DA" "$(rcli "$B" DEBUG DIGEST)"
start_redis_x "${DBG[@]}"; C=$RX_PORT
"$RT" replay "$TMP/live.rtrace" --target "redis://127.0.0.1:$C" --speed max -q > /dev/null 2>&1
check_eq "replay of the recorded trace exit" 0 $?
check_eq "recorded trace replays to the same digest" "$DA" "$(rcli "$C" DEBUG DIGEST)"

# --to resp: through redis-cli --pipe (one connection; SELECTs added where the db changes)
start_redis_x "${DBG[@]}"; D=$RX_PORT
"$RT" convert --to resp "$TMP/mon.rtrace" -o "$TMP/mon.resp" --json > "$TMP/tr.json"
check_eq "--to resp exit" 0 $?
out=$(redis-cli -h 127.0.0.1 -p "$D" --pipe < "$TMP/mon.resp" 2>&1)
check_match "--pipe: no errors" "errors: 0," "$out"
check_eq "--pipe: every request and added SELECT answered" \
    "$(( $(jnum "$TMP/tr.json" .written) + $(jnum "$TMP/tr.json" .selects_added) ))" \
    "$(printf '%s' "$out" | sed -n 's/.*replies: \([0-9]*\).*/\1/p')"
# the client that SELECTs 2 then 5 sends its own SELECTs; the next client's request (db 0)
# needs one added
check_eq "one SELECT added (back to db 0 after the db 5 client)" 1 "$(jnum "$TMP/tr.json" .selects_added)"
check_eq "--to resp through --pipe: A's digest" "$DA" "$(rcli "$D" DEBUG DIGEST)"
"$RT" convert --to resp "$TMP/mon.rtrace" -q | cmp -s - "$TMP/mon.resp"
check_eq "--to resp on stdout = -o" 0 $?

# ---- bad MONITOR input -------------------------------------------------------------------------
printf '1700000000.000001 [0 127.0.0.1:1] "SET" "k" "v"\nOK\n1700000000.000002 [0 127.0.0.1:1] "SET" "k\n' > "$TMP/bad1.txt"
"$RT" convert --from monitor "$TMP/bad1.txt" -o "$TMP/bad1.rtrace" > /dev/null 2> "$TMP/bad1.err"
check_eq "unclosed quote: exit 1" 1 $?
check_match "message names file:line" "bad1.txt:3: an argument has no closing" "$(cat "$TMP/bad1.err")"
check_eq "no output left" 0 "$([ -e "$TMP/bad1.rtrace" ] && echo 1 || echo 0)"
printf '1700000000.000001 [0 127.0.0.1:1] "a\\qb"\n' > "$TMP/bad2.txt"
"$RT" convert --from monitor "$TMP/bad2.txt" -o "$TMP/bad2.rtrace" > /dev/null 2> "$TMP/bad2.err"
check_eq "unknown escape: exit 1" 1 $?
check_match "unknown escape named" "bad2.txt:1: an unknown escape" "$(cat "$TMP/bad2.err")"
printf '1700000000.000001 [0 nowhere] "PING"\n1700000000.000002 [x 1.2.3.4:5] "PING"\n1700000000.000003 [0 1.2.3.4:5] "X" "\\x4"\n1700000000.000004 [0 [::1]:7] "PING"\n1700000000.000005 [0 unix:/tmp/r.sock] "PING"\n' > "$TMP/bad3.txt"
"$RT" convert --from monitor "$TMP/bad3.txt" -o "$TMP/bad3.rtrace" --skip-bad --json > "$TMP/bad3.json" 2> "$TMP/bad3.err"
check_eq "--skip-bad exit" 0 $?
no_crash "--skip-bad" "$TMP/bad3.err"
check_eq "--skip-bad: 3 bad lines counted" 3 "$(jnum "$TMP/bad3.json" .skipped.bad)"
check_eq "--skip-bad: each shown with its line" "1 2 3" "$(sed -n 's/.*bad3.txt:\([0-9]*\):.*/\1/p' "$TMP/bad3.err" | tr '\n' ' ' | sed 's/ $//')"
check_eq "IPv6 and unix clients kept" "[::1]:7 ?:0" "$("$RT" cat "$TMP/bad3.rtrace" --format jsonl | jq -r 'select(.event=="open") | .client' | tr '\n' ' ' | sed 's/ $//')"
"$RT" convert --from monitor "$TMP/mon.txt" > /dev/null 2>&1
check_eq "--from without -o: usage error" 2 $?
"$RT" convert --from nope "$TMP/mon.txt" -o "$TMP/x.rtrace" > /dev/null 2>&1
check_eq "unknown --from: usage error" 2 $?
"$RT" convert --from monitor "$TMP/missing.txt" -o "$TMP/x.rtrace" > /dev/null 2> "$TMP/miss.err"
check_eq "missing input: exit 1" 1 $?
check_match "missing input named" "missing.txt" "$(cat "$TMP/miss.err")"

# ---- Twitter cache-trace CSV ----------------------------------------------------------------------
# rows of every supported operation (keys as long as their key size: they round-trip exactly);
# a key with a comma; several rows per second; clients 0..2
cat > "$TMP/tw.csv" <<'EOF'
0,user:1,6,10,0,set,0
0,user:1,6,10,1,get,0
0,user:2,6,0,2,get,0
0,sess:a,6,5,0,add,60
1,sess:a,6,7,1,add,60
1,user:1,6,4,2,replace,0
1,user:9,6,4,2,replace,30
2,user:1,6,3,0,append,0
2,user:1,6,2,1,prepend,0
2,nokey1,6,2,1,prepend,0
3,a,b:c,5,8,0,set,100
3,cnt,3,0,1,incr,0
3,cnt,3,0,1,incr,0
3,cnt,3,0,2,decr,0
4,user:2,6,0,0,delete,0
4,sess:a,6,5,1,get,0
9,user:1,6,19,0,get,0
EOF
"$RT" convert --from twitter "$TMP/tw.csv" -o "$TMP/tw.rtrace" --json > "$TMP/tw.json" 2> "$TMP/tw.err"
check_eq "--from twitter exit" 0 $?
no_crash "--from twitter" "$TMP/tw.err"
check_eq "--from twitter: requests" 17 "$(jnum "$TMP/tw.json" .requests)"
check_eq "--from twitter: connections (clients 0..2)" 3 "$(jnum "$TMP/tw.json" .connections)"
check_eq "--from twitter: get replies of the recorded size" 3 "$(jnum "$TMP/tw.json" .replies)"
"$RT" convert --to twitter "$TMP/tw.rtrace" -o "$TMP/tw2.csv" -q
check_eq "--to twitter exit" 0 $?
check_files "Twitter rows round-trip" "$TMP/tw.csv" "$TMP/tw2.csv"
"$RT" cat "$TMP/tw.rtrace" --format jsonl > "$TMP/tw.jsonl"
check_eq "add -> SET NX EX" '["SET","sess:a","xxxxx","NX","EX","60"]' \
    "$(jq -c 'select(.event=="request") | .argv' "$TMP/tw.jsonl" | sed -n 4p)"
check_eq "replace -> SET XX" '["SET","user:1","xxxx","XX"]' \
    "$(jq -c 'select(.event=="request") | .argv' "$TMP/tw.jsonl" | sed -n 6p)"
check_eq "client N is connection N+1" "1 2 3" "$(jq -r 'select(.event=="open") | .conn' "$TMP/tw.jsonl" | tr '\n' ' ' | sed 's/ $//')"
check_eq "rows of one second spread over it, in order" \
    "1577836800000000000 1577836800250000000 1577836800500000000" \
    "$(jq -r 'select(.event=="request") | .ts' "$TMP/tw.jsonl" | head -3 | tr '\n' ' ' | sed 's/ $//')"
check_eq "timestamps never go back" "$(jq -r 'select(.event=="request") | .ts' "$TMP/tw.jsonl" | sort -n | md5sum)" \
    "$(jq -r 'select(.event=="request") | .ts' "$TMP/tw.jsonl" | md5sum)"
# the mapping on a real server
start_redis_x; E=$RX_PORT
# (at 10x: the clients' rows are 25 ms or more apart, so they reach the server in row order)
"$RT" replay "$TMP/tw.rtrace" --target "redis://127.0.0.1:$E" --speed 10 -q --json="$TMP/twr.json" > /dev/null 2>&1
check_eq "twitter trace replays" 0 $?
check_eq "set, replace, append, prepend: 4+3+2 bytes" 9 "$(rcli "$E" STRLEN user:1)"
check_eq "add of an existing key does nothing" 5 "$(rcli "$E" STRLEN sess:a)"
check_eq "add sets the TTL" 1 "$(( $(rcli "$E" TTL sess:a) > 50 ))"
check_eq "replace of a missing key does nothing" 0 "$(rcli "$E" EXISTS user:9)"
check_eq "prepend of a missing key stores nothing" 0 "$(rcli "$E" EXISTS nokey1)"
check_eq "key with a comma, with its TTL" 1 "$(( $(rcli "$E" TTL 'a,b:c') > 90 ))"
check_eq "incr incr decr" 1 "$(rcli "$E" GET cnt)"
check_eq "delete" 0 "$(rcli "$E" EXISTS user:2)"
check_eq "replay errors: none" 0 "$(jnum "$TMP/twr.json" .errors)"

# gets and cas map to GET and SET; keys are resized to key size; a header is skipped
printf 'timestamp,key,key size,value size,client id,operation,TTL\n5,ab,5,3,7,gets,0\n5,abcdef,3,3,7,cas,0\n6,k,1,1,7,touch,0\n' > "$TMP/tw3.csv"
"$RT" convert --from twitter "$TMP/tw3.csv" -o "$TMP/tw3.rtrace" --json > "$TMP/tw3.json"
check_eq "header skipped" 1 "$(jnum "$TMP/tw3.json" .skipped.header)"
check_eq "unsupported op counted" 1 "$(jnum "$TMP/tw3.json" .skipped.unsupported_op)"
check_eq "keys resized" 2 "$(jnum "$TMP/tw3.json" .keys_resized)"
check_eq "gets -> GET padded key, cas -> SET truncated key" '["GET","ab___"] ["SET","abc","xxx"]' \
    "$("$RT" cat "$TMP/tw3.rtrace" --format jsonl | jq -c 'select(.event=="request") | .argv' | tr '\n' ' ' | sed 's/ $//')"
"$RT" convert --from twitter "$TMP/tw3.csv" -o "$TMP/tw4.rtrace" --keep-keys -q
check_eq "--keep-keys" '"ab" "abcdef"' "$("$RT" cat "$TMP/tw4.rtrace" --format jsonl | jq -c 'select(.event=="request") | .argv[1]' | tr '\n' ' ' | sed 's/ $//')"
printf '1,k,1,1,0,get,0\n2,k,1,abc,0,get,0\n' > "$TMP/twbad.csv"
"$RT" convert --from twitter "$TMP/twbad.csv" -o "$TMP/twbad.rtrace" > /dev/null 2> "$TMP/twbad.err"
check_eq "bad CSV row: exit 1" 1 $?
check_match "bad CSV row named" "twbad.csv:2: the value size is not a number" "$(cat "$TMP/twbad.err")"
printf '1,k,1,1,0,get\n' > "$TMP/twbad2.csv"
"$RT" convert --from twitter "$TMP/twbad2.csv" -o "$TMP/twbad2.rtrace" > /dev/null 2> "$TMP/twbad2.err"
check_eq "6 fields: exit 1" 1 $?
check_match "6 fields named" "twbad2.csv:1: " "$(cat "$TMP/twbad2.err")"
no_crash "6 fields" "$TMP/twbad2.err"

# --to twitter of the live trace: one row per SET/GET/INCR/DEL-like request
"$RT" convert --to twitter "$TMP/live.rtrace" -o "$TMP/live.csv" --json > "$TMP/lc.json"
check_eq "--to twitter of a recorded trace" 0 $?
check_eq "live: SET rows = SET requests (but the key with a newline)" \
    "$("$RT" cat "$TMP/live.rtrace" --format jsonl | jq -c 'select(.event=="request" and .cmd=="SET" and (.argv[1]|test("\n")|not))' | wc -l)" \
    "$(awk -F, '$(NF-1)=="set"' "$TMP/live.csv" | wc -l)"
check_eq "live: INCR rows" \
    "$("$RT" cat "$TMP/live.rtrace" --format jsonl | jq -c 'select(.event=="request" and .cmd=="INCR")' | wc -l)" \
    "$(awk -F, '$(NF-1)=="incr"' "$TMP/live.csv" | wc -l)"

finish
