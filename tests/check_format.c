/* check_format.c: unit tests of the trace file library: round trips, damage, compatibility. */
#include "check_suites.h"
#include "format_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

/* Hot loops compare thousands of fields: a passing ck_assert records its location through
 * the fork pipe each time, so they use this instead, which costs nothing until it fails. */
#define NEED(cond, ...)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------- */

static const char *tmp_dir(void)
{
    const char *d = getenv("RT_TEST_TMP");
    return d && *d ? d : "/tmp";
}

/* A fresh path under RT_TEST_TMP; the pid keeps parallel runs (and forked tests) apart. */
static void tmp_path(char *buf, size_t cap, const char *tag)
{
    static unsigned counter;
    snprintf(buf, cap, "%s/check_format_%ld_%u_%s.rtrace", tmp_dir(), (long)getpid(), counter++,
             tag);
}

static uint8_t *file_load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    NEED(f != NULL, "%s: %s", path, strerror(errno));
    NEED(fseek(f, 0, SEEK_END) == 0, "%s: seek", path);
    long n = ftell(f);
    NEED(n >= 0, "%s: tell", path);
    rewind(f);
    uint8_t *p = malloc((size_t)n + 1);
    NEED(p != NULL, "out of memory");
    NEED(fread(p, 1, (size_t)n, f) == (size_t)n, "%s: short read", path);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void file_store(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    NEED(f != NULL, "%s: %s", path, strerror(errno));
    NEED(n == 0 || fwrite(p, 1, n, f) == n, "%s: short write", path);
    NEED(fclose(f) == 0, "%s: close", path);
}

/* @return a copy of p[0..len) with ins[0..n) inserted at `at`, length in *outlen */
static uint8_t *splice_in(const uint8_t *p, size_t len, size_t at, const uint8_t *ins, size_t n,
                          size_t *outlen)
{
    uint8_t *o = malloc(len + n);
    NEED(o != NULL && at <= len, "splice at %zu of %zu", at, len);
    memcpy(o, p, at);
    memcpy(o + at, ins, n);
    memcpy(o + at + n, p + at, len - at);
    *outlen = len + n;
    return o;
}

/* ---------------------------------------------------------------------------------------
 * A seeded PRNG (splitmix64): the same seed gives the same stream on every machine.
 * ------------------------------------------------------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *g, uint64_t n)
{
    return n ? rng_next(g) % n : 0;
}

/* values of every magnitude, from 0 to UINT64_MAX */
static uint64_t rng_mag(struct rng *g)
{
    return rng_next(g) >> rng_below(g, 64);
}

static void rng_fill(struct rng *g, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng_next(g);
}

/* ---------------------------------------------------------------------------------------
 * Event lists: deep copies of what was written, to compare with what is read.
 * ------------------------------------------------------------------------------------- */

struct evlist {
    struct trace_event *ev;
    size_t n, cap;
    void **own;
    size_t nown, capown;
};

static void *el_alloc(struct evlist *l, size_t n)
{
    void *c = malloc(n ? n : 1);
    NEED(c != NULL, "out of memory");
    if (l->nown == l->capown) {
        l->capown = l->capown ? l->capown * 2 : 256;
        l->own = realloc(l->own, l->capown * sizeof *l->own);
        NEED(l->own != NULL, "out of memory");
    }
    l->own[l->nown++] = c;
    return c;
}

static void *el_copy(struct evlist *l, const void *p, size_t n)
{
    void *c = el_alloc(l, n);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Appends a deep copy of `src`. @return the copy, valid until the next el_add. */
static struct trace_event *el_add(struct evlist *l, const struct trace_event *src)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->ev = realloc(l->ev, l->cap * sizeof *l->ev);
        NEED(l->ev != NULL, "out of memory");
    }
    struct trace_event *e = &l->ev[l->n++];
    *e = *src;
    switch (src->type) {
    case TRACE_EV_REQUEST: {
        uint32_t argc = src->u.req.argc;
        const char **argv = el_alloc(l, argc * sizeof *argv);
        size_t *lens = el_alloc(l, argc * sizeof *lens);
        for (uint32_t i = 0; i < argc; i++) {
            argv[i] = el_copy(l, src->u.req.argv[i], src->u.req.argvlen[i]);
            lens[i] = src->u.req.argvlen[i];
        }
        e->u.req.argv = argv;
        e->u.req.argvlen = lens;
        break;
    }
    case TRACE_EV_REPLY:
    case TRACE_EV_PUSH:
        if (src->u.reply.err)
            e->u.reply.err = el_copy(l, src->u.reply.err, src->u.reply.errlen);
        if (src->u.reply.payload)
            e->u.reply.payload = el_copy(l, src->u.reply.payload, src->u.reply.payload_len);
        break;
    case TRACE_EV_NOTE:
        if (src->u.note.text)
            e->u.note.text = el_copy(l, src->u.note.text, src->u.note.len);
        break;
    default: break;
    }
    return e;
}

static void el_free(struct evlist *l)
{
    for (size_t i = 0; i < l->nown; i++)
        free(l->own[i]);
    free(l->own);
    free(l->ev);
    memset(l, 0, sizeof *l);
}

static struct trace_event ev_make(uint8_t type, uint64_t ts, uint64_t conn)
{
    struct trace_event e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.ts = ts;
    e.conn = conn;
    return e;
}

/* ---------------------------------------------------------------------------------------
 * Comparing a written event with a read one. The writer normalises a few inputs, which the
 * comparison applies to the written side: unknown address families become 0 and only the
 * family's address bytes are kept; HAS_PAYLOAD without a payload is dropped; the hash is
 * kept only with HAS_HASH; a PUSH answers no request.
 * ------------------------------------------------------------------------------------- */

static int bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int addr_eq(const struct trace_addr *w, const struct trace_addr *g)
{
    uint8_t fam = (w->family == 4 || w->family == 6) ? w->family : 0;
    size_t alen = fam == 4 ? 4 : fam == 6 ? 16 : 0;
    uint8_t want[16] = {0};
    memcpy(want, w->addr, alen);
    return g->family == fam && g->port == w->port && memcmp(g->addr, want, 16) == 0;
}

static const char *reply_diff(uint8_t type, const struct trace_reply *w,
                              const struct trace_reply *g)
{
    uint32_t flags = w->flags;
    if (!w->payload)
        flags &= ~TRACE_REPLY_HAS_PAYLOAD;
    if (g->req_seq != (type == TRACE_EV_REPLY ? w->req_seq : TRACE_SEQ_NONE))
        return "reply.req_seq";
    if (g->rtype != w->rtype)
        return "reply.rtype";
    if (g->flags != flags)
        return "reply.flags";
    if (g->len != w->len)
        return "reply.len";
    if (g->count != w->count)
        return "reply.count";
    if (g->size != w->size)
        return "reply.size";
    if (g->ival != w->ival)
        return "reply.ival";
    if (g->hash != ((flags & TRACE_REPLY_HAS_HASH) ? w->hash : 0))
        return "reply.hash";
    if (!bytes_eq(w->err, w->err ? w->errlen : 0, g->err, g->errlen))
        return "reply.err";
    if (flags & TRACE_REPLY_HAS_PAYLOAD) {
        if (!bytes_eq(w->payload, w->payload_len, g->payload, g->payload_len))
            return "reply.payload";
    } else if (g->payload != NULL || g->payload_len != 0) {
        return "reply.payload (none written)";
    }
    return NULL;
}

static const char *req_diff(const struct trace_request *w, const struct trace_request *g)
{
    if (g->seq != w->seq)
        return "req.seq";
    if (g->db != w->db)
        return "req.db";
    if (g->proto != w->proto)
        return "req.proto";
    if (g->flags != w->flags)
        return "req.flags";
    if (g->argc != w->argc)
        return "req.argc";
    for (uint32_t i = 0; i < w->argc; i++)
        if (!bytes_eq(w->argv[i], w->argvlen[i], g->argv[i], g->argvlen[i]))
            return "req.argv";
    return NULL;
}

/* @return NULL when `g` is what reading `w` back must give, else the first differing field */
static const char *ev_diff(const struct trace_event *w, const struct trace_event *g)
{
    if (g->type != w->type)
        return "type";
    if (g->ts != w->ts)
        return "ts";
    if (g->conn != w->conn)
        return "conn";
    switch (w->type) {
    case TRACE_EV_CONN_OPEN:
        if (g->u.open.flags != w->u.open.flags)
            return "open.flags";
        if (!addr_eq(&w->u.open.client, &g->u.open.client))
            return "open.client";
        if (!addr_eq(&w->u.open.server, &g->u.open.server))
            return "open.server";
        return NULL;
    case TRACE_EV_CONN_CLOSE: return g->u.close.reason != w->u.close.reason ? "close.reason" : NULL;
    case TRACE_EV_REQUEST: return req_diff(&w->u.req, &g->u.req);
    case TRACE_EV_REPLY:
    case TRACE_EV_PUSH: return reply_diff(w->type, &w->u.reply, &g->u.reply);
    case TRACE_EV_GAP:
        if (g->u.gap.dir != w->u.gap.dir)
            return "gap.dir";
        return g->u.gap.bytes != w->u.gap.bytes ? "gap.bytes" : NULL;
    case TRACE_EV_STATS: {
        const struct trace_stats *a = &w->u.stats, *b = &g->u.stats;
        if (a->packets != b->packets || a->bytes != b->bytes)
            return "stats.packets/bytes";
        if (a->kernel_drops != b->kernel_drops || a->iface_drops != b->iface_drops)
            return "stats.drops";
        if (a->flows_dropped != b->flows_dropped || a->bytes_dropped != b->bytes_dropped)
            return "stats.flows/bytes_dropped";
        return NULL;
    }
    case TRACE_EV_NOTE:
        if (g->u.note.dir != w->u.note.dir)
            return "note.dir";
        if (g->u.note.code != w->u.note.code)
            return "note.code";
        if (!bytes_eq(w->u.note.text, w->u.note.text ? w->u.note.len : 0, g->u.note.text,
                      g->u.note.len))
            return "note.text";
        return NULL;
    default: return "unknown type written";
    }
}

/* ---------------------------------------------------------------------------------------
 * Writing and reading helpers
 * ------------------------------------------------------------------------------------- */

static struct trace_writer *wopen(const char *path, const struct trace_meta_kv *meta, size_t nmeta,
                                  const struct trace_writer_opts *o)
{
    struct rt_err err = {0};
    struct trace_writer *w = trace_writer_open(path, meta, nmeta, o, &err);
    NEED(w != NULL, "trace_writer_open(%s): %d %s", path, err.code, err.msg);
    return w;
}

/* Adds l->ev[from..to); the writer stores each request's seq into the list. */
static void write_range(struct trace_writer *w, struct evlist *l, size_t from, size_t to)
{
    struct rt_err err = {0};
    for (size_t i = from; i < to; i++) {
        int rc = trace_writer_add(w, &l->ev[i], &err);
        NEED(rc == 0, "trace_writer_add(event %zu): %d %s", i, rc, err.msg);
    }
}

static void wflush(struct trace_writer *w)
{
    struct rt_err err = {0};
    int rc = trace_writer_flush(w, &err);
    NEED(rc == 0, "trace_writer_flush: %d %s", rc, err.msg);
}

static void wclose(struct trace_writer *w)
{
    struct rt_err err = {0};
    int rc = trace_writer_close(w, &err);
    NEED(rc == 0, "trace_writer_close: %d %s", rc, err.msg);
}

static void write_file(const char *path, struct evlist *l, const struct trace_writer_opts *o)
{
    struct trace_writer *w = wopen(path, NULL, 0, o);
    write_range(w, l, 0, l->n);
    wclose(w);
}

static struct trace_reader *ropen(const char *path, int salvage)
{
    struct trace_reader_opts o = {0};
    o.salvage = salvage;
    struct rt_err err = {0};
    struct trace_reader *r = trace_reader_open(path, &o, &err);
    NEED(r != NULL, "trace_reader_open(%s): %d %s", path, err.code, err.msg);
    return r;
}

static struct trace_reader *ropen_mem(const void *p, size_t n, const char *name, int salvage)
{
    struct trace_reader_opts o = {0};
    o.salvage = salvage;
    struct rt_err err = {0};
    struct trace_reader *r = trace_reader_open_mem(p, n, name, &o, &err);
    NEED(r != NULL, "trace_reader_open_mem(%s): %d %s", name, err.code, err.msg);
    return r;
}

/* Reads exactly want->ev[from..to) from `r`, failing on the first difference. */
static void read_range(struct trace_reader *r, const struct evlist *want, size_t from, size_t to)
{
    struct trace_event ev;
    struct rt_err err = {0};
    for (size_t i = from; i < to; i++) {
        int rc = trace_reader_next(r, &ev, &err);
        NEED(rc == 1, "event %zu of %zu: expected an event, got %d (%s)", i, to, rc,
             rc < 0 ? err.msg : "end");
        const char *d = ev_diff(&want->ev[i], &ev);
        NEED(d == NULL, "event %zu (%s): %s differs", i, trace_ev_type_name(want->ev[i].type), d);
    }
}

/* @return the code that ends a read (0 or negative); one more event fails the test */
static int read_end(struct trace_reader *r, struct rt_err *err)
{
    struct trace_event ev;
    int rc = trace_reader_next(r, &ev, err);
    NEED(rc != 1, "an event more than expected: type %u ts %llu", ev.type,
         (unsigned long long)ev.ts);
    return rc;
}

static void need_msg_names(const char *msg, const char *a, const char *b)
{
    NEED(strstr(msg, a) != NULL, "message \"%s\" does not contain \"%s\"", msg, a);
    NEED(b == NULL || strstr(msg, b) != NULL, "message \"%s\" does not contain \"%s\"", msg, b);
}

/* The message names `off` as "offset N" (N not followed by another digit). */
static void need_msg_offset(const char *msg, uint64_t off)
{
    char want[48];
    int n = snprintf(want, sizeof want, "offset %llu", (unsigned long long)off);
    for (const char *p = strstr(msg, want); p; p = strstr(p + 1, want))
        if (p[n] < '0' || p[n] > '9')
            return;
    ck_abort_msg("message \"%s\" does not name offset %llu", msg, (unsigned long long)off);
}

/* Writes `l` with `o` to a file, reads it back from the file and from memory, and compares
 * every event; the read must end cleanly with totals matching. */
static void roundtrip(struct evlist *l, const struct trace_writer_opts *o)
{
    char path[512];
    tmp_path(path, sizeof path, "rt");
    write_file(path, l, o);

    size_t len;
    uint8_t *buf = file_load(path, &len);
    for (int mem = 0; mem < 2; mem++) {
        struct trace_reader *r = mem ? ropen_mem(buf, len, path, 0) : ropen(path, 0);
        struct rt_err err = {0};
        read_range(r, l, 0, l->n);
        int rc = read_end(r, &err);
        NEED(rc == 0, "clean end expected, got %d (%s)", rc, err.msg);
        NEED(trace_reader_has_index(r) == 1, "closed file without index");
        struct trace_totals t;
        trace_reader_totals(r, &t);
        NEED(t.events == l->n, "totals: %llu events, %zu written", (unsigned long long)t.events,
             l->n);
        trace_reader_close(r);
    }
    free(buf);
    unlink(path);
}

/* ---- walking a file's blocks with the layout of format_int.h ---- */

struct blk {
    uint64_t off, end; /* the block, and for a chunk its frame too */
    uint8_t type;
    uint32_t events;
    uint16_t flags; /* a chunk's: TRACE_CHUNK_DEPENDS */
};

static struct blk *walk_blocks(const uint8_t *p, size_t len, size_t *n)
{
    size_t cap = 64, k = 0;
    struct blk *b = malloc(cap * sizeof *b);
    uint64_t off = 0;
    while (off < len) {
        NEED(off + TRACE_ENVELOPE + 1 <= len && rt_rd32(p + off) == TRACE_BLOCK_MAGIC,
             "no block at offset %llu", (unsigned long long)off);
        struct blk x = {off, off + TRACE_ENVELOPE + rt_rd32(p + off + 4), p[off + 8], 0, 0};
        if (x.type == TRACE_BLK_CHUNK) {
            x.events = rt_rd32(p + off + TRACE_ENVELOPE + 4);
            x.flags = rt_rd16(p + off + TRACE_ENVELOPE + 2);
            x.end += rt_rd32(p + off + TRACE_ENVELOPE + 40);
        }
        NEED(x.end <= len, "block at offset %llu overruns the file", (unsigned long long)off);
        if (k == cap) {
            cap *= 2;
            b = realloc(b, cap * sizeof *b);
        }
        NEED(b != NULL, "out of memory");
        b[k++] = x;
        off = x.end;
    }
    *n = k;
    return b;
}

/* the i-th chunk block of a walk, or NULL */
static const struct blk *nth_chunk(const struct blk *b, size_t n, size_t i)
{
    for (size_t k = 0; k < n; k++)
        if (b[k].type == TRACE_BLK_CHUNK && i-- == 0)
            return &b[k];
    return NULL;
}

/* events in the i-th chunk and the chunks after it that depend on it (encoding 2): what is
 * lost when the i-th chunk is damaged */
static size_t chain_rest(const struct blk *b, size_t n, size_t i)
{
    size_t e = nth_chunk(b, n, i)->events;
    for (const struct blk *c; (c = nth_chunk(b, n, ++i)) && (c->flags & TRACE_CHUNK_DEPENDS);)
        e += c->events;
    return e;
}

/* events in the chunks that end at or before `cut` */
static size_t events_before(const struct blk *b, size_t n, uint64_t cut)
{
    size_t e = 0;
    for (size_t k = 0; k < n; k++)
        if (b[k].type == TRACE_BLK_CHUNK && b[k].end <= cut)
            e += b[k].events;
    return e;
}

/* ---- random event streams ---- */

static const uint8_t reply_types[] = {
    TRACE_R_SIMPLE, TRACE_R_ERROR,  TRACE_R_INTEGER, TRACE_R_BULK,       TRACE_R_ARRAY,
    TRACE_R_NULL,   TRACE_R_DOUBLE, TRACE_R_BOOLEAN, TRACE_R_BLOB_ERROR, TRACE_R_VERBATIM,
    TRACE_R_BIGNUM, TRACE_R_MAP,    TRACE_R_SET,     TRACE_R_ATTRIBUTE,  TRACE_R_PUSH};

struct gen {
    struct rng g;
    uint64_t ts, nreq;
    uint64_t conns[8];
    int monotonic;
    /* repeat: command names, keys and replies come back, as in real traffic, so that the
     * tables of chunk encoding 2 are used (random fields almost never repeat) */
    int repeat;
    struct trace_reply rpool[32];
    size_t nrpool;
};

static void gen_init(struct gen *s, uint64_t seed, int monotonic)
{
    memset(s, 0, sizeof *s);
    s->g.s = seed;
    s->ts = 1700000000000000000ull + rng_below(&s->g, 1000000000);
    s->monotonic = monotonic;
    s->conns[0] = 0;
    s->conns[1] = UINT64_MAX;
    s->conns[2] = 1;
    for (int i = 3; i < 8; i++)
        s->conns[i] = rng_mag(&s->g);
}

static void gen_addr(struct rng *g, struct trace_addr *a)
{
    static const uint8_t fams[] = {4, 6, 0, 4};
    a->family = fams[rng_below(g, NELEM(fams))];
    rng_fill(g, a->addr, sizeof a->addr);
    a->port = (uint16_t)rng_next(g);
}

static void gen_reply(struct gen *s, struct trace_reply *p, uint8_t *pool, size_t *used)
{
    struct rng *g = &s->g;
    p->req_seq = TRACE_SEQ_NONE;
    if (s->nreq && rng_below(g, 8) != 0)
        p->req_seq = rng_below(g, 4) ? s->nreq - 1 - rng_below(g, s->nreq < 50 ? s->nreq : 50)
                                     : rng_below(g, s->nreq);
    if (s->repeat && s->nrpool && rng_below(g, 4) != 0) {
        uint64_t seq = p->req_seq;
        *p = s->rpool[rng_below(g, s->nrpool)];
        p->req_seq = seq;
        return;
    }
    p->rtype = reply_types[rng_below(g, NELEM(reply_types))];
    p->flags = (uint32_t)rng_below(g, 64);
    p->len = rng_mag(g);
    p->count = rng_mag(g);
    p->size = rng_mag(g);
    p->ival = (int64_t)rng_next(g) >> rng_below(g, 64);
    p->hash = rng_next(g);
    if (rng_below(g, 4) == 0) {
        p->errlen = (size_t)rng_below(g, 40);
        p->err = (const char *)pool + *used;
        rng_fill(g, pool + *used, p->errlen);
        *used += p->errlen;
    }
    if (rng_below(g, 3) == 0) {
        p->payload_len = (size_t)rng_below(g, 120);
        p->payload = pool + *used;
        rng_fill(g, pool + *used, p->payload_len);
        *used += p->payload_len;
    }
    if (s->repeat && !p->err && !p->payload) {
        /* a few small values, as real replies have (OK, 0, 1, a cached value) */
        p->len = rng_below(g, 4);
        p->ival = (int64_t)rng_below(g, 3);
        s->rpool[s->nrpool < NELEM(s->rpool) ? s->nrpool++ : rng_below(g, NELEM(s->rpool))] = *p;
    }
}

/* Repeat mode's j-th command name (kind 0) or key (kind 1): the same bytes every time. Keys
 * are up to 39 bytes, and now and then just below, at or above the longest string a table
 * holds. */
static size_t gen_pooled(uint8_t *dst, unsigned kind, unsigned j)
{
    struct rng g = {0x9e3779b9u + kind * 1000003u + j};
    size_t n = kind == 0 ? 3 + j % 5 : j % 61 == 0 ? TRACE_TAB_MAX_STR + j % 3 - 1 : j % 40;
    rng_fill(&g, dst, n);
    return n;
}

static void gen_request(struct gen *s, struct trace_request *q, const char **argv, size_t *argvlen,
                        uint8_t *pool, size_t *used)
{
    struct rng *g = &s->g;
    q->db = rng_below(g, 20) ? (uint32_t)rng_below(g, 16) : UINT32_MAX;
    q->proto = rng_below(g, 2) ? 3 : 2;
    q->flags = (uint32_t)rng_below(g, 64);
    q->argc = rng_below(g, 50) ? 1 + (uint32_t)rng_below(g, 5) : 1 + (uint32_t)rng_below(g, 200);
    int long_done = 0;
    for (uint32_t i = 0; i < q->argc; i++) {
        argv[i] = (const char *)pool + *used;
        if (s->repeat && i < 2 && rng_below(g, 8) != 0) {
            argvlen[i] = gen_pooled(pool + *used, i, (unsigned)rng_below(g, i ? 300 : 12));
            *used += argvlen[i];
            continue;
        }
        size_t n = (size_t)rng_below(g, 24);
        if (!long_done && rng_below(g, 100) == 0) {
            n = (size_t)rng_below(g, 5000);
            long_done = 1;
        }
        argvlen[i] = n;
        rng_fill(g, pool + *used, n);
        *used += n;
    }
    q->argv = argv;
    q->argvlen = argvlen;
    s->nreq++;
}

