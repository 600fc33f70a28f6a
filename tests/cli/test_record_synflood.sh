#!/usr/bin/env bash
# test_record_synflood.sh: a connection that sends no data must cost the recorder little.
# tests/make_synflood_pcap.c writes captures of bare SYNs (distinct clients, port 6379); the
# recorder reads them under GNU time: 30,000 SYNs (a 2 MB capture) stay under 128 MiB of
# resident memory (they took 1.9 GB when each connection got a 64 KiB scratch at its SYN),
# and 300,000 are reported. A flood mixed into the real capture traces/sample-clients.pcap
# must not cost one request of the real traffic.
. "$(dirname "$0")/lib.sh"
BIN=$(dirname "$RT")
GEN=$BIN/make_synflood_pcap
if [ ! -x "$GEN" ]; then
    # not built by this build: compile it here
    GEN=$TMP/make_synflood_pcap
    cc -O2 -o "$GEN" "$SRC/tests/make_synflood_pcap.c" -lpcap || { fail "cannot build make_synflood_pcap"; finish; }
fi
command -v /usr/bin/time > /dev/null || { fail "GNU time (/usr/bin/time) is missing: .ci/setup installs it"; finish; }
LIMIT_KB=$((128 * 1024))

# rss FILE.pcap TRACE [record args...]: records and prints the peak resident set in KiB
rss() {
    local pcap=$1 out=$2
    shift 2
    /usr/bin/time -f %M -o "$TMP/time.out" "$RT" record -q -r "$pcap" -w "$out" --json "$@" > "$out.json" 2> "$out.err"
    local rc=$?
    check_eq "record $(basename "$pcap") exit" 0 $rc
    tail -1 "$TMP/time.out"
}

"$GEN" "$TMP/syn30k.pcap" 30000 > /dev/null; check_eq "30,000 SYNs written" 0 $?
kb=$(rss "$TMP/syn30k.pcap" "$TMP/syn30k.rtrace")
echo "30,000 bare SYNs: max RSS $kb KiB"
check_eq "30,000 SYNs: under 128 MiB (got $kb KiB)" 1 "$(( kb < LIMIT_KB ))"
check_eq "30,000 SYNs: every connection traced" 30000 "$(jq .connections "$TMP/syn30k.rtrace.json")"
check_eq "30,000 SYNs: none dropped" 0 "$(jq .flows_dropped "$TMP/syn30k.rtrace.json")"
"$RT" info --json "$TMP/syn30k.rtrace" > "$TMP/syn30k.info"
check_eq "30,000 SYNs: 30,000 opens in the trace" 30000 "$(jq .connections "$TMP/syn30k.info")"

"$GEN" "$TMP/syn300k.pcap" 300000 > /dev/null; check_eq "300,000 SYNs written" 0 $?
kb=$(rss "$TMP/syn300k.pcap" "$TMP/syn300k.rtrace")
echo "300,000 bare SYNs: max RSS $kb KiB ($(jq .connections "$TMP/syn300k.rtrace.json") connections traced, $(jq .flows_dropped "$TMP/syn300k.rtrace.json") refused by the flow cap)"
# 262,144 connections at once is the reassembler's flow cap; the rest are refused, counted
check_eq "300,000 SYNs: under 512 MiB (got $kb KiB)" 1 "$(( kb < 4 * LIMIT_KB ))"
check_eq "300,000 SYNs: traced or counted as refused" 300000 \
    "$(( $(jq .connections "$TMP/syn300k.rtrace.json") + $(jq .flows_dropped "$TMP/syn300k.rtrace.json") ))"
rm -f "$TMP/syn300k.pcap" "$TMP/syn300k.rtrace"

# --- the flood in the middle of real traffic (redis-benchmark and redis-cli, port 46534)
P=$SRC/traces/sample-clients.pcap
"$GEN" "$TMP/mix.pcap" 30000 -p 46534 "$P" > /dev/null; check_eq "mixed capture written" 0 $?
kb=$(rss "$TMP/mix.pcap" "$TMP/mix.rtrace" -p 46534)
echo "30,000 SYNs mixed into sample-clients.pcap: max RSS $kb KiB"
check_eq "mixed: under 128 MiB (got $kb KiB)" 1 "$(( kb < LIMIT_KB ))"
"$RT" record -q -r "$P" -p 46534 -w "$TMP/real.rtrace" --json > "$TMP/real.json" 2> /dev/null
check_eq "mixed: the flood's connections and the real ones" $((30000 + $(jq .connections "$TMP/real.json"))) "$(jq .connections "$TMP/mix.rtrace.json")"
check_eq "mixed: every real request recorded" "$(jq .requests "$TMP/real.json")" "$(jq .requests "$TMP/mix.rtrace.json")"
check_eq "mixed: every real reply recorded" "$(jq .replies "$TMP/real.json")" "$(jq .replies "$TMP/mix.rtrace.json")"
cmds() { "$RT" cat "$1" --format jsonl | jq -r 'select(.event=="request") | "\(.cmd) \(.reply.type)"' | sort | uniq -c; }
check_eq "mixed: the same commands, paired the same" "$(cmds "$TMP/real.rtrace")" "$(cmds "$TMP/mix.rtrace")"
check_eq "mixed: no gap, no note" "0 0" "$(jq -r '"\(.gaps) \(.notes)"' "$TMP/mix.rtrace.json")"
finish
