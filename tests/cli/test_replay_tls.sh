#!/usr/bin/env bash
# test_replay_tls.sh: `resptrace replay --target rediss://` against a TLS redis-server with a
# test CA made here: verification with --cacert, a wrong CA refused, --insecure, --sni, and
# client certificates (--cert/--key) for a server with tls-auth-clients yes.
. "$(dirname "$0")/lib.sh"
redis-server --help 2>&1 | grep -q . || { echo "no redis-server" >&2; exit 1; }
C=$TMP/pki
make_pki "$C"
for f in ca other server named client; do
    check_eq "made $f.pem" 1 "$([ -s "$C/$f.pem" ] && echo 1 || echo 0)"
done
check_match "server certificate verifies against the CA" "OK" "$(openssl verify -CAfile "$C/ca.pem" "$C/server.pem" 2>&1)"

# ---- a small trace, recorded live from a plain server --------------------------------------------
start_redis_x; R=$RX_PORT
start_recorder "$R" "$TMP/t.rtrace"; check_eq "trace created" 0 $?
for i in $(seq 1 20); do echo "SET t$i v$i"; echo "INCR tc"; done | redis-cli -h 127.0.0.1 -p "$R" > /dev/null
sleep 0.3 # the GETs on another connection, well after the SETs: --speed 1 keeps them in order
for i in $(seq 1 20); do echo "GET t$i"; done | redis-cli -h 127.0.0.1 -p "$R" > /dev/null
stop_recorder; check_eq "recorder exit" 0 $?
TLSARGS=(--tls-cert-file "$C/server.pem" --tls-key-file "$C/server.key" --tls-ca-cert-file "$C/ca.pem")

# tls_server [tls-auth-clients] [cert name]: a TLS-only redis-server; sets RX_PORT, RX_PID
tls_server() {
    local auth=${1:-no} cert=${2:-server}
    RX_PORTOPT=--tls-port
    RX_CLI="--tls --cacert $C/ca.pem --cert $C/client.pem --key $C/client.key --sni redis.test"
    [ "$cert" = server ] && RX_CLI="--tls --cacert $C/ca.pem --cert $C/client.pem --key $C/client.key"
    start_redis_x --port 0 --tls-cert-file "$C/$cert.pem" --tls-key-file "$C/$cert.key" \
        --tls-ca-cert-file "$C/ca.pem" --tls-auth-clients "$auth"
    RX_PORTOPT=--port
    RX_CLI=""
}
no_crash() { check_eq "$1: no crash" "" "$(grep -E 'Sanitizer|runtime error|Segmentation|core dumped' "$2" | head -1)"; }
tcli() { redis-cli --tls --cacert "$C/ca.pem" --cert "$C/client.pem" --key "$C/client.key" -h 127.0.0.1 -p "$@" | tr -d '\r'; }

tls_server no; T=$RX_PORT
check_eq "the TLS server answers over TLS" PONG "$(tcli "$T" PING)"
check_eq "and not in clear" "" "$(timeout 5 redis-cli -h 127.0.0.1 -p "$T" PING 2>/dev/null | grep PONG)"
# verified with the right CA (--speed 1: the SETs and the GETs are on two connections)
timeout 60 "$RT" replay "$TMP/t.rtrace" --speed 1 --target "rediss://127.0.0.1:$T" --cacert "$C/ca.pem" \
    --json="$TMP/ok.json" -q > /dev/null 2> "$TMP/ok.err"
check_eq "--cacert: exit" 0 $?
no_crash "--cacert" "$TMP/ok.err"
check_eq "--cacert: ops" "$(jq .requests <("$RT" info --json "$TMP/t.rtrace"))" "$(jnum "$TMP/ok.json" '.ops + .skipped')"
check_eq "--cacert: ops" 60 "$(jnum "$TMP/ok.json" ".commands.set.ops + .commands.incr.ops + .commands.get.ops")"
check_eq "--cacert: errors" 0 "$(jnum "$TMP/ok.json" .errors)"
check_eq "--cacert: no misses" 0 "$(jnum "$TMP/ok.json" .divergence.misses)"
check_eq "--cacert: the data arrived" "v20 20" "$(tcli "$T" GET t20) $(tcli "$T" GET tc)"
check_match "the report names the TLS target" '^rediss://127\.0\.0\.1:' "$(jq -r .target "$TMP/ok.json")"
# a CA that did not sign the server's certificate
# --key-prefix with the key positions asked of the target over its own TLS connection
RESPTRACE_KEYS_FROM_TARGET=1 timeout 60 "$RT" replay "$TMP/t.rtrace" --speed 1 --target "rediss://127.0.0.1:$T" \
    --cacert "$C/ca.pem" --key-prefix tp: --json="$TMP/kp.json" -q > /dev/null 2> "$TMP/kp.err"
