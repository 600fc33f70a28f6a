/* cmd_hotkeys.c: `resptrace hotkeys`: the hottest keys, key prefixes and cluster slots of a
 * trace, by operations or by bytes moved. */
#define _GNU_SOURCE /* open_memstream */
#include "analysis_int.h"
#include "walk.h"
#include "tools.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* out of memory: "resptrace hotkeys: out of memory", exit 1 (tools.h) */
#define oom() rt_oom("hotkeys")
#define xrealloc(p, n) rt_xrealloc("hotkeys", (p), (n))

void usage_hotkeys(FILE *out)
{
    fprintf(out,
            "usage: resptrace hotkeys TRACE [--top K] [--by ops|bytes] [--prefix-depth N]\n"
            "                 [--approx [--capacity M]] [--json[=FILE]] [--salvage] [-q]\n\n"
            "Reads the trace once and ranks its keys, key prefixes and Redis Cluster hash\n"
            "slots by operations or by bytes moved.\n\n"
            "  --top K           how many keys, prefixes and slots to print (default 20)\n"
            "  --by ops|bytes    the ranking (default ops)\n"
            "  --prefix-depth N  prefixes of up to N ':'-separated levels (default 1;\n"
            "                    0: none)\n"
            "  --approx          bounded memory: Space-Saving with M counters (keys, and\n"
            "                    prefixes)\n"
            "  --capacity M      counters of --approx (default 10000)\n"
            "  --json[=FILE]     one JSON document on stdout instead of the tables, or into\n"
            "                    FILE (the tables then still go to stdout)\n"
            "  --salvage         skip damaged chunks instead of stopping at the first\n"
            "  -q, --quiet       no status line (shown on a terminal while reading)\n\n"
            "Keys come from the command table's key specifications; requests of commands\n"
            "it does not know or whose keys it cannot resolve are skipped and counted, as\n"
            "are requests the server could not parse (malformed). Each key position of a\n"
            "request is one operation on that key (a read when the command is read-only,\n"
            "a write when it writes) and on its slot. Bytes moved are the request's size\n"
            "encoded as a RESP array plus the reply's wire length; a request with several\n"
            "keys splits both evenly among its keys (remainder bytes to the first ones),\n"
            "so the bytes of all keys add up to the bytes of all keyed requests and their\n"
            "replies. The prefix of a key is its text up to and including its N-th ':'\n"
            "(or its last ':' when it has fewer; \"\" for keys without ':').\n\n"
            "With --approx each key's ops overestimate the true count by at most its\n"
            "\"error\", itself at most the smallest counter (\"error_bound\"), and any key\n"
            "with more true ops than error_bound is listed; bytes, reads and writes\n"
            "count only while the key holds a counter (lower bounds).\n\n"
            "Exit status: 0, 1 when the trace cannot be read or is damaged (what was read\n"
            "is still reported), 2 for a bad command line, 130 when interrupted (Ctrl-C:\n"
            "what was read is reported).\n");
}

/* ---- counter tables: exact (hash table + key arena) or Space-Saving ------------------- */

/* Speed: a table of 100k keys or more does not fit in the core's caches, so counting is bound
 * by memory latency, not by instructions. A key operation touches one index slot and one entry
 * (two adjacent cache lines that also hold keys of up to KEY_INLINE bytes), and the pass
 * (hk_run_batch) prefetches both for the operations a few places ahead of the one it counts. */

#define NONE32 UINT32_MAX
/* An index slot: the entry index + 1 in the low half, the high half of the key's hash in the
 * high half. A key's home slot is taken from that high half too, so probes compare and
 * deletions move slots without touching the entries. */
#define SLOTV(ei, h) ((uint64_t)((ei) + 1) | ((h)&0xffffffff00000000ull))
#define SLOT_EI(v) ((uint32_t)(v)-1)
#define HOME(h, mask) ((size_t)((h) >> 32) & (mask))

#define KEY_INLINE 46 /* keys up to this long are stored in their entry */

struct ent {
    /* the first cache line: what finding a key and counting an operation on it touch */
    uint64_t h; /* hash of the key */
    uint64_t ops, reads, writes, bytes;
    uint32_t klen;
    uint32_t epoch;     /* approx: bumped whenever the counter goes to another key */
    uint32_t pidx, pep; /* keys: the prefix entry and its epoch (a cache), NONE32 unknown */
    uint16_t slot;      /* keys: the cluster slot */
    /* the key (across the line boundary), then what only adding or taking over touches */
    char ikey[KEY_INLINE];
    uint32_t kcap; /* approx: capacity of kbuf */
    uint64_t err;  /* approx: the counter the entry took over (how much ops may overestimate) */
    union {
        size_t koff; /* exact: offset of a long key in the arena */
        char *kbuf;  /* approx: the entry's own buffer for long keys (kept across takeovers) */
    } u;
};
_Static_assert(sizeof(struct ent) == 128, "an entry is two cache lines");

/* approx: what taking an entry's counter over needs without reading the entry itself (an
 * array small enough to stay in the cache, indexed like the entries) */
struct evict {
    uint32_t hhi;  /* the high half of the entry's hash: its index slot */
    uint16_t slot; /* keys: its cluster slot (its slot counter) */
};

struct slotc {
    uint64_t ops, bytes;
};

struct ctab {
    int approx;
    /* keys: the slot counters. A key's operations and bytes go to its slot when its entry is
     * taken over (Space-Saving) or at the end (slot_flush), not one by one: the entry counts
     * them anyway, and the slot counters would be one more cache miss per operation. */
    struct slotc *slots;
    size_t cap; /* approx: the number of counters */
    struct ent *e; /* 64-byte aligned */
    size_t n, ecap;
    uint64_t *idx; /* open addressing, linear probing: 0 when empty, else SLOTV(entry, h) */
    size_t mask;
    char *arena; /* exact: the keys longer than KEY_INLINE, each copied once */
    size_t alen, acap;
    /* approx: a min-heap on the counts (which mirror the entries': the heap stays compact),
     * as two arrays: the counts the sift-down compares, node 1 at a cache line's start so
     * that siblings share a line, and the entries they belong to */
    uint64_t *hops;
    uint32_t *hei;
    void *hops_mem;  /* the allocation of hops */
    uint32_t *hpos;  /* approx: each entry's position in the heap */
    uint32_t *hend;  /* approx, once full: where a sift-down from each node ends (heap_inc) */
    struct evict *ev; /* approx: per entry */
};

/* `bytes` of table memory, cache-line aligned. A big table goes on transparent huge pages
 * when the system allows them on request: its accesses are random, and with 4 KiB pages
 * nearly every one would also miss the TLB. */
static void *table_alloc(size_t bytes)
{
    const size_t huge = 2u << 20;
    void *p;
    if (bytes >= huge) {
        bytes = (bytes + huge - 1) & ~(huge - 1);
        p = aligned_alloc(huge, bytes);
        if (p)
            madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure is harmless */
    } else {
        p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    }
    if (!p)
        oom();
    return p;
}

/* `n` entries, cache-line aligned (an entry is two whole lines). */
static struct ent *ent_alloc(size_t n)
{
    return table_alloc(n * sizeof(struct ent));
}

