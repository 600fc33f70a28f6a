/* scale.c: --scale N, growth as more users (after Oracle Database Replay's workload scale-up).
 *
 * Teams grow by users, not by a faster clock: `--speed 8` of a trace of 4 request/response
 * loops breaks at the loops' round trips, not at the target's capacity. With --scale N every
 * recorded connection is replayed N times at once. Copy 0 is the recording itself; copy i
 * (1..N-1):
 *  - has its own connections (connection id XOR i << 40) and its own requests (sequence number
 *    seq * N + i, so the order of --sync keys and the pairing of replies stay per copy);
 *  - has its keys in its own namespace, chosen so that the copies spread over the cluster's
 *    slots as new users would: a key with a hash tag gets "~i" at the end of the tag
 *    ("{user:7}:cart" -> "{user:7~3}:cart": keys that shared a slot still do, in another slot),
 *    any other key gets "~i" appended ("session:42" -> "session:42~3"). The keys are those of
 *    the command table's key specifications; a command it cannot place keeps its arguments
 *    (counted: replay_result.scale_unkeyed);
 *  - starts i * SCALE_OFFSET_NS / N later (all copies within the first second of trace time,
 *    scaled by --speed), so the copies are not in lockstep.
 * Each copy is read by its own trace reader; the worker takes the events of the N readers
 * merged in time order. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#define SCALE_OFFSET_NS 1000000000ull
#define CONN_COPY_SHIFT 40

struct scale_copy {
    struct trace_reader *rd; /* copy 0: the worker's own reader */
    struct trace_event ev;
    int have, eof;
    uint64_t offset_ns;
    const char **argv;       /* the rewritten request's arguments */
    size_t *argvlen;
    size_t cap;
    char *kbuf;              /* the rewritten keys' bytes */
    size_t kcap;
    uint32_t *pos;
};

static int open_one(struct worker *w, struct scale_copy *c)
{
    c->rd = trace_reader_open(w->o->trace, NULL, &w->err);
    if (!c->rd)
        return -1;
    if (w->o->from_ns && trace_reader_seek_time(c->rd, w->o->from_ns, &w->err) < 0)
        return -1;
    c->have = c->eof = 0;
    return 0;
}

