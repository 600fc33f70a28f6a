#!/usr/bin/env bash
# test_golden.sh: the golden trace committed by format version 1.0 must read identically in
# every later version. A failure here means the format changed incompatibly (or the output of
# cat/info changed: then update tests/golden/ on purpose, never the trace).
. "$(dirname "$0")/lib.sh"
cd "$SRC/traces"
G=golden-v1.rtrace
E=$SRC/tests/golden
"$RT" cat "$G" --format jsonl > "$TMP/out.jsonl"; check_eq "cat jsonl exit" 0 $?
check_files "cat jsonl" "$E/golden-v1.jsonl" "$TMP/out.jsonl"
"$RT" cat "$G" > "$TMP/out.txt"; check_eq "cat text exit" 0 $?
check_files "cat text" "$E/golden-v1.txt" "$TMP/out.txt"
"$RT" cat "$G" --format resp > "$TMP/out.resp"; check_eq "cat resp exit" 0 $?
check_files "cat resp" "$E/golden-v1.resp" "$TMP/out.resp"
"$RT" info --json "$G" > "$TMP/info.json"; check_eq "info exit" 0 $?
# the document's values must be those of 1.0; its layout (indentation, the tool/version/schema/
# command header every JSON document now starts with) may change
check_eq "info json" "$(jq -cS . "$E/golden-v1.info.json")" "$(jq -cS 'del(.tool, .version, .schema, .command)' "$TMP/info.json")"
check_eq "info json header" "resptrace info" "$(jq -r '"\(.tool) \(.command)"' "$TMP/info.json")"
"$RT" info --verify "$G" > /dev/null; check_eq "info --verify exit" 0 $?
# every jsonl line is JSON, and every request line carries the required fields
check_eq "jsonl parses" 34 "$(jq -c . < "$TMP/out.jsonl" | wc -l)"
check_eq "request fields" 0 "$(jq -c 'select(.event=="request") | select((.ts|type)!="number" or (.conn|type)!="number" or (.db|type)!="number" or (.cmd|type)!="string" or (.argv|type)!="array" or (.argv[0]|ascii_upcase)!=.cmd or ((.reply|type)!="object" and .reply!=null))' < "$TMP/out.jsonl" | wc -l)"
check_eq "replies with type and len" 0 "$(jq -c 'select(.event=="request" and .reply!=null) | select((.reply.type|type)!="string" or (.reply.len|type)!="number")' < "$TMP/out.jsonl" | wc -l)"
finish
