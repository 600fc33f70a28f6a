#!/usr/bin/env bash
# test_slice.sh: `resptrace slice` and `resptrace filter` on the sample traces, each result
# checked against what jq computes from `resptrace cat` of the original: the events of a time
# range, slices merged back into the original, and the requests a filter keeps (with their
# replies and the open/close events of their connections), per-key sampling keeping every
# request of a sampled key.
. "$(dirname "$0")/lib.sh"
S=$SRC/traces/sample-cache.rtrace
G=$SRC/traces/golden-v1.rtrace

"$RT" slice --help | grep -q "usage: resptrace slice"; check_eq "slice --help" 0 $?
"$RT" filter --help | grep -q "usage: resptrace filter"; check_eq "filter --help" 0 $?

"$RT" cat "$S" --format jsonl > "$TMP/s.jsonl"
start=$("$RT" info --json "$S" | jq .start_ns)

# --- slice: [start + 1.5 s, start + 3 s)
"$RT" slice "$S" --from +1.5 --to 3 -o "$TMP/s2.rtrace" --json > "$TMP/s2.json"
check_eq "slice exit" 0 $?
lo=$((start + 1500000000)) hi=$((start + 3000000000))
"$RT" cat "$TMP/s2.rtrace" --format jsonl > "$TMP/s2.jsonl"
# jq reads these 19-digit times as doubles: compare requests by their argv and connection
# in order, and times with a tolerance of 1 us
want=$(jq -c --argjson lo "$lo" --argjson hi "$hi" 'select(.event == "request" and .ts >= $lo and .ts < $hi) | [.conn, .argv, .reply.hash]' "$TMP/s.jsonl" | md5sum)
check_eq "slice = requests in the range, replies kept" "$want" "$(jq -c 'select(.event == "request") | [.conn, .argv, .reply.hash]' "$TMP/s2.jsonl" | md5sum)"
check_eq "slice has requests" 1 "$(( $(jq .requests_written "$TMP/s2.json") > 500 ))"
check_eq "all times in range" 0 "$(jq -c --argjson lo "$lo" --argjson hi "$hi" 'select(.event != "reply" and (.ts < $lo - 1000 or .ts >= $hi + 1000))' "$TMP/s2.jsonl" | wc -l)"
check_eq "seek skipped chunks" 1 "$(( $(jq .events_read "$TMP/s2.json") < 4008 ))"
check_eq "slice metadata" "$lo" "$("$RT" info --json "$TMP/s2.rtrace" | jq -r '.metadata["slice.from_ns"]')"
check_eq "source metadata kept" "$("$RT" info --json "$S" | jq -r .metadata.source)" "$("$RT" info --json "$TMP/s2.rtrace" | jq -r .metadata.source)"
# ISO times give the same slice
iso_from=$(date -u -d "@$((lo / 1000000000))" +%Y-%m-%dT%H:%M:%S).$(printf %09d $((lo % 1000000000)))Z
"$RT" slice "$S" --from "$iso_from" --to "$hi" -o "$TMP/s2b.rtrace" > /dev/null
check_eq "ISO and ns times: same requests" "$(jq -c 'select(.event == "request") | .argv' "$TMP/s2.jsonl" | md5sum)" \
    "$("$RT" cat "$TMP/s2b.rtrace" --format jsonl | jq -c 'select(.event == "request") | .argv' | md5sum)"

# --- slices merged give back the original (requests, replies, opens and closes)
"$RT" slice "$S" --to +1.2 -o "$TMP/p1.rtrace" > /dev/null
"$RT" slice "$S" --from +1.2 --to +2.7 -o "$TMP/p2.rtrace" > /dev/null
"$RT" slice "$S" --from +2.7 -o "$TMP/p3.rtrace" > /dev/null
"$RT" merge --same-conns "$TMP/p3.rtrace" "$TMP/p1.rtrace" "$TMP/p2.rtrace" -o "$TMP/back.rtrace" > /dev/null
check_eq "merge of slices exit" 0 $?
proj() { "$RT" cat "$1" --format jsonl | jq -c '[.event, .ts, .conn, .argv, .reply.hash, .reply.ts, .client, .reason] | tostring' | sort; }
check_eq "slices merged = original" "$(proj "$S" | md5sum)" "$(proj "$TMP/back.rtrace" | md5sum)"
check_eq "slice requests add up" 2000 "$(( $("$RT" info --json "$TMP/p1.rtrace" | jq .requests) + $("$RT" info --json "$TMP/p2.rtrace" | jq .requests) + $("$RT" info --json "$TMP/p3.rtrace" | jq .requests) ))"

