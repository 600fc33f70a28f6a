#!/usr/bin/env bash
# test_replay_fixtures.sh: every trace shipped in traces/ (by glob, so new samples are covered),
# the sample capture traces/sample-clients.pcap and the real captures of
# ../shared/fixtures/zeek-redis (when they are beside the checkout), each recorded with
# `record -f tcp`, replayed `--speed max` with no --target: into a throwaway redis-server that
# resptrace starts itself. ctest runs this with the binary of its build, so in the sanitizer
# build (build-asan, .ci/run) it is CI's "every fixture replays under ASan+UBSan".
# Per replay:
# - no crash: an exit status below 128 and no AddressSanitizer, LeakSanitizer or UBSan
#   ("runtime error") report on stderr (ASan exits 1 by default); the status is 0 when every
#   request was sent and answered, else 1 with a line saying why (golden-v1's BLPOP 0);
# - the JSON result parses and accounts for every request: requests (as `info` counts them) =
#   sent + skipped + unsent + cut + dropped as unreachable; skipped = the sum of its reasons;
#   sent = ops + lost + unanswered; the per-command ops, errors and skips add up to the totals;
# - every request sent is answered (ops = sent: requests under CLIENT REPLY OFF/SKIP count as
#   answered when sent), but where the trace itself blocks forever (golden-v1's BLPOP 0);
# - a replay into a fresh server gets no error where the recording had none, and (real
#   traffic) no reply of another type; when nothing was left unsent or unanswered, every
#   recorded reply of a request sent was compared (so none was paired with another request);
# - the throwaway server is gone once the replay has ended.
# golden-v1.rtrace is also replayed with --threads 2 and with --connections 3.
. "$(dirname "$0")/lib.sh"
shopt -s nullglob

# sanitizer_summary FILE: the frames of a sanitizer report (what, where, freed and allocated by)
sanitizer_summary() {
    grep -E 'ERROR: |runtime error|^(READ|WRITE) |freed by|allocated by|^ *#[0-9]+ .* in |SUMMARY' "$1" |
        grep -Ev ' in (__interceptor_|__libc_start|_start|start_thread)' | head -n 60
}

# replay_check NAME TRACE [replay options...]: one replay, and the checks above. The expected
# unanswered requests come from UNANSWERED (0 unless set for this call).
replay_check() {
    local name=$1 trace=$2 rc j e reqs unans=${UNANSWERED:-0} port want_rc=0
    shift 2
    j=$TMP/$name.json
    e=$TMP/$name.err
    reqs=$("$RT" info --json "$trace" 2> /dev/null | jq -r .requests)
    # a trace with chunks this version cannot read: the requests of the others
    [ -n "${READABLE:-}" ] && reqs=$READABLE
    timeout -s KILL 180 "$RT" replay "$trace" --speed max -q --json="$j" "$@" \
        > "$TMP/$name.out" 2> "$e"
    rc=$?
    check_eq "$name: no crash (exit status $rc)" 1 "$((rc < 128))"
    [ "$unans" -gt 0 ] && want_rc=1
    check_eq "$name: replay exit" "$want_rc" "$rc"
    if [ "$want_rc" -eq 1 ]; then
        check_eq "$name: one line says why the exit status is 1" 1 \
            "$(grep -v throwaway "$e" | grep -c '^resptrace replay: ')"
    fi
    if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$e"; then
        fail "$name: sanitizer report on stderr:"
        sanitizer_summary "$e" >&2
    else
        ok
    fi
    if ! jq -e '.command == "replay"' "$j" > /dev/null 2>&1; then
        fail "$name: no JSON result in $j ($(grep -v throwaway "$e" | grep -m 1 -E '^resptrace|ERROR: '))"
        return
    fi
    ok
    check_eq "$name: every request of the trace read" "$reqs" "$(jnum "$j" .requests)"
    check_eq "$name: requests = sent + skipped + unsent + cut + unreachable" "$reqs" \
        "$(jnum "$j" '.sent + .skipped + .unsent + (.cut // 0) + .skipped_by.unreachable')"
    check_eq "$name: skipped = the sum of its reasons" "$(jnum "$j" .skipped)" \
        "$(jnum "$j" '([.skipped_by[]] | add) - .skipped_by.unreachable')"
    check_eq "$name: sent = ops + lost + unanswered" "$(jnum "$j" .sent)" \
        "$(jnum "$j" '.ops + .lost + .unanswered')"
    check_eq "$name: per-command ops, errors, skips add up" "$(jq -c '[.ops, .errors, .skipped]' "$j")" \
        "$(jq -c '[([.commands[].ops] | add // 0), ([.commands[].errors] | add // 0), ([.commands[].skipped] | add // 0)]' "$j")"
    check_eq "$name: unanswered" "$unans" "$(jnum "$j" .unanswered)"
    check_eq "$name: no request lost with its connection" 0 "$(jnum "$j" .lost)"
    check_eq "$name: ops = sent - unanswered" "$(( $(jnum "$j" .sent) - unans ))" "$(jnum "$j" .ops)"
    check_eq "$name: no new errors" 0 "$(jnum "$j" .divergence.new_errors)"
    # golden-v1 is synthetic: its recorded RESP3 boolean for SISMEMBER is not what a server says
    case $name in
    golden-v1*) ;;
    *) check_eq "$name: no reply of another type than recorded" 0 "$(jnum "$j" .divergence.type_changed)" ;;
    esac
    # (the requests skipped in these traces all have a recorded reply, but the malformed ones,
    # which are skipped and left out here)
    if [ "$(jnum "$j" '.unsent + .unanswered')" = 0 ]; then
        check_eq "$name: every recorded reply of a request sent compared" \
            "$(( $("$RT" cat "$trace" --format jsonl | jq -c 'select(.event=="request" and .reply!=null and .malformed!=true)' | wc -l) - $(jnum "$j" '.skipped - .skipped_by.malformed') ))" \
            "$(jnum "$j" .divergence.compared)"
    fi
    port=$(sed -n 's/.*throwaway redis-server on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$e" | head -n 1)
    if [ -z "$port" ]; then
        fail "$name: stderr does not name the throwaway server"
    elif [ "$rc" -lt 128 ] && timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2> /dev/null | grep -q PONG; then
        fail "$name: the throwaway server on port $port still answers after the replay"
    else
        ok
    fi
}

