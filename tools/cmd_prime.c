/* cmd_prime.c: `resptrace prime`: before a replay, load into the target the keys the trace
 * reads before (or without) writing them, shaped as the recorded replies describe them. */
#define _GNU_SOURCE
#include "replay.h"
#include "tools.h"
#include "trace_edit.h"
#include "walk.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h> /* the replies of replay_conn */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* out of memory: "resptrace prime: out of memory", exit 1 (tools.h) */
#define oom() rt_oom("prime")
#define xrealloc(p, n) rt_xrealloc("prime", (p), (n))

void usage_prime(FILE *out)
{
    fputs("usage: resptrace prime TRACE --target URL [--target URL2 ...] [--user NAME]\n"
          "                       [--pass PASSWORD] [TLS options] [--key-prefix P]\n"
          "                       [--pipeline N] [--dry-run] [--json[=FILE]] [-q]\n"
          "                       [--salvage]\n"
          "\n"
          "Before a replay, loads into the target the keys that the trace reads before it\n"
          "writes them (or reads and never writes), with the types and sizes its recorded\n"
          "replies show, so that the replay measures the service and not cache misses.\n"
          "\n"
          "  --target URL      redis://[user:pass@]host:port[/db] (rediss:// for TLS); a\n"
          "                    cluster node is enough: the topology is read from it\n"
          "                    (further --target URLs are seed nodes)\n"
          "  --user, --pass    ACL credentials; better in the environment: RESPTRACE_USER,\n"
          "                    RESPTRACE_PASS or REDISCLI_AUTH (a password on the command\n"
          "                    line, with --pass or in the URL, is visible to every local\n"
          "                    user: prime warns, as redis-cli does for -a)\n"
          RT_TLS_USAGE
          "                    (the connections are replay's own: the same certificate\n"
          "                    checks, a host name or an IP target's address)\n"
          "  --key-prefix P    prime the keys with P prepended (as replay --key-prefix\n"
          "                    sends them)\n"
          "  --pipeline N      commands in flight per node (default 1000)\n"
          "  --dry-run         read the trace (and the topology when --target is given),\n"
          "                    print what would be loaded, write nothing\n"
          "  --json[=FILE]     one JSON document on stdout instead of the table, or into\n"
          "                    FILE (then the table is printed too)\n"
          "  -q, --quiet       no progress line\n"
          "  --salvage         skip damaged chunks of the trace instead of stopping\n"
          "\n"
          "What is primed. One pass over the trace pairs each request with its reply (by\n"
          "sequence number). A key's first access decides: a command flagged write by\n"
          "the command table (SET, HSET, DEL, EXPIRE, INCR...) means the trace creates\n"
          "the key itself, and it is never primed; a read-only command makes it a\n"
          "candidate. Replies to reads issued before the key's first write describe it\n"
          "(error replies are ignored):\n"
          "  GET k (bulk of n bytes)     string of n bytes; a null: absent\n"
          "  STRLEN k (n > 0)            string of n bytes\n"
          "  MGET k...                   with payloads each element as GET; without,\n"
          "                              every key is a string of the average element\n"
          "                              size unless all elements were null (keys that\n"
          "                              other reads found absent stay absent)\n"
          "  HGETALL (n fields), HKEYS, HVALS, HLEN n\n"
          "                              hash of at least n fields\n"
          "  HGET/HEXISTS/HSTRLEN k f, HMGET k f...\n"
          "                              hash holding field f (value size from the\n"
          "                              reply); a null or 0: the field is not created\n"
          "                              (HMGET without payloads: all its fields are\n"
          "                              created unless all were null)\n"
          "  LRANGE k s e (m elements)   list of at least s + m elements (s >= 0)\n"
          "  LLEN n / LINDEX k i         list of n / at least i + 1 elements\n"
          "  SMEMBERS (n) / SCARD n      set of at least n members\n"
          "  SISMEMBER/SMISMEMBER k m (1)\n"
          "                              set holding member m\n"
          "  ZRANGE/ZREVRANGE k s e [WITHSCORES], ZRANGEBYSCORE/ZREVRANGEBYSCORE (m)\n"
          "                              sorted set of at least s + m members (m for\n"
          "                              BYSCORE/BYLEX)\n"
          "  ZCARD n / ZCOUNT n          sorted set of at least n members\n"
          "  ZRANK/ZREVRANK k m (r >= 0) sorted set holding m, of at least r + 1 members\n"
          "  ZSCORE/ZMSCORE k m          sorted set holding m (its score with payloads)\n"
          "  TTL/PTTL t >= 0             the key expires t after the point of the trace\n"
          "                              where it was read (PEXPIRE at load: t plus that\n"
          "                              offset from the trace's start); -2: absent\n"
          "  EXISTS k... (all of them)   each exists: a string of 8 bytes unless a type\n"
          "                              is known; 0: each is absent\n"
          "  TYPE k (payloads only)      the type named\n"
          "These replies count as finding the key absent: GET's null, 0 from STRLEN,\n"
          "HLEN, LLEN, SCARD or ZCARD, a null MGET element (without payloads: when all\n"
          "are), 0 from EXISTS, an empty reply to HGETALL, HKEYS, HVALS or SMEMBERS, to\n"
          "LRANGE from index 0 or -1 or to ZRANGE from 0, -2 from TTL/PTTL, \"none\" from\n"
          "TYPE. A key is primed when at least one read showed it; keys whose reads only\n"
          "found them absent are not (absent). Lengths are lower bounds: the largest any\n"
          "reply implies is loaded. Values are synthesized bytes of the recorded sizes:\n"
          "strings by their reply's size; elements by the average element size of the\n"
          "aggregate replies (from the wire length, exact when the trace kept payloads\n"
          "with record --payloads). With payloads, strings and hash fields get their\n"
          "recorded bytes (the first value read), and field and member names and scores\n"
          "come from the replies. Field and member names seen in arguments (or in\n"
          "payloads) are created; the rest are made up, distinct. The first type seen\n"
          "wins; conflicting evidence is counted. Keys of other read commands are not\n"
          "primed (no_evidence). Commands flagged neither write nor read-only (EVAL,\n"
          "FCALL, WATCH, OBJECT...) are not counted as accesses, nor are malformed\n"
          "requests (the raw bytes a server refused).\n"
          "\n"
          "Loading. Hashes, lists, sets and sorted sets are deleted first and rebuilt\n"
          "(priming twice gives the same dataset); strings are SET. Commands are\n"
          "pipelined, N in flight per node. On a cluster each key goes to the primary\n"
          "serving its slot (one connection per primary); keys of databases other than 0\n"
          "go to database 0, as replay sends them. On a standalone server the recorded\n"
          "database is SELECTed unless the URL names one. A target that cannot be\n"
          "reached, whose certificate is not accepted, or that refuses the credentials\n"
          "(AUTH refused, NOAUTH) stops prime with one line, before anything is loaded.\n"
          "Ctrl-C stops the loading: what was sent is reported, exit 130.\n"
          "\n"
          "Memory: one entry per distinct key the trace accesses (about 100 bytes plus\n"
          "the key), plus one per field or member name seen for a candidate key; with\n"
          "payloads, also the recorded values of the strings and hash fields to be\n"
          "primed.\n"
          "\n"
          "Exit status: 0 primed, 1 the trace is damaged or the target answered errors\n"
          "or failed, 2 for a bad command line, 130 interrupted.\n",
          out);
}

/* ---- tables ------------------------------------------------------------------------------ */

#define NONE32 UINT32_MAX

enum { T_NONE = 0, T_ANY, T_STRING, T_HASH, T_LIST, T_SET, T_ZSET, T_NTYPES };
static const char *const type_names[T_NTYPES] = {"none", "any", "string", "hash",
                                                 "list", "set", "zset"};

enum { S_READ_FIRST = 1, S_WRITE_FIRST = 2 };

struct pkey {
    uint64_t h;
    uint64_t koff;       /* the key's bytes in the arena */
    uint64_t n;          /* strings: bytes; else elements (a lower bound) */
    uint64_t esum, ecnt; /* element bytes and elements seen, for the average size */
    int64_t pttl;        /* ms from the trace's start; -1: no expiry seen */
    uint32_t klen, db;
    uint32_t names;      /* head of its field/member names, NONE32 */
    uint32_t absent;     /* reads that found it absent */
    uint64_t voff, vlen; /* the recorded value (payloads), when has_val */
    uint8_t state, type, written, conflict, has_val;
};

struct pname {
    uint64_t h;
    uint64_t off;
    uint64_t vsize; /* hash: the value's size when known (has_v) */
    double score;   /* zset: when has_score */
    uint32_t len, key, next;
    uint64_t voff; /* hash: the recorded value (payloads), when has_bytes; vsize bytes */
    uint8_t ok, has_v, has_score, has_bytes;
};

/* An open-addressing index: 0 empty, else entry + 1 in the low half, the hash's high half. */
struct oidx {
    uint64_t *s;
    size_t mask;
};

struct arena {
    char *p;
    size_t len, cap;
};

static uint64_t arena_add(struct arena *a, const void *p, size_t n)
{
    if (a->len + n > a->cap) {
        size_t c = a->cap ? a->cap : 1 << 16;
        while (c < a->len + n)
            c *= 2;
        a->p = xrealloc(a->p, c);
        a->cap = c;
    }
    if (n)
        memcpy(a->p + a->len, p, n);
    a->len += n;
    return a->len - n;
}

