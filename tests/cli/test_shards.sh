#!/usr/bin/env bash
# test_shards.sh: `resptrace shards` on Zipf workloads whose per-shard answer make_shards_trace
# computes independently (its own CRC16, value sizes and per-second counts): even splits of
# 3, 6 and 12 shards, a slot map file, the single-hot-key verdict, --suggest moves that really
# bring the imbalance under the target (recomputed on the moved map, and performed by
# `redis-cli --cluster reshard` on a real local cluster), --target and the slot maps printed by
# redis-cli against a real cluster made by `redis-cli --cluster create`, and bad input.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
GEN=$(dirname "$RT")/make_shards_trace
if [ ! -x "$GEN" ]; then
    echo "no $GEN (build the make_shards_trace target)" >&2
    exit 1
fi
T=$TMP/z.rtrace
E=$TMP/z.json
"$GEN" "$T" "$E" 60000 3000 1.0 7 0 3,6,12; check_eq "make_shards_trace exit" 0 $?
# proj1 OUT ARGS...: `shards ARGS --json`'s one projection (a slot map's) into OUT; its exit
proj1() {
    local out=$1 rc
    shift
    "$RT" shards "$@" --json > "$out.doc"
    rc=$?
    jq '.projections[0]' "$out.doc" > "$out"
    return $rc
}

"$RT" shards --help | grep -q "usage: resptrace shards"; check_eq "shards --help" 0 $?
check_match "help lists shards" "shards +project" "$("$RT" help)"

# ---- even splits: every per-shard figure equals the expectation --------------------------
"$RT" shards "$T" --shards 3,6,12 --json > "$TMP/even.json"; check_eq "shards exit" 0 $?
# one JSON document: the tool's header, the totals, then one projection per count
check_eq "one document" 1 "$(jq -s length "$TMP/even.json")"
check_eq "header" '["resptrace","shards",2]' "$(jq -c '[.tool, .command, .schema]' "$TMP/even.json")"
check_eq "one projection per count" "3 6 12" "$(jq -r '.projections[].shard_count' "$TMP/even.json" | xargs)"
# the generator names the rates *_s and the span "seconds"; the document says "per_s" and "span_s"
fields='[.shards[] | {shard, slots, ops, keys, bytes, peak: (.peak_ops_per_s // .peak_ops_s), memory}]'
for i in 0 1 2; do
    n=$(jq -r ".projections[$i].shard_count" "$E")
    got=$(jq -c -S ".projections[] | select(.shard_count == $n) | $fields" "$TMP/even.json")
    check_eq "per-shard figures, $n shards" "$(jq -c -S ".projections[$i] | $fields" "$E")" "$got"
    check_eq "imbalance, $n shards" "$(jq ".projections[$i].imbalance * 1e4 | round" "$E")" \
        "$(jq ".projections[] | select(.shard_count == $n) | .imbalance * 1e4 | round" "$TMP/even.json")"
    check_eq "keys over the fair share, $n shards" "$(jq -c ".projections[$i].over" "$E")" \
        "$(jq -c ".projections[] | select(.shard_count == $n) | [.keys_over_fair_share[].key]" "$TMP/even.json")"
done
for f in requests keyed_requests keyless_requests skipped_requests cross_slot_requests \
    distinct_keys; do
    check_eq "$f" "$(jq .$f "$E")" "$(jq ".$f" "$TMP/even.json")"
done
check_eq "span_s" "$(jq .seconds "$E")" "$(jq .span_s "$TMP/even.json")"
check_eq "malformed_requests" 0 "$(jq .malformed_requests "$TMP/even.json")"
check_eq "interrupted" false "$(jq .interrupted "$TMP/even.json")"
check_eq "JSON shape" '["imbalance","shards"]' \
    "$(jq -c '.projections[0] | [keys[] | select(. == "shards" or . == "imbalance")]' "$TMP/even.json")"
check_eq "shard fields" '["bytes","bytes_per_s","keys","mean_ops_per_s","ops","peak_ops_per_s","shard","slots"]' \
    "$(jq -c '.projections[0].shards[0] | [keys[] | select(IN("shard","slots","ops","keys","bytes","peak_ops_per_s","mean_ops_per_s","bytes_per_s"))]' "$TMP/even.json")"
