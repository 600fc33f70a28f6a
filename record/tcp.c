/* tcp.c: passive TCP reassembly into in-order byte streams per connection and direction. */

/*
 * Why the recorder has its own reassembler. It watches connections it takes no part in, so it
 * must pick them up in the middle (a capture starts whenever the operator starts it), never
 * stall a stream waiting for bytes that the capture lost (the endpoints got them and will not
 * send them again: MEASURED.md shows kernel drops under load), report such losses as gaps of
 * a known size so that the RESP scanner can resynchronise, and stay within fixed memory
 * whatever the traffic. Kernel-style reassembly, and libnids which copies it, waits for a hole
 * to be filled; libnids also follows only connections whose handshake it saw and keeps one
 * global instance. Of Debian's packages, libnids-dev (1.26) is that; libtins-dev (4.0) is C++
 * and ends a stream that holds too much data rather than skipping the hole; tcpflow is a
 * program, not a library. None fits, hence this file.
 *
 * The model. Each direction is a stream of byte offsets counted from its start (the byte
 * after the SYN, or the first segment seen mid-stream); 32-bit sequence numbers are unwrapped
 * into 64-bit offsets relative to the next expected byte, so wrap-around needs no special
 * case. A segment that starts at the next expected byte is handed to the consumer straight
 * from the packet; one that starts later is copied into a sorted list of non-overlapping
 * pieces (where pieces overlap, the first copy wins); bytes before the next expected byte are
 * duplicates. A hole before the held pieces becomes a gap when the receiver acknowledges past
 * it (the capture lost it), when the direction holds more than its cap, when the total held
 * would pass the table's cap, when it is older than the hole timeout, or when the connection
 * closes. Time is the capture's: nothing here reads a clock.
 */
#include "record_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define DEFAULT_MAX_FLOWS 262144u
#define DEFAULT_MAX_BUFFER_DIR (4u << 20)
#define DEFAULT_MAX_BUFFER_TOTAL (256u << 20)
#define DEFAULT_HOLE_TIMEOUT_NS 1000000000ull
#define DEFAULT_IDLE_TIMEOUT_NS (900ull * 1000000000ull)
#define INITIAL_BUCKETS 1024u

/* Memories of recently refused and recently closed connections: direct-mapped, so bounded,
 * and approximate on collision (a refused flow may be counted twice; a closed one forgotten). */
#define RECENT_SLOTS 4096u
/* After a FIN or RST close, segments of the same four-tuple without a SYN are late copies
 * (the last ACK, a retransmitted FIN) for this long: the kernel's TIME_WAIT. */
#define CLOSED_QUIET_NS (60ull * 1000000000ull)

/* One held out-of-order piece. Pieces of a direction never overlap. */
struct seg {
    struct seg *next;
    uint64_t off; /* stream offset of the first byte */
    uint64_t ts;  /* capture time of the packet that brought it */
    size_t len;
    int has_data; /* 0: the bytes are known to be missing (cut by the snap length) */
    uint8_t data[];
};

/* What a held piece costs against the caps: its bytes plus a fixed 128 for its header and
 * malloc's own, which also bounds the number of pieces (and so the time a list walk takes)
 * when a peer sends tiny segments out of order. */
#define SEG_COST(len) ((len) + 128)

struct dir {
    uint64_t next;     /* stream offset of the next byte to deliver */
    uint32_t next_seq; /* its sequence number */
    uint32_t isn;      /* the SYN's sequence number when `syn` */
    uint8_t started, syn, fin, done, holed;
    uint8_t rehole;          /* a piece as old as the hole was delivered: recompute hole_ts */
    uint64_t fin_off;        /* stream offset of the FIN when `fin` */
    struct seg *segs;        /* held pieces, sorted by offset, all beyond `next` */
    struct seg *tail;        /* the last of them: segments after a hole mostly come in order */
    size_t held;             /* what they cost */
    uint64_t hole_ts;        /* since when the first hole is known (when `holed`) */
    uint64_t gap_lo, gap_hi; /* the last gap: bytes arriving inside it are late */
};

struct flow {
    struct flow *hnext;       /* hash chain */
    struct flow *prev, *next; /* activity order, oldest first */
    uint64_t hash;
    uint64_t id;
    uint64_t last_ts;
    struct trace_addr client, server;
    struct dir d[2]; /* by enum trace_dir */
    void *user;
};

