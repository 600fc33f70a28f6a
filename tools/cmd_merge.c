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
    fputs("usage: resptrace merge A.rtrace B.rtrace ... -o ALL.rtrace\n"
          "                       [--clock-offset HOST=SECONDS]... [--same-conns]\n"
          "                       [--encoding N] [--json[=FILE]] [-q] [--salvage]\n"
          "\n"
          "Merges traces into one, in time order (a k-way merge holding one event per\n"
          "source: memory does not grow with the traces' length). Events with equal\n"
          "times keep the order of the sources on the command line; each source's own\n"
          "order is kept.\n"
          "\n"
          "  -o, --output FILE         the merged trace (required; \"-\": stdout), written\n"
          "                            under a temporary name and renamed when complete;\n"
          "                            it may not be a source (nor a link to one)\n"
          "  --clock-offset HOST=S     add S seconds (may be negative, fractions\n"
          "                            allowed) to every time of the sources whose\n"
          "                            capture.host metadata, file name, or file name\n"
          "                            without directory or extension is HOST\n"
          "                            (repeatable; a HOST that names no source is an\n"
          "                            error)\n"
          "  --same-conns              the sources are pieces of one capture (slices):\n"
          "                            keep their connection ids as they are\n"
          "  --encoding N              chunk encoding of the merged trace: 3 (format\n"
          "                            1.3, the default), 2 for resptrace 1.2 readers,\n"
          "                            1 for 1.0 and 1.1 readers\n"
          "  --json[=FILE]             the summary as one JSON document on stdout (the\n"
          "                            text then goes to stderr), or into FILE\n"
          "  -q, --quiet               no status line on a terminal\n"
          "  --salvage                 skip damaged chunks of the sources\n"
          "\n"
          "Connection ids: source N (1-based, command-line order) connection C becomes\n"
          "N * 2^48 + C (C must be below 2^48), so ids stay distinct and the source of a\n"
          "connection is id >> 48; trace-wide events keep id 0. Requests are renumbered\n"
          "in the merged order and every reply keeps pointing at its request (a reply\n"
          "arriving more than about a million requests after its request is written\n"
          "unpaired and counted). STATS events carry the sum over the sources of their\n"
          "latest counters (with --same-conns: the largest). Metadata: every key K of\n"
          "source N is kept as source.N.K, with source.N.file, source.N.clock_offset_ns\n"
          "and source.N.conn_base; merge.sources holds N; redaction.auth and\n"
          "redaction.values are \"on\" when they are on in every source.\n"
          "\n"
          "Counted in the summary: events, requests and replies written per source, and\n"
          "the replies written unpaired because their request was no longer remembered.\n"
          "Ctrl-C stops the merge; OUT is closed, complete up to there.\n"
          "Exit status: 0; 1 when a source cannot be read or is damaged (what was read is\n"
          "merged), or the output cannot be written; 2 for a bad command line; 130\n"
          "interrupted.\n"
          "\n"
          "usage: resptrace merge RUN1.json RUN2.json ... -o RUN.json [--label TEXT]\n"
          "                       [--json[=FILE]]\n"
          "\n"
          "Merges the results of replays run side by side (`resptrace replay --json`,\n"
          "e.g. the parts of a multi-host replay, --part I/N) into one result. Every\n"
          "latency object (overall, per command, per shard) is rebuilt from the sum of\n"
          "the parts' histograms (\"hist\"), so its p50/p90/p99/p999/max/mean/count are\n"
          "exactly those of one replay that had measured every request; a part without\n"
          "\"hist\" is refused. Counts (ops, errors, skipped, divergence, connections,\n"
          "redirections, ...) are summed, per command and per shard (shards matched by\n"
          "node address); duration_s and trace_span_s are the largest part's, ops_per_s\n"
          "is the summed ops over that duration. The timeline is merged second by second\n"
          "(the N-th entry of every part): ops and errors summed, t_s and max_us the\n"
          "largest; its p50_us and p99_us are the LARGEST of the parts' (a bound, not\n"
          "exact: the result files keep no per-second histograms). disruption: from the\n"
          "earliest start to the latest end of the parts' windows, errors summed.\n"
          "Booleans (stopped, lag_exceeded, cluster) are true when true in any part;\n"
          "other values are kept when every part has the same, else listed per part.\n"
          "\"parts\" lists the parts' labels (else targets), \"part_files\" their files;\n"
          "\"label\" is --label, else the parts' common label. -o - writes the result to\n"
          "stdout (the summary to stderr); RUN.json may not be one of the parts.\n"
          "--json prints the summary as one JSON document; --json=FILE writes it to FILE\n"
          "beside the text summary.\n"
          "Exit status: 0; 1 when a part cannot be read, is not a replay result or has no\n"
          "histograms, or the output cannot be written; 2 for a bad command line.\n",
          out);
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

