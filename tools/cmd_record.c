/* cmd_record.c: `resptrace record`: capture RESP traffic into a trace. */
#include "tools.h"

#include "record.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void usage_record(FILE *out)
{
    fprintf(out,
            "usage: resptrace record (-i IFACE | -r FILE) -w TRACE [-p PORT]... [options]\n\n"
            "Captures Redis-protocol traffic with libpcap and writes a trace. Passwords in\n"
            "requests (AUTH, HELLO, CONFIG SET requirepass, ACL SETUSER, ...) are replaced,\n"
            "and replies that can hold one (CONFIG GET requirepass, ACL LIST, ...) keep only\n"
            "their type, before anything is written.\n\n"
            "  -i IFACE         capture live on IFACE (\"any\" for all interfaces)\n"
            "  -r FILE          read a pcap or pcapng file (\"-\" for stdin)\n"
            "  -w TRACE         the trace to write (mode 0600; never the file read)\n"
            "  -p PORT          server port(s): repeatable, \"6379,7000-7005\"; default 6379\n"
            "  -f EXPR          BPF filter instead of the one built from the ports\n"
            "  -s SNAPLEN       live: bytes kept per packet (262144)\n"
            "  -B MIB           live: kernel buffer in MiB (256; small buffers drop packets)\n"
            "  --immediate      live: hand each packet over at once, not in blocks of up to\n"
            "                   100 ms (libpcap then uses a ring of fixed-size slots: far\n"
            "                   fewer packets fit, so it drops sooner under load)\n"
            "  -c COUNT         stop after COUNT packets\n"
            "  -C MB            a new trace once the current one passes MB megabytes (10^6\n"
            "                   bytes; checked at chunk boundaries): TRACE, TRACE1, ...\n"
            "                   as tcpdump names them\n"
            "  -G SEC           a new trace every SEC seconds of packet time (periods\n"
            "                   aligned on the epoch); TRACE is a strftime pattern of the\n"
            "                   period's start, in UTC (\"redis-%%Y%%m%%d-%%H%%M%%S.rtrace\");\n"
            "                   with -C too, numbers are appended within a period\n"
            "  -Z USER          after opening the interface or file, run as USER (the\n"
            "                   traces are then created as USER)\n"
            "  --duration SEC   stop after SEC seconds\n"
            "  --payloads       keep reply bytes in the trace, not only their hash\n"
            "  --redact-values  replace the values of write commands (SET's value, HSET's\n"
            "                   values, list/set elements, ...) by 'x' bytes of their length\n"
            "  --level N        zstd level of the trace (1-19; 3)\n"
            "  --encoding N     chunk encoding: 3 (format 1.3, the default), 2 for\n"
            "                   resptrace 1.2 readers, 1 for 1.0 and 1.1 readers\n"
            "  --json[=FILE]    the summary as one JSON document on stdout (or into FILE);\n"
            "                   the text summary then goes to stderr\n"
            "  -q               no status line\n\n"
            "A live capture ends at SIGINT or SIGTERM (exit 0), closing the trace cleanly.\n"
            "A file read stopped that way closes the trace too and exits 130. A write\n"
            "error (a full disk) says how much of the trace is readable and exits 1.\n"
            "Bytes the server rejects as a command are kept as a malformed request.\n");
}

struct ui {
    struct rt_progress bar;
    struct record_progress last;
};

static void fmt_count(uint64_t v, char *buf, size_t cap)
{
    if (v >= 10000000)
        snprintf(buf, cap, "%.1fM", (double)v / 1e6);
    else if (v >= 10000)
        snprintf(buf, cap, "%.1fk", (double)v / 1e3);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)v);
}

/* The status line (at most 79 columns: rt_progress_show cuts it there). */
static void progress(void *ctx, const struct record_progress *p, int final)
{
    struct ui *ui = ctx;
    ui->last = *p;
    if (final) {
        rt_progress_done(&ui->bar);
        return;
    }
    char pk[16], pr[16], rq[16], rr[16], wb[32];
    double w = p->wall_s > 0 ? p->wall_s : 1;
    fmt_count(p->packets, pk, sizeof pk);
    fmt_count((uint64_t)((double)p->packets / w), pr, sizeof pr);
    fmt_count(p->requests, rq, sizeof rq);
    fmt_count((uint64_t)((double)p->requests / w), rr, sizeof rr);
    rt_fmt_bytes(p->written, wb, sizeof wb);
    rt_progress_show(&ui->bar,
                     "record %.0fs  pkts %s (%s/s)  drops %llu  conns %llu  reqs %s (%s/s)  %s",
                     p->wall_s, pk, pr, (unsigned long long)(p->kernel_drops + p->iface_drops),
                     (unsigned long long)p->conns_open, rq, rr, wb);
}

