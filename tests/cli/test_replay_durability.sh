#!/usr/bin/env bash
# test_replay_durability.sh: --verify-writes on a local primary-replica pair where the replica
# is promoted and the primary killed mid-replay:
# - with asynchronous replication the writes the old primary acknowledged after the replica
#   left it are lost, and resptrace counts them (lost or reverted > 0);
# - with --wait-replicas 1 (WAIT 1 0 after each write) no acknowledged write is lost;
# - without a failover every acknowledged write reads back (the check finds no false loss).
source "$(dirname "$0")/lib.sh"
GEN=$(dirname "$RT")/make_cluster_trace
[ -x "$GEN" ] || { echo "no $GEN (build the make_cluster_trace target)" >&2; exit 1; }
"$GEN" "$TMP/w.rtrace" 5 1500 8 23; check_eq "make_cluster_trace exit" 0 $?

# pair PRIMARY_VAR REPLICA_VAR: a primary and its replica, the link up
pair() {
    start_redis_x; PRI=$RX_PORT
    start_redis_x --replicaof 127.0.0.1 "$PRI"; REP=$RX_PORT
    for _ in $(seq 1 100); do
        rcli "$REP" INFO replication | grep -q "master_link_status:up" && return 0
        sleep 0.1
    done
    echo "the replica did not connect" >&2
    return 1
}

# failover_run NAME ARGS...: replays the trace into the primary at speed 1 with --verify-writes
# reading back from the replica; at 1.5 s the replica is promoted (REPLICAOF NO ONE: it stops
# receiving the primary's writes), at 2.5 s the primary is killed
failover_run() {
    local name=$1
    shift
    pair || return 1
    timeout -s KILL 60 "$RT" replay "$TMP/w.rtrace" --target "redis://127.0.0.1:$PRI" --speed 1 \
        --verify-target "redis://127.0.0.1:$REP" --json="$TMP/$name.json" -q "$@" \
        > "$TMP/$name.out" 2>&1 &
    local rp=$!
    sleep 1.5
    rcli "$REP" REPLICAOF NO ONE > /dev/null
    sleep 1
    kill -9 "$(rcli "$PRI" INFO server | awk -F: '/^process_id/ {print $2}' | tr -d '\r')"
    wait "$rp"
}

failover_run async
check_eq "async: the replay ends (exit 1: requests lost with the primary)" 1 $?
check_eq "async: the keys were read back" true "$(jq -r .verify_writes.read_back "$TMP/async.json")"
ALOST=$(jnum "$TMP/async.json" '.verify_writes.lost + .verify_writes.reverted')
echo "async: $(jq -c .verify_writes "$TMP/async.json")"
check_eq "async: acknowledged writes lost in the failover are counted" 1 "$((ALOST > 0))"
check_eq "async: most acknowledged writes survived (those before the promotion)" 1 \
    "$(( $(jnum "$TMP/async.json" .verify_writes.verified) > ALOST ))"
check_match "async: the table says so" "verify-writes: .* LOST" "$(cat "$TMP/async.out")"

failover_run waited --wait-replicas 1
check_eq "--wait-replicas 1: the replay ends (exit 1: requests lost with the primary)" 1 $?
echo "--wait-replicas 1: $(jq -c .verify_writes "$TMP/waited.json")"
check_eq "--wait-replicas 1: the keys were read back" true "$(jq -r .verify_writes.read_back "$TMP/waited.json")"
check_eq "--wait-replicas 1: no acknowledged write lost" 0 "$(jnum "$TMP/waited.json" .verify_writes.lost)"
check_eq "--wait-replicas 1: none reverted" 0 "$(jnum "$TMP/waited.json" .verify_writes.reverted)"
check_eq "--wait-replicas 1: writes were acknowledged and verified" 1 \
    "$(( $(jnum "$TMP/waited.json" .verify_writes.verified) > 100 ))"

# no failover: everything acknowledged is there
start_redis_x; S=$RX_PORT
"$RT" replay "$TMP/w.rtrace" --target "redis://127.0.0.1:$S" --speed max --verify-writes \
    --json="$TMP/plain.json" -q > /dev/null 2>&1
check_eq "no failover: exit 0" 0 $?
check_eq "no failover: nothing lost" 0 "$(jnum "$TMP/plain.json" '.verify_writes.lost + .verify_writes.reverted')"
check_eq "no failover: nothing uncertain" 0 "$(jnum "$TMP/plain.json" .verify_writes.uncertain)"
check_eq "no failover: values, counters and deletions verified" 1 \
    "$(( $(jnum "$TMP/plain.json" .verify_writes.verified) > 1000 ))"
# the read back finds exactly what changed: a copy of that dataset with one value changed and
# one key deleted, read back after a new run of the same trace
start_redis_x --replicaof 127.0.0.1 "$S"; C=$RX_PORT
for _ in $(seq 1 100); do
    rcli "$C" INFO replication | grep -q "master_link_status:up" &&
        [ "$(rcli "$C" DBSIZE)" = "$(rcli "$S" DBSIZE)" ] && break
    sleep 0.1
done
rcli "$C" REPLICAOF NO ONE > /dev/null
K1=$(rcli "$C" --scan --pattern 'k:*' | sort | sed -n 1p)
K2=$(rcli "$C" --scan --pattern 'k:*' | sort | sed -n 2p)
rcli "$C" SET "$K1" tampered > /dev/null
rcli "$C" DEL "$K2" > /dev/null
start_redis_x; S3=$RX_PORT
"$RT" replay "$TMP/w.rtrace" --target "redis://127.0.0.1:$S3" --speed max \
    --verify-target "redis://127.0.0.1:$C" --json="$TMP/t.json" -q > /dev/null 2>&1
check_eq "read back elsewhere: exit 0" 0 $?
check_eq "the changed value is found, and only it" 1 "$(jnum "$TMP/t.json" .verify_writes.reverted)"
check_eq "the deleted key is found, and only it" 1 "$(jnum "$TMP/t.json" .verify_writes.lost)"
check_match "the changed key is named" "$K1: holds another value" "$(jq -r '.verify_writes.examples[]' "$TMP/t.json")"
check_match "the deleted key is named" "$K2: value gone" "$(jq -r '.verify_writes.examples[]' "$TMP/t.json")"
finish
