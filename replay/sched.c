/* sched.c: scheduling and pacing: the trace read ahead, each request's due time, the recorded
 * pipelining kept on each connection, and the end of the replay.
 *
 * - Each request read from the trace gets a due time: the recorded offset from the start of
 *   the window divided by --speed (or k / --rate for the k-th request), on the monotonic
 *   clock. It joins its recorded connection's queue at once, in trace order; the head of the
 *   queue waits for its time on the connection's timer. (A queue per connection, not one due
 *   queue per worker: a chained request must not overtake the scheduled one before it.)
 * - Pipelining is taken from the recording: a request carries how many of its connection's
 *   requests were still unanswered in the recording when it was sent (`max_out`). The replay
 *   sends it only when at most that many are unanswered on the replay side, so what was
 *   pipelined is sent pipelined, and what waited for a reply waits for one.
 * - The trace is read LOOKAHEAD_NS ahead of the schedule, and no further than the read-ahead
 *   bounds (requests and bytes read and not yet sent), so memory stays bounded whatever the
 *   trace's size.
 * - Once the trace is read, the replay ends when everything is answered, or when nothing has
 *   happened for the drain time.
 * - Request chains (--pace auto, the default). A client in a request/response loop sends each
 *   request the moment the previous reply arrives: it was never ahead of its server, so timing
 *   it from its recorded wall-clock schedule would count a slower target's whole backlog as
 *   latency, and more the longer the trace. So a request is *chained* when the recording shows
 *   the client waiting on the server: its connection had nothing outstanding when it was sent,
 *   and it was sent at most --chain-gap (1 ms) after that connection's last reply. A chained
 *   request is due when its predecessor's reply arrives in the replay plus the recorded gap
 *   over --speed (never more than the read-ahead, 200 ms, ahead of its recorded time); latency
 *   is measured from then. Every other request (a user, a timer: a longer gap; a pipeline) keeps
 *   its recorded time and its coordinated-omission-corrected latency. How far chained requests
 *   fell behind their recorded time is the connections' *slip*. What the replayer itself was
 *   late sending a chained request (a timer's overshoot) is taken back from its connection's
 *   next gaps (chain_due()), so a loop keeps its recorded pace on a target as fast as the
 *   recorded one. --pace chained chains every
 *   request sent with nothing outstanding; --pace scheduled chains none (the open loop of 0.1).
 * - --sync keys (the default): a request also waits for the earlier requests of every
 *   connection that touched its keys (sync.c says the rule); every worker reads every request
 *   in trace order and tells the order about it, its own ones with the request to wake.
 */
#include "engine_int.h"

#define LOOKAHEAD_NS (200ull * 1000 * 1000) /* read this far ahead of the schedule */
#define REC_WAIT_MAX 4096                   /* recorded replies awaited per connection */

/* ---- the read-ahead, and a request's references ---------------------------------------- */

/* a request read from the trace leaves the read-ahead (sent, dropped or discarded) */
void eng_unbuffer(struct worker *w, const struct req *r)
{
    w->buffered--;
    w->buffered_bytes -= r->qbytes;
}

/* Requests are made as the read-ahead reads them and freed as they are answered: first in,
 * first out, with up to the read-ahead window alive at once, a pattern that misses malloc's
 * small per-thread caches (every malloc and free went through its bins: 8% of the replayer's
 * CPU on bench_replay's trace). Each worker thread keeps what it frees for what it makes next:
 * requests, and wire buffers of up to WIRE_SMALL bytes (most requests). What is kept is what
 * was alive at once (bounded by the read-ahead); released when the worker ends. */
#define WIRE_SMALL 256
static __thread struct req *req_pool;
static __thread void *wire_pool; /* linked through their first bytes */

struct req *eng_req_new(struct worker *w)
{
    struct req *r = req_pool;
    if (r) {
        req_pool = r->next;
    } else if (!(r = aligned_alloc(_Alignof(struct req), sizeof *r))) {
        eng_fatal(w, RT_ENOMEM, "out of memory while replaying");
        return NULL;
    }
    memset(r, 0, sizeof *r);
    return r;
}