# ---- the traces shipped in traces/ ------------------------------------------------------
n=0
for t in "$SRC"/traces/*.rtrace; do
    name=$(basename "$t" .rtrace)
    n=$((n + 1))
    case $name in
    golden-v1*)
        # BLPOP jobs 0 on a list nothing pushes to blocks until the end: the one unanswered
        # (golden-v1.1 and 1.2 are the same events in later format versions)
        UNANSWERED=1 replay_check "$name" "$t"
        check_eq "$name: the BLPOP is the one unanswered" 0 "$(jnum "$TMP/$name.json" .commands.blpop.ops)"
        ;;
    newer-encoding)
        # golden-v1.1 with one chunk marked with an encoding this version cannot read: the
        # rest is replayed, the chunk's requests are not, and the exit status says so
        READABLE=$("$RT" cat "$t" --format jsonl 2> /dev/null | grep -c '"event":"request"') \
            UNANSWERED=1 replay_check "$name" "$t"
        check_eq "$name: the unreadable chunk counted" 1 "$(jnum "$TMP/$name.json" .unreadable_chunks)"
        check_match "$name: and named in the failure line" "use an encoding this version cannot read" \
            "$(grep '^resptrace replay: ' "$TMP/$name.err" | grep -v throwaway | tail -n 1)"
        ;;
    *)
        replay_check "$name" "$t"
        ;;
    esac
done
check_eq "traces/ holds traces" 1 "$((n >= 6))"
UNANSWERED=1 replay_check golden-v1-threads2 "$SRC/traces/golden-v1.rtrace" --threads 2
UNANSWERED=1 replay_check golden-v1-connections3 "$SRC/traces/golden-v1.rtrace" --connections 3

# ---- the sample capture, recorded first --------------------------------------------------
"$RT" record -q -r "$SRC/traces/sample-clients.pcap" -f tcp -w "$TMP/sample-clients.rtrace" \
    > /dev/null 2> "$TMP/sample-clients.rec.err"
check_eq "sample-clients.pcap: record exit" 0 $?
replay_check sample-clients "$TMP/sample-clients.rtrace"

# ---- the Zeek captures -------------------------------------------------------------------
Z=$SRC/../shared/fixtures/zeek-redis
if [ ! -f "$Z/README.md" ]; then
    echo "note: no $Z: the Zeek captures are not replayed"
    finish
fi
n=0
for f in "$Z"/*.pcap "$Z"/*.pcapng; do
    name=$(basename "$f")
    name=zeek-${name%.*}
    n=$((n + 1))
    "$RT" record -q -r "$f" -f tcp -w "$TMP/$name.rtrace" > /dev/null 2> "$TMP/$name.rec.err"
    check_eq "$name: record exit" 0 $?
    replay_check "$name" "$TMP/$name.rtrace"
done
check_eq "Zeek captures found" 1 "$((n >= 10))"
# the captures with CLIENT REPLY OFF/SKIP: every request sent, those without a reply too
for name in zeek-reply-off-on zeek-reply-off-on-2conn zeek-client-skip-while-off; do
    [ -f "$TMP/$name.rtrace" ] || continue
    check_eq "$name: every request sent" "$(jnum "$TMP/$name.json" .requests)" "$(jnum "$TMP/$name.json" .sent)"
    check_eq "$name: it has requests the server does not answer" 1 \
        "$(( $("$RT" cat "$TMP/$name.rtrace" --format jsonl | jq -c 'select(.event=="request" and .reply==null)' | wc -l) > 0 ))"
done
finish
