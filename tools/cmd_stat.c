/* cmd_stat.c: `resptrace stat`: a workload summary of a trace in one streaming pass: rates,
 * command mix, key/value/reply sizes, pipelining, connections, databases, errors, recorded
 * server latency, gaps and drops. The pass is a callback on the trace walk (walk.h); what it
 * counts becomes a typed result (struct stat_result), which the text and JSON are written from. */
#include "analysis_int.h"
#include "walk.h"
#include "tools.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* out of memory: "resptrace stat: out of memory", exit 1 (tools.h) */
#define oom() rt_oom("stat")
#define xcalloc(n, sz) rt_xcalloc("stat", (n), (sz))

void usage_stat(FILE *out)
{
    fprintf(
        out,
        "usage: resptrace stat TRACE [--json[=FILE]] [--salvage] [-q]\n\n"
        "Reads the trace once (memory grows with its duration and its open connections,\n"
        "not with its length) and summarises the workload.\n\n"
        "  --json[=FILE]  one JSON document on stdout instead of the tables, or into\n"
        "                 FILE (the tables then still go to stdout)\n"
        "  --salvage      skip damaged chunks instead of stopping at the first\n"
        "  -q, --quiet    no status line (shown on a terminal while the trace is read)\n\n"
        "What is counted:\n"
        "  rate          requests per second of trace time, second i covering\n"
        "                [start + i s, start + i+1 s) from the first event (the last\n"
        "                second may be partial: last_second_s says how much of it the\n"
        "                trace covers); min, mean and max over those seconds\n"
        "  commands      by name from the command table (\"config|get\" for\n"
        "                subcommands), unknown ones by their lower-cased name (at most\n"
        "                256, then \"(other)\"), requests the server could not parse as\n"
        "                \"(malformed)\"; class read (readonly flag), write (write flag)\n"
        "                or other\n"
        "  key_size      bytes of each key argument (the command table's key specs)\n"
        "  value_size    bytes of each value argument (what the command writes)\n"
        "  reply_size    wire bytes of each reply\n"
        "  pipeline_depth  per request: its connection's unanswered requests when it\n"
        "                was sent, plus one (1 = not pipelined)\n"
        "  connections   opened (or first seen mid-stream); lifetime from open to\n"
        "                close, or to the end of the trace; requests per connection\n"
        "  errors        error replies by prefix (the first word: ERR, WRONGTYPE,\n"
        "                MOVED, ...), and per second as the rate counts seconds\n"
        "  latency_ns    reply time minus request time of the paired replies, overall\n"
        "                and per command (a reply pairs with the request it names;\n"
        "                a request unanswered after 2^16 later ones waits among 2^20\n"
        "                long waiters, by sequence number, until a later one takes\n"
        "                its place)\n"
        "Distributions give count, mean, p50, p90, p99 and max (nearest rank, within\n"
        "1%%).\n\n"
        "JSON keys: tool, version, schema, command, file, start_ns, end_ns,\n"
        "  duration_s, events, requests, malformed, replies, pushes, notes,\n"
        "  rate {min, mean, max, per_second [..], last_second_s},\n"
        "  classes {read, write, other}, commands [{name, class, count, share,\n"
        "  errors, latency_ns}] (by count), key_size, value_size, reply_size,\n"
        "  reply_types {simple, bulk, ...}, pipeline_depth, connections {count,\n"
        "  closed, open_at_end, midstream, tls, without_open, lifetime_ns, requests},\n"
        "  dbs {\"0\": n, ...}, dbs_over_255, proto {\"2\", \"3\", \"other\"}, errors\n"
        "  {total, by_prefix {\"ERR\": n, ...}, per_second [..]}, latency_ns,\n"
        "  unpaired_replies, unanswered_requests, keys_unresolved, values_unresolved,\n"
        "  gaps {count, bytes_to_server, bytes_to_client}, capture {packets, bytes,\n"
        "  kernel_drops, iface_drops, flows_dropped, bytes_dropped}, damage (null or\n"
        "  the message), interrupted. A distribution is {count, mean, p50, p90, p99,\n"
        "  max}.\n\n"
        "Exit status: 0, 1 when the trace cannot be read or is damaged (what was read\n"
        "is still reported), 2 for a bad command line, 130 when interrupted (Ctrl-C:\n"
        "what was read is reported).\n");
}

/* ---- state ------------------------------------------------------------------------------ */

#define UNK_MAX 256 /* distinct unknown command names kept */
#define NAME_MAX_LEN 48
#define EPFX_MAX 128 /* distinct error prefixes kept */
#define EPFX_LEN 32
#define DB_DIRECT 256
#define SERIES_MAX (1u << 25) /* seconds of per-second series (388 days) */
/* the indexes of cs[] after the known commands and the UNK_MAX unknown names */
#define CS_OTHER(s) ((s)->ncmd + UNK_MAX)         /* unknown names beyond UNK_MAX */
#define CS_MALFORMED(s) ((s)->ncmd + UNK_MAX + 1) /* requests the server could not parse */
#define CS_COUNT(s) ((s)->ncmd + UNK_MAX + 2)

/* What a request waiting for its reply keeps (its time is the walk's). */
struct stat_tag {
    uint32_t cmd; /* its index in cs[] */
};

struct conn {
    uint64_t id;
    uint64_t open_ts;
    uint64_t requests;
    uint32_t unanswered;
    uint32_t used;
};

struct cstat {
    uint64_t count, errors;
    struct rt_hist *lat; /* allocated at the first timed reply */
};

struct name_ent { /* unknown command names and error prefixes */
    char name[NAME_MAX_LEN];
    uint32_t len;
    uint32_t idx; /* unknown commands: index into cs[]; error prefixes: count below */
    uint64_t count;
};

struct series {
    uint64_t *v;
    size_t len, cap;
    uint64_t dropped;
};

struct stat_an {
    size_t ncmd;
    const struct rt_cmd *table;
    struct cstat *cs; /* ncmd known + UNK_MAX unknown + "(other)" + "(malformed)" */
    struct name_ent unk[UNK_MAX * 2];
    size_t nunk;
    char unk_names[UNK_MAX][NAME_MAX_LEN];
    uint32_t unk_lens[UNK_MAX];
    struct name_ent epfx[EPFX_MAX * 2];
    size_t nepfx;
    uint64_t epfx_other;

