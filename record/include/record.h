/* record.h: the recorder library: what `resptrace record` captures and how it filters. */
#ifndef RESPTRACE_RECORD_H
#define RESPTRACE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECORD_MAX_PORTS 64
#define RECORD_BUSIEST 4 /* ports named when a capture file matched nothing */
#define RECORD_DEFAULT_PORT 6379

/* The server ports whose traffic is recorded (`-p`, repeatable, comma lists and ranges). */
struct record_ports {
    uint16_t port[RECORD_MAX_PORTS];
    size_t n;
};

/*! record_ports_add() :
 *  Adds the ports of one `-p` argument: "6379", "6379,7000", "7000-7005", or a mix. Duplicates
 *  are kept once. @return 0, or RT_EINVAL / RT_ELIMIT with `err` naming the bad part. */
int record_ports_add(struct record_ports *p, const char *arg, struct rt_err *err);

/*! record_filter_build() :
 *  Writes the BPF filter that selects the TCP traffic of the ports, both directions; with
 *  `vlan` (Ethernet captures) also behind VLAN tags: "(tcp port 6379) or (vlan and (tcp port
 *  6379))". Other link types cannot carry tags and libpcap refuses `vlan` on some of them.
 *  With no ports the default port 6379 is used. @return 0, or RT_ELIMIT when `cap` is too
 *  small. */
int record_filter_build(const struct record_ports *p, int vlan, char *buf, size_t cap,
                        struct rt_err *err);

/* ---- capture (capture.c) ------------------------------------------------------------ */

/* What `resptrace record` asks of the recorder. */
struct record_opts {
    const char *iface;         /* live capture on this interface ("any" included), or NULL */
    const char *file;          /* or a pcap / pcapng file ("-" for stdin) */
    const char *out;           /* the trace to write */
    struct record_ports ports; /* server ports; none means 6379 */
    const char *filter;        /* a BPF expression instead of the one built from the ports */
    int snaplen;               /* live: bytes kept per packet; 0 means 262144 */
    int buffer_mib;            /* live: kernel capture buffer; 0 means 256 MiB (see MEASURED) */
    double duration_s;         /* stop after this many seconds; 0: until the end or a signal */
    uint64_t max_packets;      /* stop after this many packets; 0: no limit */
    int keep_payload;          /* store the reply bytes, not only their hash */
    int redact_values;         /* --redact-values */
    int immediate;             /* live: deliver each packet at once (small ring: see capture.c) */
    const struct trace_writer_opts *writer; /* NULL: the writer's defaults */
    uint64_t rotate_bytes;     /* -C: a new trace once the file passes this size (checked at
                                * chunk boundaries); names OUT, OUT1, OUT2, ... as tcpdump's */
    uint64_t rotate_ns;        /* -G: a new trace every this much packet time; `out` is then a
                                * strftime(3) pattern (UTC) of the file's start */
    const char *user;          /* -Z: drop privileges to this user once the source is open */
};

/* A TCP server port of a capture and its packets (both directions). */
struct record_port_count {
    uint16_t port;
    uint64_t packets;
};

/* Counters for the progress line and the summary. */
struct record_progress {
    uint64_t packets, bytes;               /* seen by the recorder */
    uint64_t bad_packets;                  /* truncated or malformed */
    uint64_t other_packets;                /* not TCP, fragments, unsupported link types */
    uint64_t kernel_drops, iface_drops;    /* pcap_stats (live capture only) */
    uint64_t flows_dropped, bytes_dropped; /* the reassembly caps */
    uint64_t conns_open, conns_total;
    uint64_t requests, replies, pushes, gaps, notes;
    uint64_t first_ts, last_ts; /* packet time */
    double wall_s;              /* since the start */
    uint64_t files;             /* traces written (more than 1 with -C/-G) */
    uint64_t written;           /* bytes of trace on disk so far (whole chunks) */
    uint64_t malformed;         /* requests the server rejects (TRACE_REQ_MALFORMED) */
    uint64_t redacted_replies;  /* replies written TRACE_REPLY_REDACTED */
    char current[4096];         /* the trace being written */
    char filter[4096];          /* the BPF filter in force */
    /* A file of which no packet matched the filter: its busiest TCP server ports, most
     * packets first (found by reading it again without the filter), and what it holds. */
    struct record_port_count busiest[RECORD_BUSIEST];
    size_t nbusiest;
    uint64_t unfiltered_packets, unfiltered_tcp; /* packets in the file, TCP among them */
    int unfiltered_read;                         /* 1 when the three fields above are set */
};

/* Called about twice a second while capturing, and once more at the end (`final` = 1). */
typedef void (*record_progress_fn)(void *ctx, const struct record_progress *p, int final);

/*! record_run() :
 *  Captures until the file ends, `duration_s` or `max_packets` is reached, or *stop becomes
 *  non-zero (set it from a signal handler), writing the trace as it goes; the trace is closed
 *  (indexed) on every path that opened it. A trace name that is the file read (`-r X -w X`,
 *  or a -C/-G name that comes to be it) is refused before it is opened for writing. When no
 *  packet of a file (not stdin) matched the filter, the file is read once more without it to
 *  fill record_progress.busiest. @return 0 or a negative code with `err` naming the source,
 *  the filter or the trace. */
int record_run(const struct record_opts *o, record_progress_fn progress, void *ctx,
               volatile int *stop, struct rt_err *err);

/* ---- end of capture ------------------------------------------------------------------- */

#ifdef __cplusplus
}
#endif
#endif
