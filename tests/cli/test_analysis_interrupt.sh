#!/usr/bin/env bash
# test_analysis_interrupt.sh: the long passes of stat, hotkeys, shards, report and prime over a
# big trace (tests/bench/make_big_trace.c, 3 million requests). On a terminal (a pseudo-terminal
# made by script(1)) they show a status line rewritten in place ("\r\033[K", a percentage),
# under 80 columns, cleared at the end; none with -q or when stderr is not a terminal. Ctrl-C
# (SIGINT, sent once the status line shows the pass running) or SIGTERM stops the pass: what
# was read is reported, marked as interrupted, and the exit status is 130.
. "$(dirname "$0")/lib.sh"
GEN=$(dirname "$RT")/tests/make_big_trace
if [ ! -x "$GEN" ]; then
    echo "no $GEN (build the make_big_trace target)" >&2
    exit 1
fi
if ! command -v script > /dev/null; then
    fail "script(1) is not installed (util-linux)"
    finish
fi
B=$TMP/big.rtrace
N=3000000
"$GEN" "$B" "$N" 50 > /dev/null; check_eq "make_big_trace exit" 0 $?
EVENTS=$("$RT" info --json "$B" | jq .events)
check_eq "the trace's events" 1 "$([ "${EVENTS:-0}" -gt "$N" ] && echo 1)"

# run.sh: writes its process id into $PIDF, then becomes the command (so the signal reaches it)
cat > "$TMP/run.sh" <<'EOF'
#!/bin/sh
echo $$ > "$PIDF"
exec "$@"
EOF
chmod +x "$TMP/run.sh"

# on_pty NAME SIGNAL ARGS...: `resptrace ARGS` on a pseudo-terminal; once its status line shows,
# SIGNAL is sent to it (none when SIGNAL is "-"). Sets RC; the terminal's bytes are in NAME.tty.
on_pty() {
    local name=$1 sig=$2 spid i
    shift 2
    export PIDF=$TMP/$name.pid
    rm -f "$PIDF"
    script -qfec "$TMP/run.sh $RT $*" /dev/null > "$TMP/$name.tty" 2>&1 < /dev/null &
    spid=$!
    if [ "$sig" != - ]; then
        for i in $(seq 1 600); do
            grep -q '%' "$TMP/$name.tty" 2> /dev/null && [ -s "$PIDF" ] && break
            sleep 0.05
        done
        kill "-$sig" "$(cat "$PIDF")"
    fi
    wait "$spid"
    RC=$?
}

# statuses NAME: the status lines drawn (the text after each "\r\033[K"), one per line
statuses() {
    python3 - "$TMP/$1.tty" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
parts = d.split("\r\x1b[K")
for p in parts[1:]:
    print(p.split("\r")[0].split("\n")[0])
EOF
}
# cleared NAME: 1 when the last status line was cleared (a "\r\033[K" with nothing after it
# on that line)
cleared() {
    python3 - "$TMP/$1.tty" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
last = d.split("\r\x1b[K")[-1]
print(1 if "%" not in last.split("\n")[0] else 0)
EOF
}

# ---- the status line ----------------------------------------------------------------------------
for cmd in stat hotkeys shards; do
    on_pty "$cmd" - "$cmd" "$B" --json="$TMP/$cmd-full.json"
    check_eq "$cmd on a terminal: exit" 0 "$RC"
    check_match "$cmd: a status line with a percentage" "^$cmd +[0-9]+%  [0-9.]+[kM]? events" \
        "$(statuses "$cmd" | head -1)"
    check_eq "$cmd: status lines fit 80 columns" "" "$(statuses "$cmd" | awk 'length($0) >= 80')"
    check_eq "$cmd: the status line is cleared at the end" 1 "$(cleared "$cmd")"
    check_eq "$cmd: the whole trace read" false "$(jq .interrupted "$TMP/$cmd-full.json")"
    on_pty "$cmd-q" - "$cmd" "$B" -q --json="$TMP/$cmd-q.json"
    check_eq "$cmd -q: exit" 0 "$RC"
    check_eq "$cmd -q: no status line" 0 "$(grep -c $'\033\\[K' "$TMP/$cmd-q.tty")"
done
check_eq "stat: every event" "$EVENTS" "$(jq .events "$TMP/stat-full.json")"
"$RT" stat "$B" --json="$TMP/notty.json" > /dev/null 2> "$TMP/notty.err"
check_eq "stderr not a terminal: no status line" 0 "$(grep -c $'\033' "$TMP/notty.err")"
on_pty report - report "$B" -o "$TMP/full.html" --shards 3
check_eq "report on a terminal: exit" 0 "$RC"
# the report reads the trace once for its three analyses (rt_analyses_json_pass) or once for
# each (stat, hot keys, shards): a status line for each pass, under its name
REPORT_PASSES=$(statuses report | sed -n 's/^\(report[a-z: ]*[a-z]\) *[0-9]*%.*/\1/p' | uniq | xargs)
if [ "$REPORT_PASSES" = report ]; then
    check_eq "report: one status line for its one pass" report "$REPORT_PASSES"