char *eng_wire_alloc(struct worker *w, size_t len)
{
    if (len > WIRE_SMALL)
        return eng_calloc(w, 1, len);
    void *p = wire_pool;
    if (!p)
        return eng_calloc(w, 1, WIRE_SMALL);
    memcpy(&wire_pool, p, sizeof wire_pool);
    return p;
}

void eng_wire_free(char *wire, size_t len)
{
    if (!wire)
        return;
    if (len > WIRE_SMALL) {
        free(wire);
        return;
    }
    memcpy(wire, &wire_pool, sizeof wire_pool);
    wire_pool = wire;
}

void eng_pools_free(void)
{
    while (req_pool) {
        struct req *r = req_pool;
        req_pool = r->next;
        free(r);
    }
    while (wire_pool) {
        void *p = wire_pool;
        memcpy(&wire_pool, p, sizeof wire_pool);
        free(p);
    }
}

void eng_release(struct req *r)
{
    if (--r->refs == 0) {
        /* a split request never sent still owns its parts */
        for (uint32_t i = 0; r->parts && i < r->nparts; i++)
            eng_release(r->parts[i]);
        free(r->parts);
        vwrite_free(r->vw);
        eng_wire_free(r->wire, r->wlen);
        r->next = req_pool;
        req_pool = r;
    }
}

/* ---- pacing: sending what a recorded connection has ready ------------------------------ */

/* the bookkeeping of a request leaving its recorded connection's queue */
void eng_account_send(struct worker *w, struct rconn *rc, struct req *r, uint64_t now)
{
    r->sent = now;
    if (!w->first_send)
        w->first_send = now;
    if (!r->due)
        r->due = now; /* as fast as possible: no schedule to be late against */
    /* the replayer's own lateness: from when the request was both due and free to go (a
     * request that waits for a reply, as recorded, is free when that reply arrives; a slow
     * target shows in the latency, not here) */
    uint64_t base = r->due;
    if (rc && rc->unblocked_at > base)
        base = rc->unblocked_at;
    uint64_t lag = now > base ? now - base : 0;
    rt_hist_record(w->res.lag, lag);
    if (rc && r->chained)
        rc->pace_debt += lag; /* taken back from the next gaps (chain_due()) */
    if (lag > w->lag_max_interval)
        w->lag_max_interval = lag;
    w->res.sent++;
    eng_unbuffer(w, r);
    if (!w->inflight)
        w->last_progress = now; /* a stall counts from the first request left waiting */
    if (r->kind == K_REQ) {
        /* pacing: slip is how far behind its recorded time a request was due (a chained one
         * by its chain, a scheduled one by the slip of its connection it was moved by) */
        int64_t slip = r->sched_due ? (int64_t)(r->due - r->sched_due) : 0;
        if (r->chained)
            w->res.chained++;
        else
            w->res.scheduled++;
        if (rc && r->chained)
            rc->slip_ns = slip;
        rt_hist_record(w->res.slip, slip > 0 ? (uint64_t)slip : 0);
        w->res.slip_final_ns = slip;
        if (r->sync_blocked_at) {
            rt_hist_record(w->res.sync_wait, now - r->sync_blocked_at);
            w->res.sync_waited++;
        }
    }
}

static void drop_unreachable(struct worker *w, struct rconn *rc)
{
    struct req *r = rc->rhead;
    rc->rhead = r->next;
    if (!rc->rhead)
        rc->rtail = NULL;
    eng_unbuffer(w, r);
    rc->pending--;
    w->cmds[r->cmd].r.errors++;
    w->res.errors++;
    w->res.skipped_by[REPLAY_SKIP_UNREACHABLE]++;
    w->last_progress = now_ns();
    r->got = 1; /* nothing to compare */
    r->discarded = 1;
    eng_sync_answered(w, r); /* dropped: it will not run */
    eng_release(r);
}