struct totals {
    uint64_t events, requests, replies, unpaired;
    int interrupted;
};

static json_t *summary_json(const char *out, struct src *s, int n, const struct totals *t)
{
    json_t *o = rt_json_doc("merge"), *a = json_array();
    json_object_set_new(o, "output", json_string(out));
    for (int i = 0; i < n; i++) {
        json_t *e = json_object();
        size_t vl;
        const char *h = trace_reader_meta_get(s[i].r, "capture.host", &vl);
        json_object_set_new(e, "file", json_string(s[i].path));
        json_object_set_new(e, "host", h ? rt_json_bytes(h, vl) : json_null());
        json_object_set_new(e, "clock_offset_s", json_real((double)s[i].off_ns / 1e9));
        json_object_set_new(e, "events", rt_json_u64(s[i].events));
        json_object_set_new(e, "requests", rt_json_u64(s[i].requests));
        json_object_set_new(e, "replies", rt_json_u64(s[i].replies));
        json_object_set_new(e, "damaged", json_boolean(s[i].damaged));
        json_array_append_new(a, e);
    }
    json_object_set_new(o, "sources", a);
    json_object_set_new(o, "events", rt_json_u64(t->events));
    json_object_set_new(o, "requests", rt_json_u64(t->requests));
    json_object_set_new(o, "replies", rt_json_u64(t->replies));
    json_object_set_new(o, "replies_unpaired_by_merge", rt_json_u64(t->unpaired));
    json_object_set_new(o, "interrupted", json_boolean(t->interrupted));
    return o;
}

static void print_summary(FILE *f, const char *out, struct src *s, int n, const struct totals *t)
{
    fprintf(f, "%-3s %-40s %-20s %10s %12s %12s %12s\n", "#", "source", "host", "offset s",
            "events", "requests", "replies");
    for (int i = 0; i < n; i++) {
        size_t vl;
        const char *h = trace_reader_meta_get(s[i].r, "capture.host", &vl);
        char *hq = h ? edit_quoted(h, vl, 60) : NULL; /* the host as text: no raw escapes */
        fprintf(f, "%-3d %-40s %-20s %10.3f %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "%s\n", i + 1,
                s[i].path, hq ? hq : "-", (double)s[i].off_ns / 1e9, s[i].events, s[i].requests,
                s[i].replies, s[i].damaged ? "  (damaged)" : "");
        free(hq);
    }
    fprintf(f, "%-3s %-40s %-20s %10s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n", "", out,
            "merged", "", t->events, t->requests, t->replies);
    if (t->unpaired)
        fprintf(f, "%" PRIu64 " replies written unpaired: their request was too far back\n",
                t->unpaired);
}

/* The status line: the part of all the sources read so far. */
static void progress(struct rt_progress *pg, struct src *s, int n, uint64_t events)
{
    uint64_t off = 0, size = 0;
    for (int i = 0; i < n; i++) {
        off += trace_reader_offset(s[i].r);
        size += trace_reader_file_size(s[i].r);
    }
    edit_progress(pg, "merge", off, size, events, "events", NULL);
}

