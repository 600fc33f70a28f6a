/* walk.h: one pass over a trace for the analyses (stat, hotkeys, shards, prime, report): the
 * trace is read and each event decoded once, each request's command, key positions, wire size
 * and key hashes found once, and each reply paired with its request by one rule in one bounded
 * window; the analyses are callbacks on it. */
#ifndef RESPTRACE_WALK_H
#define RESPTRACE_WALK_H

#include "analysis_int.h"

#include <stdint.h>

/* ---- the pairing window ----------------------------------------------------------------------
 *
 * The rule: a reply answers the request whose sequence number it carries (the recorder paired
 * them on the wire: replies come back in the order of the connection's requests). A request
 * that expects a reply (not TRACE_REQ_NOREPLY) waits for it in the window, holding only what
 * the analyses asked to keep about it (their tags: a few counters and table indexes, and its
 * time when asked, never its arguments), in a ring indexed by sequence number:
 *  - count: the ring has RT_WALK_WINDOW places; a request still unanswered when as many later
 *    requests have been sent moves to the long waiters (a blocked BLPOP, a reply the capture
 *    lost), RT_WALK_LONG_WINDOW places indexed the same way: it is forgotten ("evicted") when
 *    a later long waiter takes its place, at least that many requests later. A reply whose
 *    request the window does not hold (anymore) is "lost"; a reply without a request
 *    (TRACE_SEQ_NONE) is "unpaired";
 *  - bytes: a place is 8 bytes (16 when the requests' times are kept) and the analyses' tags
 *    (at most RT_WALK_TAG_MAX bytes together); the ring stays in the cache (1.5 MiB for
 *    stat or hotkeys), the long waiters' places are allocated at the first one and touched
 *    only where they go. What varies with the request (the table entries of its keys) goes
 *    into one ring of RT_WALK_REFS_BYTES: a request whose references were overwritten by later
 *    ones before its reply came is paired, but its references are gone (rt_walk_refs_valid). */
/* The events that are not plain requests and replies, one way for every analysis:
 *  - a malformed request (bytes the server could not parse) is RT_WALK_MALFORMED: no command,
 *    no keys, no wire size; it waits for its reply (the server's error) like any request;
 *  - a redacted request (AUTH, HELLO AUTH: secret arguments replaced) is a request like any
 *    other: the arguments replaced are never keys;
 *  - a redacted reply (one that could hold a secret: only its type was kept) pairs like any
 *    other; its len, size and count are 0, so it adds no bytes;
 *  - a reply after a gap (TRACE_REPLY_AFTER_GAP) pairs by the sequence number the recorder
 *    gave it, like any other; gaps, pushes, notes, stats, opens and closes go to on_other. */
#define RT_WALK_WINDOW (1u << 16)
#define RT_WALK_LONG_WINDOW (1u << 20)
#define RT_WALK_TAG_MAX 96
#define RT_WALK_REFS_BYTES (8u << 20)
#define RT_WALK_NOREFS UINT64_MAX /* rt_walk_refs_take(): more than the ring holds */

/* What a request is, found once for every analysis. */
enum rt_walk_kind {
    RT_WALK_CMD = 0,     /* a command of the table (cmd set) */
    RT_WALK_UNKNOWN = 1, /* a name (or subcommand) the table does not know */
    RT_WALK_EMPTY = 2,   /* no arguments at all */
    RT_WALK_MALFORMED = 3 /* bytes the server could not parse (TRACE_REQ_MALFORMED): argv[0]
                           * is what the client sent; no command, no keys */
};

/* One request as the analyses see it. Everything is borrowed until the callback returns. */
struct rt_walk_req {
    const struct trace_event *ev;   /* the event: ts, conn */
    const struct trace_request *rq; /* &ev->u.req */
    const struct rt_cmd *cmd;       /* kind RT_WALK_CMD: the command; else NULL */
    int kind;                       /* enum rt_walk_kind */
    int keys_rc;        /* kind CMD: rt_cmd_keys()'s 0, -1 (breaks the arity or the specs) or
                         * -2 (the specs cannot tell); else -1 */
    const uint32_t *keys; /* keys_rc 0: the argv positions of the keys, in spec order */
    size_t nkeys;         /* keys_rc 0: how many (0: a command without keys) */
    const uint64_t *key_hash; /* keys_rc 0 and RT_WALK_NEED_HASH: trace_hash() of each key */
    uint64_t wire;        /* keys_rc 0 and RT_WALK_NEED_WIRE: the request encoded as a RESP
                           * array of bulk strings, in bytes */
    int waits;            /* 1: it waits for its reply in the window (its tags are kept) */
};

