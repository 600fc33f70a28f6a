#!/usr/bin/env bash
# test_outputs.sh: the outputs of slice, filter, merge, anonymize, convert, info and prime.
#  - An output that is an input (the same file, a hard link to it, a symlink to it; the trace,
#    anonymize's secret, a --json=FILE) is refused before anything is opened for writing: exit
#    2, the input byte for byte as it was.
#  - A run that fails while writing (a file size limit: EFBIG) or reading (a bad MONITOR line)
#    leaves an existing output as it was and no temporary file behind.
#  - Ctrl-C (SIGINT, here while the command waits for more of its input on a pipe) stops the
#    reading: the output is closed and complete (readable, indexed) with what was written,
#    "interrupted: wrote N events" is said, exit 130.
#  - On a terminal (script(1) gives a pseudo-terminal) a status line "\r\033[K... NN% ..." is
#    shown and cleared at the end; -q silences it; not on a pipe.
. "$(dirname "$0")/lib.sh"
S=$SRC/traces/sample-cache.rtrace
S2=$SRC/traces/sample-queue.rtrace
O=$TMP/o
mkdir -p "$O"
printf 'a secret of at least sixteen bytes\n' > "$TMP/secret"
cp "$TMP/secret" "$TMP/secret.orig"

# no temporary file of an output is ever left in $O
no_tmp_left() { check_eq "$1: no temporary file left" "" "$(ls -A "$O" | grep '\.tmp-')"; }

# ---- an output that is an input is refused ---------------------------------------------------
cp "$S" "$O/in.rtrace"
cp "$S" "$TMP/orig.rtrace"
ln "$O/in.rtrace" "$O/hard.rtrace"
ln -s in.rtrace "$O/sym.rtrace"
cp "$S2" "$O/other.rtrace"
# refuse NAME FILE-THAT-MUST-STAY ORIGINAL-COPY COMMAND...: exit 2, "will not write", no change
refuse() {
    local name=$1 keep=$2 orig=$3
    shift 3
    "$RT" "$@" > "$TMP/r.out" 2> "$TMP/r.err"
    check_eq "$name: exit 2" 2 $?
    check_match "$name: said" "will not write .*: it is the input|would overwrite the output" "$(cat "$TMP/r.err")"
    check_files "$name: input unchanged" "$orig" "$keep"
}
refuse "slice T -o T" "$O/in.rtrace" "$TMP/orig.rtrace" slice "$O/in.rtrace" -o "$O/in.rtrace"
refuse "slice T -o hard link" "$O/in.rtrace" "$TMP/orig.rtrace" slice "$O/in.rtrace" -o "$O/hard.rtrace" --from +1
refuse "slice T -o symlink" "$O/in.rtrace" "$TMP/orig.rtrace" slice "$O/in.rtrace" -o "$O/sym.rtrace"
refuse "slice symlink -o T" "$O/in.rtrace" "$TMP/orig.rtrace" slice "$O/sym.rtrace" -o "$O/in.rtrace"
refuse "slice --json=T" "$O/in.rtrace" "$TMP/orig.rtrace" slice "$O/in.rtrace" -o "$O/x.rtrace" --json="$O/hard.rtrace"
refuse "slice -o X --json=X" "$O/in.rtrace" "$TMP/orig.rtrace" slice "$O/in.rtrace" -o "$O/x.rtrace" --json="$O/x.rtrace"
refuse "filter T -o T" "$O/in.rtrace" "$TMP/orig.rtrace" filter "$O/in.rtrace" -o "$O/in.rtrace" --cmd get
refuse "filter T -o hard link" "$O/in.rtrace" "$TMP/orig.rtrace" filter "$O/in.rtrace" -o "$O/hard.rtrace" --conn 1
refuse "merge A B -o B" "$O/in.rtrace" "$TMP/orig.rtrace" merge "$O/other.rtrace" "$O/in.rtrace" -o "$O/in.rtrace"
refuse "merge A B -o symlink to B" "$O/in.rtrace" "$TMP/orig.rtrace" merge "$O/other.rtrace" "$O/in.rtrace" -o "$O/sym.rtrace"
refuse "anonymize T -o T" "$O/in.rtrace" "$TMP/orig.rtrace" anonymize "$O/in.rtrace" -o "$O/in.rtrace" --key-secret "$TMP/secret"
refuse "anonymize -o SECRET" "$TMP/secret" "$TMP/secret.orig" anonymize "$O/in.rtrace" -o "$TMP/secret" --key-secret "$TMP/secret"
refuse "convert --to resp T -o T" "$O/in.rtrace" "$TMP/orig.rtrace" convert --to resp "$O/in.rtrace" -o "$O/in.rtrace"
refuse "convert --to twitter T -o hard link" "$O/in.rtrace" "$TMP/orig.rtrace" convert --to twitter "$O/in.rtrace" -o "$O/hard.rtrace"
printf '1700000000.000001 [0 127.0.0.1:1] "SET" "k" "v"\n' > "$O/mon.txt"
cp "$O/mon.txt" "$TMP/mon.orig"
refuse "convert --from monitor F -o F" "$O/mon.txt" "$TMP/mon.orig" convert --from monitor "$O/mon.txt" -o "$O/mon.txt"
refuse "info --json=T" "$O/in.rtrace" "$TMP/orig.rtrace" info "$O/in.rtrace" --json="$O/sym.rtrace"
refuse "prime --json=T" "$O/in.rtrace" "$TMP/orig.rtrace" prime "$O/in.rtrace" --dry-run --json="$O/in.rtrace"
# replay results (JSON) merged into one of themselves
printf '{"ops": 1}\n' > "$O/run1.json"
printf '{"ops": 2}\n' > "$O/run2.json"
cp "$O/run1.json" "$TMP/run1.orig"
refuse "merge RUN1 RUN2 -o RUN1" "$O/run1.json" "$TMP/run1.orig" merge "$O/run1.json" "$O/run2.json" -o "$O/run1.json"
check_eq "nothing created by the refusals" "hard.rtrace in.rtrace mon.txt other.rtrace run1.json run2.json sym.rtrace" "$(ls "$O" | tr '\n' ' ' | sed 's/ $//')"

