/* conn.c: one blocking connection to a server, for what talks to servers outside a replay's
 * traffic (prime's loader, shards' slot map): the replayer's own control connection
 * (cluster.c's rt_ctl: a timed connect, the one TLS setup and identity check of tls.c, AUTH,
 * hiredis's command formatting and reply reader over the transport, pipelined), behind the
 * public header so that tools/ need no client of its own. */
#include "replay_int.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

struct replay_conn {
    struct rt_ctl ctl;
    SSL_CTX *ctx;
    char name[300]; /* host:port, for messages */
};

void replay_conn_close(struct replay_conn *c)
{
    if (!c)
        return;
    rt_ctl_close(&c->ctl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    free(c);
}

struct replay_conn *replay_conn_open(const struct replay_target *t, const struct replay_tls *tls,
                                     const char *addr, double timeout_s, struct rt_err *err)
{
    char host[256];
    unsigned port = t->port;
    snprintf(host, sizeof host, "%s", t->host);
    if (addr) { /* host:port, [v6]:port or v6:port (the last colon) */
        const char *colon = strrchr(addr, ':');
        char *end;
        unsigned long p = colon ? strtoul(colon + 1, &end, 10) : 0;
        if (!colon || colon == addr || p == 0 || p > 65535 || *end) {
            rt_err_set(err, RT_EINVAL, "'%s' is not host:port", addr);
            return NULL;
        }
        const char *h = addr;
        size_t hl = (size_t)(colon - addr);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        if (hl >= sizeof host) {
            rt_err_set(err, RT_EINVAL, "'%s': the host name is too long", addr);
            return NULL;
        }
        snprintf(host, sizeof host, "%.*s", (int)hl, h);
        port = (unsigned)p;
    }
    struct replay_conn *c = calloc(1, sizeof *c);
    if (!c) {
        rt_err_set(err, RT_ENOMEM, "out of memory");
        return NULL;
    }
    c->ctl.fd = -1;
    snprintf(c->name, sizeof c->name, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    int gai = getaddrinfo(host, ps, &hints, &ai);
    if (gai != 0 || !ai) {
        rt_err_set(err, RT_EINVAL, "cannot resolve '%s': %s", host, gai_strerror(gai));
        free(c);
        return NULL;
    }
    static const struct replay_tls none;
    if (!tls)
        tls = &none;
    if (t->tls && !(c->ctx = rt_tls_ctx_new(tls, err))) {
        freeaddrinfo(ai);
        free(c);
        return NULL;
    }
    char why[300];
    int rc = rt_ctl_open(&c->ctl, ai->ai_addr, ai->ai_addrlen, c->ctx, tls->sni ? tls->sni : host,
                         tls->insecure, t->user, t->pass, timeout_s > 0 ? timeout_s : 3.0, why,
                         sizeof why);
    freeaddrinfo(ai);
    if (rc < 0) {
        rt_err_set(err, RT_EIO, "%s: %s", c->name, why);
        replay_conn_close(c);
        return NULL;
    }
    if (t->db_set && t->db) {
        char num[16];
        snprintf(num, sizeof num, "%u", (unsigned)t->db);
        const char *av[2] = {"SELECT", num};
        size_t len[2] = {6, strlen(num)};
        redisReply *r = rt_ctl_command(&c->ctl, 2, av, len, why, sizeof why);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            rt_err_set(err, RT_EINVAL, "%s: SELECT %u refused: %.200s", c->name, (unsigned)t->db,
                       r ? r->str : why);
            if (r)
                freeReplyObject(r);
            replay_conn_close(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
}

const char *replay_conn_name(const struct replay_conn *c)
{
    return c->name;
}

void replay_conn_set_timeout(struct replay_conn *c, double seconds)
{
    if (c->ctl.fd < 0)
        return;
    struct timeval tv = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e6)};
    setsockopt(c->ctl.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(c->ctl.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int replay_conn_append(struct replay_conn *c, int argc, const char **argv, const size_t *len,
                       struct rt_err *err)
{
    if (c->ctl.fd < 0) {
        rt_err_set(err, RT_EIO, "%s: the connection is closed", c->name);
        return RT_EIO;
    }
    if (rt_ctl_append(&c->ctl, argc, argv, len) < 0) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", c->name);
        return RT_ENOMEM;
    }
    return 0;
}

struct redisReply *replay_conn_reply(struct replay_conn *c, struct rt_err *err)
{
    char why[300];
    redisReply *r = rt_ctl_reply(&c->ctl, why, sizeof why);
    if (!r)
        rt_err_set(err, RT_EIO, "%s: %s", c->name, why);
    return r;
}

struct redisReply *replay_conn_command(struct replay_conn *c, int argc, const char **argv,
                                       const size_t *len, struct rt_err *err)
{
    if (replay_conn_append(c, argc, argv, len, err) != 0)
        return NULL;
    return replay_conn_reply(c, err);
}
