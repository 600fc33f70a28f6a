#!/usr/bin/env bash
# test_zeek_captures.sh: `resptrace record` on every real capture in ../shared/fixtures/zeek-redis
# (captured elsewhere, parsed independently by Zeek; never committed here). Skipped, with a
# note, when the fixtures are not beside the checkout.
. "$(dirname "$0")/lib.sh"
Z=$SRC/../shared/fixtures/zeek-redis
if [ ! -f "$Z/README.md" ]; then
    echo "note: no $Z; nothing to check"
    ok
    finish
fi
for f in "$Z"/*.pcap "$Z"/*.pcapng; do
    name=$(basename "$f"); name=${name%.*}
    port=6379; [ "$name" = django-cloud ] && port=10625
    "$RT" record -q -r "$f" -p "$port" -w "$TMP/$name.rtrace" --json > "$TMP/$name.json" 2> "$TMP/$name.err"
    check_eq "$name: record exit" 0 $?
    "$RT" info --verify "$TMP/$name.rtrace" > /dev/null; check_eq "$name: trace verifies" 0 $?
    "$RT" cat "$TMP/$name.rtrace" --format jsonl > "$TMP/$name.jsonl"
done
# counts against Zeek's redis.log (one line per command; column 7 is the name, 10 is success)
for name in django-cloud pipelining-example pipeline-with-commands; do
    want=$(grep -v '^#' "$Z/baseline/$name/redis.log" | wc -l)
    check_eq "$name: requests as in Zeek's log" "$want" "$(jq .requests "$TMP/$name.json")"
    want=$(grep -v '^#' "$Z/baseline/$name/redis.log" | cut -f7 | sort | uniq -c | tr -s ' ')
    got=$(jq -r 'select(.event=="request") | .cmd' "$TMP/$name.jsonl" | sort | uniq -c | tr -s ' ')
    check_eq "$name: command names as in Zeek's log" "$want" "$got"
done
check_eq "set: three SETs paired" 3 "$(jq -c 'select(.event=="request" and .cmd=="SET" and .reply!=null)' "$TMP/set.jsonl" | wc -l)"
# the passwords of auth.pcap (Zeek's baseline lists them) never reach the trace
for pw in notapassword defaultpassword password; do
    check_eq "auth: '$pw' absent" 0 "$(jq -c 'select(.event=="request") | .argv[]' "$TMP/auth.jsonl" | grep -c "$pw")"
done
check_eq "auth: three AUTHs, all redacted" 3 "$(jq -c 'select(.event=="request" and .cmd=="AUTH" and (.flags|index("redacted")))' "$TMP/auth.jsonl" | wc -l)"
# commands sent after CLIENT REPLY OFF get no reply
check_eq "reply-off-on: unpaired as in Zeek's log" \
    "$(grep -v '^#' "$Z/baseline/reply-off-on/redis.log" | cut -f10 | grep -c '^-$')" \
    "$(jq -c 'select(.event=="request" and .reply==null)' "$TMP/reply-off-on.jsonl" | wc -l)"
# Zeek stops naming pipelined commands after a limit (its weird.log says so); every one is here
want=$(grep -v '^#' "$Z/baseline/excessive-pipelining/redis.log" | wc -l)
check_eq "excessive-pipelining: every PING named" "$want" "$(jq -r 'select(.event=="request") | .cmd' "$TMP/excessive-pipelining.jsonl" | grep -cx PING)"
check_eq "excessive-pipelining: every PING paired" "$want" "$(jq -c 'select(.event=="request" and .reply.type=="simple")' "$TMP/excessive-pipelining.jsonl" | wc -l)"
# inline commands with quotes: the arguments as redis unquotes them; the unbalanced quotes the
# server answered with "Protocol error" (then closing) are requests too, flagged malformed with
# the bytes as sent: every line of Zeek's log is one request here, with the same outcome
# (T: +OK, F: the protocol error, -: no reply: the server had closed)
PQ=$TMP/pipeline-quotes.jsonl
check_eq "pipeline-quotes: requests as in Zeek's log" "$(grep -vc '^#' "$Z/baseline/pipeline-quotes/redis.log")" "$(jq .requests "$TMP/pipeline-quotes.json")"
zq=$(grep -v '^#' "$Z/baseline/pipeline-quotes/redis.log" | awk -F'\t' '{print $7, $8, $10}')
got=$(jq -r 'select(.event=="request") | if .malformed then (.argv[0] | split(" ") | "\(.[0]) \(.[1])") else "\(.cmd) \(.argv[1])" end + " " + (if .reply == null then "-" elif .reply.type == "error" then "F" else "T" end)' "$PQ")
check_eq "pipeline-quotes: name, key and outcome of every command as in Zeek's log" "$zq" "$got"
check_eq "pipeline-quotes: unquoted" 'my value with "escaped" quotes' "$(jq -r 'select(.event=="request" and .argv[1]=="key5") | .argv[2]' "$PQ")"
check_eq "pipeline-quotes: single quotes" "my value with 'escaped' quotes" "$(jq -r 'select(.event=="request" and .argv[1]=="key6") | .argv[2]' "$PQ")"
check_eq "pipeline-quotes: the malformed request is the bytes sent" '"SET bad1 \"unclosed double quotes\r\n"' "$(jq -c 'select(.event=="request" and .malformed) | .argv[0]' "$PQ" | head -1)"
check_eq "pipeline-quotes: paired with the server's error" "ERR Protocol error: unbalanced quotes in request" "$(jq -r 'select(.event=="request" and .malformed and .reply != null) | .reply.err' "$PQ")"
check_eq "pipeline-quotes: no unpaired reply" 0 "$(jq -c 'select(.event=="reply" and .seq == null)' "$PQ" | wc -l)"
check_match "pipeline-quotes: cat text shows MALFORMED" 'MALFORMED "SET bad1 \\"unclosed double quotes\\r\\n"' "$("$RT" cat "$TMP/pipeline-quotes.rtrace")"
check_eq "pipeline-quotes: the summary counts them" 2 "$(jq .malformed_requests "$TMP/pipeline-quotes.json")"
# --format resp feeds redis-cli --pipe: the bytes a server rejects are left out, and counted
"$RT" cat "$TMP/pipeline-quotes.rtrace" --format resp > "$TMP/pq.resp" 2> "$TMP/pq.err"
check_eq "pipeline-quotes: resp holds the six good SETs" 6 "$(grep -c '^\*3' "$TMP/pq.resp")"
check_match "pipeline-quotes: resp says what it left out" "^resptrace cat: 2 malformed requests left out" "$(cat "$TMP/pq.err")"
# a server that stops speaking RESP is reported, not fatal
check_eq "almost-resp: a note" 1 "$(jq .notes "$TMP/almost-resp.json")"
finish