/* Whether every connection `r` needs is up. @return 1 ready, 0 wait, -1 wait and no node
 * serves a slot; *down: since when a needed connection has been down (0: not down) */
static int req_ready(struct worker *w, struct rconn *rc, struct req *r, uint64_t *down)
{
    *down = 0;
    int ready = 1;
    uint32_t n = r->parts ? r->nparts : 1;
    for (uint32_t i = 0; i < n; i++) {
        struct req *q = r->parts ? r->parts[i] : r;
        int node = eng_route(w, rc, q->slot, q->is_read, r->in_tx);
        if (node < 0)
            return -1;
        struct tconn *tc = eng_group_tc(w, rc->g, node);
        if (tc && tc->parked) {
            tc->parked = 0;
            eng_tconn_connect(tc);
        }
        if (!tc || tc->state != TC_READY) {
            ready = 0;
            if (tc && tc->down_since && (!*down || tc->down_since < *down))
                *down = tc->down_since;
        }
    }
    return ready;
}

/* A chained request's due time: its predecessor's reply plus the recorded gap, less what the
 * replayer was late sending the connection's earlier chained requests (a timer's overshoot of
 * 50 to 200 us, 3,400 times over a 3 s trace, made a loop at speed 1 a quarter slower than
 * recorded: the replayer's lateness, not the target's); never before the reply, nor further
 * ahead of its recorded time than the read-ahead. `take` says whether the debt is paid now. */
static uint64_t chain_due(struct rconn *rc, struct req *r, int take)
{
    uint64_t pay = rc->pace_debt < r->gap_ns ? rc->pace_debt : r->gap_ns;
    uint64_t due = rc->unblocked_at + r->gap_ns - pay;
    uint64_t floor = r->sched_due > LOOKAHEAD_NS ? r->sched_due - LOOKAHEAD_NS : 0;
    if (due < floor)
        due = floor;
    if (take)
        rc->pace_debt -= pay;
    return due;
}

void eng_rconn_pump(struct rconn *rc)
{
    if (!rc->pumping)
        eng_rconn_pump_at(rc, 0);
}

/* the pump's time, read from the clock at the first need: a pump that sends nothing (most of
 * them: a request taken while its connection waits for replies, as recorded) reads none (one
 * clock read a request was 2% of the replayer's CPU on a pipelined trace) */
static inline uint64_t pump_now(uint64_t *now)
{
    if (!*now)
        *now = now_ns();
    return *now;
}

/* how long requests wait for a node that is down or unknown before they are dropped */
static uint64_t reconnect_window_ns(const struct worker *w)
{
    return (uint64_t)((w->o->reconnect_window_s > 0 ? w->o->reconnect_window_s : 2.0) *
                      (double)NS);
}

