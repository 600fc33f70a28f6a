/* make_paced_trace.c: writes a trace of one command repeated at a fixed rate, for the capacity
 * sweep test (tests/cli/test_replay_sweep.sh): a known recorded load against a server whose
 * capacity for that command is known.
 *
 * usage: make_paced_trace OUT.rtrace SECONDS RATE CONNS CMD [ARG...]
 *
 * SECONDS * RATE requests, evenly spaced, round-robin over CONNS connections opened at the start
 * and closed at the end; no replies (so no request waits for another's reply: an open loop). */
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764171752000000000ull

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: make_paced_trace OUT.rtrace SECONDS RATE CONNS CMD [ARG...]\n");
        return 2;
    }
    double secs = atof(argv[2]), rate = atof(argv[3]);
    unsigned conns = (unsigned)atoi(argv[4]);
    if (secs <= 0 || rate <= 0 || conns < 1 || argc - 5 > 64) {
        fprintf(stderr, "make_paced_trace: bad SECONDS, RATE, CONNS or too many arguments\n");
        return 2;
    }
    struct rt_err err = {0};
    static const struct trace_meta_kv meta[] = {{"source", "synthetic: tests/make_paced_trace.c", 35}};
    struct trace_writer *w = trace_writer_open(argv[1], meta, 1, NULL, &err);
    if (!w) {
        fprintf(stderr, "make_paced_trace: %s\n", err.msg);
        return 1;
    }
    const char **av = (const char **)argv + 5;
    size_t len[64];
    uint32_t ac = (uint32_t)(argc - 5);
    for (uint32_t i = 0; i < ac; i++)
        len[i] = strlen(av[i]);
    uint64_t n = (uint64_t)(secs * rate), step = (uint64_t)(1e9 / rate);
    int rc = 0;
    for (unsigned c = 0; c < conns && !rc; c++) {
        struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = T0, .conn = c + 1};
        ev.u.open.client.family = ev.u.open.server.family = 4;
        rc = trace_writer_add(w, &ev, &err);
    }
    for (uint64_t i = 0; i < n && !rc; i++) {
        struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = T0 + 1000000 + i * step,
                                 .conn = i % conns + 1};
        ev.u.req = (struct trace_request){.proto = 2, .argc = ac, .argv = av, .argvlen = len};
        rc = trace_writer_add(w, &ev, &err);
    }
    for (unsigned c = 0; c < conns && !rc; c++) {
        struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = T0 + 2000000 + n * step,
                                 .conn = c + 1};
        rc = trace_writer_add(w, &ev, &err);
    }
    if (rc || trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_paced_trace: %s\n", err.msg);
        return 1;
    }
    return 0;
}
