#!/usr/bin/env bash
# test_tls_tools.sh: `prime` and `shards --target` over TLS, on replay's own connections
# (replay_conn): prime loads a TLS-only redis-server (CA given) with what the replay then reads
# without a miss; shards --target rediss:// reads a TLS cluster's slot map (the oracle: the
# cluster's own CLUSTER SHARDS, read by redis-cli); both refuse an IP target whose certificate
# names another host before AUTH or any command reaches it (the server's INFO commandstats).
. "$(dirname "$0")/lib.sh"
C=$TMP/pki
make_pki "$C"
check_match "the server certificate verifies against the CA" "OK" \
    "$(openssl verify -CAfile "$C/ca.pem" "$C/server.pem" 2>&1)"
TCLI=(--tls --cacert "$C/ca.pem" --cert "$C/client.pem" --key "$C/client.key")
tcli() { redis-cli "${TCLI[@]}" -h 127.0.0.1 -p "$@" | tr -d '\r'; }
no_crash() { check_eq "$1: no crash" "" "$(grep -E 'Sanitizer|runtime error|Segmentation|core dumped' "$2" | head -1)"; }
# tls_server [redis-server args]: a TLS-only redis-server with the IP certificate; sets RX_PORT
tls_server() {
    RX_PORTOPT=--tls-port
    RX_CLI="${TCLI[*]}"
    start_redis_x --port 0 --tls-cert-file "$C/server.pem" --tls-key-file "$C/server.key" \
        --tls-ca-cert-file "$C/ca.pem" --tls-auth-clients no "$@"
    RX_PORTOPT=--port
    RX_CLI=""
}

# ---- a trace that reads keys it never writes: recorded from a plain server loaded beforehand --------
start_redis_x; R=$RX_PORT
for i in $(seq 1 40); do echo "SET g$i value-$i"; done | rcli "$R" > /dev/null
rcli "$R" HSET h f1 v1 f2 v2 f3 v3 > /dev/null
rcli "$R" RPUSH l a b c d > /dev/null
start_recorder "$R" "$TMP/r.rtrace"; check_eq "trace created" 0 $?
{ for i in $(seq 1 40); do echo "GET g$i"; done; echo "HGETALL h"; echo "LRANGE l 0 -1"; } |
    rcli "$R" > /dev/null
stop_recorder; check_eq "recorder exit" 0 $?

# ---- prime into a TLS-only server, then the replay reads every key ------------------------------------
tls_server; T=$RX_PORT
check_eq "the TLS server answers only over TLS" "PONG|" \
    "$(tcli "$T" PING)|$(timeout 5 redis-cli -h 127.0.0.1 -p "$T" PING 2> /dev/null | grep PONG)"
timeout 60 "$RT" prime "$TMP/r.rtrace" --target "rediss://127.0.0.1:$T" --cacert "$C/ca.pem" \
    --json="$TMP/p.json" -q > /dev/null 2> "$TMP/p.err"
check_eq "prime over TLS: exit" 0 $?
no_crash "prime over TLS" "$TMP/p.err"
check_eq "prime over TLS: 42 keys primed" 42 "$(jq .primed "$TMP/p.json")"
# the server's own counts: 42 keys, the hash's 3 fields, the list's 4 elements
check_eq "the server holds them (DBSIZE)" 42 "$(tcli "$T" DBSIZE)"
check_eq "the hash and the list (HLEN, LLEN)" "3 4" "$(tcli "$T" HLEN h) $(tcli "$T" LLEN l)"
check_eq "a string's length (STRLEN g12)" 8 "$(tcli "$T" STRLEN g12)"
tcli "$T" CONFIG RESETSTAT > /dev/null
timeout 60 "$RT" replay "$TMP/r.rtrace" --target "rediss://127.0.0.1:$T" --cacert "$C/ca.pem" \
    --speed max --json="$TMP/rp.json" -q > /dev/null 2> "$TMP/rp.err"
