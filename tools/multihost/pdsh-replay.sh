#!/bin/bash
# pdsh-replay.sh: one replay driven from several hosts over ssh (or pdsh): host I of N
# replays `--part I/N` of the trace's connections, all starting at the same second
# (`--start-at`); the results are fetched and merged exactly with `resptrace merge`.
set -u

usage() {
    cat <<'USAGE'
usage: pdsh-replay.sh --target URL --trace PATH --out DIR [--delay S] [--label TEXT]
                      [--copy] [--pdsh] [--remote-dir DIR] HOST... [-- REPLAY-OPTIONS...]

Runs `resptrace replay PATH --target URL --part I/N --start-at T` on each of the N HOSTs
(I = its position on the command line, 1..N; T = now + --delay seconds), copies every
host's result to DIR/run-I.json and merges them into DIR/run.json
(`resptrace merge DIR/run-*.json -o DIR/run.json`: histograms merged, not percentiles
averaged). Options after "--" go to every replay (e.g. -- --speed 2 --threads 2).

  --target URL       the service under test, as `resptrace replay --target`
  --trace PATH       the trace: its path on the hosts, or here with --copy
  --out DIR          where the results are collected (created)
  --delay S          seconds from now to the common start (default 30): enough for ssh
                     to reach every host (a host that starts late replays at once, and its
                     schedule lag shows in its result)
  --label TEXT       the merged run's label (default "N hosts"); part I is "TEXT part I/N"
  --copy             copy the trace to each host first (to --remote-dir)
  --pdsh             start the parts with `pdsh -R exec` (fan-out and host-prefixed output)
                     instead of one background ssh per host
  --remote-dir DIR   the hosts' directory for the copied trace and the results (/tmp)

Environment: RESPTRACE (the local binary, default resptrace), RESPTRACE_REMOTE (the hosts'
binary, default resptrace), RSH (default ssh), RCP (default scp): each host is reached as
`$RSH HOST COMMAND` and files as `$RCP HOST:PATH PATH`. The password, if any, is best
passed in RESPTRACE_PASS set in the hosts' environment, not on the command line.
Exit status: 0 when every part ran and the merge worked; 1 otherwise (the parts that ran
are still fetched); 2 for a bad command line.
USAGE
}

RESPTRACE=${RESPTRACE:-resptrace}
RESPTRACE_REMOTE=${RESPTRACE_REMOTE:-resptrace}
RSH=${RSH:-ssh}
RCP=${RCP:-scp}

# pdsh -R exec calls this script back once per host: --one-part HOST runs that host's part
if [ "${1:-}" = "--one-part" ]; then
    host=$2
    i=0
    for h in $PR_HOSTS; do
        i=$((i + 1))
        [ "$h" = "$host" ] && break
    done
    cmd="$PR_CMD --part $i/$PR_N --label \"\$PR_LABEL part $i/$PR_N\" --json=$PR_RDIR/resptrace-run-$i.json"
    # shellcheck disable=SC2086
    exec $RSH "$host" "PR_LABEL=$(printf %q "$PR_LABEL"); $cmd"
fi

target="" trace="" out="" delay=30 label="" copy=0 use_pdsh=0 rdir=/tmp
hosts=()
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --target) target=${2:?--target URL}; shift 2 ;;
    --trace) trace=${2:?--trace PATH}; shift 2 ;;
    --out) out=${2:?--out DIR}; shift 2 ;;
    --delay) delay=${2:?--delay S}; shift 2 ;;
    --label) label=${2:?--label TEXT}; shift 2 ;;
    --copy) copy=1; shift ;;
    --pdsh) use_pdsh=1; shift ;;
    --remote-dir) rdir=${2:?--remote-dir DIR}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "pdsh-replay.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) hosts+=("$1"); shift ;;
    esac
done
if [ -z "$target" ] || [ -z "$trace" ] || [ -z "$out" ] || [ ${#hosts[@]} -eq 0 ]; then
    usage >&2
    exit 2
fi
case $delay in '' | *[!0-9]*) echo "pdsh-replay.sh: bad --delay '$delay' (seconds)" >&2; exit 2 ;; esac
n=${#hosts[@]}
[ -n "$label" ] || label="$n hosts"
mkdir -p "$out" || exit 1

rtrace=$trace
if [ $copy = 1 ]; then
    rtrace="$rdir/resptrace-trace.rtrace"
    for h in "${hosts[@]}"; do
        $RCP "$trace" "$h:$rtrace" || { echo "pdsh-replay.sh: cannot copy the trace to $h" >&2; exit 1; }
    done
fi

start=$(( $(date +%s) + delay ))
# the command every host runs, quoted for its shell; --part, --label and --json per host
cmd="$RESPTRACE_REMOTE replay $(printf %q "$rtrace") --target $(printf %q "$target") --start-at $start -q"
for a in "${extra[@]+"${extra[@]}"}"; do cmd="$cmd $(printf %q "$a")"; done
echo "pdsh-replay.sh: $n parts start at $(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ) ($start)" >&2

status=0
if [ $use_pdsh = 1 ]; then
    list=$(IFS=,; echo "${hosts[*]}")
    PR_HOSTS="${hosts[*]}" PR_N=$n PR_CMD=$cmd PR_LABEL=$label PR_RDIR=$rdir RSH=$RSH \
        pdsh -R exec -f "$n" -w "$list" "$0" --one-part %h || status=1
else
    pids=()
    for i in $(seq 1 "$n"); do
        h=${hosts[$((i - 1))]}
        $RSH "$h" "$cmd --part $i/$n --label $(printf %q "$label part $i/$n") --json=$rdir/resptrace-run-$i.json" \
            > "$out/part-$i.log" 2>&1 &
        pids+=($!)
    done
    for i in $(seq 1 "$n"); do
        if ! wait "${pids[$((i - 1))]}"; then
            echo "pdsh-replay.sh: part $i on ${hosts[$((i - 1))]} failed (see $out/part-$i.log)" >&2
            status=1
        fi
    done
fi

got=()
for i in $(seq 1 "$n"); do
    h=${hosts[$((i - 1))]}
    if $RCP "$h:$rdir/resptrace-run-$i.json" "$out/run-$i.json" 2> /dev/null; then
        got+=("$out/run-$i.json")
    else
        echo "pdsh-replay.sh: no result from part $i on $h" >&2
        status=1
    fi
done
[ ${#got[@]} -eq "$n" ] || { echo "pdsh-replay.sh: ${#got[@]} of $n parts; not merged (merge them by hand: $RESPTRACE merge ...)" >&2; exit 1; }
"$RESPTRACE" merge "${got[@]}" -o "$out/run.json" --label "$label" || exit 1
exit $status
