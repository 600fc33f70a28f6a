/* engine.c: the replay engine's driver: the worker threads and their event loops, the status
 * they publish, and replay_run (set-up, the status line, the merge of the results).
 *
 * The model, per worker thread: one libevent base each, connections partitioned by a hash of
 * the recorded connection id; every worker reads the whole trace with its own reader, so no
 * queue crosses threads and memory stays bounded by the read-ahead. The engine's other files
 * share engine_int.h, each holding one seam of it:
 *   sched.c    the trace read ahead, due times, the recorded pipelining, the drain
 *   rconn.c    the recorded connections
 *   keys.c     which requests are sent, and as what (skips, keys, prefix, split, writes)
 *   route.c    routing, redirections, the cluster topology
 *   tconn.c    the target connections: sending, reply framing, failures
 *   results.c  statistics, divergence, the merge of results, the --verify-writes read back
 */
#include "engine_int.h"

#include <errno.h>
#include <event2/thread.h>
#include <netdb.h>

/* ---- the worker thread ----------------------------------------------------------------- */

void eng_fatal(struct worker *w, int code, const char *msg)
{
    if (w->fatal)
        return;
    w->fatal = 1;
    rt_err_set(&w->err, code, "%s", msg);
    if (w->base)
        event_base_loopbreak(w->base);
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
    w->shared->hits = w->res.hits;
    w->shared->misses = w->res.misses;
    w->shared->skipped = w->res.skipped;
    w->shared->conns = w->live_tconns;
    w->shared->requests = w->res.requests;
    w->shared->inflight = w->inflight;
    w->shared->slip_ns = w->res.slip_final_ns;
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

/* ---- --sync keys: another worker's messages ------------------------------------------- */

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    sync_drain(w->sync, eng_sync_wake, w);
}

/* called by another worker's thread: wakes this worker's loop (libevent is set up for threads) */
static void sync_kick(void *arg)
{
    struct worker *w = arg;
    pthread_mutex_lock(w->mu);
    if (w->sync_ev && !w->sync_ev_gone)
        event_active(w->sync_ev, EV_READ, 0);
    pthread_mutex_unlock(w->mu);
}

static void use_threads(void)
{
    evthread_use_pthreads();
}

/* the worker ends with a request still waiting: it lets go of it */
static void sync_drop(void *ctx, void *req)
{
    (void)ctx;
    struct req *r = req;
    r->sync_pending = 0;
    eng_release(r);
}

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
            r->discarded = 1;
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
    if (w->sync)
        sync_w_release(w->sync, sync_drop, w); /* what still waited lets go of its requests */
    rt_ctl_close(&w->ctl);
    rt_ctl_close(&w->tctl);
    free(w->ht);
    free(w->fill_ttl_key);
    free(w->fill_ttl_ms);
    w->fill_ttl_key = NULL;
    w->fill_ttl_ms = NULL;
    free(w->fold);
    w->ht = NULL;
    w->fold = NULL;
}

/* The workers wait at the gate until every thread was created: when one cannot be, those
 * already running are told to end before they touch anything, and the run fails with an
 * error instead of replaying part of the trace. */
struct start_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0: wait; 1: go; -1: cancelled */
};

static int gate_wait(struct start_gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->state)
        pthread_cond_wait(&g->cv, &g->mu);
    int st = g->state;
    pthread_mutex_unlock(&g->mu);
    return st;
}

