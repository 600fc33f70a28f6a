/* rconn.c: a worker's recorded connections: the table by connection id, the group of target
 * connections each sends through, the recorded replies each awaits, and their end.
 *
 * A recorded connection appears when the trace opens it (or sends its first request on it) and
 * is freed once the recording has closed it and its replay side has drained. The replies it
 * awaits from the recording are kept in order, so that the target's reply and the recorded one
 * can be compared whichever comes first. With --connections N the recorded connections share N
 * groups instead of having one each.
 */
#include "engine_int.h"

struct rconn *eng_rconn_find(struct worker *w, uint64_t key)
{
    if (!w->htcap)
        return NULL;
    for (struct rconn *rc = w->ht[mix64(key) & (w->htcap - 1)]; rc; rc = rc->hnext)
        if (rc->key == key)
            return rc;
    return NULL;
}

/* @return 0, or -1 when out of memory (only when there is no table yet: a table that cannot
 * grow takes more per bucket) */
static int ht_insert(struct worker *w, struct rconn *rc)
{
    size_t ncap = w->htcap ? w->htcap * 2 : 256;
    struct rconn **nt = w->nrconn + 1 > w->htcap / 2 ? calloc(ncap, sizeof *nt) : NULL;
    if (!nt && !w->htcap) {
        eng_fatal(w, RT_ENOMEM, "out of memory while replaying");
        return -1;
    }
    if (nt) {
        for (size_t i = 0; i < w->htcap; i++)
            for (struct rconn *c = w->ht[i], *nx; c; c = nx) {
                nx = c->hnext;
                c->hnext = nt[mix64(c->key) & (ncap - 1)];
                nt[mix64(c->key) & (ncap - 1)] = c;
            }
        free(w->ht);
        w->ht = nt;
        w->htcap = ncap;
    }
    struct rconn **b = &w->ht[mix64(rc->key) & (w->htcap - 1)];
    rc->hnext = *b;
    *b = rc;
    w->nrconn++;
    return 0;
}

static void ht_remove(struct worker *w, struct rconn *rc)
{
    for (struct rconn **p = &w->ht[mix64(rc->key) & (w->htcap - 1)]; *p; p = &(*p)->hnext)
        if (*p == rc) {
            *p = rc->hnext;
            w->nrconn--;
            return;
        }
}

static int group_add_user(struct worker *w, struct tgroup *g, struct rconn *rc)
{
    if (g->nusers == g->capusers) {
        size_t ncap = g->capusers ? g->capusers * 2 : 4;
        if (eng_grow(w, &g->users, ncap * sizeof *g->users) < 0)
            return -1;
        g->capusers = ncap;
    }
    g->users[g->nusers++] = rc;
    return 0;
}

static void group_del_user(struct tgroup *g, struct rconn *rc)
{
    for (size_t i = 0; i < g->nusers; i++)
        if (g->users[i] == rc) {
            g->users[i] = g->users[--g->nusers];
            return;
        }
}

struct rconn *eng_rconn_get(struct worker *w, uint64_t key, uint64_t conn)
{
    struct rconn *rc = eng_rconn_find(w, key);
    if (rc)
        return rc;
    rc = eng_calloc(w, 1, sizeof *rc);
    if (!rc)
        return NULL;
    rc->key = key;
    rc->w = w;
    rc->home_slot = (uint32_t)(mix64(conn) % CL_SLOTS);
    rc->tx_node = -1;
    rc->tx_slot = -1;
    struct tgroup *g = w->o->connections ? &w->fold[mix64(conn) % w->o->connections]
                                         : eng_calloc(w, 1, sizeof *rc->g);
    if (!g || ht_insert(w, rc) < 0) {
        if (!w->o->connections)
            free(g);
        free(rc);
        return NULL;
    }
    rc->g = g;
    if (group_add_user(w, rc->g, rc) < 0)
        return NULL; /* (in the table: freed with the others; the run fails) */
    /* standalone: the connection opens when the recorded one appears; in cluster mode
     * each node's opens on first use */
    if (!w->cluster)
        eng_group_tc(w, rc->g, 0);
    return rc;
}

