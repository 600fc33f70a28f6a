/* engine.c: the replay engine: streaming read-ahead, open-loop scheduling, target connections
 * (plain or TLS through libevent's bufferevents), reply framing and accounting.
 *
 * The model, per worker thread (one libevent base each, connections partitioned by a hash
 * of the recorded connection id; every worker reads the whole trace with its own reader, so
 * no queue crosses threads and memory stays bounded by the read-ahead):
 *
 * - Each request read from the trace gets a due time: the recorded offset from the start of
 *   the window divided by --speed (or k / --rate for the k-th request), on the monotonic
 *   clock. It waits in the worker's due queue (trace order is time order) until then, then
 *   moves to its recorded connection's ready queue.
 * - Pipelining is taken from the recording: a request carries how many of its connection's
 *   requests were still unanswered in the recording when it was sent (`max_out`). The replay
 *   sends it only when at most that many are unanswered on the replay side, so what was
 *   pipelined is sent pipelined, and what waited for a reply waits for one.
 * - Latency is measured from the due time (coordinated omission corrected, as wrk2 does) and
 *   from the actual send (service time); lag is send time minus due time.
 * - Replies are framed with the RESP scanner of format/ (RESP2 and RESP3) and compared by
 *   type with the recorded reply, when the trace has one, for the divergence counts.
 */
#define _GNU_SOURCE /* memmem */
#include "engine_int.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#define LOOKAHEAD_NS (200ull * 1000 * 1000) /* read this far ahead of the schedule */
#define REC_WAIT_MAX 4096                   /* recorded replies awaited per connection */

void eng_fatal(struct worker *w, int code, const char *msg)
{
    if (w->fatal)
        return;
    w->fatal = 1;
    rt_err_set(&w->err, code, "%s", msg);
    if (w->base)
        event_base_loopbreak(w->base);
}

/* a request read from the trace leaves the read-ahead (sent, dropped or discarded) */
void eng_unbuffer(struct worker *w, const struct req *r)
{
    w->buffered--;
    w->buffered_bytes -= r->qbytes;
}

void eng_release(struct req *r)
{
    if (--r->refs == 0) {
        /* a split request never sent still owns its parts */
        for (uint32_t i = 0; r->parts && i < r->nparts; i++)
            eng_release(r->parts[i]);
        free(r->parts);
        vwrite_free(r->vw);
        free(r->wire);
        free(r);
    }
}

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
    if (lag > w->lag_max_interval)
        w->lag_max_interval = lag;
    w->res.sent++;
    eng_unbuffer(w, r);
    if (!w->inflight)
        w->last_progress = now; /* a stall counts from the first request left waiting */
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

void eng_rconn_pump(struct rconn *rc)
{
    struct worker *w = rc->w;
    if (rc->pumping)
        return;
    rc->pumping = 1;
    uint64_t now = now_ns();
    uint64_t window = (uint64_t)((w->o->reconnect_window_s > 0 ? w->o->reconnect_window_s : 2.0) *
                                 (double)NS);
    while (rc->rhead && !w->stopping) {
        struct req *r = rc->rhead;
        if (r->hold)
            break; /* MULTI: where it goes is not known yet */
        uint64_t down;
        int ready = req_ready(w, rc, r, &down);
        if (ready < 0) {
            /* no node serves the slot: wait for the topology to settle, within the window */
            if (!w->unroutable_since)
                w->unroutable_since = now;
            if (now - w->unroutable_since > window) {
                drop_unreachable(w, rc);
                continue;
            }
            eng_want_refresh(w);
            break;
        }
        if (!ready) {
            if (down && now - down > window) {
                drop_unreachable(w, rc);
                continue;
            }
            break;
        }
        if (r->expect && rc->out > r->max_out)
            break; /* the recording waited for a reply here */
        if (!r->parts && eng_tc_throttled(eng_group_tc(w, rc->g, eng_route(w, rc, r->slot,
                                                                           r->is_read, r->in_tx))))
            break; /* the target reads slower than we write: wait for the output to drain */
        rc->rhead = r->next;
        if (!rc->rhead)
            rc->rtail = NULL;
        r->next = NULL;
        rc->pending--;
        if (r->parts) {
            eng_send_split(w, rc, r, now);
            continue;
        }
        int node = eng_route(w, rc, r->slot, r->is_read, r->in_tx);
        eng_tconn_send(eng_group_tc(w, rc->g, node), r, now);
    }
    rc->pumping = 0;
    if (rc->closing && rc->pending == 0 && rc->out == 0)
        eng_rconn_free(w, rc);
    eng_worker_check_done(w);
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
    struct req *r = eng_req_make(w, rc, q, due, &pl);
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
            eng_wait_pop(w, rc, 0, 0);
        rc->rec_out++;
        eng_wait_push(rc, q->seq, r);
        if (r)
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
    if (!due) {
        ready_push(rc, r);
        eng_rconn_pump(rc);
        return;
    }
    due_push(w, r);
    if (unheld)
        eng_rconn_pump(rc);
}