int eng_scale_open(struct worker *w)
{
    unsigned n = w->o->scale;
    if (n <= 1)
        return 0;
    w->copies = eng_calloc(w, n, sizeof *w->copies);
    if (!w->copies)
        return -1;
    w->ncopies = n;
    for (unsigned i = 0; i < n; i++) {
        w->copies[i].offset_ns = (uint64_t)i * SCALE_OFFSET_NS / n;
        if (i == 0) {
            w->copies[0].rd = w->rd;
        } else if (open_one(w, &w->copies[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

int eng_scale_reopen(struct worker *w)
{
    for (unsigned i = 0; i < w->ncopies; i++) {
        struct scale_copy *c = &w->copies[i];
        if (i == 0) {
            c->rd = w->rd; /* reopened by the caller */
            c->have = c->eof = 0;
            continue;
        }
        trace_reader_close(c->rd);
        c->rd = NULL;
        if (open_one(w, c) < 0)
            return -1;
    }
    return 0;
}

void eng_scale_close(struct worker *w)
{
    for (unsigned i = 0; i < w->ncopies; i++) {
        struct scale_copy *c = &w->copies[i];
        if (i)
            trace_reader_close(c->rd);
        free(c->argv);
        free(c->argvlen);
        free(c->kbuf);
        free(c->pos);
    }
    free(w->copies);
    w->copies = NULL;
    w->ncopies = 0;
}

/* the hash tag of a key as the cluster reads it: [*a, *b) inside the braces; @return 1 */
static int hash_tag(const char *k, size_t n, size_t *a, size_t *b)
{
    const char *o = memchr(k, '{', n);
    if (!o)
        return 0;
    size_t s = (size_t)(o - k) + 1;
    const char *c = memchr(k + s, '}', n - s);
    if (!c || (size_t)(c - k) == s)
        return 0; /* no closing brace, or {}: the whole key is hashed */
    *a = s;
    *b = (size_t)(c - k);
    return 1;
}

/* copy `i`'s request: its keys moved to the copy's namespace */
static void rewrite(struct worker *w, struct scale_copy *c, unsigned i, struct trace_request *q)
{
    if (!q->argc || (q->flags & TRACE_REQ_MALFORMED))
        return;
    const struct rt_cmd *cmd = rt_cmd_lookup(q->argc, q->argv, q->argvlen);
    size_t nk = 0;
    if (q->argc > c->cap) {
        size_t cap = q->argc * 2;
        if (eng_grow(w, &c->argv, cap * sizeof *c->argv) < 0 ||
            eng_grow(w, &c->argvlen, cap * sizeof *c->argvlen) < 0 ||
            eng_grow(w, &c->pos, cap * sizeof *c->pos) < 0)
            return; /* (out of memory: the run fails) */
        c->cap = cap;
    }
    if (!cmd || rt_cmd_keys(cmd, q->argc, q->argv, q->argvlen, c->pos, q->argc, &nk) < 0) {
        if ((!cmd || cmd->nkeyspecs) && w->id == 0)
            w->res.scale_unkeyed++; /* (every worker reads every request: counted once) */
        return;
    }
    if (!nk)
        return;
    if (nk > q->argc)
        nk = q->argc;
    char suffix[16];
    size_t sl = (size_t)snprintf(suffix, sizeof suffix, "~%u", i);
    size_t need = 0;
    for (size_t k = 0; k < nk; k++)
        if (c->pos[k] < q->argc)
            need += q->argvlen[c->pos[k]] + sl;
    if (need > c->kcap) {
        if (eng_grow(w, &c->kbuf, need) < 0)
            return;
        c->kcap = need;
    }
    memcpy(c->argv, q->argv, q->argc * sizeof *c->argv);
    memcpy(c->argvlen, q->argvlen, q->argc * sizeof *c->argvlen);
    size_t off = 0;
    for (size_t k = 0; k < nk; k++) {
        uint32_t p = c->pos[k];
        if (p >= q->argc || c->argv[p] != q->argv[p])
            continue; /* out of range, or a key named twice: done already */
        const char *key = q->argv[p];
        size_t kl = q->argvlen[p], ta, tb;
        char *dst = c->kbuf + off;
        if (hash_tag(key, kl, &ta, &tb)) {
            memcpy(dst, key, tb);
            memcpy(dst + tb, suffix, sl);
            memcpy(dst + tb + sl, key + tb, kl - tb);
        } else {
            memcpy(dst, key, kl);
            memcpy(dst + kl, suffix, sl);
        }
        /* every argument naming the same key (MSET k 1 k 2) gets the same rewrite */
        for (size_t m = k; m < nk; m++) {
            uint32_t pm = c->pos[m];
            if (pm < q->argc && q->argvlen[pm] == kl && !memcmp(q->argv[pm], key, kl)) {
                c->argv[pm] = dst;
                c->argvlen[pm] = kl + sl;
            }
        }
        off += kl + sl;
    }
    q->argv = c->argv;
    q->argvlen = c->argvlen;
}

/* copy `i`'s view of its reader's event */
static void transform(struct worker *w, unsigned i, struct trace_event *ev)
{
    unsigned n = w->ncopies;
    ev->ts += w->copies[i].offset_ns;
    ev->conn ^= (uint64_t)i << CONN_COPY_SHIFT;
    if (ev->type == TRACE_EV_REQUEST) {
        ev->u.req.seq = ev->u.req.seq * n + i;
        if (i)
            rewrite(w, &w->copies[i], i, &ev->u.req);
    } else if ((ev->type == TRACE_EV_REPLY || ev->type == TRACE_EV_PUSH) &&
               ev->u.reply.req_seq != TRACE_SEQ_NONE) {
        ev->u.reply.req_seq = ev->u.reply.req_seq * n + i;
    }
}

int eng_scale_next(struct worker *w, struct trace_event *out)
{
    struct scale_copy *best = NULL;
    unsigned bi = 0;
    for (unsigned i = 0; i < w->ncopies; i++) {
        struct scale_copy *c = &w->copies[i];
        if (!c->have && !c->eof) {
            int rc = trace_reader_next(c->rd, &c->ev, &w->err);
            if (rc < 0)
                return -1;
            if (rc == 0)
                c->eof = 1;
            else
                c->have = 1;
        }
        if (c->have && (!best || c->ev.ts + c->offset_ns < best->ev.ts + best->offset_ns)) {
            best = c;
            bi = i;
        }
    }
    if (!best)
        return 0;
    *out = best->ev;
    best->have = 0; /* its buffers stay valid until it is read again: after `out` is used */
    transform(w, bi, out);
    return 1;
}
