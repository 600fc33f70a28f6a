/* make_corpus_trace_reader.c: writes the seed traces of the trace reader fuzz corpus. */
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Usage: make_corpus_trace_reader DIR. Writes seed-*.trace files into DIR (which must exist).
 * Each seed is small (a few KiB at most) so that libFuzzer can mutate it within its default
 * input size, and together they reach every event type, every reply type, several chunks,
 * metadata in the middle of the stream, files with and without an index, and the damaged
 * files that salvage mode handles. Every seed is written three times: in chunk encoding 1
 * (seed-NAME), in chunk encoding 2 (seed-e2-NAME: chains of chunks sharing tables) and in
 * encoding 3 (seed-e3-NAME: as 2, the lengths of arguments 2.. apart). */

static const char *outdir;
static int encoding = 1;   /* of the seeds being written */
static uint32_t chain = 0; /* encoding 2: chunks a chain (0: the writer's) */

static void die(const char *what, const struct rt_err *err)
{
    fprintf(stderr, "make_corpus_trace_reader: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static char *seed_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/seed-%s%s", outdir,
             encoding == 3 ? "e3-" : encoding == 2 ? "e2-" : "", name);
    return path;
}

static struct trace_writer *open_seed(const char *name, const struct trace_meta_kv *meta,
                                      size_t nmeta, uint32_t chunk_events, int level)
{
    struct trace_writer_opts o = {.level = level, .chunk_events = chunk_events,
                                  .encoding = encoding, .chain_chunks = chain};
    struct rt_err err = {0};
    struct trace_writer *w = trace_writer_open(seed_path(name), meta, nmeta, &o, &err);
    if (!w)
        die(name, &err);
    return w;
}

static void add(struct trace_writer *w, struct trace_event *ev)
{
    struct rt_err err = {0};
    if (trace_writer_add(w, ev, &err) != 0)
        die("add", &err);
}

static void close_seed(struct trace_writer *w)
{
    struct rt_err err = {0};
    if (trace_writer_close(w, &err) != 0)
        die("close", &err);
}

static void flush(struct trace_writer *w)
{
    struct rt_err err = {0};
    if (trace_writer_flush(w, &err) != 0)
        die("flush", &err);
}

static void add_meta(struct trace_writer *w, const struct trace_meta_kv *meta, size_t n)
{
    struct rt_err err = {0};
    if (trace_writer_add_meta(w, meta, n, &err) != 0)
        die("add_meta", &err);
}

/* ---- events ---- */

static uint64_t now = 1700000000000000000ull;

static void ev_open(struct trace_writer *w, uint64_t conn, int family, uint32_t flags)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = now += 1000, .conn = conn};
    ev.u.open.flags = flags;
    ev.u.open.client.family = (uint8_t)family;
    ev.u.open.server.family = (uint8_t)family;
    for (int i = 0; i < 16; i++) {
        ev.u.open.client.addr[i] = (uint8_t)(10 + i);
        ev.u.open.server.addr[i] = (uint8_t)(127 + i);
    }
    ev.u.open.client.port = (uint16_t)(40000 + conn);
    ev.u.open.server.port = 6379;
    add(w, &ev);
}

static void ev_close(struct trace_writer *w, uint64_t conn, uint32_t reason)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = now += 500, .conn = conn};
    ev.u.close.reason = reason;
    add(w, &ev);
}

/* Adds a request from a space-separated command line; "" stands for an empty argument.
 * @return its sequence number. */
