#!/usr/bin/env bash
# bench_record.sh: the recorder's benchmark: `resptrace record` against tcpdump (the floor) and
# tshark on one capture of redis-benchmark traffic, the trace's size against `zstd -19` of the
# capture, its per-command counts against the server's INFO commandstats, and live capture on lo
# side by side with tcpdump (kernel drops at the same buffer size).
#
# Usage:  tests/bench/bench_record.sh [RESPTRACE [WORKDIR]]
#   RESPTRACE  the resptrace binary (default ./build/resptrace); the script does not build it and
#              does not need CMake: any build of resptrace will do
#   WORKDIR    where the capture and its facts are cached (default $RT_BENCH_DIR, else /tmp/rt-bench);
#              a rerun with the same RT_BENCH_N reuses the capture (delete the directory to remake it)
# Environment (all optional):
#   RT_BENCH_N           requests per redis-benchmark test (default 150000: about 1.8M packets)
#   RT_BENCH_RUNS        offline timings of tcpdump and resptrace: median of this many runs (default 3)
#   RT_BENCH_TSHARK_RUNS offline timing of tshark: median of this many runs (default 1: it takes minutes)
#   RT_BENCH_NO_PERF=1   do not profile resptrace (perf record -e cpu-clock -g) when it misses the 3x target
#   RT_BENCH_LIVE_RUNS   live: runs of each tool at each buffer size (default 3)
#   RT_BENCH_LIVE_BUFS   live: kernel buffer sizes in MiB, space-separated (default "2 256")
#   RT_BENCH_LIGHT_N     live, light load: requests per test (default 20000)
#   RT_BENCH_LIVE_TOOLS  live: tools taking turns (default "tcpdump resptrace"; add "tcpdump-imm"
#                        for tcpdump --immediate-mode, which `resptrace record --immediate` matches)
#   RT_BENCH_NO_LIVE=1   skip the live part
#   RT_BENCH_NO_TSHARK=1 skip tshark (about 45 s a run on 2M packets)
#
# Needs root (or CAP_NET_RAW) for the captures, and redis-server, redis-benchmark, redis-cli,
# tcpdump, zstd, jq; tshark is installed with apt-get when missing (its ratio is skipped if that
# fails). Everything listens on and is captured from 127.0.0.1 only. The machine is shared and
# noisy: only ratios measured in one run mean anything, never absolute times from different runs.
#
# What it does:
#  1. capture: redis-server on a free 127.0.0.1 port; `tcpdump -i lo -B 262144 -s 0 -w` of that
#     port while `redis-benchmark -c 50 -r 100000 -d 100 -n N -t set,get,incr,lpush,hset,mset`
#     runs at -P 1 then -P 16; tcpdump's drop counts and INFO commandstats are kept (up to 3
#     tries for a drop-free capture).
#  2. offline, page cache warm, median of RT_BENCH_RUNS (wall and cpu): `tcpdump -r CAP -w /dev/null`
#     (the floor), `resptrace record -r CAP -p PORT -w T -q`; tshark decoding RESP (one run); sizes of
#     the trace and of `zstd -19 -T2` of the capture (computed once, cached); the trace's per-command
#     counts against the server's commandstats. When resptrace misses 3x the floor and perf exists,
#     a short `perf record -e cpu-clock -g` of it prints its top functions.
#  3. live: at the same load, `resptrace record -i lo -B MIB` and `tcpdump -i lo -B KIB` taking
#     turns, each buffer size, kernel drops of each; then a light load (-c 10 -P 1) where the
#     recorder must drop nothing and count every command exactly as the server did.
set -euo pipefail
export LC_ALL=C

RT=${1:-./build/resptrace}
WORK=${2:-${RT_BENCH_DIR:-/tmp/rt-bench}}
N=${RT_BENCH_N:-150000}
RUNS=${RT_BENCH_RUNS:-3}
TSHARK_RUNS=${RT_BENCH_TSHARK_RUNS:-1}
LIVE_RUNS=${RT_BENCH_LIVE_RUNS:-3}
LIVE_BUFS=${RT_BENCH_LIVE_BUFS:-2 256}
LIGHT_N=${RT_BENCH_LIGHT_N:-20000}
LIVE_TOOLS=${RT_BENCH_LIVE_TOOLS:-tcpdump resptrace}
TESTS=set,get,incr,lpush,hset,mset