void eng_rconn_pump_at(struct rconn *rc, uint64_t now)
{
    struct worker *w = rc->w;
    if (rc->pumping)
        return;
    rc->pumping = 1;
    while (rc->rhead && !w->stopping && !w->fatal) {
        struct req *r = rc->rhead;
        if (r->hold)
            break; /* MULTI: where it goes is not known yet */
        if (!r->chained && r->sched_due && !r->shifted && rc->slip_ns > 0) {
            /* an outside event on a connection that fell behind: timed from where the
             * connection is, not from where the recording was (it could not have been sent
             * before the replies it follows) */
            r->due = r->sched_due + (uint64_t)rc->slip_ns;
            r->shifted = 1;
        }
        if (r->due && !r->chained && r->due > pump_now(&now)) {
            /* its recorded time has not come */
            if (!rc->timer)
                rc->timer = evtimer_new(w->base, eng_rc_timer_cb, rc);
            arm_in(rc->timer, r->due - now);
            break;
        }
        uint64_t down;
        int ready = req_ready(w, rc, r, &down);
        if (ready < 0) {
            /* no node serves the slot: wait for the topology to settle, within the window */
            if (!w->unroutable_since)
                w->unroutable_since = pump_now(&now);
            if (pump_now(&now) - w->unroutable_since > reconnect_window_ns(w)) {
                drop_unreachable(w, rc);
                continue;
            }
            eng_want_refresh(w);
            break;
        }
        if (!ready) {
            if (down && pump_now(&now) - down > reconnect_window_ns(w)) {
                drop_unreachable(w, rc);
                continue;
            }
            break;
        }
        if (r->expect && rc->out > r->max_out)
            break; /* the recording waited for a reply here */
        if (r->sync_pending) {
            /* --sync keys: earlier requests on its keys are not answered yet */
            if (!r->sync_blocked_at)
                r->sync_blocked_at = pump_now(&now);
            break;
        }
        if (r->chained && !r->due) {
            uint64_t due = chain_due(rc, r, 0);
            if (due > pump_now(&now) + 20000) {
                if (!rc->timer)
                    rc->timer = evtimer_new(w->base, eng_rc_timer_cb, rc);
                arm_in(rc->timer, due - now);
                break;
            }
            chain_due(rc, r, 1);
            r->due = due < now ? due : now; /* (sent now: up to 20 us early is not "late") */
        }
        /* (where it goes, found once for the check and the send) */
        struct tconn *tc = NULL;
        if (!r->parts) {
            tc = eng_group_tc(w, rc->g, eng_route(w, rc, r->slot, r->is_read, r->in_tx));
            if (eng_tc_throttled(tc))
                break; /* the target reads slower than we write: wait for the output to drain */
        }
        rc->rhead = r->next;
        if (!rc->rhead)
            rc->rtail = NULL;
        r->next = NULL;
        rc->pending--;
        if (r->parts) {
            eng_send_split(w, rc, r, pump_now(&now));
            continue;
        }
        eng_tconn_send(tc, r, pump_now(&now));
    }
    rc->pumping = 0;
    if (rc->closing && rc->pending == 0 && rc->out == 0)
        eng_rconn_free(w, rc);
    eng_worker_check_done(w);
}

void eng_rc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rconn *rc = arg;
    struct req *r = rc->rhead;
    if (r && r->chained && !r->due) {
        /* its time came: set it now (the pump would wait another 20 us of scheduling noise) */
        uint64_t due = chain_due(rc, r, 1), now = now_ns();
        r->due = due < now ? due : now;
    }
    eng_rconn_pump(rc);
}

/* ---- --sync keys ------------------------------------------------------------------------- */

void eng_sync_wake(void *ctx, void *req)
{
    struct worker *w = ctx;
    struct req *r = req;
    if (r->sync_pending && --r->sync_pending == 0) {
        w->sync_blocked--;
        if (!r->discarded && r->rc)
            eng_rconn_pump(r->rc);
    }
    eng_release(r); /* the reference its registration held */
}

void eng_sync_answered(struct worker *w, struct req *r)
{
    if (!r->synced || !w->sync)
        return;
    r->synced = 0;
    sync_answered(w->sync, r->sync_id, eng_sync_wake, w);
    if (r->sync_one)
        sync_forget(w->sync, r->sync_key); /* (the table then holds what is open only) */
}

/* what the order needs of request `q` (of connection `conn`), owned by worker `owner`: its keys
 * hashed, and their places in the key table fetched into the cache while the caller does
 * other work (the table holds the read-ahead window's keys: a miss at every request, 5% of
 * the replayer's CPU when waited for) */
static void sync_prep_req(struct worker *w, const struct trace_request *q, uint64_t conn,
                          unsigned owner, struct sync_req *sq)
{
    /* where the recording cannot say: a command the order cannot place, or a request right
     * after missing bytes (what came before it on its connection is not known): counted */
    if ((eng_sync_req(w, q, sq) < 0 || (q->flags & TRACE_REQ_AFTER_GAP)) && owner == w->id)
        w->res.sync_unordered++;
    sq->id = (uint64_t)w->loop * w->sync_nreq + q->seq;
    sq->conn = conn ^ ((uint64_t)w->loop << 48);
    sq->owner = owner;
    sync_prefetch(w->sync, sq);
}

