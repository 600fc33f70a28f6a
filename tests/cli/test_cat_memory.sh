#!/usr/bin/env bash
# test_cat_memory.sh: cat's memory is bounded in bytes, not only in lines. A trace of 3,000
# requests of 120 kB (40 kB on disk, 360 MB of arguments, no replies: every request waits for
# a reply that never comes) is printed as JSON lines and as text under GNU time: peak RSS
# stays under 128 MiB (before the byte bound, jsonl held all 360 MB: 371 MB RSS), every
# request is printed, and the requests printed before their reply came are counted and said.
. "$(dirname "$0")/lib.sh"
GEN=$(dirname "$RT")/make_paced_trace
[ -x "$GEN" ] || { echo "no $GEN (build the make_paced_trace target)" >&2; exit 1; }
SANITIZED=0
if ldd "$RT" 2> /dev/null | grep -Eq 'libasan|libubsan'; then SANITIZED=1; fi
LIMIT_KB=$((128 * 1024))

X=$(head -c 120000 /dev/zero | tr '\0' x)
"$GEN" "$TMP/big.rtrace" 1 3000 1 SET k "$X"; check_eq "make_paced_trace exit" 0 $?
check_eq "the trace is small on disk" 1 "$(($(stat -c %s "$TMP/big.rtrace") < 200000))"

/usr/bin/time -o "$TMP/jsonl.rss" -f %M "$RT" cat "$TMP/big.rtrace" --format jsonl \
    > "$TMP/out.jsonl" 2> "$TMP/jsonl.err"
check_eq "jsonl exit" 0 $?
if [ "$SANITIZED" = 0 ]; then
    check_eq "jsonl: peak RSS under 128 MiB (got $(cat "$TMP/jsonl.rss") KB)" 1 \
        "$(($(cat "$TMP/jsonl.rss") < LIMIT_KB))"
fi
check_eq "jsonl: every request printed" 3000 "$(grep -c '"event":"request"' "$TMP/out.jsonl")"
check_eq "jsonl: with its 120 kB value" 120000 \
    "$(tail -n 2 "$TMP/out.jsonl" | head -n 1 | jq -r '.argv[2] | length')"
check_eq "jsonl: none has a reply" 0 "$(grep -c '"reply":{' "$TMP/out.jsonl")"
check_eq "jsonl: the lines are in file order" "$(seq 0 2999)" \
    "$(grep '"event":"request"' "$TMP/out.jsonl" | grep -o '"seq":[0-9]*' | cut -d: -f2)"
check_match "jsonl: the requests printed early are counted and said" \
    '^resptrace cat: [0-9]+ requests printed before their reply came \(the lines waiting held more than --pair-bytes 67108864 bytes\)$' \
    "$(cat "$TMP/jsonl.err")"
N=$(grep -o '^resptrace cat: [0-9]*' "$TMP/jsonl.err" | grep -o '[0-9]*$')
# 64 MiB holds about 550 of them: the rest went out early
check_eq "jsonl: most of them went out early (got ${N:-none})" 1 "$(( ${N:-0} > 2000 && ${N:-0} < 3000 ))"

# a smaller bound sends more out early; the line bound still works as before
"$RT" cat "$TMP/big.rtrace" --format jsonl --pair-bytes 1M > /dev/null 2> "$TMP/small.err"
check_eq "--pair-bytes 1M exit" 0 $?
N1=$(grep -o '^resptrace cat: [0-9]*' "$TMP/small.err" | grep -o '[0-9]*$')
check_eq "--pair-bytes 1M: more early (${N1:-none} > ${N:-none})" 1 "$(( ${N1:-0} > ${N:-0} ))"
"$RT" cat "$TMP/big.rtrace" --format jsonl --pair-window 10 > /dev/null 2> "$TMP/window.err"
check_match "--pair-window 10: counted as before" \
    '^resptrace cat: 2990 requests printed before their reply came \(more than --pair-window 10 waiting\)$' \
    "$(cat "$TMP/window.err")"

/usr/bin/time -o "$TMP/text.rss" -f %M "$RT" cat "$TMP/big.rtrace" > "$TMP/out.txt" 2> "$TMP/text.err"
check_eq "text exit" 0 $?
if [ "$SANITIZED" = 0 ]; then
    check_eq "text: peak RSS under 128 MiB (got $(cat "$TMP/text.rss") KB)" 1 \
        "$(($(cat "$TMP/text.rss") < LIMIT_KB))"
fi
check_eq "text: every request printed" 3000 "$(grep -c ' request ' "$TMP/out.txt")"
check_eq "text: nothing on stderr" "" "$(cat "$TMP/text.err")"

for bad in 0 abc 12X -5 1Mb; do
    "$RT" cat "$TMP/big.rtrace" --format jsonl --pair-bytes "$bad" > /dev/null 2> "$TMP/bad.err"
    check_eq "--pair-bytes $bad: exit 2" 2 $?
    check_match "--pair-bytes $bad: says why" "^resptrace cat: --pair-bytes takes a size \(64M\), not '$bad'\$" \
        "$(head -n 1 "$TMP/bad.err")"
done
finish
