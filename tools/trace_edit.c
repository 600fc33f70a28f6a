/* trace_edit.c: the request renumbering map, a set of connection ids, and small helpers of
 * the commands that write new traces from old ones. */
#include "trace_edit.h"
#include "tools.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- seqmap: open addressing, two generations --------------------------------------- */

#define SM_EMPTY 0
#define SM_TOMB UINT64_MAX /* a taken entry: keeps probe runs intact until its generation goes */

struct sm_gen {
    uint64_t *k; /* key + 1; SM_EMPTY or SM_TOMB */
    uint64_t *v;
    size_t mask, n;
};

struct seqmap {
    struct sm_gen g[2]; /* g[0] takes the inserts; g[1] is the previous generation */
};

#define mix64 rt_fmix64

static int gen_init(struct sm_gen *g)
{
    size_t slots = (size_t)SEQMAP_GEN * 2;
    g->k = calloc(slots, sizeof *g->k);
    g->v = malloc(slots * sizeof *g->v);
    if (!g->k || !g->v) {
        free(g->k);
        free(g->v);
        g->k = g->v = NULL;
        return -1;
    }
    g->mask = slots - 1;
    g->n = 0;
    return 0;
}

struct seqmap *seqmap_new(void)
{
    struct seqmap *m = calloc(1, sizeof *m);
    if (!m || gen_init(&m->g[0]) < 0) {
        free(m);
        return NULL;
    }
    return m; /* g[1] is allocated at the first rollover */
}

void seqmap_free(struct seqmap *m)
{
    if (!m)
        return;
    for (int i = 0; i < 2; i++) {
        free(m->g[i].k);
        free(m->g[i].v);
    }
    free(m);
}

static size_t gen_find(const struct sm_gen *g, uint64_t k1)
{
    if (!g->k)
        return SIZE_MAX;
    for (size_t p = mix64(k1) & g->mask;; p = (p + 1) & g->mask) {
        if (g->k[p] == SM_EMPTY)
            return SIZE_MAX;
        if (g->k[p] == k1)
            return p;
    }
}

int seqmap_put(struct seqmap *m, uint64_t key, uint64_t val)
{
    struct sm_gen *g = &m->g[0];
    if (g->n >= SEQMAP_GEN) {
        /* rollover: the previous generation is forgotten, the current one becomes it */
        struct sm_gen old = m->g[1];
        m->g[1] = m->g[0];
        if (old.k) {
            memset(old.k, 0, (old.mask + 1) * sizeof *old.k);
            old.n = 0;
            m->g[0] = old;
        } else if (gen_init(&m->g[0]) < 0) {
            m->g[0] = m->g[1];
            m->g[1] = old;
            return -1;
        }
        g = &m->g[0];
    }
    uint64_t k1 = key + 1;
    size_t p = mix64(k1) & g->mask;
    while (g->k[p] != SM_EMPTY && g->k[p] != k1)
        p = (p + 1) & g->mask;
    if (g->k[p] == SM_EMPTY)
        g->n++;
    g->k[p] = k1;
    g->v[p] = val;
    return 0;
}

int seqmap_take(struct seqmap *m, uint64_t key, uint64_t *val)
{
    for (int i = 0; i < 2; i++) {
        size_t p = gen_find(&m->g[i], key + 1);
        if (p != SIZE_MAX) {
            *val = m->g[i].v[p];
            m->g[i].k[p] = SM_TOMB;
            return 1;
        }
    }
    return 0;
}

int seqmap_has(const struct seqmap *m, uint64_t key)
{
    return gen_find(&m->g[0], key + 1) != SIZE_MAX || gen_find(&m->g[1], key + 1) != SIZE_MAX;
}

/* ---- u64set ----------------------------------------------------------------------------- */

struct u64set {
    uint64_t *k; /* value + 1, 0 empty (UINT64_MAX cannot be stored: not a connection id) */
    size_t mask, n;
};