# The targets the recorder is held to.
TARGET_FLOOR_RATIO=3    # resptrace record -r at most 3x tcpdump -r -w /dev/null
TARGET_TSHARK_RATIO=50  # tshark at least 50x slower than resptrace
MIN_PACKETS=1000000

die() { echo "bench_record: $*" >&2; exit 2; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -x "$RT" ] || die "no resptrace binary at $RT (build it, or pass its path as the first argument)"
RT=$(realpath "$RT")
for t in redis-server redis-benchmark redis-cli tcpdump zstd jq awk; do
    command -v "$t" > /dev/null || die "$t is missing (.ci/setup installs it)"
done
[ "$(id -u)" -eq 0 ] || log "warning: not root: live capture needs CAP_NET_RAW"
mkdir -p "$WORK"
WORK=$(realpath "$WORK")

# --- processes this script starts, stopped on any exit
REDIS_PID="" CAP_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CAP_PID" ]; then kill -INT "$CAP_PID" 2> /dev/null || true; wait "$CAP_PID" 2> /dev/null || true; fi
    if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2> /dev/null || true; wait "$REDIS_PID" 2> /dev/null || true; fi
    rm -rf "$WORK/live" "$WORK/redis"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- small helpers
# ratio A B: A/B with 2 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "inf"; else printf "%.2f", a / b }'; }
# le A B: exit 0 when A <= B (numbers)
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
verdict() { if "$@"; then echo PASS; else echo MISS; fi; }
# thousands separators, for reading
num() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
rcli() { redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }

# Starts redis-server on 127.0.0.1 and a free port; sets PORT and REDIS_PID.
start_redis() {
    local port
    mkdir -p "$WORK/redis"
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ss -Htln "sport = :$port" 2> /dev/null | grep -q .; then continue; fi
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$WORK/redis" --logfile "$WORK/redis/redis.log" &
        REDIS_PID=$!
        for _ in $(seq 1 50); do
            if redis-cli -h 127.0.0.1 -p "$port" ping 2> /dev/null | grep -q PONG; then
                PORT=$port
                return 0
            fi
            kill -0 "$REDIS_PID" 2> /dev/null || break
            sleep 0.1
        done
        kill "$REDIS_PID" 2> /dev/null || true
        wait "$REDIS_PID" 2> /dev/null || true
        REDIS_PID=""
    done
    die "could not start redis-server"
}

# Empty the server and its statistics: called before a capture starts so that these commands
# (sent to the same port) are not captured. Afterwards commandstats holds one config|resetstat.
reset_server() {
    rcli FLUSHALL > /dev/null
    rcli CONFIG RESETSTAT > /dev/null
}

# The server's commandstats as "name calls" lines, sorted, without this script's own
# CONFIG RESETSTAT (sent before the capture started).
server_cmdstats() {
    rcli INFO commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' |
        awk '$1 == "config|resetstat" { $2 -= 1; if ($2 == 0) next } { print }' | sort
}

