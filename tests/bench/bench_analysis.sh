#!/usr/bin/env bash
# bench_analysis.sh: the analysis commands' benchmark: `resptrace stat` and `resptrace hotkeys`
# (exact, and --approx) on a 10-million request trace, each pinned to one core, in requests
# per second of wall time, against an anchor measured in the same run on the same trace.
#
# Usage:  tests/bench/bench_analysis.sh [RESPTRACE [BASELINE]]
#   RESPTRACE  the resptrace binary (default ./build/resptrace); the script does not build it.
#              The trace generator (tests/bench/make_big_trace.c) is taken from the build
#              directory beside RESPTRACE when it was built there, else compiled with gcc.
#   BASELINE   another resptrace binary (an earlier build: `git archive OLD | tar -x -C DIR`,
#              then cmake) measured in the same rounds, each of its runs right after the same
#              command of RESPTRACE, so that both see the same load: its table is printed too,
#              with RESPTRACE's time relative to it, and whether the two wrote the same bytes.
#              A baseline of another trace format (resptrace --version) reads a trace of the
#              same requests written by its own make_big_trace (in its build directory), so
#              that each build reads what its own recorder writes.
# Environment (all optional):
#   RT_BENCH_DIR        work directory (default /tmp/rt-bench); the trace is kept there and
#                       reused (it is the same file bench_replay.sh's memory part uses)
#   RT_BENCH_BIG_N      requests of the trace (default 10000000)
#   RT_BENCH_RUNS       rounds; every command runs once per round, the median counts (3)
#   RT_BENCH_CPU        the core everything is pinned to (default 1)
#
# The trace: make_big_trace's 50 connections doing SET/GET 1:1 over 100000 keys with
# 100-byte values, every request paired with its reply (20 million events).
#
# The anchor is `resptrace info --verify TRACE`: it opens the same file with the same reader,
# decompresses and checksums every chunk and decodes every event into its struct, and does
# nothing with them. That is the floor of any analysis of a trace (an analysis cannot read the
# events faster than the reader hands them out), so anchor/command isolates what the analysis
# itself costs. A raw `zstd -d` of the file would not be fair: the trace is not one zstd
# stream, and decoding events out of the decompressed chunks is work every command must do.
# `resptrace cat --format resp > /dev/null` would not be either: it adds formatting and
# writing that no analysis does. The anchor's own rate is printed, so the reader's share of
# each command's time can be read off.
#
# Target: stat, hotkeys and hotkeys --approx each process at least 5,000,000 requests/s of a
# trace on one core. Every figure is the median of RUNS rounds in which the four commands take
# turns (the machine is shared and noisy: only ratios measured in one run mean much).
# Output: one line per command: median seconds, requests/s, ratio to the anchor, PASS/MISS.
set -euo pipefail
export LC_ALL=C

RT=${1:-./build/resptrace}
BASE=${2:-}
WORK=${RT_BENCH_DIR:-/tmp/rt-bench}
BIG_N=${RT_BENCH_BIG_N:-10000000}
RUNS=${RT_BENCH_RUNS:-3}
CPU=${RT_BENCH_CPU:-1}
CLIENTS=50
TARGET_RPS=5000000

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
die() { echo "bench_analysis: $*" >&2; exit 2; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -x "$RT" ] || die "no resptrace binary at $RT (build it, or pass its path as the first argument)"
RT=$(realpath "$RT")
if [ -n "$BASE" ]; then
    [ -x "$BASE" ] || die "no baseline binary at $BASE"
    BASE=$(realpath "$BASE")
fi
for t in jq taskset awk; do command -v "$t" > /dev/null || die "$t is missing"; done
taskset -c "$CPU" true 2> /dev/null || die "cannot pin to core $CPU (set RT_BENCH_CPU)"
mkdir -p "$WORK"
WORK=$(realpath "$WORK")

# ---- the trace (shared with bench_replay.sh: same generator, same name) ---------------------
GEN=""
for g in "${RT_BENCH_GEN:-}" "$(dirname "$RT")/tests/make_big_trace" "$(dirname "$RT")/make_big_trace"; do
    if [ -n "$g" ] && [ -x "$g" ] && [ "$g" -nt "$SRC/tests/bench/make_big_trace.c" ]; then GEN=$g; break; fi
done
if [ -z "$GEN" ]; then
    GEN=$WORK/make_big_trace
    if [ ! -x "$GEN" ] || [ "$SRC/tests/bench/make_big_trace.c" -nt "$GEN" ]; then
        log "compiling make_big_trace with gcc"
        command -v gcc > /dev/null && command -v pkg-config > /dev/null ||
            die "gcc and pkg-config are needed to build make_big_trace"
        # the whole format library but its command table generator (which files the writer
        # needs changes with the format)
        FMT_SRC=()
        for f in "$SRC"/format/*.c; do
            [ "$(basename "$f")" = gen_cmdtable.c ] || FMT_SRC+=("$f")
        done
        # shellcheck disable=SC2046
        gcc -std=gnu11 -O2 -I"$SRC/format" -I"$SRC/format/include" -o "$GEN" "$SRC/tests/bench/make_big_trace.c" \
            "${FMT_SRC[@]}" $(pkg-config --libs libzstd libxxhash) -lpthread ||
            die "could not build make_big_trace"
    fi
fi
fmt_of() { "$1" --version | sed -n 's/.*trace format \([0-9.]*\).*/\1/p'; }
FMT=$(fmt_of "$RT")
# trace_for BIN GEN PATH: PATH, written by GEN unless it holds BIG_N requests in BIN's format
trace_for() {
    if [ -s "$3" ] && "$1" info --json "$3" > "$WORK/big.json" 2> /dev/null &&
        [ "$(jq .requests "$WORK/big.json")" = "$BIG_N" ] &&
        [ "$(jq -r .format_version "$WORK/big.json")" = "$(fmt_of "$1")" ]; then
        log "reusing $3"
    else
        log "writing $3 ($BIG_N requests, format $(fmt_of "$1"))"
        rm -f "$3"
        "$2" "$3.tmp" "$BIG_N" "$CLIENTS" >&2
        mv "$3.tmp" "$3"
    fi
}
BIG=$WORK/big-$BIG_N.rtrace
trace_for "$RT" "$GEN" "$BIG"
BIG_BASE=$BIG
if [ -n "$BASE" ] && [ "$(fmt_of "$BASE")" != "$FMT" ]; then
    BGEN=$(dirname "$BASE")/tests/make_big_trace
    [ -x "$BGEN" ] || die "the baseline writes format $(fmt_of "$BASE"), and $BGEN is missing (build it)"
    BIG_BASE=$WORK/big-$BIG_N-f$(fmt_of "$BASE").rtrace
    trace_for "$BASE" "$BGEN" "$BIG_BASE"
    cat "$BIG_BASE" > /dev/null