# ---- a failed run leaves an existing output as it was -------------------------------------------
printf 'an older output\n' > "$TMP/old"
# efbig NAME OUT COMMAND...: with files limited to 4 KiB (SIGXFSZ ignored: write() fails with
# EFBIG) the command fails; OUT (which existed) is unchanged
efbig() {
    local name=$1 out=$2
    shift 2
    cp "$TMP/old" "$out"
    (trap '' XFSZ; ulimit -f 4; exec "$RT" "$@") > "$TMP/f.out" 2> "$TMP/f.err"
    check_eq "$name: exit 1" 1 $?
    check_match "$name: the write failure said" "File too large|cannot write" "$(cat "$TMP/f.err")"
    check_files "$name: the existing output is left as it was" "$TMP/old" "$out"
    no_tmp_left "$name"
}
efbig "slice, writes failing" "$O/out.rtrace" slice "$S" -o "$O/out.rtrace"
efbig "filter, writes failing" "$O/out.rtrace" filter "$S" -o "$O/out.rtrace" --cmd get,set
efbig "merge, writes failing" "$O/out.rtrace" merge "$S" "$S2" -o "$O/out.rtrace"
efbig "anonymize, writes failing" "$O/out.rtrace" anonymize "$S" -o "$O/out.rtrace" --key-secret "$TMP/secret"
efbig "convert --to resp, writes failing" "$O/out.resp" convert --to resp "$S" -o "$O/out.resp"
# the JSON file of a run that failed is not written either
cp "$TMP/old" "$O/sum.json"
efbig "slice --json=FILE, writes failing" "$O/out.rtrace" slice "$S" -o "$O/out.rtrace" --json="$O/sum.json"
check_files "slice --json=FILE: the existing JSON file is left as it was" "$TMP/old" "$O/sum.json"
# a bad input line
printf '1700000000.000001 [0 127.0.0.1:1] "SET" "k" "v"\n1700000000.000002 [0 127.0.0.1:1] "SET" "k\n' > "$TMP/bad.txt"
cp "$TMP/old" "$O/out.rtrace"
"$RT" convert --from monitor "$TMP/bad.txt" -o "$O/out.rtrace" > /dev/null 2> "$TMP/bad.err"
check_eq "convert, a bad line: exit 1" 1 $?
check_files "convert, a bad line: the existing output is left as it was" "$TMP/old" "$O/out.rtrace"
no_tmp_left "convert, a bad line"
# and a successful run replaces it, with a trace's rights
"$RT" slice "$S" -o "$O/out.rtrace" > /dev/null
check_eq "slice over an existing file: exit 0" 0 $?
check_eq "the output is the new trace" 2000 "$("$RT" info --json "$O/out.rtrace" | jq .requests)"
check_eq "a trace is written 0600" 600 "$(stat -c %a "$O/out.rtrace")"
no_tmp_left "slice"

