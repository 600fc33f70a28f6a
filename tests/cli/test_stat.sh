#!/usr/bin/env bash
# test_stat.sh: `resptrace stat` on the trace of make_stat_trace, whose numbers are known
# exactly (see the comments in tests/make_stat_trace.c), on the committed samples against
# `resptrace info`, and on bad and truncated traces.
. "$(dirname "$0")/lib.sh"
GEN=$(dirname "$RT")/make_stat_trace
if [ ! -x "$GEN" ]; then
    echo "no $GEN (build the make_stat_trace target)" >&2
    exit 1
fi
S=$TMP/stat.rtrace
J=$TMP/stat.json
"$GEN" "$S"; check_eq "make_stat_trace exit" 0 $?

"$RT" stat --help | grep -q "usage: resptrace stat"; check_eq "stat --help" 0 $?
check_match "help lists stat" "stat +summarise" "$("$RT" help)"
"$RT" stat > /dev/null 2>&1; check_eq "no trace: usage error" 2 $?
"$RT" stat "$S" --bogus > /dev/null 2>&1; check_eq "bad option: usage error" 2 $?

"$RT" stat "$S" --json > "$J"; check_eq "stat --json exit" 0 $?
j() { jnum "$J" "$1"; }
# within P: 1 when |actual - expected| <= expected / 100 (the histogram's bound)
within() { jq -n --argjson a "$1" --argjson e "$2" 'if ($a - $e | fabs) <= ($e / 100) then 1 else 0 end'; }
checkw() { check_eq "$1 (got $(j "$2"), want $3 within 1%)" 1 "$(within "$(j "$2")" "$3")"; }

# totals, duration and the per-second series
check_eq "requests" 19 "$(j .requests)"
check_eq "replies" 20 "$(j .replies)"
check_eq "unpaired replies" 1 "$(j .unpaired_replies)"
check_eq "unanswered requests" 0 "$(j .unanswered_requests)"
check_eq "duration" 2.9 "$(j .duration_s)"
check_eq "start" 1764171752000000000 "$(j .start_ns)"
check_eq "per-second series" "[14,0,5]" "$(jq -c .rate.per_second "$J")"
check_eq "rate min" 0 "$(j .rate.min)"
check_eq "rate max" 14 "$(j .rate.max)"
check_eq "rate mean" 6.333 "$(jq '.rate.mean * 1000 | round / 1000' "$J")"

# command mix and classes
check_eq "command counts" '{"get":9,"set":5,"foobar":2,"config|get":1,"incr":1,"ping":1}' \
    "$(jq -c '[.commands[] | {(.name): .count}] | add' "$J")"
check_eq "sorted by count" true "$(jq '[.commands[].count] | . == (sort | reverse)' "$J")"
check_eq "get share" 0.4737 "$(jq '.commands[] | select(.name=="get") | .share * 10000 | round / 10000' "$J")"
check_eq "shares add up" 1 "$(jq '[.commands[].share] | add | . * 1e9 | round / 1e9' "$J")"
check_eq "command classes" \
    '{"get":"read","set":"write","foobar":"other","config|get":"other","incr":"write","ping":"other"}' \
    "$(jq -c '[.commands[] | {(.name): .class}] | add' "$J")"
check_eq "classes" '{"read":9,"write":6,"other":4}' "$(jq -c .classes "$J")"
check_eq "errors per command" '{"get":4,"foobar":2}' \
    "$(jq -c '[.commands[] | select(.errors > 0) | {(.name): .errors}] | add' "$J")"

# sizes (below 256 the histogram is exact)
check_eq "key sizes" '{"count":15,"p50":8,"p90":8,"p99":20,"max":20}' \
    "$(jq -c '.key_size | {count, p50, p90, p99, max}' "$J")"
check_eq "key size mean" 6.933 "$(jq '.key_size.mean * 1000 | round / 1000' "$J")"
check_eq "value sizes" '{"count":5,"mean":40,"p50":30,"p90":100,"p99":100,"max":100}' \
    "$(jq -c '.value_size | {count, mean, p50, p90, p99, max}' "$J")"
