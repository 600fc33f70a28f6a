/* trace_edit.c: the request renumbering map, a set of connection ids, and small helpers of
 * the commands that write new traces from old ones. */
#include "trace_edit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- seqmap: open addressing, two generations --------------------------------------- */

#define SM_EMPTY 0
#define SM_TOMB UINT64_MAX /* a taken entry: keeps probe runs intact until its generation goes */

struct sm_gen {
    uint64_t *k; /* key + 1; SM_EMPTY or SM_TOMB */
    uint64_t *v;
    size_t mask, n;
};

struct seqmap {
    struct sm_gen g[2]; /* g[0] takes the inserts; g[1] is the previous generation */
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static int gen_init(struct sm_gen *g)
{
    size_t slots = (size_t)SEQMAP_GEN * 2;
    g->k = calloc(slots, sizeof *g->k);
    g->v = malloc(slots * sizeof *g->v);
    if (!g->k || !g->v) {
        free(g->k);
        free(g->v);
        g->k = g->v = NULL;
        return -1;
    }
    g->mask = slots - 1;
    g->n = 0;
    return 0;
}

struct seqmap *seqmap_new(void)
{
    struct seqmap *m = calloc(1, sizeof *m);
    if (!m || gen_init(&m->g[0]) < 0) {
        free(m);
        return NULL;
    }
    return m; /* g[1] is allocated at the first rollover */
}

void seqmap_free(struct seqmap *m)
{
    if (!m)
        return;
    for (int i = 0; i < 2; i++) {
        free(m->g[i].k);
        free(m->g[i].v);
    }
    free(m);
}

static size_t gen_find(const struct sm_gen *g, uint64_t k1)
{
    if (!g->k)
        return SIZE_MAX;
    for (size_t p = mix64(k1) & g->mask;; p = (p + 1) & g->mask) {
        if (g->k[p] == SM_EMPTY)
            return SIZE_MAX;
        if (g->k[p] == k1)
            return p;
    }
}

int seqmap_put(struct seqmap *m, uint64_t key, uint64_t val)
{
    struct sm_gen *g = &m->g[0];
    if (g->n >= SEQMAP_GEN) {
        /* rollover: the previous generation is forgotten, the current one becomes it */
        struct sm_gen old = m->g[1];
        m->g[1] = m->g[0];
        if (old.k) {
            memset(old.k, 0, (old.mask + 1) * sizeof *old.k);
            old.n = 0;
            m->g[0] = old;
        } else if (gen_init(&m->g[0]) < 0) {
            m->g[0] = m->g[1];
            m->g[1] = old;
            return -1;
        }
        g = &m->g[0];
    }
    uint64_t k1 = key + 1;
    size_t p = mix64(k1) & g->mask;
    while (g->k[p] != SM_EMPTY && g->k[p] != k1)
        p = (p + 1) & g->mask;
    if (g->k[p] == SM_EMPTY)
        g->n++;
    g->k[p] = k1;
    g->v[p] = val;
    return 0;
}

int seqmap_take(struct seqmap *m, uint64_t key, uint64_t *val)
{
    for (int i = 0; i < 2; i++) {
        size_t p = gen_find(&m->g[i], key + 1);
        if (p != SIZE_MAX) {
            *val = m->g[i].v[p];
            m->g[i].k[p] = SM_TOMB;
            return 1;
        }
    }
    return 0;
}

int seqmap_has(const struct seqmap *m, uint64_t key)
{
    return gen_find(&m->g[0], key + 1) != SIZE_MAX || gen_find(&m->g[1], key + 1) != SIZE_MAX;
}

/* ---- u64set ----------------------------------------------------------------------------- */

struct u64set {
    uint64_t *k; /* value + 1, 0 empty (UINT64_MAX cannot be stored: not a connection id) */
    size_t mask, n;
};

struct u64set *u64set_new(void)
{
    struct u64set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->k = calloc(1024, sizeof *s->k);
    if (!s->k) {
        free(s);
        return NULL;
    }
    s->mask = 1023;
    return s;
}

void u64set_free(struct u64set *s)
{
    if (s) {
        free(s->k);
        free(s);
    }
}

int u64set_has(const struct u64set *s, uint64_t v)
{
    uint64_t k1 = v + 1;
    for (size_t p = mix64(k1) & s->mask; s->k[p]; p = (p + 1) & s->mask)
        if (s->k[p] == k1)
            return 1;
    return 0;
}

int u64set_add(struct u64set *s, uint64_t v)
{
    if (u64set_has(s, v))
        return 0;
    if ((s->n + 1) * 2 > s->mask + 1) {
        size_t slots = (s->mask + 1) * 2;
        uint64_t *k = calloc(slots, sizeof *k);
        if (!k)
            return -1;
        for (size_t i = 0; i <= s->mask; i++) {
            if (!s->k[i])
                continue;
            size_t p = mix64(s->k[i]) & (slots - 1);
            while (k[p])
                p = (p + 1) & (slots - 1);
            k[p] = s->k[i];
        }
        free(s->k);
        s->k = k;
        s->mask = slots - 1;
    }
    uint64_t k1 = v + 1;
    size_t p = mix64(k1) & s->mask;
    while (s->k[p])
        p = (p + 1) & s->mask;
    s->k[p] = k1;
    s->n++;
    return 0;
}

size_t u64set_count(const struct u64set *s)
{
    return s->n;
}

/* ---- misc --------------------------------------------------------------------------------- */

int rt_file_is_json(const char *path)
{
    if (!strcmp(path, "-"))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int c;
    while ((c = fgetc(f)) != EOF && isspace(c))
        ;
    fclose(f);
    return c == '{' || c == '[';
}

uint64_t rt_hash_seeded(uint64_t seed, const void *p, size_t n)
{
    return mix64(trace_hash(p, n) ^ mix64(seed + 0x9e3779b97f4a7c15ull));
}
