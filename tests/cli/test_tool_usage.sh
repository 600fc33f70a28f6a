#!/usr/bin/env bash
# test_tool_usage.sh: the command-line conventions of slice, filter, merge, anonymize, convert,
# info and prime. A usage error is one line naming the problem and "see 'resptrace CMD
# --help'" (not the whole help), exit 2; every line of each --help fits 80 columns. --json
# writes one JSON document to stdout (the text summary then goes to stderr), --json=FILE into
# FILE (the text stays on stdout); every document starts with tool, version, schema and
# command, and names every time with its unit.
. "$(dirname "$0")/lib.sh"
S=$SRC/traces/sample-cache.rtrace
printf 'a secret of at least sixteen bytes\n' > "$TMP/secret"
printf '1700000000.000001 [0 127.0.0.1:1] "SET" "k" "v"\n' > "$TMP/mon.txt"

# ---- help fits 80 columns
for c in slice filter merge anonymize convert info prime; do
    "$RT" "$c" --help > "$TMP/help.$c"
    check_eq "$c --help exit" 0 $?
    check_match "$c --help is its help" "^usage: resptrace $c" "$(head -1 "$TMP/help.$c")"
    check_eq "$c --help: every line under 80 columns" "" "$(awk 'length($0) >= 80 { print FILENAME ":" FNR ": " length($0) }' "$TMP/help.$c")"
done

# ---- usage errors: one line, then where the help is
# usage NAME CMD ARGS...: exit 2, exactly "resptrace CMD: ..." and "see 'resptrace CMD --help'"
usage() {
    local name=$1 cmd=$2
    shift
    "$RT" "$@" > "$TMP/u.out" 2> "$TMP/u.err"
    check_eq "$name: exit 2" 2 $?
    check_eq "$name: two lines on stderr" 2 "$(wc -l < "$TMP/u.err")"
    check_match "$name: the problem, named" "^resptrace $cmd: .+" "$(head -1 "$TMP/u.err")"
    check_eq "$name: where the help is" "see 'resptrace $cmd --help'" "$(sed -n 2p "$TMP/u.err")"
    check_eq "$name: nothing on stdout" 0 "$(wc -c < "$TMP/u.out")"
}
usage "slice: unknown option" slice "$S" --no-such-option -o "$TMP/x.rtrace"
usage "slice: no trace" slice
usage "slice: no -o" slice "$S"
usage "slice: bad time" slice "$S" --from nonsense -o "$TMP/x.rtrace"
usage "slice: option without its value" slice "$S" -o
usage "filter: unknown option" filter "$S" -x -o "$TMP/x.rtrace"
usage "filter: bad --sample" filter "$S" -o "$TMP/x.rtrace" --sample 1/0
usage "filter: --by without --sample" filter "$S" -o "$TMP/x.rtrace" --by key
usage "merge: no output" merge "$S" "$S"
usage "merge: bad --clock-offset" merge "$S" -o "$TMP/x.rtrace" --clock-offset nonsense
usage "merge: --clock-offset naming no source" merge "$S" -o "$TMP/x.rtrace" --clock-offset nohost=1
usage "anonymize: no secret" anonymize "$S" -o "$TMP/x.rtrace"
usage "anonymize: unknown option" anonymize "$S" -o "$TMP/x.rtrace" --key-secret "$TMP/secret" --bogus
usage "convert: neither --from nor --to" convert "$S"
usage "convert: bad --from" convert --from nope "$TMP/mon.txt" -o "$TMP/x.rtrace"
usage "convert: --from without -o" convert --from monitor "$TMP/mon.txt"
usage "convert: JSON and data both on stdout" convert --to resp "$S" --json
usage "info: no trace" info
usage "info: unknown option" info "$S" --bogus
usage "prime: no target" prime "$S"
usage "prime: bad --pipeline" prime "$S" --dry-run --pipeline 0
usage "prime: unknown option" prime "$S" --dry-run --bogus