int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"clock-offset", required_argument, NULL, 'c'},
                                         {"same-conns", no_argument, NULL, 'S'},
                                         {"encoding", required_argument, NULL, 'E'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"label", required_argument, NULL, 'L'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *label = NULL, *json = NULL;
    struct offset_opt *offs = NULL;
    int noffs = 0, quiet = 0, salvage = 0, same_conns = 0, c, status = RT_EXIT_USAGE, enc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:q", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'c': {
            offs = rt_xrealloc("merge", offs, (size_t)(noffs + 1) * sizeof *offs);
            if (parse_offset(optarg, &offs[noffs]) < 0) {
                rt_usage_error("merge", "bad --clock-offset '%s' (HOST=SECONDS)", optarg);
                goto usage_out;
            }
            noffs++;
            break;
        }
        case 'S': same_conns = 1; break;
        case 'E':
            if (rt_opt_encoding("merge", optarg, &enc))
                goto usage_out;
            break;
        case 'j': json = optarg ? optarg : "-"; break;
        case 'q': quiet = 1; break;
        case 'L': label = optarg; break;
        case 's': salvage = 1; break;
        case 'h':
            usage_merge(stdout);
            status = RT_EXIT_OK;
            goto usage_out;
        default: edit_bad_option("merge", c, argv); goto usage_out;
        }
    }
    int n = argc - optind;
    if (n < 1) {
        rt_usage_error("merge", "give the traces (or replay results) to merge");
        goto usage_out;
    }
    if (!out) {
        rt_usage_error("merge", "give the output with -o FILE");
        goto usage_out;
    }
    if (edit_check_outputs("merge", out, json, (const char *const *)argv + optind, (size_t)n))
        goto usage_out;
    int njson = 0;
    for (int i = 0; i < n; i++)
        njson += rt_file_is_json(argv[optind + i]);
    if (njson == n) {
        if (noffs || same_conns || salvage || enc) {
            rt_usage_error("merge", "--clock-offset, --same-conns, --encoding and --salvage "
                                    "are for traces, not replay results (JSON)");
            goto usage_out;
        }
        status = rt_merge_runs(argv + optind, (size_t)n, out, label, json);
        goto usage_out;
    }
    if (njson) {
        rt_usage_error("merge", "cannot merge replay results (JSON) with traces");
        goto usage_out;
    }
    if (label) {
        rt_usage_error("merge", "--label is for replay results (JSON), not traces");
        goto usage_out;
    }
    if (n >= (1 << (64 - CONN_SHIFT)) - 1) {
        rt_usage_error("merge", "at most %d sources", (1 << (64 - CONN_SHIFT)) - 2);
        goto usage_out;
    }
    rt_catch_signals();

    struct src *s = calloc((size_t)n, sizeof *s);
    int *heap = calloc((size_t)n, sizeof *heap);
    struct seqmap *map = seqmap_new();
    struct trace_writer *w = NULL;
    struct rt_out o = {0};
    struct rt_progress pg;
    rt_progress_init(&pg, quiet);
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
            rt_usage_error("merge",
                           "--clock-offset %s: no source has that capture.host or file "
                           "name",
                           offs[k].host);
            status = RT_EXIT_USAGE;
            goto done;
        }
    }
    if (build_meta(&mb, s, n, same_conns) < 0) {
        fprintf(stderr, "resptrace merge: out of memory\n");
        goto done;
    }
    w = edit_writer_open("merge", &o, out, mb.kv, mb.n, enc);
    if (!w)
        goto done;

    int hn = 0;
    for (int i = 0; i < n; i++)
        if (advance(&s[i], 0)) {
            heap[hn] = i;
            heap_up(heap, s, hn++);
        }
    struct totals tt = {0};
    int wfail = 0;
    while (hn > 0 && !wfail && !rt_interrupted) {
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
                    tt.unpaired++;
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
        tt.events++;
        tt.requests += ev->type == TRACE_EV_REQUEST;
        tt.replies += ev->type == TRACE_EV_REPLY;
        if ((tt.events & 4095) == 0 && rt_progress_due(&pg))
            progress(&pg, s, n, tt.events);
        if (advance(x, rt_interrupted)) {
            heap_down(heap, hn, s, 0);
        } else {
            heap[0] = heap[--hn];
            heap_down(heap, hn, s, 0);
        }
    }
    rt_progress_done(&pg);
    tt.interrupted = rt_interrupted != 0;
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
    int crc = edit_writer_commit("merge", &o, w);
    w = NULL;
    if (crc < 0)
        goto done;
    print_summary(edit_text_stream(out, json), out, s, n, &tt);
    status = RT_EXIT_OK;
    for (int i = 0; i < n; i++)
        if (s[i].damaged && !tt.interrupted)
            status = RT_EXIT_FAIL;
    if (json && rt_json_write("merge", summary_json(out, s, n, &tt), json) != 0)
        status = RT_EXIT_FAIL;
    if (tt.interrupted) {
        char nb[32];
        fprintf(stderr, "resptrace merge: interrupted: wrote %s events\n",
                edit_fmt_count(tt.events, nb, sizeof nb));
        status = RT_EXIT_INTERRUPTED;
    }
done:
    rt_progress_done(&pg);
    edit_writer_abort(&o, w);
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
