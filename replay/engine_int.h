/* engine_int.h: what the replay engine's files share and nobody else sees: a worker thread's
 * state, the requests it reads from the trace and the connections it keeps.
 *
 * Each worker thread owns one of these `struct worker`s and everything reachable from it (its
 * requests, recorded connections and target connections); nothing here is shared between
 * threads except through the mutex-protected status fields the main thread reads. The files
 * including this header are the engine's seams; the other files of replay/ see replay_int.h
 * only.
 */
#ifndef RESPTRACE_ENGINE_INT_H
#define RESPTRACE_ENGINE_INT_H

#include "replay.h"
#include "replay_int.h"
#include "sync.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#define NS 1000000000ull
#define MAX_CMDS 512 /* distinct command names tracked per worker */

/* ---- data structures ------------------------------------------------------------------- */

enum req_kind { K_REQ = 0, K_CLOSE = 1, K_INTERNAL = 2, K_PART = 3 /* of a split request */ };

/* special handling of some commands */
enum {
    S_NONE = 0, S_SELECT, S_HELLO, S_AUTH, S_SUBSCRIBE, S_UNSUBSCRIBE, S_RESET, S_QUIT,
    S_MULTI, S_EXEC /* EXEC or DISCARD */, S_WAIT /* resptrace's WAIT after a write */,
    S_FILL /* --read-through: a write-back after a miss (fill.c) */
};

struct rconn;

/* A request of the replay, from when it is read to when its reply is checked. Its fields are
 * in the order the request's life reads them, and it starts on a cache line (eng_req_new): the
 * read-ahead holds a thousand or more requests, so by the time a connection's pump looks at
 * one (several times: until it may go) or its reply comes, it has left the core's caches, and
 * each line it reads then is a miss. The first line is what the pump and the send read, the
 * second what the send writes and the reply reads; the rest is for less common paths. (In
 * declaration order the pump read four lines a request; replaying redis-benchmark's pipelined
 * trace with --speed max, callgrind's simulation of a 512 KiB cache counted 3.9 misses a
 * request in the pump then, 1.9 now.) */
struct req {
    /* -- sending: the pump (sched.c) and the send */
    struct req *next;      /* due queue / ready queue / a connection's pending or retry list */
    uint64_t due;          /* monotonic ns */
    uint64_t sched_due;    /* the recorded schedule's time for it (slip is due - this) */
    struct req **parts;    /* a split request: its parts (NULL when whole) */
    char *wire;            /* the RESP bytes to send (freed once written on a standalone target:
                            * only cluster mode may send it again) */
    size_t wlen;
    uint32_t max_out;      /* recorded unanswered requests of the connection when it was sent */
    uint32_t sync_pending; /* --sync keys: earlier requests on its keys still unanswered */
    int32_t slot;          /* cluster: the slot it goes to; -1 keyless */
    uint8_t hold;          /* MULTI whose slot is not known yet: not sendable */
    uint8_t in_tx;         /* between MULTI and EXEC/DISCARD: goes where MULTI went */
    uint8_t is_read;       /* readonly command (--read-from-replicas) */
    /* pacing (sched.c): a chained request is sent when its predecessor's reply arrives in the
     * replay, plus the recorded gap (over --speed); a scheduled one at its recorded time */
    uint8_t chained;
    /* -- sent, and answered */
    uint8_t shifted;       /* scheduled: moved by its connection's slip */
    uint8_t expect;        /* a reply is expected */
    uint8_t kind, special;
    uint32_t refs;         /* queue/in flight + awaiting the recorded reply */
    struct req *inext;     /* in-flight list of a target connection */
    struct rconn *rc;
    uint64_t sent;         /* monotonic ns */
    size_t qbytes;         /* what it holds while waiting to be sent (read-ahead bound) */
    uint64_t sync_id;      /* --sync keys (sync.c) */
    uint64_t sync_key;     /* its one key's hash, forgotten by the order once it is answered */
    uint16_t cmd;          /* index of the per-command stats */
    uint8_t rec_state;     /* 0 awaited, 1 known, 2 none will come */
    uint8_t got;           /* the target's reply came */
    uint8_t rec_rtype, got_rtype;
    uint8_t synced;        /* taken by the order: answered to it when it ends */
    uint8_t sync_one;      /* sync_key is set */
    /* -- the rest */
    uint8_t proto;
    uint8_t fill;          /* --read-through: 1 GET/GETEX, 2 HGET, 3 a read without a rule */
    uint8_t blocking;      /* may wait on the server for long (no reply timeout) */
    uint8_t discarded;     /* left its queue without being sent (the replay ended) */
    uint32_t rec_size;     /* the recorded reply's payload bytes */
    uint64_t gap_ns;       /* chained: the recorded gap after the predecessor's reply, scaled */
    uint64_t sync_blocked_at; /* when it first waited for them at the head of its queue */
    uint64_t seq;          /* recorded seq */
    uint32_t db;           /* recorded db */
    int32_t node;          /* the node it was last sent to; -1 */
    uint32_t nparts, parts_left;
    struct req *parent;    /* K_PART: the split request */
    uint8_t asking;        /* resent after ASK: ASKING first */
    uint8_t redirects;     /* MOVED/ASK/TRYAGAIN followed so far */
    uint8_t part_err;      /* a split request: a part failed */
    uint8_t part_msg;      /* a split request: its failed part's message was counted */
    uint8_t split_kind;    /* a split request: its merged reply type */
    uint8_t vw_ok;         /* --verify-writes: its reply acknowledged it; the WAIT after it is
                            * awaited */
    uint64_t retry_at;     /* TRYAGAIN: when to send it again */
    struct vwrite *vw;     /* --verify-writes: the keys it sets */
    int64_t vw_ival;
    uint64_t fill_hash;    /* the recorded key (database and bytes), for its TTL */
    uint32_t replies_left; /* subscribe family: confirmations still to come */
    int64_t arg;           /* SELECT db / HELLO protover */
} __attribute__((aligned(64)));
_Static_assert(offsetof(struct req, shifted) == 64 && offsetof(struct req, proto) == 128,
               "struct req: the pump's line, then the send's and the reply's");

