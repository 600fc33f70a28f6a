#!/usr/bin/env bash
# test_replay_order.sh: --sync keys keeps the recorded order between requests of different
# connections that touch the same keys (issue 13). A workload of phases run one after another on
# fresh connections (SETs, SETs of some keys again, RPUSH, LPOP, INCR, DEL) and then 20 concurrent
# clients writing distinct values to 50 hot keys is recorded live (and before them, groups of
# identical SETs by 20 clients around an overwrite: identical writes may run in any order, the
# overwrite may not), then replayed into fresh
# servers at speed 1, at --speed max, with --threads 2, with --connections 3 and into a
# 3-primary cluster. Every key the recording can decide (DEBUG DIGEST-VALUE) equals the
# original's. Where two clients' SETs of a hot key were in the server at once (each sent before
# the other's reply came back), the wire does not say which ran last: such a key must hold one
# of those candidates' values, and the replay must count the overlaps (sync_stats.overlapped)
# exactly as order_oracle.py does from the recorded timestamps. With no such key the whole
# DEBUG DIGEST is equal. With --sync off at --speed max the phases overlap and decided keys
# differ, so the check measures something.
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
# identical writes: 20 concurrent clients SET one value per key on 20 keys (a group of the same
# SET, which may run in any order), then one client overwrites the even keys, then 20 clients
# again SET one value per odd key: the overwrite must stay after the first group and before
# the second
group() {
    local CL="" c
    for c in $(seq 1 20); do
        (for n in $(seq 1 40); do
            k=$(( (c + n) % 20 ))
            [ "$1" = odd ] && [ $(( k % 2 )) -eq 0 ] && continue
            echo "SET same:$k $1-$k"
        done | rcli "$A" > /dev/null) &
        CL="$CL $!"
    done
    # shellcheck disable=SC2086
    wait $CL
}
group all
for k in $(seq 0 2 19); do echo "SET same:$k after-$k"; done | rcli "$A" > /dev/null
group odd
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
"$RT" cat "$TMP/o.rtrace" --format jsonl > "$TMP/o.jsonl"
python3 "$SRC/tests/cli/order_oracle.py" "$TMP/o.jsonl" > "$TMP/oracle.json"
NUNC=$(jq '.uncertain | length' "$TMP/oracle.json")
OVERLAPS=$(jq .overlapped "$TMP/oracle.json")
echo "the recording cannot order the last writes of $NUNC keys; $OVERLAPS writes overlapped"
# every key of the original with its DEBUG DIGEST-VALUE, in one redis-cli session
rcli "$A" --scan | sort > "$TMP/keys"
sed 's/^/DEBUG DIGEST-VALUE /' "$TMP/keys" | rcli "$A" > "$TMP/want.dv"
paste -d ' ' "$TMP/keys" "$TMP/want.dv" > "$TMP/want"

# bad_keys PORT...: the keys whose value differs from the original's where the recording
# decides it, plus those holding none of the candidates where it does not (DEBUG DIGEST-VALUE
# has no key spec: each key is asked of every port given, the one holding it answers)
bad_keys() {
    local p
    for p in "$@"; do
        sed 's/^/DEBUG DIGEST-VALUE /' "$TMP/keys" | rcli "$p" > "$TMP/got.$p"
    done
    python3 - "$TMP/keys" "$TMP/want.dv" "$TMP/oracle.json" "$@" <<'PY'
import json, subprocess, sys
keys = open(sys.argv[1]).read().split("\n")[:-1]
want = open(sys.argv[2]).read().split("\n")[:-1]
unc = json.load(open(sys.argv[3]))["uncertain"]
ports = sys.argv[4:]
tmp = sys.argv[1].rsplit("/", 1)[0]
got = [open(f"{tmp}/got.{p}").read().split("\n")[:-1] for p in ports]
empty = "0" * 40
bad = 0
for i, k in enumerate(keys):
    own = [j for j, g in enumerate(got) if g[i] != empty]
    dv = [got[j][i] for j in own]
    val = None
    if k in unc:
        val = [subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", ports[j], "GET", k],
                              capture_output=True, text=True).stdout.strip() for j in own]
        ok = len(val) == 1 and val[0] in unc[k]
    else:
        ok = dv == [want[i]]
    if not ok:
        bad += 1
        print(f"key {k}: want {unc.get(k, want[i])}, got {val or dv}", file=sys.stderr)
