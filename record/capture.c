/* capture.c: the recorder's main loop: libpcap source, reassembly, sessions, trace writer. */
#define _GNU_SOURCE
#include "record_int.h"

#include <errno.h>
#include <grp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000ull

struct rec {
    const struct record_opts *o;
    pcap_t *pcap;
    int linktype;
    struct trace_writer *w;
    struct tcp_table *tcp;
    struct rec_scratch *scratch; /* shared by all the sessions: they run on this thread */
    struct rec_session_opts sopts;
    struct rec_sink sink;
    struct record_progress prog;
    struct rt_err werr; /* the first writer error: it stops the capture */
    int failed;
    uint64_t last_stats_ts; /* packet time of the last STATS event */
    /* rotation (-C, -G): request numbers go on across files so that a reply finds its request;
     * one whose request is in an earlier file is written unpaired */
    char filter[4096];
    uint64_t seq_base;      /* requests in the earlier files */
    uint64_t file_reqs;     /* requests in this file */
    uint64_t file_t0;       /* -G: the period the file covers starts here (packet time) */
    uint64_t since_check;   /* events since the size was last looked at */
    unsigned file_index;    /* -C: the number appended to the name (0: none) */
    uint64_t written_done;  /* bytes of the traces already closed */
};

static int open_writer(struct rec *r, uint64_t ts, struct rt_err *err);

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* ---- events into the writer ---- */

/* 1 when `a` and `b` name the same existing file (device and inode) */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* the size of the trace being written */
static uint64_t file_size(const struct rec *r)
{
    struct stat st;
    return stat(r->prog.current, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* -C/-G: closes the trace and opens the next one. @return 0, or -1 (r->werr says why) */
static int rotate(struct rec *r, uint64_t ts)
{
    if (trace_writer_close(r->w, &r->werr) != 0) {
        r->w = NULL;
        return -1;
    }
    r->w = NULL;
    r->written_done += file_size(r);
    r->seq_base += r->file_reqs;
    r->file_reqs = 0;
    return open_writer(r, ts, &r->werr) == 0 ? 0 : -1;
}

static int maybe_rotate(struct rec *r, const struct trace_event *ev)
{
    const struct record_opts *o = r->o;
    if (o->rotate_ns && ev->ts >= r->file_t0 + o->rotate_ns) {
        r->file_index = 0;
        return rotate(r, ev->ts);
    }
    if (o->rotate_bytes && ++r->since_check >= 4096) {
        r->since_check = 0;
        if (file_size(r) >= o->rotate_bytes) {
            r->file_index++;
            return rotate(r, r->file_t0);
        }
    }
    return 0;
}

static int sink_event(void *ctx, struct trace_event *ev)
{
    struct rec *r = ctx;
    if (r->failed)
        return -1;
    /* a file read with -G: the first trace opens at the first event's time */
    if (!r->w && open_writer(r, ev->ts, &r->werr) != 0) {
        r->failed = 1;
        return -1;
    }
    if ((r->o->rotate_ns || r->o->rotate_bytes) && maybe_rotate(r, ev) != 0) {
        r->failed = 1;
        return -1;
    }
    /* request numbers: the writer counts from 0 in each file, the sessions across files */
    uint64_t req_seq = 0;
    if ((ev->type == TRACE_EV_REPLY || ev->type == TRACE_EV_PUSH) &&
        ev->u.reply.req_seq != TRACE_SEQ_NONE) {
        req_seq = ev->u.reply.req_seq;
        ev->u.reply.req_seq = req_seq >= r->seq_base ? req_seq - r->seq_base : TRACE_SEQ_NONE;
    }
    int rc = trace_writer_add(r->w, ev, &r->werr);
    if (ev->type == TRACE_EV_REPLY || ev->type == TRACE_EV_PUSH) {
        if (req_seq)
            ev->u.reply.req_seq = req_seq;
    } else if (ev->type == TRACE_EV_REQUEST && rc == 0) {
        ev->u.req.seq += r->seq_base;
        r->file_reqs++;
    }
    if (rc != 0) {
        r->failed = 1;
        return -1;
    }
    switch (ev->type) {
    case TRACE_EV_REQUEST:
        r->prog.requests++;
        if (ev->u.req.flags & TRACE_REQ_MALFORMED)
            r->prog.malformed++;
        break;
    case TRACE_EV_REPLY:
        r->prog.replies++;
        if (ev->u.reply.flags & TRACE_REPLY_REDACTED)
            r->prog.redacted_replies++;
        break;
    case TRACE_EV_PUSH: r->prog.pushes++; break;
    case TRACE_EV_GAP: r->prog.gaps++; break;
    case TRACE_EV_NOTE: r->prog.notes++; break;
    default: break;
    }
    return 0;
}

static void *on_open(void *ctx, uint64_t conn, const struct trace_addr *client,
                     const struct trace_addr *server, uint32_t flags, uint64_t ts)
{
    struct rec *r = ctx;
    struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = ts, .conn = conn};
    ev.u.open.client = *client;
    ev.u.open.server = *server;
    ev.u.open.flags = flags;
    if (sink_event(r, &ev) != 0)
        return NULL;
    r->prog.conns_total++;
    r->prog.conns_open++;
    struct rt_err err = {0};
    return rec_conn_new(conn, flags, &r->sopts, &r->sink, &err);
}

static void on_data(void *ctx, void *conn_ctx, uint64_t conn, enum trace_dir dir, const uint8_t *p,
                    size_t n, uint64_t ts)
{
    (void)ctx;
    (void)conn;
    if (conn_ctx)
        rec_conn_data(conn_ctx, dir, p, n, ts);
}

static void on_gap(void *ctx, void *conn_ctx, uint64_t conn, enum trace_dir dir, uint64_t bytes,
                   uint64_t ts)
{
    (void)ctx;
    (void)conn;
    if (conn_ctx)
        rec_conn_gap(conn_ctx, dir, bytes, ts);
}

static void on_close(void *ctx, void *conn_ctx, uint64_t conn, enum trace_close_reason reason,
                     uint64_t ts)
{
    struct rec *r = ctx;
    if (conn_ctx) {
        rec_conn_close(conn_ctx, ts);
        rec_conn_free(conn_ctx);
    }
    struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = ts, .conn = conn};
    ev.u.close.reason = reason;
    sink_event(r, &ev);
    r->prog.conns_open--;
}

