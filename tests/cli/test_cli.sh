#!/usr/bin/env bash
# test_cli.sh: the front end's commands, help, exit codes and messages on bad input.
. "$(dirname "$0")/lib.sh"
G=$SRC/traces/golden-v1.rtrace
S=$SRC/traces/sample-cache.rtrace

out=$("$RT" help); check_eq "help exit" 0 $?
check_match "help lists cat" "cat +print" "$out"
check_match "help lists info" "info +print" "$out"
for c in info cat; do
    "$RT" "$c" --help | grep -q "usage: resptrace $c"; check_eq "$c --help" 0 $?
    "$RT" help "$c" | grep -q "usage: resptrace $c"; check_eq "help $c" 0 $?
done
"$RT" frobnicate 2>/dev/null; check_eq "unknown command exit" 2 $?
"$RT" cat 2>/dev/null; check_eq "cat without trace exit" 2 $?
"$RT" cat "$G" --format xml 2>/dev/null; check_eq "unknown format exit" 2 $?
check_match "version" "^resptrace [0-9]+\.[0-9]+\.[0-9]+ \(trace format 1\.[0-9]+\)$" "$("$RT" version)"

# not a trace, empty, missing, directory: exit 1 with a message naming the path
echo "hello" > "$TMP/text"
: > "$TMP/empty"
for f in "$TMP/text" "$TMP/empty" "$TMP/missing" "$TMP"; do
    msg=$("$RT" info "$f" 2>&1 >/dev/null); rc=$?
    check_eq "info $f exit" 1 $rc
    check_match "info $f message names it" "$f" "$msg"
done

# the sample: counts from the index equal the counts from reading every event
info=$("$RT" info --json "$S")
check_eq "sample requests" 2000 "$(jq .requests <<<"$info")"
check_eq "sample replies" 2000 "$(jq .replies <<<"$info")"
check_eq "sample connections" 4 "$(jq .connections <<<"$info")"
check_eq "sample closed" true "$(jq .closed <<<"$info")"
check_eq "jsonl request lines" 2000 "$("$RT" cat "$S" --format jsonl | jq -c 'select(.event=="request")' | wc -l)"
check_eq "every request paired" 0 "$("$RT" cat "$S" --format jsonl | jq -c 'select(.event=="request" and .reply==null)' | wc -l)"

# stdin
"$RT" cat - --format jsonl < "$G" > "$TMP/stdin.jsonl"; check_eq "cat stdin exit" 0 $?
check_files "cat stdin equals cat file" "$SRC/tests/golden/golden-v1.jsonl" "$TMP/stdin.jsonl"

# --from seeks by time: +0.05 s after the start skips the earlier requests
first=$("$RT" cat "$S" --format jsonl --from +0.5 | jq -c 'select(.event=="request")' | head -1 | jq .ts)
start=$(jq .start_ns <<<"$info")
check_eq "--from lands at or after the time" 1 "$(( first >= start + 500000000 ))"
check_eq "--from lands in the first chunk that holds it" 1 "$(( first < start + 600000000 ))"

# a truncated trace: what is readable is printed, then the message, exit 1
size=$(stat -c %s "$S")
head -c $((size / 2)) "$S" > "$TMP/half.rtrace"
"$RT" cat "$TMP/half.rtrace" --format jsonl > "$TMP/half.jsonl" 2> "$TMP/half.err"; rc=$?
check_eq "truncated cat exit" 1 $rc
check_match "truncated message names file and offset" "half.rtrace: truncated at offset [0-9]+" "$(cat "$TMP/half.err")"
n=$(jq -c 'select(.event=="request")' < "$TMP/half.jsonl" | wc -l)
check_eq "truncated trace still yields requests" 1 "$(( n > 0 && n < 2000 ))"
"$RT" info "$TMP/half.rtrace" > /dev/null 2>&1; check_eq "truncated info exit" 1 $?

# a flipped byte in the middle: stops with the offset; --salvage skips the damaged chunk
cp "$S" "$TMP/flip.rtrace"
off=$((size / 2))
printf '\x55' | dd of="$TMP/flip.rtrace" bs=1 seek=$off conv=notrunc status=none
"$RT" cat "$TMP/flip.rtrace" --format jsonl > "$TMP/flip.jsonl" 2> "$TMP/flip.err"; rc=$?
check_eq "corrupt cat exit" 1 $rc
check_match "corrupt message" "flip.rtrace: .*offset [0-9]+" "$(cat "$TMP/flip.err")"
a=$(jq -c 'select(.event=="request")' < "$TMP/flip.jsonl" | wc -l)
"$RT" cat "$TMP/flip.rtrace" --format jsonl --salvage > "$TMP/salv.jsonl" 2> "$TMP/salv.err"; rc=$?
check_eq "salvage exit" 1 $rc
check_match "salvage says what it skipped" "salvaged: [0-9]+ damaged chunks skipped" "$(cat "$TMP/salv.err")"
b=$(jq -c 'select(.event=="request")' < "$TMP/salv.jsonl" | wc -l)
check_eq "salvage reads past the damage" 1 "$(( b > a && b < 2000 ))"
finish
