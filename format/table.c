/* table.c: the string and reply tables of chunk encoding 2, kept by the writer and the reader. */
#include "format_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#define XXH_INLINE_ALL /* (as in common.c) */
#include <xxhash.h>

/* Where a table's arrays live: the string bytes, the string ends and the reply descriptors.
 * Grown by realloc, they were copied at every doubling into fresh memory (glibc's realloc can
 * move pages only for the blocks it mapped itself, and these mostly sat in its heap), so a
 * table of megabytes was written twice and faulted in 4 KiB at a time: reading bench_format's
 * 1M-event trace took 3,500 page faults more than its encoding-1 twin, and a fault costs 10-20
 * us on the development machine (a paravirtualized VM): it read at half that twin's speed.
 * Instead each array takes, at its first entry, a reservation of the most the format lets it hold
 * (TRACE_TAB_*: 32 MiB of strings, 4 MiB of ends, 24 MiB of descriptors; address space, not
 * memory: a page comes when it is first written) and never moves. Past its first 2 MiB it
 * asks for transparent huge pages, so a small table costs small pages and a big one a fault
 * per 2 MiB. Where the address space is refused (a `ulimit -v`, strict overcommit), the table
 * is marked `unmapped` and grows by realloc as it did before. */
#define HUGE RT_HUGE_MIN /* a transparent huge page */
#define REGION_SIZE(bytes) (((size_t)(bytes) + HUGE - 1) & ~(size_t)(HUGE - 1))
#define STR_BYTES_REGION REGION_SIZE(TRACE_TAB_MAX_BYTES)
#define STR_END_REGION REGION_SIZE((size_t)TRACE_TAB_MAX_ENTRIES * sizeof(uint32_t))
#define DESC_REGION REGION_SIZE((size_t)TRACE_TAB_MAX_REPLIES * sizeof(struct reply_desc))

/* `size` bytes (a multiple of 2 MiB) of zeroed memory at a 2 MiB boundary, or NULL */
static void *region_new(size_t size)
{
    size_t span = size + HUGE;
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    uint8_t *m = mmap(NULL, span, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)m + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
    if (p > m)
        munmap(m, (size_t)(p - m));
    if (m + span > p + size)
        munmap(p + size, (size_t)(m + span - (p + size)));
#ifdef MADV_HUGEPAGE
    (void)madvise(p + HUGE, size - HUGE, MADV_HUGEPAGE); /* a hint: failure is harmless */
#endif
    return p;
}