# A trace's requests per command in the same "name calls" form as server_cmdstats: lower case,
# "container|subcommand" for the commands whose subcommands Redis 7 counts apart.
trace_cmdstats() {
    "$RT" cat "$1" --format jsonl | awk '
        /^\{"event":"request"/ {
            i = index($0, "\"cmd\":\"")
            if (i == 0) next
            s = substr($0, i + 7)
            c = tolower(substr(s, 1, index(s, "\"") - 1))
            if (c ~ /^(config|client|cluster|command|memory|object|script|function|acl|xinfo|xgroup|latency|slowlog|module|pubsub)$/) {
                j = index($0, "\"argv\":[\"")
                s = substr($0, j + 9)
                k = index(s, "\",\"")
                if (j > 0 && k > 0) { s = substr(s, k + 3); c = c "|" tolower(substr(s, 1, index(s, "\"") - 1)) }
            }
            n[c]++
        }
        END { for (c in n) print c, n[c] }' | sort
}

# compare_stats WANT GOT: prints a per-command table; exit 0 when equal
compare_stats() {
    join -a1 -a2 -e 0 -o 0,1.2,2.2 "$1" "$2" | awk '
        BEGIN { printf "    %-18s %12s %12s\n", "command", "server", "trace"; bad = 0 }
        { mark = ($2 == $3) ? "" : "  <-- differs"; if ($2 != $3) bad = 1
          printf "    %-18s %12d %12d%s\n", $1, $2, $3, mark }
        END { exit bad }'
}

sum_stats() { awk '{ s += $2 } END { print s + 0 }' "$1"; }

# The load: redis-benchmark at -P 1, then at -P 16. Prints each test's requests per second.
# heavy_load CLIENTS N PIPELINES...
bench_load() {
    local clients=$1 n=$2 p
    shift 2
    for p in "$@"; do
        redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$clients" -r 100000 -d 100 -n "$n" \
            -t "$TESTS" -P "$p" -q 2> /dev/null | tr '\r' '\n' |
            sed -n "s/^\([A-Z]*\).*: \([0-9.]*\) requests per second.*/    -P $p \1 \2 req\/s/p"
    done
}

# Waits for a capture started in the background to be ready: tcpdump says "listening on" on
# stderr; resptrace creates its trace once the filter is set.
wait_ready() { # what file
    for _ in $(seq 1 200); do
        case $1 in
        tcpdump) grep -q "listening on" "$2" 2> /dev/null && break ;;
        resptrace) [ -s "$2" ] && break ;;
        esac
        kill -0 "$CAP_PID" 2> /dev/null || die "$1 exited before capturing (see $2)"
        sleep 0.05
    done
    sleep 0.3
}

# CPU seconds (user+system) used so far by a running process
proc_cpu() {
    awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / tck }' "/proc/$1/stat" 2> /dev/null || echo "?"
}

stop_capture() {
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || die "capture process exited with $?"
    CAP_PID=""
}

# tcpdump's counters from its stderr: "N packets captured", "... received by filter", "... dropped by kernel"
tcpdump_count() { sed -n "s/^\([0-9]*\) packets $2.*/\1/p" "$1" | tail -1; }

# median NUMBERS...: the median (the mean of the middle two for an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# time_median RUNS OUT CMD...: runs CMD RUNS times (stdout to OUT), sets MED_WALL and MED_CPU (the
# median of each, seconds; cpu = user + system) and MAX_RSS
# (KiB, when /usr/bin/time exists)
time_median() {
    local runs=$1 out=$2 i w u s c rss walls=() cpus=()
    shift 2
    MAX_RSS=""
    local timer=()
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -f %M -o "$WORK/rss.out")
    for ((i = 1; i <= runs; i++)); do
        local TIMEFORMAT='%3R %3U %3S'
        rm -f "$WORK/rss.out"
        { time "${timer[@]}" "$@" > "$out" 2> "$WORK/timed.err"; } 2> "$WORK/time.out" ||
            die "failed: $* (see $WORK/timed.err)"
        read -r w u s < "$WORK/time.out"
        c=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
        walls+=("$w") cpus+=("$c")
        if [ -s "$WORK/rss.out" ]; then
            rss=$(tail -1 "$WORK/rss.out")
            if [ -z "$MAX_RSS" ] || [ "$rss" -gt "$MAX_RSS" ]; then MAX_RSS=$rss; fi
        fi
        log "  run $i: wall $w s, cpu $c s"
    done
    MED_WALL=$(median "${walls[@]}") MED_CPU=$(median "${cpus[@]}")
}

log "resptrace: $RT ($("$RT" version 2>/dev/null | head -1))"
log "work dir: $WORK"
start_redis
log "redis-server on 127.0.0.1:$PORT"

# =====================================================================================
# 1. The capture
# =====================================================================================
CAP=$WORK/capture.pcap
META=$WORK/capture.env
if [ -s "$META" ] && [ -s "$CAP" ] && grep -qx "CAP_N=$N" "$META"; then
    log "reusing the capture in $WORK (RT_BENCH_N=$N; delete $META to remake it)"
