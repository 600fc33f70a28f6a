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
 *  Writes the BPF filter that selects the TCP traffic of the ports, both directions, with or
 *  without VLAN tags: "(tcp port 6379) or (vlan and tcp port 6379)" style. With no ports the
 *  default port 6379 is used. @return 0, or RT_ELIMIT when `cap` is too small. */
int record_filter_build(const struct record_ports *p, char *buf, size_t cap, struct rt_err *err);

/* ---- packet decoding (packet.c) ----------------------------------------------------- */

/* TCP flags as on the wire (struct record_packet.flags). */
#define RECORD_TCP_FIN 0x01u
#define RECORD_TCP_SYN 0x02u
#define RECORD_TCP_RST 0x04u
#define RECORD_TCP_PSH 0x08u
#define RECORD_TCP_ACK 0x10u

/* What record_packet_decode() made of a frame; the usable results are >= 0. As in tcpdump, a
 * truncated frame (the capture kept fewer bytes than the wire carried) is not a malformed one
 * (the bytes on the wire contradict themselves). */
enum record_packet_result {
    RECORD_PKT_OK = 0,         /* a whole TCP segment */
    RECORD_PKT_CUT = 1,        /* headers whole, payload cut by the snap length: usable, the
                                  missing payload_wire - payload_len bytes become a gap */
    RECORD_PKT_NOT_TCP = -1,   /* not IPv4 or IPv6, or not TCP */
    RECORD_PKT_TRUNCATED = -2, /* the capture ends inside the headers */
    RECORD_PKT_MALFORMED = -3, /* a length or field that cannot be */
    RECORD_PKT_FRAGMENT = -4,  /* an IP fragment of TCP (fragments are not reassembled) */
    RECORD_PKT_LINKTYPE = -5   /* a link type this decoder does not know */
};

/* One decoded TCP segment. */
struct record_packet {
    uint64_t ts;                /* capture time, nanoseconds since the Unix epoch */
    struct trace_addr src, dst; /* addresses and TCP ports */
    uint32_t seq, ack;
    uint8_t flags;          /* RECORD_TCP_* */
    const uint8_t *payload; /* the TCP payload inside the frame (borrowed from it) */
    size_t payload_len;     /* payload bytes captured */
    size_t payload_wire;    /* payload bytes on the wire (> payload_len when CUT) */
};

/*! record_packet_decode() :
 *  Decodes one captured frame of link type `linktype` (a DLT_ value as pcap_datalink()
 *  returns it: DLT_EN10MB with up to two 802.1Q/802.1ad tags, DLT_LINUX_SLL, DLT_LINUX_SLL2,
 *  DLT_NULL, DLT_LOOP, DLT_RAW, DLT_IPV4, DLT_IPV6). `caplen` bytes of `frame` were captured
 *  of `len` on the wire; `ts` is copied into pkt->ts. Every byte is read through bounds
 *  checks. @return an enum record_packet_result; `pkt` is fully set for OK and CUT only,
 *  and its payload pointer is borrowed from `frame`. */
int record_packet_decode(int linktype, const uint8_t *frame, size_t caplen, size_t len, uint64_t ts,
                         struct record_packet *pkt);

/*! record_packet_result_name() : @return "ok", "cut", "not-tcp", "truncated", "malformed",
 *  "fragment", "linktype", or "unknown". */
const char *record_packet_result_name(int rc);

/* ---- end of packet decoding --------------------------------------------------------- */

/* ---- TCP reassembly (tcp.c) ---------------------------------------------------------- */

/* A table of TCP connections that turns segments into in-order byte streams per direction,
 * with gaps where bytes are missing. Bounded in flows and held bytes; driven only by packet
 * timestamps. Not thread-safe; callbacks must not call back into the same table. */
struct tcp_table;

/* Bounds and roles. A 0 field takes the default given beside it. */
struct tcp_opts {
    const struct record_ports *ports; /* server ports; NULL or empty means 6379 */
    size_t max_flows;                 /* connections tracked at once; 262144 */
    size_t max_buffer_dir;            /* out-of-order bytes held per direction; 4 MiB */
    size_t max_buffer_total;          /* out-of-order bytes held in all; 256 MiB */
    uint64_t hole_timeout_ns;         /* wait for a missing segment this long; 1 s */
    uint64_t idle_timeout_ns;         /* close a silent connection after this; 15 min */
};