/* ---- statistics ---- */

static void read_pcap_stats(struct rec *r)
{
    struct pcap_stat ps;
    if (r->o->iface && pcap_stats(r->pcap, &ps) == 0) {
        r->prog.kernel_drops = ps.ps_drop;
        r->prog.iface_drops = ps.ps_ifdrop;
    }
}

static void write_stats(struct rec *r, uint64_t ts)
{
    struct tcp_stats t;
    tcp_table_stats(r->tcp, &t);
    read_pcap_stats(r);
    r->prog.flows_dropped = t.flows_dropped;
    r->prog.bytes_dropped = t.bytes_dropped;
    struct trace_event ev = {.type = TRACE_EV_STATS, .ts = ts, .conn = 0};
    ev.u.stats = (struct trace_stats){r->prog.packets,     r->prog.bytes,   r->prog.kernel_drops,
                                      r->prog.iface_drops, t.flows_dropped, t.bytes_dropped};
    sink_event(r, &ev);
    r->last_stats_ts = ts;
}

/* ---- packets ---- */

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct rec *r = (struct rec *)user;
    /* nanosecond precision was asked for when the handle was opened */
    uint64_t ts = (uint64_t)h->ts.tv_sec * NS + (uint64_t)h->ts.tv_usec;
    r->prog.packets++;
    r->prog.bytes += h->len;
    if (r->prog.first_ts == 0)
        r->prog.first_ts = ts;
    if (ts > r->prog.last_ts)
        r->prog.last_ts = ts;
    struct record_packet pkt;
    int rc = record_packet_decode(r->linktype, bytes, h->caplen, h->len, ts, &pkt);
    if (rc == RECORD_PKT_OK || rc == RECORD_PKT_CUT) {
        int trc = tcp_table_input(r->tcp, &pkt);
        (void)trc; /* refusals and memory shortfalls are counted by the table */
    } else if (rc == RECORD_PKT_TRUNCATED || rc == RECORD_PKT_MALFORMED) {
        r->prog.bad_packets++;
    } else {
        r->prog.other_packets++;
    }
    if (ts >= r->last_stats_ts + NS)
        write_stats(r, ts);
    if (r->o->max_packets && r->prog.packets >= r->o->max_packets)
        pcap_breakloop(r->pcap);
    if (r->failed)
        pcap_breakloop(r->pcap);
}

