/* make_traces.c: writes the synthetic traces committed under traces/ (golden file, sample). */
#include "format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* These traces are made by this program, not recorded: the golden file pins the version 1
 * format (every event type and field), and the sample workload gives the README and the
 * tests something to read until recorded samples exist. Regenerate only on purpose:
 * `./build/make_traces traces` (the golden test then compares against the new output). */

static struct trace_writer *w;
static struct rt_err err;
static uint64_t now = 1764171752000000000ull; /* 2025-11-26T15:42:32Z */

static void add(struct trace_event *ev)
{
    if (trace_writer_add(w, ev, &err) != 0) {
        fprintf(stderr, "make_traces: %s\n", err.msg);
        exit(1);
    }
}

static uint64_t request(uint64_t conn, uint32_t db, uint8_t proto, uint32_t flags, int argc,
                        const char *const *argv, const size_t *lens)
{
    size_t l[64];
    for (int i = 0; i < argc; i++)
        l[i] = lens ? lens[i] : strlen(argv[i]);
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = now, .conn = conn};
    ev.u.req = (struct trace_request){.db = db,
                                      .proto = proto,
                                      .flags = flags,
                                      .argc = (uint32_t)argc,
                                      .argv = argv,
                                      .argvlen = l};
    add(&ev);
    now += 1500;
    return ev.u.req.seq;
}

static void reply(uint64_t conn, uint64_t seq, const char *wire, uint8_t rtype, uint64_t count,
                  uint64_t size, int64_t ival, const char *errmsg, uint32_t flags)
{
    struct trace_event ev = {
        .type = seq == TRACE_SEQ_NONE && rtype == TRACE_R_PUSH ? TRACE_EV_PUSH : TRACE_EV_REPLY,
        .ts = now,
        .conn = conn};
    size_t n = strlen(wire);
    ev.u.reply = (struct trace_reply){.req_seq = seq,
                                      .rtype = rtype,
                                      .flags = flags | TRACE_REPLY_HAS_HASH,
                                      .len = n,
                                      .count = count,
                                      .size = size,
                                      .ival = ival,
                                      .hash = trace_hash(wire, n),
                                      .err = errmsg,
                                      .errlen = errmsg ? strlen(errmsg) : 0};
    if (flags & TRACE_REPLY_HAS_PAYLOAD) {
        ev.u.reply.payload = (const uint8_t *)wire;
        ev.u.reply.payload_len = n;
    }
    add(&ev);
    now += 2500;
}

static void open_conn(uint64_t conn, int v6, uint16_t cport, uint32_t flags)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = now, .conn = conn};
    struct trace_conn_open *o = &ev.u.open;
    o->flags = flags;
    if (v6) {
        o->client.family = o->server.family = 6;
        o->client.addr[15] = 1; /* ::1 */
        o->server.addr[15] = 1;
    } else {
        o->client.family = o->server.family = 4;
        memcpy(o->client.addr, "\x0a\x00\x00\x05", 4);
        memcpy(o->server.addr, "\x0a\x00\x00\x09", 4);
    }
    o->client.port = cport;
    o->server.port = 6379;
    add(&ev);
    now += 1000;
}

static void close_conn(uint64_t conn, uint32_t reason)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = now, .conn = conn};
    ev.u.close.reason = reason;
    add(&ev);
    now += 1000;
}