static void ctab_init(struct ctab *t, int approx, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->approx = approx;
    t->cap = cap;
    size_t slots = 1024;
    if (approx) {
        /* an index of 8 slots per counter or more (a load of 1/16 to 1/8): nearly every
         * operation of --approx on a trace of many more keys than counters is a probe that
         * misses and a takeover that deletes a key from the index, and both end at the first
         * empty slot; at loads of 1/4 to 1/2 their loops ran a slot or two more, a branch the
         * predictor missed each time (on the analysis benchmark: 2 slots per counter took 8%
         * more time than 8, 4 took 5% more). The index costs 64 to 128 bytes per counter (16
         * to 32 before), the entry 128. */
        while (slots < cap * 8)
            slots *= 2;
        t->ecap = cap;
        t->hops_mem = table_alloc((cap + 8) * sizeof *t->hops);
        t->hops = (uint64_t *)((char *)t->hops_mem + 64 - sizeof *t->hops);
        for (size_t i = 0; i <= cap; i++) /* the sentinel after the heap, wherever it ends */
            t->hops[i] = UINT64_MAX;
        t->hei = xrealloc(NULL, cap * sizeof *t->hei);
        t->hpos = xrealloc(NULL, cap * sizeof *t->hpos);
        t->hend = xrealloc(NULL, cap * sizeof *t->hend);
        t->ev = xrealloc(NULL, cap * sizeof *t->ev);
    } else {
        t->ecap = 512;
    }
    t->e = ent_alloc(t->ecap);
    t->idx = table_alloc(slots * sizeof *t->idx);
    memset(t->idx, 0, slots * sizeof *t->idx);
    t->mask = slots - 1;
}

static void ctab_free(struct ctab *t)
{
    if (t->approx)
        for (size_t i = 0; i < t->n; i++)
            free(t->e[i].u.kbuf);
    free(t->e);
    free(t->idx);
    free(t->arena);
    free(t->hops_mem);
    free(t->hei);
    free(t->hpos);
    free(t->hend);
    free(t->ev);
}

/* Copies and comparisons of keys. Most keys are 8 to 16 bytes ("user:1234",
 * "key:000000012345"), which two overlapping 8-byte moves cover without a call into the C
 * library (a call and its dispatch on the length cost more than the move itself). */

/* k's first and last w bytes (w = 4 or 8, w <= n <= 2w: together they cover k) */
static inline void key_ends(const char *k, size_t n, size_t w, uint64_t *first, uint64_t *last)
{
    if (w < 8)
        *first = *last = 0;
    memcpy(first, k, w);
    memcpy(last, k + n - w, w);
}

static inline void key_copy(char *d, const char *k, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        key_ends(k, n, 8, &a, &b);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n) {
        memcpy(d, k, n);
    }
}

static inline int key_eq(const char *a, const char *b, size_t n)
{
    uint64_t a0, a1, b0, b1;
    if (n >= 8 && n <= 16) {
        key_ends(a, n, 8, &a0, &a1);
        key_ends(b, n, 8, &b0, &b1);
    } else if (n >= 4 && n < 8) { /* prefixes ("user:") */
        key_ends(a, n, 4, &a0, &a1);
        key_ends(b, n, 4, &b0, &b1);
    } else {
        return memcmp(a, b, n) == 0;
    }
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

static const char *ent_key(const struct ctab *t, const struct ent *e)
{
    if (e->klen <= KEY_INLINE)
        return e->ikey;
    return t->approx ? e->u.kbuf : t->arena + e->u.koff;
}

static void idx_grow(struct ctab *t)
{
    size_t slots = (t->mask + 1) * 2;
    uint64_t *idx = table_alloc(slots * sizeof *idx);
    memset(idx, 0, slots * sizeof *idx);
    for (size_t i = 0; i < t->n; i++) {
        size_t p = HOME(t->e[i].h, slots - 1);
        while (idx[p])
            p = (p + 1) & (slots - 1);
        idx[p] = SLOTV((uint32_t)i, t->e[i].h);
    }
    free(t->idx);
    t->idx = idx;
    t->mask = slots - 1;
}

/* Removes entry `ei`, whose hash has `hhi` as its high half, from the index (backward-shift
 * deletion keeps probe runs intact). */
static void idx_delete(struct ctab *t, uint32_t ei, uint32_t hhi)
{
    size_t i = HOME((uint64_t)hhi << 32, t->mask);
    while (t->idx[i] == 0 || SLOT_EI(t->idx[i]) != ei)
        i = (i + 1) & t->mask;
    for (;;) {
        t->idx[i] = 0;
        size_t j = i;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->idx[j])
                return;
            size_t home = HOME(t->idx[j], t->mask);
            /* the entry at j may move back to i when i is not before its home */
            if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
                t->idx[i] = t->idx[j];
                i = j;
                break;
            }
        }
    }
}

/* The heap moves a hole instead of swapping nodes, and picks the smaller child without a
 * branch (which way the hole goes is a coin toss for the branch predictor); it makes the same
 * moves as the textbook sift-down: to the smaller child, the left one on a tie, while that
 * child is smaller than the node. The count after the last node, ops[n], is always
 * UINT64_MAX (a sentinel: the array has room for it, and nothing writes past the heap): a
 * lone left child is then compared with it instead of testing for a right one. It serves
 * while the table fills; a full table's sift-downs go through heap_inc(), which finds the same
 * path without walking it. */
static void heap_down(struct ctab *t, size_t i)
{
    uint64_t *ops = t->hops;
    uint32_t *hei = t->hei, *hpos = t->hpos;
    const size_t n = t->n;
    uint64_t xo = ops[i];
    uint32_t xe = hei[i];
    for (size_t l; (l = 2 * i + 1) < n;) {
        /* the counts two levels down (one level is too short a time for a line to come from
         * the L2 cache): the 8 from 8i + 7 span two lines */
        __builtin_prefetch(&ops[8 * i + 7]);
        __builtin_prefetch(&ops[8 * i + 9]);
        /* the smaller child's count from the two loaded, not loaded again at its index: a
         * step waits for one load, not two in a row */
        uint64_t a = ops[l], b = ops[l + 1];
        int right = b < a;
        size_t c = l + (size_t)right;
        uint64_t co = right ? b : a;
        if (co >= xo)
            break;
        uint32_t ce = hei[c];
        ops[i] = co;
        hei[i] = ce;
        hpos[ce] = (uint32_t)i;
        i = c;
    }
    ops[i] = xo;
    hei[i] = xe;
    hpos[xe] = (uint32_t)i;
}

static void heap_up(struct ctab *t, size_t i)
{
    uint64_t xo = t->hops[i];
    uint32_t xe = t->hei[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (t->hops[p] <= xo)
            break;
        t->hops[i] = t->hops[p];
        t->hei[i] = t->hei[p];
        t->hpos[t->hei[i]] = (uint32_t)i;
        i = p;
    }
    t->hops[i] = xo;
    t->hei[i] = xe;
    t->hpos[xe] = (uint32_t)i;
}

/* Once the table is full, the heap only ever has a count go up by one, at the root (a
 * takeover) or anywhere (an operation on a key it holds), and heap_down() then moves that
 * node down a path: from a node of count c, to its left child when that child's count is c
 * too, else to its right child when that one's is, and stops at a node with neither (the
 * children of a node of count c count at least c, and a tie goes left). That path depends on
 * the counts alone, so its end can be kept for every node: hend[i] is i when neither child
 * counts what i counts, else the end of the child the path takes. heap_inc() then finds the
 * end in one load and moves the entries along the path by arithmetic on indices (a parent is
 * (i - 1) / 2): no chain of comparisons, each waiting for the load before it, down about ten
 * of the heap's levels, which on the uniform benchmark trace were the most repeated loop of
 * --approx. The result is heap_down()'s, node for node (the same entries in the same places),
 * so the counters taken over, and the output, are the same.
 *
 * Only one count changes (the path's end: c to c + 1), so only the ends that were that node
 * change: the node's own (now following children of count c + 1), and those of the ancestors
 * whose path led to it, which are consecutive up from it (each one's path goes through the
 * next): its parent's is taken again from its children, and the ones above take the parent's. */
