#!/usr/bin/env bash
# test_analysis_malformed.sh: requests the server could not parse, as the analyses see them. A
# real redis-server gets, on loopback captured by tcpdump, well-formed commands and two it
# rejects with "Protocol error" (an inline command with unbalanced quotes, a RESP array with a
# bad bulk length), each on its own connection, which the server then closes. `record` writes
# those two as requests flagged malformed (their raw bytes), paired with the errors. `stat`
# counts them as the command "(malformed)" and in "malformed"; `hotkeys` and `shards` find no
# keys in them and count them apart from the requests they skip.
. "$(dirname "$0")/lib.sh"
for t in tcpdump redis-server; do
    if ! command -v "$t" > /dev/null; then
        fail "$t is not installed"
        finish
    fi
done
start_redis_x
P=$RX_PORT
PCAP=$TMP/m.pcap
tcpdump -i lo -U -n -w "$PCAP" "tcp port $P" 2> "$TMP/tcpdump.err" &
TD=$!
BG_PIDS="$BG_PIDS $TD"
for _ in $(seq 1 100); do
    grep -q "listening on" "$TMP/tcpdump.err" && break
    sleep 0.05
done
sleep 0.2

# send CONN BYTES: writes BYTES (printf format) on a new connection and reads until the server
# closes it or a second passes
send() {
    exec 3<> "/dev/tcp/127.0.0.1/$P"
    printf "$1" >&3
    timeout 1 cat <&3 > "$TMP/reply.$2" || true
    exec 3>&-
}
send '*3\r\n$3\r\nSET\r\n$5\r\nk:one\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$5\r\nk:one\r\n' ok
send 'SET k:two 2\r\nSET bad1 "unclosed\r\n' quotes
send '*2\r\n$3\r\nGET\r\n$abc\r\n' badlen
send '*2\r\n$3\r\nGET\r\n$5\r\nk:two\r\n' after
check_match "the server rejects the quotes" "Protocol error: unbalanced quotes" "$(cat "$TMP/reply.quotes")"
check_match "the server rejects the bulk length" "Protocol error: invalid bulk length" "$(cat "$TMP/reply.badlen")"
sleep 0.3
kill -INT "$TD"
wait "$TD" 2> /dev/null
"$RT" record -q -r "$PCAP" -p "$P" -w "$TMP/m.rtrace" > /dev/null 2> "$TMP/record.err"
check_eq "record exit" 0 $?
"$RT" cat "$TMP/m.rtrace" --format jsonl > "$TMP/m.jsonl"
NM=$(jq -c 'select(.event == "request" and .malformed == true)' "$TMP/m.jsonl" | wc -l)
check_eq "the recorder wrote both as malformed requests" 2 "$NM"
NREQ=$(jq -c 'select(.event == "request")' "$TMP/m.jsonl" | wc -l)

# stat: "(malformed)" in the command mix, with its errors; "malformed" in the document
"$RT" stat "$TMP/m.rtrace" --json > "$TMP/stat.json"; check_eq "stat exit" 0 $?
check_eq "stat: malformed" 2 "$(jq .malformed "$TMP/stat.json")"
check_eq "stat: requests include them" "$NREQ" "$(jq .requests "$TMP/stat.json")"
check_eq "stat: the command (malformed)" '[{"name":"(malformed)","class":"other","count":2,"errors":2}]' \
    "$(jq -c '[.commands[] | select(.name == "(malformed)") | {name, class, count, errors}]' "$TMP/stat.json")"
check_eq "stat: no command made of their bytes" "[]" \
    "$(jq -c '[.commands[].name | select(test("unclosed|abc|bad1"))]' "$TMP/stat.json")"
check_eq "stat: command counts add up" "$NREQ" "$(jq '[.commands[].count] | add' "$TMP/stat.json")"
"$RT" stat "$TMP/m.rtrace" > "$TMP/stat.txt"
check_match "stat table: the malformed line" "malformed +2 requests the server could not parse" "$(cat "$TMP/stat.txt")"
check_match "stat table: the command" "\(malformed\) +2 " "$(cat "$TMP/stat.txt")"

# hotkeys and shards: no keys in them, counted apart from the skipped requests
"$RT" hotkeys "$TMP/m.rtrace" --json > "$TMP/hk.json"; check_eq "hotkeys exit" 0 $?
check_eq "hotkeys: malformed, skipped" "[2,0]" "$(jq -c '[.malformed_requests, .skipped_requests]' "$TMP/hk.json")"
check_eq "hotkeys: the keys are the well-formed requests'" '["k:one","k:two"]' "$(jq -c '[.keys[].key] | sort' "$TMP/hk.json")"
check_eq "hotkeys: requests add up" "$NREQ" \
    "$(jq '.keyed_requests + .keyless_requests + .skipped_requests + .malformed_requests' "$TMP/hk.json")"
check_match "hotkeys table: malformed" ", 2 malformed\)" "$("$RT" hotkeys "$TMP/m.rtrace")"
"$RT" shards "$TMP/m.rtrace" --shards 3 --json > "$TMP/sh.json"; check_eq "shards exit" 0 $?
check_eq "shards: malformed, skipped" "[2,0]" "$(jq -c '[.malformed_requests, .skipped_requests]' "$TMP/sh.json")"
check_eq "shards: ops are the keyed requests" "$(jq .keyed_requests "$TMP/sh.json")" \
    "$(jq '[.projections[0].shards[].ops] | add' "$TMP/sh.json")"
# the report says so in the hot keys' counts
"$RT" report "$TMP/m.rtrace" -o "$TMP/m.html" --shards 3 > /dev/null; check_eq "report exit" 0 $?
check_match "report: malformed counted" "2 malformed \(the server could not parse them\)" "$(cat "$TMP/m.html")"
finish