/* The consumer's callbacks. `ctx` is the pointer given to tcp_table_new(); `conn_ctx` is what
 * on_open returned for the connection. For one connection the calls are on_open, then
 * on_data and on_gap in stream order per direction, then on_close, always. `ts` is the capture
 * time of the packet that carried the bytes, or the time at which the table decided. */
struct tcp_callbacks {
    /* A new connection; `flags` holds TRACE_OPEN_MIDSTREAM when no SYN began it.
     * @return the connection's pointer for the later calls (may be NULL). */
    void *(*on_open)(void *ctx, uint64_t conn, const struct trace_addr *client,
                     const struct trace_addr *server, uint32_t flags, uint64_t ts);
    /* In-order bytes, borrowed until the call returns (into the packet when it came in
     * order, into the reorder buffer otherwise). */
    void (*on_data)(void *ctx, void *conn_ctx, uint64_t conn, enum trace_dir dir, const uint8_t *p,
                    size_t n, uint64_t ts);
    /* `bytes` bytes of the stream will never come; the stream goes on after them. */
    void (*on_gap)(void *ctx, void *conn_ctx, uint64_t conn, enum trace_dir dir, uint64_t bytes,
                   uint64_t ts);
    /* The last call for the connection: free `conn_ctx` here. */
    void (*on_close)(void *ctx, void *conn_ctx, uint64_t conn, enum trace_close_reason reason,
                     uint64_t ts);
};

/* Counters since tcp_table_new(); flows_dropped and bytes_dropped map onto struct
 * trace_stats. */
struct tcp_stats {
    uint64_t segments;         /* packets given to tcp_table_input() */
    uint64_t segments_ignored; /* no connection and nothing to start one, or after its close */
    uint64_t flows_opened;
    uint64_t flows_active;
    uint64_t flows_dropped;   /* connections refused by the flow cap (or out of memory) */
    uint64_t bytes_delivered; /* payload bytes handed to on_data */
    uint64_t bytes_dup;       /* retransmitted or overlapping payload, discarded */
    uint64_t bytes_dropped;   /* payload discarded by a bound: of refused connections, or
                                 arriving after its hole was declared a gap */
    uint64_t gaps, gap_bytes; /* gaps handed to on_gap, and their bytes */
    /* why holes became gaps (a count of holes each) */
    uint64_t holes_by_ack;    /* the receiver acknowledged past it: the capture lost it */
    uint64_t holes_by_cap;    /* max_buffer_dir was reached behind it */
    uint64_t holes_by_memory; /* max_buffer_total was reached (or malloc failed) */
    uint64_t holes_by_time;   /* hole_timeout_ns passed */
    uint64_t holes_by_close;  /* the connection closed (RST, idle, end) with it open */
    uint64_t payload_cut;     /* payload bytes missing from CUT packets (in gap_bytes too) */
    uint64_t buffered_bytes;  /* out-of-order bytes held now (with per-segment overhead) */
    uint64_t buffered_peak;
};

/*! tcp_table_new() :
 *  `opts` may be NULL; `cb` is copied (a NULL callback is skipped). @return a table owned by
 *  the caller (free with tcp_table_free), or NULL with `err` set. */
struct tcp_table *tcp_table_new(const struct tcp_opts *opts, const struct tcp_callbacks *cb,
                                void *ctx, struct rt_err *err);

/*! tcp_table_input() :
 *  Feeds one segment decoded as RECORD_PKT_OK or RECORD_PKT_CUT. Calls the callbacks for what
 *  it completes, and runs tcp_table_expire() as packet time passes. @return 0, or RT_ELIMIT
 *  when the flow cap refused a new connection, or RT_ENOMEM when memory ran out (the packet
 *  is then counted as dropped); the table stays usable either way. */
int tcp_table_input(struct tcp_table *t, const struct record_packet *pkt);

/*! tcp_table_expire() :
 *  At capture time `now` (a time before the newest packet's counts as that): closes
 *  connections idle for idle_timeout_ns (TRACE_CLOSE_IDLE) and turns holes older than
 *  hole_timeout_ns into gaps. For a recorder's timer when traffic is quiet;
 *  tcp_table_input() calls it by itself as packet time passes. */
