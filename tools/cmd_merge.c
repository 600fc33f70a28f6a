/* cmd_merge.c: `resptrace merge`: a time-ordered k-way merge of traces recorded on several
 * hosts into one workload, streaming with one event per source in memory. */
#include "tools.h"
#include "trace_edit.h"

#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void usage_merge(FILE *out)
{
    fprintf(out,
            "usage: resptrace merge A.rtrace B.rtrace ... -o ALL.rtrace\n"
            "                       [--clock-offset HOST=SECONDS]... [--same-conns] [--json]\n"
            "                       [--salvage]\n\n"
            "Merges traces into one, in time order (a k-way merge holding one event per source:\n"
            "memory does not grow with the traces' length). Events with equal times keep the\n"
            "order of the sources on the command line; each source's own order is kept.\n\n"
            "  -o, --output FILE         the merged trace (required)\n"
            "  --clock-offset HOST=S     add S seconds (may be negative, fractions allowed) to\n"
            "                            every time of the sources whose capture.host metadata,\n"
            "                            file name, or file name without directory or extension\n"
            "                            is HOST (repeatable; a HOST that names no source is an\n"
            "                            error)\n"
            "  --same-conns              the sources are pieces of one capture (slices): keep\n"
            "                            their connection ids as they are\n"
            "  --json                    the summary as one JSON object\n"
            "  --salvage                 skip damaged chunks of the sources\n\n"
            "Connection ids: source N (1-based, command-line order) connection C becomes\n"
            "N * 2^48 + C (C must be below 2^48), so ids stay distinct and the source of a\n"
            "connection is id >> 48; trace-wide events keep id 0. Requests are renumbered in the\n"
            "merged order and every reply keeps pointing at its request (a reply arriving more\n"
            "than about a million requests after its request is written unpaired and counted).\n"
            "STATS events carry the sum over the sources of their latest counters (with\n"
            "--same-conns: the largest). Metadata: every key K of source N is kept as\n"
            "source.N.K, with source.N.file, source.N.clock_offset_ns and source.N.conn_base;\n"
            "merge.sources holds N; redaction.auth and redaction.values are \"on\" when they are on\n"
            "in every source.\n\n"
            "Counted in the summary: events, requests and replies written per source, and the\n"
            "replies written unpaired because their request was no longer remembered.\n"
            "Exit status: 0; 1 when a source cannot be read or is damaged (what was read is\n"
            "merged), or the output cannot be written; 2 for a bad command line.\n\n"
            "usage: resptrace merge RUN1.json RUN2.json ... -o RUN.json [--label TEXT] [--json]\n\n"
            "Merges the results of replays run side by side (`resptrace replay --json`, e.g. the\n"
            "parts of a multi-host replay, --part I/N) into one result. Every latency object\n"
            "(overall, per command, per shard) is rebuilt from the sum of the parts' histograms\n"
            "(\"hist\"), so its p50/p90/p99/p999/max/mean/count are exactly those of one replay\n"
            "that had measured every request; a part without \"hist\" is refused. Counts (ops,\n"
            "errors, skipped, divergence, connections, redirections, ...) are summed, per command\n"
            "and per shard (shards matched by node address); duration_s and trace_span_s are the\n"
            "largest part's, ops_per_s is the summed ops over that duration. The timeline is\n"
            "merged second by second (the N-th entry of every part): ops and errors summed, t_s\n"
            "and max_us the largest; its p50_us and p99_us are the LARGEST of the parts' (a\n"
            "bound, not exact: the result files keep no per-second histograms). disruption: from\n"
            "the earliest start to the latest end of the parts' windows, errors summed. Booleans\n"
            "(stopped, lag_exceeded, cluster) are true when true in any part; other values are\n"
            "kept when every part has the same, else listed per part. \"parts\" lists the parts'\n"
            "labels (else targets), \"part_files\" their files; \"label\" is --label, else the\n"
            "parts' common label. -o - writes the result to stdout (the summary to stderr).\n"
            "Exit status: 0; 1 when a part cannot be read, is not a replay result or has no\n"
            "histograms, or the output cannot be written; 2 for a bad command line.\n");
}

