#!/usr/bin/env bash
# test_prime.sh: `resptrace prime`: a trace of reads recorded live against a populated server,
# replayed into an empty server (misses) and into a server primed from the trace (no misses,
# the same types and sizes), with and without recorded payloads; the same into a 3-primary
# cluster (every key on its slot's primary); the command line's errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
DBG=(--enable-debug-command local)
RANDOM=7

# ---- the populated server A: strings, hashes, lists, sets, sorted sets; TTLs on some ---------
start_redis_x "${DBG[@]}"; A=$RX_PORT
pad() { head -c "$1" /dev/zero | tr '\0' "${2:-v}"; }
{
    for i in $(seq 0 199); do
        if [ $((i % 4)) -eq 0 ]; then echo "SET str:$i $(pad $((1 + RANDOM % 300))) EX 5000"
        else echo "SET str:$i $(pad $((1 + RANDOM % 300)))"; fi
    done
    for i in $(seq 0 49); do
        line="HSET h:$i"
        for f in $(seq 0 $((i % 20))); do line="$line f$f $(pad $((1 + RANDOM % 100)))"; done
        echo "$line"
        [ $((i % 5)) -eq 0 ] && echo "EXPIRE h:$i 6000"
        line="RPUSH l:$i"
        for e in $(seq 0 $((i % 30))); do line="$line $(pad $((1 + RANDOM % 50)) e)"; done
        echo "$line"
        line="SADD s:$i"
        for m in $(seq 0 $((i % 25))); do line="$line m$m-$(pad $((RANDOM % 20)) x)"; done
        echo "$line"
        line="ZADD z:$i"
        for m in $(seq 0 $((i % 25))); do line="$line $((RANDOM % 1000)).5 m$m"; done
        echo "$line"
        echo "SET cold:$i never-read"
    done
} > "$TMP/populate.txt"
rcli "$A" < "$TMP/populate.txt" > /dev/null
check_eq "A populated" 450 "$(rcli "$A" DBSIZE)"

# ---- the reads (and a few writes), recorded live -------------------------------------------
{
    for i in $(seq 0 199); do
        echo "GET str:$i"
        [ $((i % 2)) -eq 0 ] && echo "TTL str:$i"
    done
    for i in $(seq 0 19); do echo "GET miss:$i"; done
    for i in $(seq 0 49); do
        echo "HGETALL h:$i"
        echo "HGET h:$i f0"
        [ $((i % 3)) -eq 0 ] && echo "HLEN h:$i"
        echo "LRANGE l:$i 0 -1"
        [ $((i % 2)) -eq 0 ] && echo "LINDEX l:$i 0"
        echo "SMEMBERS s:$i"
        echo "ZRANGE z:$i 0 -1 WITHSCORES"
        echo "ZSCORE z:$i m0"
    done
    echo "MGET str:0 str:1 miss:0"
    echo "HGETALL miss:h"
    echo "SMEMBERS miss:s"
    echo "LRANGE miss:l 0 -1"
    echo "ZRANGE miss:z 0 -1"
    for i in $(seq 0 19); do echo "SET w:$i written-first"; echo "GET w:$i"; done
} > "$TMP/reads.txt"
# GETs, HGETs, LINDEXes and ZSCOREs that find a value: the misses of an empty target
NULLABLE_HITS=$((200 + 50 + 25 + 50))

record_reads() { # record_reads FILE [record args]: the read workload, recorded on A
    local f=$1
    shift
    start_recorder "$A" "$f" "$@"; check_eq "trace $(basename "$f") created" 0 $?
    rcli "$A" < "$TMP/reads.txt" > /dev/null
    stop_recorder; check_eq "recorder exit ($(basename "$f"))" 0 $?
    rcli "$A" DEL $(seq -f 'w:%g' 0 19) > /dev/null # the trace's own writes, undone
}
record_reads "$TMP/r.rtrace"
NREQ=$(jq .requests < <("$RT" info --json "$TMP/r.rtrace"))
# redis-cli sends COMMAND DOCS first
check_eq "trace holds the workload" "$(($(wc -l < "$TMP/reads.txt") + 1))" "$NREQ"