/* tells the order about the request sq describes; for an own one, `r` (NULL when skipped)
 * waits for what it must */
static void sync_take_req(struct worker *w, const struct sync_req *rq, struct req *r)
{
    struct sync_req sq = *rq;
    unsigned owner = sq.owner;
    uint32_t pending = 0;
    if (sync_take(w->sync, &sq, r, &pending) < 0 && owner == w->id)
        w->res.sync_unordered++;
    if (owner != w->id)
        return;
    if (sq.kind == SYNC_BARRIER)
        w->res.sync_barriers++;
    int one = sq.kind == SYNC_KEYS && sq.nkeys == 1;
    if (!r) {
        /* skipped: nothing to wait for it */
        sync_answered(w->sync, sq.id, eng_sync_wake, w);
        if (one)
            sync_forget(w->sync, sq.keys[0].hash);
        return;
    }
    r->synced = 1;
    r->sync_one = (uint8_t)one;
    r->sync_key = one ? sq.keys[0].hash : 0;
    r->sync_id = sq.id;
    r->sync_pending = pending;
    r->refs += pending; /* each registration keeps it until its wake */
    if (pending)
        w->sync_blocked++;
}

static void ready_push(struct rconn *rc, struct req *r)
{
    r->next = NULL;
    if (rc->rtail)
        rc->rtail->next = r;
    else
        rc->rhead = r;
    rc->rtail = r;
}

/* ---- reading the trace ----------------------------------------------------------------- */

/* appends to the due queue (trace order is time order); the timer follows its head */
static void due_push(struct worker *w, struct req *r)
{
    r->next = NULL;
    if (w->dtail)
        w->dtail->next = r;
    else
        w->dhead = r;
    w->dtail = r;
    if (w->dhead == r) {
        uint64_t now = now_ns();
        arm_in(w->due_timer, r->due > now ? r->due - now : 0);
    }
}

/* A request of this worker's connection `rc`: decided and rewritten (eng_req_make), then
 * scheduled. */
