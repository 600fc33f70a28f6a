/* cluster.c: the replayer's control connection and Redis Cluster topology (CLUSTER SHARDS, with
 * CLUSTER SLOTS for servers older than 7.0). */
#include "replay_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- the control connection ------------------------------------------------------------ */

void rt_ctl_close(struct rt_ctl *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->rd) {
        redisReaderFree(c->rd);
        c->rd = NULL;
    }
    free(c->obuf);
    c->obuf = NULL;
    c->olen = c->ocap = 0;
}

static int ctl_write(struct rt_ctl *c, const char *p, size_t n)
{
    while (n) {
        ssize_t k = c->ssl ? SSL_write(c->ssl, p, (int)n) : send(c->fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int rt_ctl_append(struct rt_ctl *c, int argc, const char **argv, const size_t *len)
{
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, argv, len);
    if (n < 0)
        return -1;
    if (!c->olen) { /* nothing queued: the formatted command is the buffer */
        free(c->obuf);
        c->obuf = cmd;
        c->olen = c->ocap = (size_t)n;
        return 0;
    }
    if (c->olen + (size_t)n > c->ocap) {
        size_t ncap = (c->olen + (size_t)n) * 2;
        char *nb = realloc(c->obuf, ncap);
        if (!nb) {
            free(cmd);
            return -1;
        }
        c->obuf = nb;
        c->ocap = ncap;
    }
    memcpy(c->obuf + c->olen, cmd, (size_t)n);
    c->olen += (size_t)n;
    free(cmd);
    return 0;
}

redisReply *rt_ctl_reply(struct rt_ctl *c, char *why, size_t cap)
{
    if (c->fd < 0) {
        snprintf(why, cap, "the connection is closed");
        return NULL;
    }
    if (c->olen) {
        int rc = ctl_write(c, c->obuf, c->olen);
        c->olen = 0;
        if (rc < 0) {
            snprintf(why, cap, "write failed: %s",
                     errno == EAGAIN || errno == EWOULDBLOCK ? "the server stopped reading"
                                                             : strerror(errno ? errno : EPIPE));
            rt_ctl_close(c);
            return NULL;
        }
    }
    size_t fed = 0;
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(c->rd, &reply) != REDIS_OK) {
            snprintf(why, cap, "bad reply: %s", c->rd->errstr);
            rt_ctl_close(c);
            return NULL;
        }
        if (reply)
            return reply;
        char buf[16384];
        ssize_t k = c->ssl ? SSL_read(c->ssl, buf, sizeof buf) : recv(c->fd, buf, sizeof buf, 0);
        if (k <= 0) {
            snprintf(why, cap, "%s", k == 0 ? "the server closed the connection"
                                            : errno == EAGAIN || errno == EWOULDBLOCK
                                                  ? "no reply before the timeout"
                                                  : strerror(errno));
            rt_ctl_close(c);
            return NULL;
        }
        /* hiredis holds a reply whole: a server that sends a huge one to a control question
         * (a topology, a GETKEYS) is refused rather than followed into unbounded memory */
        fed += (size_t)k;
        if (fed > RT_CTL_REPLY_MAX) {
            snprintf(why, cap, "the reply is larger than %u MiB", RT_CTL_REPLY_MAX >> 20);
            rt_ctl_close(c);
            return NULL;
        }
        redisReaderFeed(c->rd, buf, (size_t)k);
    }
}

redisReply *rt_ctl_command(struct rt_ctl *c, int argc, const char **argv, const size_t *len,
                           char *why, size_t cap)
{
    if (rt_ctl_append(c, argc, argv, len) < 0) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    return rt_ctl_reply(c, why, cap);
}