static uint64_t ev_request(struct trace_writer *w, uint64_t conn, const char *line, uint32_t flags,
                           uint8_t proto)
{
    char buf[512];
    const char *argv[32];
    size_t argvlen[32];
    uint32_t argc = 0;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && argc < 32;
         tok = strtok_r(NULL, " ", &save)) {
        if (strcmp(tok, "\"\"") == 0)
            tok[0] = 0;
        argv[argc] = tok;
        argvlen[argc] = strlen(tok);
        argc++;
    }
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = now += 100, .conn = conn};
    ev.u.req.db = conn % 3;
    ev.u.req.proto = proto;
    ev.u.req.flags = flags;
    ev.u.req.argc = argc;
    ev.u.req.argv = argv;
    ev.u.req.argvlen = argvlen;
    add(w, &ev);
    return ev.u.req.seq;
}

struct reply_spec {
    uint8_t rtype;
    uint32_t flags;
    uint64_t count, size;
    int64_t ival;
    const char *err;
    const char *payload; /* wire bytes; also hashed when given */
};

static void ev_reply(struct trace_writer *w, int push, uint64_t conn, uint64_t req_seq,
                     const struct reply_spec *s)
{
    struct trace_event ev = {
        .type = push ? TRACE_EV_PUSH : TRACE_EV_REPLY, .ts = now += 50, .conn = conn};
    struct trace_reply *r = &ev.u.reply;
    r->req_seq = req_seq;
    r->rtype = s->rtype;
    r->flags = s->flags;
    r->count = s->count;
    r->size = s->size;
    r->ival = s->ival;
    if (s->err) {
        r->err = s->err;
        r->errlen = strlen(s->err);
    }
    if (s->payload) {
        r->payload = (const uint8_t *)s->payload;
        r->payload_len = strlen(s->payload);
        r->len = r->payload_len;
        r->hash = trace_hash(s->payload, r->payload_len);
        r->flags |= TRACE_REPLY_HAS_HASH | TRACE_REPLY_HAS_PAYLOAD;
    } else {
        r->len = 4 + s->size;
    }
    add(w, &ev);
}

static void ev_gap(struct trace_writer *w, uint64_t conn, uint8_t dir, uint64_t bytes)
{
    struct trace_event ev = {.type = TRACE_EV_GAP, .ts = now += 10, .conn = conn};
    ev.u.gap.dir = dir;
    ev.u.gap.bytes = bytes;
    add(w, &ev);
}

static void ev_stats(struct trace_writer *w, uint64_t k)
{
    struct trace_event ev = {.type = TRACE_EV_STATS, .ts = now += 1000000};
    ev.u.stats = (struct trace_stats){100 * k, 10000 * k, k, k / 2, k / 3, 7 * k};
    add(w, &ev);
}

static void ev_note(struct trace_writer *w, uint64_t conn, uint8_t dir, uint32_t code,
                    const char *text)
{
    struct trace_event ev = {.type = TRACE_EV_NOTE, .ts = now += 10, .conn = conn};
    ev.u.note.dir = dir;
    ev.u.note.code = code;
    ev.u.note.text = text;
    ev.u.note.len = strlen(text);
    add(w, &ev);
}