static void schedule_close(struct worker *w, struct rconn *rc, uint64_t due)
{
    if (!due) {
        rc->closing = 1;
        eng_rconn_pump(rc);
        return;
    }
    struct req *r = xcalloc(1, sizeof *r);
    r->kind = K_CLOSE;
    r->rc = rc;
    r->due = due;
    r->refs = 1;
    due_push(w, r);
}

static unsigned owner(const struct worker *w, uint64_t conn)
{
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

static int reopen(struct worker *w)
{
    trace_reader_close(w->rd);
    w->rd = trace_reader_open(w->o->trace, NULL, &w->err);
    if (!w->rd)
        return -1;
    if (w->o->from_ns && trace_reader_seek_time(w->rd, w->o->from_ns, &w->err) < 0)
        return -1;
    return 0;
}

uint64_t eng_drain_ns(const struct worker *w)
{
    return (uint64_t)((w->o->drain_s > 0 ? w->o->drain_s : 5.0) * (double)NS);
}

/* The end of the trace is read: the replay ends when everything is answered, or when nothing
 * more has happened for the drain time (late replies). The drain counts from the last due
 * request and from the last progress, not from when the read-ahead reached the end: at
 * --speed max the whole trace may be read long before it is sent. */
static void finish_reading(struct worker *w)
{
    w->eof = 1;
    w->eof_at = now_ns();
    uint64_t last_due = w->dtail ? w->dtail->due : w->eof_at;
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
    while (!w->eof && !w->fatal && !w->stopping && w->buffered < w->max_buffered &&
           w->buffered_bytes < w->max_buffered_bytes) {
        if (!w->have_ev) {
            int rc = trace_reader_next(w->rd, &w->ev, &w->err);
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
                    w->loop++;
                    if (paced)
                        w->loop_off += (uint64_t)((double)(w->trace_last - w->trace_t0) / o->speed) +
                                       1000000;
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
        if (owner(w, ev->conn) != w->id)
            continue;
        if (o->nparts > 1 && in_part(ev->conn, o->nparts) != o->part)
            continue;
        uint64_t key = ev->conn ^ ((uint64_t)w->loop << 48);
        struct rconn *rc;
        switch (ev->type) {
        case TRACE_EV_CONN_OPEN:
            if (!o->connections)
                eng_rconn_get(w, key, ev->conn);
            break;
        case TRACE_EV_REQUEST:
            rc = eng_rconn_get(w, key, ev->conn);
            take_request(w, rc, ev, due);
            break;
        case TRACE_EV_REPLY:
            if ((rc = eng_rconn_find(w, key)))
                eng_rec_reply(w, rc, &ev->u.reply);
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

/* ---- timers ---------------------------------------------------------------------------- */

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

void eng_worker_check_done(struct worker *w)
{
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
    if (!w->stopping && last + d > now) {
        arm_in(w->drain_timer, last + d - now); /* still going: wait for it to go quiet */
        return;
    }
    event_base_loopbreak(w->base); /* what is still unanswered is counted at the end */
}

static void publish(struct worker *w, int final)
{
    pthread_mutex_lock(w->mu);
    rt_hist_merge(w->shared_lat, w->delta_lat);
    rt_hist_merge(w->shared_sec, w->delta_lat);
    rt_hist_reset(w->delta_lat);
    w->shared->sent = w->res.sent;
    w->shared->ops = w->res.ops;
    w->shared->errors = w->res.errors;
    w->shared->skipped = w->res.skipped;
    w->shared->conns = w->live_tconns;
    w->shared->requests = w->res.requests;
    w->shared->inflight = w->inflight;
    if (w->lag_max_interval > w->shared_lag)
        w->shared_lag = w->lag_max_interval;
    w->shared->final = final;
    pthread_mutex_unlock(w->mu);
    w->lag_max_interval = 0;
}

static void house_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    uint64_t now = now_ns();
    if (w->stop && *w->stop) {
        w->stopping = 2;
        w->res.stopped = 1;
        event_base_loopbreak(w->base);
        return;
    }
    if (w->deadline && now >= w->deadline && !w->stopping) {
        /* --duration: send nothing more, wait (at most the drain time) for what is in flight */
        w->stopping = 1;
        w->res.stopped = 1;
        arm_in(w->drain_timer, eng_drain_ns(w));
        eng_worker_check_done(w);
    }
    if (w->inflight > w->inflight_blocking && w->last_progress &&
        now - w->last_progress > w->stall_ns && !w->res.stalled) {
        /* requests wait for the target and nothing has come back for that long: it is frozen
         * or gone silent; what is left is not sent into it */
        w->res.stalled = 1;
        snprintf(w->res.stall_why, sizeof w->res.stall_why,
                 "the target stopped answering: no reply for %.0f s with %zu requests in flight",
                 (double)w->stall_ns / 1e9, w->inflight - w->inflight_blocking);
        event_base_loopbreak(w->base);
        return;
    }
    publish(w, 0);
}

/* ---- the worker thread ----------------------------------------------------------------- */

static void worker_cleanup(struct worker *w)
{
    for (struct req *r = w->dhead, *nx; r; r = nx) {
        nx = r->next;
        if (r->kind != K_CLOSE) {
            eng_unbuffer(w, r);
            r->rc->pending--;
            if (w->stopping)
                w->res.cut++;
            else
                w->res.unsent++;
        }
        eng_release(r);
    }
    w->dhead = w->dtail = NULL;
    while (w->retry_head) {
        struct req *r = w->retry_head;
        w->retry_head = r->next;
        eng_abandon_req(w, r);
    }
    for (size_t i = 0; i < w->htcap; i++)
        while (w->ht && w->ht[i])
            eng_rconn_free(w, w->ht[i]);
    for (size_t i = 0; i < w->nfold; i++) {
        struct tgroup *g = &w->fold[i];
        for (size_t k = 0; k < g->ntc; k++)
            if (g->tc[k])
                eng_tconn_free(g->tc[k]);
        free(g->tc);
        free(g->users);
    }
    rt_ctl_close(&w->ctl);
    rt_ctl_close(&w->tctl);
    free(w->ht);
    free(w->fold);
    w->ht = NULL;
    w->fold = NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    w->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!w->base) {
        eng_fatal(w, RT_ENOMEM, "cannot create an event loop");
        publish(w, 1);
        return NULL;
    }
    w->due_timer = evtimer_new(w->base, eng_due_cb, w);
    w->fill_timer = evtimer_new(w->base, eng_fill_cb, w);
    w->drain_timer = evtimer_new(w->base, eng_drain_cb, w);
    w->house_timer = event_new(w->base, -1, EV_PERSIST, house_cb, w);
    w->refresh_timer = evtimer_new(w->base, eng_refresh_cb, w);
    w->retry_timer = evtimer_new(w->base, eng_retry_req_cb, w);
    struct timeval hv = {0, 100000};
    evtimer_add(w->house_timer, &hv);
    w->rd = trace_reader_open(w->o->trace, NULL, &w->err);
    if (!w->rd || (w->o->from_ns && trace_reader_seek_time(w->rd, w->o->from_ns, &w->err) < 0)) {
        w->fatal = 1;
    } else {
        /* --start-at: wait for the common start (paced: connect a little before it) */
        uint64_t now = now_ns(), lead = w->o->speed > 0 && w->o->rate <= 0 ? 100000000ull : 0;
        if (w->o->start_at_ns && w->wall_t0 > now + lead) {
            uint64_t d = w->wall_t0 - lead - now;
            struct timespec ts = {(time_t)(d / NS), (long)(d % NS)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
        /* read ahead now: connections open before the common start, requests wait for it */
        eng_worker_fill(w);
        if (!w->fatal)
            event_base_dispatch(w->base);
    }
    uint64_t start = w->first_send && w->first_send < w->wall_t0 ? w->first_send : w->wall_t0;
    uint64_t end = now_ns();
    w->res.duration_s = end > start ? (double)(end - start) / 1e9 : 0;
    if (w->t0_set)
        w->res.trace_span_s = (double)(w->trace_last - w->trace_t0) / 1e9;
    w->eof = 1;
    worker_cleanup(w);
    publish(w, 1);
    event_free(w->due_timer);
    event_free(w->fill_timer);
    event_free(w->drain_timer);
    event_free(w->house_timer);
    event_free(w->refresh_timer);
    event_free(w->retry_timer);
    w->refresh_timer = w->retry_timer = NULL;
    event_base_free(w->base);
    trace_reader_close(w->rd);
    w->rd = NULL;
    return NULL;
}

int replay_topology_read(const struct replay_opts *o, struct replay_topology *t,
                         struct rt_err *err)
{
    memset(t, 0, sizeof *t);
    SSL_CTX *ssl = NULL;
    if (o->target.tls && !(ssl = rt_tls_ctx_new(&o->tls, err)))
        return err->code;
    struct cl_topo topo = {0};
    char why[300] = "";
    int found = o->cluster >= 0 ? eng_discover(o, ssl, &topo, why, sizeof why) : 0;
    int rc = 0;
    if (found < 0 && o->cluster >= 0) {
        rt_err_set(err, RT_EIO, "cannot read the topology: %s", why);
        rc = RT_EIO;
    } else if (found == 0 && o->cluster == 1) {
        rt_err_set(err, RT_EINVAL, "%s:%u does not run in cluster mode", o->target.host,
                   (unsigned)o->target.port);
        rc = RT_EINVAL;
    } else if (found == 1) {
        t->cluster = 1;
        t->nodes = xcalloc(topo.n ? topo.n : 1, sizeof *t->nodes);
        t->n = topo.n;
        for (size_t i = 0; i < topo.n; i++) {
            snprintf(t->nodes[i].addr, sizeof t->nodes[i].addr, "%s:%u", topo.nodes[i].host,
                     (unsigned)topo.nodes[i].port);
            snprintf(t->nodes[i].id, sizeof t->nodes[i].id, "%s", topo.nodes[i].id);
            t->nodes[i].primary = topo.nodes[i].primary;
            t->nodes[i].master = topo.nodes[i].master;
        }
        memcpy(t->owner, topo.owner, sizeof t->owner);
    } else {
        t->nodes = xcalloc(1, sizeof *t->nodes);
        t->n = 1;
        snprintf(t->nodes[0].addr, sizeof t->nodes[0].addr, "%s:%u", o->target.host,
                 (unsigned)o->target.port);
        t->nodes[0].primary = 1;
        t->nodes[0].master = -1;
    }
    cl_topo_free(&topo);
    if (ssl)
        SSL_CTX_free(ssl);
    return rc;
}

void replay_topology_free(struct replay_topology *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

/* ---- set-up ---------------------------------------------------------------------------- */

int replay_run(const struct replay_opts *o, replay_status_fn status, void *ctx,
               volatile int *stop, struct replay_result *res, struct rt_err *err)
{
    memset(res, 0, sizeof *res);
    if (!o->trace || !o->target.host[0]) {
        rt_err_set(err, RT_EINVAL, "replay: a trace and a target are needed");
        return RT_EINVAL;
    }
    if (o->speed < 0 || o->rate < 0) {
        rt_err_set(err, RT_EINVAL, "replay: --speed and --rate must be positive");
        return RT_EINVAL;
    }
    /* the trace must open before anything connects */
    struct trace_reader *probe = trace_reader_open(o->trace, NULL, err);
    if (!probe)
        return err->code ? err->code : RT_EIO;
    {
        /* how many requests the replay will read, for the progress line: from the index (a
         * trace without one, cut by a crash, gives no total) */
        struct trace_totals tt;
        trace_reader_totals(probe, &tt);
        double total = (double)tt.by_type[TRACE_EV_REQUEST];
        if (trace_reader_has_index(probe) && total > 0) {
            if ((o->from_ns || o->to_ns) && tt.ts_max > tt.ts_min) {
                uint64_t a = o->from_ns > tt.ts_min ? o->from_ns : tt.ts_min;
                uint64_t b = o->to_ns && o->to_ns < tt.ts_max ? o->to_ns : tt.ts_max;
                total *= b > a ? (double)(b - a) / (double)(tt.ts_max - tt.ts_min) : 0;
            }
            total *= o->loops ? o->loops : 1;
            if (o->nparts > 1)
                total /= o->nparts;
            res->total_requests = (uint64_t)total;
        }
    }
    trace_reader_close(probe);

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)o->target.port);
    int gai = getaddrinfo(o->target.host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        rt_err_set(err, RT_EINVAL, "cannot resolve the target host '%s': %s", o->target.host,
                   gai_strerror(gai));
        return RT_EINVAL;
    }
    SSL_CTX *ssl = NULL;
    if (o->target.tls && !(ssl = rt_tls_ctx_new(&o->tls, err))) {
        freeaddrinfo(ai);
        return err->code;
    }
    /* cluster mode: the topology, read once here, then kept by each worker */
    struct cl_topo topo = {0};
    int cluster = 0;
    if (o->cluster >= 0) {
        char why[300] = "";
        int found = eng_discover(o, ssl, &topo, why, sizeof why);
        if (found <= 0 && o->cluster == 1) {
            if (found == 0)
                rt_err_set(err, RT_EINVAL, "%s:%u does not run in cluster mode", o->target.host,
                           (unsigned)o->target.port);
            else
                rt_err_set(err, RT_EIO, "cannot read the cluster topology: %s", why);
            cl_topo_free(&topo);
            if (ssl)
                SSL_CTX_free(ssl);
            freeaddrinfo(ai);
            return err->code;
        }
        cluster = found == 1;
        if (cluster && topo.n == 0) {
            rt_err_set(err, RT_EIO, "the cluster at %s:%u has no nodes serving slots",
                       o->target.host, (unsigned)o->target.port);
            cl_topo_free(&topo);
            if (ssl)
                SSL_CTX_free(ssl);
            freeaddrinfo(ai);
            return err->code;
        }
    }
    if (!cluster) {
        /* standalone: one node, the target, serving every slot */
        cl_topo_free(&topo);
        topo.nodes = xcalloc(1, sizeof *topo.nodes);
        topo.n = topo.cap = 1;
        snprintf(topo.nodes[0].host, sizeof topo.nodes[0].host, "%s", o->target.host);
        topo.nodes[0].port = o->target.port;
        topo.nodes[0].primary = 1;
        topo.nodes[0].master = -1;
        memcpy(&topo.nodes[0].addr, ai->ai_addr, ai->ai_addrlen);
        topo.nodes[0].addrlen = ai->ai_addrlen;
        memset(topo.owner, 0, sizeof topo.owner);
    }
    res->cluster = cluster;
    unsigned nt = o->threads ? o->threads : 1;
    struct worker *ws = xcalloc(nt, sizeof *ws);
    pthread_t *th = xcalloc(nt, sizeof *th);
    struct replay_status *pub = xcalloc(nt, sizeof *pub);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct rt_hist *shared_lat = rt_hist_new(), *shared_sec = rt_hist_new();
    uint64_t wall_t0 = now_ns() + 100000000; /* a common start, 100 ms ahead: time to connect */
    if (o->start_at_ns) {
        /* --start-at: the same wall-clock start on every host (their clocks in sync, NTP) */
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        uint64_t rnow = (uint64_t)rt.tv_sec * NS + (uint64_t)rt.tv_nsec;
        /* a part a little late (a slow ssh, a loaded host) starts at once, and says by how
         * much; a time long past is a mistake */
        if (o->start_at_ns + 60 * NS < rnow) {
            rt_err_set(err, RT_EINVAL, "--start-at: that time passed %.1f s ago",
                       (double)(rnow - o->start_at_ns) / 1e9);
            cl_topo_free(&topo);
            if (ssl)
                SSL_CTX_free(ssl);
            freeaddrinfo(ai);
            free(ws);
            free(th);
            free(pub);
            rt_hist_free(shared_lat);
            rt_hist_free(shared_sec);
            return RT_EINVAL;
        }
        if (o->start_at_ns > rnow) {
            wall_t0 = now_ns() + (o->start_at_ns - rnow);
        } else {
            res->start_late_s = (double)(rnow - o->start_at_ns) / 1e9;
            wall_t0 = now_ns() + 100000000;
        }
    }
    int rc = 0;
    {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        uint64_t mono = now_ns();
        res->start_unix_ns = (uint64_t)rt.tv_sec * NS + (uint64_t)rt.tv_nsec + (wall_t0 - mono);
    }
    if (eng_result_alloc(res) < 0 || !shared_lat || !shared_sec) {
        rt_err_set(err, RT_ENOMEM, "out of memory");
        rc = RT_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < nt; i++) {
        struct worker *w = &ws[i];
        w->o = o;
        w->id = i;
        w->nthreads = nt;
        w->ssl = ssl;
        memcpy(&w->addr, ai->ai_addr, ai->ai_addrlen);
        w->addrlen = ai->ai_addrlen;
        w->max_buffered = o->max_buffered ? o->max_buffered : 65536;
        w->max_buffered_bytes = o->max_buffered_bytes ? o->max_buffered_bytes : 64u << 20;
        w->wall_t0 = wall_t0;
        w->mu = &mu;
        w->shared = &pub[i];
        w->shared_lat = shared_lat;
        w->shared_sec = shared_sec;
        w->cluster = cluster;
        w->topo = topo;
        w->topo.nodes = xcalloc(topo.cap, sizeof *topo.nodes);
        memcpy(w->topo.nodes, topo.nodes, topo.n * sizeof *topo.nodes);
        w->tctl.fd = -1;
        w->ctl.fd = -1;
        w->reply_timeout_ns = o->reply_timeout_s > 0 ? (uint64_t)(o->reply_timeout_s * 1e9)
                              : cluster              ? 10 * NS
                                                     : 0;
        w->stall_ns = o->stall_timeout_s > 0 ? (uint64_t)(o->stall_timeout_s * 1e9) : 15 * NS;
        if (w->reply_timeout_ns && w->stall_ns <= w->reply_timeout_ns)
            w->stall_ns = w->reply_timeout_ns + 5 * NS; /* a dead connection is closed first */
        eng_shard(w, (int)topo.n - 1);
        if (o->verify_writes)
            w->vw = vw_table_new();
        w->stop = stop;
        w->deadline = o->duration_s > 0 ? wall_t0 + (uint64_t)(o->duration_s * 1e9) : 0;
        w->cmds = xcalloc(MAX_CMDS, sizeof *w->cmds);
        w->delta_lat = rt_hist_new();
        w->no_table_keys = o->keys_from_target;
        if (o->connections) {
            w->nfold = o->connections;
            w->fold = xcalloc(w->nfold, sizeof *w->fold);
        }
        if (eng_result_alloc(&w->res) < 0 || !w->delta_lat) {
            rt_err_set(err, RT_ENOMEM, "out of memory");
            rc = RT_ENOMEM;
            nt = i + 1;
            goto out;
        }
    }
    for (unsigned i = 0; i < nt; i++)
        if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "resptrace replay: cannot start thread %u\n", i);
            abort();
        }
    /* the status line: about once a second, until every worker has finished */
    uint64_t tick_ops = 0, tick_errors = 0;
    for (unsigned tick = 0;; tick++) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&mu);
        unsigned done = 0;
        struct replay_status st = {0};
        for (unsigned i = 0; i < nt; i++) {
            done += pub[i].final ? 1 : 0;
            st.sent += pub[i].sent;
            st.ops += pub[i].ops;
            st.errors += pub[i].errors;
            st.skipped += pub[i].skipped;
            st.conns += pub[i].conns;
            st.inflight += pub[i].inflight;
            st.requests += pub[i].requests;
        }
        st.total = res->total_requests;
        uint64_t lag = 0;
        for (unsigned i = 0; i < nt; i++)
            if (ws[i].shared_lag > lag)
                lag = ws[i].shared_lag;
        int second = tick % 10 == 9 || done == nt;
        if (second)
            for (unsigned i = 0; i < nt; i++)
                ws[i].shared_lag = 0;
        st.lag_ns = lag;
        st.p50_ns = rt_hist_percentile(shared_lat, 50);
        st.p99_ns = rt_hist_percentile(shared_lat, 99);
        uint64_t now = now_ns();
        st.elapsed_s = now > wall_t0 ? (double)(now - wall_t0) / 1e9 : 0;
        if (second && now > wall_t0) {
            /* the timeline: one entry a second */
            res->ticks = xrealloc(res->ticks, (res->nticks + 1) * sizeof *res->ticks);
            struct replay_tick *tk = &res->ticks[res->nticks++];
            tk->t_s = st.elapsed_s;
            tk->ops = st.ops - tick_ops;
            tk->errors = st.errors - tick_errors;
            tk->p50_ns = rt_hist_percentile(shared_sec, 50);
            tk->p99_ns = rt_hist_percentile(shared_sec, 99);
            tk->max_ns = rt_hist_max(shared_sec);
            tk->outstanding = st.inflight;
            rt_hist_reset(shared_sec);
            tick_ops = st.ops;
            tick_errors = st.errors;
        }
        pthread_mutex_unlock(&mu);
        st.final = done == nt;
        if (status && second)
            status(ctx, &st);
        if (done == nt)
            break;
    }
    for (unsigned i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    for (unsigned i = 0; i < nt; i++) {
        struct worker *w = &ws[i];
        if (w->fatal && !rc) {
            *err = w->err;
            rc = w->err.code ? w->err.code : RT_EIO;
        }
        eng_results_merge(res, w);
    }
    if (o->verify_writes && !rc) {
        struct vw_table *all = vw_table_new();
        for (unsigned i = 0; i < nt; i++)
            if (ws[i].vw)
                vw_merge(all, ws[i].vw);
        eng_verify_writes(o, ssl, cluster, all, &res->verify);
        vw_table_free(all);
    }
    /* a replay that ended because the target stalled never read the rest of the window: those
     * requests were not sent either (estimated from the index when a window or parts make
     * the total approximate) */
    if (res->stalled && res->total_requests > res->requests && !res->stopped)
        res->unread = res->total_requests - res->requests;
    eng_results_sort(res);
out:
    for (unsigned i = 0; i < nt; i++) {
        struct worker *w = &ws[i];
        for (size_t k = 0; k < w->ncmds; k++) {
            rt_hist_free(w->cmds[k].r.lat);
            rt_hist_free(w->cmds[k].r.svc);
            free(w->cmds[k].r.errmsgs);
        }
        free(w->cmds);
        free(w->errs);
        for (size_t k = 0; k < w->nshards; k++)
            rt_hist_free(w->shards[k].lat);
        free(w->shards);
        cl_topo_free(&w->topo);
        vw_table_free(w->vw);
        rt_hist_free(w->delta_lat);
        rt_hist_free(w->res.lat);
        rt_hist_free(w->res.svc);
        rt_hist_free(w->res.lag);
    }
    rt_hist_free(shared_lat);
    rt_hist_free(shared_sec);
    cl_topo_free(&topo);
    free(ws);
    free(th);
    free(pub);
    if (ssl)
        SSL_CTX_free(ssl);
    freeaddrinfo(ai);
    return rc;
}