static void oidx_init(struct oidx *x)
{
    x->s = calloc(1024, sizeof *x->s);
    if (!x->s)
        oom();
    x->mask = 1023;
}

#define OSLOT(i, h) ((uint64_t)((i) + 1) | ((h)&0xffffffff00000000ull))
#define OSLOT_I(v) ((uint32_t)(v)-1)

static void oidx_grow(struct oidx *x, const uint64_t *hashes, size_t stride, size_t n)
{
    size_t slots = (x->mask + 1) * 2;
    uint64_t *s = calloc(slots, sizeof *s);
    if (!s)
        oom();
    for (size_t i = 0; i < n; i++) {
        uint64_t h = *(const uint64_t *)((const char *)hashes + i * stride);
        size_t p = h & (slots - 1);
        while (s[p])
            p = (p + 1) & (slots - 1);
        s[p] = OSLOT(i, h);
    }
    free(x->s);
    x->s = s;
    x->mask = slots - 1;
}

/* ---- the pass over the trace ------------------------------------------------------------ */

enum op {
    OP_NONE = 0,
    OP_GET,
    OP_MGET,
    OP_STRLEN,
    OP_EXISTS,
    OP_TTL,
    OP_PTTL,
    OP_TYPE,
    OP_HGETALL,
    OP_HKEYS,
    OP_HVALS,
    OP_HLEN,
    OP_HGET,
    OP_HMGET,
    OP_HEXISTS,
    OP_HSTRLEN,
    OP_LRANGE,
    OP_LLEN,
    OP_LINDEX,
    OP_SMEMBERS,
    OP_SCARD,
    OP_SISMEMBER,
    OP_SMISMEMBER,
    OP_ZRANGE,
    OP_ZREVRANGE,
    OP_ZRANGEBY,
    OP_ZCARD,
    OP_ZSCORE,
    OP_ZMSCORE,
    OP_ZRANK,
    OP_ZCOUNT
};

static const struct {
    const char *name;
    uint8_t op;
} read_ops[] = {
    {"get", OP_GET},
    {"mget", OP_MGET},
    {"strlen", OP_STRLEN},
    {"exists", OP_EXISTS},
    {"ttl", OP_TTL},
    {"pttl", OP_PTTL},
    {"type", OP_TYPE},
    {"hgetall", OP_HGETALL},
    {"hkeys", OP_HKEYS},
    {"hvals", OP_HVALS},
    {"hlen", OP_HLEN},
    {"hget", OP_HGET},
    {"hmget", OP_HMGET},
    {"hexists", OP_HEXISTS},
    {"hstrlen", OP_HSTRLEN},
    {"lrange", OP_LRANGE},
    {"llen", OP_LLEN},
    {"lindex", OP_LINDEX},
    {"smembers", OP_SMEMBERS},
    {"scard", OP_SCARD},
    {"sismember", OP_SISMEMBER},
    {"smismember", OP_SMISMEMBER},
    {"zrange", OP_ZRANGE},
    {"zrevrange", OP_ZREVRANGE},
    {"zrangebyscore", OP_ZRANGEBY},
    {"zrevrangebyscore", OP_ZRANGEBY},
    {"zcard", OP_ZCARD},
    {"zscore", OP_ZSCORE},
    {"zmscore", OP_ZMSCORE},
    {"zrank", OP_ZRANK},
    {"zrevrank", OP_ZRANK},
    {"zcount", OP_ZCOUNT},
};

/* What a read waiting for its reply keeps (its tag on the walk): the rule that reads the reply
 * and what the rule needs from the request. Its keys (MGET, EXISTS) or names (HMGET, ...) go
 * into the walk's references ring, one uint32_t each. */
struct pend {
    uint64_t ref_start;
    int64_t a, b; /* LRANGE/ZRANGE start, stop; LINDEX index */
    uint32_t nref, key, name;
    uint8_t op, withscores, bylex, proto;
    uint8_t set; /* the request was read completely: its reply is to be applied */
};

struct cmd_cache {
    const struct rt_cmd *c;
    uint8_t op;
};

struct prime {
    /* options */
    const char *path, *prefix;
    size_t prefix_len;
    /* tables */
    struct pkey *k;
    size_t nk, kcap;
    struct oidx kidx;
    struct pname *nm;
    size_t nn, ncap;
    struct oidx nidx;
    struct arena keys, names, vals;
    struct rt_walk_refs *refs;
    struct collect *col; /* scratch for the scalars of a reply's payload */
    struct cmd_cache cc[64];
    /* counts of the pass */
    uint64_t requests, reads, writes, unknown, reads_paired, error_replies, conflicts, malformed;
    uint64_t read_no_rule; /* read-only commands with keys this tool has no rule for */
};

static uint64_t key_hash(uint32_t db, const char *k, size_t len)
{
    return trace_hash(k, len) ^ ((uint64_t)db * 0x9e3779b97f4a7c15ull);
}

/* Finds or adds (db, key). *fresh is 1 when added. @return its index. */
static uint32_t key_touch(struct prime *s, uint32_t db, const char *k, size_t len, int *fresh)
{
    uint64_t h = key_hash(db, k, len);
    size_t p = h & s->kidx.mask;
    for (uint64_t v; (v = s->kidx.s[p]) != 0; p = (p + 1) & s->kidx.mask) {
        if ((v ^ h) >> 32)
            continue;
        struct pkey *e = &s->k[OSLOT_I(v)];
        if (e->h == h && e->db == db && e->klen == len && !memcmp(s->keys.p + e->koff, k, len)) {
            *fresh = 0;
            return OSLOT_I(v);
        }
    }
    if (len > UINT32_MAX || s->nk >= NONE32 - 1)
        oom();
    if (s->nk == s->kcap) {
        s->kcap = s->kcap ? s->kcap * 2 : 1024;
        s->k = xrealloc(s->k, s->kcap * sizeof *s->k);
    }
    uint32_t i = (uint32_t)s->nk++;
    struct pkey *e = &s->k[i];
    memset(e, 0, sizeof *e);
    e->h = h;
    e->db = db;
    e->klen = (uint32_t)len;
    e->koff = arena_add(&s->keys, k, len);
    e->pttl = -1;
    e->names = NONE32;
    s->kidx.s[p] = OSLOT(i, h);
    if (s->nk * 2 > s->kidx.mask + 1)
        oidx_grow(&s->kidx, &s->k[0].h, sizeof *s->k, s->nk);
    *fresh = 1;
    return i;
}

static uint64_t name_hash(uint32_t key, const void *p, size_t len)
{
    return trace_hash(p, len) ^ ((uint64_t)(key + 1) * 0xc2b2ae3d27d4eb4full);
}

/* The index of name (key, p) or NONE32. */
static uint32_t name_find(const struct prime *s, uint32_t key, const void *p, size_t len)
{
    uint64_t h = name_hash(key, p, len);
    for (size_t i = h & s->nidx.mask; s->nidx.s[i]; i = (i + 1) & s->nidx.mask) {
        uint64_t v = s->nidx.s[i];
        const struct pname *n = &s->nm[OSLOT_I(v)];
        if (n->h == h && n->key == key && n->len == len && !memcmp(s->names.p + n->off, p, len))
            return OSLOT_I(v);
    }
    return NONE32;
}

/* Finds or adds a field/member name of key `key` (not yet confirmed). */
static uint32_t name_touch(struct prime *s, uint32_t key, const void *p, size_t len)
{
    uint32_t f = name_find(s, key, p, len);
    if (f != NONE32)
        return f;
    if (len > UINT32_MAX || s->nn >= NONE32 - 1)
        oom();
    if (s->nn == s->ncap) {
        s->ncap = s->ncap ? s->ncap * 2 : 1024;
        s->nm = xrealloc(s->nm, s->ncap * sizeof *s->nm);
    }
    uint32_t i = (uint32_t)s->nn++;
    struct pname *n = &s->nm[i];
    memset(n, 0, sizeof *n);
    n->h = name_hash(key, p, len);
    n->off = arena_add(&s->names, p, len);
    n->len = (uint32_t)len;
    n->key = key;
    n->next = s->k[key].names;
    s->k[key].names = i;
    size_t q = n->h & s->nidx.mask;
    while (s->nidx.s[q])
        q = (q + 1) & s->nidx.mask;
    s->nidx.s[q] = OSLOT(i, n->h);
    if (s->nn * 2 > s->nidx.mask + 1)
        oidx_grow(&s->nidx, &s->nm[0].h, sizeof *s->nm, s->nn);
    return i;
}

static uint8_t op_of(struct prime *s, const struct rt_cmd *c)
{
    struct cmd_cache *e = &s->cc[((uintptr_t)c >> 4) & 63];
    if (e->c == c)
        return e->op;
    uint8_t op = OP_NONE;
    for (size_t i = 0; i < sizeof read_ops / sizeof read_ops[0]; i++)
        if (!strcmp(read_ops[i].name, c->name))
            op = read_ops[i].op;
    e->c = c;
    e->op = op;
    return op;
}

/* An integer argument, or `dflt` when it is not one. */
static int64_t arg_int(const struct trace_request *rq, uint32_t i, int64_t dflt)
{
    if (i >= rq->argc || rq->argvlen[i] == 0 || rq->argvlen[i] > 20)
        return dflt;
    char b[24];
    memcpy(b, rq->argv[i], rq->argvlen[i]);
    b[rq->argvlen[i]] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(b, &end, 10);
    return *end || errno ? dflt : (int64_t)v;
}

static int arg_is(const struct trace_request *rq, uint32_t i, const char *word)
{
    return i < rq->argc && rq->argvlen[i] == strlen(word) &&
           !strncasecmp(rq->argv[i], word, rq->argvlen[i]);
}

