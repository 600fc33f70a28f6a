#!/usr/bin/env bash
# test_replay_alloc.sh: a replay in its steady state allocates nothing per request (issue 17).
# Two live recordings of the same workload, one three times as long as the other: redis-benchmark
# -P 16 with 50 clients over 1,000 keys (SET, then GET), so that hundreds of requests are in
# flight and many of them read the same keys at once (the order, --sync keys, keeps a key's open
# reads). Each is replayed --speed max into a fresh redis-server with the allocation counter of
# alloc_fail.c preloaded (the oracle: every malloc, calloc, realloc and aligned allocation of
# the process, counted outside resptrace). What the longer replay allocates beyond the shorter
# is what its 80,000 further requests cost: it must stay under one allocation per 100 requests
# (the key's block of open reads, a malloc and a free each time a key had a second read open,
# made it 0.28 per request). Without a sanitizer only: the sanitizers' allocators cannot be
# preloaded over (exit 77: skipped).
. "$(dirname "$0")/lib.sh"
alloc_shim

for n in 20000 60000; do
    start_redis_x; R=$RX_PORT # (a fresh one each: the replays start from an empty server too)
    start_recorder "$R" "$TMP/p$n.rtrace"; check_eq "trace of $n per test created" 0 $?
    redis-benchmark -h 127.0.0.1 -p "$R" -c 50 -n "$n" -r 1000 -d 16 -t set,get -P 16 -q > /dev/null
    stop_recorder; check_eq "recorder of $n per test exits 0" 0 $?
done
# the requests of each trace the replay sends (redis-benchmark's CONFIG GETs are skipped)
for n in 20000 60000; do
    start_redis_x; T=$RX_PORT
    env LD_PRELOAD="$TMP/alloc_fail.so" RT_COUNT_ALLOC=1 timeout 60 "$RT" replay "$TMP/p$n.rtrace" \
        --target "redis://127.0.0.1:$T" --speed max -q --json="$TMP/r$n.json" > /dev/null 2> "$TMP/r$n.err"
    check_eq "replay of $n per test exits 0" 0 $?
    want=$(( $(jq .requests "$TMP/r$n.json") - $(jq .skipped "$TMP/r$n.json") ))
    check_eq "replay of $n per test: every request answered" "$want" "$(jq .ops "$TMP/r$n.json")"
    check_eq "replay of $n per test: at least the benchmark's requests" true \
        "$([ "$want" -ge $((2 * n)) ] && echo true || echo false)"
    check_eq "replay of $n per test: no reply differs from the recording's" 0 \
        "$(jq '.divergence.misses + .divergence.new_errors + .divergence.type_changed' "$TMP/r$n.json")"
    eval "A$n=\$(sed -n 's/^alloc calls: //p' \"\$TMP/r$n.err\")"
    eval "N$n=\$want"
done
echo "allocations: $A20000 for $N20000 requests, $A60000 for $N60000"
extra=$((A60000 - A20000)) more=$((N60000 - N20000))
echo "the further $more requests: $extra allocations"
check_eq "fewer than one allocation per 100 further requests ($extra for $more)" true \
    "$([ $((extra * 100)) -lt "$more" ] && echo true || echo false)"
finish
