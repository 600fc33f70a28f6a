#!/usr/bin/env bash
# test_replay_cluster_grow.sh: a cluster that grows during a replay. A paced replay (--speed 1,
# SET/GET over a few thousand keys, 8 s) reads the topology of a 3-primary cluster; once
# it is sending, a 4th node is met into the cluster and slots move to it (`redis-cli --cluster
# reshard --cluster-from all`), so the replay meets MOVED (and ASK) naming a node that was not
# there when it read the topology. Checks: the replay ends well (exit 0, no sanitizer report),
# it followed MOVED, the new node served requests (its own INFO commandstats and the result's
# shards), no errors, every request answered, and the dataset is the trace's: every key on its
# slot's owner (the node answers GET without a redirection) with the value of its last SET.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
# sanitizer_summary FILE: the frames of a sanitizer report (what, where, freed and allocated by)
sanitizer_summary() {
    grep -E 'ERROR: |runtime error|^(READ|WRITE) |freed by|allocated by|^ *#[0-9]+ .* in |SUMMARY' "$1" |
        grep -Ev ' in (__interceptor_|__libc_start|_start|start_thread)' | head -n 60
}
GEN=$(dirname "$RT")/make_cluster_trace
[ -x "$GEN" ] || { echo "no $GEN (build the make_cluster_trace target)" >&2; exit 1; }
# a loaded 2-core machine (or a sanitizer build beside other tests) is slow to converge
: "${CLUSTER_TIMEOUT:=90}"
SLOTS=1200 # moved to the new node, from all three primaries

# ---- the workload and the dataset it must leave ------------------------------------------
# make_cluster_trace: each of the 8 connections owns its keys, so the final value of a key is
# its connection's last SET whatever the interleaving; only SET and GET are replayed
"$GEN" "$TMP/grow.rtrace" 8 800 8 23
check_eq "make_cluster_trace exit" 0 $?
"$RT" cat "$TMP/grow.rtrace" --format jsonl |
    jq -r 'select(.event=="request" and .cmd=="SET") | "\(.argv[1])\t\(.argv[2])"' |
    awk -F'\t' '{v[$1] = $2} END {for (k in v) print k "\t" v[k]}' | sort > "$TMP/expected.tsv"
NKEYS=$(wc -l < "$TMP/expected.tsv")
check_eq "the workload writes many keys ($NKEYS)" 1 "$((NKEYS > 1500))"

# ---- 3 primaries, and a 4th node not in the cluster yet -----------------------------------
start_cluster 3 0 || exit 1
PRIMARIES=("${CLUSTER_PORTS[@]:0:3}")
NEW=""
for _ in $(seq 1 40); do
    port=$((20000 + RANDOM % 30000))
    _cl_port_free "$port" || continue
    if _cl_start_node "$port"; then NEW=$port; break; fi
done
[ -n "$NEW" ] || { echo "could not start a 4th cluster node" >&2; exit 1; }
NEWID=$(rcli "$NEW" CLUSTER MYID)
check_eq "the 4th node knows only itself" "cluster_known_nodes:1" \
    "$(rcli "$NEW" CLUSTER INFO | grep '^cluster_known_nodes:')"

getset_calls() {
    rcli "$1" INFO commandstats | awk -F'[:=,]' '$1 == "cmdstat_set" || $1 == "cmdstat_get" {n += $3} END {print n + 0}'
}
replay_sending() {
    local p n=0
    for p in "${PRIMARIES[@]}"; do n=$((n + $(getset_calls "$p"))); done
    [ "$n" -gt 0 ]
}
all_four_ok() {
    local p
    for p in "${PRIMARIES[@]}" "$NEW"; do _cl_node_ok "$p" 4 || return 1; done
}

# ---- the replay, and the cluster growing under it ------------------------------------------
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }
T0=$EPOCHREALTIME
timeout -s KILL 180 "$RT" replay "$TMP/grow.rtrace" --target "redis://$CLUSTER_SEED" --speed 1 \
    --only get,set --json="$TMP/grow.json" -q > "$TMP/grow.out" 2> "$TMP/grow.err" &
RP=$!
# the replay has read the topology once it sends (the 4th node is not in it)
_cl_wait "the replay to send its first SET or GET" replay_sending
check_eq "the replay is sending (its topology read)" 0 $?
sleep 0.3
check_eq "CLUSTER MEET" OK "$(rcli "$NEW" CLUSTER MEET 127.0.0.1 "${PRIMARIES[0]}")"
_cl_wait "the 4 nodes to agree on the cluster" all_four_ok
check_eq "the 4th node joined" 0 $?
RS0=$(since "$T0")
timeout -s KILL 170 redis-cli --cluster reshard "127.0.0.1:${PRIMARIES[0]}" --cluster-from all \
    --cluster-to "$NEWID" --cluster-slots "$SLOTS" --cluster-yes --cluster-pipeline 20 \
    > "$TMP/reshard.out" 2>&1 &