check_eq "reply sizes" '{"count":20,"p50":7,"max":108}' \
    "$(jq -c '.reply_size | {count, p50, max}' "$J")"
check_eq "reply types" '{"array":1,"bulk":3,"error":6,"integer":1,"null":2,"simple":7}' \
    "$(jq -S -c .reply_types "$J")"

# pipelining: 16 requests alone, a batch of 4 sent before any reply (depths 1, 2, 3, 4)
check_eq "pipeline depth" '{"count":19,"p50":1,"p90":3,"p99":4,"max":4}' \
    "$(jq -c '.pipeline_depth | {count, p50, p90, p99, max}' "$J")"

# connections
check_eq "connections" \
    '{"count":4,"closed":2,"open_at_end":2,"midstream":1,"tls":1,"without_open":0}' \
    "$(jq -c '.connections | {count, closed, open_at_end, midstream, tls, without_open}' "$J")"
check_eq "requests per connection" '{"count":4,"mean":4.75,"p50":1,"p90":11,"max":11}' \
    "$(jq -c '.connections.requests | {count, mean, p50, p90, max}' "$J")"
checkw "lifetime p50 (0.3 s)" .connections.lifetime_ns.p50 300000000
check_eq "lifetime max (2.5 s)" 2500000000 "$(j .connections.lifetime_ns.max)"
check_eq "lifetime count" 4 "$(j .connections.lifetime_ns.count)"

# databases, protocols, errors, gaps, drops
check_eq "dbs" '{"0":12,"3":7}' "$(jq -S -c .dbs "$J")"
check_eq "proto" '{"2":12,"3":7,"other":0}' "$(jq -S -c .proto "$J")"
check_eq "errors total" 6 "$(j .errors.total)"
check_eq "errors by prefix" '{"ERR":3,"MOVED":1,"WRONGTYPE":2}' "$(jq -S -c .errors.by_prefix "$J")"
check_eq "gaps" '{"bytes_to_client":75,"bytes_to_server":100,"count":3}' "$(jq -S -c .gaps "$J")"
check_eq "drops" '{"bytes":123456,"bytes_dropped":99,"flows_dropped":1,"iface_drops":2,"kernel_drops":7,"packets":1000}' \
    "$(jq -S -c .capture "$J")"
check_eq "no damage" null "$(jq .damage "$J")"

# recorded latency: overall 5, 10, 10, 20, 50 us, 5x 100 us, 4x 200 us, 4x 1 ms, 3 ms
checkw "latency p50" .latency_ns.p50 100000
checkw "latency p90" .latency_ns.p90 1000000
checkw "latency p99" .latency_ns.p99 3000000
check_eq "latency max" 3000000 "$(j .latency_ns.max)"
check_eq "latency count" 19 "$(j .latency_ns.count)"
lat() { jq ".commands[] | select(.name==\"$1\") | .latency_ns.$2" "$J"; }
check_eq "get latency p50 (1 ms)" 1 "$(within "$(lat get p50)" 1000000)"
check_eq "get latency p90 (3 ms)" 1 "$(within "$(lat get p90)" 3000000)"
check_eq "set latency p50 (100 us)" 1 "$(within "$(lat set p50)" 100000)"
check_eq "set latency p99 (100 us)" 1 "$(within "$(lat set p99)" 100000)"
check_eq "incr latency max" 50000 "$(lat incr max)"
check_eq "config|get latency" 20000 "$(lat 'config|get' max)"

# the table shows the same numbers
"$RT" stat "$S" > "$TMP/table.txt"; check_eq "stat table exit" 0 $?
T=$(cat "$TMP/table.txt")
check_match "table requests" "^requests +19 \(per second: min 0, mean 6.3, max 14 over 3 s\)" "$T"
check_match "table classes" "classes +read 9, write 6, other 4" "$T"
check_match "table get row" "get +9 +47.37% read +4 " "$T"
check_match "table config|get row" "config\|get +1 +5.26% other" "$T"
check_match "table pipeline" "pipeline depth +19 +1.3 +1 +3 +4 +4" "$T"
check_match "table dbs" "databases +db0 12, db3 7" "$T"
check_match "table drops" "drops +kernel 7, interface 2, flows 1, bytes 99" "$T"