static void take_request(struct worker *w, struct rconn *rc, const struct trace_event *ev,
                         uint64_t due)
{
    const struct trace_request *q = &ev->u.req;
    if (!q->argc)
        return;
    struct req_plan pl;
    uint32_t rec_out = rc->rec_out;
    struct sync_req sq;
    if (w->sync)
        sync_prep_req(w, q, ev->conn, w->id, &sq);
    struct req *r = eng_req_make(w, rc, q, due, &pl);
    if (w->sync)
        sync_take_req(w, &sq, r);
    if (r && r->kind == K_REQ && w->o->pace != REPLAY_PACE_SCHEDULED && !rec_out &&
        rc->last_rec_reply_ts && ev->ts >= rc->last_rec_reply_ts && w->o->rate <= 0) {
        /* the client had nothing outstanding: was it waiting for that reply? */
        uint64_t gap = ev->ts - rc->last_rec_reply_ts;
        if (w->o->pace == REPLAY_PACE_CHAINED || gap <= w->chain_gap_ns) {
            r->chained = 1;
            r->gap_ns = w->o->speed > 0 ? (uint64_t)((double)gap / w->o->speed) : 0;
        }
    }
    if (r)
        r->sched_due = due;
    uint8_t special = pl.special;
    int32_t slot = pl.slot;
    int cross = pl.cross, expect = pl.expect;

    /* cluster: a transaction goes where its first key goes; MULTI waits until that is known */
    int unheld = 0;
    if (w->cluster && special == S_MULTI) {
        rc->in_tx = 1;
        rc->tx_slot = -1;
        rc->tx_cross = 0;
        rc->tx_multi = r;
        if (r)
            r->hold = 1;
    } else if (w->cluster && rc->in_tx) {
        if (r)
            r->in_tx = 1;
        if (slot >= 0 && rc->tx_slot < 0) {
            rc->tx_slot = slot;
            if (rc->tx_multi) {
                rc->tx_multi->slot = slot;
                rc->tx_multi->hold = 0;
                rc->tx_multi = NULL;
                unheld = 1;
            }
        }
        if (slot >= 0 && (slot != rc->tx_slot || cross) && !rc->tx_cross) {
            rc->tx_cross = 1;
            w->res.crossslot_tx++;
        }
        if (special == S_EXEC) {
            rc->in_tx = 0;
            if (rc->tx_multi) {
                rc->tx_multi->hold = 0; /* no key: the connection's home node */
                rc->tx_multi = NULL;
                unheld = 1;
            }
        }
    }
    if (expect) {
        if (rc->wait_n >= REC_WAIT_MAX)
            eng_wait_pop(w, rc, 0, 0, 0);
        rc->rec_out++;
        if (eng_wait_push(rc, q->seq, r) == 0 && r)
            r->refs++;
    }
    if (!r) {
        if (unheld)
            eng_rconn_pump(rc);
        return;
    }
    r->qbytes = sizeof *r + r->wlen;
    for (uint32_t i = 0; r->parts && i < r->nparts; i++)
        r->qbytes += sizeof *r->parts[i] + r->parts[i]->wlen;
    w->buffered++;
    w->buffered_bytes += r->qbytes;
    rc->pending++;
    if (due > w->last_due)
        w->last_due = due;
    /* a chained request goes when its predecessor's reply comes (the pump sets its due) */
    if (r->chained)
        r->due = 0;
    ready_push(rc, r);
    eng_rconn_pump(rc);
}

static void schedule_close(struct worker *w, struct rconn *rc, uint64_t due)
{
    if (!due) {
        rc->closing = 1;
        eng_rconn_pump(rc);
        return;
    }
    struct req *r = eng_req_new(w);
    if (!r)
        return;
    r->kind = K_CLOSE;
    r->rc = rc;
    r->due = due;
    r->refs = 1;
    due_push(w, r);
}

static unsigned owner(const struct worker *w, uint64_t conn)
{
    if (w->nthreads == 1)
        return 0; /* (every event asks: no hash and two divisions for the one answer) */
    uint64_t h = mix64(conn);
    if (w->o->connections)
        return (unsigned)((h % w->o->connections) % w->nthreads);
    return (unsigned)(h % w->nthreads);
}

/* The part of the recorded connections a connection belongs to (--part I/N): another hash
 * than the threads' (owner()), so that a part spreads over every thread. */
static unsigned in_part(uint64_t conn, unsigned nparts)
{
    return (unsigned)(mix64(conn ^ 0x5a17c0ffee5eedull) % nparts);
}

void eng_note_unreadable(struct worker *w)
{
    struct trace_damage d;
    if (!w->rd)
        return;
    trace_reader_damage(w->rd, &d);
    if (d.chunks_unknown > w->res.unreadable_chunks) {
        w->res.unreadable_chunks = d.chunks_unknown;
        w->res.unreadable_offset = d.unknown_offset;
    }
}

static int reopen(struct worker *w)
{
    eng_note_unreadable(w);
    trace_reader_close(w->rd);
    w->rd = trace_reader_open(w->o->trace, NULL, &w->err);
    if (!w->rd)
        return -1;
    if (w->o->from_ns && trace_reader_seek_time(w->rd, w->o->from_ns, &w->err) < 0)
        return -1;
    if (w->ncopies && eng_scale_reopen(w) < 0)
        return -1;
    return 0;
}

/* The end of the trace is read: the replay ends when everything is answered, or when nothing
 * more has happened for the drain time (late replies). The drain counts from the last due
 * request and from the last progress, not from when the read-ahead reached the end: at
 * --speed max the whole trace may be read long before it is sent. */