static void gate_open(struct start_gate *g, int state)
{
    pthread_mutex_lock(&g->mu);
    g->state = state;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (w->gate && gate_wait(w->gate) < 0)
        return NULL;
    struct event_config *cfg = event_config_new();
    if (cfg) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
        w->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
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
    w->flush_ev = event_new(w->base, -1, 0, eng_flush_cb, w);
    if (w->sync) {
        pthread_mutex_lock(w->mu);
        w->sync_ev = event_new(w->base, -1, 0, sync_cb, w);
        if (w->sync_ev)
            event_active(w->sync_ev, EV_READ, 0); /* what was posted before it existed */
        pthread_mutex_unlock(w->mu);
    }
    if (!w->due_timer || !w->fill_timer || !w->drain_timer || !w->house_timer ||
        !w->refresh_timer || !w->retry_timer || !w->flush_ev || (w->sync && !w->sync_ev)) {
        eng_fatal(w, RT_ENOMEM, "out of memory while replaying");
    } else {
        struct timeval hv = {0, 100000};
        evtimer_add(w->house_timer, &hv);
        w->rd = trace_reader_open(w->o->trace, NULL, &w->err);
    }
    if (w->fatal) {
        /* (out of memory above: nothing started) */
    } else if (!w->rd ||
               (w->o->from_ns && trace_reader_seek_time(w->rd, w->o->from_ns, &w->err) < 0) ||
               eng_scale_open(w) < 0) {
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
    struct event *evs[] = {w->due_timer,     w->fill_timer,  w->drain_timer, w->house_timer,
                           w->refresh_timer, w->retry_timer, w->flush_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    w->flush_ev = NULL;
    free(w->dirty);
    w->dirty = NULL;
    w->ndirty = w->capdirty = 0;
    if (w->sync_ev) {
        /* no more kicks: other workers may still post until they end (they read the flag) */
        pthread_mutex_lock(w->mu);
        w->sync_ev_gone = 1;
        pthread_mutex_unlock(w->mu);
        event_free(w->sync_ev);
        w->sync_ev = NULL;
    }
    w->refresh_timer = w->retry_timer = NULL;
    event_base_free(w->base);
    eng_note_unreadable(w);
    eng_scale_close(w);
    trace_reader_close(w->rd);
    w->rd = NULL;
    eng_pools_free(); /* every request of this worker is gone by now */
    return NULL;
}

/* ---- the topology, as the CLI shows it ------------------------------------------------- */

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
    } else if (!(t->nodes = calloc(found == 1 && topo.n ? topo.n : 1, sizeof *t->nodes))) {
        rt_err_set(err, RT_ENOMEM, "out of memory");
        rc = RT_ENOMEM;
    } else if (found == 1) {
        t->cluster = 1;
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

/* ---- set-up, the status line, the merged result ---------------------------------------- */

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
            total *= o->scale > 1 ? o->scale : 1;
            if (o->nparts > 1)
                total /= o->nparts;
            res->total_requests = (uint64_t)total;
        }
    }
    /* --sync keys names requests by their sequence number: it needs the trace's request
     * count (from the index; a trace without one is counted now) */
    uint64_t nreq = 0;
    if (o->sync == REPLAY_SYNC_KEYS) {
        struct trace_totals tt;
        trace_reader_totals(probe, &tt);
        if (trace_reader_has_index(probe)) {
            nreq = tt.by_type[TRACE_EV_REQUEST];
        } else {
            struct trace_event ev;
            struct rt_err e2 = {0};
            while (trace_reader_next(probe, &ev, &e2) == 1)
                if (ev.type == TRACE_EV_REQUEST && ev.u.req.seq + 1 > nreq)
                    nreq = ev.u.req.seq + 1;
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
        topo.nodes = calloc(1, sizeof *topo.nodes);
        if (!topo.nodes) {
            rt_err_set(err, RT_ENOMEM, "out of memory");
            if (ssl)
                SSL_CTX_free(ssl);
            freeaddrinfo(ai);
            return RT_ENOMEM;
        }
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
    res->read_through_on = o->read_through;
    res->scale = o->scale > 1 ? o->scale : 1;
    unsigned nt = o->threads ? o->threads : 1;
    struct worker *ws = calloc(nt, sizeof *ws);
    pthread_t *th = calloc(nt, sizeof *th);
    struct replay_status *pub = calloc(nt, sizeof *pub);
    if (!ws || !th || !pub) {
        free(ws);
        free(th);
        free(pub);
        cl_topo_free(&topo);
        if (ssl)
            SSL_CTX_free(ssl);
        freeaddrinfo(ai);
        rt_err_set(err, RT_ENOMEM, "out of memory");
        return RT_ENOMEM;
    }
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct rt_hist *shared_lat = rt_hist_new(), *shared_sec = rt_hist_new();
    /* --sync keys: the order the workers share (ids: loop * nreq + seq); their loops take
     * events from other threads (the kicks), so libevent is told to lock */
    struct sync_shared *sync_sh = NULL;
    if (o->sync == REPLAY_SYNC_KEYS && nreq) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, use_threads);
        sync_sh = sync_shared_new(nt, nreq * (o->scale > 1 ? o->scale : 1) *
                                          (o->loops ? o->loops : 1));
        for (unsigned i = 0; sync_sh && i < nt; i++)
            sync_set_kick(sync_sh, i, sync_kick, &ws[i]);
    }
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
            sync_shared_free(sync_sh);
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
        w->max_buffered = o->max_buffered ? o->max_buffered : 16384;
        w->ahead_adaptive = !o->max_buffered && o->speed <= 0 && o->rate <= 0;
        w->c_multi = rt_cmd_by_name("multi");
        w->c_exec = rt_cmd_by_name("exec");
        w->c_discard = rt_cmd_by_name("discard");
        w->c_set = rt_cmd_by_name("set");
        w->max_buffered_bytes = o->max_buffered_bytes ? o->max_buffered_bytes : 64u << 20;
        w->wall_t0 = wall_t0;
        w->mu = &mu;
        w->shared = &pub[i];
        w->shared_lat = shared_lat;
        w->shared_sec = shared_sec;
        w->cluster = cluster;
        w->topo = topo;
        w->topo.nodes = calloc(topo.cap, sizeof *topo.nodes);
        w->cmds = calloc(MAX_CMDS, sizeof *w->cmds);
        if (!w->topo.nodes || !w->cmds) {
            w->topo.n = 0;
            rt_err_set(err, RT_ENOMEM, "out of memory");
            rc = RT_ENOMEM;
            nt = i + 1;
            goto out;
        }
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
        if (w->fatal || (o->verify_writes && !w->vw)) {
            rt_err_set(err, RT_ENOMEM, "out of memory");
            rc = RT_ENOMEM;
            nt = i + 1;
            goto out;
        }
        w->stop = stop;
        w->deadline = o->duration_s > 0 ? wall_t0 + (uint64_t)(o->duration_s * 1e9) : 0;
        w->delta_lat = rt_hist_new();
        w->chain_gap_ns = (uint64_t)((o->chain_gap_ms > 0 ? o->chain_gap_ms : 1.0) * 1e6);
        if (sync_sh) {
            w->sync = sync_w_new(sync_sh, i);
            w->sync_nreq = nreq * (o->scale > 1 ? o->scale : 1); /* (copies: seq * N + i) */
            if (!w->sync) {
                rt_err_set(err, RT_ENOMEM, "out of memory");
                rc = RT_ENOMEM;
                nt = i + 1;
                goto out;
            }
        }
        w->no_table_keys = o->keys_from_target;
        if (o->connections) {
            w->nfold = o->connections;
            w->fold = calloc(w->nfold, sizeof *w->fold);
        }
        if (eng_result_alloc(&w->res) < 0 || !w->delta_lat || (o->connections && !w->fold)) {
            rt_err_set(err, RT_ENOMEM, "out of memory");
            rc = RT_ENOMEM;
            nt = i + 1;
            goto out;
        }
    }
    struct start_gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    unsigned started = 0;
    int terr = 0;
    for (; started < nt; started++) {
        ws[started].gate = &gate;
        if ((terr = pthread_create(&th[started], NULL, worker_main, &ws[started])) != 0)
            break;
    }
    if (started < nt) {
        gate_open(&gate, -1);
        for (unsigned i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        rt_err_set(err, RT_EIO, "cannot start thread %u of %u: %s", started + 1, nt,
                   strerror(terr));
        rc = RT_EIO;
        goto out;
    }
    gate_open(&gate, 1);
    /* the status line: about once a second, until every worker has finished */
    uint64_t tick_ops = 0, tick_errors = 0, tick_hits = 0, tick_misses = 0;
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
            st.hits += pub[i].hits;
            st.misses += pub[i].misses;
            st.skipped += pub[i].skipped;
            st.conns += pub[i].conns;
            st.inflight += pub[i].inflight;
            if (pub[i].slip_ns > st.slip_ns)
                st.slip_ns = pub[i].slip_ns;
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
            struct replay_tick *grown = realloc(res->ticks, (res->nticks + 1) * sizeof *grown);
            if (!grown && !rc) { /* the timeline stops there; the run fails when it ends */
                rt_err_set(err, RT_ENOMEM, "out of memory (the timeline)");
                rc = RT_ENOMEM;
            }
            if (grown) {
                res->ticks = grown;
                struct replay_tick *tk = &res->ticks[res->nticks++];
                tk->t_s = st.elapsed_s;
                tk->ops = st.ops - tick_ops;
                tk->errors = st.errors - tick_errors;
                tk->hits = st.hits - tick_hits;
                tk->misses = st.misses - tick_misses;
                tk->p50_ns = rt_hist_percentile(shared_sec, 50);
                tk->p99_ns = rt_hist_percentile(shared_sec, 99);
                tk->max_ns = rt_hist_max(shared_sec);
                tk->outstanding = st.inflight;
            }
            rt_hist_reset(shared_sec);
            tick_ops = st.ops;
            tick_errors = st.errors;
            tick_hits = st.hits;
            tick_misses = st.misses;
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
        if (eng_results_merge(res, w) < 0 && !rc) {
            rt_err_set(err, RT_ENOMEM, "out of memory (merging the results)");
            rc = RT_ENOMEM;
        }
    }
    if (o->verify_writes && !rc) {
        struct vw_table *all = vw_table_new();
        int oom = !all;
        for (unsigned i = 0; all && i < nt; i++)
            if (ws[i].vw)
                vw_merge(all, ws[i].vw);
        for (unsigned i = 0; i < nt; i++)
            oom |= vw_table_oom(ws[i].vw);
        if (oom || vw_table_oom(all)) {
            rt_err_set(err, RT_ENOMEM, "out of memory (--verify-writes)");
            rc = RT_ENOMEM;
        } else {
            eng_verify_writes(o, ssl, cluster, all, &res->verify);
        }
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
        rt_hist_free(w->res.slip);
        rt_hist_free(w->res.sync_wait);
        sync_w_free(w->sync);
        free(w->skeys);
        free(w->spos);
        free(w->fold); /* (a worker that ran freed it already) */
    }
    sync_shared_free(sync_sh);
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