# a time carries its unit in its name: no key ends in a bare unit-less time word
check_eq "no time without a unit" "[]" "$(jq -c '[paths(type != "object" and type != "array") | .[-1] | select(type == "string") | select(test("(^|_)(seconds|time|duration|latency|lifetime)$"))] | unique' "$TMP/even.json")"
check_eq "ops add up to the keyed requests" "$(jq .keyed_requests "$E")" \
    "$(jq '.projections[0] | [.shards[].ops] | add' "$TMP/even.json")"
check_eq "mean ops/s is ops over 10 s" "$(jq -c '.projections[0] | [.shards[].ops / 10]' "$TMP/even.json")" \
    "$(jq -c '.projections[0] | [.shards[].mean_ops_per_s]' "$TMP/even.json")"
# the hottest shard's top keys and slots belong to it
check_eq "hottest shard's keys are its own" true "$(jq '.projections[2] | .hottest as $h |
    (.shards[$h].slots) as $r | all(.hottest_top_keys[]; .slot as $s | any($r[]; $s >= .[0] and $s <= .[1]))' "$TMP/even.json")"
check_eq "hottest is the max" true \
    "$(jq 'all(.projections[]; .shards[.hottest].ops == ([.shards[].ops] | max))' "$TMP/even.json")"
# the default counts are 3,6,12
check_eq "default counts" "3 6 12" "$("$RT" shards "$T" --json | jq -r '.projections[].shard_count' | xargs)"
# --json=FILE: the same document in FILE, the tables on stdout; never the trace or the map
"$RT" shards "$T" --shards 3,6,12 --json="$TMP/evenf.json" > "$TMP/evenf.txt"; check_eq "--json=FILE exit" 0 $?
check_eq "--json=FILE: the same document" "$(jq -c 'del(.version)' "$TMP/even.json")" "$(jq -c 'del(.version)' "$TMP/evenf.json")"
check_match "--json=FILE: the tables on stdout" "== 12 shards \(even split\)" "$(cat "$TMP/evenf.txt")"
cp "$T" "$TMP/t.keep"
"$RT" shards "$T" --json="$T" > /dev/null 2> "$TMP/err"; check_eq "--json=TRACE refused" 2 $?
check_match "... says why" "will not write .*z\.rtrace: it is the input" "$(cat "$TMP/err")"
check_files "... the trace is untouched" "$TMP/t.keep" "$T"

# the table
"$RT" shards "$T" --shards 6 > "$TMP/t.txt"; check_eq "table exit" 0 $?
check_match "table states the imbalance" "6 shards \(even split\): imbalance $(jq -r '.projections[1].imbalance * 1000 | round / 1000' "$E")" "$(cat "$TMP/t.txt")"
check_match "table shows shard 2's ops" "$(printf '\n') +2\*? +5461-8191 +$(jq .projections[1].shards[2].ops "$E") " "$(cat "$TMP/t.txt")"

# ---- a single hot key: over the fair share at 6 and 12 shards (20% > 1/6), not at 3 --------
H=$TMP/hot.rtrace
"$GEN" "$H" "$TMP/hot.json" 40000 2000 0.8 11 0.2 3,6,12; check_eq "hot trace" 0 $?
"$RT" shards "$H" --shards 3,6,12 --json > "$TMP/hot.out"
for i in 0 1 2; do
    check_eq "hot: over-fair keys, shards #$i" "$(jq -c ".projections[$i].over" "$TMP/hot.json")" \
        "$(jq -c ".projections[$i] | [.keys_over_fair_share[].key]" "$TMP/hot.out")"
done
check_eq "hot key flagged at 6 shards" true \
    "$(jq '.projections[1] | any(.keys_over_fair_share[]; .key == "hot:{only}")' "$TMP/hot.out")"
check_eq "hot key not flagged at 3 shards" false \
    "$(jq '.projections[0] | any(.keys_over_fair_share[]; .key == "hot:{only}")' "$TMP/hot.out")"