struct recent {
    uint64_t key; /* the flow hash with its low bit set, so that 0 is free */
    uint64_t ts;
};

struct tcp_table {
    struct tcp_opts o;
    struct record_ports ports;
    struct tcp_callbacks cb;
    void *ctx;
    struct flow **bucket;
    size_t nbucket, max_bucket; /* powers of two */
    size_t nflows;
    struct flow *oldest, *newest;
    uint64_t next_id;
    uint64_t seed;
    uint64_t now;        /* the newest capture time seen */
    uint64_t next_sweep; /* when tcp_table_input() runs the expiry next */
    uint64_t sweep_ns;
    size_t holed_dirs; /* directions with a hole: the sweep looks at holes only then */
    size_t held;       /* what all held pieces cost */
    struct tcp_stats st;
    struct recent refused[RECENT_SLOTS];
    struct recent closed[RECENT_SLOTS];
};

enum hole_cause { HOLE_ACK, HOLE_CAP, HOLE_MEMORY, HOLE_TIME, HOLE_CLOSE };

/* ---- hashing and the flow table ------------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static int addr_cmp(const struct trace_addr *a, const struct trace_addr *b)
{
    int c = memcmp(a->addr, b->addr, sizeof a->addr);
    if (c)
        return c;
    return (int)a->port - (int)b->port;
}

static int addr_eq(const struct trace_addr *a, const struct trace_addr *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

/* The same for both directions of a connection. */
static uint64_t flow_hash(const struct tcp_table *t, const struct trace_addr *a,
                          const struct trace_addr *b)
{
    if (addr_cmp(a, b) > 0) {
        const struct trace_addr *x = a;
        a = b;
        b = x;
    }
    uint64_t h = mix(t->seed, a->family);
    uint64_t w[2];
    memcpy(w, a->addr, 16);
    h = mix(mix(h, w[0]), w[1]);
    memcpy(w, b->addr, 16);
    h = mix(mix(h, w[0]), w[1]);
    return mix(h, (uint64_t)a->port << 16 | b->port);
}

static struct flow *flow_find(const struct tcp_table *t, uint64_t h, const struct trace_addr *src,
                              const struct trace_addr *dst, enum trace_dir *dir)
{
    for (struct flow *f = t->bucket[h & (t->nbucket - 1)]; f; f = f->hnext) {
        if (f->hash != h)
            continue;
        if (addr_eq(&f->client, src) && addr_eq(&f->server, dst)) {
            *dir = TRACE_DIR_TO_SERVER;
            return f;
        }
        if (addr_eq(&f->server, src) && addr_eq(&f->client, dst)) {
            *dir = TRACE_DIR_TO_CLIENT;
            return f;
        }
    }
    return NULL;
}

/* Doubles the buckets while there are more flows than buckets; a failed allocation only
 * leaves the chains longer. */
static void table_grow(struct tcp_table *t)
{
    if (t->nflows <= t->nbucket || t->nbucket >= t->max_bucket)
        return;
    size_t n = t->nbucket * 2;
    struct flow **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < t->nbucket; i++) {
        struct flow *f = t->bucket[i];
        while (f) {
            struct flow *nx = f->hnext;
            f->hnext = b[f->hash & (n - 1)];
            b[f->hash & (n - 1)] = f;
            f = nx;
        }
    }
    free(t->bucket);
    t->bucket = b;
    t->nbucket = n;
}

static void lru_unlink(struct tcp_table *t, struct flow *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        t->oldest = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        t->newest = f->prev;
    f->prev = f->next = NULL;
}

static void lru_append(struct tcp_table *t, struct flow *f)
{
    f->prev = t->newest;
    f->next = NULL;
    if (t->newest)
        t->newest->next = f;
    else
        t->oldest = f;
    t->newest = f;
}

static struct recent *recent_slot(struct recent *mem, uint64_t h)
{
    return &mem[(h >> 7) & (RECENT_SLOTS - 1)];
}

/* ---- delivery ------------------------------------------------------------------------ */

static void emit_data(struct tcp_table *t, struct flow *f, enum trace_dir dir, const uint8_t *p,
                      size_t n, uint64_t ts)
{
    if (n == 0)
        return;
    struct dir *d = &f->d[dir];
    if (t->cb.on_data)
        t->cb.on_data(t->ctx, f->user, f->id, dir, p, n, ts);
    d->next += n;
    d->next_seq += (uint32_t)n;
    t->st.bytes_delivered += n;
}