struct tconn;

/* The target connections of one recorded connection (or of one fold slot with
 * --connections N): one per node, opened on first use; standalone has node 0 only. */
struct tgroup {
    struct tconn **tc;     /* by node index */
    size_t ntc;
    struct rconn **users;  /* recorded connections sending through it */
    size_t nusers, capusers;
};

struct worker;

struct rconn {
    uint64_t key;          /* recorded connection id, loop in the top bits */
    struct worker *w;
    struct rconn *hnext;
    struct tgroup *g;
    uint32_t home_slot;    /* cluster: keyless commands go to this slot's node */
    int32_t tx_node;       /* cluster: the node of the open transaction; -1 */
    struct req *tx_multi;  /* the MULTI waiting for the slot of its first key */
    int32_t tx_slot;       /* the transaction's first slot (read side); -1 */
    uint8_t in_tx, tx_cross;
    uint8_t vw_tx;         /* --verify-writes: between MULTI and EXEC/DISCARD (read side) */
    uint8_t pumping;       /* inside eng_rconn_pump: a nested call (a connection failing at once,
                            * a request completing as it is sent) leaves the work to it */
    struct req *rhead, *rtail; /* ready to send, in order */
    uint32_t out;          /* sent and unanswered on the replay side */
    uint32_t rec_out;      /* unanswered in the recording so far */
    uint32_t pending;      /* its requests in the due or ready queue */
    uint64_t unblocked_at; /* when the last reply arrived (a waiting request may go) */
    uint64_t pace_debt;    /* the replayer's lateness sending chained requests, not yet taken
                            * back from the next gaps (sched.c) */
    uint64_t last_rec_reply_ts; /* the trace time of its last recorded reply (chains) */
    int64_t slip_ns;            /* how far behind its recording it runs (its last chained
                                 * request's due time after its recorded time) */
    struct event *timer;        /* its head request's time: its recorded time (scheduled), or
                                 * its predecessor's reply plus the recorded gap (chained) */
    int closing;           /* the recorded connection closed: close after draining */
    /* requests whose recorded reply is awaited, in order */
    struct req **wait;     /* a ring of wait_cap entries (a power of two) */
    size_t wait_head, wait_n, wait_cap;
};

