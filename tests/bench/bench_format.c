/* bench_format.c: write/read throughput and size of trace files against zstd on plain RESP. */
#define _GNU_SOURCE
#include "format.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The targets the trace format is held to. */
#define TARGET_WRITE_EVS 2000000.0
#define TARGET_READ_EVS 5000000.0

/* Shape of the generated workload. */
#define NCONN_DEFAULT 50
#define NPIPELINED 10      /* the first NPIPELINED connections send bursts */
#define NSTRING_KEYS 85000 /* keys used by GET and SET */
#define NHASH_KEYS 15000   /* keys used by HSET */
#define LEN_MIN 16         /* key and value lengths are uniform in [LEN_MIN, LEN_MAX] */
#define LEN_MAX 200
#define T0_NS 1718000000000000000ull

/* ---------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_format: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A fast, deterministic PRNG: xoshiro256** seeded through splitmix64. */
struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *g)
{
    uint64_t *s = g->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant at these ranges. */
static uint64_t rng_range(struct rng *g, uint64_t lo, uint64_t hi)
{
    return lo + rng_next(g) % (hi - lo + 1);
}

static double rng_unit(struct rng *g)
{
    return (double)(rng_next(g) >> 11) * (1.0 / 9007199254740992.0);
}

/* A bump allocator for the generated keys, values and argument vectors: they live until the
 * end of the run, and one malloc per value would dominate generation time. Each block starts
 * with a pointer to the previous one, so that arena_free() can walk them. */
#define ARENA_BLOCK (64u << 20)
#define ARENA_HDR 16u

struct arena {
    char *p;
    size_t used, cap;
    void *head;
};

static void *arena_alloc(struct arena *a, size_t n, size_t align)
{
    size_t off = (a->used + align - 1) & ~(align - 1);
    if (!a->p || off + n > a->cap) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        char *b = xmalloc(ARENA_HDR + cap);
        *(void **)b = a->head;
        a->head = b;
        a->p = b + ARENA_HDR;
        a->cap = cap;
        off = 0;
    }
    a->used = off + n;
    return a->p + off;
}

static void arena_free(struct arena *a)
{
    while (a->head) {
        void *next = *(void **)a->head;
        free(a->head);
        a->head = next;
    }
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------------------------------
 * Keys, values and popularity
 * ------------------------------------------------------------------------------------- */

struct key {
    const char *p;
    size_t len;
};

static const char *const pad_words[] = {
    "prod",    "eu-west-1",  "v2",      "latest",  "shard07", "items",    "settings",
    "profile", "2024-06-01", "cache",   "orders",  "summary", "recent",   "mobile",
    "web",     "checkout",   "search",  "results", "page",    "tenant42", "region",
    "default", "preview",    "archive", "metrics", "daily",   "hourly",   "catalog"};
#define NPAD_WORDS (sizeof pad_words / sizeof pad_words[0])

/* Builds a namespaced key of exactly `len` bytes. The unique part (namespace and id) sits in
 * the first LEN_MIN bytes, so cutting a key to its length never makes two keys equal. */
static struct key make_key(struct arena *a, struct rng *g, uint32_t id, int is_hash)
{
    char head[64];
    uint32_t mixed = id * 2654435761u; /* a bijection: session ids look random but are unique */
    if (is_hash) {
        static const char *const fmt[] = {"user:%u:attrs:", "cart:%u:lines:", "stock:%u:wh:"};
        snprintf(head, sizeof head, fmt[id % 3], id);
    } else {
        switch (id % 5) {
        case 0: snprintf(head, sizeof head, "user:%u:profile:", id); break;
        case 1: snprintf(head, sizeof head, "session:%08x:", mixed); break;
        case 2: snprintf(head, sizeof head, "cache:%u:/products/", id); break;
        case 3:
            snprintf(head, sizeof head, "rate:%u:ip:%u.%u.%u.%u", id, mixed >> 24,
                     (mixed >> 16) & 255, (mixed >> 8) & 255, mixed & 255);
            break;
        default: snprintf(head, sizeof head, "feed:%u:timeline:", id); break;
        }
    }
    size_t len = (size_t)rng_range(g, LEN_MIN, LEN_MAX);
    char *k = arena_alloc(a, len, 1);
    size_t n = strlen(head);
    if (n > len)
        n = len;
    memcpy(k, head, n);
    while (n < len) {
        const char *w = pad_words[rng_next(g) % NPAD_WORDS];
        size_t wl = strlen(w);
        if (n + wl + 1 > len)
            wl = len - n - 1;
        k[n++] = ':';
        memcpy(k + n, w, wl);
        n += wl;
    }
    return (struct key){k, len};
}

static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

static void fill_alnum(struct rng *g, char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = alnum[rng_next(g) % 62];
}

/* Writes a value of exactly `len` bytes: half are random printable text, half JSON-ish objects
 * whose string fields are random, cut at `len`. Neither repeats, so neither compresses
 * trivially (redis-benchmark's single repeated value would make size ratios meaningless). */
static const char *make_value(struct arena *a, struct rng *g, size_t len)
{
    char *v = arena_alloc(a, len, 1);
    if (rng_next(g) & 1) {
        for (size_t i = 0; i < len; i++)
            v[i] = (char)(' ' + rng_next(g) % 95);
        return v;
    }
    char buf[LEN_MAX + 256];
    uint64_t id = rng_range(g, 1, 9999999), ms = rng_range(g, 1718000000000u, 1718086400000u);
    size_t n = (size_t)snprintf(buf, sizeof buf,
                                "{\"id\":%" PRIu64 ",\"ts\":%" PRIu64 ",\"name\":\"", id, ms);
    while (n < len) {
        size_t w = (size_t)rng_range(g, 4, 24);
        fill_alnum(g, buf + n, w);
        n += w;
        static const char *const seps[] = {
            "\",\"tags\":[\"", "\",\"", "\"],\"bio\":\"", " ", "\",\"email\":\"", "@", ".", " "};
        const char *s = seps[rng_next(g) % 8];
        size_t sl = strlen(s);
        memcpy(buf + n, s, sl);
        n += sl;
    }
    memcpy(v, buf, len);
    return v;
}

/* Zipf (exponent 1) over n ranks by a precomputed CDF; ranks map to keys through a
 * permutation, so the popular keys are spread over all namespaces and lengths. */
struct zipf {
    double *cdf;
    uint32_t *perm;
    uint32_t n;
};

static void zipf_init(struct zipf *z, uint32_t n, struct rng *g)
{
    z->n = n;
    z->cdf = xmalloc(n * sizeof *z->cdf);
    z->perm = xmalloc(n * sizeof *z->perm);
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        sum += 1.0 / (double)(i + 1);
        z->cdf[i] = sum;
    }
    for (uint32_t i = 0; i < n; i++) {
        z->cdf[i] /= sum;
        z->perm[i] = i;
    }
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng_next(g) % (i + 1));
        uint32_t t = z->perm[i];
        z->perm[i] = z->perm[j];
        z->perm[j] = t;
    }
}

