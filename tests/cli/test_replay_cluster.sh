#!/usr/bin/env bash
# test_replay_cluster.sh: cluster-mode replay against local Redis Clusters started by the test
# on loopback ports (3 primaries; 3 primaries with a replica each):
# - a trace recorded (live, on lo) from a standalone server replays into the cluster with no
#   error and no redirection, and leaves the same dataset, every key on its slot's primary;
#   EVAL and XREAD go by their real keys; cross-slot MGET/MSET/DEL are split;
# - --no-split-multikey reports CROSSSLOT; --check says what will not run as recorded;
# - --read-from-replicas: reads answered by the replicas;
# - MOVED and ASK followed while `redis-cli --cluster reshard` moves slots during a replay;
# - a primary killed mid-replay and its replica promoted: the replay ends, no hang, the errors
#   and the disruption window are reported, the new primary serves the rest.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
GEN=$(dirname "$RT")/make_cluster_trace
[ -x "$GEN" ] || { echo "no $GEN (build the make_cluster_trace target)" >&2; exit 1; }
DBG=(--enable-debug-command local)

# key_owner_check REF PREFIX: every key of the server on port REF is on exactly one primary
# of the cluster (the others answer MOVED), with the same value (DEBUG DIGEST-VALUE; streams by
# length, their ids are made anew). Sets OWN_FOUND to the number of keys found on the cluster.
# (a third argument: keys matching this awk regex are not value-compared: the keys of
# transactions the replay counted as aborted)
key_owner_check() {
    local ref=$1 tag=$2 skip=${3:-^$} found=0 p n bad=0
    rcli "$ref" --scan | sort > "$TMP/$tag.keys"
    for p in "${PRIMARIES[@]}"; do
        # (redis-cli follows an error with an empty line)
        sed 's/^/TYPE /' "$TMP/$tag.keys" | rcli "$p" | sed '/^$/d' > "$TMP/$tag.types.$p"
        paste -d' ' "$TMP/$tag.keys" "$TMP/$tag.types.$p" | awk '$2 !~ /^MOVED/' > "$TMP/$tag.own.$p"
        n=$(awk '$2 != "none"' "$TMP/$tag.own.$p" | wc -l)
        found=$((found + n))
        # values: the same digest on the owner as on the reference (streams: the same length)
        awk -v skip="$skip" '$2 != "stream" && $2 != "none" && $1 !~ skip {print "DEBUG DIGEST-VALUE " $1}' \
            "$TMP/$tag.own.$p" > "$TMP/$tag.dq.$p"
        if [ -s "$TMP/$tag.dq.$p" ]; then
            if ! cmp -s <(rcli "$p" < "$TMP/$tag.dq.$p") <(rcli "$ref" < "$TMP/$tag.dq.$p"); then
                bad=$((bad + 1))
                echo "$tag: values that differ on $p:" \
                    "$(paste -d' ' "$TMP/$tag.dq.$p" <(rcli "$p" < "$TMP/$tag.dq.$p") <(rcli "$ref" < "$TMP/$tag.dq.$p") |
                        awk '$4 != $5 {print $3}' | head -5 | tr '\n' ' ')"
            fi
        fi
        awk '$2 == "stream" {print "XLEN " $1}' "$TMP/$tag.own.$p" > "$TMP/$tag.xq.$p"
        if [ -s "$TMP/$tag.xq.$p" ]; then
            cmp -s <(rcli "$p" < "$TMP/$tag.xq.$p") <(rcli "$ref" < "$TMP/$tag.xq.$p") || bad=$((bad + 1))
        fi
    done
    # a key on no primary (all said MOVED or none) is missing
    check_eq "$tag: primaries whose values differ from the reference" 0 "$bad"
    OWN_FOUND=$found
}

cluster_dbsize() {
    local s=0 p
    for p in "${PRIMARIES[@]}"; do s=$((s + $(rcli "$p" DBSIZE))); done
    echo "$s"
}

flush_cluster() {
    local p
    for p in "${PRIMARIES[@]}"; do rcli "$p" FLUSHALL > /dev/null; done
}

# ---- a trace recorded from a standalone server ---------------------------------------------
"$GEN" "$TMP/gen.rtrace" 3 1500 8; check_eq "make_cluster_trace exit" 0 $?
start_redis_x "${DBG[@]}"; REF=$RX_PORT
start_recorder "$REF" "$TMP/rec.rtrace"; check_eq "live trace created" 0 $?
"$RT" replay "$TMP/gen.rtrace" --target "redis://127.0.0.1:$REF" --speed 4 -q > /dev/null 2>&1
check_eq "workload driven into the standalone server" 0 $?
stop_recorder; check_eq "recorder exit" 0 $?
"$RT" info --json "$TMP/rec.rtrace" > "$TMP/rec.info"
NREQ=$(jnum "$TMP/rec.info" .requests)
# (and the PING of the replayer's preflight check and the CLUSTER SHARDS it asked to see
# whether the target is a cluster)
check_eq "the recording has the workload's requests" "$(( $(jnum <("$RT" info --json "$TMP/gen.rtrace") .requests) + 2 ))" "$NREQ"
REFKEYS=$(rcli "$REF" DBSIZE)
check_eq "the standalone dataset is not trivial" 1 "$((REFKEYS > 500))"

