/* make_cluster_trace.c: writes a paced synthetic trace for the cluster-mode replay tests
 * (tests/cli/test_replay_cluster.sh): the commands that put keys in unusual places.
 *
 * usage: make_cluster_trace OUT.rtrace SECONDS RATE CONNS [SEED]
 *
 * RATE requests per second in all, spread evenly over SECONDS, round-robin over CONNS
 * connections (opened at the start, closed at the end). No replies are written. Each
 * connection owns its keys (key numbers n with n % CONNS == its index), so the dataset a replay
 * leaves does not depend on how connections interleave: two replays that keep each connection's
 * order leave the same keys with the same values (streams aside: XADD * makes new ids).
 *
 * Mix (by a seeded generator): 36% SET k:n, 26% GET k:n, 8% INCR c:{n}, 6% HSET h:n,
 * 5% MGET of 3 keys, 4% MSET of 2 pairs, 3% DEL of 2 keys (d:n, set just before by the same
 * connection with SET), 3% EVAL of a SET on KEYS[1] (the key is the 4th argument), 3% XADD
 * s:n, 2% XREAD COUNT 2 STREAMS s:n 0 (the key after STREAMS), 2% SELECT 0,
 * 2% a transaction MULTI / INCR {t:n}:a / INCR {t:n}:b / EXEC (one slot by its hash tag). */
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764171752000000000ull

static struct trace_writer *w;
static struct rt_err err;
static uint64_t rs;

static uint64_t rnd(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void add(struct trace_event *ev)
{
    if (trace_writer_add(w, ev, &err) != 0) {
        fprintf(stderr, "make_cluster_trace: %s\n", err.msg);
        exit(1);
    }
}

static void req(uint64_t conn, uint64_t ts, int argc, const char **argv)
{
    size_t len[16];
    for (int i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = ts, .conn = conn};
    ev.u.req = (struct trace_request){
        .db = 0, .proto = 2, .argc = (uint32_t)argc, .argv = argv, .argvlen = len};
    add(&ev);
}

/* a key number owned by connection c */
static unsigned long own(unsigned c, unsigned conns, unsigned span)
{
    return (unsigned long)(rnd() % span) * conns + c;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: make_cluster_trace OUT.rtrace SECONDS RATE CONNS [SEED]\n");
        return 2;
    }
    double secs = atof(argv[2]), rate = atof(argv[3]);
    unsigned conns = (unsigned)atoi(argv[4]);
    rs = argc > 5 ? strtoull(argv[5], NULL, 10) : 7;
    if (secs <= 0 || rate <= 0 || conns < 1 || conns > 1000) {
        fprintf(stderr, "make_cluster_trace: bad SECONDS, RATE or CONNS\n");
        return 2;
    }
    static const struct trace_meta_kv meta[] = {
        {"source", "synthetic: tests/make_cluster_trace.c", 37}};
    w = trace_writer_open(argv[1], meta, 1, NULL, &err);
    if (!w) {
        fprintf(stderr, "make_cluster_trace: %s\n", err.msg);
        return 1;
    }
    for (unsigned c = 0; c < conns; c++) {
        struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = T0, .conn = c + 1};
        ev.u.open.client.family = ev.u.open.server.family = 4;
        ev.u.open.client.port = (uint16_t)(40000 + c);
        ev.u.open.server.port = 6379;
        add(&ev);
    }
    uint64_t n = (uint64_t)(secs * rate), step = (uint64_t)(1e9 / rate);
    const unsigned span = 400; /* keys per connection and kind */
    char a[6][64];
    for (uint64_t i = 0; i < n; i++) {
        uint64_t ts = T0 + 1000000 + i * step;
        unsigned c = (unsigned)(i % conns);
        uint64_t conn = c + 1;
        unsigned x = (unsigned)(rnd() % 100);
        if (x < 36) {
            snprintf(a[0], 64, "k:%lu", own(c, conns, span));
            snprintf(a[1], 64, "v%llu", (unsigned long long)i);
            req(conn, ts, 3, (const char *[]){"SET", a[0], a[1]});
        } else if (x < 62) {
            snprintf(a[0], 64, "k:%lu", own(c, conns, span));
            req(conn, ts, 2, (const char *[]){"GET", a[0]});
        } else if (x < 70) {
            snprintf(a[0], 64, "c:{%lu}", own(c, conns, 50));
            req(conn, ts, 2, (const char *[]){"INCR", a[0]});
        } else if (x < 76) {
            snprintf(a[0], 64, "h:%lu", own(c, conns, span));
            snprintf(a[1], 64, "f%u", (unsigned)(rnd() % 4));
            snprintf(a[2], 64, "v%llu", (unsigned long long)i);
            req(conn, ts, 4, (const char *[]){"HSET", a[0], a[1], a[2]});
        } else if (x < 81) {
            for (int k = 0; k < 3; k++)
                snprintf(a[k], 64, "k:%lu", own(c, conns, span));
            req(conn, ts, 4, (const char *[]){"MGET", a[0], a[1], a[2]});
        } else if (x < 85) {
            snprintf(a[0], 64, "k:%lu", own(c, conns, span));
            snprintf(a[1], 64, "m%llu", (unsigned long long)i);
            do
                snprintf(a[2], 64, "k:%lu", own(c, conns, span));
            while (!strcmp(a[0], a[2]));
            snprintf(a[3], 64, "n%llu", (unsigned long long)i);
            req(conn, ts, 5, (const char *[]){"MSET", a[0], a[1], a[2], a[3]});
        } else if (x < 88) {
            snprintf(a[0], 64, "d:%lu", own(c, conns, span));
            snprintf(a[1], 64, "d:%lu", own(c, conns, span));
            req(conn, ts, 3, (const char *[]){"SET", a[1], "x"});
            req(conn, ts + step / 2, 3, (const char *[]){"DEL", a[0], a[1]});
        } else if (x < 91) {
            snprintf(a[0], 64, "e:%lu", own(c, conns, span));
            snprintf(a[1], 64, "ev%llu", (unsigned long long)i);
            req(conn, ts, 5,
                (const char *[]){"EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", a[0],
                                 a[1]});
        } else if (x < 94) {
            snprintf(a[0], 64, "s:%lu", own(c, conns, 20));
            req(conn, ts, 5, (const char *[]){"XADD", a[0], "*", "f", "v"});
        } else if (x < 96) {
            snprintf(a[0], 64, "s:%lu", own(c, conns, 20));
            req(conn, ts, 6, (const char *[]){"XREAD", "COUNT", "2", "STREAMS", a[0], "0"});
        } else if (x < 98) {
            req(conn, ts, 2, (const char *[]){"SELECT", "0"});
        } else {
            unsigned long t = own(c, conns, 30);
            snprintf(a[0], 64, "{t:%lu}:a", t);
            snprintf(a[1], 64, "{t:%lu}:b", t);
            req(conn, ts, 1, (const char *[]){"MULTI"});
            req(conn, ts + step / 4, 2, (const char *[]){"INCR", a[0]});
            req(conn, ts + step / 2, 2, (const char *[]){"INCR", a[1]});
            req(conn, ts + 3 * step / 4, 1, (const char *[]){"EXEC"});
        }
    }
    for (unsigned c = 0; c < conns; c++) {
        struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = T0 + 2000000 + n * step,
                                 .conn = c + 1};
        add(&ev);
    }
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_cluster_trace: %s\n", err.msg);
        return 1;
    }
    return 0;
}