static int candidate(const struct pkey *k)
{
    return k->state == S_READ_FIRST && !k->written;
}

/* The ring entries of the `n` references of a request (NULL when it keeps none). */
static uint32_t *refs_new(struct prime *s, struct pend *p, size_t n)
{
    uint64_t at = rt_walk_refs_take(s->refs, n * sizeof(uint32_t));
    if (at == RT_WALK_NOREFS)
        return NULL;
    p->ref_start = at;
    p->nref = (uint32_t)n;
    return rt_walk_refs_at(s->refs, at);
}

/* Names of arguments from `first` on, as refs of the request. */
static int push_names(struct prime *s, struct pend *p, uint32_t key, const struct trace_request *rq,
                      uint32_t first)
{
    uint32_t *refs = rq->argc > first ? refs_new(s, p, rq->argc - first) : NULL;
    if (!refs)
        return -1;
    for (uint32_t i = first; i < rq->argc; i++)
        refs[i - first] = name_touch(s, key, rq->argv[i], rq->argvlen[i]);
    return 0;
}

static void on_request(void *ctx, struct rt_walk *w, const struct rt_walk_req *q, void *tag)
{
    struct prime *s = ctx;
    const struct trace_request *rq = q->rq;
    (void)w;
    s->requests++;
    if (q->kind == RT_WALK_EMPTY)
        return;
    if (q->kind == RT_WALK_MALFORMED) {
        s->malformed++; /* the raw bytes a server refused: no command, no keys */
        return;
    }
    if (q->kind == RT_WALK_UNKNOWN) {
        s->unknown++;
        return;
    }
    const struct rt_cmd *c = q->cmd;
    size_t n = q->nkeys;
    const uint32_t *pos = q->keys;
    if (q->keys_rc != 0 || n == 0)
        return;
    int wr = (c->flags & RT_CMD_WRITE) != 0;
    int rd = !wr && (c->flags & RT_CMD_READONLY);
    if (wr)
        s->writes++;
    else if (rd)
        s->reads++;
    else
        return; /* neither: keys of e.g. WATCH or OBJECT are not accesses to their data */
    uint32_t first = NONE32;
    int all_cand = 1;
    for (size_t i = 0; i < n; i++) {
        int fresh;
        uint32_t ki = key_touch(s, rq->db, rq->argv[pos[i]], rq->argvlen[pos[i]], &fresh);
        struct pkey *k = &s->k[ki];
        if (fresh)
            k->state = wr ? S_WRITE_FIRST : S_READ_FIRST;
        else if (wr)
            k->written = 1;
        if (i == 0)
            first = ki;
        all_cand &= candidate(k);
    }
    if (!rd)
        return;
    uint8_t op = op_of(s, c);
    if (op == OP_NONE) {
        s->read_no_rule++;
        return;
    }
    if (!all_cand && op != OP_MGET && op != OP_EXISTS)
        return;
    struct pend *p = tag; /* zeroed by the walk */
    if (!q->waits)
        return; /* no reply to read */
    p->op = op;
    p->key = first;
    p->name = NONE32;
    p->proto = rq->proto;
    switch (op) {
    case OP_MGET:
    case OP_EXISTS: {
        uint32_t *refs = refs_new(s, p, n);
        if (!refs)
            return;
        for (size_t i = 0; i < n; i++) {
            int fresh;
            refs[i] = key_touch(s, rq->db, rq->argv[pos[i]], rq->argvlen[pos[i]], &fresh);
        }
        break;
    }
    case OP_HGET:
    case OP_HEXISTS:
    case OP_HSTRLEN:
    case OP_SISMEMBER:
    case OP_ZSCORE:
    case OP_ZRANK:
        if (rq->argc < 3)
            return;
        p->name = name_touch(s, first, rq->argv[2], rq->argvlen[2]);
        break;
    case OP_HMGET:
    case OP_SMISMEMBER:
    case OP_ZMSCORE:
        if (push_names(s, p, first, rq, 2) < 0)
            return;
        break;
    case OP_LRANGE:
        p->a = arg_int(rq, 2, 0);
        p->b = arg_int(rq, 3, -1);
        break;
    case OP_LINDEX: p->a = arg_int(rq, 2, 0); break;
    case OP_ZRANGE:
    case OP_ZREVRANGE:
    case OP_ZRANGEBY:
        p->a = op == OP_ZRANGEBY ? -1 : arg_int(rq, 2, -1);
        for (uint32_t i = 4; i < rq->argc; i++) {
            if (arg_is(rq, i, "WITHSCORES"))
                p->withscores = 1;
            else if (arg_is(rq, i, "BYSCORE") || arg_is(rq, i, "BYLEX") || arg_is(rq, i, "LIMIT"))
                p->bylex = 1;
        }
        if (p->bylex)
            p->a = -1;
        break;
    default: break;
    }
    p->set = 1;
}

/* ---- applying a reply ---------------------------------------------------------------------- */

/* Sets the type of key `k`: the first type seen wins. @return 1 when `t` is its type. */
static int set_type(struct prime *s, struct pkey *k, uint8_t t)
{
    if (k->type == t)
        return 1;
    if (k->type == T_NONE || (k->type == T_ANY && t != T_ANY)) {
        k->type = t;
        return 1;
    }
    if (t == T_ANY)
        return 1;
    if (!k->conflict)
        s->conflicts++;
    k->conflict = 1;
    return 0;
}

static void at_least(struct pkey *k, uint64_t n)
{
    if (n > k->n)
        k->n = n;
}

static void elems(struct pkey *k, uint64_t bytes, uint64_t cnt)
{
    k->esum += bytes;
    k->ecnt += cnt;
}

/* The average payload size of the `nelem` elements of an aggregate reply of `len` bytes on the
 * wire, each a bulk string ("$<size>\r\n<bytes>\r\n"). */
static uint64_t est_elem(const struct trace_reply *rp, uint64_t nelem)
{
    uint64_t hdr = 1 + resp_ndigits(rp->count) + 2;
    if (!nelem || rp->len <= hdr)
        return 0;
    uint64_t per = (rp->len - hdr) / nelem;
    uint64_t over = 5 + resp_ndigits(per);
    return per > over ? per - over : 0;
}

static int has_payload(const struct trace_reply *rp)
{
    return (rp->flags & TRACE_REPLY_HAS_PAYLOAD) && rp->payload && rp->payload_len;
}

/* One scalar of a recorded payload. */
struct leaf {
    uint8_t type;
    const uint8_t *str;
    size_t len;
    int64_t ival;
};

typedef void (*leaf_fn)(void *ctx, const struct leaf *l);

/* Calls `fn` for each scalar of the reply at `p`, depth first (pairs of RESP3 maps and the
 * [member, score] arrays of RESP3 ZRANGE come out flat). @return the bytes of the reply, or
 * 0 when it cannot be scanned. */
static size_t walk(const uint8_t *p, size_t len, int depth, leaf_fn fn, void *ctx)
{
    struct resp_reply r;
    int n = resp_scan_reply(p, len, NULL, &r, NULL);
    if (n <= 0)
        return 0;
    int agg = r.type == TRACE_R_ARRAY || r.type == TRACE_R_MAP || r.type == TRACE_R_SET ||
              r.type == TRACE_R_PUSH;
    if (!agg || r.count == 0) {
        struct leaf l = {r.type, r.str, r.str_len, r.ival};
        if (!agg)
            fn(ctx, &l);
        return (size_t)n;
    }
    if (depth >= 3)
        return 0;
    const uint8_t *nl = memchr(p + r.attr_len, '\n', (size_t)n - r.attr_len);
    if (!nl)
        return 0;
    size_t off = (size_t)(nl - p) + 1;
    uint64_t m = r.count * (r.type == TRACE_R_MAP ? 2 : 1);
    for (uint64_t i = 0; i < m; i++) {
        size_t k = walk(p + off, (size_t)n - off, depth + 1, fn, ctx);
        if (!k)
            return 0;
        off += k;
    }
    return (size_t)n;
}

struct collect {
    struct leaf *v;
    size_t n, cap;
};

static void collect_leaf(void *ctx, const struct leaf *l)
{
    struct collect *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = *l;
}

/* The scalars of a payload (c->n 0 when there is none). The pointers borrow the event. */
static void leaves(const struct trace_reply *rp, struct collect *c)
{
    c->n = 0;
    if (has_payload(rp) && !walk(rp->payload, rp->payload_len, 0, collect_leaf, c))
        c->n = 0;
}

static int leaf_null(const struct leaf *l)
{
    return l->type == TRACE_R_NULL;
}

static double leaf_double(const struct leaf *l)
{
    char b[64];
    size_t n = l->len < sizeof b - 1 ? l->len : sizeof b - 1;
    memcpy(b, l->str, n);
    b[n] = 0;
    double d = strtod(b, NULL);
    return isfinite(d) ? d : 0;
}

static void name_ok(struct prime *s, uint32_t ni, int has_v, uint64_t vsize)
{
    struct pname *n = &s->nm[ni];
    n->ok = 1;
    if (has_v && (!n->has_v || vsize > n->vsize)) {
        n->has_v = 1;
        n->vsize = vsize;
    }
}

/* Keeps the first recorded value of a hash field (payloads). */
static void name_val(struct prime *s, uint32_t ni, const struct leaf *l)
{
    if (l->type != TRACE_R_BULK || s->nm[ni].has_bytes)
        return;
    uint64_t off = arena_add(&s->vals, l->str, l->len);
    struct pname *n = &s->nm[ni];
    n->ok = n->has_v = n->has_bytes = 1;
    n->voff = off;
    n->vsize = l->len;
}

