/* results.c: what became of each request, and the run's result: latency, errors by message,
 * the divergence from the recorded replies, per-command and per-node statistics, the merge of
 * the workers' results, and the --verify-writes read back.
 *
 * Latency is measured from the due time (coordinated omission corrected, as wrk2 does) and
 * from the actual send (service time); the replayer's own lag, send time minus due time, is
 * recorded as a request leaves (sched.c). A reply is compared by type with the recorded reply,
 * when the trace has one, for the divergence counts, whichever of the two comes first. Each
 * worker counts alone; replay_run merges the workers' results once they have finished, so
 * nothing here is shared between threads.
 */
#define _GNU_SOURCE /* memmem */
#include "engine_int.h"

/* ---- per-command and per-node statistics ----------------------------------------------- */

uint16_t eng_cmd_index(struct worker *w, const char *name)
{
    for (size_t i = 0; i < w->ncmds; i++)
        if (strcmp(w->cmds[i].r.name, name) == 0)
            return (uint16_t)i;
    if (w->ncmds == MAX_CMDS - 1)
        name = "(other)"; /* the last slot takes every further name */
    if (w->ncmds == MAX_CMDS)
        return MAX_CMDS - 1;
    struct cmd_stat *c = &w->cmds[w->ncmds];
    snprintf(c->r.name, sizeof c->r.name, "%s", name);
    c->r.lat = rt_hist_new();
    c->r.svc = rt_hist_new();
    if (!c->r.lat || !c->r.svc) /* (its histograms record nothing: the run fails) */
        eng_fatal(w, RT_ENOMEM, "out of memory while replaying");
    return (uint16_t)w->ncmds++;
}

/* the statistics of node `node`; out of memory, a sink that counts nothing (the run fails) */
struct shard_stat *eng_shard(struct worker *w, int node)
{
    if (node < 0)
        return &w->shard_sink;
    if ((size_t)node >= w->nshards) {
        size_t n = w->topo.n > (size_t)node ? w->topo.n : (size_t)node + 1;
        if (eng_grow(w, &w->shards, n * sizeof *w->shards) < 0)
            return &w->shard_sink;
        for (size_t i = w->nshards; i < n; i++) {
            memset(&w->shards[i], 0, sizeof w->shards[i]);
            w->shards[i].lat = rt_hist_new();
            if (!w->shards[i].lat) /* (records nothing: the run fails) */
                eng_fatal(w, RT_ENOMEM, "out of memory while replaying");
        }
        w->nshards = n;
    }
    return &w->shards[node];
}

/* Both replies known: count how the target's differs from the recorded one. */
void eng_compare(struct worker *w, struct req *r)
{
    unsigned rec = r->rec_rtype, got = r->got_rtype;
    if (!got)
        return; /* lost with its connection */
    struct replay_cmd_result *c = &w->cmds[r->cmd].r;
    c->compared++;
    w->res.compared++;
    if (is_err_type(got) && !is_err_type(rec)) {
        c->new_errors++;
        w->res.new_errors++;
    } else if (got == TRACE_R_NULL && rec != TRACE_R_NULL && !is_err_type(rec)) {
        c->misses++;
        w->res.misses++;
        if (w->o->read_through && r->kind == K_REQ)
            eng_fill_miss(w, r);
    } else if (rec == TRACE_R_NULL && got != TRACE_R_NULL && !is_err_type(got)) {
        c->new_values++;
        w->res.new_values++;
    } else if (rec != got && !(is_err_type(rec) && is_err_type(got))) {
        c->type_changed++;
        w->res.type_changed++;
    } else if (r->is_read && rec != TRACE_R_NULL && !is_err_type(rec)) {
        w->res.hits++; /* found what the recording found */
    }
}

/* ---- error replies by message ---------------------------------------------------------- */

#define ERRTAB_CAP 64 /* distinct messages kept per table while replaying; the last entry
                       * collects the rest */
static const char other_msgs[] = "(other messages)";