/* Appends one random event of any type to `l`. */
static void gen_event(struct gen *s, struct evlist *l)
{
    static uint8_t pool[1 << 16];
    const char *argv[256];
    size_t argvlen[256], used = 0;
    struct rng *g = &s->g;
    if (!s->monotonic && rng_below(g, 16) == 0)
        s->ts -= rng_below(g, 50000000);
    else
        s->ts += rng_below(g, 2000000);
    struct trace_event e = ev_make(0, s->ts, s->conns[rng_below(g, 8)]);
    unsigned k = (unsigned)rng_below(g, 100);
    if (k < 35) {
        e.type = TRACE_EV_REQUEST;
        gen_request(s, &e.u.req, argv, argvlen, pool, &used);
    } else if (k < 70) {
        e.type = TRACE_EV_REPLY;
        gen_reply(s, &e.u.reply, pool, &used);
    } else if (k < 75) {
        e.type = TRACE_EV_PUSH;
        gen_reply(s, &e.u.reply, pool, &used);
    } else if (k < 80) {
        e.type = TRACE_EV_CONN_OPEN;
        gen_addr(g, &e.u.open.client);
        gen_addr(g, &e.u.open.server);
        e.u.open.flags = (uint32_t)rng_below(g, 4);
    } else if (k < 85) {
        e.type = TRACE_EV_CONN_CLOSE;
        e.u.close.reason = (uint32_t)rng_below(g, 6);
    } else if (k < 90) {
        e.type = TRACE_EV_GAP;
        e.u.gap.dir = (uint8_t)rng_below(g, 2);
        e.u.gap.bytes = rng_mag(g);
    } else if (k < 95) {
        e.type = TRACE_EV_STATS;
        e.u.stats = (struct trace_stats){rng_mag(g), rng_mag(g), rng_mag(g),
                                         rng_mag(g), rng_mag(g), rng_mag(g)};
    } else {
        e.type = TRACE_EV_NOTE;
        e.u.note.dir = (uint8_t)rng_below(g, 2);
        e.u.note.code = (uint32_t)rng_mag(g);
        e.u.note.len = (size_t)rng_below(g, 60);
        e.u.note.text = (const char *)pool;
        rng_fill(g, pool, e.u.note.len);
    }
    el_add(l, &e);
}

static void gen_stream(struct evlist *l, uint64_t seed, size_t n, int monotonic)
{
    struct gen s;
    gen_init(&s, seed, monotonic);
    for (size_t i = 0; i < n; i++)
        gen_event(&s, l);
}

/* As gen_stream(), with names, keys and replies that repeat. */
static void gen_stream_rep(struct evlist *l, uint64_t seed, size_t n, int monotonic)
{
    struct gen s;
    gen_init(&s, seed, monotonic);
    s.repeat = 1;
    for (size_t i = 0; i < n; i++)
        gen_event(&s, l);
}

/* ---- hand-made blocks (forward compatibility) ---- */

struct stream_spec {
    uint64_t id;
    const void *p;
    size_t n;
};

struct chunk_spec {
    uint8_t encoding;
    uint32_t events;
    uint64_t ts_min, ts_max, req_base;
    uint32_t req_count;
    uint32_t raw_size; /* 0: the payload's true size */
    uint16_t flags;
};

/* Builds a chunk (header block and frame) around the payload raw[0..rawlen), compressed as
 * one frame. @return the bytes (caller frees), length in *len. */
/* hand_chunk_raw(): when nonzero, the payload is two frames, the second from this offset on
 * (each declaring its content size, as the library's writer does); hand_bad_second: the
 * second frame has a content checksum, and it is wrong */
static size_t hand_split;
static int hand_bad_second;

static uint8_t *hand_chunk_raw(const uint8_t *raw, size_t rawlen, const struct chunk_spec *cs,
                               size_t *len)
{
    size_t bound = ZSTD_compressBound(rawlen) + 64;
    size_t hdr = TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT;
    uint8_t *o = malloc(hdr + bound);
    NEED(o != NULL, "out of memory");
    size_t clen;
    if (hand_split && hand_split < rawlen) {
        size_t a = ZSTD_compress(o + hdr, bound, raw, hand_split, 3);
        NEED(!ZSTD_isError(a), "ZSTD_compress failed");
        ZSTD_CCtx *z = ZSTD_createCCtx();
        NEED(z && !ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, hand_bad_second)),
             "zstd context");
        size_t b = ZSTD_compress2(z, o + hdr + a, bound - a, raw + hand_split, rawlen - hand_split);
        NEED(!ZSTD_isError(b), "ZSTD_compress2 failed");
        ZSTD_freeCCtx(z);
        if (hand_bad_second)
            o[hdr + a + b - 1] ^= 0x5a; /* the checksum's last byte */
        clen = a + b;
    } else {
        clen = ZSTD_compress(o + hdr, bound, raw, rawlen, 3);
        NEED(!ZSTD_isError(clen), "ZSTD_compress failed");
    }
    uint8_t *c = o + TRACE_ENVELOPE;
    rt_le32(o, TRACE_BLOCK_MAGIC);
    rt_le32(o + 4, TRACE_CHUNK_HDR_CONTENT);
    c[0] = TRACE_BLK_CHUNK;
    c[1] = cs->encoding;
    rt_le16(c + 2, cs->flags);
    rt_le32(c + 4, cs->events);
    rt_le64(c + 8, cs->ts_min);
    rt_le64(c + 16, cs->ts_max);
    rt_le64(c + 24, cs->req_base);
    rt_le32(c + 32, cs->req_count);
    rt_le32(c + 36, cs->raw_size ? cs->raw_size : (uint32_t)rawlen);
    rt_le32(c + 40, (uint32_t)clen);
    rt_le64(c + 44, trace_hash(o + hdr, clen));
    rt_le32(c + 52, rt_check32(c, 52));
    *len = hdr + clen;
    return o;
}

/* As hand_chunk() with an encoding-2 preamble (pre[0..npre)) in front of the directory. */
static uint8_t *hand_chunk_pre(const uint8_t *pre, size_t npre, const struct stream_spec *s,
                               size_t ns, const struct chunk_spec *cs, size_t *len)
{
    struct rt_buf raw = {0};
    NEED(rt_put_bytes(&raw, pre, npre) == 0, "out of memory");
    NEED(rt_put_varint(&raw, ns) == 0, "out of memory");
    for (size_t i = 0; i < ns; i++)
        NEED(rt_put_varint(&raw, s[i].id) == 0 && rt_put_varint(&raw, s[i].n) == 0, "oom");
    for (size_t i = 0; i < ns; i++)
        NEED(rt_put_bytes(&raw, s[i].p, s[i].n) == 0, "out of memory");
    uint8_t *o = hand_chunk_raw(raw.p, raw.len, cs, len);
    rt_buf_free(&raw);
    return o;
}

/* As hand_chunk_raw() with the payload format_int.h describes: the directory (count, then
 * id and length pairs), then the streams in that order. */
static uint8_t *hand_chunk(const struct stream_spec *s, size_t ns, const struct chunk_spec *cs,
                           size_t *len)
{
    struct rt_buf raw = {0};
    NEED(rt_put_varint(&raw, ns) == 0, "out of memory");
    for (size_t i = 0; i < ns; i++)
        NEED(rt_put_varint(&raw, s[i].id) == 0 && rt_put_varint(&raw, s[i].n) == 0, "oom");
    for (size_t i = 0; i < ns; i++)
        NEED(rt_put_bytes(&raw, s[i].p, s[i].n) == 0, "out of memory");
    uint8_t *o = hand_chunk_raw(raw.p, raw.len, cs, len);
    rt_buf_free(&raw);
    return o;
}

static void put_vars(struct rt_buf *b, const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        NEED(rt_put_varint(b, v[i]) == 0, "out of memory");
}

/* A file of two chunks, A then B, written by the library. @return its bytes; `l` gets A+B
 * and *na the number of events in A. */
static uint8_t *two_chunk_file(struct evlist *l, size_t *na, size_t *len)
{
    char path[512];
    tmp_path(path, sizeof path, "two");
    gen_stream(l, 77, 40, 1);
    *na = 20;
    struct trace_meta_kv meta[] = {{"host", "a", 1}};
    struct trace_writer *w = wopen(path, meta, 1, NULL);
    write_range(w, l, 0, 20);
    wflush(w);
    write_range(w, l, 20, 40);
    wclose(w);
    uint8_t *buf = file_load(path, len);
    unlink(path);
    return buf;
}

/* Reads `buf` and expects want[0..n) then a clean end. */
static void expect_mem(const uint8_t *buf, size_t len, const struct evlist *want)
{
    struct trace_reader *r = ropen_mem(buf, len, "spliced", 0);
    struct rt_err err = {0};
    read_range(r, want, 0, want->n);
    int rc = read_end(r, &err);
    NEED(rc == 0, "clean end expected, got %d (%s)", rc, err.msg);
    struct trace_damage d;
    trace_reader_damage(r, &d);
    NEED(d.first_offset == UINT64_MAX && d.chunks_skipped == 0, "damage reported: %s", d.msg);
    trace_reader_close(r);
}

/* ---------------------------------------------------------------------------------------
 * 1. Round trips of every event type and field
 * ------------------------------------------------------------------------------------- */

static const struct trace_writer_opts opts_default = {0};
static const struct trace_writer_opts opts_one = {.chunk_events = 1};
static const struct trace_writer_opts opts_three = {.chunk_events = 3};

static void roundtrip_variants(struct evlist *l)
{
    roundtrip(l, &opts_default);
    roundtrip(l, &opts_one);
    roundtrip(l, &opts_three);
}

/* rt_cur_varint's one- and two-byte paths and its loop agree with the writer on every length,
 * and every cut of an encoding (a stream ending inside it) is an error that leaves nothing read
 * past the end; an 11-byte run of continuation bytes is refused. */
START_TEST(test_format_varint_paths)
{
    uint64_t vals[] = {0, 1, 0x7f, 0x80, 0xff, 0x3fff, 0x4000, 0x1fffff, 0x200000,
                       UINT32_MAX, (uint64_t)1 << 56, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        struct rt_buf b = {0};
        ck_assert_int_eq(rt_put_varint(&b, vals[i]), 0);
        ck_assert_int_eq(rt_put_u8(&b, 0x5a), 0); /* a byte after it: not consumed */
        size_t n = b.len - 1;
        /* the number of 7-bit groups the value needs */
        size_t want = 1;
        for (uint64_t v = vals[i] >> 7; v; v >>= 7)
            want++;
        ck_assert_uint_eq(n, want);
        struct rt_cur c = {b.p, b.p + b.len};
        uint64_t out = 12345;
        ck_assert_int_eq(rt_cur_varint(&c, &out), 0);
        ck_assert_uint_eq(out, vals[i]);
        ck_assert_ptr_eq(c.p, b.p + n);
        for (size_t cut = 0; cut < n; cut++) {
            struct rt_cur t = {b.p, b.p + cut};
            ck_assert_int_eq(rt_cur_varint(&t, &out), -1);
            ck_assert(t.p <= b.p + cut);
        }
        rt_buf_free(&b);
    }
    uint8_t runon[12];
    memset(runon, 0x80, sizeof runon);
    runon[11] = 0x01;
    struct rt_cur c = {runon, runon + sizeof runon};
    uint64_t out;
    ck_assert_int_eq(rt_cur_varint(&c, &out), -1);
}
END_TEST

START_TEST(test_format_roundtrip_conn_open)
{
    struct evlist l = {0};
    static const uint8_t v4a[4] = {10, 0, 0, 1}, v4b[4] = {127, 0, 0, 1};
    static const uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0,
                                    0,    0,    0,    0,    0, 0, 0xff, 0x01};
    static const uint8_t v6b[16] = {[15] = 1};
    struct trace_event e = ev_make(TRACE_EV_CONN_OPEN, 1000, 1);

    e.u.open.client.family = 4;
    memcpy(e.u.open.client.addr, v4a, 4);
    e.u.open.client.port = 51234;
    e.u.open.server.family = 4;
    memcpy(e.u.open.server.addr, v4b, 4);
    e.u.open.server.port = 6379;
    el_add(&l, &e);

    e.conn = 2;
    e.u.open.flags = TRACE_OPEN_MIDSTREAM;
    e.u.open.client.family = 6;
    memcpy(e.u.open.client.addr, v6a, 16);
    e.u.open.client.port = 0;
    e.u.open.server.family = 6;
    memcpy(e.u.open.server.addr, v6b, 16);
    e.u.open.server.port = 65535;
    el_add(&l, &e);

    /* family 0 (unknown): no address bytes are stored, so they read back as zeros */
    e.conn = 3;
    e.u.open.flags = TRACE_OPEN_TLS;
    e.u.open.client.family = 0;
    memset(e.u.open.client.addr, 0xff, 16);
    e.u.open.client.port = 1;
    e.u.open.server.family = 0;
    memset(e.u.open.server.addr, 0, 16);
    e.u.open.server.port = 2;
    el_add(&l, &e);

    /* IPv4 keeps only its 4 bytes; a family the format does not know is stored as 0 */
    e.conn = 4;
    e.u.open.flags = TRACE_OPEN_MIDSTREAM | TRACE_OPEN_TLS | 0x80000000u;
    e.u.open.client.family = 4;
    memset(e.u.open.client.addr, 0xee, 16);
    e.u.open.server.family = 7;
    memcpy(e.u.open.server.addr, v6a, 16);
    el_add(&l, &e);

    roundtrip_variants(&l);

    /* the normalisation above is what the comparison expects; check it once by hand */
    char path[512];
    tmp_path(path, sizeof path, "open");
    write_file(path, &l, NULL);
    struct trace_reader *r = ropen(path, 0);
    struct trace_event got;
    struct rt_err err = {0};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(trace_reader_next(r, &got, &err), 1);
    ck_assert_uint_eq(got.u.open.client.family, 4);
    ck_assert_mem_eq(got.u.open.client.addr, "\xee\xee\xee\xee\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    ck_assert_uint_eq(got.u.open.server.family, 0);
    ck_assert_uint_eq(got.u.open.flags, TRACE_OPEN_MIDSTREAM | TRACE_OPEN_TLS | 0x80000000u);
    trace_reader_close(r);
    unlink(path);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_conn_close)
{
    struct evlist l = {0};
    static const uint32_t reasons[] = {TRACE_CLOSE_FIN,
                                       TRACE_CLOSE_RST,
                                       TRACE_CLOSE_IDLE,
                                       TRACE_CLOSE_END,
                                       TRACE_CLOSE_LIMIT,
                                       TRACE_CLOSE_CLIENT_QUIT,
                                       99,
                                       UINT32_MAX};
    for (size_t i = 0; i < NELEM(reasons); i++) {
        struct trace_event e = ev_make(TRACE_EV_CONN_CLOSE, 5000 + i, 10 + i);
        e.u.close.reason = reasons[i];
        el_add(&l, &e);
    }
    roundtrip_variants(&l);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_request_fields)
{
    struct evlist l = {0};
    static const uint32_t dbs[] = {0, 1, 15, 65535, UINT32_MAX};
    static const uint32_t flagsets[] = {0,
                                        TRACE_REQ_INLINE,
                                        TRACE_REQ_REDACTED,
                                        TRACE_REQ_VALUES_REDACTED,
                                        TRACE_REQ_NOREPLY,
                                        TRACE_REQ_TRUNCATED,
                                        TRACE_REQ_AFTER_GAP,
                                        0x3f,
                                        UINT32_MAX};
    /* argument sets: binary bytes, NUL and 0xff, empty arguments in every position */
    static const char *const a1[] = {"PING"};
    static const char *const a2[] = {"GET", "k\0\xff"};
    static const char *const a3[] = {"SET", "", "\0\0\xff\xff"};
    static const char *const a4[] = {"", "x"};
    static const char *const a5[] = {"", "", ""};
    static const char *const a6[] = {"\xff", "\0", "MSET", "", "v\r\n"};
    static const size_t l1[] = {4}, l2[] = {3, 3}, l3[] = {3, 0, 4}, l4[] = {0, 1},
                        l5[] = {0, 0, 0}, l6[] = {1, 1, 4, 0, 3};
    static const struct {
        const char *const *argv;
        const size_t *len;
        uint32_t argc;
    } sets[] = {{a1, l1, 1}, {a2, l2, 2}, {a3, l3, 3}, {a4, l4, 2}, {a5, l5, 3}, {a6, l6, 5}};
    size_t k = 0;
    for (size_t d = 0; d < NELEM(dbs); d++)
        for (uint8_t proto = 2; proto <= 3; proto++)
            for (size_t f = 0; f < NELEM(flagsets); f++, k++) {
                struct trace_event e = ev_make(TRACE_EV_REQUEST, 1000 + k, k % 7);
                e.u.req.db = dbs[d];
                e.u.req.proto = proto;
                e.u.req.flags = flagsets[f];
                e.u.req.argc = sets[k % NELEM(sets)].argc;
                e.u.req.argv = sets[k % NELEM(sets)].argv;
                e.u.req.argvlen = sets[k % NELEM(sets)].len;
                e.u.req.seq = 12345; /* assigned by the writer */
                el_add(&l, &e);
            }
    roundtrip(&l, &opts_default);
    /* the writer numbers requests from 0 in the order they were added */
    for (size_t i = 0; i < l.n; i++)
        NEED(l.ev[i].u.req.seq == i, "request %zu got seq %llu", i,
             (unsigned long long)l.ev[i].u.req.seq);
    ck_assert_uint_eq(l.ev[l.n - 1].u.req.seq, l.n - 1);
    roundtrip(&l, &opts_three);
    el_free(&l);
}
END_TEST

static void request_with_args(struct evlist *l, uint32_t argc, size_t arglen, uint64_t seed)
{
    struct rng g = {seed};
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    uint8_t *bytes = malloc((size_t)argc * arglen + 1);
    ck_assert(argv && lens && bytes);
    rng_fill(&g, bytes, (size_t)argc * arglen);
    for (uint32_t i = 0; i < argc; i++) {
        argv[i] = (const char *)bytes + (size_t)i * arglen;
        lens[i] = i % 10 == 9 ? 0 : arglen; /* some empty ones among them */
    }
    struct trace_event e = ev_make(TRACE_EV_REQUEST, 100 + l->n, 1);
    e.u.req.proto = 2;
    e.u.req.argc = argc;
    e.u.req.argv = argv;
    e.u.req.argvlen = lens;
    el_add(l, &e);
    free(argv);
    free(lens);
    free(bytes);
}