print(bad)
PY
}

# replay_into NAME ARGS...: replays into a fresh server; sets BAD to how many keys are wrong
# (and checks the DBSIZE, the whole digest when every key is decided, and the overlap count)
replay_into() {
    local name=$1
    shift
    start_redis_x --enable-debug-command local
    timeout 120 "$RT" replay "$TMP/o.rtrace" --target "redis://127.0.0.1:$RX_PORT" \
        --json="$TMP/$name.json" -q "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" ||
        echo "replay $name failed: $(tail -n 1 "$TMP/$name.err")" >&2
    if [ "$name" != off ]; then
        check_eq "$name: as many keys as the original" "$KEYS" "$(rcli "$RX_PORT" DBSIZE)"
        check_eq "$name: the overlaps counted as the timestamps say" "$OVERLAPS" \
            "$(jq .sync_stats.overlapped "$TMP/$name.json")"
        if [ "$NUNC" -eq 0 ]; then
            check_eq "$name: same DEBUG DIGEST" "$WANT" "$(rcli "$RX_PORT" DEBUG DIGEST)"
        fi
    fi
    BAD=$(bad_keys "$RX_PORT" 2> "$TMP/$name.bad")
    kill "$RX_PID"
}
replay_into s1 --speed 1
check_eq "--speed 1: every key as the recording says" 0 "$BAD"
check_eq "--speed 1: the time waited on others is reported" true "$(jq '.sync_wait_us.count >= 0' "$TMP/s1.json")"
replay_into max --speed max
check_eq "--speed max: every key as the recording says" 0 "$BAD"
replay_into t2 --speed max --threads 2
check_eq "--speed max --threads 2: every key as the recording says" 0 "$BAD"
replay_into c3 --speed max --connections 3
check_eq "--speed max --connections 3: every key as the recording says" 0 "$BAD"
check_eq "--sync keys is the default" "keys" "$(jq -r .sync "$TMP/max.json")"
check_eq "--speed max: requests waited on others" true "$(jq '.sync_wait_us.count > 0' "$TMP/max.json")"
check_eq "--speed max: identical SETs went without waiting for each other" true \
    "$(jq '.sync_stats.commuted > 0' "$TMP/max.json")"
check_match "--speed max: the text says how many overlapped" "^$OVERLAPS overlapped|^$" \
    "$(grep -o '^[0-9]* overlapped' "$TMP/max.out")"
replay_into off --speed max --sync off
check_eq "--sync off --speed max: keys differ (phases overlap)" 1 "$([ "$BAD" -gt 0 ] && echo 1 || echo 0)"
for n in s1 max t2 c3; do [ -s "$TMP/$n.bad" ] && { echo "$n:"; cat "$TMP/$n.bad"; } >&2; done

# ---- a 3-primary cluster: the same keys, each with the original's value -------------------------
if start_cluster 3 0; then
    "$RT" replay "$TMP/o.rtrace" --target "redis://$CLUSTER_SEED" --speed max --json="$TMP/cl.json" -q \
        > /dev/null 2> "$TMP/cl.err"
    check_eq "cluster: exit 0" 0 $?
    SUM=0
    for p in "${CLUSTER_PORTS[@]}"; do SUM=$(( SUM + $(rcli "$p" DBSIZE) )); done
    check_eq "cluster: as many keys as the original" "$KEYS" "$SUM"
    check_eq "cluster: the overlaps counted as the timestamps say" "$OVERLAPS" \
        "$(jq .sync_stats.overlapped "$TMP/cl.json")"
    check_eq "cluster: every key as the recording says" 0 "$(bad_keys "${CLUSTER_PORTS[@]}" 2> "$TMP/cl.bad")"
    [ -s "$TMP/cl.bad" ] && cat "$TMP/cl.bad" >&2
    stop_cluster
else
    fail "start_cluster 3 0"
fi
finish
