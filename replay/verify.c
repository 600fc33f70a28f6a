/* verify.c: --verify-writes: the last write the target acknowledged for each key, and the read
 * back after the replay that finds acknowledged writes lost or reverted.
 *
 * What is known exactly is tracked: a value set by SET (no expiry), SETNX, GETSET, MSET,
 * MSETNX; a counter's value from the reply of INCR, INCRBY, DECR, DECRBY; a key DEL or UNLINK
 * removed. Any other write to a key (or a script, an expiry, a write inside MULTI) makes its
 * state unknown: "untracked" until the next tracked write. A tracked write sent and never
 * answered (its connection died) may or may not have been applied: the key is "uncertain" until
 * the next acknowledged write. */
#include "replay_int.h"

#include <stdlib.h>
#include <string.h>

struct vw_ent {
    char *key;
    uint32_t klen;
    uint8_t kind;      /* VW_* of the last acknowledged write; 0: none yet */
    uint8_t used;
    char *val;
    uint32_t vlen;
    int64_t ival;
    uint64_t ack_ns;   /* when it was acknowledged (monotonic): the newest wins across threads */
    uint64_t lost_ns;  /* the last write never answered; after ack_ns: the key is uncertain */
};

struct vw_table {
    struct vw_ent *e;
    size_t cap, n;
    int oom; /* a key could not be kept (out of memory): the run fails (vw_table_oom) */
};

static uint64_t h64(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: keys are short, the table is not hot */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

struct vw_table *vw_table_new(void)
{
    return calloc(1, sizeof(struct vw_table));
}

int vw_table_oom(const struct vw_table *t)
{
    return t && t->oom;
}

void vw_table_free(struct vw_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].used) {
            free(t->e[i].key);
            free(t->e[i].val);
        }
    free(t->e);
    free(t);
}

static struct vw_ent *find(struct vw_table *t, const char *k, size_t n, int add)
{
    if (add && (t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        struct vw_ent *ne = calloc(ncap, sizeof *ne);
        if (!ne) {
            t->oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < t->cap; i++)
            if (t->e[i].used) {
                size_t j = h64(t->e[i].key, t->e[i].klen) & (ncap - 1);
                while (ne[j].used)
                    j = (j + 1) & (ncap - 1);
                ne[j] = t->e[i];
            }
        free(t->e);
        t->e = ne;
        t->cap = ncap;
    }
    if (!t->cap)
        return NULL;
    size_t j = h64(k, n) & (t->cap - 1);
    while (t->e[j].used) {
        if (t->e[j].klen == n && memcmp(t->e[j].key, k, n) == 0)
            return &t->e[j];
        j = (j + 1) & (t->cap - 1);
    }
    if (!add)
        return NULL;
    struct vw_ent *e = &t->e[j];
    e->key = malloc(n ? n : 1);
    if (!e->key) {
        t->oom = 1;
        return NULL;
    }
    e->used = 1;
    memcpy(e->key, k, n);
    e->klen = (uint32_t)n;
    t->n++;
    return e;
}

void vw_ack(struct vw_table *t, const struct vwrite *w, int64_t ival, uint64_t now)
{
    for (size_t i = 0; i < w->n; i++) {
        const struct vw_key *k = &w->k[i];
        struct vw_ent *e = find(t, k->key, k->klen, 1);
        if (!e)
            return;
        e->kind = k->kind;
        e->ack_ns = now;
        free(e->val);
        e->val = NULL;
        e->vlen = 0;
        if (k->kind == VW_VALUE) {
            e->val = malloc(k->vlen ? k->vlen : 1);
            if (!e->val) {
                t->oom = 1;
                e->kind = VW_UNTRACKED;
                continue;
            }
            memcpy(e->val, k->val, k->vlen);
            e->vlen = k->vlen;
        }
        e->ival = ival;
    }
}

void vw_lost(struct vw_table *t, const struct vwrite *w, uint64_t now)
{
    for (size_t i = 0; i < w->n; i++) {
        struct vw_ent *e = find(t, w->k[i].key, w->k[i].klen, 1);
        if (!e)
            return;
        e->lost_ns = now;
    }
}

void vw_merge(struct vw_table *dst, const struct vw_table *src)
{
    for (size_t i = 0; i < src->cap; i++) {
        const struct vw_ent *s = &src->e[i];
        if (!s->used)
            continue;
        struct vw_ent *d = find(dst, s->key, s->klen, 1);
        if (!d)
            return;
        if (s->ack_ns > d->ack_ns) {
            d->kind = s->kind;
            d->ack_ns = s->ack_ns;
            d->ival = s->ival;
            free(d->val);
            d->val = NULL;
            d->vlen = 0;
            if (s->val) {
                d->val = malloc(s->vlen ? s->vlen : 1);
                if (!d->val) {
                    dst->oom = 1;
                    d->kind = VW_UNTRACKED;
                    continue;
                }
                memcpy(d->val, s->val, s->vlen);
                d->vlen = s->vlen;
            }
        }
        /* a write lost after the newest acknowledgement, on any thread, leaves it uncertain */
        if (s->lost_ns > d->lost_ns)
            d->lost_ns = s->lost_ns;
    }
}

void vw_foreach(const struct vw_table *t, vw_visit_fn fn, void *ctx)
{
    for (size_t i = 0; i < t->cap; i++) {
        const struct vw_ent *e = &t->e[i];
        if (!e->used)
            continue;
        int uncertain = e->lost_ns > e->ack_ns;
        fn(ctx, e->key, e->klen, uncertain ? 0 : e->kind, e->val, e->vlen, e->ival, uncertain);
    }
}

void vwrite_free(struct vwrite *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->k[i].key);
        free(w->k[i].val);
    }
    free(w);
}
