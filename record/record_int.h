/* record_int.h: the recorder's internals, below record_run(): packet decoding (packet.c), TCP
 * reassembly (tcp.c) and RESP sessions (session.c). Private to record/ (the build keeps it
 * off tools/' include path); the unit tests and fuzz targets include it on purpose. */
#ifndef RESPTRACE_RECORD_INT_H
#define RESPTRACE_RECORD_INT_H

#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* The RESP scanner (resp_scan_request, resp_scan_reply, resp_resync) lives in format.h: the
 * replayer frames the target's replies with it too. */

/* ---- RESP sessions (session.c) --------------------------------------------------------- */

/* One connection's pairing layer between TCP reassembly and the trace writer: it buffers each
 * direction, scans messages with the RESP scanner and emits REQUEST, REPLY, PUSH, GAP and NOTE
 * events (never CONN_OPEN or CONN_CLOSE: those are the recorder's) to a sink.
 *
 * Times: an event's ts is the capture time of the segment that carried the message's first
 * byte, so a reply's ts minus its request's ts is the server latency at the capture point.
 *
 * Pairing is FIFO per connection, with these policies:
 * - CLIENT REPLY OFF and SKIP get no reply, nor do the commands they silence: those requests
 *   carry TRACE_REQ_NOREPLY and are never paired. ON always gets its +OK.
 * - (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE with n arguments get n confirmations. In RESP2 the
 *   first is a REPLY paired with the command and the others are PUSH events whose req_seq is
 *   the command's seq; in RESP3 all of them are ">" pushes, emitted as PUSH events with the
 *   command's seq. Without arguments, UNSUBSCRIBE takes the confirmations of its kind until
 *   one reports 0 subscriptions left or another message comes.
 * - RESP3 ">" pushes, RESP2 message/pmessage/smessage arrays while subscribed and MONITOR
 *   lines are PUSH events with req_seq TRACE_SEQ_NONE. MULTI/EXEC need nothing special
 *   (QUEUED answers each queued command, EXEC gets its array or error).
 * - A request carries the db and proto in force when redis executes it: SELECT and HELLO take
 *   effect for the commands sent after them, and an error reply restores the old value for
 *   commands sent after that reply is seen. SELECT inside MULTI takes effect at EXEC. RESET
 *   returns to db 0, RESP2, replies on; subscribed and MONITOR modes end at its reply.
 * - Secrets in requests (AUTH's password, HELLO ... AUTH user pass, MIGRATE ... AUTH/AUTH2,
 *   CONFIG SET requirepass|masterauth|tls-*-pass, ACL SETUSER >pass #hash, SENTINEL SET m
 *   auth-pass, SENTINEL CONFIG SET sentinel-pass, and those of the command ACL DRYRUN names)
 *   are replaced by "<redacted>" before the sink sees the request, with TRACE_REQ_REDACTED;
 *   copies in the session's own buffers are overwritten.
 * - Replies that can carry a secret (CONFIG GET of a pattern that can name a password
 *   parameter, ACL LIST, ACL GETUSER, SENTINEL CONFIG GET sentinel-pass, an EXEC whose
 *   transaction queued one of them; the error replies of commands whose arguments were
 *   redacted, but AUTH and HELLO, since errors can quote arguments; and an unpaired or
 *   uncertain reply whose bytes name a password parameter or hold an ACL password hash) keep
 *   their type only: no bytes, no hash, no length, with TRACE_REPLY_REDACTED.
 * - Bytes the server rejects as a request (an unbalanced quote in an inline command, a RESP
 *   array with a bad count or length) are one REQUEST with TRACE_REQ_MALFORMED: argc 1,
 *   argv[0] the bytes as sent up to the end of the line where redis stops reading (line
 *   terminator included, at most 64 KiB), paired with the server's error like any request.
 *   After an inline one the next line is the next command; after a RESP one the stream is
 *   resynchronised. Such bytes that may hold a password are replaced by 'x' (REDACTED too).
 * - Replies with no request pending (a capture that began mid-stream) are unpaired
 *   (req_seq TRACE_SEQ_NONE). A mid-stream connection first resynchronises both directions.
 * - After a gap in the server direction, or a server message the scanner rejects, every
 *   pending request stays unpaired; after any gap, requests queued until the queue next
 *   drains have their replies flagged TRACE_REPLY_AFTER_GAP, as is the first message after the
 *   gap. Pairing after a gap is thus flagged, never silently wrong.
 * - A scan failure gives one NOTE (TRACE_NOTE_NOT_RESP when the first byte is no RESP type,
 *   TRACE_NOTE_PROTO_ERROR otherwise, TRACE_NOTE_LIMIT for limits and for a message longer
 *   than max_buffer) naming the connection, direction and stream offset, then a resync. A TLS
 *   handshake (0x16 0x03 first) gives TRACE_NOTE_TLS and the connection is ignored. */

