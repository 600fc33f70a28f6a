/* tconn.c: the connections to the target: opened (plain TCP, or TLS through libevent's
 * OpenSSL bufferevent), set up with AUTH, SELECT and HELLO of their own, requests written with
 * backpressure, replies framed and paired with their requests, and a connection lost.
 *
 * Plain TCP is driven here rather than through a socket bufferevent, for the system calls a
 * request costs (issue 17): a bufferevent switches its write event on when output arrives and
 * off when it drained (two epoll_ctl per request on a request/response loop), and asks the
 * socket how much it may read (an ioctl per read) before reading into its chain and copying
 * out. Here a connection's output of one loop turn leaves in one send() at the end of the turn
 * (the write event is only on while the kernel refuses more: backpressure, or connecting), and
 * a read event reads straight into the framing buffer until the socket is empty.
 *
 * A recorded connection sends through a group of target connections, one per node, each
 * opened on first use. Replies are framed with the RESP scanner of format/ (RESP2 and RESP3); a
 * reply that grows past STREAM_AT is framed as it streams (reply_stream.c) instead of being
 * held whole. A connection that fails loses what it had in flight and is connected again after
 * a backoff; a target never reached at all stops the replay.
 */
#include "engine_int.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* ---- connections and their groups ------------------------------------------------------ */

static struct tconn *tconn_new(struct worker *w, struct tgroup *g, int node)
{
    struct tconn *tc = eng_calloc(w, 1, sizeof *tc);
    if (!tc)
        return NULL;
    tc->w = w;
    tc->g = g;
    tc->node = node;
    tc->proto = 2;
    tc->fd = -1;
    w->live_tconns++;
    eng_tconn_connect(tc);
    return tc;
}

/* the group's connection to `node`, opened on first use; NULL when out of memory (the run
 * fails: the functions that take a connection accept NULL and do nothing) */
struct tconn *eng_group_tc_open(struct worker *w, struct tgroup *g, int node)
{
    if ((size_t)node >= g->ntc) {
        size_t n = w->topo.n > (size_t)node ? w->topo.n : (size_t)node + 1;
        if (eng_grow(w, &g->tc, n * sizeof *g->tc) < 0)
            return NULL;
        memset(g->tc + g->ntc, 0, (n - g->ntc) * sizeof *g->tc);
        g->ntc = n;
    }
    if (!g->tc[node])
        g->tc[node] = tconn_new(w, g, node);
    return g->tc[node];
}

/* ---- the transport: plain sockets driven here, TLS through a bufferevent ---------------- */

static void tconn_lost(struct tconn *tc, const char *why);

/* the connection has a transport (up, or connecting) */
static int tc_open(const struct tconn *tc)
{
    return tc->bev || tc->fd >= 0;
}

static void tc_close(struct tconn *tc)
{
    if (tc->bev) {
        bufferevent_free(tc->bev);
        tc->bev = NULL;
    }
    if (tc->rev) {
        event_free(tc->rev);
        tc->rev = NULL;
    }
    if (tc->wev) {
        event_free(tc->wev);
        tc->wev = NULL;
    }
    tc->wev_on = 0;
    if (tc->fd >= 0) {
        close(tc->fd);
        tc->fd = -1;
    }
    tc->olen = tc->ooff = 0;
}

/* bytes given to the connection and not yet taken by the kernel */
static size_t tc_pending(struct tconn *tc)
{
    if (tc->bev)
        return evbuffer_get_length(bufferevent_get_output(tc->bev));
    return tc->olen - tc->ooff;
}

/* queues bytes on the connection; a plain one writes them out at the end of the loop turn */
static void tc_out(struct tconn *tc, const void *p, size_t n)
{
    if (tc->bev) {
        bufferevent_write(tc->bev, p, n);
        return;
    }
    if (tc->fd < 0 || !n)
        return;
    if (tc->olen + n > tc->ocap) {
        if (tc->ooff) {
            memmove(tc->obuf, tc->obuf + tc->ooff, tc->olen - tc->ooff);
            tc->olen -= tc->ooff;
            tc->ooff = 0;
        }
        if (tc->olen + n > tc->ocap) {
            size_t ncap = tc->ocap ? tc->ocap : 4096;
            while (ncap < tc->olen + n)
                ncap *= 2;
            if (eng_grow(tc->w, &tc->obuf, ncap) < 0)
                return; /* (the run fails) */
            tc->ocap = ncap;
        }
    }
    memcpy(tc->obuf + tc->olen, p, n);
    tc->olen += n;
    if (!tc->dirty) {
        struct worker *w = tc->w;
        if (w->ndirty == w->capdirty) {
            size_t ncap = w->capdirty ? w->capdirty * 2 : 64;
            if (eng_grow(w, &w->dirty, ncap * sizeof *w->dirty) < 0)
                return;
            w->capdirty = ncap;
        }
        w->dirty[w->ndirty++] = tc;
        tc->dirty = 1;
        if (w->ndirty == 1 && w->flush_ev)
            event_active(w->flush_ev, EV_WRITE, 0); /* after this turn's other callbacks */
    }
}

