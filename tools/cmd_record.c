/* cmd_record.c: `resptrace record`: capture RESP traffic into a trace. */
#include "tools.h"

#include "record.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void usage_record(FILE *out)
{
    fprintf(out, "usage: resptrace record (-i IFACE | -r FILE) -w TRACE [-p PORT]... [options]\n\n"
                 "Captures Redis-protocol traffic with libpcap and writes a trace. AUTH and HELLO\n"
                 "passwords are replaced before anything is written.\n\n"
                 "  -i IFACE         capture live on IFACE (\"any\" for all interfaces)\n"
                 "  -r FILE          read a pcap or pcapng file (\"-\" for stdin)\n"
                 "  -w TRACE         the trace to write (created with mode 0600)\n"
                 "  -p PORT          server port(s): repeatable, \"6379,7000-7005\"; default 6379\n"
                 "  -f EXPR          BPF filter instead of the one built from the ports\n"
                 "  -s SNAPLEN       live: bytes kept per packet (262144)\n"
                 "  -B MIB           live: kernel buffer in MiB (256; small buffers drop packets)\n"
                 "  --immediate      live: hand each packet over at once instead of in blocks of\n"
                 "                   up to 100 ms (libpcap then uses a ring of fixed-size slots:\n"
                 "                   far fewer packets fit, so it drops sooner under load)\n"
                 "  -c COUNT         stop after COUNT packets\n"
                 "  -C MB            a new trace once the current one passes MB megabytes\n"
                 "                   (10^6 bytes; checked at chunk boundaries): TRACE, TRACE1,\n"
                 "                   TRACE2, ... as tcpdump names them\n"
                 "  -G SEC           a new trace every SEC seconds of packet time (periods aligned\n"
                 "                   on the epoch); TRACE is a strftime pattern of the period's\n"
                 "                   start, in UTC (\"redis-%%Y%%m%%d-%%H%%M%%S.rtrace\"); with -C\n"
                 "                   too, numbers are appended within a period\n"
                 "  -Z USER          after opening the interface or file, run as USER (the\n"
                 "                   traces are then created as USER)\n"
                 "  --duration SEC   stop after SEC seconds\n"
                 "  --payloads       keep reply bytes in the trace, not only their hash\n"
                 "  --redact-values  replace the values of write commands (SET's value, HSET's\n"
                 "                   values, list/set elements, ...) by 'x' bytes of the same length\n"
                 "  --level N        zstd level of the trace (3)\n"
                 "  --json           print the summary as JSON\n"
                 "  -q               no progress line\n\n"
                 "SIGINT or SIGTERM stops the capture and closes the trace cleanly.\n");
}

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct ui {
    int tty, quiet;
    struct record_progress last;
};

static void progress(void *ctx, const struct record_progress *p, int final)
{
    struct ui *ui = ctx;
    ui->last = *p;
    if (!ui->tty || ui->quiet)
        return;
    double rate = p->wall_s > 0 ? (double)p->packets / p->wall_s : 0;
    double crate = p->wall_s > 0 ? (double)p->requests / p->wall_s : 0;
    char wb[32];
    rt_fmt_bytes(p->written, wb, sizeof wb);
    fprintf(stderr,
            "\r\033[Krecord %.1fs  packets %llu (%.0f/s)  drops %llu  conns %llu open/%llu  "
            "requests %llu (%.0f/s)  replies %llu  gaps %llu  written %s (%.1fx)",
            p->wall_s, (unsigned long long)p->packets, rate,
            (unsigned long long)(p->kernel_drops + p->iface_drops),
            (unsigned long long)p->conns_open, (unsigned long long)p->conns_total,
            (unsigned long long)p->requests, crate, (unsigned long long)p->replies,
            (unsigned long long)p->gaps, wb,
            p->written ? (double)p->bytes / (double)p->written : 0.0);
    if (final)
        fputc('\n', stderr);
}

