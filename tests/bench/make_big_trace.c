/* make_big_trace.c: writes a large synthetic trace for the replayer's memory benchmark
 * (tests/bench/bench_replay.sh): NCONN connections, each doing SET/GET 1:1 at random over
 * NKEYS keys with VLEN-byte values, closed loop (one request outstanding per connection, as
 * redis-benchmark -P 1 does), every request paired with its reply.
 *
 * Usage: make_big_trace OUT.rtrace [REQUESTS [CONNS [disjoint]]]   (defaults 10000000, 50)
 *
 * `disjoint`: connection c uses only the keys k with k mod CONNS = c, so no key is shared between
 * connections (what --sync keys costs when nothing needs ordering).
 *
 * Timestamps are those of a closed loop at about 85k requests/s in total (the redis-benchmark
 * SET/GET ceiling measured on the 2-core machine, /work/shared/MEASURED.md): a step every
 * 11.7 us +-25%, each step answers the oldest outstanding request of one connection and sends
 * that connection's next one, so the recorded latency is about NCONN steps (~0.6 ms).
 * Values are pseudo-random printable bytes (not one repeated value) and replies carry the
 * XXH3 hash of the wire bytes the server would send (a GET of a key never set gets "$-1"). */
#include "format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NKEYS 100000
#define VLEN 100
#define T0_NS 1764171752000000000ull /* 2025-11-26T15:42:32Z */
#define STEP_NS 11700u

static struct trace_writer *w;
static struct rt_err err;
static uint64_t now = T0_NS;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static void add(struct trace_event *ev)
{
    if (trace_writer_add(w, ev, &err) != 0) {
        fprintf(stderr, "make_big_trace: %s\n", err.msg);
        exit(1);
    }
}

/* the value of version `ver` of key `k`: printable bytes drawn from (k, ver) */
static void make_value(uint32_t k, uint32_t ver, char *v)
{
    uint64_t s = ((uint64_t)k << 32 | ver) * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < VLEN; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        v[i] = (char)(' ' + (s * 2685821657736338717ull >> 58) + (s >> 40 & 31)); /* 32..126 */
    }
}

struct pending {
    int is_set;
    uint32_t key, ver;
    uint64_t seq;
};

static void reply(uint64_t conn, const struct pending *p)
{
    static char wire[VLEN + 32];
    struct trace_event ev = {.type = TRACE_EV_REPLY, .ts = now, .conn = conn};
    struct trace_reply *r = &ev.u.reply;
    size_t n;
    r->req_seq = p->seq;
    r->flags = TRACE_REPLY_HAS_HASH;
    if (p->is_set) {
        n = (size_t)snprintf(wire, sizeof wire, "+OK\r\n");
        r->rtype = TRACE_R_SIMPLE;
        r->size = 2;
    } else if (p->ver == 0) {
        n = (size_t)snprintf(wire, sizeof wire, "$-1\r\n");
        r->rtype = TRACE_R_NULL;
        r->flags |= TRACE_REPLY_NULL_BULK;
    } else {
        n = (size_t)snprintf(wire, sizeof wire, "$%d\r\n", VLEN);
        make_value(p->key, p->ver, wire + n);
        n += VLEN;
        memcpy(wire + n, "\r\n", 2);
        n += 2;
        r->rtype = TRACE_R_BULK;
        r->size = VLEN;
    }
    r->len = n;
    r->hash = trace_hash(wire, n);
    add(&ev);
}

