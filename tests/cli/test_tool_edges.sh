#!/usr/bin/env bash
# test_tool_edges.sh: what the trace tools do with the edges of their input. `info` shows
# metadata keys that hold terminal escape sequences escaped, never raw; malformed requests
# (the raw bytes a client sent and the server refused) are no command and no keys: filter
# --cmd/--key-glob drop them, anonymize replaces their bytes, convert --to resp skips them,
# prime does not count them as commands; slice and filter that select nothing say so.
# The trace comes from tests/make_edge_trace.c (its comment lists what it holds).
. "$(dirname "$0")/lib.sh"
S=$SRC/traces/sample-cache.rtrace

# the generator (tests/make_edge_trace.c, built by CMake)
GEN=$(dirname "$RT")/make_edge_trace
if [ ! -x "$GEN" ]; then
    echo "no $GEN (build the make_edge_trace target)" >&2
    exit 1
fi
E=$TMP/edge.rtrace
"$GEN" "$E"; check_eq "make_edge_trace" 0 $?
ESC=$(printf '\033')
# the malformed requests of the trace: its only one-argument requests but PING (a jq filter)
MAL='(.event == "request" and (.argv | length) == 1 and .argv[0] != "PING")'

# ---- info: metadata keys and values escaped in the table, JSON keys JSON-escaped
"$RT" info "$E" > "$TMP/info.txt"; check_eq "info exit" 0 $?
check_eq "info table holds no raw ESC or BEL byte" 0 "$(tr -d '\n' < "$TMP/info.txt" | grep -c "[$ESC$(printf '\007')]")"
check_match "the key shown escaped" '^"evil\\x1b\[31mkey\\x1b\]0;pwned\\x07" +"red\\x1b\[2Jvalue"' "$(grep evil "$TMP/info.txt")"
check_match "plain keys shown as before" '^source +"synthetic' "$(grep '^source' "$TMP/info.txt")"
"$RT" info --json "$E" > "$TMP/info.json"; check_eq "info --json exit" 0 $?
check_eq "info --json: the key, JSON-escaped, decodes to its bytes" "red${ESC}[2Jvalue" \
    "$(jq -r --arg k "evil${ESC}[31mkey${ESC}]0;pwned$(printf '\007')" '.metadata[$k]' "$TMP/info.json")"
check_eq "info --json holds no raw ESC byte" 0 "$(grep -c "$ESC" "$TMP/info.json")"

# ---- filter: malformed requests have no command name and no keys
"$RT" filter "$E" -o "$TMP/f1.rtrace" --cmd get --json > "$TMP/f1.json" 2> /dev/null
check_eq "filter --cmd get exit" 0 $?
check_eq "--cmd get: the 2 GETs, not the malformed request whose bytes spell GET" 2 "$(jq .requests_written "$TMP/f1.json")"
check_eq "--cmd get: no malformed request kept" 0 \
    "$("$RT" cat "$TMP/f1.rtrace" --format jsonl | jq -c "select($MAL)" | wc -l)"
"$RT" filter "$E" -o "$TMP/f2.rtrace" --key-glob '*key*' --json > "$TMP/f2.json" 2> /dev/null
check_eq "--key-glob: the keys of commands only (present:key, absent:key)" 2 "$(jq .requests_written "$TMP/f2.json")"
"$RT" filter "$E" -o "$TMP/f3.rtrace" --conn 1 --json > "$TMP/f3.json" 2> /dev/null
check_eq "--conn 1 keeps its malformed requests too" 6 "$(jq .requests_written "$TMP/f3.json")"

# ---- anonymize: the raw bytes of a malformed request hold keys and values: replaced whole
printf 'a secret of at least sixteen bytes\n' > "$TMP/secret"
"$RT" anonymize "$E" -o "$TMP/a.rtrace" --key-secret "$TMP/secret" --json > "$TMP/a.json" 2> /dev/null
check_eq "anonymize exit" 0 $?
"$RT" cat "$TMP/a.rtrace" --format jsonl > "$TMP/a.jsonl"
check_eq "no key or value of the raw bytes left" 0 "$(grep -c -E 'secretkey|sekretvalue|rawkey' "$TMP/a.jsonl")"
check_eq "the 3 malformed requests kept" 3 "$(jq -c "select($MAL)" "$TMP/a.jsonl" | wc -l)"
check_eq "the raw bytes keep their length and shape (line ends, quotes, blanks, * and \$)" \
    "$("$RT" cat "$E" --format jsonl | jq -c "select($MAL)"' | .argv[0] | [length, gsub("[^\r\n \"*$]"; "")]')" \
    "$(jq -c "select($MAL)"' | .argv[0] | [length, gsub("[^\r\n \"*$]"; "")]' "$TMP/a.jsonl")"
