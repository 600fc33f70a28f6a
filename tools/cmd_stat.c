/* cmd_stat.c: `resptrace stat`: a workload summary of a trace in one streaming pass: rates,
 * command mix, key/value/reply sizes, pipelining, connections, databases, errors, recorded
 * server latency, gaps and drops. */
#include "analysis_int.h"
#include "replay.h"
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
        "                and per command (a request unanswered for 2^20 later\n"
        "                requests is dropped)\n"
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

#define PEND_SIZE (1u << 20) /* requests whose replies can still be timed */
#define UNK_MAX 256          /* distinct unknown command names kept */
#define NAME_MAX_LEN 48
#define EPFX_MAX 128 /* distinct error prefixes kept */
#define EPFX_LEN 32
#define DB_DIRECT 256
#define SERIES_MAX (1u << 25) /* seconds of per-second series (388 days) */
#define CMD_CACHE 8
/* the indexes of cs[] after the known commands and the UNK_MAX unknown names */
#define CS_OTHER(s) ((s)->ncmd + UNK_MAX)         /* unknown names beyond UNK_MAX */
#define CS_MALFORMED(s) ((s)->ncmd + UNK_MAX + 1) /* requests the server could not parse */
#define CS_COUNT(s) ((s)->ncmd + UNK_MAX + 2)

struct pend {
    uint64_t seq1; /* request seq + 1; 0 when free */
    uint64_t ts;
    uint32_t cmd;
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

struct cmd_cache {
    char name[24];
    size_t len;
    const struct rt_cmd *c;
};

struct st {
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
    struct cmd_cache cc[CMD_CACHE];
    unsigned ccn;

    struct pend *pend;
    struct conn *conns;
    size_t conn_mask, nconns;

    uint32_t *pos;
    size_t pos_cap;

    struct rt_hist *key_size, *value_size, *reply_size, *depth, *lifetime, *conn_reqs, *lat;

    struct series {
        uint64_t *v;
        size_t len, cap;
        uint64_t dropped;
    } rate, errs; /* requests and error replies per second from `base` */