static void ev_push(struct trace_writer *w, uint64_t conn)
{
    ev_reply(w, 1, conn, TRACE_SEQ_NONE,
             &(struct reply_spec){.rtype = TRACE_R_PUSH,
                                  .count = 3,
                                  .payload = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"});
}

/* One short conversation with every event type on connection `conn`. */
static void conversation(struct trace_writer *w, uint64_t conn)
{
    ev_open(w, conn, conn % 2 ? 4 : 6, conn % 3 ? 0 : TRACE_OPEN_MIDSTREAM);
    uint64_t a = ev_request(w, conn, "SET key:1 hello", 0, 2);
    uint64_t b = ev_request(w, conn, "GET key:1", 0, 2);
    ev_reply(w, 0, conn, a, &(struct reply_spec){.rtype = TRACE_R_SIMPLE, .size = 2});
    ev_reply(w, 0, conn, b,
             &(struct reply_spec){.rtype = TRACE_R_BULK, .size = 5, .payload = "$5\r\nhello\r\n"});
    uint64_t c = ev_request(w, conn, "INCR counter", 0, 3);
    ev_reply(w, 0, conn, c, &(struct reply_spec){.rtype = TRACE_R_INTEGER, .ival = -42});
    ev_push(w, conn);
    ev_gap(w, conn, TRACE_DIR_TO_CLIENT, 1234);
    uint64_t d = ev_request(w, conn, "PING", TRACE_REQ_AFTER_GAP, 2);
    ev_reply(w, 0, conn, d,
             &(struct reply_spec){.rtype = TRACE_R_ERROR,
                                  .flags = TRACE_REPLY_AFTER_GAP,
                                  .size = 11,
                                  .err = "ERR unknown"});
    ev_note(w, conn, TRACE_DIR_TO_SERVER, 3, "not RESP");
    ev_stats(w, conn);
    ev_close(w, conn, TRACE_CLOSE_FIN);
}

/* ---- seeds written through the writer ---- */

static const struct trace_meta_kv base_meta[] = {
    {"recorder.version", "0.1.0", 5},
    {"capture.iface", "lo", 2},
    {"capture.filter", "tcp port 6379", 13},
    {"binary", "a\0b", 3},
};
#define NBASE (sizeof base_meta / sizeof base_meta[0])

static void seed_empty(void)
{
    close_seed(open_seed("empty", NULL, 0, 0, 0));
}

static void seed_empty_noindex(void)
{
    trace_writer_abort(open_seed("empty-noindex", base_meta, NBASE, 0, 0));
}

static void seed_all_types(const char *name, uint32_t chunk_events, int level, int closed)
{
    struct trace_writer *w = open_seed(name, base_meta, NBASE, chunk_events, level);
    for (uint64_t conn = 1; conn <= 3; conn++)
        conversation(w, conn);
    if (closed) {
        close_seed(w);
        return;
    }
    flush(w);
    /* events after the last flush are lost, as in a crash */
    ev_open(w, 9, 4, 0);
    trace_writer_abort(w);
}

static void seed_meta_midstream(void)
{
    struct trace_writer *w = open_seed("meta-midstream", base_meta, 2, 5, 0);
    conversation(w, 1);
    const struct trace_meta_kv m1[] = {{"capture.iface", "eth0", 4}, {"note", "", 0}};
    add_meta(w, m1, 2);
    conversation(w, 2);
    const struct trace_meta_kv m2[] = {{"late.key", "late value", 10}};
    add_meta(w, m2, 1);
    add_meta(w, base_meta, NBASE);
    conversation(w, 3);
    add_meta(w, m1, 1); /* written before a chunk that never comes: then at close */
    close_seed(w);
}

static void seed_reply_types(void)
{
    static const uint8_t types[] = {
        TRACE_R_SIMPLE,     TRACE_R_ERROR,     TRACE_R_INTEGER, TRACE_R_BULK,
        TRACE_R_ARRAY,      TRACE_R_NULL,      TRACE_R_DOUBLE,  TRACE_R_BOOLEAN,
        TRACE_R_BLOB_ERROR, TRACE_R_VERBATIM,  TRACE_R_BIGNUM,  TRACE_R_MAP,
        TRACE_R_SET,        TRACE_R_ATTRIBUTE, TRACE_R_PUSH,    '?'};
    struct trace_writer *w = open_seed("reply-types", NULL, 0, 6, 0);
    ev_open(w, 7, 4, 0);
    for (size_t i = 0; i < sizeof types; i++) {
        uint64_t seq = ev_request(w, 7, "HELLO 3", 0, 3);
        struct reply_spec s = {.rtype = types[i], .count = i, .size = 3 * i, .ival = -(int64_t)i};
        if (types[i] == TRACE_R_ERROR || types[i] == TRACE_R_BLOB_ERROR)
            s.err = "WRONGTYPE Operation against a key holding the wrong kind of value";
        if (i % 2)
            s.payload = "+OK\r\n";
        if (types[i] == TRACE_R_NULL)
            s.flags = i % 2 ? TRACE_REPLY_NULL_BULK : TRACE_REPLY_NULL_ARRAY;
        if (types[i] == TRACE_R_MAP)
            s.flags = TRACE_REPLY_ATTRIBUTED;
        ev_reply(w, 0, 7, i % 3 ? seq : TRACE_SEQ_NONE, &s);
        ev_reply(w, 1, 7, TRACE_SEQ_NONE, &s);
    }
    ev_close(w, 7, TRACE_CLOSE_END);
    close_seed(w);
}

static void seed_requests(void)
{
    struct trace_writer *w = open_seed("requests", NULL, 0, 4, 0);
    ev_open(w, 2, 6, TRACE_OPEN_MIDSTREAM);
    ev_request(w, 2, "MSET a 1 b 2 c 3 d 4 e 5 f 6 g 7 h 8 i 9 j 10", 0, 2);
    ev_request(w, 2, "AUTH (redacted)", TRACE_REQ_REDACTED, 2);
    ev_request(w, 2, "SET k xxxxxxxx", TRACE_REQ_VALUES_REDACTED | TRACE_REQ_TRUNCATED, 3);
    ev_request(w, 2, "ping", TRACE_REQ_INLINE, 2);
    ev_request(w, 2, "CLIENT REPLY OFF", TRACE_REQ_NOREPLY, 2);
    ev_request(w, 2, "SET \"\" \"\"", 0, 2);
    ev_request(w, 2, "DEL a b c", 0xffffffffu, 255);
    for (int i = 0; i < 6; i++)
        ev_request(w, 2, i % 2 ? "GET a" : "ECHO x y", 0, 2);
    ev_close(w, 2, TRACE_CLOSE_CLIENT_QUIT);
    close_seed(w);
}

/* Encoding 3: chunks whose bytes of arguments 2.. (SET values) take a zstd frame of their
 * own, which a reader with opts.lazy_args leaves compressed until a request needs them */
static void seed_big_values(void)
{
    struct trace_writer *w = open_seed("big-values", NULL, 0, 150, 0);
    ev_open(w, 5, 4, 0);
    static char val[1200];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < 200; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i % 7);
        const char *argv[5] = {i % 9 == 4 ? "MSET" : "SET", key, val, "k9", val};
        size_t argvlen[5] = {argv[0][0] == 'M' ? 4 : 3, strlen(key), 1000 + (size_t)i, 2, 3};
        struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = now += 100, .conn = 5};
        ev.u.req.proto = 2;
        ev.u.req.argc = argv[0][0] == 'M' ? 5 : 3;
        ev.u.req.argv = argv;
        ev.u.req.argvlen = argvlen;
        add(w, &ev);
        ev_request(w, 5, "GET k1", 0, 2);
    }
    ev_close(w, 5, TRACE_CLOSE_FIN);
    close_seed(w);
}