    struct conn *conns;
    size_t conn_mask, nconns;

    uint32_t *pos; /* value positions */
    size_t pos_cap;

    struct rt_hist *key_size, *value_size, *reply_size, *depth, *lifetime, *conn_reqs, *lat;
    struct series rate, errs; /* requests and error replies per second from the first event */

    uint64_t requests, malformed, replies, pushes, notes;
    uint64_t classes[3]; /* read, write, other */
    uint64_t rtypes[256];
    uint64_t dbs[DB_DIRECT], dbs_over;
    uint64_t proto[3]; /* 2, 3, other */
    uint64_t errors;
    uint64_t keys_unresolved, values_unresolved;
    uint64_t nconn, closed, midstream, tls, without_open, open_at_end;
    uint64_t gaps, gap_bytes[2];
    struct trace_stats stats;
    struct rt_walk_totals walk; /* copied at the end of the walk */
};

static struct rt_hist *xhist(void)
{
    struct rt_hist *h = rt_hist_new();
    if (!h)
        oom();
    return h;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* Finds or adds `name` in a fixed table of 2*cap slots; NULL when it is full. */
static struct name_ent *name_find(struct name_ent *tab, size_t cap, size_t *n, const char *name,
                                  size_t len)
{
    size_t mask = cap * 2 - 1;
    size_t i = hash_bytes(name, len) & mask;
    while (tab[i].len) {
        if (tab[i].len == len && !memcmp(tab[i].name, name, len))
            return &tab[i];
        i = (i + 1) & mask;
    }
    if (*n >= cap)
        return NULL;
    memcpy(tab[i].name, name, len);
    tab[i].len = (uint32_t)len;
    tab[i].idx = (uint32_t)*n;
    (*n)++;
    return &tab[i];
}

/* ---- connections: open addressing, linear probing, backward-shift deletion ------------- */

static size_t conn_slot(uint64_t id, size_t mask)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & mask;
}

static void conn_grow(struct stat_an *s)
{
    size_t slots = (s->conn_mask + 1) * 2;
    struct conn *t = xcalloc(slots, sizeof *t);
    for (size_t i = 0; i <= s->conn_mask; i++) {
        if (!s->conns[i].used)
            continue;
        size_t p = conn_slot(s->conns[i].id, slots - 1);
        while (t[p].used)
            p = (p + 1) & (slots - 1);
        t[p] = s->conns[i];
    }
    free(s->conns);
    s->conns = t;
    s->conn_mask = slots - 1;
}

static struct conn *conn_find(struct stat_an *s, uint64_t id)
{
    size_t i = conn_slot(id, s->conn_mask);
    while (s->conns[i].used) {
        if (s->conns[i].id == id)
            return &s->conns[i];
        i = (i + 1) & s->conn_mask;
    }
    return NULL;
}

static struct conn *conn_add(struct stat_an *s, uint64_t id, uint64_t ts)
{
    if ((s->nconns + 1) * 2 > s->conn_mask + 1)
        conn_grow(s);
    size_t i = conn_slot(id, s->conn_mask);
    while (s->conns[i].used)
        i = (i + 1) & s->conn_mask;
    s->conns[i] = (struct conn){.id = id, .open_ts = ts, .used = 1};
    s->nconns++;
    return &s->conns[i];
}

static void conn_del(struct stat_an *s, struct conn *c)
{
    size_t i = (size_t)(c - s->conns), mask = s->conn_mask;
    s->conns[i].used = 0;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->conns[j].used)
            break;
        size_t k = conn_slot(s->conns[j].id, mask);
        /* move j back to i when its home k is not cyclically in (i, j] */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            s->conns[i] = s->conns[j];
            s->conns[j].used = 0;
            i = j;
        }
    }
    s->nconns--;
}

static void conn_end(struct stat_an *s, struct conn *c, uint64_t ts)
{
    rt_hist_record(s->lifetime, ts > c->open_ts ? ts - c->open_ts : 0);
    rt_hist_record(s->conn_reqs, c->requests);
}

/* ---- the callbacks on the walk ------------------------------------------------------------ */

/* The index in cs[] of a request's command: known, unknown (by its lower-cased name) or
 * "(other)". */