static uint32_t hend_of(const struct ctab *t, size_t i)
{
    const uint64_t *ops = t->hops;
    size_t l = 2 * i + 1;
    if (l < t->n) { /* ops[l + 1] is at most ops[n]: the sentinel, which no count equals */
        if (ops[l] == ops[i])
            return t->hend[l];
        if (ops[l + 1] == ops[i])
            return t->hend[l + 1];
    }
    return (uint32_t)i;
}

/* The ends of all nodes, bottom up (when the table has just filled). */
static void hend_build(struct ctab *t)
{
    for (size_t i = t->n; i-- > 0;)
        t->hend[i] = hend_of(t, i);
}

/* Node p's count goes up by one, and the heap is a heap again: as `hops[p]++; heap_down(t, p)`
 * (which it is until the table is full). */
static void heap_inc(struct ctab *t, size_t p)
{
    if (t->n < t->cap) {
        t->hops[p]++;
        heap_down(t, p);
        return;
    }
    uint64_t *ops = t->hops;
    uint32_t *hei = t->hei, *hpos = t->hpos, *hend = t->hend;
    const uint32_t k = hend[p];
    ops[k]++;
    hend[k] = hend_of(t, k);
    /* the new end of the ancestors whose path led to k: its parent's, from its children */
    uint32_t v = 0;
    if (k > 0 && hend[(k - 1) / 2] == k)
        v = hend_of(t, (k - 1) / 2);
    /* the entries on the path from p to k move up a node, p's to k, from the bottom; the
     * path's nodes above k take the new end */
    uint32_t carry = hei[p];
    size_t x = k;
    for (;;) {
        uint32_t up = hei[x];
        hei[x] = carry;
        hpos[carry] = (uint32_t)x;
        carry = up;
        if (x == p)
            break;
        x = (x - 1) / 2;
        hend[x] = v;
    }
    /* above p, the ancestors of count c whose path went through p (none above the root) */
    while (x > 0 && hend[(x - 1) / 2] == k) {
        x = (x - 1) / 2;
        hend[x] = v;
    }
}

/* One more operation on entry `ei`. */
static inline void ctab_bump(struct ctab *t, uint32_t ei)
{
    t->e[ei].ops++;
    if (t->approx) {
        uint32_t hp = t->hpos[ei];
        heap_inc(t, hp);
    }
}

static void ent_setkey(struct ctab *t, struct ent *e, const char *k, size_t len)
{
    e->klen = (uint32_t)len;
    if (len <= KEY_INLINE) {
        key_copy(e->ikey, k, len); /* (nothing for the empty prefix) */
    } else if (t->approx) {
        if (len > e->kcap || !e->u.kbuf) {
            size_t c = e->kcap * 2 > len ? e->kcap * 2 : len;
            e->u.kbuf = xrealloc(e->u.kbuf, c);
            e->kcap = (uint32_t)c;
        }
        memcpy(e->u.kbuf, k, len);
    } else {
        if (t->alen + len > t->acap) {
            size_t c = t->acap ? t->acap * 2 : 1 << 16;
            while (c < t->alen + len)
                c *= 2;
            t->arena = xrealloc(t->arena, c);
            t->acap = c;
        }
        memcpy(t->arena + t->alen, k, len);
        e->u.koff = t->alen;
        t->alen += len;
    }
}

/* Prefetches what taking over the counter of entry `ei` touches: the entry, its index slot and
 * its slot counter. */
static inline __attribute__((always_inline)) void prefetch_victim(const struct ctab *t,
                                                                  uint32_t ei)
{
    const char *e = (const char *)&t->e[ei];
    __builtin_prefetch(e);
    __builtin_prefetch(e + 64);
    __builtin_prefetch(&t->idx[HOME((uint64_t)t->ev[ei].hhi << 32, t->mask)]);
    if (t->slots)
        __builtin_prefetch(&t->slots[t->ev[ei].slot]);
}

/* One more operation on key `k` whose trace_hash() is `h`: finds or adds its entry (with
 * --approx, takes over the smallest counter when all are in use). @return the entry index;
 * *fresh is 1 when the entry was (re)assigned to this key. */
static uint32_t ctab_touch(struct ctab *t, uint64_t h, const char *k, size_t len, int *fresh)
{
    size_t p = HOME(h, t->mask);
    for (uint64_t v; (v = t->idx[p]) != 0; p = (p + 1) & t->mask) {
        if ((v ^ h) >> 32)
            continue;
        struct ent *e = &t->e[SLOT_EI(v)];
        if (e->h == h && e->klen == len && key_eq(ent_key(t, e), k, len)) {
            *fresh = 0;
            ctab_bump(t, SLOT_EI(v));
            return SLOT_EI(v);
        }
    }
    *fresh = 1;
    uint32_t ei;
    if (!t->approx || t->n < t->cap) {
        if (t->n == t->ecap) {
            /* realloc moves a big array by remapping its pages, without copying or faulting
             * them in again (it keeps the mapping's alignment in practice; entries need no
             * alignment to be correct) */
            t->ecap *= 2;
            t->e = xrealloc(t->e, t->ecap * sizeof *t->e);
        }
        ei = (uint32_t)t->n++;
        struct ent *e = &t->e[ei];
        memset(e, 0, sizeof *e);
        e->h = h;
        e->ops = 1;
        ent_setkey(t, e, k, len);
        if (t->approx) {
            t->hops[t->n - 1] = 1;
            t->hei[t->n - 1] = ei;
            t->ev[ei].hhi = (uint32_t)(h >> 32);
            heap_up(t, t->n - 1);
            if (t->n == t->cap) /* full: from now on counts only go up (heap_inc) */
                hend_build(t);
        }
        t->idx[p] = SLOTV(ei, h); /* p is the empty slot the probe ended on */
        if (!t->approx && t->n * 2 > t->mask + 1)
            idx_grow(t);
        return ei;
    }
    /* Space-Saving: the key takes over the smallest counter, which becomes min + 1. The key
     * goes into the slot where its probe ended before the old one leaves the index: the
     * deletion finds the old key's slot first (no empty slot lies between a key's home and
     * its slot, and p was empty), and moves the new one back like any other. */
    ei = t->hei[0];
    t->idx[p] = SLOTV(ei, h);
    idx_delete(t, ei, t->ev[ei].hhi);
    struct ent *e = &t->e[ei];
    if (t->slots) { /* what the key it held counted while it held the counter */
        struct slotc *sc = &t->slots[t->ev[ei].slot];
        sc->ops += t->hops[0] - e->err;
        sc->bytes += e->bytes;
    }
    e->h = h;
    e->err = t->hops[0];
    e->ops = t->hops[0] + 1;
    t->ev[ei].hhi = (uint32_t)(h >> 32);
    e->reads = e->writes = e->bytes = 0;
    e->epoch++;
    ent_setkey(t, e, k, len);
    heap_inc(t, 0);
    /* The counter the new key after the next will take over, whose entry and index slot are
     * not otherwise prefetched: (the root's count being the smallest + 1 by then) the smaller
     * of the root's children. One takeover ahead is not enough time for a random entry of a
     * table larger than the cache to arrive. The root itself, the next one's, was that child
     * at the takeover before, and prefetched then: prefetching it again here cost --approx
     * 2-4% on the analysis benchmark. */
    if (t->n > 1)
        prefetch_victim(t, t->hei[1 + (t->n > 2 && t->hops[2] < t->hops[1])]);
    return ei;
}