static void summary(const struct record_opts *o, const struct record_progress *p, int json)
{
    if (json) {
        json_t *j = json_object();
        json_object_set_new(j, "trace", json_string(p->current[0] ? p->current : o->out));
        json_object_set_new(j, "files", rt_json_u64(p->files));
        json_object_set_new(j, "written_bytes", rt_json_u64(p->written));
        json_object_set_new(j, "source", json_string(o->iface ? o->iface : o->file));
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
        json_object_set_new(j, "replies", rt_json_u64(p->replies));
        json_object_set_new(j, "pushes", rt_json_u64(p->pushes));
        json_object_set_new(j, "gaps", rt_json_u64(p->gaps));
        json_object_set_new(j, "notes", rt_json_u64(p->notes));
        json_object_set_new(j, "wall_s", json_real(p->wall_s));
        rt_print_json(stdout, j);
        return;
    }
    if (p->files > 1)
        printf("%-14s %llu files, the last %s\n", "traces", (unsigned long long)p->files,
               p->current);
    else
        printf("%-14s %s\n", "trace", p->current[0] ? p->current : o->out);
    printf("%-14s %s\n", "source", o->iface ? o->iface : o->file);
    printf("%-14s %llu (%llu bytes; %llu not TCP or not ours, %llu damaged)\n", "packets",
           (unsigned long long)p->packets, (unsigned long long)p->bytes,
           (unsigned long long)p->other_packets, (unsigned long long)p->bad_packets);
    printf("%-14s kernel %llu, interface %llu, flows %llu, bytes %llu\n", "drops",
           (unsigned long long)p->kernel_drops, (unsigned long long)p->iface_drops,
           (unsigned long long)p->flows_dropped, (unsigned long long)p->bytes_dropped);
    printf("%-14s %llu\n", "connections", (unsigned long long)p->conns_total);
    printf("%-14s %llu\n", "requests", (unsigned long long)p->requests);
    printf("%-14s %llu\n", "replies", (unsigned long long)p->replies);
    printf("%-14s %llu\n", "pushes", (unsigned long long)p->pushes);
    printf("%-14s %llu\n", "gaps", (unsigned long long)p->gaps);
    printf("%-14s %llu\n", "notes", (unsigned long long)p->notes);
    char wb[32];
    printf("%-14s %s (%llu bytes; %.1fx smaller than the packets)\n", "written",
           rt_fmt_bytes(p->written, wb, sizeof wb), (unsigned long long)p->written,
           p->written ? (double)p->bytes / (double)p->written : 0.0);
}

int cmd_record(int argc, char **argv)
{
    static const struct option opts[] = {
        {"duration", required_argument, NULL, 'D'}, {"payloads", no_argument, NULL, 'P'},
        {"redact-values", no_argument, NULL, 'V'},
        {"immediate", no_argument, NULL, 'I'},
        {"level", required_argument, NULL, 'L'},    {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    struct record_opts o = {0};
    struct trace_writer_opts wo = {0};
    struct rt_err err = {0};
    int json = 0, c;
    struct ui ui = {.tty = isatty(2)};
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:r:w:p:f:s:B:c:C:G:Z:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': o.iface = optarg; break;
        case 'r': o.file = optarg; break;
        case 'w': o.out = optarg; break;
        case 'p':
            if (record_ports_add(&o.ports, optarg, &err) != 0) {
                fprintf(stderr, "resptrace record: -p: %s\n", err.msg);
                return RT_EXIT_USAGE;
            }
            break;
        case 'f': o.filter = optarg; break;
        case 's': o.snaplen = atoi(optarg); break;
        case 'B': o.buffer_mib = atoi(optarg); break;
        case 'c':
            o.max_packets = strtoull(optarg, &end, 10);
            if (*end || !*optarg) {
                fprintf(stderr, "resptrace record: -c takes a number, not '%s'\n", optarg);
                return RT_EXIT_USAGE;
            }
            break;
        case 'D':
            o.duration_s = strtod(optarg, &end);
            if (*end || o.duration_s <= 0) {
                fprintf(stderr, "resptrace record: --duration takes seconds, not '%s'\n", optarg);
                return RT_EXIT_USAGE;
            }
            break;
        case 'C': {
            double mb = strtod(optarg, &end);
            if (*end || !(mb > 0) || mb > 1e9) {
                fprintf(stderr, "resptrace record: -C takes a size in MB, not '%s'\n", optarg);
                return RT_EXIT_USAGE;
            }
            o.rotate_bytes = (uint64_t)(mb * 1000000.0);
            break;
        }
        case 'G': {
            double sec = strtod(optarg, &end);
            if (*end || !(sec >= 1) || sec > 1e9) {
                fprintf(stderr, "resptrace record: -G takes whole seconds (1 or more), not '%s'\n",
                        optarg);
                return RT_EXIT_USAGE;
            }
            o.rotate_ns = (uint64_t)sec * 1000000000ull;
            break;
        }
        case 'Z': o.user = optarg; break;
        case 'P': o.keep_payload = 1; break;
        case 'V': o.redact_values = 1; break;
        case 'I': o.immediate = 1; break;
        case 'L': wo.level = atoi(optarg); break;
        case 'j': json = 1; break;
        case 'q': ui.quiet = 1; break;
        case 'h': usage_record(stdout); return RT_EXIT_OK;
        default: usage_record(stderr); return RT_EXIT_USAGE;
        }
    }
    if (optind != argc || (o.iface == NULL) == (o.file == NULL) || !o.out) {
        fprintf(stderr, "resptrace record: give -i IFACE or -r FILE, and -w TRACE\n");
        usage_record(stderr);
        return RT_EXIT_USAGE;
    }
    /* -C is checked at chunk boundaries: a small size wants small chunks */
    if (o.rotate_bytes && o.rotate_bytes < (8u << 20))
        wo.chunk_bytes = (size_t)o.rotate_bytes;
    o.writer = &wo;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = record_run(&o, progress, &ui, &stop_flag, &err);
    if (ui.last.packets || rc == 0)
        summary(&o, &ui.last, json);
    if (rc != 0) {
        fprintf(stderr, "resptrace record: %s\n", err.msg);
        return RT_EXIT_FAIL;
    }
    return RT_EXIT_OK;
}