# ---- without priming: the empty server misses --------------------------------------------
start_redis_x "${DBG[@]}"; E=$RX_PORT
"$RT" replay "$TMP/r.rtrace" --target "redis://127.0.0.1:$E" --speed max --json="$TMP/e.json" -q > /dev/null 2>&1
check_eq "empty replay exit" 0 $?
EM=$(jnum "$TMP/e.json" .divergence.misses)
check_eq "empty: every read that found a value misses" "$NULLABLE_HITS" "$EM"
check_eq "empty: GET misses" 200 "$(jnum "$TMP/e.json" .commands.get.divergence.misses)"

# ---- dry run: the plan, nothing written ----------------------------------------------------
start_redis_x "${DBG[@]}"; P=$RX_PORT
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$P" --dry-run --json > "$TMP/dry.json" 2> "$TMP/dry.err"
check_eq "dry run exit" 0 $?
check_eq "dry run: nothing written" 0 "$(rcli "$P" DBSIZE)"
check_eq "dry run: 400 keys to prime" 400 "$(jnum "$TMP/dry.json" .primed)"
"$RT" prime "$TMP/r.rtrace" --dry-run > "$TMP/dry.txt" 2>&1
check_eq "dry run without a target exit" 0 $?
check_match "dry run table" "primed, 20 written first" "$(cat "$TMP/dry.txt")"

# ---- prime P, then replay into it ----------------------------------------------------------
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$P" --json -q > "$TMP/p.json" 2> "$TMP/p.err"
check_eq "prime exit" 0 $?
J=$TMP/p.json
check_eq "primed keys" 400 "$(jnum "$J" .primed)"
check_eq "written-first keys not primed" 20 "$(jnum "$J" .written_first)"
check_eq "keys whose reads found them absent" 24 "$(jnum "$J" .absent)"
check_eq "distinct keys" 444 "$(jnum "$J" .distinct_keys)"
check_eq "by type" "200 50 50 50 50" "$(jq -r '[.by_type | .string.keys, .hash.keys, .list.keys, .set.keys, .zset.keys] | map(tostring) | join(" ")' "$J")"
check_eq "strings with a TTL" 50 "$(jnum "$J" .by_type.string.with_ttl)"
check_eq "no errors" 0 "$(jnum "$J" .errors)"
check_eq "P holds the primed keys only" 400 "$(rcli "$P" DBSIZE)"
check_eq "node keys = primed" 400 "$(jnum "$J" '.nodes[0].keys')"
check_eq "cold keys are not primed" 0 "$(rcli "$P" EXISTS cold:0 cold:1 cold:49)"
check_eq "written-first keys are not primed" 0 "$(rcli "$P" EXISTS w:0 w:19)"
check_eq "missed keys are not primed" 0 "$(rcli "$P" EXISTS miss:0 miss:h miss:s miss:l miss:z)"

# types and sizes: each primed key on P as on A
rcli "$A" --scan | grep -v '^cold:' | sort > "$TMP/keys"
sed 's/^/TYPE /' "$TMP/keys" > "$TMP/tq"
check_files "types on P are A's" <(rcli "$A" < "$TMP/tq") <(rcli "$P" < "$TMP/tq")
paste -d' ' "$TMP/keys" <(rcli "$A" < "$TMP/tq") | awk '
    $2 == "string" {print "STRLEN " $1} $2 == "hash" {print "HLEN " $1}
    $2 == "list" {print "LLEN " $1} $2 == "set" {print "SCARD " $1} $2 == "zset" {print "ZCARD " $1}' > "$TMP/sq"
check_eq "size queries" 400 "$(wc -l < "$TMP/sq")"
check_files "sizes on P are A's (string bytes, elements)" <(rcli "$A" < "$TMP/sq") <(rcli "$P" < "$TMP/sq")
check_eq "the hash fields read by HGET exist" 50 "$(for i in $(seq 0 49); do echo "HEXISTS h:$i f0"; done | rcli "$P" | grep -c '^1$')"
check_eq "the members read by ZSCORE exist" 50 "$(for i in $(seq 0 49); do echo "ZSCORE z:$i m0"; done | rcli "$P" | grep -c '[0-9]')"
TTLS=$(sed 's/^/TTL /' "$TMP/keys" | rcli "$P" | awk '$1 > 4000 && $1 <= 5010' | wc -l)
check_eq "the TTLs read are set (about 5000 s)" 50 "$TTLS"
check_eq "keys without a TTL read have none" 350 "$(sed 's/^/TTL /' "$TMP/keys" | rcli "$P" | grep -c '^-1$')"