/* Format 1.1: a malformed request (one argument: the raw bytes) paired with its protocol
 * error, and redacted replies (type only; the writer drops what the caller passed). */
static void seed_v11_flags(void)
{
    struct trace_writer *w = open_seed("v11-flags", NULL, 0, 3, 0);
    ev_open(w, 4, 4, 0);
    static const char raw[] = "SET bad \"unclosed\r\n";
    const char *argv[1] = {raw};
    size_t argvlen[1] = {sizeof raw - 1};
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = now += 100, .conn = 4};
    ev.u.req.proto = 2;
    ev.u.req.flags = TRACE_REQ_MALFORMED;
    ev.u.req.argc = 1;
    ev.u.req.argv = argv;
    ev.u.req.argvlen = argvlen;
    add(w, &ev);
    struct reply_spec perr = {.rtype = TRACE_R_ERROR,
                              .err = "ERR Protocol error: unbalanced quotes in request",
                              .size = 48};
    ev_reply(w, 0, 4, ev.u.req.seq, &perr);
    uint64_t q = ev_request(w, 4, "CONFIG GET requirepass", 0, 2);
    struct reply_spec red = {.rtype = TRACE_R_ARRAY,
                             .flags = TRACE_REPLY_REDACTED,
                             .count = 2,
                             .payload = "*2\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n"};
    ev_reply(w, 0, 4, q, &red);
    q = ev_request(w, 4, "ACL LIST", 0, 3);
    struct reply_spec red2 = {.rtype = TRACE_R_ERROR, .flags = TRACE_REPLY_REDACTED, .err = "x"};
    ev_reply(w, 0, 4, q, &red2);
    ev_request(w, 4, "*1x", TRACE_REQ_MALFORMED | TRACE_REQ_TRUNCATED | TRACE_REQ_REDACTED, 2);
    ev_close(w, 4, TRACE_CLOSE_FIN);
    close_seed(w);
}