/* The prefetch helpers are always inlined: a function made of prefetches alone has no effect
 * that GCC sees, so it deduces it is pure and drops the calls. */
#define PREFETCH_FN static inline __attribute__((always_inline)) void

/* Prefetches the index slot where the search for hash `h` starts. */
PREFETCH_FN ctab_prefetch_slot(const struct ctab *t, uint64_t h)
{
    __builtin_prefetch(&t->idx[HOME(h, t->mask)], 0);
}

/* Prefetches the entry of hash `h` when its home slot or the slot after it names the hash's
 * high half (the home slot was prefetched). Keys pushed past their home by a collision are a
 * fifth to a quarter of them in these tables (linear probing at the loads of 0.25 to 0.5
 * they keep), and 89-95% of all keys sit at home or one slot after it; prefetching only for
 * keys at home left the others to a full miss in ctab_touch(). Two slots, without a loop:
 * a longer scan cost --approx more in branches than it saved (its operations are mostly
 * misses, on the uniform benchmark trace). */
PREFETCH_FN ctab_prefetch_ent(const struct ctab *t, uint64_t h)
{
    size_t p = HOME(h, t->mask);
    uint64_t v0 = t->idx[p], v1 = t->idx[(p + 1) & t->mask];
    uint64_t v = ((v0 ^ h) >> 32) ? v1 : v0;
    if (v && !((v ^ h) >> 32)) {
        const char *e = (const char *)&t->e[SLOT_EI(v)];
        __builtin_prefetch(e);
        __builtin_prefetch(e + 64);
    }
}

/* The smallest counter of a full Space-Saving table (0 while it is not full: exact). */
static uint64_t ctab_bound(const struct ctab *t)
{
    return t->approx && t->n == t->cap && t->n ? t->hops[0] : 0;
}

/* ---- the callbacks on the walk ------------------------------------------------------------ */

/* What a keyed request waiting for its reply keeps: where its key references are in the
 * walk's ring (one struct kref per key position, written when its key operation runs). */
struct hk_tag {
    uint64_t ref;
    uint32_t nref; /* 0: no references (keyless, skipped, or too many keys to keep) */
};

struct kref {
    uint32_t k, kep, p, pep;
    uint16_t slot;
};

/* The counting is deferred by a batch so that the table memory an operation needs can be
 * prefetched ahead of it: requests and replies are checked as the walk hands them out, their
 * key operations and reply attributions queued (with copies of the keys, which the reader
 * only lends until its next event), and the queue is run in order (hk_run_batch). */
#define BATCH 512    /* queued operations */
#define AHEAD 48     /* prefetch the index slot of the operation this far ahead, */
#define AHEAD_ENT 24 /* and the entry of the one this far ahead */

enum { OP_KEY, OP_REPLY };

struct op {
    uint64_t h;   /* key: trace_hash() of the key */
    uint64_t b;   /* key: its share of the request's bytes; reply: the reply's bytes */
    uint64_t ref; /* key: where its reference goes (RT_WALK_NOREFS: none); reply: the
                   * request's first reference */
    size_t koff;  /* key: where its copy is in qkeys */
    uint32_t n;   /* key: its length; reply: the request's number of key references */
    uint8_t kind; /* OP_* */
    uint8_t rd, wr;
};

struct hk_an {
    int by_bytes, depth, approx;
    size_t top, capacity;
    struct ctab keys, prefixes;
    struct slotc *slots;
    struct rt_walk_refs *refs;
    struct { /* the prefix found last (keys that follow each other often share it) */
        uint32_t idx, ep;
        uint32_t len; /* > sizeof text: none */
        int full;     /* it ends at its depth-th ':' */
        char text[KEY_INLINE];
    } lastp;
    struct op *q; /* the queue: BATCH operations, their keys in qkeys */
    size_t qn;
    char *qkeys;
    size_t qklen, qkcap;
    /* totals */
    uint64_t requests, keyed, keyless, skipped, malformed, key_ops, req_bytes, reply_bytes,
        reply_unattr;
};

/* The prefix of a key: up to and including its depth-th ':' (its last when fewer); *full is 1
 * when it ends at the depth-th. */
static size_t prefix_len(const char *k, size_t len, int depth, int *full)
{
    size_t end = 0;
    const char *p = k, *lim = k + len;
    int d = 0;
    for (; d < depth; d++) {
        const char *c = memchr(p, ':', (size_t)(lim - p));
        if (!c)
            break;
        end = (size_t)(c - k) + 1;
        p = c + 1;
    }
    *full = d == depth;
    return end;
}

static uint32_t prefix_of(struct hk_an *s, struct ent *ke, const char *k, size_t len)
{
    struct ctab *pt = &s->prefixes;
    if (ke->pidx != NONE32 && pt->e[ke->pidx].epoch == ke->pep) {
        ctab_bump(pt, ke->pidx);
        return ke->pidx;
    }
    size_t pl;
    int same, full = 1;
    if (s->lastp.full && len >= s->lastp.len && key_eq(k, s->lastp.text, s->lastp.len)) {
        /* the key starts with the prefix found last, which ends at its depth-th ':': so
         * does the key's prefix (no search for the ':'s; most keys of a trace share a few
         * prefixes, and a key new to the table, most of them under --approx, comes here) */
        pl = s->lastp.len;
        same = 1;
    } else {
        pl = prefix_len(k, len, s->depth, &full);
        same = pl == s->lastp.len && key_eq(k, s->lastp.text, pl);
    }
    uint32_t pi;
    if (same && pt->e[s->lastp.idx].epoch == s->lastp.ep) {
        pi = s->lastp.idx; /* what ctab_touch() would find, without hashing and probing */
        ctab_bump(pt, pi);
    } else {
        int fresh;
        pi = ctab_touch(pt, trace_hash(k, pl), k, pl, &fresh);
        if (pl <= sizeof s->lastp.text) {
            memcpy(s->lastp.text, k, pl);
            s->lastp.len = (uint32_t)pl;
            s->lastp.full = full;
            s->lastp.idx = pi;
            s->lastp.ep = pt->e[pi].epoch;
        }
    }
    ke->pidx = pi;
    ke->pep = pt->e[pi].epoch;
    return pi;
}

/* A key operation, counted. */
static void run_key(struct hk_an *s, const struct op *o)
{
    const char *k = s->qkeys + o->koff;
    size_t kl = o->n;
    int fresh;
    uint32_t ki = ctab_touch(&s->keys, o->h, k, kl, &fresh);
    struct ent *ke = &s->keys.e[ki];
    if (fresh) {
        ke->slot = rt_key_slot(k, kl);
        ke->pidx = NONE32;
        if (s->approx)
            s->keys.ev[ki].slot = ke->slot;
    }
    ke->reads += o->rd;
    ke->writes += o->wr;
    ke->bytes += o->b;
    uint32_t pi = NONE32, pep = 0;
    if (s->depth > 0) {
        pi = prefix_of(s, ke, k, kl);
        struct ent *pe = &s->prefixes.e[pi];
        pe->reads += o->rd;
        pe->writes += o->wr;
        pe->bytes += o->b;
        pep = pe->epoch;
    }
    /* the reference its reply will follow, unless later requests took its place already */
    if (rt_walk_refs_valid(s->refs, o->ref)) {
        struct kref *r = rt_walk_refs_at(s->refs, o->ref);
        r->k = ki;
        r->kep = ke->epoch;
        r->p = pi;
        r->pep = pep;
        r->slot = ke->slot;
    }
}

