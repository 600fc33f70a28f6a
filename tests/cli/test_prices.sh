#!/bin/bash
# test_prices.sh: `resptrace compare --prices FILE` on real replays of the sample cache trace:
# a plain run and two capacity sweeps (`replay --sweep --slo`), one against a healthy
# redis-server (every step holds) and one against a server whose writes all fail (maxmemory 1,
# noeviction: no step holds errors<1%); a fourth document is that first sweep edited with jq so
# that its second step broke (a sweep that narrowed down, without waiting for one). Every cost,
# speed and rate the comparison prints, in its table and in its JSON, is checked against the
# test's own arithmetic (awk and jq) from the prices file and the runs' own numbers; then every
# way a prices file can be wrong gives one line naming the file and the field.
. "$(dirname "$0")/lib.sh"
T="$SRC/traces/sample-cache.rtrace"

start_redis_x; PA=$RX_PORT
start_redis_x; PB=$RX_PORT
rcli "$PB" config set maxmemory-policy noeviction > /dev/null
rcli "$PB" config set maxmemory 1 > /dev/null

A=$TMP/a.json; S=$TMP/s.json; SB=$TMP/sb.json; SX=$TMP/sx.json
"$RT" replay "$T" --target "redis://127.0.0.1:$PA" --speed 4 -q --json="$A" \
    --label "cache r7g x3" > /dev/null; check_eq "replay" 0 $?
"$RT" replay "$T" --target "redis://127.0.0.1:$PA" --sweep 4,8 --slo 'p99<1s' --max-lag 1000 \
    -q --json="$S" --label "valkey c7g x2" > /dev/null; check_eq "sweep" 0 $?
"$RT" replay "$T" --target "redis://127.0.0.1:$PB" --sweep 4,8 --slo 'errors<1%' -q \
    --json="$SB" > /dev/null; check_eq "sweep of the full server" 0 $?
check_eq "the sweep held at both speeds" "8 null 2" \
    "$(jq -r '"\(.max_speed_held) \(.first_speed_broke) \(.steps | length)"' "$S")"
check_eq "the full server held at no speed" "null 4 1" \
    "$(jq -r '"\(.max_speed_held) \(.first_speed_broke) \(.steps | length)"' "$SB")"
jq '.label = "bisected" | .steps[1].held = false | .steps[1].why = "p99<1s broke" |
    .max_speed_held = 4 | .first_speed_broke = 8' "$S" > "$SX"

P=$TMP/p.json
cat > "$P" <<'EOF'
{"currency": "USD", "hours_per_month": 720, "comment": "prices of the test",
 "runs": {"cache r7g x3": {"nodes": 3, "price_per_node_hour": 0.302},
          "valkey c7g x2": {"nodes": 2, "price_per_node_hour": 0.456, "comment": "by label"},
          "sb.json": {"nodes": 5, "price_per_node_hour": 0.1},
          "bisected": {"nodes": 4, "price_per_node_hour": 0.125},
          "nobody": {"nodes": 1, "price_per_node_hour": 9}}}
EOF
RUNS=("$A" "$S" "$SB" "$SX")
"$RT" compare "${RUNS[@]}" --prices "$P" --json > "$TMP/c.json"; check_eq "compare --prices --json" 0 $?
"$RT" compare "${RUNS[@]}" --prices "$P" > "$TMP/c.txt"; check_eq "compare --prices" 0 $?
C=$TMP/c.json