    int have_ts;
    uint64_t base, ts_min, ts_max;
    uint64_t events, requests, malformed, replies, pushes, notes;
    uint64_t classes[3]; /* read, write, other */
    uint64_t rtypes[256];
    uint64_t dbs[DB_DIRECT], dbs_over;
    uint64_t proto[3]; /* 2, 3, other */
    uint64_t errors;
    uint64_t unpaired, pend_lost, pend_evicted;
    uint64_t keys_unresolved, values_unresolved;
    uint64_t nconn, closed, midstream, tls, without_open, open_at_end;
    uint64_t gaps, gap_bytes[2];
    struct trace_stats stats;
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

static void conn_grow(struct st *s)
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

static struct conn *conn_find(struct st *s, uint64_t id)
{
    size_t i = conn_slot(id, s->conn_mask);
    while (s->conns[i].used) {
        if (s->conns[i].id == id)
            return &s->conns[i];
        i = (i + 1) & s->conn_mask;
    }
    return NULL;
}

static struct conn *conn_add(struct st *s, uint64_t id, uint64_t ts)
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

static void conn_del(struct st *s, struct conn *c)
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

static void conn_end(struct st *s, struct conn *c, uint64_t ts)
{
    rt_hist_record(s->lifetime, ts > c->open_ts ? ts - c->open_ts : 0);
    rt_hist_record(s->conn_reqs, c->requests);
}

/* ---- the pass ----------------------------------------------------------------------------- */

static uint32_t cmd_index(struct st *s, const struct trace_request *rq, const struct rt_cmd **out)
{
    const struct rt_cmd *c = NULL;
    size_t n0 = rq->argvlen[0];
    int cached = 0;
    if (n0 < sizeof s->cc[0].name) {
        for (unsigned i = 0; i < s->ccn; i++)
            if (s->cc[i].len == n0 && !memcmp(s->cc[i].name, rq->argv[0], n0)) {
                c = s->cc[i].c;
                cached = 1;
                break;
            }
    }
    if (!cached) {
        c = rt_cmd_lookup(rq->argc, rq->argv, rq->argvlen);
        if (c && !(c->flags & RT_CMD_CONTAINER) && n0 < sizeof s->cc[0].name) {
            struct cmd_cache *e =
                &s->cc[s->ccn < CMD_CACHE ? s->ccn++ : (n0 + rq->argv[0][0]) % CMD_CACHE];
            memcpy(e->name, rq->argv[0], n0);
            e->len = n0;
            e->c = c;
        }
    }
    *out = c;
    if (c)
        return (uint32_t)(c - s->table);
    char low[NAME_MAX_LEN];
    size_t n = n0 < NAME_MAX_LEN ? n0 : NAME_MAX_LEN;
    for (size_t i = 0; i < n; i++) {
        char ch = rq->argv[0][i];
        low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    if (n == 0) {
        low[0] = '\0'; /* the empty name: stored with a length of 1 byte marker below */
    }
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

static void ensure_pos(struct st *s, size_t n)
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

/* One more event of the second of `ts` (from s->base) in `se`. */
static void series_add(struct st *s, struct series *se, uint64_t ts)
{
    uint64_t sec = ts > s->base ? (ts - s->base) / 1000000000u : 0;
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

static void on_request(struct st *s, const struct trace_event *ev)
{
    const struct trace_request *rq = &ev->u.req;
    s->requests++;
    series_add(s, &s->rate, ev->ts);
    /* command: a malformed request is its raw bytes, not a command with keys */
    const struct rt_cmd *c = NULL;
    uint32_t ci = (uint32_t)CS_OTHER(s);
    if (rq->flags & TRACE_REQ_MALFORMED) {
        s->malformed++;
        ci = (uint32_t)CS_MALFORMED(s);
    } else if (rq->argc > 0) {
        ci = cmd_index(s, rq, &c);
    }
    s->cs[ci].count++;
    s->classes[!c ? 2 : (c->flags & RT_CMD_READONLY) ? 0 : (c->flags & RT_CMD_WRITE) ? 1 : 2]++;
    if (c) {
        size_t n = 0;
        int rc = rt_cmd_keys(c, rq->argc, rq->argv, rq->argvlen, s->pos, s->pos_cap, &n);
        if (rc == 0 && n > s->pos_cap) {
            ensure_pos(s, n);
            rc = rt_cmd_keys(c, rq->argc, rq->argv, rq->argvlen, s->pos, s->pos_cap, &n);
        }
        if (rc == 0) {
            for (size_t i = 0; i < n; i++)
                if (s->pos[i] < rq->argc)
                    rt_hist_record(s->key_size, rq->argvlen[s->pos[i]]);
        } else {
            s->keys_unresolved++;
        }
        if (c->nargs) {
            n = 0;
            rc = rt_cmd_values(c, rq->argc, rq->argv, rq->argvlen, s->pos, s->pos_cap, &n);
            if (rc == 0 && n > s->pos_cap) {
                ensure_pos(s, n);
                rc = rt_cmd_values(c, rq->argc, rq->argv, rq->argvlen, s->pos, s->pos_cap, &n);
            }
            if (rc == 0) {
                for (size_t i = 0; i < n; i++)
                    if (s->pos[i] < rq->argc)
                        rt_hist_record(s->value_size, rq->argvlen[s->pos[i]]);
            } else {
                s->values_unresolved++;
            }
        }
    }
    if (rq->db < DB_DIRECT)
        s->dbs[rq->db]++;
    else
        s->dbs_over++;
    s->proto[rq->proto == 2 ? 0 : rq->proto == 3 ? 1 : 2]++;
    /* pipelining */
    struct conn *cn = conn_find(s, ev->conn);
    if (!cn) {
        cn = conn_add(s, ev->conn, ev->ts);
        s->without_open++;
    }
    cn->requests++;
    rt_hist_record(s->depth, (uint64_t)cn->unanswered + 1);
    if (!(rq->flags & TRACE_REQ_NOREPLY)) {
        cn->unanswered++;
        struct pend *p = &s->pend[rq->seq & (PEND_SIZE - 1)];
        if (p->seq1)
            s->pend_evicted++;
        p->seq1 = rq->seq + 1;
        p->ts = ev->ts;
        p->cmd = ci;
    }
}

static void on_reply(struct st *s, const struct trace_event *ev)
{
    const struct trace_reply *rp = &ev->u.reply;
    s->replies++;
    rt_hist_record(s->reply_size, rp->len);
    s->rtypes[rp->rtype]++;
    int is_err = rp->rtype == TRACE_R_ERROR || rp->rtype == TRACE_R_BLOB_ERROR;
    if (is_err) {
        s->errors++;
        series_add(s, &s->errs, ev->ts);
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
    if (rp->req_seq == TRACE_SEQ_NONE) {
        s->unpaired++;
        return;
    }
    struct pend *p = &s->pend[rp->req_seq & (PEND_SIZE - 1)];
    if (p->seq1 == rp->req_seq + 1) {
        uint64_t lat = ev->ts > p->ts ? ev->ts - p->ts : 0;
        struct cstat *cs = &s->cs[p->cmd];
        if (!cs->lat)
            cs->lat = xhist();
        rt_hist_record(cs->lat, lat);
        rt_hist_record(s->lat, lat);
        cs->errors += (uint64_t)is_err;
        p->seq1 = 0;
    } else {
        s->pend_lost++;
    }
    struct conn *cn = conn_find(s, ev->conn);
    if (cn && cn->unanswered)
        cn->unanswered--;
}

static void on_event(struct st *s, const struct trace_event *ev)
{
    s->events++;
    if (!s->have_ts) {
        s->have_ts = 1;
        s->base = s->ts_min = s->ts_max = ev->ts;
    } else {
        if (ev->ts < s->ts_min)
            s->ts_min = ev->ts;
        if (ev->ts > s->ts_max)
            s->ts_max = ev->ts;
    }
    switch (ev->type) {
    case TRACE_EV_REQUEST: on_request(s, ev); break;
    case TRACE_EV_REPLY: on_reply(s, ev); break;
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

static void finish_conns(struct st *s)
{
    for (size_t i = 0; i <= s->conn_mask; i++) {
        if (!s->conns[i].used)
            continue;
        s->open_at_end++;
        conn_end(s, &s->conns[i], s->ts_max);
    }
}

/* ---- output ------------------------------------------------------------------------------- */

static const char *class_name(const struct st *s, size_t i)
{
    if (i >= s->ncmd)
        return "other";
    uint32_t f = s->table[i].flags;
    return (f & RT_CMD_READONLY) ? "read" : (f & RT_CMD_WRITE) ? "write" : "other";
}

static json_t *cmd_name_json(const struct st *s, size_t i)
{
    if (i < s->ncmd)
        return json_string(s->table[i].name);
    if (i == CS_OTHER(s))
        return json_string("(other)");
    if (i == CS_MALFORMED(s))
        return json_string("(malformed)");
    return rt_json_bytes(s->unk_names[i - s->ncmd], s->unk_lens[i - s->ncmd]);
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

static void cmd_name_print(const struct st *s, size_t i)
{
    printf("  ");
    if (i < s->ncmd)
        print_name(s->table[i].name, strlen(s->table[i].name), 22);
    else if (i == CS_OTHER(s))
        printf("%-22s", "(other)");
    else if (i == CS_MALFORMED(s))
        printf("%-22s", "(malformed)");
    else
        print_name(s->unk_names[i - s->ncmd], s->unk_lens[i - s->ncmd], 22);
}

static const struct st *sort_st;
static int by_count(const void *a, const void *b)
{
    const struct cstat *x = &sort_st->cs[*(const uint32_t *)a],
                       *y = &sort_st->cs[*(const uint32_t *)b];
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* the command indexes with requests, by count */
static uint32_t *sorted_cmds(const struct st *s, size_t *n)
{
    size_t total = CS_COUNT(s), k = 0;
    uint32_t *v = xcalloc(total, sizeof *v);
    for (size_t i = 0; i < total; i++)
        if (s->cs[i].count)
            v[k++] = (uint32_t)i;
    sort_st = s;
    qsort(v, k, sizeof *v, by_count);
    *n = k;
    return v;
}

static json_t *dist_json(const struct rt_hist *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", rt_json_u64(h ? rt_hist_count(h) : 0));
    json_object_set_new(o, "mean", json_real(h ? rt_hist_mean(h) : 0.0));
    json_object_set_new(o, "p50", rt_json_u64(h ? rt_hist_percentile(h, 50) : 0));
    json_object_set_new(o, "p90", rt_json_u64(h ? rt_hist_percentile(h, 90) : 0));
    json_object_set_new(o, "p99", rt_json_u64(h ? rt_hist_percentile(h, 99) : 0));
    json_object_set_new(o, "max", rt_json_u64(h ? rt_hist_max(h) : 0));
    return o;
}

static void rate_stats(const struct st *s, uint64_t *mn, double *mean, uint64_t *mx)
{
    *mn = *mx = 0;
    *mean = 0;
    if (!s->rate.len)
        return;
    uint64_t sum = 0;
    *mn = UINT64_MAX;
    for (size_t i = 0; i < s->rate.len; i++) {
        uint64_t v = s->rate.v[i];
        sum += v;
        if (v < *mn)
            *mn = v;
        if (v > *mx)
            *mx = v;
    }
    *mean = (double)sum / (double)s->rate.len;
}

/* How much of the last second of the rate series the trace covers, in seconds (0 to 1): it
 * ends at the last event, which may fall inside that second. */
static double last_second_s(const struct st *s)
{
    if (!s->rate.len)
        return 0;
    double span = (double)(s->ts_max - s->base) / 1e9 - (double)(s->rate.len - 1);
    return span < 0 ? 0 : span > 1 ? 1 : span;
}

static json_t *series_json(const struct series *se)
{
    json_t *a = json_array();
    for (size_t i = 0; i < se->len; i++)
        json_array_append_new(a, rt_json_u64(se->v[i]));
    return a;
}

/* The summary as the JSON document of `stat --json` (a new reference). */
static json_t *stat_json(const struct st *s, const char *path, const char *damage,
                         int interrupted)
{
    json_t *o = rt_json_doc("stat");
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "start_ns", s->have_ts ? rt_json_u64(s->ts_min) : json_null());
    json_object_set_new(o, "end_ns", s->have_ts ? rt_json_u64(s->ts_max) : json_null());
    json_object_set_new(o, "duration_s", json_real((double)(s->ts_max - s->ts_min) / 1e9));
    json_object_set_new(o, "events", rt_json_u64(s->events));
    json_object_set_new(o, "requests", rt_json_u64(s->requests));
    json_object_set_new(o, "malformed", rt_json_u64(s->malformed));
    json_object_set_new(o, "replies", rt_json_u64(s->replies));
    json_object_set_new(o, "pushes", rt_json_u64(s->pushes));
    json_object_set_new(o, "notes", rt_json_u64(s->notes));

    uint64_t mn, mx;
    double mean;
    rate_stats(s, &mn, &mean, &mx);
    json_t *rate = json_object();
    json_object_set_new(rate, "min", rt_json_u64(mn));
    json_object_set_new(rate, "mean", json_real(mean));
    json_object_set_new(rate, "max", rt_json_u64(mx));
    json_object_set_new(rate, "per_second", series_json(&s->rate));
    json_object_set_new(rate, "last_second_s", json_real(last_second_s(s)));
    json_object_set_new(o, "rate", rate);

    json_t *cl = json_object();
    json_object_set_new(cl, "read", rt_json_u64(s->classes[0]));
    json_object_set_new(cl, "write", rt_json_u64(s->classes[1]));
    json_object_set_new(cl, "other", rt_json_u64(s->classes[2]));
    json_object_set_new(o, "classes", cl);

    size_t n;
    uint32_t *v = sorted_cmds(s, &n);
    json_t *cmds = json_array();
    for (size_t k = 0; k < n; k++) {
        const struct cstat *cs = &s->cs[v[k]];
        json_t *c = json_object();
        json_object_set_new(c, "name", cmd_name_json(s, v[k]));
        json_object_set_new(c, "class", json_string(class_name(s, v[k])));
        json_object_set_new(c, "count", rt_json_u64(cs->count));
        json_object_set_new(c, "share", json_real((double)cs->count / (double)s->requests));
        json_object_set_new(c, "errors", rt_json_u64(cs->errors));
        json_object_set_new(c, "latency_ns", dist_json(cs->lat));
        json_array_append_new(cmds, c);
    }
    free(v);
    json_object_set_new(o, "commands", cmds);

    json_object_set_new(o, "key_size", dist_json(s->key_size));
    json_object_set_new(o, "value_size", dist_json(s->value_size));
    json_object_set_new(o, "reply_size", dist_json(s->reply_size));
    json_t *rt = json_object();
    for (unsigned t = 0; t < 256; t++)
        if (s->rtypes[t]) {
            const char *nm = trace_reply_type_name(t);
            json_t *old = json_object_get(rt, nm); /* several unknown codes add up */
            uint64_t prev = old ? (uint64_t)json_integer_value(old) : 0;
            json_object_set_new(rt, nm, rt_json_u64(prev + s->rtypes[t]));
        }
    json_object_set_new(o, "reply_types", rt);
    json_object_set_new(o, "pipeline_depth", dist_json(s->depth));

    json_t *cn = json_object();
    json_object_set_new(cn, "count", rt_json_u64(s->nconn));
    json_object_set_new(cn, "closed", rt_json_u64(s->closed));
    json_object_set_new(cn, "open_at_end", rt_json_u64(s->open_at_end));
    json_object_set_new(cn, "midstream", rt_json_u64(s->midstream));
    json_object_set_new(cn, "tls", rt_json_u64(s->tls));
    json_object_set_new(cn, "without_open", rt_json_u64(s->without_open));
    json_object_set_new(cn, "lifetime_ns", dist_json(s->lifetime));
    json_object_set_new(cn, "requests", dist_json(s->conn_reqs));
    json_object_set_new(o, "connections", cn);

    json_t *dbs = json_object();
    for (unsigned d = 0; d < DB_DIRECT; d++)
        if (s->dbs[d]) {
            char k[16];
            snprintf(k, sizeof k, "%u", d);
            json_object_set_new(dbs, k, rt_json_u64(s->dbs[d]));
        }
    json_object_set_new(o, "dbs", dbs);
    json_object_set_new(o, "dbs_over_255", rt_json_u64(s->dbs_over));
    json_t *pr = json_object();
    json_object_set_new(pr, "2", rt_json_u64(s->proto[0]));
    json_object_set_new(pr, "3", rt_json_u64(s->proto[1]));
    json_object_set_new(pr, "other", rt_json_u64(s->proto[2]));
    json_object_set_new(o, "proto", pr);

    json_t *er = json_object(), *bp = json_object();
    json_object_set_new(er, "total", rt_json_u64(s->errors));
    for (size_t i = 0; i < EPFX_MAX * 2; i++)
        if (s->epfx[i].len) {
            char k[EPFX_LEN * 4 + 8];
            json_t *js = rt_json_bytes(s->epfx[i].name, s->epfx[i].len);
            snprintf(k, sizeof k, "%s", js ? json_string_value(js) : "?");
            json_decref(js);
            json_object_set_new(bp, k, rt_json_u64(s->epfx[i].count));
        }
    if (s->epfx_other)
        json_object_set_new(bp, "(other)", rt_json_u64(s->epfx_other));
    json_object_set_new(er, "by_prefix", bp);
    json_object_set_new(er, "per_second", series_json(&s->errs));
    json_object_set_new(o, "errors", er);

    json_object_set_new(o, "latency_ns", dist_json(s->lat));
    json_object_set_new(o, "unpaired_replies", rt_json_u64(s->unpaired + s->pend_lost));
    uint64_t expect = 0;
    for (size_t i = 0; i < PEND_SIZE; i++)
        expect += s->pend[i].seq1 != 0;
    json_object_set_new(o, "unanswered_requests", rt_json_u64(expect + s->pend_evicted));
    json_object_set_new(o, "keys_unresolved", rt_json_u64(s->keys_unresolved));
    json_object_set_new(o, "values_unresolved", rt_json_u64(s->values_unresolved));

    json_t *g = json_object();
    json_object_set_new(g, "count", rt_json_u64(s->gaps));
    json_object_set_new(g, "bytes_to_server", rt_json_u64(s->gap_bytes[0]));
    json_object_set_new(g, "bytes_to_client", rt_json_u64(s->gap_bytes[1]));
    json_object_set_new(o, "gaps", g);
    json_t *st = json_object();
    json_object_set_new(st, "packets", rt_json_u64(s->stats.packets));
    json_object_set_new(st, "bytes", rt_json_u64(s->stats.bytes));
    json_object_set_new(st, "kernel_drops", rt_json_u64(s->stats.kernel_drops));
    json_object_set_new(st, "iface_drops", rt_json_u64(s->stats.iface_drops));
    json_object_set_new(st, "flows_dropped", rt_json_u64(s->stats.flows_dropped));
    json_object_set_new(st, "bytes_dropped", rt_json_u64(s->stats.bytes_dropped));
    json_object_set_new(o, "capture", st);
    json_object_set_new(o, "damage", damage ? json_string(damage) : json_null());
    json_object_set_new(o, "interrupted", json_boolean(interrupted));
    return o;
}

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

static void dist_row(const char *name, const struct rt_hist *h, int time)
{
    char a[5][32];
    uint64_t v[4] = {rt_hist_percentile(h, 50), rt_hist_percentile(h, 90),
                     rt_hist_percentile(h, 99), rt_hist_max(h)};
    if (time) {
        for (int i = 0; i < 4; i++)
            fmt_ns(v[i], a[i], sizeof a[i]);
        fmt_ns((uint64_t)rt_hist_mean(h), a[4], sizeof a[4]);
    } else {
        for (int i = 0; i < 4; i++)
            snprintf(a[i], sizeof a[i], "%llu", (unsigned long long)v[i]);
        snprintf(a[4], sizeof a[4], "%.1f", rt_hist_mean(h));
    }
    printf("  %-22s %12llu %10s %10s %10s %10s %10s\n", name, (unsigned long long)rt_hist_count(h),
           a[4], a[0], a[1], a[2], a[3]);
}

static void print_table(const struct st *s, const char *path)
{
    char a[64], b[64];
    printf("%-14s %s\n", "file", path);
    if (s->have_ts) {
        printf("%-14s %s\n", "start", rt_fmt_time(s->ts_min, a, sizeof a));
        printf("%-14s %s\n", "end", rt_fmt_time(s->ts_max, a, sizeof a));
    }
    printf("%-14s %.3f s\n", "duration", (double)(s->ts_max - s->ts_min) / 1e9);
    printf("%-14s %llu\n", "events", (unsigned long long)s->events);
    uint64_t mn, mx;
    double mean;
    rate_stats(s, &mn, &mean, &mx);
    printf("%-14s %llu (per second: min %llu, mean %.1f, max %llu over %zu s)\n", "requests",
           (unsigned long long)s->requests, (unsigned long long)mn, mean, (unsigned long long)mx,
           s->rate.len);
    if (s->malformed)
        printf("%-14s %llu requests the server could not parse (\"(malformed)\" below)\n",
               "malformed", (unsigned long long)s->malformed);
    printf("%-14s %llu (%llu unpaired), pushes %llu\n", "replies", (unsigned long long)s->replies,
           (unsigned long long)(s->unpaired + s->pend_lost), (unsigned long long)s->pushes);
    printf("%-14s read %llu, write %llu, other %llu\n", "classes",
           (unsigned long long)s->classes[0], (unsigned long long)s->classes[1],
           (unsigned long long)s->classes[2]);
    printf("%-14s %llu (closed %llu, open at end %llu, mid-stream %llu, TLS %llu, without open "
           "%llu)\n",
           "connections", (unsigned long long)s->nconn, (unsigned long long)s->closed,
           (unsigned long long)s->open_at_end, (unsigned long long)s->midstream,
           (unsigned long long)s->tls, (unsigned long long)s->without_open);
    printf("%-14s", "databases");
    int any = 0;
    for (unsigned d = 0; d < DB_DIRECT; d++)
        if (s->dbs[d]) {
            printf("%s db%u %llu", any ? "," : "", d, (unsigned long long)s->dbs[d]);
            any = 1;
        }
    if (s->dbs_over)
        printf("%s db>255 %llu", any ? "," : "", (unsigned long long)s->dbs_over);
    printf("\n%-14s RESP2 %llu, RESP3 %llu", "protocol", (unsigned long long)s->proto[0],
           (unsigned long long)s->proto[1]);
    if (s->proto[2])
        printf(", other %llu", (unsigned long long)s->proto[2]);
    printf("\n%-14s %llu", "errors", (unsigned long long)s->errors);
    any = 0;
    for (size_t i = 0; i < EPFX_MAX * 2; i++)
        if (s->epfx[i].len) {
            printf("%s", any ? ", " : " (");
            print_name(s->epfx[i].name, s->epfx[i].len, 0);
            printf(" %llu", (unsigned long long)s->epfx[i].count);
            any = 1;
        }
    if (s->epfx_other) {
        printf("%s(other) %llu", any ? ", " : " (", (unsigned long long)s->epfx_other);
        any = 1;
    }
    printf("%s\n", any ? ")" : "");
    printf("%-14s", "reply types");
    any = 0;
    for (unsigned t = 0; t < 256; t++)
        if (s->rtypes[t]) {
            printf("%s %s %llu", any ? "," : "", trace_reply_type_name(t),
                   (unsigned long long)s->rtypes[t]);
            any = 1;
        }
    printf("\n%-14s %llu (%s to server, %s to client)\n", "gaps", (unsigned long long)s->gaps,
           rt_fmt_bytes(s->gap_bytes[0], a, sizeof a), rt_fmt_bytes(s->gap_bytes[1], b, sizeof b));
    printf("%-14s kernel %llu, interface %llu, flows %llu, bytes %llu\n", "drops",
           (unsigned long long)s->stats.kernel_drops, (unsigned long long)s->stats.iface_drops,
           (unsigned long long)s->stats.flows_dropped, (unsigned long long)s->stats.bytes_dropped);

    printf("\ndistributions\n  %-22s %12s %10s %10s %10s %10s %10s\n", "", "count", "mean", "p50",
           "p90", "p99", "max");
    dist_row("key size (bytes)", s->key_size, 0);
    dist_row("value size (bytes)", s->value_size, 0);
    dist_row("reply size (bytes)", s->reply_size, 0);
    dist_row("pipeline depth", s->depth, 0);
    dist_row("requests/connection", s->conn_reqs, 0);
    dist_row("connection lifetime", s->lifetime, 1);
    dist_row("latency", s->lat, 1);

    size_t n;
    uint32_t *v = sorted_cmds(s, &n);
    printf("\ncommands\n  %-22s %12s %7s %-6s %8s %10s %10s %10s %10s\n", "command", "count",
           "share", "class", "errors", "p50", "p90", "p99", "max");
    for (size_t k = 0; k < n; k++) {
        const struct cstat *cs = &s->cs[v[k]];
        cmd_name_print(s, v[k]);
        printf(" %12llu %6.2f%% %-6s %8llu", (unsigned long long)cs->count,
               100.0 * (double)cs->count / (double)s->requests, class_name(s, v[k]),
               (unsigned long long)cs->errors);
        if (cs->lat) {
            char p[4][32];
            fmt_ns(rt_hist_percentile(cs->lat, 50), p[0], sizeof p[0]);
            fmt_ns(rt_hist_percentile(cs->lat, 90), p[1], sizeof p[1]);
            fmt_ns(rt_hist_percentile(cs->lat, 99), p[2], sizeof p[2]);
            fmt_ns(rt_hist_max(cs->lat), p[3], sizeof p[3]);
            printf(" %10s %10s %10s %10s\n", p[0], p[1], p[2], p[3]);
        } else {
            printf(" %10s %10s %10s %10s\n", "-", "-", "-", "-");
        }
    }
    free(v);
}

/* ---- the pass as a whole ------------------------------------------------------------------ */

static struct st *stat_new(void)
{
    struct st *s = xcalloc(1, sizeof *s);
    s->ncmd = rt_cmd_count();
    s->table = rt_cmd_at(0);
    s->cs = xcalloc(CS_COUNT(s), sizeof *s->cs);
    s->pend = xcalloc(PEND_SIZE, sizeof *s->pend);
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
    return s;
}

static void stat_free(struct st *s)
{
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
    free(s->pend);
    free(s->conns);
    free(s->pos);
    free(s->rate.v);
    free(s->errs.v);
    free(s);
}

/* Reads every event of `r` into `s`, or until Ctrl-C (ps->interrupted). @return 0 at the end
 * of the trace or when interrupted, -1 on an error (err). */
static int stat_pass(struct st *s, struct trace_reader *r, struct rt_pass *ps, struct rt_err *err)
{
    struct trace_event ev;
    int rc;
    while ((rc = trace_reader_next(r, &ev, err)) == 1) {
        on_event(s, &ev);
        if (!(s->events % RT_PASS_EVERY) && rt_pass_check(ps, r, s->events))
            break;
    }
    finish_conns(s);
    if (ps)
        ps->events = s->events;
    return rc < 0 ? -1 : 0;
}

/* The damage message of a pass that returned `rc` (NULL when none). */
static const char *pass_damage(struct trace_reader *r, int rc, const struct rt_err *err,
                               struct trace_damage *dmg)
{
    trace_reader_damage(r, dmg);
    return rc < 0 ? err->msg : dmg->first_offset != UINT64_MAX ? dmg->msg : NULL;
}

json_t *rt_stat_json_pass(const char *path, int salvage, struct rt_pass *ps, struct rt_err *err)
{
    struct trace_reader_opts ro = {.salvage = salvage};
    struct trace_reader *r = trace_reader_open(path, &ro, err);
    if (!r)
        return NULL;
    struct st *s = stat_new();
    int rc = stat_pass(s, r, ps, err);
    struct trace_damage dmg;
    const char *damage = pass_damage(r, rc, err, &dmg);
    json_t *o = stat_json(s, path, damage, ps && ps->interrupted);
    if (rc >= 0 && damage)
        rt_err_set(err, RT_ECORRUPT, "%s", dmg.msg);
    trace_reader_close(r);
    stat_free(s);
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
    struct trace_reader *r = rt_open_trace("stat", path, salvage);
    if (!r)
        return RT_EXIT_FAIL;

    rt_catch_signals();
    struct rt_progress prog;
    rt_progress_init(&prog, quiet);
    struct rt_pass ps = {.progress = &prog, .label = "stat"};
    struct st *s = stat_new();
    struct rt_err err = {0};
    int rc = stat_pass(s, r, &ps, &err);
    rt_progress_done(&prog);
    struct trace_damage dmg;
    const char *damage = pass_damage(r, rc, &err, &dmg);
    int status = (rc < 0 || dmg.first_offset != UINT64_MAX) ? RT_EXIT_FAIL : RT_EXIT_OK;
    if (json_path && rt_json_write("stat", stat_json(s, path, damage, ps.interrupted),
                                   json_path) < 0)
        status = RT_EXIT_FAIL;
    if (!json_path || strcmp(json_path, "-")) {
        print_table(s, path);
        fflush(stdout);
    }
    if (rc < 0)
        fprintf(stderr, "resptrace stat: %s\n", err.msg);
    else if (dmg.first_offset != UINT64_MAX)
        fprintf(stderr, "resptrace stat: %s (salvaged: %llu damaged chunks skipped)\n", dmg.msg,
                (unsigned long long)dmg.chunks_skipped);
    if (ps.interrupted) {
        fprintf(stderr,
                "resptrace stat: interrupted: the summary covers the first %llu events "
                "(to offset %llu of %llu bytes)\n",
                (unsigned long long)s->events, (unsigned long long)trace_reader_offset(r),
                (unsigned long long)trace_reader_file_size(r));
        status = RT_EXIT_INTERRUPTED;
    }
    trace_reader_close(r);
    stat_free(s);
    return status;
}