static uint32_t zipf_draw(const struct zipf *z, struct rng *g)
{
    double u = rng_unit(g);
    uint32_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return z->perm[lo];
}

static void zipf_free(struct zipf *z)
{
    free(z->cdf);
    free(z->perm);
}

/* ---------------------------------------------------------------------------------------
 * The generated stream
 * ------------------------------------------------------------------------------------- */

enum cmd { CMD_GET, CMD_SET, CMD_HSET, NCMD };
static const char *const cmd_names[NCMD] = {"GET", "SET", "HSET"};
static const size_t cmd_lens[NCMD] = {3, 3, 4};

static const char *const hash_fields[16] = {
    "name",   "email",      "last_login", "score",  "visits",   "country",  "plan",   "avatar_url",
    "status", "created_at", "updated_at", "locale", "timezone", "referrer", "device", "flags"};

struct stream {
    struct trace_event *ev;
    size_t n;
    uint32_t *req_of;  /* reply i answers the request at event index req_of[i] */
    const char **bulk; /* GET reply i that hit: the value's bytes (its length is size) */
    uint64_t cmd_count[NCMD];
    uint64_t get_null;
    uint32_t nconn;
    uint64_t nreq;
    struct arena arena;
};

/* Writes the exact RESP wire bytes of a generated reply into buf (LEN_MAX + 32 bytes).
 * @return the length. Used both for the reply hash and for the plain-RESP anchor file. */
static size_t reply_wire(const struct trace_reply *r, const char *bulk, char *buf)
{
    switch (r->rtype) {
    case TRACE_R_SIMPLE: memcpy(buf, "+OK\r\n", 5); return 5;
    case TRACE_R_INTEGER: return (size_t)sprintf(buf, ":%" PRId64 "\r\n", r->ival);
    case TRACE_R_NULL: memcpy(buf, "$-1\r\n", 5); return 5;
    default: {
        size_t n = (size_t)sprintf(buf, "$%" PRIu64 "\r\n", r->size);
        memcpy(buf + n, bulk, (size_t)r->size);
        n += (size_t)r->size;
        memcpy(buf + n, "\r\n", 2);
        return n + 2;
    }
    }
}

/* The server's view of the keys: the last value SET on each string key, and which fields each
 * hash key has. */
struct keyspace {
    struct key *skeys, *hkeys;
    const char **sval;
    size_t *svlen;
    uint16_t *hfields;
    struct zipf zs, zh;
};

static void keyspace_init(struct keyspace *ks, struct arena *a, struct rng *g)
{
    ks->skeys = xmalloc(NSTRING_KEYS * sizeof *ks->skeys);
    ks->hkeys = xmalloc(NHASH_KEYS * sizeof *ks->hkeys);
    ks->sval = xcalloc(NSTRING_KEYS, sizeof *ks->sval);
    ks->svlen = xcalloc(NSTRING_KEYS, sizeof *ks->svlen);
    ks->hfields = xcalloc(NHASH_KEYS, sizeof *ks->hfields);
    for (uint32_t i = 0; i < NSTRING_KEYS; i++)
        ks->skeys[i] = make_key(a, g, i, 0);
    for (uint32_t i = 0; i < NHASH_KEYS; i++)
        ks->hkeys[i] = make_key(a, g, i, 1);
    zipf_init(&ks->zs, NSTRING_KEYS, g);
    zipf_init(&ks->zh, NHASH_KEYS, g);
}

static void keyspace_free(struct keyspace *ks)
{
    free(ks->skeys);
    free(ks->hkeys);
    free(ks->sval);
    free(ks->svlen);
    free(ks->hfields);
    zipf_free(&ks->zs);
    zipf_free(&ks->zh);
}

/* A request sent and not yet answered: its event index and the reply the server will give,
 * decided when the request arrives (the server runs commands in arrival order). */
struct pending {
    uint32_t req_ev;
    struct trace_reply reply;
    const char *bulk;
};

struct conn_state {
    struct pending q[16];
    unsigned head, count;
    uint64_t sent;
    int pipelined;
};