void replay_errmsg_key(const char *msg, size_t len, char *out, size_t cap)
{
    /* the arguments a message quotes make every instance distinct: cut them */
    static const char *const cuts[] = {", with args beginning with:", " (key '", NULL};
    size_t n = len;
    for (size_t i = 0; cuts[i]; i++) {
        const char *p = memmem(msg, n, cuts[i], strlen(cuts[i]));
        if (p)
            n = (size_t)(p - msg);
    }
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)msg[i];
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    while (o && out[o - 1] == ' ')
        o--;
    out[o] = 0;
}

/* counts `count` of message `key` in the table (at most ERRTAB_CAP entries: once full, new
 * messages are counted in one "(other messages)" entry) */
static int errtab_add(struct replay_errmsg **tab, size_t *n, const char *key, uint64_t count)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < *n; i++)
            if (!strcmp((*tab)[i].msg, key)) {
                (*tab)[i].count += count;
                return 0;
            }
        if (*n < ERRTAB_CAP - 1 || !strcmp(key, other_msgs))
            break;
        key = other_msgs; /* full: the message joins the others */
    }
    if (*n == 0 && !(*tab = calloc(ERRTAB_CAP, sizeof **tab)))
        return -1;
    snprintf((*tab)[*n].msg, sizeof (*tab)[*n].msg, "%s", key);
    (*tab)[*n].count = count;
    (*n)++;
    return 0;
}

static int cmp_errmsg(const void *a, const void *b)
{
    const struct replay_errmsg *x = a, *y = b;
    int ox = !strcmp(x->msg, other_msgs), oy = !strcmp(y->msg, other_msgs);
    if (ox != oy)
        return ox - oy; /* "(other messages)" last */
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->msg, y->msg);
}

/* sorts a merged table by count and keeps the REPLAY_ERRMSG_MAX most frequent, the others
 * summed into "(other messages)" */
static void errtab_finish(struct replay_errmsg **tab, size_t *n)
{
    if (!*n)
        return;
    qsort(*tab, *n, sizeof **tab, cmp_errmsg);
    if (*n > REPLAY_ERRMSG_MAX) {
        uint64_t rest = 0;
        for (size_t i = REPLAY_ERRMSG_MAX - 1; i < *n; i++)
            rest += (*tab)[i].count;
        snprintf((*tab)[REPLAY_ERRMSG_MAX - 1].msg, sizeof (*tab)[0].msg, "%s", other_msgs);
        (*tab)[REPLAY_ERRMSG_MAX - 1].count = rest;
        *n = REPLAY_ERRMSG_MAX;
    }
}

/* the current error reply's message, counted for the command and overall */
static void count_errmsg(struct worker *w, struct replay_cmd_result *c)
{
    char key[128];
    if (w->cur_err && w->cur_errlen)
        replay_errmsg_key(w->cur_err, w->cur_errlen, key, sizeof key);
    else
        snprintf(key, sizeof key, "(no message)");
    if (errtab_add(&c->errmsgs, &c->nerrmsgs, key, 1) < 0 ||
        errtab_add(&w->errs, &w->nerrs, key, 1) < 0)
        eng_fatal(w, RT_ENOMEM, "out of memory while replaying");
}

/* ---- a request's end: answered, lost or abandoned -------------------------------------- */

/* a request of the trace leaves the in-flight count (answered, lost or abandoned) */
void eng_inflight_done(struct worker *w, const struct req *r)
{
    w->inflight--;
    if (r->blocking)
        w->inflight_blocking--;
}

