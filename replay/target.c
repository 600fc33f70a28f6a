/* target.c: parsing of replay target URLs (redis:// and rediss://). */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Percent-decodes s[0..n) into a new string. @return NULL on a bad escape or no memory. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? rt_hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? rt_hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    return out;
}

void replay_target_clear(struct replay_target *t)
{
    if (t->pass) {
        /* volatile writes so the wipe is not optimised away before free */
        volatile char *v = t->pass;
        while (*v)
            *v++ = 0;
    }
    free(t->user);
    free(t->pass);
    memset(t, 0, sizeof *t);
}

static int bad(struct rt_err *err, struct replay_target *t, const char *what)
{
    replay_target_clear(t);
    rt_err_set(err, RT_EINVAL,
               "bad target URL: %s (expected redis://[user:pass@]host:port[/db] "
               "or rediss://...)",
               what);
    return RT_EINVAL;
}

int replay_target_parse(const char *url, struct replay_target *t, struct rt_err *err)
{
    memset(t, 0, sizeof *t);
    t->port = 6379;
    const char *s;
    if (strncmp(url, "redis://", 8) == 0) {
        s = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        s = url + 9;
        t->tls = 1;
    } else {
        return bad(err, t, "the scheme must be redis:// or rediss://");
    }
    /* authority ends at the first '/', '?' or '#'; userinfo ends at its last '@' */
    size_t alen = strcspn(s, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (s[i] == '@')
            at = s + i;
    const char *host = s;
    if (at) {
        size_t ulen = (size_t)(at - s);
        const char *colon = memchr(s, ':', ulen);
        size_t namelen = colon ? (size_t)(colon - s) : ulen;
        if (namelen && !(t->user = pct_decode(s, namelen)))
            return bad(err, t, "bad percent-escape in the user name");
        if (colon && !(t->pass = pct_decode(colon + 1, ulen - namelen - 1)))
            return bad(err, t, "bad percent-escape in the password");
        host = at + 1;
    }
    size_t hlen = (size_t)(s + alen - host);
    const char *port = NULL;
    size_t name_len;
    if (hlen && host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        if (!close)
            return bad(err, t, "an IPv6 address needs its closing ']'");
        name_len = (size_t)(close - host - 1);
        memcpy(t->host, host + 1, name_len < sizeof t->host ? name_len : 0);
        if (close + 1 < host + hlen) {
            if (close[1] != ':')
                return bad(err, t, "unexpected text after the IPv6 address");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(host, ':', hlen);
        name_len = colon ? (size_t)(colon - host) : hlen;
        if (name_len < sizeof t->host)
            memcpy(t->host, host, name_len);
        if (colon)
            port = colon + 1;
    }
    if (name_len == 0)
        return bad(err, t, "no host");
    if (name_len >= sizeof t->host)
        return bad(err, t, "host name longer than 255 bytes");
    t->host[name_len] = 0;
    if (port) {
        size_t plen = (size_t)(s + alen - port);
        unsigned v = 0;
        if (plen == 0 || plen > 5)
            return bad(err, t, "the port must be a number from 1 to 65535");
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return bad(err, t, "the port must be a number from 1 to 65535");
            v = v * 10 + (unsigned)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return bad(err, t, "the port must be a number from 1 to 65535");
        t->port = (uint16_t)v;
    }
    const char *path = s + alen;
    if (*path == '/' && path[1] && path[1] != '?' && path[1] != '#') {
        unsigned long long db = 0;
        size_t i = 1;
        for (; path[i] && path[i] != '?' && path[i] != '#'; i++) {
            if (path[i] < '0' || path[i] > '9' || db > 100000000ull)
                return bad(err, t, "the path must be a database number");
            db = db * 10 + (unsigned)(path[i] - '0');
        }
        t->db = (uint32_t)db;
        t->db_set = 1;
    }
    return 0;
}

char *replay_target_format(const struct replay_target *t, char *buf, size_t cap)
{
    int v6 = strchr(t->host, ':') != NULL;
    snprintf(buf, cap, "%s://%s%s%s%s%s:%u/%u", t->tls ? "rediss" : "redis", t->user ? t->user : "",
             t->user ? "@" : "", v6 ? "[" : "", t->host, v6 ? "]" : "", (unsigned)t->port, t->db);
    return buf;
}
