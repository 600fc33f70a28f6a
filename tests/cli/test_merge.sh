#!/usr/bin/env bash
# test_merge.sh: `resptrace merge`. Three live recorders on lo watch one redis-server that
# listens on 127.0.0.1 and 127.0.0.2: one sees only the clients of 127.0.0.1, one only
# those of 127.0.0.2, one both. The merge of the first two must equal the third: the same
# requests with the same times, arguments, connections (by client address) and paired replies.
# Then: metadata of every source, --clock-offset by host and by file name, distinct
# connection ids, replies following their renumbered requests, and the errors.
. "$(dirname "$0")/lib.sh"

"$RT" merge --help | grep -q "usage: resptrace merge"; check_eq "merge --help" 0 $?
check_match "help lists merge" "merge +merge traces" "$("$RT" help)"

start_redis_x --bind "127.0.0.1 127.0.0.2"
P=$RX_PORT
start_recorder "$P" "$TMP/all.rtrace" -p "$P" || fail "recorder all"
REC_ALL=$REC_PID
start_recorder "$P" "$TMP/a.rtrace" -f "tcp port $P and not host 127.0.0.2" || fail "recorder a"
REC_A=$REC_PID
start_recorder "$P" "$TMP/b.rtrace" -f "tcp port $P and host 127.0.0.2" || fail "recorder b"
REC_B=$REC_PID
redis-benchmark -h 127.0.0.1 -p "$P" -c 3 -n 3000 -r 500 -d 16 -t set,get -q > /dev/null &
bench=$!
redis-benchmark -h 127.0.0.2 -p "$P" -c 2 -n 2000 -r 500 -t incr,lpush,lpop -q > /dev/null
wait $bench
for i in $(seq 1 20); do rcli "$P" -h 127.0.0.2 RPUSH q "job$i" > /dev/null; done
sleep 0.5
for p in $REC_A $REC_B $REC_ALL; do kill -INT "$p"; done
for p in $REC_A $REC_B $REC_ALL; do wait "$p"; check_eq "recorder exit" 0 $?; done

"$RT" merge "$TMP/a.rtrace" "$TMP/b.rtrace" -o "$TMP/m.rtrace" --json > "$TMP/m.json"
check_eq "merge exit" 0 $?
"$RT" info --json "$TMP/all.rtrace" > "$TMP/all.info"
"$RT" info --json "$TMP/m.rtrace" > "$TMP/m.info"
reqs=$(jq .requests "$TMP/all.info")
check_eq "workload traced" 1 "$(( reqs >= 10020 ))"
check_eq "merged requests = both" "$reqs" "$(jq .requests "$TMP/m.info")"
check_eq "summary requests" "$reqs" "$(jq .requests "$TMP/m.json")"
check_eq "merged replies = both" "$(jq .replies "$TMP/all.info")" "$(jq .replies "$TMP/m.info")"
check_eq "merged connections = both" "$(jq .connections "$TMP/all.info")" "$(jq .connections "$TMP/m.info")"
check_eq "no pairing lost" 0 "$(jq .replies_unpaired_by_merge "$TMP/m.json")"

# every request as (connection by its addresses, its rank on the connection, db, argv, its
# reply's length and hash), with its time and its reply's time: the merged trace and the trace
# of both clients must hold the same list. Separate pcap handles stamp one packet apart (each
# handle takes the time as the kernel hands it the packet: a few hundred ns, and on a loaded
# machine once in a while more than a millisecond), so against the third recorder times agree
# within 1 ms but for 0.1% of them; against its own sources (a and b, same clock) the merge
# keeps every time exactly.
project() {
    "$RT" cat "$1" --format jsonl | jq -c -s '
        (map(select(.event == "open") | {key: (.conn | tostring), value: "\(.client)>\(.server)"}) | from_entries) as $c
        | map(select(.event == "request")) | group_by(.conn)[] | to_entries[]
        | [$c[.value.conn | tostring], .key, .value.db, .value.argv, .value.reply.len, .value.reply.hash,
           .value.ts, .value.reply.ts]' | sort
}
project "$TMP/all.rtrace" > "$TMP/all.req"
project "$TMP/m.rtrace" > "$TMP/m.req"
{ project "$TMP/a.rtrace"; project "$TMP/b.rtrace"; } | sort > "$TMP/ab.req"
check_eq "requests projected" "$reqs" "$(wc -l < "$TMP/m.req")"
check_eq "merge(a, b) = trace of both (connection, rank, db, argv, paired reply)" \
    "$(jq -c '.[0:6]' "$TMP/all.req" | md5sum)" "$(jq -c '.[0:6]' "$TMP/m.req" | md5sum)"
check_eq "merge(a, b) = a and b, times to the nanosecond" "$(md5sum < "$TMP/ab.req")" "$(md5sum < "$TMP/m.req")"
check_eq "times agree with the third recorder within 1 ms (all but 0.1%)" true "$(jq -n --slurpfile a "$TMP/all.req" --slurpfile m "$TMP/m.req" \
    '[range(0; $a | length) | select((($a[.][6] - $m[.][6]) | fabs) > 1e6 or (($a[.][7] - $m[.][7]) | fabs) > 1e6)] | length <= ($a | length) / 1000')"
check_eq "every request paired in the merge" 0 "$(jq -c 'select(.[5] == null)' "$TMP/m.req" | wc -l)"
# the merged file itself is in time order
check_eq "time order" true "$("$RT" cat "$TMP/m.rtrace" --format jsonl | jq -s '[.[].ts] | . == sort')"

