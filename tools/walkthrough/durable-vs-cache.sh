#!/usr/bin/env bash
# durable-vs-cache.sh: the service decision on local servers, end to end (README "The decision
# in numbers"). One trace, two candidates on 127.0.0.1:
#   durable  a durable-log-like target: appendonly yes, appendfsync always (every write on disk
#            before its reply, as a transaction log does), and a replica that every tracked
#            write waits for (--wait-replicas 1: acknowledged once a second copy has it);
#   cache    a cache-first target: no persistence, no replica.
# For each: a capacity sweep (--sweep, one SLO) and a failover drill: the replay at speed 1
# with --verify-writes and --read-through while the node is killed (SIGKILL) 2 s in and
# restarted on its port (the durable one reloads its log; the cache comes back empty). Then
# `resptrace report` with an example prices file prints the decision table: write and read p99,
# headroom at the SLO, acknowledged writes lost, the miss storm and the warm-up time, the monthly
# cost and the cost per 1,000 ops/s served within the SLO. The prices are an example, not quotes.
#
# Usage: tools/walkthrough/durable-vs-cache.sh RESPTRACE [TRACE] [WORKDIR]
#   TRACE    default traces/sample-cache.rtrace (4 s; the drills kill the node 2 s in)
#   WORKDIR  where the runs, the report (decision.html) and the servers' files go (a new
#            temporary directory by default; kept)
set -euo pipefail
RT=${1:?usage: $0 RESPTRACE [TRACE] [WORKDIR]}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
TRACE=${2:-$HERE/traces/sample-cache.rtrace}
WORK=${3:-$(mktemp -d /tmp/resptrace-decision.XXXXXX)}
mkdir -p "$WORK"
KILL_AT=2
SLO='p99<10ms'
PIDS=()
say() { printf '== %s\n' "$*" >&2; }
stop_all() { for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done; }
trap stop_all EXIT

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        redis-cli -h 127.0.0.1 -p "$p" ping > /dev/null 2>&1 || { echo "$p"; return; }
    done
}
# server NAME PORT [redis-server args]: starts one (its files in WORK/NAME); sets SPID
server() {
    local name=$1 port=$2
    shift 2
    mkdir -p "$WORK/$name"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --dir "$WORK/$name" \
        --logfile "$WORK/$name/redis.log" "$@" &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 1 50); do
        redis-cli -h 127.0.0.1 -p "$port" ping 2> /dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    echo "redis-server $name did not start (see $WORK/$name/redis.log)" >&2
    exit 1
}

DP=$(free_port)
DARGS=(--appendonly yes --appendfsync always)
server durable "$DP" "${DARGS[@]}"; DPID=$SPID
DR=$(free_port)
server durable-replica "$DR" --replicaof 127.0.0.1 "$DP"
CP=$(free_port)
CARGS=(--appendonly no)
server cache "$CP" "${CARGS[@]}"; CPID=$SPID
# settle: the replica's first full sync (a fork and a transfer) is not the candidate's latency
settle() {
    for _ in $(seq 1 100); do
        [ "$(redis-cli -p "$DP" WAIT 1 100 2> /dev/null)" = 1 ] && break
        sleep 0.1
    done
    sleep 1
}
settle
say "durable: 127.0.0.1:$DP (appendfsync always) + replica :$DR; cache: 127.0.0.1:$CP"

# ---- capacity: one sweep each, same SLO ------------------------------------------------------
say "capacity sweeps ($SLO)"
"$RT" replay "$TRACE" --target "redis://127.0.0.1:$DP" --label durable --verify-writes \
    --wait-replicas 1 --sweep 1,2,4,8,16 --slo "$SLO" --json="$WORK/durable-sweep.json" \
    > "$WORK/durable-sweep.out" 2>&1 || true
grep -E 'serves|does not hold' "$WORK/durable-sweep.out" >&2 || true
"$RT" replay "$TRACE" --target "redis://127.0.0.1:$CP" --label cache --verify-writes \
    --sweep 1,2,4,8,16 --slo "$SLO" --json="$WORK/cache-sweep.json" \
    > "$WORK/cache-sweep.out" 2>&1 || true
grep -E 'serves|does not hold' "$WORK/cache-sweep.out" >&2 || true

# ---- the failover drill: killed 3 s in, restarted on its port -----------------------------------
# drill NAME PORT PID [replay args] -- [redis-server args]
drill() {
    local name=$1 port=$2 pid=$3
    shift 3
    local rargs=() sargs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do rargs+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    sargs=("$@")
    redis-cli -p "$port" FLUSHALL > /dev/null
    "$RT" prime "$TRACE" --target "redis://127.0.0.1:$port" -q > /dev/null 2>&1 || true
    sleep 0.5
    (
        sleep "$KILL_AT"
        kill -9 "$pid"
        sleep 0.2
        server "$name" "$port" "${sargs[@]}"
        echo "$SPID" > "$WORK/$name.pid2"
    ) &
    local killer=$!
    "$RT" replay "$TRACE" --target "redis://127.0.0.1:$port" --label "$name" \
        --verify-writes --read-through "${rargs[@]}" --json="$WORK/$name-drill.json" \
        > "$WORK/$name-drill.out" 2>&1 || true
    wait "$killer"
    PIDS+=("$(cat "$WORK/$name.pid2")")
    [ "$name" = durable ] && settle
    grep -E '^disruption|^  misses|^verify-writes' "$WORK/$name-drill.out" >&2 || true
}
say "failover drill: durable (killed $KILL_AT s in, restarted from its log)"
drill durable "$DP" "$DPID" --wait-replicas 1 -- "${DARGS[@]}"
say "failover drill: cache (killed $KILL_AT s in, restarted empty)"
drill cache "$CP" "$CPID" -- "${CARGS[@]}"

# ---- the decision ----------------------------------------------------------------------------------
cat > "$WORK/prices.json" << 'EOF'
{"currency": "USD",
 "comment": "an example for the walk-through, not quotes: put your own",
 "runs": {"durable": {"nodes": 2, "price_per_node_hour": 0.309},
          "cache": {"nodes": 2, "price_per_node_hour": 0.206}}}
EOF
say "report: $WORK/decision.html"
# (each candidate's sweep first: its latency rows come from normal operation, not the drill)
"$RT" report "$TRACE" "$WORK/durable-sweep.json" "$WORK/durable-drill.json" \
    "$WORK/cache-sweep.json" "$WORK/cache-drill.json" --prices "$WORK/prices.json" \
    -o "$WORK/decision.html" --json="$WORK/decision.json" -q
jq -r '
  def cell($v; $k): if $v == null then "-"
    elif $k == "us" then (($v / 1000 * 1000 | round) / 1000 | tostring) + " ms"
    elif $k == "speed" then (($v * 10 | round) / 10 | tostring) + "x"
    elif $k == "s" then (($v * 10 | round) / 10 | tostring) + " s"
    elif $k == "money" then "USD " + (($v * 100 | round) / 100 | tostring)
    else ($v * 10 | round / 10 | tostring) end;
  .decision_columns as $c
  | (["", $c[]] | @tsv),
    (.decision[] | . as $r | [$r.title, ($r.values | to_entries[] | cell(.value; $r.kind))] | @tsv)
' "$WORK/decision.json" | column -t -s $'\t'
echo "(runs, report and servers' files in $WORK)"