# ---- the test's own numbers -------------------------------------------------------------
# entry FILE: the prices entry of a run, by its label, else its file name: "nodes price"
entry() {
    jq -r --slurpfile p "$P" --arg base "$(basename "$1")" \
        '(.label // "") as $l | ($p[0].runs[$l] // $p[0].runs[$base]) | "\(.nodes) \(.price_per_node_hour)"' "$1"
}
# held_ops FILE: the ops/s served by a sweep's step at its max_speed_held, else "null"
held_ops() {
    jq -r 'if .mode == "sweep" then (.max_speed_held as $m |
             ([.steps[] | select(.held and .speed == $m) | .result.ops_per_s][0] // null))
           else null end' "$1"
}
# the compared step's speed: the held one, else the first
step_speed() { jq -r 'if .mode == "sweep" then (.max_speed_held // .steps[0].speed) else .speed end' "$1"; }
declare -a MON PER OPS SPD NOD PRI
for i in 0 1 2 3; do
    f=${RUNS[$i]}
    read -r n p <<< "$(entry "$f")"
    NOD[$i]=$n; PRI[$i]=$p
    MON[$i]=$(awk -v n="$n" -v p="$p" 'BEGIN { printf "%.10f", n * p * 720 }')
    OPS[$i]=$(held_ops "$f")
    SPD[$i]=$(jq -r 'if .mode == "sweep" then (.max_speed_held // "null") else "null" end' "$f")
    if [ "${OPS[$i]}" = null ]; then PER[$i]=null
    else PER[$i]=$(awk -v m="${MON[$i]}" -v o="${OPS[$i]}" 'BEGIN { printf "%.10f", m / (o / 1000) }'); fi
done
echo "monthly ${MON[*]}; ops/s at the SLO ${OPS[*]}; per 1k ops/s ${PER[*]}"
check_eq "the sweeps served some ops/s at the SLO" 1 "$(awk -v a="${OPS[1]}" -v b="${OPS[3]}" 'BEGIN { print (a > 0 && b > 0) }')"
check_eq "the edited sweep is compared by its 4x step, the others as expected" "4 8 4 4" \
    "$(jq -r '[.runs[].speed] | join(" ")' "$C")"
check_eq "... its 4x step's numbers: overall ops/s" "$(jq '.steps[0].result.ops_per_s' "$SX")" \
    "$(jq '.rows[] | select(.scope == "overall" and .metric == "ops_per_s") | .values[3]' "$C")"
check_eq "... the held sweep's 8x step's: overall p99" "$(jq '.steps[1].result.latency_us.p99' "$S")" \
    "$(jq '.rows[] | select(.scope == "overall" and .metric == "p99_us") | .values[1]' "$C")"

# close A B: |A - B| <= 1e-9 |B|, or both null
close() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null") print (a == b ? "ok" : "bad " a " " b);
    else { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; print (d <= 1e-9 * m ? "ok" : "bad " a " " b) } }'; }
# value SCOPE METRIC I: a row's value for run I (null when none)
value() { jq -r --arg s "$1" --arg m "$2" ".rows[] | select(.scope == \$s and .metric == \$m) | .values[$3] // \"null\"" "$C"; }
for i in 0 1 2 3; do
    check_eq "run $i: monthly cost = nodes x price x 720 (JSON row)" ok "$(close "$(value cost monthly_cost $i)" "${MON[$i]}")"
    check_eq "run $i: monthly cost (the run's cost)" ok "$(close "$(jq -r ".runs[$i].cost.monthly_cost" "$C")" "${MON[$i]}")"
    check_eq "run $i: cost per 1k ops/s = monthly / (ops/s at the SLO / 1000)" ok "$(close "$(value cost cost_per_1k_ops_s $i)" "${PER[$i]}")"
    check_eq "run $i: ops/s at the SLO" ok "$(close "$(value capacity slo_ops_per_s $i)" "${OPS[$i]}")"
    check_eq "run $i: speed held" ok "$(close "$(value capacity max_speed_held $i)" "${SPD[$i]}")"
    check_eq "run $i: nodes and price" "${NOD[$i]} ${PRI[$i]}" \
        "$(value cost nodes $i) $(value cost price_per_node_hour $i)"
done
check_eq "matched by label, label, file name, label" '["label","label","file","label"]' \
    "$(jq -c '[.runs[].cost.matched_by]' "$C")"
check_eq "the prices in the document" '{"file":"'"$P"'","currency":"USD","hours_per_month":720}' \
    "$(jq -c .prices "$C")"
check_eq "sweep: SLO, held, broke, step" '[null,["p99<1s",8,null,8],["errors<1%",null,4,4],["p99<1s",4,8,4]]' \
    "$(jq -c '[.runs[].sweep | if . then [.slo, .max_speed_held, .first_speed_broke, .step_speed] else null end]' "$C")"
check_eq "the capacity and cost rows come first" '["capacity","capacity","cost","cost","cost","cost","overall"]' \
    "$(jq -c '[.rows[:7][].scope]' "$C")"
check_eq "an entry that names no run: a note" 1 \
    "$(jq '[.notes[] | select(test("p\\.json: runs\\.\"nobody\" names no run"))] | length' "$C")"