check_eq "TLS GETKEYS: exit" 0 $?
check_eq "TLS GETKEYS: every sent request asked" "$(jnum "$TMP/kp.json" .sent)" "$(jnum "$TMP/kp.json" .getkeys_asked)"
check_eq "TLS GETKEYS: nothing skipped for keys" 0 "$(jnum "$TMP/kp.json" .skipped_by.keys)"
timeout 30 "$RT" replay "$TMP/t.rtrace" --speed max --target "rediss://127.0.0.1:$T" --cacert "$C/other.pem" \
    -q > /dev/null 2> "$TMP/bad.err"
check_eq "wrong CA: exit 1" 1 $?
no_crash "wrong CA" "$TMP/bad.err"
check_match "wrong CA: the message is about the certificate" "certificate" "$(cat "$TMP/bad.err")"
check_eq "wrong CA: nothing written" "" "$(tcli "$T" GET t1 | grep -v v1)"
# --insecure with the wrong CA
tcli "$T" FLUSHALL > /dev/null
timeout 60 "$RT" replay "$TMP/t.rtrace" --speed max --target "rediss://127.0.0.1:$T" --cacert "$C/other.pem" \
    --insecure --json="$TMP/ins.json" -q > /dev/null 2> "$TMP/ins.err"
check_eq "--insecure: exit" 0 $?
check_eq "--insecure: errors" 0 "$(jnum "$TMP/ins.json" .errors)"
check_eq "--insecure: ops" "$(jnum "$TMP/ok.json" .ops)" "$(jnum "$TMP/ins.json" .ops)"
check_eq "--insecure: the data arrived" v7 "$(tcli "$T" GET t7)"
# plain redis:// to a TLS port: the preflight probe names it at once, nothing is sent
t0=$(date +%s%N)
timeout 30 "$RT" replay "$TMP/t.rtrace" --speed max --target "redis://127.0.0.1:$T" --connect-timeout 2 \
    --json="$TMP/plain.json" -q > /dev/null 2> "$TMP/plain.err"
rc=$?; t1=$(date +%s%N)
check_eq "redis:// to a TLS port: exit 1" 1 "$rc"
no_crash "redis:// to a TLS port" "$TMP/plain.err"
check_match "redis:// to a TLS port: named as such" "did not answer PING.*TLS port|speaks TLS" "$(cat "$TMP/plain.err")"
check_eq "redis:// to a TLS port: said within 3 s" 1 "$(( (t1 - t0) / 1000000 < 3000 ))"
check_eq "redis:// to a TLS port: no JSON left behind" 0 "$(ls "$TMP"/plain.json "$TMP"/.plain.json* 2> /dev/null | wc -l)"
kill "$RX_PID"

# ---- a certificate for a name: verified against --sni --------------------------------------------
tls_server no named; T=$RX_PORT
timeout 30 "$RT" replay "$TMP/t.rtrace" --speed max --target "rediss://127.0.0.1:$T" --cacert "$C/ca.pem" \
    -q > /dev/null 2> "$TMP/name.err"
check_eq "name mismatch: exit 1" 1 $?
no_crash "name mismatch" "$TMP/name.err"
check_match "name mismatch: the message is about the certificate" "certificate" "$(cat "$TMP/name.err")"
timeout 60 "$RT" replay "$TMP/t.rtrace" --speed max --target "rediss://127.0.0.1:$T" --cacert "$C/ca.pem" \
    --sni redis.test --json="$TMP/sni.json" -q > /dev/null 2> "$TMP/sni.err"
check_eq "--sni redis.test: exit" 0 $?
check_eq "--sni redis.test: errors" 0 "$(jnum "$TMP/sni.json" .errors)"
check_eq "--sni redis.test: ops" "$(jnum "$TMP/ok.json" .ops)" "$(jnum "$TMP/sni.json" .ops)"
kill "$RX_PID"

# ---- client certificates: tls-auth-clients yes ----------------------------------------------------
tls_server yes; T=$RX_PORT
check_eq "mutual TLS server answers with a client certificate" PONG "$(tcli "$T" PING)"
timeout 30 "$RT" replay "$TMP/t.rtrace" --speed max --target "rediss://127.0.0.1:$T" --cacert "$C/ca.pem" \
    --json="$TMP/nocert.json" -q > /dev/null 2> "$TMP/nocert.err"
check_eq "no client certificate: exit 1" 1 $?
no_crash "no client certificate" "$TMP/nocert.err"
check_match "no client certificate: the handshake is named" "TLS|certificate" "$(cat "$TMP/nocert.err")"
check_eq "no client certificate: nothing written" 0 "$(tcli "$T" DBSIZE)"
timeout 60 "$RT" replay "$TMP/t.rtrace" --speed max --target "rediss://127.0.0.1:$T" --cacert "$C/ca.pem" \
    --cert "$C/client.pem" --key "$C/client.key" --json="$TMP/mtls.json" -q > /dev/null 2> "$TMP/mtls.err"
