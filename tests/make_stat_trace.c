/* make_stat_trace.c: writes the small trace of cli/test_stat.sh, whose `resptrace stat` numbers
 * are known exactly (the test lists them; the comments below say where each comes from).
 * Usage: make_stat_trace OUT.rtrace */
#include "format.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764171752000000000ull /* 2025-11-26T15:42:32Z, a whole second */
#define MS 1000000ull
#define US 1000ull

static struct trace_writer *w;
static struct rt_err err;

static void add(struct trace_event *ev)
{
    if (trace_writer_add(w, ev, &err) != 0) {
        fprintf(stderr, "make_stat_trace: %s\n", err.msg);
        exit(1);
    }
}

static void open_conn(uint64_t conn, uint64_t ts, uint32_t flags)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = ts, .conn = conn};
    ev.u.open.flags = flags;
    ev.u.open.client.family = ev.u.open.server.family = 4;
    memcpy(ev.u.open.client.addr, "\x7f\x00\x00\x01", 4);
    memcpy(ev.u.open.server.addr, "\x7f\x00\x00\x01", 4);
    ev.u.open.client.port = (uint16_t)(40000 + conn);
    ev.u.open.server.port = 6379;
    add(&ev);
}

static void close_conn(uint64_t conn, uint64_t ts)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = ts, .conn = conn};
    ev.u.close.reason = TRACE_CLOSE_FIN;
    add(&ev);
}

/* a request of `argc` NUL-terminated arguments; value arguments given as "#N" are N bytes */
static uint64_t request(uint64_t conn, uint64_t ts, uint32_t db, uint8_t proto, int argc, ...)
{
    static char big[4096];
    const char *argv[16];
    size_t lens[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) {
        const char *a = va_arg(ap, const char *);
        if (a[0] == '#') {
            lens[i] = (size_t)atoi(a + 1);
            memset(big, 'v', sizeof big);
            argv[i] = big;
        } else {
            argv[i] = a;
            lens[i] = strlen(a);
        }
    }
    va_end(ap);
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = ts, .conn = conn};
    ev.u.req = (struct trace_request){
        .db = db, .proto = proto, .argc = (uint32_t)argc, .argv = argv, .argvlen = lens};
    add(&ev);
    return ev.u.req.seq;
}

static void reply(uint64_t conn, uint64_t ts, uint64_t seq, const char *wire)
{
    struct trace_event ev = {.type = TRACE_EV_REPLY, .ts = ts, .conn = conn};
    size_t n = strlen(wire);
    uint8_t t = (uint8_t)wire[0];
    const char *e = NULL;
    if (!strcmp(wire, "$-1\r\n"))
        t = TRACE_R_NULL;
    if (t == TRACE_R_ERROR)
        e = wire + 1;
    ev.u.reply = (struct trace_reply){.req_seq = seq,
                                      .rtype = t,
                                      .flags = TRACE_REPLY_HAS_HASH |
                                               (t == TRACE_R_NULL ? TRACE_REPLY_NULL_BULK : 0),
                                      .len = n,
                                      .hash = trace_hash(wire, n),
                                      .err = e,
                                      .errlen = e ? n - 3 : 0};
    add(&ev);
}

