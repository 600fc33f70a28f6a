#!/usr/bin/env bash
# test_anonymize.sh: `resptrace anonymize` on the cache sample and on a live capture with hash
# tags. The mapping is read back from the two traces (request i of one is request i of the
# other) and checked: a bijection of keys keeping lengths, ':' positions and hash slots (asked
# of a real redis-server's CLUSTER KEYSLOT), hotkeys (and shards, when built) giving the same
# numbers under it, no original key, key part or value of 4 bytes or more left in the output,
# and the same secret giving the same mapping in another trace.
. "$(dirname "$0")/lib.sh"
S=$SRC/traces/sample-cache.rtrace

"$RT" anonymize --help | grep -q "usage: resptrace anonymize"; check_eq "anonymize --help" 0 $?
printf 'test-secret-0123456789abcdef\n' > "$TMP/secret"
printf 'another-secret-0123456789abcdef\n' > "$TMP/secret2"

"$RT" anonymize "$S" -o "$TMP/a.rtrace" --key-secret "$TMP/secret" --json > "$TMP/a.json"
check_eq "anonymize exit" 0 $?
check_eq "every key kept its slot" 0 "$(jq .slots_not_kept "$TMP/a.json")"
check_eq "keys counted" 2000 "$(jq .keys "$TMP/a.json")"
"$RT" cat "$S" --format jsonl > "$TMP/o.jsonl"
"$RT" cat "$TMP/a.rtrace" --format jsonl > "$TMP/a.jsonl"
keys() { jq -r 'select(.event == "request") | .argv[1]' "$1"; }
paste -d' ' <(keys "$TMP/o.jsonl") <(keys "$TMP/a.jsonl") | sort -u > "$TMP/map"
n=$(wc -l < "$TMP/map")
check_eq "a function: one image per key" "$n" "$(cut -d' ' -f1 "$TMP/map" | sort -u | wc -l)"
check_eq "injective: distinct images" "$n" "$(cut -d' ' -f2 "$TMP/map" | sort -u | wc -l)"
check_eq "no key maps to itself" 0 "$(awk '$1 == $2' "$TMP/map" | wc -l)"
check_eq "lengths and ':' positions kept" 0 "$(awk '{a=$1; b=$2; gsub(/[^:]/, ".", a); gsub(/[^:]/, ".", b); if (a != b) print}' "$TMP/map" | wc -l)"
check_eq "values keep their lengths" \
    "$(jq -r 'select(.event == "request" and .cmd == "SET") | .argv[2] | length' "$TMP/o.jsonl" | md5sum)" \
    "$(jq -r 'select(.event == "request" and .cmd == "SET") | .argv[2] | length' "$TMP/a.jsonl" | md5sum)"

# slots, by a redis-server in cluster mode (CLUSTER KEYSLOT needs cluster support)
start_redis_x --cluster-enabled yes --cluster-config-file "$TMP/nodes.conf"
slots() { while read -r k; do printf 'CLUSTER KEYSLOT "%s"\n' "$k"; done | rcli "$RX_PORT" > "$TMP/slots.out"; cat "$TMP/slots.out"; }
cut -d' ' -f1 "$TMP/map" | slots > "$TMP/s1"
cut -d' ' -f2 "$TMP/map" | slots > "$TMP/s2"
check_eq "slots asked" "$n" "$(grep -c '^[0-9]' "$TMP/s2")"
check_files "CLUSTER KEYSLOT of every key kept" "$TMP/s1" "$TMP/s2"

# hotkeys under the mapping: keys (translated back), prefixes, slots
"$RT" hotkeys "$S" --json --top 1000000 > "$TMP/h1.json"
"$RT" hotkeys "$TMP/a.rtrace" --json --top 1000000 > "$TMP/h2.json"
back=$(jq -R -s 'split("\n") | map(select(length > 0) | split(" ") | {key: .[1], value: .[0]}) | from_entries' "$TMP/map")
check_eq "hotkeys keys under the mapping" "$(jq -c '[.keys[] | [.key, .ops, .bytes, .reads, .writes]] | sort' "$TMP/h1.json")" \
    "$(jq -c --argjson b "$back" '[.keys[] | [$b[.key], .ops, .bytes, .reads, .writes]] | sort' "$TMP/h2.json")"
check_eq "hotkeys slots" "$(jq -c '.slots' "$TMP/h1.json")" "$(jq -c '.slots' "$TMP/h2.json")"
check_eq "hotkeys prefix numbers" "$(jq -c '[.prefixes[] | [.ops, .bytes]] | sort' "$TMP/h1.json")" "$(jq -c '[.prefixes[] | [.ops, .bytes]] | sort' "$TMP/h2.json")"
check_eq "hotkeys totals" "$(jq -c '[.requests, .key_ops, .request_bytes, .reply_bytes, .distinct_keys]' "$TMP/h1.json")" \
    "$(jq -c '[.requests, .key_ops, .request_bytes, .reply_bytes, .distinct_keys]' "$TMP/h2.json")"