# connection ids: source N's connections are N * 2^48 + id; a's go to 127.0.0.1, b's to .2
"$RT" cat "$TMP/m.rtrace" --format jsonl | jq -r 'select(.event == "open") | "\(.conn / 281474976710656 | floor) \(.server | split(":")[0])"' | sort -u > "$TMP/conns"
check_eq "source of each connection" "$(printf '1 127.0.0.1\n2 127.0.0.2')" "$(cat "$TMP/conns")"

# metadata: every source's keys under source.N.
host=$(jq -r '.metadata["capture.host"]' "$TMP/m.info" 2>/dev/null)
check_eq "capture.host is not claimed by the merge" null "$host"
for n in 1 2; do
    f=$([ $n = 1 ] && echo a || echo b)
    for k in capture.host capture.filter capture.start_ns tool.version; do
        check_eq "source.$n.$k" "$("$RT" info --json "$TMP/$f.rtrace" | jq -r ".metadata[\"$k\"]")" \
            "$(jq -r ".metadata[\"source.$n.$k\"]" "$TMP/m.info")"
    done
    check_eq "source.$n.file" "$TMP/$f.rtrace" "$(jq -r ".metadata[\"source.$n.file\"]" "$TMP/m.info")"
done
check_eq "merge.sources" 2 "$(jq -r '.metadata["merge.sources"]' "$TMP/m.info")"
check_eq "redaction.auth kept" on "$(jq -r '.metadata["redaction.auth"]' "$TMP/m.info")"

# --clock-offset by file name shifts that source only; by host (both have this host's name)
"$RT" merge "$TMP/a.rtrace" "$TMP/b.rtrace" -o "$TMP/o.rtrace" --clock-offset b=2.5 > /dev/null
check_eq "clock-offset exit" 0 $?
"$RT" info --json "$TMP/o.rtrace" > "$TMP/o.info"
# (19-digit nanosecond times: jq would read them as doubles, so they are taken as text)
end_ns() { grep -o '"end_ns": *[0-9]*' | grep -o '[0-9]*$'; }
bmax=$("$RT" info --json "$TMP/b.rtrace" | end_ns)
amax=$("$RT" info --json "$TMP/a.rtrace" | end_ns)
want=$(( (bmax + 2500000000) > amax ? (bmax + 2500000000) : amax ))
check_eq "end moved by 2.5 s" "$want" "$(end_ns < "$TMP/o.info")"
check_eq "offset recorded" 2500000000 "$(jq -r '.metadata["source.2.clock_offset_ns"]' "$TMP/o.info")"
h=$(jq -r '.metadata["capture.host"]' "$TMP/all.info")
"$RT" merge "$TMP/a.rtrace" -o "$TMP/h.rtrace" --clock-offset "$h=-1" > /dev/null
check_eq "offset by capture.host" "$(( amax - 1000000000 ))" "$("$RT" info --json "$TMP/h.rtrace" | end_ns)"

# the three-way merge of a trace with itself keeps replies on their own requests
"$RT" merge "$TMP/a.rtrace" "$TMP/a.rtrace" "$TMP/a.rtrace" -o "$TMP/aaa.rtrace" > /dev/null
"$RT" cat "$TMP/aaa.rtrace" --format jsonl | jq -c 'select(.event == "request") | [.argv, .reply.hash]' | sort > "$TMP/aaa.req"
"$RT" cat "$TMP/a.rtrace" --format jsonl | jq -c 'select(.event == "request") | [.argv, .reply.hash]' | sort > "$TMP/a1.req"
for _ in 1 2 3; do cat "$TMP/a1.req"; done | sort > "$TMP/a3.req"
check_files "a+a+a pairs each request with its own reply" "$TMP/a3.req" "$TMP/aaa.req"

# errors
"$RT" merge "$TMP/a.rtrace" 2> "$TMP/e1"; check_eq "no -o: exit 2" 2 $?
check_match "no -o message" "-o FILE" "$(cat "$TMP/e1")"
"$RT" merge "$TMP/a.rtrace" -o "$TMP/x.rtrace" --clock-offset nohost=1 2> "$TMP/e2"
check_eq "unknown host: exit 2" 2 $?
check_match "unknown host named" "nohost" "$(cat "$TMP/e2")"
"$RT" merge "$TMP/a.rtrace" -o "$TMP/x.rtrace" --clock-offset a=abc 2> /dev/null
check_eq "bad seconds: exit 2" 2 $?
echo '{"requests": 1}' > "$TMP/r1.json"; echo '{"requests": 2}' > "$TMP/r2.json"
"$RT" merge "$TMP/r1.json" "$TMP/r2.json" -o "$TMP/x.json" 2> "$TMP/e3"
# (replay results are merged by merge_runs.c, tested in test_merge_runs.sh; these are not any)
check_eq "JSON inputs that are not replay results: exit 1" 1 $?
check_match "JSON message" "r1.json: not a replay result" "$(cat "$TMP/e3")"
head -c 3000 "$TMP/a.rtrace" > "$TMP/cut.rtrace"
"$RT" merge "$TMP/cut.rtrace" "$TMP/b.rtrace" -o "$TMP/x.rtrace" > /dev/null 2> "$TMP/e4"
check_eq "truncated source: exit 1" 1 $?
check_match "names the file" "cut.rtrace" "$(cat "$TMP/e4")"
"$RT" merge "$TMP/nosuch.rtrace" -o "$TMP/x.rtrace" 2> /dev/null; check_eq "missing source: exit 1" 1 $?
finish