check_eq "cost per 1k: lower is better (flags follow)" \
    "$(awk -v a="${PER[1]}" -v b="${PER[3]}" 'BEGIN { d = (b - a) / a * 100; print (d > 10 ? "worse" : d < -10 ? "better" : "none") }')" \
    "$("$RT" compare "$S" "$SX" --prices "$P" --json | jq -r '.rows[] | select(.metric == "cost_per_1k_ops_s") | .flag[1] // "none"')"

# the table: every printed number as the test formats it. A row is "  TITLE" in 16
# columns, then each run's value right-aligned in 12, the others followed by their
# difference (8) and mark (6)
cell() { # cell TITLE I: the printed value of run I on the first row titled TITLE
    awk -v t="$1" -v i="$2" 'substr($0, 1, 16) == sprintf("  %-14s", t) {
        s = i == 0 ? 18 : 31 + 29 * (i - 1); v = substr($0, s, 12); gsub(/ /, "", v); print v; exit }' "$TMP/c.txt"
}
fmt() { [ "$2" = null ] && echo - || awk -v v="$2" -v f="$1" 'BEGIN { printf f, v }'; }
for i in 0 1 2 3; do
    check_eq "table run $i: nodes" "${NOD[$i]}" "$(cell nodes $i)"
    check_eq "table run $i: price per node-hour" "$(fmt %.4f "${PRI[$i]}")" "$(cell 'per node-hour' $i)"
    check_eq "table run $i: monthly" "$(fmt %.2f "${MON[$i]}")" "$(cell monthly $i)"
    check_eq "table run $i: per 1k ops/s" "$(fmt %.2f "${PER[$i]}")" "$(cell 'per 1k ops/s' $i)"
    check_eq "table run $i: ops/s at SLO" "$(fmt %.1f "${OPS[$i]}")" "$(cell 'ops/s at SLO' $i)"
    check_eq "table run $i: speed held" "$(fmt %.3fx "${SPD[$i]}")" "$(cell 'speed held' $i)"
done
check_match "table: the block of costs, in the currency" "^cost in USD$" "$(cat "$TMP/c.txt")"
check_match "table: how the cost is counted" "monthly = nodes x price per node-hour x 720 hours" \
    "$(cat "$TMP/c.txt")"
check_match "table: ... and the cost per 1k ops/s" "per 1k ops/s = monthly / \(ops/s served within the SLO / 1000\)" \
    "$(cat "$TMP/c.txt")"
check_match "table: a sweep in the legend" "run 4: bisected \(.*sx\.json\): a sweep of SLO p99<1s, compared by its step at 4x \(the fastest speed that held\)" \
    "$(cat "$TMP/c.txt")"
check_match "table: a sweep that never held" "run 3: .*sb\.json\): a sweep of SLO errors<1%, compared by its step at 4x \(none held: its first step\)" \
    "$(cat "$TMP/c.txt")"
check_match "table: the note" "^note: .*p\.json: runs\.\"nobody\" names no run" "$(cat "$TMP/c.txt")"

# hours_per_month absent: 730; no currency: none printed; a run without a price: "-", a note
cat > "$TMP/p2.json" <<'EOF'
{"runs": {"cache r7g x3": {"nodes": 3, "price_per_node_hour": 0.302}}}
EOF
"$RT" compare "$A" "$S" --prices "$TMP/p2.json" --json > "$TMP/c2.json"; check_eq "default hours" 0 $?
check_eq "730 hours a month by default" ok "$(close "$(jq '.runs[0].cost.monthly_cost' "$TMP/c2.json")" \
    "$(awk 'BEGIN { printf "%.10f", 3 * 0.302 * 730 }')")"
check_eq "no currency: null" null "$(jq -r .prices.currency "$TMP/c2.json")"
check_eq "a run without a price: no cost" null "$(jq -r '.runs[1].cost' "$TMP/c2.json")"
check_match "... a note says how runs are priced" "valkey c7g x2: no price in .*p2\.json \(runs are priced by label \"valkey c7g x2\", else file name \"s\.json\"\)" \
    "$(jq -r '.notes[]' "$TMP/c2.json")"