static void emit_gap(struct tcp_table *t, struct flow *f, enum trace_dir dir, uint64_t n,
                     uint64_t ts)
{
    if (n == 0)
        return;
    struct dir *d = &f->d[dir];
    if (t->cb.on_gap)
        t->cb.on_gap(t->ctx, f->user, f->id, dir, n, ts);
    d->gap_lo = d->next;
    d->next += n;
    d->next_seq += (uint32_t)n;
    d->gap_hi = d->next;
    t->st.gaps++;
    t->st.gap_bytes += n;
}

/* Counts payload bytes [lo, hi) that came after they were delivered or given up. */
static void count_old(struct tcp_table *t, const struct dir *d, uint64_t lo, uint64_t hi)
{
    uint64_t a = lo > d->gap_lo ? lo : d->gap_lo;
    uint64_t b = hi < d->gap_hi ? hi : d->gap_hi;
    uint64_t late = a < b ? b - a : 0;
    t->st.bytes_dropped += late;
    t->st.bytes_dup += (hi - lo) - late;
}

static void held_add(struct tcp_table *t, struct dir *d, size_t cost)
{
    d->held += cost;
    t->held += cost;
    if (t->held > t->st.buffered_peak)
        t->st.buffered_peak = t->held;
}

static void held_sub(struct tcp_table *t, struct dir *d, size_t cost)
{
    d->held -= cost;
    t->held -= cost;
}

/* The age of the first hole is that of the oldest piece held beyond it. */
static void hole_ts_recompute(struct dir *d)
{
    uint64_t m = UINT64_MAX;
    for (const struct seg *s = d->segs; s; s = s->next)
        if (s->ts < m)
            m = s->ts;
    if (m != UINT64_MAX)
        d->hole_ts = m;
}

/* Delivers the first held piece (it starts at or before `next`) and frees it. */
static void pop_deliver(struct tcp_table *t, struct flow *f, enum trace_dir dir)
{
    struct dir *d = &f->d[dir];
    struct seg *s = d->segs;
    d->segs = s->next;
    held_sub(t, d, SEG_COST(s->len));
    uint64_t end = s->off + s->len;
    if (end > d->next) {
        size_t skip = (size_t)(d->next - s->off);
        if (s->has_data) {
            emit_data(t, f, dir, s->data + skip, s->len - skip, s->ts);
        } else {
            t->st.payload_cut += s->len - skip;
            emit_gap(t, f, dir, s->len - skip, s->ts);
        }
    } else {
        t->st.bytes_dup += s->has_data ? s->len : 0;
    }
    if (s->ts <= d->hole_ts)
        d->rehole = 1;
    if (!d->segs)
        d->tail = NULL;
    free(s);
}

/* Delivers the held pieces that have become contiguous. */
static void drain(struct tcp_table *t, struct flow *f, enum trace_dir dir)
{
    struct dir *d = &f->d[dir];
    while (d->segs && d->segs->off <= d->next)
        pop_deliver(t, f, dir);
}

static int has_hole(const struct dir *d)
{
    return d->segs != NULL || (d->fin && d->next < d->fin_off);
}

static void count_hole(struct tcp_table *t, enum hole_cause why)
{
    switch (why) {
    case HOLE_ACK: t->st.holes_by_ack++; break;
    case HOLE_CAP: t->st.holes_by_cap++; break;
    case HOLE_MEMORY: t->st.holes_by_memory++; break;
    case HOLE_TIME: t->st.holes_by_time++; break;
    case HOLE_CLOSE: t->st.holes_by_close++; break;
    }
}

/* Gives up on the first hole of a direction: a gap up to the next held piece (or the FIN),
 * then what has become contiguous. */
static void force_hole(struct tcp_table *t, struct flow *f, enum trace_dir dir, enum hole_cause why,
                       uint64_t ts)
{
    struct dir *d = &f->d[dir];
    uint64_t to = d->segs ? d->segs->off : d->next;
    if (d->fin && d->fin_off > d->next && (!d->segs || d->fin_off < to))
        to = d->fin_off; /* nothing lies past the FIN */
    if (to > d->next) {
        count_hole(t, why);
        emit_gap(t, f, dir, to - d->next, ts);
    }
    drain(t, f, dir);
}

static void free_segs(struct tcp_table *t, struct dir *d)
{
    while (d->segs) {
        struct seg *s = d->segs;
        d->segs = s->next;
        held_sub(t, d, SEG_COST(s->len));
        free(s);
    }
    d->tail = NULL;
}

