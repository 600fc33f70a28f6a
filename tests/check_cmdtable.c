/* check_cmdtable.c: unit tests of the command table: lookups, flags, key and value positions,
 * and (with hiredis and a redis-server in PATH) key positions against the server's own
 * COMMAND GETKEYS. */
#include "check_suites.h"
#include "format.h"
#include "format_int.h" /* cmd_values() */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef RT_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#define MAXARGS 64

/* A request split on spaces; '' is an empty argument. */
struct req {
    size_t argc;
    const char *argv[MAXARGS];
    size_t len[MAXARGS];
    char buf[1024];
};

static void split(struct req *r, const char *line)
{
    snprintf(r->buf, sizeof r->buf, "%s", line);
    r->argc = 0;
    for (char *save = NULL, *t = strtok_r(r->buf, " ", &save); t && r->argc < MAXARGS;
         t = strtok_r(NULL, " ", &save)) {
        if (!strcmp(t, "''"))
            *t = 0;
        r->argv[r->argc] = t;
        r->len[r->argc++] = strlen(t);
    }
}

static const struct rt_cmd *look(const char *line)
{
    struct req r;
    split(&r, line);
    return rt_cmd_lookup(r.argc, r.argv, r.len);
}

/* "1,3,5" for positions, "" for none, "ERR-1" / "ERR-2" for a failure */
static const char *fmt_pos(int rc, const uint32_t *pos, size_t n, char *out, size_t cap)
{
    if (rc < 0) {
        snprintf(out, cap, "ERR%d", rc);
        return out;
    }
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%u", i ? "," : "", (unsigned)pos[i]);
    }
    return out;
}

static char res[512];

static const char *keys(const char *line)
{
    struct req r;
    uint32_t pos[MAXARGS];
    size_t n = 0;
    split(&r, line);
    const struct rt_cmd *c = rt_cmd_lookup(r.argc, r.argv, r.len);
    if (!c)
        return "UNKNOWN";
    int rc = rt_cmd_keys(c, r.argc, r.argv, r.len, pos, MAXARGS, &n);
    return fmt_pos(rc, pos, n, res, sizeof res);
}

static const char *values(const char *line)
{
    struct req r;
    uint32_t pos[MAXARGS];
    size_t n = 0;
    split(&r, line);
    const struct rt_cmd *c = rt_cmd_lookup(r.argc, r.argv, r.len);
    if (!c)
        return "UNKNOWN";
    int rc = rt_cmd_values(c, r.argc, r.argv, r.len, pos, MAXARGS, &n);
    return fmt_pos(rc, pos, n, res, sizeof res);
}

START_TEST(test_lookup)
{
    const struct rt_cmd *c = look("GET k");
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c->name, "get");
    ck_assert_int_eq(c->arity, 2);
    ck_assert_ptr_eq(look("get k"), c);
    ck_assert_ptr_eq(look("gEt k"), c);
    ck_assert_ptr_eq(rt_cmd_by_name("GET"), c);
    c = look("CONFIG SET maxmemory 1");
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c->name, "config|set");
    ck_assert_int_eq(c->arity, -4);
    ck_assert_ptr_eq(look("config set x y"), c);
    ck_assert_ptr_eq(rt_cmd_by_name("config|set"), c);
    ck_assert_str_eq(look("OBJECT ENCODING k")->name, "object|encoding");
    ck_assert_str_eq(look("client list")->name, "client|list");
    /* the container alone; an unknown subcommand; unknown commands */
    c = look("CONFIG");
    ck_assert_ptr_nonnull(c);
    ck_assert(c->flags & RT_CMD_CONTAINER);
    ck_assert_ptr_null(look("CONFIG NOSUCH"));
    ck_assert_ptr_null(look("NOSUCHCOMMAND a b"));
    ck_assert_ptr_null(rt_cmd_by_name("nosuch"));
    ck_assert_ptr_null(rt_cmd_lookup(0, NULL, NULL));
    /* a NUL inside the name is not GET */
    const char *argv[] = {"get\0x", "k"};
    size_t len[] = {5, 1};
    ck_assert_ptr_null(rt_cmd_lookup(2, argv, len));
    /* a command without subcommands ignores its arguments */
    ck_assert_str_eq(look("SET config set")->name, "set");
    /* the table: the whole server, sorted */
    ck_assert_uint_gt(rt_cmd_count(), 300);
    for (size_t i = 1; i < rt_cmd_count(); i++)
        ck_assert_int_lt(strcmp(rt_cmd_at(i - 1)->name, rt_cmd_at(i)->name), 0);
    ck_assert_ptr_null(rt_cmd_at(rt_cmd_count()));
    ck_assert(strncmp(rt_cmd_table_source(), "redis ", 6) == 0);
}
END_TEST