else
    check_eq "report: a status line for each pass" "report: stat report: hot keys report: shards" \
        "$REPORT_PASSES"
fi
check_eq "report: cleared at the end" 1 "$(cleared report)"
# prime reads the trace through the same walk, with the same status line (it had none)
on_pty prime - prime "$B" --dry-run --json="$TMP/prime-full.json"
check_eq "prime on a terminal: exit" 0 "$RC"
check_match "prime: a status line while it reads" "^prime: reading +[0-9]+%  [0-9.]+[kM]? events" \
    "$(statuses prime | sed -n 1p)"
check_eq "prime: status lines fit 80 columns" "" "$(statuses prime | awk 'length($0) >= 80')"
check_eq "prime: cleared before the table" 1 "$(cleared prime)"
on_pty prime-q - prime "$B" --dry-run -q --json="$TMP/prime-q.json"
check_eq "prime -q: no status line while it reads" 0 "$(grep -c 'prime: reading' "$TMP/prime-q.tty")"

# ---- Ctrl-C: what was read is reported, exit 130 --------------------------------------------------
on_pty stat-int INT stat "$B" --json="$TMP/stat-int.json"
check_eq "stat interrupted: exit 130" 130 "$RC"
J=$TMP/stat-int.json
check_eq "stat interrupted: marked" true "$(jq .interrupted "$J")"
check_eq "stat interrupted: part of the trace read" 1 \
    "$(jq --argjson n "$EVENTS" 'if .events > 0 and .events < $n then 1 else 0 end' "$J")"
check_eq "stat interrupted: the counts are of what was read" 1 \
    "$(jq 'if .requests > 0 and .requests <= .events and ([.commands[].count] | add) == .requests then 1 else 0 end' "$J")"
check_match "stat interrupted: says so" "resptrace stat: interrupted: the summary covers the first [0-9]+ events" \
    "$(tr -d '\r' < "$TMP/stat-int.tty")"
check_match "stat interrupted: the tables printed" "(^|$(printf '\n'))requests +[0-9]+ " "$(tr -d '\r' < "$TMP/stat-int.tty")"

on_pty hk-int INT hotkeys "$B" --json="$TMP/hk-int.json"
check_eq "hotkeys interrupted: exit 130" 130 "$RC"
check_eq "hotkeys interrupted: marked, some keys, part of the requests" 1 \
    "$(jq --argjson n "$N" 'if .interrupted and (.keys | length) == 20 and .requests > 0 and .requests < $n then 1 else 0 end' "$TMP/hk-int.json")"
check_match "hotkeys interrupted: says so" "resptrace hotkeys: interrupted: the ranking covers the first" \
    "$(tr -d '\r' < "$TMP/hk-int.tty")"

on_pty sh-int TERM shards "$B" --shards 3 --json="$TMP/sh-int.json"
check_eq "shards stopped by SIGTERM: exit 130" 130 "$RC"
check_eq "shards stopped: marked, the projection of what was read" 1 \
    "$(jq --argjson n "$N" 'if .interrupted and .requests > 0 and .requests < $n and ([.projections[0].shards[].ops] | add) == .keyed_requests then 1 else 0 end' "$TMP/sh-int.json")"

on_pty prime-int INT prime "$B" --dry-run
check_eq "prime interrupted while reading: exit 130" 130 "$RC"
check_match "prime interrupted while reading: says so, loads nothing" \
    "resptrace prime: interrupted while reading the trace: nothing was loaded" \
    "$(tr -d '\r' < "$TMP/prime-int.tty")"

echo "previous" > "$TMP/int.html"
on_pty rep-int INT report "$B" -o "$TMP/int.html" --shards 3 --json="$TMP/rep-int.json"
check_eq "report interrupted: exit 130" 130 "$RC"
check_eq "report interrupted: the report written" 1 "$(grep -c '^<!DOCTYPE html>' "$TMP/int.html")"
check_match "report interrupted: the report says so" 'class="warn">Interrupted \(Ctrl-C\)' "$(cat "$TMP/int.html")"
check_eq "report interrupted: the JSON says so" true "$(jq .interrupted "$TMP/rep-int.json")"
check_eq "report interrupted: nothing left beside it" "" "$(ls -A "$TMP" | grep '\.tmp-' || true)"
finish