/* Keeps the first recorded value of a string (payloads). */
static void key_val(struct prime *s, struct pkey *k, const struct leaf *l)
{
    if (l->type != TRACE_R_BULK || k->has_val)
        return;
    k->voff = arena_add(&s->vals, l->str, l->len);
    k->vlen = l->len;
    k->has_val = 1;
}

static void absent(struct pkey *k)
{
    k->absent++;
}

/* The scalars of a payload taken as names (every `step`-th from `first`), confirmed. */
static void names_from(struct prime *s, uint32_t key, const struct collect *c, size_t first,
                       size_t step, int kind)
{
    for (size_t i = first; i < c->n; i += step) {
        if (leaf_null(&c->v[i]))
            continue;
        uint32_t ni = name_touch(s, key, c->v[i].str, c->v[i].len);
        if (kind == T_HASH && i + 1 < c->n)
            name_val(s, ni, &c->v[i + 1]);
        else
            name_ok(s, ni, 0, 0);
        if (kind == T_ZSET && i + 1 < c->n) {
            s->nm[ni].score = leaf_double(&c->v[i + 1]);
            s->nm[ni].has_score = 1;
        }
    }
}

/* The entry of reference `i` of a pending read (its references are valid). */
static uint32_t ref_at(const struct prime *s, const struct pend *p, uint32_t i)
{
    return ((const uint32_t *)rt_walk_refs_at(s->refs, p->ref_start))[i];
}

static void on_reply(void *ctx, struct rt_walk *w, const struct rt_walk_reply *pr, void *tag)
{
    struct prime *s = ctx;
    const struct trace_event *ev = pr->ev;
    const struct trace_reply *rp = pr->rp;
    struct pend *p = tag;
    struct collect *col = s->col;
    if (pr->pairing != RT_WALK_PAIRED || !p->set)
        return;
    s->reads_paired++;
    if (rp->rtype == TRACE_R_ERROR || rp->rtype == TRACE_R_BLOB_ERROR) {
        s->error_replies++;
        return;
    }
    if (p->nref && !rt_walk_refs_valid(s->refs, p->ref_start))
        return; /* its refs were overwritten */
    struct pkey *k = &s->k[p->key];
    int null = rp->rtype == TRACE_R_NULL;
    int is_int = rp->rtype == TRACE_R_INTEGER;
    int64_t iv = rp->ival;
    uint64_t cnt = rp->count;
    int agg = rp->rtype == TRACE_R_ARRAY || rp->rtype == TRACE_R_MAP || rp->rtype == TRACE_R_SET;
    switch (p->op) {
    case OP_GET:
        if (null)
            absent(k);
        else if (rp->rtype == TRACE_R_BULK && set_type(s, k, T_STRING)) {
            at_least(k, rp->size);
            leaves(rp, col);
            if (col->n == 1)
                key_val(s, k, &col->v[0]);
        }
        break;
    case OP_STRLEN:
        if (is_int && iv <= 0)
            absent(k);
        else if (is_int && set_type(s, k, T_STRING))
            at_least(k, (uint64_t)iv);
        break;
    case OP_MGET: {
        if (!agg || cnt != p->nref)
            break;
        leaves(rp, col);
        uint64_t avg = est_elem(rp, cnt);
        int all_null = rp->len == 1 + resp_ndigits(cnt) + 2 + 5 * cnt;
        for (uint32_t i = 0; i < p->nref; i++) {
            struct pkey *e = &s->k[ref_at(s, p, i)];
            if (!candidate(e))
                continue;
            int exact = col->n == cnt;
            if (!exact && !all_null && (e->type == T_STRING || (e->type == T_NONE && e->absent)))
                continue; /* an estimate: what GET said about this key is better */
            if (exact ? leaf_null(&col->v[i]) : all_null)
                absent(e);
            else if (set_type(s, e, T_STRING))
                at_least(e, exact ? col->v[i].len : avg);
            if (exact && !leaf_null(&col->v[i]) && e->type == T_STRING)
                key_val(s, e, &col->v[i]);
        }
        break;
    }
    case OP_EXISTS:
        if (!is_int)
            break;
        for (uint32_t i = 0; i < p->nref; i++) {
            struct pkey *e = &s->k[ref_at(s, p, i)];
            if (!candidate(e))
                continue;
            if (iv == 0)
                absent(e);
            else if ((uint64_t)iv >= p->nref)
                set_type(s, e, T_ANY);
        }
        break;
    case OP_TTL:
    case OP_PTTL:
        if (!is_int || iv == -2) {
            if (is_int)
                absent(k);
            break;
        }
        set_type(s, k, T_ANY);
        if (iv >= 0 && k->pttl < 0) {
            int64_t ms = p->op == OP_TTL ? (iv ? iv * 1000 : 500) : (iv ? iv : 1);
            k->pttl = ms + (int64_t)((ev->ts - rt_walk_totals(w)->first_ts) / 1000000u);
        }
        break;
    case OP_TYPE:
        leaves(rp, col);
        if (col->n == 1 && col->v[0].len <= 6) {
            static const char *const tn[] = {"string", "hash", "list", "set", "zset", "none"};
            static const uint8_t tt[] = {T_STRING, T_HASH, T_LIST, T_SET, T_ZSET, T_NONE};
            for (size_t i = 0; i < 6; i++)
                if (col->v[0].len == strlen(tn[i]) &&
                    !memcmp(col->v[0].str, tn[i], col->v[0].len)) {
                    if (tt[i] == T_NONE)
                        absent(k);
                    else
                        set_type(s, k, tt[i]);
                }
        }
        break;
    case OP_HGETALL:
    case OP_HKEYS:
    case OP_HVALS: {
        if (!agg)
            break;
        uint64_t ne = rp->rtype == TRACE_R_MAP ? cnt * 2 : cnt;
        uint64_t fields = p->op == OP_HGETALL ? ne / 2 : ne;
        if (fields == 0) {
            absent(k);
            break;
        }
        if (!set_type(s, k, T_HASH))
            break;
        at_least(k, fields);
        leaves(rp, col);
        if (col->n == ne) {
            uint64_t b = 0;
            for (size_t i = 0; i < col->n; i++)
                b += col->v[i].len;
            elems(k, b, ne);
            if (p->op != OP_HVALS)
                names_from(s, p->key, col, 0, p->op == OP_HGETALL ? 2 : 1,
                           p->op == OP_HGETALL ? T_HASH : T_NONE);
        } else {
            elems(k, est_elem(rp, ne) * ne, ne);
        }
        break;
    }
    case OP_HLEN:
    case OP_LLEN:
    case OP_SCARD:
    case OP_ZCARD:
    case OP_ZCOUNT: {
        static const uint8_t t[] = {[OP_HLEN] = T_HASH,
                                    [OP_LLEN] = T_LIST,
                                    [OP_SCARD] = T_SET,
                                    [OP_ZCARD] = T_ZSET,
                                    [OP_ZCOUNT] = T_ZSET};
        if (!is_int)
            break;
        if (iv <= 0) {
            if (p->op != OP_ZCOUNT)
                absent(k);
        } else if (set_type(s, k, t[p->op])) {
            at_least(k, (uint64_t)iv);
        }
        break;
    }
    case OP_HGET:
        if (null || rp->rtype != TRACE_R_BULK)
            break; /* the key or only the field may be missing */
        if (set_type(s, k, T_HASH)) {
            name_ok(s, p->name, 1, rp->size);
            leaves(rp, col);
            if (col->n == 1)
                name_val(s, p->name, &col->v[0]);
            elems(k, rp->size, 1);
            at_least(k, 1);
        }
        break;
    case OP_HEXISTS:
    case OP_SISMEMBER:
    case OP_HSTRLEN:
        if (!is_int || iv <= 0)
            break;
        if (set_type(s, k, p->op == OP_SISMEMBER ? T_SET : T_HASH)) {
            name_ok(s, p->name, p->op == OP_HSTRLEN, (uint64_t)iv);
            at_least(k, 1);
        }
        break;
    case OP_HMGET:
    case OP_SMISMEMBER:
    case OP_ZMSCORE: {
        if (!agg || cnt != p->nref)
            break;
        leaves(rp, col);
        uint8_t t = p->op == OP_HMGET ? T_HASH : p->op == OP_ZMSCORE ? T_ZSET : T_SET;
        if (col->n == cnt) {
            for (uint32_t i = 0; i < p->nref; i++) {
                const struct leaf *l = &col->v[i];
                if (leaf_null(l) || (l->type == TRACE_R_INTEGER && l->ival == 0))
                    continue;
                if (!set_type(s, k, t))
                    break;
                uint32_t ni = ref_at(s, p, i);
                name_ok(s, ni, t == T_HASH, l->len);
                if (t == T_HASH)
                    name_val(s, ni, l);
                if (t == T_ZSET) {
                    s->nm[ni].score = leaf_double(l);
                    s->nm[ni].has_score = 1;
                }
                at_least(k, 1);
            }
        } else if (p->op == OP_HMGET && rp->len != 1 + resp_ndigits(cnt) + 2 + 5 * cnt &&
                   set_type(s, k, T_HASH)) {
            /* without payloads: which fields were null is not known; all are created */
            uint64_t avg = est_elem(rp, cnt);
            for (uint32_t i = 0; i < p->nref; i++)
                name_ok(s, ref_at(s, p, i), 1, avg);
            at_least(k, 1);
        }
        break;
    }
    case OP_LRANGE:
        if (!agg)
            break;
        if (cnt == 0) {
            if (p->a == 0 || p->a == -1 || (p->a < 0 && p->b == -1))
                absent(k); /* a range that would hold any element of a list */
            break;
        }
        if (!set_type(s, k, T_LIST))
            break;
        at_least(k, p->a >= 0 ? (uint64_t)p->a + cnt : cnt);
        leaves(rp, col);
        if (col->n == cnt) {
            uint64_t b = 0;
            for (size_t i = 0; i < col->n; i++)
                b += col->v[i].len;
            elems(k, b, cnt);
        } else {
            elems(k, est_elem(rp, cnt) * cnt, cnt);
        }
        break;
    case OP_LINDEX:
        if (null || rp->rtype != TRACE_R_BULK)
            break;
        if (set_type(s, k, T_LIST)) {
            at_least(k, p->a >= 0 ? (uint64_t)p->a + 1 : (uint64_t)(-(p->a + 1)) + 1);
            elems(k, rp->size, 1);
        }
        break;
    case OP_SMEMBERS:
        if (!agg)
            break;
        if (cnt == 0) {
            absent(k);
            break;
        }
        if (!set_type(s, k, T_SET))
            break;
        at_least(k, cnt);
        leaves(rp, col);
        if (col->n == cnt) {
            uint64_t b = 0;
            for (size_t i = 0; i < col->n; i++)
                b += col->v[i].len;
            elems(k, b, cnt);
            names_from(s, p->key, col, 0, 1, T_SET);
        } else {
            elems(k, est_elem(rp, cnt) * cnt, cnt);
        }
        break;
    case OP_ZRANGE:
    case OP_ZREVRANGE:
    case OP_ZRANGEBY: {
        if (!agg)
            break;
        /* RESP2 WITHSCORES: member, score, ...; RESP3: [member, score] pairs */
        uint64_t members = p->withscores && p->proto != 3 ? cnt / 2 : cnt;
        if (members == 0) {
            if (p->a == 0)
                absent(k);
            break;
        }
        if (!set_type(s, k, T_ZSET))
            break;
        at_least(k, p->a >= 0 ? (uint64_t)p->a + members : members);
        leaves(rp, col);
        size_t step = p->withscores ? 2 : 1;
        if (col->n == members * step) {
            uint64_t b = 0;
            for (size_t i = 0; i < col->n; i += step)
                b += col->v[i].len;
            elems(k, b, members);
            names_from(s, p->key, col, 0, step, p->withscores ? T_ZSET : T_SET);
        } else {
            /* scores are elements of the wire too (RESP2 bulks); the average covers both */
            uint64_t ne = p->withscores ? members * 2 : members;
            elems(k, est_elem(rp, ne) * members, members);
        }
        break;
    }
    case OP_ZSCORE:
        if (null || (rp->rtype != TRACE_R_BULK && rp->rtype != TRACE_R_DOUBLE))
            break;
        if (set_type(s, k, T_ZSET)) {
            name_ok(s, p->name, 0, 0);
            leaves(rp, col);
            if (col->n == 1) {
                s->nm[p->name].score = leaf_double(&col->v[0]);
                s->nm[p->name].has_score = 1;
            }
            at_least(k, 1);
        }
        break;
    case OP_ZRANK:
        if (!is_int || iv < 0)
            break;
        if (set_type(s, k, T_ZSET)) {
            name_ok(s, p->name, 0, 0);
            at_least(k, (uint64_t)iv + 1);
        }
        break;
    default: break;
    }
}