# the committed samples: totals equal `resptrace info`'s
for src in cache clients; do
    if [ $src = cache ]; then
        F=$SRC/traces/sample-cache.rtrace
    else
        F=$TMP/clients.rtrace
        "$RT" record -q -r "$SRC/traces/sample-clients.pcap" -f tcp -w "$F" > /dev/null
        check_eq "record the clients sample" 0 $?
    fi
    "$RT" info "$F" --json > "$TMP/$src-info.json"
    "$RT" stat "$F" --json > "$TMP/$src-stat.json"; check_eq "$src: stat exit" 0 $?
    I=$TMP/$src-info.json
    O=$TMP/$src-stat.json
    for k in requests replies pushes events start_ns end_ns connections; do
        if [ $k = connections ]; then q=.connections.count; else q=.$k; fi
        check_eq "$src: $k" "$(jq .$k "$I")" "$(jq "$q" "$O")"
    done
    check_eq "$src: closes" "$(jq .closes "$I")" "$(jq '.connections.closed' "$O")"
    check_eq "$src: gaps" "$(jq .gaps "$I")" "$(jq .gaps.count "$O")"
    check_eq "$src: kernel drops" "$(jq .capture.kernel_drops "$I")" "$(jq .capture.kernel_drops "$O")"
    check_eq "$src: series adds up" "$(jq .requests "$I")" "$(jq '.rate.per_second | add' "$O")"
    check_eq "$src: commands add up" "$(jq .requests "$I")" "$(jq '[.commands[].count] | add' "$O")"
    check_eq "$src: classes add up" "$(jq .requests "$I")" "$(jq '.classes | add' "$O")"
    check_eq "$src: dbs add up" "$(jq .requests "$I")" "$(jq '.dbs | add' "$O")"
    check_eq "$src: depth count" "$(jq .requests "$I")" "$(jq '.pipeline_depth.count' "$O")"
    check_eq "$src: reply types add up" "$(jq .replies "$I")" "$(jq '.reply_types | add' "$O")"
    check_eq "$src: connection requests add up" "$(jq .requests "$I")" \
        "$(jq '.connections.requests.mean * .connections.requests.count | round' "$O")"
done
check_eq "cache: commands" '{"del":204,"get":861,"incr":204,"set":731}' \
    "$(jq -S -c '[.commands[] | {(.name): .count}] | add' "$TMP/cache-stat.json")"
# the clients sample pipelines (redis-benchmark -P) and uses db 2 and RESP3 once
check_match "clients: pipelined" '^([2-9]|[1-9][0-9]+)$' "$(jq .pipeline_depth.max "$TMP/clients-stat.json")"
check_eq "clients: db 2" 3 "$(jq '.dbs["2"]' "$TMP/clients-stat.json")"
check_eq "clients: RESP3" 1 "$(jq '.proto["3"]' "$TMP/clients-stat.json")"

# bad input: the message names the file, exit 1
echo "not a trace" > "$TMP/bad"
"$RT" stat "$TMP/bad" > /dev/null 2> "$TMP/bad.err"; check_eq "bad trace exit" 1 $?
check_match "bad trace message" "resptrace stat: .*bad" "$(cat "$TMP/bad.err")"
"$RT" stat "$TMP/missing.rtrace" > /dev/null 2> "$TMP/missing.err"; check_eq "missing exit" 1 $?
check_match "missing message" "missing.rtrace" "$(cat "$TMP/missing.err")"

# truncated: what was read is reported, with the message, exit 1
head -c $(($(stat -c %s "$S") / 2)) "$S" > "$TMP/trunc.rtrace"
"$RT" stat "$TMP/trunc.rtrace" --json > "$TMP/trunc.json" 2> "$TMP/trunc.err"
check_eq "truncated exit" 1 $?
check_match "truncated message" "resptrace stat: .*trunc.rtrace.*truncated" "$(cat "$TMP/trunc.err")"
check_match "truncated: some requests read" '^[1-9][0-9]*$' "$(jq .requests "$TMP/trunc.json")"
check_eq "truncated: fewer than all" true "$(jq '.requests < 19' "$TMP/trunc.json")"
check_match "truncated: damage in JSON" "truncated" "$(jq -r .damage "$TMP/trunc.json")"
"$RT" stat "$TMP/trunc.rtrace" > "$TMP/trunc.txt" 2>/dev/null; check_eq "truncated table exit" 1 $?
check_match "truncated table printed" "^requests +[1-9]" "$(cat "$TMP/trunc.txt")"

