#!/usr/bin/env bash
# bench_replay.sh: the replayer's benchmark: `resptrace replay --speed max` of a recorded
# redis-benchmark run against redis-benchmark itself (same server build, same machine, same
# run), the replay's op count against the trace, and the replayer's peak RSS on a 10-million
# request trace.
#
# Usage:  tests/bench/bench_replay.sh [RESPTRACE]
#   RESPTRACE  the resptrace binary (default ./build/resptrace); the script does not build it and
#              does not need CMake. The trace generator (tests/bench/make_big_trace.c) is taken
#              from the build directory beside RESPTRACE when it was built there, else compiled
#              with gcc from the sources into the work directory.
# Environment (all optional):
#   RT_BENCH_DIR          work directory (default /tmp/rt-bench); the big trace is kept there and
#                         reused by later runs (delete it to remake it)
#   RT_BENCH_REPLAY_N     requests per redis-benchmark test (-n; default 500000, 2 tests)
#   RT_BENCH_REPLAY_RUNS  redis-benchmark and replay, taking turns, this many times each (3)
#   RT_BENCH_BIG_N        requests of the memory benchmark's trace (default 10000000)
#   RT_BENCH_LIVE=1       record with `resptrace record -i lo` instead of tcpdump + `record -r`
#   RT_BENCH_NO_MEM=1     skip the memory part
#   RT_BENCH_NO_PERF=1    do not profile the replay (perf record -e cpu-clock -g) when it is
#                         slower than redis-benchmark
#   RT_BENCH_NO_MEMTIER=1 skip the memtier_benchmark comparison
#   RT_BENCH_NO_PIPE=1    skip the pipelined comparison (2c)
#   RT_BENCH_PIPE_N       requests per redis-benchmark -P 16 test (-n; default 1000000, 2 tests)
#   RT_BENCH_PIPE_PIN     the cores of the pipelined comparison: "SERVER,CLIENT" (default 0,1;
#                         "none" leaves them to the scheduler)
#   RT_BENCH_PIPE_KEYS    keys of the pipelined workload (-r; default 100000). 10 makes it a
#                         hot-key workload: hundreds of requests in flight on each key, which
#                         the order (--sync keys) must keep track of
#   MEMTIER               a memtier_benchmark binary; else one in PATH, else one built from
#                         MEMTIER_SRC (a local clone of github.com/RedisLabs/memtier_benchmark)
#                         or a clone of it, in the work directory (autoconf, automake, g++,
#                         libevent-dev, libssl-dev, zlib1g-dev: installed with apt-get when
#                         missing). Its code is never part of this repository.
#
# Needs root (or CAP_NET_RAW) for the capture, and redis-server, redis-benchmark, redis-cli,
# tcpdump, jq, GNU time (/usr/bin/time; installed with apt-get when missing). Everything listens
# on and is captured from 127.0.0.1 only. The machine is shared and noisy: only ratios measured
# in one run mean anything, never absolute figures from different runs.
#
# What it does:
#  1. record: redis-server R1 on a free 127.0.0.1 port; `tcpdump -i lo -B 262144` of its port
#     while `redis-benchmark -c 50 -n N -r 100000 -d 100 -t set,get --csv` runs (its throughput
#     under capture is printed), then `resptrace record -r` of the capture; retried (up to 3
#     times) until tcpdump dropped nothing and the trace holds every command the server counted
#     (INFO commandstats).
#  2. throughput: RUNS times, taking turns, each against a fresh redis-server R2: (a) the same
#     redis-benchmark command; (b) `resptrace replay TRACE --speed max --target ... --json` with
#     the recorded connections (the default). redis-benchmark's throughput is its total requests
#     over the sum of its per-test times (n/rps), the replay's is ops_per_s of its JSON. Medians
#     and their ratio (target replay/redis-benchmark >= 1.0); every replay must answer exactly
#     the trace's requests minus the skipped ones. CPU time (user+sys) of both is printed too.
#     When the replay is slower, a `perf record -e cpu-clock -g` of one more replay prints its
#     top functions.
#  2b. memtier: RUNS times, taking turns, each against a fresh server: memtier_benchmark's own
#     trace replay (`--monitor-input` of a MONITOR log captured with the trace, every command
#     once, sequentially, 50 connections) and `resptrace replay --speed max` of the trace: ops/s
#     and CPU per request (user+sys of the client over the requests); then system calls per
#     request of each (`strace -c -f` of one more run each).
#  2c. pipelined: a redis-benchmark run with -P 16 (50 clients, SET/GET, RT_BENCH_PIPE_N each)
#     recorded, then RUNS times taking turns, each against a fresh server: redis-benchmark with
#     the same parameters and the trace replayed --speed max (same connections and pipelining):
#     ops/s and CPU per request (targets: replay >= 1x the ops/s, <= 1x the CPU per request);
#     and in each round the replay with --sync off too, and the user time per request of all
#     three (info: what the order across connections costs where the client's work shows);
#     and the server's own CPU per call (INFO cpu) and reads per call (INFO stats) during each
#     client's run (info: whether the server is the busier side, so that ops/s follows its
#     cost, and whether both clients hand it requests in batches of the same size), and how
#     busy the server was (its CPU seconds over the client's wall time: near 1, the server was
#     the limit under that client). The server is pinned to one core and each client to the
#     other (RT_BENCH_PIPE_PIN), as a load generator runs on its own host and the server on
#     another; both clients get the same cores. Left to the scheduler, a pair also measures
#     where it put the processes and threads (12 pairs in two spells, taking turns with 12
#     pinned ones: median 0.96 unpinned, 1.02 pinned; the run pairs spread as widely).
#  3. memory and the order's cost: a synthetic trace of 1M requests where no key is shared
#     between connections replayed --sync keys and --sync off taking turns (target: keys at
#     least 0.95x off's ops/s); then a synthetic trace of RT_BENCH_BIG_N requests (make_big_trace: 50 connections,
#     SET/GET 1:1, 100-byte values, replies paired) replayed --speed max against a fresh server
#     under /usr/bin/time -v: peak RSS (target < 64 MiB).
set -euo pipefail
export LC_ALL=C

RT=${1:-./build/resptrace}
WORK=${RT_BENCH_DIR:-/tmp/rt-bench}
N=${RT_BENCH_REPLAY_N:-500000}
RUNS=${RT_BENCH_REPLAY_RUNS:-3}
BIG_N=${RT_BENCH_BIG_N:-10000000}
CLIENTS=50
RB_ARGS=(-c "$CLIENTS" -n "$N" -r 100000 -d 100 -t "set,get")

# The targets the replayer is held to.
TARGET_RATIO=1.0  # replay --speed max ops/s at least redis-benchmark's
TARGET_RSS_MIB=64 # peak RSS replaying BIG_N requests below this

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

die() { echo "bench_replay: $*" >&2; exit 2; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -x "$RT" ] || die "no resptrace binary at $RT (build it, or pass its path as the first argument)"
RT=$(realpath "$RT")
for t in redis-server redis-benchmark redis-cli tcpdump jq awk ss; do
    command -v "$t" > /dev/null || die "$t is missing"
