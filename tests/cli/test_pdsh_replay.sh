#!/bin/bash
# test_pdsh_replay.sh: tools/multihost/pdsh-replay.sh with three "hosts" that are this
# machine (RSH and RCP replaced by local shims): three parts (--part I/3, --start-at) of the
# sample trace against one redis-server, fetched and merged; the merged run holds every
# request of the trace once.
. "$(dirname "$0")/lib.sh"
T="$SRC/traces/sample-cache.rtrace"
S="$SRC/tools/multihost/pdsh-replay.sh"
if ! "$RT" replay --help | grep -q -- "--part I/N"; then
    echo "resptrace replay has no --part: skipped" >&2
    exit 0
fi
start_redis_x
P=$RX_PORT

# the shims: "$RSH HOST CMD" runs CMD here; "$RCP [HOST:]SRC [HOST:]DST" copies here
mkdir -p "$TMP/remote" "$TMP/bin"
printf '#!/bin/sh\necho "$1" >> %s/hosts.log\nexec sh -c "$2"\n' "$TMP" > "$TMP/bin/rsh"
printf '#!/bin/sh\nexec cp "${1#*:}" "${2#*:}"\n' > "$TMP/bin/rcp"
chmod +x "$TMP/bin/rsh" "$TMP/bin/rcp"
export RSH="$TMP/bin/rsh" RCP="$TMP/bin/rcp" RESPTRACE="$RT" RESPTRACE_REMOTE="$RT"

bash "$S" --target "redis://127.0.0.1:$P" --trace "$T" --out "$TMP/out" --delay 2 --copy \
    --remote-dir "$TMP/remote" --label "three hosts" hostA hostB hostC -- --speed 4 \
    > "$TMP/s.out" 2> "$TMP/s.err"
RC=$?
if [ "$RC" != 0 ]; then # what the launcher and each part said, for the CI log
    { echo "--- pdsh-replay.sh stderr:"; cat "$TMP/s.err"; for f in "$TMP"/out/part-*.log; do
        echo "--- $f:"; cat "$f"; done; } >&2 2>/dev/null
fi
check_eq "pdsh-replay exit" 0 "$RC"
check_eq "each host reached once" "hostA hostB hostC" "$(sort "$TMP/hosts.log" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the trace copied" "$(cksum < "$T")" "$(cksum < "$TMP/remote/resptrace-trace.rtrace")"
for i in 1 2 3; do
    check_eq "part $i fetched" "part $i of 3: three hosts part $i/3" \
        "part $i of 3: $(jq -r .label "$TMP/out/run-$i.json")"
done
M="$TMP/out/run.json"
check_eq "merged label" "three hosts" "$(jq -r .label "$M")"
check_eq "merged parts" 3 "$(jq '.parts | length' "$M")"
check_eq "merged ops: every request of the trace once" 2000 "$(jnum "$M" .ops)"
check_eq "merged ops: the parts' sum" "$(jq -s 'map(.ops) | add' "$TMP"/out/run-[123].json)" "$(jnum "$M" .ops)"
check_eq "every part answered in full" 0 "$(jq -s 'map(.unanswered + .errors) | add' "$TMP"/out/run-[123].json)"
check_eq "merged latency count" 2000 "$(jnum "$M" .latency_us.count)"
check_match "the common start announced" "3 parts start at" "$(cat "$TMP/s.err")"

# a host that fails: exit 1, and no merge of the parts that ran
printf '#!/bin/sh\ncase $1 in hostB) exit 3 ;; esac\nexec sh -c "$2"\n' > "$TMP/bin/rsh"
rm -f "$TMP/remote"/resptrace-run-*.json
bash "$S" --target "redis://127.0.0.1:$P" --trace "$T" --out "$TMP/out2" --delay 1 \
    hostA hostB --remote-dir "$TMP/remote" > /dev/null 2> "$TMP/s2.err"
check_eq "a failed part: exit 1" 1 $?
check_match "... names it" "part 2 on hostB failed" "$(cat "$TMP/s2.err")"
check_eq "... nothing merged" "no" "$([ -e "$TMP/out2/run.json" ] && echo yes || echo no)"
bash "$S" --trace "$T" --out "$TMP/o3" hostA 2> /dev/null
check_eq "no --target: exit 2" 2 $?

finish