enum { TC_IDLE = 0, TC_CONNECTING, TC_READY, TC_DOWN, TC_CLOSED };

struct worker;

struct tconn {
    struct worker *w;
    struct bufferevent *bev;   /* TLS: libevent's OpenSSL bufferevent; NULL for plain TCP */
    /* plain TCP: the socket and its events, driven here (tconn.c says why) */
    int fd;                    /* -1: none */
    struct event *rev, *wev;   /* read (persistent); write (only while output waits, and
                                * while connecting) */
    int wev_on, conn_errno;
    uint8_t *obuf;             /* output not yet written: [ooff, olen) */
    size_t olen, ooff, ocap;
    int dirty;                 /* on the worker's list of connections to write out */
    struct event *retry;
    int state;
    int ever_ready;
    int authed, subscribed, quitting;
    uint32_t db;
    uint8_t proto;
    unsigned attempts;
    uint64_t down_since;
    struct req *ihead, *itail; /* in flight, in order */
    size_t nin;
    struct rconn **users;      /* recorded connections sending here */
    size_t nusers, capusers;
    uint8_t *rbuf;
    size_t rlen, rcap, need;
    struct rstream *rs;        /* a large reply being framed as it streams (NULL: none) */
    struct tgroup *g;
    int node;                  /* index in the worker's topology */
    int readonly;              /* READONLY sent (a replica serving reads) */
    int timed;                 /* the reply timeout is armed */
    int parked;                /* down, and not retried: its node left the topology */
    struct req *phead, *ptail; /* redirected here before the connection was up */
    int busy, doomed;          /* freed inside its own callback: freed when it returns */
    int throttled;             /* its output is full: pump again when it drains */
};

struct shard_stat {
    uint64_t sent, ops, errors, moved, ask, tryagain;
    struct rt_hist *lat;
};

struct cmd_stat {
    struct replay_cmd_result r;
};

/* what a known command's name decides (keys.c: eng_req_make), by its table entry */
struct cmd_memo {
    const struct rt_cmd *c;
    uint16_t ci;      /* its per-command stats */
    uint8_t special;  /* S_* */
    uint8_t blocking; /* may wait on the server for long */
    uint8_t why_set;  /* `why` holds for every request of the command: its skip reason does
                       * not depend on its arguments (no list names a subcommand of it, and it
                       * is not SELECT) */
    int8_t why;       /* REPLAY_SKIP_* or -1 */
};

/* a command name of up to 8 bytes, as sent, and its table entry (keys.c: eng_req_cmd) */
struct name_memo {
    uint64_t k;
    const struct rt_cmd *c;
    uint8_t n; /* 0: empty */
};