else
    rm -f "$META" "$WORK/capture.zstd19" "$WORK/capture.zstd3"
    for try in 1 2 3; do
        log "capture, try $try: redis-benchmark -n $N -t $TESTS at -P 1 then -P 16, tcpdump -B 262144"
        reset_server
        tcpdump -i lo -B 262144 -s 0 -Z root -w "$CAP.part" "tcp port $PORT" 2> "$WORK/capture.tcpdump.err" &
        CAP_PID=$!
        wait_ready tcpdump "$WORK/capture.tcpdump.err"
        t0=$(date +%s.%N)
        bench_load 50 "$N" 1 16 > "$WORK/capture.load"
        t1=$(date +%s.%N)
        sleep 1
        stop_capture
        server_cmdstats > "$WORK/capture.cmdstats"
        drops=$(tcpdump_count "$WORK/capture.tcpdump.err" "dropped by kernel")
        captured=$(tcpdump_count "$WORK/capture.tcpdump.err" "captured")
        received=$(tcpdump_count "$WORK/capture.tcpdump.err" "received by filter")
        log "  $captured packets captured, $received received by filter, $drops dropped by kernel"
        if [ "$drops" -eq 0 ] || [ "$try" -eq 3 ]; then break; fi
        log "  tcpdump dropped packets: trying again for a drop-free capture"
    done
    mv "$CAP.part" "$CAP"
    {
        echo "CAP_N=$N"
        echo "CAP_PORT=$PORT"
        echo "CAP_TRIES=$try"
        echo "CAP_PACKETS=$captured"
        echo "CAP_RECEIVED=$received"
        echo "CAP_DROPS=$drops"
        echo "CAP_LOAD_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
    } > "$META"
fi
# shellcheck disable=SC1090
. "$META"
CAP_BYTES=$(stat -c %s "$CAP")
[ "$CAP_PACKETS" -ge "$MIN_PACKETS" ] || log "warning: only $CAP_PACKETS packets (< $MIN_PACKETS): raise RT_BENCH_N"

# =====================================================================================
# 2. Offline
# =====================================================================================
log "offline: warming the page cache"
cat "$CAP" > /dev/null

# The floor and resptrace take turns, so that a burst of load from the machine's other users
# hits both alike.
TRACE=$WORK/offline.rtrace
FW=() FC=() RW=() RC=() RT_RSS=""
for ((run = 1; run <= RUNS; run++)); do
    log "offline, run $run of $RUNS: tcpdump -r CAP -w /dev/null (the floor)"
    time_median 1 /dev/null tcpdump -r "$CAP" -w /dev/null
    FW+=("$MED_WALL") FC+=("$MED_CPU")
    log "offline, run $run of $RUNS: resptrace record -r CAP -p $CAP_PORT -w T -q"
    time_median 1 "$WORK/offline.json" "$RT" record -r "$CAP" -p "$CAP_PORT" -w "$TRACE" -q --json
    RW+=("$MED_WALL") RC+=("$MED_CPU")
    if [ -n "$MAX_RSS" ] && { [ -z "$RT_RSS" ] || [ "$MAX_RSS" -gt "$RT_RSS" ]; }; then RT_RSS=$MAX_RSS; fi
done
FLOOR_WALL=$(median "${FW[@]}") FLOOR_CPU=$(median "${FC[@]}")
RT_WALL=$(median "${RW[@]}") RT_CPU=$(median "${RC[@]}")
TRACE_BYTES=$(stat -c %s "$TRACE")
"$RT" info --json "$TRACE" > "$WORK/offline.info" || die "resptrace info failed on $TRACE"
RT_PACKETS=$(jq .packets "$WORK/offline.json")
RT_REQ=$(jq .requests "$WORK/offline.info")
RT_REP=$(jq .replies "$WORK/offline.info")
RT_GAPS=$(jq .gaps "$WORK/offline.info")
RT_CONNS=$(jq .connections "$WORK/offline.info")

