#!/usr/bin/env bash
# test_golden.sh: the golden traces committed by format versions 1.0, 1.1 (both chunk
# encoding 1), 1.2 (chunk encoding 2: tables carried from chunk to chunk) and 1.3 (chunk
# encoding 3: the lengths of arguments 2.. apart) hold the same events and must read identically in every later version. A failure here means the format
# changed incompatibly (or the output of cat/info changed: then update tests/golden/ on
# purpose, never the traces). A trace with a chunk of an encoding this version does not read
# (written by a newer one) is read around it, and the chunk is reported, not passed over.
. "$(dirname "$0")/lib.sh"
cd "$SRC/traces"
E=$SRC/tests/golden
for v in 1 1.1 1.2 1.3; do
    G=golden-v$v.rtrace
    "$RT" cat "$G" --format jsonl > "$TMP/out.jsonl"; check_eq "$v: cat jsonl exit" 0 $?
    check_files "$v: cat jsonl" "$E/golden-v1.jsonl" "$TMP/out.jsonl"
    "$RT" cat "$G" > "$TMP/out.txt"; check_eq "$v: cat text exit" 0 $?
    check_files "$v: cat text" "$E/golden-v1.txt" "$TMP/out.txt"
    "$RT" cat "$G" --format resp > "$TMP/out.resp"; check_eq "$v: cat resp exit" 0 $?
    check_files "$v: cat resp" "$E/golden-v1.resp" "$TMP/out.resp"
    "$RT" info --json "$G" > "$TMP/info.json"; check_eq "$v: info exit" 0 $?
    # the document's values must be those the version's own resptrace gave; its layout
    # (indentation, the tool/version/schema/command header every JSON document now starts
    # with) may change
    want=golden-v$v.info.json; [ "$v" = 1 ] && want=golden-v1.info.json
    check_eq "$v: info json" "$(jq -cS . "$E/$want")" "$(jq -cS 'del(.tool, .version, .schema, .command)' "$TMP/info.json")"
    check_eq "$v: info json header" "resptrace info" "$(jq -r '"\(.tool) \(.command)"' "$TMP/info.json")"
    "$RT" info --verify "$G" > /dev/null; check_eq "$v: info --verify exit" 0 $?
    # every jsonl line is JSON, and every request line carries the required fields
    check_eq "$v: jsonl parses" 34 "$(jq -c . < "$TMP/out.jsonl" | wc -l)"
    check_eq "$v: request fields" 0 "$(jq -c 'select(.event=="request") | select((.ts|type)!="number" or (.conn|type)!="number" or (.db|type)!="number" or (.cmd|type)!="string" or (.argv|type)!="array" or (.argv[0]|ascii_upcase)!=.cmd or ((.reply|type)!="object" and .reply!=null))' < "$TMP/out.jsonl" | wc -l)"
    check_eq "$v: replies with type and len" 0 "$(jq -c 'select(.event=="request" and .reply!=null) | select((.reply.type|type)!="string" or (.reply.len|type)!="number")' < "$TMP/out.jsonl" | wc -l)"
done
check_eq "1.1: written by 1.1" "1.1" "$("$RT" info --json golden-v1.1.rtrace | jq -r .format_version)"
check_eq "1.2: written by 1.2" "1.2" "$("$RT" info --json golden-v1.2.rtrace | jq -r .format_version)"
check_eq "1.3: written by 1.3" "1.3" "$("$RT" info --json golden-v1.3.rtrace | jq -r .format_version)"

# newer-encoding.rtrace: golden-v1.1.rtrace with its second chunk (events 17-32, at offset
# 783) marked as encoding 9: every other event is printed, then the chunk is reported
N=newer-encoding.rtrace
"$RT" cat "$N" > "$TMP/new.txt" 2> "$TMP/new.err"; check_eq "newer: cat exit" 1 $?
check_eq "newer: the events of the other chunks" "$(sed '17,32d' "$E/golden-v1.txt")" "$(cat "$TMP/new.txt")"
check_eq "newer: cat says which chunk and how many" \
    "resptrace cat: $N: chunk at offset 783 has encoding 9, which this version of resptrace does not read (a newer one wrote it): skipped (1 chunks skipped, 1 of them of an encoding this version does not read, the first at offset 783)" \
    "$(cat "$TMP/new.err")"
"$RT" cat "$N" --format jsonl > /dev/null 2>&1; check_eq "newer: cat jsonl exit" 1 $?
"$RT" info --verify --json "$N" > "$TMP/new.json" 2> "$TMP/new.err"
check_eq "newer: info --verify exit" 1 $?
check_eq "newer: info --verify reports the chunk" '{"bytes_skipped":377,"chunks_skipped":1,"first_offset":783}' \
    "$(jq -cS '.damage | del(.message)' "$TMP/new.json")"
check_match "newer: info --verify says why" "offset 783 has encoding 9" "$(cat "$TMP/new.err")"
finish