/* gives the kernel what it takes of the output; the write event waits for room for the rest.
 * @return 0, or -1 when the connection was lost (tc may be freed) */
static int tc_write_out(struct tconn *tc)
{
    while (tc->ooff < tc->olen) {
        size_t left = tc->olen - tc->ooff;
        ssize_t k = send(tc->fd, tc->obuf + tc->ooff, left, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            char why[200];
            snprintf(why, sizeof why, "%s", strerror(errno));
            tconn_lost(tc, why);
            return -1;
        }
        if (k > 0)
            tc->ooff += (size_t)k;
        if (k < 0 || (size_t)k < left) {
            /* the kernel's buffer is full: the write event says when it has room */
            if (!tc->wev_on && tc->wev) {
                event_add(tc->wev, NULL);
                tc->wev_on = 1;
            }
            return 0;
        }
    }
    tc->olen = tc->ooff = 0;
    if (tc->wev_on) {
        event_del(tc->wev);
        tc->wev_on = 0;
    }
    return 0;
}

void eng_flush(struct worker *w)
{
    while (w->ndirty) {
        struct tconn *tc = w->dirty[--w->ndirty];
        tc->dirty = 0;
        if (tc->fd >= 0 && tc->state == TC_READY)
            tc_write_out(tc); /* (a loss pumps, which may add connections to the list) */
    }
}

void eng_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    eng_flush(arg);
}

void eng_tconn_free(struct tconn *tc)
{
    struct worker *w = tc->w;
    if (tc->busy) {
        tc->doomed = 1;
        return;
    }
    tc_close(tc);
    if (tc->dirty) {
        for (size_t i = 0; i < w->ndirty; i++)
            if (w->dirty[i] == tc) {
                w->dirty[i] = w->dirty[--w->ndirty];
                break;
            }
        tc->dirty = 0;
    }
    free(tc->obuf);
    if (tc->retry)
        event_free(tc->retry);
    if (tc->g && (size_t)tc->node < tc->g->ntc && tc->g->tc[tc->node] == tc)
        tc->g->tc[tc->node] = NULL;
    /* what waits here for the connection counts as in flight */
    if (tc->ptail) {
        tc->ptail->inext = tc->ihead;
        tc->ihead = tc->phead;
        tc->phead = tc->ptail = NULL;
    }
    for (struct req *r = tc->ihead, *nx; r; r = nx) {
        nx = r->inext;
        eng_abandon_req(w, r);
    }
    free(tc->rbuf);
    free(tc->rs);
    w->live_tconns--;
    free(tc);
}

/* pumps every recorded connection of tc's group; tc is kept alive meanwhile.
 * @return 1 when tc was freed */
static int pump_users(struct tconn *tc)
{
    tc->busy = 1;
    for (size_t i = 0; !tc->doomed && i < tc->g->nusers; i++)
        eng_rconn_pump(tc->g->users[i]);
    tc->busy = 0;
    if (tc->doomed) {
        eng_tconn_free(tc);
        return 1;
    }
    return 0;
}

/* ---- sending --------------------------------------------------------------------------- */

static void inflight_push(struct tconn *tc, struct req *r)
{
    r->inext = NULL;
    if (tc->itail)
        tc->itail->inext = r;
    else
        tc->ihead = r;
    tc->itail = r;
    tc->nin++;
}