/* Reads every event of `r` (a status line on a terminal unless `quiet`), or until Ctrl-C
 * (rt_interrupted). @return 0 at the end, -1 on an error (err). */
static int prime_pass(struct prime *s, struct trace_reader *r, int quiet, struct rt_err *err)
{
    struct collect col = {0};
    struct rt_walk *w = rt_walk_new("prime");
    struct rt_walk_analysis a = {.ctx = s,
                                 .tag_size = sizeof(struct pend),
                                 .on_request = on_request,
                                 .on_reply = on_reply};
    s->refs = rt_walk_refs(w);
    s->col = &col;
    if (rt_walk_add(w, &a) < 0)
        oom(); /* the walk has room for one analysis */
    struct rt_progress prog;
    rt_progress_init(&prog, quiet);
    struct rt_pass ps = {.progress = &prog, .label = "prime: reading"};
    int rc = rt_walk_run(w, r, &ps, err);
    rt_progress_done(&prog);
    s->refs = NULL;
    s->col = NULL;
    rt_walk_free(w);
    free(col.v);
    return rc;
}

/* ---- the plan: what each key becomes --------------------------------------------------------- */

#define MAX_VALUE (512ull << 20) /* redis' proto-max-bulk-len */
#define BATCH 512                /* elements per HSET/RPUSH/SADD/ZADD */

struct tstat {
    uint64_t keys, elements, bytes, with_ttl;
};

struct node {
    char addr[300];
    char host[256];
    int port;
    struct replay_conn *c;
    uint64_t inflight, keys, cmds, bytes, errors;
    int64_t db; /* the database selected on the connection; -1 none yet */
    char first_error[200];
};

