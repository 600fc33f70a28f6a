/* route.c: where a request goes: its slot's node (or a replica, for a read with
 * --read-from-replicas), the parts of a split request each to theirs, MOVED, ASK and TRYAGAIN
 * followed, and the cluster topology read and refreshed.
 *
 * replay_run reads the topology once (eng_discover); each worker then keeps a copy of its own:
 * a MOVED updates it at once, and a refresh (at most one every 250 ms) follows a burst of them
 * or a lost connection, over a blocking control connection. A standalone target is a topology
 * of one node serving every slot, so the same paths serve both.
 */
#include "engine_int.h"

#include <netdb.h>

/* ---- routing --------------------------------------------------------------------------- */

/* The node a request goes to now: its slot's primary (or one of its replicas for a read with
 * --read-from-replicas), the transaction's node inside MULTI, the connection's home slot's
 * node for keyless commands. @return -1 when no node serves the slot (failover, resharding). */
int eng_route_cluster(struct worker *w, struct rconn *rc, int32_t slot, int is_read, int in_tx)
{
    if (in_tx && rc->tx_node >= 0)
        return rc->tx_node;
    uint32_t s = slot >= 0 ? (uint32_t)slot : rc->home_slot;
    uint16_t p = w->topo.owner[s];
    if (p == CL_NONE)
        return -1;
    if (is_read && w->o->read_from_replicas) {
        size_t nrep = 0;
        for (size_t i = 0; i < w->topo.n; i++)
            nrep += w->topo.nodes[i].master == (int)p && !w->topo.nodes[i].failed;
        if (nrep) {
            size_t k = mix64(rc->key) % nrep;
            for (size_t i = 0; i < w->topo.n; i++)
                if (w->topo.nodes[i].master == (int)p && !w->topo.nodes[i].failed && k-- == 0) {
                    struct tconn *tc = (size_t)i < rc->g->ntc ? rc->g->tc[i] : NULL;
                    return tc && tc->state == TC_DOWN ? (int)p : (int)i;
                }
        }
    }
    return p;
}

/* sends the parts of a split request, each to its slot's node */
void eng_send_split(struct worker *w, struct rconn *rc, struct req *p, uint64_t now)
{
    eng_account_send(w, rc, p, now);
    w->inflight++;
    rc->out++;
    p->parts_left = p->nparts;
    struct req **parts = p->parts;
    p->parts = NULL; /* from now on owned by the connections' in-flight lists */
    for (uint32_t i = 0; i < p->nparts; i++) {
        struct req *q = parts[i];
        q->due = p->due;
        q->sent = now;
        int node = eng_route(w, rc, q->slot, q->is_read, 0);
        eng_tc_write_req(eng_group_tc(w, rc->g, node), q);
    }
    free(parts);
}

/* ---- redirections (MOVED, ASK, TRYAGAIN) ----------------------------------------------- */

static void retry_arm(struct worker *w)
{
    uint64_t first = 0, now = now_ns();
    for (struct req *r = w->retry_head; r; r = r->next)
        if (!first || r->retry_at < first)
            first = r->retry_at;
    if (first)
        arm_in(w->retry_timer, first > now ? first - now : 0);
}

/* TRYAGAIN: the request goes again, to its slot's node then, when its time comes */
void eng_retry_req_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    uint64_t now = now_ns();
    struct req **pp = &w->retry_head;
    while (*pp) {
        struct req *r = *pp;
        if (r->retry_at > now) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        r->next = NULL;
        int node = r->rc ? eng_route(w, r->rc, r->slot, r->is_read, 0) : -1;
        if (node < 0)
            eng_lose_req(w, r, now);
        else
            eng_tconn_resend(eng_group_tc(w, r->rc->g, node), r);
        pp = &w->retry_head; /* the list may have changed */
    }
    retry_arm(w);
}

/* parses "MOVED 3999 host:port" / "ASK 3999 host:port" (an empty host: the same host) */
int eng_parse_redirect(const char *e, size_t n, const char *from_host, uint32_t *slot, char *host,
                       size_t hcap, uint16_t *port)
{
    char buf[320];
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, e, n);
    buf[n] = 0;
    char *sp = strchr(buf, ' ');
    if (!sp)
        return -1;
    char *end;
    unsigned long sl = strtoul(sp + 1, &end, 10);
    if (end == sp + 1 || *end != ' ' || sl >= CL_SLOTS)
        return -1;
    char *addr = end + 1, *colon = strrchr(addr, ':');
    if (!colon)
        return -1;
    unsigned long pt = strtoul(colon + 1, &end, 10);
    if (*end || !pt || pt > 65535)
        return -1;
    *colon = 0;
    snprintf(host, hcap, "%s", *addr ? addr : from_host);
    *slot = (uint32_t)sl;
    *port = (uint16_t)pt;
    return 0;
}

/* MOVED, ASK and TRYAGAIN are followed (at most 5 times per request). @return 1 when the
 * request went on (the error is not its answer) */