/* A command resptrace sends itself (AUTH, SELECT, HELLO). @return it (in flight). */
static struct req *send_internal(struct tconn *tc, uint8_t special, size_t argc,
                                 const char *const *argv)
{
    size_t len[8];
    for (size_t i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    struct req *r = eng_req_new(tc->w);
    if (!r)
        return NULL; /* (out of memory: the run fails) */
    r->kind = K_INTERNAL;
    r->special = special;
    r->expect = 1;
    r->refs = 1;
    r->wire = eng_fmt_cmd(tc->w, argc, argv, len, NULL, NULL, &r->wlen);
    tc_out(tc, r->wire, r->wlen);
    inflight_push(tc, r);
    return r;
}

int eng_tconn_fill(struct worker *w, struct req *r, size_t argc, const char *const *argv,
                   const size_t *lens)
{
    struct rconn *rc = r->rc;
    if (!rc || !rc->g || r->node < 0 || (size_t)r->node >= rc->g->ntc)
        return -1;
    struct tconn *tc = rc->g->tc[r->node];
    if (!tc || tc->state != TC_READY || !tc_open(tc))
        return -1;
    struct req *f = eng_req_new(w);
    if (!f)
        return -1;
    f->kind = K_INTERNAL;
    f->special = S_FILL;
    f->expect = 1;
    f->refs = 1;
    f->node = r->node;
    f->wire = eng_fmt_cmd(w, argc, argv, lens, NULL, NULL, &f->wlen);
    tc_out(tc, f->wire, f->wlen);
    eng_wire_free(f->wire, f->wlen);
    f->wire = NULL;
    inflight_push(tc, f);
    (void)w;
    return 0;
}

static void send_auth(struct tconn *tc)
{
    const struct replay_target *t = &tc->w->o->target;
    if (!t->pass)
        return;
    if (t->user) {
        const char *argv[] = {"AUTH", t->user, t->pass};
        send_internal(tc, S_AUTH, 3, argv);
    } else {
        const char *argv[] = {"AUTH", t->pass};
        send_internal(tc, S_AUTH, 2, argv);
    }
}

static void send_select(struct tconn *tc, uint32_t db)
{
    char num[16];
    snprintf(num, sizeof num, "%u", db);
    const char *argv[] = {"SELECT", num};
    struct req *r = send_internal(tc, S_SELECT, 2, argv);
    if (r)
        r->arg = db;
    tc->db = db;
}

static void send_hello(struct tconn *tc, unsigned proto)
{
    const struct replay_target *t = &tc->w->o->target;
    char num[4];
    snprintf(num, sizeof num, "%u", proto);
    if (t->pass) {
        const char *argv[] = {"HELLO", num, "AUTH", t->user ? t->user : "default", t->pass};
        send_internal(tc, S_HELLO, 5, argv);
    } else {
        const char *argv[] = {"HELLO", num};
        send_internal(tc, S_HELLO, 2, argv);
    }
    tc->proto = (uint8_t)proto;
}

/* arms the reply timeout of a connection that has requests in flight */
static void arm_reply_timeout(struct tconn *tc, int blocking)
{
    struct worker *w = tc->w;
    if (!w->reply_timeout_ns || !tc_open(tc))
        return;
    if (blocking) {
        /* a blocking command may rightly wait longer than any bound: none on this
         * connection from now on */
        tc->timed = -1;
        if (tc->bev)
            bufferevent_set_timeouts(tc->bev, NULL, NULL);
        return;
    }
    if (tc->timed)
        return;
    struct timeval tv = {(time_t)(w->reply_timeout_ns / NS),
                         (long)(w->reply_timeout_ns % NS / 1000)};
    if (tc->bev)
        bufferevent_set_timeouts(tc->bev, &tv, NULL);
    else if (tc->rev)
        event_add(tc->rev, &tv); /* (re)starts the count: a persistent event's timeout starts
                                  * again at every read */
    tc->timed = 1;
}

static void disarm_reply_timeout(struct tconn *tc)
{
    if (tc->timed != 1)
        return;
    /* a plain connection's timer runs on: its timeout is ignored while nothing is in flight
     * (one timer operation per request on a request/response loop, not two) */
    if (tc->bev)
        bufferevent_set_timeouts(tc->bev, NULL, NULL);
    tc->timed = 0;
}

/* writes a request (a part, a redirected one) on a ready connection and puts it in flight */
void eng_tc_write_req(struct tconn *tc, struct req *r)
{
    if (!tc)
        return; /* (out of memory: the run fails) */
    struct worker *w = tc->w;
    const struct replay_opts *o = w->o;
    if (r->special != S_HELLO && r->special != S_RESET && r->proto && r->proto != tc->proto)
        send_hello(tc, r->proto);
    if (!w->cluster && !o->target.db_set && r->special != S_RESET && r->db != tc->db)
        send_select(tc, r->db);
    if (w->cluster && o->read_from_replicas && !tc->readonly &&
        w->topo.nodes[tc->node].master >= 0) {
        const char *argv[] = {"READONLY"};
        send_internal(tc, S_NONE, 1, argv);
        tc->readonly = 1;
    }
    if (r->asking) {
        const char *argv[] = {"ASKING"};
        send_internal(tc, S_NONE, 1, argv);
        r->asking = 0;
    }
    tc_out(tc, r->wire, r->wlen);
    r->node = tc->node;
    if (w->cluster)
        eng_shard(w, tc->node)->sent++;
    if (r->expect || r->kind == K_PART) {
        inflight_push(tc, r);
        arm_reply_timeout(tc, r->blocking);
    }
    if (r->vw && r->kind == K_REQ && o->wait_replicas && !w->cluster) {
        char n[16];
        snprintf(n, sizeof n, "%u", o->wait_replicas);
        const char *argv[] = {"WAIT", n, "0"};
        struct req *wr = send_internal(tc, S_WAIT, 3, argv);
        if (wr) {
            wr->parent = r;
            r->refs++;
        }
    }
}

/* a redirected or retried request: sent now, or when the connection is up */
void eng_tconn_resend(struct tconn *tc, struct req *r)
{
    if (!tc)
        return;
    if (tc->parked) {
        tc->parked = 0;
        eng_tconn_connect(tc);
    }
    if (tc->state == TC_READY) {
        eng_tc_write_req(tc, r);
        return;
    }
    r->inext = NULL;
    if (tc->ptail)
        tc->ptail->inext = r;
    else
        tc->phead = r;
    tc->ptail = r;
}

void eng_tconn_send(struct tconn *tc, struct req *r, uint64_t now)
{
    if (!tc)
        return;
    struct worker *w = tc->w;
    const struct replay_opts *o = w->o;
    eng_account_send(w, r->rc, r, now);
    eng_tc_write_req(tc, r);
    if (!w->cluster) {
        /* the output holds a copy; nothing sends it again on a standalone target (a read
         * that may be written back keeps it: fill.c takes its key from it) */
        if (!r->fill) {
            eng_wire_free(r->wire, r->wlen);
            r->wire = NULL;
        }
    }
    switch (r->special) {
    case S_SELECT:
        if (r->arg >= 0)
            tc->db = (uint32_t)r->arg;
        break;
    case S_HELLO:
        if (r->arg == 2 || r->arg == 3)
            tc->proto = (uint8_t)r->arg;
        break;
    case S_SUBSCRIBE: tc->subscribed = 1; break;
    case S_QUIT: tc->quitting = 1; break;
    case S_MULTI:
        if (r->rc)
            r->rc->tx_node = tc->node;
        break;
    case S_EXEC:
        if (r->rc)
            r->rc->tx_node = -1;
        break;
    default: break;
    }
    /* eng_complete() may free r (a request that expects no reply, CLIENT REPLY OFF/SKIP): what
     * is needed of it afterwards is read first */
    uint8_t special = r->special;
    if (r->expect) {
        w->inflight++;
        if (r->blocking)
            w->inflight_blocking++;
        if (r->rc)
            r->rc->out++;
    } else {
        eng_complete(w, r, 0, now);
        r = NULL;
    }
    if (special == S_RESET) {
        /* RESET drops the connection's authentication, database and protocol */
        tc->db = 0;
        tc->proto = 2;
        tc->subscribed = 0;
        tc->readonly = 0;
        send_auth(tc);
        if (o->target.db_set && o->target.db)
            send_select(tc, o->target.db);
    }
}

/* Backpressure: a connection whose output buffer holds more than OUT_HIGH takes no more
 * requests until it drains below OUT_LOW (its write callback pumps again). Without it a trace
 * recorded with deep pipelining (or no replies) writes all of itself into memory at once. */
#define OUT_HIGH (4u << 20)
#define OUT_LOW (1u << 20)

int eng_tc_throttled(struct tconn *tc)
{
    if (!tc)
        return 1; /* (out of memory: nothing more goes) */
    if (!tc_open(tc) || tc_pending(tc) <= OUT_HIGH)
        return 0;
    tc->throttled = 1;
    return 1;
}

/* ---- replies --------------------------------------------------------------------------- */

static int str_in(const uint8_t *s, size_t n, const char *const *set)
{
    for (; *set; set++)
        if (name_eq(*set, (const char *)s, n))
            return 1;
    return 0;
}

static const char *const msg_kinds[] = {"message", "pmessage", "smessage", NULL};
static const char *const conf_kinds[] = {"subscribe",   "psubscribe",   "ssubscribe",
                                         "unsubscribe", "punsubscribe", "sunsubscribe",
                                         NULL};

/* One message from the target. @return 0, or -1 when the connection is gone. */
static int on_reply(struct tconn *tc, const struct resp_reply *m, uint64_t now)
{
    struct worker *w = tc->w;
    struct req *front = tc->ihead;
    int push_like = m->type == TRACE_R_PUSH || (tc->subscribed && m->type == TRACE_R_ARRAY);
    if (push_like) {
        int conf = m->first && str_in(m->first, m->first_len, conf_kinds);
        int msg = m->first && str_in(m->first, m->first_len, msg_kinds);
        if (!(conf && front && front->replies_left > 0) && (m->type == TRACE_R_PUSH || conf || msg)) {
            w->res.pushes++;
            return 0;
        }
    }
    if (!front || (front->sent && front->sent > now)) {
        /* nothing asked, or a reply whose bytes arrived before its request was written: the
         * target answers what nobody asked (pairing it would shift every later reply and
         * give a latency below zero) */
        w->res.protocol_errors++;
        return 0;
    }
    if (front->replies_left > 1) {
        front->replies_left--;
        return 0;
    }
    tc->ihead = front->inext;
    if (!tc->ihead)
        tc->itail = NULL;
    tc->nin--;
    if (!tc->nin)
        disarm_reply_timeout(tc);
    w->last_ival = m->ival;
    w->last_progress = now;
    if (front->kind == K_INTERNAL && front->special == S_WAIT) {
        struct req *p = front->parent;
        if (p->vw_ok) {
            if (m->type == TRACE_R_INTEGER && (uint64_t)m->ival >= w->o->wait_replicas)
                vw_ack(w->vw, p->vw, p->vw_ival, now);
            else
                vw_lost(w->vw, p->vw, now); /* applied, but not on the replicas */
        }
        eng_release(p);
        eng_release(front);
        return 0;
    }
    if (front->kind == K_INTERNAL && front->special == S_FILL) {
        if (is_err_type(m->type))
            w->res.read_through_errors++;
        eng_release(front);
        return 0;
    }
    if (front->kind == K_INTERNAL) {
        if (is_err_type(m->type)) {
            char msg[200];
            snprintf(msg, sizeof msg, "%.*s", (int)(m->errlen < 150 ? m->errlen : 150),
                     m->err ? m->err : "");
            w->res.setup_errors++;
            if (!w->res.setup_error[0])
                snprintf(w->res.setup_error, sizeof w->res.setup_error, "%s", msg);
            if (front->special == S_AUTH || front->special == S_HELLO) {
                char text[256];
                snprintf(text, sizeof text, "the target refused %s: %s",
                         front->special == S_AUTH ? "AUTH" : "HELLO", msg);
                eng_release(front);
                eng_fatal(w, RT_EINVAL, text);
                return -1;
            }
            if (front->special == S_SELECT) {
                /* the requests would silently go to another database */
                char text[320];
                snprintf(text, sizeof text, "the target refused SELECT %lld (%s): %s",
                         (long long)front->arg,
                         w->o->target.db_set ? "the database of the target URL"
                                             : "the database the requests were recorded in",
                         msg);
                eng_release(front);
                eng_fatal(w, RT_EINVAL, text);
                return -1;
            }
        } else if (front->special == S_AUTH) {
            tc->authed = 1;
        }
        eng_release(front);
        return 0;
    }
    /* NOAUTH without credentials: every request would meet the same answer */
    int noauth = is_err_type(m->type) && !w->o->target.pass && m->err && m->errlen >= 6 &&
                 !memcmp(m->err, "NOAUTH", 6);
    w->cur_err = is_err_type(m->type) ? m->err : NULL;
    w->cur_errlen = is_err_type(m->type) ? m->errlen : 0;
    if (w->cluster) {
        if (is_err_type(m->type) && m->err && eng_redirect(tc, front, m->err, m->errlen))
            return tc->state == TC_READY && !tc->doomed ? 0 : -1;
        struct shard_stat *st = eng_shard(w, tc->node);
        st->ops++;
        st->errors += is_err_type(m->type);
        uint64_t due = front->kind == K_PART ? front->parent->due : front->due;
        rt_hist_record(st->lat, now > due ? now - due : 0);
    }
    if (front->kind == K_PART) {
        eng_part_done(w, front, m->type, now);
    } else {
        eng_inflight_done(w, front);
        eng_complete(w, front, m->type, now);
    }
    w->cur_err = NULL;
    w->cur_errlen = 0;
    if (noauth) {
        eng_fatal(w, RT_EINVAL,
                  "the target requires authentication (NOAUTH): give --user/--pass, "
                  "RESPTRACE_PASS or user:pass@ in the target URL");
        return -1;
    }
    return tc->state == TC_READY && !tc->doomed ? 0 : -1;
}

/* A reply in progress beyond this is framed as it streams (reply_stream.c) instead of being
 * held whole: a target's 512 MiB replies cost each connection a few hundred bytes, not 512 MiB.
 * Low enough that the stateless scan, which starts again from the reply's first byte at each
 * read (its `need` looks one element ahead only), never rescans much: a 172 kB COMMAND DOCS
 * reply arriving in 4 kB reads cost 40 rescans. */
#define STREAM_AT (64u << 10)

/* Frames what the read buffer holds: whole replies in place, a large one as it streams.
 * The caller holds tc busy. @return 0 to read on, 1 to stop (the connection is gone or going:
 * freed by the caller when doomed), -2 when it was lost here (tc may be freed) */
static int tc_frame(struct tconn *tc, uint64_t now)
{
    if (tc->rs) {
        int done = 0;
        ssize_t k = rs_feed(tc->rs, tc->rbuf, tc->rlen, &done);
        if (k < 0) {
            char why[200];
            snprintf(why, sizeof why, "the target sent bytes that are not RESP (%s, %zu bytes "
                                      "into a reply)",
                     tc->rs->fail_what, tc->rs->r.len);
            tc->busy = 0;
            tconn_lost(tc, why);
            return -2;
        }
        memmove(tc->rbuf, tc->rbuf + k, tc->rlen - (size_t)k);
        tc->rlen -= (size_t)k;
        if (!done)
            return 0;
        struct rstream *rs = tc->rs;
        tc->rs = NULL;
        int rc = on_reply(tc, &rs->r, now); /* its err and first point into rs: freed after */
        free(rs);
        if (rc < 0 || tc->doomed || tc->state != TC_READY)
            return 1;
    }
    if (tc->rlen < tc->need && tc->rlen < STREAM_AT)
        return 0;
    tc->need = 0;
    size_t off = 0;
    while (off < tc->rlen) {
        struct resp_reply m;
        size_t need = 0;
        int k = resp_scan_reply(tc->rbuf + off, tc->rlen - off, NULL, &m, &need);
        if (k == -2) {
            tc->need = need;
            break;
        }
        if (k < 0) {
            char why[160];
            snprintf(why, sizeof why, "the target sent bytes that are not RESP (%s at byte %zu)",
                     m.fail_what ? m.fail_what : "bad reply", m.fail_off);
            tc->busy = 0;
            tconn_lost(tc, why);
            return -2;
        }
        off += (size_t)k;
        /* the next replies' requests were made long ago: their structures, and the order's
         * entries of their keys, are fetched into the cache while this one completes */
        struct req *nx = tc->ihead ? tc->ihead->inext : NULL;
        if (nx) {
            if (nx->inext)
                __builtin_prefetch(nx->inext);
            if (nx->sync_one && tc->w->sync)
                sync_prefetch_key(tc->w->sync, nx->sync_key);
        }
        if (on_reply(tc, &m, now) < 0 || tc->w->fatal)
            return 1; /* (a failed run reads nothing more) */
    }
    if (tc->doomed || tc->state != TC_READY)
        return 1;
    memmove(tc->rbuf, tc->rbuf + off, tc->rlen - off);
    tc->rlen -= off;
    if (tc->rlen >= STREAM_AT) {
        /* a large reply in progress: frame the rest as it streams */
        tc->rs = eng_calloc(tc->w, 1, sizeof *tc->rs);
        if (!tc->rs) { /* (the run fails) */
            tc->busy = 0;
            tconn_lost(tc, "out of memory");
            return -2;
        }
        rs_init(tc->rs, NULL);
        int done = 0;
        ssize_t k = rs_feed(tc->rs, tc->rbuf, tc->rlen, &done);
        if (k < 0 || done || (size_t)k != tc->rlen) {
            /* the scanner said incomplete: the framer cannot disagree */
            tc->busy = 0;
            tconn_lost(tc, "the target sent bytes that are not RESP (in a large reply)");
            return -2;
        }
        tc->rlen = tc->need = 0;
    }
    return 0;
}

/* room for the next read in the framing buffer (grown as needed): at most a little past the
 * streaming threshold, and 64 KiB while a reply streams */
static size_t tc_read_room(struct tconn *tc)
{
    size_t room = (tc->rlen < STREAM_AT ? STREAM_AT - tc->rlen : 0) + 65536;
    if (tc->rlen + room > tc->rcap) {
        size_t ncap = tc->rcap ? tc->rcap : 16384;
        while (ncap < tc->rlen + room && ncap < STREAM_AT + 65536)
            ncap *= 2;
        if (ncap < tc->rlen + room)
            ncap = tc->rlen + room;
        if (eng_grow(tc->w, &tc->rbuf, ncap) < 0)
            return 0; /* (the run fails: nothing more is read) */
        tc->rcap = ncap;
    }
    return room;
}

/* ends a read callback: a connection freed inside it goes now */
static void tc_read_end(struct tconn *tc)
{
    tc->busy = 0;
    if (tc->doomed)
        eng_tconn_free(tc);
}

/* TLS: the bufferevent's input, taken into the framing buffer */
static void tconn_read_cb(struct bufferevent *bev, void *arg)
{
    struct tconn *tc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    uint64_t now = now_ns(); /* replies in this input arrived before anything sent from here */
    tc->w->last_progress = now; /* bytes came: the target is not stalled (a long reply streams) */
    tc->busy = 1;
    while (evbuffer_get_length(in)) {
        size_t n = evbuffer_get_length(in), room = tc_read_room(tc);
        if (!room)
            break; /* out of memory: the run fails */
        if (n > room)
            n = room;
        evbuffer_remove(in, tc->rbuf + tc->rlen, n);
        tc->rlen += n;
        int k = tc_frame(tc, now);
        if (k == -2)
            return; /* lost: tc may be gone */
        if (k)
            break;
    }
    tc_read_end(tc);
}

/* plain TCP: read straight into the framing buffer until the socket is empty; a reply timeout */
static void tc_rev_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tconn *tc = arg;
    struct worker *w = tc->w;
    if (what & EV_TIMEOUT) {
        if (tc->timed != 1 || !tc->nin)
            return; /* nothing in flight (the timer is left running: disarm_reply_timeout) */
        char why[80];
        snprintf(why, sizeof why, "no reply for %.1f s", (double)w->reply_timeout_ns / 1e9);
        tconn_lost(tc, why);
        return;
    }
    uint64_t now = now_ns(); /* replies read here arrived before anything sent from here */
    w->last_progress = now;
    tc->busy = 1;
    for (;;) {
        size_t room = tc_read_room(tc);
        if (!room)
            break; /* out of memory: the run fails */
        ssize_t n = recv(fd, tc->rbuf + tc->rlen, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            char why[200];
            snprintf(why, sizeof why, "%s",
                     n == 0 ? "the target closed the connection" : strerror(errno));
            tc->busy = 0;
            tconn_lost(tc, why);
            eng_flush(w);
            return;
        }
        tc->rlen += (size_t)n;
        int k = tc_frame(tc, now);
        if (k == -2) {
            eng_flush(w);
            return; /* lost: tc may be gone */
        }
        if (k || (size_t)n < room)
            break; /* gone, or the socket is empty (a short read: no need to ask again) */
    }
    tc_read_end(tc);
    eng_flush(w); /* what the replies let go leaves now, one write per connection */
}