struct worker {
    const struct replay_opts *o;
    struct cmd_memo cmemo[64];
    struct name_memo nmemo[16];
    const struct trace_request *lk_q; /* eng_req_cmd()'s last lookup */
    const char *const *lk_argv;
    uint64_t lk_seq;
    const struct rt_cmd *lk_cmd;
    int lk_set;
    const struct rt_cmd *c_multi, *c_exec, *c_discard, *c_set; /* the table's entries
                                                                * (--sync keys) */
    unsigned id, nthreads;
    struct event_base *base;
    struct trace_reader *rd;
    struct scale_copy *copies; /* --scale N: a reader per copy (scale.c); NULL when 1 */
    unsigned ncopies;
    struct rt_err err;
    int fatal;
    SSL_CTX *ssl;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    /* read-ahead */
    struct trace_event ev;
    int have_ev, eof;
    unsigned loop;
    uint64_t trace_t0, trace_last, loop_off, wall_t0, rate_k;
    int t0_set;
    size_t buffered, max_buffered;         /* requests read and not yet sent */
    int ahead_adaptive;                    /* --speed max, no bound set in replay_opts:
                                            * the bound follows what is in flight (eng_ahead) */
    size_t buffered_bytes, max_buffered_bytes; /* their bytes: a few huge requests bound the
                                            * read-ahead as well as many small ones */
    struct req *dhead, *dtail; /* due queue */
    struct event *due_timer, *fill_timer, *house_timer, *drain_timer;
    uint64_t eof_at;
    uint64_t first_send;
    /* a blocking control connection for COMMAND GETKEYS (commands the table cannot resolve) */
    struct rt_ctl ctl;
    int ctl_failed;
    int no_table_keys; /* RESPTRACE_KEYS_FROM_TARGET=1: always ask the target (tests) */
    /* connections */
    struct rconn **ht;
    size_t htcap, nrconn;
    struct tgroup *fold;
    size_t nfold;
    /* the topology: standalone is one node (the target) serving every slot */
    int cluster;
    struct cl_topo topo;
    struct shard_stat *shards; /* by node index */
    struct shard_stat shard_sink; /* eng_shard out of memory: counts nothing */
    size_t nshards;
    struct rt_ctl tctl;        /* for topology refreshes */
    struct event *refresh_timer;
    uint64_t last_refresh;
    int refresh_armed;
    struct req *retry_head;    /* waiting for a TRYAGAIN retry */
    struct vw_table *vw;       /* --verify-writes */
    uint64_t *fill_ttl_key;    /* --read-through: keys' recorded TTLs (fill.c) */
    uint32_t *fill_ttl_ms;
    int64_t last_ival;         /* the integer of the reply being completed */
    struct event *retry_timer;
    uint64_t unroutable_since; /* a request found no node for its slot (0: none waits) */
    uint64_t reply_timeout_ns;
    uint64_t live_tconns;
    size_t inflight; /* requests of the trace sent and unanswered */
    size_t inflight_blocking; /* of them, blocking commands (they may rightly wait long) */
    uint64_t last_progress;   /* when a request was last answered, lost or dropped */
    uint64_t stall_ns;        /* no progress this long with requests waiting: stalled */
    /* the error reply being completed (for the per-message counts) */
    const char *cur_err;
    size_t cur_errlen;
    int err_counted;          /* the message of a split request's failed part was counted */
    struct replay_errmsg *errs; /* every command's error replies by message */
    size_t nerrs;
    /* stats */
    struct replay_result res;
    struct cmd_stat *cmds;
    size_t ncmds;
    struct rt_hist *delta_lat; /* since the last status snapshot */
    uint64_t lag_max_interval;
    /* status shared with the main thread */
    pthread_mutex_t *mu;
    struct rt_hist *shared_lat, *shared_sec;
    struct replay_status *shared;
    uint64_t shared_lag;
    volatile int *stop;
    struct start_gate *gate; /* the workers start together, or none does (engine.c) */
    uint64_t deadline;
    int stopping;             /* 1: --duration ended: nothing more is sent, replies in flight
                               * are awaited; 2: a signal: the loop ends now */
    /* pacing */
    uint64_t last_due;        /* the latest due time of a request read (the drain counts from it) */
    int loop_wait;            /* --loop: the end of a pass is read; the next waits for it to end */
    uint64_t chain_gap_ns;    /* --pace auto: a request sent this soon after its connection's
                               * last reply (nothing outstanding) was chained to it */
    /* --sync keys */
    struct sync_w *sync;
    uint64_t sync_nreq;       /* the trace's request count (ids: loop * this + seq) */
    struct event *flush_ev;   /* writes out the plain connections' output (tconn.c) */
    struct tconn **dirty;     /* the connections with output to write out */
    size_t ndirty, capdirty;
    struct event *sync_ev;    /* kicked by other workers: its inbox has messages (set and
                               * cleared under mu, which the kicks take) */
    int sync_ev_gone;
    uint64_t sync_blocked;    /* own requests waiting for others now */
    struct sync_key *skeys;   /* scratch for a request's key hashes */
    size_t skcap;
    uint32_t *spos;
    size_t spcap;
};

/* a recorded reply awaited (rconn.wait, a ring) */
struct wait_ent {
    uint64_t seq;
    struct req *r; /* NULL for a request that was not sent */
};

/* ---- helpers --------------------------------------------------------------------------- */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* arms a timer `ns` nanoseconds from now */
static inline void arm_in(struct event *ev, uint64_t ns)
{
    struct timeval tv = {(time_t)(ns / NS), (long)(ns % NS / 1000)};
    evtimer_add(ev, &tv);
}

