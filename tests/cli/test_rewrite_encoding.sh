#!/usr/bin/env bash
# test_rewrite_encoding.sh: the commands that write a trace from a trace or from another format
# (slice, filter, merge, anonymize, convert --from) write the chunk encoding --encoding N asks
# for (2: what resptrace 1.2 reads, 1: 1.0 and 1.1), as record does: every chunk of the file
# has it (read off the file's own block headers, not through resptrace) and the trace holds
# the same events as the one written in the default encoding (3). A bad N, and --encoding
# where no trace is written, are usage errors.
. "$(dirname "$0")/lib.sh"

IN="$SRC/traces/sample-cache.rtrace"
printf 'an anonymization secret of more than 16 bytes\n' > "$TMP/secret"
cat > "$TMP/monitor.txt" << 'EOF'
1700000000.000001 [0 127.0.0.1:5555] "SET" "user:1" "alice"
1700000000.000002 [0 127.0.0.1:5556] "GET" "user:1"
1700000000.000003 [0 127.0.0.1:5555] "HSET" "h:1" "f" "v"
1700000000.000004 [0 127.0.0.1:5556] "INCR" "counter"
EOF

# write NAME ENC: runs command NAME writing $TMP/NAME-ENC.rtrace (ENC 0: no --encoding)
write() {
    local name=$1 enc=$2 out="$TMP/$1-$2.rtrace" opt=()
    [ "$enc" != 0 ] && opt=(--encoding "$enc")
    case $name in
    slice) "$RT" slice "$IN" -o "$out" --from +0.5 -q "${opt[@]}" ;;
    filter) "$RT" filter "$IN" -o "$out" --cmd get,set -q "${opt[@]}" ;;
    merge) "$RT" merge "$IN" "$TMP/slice-0.rtrace" -o "$out" -q "${opt[@]}" ;;
    anonymize) "$RT" anonymize "$IN" -o "$out" --key-secret "$TMP/secret" -q "${opt[@]}" ;;
    convert) "$RT" convert --from monitor "$TMP/monitor.txt" -o "$out" -q "${opt[@]}" ;;
    esac > /dev/null 2> "$TMP/$name-$enc.err"
}

for name in slice filter merge anonymize convert; do
    write "$name" 0
    check_eq "$name: exit" 0 $?
    check_eq "$name: the default encoding" 3 "$(chunk_encodings "$TMP/$name-0.rtrace")"
    "$RT" cat "$TMP/$name-0.rtrace" --format jsonl > "$TMP/$name-0.jsonl"
    check_eq "$name: events written" 1 "$(( $(grep -c '"event":"request"' "$TMP/$name-0.jsonl") > 0 ))"
    for e in 2 1; do
        write "$name" $e
        check_eq "$name --encoding $e: exit" 0 $?
        check_eq "$name --encoding $e: every chunk" $e "$(chunk_encodings "$TMP/$name-$e.rtrace")"
        check_eq "$name --encoding $e: the same events" "$(md5sum < "$TMP/$name-0.jsonl")" \
            "$("$RT" cat "$TMP/$name-$e.rtrace" --format jsonl | md5sum)"
    done
done

# usage errors: one line naming the bad value, nothing written
"$RT" slice "$IN" -o "$TMP/bad.rtrace" --encoding 4 > /dev/null 2> "$TMP/u.err"
check_eq "slice --encoding 4: usage exit" 2 $?
check_match "slice --encoding 4: says which" "encoding 1-3, not '4'" "$(head -1 "$TMP/u.err")"
check_eq "slice --encoding 4: nothing written" "" "$(ls "$TMP" | grep '^bad')"
"$RT" convert --to resp "$IN" -o "$TMP/bad.resp" --encoding 2 > /dev/null 2> "$TMP/u.err"
check_eq "convert --to --encoding: usage exit" 2 $?
check_match "convert --to --encoding: says why" "--encoding is for the trace --from writes" \
    "$(head -1 "$TMP/u.err")"
echo '{"tool":"resptrace"}' > "$TMP/run.json"
"$RT" merge "$TMP/run.json" "$TMP/run.json" -o "$TMP/bad.json" --encoding 2 > /dev/null 2> "$TMP/u.err"
check_eq "merge of replay results --encoding: usage exit" 2 $?
check_match "merge of replay results --encoding: says why" "--encoding.*are for traces" \
    "$(head -1 "$TMP/u.err")"

finish