/* the output drained below OUT_LOW: requests held back by the backpressure may go */
static void tconn_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct tconn *tc = arg;
    if (!tc->throttled || tc->state != TC_READY)
        return;
    tc->throttled = 0;
    if (!pump_users(tc))
        eng_worker_check_done(tc->w);
}

/* ---- connecting, and losing a connection ----------------------------------------------- */

static void conn_error_text(struct tconn *tc, short what, char *buf, size_t cap)
{
    const struct replay_opts *o = tc->w->o;
    int e = EVUTIL_SOCKET_ERROR();
    if (what & BEV_EVENT_TIMEOUT) {
        if (tc->state == TC_CONNECTING)
            snprintf(buf, cap, "connect timed out after %.1f s",
                     o->connect_timeout_s > 0 ? o->connect_timeout_s : 3.0);
        else
            snprintf(buf, cap, "no reply for %.1f s", (double)tc->w->reply_timeout_ns / 1e9);
        return;
    }
    if (o->target.tls && tc->bev) {
        SSL *ssl = bufferevent_openssl_get_ssl(tc->bev);
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        unsigned long le = bufferevent_get_openssl_error(tc->bev);
        if (vr != X509_V_OK) {
            snprintf(buf, cap, "TLS: the server's certificate was not accepted: %s",
                     X509_verify_cert_error_string(vr));
            return;
        }
        if (le && ERR_GET_LIB(le) == 0) {
            snprintf(buf, cap, "TLS: the server closed the connection during the handshake "
                               "(does it want a client certificate, --cert/--key?)");
            return;
        }
        if (le) {
            char eb[200];
            ERR_error_string_n(le, eb, sizeof eb);
            snprintf(buf, cap, "TLS: %s", eb);
            return;
        }
        if (tc->state == TC_CONNECTING && !(what & BEV_EVENT_CONNECTED) && !e) {
            snprintf(buf, cap, "TLS handshake failed (is the port speaking TLS?)");
            return;
        }
    }
    if (what & BEV_EVENT_EOF)
        snprintf(buf, cap, "the target closed the connection");
    else
        snprintf(buf, cap, "%s", e ? evutil_socket_error_to_string(e) : "connection error");
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tconn *tc = arg;
    /* a node the cluster no longer names (failed over, removed) is left alone: it is
     * connected again only if a request is routed to it */
    if (tc->w->cluster && !tc->w->topo.nodes[tc->node].listed) {
        tc->parked = 1;
        return;
    }
    eng_tconn_connect(tc);
}

