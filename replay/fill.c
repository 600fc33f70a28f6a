/* fill.c: --read-through, the replay as a cache-aside application.
 *
 * Production fills a cache after a miss: the application reads, finds nothing, loads the value
 * from its database and writes it with a TTL. A trace only holds what production wrote; where
 * production hit, the trace has no write, so a replay into a cold or restarted cache keeps
 * missing. With --read-through, a read that misses on the target where the recording had a
 * value writes that value back, as the application would have:
 *   GET k, GETEX k  ->  SET k <the recorded reply's size in bytes> PX <ttl> NX
 *   HGET k f        ->  HSETNX k f <size>, then PEXPIRE k <ttl> NX
 * The value is filler bytes of the recorded size (the trace keeps sizes, not values). NX: a
 * write of the trace that reached the key first wins. The TTL is the one the key had in the
 * recording when the trace showed one (the last SET EX/PX/EXAT/PXAT, SETEX, PSETEX, GETEX,
 * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT or PERSIST of the key read so far, in any connection),
 * otherwise replay_opts.read_through_ttl_ms. TTLs are remembered in a fixed table of
 * FILL_TTL_SLOTS keys per worker (a key whose slot another key took falls back to the default).
 * Write-backs go on the connection the read was answered on, right after it; they are counted
 * apart from the trace's requests (replay_result.read_through, _errors, _skipped) and have no
 * latency of their own. Other reads (MGET, HGETALL, LRANGE, ...) are not written back: counted
 * as skipped. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FILL_TTL_SLOTS (1u << 18)
#define FILL_NONE UINT32_MAX /* the key had no TTL */
#define FILL_MAX_VALUE (64u << 20)

static uint64_t key_hash(uint32_t db, const char *k, size_t n)
{
    uint64_t h = trace_hash(k, n) ^ mix64((uint64_t)db + 1);
    return h ? h : 1; /* 0 marks an empty slot */
}

static int eq(const char *a, size_t n, const char *lit)
{
    return n == strlen(lit) && !strncasecmp(a, lit, n);
}