/* ---- opening the source ---- */

static pcap_t *open_live(const struct record_opts *o, struct rt_err *err)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(o->iface, ebuf);
    if (!p) {
        rt_err_set(err, RT_EIO, "interface %s: %s", o->iface, ebuf);
        return NULL;
    }
    pcap_set_snaplen(p, o->snaplen ? o->snaplen : 262144);
    pcap_set_promisc(p, 0);
    /* Not immediate mode by default: libpcap 1.10 then falls back to TPACKET_V2, whose ring
     * has one fixed slot per packet of the snap length (65,632 bytes on lo), so 256 MiB hold
     * about 4,000 packets and a short stall drops (measured by tests/bench/bench_record.sh:
     * 103,636 drops against tcpdump's 0 at the same load). The default TPACKET_V3 ring packs
     * packets by their size and hands over a block at least every 100 ms, as tcpdump does. */
    pcap_set_timeout(p, 100);
    if (o->immediate)
        pcap_set_immediate_mode(p, 1);
    pcap_set_buffer_size(p, (o->buffer_mib ? o->buffer_mib : 256) << 20);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    int rc = pcap_activate(p);
    if (rc < 0) {
        rt_err_set(err, RT_EIO, "interface %s: %s", o->iface,
                   rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc));
        pcap_close(p);
        return NULL;
    }
    return p;
}

static pcap_t *open_file(const struct record_opts *o, struct rt_err *err)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_open_offline_with_tstamp_precision(o->file, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!p)
        rt_err_set(err, RT_EIO, "%s: %s", o->file, ebuf);
    return p;
}