START_TEST(test_flags)
{
    uint32_t f = rt_cmd_by_name("set")->flags;
    ck_assert(f & RT_CMD_WRITE);
    ck_assert(!(f & RT_CMD_READONLY));
    f = rt_cmd_by_name("get")->flags;
    ck_assert(f & RT_CMD_READONLY);
    ck_assert(f & RT_CMD_FAST);
    ck_assert(!(f & RT_CMD_WRITE));
    f = rt_cmd_by_name("flushall")->flags;
    ck_assert((f & (RT_CMD_WRITE | RT_CMD_DANGEROUS)) == (RT_CMD_WRITE | RT_CMD_DANGEROUS));
    ck_assert(rt_cmd_by_name("blpop")->flags & RT_CMD_BLOCKING);
    ck_assert(!(rt_cmd_by_name("lpop")->flags & RT_CMD_BLOCKING));
    ck_assert(rt_cmd_by_name("subscribe")->flags & RT_CMD_PUBSUB);
    ck_assert(rt_cmd_by_name("xread")->flags & RT_CMD_MOVABLEKEYS);
    ck_assert(rt_cmd_by_name("eval")->flags & RT_CMD_MOVABLEKEYS);
    ck_assert(!(rt_cmd_by_name("get")->flags & RT_CMD_MOVABLEKEYS));
    f = rt_cmd_by_name("config|set")->flags;
    ck_assert(f & RT_CMD_ADMIN);
    ck_assert(f & RT_CMD_DANGEROUS);
    ck_assert(f & RT_CMD_NOSCRIPT);
    ck_assert(rt_cmd_by_name("keys")->flags & RT_CMD_DANGEROUS);
    ck_assert(rt_cmd_by_name("flushall")->flags & RT_CMD_ALL_SHARDS);
    ck_assert(!(rt_cmd_by_name("ping")->flags & RT_CMD_WRITE));
}
END_TEST