check_eq "the replay over TLS: exit" 0 $?
echo "the replay's commands: $(jq -c '.commands | map_values(.ops)' "$TMP/rp.json")"
check_eq "the replay: the reads, no error" "40 1 1 0" \
    "$(jq -r '"\(.commands.get.ops) \(.commands.hgetall.ops) \(.commands.lrange.ops) \(.errors)"' "$TMP/rp.json")"
check_eq "the replay: no miss" 0 "$(jq .divergence.misses "$TMP/rp.json")"
check_eq "the server counted the reads (INFO commandstats)" 40 \
    "$(tcli "$T" INFO commandstats | awk -F'[:=,]' '/^cmdstat_get:/ {print $3}')"

# without the CA the server's certificate is not trusted: refused, nothing loaded
tls_server; T2=$RX_PORT
timeout 60 "$RT" prime "$TMP/r.rtrace" --target "rediss://127.0.0.1:$T2" -q > /dev/null 2> "$TMP/nc.err"
check_eq "prime without the CA: exit 1" 1 $?
check_match "prime without the CA: the certificate is named" "certificate" "$(cat "$TMP/nc.err")"
check_eq "prime without the CA: nothing loaded" 0 "$(tcli "$T2" DBSIZE)"
# --insecure: loaded
timeout 60 "$RT" prime "$TMP/r.rtrace" --target "rediss://127.0.0.1:$T2" --insecure -q > /dev/null 2>&1
check_eq "prime --insecure: exit" 0 $?
check_eq "prime --insecure: loaded" 42 "$(tcli "$T2" DBSIZE)"