void eng_complete(struct worker *w, struct req *r, unsigned rtype, uint64_t now)
{
    struct replay_cmd_result *c = &w->cmds[r->cmd].r;
    /* (a due time after the reply would make a latency of 584 years: none is negative) */
    uint64_t lat = now > r->due ? now - r->due : 0, svc = now > r->sent ? now - r->sent : 0;
    /* (the overall histograms are the per-command ones merged at the end: two records less
     * per reply) */
    rt_hist_record(c->lat, lat);
    rt_hist_record(c->svc, svc);
    rt_hist_record(w->delta_lat, lat);
    c->ops++;
    w->res.ops++;
    w->last_progress = now;
    if (is_err_type(rtype)) {
        c->errors++;
        w->res.errors++;
        if (!w->err_counted)
            count_errmsg(w, c);
        if (r->special == S_EXEC)
            w->res.tx_aborted++;
    }
    r->got = 1;
    r->got_rtype = (uint8_t)(rtype ? rtype : 0);
    if (r->rec_state == 1 && rtype)
        eng_compare(w, r);
    if (r->vw && rtype && !is_err_type(rtype) &&
        (r->vw->cond == 0 || (r->vw->cond == 1 && rtype != TRACE_R_NULL) ||
         (r->vw->cond == 2 && rtype == TRACE_R_INTEGER && w->last_ival == 1))) {
        if (w->o->wait_replicas && r->kind == K_REQ && !w->cluster) {
            r->vw_ok = 1; /* acknowledged when the WAIT after it says the replicas have it */
            r->vw_ival = w->last_ival;
        } else {
            vw_ack(w->vw, r->vw, w->last_ival, now);
        }
    }
    struct rconn *rc = r->rc;
    if (r->expect && rc && rc->out)
        rc->out--;
    if (rc)
        rc->unblocked_at = now;
    eng_sync_answered(w, r); /* the requests of every connection waiting for it may go */
    eng_release(r);
    if (rc)
        eng_rconn_pump_at(rc, now);
    if (w->buffered <= eng_ahead(w) / 2 && w->buffered_bytes <= w->max_buffered_bytes / 2)
        eng_worker_fill(w);
}

/* A part of a split request answered (or lost: rtype 0): the request completes with its
 * last part, as an error when any part failed. */
void eng_part_done(struct worker *w, struct req *q, unsigned rtype, uint64_t now)
{
    struct req *p = q->parent;
    if (!rtype || is_err_type(rtype))
        p->part_err = 1;
    if (is_err_type(rtype) && !p->part_msg) {
        /* the request's error message is its first failed part's */
        count_errmsg(w, &w->cmds[p->cmd].r);
        p->part_msg = 1;
    }
    if (!rtype && p->vw)
        vw_lost(w->vw, p->vw, now); /* a part lost: the other parts may have been applied */
    eng_release(q);
    if (--p->parts_left == 0) {
        eng_inflight_done(w, p);
        w->err_counted = p->part_msg;
        eng_complete(w, p, p->part_err ? TRACE_R_ERROR : p->split_kind, now);
        w->err_counted = 0;
    }
}

/* A request lost with its connection (or that could not go on): an error, no latency. */
void eng_lose_req(struct worker *w, struct req *r, uint64_t now)
{
    if (r->kind == K_INTERNAL && r->special == S_WAIT) {
        if (r->parent->vw_ok)
            vw_lost(w->vw, r->parent->vw, now);
        eng_release(r->parent);
    }
    if (r->vw && r->kind == K_REQ)
        vw_lost(w->vw, r->vw, now); /* sent, never answered: applied or not */
    if (r->kind == K_PART) {
        eng_part_done(w, r, 0, now);
        return;
    }
    if (r->kind != K_INTERNAL) {
        w->cmds[r->cmd].r.errors++;
        w->res.errors++;
        w->res.lost++;
        eng_inflight_done(w, r);
        if (r->rc && r->rc->out)
            r->rc->out--;
        w->last_progress = now;
        eng_sync_answered(w, r); /* lost: applied or not, it will not run later */
    }
    r->got = 1;
    eng_release(r);
}

/* A request still in flight (or waiting for a retry) when the replay ends: unanswered. */
void eng_abandon_req(struct worker *w, struct req *r)
{
    if (r->kind == K_INTERNAL && r->special == S_WAIT) {
        if (r->parent->vw_ok)
            vw_lost(w->vw, r->parent->vw, now_ns());
        eng_release(r->parent);
    }
    if (r->vw && r->kind == K_REQ)
        vw_lost(w->vw, r->vw, now_ns());
    if (r->kind == K_PART) {
        if (r->parent->vw)
            vw_lost(w->vw, r->parent->vw, now_ns());
        struct req *p = r->parent;
        if (--p->parts_left == 0) {
            w->res.unanswered++;
            eng_inflight_done(w, p);
            eng_release(p);
        }
    } else if (r->kind != K_INTERNAL) {
        w->res.unanswered++;
        /* a blocking command the recording saw no reply to either (a consumer still waiting
         * when the capture ended) waits here as it did there */
        if (r->blocking && r->rec_state != 1)
            w->res.still_blocked++;
        eng_inflight_done(w, r);
        eng_sync_answered(w, r);
    }
    eng_release(r);
}