static uint32_t cmd_index(struct stat_an *s, const struct rt_walk_req *q)
{
    if (q->cmd)
        return (uint32_t)(q->cmd - s->table);
    if (q->kind == RT_WALK_EMPTY)
        return (uint32_t)CS_OTHER(s);
    const struct trace_request *rq = q->rq;
    size_t n0 = rq->argvlen[0];
    char low[NAME_MAX_LEN];
    size_t n = n0 < NAME_MAX_LEN ? n0 : NAME_MAX_LEN;
    for (size_t i = 0; i < n; i++) {
        char ch = rq->argv[0][i];
        low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    if (n == 0)
        low[0] = '\0'; /* the empty name: stored with a length of 1 byte marker below */
    struct name_ent *e = name_find(s->unk, UNK_MAX, &s->nunk, low, n ? n : 1);
    if (!e)
        return (uint32_t)CS_OTHER(s);
    if (e->idx == s->nunk - 1 && e->count == 0) {
        memcpy(s->unk_names[e->idx], low, n);
        s->unk_lens[e->idx] = (uint32_t)n;
    }
    e->count++;
    return (uint32_t)(s->ncmd + e->idx);
}

static void ensure_pos(struct stat_an *s, size_t n)
{
    if (n <= s->pos_cap)
        return;
    size_t cap = s->pos_cap;
    while (cap < n)
        cap *= 2;
    uint32_t *p = realloc(s->pos, cap * sizeof *p);
    if (!p)
        oom();
    s->pos = p;
    s->pos_cap = cap;
}

/* One more event of the second of `ts` (from the first event's) in `se`. */
static void series_add(struct series *se, uint64_t base, uint64_t ts)
{
    uint64_t sec = ts > base ? (ts - base) / 1000000000u : 0;
    if (sec >= SERIES_MAX) {
        se->dropped++;
        return;
    }
    if (sec >= se->cap) {
        size_t cap = se->cap ? se->cap : 64;
        while (cap <= sec)
            cap *= 2;
        uint64_t *p = realloc(se->v, cap * sizeof *p);
        if (!p)
            oom();
        memset(p + se->cap, 0, (cap - se->cap) * sizeof *p);
        se->v = p;
        se->cap = cap;
    }
    se->v[sec]++;
    if (sec >= se->len)
        se->len = sec + 1;
}

/* The value sizes of a request of a known command (its keys were found by the walk). The
 * sizes are the arguments' lengths, which a lazy reader gives; their bytes are loaded only
 * when the values cannot be told without them (an option token to read). */
static void count_values(struct stat_an *s, struct rt_walk *w, const struct rt_walk_req *q)
{
    const struct rt_cmd *c = q->cmd;
    const struct trace_request *rq = q->rq;
    if (rq->argc > 2 && !rq->argv[2] && rt_cmd_values_bytes(c, rq->argc) &&
        rt_walk_load_args(w, q) < 0) {
        s->values_unresolved++; /* (the walk reports the damage) */
        return;
    }
    size_t n = 0;
    int rc = rt_cmd_values(c, rq->argc, rq->argv, rq->argvlen, s->pos, s->pos_cap, &n);
    if (rc == 0 && n > s->pos_cap) {
        ensure_pos(s, n);
        rc = rt_cmd_values(c, rq->argc, rq->argv, rq->argvlen, s->pos, s->pos_cap, &n);
    }
    if (rc != 0) {
        s->values_unresolved++;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (s->pos[i] < rq->argc)
            rt_hist_record(s->value_size, rq->argvlen[s->pos[i]]);
}

static void stat_request(void *ctx, struct rt_walk *w, const struct rt_walk_req *q, void *tag)
{
    struct stat_an *s = ctx;
    const struct trace_request *rq = q->rq;
    s->requests++;
    series_add(&s->rate, rt_walk_totals(w)->first_ts, q->ev->ts);
    /* a malformed request is its raw bytes, not a command with keys */
    uint32_t ci;
    if (q->kind == RT_WALK_MALFORMED) {
        s->malformed++;
        ci = (uint32_t)CS_MALFORMED(s);
    } else {
        ci = cmd_index(s, q);
    }
    s->cs[ci].count++;
    const struct rt_cmd *c = q->cmd;
    s->classes[!c ? 2 : (c->flags & RT_CMD_READONLY) ? 0 : (c->flags & RT_CMD_WRITE) ? 1 : 2]++;
    if (c) {
        if (q->keys_rc == 0) {
            for (size_t i = 0; i < q->nkeys; i++)
                if (q->keys[i] < rq->argc)
                    rt_hist_record(s->key_size, rq->argvlen[q->keys[i]]);
        } else {
            s->keys_unresolved++;
        }
        if (c->nargs)
            count_values(s, w, q);
    }
    if (rq->db < DB_DIRECT)
        s->dbs[rq->db]++;
    else
        s->dbs_over++;
    s->proto[rq->proto == 2 ? 0 : rq->proto == 3 ? 1 : 2]++;
    /* pipelining */
    struct conn *cn = conn_find(s, q->ev->conn);
    if (!cn) {
        cn = conn_add(s, q->ev->conn, q->ev->ts);
        s->without_open++;
    }
    cn->requests++;
    rt_hist_record(s->depth, (uint64_t)cn->unanswered + 1);
    if (q->waits) {
        cn->unanswered++;
        ((struct stat_tag *)tag)->cmd = ci;
    }
}

static void stat_reply(void *ctx, struct rt_walk *w, const struct rt_walk_reply *p, void *tag)
{
    struct stat_an *s = ctx;
    const struct trace_reply *rp = p->rp;
    s->replies++;
    rt_hist_record(s->reply_size, rp->len);
    s->rtypes[rp->rtype]++;
    int is_err = rp->rtype == TRACE_R_ERROR || rp->rtype == TRACE_R_BLOB_ERROR;
    if (is_err) {
        s->errors++;
        series_add(&s->errs, rt_walk_totals(w)->first_ts, p->ev->ts);
        size_t n = 0;
        while (n < rp->errlen && n < EPFX_LEN - 1 && rp->err[n] != ' ' && rp->err[n] != '\r' &&
               rp->err[n] != '\n')
            n++;
        struct name_ent *e = n ? name_find(s->epfx, EPFX_MAX, &s->nepfx, rp->err, n) : NULL;
        if (e)
            e->count++;
        else
            s->epfx_other++;
    }
    if (p->pairing == RT_WALK_UNPAIRED)
        return;
    if (p->pairing == RT_WALK_PAIRED) {
        uint64_t lat = p->ev->ts > p->req_ts ? p->ev->ts - p->req_ts : 0;
        struct cstat *cs = &s->cs[((const struct stat_tag *)tag)->cmd];
        if (!cs->lat)
            cs->lat = xhist();
        rt_hist_record(cs->lat, lat);
        rt_hist_record(s->lat, lat);
        cs->errors += (uint64_t)is_err;
    }
    /* a reply to a request the window forgot still answers one of its connection's */
    struct conn *cn = conn_find(s, p->ev->conn);
    if (cn && cn->unanswered)
        cn->unanswered--;
}

static void stat_other(void *ctx, struct rt_walk *w, const struct trace_event *ev)
{
    struct stat_an *s = ctx;
    (void)w;
    switch (ev->type) {
    case TRACE_EV_PUSH: s->pushes++; break;
    case TRACE_EV_CONN_OPEN: {
        s->nconn++;
        if (ev->u.open.flags & TRACE_OPEN_MIDSTREAM)
            s->midstream++;
        if (ev->u.open.flags & TRACE_OPEN_TLS)
            s->tls++;
        struct conn *c = conn_find(s, ev->conn);
        if (c) { /* opened again without a close: end the old one here */
            conn_end(s, c, ev->ts);
            *c = (struct conn){.id = ev->conn, .open_ts = ev->ts, .used = 1};
        } else {
            conn_add(s, ev->conn, ev->ts);
        }
        break;
    }
    case TRACE_EV_CONN_CLOSE: {
        struct conn *c = conn_find(s, ev->conn);
        if (c) {
            s->closed++;
            conn_end(s, c, ev->ts);
            conn_del(s, c);
        }
        break;
    }
    case TRACE_EV_GAP:
        s->gaps++;
        s->gap_bytes[ev->u.gap.dir ? 1 : 0] += ev->u.gap.bytes;
        break;
    case TRACE_EV_STATS: s->stats = ev->u.stats; break;
    case TRACE_EV_NOTE: s->notes++; break;
    default: break;
    }
}

/* The connections still open end with the trace. */
static void stat_end(void *ctx, struct rt_walk *w)
{
    struct stat_an *s = ctx;
    s->walk = *rt_walk_totals(w);
    for (size_t i = 0; i <= s->conn_mask; i++) {
        if (!s->conns[i].used)
            continue;
        s->open_at_end++;
        conn_end(s, &s->conns[i], s->walk.ts_max);
    }
}

struct stat_an *stat_an_attach(struct rt_walk *w)
{
    struct stat_an *s = xcalloc(1, sizeof *s);
    s->ncmd = rt_cmd_count();
    s->table = rt_cmd_at(0);
    s->cs = xcalloc(CS_COUNT(s), sizeof *s->cs);
    s->conn_mask = 1023;
    s->conns = xcalloc(s->conn_mask + 1, sizeof *s->conns);
    s->pos_cap = 256;
    s->pos = xcalloc(s->pos_cap, sizeof *s->pos);
    s->key_size = xhist();
    s->value_size = xhist();
    s->reply_size = xhist();
    s->depth = xhist();
    s->lifetime = xhist();
    s->conn_reqs = xhist();
    s->lat = xhist();
    struct rt_walk_analysis a = {.ctx = s,
                                 .needs = RT_WALK_NEED_TS | RT_WALK_KEYS_ONLY,
                                 .tag_size = sizeof(struct stat_tag),
                                 .on_request = stat_request,
                                 .on_reply = stat_reply,
                                 .on_other = stat_other,
                                 .on_end = stat_end};
    if (rt_walk_add(w, &a) < 0) {
        stat_an_free(s);
        return NULL;
    }
    return s;
}

void stat_an_free(struct stat_an *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < CS_COUNT(s); i++)
        rt_hist_free(s->cs[i].lat);
    rt_hist_free(s->key_size);
    rt_hist_free(s->value_size);
    rt_hist_free(s->reply_size);
    rt_hist_free(s->depth);
    rt_hist_free(s->lifetime);
    rt_hist_free(s->conn_reqs);
    rt_hist_free(s->lat);
    free(s->cs);
    free(s->conns);
    free(s->pos);
    free(s->rate.v);
    free(s->errs.v);
    free(s);
}

/* ---- the result -------------------------------------------------------------------------- */

/* A distribution: count, mean and nearest-rank percentiles (all 0 when empty). */
struct dist {
    uint64_t count, p50, p90, p99, max;
    double mean;
};

struct cmd_row {
    const char *name; /* known: the table's name; unknown: its lower-cased bytes */
    size_t len;
    int label;        /* "(other)" or "(malformed)": not a command's name */
    const char *cls;  /* "read", "write" or "other" */
    uint64_t count, errors;
    int timed; /* lat holds the latency of its paired replies */
    struct dist lat;
};

struct prefix_row { /* an error prefix */
    const char *name;
    size_t len;
    uint64_t count;
};

/* What `stat` found, as the text and the JSON show it (arrays borrowed from the analysis). */
struct stat_result {
    const char *path, *damage;
    int interrupted, have_ts;
    uint64_t start_ns, end_ns, events;
    uint64_t requests, malformed, replies, pushes, notes;
    struct {
        uint64_t min, max;
        double mean, last_second_s;
        const uint64_t *per_second;
        size_t seconds;
    } rate;
    uint64_t classes[3];
    struct cmd_row *cmds; /* by count (owned: free) */
    size_t ncmds;
    struct dist key_size, value_size, reply_size, depth, lifetime, conn_reqs, latency;
    const uint64_t *rtypes; /* [256] */
    uint64_t nconn, closed, open_at_end, midstream, tls, without_open;
    const uint64_t *dbs; /* [DB_DIRECT] */
    uint64_t dbs_over, proto[3];
    uint64_t errors, epfx_other;
    struct prefix_row *epfx; /* in the table's order (owned: free) */
    size_t nepfx;
    const uint64_t *errs_per_second;
    size_t err_seconds;
    uint64_t unpaired, unanswered, keys_unresolved, values_unresolved;
    uint64_t gaps, gap_bytes[2];
    struct trace_stats capture;
};

static struct dist dist_of(const struct rt_hist *h)
{
    if (!h)
        return (struct dist){0};
    return (struct dist){.count = rt_hist_count(h),
                         .mean = rt_hist_mean(h),
                         .p50 = rt_hist_percentile(h, 50),
                         .p90 = rt_hist_percentile(h, 90),
                         .p99 = rt_hist_percentile(h, 99),
                         .max = rt_hist_max(h)};
}

static const char *class_name(const struct stat_an *s, size_t i)
{
    if (i >= s->ncmd)
        return "other";
    uint32_t f = s->table[i].flags;
    return (f & RT_CMD_READONLY) ? "read" : (f & RT_CMD_WRITE) ? "write" : "other";
}

static const struct stat_an *sort_st;
static int by_count(const void *a, const void *b)
{
    const struct cstat *x = &sort_st->cs[*(const uint32_t *)a],
                       *y = &sort_st->cs[*(const uint32_t *)b];
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* The commands with requests, by count. */
static struct cmd_row *cmd_rows(const struct stat_an *s, size_t *n)
{
    size_t total = CS_COUNT(s), k = 0;
    uint32_t *v = xcalloc(total, sizeof *v);
    for (size_t i = 0; i < total; i++)
        if (s->cs[i].count)
            v[k++] = (uint32_t)i;
    sort_st = s;
    qsort(v, k, sizeof *v, by_count);
    struct cmd_row *rows = xcalloc(k, sizeof *rows);
    for (size_t j = 0; j < k; j++) {
        size_t i = v[j];
        struct cmd_row *r = &rows[j];
        if (i < s->ncmd) {
            r->name = s->table[i].name;
            r->len = strlen(r->name);
        } else if (i == CS_OTHER(s) || i == CS_MALFORMED(s)) {
            r->name = i == CS_OTHER(s) ? "(other)" : "(malformed)";
            r->len = strlen(r->name);
            r->label = 1;
        } else {
            r->name = s->unk_names[i - s->ncmd];
            r->len = s->unk_lens[i - s->ncmd];
        }
        r->cls = class_name(s, i);
        r->count = s->cs[i].count;
        r->errors = s->cs[i].errors;
        r->timed = s->cs[i].lat != NULL;
        r->lat = dist_of(s->cs[i].lat);
    }
    free(v);
    *n = k;
    return rows;
}

static void stat_result(const struct stat_an *s, const char *path, const char *damage,
                        int interrupted, struct stat_result *r)
{
    const struct rt_walk_totals *t = &s->walk;
    memset(r, 0, sizeof *r);
    r->path = path;
    r->damage = damage;
    r->interrupted = interrupted;
    r->have_ts = t->have_ts;
    r->start_ns = t->ts_min;
    r->end_ns = t->ts_max;
    r->events = t->events;
    r->requests = s->requests;
    r->malformed = s->malformed;
    r->replies = s->replies;
    r->pushes = s->pushes;
    r->notes = s->notes;
    r->rate.per_second = s->rate.v;
    r->rate.seconds = s->rate.len;
    if (s->rate.len) {
        uint64_t sum = 0;
        r->rate.min = UINT64_MAX;
        for (size_t i = 0; i < s->rate.len; i++) {
            uint64_t v = s->rate.v[i];
            sum += v;
            if (v < r->rate.min)
                r->rate.min = v;
            if (v > r->rate.max)
                r->rate.max = v;
        }
        r->rate.mean = (double)sum / (double)s->rate.len;
        /* the last second ends at the last event, which may fall inside it */
        double span = (double)(t->ts_max - t->first_ts) / 1e9 - (double)(s->rate.len - 1);
        r->rate.last_second_s = span < 0 ? 0 : span > 1 ? 1 : span;
    }
    memcpy(r->classes, s->classes, sizeof r->classes);
    r->cmds = cmd_rows(s, &r->ncmds);
    r->key_size = dist_of(s->key_size);
    r->value_size = dist_of(s->value_size);
    r->reply_size = dist_of(s->reply_size);
    r->depth = dist_of(s->depth);
    r->lifetime = dist_of(s->lifetime);
    r->conn_reqs = dist_of(s->conn_reqs);
    r->latency = dist_of(s->lat);
    r->rtypes = s->rtypes;
    r->nconn = s->nconn;
    r->closed = s->closed;
    r->open_at_end = s->open_at_end;
    r->midstream = s->midstream;
    r->tls = s->tls;
    r->without_open = s->without_open;
    r->dbs = s->dbs;
    r->dbs_over = s->dbs_over;
    memcpy(r->proto, s->proto, sizeof r->proto);
    r->errors = s->errors;
    r->epfx_other = s->epfx_other;
    r->epfx = xcalloc(EPFX_MAX, sizeof *r->epfx);
    for (size_t i = 0; i < EPFX_MAX * 2; i++)
        if (s->epfx[i].len)
            r->epfx[r->nepfx++] =
                (struct prefix_row){s->epfx[i].name, s->epfx[i].len, s->epfx[i].count};
    r->errs_per_second = s->errs.v;
    r->err_seconds = s->errs.len;
    /* the walk's pairing: replies naming no request or one it does not hold; requests still
     * waiting, or forgotten after a whole window of later ones */
    r->unpaired = t->unpaired + t->lost;
    r->unanswered = t->waiting + t->evicted;
    r->keys_unresolved = s->keys_unresolved;
    r->values_unresolved = s->values_unresolved;
    r->gaps = s->gaps;
    r->gap_bytes[0] = s->gap_bytes[0];
    r->gap_bytes[1] = s->gap_bytes[1];
    r->capture = s->stats;
}

static void stat_result_free(struct stat_result *r)
{
    free(r->cmds);
    free(r->epfx);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static json_t *dist_json(const struct dist *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", rt_json_u64(d->count));
    json_object_set_new(o, "mean", json_real(d->mean));
    json_object_set_new(o, "p50", rt_json_u64(d->p50));
    json_object_set_new(o, "p90", rt_json_u64(d->p90));
    json_object_set_new(o, "p99", rt_json_u64(d->p99));
    json_object_set_new(o, "max", rt_json_u64(d->max));
    return o;
}

static json_t *series_json(const uint64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, rt_json_u64(v[i]));
    return a;
}

/* The summary as the JSON document of `stat --json` (a new reference). */
static json_t *stat_json(const struct stat_result *r)
{
    json_t *o = rt_json_doc("stat");
    json_object_set_new(o, "file", json_string(r->path));
    json_object_set_new(o, "start_ns", r->have_ts ? rt_json_u64(r->start_ns) : json_null());
    json_object_set_new(o, "end_ns", r->have_ts ? rt_json_u64(r->end_ns) : json_null());
    json_object_set_new(o, "duration_s", json_real((double)(r->end_ns - r->start_ns) / 1e9));
    json_object_set_new(o, "events", rt_json_u64(r->events));
    json_object_set_new(o, "requests", rt_json_u64(r->requests));
    json_object_set_new(o, "malformed", rt_json_u64(r->malformed));
    json_object_set_new(o, "replies", rt_json_u64(r->replies));
    json_object_set_new(o, "pushes", rt_json_u64(r->pushes));
    json_object_set_new(o, "notes", rt_json_u64(r->notes));

    json_t *rate = json_object();
    json_object_set_new(rate, "min", rt_json_u64(r->rate.min));
    json_object_set_new(rate, "mean", json_real(r->rate.mean));
    json_object_set_new(rate, "max", rt_json_u64(r->rate.max));
    json_object_set_new(rate, "per_second", series_json(r->rate.per_second, r->rate.seconds));
    json_object_set_new(rate, "last_second_s", json_real(r->rate.last_second_s));
    json_object_set_new(o, "rate", rate);

    json_t *cl = json_object();
    json_object_set_new(cl, "read", rt_json_u64(r->classes[0]));
    json_object_set_new(cl, "write", rt_json_u64(r->classes[1]));
    json_object_set_new(cl, "other", rt_json_u64(r->classes[2]));
    json_object_set_new(o, "classes", cl);

    json_t *cmds = json_array();
    for (size_t k = 0; k < r->ncmds; k++) {
        const struct cmd_row *cr = &r->cmds[k];
        json_t *c = json_object();
        json_object_set_new(c, "name", rt_json_bytes(cr->name, cr->len));
        json_object_set_new(c, "class", json_string(cr->cls));
        json_object_set_new(c, "count", rt_json_u64(cr->count));
        json_object_set_new(c, "share", json_real((double)cr->count / (double)r->requests));
        json_object_set_new(c, "errors", rt_json_u64(cr->errors));
        json_object_set_new(c, "latency_ns", dist_json(&cr->lat));
        json_array_append_new(cmds, c);
    }
    json_object_set_new(o, "commands", cmds);

    json_object_set_new(o, "key_size", dist_json(&r->key_size));
    json_object_set_new(o, "value_size", dist_json(&r->value_size));
    json_object_set_new(o, "reply_size", dist_json(&r->reply_size));
    json_t *rt = json_object();
    for (unsigned t = 0; t < 256; t++)
        if (r->rtypes[t]) {
            const char *nm = trace_reply_type_name(t);
            json_t *old = json_object_get(rt, nm); /* several unknown codes add up */
            uint64_t prev = old ? (uint64_t)json_integer_value(old) : 0;
            json_object_set_new(rt, nm, rt_json_u64(prev + r->rtypes[t]));
        }
    json_object_set_new(o, "reply_types", rt);
    json_object_set_new(o, "pipeline_depth", dist_json(&r->depth));

    json_t *cn = json_object();
    json_object_set_new(cn, "count", rt_json_u64(r->nconn));
    json_object_set_new(cn, "closed", rt_json_u64(r->closed));
    json_object_set_new(cn, "open_at_end", rt_json_u64(r->open_at_end));
    json_object_set_new(cn, "midstream", rt_json_u64(r->midstream));
    json_object_set_new(cn, "tls", rt_json_u64(r->tls));
    json_object_set_new(cn, "without_open", rt_json_u64(r->without_open));
    json_object_set_new(cn, "lifetime_ns", dist_json(&r->lifetime));
    json_object_set_new(cn, "requests", dist_json(&r->conn_reqs));
    json_object_set_new(o, "connections", cn);

    json_t *dbs = json_object();
    for (unsigned d = 0; d < DB_DIRECT; d++)
        if (r->dbs[d]) {
            char k[16];
            snprintf(k, sizeof k, "%u", d);
            json_object_set_new(dbs, k, rt_json_u64(r->dbs[d]));
        }
    json_object_set_new(o, "dbs", dbs);
    json_object_set_new(o, "dbs_over_255", rt_json_u64(r->dbs_over));
    json_t *pr = json_object();
    json_object_set_new(pr, "2", rt_json_u64(r->proto[0]));
    json_object_set_new(pr, "3", rt_json_u64(r->proto[1]));
    json_object_set_new(pr, "other", rt_json_u64(r->proto[2]));
    json_object_set_new(o, "proto", pr);

    json_t *er = json_object(), *bp = json_object();
    json_object_set_new(er, "total", rt_json_u64(r->errors));
    for (size_t i = 0; i < r->nepfx; i++) {
        char k[EPFX_LEN * 4 + 8];
        json_t *js = rt_json_bytes(r->epfx[i].name, r->epfx[i].len);
        snprintf(k, sizeof k, "%s", js ? json_string_value(js) : "?");
        json_decref(js);
        json_object_set_new(bp, k, rt_json_u64(r->epfx[i].count));
    }
    if (r->epfx_other)
        json_object_set_new(bp, "(other)", rt_json_u64(r->epfx_other));
    json_object_set_new(er, "by_prefix", bp);
    json_object_set_new(er, "per_second", series_json(r->errs_per_second, r->err_seconds));
    json_object_set_new(o, "errors", er);

    json_object_set_new(o, "latency_ns", dist_json(&r->latency));
    json_object_set_new(o, "unpaired_replies", rt_json_u64(r->unpaired));
    json_object_set_new(o, "unanswered_requests", rt_json_u64(r->unanswered));
    json_object_set_new(o, "keys_unresolved", rt_json_u64(r->keys_unresolved));
    json_object_set_new(o, "values_unresolved", rt_json_u64(r->values_unresolved));

    json_t *g = json_object();
    json_object_set_new(g, "count", rt_json_u64(r->gaps));
    json_object_set_new(g, "bytes_to_server", rt_json_u64(r->gap_bytes[0]));
    json_object_set_new(g, "bytes_to_client", rt_json_u64(r->gap_bytes[1]));
    json_object_set_new(o, "gaps", g);
    json_t *st = json_object();
    json_object_set_new(st, "packets", rt_json_u64(r->capture.packets));
    json_object_set_new(st, "bytes", rt_json_u64(r->capture.bytes));
    json_object_set_new(st, "kernel_drops", rt_json_u64(r->capture.kernel_drops));
    json_object_set_new(st, "iface_drops", rt_json_u64(r->capture.iface_drops));
    json_object_set_new(st, "flows_dropped", rt_json_u64(r->capture.flows_dropped));
    json_object_set_new(st, "bytes_dropped", rt_json_u64(r->capture.bytes_dropped));
    json_object_set_new(o, "capture", st);
    json_object_set_new(o, "damage", r->damage ? json_string(r->damage) : json_null());
    json_object_set_new(o, "interrupted", json_boolean(r->interrupted));
    return o;
}

json_t *stat_an_json(struct stat_an *a, const char *path, const char *damage, int interrupted)
{
    struct stat_result r;
    stat_result(a, path, damage, interrupted, &r);
    json_t *o = stat_json(&r);
    stat_result_free(&r);
    return o;
}

/* ---- text ---------------------------------------------------------------------------------- */

/* "850ns", "12.3us", "1.23ms", "1.234s" */
static const char *fmt_ns(uint64_t ns, char *buf, size_t cap)
{
    if (ns < 1000)
        snprintf(buf, cap, "%lluns", (unsigned long long)ns);
    else if (ns < 1000000)
        snprintf(buf, cap, "%.1fus", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, cap, "%.2fms", (double)ns / 1e6);
    else
        snprintf(buf, cap, "%.3fs", (double)ns / 1e9);
    return buf;
}

/* a name as is when it is printable without blanks, else quoted */
static void print_name(const char *p, size_t n, int width)
{
    int plain = n > 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= ' ' || p[i] > '~' || p[i] == '"')
            plain = 0;
    if (plain) {
        printf("%-*.*s", width, (int)n, p);
        return;
    }
    char buf[NAME_MAX_LEN * 4 + 8];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    buf[0] = '\0';
    if (f) {
        rt_quote(f, p, n, 20);
        long k = ftell(f);
        fclose(f);
        buf[k >= 0 && (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1] = '\0';
    }
    printf("%-*s", width, buf);
}

static void dist_row(const char *name, const struct dist *d, int time)
{
    char a[5][32];
    uint64_t v[4] = {d->p50, d->p90, d->p99, d->max};
    if (time) {
        for (int i = 0; i < 4; i++)
            fmt_ns(v[i], a[i], sizeof a[i]);
        fmt_ns((uint64_t)d->mean, a[4], sizeof a[4]);
    } else {
        for (int i = 0; i < 4; i++)
            snprintf(a[i], sizeof a[i], "%llu", (unsigned long long)v[i]);
        snprintf(a[4], sizeof a[4], "%.1f", d->mean);
    }
    printf("  %-22s %12llu %10s %10s %10s %10s %10s\n", name, (unsigned long long)d->count,
           a[4], a[0], a[1], a[2], a[3]);
}

static void print_table(const struct stat_result *r)
{
    char a[64], b[64];
    printf("%-14s %s\n", "file", r->path);
    if (r->have_ts) {
        printf("%-14s %s\n", "start", rt_fmt_time(r->start_ns, a, sizeof a));
        printf("%-14s %s\n", "end", rt_fmt_time(r->end_ns, a, sizeof a));
    }
    printf("%-14s %.3f s\n", "duration", (double)(r->end_ns - r->start_ns) / 1e9);
    printf("%-14s %llu\n", "events", (unsigned long long)r->events);
    printf("%-14s %llu (per second: min %llu, mean %.1f, max %llu over %zu s)\n", "requests",
           (unsigned long long)r->requests, (unsigned long long)r->rate.min, r->rate.mean,
           (unsigned long long)r->rate.max, r->rate.seconds);
    if (r->malformed)
        printf("%-14s %llu requests the server could not parse (\"(malformed)\" below)\n",
               "malformed", (unsigned long long)r->malformed);
    printf("%-14s %llu (%llu unpaired), pushes %llu\n", "replies", (unsigned long long)r->replies,
           (unsigned long long)r->unpaired, (unsigned long long)r->pushes);
    printf("%-14s read %llu, write %llu, other %llu\n", "classes",
           (unsigned long long)r->classes[0], (unsigned long long)r->classes[1],
           (unsigned long long)r->classes[2]);
    printf("%-14s %llu (closed %llu, open at end %llu, mid-stream %llu, TLS %llu, without open "
           "%llu)\n",
           "connections", (unsigned long long)r->nconn, (unsigned long long)r->closed,
           (unsigned long long)r->open_at_end, (unsigned long long)r->midstream,
           (unsigned long long)r->tls, (unsigned long long)r->without_open);
    printf("%-14s", "databases");
    int any = 0;
    for (unsigned d = 0; d < DB_DIRECT; d++)
        if (r->dbs[d]) {
            printf("%s db%u %llu", any ? "," : "", d, (unsigned long long)r->dbs[d]);
            any = 1;
        }
    if (r->dbs_over)
        printf("%s db>255 %llu", any ? "," : "", (unsigned long long)r->dbs_over);
    printf("\n%-14s RESP2 %llu, RESP3 %llu", "protocol", (unsigned long long)r->proto[0],
           (unsigned long long)r->proto[1]);
    if (r->proto[2])
        printf(", other %llu", (unsigned long long)r->proto[2]);
    printf("\n%-14s %llu", "errors", (unsigned long long)r->errors);
    any = 0;
    for (size_t i = 0; i < r->nepfx; i++) {
        printf("%s", any ? ", " : " (");
        print_name(r->epfx[i].name, r->epfx[i].len, 0);
        printf(" %llu", (unsigned long long)r->epfx[i].count);
        any = 1;
    }
    if (r->epfx_other) {
        printf("%s(other) %llu", any ? ", " : " (", (unsigned long long)r->epfx_other);
        any = 1;
    }
    printf("%s\n", any ? ")" : "");
    printf("%-14s", "reply types");
    any = 0;
    for (unsigned t = 0; t < 256; t++)
        if (r->rtypes[t]) {
            printf("%s %s %llu", any ? "," : "", trace_reply_type_name(t),
                   (unsigned long long)r->rtypes[t]);
            any = 1;
        }
    printf("\n%-14s %llu (%s to server, %s to client)\n", "gaps", (unsigned long long)r->gaps,
           rt_fmt_bytes(r->gap_bytes[0], a, sizeof a), rt_fmt_bytes(r->gap_bytes[1], b, sizeof b));
    printf("%-14s kernel %llu, interface %llu, flows %llu, bytes %llu\n", "drops",
           (unsigned long long)r->capture.kernel_drops, (unsigned long long)r->capture.iface_drops,
           (unsigned long long)r->capture.flows_dropped,
           (unsigned long long)r->capture.bytes_dropped);

    printf("\ndistributions\n  %-22s %12s %10s %10s %10s %10s %10s\n", "", "count", "mean", "p50",
           "p90", "p99", "max");
    dist_row("key size (bytes)", &r->key_size, 0);
    dist_row("value size (bytes)", &r->value_size, 0);
    dist_row("reply size (bytes)", &r->reply_size, 0);
    dist_row("pipeline depth", &r->depth, 0);
    dist_row("requests/connection", &r->conn_reqs, 0);
    dist_row("connection lifetime", &r->lifetime, 1);
    dist_row("latency", &r->latency, 1);

    printf("\ncommands\n  %-22s %12s %7s %-6s %8s %10s %10s %10s %10s\n", "command", "count",
           "share", "class", "errors", "p50", "p90", "p99", "max");
    for (size_t k = 0; k < r->ncmds; k++) {
        const struct cmd_row *cr = &r->cmds[k];
        printf("  ");
        if (cr->label)
            printf("%-22s", cr->name);
        else
            print_name(cr->name, cr->len, 22);
        printf(" %12llu %6.2f%% %-6s %8llu", (unsigned long long)cr->count,
               100.0 * (double)cr->count / (double)r->requests, cr->cls,
               (unsigned long long)cr->errors);
        if (cr->timed) {
            char p[4][32];
            fmt_ns(cr->lat.p50, p[0], sizeof p[0]);
            fmt_ns(cr->lat.p90, p[1], sizeof p[1]);
            fmt_ns(cr->lat.p99, p[2], sizeof p[2]);
            fmt_ns(cr->lat.max, p[3], sizeof p[3]);
            printf(" %10s %10s %10s %10s\n", p[0], p[1], p[2], p[3]);
        } else {
            printf(" %10s %10s %10s %10s\n", "-", "-", "-", "-");
        }
    }
}

/* ---- the command ------------------------------------------------------------------------------ */

json_t *rt_stat_json_pass(const char *path, int salvage, struct rt_pass *ps, struct rt_err *err)
{
    /* lazy_args: the bytes of arguments 2.. (values) stay compressed unless a key is among
     * them or an option token must be read (count_values): stat counts their lengths */
    struct trace_reader_opts ro = {.salvage = salvage, .lazy_args = 1};
    struct trace_reader *r = trace_reader_open(path, &ro, err);
    if (!r)
        return NULL;
    struct rt_walk *w = rt_walk_new("stat");
    struct stat_an *s = stat_an_attach(w);
    int rc = rt_walk_run(w, r, ps, err);
    struct trace_damage dmg;
    const char *damage = rt_walk_damage(r, rc, err, &dmg);
    json_t *o = stat_an_json(s, path, damage, ps && ps->interrupted);
    if (rc >= 0 && damage)
        rt_err_set(err, RT_ECORRUPT, "%s", dmg.msg);
    trace_reader_close(r);
    stat_an_free(s);
    rt_walk_free(w);
    return o;
}

json_t *rt_stat_json(const char *path, int salvage, struct rt_err *err)
{
    return rt_stat_json_pass(path, salvage, NULL, err);
}

int cmd_stat(int argc, char **argv)
{
    static const struct option opts[] = {{"json", optional_argument, NULL, 'j'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *json_path = NULL;
    int salvage = 0, quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hq", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json_path = optarg ? optarg : "-"; break;
        case 's': salvage = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage_stat(stdout); return RT_EXIT_OK;
        default: return rt_opt_error("stat", c, argv);
        }
    }
    if (optind >= argc)
        return rt_usage_error("stat", "give the trace to read");
    if (optind < argc - 1)
        return rt_usage_error("stat", "one trace at a time (got '%s' after '%s')",
                              argv[optind + 1], argv[optind]);
    const char *path = argv[optind];
    if (json_path && !*json_path)
        return rt_usage_error("stat", "--json= needs a file name (or '-' for stdout)");
    if (rt_out_refuse_inputs("stat", json_path, &path, 1) < 0)
        return RT_EXIT_USAGE;
    /* lazy_args: as in rt_stat_json_pass() */
    struct trace_reader_opts ro = {.salvage = salvage, .lazy_args = 1};
    struct trace_reader *r = rt_open_trace_opts("stat", path, &ro);
    if (!r)
        return RT_EXIT_FAIL;

    rt_catch_signals();
    struct rt_progress prog;
    rt_progress_init(&prog, quiet);
    struct rt_pass ps = {.progress = &prog, .label = "stat"};
    struct rt_walk *w = rt_walk_new("stat");
    struct stat_an *s = stat_an_attach(w);
    struct rt_err err = {0};
    int rc = rt_walk_run(w, r, &ps, &err);
    rt_progress_done(&prog);
    struct trace_damage dmg;
    const char *damage = rt_walk_damage(r, rc, &err, &dmg);
    int status = (rc < 0 || dmg.first_offset != UINT64_MAX) ? RT_EXIT_FAIL : RT_EXIT_OK;
    struct stat_result res;
    stat_result(s, path, damage, ps.interrupted, &res);
    if (json_path && rt_json_write("stat", stat_json(&res), json_path) < 0)
        status = RT_EXIT_FAIL;
    if (!json_path || strcmp(json_path, "-")) {
        print_table(&res);
        fflush(stdout);
    }
    stat_result_free(&res);
    if (rc < 0)
        fprintf(stderr, "resptrace stat: %s\n", err.msg);
    else if (dmg.first_offset != UINT64_MAX)
        fprintf(stderr, "resptrace stat: %s (salvaged: %llu damaged chunks skipped)\n", dmg.msg,
                (unsigned long long)dmg.chunks_skipped);
    if (ps.interrupted) {
        fprintf(stderr,
                "resptrace stat: interrupted: the summary covers the first %llu events "
                "(to offset %llu of %llu bytes)\n",
                (unsigned long long)ps.events, (unsigned long long)trace_reader_offset(r),
                (unsigned long long)trace_reader_file_size(r));
        status = RT_EXIT_INTERRUPTED;
    }
    trace_reader_close(r);
    stat_an_free(s);
    rt_walk_free(w);
    return status;
}