static int set_filter(struct rec *r, char *filter, size_t cap, struct rt_err *err)
{
    if (r->o->filter)
        snprintf(filter, cap, "%s", r->o->filter);
    else if (record_filter_build(&r->o->ports, r->linktype == DLT_EN10MB, filter, cap, err) != 0)
        return RT_ELIMIT;
    struct bpf_program prog;
    if (pcap_compile(r->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        rt_err_set(err, RT_EINVAL, "filter '%s': %s", filter, pcap_geterr(r->pcap));
        return RT_EINVAL;
    }
    int rc = pcap_setfilter(r->pcap, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        rt_err_set(err, RT_EIO, "filter '%s': %s", filter, pcap_geterr(r->pcap));
        return RT_EIO;
    }
    return 0;
}

/* the name of the next trace: -G expands `out` as a strftime pattern of the period's start
 * (UTC); -C appends the file's number from the second one on, as tcpdump does */
static int trace_name(struct rec *r, uint64_t ts, struct rt_err *err)
{
    const struct record_opts *o = r->o;
    char base[4096];
    if (o->rotate_ns) {
        time_t t = (time_t)(ts / NS);
        struct tm tm;
        gmtime_r(&t, &tm);
        if (strftime(base, sizeof base, o->out, &tm) == 0) {
            rt_err_set(err, RT_EINVAL, "-w %s: the name is empty or too long after strftime", o->out);
            return RT_EINVAL;
        }
    } else {
        snprintf(base, sizeof base, "%s", o->out);
    }
    int n = r->file_index ? snprintf(r->prog.current, sizeof r->prog.current, "%s%u", base,
                                     r->file_index)
                          : snprintf(r->prog.current, sizeof r->prog.current, "%s", base);
    if (n < 0 || (size_t)n >= sizeof r->prog.current) {
        rt_err_set(err, RT_EINVAL, "-w %s: the name is too long", o->out);
        return RT_EINVAL;
    }
    return 0;
}

static int open_writer(struct rec *r, uint64_t ts, struct rt_err *err)
{
    const struct record_opts *o = r->o;
    const char *filter = r->filter;
    if (o->rotate_ns) {
        /* periods aligned on multiples of -G from the epoch, as log rotation would */
        r->file_t0 = ts - ts % o->rotate_ns;
    }
    int nrc = trace_name(r, r->file_t0 ? r->file_t0 : ts, err);
    if (nrc)
        return nrc;
    /* opening truncates: never the capture being read (-r X -w X, or a -C/-G name that
     * comes to be the input) */
    if (o->file && strcmp(o->file, "-") != 0 && same_file(r->prog.current, o->file)) {
        rt_err_set(err, RT_EINVAL,
                   "will not write %s: it is the input %s (choose another output name)",
                   r->prog.current, o->file);
        return RT_EINVAL;
    }
    char host[256] = "", ports[RECORD_MAX_PORTS * 6 + 1] = "", start[32], snap[16];
    gethostname(host, sizeof host - 1);
    size_t n = 0;
    const struct record_ports *pp = &o->ports;
    struct record_ports def = {{RECORD_DEFAULT_PORT}, 1};
    if (pp->n == 0)
        pp = &def;
    for (size_t i = 0; i < pp->n; i++)
        n += (size_t)snprintf(ports + n, sizeof ports - n, "%s%u", i ? "," : "",
                              (unsigned)pp->port[i]);
    snprintf(start, sizeof start, "%llu", (unsigned long long)wall_ns());
    snprintf(snap, sizeof snap, "%d", pcap_snapshot(r->pcap));
    char iface[4096 + 8];
    if (o->iface)
        snprintf(iface, sizeof iface, "%s", o->iface);
    else
        snprintf(iface, sizeof iface, "file:%s", o->file);
    const char *values = o->redact_values ? "on" : "off";
    char fileno[24];
    snprintf(fileno, sizeof fileno, "%llu", (unsigned long long)r->prog.files);
    struct trace_meta_kv meta[] = {
        {"capture.file_index", fileno, strlen(fileno)},
        {"tool.version", "resptrace " RT_VERSION_STRING, strlen("resptrace " RT_VERSION_STRING)},
        {"capture.host", host, strlen(host)},
        {"capture.interface", iface, strlen(iface)},
        {"capture.filter", filter, strlen(filter)},
        {"capture.ports", ports, strlen(ports)},
        {"capture.start_ns", start, strlen(start)},
        {"capture.snaplen", snap, strlen(snap)},
        {"redaction.auth", "on", 2},
        {"redaction.values", values, strlen(values)},
        {"redaction.replies", "on", 2},
    };
    r->w = trace_writer_open(r->prog.current, meta, sizeof meta / sizeof meta[0], o->writer,
                             err);
    if (!r->w)
        return err ? err->code : RT_EIO;
    r->prog.files++;
    return 0;
}

/* A file of which no packet matched the filter: reads it again without one and keeps its
 * busiest TCP server ports in p->busiest. A connection's server port is the one its SYN went
 * to (or its SYN-ACK came from); for a connection whose handshake the file lacks, the lower
 * of its two ports (clients mostly use high ephemeral ones). Best effort: nothing on error. */
static void busiest_ports(const char *file, struct record_progress *p)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!pc)
        return;
    uint64_t *count = calloc(65536, sizeof *count);
    uint8_t *server = calloc(65536, 1); /* ports seen as a SYN's destination */
    if (!count || !server)
        goto done;
    int lt = pcap_datalink(pc);
    struct pcap_pkthdr *h;
    const u_char *b;
    struct record_packet k;
    while (pcap_next_ex(pc, &h, &b) == 1) {
        p->unfiltered_packets++;
        int rc = record_packet_decode(lt, b, h->caplen, h->len, 0, &k);
        if (rc != RECORD_PKT_OK && rc != RECORD_PKT_CUT)
            continue;
        p->unfiltered_tcp++;
        if ((k.flags & (RECORD_TCP_SYN | RECORD_TCP_ACK)) == RECORD_TCP_SYN)
            server[k.dst.port] = 1;
        else if ((k.flags & (RECORD_TCP_SYN | RECORD_TCP_ACK)) == (RECORD_TCP_SYN | RECORD_TCP_ACK))
            server[k.src.port] = 1;
        uint16_t sp = k.src.port, dp = k.dst.port;
        if (server[sp] != server[dp])
            count[server[sp] ? sp : dp]++;
        else
            count[sp < dp ? sp : dp]++;
    }
    p->unfiltered_read = 1;
    /* the largest counts, most first (ties: the lower port) */
    for (size_t n = 0; n < RECORD_BUSIEST; n++) {
        uint32_t best = 65536;
        for (uint32_t port = 0; port < 65536; port++)
            if (count[port] && (best == 65536 || count[port] > count[best]))
                best = port;
        if (best == 65536)
            break;
        p->busiest[n] = (struct record_port_count){(uint16_t)best, count[best]};
        p->nbusiest = n + 1;
        count[best] = 0;
    }