void tcp_table_expire(struct tcp_table *t, uint64_t now);

/*! tcp_table_flush() :
 *  End of capture: every connection delivers what it holds (holes as gaps) and closes with
 *  TRACE_CLOSE_END, oldest activity first. The table stays usable and empty. */
void tcp_table_flush(struct tcp_table *t, uint64_t now);

/*! tcp_table_stats() : copies the counters. */
void tcp_table_stats(const struct tcp_table *t, struct tcp_stats *s);

/*! tcp_table_free() : frees the table and everything it holds without calling the callbacks
 *  (flush first to close the connections). NULL is accepted. */
void tcp_table_free(struct tcp_table *t);

/* ---- end of TCP reassembly ----------------------------------------------------------- */

/* ---- RESP scanning (resp_scan.c) ----------------------------------------------------- */

/* The passive RESP scanner, stateless and zero-copy in the style of picohttpparser: each call
 * looks at one message at the start of `buf` and returns the bytes it takes (> 0), -2 when the
 * buffer ends inside the message, or -1 when the bytes are not a message (or break a limit).
 * Output spans point into `buf` (or into the caller's scratch). The functions keep no state
 * (reentrant): after -2 the caller rescans from the message start once it holds *need bytes. */
#include <sys/types.h> /* ssize_t */

/* The deepest nesting any limit can allow (the scanner keeps one slot per level). */
#define RESP_DEPTH_MAX 256
/* The longest message a scan returns: the return value is an int. Longer ones fail with
 * RESP_FAIL_LIMIT. */
#define RESP_MSG_MAX 0x7fffffff

/* Why a scan returned -1 (resp_request.fail, resp_reply.fail). */
#define RESP_FAIL_SYNTAX 1  /* not RESP, or not what redis accepts */
#define RESP_FAIL_LIMIT 2   /* a resp_limits bound or RESP_MSG_MAX was exceeded */
#define RESP_FAIL_SCRATCH 3 /* resp_request.scratch is too small for the unquoted arguments */

/* Bounds on untrusted input. Every length and count read from the wire is checked against
 * these before it is used; a message that breaks one returns -1 with RESP_FAIL_LIMIT. */
struct resp_limits {
    unsigned max_depth; /* nested aggregates, attributes included (capped at RESP_DEPTH_MAX) */
    uint64_t max_elems; /* elements of one aggregate (maps and attributes: pairs) */
    uint64_t max_bulk;  /* bytes of one bulk, verbatim or blob error, or one request argument */
    size_t max_inline;  /* bytes of a line without a length: an inline command, or a
                         * + - ( , reply line (CRLF not counted) */
    uint64_t max_args;  /* arguments of one request */
};

/*! resp_limits_default() :
 *  @return depth 64, 2^28 elements, 512 MiB bulk (redis' proto-max-bulk-len), 64 KiB lines
 *  (redis' PROTO_INLINE_MAX_SIZE), 2^28 arguments. */
struct resp_limits resp_limits_default(void);

/* One client command. The caller sets the first five fields; the scanner sets the rest. */
struct resp_request {
    const char **argv; /* argv_cap slots for the arguments, or NULL with argv_cap 0 */
    size_t *argvlen;
    size_t argv_cap;
    char *scratch;      /* where unquoted inline arguments are written (may be NULL) */
    size_t scratch_cap; /* at least lim->max_inline bytes guarantees it is large enough */

    size_t argc;           /* arguments stored in argv: min(total, argv_cap) */
    size_t total;          /* arguments of the command; 0 for an empty line or "*0" */
    uint32_t flags;        /* TRACE_REQ_INLINE for an inline command */
    size_t len;            /* bytes of the message (the return value) */
    int fail;              /* on -1: RESP_FAIL_* */
    size_t fail_off;       /* on -1: offset of the byte where the scan failed */
    const char *fail_what; /* on -1: a static text saying what was wrong */
};

