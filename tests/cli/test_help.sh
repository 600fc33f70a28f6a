#!/usr/bin/env bash
# test_help.sh: the front end's dispatcher and help: `resptrace help` lists every command in
# lines under 80 columns; `resptrace help CMD` and `resptrace CMD --help` print the command's
# help; a bad command name or none is one line, then where the list is, exit 2. The help of
# the analysis commands fits 80 columns too.
. "$(dirname "$0")/lib.sh"

"$RT" help > "$TMP/help.txt"; check_eq "help exit" 0 $?
check_eq "help: every line under 80 columns" "" "$(awk 'length($0) >= 80' "$TMP/help.txt")"
cmds=$(awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' "$TMP/help.txt" |
       grep -v -x -e help -e version)
check_eq "help: the commands listed" "record replay info cat hotkeys stat merge slice filter anonymize report convert shards compare prime" \
    "$(echo $cmds)"
for c in $cmds; do
    "$RT" help "$c" > "$TMP/h.$c"; check_eq "help $c: exit" 0 $?
    "$RT" "$c" --help > "$TMP/d.$c"; check_eq "$c --help: exit" 0 $?
    check_files "help $c is $c --help" "$TMP/h.$c" "$TMP/d.$c"
    check_match "help $c: a usage line" "^usage: resptrace $c" "$(head -1 "$TMP/h.$c")"
done
for c in stat hotkeys report shards compare; do
    check_eq "$c --help: every line under 80 columns" "" "$(awk 'length($0) >= 80' "$TMP/h.$c")"
done

# a bad command name, or none: one line, then where the list is
"$RT" frobnicate > /dev/null 2> "$TMP/err"; check_eq "unknown command: exit 2" 2 $?
check_eq "unknown command: one line and the pointer" "resptrace: 'frobnicate' is not a command
see 'resptrace help'" "$(cat "$TMP/err")"
"$RT" help frobnicate > /dev/null 2> "$TMP/err"; check_eq "help of an unknown command: exit 2" 2 $?
check_eq "help of an unknown command: one line and the pointer" "resptrace: 'frobnicate' is not a command
see 'resptrace help'" "$(cat "$TMP/err")"
"$RT" > "$TMP/out" 2> "$TMP/err"; check_eq "no command: exit 2" 2 $?
check_eq "no command: one line and the pointer" "resptrace: no command given
see 'resptrace help'" "$(cat "$TMP/err")"
check_eq "no command: nothing on stdout" "" "$(cat "$TMP/out")"
finish
