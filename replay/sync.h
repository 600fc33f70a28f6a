/* sync.h: --sync keys: the recorded order between connections that touch the same keys
 * (sync.c says the rule). Internal to the replay library. */
#ifndef RESPTRACE_REPLAY_SYNC_H
#define RESPTRACE_REPLAY_SYNC_H

#include <stddef.h>
#include <stdint.h>

/* What a request does to the order. */
enum sync_kind {
    SYNC_NONE = 0,  /* keyless and harmless (PING, INFO), or unknown: not ordered */
    SYNC_KEYS,      /* touches its keys (reads and writes as flagged) */
    SYNC_BARRIER,   /* may touch anything (a keyless write, a script without keys) */
    SYNC_BLOCKING,  /* a blocking command: waits for what came before, nothing waits for it */
    SYNC_MULTI,     /* opens a transaction: the commands until EXEC take effect at EXEC */
    SYNC_EXEC,
    SYNC_DISCARD
};

struct sync_key {
    uint64_t hash;  /* of the database and the key's bytes, as sent */
    uint8_t write;
    /* a write that sets the key to what its arguments alone say, with a reply that does not
     * depend on the key (SET k v, with a TTL option): the hash of its arguments, else 0. Two
     * such writes with the same arguments, one after the other on the key, leave the same
     * state and replies in either order (sync.c: identical writes) */
    uint64_t same;
};

struct sync_req {
    uint64_t id;        /* the global id: trace seq + loop * the trace's request count */
    uint64_t conn;      /* the recorded connection (with the loop), for MULTI/EXEC */
    unsigned owner;     /* the worker that replays it */
    unsigned kind;      /* enum sync_kind */
    const struct sync_key *keys;
    size_t nkeys;
};

struct sync_stats {
    uint64_t taken;      /* own requests taken */
    uint64_t waited;     /* of them, had to wait for another's */
    uint64_t barriers;   /* own barriers */
    uint64_t unordered;  /* taken without order (no memory) */
    uint64_t sweeps;     /* key table cleanups */
    uint64_t overlapped; /* own requests on a key another connection's request had open in the
                          * recording (its reply not yet come): their order is a guess */
    uint64_t commuted;   /* own identical writes (sync_key.same) that did not wait for the
                          * same write before them, still unanswered */
};

struct sync_shared;
struct sync_w;

typedef void (*sync_kick_fn)(void *arg);          /* wake a worker's loop (another thread) */
typedef void (*sync_wake_fn)(void *ctx, void *req); /* one reason for `req` to wait is gone */

/*! sync_shared_new() : the state the `nworkers` workers share, for ids 0..nids-1.
 *  @return it (sync_shared_free), or NULL on out of memory. */
struct sync_shared *sync_shared_new(unsigned nworkers, uint64_t nids);
void sync_shared_free(struct sync_shared *sh);

/*! sync_set_kick() : how to wake `worker` when its inbox gets a message (from any thread). */
void sync_set_kick(struct sync_shared *sh, unsigned worker, sync_kick_fn kick, void *arg);

/*! sync_is_done() : 1 when request `id` was answered (ids out of range: 1). */
int sync_is_done(const struct sync_shared *sh, uint64_t id);

/*! sync_w_new() : worker `me`'s part (used from its thread only). */
struct sync_w *sync_w_new(struct sync_shared *sh, unsigned me);
void sync_w_free(struct sync_w *s);
const struct sync_stats *sync_w_stats(const struct sync_w *s);
/*! sync_w_keys() : keys in the worker's table now (for the memory bound's test). */
size_t sync_w_keys(const struct sync_w *s);
/*! sync_w_places() : the places of the worker's key table (its memory: 64 bytes each). */
size_t sync_w_places(const struct sync_w *s);

/*! sync_prefetch() : brings the key table's places of q's keys into the cache (a hint: call
 *  it some work before sync_take() of the same request). */
void sync_prefetch(const struct sync_w *s, const struct sync_req *q);

/*! sync_prefetch_key() : the same for one key (before sync_forget() of it). */
void sync_prefetch_key(const struct sync_w *s, uint64_t key);

/*! sync_take() : a request read from the trace, every worker's, in trace order. For this
 *  worker's (q->owner == me) `*pending` is the number of earlier requests it must wait for;
 *  `wake(ctx, req)` is called once as each of them is answered. @return 0, or -1 when out of
 *  memory (the request is then not ordered: *pending 0, counted). */
int sync_take(struct sync_w *s, const struct sync_req *q, void *req, uint32_t *pending);

/*! sync_recorded_reply() : the trace's reply to request `id` was read (any worker's: every
 *  worker reads the whole trace). What was answered in the recording before a request was sent
 *  ran before it; what was not overlapped it (sync_stats.overlapped). */
void sync_recorded_reply(struct sync_w *s, uint64_t id);

/*! sync_answered() : an own request was answered (or lost, skipped, dropped: it will not run
 *  later): own waiters are woken, other workers told. */
void sync_answered(struct sync_w *s, uint64_t id, sync_wake_fn wake, void *ctx);

/*! sync_forget() : an own request on key `key` was answered (after sync_answered): the key's
 *  entry goes when nothing on the key is open any more (in the replay and in the
 *  recording), instead of waiting for the next sweep of the table. */
void sync_forget(struct sync_w *s, uint64_t key);

/*! sync_w_release() : the worker ends: every registered wait is given to `drop` once (to let
 *  go of what the waiting requests hold) and forgotten. */
void sync_w_release(struct sync_w *s, sync_wake_fn drop, void *ctx);

/*! sync_drain() : handles the inbox (call when kicked): wakes own waiters of answered requests
 *  of other workers, and answers other workers' questions about own requests. */
void sync_drain(struct sync_w *s, sync_wake_fn wake, void *ctx);

#endif
