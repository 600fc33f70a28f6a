/* format.h: the resptrace trace file library (event model, streaming writer, reader). */
#ifndef RESPTRACE_FORMAT_H
#define RESPTRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h> /* ssize_t */

#ifdef __cplusplus
extern "C" {
#endif

/* The byte layout is specified in format/FORMAT.md; this header is the C view of it. */

#define RT_VERSION_STRING "0.1.0"

/* Format version written by this library. A reader accepts any file whose major version it
 * knows; minor versions only add block types, chunk encodings, stream ids or metadata keys,
 * which older readers skip (a chunk of an unknown encoding is also reported as damage). */
#define TRACE_FORMAT_MAJOR 1
#define TRACE_FORMAT_MINOR 3 /* 1.1: request flag MALFORMED, reply flag REDACTED;
                              * 1.2: chunk encoding 2 (tables carried from chunk to chunk);
                              * 1.3: chunk encoding 3 (as 2, the lengths of arguments 2..
                              * in a stream apart), frames that declare their size */

/* ---------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------- */

/* X-macro table: code, name, default text. Functions return 0 or a negative RT_E* code. */
#define RT_ERRORS(X)                                                                               \
    X(RT_EIO, -1, "I/O error")                                                                     \
    X(RT_ENOMEM, -2, "out of memory")                                                              \
    X(RT_EINVAL, -3, "invalid argument")                                                           \
    X(RT_ENOTTRACE, -4, "not a resptrace file")                                                    \
    X(RT_EVERSION, -5, "unsupported format version")                                               \
    X(RT_ECORRUPT, -6, "corrupt data")                                                             \
    X(RT_ETRUNCATED, -7, "file is truncated")                                                      \
    X(RT_ELIMIT, -8, "limit exceeded")                                                             \
    X(RT_ENOINDEX, -9, "no index")

enum rt_errcode {
#define RT_X_ENUM(name, val, text) name = val,
    RT_ERRORS(RT_X_ENUM)
#undef RT_X_ENUM
};

/* Caller-owned error detail: the message names the file, byte offset, connection or
 * command involved. */
struct rt_err {
    int code;
    char msg[256];
};

/*! rt_strerror() : @return the fixed text of an RT_E* code ("unknown error" otherwise). */
const char *rt_strerror(int code);

/*! rt_err_set() : sets err->code and formats err->msg (NULL `err` is accepted). */
void rt_err_set(struct rt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------------------------------
 * The event model
 * ------------------------------------------------------------------------------------- */

enum trace_ev_type {
    TRACE_EV_CONN_OPEN = 1,  /* connection opened, or first seen mid-stream */
    TRACE_EV_CONN_CLOSE = 2, /* connection closed (FIN, RST, evicted, end of capture) */
    TRACE_EV_REQUEST = 3,    /* one command sent by the client */
    TRACE_EV_REPLY = 4,      /* one reply from the server, paired with a request or not */
    TRACE_EV_PUSH = 5,       /* unsolicited push: RESP3 '>' or RESP2 pub/sub message */
    TRACE_EV_GAP = 6,        /* bytes missing in one direction of one connection */
    TRACE_EV_STATS = 7,      /* cumulative capture statistics */
    TRACE_EV_NOTE = 8,       /* a diagnostic about one connection (not RESP, TLS, ...) */
    TRACE_EV_MAX_KNOWN = 8
};

/* Direction of a byte stream within a connection. */
enum trace_dir { TRACE_DIR_TO_SERVER = 0, TRACE_DIR_TO_CLIENT = 1 };

struct trace_addr {
    uint8_t family;   /* 4 or 6; 0 when unknown */
    uint8_t addr[16]; /* network byte order; IPv4 uses the first 4 bytes */
    uint16_t port;
};

/* CONN_OPEN flags */
#define TRACE_OPEN_MIDSTREAM 0x1u /* no SYN seen: the capture began inside the connection */
#define TRACE_OPEN_TLS 0x2u       /* the connection carries TLS (its payload is not traced) */

enum trace_close_reason {
    TRACE_CLOSE_FIN = 0,
    TRACE_CLOSE_RST = 1,
    TRACE_CLOSE_IDLE = 2,  /* evicted after being idle */
    TRACE_CLOSE_END = 3,   /* the capture ended with the connection open */
    TRACE_CLOSE_LIMIT = 4, /* dropped by a flow or memory cap */
    TRACE_CLOSE_CLIENT_QUIT = 5
};

/* REQUEST flags */
#define TRACE_REQ_INLINE 0x1u          /* sent as an inline command, not a RESP array */
#define TRACE_REQ_REDACTED 0x2u        /* secret arguments (AUTH, HELLO AUTH) were replaced */
#define TRACE_REQ_VALUES_REDACTED 0x4u /* write values replaced by bytes of the same length */
#define TRACE_REQ_NOREPLY 0x8u         /* the server sends no reply (CLIENT REPLY OFF/SKIP) */
#define TRACE_REQ_TRUNCATED 0x10u      /* an argument was longer than the recorder kept */
#define TRACE_REQ_AFTER_GAP 0x20u      /* first command after a gap (resynchronised) */
#define TRACE_REQ_MALFORMED 0x40u      /* bytes the server rejects as a request ("Protocol error",
                                        * an unbalanced quote): argc is 1 and argv[0] is exactly
                                        * what the client sent, line terminator included, so a
                                        * replay writes argv[0] as it is (see FORMAT.md) */

/* Reply types: every RESP2 and RESP3 type. The values are the type's first byte on the wire
 * where it has one. */
enum trace_reply_type {
    TRACE_R_SIMPLE = '+',
    TRACE_R_ERROR = '-',
    TRACE_R_INTEGER = ':',
    TRACE_R_BULK = '$',
    TRACE_R_ARRAY = '*',
    TRACE_R_NULL = '_', /* RESP3 null, and RESP2 null bulk / null array (see flags) */
    TRACE_R_DOUBLE = ',',
    TRACE_R_BOOLEAN = '#',
    TRACE_R_BLOB_ERROR = '!',
    TRACE_R_VERBATIM = '=',
    TRACE_R_BIGNUM = '(',
    TRACE_R_MAP = '%',
    TRACE_R_SET = '~',
    TRACE_R_ATTRIBUTE = '|',
    TRACE_R_PUSH = '>'
};

/* REPLY / PUSH flags */
#define TRACE_REPLY_NULL_BULK 0x1u   /* RESP2 "$-1" */
#define TRACE_REPLY_NULL_ARRAY 0x2u  /* RESP2 "*-1" */
#define TRACE_REPLY_HAS_HASH 0x4u    /* hash is set */
#define TRACE_REPLY_HAS_PAYLOAD 0x8u /* payload holds the wire bytes */
#define TRACE_REPLY_ATTRIBUTED 0x10u /* an attribute preceded the reply (counted in len) */
#define TRACE_REPLY_AFTER_GAP 0x20u  /* first reply after a gap: pairing is uncertain */
#define TRACE_REPLY_REDACTED 0x40u   /* the reply may hold a secret (CONFIG GET requirepass, ACL
                                      * LIST, ...): only its type is kept; len, count, size,
                                      * ival, hash, error text and payload are all 0 or absent
                                      * (the writer enforces it) */

