#!/usr/bin/env bash
# make-sample-pcap.sh: captures real client traffic to a redis-server on loopback into
# traces/sample-clients.pcap (tcpdump on lo; redis-benchmark and redis-cli as the clients).
# Run it as root (tcpdump). It starts its own redis-server on a free port and stops it.
set -euo pipefail
out=${1:-"$(dirname "$0")/sample-clients.pcap"}
tmp=$(mktemp -d)
pass=sample-secret
port=""
cleanup() {
    [ -n "${tcpdump_pid:-}" ] && kill "$tcpdump_pid" 2>/dev/null || true
    [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
        --requirepass "$pass" --logfile "$tmp/redis.log" &
    redis_pid=$!
    for _ in $(seq 1 50); do
        if redis-cli -p "$p" -a "$pass" --no-auth-warning ping 2>/dev/null | grep -q PONG; then
            port=$p
            break 2
        fi
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
done
[ -n "$port" ] || { echo "no free port for redis-server" >&2; exit 1; }

tcpdump -i lo -U -B 65536 -s 0 -w "$tmp/cap.pcap" "tcp port $port" 2>"$tmp/tcpdump.log" &
tcpdump_pid=$!
sleep 1

cli() { redis-cli -p "$port" -a "$pass" --no-auth-warning "$@"; }
# a cache-like mix from 4 connections, then the same pipelined 16 deep
redis-benchmark -p "$port" -a "$pass" -c 4 -n 1000 -r 500 -d 64 -t set,get,incr,hset,lpush -q >/dev/null
redis-benchmark -p "$port" -a "$pass" -c 2 -n 1000 -r 500 -d 64 -P 16 -t set,get -q >/dev/null
# RESP3 through HELLO 3 (with AUTH inside it), a transaction, a blocking pop, db switching
cli -3 HGETALL myhash >/dev/null
printf 'MULTI\nINCR counter\nINCR counter\nEXEC\nSELECT 2\nSET in:db2 x\nBLPOP nothing 0.1\nGET in:db2\n' | cli >/dev/null
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
tcpdump_pid=""
cp "$tmp/cap.pcap" "$out"
chmod 0644 "$out"
echo "wrote $out ($(stat -c %s "$out") bytes) from redis-server on 127.0.0.1:$port; $(tail -1 "$tmp/tcpdump.log")"
