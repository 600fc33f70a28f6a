#!/usr/bin/env bash
# make-samples.sh: records the sample traces of traces/ from real clients (redis-cli and
# redis-benchmark) talking to a throwaway redis-server on a free loopback port, with a live
# `resptrace record -i lo` per workload. Run it as root (live capture), from the repository:
#   traces/make-samples.sh [RESPTRACE] [OUTDIR]     (defaults: ./build/resptrace, traces/)
# Each workload starts on an empty server (FLUSHALL before its recorder starts), so each
# trace replays into a fresh server as it ran.
set -euo pipefail
rt=$(realpath "${1:-./build/resptrace}")
out=$(realpath "${2:-"$(dirname "$0")"}")
tmp=$(mktemp -d)
port=""
redis_pid=""
rec_pid=""
cleanup() {
    [ -n "$rec_pid" ] && kill "$rec_pid" 2>/dev/null || true
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    redis-cli -p "$p" ping >/dev/null 2>&1 && continue
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
        --logfile "$tmp/redis.log" &
    redis_pid=$!
    for _ in $(seq 1 50); do
        if redis-cli -p "$p" ping 2>/dev/null | grep -q PONG; then
            port=$p
            break 2
        fi
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
done
[ -n "$port" ] || { echo "no free port for redis-server" >&2; exit 1; }

cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
bench() { redis-benchmark -h 127.0.0.1 -p "$port" -q "$@" >/dev/null; }

# record NAME FUNCTION: runs the workload FUNCTION under a live recorder into NAME.rtrace
record() {
    local name=$1 fn=$2 f="$tmp/$1.rtrace"
    cli FLUSHALL >/dev/null
    "$rt" record -q -i lo -p "$port" -w "$f" >"$tmp/$name.rec" 2>&1 &
    rec_pid=$!
    for _ in $(seq 1 100); do [ -s "$f" ] && break; sleep 0.1; done
    sleep 0.3
    "$fn"
    sleep 0.5
    kill -INT "$rec_pid"
    wait "$rec_pid"
    rec_pid=""
    cp "$f" "$out/$name.rtrace"
    chmod 0644 "$out/$name.rtrace"
    echo "wrote $out/$name.rtrace ($(stat -c %s "$out/$name.rtrace") bytes," \
        "$("$rt" info --json "$f" | jq .requests) requests)"
}

# a cache: writers SET items with a TTL (SET EX, SETEX) while readers GET a key range twice
# as large (about half the GETs miss); a few DELs and TTL checks
cache() {
    bench -c 2 -n 1500 -r 1000 SET cache:item:__rand_int__ v:__rand_int__:payload EX 300 &
    local w=$!
    bench -c 4 -n 3000 -r 2000 GET cache:item:__rand_int__ &
    local g=$!
    bench -c 1 -n 300 -r 1000 SETEX cache:page:__rand_int__ 60 "<html>page __rand_int__</html>"
    bench -c 1 -n 300 -r 2000 GET cache:page:__rand_int__
    wait "$w" "$g"
    bench -c 1 -n 200 -r 1000 DEL cache:item:__rand_int__
    bench -c 1 -n 200 -r 1000 TTL cache:item:__rand_int__
}

# a session store: one redis-cli connection per session login (HSET of the session's fields,
# EXPIRE, HGETALL), then page views (HINCRBY + EXPIRE to slide the TTL) and reads of random
# sessions (some gone) from redis-benchmark
session() {
    local s
    for s in $(seq 1 60); do
        printf 'HSET session:%s user user%s cart 0 lang en created %s\nEXPIRE session:%s 1800\nHGETALL session:%s\n' \
            "$s" "$((s * 7))" "$((1700000000 + s))" "$s" "$s" | cli >/dev/null
    done
    bench -c 3 -n 1500 -r 60 HINCRBY session:__rand_int__ views 1 &
    local v=$!
    bench -c 3 -n 1500 -r 80 HGETALL session:__rand_int__
    wait "$v"
    bench -c 2 -n 600 -r 60 EXPIRE session:__rand_int__ 1800
    for s in $(seq 1 10); do cli DEL "session:$s" >/dev/null; done
}

# a queue: producers LPUSH jobs while consumers wait in BRPOP (1 s timeout) on the same list,
# started first so they block; then a few BLPOPs that block until a producer pushes
queue() {
    bench -c 2 -n 1200 BRPOP queue:jobs 1 &
    local c=$!
    sleep 0.3
    bench -c 2 -n 1200 -r 100000 LPUSH queue:jobs job:__rand_int__
    wait "$c"
    local i pids=""
    for i in 1 2 3 4 5; do
        cli BLPOP queue:urgent 5 >/dev/null &
        pids="$pids $!"
    done
    sleep 0.3
    for i in 1 2 3 4 5; do
        cli LPUSH queue:urgent "urgent-$i" >/dev/null
        sleep 0.05
    done
    # shellcheck disable=SC2086
    wait $pids
    cli LLEN queue:jobs >/dev/null
}

# a leaderboard: players' scores added and raised (ZADD, ZINCRBY) while readers fetch the top
# 10 with scores (ZREVRANGE WITHSCORES) and players' ranks (ZREVRANK, ZSCORE)
leaderboard() {
    bench -c 2 -n 1000 -r 500 ZADD lb:global __rand_int__ player:__rand_int__
    bench -c 2 -n 2000 -r 500 ZINCRBY lb:global 7 player:__rand_int__ &
    local z=$!
    bench -c 2 -n 1000 ZREVRANGE lb:global 0 9 WITHSCORES &
    local r=$!
    bench -c 1 -n 500 -r 500 ZREVRANK lb:global player:__rand_int__
    bench -c 1 -n 500 -r 500 ZSCORE lb:global player:__rand_int__
    wait "$z" "$r"
    cli ZCARD lb:global >/dev/null
}

record sample-cache-live cache
record sample-session session
record sample-queue queue
record sample-leaderboard leaderboard
echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$port"