/* Sequence number used in reply.req_seq when a reply is paired with no request. */
#define TRACE_SEQ_NONE UINT64_MAX

struct trace_request {
    uint64_t seq; /* ordinal of this request in the trace, from 0; assigned by the writer */
    uint32_t db;
    uint8_t proto;  /* 2 or 3 */
    uint32_t flags; /* TRACE_REQ_* */
    uint32_t argc;
    const char *const *argv; /* argc binary-safe arguments, name first */
    const size_t *argvlen;
};

struct trace_reply {  /* used by REPLY and PUSH events */
    uint64_t req_seq; /* seq of the request it answers, or TRACE_SEQ_NONE */
    uint8_t rtype;    /* enum trace_reply_type */
    uint32_t flags;   /* TRACE_REPLY_* */
    uint64_t len;     /* bytes of the whole reply on the wire */
    uint64_t count;   /* aggregates: elements (map and attribute: pairs); else 0 */
    uint64_t size;    /* strings, errors, verbatim, bignum, double: payload bytes; else 0 */
    int64_t ival;     /* integer: the value; boolean: 0 or 1; else 0 */
    uint64_t hash;    /* XXH3-64 of the wire bytes when TRACE_REPLY_HAS_HASH */
    const char *err;  /* errors: the message without the type byte and CRLF ("ERR ...") */
    size_t errlen;
    const uint8_t *payload; /* when TRACE_REPLY_HAS_PAYLOAD: the wire bytes */
    size_t payload_len;
};

struct trace_conn_open {
    struct trace_addr client, server;
    uint32_t flags; /* TRACE_OPEN_* */
};

struct trace_conn_close {
    uint32_t reason; /* enum trace_close_reason */
};

struct trace_gap {
    uint8_t dir; /* enum trace_dir */
    uint64_t bytes;
};

struct trace_stats {        /* cumulative since the start of the capture */
    uint64_t packets;       /* packets seen by the recorder */
    uint64_t bytes;         /* bytes captured */
    uint64_t kernel_drops;  /* pcap_stats ps_drop */
    uint64_t iface_drops;   /* pcap_stats ps_ifdrop */
    uint64_t flows_dropped; /* connections refused or evicted by the flow cap */
    uint64_t bytes_dropped; /* bytes discarded by the buffer caps */
};

