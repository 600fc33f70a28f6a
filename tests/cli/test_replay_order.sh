#!/usr/bin/env bash
# test_replay_order.sh: --sync keys keeps the recorded order between requests of different
# connections that touch the same keys (issue 13). A workload of phases run one after another on
# fresh connections (SETs, SETs of some keys again, RPUSH, LPOP, INCR, DEL) and then 20 concurrent
# clients writing distinct values to 50 hot keys is recorded live; replayed into fresh servers the
# dataset's DEBUG DIGEST equals the original's at speed 1, at --speed max and with --threads 2, and
# (key count and DEBUG DIGEST-VALUE of every key) in a 3-primary cluster. With --sync off at
# --speed max the phases overlap and the digest differs, so the check measures something.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_redis_x --enable-debug-command local; A=$RX_PORT
start_recorder "$A" "$TMP/o.rtrace"; check_eq "trace created" 0 $?
# phases: each a new connection, each starting after the previous one ended
for i in $(seq 1 300); do echo "SET k:$i first-$i"; done | rcli "$A" > /dev/null
for i in $(seq 1 300 | awk 'NR % 3 == 0'); do echo "SET k:$i second-$i"; done | rcli "$A" > /dev/null
for i in $(seq 1 400); do echo "RPUSH q item-$i"; done | rcli "$A" > /dev/null
for i in $(seq 1 250); do echo "LPOP q"; done | rcli "$A" > /dev/null
for i in $(seq 1 300); do echo "INCRBY n:$(( i % 7 )) $i"; done | rcli "$A" > /dev/null
for i in $(seq 1 300 | awk 'NR % 5 == 0'); do echo "DEL k:$i"; done | rcli "$A" > /dev/null
for i in $(seq 1 100); do echo "APPEND log:$(( i % 3 )) ,$i"; done | rcli "$A" > /dev/null
# 20 concurrent clients, distinct values on 50 hot keys: the final values depend on the order
# the server executed them in, which the recording saw
CLIENTS=""
for c in $(seq 1 20); do
    (for n in $(seq 1 100); do echo "SET hot:$(( (c * 7 + n * 13) % 50 )) c$c-$n"; done |
        rcli "$A" > /dev/null) &
    CLIENTS="$CLIENTS $!"
done
# shellcheck disable=SC2086
wait $CLIENTS # (not the recorder, which runs in the background too)
sleep 0.3
stop_recorder; check_eq "recorder exit" 0 $?
[ -n "${KEEP_TRACE:-}" ] && cp "$TMP/o.rtrace" "$KEEP_TRACE"
WANT=$(rcli "$A" DEBUG DIGEST)
KEYS=$(rcli "$A" DBSIZE)
echo "original: $KEYS keys, digest $WANT"

# digest_after NAME ARGS...: replays into a fresh server; prints its DEBUG DIGEST
digest_after() {
    local name=$1
    shift
    start_redis_x --enable-debug-command local
    timeout 120 "$RT" replay "$TMP/o.rtrace" --target "redis://127.0.0.1:$RX_PORT" \
        --json="$TMP/$name.json" -q "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" ||
        echo "replay $name failed: $(tail -n 1 "$TMP/$name.err")" >&2
    rcli "$RX_PORT" DEBUG DIGEST
    kill "$RX_PID"
}
check_eq "--speed 1: same digest" "$WANT" "$(digest_after s1 --speed 1)"
check_eq "--speed 1: the time waited on others is reported" true "$(jq '.sync_wait_us.count >= 0' "$TMP/s1.json")"
check_eq "--speed max: same digest" "$WANT" "$(digest_after max --speed max)"
check_eq "--speed max --threads 2: same digest" "$WANT" "$(digest_after t2 --speed max --threads 2)"
check_eq "--speed max --connections 3: same digest" "$WANT" "$(digest_after c3 --speed max --connections 3)"
check_eq "--sync keys is the default" "keys" "$(jq -r .sync "$TMP/max.json")"
check_eq "--speed max: requests waited on others" true "$(jq '.sync_wait_us.count > 0' "$TMP/max.json")"
OFF=$(digest_after off --speed max --sync off)
check_eq "--sync off --speed max: the digest differs (phases overlap)" 1 "$([ "$OFF" != "$WANT" ] && echo 1 || echo 0)"

# ---- a 3-primary cluster: the same keys, each with the original's value -------------------------
if start_cluster 3 0; then
    "$RT" replay "$TMP/o.rtrace" --target "redis://$CLUSTER_SEED" --speed max --json="$TMP/cl.json" -q \
        > /dev/null 2> "$TMP/cl.err"
    check_eq "cluster: exit 0" 0 $?
    SUM=0
    for p in "${CLUSTER_PORTS[@]}"; do SUM=$(( SUM + $(rcli "$p" DBSIZE) )); done
    check_eq "cluster: as many keys as the original" "$KEYS" "$SUM"
    rcli "$A" --scan | sort > "$TMP/keys"
    BAD=0
    # (DEBUG DIGEST-VALUE is asked of the key's owner: it has no key spec, so no MOVED)
    while read -r k; do
        want=$(rcli "$A" DEBUG DIGEST-VALUE "$k")
        own=$(cluster_primary_of_slot "$(rcli "${CLUSTER_PORTS[0]}" CLUSTER KEYSLOT "$k")")
        got=$(rcli "$own" DEBUG DIGEST-VALUE "$k")
        [ "$want" = "$got" ] || BAD=$((BAD + 1))
    done < "$TMP/keys"
    check_eq "cluster: every key's value digest equals the original's" 0 "$BAD"
    stop_cluster
else
    fail "start_cluster 3 0"
fi
finish