"$RT" compare "$A" "$S" --prices "$TMP/p2.json" > "$TMP/c2.txt"
check_eq "... '-' in the table" "-" "$(awk 'substr($0, 1, 16) == "  monthly       " { v = substr($0, 31, 12); gsub(/ /, "", v); print v }' "$TMP/c2.txt")"
check_match "... the block of costs without a currency" "^cost$" "$(cat "$TMP/c2.txt")"
# without --prices: no cost rows; the capacity rows only when a run is a sweep
"$RT" compare "$A" "$S" --json > "$TMP/c3.json"
check_eq "no --prices: prices null, no cost rows" 'null []' \
    "$(jq -c '.prices, [.rows[] | select(.scope == "cost")]' "$TMP/c3.json" | xargs)"
check_eq "... the capacity rows of the sweep" 2 "$(jq '[.rows[] | select(.scope == "capacity")] | length' "$TMP/c3.json")"
"$RT" compare "$A" "$A" --json > "$TMP/c4.json"
check_eq "no sweep: no capacity rows" 0 "$(jq '[.rows[] | select(.scope == "capacity")] | length' "$TMP/c4.json")"

# ---- bad prices files: one line naming the file and the field, exit 1 ------------------------
# bad NAME JSON REGEX: a prices file holding JSON is refused with a message matching REGEX
bad() {
    printf '%s\n' "$2" > "$TMP/bad.json"
    "$RT" compare "$A" "$S" --prices "$TMP/bad.json" > "$TMP/bad.out" 2> "$TMP/bad.err"
    check_eq "$1: exit 1" 1 $?
    check_eq "$1: one line" 1 "$(wc -l < "$TMP/bad.err")"
    check_match "$1: names the file and the field" "^resptrace compare: .*bad\.json: $3" "$(cat "$TMP/bad.err")"
    check_eq "$1: nothing on stdout" "" "$(cat "$TMP/bad.out")"
}
E='"runs": {"x": {"nodes": 3, "price_per_node_hour": 0.3}}'
bad "not JSON" '{"runs": {' 'line 2 column 0: '
bad "a duplicate name" '{"runs": {"x": {"nodes": 1, "price_per_node_hour": 1}, "x": {"nodes": 2, "price_per_node_hour": 1}}}' 'line 1 column [0-9]+: duplicate object key'
bad "not an object" '[1, 2]' 'not a prices file'
bad "no runs" '{"currency": "USD"}' 'no "runs"'
bad "runs empty" '{"runs": {}}' 'runs: empty: no run is priced'
bad "runs an array" '{"runs": [1]}' 'runs: not an object'
bad "a misspelt top field" '{"hours_per_mnth": 720, '"$E"'}' 'unknown field "hours_per_mnth" \(the fields are currency, hours_per_month, runs, comment\)'
bad "a misspelt run field" '{"runs": {"x": {"nodes": 3, "price": 0.3}}}' 'runs\."x": unknown field "price" \(the fields are nodes, price_per_node_hour, comment\)'
bad "no nodes" '{"runs": {"x": {"price_per_node_hour": 0.3}}}' 'runs\."x": no "nodes"'
bad "no price" '{"runs": {"x": {"nodes": 3}}}' 'runs\."x": no "price_per_node_hour"'
bad "nodes 0" '{"runs": {"x": {"nodes": 0, "price_per_node_hour": 0.3}}}' 'runs\."x"\.nodes: not a whole number of nodes from 1'
bad "nodes 2.5" '{"runs": {"x": {"nodes": 2.5, "price_per_node_hour": 0.3}}}' 'runs\."x"\.nodes: not a whole number'
bad "nodes a string" '{"runs": {"x": {"nodes": "3", "price_per_node_hour": 0.3}}}' 'runs\."x"\.nodes: not a whole number'
bad "a negative price" '{"runs": {"x": {"nodes": 3, "price_per_node_hour": -0.3}}}' 'runs\."x"\.price_per_node_hour: not a price'
bad "a price as a string" '{"runs": {"x": {"nodes": 3, "price_per_node_hour": "0.3"}}}' 'runs\."x"\.price_per_node_hour: not a price'
bad "an entry not an object" '{"runs": {"x": 3}}' 'runs\."x": not an object'
bad "an empty name" '{"runs": {"": {"nodes": 3, "price_per_node_hour": 0.3}}}' 'runs: an empty name'
bad "0 hours" '{"hours_per_month": 0, '"$E"'}' 'hours_per_month: not a number of hours above 0 and at most 744'
bad "too many hours" '{"hours_per_month": 745, '"$E"'}' 'hours_per_month: not a number of hours'
bad "a currency number" '{"currency": 5, '"$E"'}' 'currency: not a name of 1 to 16 characters'
bad "a comment number" '{"runs": {"x": {"nodes": 3, "price_per_node_hour": 0.3, "comment": 1}}}' 'runs\."x"\.comment: not a string'
"$RT" compare "$A" "$S" --prices "$TMP/none.json" 2> "$TMP/err"; check_eq "missing prices file: exit 1" 1 $?
check_eq "... names it and says why" "resptrace compare: $TMP/none.json: No such file or directory" "$(cat "$TMP/err")"
"$RT" compare "$A" "$S" --prices "$TMP" 2> "$TMP/err"; check_eq "a directory: exit 1" 1 $?
check_eq "... says so" "resptrace compare: $TMP: a directory, not a file" "$(cat "$TMP/err")"
# the report reads the prices as compare does, before the trace, and writes nothing when they
# are wrong; they are an input it never overwrites
cp "$P" "$TMP/p.keep"
printf '{"runs": {"x": {"nodes": 0, "price_per_node_hour": 1}}}\n' > "$TMP/bad.json"
"$RT" report "$T" "$A" --prices "$TMP/bad.json" -o "$TMP/r.html" > /dev/null 2> "$TMP/err"
check_eq "report, bad prices: exit 1" 1 $?
check_match "... names the file and the field" "^resptrace report: .*bad\.json: runs\.\"x\"\.nodes: " "$(cat "$TMP/err")"
check_eq "... one line" 1 "$(wc -l < "$TMP/err")"
check_eq "... no report written" no "$([ -e "$TMP/r.html" ] && echo yes || echo no)"
"$RT" report "$T" "$A" --prices "$P" -o "$P" > /dev/null 2>&1; check_eq "report -o the prices file: refused" 2 $?
"$RT" report "$T" "$A" --prices "$P" -o "$TMP/r.html" --json="$P" > /dev/null 2>&1
check_eq "report --json=the prices file: refused" 2 $?
check_files "... the prices file is untouched" "$TMP/p.keep" "$P"
"$RT" report "$T" "$A" --prices "" -o "$TMP/r.html" 2> "$TMP/err"; check_eq "report --prices '': usage error" 2 $?
check_eq "... one line and the pointer" "resptrace report: --prices needs a file name
see 'resptrace report --help'" "$(cat "$TMP/err")"
# the report's --json has the decision table's numbers: the monthly costs as worked out above
"$RT" report "$T" "${RUNS[@]}" --prices "$P" -o "$TMP/r.html" --shards none --json="$TMP/r.json" > /dev/null
check_eq "report --prices --json: exit" 0 $?
for i in 0 1 2 3; do
    check_eq "report --json: run $i's monthly cost" ok \
        "$(close "$(jq -r ".decision[] | select(.key == \"monthly_cost\") | .values[$i]" "$TMP/r.json")" "${MON[$i]}")"
    check_eq "report --json: run $i's cost per 1,000 ops/s" ok \
        "$(close "$(jq -r ".decision[] | select(.key == \"cost_per_1k_ops_s\") | .values[$i] // \"null\"" "$TMP/r.json")" "${PER[$i]}")"
done
check_eq "report --json: the prices" "$(jq -c .prices "$C")" "$(jq -c .prices "$TMP/r.json")"
"$RT" compare "$A" "$S" --prices "" 2> "$TMP/err"; check_eq "--prices '': usage error" 2 $?
check_eq "... one line and the pointer" "resptrace compare: --prices needs a file name
see 'resptrace compare --help'" "$(cat "$TMP/err")"
cp "$P" "$TMP/p.keep"
"$RT" compare "$A" "$S" --prices "$P" --json="$P" > /dev/null 2> "$TMP/err"; check_eq "--json=the prices file: refused" 2 $?
check_match "... says why" "will not write .*p\.json: it is the input" "$(cat "$TMP/err")"
check_files "... the prices file is untouched" "$TMP/p.keep" "$P"
jq '.steps = [{"speed": 1, "held": true}]' "$S" > "$TMP/noresult.json"
"$RT" compare "$A" "$TMP/noresult.json" 2> "$TMP/err"; check_eq "a sweep without results: exit 1" 1 $?
check_match "... says so" "noresult\.json: a sweep without a step that has a \"result\"" "$(cat "$TMP/err")"
check_eq "--help fits 80 columns" "" "$("$RT" compare --help | awk 'length($0) >= 80')"
finish