# ---- 3 primaries ----------------------------------------------------------------------------
start_cluster 3 0 || exit 1
PRIMARIES=("${CLUSTER_PORTS[@]:0:3}")
SEED="redis://$CLUSTER_SEED"

"$RT" replay "$TMP/rec.rtrace" --target "$SEED" --check > "$TMP/check.out" 2>&1
check_eq "--check exit" 0 $?
check_match "--check names the cluster" "a cluster" "$(cat "$TMP/check.out")"
check_match "--check reports split commands" "multi-key commands across slots, split per slot" "$(cat "$TMP/check.out")"
"$RT" replay "$TMP/rec.rtrace" --target "$SEED" --check --json="$TMP/check.json" > /dev/null 2>&1
SPLIT_CHECK=$(jnum "$TMP/check.json" .findings.split.count)

"$RT" replay "$TMP/rec.rtrace" --target "$SEED" --speed max --json="$TMP/c3.json" -q > "$TMP/c3.out" 2>&1
check_eq "cluster replay exit" 0 $?
check_eq "cluster mode detected" true "$(jq -r .cluster "$TMP/c3.json")"
check_eq "the recorded CLUSTER SHARDS skipped as unsafe" 1 "$(jnum "$TMP/c3.json" .skipped_by.unsafe)"
check_eq "every other request answered" "$((NREQ - 1))" "$(jnum "$TMP/c3.json" .ops)"
check_eq "no errors" 0 "$(jnum "$TMP/c3.json" .errors)"
check_eq "no request needed a redirection (routed by its real keys)" 0 "$(jnum "$TMP/c3.json" .redirections.moved)"
check_eq "no ASK either" 0 "$(jnum "$TMP/c3.json" .redirections.ask)"
check_eq "EVAL answered without error" 0 "$(jnum "$TMP/c3.json" '.commands.eval.errors')"
check_eq "EVAL ran" 1 "$(( $(jnum "$TMP/c3.json" '.commands.eval.ops') > 0 ))"
check_eq "XREAD answered without error" 0 "$(jnum "$TMP/c3.json" '.commands.xread.errors')"
SPLIT=$(jnum "$TMP/c3.json" .cross_slot.split)
check_eq "cross-slot MGET/MSET/DEL were split" 1 "$((SPLIT > 50))"
check_eq "--check predicted the splits" "$SPLIT" "$SPLIT_CHECK"
check_eq "the transactions stayed in one slot" 0 "$(jnum "$TMP/c3.json" .cross_slot.crossslot_transactions)"
check_eq "three primaries in the per-shard results" 3 "$(jq '[.shards[] | select(.role=="primary")] | length' "$TMP/c3.json")"
check_eq "every request (or part) a node was sent, it answered" "$(jq '[.shards[].sent] | add' "$TMP/c3.json")" "$(jq '[.shards[].ops] | add' "$TMP/c3.json")"
check_eq "slot ranges cover the 16384 slots" 16384 "$(jq '[.shards[].slots[] | .[1] - .[0] + 1] | add' "$TMP/c3.json")"
check_match "the table shows the nodes" "127.0.0.1:${PRIMARIES[0]}" "$(cat "$TMP/c3.out")"
check_eq "cluster DBSIZE equals the standalone's" "$REFKEYS" "$(cluster_dbsize)"
key_owner_check "$REF" c3
check_eq "every key readable on its slot's primary" "$REFKEYS" "$OWN_FOUND"
# the split replies: MGET parts merged into one array reply, compared with the recording
check_eq "MGET replies keep their recorded type" 0 "$(jnum "$TMP/c3.json" '.commands.mget.divergence.type_changed')"

# whole: the cross-slot commands fail with CROSSSLOT, counted
flush_cluster
"$RT" replay "$TMP/rec.rtrace" --target "$SEED" --speed max --no-split-multikey --json="$TMP/ns.json" -q > /dev/null 2>&1
check_eq "--no-split-multikey exit" 0 $?
check_eq "--no-split-multikey: cross-slot commands sent whole" "$SPLIT" "$(jnum "$TMP/ns.json" .cross_slot.crossslot)"
check_eq "--no-split-multikey: each one a CROSSSLOT error" "$SPLIT" "$(jnum "$TMP/ns.json" .errors)"