# ---- the conventions of every command ---------------------------------------------------------
# usage errors: one line naming the problem, then where the help is (never the whole help)
usage_err() { # DESCRIPTION WANT-FIRST-LINE ARGS...
    local d=$1 want=$2
    shift 2
    "$RT" stat "$@" > /dev/null 2> "$TMP/uerr"
    check_eq "$d: exit 2" 2 $?
    check_eq "$d: one line and the pointer" "$want
see 'resptrace stat --help'" "$(cat "$TMP/uerr")"
}
usage_err "no trace" "resptrace stat: give the trace to read"
usage_err "two traces" "resptrace stat: one trace at a time (got 'b' after 'a')" a b
usage_err "unknown option" "resptrace stat: unknown option '--bogus'" "$S" --bogus
usage_err "unknown short option" "resptrace stat: unknown option '-x'" "$S" -x
usage_err "a value to a flag" "resptrace stat: option '--salvage' takes no value" "$S" --salvage=1
usage_err "--json= empty" "resptrace stat: --json= needs a file name (or '-' for stdout)" "$S" --json=
check_eq "--help fits 80 columns" "" "$("$RT" stat --help | awk 'length($0) >= 80')"
# --json: one document with the tool's header; times carry their unit in their name
check_eq "one document" 1 "$(jq -s length "$J")"
check_eq "header" '["resptrace","stat",2]' "$(jq -c '[.tool, .command, .schema]' "$J")"
check_eq "header first" '["tool","version","schema","command"]' "$(jq -c '[keys_unsorted[0:4][]]' "$J")"
check_eq "no time without a unit" "[]" "$(jq -c '[paths(type != "object" and type != "array") | .[-1] | select(type == "string") | select(test("^(start|end|span)$|(^|_)(time|duration|latency|lifetime|seconds|elapsed)$"))] | unique' "$J")"
check_eq "not interrupted" false "$(jq .interrupted "$J")"
check_eq "no malformed request" 0 "$(jq .malformed "$J")"
# --json=FILE: the document into FILE, the tables still on stdout; never into the trace
"$RT" stat "$S" --json="$TMP/f.json" > "$TMP/f.txt"; check_eq "--json=FILE exit" 0 $?
check_eq "--json=FILE: the same document" "$(jq -c . "$J")" "$(jq -c . "$TMP/f.json")"
check_match "--json=FILE: the tables on stdout" "^requests +19 " "$(cat "$TMP/f.txt")"
"$RT" stat "$S" --json=- > "$TMP/dash.json"; check_eq "--json=- is stdout" "$(jq -c . "$J")" "$(jq -c . "$TMP/dash.json")"
cp "$S" "$TMP/s.keep"
"$RT" stat "$S" --json="$S" > /dev/null 2> "$TMP/err"; check_eq "--json=TRACE refused" 2 $?
check_match "... says why" "will not write .*stat\.rtrace: it is the input" "$(cat "$TMP/err")"
check_files "... the trace is untouched" "$TMP/s.keep" "$S"
ln "$S" "$TMP/hard.json"
"$RT" stat "$S" --json="$TMP/hard.json" > /dev/null 2>&1; check_eq "--json=hard link to the trace refused" 2 $?
check_files "... the trace is untouched" "$TMP/s.keep" "$S"
# the last second: how much of the last per-second count the trace covers, from its first
# event to its last
check_eq "last_second_s" "$(jq '(.end_ns - .start_ns) / 1e9 - (.rate.per_second | length) + 1 | . * 1000 | round' "$J")" \
    "$(jq '.rate.last_second_s * 1000 | round' "$J")"
check_eq "errors per second add up to the errors" "$(jq .errors.total "$J")" "$(jq '.errors.per_second | add // 0' "$J")"

finish