/* Fills event `e` with a new request from the command mix and works out its reply. */
static void gen_request(struct stream *s, struct keyspace *ks, struct rng *g, struct trace_event *e,
                        struct pending *p)
{
    uint64_t u = rng_next(g) % 100;
    enum cmd c = u < 50 ? CMD_GET : u < 85 ? CMD_SET : CMD_HSET;
    uint32_t argc = c == CMD_GET ? 2 : c == CMD_SET ? 3 : 4;
    const char **argv = arena_alloc(&s->arena, argc * sizeof *argv, sizeof(void *));
    size_t *argvlen = arena_alloc(&s->arena, argc * sizeof *argvlen, sizeof(size_t));
    struct trace_reply *r = &p->reply;
    char wire[LEN_MAX + 32];

    memset(r, 0, sizeof *r);
    p->bulk = NULL;
    argv[0] = cmd_names[c];
    argvlen[0] = cmd_lens[c];
    e->u.req.argc = argc;
    if (c == CMD_HSET) {
        uint32_t k = zipf_draw(&ks->zh, g);
        unsigned f = (unsigned)(rng_next(g) % 16);
        size_t vlen = (size_t)rng_range(g, LEN_MIN, LEN_MAX);
        argv[1] = ks->hkeys[k].p;
        argvlen[1] = ks->hkeys[k].len;
        argv[2] = hash_fields[f];
        argvlen[2] = strlen(hash_fields[f]);
        argv[3] = make_value(&s->arena, g, vlen);
        argvlen[3] = vlen;
        r->rtype = TRACE_R_INTEGER;
        r->ival = (ks->hfields[k] >> f) & 1 ? 0 : 1;
        ks->hfields[k] |= (uint16_t)(1u << f);
    } else {
        uint32_t k = zipf_draw(&ks->zs, g);
        argv[1] = ks->skeys[k].p;
        argvlen[1] = ks->skeys[k].len;
        if (c == CMD_SET) {
            size_t vlen = (size_t)rng_range(g, LEN_MIN, LEN_MAX);
            argv[2] = make_value(&s->arena, g, vlen);
            argvlen[2] = vlen;
            ks->sval[k] = argv[2];
            ks->svlen[k] = vlen;
            r->rtype = TRACE_R_SIMPLE;
            r->size = 2;
        } else if (ks->sval[k]) {
            r->rtype = TRACE_R_BULK;
            r->size = ks->svlen[k];
            p->bulk = ks->sval[k];
        } else {
            r->rtype = TRACE_R_NULL;
            r->flags = TRACE_REPLY_NULL_BULK;
            s->get_null++;
        }
    }
    s->cmd_count[c]++;
    e->type = TRACE_EV_REQUEST;
    e->u.req.proto = 2;
    e->u.req.argv = argv;
    e->u.req.argvlen = argvlen;
    r->flags |= TRACE_REPLY_HAS_HASH;
    r->len = reply_wire(r, p->bulk, wire);
    r->hash = trace_hash(wire, (size_t)r->len);
}

/* Things due at a time: a connection sends its next burst, one of its requests goes out, or
 * one of its replies comes back. A min-heap on (ts, order) keeps the stream in time order and
 * deterministic. */
enum item_kind { IT_SEND, IT_REQ, IT_REPLY };

struct item {
    uint64_t ts, order;
    uint32_t conn;
    uint32_t kind;
};

struct heap {
    struct item *a;
    size_t n, cap;
    uint64_t order;
};

static int item_less(const struct item *x, const struct item *y)
{
    return x->ts < y->ts || (x->ts == y->ts && x->order < y->order);
}

static void heap_push(struct heap *h, uint64_t ts, uint32_t conn, uint32_t kind)
{
    struct item it = {ts, h->order++, conn, kind};
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 256;
        h->a = realloc(h->a, h->cap * sizeof *h->a);
        if (!h->a)
            die("out of memory");
    }
    size_t i = h->n++;
    while (i > 0 && item_less(&it, &h->a[(i - 1) / 2])) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = it;
}

static struct item heap_pop(struct heap *h)
{
    struct item top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && item_less(&h->a[c + 1], &h->a[c]))
            c++;
        if (!item_less(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n)
        h->a[i] = last;
    return top;
}

/* Schedules one burst on connection c at time t: one request, or 2-16 pipelined ones sent
 * back to back, their replies 15-60 us later, then the client's think time before the next. */
static void schedule_burst(struct heap *h, struct conn_state *cs, uint32_t c, uint64_t t,
                           uint64_t *left, struct rng *g)
{
    uint64_t k = cs->pipelined ? rng_range(g, 2, 16) : 1;
    if (k > *left)
        k = *left;
    *left -= k;
    uint64_t rt = t;
    for (uint64_t i = 0; i < k; i++) {
        if (i)
            rt += rng_range(g, 150, 600);
        heap_push(h, rt, c, IT_REQ);
    }
    uint64_t pt = rt + rng_range(g, 15000, 60000);
    for (uint64_t i = 0; i < k; i++) {
        if (i)
            pt += rng_range(g, 200, 1500);
        heap_push(h, pt, c, IT_REPLY);
    }
    heap_push(h, pt + rng_range(g, 200000, 2000000), c, IT_SEND);
}