/* ---- the run's result ------------------------------------------------------------------ */

int eng_result_alloc(struct replay_result *r)
{
    r->lat = rt_hist_new();
    r->svc = rt_hist_new();
    r->lag = rt_hist_new();
    r->slip = rt_hist_new();
    r->sync_wait = rt_hist_new();
    return r->lat && r->svc && r->lag && r->slip && r->sync_wait ? 0 : -1;
}

void replay_result_free(struct replay_result *res)
{
    if (!res)
        return;
    rt_hist_free(res->lat);
    rt_hist_free(res->svc);
    rt_hist_free(res->lag);
    rt_hist_free(res->slip);
    rt_hist_free(res->sync_wait);
    for (size_t i = 0; i < res->ncmds; i++) {
        rt_hist_free(res->cmds[i].lat);
        rt_hist_free(res->cmds[i].svc);
        free(res->cmds[i].errmsgs);
    }
    free(res->cmds);
    free(res->errmsgs);
    for (size_t i = 0; i < res->nshards; i++) {
        rt_hist_free(res->shards[i].lat);
        free(res->shards[i].slots);
    }
    free(res->shards);
    free(res->ticks);
    memset(res, 0, sizeof *res);
}

uint64_t replay_failed(const struct replay_result *r, char *why, size_t cap)
{
    uint64_t unreach = r->skipped_by[REPLAY_SKIP_UNREACHABLE];
    uint64_t bad = r->lost + unreach + r->unanswered - r->still_blocked + r->unsent + r->unread;
    if (!bad && r->unreadable_chunks) {
        /* the requests of chunks this version cannot decode were not replayed (how many is
         * not known): a failure too */
        snprintf(why, cap, "%llu chunks of the trace (the first at offset %llu) use an encoding "
                           "this version cannot read: their requests were not replayed",
                 (unsigned long long)r->unreadable_chunks,
                 (unsigned long long)r->unreadable_offset);
        return 1;
    }
    if (!bad) {
        if (cap)
            why[0] = 0;
        return 0;
    }
    /* what was to be sent (unreachable ones are counted apart from the policy skips) */
    uint64_t window = r->requests + r->unread - r->skipped;
    size_t n = (size_t)snprintf(why, cap, "%llu of %llu requests were not answered:",
                                (unsigned long long)bad, (unsigned long long)window);
    const char *sep = "";
#define PART(v, ...)                                                                               \
    if ((v) && n < cap) {                                                                          \
        n += (size_t)snprintf(why + n, cap - n, "%s %llu ", sep, (unsigned long long)(v));        \
        if (n < cap)                                                                               \
            n += (size_t)snprintf(why + n, cap - n, __VA_ARGS__);                                  \
        sep = ",";                                                                                 \
    }
    PART(r->lost, "lost with their connection");
    PART(unreach, "dropped while the target was unreachable");
    PART(r->unanswered - r->still_blocked, "still unanswered at the end");
    PART(r->unsent + r->unread, "never sent");
#undef PART
    if (n < cap) {
        const char *cause = r->stalled          ? r->stall_why
                            : r->conn_error[0] ? r->conn_error
                                               : NULL;
        if (cause)
            n += (size_t)snprintf(why + n, cap - n, " (%s)", cause);
    }
    if (n < cap && r->unreadable_chunks)
        snprintf(why + n, cap - n, "; and %llu chunks of the trace use an encoding this version "
                                   "cannot read",
                 (unsigned long long)r->unreadable_chunks);
    return bad;
}