int eng_redirect(struct tconn *tc, struct req *r, const char *e, size_t n)
{
    struct worker *w = tc->w;
    int moved = n > 6 && !memcmp(e, "MOVED ", 6), ask = n > 4 && !memcmp(e, "ASK ", 4);
    int again = n >= 8 && !memcmp(e, "TRYAGAIN", 8);
    /* inside MULTI a redirection aborts the transaction: followed elsewhere, the command
     * would leave it */
    if ((!moved && !ask && !again) || r->redirects >= 5 || !r->rc || r->in_tx ||
        (r->kind != K_REQ && r->kind != K_PART))
        return 0;
    r->redirects++;
    if (again) {
        eng_shard(w, tc->node)->tryagain++;
        w->res.tryagain++;
        r->retry_at = now_ns() + (10ull * 1000 * 1000 << r->redirects);
        r->next = w->retry_head;
        w->retry_head = r;
        retry_arm(w);
        return 1;
    }
    uint32_t slot;
    uint16_t port;
    char host[256];
    if (eng_parse_redirect(e, n, w->topo.nodes[tc->node].host, &slot, host, sizeof host, &port) < 0)
        return 0;
    int node = cl_topo_node(&w->topo, host, port);
    if (node < 0)
        return 0;
    /* a node new to the topology (added after it was read) grows the per-node array: the
     * answering node's entry is taken after that */
    eng_shard(w, node);
    struct shard_stat *st = eng_shard(w, tc->node);
    if (moved) {
        st->moved++;
        w->res.moved++;
        if (w->topo.owner[slot] != node) {
            w->topo.owner[slot] = (uint16_t)node;
            w->topo.nodes[node].primary = 1;
            w->topo.version++;
        }
        eng_want_refresh(w); /* a burst of them makes one refresh */
    } else {
        st->ask++;
        w->res.ask++;
        r->asking = 1;
    }
    eng_tconn_resend(eng_group_tc(w, r->rc->g, node), r);
    return 1;
}

/* ---- the topology ---------------------------------------------------------------------- */

/* Asks a node of the cluster for the topology, over the control connection (kept open). The
 * nodes are tried in order, a primary first; each try is bounded by the connect timeout
 * (at most 1 s), so a dead node costs at most that. */
static int topo_refresh(struct worker *w)
{
    const struct replay_opts *o = w->o;
    char why[256];
    w->last_refresh = now_ns();
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < w->topo.n; i++) {
            const struct cl_node *nd = &w->topo.nodes[i];
            if (w->tctl.fd < 0) {
                if ((pass == 0) != (nd->primary != 0))
                    continue;
                double ct = o->connect_timeout_s > 0 ? o->connect_timeout_s : 3.0;
                if (rt_ctl_open(&w->tctl, (const struct sockaddr *)&nd->addr, nd->addrlen,
                                o->target.tls ? w->ssl : NULL, o->tls.sni ? o->tls.sni : nd->host,
                                o->tls.insecure, o->target.user, o->target.pass,
                                ct < 1.0 ? ct : 1.0, why, sizeof why) < 0)
                    continue;
            }
            if (cl_topo_fetch(&w->tctl, &w->topo, why, sizeof why) == 1) {
                w->res.refreshes++;
                eng_shard(w, (int)w->topo.n - 1);
                return 0;
            }
            rt_ctl_close(&w->tctl);
        }
    return -1;
}

static void pump_all(struct worker *w)
{
    if (!w->nrconn)
        return;
    struct rconn **all = eng_calloc(w, w->nrconn, sizeof *all);
    if (!all)
        return;
    size_t n = 0;
    for (size_t i = 0; i < w->htcap; i++)
        for (struct rconn *rc = w->ht[i]; rc; rc = rc->hnext)
            all[n++] = rc;
    /* a pump frees at most its own connection */
    for (size_t i = 0; i < n && !w->fatal; i++)
        eng_rconn_pump(all[i]);
    free(all);
}

void eng_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    w->refresh_armed = 0;
    if (topo_refresh(w) == 0)
        w->unroutable_since = 0;
    pump_all(w);
}

/* one refresh at most every 250 ms, whatever the number of MOVED or lost connections */
void eng_want_refresh(struct worker *w)
{
    if (!w->cluster || w->refresh_armed || !w->refresh_timer)
        return;
    w->refresh_armed = 1;
    uint64_t now = now_ns(), at = w->last_refresh + 250ull * 1000 * 1000;
    arm_in(w->refresh_timer, at > now ? at - now : 0);
}

/* Reads the topology from the target, else from the further seeds. @return 1 cluster, 0 not
 * in cluster mode, -1 when no seed answered (`why` says why). */
int eng_discover(const struct replay_opts *o, SSL_CTX *ssl, struct cl_topo *topo, char *why,
                 size_t cap)
{
    topo->tls = o->target.tls;
    double ct = o->connect_timeout_s > 0 ? o->connect_timeout_s : 3.0;
    for (size_t k = 0; k <= o->nseeds; k++) {
        const struct replay_target *t = k ? &o->seeds[k - 1] : &o->target;
        struct addrinfo hints = {0}, *ai = NULL;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        char port[8], name[300];
        snprintf(port, sizeof port, "%u", (unsigned)t->port);
        replay_target_format(t, name, sizeof name);
        if (getaddrinfo(t->host, port, &hints, &ai) != 0 || !ai) {
            snprintf(why, cap, "%.200s: cannot resolve the host", name);
            continue;
        }
        struct rt_ctl c;
        char w2[200];
        int rc = rt_ctl_open(&c, ai->ai_addr, ai->ai_addrlen, ssl, o->tls.sni ? o->tls.sni : t->host,
                             o->tls.insecure, o->target.user, o->target.pass, ct, w2, sizeof w2);
        freeaddrinfo(ai);
        if (rc == 0) {
            rc = cl_topo_fetch(&c, topo, w2, sizeof w2);
            rt_ctl_close(&c);
            if (rc >= 0)
                return rc;
        }
        snprintf(why, cap, "%.150s: %.140s", name, w2);
    }
    return -1;
}
