/* make_report_trace.c: writes the trace of cli/test_report.sh: five seconds of traffic whose
 * numbers are known, with keys, a command name and an error prefix made of HTML markup and
 * control bytes (the report must escape them).
 *
 * Usage: make_report_trace OUT.rtrace
 *
 * One connection, one request at a time, each answered 20 us after it was sent. Second i
 * (0-4) holds 1000 * (i+1) requests spread evenly over it: the per-second rate is
 * [1000, 2000, 3000, 4000, 5000], 15000 requests. Request j of a second, by j % 10:
 *   0     GET a<b&c>"q'                                 (1500 in all, reads)
 *   1     SET <img src=http://evil.example/x.png> <v&>  (1500, writes)
 *   2     GET ctl\x00\x1b\xff (NUL, ESC, a byte that is not UTF-8)   (1500, reads)
 *   3     <script>x</script> arg: a command the table does not know, answered with the
 *         error "-<E&R> boom"                            (1500, no key)
 *   4-9   GET user:D with D = j % 50 (30 keys: D % 10 in 4..9; 300 ops each)
 * GET replies are "$-1", SET replies "+OK". */
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764171752000000000ull /* 2025-11-26T15:42:32Z, a whole second */
#define SEC 1000000000ull

static struct trace_writer *w;
static struct rt_err err;

static void add(struct trace_event *ev)
{
    if (trace_writer_add(w, ev, &err) != 0) {
        fprintf(stderr, "make_report_trace: %s\n", err.msg);
        exit(1);
    }
}

static void request(uint64_t ts, uint32_t argc, const char **argv, const size_t *lens,
                    const char *wire)
{
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = ts, .conn = 1};
    ev.u.req =
        (struct trace_request){.db = 0, .proto = 2, .argc = argc, .argv = argv, .argvlen = lens};
    add(&ev);
    uint64_t seq = ev.u.req.seq;
    size_t n = strlen(wire);
    uint8_t t = (uint8_t)wire[0];
    const char *e = t == TRACE_R_ERROR ? wire + 1 : NULL;
    if (!strcmp(wire, "$-1\r\n"))
        t = TRACE_R_NULL;
    struct trace_event rp = {.type = TRACE_EV_REPLY, .ts = ts + 20000, .conn = 1};
    rp.u.reply = (struct trace_reply){.req_seq = seq,
                                      .rtype = t,
                                      .flags = TRACE_REPLY_HAS_HASH |
                                               (t == TRACE_R_NULL ? TRACE_REPLY_NULL_BULK : 0),
                                      .len = n,
                                      .hash = trace_hash(wire, n),
                                      .err = e,
                                      .errlen = e ? n - 3 : 0};
    add(&rp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_report_trace OUT.rtrace\n");
        return 2;
    }
    static const struct trace_meta_kv meta[] = {
        {"source", "synthetic: tests/make_report_trace.c", 36}};
    w = trace_writer_open(argv[1], meta, 1, NULL, &err);
    if (!w) {
        fprintf(stderr, "make_report_trace: %s\n", err.msg);
        return 1;
    }
    struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = T0, .conn = 1};
    ev.u.open.client.family = ev.u.open.server.family = 4;
    memcpy(ev.u.open.client.addr, "\x7f\x00\x00\x01", 4);
    memcpy(ev.u.open.server.addr, "\x7f\x00\x00\x01", 4);
    ev.u.open.client.port = 40001;
    ev.u.open.server.port = 6379;
    add(&ev);

    static const char k_amp[] = "a<b&c>\"q'";
    static const char k_img[] = "<img src=http://evil.example/x.png>";
    static const char k_ctl[] = "ctl\x00\x1b\xff";
    static const char c_scr[] = "<script>x</script>";
    for (uint64_t s = 0; s < 5; s++) {
        uint64_t n = 1000 * (s + 1);
        for (uint64_t j = 0; j < n; j++) {
            uint64_t ts = T0 + 1000 + s * SEC + j * (SEC / n);
            char key[32];
            const char *av[3];
            size_t al[3];
            switch (j % 10) {
            case 0:
                av[0] = "GET", av[1] = k_amp, al[0] = 3, al[1] = sizeof k_amp - 1;
                request(ts, 2, av, al, "$-1\r\n");
                break;
            case 1:
                av[0] = "SET", av[1] = k_img, av[2] = "<v&>";
                al[0] = 3, al[1] = sizeof k_img - 1, al[2] = 4;
                request(ts, 3, av, al, "+OK\r\n");
                break;
            case 2:
                av[0] = "GET", av[1] = k_ctl, al[0] = 3, al[1] = sizeof k_ctl - 1;
                request(ts, 2, av, al, "$-1\r\n");
                break;
            case 3:
                av[0] = c_scr, av[1] = "arg", al[0] = sizeof c_scr - 1, al[1] = 3;
                request(ts, 2, av, al, "-<E&R> boom\r\n");
                break;
            default:
                snprintf(key, sizeof key, "user:%llu", (unsigned long long)(j % 50));
                av[0] = "GET", av[1] = key, al[0] = 3, al[1] = strlen(key);
                request(ts, 2, av, al, "$-1\r\n");
            }
        }
    }
    ev = (struct trace_event){.type = TRACE_EV_CONN_CLOSE, .ts = T0 + 5 * SEC, .conn = 1};
    ev.u.close.reason = TRACE_CLOSE_FIN;
    add(&ev);
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_report_trace: %s\n", err.msg);
        return 1;
    }
    return 0;
}