RSP=$!
wait "$RP"; RC=$?
RP_END=$(since "$T0")
wait "$RSP"; RSC=$?
echo "reshard started at +${RS0} s, replay ended at +${RP_END} s, reshard ended at +$(since "$T0") s"
check_eq "redis-cli --cluster reshard exit" 0 "$RSC"
[ "$RSC" -eq 0 ] || tail -n 20 "$TMP/reshard.out" >&2
# (else the replay could not have met a MOVED: the machine was too slow for this test)
check_eq "the slots began to move while the replay ran" 1 "$(awk -v a="$RS0" -v b="$RP_END" 'BEGIN {print (a < b)}')"
check_eq "replay exit" 0 "$RC"
if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$TMP/grow.err"; then
    fail "sanitizer report on the replay's stderr:"
    sanitizer_summary "$TMP/grow.err" >&2
else
    ok
fi
_cl_wait "the 4 nodes to agree on the cluster after the resharding" all_four_ok
check_eq "the cluster is healthy with 4 nodes" 0 $?

# ---- what the replay reports ------------------------------------------------------------
J=$TMP/grow.json
if ! jq -e '.command == "replay"' "$J" > /dev/null 2>&1; then
    fail "no JSON result (the replay's stderr: $(grep -m 1 -E '^resptrace|ERROR: ' "$TMP/grow.err"))"
    finish
fi
ok
echo "replay: $(jq -c '{requests, sent, ops, errors, skipped, unanswered, lost, unsent, redirections}' "$J")"
check_eq "cluster mode" true "$(jq -r .cluster "$J")"
check_eq "MOVED followed" 1 "$(( $(jnum "$J" .redirections.moved) > 0 ))"
check_eq "no errors" 0 "$(jnum "$J" .errors)"
check_eq "only the filter skipped requests" "$(jnum "$J" .skipped_by.filter)" "$(jnum "$J" .skipped)"
check_eq "every request but those filtered sent" "$(jnum "$J" '.requests - .skipped')" "$(jnum "$J" .sent)"
check_eq "every request sent answered" "$(jnum "$J" .sent)" "$(jnum "$J" .ops)"
check_eq "none unanswered, lost or unsent" 0 "$(jnum "$J" '.unanswered + .lost + .unsent')"
check_eq "the result's shards name the new node, which answered requests" 1 \
    "$(jq --arg a "127.0.0.1:$NEW" '[.shards[] | select(.node == $a) | .ops] | add // 0 | . > 0' "$J" | grep -c true)"
check_eq "the new node is a primary with slots in the result" 1 \
    "$(jq --arg a "127.0.0.1:$NEW" '[.shards[] | select(.node == $a and .role == "primary" and (.slots | length) > 0)] | length' "$J")"
check_eq "the new node served SET/GET (its INFO commandstats)" 1 "$(( $(getset_calls "$NEW") > 0 ))"

# ---- the dataset ----------------------------------------------------------------------
# every key each node holds, read back from that node without following redirections: a key
# on a node that does not serve its slot answers MOVED/ASK instead of its value
: > "$TMP/actual.tsv"
total=0
for p in "${PRIMARIES[@]}" "$NEW"; do
    total=$((total + $(rcli "$p" DBSIZE)))
    rcli "$p" --scan | sort > "$TMP/keys.$p"
    [ -s "$TMP/keys.$p" ] || continue
    sed 's/^/GET /' "$TMP/keys.$p" | rcli "$p" | sed '/^$/d' > "$TMP/vals.$p"
    paste "$TMP/keys.$p" "$TMP/vals.$p" >> "$TMP/actual.tsv"
done
sort -o "$TMP/actual.tsv" "$TMP/actual.tsv"
check_eq "the new node holds keys" 1 "$([ -s "$TMP/keys.$NEW" ] && echo 1 || echo 0)"
check_eq "keys in the cluster (DBSIZE sum) = keys the trace writes" "$NKEYS" "$total"
check_eq "no key on a node that does not serve its slot" 0 "$(grep -cE $'\t(MOVED|ASK) ' "$TMP/actual.tsv")"
check_files "every key with the value of its last SET" "$TMP/expected.tsv" "$TMP/actual.tsv"
finish