# --cluster no: the seed alone, as a standalone server: MOVED answers are errors
flush_cluster
"$RT" replay "$TMP/gen.rtrace" --target "$SEED" --speed max --cluster no --only get,set --json="$TMP/cn.json" -q > /dev/null 2>&1
check_eq "--cluster no: not in cluster mode" false "$(jq -r .cluster "$TMP/cn.json")"
check_eq "--cluster no: other nodes' keys answer MOVED (errors)" 1 "$(( $(jnum "$TMP/cn.json" .errors) > 100 ))"
start_redis_x; PLAIN=$RX_PORT
"$RT" replay "$TMP/gen.rtrace" --target "redis://127.0.0.1:$PLAIN" --cluster yes -q > /dev/null 2> "$TMP/cy.err"
check_eq "--cluster yes on a standalone server: exit 1" 1 $?
check_match "--cluster yes: says why" "does not run in cluster mode" "$(cat "$TMP/cy.err")"
stop_cluster

# ---- 3 primaries with a replica each: reads from replicas, resharding, failover ------------
CLUSTER_NODE_TIMEOUT=2000 start_cluster 3 1 || exit 1
PRIMARIES=("${CLUSTER_PORTS[@]:0:3}")
REPLICAS=("${CLUSTER_PORTS[@]:3:3}")
SEED="redis://$CLUSTER_SEED"
"$RT" replay "$TMP/rec.rtrace" --target "$SEED" --speed max --read-from-replicas --json="$TMP/rr.json" -q > /dev/null 2>&1
check_eq "--read-from-replicas exit" 0 $?
check_eq "--read-from-replicas: no errors" 0 "$(jnum "$TMP/rr.json" .errors)"
RREPL=$(jq '[.shards[] | select(.role=="replica") | .ops] | add // 0' "$TMP/rr.json")
check_eq "--read-from-replicas: replicas answered reads" 1 "$((RREPL > 100))"
check_eq "--read-from-replicas: every replica served" 3 "$(jq '[.shards[] | select(.role=="replica" and .ops > 0)] | length' "$TMP/rr.json")"
check_eq "--read-from-replicas: the dataset is the standalone's" "$REFKEYS" "$(cluster_dbsize)"

# resharding during the replay: 2000 slots move from the first primary to the second
flush_cluster
"$GEN" "$TMP/long.rtrace" 8 1200 8 11; check_eq "make_cluster_trace (long) exit" 0 $?
start_redis_x "${DBG[@]}"; REF2=$RX_PORT
"$RT" replay "$TMP/long.rtrace" --target "redis://127.0.0.1:$REF2" --speed max -q > /dev/null 2>&1
timeout -s KILL 90 "$RT" replay "$TMP/long.rtrace" --target "$SEED" --speed 1 --json="$TMP/rs.json" -q > /dev/null 2>&1 &
RP=$!
sleep 1.5
redis-cli --cluster reshard "127.0.0.1:${PRIMARIES[0]}" --cluster-from "${CLUSTER_IDS[0]}" \
    --cluster-to "${CLUSTER_IDS[1]}" --cluster-slots 2000 --cluster-yes --cluster-pipeline 10 \
    > "$TMP/reshard.out" 2>&1
check_eq "redis-cli --cluster reshard exit" 0 $?
wait "$RP"; check_eq "replay during resharding: exit" 0 $?
# MOVED and ASK are followed; inside MULTI they are not (the command would leave its
# transaction), so a transaction that meets a slot in migration aborts, and only those fail
ABORTED=$(jnum "$TMP/rs.json" .cross_slot.transactions_aborted)
echo "resharding: $(jq -c '{errors, redirections, aborted: .cross_slot.transactions_aborted}' "$TMP/rs.json")"
check_eq "resharding: MOVED or ASK followed" 1 "$(( $(jnum "$TMP/rs.json" '.redirections.moved + .redirections.ask') > 0 ))"
check_eq "resharding: every request answered" "$(jnum "$TMP/rs.json" .requests)" "$(jnum "$TMP/rs.json" .ops)"
check_eq "resharding: no errors outside aborted transactions (their INCRs and EXEC)" 0 \
    "$(jnum "$TMP/rs.json" '.errors - ([.commands.exec.errors, .commands.incr.errors] | map(. // 0) | add)')"
check_eq "resharding: each aborted transaction is one EXEC error" "$ABORTED" "$(jnum "$TMP/rs.json" '.commands.exec.errors // 0')"
# (an aborted transaction's INCRs did not happen: its hash-tagged keys may hold other values)
if [ "${ABORTED:-0}" -gt 0 ]; then key_owner_check "$REF2" rs '^[{]t:'; else key_owner_check "$REF2" rs; fi
# the keys missing are those of the aborted transactions (2 each, hash-tagged {t:N})
MISSING=$(( $(rcli "$REF2" DBSIZE) - OWN_FOUND ))
check_eq "resharding: every key on its slot's primary but the aborted transactions' ({t:*})" 1 \
    "$(( MISSING <= 2 * ABORTED ))"