done
if [ ! -x /usr/bin/time ]; then
    log "installing GNU time (apt-get install time)"
    { apt-get install -y -q time > /dev/null 2>&1 || { apt-get update -q > /dev/null 2>&1 &&
        apt-get install -y -q time > /dev/null 2>&1; }; } || die "/usr/bin/time is missing and could not be installed"
fi
[ "$(id -u)" -eq 0 ] || log "warning: not root: the capture needs CAP_NET_RAW"
mkdir -p "$WORK"
WORK=$(realpath "$WORK")
RUN=$WORK/replay-run # scratch of this run, removed on exit
rm -rf "$RUN"
mkdir -p "$RUN"

# --- processes this script starts, stopped on any exit
declare -A REDIS_PIDS=()
SRV_PIN=() CLI_PIN=() # taskset prefixes of the server and the client (2c only)
CAP_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CAP_PID" ]; then kill -INT "$CAP_PID" 2> /dev/null || true; wait "$CAP_PID" 2> /dev/null || true; fi
    for p in "${!REDIS_PIDS[@]}"; do
        kill "${REDIS_PIDS[$p]}" 2> /dev/null || true
        wait "${REDIS_PIDS[$p]}" 2> /dev/null || true
    done
    rm -rf "$RUN"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_redis VAR: a fresh redis-server on a free 127.0.0.1 port; its port goes to $VAR
start_redis() {
    local var=$1 port pid
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ss -Htln "sport = :$port" 2> /dev/null | grep -q .; then continue; fi
        "${SRV_PIN[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$RUN" --logfile "$RUN/redis-$port.log" &
        pid=$!
        for _ in $(seq 1 50); do
            if redis-cli -h 127.0.0.1 -p "$port" ping 2> /dev/null | grep -q PONG; then
                REDIS_PIDS[$port]=$pid
                printf -v "$var" '%s' "$port"
                return 0
            fi
            kill -0 "$pid" 2> /dev/null || break
            sleep 0.1
        done
        kill "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    die "could not start redis-server on a free port"
}

stop_redis() {
    local port=$1
    [ -n "${REDIS_PIDS[$port]:-}" ] || return 0
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave > /dev/null 2>&1 || true
    wait "${REDIS_PIDS[$port]}" 2> /dev/null || true
    unset "REDIS_PIDS[$port]"
    rm -f "$RUN/redis-$port.log"
}

# wait_stable FILE: until FILE has not grown for 2.5 s (at most 30 s). libpcap hands packets
# over in ring blocks, a partly filled block only after its 1 s timeout
wait_stable() {
    local prev=-1 size same=0
    for _ in $(seq 1 60); do
        size=$(stat -c %s "$1" 2> /dev/null || echo 0)
        if [ "$size" = "$prev" ]; then
            same=$((same + 1))
            [ "$same" -lt 5 ] || return 0
        else
            same=0
        fi
        prev=$size
        sleep 0.5
    done
}

# server_calls PORT: the sum of calls over INFO commandstats, less this script's PING and INFO
server_calls() {
    redis-cli -h 127.0.0.1 -p "$1" info commandstats |
        awk -F'[=,:]' '/^cmdstat_/ && !/^cmdstat_(ping|info):/ { for (i = 1; i < NF; i++) if ($i == "calls") s += $(i + 1) } END { print s + 0 }'
}

# rb_rps CSV: redis-benchmark's throughput over all its tests: sum n / sum (n / rps)
rb_rps() {
    awk -F'"' -v n="$N" 'NR > 1 && $4 > 0 { t += n / $4; k += n } END { if (t > 0) printf "%.0f\n", k / t; else print 0 }' "$1"
}

# server_cpu PORT: the server's own CPU seconds so far (INFO cpu: used_cpu_user + used_cpu_sys)
server_cpu() {
    redis-cli -h 127.0.0.1 -p "$1" info cpu | tr -d '\r' |
        awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.6f\n", s }'
}

# server_reads PORT: the reads from client sockets the server has made (INFO stats)
server_reads() {
    redis-cli -h 127.0.0.1 -p "$1" info stats | tr -d '\r' |
        awk -F: '/^total_reads_processed:/ { print $2 + 0 }'
}

# server_cost PORT CPU0: "US RD": the server's CPU per call since CPU0 (server_cpu before the
# run) in microseconds and its reads per call, both from its own counters
server_cost() {
    local calls cpu1 reads
    calls=$(server_calls "$1")
    cpu1=$(server_cpu "$1")
    reads=$(server_reads "$1")
    awk -v a="$2" -v b="$cpu1" -v r="$reads" -v n="$calls" \
        'BEGIN { if (n > 0) printf "%.2f %.4f\n", (b - a) * 1e6 / n, r / n; else print "0 0" }'
}