#define CONN_SHIFT 48

struct src {
    const char *path;
    struct trace_reader *r;
    struct trace_event ev; /* the head event, borrowed from r */
    int has;               /* ev holds an event not yet written */
    int64_t off_ns;
    uint64_t key;          /* ev's time with the offset applied */
    uint64_t events, requests, replies;
    struct trace_stats stats;
    int damaged;
    char *init_meta; /* the metadata at open, as "k=v\n" lines, to find later changes */
};

struct offset_opt {
    const char *host;
    int64_t ns;
    int used;
};

static int parse_offset(const char *s, struct offset_opt *o)
{
    const char *eq = strrchr(s, '=');
    if (!eq || eq == s)
        return -1;
    char *end;
    double sec = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || sec > 1e9 || sec < -1e9)
        return -1;
    size_t hl = (size_t)(eq - s);
    char *h = malloc(hl + 1);
    if (!h)
        return -1;
    memcpy(h, s, hl);
    h[hl] = 0;
    o->host = h;
    o->ns = (int64_t)(sec * 1e9 + (sec < 0 ? -0.5 : 0.5));
    o->used = 0;
    return 0;
}

static int host_matches(const char *host, const char *path, struct trace_reader *r)
{
    size_t vl;
    const char *h = trace_reader_meta_get(r, "capture.host", &vl);
    if (h && strlen(host) == vl && memcmp(h, host, vl) == 0)
        return 1;
    if (!strcmp(host, path))
        return 1;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strcmp(host, base))
        return 1;
    const char *dot = strrchr(base, '.');
    return dot && (size_t)(dot - base) == strlen(host) && !memcmp(base, host, strlen(host));
}

/* ---- the heap of sources, by (time, source index) ---- */

static int before(const struct src *s, int a, int b)
{
    return s[a].key < s[b].key || (s[a].key == s[b].key && a < b);
}

static void heap_down(int *h, int n, const struct src *s, int i)
{
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < n && before(s, h[l], h[m]))
            m = l;
        if (l + 1 < n && before(s, h[l + 1], h[m]))
            m = l + 1;
        if (m == i)
            return;
        int t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(int *h, const struct src *s, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!before(s, h[i], h[p]))
            return;
        int t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* Reads the next event of source i. @return 1 with s->has set, 0 at its end (or damage). */
static int advance(struct src *s, int quiet_cmd)
{
    struct rt_err err = {0};
    int rc = trace_reader_next(s->r, &s->ev, &err);
    if (rc == 1) {
        int64_t t = (int64_t)s->ev.ts + s->off_ns;
        s->key = t < 0 ? 0 : (uint64_t)t;
        s->has = 1;
        return 1;
    }
    s->has = 0;
    if (rc < 0) {
        if (!quiet_cmd)
            fprintf(stderr, "resptrace merge: %s\n", err.msg);
        s->damaged = 1;
    } else {
        struct trace_damage d;
        trace_reader_damage(s->r, &d);
        if (d.first_offset != UINT64_MAX) {
            fprintf(stderr, "resptrace merge: %s (salvaged: %llu damaged chunks skipped)\n",
                    d.msg, (unsigned long long)d.chunks_skipped);
            s->damaged = 1;
        }
    }
    return 0;
}

/* ---- metadata ---- */

struct metabuf {
    struct trace_meta_kv *kv;
    size_t n, cap;
    char **owned;
    size_t nowned;
};