/* Fields that are present but empty in every event of a chunk leave their stream out of the
 * chunk altogether: the reader must hand out empty strings all the same. */
static void seed_empty_fields(void)
{
    struct trace_writer *w = open_seed("empty-fields", NULL, 0, 1, 0);
    ev_request(w, 1, "\"\"", 0, 2);
    ev_request(w, 1, "GET \"\"", 0, 2);
    ev_request(w, 1, "SET k \"\"", 0, 2);
    ev_note(w, 1, 0, 0, "");
    struct trace_event ev = {.type = TRACE_EV_REPLY, .ts = now += 1, .conn = 1};
    ev.u.reply.req_seq = 0;
    ev.u.reply.rtype = TRACE_R_BULK;
    ev.u.reply.flags = TRACE_REPLY_HAS_PAYLOAD;
    ev.u.reply.payload = (const uint8_t *)"";
    ev.u.reply.err = "";
    add(w, &ev);
    ev.type = TRACE_EV_PUSH;
    add(w, &ev);
    close_seed(w);
}

static void seed_addresses(void)
{
    struct trace_writer *w = open_seed("addresses", NULL, 0, 3, 0);
    static const int fams[] = {0, 4, 6, 9};
    for (uint64_t i = 0; i < 6; i++) {
        ev_open(w, 100 + i, fams[i % 4], (uint32_t)i);
        ev_close(w, 100 + i, (uint32_t)i);
    }
    close_seed(w);
}

/* Timestamps and connection ids that go backwards or sit at the ends of their range exercise
 * the zigzag deltas. */
static void seed_timestamps(void)
{
    static const uint64_t ts[] = {5, 3, UINT64_MAX, 0, UINT64_MAX - 1, 1ull << 63, 42, 42};
    static const uint64_t conns[] = {0, UINT64_MAX, 1, 1ull << 63, 0, 77, 76, 2};
    struct trace_writer *w = open_seed("timestamps", NULL, 0, 3, 0);
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        struct trace_event ev = {.type = TRACE_EV_GAP, .ts = ts[i], .conn = conns[i]};
        ev.u.gap.dir = (uint8_t)(i % 2);
        ev.u.gap.bytes = ts[i];
        add(w, &ev);
    }
    close_seed(w);
}

static void seed_time_chunks(void)
{
    struct trace_writer_opts o = {.chunk_ns = 5000, .chunk_bytes = 96, .encoding = encoding};
    struct rt_err err = {0};
    struct trace_writer *w = trace_writer_open(seed_path("time-chunks"), NULL, 0, &o, &err);
    if (!w)
        die("time-chunks", &err);
    conversation(w, 4);
    flush(w);
    flush(w);
    conversation(w, 5);
    close_seed(w);
}

/* ---- seeds derived from a written trace by damaging its bytes ---- */

