#!/bin/bash
# test_compare.sh: `resptrace compare` and the report's comparison on real replays: the
# sample cache trace against a healthy redis-server (the baseline) and against one whose
# writes all fail (maxmemory 1, noeviction: SET and INCR get OOM errors, DEL does not, and
# every GET finds nothing), whose errors and misses are known from the trace itself.
. "$(dirname "$0")/lib.sh"
AWKM="$SRC/tests/cli/hist_merge.awk"
T="$SRC/traces/sample-cache.rtrace"

# the known answers, from `stat` of the trace
"$RT" stat --json "$T" > "$TMP/stat.json"
cnt() { jq -r --arg c "$1" '.commands[] | select(.name == $c) | .count' "$TMP/stat.json"; }
NGET=$(cnt get); NSET=$(cnt set); NDEL=$(cnt del); NINCR=$(cnt incr)
NBULK=$(jq -r .reply_types.bulk "$TMP/stat.json"); NNULL=$(jq -r .reply_types.null "$TMP/stat.json")
check_eq "the sample: only GET has bulk or nil replies" "$NGET" "$((NBULK + NNULL))"
check_eq "the sample: get, set, del, incr only" 2000 "$((NGET + NSET + NDEL + NINCR))"

start_redis_x; PA=$RX_PORT
start_redis_x; PB=$RX_PORT
rcli "$PB" config set maxmemory-policy noeviction > /dev/null
rcli "$PB" config set maxmemory 1 > /dev/null
check_match "server B refuses writes" "OOM" "$(rcli "$PB" set probe 1 2>&1)"

"$RT" replay "$T" --target "redis://127.0.0.1:$PA" --speed 4 -q --json="$TMP/a.json" \
    --label "server A" > /dev/null; check_eq "replay A" 0 $?
"$RT" replay "$T" --target "redis://127.0.0.1:$PB" --speed 4 -q --json="$TMP/b.json" \
    --label "server B (full)" > /dev/null; check_eq "replay B" 0 $?
A="$TMP/a.json"; B="$TMP/b.json"

"$RT" compare "$A" "$B" --json --threshold 5 > "$TMP/c.json"; check_eq "compare --json" 0 $?
C="$TMP/c.json"
# v SCOPE NAME METRIC: the values of one row, as a compact array
v() { jq -c --arg s "$1" --arg n "$2" --arg m "$3" '.rows[] | select(.scope == $s and .name == $n and .metric == $m) | .values' "$C"; }
row() { jq -c --arg s "$1" --arg n "$2" --arg m "$3" ".rows[] | select(.scope == \$s and .name == \$n and .metric == \$m) | $4" "$C"; }

check_eq "run names: the labels" '["server A","server B (full)"]' "$(jq -c '[.runs[].name]' "$C")"
check_eq "baseline: the first" "server A" "$(jq -r .baseline "$C")"
check_eq "threshold" 5 "$(jnum "$C" .threshold_pct)"
# known answers
check_eq "overall errors: 0, then every SET and INCR" "[0,$((NSET + NINCR))]" "$(v overall all errors)"
# A's misses are 0 unless a loaded machine reorders two connections' requests: its own count
MA=$(jnum "$A" .divergence.misses)
check_eq "overall misses: A's, then every GET that had a value" "[$MA,$NBULK]" "$(v overall all misses)"
check_eq "overall ops: every request answered in both" "[2000,2000]" "$(v overall all ops)"
check_eq "set errors" "[0,$NSET]" "$(v command set errors)"
check_eq "incr errors" "[0,$NINCR]" "$(v command incr errors)"
check_eq "del errors: DEL is not denyoom" "[0,0]" "$(v command del errors)"
check_eq "get misses" "[$(jnum "$A" .commands.get.divergence.misses),$NBULK]" "$(v command get misses)"
check_eq "write class errors" "[0,$((NSET + NINCR))]" "$(v class write errors)"
check_eq "write class ops" "[$((NSET + NDEL + NINCR)),$((NSET + NDEL + NINCR))]" "$(v class write ops)"
check_eq "read class ops" "[$NGET,$NGET]" "$(v class read ops)"
check_eq "no other class" "" "$(v class other ops)"
check_eq "errors from 0: no percentage, flagged worse" '[null,null] [null,"worse"]' \
    "$(row overall all errors .diff_pct) $(row overall all errors .flag)"