/* How a reply was paired (the rule above). */
enum rt_walk_pairing {
    RT_WALK_PAIRED = 0,   /* its request was waiting in the window */
    RT_WALK_UNPAIRED = 1, /* it names no request (TRACE_SEQ_NONE) */
    RT_WALK_LOST = 2      /* it names a request the window does not hold (anymore) */
};

struct rt_walk_reply {
    const struct trace_event *ev;  /* the event: ts, conn */
    const struct trace_reply *rp;  /* &ev->u.reply */
    int pairing;                   /* enum rt_walk_pairing */
    uint64_t req_ts;               /* PAIRED and RT_WALK_NEED_TS: the request's time */
};

struct rt_walk;

/* What an analysis asks the walker to compute for every request with resolved keys. */
#define RT_WALK_NEED_WIRE 0x1u /* rt_walk_req.wire */
#define RT_WALK_NEED_HASH 0x2u /* rt_walk_req.key_hash */
#define RT_WALK_NEED_TS 0x4u   /* rt_walk_reply.req_ts (each waiting request keeps its time) */
/* The analysis reads no argument bytes but those of argv[0], argv[1] and the keys: with a
 * reader opened with opts.lazy_args, a walk whose analyses all say so loads a request's
 * arguments 2.. (trace_reader_load_args) only when the command's key positions need them or
 * a key is among them; else it loads them for every request. */
#define RT_WALK_KEYS_ONLY 0x8u

/* An analysis: its callbacks (any may be NULL) and what it keeps per waiting request. */
struct rt_walk_analysis {
    void *ctx;
    unsigned needs;  /* RT_WALK_NEED_* */
    size_t tag_size; /* bytes it keeps for each waiting request (zeroed before on_request) */
    /* every request; `tag` is its part of the request's record (scratch memory, not kept,
     * when !q->waits) */
    void (*on_request)(void *ctx, struct rt_walk *w, const struct rt_walk_req *q, void *tag);
    /* every reply; `tag` is what on_request left for its request when PAIRED, else NULL */
    void (*on_reply)(void *ctx, struct rt_walk *w, const struct rt_walk_reply *p, void *tag);
    /* every other event (open, close, push, gap, stats, note, unknown types) */
    void (*on_other)(void *ctx, struct rt_walk *w, const struct trace_event *ev);
    /* after the last event read (also when the walk stopped early) */
    void (*on_end)(void *ctx, struct rt_walk *w);
};

/* Counts of the walk itself, the same for every analysis on it. */
struct rt_walk_totals {
    uint64_t events, requests, replies;
    uint64_t paired, unpaired, lost; /* replies, by enum rt_walk_pairing */
    uint64_t evicted;                /* requests forgotten unanswered (the window moved on) */
    uint64_t waiting;                /* requests still waiting for a reply */
    int have_ts;
    uint64_t first_ts;       /* the time of the first event */
    uint64_t ts_min, ts_max; /* over every event */
};

/*! rt_walk_new() : an empty walk; `cmd` names the command in out-of-memory messages.
 *  @return a walk owned by the caller (rt_walk_free). */
struct rt_walk *rt_walk_new(const char *cmd);

/*! rt_walk_add() : registers an analysis (copied), before rt_walk_run(). Analyses are called
 *  in the order they were added. @return 0, or -1 when their tags would exceed
 *  RT_WALK_TAG_MAX together. */
int rt_walk_add(struct rt_walk *w, const struct rt_walk_analysis *a);

/*! rt_walk_run() : reads every event of `r` and hands it to the analyses, showing the status
 *  line of `ps` and stopping at Ctrl-C (ps->interrupted; `ps` may be NULL); then calls their
 *  on_end. @return 0 at the end of the trace or when interrupted, -1 when reading failed
 *  (`err`; what was read before was handed out). */
int rt_walk_run(struct rt_walk *w, struct trace_reader *r, struct rt_pass *ps,
                struct rt_err *err);

/*! rt_walk_totals() : the walk's counts (borrowed). */
const struct rt_walk_totals *rt_walk_totals(const struct rt_walk *w);