/* Brings a direction's derived state up to date after its stream moved: reaching the FIN
 * ends it, and the count of directions with a hole follows. */
static void dir_settle(struct tcp_table *t, struct dir *d, uint64_t ts)
{
    if (d->fin && !d->done && d->next >= d->fin_off) {
        d->done = 1;
        for (const struct seg *s = d->segs; s; s = s->next) /* bytes past the FIN */
            t->st.bytes_dup += s->has_data ? s->len : 0;
        free_segs(t, d);
    }
    int h = has_hole(d);
    if (h && !d->holed) {
        t->holed_dirs++;
        d->hole_ts = ts;
        if (d->segs)
            hole_ts_recompute(d);
    } else if (h && d->rehole && d->segs) {
        hole_ts_recompute(d);
    } else if (!h && d->holed) {
        t->holed_dirs--;
    }
    d->holed = (uint8_t)h;
    d->rehole = 0;
}

/* Turns holes older than the timeout into gaps. */
static void dir_check_time(struct tcp_table *t, struct flow *f, enum trace_dir dir, uint64_t now)
{
    struct dir *d = &f->d[dir];
    while (d->holed && now >= d->hole_ts && now - d->hole_ts >= t->o.hole_timeout_ns) {
        force_hole(t, f, dir, HOLE_TIME, now);
        dir_settle(t, d, now);
    }
}

/* Every hole becomes a gap: the connection is closing, or memory ran short. */
static void dir_force_all(struct tcp_table *t, struct flow *f, enum trace_dir dir,
                          enum hole_cause why, uint64_t ts)
{
    struct dir *d = &f->d[dir];
    while (has_hole(d) && !d->done) {
        force_hole(t, f, dir, why, ts);
        dir_settle(t, d, ts);
    }
}

/* ---- segments ------------------------------------------------------------------------ */

/* Delivers a segment that starts at `next`: bytes [next, next + cap) are in `p`, and up to
 * next + wire they were cut by the snap length. Held pieces already cover some of it where
 * they arrived first; those are delivered instead (the first copy wins). */
static void deliver_inorder(struct tcp_table *t, struct flow *f, enum trace_dir dir,
                            const uint8_t *p, size_t cap, size_t wire, uint64_t ts)
{
    struct dir *d = &f->d[dir];
    uint64_t base = d->next, cut = base + cap, end = base + wire;
    for (;;) {
        struct seg *s = d->segs;
        if (s && s->off <= d->next) {
            if (d->next < end) { /* the packet's copy of these bytes came second */
                uint64_t se = s->off + s->len;
                t->st.bytes_dup += (se < end ? se : end) - d->next;
            }
            pop_deliver(t, f, dir);
            continue;
        }
        if (d->next >= end)
            break;
        uint64_t lim = s && s->off < end ? s->off : end;
        if (d->next < cut) {
            uint64_t e = lim < cut ? lim : cut;
            emit_data(t, f, dir, p + (d->next - base), (size_t)(e - d->next), ts);
        }
        if (d->next < lim) {
            t->st.payload_cut += lim - d->next;
            emit_gap(t, f, dir, lim - d->next, ts);
        }
    }
}

/* Walks the pieces of [lo, hi) that no held piece covers: counts them, or inserts copies
 * (from `p`, the bytes of [lo, hi), or as missing bytes when NULL). @return 0, or -1 when an
 * allocation failed (the pieces before it are in place). */
static int walk_uncovered(struct tcp_table *t, struct dir *d, uint64_t lo, uint64_t hi,
                          const uint8_t *p, uint64_t ts, int insert, size_t *cost, size_t *bytes)
{
    struct seg **pp = &d->segs;
    if (d->tail && lo >= d->tail->off + d->tail->len)
        pp = &d->tail->next;
    uint64_t cur = lo;
    while (cur < hi) {
        struct seg *s = *pp;
        if (s && s->off + s->len <= cur) {
            pp = &s->next;
            continue;
        }
        if (s && s->off <= cur) { /* the first copy wins */
            cur = s->off + s->len;
            pp = &s->next;
            continue;
        }
        uint64_t stop = s && s->off < hi ? s->off : hi;
        size_t n = (size_t)(stop - cur);
        if (insert) {
            struct seg *ns = malloc(sizeof *ns + (p ? n : 0));
            if (!ns)
                return -1;
            ns->next = s;
            ns->off = cur;
            ns->ts = ts;
            ns->len = n;
            ns->has_data = p != NULL;
            if (p)
                memcpy(ns->data, p + (cur - lo), n);
            *pp = ns;
            pp = &ns->next;
            if (!s)
                d->tail = ns;
            held_add(t, d, SEG_COST(n));
        }
        *cost += SEG_COST(n);
        *bytes += n;
        cur = stop;
    }
    return 0;
}

