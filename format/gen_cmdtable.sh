#!/usr/bin/env bash
# gen_cmdtable.sh: regenerates the command table from a throwaway redis-server.
# Usage: gen_cmdtable.sh GEN_CMDTABLE OUT.c   (GEN_CMDTABLE: the built format/gen_cmdtable)
# Starts redis-server on 127.0.0.1 and a free port (loopback only, no persistence, a temporary
# directory), runs the generator against it and stops it. Needs redis-server and redis-cli.
set -eu
GEN=${1:?usage: $0 GEN_CMDTABLE OUT.c}
OUT=${2:?usage: $0 GEN_CMDTABLE OUT.c}
DIR=$(mktemp -d)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$DIR"
}
trap cleanup EXIT

for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
        --logfile "$DIR/redis.log" &
    PID=$!
    for _ in $(seq 1 50); do
        if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
            "$GEN" 127.0.0.1 "$port" "$OUT"
            exit $?
        fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true
    PID=""
done
echo "gen_cmdtable.sh: could not start redis-server" >&2
exit 1
