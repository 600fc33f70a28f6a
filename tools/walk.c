/* walk.c: one pass over a trace for the analyses: decoding, command and key resolution, wire
 * sizes and reply pairing done once, the analyses called back on each event (walk.h). */
#include "walk.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ANALYSES 8

/* The commands seen last, by the exact bytes of their name. Only commands without
 * subcommands are kept: what a container name (CONFIG, CLIENT, ...) resolves to depends on
 * the next argument. For a command whose key specifications all start at an index and take a
 * range (GET, SET, MGET, HSET, ... but not SORT, MIGRATE, EVAL's numkeys or XREAD's keyword),
 * what rt_cmd_keys() answers depends on the number of arguments alone, so the positions found
 * for the last argc seen are kept too and given again without asking. */
#define CMD_CACHE 8
#define CMD_NAME 24
#define FIXED_KEYS 8
struct cmd_ent {
    char name[CMD_NAME];
    size_t len; /* 0: unused */
    const struct rt_cmd *c;
    int fixed;     /* the key positions depend on argc alone */
    int have;      /* fixed: rc, n and pos are those of `argc` */
    int rc;
    size_t argc, n;
    uint32_t pos[FIXED_KEYS];
};

/* A request's place in the window: its sequence number + 1 (0: free), its time when an
 * analysis asked for it (RT_WALK_NEED_TS), then the analyses' tags. */
struct rec {
    uint64_t seq1;
};

struct rt_walk {
    const char *cmd;
    struct rt_walk_analysis an[MAX_ANALYSES];
    size_t tag_off[MAX_ANALYSES];
    size_t nan, tag_bytes;
    unsigned needs;
    int keys_only; /* every analysis says RT_WALK_KEYS_ONLY */
    /* the reader (its requests' arguments 2.. may still be compressed: opts.lazy_args) and
     * the outcome of loading them: 0, 1 a damaged chunk skipped (salvage), < 0 (err) */
    struct trace_reader *rd;
    struct rt_err *err;
    int load_rc;
    uint8_t *ring;  /* RT_WALK_WINDOW records of `stride` bytes */
    uint8_t *ring2; /* RT_WALK_LONG_WINDOW records: the long waiters (allocated at the first) */
    size_t stride, tags_at; /* a record's bytes; where its tags start */
    uint64_t scratch[RT_WALK_TAG_MAX / 8]; /* the tags of a request that does not wait */
    struct rt_walk_refs refs;
    struct cmd_ent cc[CMD_CACHE];
    unsigned ccn;
    uint32_t *pos; /* key positions */
    size_t pos_cap;
    uint64_t *hash; /* key hashes */
    size_t hash_cap;
    struct rt_walk_totals t;
};

struct rt_walk *rt_walk_new(const char *cmd)
{
    struct rt_walk *w = rt_xcalloc(cmd, 1, sizeof *w);
    w->cmd = cmd;
    w->pos_cap = 256;
    w->pos = rt_xcalloc(cmd, w->pos_cap, sizeof *w->pos);
    w->hash_cap = 256;
    w->hash = rt_xcalloc(cmd, w->hash_cap, sizeof *w->hash);
    return w;
}

void rt_walk_free(struct rt_walk *w)
{
    if (!w)
        return;
    free(w->ring);
    free(w->ring2);
    free(w->refs.base);
    free(w->pos);
    free(w->hash);
    free(w);
}

int rt_walk_add(struct rt_walk *w, const struct rt_walk_analysis *a)
{
    size_t sz = (a->tag_size + 7) & ~(size_t)7;
    if (w->nan == MAX_ANALYSES || w->tag_bytes + sz > RT_WALK_TAG_MAX)
        return -1;
    w->an[w->nan] = *a;
    w->tag_off[w->nan] = w->tag_bytes;
    w->tag_bytes += sz;
    w->needs |= a->needs;
    w->keys_only = (w->nan == 0 || w->keys_only) && (a->needs & RT_WALK_KEYS_ONLY);
    w->nan++;
    return 0;
}

const struct rt_walk_totals *rt_walk_totals(const struct rt_walk *w)
{
    return &w->t;
}

struct rt_walk_refs *rt_walk_refs(struct rt_walk *w)
{
    return &w->refs;
}