static void payload_input(struct tcp_table *t, struct flow *f, enum trace_dir dir, int64_t soff,
                          const uint8_t *p, size_t cap, size_t wire, uint64_t ts);

/* Holds a segment that starts beyond `next`, within the caps. */
static void hold(struct tcp_table *t, struct flow *f, enum trace_dir dir, uint64_t off,
                 const uint8_t *p, size_t cap, size_t wire, uint64_t ts)
{
    struct dir *d = &f->d[dir];
    size_t cost = 0, bytes = 0, missing = 0;
    walk_uncovered(t, d, off, off + cap, p, ts, 0, &cost, &bytes);
    walk_uncovered(t, d, off + cap, off + wire, NULL, ts, 0, &cost, &missing);
    if (cost == 0) { /* every byte is held already */
        t->st.bytes_dup += cap;
        return;
    }
    if (t->held + cost <= t->o.max_buffer_total) {
        size_t c2 = 0, b2 = 0;
        if (walk_uncovered(t, d, off, off + cap, p, ts, 1, &c2, &b2) == 0 &&
            walk_uncovered(t, d, off + cap, off + wire, NULL, ts, 1, &c2, &b2) == 0) {
            t->st.bytes_dup += cap - bytes;
            if (d->holed && ts < d->hole_ts)
                d->hole_ts = ts;
            while (d->held > t->o.max_buffer_dir && d->segs)
                force_hole(t, f, dir, HOLE_CAP, ts);
            return;
        }
    }
    /* Out of room (or of memory): this direction stops waiting for the holes before its
     * held pieces, and the segment is delivered straight from the packet after a gap. */
    while (d->segs)
        force_hole(t, f, dir, HOLE_MEMORY, ts);
    dir_settle(t, d, ts);
    if (d->done)
        return;
    if (off > d->next) {
        count_hole(t, HOLE_MEMORY);
        emit_gap(t, f, dir, off - d->next, ts);
    }
    payload_input(t, f, dir, (int64_t)off, p, cap, wire, ts);
}

/* The payload of one segment, at stream offset `soff` (negative: before the stream's
 * start). */
static void payload_input(struct tcp_table *t, struct flow *f, enum trace_dir dir, int64_t soff,
                          const uint8_t *p, size_t cap, size_t wire, uint64_t ts)
{
    struct dir *d = &f->d[dir];
    if (d->fin && soff + (int64_t)wire > (int64_t)d->fin_off) { /* bytes past the FIN */
        int64_t keep = (int64_t)d->fin_off - soff;
        if (keep < 0)
            keep = 0;
        t->st.bytes_dup += wire - (size_t)keep;
        wire = (size_t)keep;
        if (cap > wire)
            cap = wire;
        if (wire == 0)
            return;
    }
    int64_t end = soff + (int64_t)wire;
    if (soff < (int64_t)d->next) {
        /* bytes before the stream's start, then bytes already delivered or given up */
        uint64_t lo = soff < 0 ? 0 : (uint64_t)soff;
        uint64_t hi = end < (int64_t)d->next ? (end < 0 ? 0 : (uint64_t)end) : d->next;
        if (soff < 0)
            t->st.bytes_dup += (uint64_t)(end < 0 ? wire : (size_t)-soff);
        if (hi > lo)
            count_old(t, d, lo, hi);
        if (end <= (int64_t)d->next)
            return;
        uint64_t k = (uint64_t)((int64_t)d->next - soff);
        if (k <= cap) {
            p += k;
            cap -= (size_t)k;
        } else {
            cap = 0;
        }
        wire -= (size_t)k;
        soff = (int64_t)d->next;
    }
    if ((uint64_t)soff == d->next)
        deliver_inorder(t, f, dir, p, cap, wire, ts);
    else
        hold(t, f, dir, (uint64_t)soff, p, cap, wire, ts);
}

/* A segment of one direction: starts the direction if it is the first, places its payload,
 * notes its FIN. */