/* ---- the merge of the workers' results ------------------------------------------------- */

static int merge_cmd(struct replay_result *dst, const struct replay_cmd_result *c)
{
    size_t i = 0;
    for (; i < dst->ncmds; i++)
        if (!strcmp(dst->cmds[i].name, c->name))
            break;
    if (i == dst->ncmds) {
        struct replay_cmd_result *grown = realloc(dst->cmds, (dst->ncmds + 1) * sizeof *grown);
        if (!grown)
            return -1;
        dst->cmds = grown;
        memset(&dst->cmds[i], 0, sizeof dst->cmds[i]);
        snprintf(dst->cmds[i].name, sizeof dst->cmds[i].name, "%s", c->name);
        dst->cmds[i].lat = rt_hist_new();
        dst->cmds[i].svc = rt_hist_new();
        dst->ncmds++;
    }
    struct replay_cmd_result *d = &dst->cmds[i];
    d->ops += c->ops;
    d->errors += c->errors;
    d->skipped += c->skipped;
    d->misses += c->misses;
    d->new_errors += c->new_errors;
    d->type_changed += c->type_changed;
    d->new_values += c->new_values;
    d->compared += c->compared;
    rt_hist_merge(d->lat, c->lat);
    rt_hist_merge(d->svc, c->svc);
    for (size_t k = 0; k < c->nerrmsgs; k++)
        if (errtab_add(&d->errmsgs, &d->nerrmsgs, c->errmsgs[k].msg, c->errmsgs[k].count) < 0)
            return -1;
    return !d->lat || !d->svc ? -1 : 0;
}