enum trace_note_code {
    TRACE_NOTE_NOT_RESP = 1,    /* the bytes on a server port are not RESP */
    TRACE_NOTE_TLS = 2,         /* a TLS handshake: the connection is not traced */
    TRACE_NOTE_PROTO_ERROR = 3, /* RESP framing error; the text says what and where */
    TRACE_NOTE_LIMIT = 4        /* a depth, size or count limit was hit */
};

struct trace_note {
    uint8_t dir;
    uint32_t code; /* enum trace_note_code; readers show unknown codes as numbers */
    const char *text;
    size_t len;
};

struct trace_event {
    uint8_t type;  /* enum trace_ev_type */
    uint64_t ts;   /* nanoseconds since the Unix epoch */
    uint64_t conn; /* connection id, unique within the trace; 0 for trace-wide events */
    union {
        struct trace_conn_open open;
        struct trace_conn_close close;
        struct trace_request req;
        struct trace_reply reply; /* REPLY and PUSH */
        struct trace_gap gap;
        struct trace_stats stats;
        struct trace_note note;
    } u;
};

/*! trace_ev_type_name() : @return "open", "close", "request", "reply", "push", "gap",
 *  "stats", "note", or "unknown". */
const char *trace_ev_type_name(unsigned type);

/*! trace_reply_type_name() : @return "simple", "error", "integer", "bulk", "array", "null",
 *  "double", "boolean", "blob_error", "verbatim", "bignum", "map", "set", "attribute",
 *  "push", or "unknown". */
const char *trace_reply_type_name(unsigned rtype);

/* ---------------------------------------------------------------------------------------
 * Metadata: string keys and byte-string values (see FORMAT.md for the well-known keys).
 * ------------------------------------------------------------------------------------- */

struct trace_meta_kv {
    const char *key;
    const char *val;
    size_t vlen;
};

/* ---------------------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------------------- */

struct trace_writer;

struct trace_writer_opts {
    int level;             /* zstd level; 0 means the default (3) */
    size_t chunk_bytes;    /* flush when the raw chunk reaches this; 0 means 8 MiB */
    uint64_t chunk_ns;     /* flush when a chunk spans this much trace time; 0 means 1 s */
    uint32_t chunk_events; /* flush at this many events; 0 means 1 Mi */
    int fsync_chunks;      /* fsync after every chunk (survives power loss, costs time) */
    int synchronous;       /* 1: compress and write each chunk inside the call that completes
                            * it; 0 (the default): on a background thread, see below */
    int encoding;          /* chunk encoding: 0 means the newest (3); 2 writes chunks that
                            * resptrace 1.2 readers read, 1 chunks that 1.0 and 1.1 readers
                            * read (each one on its own) */
    size_t chain_bytes;    /* encodings 2 and 3: a chunk starts a new chain (tables empty,
                            * readable on its own) once the chain holds this many raw bytes; 0 means
                            * 128 MiB. A seek decodes from the first chunk of a chain, and
                            * damage to a chunk loses the rest of its chain. */
    uint32_t chain_chunks; /* encodings 2 and 3: ... or this many chunks; 0 means 256. A new
                            * chain also starts when a table is half full. */
};

/* The background thread (opts->synchronous == 0). trace_writer_add() only encodes events into
 * the open chunk. A complete chunk is handed to a thread the writer starts (signals blocked)
 * which compresses and writes it while the next one fills: at most one chunk is in the
 * thread's hands, and if it is still busy when the next one is complete, the call that
 * completed it waits (memory stays bounded at two chunks). The file is byte for byte the one
 * the synchronous writer produces. An error in the thread (a write failing, out of memory) is
 * returned, with its own message, by the next trace_writer_add/add_meta/poll/flush/close.
 * trace_writer_poll() hands the chunk over without waiting for it; trace_writer_flush() and
 * trace_writer_close() wait until it is on disk; trace_writer_abort() lets the thread finish
 * the chunk it holds and writes nothing more. A SIGKILL loses the open chunk and the one in
 * the thread's hands if it was not written yet. Calls on one writer must not overlap (the
 * caller's side is not thread-safe), as before. */

/*! trace_writer_open() :
 *  Creates (mode 0600, truncating) `path` and writes the file header and one metadata block.
 *  `opts` may be NULL. @return a writer owned by the caller (close with trace_writer_close),
 *  or NULL with `err` set. */
struct trace_writer *trace_writer_open(const char *path, const struct trace_meta_kv *meta,
                                       size_t nmeta, const struct trace_writer_opts *opts,
                                       struct rt_err *err);