static void segment_input(struct tcp_table *t, struct flow *f, enum trace_dir dir,
                          const struct record_packet *pkt)
{
    struct dir *d = &f->d[dir];
    int syn = (pkt->flags & RECORD_TCP_SYN) != 0, fin = (pkt->flags & RECORD_TCP_FIN) != 0;
    uint32_t seq = pkt->seq + (syn ? 1u : 0u); /* the SYN takes one sequence number */
    if (!d->started) {
        if (!syn && !fin && pkt->payload_wire == 0)
            return; /* a pure ACK does not place the stream: keepalives lie by one */
        d->started = 1;
        d->syn = (uint8_t)syn;
        d->isn = pkt->seq;
        d->next = 0;
        d->next_seq = seq;
    }
    if (d->done) {
        t->st.bytes_dup += pkt->payload_len;
        return;
    }
    int64_t soff = (int64_t)d->next + (int32_t)(seq - d->next_seq);
    if (fin && !d->fin && soff + (int64_t)pkt->payload_wire >= 0) {
        d->fin = 1;
        d->fin_off = (uint64_t)(soff + (int64_t)pkt->payload_wire);
    }
    if (pkt->payload_wire)
        payload_input(t, f, dir, soff, pkt->payload, pkt->payload_len, pkt->payload_wire, pkt->ts);
    dir_settle(t, d, pkt->ts);
    dir_check_time(t, f, dir, t->now);
}

/* The receiver in `dir` acknowledged bytes of the other direction: a hole below the
 * acknowledgement, with bytes held beyond it, was lost by the capture, not by the network,
 * and will never be sent again. */
static void ack_input(struct tcp_table *t, struct flow *f, enum trace_dir dir, uint32_t ack,
                      uint64_t ts)
{
    enum trace_dir odir = dir == TRACE_DIR_TO_SERVER ? TRACE_DIR_TO_CLIENT : TRACE_DIR_TO_SERVER;
    struct dir *o = &f->d[odir];
    if (!o->started || !o->segs)
        return;
    int32_t rel = (int32_t)(ack - o->next_seq);
    if (rel <= 0)
        return;
    uint64_t aoff = o->next + (uint64_t)rel;
    while (o->segs && aoff > o->next && !o->done) {
        uint64_t to = aoff < o->segs->off ? aoff : o->segs->off;
        if (to > o->next) {
            count_hole(t, HOLE_ACK);
            emit_gap(t, f, odir, to - o->next, ts);
        }
        drain(t, f, odir);
        dir_settle(t, o, ts);
    }
}

/* ---- connections --------------------------------------------------------------------- */

static int port_is_server(const struct tcp_table *t, uint16_t port)
{
    for (size_t i = 0; i < t->ports.n; i++)
        if (t->ports.port[i] == port)
            return 1;
    return 0;
}

/* Whether the sender of `pkt` is the server: the port list first, then the handshake, then
 * the lower port, then the receiver of the first packet. */
static int sender_is_server(const struct tcp_table *t, const struct record_packet *pkt)
{
    int s = port_is_server(t, pkt->src.port), r = port_is_server(t, pkt->dst.port);
    if (s != r)
        return s;
    if (pkt->flags & RECORD_TCP_SYN)
        return (pkt->flags & RECORD_TCP_ACK) != 0;
    if (pkt->src.port != pkt->dst.port)
        return pkt->src.port < pkt->dst.port;
    return 0;
}

static struct flow *flow_new(struct tcp_table *t, uint64_t h, const struct record_packet *pkt,
                             enum trace_dir *dir)
{
    struct flow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->hash = h;
    f->id = t->next_id++;
    f->last_ts = t->now;
    if (sender_is_server(t, pkt)) {
        f->server = pkt->src;
        f->client = pkt->dst;
        *dir = TRACE_DIR_TO_CLIENT;
    } else {
        f->client = pkt->src;
        f->server = pkt->dst;
        *dir = TRACE_DIR_TO_SERVER;
    }
    size_t b = h & (t->nbucket - 1);
    f->hnext = t->bucket[b];
    t->bucket[b] = f;
    lru_append(t, f);
    t->nflows++;
    t->st.flows_opened++;
    table_grow(t);
    uint32_t flags = (pkt->flags & RECORD_TCP_SYN) ? 0 : TRACE_OPEN_MIDSTREAM;
    if (t->cb.on_open)
        f->user = t->cb.on_open(t->ctx, f->id, &f->client, &f->server, flags, pkt->ts);
    return f;
}