/*! resp_scan_request() :
 *  Scans one client command at the start of `buf`: a RESP array of bulk strings ("*2\r\n$3\r\n
 *  GET\r\n$1\r\nk\r\n"), or, when the first byte is not '*', an inline command: a line ended
 *  by "\n" or "\r\n", split as redis' sdssplitargs does (blanks separate; "double quotes" with
 *  \xHH \n \r \t \b \a and \<any> escapes; 'single quotes' with \' ; a closing quote must be
 *  followed by a blank or the end; an unbalanced quote is invalid; a NUL byte in the line is
 *  invalid, since redis' strchr() never finds the end of that line). Every CRLF must be
 *  there, also those redis skips unread, and "$-1" is no argument.
 *  Arguments of a RESP array, and inline arguments that are one unquoted or one escape-free
 *  quoted run, point into `buf`; other inline arguments are unquoted into out->scratch.
 *  With more arguments than argv_cap, all are checked and counted in out->total and the first
 *  argv_cap are stored. An empty line, "*0" and negative counts are consumed with total 0
 *  (redis skips them). `lim` NULL means resp_limits_default(); `need` may be NULL.
 *  @return bytes consumed (> 0) with `out` filled; -2 when more bytes are needed, with *need
 *  a lower bound (> len) on the length of the message: a retry with a shorter buffer cannot
 *  complete, so the caller may wait until it has that many bytes; -1 when invalid, with
 *  out->fail, fail_off and fail_what set. Pointers are borrowed from `buf` and `scratch`. */
int resp_scan_request(const uint8_t *buf, size_t len, const struct resp_limits *lim,
                      struct resp_request *out, size_t *need);

/* One server message, described by its top level. */
struct resp_reply {
    uint8_t type;       /* enum trace_reply_type of the reply (not of a leading attribute) */
    uint32_t flags;     /* TRACE_REPLY_NULL_BULK ("$-1", type NULL), TRACE_REPLY_NULL_ARRAY
                         * ("*-1", type NULL), TRACE_REPLY_ATTRIBUTED */
    size_t len;         /* bytes of the message, leading attributes included (the return value) */
    size_t attr_len;    /* bytes of the leading attributes */
    uint64_t count;     /* aggregates: elements (maps: pairs); else 0 */
    uint64_t size;      /* + - $ ! = ( , payload bytes (verbatim: with its "txt:"); else 0 */
    int64_t ival;       /* integer: the value; boolean: 0 or 1; else 0 */
    const uint8_t *str; /* payload of a scalar: the line after the type byte, or the bulk data */
    size_t str_len;
    const char *err; /* - and !: the message without the type byte and CRLF; else NULL */
    size_t errlen;
    const uint8_t *first; /* array or push: its first element when that is a + or $ string */
    size_t first_len;
    int fail;              /* on -1: RESP_FAIL_* */
    size_t fail_off;       /* on -1: offset of the byte where the scan failed */
    const char *fail_what; /* on -1: a static text saying what was wrong */
};

/*! resp_scan_reply() :
 *  Scans one complete server message at the start of `buf`: any RESP2 or RESP3 type, nested
 *  aggregates included, with its leading attributes ("|") consumed and flagged. Attributes
 *  inside aggregates are skipped and not counted as elements. A length or count of -1 is a
 *  null for $ and * only. RESP3 streamed strings and aggregates ("$?", "*?") are not
 *  supported (-1). Doubles, big numbers and booleans are checked for their syntax; integers
 *  and lengths as redis' string2ll() reads them. `lim` NULL means resp_limits_default();
 *  `need` may be NULL. @return as resp_scan_request(). Pointers are borrowed from `buf`. */
int resp_scan_reply(const uint8_t *buf, size_t len, const struct resp_limits *lim,
                    struct resp_reply *out, size_t *need);

/*! resp_resync() :
 *  After a gap (or after a -1), finds the next plausible message start in `buf`: offset 0 or
 *  the byte after a '\n', where for TRACE_DIR_TO_SERVER a RESP array of bulk strings begins
 *  ("*<n>\r\n$<len>\r\n", n >= 1), and for TRACE_DIR_TO_CLIENT a reply type byte with a valid
 *  header (and a valid body for scalars) follows. A candidate cut by the end of `buf` counts.
 *  Inline commands are never resync targets. If a scan then fails at the offset returned,
 *  resync again from that offset + 1. @return the offset, or -1 when there is none. */
ssize_t resp_resync(const uint8_t *buf, size_t len, int dir);
/* ---- end of RESP scanning ----------------------------------------------------------- */

#ifdef __cplusplus
}
#endif
#endif
