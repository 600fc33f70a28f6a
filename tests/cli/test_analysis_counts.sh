#!/usr/bin/env bash
# test_analysis_counts.sh: stat, hotkeys, shards and prime read a trace through one walk
# (tools/walk.c): they must count the same requests, keys and reply pairings, and those counts
# must be the trace's. The expected counts are computed without resptrace's command table or
# pairing code, by analysis_oracle.py: pairing from the sequence numbers that `resptrace cat
# --format jsonl` prints, keys from a real redis-server's COMMAND GETKEYS (7.0.15, the server
# the command table was generated from), flags from its COMMAND INFO (see the script's
# comment for the rules). The traces: the committed ones in traces/, those of the generators
# the analysis tests use (make_zipf_trace, make_shards_trace twice, make_stat_trace,
# make_edge_trace), and a live capture made here of what the others lack: a reply whose
# request was sent before the capture started (unpaired), requests sent after CLIENT REPLY
# OFF (no reply expected), a BLPOP answered after 70000 later requests (redis-benchmark's:
# more than the walk's ring of 2^16, so it pairs among the long waiters; hotkeys, shards and
# prime forgot it before the walk), a request still blocked when the capture stops (unanswered),
# CONFIG GET and CONFIG SET on one connection (stat named both "config|get" before the walk:
# its command cache kept the first subcommand of a container), a call with the wrong number
# of arguments, an unknown command, keys of several slots, and a malformed request.
# Before the walk, every count checked here was the same on these traces (the outputs of
# stat, hotkeys, shards and prime --dry-run of the binary built from 021fc75 were compared
# byte for byte with the walk's on all of them: equal), except the CONFIG SET one.
. "$(dirname "$0")/lib.sh"
for t in redis-server redis-cli python3 jq; do
    if ! command -v "$t" > /dev/null; then
        fail "$t is not installed"
        finish
    fi
done
BIN=$(dirname "$RT")
ORACLE=$(dirname "$0")/analysis_oracle.py
for g in make_zipf_trace make_shards_trace make_stat_trace make_edge_trace; do
    if [ ! -x "$BIN/$g" ]; then
        echo "no $BIN/$g (build the $g target)" >&2
        exit 1
    fi
done
start_redis_x
P=$RX_PORT