/*! rt_walk_load_args() : for an analysis that said RT_WALK_KEYS_ONLY and needs the bytes of
 *  request q's arguments 2.. after all (argv[2] NULL: the reader left them compressed), from
 *  its on_request: loads them (trace_reader_load_args). @return 0, or -1 when they are
 *  damaged (the walk then reports it as it does for its own loads). */
int rt_walk_load_args(struct rt_walk *w, const struct rt_walk_req *q);

/*! rt_walk_free() : frees `w` (NULL is accepted). */
void rt_walk_free(struct rt_walk *w);

/*! rt_walk_damage() : the damage message of a walk over `r` that returned `rc`: err->msg
 *  after a read error, else salvage's first damage, else NULL; `dmg` is filled. */
const char *rt_walk_damage(const struct trace_reader *r, int rc, const struct rt_err *err,
                           struct trace_damage *dmg);

/* ---- the references ring ---------------------------------------------------------------------
 * What a waiting request keeps that varies with it (one entry per key) goes into one ring of
 * RT_WALK_REFS_BYTES: a request takes bytes at its head, and they stay its own until the head
 * has moved RT_WALK_REFS_BYTES past them. Positions are logical (they only grow). */
struct rt_walk_refs {
    uint8_t *base;
    uint64_t head;
};

/*! rt_walk_refs() : the ring of `w` (borrowed). */
struct rt_walk_refs *rt_walk_refs(struct rt_walk *w);

/*! rt_walk_refs_take() : `bytes` at the head of the ring, contiguous and 8-byte aligned (a
 *  block that would cross the ring's end starts at its beginning). @return its position, or RT_WALK_NOREFS
 *  when `bytes` exceeds half the ring (such a request keeps none: it would wipe out the
 *  references of every request waiting before it). */
static inline uint64_t rt_walk_refs_take(struct rt_walk_refs *rf, size_t bytes)
{
    if (bytes > RT_WALK_REFS_BYTES / 2)
        return RT_WALK_NOREFS;
    bytes = (bytes + 7) & ~(size_t)7; /* every block 8-byte aligned */
    uint64_t at = rf->head;
    uint64_t off = at & (RT_WALK_REFS_BYTES - 1);
    if (off + bytes > RT_WALK_REFS_BYTES)
        at += RT_WALK_REFS_BYTES - off;
    rf->head = at + bytes;
    return at;
}

/*! rt_walk_refs_valid() : 1 while the bytes at `pos` are still those written there (no later
 *  block has reached them). */
static inline int rt_walk_refs_valid(const struct rt_walk_refs *rf, uint64_t pos)
{
    return pos != RT_WALK_NOREFS && rf->head - pos <= RT_WALK_REFS_BYTES;
}

/*! rt_walk_refs_at() : the memory of position `pos` (check rt_walk_refs_valid first). */
static inline void *rt_walk_refs_at(const struct rt_walk_refs *rf, uint64_t pos)
{
    return rf->base + (pos & (RT_WALK_REFS_BYTES - 1));
}

/* ---- the analyses on a walk (one pass for the report) ------------------------------------- */

struct stat_an;
struct hk_an;
struct sh_an;

/*! stat_an_attach(), hk_an_attach(), sh_an_attach() : the analysis of `stat`, `hotkeys` (with
 *  options `o`) and `shards` (projections on `counts`, each 1..1024, split evenly) added to
 *  `w`. @return its state (free with *_an_free after the walk), or NULL when the walk has no
 *  room left for its tags (rt_walk_add: never with the three of them), or for shards, with
 *  err set, when a count is out of range. */
struct stat_an *stat_an_attach(struct rt_walk *w);
struct hk_an *hk_an_attach(struct rt_walk *w, const struct rt_hotkeys_opts *o);
struct sh_an *sh_an_attach(struct rt_walk *w, const int *counts, size_t ncounts,
                           struct rt_err *err);

/*! stat_an_json(), hk_an_json(), sh_an_json() : the JSON each command's --json prints (for
 *  shards: rt_shards_json()'s array) of the trace at `path` after a walk, with `damage` (or
 *  NULL) and `interrupted`. @return a new reference. */
json_t *stat_an_json(struct stat_an *a, const char *path, const char *damage, int interrupted);
json_t *hk_an_json(struct hk_an *a, const char *path, const char *damage, int interrupted);
json_t *sh_an_json(struct sh_an *a);

void stat_an_free(struct stat_an *a);
void hk_an_free(struct hk_an *a);
void sh_an_free(struct sh_an *a);

#endif