/* a decimal argument; @return 0 or -1 */
static int num_arg(const char *s, size_t n, int64_t *out)
{
    char buf[24];
    if (!n || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static void ttl_put(struct worker *w, uint64_t h, int64_t ms)
{
    if (!w->fill_ttl_key) {
        w->fill_ttl_key = calloc(FILL_TTL_SLOTS, sizeof *w->fill_ttl_key);
        w->fill_ttl_ms = calloc(FILL_TTL_SLOTS, sizeof *w->fill_ttl_ms);
        if (!w->fill_ttl_key || !w->fill_ttl_ms) {
            free(w->fill_ttl_key);
            free(w->fill_ttl_ms);
            w->fill_ttl_key = NULL;
            w->fill_ttl_ms = NULL;
            return; /* no memory: the default TTL for every key */
        }
    }
    size_t i = h & (FILL_TTL_SLOTS - 1);
    w->fill_ttl_key[i] = h;
    w->fill_ttl_ms[i] = ms < 0 ? FILL_NONE : ms >= FILL_NONE ? FILL_NONE - 1 : (uint32_t)ms;
}

/* the TTL option of SET/GETEX starting at argument `i`: @return 1 with *ms (-1: none), 0 when
 * the command leaves the TTL as it is */
static int ttl_opts(const struct trace_request *q, uint32_t i, uint64_t ts_ns, int64_t *ms)
{
    int found = 0;
    *ms = -1;
    for (; i < q->argc; i++) {
        const char *a = q->argv[i];
        size_t n = q->argvlen[i];
        int64_t v;
        if (eq(a, n, "KEEPTTL"))
            return 0;
        if (eq(a, n, "PERSIST")) {
            *ms = -1;
            found = 1;
            continue;
        }
        if (i + 1 >= q->argc || num_arg(q->argv[i + 1], q->argvlen[i + 1], &v) < 0)
            continue;
        if (eq(a, n, "EX"))
            *ms = v * 1000;
        else if (eq(a, n, "PX"))
            *ms = v;
        else if (eq(a, n, "EXAT"))
            *ms = v * 1000 - (int64_t)(ts_ns / 1000000);
        else if (eq(a, n, "PXAT"))
            *ms = v - (int64_t)(ts_ns / 1000000);
        else
            continue;
        if (*ms < 1)
            *ms = 1; /* a time already past: gone at once */
        found = 1;
        i++;
    }
    return found;
}

void eng_fill_learn(struct worker *w, const struct trace_request *q, uint64_t ts_ns)
{
    if (q->argc < 2 || (q->flags & TRACE_REQ_MALFORMED))
        return;
    const char *c = q->argv[0];
    size_t cn = q->argvlen[0];
    int64_t ms, v;
    int known = 0;
    if (eq(c, cn, "SET")) {
        if (q->argc < 3)
            return;
        known = ttl_opts(q, 3, ts_ns, &ms);
        if (!known) { /* a SET without a TTL option drops the key's TTL (but KEEPTTL) */
            int keep = 0;
            for (uint32_t i = 3; i < q->argc; i++)
                keep |= eq(q->argv[i], q->argvlen[i], "KEEPTTL");
            if (keep)
                return;
            ms = -1;
            known = 1;
        }
    } else if (eq(c, cn, "GETEX")) {
        known = ttl_opts(q, 2, ts_ns, &ms);
    } else if (q->argc >= 3 && num_arg(q->argv[2], q->argvlen[2], &v) == 0 &&
               (eq(c, cn, "SETEX") || eq(c, cn, "EXPIRE"))) {
        ms = v * 1000;
        known = 1;
    } else if (q->argc >= 3 && num_arg(q->argv[2], q->argvlen[2], &v) == 0 &&
               (eq(c, cn, "PSETEX") || eq(c, cn, "PEXPIRE"))) {
        ms = v;
        known = 1;
    } else if (q->argc >= 3 && num_arg(q->argv[2], q->argvlen[2], &v) == 0 &&
               (eq(c, cn, "EXPIREAT") || eq(c, cn, "PEXPIREAT"))) {
        ms = (eq(c, cn, "EXPIREAT") ? v * 1000 : v) - (int64_t)(ts_ns / 1000000);
        if (ms < 1)
            ms = 1;
        known = 1;
    } else if (eq(c, cn, "PERSIST")) {
        ms = -1;
        known = 1;
    }
    if (!known)
        return;
    ttl_put(w, key_hash(q->db, q->argv[1], q->argvlen[1]), ms);
}

void eng_fill_mark(struct worker *w, struct req *r, const struct trace_request *q)
{
    if (!w->o->read_through || !r->is_read || q->argc < 2)
        return;
    const char *c = q->argv[0];
    size_t cn = q->argvlen[0];
    if ((eq(c, cn, "GET") && q->argc == 2) || eq(c, cn, "GETEX"))
        r->fill = 1;
    else if (eq(c, cn, "HGET") && q->argc == 3)
        r->fill = 2;
    else
        r->fill = 3; /* a read without a rule: its misses are counted as skipped */
    r->fill_hash = key_hash(q->db, q->argv[1], q->argvlen[1]);
}

/* the argument `i` of our own RESP encoding of a request */
static int wire_arg(const char *p, size_t len, unsigned i, const char **a, size_t *n)
{
    const char *end = p + len;
    if (p >= end || *p != '*')
        return -1;
    p = memchr(p, '\n', (size_t)(end - p));
    if (!p)
        return -1;
    p++;
    for (unsigned k = 0;; k++) {
        if (p >= end || *p != '$')
            return -1;
        char *e;
        unsigned long long l = strtoull(p + 1, &e, 10);
        if (e + 2 > end || e[0] != '\r')
            return -1;
        p = e + 2;
        if (l > (unsigned long long)(end - p))
            return -1;
        if (k == i) {
            *a = p;
            *n = (size_t)l;
            return 0;
        }
        p += l + 2;
    }
}

void eng_fill_miss(struct worker *w, struct req *r)
{
    if (r->fill != 1 && r->fill != 2) {
        w->res.read_through_skipped++;
        return;
    }
    const char *key, *field = NULL;
    size_t klen, flen = 0;
    if (!r->wire || wire_arg(r->wire, r->wlen, 1, &key, &klen) < 0 ||
        (r->fill == 2 && wire_arg(r->wire, r->wlen, 2, &field, &flen) < 0)) {
        w->res.read_through_skipped++;
        return;
    }
    uint64_t ttl = w->o->read_through_ttl_ms;
    if (w->fill_ttl_key) {
        size_t i = r->fill_hash & (FILL_TTL_SLOTS - 1);
        if (w->fill_ttl_key[i] == r->fill_hash)
            ttl = w->fill_ttl_ms[i] == FILL_NONE ? 0 : w->fill_ttl_ms[i];
    }
    size_t vlen = r->rec_size < FILL_MAX_VALUE ? r->rec_size : FILL_MAX_VALUE;
    char *val = malloc(vlen ? vlen : 1);
    if (!val) {
        w->res.read_through_skipped++;
        return;
    }
    memset(val, 'x', vlen);
    char ttls[24];
    snprintf(ttls, sizeof ttls, "%llu", (unsigned long long)ttl);
    int rc;
    if (r->fill == 1) {
        const char *argv[] = {"SET", key, val, "PX", ttls, "NX"};
        size_t lens[] = {3, klen, vlen, 2, strlen(ttls), 2};
        if (!ttl) { /* no TTL: SET k v NX */
            argv[3] = "NX";
            lens[3] = 2;
        }
        rc = eng_tconn_fill(w, r, ttl ? 6 : 4, argv, lens);
    } else {
        const char *argv[] = {"HSETNX", key, field, val};
        size_t lens[] = {6, klen, flen, vlen};
        rc = eng_tconn_fill(w, r, 4, argv, lens);
        if (rc == 0 && ttl) {
            const char *ev[] = {"PEXPIRE", key, ttls, "NX"};
            size_t el[] = {7, klen, strlen(ttls), 2};
            eng_tconn_fill(w, r, 4, ev, el);
        }
    }
    free(val);
    if (rc < 0)
        w->res.read_through_skipped++;
    else
        w->res.read_through++;
}