struct loader {
    struct prime *s;
    int dry_run, quiet, tty, cluster, url_db, interrupted;
    size_t window;
    struct replay_topology topo;
    int have_topo;
    struct node *nodes;
    size_t nnodes;
    uint32_t *node_of; /* topology node -> nodes[] index (primaries only) */
    /* plan totals */
    uint64_t primed, written_first, absent, no_evidence, conflicted, unserved, capped;
    struct tstat by_type[T_NTYPES];
    uint64_t total_cmds;
    /* the command being built */
    const char **argv;
    size_t *argvlen;
    size_t argc, acap;
    char *scratch;
    size_t slen, scap;
    size_t *soff; /* per argument: offset in scratch + 1; 0: argv points elsewhere; VALUE:
                   * the first argvlen bytes of vbuf (resolved at send: vbuf may move) */
    char *vbuf;   /* synthesized value bytes */
    size_t vcap;
    char *kbuf; /* the key with its prefix */
    size_t kcap;
    double t0, last_status;
    uint64_t done;
    int failed;
    char fail_msg[800];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t avg_size(const struct pkey *k)
{
    return k->ecnt ? k->esum / k->ecnt : 8;
}

static uint64_t cap_size(struct loader *L, uint64_t n)
{
    if (n > MAX_VALUE) {
        L->capped++;
        return MAX_VALUE;
    }
    return n;
}

/* Bytes of synthesized value: "resptrace-prime:" repeated. Grows `vbuf` to `n`. */
static const char *value_bytes(struct loader *L, size_t n)
{
    if (n > L->vcap) {
        size_t c = L->vcap ? L->vcap : 4096;
        while (c < n)
            c *= 2;
        L->vbuf = xrealloc(L->vbuf, c);
        static const char pat[] = "resptrace-prime:";
        for (size_t i = 0; i < c; i++)
            L->vbuf[i] = pat[i % (sizeof pat - 1)];
        L->vcap = c;
    }
    return L->vbuf;
}

#define VALUE SIZE_MAX

static void cmd_reset(struct loader *L)
{
    L->argc = 0;
    L->slen = 0;
}

static void cmd_grow(struct loader *L)
{
    if (L->argc == L->acap) {
        L->acap = L->acap ? L->acap * 2 : 2 * BATCH + 16;
        L->argv = xrealloc(L->argv, L->acap * sizeof *L->argv);
        L->argvlen = xrealloc(L->argvlen, L->acap * sizeof *L->argvlen);
        L->soff = xrealloc(L->soff, L->acap * sizeof *L->soff);
    }
}

static void cmd_arg(struct loader *L, const void *p, size_t n)
{
    cmd_grow(L);
    L->argv[L->argc] = p;
    L->argvlen[L->argc] = n;
    L->soff[L->argc++] = 0;
}

/* An argument of `n` synthesized value bytes. */
static void cmd_arg_value(struct loader *L, size_t n)
{
    value_bytes(L, n);
    cmd_grow(L);
    L->argv[L->argc] = NULL;
    L->argvlen[L->argc] = n;
    L->soff[L->argc++] = VALUE;
}

/* An argument built in the scratch buffer: `head` then filler bytes up to `size` in all. */
static void cmd_arg_made(struct loader *L, const char *head, size_t size)
{
    size_t hl = strlen(head), n = size > hl ? size : hl;
    if (L->slen + n > L->scap) {
        size_t c = L->scap ? L->scap : 1 << 16;
        while (c < L->slen + n)
            c *= 2;
        L->scratch = xrealloc(L->scratch, c);
        L->scap = c;
    }
    memcpy(L->scratch + L->slen, head, hl);
    if (n > hl)
        memcpy(L->scratch + L->slen + hl, value_bytes(L, n - hl), n - hl);
    cmd_grow(L);
    L->argv[L->argc] = NULL;
    L->argvlen[L->argc] = n;
    L->soff[L->argc++] = L->slen + 1;
    L->slen += n;
}

static void node_fail(struct loader *L, struct node *nd, const char *what)
{
    if (!L->failed)
        snprintf(L->fail_msg, sizeof L->fail_msg, "%s: %s", nd->addr, what);
    L->failed = 1;
}

/* Reads replies until at most `keep` commands are in flight on `nd`. */
static void node_drain(struct loader *L, struct node *nd, uint64_t keep)
{
    while (nd->c && nd->inflight > keep) {
        struct rt_err err = {0};
        redisReply *r = replay_conn_reply(nd->c, &err);
        if (!r) {
            node_fail(L, nd, err.msg);
            replay_conn_close(nd->c);
            nd->c = NULL;
            return;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            if (!nd->errors)
                snprintf(nd->first_error, sizeof nd->first_error, "%.*s", (int)r->len, r->str);
            nd->errors++;
        }
        freeReplyObject(r);
        nd->inflight--;
    }
}

/* Sends the command built in L to `nd` (counted; dry runs only count). */
static void cmd_send(struct loader *L, struct node *nd)
{
    for (size_t i = 0; i < L->argc; i++)
        if (L->soff[i] == VALUE)
            L->argv[i] = L->vbuf;
        else if (L->soff[i])
            L->argv[i] = L->scratch + L->soff[i] - 1;
    nd->cmds++;
    L->total_cmds++;
    if (!L->dry_run && nd->c) {
        struct rt_err err = {0};
        if (replay_conn_append(nd->c, (int)L->argc, L->argv, L->argvlen, &err) != 0) {
            node_fail(L, nd, err.msg);
        } else {
            nd->inflight++;
            if (nd->inflight >= L->window)
                node_drain(L, nd, L->window / 2);
        }
    }
    cmd_reset(L);
}

/* the node's connection: the replayer's (replay_conn: the same TLS, identity check and AUTH);
 * on a standalone server the URL's database, when it names one */
static int connect_node(struct loader *L, struct node *nd, const struct replay_target *t,
                        const struct replay_tls *tls)
{
    struct replay_target tt = *t; /* (user and pass still owned by t) */
    tt.db_set = !L->cluster && t->db_set;
    struct rt_err err = {0};
    nd->c = replay_conn_open(&tt, tls, nd->addr, 3.0, &err);
    if (!nd->c) {
        snprintf(L->fail_msg, sizeof L->fail_msg, "%s", err.msg);
        return -1;
    }
    replay_conn_set_timeout(nd->c, 30.0);
    nd->db = tt.db_set ? (int64_t)t->db : -1;
    return 0;
}

/* The nodes to load: the primaries of the topology, or one unnamed node for a dry run
 * without a target. */
static int setup_nodes(struct loader *L, const struct replay_target *t,
                       const struct replay_tls *tls)
{
    if (!L->have_topo) {
        L->nodes = xrealloc(NULL, sizeof *L->nodes);
        memset(L->nodes, 0, sizeof *L->nodes);
        snprintf(L->nodes[0].addr, sizeof L->nodes[0].addr, "(no target)");
        L->nnodes = 1;
        return 0;
    }
    L->node_of = xrealloc(NULL, (L->topo.n ? L->topo.n : 1) * sizeof *L->node_of);
    L->nodes = xrealloc(NULL, (L->topo.n ? L->topo.n : 1) * sizeof *L->nodes);
    for (size_t i = 0; i < L->topo.n; i++) {
        L->node_of[i] = NONE32;
        if (!L->topo.nodes[i].primary)
            continue;
        struct node *nd = &L->nodes[L->nnodes];
        memset(nd, 0, sizeof *nd);
        nd->db = -1;
        snprintf(nd->addr, sizeof nd->addr, "%s", L->topo.nodes[i].addr);
        char *colon = strrchr(nd->addr, ':');
        if (!colon)
            continue;
        snprintf(nd->host, sizeof nd->host, "%.*s", (int)(colon - nd->addr), nd->addr);
        nd->port = atoi(colon + 1);
        L->node_of[i] = (uint32_t)L->nnodes++;
    }
    if (L->dry_run)
        return 0;
    for (size_t i = 0; i < L->nnodes; i++)
        if (connect_node(L, &L->nodes[i], t, tls) < 0)
            return -1;
    return 0;
}

static void status_line(struct loader *L, uint64_t total, int final)
{
    if (!L->tty || L->quiet || L->dry_run)
        return;
    double t = now_s();
    if (!final && t - L->last_status < 0.25)
        return;
    L->last_status = t;
    double el = t - L->t0;
    uint64_t errs = 0;
    for (size_t i = 0; i < L->nnodes; i++)
        errs += L->nodes[i].errors;
    fprintf(stderr,
            "\r\033[Kprime %.1fs  keys sent %llu/%llu (%.1f%%)  commands %llu  %.0f keys/s  "
            "errors %llu",
            el, (unsigned long long)L->done, (unsigned long long)total,
            total ? 100.0 * (double)L->done / (double)total : 100.0,
            (unsigned long long)L->total_cmds, el > 0 ? (double)L->done / el : 0.0,
            (unsigned long long)errs);
    if (final)
        fputc('\n', stderr);
}

/* Synthesized names for the rest of a hash, set or sorted set: "<i>:" padded to `size`,
 * skipping names the key already has. */
static void made_name(struct loader *L, uint32_t ki, uint64_t *ctr, size_t size)
{
    char head[32];
    for (;;) {
        snprintf(head, sizeof head, "%llu:", (unsigned long long)(*ctr)++);
        size_t hl = strlen(head), n = size > hl ? size : hl;
        /* the made name must not be one of the real ones: compare its full bytes */
        char *tmp = xrealloc(NULL, n);
        memcpy(tmp, head, hl);
        if (n > hl)
            memcpy(tmp + hl, value_bytes(L, n - hl), n - hl);
        int clash = name_find(L->s, ki, tmp, n) != NONE32;
        free(tmp);
        if (!clash) {
            cmd_arg_made(L, head, size);
            return;
        }
    }
}

/* Queues the commands that create key `ki` on node `nd`. @return the data bytes. */
static uint64_t load_key(struct loader *L, struct node *nd, uint32_t ki, uint8_t type)
{
    struct prime *s = L->s;
    struct pkey *k = &s->k[ki];
    const char *key = L->kbuf;
    size_t kl = s->prefix_len + k->klen;
    uint64_t bytes = kl, elements = 0;
    if (!L->cluster && !L->url_db && nd->db != (int64_t)k->db) {
        char db[16];
        snprintf(db, sizeof db, "%u", (unsigned)k->db);
        cmd_arg(L, "SELECT", 6);
        cmd_arg(L, db, strlen(db));
        cmd_send(L, nd);
        nd->db = k->db;
    }
    if (type == T_STRING) {
        uint64_t n = k->has_val ? k->vlen : cap_size(L, k->type == T_ANY ? 8 : k->n);
        char px[24];
        cmd_arg(L, "SET", 3);
        cmd_arg(L, key, kl);
        if (k->has_val)
            cmd_arg(L, s->vals.p + k->voff, n);
        else
            cmd_arg_value(L, n);
        if (k->pttl >= 0) {
            snprintf(px, sizeof px, "%lld", (long long)(k->pttl > 0 ? k->pttl : 1));
            cmd_arg(L, "PX", 2);
            cmd_arg(L, px, strlen(px));
        }
        cmd_send(L, nd);
        bytes += n;
        elements = 1;
    } else {
        cmd_arg(L, "DEL", 3);
        cmd_arg(L, key, kl);
        cmd_send(L, nd);
        static const char *const add[T_NTYPES] = {
            [T_HASH] = "HSET", [T_LIST] = "RPUSH", [T_SET] = "SADD", [T_ZSET] = "ZADD"};
        size_t esz = cap_size(L, avg_size(k));
        uint64_t known = 0, ctr = 0;
        /* the names seen first (confirmed by a reply), then made-up ones up to the length */
        uint32_t ni = type == T_LIST ? NONE32 : k->names;
        uint64_t want = k->n;
        size_t inbatch = 0;
        for (;;) {
            if (ni == NONE32 && known >= want)
                break;
            if (ni != NONE32 && !s->nm[ni].ok) {
                ni = s->nm[ni].next;
                continue;
            }
            if (inbatch == 0) {
                cmd_arg(L, add[type], strlen(add[type]));
                cmd_arg(L, key, kl);
            }
            if (ni != NONE32) {
                const struct pname *n = &s->nm[ni];
                char sc[40];
                if (type == T_ZSET) {
                    snprintf(sc, sizeof sc, "%.17g", n->has_score ? n->score : 0.0);
                    cmd_arg_made(L, sc, 0);
                }
                cmd_arg(L, s->names.p + n->off, n->len);
                bytes += n->len;
                if (type == T_HASH) {
                    uint64_t vs = cap_size(L, n->has_v ? n->vsize : esz);
                    if (n->has_bytes)
                        cmd_arg(L, s->vals.p + n->voff, n->vsize);
                    else
                        cmd_arg_value(L, vs);
                    bytes += vs;
                }
                ni = n->next;
            } else if (type == T_LIST) {
                cmd_arg_value(L, esz);
                bytes += esz;
            } else {
                if (type == T_ZSET) {
                    char sc[24];
                    snprintf(sc, sizeof sc, "%llu", (unsigned long long)known);
                    cmd_arg_made(L, sc, 0);
                }
                made_name(L, ki, &ctr, esz);
                bytes += esz;
                if (type == T_HASH) {
                    cmd_arg_value(L, esz);
                    bytes += esz;
                }
            }
            known++;
            if (++inbatch == BATCH) {
                cmd_send(L, nd);
                inbatch = 0;
            }
        }
        if (inbatch)
            cmd_send(L, nd);
        elements = known;
        if (k->pttl >= 0) {
            char px[24];
            snprintf(px, sizeof px, "%lld", (long long)(k->pttl > 0 ? k->pttl : 1));
            cmd_arg(L, "PEXPIRE", 7);
            cmd_arg(L, key, kl);
            cmd_arg(L, px, strlen(px));
            cmd_send(L, nd);
        }
    }
    struct tstat *ts = &L->by_type[type];
    ts->keys++;
    ts->elements += elements;
    ts->bytes += bytes;
    ts->with_ttl += k->pttl >= 0;
    nd->keys++;
    nd->bytes += bytes;
    return bytes;
}

/* What key `k` becomes: T_NONE when it is not primed (and why is counted). */
static uint8_t plan_type(struct loader *L, const struct pkey *k)
{
    if (k->state != S_READ_FIRST) {
        L->written_first++;
        return T_NONE;
    }
    if (k->type == T_NONE) {
        if (k->absent)
            L->absent++;
        else
            L->no_evidence++;
        return T_NONE;
    }
    if (k->conflict)
        L->conflicted++;
    return k->type == T_ANY ? T_STRING : k->type;
}

static void load_all(struct loader *L)
{
    struct prime *s = L->s;
    uint64_t total = 0;
    for (size_t i = 0; i < s->nk; i++)
        total += s->k[i].state == S_READ_FIRST && s->k[i].type != T_NONE;
    L->t0 = now_s();
    for (size_t i = 0; i < s->nk && !L->failed && !rt_interrupted; i++) {
        const struct pkey *k = &s->k[i];
        uint8_t t = plan_type(L, k);
        if (t == T_NONE)
            continue;
        size_t kl = s->prefix_len + k->klen;
        if (kl > L->kcap) {
            L->kcap = kl * 2;
            L->kbuf = xrealloc(L->kbuf, L->kcap);
        }
        memcpy(L->kbuf, s->prefix, s->prefix_len);
        memcpy(L->kbuf + s->prefix_len, s->keys.p + k->koff, k->klen);
        struct node *nd = &L->nodes[0];
        if (L->have_topo) {
            uint16_t slot = rt_key_slot(L->kbuf, kl);
            uint16_t o = L->topo.owner[slot];
            if (L->cluster && (o == 0xffff || o >= L->topo.n || L->node_of[o] == NONE32)) {
                L->unserved++;
                continue;
            }
            nd = &L->nodes[L->cluster ? L->node_of[o] : 0];
        }
        L->primed++;
        load_key(L, nd, (uint32_t)i, t);
        L->done++;
        status_line(L, total, 0);
    }
    L->interrupted = rt_interrupted != 0; /* what was sent is drained and counted */
    for (size_t i = 0; i < L->nnodes; i++)
        node_drain(L, &L->nodes[i], 0);
    status_line(L, total, 1);
}

/* ---- output -------------------------------------------------------------------------------- */

static json_t *prime_json(const struct loader *L, const char *target, double secs,
                          const char *damage)
{
    const struct prime *s = L->s;
    json_t *o = rt_json_doc("prime"), *bt = json_object(), *na = json_array();
    uint64_t errors = 0, bytes = 0;
    for (int t = T_STRING; t < T_NTYPES; t++) {
        json_t *x = json_object();
        json_object_set_new(x, "keys", rt_json_u64(L->by_type[t].keys));
        json_object_set_new(x, "elements", rt_json_u64(L->by_type[t].elements));
        json_object_set_new(x, "bytes", rt_json_u64(L->by_type[t].bytes));
        json_object_set_new(x, "with_ttl", rt_json_u64(L->by_type[t].with_ttl));
        json_object_set_new(bt, type_names[t], x);
        bytes += L->by_type[t].bytes;
    }
    for (size_t i = 0; i < L->nnodes; i++) {
        const struct node *nd = &L->nodes[i];
        json_t *x = json_object();
        json_object_set_new(x, "addr", json_string(nd->addr));
        json_object_set_new(x, "keys", rt_json_u64(nd->keys));
        json_object_set_new(x, "commands", rt_json_u64(nd->cmds));
        json_object_set_new(x, "bytes", rt_json_u64(nd->bytes));
        json_object_set_new(x, "errors", rt_json_u64(nd->errors));
        json_object_set_new(x, "first_error",
                            nd->errors ? json_string(nd->first_error) : json_null());
        json_array_append_new(na, x);
        errors += nd->errors;
    }
    json_object_set_new(o, "file", json_string(s->path));
    json_object_set_new(o, "target", target ? json_string(target) : json_null());
    json_object_set_new(o, "cluster", json_boolean(L->cluster));
    json_object_set_new(o, "dry_run", json_boolean(L->dry_run));
    json_object_set_new(o, "key_prefix", s->prefix ? json_string(s->prefix) : json_null());
    json_object_set_new(o, "requests", rt_json_u64(s->requests));
    json_object_set_new(o, "read_requests", rt_json_u64(s->reads));
    json_object_set_new(o, "write_requests", rt_json_u64(s->writes));
    json_object_set_new(o, "reads_without_rule", rt_json_u64(s->read_no_rule));
    json_object_set_new(o, "unknown_commands", rt_json_u64(s->unknown));
    json_object_set_new(o, "malformed_requests", rt_json_u64(s->malformed));
    json_object_set_new(o, "replies_used", rt_json_u64(s->reads_paired));
    json_object_set_new(o, "error_replies", rt_json_u64(s->error_replies));
    json_object_set_new(o, "distinct_keys", rt_json_u64(s->nk));
    json_object_set_new(o, "primed", rt_json_u64(L->primed));
    json_object_set_new(o, "written_first", rt_json_u64(L->written_first));
    json_object_set_new(o, "absent", rt_json_u64(L->absent));
    json_object_set_new(o, "no_evidence", rt_json_u64(L->no_evidence));
    json_object_set_new(o, "type_conflicts", rt_json_u64(L->conflicted));
    json_object_set_new(o, "unserved_slot", rt_json_u64(L->unserved));
    json_object_set_new(o, "values_capped", rt_json_u64(L->capped));
    json_object_set_new(o, "by_type", bt);
    json_object_set_new(o, "bytes", rt_json_u64(bytes));
    json_object_set_new(o, "nodes", na);
    json_object_set_new(o, "commands", rt_json_u64(L->total_cmds));
    json_object_set_new(o, "errors", rt_json_u64(errors));
    json_object_set_new(o, "duration_s", json_real(secs));
    json_object_set_new(o, "keys_per_s", json_real(secs > 0 ? (double)L->primed / secs : 0));
    json_object_set_new(
        o, "memory_entries",
        json_pack("{s:I, s:I}", "keys", (json_int_t)s->nk, "names", (json_int_t)s->nn));
    json_object_set_new(o, "failure", L->failed ? json_string(L->fail_msg) : json_null());
    json_object_set_new(o, "damage", damage ? json_string(damage) : json_null());
    json_object_set_new(o, "interrupted", json_boolean(L->interrupted));
    return o;
}

static void print_table(const struct loader *L, const char *target, double secs)
{
    const struct prime *s = L->s;
    char b[64];
    printf("%-20s %s\n", "trace", s->path);
    printf("%-20s %s%s%s\n", "target", target ? target : "(none)", L->cluster ? " (cluster)" : "",
           L->dry_run ? "  [dry run: nothing written]" : "");
    printf("%-20s %llu (%llu reads, %llu writes, %llu reads without a rule, %llu unknown",
           "requests", (unsigned long long)s->requests, (unsigned long long)s->reads,
           (unsigned long long)s->writes, (unsigned long long)s->read_no_rule,
           (unsigned long long)s->unknown);
    if (s->malformed)
        printf(", %llu malformed", (unsigned long long)s->malformed);
    printf(")\n");
    printf("%-20s %zu: %llu primed, %llu written first, %llu found absent, %llu no evidence",
           "distinct keys", s->nk, (unsigned long long)L->primed,
           (unsigned long long)L->written_first, (unsigned long long)L->absent,
           (unsigned long long)L->no_evidence);
    if (L->unserved)
        printf(", %llu in unserved slots", (unsigned long long)L->unserved);
    printf("\n");
    if (L->conflicted)
        printf("%-20s %llu keys (the first type seen was used)\n", "type conflicts",
               (unsigned long long)L->conflicted);
    if (L->capped)
        printf("%-20s %llu values capped at 512 MiB\n", "capped", (unsigned long long)L->capped);
    printf("\n%-8s %12s %14s %12s %10s\n", "type", "keys", "elements", "bytes", "with ttl");
    uint64_t tk = 0, te = 0, tb = 0, tt = 0;
    for (int t = T_STRING; t < T_NTYPES; t++) {
        const struct tstat *x = &L->by_type[t];
        printf("%-8s %12llu %14llu %12s %10llu\n", type_names[t], (unsigned long long)x->keys,
               (unsigned long long)x->elements, rt_fmt_bytes(x->bytes, b, sizeof b),
               (unsigned long long)x->with_ttl);
        tk += x->keys;
        te += x->elements;
        tb += x->bytes;
        tt += x->with_ttl;
    }
    printf("%-8s %12llu %14llu %12s %10llu\n", "total", (unsigned long long)tk,
           (unsigned long long)te, rt_fmt_bytes(tb, b, sizeof b), (unsigned long long)tt);
    printf("\n%-28s %10s %10s %12s %8s\n", "node", "keys", "commands", "bytes", "errors");
    for (size_t i = 0; i < L->nnodes; i++) {
        const struct node *nd = &L->nodes[i];
        printf("%-28s %10llu %10llu %12s %8llu%s%s\n", nd->addr, (unsigned long long)nd->keys,
               (unsigned long long)nd->cmds, rt_fmt_bytes(nd->bytes, b, sizeof b),
               (unsigned long long)nd->errors, nd->errors ? "  first: " : "",
               nd->errors ? nd->first_error : "");
    }
    if (!L->dry_run)
        printf("\nprimed %llu keys with %llu commands in %.2f s (%.0f keys/s)\n",
               (unsigned long long)L->primed, (unsigned long long)L->total_cmds, secs,
               secs > 0 ? (double)L->primed / secs : 0.0);
}

/* ---- the command ----------------------------------------------------------------------------- */

/* What to do about a refused connection: the environment variables for a missing password. */
static const char *auth_hint(const char *msg, const struct replay_target *t)
{
    if (strstr(msg, "NOAUTH"))
        return t->pass ? "" : " (the target wants a password: set RESPTRACE_PASS)";
    if (strstr(msg, "WRONGPASS") || strstr(msg, "AUTH"))
        return " (check the user and password: --user, RESPTRACE_PASS)";
    return "";
}

static void prime_free(struct prime *s)
{
    free(s->k);
    free(s->kidx.s);
    free(s->nm);
    free(s->nidx.s);
    free(s->keys.p);
    free(s->names.p);
    free(s->vals.p);
}

static void loader_free(struct loader *L)
{
    for (size_t i = 0; i < L->nnodes; i++)
        replay_conn_close(L->nodes[i].c);
    free(L->nodes);
    free(L->node_of);
    free(L->argv);
    free(L->argvlen);
    free(L->soff);
    free(L->scratch);
    free(L->vbuf);
    free(L->kbuf);
    if (L->have_topo)
        replay_topology_free(&L->topo);
}

enum { O_TARGET = 256, O_USER, O_PASS, O_PREFIX, O_PIPELINE, O_DRY, O_JSON, O_SALVAGE };

int cmd_prime(int argc, char **argv)
{
    static const struct option opts[] = {{"target", required_argument, NULL, O_TARGET},
                                         {"user", required_argument, NULL, O_USER},
                                         {"pass", required_argument, NULL, O_PASS},
                                         {"key-prefix", required_argument, NULL, O_PREFIX},
                                         {"pipeline", required_argument, NULL, O_PIPELINE},
                                         {"dry-run", no_argument, NULL, O_DRY},
                                         {"json", optional_argument, NULL, O_JSON},
                                         {"salvage", no_argument, NULL, O_SALVAGE},
                                         RT_TLS_LONGOPTS,
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char **urls = NULL;
    size_t nurls = 0;
    const char *user = NULL, *pass = NULL, *prefix = NULL, *json = NULL;
    int salvage = 0, c, status = RT_EXIT_OK;
    struct loader L = {.window = 1000, .tty = isatty(2)};
    struct replay_tls tls = {0};
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        switch (c) {
        case O_TARGET:
            urls = xrealloc(urls, (nurls + 1) * sizeof *urls);
            urls[nurls++] = optarg;
            break;
        case O_USER: user = optarg; break;
        case O_PASS: pass = optarg; break;
        case O_PREFIX: prefix = optarg; break;
        case O_PIPELINE: {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-' || v < 1 || v > 1000000) {
                free(urls);
                return rt_usage_error("prime", "--pipeline takes 1..1000000, not '%s'", optarg);
            }
            L.window = v;
            break;
        }
        case O_DRY: L.dry_run = 1; break;
        case O_JSON: json = optarg ? optarg : "-"; break;
        case O_SALVAGE: salvage = 1; break;
        case 'q': L.quiet = 1; break;
        case 'h':
            usage_prime(stdout);
            free(urls);
            return RT_EXIT_OK;
        default:
            if (rt_tls_option(c, optarg, &tls))
                break;
            free(urls);
            return edit_bad_option("prime", c, argv);
        }
    }
    if (optind != argc - 1 || (!nurls && !L.dry_run)) {
        free(urls);
        if (optind >= argc)
            return rt_usage_error("prime", "give the trace");
        if (optind < argc - 1)
            return rt_usage_error("prime", "one trace at a time ('%s' is extra)", argv[optind + 1]);
        return rt_usage_error("prime", "give --target URL (or --dry-run)");
    }
    if (edit_check_outputs("prime", NULL, json, (const char *const *)argv + optind, 1) != 0) {
        free(urls);
        return RT_EXIT_USAGE;
    }
    /* a password on the command line is in ps and /proc/PID/cmdline for every local user */
    if (pass)
        rt_warn_cmdline_password("prime", "--pass");
    for (size_t i = 0; i < nurls; i++)
        if (rt_url_has_password(urls[i]))
            rt_warn_cmdline_password("prime", "the URL");
    rt_catch_signals();