"$RT" replay "$TMP/r.rtrace" --target "redis://127.0.0.1:$P" --speed max --json="$TMP/pr.json" -q > /dev/null 2>&1
check_eq "primed replay exit" 0 $?
PM=$(jnum "$TMP/pr.json" .divergence.misses)
PC=$(jnum "$TMP/pr.json" .divergence.compared)
check_eq "primed: misses under 2% of compared replies" 1 "$((PM * 50 < PC))"
check_eq "primed: misses" 0 "$PM"
check_eq "primed: no type changed" 0 "$(jnum "$TMP/pr.json" .divergence.type_changed)"
check_eq "primed: no new values" 0 "$(jnum "$TMP/pr.json" .divergence.new_values)"
check_eq "primed: no new errors" 0 "$(jnum "$TMP/pr.json" .divergence.new_errors)"
echo "priming: misses $EM of $(jnum "$TMP/e.json" .divergence.compared) compared without, $PM of $PC with"

# priming twice gives the same sizes (hashes, lists, sets, zsets are rebuilt)
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$P" -q > /dev/null 2>&1
check_eq "prime again exit" 0 $?
check_files "sizes after priming twice" <(rcli "$A" < "$TMP/sq") <(rcli "$P" < "$TMP/sq")

# ---- with payloads: the real field and member names and scores ----------------------------
record_reads "$TMP/rp.rtrace" --payloads
start_redis_x "${DBG[@]}"; P2=$RX_PORT
"$RT" prime "$TMP/rp.rtrace" --target "redis://127.0.0.1:$P2" -q > "$TMP/p2.out" 2>&1
check_eq "prime (payloads) exit" 0 $?
check_files "payloads: sizes are A's" <(rcli "$A" < "$TMP/sq") <(rcli "$P2" < "$TMP/sq")
hq() { for i in $(seq 0 49); do echo "HKEYS h:$i"; done; }
check_files "payloads: hash field names are A's" <(hq | rcli "$A" | sort) <(hq | rcli "$P2" | sort)
dq() { for i in $(seq 0 49); do echo "DEBUG DIGEST-VALUE s:$i"; echo "DEBUG DIGEST-VALUE z:$i"; done; }
check_files "payloads: sets and sorted sets equal A's (members, scores)" <(dq | rcli "$A") <(dq | rcli "$P2")
# (a value digest counts whether the key expires: the hashes' TTLs were never read)
vq() { for i in $(seq 0 199); do echo "DEBUG DIGEST-VALUE str:$i"; done; for i in $(seq 0 49); do [ $((i % 5)) -ne 0 ] && echo "DEBUG DIGEST-VALUE h:$i"; done; }
check_files "payloads: strings and hashes hold the recorded values" <(vq | rcli "$A") <(vq | rcli "$P2")
hv() { for i in $(seq 0 49); do rcli "$1" HGETALL "h:$i" | paste - - | sort; done; }
check_files "payloads: every hash's fields and values are A's" <(hv "$A") <(hv "$P2")
check_eq "without payloads: values are synthesized" 1 "$(cmp -s <(vq | rcli "$A") <(vq | rcli "$P") && echo 0 || echo 1)"
check_match "the table" "string +200" "$(cat "$TMP/p2.out")"

# ---- --key-prefix: the keys as replay --key-prefix sends them -------------------------------
start_redis_x; KP=$RX_PORT
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$KP" --key-prefix "t1:" -q > /dev/null 2>&1
check_eq "--key-prefix exit" 0 $?
check_eq "--key-prefix: keys prefixed" "string 400" "$(rcli "$KP" TYPE t1:str:5) $(rcli "$KP" --scan --pattern 't1:*' | wc -l)"
"$RT" replay "$TMP/r.rtrace" --target "redis://127.0.0.1:$KP" --key-prefix "t1:" --speed max --json="$TMP/kp.json" -q > /dev/null 2>&1
check_eq "--key-prefix replay: no misses" 0 "$(jnum "$TMP/kp.json" .divergence.misses)"

# ---- AUTH: --pass (and a wrong one) ----------------------------------------------------------
start_redis_x --requirepass s3cret; PA=$RX_PORT
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$PA" --pass wrong -q > /dev/null 2> "$TMP/pa1.err"
check_eq "wrong password: exit 1" 1 $?
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$PA" --pass s3cret -q > /dev/null 2> "$TMP/pa2.err"
check_eq "--pass: exit 0" 0 $?
check_eq "--pass: keys primed" 400 "$(REDISCLI_AUTH=s3cret rcli "$PA" DBSIZE)"