struct u64set *u64set_new(void)
{
    struct u64set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->k = calloc(1024, sizeof *s->k);
    if (!s->k) {
        free(s);
        return NULL;
    }
    s->mask = 1023;
    return s;
}

void u64set_free(struct u64set *s)
{
    if (s) {
        free(s->k);
        free(s);
    }
}

int u64set_has(const struct u64set *s, uint64_t v)
{
    uint64_t k1 = v + 1;
    for (size_t p = mix64(k1) & s->mask; s->k[p]; p = (p + 1) & s->mask)
        if (s->k[p] == k1)
            return 1;
    return 0;
}

int u64set_add(struct u64set *s, uint64_t v)
{
    if (u64set_has(s, v))
        return 0;
    if ((s->n + 1) * 2 > s->mask + 1) {
        size_t slots = (s->mask + 1) * 2;
        uint64_t *k = calloc(slots, sizeof *k);
        if (!k)
            return -1;
        for (size_t i = 0; i <= s->mask; i++) {
            if (!s->k[i])
                continue;
            size_t p = mix64(s->k[i]) & (slots - 1);
            while (k[p])
                p = (p + 1) & (slots - 1);
            k[p] = s->k[i];
        }
        free(s->k);
        s->k = k;
        s->mask = slots - 1;
    }
    uint64_t k1 = v + 1;
    size_t p = mix64(k1) & s->mask;
    while (s->k[p])
        p = (p + 1) & s->mask;
    s->k[p] = k1;
    s->n++;
    return 0;
}

size_t u64set_count(const struct u64set *s)
{
    return s->n;
}

/* ---- misc --------------------------------------------------------------------------------- */

int rt_file_is_json(const char *path)
{
    if (!strcmp(path, "-"))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int c;
    while ((c = fgetc(f)) != EOF && isspace(c))
        ;
    fclose(f);
    return c == '{' || c == '[';
}

uint64_t rt_hash_seeded(uint64_t seed, const void *p, size_t n)
{
    return mix64(trace_hash(p, n) ^ mix64(seed + 0x9e3779b97f4a7c15ull));
}

/* ---- outputs ------------------------------------------------------------------------------ */

int edit_check_outputs(const char *cmd, const char *out, const char *json,
                       const char *const *inputs, size_t n)
{
    int json_stdout = json && !strcmp(json, "-"), json_file = json && !json_stdout;
    if (out && !strcmp(out, "-") && json_stdout)
        return rt_usage_error(cmd, "the trace goes to stdout (-o -): give the JSON a file "
                                   "(--json=FILE)");
    if (out && json_file && (!strcmp(out, json) || rt_same_file(out, json)))
        return rt_usage_error(cmd, "--json=%s would overwrite the output trace", json);
    if (out && rt_out_refuse_inputs(cmd, out, inputs, n) != 0)
        return RT_EXIT_USAGE;
    if (json_file && rt_out_refuse_inputs(cmd, json, inputs, n) != 0)
        return RT_EXIT_USAGE;
    return 0;
}

FILE *edit_text_stream(const char *out, const char *json)
{
    return (out && !strcmp(out, "-")) || (json && !strcmp(json, "-")) ? stderr : stdout;
}

/* FIFOs and devices are written in place by rt_out_begin() itself (cli.c): these are its
 * names here, kept for the callers */
int edit_out_begin(const char *cmd, struct rt_out *o, const char *path, unsigned mode)
{
    return rt_out_begin(cmd, o, path, mode);
}

FILE *edit_out_open(const char *cmd, struct rt_out *o, const char *path, unsigned mode)
{
    return rt_out_open(cmd, o, path, mode);
}

int edit_out_commit(const char *cmd, struct rt_out *o, int handed_over)
{
    return rt_out_commit(cmd, o, handed_over);
}

