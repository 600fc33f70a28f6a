#!/bin/bash
# test_merge_runs.sh: `resptrace merge RUN.json ... -o RUN.json` on real replays against a
# redis-server: one trace replayed whole, and as two runs each holding half the connections
# (`filter --conn`); the merged counts are the sums, and every merged histogram is the
# bucket-by-bucket sum of the parts' with its percentiles, checked by tests/cli/hist_merge.awk
# (an independent reading of the histogram text).
. "$(dirname "$0")/lib.sh"
AWKM="$SRC/tests/cli/hist_merge.awk"
T="$SRC/traces/sample-cache.rtrace"

start_redis_x
P=$RX_PORT
URL="redis://127.0.0.1:$P"

# the trace's connections, split in two disjoint halves
CONNS=$("$RT" cat "$T" | awk '$2 == "conn" && $4 == "open" { print $3 }' | sort -n | tr '\n' ' ')
set -- $CONNS
check_eq "the sample has 4 connections" 4 $#
"$RT" filter "$T" -o "$TMP/h1.rtrace" --conn "$1,$2" > /dev/null; check_eq "filter half 1" 0 $?
"$RT" filter "$T" -o "$TMP/h2.rtrace" --conn "$3,$4" > /dev/null; check_eq "filter half 2" 0 $?

rcli "$P" flushall > /dev/null
"$RT" replay "$T" --target "$URL" --speed 4 -q --json="$TMP/one.json" --label whole > /dev/null
check_eq "replay whole" 0 $?
for h in h1 h2; do
    "$RT" replay "$TMP/$h.rtrace" --target "$URL" --speed 4 -q --json="$TMP/$h.json" \
        --label "half $h" > /dev/null
    check_eq "replay $h" 0 $?
done

"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o "$TMP/m.json" > "$TMP/m.out" 2> "$TMP/m.err"
check_eq "merge exit" 0 $?
check_match "summary names the merged output" "m.json +merged +2000 " "$(cat "$TMP/m.out")"
M="$TMP/m.json"

# ---- counts: the sums of the parts, and the whole run's ops ----
sum() { echo $(( $(jnum "$TMP/h1.json" "$1") + $(jnum "$TMP/h2.json" "$1") )); }
for f in .ops .requests .sent .errors .skipped .unanswered .connections.opened \
    .divergence.compared .divergence.misses .divergence.new_values .skipped_by.unsafe; do
    check_eq "merged $f is the sum" "$(sum "$f")" "$(jnum "$M" "$f")"
done
check_eq "merged ops equal the whole run's" "$(jnum "$TMP/one.json" .ops)" "$(jnum "$M" .ops)"
check_eq "merged ops: every request of the trace" 2000 "$(jnum "$M" .ops)"
for c in get set del incr; do
    check_eq "$c ops summed" "$(sum ".commands.$c.ops")" "$(jnum "$M" ".commands.$c.ops")"
    check_eq "$c ops equal the whole run's" "$(jnum "$TMP/one.json" ".commands.$c.ops")" \
        "$(jnum "$M" ".commands.$c.ops")"
    check_eq "$c compared summed" "$(sum ".commands.$c.divergence.compared")" \
        "$(jnum "$M" ".commands.$c.divergence.compared")"
done
maxdur=$(jq -r '[.duration_s] | max' "$TMP/h1.json" "$TMP/h2.json" | sort -g | tail -1)
check_eq "duration is the longest part's" "$maxdur" "$(jq -r .duration_s "$M")"
check_eq "ops_per_s = ops / duration" "ok" "$(jq -r 'if ((.ops / .duration_s) - .ops_per_s | fabs) < 1e-6 then "ok" else "bad" end' "$M")"
check_eq "parts: the labels" '["half h1","half h2"]' "$(jq -c .parts "$M")"
check_eq "no common label: none" "null" "$(jq -r .label "$M")"
check_eq "the common target kept" "$URL/0" "$(jq -r .target "$M")"
# the merged file is a document of this tool: its header, not the parts' (the schema number is
# not a count to add up)
check_eq "the parts carry the replay's header" '["resptrace","replay",2]' \
    "$(jq -c '[.tool, .command, .schema]' "$TMP/h1.json")"