/* connect() bounded by the timeout (a dead host must not hang the replay) */
static int connect_timed(int fd, const struct sockaddr *addr, socklen_t len, double timeout_s)
{
    struct timeval tv = {(time_t)timeout_s, (long)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return connect(fd, addr, len);
}

int rt_ctl_open(struct rt_ctl *c, const struct sockaddr *addr, socklen_t addrlen, SSL_CTX *ssl,
                const char *sni, int insecure, const char *user, const char *pass,
                double timeout_s, char *why, size_t cap)
{
    c->fd = -1;
    c->ssl = NULL;
    c->obuf = NULL;
    c->olen = c->ocap = 0;
    c->rd = redisReaderCreate();
    if (!c->rd) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect_timed(c->fd, addr, addrlen, timeout_s) < 0) {
        snprintf(why, cap, "%s", errno == EINPROGRESS || errno == EAGAIN ? "connect timed out"
                                                                        : strerror(errno));
        goto fail;
    }
    if (ssl) {
        c->ssl = rt_tls_ssl_new(ssl, sni, insecure);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1) {
            rt_tls_error(c->ssl, why, cap);
            goto fail;
        }
    }
    if (pass) {
        const char *av[3] = {"AUTH", user ? user : "default", pass};
        size_t len[3] = {4, strlen(av[1]), strlen(av[2])};
        redisReply *r = rt_ctl_command(c, 3, av, len, why, cap);
        if (!r)
            goto fail;
        int ok = r->type == REDIS_REPLY_STATUS;
        if (!ok)
            snprintf(why, cap, "AUTH refused: %.150s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
        if (!ok)
            goto fail;
    }
    return 0;
fail:
    rt_ctl_close(c);
    return -1;
}

/* ---- the preflight probe ---------------------------------------------------------------- */

/* the first line of what a server answered, printable, for a message */
static void first_line(const uint8_t *b, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && b[i] != '\r' && b[i] != '\n' && o + 5 < cap && i < 60; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f)
            out[o++] = (char)b[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", b[i]);
    }
    out[o] = 0;
}