START_TEST(test_format_roundtrip_request_many_args)
{
    struct evlist l = {0};
    request_with_args(&l, 1000, 7, 1);
    request_with_args(&l, 2, 0, 2);
    request_with_args(&l, 5000, 3, 3);
    request_with_args(&l, 1, 1, 4);
    ck_assert_uint_eq(l.ev[0].u.req.argc, 1000);
    roundtrip_variants(&l);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_request_large_arg)
{
    struct evlist l = {0};
    const size_t big = 3u << 20; /* larger than a default chunk (1 MiB) */
    uint8_t *v = malloc(big);
    ck_assert_ptr_nonnull(v);
    struct rng g = {42};
    rng_fill(&g, v, big);
    v[0] = 0;
    v[big - 1] = 0xff;
    const char *argv[] = {"SET", "key", (const char *)v};
    size_t lens[] = {3, 3, big};
    const char *argv2[] = {"GET", "key"};
    size_t lens2[] = {3, 3};

    struct trace_event e = ev_make(TRACE_EV_REQUEST, 1, 1);
    e.u.req.proto = 3;
    e.u.req.argc = 2;
    e.u.req.argv = argv2;
    e.u.req.argvlen = lens2;
    el_add(&l, &e);
    e.ts = 2;
    e.u.req.argc = 3;
    e.u.req.argv = argv;
    e.u.req.argvlen = lens;
    el_add(&l, &e);
    struct trace_event rep = ev_make(TRACE_EV_REPLY, 3, 1);
    rep.u.reply.req_seq = 1;
    rep.u.reply.rtype = TRACE_R_BULK;
    rep.u.reply.flags = TRACE_REPLY_HAS_PAYLOAD;
    rep.u.reply.payload = v;
    rep.u.reply.payload_len = big;
    rep.u.reply.size = big;
    el_add(&l, &rep);
    e.ts = 4;
    e.u.req.argc = 2;
    e.u.req.argv = argv2;
    e.u.req.argvlen = lens2;
    el_add(&l, &e);
    free(v);

    roundtrip(&l, &opts_default);
    struct trace_writer_opts small = {.chunk_bytes = 4096};
    roundtrip(&l, &small);

    /* the big events do not fit one 1 MiB chunk: the writer cut after each */
    char path[512];
    struct trace_writer_opts mib = {.chunk_bytes = 1u << 20};
    tmp_path(path, sizeof path, "big");
    write_file(path, &l, &mib);
    struct trace_reader *r = ropen(path, 0);
    struct trace_totals t;
    trace_reader_totals(r, &t);
    ck_assert_uint_ge(t.chunks, 2);
    ck_assert_uint_gt(t.raw_bytes, 2 * (uint64_t)big);
    trace_reader_close(r);
    unlink(path);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_reply_types)
{
    struct evlist l = {0};
    static const uint32_t flagsets[] = {0,
                                        TRACE_REPLY_NULL_BULK,
                                        TRACE_REPLY_NULL_ARRAY,
                                        TRACE_REPLY_HAS_HASH,
                                        TRACE_REPLY_HAS_PAYLOAD,
                                        TRACE_REPLY_ATTRIBUTED,
                                        TRACE_REPLY_AFTER_GAP,
                                        0x3f,
                                        0x3f | 0x400u};
    static const int64_t ivals[] = {0, 1, -1, INT64_MIN, INT64_MAX, -123456789};
    static const uint64_t sizes[] = {0, 1, 300, 1ull << 40, UINT64_MAX};
    static const char errmsg[] = "ERR unknown command 'FOO\0\xff', with args";
    static const uint8_t wire[] = "$5\r\nhe\0\xffo\r\n";
    const char *argv[] = {"GET", "k"};
    size_t lens[] = {3, 1};
    uint64_t seq = 0, ts = 1000;
    for (size_t t = 0; t < NELEM(reply_types); t++)
        for (size_t f = 0; f < NELEM(flagsets); f++) {
            struct trace_event q = ev_make(TRACE_EV_REQUEST, ts++, t);
            q.u.req.proto = 3;
            q.u.req.argc = 2;
            q.u.req.argv = argv;
            q.u.req.argvlen = lens;
            el_add(&l, &q);
            size_t k = t * NELEM(flagsets) + f;
            struct trace_event e = ev_make(TRACE_EV_REPLY, ts++, t);
            struct trace_reply *p = &e.u.reply;
            p->req_seq = seq++;
            p->rtype = reply_types[t];
            p->flags = flagsets[f];
            p->len = sizes[k % NELEM(sizes)];
            p->count = sizes[(k + 1) % NELEM(sizes)];
            p->size = sizes[(k + 2) % NELEM(sizes)];
            p->ival = ivals[k % NELEM(ivals)];
            p->hash = 0x0123456789abcdefull ^ k; /* stored only with HAS_HASH */
            if (reply_types[t] == TRACE_R_ERROR || reply_types[t] == TRACE_R_BLOB_ERROR ||
                k % 5 == 0) {
                p->err = errmsg;
                p->errlen = k % 3 == 0 ? 0 : sizeof errmsg - 1;
            }
            /* HAS_PAYLOAD with no payload is dropped by the writer; an empty one is kept */
            if (k % 4 != 3) {
                p->payload = wire;
                p->payload_len = k % 4 == 2 ? 0 : sizeof wire - 1;
            }
            el_add(&l, &e);
        }
    roundtrip_variants(&l);

    /* spot-check one reply read back with the flags the writer must keep or drop */
    char path[512];
    tmp_path(path, sizeof path, "reply");
    write_file(path, &l, NULL);
    struct trace_reader *r = ropen(path, 0);
    struct trace_event got;
    struct rt_err err = {0};
    size_t hashed = 0, dropped = 0;
    while (trace_reader_next(r, &got, &err) == 1) {
        if (got.type != TRACE_EV_REPLY)
            continue;
        if (got.u.reply.flags & TRACE_REPLY_HAS_HASH) {
            NEED(got.u.reply.hash >> 8 == 0x0123456789abcdull, "hash %llx",
                 (unsigned long long)got.u.reply.hash);
            hashed++;
        }
        if (!(got.u.reply.flags & TRACE_REPLY_HAS_PAYLOAD))
            dropped += got.u.reply.payload == NULL;
    }
    ck_assert_int_eq(err.code, 0);
    ck_assert_uint_gt(hashed, 0);
    ck_assert_uint_gt(dropped, 0);
    trace_reader_close(r);
    unlink(path);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_reply_pairing)
{
    struct evlist l = {0};
    const char *argv[] = {"INCR", "n"};
    size_t lens[] = {4, 1};
    uint64_t ts = 10;
    struct trace_event q = ev_make(TRACE_EV_REQUEST, 0, 5);
    q.u.req.proto = 2;
    q.u.req.argc = 2;
    q.u.req.argv = argv;
    q.u.req.argvlen = lens;
    struct trace_event e = ev_make(TRACE_EV_REPLY, 0, 5);
    e.u.reply.rtype = TRACE_R_INTEGER;

    /* unpaired replies before any request was written */
    e.ts = ts++;
    e.u.reply.req_seq = TRACE_SEQ_NONE;
    el_add(&l, &e);
    for (int i = 0; i < 40; i++) {
        q.ts = ts++;
        el_add(&l, &q);
    }
    /* replies to the first request (many chunks back with 3 events per chunk), the last,
     * out of order, and unpaired ones between them */
    static const uint64_t seqs[] = {0, 39, 38, TRACE_SEQ_NONE, 1, 20, 0, TRACE_SEQ_NONE, 39};
    for (size_t i = 0; i < NELEM(seqs); i++) {
        e.ts = ts++;
        e.u.reply.req_seq = seqs[i];
        e.u.reply.ival = -(int64_t)i;
        el_add(&l, &e);
    }
    q.ts = ts++;
    el_add(&l, &q);
    e.ts = ts++;
    e.u.reply.req_seq = 40;
    el_add(&l, &e);
    roundtrip_variants(&l);

    /* a reply to a request that was not written is refused */
    char path[512];
    tmp_path(path, sizeof path, "pair");
    struct trace_writer *w = wopen(path, NULL, 0, NULL);
    struct rt_err err = {0};
    e.u.reply.req_seq = 0;
    ck_assert_int_eq(trace_writer_add(w, &e, &err), RT_EINVAL);
    need_msg_names(err.msg, path, NULL);
    trace_writer_abort(w);
    unlink(path);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_push)
{
    struct evlist l = {0};
    static const uint8_t wire[] = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
    for (size_t t = 0; t < NELEM(reply_types); t++) {
        struct trace_event e = ev_make(TRACE_EV_PUSH, 100 + t, 9);
        struct trace_reply *p = &e.u.reply;
        p->req_seq = TRACE_SEQ_NONE;
        p->rtype = reply_types[t];
        p->flags = (uint32_t)t * 5 % 64;
        p->len = sizeof wire - 1;
        p->count = t;
        p->size = t * 1000;
        p->ival = -(int64_t)t;
        p->hash = trace_hash(wire, sizeof wire - 1);
        if (t % 2) {
            p->payload = wire;
            p->payload_len = sizeof wire - 1;
        }
        if (t % 3 == 0) {
            p->err = "WRONGTYPE";
            p->errlen = 9;
        }
        el_add(&l, &e);
    }
    roundtrip_variants(&l);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_gap)
{
    struct evlist l = {0};
    static const uint64_t sizes[] = {0, 1, 1460, 1ull << 32, UINT64_MAX};
    for (uint8_t dir = TRACE_DIR_TO_SERVER; dir <= TRACE_DIR_TO_CLIENT; dir++)
        for (size_t i = 0; i < NELEM(sizes); i++) {
            struct trace_event e = ev_make(TRACE_EV_GAP, 77 + i, dir + 1);
            e.u.gap.dir = dir;
            e.u.gap.bytes = sizes[i];
            el_add(&l, &e);
        }
    roundtrip_variants(&l);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_stats)
{
    struct evlist l = {0};
    struct trace_event e = ev_make(TRACE_EV_STATS, 1, 0);
    e.u.stats = (struct trace_stats){1, 2, 3, 4, 5, 6};
    el_add(&l, &e);
    e.u.stats = (struct trace_stats){UINT64_MAX, UINT64_MAX - 1, 1ull << 63, (1ull << 63) - 1,
                                     0,          UINT64_MAX - 6};
    el_add(&l, &e);
    e.u.stats = (struct trace_stats){0, 0, 0, 0, 0, UINT64_MAX};
    el_add(&l, &e);
    e.u.stats = (struct trace_stats){UINT64_MAX, 0, UINT64_MAX, 0, UINT64_MAX, 0};
    el_add(&l, &e);
    roundtrip_variants(&l);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_note)
{
    struct evlist l = {0};
    static const char bin[] = "TLS handshake \0\xff\x01 seen";
    struct trace_event e = ev_make(TRACE_EV_NOTE, 10, 3);
    e.u.note.dir = TRACE_DIR_TO_CLIENT;
    e.u.note.code = 7;
    e.u.note.text = bin;
    e.u.note.len = sizeof bin - 1;
    el_add(&l, &e);
    e.u.note.dir = TRACE_DIR_TO_SERVER;
    e.u.note.code = 0;
    e.u.note.text = NULL;
    e.u.note.len = 0;
    el_add(&l, &e);
    e.u.note.code = UINT32_MAX;
    e.u.note.text = "";
    el_add(&l, &e);
    e.u.note.text = "not RESP";
    e.u.note.len = 8;
    el_add(&l, &e);
    roundtrip_variants(&l);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_ts_backwards)
{
    struct evlist l = {0};
    /* backwards inside a chunk (the first event is not the chunk's earliest), across chunks,
     * and the extremes 0 and UINT64_MAX */
    static const uint64_t ts[] = {1000,
                                  500,
                                  700,
                                  400,
                                  2000,
                                  1999,
                                  0,
                                  UINT64_MAX,
                                  5,
                                  UINT64_MAX - 1,
                                  1ull << 63,
                                  (1ull << 63) - 1,
                                  3,
                                  3,
                                  2,
                                  1700000000000000000ull,
                                  1700000000000000000ull - 1000,
                                  1};
    for (size_t i = 0; i < NELEM(ts); i++) {
        struct trace_event e = ev_make(TRACE_EV_GAP, ts[i], 1);
        e.u.gap.bytes = i;
        el_add(&l, &e);
    }
    roundtrip_variants(&l);
    struct trace_writer_opts wide = {.chunk_ns = UINT64_MAX};
    roundtrip(&l, &wide);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_conn_ids)
{
    struct evlist l = {0};
    static const uint64_t conns[] = {
        0, UINT64_MAX, 1, UINT64_MAX,       0,          1ull << 63,     5,
        4, 3,          0, (1ull << 63) - 1, 1ull << 63, UINT64_MAX - 1, 0};
    for (size_t i = 0; i < NELEM(conns); i++) {
        struct trace_event e = ev_make(TRACE_EV_CONN_CLOSE, 100 + i, conns[i]);
        e.u.close.reason = TRACE_CLOSE_RST;
        el_add(&l, &e);
    }
    roundtrip_variants(&l);
    el_free(&l);
}
END_TEST

START_TEST(test_format_roundtrip_all_types_mixed)
{
    struct evlist l = {0};
    gen_stream(&l, 2024, 400, 0);
    size_t seen[TRACE_EV_MAX_KNOWN + 1] = {0};
    for (size_t i = 0; i < l.n; i++)
        seen[l.ev[i].type]++;
    for (int t = 1; t <= TRACE_EV_MAX_KNOWN; t++)
        ck_assert_msg(seen[t] > 0, "no %s event generated", trace_ev_type_name((unsigned)t));
    roundtrip_variants(&l);
    el_free(&l);
}
END_TEST

START_TEST(test_format_writer_rejects_bad_events)
{
    char path[512];
    tmp_path(path, sizeof path, "bad");
    struct trace_writer *w = wopen(path, NULL, 0, NULL);
    struct rt_err err = {0};
    struct trace_event e = ev_make(0, 1, 1);
    ck_assert_int_eq(trace_writer_add(w, &e, &err), RT_EINVAL);
    e.type = TRACE_EV_MAX_KNOWN + 1;
    ck_assert_int_eq(trace_writer_add(w, &e, &err), RT_EINVAL);
    need_msg_names(err.msg, path, NULL);
    /* an unknown type is refused before anything is written: the writer goes on */
    e = ev_make(TRACE_EV_CONN_CLOSE, 2, 1);
    ck_assert_int_eq(trace_writer_add(w, &e, &err), 0);
    wflush(w);
    /* a request without arguments is refused; after that the writer only closes */
    e = ev_make(TRACE_EV_REQUEST, 3, 1);
    ck_assert_int_eq(trace_writer_add(w, &e, &err), RT_EINVAL);
    e = ev_make(TRACE_EV_CONN_CLOSE, 4, 1);
    ck_assert_int_eq(trace_writer_add(w, &e, &err), RT_EINVAL);
    ck_assert_int_eq(trace_writer_close(w, &err), RT_EINVAL);
    need_msg_names(err.msg, path, NULL);
    /* what was flushed before the failure is readable */
    struct trace_reader *r = ropen(path, 0);
    struct trace_event got;
    ck_assert_int_eq(trace_reader_next(r, &got, &err), 1);
    ck_assert_uint_eq(got.ts, 2);
    ck_assert_int_eq(trace_reader_next(r, &got, &err), RT_ETRUNCATED);
    trace_reader_close(r);
    unlink(path);
}
END_TEST

START_TEST(test_format_names)
{
    static const char *const evn[] = {"unknown", "open", "close", "request", "reply",
                                      "push",    "gap",  "stats", "note"};
    for (unsigned t = 0; t <= TRACE_EV_MAX_KNOWN; t++)
        ck_assert_str_eq(trace_ev_type_name(t), evn[t]);
    ck_assert_str_eq(trace_ev_type_name(TRACE_EV_MAX_KNOWN + 1), "unknown");
    ck_assert_str_eq(trace_ev_type_name(1000), "unknown");
    static const char *const rn[] = {"simple", "error",  "integer", "bulk",       "array",
                                     "null",   "double", "boolean", "blob_error", "verbatim",
                                     "bignum", "map",    "set",     "attribute",  "push"};
    for (size_t i = 0; i < NELEM(reply_types); i++)
        ck_assert_str_eq(trace_reply_type_name(reply_types[i]), rn[i]);
    ck_assert_str_eq(trace_reply_type_name('x'), "unknown");
    ck_assert_str_eq(rt_strerror(RT_ETRUNCATED), "file is truncated");
    ck_assert_str_eq(rt_strerror(RT_ENOINDEX), "no index");
    ck_assert_str_eq(rt_strerror(0), "unknown error");
    ck_assert_str_eq(rt_strerror(-100), "unknown error");
    struct trace_addr a = {4, {192, 168, 1, 2}, 6379};
    char buf[64];
    ck_assert_str_eq(trace_addr_format(&a, buf, sizeof buf), "192.168.1.2:6379");
    struct trace_addr b = {6, {[15] = 1}, 7000};
    ck_assert_str_eq(trace_addr_format(&b, buf, sizeof buf), "[::1]:7000");
}
END_TEST

/* The totals that describe the events of `l` (everything but chunks and byte counts). */
static void need_totals_of(const struct trace_totals *t, const struct evlist *l)
{
    struct trace_totals w;
    memset(&w, 0, sizeof w);
    for (size_t i = 0; i < l->n; i++) {
        const struct trace_event *e = &l->ev[i];
        w.by_type[e->type]++;
        w.ts_min = i == 0 || e->ts < w.ts_min ? e->ts : w.ts_min;
        w.ts_max = e->ts > w.ts_max ? e->ts : w.ts_max;
        if (e->type == TRACE_EV_GAP)
            w.gap_bytes[e->u.gap.dir ? 1 : 0] += e->u.gap.bytes;
        if (e->type == TRACE_EV_STATS)
            w.stats = e->u.stats;
    }
    ck_assert_uint_eq(t->events, l->n);
    for (int k = 0; k <= TRACE_EV_MAX_KNOWN; k++)
        ck_assert_uint_eq(t->by_type[k], w.by_type[k]);
    ck_assert_uint_eq(t->ts_min, w.ts_min);
    ck_assert_uint_eq(t->ts_max, w.ts_max);
    ck_assert_uint_eq(t->gap_bytes[0], w.gap_bytes[0]);
    ck_assert_uint_eq(t->gap_bytes[1], w.gap_bytes[1]);
    ck_assert_mem_eq(&t->stats, &w.stats, sizeof w.stats);
}

/* ---------------------------------------------------------------------------------------
 * 2. Random event streams
 * ------------------------------------------------------------------------------------- */

START_TEST(test_format_random_streams)
{
    static const uint64_t seeds[] = {1, 0xdeadbeef, 31337, 0x5eed5eed5eedull, 987654321};
    uint64_t seed = seeds[_i];
    struct evlist l = {0};
    gen_stream(&l, seed, 20000, _i == 4);
    struct rng g = {seed ^ 0xabcdef};
    struct trace_writer_opts o = {0};
    o.level = _i % 2 ? 1 : 3;
    o.chunk_events = 64 + (uint32_t)rng_below(&g, 400);
    o.chunk_bytes = 2048 + (size_t)rng_below(&g, 30000);
    o.chunk_ns = _i % 3 == 0 ? 20000000 : 0;

    char path[512];
    tmp_path(path, sizeof path, "random");
    write_file(path, &l, &o);
    struct trace_reader *r = ropen(path, 0);
    struct rt_err err = {0};
    read_range(r, &l, 0, l.n);
    ck_assert_int_eq(read_end(r, &err), 0);

    struct trace_totals t;
    trace_reader_totals(r, &t);
    size_t paired = 0;
    for (size_t i = 0; i < l.n; i++)
        paired += l.ev[i].type == TRACE_EV_REPLY && l.ev[i].u.reply.req_seq != TRACE_SEQ_NONE;
    need_totals_of(&t, &l);
    ck_assert_uint_ge(t.chunks, 20); /* small chunks: many of them */
    ck_assert_uint_gt(paired, 1000);
    trace_reader_close(r);
    unlink(path);
    el_free(&l);
}
END_TEST

START_TEST(test_format_open_mem_matches_file)
{
    struct evlist l = {0};
    gen_stream(&l, 555, 3000, 0);
    char path[512];
    tmp_path(path, sizeof path, "mem");
    struct trace_meta_kv meta[] = {{"k", "v", 1}};
    struct trace_writer_opts o = {.chunk_events = 100};
    struct trace_writer *w = wopen(path, meta, 1, &o);
    write_range(w, &l, 0, l.n);
    wclose(w);
    size_t len;
    uint8_t *buf = file_load(path, &len);
    struct trace_reader *rf = ropen(path, 0), *rm = ropen_mem(buf, len, path, 0);
    ck_assert_uint_eq(trace_reader_file_size(rf), len);
    ck_assert_uint_eq(trace_reader_file_size(rm), len);
    ck_assert_int_eq(trace_reader_has_index(rf), trace_reader_has_index(rm));
    struct trace_event a, b;
    struct rt_err ea = {0}, eb = {0};
    size_t n = 0;
    for (;;) {
        int ra = trace_reader_next(rf, &a, &ea), rb = trace_reader_next(rm, &b, &eb);
        NEED(ra == rb, "event %zu: file gives %d, memory gives %d", n, ra, rb);
        if (ra != 1)
            break;
        NEED(n < l.n, "more events than written");
        const char *d = ev_diff(&l.ev[n], &a);
        NEED(d == NULL, "file event %zu: %s differs", n, d);
        d = ev_diff(&l.ev[n], &b);
        NEED(d == NULL, "memory event %zu: %s differs", n, d);
        n++;
    }
    ck_assert_uint_eq(n, l.n);
    struct trace_totals ta, tb;
    trace_reader_totals(rf, &ta);
    trace_reader_totals(rm, &tb);
    ck_assert_mem_eq(&ta, &tb, sizeof ta);
    ck_assert_str_eq(trace_reader_meta_get(rm, "k", NULL), "v");
    trace_reader_close(rf);
    trace_reader_close(rm);
    free(buf);
    unlink(path);
    el_free(&l);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 3. Metadata
 * ------------------------------------------------------------------------------------- */

static void need_meta(const struct trace_reader *r, const char *key, const void *val, size_t n)
{
    size_t vlen = 12345;
    const char *v = trace_reader_meta_get(r, key, &vlen);
    ck_assert_msg(v != NULL, "metadata key %s missing", key);
    ck_assert_msg(vlen == n && memcmp(v, val, n) == 0, "metadata key %s has a wrong value", key);
}

START_TEST(test_format_meta_roundtrip)
{
    char path[512];
    tmp_path(path, sizeof path, "meta");
    size_t biglen = 100000;
    char *big = malloc(biglen);
    ck_assert_ptr_nonnull(big);
    struct rng g = {9};
    rng_fill(&g, (uint8_t *)big, biglen);
    struct trace_meta_kv meta[60] = {
        {"host", "redis-1", 7}, {"bin", "a\0b\xff", 4}, {"empty", "", 0}, {"big", big, biglen}};
    char keys[56][16], vals[56][16];
    for (int i = 0; i < 56; i++) {
        snprintf(keys[i], sizeof keys[i], "key.%d", i);
        snprintf(vals[i], sizeof vals[i], "v%d", i * 7);
        meta[4 + i] = (struct trace_meta_kv){keys[i], vals[i], strlen(vals[i])};
    }
    struct trace_writer *w = wopen(path, meta, NELEM(meta), NULL);
    struct trace_event e = ev_make(TRACE_EV_CONN_CLOSE, 1, 1);
    ck_assert_int_eq(trace_writer_add(w, &e, NULL), 0);
    wclose(w);

    struct trace_reader *r = ropen(path, 0);
    size_t n = 0;
    const struct trace_meta_kv *kv = trace_reader_meta(r, &n);
    ck_assert_uint_eq(n, NELEM(meta));
    for (size_t i = 0; i < NELEM(meta); i++) {
        ck_assert_str_eq(kv[i].key, meta[i].key);
        need_meta(r, meta[i].key, meta[i].val, meta[i].vlen);
    }
    ck_assert_ptr_null(trace_reader_meta_get(r, "missing", NULL));
    ck_assert_ptr_null(trace_reader_meta_get(r, "hos", NULL));
    ck_assert_ptr_nonnull(trace_reader_meta_get(r, "host", NULL)); /* vlen may be NULL */
    trace_reader_close(r);

    /* no metadata at all */
    w = wopen(path, NULL, 0, NULL);
    wclose(w);
    r = ropen(path, 0);
    trace_reader_meta(r, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(trace_reader_meta_get(r, "host", NULL));
    trace_reader_close(r);
    free(big);
    unlink(path);
}
END_TEST

START_TEST(test_format_meta_override_midstream)
{
    char path[512];
    tmp_path(path, sizeof path, "meta2");
    struct evlist l = {0};
    gen_stream(&l, 3, 300, 1);
    struct trace_meta_kv m0[] = {{"a", "1", 1}, {"b", "2", 1}};
    struct trace_meta_kv m1[] = {{"d", "5", 1}};
    struct trace_meta_kv m2[] = {{"a", "3", 1}, {"c", "4", 1}};
    struct trace_meta_kv m3[] = {{"e", "6", 1}, {"a", "33", 2}};
    struct trace_writer_opts o = {.chunk_events = 50};
    struct trace_writer *w = wopen(path, m0, 2, &o);
    ck_assert_int_eq(trace_writer_add_meta(w, m1, 1, NULL), 0); /* before any chunk */
    write_range(w, &l, 0, 100);
    ck_assert_int_eq(trace_writer_add_meta(w, m2, 2, NULL), 0);
    write_range(w, &l, 100, 300);
    ck_assert_int_eq(trace_writer_add_meta(w, m3, 2, NULL), 0); /* after the last event */
    wclose(w);

    struct trace_reader *r = ropen(path, 0);
    /* at open: the blocks before the first chunk */
    need_meta(r, "a", "1", 1);
    need_meta(r, "b", "2", 1);
    need_meta(r, "d", "5", 1);
    ck_assert_ptr_null(trace_reader_meta_get(r, "c", NULL));
    /* metadata blocks are read on the way to the next event: the block written after event
     * 99 is known once event 100 has been returned */
    read_range(r, &l, 0, 101);
    need_meta(r, "a", "3", 1);
    need_meta(r, "c", "4", 1);
    struct rt_err err = {0};
    read_range(r, &l, 101, 300);
    ck_assert_int_eq(read_end(r, &err), 0);
    need_meta(r, "a", "33", 2);
    need_meta(r, "b", "2", 1);
    need_meta(r, "c", "4", 1);
    need_meta(r, "e", "6", 1);
    size_t n;
    trace_reader_meta(r, &n);
    ck_assert_uint_eq(n, 5);
    trace_reader_close(r);
    unlink(path);
    el_free(&l);
}
END_TEST

/* Puts p[0..n) into a pipe on fd 0, as `cat trace | resptrace cat -` would. @return the
 * feeder's pid, for stdin_done(). */
static pid_t stdin_from_pipe(const uint8_t *p, size_t n)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) { /* the feeder: the pipe may hold less than the whole trace */
        close(fds[0]);
        for (size_t done = 0; done < n;) {
            ssize_t k = write(fds[1], p + done, n - done);
            if (k <= 0)
                _exit(1);
            done += (size_t)k;
        }
        _exit(0);
    }
    close(fds[1]);
    ck_assert_int_eq(dup2(fds[0], 0), 0);
    close(fds[0]);
    return pid;
}