static void gen_open(struct trace_event *e, uint32_t c, uint64_t ts)
{
    memset(e, 0, sizeof *e);
    e->type = TRACE_EV_CONN_OPEN;
    e->ts = ts;
    e->conn = c + 1;
    struct trace_addr *cl = &e->u.open.client, *sv = &e->u.open.server;
    cl->family = sv->family = 4;
    memcpy(cl->addr, (const uint8_t[]){10, 0, 1, (uint8_t)(20 + c % 200)}, 4);
    cl->port = (uint16_t)(40000 + c * 7);
    memcpy(sv->addr, (const uint8_t[]){10, 0, 0, 5}, 4);
    sv->port = 6379;
}

/* Generates about `n` events: CONN_OPEN for every connection, requests and their replies in
 * time order, CONN_CLOSE for every connection at the end. */
static void stream_generate(struct stream *s, size_t n, uint64_t seed)
{
    struct rng g;
    rng_seed(&g, seed);
    memset(s, 0, sizeof *s);
    s->nconn = NCONN_DEFAULT;
    if (n < 4 * (size_t)s->nconn)
        s->nconn = (uint32_t)(n / 4 > 0 ? n / 4 : 1);
    s->nreq = n > 2 * (size_t)s->nconn ? (n - 2 * (size_t)s->nconn) / 2 : 1;
    size_t total = 2 * (size_t)s->nconn + 2 * (size_t)s->nreq;
    s->ev = xcalloc(total, sizeof *s->ev);
    s->req_of = xcalloc(total, sizeof *s->req_of);
    s->bulk = xcalloc(total, sizeof *s->bulk);

    struct keyspace ks;
    keyspace_init(&ks, &s->arena, &g);
    struct conn_state *cs = xcalloc(s->nconn, sizeof *cs);
    struct heap h = {0};
    uint64_t t = T0_NS, left = s->nreq, seq = 0;
    for (uint32_t c = 0; c < s->nconn; c++) {
        t += rng_range(&g, 1000, 5000);
        gen_open(&s->ev[s->n++], c, t);
        cs[c].pipelined = c < NPIPELINED;
    }
    for (uint32_t c = 0; c < s->nconn; c++)
        heap_push(&h, t + rng_range(&g, 10000, 2000000), c, IT_SEND);

    while (h.n) {
        struct item it = heap_pop(&h);
        struct conn_state *st = &cs[it.conn];
        struct trace_event *e = &s->ev[s->n];
        e->ts = it.ts;
        e->conn = it.conn + 1;
        switch (it.kind) {
        case IT_SEND:
            if (left) {
                schedule_burst(&h, st, it.conn, it.ts, &left, &g);
                continue;
            }
            e->type = TRACE_EV_CONN_CLOSE;
            e->u.close.reason = TRACE_CLOSE_FIN;
            break;
        case IT_REQ: {
            struct pending *p = &st->q[(st->head + st->count++) % 16];
            p->req_ev = (uint32_t)s->n;
            gen_request(s, &ks, &g, e, p);
            e->u.req.seq = seq++;
            p->reply.req_seq = e->u.req.seq;
            break;
        }
        case IT_REPLY: {
            struct pending *p = &st->q[st->head];
            st->head = (st->head + 1) % 16;
            st->count--;
            e->type = TRACE_EV_REPLY;
            e->u.reply = p->reply;
            s->req_of[s->n] = p->req_ev;
            s->bulk[s->n] = p->bulk;
            break;
        }
        }
        s->n++;
    }
    if (s->n != total)
        die("generator made %zu events, expected %zu", s->n, total);
    free(h.a);
    free(cs);
    keyspace_free(&ks);
}

static void stream_free(struct stream *s)
{
    free(s->ev);
    free(s->req_of);
    free(s->bulk);
    arena_free(&s->arena);
}

/* ---------------------------------------------------------------------------------------
 * The anchor: the same traffic as plain RESP bytes
 * ------------------------------------------------------------------------------------- */

/* Writes requests as RESP arrays and replies as their wire bytes, in event order, to `path`.
 * @return the bytes written. */