/*! trace_writer_open_fd() : as trace_writer_open() on an fd the writer takes over (closes).
 *  `name` is used in messages. */
struct trace_writer *trace_writer_open_fd(int fd, const char *name,
                                          const struct trace_meta_kv *meta, size_t nmeta,
                                          const struct trace_writer_opts *opts, struct rt_err *err);

/*! trace_writer_add() :
 *  Appends one event. For a REQUEST, the writer assigns ev->u.req.seq (hence non-const).
 *  All pointers in `ev` are read before return. May write a chunk.
 *  @return 0 or a negative RT_E* code with `err` set; after an error the writer only closes. */
int trace_writer_add(struct trace_writer *w, struct trace_event *ev, struct rt_err *err);

/*! trace_writer_add_meta() : adds a metadata block (written before the next chunk; later
 *  values of a key override earlier ones). @return 0 or a negative code. */
int trace_writer_add_meta(struct trace_writer *w, const struct trace_meta_kv *meta, size_t nmeta,
                          struct rt_err *err);

/*! trace_writer_poll() : flushes the open chunk if its first event is older than the time
 *  bound at wall time `now_ns`. Call it from the recorder's timer when traffic is quiet.
 *  With the background thread it does not wait for the chunk to reach the file. */
int trace_writer_poll(struct trace_writer *w, uint64_t now_ns, struct rt_err *err);

/*! trace_writer_flush() : writes the open chunk now (no-op when it is empty) and returns once
 *  it, and any chunk before it, is in the file (handed to the kernel; fsync_chunks: synced). */
int trace_writer_flush(struct trace_writer *w, struct rt_err *err);

/*! trace_writer_close() :
 *  Flushes, writes the index and footer, closes the file and frees `w` (NULL is accepted).
 *  @return 0 or a negative code; `w` is freed either way. */
int trace_writer_close(struct trace_writer *w, struct rt_err *err);

/*! trace_writer_abort() : frees `w` and closes its fd without writing the index, leaving the
 *  file as a crash would (used by tests). NULL is accepted. */
void trace_writer_abort(struct trace_writer *w);

/* ---------------------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------------------- */

struct trace_reader;

struct trace_reader_opts {
    int salvage;          /* skip damaged chunks instead of stopping at the first one */
    size_t max_chunk_raw; /* refuse chunks that decompress to more; 0 means 256 MiB */
    int lazy_args;        /* requests' arguments 2.. may come with their lengths and without
                           * their bytes (argv[i] NULL for i >= 2) until
                           * trace_reader_load_args(): for a reader that needs only the
                           * lengths of most requests' arguments 2.. (an analysis of keys),
                           * it saves decompressing them (traces of 1.3 on) */
};

/* Totals of a trace: from the index when the file was closed, else counted while reading. */
struct trace_totals {
    uint64_t events;
    uint64_t by_type[TRACE_EV_MAX_KNOWN + 1]; /* index 0 counts unknown types */
    uint64_t chunks;
    uint64_t raw_bytes;        /* decompressed chunk payloads */
    uint64_t compressed_bytes; /* chunk frames as stored */
    uint64_t ts_min, ts_max;   /* 0, 0 when there are no events */
    uint64_t gap_bytes[2];     /* missing bytes, by enum trace_dir */
    struct trace_stats stats;  /* the last STATS event (cumulative counters) */
    uint64_t chunks_unknown;   /* chunks of an encoding this version does not read (from the
                                * index of a 1.2 or later file, else those met reading) */
};

/*! trace_reader_open() : opens `path` ("-" for stdin, sequential only), checks the header,
 *  reads the metadata blocks before the first chunk, and loads the index if the file has one.
 *  `opts` may be NULL. @return a reader owned by the caller, or NULL with `err` set. */
struct trace_reader *trace_reader_open(const char *path, const struct trace_reader_opts *opts,
                                       struct rt_err *err);

/*! trace_reader_open_mem() : as trace_reader_open() over a buffer the caller keeps alive
 *  until trace_reader_close(); `name` is used in messages. */
struct trace_reader *trace_reader_open_mem(const void *buf, size_t len, const char *name,
                                           const struct trace_reader_opts *opts,
                                           struct rt_err *err);

/*! trace_reader_next() :
 *  @return 1 with `*ev` filled (its pointers borrowed until the next call on `r`), 0 at the
 *  end of a complete trace, or a negative code with `err` naming the file and byte offset.
 *  RT_ETRUNCATED means the file ends inside a block or without an index after its last
 *  complete chunk was read: everything before the damage has been returned. With salvage,
 *  damaged chunks are skipped and counted (trace_reader_damage()) instead of returned. */
int trace_reader_next(struct trace_reader *r, struct trace_event *ev, struct rt_err *err);