/* Where events go; the recorder passes its trace writer here. For a REQUEST the sink sets
 * ev->u.req.seq (trace_writer_add() does). Event pointers are borrowed for the call only.
 * A negative return stops the session (rec_conn_error() returns it). */
struct rec_sink {
    int (*event)(void *ctx, struct trace_event *ev);
    void *ctx;
};

/* Where requests are taken apart (argument vectors, unquoted inline arguments): only used
 * while one message is scanned and emitted, so the sessions driven from one thread can share
 * one instead of each holding 64 KiB from its SYN on. */
struct rec_scratch;

/*! rec_scratch_new() : an empty scratch (its buffers are allocated on first use). @return a
 *  scratch owned by the caller (rec_scratch_free, after the last session using it), or NULL. */
struct rec_scratch *rec_scratch_new(void);

/*! rec_scratch_free() : wipes and frees the scratch (NULL is accepted). */
void rec_scratch_free(struct rec_scratch *x);

struct rec_session_opts {
    struct resp_limits lim; /* scanner limits */
    size_t max_buffer;      /* bytes held per direction for an incomplete message; 0: 64 MiB */
    int keep_payload;       /* store the wire bytes of replies and pushes */
    int redact_values;      /* replace the values of write commands by 'x' bytes of their length */
    struct rec_scratch *scratch; /* shared by the sessions of one thread (not owned); NULL: a
                                  * session makes its own when its first request comes */
};

struct rec_conn_stats {
    uint64_t requests, replies, pushes, unpaired_replies, proto_errors, gaps, resyncs;
    uint64_t malformed;        /* requests written TRACE_REQ_MALFORMED (counted in requests) */
    uint64_t redacted_replies; /* replies written TRACE_REPLY_REDACTED (counted in replies) */
};

struct rec_conn;

/*! rec_conn_new() :
 *  A session for connection `conn`; `open_flags` are its TRACE_OPEN_* flags (MIDSTREAM starts
 *  both directions with a resync, TLS ignores the connection). `o` NULL takes default limits;
 *  `o` and `sink` are copied. @return a session owned by the caller (rec_conn_free), or NULL
 *  with `err` set. */
struct rec_conn *rec_conn_new(uint64_t conn, uint32_t open_flags, const struct rec_session_opts *o,
                              const struct rec_sink *sink, struct rt_err *err);

/*! rec_conn_data() : the next `n` in-order bytes of direction `dir`, captured at `ts`
 *  (borrowed for the call). Emits the events of every message they complete. */
void rec_conn_data(struct rec_conn *c, enum trace_dir dir, const uint8_t *p, size_t n, uint64_t ts);

/*! rec_conn_gap() : `bytes` bytes of `dir` are lost: emits a GAP, drops the partial message and
 *  resynchronises (see the gap policy above). */
void rec_conn_gap(struct rec_conn *c, enum trace_dir dir, uint64_t bytes, uint64_t ts);

/*! rec_conn_close() : the connection ended: pending requests stay unpaired; a message cut by
 *  the end gives a NOTE. Later data is still accepted but nothing is pending. */
void rec_conn_close(struct rec_conn *c, uint64_t ts);

/*! rec_conn_free() : frees the session (NULL is accepted), wiping its buffers. */
void rec_conn_free(struct rec_conn *c);

/*! rec_conn_stats() : copies the session's counters. */
void rec_conn_stats(const struct rec_conn *c, struct rec_conn_stats *st);

/*! rec_conn_error() : @return 0, or the first negative value the sink returned. */
int rec_conn_error(const struct rec_conn *c);
/* ---- end of RESP sessions ------------------------------------------------------------- */

#ifdef __cplusplus
}
#endif
#endif