# ---- the live capture ------------------------------------------------------------------------
# resp ARGS...: one command as a RESP array (printf format, for writing to a socket)
resp() {
    local a
    printf '*%d\r\n' $#
    for a in "$@"; do printf '$%d\r\n%s\r\n' ${#a} "$a"; done
}
exec 4<> "/dev/tcp/127.0.0.1/$P" # blocked before the capture: its reply will have no request
resp BLPOP early:q 0 >&4
sleep 0.2
start_recorder "$P" "$TMP/live.rtrace" || fail "the recorder did not start"
rcli "$P" LPUSH early:q x > /dev/null
timeout 2 head -c 20 <&4 > "$TMP/early.reply" || true
check_match "the early client got its element" "early:q" "$(cat "$TMP/early.reply")"
exec 4>&-
# values of 70,000 bytes: the chunk's bytes of arguments 2.. take a zstd frame of their own,
# which hotkeys (the reader's opts.lazy_args) leaves compressed until a request needs them:
# EVAL's keys (found by numkeys, an argument) and MSET's (the second among them) do
BIG=$(head -c 70000 /dev/zero | tr '\0' v)
{
    resp SET big:1 "$BIG"
    resp SET big:2 "$BIG"
    resp GET big:1
    resp EVAL "return 1" 2 ev:a ev:b
    resp MSET big:3 "$BIG" ms:b x
} > "$TMP/big1.resp"
{
    resp SET big:4 "$BIG"
    resp MSET big:5 "$BIG" ms:c x
    resp GET big:5
} > "$TMP/big2.resp"
for b in big1 big2; do # (chunks close a second of trace time apart: two chunks)
    timeout 5 bash -c "exec 3<> /dev/tcp/127.0.0.1/$P; cat '$TMP/$b.resp' >&3; sleep 0.3" ||
        fail "$b was not sent"
    sleep 1.2
done
{
    resp CONFIG GET maxmemory
    resp CONFIG SET maxmemory 0
    resp CONFIG GET maxmemory
    resp CLIENT REPLY OFF
    resp SET nr:1 a
    resp SET nr:2 b
    resp CLIENT REPLY ON
    resp GET nr:1
    resp MGET "{u1}:a" "{u1}:b"
    resp MGET user:1 user:2 user:3
    resp GET a b
    resp FROBNICATE k
    resp PING
    resp HSET h f1 v1 f2 v2
    resp HGETALL h
    resp DEL nr:1 nr:2 h
} > "$TMP/batch.resp"
timeout 5 bash -c "exec 3<> /dev/tcp/127.0.0.1/$P; cat '$TMP/batch.resp' >&3; sleep 0.5" ||
    fail "the batch was not sent"
# answered after 70000 later requests: it waits among the long waiters of the walk's window
exec 6<> "/dev/tcp/127.0.0.1/$P"
resp BLPOP long:q 0 >&6
sleep 0.2
redis-benchmark -h 127.0.0.1 -p "$P" -n 70000 -c 2 -P 10 -t get -q > "$TMP/bench.out" 2>&1 ||
    fail "redis-benchmark: $(cat "$TMP/bench.out")"
rcli "$P" LPUSH long:q y > /dev/null
timeout 2 head -c 20 <&6 > "$TMP/long.reply" || true
check_match "the long waiter got its element" "long:q" "$(cat "$TMP/long.reply")"
exec 6>&-
exec 5<> "/dev/tcp/127.0.0.1/$P" # blocked when the capture stops: never answered
resp BLPOP late:q 0 >&5
timeout 5 bash -c "exec 3<> /dev/tcp/127.0.0.1/$P; printf 'SET bad \"unclosed\r\n' >&3; cat <&3 > /dev/null" || true
sleep 0.5
stop_recorder; check_eq "recorder exit" 0 $?
exec 5>&-
"$RT" cat "$TMP/live.rtrace" --format jsonl > "$TMP/live.jsonl" 2> "$TMP/live.cat.err"
check_eq "the live trace: one reply without a request" 1 \
    "$(jq -c 'select(.event == "reply" and .seq == null)' "$TMP/live.jsonl" | wc -l)"
check_eq "the live trace: requests that expect no reply" 3 \
    "$(jq -c 'select(.event == "request" and (.flags | index("noreply")))' "$TMP/live.jsonl" | wc -l)"

# ---- the other traces ----------------------------------------------------------------------------
"$BIN/make_zipf_trace" "$TMP/zipf.rtrace" "$TMP/zipf.json" 200000 10000 1.1 42 20 > /dev/null
check_eq "make_zipf_trace" 0 $?
"$BIN/make_shards_trace" "$TMP/shards.rtrace" "$TMP/shards.json" 60000 3000 1.0 7 0 3,6,12 > /dev/null
check_eq "make_shards_trace" 0 $?
"$BIN/make_shards_trace" "$TMP/hot.rtrace" "$TMP/hot.json" 40000 2000 0.8 11 0.2 3,6,12 > /dev/null
check_eq "make_shards_trace (hot)" 0 $?
"$BIN/make_stat_trace" "$TMP/stat.rtrace" > /dev/null; check_eq "make_stat_trace" 0 $?
"$BIN/make_edge_trace" "$TMP/edge.rtrace" > /dev/null; check_eq "make_edge_trace" 0 $?

# ---- the counts --------------------------------------------------------------------------------
# is NAME WHAT EXPECTED-JQ DOC ACTUAL-JQ: one count of one tool against the oracle's
is() {
    check_eq "$1: $2" "$(jq "$3" "$TMP/$1.expected.json")" "$(jq "$5" "$TMP/$1.$4.json")"
}
for t in "$SRC"/traces/*.rtrace "$TMP"/{zipf,shards,hot,stat,edge,live}.rtrace; do
    n=$(basename "$t" .rtrace)
    # a committed trace that this version cannot read whole (one written by a newer version,
    # kept for the reader's tests) is not this test's subject
    if ! "$RT" cat "$t" > /dev/null 2>&1; then
        echo "skipping $n: not readable to its end" >&2
        continue
    fi
    # (cat may print a request before its reply when the lines it holds grow too big: the
    # reply then has a line of its own, which the oracle pairs the same)
    "$RT" cat "$t" --format jsonl 2> "$TMP/$n.cat.err" |
        python3 "$ORACLE" "$P" > "$TMP/$n.expected.json"
    check_eq "$n: cat and the oracle" "0 0" "${PIPESTATUS[*]}"
    "$RT" stat "$t" --json > "$TMP/$n.stat.json"; check_eq "$n: stat exit" 0 $?
    "$RT" hotkeys "$t" --json > "$TMP/$n.hk.json"; check_eq "$n: hotkeys exit" 0 $?
    "$RT" hotkeys "$t" --approx --capacity 100 --json > "$TMP/$n.hka.json"
    check_eq "$n: hotkeys --approx exit" 0 $?
    "$RT" shards "$t" --shards 3 --json > "$TMP/$n.sh.json"; check_eq "$n: shards exit" 0 $?
    "$RT" prime "$t" --dry-run --json > "$TMP/$n.prime.json"; check_eq "$n: prime exit" 0 $?
    # requests, and how each tool classed them
    for d in stat hk hka sh prime; do is "$n" "$d requests" .requests "$d" .requests; done
    is "$n" "stat malformed" .malformed stat .malformed
    for d in hk hka sh prime; do is "$n" "$d malformed" .malformed "$d" .malformed_requests; done
    for d in hk hka sh; do
        is "$n" "$d keyed" .keyed "$d" .keyed_requests
        is "$n" "$d keyless" .keyless "$d" .keyless_requests
        is "$n" "$d skipped" .skipped "$d" .skipped_requests
    done
    is "$n" "prime unknown commands" .unknown prime .unknown_commands
    is "$n" "prime reads" .reads prime .read_requests
    is "$n" "prime writes" .writes prime .write_requests
    # keys
    is "$n" "stat keys" .key_ops stat .key_size.count
    is "$n" "stat keys unresolved" .unresolved stat .keys_unresolved
    is "$n" "hotkeys key operations" .key_ops hk .key_ops
    is "$n" "hotkeys --approx key operations" .key_ops hka .key_ops
    is "$n" "hotkeys distinct keys" .distinct_keys hk .distinct_keys
    is "$n" "shards distinct keys" .distinct_keys sh .distinct_keys
    is "$n" "shards cross-slot" .cross_slot sh .cross_slot_requests
    is "$n" "prime distinct keys" .prime_keys prime .distinct_keys
    # pairing
    is "$n" "stat replies" .replies stat .replies
    is "$n" "stat unpaired replies" '.unpaired + .lost' stat .unpaired_replies
    is "$n" "stat unanswered requests" .unanswered stat .unanswered_requests
    is "$n" "stat timed replies" .paired stat .latency_ns.count
    for d in hk hka; do
        is "$n" "$d request bytes" .keyed_bytes "$d" .request_bytes
        is "$n" "$d replies named: attributed or not" .named_reply_bytes "$d" \
            '.reply_bytes + .reply_bytes_unattributed'
    done
    is "$n" "hotkeys reply bytes" .keyed_reply_bytes hk .reply_bytes
    is "$n" "shards bytes" '.keyed_bytes + .keyed_reply_bytes' sh \
        '[.projections[0].shards[].bytes] | add // 0'
done

# what the live capture holds, said plainly
# (redis-benchmark sends CONFIG GETs of its own)
CGET=$(jq -c 'select(.event == "request" and (.argv[0] | ascii_upcase) == "CONFIG" and
    (.argv[1] | ascii_upcase) == "GET")' "$TMP/live.jsonl" | wc -l)
check_eq "live: CONFIG GET and CONFIG SET apart" "[{\"name\":\"config|get\",\"count\":$CGET},{\"name\":\"config|set\",\"count\":1}]" \
    "$(jq -c '[.commands[] | select(.name | startswith("config")) | {name, count}] | sort_by(.name)' "$TMP/live.stat.json")"
check_eq "live: unpaired, unanswered" "[1,1]" \
    "$(jq -c '[.unpaired_replies, .unanswered_requests]' "$TMP/live.stat.json")"
check_eq "live: BLPOP: the long waiter timed, the late one not (the early one's request is not in the trace)" "[2,1]" \
    "$(jq -c '.commands[] | select(.name == "blpop") | [.count, .latency_ns.count]' "$TMP/live.stat.json")"
check_eq "live: the wrong number of arguments leaves keys unresolved" 1 \
    "$(jq .keys_unresolved "$TMP/live.stat.json")"
check_eq "live: it and the unknown command are skipped" 2 "$(jq .skipped_requests "$TMP/live.hk.json")"
check_eq "live: cross-slot: MGET user:1..3, the DEL, the EVAL and the two MSETs, not MGET {u1}:a {u1}:b" 5 \
    "$(jq .cross_slot_requests "$TMP/live.sh.json")"
finish