static void finish_reading(struct worker *w)
{
    w->eof = 1;
    w->eof_at = now_ns();
    uint64_t last_due = w->last_due;
    if (w->dtail && w->dtail->due > last_due)
        last_due = w->dtail->due;
    uint64_t at = (last_due > w->eof_at ? last_due : w->eof_at) + eng_drain_ns(w);
    uint64_t now = now_ns();
    arm_in(w->drain_timer, at > now ? at - now : 0);
    eng_worker_check_done(w);
}

void eng_worker_fill(struct worker *w)
{
    const struct replay_opts *o = w->o;
    int paced = o->speed > 0 && o->rate <= 0;
    uint64_t now = now_ns();
    while (!w->eof && !w->fatal && !w->stopping && w->buffered < eng_ahead(w) &&
           w->buffered_bytes < w->max_buffered_bytes) {
        if (!w->have_ev) {
            int rc = w->ncopies ? eng_scale_next(w, &w->ev)
                                : trace_reader_next(w->rd, &w->ev, &w->err);
            if (rc < 0) {
                char msg[300];
                snprintf(msg, sizeof msg, "%s", w->err.msg);
                eng_fatal(w, w->err.code, msg);
                return;
            }
            if (rc == 1 && (w->ev.type == TRACE_EV_STATS || w->ev.type == TRACE_EV_NOTE ||
                            w->ev.type == TRACE_EV_GAP || w->ev.type == TRACE_EV_PUSH))
                continue; /* not part of the timeline: the last STATS comes after the traffic */
            if (rc == 1 && o->to_ns && w->ev.ts > o->to_ns)
                rc = 0;
            if (rc == 0) {
                unsigned loops = o->loops ? o->loops : 1;
                if (w->t0_set && w->loop + 1 < loops) {
                    if (paced && (w->buffered || w->inflight > w->inflight_blocking)) {
                        /* the next pass starts when this one is done: a replay that slipped
                         * behind the recording (chained requests on a slower target) runs its
                         * passes one after another, as the recording did, not on top of each
                         * other (eng_worker_check_done calls again) */
                        w->loop_wait = 1;
                        return;
                    }
                    w->loop_wait = 0;
                    w->loop++;
                    if (paced) {
                        uint64_t rec = w->loop_off +
                                       (uint64_t)((double)(w->trace_last - w->trace_t0) / o->speed) +
                                       1000000;
                        uint64_t done = now_ns() - w->wall_t0; /* where the replay is */
                        w->loop_off = rec > done ? rec : done;
                    }
                    if (reopen(w) < 0) {
                        char msg[300];
                        snprintf(msg, sizeof msg, "%s", w->err.msg);
                        eng_fatal(w, w->err.code, msg);
                        return;
                    }
                    continue;
                }
                finish_reading(w);
                return;
            }
            if (!w->t0_set) {
                w->trace_t0 = w->ev.ts;
                w->t0_set = 1;
            }
            if (w->ev.ts > w->trace_last)
                w->trace_last = w->ev.ts;
            w->have_ev = 1;
        }
        const struct trace_event *ev = &w->ev;
        uint64_t due = 0;
        if (paced) {
            uint64_t off = ev->ts > w->trace_t0 ? ev->ts - w->trace_t0 : 0;
            due = w->wall_t0 + w->loop_off + (uint64_t)((double)off / o->speed);
        } else if (o->rate > 0 && ev->type == TRACE_EV_REQUEST) {
            due = w->wall_t0 + (uint64_t)((double)w->rate_k * 1e9 / o->rate);
        }
        if (due > now + LOOKAHEAD_NS) {
            arm_in(w->fill_timer, due - now - LOOKAHEAD_NS);
            return;
        }
        w->have_ev = 0;
        if (ev->type == TRACE_EV_REQUEST)
            w->rate_k++;
        if (o->nparts > 1 && in_part(ev->conn, o->nparts) != o->part)
            continue; /* another host's: not replayed here, not ordered */
        if (o->read_through && ev->type == TRACE_EV_REQUEST)
            eng_fill_learn(w, &ev->u.req, ev->ts); /* any connection's: the key's TTL */
        if (w->sync && ev->type == TRACE_EV_REPLY && ev->u.reply.req_seq != TRACE_SEQ_NONE)
            sync_recorded_reply(w->sync, (uint64_t)w->loop * w->sync_nreq + ev->u.reply.req_seq);
        unsigned own = owner(w, ev->conn);
        if (own != w->id) {
            /* another worker's request: the order here must know it too */
            if (w->sync && ev->type == TRACE_EV_REQUEST) {
                struct sync_req sq;
                sync_prep_req(w, &ev->u.req, ev->conn, own, &sq);
                sync_take_req(w, &sq, NULL);
            }
            continue;
        }
        uint64_t key = ev->conn ^ ((uint64_t)w->loop << 48);
        struct rconn *rc;
        switch (ev->type) {
        case TRACE_EV_CONN_OPEN:
            if (!o->connections)
                eng_rconn_get(w, key, ev->conn);
            break;
        case TRACE_EV_REQUEST:
            rc = eng_rconn_get(w, key, ev->conn);
            if (!rc)
                return; /* out of memory: the run fails */
            take_request(w, rc, ev, due);
            break;
        case TRACE_EV_REPLY:
            if ((rc = eng_rconn_find(w, key))) {
                eng_rec_reply(w, rc, &ev->u.reply);
                if (ev->u.reply.req_seq != TRACE_SEQ_NONE)
                    rc->last_rec_reply_ts = ev->ts;
            }
            break;
        case TRACE_EV_CONN_CLOSE:
            if ((rc = eng_rconn_find(w, key)) && !o->connections)
                schedule_close(w, rc, paced ? due : 0);
            break;
        default: break;
        }
        if (w->fatal)
            return;
    }
}