/*! trace_reader_load_args() : with opts.lazy_args, gives the request `ev` just returned by
 *  trace_reader_next() the bytes of its arguments 2.. (argv[2..] were NULL), and every later
 *  request of the same chunk too; does nothing when they are there already. @return 0; when
 *  the bytes left compressed are damaged, the rest of the chunk is not returned and: with
 *  opts.salvage, 1 (the chunk is counted as damaged: drop `ev`), else a negative code. */
int trace_reader_load_args(struct trace_reader *r, const struct trace_event *ev,
                           struct rt_err *err);

/*! trace_reader_seek_time() : positions the reader at the first chunk that may hold events
 *  at or after `ts` (for a chunk of encoding 2 that depends on the chunks before it: at the
 *  first chunk of its chain, at most 128 MiB before it as the library writes); from then on,
 *  events before `ts` are skipped (also in later chunks, for streams whose clocks are slightly
 *  out of order). Uses the index, or a scan of chunk headers when the file has none. Not for
 *  stdin. @return 0 or a negative code. */
int trace_reader_seek_time(struct trace_reader *r, uint64_t ts, struct rt_err *err);

/*! trace_reader_meta() : the metadata read so far, later blocks overriding earlier keys.
 *  Borrowed until trace_reader_close(). */
const struct trace_meta_kv *trace_reader_meta(const struct trace_reader *r, size_t *n);

/*! trace_reader_meta_get() : the value of `key`, or NULL. Borrowed like trace_reader_meta. */
const char *trace_reader_meta_get(const struct trace_reader *r, const char *key, size_t *vlen);

/*! trace_reader_has_index() : 1 if the file ends with a valid index (it was closed). */
int trace_reader_has_index(const struct trace_reader *r);

/*! trace_reader_totals() : totals from the index, or what has been read so far when the file
 *  has no index. */
void trace_reader_totals(const struct trace_reader *r, struct trace_totals *t);

/*! trace_reader_version() : the file's format version. */
void trace_reader_version(const struct trace_reader *r, unsigned *major, unsigned *minor);

/*! trace_reader_file_size() : bytes of the file (for stdin: bytes read so far). */
uint64_t trace_reader_file_size(const struct trace_reader *r);

/*! trace_reader_offset() : the file offset reading has reached (the end of the last block
 *  read), for progress lines: offset / file size is the part of the trace read so far. */
uint64_t trace_reader_offset(const struct trace_reader *r);

/* What salvage skipped or where reading stopped. Chunks of an encoding this version does not
 * read (written by a newer one) are always skipped, and counted here too. */
struct trace_damage {
    uint64_t chunks_skipped; /* damaged chunks and chunks of an unknown encoding */
    uint64_t bytes_skipped;
    uint64_t first_offset; /* offset where the first damage starts; UINT64_MAX when none */
    char msg[256];         /* what was wrong there */
    uint64_t chunks_unknown; /* of chunks_skipped: those of an unknown encoding */
    uint64_t unknown_offset; /* the first of them; UINT64_MAX when none */
};
void trace_reader_damage(const struct trace_reader *r, struct trace_damage *d);

/*! trace_reader_close() : frees `r` (NULL is accepted). */
void trace_reader_close(struct trace_reader *r);

/* ---------------------------------------------------------------------------------------
 * Helpers shared by the recorder, the replayer and the tools.
 * ------------------------------------------------------------------------------------- */

/*! trace_hash() : the payload hash stored in replies (XXH3-64, seed 0). */
uint64_t trace_hash(const void *p, size_t n);
/*! rt_fmix64() : a 64-bit mixer (MurmurHash3's finalizer) for the open-addressing tables that
 *  index by a hash or an id: every bit of x moves every bit of the result. */
static inline uint64_t rt_fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/*! rt_hexval() : @return the value of hex digit `c` (0-15), or -1. */
int rt_hexval(int c);

/*! trace_addr_format() : writes "1.2.3.4:6379" or "[::1]:6379" into buf. @return buf. */
char *trace_addr_format(const struct trace_addr *a, char *buf, size_t cap);

/* ---- RESP scanning (resp_scan.c) ----------------------------------------------------- */

/* The passive RESP scanner, stateless and zero-copy in the style of picohttpparser: each call
 * looks at one message at the start of `buf` and returns the bytes it takes (> 0), -2 when the
 * buffer ends inside the message, or -1 when the bytes are not a message (or break a limit).
 * Output spans point into `buf` (or into the caller's scratch). The functions keep no state
 * (reentrant): after -2 the caller rescans from the message start once it holds *need bytes. */

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
/* ---- RESP requests written (resp_enc.c): the one encoder ------------------------------ */