static int cmp_cmd(const void *a, const void *b)
{
    const struct replay_cmd_result *x = a, *y = b;
    uint64_t nx = x->ops + x->skipped, ny = y->ops + y->skipped;
    if (nx != ny)
        return nx < ny ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void merge_result(struct replay_result *dst, const struct replay_result *s)
{
    dst->requests += s->requests;
    dst->sent += s->sent;
    dst->ops += s->ops;
    dst->errors += s->errors;
    dst->skipped += s->skipped;
    dst->misses += s->misses;
    dst->new_errors += s->new_errors;
    dst->type_changed += s->type_changed;
    dst->new_values += s->new_values;
    dst->compared += s->compared;
    for (int i = 0; i < REPLAY_SKIP_MAX; i++)
        dst->skipped_by[i] += s->skipped_by[i];
    dst->conn_opened += s->conn_opened;
    dst->conn_failures += s->conn_failures;
    dst->pushes += s->pushes;
    dst->unanswered += s->unanswered;
    dst->lost += s->lost;
    dst->unsent += s->unsent;
    dst->cut += s->cut;
    if (s->unreadable_chunks > dst->unreadable_chunks) {
        dst->unreadable_chunks = s->unreadable_chunks;
        dst->unreadable_offset = s->unreadable_offset;
    }
    dst->still_blocked += s->still_blocked;
    dst->protocol_errors += s->protocol_errors;
    if (s->stalled && !dst->stalled) {
        dst->stalled = 1;
        memcpy(dst->stall_why, s->stall_why, sizeof dst->stall_why);
    }
    dst->setup_errors += s->setup_errors;
    dst->getkeys_asked += s->getkeys_asked;
    if (!dst->setup_error[0])
        memcpy(dst->setup_error, s->setup_error, sizeof dst->setup_error);
    if (!dst->conn_error[0])
        memcpy(dst->conn_error, s->conn_error, sizeof dst->conn_error);
    if (s->duration_s > dst->duration_s)
        dst->duration_s = s->duration_s;
    if (s->trace_span_s > dst->trace_span_s)
        dst->trace_span_s = s->trace_span_s;
    dst->stopped |= s->stopped;
    dst->moved += s->moved;
    dst->ask += s->ask;
    dst->tryagain += s->tryagain;
    dst->refreshes += s->refreshes;
    dst->split += s->split;
    dst->crossslot += s->crossslot;
    dst->crossslot_tx += s->crossslot_tx;
    dst->tx_aborted += s->tx_aborted;
    dst->select_mapped += s->select_mapped;
    rt_hist_merge(dst->lat, s->lat);
    rt_hist_merge(dst->svc, s->svc);
    rt_hist_merge(dst->lag, s->lag);
    rt_hist_merge(dst->slip, s->slip);
    rt_hist_merge(dst->sync_wait, s->sync_wait);
    if (s->slip_final_ns > dst->slip_final_ns || !dst->chained)
        dst->slip_final_ns = s->slip_final_ns; /* the latest worker's: the most behind */
    dst->chained += s->chained;
    dst->scheduled += s->scheduled;
    dst->sync_waited += s->sync_waited;
    dst->sync_barriers += s->sync_barriers;
    dst->sync_unordered += s->sync_unordered;
    dst->sync_overlapped += s->sync_overlapped;
    dst->sync_commuted += s->sync_commuted;
    dst->hits += s->hits;
    dst->scale_unkeyed += s->scale_unkeyed;
    dst->read_through += s->read_through;
    dst->read_through_errors += s->read_through_errors;
    dst->read_through_skipped += s->read_through_skipped;
}

/* per node, by its address: workers number the nodes each in their own order */
static int merge_shards(struct replay_result *dst, struct worker *w)
{
    for (size_t i = 0; i < w->nshards && i < w->topo.n; i++) {
        const struct cl_node *nd = &w->topo.nodes[i];
        const struct shard_stat *st = &w->shards[i];
        char addr[300];
        snprintf(addr, sizeof addr, "%s:%u", nd->host, (unsigned)nd->port);
        size_t k = 0;
        while (k < dst->nshards && strcmp(dst->shards[k].addr, addr) != 0)
            k++;
        if (k == dst->nshards) {
            struct replay_shard_result *grown = realloc(dst->shards, (k + 1) * sizeof *grown);
            char *slots = calloc(1, 65536);
            if (grown)
                dst->shards = grown;
            if (!grown || !slots) {
                free(slots);
                return -1;
            }
            struct replay_shard_result *d = &dst->shards[k];
            memset(d, 0, sizeof *d);
            snprintf(d->addr, sizeof d->addr, "%s", addr);
            snprintf(d->id, sizeof d->id, "%s", nd->id);
            d->primary = nd->primary;
            cl_topo_ranges(&w->topo, i, slots, 65536);
            char *fit = realloc(slots, strlen(slots) + 1);
            d->slots = fit ? fit : slots;
            d->lat = rt_hist_new();
            dst->nshards++;
            if (!d->lat)
                return -1;
        }
        struct replay_shard_result *d = &dst->shards[k];
        d->sent += st->sent;
        d->ops += st->ops;
        d->errors += st->errors;
        d->moved += st->moved;
        d->ask += st->ask;
        d->tryagain += st->tryagain;
        rt_hist_merge(d->lat, st->lat);
    }
    return 0;
}

static int cmp_shard(const void *a, const void *b)
{
    const struct replay_shard_result *x = a, *y = b;
    if (x->primary != y->primary)
        return x->primary ? -1 : 1;
    /* primaries by their first slot */
    long fx = x->slots[0] ? strtol(x->slots, NULL, 10) : 99999;
    long fy = y->slots[0] ? strtol(y->slots, NULL, 10) : 99999;
    if (fx != fy)
        return fx < fy ? -1 : 1;
    return strcmp(x->addr, y->addr);
}

/* adds worker `w`'s results into `res` */
int eng_results_merge(struct replay_result *res, struct worker *w)
{
    int rc = 0;
    for (size_t k = 0; k < w->ncmds; k++) {
        if (merge_cmd(res, &w->cmds[k].r) < 0)
            rc = -1;
        rt_hist_merge(w->res.lat, w->cmds[k].r.lat); /* (eng_complete records per command) */
        rt_hist_merge(w->res.svc, w->cmds[k].r.svc);
    }
    for (size_t k = 0; k < w->nerrs; k++)
        if (errtab_add(&res->errmsgs, &res->nerrmsgs, w->errs[k].msg, w->errs[k].count) < 0)
            rc = -1;
    if (w->sync) {
        w->res.sync_overlapped = sync_w_stats(w->sync)->overlapped;
        w->res.sync_commuted = sync_w_stats(w->sync)->commuted;
    }
    merge_result(res, &w->res);
    if (w->cluster && merge_shards(res, w) < 0)
        rc = -1;
    return rc;
}

/* the merged results in their order: error messages by count (past REPLAY_ERRMSG_MAX, the
 * rest summed into one), commands by use, nodes primaries first */
void eng_results_sort(struct replay_result *res)
{
    errtab_finish(&res->errmsgs, &res->nerrmsgs);
    for (size_t k = 0; k < res->ncmds; k++)
        errtab_finish(&res->cmds[k].errmsgs, &res->cmds[k].nerrmsgs);
    if (res->ncmds)
        qsort(res->cmds, res->ncmds, sizeof *res->cmds, cmp_cmd);
    if (res->nshards)
        qsort(res->shards, res->nshards, sizeof *res->shards, cmp_shard);
}

/* ---- --verify-writes: the read back ---------------------------------------------------- */

struct vctx {
    const struct replay_opts *o;
    SSL_CTX *ssl;
    struct cl_topo topo;
    int cluster;
    struct rt_ctl *ctl; /* by node */
    size_t nctl;
    struct replay_verify *v;
    int dead;           /* the standalone target cannot be read: stop asking */
};

static struct rt_ctl *vctl(struct vctx *c, int node)
{
    if ((size_t)node >= c->nctl) {
        size_t n = c->topo.n > (size_t)node ? c->topo.n : (size_t)node + 1;
        struct rt_ctl *grown = realloc(c->ctl, n * sizeof *grown);
        if (!grown)
            return NULL; /* (counted as not read back) */
        c->ctl = grown;
        memset(c->ctl + c->nctl, 0, (n - c->nctl) * sizeof *c->ctl);
        for (size_t i = c->nctl; i < n; i++)
            c->ctl[i].fd = -1;
        c->nctl = n;
    }
    struct rt_ctl *x = &c->ctl[node];
    if (x->fd >= 0)
        return x;
    const struct cl_node *nd = &c->topo.nodes[node];
    const struct replay_target *t = c->o->verify_target ? c->o->verify_target : &c->o->target;
    char why[200];
    double ct = c->o->connect_timeout_s > 0 ? c->o->connect_timeout_s : 3.0;
    if (rt_ctl_open(x, (const struct sockaddr *)&nd->addr, nd->addrlen, c->ssl,
                    c->o->tls.sni ? c->o->tls.sni : nd->host, c->o->tls.insecure, t->user, t->pass,
                    ct, why, sizeof why) < 0) {
        if (!c->v->error[0])
            snprintf(c->v->error, sizeof c->v->error, "%.40s:%u: %.140s", nd->host,
                     (unsigned)nd->port, why);
        return NULL;
    }
    return x;
}

static void vexample(struct replay_verify *v, const char *key, size_t klen, const char *what)
{
    if (v->nexamples >= 5)
        return;
    char k[64];
    size_t n = klen < 60 ? klen : 60;
    for (size_t i = 0; i < n; i++)
        k[i] = key[i] >= 32 && key[i] < 127 ? key[i] : '.';
    k[n] = 0;
    snprintf(v->examples[v->nexamples++], sizeof v->examples[0], "%s%s: %s", k,
             klen > 60 ? "..." : "", what);
}

static void verify_key(void *ctx, const char *key, size_t klen, int kind, const char *val,
                       size_t vlen, int64_t ival, int uncertain)
{
    struct vctx *c = ctx;
    struct replay_verify *v = c->v;
    v->keys++;
    if (uncertain) {
        v->uncertain++;
        return;
    }
    if (kind != VW_VALUE && kind != VW_COUNTER && kind != VW_ABSENT) {
        v->untracked++;
        return;
    }
    int node = c->cluster ? c->topo.owner[rt_key_slot(key, klen)] : 0;
    const char *av[2] = {kind == VW_ABSENT ? "EXISTS" : "GET", key};
    size_t len[2] = {kind == VW_ABSENT ? 6 : 3, klen};
    redisReply *r = NULL;
    for (int tries = 0; tries < 3 && !c->dead; tries++) {
        if (node < 0 || node == CL_NONE)
            break;
        struct rt_ctl *x = vctl(c, node);
        char why[200];
        if (!x || !(r = rt_ctl_command(x, 2, av, len, why, sizeof why))) {
            if (!c->cluster)
                c->dead = 1;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "MOVED ", 6)) {
            uint32_t slot;
            uint16_t port;
            char host[256];
            node = eng_parse_redirect(r->str, r->len, c->topo.nodes[node].host, &slot, host,
                                      sizeof host, &port) == 0
                       ? cl_topo_node(&c->topo, host, port)
                       : -1;
            freeReplyObject(r);
            r = NULL;
            continue;
        }
        break;
    }
    if (!r || r->type == REDIS_REPLY_ERROR) {
        v->unreadable++;
        if (r)
            freeReplyObject(r);
        return;
    }
    char num[32];
    if (kind == VW_COUNTER) {
        snprintf(num, sizeof num, "%lld", (long long)ival);
        val = num;
        vlen = strlen(num);
    }
    if (kind == VW_ABSENT) {
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
            v->verified++;
        } else {
            v->reverted++;
            vexample(v, key, klen, "deleted (acknowledged), there again");
        }
    } else if (r->type == REDIS_REPLY_NIL) {
        v->lost++;
        vexample(v, key, klen, kind == VW_COUNTER ? "counter gone" : "value gone");
    } else if (r->type == REDIS_REPLY_STRING && r->len == vlen && !memcmp(r->str, val, vlen)) {
        v->verified++;
    } else {
        v->reverted++;
        vexample(v, key, klen, kind == VW_COUNTER ? "counter holds another value"
                                                  : "holds another value than acknowledged");
    }
    freeReplyObject(r);
}