log "offline: trace with --payloads (reply bytes kept; not timed)"
"$RT" record -r "$CAP" -p "$CAP_PORT" -w "$WORK/offline-payloads.rtrace" -q --payloads > /dev/null
TRACE_PL_BYTES=$(stat -c %s "$WORK/offline-payloads.rtrace")
rm -f "$WORK/offline-payloads.rtrace"

log "offline: per-command counts of the trace"
trace_cmdstats "$TRACE" > "$WORK/offline.trace-cmdstats"
if compare_stats "$WORK/capture.cmdstats" "$WORK/offline.trace-cmdstats" > "$WORK/offline.compare"; then
    COUNTS_OK=1
else
    COUNTS_OK=0
fi

TSHARK_WALL="" TSHARK_CPU="" TSHARK_RSS="" TSHARK_NOTE=""
if [ "${RT_BENCH_NO_TSHARK:-0}" = 1 ]; then
    TSHARK_NOTE="skipped (RT_BENCH_NO_TSHARK=1)"
elif ! command -v tshark > /dev/null; then
    log "tshark is missing: installing it with apt-get"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    if ! { echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2> /dev/null || true
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tshark > "$WORK/tshark-install.log" 2>&1; }; then
        TSHARK_NOTE="tshark could not be installed (see $WORK/tshark-install.log): ratio skipped"
        log "$TSHARK_NOTE"
    fi
fi
if [ -z "$TSHARK_NOTE" ] && command -v tshark > /dev/null; then
    log "offline: tshark -r CAP -d tcp.port==$CAP_PORT,resp -Y resp -T fields -e resp.bulk_string.value ($TSHARK_RUNS run(s); minutes)"
    time_median "$TSHARK_RUNS" /dev/null tshark -r "$CAP" -d "tcp.port==$CAP_PORT,resp" -Y resp -T fields -e resp.bulk_string.value
    TSHARK_WALL=$MED_WALL TSHARK_CPU=$MED_CPU TSHARK_RSS=$MAX_RSS
fi

if [ ! -s "$WORK/capture.zstd19" ]; then
    log "offline: zstd -19 -T2 of the capture (once; cached in $WORK/capture.zstd19)"
    TIMEFORMAT='%3R'
    { time zstd -q -19 -T2 -c "$CAP" | wc -c > "$WORK/capture.zstd19.part"; } 2> "$WORK/capture.zstd19.time"
    mv "$WORK/capture.zstd19.part" "$WORK/capture.zstd19"
fi
if [ ! -s "$WORK/capture.zstd3" ]; then
    zstd -q -3 -T1 -c "$CAP" | wc -c > "$WORK/capture.zstd3"
fi
ZSTD19_BYTES=$(cat "$WORK/capture.zstd19")
ZSTD3_BYTES=$(cat "$WORK/capture.zstd3")

# A short profile when resptrace misses its target against the floor
PERF_TOP=""
if ! le "$(ratio "$RT_WALL" "$FLOOR_WALL")" "$TARGET_FLOOR_RATIO" && [ "${RT_BENCH_NO_PERF:-0}" != 1 ] &&
    command -v perf > /dev/null; then
    log "offline: resptrace misses ${TARGET_FLOOR_RATIO}x the floor: perf record -e cpu-clock -g of one run"
    if perf record -q -e cpu-clock -g -o "$WORK/perf.data" -- \
        "$RT" record -r "$CAP" -p "$CAP_PORT" -w "$WORK/perf.rtrace" -q > /dev/null 2> "$WORK/perf.err"; then
        PERF_TOP=$(perf report -i "$WORK/perf.data" --no-children --stdio --sort dso,symbol 2> /dev/null |
            grep -E '^ +[0-9.]+%' | head -15 || true)
    else
        PERF_TOP="    (perf record failed: see $WORK/perf.err)"
    fi
    rm -f "$WORK/perf.rtrace"
fi