/* 1234567 as "1,234,567" */
static const char *grouped(uint64_t v, char *buf, size_t cap)
{
    char d[32];
    int n = snprintf(d, sizeof d, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = d[i];
    }
    buf[o] = 0;
    return buf;
}

/* "0 packets matched" is never silent: for a file, the ports it does have traffic on; for a
 * live capture, the filter, interface and time it listened. */
static void say_nothing_matched(const struct record_opts *o, const struct record_progress *p)
{
    char a[32];
    if (o->iface) {
        fprintf(stderr,
                "resptrace record: 0 packets matched '%s' on %s in %.1f s; is the server on "
                "another port (-p) or interface (-i any)?\n",
                p->filter, o->iface, p->wall_s);
        return;
    }
    if (!p->unfiltered_read) {
        fprintf(stderr, "resptrace record: 0 packets matched '%s' in %s\n", p->filter, o->file);
        return;
    }
    if (p->unfiltered_tcp == 0 || p->nbusiest == 0) {
        fprintf(stderr,
                "resptrace record: 0 packets matched '%s'; %s holds no TCP traffic (%s "
                "packets in all)\n",
                p->filter, o->file, grouped(p->unfiltered_packets, a, sizeof a));
        return;
    }
    fprintf(stderr,
            "resptrace record: 0 packets matched '%s'; the capture has TCP traffic on ports ",
            p->filter);
    for (size_t i = 0; i < p->nbusiest; i++)
        fprintf(stderr, "%s%u (%s packets)", i ? ", " : "", (unsigned)p->busiest[i].port,
                grouped(p->busiest[i].packets, a, sizeof a));
    fprintf(stderr, ": try -p %u\n", (unsigned)p->busiest[0].port);
}

static json_t *summary_json(const struct record_opts *o, const struct record_progress *p,
                            int interrupted, const char *error)
{
    json_t *j = rt_json_doc("record");
    json_object_set_new(j, "trace", json_string(p->current[0] ? p->current : o->out));
    json_object_set_new(j, "files", rt_json_u64(p->files));
    json_object_set_new(j, "written_bytes", rt_json_u64(p->written));
    json_object_set_new(
        j, "source",
        rt_json_bytes(o->iface ? o->iface : o->file, strlen(o->iface ? o->iface : o->file)));
    json_object_set_new(j, "live", json_boolean(o->iface != NULL));
    json_object_set_new(j, "filter", rt_json_bytes(p->filter, strlen(p->filter)));
    json_object_set_new(j, "packets", rt_json_u64(p->packets));
    json_object_set_new(j, "bytes", rt_json_u64(p->bytes));
    json_object_set_new(j, "bad_packets", rt_json_u64(p->bad_packets));
    json_object_set_new(j, "other_packets", rt_json_u64(p->other_packets));
    json_object_set_new(j, "kernel_drops", rt_json_u64(p->kernel_drops));
    json_object_set_new(j, "iface_drops", rt_json_u64(p->iface_drops));
    json_object_set_new(j, "flows_dropped", rt_json_u64(p->flows_dropped));
    json_object_set_new(j, "bytes_dropped", rt_json_u64(p->bytes_dropped));
    json_object_set_new(j, "connections", rt_json_u64(p->conns_total));
    json_object_set_new(j, "requests", rt_json_u64(p->requests));
    json_object_set_new(j, "malformed_requests", rt_json_u64(p->malformed));
    json_object_set_new(j, "replies", rt_json_u64(p->replies));
    json_object_set_new(j, "redacted_replies", rt_json_u64(p->redacted_replies));
    json_object_set_new(j, "pushes", rt_json_u64(p->pushes));
    json_object_set_new(j, "gaps", rt_json_u64(p->gaps));
    json_object_set_new(j, "notes", rt_json_u64(p->notes));
    json_object_set_new(j, "wall_s", json_real(p->wall_s));
    json_object_set_new(
        j, "packet_time_s",
        json_real(p->last_ts > p->first_ts ? (double)(p->last_ts - p->first_ts) / 1e9 : 0.0));
    if (p->unfiltered_read) {
        json_t *a = json_array();
        for (size_t i = 0; i < p->nbusiest; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "port", json_integer(p->busiest[i].port));
            json_object_set_new(e, "packets", rt_json_u64(p->busiest[i].packets));
            json_array_append_new(a, e);
        }
        json_object_set_new(j, "unmatched_tcp_ports", a);
    }
    json_object_set_new(j, "interrupted", json_boolean(interrupted));
    json_object_set_new(j, "error", error ? json_string(error) : json_null());
    return j;
}

