#!/usr/bin/env bash
# test_cmdtable.sh: the committed command table (format/cmdtable_data.c) is exactly what
# format/gen_cmdtable writes from a fresh redis-server: regenerated into a temporary file
# against a redis-server this test starts, and compared byte for byte. A difference means the
# table was edited by hand, or the installed redis-server is another version: regenerate with
# `cmake --build build --target regen_cmdtable` and review the diff.
. "$(dirname "$0")/lib.sh"
GEN=${RT_GEN_CMDTABLE:-$(dirname "$RT")/format/gen_cmdtable}
if [ ! -x "$GEN" ]; then
    echo "no $GEN (hiredis missing?): skipped"
    exit 0
fi

start_redis
"$GEN" 127.0.0.1 "$REDIS_PORT" "$TMP/cmdtable_data.c" 2> "$TMP/gen.err"
check_eq "gen_cmdtable exit" 0 $?
check_eq "gen_cmdtable quiet" "" "$(cat "$TMP/gen.err")"
# The table names the server version it came from; a Debian point release with the same
# commands must not fail the test, so the version is masked before comparing.
mask() { sed -E 's/redis [0-9]+\.[0-9]+\.[0-9]+/redis X.Y.Z/' "$1"; }
mask "$SRC/format/cmdtable_data.c" > "$TMP/committed.masked"
mask "$TMP/cmdtable_data.c" > "$TMP/generated.masked"
check_files "committed cmdtable_data.c is the generated one" "$TMP/committed.masked" "$TMP/generated.masked"
check_match "generated from the running server" \
    "from redis $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" INFO server | tr -d '\r' | sed -n 's/^redis_version://p')" \
    "$(head -1 "$TMP/cmdtable_data.c")"
# the table covers the whole server: every command and subcommand of COMMAND LIST is in it
n=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" COMMAND COUNT)
top=$(grep -c '^    {"[a-z_-]*", ' "$TMP/cmdtable_data.c")
check_eq "every top-level command" "$n" "$top"

# the wrapper starts its own server and writes the same file
bash "$SRC/format/gen_cmdtable.sh" "$GEN" "$TMP/wrapped.c"
check_eq "gen_cmdtable.sh exit" 0 $?
check_files "gen_cmdtable.sh writes the same table" "$TMP/cmdtable_data.c" "$TMP/wrapped.c"
finish