check_eq "digits stay digits, letters become letters and digits" true \
    "$(jq "select($MAL)"' | select(.argv[0] | startswith("*")) | .argv[0] | test("^\\*[0-9]\r\n\\$[0-9]\r\n[A-Za-z0-9]{3}\r\n\\$[A-Za-z0-9]\r\n[A-Za-z0-9]{6}\r\n$") and (contains("GET") | not)' "$TMP/a.jsonl")"
check_eq "counted" 3 "$(jq .malformed_requests "$TMP/a.json")"

# ---- convert --to resp: malformed requests are skipped, counted
"$RT" convert --to resp "$E" -o "$TMP/e.resp" --json=$TMP/c.json 2> /dev/null > /dev/null
check_eq "convert --to resp exit" 0 $?
check_eq "--to resp: raw bytes not sent as a command" 0 "$(grep -c -a -E 'secretkey|rawkey' "$TMP/e.resp")"
check_eq "--to resp: skipped and counted" "3 4" "$(jq -r '"\(.malformed_skipped) \(.written)"' "$TMP/c.json")"

# ---- prime: malformed requests are not commands (no unknown command, no key)
"$RT" prime "$E" --dry-run --json > "$TMP/p.json" 2> "$TMP/p.err"
check_eq "prime --dry-run exit" 0 $?
check_eq "prime: malformed requests counted apart" "3 0" "$(jq -r '"\(.malformed_requests) \(.unknown_commands)"' "$TMP/p.json")"
check_eq "prime: keys of the commands only (user:1, present:key, absent:key)" 3 "$(jq .distinct_keys "$TMP/p.json")"
check_eq "prime: present:key primed" 1 "$(jq .primed "$TMP/p.json")"

# ---- empty results are said on stderr (exit 0, the trace still written)
"$RT" filter "$S" -o "$TMP/none.rtrace" --cmd nosuchcommand > /dev/null 2> "$TMP/none.err"
check_eq "filter matching nothing: exit 0" 0 $?
check_eq "filter matching nothing: one line naming the condition and the count" \
    "resptrace filter: no request matched --cmd nosuchcommand (0 of 2,000 requests); wrote an empty trace" \
    "$(cat "$TMP/none.err")"
check_eq "the empty trace is a trace" 0 "$("$RT" info --json "$TMP/none.rtrace" | jq .requests)"
"$RT" filter "$S" -o "$TMP/none2.rtrace" --conn 99 --db 3 > /dev/null 2> "$TMP/none2.err"
check_match "every condition named" "no request matched --conn 99 --db 3 \(0 of 2,000 requests\)" "$(cat "$TMP/none2.err")"
"$RT" slice "$S" --from +100 -o "$TMP/late.rtrace" > /dev/null 2> "$TMP/late.err"
check_eq "slice after the end: exit 0" 0 $?
check_match "slice after the end: said, with the trace's span" \
    '^resptrace slice: no request in \[\+100\.000 s, the end\) \(the trace runs from \+0 s to \+3\.983 s\); wrote an empty trace$' \
    "$(cat "$TMP/late.err")"
"$RT" slice "$S" --from +1 --to +1.5 -o "$TMP/some.rtrace" > /dev/null 2> "$TMP/some.err"
check_eq "a slice with requests says nothing" "" "$(cat "$TMP/some.err")"
"$RT" filter "$S" -o "$TMP/some2.rtrace" --cmd get > /dev/null 2> "$TMP/some2.err"
check_eq "a filter with requests says nothing" "" "$(cat "$TMP/some2.err")"
printf 'OK\n\n' > "$TMP/nomon.txt"
"$RT" convert --from monitor "$TMP/nomon.txt" -o "$TMP/nomon.rtrace" > /dev/null 2> "$TMP/nomon.err"
check_eq "convert of no MONITOR line: exit 0" 0 $?
check_match "convert of no MONITOR line: said" "no request in .*nomon.txt \(2 lines read" "$(cat "$TMP/nomon.err")"
finish