check_eq "merged header" '["resptrace","merge",2]' "$(jq -c '[.tool, .command, .schema]' "$M")"
check_eq "merged header first" '["tool","version","schema","command"]' "$(jq -c '[keys_unsorted[0:4][]]' "$M")"
check_eq "the earliest start" "$(jq -s 'map(.start_unix_s) | min' "$TMP/h1.json" "$TMP/h2.json")" "$(jq .start_unix_s "$M")"
check_eq "nothing left beside the output" "" "$(ls -A "$TMP" | grep '\.tmp-' || true)"
# parts written before the results carried a header merge the same
jq 'del(.tool, .version, .schema, .command)' "$TMP/h1.json" > "$TMP/old1.json"
"$RT" merge "$TMP/old1.json" "$TMP/h2.json" -o "$TMP/mold.json" > /dev/null; check_eq "a part without the header" 0 $?
check_eq "... merged the same" "$(jq -c 'del(.parts, .part_files)' "$M")" "$(jq -c 'del(.parts, .part_files)' "$TMP/mold.json")"

# outputs never destroy inputs: the output naming a part (also through a link) is refused,
# and the parts are left byte for byte as they were
cp "$TMP/h1.json" "$TMP/h1.keep"; cp "$TMP/h2.json" "$TMP/h2.keep"
"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o "$TMP/h1.json" > /dev/null 2> "$TMP/err"
check_eq "merge a b -o a: refused" 2 $?
check_match "... says why" "will not write .*h1\.json: it is the input" "$(cat "$TMP/err")"
check_files "... part 1 untouched" "$TMP/h1.keep" "$TMP/h1.json"
check_files "... part 2 untouched" "$TMP/h2.keep" "$TMP/h2.json"
ln -s "$TMP/h2.json" "$TMP/h2link.json"
"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o "$TMP/h2link.json" > /dev/null 2>&1
check_eq "merge a b -o symlink-to-b: refused" 2 $?
check_files "... part 2 untouched" "$TMP/h2.keep" "$TMP/h2.json"
# a merge that fails leaves the file it would have replaced as it was
echo "previous" > "$TMP/prev.json"
jq 'del(.latency_us.hist)' "$TMP/h1.json" > "$TMP/nh.json"
"$RT" merge "$TMP/h2.json" "$TMP/nh.json" -o "$TMP/prev.json" > /dev/null 2>&1; check_eq "failing merge" 1 $?
check_eq "... the old output is kept" "previous" "$(cat "$TMP/prev.json")"

# ---- histograms: bucket sums and percentiles, overall and per command ----
# hcheck NAME JQPATH: the merged latency object at JQPATH against the parts' at JQPATH
hcheck() {
    local want got
    want=$(jq -r "$2.hist" "$TMP/h1.json" "$TMP/h2.json" | awk -f "$AWKM")
    got=$(jq -r "$2 | \"\(.count) \(.p50*1000|round) \(.p90*1000|round) \(.p99*1000|round) \(.p999*1000|round) \(.max*1000|round)\"" "$M")
    check_eq "$1: count and percentiles of the summed buckets" \
        "$(echo "$want" | awk '{ print $1, $5, $6, $7, $8, $3 }')" "$got"
    check_eq "$1: merged buckets are the parts' sums" \
        "$(echo "$want" | cut -d' ' -f9-)" "$(jq -r "$2.hist" "$M" | cut -d' ' -f8-)"
    check_eq "$1: merged min, max, count" "$(echo "$want" | awk '{ print $2, $3, $1, $4 }')" \
        "$(jq -r "$2.hist" "$M" | awk '{ print $3, $4, $5, $6 }')"
    # the merged sum (mean) is the parts' sums added
    check_eq "$1: merged sum of values" \
        "$(jq -r "$2.hist" "$TMP/h1.json" "$TMP/h2.json" | awk '{ s += $7 } END { printf "%.0f", s }')" \
        "$(jq -r "$2.hist" "$M" | awk '{ printf "%.0f", $7 }')"
}
hcheck "latency" .latency_us
hcheck "service time" .service_time_us
hcheck "lag" .lag_us
for c in get set del incr; do hcheck "$c latency" ".commands.$c.latency_us"; done
# a part's percentile is not the merged one unless the halves agree: the merge did real work
check_match "p50 of the parts bracket the merged p50" "^ok$" \
    "$(jq -rs '[.[0].latency_us.p50, .[1].latency_us.p50] as $p | if .[2].latency_us.p50 >= ($p|min) and .[2].latency_us.p50 <= ($p|max) then "ok" else "bad" end' "$TMP/h1.json" "$TMP/h2.json" "$M")"

# ---- timeline: by second index ----
n1=$(jq '.timeline | length' "$TMP/h1.json"); n2=$(jq '.timeline | length' "$TMP/h2.json")
check_eq "timeline length: the longer part's" "$(( n1 > n2 ? n1 : n2 ))" "$(jq '.timeline | length' "$M")"
check_eq "timeline ops summed per second" \
    "$(jq -s -c '[range(0; ([.[0].timeline, .[1].timeline] | map(length) | max)) as $i | ((.[0].timeline[$i].ops // 0) + (.[1].timeline[$i].ops // 0))]' "$TMP/h1.json" "$TMP/h2.json")" \
    "$(jq -c '[.timeline[].ops]' "$M")"