int eng_wait_push(struct rconn *rc, uint64_t seq, struct req *r)
{
    if (rc->wait_n == rc->wait_cap) {
        size_t ncap = rc->wait_cap ? rc->wait_cap * 2 : 16;
        struct wait_ent *nw = eng_calloc(rc->w, ncap, sizeof *nw);
        if (!nw)
            return -1;
        struct wait_ent *ow = (struct wait_ent *)rc->wait;
        for (size_t i = 0; i < rc->wait_n; i++)
            nw[i] = ow[(rc->wait_head + i) % rc->wait_cap];
        free(rc->wait);
        rc->wait = (struct req **)nw;
        rc->wait_cap = ncap;
        rc->wait_head = 0;
    }
    struct wait_ent *ws = (struct wait_ent *)rc->wait;
    ws[(rc->wait_head + rc->wait_n) & (rc->wait_cap - 1)] = (struct wait_ent){seq, r};
    rc->wait_n++;
    return 0;
}

/* Pops the oldest awaited recorded reply; `known` with the recorded type, or none. */
void eng_wait_pop(struct worker *w, struct rconn *rc, int known, unsigned rtype, uint64_t size)
{
    if (!rc->wait_n)
        return; /* (a push that failed: out of memory, the run fails) */
    struct wait_ent *ws = (struct wait_ent *)rc->wait;
    struct wait_ent e = ws[rc->wait_head];
    rc->wait_head = (rc->wait_head + 1) & (rc->wait_cap - 1);
    rc->wait_n--;
    if (rc->rec_out)
        rc->rec_out--;
    if (!e.r)
        return;
    if (known) {
        e.r->rec_state = 1;
        e.r->rec_rtype = (uint8_t)rtype;
        e.r->rec_size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
        if (e.r->got)
            eng_compare(w, e.r);
    } else {
        e.r->rec_state = 2;
    }
    eng_release(e.r);
}

/* The recorded reply to `seq` on `rc`: earlier awaited ones never came. */
void eng_rec_reply(struct worker *w, struct rconn *rc, const struct trace_reply *rp)
{
    if (rp->req_seq == TRACE_SEQ_NONE)
        return;
    while (rc->wait_n) {
        struct wait_ent *e = &((struct wait_ent *)rc->wait)[rc->wait_head];
        if (e->seq > rp->req_seq)
            return; /* not awaited (e.g. a reply to a NOREPLY request) */
        if (e->seq == rp->req_seq) {
            eng_wait_pop(w, rc, 1, rp->rtype, rp->size);
            return;
        }
        eng_wait_pop(w, rc, 0, 0, 0);
    }
}

static void detach(struct req *list, struct rconn *rc)
{
    for (struct req *r = list; r; r = r->inext)
        if (r->rc == rc) {
            r->rc = NULL;
            if (r->parent)
                r->parent->rc = NULL;
        }
}

void eng_rconn_free(struct worker *w, struct rconn *rc)
{
    while (rc->wait_n)
        eng_wait_pop(w, rc, 0, 0, 0);
    free(rc->wait);
    for (struct req *r = rc->rhead, *nx; r; r = nx) {
        nx = r->next;
        eng_unbuffer(w, r);
        if (w->stopping)
            w->res.cut++;
        else
            w->res.unsent++;
        r->discarded = 1;
        eng_release(r);
    }
    ht_remove(w, rc);
    struct tgroup *g = rc->g;
    group_del_user(g, rc);
    /* in flight requests keep their pointer to rc: detach them */
    for (size_t i = 0; i < g->ntc; i++) {
        if (!g->tc[i])
            continue;
        detach(g->tc[i]->ihead, rc);
        detach(g->tc[i]->phead, rc);
    }
    for (struct req *r = w->retry_head; r; r = r->next)
        if (r->rc == rc) {
            r->rc = NULL;
            if (r->parent)
                r->parent->rc = NULL;
        }
    if (!w->o->connections) {
        for (size_t i = 0; i < g->ntc; i++)
            if (g->tc[i]) {
                struct tconn *tc = g->tc[i];
                g->tc[i] = NULL;
                tc->g = NULL;
                eng_tconn_free(tc);
            }
        free(g->tc);
        free(g->users);
        free(g);
    }
    if (rc->timer)
        event_free(rc->timer);
    free(rc);
}