START_TEST(test_keys)
{
    ck_assert_str_eq(keys("SET k v"), "1");
    ck_assert_str_eq(keys("SET k v EX 10 GET"), "1");
    ck_assert_str_eq(keys("GET k"), "1");
    ck_assert_str_eq(keys("MSET a 1 b 2 c 3"), "1,3,5");
    ck_assert_str_eq(keys("MGET a b c"), "1,2,3");
    ck_assert_str_eq(keys("DEL a b"), "1,2");
    ck_assert_str_eq(keys("EVAL script 2 a b x y"), "3,4");
    ck_assert_str_eq(keys("EVAL script 0 x"), "");
    ck_assert_str_eq(keys("EVAL script 3 a b"), "ERR-1");
    ck_assert_str_eq(keys("EVAL script x a"), "ERR-1");
    ck_assert_str_eq(keys("ZUNIONSTORE d 2 a b WEIGHTS 1 2"), "1,3,4");
    ck_assert_str_eq(keys("XREAD COUNT 2 STREAMS a b 0 0"), "4,5");
    ck_assert_str_eq(keys("xread streams a 0"), "2");
    ck_assert_str_eq(keys("LMPOP 2 a b LEFT COUNT 3"), "2,3");
    ck_assert_str_eq(keys("BLMPOP 0 2 a b LEFT"), "3,4");
    ck_assert_str_eq(keys("SORT s BY w GET g STORE d"), "1,7");
    ck_assert_str_eq(keys("SORT s LIMIT 0 10 ALPHA"), "1");
    ck_assert_str_eq(keys("SORT_RO s BY w"), "1");
    ck_assert_str_eq(keys("OBJECT ENCODING k"), "2");
    ck_assert_str_eq(keys("MIGRATE h 6379 k 0 100"), "3");
    ck_assert_str_eq(keys("MIGRATE h 6379 '' 0 100 COPY AUTH pw KEYS a b"), "10,11");
    ck_assert_str_eq(keys("MIGRATE h 6379 '' 0 100 AUTH2 u pw KEYS a"), "10");
    ck_assert_str_eq(keys("GEORADIUS g 0 0 1 km STORE d"), "1,7");
    ck_assert_str_eq(keys("PING"), "");
    ck_assert_str_eq(keys("PUBLISH ch m"), "");
    /* arity */
    ck_assert_str_eq(keys("GET"), "ERR-1");
    ck_assert_str_eq(keys("GET a b"), "ERR-1");
    ck_assert_str_eq(keys("SET k"), "ERR-1");
    /* cap: the count still comes back */
    struct req r;
    uint32_t pos[2];
    size_t n = 0;
    split(&r, "DEL a b c d");
    ck_assert_int_eq(rt_cmd_keys(look("DEL"), r.argc, r.argv, r.len, pos, 2, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(pos[1], 2);
}
END_TEST

START_TEST(test_values)
{
    ck_assert_str_eq(values("SET k v"), "2");
    ck_assert_str_eq(values("SET k v EX 10"), "2");
    ck_assert_str_eq(values("SET k v NX GET PX 5"), "2");
    ck_assert_str_eq(values("SET k EX"), "2");
    ck_assert_str_eq(values("set k v keepttl"), "2");
    ck_assert_str_eq(values("MSET a 1 b 2 c 3"), "2,4,6");
    ck_assert_str_eq(values("MSETNX a 1 b 2"), "2,4");
    ck_assert_str_eq(values("HSET h f1 v1 f2 v2"), "3,5");
    ck_assert_str_eq(values("HMSET h f v"), "3");
    ck_assert_str_eq(values("HSETNX h f v"), "3");
    ck_assert_str_eq(values("LPUSH l a b c"), "2,3,4");
    ck_assert_str_eq(values("RPUSH l a"), "2");
    ck_assert_str_eq(values("SADD s m1 m2"), "2,3");
    ck_assert_str_eq(values("ZADD k NX 1 m"), "4");
    ck_assert_str_eq(values("ZADD k 1 a 2 b"), "3,5");
    ck_assert_str_eq(values("ZADD k GT CH 1.5 a -inf b"), "5,7");
    ck_assert_str_eq(values("ZADD k 1 NX"), "3");
    ck_assert_str_eq(values("ZINCRBY z 1.5 m"), "3");
    ck_assert_str_eq(values("XADD s MAXLEN ~ 1000 * f v"), "7");
    ck_assert_str_eq(values("XADD s NOMKSTREAM 1-1 f v g w"), "5,7");
    ck_assert_str_eq(values("APPEND k v"), "2");
    ck_assert_str_eq(values("SETRANGE k 3 v"), "3");
    ck_assert_str_eq(values("LSET l 0 e"), "3");
    ck_assert_str_eq(values("LINSERT l BEFORE p e"), "3,4");
    ck_assert_str_eq(values("GETSET k v"), "2");
    ck_assert_str_eq(values("SETEX k 10 v"), "3");
    ck_assert_str_eq(values("PSETEX k 100 v"), "3");
    ck_assert_str_eq(values("SETNX k v"), "2");
    ck_assert_str_eq(values("GEOADD g NX 13.36 38.11 Palermo 15.08 37.50 Catania"), "5,8");
    ck_assert_str_eq(values("PFADD h a b"), "2,3");
    ck_assert_str_eq(values("RESTORE k 0 payload REPLACE IDLETIME 5"), "3");
    ck_assert_str_eq(values("PUBLISH ch msg"), "2");
    /* no values */
    ck_assert_str_eq(values("GET k"), "");
    ck_assert_str_eq(values("DEL a b"), "");
    ck_assert_str_eq(values("INCRBY k 5"), "");
    ck_assert_str_eq(values("HDEL h f"), "");
    ck_assert_str_eq(values("SUBSCRIBE ch"), "");
    ck_assert_str_eq(values("CONFIG SET maxmemory 1"), "");
    /* arity and grammar failures */
    ck_assert_str_eq(values("SET k"), "ERR-1");
    ck_assert_str_eq(values("ZADD k 1 m 2"), "ERR-1");
    ck_assert_str_eq(values("SET k v EX"), "ERR-1");
}
END_TEST

/* The arguments of a request of command `c` for the value tests: argv[0] its name, then
 * argc - 1 drawn from numbers and words, and from round 1 on from the command's own option
 * tokens one time in two (so that options, typed arguments and their failures all occur);
 * *rng is the caller's xorshift state. */
static void value_args(const struct rt_cmd *c, size_t argc, int round, uint64_t *rng,
                       const char **argv, size_t *len)
{
    static const char *const words[] = {"x", "1", "1.5", "-inf", "*", "0-1", "k"};
    const size_t nwords = sizeof words / sizeof words[0];
    const char *tok[64];
    size_t ntok = 0;
    for (size_t j = 0; j < c->nargs && ntok < 64; j++)
        if (c->args[j].token)
            tok[ntok++] = c->args[j].token;
    argv[0] = c->name;
    for (size_t j = 1; j < argc; j++) {
        *rng ^= *rng >> 12;
        *rng ^= *rng << 25;
        *rng ^= *rng >> 27;
        uint64_t r = (*rng * 0x2545f4914f6cdd1dull) >> 33;
        argv[j] = round == 0 || !ntok || r % 2 ? words[(r / 2) % nwords] : tok[(r / 2) % ntok];
    }
    for (size_t j = 0; j < argc; j++)
        len[j] = strlen(argv[j]);
}

/* rt_cmd_values()' shortcut for plain argument lists against the grammar match alone, on
 * every command of the table with a grammar, 1 to 9 arguments after the name, drawn from the
 * command's own tokens, numbers and words (so that options, typed arguments and their
 * failures all occur): the two must agree on the result and on every position. */
START_TEST(test_values_shortcut)
{
    uint64_t rng = 0x2545f4914f6cdd1dull;
    size_t compared = 0, with_values = 0, set_plain = 0;
    for (size_t ci = 0; ci < rt_cmd_count(); ci++) {
        const struct rt_cmd *c = rt_cmd_at(ci);
        if (!c->nargs)
            continue;
        for (size_t argc = 2; argc <= 10; argc++) {
            for (int round = 0; round < 24; round++) {
                const char *argv[10];
                size_t len[10];
                value_args(c, argc, round, &rng, argv, len);
                uint32_t pa[10], pb[10];
                size_t na = 0, nb = 0;
                int ra = cmd_values(c, argc, argv, len, pa, 10, &na, 1);
                int rb = cmd_values(c, argc, argv, len, pb, 10, &nb, 0);
                ck_assert_msg(ra == rb && na == nb, "%s with %zu arguments: %d/%zu vs %d/%zu",
                              c->name, argc, ra, na, rb, nb);
                for (size_t j = 0; j < na && j < 10; j++)
                    ck_assert_msg(pa[j] == pb[j], "%s with %zu arguments: position %zu",
                                  c->name, argc, j);
                compared++;
                with_values += na > 0;
                if (strcmp(c->name, "set") == 0 && argc == 3)
                    set_plain += ra == 0 && na == 1 && pa[0] == 2;
            }
        }
    }
    /* the comparison covered the table, including requests with values */
    ck_assert_uint_gt(compared, 5000);
    ck_assert_uint_gt(with_values, 1000);
    ck_assert_uint_eq(set_plain, 24);
}
END_TEST

/* rt_cmd_values_bytes() 0: rt_cmd_values() gives the same answer with arguments 2.. absent
 * (NULL, as a lazy reader leaves them; a read of one would crash the test), for every command
 * and 1-10 arguments (value_args) */
START_TEST(test_values_bytes)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t without = 0, with = 0, without_values = 0;
    for (size_t ci = 0; ci < rt_cmd_count(); ci++) {
        const struct rt_cmd *c = rt_cmd_at(ci);
        for (size_t argc = 1; argc <= 10; argc++) {
            if (rt_cmd_values_bytes(c, argc)) {
                with++;
                continue;
            }
            without++;
            for (int round = 0; round < 8; round++) {
                const char *argv[10], *lazy[10];
                size_t len[10];
                value_args(c, argc, round, &rng, argv, len);
                for (size_t j = 0; j < argc; j++)
                    lazy[j] = j < 2 ? argv[j] : NULL;
                uint32_t pa[10], pb[10];
                size_t na = 0, nb = 0;
                int ra = rt_cmd_values(c, argc, argv, len, pa, 10, &na);
                int rb = rt_cmd_values(c, argc, lazy, len, pb, 10, &nb);
                ck_assert_msg(ra == rb && na == nb, "%s with %zu arguments: %d/%zu vs %d/%zu",
                              c->name, argc, ra, na, rb, nb);
                for (size_t j = 0; j < na && j < 10; j++)
                    ck_assert_msg(pa[j] == pb[j], "%s with %zu arguments: position %zu",
                                  c->name, argc, j);
                without_values += na > 0;
            }
        }
    }
    /* known answers: SET k v from its count, SET k v EX 10 and EVAL by their bytes */
    const struct rt_cmd *set = rt_cmd_at(0);
    for (size_t ci = 0; ci < rt_cmd_count(); ci++)
        if (!strcmp(rt_cmd_at(ci)->name, "set"))
            set = rt_cmd_at(ci);
    ck_assert_str_eq(set->name, "set");
    ck_assert_int_eq(rt_cmd_values_bytes(set, 3), 0);
    ck_assert_int_eq(rt_cmd_values_bytes(set, 5), 1);
    ck_assert_int_eq(rt_cmd_values_bytes(NULL, 3), 0);
    /* both answers occur, and the count-only one covers requests with values */
    ck_assert_uint_gt(without, 1000);
    ck_assert_uint_gt(with, 100);
    ck_assert_uint_gt(without_values, 100);
}
END_TEST

/* a long request: the match loops over repetitions instead of recursing */
START_TEST(test_values_long)
{
    size_t argc = 200001; /* odd: MSET k v ... pairs */
    const char **argv = calloc(argc, sizeof *argv);
    size_t *len = calloc(argc, sizeof *len);
    uint32_t *pos = calloc(argc, sizeof *pos);
    ck_assert(argv && len && pos);
    argv[0] = "RPUSH";
    argv[1] = "k";
    for (size_t i = 2; i < argc; i++)
        argv[i] = "element";
    for (size_t i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    const struct rt_cmd *c = rt_cmd_lookup(argc, argv, len);
    size_t n = 0;
    ck_assert_int_eq(rt_cmd_values(c, argc, argv, len, pos, argc, &n), 0);
    ck_assert_uint_eq(n, argc - 2);
    ck_assert_uint_eq(pos[0], 2);
    ck_assert_uint_eq(pos[n - 1], argc - 1);
    argv[0] = "MSET";
    len[0] = 4;
    c = rt_cmd_lookup(argc, argv, len);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(rt_cmd_keys(c, argc, argv, len, pos, argc, &n), 0);
    ck_assert_uint_eq(n, (argc - 1) / 2);
    ck_assert_int_eq(rt_cmd_values(c, argc, argv, len, pos, argc, &n), 0);
    ck_assert_uint_eq(n, (argc - 1) / 2);
    ck_assert_uint_eq(pos[0], 2);
    free(argv);
    free(len);
    free(pos);
}
END_TEST

#ifdef RT_HAVE_HIREDIS
/* ~40 representative commands, keys named apart from every other argument */
static const char *const getkeys_cases[] = {
    "GET k1",
    "SET k1 v EX 10",
    "MSET k1 1 k2 2 k3 3",
    "MGET k1 k2 k3",
    "DEL k1 k2 k3",
    "EXISTS k1 k2",
    "EVAL s 2 k1 k2 x",
    "EVALSHA 0123456789012345678901234567890123456789 1 k1 x",
    "FCALL f 2 k1 k2 x",
    "ZUNIONSTORE k0 2 k1 k2 WEIGHTS 1 2",
    "ZINTERSTORE k0 2 k1 k2 AGGREGATE MIN",
    "ZDIFF 2 k1 k2 WITHSCORES",
    "ZINTERCARD 2 k1 k2 LIMIT 5",
    "SINTERCARD 3 k1 k2 k3",
    "XREAD COUNT 1 BLOCK 0 STREAMS k1 k2 0 0",
    "XREADGROUP GROUP g c COUNT 1 STREAMS k1 k2 > >",
    "LMPOP 2 k1 k2 LEFT COUNT 2",
    "BLMPOP 0 2 k1 k2 RIGHT",
    "ZMPOP 1 k1 MIN",
    "BZMPOP 0 2 k1 k2 MAX COUNT 3",
    "SORT k1 BY w_* GET g_* STORE k2",
    "SORT k1 LIMIT 0 5 ALPHA DESC",
    "SORT_RO k1 BY w_*",
    "OBJECT ENCODING k1",
    "MEMORY USAGE k1 SAMPLES 5",
    "MIGRATE h 6379 k1 0 100",
    "MIGRATE h 6379 '' 0 100 COPY AUTH pw KEYS k1 k2",
    "GEORADIUS k1 0 0 1 km STORE k2",
    "GEORADIUSBYMEMBER k1 m 1 km STOREDIST k2",
    "GEOSEARCHSTORE k0 k1 FROMMEMBER m BYRADIUS 1 km",
    "BITOP AND k0 k1 k2",
    "RENAME k1 k2",
    "SMOVE k1 k2 m",
    "LMOVE k1 k2 LEFT RIGHT",
    "BLPOP k1 k2 0",
    "BRPOPLPUSH k1 k2 0",
    "XADD k1 MAXLEN ~ 10 * f v",
    "HSET k1 f v f2 v2",
    "XINFO STREAM k1 FULL",
    "XGROUP CREATE k1 g $ MKSTREAM",
    "PFMERGE k0 k1 k2",
    "COPY k1 k2 REPLACE",
    "ZRANGESTORE k0 k1 0 -1",
    "WATCH k1 k2",
    "BITFIELD k1 GET u8 0",
    "LCS k1 k2",
    "GETEX k1 PERSIST",
    "SUNIONSTORE k0 k1 k2",
    "RESTORE k1 0 x",
    "XAUTOCLAIM k1 g c 0 0-0",
};

/* Starts redis-server on 127.0.0.1 and a free port. @return its pid, 0 when it cannot. */
static pid_t start_server(const char *dir, int *port_out, redisContext **rc_out)
{
    srand((unsigned)(time(NULL) ^ getpid()));
    for (int attempt = 0; attempt < 20; attempt++) {
        int port = 20000 + rand() % 40000;
        char ps[16], log[512];
        snprintf(ps, sizeof ps, "%d", port);
        snprintf(log, sizeof log, "%s/redis.log", dir);
        pid_t pid = fork();
        if (pid < 0)
            return 0;
        if (pid == 0) {
            execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", "--dir", dir, "--logfile", log, (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 50; i++) {
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid)
                break; /* exited: port taken, or no redis-server */
            redisContext *rc = redisConnect("127.0.0.1", port);
            if (rc && !rc->err) {
                *port_out = port;
                *rc_out = rc;
                return pid;
            }
            redisFree(rc);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return 0;
}

START_TEST(test_keys_vs_server)
{
    char dir[] = "/tmp/check_cmdtable_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int port = 0;
    redisContext *rc = NULL;
    pid_t pid = start_server(dir, &port, &rc);
    if (!pid) {
        fprintf(stderr, "check_cmdtable: no redis-server, COMMAND GETKEYS comparison skipped\n");
        rmdir(dir);
        return;
    }
    int compared = 0;
    for (size_t t = 0; t < sizeof getkeys_cases / sizeof getkeys_cases[0]; t++) {
        struct req r;
        split(&r, getkeys_cases[t]);
        const char *argv[MAXARGS + 2];
        size_t len[MAXARGS + 2];
        argv[0] = "COMMAND";
        argv[1] = "GETKEYS";
        len[0] = 7;
        len[1] = 7;
        for (size_t i = 0; i < r.argc; i++) {
            argv[i + 2] = r.argv[i];
            len[i + 2] = r.len[i];
        }
        redisReply *rep = redisCommandArgv(rc, (int)r.argc + 2, argv, len);
        ck_assert_msg(rep != NULL, "%s: no reply", getkeys_cases[t]);
        char want[512] = "", got[512] = "";
        if (rep->type == REDIS_REPLY_ARRAY) {
            for (size_t i = 0; i < rep->elements; i++) {
                size_t l = strlen(want);
                snprintf(want + l, sizeof want - l, "%s%s", i ? "," : "", rep->element[i]->str);
            }
        } else {
            snprintf(want, sizeof want, "error %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
        }
        freeReplyObject(rep);
        const struct rt_cmd *c = rt_cmd_lookup(r.argc, r.argv, r.len);
        ck_assert_msg(c != NULL, "%s: unknown", getkeys_cases[t]);
        uint32_t pos[MAXARGS];
        size_t n = 0;
        int ok = rt_cmd_keys(c, r.argc, r.argv, r.len, pos, MAXARGS, &n);
        if (ok < 0) {
            snprintf(got, sizeof got, "rt_cmd_keys %d", ok);
        } else {
            for (size_t i = 0; i < n; i++) {
                size_t l = strlen(got);
                snprintf(got + l, sizeof got - l, "%s%s", i ? "," : "", r.argv[pos[i]]);
            }
        }
        ck_assert_msg(!strcmp(want, got), "%s: server [%s], table [%s]", getkeys_cases[t], want,
                      got);
        compared++;
    }
    redisFree(rc);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char log[512];
    snprintf(log, sizeof log, "%s/redis.log", dir);
    unlink(log);
    rmdir(dir);
    ck_assert_int_ge(compared, 40);
}
END_TEST
#endif

Suite *cmdtable_suite(void)
{
    Suite *s = suite_create("cmdtable");
    TCase *tc = tcase_create("cmdtable");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_flags);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_values_long);
    tcase_add_test(tc, test_values_shortcut);
    tcase_add_test(tc, test_values_bytes);
#ifdef RT_HAVE_HIREDIS
    tcase_add_test(tc, test_keys_vs_server);
#endif
    suite_add_tcase(s, tc);
    return s;
}