# an output that is not a regular file (a FIFO here; /dev/null alike) is written in place, not
# replaced by a renamed temporary file
mkfifo "$O/fifo.out"
cat "$O/fifo.out" > "$TMP/from-fifo.rtrace" &
"$RT" slice "$S" -o "$O/fifo.out" > /dev/null
check_eq "slice -o FIFO: exit 0" 0 $?
wait
check_eq "slice -o FIFO: the FIFO is still a FIFO" fifo "$(stat -c %F "$O/fifo.out" | sed 's/.*fifo.*/fifo/')"
check_eq "slice -o FIFO: the trace went through it" 2000 "$("$RT" info --json "$TMP/from-fifo.rtrace" | jq .requests)"
cat "$O/fifo.out" > "$TMP/from-fifo.resp" &
"$RT" convert --to resp "$S" -o "$O/fifo.out" -q
check_eq "convert -o FIFO: exit 0" 0 $?
wait
check_eq "convert -o FIFO: the FIFO is still a FIFO" fifo "$(stat -c %F "$O/fifo.out" | sed 's/.*fifo.*/fifo/')"
check_eq "convert -o FIFO: the data went through it" 2000 "$(grep -c '^\*' "$TMP/from-fifo.resp")"
rm -f "$O/fifo.out"
no_tmp_left "outputs to a FIFO"

# ---- Ctrl-C: what was read is written, complete, exit 130 -----------------------------------------
# interrupt NAME OUT WHAT COMMAND... (reading "-"): the first 20000 bytes of the sample go to the
# command through a pipe that stays open, then SIGINT; the output must be a closed trace holding
# the N events the command says it wrote (the sample's first two chunks: 2019 events)
interrupt() {
    local name=$1 out=$2 what=$3
    shift 3
    rm -f "$TMP/fifo"
    mkfifo "$TMP/fifo"
    "$RT" "$@" < "$TMP/fifo" > "$TMP/i.out" 2> "$TMP/i.err" &
    local pid=$!
    exec 3> "$TMP/fifo"
    head -c 20000 "$S" >&3
    sleep 1
    kill -INT "$pid"
    sleep 0.3
    exec 3>&-
    wait "$pid"
    check_eq "$name: exit 130" 130 $?
    local line n
    line=$(grep 'interrupted' "$TMP/i.err")
    [ -n "$what" ] && check_match "$name: says what it wrote" "^resptrace [a-z]+: interrupted: wrote [0-9,]+ $what\$" "$line"
    n=$(printf '%s' "$line" | sed -n 's/.*wrote \([0-9,]*\) .*/\1/p' | tr -d ,)
    if [ "$what" = events ]; then
        "$RT" info --verify --json "$out" > "$TMP/i.info" 2> "$TMP/i.info.err"
        check_eq "$name: the output is complete (closed, every chunk readable)" "0 true" "$? $(jq .closed "$TMP/i.info")"
        check_eq "$name: it holds what was said" "$n" "$(jq .events "$TMP/i.info")"
        check_eq "$name: something was written before the interruption" 1 "$(( ${n:-0} > 1000 ))"
    fi
    no_tmp_left "$name"
}
interrupt "slice" "$O/i1.rtrace" events slice - -o "$O/i1.rtrace" --json="$O/i1.json"
check_eq "slice: the JSON says interrupted" true "$(jq .interrupted "$O/i1.json")"
interrupt "filter" "$O/i2.rtrace" events filter - -o "$O/i2.rtrace" --conn 1,2,3,4
interrupt "anonymize" "$O/i3.rtrace" events anonymize - -o "$O/i3.rtrace" --key-secret "$TMP/secret"
interrupt "merge" "$O/i4.rtrace" events merge - -o "$O/i4.rtrace"
interrupt "convert --to resp" "$O/i5.resp" requests convert --to resp - -o "$O/i5.resp"
check_eq "convert --to resp: what was read is in the output" 1 "$(( $(grep -c '^\*' "$O/i5.resp") > 900 ))"
interrupt "prime --dry-run" "" "" prime - --dry-run
check_match "prime: nothing loaded" "interrupted while reading the trace: nothing was loaded" "$(cat "$TMP/i.err")"
# convert --from monitor reads lines
rm -f "$TMP/fifo"
mkfifo "$TMP/fifo"
"$RT" convert --from monitor - -o "$O/i6.rtrace" < "$TMP/fifo" > /dev/null 2> "$TMP/i.err" &
pid=$!
exec 3> "$TMP/fifo"
for i in $(seq 1 50); do printf '1700000000.%06d [0 127.0.0.1:1] "SET" "k%d" "v"\n' "$i" "$i" >&3; done
sleep 1
kill -INT "$pid"
sleep 0.3
exec 3>&-
wait "$pid"
check_eq "convert --from monitor: exit 130" 130 $?
check_match "convert --from monitor: says what it wrote" "interrupted: wrote 50 requests" "$(cat "$TMP/i.err")"
check_eq "convert --from monitor: a closed trace of the 50 requests" "true 50" "$("$RT" info --verify --json "$O/i6.rtrace" | jq -r '"\(.closed) \(.requests)"')"

