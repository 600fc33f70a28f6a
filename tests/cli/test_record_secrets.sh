#!/usr/bin/env bash
# test_record_secrets.sh: a live capture (`record -i lo --payloads`) of redis-cli asking a real
# redis-server with a password and an ACL user for its secrets (CONFIG GET requirepass, *,
# masterauth, ACL LIST, ACL GETUSER, also inside MULTI/EXEC) and setting them (CONFIG SET,
# ACL SETUSER, ACL DRYRUN ... AUTH, SENTINEL SET ... auth-pass, SENTINEL CONFIG SET
# sentinel-pass). Neither a password, nor the SHA-256 of one, nor the XXH3 hash of the
# CONFIG GET requirepass reply may be anywhere in the trace: not in its raw bytes, not in its
# decompressed frames, not in any `cat` output. The replies say "redacted": true.
. "$(dirname "$0")/lib.sh"
PW=rq-S3cret-$RANDOM$RANDOM   # requirepass
APW=al1ce-$RANDOM$RANDOM      # ACL user alice
MPW=m4ster-$RANDOM$RANDOM     # masterauth
SPW=s3ntinel-$RANDOM$RANDOM   # SENTINEL ... auth-pass / sentinel-pass
DPW=dryrun-$RANDOM$RANDOM     # ACL DRYRUN ... AUTH
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# the XXH3-64 of the bytes of the CONFIG GET requirepass reply, learnt from a trace of a list
# read whose reply is the same bytes (on a second server, so that the trace checked below
# holds nothing of it)
start_redis_x
CPORT=$RX_PORT
start_recorder "$CPORT" "$TMP/control.rtrace" --payloads
redis-cli -h 127.0.0.1 -p "$CPORT" RPUSH l requirepass "$PW" > /dev/null
redis-cli -h 127.0.0.1 -p "$CPORT" LRANGE l 0 -1 > /dev/null
stop_recorder; check_eq "control recorder exit" 0 $?
HASH=$("$RT" cat "$TMP/control.rtrace" --format jsonl | jq -r 'select(.event=="request" and .cmd=="LRANGE") | .reply.hash')
check_match "control: the reply hash is known" '^[0-9a-f]{16}$' "$HASH"

start_redis_x --requirepass "$PW"
PORT=$RX_PORT
export REDISCLI_AUTH=$PW
r() { redis-cli -h 127.0.0.1 -p "$PORT" "$@" | tr -d '\r'; }
r ACL SETUSER alice on ">$APW" '~*' '+@all' > /dev/null
r CONFIG SET masterauth "$MPW" > /dev/null
r CONFIG GET requirepass > "$TMP/cg.out"
check_eq "CONFIG GET requirepass answers the password" "requirepass $PW" "$(tr '\n' ' ' < "$TMP/cg.out" | sed 's/ $//')"

# --- the capture
start_recorder "$PORT" "$TMP/s.rtrace" --payloads --json || fail "recorder did not start"
r CONFIG GET requirepass > /dev/null
r CONFIG GET '*' > /dev/null
r CONFIG GET masterauth > /dev/null
r CONFIG GET 'REQUIRE*' > /dev/null
r ACL LIST > /dev/null
r ACL GETUSER alice > /dev/null
r ACL GETUSER default > /dev/null
r CONFIG SET masterauth "$MPW" > /dev/null
r ACL SETUSER alice on ">$APW" > /dev/null
r ACL DRYRUN alice AUTH alice "$DPW" > /dev/null 2>&1
r SENTINEL SET mymaster auth-pass "$SPW" > /dev/null 2>&1
r SENTINEL CONFIG SET sentinel-pass "$SPW" > /dev/null 2>&1
printf 'MULTI\nCONFIG GET requirepass\nACL LIST\nEXEC\n' | r > /dev/null
r SET plain value-$RANDOM > /dev/null
r GET plain > /dev/null
r CONFIG GET maxmemory > /dev/null
stop_recorder; check_eq "recorder exit after SIGINT" 0 $?

T=$TMP/s.rtrace
"$RT" cat "$T" > "$TMP/s.txt"; check_eq "cat text" 0 $?
"$RT" cat "$T" --format jsonl > "$TMP/s.jsonl"; check_eq "cat jsonl" 0 $?
"$RT" cat "$T" --format resp > "$TMP/s.resp"; check_eq "cat resp" 0 $?
"$RT" info --json "$T" > "$TMP/s.info"; check_eq "info" 0 $?
zstd -dc -q "$T" > "$TMP/s.raw" 2> /dev/null; check_eq "zstd reads the trace's frames" 0 $?
check_eq "decompressed frames hold the requests" 1 "$(( $(grep -ac 'CONFIG' "$TMP/s.raw") > 0 ))"