fi
REQS=$("$RT" info --json "$BIG" | jq .requests)
[ "$REQS" -gt 0 ] || die "the trace has no requests"
SIZE=$(stat -c %s "$BIG")
log "trace: $REQS requests, $SIZE bytes on disk"
cat "$BIG" > /dev/null # into the page cache: every command reads it from memory

# ---- the rounds -----------------------------------------------------------------------------
NAMES=(anchor stat hotkeys "hotkeys --approx")
CMDS=("info --verify --json" "stat --json" "hotkeys --json" "hotkeys --approx --json")
BINS=(new)
[ -n "$BASE" ] && BINS=(new base)
declare -A TIMES=() SAME=()
for r in $(seq 1 "$RUNS"); do
    for i in "${!CMDS[@]}"; do
        for b in "${BINS[@]}"; do
            bin=$RT trace=$BIG
            [ "$b" = base ] && bin=$BASE trace=$BIG_BASE
            # shellcheck disable=SC2086
            t0=$(date +%s%N)
            taskset -c "$CPU" "$bin" ${CMDS[$i]} "$trace" > "$WORK/analysis.$b" ||
                die "$bin ${CMDS[$i]} failed"
            t1=$(date +%s%N)
            # each command counted every request: it did the work it is timed for
            [ "$(jq .requests "$WORK/analysis.$b")" = "$REQS" ] ||
                die "$bin ${CMDS[$i]} counted another number of requests"
            TIMES[$b$i]="${TIMES[$b$i]:-} $(((t1 - t0) / 1000))"
            log "round $r: $b: ${NAMES[$i]}: $(awk -v u=$(((t1 - t0) / 1000)) 'BEGIN { printf "%.3f s", u / 1e6 }')"
        done
        if [ -n "$BASE" ] && [ "$r" = 1 ]; then
            # info --verify names its binary's version; the analyses' documents must be equal
            # (but the trace's name, when each read its own format's)
            cmp -s <(jq -S 'del(.file)' "$WORK/analysis.new") <(jq -S 'del(.file)' "$WORK/analysis.base") &&
                SAME[$i]=identical || SAME[$i]=differs
        fi
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# table BIN TITLE: the figures of one binary
table() {
    local b=$1 i us anchor base_us size=$SIZE
    [ "$b" = base ] && size="$(stat -c %s "$BIG_BASE") bytes, format $(fmt_of "$BASE")"
    [ "$b" = new ] && size="$SIZE bytes, format $FMT"
    echo
    echo "$2: $REQS requests ($size), pinned to core $CPU, median of $RUNS"
    if [ -n "$BASE" ] && [ "$b" = new ]; then
        printf '%-20s %10s %14s %10s %8s %9s %10s\n' command seconds "requests/s" "vs anchor" target \
            "vs base" output
    else
        printf '%-20s %10s %14s %10s %8s\n' command seconds "requests/s" "vs anchor" target
    fi
    anchor=$(echo "${TIMES[${b}0]}" | median)
    for i in "${!CMDS[@]}"; do
        us=$(echo "${TIMES[$b$i]}" | median)
        base_us=0
        [ -n "$BASE" ] && [ "$b" = new ] && base_us=$(echo "${TIMES[base$i]}" | median)
        awk -v n="${NAMES[$i]}" -v us="$us" -v a="$anchor" -v r="$REQS" -v t="$TARGET_RPS" \
            -v i="$i" -v bu="$base_us" -v same="${SAME[$i]:-}" 'BEGIN {
            rps = r / (us / 1e6);
            verdict = i == 0 ? "-" : (rps >= t ? "PASS" : "MISS");
            printf "%-20s %10.3f %14.0f %9.2fx %8s", n, us / 1e6, rps, a / us, verdict
            if (bu > 0)
                printf " %8.2fx %10s", bu / us, i == 0 ? "-" : same
            printf "\n" }'
    done
}
table new "resptrace analysis benchmark"
[ -n "$BASE" ] && table base "baseline ($BASE), the same rounds"
echo "target: stat and hotkeys >= $TARGET_RPS requests/s on one core; vs anchor = anchor time / command time"
[ -n "$BASE" ] && echo "vs base = baseline time / resptrace time (> 1: faster); output: the --json documents compared"
rm -f "$WORK/analysis.new" "$WORK/analysis.base"