    struct replay_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.tls = tls;
    struct replay_target *seeds = nurls > 1 ? calloc(nurls - 1, sizeof *seeds) : NULL;
    struct rt_err err = {0};
    struct prime s = {.path = argv[optind],
                      .prefix = prefix ? prefix : "",
                      .prefix_len = prefix ? strlen(prefix) : 0};
    struct trace_reader *r = NULL;
    char tdesc[400] = "";
    if (nurls) {
        if (replay_target_parse(urls[0], &ro.target, &err) != 0) {
            status = rt_usage_error("prime", "--target: %s", err.msg);
            goto out;
        }
        for (size_t i = 1; i < nurls; i++)
            if (replay_target_parse(urls[i], &seeds[i - 1], &err) != 0) {
                status = rt_usage_error("prime", "--target %s: %s", urls[i], err.msg);
                goto out;
            }
        ro.seeds = seeds;
        ro.nseeds = nurls - 1;
        if (!user)
            user = rt_env_first("RESPTRACE_USER", NULL);
        if (!pass)
            pass = rt_env_first("RESPTRACE_PASS", "REDISCLI_AUTH");
        if (user) {
            free(ro.target.user);
            ro.target.user = strdup(user);
        }
        if (pass) {
            free(ro.target.pass);
            ro.target.pass = strdup(pass);
        }
        if (ro.target.user && !ro.target.pass) {
            status = rt_usage_error("prime", "a user without a password (set RESPTRACE_PASS)");
            goto out;
        }
        replay_target_format(&ro.target, tdesc, sizeof tdesc);
    }