const char *rt_walk_damage(const struct trace_reader *r, int rc, const struct rt_err *err,
                           struct trace_damage *dmg)
{
    trace_reader_damage(r, dmg);
    return rc < 0 ? err->msg : dmg->first_offset != UINT64_MAX ? dmg->msg : NULL;
}

/* ---- requests ------------------------------------------------------------------------------ */

static int keys_fixed(const struct rt_cmd *c)
{
    /* rt_cmd_keys() reads the arguments of these three as the server's getkeys procedures do */
    if (!strcmp(c->name, "sort") || !strcmp(c->name, "sort_ro") || !strcmp(c->name, "migrate"))
        return 0;
    for (size_t j = 0; j < c->nkeyspecs; j++) {
        const struct rt_keyspec *ks = &c->keyspecs[j];
        if (ks->flags & RT_KS_NOT_KEY)
            continue;
        if (ks->bs != RT_KS_INDEX || ks->fk != RT_KS_RANGE)
            return 0;
    }
    return 1;
}

/* 1 when the `len` bytes at a and b are equal (names are short: a loop, not a call) */
static inline int name_eq(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* The command of `rq` through the cache: its entry when it was found there or added, else
 * NULL (*c is then rt_cmd_lookup()'s answer). */
static struct cmd_ent *cmd_of(struct rt_walk *w, const struct trace_request *rq,
                              const struct rt_cmd **c)
{
    size_t len = rq->argvlen[0];
    if (len && len < CMD_NAME)
        for (unsigned i = 0; i < CMD_CACHE; i++) {
            struct cmd_ent *e = &w->cc[i];
            if (e->len == len && name_eq(e->name, rq->argv[0], len)) {
                *c = e->c;
                return e;
            }
        }
    *c = rt_cmd_lookup(rq->argc, rq->argv, rq->argvlen);
    if (!*c || len == 0 || len >= CMD_NAME || ((*c)->flags & RT_CMD_CONTAINER) ||
        strchr((*c)->name, '|'))
        return NULL;
    struct cmd_ent *e = &w->cc[w->ccn++ % CMD_CACHE];
    memset(e, 0, sizeof *e);
    memcpy(e->name, rq->argv[0], len);
    e->len = len;
    e->c = *c;
    e->fixed = keys_fixed(*c);
    return e;
}

static void grow_pos(struct rt_walk *w, size_t n)
{
    while (w->pos_cap < n)
        w->pos_cap *= 2;
    free(w->pos);
    w->pos = rt_xcalloc(w->cmd, w->pos_cap, sizeof *w->pos);
}

/* rt_cmd_keys() into w->pos, grown as needed. */
static int find_keys(struct rt_walk *w, const struct rt_cmd *c, const struct trace_request *rq,
                     size_t *n)
{
    int rc = rt_cmd_keys(c, rq->argc, rq->argv, rq->argvlen, w->pos, w->pos_cap, n);
    if (rc == 0 && *n > w->pos_cap) {
        grow_pos(w, *n);
        rc = rt_cmd_keys(c, rq->argc, rq->argv, rq->argvlen, w->pos, w->pos_cap, n);
    }
    return rc;
}

/* Decimal digits of `v` (argument lengths are short: one comparison or two, not divisions). */
static uint64_t ndigits(uint64_t v)
{
    uint64_t n = 1;
    for (;;) {
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

/* Bytes of the request as a RESP array of bulk strings: "*<argc>\r\n" and "$<len>\r\n<arg>\r\n"
 * per argument. */
static uint64_t wire_size(const struct trace_request *rq)
{
    uint64_t b = 1 + ndigits(rq->argc) + 2;
    for (uint32_t i = 0; i < rq->argc; i++)
        b += 1 + ndigits(rq->argvlen[i]) + 2 + rq->argvlen[i] + 2;
    return b;
}

int rt_walk_load_args(struct rt_walk *w, const struct rt_walk_req *q)
{
    int rc = trace_reader_load_args(w->rd, q->ev, w->err);
    if (rc == 0)
        return 0;
    w->load_rc = rc;
    return -1;
}

/* The bytes of the arguments 2.. of q's request, which the reader left compressed, for the
 * walk's own key resolution. @return 0, or -1 when they are damaged (w->load_rc says how): the
 * request gets no keys. */
static int load_args(struct rt_walk *w, struct rt_walk_req *q)
{
    if (rt_walk_load_args(w, q) == 0)
        return 0;
    q->keys_rc = -1;
    return -1;
}

/* What every analysis needs to know about a request: its kind, command and keys. */
static void resolve(struct rt_walk *w, struct rt_walk_req *q)
{
    const struct trace_request *rq = q->rq;
    q->keys_rc = -1;
    if (!w->keys_only && rq->argc > 2 && !rq->argv[2] && load_args(w, q)) {
        q->kind = RT_WALK_UNKNOWN; /* its arguments went with their chunk: no command */
        return;
    }
    if (rq->flags & TRACE_REQ_MALFORMED) {
        q->kind = RT_WALK_MALFORMED;
        return;
    }
    if (rq->argc == 0) {
        q->kind = RT_WALK_EMPTY;
        return;
    }
    const struct rt_cmd *c;
    struct cmd_ent *e = cmd_of(w, rq, &c);
    if (!c) {
        q->kind = RT_WALK_UNKNOWN;
        return;
    }
    q->kind = RT_WALK_CMD;
    q->cmd = c;
    size_t n = 0;
    /* the bytes of arguments 2.. still compressed: a command whose key positions depend on
     * more than argc may read them to find its keys */
    int lazy = rq->argc > 2 && !rq->argv[2];
    if (e && e->fixed && e->have && e->argc == rq->argc) {
        q->keys_rc = e->rc;
        n = e->n;
        q->keys = e->pos;
    } else {
        if (lazy && !(e && e->fixed)) {
            if (load_args(w, q))
                return;
            lazy = 0;
        }
        q->keys_rc = find_keys(w, c, rq, &n);
        q->keys = w->pos;
        if (e && e->fixed && n <= FIXED_KEYS) {
            e->have = 1;
            e->argc = rq->argc;
            e->rc = q->keys_rc;
            e->n = n;
            memcpy(e->pos, w->pos, n * sizeof *e->pos);
        }
    }
    if (q->keys_rc != 0)
        return;
    if (lazy)
        for (size_t i = 0; i < n; i++)
            if (q->keys[i] >= 2) { /* a key among them */
                if (load_args(w, q))
                    return;
                break;
            }
    q->nkeys = n;
    if (w->needs & RT_WALK_NEED_WIRE)
        q->wire = wire_size(rq);
    if ((w->needs & RT_WALK_NEED_HASH) && n) {
        if (n > w->hash_cap) {
            while (w->hash_cap < n)
                w->hash_cap *= 2;
            free(w->hash);
            w->hash = rt_xcalloc(w->cmd, w->hash_cap, sizeof *w->hash);
        }
        for (size_t i = 0; i < n; i++)
            w->hash[i] = trace_hash(rq->argv[q->keys[i]], rq->argvlen[q->keys[i]]);
        q->key_hash = w->hash;
    }
}

static struct rec *rec_at(const struct rt_walk *w, uint64_t seq)
{
    return (struct rec *)(w->ring + (size_t)(seq & (RT_WALK_WINDOW - 1)) * w->stride);
}

static struct rec *rec2_at(const struct rt_walk *w, uint64_t seq)
{
    return (struct rec *)(w->ring2 + (size_t)(seq & (RT_WALK_LONG_WINDOW - 1)) * w->stride);
}

/* Request record `r`, still waiting when a later request needs its place, moves to the long
 * waiters; the long waiter whose place it takes is forgotten. */
static void spill(struct rt_walk *w, const struct rec *r)
{
    if (!w->ring2)
        w->ring2 = rt_xcalloc(w->cmd, RT_WALK_LONG_WINDOW, w->stride);
    struct rec *r2 = rec2_at(w, r->seq1 - 1);
    if (r2->seq1) {
        w->t.evicted++;
        w->t.waiting--;
    }
    memcpy(r2, r, w->stride);
}

static void on_request(struct rt_walk *w, const struct trace_event *ev)
{
    struct rt_walk_req q = {.ev = ev, .rq = &ev->u.req};
    w->t.requests++;
    /* the record of a later request: a new request writes a line of the window not touched
     * for a whole window of requests, which may have left the closest caches */
    __builtin_prefetch(rec_at(w, q.rq->seq + 64), 1);
    resolve(w, &q);
    uint8_t *tags = (uint8_t *)w->scratch;
    if (!(q.rq->flags & TRACE_REQ_NOREPLY)) {
        struct rec *r = rec_at(w, q.rq->seq);
        if (r->seq1)
            spill(w, r); /* unanswered for a window of later requests */
        w->t.waiting++;
        r->seq1 = q.rq->seq + 1;
        if (w->needs & RT_WALK_NEED_TS)
            ((uint64_t *)r)[1] = ev->ts;
        tags = (uint8_t *)r + w->tags_at;
        q.waits = 1;
    }
    for (size_t i = 0; i < w->tag_bytes / 8; i++) /* a few words: no call to memset */
        ((uint64_t *)tags)[i] = 0;
    for (size_t i = 0; i < w->nan; i++)
        if (w->an[i].on_request)
            w->an[i].on_request(w->an[i].ctx, w, &q, tags + w->tag_off[i]);
}

static void on_reply(struct rt_walk *w, const struct trace_event *ev)
{
    struct rt_walk_reply p = {.ev = ev, .rp = &ev->u.reply};
    uint8_t *tags = NULL;
    uint64_t seq = p.rp->req_seq;
    w->t.replies++;
    if (seq == TRACE_SEQ_NONE) {
        p.pairing = RT_WALK_UNPAIRED;
        w->t.unpaired++;
    } else {
        struct rec *r = rec_at(w, seq);
        if (r->seq1 != seq + 1 && w->ring2)
            r = rec2_at(w, seq); /* a long waiter, maybe */
        if (r->seq1 == seq + 1) {
            p.pairing = RT_WALK_PAIRED;
            if (w->needs & RT_WALK_NEED_TS)
                p.req_ts = ((const uint64_t *)r)[1];
            r->seq1 = 0;
            tags = (uint8_t *)r + w->tags_at;
            w->t.paired++;
            w->t.waiting--;
        } else {
            p.pairing = RT_WALK_LOST;
            w->t.lost++;
        }
    }
    for (size_t i = 0; i < w->nan; i++)
        if (w->an[i].on_reply)
            w->an[i].on_reply(w->an[i].ctx, w, &p, tags ? tags + w->tag_off[i] : NULL);
}

static void on_event(struct rt_walk *w, const struct trace_event *ev)
{
    w->t.events++;
    if (!w->t.have_ts) {
        w->t.have_ts = 1;
        w->t.first_ts = w->t.ts_min = w->t.ts_max = ev->ts;
    } else {
        if (ev->ts < w->t.ts_min)
            w->t.ts_min = ev->ts;
        if (ev->ts > w->t.ts_max)
            w->t.ts_max = ev->ts;
    }
    switch (ev->type) {
    case TRACE_EV_REQUEST: on_request(w, ev); break;
    case TRACE_EV_REPLY: on_reply(w, ev); break;
    default:
        for (size_t i = 0; i < w->nan; i++)
            if (w->an[i].on_other)
                w->an[i].on_other(w->an[i].ctx, w, ev);
        break;
    }
}

int rt_walk_run(struct rt_walk *w, struct trace_reader *r, struct rt_pass *ps, struct rt_err *err)
{
    if (!w->ring) {
        w->tags_at = sizeof(struct rec) + (w->needs & RT_WALK_NEED_TS ? sizeof(uint64_t) : 0);
        w->stride = w->tags_at + w->tag_bytes;
        w->ring = rt_xcalloc(w->cmd, RT_WALK_WINDOW, w->stride);
        w->refs.base = rt_xcalloc(w->cmd, RT_WALK_REFS_BYTES, 1);
    }
    struct trace_event ev;
    int rc;
    w->rd = r;
    w->err = err;
    while ((rc = trace_reader_next(r, &ev, err)) == 1) {
        on_event(w, &ev);
        if (w->load_rc < 0) { /* the bytes of a request's arguments are damaged */
            rc = w->load_rc;
            break;
        }
        w->load_rc = 0;
        if (!(w->t.events % RT_PASS_EVERY) && rt_pass_check(ps, r, w->t.events))
            break;
    }
    for (size_t i = 0; i < w->nan; i++)
        if (w->an[i].on_end)
            w->an[i].on_end(w->an[i].ctx, w);
    if (ps)
        ps->events = w->t.events;
    return rc < 0 ? -1 : 0;
}