int replay_probe(const struct replay_opts *o, struct rt_err *err)
{
    const struct replay_target *t = &o->target;
    char name[300];
    replay_target_format(t, name, sizeof name);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", (unsigned)t->port);
    int gai = getaddrinfo(t->host, ps, &hints, &ai);
    if (gai != 0 || !ai) {
        rt_err_set(err, RT_EINVAL, "cannot resolve the target host '%s': %s", t->host,
                   gai_strerror(gai));
        return RT_EINVAL;
    }
    SSL_CTX *ctx = NULL;
    if (t->tls && !(ctx = rt_tls_ctx_new(&o->tls, err))) {
        freeaddrinfo(ai);
        return err->code;
    }
    struct rt_ctl c;
    char why[256];
    double ct = o->connect_timeout_s > 0 ? o->connect_timeout_s : 3.0;
    int rc = 0;
    /* no credentials yet: they go only to a server that answered PING in RESP */
    if (rt_ctl_open(&c, ai->ai_addr, ai->ai_addrlen, ctx, o->tls.sni ? o->tls.sni : t->host,
                    o->tls.insecure, NULL, NULL, ct, why, sizeof why) < 0) {
        rt_err_set(err, RT_EIO, "cannot connect to %s: %s", name, why);
        rc = RT_EIO;
        goto out;
    }
    /* PING, and the first bytes of the answer as they are */
    struct timeval tv = {2, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    uint8_t buf[512];
    size_t got = 0;
    ssize_t k = c.ssl ? SSL_write(c.ssl, ping, (int)strlen(ping))
                      : send(c.fd, ping, strlen(ping), MSG_NOSIGNAL);
    while (k > 0 && got < sizeof buf) {
        k = c.ssl ? SSL_read(c.ssl, buf + got, (int)(sizeof buf - got))
                  : recv(c.fd, buf + got, sizeof buf - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (memchr(buf, '\n', got))
            break;
    }
    if (!got && c.ssl && ERR_peek_error()) {
        /* TLS 1.3: a server that wants a client certificate says so after the handshake */
        rt_tls_error(c.ssl, why, sizeof why);
        rt_err_set(err, RT_EIO, "%s: %s", name, why);
        rc = RT_EIO;
        goto out;
    }
    if (!got && c.ssl && k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        rt_err_set(err, RT_EIO, "%s: the TLS connection was closed before it answered PING "
                                "(does the server want a client certificate, --cert/--key?)",
                   name);
        rc = RT_EIO;
        goto out;
    }
    if (!got) {
        rt_err_set(err, RT_EIO, "%s did not answer PING within 2 s (%s)%s", name,
                   k == 0 ? "it closed the connection" : "no answer",
                   t->tls ? "" : "; a TLS port? use rediss://");
        rc = RT_EIO;
        goto out;
    }
    char line[300];
    first_line(buf, got, line, sizeof line);
    if (!strchr("+-:$*_,#!=(%~|>", buf[0])) {
        const char *what = got >= 3 && buf[0] == 0x15 && buf[1] == 0x03
                               ? " (a TLS alert: the port speaks TLS, use rediss://)"
                           : !memcmp(buf, "HTTP/", got < 5 ? got : 5) ? " (an HTTP server)"
                                                                      : "";
        rt_err_set(err, RT_EIO, "%s does not speak RESP: it answered PING with \"%s\"%s",
                   name, line, what);
        rc = RT_EIO;
        goto out;
    }
    int noauth = got >= 7 && !memcmp(buf, "-NOAUTH", 7);
    if (noauth && !t->pass) {
        rt_err_set(err, RT_EINVAL,
                   "%s requires authentication (NOAUTH): give --user/--pass, RESPTRACE_PASS or "
                   "user:pass@ in the target URL",
                   name);
        rc = RT_EINVAL;
        goto out;
    }
    redisReaderFeed(c.rd, (const char *)buf, got);
    void *rep = NULL;
    redisReaderGetReply(c.rd, &rep); /* the PING's reply, when whole: dropped */
    if (rep)
        freeReplyObject(rep);
    if (t->pass) {
        const char *av[3] = {"AUTH", t->user ? t->user : "default", t->pass};
        size_t len[3] = {4, strlen(av[1]), strlen(av[2])};
        redisReply *r = rt_ctl_command(&c, 3, av, len, why, sizeof why);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            rt_err_set(err, RT_EINVAL, "%s: the target refused AUTH: %.160s", name,
                       r ? r->str : why);
            rc = RT_EINVAL;
        }
        if (r)
            freeReplyObject(r);
        if (rc)
            goto out;
    }
    if (t->db_set && t->db) {
        char num[16];
        snprintf(num, sizeof num, "%u", t->db);
        const char *av[2] = {"SELECT", num};
        size_t len[2] = {6, strlen(num)};
        redisReply *r = rt_ctl_command(&c, 2, av, len, why, sizeof why);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            rt_err_set(err, RT_EINVAL, "%s: the target refused SELECT %u (the URL's database): "
                                       "%.160s",
                       name, t->db, r ? r->str : why);
            rc = RT_EINVAL;
        }
        if (r)
            freeReplyObject(r);
    }
out:
    if (c.fd >= 0 || c.rd)
        rt_ctl_close(&c);
    if (ctx)
        SSL_CTX_free(ctx);
    freeaddrinfo(ai);
    return rc;
}

/* ---- topology -------------------------------------------------------------------------- */

int cl_topo_node(struct cl_topo *t, const char *host, uint16_t port)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->nodes[i].port == port && !strcmp(t->nodes[i].host, host))
            return (int)i;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return -1;
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 8;
        struct cl_node *nn = realloc(t->nodes, ncap * sizeof *nn);
        if (!nn) {
            freeaddrinfo(ai);
            return -1;
        }
        t->nodes = nn;
        t->cap = ncap;
    }
    struct cl_node *nd = &t->nodes[t->n];
    memset(nd, 0, sizeof *nd);
    snprintf(nd->host, sizeof nd->host, "%s", host);
    nd->port = port;
    nd->master = -1;
    nd->listed = 1;
    memcpy(&nd->addr, ai->ai_addr, ai->ai_addrlen);
    nd->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    t->version++;
    return (int)t->n++;
}

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* the value of `name` in a flat [name, value, ...] array */
static const redisReply *field(const redisReply *a, const char *name)
{
    if (!a || a->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < a->elements; i += 2)
        if (is_str(a->element[i]) && !strcasecmp(a->element[i]->str, name))
            return a->element[i + 1];
    return NULL;
}