# ---- a 3-primary cluster -----------------------------------------------------------------
start_cluster 3 0 || exit 1
PRIMARIES=("${CLUSTER_PORTS[@]:0:3}")
SEED="redis://$CLUSTER_SEED"
"$RT" prime "$TMP/r.rtrace" --target "$SEED" --json -q > "$TMP/c.json" 2> "$TMP/c.err"
check_eq "cluster prime exit" 0 $?
check_eq "cluster detected" true "$(jq -r .cluster "$TMP/c.json")"
check_eq "cluster: primed keys" 400 "$(jnum "$TMP/c.json" .primed)"
check_eq "cluster: one connection per primary" 3 "$(jq '.nodes | length' "$TMP/c.json")"
check_eq "cluster: no errors (no MOVED)" 0 "$(jnum "$TMP/c.json" .errors)"
found=0
moved=0
for p in "${PRIMARIES[@]}"; do
    check_eq "cluster: node $p holds the keys reported" "$(jq --arg a "127.0.0.1:$p" '.nodes[] | select(.addr == $a) | .keys' "$TMP/c.json")" "$(rcli "$p" DBSIZE)"
    # (redis-cli follows an error with an empty line)
    sed 's/^/TYPE /' "$TMP/keys" | rcli "$p" | sed '/^$/d' > "$TMP/ct.$p"
    found=$((found + $(grep -cv -e '^MOVED' -e '^none$' "$TMP/ct.$p")))
    moved=$((moved + $(grep -c '^MOVED' "$TMP/ct.$p")))
    # the owner of each key it answers for: its slot is served here
    slots_bad=$(paste -d' ' "$TMP/keys" "$TMP/ct.$p" | awk '$2 !~ /^MOVED/ {print "CLUSTER KEYSLOT " $1}' | rcli "$p" |
        while read -r s; do [ "$(cluster_primary_of_slot "$s")" = "$p" ] || echo bad; done | wc -l)
    check_eq "cluster: $p answers only for its own slots" 0 "$slots_bad"
done
check_eq "cluster: every primed key on its slot's primary" 400 "$found"
check_eq "cluster: the other primaries answer MOVED" 800 "$moved"
"$RT" replay "$TMP/r.rtrace" --target "$SEED" --speed max --json="$TMP/cr.json" -q > /dev/null 2>&1
check_eq "cluster replay exit" 0 $?
CM=$(jnum "$TMP/cr.json" .divergence.misses)
CC=$(jnum "$TMP/cr.json" .divergence.compared)
check_eq "cluster: misses under 2% of compared replies" 1 "$((CM * 50 < CC))"
check_eq "cluster: no type changed" 0 "$(jnum "$TMP/cr.json" .divergence.type_changed)"
echo "cluster priming: misses $CM of $CC compared"

# ---- the command line ------------------------------------------------------------------------
"$RT" prime "$TMP/r.rtrace" > /dev/null 2> "$TMP/u1.err"
check_eq "no --target: exit 2" 2 $?
check_match "no --target: says so" "give --target" "$(cat "$TMP/u1.err")"
"$RT" prime "$TMP/r.rtrace" --target "rediss://127.0.0.1:$P" > /dev/null 2> "$TMP/u2.err"
# (TLS works: test_tls_tools.sh; a plaintext port spoken to in TLS is named as such)
check_eq "rediss:// to a plaintext port: exit 1" 1 $?
check_match "rediss:// to a plaintext port: the handshake is named" "TLS" "$(cat "$TMP/u2.err")"
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$P" --pipeline 0 > /dev/null 2> "$TMP/u3.err"
check_eq "--pipeline 0: exit 2" 2 $?
"$RT" prime "$TMP/nope.rtrace" --target "redis://127.0.0.1:$P" > /dev/null 2> "$TMP/u4.err"
check_eq "missing trace: exit 1" 1 $?
check_match "missing trace: names it" "nope.rtrace" "$(cat "$TMP/u4.err")"
head -c 3000 "$TMP/r.rtrace" > "$TMP/cut.rtrace"
"$RT" prime "$TMP/cut.rtrace" --target "redis://127.0.0.1:$P" > /dev/null 2> "$TMP/u5.err"
check_eq "truncated trace: exit 1" 1 $?
check_eq "truncated trace: no crash" "" "$(grep -E 'Sanitizer|runtime error|Segmentation' "$TMP/u5.err")"
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:1" > /dev/null 2> "$TMP/u6.err"
check_eq "unreachable target: exit 1" 1 $?
"$RT" prime --help | grep -q "Memory: one entry per distinct key"
check_eq "--help states the memory bound" 0 $?

