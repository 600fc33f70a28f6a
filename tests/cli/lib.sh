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

# alloc_shim: builds tests/cli/alloc_fail.c (the allocation counter and failer preloaded by
# test_oom and test_replay_alloc) as $TMP/alloc_fail.so. A sanitized build skips the test (exit
# 77): the sanitizer's allocator cannot be replaced by a preloaded one.
alloc_shim() {
    if ldd "$RT" 2> /dev/null | grep -Eq 'libasan|libubsan'; then
        echo "skipped: a sanitized build (its allocator cannot be replaced by a preloaded one)"
        exit 77
    fi
    cc -shared -fPIC -O1 -o "$TMP/alloc_fail.so" "$SRC/tests/cli/alloc_fail.c" ||
        { echo "cannot build the shim" >&2; exit 1; }
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

# ---- helpers for several servers, restarts and live recorders (test_replay*.sh) --------
RX_PIDS=""      # redis-servers started by start_redis_at / start_redis_x
BG_PIDS=""      # other background processes (recorders) to stop on exit
RX_PORTOPT=--port   # the redis-server option the port is given with (--tls-port for TLS)
RX_CLI=""       # extra redis-cli options for the readiness probe (e.g. "--tls --cacert F")
cleanup_x() {
    local p
    for p in $BG_PIDS; do kill -9 "$p" 2>/dev/null; done
    for p in $RX_PIDS; do kill -9 "$p" 2>/dev/null; done
    for p in $BG_PIDS $RX_PIDS; do wait "$p" 2>/dev/null; done
    cleanup
}
trap cleanup_x EXIT

# redis_ready PORT: 0 when a redis-server answers on 127.0.0.1:PORT (NOAUTH counts as up)
redis_ready() {
    # shellcheck disable=SC2086
    timeout 5 redis-cli $RX_CLI -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -Eq 'PONG|NOAUTH'
}

# start_redis_at PORT [redis-server args...]: starts a redis-server on 127.0.0.1:PORT (also
# to restart one on the port it had); sets RX_PID. Returns 1 when it did not come up in 5 s.
start_redis_at() {
    local port=$1
    shift
    redis-server "$RX_PORTOPT" "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$TMP" --logfile "$TMP/redis-$port.log" "$@" &
    RX_PID=$!
    RX_PIDS="$RX_PIDS $RX_PID"
    for _ in $(seq 1 50); do
        if redis_ready "$port"; then
            # the server answering must be this one, not another test's that took the port a
            # moment before (tests run in parallel): its process id, or (NOAUTH) it still runs
            local pid
            # shellcheck disable=SC2086
            pid=$(timeout 5 redis-cli $RX_CLI -h 127.0.0.1 -p "$port" INFO server 2>/dev/null |
                  tr -d '\r' | awk -F: '/^process_id:/ {print $2}')
            if [ -z "$pid" ]; then sleep 0.2; kill -0 "$RX_PID" 2>/dev/null && return 0; break; fi
            [ "$pid" = "$RX_PID" ] && return 0
            break
        fi
        kill -0 "$RX_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$RX_PID" 2>/dev/null; wait "$RX_PID" 2>/dev/null
    return 1
}

# start_redis_x [redis-server args...]: another redis-server on a free port; sets RX_PORT and
# RX_PID (stopped on exit). Exits the test when none starts.
start_redis_x() {
    local port
    for _ in $(seq 1 30); do
        port=$((20000 + RANDOM % 40000))
        redis_ready "$port" && continue
        if start_redis_at "$port" "$@"; then RX_PORT=$port; return 0; fi
    done
    echo "could not start redis-server" >&2
    exit 1
}

# rcli PORT ARGS...: redis-cli to 127.0.0.1:PORT, carriage returns removed
rcli() {
    local port=$1
    shift
    redis-cli -h 127.0.0.1 -p "$port" "$@" | tr -d '\r'
}

# make_pki DIR: a test PKI made with openssl in DIR: two CAs (ca, other) and, signed by ca,
# "server" for IP 127.0.0.1, "named" for the host name redis.test only, "client" (client and
# server use); each NAME.pem with its NAME.key
make_pki() {
    local d=$1 n
    mkdir -p "$d"
    for n in ca other; do
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/$n.key" -out "$d/$n.pem" -days 2 \
            -subj "/CN=resptrace test $n" 2> /dev/null
    done
    # NAME SAN EKU
    set -- server IP:127.0.0.1 serverAuth named DNS:redis.test serverAuth \
        client DNS:client serverAuth,clientAuth
    while [ $# -ge 3 ]; do
        openssl req -newkey rsa:2048 -nodes -keyout "$d/$1.key" -out "$d/$1.csr" -subj "/CN=$1" 2> /dev/null
        printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' \
            "$2" "$3" > "$d/$1.ext"
        openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
            -out "$d/$1.pem" -days 2 -extfile "$d/$1.ext" 2> /dev/null
        shift 3
    done
}

# commands_counted CLI: the commands a server counted since CONFIG RESETSTAT (INFO
# commandstats), other than the reset, INFO and the one AUTH of this check's own, asked through
# the shell function CLI (a redis-cli with the server's TLS options and password); "no answer"
# when it cannot ask, so that a silent server fails the check
commands_counted() {
    local st
    st=$("$1" INFO commandstats)
    [ -n "$st" ] || { echo "no answer"; return; }
    printf '%s\n' "$st" | awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" && $1 != "cmdstat_config|resetstat" {
        n = $3; if ($1 == "cmdstat_auth") n -= 1; s += n } END { print s + 0 }'
}

# start_recorder PORT FILE [record args...]: a live `record -i lo -p PORT -w FILE` in the
# background, bounded to 120 s; returns once the trace exists (capture active). Sets REC_PID.
start_recorder() {
    local port=$1 file=$2
    shift 2
    # (a retried attempt reuses its file name: the old file would pass the readiness check below
    # before this recorder has its capture open, and the start of the traffic would be lost)
    rm -f "$file"
    timeout -s KILL 120 "$RT" record -q -i lo -p "$port" -w "$file" "$@" \
        > "$file.out" 2> "$file.err" &
    REC_PID=$!
    BG_PIDS="$BG_PIDS $REC_PID"
    for _ in $(seq 1 100); do [ -s "$file" ] && break; sleep 0.1; done
    sleep 0.2
    [ -s "$file" ]
}

# stop_recorder: SIGINT to the recorder started last; returns its exit status
stop_recorder() {
    sleep 0.5
    kill -INT "$REC_PID"
    wait "$REC_PID"
}

# jnum FILE JQ-EXPR: a number from a JSON file (integral values printed without ".0")
jnum() { jq -r "($2) as \$v | if (\$v|type)==\"number\" and \$v==(\$v|floor) then (\$v|floor) else \$v end" "$1" 2>/dev/null; }

# chunk_encodings TRACE: the encoding byte of every chunk header, walking the blocks (FORMAT.md)
chunk_encodings() {
    python3 - "$1" << 'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
off, out = 0, []
while off + 8 <= len(b):
    magic, size = struct.unpack_from("<II", b, off)
    if magic != 0x184D2A5A:
        sys.exit("no block at %d" % off)
    c = b[off + 8:off + 8 + size]
    off += 8 + size
    if c[0] == 3:
        out.append(str(c[1]))
        off += struct.unpack_from("<I", c, 40)[0]
print(" ".join(sorted(set(out))))
PY
}