/* A reply's bytes, split among its request's keys (their references are written: the
 * request's key operations ran before), or unattributed when the references are gone. */
static void run_reply(struct hk_an *s, const struct op *o)
{
    if (!rt_walk_refs_valid(s->refs, o->ref)) {
        s->reply_unattr += o->b;
        return;
    }
    s->reply_bytes += o->b;
    const struct kref *refs = rt_walk_refs_at(s->refs, o->ref);
    /* (most requests have one key: no division, which takes tens of cycles) */
    uint64_t share = o->n == 1 ? o->b : o->b / o->n, extra = o->n == 1 ? 0 : o->b % o->n;
    for (uint32_t i = 0; i < o->n; i++) {
        const struct kref *r = &refs[i];
        uint64_t b = share + (i < extra);
        if (s->keys.e[r->k].epoch == r->kep)
            s->keys.e[r->k].bytes += b; /* its slot's too, later */
        else
            s->slots[r->slot].bytes += b; /* the key lost its counter */
        if (r->p != NONE32 && s->prefixes.e[r->p].epoch == r->pep)
            s->prefixes.e[r->p].bytes += b;
    }
}

/* Prefetches the entry of the first key of the request of reply op `o`. Its reference may not
 * be written yet (the request's key operation has not run): then this is a wasted prefetch,
 * never a wrong count. */
PREFETCH_FN prefetch_reply(const struct hk_an *s, const struct op *o)
{
    if (!rt_walk_refs_valid(s->refs, o->ref))
        return;
    const struct kref *r = rt_walk_refs_at(s->refs, o->ref);
    if (r->k < s->keys.n)
        __builtin_prefetch(&s->keys.e[r->k]);
}

/* Runs the queued operations in order, prefetching the index slots, entries and slot counters
 * of those ahead. */
static void hk_run_batch(struct hk_an *s)
{
    const struct ctab *t = &s->keys;
    size_t n = s->qn;
    for (size_t i = 0; i < n + AHEAD; i++) {
        if (i < n && s->q[i].kind == OP_KEY)
            ctab_prefetch_slot(t, s->q[i].h);
        if (i >= AHEAD - AHEAD_ENT && i - (AHEAD - AHEAD_ENT) < n) {
            const struct op *o = &s->q[i - (AHEAD - AHEAD_ENT)];
            if (o->kind == OP_KEY)
                ctab_prefetch_ent(t, o->h);
            else
                prefetch_reply(s, o);
        }
        if (i >= AHEAD) {
            const struct op *o = &s->q[i - AHEAD];
            if (o->kind == OP_KEY)
                run_key(s, o);
            else
                run_reply(s, o);
        }
    }
    s->qn = 0;
    s->qklen = 0;
}

/* A free place in the queue (runs it when full). */
static struct op *op_new(struct hk_an *s)
{
    if (s->qn == BATCH)
        hk_run_batch(s);
    return &s->q[s->qn++];
}

static void queue_key(struct hk_an *s, const char *k, size_t kl, uint64_t h, uint64_t b, int rd,
                      int wr, uint64_t ref)
{
    if (s->qklen + kl > s->qkcap) {
        if (s->qn)
            hk_run_batch(s);
        if (kl > s->qkcap) {
            s->qkcap = kl;
            s->qkeys = xrealloc(s->qkeys, s->qkcap);
        }
    }
    struct op *o = op_new(s);
    key_copy(s->qkeys + s->qklen, k, kl);
    o->h = h;
    o->b = b;
    o->ref = ref;
    o->koff = s->qklen;
    o->n = (uint32_t)kl;
    o->kind = OP_KEY;
    o->rd = (uint8_t)rd;
    o->wr = (uint8_t)wr;
    s->qklen += kl;
}

static void hk_request(void *ctx, struct rt_walk *w, const struct rt_walk_req *q, void *tag)
{
    struct hk_an *s = ctx;
    (void)w;
    s->requests++;
    if (q->kind == RT_WALK_MALFORMED) { /* raw bytes the server rejected: no keys */
        s->malformed++;
        return;
    }
    if (q->kind != RT_WALK_CMD || q->keys_rc != 0) { /* unknown command, or keys */
        s->skipped++;
        return;
    }
    size_t n = q->nkeys;
    if (n == 0) {
        s->keyless++;
        return;
    }
    const struct trace_request *rq = q->rq;
    const struct rt_cmd *c = q->cmd;
    s->keyed++;
    uint64_t rb = q->wire;
    s->req_bytes += rb;
    s->key_ops += n;
    int rd = (c->flags & RT_CMD_READONLY) != 0, wr = (c->flags & RT_CMD_WRITE) != 0;
    uint64_t share = n == 1 ? rb : rb / n, extra = n == 1 ? 0 : rb % n; /* no division for one */
    /* references for its reply to follow (none when no reply is expected) */
    uint64_t ref =
        q->waits ? rt_walk_refs_take(s->refs, n * sizeof(struct kref)) : RT_WALK_NOREFS;
    if (ref != RT_WALK_NOREFS) {
        struct hk_tag *t = tag;
        t->ref = ref;
        t->nref = (uint32_t)n;
    }
    for (size_t i = 0; i < n; i++)
        queue_key(s, rq->argv[q->keys[i]], rq->argvlen[q->keys[i]], q->key_hash[i],
                  share + (i < extra), rd, wr,
                  ref == RT_WALK_NOREFS ? ref : ref + i * sizeof(struct kref));
}

static void hk_reply(void *ctx, struct rt_walk *w, const struct rt_walk_reply *p, void *tag)
{
    struct hk_an *s = ctx;
    (void)w;
    if (p->pairing == RT_WALK_UNPAIRED)
        return;
    const struct hk_tag *t = tag;
    if (p->pairing == RT_WALK_LOST || !t->nref) {
        s->reply_unattr += p->rp->len; /* keyless, skipped, or too old to be remembered */
        return;
    }
    struct op *o = op_new(s);
    o->kind = OP_REPLY;
    o->b = p->rp->len;
    o->ref = t->ref;
    o->n = t->nref;
}

/* Adds to the slot counters what the keys still in the table counted (at the end of the pass). */
static void slot_flush(struct hk_an *s)
{
    for (size_t i = 0; i < s->keys.n; i++) {
        const struct ent *e = &s->keys.e[i];
        s->slots[e->slot].ops += e->ops - e->err;
        s->slots[e->slot].bytes += e->bytes;
    }
}

static void hk_end(void *ctx, struct rt_walk *w)
{
    struct hk_an *s = ctx;
    (void)w;
    hk_run_batch(s); /* what is still queued */
    slot_flush(s);
}

static void hk_an_init(struct hk_an *s, struct rt_walk *w)
{
    ctab_init(&s->keys, s->approx, s->capacity);
    ctab_init(&s->prefixes, s->approx, s->capacity);
    s->lastp.len = UINT32_MAX;
    s->slots = calloc(RT_KEY_SLOTS, sizeof *s->slots);
    s->keys.slots = s->slots;
    s->q = malloc(BATCH * sizeof *s->q);
    s->qkcap = BATCH * 32;
    s->qkeys = malloc(s->qkcap);
    if (!s->slots || !s->q || !s->qkeys)
        oom();
    s->refs = rt_walk_refs(w);
}

