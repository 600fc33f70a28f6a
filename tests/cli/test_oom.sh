#!/usr/bin/env bash
# test_oom.sh: out of memory, one allocation at a time (issue 15: the libraries never abort).
# `resptrace replay` of a shipped trace into a redis-server started here, with the N-th
# allocation of the process made to fail (alloc_fail.c, preloaded), for N spread over every
# allocation the run makes (counted first, in a run where none fails). Each run must end by
# itself: no signal (no abort, no crash), no hang (a timeout); a run that says "out of memory"
# exits non-zero and says it in one line; some of those failures must be the replay engine's
# own (inside its workers), so the test reaches past the set-up. Without a sanitizer only: the
# sanitizers' allocators cannot be preloaded over (exit 77: skipped).
. "$(dirname "$0")/lib.sh"
alloc_shim
start_redis_x; P=$RX_PORT
TRACE=$SRC/traces/sample-cache.rtrace
# run [VAR=value...]: the replay with the shim and the variables given
run() {
    env LD_PRELOAD="$TMP/alloc_fail.so" "$@" timeout 30 "$RT" replay "$TRACE" \
        --target "redis://127.0.0.1:$P" --speed max -q --json="$TMP/o.json" > "$TMP/o.out" 2> "$TMP/o.err"
}
run RT_COUNT_ALLOC=1
check_eq "the run without a failure: exit 0" 0 $?
TOTAL=$(sed -n 's/^alloc calls: //p' "$TMP/o.err")
check_eq "the run without a failure: every request answered" 2000 "$(jq .ops "$TMP/o.json")"
echo "allocations in one run: $TOTAL"
STEP=$(( TOTAL / 250 > 0 ? TOTAL / 250 : 1 ))
runs=0 signals=0 hangs=0 oom=0 oom_zero=0 oom_lines=0 engine=0 ok=0
for ((n = 1; n <= TOTAL + STEP; n += STEP)); do
    run RT_FAIL_ALLOC="$n"
    rc=$?
    runs=$((runs + 1))
    if [ "$rc" = 124 ]; then
        hangs=$((hangs + 1)); echo "N=$n: hung"
    elif [ "$rc" -gt 128 ]; then
        signals=$((signals + 1)); echo "N=$n: killed by signal $((rc - 128)): $(tail -n 2 "$TMP/o.err" | tr '\n' ' ')"
    fi
    if grep -q "out of memory" "$TMP/o.err"; then
        oom=$((oom + 1))
        [ "$rc" = 0 ] && { oom_zero=$((oom_zero + 1)); echo "N=$n: said out of memory, exit 0"; }
        [ "$(grep -c "out of memory" "$TMP/o.err")" = 1 ] && oom_lines=$((oom_lines + 1))
        # the engine's own: the run started (its workers made requests) before it failed
        grep -q "out of memory while replaying" "$TMP/o.err" && engine=$((engine + 1))
    fi
    [ "$rc" = 0 ] && ok=$((ok + 1))
done
echo "runs $runs: exit 0 $ok, out of memory $oom (in the replay engine $engine), signals $signals, hangs $hangs"
check_eq "no run killed by a signal (abort, crash)" 0 "$signals"
check_eq "no run hung" 0 "$hangs"
check_eq "every run that ran out of memory exited non-zero" 0 "$oom_zero"
check_eq "and said so once" "$oom" "$oom_lines"
check_eq "some runs ran out of memory" true "$([ "$oom" -gt 0 ] && echo true || echo false)"
check_eq "some of them in the replay engine's workers" true "$([ "$engine" -gt 0 ] && echo true || echo false)"
finish