static void step(void)
{
    now += STEP_NS * 3 / 4 + next_rand() % (STEP_NS / 2 + 1);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5 || (argc == 5 && strcmp(argv[4], "disjoint"))) {
        fprintf(stderr, "usage: make_big_trace OUT.rtrace [REQUESTS [CONNS [disjoint]]]\n");
        return 2;
    }
    int disjoint = argc == 5;
    uint64_t nreq = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000ull;
    unsigned nconn = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 50;
    if (nreq == 0 || nconn == 0 || nconn > 60000) {
        fprintf(stderr, "make_big_trace: bad REQUESTS or CONNS\n");
        return 2;
    }
    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "%" PRIu64, nreq);
    struct trace_meta_kv meta[] = {
        {"tool.version", "resptrace " RT_VERSION_STRING, 0},
        {"source", "synthetic: tests/bench/make_big_trace.c (SET/GET 1:1, 100-byte values)", 0},
        {"redaction.auth", "on", 0},
        {"bench.requests", nbuf, 0},
    };
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
        meta[i].vlen = strlen(meta[i].val);
    w = trace_writer_open(argv[1], meta, sizeof meta / sizeof meta[0], NULL, &err);
    if (!w) {
        fprintf(stderr, "make_big_trace: %s\n", err.msg);
        return 1;
    }
    uint32_t *ver = calloc(NKEYS, sizeof *ver); /* 0: never set */
    struct pending *out = calloc(nconn, sizeof *out);
    char *busy = calloc(nconn, 1);
    if (!ver || !out || !busy) {
        fprintf(stderr, "make_big_trace: out of memory\n");
        return 1;
    }
    for (unsigned c = 0; c < nconn; c++) {
        struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = now, .conn = c + 1};
        struct trace_conn_open *o = &ev.u.open;
        o->client.family = o->server.family = 4;
        memcpy(o->client.addr, "\x7f\x00\x00\x01", 4);
        memcpy(o->server.addr, "\x7f\x00\x00\x01", 4);
        o->client.port = (uint16_t)(40000 + c);
        o->server.port = 6379;
        add(&ev);
        now += 20000;
    }
    char key[32], val[VLEN];
    uint64_t sent = 0;
    for (uint64_t i = 0; sent < nreq; i++) {
        unsigned c = (unsigned)(i % nconn);
        uint64_t conn = c + 1;
        step();
        if (busy[c]) {
            reply(conn, &out[c]);
            busy[c] = 0;
        }
        uint32_t k = (uint32_t)(next_rand() % NKEYS);
        if (disjoint)
            k = (uint32_t)((k / nconn) * nconn + c) % NKEYS; /* k mod nconn == c */
        int is_set = (next_rand() & 1) != 0;
        size_t klen = (size_t)snprintf(key, sizeof key, "key:%012" PRIu32, k);
        const char *av[3] = {is_set ? "SET" : "GET", key, val};
        size_t al[3] = {3, klen, VLEN};
        if (is_set) {
            ver[k]++;
            make_value(k, ver[k], val);
        }
        struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = now, .conn = conn};
        ev.u.req = (struct trace_request){
            .db = 0, .proto = 2, .argc = is_set ? 3u : 2u, .argv = av, .argvlen = al};
        add(&ev);
        out[c] = (struct pending){.is_set = is_set, .key = k, .ver = ver[k], .seq = ev.u.req.seq};
        busy[c] = 1;
        sent++;
    }
    for (unsigned c = 0; c < nconn; c++) {
        step();
        if (busy[c])
            reply(c + 1, &out[c]);
    }
    for (unsigned c = 0; c < nconn; c++) {
        struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = now, .conn = c + 1};
        ev.u.close.reason = TRACE_CLOSE_FIN;
        add(&ev);
        now += 1000;
    }
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_big_trace: %s\n", err.msg);
        return 1;
    }
    /* the benchmarks trust this trace: its index must count what was written, every request
     * paired with its reply and every connection opened and closed */
    struct trace_reader *rd = trace_reader_open(argv[1], NULL, &err);
    if (!rd) {
        fprintf(stderr, "make_big_trace: reading back: %s\n", err.msg);
        return 1;
    }
    struct trace_totals tt;
    trace_reader_totals(rd, &tt);
    int ok = trace_reader_has_index(rd) && tt.by_type[TRACE_EV_REQUEST] == nreq &&
             tt.by_type[TRACE_EV_REPLY] == nreq && tt.by_type[TRACE_EV_CONN_OPEN] == nconn &&
             tt.by_type[TRACE_EV_CONN_CLOSE] == nconn;
    trace_reader_close(rd);
    if (!ok) {
        fprintf(stderr,
                "make_big_trace: %s reads back wrong: %" PRIu64 " requests, %" PRIu64
                " replies, %" PRIu64 " opens, %" PRIu64 " closes (wrote %" PRIu64 ", %" PRIu64
                ", %u, %u)\n",
                argv[1], tt.by_type[TRACE_EV_REQUEST], tt.by_type[TRACE_EV_REPLY],
                tt.by_type[TRACE_EV_CONN_OPEN], tt.by_type[TRACE_EV_CONN_CLOSE], nreq, nreq,
                nconn, nconn);
        return 1;
    }
    printf("%" PRIu64 " requests on %u connections, %.1f s of trace time\n", nreq, nconn,
           (double)(now - T0_NS) / 1e9);
    free(ver);
    free(out);
    free(busy);
    return 0;
}