static void golden(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/golden-v1.rtrace", dir);
    static const struct trace_meta_kv meta[] = {
        {"tool.version", "resptrace 0.1.0", 15},
        {"capture.host", "app-1.example", 13},
        {"capture.interface", "eth0", 4},
        {"capture.filter", "tcp port 6379", 13},
        {"capture.ports", "6379", 4},
        {"capture.start_ns", "1764171752000000000", 19},
        {"redaction.auth", "on", 2},
        {"redaction.values", "off", 3},
        {"source", "synthetic: tests/make_traces.c", 30},
    };
    /* small chunks so that the golden file has several, and an index with several entries */
    struct trace_writer_opts o = {.chunk_events = 16};
    w = trace_writer_open(path, meta, sizeof meta / sizeof meta[0], &o, &err);
    if (!w) {
        fprintf(stderr, "make_traces: %s\n", err.msg);
        exit(1);
    }
    open_conn(1, 0, 50001, 0);
    open_conn(2, 1, 50002, TRACE_OPEN_MIDSTREAM);

    const char *auth[] = {"AUTH", "app", "********"};
    uint64_t s = request(1, 0, 2, TRACE_REQ_REDACTED, 3, auth, NULL);
    reply(1, s, "+OK\r\n", TRACE_R_SIMPLE, 0, 2, 0, NULL, 0);
    const char *set[] = {"SET", "user:1000:name", "Ada Lovelace"};
    s = request(1, 0, 2, 0, 3, set, NULL);
    reply(1, s, "+OK\r\n", TRACE_R_SIMPLE, 0, 2, 0, NULL, TRACE_REPLY_HAS_PAYLOAD);
    /* pipelined: three requests, then three replies */
    const char *get[] = {"get", "user:1000:name"};
    const char *incr[] = {"INCR", "counter"};
    const char *miss[] = {"GET", "missing"};
    uint64_t s1 = request(1, 0, 2, 0, 2, get, NULL);
    uint64_t s2 = request(1, 0, 2, 0, 2, incr, NULL);
    uint64_t s3 = request(1, 0, 2, 0, 2, miss, NULL);
    reply(1, s1, "$12\r\nAda Lovelace\r\n", TRACE_R_BULK, 0, 12, 0, NULL, 0);
    reply(1, s2, ":-42\r\n", TRACE_R_INTEGER, 0, 0, -42, NULL, 0);
    reply(1, s3, "$-1\r\n", TRACE_R_NULL, 0, 0, 0, NULL, TRACE_REPLY_NULL_BULK);
    /* binary-safe arguments: NUL, invalid UTF-8, a backslash, non-ASCII UTF-8 */
    const char *bin[] = {"SET", "bin\\key", "a\0b\xff\xfe caf\xc3\xa9"};
    size_t binlen[] = {3, 7, 11};
    s = request(2, 3, 3, 0, 3, bin, binlen);
    reply(2, s, "+OK\r\n", TRACE_R_SIMPLE, 0, 2, 0, NULL, 0);
    const char *bad[] = {"LPUSH", "user:1000:name", "x"};
    s = request(1, 0, 2, 0, 3, bad, NULL);
    const char *wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    reply(1, s, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
          TRACE_R_ERROR, 0, strlen(wrongtype), 0, wrongtype, 0);
    const char *ping[] = {"PING"};
    s = request(1, 0, 2, TRACE_REQ_INLINE, 1, ping, NULL);
    reply(1, s, "+PONG\r\n", TRACE_R_SIMPLE, 0, 4, 0, NULL, 0);
    const char *hello[] = {"HELLO", "3", "AUTH", "app", "********"};
    s = request(2, 3, 2, TRACE_REQ_REDACTED, 5, hello, NULL);
    reply(2, s, "%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n", TRACE_R_MAP, 1, 0, 0, NULL, 0);
    const char *hgetall[] = {"HGETALL", "user:1000"};
    s = request(2, 3, 3, 0, 2, hgetall, NULL);
    reply(2, s, "%0\r\n", TRACE_R_MAP, 0, 0, 0, NULL, 0);
    const char *smembers[] = {"SMEMBERS", "tags"};
    s = request(2, 3, 3, 0, 2, smembers, NULL);
    reply(2, s, "~2\r\n+a\r\n+b\r\n", TRACE_R_SET, 2, 0, 0, NULL, 0);
    const char *zscore[] = {"ZSCORE", "board", "ada"};
    s = request(2, 3, 3, 0, 3, zscore, NULL);
    reply(2, s, ",3.5\r\n", TRACE_R_DOUBLE, 0, 3, 0, NULL, 0);
    const char *exists[] = {"SISMEMBER", "tags", "a"};
    s = request(2, 3, 3, 0, 3, exists, NULL);
    reply(2, s, "#t\r\n", TRACE_R_BOOLEAN, 0, 0, 1, NULL, 0);
    const char *info[] = {"CLIENT", "INFO"};
    s = request(2, 3, 3, 0, 2, info, NULL);
    reply(2, s, "=15\r\ntxt:id=7 db=3\n\r\n", TRACE_R_VERBATIM, 0, 15, 0, NULL, 0);
    const char *big[] = {"DEBUG", "BIGNUM"};
    s = request(2, 3, 3, 0, 2, big, NULL);
    reply(2, s, "(3492890328409238509324850943850943825024385\r\n", TRACE_R_BIGNUM, 0, 43, 0, NULL,
          0);
    const char *fcall[] = {"FCALL", "f", "0"};
    s = request(2, 3, 3, 0, 3, fcall, NULL);
    reply(2, s, "!21\r\nSYNTAX invalid syntax\r\n", TRACE_R_BLOB_ERROR, 0, 21, 0,
          "SYNTAX invalid syntax", 0);
    const char *lrange[] = {"LRANGE", "queue", "0", "-1"};
    s = request(1, 0, 2, 0, 4, lrange, NULL);
    reply(1, s, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", TRACE_R_ARRAY, 2, 0, 0, NULL, 0);
    const char *blpop[] = {"BLPOP", "jobs", "0"};
    s = request(1, 0, 2, 0, 3, blpop, NULL);
    reply(1, s, "*-1\r\n", TRACE_R_NULL, 0, 0, 0, NULL, TRACE_REPLY_NULL_ARRAY);
    const char *nul3[] = {"GET", "nothing"};
    s = request(2, 3, 3, 0, 2, nul3, NULL);
    reply(2, s, "_\r\n", TRACE_R_NULL, 0, 0, 0, NULL, 0);
    const char *attr[] = {"GET", "tracked"};
    s = request(2, 3, 3, 0, 2, attr, NULL);
    reply(2, s, "|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n", TRACE_R_BULK, 0, 2, 0, NULL,
          TRACE_REPLY_ATTRIBUTED);
    const char *sub[] = {"SUBSCRIBE", "news"};
    s = request(2, 3, 3, 0, 2, sub, NULL);
    reply(2, s, ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n", TRACE_R_PUSH, 3, 0, 0, NULL, 0);
    reply(2, TRACE_SEQ_NONE, ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n", TRACE_R_PUSH, 3,
          0, 0, NULL, 0);
    const char *off[] = {"CLIENT", "REPLY", "OFF"};
    request(1, 0, 2, TRACE_REQ_NOREPLY, 3, off, NULL);
    const char *quiet[] = {"SET", "k", "v"};
    request(1, 0, 2, TRACE_REQ_NOREPLY | TRACE_REQ_VALUES_REDACTED, 3, quiet, NULL);
    const char *on[] = {"CLIENT", "REPLY", "ON"};
    s = request(1, 0, 2, 0, 3, on, NULL);
    reply(1, s, "+OK\r\n", TRACE_R_SIMPLE, 0, 2, 0, NULL, 0);

    struct trace_event gap = {.type = TRACE_EV_GAP, .ts = now, .conn = 1};
    gap.u.gap = (struct trace_gap){TRACE_DIR_TO_CLIENT, 1448};
    add(&gap);
    const char *after[] = {"GET", "user:1000:name"};
    s = request(1, 0, 2, TRACE_REQ_AFTER_GAP, 2, after, NULL);
    reply(1, s, "$12\r\nAda Lovelace\r\n", TRACE_R_BULK, 0, 12, 0, NULL, TRACE_REPLY_AFTER_GAP);
    /* a reply whose request was lost before the capture began */
    reply(2, TRACE_SEQ_NONE, "+OK\r\n", TRACE_R_SIMPLE, 0, 2, 0, NULL, 0);

    struct trace_event note = {.type = TRACE_EV_NOTE, .ts = now, .conn = 3};
    const char *text = "not RESP: TLS handshake seen; connection skipped";
    note.u.note = (struct trace_note){TRACE_DIR_TO_SERVER, TRACE_NOTE_TLS, text, strlen(text)};
    add(&note);
    struct trace_event st = {.type = TRACE_EV_STATS, .ts = now, .conn = 0};
    st.u.stats = (struct trace_stats){1234, 567890, 3, 1, 0, 0};
    add(&st);
    close_conn(1, TRACE_CLOSE_FIN);
    close_conn(2, TRACE_CLOSE_END);
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_traces: %s\n", err.msg);
        exit(1);
    }
    printf("wrote %s\n", path);
}

/* A small cache workload: SET, GET, HSET, INCR and DEL over 200 keys on 4 connections. The
 * replies are what a server holding exactly these writes answers. */
static void sample(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sample-cache.rtrace", dir);
    static const struct trace_meta_kv meta[] = {
        {"tool.version", "resptrace 0.1.0", 15},
        {"source", "synthetic: tests/make_traces.c (cache workload)", 47},
        {"redaction.auth", "on", 2},
    };
    w = trace_writer_open(path, meta, sizeof meta / sizeof meta[0], NULL, &err);
    if (!w) {
        fprintf(stderr, "make_traces: %s\n", err.msg);
        exit(1);
    }
    enum { KEYS = 200, CONNS = 4, OPS = 2000 };
    static int len_of[KEYS]; /* value length last SET, 0 when absent */
    static char vals[KEYS][160];
    static int64_t counters[KEYS];
    for (int c = 1; c <= CONNS; c++)
        open_conn((uint64_t)c, 0, (uint16_t)(40000 + c), 0);
    uint64_t rng = 42;
    char key[64], val[256], wire[300];
    for (int i = 0; i < OPS; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t x = (uint32_t)(rng >> 33);
        int k = (int)(x % KEYS), op = (int)((x >> 8) % 100);
        uint64_t conn = 1 + (x >> 16) % CONNS;
        uint64_t s;
        if (op < 35) {
            int n = 16 + (int)((x >> 3) % 120);
            for (int j = 0; j < n; j++)
                val[j] = (char)('a' + (x + (uint32_t)j * 7) % 26);
            snprintf(key, sizeof key, "cache:item:%d", k);
            const char *argv[] = {"SET", key, val};
            size_t lens[] = {3, strlen(key), (size_t)n};
            s = request(conn, 0, 2, 0, 3, argv, lens);
            len_of[k] = n;
            memcpy(vals[k], val, (size_t)n);
            reply(conn, s, "+OK\r\n", TRACE_R_SIMPLE, 0, 2, 0, NULL, 0);
        } else if (op < 80) {
            snprintf(key, sizeof key, "cache:item:%d", k);
            const char *argv[] = {"GET", key};
            s = request(conn, 0, 2, 0, 2, argv, NULL);
            if (len_of[k]) {
                snprintf(wire, sizeof wire, "$%d\r\n%.*s\r\n", len_of[k], len_of[k], vals[k]);
                reply(conn, s, wire, TRACE_R_BULK, 0, (uint64_t)len_of[k], 0, NULL, 0);
            } else {
                reply(conn, s, "$-1\r\n", TRACE_R_NULL, 0, 0, 0, NULL, TRACE_REPLY_NULL_BULK);
            }
        } else if (op < 90) {
            snprintf(key, sizeof key, "cache:hits:%d", k);
            const char *argv[] = {"INCR", key};
            s = request(conn, 0, 2, 0, 2, argv, NULL);
            snprintf(wire, sizeof wire, ":%" PRId64 "\r\n", ++counters[k]);
            reply(conn, s, wire, TRACE_R_INTEGER, 0, 0, counters[k], NULL, 0);
        } else {
            snprintf(key, sizeof key, "cache:item:%d", k);
            const char *argv[] = {"DEL", key};
            s = request(conn, 0, 2, 0, 2, argv, NULL);
            reply(conn, s, len_of[k] ? ":1\r\n" : ":0\r\n", TRACE_R_INTEGER, 0, 0,
                  len_of[k] ? 1 : 0, NULL, 0);
            len_of[k] = 0;
        }
        now += 1000000 + (x % 2000000); /* 1-3 ms apart: chunks close on the 1 s bound */
    }
    for (int c = 1; c <= CONNS; c++)
        close_conn((uint64_t)c, TRACE_CLOSE_END);
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_traces: %s\n", err.msg);
        exit(1);
    }
    printf("wrote %s\n", path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_traces DIR\n");
        return 2;
    }
    golden(argv[1]);
    sample(argv[1]);
    return 0;
}
