/* make_edge_trace.c: writes the small trace of cli/test_tool_edges.sh: metadata whose key and
 * value hold terminal escape sequences, and malformed requests (the raw bytes a client sent
 * that the server refused, flagged TRACE_REQ_MALFORMED, argc 1) among ordinary ones.
 * Usage: make_edge_trace OUT.rtrace
 *
 * On connection 1, in order (each request answered):
 *   SET user:1 hello                                   +OK
 *   GET present:key                                    $5 "world"  (prime: a string of 5)
 *   malformed "SET secretkey \"sekretvalue\r\n"        -ERR Protocol error: unbalanced quotes
 *   GET absent:key                                     $-1         (prime: absent)
 *   malformed "*2\r\n$3\r\nGET\r\n$x\r\nrawkey\r\n"   -ERR Protocol error: invalid bulk length
 *   malformed "GET" (its raw bytes spell a command name, as a cut line may)  -ERR unknown
 * Connection 2 sends PING (+PONG). The test counts on these exact numbers: 6 requests on
 * connection 1 of which 3 are malformed, 7 requests in all. */
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TRACE_REQ_MALFORMED
#define TRACE_REQ_MALFORMED 0x40u
#endif

#define T0 1764171752000000000ull /* 2025-11-26T15:42:32Z */
#define MS 1000000ull

static struct trace_writer *w;
static struct rt_err err;
static uint64_t now = T0;

static void add(struct trace_event *ev)
{
    if (trace_writer_add(w, ev, &err) != 0) {
        fprintf(stderr, "make_edge_trace: %s\n", err.msg);
        exit(1);
    }
}

static void open_conn(uint64_t conn)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = now, .conn = conn};
    ev.u.open.client.family = ev.u.open.server.family = 4;
    memcpy(ev.u.open.client.addr, "\x7f\x00\x00\x01", 4);
    memcpy(ev.u.open.server.addr, "\x7f\x00\x00\x01", 4);
    ev.u.open.client.port = (uint16_t)(40000 + conn);
    ev.u.open.server.port = 6379;
    add(&ev);
}

/* One request (argv NULL-terminated, or one raw argument when `flags` is malformed) and its
 * reply, given by its wire bytes. */
static void exchange(uint64_t conn, uint32_t flags, const char *const *args, const char *wire)
{
    const char *argv[8];
    size_t lens[8];
    uint32_t argc = 0;
    for (; args[argc]; argc++) {
        argv[argc] = args[argc];
        lens[argc] = strlen(args[argc]);
    }
    now += MS;
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = now, .conn = conn};
    ev.u.req = (struct trace_request){
        .db = 0, .proto = 2, .flags = flags, .argc = argc, .argv = argv, .argvlen = lens};
    add(&ev);
    now += MS / 10;
    struct trace_event rp = {.type = TRACE_EV_REPLY, .ts = now, .conn = conn};
    size_t n = strlen(wire);
    rp.u.reply.req_seq = ev.u.req.seq;
    rp.u.reply.rtype = (uint8_t)wire[0];
    rp.u.reply.len = n;
    rp.u.reply.flags = TRACE_REPLY_HAS_HASH;
    rp.u.reply.hash = trace_hash(wire, n);
    if (wire[0] == '-') {
        rp.u.reply.err = wire + 1;
        rp.u.reply.errlen = n - 3;
        rp.u.reply.size = n - 3;
    } else if (!strcmp(wire, "$-1\r\n")) {
        rp.u.reply.rtype = TRACE_R_NULL;
        rp.u.reply.flags |= TRACE_REPLY_NULL_BULK;
    } else if (wire[0] == '$') {
        rp.u.reply.size = (uint64_t)atoi(wire + 1);
    } else {
        rp.u.reply.size = n - 3;
    }
    add(&rp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_edge_trace OUT.rtrace\n");
        return 2;
    }
    static const char evil_key[] = "evil\x1b[31mkey\x1b]0;pwned\x07";
    static const char evil_val[] = "red\x1b[2Jvalue";
    const struct trace_meta_kv meta[] = {
        {"tool.version", "resptrace make_edge_trace", 25},
        {"source", "synthetic: tests/make_edge_trace.c", 34},
        {evil_key, evil_val, sizeof evil_val - 1},
    };
    w = trace_writer_open(argv[1], meta, sizeof meta / sizeof meta[0], NULL, &err);
    if (!w) {
        fprintf(stderr, "make_edge_trace: %s\n", err.msg);
        return 1;
    }
    open_conn(1);
    open_conn(2);
    exchange(1, 0, (const char *[]){"SET", "user:1", "hello", NULL}, "+OK\r\n");
    exchange(1, 0, (const char *[]){"GET", "present:key", NULL}, "$5\r\nworld\r\n");
    exchange(1, TRACE_REQ_MALFORMED, (const char *[]){"SET secretkey \"sekretvalue\r\n", NULL},
             "-ERR Protocol error: unbalanced quotes in request\r\n");
    exchange(1, 0, (const char *[]){"GET", "absent:key", NULL}, "$-1\r\n");
    exchange(1, TRACE_REQ_MALFORMED, (const char *[]){"*2\r\n$3\r\nGET\r\n$x\r\nrawkey\r\n", NULL},
             "-ERR Protocol error: invalid bulk length\r\n");
    exchange(1, TRACE_REQ_MALFORMED, (const char *[]){"GET", NULL},
             "-ERR Protocol error: unknown\r\n");
    exchange(2, 0, (const char *[]){"PING", NULL}, "+PONG\r\n");
    now += MS;
    for (uint64_t c = 1; c <= 2; c++) {
        struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = now, .conn = c};
        add(&ev);
    }
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_edge_trace: %s\n", err.msg);
        return 1;
    }
    return 0;
}