check_eq "timeline p99: the larger part's" \
    "$(jq -s -c '[range(0; ([.[0].timeline, .[1].timeline] | map(length) | max)) as $i | ([.[0].timeline[$i].p99_us, .[1].timeline[$i].p99_us] | map(select(. != null)) | max)]' "$TMP/h1.json" "$TMP/h2.json")" \
    "$(jq -c '[.timeline[].p99_us]' "$M")"
check_eq "timeline ops add up to ops" "$(jnum "$M" .ops)" "$(jq '[.timeline[].ops] | add' "$M")"

# ---- a run merged with itself: counts double, percentiles identical ----
"$RT" merge "$TMP/one.json" "$TMP/one.json" -o "$TMP/self.json" --label twice --json > "$TMP/self.out"
check_eq "self merge exit" 0 $?
check_eq "self merge: ops double" "$(( $(jnum "$TMP/one.json" .ops) * 2 ))" "$(jnum "$TMP/self.json" .ops)"
check_eq "self merge: get errors double" "$(( $(jnum "$TMP/one.json" .commands.get.errors) * 2 ))" \
    "$(jnum "$TMP/self.json" .commands.get.errors)"
check_eq "self merge: percentiles identical" \
    "$(jq -c '.latency_us | [.p50, .p90, .p99, .p999, .max, .mean]' "$TMP/one.json")" \
    "$(jq -c '.latency_us | [.p50, .p90, .p99, .p999, .max, .mean]' "$TMP/self.json")"
check_eq "self merge: count doubles" "$(( $(jnum "$TMP/one.json" .latency_us.count) * 2 ))" \
    "$(jnum "$TMP/self.json" .latency_us.count)"
check_eq "self merge: --label" "twice" "$(jq -r .label "$TMP/self.json")"
check_eq "self merge: --json summary ops" "$(jnum "$TMP/self.json" .ops)" "$(jq -r .ops "$TMP/self.out")"
check_eq "self merge: --json summary is one document with the header" '1 ["resptrace","merge"]' \
    "$(jq -s length "$TMP/self.out") $(jq -c '[.tool, .command]' "$TMP/self.out")"
check_eq "self merge: --json summary p99" "$(jq -r .latency_us.p99 "$TMP/self.json")" \
    "$(jq -r .latency_us.p99 "$TMP/self.out")"

# ---- --json=FILE: the summary document into FILE, the text summary where it goes without ----
"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o "$TMP/mj.json" --json > "$TMP/mj.stdout"
check_eq "--json: exit" 0 $?
"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o "$TMP/mj.json" --json="$TMP/mj.sum" > "$TMP/mj.out"
check_eq "--json=FILE: exit" 0 $?
check_eq "--json=FILE: the document --json prints" "$(jq -c . "$TMP/mj.stdout")" "$(jq -c . "$TMP/mj.sum")"
check_match "--json=FILE: the text summary on stdout" "mj.json +merged +2000 " "$(cat "$TMP/mj.out")"
check_eq "--json=FILE: nothing left beside it" "" "$(ls -A "$TMP" | grep '\.tmp-' || true)"
"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o - --json="$TMP/mj2.sum" > "$TMP/mj2.stdout" 2> "$TMP/mj2.err"
check_eq "-o - --json=FILE: exit" 0 $?
check_eq "... the result on stdout" "$(jq -c 'del(.part_files)' "$TMP/mj.json")" "$(jq -c 'del(.part_files)' "$TMP/mj2.stdout")"
check_match "... the text summary on stderr" "^ +- +merged +2000 " "$(cat "$TMP/mj2.err")"
check_eq "... the summary in the file" "- 2000" "$(jq -r '"\(.output) \(.ops)"' "$TMP/mj2.sum")"
"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o "$TMP/mj.json" --json="$TMP/mj.json" > /dev/null 2> "$TMP/err"
check_eq "--json=the result: refused" 2 $?
check_match "... says why" "would overwrite" "$(cat "$TMP/err")"
"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o "$TMP/mj3.json" --json="$TMP/h2.json" > /dev/null 2> "$TMP/err"
check_eq "--json=a part: refused" 2 $?
check_match "... says why" "will not write .*h2\.json: it is the input" "$(cat "$TMP/err")"
check_files "... part 2 untouched" "$TMP/h2.keep" "$TMP/h2.json"
check_eq "... and writes no result" no "$([ -e "$TMP/mj3.json" ] && echo yes || echo no)"