static long long num(const redisReply *r)
{
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (is_str(r))
        return strtoll(r->str, NULL, 10);
    return -1;
}

/* the address a client should use: the endpoint, else the ip */
static const char *node_host(const redisReply *nd)
{
    const redisReply *ep = field(nd, "endpoint");
    if (is_str(ep) && ep->len && strcmp(ep->str, "?") != 0)
        return ep->str;
    const redisReply *ip = field(nd, "ip");
    return is_str(ip) && ip->len ? ip->str : NULL;
}

static int apply_shards(struct cl_topo *t, const redisReply *r, uint16_t *owner, char *why,
                        size_t cap)
{
    for (size_t s = 0; s < r->elements; s++) {
        const redisReply *sh = r->element[s];
        const redisReply *slots = field(sh, "slots"), *nodes = field(sh, "nodes");
        if (!slots || slots->type != REDIS_REPLY_ARRAY || !nodes ||
            nodes->type != REDIS_REPLY_ARRAY) {
            snprintf(why, cap, "CLUSTER SHARDS: shard %zu has no slots or nodes", s);
            return -1;
        }
        int prim = -1;
        int idx[64];
        size_t nidx = 0;
        for (size_t k = 0; k < nodes->elements && nidx < 64; k++) {
            const redisReply *nd = nodes->element[k];
            const char *host = node_host(nd);
            long long port = num(field(nd, t->tls && field(nd, "tls-port") ? "tls-port" : "port"));
            if (!host || port <= 0 || port > 65535)
                continue;
            int i = cl_topo_node(t, host, (uint16_t)port);
            if (i < 0) {
                snprintf(why, cap, "CLUSTER SHARDS: cannot resolve node %s:%lld", host, port);
                return -1;
            }
            struct cl_node *n = &t->nodes[i];
            n->listed = 1;
            const redisReply *id = field(nd, "id"), *role = field(nd, "role"),
                             *health = field(nd, "health");
            if (is_str(id))
                snprintf(n->id, sizeof n->id, "%s", id->str);
            n->failed = is_str(health) && !strcasecmp(health->str, "fail");
            n->primary = is_str(role) && !strcasecmp(role->str, "master");
            if (n->primary)
                prim = i;
            idx[nidx++] = i;
        }
        for (size_t k = 0; k < nidx; k++)
            t->nodes[idx[k]].master = idx[k] == prim ? -1 : prim;
        if (prim < 0)
            continue; /* no primary: its slots are served by nobody now */
        for (size_t k = 0; k + 1 < slots->elements; k += 2) {
            long long a = num(slots->element[k]), b = num(slots->element[k + 1]);
            if (a < 0 || b >= CL_SLOTS || a > b) {
                snprintf(why, cap, "CLUSTER SHARDS: bad slot range %lld-%lld", a, b);
                return -1;
            }
            for (long long x = a; x <= b; x++)
                owner[x] = (uint16_t)prim;
        }
    }
    return 0;
}