static void summary_text(FILE *out, const struct record_opts *o, const struct record_progress *p)
{
    if (p->files > 1)
        fprintf(out, "%-14s %llu files, the last %s\n", "traces", (unsigned long long)p->files,
                p->current);
    else
        fprintf(out, "%-14s %s\n", "trace", p->current[0] ? p->current : o->out);
    fprintf(out, "%-14s %s\n", "source", o->iface ? o->iface : o->file);
    fprintf(out, "%-14s %llu (%llu bytes; %llu not TCP or not ours, %llu damaged)\n", "packets",
            (unsigned long long)p->packets, (unsigned long long)p->bytes,
            (unsigned long long)p->other_packets, (unsigned long long)p->bad_packets);
    fprintf(out, "%-14s kernel %llu, interface %llu, flows %llu, bytes %llu\n", "drops",
            (unsigned long long)p->kernel_drops, (unsigned long long)p->iface_drops,
            (unsigned long long)p->flows_dropped, (unsigned long long)p->bytes_dropped);
    fprintf(out, "%-14s %llu\n", "connections", (unsigned long long)p->conns_total);
    fprintf(out, "%-14s %llu", "requests", (unsigned long long)p->requests);
    if (p->malformed)
        fprintf(out, " (%llu malformed: the server rejects them)",
                (unsigned long long)p->malformed);
    fprintf(out, "\n%-14s %llu", "replies", (unsigned long long)p->replies);
    if (p->redacted_replies)
        fprintf(out, " (%llu redacted: they can hold a secret)",
                (unsigned long long)p->redacted_replies);
    fprintf(out, "\n%-14s %llu\n", "pushes", (unsigned long long)p->pushes);
    fprintf(out, "%-14s %llu\n", "gaps", (unsigned long long)p->gaps);
    fprintf(out, "%-14s %llu\n", "notes", (unsigned long long)p->notes);
    char wb[32];
    fprintf(out, "%-14s %s (%llu bytes; %.1fx smaller than the packets)\n", "written",
            rt_fmt_bytes(p->written, wb, sizeof wb), (unsigned long long)p->written,
            p->written ? (double)p->bytes / (double)p->written : 0.0);
}