# =====================================================================================
# 3. Live
# =====================================================================================
LIVE_ROWS=() LIGHT_OK=0 LIVE_DONE=0
declare -A RT_DROPS_SUM TD_DROPS_SUM RT_GAPS_SUM
if [ "${RT_BENCH_NO_LIVE:-0}" != 1 ]; then
    LIVE_DONE=1
    mkdir -p "$WORK/live"
    # live_run TOOL MIB CLIENTS N PIPELINES...: one capture of one load; sets L_ROW (a result
    # row), L_DROPS, L_GAPS, L_REQ, L_WANT
    live_run() {
        local tool=$1 mib=$2 clients=$3 n=$4 out err t0 t1 cpu
        shift 4
        reset_server
        if [ "$tool" != resptrace ]; then
            local imm=()
            [ "$tool" = tcpdump-imm ] && imm=(--immediate-mode)
            out=$WORK/live/l.pcap err=$WORK/live/tcpdump.err
            tcpdump "${imm[@]}" -i lo -B $((mib * 1024)) -s 0 -Z root -w "$out" "port $PORT" 2> "$err" &
            CAP_PID=$!
            wait_ready tcpdump "$err"
        else
            out=$WORK/live/l.rtrace err=$WORK/live/resptrace.err
            rm -f "$out"
            "$RT" record -q -i lo -p "$PORT" -B "$mib" -w "$out" --json > "$WORK/live/resptrace.json" 2> "$err" &
            CAP_PID=$!
            wait_ready resptrace "$out"
        fi
        t0=$(date +%s.%N)
        bench_load "$clients" "$n" "$@" > "$WORK/live/load"
        t1=$(date +%s.%N)
        sleep 1
        cpu=$(proc_cpu "$CAP_PID")
        stop_capture
        server_cmdstats > "$WORK/live/server.cmdstats"
        L_WANT=$(sum_stats "$WORK/live/server.cmdstats")
        if [ "$tool" != resptrace ]; then
            L_DROPS=$(tcpdump_count "$err" "dropped by kernel")
            L_PKTS=$(tcpdump_count "$err" "captured")
            L_GAPS="-" L_REQ="-"
        else
            L_DROPS=$(jq .kernel_drops "$WORK/live/resptrace.json")
            L_PKTS=$(jq .packets "$WORK/live/resptrace.json")
            L_GAPS=$(jq .gaps "$WORK/live/resptrace.json")
            L_REQ=$(jq .requests "$WORK/live/resptrace.json")
        fi
        L_ROW=$(printf "  %-11s -B %3s MiB  load %5.1f s  packets %9s  kernel drops %7s  gaps %5s  requests %8s / server %8s  cpu %6s s\n" \
            "$tool" "$mib" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$L_PKTS" "$L_DROPS" "$L_GAPS" "$L_REQ" "$L_WANT" "$cpu")
    }

    for mib in $LIVE_BUFS; do
        RT_DROPS_SUM[$mib]=0 TD_DROPS_SUM[$mib]=0 RT_GAPS_SUM[$mib]=0
        for ((r = 1; r <= LIVE_RUNS; r++)); do
            for tool in $LIVE_TOOLS; do
                log "live, heavy load, -B $mib MiB, run $r: $tool"
                live_run "$tool" "$mib" 50 "$N" 1 16
                LIVE_ROWS+=("$L_ROW")
                echo "$L_ROW" >&2
                if [ "$tool" = tcpdump-imm ]; then
                    :
                elif [ "$tool" = tcpdump ]; then
                    TD_DROPS_SUM[$mib]=$((TD_DROPS_SUM[$mib] + L_DROPS))
                else
                    RT_DROPS_SUM[$mib]=$((RT_DROPS_SUM[$mib] + L_DROPS))
                    RT_GAPS_SUM[$mib]=$((RT_GAPS_SUM[$mib] + L_GAPS))
                fi
            done
        done
    done
    rm -f "$WORK/live/l.pcap"

    log "live, light load: redis-benchmark -c 10 -P 1 -n $LIGHT_N, resptrace -B 256"
    live_run resptrace 256 10 "$LIGHT_N" 1
    LIGHT_ROW=$L_ROW
    echo "$LIGHT_ROW" >&2
    LIGHT_DROPS=$L_DROPS LIGHT_GAPS=$L_GAPS
    trace_cmdstats "$WORK/live/l.rtrace" > "$WORK/live/trace.cmdstats"
    if compare_stats "$WORK/live/server.cmdstats" "$WORK/live/trace.cmdstats" > "$WORK/light.compare" &&
        [ "$LIGHT_DROPS" -eq 0 ] && [ "$LIGHT_GAPS" -eq 0 ]; then
        LIGHT_OK=1
    fi
fi

# =====================================================================================
# Report
# =====================================================================================
echo
echo "== resptrace record benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $("$RT" version 2>/dev/null | head -1))"
echo
echo "capture: $CAP"
echo "  load: redis-benchmark -c 50 -r 100000 -d 100 -n $CAP_N -t $TESTS, -P 1 then -P 16 ($CAP_LOAD_S s under tcpdump)"
echo "  packets $(num "$CAP_PACKETS"), bytes $(num "$CAP_BYTES"); tcpdump -B 262144: $(num "$CAP_RECEIVED") received by filter, $CAP_DROPS dropped by kernel (try $CAP_TRIES of up to 3)"
if [ -s "$WORK/capture.load" ]; then sed 's/^/ /' "$WORK/capture.load"; fi
echo
echo "offline (median of $RUNS, the floor and resptrace taking turns; tshark: $TSHARK_RUNS run(s); wall s / cpu s):"
printf "  %-44s %8s %8s %s\n" "tcpdump -r CAP -w /dev/null (floor)" "$FLOOR_WALL" "$FLOOR_CPU" "(runs: ${FW[*]})"
printf "  %-44s %8s %8s %s\n" "resptrace record -r CAP -p $CAP_PORT -w T -q" "$RT_WALL" "$RT_CPU" "(runs: ${RW[*]})${RT_RSS:+ max RSS $RT_RSS KiB}"
if [ -n "$TSHARK_WALL" ]; then
    printf "  %-44s %8s %8s %s\n" "tshark -d tcp.port==$CAP_PORT,resp -Y resp -T fields" "$TSHARK_WALL" "$TSHARK_CPU" "${TSHARK_RSS:+max RSS $TSHARK_RSS KiB}"
else
    echo "  tshark: $TSHARK_NOTE"
fi
echo "  resptrace: $(num "$RT_PACKETS") packets read, $(num "$RT_CONNS") connections, $(num "$RT_REQ") requests, $(num "$RT_REP") replies, $RT_GAPS gaps"
echo "  rates: floor $(awk -v p="$CAP_PACKETS" -v t="$FLOOR_WALL" 'BEGIN { printf "%.2fM", p / t / 1e6 }') packets/s; resptrace $(awk -v p="$CAP_PACKETS" -v t="$RT_WALL" -v b="$CAP_BYTES" 'BEGIN { printf "%.2fM packets/s, %.0f MB/s of pcap", p / t / 1e6, b / t / 1e6 }')"
if [ -n "$PERF_TOP" ]; then
    echo "  perf record -e cpu-clock -g of resptrace record -r (self time, top 15):"
    echo "$PERF_TOP"
fi
echo
echo "sizes (bytes):"
printf "  %-44s %14s\n" "capture (pcap)" "$(num "$CAP_BYTES")"
printf "  %-44s %14s\n" "zstd -3 of the capture" "$(num "$ZSTD3_BYTES")"
printf "  %-44s %14s\n" "zstd -19 of the capture" "$(num "$ZSTD19_BYTES")"
printf "  %-44s %14s  (%s of zstd -19)\n" "trace (default: requests, reply hashes)" "$(num "$TRACE_BYTES")" "$(ratio "$TRACE_BYTES" "$ZSTD19_BYTES")x"
printf "  %-44s %14s  (%s of zstd -19)\n" "trace with --payloads (reply bytes too)" "$(num "$TRACE_PL_BYTES")" "$(ratio "$TRACE_PL_BYTES" "$ZSTD19_BYTES")x"
echo
echo "per-command counts, offline trace vs the server's INFO commandstats (capture dropped $CAP_DROPS packets):"
cat "$WORK/offline.compare"
if [ "$LIVE_DONE" = 1 ]; then
    echo
    echo "live, same heavy load, tools taking turns (kernel drops as each tool reports them; on lo the kernel counts each packet twice):"
    printf '%s\n' "${LIVE_ROWS[@]}"
    echo
    echo "live, light load (redis-benchmark -c 10 -P 1 -n $LIGHT_N -t $TESTS), resptrace -B 256:"
    echo "$LIGHT_ROW"
    cat "$WORK/light.compare"
fi

FLOOR_R=$(ratio "$RT_WALL" "$FLOOR_WALL")
FLOOR_RC=$(ratio "$RT_CPU" "$FLOOR_CPU")
SIZE_R=$(ratio "$TRACE_BYTES" "$ZSTD19_BYTES")
echo
echo "== summary"
printf "| %-52s | %-28s | %-12s | %-7s |\n" "measure" "value" "target" "verdict"
printf "| %-52s | %-28s | %-12s | %-7s |\n" "----" "----" "----" "----"
printf "| %-52s | %-28s | %-12s | %-7s |\n" "capture packets" "$(num "$CAP_PACKETS")" ">= 1,000,000" "$(verdict le "$MIN_PACKETS" "$CAP_PACKETS")"
printf "| %-52s | %-28s | %-12s | %-7s |\n" "resptrace / tcpdump floor, wall" "${FLOOR_R}x ($RT_WALL / $FLOOR_WALL s)" "<= ${TARGET_FLOOR_RATIO}x" "$(verdict le "$FLOOR_R" "$TARGET_FLOOR_RATIO")"
printf "| %-52s | %-28s | %-12s | %-7s |\n" "resptrace / tcpdump floor, cpu" "${FLOOR_RC}x ($RT_CPU / $FLOOR_CPU s)" "(info)" ""
if [ -n "$TSHARK_WALL" ]; then
    TSHARK_R=$(ratio "$TSHARK_WALL" "$RT_WALL")
    printf "| %-52s | %-28s | %-12s | %-7s |\n" "tshark / resptrace, wall" "${TSHARK_R}x ($TSHARK_WALL / $RT_WALL s)" ">= ${TARGET_TSHARK_RATIO}x" "$(verdict le "$TARGET_TSHARK_RATIO" "$TSHARK_R")"
    # tshark runs for tens of seconds, so other users' load inflates its wall time more than
    # resptrace's: the cpu ratio is the steadier figure.
    printf "| %-52s | %-28s | %-12s | %-7s |\n" "tshark / resptrace, cpu" "$(ratio "$TSHARK_CPU" "$RT_CPU")x ($TSHARK_CPU / $RT_CPU s)" "(info)" ""
else
    printf "| %-52s | %-28s | %-12s | %-7s |\n" "tshark / resptrace, wall" "skipped" ">= ${TARGET_TSHARK_RATIO}x" "n/a"
fi
printf "| %-52s | %-28s | %-12s | %-7s |\n" "trace / zstd -19 of capture, size" "${SIZE_R}x" "<= 1x" "$(verdict le "$SIZE_R" 1)"
printf "| %-52s | %-28s | %-12s | %-7s |\n" "offline counts = INFO commandstats" "$([ "$COUNTS_OK" = 1 ] && echo equal || echo differ) (capture drops $CAP_DROPS)" "equal" "$(verdict [ "$COUNTS_OK" = 1 ])"
if [ "$LIVE_DONE" = 1 ]; then
    for mib in $LIVE_BUFS; do
        printf "| %-52s | %-28s | %-12s | %-7s |\n" "live -B $mib MiB: kernel drops, resptrace vs tcpdump" "${RT_DROPS_SUM[$mib]} vs ${TD_DROPS_SUM[$mib]} ($LIVE_RUNS runs each)" "(info)" ""
    done
    printf "| %-52s | %-28s | %-12s | %-7s |\n" "live light load: drops, gaps, counts = server" "drops $LIGHT_DROPS, gaps $LIGHT_GAPS, $([ "$LIGHT_OK" = 1 ] && echo equal || echo "counts differ?")" "0, 0, equal" "$(verdict [ "$LIGHT_OK" = 1 ])"
fi