    r = rt_open_trace("prime", s.path, salvage);
    if (!r) {
        status = RT_EXIT_FAIL;
        goto out;
    }
    oidx_init(&s.kidx);
    oidx_init(&s.nidx);
    int rc = prime_pass(&s, r, L.quiet, &err);
    if (rt_interrupted) {
        fprintf(stderr, "resptrace prime: interrupted while reading the trace: nothing was "
                        "loaded\n");
        status = RT_EXIT_INTERRUPTED;
        goto out;
    }
    struct trace_damage dmg;
    trace_reader_damage(r, &dmg);
    const char *damage = rc < 0 ? err.msg : dmg.first_offset != UINT64_MAX ? dmg.msg : NULL;
    if (rc < 0) {
        /* a damaged trace is not primed: its reads after the damage are unknown */
        fprintf(stderr, "resptrace prime: %s\n", err.msg);
        status = RT_EXIT_FAIL;
        goto out;
    }

    L.s = &s;
    if (nurls) {
        if (replay_topology_read(&ro, &L.topo, &err) != 0) {
            fprintf(stderr, "resptrace prime: %s%s\n", err.msg, auth_hint(err.msg, &ro.target));
            status = RT_EXIT_FAIL;
            goto out;
        }
        L.have_topo = 1;
        L.cluster = L.topo.cluster;
        L.url_db = ro.target.db_set;
    }
    if (setup_nodes(&L, &ro.target, &ro.tls) < 0) {
        fprintf(stderr, "resptrace prime: %s%s\n", L.fail_msg, auth_hint(L.fail_msg, &ro.target));
        status = RT_EXIT_FAIL;
        goto out;
    }
    double t0 = now_s();
    load_all(&L);
    double secs = now_s() - t0;
    if (!json || strcmp(json, "-"))
        print_table(&L, nurls ? tdesc : NULL, secs);
    fflush(stdout);
    if (json && rt_json_write("prime", prime_json(&L, nurls ? tdesc : NULL, secs, damage), json))
        status = RT_EXIT_FAIL;
    uint64_t errors = 0;
    for (size_t i = 0; i < L.nnodes; i++)
        errors += L.nodes[i].errors;
    if (L.failed) {
        fprintf(stderr, "resptrace prime: %s\n", L.fail_msg);
        status = RT_EXIT_FAIL;
    } else if (errors) {
        fprintf(stderr, "resptrace prime: the target answered %llu errors\n",
                (unsigned long long)errors);
        status = RT_EXIT_FAIL;
    } else if (damage) {
        fprintf(stderr, "resptrace prime: %s (salvaged: %llu damaged chunks skipped)\n", damage,
                (unsigned long long)dmg.chunks_skipped);
        status = RT_EXIT_FAIL;
    }
    if (L.interrupted) {
        char nb[32];
        fprintf(stderr, "resptrace prime: interrupted: loaded %s keys, the rest were not\n",
                edit_fmt_count(L.primed, nb, sizeof nb));
        status = RT_EXIT_INTERRUPTED;
    }
out:
    trace_reader_close(r);
    loader_free(&L);
    prime_free(&s);
    replay_target_clear(&ro.target);
    for (size_t i = 0; seeds && i + 1 < nurls; i++)
        replay_target_clear(&seeds[i]);
    free(seeds);
    free(urls);
    return status;
}