/*! resp_ndigits() : decimal digits of `v` (1 for 0). */
size_t resp_ndigits(uint64_t v);
/*! resp_request_len() : the bytes of the request argv[0..argc) as a RESP array of bulk
 *  strings, with `plen` more in each argument iskey marks (iskey NULL: none). */
size_t resp_request_len(size_t argc, const size_t *len, const uint8_t *iskey, size_t plen);
/*! resp_request_write() : writes that request at buf (resp_request_len() bytes of room), the
 *  `plen` bytes of `prefix` before each argument iskey marks. @return the bytes written. */
size_t resp_request_write(char *buf, size_t argc, const char *const *argv, const size_t *len,
                          const uint8_t *iskey, const char *prefix, size_t plen);
/*! resp_request_fput() : writes the request to `out`. @return 0, or -1 when `out` failed. */
int resp_request_fput(FILE *out, size_t argc, const char *const *argv, const size_t *len);

/* ---- end of RESP scanning ----------------------------------------------------------- */

/* ---- command table ------------------------------------------------------------------
 * One table of the Redis commands, generated from a redis-server's own COMMAND INFO and
 * COMMAND DOCS by format/gen_cmdtable (format/cmdtable_data.c, never edited by hand): names,
 * arity, flags, key specifications and, for the commands that write a payload, the argument
 * grammar that tells values from options. Used by replay (--key-prefix, --read-only, cluster
 * routing), record (--redact-values) and the analysis tools. */

/* struct rt_cmd.flags: the server's command flags, ACL categories and tips */
#define RT_CMD_WRITE 0x1u       /* "write" flag */
#define RT_CMD_READONLY 0x2u    /* "readonly" flag */
#define RT_CMD_ADMIN 0x4u       /* "admin" flag */
#define RT_CMD_DANGEROUS 0x8u   /* ACL category @dangerous */
#define RT_CMD_BLOCKING 0x10u   /* "blocking" flag */
#define RT_CMD_PUBSUB 0x20u     /* "pubsub" flag */
#define RT_CMD_MOVABLEKEYS 0x40u /* "movablekeys": key positions depend on the arguments */
#define RT_CMD_FAST 0x80u
#define RT_CMD_NOSCRIPT 0x100u
#define RT_CMD_LOADING 0x200u
#define RT_CMD_STALE 0x400u
#define RT_CMD_DENYOOM 0x800u
#define RT_CMD_NO_MULTI 0x1000u
#define RT_CMD_NO_AUTH 0x2000u
#define RT_CMD_MAY_REPLICATE 0x4000u
#define RT_CMD_SKIP_MONITOR 0x8000u
#define RT_CMD_CONTAINER 0x10000u       /* has subcommands (CONFIG, CLIENT, ...) */
#define RT_CMD_NONDETERMINISTIC 0x20000u /* tip nondeterministic_output(_order) */
#define RT_CMD_ALL_NODES 0x40000u       /* tip request_policy:all_nodes */
#define RT_CMD_ALL_SHARDS 0x80000u      /* tip request_policy:all_shards */
#define RT_CMD_MULTI_SHARD 0x100000u    /* tip request_policy:multi_shard */
#define RT_CMD_SPECIAL_POLICY 0x200000u /* tip request_policy:special */
#define RT_CMD_KEYSPACE 0x400000u       /* ACL category @keyspace */
#define RT_CMD_SCRIPTING 0x800000u      /* ACL category @scripting */

/* struct rt_keyspec: one key specification, as COMMAND INFO reports it */
enum { RT_KS_UNKNOWN = 0, RT_KS_INDEX = 1, RT_KS_KEYWORD = 2 };  /* begin_search type */
enum { RT_KS_FK_UNKNOWN = 0, RT_KS_RANGE = 1, RT_KS_KEYNUM = 2 }; /* find_keys type */
#define RT_KS_RO 0x1u
#define RT_KS_RW 0x2u
#define RT_KS_OW 0x4u
#define RT_KS_RM 0x8u
#define RT_KS_ACCESS 0x10u
#define RT_KS_UPDATE 0x20u
#define RT_KS_INSERT 0x40u
#define RT_KS_DELETE 0x80u
#define RT_KS_NOT_KEY 0x100u
#define RT_KS_INCOMPLETE 0x200u
#define RT_KS_VARIABLE_FLAGS 0x400u
struct rt_keyspec {
    uint8_t bs, fk;      /* RT_KS_INDEX/KEYWORD/UNKNOWN, RT_KS_RANGE/KEYNUM/FK_UNKNOWN */
    uint16_t flags;      /* RT_KS_* */
    int32_t bs_arg;      /* index: the position; keyword: startfrom */
    const char *keyword; /* keyword: the keyword (upper case); else NULL */
    int32_t fk_a, fk_b, fk_c; /* range: lastkey, keystep, limit; keynum: keynumidx, firstkey, keystep */
};