# --- filter --cmd
"$RT" filter "$S" -o "$TMP/f1.rtrace" --cmd get,INCR --json > "$TMP/f1.json"; check_eq "filter --cmd exit" 0 $?
"$RT" cat "$TMP/f1.rtrace" --format jsonl > "$TMP/f1.jsonl"
sel() { jq -c "select(.event == \"request\" and ($2)) | [.conn, .argv, .reply.hash]" "$1"; }
check_eq "--cmd get,INCR" "$(sel "$TMP/s.jsonl" '.cmd == "GET" or .cmd == "INCR"' | md5sum)" "$(sel "$TMP/f1.jsonl" true | md5sum)"
check_eq "--cmd: every reply paired" 0 "$(jq -c 'select(.event == "request" and .reply == null)' "$TMP/f1.jsonl" | wc -l)"
check_eq "--cmd: no stray replies" "$(jq .requests_written "$TMP/f1.json")" "$("$RT" info --json "$TMP/f1.rtrace" | jq .replies)"
check_eq "--cmd: opens of kept connections" "$(jq -c 'select(.event == "request") | .conn' "$TMP/f1.jsonl" | sort -u)" \
    "$(jq -c 'select(.event == "open") | .conn' "$TMP/f1.jsonl" | sort -u)"
check_eq "--cmd: closes of kept connections" "$(jq -c 'select(.event == "request") | .conn' "$TMP/f1.jsonl" | sort -u)" \
    "$(jq -c 'select(.event == "close") | .conn' "$TMP/f1.jsonl" | sort -u)"

# --- filter --key-glob, --conn, --db
"$RT" filter "$S" -o "$TMP/f2.rtrace" --key-glob 'cache:hits:1[0-4]*' > /dev/null; check_eq "--key-glob exit" 0 $?
check_eq "--key-glob" "$(sel "$TMP/s.jsonl" '.argv[1] | test("^cache:hits:1[0-4]")' | md5sum)" \
    "$("$RT" cat "$TMP/f2.rtrace" --format jsonl > "$TMP/f2.jsonl"; sel "$TMP/f2.jsonl" true | md5sum)"
"$RT" filter "$S" -o "$TMP/f3.rtrace" --conn 2 --conn 4 > /dev/null; check_eq "--conn exit" 0 $?
"$RT" cat "$TMP/f3.rtrace" --format jsonl > "$TMP/f3.jsonl"
check_eq "--conn 2 --conn 4" "$(sel "$TMP/s.jsonl" '.conn == 2 or .conn == 4' | md5sum)" "$(sel "$TMP/f3.jsonl" true | md5sum)"
check_eq "--conn: events of the connections" "$(jq -c 'select(.conn == 2 or .conn == 4) | [.event, .conn, .ts]' "$TMP/s.jsonl" | grep -v '"reply"' | md5sum)" \
    "$(jq -c '[.event, .conn, .ts]' "$TMP/f3.jsonl" | grep -v '"reply"' | md5sum)"
"$RT" cat "$G" --format jsonl > "$TMP/g.jsonl"
"$RT" filter "$G" -o "$TMP/f4.rtrace" --db 3 > /dev/null; check_eq "--db exit" 0 $?
check_eq "--db 3" "$(sel "$TMP/g.jsonl" '.db == 3' | md5sum)" "$("$RT" cat "$TMP/f4.rtrace" --format jsonl > "$TMP/f4.jsonl"; sel "$TMP/f4.jsonl" true | md5sum)"
check_eq "--db 3 kept some" 1 "$(( $(sel "$TMP/f4.jsonl" true | wc -l) > 3 ))"