# ---- the status line on a terminal ------------------------------------------------------------------
BIGGEN=$(dirname "$RT")/tests/make_big_trace
if [ ! -x "$BIGGEN" ]; then
    BIGGEN=$TMP/make_big_trace
    gcc -std=gnu11 -O2 -I"$SRC/format" -o "$BIGGEN" "$SRC/tests/bench/make_big_trace.c" \
        "$SRC/format/common.c" "$SRC/format/writer.c" $(pkg-config --libs libzstd libxxhash) -lpthread
fi
"$BIGGEN" "$TMP/big.rtrace" 20000 4 > /dev/null
check_eq "a 40,000-event trace" 40008 "$("$RT" info --json "$TMP/big.rtrace" | jq .events)"
seq 1 6000 | awk '{printf "1700000000.%06d [0 127.0.0.1:1] \"SET\" \"k%d\" \"v\"\n", $1, $1}' > "$TMP/mon6k.txt"
# on_tty NAME INPUT COMMAND...: runs COMMAND reading INPUT from a pipe that starts after 1 s
# (so the first update, 250 ms after the start, is due) inside script(1); its terminal output
on_tty() {
    local name=$1 input=$2
    shift 2
    local cmd
    cmd="(sleep 1; cat $(printf %q "$input")) | $(printf '%q ' "$RT" "$@")"
    timeout 120 script -qfec "$cmd" /dev/null > "$TMP/tty.$name" 2>&1 < /dev/null
}
# a status line: "\r\033[K" then "NAME  N events (" (no percentage: the input comes from a pipe,
# whose size is not known), and at the end a "\r\033[K" that clears it
tty_check() {
    local name=$1 file=$2 pct='  [0-9.kM]* events ('
    [ $# -ge 3 ] && pct=$3
    check_eq "$name: a status line on a terminal" 1 \
        "$(grep -a -c "$(printf '\r\033')\[K$name$pct" "$file" | awk '{print ($1 > 0)}')"
    check_eq "$name: cleared at the end" "" \
        "$(awk 'BEGIN { RS = "\033\\[K" } { last = $0 } END { print last }' "$file" | grep -a '/s)')"
    [ $# -ge 3 ] ||
        check_eq "$name: no percentage for a pipe" 0 "$(grep -a -c "$(printf '\033')\[K$name *[0-9]*%" "$file")"
}
if command -v script > /dev/null; then
    on_tty slice "$TMP/big.rtrace" slice - -o "$O/t1.rtrace"
    tty_check slice "$TMP/tty.slice"
    on_tty filter "$TMP/big.rtrace" filter - -o "$O/t2.rtrace" --conn 1,2
    tty_check filter "$TMP/tty.filter"
    on_tty merge "$TMP/big.rtrace" merge - "$S" -o "$O/t3.rtrace"
    tty_check merge "$TMP/tty.merge" ' \{1,3\}[0-9]\{1,3\}%' # a part of its inputs is a file
    on_tty anonymize "$S" anonymize - -o "$O/t4.rtrace" --key-secret "$TMP/secret"
    tty_check anonymize "$TMP/tty.anonymize"
    on_tty convert "$TMP/big.rtrace" convert --to resp - -o "$O/t5.resp"
    tty_check convert "$TMP/tty.convert"
    on_tty convertm "$TMP/mon6k.txt" convert --from monitor - -o "$O/t6.rtrace"
    tty_check convert "$TMP/tty.convertm" "  [0-9.k]* lines ("
    on_tty quiet "$TMP/big.rtrace" slice - -o "$O/t7.rtrace" -q
    check_eq "-q: no status line" 0 "$(grep -a -c "$(printf '\033')\[K" "$TMP/tty.quiet")"
    check_eq "-q: the run itself done" 40008 "$("$RT" info --json "$O/t7.rtrace" | jq .events)"
else
    fail "script(1) (util-linux) is needed for the status line checks"
fi
# not on a pipe
"$RT" slice "$TMP/big.rtrace" -o "$O/t8.rtrace" > /dev/null 2> "$TMP/pipe.err"
check_eq "no status line when stderr is not a terminal" 0 "$(grep -c "$(printf '\033')" "$TMP/pipe.err")"
no_tmp_left "the status line runs"
finish