static inline uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Memory in a worker. The library never aborts: a failed allocation fails the run with
 * RT_ENOMEM (eng_fatal: the worker's loop stops) and returns NULL (eng_grow: -1, the old block
 * kept), and the caller gives up what it was doing without a trace of it; nothing of a failed
 * run is used afterwards but its error. */
void eng_fatal(struct worker *w, int code, const char *msg);
static inline void *eng_calloc(struct worker *w, size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        eng_fatal(w, RT_ENOMEM, "out of memory while replaying");
    return p;
}

/* grows *pp (any pointer's address) to `sz` bytes: 0, or -1 with *pp untouched */
static inline int eng_grow(struct worker *w, void *pp, size_t sz)
{
    void *q = realloc(*(void **)pp, sz);
    if (!q) {
        eng_fatal(w, RT_ENOMEM, "out of memory while replaying");
        return -1;
    }
    *(void **)pp = q;
    return 0;
}

static inline int is_err_type(unsigned t) { return t == TRACE_R_ERROR || t == TRACE_R_BLOB_ERROR; }

static inline int name_eq(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && strncasecmp(a, b, blen) == 0;
}

/* The read-ahead bound in requests. At --speed max nothing but this bound limits how far the
 * trace is read, and reading 16 Ki requests ahead of the sends cost the pipelined benchmark a
 * third of its throughput: each request's structure and wire bytes were made megabytes before
 * they were sent and answered, out of the cache by then (the memcpy of its wire bytes into the
 * output alone was 5% of the CPU). What must be read ahead there is what keeps every connection
 * busy: the next requests of everything in flight. So the bound is what is in flight plus 512
 * (a start, and room for connections that are waiting), within max_buffered. A paced replay
 * reads LOOKAHEAD_NS ahead of its schedule, within max_buffered. */
static inline size_t eng_ahead(const struct worker *w)
{
    if (!w->ahead_adaptive)
        return w->max_buffered;
    size_t b = w->inflight + 512;
    return b < w->max_buffered ? b : w->max_buffered;
}

/* ---- what the engine's files call in each other ------------------------------------------ */

/* engine.c: the worker loop */

/* stops the worker's loop on an error the replay cannot go on after (the first one is kept) */
void eng_fatal(struct worker *w, int code, const char *msg);

/* sched.c: scheduling and pacing */

/* a request read from the trace leaves the read-ahead (sent, dropped or discarded) */
void eng_unbuffer(struct worker *w, const struct req *r);
/* drops a reference to a request: the last one frees it (and a split request's parts) */
void eng_release(struct req *r);
/* requests and their wire bytes, recycled per worker thread (sched.c says why): a zeroed
 * request; a buffer for `len` bytes of wire form, freed with the same `len` */
struct req *eng_req_new(struct worker *w); /* NULL: out of memory (the run fails) */
char *eng_wire_alloc(struct worker *w, size_t len); /* NULL: out of memory */
void eng_wire_free(char *wire, size_t len);
void eng_pools_free(void); /* what the calling thread kept: at its end */
/* the bookkeeping (lag, counts) of a request leaving its recorded connection's queue */
void eng_account_send(struct worker *w, struct rconn *rc, struct req *r, uint64_t now);
/* sends what is ready on a recorded connection, as far as the recorded pipelining allows */
void eng_rconn_pump(struct rconn *rc);
/* the same at `now` (a reply's time: its requests leave at the end of this loop turn anyway,
 * and one clock read per reply was 2.5% of a pipelined replay's CPU); 0: the clock is read
 * when something needs it (eng_rconn_pump) */