/* Delivers what the connection holds (holes as gaps unless it ended by FIN), tells the
 * consumer, and frees it. */
static void flow_close(struct tcp_table *t, struct flow *f, enum trace_close_reason reason,
                       uint64_t ts)
{
    for (int i = 0; i < 2; i++) {
        dir_force_all(t, f, (enum trace_dir)i, HOLE_CLOSE, ts);
        if (f->d[i].holed)
            t->holed_dirs--;
        free_segs(t, &f->d[i]);
    }
    if (t->cb.on_close)
        t->cb.on_close(t->ctx, f->user, f->id, reason, ts);
    if (reason == TRACE_CLOSE_FIN || reason == TRACE_CLOSE_RST) {
        struct recent *r = recent_slot(t->closed, f->hash);
        r->key = f->hash | 1;
        r->ts = t->now;
    }
    struct flow **pp = &t->bucket[f->hash & (t->nbucket - 1)];
    while (*pp != f)
        pp = &(*pp)->hnext;
    *pp = f->hnext;
    lru_unlink(t, f);
    t->nflows--;
    free(f);
}

/* A SYN that is not a copy of the one that began this direction starts a new connection on
 * the same four-tuple: the old one ended unseen. */
static int syn_starts_anew(const struct flow *f, enum trace_dir dir,
                           const struct record_packet *pkt)
{
    const struct dir *d = &f->d[dir];
    if ((pkt->flags & (RECORD_TCP_SYN | RECORD_TCP_ACK | RECORD_TCP_RST)) != RECORD_TCP_SYN)
        return 0;
    return d->started && !(d->syn && d->isn == pkt->seq);
}

/* A packet of no known connection. @return the new connection, or NULL (ignored or
 * refused; *rc says which). */
static struct flow *flow_admit(struct tcp_table *t, uint64_t h, const struct record_packet *pkt,
                               enum trace_dir *dir, int *rc)
{
    int syn = (pkt->flags & RECORD_TCP_SYN) != 0;
    if ((pkt->flags & RECORD_TCP_RST) || (!syn && pkt->payload_wire == 0)) {
        t->st.segments_ignored++; /* nothing to start a stream with */
        return NULL;
    }
    const struct recent *c = recent_slot(t->closed, h);
    if (!syn && c->key == (h | 1) && t->now - c->ts < CLOSED_QUIET_NS) {
        t->st.segments_ignored++; /* a late copy after a FIN or RST close */
        t->st.bytes_dup += pkt->payload_len;
        return NULL;
    }
    struct flow *f = NULL;
    if (t->nflows < t->o.max_flows) {
        f = flow_new(t, h, pkt, dir);
        if (f)
            return f;
    }
    struct recent *r = recent_slot(t->refused, h);
    if (r->key != (h | 1)) {
        r->key = h | 1;
        t->st.flows_dropped++;
    }
    t->st.bytes_dropped += pkt->payload_wire;
    *rc = t->nflows < t->o.max_flows ? RT_ENOMEM : RT_ELIMIT;
    return NULL;
}

/* ---- the table ----------------------------------------------------------------------- */

struct tcp_table *tcp_table_new(const struct tcp_opts *opts, const struct tcp_callbacks *cb,
                                void *ctx, struct rt_err *err)
{
    struct tcp_table *t = calloc(1, sizeof *t);
    if (!t) {
        rt_err_set(err, RT_ENOMEM, "out of memory for the TCP table");
        return NULL;
    }
    if (opts)
        t->o = *opts;
    if (t->o.ports && t->o.ports->n > 0)
        t->ports = *t->o.ports;
    else
        t->ports = (struct record_ports){{RECORD_DEFAULT_PORT}, 1};
    t->o.ports = NULL; /* copied: the caller's list need not outlive the table */
    if (t->o.max_flows == 0)
        t->o.max_flows = DEFAULT_MAX_FLOWS;
    if (t->o.max_buffer_dir == 0)
        t->o.max_buffer_dir = DEFAULT_MAX_BUFFER_DIR;
    if (t->o.max_buffer_total == 0)
        t->o.max_buffer_total = DEFAULT_MAX_BUFFER_TOTAL;
    if (t->o.hole_timeout_ns == 0)
        t->o.hole_timeout_ns = DEFAULT_HOLE_TIMEOUT_NS;
    if (t->o.idle_timeout_ns == 0)
        t->o.idle_timeout_ns = DEFAULT_IDLE_TIMEOUT_NS;
    uint64_t shortest =
        t->o.hole_timeout_ns < t->o.idle_timeout_ns ? t->o.hole_timeout_ns : t->o.idle_timeout_ns;
    t->sweep_ns = shortest / 4 ? shortest / 4 : 1;
    if (cb)
        t->cb = *cb;
    t->ctx = ctx;
    t->next_id = 1;
    t->max_bucket = INITIAL_BUCKETS;
    while (t->max_bucket < t->o.max_flows && t->max_bucket < ((size_t)1 << 30))
        t->max_bucket *= 2;
    t->nbucket = INITIAL_BUCKETS;
    t->bucket = calloc(t->nbucket, sizeof *t->bucket);
    if (!t->bucket) {
        free(t);
        rt_err_set(err, RT_ENOMEM, "out of memory for the TCP table");
        return NULL;
    }
    /* A secret seed keeps crafted traffic from piling every flow into one hash chain; the
     * output does not depend on it (nothing is delivered in hash order). */
    if (getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != (ssize_t)sizeof t->seed)
        t->seed = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull;
    return t;
}