# server_busy PORT CPU0 TIMEFILE: the server's CPU seconds since CPU0 over the client's wall
# time (the third field of a `/usr/bin/time -f "%U %S %e"` file): near 1, the server was busy
# all the time the client ran, and the limit
server_busy() {
    tail -1 "$3" | awk -v a="$2" -v b="$(server_cpu "$1")" '{ if ($3 > 0) printf "%.2f\n", (b - a) / $3; else print 0 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# median_of VALUE...: the median of the arguments
median_of() { printf '%s\n' "$@" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "inf" }'; }
num() { awk -v v="$1" 'BEGIN { printf "%.0f\n", v }'; }
# cpu seconds (user+sys) from a `/usr/bin/time -f "%U %S"` file's last line
cpu_of() { tail -1 "$1" | awk '{ printf "%.2f\n", $1 + $2 }'; }

# =====================================================================================
# 0. memtier_benchmark, the anchor of 2b: found, or built in the work directory
# =====================================================================================
MEMTIER_BIN="" MEMTIER_WHY=""
find_memtier() {
    if [ -n "${MEMTIER:-}" ]; then
        [ -x "$MEMTIER" ] && { MEMTIER_BIN=$MEMTIER; return 0; }
        MEMTIER_WHY="MEMTIER=$MEMTIER is not executable"
        return 1
    fi
    if command -v memtier_benchmark > /dev/null; then MEMTIER_BIN=$(command -v memtier_benchmark); return 0; fi
    local dir=$WORK/memtier
    if [ -x "$dir/memtier_benchmark" ]; then MEMTIER_BIN=$dir/memtier_benchmark; return 0; fi
    local pkgs=() p
    for p in autoconf automake libtool pkg-config g++ libevent-dev libssl-dev zlib1g-dev; do
        dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || pkgs+=("$p")
    done
    if [ ${#pkgs[@]} -gt 0 ]; then
        log "installing memtier's build dependencies: ${pkgs[*]}"
        { apt-get install -y -q "${pkgs[@]}" > "$WORK/memtier-apt.log" 2>&1 ||
            { apt-get update -q > /dev/null 2>&1 && apt-get install -y -q "${pkgs[@]}" > "$WORK/memtier-apt.log" 2>&1; }; } ||
            { MEMTIER_WHY="its build dependencies (${pkgs[*]}) could not be installed"; return 1; }
    fi
    rm -rf "$dir"
    local src=${MEMTIER_SRC:-https://github.com/RedisLabs/memtier_benchmark}
    log "building memtier_benchmark from $src in $dir"
    git clone -q --depth 1 "$src" "$dir" > "$WORK/memtier-build.log" 2>&1 ||
        { MEMTIER_WHY="its source could not be had ($src: $(tail -1 "$WORK/memtier-build.log"))"; return 1; }
    (cd "$dir" && autoreconf -ivf && ./configure && make -j"$(nproc)") >> "$WORK/memtier-build.log" 2>&1 ||
        { MEMTIER_WHY="it did not build (see $WORK/memtier-build.log)"; return 1; }
    MEMTIER_BIN=$dir/memtier_benchmark
}
if [ "${RT_BENCH_NO_MEMTIER:-0}" = 1 ]; then
    MEMTIER_WHY="RT_BENCH_NO_MEMTIER=1"
else
    find_memtier || log "memtier_benchmark: $MEMTIER_WHY: the memtier comparison is skipped"
fi

# =====================================================================================
# 1. Record a redis-benchmark run
# =====================================================================================
TRACE=$RUN/rb.rtrace
REC_OK=0
for try in 1 2 3; do
    start_redis P1
    log "record, try $try: redis-server R1 on 127.0.0.1:$P1, redis-benchmark ${RB_ARGS[*]}"
    rm -f "$TRACE" "$RUN/cap.pcap"
    if [ "${RT_BENCH_LIVE:-0}" = 1 ]; then
        "$RT" record -i lo -p "$P1" -B 256 -w "$TRACE" -q > "$RUN/rec.out" 2> "$RUN/rec.err" &
        CAP_PID=$!
        sleep 1.5 # no readiness signal: give libpcap time to open
    else
        tcpdump -i lo -B 262144 -s 0 -U -w "$RUN/cap.pcap" "tcp port $P1" 2> "$RUN/cap.err" &
        CAP_PID=$!
        for _ in $(seq 1 100); do grep -q "listening on" "$RUN/cap.err" 2> /dev/null && break; sleep 0.05; done
        sleep 0.2
    fi
    # memtier's trace replay reads a MONITOR log: one is captured with the trace (its first
    # line, "OK", is not a command; memtier skips it)
    MON_PID=""
    if [ -n "$MEMTIER_BIN" ]; then
        redis-cli -h 127.0.0.1 -p "$P1" monitor > "$RUN/mon.txt" 2> /dev/null &
        MON_PID=$!
        sleep 0.3
    fi
    redis-benchmark -h 127.0.0.1 -p "$P1" "${RB_ARGS[@]}" --csv > "$RUN/rb-rec.csv"
    if [ -n "$MON_PID" ]; then sleep 0.5; kill "$MON_PID" 2> /dev/null || true; wait "$MON_PID" 2> /dev/null || true; fi
    # SIGINT makes tcpdump drop what is still in its ring buffer: with -U the file grows with
    # each packet, so wait until it stops growing (the capture lags the load on a busy machine)
    if [ "${RT_BENCH_LIVE:-0}" = 1 ]; then sleep 3; else wait_stable "$RUN/cap.pcap"; fi
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    CAP_PID=""
    REC_CALLS=$(server_calls "$P1")
    stop_redis "$P1"
    REC_RB_RPS=$(rb_rps "$RUN/rb-rec.csv")
    if [ "${RT_BENCH_LIVE:-0}" = 1 ]; then
        CAP_DROPS=$("$RT" info --json "$TRACE" | jq '.capture.kernel_drops + .capture.iface_drops')
    else
        CAP_DROPS=$(awk '/dropped by kernel/ { print $1 }' "$RUN/cap.err")
        CAP_DROPS=${CAP_DROPS:-unknown}
        "$RT" record -r "$RUN/cap.pcap" -p "$P1" -w "$TRACE" -q > "$RUN/rec.out" 2> "$RUN/rec.err" ||
            { cat "$RUN/rec.err" >&2; die "resptrace record -r failed"; }
        rm -f "$RUN/cap.pcap"
    fi
    "$RT" info --json "$TRACE" > "$RUN/trace.json"
    TR_REQ=$(jq .requests "$RUN/trace.json")
    TR_GAPS=$(jq .gaps "$RUN/trace.json")
    TR_CONNS=$(jq .connections "$RUN/trace.json")
    log "trace: $TR_REQ requests (server counted $REC_CALLS), $TR_CONNS connections, gaps $TR_GAPS, capture drops $CAP_DROPS"
    if [ "$TR_REQ" = "$REC_CALLS" ] && [ "$TR_GAPS" = 0 ] && [ "$CAP_DROPS" = 0 ]; then
        REC_OK=1
        break
    fi
    log "the trace is not exact; recording again"
done
[ "$REC_OK" = 1 ] || log "warning: no exact trace in 3 tries; benchmarking the last one"

# =====================================================================================
# 2. Throughput: redis-benchmark and replay taking turns, each against a fresh server
# =====================================================================================
RB_LIST=() RP_LIST=() PAIR_RATIOS=() RB_CPU_LIST=() RP_CPU_LIST=() PAIR_ROWS=() SO_LIST=()
OPS_OK=1 OPS_ROWS=()
for i in $(seq 1 "$RUNS"); do
    start_redis P2
    log "run $i/$RUNS: redis-benchmark against a fresh R2 (127.0.0.1:$P2)"
    /usr/bin/time -f "%U %S" -o "$RUN/rb.time" \
        redis-benchmark -h 127.0.0.1 -p "$P2" "${RB_ARGS[@]}" --csv > "$RUN/rb-$i.csv"
    stop_redis "$P2"
    rb=$(rb_rps "$RUN/rb-$i.csv")
    rb_cpu=$(cpu_of "$RUN/rb.time")

    start_redis P2
    log "run $i/$RUNS: resptrace replay --speed max against a fresh R2 (127.0.0.1:$P2)"
    rc=0
    /usr/bin/time -f "%U %S" -o "$RUN/rp.time" \
        "$RT" replay "$TRACE" --speed max --target "redis://127.0.0.1:$P2" --json="$RUN/rp-$i.json" -q \
        > "$RUN/rp-$i.out" 2> "$RUN/rp-$i.err" || rc=$?
    stop_redis "$P2"
    if [ "$rc" != 0 ] || [ ! -s "$RUN/rp-$i.json" ]; then
        cat "$RUN/rp-$i.err" >&2
        die "resptrace replay exited with $rc"
    fi
    rp=$(jq '.ops_per_s | floor' "$RUN/rp-$i.json")
    rp_cpu=$(cpu_of "$RUN/rp.time")
    read -r j_req j_sent j_ops j_skip j_unans j_err j_conns j_dur < <(jq -r \
        '[.requests, .sent, .ops, .skipped, .unanswered, .errors, .connections.opened, .duration_s] | @tsv' "$RUN/rp-$i.json")
    want=$((TR_REQ - j_skip))
    if [ "$j_ops" = "$want" ] && [ "$j_req" = "$TR_REQ" ]; then ok=yes; else ok=NO; OPS_OK=0; fi
    OPS_ROWS+=("$(printf "  run %d: trace %s requests, replay: requests %s, skipped %s, sent %s, ops %s (want %s: %s), unanswered %s, errors %s, connections %s" \
        "$i" "$TR_REQ" "$j_req" "$j_skip" "$j_sent" "$j_ops" "$want" "$ok" "$j_unans" "$j_err" "$j_conns")")
    # the same replay without the order across connections (--sync off): what --sync keys
    # costs when no key is shared (redis-benchmark -r: keys random, rarely shared)
    start_redis P2
    log "run $i/$RUNS: resptrace replay --speed max --sync off against a fresh R2 (127.0.0.1:$P2)"
    "$RT" replay "$TRACE" --speed max --sync off --target "redis://127.0.0.1:$P2" \
        --json="$RUN/so-$i.json" -q > /dev/null 2> "$RUN/so-$i.err" || true
    stop_redis "$P2"
    so=$(jq '.ops_per_s | floor' "$RUN/so-$i.json" 2> /dev/null || echo 0)
    SO_LIST+=("$so")
    PAIR_RATIOS+=("$(ratio "$rp" "$rb")")
    RB_LIST+=("$rb") RP_LIST+=("$rp") RB_CPU_LIST+=("$rb_cpu") RP_CPU_LIST+=("$rp_cpu")
    PAIR_ROWS+=("$(printf "  %-5s %16s %16s %8s %14s %14s" "$i" "$(num "$rb")" "$(num "$rp")" "$(ratio "$rp" "$rb")" "$rb_cpu" "$rp_cpu")")
    log "run $i: redis-benchmark $rb ops/s ($rb_cpu s cpu), replay $rp ops/s in ${j_dur} s ($rp_cpu s cpu)"
done
RB_MED=$(median_of "${RB_LIST[@]}")
RP_MED=$(median_of "${RP_LIST[@]}")
SO_MED=$(median_of "${SO_LIST[@]}")
SYNC_RB_RATIO=$(ratio "$RP_MED" "$SO_MED")
RB_CPU_MED=$(median_of "${RB_CPU_LIST[@]}")
RP_CPU_MED=$(median_of "${RP_CPU_LIST[@]}")
TP_RATIO=$(ratio "$RP_MED" "$RB_MED")
PAIR_MED=$(median_of "${PAIR_RATIOS[@]}")
TP_PASS=$(awk -v r="$TP_RATIO" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? 1 : 0 }')

# a profile of the replay when it is the slower one
PERF_TOP=""
if [ "$TP_PASS" = 0 ] && [ "${RT_BENCH_NO_PERF:-0}" != 1 ] && command -v perf > /dev/null; then
    start_redis P2
    log "profiling one more replay (perf record -e cpu-clock -g)"
    if perf record -q -e cpu-clock -g -o "$RUN/perf.data" -- \
        "$RT" replay "$TRACE" --speed max --target "redis://127.0.0.1:$P2" -q > /dev/null 2> "$RUN/perf.err"; then
        PERF_TOP=$(perf report -i "$RUN/perf.data" --no-children --sort dso,symbol --stdio 2> /dev/null |
            grep -E '^ +[0-9.]+%' | head -25 || true)
        PERF_DSO=$(perf report -i "$RUN/perf.data" --no-children --sort dso --stdio 2> /dev/null |
            grep -E '^ +[0-9.]+%' | head -8 || true)
    else
        log "perf record failed: $(tail -2 "$RUN/perf.err")"
    fi
    stop_redis "$P2"
fi

# =====================================================================================
# 2b. memtier_benchmark's trace replay (--monitor-input) and resptrace replay, same requests
# =====================================================================================
MT_DONE=0
if [ -n "$MEMTIER_BIN" ] && [ -s "$RUN/mon.txt" ]; then
    MON_N=$(grep -c '^[0-9]' "$RUN/mon.txt")
    MT_PER=$((MON_N / CLIENTS))
    MT_REQ=$((MT_PER * CLIENTS))
    # every command of the log once, sequentially, over 50 connections
    MT_ARGS=(-t 1 -c "$CLIENTS" --monitor-input="$RUN/mon.txt" --command=__monitor_line@__
        --monitor-pattern=S --requests="$MT_PER" --hide-histogram)
    MT_LIST=() MR_LIST=() MT_CPU_LIST=() MR_CPU_LIST=() MT_ROWS=()
    for i in $(seq 1 "$RUNS"); do
        start_redis P4
        log "memtier run $i/$RUNS: memtier_benchmark --monitor-input ($MT_REQ requests) against a fresh server"
        /usr/bin/time -f "%U %S" -o "$RUN/mt.time" "$MEMTIER_BIN" -s 127.0.0.1 -p "$P4" "${MT_ARGS[@]}" \
            --json-out-file="$RUN/mt-$i.out.json" > "$RUN/mt-$i.out" 2>&1 ||
            { tail -5 "$RUN/mt-$i.out" >&2; die "memtier_benchmark failed"; }
        mt_calls=$(server_calls "$P4")
        stop_redis "$P4"
        mt=$(jq '[.["ALL STATS"].Totals["Ops/sec"]] | .[0] | floor' "$RUN/mt-$i.out.json")
        mt_cpu=$(cpu_of "$RUN/mt.time")
        start_redis P4
        log "memtier run $i/$RUNS: resptrace replay --speed max against a fresh server"
        /usr/bin/time -f "%U %S" -o "$RUN/mr.time" \
            "$RT" replay "$TRACE" --speed max --target "redis://127.0.0.1:$P4" --json="$RUN/mr-$i.json" -q \
            > /dev/null 2> "$RUN/mr-$i.err" || { cat "$RUN/mr-$i.err" >&2; die "resptrace replay failed"; }
        stop_redis "$P4"
        mr=$(jq '.ops_per_s | floor' "$RUN/mr-$i.json")
        mr_ops=$(jq .ops "$RUN/mr-$i.json")
        mr_cpu=$(cpu_of "$RUN/mr.time")
        MT_LIST+=("$mt") MR_LIST+=("$mr") MT_CPU_LIST+=("$mt_cpu") MR_CPU_LIST+=("$mr_cpu")
        MT_ROWS+=("$(printf "  %-5s %12s %12s %8s %12s %12s   (memtier: server counted %s; replay: %s ops)" "$i" \
            "$(num "$mt")" "$(num "$mr")" "$(ratio "$mr" "$mt")" \
            "$(awk -v c="$mt_cpu" -v n="$MT_REQ" 'BEGIN { printf "%.2f", c * 1e6 / n }')" \
            "$(awk -v c="$mr_cpu" -v n="$mr_ops" 'BEGIN { printf "%.2f", c * 1e6 / n }')" "$mt_calls" "$mr_ops")")
    done
    MT_MED=$(median_of "${MT_LIST[@]}")
    MR_MED=$(median_of "${MR_LIST[@]}")
    MT_US=$(awk -v c="$(median_of "${MT_CPU_LIST[@]}")" -v n="$MT_REQ" 'BEGIN { printf "%.2f", c * 1e6 / n }')
    MR_US=$(awk -v c="$(median_of "${MR_CPU_LIST[@]}")" -v n="$TR_REQ" 'BEGIN { printf "%.2f", c * 1e6 / n }')
    # system calls per request: one more run of each under strace -c -f
    MT_SYS="n/a" MR_SYS="n/a"
    if command -v strace > /dev/null; then
        start_redis P4
        strace -c -f -o "$RUN/mt.strace" "$MEMTIER_BIN" -s 127.0.0.1 -p "$P4" "${MT_ARGS[@]}" \
            > /dev/null 2>&1 || true
        stop_redis "$P4"
        start_redis P4
        strace -c -f -o "$RUN/mr.strace" "$RT" replay "$TRACE" --speed max \
            --target "redis://127.0.0.1:$P4" -q > /dev/null 2>&1 || true
        stop_redis "$P4"
        calls_of() { awk '$NF == "total" { print $(NF - 2) }' "$1"; }
        MT_SYS=$(awk -v c="$(calls_of "$RUN/mt.strace")" -v n="$MT_REQ" 'BEGIN { if (c > 0) printf "%.2f", c / n; else print "n/a" }')
        MR_SYS=$(awk -v c="$(calls_of "$RUN/mr.strace")" -v n="$TR_REQ" 'BEGIN { if (c > 0) printf "%.2f", c / n; else print "n/a" }')
    fi
    MT_DONE=1
fi

# =====================================================================================
# 2c. Pipelined: where the server is not the limit, the client's own cost per request is
#     (redis-benchmark -P 16 recorded, replayed with the same connections and pipelining)
# =====================================================================================
PIPE_DONE=0 PIPE_ROWS=()
if [ "${RT_BENCH_NO_PIPE:-0}" != 1 ]; then
    PIPE_N=${RT_BENCH_PIPE_N:-1000000}
    PB_ARGS=(-c "$CLIENTS" -n "$PIPE_N" -r "${RT_BENCH_PIPE_KEYS:-100000}" -d 100 -t "set,get" -P 16)
    PTRACE=$RUN/pipe.rtrace
    start_redis P5
    log "pipelined: record redis-benchmark ${PB_ARGS[*]} (127.0.0.1:$P5)"
    tcpdump -i lo -B 262144 -s 0 -U -w "$RUN/pipe.pcap" "tcp port $P5" 2> "$RUN/pcap.err" &
    CAP_PID=$!
    for _ in $(seq 1 100); do grep -q "listening on" "$RUN/pcap.err" 2> /dev/null && break; sleep 0.05; done
    sleep 0.2
    redis-benchmark -h 127.0.0.1 -p "$P5" "${PB_ARGS[@]}" --csv > /dev/null
    wait_stable "$RUN/pipe.pcap"
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    CAP_PID=""
    PIPE_CALLS=$(server_calls "$P5")
    stop_redis "$P5"
    "$RT" record -r "$RUN/pipe.pcap" -p "$P5" -w "$PTRACE" -q > /dev/null 2> "$RUN/prec.err" ||
        { cat "$RUN/prec.err" >&2; die "resptrace record -r of the pipelined capture failed"; }
    rm -f "$RUN/pipe.pcap"
    PIPE_REQ=$(jq .requests <("$RT" info --json "$PTRACE"))
    log "pipelined trace: $PIPE_REQ requests (server counted $PIPE_CALLS)"
    # the server on one core, each client on the other (the recording above was not pinned:
    # it only makes the trace)
    PIPE_PIN=${RT_BENCH_PIPE_PIN:-0,1}
    if [ "$PIPE_PIN" != none ]; then
        IFS=, read -r pin_s pin_c <<< "$PIPE_PIN"
        if [ -n "$pin_c" ] && taskset -c "$pin_s" true 2> /dev/null && taskset -c "$pin_c" true 2> /dev/null; then
            SRV_PIN=(taskset -c "$pin_s") CLI_PIN=(taskset -c "$pin_c")
            PIPE_PIN="server on core $pin_s, client on core $pin_c"
        else
            log "pipelined: cannot pin to cores $PIPE_PIN (RT_BENCH_PIPE_PIN): left to the scheduler"
            PIPE_PIN=none
        fi
    fi
    [ "$PIPE_PIN" = none ] && PIPE_PIN="not pinned"
    PB_LIST=() PR_LIST=() PB_US_LIST=() PR_US_LIST=() PO_US_LIST=() PIPE_RATIOS=()
    SB_BUSY_LIST=() SR_BUSY_LIST=()
    PB_U_LIST=() PR_U_LIST=() PO_U_LIST=()
    SB_US_LIST=() SR_US_LIST=() SO_US_LIST=() SB_RD_LIST=() SR_RD_LIST=()
    user_us() { awk -v n="$2" '{ printf "%.2f", $1 * 1e6 / n }' "$1"; }
    # pipe_replay TAG [OPTION...]: the pipelined trace replayed --speed max into a fresh server
    # under /usr/bin/time ($RUN/TAG.time, $RUN/TAG-$i.json); dies when the replay fails
    # SRV_COST: the server's CPU per call (us) and reads per call during the replay
    pipe_replay() {
        local tag=$1 rc=0 c0
        shift
        start_redis P5
        log "pipelined run $i/$RUNS: resptrace replay --speed max${*:+ $*} against a fresh server"
        c0=$(server_cpu "$P5")
        /usr/bin/time -f "%U %S %e" -o "$RUN/$tag.time" \
            "${CLI_PIN[@]}" "$RT" replay "$PTRACE" --speed max "$@" --target "redis://127.0.0.1:$P5" \
            --json="$RUN/$tag-$i.json" -q > /dev/null 2> "$RUN/$tag-$i.err" || rc=$?
        SRV_COST="$(server_cost "$P5" "$c0") $(server_busy "$P5" "$c0" "$RUN/$tag.time")"
        stop_redis "$P5"
        [ "$rc" = 0 ] || { cat "$RUN/$tag-$i.err" >&2; die "pipelined replay $* exited with $rc"; }
    }
    for i in $(seq 1 "$RUNS"); do
        start_redis P5
        log "pipelined run $i/$RUNS: redis-benchmark -P 16 against a fresh server"
        c0=$(server_cpu "$P5")
        /usr/bin/time -f "%U %S %e" -o "$RUN/pb.time" \
            "${CLI_PIN[@]}" redis-benchmark -h 127.0.0.1 -p "$P5" "${PB_ARGS[@]}" --csv > "$RUN/pb-$i.csv"
        read -r sb_us sb_rd sb_busy <<< "$(server_cost "$P5" "$c0") $(server_busy "$P5" "$c0" "$RUN/pb.time")"
        stop_redis "$P5"
        pb=$(awk -F'"' -v n="$PIPE_N" 'NR > 1 && $4 > 0 { t += n / $4; k += n } END { if (t > 0) printf "%.0f\n", k / t; else print 0 }' "$RUN/pb-$i.csv")
        pb_us=$(awk -v c="$(cpu_of "$RUN/pb.time")" -v n="$((2 * PIPE_N))" 'BEGIN { printf "%.2f", c * 1e6 / n }')
        pipe_replay pr
        read -r sr_us sr_rd sr_busy <<< "$SRV_COST"
        pr=$(jq '.ops_per_s | floor' "$RUN/pr-$i.json")
        pr_ops=$(jq .ops "$RUN/pr-$i.json")
        pr_us=$(awk -v c="$(cpu_of "$RUN/pr.time")" -v n="$pr_ops" 'BEGIN { printf "%.2f", c * 1e6 / n }')
        pipe_replay po --sync off
        read -r so_us _ <<< "$SRV_COST"
        po_ops=$(jq .ops "$RUN/po-$i.json")
        po_us=$(awk -v c="$(cpu_of "$RUN/po.time")" -v n="$po_ops" 'BEGIN { printf "%.2f", c * 1e6 / n }')
        PB_LIST+=("$pb") PR_LIST+=("$pr") PB_US_LIST+=("$pb_us") PR_US_LIST+=("$pr_us")
        PO_US_LIST+=("$po_us")
        PB_U_LIST+=("$(user_us "$RUN/pb.time" "$((2 * PIPE_N))")")
        PR_U_LIST+=("$(user_us "$RUN/pr.time" "$pr_ops")") PO_U_LIST+=("$(user_us "$RUN/po.time" "$po_ops")")
        SB_US_LIST+=("$sb_us") SR_US_LIST+=("$sr_us") SO_US_LIST+=("$so_us")
        SB_RD_LIST+=("$sb_rd") SR_RD_LIST+=("$sr_rd")
        SB_BUSY_LIST+=("$sb_busy") SR_BUSY_LIST+=("$sr_busy") PIPE_RATIOS+=("$(ratio "$pr" "$pb")")
        PIPE_ROWS+=("$(printf "  %-5s %16s %12s %8s %10s %10s %10s %8s %8s %8s %8s %8s" "$i" "$pb" "$pr" "$(ratio "$pr" "$pb")" "$pb_us" "$pr_us" "$po_us" "$sb_us" "$sr_us" "$so_us" "$sb_busy" "$sr_busy")")
        log "pipelined run $i: redis-benchmark $pb ops/s ($pb_us us/request), replay $pr ops/s ($pr_us us/request, $pr_ops ops), --sync off $po_us us/request"
    done
    PB_MED=$(median_of "${PB_LIST[@]}")
    PR_MED=$(median_of "${PR_LIST[@]}")
    PB_US=$(median_of "${PB_US_LIST[@]}")
    PR_US=$(median_of "${PR_US_LIST[@]}")
    PO_US=$(median_of "${PO_US_LIST[@]}")
    PB_U=$(median_of "${PB_U_LIST[@]}")
    PR_U=$(median_of "${PR_U_LIST[@]}")
    PO_U=$(median_of "${PO_U_LIST[@]}")
    SB_US=$(median_of "${SB_US_LIST[@]}")
    SR_US=$(median_of "${SR_US_LIST[@]}")
    SO_US=$(median_of "${SO_US_LIST[@]}")
    SB_RD=$(median_of "${SB_RD_LIST[@]}")
    SR_RD=$(median_of "${SR_RD_LIST[@]}")
    SB_BUSY=$(median_of "${SB_BUSY_LIST[@]}")
    SR_BUSY=$(median_of "${SR_BUSY_LIST[@]}")
    PIPE_PAIR_MED=$(median_of "${PIPE_RATIOS[@]}")
    SRV_PIN=() CLI_PIN=()
    PIPE_DONE=1
fi

# =====================================================================================
# 3. Memory: replay a BIG_N-request trace
# =====================================================================================
MEM_DONE=0
if [ "${RT_BENCH_NO_MEM:-0}" != 1 ]; then
    GEN=""
    for g in "${RT_BENCH_GEN:-}" "$(dirname "$RT")/tests/make_big_trace" "$(dirname "$RT")/make_big_trace"; do
        if [ -n "$g" ] && [ -x "$g" ] && [ "$g" -nt "$SRC/tests/bench/make_big_trace.c" ]; then GEN=$g; break; fi
    done
    if [ -z "$GEN" ]; then
        GEN=$WORK/make_big_trace
        if [ ! -x "$GEN" ] || [ "$SRC/tests/bench/make_big_trace.c" -nt "$GEN" ]; then
            log "compiling make_big_trace with gcc"
            if ! command -v gcc > /dev/null || ! command -v pkg-config > /dev/null; then
                die "gcc and pkg-config are needed to build make_big_trace"
            fi
            # the whole format library but its command table generator (the writer and the
            # reader make_big_trace checks its output with need more than two files)
            FMT_SRC=()
            for f in "$SRC"/format/*.c; do
                [ "$(basename "$f")" = gen_cmdtable.c ] || FMT_SRC+=("$f")
            done
            # shellcheck disable=SC2046
            gcc -std=gnu11 -O2 -I"$SRC/format/include" -I"$SRC/format" -o "$GEN" "$SRC/tests/bench/make_big_trace.c" \
                "${FMT_SRC[@]}" $(pkg-config --libs libzstd libxxhash) -lpthread -lm ||
                die "could not build make_big_trace"
        fi
    fi
    # what --sync keys costs where nothing needs ordering: 1M requests, no key shared between
    # connections, --sync keys and --sync off taking turns, each against a fresh server
    SYN=$WORK/disjoint-1000000.rtrace
    if [ ! -s "$SYN" ] || ! "$RT" info "$SYN" > /dev/null 2>&1; then
        log "writing $SYN (1000000 requests, no key shared)"
        "$GEN" "$SYN.tmp" 1000000 "$CLIENTS" disjoint >&2
        mv "$SYN.tmp" "$SYN"
    fi
    SK_LIST=() SF_LIST=()
    for i in $(seq 1 "$RUNS"); do
        for m in keys off; do
            start_redis P3
            log "sync $i/$RUNS: replay --sync $m of $SYN"
            "$RT" replay "$SYN" --speed max --sync "$m" --target "redis://127.0.0.1:$P3" \
                --json="$RUN/sync-$m.json" -q > /dev/null 2> "$RUN/sync-$m.err" ||
                { cat "$RUN/sync-$m.err" >&2; die "resptrace replay --sync $m failed"; }
            stop_redis "$P3"
            v=$(jq '.ops_per_s | floor' "$RUN/sync-$m.json")
            if [ "$m" = keys ]; then SK_LIST+=("$v"); else SF_LIST+=("$v"); fi
        done
    done
    SK_MED=$(median_of "${SK_LIST[@]}")
    SF_MED=$(median_of "${SF_LIST[@]}")
    SYNC_RATIO=$(ratio "$SK_MED" "$SF_MED")
    SYNC_PASS=$(awk -v r="$SYNC_RATIO" 'BEGIN { print (r >= 0.95) ? 1 : 0 }')
    SYNC_DONE=1
    BIG=$WORK/big-disjoint-$BIG_N.rtrace
    if [ -s "$BIG" ] && "$RT" info --json "$BIG" > "$RUN/big.json" 2> /dev/null &&
        [ "$(jq .requests "$RUN/big.json")" = "$BIG_N" ]; then
        log "reusing $BIG"
    else
        log "writing $BIG ($BIG_N requests)"
        rm -f "$BIG"
        "$GEN" "$BIG.tmp" "$BIG_N" "$CLIENTS" disjoint >&2
        mv "$BIG.tmp" "$BIG"
        "$RT" info --json "$BIG" > "$RUN/big.json"
    fi
    BIG_BYTES=$(jq .bytes_on_disk "$RUN/big.json")
    BIG_RAW=$(jq .bytes_uncompressed "$RUN/big.json")
    start_redis P3
    log "memory: replaying $BIG_N requests --speed max against a fresh R3 (127.0.0.1:$P3)"
    rc=0
    /usr/bin/time -v -o "$RUN/big.time" \
        "$RT" replay "$BIG" --speed max --target "redis://127.0.0.1:$P3" --json="$RUN/big-rp.json" -q \
        > "$RUN/big-rp.out" 2> "$RUN/big-rp.err" || rc=$?
    stop_redis "$P3"
    if [ "$rc" != 0 ] || [ ! -s "$RUN/big-rp.json" ]; then
        cat "$RUN/big-rp.err" >&2
        die "resptrace replay of the big trace exited with $rc"
    fi
    RSS_KB=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$RUN/big.time")
    RSS_MIB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f\n", k / 1024 }')
    read -r b_req b_ops b_skip b_rate b_dur < <(jq -r '[.requests, .ops, .skipped, (.ops_per_s | floor), .duration_s] | @tsv' "$RUN/big-rp.json")
    BIG_OPS_OK=$([ "$b_req" = "$BIG_N" ] && [ "$b_ops" = $((BIG_N - b_skip)) ] && echo 1 || echo 0)
    [ "$BIG_OPS_OK" = 1 ] || OPS_OK=0
    OPS_ROWS+=("$(printf "  big:   trace %s requests, replay: requests %s, skipped %s, ops %s (%s)" \
        "$BIG_N" "$b_req" "$b_skip" "$b_ops" "$([ "$BIG_OPS_OK" = 1 ] && echo yes || echo NO)")")
    MEM_PASS=$(awk -v m="$RSS_MIB" -v t="$TARGET_RSS_MIB" 'BEGIN { print (m < t) ? 1 : 0 }')
    MEM_DONE=1
fi

# =====================================================================================
# Report
# =====================================================================================
echo
echo "== bench_replay: $RT"
echo "workload: redis-benchmark ${RB_ARGS[*]} ($(nproc) cpus, redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'))"
echo "trace: $(num "$TR_REQ") requests on $TR_CONNS connections, gaps $TR_GAPS, capture drops $CAP_DROPS, server counted $(num "$REC_CALLS") commands ($([ "$REC_OK" = 1 ] && echo exact || echo "NOT exact"))"
echo "redis-benchmark while recorded: $(num "$REC_RB_RPS") ops/s (the capture slows it; not compared)"
echo
echo "throughput, fresh server each run, taking turns (ops/s; cpu = user+sys seconds of the client):"
printf "  %-5s %16s %16s %8s %14s %14s\n" "run" "redis-benchmark" "replay" "ratio" "rb cpu s" "replay cpu s"
printf '%s\n' "${PAIR_ROWS[@]}"
printf "  %-5s %16s %16s %8s %14s %14s\n" "med" "$(num "$RB_MED")" "$(num "$RP_MED")" "$TP_RATIO" "$RB_CPU_MED" "$RP_CPU_MED"
if [ "$MT_DONE" = 1 ]; then
    echo
    echo "memtier_benchmark --monitor-input of the same requests ($(num "$MT_REQ") commands of a MONITOR log"
    echo "captured with the trace, 50 connections) vs resptrace replay --speed max, fresh server each:"
    printf "  %-5s %12s %12s %8s %12s %12s\n" "run" "memtier" "replay" "ratio" "memtier us" "replay us"
    printf '%s\n' "${MT_ROWS[@]}"
    printf "  %-5s %12s %12s %8s %12s %12s\n" "med" "$(num "$MT_MED")" "$(num "$MR_MED")" "$(ratio "$MR_MED" "$MT_MED")" "$MT_US" "$MR_US"
    echo "  (us = CPU user+sys of the client per request; system calls per request, strace -c -f:"
    echo "   memtier $MT_SYS, replay $MR_SYS)"
else
    echo
    echo "memtier_benchmark comparison skipped: ${MEMTIER_WHY:-no MONITOR log}"
fi
if [ "$PIPE_DONE" = 1 ]; then
    echo
    echo "pipelined: redis-benchmark ${PB_ARGS[*]} ($(num "$PIPE_REQ") requests recorded, server counted"
    echo "$(num "$PIPE_CALLS")) vs its trace replayed --speed max (same connections, same pipelining),"
    echo "$PIPE_PIN:"
    printf "  %-5s %16s %12s %8s %10s %10s %10s %8s %8s %8s %8s %8s\n" "run" "redis-benchmark" "replay" "ratio" "rb us" "replay us" "off us" "srv rb" "srv rp" "srv off" "busy rb" "busy rp"
    printf '%s\n' "${PIPE_ROWS[@]}"
    printf "  %-5s %16s %12s %8s %10s %10s %10s %8s %8s %8s %8s %8s\n" "med" "$(num "$PB_MED")" "$(num "$PR_MED")" "$(ratio "$PR_MED" "$PB_MED")" "$PB_US" "$PR_US" "$PO_US" "$SB_US" "$SR_US" "$SO_US" "$SB_BUSY" "$SR_BUSY"
    echo "  (us = CPU user+sys of the client per request; off: the replay with --sync off; user time"
    echo "   alone, medians: redis-benchmark $PB_U, replay $PR_U, --sync off $PO_U us; srv = the"
    echo "   server's own CPU per call, INFO cpu, while each client ran; its reads per call, INFO"
    echo "   stats: redis-benchmark $SB_RD, replay $SR_RD; busy = the server's CPU seconds over the"
    echo "   client's wall time)"
    # what the server's figures say, from the figures (medians)
    if awk -v s="$SB_US" -v r="$SR_US" -v b="$PB_US" -v p="$PR_US" 'BEGIN { exit !(s > b && r > p) }'; then
        echo "  the server spent more CPU per call than its client under both: ops/s follows its cost"
    fi
    if awk -v a="$SB_RD" -v b="$SR_RD" 'BEGIN { exit !(a > 0 && b > 0 && a / b < 1.05 && b / a < 1.05) }'; then
        echo "  the server read its requests in batches of the same size under both (within 5%)"
    else
        echo "  the server read its requests in batches of different sizes: $SB_RD vs $SR_RD reads per call"
    fi
fi
echo
echo "replay ops = trace requests - skipped:"
printf '%s\n' "${OPS_ROWS[@]}"
if [ -n "$PERF_TOP" ]; then
    echo
    echo "perf record -e cpu-clock -g of one replay (self time, top symbols):"
    echo "$PERF_TOP"
    echo "by dso:"
    echo "$PERF_DSO"
fi
if [ "$MEM_DONE" = 1 ]; then
    echo
    echo "memory: $(num "$BIG_N") requests ($((BIG_BYTES / 1048576)) MiB on disk, $((BIG_RAW / 1048576)) MiB uncompressed), replay --speed max: $(num "$b_rate") ops/s in $b_dur s, peak RSS $RSS_MIB MiB"
fi

verdict() { if [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
echo
echo "== summary"
printf "| %-44s | %-34s | %-10s | %-7s |\n" "measure" "value" "target" "verdict"
printf "| %-44s | %-34s | %-10s | %-7s |\n" "----" "----" "----" "----"
printf "| %-44s | %-34s | %-10s | %-7s |\n" "replay / redis-benchmark ops/s (median of $RUNS)" \
    "${TP_RATIO}x ($(num "$RP_MED") / $(num "$RB_MED"))" ">= ${TARGET_RATIO}x" "$(verdict "$TP_PASS")"
if [ "${SYNC_DONE:-0}" = 1 ]; then
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "--sync keys / off ops/s, no key shared" \
        "${SYNC_RATIO}x ($(num "$SK_MED") / $(num "$SF_MED"))" ">= 0.95x" "$(verdict "$SYNC_PASS")"
fi
printf "| %-44s | %-34s | %-10s | %-7s |\n" "--sync keys / off, redis-benchmark trace" \
    "${SYNC_RB_RATIO}x ($(num "$RP_MED") / $(num "$SO_MED"))" "(info)" ""
printf "| %-44s | %-34s | %-10s | %-7s |\n" "replay / redis-benchmark, median of run pairs" \
    "${PAIR_MED}x ($(printf '%s ' "${PAIR_RATIOS[@]}"| sed 's/ $//'))" "(info)" ""
printf "| %-44s | %-34s | %-10s | %-7s |\n" "replay / redis-benchmark cpu (median)" \
    "$(ratio "$RP_CPU_MED" "$RB_CPU_MED")x ($RP_CPU_MED / $RB_CPU_MED s)" "(info)" ""
printf "| %-44s | %-34s | %-10s | %-7s |\n" "replay ops = trace requests - skipped" \
    "$([ "$OPS_OK" = 1 ] && echo "equal, every run" || echo "differ (see above)")" "equal" "$(verdict "$OPS_OK")"
printf "| %-44s | %-34s | %-10s | %-7s |\n" "trace exact (= INFO commandstats, no drops)" \
    "$([ "$REC_OK" = 1 ] && echo yes || echo no)" "(info)" ""
if [ "$MT_DONE" = 1 ]; then
    MT_TP_PASS=$(awk -v a="$MR_MED" -v b="$MT_MED" 'BEGIN { print (a >= b) ? 1 : 0 }')
    MT_CPU_PASS=$(awk -v a="$MR_US" -v b="$MT_US" 'BEGIN { print (a <= 0.8 * b) ? 1 : 0 }')
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "replay / memtier ops/s (median of $RUNS)" \
        "$(ratio "$MR_MED" "$MT_MED")x ($(num "$MR_MED") / $(num "$MT_MED"))" ">= 1x" "$(verdict "$MT_TP_PASS")"
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "replay / memtier CPU per request" \
        "$(ratio "$MR_US" "$MT_US")x ($MR_US / $MT_US us)" "<= 0.8x" "$(verdict "$MT_CPU_PASS")"
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "system calls per request (replay, memtier)" \
        "$MR_SYS, $MT_SYS" "(info)" ""
else
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "replay vs memtier_benchmark" "skipped: ${MEMTIER_WHY:-no log}" "" "n/a"
fi
if [ "$PIPE_DONE" = 1 ]; then
    PIPE_TP_PASS=$(awk -v a="$PR_MED" -v b="$PB_MED" 'BEGIN { print (a >= b) ? 1 : 0 }')
    PIPE_CPU_PASS=$(awk -v a="$PR_US" -v b="$PB_US" 'BEGIN { print (a <= b) ? 1 : 0 }')
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined (-P 16): replay / redis-benchmark ops/s" \
        "$(ratio "$PR_MED" "$PB_MED")x ($(num "$PR_MED") / $(num "$PB_MED"))" ">= 1x" "$(verdict "$PIPE_TP_PASS")"
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined: replay / rb, median of run pairs" \
        "${PIPE_PAIR_MED}x ($(printf '%s ' "${PIPE_RATIOS[@]}" | sed 's/ $//'))" "(info)" ""
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined: server busy (under rb, replay)" \
        "$SB_BUSY, $SR_BUSY" "(info)" ""
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined: CPU per request (replay / rb)" \
        "$(ratio "$PR_US" "$PB_US")x ($PR_US / $PB_US us)" "<= 1x" "$(verdict "$PIPE_CPU_PASS")"
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined, --sync off: CPU (off / rb)" \
        "$(ratio "$PO_US" "$PB_US")x ($PO_US / $PB_US us)" "(info)" ""
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined user us/request (rb, keys, off)" \
        "$PB_U, $PR_U, $PO_U" "(info)" ""
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined server CPU us/call (rb, keys, off)" \
        "$SB_US, $SR_US, $SO_US" "(info)" ""
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined server reads per call (rb, keys)" \
        "$SB_RD, $SR_RD" "(info)" ""
else
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "pipelined (-P 16) comparison" "skipped (RT_BENCH_NO_PIPE)" "" "n/a"
fi
if [ "$MEM_DONE" = 1 ]; then
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "peak RSS replaying $(num "$BIG_N") requests" \
        "$RSS_MIB MiB" "< $TARGET_RSS_MIB MiB" "$(verdict "$MEM_PASS")"
else
    printf "| %-44s | %-34s | %-10s | %-7s |\n" "peak RSS replaying $(num "$BIG_N") requests" "skipped (RT_BENCH_NO_MEM)" "< $TARGET_RSS_MIB MiB" "n/a"
fi