# the hash as the decompressed stream stores it: 8 bytes, little-endian (searched in a hex dump)
HASHLE=$(printf '%s' "$HASH" | sed 's/../& /g' | awk '{for (i = 8; i >= 1; i--) printf "%s", $i}')
hexdump1() { od -An -tx1 -v "$1" | tr -d ' \n'; }
for f in "$T" "$TMP/s.raw" "$TMP/s.txt" "$TMP/s.jsonl" "$TMP/s.resp" "$TMP/s.info"; do
    n=$(basename "$f")
    for secret in "$PW" "$APW" "$MPW" "$SPW" "$DPW" "$(sha "$PW")" "$(sha "$APW")" "$HASH"; do
        check_eq "$n: no '$secret'" 0 "$(grep -ac -- "$secret" "$f")"
    done
    check_eq "$n: no reply hash bytes" 0 "$(hexdump1 "$f" | grep -c "$HASHLE")"
done

# what was redacted says so
j() { jq -c "select(.event==\"request\") | $1" "$TMP/s.jsonl"; }
check_eq "every CONFIG GET of a secret redacted" 4 \
    "$(j 'select(.cmd=="CONFIG" and (.argv[1]|ascii_upcase)=="GET" and .argv[2]!="maxmemory" and .reply.redacted==true)' | wc -l)"
check_eq "ACL LIST and GETUSER redacted" 3 \
    "$(j 'select(.cmd=="ACL" and ((.argv[1]|ascii_upcase)=="LIST" or (.argv[1]|ascii_upcase)=="GETUSER") and .reply.redacted==true)' | wc -l)"
check_eq "redacted replies keep their type only" 0 \
    "$(j 'select(.reply.redacted==true) | select(.reply.len!=null or .reply.size!=null or .reply.count!=null or .reply.err!=null or .reply.hash!=null or .reply.payload!=null)' | wc -l)"
check_eq "their type is kept" 0 \
    "$(j 'select((.cmd=="CONFIG" or .cmd=="ACL" or .cmd=="EXEC") and .reply.redacted==true and .reply.type!="array")' | wc -l)"
check_eq "EXEC of a transaction with secrets redacted" true "$(j 'select(.cmd=="EXEC") | .reply.redacted' | tr -d '\n')"
check_eq "its QUEUED replies kept" 2 "$(j 'select(.cmd!="EXEC" and .reply.payload=="+QUEUED\r\n")' | wc -l)"
check_eq "CONFIG SET masterauth redacted" '"<redacted>"' "$(j 'select(.cmd=="CONFIG" and (.argv[1]|ascii_upcase)=="SET") | .argv[3]')"
check_eq "ACL SETUSER redacted" '"<redacted>"' "$(j 'select(.cmd=="ACL" and (.argv[1]|ascii_upcase)=="SETUSER") | .argv[4]')"
check_eq "ACL DRYRUN ... AUTH redacted" '["ACL","DRYRUN","alice","AUTH","alice","<redacted>"]' "$(j 'select(.cmd=="ACL" and (.argv[1]|ascii_upcase)=="DRYRUN") | .argv')"
check_eq "SENTINEL SET auth-pass and CONFIG SET sentinel-pass redacted" 2 \
    "$(j 'select(.cmd=="SENTINEL" and .argv[-1]=="<redacted>" and (.flags|index("redacted")))' | wc -l)"
# a server that is no sentinel quotes the arguments in its "unknown command" error
check_eq "their errors, which quote the arguments, redacted" 2 \
    "$(j 'select(.cmd=="SENTINEL" and .reply.type=="error" and .reply.redacted==true)' | wc -l)"
check_match "text says so" '\[redacted\]' "$(grep -F 'reply #' "$TMP/s.txt")"
check_eq "the summary counts the redacted replies" "$(j 'select(.reply.redacted==true)' | wc -l)" "$(jq .redacted_replies "$T.out")"
n=$(jq '.redacted_replies // 0' "$T.out")
check_eq "at least the 8 secret reads and 2 errors" 1 "$(( n >= 10 ))"
# and the rest keeps its bytes: a plain GET's reply with --payloads, CONFIG GET maxmemory
check_match "plain replies keep their payload" 'value-' "$(j 'select(.cmd=="GET") | .reply.payload')"
check_match "CONFIG GET maxmemory keeps its hash" '^"[0-9a-f]{16}"$' "$(j 'select(.cmd=="CONFIG" and .argv[2]=="maxmemory") | .reply.hash')"
check_eq "metadata says replies are redacted" on "$(jq -r '.metadata["redaction.replies"]' "$TMP/s.info")"
finish