static void region_free(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

/* The writer finds entries through an open-addressing index of (hash << 32 | entry + 1)
 * values, at most half full; the reader only appends and indexes by number, so it has none. */

static int index_grow(uint64_t **slot, uint32_t *nslot)
{
    uint32_t n = *nslot ? *nslot * 2 : 1024;
    uint64_t *s = calloc(n, sizeof *s);
    if (!s)
        return -1;
    rt_mem_huge(s, (size_t)n * sizeof *s); /* before the rehash first writes its pages */
    for (uint32_t i = 0; i < *nslot; i++) {
        uint64_t v = (*slot)[i];
        if (!v)
            continue;
        uint32_t j = (uint32_t)(v >> 32) & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = v;
    }
    free(*slot);
    *slot = s;
    *nslot = n;
    return 0;
}

static void index_put(uint64_t *slot, uint32_t nslot, uint32_t hash, uint32_t entry)
{
    uint32_t j = hash & (nslot - 1);
    while (slot[j])
        j = (j + 1) & (nslot - 1);
    slot[j] = ((uint64_t)hash << 32) | (entry + 1);
}

/* ---- strings ---- */

uint32_t str_tab_hash(const void *p, size_t len)
{
    return (uint32_t)XXH3_64bits(p, len);
}

int str_tab_find(const struct str_tab *t, const void *p, size_t len, uint32_t hash)
{
    if (!t->nslot)
        return -1;
    for (uint32_t j = hash & (t->nslot - 1);; j = (j + 1) & (t->nslot - 1)) {
        uint64_t v = t->slot[j];
        if (!v)
            return -1;
        if ((uint32_t)(v >> 32) != hash)
            continue;
        uint32_t e = (uint32_t)v - 1;
        size_t elen;
        const uint8_t *ep = str_tab_get(t, e, &elen);
        if (elen == len && memcmp(ep, p, len) == 0)
            return (int)e;
    }
}

int str_tab_add(struct str_tab *t, const void *p, size_t len, int indexed, uint32_t hash)
{
    if (len > TRACE_TAB_MAX_STR || t->n >= TRACE_TAB_MAX_ENTRIES ||
        t->bytes.len + len > TRACE_TAB_MAX_BYTES)
        return -2;
    if (!t->end && !t->unmapped) {
        uint8_t *b = region_new(STR_BYTES_REGION);
        uint32_t *e = b ? region_new(STR_END_REGION) : NULL;
        if (e) {
            t->bytes = (struct rt_buf){.p = b, .len = 0, .cap = TRACE_TAB_MAX_BYTES};
            t->end = e;
            t->cap = TRACE_TAB_MAX_ENTRIES;
        } else {
            region_free(b, STR_BYTES_REGION);
            t->unmapped = 1; /* no room for them (ulimit -v, strict overcommit): as before */
        }
    }
    if (t->n == t->cap) { /* only without the reservations */
        uint32_t cap = t->cap ? t->cap * 2 : 1024;
        uint32_t *e = realloc(t->end, cap * sizeof *e);
        if (!e)
            return -1;
        t->end = e;
        t->cap = cap;
    }
    if (indexed && 2 * (t->n + 1) > t->nslot && index_grow(&t->slot, &t->nslot))
        return -1;
    if (rt_put_bytes(&t->bytes, p, len)) /* in a reservation, never grows (limit checked) */
        return -1;
    t->end[t->n] = (uint32_t)t->bytes.len;
    if (indexed)
        index_put(t->slot, t->nslot, hash, t->n);
    t->n++;
    return 0;
}

void str_tab_reset(struct str_tab *t)
{
    if (t->nslot && t->n)
        memset(t->slot, 0, t->nslot * sizeof *t->slot);
    t->n = 0;
    t->bytes.len = 0;
}

void str_tab_free(struct str_tab *t)
{
    if (t->unmapped) {
        rt_buf_free(&t->bytes);
        free(t->end);
    } else {
        region_free(t->bytes.p, STR_BYTES_REGION);
        region_free(t->end, STR_END_REGION);
    }
    free(t->slot);
    memset(t, 0, sizeof *t);
}

/* ---- reply descriptors ---- */

static int desc_eq(const struct reply_desc *a, const struct reply_desc *b)
{
    return a->len == b->len && a->size == b->size && a->hash == b->hash &&
           a->count == b->count && a->ival == b->ival && a->flags == b->flags &&
           a->rtype == b->rtype;
}

uint32_t desc_tab_hash(const struct reply_desc *d)
{
    uint64_t h = d->hash ^ (d->len * 0x9e3779b97f4a7c15ull) ^ (d->size * 0xc2b2ae3d27d4eb4full) ^
                 (d->count * 0x165667b19e3779f9ull) ^ ((uint64_t)d->ival * 0x27d4eb2f165667c5ull) ^
                 ((uint64_t)d->flags << 8) ^ d->rtype;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    return (uint32_t)(h ^ (h >> 29));
}

int desc_tab_find(const struct desc_tab *t, const struct reply_desc *d, uint32_t hash)
{
    if (!t->nslot)
        return -1;
    for (uint32_t j = hash & (t->nslot - 1);; j = (j + 1) & (t->nslot - 1)) {
        uint64_t v = t->slot[j];
        if (!v)
            return -1;
        if ((uint32_t)(v >> 32) == hash && desc_eq(&t->d[(uint32_t)v - 1], d))
            return (int)((uint32_t)v - 1);
    }
}

int desc_tab_add(struct desc_tab *t, const struct reply_desc *d, int indexed, uint32_t hash)
{
    if (t->n >= TRACE_TAB_MAX_REPLIES)
        return -2;
    if (!t->d && !t->unmapped) {
        if ((t->d = region_new(DESC_REGION)) != NULL)
            t->cap = TRACE_TAB_MAX_REPLIES;
        else
            t->unmapped = 1;
    }
    if (t->n == t->cap) { /* only without the reservation */
        uint32_t cap = t->cap ? t->cap * 2 : 1024;
        struct reply_desc *p = realloc(t->d, cap * sizeof *p);
        if (!p)
            return -1;
        t->d = p;
        t->cap = cap;
    }
    if (indexed && 2 * (t->n + 1) > t->nslot && index_grow(&t->slot, &t->nslot))
        return -1;
    t->d[t->n] = *d;
    if (indexed)
        index_put(t->slot, t->nslot, hash, t->n);
    t->n++;
    return 0;
}

void desc_tab_reset(struct desc_tab *t)
{
    if (t->nslot && t->n)
        memset(t->slot, 0, t->nslot * sizeof *t->slot);
    t->n = 0;
}

void desc_tab_free(struct desc_tab *t)
{
    if (t->unmapped)
        free(t->d);
    else
        region_free(t->d, DESC_REGION);
    free(t->slot);
    memset(t, 0, sizeof *t);
}