check_eq "hot key ops" "$(jq .hot_ops "$TMP/hot.json")" \
    "$(jq '.projections[1].keys_over_fair_share[] | select(.key == "hot:{only}") | .ops' "$TMP/hot.out")"
"$RT" shards "$H" --shards 12 > "$TMP/hot.txt"
check_match "table: only splitting helps" 'only splitting them helps:.*' "$(cat "$TMP/hot.txt")"
check_match "table names the hot key" '"hot:\{only\}" [0-9]+ ops = [0-9.]+ x the fair share' \
    "$(cat "$TMP/hot.txt")"

# ---- --slots-from: a map file (lines format) with uneven ranges and a hole -----------------
cat > "$TMP/map.txt" <<'EOF'
# first-last node [host:port]
0-999 nodeA 127.0.0.1:7000
1000-8000 nodeB
12000-16383 nodeB
8001-11000 nodeC 127.0.0.1:7002
EOF
# expectation from the generator's per-slot figures
cat > "$TMP/map.jq" <<'EOF'
def agg($lo; $hi): [.slots[] | select(.slot >= $lo and .slot <= $hi)];
def shard($rs): [$rs[] as $r | agg($r[0]; $r[1])[]] as $s |
  {ops: ([$s[].ops] | add // 0), keys: ([$s[].keys] | add // 0), bytes: ([$s[].bytes] | add // 0),
   memory: ([$s[].memory] | add // 0),
   peak_ops_s: ([range(0; 10) as $t | [$s[].persec[$t]] | add // 0] | max)};
[shard([[0, 999]]), shard([[1000, 8000], [12000, 16383]]), shard([[8001, 11000]])]
EOF
proj1 "$TMP/map.json" "$T" --slots-from "$TMP/map.txt"; check_eq "map exit" 0 $?
check_eq "map: per-shard figures" "$(jq -c -S -f "$TMP/map.jq" "$E")" \
    "$(jq -c -S '[.shards[] | {ops, keys, bytes, memory, peak_ops_s: .peak_ops_per_s}]' "$TMP/map.json")"
check_eq "map: slot ranges" '[[[0,999]],[[1000,8000],[12000,16383]],[[8001,11000]]]' \
    "$(jq -c '[.shards[].slots]' "$TMP/map.json")"
check_eq "map: nodes and addresses" '["nodeA","127.0.0.1:7000","nodeB",null,"nodeC","127.0.0.1:7002"]' \
    "$(jq -c '[.shards[] | .node, .addr]' "$TMP/map.json")"
check_eq "map: unassigned ops" \
    "$(jq '[.slots[] | select(.slot >= 11001 and .slot <= 11999) | .ops] | add // 0' "$E")" \
    "$(jq .unassigned_ops "$TMP/map.json")"

# ---- --suggest: apply the moves to the map, recompute: under the target --------------------
# map_after FILE.json: the lines-format map after the suggested moves of the projection in FILE
map_after() {
    jq -r '. as $o | [range(0; 16384) as $s | {s: $s, o: null}] as $m0 |
        reduce ($o.shards[] | .shard as $sh | .slots[] | {sh: $sh, r: .}) as $x ($m0;
            reduce range($x.r[0]; $x.r[1] + 1) as $s (.; .[$s].o = $x.sh)) |
        reduce ($o.moves[] | .to as $to | .slots[] | {to: $to, r: .}) as $x (.;
            reduce range($x.r[0]; $x.r[1] + 1) as $s (.; .[$s].o = $x.to)) |
        .[] | select(.o != null) | "\(.s) shard\(.o)"' "$1"
}
for n in 6 12; do
    proj1 "$TMP/sug$n.json" "$T" --shards $n --suggest; check_eq "suggest $n exit" 0 $?
    before=$(jq .imbalance "$TMP/sug$n.json")
    after=$(jq .imbalance_after "$TMP/sug$n.json")
    check_eq "suggest $n: moves proposed" true "$(jq '.moves | length > 0' "$TMP/sug$n.json")"
    # reachable unless one slot alone carries more than 1.1 x the fair share
    reach=$(jq '([.hottest_top_slots[].ops] | max) <= 1.1 * .fair_share' "$TMP/sug$n.json")
    check_eq "suggest $n: reachable as expected" "$( [ $n = 6 ] && echo true || echo false)" "$reach"
    check_eq "suggest $n: target reached iff reachable" "$reach" "$(jq .target_reached "$TMP/sug$n.json")"
    check_eq "suggest $n: predicted under 1.1 iff reachable" "$reach" "$(jq '.imbalance_after <= 1.1' "$TMP/sug$n.json")"
    check_eq "suggest $n: lower than before" true "$(jq -n "$after < $before")"
    map_after "$TMP/sug$n.json" > "$TMP/after$n.txt"
    proj1 "$TMP/re$n.json" "$T" --slots-from "$TMP/after$n.txt"
    check_eq "suggest $n: recomputed imbalance equals the prediction" \
        "$(jq '.imbalance_after * 1e6 | round' "$TMP/sug$n.json")" "$(jq '.imbalance * 1e6 | round' "$TMP/re$n.json")"
    check_eq "suggest $n: recomputed under 1.1 iff reachable" "$reach" "$(jq '.imbalance <= 1.1' "$TMP/re$n.json")"
    # each move takes the lowest-numbered slots its source holds at that point
    check_eq "suggest $n: reshard moves come first" true \
        "$(jq '[.moves[].kind] | . == (map(select(. == "reshard")) + map(select(. == "setslot")))' "$TMP/sug$n.json")"
    # each reshard move takes the lowest-numbered slots its source holds at that point
    check_eq "suggest $n: reshard moves are prefixes of the source" true "$(jq '. as $o |
        [range(0; 16384) as $s | null] as $m0 |
        (reduce ($o.shards[] | .shard as $sh | .slots[] | {sh: $sh, r: .}) as $x ($m0;
            reduce range($x.r[0]; $x.r[1] + 1) as $s (.; .[$s] = $x.sh))) as $m |
        reduce $o.moves[] as $mv ({m: $m, ok: true};
            ([range(0; 16384) as $s | select(.m[$s] == $mv.from) | $s][0:$mv.count]) as $want |
            ([$mv.slots[] | range(.[0]; .[1] + 1)]) as $got |
            .ok = (.ok and ($mv.kind == "setslot" or $want == $got)) |
            reduce $got[] as $s (.; .m[$s] = $mv.to)) | .ok' "$TMP/sug$n.json")"
done
proj1 "$TMP/sug13.json" "$T" --shards 6 --suggest --max-imbalance 1.3
check_eq "--max-imbalance 1.3 reached" true "$(jq '.target_reached and .imbalance_after <= 1.3' "$TMP/sug13.json")"
check_eq "--max-imbalance 1.3: fewer moves than 1.1" true \
    "$(jq -n --slurpfile a "$TMP/sug13.json" --slurpfile b "$TMP/sug6.json" '($a[0].moves | length) <= ($b[0].moves | length)')"
"$RT" shards "$T" --shards 6 --suggest > "$TMP/sug.txt"
check_match "suggest table: reshard lines" \
    'redis-cli --cluster reshard HOST:PORT --cluster-from <shard[0-9]+> --cluster-to <shard[0-9]+> --cluster-slots [0-9]+ --cluster-yes' \
    "$(cat "$TMP/sug.txt")"
# a hot key that no move can dilute: the target is not reached, and it is said
proj1 "$TMP/hsug.json" "$H" --shards 12 --suggest
check_eq "hot key: target not reached" false "$(jq .target_reached "$TMP/hsug.json")"

# ---- a real cluster: its slot maps, read every way, give the even split of redis-cli ------
if start_cluster 3 0; then
    P=${CLUSTER_PORTS[0]}
    # the slots of the generator's CRC16 are the server's
    bad=0
    for k in $(jq -r '.keys[].key' "$E"); do
        [ "$(rcli "$P" cluster keyslot "$k")" = "$(jq ".keys[] | select(.key == \"$k\") | .slot" "$E")" ] || bad=$((bad + 1))
    done
    check_eq "generator slots equal CLUSTER KEYSLOT" 0 "$bad"
    rcli "$P" cluster shards > "$TMP/cs.txt"
    rcli "$P" cluster slots > "$TMP/cl.txt"
    redis-cli -h 127.0.0.1 -p "$P" --json cluster shards > "$TMP/cs.json"
    redis-cli -h 127.0.0.1 -p "$P" --json cluster slots > "$TMP/cl.json"
    # the terminal form of redis-cli ("1) 1) \"slots\"", "(integer) 0"), made from the raw one
    script -qc "redis-cli -h 127.0.0.1 -p $P cluster shards" /dev/null | tr -d '\r' > "$TMP/cs.tty"
    want=$(jq -c '.projections[] | select(.shard_count == 3) | [.shards[] | {slots, ops, keys}]' "$TMP/even.json")
    ids=$(printf '"%s",' "${CLUSTER_IDS[@]:0:3}")
    for src in cs.txt cl.txt cs.json cl.json cs.tty; do
        proj1 "$TMP/m.json" "$T" --slots-from "$TMP/$src"
        check_eq "slot map from $src: exit" 0 $?
        check_eq "slot map from $src: the even split of redis-cli" "$want" \
            "$(jq -c '[.shards[] | {slots, ops, keys}] | sort_by(.slots[0][0])' "$TMP/m.json")"
        check_eq "slot map from $src: node ids" "[${ids%,}]" \
            "$(jq -c '[.shards[] | {s: .slots[0][0], n: .node}] | sort_by(.s) | [.[].n]' "$TMP/m.json")"
    done
    proj1 "$TMP/tg.json" "$T" --target "redis://127.0.0.1:$P"; check_eq "--target exit" 0 $?
    check_eq "--target: the even split" "$want" \
        "$(jq -c '[.shards[] | {slots, ops, keys}] | sort_by(.slots[0][0])' "$TMP/tg.json")"
    check_eq "--target: addresses" "$(printf '"127.0.0.1:%s",' "${CLUSTER_PORTS[@]:0:3}" | sed 's/,$//; s/^/[/; s/$/]/')" \
        "$(jq -c '[.shards[] | {s: .slots[0][0], a: .addr}] | sort_by(.s) | [.[].a]' "$TMP/tg.json")"
    # --suggest against the live map, then perform the printed reshard lines and read it again
    proj1 "$TMP/ts.json" "$T" --target "127.0.0.1:$P" --suggest --max-imbalance 1.02
    "$RT" shards "$T" --target "127.0.0.1:$P" --suggest --max-imbalance 1.02 > "$TMP/ts.txt"
    nmoves=$(jq '.moves | length' "$TMP/ts.json")
    check_eq "live suggest: moves proposed" true "$([ "$nmoves" -gt 0 ] && echo true)"
    check_match "live suggest: reshard lines name node ids" \
        "redis-cli --cluster reshard 127\.0\.0\.1:[0-9]+ --cluster-from [0-9a-f]{40} --cluster-to [0-9a-f]{40}" \
        "$(cat "$TMP/ts.txt")"
    # the printed reshard lines are the JSON's reshard moves, in order
    check_eq "live suggest: printed reshard lines" \
        "$(jq -r --arg a "127.0.0.1:$P" '.moves[] | select(.kind == "reshard") |
            "redis-cli --cluster reshard \(.from_node as $f | $a) --cluster-from \(.from_node) --cluster-to \(.to_node) --cluster-slots \(.count) --cluster-yes"' "$TMP/ts.json")" \
        "$(grep -o 'redis-cli --cluster reshard .*' "$TMP/ts.txt" | sed 's/reshard [^ ]* /reshard 127.0.0.1:'"$P"' /')"
    # perform the moves: reshard lines as printed; setslot moves (empty slots) with SETSLOT
    port_of() { jq -r --arg id "$1" '.shards[] | select(.node == $id) | .addr | split(":")[1]' "$TMP/ts.json"; }
    ok_all=1
    mapfile -t lines < <(grep -o 'redis-cli --cluster reshard .*' "$TMP/ts.txt")
    li=0
    while read -r kind from to slots; do
        if [ "$kind" = reshard ]; then
            # shellcheck disable=SC2086
            timeout 120 ${lines[$li]} > "$TMP/reshard.out" 2>&1 || { ok_all=0; tail -5 "$TMP/reshard.out" >&2; }
            li=$((li + 1))
        else
            fp=$(port_of "$from"); tp=$(port_of "$to")
            for sl in ${slots//,/ }; do
                rcli "$tp" cluster setslot "$sl" importing "$from" | grep -q OK || ok_all=0
                rcli "$fp" cluster setslot "$sl" migrating "$to" | grep -q OK || ok_all=0
                for pp in "${CLUSTER_PORTS[@]:0:3}"; do rcli "$pp" cluster setslot "$sl" node "$to" > /dev/null; done
            done
        fi
        _cl_wait "the moves to settle" _cl_all_ok || ok_all=0
    done < <(jq -r '.moves[] | "\(.kind) \(.from_node) \(.to_node) \([.slots[] | range(.[0]; .[1] + 1)] | join(","))"' "$TMP/ts.json")
    check_eq "live suggest: moves performed" 1 "$ok_all"
    sleep 1
    proj1 "$TMP/tafter.json" "$T" --target "127.0.0.1:$P"
    check_eq "live suggest: the cluster now has the predicted imbalance" \
        "$(jq '.imbalance_after * 1e6 | round' "$TMP/ts.json")" "$(jq '.imbalance * 1e6 | round' "$TMP/tafter.json")"
    check_eq "live suggest: slots moved as listed" \
        "$(jq -c '[.moves[] | {from_node, to_node, slots}]' "$TMP/ts.json")" \
        "$(jq -n -c --slurpfile a "$TMP/ts.json" --slurpfile b "$TMP/tafter.json" '
            [$a[0].moves[] | . as $mv | {from_node, to_node, slots}
             | select(all($mv.slots[]; . as $r | any($b[0].shards[] | select(.node == $mv.to_node) | .slots[];
                   .[0] <= $r[0] and $r[1] <= .[1]))) ]')"
    stop_cluster
    # redis-cli --cluster create's split of 6 is the even split of 6
    if start_cluster 6 0; then
        proj1 "$TMP/tg6.json" "$T" --target "127.0.0.1:${CLUSTER_PORTS[0]}"
        check_eq "6-node cluster: the even split of 6" \
            "$(jq -c '.projections[] | select(.shard_count == 6) | [.shards[] | {slots, ops}]' "$TMP/even.json")" \
            "$(jq -c '[.shards[] | {slots, ops}] | sort_by(.slots[0][0])' "$TMP/tg6.json")"
        stop_cluster
    else
        fail "start_cluster 6 0"
    fi
else
    fail "start_cluster 3 0"
fi

# ---- bad input -----------------------------------------------------------------------------
"$RT" shards "$TMP/nope.rtrace" > /dev/null 2> "$TMP/err"; check_eq "missing trace exit" 1 $?
check_match "missing trace named" "nope.rtrace" "$(cat "$TMP/err")"
"$RT" shards "$T" --shards 3,x > /dev/null 2> "$TMP/err"; check_eq "bad --shards exit" 2 $?
check_match "bad --shards named" "--shards '3,x'" "$(cat "$TMP/err")"
"$RT" shards "$T" --shards 0 > /dev/null 2>&1; check_eq "--shards 0 exit" 2 $?
"$RT" shards "$T" --max-imbalance 1.2 > /dev/null 2>&1; check_eq "--max-imbalance alone" 2 $?
"$RT" shards "$T" --suggest --max-imbalance 0.5 > /dev/null 2>&1; check_eq "--max-imbalance < 1" 2 $?
"$RT" shards "$T" --slots-from "$TMP/map.txt" --target 127.0.0.1:1 > /dev/null 2>&1
check_eq "--slots-from with --target" 2 $?
"$RT" shards > /dev/null 2>&1; check_eq "no trace" 2 $?
printf '0-100 a\n200-x b\n' > "$TMP/badmap.txt"
"$RT" shards "$T" --slots-from "$TMP/badmap.txt" > /dev/null 2> "$TMP/err"; check_eq "bad map exit" 1 $?
check_match "bad map: file and line" "badmap.txt: line 2" "$(cat "$TMP/err")"
printf '0-20000 a\n' > "$TMP/badmap2.txt"
"$RT" shards "$T" --slots-from "$TMP/badmap2.txt" > /dev/null 2> "$TMP/err"; check_eq "slot out of range exit" 1 $?
check_match "slot out of range named" "badmap2.txt: line 1" "$(cat "$TMP/err")"
printf '[{"slots": [0, 5], "nodes": []}]' > "$TMP/badmap3.json"
"$RT" shards "$T" --slots-from "$TMP/badmap3.json" > /dev/null 2> "$TMP/err"; check_eq "JSON map without nodes" 1 $?
printf '[{"slots": ' > "$TMP/badmap4.json"
"$RT" shards "$T" --slots-from "$TMP/badmap4.json" > /dev/null 2> "$TMP/err"; check_eq "truncated JSON map" 1 $?
check_match "truncated JSON named" "badmap4.json" "$(cat "$TMP/err")"
"$RT" shards "$T" --slots-from "$TMP/nomap" > /dev/null 2> "$TMP/err"; check_eq "missing map exit" 1 $?
start_redis_x
"$RT" shards "$T" --target "127.0.0.1:$RX_PORT" > /dev/null 2> "$TMP/err"; check_eq "non-cluster target exit" 1 $?
check_match "non-cluster target says why" "127.0.0.1:$RX_PORT does not run in cluster mode" "$(cat "$TMP/err")"
kill -9 "$RX_PID"; wait "$RX_PID" 2>/dev/null
"$RT" shards "$T" --target "127.0.0.1:$RX_PORT" > /dev/null 2> "$TMP/err"; check_eq "closed target exit" 1 $?
check_match "closed target named" "127.0.0.1:$RX_PORT.*Connection refused" "$(cat "$TMP/err")"
# a password on the command line (in the URL or --pass) is visible to every local user: warned
# about once, as redis-cli does for -a; from RESPTRACE_PASS or REDISCLI_AUTH it is not. The
# password reaches the server: a non-cluster server with requirepass answers CLUSTER SHARDS
# (the error that says it is no cluster: "does not run in cluster mode") only after AUTH
# succeeded.
start_redis_x --requirepass s3cret
PW=$RX_PORT
nocl="does not run in cluster mode"
warn="Warning: a password given with .* on the command line may be seen by other users"
"$RT" shards "$T" --target "redis://:s3cret@127.0.0.1:$PW" > /dev/null 2> "$TMP/err"
check_eq "password in the URL: warned once" 1 "$(grep -c "resptrace shards: $warn" "$TMP/err")"
check_match "... with the URL named" "given with the URL" "$(cat "$TMP/err")"
check_match "... and the password used" "$nocl" "$(cat "$TMP/err")"
check_match "... pointing to the environment" "RESPTRACE_PASS or REDISCLI_AUTH" "$(cat "$TMP/err")"
"$RT" shards "$T" --target "127.0.0.1:$PW" --pass s3cret > /dev/null 2> "$TMP/err"
check_match "--pass: warned" "given with --pass" "$(cat "$TMP/err")"
check_match "--pass: used" "$nocl" "$(cat "$TMP/err")"
RESPTRACE_PASS=s3cret "$RT" shards "$T" --target "127.0.0.1:$PW" > /dev/null 2> "$TMP/err"
check_eq "RESPTRACE_PASS: no warning" 0 "$(grep -c Warning "$TMP/err")"
check_match "RESPTRACE_PASS: used" "$nocl" "$(cat "$TMP/err")"
REDISCLI_AUTH=s3cret "$RT" shards "$T" --target "127.0.0.1:$PW" > /dev/null 2> "$TMP/err"
check_eq "REDISCLI_AUTH: no warning" 0 "$(grep -c Warning "$TMP/err")"
check_match "REDISCLI_AUTH: used" "$nocl" "$(cat "$TMP/err")"
"$RT" shards "$T" --target "127.0.0.1:$PW" > /dev/null 2> "$TMP/err"; check_eq "no password: exit 1" 1 $?
check_match "no password: the server says so" "NOAUTH" "$(cat "$TMP/err")"
"$RT" shards "$T" --target "127.0.0.1:$PW" --pass wrong > /dev/null 2> "$TMP/err"
check_match "wrong password: AUTH refused" "AUTH refused: WRONGPASS" "$(cat "$TMP/err")"
"$RT" shards "$T" --pass s3cret > /dev/null 2> "$TMP/err"; check_eq "--pass without --target" 2 $?
check_eq "... no warning for a refused command line" 0 "$(grep -c Warning "$TMP/err")"

# usage errors: one line, then where the help is; the help fits 80 columns
"$RT" shards "$T" --shards 3,x > /dev/null 2> "$TMP/err"
check_eq "bad --shards: one line and the pointer" 2 "$(wc -l < "$TMP/err")"
check_eq "... the pointer" "see 'resptrace shards --help'" "$(tail -1 "$TMP/err")"
"$RT" shards "$T" --top > /dev/null 2> "$TMP/err"; check_eq "--top without a value" 2 $?
check_eq "... says so" "resptrace shards: option '--top' needs a value" "$(head -1 "$TMP/err")"
"$RT" shards "$T" "$T" > /dev/null 2> "$TMP/err"; check_eq "two traces" 2 $?
check_eq "... one line and the pointer" 2 "$(wc -l < "$TMP/err")"
check_eq "--help fits 80 columns" "" "$("$RT" shards --help | awk 'length($0) >= 80')"

head -c 20000 "$T" > "$TMP/cut.rtrace"
"$RT" shards "$TMP/cut.rtrace" --json > "$TMP/cut.json" 2> "$TMP/err"; check_eq "truncated trace exit" 1 $?
check_eq "truncated trace: what was read is reported" 3 "$(jq '.projections | length' "$TMP/cut.json")"
check_match "truncated trace: the damage is said" "cut\.rtrace" "$(jq -r .damage "$TMP/cut.json")"

# ---- the projection equals what a real cluster counts: replay the trace into a 3-shard
# cluster made by redis-cli, whole cross-slot requests to their first key's node (where they
# fail with CROSSSLOT: a rejected call), and compare each primary's INFO commandstats calls +
# rejected_calls of GET, SET, MGET and DEL with the ops of the shard it serves
projection_equals_commandstats() {
    if ! "$RT" replay --help 2>&1 | grep -q -- '--cluster'; then
        echo "skip: replay has no --cluster"
        return 0
    fi
    if ! start_cluster 3 0; then
        fail "start_cluster 3 0 (replay comparison)"
        return 1
    fi
    local p
    for p in "${CLUSTER_PORTS[@]}"; do rcli "$p" config resetstat > /dev/null; done
    "$RT" replay "$T" --target "redis://$CLUSTER_SEED" --cluster yes --speed max \
        --no-split-multikey -q --json="$TMP/rep.json" > "$TMP/rep.out" 2> "$TMP/rep.err"
    check_eq "replay into the cluster exit" 0 $?
    proj1 "$TMP/rep-proj.json" "$T" --target "$CLUSTER_SEED"
    for p in "${CLUSTER_PORTS[@]}"; do
        local id n want
        id=$(rcli "$p" cluster myid)
        want=$(jq --arg id "$id" '.shards[] | select(.node == $id) | .ops' "$TMP/rep-proj.json")
        n=$(rcli "$p" info commandstats | awk -F'[:,=]' '/^cmdstat_(get|set|mget|del):/ {
            for (i = 2; i < NF; i += 2) if ($i == "calls" || $i == "rejected_calls") s += $(i + 1) }
            END { print s + 0 }')
        check_eq "node 127.0.0.1:$p: commandstats equal the projection" "$want" "$n"
    done
    stop_cluster
}
projection_equals_commandstats

finish