void eng_rconn_pump_at(struct rconn *rc, uint64_t now);
/* reads the trace ahead of the schedule, within the read-ahead bounds */
void eng_worker_fill(struct worker *w);
/* the timer of a recorded connection fired: its head request's time has come */
void eng_rc_timer_cb(evutil_socket_t fd, short what, void *arg);
/* --sync keys: a reason for request `req` to wait is gone (sync_wake_fn; ctx: the worker) */
void eng_sync_wake(void *ctx, void *req);
/* --sync keys: the request will not wait any more (answered, lost, dropped, skipped) */
void eng_sync_answered(struct worker *w, struct req *r);
/* the chunks its reader skipped for an encoding this version cannot read, into the result */
void eng_note_unreadable(struct worker *w);
/* ends the loop once everything read was sent and answered (or --duration's replies came) */
void eng_worker_check_done(struct worker *w);
/* how long the end waits for late replies once nothing more happens (--drain) */
uint64_t eng_drain_ns(const struct worker *w);
/* the timers: due requests to their connections, more read-ahead, the drain's end */
void eng_due_cb(evutil_socket_t fd, short what, void *arg);
void eng_fill_cb(evutil_socket_t fd, short what, void *arg);
void eng_drain_cb(evutil_socket_t fd, short what, void *arg);

/* rconn.c: recorded connections */

/* the recorded connection `key` (connection id, loop in the top bits), or NULL */
struct rconn *eng_rconn_find(struct worker *w, uint64_t key);
/* the recorded connection `key`, made (with its group of target connections) when new */
struct rconn *eng_rconn_get(struct worker *w, uint64_t key, uint64_t conn);
/* a request whose recorded reply is awaited, in order (`r` NULL: a request not sent) */
int eng_wait_push(struct rconn *rc, uint64_t seq, struct req *r);
/* the oldest awaited recorded reply came (`known`, of type `rtype`) or never will */
void eng_wait_pop(struct worker *w, struct rconn *rc, int known, unsigned rtype, uint64_t size);
/* a recorded reply read from the trace, paired with its request */
void eng_rec_reply(struct worker *w, struct rconn *rc, const struct trace_reply *rp);
/* frees a recorded connection: what it still queues is unsent, what is in flight detached */
void eng_rconn_free(struct worker *w, struct rconn *rc);

/* keys.c: key policy */

/* what eng_req_make found that the scheduling of the request needs */
struct req_plan {
    uint8_t special; /* S_* */
    uint8_t expect;  /* a reply is expected */
    uint8_t cross;   /* cluster: its keys span slots */
    int32_t slot;    /* cluster: the slot of its first key; -1 */
};

/* a request read from the trace, decided (skipped or kept), its keys found and rewritten */
struct req *eng_req_make(struct worker *w, struct rconn *rc, const struct trace_request *q,
                         uint64_t due, struct req_plan *pl);
/* a RESP array of bulk strings, `prefix` before the arguments `iskey` marks (xcalloc'd) */
/* --sync keys: the kind and key hashes of a request (any worker's) into `sq` (keys borrowed
 * until the next call). @return 0, or -1 when the order cannot place it (unknown command, keys
 * not found): it is then not ordered */
int eng_sync_req(struct worker *w, const struct trace_request *q, struct sync_req *sq);
/* the command table's entry of q (NULL: unknown), looked up once per request */
const struct rt_cmd *eng_req_cmd(struct worker *w, const struct trace_request *q);
/* scale.c: --scale N */
struct scale_copy;
int eng_scale_open(struct worker *w);
int eng_scale_reopen(struct worker *w);
void eng_scale_close(struct worker *w);
int eng_scale_next(struct worker *w, struct trace_event *out);

/* fill.c: --read-through */
void eng_fill_learn(struct worker *w, const struct trace_request *q, uint64_t ts_ns);
void eng_fill_mark(struct worker *w, struct req *r, const struct trace_request *q);
void eng_fill_miss(struct worker *w, struct req *r);
/* writes a write-back on the connection `r` was answered on; @return 0, or -1 when it is gone */
int eng_tconn_fill(struct worker *w, struct req *r, size_t argc, const char *const *argv,
                   const size_t *lens);

char *eng_fmt_cmd(struct worker *w, size_t argc, const char *const *argv, const size_t *len,
                  const uint8_t *iskey, const char *prefix, size_t *out_len);

/* route.c: routing and redirections */

/* the node a request goes to now; -1 when no node serves its slot (inline for a standalone
 * target, node 0: every pump of every request asks) */