int tcp_table_input(struct tcp_table *t, const struct record_packet *pkt)
{
    t->st.segments++;
    if (pkt->ts > t->now)
        t->now = pkt->ts;
    if (t->now >= t->next_sweep) {
        tcp_table_expire(t, t->now);
        t->next_sweep = t->now + t->sweep_ns;
    }
    uint64_t h = flow_hash(t, &pkt->src, &pkt->dst);
    enum trace_dir dir = TRACE_DIR_TO_SERVER;
    struct flow *f = flow_find(t, h, &pkt->src, &pkt->dst, &dir);
    if (f && syn_starts_anew(f, dir, pkt)) {
        flow_close(t, f, TRACE_CLOSE_IDLE, pkt->ts);
        f = NULL;
    }
    int rc = 0;
    if (!f && (f = flow_admit(t, h, pkt, &dir, &rc)) == NULL)
        return rc;
    f->last_ts = t->now;
    lru_unlink(t, f);
    lru_append(t, f);
    if (pkt->flags & RECORD_TCP_ACK)
        ack_input(t, f, dir, pkt->ack, pkt->ts);
    segment_input(t, f, dir, pkt);
    if (pkt->flags & RECORD_TCP_RST)
        flow_close(t, f, TRACE_CLOSE_RST, pkt->ts);
    else if (f->d[0].done && f->d[1].done)
        flow_close(t, f, TRACE_CLOSE_FIN, pkt->ts);
    return 0;
}

void tcp_table_expire(struct tcp_table *t, uint64_t now)
{
    /* a clock behind the packets (a timer's, or a pcap file's out-of-order timestamps) must
     * not make every connection look idle for 2^64 ns */
    if (now > t->now)
        t->now = now;
    else
        now = t->now;
    while (t->oldest && now - t->oldest->last_ts >= t->o.idle_timeout_ns)
        flow_close(t, t->oldest, TRACE_CLOSE_IDLE, now);
    if (t->holed_dirs == 0)
        return;
    for (struct flow *f = t->oldest, *nx; f; f = nx) {
        nx = f->next;
        if (!f->d[0].holed && !f->d[1].holed)
            continue;
        dir_check_time(t, f, TRACE_DIR_TO_SERVER, now);
        dir_check_time(t, f, TRACE_DIR_TO_CLIENT, now);
        if (f->d[0].done && f->d[1].done)
            flow_close(t, f, TRACE_CLOSE_FIN, now);
    }
}

void tcp_table_flush(struct tcp_table *t, uint64_t now)
{
    if (now > t->now)
        t->now = now;
    while (t->oldest)
        flow_close(t, t->oldest, TRACE_CLOSE_END, now);
}

void tcp_table_stats(const struct tcp_table *t, struct tcp_stats *s)
{
    *s = t->st;
    s->flows_active = t->nflows;
    s->buffered_bytes = t->held;
}

void tcp_table_free(struct tcp_table *t)
{
    if (!t)
        return;
    while (t->oldest) {
        struct flow *f = t->oldest;
        t->oldest = f->next;
        free_segs(t, &f->d[0]);
        free_segs(t, &f->d[1]);
        free(f);
    }
    free(t->bucket);
    free(t);
}
