# lib.sh: helpers for the CLI tests (sourced). Usage of a test: test_x.sh RESPTRACE SRCDIR
set -u
RT=${1:?usage: $0 RESPTRACE SRCDIR}
SRC=${2:?usage: $0 RESPTRACE SRCDIR}
TMP=$(mktemp -d)
FAILS=0
CHECKS=0
REDIS_PID=""
cleanup() {
    if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() { CHECKS=$((CHECKS + 1)); }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL: $*" >&2; }

# check DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok; else fail "$1: expected [$2], got [$3]"; fi
}
# check_match DESCRIPTION REGEX TEXT
check_match() {
    if printf '%s' "$3" | grep -Eq -- "$2"; then ok; else fail "$1: [$3] does not match /$2/"; fi
}
# check_files DESCRIPTION EXPECTED_FILE ACTUAL_FILE
check_files() {
    if cmp -s "$2" "$3"; then ok; else fail "$1: $3 differs from $2"; diff "$2" "$3" | head -20 >&2; fi
}

# Starts redis-server on 127.0.0.1 and a free port; sets REDIS_PORT.
start_redis() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$TMP" --logfile "$TMP/redis-$port.log" &
        REDIS_PID=$!
        for _ in $(seq 1 50); do
            if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
                REDIS_PORT=$port
                return 0
            fi
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null
        REDIS_PID=""
    done
    echo "could not start redis-server" >&2
    exit 1
}

finish() {
    echo "$((CHECKS - FAILS)) passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit $?
}