int eng_route_cluster(struct worker *w, struct rconn *rc, int32_t slot, int is_read, int in_tx);
static inline int eng_route(struct worker *w, struct rconn *rc, int32_t slot, int is_read,
                            int in_tx)
{
    return w->cluster ? eng_route_cluster(w, rc, slot, is_read, in_tx) : 0;
}
/* sends the parts of a split request, each to its slot's node */
void eng_send_split(struct worker *w, struct rconn *rc, struct req *p, uint64_t now);
/* follows a MOVED, ASK or TRYAGAIN: 1 when the request went on */
int eng_redirect(struct tconn *tc, struct req *r, const char *e, size_t n);
/* parses "MOVED 3999 host:port" / "ASK 3999 host:port" (an empty host: `from_host`) */
int eng_parse_redirect(const char *e, size_t n, const char *from_host, uint32_t *slot,
                       char *host, size_t hcap, uint16_t *port);
/* asks for a topology refresh (at most one every 250 ms) */
void eng_want_refresh(struct worker *w);
/* reads the topology from the target, else the seeds: 1 cluster, 0 not, -1 with `why` */
int eng_discover(const struct replay_opts *o, SSL_CTX *ssl, struct cl_topo *topo, char *why,
                 size_t cap);
/* the timers: TRYAGAIN retries, topology refreshes */
void eng_retry_req_cb(evutil_socket_t fd, short what, void *arg);
void eng_refresh_cb(evutil_socket_t fd, short what, void *arg);

/* tconn.c: target connections */

/* the group's connection to `node`, opened on first use (inline when it is there: every pump
 * of every request asks) */
struct tconn *eng_group_tc_open(struct worker *w, struct tgroup *g, int node);
static inline struct tconn *eng_group_tc(struct worker *w, struct tgroup *g, int node)
{
    if ((size_t)node < g->ntc && g->tc[node])
        return g->tc[node];
    return eng_group_tc_open(w, g, node);
}
/* connects (again) to the connection's node */
void eng_tconn_connect(struct tconn *tc);
/* frees a target connection (when its own callback returns, if inside one) */
void eng_tconn_free(struct tconn *tc);
/* sends a recorded request on a ready connection */
void eng_tconn_send(struct tconn *tc, struct req *r, uint64_t now);
/* writes a request (a part, a redirected one) on a ready connection, puts it in flight */
void eng_tc_write_req(struct tconn *tc, struct req *r);
/* a redirected or retried request: sent now, or when the connection is up */
void eng_tconn_resend(struct tconn *tc, struct req *r);
/* the connection's output is full (backpressure): 1, and it pumps again once drained */
int eng_tc_throttled(struct tconn *tc);
/* writes out every plain connection's pending output (a connection's requests of one loop
 * turn leave in one system call) */
void eng_flush(struct worker *w);
void eng_flush_cb(evutil_socket_t fd, short what, void *arg);

/* results.c: results */

/* the index of a command's statistics, made on first use */
uint16_t eng_cmd_index(struct worker *w, const char *name);
/* the statistics of node `node`, made on first use */
struct shard_stat *eng_shard(struct worker *w, int node);
/* both replies known: counts how the target's differs from the recorded one */
void eng_compare(struct worker *w, struct req *r);
/* a request answered with a reply of type `rtype` (0: none expected) */
void eng_complete(struct worker *w, struct req *r, unsigned rtype, uint64_t now);
/* a part of a split request answered (or lost: rtype 0) */
void eng_part_done(struct worker *w, struct req *q, unsigned rtype, uint64_t now);
/* a request lost with its connection: an error, no latency */
void eng_lose_req(struct worker *w, struct req *r, uint64_t now);
/* a request still in flight when the replay ends: unanswered */
void eng_abandon_req(struct worker *w, struct req *r);
/* a request of the trace leaves the in-flight count (answered, lost or abandoned) */
void eng_inflight_done(struct worker *w, const struct req *r);
/* the histograms of a result: 0, or -1 on out of memory */
int eng_result_alloc(struct replay_result *r);
/* adds worker `w`'s results into `res` */
int eng_results_merge(struct replay_result *res, struct worker *w); /* -1: out of memory */
/* the merged results in the order they are shown */
void eng_results_sort(struct replay_result *res);
/* --verify-writes: reads every acknowledged write back into `v` */
void eng_verify_writes(const struct replay_opts *o, SSL_CTX *ssl, int cluster,
                       const struct vw_table *t, struct replay_verify *v);

#endif