/* struct rt_cmdarg: one node of a command's argument grammar (COMMAND DOCS), stored in
 * preorder; a node's children follow it and `size` counts the node and its descendants. */
enum {
    RT_ARG_KEY = 1,
    RT_ARG_VALUE,    /* string written to the keyspace (or published): what rt_cmd_values() reports */
    RT_ARG_STRING,   /* any other string (ids, group names, hash fields, channels, ...) */
    RT_ARG_INTEGER,
    RT_ARG_DOUBLE,
    RT_ARG_UNIXTIME,
    RT_ARG_PATTERN,
    RT_ARG_TOKEN,    /* pure-token: only its token */
    RT_ARG_ONEOF,    /* one of the children */
    RT_ARG_BLOCK     /* the children in sequence */
};
#define RT_ARG_OPTIONAL 0x1u
#define RT_ARG_MULTIPLE 0x2u
#define RT_ARG_MULTIPLE_TOKEN 0x4u /* the token repeats before each repetition */
struct rt_cmdarg {
    uint8_t type;      /* RT_ARG_* */
    uint8_t flags;     /* RT_ARG_OPTIONAL | ... */
    uint16_t size;     /* nodes in this subtree, itself included */
    const char *token; /* the token before the argument (upper case), or NULL */
};

struct rt_cmd {
    const char *name; /* lower case; subcommands "config|set" */
    int arity;        /* redis arity: > 0 exactly, < 0 at least -arity arguments (name included) */
    uint32_t flags;   /* RT_CMD_* */
    int16_t first_key, last_key, key_step; /* legacy key range of COMMAND INFO */
    uint16_t nkeyspecs;
    const struct rt_keyspec *keyspecs;
    uint16_t nargs; /* the argument grammar: only for the commands with values, else 0 */
    const struct rt_cmdarg *args;
};

/*! rt_cmd_lookup() :
 *  Finds the command of a request, case-insensitively; when the command has subcommands and
 *  argc >= 2, resolves the subcommand (CONFIG SET -> "config|set").
 *  @return the entry, or NULL for an unknown command or subcommand. */
const struct rt_cmd *rt_cmd_lookup(size_t argc, const char *const *argv, const size_t *argvlen);

/*! rt_cmd_by_name() : the entry of `name` ("get", "config|set"; case-insensitive), or NULL. */
const struct rt_cmd *rt_cmd_by_name(const char *name);

/*! rt_cmd_count(), rt_cmd_at() : the table in name order, for listing and analysis. */
size_t rt_cmd_count(void);
const struct rt_cmd *rt_cmd_at(size_t i);

/*! rt_cmd_table_source() : the server the table was generated from ("redis 7.0.15"). */
const char *rt_cmd_table_source(void);

/*! rt_cmd_keys() :
 *  Stores in pos[] the argv positions of the key arguments of a request of command `c`, from
 *  its key specifications as redis' getKeysUsingKeySpecs() reads them (begin_search index or
 *  keyword with startfrom; find_keys range lastkey/keystep/limit or keynum), in spec order;
 *  SORT, SORT_RO and MIGRATE, whose specs are incomplete, as the server's own getkeys
 *  procedures do. At most `cap` positions are stored; *n receives the count found (may exceed
 *  cap). @return 0, or -1 when argc breaks the arity or the arguments break the specs (bad
 *  numkeys, out of range), -2 when the specs cannot resolve the keys (incomplete or unknown
 *  specs): then ask the target with COMMAND GETKEYS. */
int rt_cmd_keys(const struct rt_cmd *c, size_t argc, const char *const *argv,
                const size_t *argvlen, uint32_t *pos, size_t cap, size_t *n);

/*! rt_cmd_values() :
 *  Stores in pos[] the argv positions of the values of a request of command `c`: the payload
 *  it writes to the keyspace or publishes (SET's value, MSET's values, HSET's values, list,
 *  set and sorted set elements, XADD field values, RESTORE's payload, PUBLISH's message...),
 *  found by matching the arguments against the command's grammar from COMMAND DOCS. Never
 *  the name, keys, option tokens, numbers, hash fields, stream ids, group names or channels.
 *  Commands with no values (reads, admin) give *n = 0. At most `cap` positions are stored; *n
 *  receives the count found. @return 0, -1 when argc breaks the arity or the arguments do not
 *  match the grammar (then treat every non-key argument as a value to be safe). */
int rt_cmd_values(const struct rt_cmd *c, size_t argc, const char *const *argv,
                  const size_t *argvlen, uint32_t *pos, size_t cap, size_t *n);