static uint64_t write_resp(const struct stream *s, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    static char iobuf[1 << 20];
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
    uint64_t total = 0;
    char buf[LEN_MAX + 64];
    for (size_t i = 0; i < s->n; i++) {
        const struct trace_event *e = &s->ev[i];
        if (e->type == TRACE_EV_REQUEST) {
            const struct trace_request *q = &e->u.req;
            total += (uint64_t)fprintf(f, "*%u\r\n", q->argc);
            for (uint32_t a = 0; a < q->argc; a++) {
                total += (uint64_t)fprintf(f, "$%zu\r\n", q->argvlen[a]);
                fwrite(q->argv[a], 1, q->argvlen[a], f);
                fwrite("\r\n", 1, 2, f);
                total += q->argvlen[a] + 2;
            }
        } else if (e->type == TRACE_EV_REPLY) {
            size_t n = reply_wire(&e->u.reply, s->bulk[i], buf);
            if (n != e->u.reply.len)
                die("reply %zu: wire length %zu, event says %" PRIu64, i, n, e->u.reply.len);
            fwrite(buf, 1, n, f);
            total += n;
        }
    }
    if (fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
    return total;
}

struct zstd_run {
    uint64_t bytes;
    double wall, cpu;    /* compressing */
    double dwall, dcpu;  /* decompressing */
};

/* Runs argv with stdout to `out` (a path, or NULL to count the bytes through a pipe).
 * @return the bytes written to stdout when counted; wall and CPU time (children's rusage). */
static uint64_t run_timed(char *const argv[], const char *out, double *wall, double *cpu)
{
    int fds[2] = {-1, -1};
    if (!out && pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    double t0 = now_s(CLOCK_MONOTONIC);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        if (out) {
            FILE *f = freopen(out, "wb", stdout);
            if (!f)
                _exit(126);
        } else {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    uint64_t bytes = 0;
    if (!out) {
        close(fds[1]);
        static char buf[1 << 16];
        for (;;) {
            ssize_t k = read(fds[0], buf, sizeof buf);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            bytes += (uint64_t)k;
        }
        close(fds[0]);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        die("wait4: %s", strerror(errno));
    *wall = now_s(CLOCK_MONOTONIC) - t0;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("%s %s failed (status %d)", argv[0], argv[1], status);
    return bytes;
}

/* Compresses `path` with `zstd -<level>` (what it writes is kept next to it), then times
 * `zstd -d` of that back to plain RESP, which must give `resp_bytes` bytes. */
static struct zstd_run run_zstd(const char *path, int level, uint64_t resp_bytes)
{
    struct zstd_run zr = {0, 0, 0, 0, 0};
    char lv[16], zpath[4300];
    snprintf(lv, sizeof lv, "-%d", level);
    snprintf(zpath, sizeof zpath, "%s.%d.zst", path, level);
    char *const c[] = {"zstd", lv, "-q", "-c", (char *)path, NULL};
    run_timed(c, zpath, &zr.wall, &zr.cpu);
    struct stat st;
    if (stat(zpath, &st) != 0)
        die("%s: %s", zpath, strerror(errno));
    zr.bytes = (uint64_t)st.st_size;
    char *const d[] = {"zstd", "-d", "-q", "-c", zpath, NULL};
    uint64_t back = run_timed(d, NULL, &zr.dwall, &zr.dcpu);
    if (back != resp_bytes)
        die("zstd -d of %s gave %" PRIu64 " bytes, not %" PRIu64, zpath, back, resp_bytes);
    unlink(zpath);
    return zr;
}

/* ---------------------------------------------------------------------------------------
 * Timed write and read
 * ------------------------------------------------------------------------------------- */

/* Folds the decoded fields of one event into a checksum: what a consumer of the trace would
 * touch (every scalar, the length and the first and last byte of every argument), so the
 * read cannot be skipped and a wrong decode changes the sum. The fields are combined with
 * cheap rotates and adds and mixed once per event, so the checksum costs little of the read. */
static uint64_t ev_digest(uint64_t h, const struct trace_event *e)
{
    uint64_t x = e->type + rotl(e->ts, 8) + rotl(e->conn, 40);
    switch (e->type) {
    case TRACE_EV_CONN_OPEN:
        x += rotl(e->u.open.flags, 3) + rotl(e->u.open.client.port, 17) +
             rotl(e->u.open.client.addr[3], 29);
        break;
    case TRACE_EV_CONN_CLOSE: x += rotl(e->u.close.reason, 5); break;
    case TRACE_EV_REQUEST:
        x += rotl(e->u.req.seq, 13) + rotl(e->u.req.argc, 50);
        for (uint32_t a = 0; a < e->u.req.argc; a++) {
            size_t l = e->u.req.argvlen[a];
            const unsigned char *p = (const unsigned char *)e->u.req.argv[a];
            x += rotl(l ^ ((uint64_t)p[0] << 16) ^ ((uint64_t)p[l - 1] << 24), 7 * (int)a + 1);
        }
        break;
    case TRACE_EV_REPLY:
        x += rotl(e->u.reply.req_seq, 13) + rotl(e->u.reply.rtype, 21) +
             rotl(e->u.reply.flags, 33) + rotl(e->u.reply.len, 45) + rotl(e->u.reply.size, 51) +
             rotl((uint64_t)e->u.reply.ival, 57) + e->u.reply.hash;
        break;
    default: break;
    }
    h = (h ^ x) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

struct timing {
    double wall, cpu;
};

/* The timed phases are kept out of line so that a profile can attribute samples to them. */
static __attribute__((noinline)) struct timing time_write(struct stream *s, const char *path,
                                                          const struct trace_writer_opts *o)
{
    struct rt_err err = {0};
    static const struct trace_meta_kv meta[] = {{"recorder", "bench_format", 12}};
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    struct trace_writer *w = trace_writer_open(path, meta, 1, o, &err);
    if (!w)
        die("trace_writer_open: %s", err.msg);
    struct trace_event *ev = s->ev;
    for (size_t i = 0; i < s->n; i++) {
        /* the recorder pairs a reply with the seq the writer gave its request */
        if (ev[i].type == TRACE_EV_REPLY)
            ev[i].u.reply.req_seq = ev[s->req_of[i]].u.req.seq;
        if (trace_writer_add(w, &ev[i], &err) != 0)
            die("trace_writer_add (event %zu): %s", i, err.msg);
    }
    if (trace_writer_close(w, &err) != 0)
        die("trace_writer_close: %s", err.msg);
    return (struct timing){now_s(CLOCK_MONOTONIC) - w0, now_s(CLOCK_PROCESS_CPUTIME_ID) - c0};
}

static __attribute__((noinline)) struct timing time_read(const char *path, size_t want,
                                                         uint64_t want_sum)
{
    struct rt_err err = {0};
    struct trace_event ev;
    uint64_t sum = 0;
    size_t n = 0;
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    struct trace_reader *r = trace_reader_open(path, NULL, &err);
    if (!r)
        die("trace_reader_open: %s", err.msg);
    int rc;
    while ((rc = trace_reader_next(r, &ev, &err)) == 1) {
        sum = ev_digest(sum, &ev);
        n++;
    }
    if (rc < 0)
        die("trace_reader_next after %zu events: %s", n, err.msg);
    trace_reader_close(r);
    struct timing t = {now_s(CLOCK_MONOTONIC) - w0, now_s(CLOCK_PROCESS_CPUTIME_ID) - c0};
    if (n != want || sum != want_sum)
        die("read back %zu events (checksum %016" PRIx64 "), wrote %zu (checksum %016" PRIx64 ")",
            n, sum, want, want_sum);
    return t;
}

/* Reads the trace once more, untimed, and compares every field and argument byte with what
 * was written. */
static void verify(const struct stream *s, const char *path)
{
    struct rt_err err = {0};
    struct trace_event ev;
    struct trace_reader *r = trace_reader_open(path, NULL, &err);
    if (!r)
        die("trace_reader_open: %s", err.msg);
    for (size_t i = 0; i < s->n; i++) {
        const struct trace_event *w = &s->ev[i];
        int rc = trace_reader_next(r, &ev, &err);
        if (rc != 1)
            die("verify: event %zu: %s", i, rc ? err.msg : "early end");
        int ok = ev.type == w->type && ev.ts == w->ts && ev.conn == w->conn;
        if (ok && w->type == TRACE_EV_CONN_OPEN)
            ok = ev.u.open.flags == w->u.open.flags &&
                 memcmp(&ev.u.open.client.addr, &w->u.open.client.addr, 4) == 0 &&
                 ev.u.open.client.port == w->u.open.client.port &&
                 memcmp(&ev.u.open.server.addr, &w->u.open.server.addr, 4) == 0 &&
                 ev.u.open.server.port == w->u.open.server.port;
        else if (ok && w->type == TRACE_EV_CONN_CLOSE)
            ok = ev.u.close.reason == w->u.close.reason;
        else if (ok && w->type == TRACE_EV_REQUEST) {
            ok = ev.u.req.seq == w->u.req.seq && ev.u.req.argc == w->u.req.argc &&
                 ev.u.req.db == w->u.req.db && ev.u.req.proto == w->u.req.proto &&
                 ev.u.req.flags == w->u.req.flags;
            for (uint32_t a = 0; ok && a < w->u.req.argc; a++)
                ok = ev.u.req.argvlen[a] == w->u.req.argvlen[a] &&
                     memcmp(ev.u.req.argv[a], w->u.req.argv[a], w->u.req.argvlen[a]) == 0;
        } else if (ok && w->type == TRACE_EV_REPLY) {
            const struct trace_reply *a = &ev.u.reply, *b = &w->u.reply;
            ok = a->req_seq == b->req_seq && a->rtype == b->rtype && a->flags == b->flags &&
                 a->len == b->len && a->count == b->count && a->size == b->size &&
                 a->ival == b->ival && a->hash == b->hash && a->errlen == 0;
        }
        if (!ok)
            die("verify: event %zu (%s) differs from what was written", i,
                trace_ev_type_name(w->type));
    }
    int rc = trace_reader_next(r, &ev, &err);
    if (rc != 0)
        die("verify: %s after the last event", rc == 1 ? "an extra event" : err.msg);
    trace_reader_close(r);
}

/* ---------------------------------------------------------------------------------------
 * Command line and report
 * ------------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_format [-n EVENTS] [-r REPEATS] [-d DIR] [--no-anchor] [--keep]\n"
               "                    [--level L] [--chunk-bytes B[K|M]] [--sync] [--encoding E]\n"
               "  -n N             events to generate (default 1000000)\n"
               "  -r R             timed repetitions of write and read; the best is reported (3)\n"
               "  -d DIR           where the trace and the RESP file go (default /tmp)\n"
               "  --no-anchor      skip the zstd CLI runs on the plain RESP file\n"
               "  --level L        zstd level of the trace writer (default: the writer's, 3)\n"
               "  --chunk-bytes B  raw chunk size of the trace writer (default: the writer's, 8M)\n"
               "  --sync           compress and write chunks in the calling thread (default: the\n"
               "                   writer's background thread)\n"
               "  --only PHASE     time only `write` or only `read` (for profiling; implies\n"
               "                   --no-anchor)\n"
               "  --encoding E     chunk encoding of the trace writer: 3 (default), 2 (1.2's)\n"
               "                   or 1 (1.1's)\n"
               "  --keep           keep the trace and the RESP file (their directory is printed)\n");
}

static uint64_t parse_size(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        die("bad %s: %s", what, s);
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
    default: break;
    }
    if (*end == 'i' || *end == 'B' || *end == 'b')
        end++;
    if (*end)
        die("bad %s: %s", what, s);
    return v;
}

/* Formats an integer with thousands separators into one of a few rotating buffers. */
static const char *grp(uint64_t v)
{
    static char bufs[8][32];
    static int k;
    char *b = bufs[k++ & 7], tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            b[o++] = ',';
        b[o++] = tmp[i];
    }
    b[o] = 0;
    return b;
}

/* Writes and reads the trace `reps` times and keeps the best time of each phase (0 for a
 * phase not timed). The first round also verifies the trace field by field. */
static void run_rounds(struct stream *s, const char *path, const struct trace_writer_opts *wo,
                       int reps, int do_write, int do_read, struct timing *bw, struct timing *br)
{
    /* the seqs were set by the generator as the writer will set them */
    uint64_t want_sum = 0;
    for (size_t i = 0; i < s->n; i++)
        want_sum = ev_digest(want_sum, &s->ev[i]);
    *bw = do_write ? (struct timing){1e30, 1e30} : (struct timing){0, 0};
    *br = do_read ? (struct timing){1e30, 1e30} : (struct timing){0, 0};
    for (int i = 0; i < reps; i++) {
        if (do_write || i == 0) {
            struct timing t = time_write(s, path, wo);
            if (do_write && t.wall < bw->wall)
                bw->wall = t.wall;
            if (do_write && t.cpu < bw->cpu)
                bw->cpu = t.cpu;
        }
        if (i == 0)
            verify(s, path);
        if (do_read) {
            struct timing t = time_read(path, s->n, want_sum);
            if (t.wall < br->wall)
                br->wall = t.wall;
            if (t.cpu < br->cpu)
                br->cpu = t.cpu;
        }
    }
}

struct results {
    int encoding;
    size_t events;
    uint64_t resp_bytes, trace_bytes;
    struct trace_totals tot;
    struct timing write, read; /* wall 0 when the phase was not timed */
    struct zstd_run z19, z3;
    int anchor;
};

/* Prints the summary table, the details behind it and the targets with PASS or MISS. */
static void print_report(const struct results *x)
{
    double n = (double)x->events;
    double wr = x->write.wall > 0 ? n / x->write.wall : 0;
    double rd = x->read.wall > 0 ? n / x->read.wall : 0;
    char r19[32] = "-", b19[32] = "-", b3[32] = "-", ws[32] = "-", rs[32] = "-";
    if (x->anchor) {
        snprintf(r19, sizeof r19, "%.3f", (double)x->trace_bytes / (double)x->z19.bytes);
        snprintf(b19, sizeof b19, "%s", grp(x->z19.bytes));
        snprintf(b3, sizeof b3, "%s", grp(x->z3.bytes));
    }
    if (wr > 0)
        snprintf(ws, sizeof ws, "%s", grp((uint64_t)wr));
    if (rd > 0)
        snprintf(rs, sizeof rs, "%s", grp((uint64_t)rd));
    printf("\n%-9s %11s %11s %12s %11s %12s %13s %12s %19s\n", "events", "write ev/s", "read ev/s",
           "trace bytes", "bytes/event", "RESP bytes", "zstd-19 bytes", "zstd-3 bytes",
           "ratio trace/zstd-19");
    printf("%-9s %11s %11s %12s %11.2f %12s %13s %12s %19s\n\n", grp(x->events), ws, rs,
           grp(x->trace_bytes), (double)x->trace_bytes / n, grp(x->resp_bytes), b19, b3, r19);

    if (wr > 0)
        printf("write: best %.3f s wall, %.3f s CPU (%s ev/s per CPU-second); %.1f MB/s of "
               "RESP-equivalent\n",
               x->write.wall, x->write.cpu, grp((uint64_t)(n / x->write.cpu)),
               (double)x->resp_bytes / x->write.wall / 1e6);
    if (rd > 0)
        printf("read:  best %.3f s wall, %.3f s CPU (%s ev/s per CPU-second); %.1f MB/s of "
               "RESP-equivalent; checksum and full verify OK\n",
               x->read.wall, x->read.cpu, grp((uint64_t)(n / x->read.cpu)),
               (double)x->resp_bytes / x->read.wall / 1e6);
    const struct trace_totals *t = &x->tot;
    printf("trace: %s chunks (%.0f events each), %s raw bytes (%.1f per event), zstd inside "
           "%.2fx, RESP/trace %.2fx, spans %.2f s of trace time\n",
           grp(t->chunks), n / (double)(t->chunks ? t->chunks : 1), grp(t->raw_bytes),
           (double)t->raw_bytes / n,
           (double)t->raw_bytes / (double)(t->compressed_bytes ? t->compressed_bytes : 1),
           (double)x->resp_bytes / (double)x->trace_bytes, (double)(t->ts_max - t->ts_min) * 1e-9);
    if (x->anchor) {
        /* side by side: every speed is MB/s of the plain RESP the run stands for */
        double mb = (double)x->resp_bytes / 1e6;
        printf("\n%-22s %13s %9s %14s %14s\n", "the same traffic as", "bytes", "vs -19",
               "write MB/s", "read MB/s");
        char tw[32] = "-", tr[32] = "-";
        if (x->write.wall > 0)
            snprintf(tw, sizeof tw, "%.1f", mb / x->write.wall);
        if (x->read.wall > 0)
            snprintf(tr, sizeof tr, "%.1f", mb / x->read.wall);
        char name[32];
        snprintf(name, sizeof name, "trace (encoding %d)", x->encoding);
        printf("%-22s %13s %9.3f %14s %14s\n", name, grp(x->trace_bytes),
               (double)x->trace_bytes / (double)x->z19.bytes, tw, tr);
        printf("%-22s %13s %9.3f %14.1f %14.1f\n", "plain RESP, zstd -19", grp(x->z19.bytes), 1.0,
               mb / x->z19.wall, mb / x->z19.dwall);
        printf("%-22s %13s %9.3f %14.1f %14.1f\n", "plain RESP, zstd -3", grp(x->z3.bytes),
               (double)x->z3.bytes / (double)x->z19.bytes, mb / x->z3.wall, mb / x->z3.dwall);
        printf("(zstd: the CLI, one thread, file to file; -d to a pipe. Wall times: zstd -3 "
               "%.2f s + %.2f s, zstd -19 %.2f s + %.2f s)\n",
               x->z3.wall, x->z3.dwall, x->z19.wall, x->z19.dwall);
    }

    printf("\ntargets:\n");
    printf("  write >= %s ev/s:        %12s  %s\n", grp((uint64_t)TARGET_WRITE_EVS), ws,
           wr <= 0                  ? "n/a (not timed)"
           : wr >= TARGET_WRITE_EVS ? "PASS"
                                    : "MISS");
    printf("  read  >= %s ev/s:        %12s  %s\n", grp((uint64_t)TARGET_READ_EVS), rs,
           rd <= 0                 ? "n/a (not timed)"
           : rd >= TARGET_READ_EVS ? "PASS"
                                   : "MISS");
    if (x->anchor)
        printf("  trace bytes <= zstd -19 bytes: %12s  %s (zstd -19: %s)\n", grp(x->trace_bytes),
               x->trace_bytes <= x->z19.bytes ? "PASS" : "MISS", b19);
    else
        printf("  trace bytes <= zstd -19 bytes: %12s  n/a (no anchor run)\n", grp(x->trace_bytes));
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int reps = 3, anchor = 1, do_write = 1, do_read = 1, keep = 0;
    const char *dir = "/tmp";
    struct trace_writer_opts wo;
    memset(&wo, 0, sizeof wo);
    static const struct option lopts[] = {{"no-anchor", no_argument, NULL, 'A'},
                                          {"level", required_argument, NULL, 'L'},
                                          {"chunk-bytes", required_argument, NULL, 'C'},
                                          {"only", required_argument, NULL, 'O'},
                                          {"sync", no_argument, NULL, 'S'},
                                          {"keep", no_argument, NULL, 'K'},
                                          {"encoding", required_argument, NULL, 'E'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "n:r:d:h", lopts, NULL)) != -1) {
        switch (opt) {
        case 'n': n = (size_t)parse_size(optarg, "event count"); break;
        case 'r': reps = atoi(optarg); break;
        case 'd': dir = optarg; break;
        case 'A': anchor = 0; break;
        case 'L': wo.level = atoi(optarg); break;
        case 'C': wo.chunk_bytes = (size_t)parse_size(optarg, "chunk size"); break;
        case 'S': wo.synchronous = 1; break;
        case 'K': keep = 1; break;
        case 'E': wo.encoding = atoi(optarg); break;
        case 'O':
            if (strcmp(optarg, "write") == 0)
                do_read = 0;
            else if (strcmp(optarg, "read") == 0)
                do_write = 0;
            else
                die("--only takes write or read, not %s", optarg);
            anchor = 0;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || n < 4 || reps < 1) {
        usage(stderr);
        return 2;
    }

    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/bench_format.XXXXXX", dir);
    if (!mkdtemp(tmpl))
        die("mkdtemp %s: %s", tmpl, strerror(errno));
    char trace_path[4200], resp_path[4200];
    snprintf(trace_path, sizeof trace_path, "%s/bench.rtrace", tmpl);
    snprintf(resp_path, sizeof resp_path, "%s/bench.resp", tmpl);

    struct stream s;
    double g0 = now_s(CLOCK_MONOTONIC);
    stream_generate(&s, n, 0x5eed2024ull);
    double gen_s = now_s(CLOCK_MONOTONIC) - g0;
    uint64_t nreq = s.cmd_count[CMD_GET] + s.cmd_count[CMD_SET] + s.cmd_count[CMD_HSET];
    printf("bench_format: %zu events (%u connections, %u pipelined; %" PRIu64
           " requests: GET %.1f%% (%.1f%% null), SET %.1f%%, HSET %.1f%%), generated in %.2f s\n",
           s.n, s.nconn, s.nconn < NPIPELINED ? s.nconn : NPIPELINED, nreq,
           100.0 * (double)s.cmd_count[CMD_GET] / (double)nreq,
           100.0 * (double)s.get_null / (double)s.cmd_count[CMD_GET],
           100.0 * (double)s.cmd_count[CMD_SET] / (double)nreq,
           100.0 * (double)s.cmd_count[CMD_HSET] / (double)nreq, gen_s);
    printf("writer: encoding %d, level %d%s, chunk-bytes %zu%s, %s; best of %d; files in %s\n",
           wo.encoding ? wo.encoding : 3, wo.level ? wo.level : 3, wo.level ? "" : " (default)",
           wo.chunk_bytes ? wo.chunk_bytes : (size_t)8 << 20, wo.chunk_bytes ? "" : " (default)",
           wo.synchronous ? "synchronous" : "background thread", reps, tmpl);
    fflush(stdout);

    uint64_t resp_bytes = write_resp(&s, resp_path);

    struct timing bw, br;
    run_rounds(&s, trace_path, &wo, reps, do_write, do_read, &bw, &br);

    struct stat st;
    if (stat(trace_path, &st) != 0)
        die("%s: %s", trace_path, strerror(errno));
    uint64_t trace_bytes = (uint64_t)st.st_size;
    struct trace_totals tot;
    {
        struct rt_err err = {0};
        struct trace_reader *r = trace_reader_open(trace_path, NULL, &err);
        if (!r)
            die("trace_reader_open: %s", err.msg);
        trace_reader_totals(r, &tot);
        trace_reader_close(r);
    }

    struct zstd_run z19 = {0, 0, 0, 0, 0}, z3 = {0, 0, 0, 0, 0};
    if (anchor) {
        z3 = run_zstd(resp_path, 3, resp_bytes);
        z19 = run_zstd(resp_path, 19, resp_bytes);
    }

    struct results res = {wo.encoding ? wo.encoding : 3, s.n, resp_bytes, trace_bytes, tot, bw, br,
                          z19, z3, anchor};
    print_report(&res);

    if (!keep) {
        unlink(trace_path);
        unlink(resp_path);
        rmdir(tmpl);
    }
    stream_free(&s);
    return 0;
}