static unsigned char *slurp(const char *name, size_t *len)
{
    FILE *f = fopen(seed_path(name), "rb");
    if (!f)
        die(name, NULL);
    static unsigned char buf[65536];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static void spill(const char *name, const unsigned char *p, size_t n)
{
    FILE *f = fopen(seed_path(name), "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        die(name, NULL);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Offset of the n-th chunk header block (from 0) in a trace, found by walking the blocks. */
static size_t chunk_at(const unsigned char *p, size_t len, int n)
{
    size_t off = 0;
    while (off + 9 <= len) {
        uint32_t size = rd32(p + off + 4);
        if (p[off + 8] == 3) {
            if (n-- == 0)
                return off;
            off += 8 + size + rd32(p + off + 8 + 40);
        } else {
            off += 8 + size;
        }
    }
    die("no such chunk", NULL);
    return 0;
}

static void seed_damaged(void)
{
    size_t len;
    unsigned char *p = slurp("all-types", &len);
    unsigned char buf[65536];

    /* cut in the middle of the third chunk's frame: no index, last chunk incomplete */
    size_t c2 = chunk_at(p, len, 2);
    spill("truncated", p, c2 + 8 + 56 + 10);

    /* a flipped byte inside the second chunk's frame: its checksum fails */
    memcpy(buf, p, len);
    size_t c1 = chunk_at(p, len, 1);
    buf[c1 + 8 + 56 + 5] ^= 0x40;
    spill("bad-frame", buf, len);

    /* a flipped byte in the second chunk's header block: its check fails, salvage resyncs */
    memcpy(buf, p, len);
    buf[c1 + 8 + 10] ^= 0x01;
    spill("bad-chunk-header", buf, len);

    /* a chunk encoding from a future writer, with a valid check: skipped and reported */
    memcpy(buf, p, len);
    buf[c1 + 8 + 1] = 9;
    wr32(buf + c1 + 8 + 52, (uint32_t)trace_hash(buf + c1 + 8, 52));
    spill("unknown-encoding", buf, len);

    /* another encoding's payload under a valid check (1 read as 2: no preamble; 2 read as 3:
     * the lengths of arguments 2.. missing from 0x3a; 3 read as 2: missing from 0x37) */
    memcpy(buf, p, len);
    buf[c1 + 8 + 1] = encoding == 2 ? 3 : encoding == 3 ? 2 : 2;
    wr32(buf + c1 + 8 + 52, (uint32_t)trace_hash(buf + c1 + 8, 52));
    spill("other-encoding", buf, len);

    /* an unknown block type right after the leading metadata, in a file without an index */
    p = slurp("all-types-noindex", &len);
    size_t first = chunk_at(p, len, 0);
    static const unsigned char unknown[] = {0x5a, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 0x09, 1, 2, 3, 4};
    memcpy(buf, p, first);
    memcpy(buf + first, unknown, sizeof unknown);
    memcpy(buf + first + sizeof unknown, p + first, len - first);
    spill("unknown-block", buf, len + sizeof unknown);
}

static void write_seeds(void);

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    mkdir(outdir, 0755);
    for (encoding = 1; encoding <= 3; encoding++)
        write_seeds();
    encoding = 3;
    seed_big_values();
    /* encoding 2 with chains of 3 chunks: a table carried over, then a new chain */
    encoding = 2;
    chain = 3;
    seed_all_types("chains", 3, 0, 1);
    seed_all_types("chains-noindex", 3, 0, 0);
    return 0;
}

static void write_seeds(void)
{
    seed_empty();
    seed_empty_noindex();
    seed_all_types("all-types", 4, 0, 1);
    seed_all_types("all-types-noindex", 4, 0, 0);
    seed_all_types("one-chunk", 0, 1, 1);
    seed_all_types("level19", 7, 19, 1);
    seed_meta_midstream();
    seed_reply_types();
    seed_requests();
    seed_v11_flags();
    seed_empty_fields();
    seed_addresses();
    seed_timestamps();
    seed_time_chunks();
    seed_damaged();
}