# ---- shards --target rediss://: a two-node TLS cluster's slot map -----------------------------------
# (the cluster bus is TLS too: each node presents the client certificate to the other)
CPORTS=()
for _ in $(seq 1 30); do
    [ "${#CPORTS[@]}" -ge 2 ] && break
    p=$((20000 + RANDOM % 30000))
    (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null && continue
    (exec 3<> "/dev/tcp/127.0.0.1/$((p + 10000))") 2> /dev/null && continue
    RX_PORTOPT=--tls-port
    RX_CLI="${TCLI[*]}"
    if start_redis_at "$p" --port 0 --tls-cert-file "$C/server.pem" --tls-key-file "$C/server.key" \
        --tls-ca-cert-file "$C/ca.pem" --tls-auth-clients no --tls-cluster yes \
        --tls-client-cert-file "$C/client.pem" --tls-client-key-file "$C/client.key" \
        --cluster-enabled yes --cluster-config-file "$TMP/nodes-$p.conf"; then
        CPORTS+=("$p")
    fi
    RX_PORTOPT=--port
    RX_CLI=""
done
check_eq "two TLS cluster nodes" 2 "${#CPORTS[@]}"
N1=${CPORTS[0]} N2=${CPORTS[1]}
check_eq "slots 0-9999 on the first" OK "$(tcli "$N1" CLUSTER ADDSLOTSRANGE 0 9999)"
check_eq "slots 10000-16383 on the second" OK "$(tcli "$N2" CLUSTER ADDSLOTSRANGE 10000 16383)"
check_eq "CLUSTER MEET over the TLS bus" OK "$(tcli "$N2" CLUSTER MEET 127.0.0.1 "$N1")"
for _ in $(seq 1 100); do
    tcli "$N1" CLUSTER INFO | grep -qx 'cluster_state:ok' &&
        tcli "$N2" CLUSTER INFO | grep -qx 'cluster_state:ok' &&
        [ "$(tcli "$N1" CLUSTER SHARDS | grep -c '^master$')" = 2 ] && break
    sleep 0.2
done
check_eq "the TLS cluster is up" "cluster_state:ok" "$(tcli "$N1" CLUSTER INFO | grep cluster_state)"
timeout 60 "$RT" shards "$TMP/r.rtrace" --target "rediss://127.0.0.1:$N1" --cacert "$C/ca.pem" \
    --json="$TMP/sh.json" -q > "$TMP/sh.out" 2> "$TMP/sh.err"
check_eq "shards --target rediss://: exit" 0 $?
no_crash "shards --target rediss://" "$TMP/sh.err"
J=$TMP/sh.json
check_eq "shards: two shards" 2 "$(jq '.projections[0].shards | length' "$J")"
# the oracle: the cluster's own CLUSTER SHARDS, by the node ids redis-cli reads
ID1=$(tcli "$N1" CLUSTER MYID) ID2=$(tcli "$N2" CLUSTER MYID)
check_eq "shards: the nodes, as the cluster names them" "$ID1 $ID2" \
    "$(jq -r '[.projections[0].shards[].node] | join(" ")' "$J")"
check_eq "shards: their TLS addresses" "127.0.0.1:$N1 127.0.0.1:$N2" \
    "$(jq -r '[.projections[0].shards[].addr] | join(" ")' "$J")"
check_eq "shards: the slots of each (0-9999, 10000-16383)" "10000 6384" \
    "$(jq -r '[.projections[0].shards[].slot_count] | map(tostring) | join(" ")' "$J")"
# every request of the trace counted on the shard of its key's slot (redis-cli CLUSTER KEYSLOT)
want1=0
for k in $(seq 1 40 | sed 's/^/g/') h l; do
    [ "$(tcli "$N1" CLUSTER KEYSLOT "$k")" -lt 10000 ] && want1=$((want1 + 1))
done
check_eq "shards: requests on the first shard, by CLUSTER KEYSLOT" "$want1 $((42 - want1))" \
    "$(jq -r '[.projections[0].shards[].ops] | map(tostring) | join(" ")' "$J")"
timeout 60 "$RT" shards "$TMP/r.rtrace" --target "rediss://127.0.0.1:$N1" -q > /dev/null 2> "$TMP/shnc.err"
check_eq "shards without the CA: exit 1" 1 $?
check_match "shards without the CA: the certificate is named" "certificate" "$(cat "$TMP/shnc.err")"
"$RT" shards "$TMP/r.rtrace" --cacert "$C/ca.pem" > /dev/null 2> "$TMP/u.err"
check_eq "a TLS option without --target: usage error" 2 $?

# ---- an IP target whose certificate names another host (redis.test): refused before AUTH ---------------
RX_PORTOPT=--tls-port
WCLI=(--tls --cacert "$C/ca.pem" --sni redis.test -a sekret --no-auth-warning)
RX_CLI="${WCLI[*]}"
start_redis_x --port 0 --tls-cert-file "$C/named.pem" --tls-key-file "$C/named.key" \
    --tls-ca-cert-file "$C/ca.pem" --tls-auth-clients no --requirepass sekret
RX_PORTOPT=--port
RX_CLI=""
W=$RX_PORT
wcli() { redis-cli "${WCLI[@]}" -h 127.0.0.1 -p "$W" "$@" | tr -d '\r'; }
check_eq "the other-name server answers by its name" PONG "$(wcli PING)"
calls() { commands_counted wcli; }
export RESPTRACE_PASS=sekret
for kind in prime shards; do
    wcli CONFIG RESETSTAT > /dev/null
    timeout 30 "$RT" "$kind" "$TMP/r.rtrace" --target "rediss://127.0.0.1:$W" --cacert "$C/ca.pem" \
        -q > /dev/null 2> "$TMP/w.err"
    check_eq "$kind, IP target, other name: exit 1" 1 $?
    no_crash "$kind, IP target, other name" "$TMP/w.err"
    check_match "$kind, IP target, other name: the certificate is named" \
        "certificate|IP address mismatch|hostname mismatch" "$(cat "$TMP/w.err")"
    check_eq "$kind, IP target, other name: no AUTH and no command reached the server" 0 "$(calls)"
    check_eq "$kind, IP target, other name: nothing loaded" 0 "$(wcli DBSIZE)"
done
# with --sni naming the certificate's host, the same server is accepted
timeout 30 "$RT" prime "$TMP/r.rtrace" --target "rediss://127.0.0.1:$W" --cacert "$C/ca.pem" \
    --sni redis.test -q > /dev/null 2> "$TMP/ws.err"
check_eq "prime --sni redis.test: exit" 0 $?
check_eq "prime --sni redis.test: loaded" 42 "$(wcli DBSIZE)"
unset RESPTRACE_PASS
finish