struct hk_an *hk_an_attach(struct rt_walk *w, const struct rt_hotkeys_opts *o)
{
    struct hk_an *s = xrealloc(NULL, sizeof *s);
    memset(s, 0, sizeof *s);
    s->top = o->top ? o->top : 20;
    s->by_bytes = o->by_bytes;
    s->depth = o->prefix_depth;
    s->approx = o->approx;
    s->capacity = o->capacity ? o->capacity : 10000;
    hk_an_init(s, w);
    struct rt_walk_analysis a = {.ctx = s,
                                 .needs = RT_WALK_NEED_WIRE | RT_WALK_NEED_HASH | RT_WALK_KEYS_ONLY,
                                 .tag_size = sizeof(struct hk_tag),
                                 .on_request = hk_request,
                                 .on_reply = hk_reply,
                                 .on_end = hk_end};
    if (rt_walk_add(w, &a) < 0) {
        hk_an_free(s);
        return NULL;
    }
    return s;
}

void hk_an_free(struct hk_an *s)
{
    if (!s)
        return;
    ctab_free(&s->keys);
    ctab_free(&s->prefixes);
    free(s->slots);
    free(s->q);
    free(s->qkeys);
    free(s);
}

/* ---- the result --------------------------------------------------------------------------- */

struct hk_row { /* a key or a prefix */
    const char *name; /* borrowed from the table */
    size_t len;
    uint64_t ops, bytes, reads, writes, err;
};

struct hk_slot_row {
    uint16_t slot;
    uint64_t ops, bytes;
};

/* What `hotkeys` found, as the text and the JSON show it. */
struct hk_result {
    const char *path, *damage;
    int interrupted, by_bytes, depth, approx;
    size_t top, capacity;
    uint64_t requests, keyed, keyless, skipped, malformed, key_ops, req_bytes, reply_bytes,
        reply_unattr;
    size_t distinct;                          /* exact mode: distinct keys */
    uint64_t error_bound, prefix_error_bound; /* approx: the smallest counters */
    struct hk_row *keys, *prefixes;           /* the top ones, ranked (owned) */
    size_t nkeys, nprefixes;
    struct hk_slot_row *slots; /* the top slots, ranked (owned) */
    size_t nslots;
};

static const struct ctab *sort_tab;
static int sort_bytes;

static int cmp_u64desc(uint64_t a, uint64_t b)
{
    return a > b ? -1 : a < b ? 1 : 0;
}

/* by the chosen measure, then the other, then the key's bytes (shorter first on a tie) */
static int cmp_ent(const void *pa, const void *pb)
{
    const struct ent *a = &sort_tab->e[*(const uint32_t *)pa];
    const struct ent *b = &sort_tab->e[*(const uint32_t *)pb];
    int c = sort_bytes ? cmp_u64desc(a->bytes, b->bytes) : cmp_u64desc(a->ops, b->ops);
    if (!c)
        c = sort_bytes ? cmp_u64desc(a->ops, b->ops) : cmp_u64desc(a->bytes, b->bytes);
    if (c)
        return c;
    size_t m = a->klen < b->klen ? a->klen : b->klen;
    c = memcmp(ent_key(sort_tab, a), ent_key(sort_tab, b), m);
    if (c)
        return c;
    return a->klen < b->klen ? -1 : a->klen > b->klen;
}

static const struct slotc *sort_slots;

static int cmp_slot(const void *pa, const void *pb)
{
    uint32_t x = *(const uint32_t *)pa, y = *(const uint32_t *)pb;
    const struct slotc *a = &sort_slots[x], *b = &sort_slots[y];
    int c = sort_bytes ? cmp_u64desc(a->bytes, b->bytes) : cmp_u64desc(a->ops, b->ops);
    if (!c)
        c = sort_bytes ? cmp_u64desc(a->ops, b->ops) : cmp_u64desc(a->bytes, b->bytes);
    return c ? c : (x > y) - (x < y);
}

/* Keeps in ix[0..k) the k of the values cand[0..n) (0..n-1 when cand is NULL) that rank first
 * by `cmp` (a total order on them: cmp_ent, keys differ; cmp_slot, slots differ), as a heap
 * whose root ranks last of them, in one pass in their order: most are turned away by one
 * comparison with the root, where sorting all of a table of 100k keys compared entries
 * scattered over megabytes 1.7 million times (4.6% of `hotkeys`' instructions on a trace of
 * 1M requests). */
static void rank_select(uint32_t *ix, size_t k, const uint32_t *cand, size_t n,
                        int (*cmp)(const void *, const void *))
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v = cand ? cand[i] : (uint32_t)i;
        size_t j;
        if (i < k) { /* up from the end */
            for (j = i; j > 0 && cmp(&v, &ix[(j - 1) / 2]) > 0; j = (j - 1) / 2)
                ix[j] = ix[(j - 1) / 2];
        } else if (cmp(&v, &ix[0]) < 0) { /* down from the root */
            for (j = 0;;) {
                size_t c = 2 * j + 1;
                if (c >= k)
                    break;
                if (c + 1 < k && cmp(&ix[c + 1], &ix[c]) > 0)
                    c++;
                if (cmp(&ix[c], &v) <= 0)
                    break;
                ix[j] = ix[c];
                j = c;
            }
        } else {
            continue;
        }
        ix[j] = v;
    }
}

/* ix[0..min(k, n)) = the values cand[0..n) (0..n-1 when cand is NULL) that rank first by
 * `cmp`, in order: selected then sorted when they are a small part of all, else all sorted
 * (ix has room for n). */
static void rank_order(uint32_t *ix, size_t k, const uint32_t *cand, size_t n,
                       int (*cmp)(const void *, const void *))
{
    if (k && k < n / 8) {
        rank_select(ix, k, cand, n, cmp);
        n = k;
    } else {
        for (size_t i = 0; i < n; i++)
            ix[i] = cand ? cand[i] : (uint32_t)i;
    }
    qsort(ix, n, sizeof *ix, cmp);
}

/* The top entries of a table, ranked: a new array of min(top, n) rows. */
static struct hk_row *rank(const struct ctab *t, int by_bytes, size_t top, size_t *nout)
{
    uint32_t *ix = xrealloc(NULL, (t->n ? t->n : 1) * sizeof *ix);
    sort_tab = t;
    sort_bytes = by_bytes;
    size_t n = t->n < top ? t->n : top;
    rank_order(ix, n, NULL, t->n, cmp_ent);
    struct hk_row *rows = xrealloc(NULL, (n ? n : 1) * sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        const struct ent *e = &t->e[ix[i]];
        rows[i] = (struct hk_row){.name = ent_key(t, e),
                                  .len = e->klen,
                                  .ops = e->ops,
                                  .bytes = e->bytes,
                                  .reads = e->reads,
                                  .writes = e->writes,
                                  .err = e->err};
    }
    free(ix);
    *nout = n;
    return rows;
}