# ---- shards, matched by node address (rows edited into real results) ----
jq '.shards = [{node: "10.0.0.1:6379", role: "primary", ops: 5, errors: 1, latency_us: .commands.get.latency_us},
               {node: "10.0.0.2:6379", role: "primary", ops: 7, errors: 0, latency_us: .commands.set.latency_us}]' \
    "$TMP/h1.json" > "$TMP/s1.json"
jq '.shards = [{node: "10.0.0.3:6379", role: "primary", ops: 11, errors: 2, latency_us: .commands.del.latency_us},
               {node: "10.0.0.2:6379", role: "primary", ops: 13, errors: 4, latency_us: .commands.incr.latency_us}]' \
    "$TMP/h2.json" > "$TMP/s2.json"
"$RT" merge "$TMP/s1.json" "$TMP/s2.json" -o "$TMP/sm.json" > /dev/null
check_eq "shards merge exit" 0 $?
check_eq "shards: one row per node, first seen first" '["10.0.0.1:6379","10.0.0.2:6379","10.0.0.3:6379"]' \
    "$(jq -c '[.shards[].node]' "$TMP/sm.json")"
check_eq "shards: counts summed per node" '[5,20,11] [1,4,2]' \
    "$(jq -c '[.shards[].ops]' "$TMP/sm.json") $(jq -c '[.shards[].errors]' "$TMP/sm.json")"
want=$( { jq -r .commands.set.latency_us.hist "$TMP/h1.json"; jq -r .commands.incr.latency_us.hist "$TMP/h2.json"; } | awk -f "$AWKM")
check_eq "shards: a node's histograms merged" "$(echo "$want" | awk '{ print $1, $7 }')" \
    "$(jq -r '.shards[1].latency_us | "\(.count) \(.p99*1000|round)"' "$TMP/sm.json")"

# ---- refusals ----
jq 'del(.commands.get.latency_us.hist)' "$TMP/h1.json" > "$TMP/nohist.json"
"$RT" merge "$TMP/h2.json" "$TMP/nohist.json" -o "$TMP/x.json" 2> "$TMP/err"
check_eq "a part without hist: exit 1" 1 $?
check_match "... names the file and the object" "nohist.json: commands.get.latency_us has no \"hist\"" "$(cat "$TMP/err")"
check_eq "... and writes nothing" "no" "$([ -e "$TMP/x.json" ] && echo yes || echo no)"
jq 'del(.latency_us.hist)' "$TMP/h1.json" > "$TMP/nohist2.json"
"$RT" merge "$TMP/nohist2.json" "$TMP/h2.json" -o "$TMP/x.json" 2> "$TMP/err"
check_eq "overall without hist: exit 1" 1 $?
check_match "... names the file" "nohist2.json: latency_us has no \"hist\"" "$(cat "$TMP/err")"
jq '.latency_us.hist = "v1 7 5 3 1 0 5 5:1"' "$TMP/h1.json" > "$TMP/badhist.json"
"$RT" merge "$TMP/h2.json" "$TMP/badhist.json" -o "$TMP/x.json" 2> "$TMP/err"
check_eq "a damaged hist: exit 1" 1 $?
check_match "... names the file and the offset" "badhist.json: latency_us.hist: histogram: .*offset" "$(cat "$TMP/err")"
echo '{"trace": "x", "findings": {}}' > "$TMP/check.json"
"$RT" merge "$TMP/h1.json" "$TMP/check.json" -o "$TMP/x.json" 2> "$TMP/err"
check_eq "not a replay result: exit 1" 1 $?
check_match "... says so" "check.json: not a replay result" "$(cat "$TMP/err")"
echo '{"ops": 1, ' > "$TMP/broken.json"
"$RT" merge "$TMP/h1.json" "$TMP/broken.json" -o "$TMP/x.json" 2> "$TMP/err"
check_eq "broken JSON: exit 1" 1 $?
check_match "... names the file and line" "broken.json: line [0-9]+" "$(cat "$TMP/err")"
"$RT" merge "$TMP/h1.json" "$T" -o "$TMP/x.json" 2> /dev/null
check_eq "results and traces mixed: exit 2" 2 $?
"$RT" merge "$TMP/h1.json" "$TMP/h2.json" -o "$TMP/x.json" --same-conns 2> /dev/null
check_eq "trace options on results: exit 2" 2 $?
"$RT" merge "$TMP/h1.rtrace" "$TMP/h2.rtrace" -o "$TMP/x.rtrace" --label x 2> /dev/null
check_eq "--label on traces: exit 2" 2 $?
"$RT" merge --help | grep -q "LARGEST of the parts"
check_eq "--help says the timeline percentiles are not exact" 0 $?

finish