static void tconn_lost(struct tconn *tc, const char *why)
{
    struct worker *w = tc->w;
    char host[300];
    if (w->cluster)
        snprintf(host, sizeof host, "%s:%u", w->topo.nodes[tc->node].host,
                 (unsigned)w->topo.nodes[tc->node].port);
    else
        replay_target_format(&w->o->target, host, sizeof host);
    if (tc->state == TC_CONNECTING && !w->res.conn_opened && !tc->quitting) {
        char msg[512];
        snprintf(msg, sizeof msg, "cannot connect to %s: %s", host, why);
        eng_fatal(w, RT_EIO, msg);
    }
    if (!tc->quitting) {
        w->res.conn_failures++;
        if (!w->res.conn_error[0])
            snprintf(w->res.conn_error, sizeof w->res.conn_error, "%.60s%s%.130s",
                     w->cluster ? host : "", w->cluster ? ": " : "", why);
    }
    tc_close(tc);
    tc->state = TC_DOWN; /* after QUIT too: reopened (on the next use) */
    tc->quitting = 0;
    tc->timed = 0;
    if (!tc->down_since)
        tc->down_since = now_ns(); /* since the connection was last up: retries do not reset it */
    /* what was in flight, or waited here for the connection, is lost with it */
    if (tc->ptail) {
        tc->ptail->inext = tc->ihead;
        tc->ihead = tc->phead;
        tc->phead = tc->ptail = NULL;
    }
    struct req *list = tc->ihead;
    tc->ihead = tc->itail = NULL;
    tc->nin = 0;
    tc->rlen = tc->need = 0;
    free(tc->rs);
    tc->rs = NULL;
    tc->authed = tc->subscribed = tc->readonly = 0;
    tc->busy = 1;
    uint64_t now = now_ns();
    for (struct req *r = list, *nx; r; r = nx) {
        nx = r->inext;
        if (w->cluster && r->kind != K_INTERNAL)
            eng_shard(w, tc->node)->errors++;
        eng_lose_req(w, r, now);
    }
    tc->busy = 0;
    if (tc->doomed) {
        eng_tconn_free(tc);
        return;
    }
    if (w->fatal)
        return;
    if (w->cluster)
        eng_want_refresh(w); /* a node gone: has its replica taken over? */
    unsigned shift = tc->attempts < 4 ? tc->attempts : 4;
    struct timeval tv = {0, (long)(50000u << shift)}; /* 50 ms doubling to 800 ms */
    if (!tc->retry)
        tc->retry = evtimer_new(w->base, retry_cb, tc);
    evtimer_add(tc->retry, &tv);
    if (!pump_users(tc))
        eng_worker_check_done(w);
}