static struct hk_slot_row *rank_slots(const struct hk_an *s, size_t *nout)
{
    uint32_t *ix = xrealloc(NULL, 2 * RT_KEY_SLOTS * sizeof *ix), *cand = ix + RT_KEY_SLOTS;
    size_t n = 0;
    for (uint32_t i = 0; i < RT_KEY_SLOTS; i++)
        if (s->slots[i].ops)
            cand[n++] = i;
    sort_slots = s->slots;
    sort_bytes = s->by_bytes;
    rank_order(ix, s->top, cand, n, cmp_slot);
    if (n > s->top)
        n = s->top;
    struct hk_slot_row *rows = xrealloc(NULL, (n ? n : 1) * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = (struct hk_slot_row){(uint16_t)ix[i], s->slots[ix[i]].ops, s->slots[ix[i]].bytes};
    free(ix);
    *nout = n;
    return rows;
}

static void hk_result(const struct hk_an *s, const char *path, const char *damage,
                      int interrupted, struct hk_result *r)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->damage = damage;
    r->interrupted = interrupted;
    r->by_bytes = s->by_bytes;
    r->depth = s->depth;
    r->approx = s->approx;
    r->top = s->top;
    r->capacity = s->capacity;
    r->requests = s->requests;
    r->keyed = s->keyed;
    r->keyless = s->keyless;
    r->skipped = s->skipped;
    r->malformed = s->malformed;
    r->key_ops = s->key_ops;
    r->req_bytes = s->req_bytes;
    r->reply_bytes = s->reply_bytes;
    r->reply_unattr = s->reply_unattr;
    r->distinct = s->keys.n;
    r->error_bound = ctab_bound(&s->keys);
    r->prefix_error_bound = ctab_bound(&s->prefixes);
    r->keys = rank(&s->keys, s->by_bytes, s->top, &r->nkeys);
    if (s->depth > 0)
        r->prefixes = rank(&s->prefixes, s->by_bytes, s->top, &r->nprefixes);
    r->slots = rank_slots(s, &r->nslots);
}