static int apply_slots(struct cl_topo *t, const redisReply *r, uint16_t *owner, char *why,
                       size_t cap)
{
    for (size_t s = 0; s < r->elements; s++) {
        const redisReply *e = r->element[s];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3) {
            snprintf(why, cap, "CLUSTER SLOTS: entry %zu is not [start, end, node...]", s);
            return -1;
        }
        long long a = num(e->element[0]), b = num(e->element[1]);
        if (a < 0 || b >= CL_SLOTS || a > b) {
            snprintf(why, cap, "CLUSTER SLOTS: bad slot range %lld-%lld", a, b);
            return -1;
        }
        int prim = -1;
        for (size_t k = 2; k < e->elements; k++) {
            const redisReply *nd = e->element[k];
            if (!nd || nd->type != REDIS_REPLY_ARRAY || nd->elements < 2 ||
                !is_str(nd->element[0]))
                continue;
            const char *host = nd->element[0]->str;
            if (!*host || !strcmp(host, "?"))
                continue;
            long long port = num(nd->element[1]);
            if (port <= 0 || port > 65535)
                continue;
            int i = cl_topo_node(t, host, (uint16_t)port);
            if (i < 0) {
                snprintf(why, cap, "CLUSTER SLOTS: cannot resolve node %s:%lld", host, port);
                return -1;
            }
            if (nd->elements > 2 && is_str(nd->element[2]))
                snprintf(t->nodes[i].id, sizeof t->nodes[i].id, "%s", nd->element[2]->str);
            t->nodes[i].failed = 0;
            t->nodes[i].listed = 1;
            if (k == 2) {
                prim = i;
                t->nodes[i].primary = 1;
                t->nodes[i].master = -1;
            } else {
                t->nodes[i].primary = 0;
                t->nodes[i].master = prim;
            }
        }
        if (prim >= 0)
            for (long long x = a; x <= b; x++)
                owner[x] = (uint16_t)prim;
    }
    return 0;
}

int cl_topo_fetch(struct rt_ctl *c, struct cl_topo *t, char *why, size_t cap)
{
    const char *av[2] = {"CLUSTER", "SHARDS"};
    size_t len[2] = {7, 6};
    redisReply *r = rt_ctl_command(c, 2, av, len, why, cap);
    if (!r)
        return -1;
    int shards = 1;
    if (r->type == REDIS_REPLY_ERROR) {
        if (strstr(r->str, "cluster support disabled")) {
            freeReplyObject(r);
            return 0;
        }
        /* older than 7.0: no SHARDS subcommand */
        freeReplyObject(r);
        av[1] = "SLOTS";
        len[1] = 5;
        if (!(r = rt_ctl_command(c, 2, av, len, why, cap)))
            return -1;
        shards = 0;
        if (r->type == REDIS_REPLY_ERROR) {
            int disabled = strstr(r->str, "cluster support disabled") != NULL;
            if (!disabled)
                snprintf(why, cap, "CLUSTER SLOTS: %.150s", r->str);
            freeReplyObject(r);
            return disabled ? 0 : -1;
        }
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(why, cap, "CLUSTER %s: not an array", shards ? "SHARDS" : "SLOTS");
        freeReplyObject(r);
        return -1;
    }
    uint16_t *owner = malloc(sizeof t->owner);
    if (!owner) {
        freeReplyObject(r);
        snprintf(why, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < CL_SLOTS; i++)
        owner[i] = CL_NONE;
    /* a node not in this answer no longer serves anything */
    for (size_t i = 0; i < t->n; i++) {
        t->nodes[i].primary = 0;
        t->nodes[i].master = -1;
        t->nodes[i].listed = 0;
    }
    int rc = shards ? apply_shards(t, r, owner, why, cap) : apply_slots(t, r, owner, why, cap);
    freeReplyObject(r);
    if (rc == 0) {
        if (memcmp(owner, t->owner, sizeof t->owner) != 0)
            t->version++;
        memcpy(t->owner, owner, sizeof t->owner);
    }
    free(owner);
    return rc < 0 ? -1 : 1;
}

char *cl_topo_ranges(const struct cl_topo *t, size_t node, char *buf, size_t cap)
{
    size_t p = 0;
    buf[0] = 0;
    for (size_t s = 0; s < CL_SLOTS;) {
        if (t->owner[s] != node) {
            s++;
            continue;
        }
        size_t e = s;
        while (e + 1 < CL_SLOTS && t->owner[e + 1] == node)
            e++;
        int k = e == s ? snprintf(buf + p, cap - p, "%s%zu", p ? " " : "", s)
                       : snprintf(buf + p, cap - p, "%s%zu-%zu", p ? " " : "", s, e);
        if (k < 0 || (size_t)k >= cap - p)
            break;
        p += (size_t)k;
        s = e + 1;
    }
    return buf;
}

void cl_topo_free(struct cl_topo *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}