/* A whole non-negative decimal within [lo, hi]. @return 0 or -1. */
static int parse_num(const char *s, long long lo, long long hi, long long *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

int cmd_record(int argc, char **argv)
{
    static const struct option opts[] = {
        {"duration", required_argument, NULL, 'D'}, {"payloads", no_argument, NULL, 'P'},
        {"redact-values", no_argument, NULL, 'V'},  {"immediate", no_argument, NULL, 'I'},
        {"level", required_argument, NULL, 'L'},    {"json", optional_argument, NULL, 'j'},
        {"encoding", required_argument, NULL, 'E'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct record_opts o = {0};
    struct trace_writer_opts wo = {0};
    struct rt_err err = {0};
    const char *json_path = NULL;
    int json = 0, quiet = 0, c;
    long long v;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":i:r:w:p:f:s:B:c:C:G:Z:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': o.iface = optarg; break;
        case 'r': o.file = optarg; break;
        case 'w': o.out = optarg; break;
        case 'p':
            if (record_ports_add(&o.ports, optarg, &err) != 0)
                return rt_usage_error("record", "-p: %s", err.msg);
            break;
        case 'f': o.filter = optarg; break;
        case 's':
            if (parse_num(optarg, 1, INT_MAX, &v) != 0)
                return rt_usage_error("record", "-s takes a snap length in bytes, not '%s'",
                                      optarg);
            o.snaplen = (int)v;
            break;
        case 'B':
            if (parse_num(optarg, 1, 1 << 20, &v) != 0)
                return rt_usage_error("record", "-B takes a buffer size in MiB, not '%s'", optarg);
            o.buffer_mib = (int)v;
            break;
        case 'c':
            o.max_packets = strtoull(optarg, &end, 10);
            if (*end || !*optarg || *optarg == '-')
                return rt_usage_error("record", "-c takes a number, not '%s'", optarg);
            break;
        case 'D':
            o.duration_s = strtod(optarg, &end);
            if (*end || !(o.duration_s > 0))
                return rt_usage_error("record", "--duration takes seconds, not '%s'", optarg);
            break;
        case 'C': {
            double mb = strtod(optarg, &end);
            if (*end || !(mb > 0) || mb > 1e9)
                return rt_usage_error("record", "-C takes a size in MB, not '%s'", optarg);
            o.rotate_bytes = (uint64_t)(mb * 1000000.0);
            break;
        }
        case 'G': {
            double sec = strtod(optarg, &end);
            if (*end || !(sec >= 1) || sec > 1e9)
                return rt_usage_error("record", "-G takes whole seconds (1 or more), not '%s'",
                                      optarg);
            o.rotate_ns = (uint64_t)sec * 1000000000ull;
            break;
        }
        case 'Z': o.user = optarg; break;
        case 'P': o.keep_payload = 1; break;
        case 'V': o.redact_values = 1; break;
        case 'I': o.immediate = 1; break;
        case 'L':
            if (parse_num(optarg, 1, 19, &v) != 0)
                return rt_usage_error("record", "--level takes a zstd level 1-19, not '%s'",
                                      optarg);
            wo.level = (int)v;
            break;
        case 'E':
            if (rt_opt_encoding("record", optarg, &wo.encoding))
                return RT_EXIT_USAGE;
            break;
        case 'j':
            json = 1;
            json_path = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'h': usage_record(stdout); return RT_EXIT_OK;
        case ':': return rt_usage_error("record", "%s needs a value", argv[optind - 1]);
        default: return rt_usage_error("record", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return rt_usage_error("record", "unexpected argument '%s'", argv[optind]);
    if ((o.iface == NULL) == (o.file == NULL))
        return rt_usage_error("record", "give one source: -i IFACE or -r FILE");
    if (!o.out)
        return rt_usage_error("record", "give the trace to write: -w TRACE");
    if (json_path && !*json_path)
        return rt_usage_error("record", "--json= needs a file name (or '-' for stdout)");
    /* writing truncates: never the capture being read, nor the JSON over either (the trace
     * names -C/-G make later are checked by the recorder as it opens them) */
    const char *inputs[2] = {o.file, o.out};
    if (o.file && rt_out_refuse_inputs("record", o.out, inputs, 1) < 0)
        return RT_EXIT_USAGE;
    if (json_path && rt_out_refuse_inputs("record", json_path, inputs, 2) < 0)
        return RT_EXIT_USAGE;
    /* -C is checked at chunk boundaries: a small size wants small chunks */
    if (o.rotate_bytes && o.rotate_bytes < (8u << 20))
        wo.chunk_bytes = (size_t)o.rotate_bytes;
    o.writer = &wo;

    struct ui ui = {0};
    rt_progress_init(&ui.bar, quiet);
    rt_catch_signals();
    int rc = record_run(&o, progress, &ui, &rt_interrupted, &err);
    /* a live capture ends with a signal, as tcpdump's does; a file read stopped early did
     * not read the whole file */
    int interrupted = rt_interrupted && o.file != NULL;
    int to_stdout = json && (!json_path || !strcmp(json_path, "-"));
    if (ui.last.packets || rc == 0)
        summary_text(to_stdout ? stderr : stdout, &o, &ui.last);
    if (rc != 0)
        fprintf(stderr, "resptrace record: %s\n", err.msg);
    else if (ui.last.packets == 0)
        say_nothing_matched(&o, &ui.last);
    if (interrupted)
        fprintf(stderr,
                "resptrace record: interrupted: %s is closed and complete up to packet %llu of "
                "%s\n",
                ui.last.current[0] ? ui.last.current : o.out, (unsigned long long)ui.last.packets,
                o.file);
    int status = rc != 0 ? RT_EXIT_FAIL : interrupted ? RT_EXIT_INTERRUPTED : RT_EXIT_OK;
    if (json &&
        rt_json_write("record", summary_json(&o, &ui.last, interrupted, rc ? err.msg : NULL),
                      json_path) != 0 &&
        status == RT_EXIT_OK)
        status = RT_EXIT_FAIL;
    return status;
}