struct trace_writer *edit_writer_open(const char *cmd, struct rt_out *o, const char *path,
                                      const struct trace_meta_kv *meta, size_t nmeta,
                                      int encoding)
{
    int fd = edit_out_begin(cmd, o, path, 0600);
    if (fd < 0)
        return NULL;
    if (fd == 1) {
        /* the writer closes the descriptor it is given: it gets a copy, so that fd 1 is never
         * reused by a file opened later */
        fd = dup(1);
        if (fd < 0) {
            fprintf(stderr, "resptrace %s: cannot write to stdout: %s\n", cmd, strerror(errno));
            rt_out_abort(o, 1);
            return NULL;
        }
    }
    struct rt_err err = {0};
    struct trace_writer_opts wo = {.encoding = encoding};
    struct trace_writer *w = trace_writer_open_fd(fd, path, meta, nmeta, &wo, &err);
    if (!w) { /* the fd is closed */
        fprintf(stderr, "resptrace %s: %s\n", cmd, err.msg);
        rt_out_abort(o, 1);
    }
    return w;
}

int edit_writer_commit(const char *cmd, struct rt_out *o, struct trace_writer *w)
{
    struct rt_err err = {0};
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "resptrace %s: %s\n", cmd, err.msg);
        rt_out_abort(o, 1);
        return -1;
    }
    return edit_out_commit(cmd, o, 1);
}

void edit_writer_abort(struct rt_out *o, struct trace_writer *w)
{
    if (w)
        trace_writer_abort(w);
    rt_out_abort(o, 1);
}

int edit_bad_option(const char *cmd, int c, char *const *argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (c == ':')
        return rt_usage_error(cmd, "%s needs a value", arg);
    if (optopt && strncmp(arg, "--", 2) != 0)
        return rt_usage_error(cmd, "unknown option -%c", optopt);
    return rt_usage_error(cmd, "unknown option %s", arg);
}

char *edit_fmt_count(uint64_t v, char *buf, size_t cap)
{
    char d[32];
    int n = snprintf(d, sizeof d, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = d[i];
    }
    buf[o] = 0;
    return buf;
}

char *edit_quoted(const void *p, size_t n, size_t max)
{
    const unsigned char *b = p;
    size_t i = 0;
    while (i < n && b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
        i++;
    char *s = NULL;
    size_t len = 0;
    if (i == n && n <= max) {
        s = malloc(n + 1);
        if (!s)
            rt_oom("quote");
        memcpy(s, p, n);
        s[n] = 0;
        return s;
    }
    FILE *f = open_memstream(&s, &len);
    if (!f)
        rt_oom("quote");
    rt_quote(f, p, n, max);
    if (fclose(f) != 0 || !s)
        rt_oom("quote");
    return s;
}

/* "1234", "12.3k", "12.3M" */
static void short_count(uint64_t v, char *buf, size_t cap)
{
    if (v >= 10000000)
        snprintf(buf, cap, "%.1fM", (double)v / 1e6);
    else if (v >= 10000)
        snprintf(buf, cap, "%.1fk", (double)v / 1e3);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)v);
}

void edit_progress(struct rt_progress *p, const char *cmd, uint64_t off, uint64_t size,
                   uint64_t count, const char *unit, const char *extra)
{
    if (!p->on)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    double el = (double)(now - p->start_ns) / 1e9;
    double frac = size ? (double)off / (double)size : 0;
    if (frac > 1)
        frac = 1;
    char c[32], rate[32], eta[32] = "";
    short_count(count, c, sizeof c);
    short_count(el > 0 ? (uint64_t)((double)count / el) : 0, rate, sizeof rate);
    if (frac > 0.01 && el > 0.5)
        snprintf(eta, sizeof eta, "  ETA %.0fs", el / frac - el);
    char pct[16] = ""; /* none when the size is not known (a pipe) */
    if (size)
        snprintf(pct, sizeof pct, " %3.0f%%", frac * 100);
    rt_progress_show(p, "%s%s  %s %s (%s/s)%s%s%s", cmd, pct, c, unit, rate, eta,
                     extra ? "  " : "", extra ? extra : "");
}