/* the connection is up: set up, then what waited for it goes */
static void tc_connected(struct tconn *tc)
{
    struct worker *w = tc->w;
    tc->state = TC_READY;
    tc->attempts = 0;
    tc->down_since = 0;
    w->res.conn_opened++;
    tc->db = 0;
    tc->proto = 2;
    send_auth(tc);
    if (!w->cluster && w->o->target.db_set && w->o->target.db)
        send_select(tc, w->o->target.db);
    /* what was redirected here while it connected goes first */
    struct req *pl = tc->phead;
    tc->phead = tc->ptail = NULL;
    for (struct req *r = pl, *nx; r; r = nx) {
        nx = r->inext;
        eng_tc_write_req(tc, r);
    }
    pump_users(tc);
}

static void tconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tconn *tc = arg;
    if (what & BEV_EVENT_CONNECTED) {
        bufferevent_set_timeouts(bev, NULL, NULL);
        evutil_socket_t fd = bufferevent_getfd(bev);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        tc_connected(tc);
        return;
    }
    char why[256];
    conn_error_text(tc, what, why, sizeof why);
    tconn_lost(tc, why);
}

/* plain TCP: the connect's outcome (while connecting), then room for output that waited */
static void tc_wev_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tconn *tc = arg;
    struct worker *w = tc->w;
    if (tc->state == TC_CONNECTING) {
        const struct replay_opts *o = w->o;
        int err = tc->conn_errno;
        socklen_t len = sizeof err;
        if (!err && !(what & EV_TIMEOUT) && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err || (what & EV_TIMEOUT)) {
            char why[200];
            if (err)
                snprintf(why, sizeof why, "%s", strerror(err));
            else
                snprintf(why, sizeof why, "connect timed out after %.1f s",
                         o->connect_timeout_s > 0 ? o->connect_timeout_s : 3.0);
            tconn_lost(tc, why);
            eng_flush(w);
            return;
        }
        event_del(tc->wev);
        tc->wev_on = 0;
        event_add(tc->rev, NULL);
        tc_connected(tc);
        eng_flush(w);
        return;
    }
    if (tc_write_out(tc) < 0)
        return;
    /* drained below OUT_LOW: requests held back by the backpressure may go */
    if (tc->throttled && tc->state == TC_READY && tc_pending(tc) <= OUT_LOW) {
        tc->throttled = 0;
        if (!pump_users(tc))
            eng_worker_check_done(w);
    }
    eng_flush(w);
}

