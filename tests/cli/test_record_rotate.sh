#!/usr/bin/env bash
# test_record_rotate.sh: record's file rotation and privilege drop, as tcpdump users expect:
# - -C: the shipped capture split by size into TRACE, TRACE1, ...: every file verifies, the
#   files together hold every request and reply of the one-file recording, and a reply whose
#   request went into an earlier file is written unpaired, never paired with the wrong request;
# - -G: a live capture on lo split every second of packet time, named by a strftime pattern;
#   each file covers its second, all together equal the server's calls, in time order;
# - -Z: a live capture that runs as `nobody` once the interface is open.
source "$(dirname "$0")/lib.sh"
PCAP="$SRC/traces/sample-clients.pcap"
# the events' own times (a request line carries its reply, whose "ts" grepping the text would
# also find, out of order); jq 1.6 rounds 19-digit ns to doubles, monotonically, which keeps
# the order and the second each is in
ts_list() { "$RT" cat "$1" --format jsonl | jq .ts; }

"$RT" record -q -r "$PCAP" -f tcp -w "$TMP/one.rtrace" > /dev/null; check_eq "one-file record" 0 $?
"$RT" record -q -r "$PCAP" -f tcp -w "$TMP/c.rtrace" -C 0.01 --json > "$TMP/c.json"
check_eq "-C record exit" 0 $?
N=$(jq .files "$TMP/c.json")
check_eq "-C: several files" 1 "$((N >= 3))"
check_eq "-C: the last file named as tcpdump does" "$TMP/c.rtrace$((N - 1))" "$(jq -r .trace "$TMP/c.json")"
REQ=0 REP=0 BAD=0 NULLREP=0 UNPAIRED=0
for i in $(seq 0 $((N - 1))); do
    f="$TMP/c.rtrace"; [ "$i" = 0 ] || f="$TMP/c.rtrace$i"
    "$RT" info --verify --json "$f" > "$TMP/i.json" 2>/dev/null || BAD=$((BAD + 1))
    REQ=$((REQ + $(jq .requests "$TMP/i.json"))); REP=$((REP + $(jq .replies "$TMP/i.json")))
    check_eq "-C: file $i has its index" "$i" "$(jq -r '.metadata["capture.file_index"]' "$TMP/i.json")"
    "$RT" cat "$f" --format jsonl > "$TMP/c$i.jsonl"
    NULLREP=$((NULLREP + $(jq -c 'select(.event=="request" and .reply==null)' "$TMP/c$i.jsonl" | wc -l)))
    UNPAIRED=$((UNPAIRED + $(jq -c 'select(.event=="reply")' "$TMP/c$i.jsonl" | wc -l)))
done
check_eq "-C: every file verifies" 0 "$BAD"
check_eq "-C: the summary's bytes written are the files' sizes" "$(cat "$TMP"/c.rtrace* | wc -c)" "$(jq .written_bytes "$TMP/c.json")"
check_eq "-C: the files hold every request" "$("$RT" info --json "$TMP/one.rtrace" | jq .requests)" "$REQ"
check_eq "-C: and every reply" "$("$RT" info --json "$TMP/one.rtrace" | jq .replies)" "$REP"
check_eq "-C: replies cut from their requests are written unpaired, one for each" "$NULLREP" "$UNPAIRED"
check_eq "-C: the requests and replies are those of the one-file trace" \
    "$(jq -c 'select(.event=="request") | [.argv, .reply.hash]' <("$RT" cat "$TMP/one.rtrace" --format jsonl) | grep -c .)" \
    "$(cat "$TMP"/c*.jsonl | jq -c 'select(.event=="request") | .argv' | grep -c .)"
"$RT" record -q -r "$PCAP" -w "$TMP/x.rtrace" -C 0 > /dev/null 2> "$TMP/x.err"
check_eq "-C 0: exit 2" 2 $?

# -G 1, live
start_redis_x; P=$RX_PORT
mkdir -p "$TMP/g"
timeout -s KILL 60 "$RT" record -q -i lo -p "$P" -G 1 -w "$TMP/g/t-%H%M%S.rtrace" --json > "$TMP/g.json" 2> "$TMP/g.err" &
rec=$!
sleep 1
for i in $(seq 1 70); do rcli "$P" SET "k$i" "$i" > /dev/null; sleep 0.05; done
sleep 0.5
kill -INT "$rec"; wait "$rec"; check_eq "-G record exit" 0 $?
NG=$(ls "$TMP"/g/t-*.rtrace | wc -l)
check_eq "-G: a file per second" 1 "$((NG >= 4))"
check_eq "-G: the summary counts them" "$NG" "$(jq .files "$TMP/g.json")"
GREQ=0 SPAN_BAD=0 ORDER_BAD=0 NAME_BAD=0
for f in "$TMP"/g/t-*.rtrace; do
    GREQ=$((GREQ + $("$RT" info --json "$f" | jq .requests)))
    ts_list "$f" > "$TMP/ts"
    sort -n -c "$TMP/ts" 2>/dev/null || ORDER_BAD=$((ORDER_BAD + 1))
    if [ -s "$TMP/ts" ]; then
        first=$(head -n 1 "$TMP/ts"); last=$(sort -n "$TMP/ts" | tail -n 1)
        # within one second of packet time, aligned on the second the name says
        [ $((first / 1000000000)) = $((last / 1000000000)) ] || SPAN_BAD=$((SPAN_BAD + 1))
        [ "$(basename "$f")" = "t-$(date -u -d "@$((first / 1000000000))" +%H%M%S).rtrace" ] || NAME_BAD=$((NAME_BAD + 1))
    fi
done
check_eq "-G: every SET in one of the files" 70 "$GREQ"
check_eq "-G: each file within its second" 0 "$SPAN_BAD"
check_eq "-G: each file named by its second (UTC)" 0 "$NAME_BAD"
check_eq "-G: each file in time order" 0 "$ORDER_BAD"

# -Z nobody, live
# (nobody must reach the directory: $TMP is 0700)
chmod 711 "$TMP"; mkdir -p "$TMP/z"; chmod 1777 "$TMP/z"
timeout -s KILL 60 "$RT" record -q -i lo -p "$P" -Z nobody -w "$TMP/z/z.rtrace" > /dev/null 2> "$TMP/z.err" &
rec=$!
for _ in $(seq 1 50); do [ -s "$TMP/z/z.rtrace" ] && break; sleep 0.1; done
rcli "$P" SET zk zv > /dev/null
sleep 0.5
# (the recorder is timeout's child)
check_eq "-Z: the recorder runs as nobody" "$(id -u nobody)" \
    "$(awk '/^Uid:/ {print $2}' "/proc/$(pgrep -P "$rec" | head -n 1)/status" 2>/dev/null)"
kill -INT "$rec"; wait "$rec"; check_eq "-Z record exit" 0 $?
check_eq "-Z: the trace is nobody's" nobody "$(stat -c %U "$TMP/z/z.rtrace")"
check_eq "-Z: the SET recorded" 1 "$("$RT" info --json "$TMP/z/z.rtrace" | jq .requests)"
"$RT" record -q -i lo -p "$P" -Z no-such-user-xyz -w "$TMP/z/n.rtrace" -c 1 > /dev/null 2> "$TMP/zn.err"
check_eq "-Z unknown user: exit 1" 1 $?
check_match "-Z unknown user: named" "no-such-user-xyz" "$(cat "$TMP/zn.err")"
finish