static int mb_add(struct metabuf *m, const char *key, const char *val, size_t vlen)
{
    if (m->n == m->cap) {
        size_t c = m->cap ? m->cap * 2 : 32;
        void *p = realloc(m->kv, c * sizeof *m->kv);
        if (!p)
            return -1;
        m->kv = p;
        m->cap = c;
        p = realloc(m->owned, 2 * c * sizeof *m->owned);
        if (!p)
            return -1;
        m->owned = p;
    }
    char *k = strdup(key), *v = malloc(vlen + 1);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    memcpy(v, val, vlen);
    v[vlen] = 0;
    m->owned[m->nowned++] = k;
    m->owned[m->nowned++] = v;
    m->kv[m->n++] = (struct trace_meta_kv){k, v, vlen};
    return 0;
}

static int mb_addf(struct metabuf *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int mb_addf(struct metabuf *m, const char *key, const char *fmt, ...)
{
    char v[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    return mb_add(m, key, v, strlen(v));
}

static void mb_free(struct metabuf *m)
{
    for (size_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->kv);
}

/* A source's metadata as "key\0value\n" records, to compare the end of the read with. */
static char *meta_snapshot(struct trace_reader *r)
{
    size_t n, len = 0;
    const struct trace_meta_kv *kv = trace_reader_meta(r, &n);
    for (size_t i = 0; i < n; i++)
        len += strlen(kv[i].key) + kv[i].vlen + 24;
    char *s = malloc(len + 1), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        p += sprintf(p, "%s=%zu:", kv[i].key, kv[i].vlen);
        memcpy(p, kv[i].val, kv[i].vlen);
        p += kv[i].vlen;
        *p++ = '\n';
    }
    *p = 0;
    return s;
}

static int meta_changed(const char *snap, const struct trace_meta_kv *kv)
{
    char head[1024];
    int hl = snprintf(head, sizeof head, "%s=%zu:", kv->key, kv->vlen);
    if (hl < 0 || (size_t)hl >= sizeof head)
        return 1;
    for (const char *p = snap; p && *p;) {
        if (!strncmp(p, head, (size_t)hl) && (p == snap || p[-1] == '\n') &&
            !memcmp(p + hl, kv->val, kv->vlen) && p[hl + kv->vlen] == '\n')
            return 0;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 1;
}

static int redaction_all_on(struct src *s, int n, const char *key)
{
    for (int i = 0; i < n; i++) {
        size_t vl;
        const char *v = trace_reader_meta_get(s[i].r, key, &vl);
        if (!v || vl != 2 || memcmp(v, "on", 2))
            return 0;
    }
    return 1;
}

static int build_meta(struct metabuf *m, struct src *s, int n, int same_conns)
{
    if (mb_add(m, "tool.version", "resptrace " RT_VERSION_STRING,
               strlen("resptrace " RT_VERSION_STRING)) ||
        mb_addf(m, "source", "resptrace merge of %d traces", n) ||
        mb_addf(m, "merge.sources", "%d", n) ||
        mb_addf(m, "merge.conn_ids", "%s", same_conns ? "kept" : "source << 48 | conn"))
        return -1;
    if (redaction_all_on(s, n, "redaction.auth") && mb_add(m, "redaction.auth", "on", 2))
        return -1;
    if (redaction_all_on(s, n, "redaction.values") && mb_add(m, "redaction.values", "on", 2))
        return -1;
    for (int i = 0; i < n; i++) {
        char k[1100];
        snprintf(k, sizeof k, "source.%d.file", i + 1);
        if (mb_add(m, k, s[i].path, strlen(s[i].path)))
            return -1;
        snprintf(k, sizeof k, "source.%d.clock_offset_ns", i + 1);
        if (mb_addf(m, k, "%" PRId64, s[i].off_ns))
            return -1;
        snprintf(k, sizeof k, "source.%d.conn_base", i + 1);
        if (mb_addf(m, k, "%" PRIu64, same_conns ? 0 : (uint64_t)(i + 1) << CONN_SHIFT))
            return -1;
        size_t nm;
        const struct trace_meta_kv *kv = trace_reader_meta(s[i].r, &nm);
        for (size_t j = 0; j < nm; j++) {
            snprintf(k, sizeof k, "source.%d.%s", i + 1, kv[j].key);
            if (mb_add(m, k, kv[j].val, kv[j].vlen))
                return -1;
        }
    }
    return 0;
}

/* ---- output ---- */

static void print_summary(int json, const char *out, struct src *s, int n, uint64_t events,
                          uint64_t requests, uint64_t replies, uint64_t unpaired)
{
    if (json) {
        json_t *o = json_object(), *a = json_array();
        json_object_set_new(o, "output", json_string(out));
        for (int i = 0; i < n; i++) {
            json_t *e = json_object();
            size_t vl;
            const char *h = trace_reader_meta_get(s[i].r, "capture.host", &vl);
            json_object_set_new(e, "file", json_string(s[i].path));
            json_object_set_new(e, "host", h ? json_stringn(h, vl) : json_null());
            json_object_set_new(e, "clock_offset_s", json_real((double)s[i].off_ns / 1e9));
            json_object_set_new(e, "events", rt_json_u64(s[i].events));
            json_object_set_new(e, "requests", rt_json_u64(s[i].requests));
            json_object_set_new(e, "replies", rt_json_u64(s[i].replies));
            json_object_set_new(e, "damaged", json_boolean(s[i].damaged));
            json_array_append_new(a, e);
        }
        json_object_set_new(o, "sources", a);
        json_object_set_new(o, "events", rt_json_u64(events));
        json_object_set_new(o, "requests", rt_json_u64(requests));
        json_object_set_new(o, "replies", rt_json_u64(replies));
        json_object_set_new(o, "replies_unpaired_by_merge", rt_json_u64(unpaired));
        rt_print_json(stdout, o);
        return;
    }
    printf("%-3s %-40s %-20s %10s %12s %12s %12s\n", "#", "source", "host", "offset s", "events",
           "requests", "replies");
    for (int i = 0; i < n; i++) {
        size_t vl;
        const char *h = trace_reader_meta_get(s[i].r, "capture.host", &vl);
        printf("%-3d %-40s %-20.*s %10.3f %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "%s\n", i + 1,
               s[i].path, h ? (int)vl : 1, h ? h : "-", (double)s[i].off_ns / 1e9, s[i].events,
               s[i].requests, s[i].replies, s[i].damaged ? "  (damaged)" : "");
    }
    printf("%-3s %-40s %-20s %10s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n", "", out, "merged",
           "", events, requests, replies);
    if (unpaired)
        printf("%" PRIu64 " replies written unpaired: their request was too far back\n", unpaired);
}

int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"clock-offset", required_argument, NULL, 'c'},
                                         {"same-conns", no_argument, NULL, 'S'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"label", required_argument, NULL, 'L'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *label = NULL;
    struct offset_opt *offs = NULL;
    int noffs = 0, json = 0, salvage = 0, same_conns = 0, c, status = RT_EXIT_USAGE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'c': {
            void *p = realloc(offs, (size_t)(noffs + 1) * sizeof *offs);
            if (!p) {
                free(offs);
                return RT_EXIT_FAIL;
            }
            offs = p;
            if (parse_offset(optarg, &offs[noffs]) < 0) {
                fprintf(stderr, "resptrace merge: bad --clock-offset '%s' (HOST=SECONDS)\n",
                        optarg);
                goto usage_out;
            }
            noffs++;
            break;
        }
        case 'S': same_conns = 1; break;
        case 'j': json = 1; break;
        case 'L': label = optarg; break;
        case 's': salvage = 1; break;
        case 'h':
            usage_merge(stdout);
            status = RT_EXIT_OK;
            goto usage_out;
        default: usage_merge(stderr); goto usage_out;
        }
    }
    int n = argc - optind;
    if (n < 1 || !out) {
        if (!out && n >= 1)
            fprintf(stderr, "resptrace merge: give the output with -o FILE\n");
        else
            usage_merge(stderr);
        goto usage_out;
    }
    int njson = 0;
    for (int i = 0; i < n; i++)
        njson += rt_file_is_json(argv[optind + i]);
    if (njson == n) {
        if (noffs || same_conns || salvage) {
            fprintf(stderr, "resptrace merge: --clock-offset, --same-conns and --salvage are "
                            "for traces, not replay results (JSON)\n");
            goto usage_out;
        }
        status = rt_merge_runs(argv + optind, (size_t)n, out, label, json);
        goto usage_out;
    }
    if (njson) {
        fprintf(stderr, "resptrace merge: cannot merge replay results (JSON) with traces\n");
        goto usage_out;
    }
    if (label) {
        fprintf(stderr, "resptrace merge: --label is for replay results (JSON), not traces\n");
        goto usage_out;
    }
    if (n >= (1 << (64 - CONN_SHIFT)) - 1) {
        fprintf(stderr, "resptrace merge: at most %d sources\n", (1 << (64 - CONN_SHIFT)) - 2);
        goto usage_out;
    }

    struct src *s = calloc((size_t)n, sizeof *s);
    int *heap = calloc((size_t)n, sizeof *heap);
    struct seqmap *map = seqmap_new();
    struct trace_writer *w = NULL;
    struct metabuf mb = {0};
    struct rt_err err = {0};
    status = RT_EXIT_FAIL;
    if (!s || !heap || !map) {
        fprintf(stderr, "resptrace merge: out of memory\n");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        s[i].path = argv[optind + i];
        s[i].r = rt_open_trace("merge", s[i].path, salvage);
        if (!s[i].r)
            goto done;
        s[i].init_meta = meta_snapshot(s[i].r);
    }
    for (int k = 0; k < noffs; k++) {
        for (int i = 0; i < n; i++)
            if (host_matches(offs[k].host, s[i].path, s[i].r)) {
                s[i].off_ns = offs[k].ns;
                offs[k].used = 1;
            }
        if (!offs[k].used) {
            fprintf(stderr,
                    "resptrace merge: --clock-offset %s: no source has that capture.host or "
                    "file name\n",
                    offs[k].host);
            status = RT_EXIT_USAGE;
            goto done;
        }
    }
    if (build_meta(&mb, s, n, same_conns) < 0) {
        fprintf(stderr, "resptrace merge: out of memory\n");
        goto done;
    }
    w = trace_writer_open(out, mb.kv, mb.n, NULL, &err);
    if (!w) {
        fprintf(stderr, "resptrace merge: %s\n", err.msg);
        goto done;
    }

    int hn = 0;
    for (int i = 0; i < n; i++)
        if (advance(&s[i], 0)) {
            heap[hn] = i;
            heap_up(heap, s, hn++);
        }
    uint64_t events = 0, requests = 0, replies = 0, unpaired = 0;
    int wfail = 0;
    while (hn > 0 && !wfail) {
        int i = heap[0];
        struct src *x = &s[i];
        struct trace_event *ev = &x->ev;
        uint64_t conn = ev->conn;
        ev->ts = x->key;
        if (!same_conns && conn != 0) {
            if (conn >> CONN_SHIFT) {
                fprintf(stderr,
                        "resptrace merge: %s: connection id %" PRIu64
                        " is 2^48 or more (a merged trace?): cannot keep ids distinct; use "
                        "--same-conns if the sources share their ids\n",
                        x->path, conn);
                goto done;
            }
            ev->conn = ((uint64_t)(i + 1) << CONN_SHIFT) | conn;
        }
        uint64_t old_seq = 0, nv;
        int put = 0;
        switch (ev->type) {
        case TRACE_EV_REQUEST:
            old_seq = ev->u.req.seq;
            put = !(ev->u.req.flags & TRACE_REQ_NOREPLY);
            x->requests++;
            break;
        case TRACE_EV_REPLY:
            x->replies++;
            if (ev->u.reply.req_seq != TRACE_SEQ_NONE) {
                uint64_t key = ((uint64_t)i << CONN_SHIFT) | ev->u.reply.req_seq;
                if (ev->u.reply.req_seq >> CONN_SHIFT || !seqmap_take(map, key, &nv)) {
                    ev->u.reply.req_seq = TRACE_SEQ_NONE;
                    unpaired++;
                } else {
                    ev->u.reply.req_seq = nv;
                }
            }
            break;
        case TRACE_EV_STATS: {
            x->stats = ev->u.stats;
            struct trace_stats t = {0};
            for (int j = 0; j < n; j++) {
                const struct trace_stats *y = &s[j].stats;
#define ACC(f) t.f = same_conns ? (t.f > y->f ? t.f : y->f) : t.f + y->f
                ACC(packets);
                ACC(bytes);
                ACC(kernel_drops);
                ACC(iface_drops);
                ACC(flows_dropped);
                ACC(bytes_dropped);
#undef ACC
            }
            ev->u.stats = t;
            break;
        }
        default: break;
        }
        if (trace_writer_add(w, ev, &err) < 0) {
            fprintf(stderr, "resptrace merge: %s\n", err.msg);
            wfail = 1;
            break;
        }
        if (put && old_seq >> CONN_SHIFT == 0 &&
            seqmap_put(map, ((uint64_t)i << CONN_SHIFT) | old_seq, ev->u.req.seq) < 0) {
            fprintf(stderr, "resptrace merge: out of memory\n");
            wfail = 1;
            break;
        }
        x->events++;
        events++;
        requests += ev->type == TRACE_EV_REQUEST;
        replies += ev->type == TRACE_EV_REPLY;
        if (advance(x, 0)) {
            heap_down(heap, hn, s, 0);
        } else {
            heap[0] = heap[--hn];
            heap_down(heap, hn, s, 0);
        }
    }
    if (wfail)
        goto done;
    /* metadata blocks a source added during its capture (read between chunks) */
    struct metabuf late = {0};
    for (int i = 0; i < n; i++) {
        size_t nm;
        const struct trace_meta_kv *kv = trace_reader_meta(s[i].r, &nm);
        for (size_t j = 0; j < nm; j++)
            if (meta_changed(s[i].init_meta, &kv[j])) {
                char k[1100];
                snprintf(k, sizeof k, "source.%d.%s", i + 1, kv[j].key);
                if (mb_add(&late, k, kv[j].val, kv[j].vlen) < 0) {
                    mb_free(&late);
                    fprintf(stderr, "resptrace merge: out of memory\n");
                    goto done;
                }
            }
    }
    int lrc = late.n ? trace_writer_add_meta(w, late.kv, late.n, &err) : 0;
    mb_free(&late);
    if (lrc < 0) {
        fprintf(stderr, "resptrace merge: %s\n", err.msg);
        goto done;
    }
    int crc = trace_writer_close(w, &err);
    w = NULL;
    if (crc < 0) {
        fprintf(stderr, "resptrace merge: %s\n", err.msg);
        goto done;
    }
    print_summary(json, out, s, n, events, requests, replies, unpaired);
    status = RT_EXIT_OK;
    for (int i = 0; i < n; i++)
        if (s[i].damaged)
            status = RT_EXIT_FAIL;
done:
    if (w)
        trace_writer_close(w, NULL);
    if (s)
        for (int i = 0; i < n; i++) {
            trace_reader_close(s[i].r);
            free(s[i].init_meta);
        }
    free(s);
    free(heap);
    seqmap_free(map);
    mb_free(&mb);
usage_out:
    for (int k = 0; k < noffs; k++)
        free((char *)offs[k].host);
    free(offs);
    return status;
}