/* plain TCP: a non-blocking socket, connected with the events above */
static int tc_connect_plain(struct tconn *tc, const struct cl_node *nd, const struct timeval *tv)
{
    struct worker *w = tc->w;
    int fd = socket(nd->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    tc->fd = fd;
    tc->conn_errno = 0;
    tc->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, tc_rev_cb, tc);
    tc->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, tc_wev_cb, tc);
    if (!tc->rev || !tc->wev)
        return -1;
    if (connect(fd, (const struct sockaddr *)&nd->addr, nd->addrlen) < 0 &&
        errno != EINPROGRESS) {
        /* refused at once (loopback): said from the loop, as a connect that fails later is */
        tc->conn_errno = errno ? errno : ECONNREFUSED;
        event_active(tc->wev, EV_WRITE, 0);
        return 0;
    }
    event_add(tc->wev, tv);
    tc->wev_on = 1;
    return 0;
}

void eng_tconn_connect(struct tconn *tc)
{
    struct worker *w = tc->w;
    const struct replay_opts *o = w->o;
    tc->attempts++;
    tc->state = TC_CONNECTING;
    const struct cl_node *nd = &w->topo.nodes[tc->node];
    double ct = o->connect_timeout_s > 0 ? o->connect_timeout_s : 3.0;
    struct timeval tv = {(time_t)ct, (long)((ct - (double)(time_t)ct) * 1e6)};
    if (!o->target.tls) {
        if (tc_connect_plain(tc, nd, &tv) < 0) {
            char why[200];
            snprintf(why, sizeof why, "cannot create a connection: %s", strerror(errno));
            tc_close(tc);
            eng_fatal(w, RT_ENOMEM, why);
        }
        return;
    }
    const char *sni = o->tls.sni ? o->tls.sni : w->cluster ? nd->host : o->target.host;
    SSL *ssl = rt_tls_ssl_new(w->ssl, sni, o->tls.insecure);
    tc->bev = ssl ? bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                   BEV_OPT_CLOSE_ON_FREE)
                  : NULL;
    if (ssl && !tc->bev)
        SSL_free(ssl);
    if (!tc->bev) {
        eng_fatal(w, RT_ENOMEM, "cannot create a connection (out of memory or descriptors)");
        return;
    }
    bufferevent_setcb(tc->bev, tconn_read_cb, tconn_write_cb, tconn_event_cb, tc);
    bufferevent_setwatermark(tc->bev, EV_WRITE, OUT_LOW, 0);
    bufferevent_set_timeouts(tc->bev, &tv, &tv);
    bufferevent_enable(tc->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(tc->bev, (const struct sockaddr *)&nd->addr,
                                   (int)nd->addrlen) < 0) {
        /* bufferevent_socket_connect has freed nothing; report through the common path */
        char why[200];
        int e = EVUTIL_SOCKET_ERROR();
        snprintf(why, sizeof why, "%s", e ? evutil_socket_error_to_string(e) : "connect failed");
        tconn_lost(tc, why);
    }
}