check_eq "equal ops: +0%, not flagged" '[null,0] [null,null]' \
    "$(row overall all ops .diff_pct) $(row overall all ops .flag)"
# the numbers are the runs' own
for r in 0 1; do
    f=$([ $r = 0 ] && echo "$A" || echo "$B")
    check_eq "run $r overall p99" "$(jq .latency_us.p99 "$f")" "$(jq ".rows[] | select(.scope == \"overall\" and .metric == \"p99_us\") | .values[$r]" "$C")"
    check_eq "run $r get p999" "$(jq .commands.get.latency_us.p999 "$f")" "$(jq ".rows[] | select(.name == \"get\" and .metric == \"p999_us\") | .values[$r]" "$C")"
    check_eq "run $r set ops/s" "$(jq '.commands.set.ops / .duration_s' "$f")" "$(jq ".rows[] | select(.name == \"set\" and .metric == \"ops_per_s\") | .values[$r]" "$C")"
    # the write class's latency: the merged histograms of set, del and incr
    want=$(jq -r '.commands.set.latency_us.hist, .commands.del.latency_us.hist, .commands.incr.latency_us.hist' "$f" | awk -f "$AWKM")
    check_eq "run $r write class p50 p90 p99 p999 max" "$(echo "$want" | awk '{ print $5, $6, $7, $8, $3 }')" \
        "$(jq -r "[.rows[] | select(.scope == \"class\" and .name == \"write\" and (.metric | endswith(\"_us\"))) | .values[$r] * 1000 | round] | join(\" \")" "$C")"
    want=$(jq -r '.commands.get.latency_us.hist' "$f" | awk -f "$AWKM")
    check_eq "run $r read class p99 = get's" "$(echo "$want" | awk '{ print $7 }')" \
        "$(jq -r ".rows[] | select(.scope == \"class\" and .name == \"read\" and .metric == \"p99_us\") | .values[$r] * 1000 | round" "$C")"
done
# every difference and flag, re-derived from the values: (b - a) / a, beyond 5%, by direction
check_eq "every diff_pct and flag follows from the values" "[]" "$(jq -c '
  def better: if .metric == "ops" then 0 elif .metric == "ops_per_s" then 1 else -1 end;
  [.rows[] | . as $r | .values as [$a, $b] |
   (if $a == null or $b == null then [null, null]
    elif $a == 0 then (if $b == 0 then [0, null] else [null, true] end)
    else [(($b - $a) / ($a | fabs) * 100), ((($b - $a) / ($a | fabs) * 100) | fabs) > 5] end) as [$d, $beyond] |
   (if $beyond != true then null elif ($r | better) == 0 then "changed"
    elif (($b > $a) == (($r | better) > 0)) then "better" else "worse" end) as $flag |
   select((($r.diff_pct[1] // null) as $x | if $d == null then $x != null else ($x - $d | fabs) > 1e-9 end)
          or $r.flag[1] != $flag) | [$r.scope, $r.name, $r.metric]]' "$C")"
check_eq "commands busiest first" '["get","set","del","incr"]' \
    "$(jq -c '[.rows[] | select(.scope == "command" and .metric == "ops") | .name]' "$C")"

# thresholds: 0 marks every difference; a huge one only the ones from 0
n0=$("$RT" compare "$A" "$B" --json --threshold 0 | jq '[.rows[] | select(.diff_pct[1] != 0 and .values[1] != null) ] | length')
check_eq "--threshold 0 marks every non-zero difference" "$n0" \
    "$("$RT" compare "$A" "$B" --json --threshold 0 | jq '[.rows[] | select(.flag[1] != null)] | length')"
check_eq "--threshold 1e9 marks only the differences from 0" \
    "$("$RT" compare "$A" "$B" --json | jq -c '[.rows[] | select(.values[0] == 0 and .values[1] != 0) | [.name, .metric]]')" \
    "$("$RT" compare "$A" "$B" --json --threshold 1e9 | jq -c '[.rows[] | select(.flag[1] != null) | [.name, .metric]]')"

# the table
"$RT" compare "$A" "$B" > "$TMP/c.txt"; check_eq "compare exit" 0 $?
check_match "table header: both names" "server A +server B \(full\)" "$(sed -n 5p "$TMP/c.txt")"
check_match "table: errors from 0 are new and worse" "^  errors +0 +$((NSET + NINCR)) +new worse" \
    "$(sed -n '/^overall/,/^class/p' "$TMP/c.txt" | grep errors)"
check_match "table: the write class" "^class write" "$(cat "$TMP/c.txt")"
check_match "table: misses of get" "^  misses +$MA +$NBULK +[^ ]+ worse" \
    "$(sed -n '/^command get/,/^command set/p' "$TMP/c.txt" | grep misses)"

# three runs, and a run without a label named by its target
jq 'del(.label)' "$A" > "$TMP/a2.json"
"$RT" compare "$A" "$B" "$TMP/a2.json" --json > "$TMP/c3.json"; check_eq "three runs" 0 $?
check_eq "three values per row" "[3]" "$(jq -c '[.rows[].values | length] | unique' "$TMP/c3.json")"
check_eq "unlabelled run: its target and file name" "redis://127.0.0.1:$PA/0 (a2.json)" "$(jq -r '.runs[2].name' "$TMP/c3.json")"
check_eq "a copy of the baseline: no flag" "[]" "$(jq -c '[.rows[] | select(.flag[2] != null)]' "$TMP/c3.json")"
# runs of one target, unlabelled, are told apart by their file names; runs that would still
# share a name (one label twice) get " #2"
jq 'del(.label)' "$B" > "$TMP/b2.json"
mkdir -p "$TMP/other"; cp "$TMP/a2.json" "$TMP/other/a2.json"
"$RT" compare "$TMP/a2.json" "$TMP/b2.json" "$TMP/other/a2.json" "$A" "$A" --json > "$TMP/names.json"
check_eq "names unique" "[\"redis://127.0.0.1:$PA/0 (a2.json)\",\"redis://127.0.0.1:$PB/0 (b2.json)\",\"redis://127.0.0.1:$PA/0 (a2.json) #2\",\"server A\",\"server A #2\"]" \
    "$(jq -c '[.runs[].name]' "$TMP/names.json")"
check_eq "the baseline by its unique name" "redis://127.0.0.1:$PA/0 (a2.json)" "$(jq -r .baseline "$TMP/names.json")"

# the document: one, with the tool's header; --json=FILE writes it there and the table to stdout
check_eq "header" '["resptrace","compare",2]' "$(jq -c '[.tool, .command, .schema]' "$C")"
check_eq "version" "$("$RT" version | cut -d' ' -f2)" "$(jq -r .version "$C")"
check_eq "one document" 1 "$(jq -s length "$C")"
"$RT" compare "$A" "$B" --threshold 5 --json="$TMP/cf.json" > "$TMP/cf.txt"; check_eq "--json=FILE exit" 0 $?
check_eq "--json=FILE: the same document" "$(jq -c . "$C")" "$(jq -c . "$TMP/cf.json")"
check_match "--json=FILE: the table on stdout" "^baseline: server A" "$(head -1 "$TMP/cf.txt")"
check_eq "--json=FILE: nothing left beside it" "" "$(ls -A "$TMP" | grep '\.tmp-' || true)"
# an output that is one of the runs is refused before anything is written
cp "$B" "$TMP/b.keep"
"$RT" compare "$A" "$B" --json="$B" > /dev/null 2> "$TMP/err"; check_eq "--json=RUN refused" 2 $?
check_match "... says why" "will not write .*b\.json: it is the input" "$(cat "$TMP/err")"
check_files "... the run is untouched" "$TMP/b.keep" "$B"
ln -s "$B" "$TMP/blink.json"
"$RT" compare "$A" "$B" --json="$TMP/blink.json" > /dev/null 2>&1; check_eq "--json=symlink to a run refused" 2 $?
check_files "... the run is untouched" "$TMP/b.keep" "$B"
# results written before the documents had a header are still read
jq 'del(.tool, .version, .schema, .command)' "$A" > "$TMP/old.json"
"$RT" compare "$TMP/old.json" "$B" --json > "$TMP/old.out"; check_eq "a run without the header" 0 $?
check_eq "... compared like the others" "$(jq -c '[.rows[].values]' "$C")" "$(jq -c '[.rows[].values]' "$TMP/old.out")"

# the HTML report: the same rows, the same marks
"$RT" report "$T" "$A" "$B" -o "$TMP/r.html" --shards none > /dev/null; check_eq "report exit" 0 $?
check_match "report: comparison section" 'id="compare"' "$(cat "$TMP/r.html")"
marks=$(sed -n '/id="compare"/,/<\/table>/p' "$TMP/r.html" | grep -o '<td class="\(worse\|better\|changed\)">' | wc -l)
check_eq "report: marked cells = flags of compare" \
    "$("$RT" compare "$A" "$B" --json | jq '[.rows[].flag[1] | select(. != null)] | length')" "$marks"
rows=$(sed -n '/id="compare"/,/<\/table>/p' "$TMP/r.html" | grep -c '^<tr><th class="k">')
check_eq "report: one line per row of compare" "$(jq '.rows | length' "$C")" "$rows"
check_match "report: the errors row" "<th class=\"k\">errors</th><td>0</td><td>$((NSET + NINCR))</td><td class=\"worse\">new</td>" \
    "$(sed -n '/id="compare"/,/<\/table>/p' "$TMP/r.html")"
"$RT" report "$T" "$A" -o "$TMP/r1.html" --shards none > /dev/null
check_match "report with one run: no comparison" "give two replay runs" "$(cat "$TMP/r1.html")"

# bad input
"$RT" compare "$A" 2> "$TMP/err"; check_eq "one run: exit 2" 2 $?
check_eq "one run: one line and where to look" "resptrace compare: give at least two runs (RUN.json files)
see 'resptrace compare --help'" "$(cat "$TMP/err")"
"$RT" compare "$A" "$B" --threshold -3 2> "$TMP/err"; check_eq "negative threshold: exit 2" 2 $?
check_match "... names the option" "bad --threshold '-3'" "$(cat "$TMP/err")"
check_eq "... in one line and the pointer" 2 "$(wc -l < "$TMP/err")"
"$RT" compare "$A" "$B" --frob 2> "$TMP/err"; check_eq "unknown option: exit 2" 2 $?
check_eq "... one line and the pointer" "resptrace compare: unknown option '--frob'
see 'resptrace compare --help'" "$(cat "$TMP/err")"
"$RT" compare "$A" "$TMP/none.json" 2> "$TMP/err"; check_eq "missing run: exit 1" 1 $?
check_match "... names the file" "none.json" "$(cat "$TMP/err")"
"$RT" stat --json "$T" > "$TMP/notrun.json"
"$RT" compare "$A" "$TMP/notrun.json" 2> "$TMP/err"; check_eq "not a run: exit 1" 1 $?
check_match "... says so" "notrun.json: not a replay result" "$(cat "$TMP/err")"
"$RT" compare --help | grep -q "misses"; check_eq "--help says what is counted" 0 $?
check_eq "--help fits 80 columns" "" "$("$RT" compare --help | awk 'length($0) >= 80')"

finish