# --- sampling by key: a sampled key keeps all its requests, in order
"$RT" filter "$S" -o "$TMP/k.rtrace" --sample 1/4 --by key --seed 7 > /dev/null; check_eq "--by key exit" 0 $?
"$RT" cat "$TMP/k.rtrace" --format jsonl > "$TMP/k.jsonl"
jq -r 'select(.event == "request") | .argv[1]' "$TMP/k.jsonl" | sort -u > "$TMP/k.keys"
nk=$(wc -l < "$TMP/k.keys") all=$(jq -r 'select(.event == "request") | .argv[1]' "$TMP/s.jsonl" | sort -u | wc -l)
check_eq "about 1/4 of the keys" 1 "$(( nk * 10 > all * 1 && nk * 10 < all * 4 ))"
check_eq "sampled keys keep every request" "$(jq -c --rawfile k "$TMP/k.keys" 'select(.event == "request" and (.argv[1] as $a | $k | split("\n") | index([$a]))) | [.conn, .argv, .reply.hash]' "$TMP/s.jsonl" | md5sum)" \
    "$(sel "$TMP/k.jsonl" true | md5sum)"
"$RT" filter "$S" -o "$TMP/k2.rtrace" --sample 1/4 --by key --seed 7 > /dev/null
check_eq "same seed, same sample" "$("$RT" cat "$TMP/k.rtrace" | md5sum)" "$("$RT" cat "$TMP/k2.rtrace" | md5sum)"
"$RT" filter "$S" -o "$TMP/k3.rtrace" --sample 1/4 --by key --seed 8 > /dev/null
check_eq "another seed, another sample" 1 "$([ "$("$RT" cat "$TMP/k.rtrace" | md5sum)" != "$("$RT" cat "$TMP/k3.rtrace" | md5sum)" ] && echo 1)"
# by connection: whole connections
"$RT" filter "$S" -o "$TMP/c.rtrace" --sample 1/2 --seed 3 --json > "$TMP/c.json"; check_eq "--by conn exit" 0 $?
"$RT" cat "$TMP/c.rtrace" --format jsonl > "$TMP/c.jsonl"
conns=$(jq -r 'select(.event == "open") | .conn' "$TMP/c.jsonl" | sort -u | paste -sd, -)
check_eq "by conn: whole connections" "$(sel "$TMP/s.jsonl" "[.conn] | inside([$conns])" | md5sum)" "$(sel "$TMP/c.jsonl" true | md5sum)"

# --- errors
"$RT" slice "$S" --from +1 2> "$TMP/e"; check_eq "slice without -o: 2" 2 $?
"$RT" slice "$S" --from nonsense -o "$TMP/x.rtrace" 2> "$TMP/e"; check_eq "bad time: 2" 2 $?
check_match "bad time named" "nonsense" "$(cat "$TMP/e")"
"$RT" slice "$S" --from +3 --to +1 -o "$TMP/x.rtrace" 2> /dev/null; check_eq "to before from: 2" 2 $?
"$RT" filter "$S" -o "$TMP/x.rtrace" --sample 1/0 2> /dev/null; check_eq "1/0: 2" 2 $?
"$RT" filter "$S" -o "$TMP/x.rtrace" --by key 2> /dev/null; check_eq "--by without --sample: 2" 2 $?
"$RT" filter "$S" -o "$TMP/x.rtrace" --conn x1 2> /dev/null; check_eq "bad --conn: 2" 2 $?
head -c 20000 "$S" > "$TMP/cut.rtrace"
"$RT" slice "$TMP/cut.rtrace" -o "$TMP/x.rtrace" > /dev/null 2> "$TMP/e"; check_eq "truncated: 1" 1 $?
check_match "truncated named" "cut.rtrace" "$(cat "$TMP/e")"
check_eq "what was read is written" 1 "$(( $("$RT" info --json "$TMP/x.rtrace" | jq .requests) > 0 ))"
"$RT" filter "$TMP/cut.rtrace" -o "$TMP/x.rtrace" --cmd get > /dev/null 2>&1; check_eq "filter truncated: 1" 1 $?
finish