if "$RT" shards --help > /dev/null 2>&1; then
    "$RT" shards "$S" --json > "$TMP/sh1.json" 2> /dev/null
    "$RT" shards "$TMP/a.rtrace" --json > "$TMP/sh2.json" 2> /dev/null
    num() { jq -c '[.. | numbers] | sort' "$1"; }
    check_eq "shards numbers" "$(num "$TMP/sh1.json")" "$(num "$TMP/sh2.json")"
fi

# nothing of 4 bytes or more survives: keys, key parts, values, client addresses
"$RT" cat "$TMP/a.rtrace" > "$TMP/a.txt"
{ cut -d' ' -f1 "$TMP/map"; cut -d' ' -f1 "$TMP/map" | tr ':' '\n'
  jq -r 'select(.event == "request") | .argv[2:][]' "$TMP/o.jsonl"; echo 10.0.0.5; } |
    awk 'length($0) >= 4' | sort -u > "$TMP/orig.pat"
check_eq "patterns collected" 1 "$(( $(wc -l < "$TMP/orig.pat") > 300 ))"
check_eq "no original key, part, value or address in the output" 0 "$(grep -F -c -f "$TMP/orig.pat" "$TMP/a.txt")"
check_eq "the check finds them in the original" 1 "$(( $("$RT" cat "$S" | grep -F -c -f "$TMP/orig.pat") > 1000 ))"
check_eq "metadata says so" on "$("$RT" info --json "$TMP/a.rtrace" | jq -r '.metadata["redaction.values"]')"

# the same secret maps a slice of the trace the same way; another secret does not
"$RT" slice "$S" --from +1 --to +2 -o "$TMP/sl.rtrace" > /dev/null
"$RT" anonymize "$TMP/sl.rtrace" -o "$TMP/sla.rtrace" --key-secret "$TMP/secret" > /dev/null
paste -d' ' <("$RT" cat "$TMP/sl.rtrace" --format jsonl | keys /dev/stdin) <("$RT" cat "$TMP/sla.rtrace" --format jsonl | keys /dev/stdin) | sort -u > "$TMP/map2"
check_eq "same secret, same mapping" 0 "$(comm -23 "$TMP/map2" "$TMP/map" | wc -l)"
"$RT" anonymize "$S" -o "$TMP/b.rtrace" --key-secret "$TMP/secret2" > /dev/null
check_eq "another secret, other keys" 0 "$(comm -12 <(keys "$TMP/a.jsonl" | sort -u) <("$RT" cat "$TMP/b.rtrace" --format jsonl | keys /dev/stdin | sort -u) | wc -l)"

# hash tags, live: keys sharing a tag keep sharing one, every slot kept
start_recorder "$RX_PORT" "$TMP/t.rtrace" -p "$RX_PORT" || fail "recorder"
for u in 1 22 333 4444 55555; do
    rcli "$RX_PORT" SET "{user:$u}:name" "name-of-user-$u" > /dev/null
    rcli "$RX_PORT" HSET "{user:$u}:profile" email "user$u@example.com" > /dev/null
    rcli "$RX_PORT" SADD "{user:$u}:tags" alpha beta > /dev/null
    rcli "$RX_PORT" INCRBY "visits:$u" 7 > /dev/null
done
stop_recorder; check_eq "recorder exit" 0 $?
"$RT" anonymize "$TMP/t.rtrace" -o "$TMP/ta.rtrace" --key-secret "$TMP/secret" --json > "$TMP/ta.json"
check_eq "tags: every slot kept" 0 "$(jq .slots_not_kept "$TMP/ta.json")"
paste -d' ' <("$RT" cat "$TMP/t.rtrace" --format jsonl | jq -r 'select(.event == "request" and .cmd != "COMMAND") | .argv[1]') \
    <("$RT" cat "$TMP/ta.rtrace" --format jsonl | jq -r 'select(.event == "request" and .cmd != "COMMAND") | .argv[1]') | sort -u > "$TMP/tmap"
check_eq "20 keys" 20 "$(wc -l < "$TMP/tmap")"
check_eq "one tag per user after mapping" 5 "$(cut -d' ' -f2 "$TMP/tmap" | grep -o '^{[^}]*}' | sort -u | wc -l)"
cut -d' ' -f1 "$TMP/tmap" | slots > "$TMP/t1"
cut -d' ' -f2 "$TMP/tmap" | slots > "$TMP/t2"
check_files "tagged keys: slots kept" "$TMP/t1" "$TMP/t2"
"$RT" cat "$TMP/ta.rtrace" > "$TMP/ta.txt"
check_eq "no name, e-mail or set member left" 0 "$(grep -c -e name-of -e example.com -e alpha -e user "$TMP/ta.txt")"

# errors
"$RT" anonymize "$S" -o "$TMP/x.rtrace" 2> /dev/null; check_eq "no secret: 2" 2 $?
printf 'short' > "$TMP/short"
"$RT" anonymize "$S" -o "$TMP/x.rtrace" --key-secret "$TMP/short" 2> "$TMP/e"; check_eq "short secret: 1" 1 $?
check_match "short secret named" "short" "$(cat "$TMP/e")"
"$RT" anonymize "$S" -o "$TMP/x.rtrace" --key-secret "$TMP/nosuch" 2> /dev/null; check_eq "missing secret: 1" 1 $?
finish