done:
    free(count);
    free(server);
    pcap_close(pc);
}

/* -Z: the capture is open; the rest runs as `user` (its group and supplementary groups) */
static int drop_privileges(const char *user, struct rt_err *err)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        rt_err_set(err, RT_EINVAL, "-Z %s: no such user", user);
        return RT_EINVAL;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        rt_err_set(err, RT_EIO, "-Z %s: cannot switch to the user: %s", user, strerror(errno));
        return RT_EIO;
    }
    if (setuid(0) == 0 && pw->pw_uid != 0) {
        rt_err_set(err, RT_EIO, "-Z %s: root privileges could be regained", user);
        return RT_EIO;
    }
    return 0;
}

int record_run(const struct record_opts *o, record_progress_fn progress, void *ctx,
               volatile int *stop, struct rt_err *err)
{
    struct rec r = {.o = o};
    int rc = 0;
    char filter[4096];
    if ((o->iface == NULL) == (o->file == NULL) || !o->out) {
        rt_err_set(err, RT_EINVAL, "give one source (an interface or a file) and an output");
        return RT_EINVAL;
    }
    r.pcap = o->iface ? open_live(o, err) : open_file(o, err);
    if (!r.pcap)
        return RT_EIO;
    r.linktype = pcap_datalink(r.pcap);
    if ((rc = set_filter(&r, filter, sizeof filter, err)) != 0)
        goto done;
    if (o->user && (rc = drop_privileges(o->user, err)) != 0)
        goto done;
    snprintf(r.filter, sizeof r.filter, "%s", filter);
    snprintf(r.prog.filter, sizeof r.prog.filter, "%s", filter);
    /* (a file read with -G opens its first trace at its first packet's time) */
    if ((o->iface || !o->rotate_ns) && (rc = open_writer(&r, wall_ns(), err)) != 0)
        goto done;
    r.sink = (struct rec_sink){sink_event, &r};
    r.scratch = rec_scratch_new();
    if (!r.scratch) {
        rt_err_set(err, RT_ENOMEM, "out of memory");
        rc = RT_ENOMEM;
        goto done;
    }
    r.sopts.scratch = r.scratch;
    r.sopts.lim = resp_limits_default();
    r.sopts.keep_payload = o->keep_payload;
    r.sopts.redact_values = o->redact_values;
    struct tcp_opts topts = {.ports = &o->ports};
    struct tcp_callbacks cb = {on_open, on_data, on_gap, on_close};
    r.tcp = tcp_table_new(&topts, &cb, &r, err);
    if (!r.tcp) {
        rc = err->code;
        goto done;
    }

    /* A live handle is non-blocking and waited on with poll(): libpcap's own wait goes on
     * through signals and timeouts, and the loop must see the stop flag and tick while the
     * traffic is quiet. */
    int fd = o->iface ? pcap_get_selectable_fd(r.pcap) : -1;
    char ebuf[PCAP_ERRBUF_SIZE];
    if (o->iface && (fd < 0 || pcap_setnonblock(r.pcap, 1, ebuf) != 0)) {
        rt_err_set(err, RT_EIO, "interface %s: cannot poll the capture", o->iface);
        rc = RT_EIO;
        goto done;
    }
    uint64_t t0 = mono_ns(), last_tick = t0;
    for (;;) {
        if (fd >= 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            poll(&pfd, 1, 100); /* EINTR from a signal just ends the wait */
        }
        int n = pcap_dispatch(r.pcap, 256, on_packet, (u_char *)&r);
        if (n == PCAP_ERROR && stop && *stop)
            break; /* a read interrupted by the signal that stops us */
        if (n == PCAP_ERROR) {
            rt_err_set(err, RT_EIO, "%s: %s", o->iface ? o->iface : o->file, pcap_geterr(r.pcap));
            rc = RT_EIO;
            break;
        }
        if (r.failed)
            break;
        if (n == 0 && o->file) /* a file is at its end (a live read timed out: go on) */
            break;
        if (n == PCAP_ERROR_BREAK && !(stop && *stop))
            break; /* max_packets reached */
        uint64_t now = mono_ns();
        if (o->duration_s > 0 && (double)(now - t0) / 1e9 >= o->duration_s)
            break;
        if (stop && *stop)
            break;
        if (now - last_tick >= NS / 2) {
            last_tick = now;
            if (o->iface) {
                /* quiet traffic: let time pass for reassembly and the writer. The events this
                 * writes (idle closes, STATS) carry a time no packet still to come can precede:
                 * libpcap hands packets over in blocks of up to 100 ms, so "now" would put them
                 * ahead of packets captured before it and delivered after, and the trace would
                 * not be in time order */
                uint64_t settled = wall_ns() - NS / 2;
                if (r.prog.last_ts > settled)
                    settled = r.prog.last_ts;
                tcp_table_expire(r.tcp, settled);
                if (r.w)
                    trace_writer_poll(r.w, wall_ns(), NULL);
                if (settled >= r.last_stats_ts + NS)
                    write_stats(&r, settled);
            }
            read_pcap_stats(&r);
            r.prog.written = r.written_done + (r.w ? file_size(&r) : 0);
            r.prog.wall_s = (double)(now - t0) / 1e9;
            if (progress)
                progress(ctx, &r.prog, 0);
        }
    }
    /* always flushed: closing the connections frees their sessions */
    uint64_t end = o->iface ? wall_ns() : r.prog.last_ts;
    tcp_table_flush(r.tcp, end);
    if (!r.w && !r.failed && open_writer(&r, end ? end : wall_ns(), &r.werr) != 0)
        r.failed = 1; /* -G on a file without packets: still one (empty) trace */
    if (!r.failed)
        write_stats(&r, end ? end : wall_ns());
    r.prog.wall_s = (double)(mono_ns() - t0) / 1e9;
    if (r.failed && !rc) {
        *err = r.werr;
        rc = r.werr.code ? r.werr.code : RT_EIO;
    }
done:
    if (r.w) {
        struct rt_err cerr = {0};
        int crc = trace_writer_close(r.w, &cerr);
        if (crc && !rc) {
            *err = cerr;
            rc = crc;
        }
    }
    if (r.prog.current[0])
        r.prog.written = r.written_done + file_size(&r);
    tcp_table_free(r.tcp);
    rec_scratch_free(r.scratch);
    pcap_close(r.pcap);
    /* nothing matched: say what the file holds instead (not for stdin: read once only) */
    if (!rc && o->file && strcmp(o->file, "-") != 0 && r.prog.packets == 0 && !(stop && *stop))
        busiest_ports(o->file, &r.prog);
    if (progress)
        progress(ctx, &r.prog, 1);
    return rc;
}