# ---- passwords: on the command line they are visible to every local user (ps, /proc) --------
start_redis_x --requirepass sekret-pw; Q=$RX_PORT
WARN="resptrace prime: Warning: a password given with"
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$Q" -q > /dev/null 2> "$TMP/pw1.err"
check_eq "no password for a server that wants one: exit 1" 1 $?
check_eq "NOAUTH: one line" 1 "$(wc -l < "$TMP/pw1.err")"
check_match "NOAUTH: says what to do" "NOAUTH.*set RESPTRACE_PASS" "$(cat "$TMP/pw1.err")"
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$Q" --pass wrong -q > /dev/null 2> "$TMP/pw2.err"
check_eq "a wrong --pass: exit 1" 1 $?
check_match "--pass: the warning, naming the variables" \
    "^$WARN --pass on the command line may be seen by other users .*RESPTRACE_PASS or REDISCLI_AUTH" \
    "$(head -1 "$TMP/pw2.err")"
check_match "a wrong --pass: AUTH refused in one line" "AUTH refused: WRONGPASS" "$(sed -n 2p "$TMP/pw2.err")"
check_eq "a wrong --pass: two lines in all" 2 "$(wc -l < "$TMP/pw2.err")"
"$RT" prime "$TMP/r.rtrace" --target "redis://:wrong@127.0.0.1:$Q" -q > /dev/null 2> "$TMP/pw3.err"
check_eq "a password in the URL: exit 1 (wrong)" 1 $?
check_match "a password in the URL: the warning" "^$WARN the URL on the command line" "$(head -1 "$TMP/pw3.err")"
"$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$Q" --pass sekret-pw -q > /dev/null 2> "$TMP/pw4.err"
check_eq "the right --pass: primed" 0 $?
check_eq "the right --pass: warned once" 1 "$(grep -c "$WARN" "$TMP/pw4.err")"
check_eq "the right --pass: the keys loaded" 1 "$(( $(redis-cli -h 127.0.0.1 -p "$Q" -a sekret-pw --no-auth-warning DBSIZE) > 100 ))"
RESPTRACE_PASS=sekret-pw "$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$Q" -q > /dev/null 2> "$TMP/pw5.err"
check_eq "RESPTRACE_PASS: primed" 0 $?
check_eq "RESPTRACE_PASS: no warning" "" "$(cat "$TMP/pw5.err")"
REDISCLI_AUTH=sekret-pw "$RT" prime "$TMP/r.rtrace" --target "redis://127.0.0.1:$Q" -q > /dev/null 2> "$TMP/pw6.err"
check_eq "REDISCLI_AUTH: primed" 0 $?
check_eq "REDISCLI_AUTH: no warning" "" "$(cat "$TMP/pw6.err")"

# ---- Ctrl-C while loading: what was sent is drained and reported, exit 130 --------------------
seq 1 100000 | awk '{printf "%d,key%07d,10,100,0,get,0\n", int($1 / 1000), $1}' > "$TMP/gets.csv"
"$RT" convert --from twitter "$TMP/gets.csv" -o "$TMP/gets.rtrace" -q
start_redis_x; I=$RX_PORT
"$RT" prime "$TMP/gets.rtrace" --target "redis://127.0.0.1:$I" --pipeline 1 -q \
    --json="$TMP/pi.json" > /dev/null 2> "$TMP/pi.err" &
pid=$!
for _ in $(seq 1 100); do [ "$(rcli "$I" DBSIZE)" -gt 1000 ] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
check_eq "interrupted while loading: exit 130" 130 $?
check_match "interrupted while loading: said" "^resptrace prime: interrupted: loaded [0-9,]+ keys" "$(cat "$TMP/pi.err")"
check_eq "interrupted while loading: the JSON written, saying so" true "$(jq .interrupted "$TMP/pi.json")"
check_eq "interrupted while loading: every key sent is there" "$(jq .primed "$TMP/pi.json")" "$(rcli "$I" DBSIZE)"
check_eq "interrupted while loading: stopped early" 1 "$(( $(rcli "$I" DBSIZE) < 100000 ))"
finish