/* reads every acknowledged write back, from the verify target (in cluster mode from the slot
 * owners of a topology read now: after a failover the promoted replicas answer) */
void eng_verify_writes(const struct replay_opts *o, SSL_CTX *ssl, int cluster,
                       const struct vw_table *t, struct replay_verify *v)
{
    const struct replay_target *vt = o->verify_target ? o->verify_target : &o->target;
    /* the read back speaks TLS when its own target says so, whatever the replay's did */
    SSL_CTX *own = NULL;
    if (vt->tls && !ssl) {
        struct rt_err e = {0};
        if (!(own = rt_tls_ctx_new(&o->tls, &e))) {
            snprintf(v->error, sizeof v->error, "%.190s", e.msg);
            return;
        }
        ssl = own;
    }
    if (!vt->tls)
        ssl = NULL;
    struct vctx c = {.o = o, .ssl = ssl, .v = v};
    v->ran = 1;
    if (cluster) {
        struct replay_opts o2 = *o;
        o2.target = *vt;
        char why[300] = "";
        c.topo.tls = vt->tls;
        if (eng_discover(&o2, ssl, &c.topo, why, sizeof why) != 1) {
            snprintf(v->error, sizeof v->error, "cannot read the topology back: %.160s", why);
            cl_topo_free(&c.topo);
            v->ran = 0;
            if (own)
                SSL_CTX_free(own);
            return;
        }
        c.cluster = 1;
    } else if (cl_topo_node(&c.topo, vt->host, vt->port) < 0) {
        snprintf(v->error, sizeof v->error, "cannot resolve %.150s", vt->host);
        v->ran = 0;
        if (own)
            SSL_CTX_free(own);
        return;
    }
    vw_foreach(t, verify_key, &c);
    if (c.dead)
        v->ran = 0;
    for (size_t i = 0; i < c.nctl; i++)
        rt_ctl_close(&c.ctl[i]);
    free(c.ctl);
    cl_topo_free(&c.topo);
    if (own)
        SSL_CTX_free(own);
}