/* ---- timers and the end ---------------------------------------------------------------- */

void eng_due_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    uint64_t now = now_ns();
    while (w->dhead && w->dhead->due <= now && !w->fatal) {
        struct req *r = w->dhead;
        w->dhead = r->next;
        if (!w->dhead)
            w->dtail = NULL;
        struct rconn *rc = r->rc;
        if (r->kind == K_CLOSE) {
            eng_release(r);
            rc->closing = 1;
        } else {
            ready_push(rc, r);
        }
        eng_rconn_pump(rc);
    }
    eng_flush(w); /* what fell due leaves now, before the read-ahead reads on */
    if (w->dhead)
        arm_in(w->due_timer, w->dhead->due > now ? w->dhead->due - now : 0);
    eng_worker_fill(w);
    eng_worker_check_done(w);
}

void eng_fill_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    eng_worker_fill(arg);
}

uint64_t eng_drain_ns(const struct worker *w)
{
    return (uint64_t)((w->o->drain_s > 0 ? w->o->drain_s : 5.0) * (double)NS);
}

void eng_worker_check_done(struct worker *w)
{
    if (w->loop_wait && !w->buffered && w->inflight <= w->inflight_blocking) {
        eng_worker_fill(w); /* the pass is done: the next one starts */
        return;
    }
    if (w->eof && !w->dhead && w->buffered == 0 && w->inflight == 0)
        event_base_loopbreak(w->base);
    else if (w->stopping && w->inflight == 0)
        event_base_loopbreak(w->base); /* --duration: the replies in flight have come */
}

void eng_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    uint64_t now = now_ns(), d = eng_drain_ns(w);
    uint64_t last = w->last_progress;
    if (w->dhead && w->dhead->due > last)
        last = w->dhead->due;
    if (w->last_due > last)
        last = w->last_due;
    if (!w->stopping && last + d > now) {
        arm_in(w->drain_timer, last + d - now); /* still going: wait for it to go quiet */
        return;
    }
    event_base_loopbreak(w->base); /* what is still unanswered is counted at the end */
}