check_eq "--cert/--key: exit" 0 $?
no_crash "--cert/--key" "$TMP/mtls.err"
check_eq "--cert/--key: errors" 0 "$(jnum "$TMP/mtls.json" .errors)"
check_eq "--cert/--key: ops" "$(jnum "$TMP/ok.json" .ops)" "$(jnum "$TMP/mtls.json" .ops)"
check_eq "--cert/--key: the data arrived" "v3 20" "$(tcli "$T" GET t3) $(tcli "$T" GET tc)"
timeout 30 "$RT" replay "$TMP/t.rtrace" --speed max --target "rediss://127.0.0.1:$T" --cacert "$C/ca.pem" \
    --cert "$C/client.pem" --key "$C/other.key" -q > /dev/null 2> "$TMP/badkey.err"
check_eq "a key that is not the certificate's: exit 1" 1 $?
no_crash "mismatched key" "$TMP/badkey.err"
check_match "a key that is not the certificate's: message" "[Kk]ey|certificate" "$(cat "$TMP/badkey.err")"
timeout 30 "$RT" replay "$TMP/t.rtrace" --speed max --target "rediss://127.0.0.1:$T" --cacert "$C/missing.pem" \
    -q > /dev/null 2> "$TMP/missing.err"
check_eq "a missing CA file: exit 1" 1 $?
no_crash "missing CA file" "$TMP/missing.err"
check_match "a missing CA file: named" "missing\.pem" "$(cat "$TMP/missing.err")"

# ---- an IP target whose certificate names another host: refused on every connection kind --------
# (a certificate from the same CA, for redis.test: the connection must be refused before AUTH,
# so the server's own counters show no AUTH and no command at all; RESPTRACE_NO_PREFLIGHT=1
# lets each kind meet the certificate itself instead of the preflight probe)
RX_PORTOPT=--tls-port
WCLI="--tls --cacert $C/ca.pem --cert $C/client.pem --key $C/client.key --sni redis.test -a sekret --no-auth-warning"
RX_CLI=$WCLI
start_redis_x --port 0 --tls-cert-file "$C/named.pem" --tls-key-file "$C/named.key" \
    --tls-ca-cert-file "$C/ca.pem" --tls-auth-clients no --requirepass sekret
RX_PORTOPT=--port
W=$RX_PORT
# shellcheck disable=SC2086
wcli() { redis-cli $WCLI -h 127.0.0.1 -p "$W" "$@" | tr -d '\r'; }
RX_CLI=""
check_eq "the other-name server answers with its name" PONG "$(wcli PING)"
calls() { commands_counted wcli; }
export RESPTRACE_PASS=sekret
kind() {
    local name=$1
    shift
    wcli CONFIG RESETSTAT > /dev/null
    timeout 30 "$RT" replay "$TMP/t.rtrace" --speed max --cacert "$C/ca.pem" -q "$@" > "$TMP/k.out" 2> "$TMP/k.err"
    local rc=$?
    check_eq "$name: exit 1" 1 "$rc"
    no_crash "$name" "$TMP/k.err"
    check_match "$name: the certificate is named" "certificate|IP address mismatch|hostname mismatch" \
        "$(cat "$TMP/k.err" "$TMP/k.out")"
    check_eq "$name: no AUTH and no command reached the server" 0 "$(calls)"
}
kind "IP target, other name: preflight" --target "rediss://127.0.0.1:$W"
RESPTRACE_NO_PREFLIGHT=1 kind "IP target, other name: replay connections" --target "rediss://127.0.0.1:$W"
RESPTRACE_NO_PREFLIGHT=1 RESPTRACE_KEYS_FROM_TARGET=1 kind "IP target, other name: COMMAND GETKEYS connection" \
    --target "rediss://127.0.0.1:$W" --key-prefix p:
RESPTRACE_NO_PREFLIGHT=1 kind "IP target, other name: topology connection" --target "rediss://127.0.0.1:$W" --cluster yes
# the write read-back: the replay goes to the right server, the read back to the other name's
start_redis_x --requirepass sekret; G=$RX_PORT
wcli CONFIG RESETSTAT > /dev/null
timeout 60 "$RT" replay "$TMP/t.rtrace" --speed max --target "redis://127.0.0.1:$G" --verify-writes \
    --verify-target "rediss://127.0.0.1:$W" --cacert "$C/ca.pem" --json="$TMP/vw.json" -q > /dev/null 2> "$TMP/vw.err"
no_crash "IP target, other name: read-back connection" "$TMP/vw.err"
check_eq "IP target, other name: read back refused" false "$(jq .verify_writes.read_back "$TMP/vw.json")"
check_match "IP target, other name: read back names the certificate" "certificate" "$(jq -r .verify_writes.error "$TMP/vw.json")"
check_eq "IP target, other name: read back: no AUTH and no command reached the server" 0 "$(calls)"
unset RESPTRACE_PASS
finish