static void hk_result_free(struct hk_result *r)
{
    free(r->keys);
    free(r->prefixes);
    free(r->slots);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static json_t *row_json(const struct hk_result *r, const struct hk_row *e, const char *name)
{
    json_t *o = json_object();
    json_object_set_new(o, name, rt_json_bytes(e->name, e->len));
    json_object_set_new(o, "ops", rt_json_u64(e->ops));
    json_object_set_new(o, "bytes", rt_json_u64(e->bytes));
    json_object_set_new(o, "reads", rt_json_u64(e->reads));
    json_object_set_new(o, "writes", rt_json_u64(e->writes));
    if (r->approx)
        json_object_set_new(o, "error", rt_json_u64(e->err));
    return o;
}

/* The ranking as a JSON object (a new reference). */
static json_t *hk_json(const struct hk_result *r)
{
    json_t *o = rt_json_doc("hotkeys"), *ka = json_array(), *pa = json_array(),
           *sa = json_array();
    for (size_t i = 0; i < r->nkeys; i++)
        json_array_append_new(ka, row_json(r, &r->keys[i], "key"));
    for (size_t i = 0; i < r->nprefixes; i++)
        json_array_append_new(pa, row_json(r, &r->prefixes[i], "prefix"));
    for (size_t i = 0; i < r->nslots; i++) {
        json_t *so = json_object();
        json_object_set_new(so, "slot", json_integer(r->slots[i].slot));
        json_object_set_new(so, "ops", rt_json_u64(r->slots[i].ops));
        json_object_set_new(so, "bytes", rt_json_u64(r->slots[i].bytes));
        json_array_append_new(sa, so);
    }
    json_object_set_new(o, "keys", ka);
    json_object_set_new(o, "prefixes", pa);
    json_object_set_new(o, "slots", sa);
    json_object_set_new(o, "approx", json_boolean(r->approx));
    if (r->approx) {
        json_object_set_new(o, "capacity", rt_json_u64(r->capacity));
        json_object_set_new(o, "error_bound", rt_json_u64(r->error_bound));
        json_object_set_new(o, "prefix_error_bound", rt_json_u64(r->prefix_error_bound));
        json_object_set_new(
            o, "error_note",
            json_string("each key's ops overestimate its true ops by at most its error, which is "
                        "at most error_bound; bytes, reads and writes are lower bounds"));
    }
    json_object_set_new(o, "file", json_string(r->path));
    json_object_set_new(o, "by", json_string(r->by_bytes ? "bytes" : "ops"));
    json_object_set_new(o, "top", rt_json_u64(r->top));
    json_object_set_new(o, "prefix_depth", json_integer(r->depth));
    json_object_set_new(o, "requests", rt_json_u64(r->requests));
    json_object_set_new(o, "keyed_requests", rt_json_u64(r->keyed));
    json_object_set_new(o, "keyless_requests", rt_json_u64(r->keyless));
    json_object_set_new(o, "skipped_requests", rt_json_u64(r->skipped));
    json_object_set_new(o, "malformed_requests", rt_json_u64(r->malformed));
    json_object_set_new(o, "key_ops", rt_json_u64(r->key_ops));
    json_object_set_new(o, "request_bytes", rt_json_u64(r->req_bytes));
    json_object_set_new(o, "reply_bytes", rt_json_u64(r->reply_bytes));
    json_object_set_new(o, "reply_bytes_unattributed", rt_json_u64(r->reply_unattr));
    json_object_set_new(o, "distinct_keys", r->approx ? json_null() : rt_json_u64(r->distinct));
    json_object_set_new(o, "damage", r->damage ? json_string(r->damage) : json_null());
    json_object_set_new(o, "interrupted", json_boolean(r->interrupted));
    return o;
}

json_t *hk_an_json(struct hk_an *a, const char *path, const char *damage, int interrupted)
{
    struct hk_result r;
    hk_result(a, path, damage, interrupted, &r);
    json_t *o = hk_json(&r);
    hk_result_free(&r);
    return o;
}

/* ---- text ---------------------------------------------------------------------------------- */

static void print_rows(const struct hk_result *r, const struct hk_row *rows, size_t n,
                       const char *what)
{
    char b[64];
    printf("\ntop %zu %s by %s%s\n", n, what, r->by_bytes ? "bytes" : "ops",
           r->approx ? " (approximate: ops may exceed the true count by up to err)" : "");
    printf("%4s  %-40s %12s %12s %12s %12s", "#", what[0] == 'k' ? "key" : "prefix", "ops", "reads",
           "writes", "bytes");
    if (r->approx)
        printf(" %10s", "err");
    putchar('\n');
    for (size_t i = 0; i < n; i++) {
        const struct hk_row *e = &rows[i];
        printf("%4zu  ", i + 1);
        /* quoted key, padded to 40 columns */
        char *txt = NULL;
        size_t tl = 0;
        FILE *m = open_memstream(&txt, &tl);
        if (m) {
            rt_quote(m, e->name, e->len, 36);
            fclose(m);
            printf("%-40s", txt);
            free(txt);
        }
        printf(" %12llu %12llu %12llu %12s", (unsigned long long)e->ops,
               (unsigned long long)e->reads, (unsigned long long)e->writes,
               rt_fmt_bytes(e->bytes, b, sizeof b));
        if (r->approx)
            printf(" %10llu", (unsigned long long)e->err);
        putchar('\n');
    }
}

static void print_table(const struct hk_result *r)
{
    char a[64], b[64], u[64];
    printf("%-22s %s\n", "file", r->path);
    printf("%-22s %llu (%llu with keys, %llu without, %llu skipped: unknown command or keys",
           "requests", (unsigned long long)r->requests, (unsigned long long)r->keyed,
           (unsigned long long)r->keyless, (unsigned long long)r->skipped);
    if (r->malformed)
        printf(", %llu malformed", (unsigned long long)r->malformed);
    printf(")\n");
    printf("%-22s %llu\n", "key operations", (unsigned long long)r->key_ops);
    if (r->approx)
        printf("%-22s approximate (Space-Saving, %zu counters): each key's ops overestimate the "
               "true count by at most %llu\n",
               "distinct keys", r->capacity, (unsigned long long)r->error_bound);
    else
        printf("%-22s %zu\n", "distinct keys", r->distinct);
    printf("%-22s %s requests, %s replies (%s of replies not attributed)\n", "bytes",
           rt_fmt_bytes(r->req_bytes, a, sizeof a), rt_fmt_bytes(r->reply_bytes, b, sizeof b),
           rt_fmt_bytes(r->reply_unattr, u, sizeof u));
    print_rows(r, r->keys, r->nkeys, "keys");
    if (r->depth > 0)
        print_rows(r, r->prefixes, r->nprefixes, "prefixes");
    printf("\ntop %zu slots by %s\n%4s  %6s %12s %12s\n", r->nslots,
           r->by_bytes ? "bytes" : "ops", "#", "slot", "ops", "bytes");
    for (size_t i = 0; i < r->nslots; i++)
        printf("%4zu  %6u %12llu %12s\n", i + 1, r->slots[i].slot,
               (unsigned long long)r->slots[i].ops, rt_fmt_bytes(r->slots[i].bytes, a, sizeof a));
}

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    if (!s[0] || s[0] == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* ---- the command ------------------------------------------------------------------------------ */

json_t *rt_hotkeys_json_pass(const char *path, const struct rt_hotkeys_opts *o,
                             struct rt_pass *ps, struct rt_err *err)
{
    /* lazy_args: the bytes of arguments 2.. (values) stay compressed unless a key is among
     * them; their lengths give the wire sizes */
    struct trace_reader_opts ro = {.salvage = o->salvage, .lazy_args = 1};
    struct trace_reader *r = trace_reader_open(path, &ro, err);
    if (!r)
        return NULL;
    struct rt_walk *w = rt_walk_new("hotkeys");
    struct hk_an *s = hk_an_attach(w, o);
    int rc = rt_walk_run(w, r, ps, err);
    struct trace_damage dmg;
    const char *damage = rt_walk_damage(r, rc, err, &dmg);
    json_t *j = hk_an_json(s, path, damage, ps && ps->interrupted);
    if (rc >= 0 && damage)
        rt_err_set(err, RT_ECORRUPT, "%s", dmg.msg);
    trace_reader_close(r);
    hk_an_free(s);
    rt_walk_free(w);
    return j;
}

json_t *rt_hotkeys_json(const char *path, const struct rt_hotkeys_opts *o, struct rt_err *err)
{
    return rt_hotkeys_json_pass(path, o, NULL, err);
}

int cmd_hotkeys(int argc, char **argv)
{
    static const struct option opts[] = {{"top", required_argument, NULL, 't'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"prefix-depth", required_argument, NULL, 'd'},
                                         {"approx", no_argument, NULL, 'a'},
                                         {"capacity", required_argument, NULL, 'c'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct rt_hotkeys_opts o = {.top = 20, .prefix_depth = 1, .capacity = 10000};
    const char *json_path = NULL;
    int quiet = 0, capacity_set = 0, c;
    size_t v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hq", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (parse_size(optarg, 1, 100000000, &o.top) < 0)
                return rt_usage_error("hotkeys", "bad --top '%s' (1 to 100000000)", optarg);
            break;
        case 'b':
            if (strcmp(optarg, "ops") && strcmp(optarg, "bytes"))
                return rt_usage_error("hotkeys", "--by takes ops or bytes, not '%s'", optarg);
            o.by_bytes = optarg[0] == 'b';
            break;
        case 'd':
            if (parse_size(optarg, 0, 1000, &v) < 0)
                return rt_usage_error("hotkeys", "bad --prefix-depth '%s' (0 to 1000)", optarg);
            o.prefix_depth = (int)v;
            break;
        case 'a': o.approx = 1; break;
        case 'c':
            if (parse_size(optarg, 1, 100000000, &o.capacity) < 0)
                return rt_usage_error("hotkeys", "bad --capacity '%s' (1 to 100000000)", optarg);
            capacity_set = 1;
            break;
        case 'j': json_path = optarg ? optarg : "-"; break;
        case 's': o.salvage = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage_hotkeys(stdout); return RT_EXIT_OK;
        default: return rt_opt_error("hotkeys", c, argv);
        }
    }
    if (optind >= argc)
        return rt_usage_error("hotkeys", "give the trace to read");
    if (optind < argc - 1)
        return rt_usage_error("hotkeys", "one trace at a time (got '%s' after '%s')",
                              argv[optind + 1], argv[optind]);
    if (capacity_set && !o.approx)
        return rt_usage_error("hotkeys", "--capacity goes with --approx");
    if (json_path && !*json_path)
        return rt_usage_error("hotkeys", "--json= needs a file name (or '-' for stdout)");
    const char *path = argv[optind];
    if (rt_out_refuse_inputs("hotkeys", json_path, &path, 1) < 0)
        return RT_EXIT_USAGE;
    /* lazy_args: as in rt_hotkeys_json_pass() */
    struct trace_reader_opts ro = {.salvage = o.salvage, .lazy_args = 1};
    struct trace_reader *r = rt_open_trace_opts("hotkeys", path, &ro);
    if (!r)
        return RT_EXIT_FAIL;

    rt_catch_signals();
    struct rt_progress prog;
    rt_progress_init(&prog, quiet);
    struct rt_pass ps = {.progress = &prog, .label = "hotkeys"};
    struct rt_walk *w = rt_walk_new("hotkeys");
    struct hk_an *s = hk_an_attach(w, &o);
    struct rt_err err = {0};
    int rc = rt_walk_run(w, r, &ps, &err);
    rt_progress_done(&prog);
    struct trace_damage dmg;
    const char *damage = rt_walk_damage(r, rc, &err, &dmg);
    int status = (rc < 0 || dmg.first_offset != UINT64_MAX) ? RT_EXIT_FAIL : RT_EXIT_OK;
    struct hk_result res;
    hk_result(s, path, damage, ps.interrupted, &res);
    if (json_path && rt_json_write("hotkeys", hk_json(&res), json_path) < 0)
        status = RT_EXIT_FAIL;
    if (!json_path || strcmp(json_path, "-")) {
        print_table(&res);
        fflush(stdout);
    }
    hk_result_free(&res);
    if (rc < 0)
        fprintf(stderr, "resptrace hotkeys: %s\n", err.msg);
    else if (dmg.first_offset != UINT64_MAX)
        fprintf(stderr, "resptrace hotkeys: %s (salvaged: %llu damaged chunks skipped)\n", dmg.msg,
                (unsigned long long)dmg.chunks_skipped);
    if (ps.interrupted) {
        fprintf(stderr,
                "resptrace hotkeys: interrupted: the ranking covers the first %llu events "
                "(to offset %llu of %llu bytes)\n",
                (unsigned long long)ps.events, (unsigned long long)trace_reader_offset(r),
                (unsigned long long)trace_reader_file_size(r));
        status = RT_EXIT_INTERRUPTED;
    }
    trace_reader_close(r);
    hk_an_free(s);
    rt_walk_free(w);
    return status;
}