static void gap(uint64_t conn, uint64_t ts, uint8_t dir, uint64_t bytes)
{
    struct trace_event ev = {.type = TRACE_EV_GAP, .ts = ts, .conn = conn};
    ev.u.gap.dir = dir;
    ev.u.gap.bytes = bytes;
    add(&ev);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_stat_trace OUT.rtrace\n");
        return 2;
    }
    static const struct trace_meta_kv meta[] = {
        {"source", "synthetic: tests/make_stat_trace.c", 34}};
    /* small chunks: a truncated copy still holds complete chunks */
    struct trace_writer_opts o = {.chunk_events = 8, .synchronous = 1};
    w = trace_writer_open(argv[1], meta, 1, &o, &err);
    if (!w) {
        fprintf(stderr, "make_stat_trace: %s\n", err.msg);
        return 1;
    }
    static const char bulk100[] = "$100\r\n"
                                  "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                                  "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n";
    uint64_t s;
    /* second 0, connection 1 (db 0, RESP2), one request at a time, every 10 ms:
     * 5 SET (key 8 B, values 10/20/30/40/100 B) answered in 100 us, 3 GET hits and 1 miss in
     * 200 us, 1 INCR in 50 us */
    open_conn(1, T0, 0);
    static const char *vals[5] = {"#10", "#20", "#30", "#40", "#100"};
    uint64_t t = T0 + 1 * MS;
    for (int i = 0; i < 5; i++, t += 10 * MS) {
        s = request(1, t, 0, 2, 3, "SET", "key:0001", vals[i]);
        reply(1, t + 100 * US, s, "+OK\r\n");
    }
    for (int i = 0; i < 3; i++, t += 10 * MS) {
        s = request(1, t, 0, 2, 2, "get", "key:0001");
        reply(1, t + 200 * US, s, bulk100);
    }
    s = request(1, t, 0, 2, 2, "GET", "key:0002");
    reply(1, t + 200 * US, s, "$-1\r\n");
    t += 10 * MS;
    s = request(1, t, 0, 2, 2, "INCR", "counter1");
    reply(1, t + 50 * US, s, ":1\r\n");

    /* second 0, connection 2 (db 3, RESP3): a pipelined batch of 4 GET (key 1 B), sent 1 us
     * apart before any reply (depths 1, 2, 3, 4), each answered 1 ms after it was sent */
    open_conn(2, T0 + 500 * MS, 0);
    uint64_t ps[4];
    for (int i = 0; i < 4; i++)
        ps[i] = request(2, T0 + 500 * MS + (uint64_t)i * US, 3, 3, 2, "GET", "k");
    static const char *pr[4] = {
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        "-ERR something\r\n", "$-1\r\n"};
    for (int i = 0; i < 4; i++)
        reply(2, T0 + 501 * MS + (uint64_t)i * US, ps[i], pr[i]);

    /* second 1: no requests; gaps on connection 1 (100 bytes to the server, 50 + 25 back) */
    gap(1, T0 + 1200 * MS, TRACE_DIR_TO_SERVER, 100);
    gap(1, T0 + 1300 * MS, TRACE_DIR_TO_CLIENT, 50);
    gap(1, T0 + 1400 * MS, TRACE_DIR_TO_CLIENT, 25);

    /* second 2: CONFIG GET (20 us), FOOBAR twice (unknown, ERR, 10 us), a GET of a 20 B key
     * answered MOVED in 3 ms, a reply paired with no request, a mid-stream connection with
     * one PING (5 us), a TLS connection without requests */
    s = request(1, T0 + 2000 * MS, 0, 2, 3, "CONFIG", "GET", "maxmemory");
    reply(1, T0 + 2000 * MS + 20 * US, s, "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    s = request(2, T0 + 2100 * MS, 3, 3, 2, "FOOBAR", "x");
    reply(2, T0 + 2100 * MS + 10 * US, s, "-ERR unknown command 'FOOBAR'\r\n");
    s = request(2, T0 + 2200 * MS, 3, 3, 1, "Foobar");
    reply(2, T0 + 2200 * MS + 10 * US, s, "-ERR unknown command 'Foobar'\r\n");
    s = request(2, T0 + 2300 * MS, 3, 3, 2, "GET", "kkkkkkkkkkkkkkkkkkkk");
    reply(2, T0 + 2303 * MS, s, "-MOVED 3999 127.0.0.1:6381\r\n");
    reply(2, T0 + 2350 * MS, TRACE_SEQ_NONE, "+OK\r\n");
    close_conn(1, T0 + 2500 * MS);
    open_conn(3, T0 + 2600 * MS, TRACE_OPEN_MIDSTREAM);
    s = request(3, T0 + 2650 * MS, 0, 2, 1, "PING");
    reply(3, T0 + 2650 * MS + 5 * US, s, "+PONG\r\n");
    open_conn(4, T0 + 2700 * MS, TRACE_OPEN_TLS);
    close_conn(4, T0 + 2750 * MS);

    struct trace_event ev = {.type = TRACE_EV_STATS, .ts = T0 + 2900 * MS};
    ev.u.stats = (struct trace_stats){.packets = 1000,
                                      .bytes = 123456,
                                      .kernel_drops = 7,
                                      .iface_drops = 2,
                                      .flows_dropped = 1,
                                      .bytes_dropped = 99};
    add(&ev);
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_stat_trace: %s\n", err.msg);
        return 1;
    }
    return 0;
}