# ---- --json: one document with the header; the text on stderr; --json=FILE
# doc NAME CMD FILE: the JSON document in FILE starts with the header of CMD, times have units
doc() {
    local name=$1 cmd=$2 file=$3
    check_eq "$name: one JSON document" 1 "$(jq -s length "$file" 2> /dev/null)"
    check_eq "$name: header" "resptrace 2 $cmd true" \
        "$(jq -r '"\(.tool) \(.schema) \(.command) \(.version | type == "string")"' "$file")"
    check_eq "$name: header first" '["tool","version","schema","command"]' "$(jq -c 'keys_unsorted[0:4]' "$file")"
    check_eq "$name: every time named with its unit" "" \
        "$(jq -r '[.. | objects | keys[]] | unique[] | select(test("time|duration|offset|elapsed|latency|start|end|_ts$|^ts$") and (test("_(s|ms|us|ns)$") | not))' "$file")"
}
"$RT" slice "$S" --to +1 -o "$TMP/s.rtrace" --json > "$TMP/s.json" 2> "$TMP/s.err"
check_eq "slice --json exit" 0 $?
doc "slice --json" slice "$TMP/s.json"
check_match "slice --json: the text summary on stderr" "^file +" "$(head -1 "$TMP/s.err")"
"$RT" slice "$S" --to +1 -o "$TMP/s2.rtrace" --json="$TMP/s2.json" > "$TMP/s2.out" 2> "$TMP/s2.err"
check_eq "slice --json=FILE exit" 0 $?
doc "slice --json=FILE" slice "$TMP/s2.json"
check_match "slice --json=FILE: the text summary on stdout" "^file +" "$(head -1 "$TMP/s2.out")"
check_eq "slice --json=FILE: the same counts" "$(jq -c 'del(.output)' "$TMP/s.json")" "$(jq -c 'del(.output)' "$TMP/s2.json")"
"$RT" filter "$S" --cmd get -o "$TMP/f.rtrace" --json > "$TMP/f.json" 2> /dev/null
doc "filter --json" filter "$TMP/f.json"
"$RT" merge "$S" "$TMP/s.rtrace" -o "$TMP/m.rtrace" --json > "$TMP/m.json" 2> /dev/null
doc "merge --json" merge "$TMP/m.json"
"$RT" anonymize "$S" -o "$TMP/a.rtrace" --key-secret "$TMP/secret" --json > "$TMP/a.json" 2> /dev/null
doc "anonymize --json" anonymize "$TMP/a.json"
"$RT" convert --from monitor "$TMP/mon.txt" -o "$TMP/c.rtrace" --json > "$TMP/c1.json" 2> /dev/null
doc "convert --from --json" convert "$TMP/c1.json"
"$RT" convert --to resp "$S" -o "$TMP/c.resp" --json > "$TMP/c2.json" 2> /dev/null
doc "convert --to --json" convert "$TMP/c2.json"
"$RT" convert --to resp "$S" --json="$TMP/c3.json" > "$TMP/c3.resp" 2> /dev/null
check_eq "convert --to resp on stdout, --json=FILE exit" 0 $?
doc "convert --json=FILE" convert "$TMP/c3.json"
check_files "convert: the data on stdout is the data of -o" "$TMP/c.resp" "$TMP/c3.resp"
"$RT" info "$S" --json > "$TMP/i.json" 2> /dev/null
doc "info --json" info "$TMP/i.json"
"$RT" info "$S" --json="$TMP/i2.json" > "$TMP/i2.out"
check_match "info --json=FILE: the table on stdout" "^file +" "$(head -1 "$TMP/i2.out")"
doc "info --json=FILE" info "$TMP/i2.json"
"$RT" prime "$S" --dry-run --json > "$TMP/p.json" 2> /dev/null
doc "prime --json" prime "$TMP/p.json"
check_eq "prime --json: the JSON only on stdout" 1 "$(jq -s length "$TMP/p.json")"
finish