/*! rt_cmd_values_bytes() : 0 when rt_cmd_values() answers for `argc` arguments of `c` from
 *  their count alone (SET k v, GETSET k v, APPEND k v: the common shape, where no option
 *  token is there to read; a command without values; a wrong argc), 1 when it reads the
 *  bytes of arguments 2.. (to match tokens, or to find keys): for a reader that left them
 *  compressed (trace_reader_opts.lazy_args). */
int rt_cmd_values_bytes(const struct rt_cmd *c, size_t argc);
/* ---- end of command table ------------------------------------------------------------ */

/* ---- cluster hash slots (slot.c) ----------------------------------------------------- */

/* The number of Redis Cluster hash slots. */
#define RT_KEY_SLOTS 16384

/*! rt_key_slot() :
 *  The Redis Cluster hash slot of a key (what CLUSTER KEYSLOT answers): CRC16/XMODEM of the
 *  key, or of its hashtag when it has one (the bytes between the first '{' and the first '}'
 *  after it, when there is at least one), modulo 16384. Binary-safe. @return 0..16383. */
uint16_t rt_key_slot(const void *key, size_t len);
/*! rt_crc16() : CRC16/XMODEM (what rt_key_slot() hashes with) of data[0..n), continued from
 *  `crc` (0 to start): rt_crc16(rt_crc16(0, a, n), b, m) is the CRC of a then b. */
uint16_t rt_crc16(uint16_t crc, const void *data, size_t n);
/* ---- end of cluster hash slots --------------------------------------------------------- */

/* ---- Histogram (hist.c): replay's latencies, the analyses' distributions ----------------- */

struct rt_hist;

/* Log-linear, HDR-style, in nanoseconds: values below 256 exact, above at most 1/128 (0.78%)
 * relative error; the range ends at 2^43 - 1 ns (2.4 hours), larger values are clamped into
 * the last bucket and counted. 37 KiB each, allocated once; recording is O(1) and never
 * allocates. Not thread-safe: keep one per thread and merge them. A NULL histogram (one that
 * could not be allocated) is accepted everywhere as an empty one that records nothing, so a
 * run that ran out of memory fails with its error instead of a crash. */

/*! rt_hist_new() : an empty histogram (owned by the caller: rt_hist_free), or NULL when out
 *  of memory. */
struct rt_hist *rt_hist_new(void);
/*! rt_hist_free() : frees `h` (NULL is accepted). */
void rt_hist_free(struct rt_hist *h);
/*! rt_hist_reset() : empties `h`, as new. */
void rt_hist_reset(struct rt_hist *h);
/*! rt_hist_record() : counts one value. rt_hist_record_n() : counts `n` of it (0: no-op). */
void rt_hist_record(struct rt_hist *h, uint64_t ns);
void rt_hist_record_n(struct rt_hist *h, uint64_t ns, uint64_t n);
/*! rt_hist_merge() : adds `src` into `dst` (exact: the same as recording src's values into
 *  dst, the double sum of the mean aside). @return 0. */
int rt_hist_merge(struct rt_hist *dst, const struct rt_hist *src);
/*! rt_hist_percentile() : the nearest-rank percentile, the ceil(p/100 * count)-th smallest
 *  value, reported as the highest value of its bucket (never below the true value, less than
 *  1/128 above it), clamped to the exact min and max. p <= 0 (or NaN) gives the min, p >= 100
 *  the max; 0 when empty. */
uint64_t rt_hist_percentile(const struct rt_hist *h, double p);
uint64_t rt_hist_count(const struct rt_hist *h);
uint64_t rt_hist_min(const struct rt_hist *h);     /* exact; 0 when empty */
uint64_t rt_hist_max(const struct rt_hist *h);     /* exact, also when clamped; 0 when empty */
uint64_t rt_hist_clamped(const struct rt_hist *h); /* values above 2^43 - 1 */
double rt_hist_mean(const struct rt_hist *h);      /* 0 when empty */
/*! rt_hist_encode() : "v1 7 min max count clamped sum idx:n idx:n ..." with the non-zero
 *  buckets in increasing order (malloc'd, owned by the caller; NULL on out of memory): the
 *  form result files carry so that hosts' results merge exactly. */
char *rt_hist_encode(const struct rt_hist *h);
/*! rt_hist_decode() : parses rt_hist_encode()'s text strictly (no blanks or newline around
 *  it; counts that add up; min and max in the first and last buckets). @return a new
 *  histogram (rt_hist_free), or NULL with `err` (RT_EINVAL, "histogram: ... at offset N")
 *  saying what is wrong and where. */
struct rt_hist *rt_hist_decode(const char *s, struct rt_err *err);

#ifdef __cplusplus
}
#endif
#endif