check_eq "resharding: the dataset is the standalone's but those" "$(( $(rcli "$REF2" DBSIZE) - MISSING ))" "$(cluster_dbsize)"
check_eq "resharding: no key but transaction keys is missing" 0 \
    "$(comm -23 "$TMP/rs.keys" <(for p in "${PRIMARIES[@]}"; do rcli "$p" --scan; done | sort) | grep -cv '^{t:')"

# failover: the first primary killed mid-replay, its replica takes over
VICTIM=${PRIMARIES[0]}
SUCC=""
for r in "${REPLICAS[@]}"; do
    if rcli "$r" INFO replication | grep -q "master_port:$VICTIM"; then SUCC=$r; fi
done
check_eq "the victim has a replica" 1 "$([ -n "$SUCC" ] && echo 1 || echo 0)"
START=$SECONDS
timeout -s KILL 90 "$RT" replay "$TMP/long.rtrace" --target "$SEED" --target "redis://127.0.0.1:${PRIMARIES[1]}" \
    --speed 1 --json="$TMP/fo.json" -q > "$TMP/fo.out" 2>&1 &
RP=$!
sleep 2
VPID=$(rcli "$VICTIM" INFO server | awk -F: '/^process_id/ {print $2}')
kill -9 "$VPID"
KILLED_AT=$(date +%s.%N)
sleep 0.5
rcli "$SUCC" CLUSTER FAILOVER TAKEOVER > /dev/null
wait "$RP"; RC=$?
# requests in flight to the killed primary (if any were at that instant) were lost: then the
# replay says so in one line and exits 1; with none lost it exits 0
NOTANS=$(jnum "$TMP/fo.json" .not_answered)
check_eq "failover: exit 1 exactly when requests were not answered ($NOTANS)" "$(( NOTANS > 0 ? 1 : 0 ))" "$RC"
if [ "${NOTANS:-0}" -gt 0 ]; then
    check_match "failover: one line says what became of them" \
        "^resptrace replay: $NOTANS of [0-9]+ requests were not answered: .*(lost with their connection|dropped while)" \
        "$(grep '^resptrace replay: ' "$TMP/fo.out" | tail -n 1)"
    grep -q '^resptrace replay: ' "$TMP/fo.out" || tail -n 8 "$TMP/fo.out" >&2
fi
check_eq "failover: no hang (well within the bound)" 1 "$(( SECONDS - START < 40 ))"
check_eq "failover: the lost connection is reported" 1 "$(( $(jnum "$TMP/fo.json" .connections.failures) > 0 ))"
check_match "failover: the first connection error names the node" "127.0.0.1:$VICTIM" "$(jq -r .connections.first_error "$TMP/fo.json")"
# the requests in flight on the node when it died are errors (there may be none at that
# instant); those due while no node served its slots waited, within the window
check_eq "failover: errors and ops account for every request" "$(jnum "$TMP/fo.json" .requests)" \
    "$(jnum "$TMP/fo.json" '.ops + .skipped + .lost + .unanswered + .unsent + .skipped_by.unreachable')"
check_eq "failover: most requests still answered" 1 "$(( $(jnum "$TMP/fo.json" .ops) * 10 > $(jnum "$TMP/fo.json" .requests) * 8 ))"
check_eq "failover: the disruption window is reported" true "$(jq -r '.disruption != null and .disruption.to_s > .disruption.from_s' "$TMP/fo.json")"
# the window (whole seconds of the timeline) holds the moment of the kill, taken from the
# replay's own start (a loaded host may start the replay late)
KREL=$(jq --arg k "$KILLED_AT" '($k | tonumber) - .start_unix_s' "$TMP/fo.json")
echo "failover: killed at +${KREL} s; $(jq -c .disruption "$TMP/fo.json")"
check_eq "failover: the window holds the kill" 1 \
    "$(jq --argjson k "$KREL" '.disruption.from_s <= $k + 0.2 and .disruption.to_s >= $k' "$TMP/fo.json" | grep -c true)"
check_eq "failover: the topology was read again" 1 "$(( $(jnum "$TMP/fo.json" .redirections.topology_refreshes) > 0 ))"
check_eq "failover: the promoted replica served requests" 1 "$(jq --arg a "127.0.0.1:$SUCC" '[.shards[] | select(.node==$a) | .ops] | add // 0' "$TMP/fo.json" | awk '{print ($1 > 0)}')"
check_match "failover: the table says when" "disruption: from" "$(cat "$TMP/fo.out")"
check_eq "failover: the promoted replica is a primary now" master "$(rcli "$SUCC" ROLE | head -n 1)"
finish