/* Waits for the feeder, which has written everything once the reader consumed it. */
static void stdin_done(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(test_format_read_stdin_pipe)
{
    struct evlist l = {0};
    gen_stream(&l, 606, 2000, 0);
    char path[512];
    tmp_path(path, sizeof path, "stdin");
    struct trace_meta_kv meta[] = {{"host", "piped", 5}};
    struct trace_meta_kv mid[] = {{"later", "yes", 3}};
    struct trace_writer_opts o = {.chunk_events = 100};
    struct trace_writer *w = wopen(path, meta, 1, &o);
    write_range(w, &l, 0, 1000);
    ck_assert_int_eq(trace_writer_add_meta(w, mid, 1, NULL), 0);
    write_range(w, &l, 1000, l.n);
    wclose(w);
    size_t len, nb;
    uint8_t *buf = file_load(path, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    const struct blk *c0 = nth_chunk(b, nb, 0), *c5 = nth_chunk(b, nb, 5);

    /* a whole trace: every event, then a clean end; seeking is refused */
    struct rt_err err = {0};
    pid_t pid = stdin_from_pipe(buf, len);
    struct trace_reader *r = ropen("-", 0);
    need_meta(r, "host", "piped", 5);
    read_range(r, &l, 0, l.n);
    ck_assert_int_eq(read_end(r, &err), 0);
    need_meta(r, "later", "yes", 3);
    ck_assert_uint_eq(trace_reader_file_size(r), len);
    ck_assert_int_eq(trace_reader_seek_time(r, 0, &err), RT_EINVAL);
    need_msg_names(err.msg, "(stdin)", NULL);
    trace_reader_close(r);
    stdin_done(pid);

    /* cut inside a chunk's frame: the complete chunks, then RT_ETRUNCATED */
    pid = stdin_from_pipe(buf, c5->end - 10);
    r = ropen("-", 0);
    read_range(r, &l, 0, events_before(b, nb, c5->off));
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    need_msg_names(err.msg, "(stdin)", "offset");
    trace_reader_close(r);
    stdin_done(pid);

    /* cut inside the first chunk's header, which the open reads ahead */
    pid = stdin_from_pipe(buf, c0->off + 20);
    r = ropen("-", 0);
    need_meta(r, "host", "piped", 5);
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    need_msg_names(err.msg, "(stdin)", "offset");
    trace_reader_close(r);
    stdin_done(pid);

    /* without an index (cut after the last chunk) */
    pid = stdin_from_pipe(buf, b[nb - 1].off);
    r = ropen("-", 0);
    read_range(r, &l, 0, l.n);
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    trace_reader_close(r);
    stdin_done(pid);

    /* not a trace */
    pid = stdin_from_pipe((const uint8_t *)"hello, this is text\n", 20);
    ck_assert_ptr_null(trace_reader_open("-", NULL, &err));
    ck_assert_int_eq(err.code, RT_ENOTTRACE);
    stdin_done(pid);
    free(b);
    free(buf);
    unlink(path);
    el_free(&l);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 4. Index, totals, seeking
 * ------------------------------------------------------------------------------------- */

static void need_totals_eq(const struct trace_totals *a, const struct trace_totals *b)
{
    ck_assert_uint_eq(a->events, b->events);
    for (int t = 0; t <= TRACE_EV_MAX_KNOWN; t++)
        ck_assert_uint_eq(a->by_type[t], b->by_type[t]);
    ck_assert_uint_eq(a->chunks, b->chunks);
    ck_assert_uint_eq(a->raw_bytes, b->raw_bytes);
    ck_assert_uint_eq(a->compressed_bytes, b->compressed_bytes);
    ck_assert_uint_eq(a->ts_min, b->ts_min);
    ck_assert_uint_eq(a->ts_max, b->ts_max);
    ck_assert_uint_eq(a->gap_bytes[0], b->gap_bytes[0]);
    ck_assert_uint_eq(a->gap_bytes[1], b->gap_bytes[1]);
    ck_assert_mem_eq(&a->stats, &b->stats, sizeof a->stats);
}

START_TEST(test_format_index_and_totals)
{
    struct evlist l = {0};
    gen_stream(&l, 99, 2500, 0);
    char path[512], path2[512];
    tmp_path(path, sizeof path, "idx");
    tmp_path(path2, sizeof path2, "noidx");
    struct trace_writer_opts o = {.chunk_events = 100, .chunk_bytes = 8192};
    write_file(path, &l, &o);

    size_t len, nb;
    uint8_t *buf = file_load(path, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    uint64_t chunks = 0, comp = 0;
    for (size_t k = 0; k < nb; k++)
        if (b[k].type == TRACE_BLK_CHUNK) {
            chunks++;
            comp += b[k].end - b[k].off - TRACE_ENVELOPE - TRACE_CHUNK_HDR_CONTENT;
        }
    ck_assert_uint_eq(b[nb - 1].type, TRACE_BLK_INDEX);

    struct trace_reader *r = ropen(path, 0);
    ck_assert_int_eq(trace_reader_has_index(r), 1);
    struct trace_totals ti;
    trace_reader_totals(r, &ti); /* from the index, before reading anything */
    need_totals_of(&ti, &l);
    ck_assert_uint_eq(ti.chunks, chunks);
    ck_assert_uint_eq(ti.compressed_bytes, comp);
    ck_assert_uint_gt(ti.raw_bytes, 0);
    unsigned major, minor;
    trace_reader_version(r, &major, &minor);
    ck_assert_uint_eq(major, TRACE_FORMAT_MAJOR);
    ck_assert_uint_eq(minor, TRACE_FORMAT_MINOR);
    trace_reader_close(r);

    /* the same file without its index: totals are counted while reading and agree */
    file_store(path2, buf, b[nb - 1].off);
    r = ropen(path2, 0);
    ck_assert_int_eq(trace_reader_has_index(r), 0);
    struct trace_totals tr;
    trace_reader_totals(r, &tr);
    ck_assert_uint_eq(tr.events, 0);
    struct rt_err err = {0};
    read_range(r, &l, 0, l.n);
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    trace_reader_totals(r, &tr);
    need_totals_eq(&tr, &ti);
    trace_reader_close(r);

    /* an empty closed trace */
    struct trace_writer *w = wopen(path, NULL, 0, NULL);
    wclose(w);
    r = ropen(path, 0);
    ck_assert_int_eq(trace_reader_has_index(r), 1);
    trace_reader_totals(r, &tr);
    ck_assert_uint_eq(tr.events, 0);
    ck_assert_uint_eq(tr.chunks, 0);
    ck_assert_uint_eq(tr.ts_min, 0);
    ck_assert_uint_eq(tr.ts_max, 0);
    ck_assert_int_eq(read_end(r, &err), 0);
    trace_reader_close(r);

    free(b);
    free(buf);
    unlink(path);
    unlink(path2);
    el_free(&l);
}
END_TEST

/* index of the first event with ts >= target in a monotonic list */
static size_t lower_bound(const struct evlist *l, uint64_t target)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->ev[mid].ts < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void seek_check(struct trace_reader *r, const struct evlist *l, uint64_t target, int end_rc,
                       int to_end)
{
    struct rt_err err = {0};
    int rc = trace_reader_seek_time(r, target, &err);
    NEED(rc == 0, "seek to %llu: %d %s", (unsigned long long)target, rc, err.msg);
    size_t i = lower_bound(l, target);
    size_t to = to_end || i + 3 > l->n ? l->n : i + 3;
    read_range(r, l, i, to);
    if (to == l->n) {
        rc = read_end(r, &err);
        NEED(rc == end_rc, "seek to %llu: end code %d, expected %d (%s)",
             (unsigned long long)target, rc, end_rc, err.msg);
    }
}

static void seek_suite(struct trace_reader *r, const struct evlist *l, int end_rc)
{
    struct rng g = {4242};
    uint64_t first = l->ev[0].ts, last = l->ev[l->n - 1].ts;
    seek_check(r, l, 0, end_rc, 0);
    seek_check(r, l, first, end_rc, 0);
    seek_check(r, l, first + 1, end_rc, 0);
    seek_check(r, l, last, end_rc, 1);
    seek_check(r, l, last - 1, end_rc, 0);
    seek_check(r, l, last + 1, end_rc, 1); /* past the end: no events */
    seek_check(r, l, UINT64_MAX, end_rc, 1);
    for (int k = 0; k < 150; k++) {
        uint64_t t = l->ev[rng_below(&g, l->n)].ts;
        seek_check(r, l, t, end_rc, 0);
        seek_check(r, l, t - 1, end_rc, 0);
        seek_check(r, l, t + 1, end_rc, k % 50 == 0);
        seek_check(r, l, first + rng_below(&g, last - first + 1), end_rc, 0);
    }
    seek_check(r, l, 0, end_rc, 1); /* back to the start after everything */
}

static void seek_file(struct evlist *l, char *path, size_t cap)
{
    gen_stream(l, 8080, 3000, 1);
    for (size_t i = 1; i < l->n; i += 97) /* equal timestamps too */
        l->ev[i].ts = l->ev[i - 1].ts;
    tmp_path(path, cap, "seek");
}

START_TEST(test_format_seek_time_index)
{
    struct evlist l = {0};
    char path[512];
    seek_file(&l, path, sizeof path);
    struct trace_writer_opts o = {.chunk_events = 100};
    write_file(path, &l, &o);
    struct trace_reader *r = ropen(path, 0);
    ck_assert_int_eq(trace_reader_has_index(r), 1);
    seek_suite(r, &l, 0);
    trace_reader_close(r);
    size_t len;
    uint8_t *buf = file_load(path, &len);
    r = ropen_mem(buf, len, path, 0);
    seek_suite(r, &l, 0);
    trace_reader_close(r);
    free(buf);
    unlink(path);
    el_free(&l);
}
END_TEST

START_TEST(test_format_seek_time_no_index)
{
    struct evlist l = {0};
    char path[512];
    seek_file(&l, path, sizeof path);
    struct trace_writer_opts o = {.chunk_events = 100};
    struct trace_writer *w = wopen(path, NULL, 0, &o);
    write_range(w, &l, 0, l.n);
    wflush(w);
    trace_writer_abort(w);
    struct trace_reader *r = ropen(path, 0);
    ck_assert_int_eq(trace_reader_has_index(r), 0);
    seek_suite(r, &l, RT_ETRUNCATED);
    trace_reader_close(r);
    unlink(path);
    el_free(&l);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 5. Truncation
 * ------------------------------------------------------------------------------------- */

static void add_cut(uint64_t **cuts, size_t *n, size_t *cap, uint64_t c, uint64_t len)
{
    if (c > len)
        return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *cuts = realloc(*cuts, *cap * sizeof **cuts);
        NEED(*cuts != NULL, "out of memory");
    }
    (*cuts)[(*n)++] = c;
}

START_TEST(test_format_truncate_everywhere)
{
    struct evlist l = {0};
    gen_stream(&l, 11, 600, 0);
    char path[512], cpath[512];
    tmp_path(path, sizeof path, "full");
    tmp_path(cpath, sizeof cpath, "cut");
    struct trace_meta_kv meta[] = {{"host", "h1", 2}, {"purpose", "truncation", 10}};
    struct trace_meta_kv mid[] = {{"phase", "two", 3}};
    struct trace_writer_opts o = {.chunk_events = 50};
    struct trace_writer *w = wopen(path, meta, 2, &o);
    write_range(w, &l, 0, 300);
    ck_assert_int_eq(trace_writer_add_meta(w, mid, 1, NULL), 0);
    write_range(w, &l, 300, l.n);
    wclose(w);

    size_t len, nb;
    uint8_t *buf = file_load(path, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    ck_assert_uint_eq(b[0].type, TRACE_BLK_HEADER);
    ck_assert_uint_eq(b[nb - 1].type, TRACE_BLK_INDEX);
    ck_assert_uint_ge(nb, 14);

    uint64_t *cuts = NULL;
    size_t ncuts = 0, cap = 0;
    for (uint64_t c = 0; c <= b[0].end; c++) /* every byte of the file header */
        add_cut(&cuts, &ncuts, &cap, c, len);
    for (size_t k = 1; k < nb; k++) {
        uint64_t off = b[k].off, end = b[k].end;
        static const uint64_t in[] = {0, 1, 3, 4, 7, 8, 9, 10};
        for (size_t j = 0; j < NELEM(in); j++)
            add_cut(&cuts, &ncuts, &cap, off + in[j], end - 1);
        add_cut(&cuts, &ncuts, &cap, off + (end - off) / 2, len);
        add_cut(&cuts, &ncuts, &cap, end - 1, len);
        if (b[k].type == TRACE_BLK_CHUNK) {
            uint64_t frame = off + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT;
            add_cut(&cuts, &ncuts, &cap, frame - 1, len);
            add_cut(&cuts, &ncuts, &cap, frame, len);
            add_cut(&cuts, &ncuts, &cap, frame + 1, len);
            add_cut(&cuts, &ncuts, &cap, frame + (end - frame) / 3, len);
        }
    }
    add_cut(&cuts, &ncuts, &cap, len - 16, len); /* inside the tail */
    add_cut(&cuts, &ncuts, &cap, len, len);      /* the whole file */

    for (size_t i = 0; i < ncuts; i++) {
        uint64_t cut = cuts[i];
        file_store(cpath, buf, cut);
        struct rt_err err = {0};
        struct trace_reader *r = trace_reader_open(cpath, NULL, &err);
        if (cut < b[0].end) {
            NEED(r == NULL, "cut at %llu inside the header opened", (unsigned long long)cut);
            NEED(err.code == RT_ENOTTRACE || err.code == RT_ETRUNCATED,
                 "cut at %llu: open gives %d (%s)", (unsigned long long)cut, err.code, err.msg);
            need_msg_names(err.msg, cpath, cut > 0 ? "offset" : NULL);
            continue;
        }
        NEED(r != NULL, "cut at %llu: open fails: %s", (unsigned long long)cut, err.msg);
        size_t want = events_before(b, nb, cut);
        read_range(r, &l, 0, want);
        int rc = read_end(r, &err);
        if (cut == len) {
            NEED(rc == 0, "whole file: %d %s", rc, err.msg);
        } else {
            NEED(rc == RT_ETRUNCATED, "cut at %llu after %zu events: %d (%s)",
                 (unsigned long long)cut, want, rc, err.msg);
            need_msg_names(err.msg, cpath, "offset");
            /* the end stays the end */
            struct trace_event ev;
            NEED(trace_reader_next(r, &ev, &err) <= 0, "events after the truncation error");
        }
        trace_reader_close(r);
    }
    ck_assert_uint_gt(ncuts, 150);
    free(cuts);
    free(b);
    free(buf);
    unlink(path);
    unlink(cpath);
    el_free(&l);
}
END_TEST

START_TEST(test_format_abort_leaves_truncated_file)
{
    struct evlist l = {0};
    gen_stream(&l, 12, 500, 0);
    char path[512];
    tmp_path(path, sizeof path, "abort");
    struct trace_writer_opts o = {.chunk_events = 40};
    for (int flushed = 0; flushed < 2; flushed++) {
        struct trace_writer *w = wopen(path, NULL, 0, &o);
        write_range(w, &l, 0, l.n);
        if (flushed)
            wflush(w);
        trace_writer_abort(w);
        /* without the flush the 20 events of the open chunk never reached the file */
        size_t want = flushed ? l.n : l.n / 40 * 40;
        for (int salvage = 0; salvage < 2; salvage++) {
            struct trace_reader *r = ropen(path, salvage);
            ck_assert_int_eq(trace_reader_has_index(r), 0);
            struct rt_err err = {0};
            read_range(r, &l, 0, want);
            ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
            need_msg_names(err.msg, path, "offset");
            struct trace_totals t;
            trace_reader_totals(r, &t);
            ck_assert_uint_eq(t.events, want);
            trace_reader_close(r);
        }
    }
    trace_writer_abort(NULL);
    ck_assert_int_eq(trace_writer_close(NULL, NULL), 0);
    unlink(path);
    el_free(&l);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 6. Flipped bytes
 * ------------------------------------------------------------------------------------- */

struct damaged_file {
    struct evlist l;
    uint8_t *buf;
    size_t len, nb;
    struct blk *b;
    char path[512];
};

/* 800 events in 8 chunks of 100, leading metadata, and a metadata block after chunk 2; in
 * chunk encoding `enc` (2: chains of 3 chunks). */
static void damaged_file_init(struct damaged_file *f, int enc)
{
    memset(f, 0, sizeof *f);
    gen_stream_rep(&f->l, 21, 800, 0);
    tmp_path(f->path, sizeof f->path, "flip");
    struct trace_meta_kv lead[] = {{"host", "redis-lead", 10}};
    struct trace_meta_kv mid[] = {{"mid", "middle value", 12}};
    struct trace_writer_opts o = {.chunk_events = 100, .encoding = enc, .chain_chunks = 3};
    struct trace_writer *w = wopen(f->path, lead, 1, &o);
    write_range(w, &f->l, 0, 300);
    ck_assert_int_eq(trace_writer_add_meta(w, mid, 1, NULL), 0);
    write_range(w, &f->l, 300, 800);
    wclose(w);
    f->buf = file_load(f->path, &f->len);
    f->b = walk_blocks(f->buf, f->len, &f->nb);
}

static void damaged_file_free(struct damaged_file *f)
{
    unlink(f->path);
    free(f->buf);
    free(f->b);
    el_free(&f->l);
}

/* Flips buf[at] ^= x in a copy on disk; the block at `blk` is the damaged one, whose events
 * (`lost`, from event `first`) salvage must skip. */
static void flip_check(const struct damaged_file *f, uint64_t at, uint8_t x, uint64_t blk,
                       size_t first, size_t lost)
{
    char path[512];
    tmp_path(path, sizeof path, "flipped");
    uint8_t *c = malloc(f->len);
    ck_assert_ptr_nonnull(c);
    memcpy(c, f->buf, f->len);
    c[at] ^= x;
    file_store(path, c, f->len);
    free(c);

    /* without salvage: the events before the damage, then RT_ECORRUPT naming its offset */
    struct rt_err err = {0};
    struct trace_reader *r = ropen(path, 0);
    read_range(r, &f->l, 0, first);
    int rc = read_end(r, &err);
    NEED(rc == RT_ECORRUPT, "flip at %llu: %d (%s)", (unsigned long long)at, rc, err.msg);
    need_msg_names(err.msg, path, NULL);
    need_msg_offset(err.msg, blk);
    trace_reader_close(r);

    /* with salvage: every other event, and the damage reported */
    r = ropen(path, 1);
    read_range(r, &f->l, 0, first);
    read_range(r, &f->l, first + lost, f->l.n);
    rc = read_end(r, &err);
    NEED(rc == 0, "salvage, flip at %llu: %d (%s)", (unsigned long long)at, rc, err.msg);
    struct trace_damage d;
    trace_reader_damage(r, &d);
    NEED(d.chunks_skipped >= 1, "flip at %llu: nothing skipped", (unsigned long long)at);
    NEED(d.first_offset == blk, "flip at %llu: first_offset %llu, expected %llu",
         (unsigned long long)at, (unsigned long long)d.first_offset, (unsigned long long)blk);
    NEED(d.bytes_skipped > 0, "flip at %llu: no bytes skipped", (unsigned long long)at);
    NEED(d.msg[0] != 0, "flip at %llu: no damage message", (unsigned long long)at);
    trace_reader_close(r);
    unlink(path);
}

/* (loop: _i is the chunk encoding) In encoding 2, a damaged chunk loses the rest of its
 * chain too: salvage skips those chunks (the chain check refuses them) and reads on from the
 * next chain. */
START_TEST(test_format_flip_chunk_frame)
{
    struct damaged_file f;
    damaged_file_init(&f, _i);
    size_t first = 0, depends = 0;
    for (size_t i = 0;; i++) {
        const struct blk *c = nth_chunk(f.b, f.nb, i);
        if (!c)
            break;
        uint64_t frame = c->off + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT;
        size_t lost = chain_rest(f.b, f.nb, i);
        flip_check(&f, frame + (c->end - frame) / 2, 0x40, c->off, first, lost);
        flip_check(&f, frame, 0x01, c->off, first, lost); /* the zstd magic */
        flip_check(&f, c->end - 1, 0x80, c->off, first, lost);
        first += c->events;
        depends += (c->flags & TRACE_CHUNK_DEPENDS) != 0;
    }
    ck_assert_uint_eq(first, f.l.n);
    ck_assert_uint_eq(depends, _i == 2 ? 5 : 0); /* 8 chunks in chains of 3 */
    damaged_file_free(&f);
}
END_TEST

START_TEST(test_format_flip_chunk_header)
{
    struct damaged_file f;
    damaged_file_init(&f, _i);
    /* envelope magic and size; then content: encoding, events, ts_min, ts_max, req_base,
     * req_count, raw_size, comp_size, comp_hash, check (the type byte at content 0 is left
     * to the random test: a changed type can make the header an unknown, skipped block) */
    static const unsigned at[] = {0, 3, 4, 5, 9, 12, 16, 24, 32, 40, 44, 48, 52, 59, 63};
    size_t first = 0;
    for (size_t i = 0;; i++) {
        const struct blk *c = nth_chunk(f.b, f.nb, i);
        if (!c)
            break;
        for (size_t k = 0; k < NELEM(at); k++)
            if (i == 3 || k % 4 == i % 4) /* every position in one chunk, some in the rest */
                flip_check(&f, c->off + at[k], 0x10, c->off, first, chain_rest(f.b, f.nb, i));
        first += c->events;
    }
    damaged_file_free(&f);
}
END_TEST

START_TEST(test_format_flip_meta_block)
{
    struct damaged_file f;
    damaged_file_init(&f, _i);
    const struct blk *lead = &f.b[1], *mid = NULL;
    ck_assert_uint_eq(lead->type, TRACE_BLK_META);
    for (size_t k = 2; k < f.nb; k++)
        if (f.b[k].type == TRACE_BLK_META)
            mid = &f.b[k];
    ck_assert_ptr_nonnull(mid);
    size_t before_mid = events_before(f.b, f.nb, mid->off);
    ck_assert_uint_eq(before_mid, 300);

    /* inside the values, and the check itself */
    flip_check(&f, mid->end - 8, 0x20, mid->off, before_mid, 0);
    flip_check(&f, mid->end - 1, 0x01, mid->off, before_mid, 0);
    flip_check(&f, lead->end - 6, 0x20, lead->off, 0, 0);

    /* salvage: the damaged block's keys are lost, the others are there */
    char path[512];
    tmp_path(path, sizeof path, "metaflip");
    f.buf[mid->end - 8] ^= 0x20;
    file_store(path, f.buf, f.len);
    f.buf[mid->end - 8] ^= 0x20;
    struct trace_reader *r = ropen(path, 1);
    need_meta(r, "host", "redis-lead", 10);
    struct rt_err err = {0};
    read_range(r, &f.l, 0, f.l.n);
    ck_assert_int_eq(read_end(r, &err), 0);
    ck_assert_ptr_null(trace_reader_meta_get(r, "mid", NULL));
    need_meta(r, "host", "redis-lead", 10);
    trace_reader_close(r);
    unlink(path);
    damaged_file_free(&f);
}
END_TEST

/* Reads a damaged buffer to its end. Without salvage what is returned must be a prefix of
 * what was written; with salvage, a subsequence. Never more events than written. */
static void read_damaged(const uint8_t *p, size_t len, const struct evlist *l, int salvage,
                         uint64_t pos)
{
    struct trace_reader_opts o = {.salvage = salvage};
    struct rt_err err = {0};
    struct trace_reader *r = trace_reader_open_mem(p, len, "flipped", &o, &err);
    if (!r) {
        NEED(err.code < 0 && strstr(err.msg, "flipped") != NULL, "open: %d %s", err.code, err.msg);
        return;
    }
    struct trace_event ev;
    size_t n = 0, j = 0;
    int rc;
    while ((rc = trace_reader_next(r, &ev, &err)) == 1) {
        NEED(n < l->n, "flip at %llu: more events than written", (unsigned long long)pos);
        if (!salvage) {
            const char *d = ev_diff(&l->ev[n], &ev);
            NEED(d == NULL, "flip at %llu: event %zu: %s differs", (unsigned long long)pos, n, d);
        } else {
            while (j < l->n && ev_diff(&l->ev[j], &ev) != NULL)
                j++;
            NEED(j < l->n, "flip at %llu: salvage returned an event never written",
                 (unsigned long long)pos);
            j++;
        }
        n++;
    }
    NEED(rc <= 0, "bad code");
    if (rc < 0)
        NEED(strstr(err.msg, "flipped") != NULL, "message \"%s\" names no file", err.msg);
    struct trace_totals t;
    struct trace_damage d;
    trace_reader_totals(r, &t);
    trace_reader_damage(r, &d);
    /* the seek paths see the damage too */
    if (trace_reader_seek_time(r, l->ev[pos % l->n].ts, &err) == 0) {
        for (size_t k = 0; k <= l->n && trace_reader_next(r, &ev, &err) == 1; k++)
            NEED(k < l->n, "flip at %llu: seek reads past the end", (unsigned long long)pos);
    }
    trace_reader_close(r);
}

START_TEST(test_format_flip_random)
{
    struct evlist l = {0};
    gen_stream_rep(&l, 31, 1500, 0);
    char path[512];
    tmp_path(path, sizeof path, "rflip");
    struct trace_meta_kv lead[] = {{"host", "x", 1}};
    struct trace_meta_kv mid[] = {{"mid", "y", 1}};
    struct trace_writer_opts o = {.chunk_events = 150, .encoding = _i, .chain_chunks = 4};
    struct trace_writer *w = wopen(path, lead, 1, &o);
    write_range(w, &l, 0, 700);
    ck_assert_int_eq(trace_writer_add_meta(w, mid, 1, NULL), 0);
    write_range(w, &l, 700, l.n);
    wclose(w);
    size_t len;
    uint8_t *buf = file_load(path, &len);
    uint8_t *c = malloc(len);
    ck_assert_ptr_nonnull(c);
    struct rng g = {0xf1f1f1};
    for (int k = 0; k < 400; k++) {
        memcpy(c, buf, len);
        uint64_t pos = rng_below(&g, len);
        int nflip = k % 8 == 7 ? 5 : 1; /* now and then several bytes at once */
        for (int j = 0; j < nflip; j++)
            c[j ? rng_below(&g, len) : pos] ^= (uint8_t)(1 + rng_below(&g, 255));
        read_damaged(c, len, &l, 0, pos);
        read_damaged(c, len, &l, 1, pos);
    }
    /* the header alone and bytes of the tail */
    for (uint64_t pos = 0; pos < 37; pos += 3) {
        memcpy(c, buf, len);
        c[pos] ^= 0xff;
        read_damaged(c, len, &l, 1, pos);
    }
    for (uint64_t pos = len - 16; pos < len; pos++) {
        memcpy(c, buf, len);
        c[pos] ^= 0xff;
        read_damaged(c, len, &l, 0, pos);
    }
    free(c);
    free(buf);
    unlink(path);
    el_free(&l);
}
END_TEST

START_TEST(test_format_corrupt_streams)
{
    /* a chunk whose frame is intact (hash fine) but whose close stream is one value short */
    struct evlist l = {0};
    size_t na, len, clen, olen;
    uint8_t *buf = two_chunk_file(&l, &na, &len);
    size_t nb;
    struct blk *b = walk_blocks(buf, len, &nb);
    const struct blk *c1 = nth_chunk(b, nb, 1);
    ck_assert_ptr_nonnull(c1);
    static const uint8_t types[] = {2, 2, 2}, ts[] = {0, 2, 2}, conn[] = {2, 0, 0},
                         reason[] = {1, 1};
    struct stream_spec s[] = {
        {S_TYPE, types, 3}, {S_TS, ts, 3}, {S_CONN, conn, 3}, {S_CLOSE_REASON, reason, 2}};
    struct chunk_spec cs = {TRACE_CHUNK_ENCODING, 3, 5000, 5002, 0, 0, 0, 0};
    uint8_t *chunk = hand_chunk(s, NELEM(s), &cs, &clen);
    uint8_t *o = splice_in(buf, len, c1->off, chunk, clen, &olen);

    /* what the broken chunk yields before the bad value */
    struct evlist want = {0};
    for (size_t i = 0; i < na; i++)
        el_add(&want, &l.ev[i]);
    struct trace_event e = ev_make(TRACE_EV_CONN_CLOSE, 5000, 1);
    e.u.close.reason = 1;
    el_add(&want, &e);
    e.ts = 5001;
    el_add(&want, &e);
    for (size_t i = na; i < l.n; i++)
        el_add(&want, &l.ev[i]);

    struct rt_err err = {0};
    struct trace_reader *r = ropen_mem(o, olen, "streams", 0);
    read_range(r, &want, 0, na + 2);
    ck_assert_int_eq(read_end(r, &err), RT_ECORRUPT);
    need_msg_names(err.msg, "streams", "close");
    need_msg_offset(err.msg, c1->off);
    trace_reader_close(r);

    r = ropen_mem(o, olen, "streams", 1);
    read_range(r, &want, 0, want.n);
    ck_assert_int_eq(read_end(r, &err), 0);
    struct trace_damage d;
    trace_reader_damage(r, &d);
    ck_assert_uint_eq(d.chunks_skipped, 1);
    ck_assert_uint_eq(d.first_offset, c1->off);
    trace_reader_close(r);

    /* the same with no error buffer: the error detail is optional */
    r = ropen_mem(o, olen, "streams", 1);
    struct trace_event ev;
    size_t n = 0;
    while (trace_reader_next(r, &ev, NULL) == 1)
        n++;
    ck_assert_uint_eq(n, want.n);
    trace_reader_close(r);

    free(chunk);
    free(o);
    free(b);
    free(buf);
    el_free(&want);
    el_free(&l);
}
END_TEST

/* A chunk with a valid frame and hash but a hostile payload, spliced between A and B: without
 * salvage, A, at most `prefix` events of the chunk, then RT_ECORRUPT naming the chunk; with
 * salvage, the same and then all of B. Never a crash or an over-read (ASan). */
static void bad_chunk_splice(const char *what, const uint8_t *chunk, size_t clen, size_t prefix)
{
    struct evlist l = {0};
    size_t na, len, nb, olen;
    uint8_t *buf = two_chunk_file(&l, &na, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    uint64_t at = nth_chunk(b, nb, 1)->off;
    uint8_t *o = splice_in(buf, len, at, chunk, clen, &olen);
    for (int salvage = 0; salvage < 2; salvage++) {
        struct trace_reader *r = ropen_mem(o, olen, what, salvage);
        struct rt_err err = {0};
        struct trace_event ev;
        read_range(r, &l, 0, na);
        size_t extra = 0;
        int rc;
        if (!salvage) {
            while ((rc = trace_reader_next(r, &ev, &err)) == 1)
                extra++;
            NEED(rc == RT_ECORRUPT, "%s: code %d (%s)", what, rc, err.msg);
            need_msg_names(err.msg, what, NULL);
            need_msg_offset(err.msg, at);
        } else {
            /* the chunk's first events may come out before the damage shows */
            while ((rc = trace_reader_next(r, &ev, &err)) == 1 && ev_diff(&l.ev[na], &ev))
                extra++;
            NEED(rc == 1, "%s: salvage stops: %d (%s)", what, rc, err.msg);
            read_range(r, &l, na + 1, l.n);
            NEED(read_end(r, &err) == 0, "%s: salvage end: %s", what, err.msg);
            struct trace_damage d;
            trace_reader_damage(r, &d);
            NEED(d.chunks_skipped == 1 && d.first_offset == at, "%s: damage %llu at %llu", what,
                 (unsigned long long)d.chunks_skipped, (unsigned long long)d.first_offset);
        }
        NEED(extra <= prefix, "%s: %zu events from the bad chunk", what, extra);
        trace_reader_close(r);
    }
    free(o);
    free(b);
    free(buf);
    el_free(&l);
}

static void bad_chunk_check(const char *what, const struct stream_spec *s, size_t ns,
                            const struct chunk_spec *cs, size_t prefix)
{
    size_t clen;
    uint8_t *chunk = hand_chunk(s, ns, cs, &clen);
    bad_chunk_splice(what, chunk, clen, prefix);
    free(chunk);
}

static void bad_raw_check(const char *what, const uint8_t *raw, size_t n,
                          const struct chunk_spec *cs)
{
    size_t clen;
    uint8_t *chunk = hand_chunk_raw(raw, n, cs, &clen);
    bad_chunk_splice(what, chunk, clen, 0);
    free(chunk);
}

START_TEST(test_format_corrupt_chunk_payloads)
{
    static const uint8_t zero3[] = {0, 0, 0}, close2[] = {2, 2}, req1[] = {3}, rep1[] = {4},
                         open1[] = {1}, note1[] = {8};
    static const uint8_t v1000[] = {0xe8, 0x07}, v2[] = {2},
                         vbig[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x80, 0x80, 0x01};
    static const uint8_t proto[] = {2}, reply_hdr[] = {'+'}, back5[] = {5};
    static const uint8_t fam5[] = {5, 1, 2, 3, 4, 0, 0, 5, 1, 2, 3, 4, 0, 0};
    struct chunk_spec one = {TRACE_CHUNK_ENCODING, 1, 50, 50, 0, 0, 0, 0};
    struct chunk_spec two = {TRACE_CHUNK_ENCODING, 2, 50, 50, 0, 0, 0, 0};

    /* argc far beyond the argument lengths present */
    struct stream_spec argc[] = {{S_TYPE, req1, 1},       {S_TS, zero3, 1},
                                 {S_CONN, zero3, 1},      {S_REQ_DB, zero3, 1},
                                 {S_REQ_PROTO, proto, 1}, {S_REQ_FLAGS, zero3, 1},
                                 {S_REQ_ARGC, v1000, 2},  {S_REQ_ARG0, zero3, 3}};
    bad_chunk_check("argc", argc, NELEM(argc), &one, 0);
    /* an argument length of 2^40 */
    struct stream_spec arglen[] = {
        {S_TYPE, req1, 1},           {S_TS, zero3, 1},
        {S_CONN, zero3, 1},          {S_REQ_DB, zero3, 1},
        {S_REQ_PROTO, proto, 1},     {S_REQ_FLAGS, zero3, 1},
        {S_REQ_ARGC, v2 /* 2 */, 1}, {S_REQ_ARG0, "\x80\x80\x80\x80\x80\x20GET", 9}};
    bad_chunk_check("arglen", arglen, NELEM(arglen), &one, 0);
    /* a reply to a request 5 back when the chunk starts at request 0 */
    struct stream_spec back[] = {{S_TYPE, rep1, 1},    {S_TS, zero3, 1}, {S_CONN, zero3, 1},
                                 {0x40, reply_hdr, 1}, {0x41, zero3, 1}, {0x42, back5, 1},
                                 {0x43, zero3, 1},     {0x44, zero3, 1}, {0x45, zero3, 1},
                                 {0x46, zero3, 1},     {0x48, zero3, 1}};
    bad_chunk_check("back", back, NELEM(back), &one, 0);
    /* a reply whose error length runs past its stream */
    struct stream_spec errlen[] = {{S_TYPE, rep1, 1},    {S_TS, zero3, 1}, {S_CONN, zero3, 1},
                                   {0x40, reply_hdr, 1}, {0x41, zero3, 1}, {0x42, zero3, 1},
                                   {0x43, zero3, 1},     {0x44, zero3, 1}, {0x45, zero3, 1},
                                   {0x46, zero3, 1},     {0x48, v1000, 2}, {0x49, "ERR x", 5}};
    bad_chunk_check("errlen", errlen, NELEM(errlen), &one, 0);
    /* an address family that does not exist */
    struct stream_spec fam[] = {{S_TYPE, open1, 1},
                                {S_TS, zero3, 1},
                                {S_CONN, zero3, 1},
                                {S_OPEN_FLAGS, zero3, 1},
                                {S_OPEN_ADDR, fam5, sizeof fam5}};
    bad_chunk_check("family", fam, NELEM(fam), &one, 0);
    /* a note text longer than its stream */
    struct stream_spec note[] = {{S_TYPE, note1, 1},
                                 {S_TS, zero3, 1},
                                 {S_CONN, zero3, 1},
                                 {S_NOTE, "\x00\x01\xe8\x07", 4},
                                 {S_NOTE_TEXT, "abc", 3}};
    bad_chunk_check("note", note, NELEM(note), &one, 0);
    /* a varint of 11 bytes */
    struct stream_spec varint[] = {{S_TYPE, close2, 1},
                                   {S_TS, vbig, sizeof vbig},
                                   {S_CONN, zero3, 1},
                                   {S_CLOSE_REASON, zero3, 1}};
    bad_chunk_check("varint", varint, NELEM(varint), &one, 0);
    /* the same stream twice */
    struct stream_spec dup[] = {{S_TYPE, close2, 1},
                                {S_TS, zero3, 1},
                                {S_CONN, zero3, 1},
                                {S_CLOSE_REASON, zero3, 1},
                                {S_TS, zero3, 1}};
    bad_chunk_check("duplicate", dup, NELEM(dup), &one, 0);
    /* a header that promises two events where the streams hold one */
    struct stream_spec short2[] = {
        {S_TYPE, close2, 2}, {S_TS, zero3, 1}, {S_CONN, zero3, 1}, {S_CLOSE_REASON, zero3, 1}};
    bad_chunk_check("short", short2, NELEM(short2), &two, 1);
    /* no streams at all */
    bad_chunk_check("empty", NULL, 0, &one, 0);

    /* directories built by hand: lengths that do not add up, a count beyond the payload */
    static const uint8_t sum[] = {1, S_TYPE, 5, 2}, count[] = {0xff, 0xff, 0xff, 0x0f, 0};
    bad_raw_check("dirsum", sum, sizeof sum, &one);
    bad_raw_check("dircount", count, sizeof count, &one);
    /* headers that lie about the payload: more events than bytes, a wrong raw size */
    static const uint8_t ok[] = {4, S_TYPE, 1, S_TS, 1, S_CONN, 1, S_CLOSE_REASON, 1, 2, 0, 0, 0};
    struct chunk_spec many = one, bigger = one, smaller = one;
    many.events = 100;
    bigger.raw_size = 1000;
    smaller.raw_size = 5;
    bad_raw_check("events", ok, sizeof ok, &many);
    bad_raw_check("rawbig", ok, sizeof ok, &bigger);
    bad_raw_check("rawsmall", ok, sizeof ok, &smaller);
    /* and the same payload with an honest header reads fine */
    size_t clen;
    uint8_t *c = hand_chunk_raw(ok, sizeof ok, &one, &clen);
    struct trace_reader *r;
    struct trace_event ev;
    struct rt_err err = {0};
    char path[512];
    tmp_path(path, sizeof path, "okchunk");
    struct trace_writer *w = wopen(path, NULL, 0, NULL);
    trace_writer_abort(w);
    size_t hlen, olen;
    uint8_t *hdr = file_load(path, &hlen);
    uint8_t *o = splice_in(hdr, hlen, hlen, c, clen, &olen);
    r = ropen_mem(o, olen, "okchunk", 0);
    ck_assert_int_eq(trace_reader_next(r, &ev, &err), 1);
    ck_assert_uint_eq(ev.type, TRACE_EV_CONN_CLOSE);
    ck_assert_uint_eq(ev.ts, 50);
    ck_assert_int_eq(trace_reader_next(r, &ev, &err), RT_ETRUNCATED);
    trace_reader_close(r);
    free(o);
    free(hdr);
    free(c);
    unlink(path);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 7. Files that are not traces
 * ------------------------------------------------------------------------------------- */

static void open_fails(const char *path, int code)
{
    struct rt_err err = {0};
    struct trace_reader *r = trace_reader_open(path, NULL, &err);
    ck_assert_msg(r == NULL, "%s opened", path);
    ck_assert_msg(err.code == code, "%s: code %d, expected %d (%s)", path, err.code, code, err.msg);
    need_msg_names(err.msg, path, NULL);
}

static void mem_fails(const void *p, size_t n, int code)
{
    struct rt_err err = {0};
    struct trace_reader *r = trace_reader_open_mem(p, n, "in-memory", NULL, &err);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.code, code);
    need_msg_names(err.msg, "in-memory", NULL);
}

START_TEST(test_format_open_empty)
{
    char path[512];
    tmp_path(path, sizeof path, "empty");
    file_store(path, "", 0);
    open_fails(path, RT_ENOTTRACE);
    mem_fails(NULL, 0, RT_ENOTTRACE);
    unlink(path);
}
END_TEST

START_TEST(test_format_open_not_trace)
{
    static const char text[] = "*1\r\n$4\r\nPING\r\n this is a RESP capture, not a trace\n";
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x03, 0x4b, 0x4c, 0x4a, 0x06, 0x00, 0xc2,
                                 0x41, 0x24, 0x35, 0x03, 0x00, 0x00, 0x00};
    uint8_t zst[128];
    size_t zn = ZSTD_compress(zst, sizeof zst, "hello, world", 12, 3);
    ck_assert(!ZSTD_isError(zn));
    /* another skippable frame, and our magic with a metadata block where the header goes */
    uint8_t skip[12], metafirst[20];
    rt_le32(skip, 0x184D2A50u);
    rt_le32(skip + 4, 4);
    memcpy(skip + 8, "abcd", 4);
    uint8_t *mc = metafirst + TRACE_ENVELOPE;
    mc[0] = TRACE_BLK_META;
    mc[1] = 1; /* one key */
    mc[2] = 1;
    mc[3] = 'k';
    mc[4] = 2;
    mc[5] = 'v';
    mc[6] = 'w';
    mc[7] = 0;
    rt_le32(mc + 8, rt_check32(mc, 8));
    rt_le32(metafirst, TRACE_BLOCK_MAGIC);
    rt_le32(metafirst + 4, 12);
    const struct {
        const void *p;
        size_t n;
    } cases[] = {{text, sizeof text - 1}, {"ab", 2},
                 {gz, sizeof gz},         {zst, zn},
                 {skip, sizeof skip},     {metafirst, sizeof metafirst}};
    char path[512];
    tmp_path(path, sizeof path, "nottrace");
    for (size_t i = 0; i < NELEM(cases); i++) {
        file_store(path, cases[i].p, cases[i].n);
        open_fails(path, RT_ENOTTRACE);
        mem_fails(cases[i].p, cases[i].n, RT_ENOTTRACE);
    }
    unlink(path);
}
END_TEST

START_TEST(test_format_open_directory)
{
    open_fails(tmp_dir(), RT_EINVAL);
}
END_TEST

START_TEST(test_format_open_missing)
{
    char path[512], wpath[600];
    tmp_path(path, sizeof path, "missing");
    unlink(path);
    open_fails(path, RT_EIO);
    /* the writer too names the path it cannot create */
    snprintf(wpath, sizeof wpath, "%s/no/such/dir.rtrace", path);
    struct rt_err err = {0};
    ck_assert_ptr_null(trace_writer_open(wpath, NULL, 0, NULL, &err));
    ck_assert_int_eq(err.code, RT_EIO);
    need_msg_names(err.msg, wpath, NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 9. Chunk encoding 2: tables carried from chunk to chunk
 * ------------------------------------------------------------------------------------- */

/* Writes `l` with `o`, checks every chunk header's encoding and DEPENDS flag (chains of
 * `chain` chunks; 0: no chains), then reads it back from the file and from memory. @return
 * the file's size. */
static size_t enc_roundtrip(struct evlist *l, const struct trace_writer_opts *o, size_t chain)
{
    char path[512];
    tmp_path(path, sizeof path, "enc");
    write_file(path, l, o);
    size_t len, nb;
    uint8_t *buf = file_load(path, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    size_t k = 0;
    for (const struct blk *c; (c = nth_chunk(b, nb, k)) != NULL; k++) {
        uint8_t enc = buf[c->off + TRACE_ENVELOPE + 1];
        NEED(enc == (o->encoding ? o->encoding : TRACE_CHUNK_ENCODING_3), "chunk %zu: encoding %u",
             k, enc);
        int depends = (c->flags & TRACE_CHUNK_DEPENDS) != 0;
        NEED(depends == (chain > 1 && k % chain != 0), "chunk %zu: flags %u", k, c->flags);
    }
    NEED(k >= 2, "%zu chunks", k);
    free(b);
    free(buf);
    unlink(path);
    roundtrip(l, o);
    return len;
}

START_TEST(test_format_enc2_roundtrip)
{
    struct evlist l = {0};
    gen_stream_rep(&l, 0x7ab1e5, 20000, 0);
    struct trace_writer_opts o = {.chunk_events = 500};
    size_t chained = enc_roundtrip(&l, &o, 256);
    o.chain_chunks = 3;
    enc_roundtrip(&l, &o, 3);
    o.chain_chunks = 1; /* every chunk starts a chain */
    size_t single = enc_roundtrip(&l, &o, 1);
    o.chain_chunks = 0;
    o.chain_bytes = 1; /* a chain ends once it holds a byte */
    enc_roundtrip(&l, &o, 1);
    o.chain_bytes = 0;
    o.encoding = TRACE_CHUNK_ENCODING_2; /* what 1.2 readers read: the same chains */
    enc_roundtrip(&l, &o, 256);
    o.encoding = TRACE_CHUNK_ENCODING;
    size_t enc1 = enc_roundtrip(&l, &o, 0);
    o.chunk_events = 1; /* a chain of one-event chunks */
    o.encoding = 0;
    el_free(&l);
    gen_stream_rep(&l, 0x7ab1e6, 600, 1);
    enc_roundtrip(&l, &o, 256);
    /* what repeats is stored once a chain: the longer the chains, the smaller the file */
    NEED(chained < single && single < enc1, "sizes: chained %zu, single %zu, encoding 1 %zu",
         chained, single, enc1);
    el_free(&l);
}
END_TEST

START_TEST(test_format_enc2_bad_options)
{
    char path[512];
    tmp_path(path, sizeof path, "badenc");
    struct trace_writer_opts o = {.encoding = 4};
    struct rt_err err = {0};
    ck_assert_ptr_null(trace_writer_open(path, NULL, 0, &o, &err));
    ck_assert_int_eq(err.code, RT_EINVAL);
    need_msg_names(err.msg, path, "encoding 4");
    unlink(path);
}
END_TEST

/* Seeking into the middle of a chain decodes the chain from its first chunk. */
START_TEST(test_format_enc2_seek)
{
    struct evlist l = {0};
    char path[512];
    gen_stream_rep(&l, 8081, 3000, 1);
    for (size_t i = 1; i < l.n; i += 97)
        l.ev[i].ts = l.ev[i - 1].ts;
    tmp_path(path, sizeof path, "seek2");
    struct trace_writer_opts o = {.chunk_events = 100, .chain_chunks = 7};
    write_file(path, &l, &o);
    struct trace_reader *r = ropen(path, 0);
    ck_assert_int_eq(trace_reader_has_index(r), 1);
    seek_suite(r, &l, 0);
    trace_reader_close(r);

    /* without an index: chunk headers are walked */
    struct trace_writer *w = wopen(path, NULL, 0, &o);
    write_range(w, &l, 0, l.n);
    wflush(w);
    trace_writer_abort(w);
    r = ropen(path, 0);
    ck_assert_int_eq(trace_reader_has_index(r), 0);
    seek_suite(r, &l, RT_ETRUNCATED);
    trace_reader_close(r);
    unlink(path);
    el_free(&l);
}
END_TEST

/* The tables live in reservations sized to the format's limits (table.c): each fills to
 * exactly its limit, the next entry is refused (-2), and every entry reads back, the last bytes
 * of each reservation included. */
START_TEST(test_format_tab_reservations)
{
    static uint8_t s[TRACE_TAB_MAX_STR];
    /* bytes: 32 MiB of 1,024-byte strings, each filled with its own number */
    struct str_tab t = {0};
    uint32_t nbig = TRACE_TAB_MAX_BYTES / TRACE_TAB_MAX_STR;
    for (uint32_t i = 0; i < nbig; i++) {
        memset(s, (int)(i * 7 + 1), sizeof s);
        memcpy(s, &i, sizeof i);
        ck_assert_int_eq(str_tab_add(&t, s, sizeof s, 0, 0), 0);
    }
    ck_assert_int_eq(str_tab_add(&t, "x", 1, 0, 0), -2);
    ck_assert_int_eq(str_tab_add(&t, "", 0, 0, 0), 0); /* an empty string still fits */
    for (uint32_t i = 0; i < nbig; i++) {
        size_t len;
        const uint8_t *p = str_tab_get(&t, i, &len);
        uint32_t v;
        memcpy(&v, p, sizeof v);
        NEED(len == sizeof s && v == i && p[len - 1] == (uint8_t)(i * 7 + 1), "entry %u", i);
    }
    str_tab_reset(&t);
    /* entries: 1 Mi one-byte strings, then the limit */
    for (uint32_t i = 0; i < TRACE_TAB_MAX_ENTRIES; i++) {
        uint8_t c = (uint8_t)i;
        ck_assert_int_eq(str_tab_add(&t, &c, 1, 0, 0), 0);
    }
    ck_assert_int_eq(str_tab_add(&t, "y", 1, 0, 0), -2);
    for (uint32_t i = 0; i < TRACE_TAB_MAX_ENTRIES; i += 4093) {
        size_t len;
        const uint8_t *p = str_tab_get(&t, i, &len);
        NEED(len == 1 && p[0] == (uint8_t)i, "entry %u", i);
    }
    size_t len;
    const uint8_t *p = str_tab_get(&t, TRACE_TAB_MAX_ENTRIES - 1, &len);
    NEED(len == 1 && p[0] == (uint8_t)(TRACE_TAB_MAX_ENTRIES - 1), "the last entry");
    str_tab_free(&t);
    /* reply descriptors, indexed as the writer keeps them */
    struct desc_tab d = {0};
    for (uint32_t i = 0; i < TRACE_TAB_MAX_REPLIES; i++) {
        struct reply_desc x = {.len = i, .hash = (uint64_t)i * 0xff51afd7ed558ccdull, .rtype = '$'};
        ck_assert_int_eq(desc_tab_add(&d, &x, 1, desc_tab_hash(&x)), 0);
    }
    struct reply_desc more = {.len = 1u << 30, .rtype = '$'};
    ck_assert_int_eq(desc_tab_add(&d, &more, 1, desc_tab_hash(&more)), -2);
    for (uint32_t i = 0; i < TRACE_TAB_MAX_REPLIES; i += 997) {
        struct reply_desc x = {.len = i, .hash = (uint64_t)i * 0xff51afd7ed558ccdull, .rtype = '$'};
        NEED(desc_tab_find(&d, &x, desc_tab_hash(&x)) == (int)i, "descriptor %u", i);
    }
    NEED(d.d[TRACE_TAB_MAX_REPLIES - 1].len == TRACE_TAB_MAX_REPLIES - 1, "the last descriptor");
    desc_tab_free(&d);
}
END_TEST

/* Where the address space for the reservations is refused (`ulimit -v`, strict overcommit),
 * a table grows by realloc as before: in a child whose address space may grow by 16 MiB only
 * (less than any reservation), 20,000 strings of 100 bytes and 50,000 reply descriptors (2 MB
 * and 2.4 MB) go in and read back. Not under a sanitizer, whose own mappings an address-space
 * limit breaks. */
START_TEST(test_format_tab_unmapped)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#endif
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%lu", &pages) != 1)
            _exit(10);
        fclose(f);
        rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (16u << 20);
        struct rlimit rl = {lim, lim};
        if (setrlimit(RLIMIT_AS, &rl))
            _exit(11);
        struct str_tab t = {0};
        uint8_t s[100];
        for (uint32_t i = 0; i < 20000; i++) {
            memset(s, (int)i, sizeof s);
            memcpy(s, &i, sizeof i);
            if (str_tab_add(&t, s, sizeof s, 1, str_tab_hash(s, sizeof s)))
                _exit(1);
        }
        if (!t.unmapped)
            _exit(2);
        for (uint32_t i = 0; i < 20000; i++) {
            memset(s, (int)i, sizeof s);
            memcpy(s, &i, sizeof i);
            if (str_tab_find(&t, s, sizeof s, str_tab_hash(s, sizeof s)) != (int)i)
                _exit(3);
        }
        str_tab_free(&t);
        struct desc_tab d = {0};
        for (uint32_t i = 0; i < 50000; i++) {
            struct reply_desc x = {.len = i, .size = 7, .rtype = ':'};
            if (desc_tab_add(&d, &x, 0, 0))
                _exit(4);
        }
        if (!d.unmapped)
            _exit(5);
        for (uint32_t i = 0; i < 50000; i++)
            if (d.d[i].len != i || d.d[i].size != 7)
                _exit(6);
        desc_tab_free(&d);
        _exit(0);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    NEED(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child under the limit: status %d", st);
}
END_TEST

/* A key table grows to at most TRACE_TAB_MAX_BYTES: past half of it the next chunk starts a
 * chain, and inside one big chunk the writer stops adding (the reader would refuse more). */
START_TEST(test_format_enc2_table_limits)
{
    struct evlist l = {0};
    size_t nkeys = (TRACE_TAB_MAX_BYTES / 1000) * 5 / 4;
    static char key[1000];
    const char *argv[2] = {"GET", key};
    size_t argvlen[2] = {3, sizeof key};
    for (size_t i = 0; i < nkeys; i++) {
        snprintf(key, sizeof key, "key:%zu:", i);
        struct trace_event e = ev_make(TRACE_EV_REQUEST, 1000 + i, 1);
        e.u.req = (struct trace_request){.proto = 2, .argc = 2, .argv = argv, .argvlen = argvlen};
        el_add(&l, &e);
    }
    /* 8 MiB chunks: about 8k keys each; the table is half full after two of them */
    struct trace_writer_opts o = {.chunk_ns = UINT64_MAX};
    char path[512];
    tmp_path(path, sizeof path, "tabfull");
    write_file(path, &l, &o);
    size_t len, nb;
    uint8_t *buf = file_load(path, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    size_t starts = 0, k = 0;
    for (const struct blk *c; (c = nth_chunk(b, nb, k)) != NULL; k++)
        starts += !(c->flags & TRACE_CHUNK_DEPENDS);
    NEED(starts >= 2 && k > starts, "%zu chunks, %zu chain starts", k, starts);
    free(b);
    free(buf);
    struct trace_reader *r = ropen(path, 0);
    struct rt_err err = {0};
    read_range(r, &l, 0, l.n);
    ck_assert_int_eq(read_end(r, &err), 0);
    trace_reader_close(r);
    /* one 64 MiB chunk: the table fills, the rest of the keys are written as they are */
    o.chunk_bytes = 64u << 20;
    roundtrip(&l, &o);
    unlink(path);
    el_free(&l);
}
END_TEST

/* A file of the writer's header followed by hand-made chunks. */
static uint8_t *header_then(const uint8_t *const *chunks, const size_t *clen, size_t n,
                            size_t *len)
{
    char path[512];
    tmp_path(path, sizeof path, "hdr");
    trace_writer_abort(wopen(path, NULL, 0, NULL)); /* a header and nothing else */
    uint8_t *buf = file_load(path, len);
    unlink(path);
    for (size_t i = 0; i < n; i++) {
        size_t olen;
        uint8_t *o = splice_in(buf, *len, *len, chunks[i], clen[i], &olen);
        free(buf);
        buf = o;
        *len = olen;
    }
    return buf;
}

/* Reads `buf`: `good` CLOSE events, then the error `code` whose message holds `what`. */
static void expect_read_fails(const uint8_t *buf, size_t len, size_t good, int code,
                              const char *what)
{
    struct trace_reader *r = ropen_mem(buf, len, "hand2", 0);
    struct trace_event ev;
    struct rt_err err = {0};
    for (size_t i = 0; i < good; i++)
        NEED(trace_reader_next(r, &ev, &err) == 1, "event %zu: %s", i, err.msg);
    int rc = trace_reader_next(r, &ev, &err);
    NEED(rc == code, "expected %d (%s), got %d: %s", code, what, rc, err.msg);
    need_msg_names(err.msg, "hand2", what);
    trace_reader_close(r);
}

/* An encoding-2 chunk of one REQUEST ("GET" then a key) and one REPLY (+OK): refs[0..4) are
 * the references of argument 0, argument 1 and the reply; pre[] its preamble. */
static uint8_t *enc2_chunk(const uint8_t *pre, size_t npre, const uint64_t *refs, size_t keylen,
                           uint16_t flags, uint64_t ts, uint64_t req_base, size_t *clen)
{
    static uint8_t key[2048];
    memset(key, 'k', sizeof key);
    struct rt_buf a0 = {0}, a1 = {0}, r0 = {0}, r1 = {0}, rr = {0}, tsb = {0};
    put_vars(&r0, &refs[0], 1);
    put_vars(&r1, &refs[1], 1);
    put_vars(&rr, &refs[2], 1);
    if (refs[0] < TRACE_REF_ENTRY)
        NEED(rt_put_varint(&a0, 3) == 0 && rt_put_bytes(&a0, "GET", 3) == 0, "oom");
    if (refs[1] < TRACE_REF_ENTRY)
        NEED(rt_put_varint(&a1, keylen) == 0 && rt_put_bytes(&a1, key, keylen) == 0, "oom");
    uint64_t tsv[] = {0, 0};
    put_vars(&tsb, tsv, 2);
    static const uint8_t types[] = {TRACE_EV_REQUEST, TRACE_EV_REPLY}, lo[] = {0, 0},
                         conn[] = {2, 0}, db[] = {0}, proto[] = {2}, qflags[] = {0},
                         argc[] = {2}, back[] = {1}, rtype[] = {'+'}, rflags[] = {0},
                         rlen[] = {5}, zero[] = {0}, size[] = {2};
    int lit = refs[2] < TRACE_REF_ENTRY;
    struct stream_spec s[] = {{S_TYPE, types, 2},
                              {S_TS, tsb.p, tsb.len},
                              {S_TS_LO, lo, 2},
                              {S_CONN, conn, 2},
                              {S_REQ_DB, db, 1},
                              {S_REQ_PROTO, proto, 1},
                              {S_REQ_FLAGS, qflags, 1},
                              {S_REQ_ARGC, argc, 1},
                              {S_REQ_ARG0_REF, r0.p, r0.len},
                              {S_REQ_ARG1_REF, r1.p, r1.len},
                              {S_REQ_ARG0, a0.p, a0.len},
                              {S_REQ_ARG1, a1.p, a1.len},
                              {0x40 | S_R_BACK, back, 1},
                              {0x40 | S_R_REF, rr.p, rr.len},
                              {0x40 | S_R_TYPE, rtype, lit},
                              {0x40 | S_R_FLAGS, rflags, lit},
                              {0x40 | S_R_LEN, rlen, lit},
                              {0x40 | S_R_COUNT, zero, lit},
                              {0x40 | S_R_SIZE, size, lit},
                              {0x40 | S_R_IVAL, zero, lit},
                              {0x40 | S_R_ERRLEN, zero, lit}};
    struct chunk_spec cs = {TRACE_CHUNK_ENCODING_2, 2, ts, ts, req_base, 1, 0, flags};
    uint8_t *o = hand_chunk_pre(pre, npre, s, NELEM(s), &cs, clen);
    rt_buf_free(&a0);
    rt_buf_free(&a1);
    rt_buf_free(&r0);
    rt_buf_free(&r1);
    rt_buf_free(&rr);
    rt_buf_free(&tsb);
    return o;
}

/* The reader's checks of encoding 2: a reference past its table, a string too long for a
 * table, a reply with error text added to the table, a corrupt preamble, a chunk whose chain
 * was not read (or another chain's), and a correct chain of two chunks. */
START_TEST(test_format_enc2_hand_chunks)
{
    static const uint8_t start[] = {0, 3, 0, 0, 0};
    const uint64_t add[] = {TRACE_REF_ADD, TRACE_REF_ADD, TRACE_REF_ADD};
    const uint64_t hit[] = {TRACE_REF_ENTRY, TRACE_REF_ENTRY, TRACE_REF_ENTRY};
    size_t l1, l2, len;
    /* a good chain: the second chunk takes all three fields from the first's entries */
    uint8_t *c1 = enc2_chunk(start, sizeof start, add, 7, 0, 100, 0, &l1);
    uint8_t chain_id[4];
    rt_le32(chain_id, (uint32_t)rt_rd64(c1 + TRACE_ENVELOPE + 44));
    uint8_t next[] = {1, chain_id[0], chain_id[1], chain_id[2], chain_id[3], 3, 1, 1, 1};
    uint8_t *c2 = enc2_chunk(next, sizeof next, hit, 7, TRACE_CHUNK_DEPENDS, 200, 1, &l2);
    const uint8_t *two[] = {c1, c2};
    size_t twol[] = {l1, l2};
    uint8_t *buf = header_then(two, twol, 2, &len);
    struct trace_reader *r = ropen_mem(buf, len, "hand2", 0);
    struct trace_event ev;
    struct rt_err err = {0};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(trace_reader_next(r, &ev, &err), 1);
        if (ev.type == TRACE_EV_REQUEST) {
            ck_assert_uint_eq(ev.u.req.argc, 2);
            ck_assert_mem_eq(ev.u.req.argv[0], "GET", 3);
            ck_assert_uint_eq(ev.u.req.argvlen[1], 7);
            ck_assert_mem_eq(ev.u.req.argv[1], "kkkkkkk", 7);
        } else {
            ck_assert_uint_eq(ev.type, TRACE_EV_REPLY);
            ck_assert_uint_eq(ev.u.reply.rtype, '+');
            ck_assert_uint_eq(ev.u.reply.len, 5);
            ck_assert_uint_eq(ev.u.reply.size, 2);
            ck_assert_uint_eq(ev.u.reply.req_seq, i / 2);
        }
    }
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED); /* no index */
    trace_reader_close(r);
    free(buf);

    /* the second chunk alone: its chain was not read */
    const uint8_t *one[] = {c2};
    buf = header_then(one, &l2, 1, &len);
    expect_read_fails(buf, len, 0, RT_ECORRUPT, "needs the 1 chunks of its chain");
    free(buf);
    /* the second chunk after another chain's first chunk, with as many entries (another key:
     * the chain's id differs; the id comes from the compressed bytes, so a chunk of the same
     * payload, whose tables are the same, would pass) */
    size_t l3;
    uint8_t *c3 = enc2_chunk(start, sizeof start, add, 8, 0, 100, 0, &l3);
    const uint8_t *other[] = {c3, c2};
    size_t otherl[] = {l3, l2};
    buf = header_then(other, otherl, 2, &len);
    expect_read_fails(buf, len, 2, RT_ECORRUPT, "needs the 1 chunks of its chain");
    free(buf);
    free(c3);

    /* references past the tables, in a chunk that starts a chain */
    for (int f = 0; f < 3; f++) {
        uint64_t refs[] = {TRACE_REF_ADD, TRACE_REF_ADD, TRACE_REF_ADD};
        refs[f] = TRACE_REF_ENTRY;
        c3 = enc2_chunk(start, sizeof start, refs, 7, 0, 100, 0, &l3);
        const uint8_t *bad[] = {c3};
        buf = header_then(bad, &l3, 1, &len);
        expect_read_fails(buf, len, f < 2 ? 0 : 1, RT_ECORRUPT,
                          f == 0 ? "req.arg0.ref" : f == 1 ? "req.arg1.ref" : "reply");
        free(buf);
        free(c3);
    }
    /* a string longer than a table holds cannot be added; at the limit it can */
    for (size_t keylen = TRACE_TAB_MAX_STR; keylen <= TRACE_TAB_MAX_STR + 1; keylen++) {
        c3 = enc2_chunk(start, sizeof start, add, keylen, 0, 100, 0, &l3);
        const uint8_t *bad[] = {c3};
        buf = header_then(bad, &l3, 1, &len);
        if (keylen > TRACE_TAB_MAX_STR) {
            expect_read_fails(buf, len, 0, RT_ECORRUPT, "req.arg1.ref");
        } else {
            r = ropen_mem(buf, len, "hand2", 0);
            ck_assert_int_eq(trace_reader_next(r, &ev, &err), 1);
            ck_assert_uint_eq(ev.u.req.argvlen[1], keylen);
            trace_reader_close(r);
        }
        free(buf);
        free(c3);
    }
    /* corrupt preambles: 4 tables; entries before a chain's first chunk; a first chunk that
     * says it depends, a later one that says it does not */
    static const uint8_t four[] = {0, 4, 0, 0, 0, 0}, full[] = {0, 3, 0, 1, 0};
    const struct {
        const uint8_t *pre;
        size_t n;
        uint16_t flags;
    } bad[] = {{four, sizeof four, 0},
               {full, sizeof full, 0},
               {start, sizeof start, TRACE_CHUNK_DEPENDS},
               {next, sizeof next, 0},
               {next, 3, TRACE_CHUNK_DEPENDS}};
    for (size_t k = 0; k < NELEM(bad); k++) {
        c3 = enc2_chunk(bad[k].pre, bad[k].n, add, 7, bad[k].flags, 200, 1, &l3);
        const uint8_t *one3[] = {c1, c3};
        size_t l13[] = {l1, l3};
        buf = header_then(one3, l13, 2, &len);
        expect_read_fails(buf, len, 2, RT_ECORRUPT, "corrupt preamble");
        free(buf);
        free(c3);
    }
    free(c1);
    free(c2);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 8. Forward compatibility
 * ------------------------------------------------------------------------------------- */

START_TEST(test_format_unknown_block_skipped)
{
    struct evlist l = {0};
    size_t na, len, nb, olen, olen2;
    uint8_t *buf = two_chunk_file(&l, &na, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    const struct blk *c0 = nth_chunk(b, nb, 0), *c1 = nth_chunk(b, nb, 1);
    ck_assert_ptr_nonnull(c1);

    /* a block of a type this reader does not know, with a correct check */
    uint8_t blk[64];
    uint8_t *c = blk + TRACE_ENVELOPE;
    c[0] = 0x7f;
    memcpy(c + 1, "from a newer writer", 19);
    rt_le32(c + 20, rt_check32(c, 20));
    rt_le32(blk, TRACE_BLOCK_MAGIC);
    rt_le32(blk + 4, 24);
    size_t bn = TRACE_ENVELOPE + 24;

    /* between the two chunks, and before the first (after the leading metadata) */
    uint8_t *o = splice_in(buf, len, c1->off, blk, bn, &olen);
    uint8_t *o2 = splice_in(o, olen, c0->off, blk, bn, &olen2);
    expect_mem(o, olen, &l);
    expect_mem(o2, olen2, &l);
    struct trace_reader *r = ropen_mem(o2, olen2, "unknown", 0);
    ck_assert_str_eq(trace_reader_meta_get(r, "host", NULL), "a");
    trace_reader_close(r);

    /* and in a file without an index: read to the truncation */
    r = ropen_mem(o2, olen2 - (len - b[nb - 1].off), "unknown", 0);
    struct rt_err err = {0};
    read_range(r, &l, 0, l.n);
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    trace_reader_close(r);
    free(o);
    free(o2);
    free(b);
    free(buf);
    el_free(&l);
}
END_TEST

/* Splices a hand-made chunk between the two chunks of a writer's file and expects A, then
 * `mid`, then B. */
static void expect_hand_chunk(const struct stream_spec *s, size_t ns, const struct chunk_spec *cs,
                              const struct evlist *mid)
{
    struct evlist l = {0}, want = {0};
    size_t na, len, nb, clen, olen;
    uint8_t *buf = two_chunk_file(&l, &na, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    uint8_t *chunk = hand_chunk(s, ns, cs, &clen);
    uint8_t *o = splice_in(buf, len, nth_chunk(b, nb, 1)->off, chunk, clen, &olen);
    for (size_t i = 0; i < na; i++)
        el_add(&want, &l.ev[i]);
    for (size_t i = 0; mid && i < mid->n; i++)
        el_add(&want, &mid->ev[i]);
    for (size_t i = na; i < l.n; i++)
        el_add(&want, &l.ev[i]);
    expect_mem(o, olen, &want);
    free(o);
    free(chunk);
    free(b);
    free(buf);
    el_free(&want);
    el_free(&l);
}

START_TEST(test_format_unknown_stream_skipped)
{
    /* two CLOSE events; the directory also lists ids this version does not know, between
     * the known ones, so the offsets of the streams after them depend on their lengths */
    struct rt_buf ts = {0}, conn = {0};
    uint64_t tsv[] = {rt_zigzag(0), rt_zigzag(5)}, connv[] = {rt_zigzag(7), rt_zigzag(-3)};
    put_vars(&ts, tsv, 2);
    put_vars(&conn, connv, 2);
    static const uint8_t types[] = {TRACE_EV_CONN_CLOSE, TRACE_EV_CONN_CLOSE};
    static const uint8_t reasons[] = {TRACE_CLOSE_RST, TRACE_CLOSE_IDLE};
    struct stream_spec s[] = {{S_TYPE, types, 2},           {0x0e, "common-range id", 15},
                              {S_TS, ts.p, ts.len},         {0x4f, "\0\0\0", 3},
                              {S_CONN, conn.p, conn.len},   {0x1ff, "two-byte id", 11},
                              {S_CLOSE_REASON, reasons, 2}, {0x3f, "", 0}};
    struct chunk_spec cs = {TRACE_CHUNK_ENCODING, 2, 1000, 1005, 0, 0, 0, 0};
    struct evlist mid = {0};
    struct trace_event e = ev_make(TRACE_EV_CONN_CLOSE, 1000, 7);
    e.u.close.reason = TRACE_CLOSE_RST;
    el_add(&mid, &e);
    e = ev_make(TRACE_EV_CONN_CLOSE, 1005, 4);
    e.u.close.reason = TRACE_CLOSE_IDLE;
    el_add(&mid, &e);
    expect_hand_chunk(s, NELEM(s), &cs, &mid);
    el_free(&mid);
    rt_buf_free(&ts);
    rt_buf_free(&conn);
}
END_TEST

START_TEST(test_format_unknown_event_type_skipped)
{
    /* CLOSE, an event of type 9 with its own stream 0x90, CLOSE: the reader steps over the
     * unknown one, whose time and connection deltas still count */
    struct rt_buf ts = {0}, conn = {0};
    uint64_t tsv[] = {rt_zigzag(0), rt_zigzag(10), rt_zigzag(10)};
    uint64_t connv[] = {rt_zigzag(1), rt_zigzag(1), rt_zigzag(1)};
    put_vars(&ts, tsv, 3);
    put_vars(&conn, connv, 3);
    static const uint8_t types[] = {TRACE_EV_CONN_CLOSE, TRACE_EV_MAX_KNOWN + 1,
                                    TRACE_EV_CONN_CLOSE};
    static const uint8_t reasons[] = {TRACE_CLOSE_FIN, TRACE_CLOSE_LIMIT};
    struct stream_spec s[] = {{S_TYPE, types, 3},
                              {S_TS, ts.p, ts.len},
                              {S_CONN, conn.p, conn.len},
                              {(TRACE_EV_MAX_KNOWN + 1) << 4, "\x05payload", 8},
                              {S_CLOSE_REASON, reasons, 2}};
    struct chunk_spec cs = {TRACE_CHUNK_ENCODING, 3, 2000, 2020, 0, 0, 0, 0};
    struct evlist mid = {0};
    struct trace_event e = ev_make(TRACE_EV_CONN_CLOSE, 2000, 1);
    e.u.close.reason = TRACE_CLOSE_FIN;
    el_add(&mid, &e);
    e = ev_make(TRACE_EV_CONN_CLOSE, 2020, 3);
    e.u.close.reason = TRACE_CLOSE_LIMIT;
    el_add(&mid, &e);
    expect_hand_chunk(s, NELEM(s), &cs, &mid);

    /* the unknown event is counted as such when the totals come from reading */
    size_t clen;
    uint8_t *chunk = hand_chunk(s, NELEM(s), &cs, &clen);
    struct trace_writer *w;
    char path[512];
    tmp_path(path, sizeof path, "unktype");
    w = wopen(path, NULL, 0, NULL);
    trace_writer_abort(w); /* a header and nothing else */
    size_t len, olen;
    uint8_t *hdr = file_load(path, &len);
    uint8_t *o = splice_in(hdr, len, len, chunk, clen, &olen);
    struct trace_reader *r = ropen_mem(o, olen, "unktype", 0);
    struct rt_err err = {0};
    read_range(r, &mid, 0, mid.n);
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    struct trace_totals t;
    trace_reader_totals(r, &t);
    ck_assert_uint_eq(t.events, 2);
    ck_assert_uint_eq(t.by_type[0], 1);
    ck_assert_uint_eq(t.by_type[TRACE_EV_CONN_CLOSE], 2);
    trace_reader_close(r);
    free(o);
    free(hdr);
    free(chunk);
    unlink(path);
    el_free(&mid);
    rt_buf_free(&ts);
    rt_buf_free(&conn);
}
END_TEST

/* A chunk of an encoding this version does not know is skipped, salvage or not, and the
 * reader reports it (count and offset) instead of passing the trace for complete. */
START_TEST(test_format_unknown_chunk_encoding_skipped)
{
    static const uint8_t junk[] = "an encoding from the future";
    struct stream_spec s[] = {{0x01, junk, sizeof junk}};
    struct chunk_spec cs = {TRACE_CHUNK_ENCODING_MAX + 1, 5, 100, 200, 0, 0, 0, 0};
    struct evlist l = {0};
    size_t na, len, nb, clen, olen, olen2;
    uint8_t *buf = two_chunk_file(&l, &na, &len);
    struct blk *b = walk_blocks(buf, len, &nb);
    uint64_t at = nth_chunk(b, nb, 1)->off;
    uint8_t *chunk = hand_chunk(s, NELEM(s), &cs, &clen);
    /* one between A and B, then another one in front of the first */
    uint8_t *o = splice_in(buf, len, at, chunk, clen, &olen);
    uint8_t *o2 = splice_in(o, olen, at, chunk, clen, &olen2);
    for (int salvage = 0; salvage < 2; salvage++) {
        for (int twice = 0; twice < 2; twice++) {
            struct trace_reader *r =
                ropen_mem(twice ? o2 : o, twice ? olen2 : olen, "newer", salvage);
            struct rt_err err = {0};
            read_range(r, &l, 0, l.n);
            ck_assert_int_eq(read_end(r, &err), 0);
            struct trace_damage d;
            trace_reader_damage(r, &d);
            ck_assert_uint_eq(d.chunks_unknown, 1 + twice);
            ck_assert_uint_eq(d.chunks_skipped, 1 + twice);
            ck_assert_uint_eq(d.bytes_skipped, (1 + twice) * clen);
            ck_assert_uint_eq(d.unknown_offset, at);
            ck_assert_uint_eq(d.first_offset, at);
            struct trace_totals t;
            trace_reader_totals(r, &t); /* from the 1.2 index: it does not know them */
            ck_assert_uint_eq(t.chunks_unknown, 0);
            need_msg_names(d.msg, "newer", "encoding 4");
            need_msg_offset(d.msg, at);
            trace_reader_close(r);
        }
    }
    /* without an index, the totals count them as they are met */
    size_t no;
    struct blk *ob = walk_blocks(o, olen, &no);
    ck_assert_uint_eq(ob[no - 1].type, TRACE_BLK_INDEX);
    struct trace_reader *ri = ropen_mem(o, ob[no - 1].off, "newer", 0);
    struct rt_err ierr = {0};
    read_range(ri, &l, 0, l.n);
    ck_assert_int_eq(read_end(ri, &ierr), RT_ETRUNCATED);
    struct trace_totals it;
    trace_reader_totals(ri, &it);
    ck_assert_uint_eq(it.chunks_unknown, 1);
    ck_assert_uint_eq(it.chunks, 2);
    trace_reader_close(ri);
    free(ob);
    /* the chunks of the known encodings around them are not damage */
    struct trace_reader *r = ropen_mem(buf, len, "known", 0);
    struct rt_err err = {0};
    read_range(r, &l, 0, l.n);
    ck_assert_int_eq(read_end(r, &err), 0);
    struct trace_damage d;
    trace_reader_damage(r, &d);
    ck_assert_uint_eq(d.chunks_unknown, 0);
    ck_assert_uint_eq(d.unknown_offset, UINT64_MAX);
    ck_assert_uint_eq(d.first_offset, UINT64_MAX);
    trace_reader_close(r);
    free(o2);
    free(o);
    free(chunk);
    free(b);
    free(buf);
    el_free(&l);
}
END_TEST

/* Since 1.2 the index ends with the chunks by encoding: a reader learns from it alone that a
 * newer writer's chunks are there (`info` of a closed trace reads no chunk). */
START_TEST(test_format_index_counts_encodings)
{
    struct evlist l = {0};
    size_t na, len, nb;
    uint8_t *buf = two_chunk_file(&l, &na, &len);
    struct trace_reader *r = ropen_mem(buf, len, "enc", 0);
    struct trace_totals t;
    trace_reader_totals(r, &t);
    ck_assert_int_eq(trace_reader_has_index(r), 1);
    ck_assert_uint_eq(t.chunks, 2);
    ck_assert_uint_eq(t.chunks_unknown, 0);
    trace_reader_close(r);

    /* the list says 4 encodings (0, 1, 2, 3) and the two chunks are of encoding 3; say
     * instead that one of them is of encoding 4 */
    struct blk *b = walk_blocks(buf, len, &nb);
    const struct blk *ix = &b[nb - 1];
    ck_assert_uint_eq(ix->type, TRACE_BLK_INDEX);
    size_t body = ix->end - TRACE_TAIL_BYTES; /* end of the content the check covers */
    ck_assert_mem_eq(buf + body - 5, "\x04\x00\x00\x00\x02", 5);
    uint8_t *o = malloc(len + 1);
    ck_assert_ptr_nonnull(o);
    memcpy(o, buf, body - 5);
    memcpy(o + body - 5, "\x05\x00\x00\x00\x01\x01", 6);
    size_t nbody = body + 1;
    uint8_t *c = o + ix->off + TRACE_ENVELOPE;
    rt_le32(o + nbody, rt_check32(c, o + nbody - c));
    rt_le32(o + nbody + 4, (uint32_t)(nbody + TRACE_TAIL_BYTES - ix->off));
    memcpy(o + nbody + 8, TRACE_TAIL_MAGIC, 8);
    rt_le32(o + ix->off + 4, (uint32_t)(nbody + TRACE_TAIL_BYTES - ix->off - TRACE_ENVELOPE));
    r = ropen_mem(o, len + 1, "enc", 0);
    ck_assert_int_eq(trace_reader_has_index(r), 1);
    trace_reader_totals(r, &t);
    ck_assert_uint_eq(t.chunks_unknown, 1);
    trace_reader_close(r);
    free(o);
    free(b);
    free(buf);
    el_free(&l);
}
END_TEST

/* the file with its header's major and minor versions replaced */
static uint8_t *with_version(const uint8_t *buf, size_t len, uint16_t major, uint16_t minor)
{
    uint8_t *o = malloc(len);
    ck_assert_ptr_nonnull(o);
    memcpy(o, buf, len);
    uint8_t *c = o + TRACE_ENVELOPE;
    ck_assert_uint_eq(c[0], TRACE_BLK_HEADER);
    ck_assert_uint_eq(rt_rd32(o + 4), TRACE_HEADER_CONTENT);
    rt_le16(c + 9, major);
    rt_le16(c + 11, minor);
    rt_le32(c + TRACE_HEADER_CONTENT - 4, rt_check32(c, TRACE_HEADER_CONTENT - 4));
    return o;
}

START_TEST(test_format_version_minor_major)
{
    struct evlist l = {0};
    size_t na, len;
    uint8_t *buf = two_chunk_file(&l, &na, &len);

    uint8_t *o = with_version(buf, len, TRACE_FORMAT_MAJOR, TRACE_FORMAT_MINOR + 1);
    expect_mem(o, len, &l);
    struct trace_reader *r = ropen_mem(o, len, "minor", 0);
    unsigned major, minor;
    trace_reader_version(r, &major, &minor);
    ck_assert_uint_eq(major, TRACE_FORMAT_MAJOR);
    ck_assert_uint_eq(minor, TRACE_FORMAT_MINOR + 1);
    trace_reader_close(r);
    free(o);

    o = with_version(buf, len, TRACE_FORMAT_MAJOR, 0xffff);
    expect_mem(o, len, &l);
    free(o);

    static const uint16_t majors[] = {TRACE_FORMAT_MAJOR + 1, 0, 0xffff};
    for (size_t i = 0; i < NELEM(majors); i++) {
        o = with_version(buf, len, majors[i], 0);
        mem_fails(o, len, RT_EVERSION);
        char path[512];
        tmp_path(path, sizeof path, "major");
        file_store(path, o, len);
        open_fails(path, RT_EVERSION);
        unlink(path);
        free(o);
    }
    free(buf);
    el_free(&l);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 9. File mode
 * ------------------------------------------------------------------------------------- */

START_TEST(test_format_file_mode_0600)
{
    char path[512];
    tmp_path(path, sizeof path, "mode");
    mode_t old = umask(0);
    /* a path that existed with wider rights */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, 0644), 0);
    ck_assert_int_eq(write(fd, "old contents", 12), 12);
    close(fd);
    struct trace_writer *w = wopen(path, NULL, 0, NULL);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    wclose(w);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    struct trace_reader *r = ropen(path, 0); /* truncated: the old bytes are gone */
    trace_reader_close(r);
    unlink(path);

    /* a new file with umask 0 */
    w = wopen(path, NULL, 0, NULL);
    wclose(w);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    umask(old);
    unlink(path);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * 10. The background thread (trace_writer_opts.synchronous == 0, the default)
 * ------------------------------------------------------------------------------------- */

/* Writes `l` with a script of metadata blocks, flushes and polls between events. */
static void write_scripted(const char *path, struct evlist *l, const struct trace_writer_opts *o)
{
    static const struct trace_meta_kv m0[] = {{"host", "a", 1}, {"capture.filter", "tcp", 3}};
    static const struct trace_meta_kv m1[] = {{"host", "b", 1}};
    static const struct trace_meta_kv m2[] = {{"note", "last", 4}};
    struct rt_err err = {0};
    struct trace_writer *w = wopen(path, m0, NELEM(m0), o);
    size_t n = l->n, at[] = {n / 7, n / 3, n / 2, n / 2 + 1, 2 * n / 3, n};
    size_t from = 0;
    for (size_t k = 0; k < NELEM(at); k++) {
        write_range(w, l, from, at[k]);
        from = at[k];
        switch (k) {
        case 0: ck_assert_int_eq(trace_writer_add_meta(w, m1, NELEM(m1), &err), 0); break;
        case 1: wflush(w); break;
        case 2: /* a poll long after the chunk opened flushes it without waiting */
            ck_assert_int_eq(trace_writer_poll(w, UINT64_MAX, &err), 0);
            ck_assert_int_eq(trace_writer_poll(w, UINT64_MAX, &err), 0);
            break;
        case 3: /* metadata right after a chunk, then a flush with no events */
            ck_assert_int_eq(trace_writer_add_meta(w, m1, NELEM(m1), &err), 0);
            wflush(w);
            wflush(w);
            break;
        case 4: ck_assert_int_eq(trace_writer_add_meta(w, m2, NELEM(m2), &err), 0); break;
        default: break;
        }
    }
    ck_assert_int_eq(trace_writer_add_meta(w, m2, NELEM(m2), &err), 0); /* before the index */
    wclose(w);
}

/* The same events and options give the same file with and without the thread, byte for
 * byte but for the creation time in the header block. */
START_TEST(test_format_thread_same_bytes)
{
    struct evlist l = {0};
    gen_stream(&l, 4242, 200000, 0);
    struct trace_writer_opts opts[] = {
        {0},                                /* the defaults: 8 MiB chunks */
        {.chunk_events = 1000},             /* 200 chunks: the thread is busy at hand-over */
        {.chunk_bytes = 4096, .level = 1},  /* tiny chunks */
        {.chunk_ns = 50000000, .level = 5}, /* chunks bounded by trace time */
        {.chunk_events = 3000, .fsync_chunks = 1},
    };
    /* the header content: type, magic, major, minor, flags, then the creation time */
    const size_t created = TRACE_ENVELOPE + 1 + 8 + 2 + 2 + 4, hdr_end = TRACE_ENVELOPE + 29;
    for (size_t v = 0; v < NELEM(opts); v++) {
        char ps[512], pt[512];
        tmp_path(ps, sizeof ps, "sync");
        tmp_path(pt, sizeof pt, "thread");
        struct trace_writer_opts o = opts[v];
        o.synchronous = 1;
        write_scripted(ps, &l, &o);
        o.synchronous = 0;
        write_scripted(pt, &l, &o);
        size_t ns, nt;
        uint8_t *a = file_load(ps, &ns), *b = file_load(pt, &nt);
        ck_assert_msg(ns == nt, "variant %zu: %zu bytes synchronous, %zu with the thread", v, ns,
                      nt);
        ck_assert(memcmp(a, b, created) == 0);
        size_t i = hdr_end;
        while (i < ns && a[i] == b[i])
            i++;
        ck_assert_msg(i == ns, "variant %zu: files differ at offset %zu", v, i);
        free(a);
        free(b);
        /* and the threaded file reads back */
        struct trace_reader *r = ropen(pt, 0);
        read_range(r, &l, 0, l.n);
        struct rt_err err = {0};
        ck_assert_int_eq(read_end(r, &err), 0);
        struct trace_totals t;
        trace_reader_totals(r, &t);
        ck_assert_uint_eq(t.events, l.n);
        trace_reader_close(r);
        unlink(ps);
        unlink(pt);
    }
    el_free(&l);
}
END_TEST

/* A writer on a pipe whose reader is gone once the header was read: the first chunk's write
 * fails with EPIPE at offset `hdr`. */
static struct trace_writer *broken_pipe_writer(int sync, size_t *hdr)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    struct trace_writer_opts o = {.chunk_events = 100, .synchronous = sync};
    struct rt_err err = {0};
    struct trace_writer *w = trace_writer_open_fd(fds[1], "pipe:trace", NULL, 0, &o, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    uint8_t buf[4096];
    ssize_t k = read(fds[0], buf, sizeof buf);
    ck_assert_int_gt(k, 0);
    *hdr = (size_t)k;
    close(fds[0]);
    return w;
}

/* An I/O error of the thread comes back, with the message the synchronous writer gives, from
 * the next add, flush or close; after that the writer only closes, without an index. */
/* A write the file system refuses (here a file size limit: EFBIG, as a full disk gives ENOSPC)
 * says in its message how much of the trace is readable, and the file is cut back to the last
 * whole block, so that a reader reads exactly that much and reports a trace not closed. */
START_TEST(test_format_write_error_says_what_is_readable)
{
    for (int sync = 0; sync < 2; sync++) {
        void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim0, lim;
        ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &lim0), 0);
        lim = lim0;
        lim.rlim_cur = 100000;
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
        struct evlist l = {0};
        gen_stream(&l, 7, 20000, 1);
        char path[4096];
        tmp_path(path, sizeof path, "fsize");
        struct trace_writer_opts o = {.chunk_events = 300, .synchronous = sync};
        struct rt_err err = {0};
        struct trace_writer *w = trace_writer_open(path, NULL, 0, &o, &err);
        ck_assert_msg(w != NULL, "%s", err.msg);
        int rc = 0;
        for (size_t i = 0; i < l.n && rc == 0; i++)
            rc = trace_writer_add(w, &l.ev[i], &err);
        if (rc == 0)
            rc = trace_writer_close(w, &err);
        else
            trace_writer_close(w, NULL);
        setrlimit(RLIMIT_FSIZE, &lim0);
        signal(SIGXFSZ, old);
        ck_assert_int_eq(rc, RT_EIO);
        need_msg_names(err.msg, path, "File too large");
        need_msg_names(err.msg, "write failed at offset", "are readable");
        unsigned long long chunks = 0, events = 0, bytes = 0;
        const char *p = strstr(err.msg, "its first ");
        ck_assert_msg(p && sscanf(p, "its first %llu chunks (%llu events, %llu bytes)", &chunks,
                                  &events, &bytes) == 3,
                      "message: %s", err.msg);
        ck_assert_msg(chunks > 0, "message: %s", err.msg);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq((unsigned long long)st.st_size, bytes);
        struct trace_reader *r = trace_reader_open(path, NULL, &err);
        ck_assert_msg(r != NULL, "%s", err.msg);
        struct trace_event ev;
        unsigned long long n = 0;
        while ((rc = trace_reader_next(r, &ev, &err)) == 1)
            n++;
        ck_assert_int_eq(rc, RT_ETRUNCATED);
        ck_assert_uint_eq(n, events);
        ck_assert_uint_eq(trace_reader_has_index(r), 0);
        trace_reader_close(r);
        unlink(path);
        el_free(&l);
    }
}
END_TEST

/* Format 1.1: a malformed request reads back as written; a redacted reply keeps its type,
 * pairing and flags only, whatever the writer was given. */
START_TEST(test_format_v11_flags)
{
    char path[4096];
    tmp_path(path, sizeof path, "v11");
    struct rt_err err = {0};
    struct trace_writer *w = trace_writer_open(path, NULL, 0, NULL, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    static const char raw[] = "SET k \"unclosed\r\n";
    const char *argv[1] = {raw};
    size_t argvlen[1] = {sizeof raw - 1};
    struct trace_event q = {.type = TRACE_EV_REQUEST, .ts = 1000, .conn = 1};
    q.u.req.proto = 2;
    q.u.req.flags = TRACE_REQ_MALFORMED;
    q.u.req.argc = 1;
    q.u.req.argv = argv;
    q.u.req.argvlen = argvlen;
    ck_assert_int_eq(trace_writer_add(w, &q, &err), 0);
    static const uint8_t wire[] = "*2\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n";
    struct trace_event y = {.type = TRACE_EV_REPLY, .ts = 2000, .conn = 1};
    y.u.reply = (struct trace_reply){.req_seq = q.u.req.seq,
                                     .rtype = TRACE_R_ARRAY,
                                     .flags = TRACE_REPLY_REDACTED | TRACE_REPLY_HAS_HASH |
                                              TRACE_REPLY_HAS_PAYLOAD | TRACE_REPLY_AFTER_GAP,
                                     .len = sizeof wire - 1,
                                     .count = 2,
                                     .size = 7,
                                     .ival = 5,
                                     .hash = trace_hash(wire, sizeof wire - 1),
                                     .err = "ERR pw",
                                     .errlen = 6,
                                     .payload = wire,
                                     .payload_len = sizeof wire - 1};
    ck_assert_int_eq(trace_writer_add(w, &y, &err), 0);
    ck_assert_int_eq(trace_writer_close(w, &err), 0);
    struct trace_reader *r = trace_reader_open(path, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    unsigned major, minor;
    trace_reader_version(r, &major, &minor);
    ck_assert_uint_eq(minor, TRACE_FORMAT_MINOR);
    struct trace_event ev;
    ck_assert_int_eq(trace_reader_next(r, &ev, &err), 1);
    ck_assert_uint_eq(ev.u.req.flags, TRACE_REQ_MALFORMED);
    ck_assert_uint_eq(ev.u.req.argc, 1);
    ck_assert_uint_eq(ev.u.req.argvlen[0], sizeof raw - 1);
    ck_assert_mem_eq(ev.u.req.argv[0], raw, sizeof raw - 1);
    ck_assert_int_eq(trace_reader_next(r, &ev, &err), 1);
    ck_assert_uint_eq(ev.type, TRACE_EV_REPLY);
    ck_assert_uint_eq(ev.u.reply.req_seq, 0);
    ck_assert_uint_eq(ev.u.reply.rtype, TRACE_R_ARRAY);
    ck_assert_uint_eq(ev.u.reply.flags, TRACE_REPLY_REDACTED | TRACE_REPLY_AFTER_GAP);
    ck_assert_uint_eq(ev.u.reply.len, 0);
    ck_assert_uint_eq(ev.u.reply.count, 0);
    ck_assert_uint_eq(ev.u.reply.size, 0);
    ck_assert_int_eq(ev.u.reply.ival, 0);
    ck_assert_uint_eq(ev.u.reply.errlen, 0);
    ck_assert_uint_eq(ev.u.reply.payload_len, 0);
    ck_assert_int_eq(trace_reader_next(r, &ev, &err), 0);
    trace_reader_close(r);
    unlink(path);
}
END_TEST

START_TEST(test_format_thread_write_error)
{
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    struct evlist l = {0};
    gen_stream(&l, 99, 1000, 1);
    char want[256];
    size_t hdr = 0;

    /* synchronous: the add that completes the first chunk fails */
    struct trace_writer *w = broken_pipe_writer(1, &hdr);
    struct rt_err err = {0};
    size_t i = 0;
    int rc = 0;
    while (i < l.n && (rc = trace_writer_add(w, &l.ev[i], &err)) == 0)
        i++;
    ck_assert_int_eq(rc, RT_EIO);
    ck_assert_uint_eq(i, 99);
    need_msg_names(err.msg, "pipe:trace", "Broken pipe");
    need_msg_offset(err.msg, hdr);
    snprintf(want, sizeof want, "%s", err.msg);
    ck_assert_int_eq(trace_writer_add(w, &l.ev[i], &err), RT_EINVAL);
    ck_assert_int_eq(trace_writer_close(w, &err), RT_EINVAL);

    /* the thread: a later add reports it, at the latest the one that completes the second
     * chunk (it waits for the first) */
    w = broken_pipe_writer(0, &hdr);
    memset(&err, 0, sizeof err);
    i = 0;
    while (i < l.n && (rc = trace_writer_add(w, &l.ev[i], &err)) == 0)
        i++;
    ck_assert_int_eq(rc, RT_EIO);
    ck_assert_uint_ge(i, 100);
    ck_assert_uint_le(i, 199);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(trace_writer_add(w, &l.ev[i], &err), RT_EINVAL);
    need_msg_names(err.msg, "pipe:trace", "failed earlier");
    ck_assert_int_eq(trace_writer_flush(w, &err), RT_EINVAL);
    ck_assert_int_eq(trace_writer_close(w, &err), RT_EINVAL);

    /* flush waits for the chunk and reports its failure */
    for (int closing = 0; closing < 2; closing++) {
        w = broken_pipe_writer(0, &hdr);
        memset(&err, 0, sizeof err);
        for (i = 0; i < 100; i++) /* the 100th hands the chunk over and returns at once */
            ck_assert_int_eq(trace_writer_add(w, &l.ev[i], &err), 0);
        if (closing) {
            ck_assert_int_eq(trace_writer_close(w, &err), RT_EIO);
            ck_assert_str_eq(err.msg, want);
        } else {
            ck_assert_int_eq(trace_writer_flush(w, &err), RT_EIO);
            ck_assert_str_eq(err.msg, want);
            ck_assert_int_eq(trace_writer_poll(w, UINT64_MAX, &err), 0); /* nothing to do */
            ck_assert_int_eq(trace_writer_close(w, &err), RT_EINVAL);
            need_msg_names(err.msg, "pipe:trace", "without index");
        }
    }

    /* abort after the failure, and the same through poll */
    w = broken_pipe_writer(0, &hdr);
    for (i = 0; i < 50; i++)
        ck_assert_int_eq(trace_writer_add(w, &l.ev[i], &err), 0);
    ck_assert_int_eq(trace_writer_poll(w, UINT64_MAX, &err), 0); /* hands 50 over */
    ck_assert_int_eq(trace_writer_flush(w, &err), RT_EIO);
    trace_writer_abort(w);
    signal(SIGPIPE, old);
    el_free(&l);
}
END_TEST

/* trace_writer_flush() returns with the chunks in the file; abort lets the thread finish the
 * chunk it was handed; a writer that never fills a chunk closes cleanly. */
START_TEST(test_format_thread_flush_abort)
{
    struct evlist l = {0};
    gen_stream(&l, 7, 2000, 0);
    char path[512];
    tmp_path(path, sizeof path, "tflush");
    struct trace_writer_opts o = {.chunk_events = 100};
    struct trace_writer *w = wopen(path, NULL, 0, &o);
    write_range(w, &l, 0, 1050);
    wflush(w);
    struct rt_err err = {0};
    struct trace_reader *r = ropen(path, 0);
    read_range(r, &l, 0, 1050);
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    trace_reader_close(r);
    /* a poll hands the open chunk over; the abort waits for it, not for the open one */
    write_range(w, &l, 1050, 1060);
    ck_assert_int_eq(trace_writer_poll(w, UINT64_MAX, &err), 0);
    write_range(w, &l, 1060, 1065);
    trace_writer_abort(w);
    r = ropen(path, 0);
    read_range(r, &l, 0, 1060);
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    trace_reader_close(r);

    /* chunks handed over just before the abort */
    w = wopen(path, NULL, 0, &o);
    write_range(w, &l, 0, 2000);
    trace_writer_abort(w);
    r = ropen(path, 0);
    read_range(r, &l, 0, 2000);
    ck_assert_int_eq(read_end(r, &err), RT_ETRUNCATED);
    trace_reader_close(r);

    /* no chunk at all, and one event */
    for (size_t n = 0; n < 2; n++) {
        w = wopen(path, NULL, 0, NULL);
        write_range(w, &l, 0, n);
        wclose(w);
        r = ropen(path, 0);
        read_range(r, &l, 0, n);
        ck_assert_int_eq(read_end(r, &err), 0);
        trace_reader_close(r);
    }
    unlink(path);
    el_free(&l);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * The suite
 * ------------------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------------------
 * 10. Chunk encoding 3 (the lengths of arguments 2.. apart) and opts.lazy_args
 * ------------------------------------------------------------------------------------- */

/* Requests whose arguments 2.. take more than a frame (TRACE_FRAME_SPLIT) in each chunk:
 * SETs of values of 300-700 bytes, MSETs and HSETs of several, GETs (no arguments 2..), each
 * answered. */
static void gen_values(struct evlist *l, uint64_t seed, size_t n)
{
    struct rng g = {seed};
    uint8_t val[4][800];
    char key[4][32];
    size_t kl[4];
    for (size_t i = 0; i < n; i++) {
        struct trace_event e = ev_make(TRACE_EV_REQUEST, 1000 + 10 * i, 1 + rng_below(&g, 8));
        const char *argv[9];
        size_t lens[9];
        unsigned kind = (unsigned)rng_below(&g, 4), nkv = kind == 1 ? 2 + (unsigned)rng_below(&g, 2)
                                                                     : 1;
        argv[0] = kind == 0 ? "SET" : kind == 1 ? "MSET" : kind == 2 ? "HSET" : "GET";
        lens[0] = strlen(argv[0]);
        uint32_t argc = 1;
        for (unsigned k = 0; k < nkv; k++) {
            kl[k] = (size_t)snprintf(key[k], sizeof key[k], "k:%llu",
                                     (unsigned long long)rng_below(&g, 5000));
            if (kind == 2 && k == 0) { /* HSET key field value */
                argv[argc] = key[k];
                lens[argc++] = kl[k];
                argv[argc] = "f";
                lens[argc++] = 1;
            } else {
                argv[argc] = key[k];
                lens[argc++] = kl[k];
            }
            if (kind != 3) {
                size_t vl = 300 + rng_below(&g, 400);
                rng_fill(&g, val[k], vl);
                argv[argc] = (const char *)val[k];
                lens[argc++] = vl;
            }
        }
        e.u.req.proto = 2;
        e.u.req.argc = argc;
        e.u.req.argv = argv;
        e.u.req.argvlen = lens;
        el_add(l, &e);
        struct trace_event p = ev_make(TRACE_EV_REPLY, 1005 + 10 * i, e.conn);
        p.u.reply.req_seq = i;
        p.u.reply.rtype = kind == 3 ? '$' : '+';
        p.u.reply.len = kind == 3 ? 9 : 5;
        p.u.reply.size = kind == 3 ? 3 : 2;
        el_add(l, &p);
    }
}

/* Reads `l` back lazily: a request whose arguments 2.. came without their bytes has their
 * lengths right and everything else; every `every`-th one loads them, and is then whole, as
 * every later request of its chunk is. Counts what it saw. */
struct lazy_counts {
    size_t nulls, loads, after; /* requests without bytes; loads; whole ones after a load */
};

static void read_lazy(struct trace_reader *r, const struct evlist *l, size_t every,
                      struct lazy_counts *c)
{
    struct trace_event ev;
    struct rt_err err = {0};
    int loaded = 0;
    uint64_t chunk_of_load = UINT64_MAX;
    for (size_t i = 0; i < l->n; i++) {
        int rc = trace_reader_next(r, &ev, &err);
        NEED(rc == 1, "event %zu: got %d (%s)", i, rc, rc < 0 ? err.msg : "end");
        const struct trace_event *w = &l->ev[i];
        if (ev.type == TRACE_EV_REQUEST && ev.u.req.argc > 2 && !ev.u.req.argv[2]) {
            c->nulls++;
            /* the bytes of the arguments still compressed: all else is there */
            const char *argv[16];
            NEED(ev.u.req.argc <= 16 && ev.u.req.argc == w->u.req.argc, "event %zu: argc %u", i,
                 ev.u.req.argc);
            for (uint32_t k = 0; k < ev.u.req.argc; k++) {
                NEED(k < 2 || ev.u.req.argv[k] == NULL, "event %zu: argument %u has bytes", i, k);
                argv[k] = k < 2 ? ev.u.req.argv[k] : w->u.req.argv[k];
            }
            struct trace_event g = ev;
            g.u.req.argv = argv;
            const char *d = ev_diff(w, &g);
            NEED(d == NULL, "event %zu (lazy): %s differs", i, d);
            NEED(!loaded || trace_reader_offset(r) != chunk_of_load,
                 "event %zu: no bytes after a load in its chunk", i);
            if (c->nulls % every == 0) {
                NEED(trace_reader_load_args(r, &ev, &err) == 0, "event %zu: load: %s", i,
                     err.msg);
                c->loads++;
                loaded = 1;
                chunk_of_load = trace_reader_offset(r);
                NEED(ev.u.req.argv[2] != NULL, "event %zu: still no bytes after the load", i);
                /* a second load does nothing */
                NEED(trace_reader_load_args(r, &ev, &err) == 0, "event %zu: load again", i);
            } else {
                continue;
            }
        } else if (ev.type == TRACE_EV_REQUEST && ev.u.req.argc > 2 && loaded &&
                   trace_reader_offset(r) == chunk_of_load) {
            c->after++;
        }
        const char *d = ev_diff(w, &ev);
        NEED(d == NULL, "event %zu (%s): %s differs", i, trace_ev_type_name(w->type), d);
    }
    int rc = read_end(r, &err);
    NEED(rc == 0, "clean end expected, got %d (%s)", rc, err.msg);
}

START_TEST(test_format_enc3_lazy_roundtrip)
{
    struct evlist l = {0};
    gen_values(&l, 0x1a27, 3000);
    size_t nargs = 0; /* requests with arguments 2.. */
    for (size_t i = 0; i < l.n; i++)
        nargs += l.ev[i].type == TRACE_EV_REQUEST && l.ev[i].u.req.argc > 2;
    char path[512];
    tmp_path(path, sizeof path, "lazy");
    struct trace_writer_opts o = {.chunk_events = 1200};
    write_file(path, &l, &o);
    /* read whole, as every reader does */
    struct trace_reader *r = ropen(path, 0);
    read_range(r, &l, 0, l.n);
    trace_reader_close(r);
    size_t len;
    uint8_t *buf = file_load(path, &len);
    for (size_t every = 1; every <= 1000; every *= 10) {
        for (int mem = 0; mem < 2; mem++) {
            struct trace_reader_opts ro = {.lazy_args = 1};
            struct rt_err err = {0};
            r = mem ? trace_reader_open_mem(buf, len, path, &ro, &err)
                    : trace_reader_open(path, &ro, &err);
            NEED(r != NULL, "open: %s", err.msg);
            struct lazy_counts c = {0};
            read_lazy(r, &l, every, &c);
            /* loading at each one: one load a chunk (5 of them), the rest of it whole */
            NEED(c.nulls >= 5 && c.loads >= 1 && c.after > 0 &&
                     (every > 1 || c.nulls + c.after == nargs),
                 "every %zu: %zu without bytes, %zu loads, %zu whole after one", every, c.nulls,
                 c.loads, c.after);
            NEED(every > 1 || c.loads == c.nulls, "every 1: %zu loads, %zu without bytes",
                 c.loads, c.nulls);
            NEED(every < 1000 || c.nulls > 1000, "every %zu: %zu without bytes", every, c.nulls);
            /* a seek starts its chunk without bytes again */
            NEED(trace_reader_seek_time(r, l.ev[0].ts, &err) == 0, "seek: %s", err.msg);
            struct trace_event ev;
            size_t nulls = 0;
            while (trace_reader_next(r, &ev, &err) == 1)
                nulls += ev.type == TRACE_EV_REQUEST && ev.u.req.argc > 2 && !ev.u.req.argv[2];
            NEED(nulls > 100, "after the seek: %zu without bytes", nulls);
            trace_reader_close(r);
        }
    }
    /* encoding 2 (what 1.2 readers read) has the lengths with the bytes: nothing to leave */
    o.encoding = TRACE_CHUNK_ENCODING_2;
    write_file(path, &l, &o);
    struct trace_reader_opts ro = {.lazy_args = 1};
    struct rt_err err = {0};
    r = trace_reader_open(path, &ro, &err);
    NEED(r != NULL, "open: %s", err.msg);
    struct lazy_counts c = {0};
    read_lazy(r, &l, 1, &c);
    NEED(c.nulls == 0, "encoding 2: %zu without bytes", c.nulls);
    trace_reader_close(r);
    free(buf);
    unlink(path);
    el_free(&l);
}
END_TEST

/* An encoding-3 chunk by hand: two SETs (argument 1 written out), the bytes of their values
 * (`vals`) in 0x37, the last stream, in a frame of its own when split; their lengths in
 * 0x3a. */
static uint8_t *enc3_chunk(const uint8_t *vals, size_t nvals, const uint64_t *vlen, int split,
                           size_t *len)
{
    static const uint8_t pre[] = {0, 3, 0, 0, 0}, type[] = {3, 3}, zero[] = {0, 0},
                         proto[] = {2, 2}, argc[] = {3, 3}, a1[] = {1, 'a', 1, 'b'},
                         a0[] = {3, 'S', 'E', 'T', 3, 'S', 'E', 'T'};
    struct rt_buf lens = {0};
    put_vars(&lens, vlen, 2);
    struct stream_spec s[] = {
        {S_TYPE, type, 2},          {S_TS, zero, 2},          {S_TS_LO, zero, 2},
        {S_CONN, zero, 2},          {S_REQ_DB, zero, 2},      {S_REQ_PROTO, proto, 2},
        {S_REQ_FLAGS, zero, 2},     {S_REQ_ARGC, argc, 2},    {S_REQ_ARG0_REF, zero, 2},
        {S_REQ_ARG0, a0, sizeof a0}, {S_REQ_ARG1_REF, zero, 2}, {S_REQ_ARG1, a1, sizeof a1},
        {S_REQ_ARGLEN, lens.p, lens.len}, {S_REQ_ARGN, vals, nvals}};
    size_t ns = sizeof s / sizeof s[0];
    /* where 0x37 starts: after the preamble, the directory and the other streams */
    struct rt_buf dir = {0};
    NEED(rt_put_varint(&dir, ns) == 0, "oom");
    size_t before = sizeof pre;
    for (size_t i = 0; i < ns; i++) {
        NEED(rt_put_varint(&dir, s[i].id) == 0 && rt_put_varint(&dir, s[i].n) == 0, "oom");
        before += i + 1 < ns ? s[i].n : 0;
    }
    hand_split = split ? before + dir.len : 0;
    struct chunk_spec cs = {TRACE_CHUNK_ENCODING_3, 2, 10, 10, 0, 2, 0, 0};
    uint8_t *o = hand_chunk_pre(pre, sizeof pre, s, ns, &cs, len);
    hand_split = 0;
    rt_buf_free(&lens);
    rt_buf_free(&dir);
    return o;
}

/* Reads the hand-made file `buf` lazily and whole: @return the code of the first failure of
 * each (`lazy_rc`: of trace_reader_load_args(), at the first request; `whole_rc`: of
 * trace_reader_next()), with their messages. */
static void read_hand3(const uint8_t *buf, size_t len, int salvage, int *lazy_rc,
                       char *lazy_msg, int *whole_rc, char *whole_msg, size_t *nulls)
{
    struct trace_event ev;
    for (int lazy = 0; lazy < 2; lazy++) {
        struct trace_reader_opts ro = {.lazy_args = lazy, .salvage = salvage};
        struct rt_err err = {0};
        struct trace_reader *r = trace_reader_open_mem(buf, len, "hand3", &ro, &err);
        NEED(r != NULL, "open: %s", err.msg);
        int rc;
        *nulls = 0;
        while ((rc = trace_reader_next(r, &ev, &err)) == 1) {
            if (lazy && !ev.u.req.argv[2]) {
                ++*nulls;
                rc = trace_reader_load_args(r, &ev, &err);
                if (rc != 0)
                    break;
            }
            NEED(ev.u.req.argv[2] != NULL, "a request without bytes");
        }
        /* (a file of hand-made chunks has no index: its clean end is RT_ETRUNCATED) */
        if (rc == RT_ETRUNCATED && strstr(err.msg, "without an index"))
            rc = 0;
        if (lazy && rc == 1) { /* salvaged: the rest of the chunk is gone, the read goes on */
            NEED(trace_reader_next(r, &ev, &err) == RT_ETRUNCATED,
                 "the end after the damaged chunk");
            struct trace_damage d;
            trace_reader_damage(r, &d);
            NEED(d.chunks_skipped == 1, "%llu chunks skipped",
                 (unsigned long long)d.chunks_skipped);
            snprintf(err.msg, sizeof err.msg, "%s", d.msg);
        }
        *(lazy ? lazy_rc : whole_rc) = rc;
        snprintf(lazy ? lazy_msg : whole_msg, sizeof err.msg, "%s", err.msg);
        trace_reader_close(r);
    }
}

START_TEST(test_format_enc3_hand_chunks)
{
    uint8_t vals[300];
    for (size_t i = 0; i < sizeof vals; i++)
        vals[i] = (uint8_t)(i * 7);
    const uint64_t good[2] = {100, 200}, over[2] = {100, 201};
    char lm[256], wm[256];
    int lrc, wrc;
    size_t nulls;
    for (int split = 0; split < 2; split++) {
        /* good: both readers see the values; lazily only when the bytes had a frame apart */
        size_t clen;
        uint8_t *c = enc3_chunk(vals, sizeof vals, good, split, &clen);
        const uint8_t *chunks[] = {c};
        size_t len;
        uint8_t *buf = header_then(chunks, &clen, 1, &len);
        read_hand3(buf, len, 0, &lrc, lm, &wrc, wm, &nulls);
        NEED(lrc == 0 && wrc == 0, "split %d: %d %s / %d %s", split, lrc, lm, wrc, wm);
        NEED(nulls == (split ? 1u : 0u), "split %d: %zu requests without bytes", split, nulls);
        free(buf);
        free(c);
        /* lengths that take more bytes than 0x37 holds: corrupt, lazily too, naming 0x37 */
        c = enc3_chunk(vals, sizeof vals, over, split, &clen);
        chunks[0] = c;
        buf = header_then(chunks, &clen, 1, &len);
        read_hand3(buf, len, 0, &lrc, lm, &wrc, wm, &nulls);
        NEED(lrc == RT_ECORRUPT && wrc == RT_ECORRUPT, "split %d: %d / %d", split, lrc, wrc);
        need_msg_names(lm, "hand3", "req.argn");
        need_msg_names(wm, "hand3", "req.argn");
        free(buf);
        free(c);
    }
    /* the frame of the bytes damaged (its checksum wrong, the chunk's hash right): the whole
     * reader fails at the chunk; the lazy one returns the first request without its bytes,
     * then fails when asked for them, or, salvaging, skips the rest of the chunk */
    hand_bad_second = 1;
    size_t clen, len;
    uint8_t *c = enc3_chunk(vals, sizeof vals, good, 1, &clen);
    hand_bad_second = 0;
    const uint8_t *chunks[] = {c};
    uint8_t *buf = header_then(chunks, &clen, 1, &len);
    read_hand3(buf, len, 0, &lrc, lm, &wrc, wm, &nulls);
    NEED(nulls == 1 && lrc == RT_ECORRUPT && wrc == RT_ECORRUPT, "%zu: %d / %d", nulls, lrc, wrc);
    need_msg_names(lm, "hand3", "does not decompress");
    need_msg_names(wm, "hand3", "does not decompress");
    read_hand3(buf, len, 1, &lrc, lm, &wrc, wm, &nulls);
    NEED(nulls == 1 && lrc == 1, "salvage: %zu: %d", nulls, lrc);
    need_msg_names(lm, "hand3", "does not decompress");
    free(buf);
    free(c);
}
END_TEST

Suite *format_suite(void)
{
    Suite *s = suite_create("format");

    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_format_varint_paths);
    tcase_add_test(tc, test_format_roundtrip_conn_open);
    tcase_add_test(tc, test_format_roundtrip_conn_close);
    tcase_add_test(tc, test_format_roundtrip_request_fields);
    tcase_add_test(tc, test_format_roundtrip_request_many_args);
    tcase_add_test(tc, test_format_roundtrip_request_large_arg);
    tcase_add_test(tc, test_format_roundtrip_reply_types);
    tcase_add_test(tc, test_format_roundtrip_reply_pairing);
    tcase_add_test(tc, test_format_roundtrip_push);
    tcase_add_test(tc, test_format_roundtrip_gap);
    tcase_add_test(tc, test_format_roundtrip_stats);
    tcase_add_test(tc, test_format_roundtrip_note);
    tcase_add_test(tc, test_format_roundtrip_ts_backwards);
    tcase_add_test(tc, test_format_roundtrip_conn_ids);
    tcase_add_test(tc, test_format_roundtrip_all_types_mixed);
    tcase_add_test(tc, test_format_writer_rejects_bad_events);
    tcase_add_test(tc, test_format_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_format_random_streams, 0, 5);
    tcase_add_test(tc, test_format_open_mem_matches_file);
    tcase_add_test(tc, test_format_read_stdin_pipe);
    suite_add_tcase(s, tc);

    tc = tcase_create("meta_index");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_format_meta_roundtrip);
    tcase_add_test(tc, test_format_meta_override_midstream);
    tcase_add_test(tc, test_format_index_and_totals);
    tcase_add_test(tc, test_format_seek_time_index);
    tcase_add_test(tc, test_format_seek_time_no_index);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_format_truncate_everywhere);
    tcase_add_test(tc, test_format_abort_leaves_truncated_file);
    tcase_add_loop_test(tc, test_format_flip_chunk_frame, 1, 3);
    tcase_add_loop_test(tc, test_format_flip_chunk_header, 1, 3);
    tcase_add_loop_test(tc, test_format_flip_meta_block, 1, 3);
    tcase_add_loop_test(tc, test_format_flip_random, 1, 3);
    tcase_add_test(tc, test_format_corrupt_streams);
    tcase_add_test(tc, test_format_corrupt_chunk_payloads);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_format_open_empty);
    tcase_add_test(tc, test_format_open_not_trace);
    tcase_add_test(tc, test_format_open_directory);
    tcase_add_test(tc, test_format_open_missing);
    tcase_add_test(tc, test_format_file_mode_0600);
    suite_add_tcase(s, tc);

    tc = tcase_create("thread");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_format_thread_same_bytes);
    tcase_add_test(tc, test_format_thread_write_error);
    tcase_add_test(tc, test_format_write_error_says_what_is_readable);
    tcase_add_test(tc, test_format_v11_flags);
    tcase_add_test(tc, test_format_thread_flush_abort);
    suite_add_tcase(s, tc);

    tc = tcase_create("compat");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_format_unknown_block_skipped);
    tcase_add_test(tc, test_format_unknown_stream_skipped);
    tcase_add_test(tc, test_format_unknown_event_type_skipped);
    tcase_add_test(tc, test_format_unknown_chunk_encoding_skipped);
    tcase_add_test(tc, test_format_index_counts_encodings);
    tcase_add_test(tc, test_format_version_minor_major);
    suite_add_tcase(s, tc);

    tc = tcase_create("encoding2");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_format_enc2_roundtrip);
    tcase_add_test(tc, test_format_enc2_bad_options);
    tcase_add_test(tc, test_format_enc2_seek);
    tcase_add_test(tc, test_format_enc2_table_limits);
    tcase_add_test(tc, test_format_enc2_hand_chunks);
    suite_add_tcase(s, tc);

    tc = tcase_create("encoding3");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_format_enc3_lazy_roundtrip);
    tcase_add_test(tc, test_format_enc3_hand_chunks);
    suite_add_tcase(s, tc);

    tc = tcase_create("tables");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_format_tab_reservations);
    tcase_add_test(tc, test_format_tab_unmapped);
    suite_add_tcase(s, tc);

    return s;
}
