/* merge_runs.c: `resptrace merge RUN.json ... -o RUN.json`: replay results of several parts
 * (hosts, or shares of the connections) merged into one, histograms merged exactly. */
#include "tools.h"

#include "replay.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- latency objects: {"p50", "p90", "p99", "p999", "max", "mean", "count", "hist"} ---- */

json_t *rt_run_latency_json(const struct rt_hist *h)
{
    static const struct {
        const char *k;
        double p;
    } ps[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
    json_t *j = json_object();
    if (!j)
        return NULL;
    /* the same keys, order and units (microseconds) as `resptrace replay --json` */
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        json_object_set_new(j, ps[i].k, json_real((double)rt_hist_percentile(h, ps[i].p) / 1e3));
    json_object_set_new(j, "max", json_real((double)rt_hist_max(h) / 1e3));
    json_object_set_new(j, "mean", json_real(rt_hist_mean(h) / 1e3));
    json_object_set_new(j, "count", rt_json_u64(rt_hist_count(h)));
    char *enc = rt_hist_encode(h);
    if (!enc) {
        json_decref(j);
        return NULL;
    }
    json_object_set_new(j, "hist", json_string(enc));
    free(enc);
    return j;
}

int rt_run_is_latency(const json_t *o)
{
    return json_is_object(o) && (json_object_get(o, "hist") || json_object_get(o, "p50"));
}

struct rt_hist *rt_run_hist(const json_t *lat, const char *where, struct rt_err *err)
{
    const json_t *h = json_object_get(lat, "hist");
    if (!json_is_string(h)) {
        rt_err_set(err, RT_EINVAL,
                   "%s has no \"hist\" (the run was written before histograms were kept, or "
                   "edited): its percentiles cannot be merged exactly",
                   where);
        return NULL;
    }
    struct rt_err e = {0};
    struct rt_hist *r = rt_hist_decode(json_string_value(h), &e);
    if (!r)
        rt_err_set(err, RT_EINVAL, "%s.hist: %s", where, e.msg);
    return r;
}

/* ---- the merge ------------------------------------------------------------------------- */

/* Keys whose numbers are not counts. MAX: the largest part's (durations, and per-second
 * percentiles, which cannot merge exactly without the seconds' histograms); MIN: the
 * smallest; every other integer is a count and summed, every other value kept when all the
 * parts agree, else listed per part. */
static const char *const max_keys[] = {"duration_s", "trace_span_s", "t_s",    "p50_us",
                                       "p99_us",     "max_us",       "to_s",   "peak_p99_us",
                                       "start_late_s", NULL};
static const char *const min_keys[] = {"from_s", "start_unix_s", NULL};
/* The header of a document (rt_json_doc): the merged file gets this program's own. */
static const char *const header_keys[] = {"tool", "version", "schema", "command", NULL};
static const char *const keep_keys[] = {"speed", "rate", "max_lag_ms", "slots", "node",
                                        "id",    "role", "label",      NULL};

static int in(const char *const *set, const char *k)
{
    for (; k && *set; set++)
        if (!strcmp(*set, k))
            return 1;
    return 0;
}

struct mctx {
    char *const *files; /* the parts' file names, for messages */
    struct rt_err *err;
};

/* the values found at one path: vals[i] from part parts[i] */
struct vals {
    json_t **v;
    size_t *part;
    size_t n;
};

static int vals_init(struct vals *vs, size_t cap)
{
    vs->v = calloc(cap ? cap : 1, sizeof *vs->v);
    vs->part = calloc(cap ? cap : 1, sizeof *vs->part);
    vs->n = 0;
    return vs->v && vs->part ? 0 : -1;
}

static void vals_free(struct vals *vs)
{
    free(vs->v);
    free(vs->part);
}

static json_t *merge_value(const char *key, const char *path, const struct vals *vs,
                           struct mctx *m);

static json_t *merge_latency(const char *path, const struct vals *vs, struct mctx *m)
{
    struct rt_hist *acc = rt_hist_new();
    json_t *out = NULL;
    if (!acc) {
        rt_err_set(m->err, RT_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < vs->n; i++) {
        char where[512];
        snprintf(where, sizeof where, "%s: %s", m->files[vs->part[i]], path);
        struct rt_hist *h = rt_run_hist(vs->v[i], where, m->err);
        if (!h)
            goto done;
        rt_hist_merge(acc, h);
        rt_hist_free(h);
    }
    out = rt_run_latency_json(acc);
    if (!out)
        rt_err_set(m->err, RT_ENOMEM, "out of memory");
done:
    rt_hist_free(acc);
    return out;
}

/* objects: the union of the parts' keys, in order of first appearance, each merged */
static json_t *merge_object(const char *path, const struct vals *vs, struct mctx *m)
{
    json_t *out = json_object();
    struct vals sub;
    if (!out || vals_init(&sub, vs->n) < 0) {
        json_decref(out);
        rt_err_set(m->err, RT_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < vs->n; i++) {
        const char *k;
        json_t *v;
        json_object_foreach(vs->v[i], k, v)
        {
            if (json_object_get(out, k))
                continue; /* merged with the first part that had it */
            if (!path[0] && in(header_keys, k))
                continue; /* the parts' headers: the merged file has its own */
            sub.n = 0;
            for (size_t p = i; p < vs->n; p++) {
                json_t *x = json_object_get(vs->v[p], k);
                if (x) {
                    sub.v[sub.n] = x;
                    sub.part[sub.n++] = vs->part[p];
                }
            }
            char sp[512];
            snprintf(sp, sizeof sp, "%s%s%s", path, path[0] ? "." : "", k);
            json_t *mv = merge_value(k, sp, &sub, m);
            if (!mv) {
                json_decref(out);
                vals_free(&sub);
                return NULL;
            }
            json_object_set_new(out, k, mv);
        }
    }
    vals_free(&sub);
    return out;
}

/* arrays of objects merged element by element: "timeline" by index (the second),
 * "shards" by their "node" address (a row without one stays as it is) */
static json_t *merge_rows(const char *key, const char *path, const struct vals *vs, int by_node,
                          struct mctx *m)
{
    json_t *out = json_array();
    struct vals sub;
    if (!out || vals_init(&sub, vs->n) < 0) {
        json_decref(out);
        rt_err_set(m->err, RT_ENOMEM, "out of memory");
        return NULL;
    }
    size_t longest = 0;
    for (size_t i = 0; i < vs->n; i++)
        if (json_array_size(vs->v[i]) > longest)
            longest = json_array_size(vs->v[i]);
    /* rows (i, e): by index only i == 0 leads; by node, the first row naming a node leads */
    for (size_t i = 0; i < (by_node ? vs->n : 1); i++) {
        for (size_t e = 0; e < (by_node ? json_array_size(vs->v[i]) : longest); e++) {
            char sp[512];
            sub.n = 0;
            if (!by_node) {
                for (size_t p = 0; p < vs->n; p++) {
                    json_t *x = json_array_get(vs->v[p], e);
                    if (x) {
                        sub.v[sub.n] = x;
                        sub.part[sub.n++] = vs->part[p];
                    }
                }
                snprintf(sp, sizeof sp, "%s[%zu]", path, e);
            } else {
                json_t *row = json_array_get(vs->v[i], e);
                const char *node = json_string_value(json_object_get(row, "node"));
                int seen = 0;
                for (size_t o = 0; node && o < json_array_size(out); o++) {
                    const char *on =
                        json_string_value(json_object_get(json_array_get(out, o), "node"));
                    seen |= on && !strcmp(on, node);
                }
                if (seen)
                    continue;
                sub.v[sub.n] = row;
                sub.part[sub.n++] = vs->part[i];
                for (size_t p = i + 1; node && p < vs->n; p++)
                    for (size_t q = 0; q < json_array_size(vs->v[p]); q++) {
                        json_t *x = json_array_get(vs->v[p], q);
                        const char *xn = json_string_value(json_object_get(x, "node"));
                        if (xn && !strcmp(node, xn)) {
                            sub.v[sub.n] = x;
                            sub.part[sub.n++] = vs->part[p];
                            break;
                        }
                    }
                snprintf(sp, sizeof sp, "%s[node %s]", path, node ? node : "?");
            }
            json_t *mv = merge_value(key, sp, &sub, m);
            if (!mv) {
                json_decref(out);
                vals_free(&sub);
                return NULL;
            }
            json_array_append_new(out, mv);
        }
    }
    vals_free(&sub);
    return out;
}

static json_t *merge_value(const char *key, const char *path, const struct vals *vs0,
                           struct mctx *m)
{
    /* null (no disruption, ...) counts as absent */
    struct vals vs;
    if (vals_init(&vs, vs0->n) < 0) {
        rt_err_set(m->err, RT_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < vs0->n; i++)
        if (!json_is_null(vs0->v[i])) {
            vs.v[vs.n] = vs0->v[i];
            vs.part[vs.n++] = vs0->part[i];
        }
    json_t *out = NULL;
    int all_obj = 1, all_arr = 1, all_bool = 1, all_int = 1, all_num = 1, lat = 0;
    for (size_t i = 0; i < vs.n; i++) {
        all_obj &= json_is_object(vs.v[i]);
        all_arr &= json_is_array(vs.v[i]);
        all_bool &= json_is_boolean(vs.v[i]);
        all_int &= json_is_integer(vs.v[i]);
        all_num &= json_is_number(vs.v[i]);
        lat |= rt_run_is_latency(vs.v[i]);
    }
    if (vs.n == 0) {
        out = json_null();
    } else if (all_obj && lat) {
        out = merge_latency(path, &vs, m);
    } else if (all_obj) {
        out = merge_object(path, &vs, m);
    } else if (all_arr && key && !strcmp(key, "timeline")) {
        out = merge_rows(key, path, &vs, 0, m);
    } else if (all_arr && key && !strcmp(key, "shards")) {
        out = merge_rows(key, path, &vs, 1, m);
    } else if (all_bool) {
        int any = 0;
        for (size_t i = 0; i < vs.n; i++)
            any |= json_is_true(vs.v[i]);
        out = json_boolean(any);
    } else if (all_num && (in(max_keys, key) || in(min_keys, key))) {
        double best = json_number_value(vs.v[0]);
        size_t bi = 0;
        for (size_t i = 1; i < vs.n; i++) {
            double x = json_number_value(vs.v[i]);
            if (in(max_keys, key) ? x > best : x < best) {
                best = x;
                bi = i;
            }
        }
        out = json_deep_copy(vs.v[bi]);
    } else if (all_int && !in(keep_keys, key)) {
        json_int_t s = 0;
        for (size_t i = 0; i < vs.n; i++)
            s += json_integer_value(vs.v[i]);
        out = json_integer(s);
    } else {
        int same = 1; /* 10 and 10.0 are the same setting (a file rewritten by jq) */
        for (size_t i = 1; i < vs.n; i++)
            same &= json_equal(vs.v[0], vs.v[i]) ||
                    (all_num && json_number_value(vs.v[0]) == json_number_value(vs.v[i]));
        if (same) {
            out = json_deep_copy(vs.v[0]);
        } else {
            out = json_array();
            for (size_t i = 0; out && i < vs.n; i++)
                json_array_append(out, vs.v[i]);
        }
    }
    if (!out && !m->err->msg[0])
        rt_err_set(m->err, RT_ENOMEM, "out of memory");
    vals_free(&vs);
    return out;
}

/* the part's name: its label, else its target, else its file name */
static json_t *part_name(const json_t *run, const char *file)
{
    const json_t *l = json_object_get(run, "label");
    if (json_is_string(l))
        return json_deep_copy(l);
    l = json_object_get(run, "target");
    if (json_is_string(l))
        return json_deep_copy(l);
    return json_string(file);
}

/* Loads and checks one part: a replay result with histograms. @return 0 or -1 (err). */
static int load_part(const char *path, json_t **out, struct rt_err *err)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_DECODE_ANY, &je);
    *out = NULL;
    if (!j) {
        rt_err_set(err, RT_EINVAL, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    if (!json_is_object(j) || !json_is_object(json_object_get(j, "latency_us")) ||
        !json_is_integer(json_object_get(j, "ops"))) {
        rt_err_set(err, RT_EINVAL,
                   "%s: not a replay result (no \"ops\" and \"latency_us\"; write one with "
                   "`resptrace replay --json FILE`)",
                   path);
        json_decref(j);
        return -1;
    }
    if (!json_is_string(json_object_get(json_object_get(j, "latency_us"), "hist"))) {
        rt_err_set(err, RT_EINVAL,
                   "%s: latency_us has no \"hist\" (written before results carried their "
                   "histograms?): cannot merge its percentiles exactly",
                   path);
        json_decref(j);
        return -1;
    }
    *out = j;
    return 0;
}

static void print_summary(FILE *o, const json_t *merged, json_t *const *parts, char *const *files,
                          size_t n, const char *out)
{
    fprintf(o, "%-3s %-34s %-28s %12s %10s %10s %10s\n", "", "file", "name", "ops", "duration",
           "p50 ms", "p99 ms");
    for (size_t i = 0; i <= n; i++) {
        const json_t *r = i < n ? parts[i] : merged;
        json_t *nm = i < n ? part_name(r, files[i]) : NULL;
        const json_t *lat = json_object_get(r, "latency_us");
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i + 1);
        fprintf(o, "%-3s %-34.34s %-28.28s %12lld %9.3fs %10.3f %10.3f\n", i < n ? idx : "",
                i < n ? files[i] : out, i < n ? json_string_value(nm) : "merged",
                (long long)json_integer_value(json_object_get(r, "ops")),
                json_number_value(json_object_get(r, "duration_s")),
                json_number_value(json_object_get(lat, "p50")) / 1e3,
                json_number_value(json_object_get(lat, "p99")) / 1e3);
        json_decref(nm);
    }
}

/* The summary document of `merge --json`. */
static json_t *summary_json(const json_t *merged, json_t *const *parts, char *const *files,
                            size_t n, const char *out)
{
    json_t *o = rt_json_doc("merge"), *a = json_array();
    json_object_set_new(o, "output", json_string(out));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "file", json_string(files[i]));
        json_object_set_new(e, "name", part_name(parts[i], files[i]));
        json_object_set(e, "ops", json_object_get(parts[i], "ops"));
        json_object_set(e, "duration_s", json_object_get(parts[i], "duration_s"));
        json_array_append_new(a, e);
    }
    json_object_set_new(o, "parts", a);
    json_object_set(o, "ops", json_object_get(merged, "ops"));
    json_object_set(o, "errors", json_object_get(merged, "errors"));
    json_object_set(o, "duration_s", json_object_get(merged, "duration_s"));
    json_object_set(o, "ops_per_s", json_object_get(merged, "ops_per_s"));
    json_t *lat = json_deep_copy(json_object_get(merged, "latency_us"));
    json_object_del(lat, "hist");
    json_object_set_new(o, "latency_us", lat);
    return o;
}

/* Writes `merged` to `out` ("-": stdout) under a temporary name renamed into place, unless
 * Ctrl-C came first. @return 0, -1 after printing why, or 1 when interrupted (nothing
 * written). */
static int write_merged(const json_t *merged, const char *out)
{
    struct rt_out o = {0};
    FILE *f = rt_out_open("merge", &o, out, 0644);
    if (!f)
        return -1;
    if (json_dumpf(merged, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', f) == EOF ||
        ferror(f)) {
        fprintf(stderr, "resptrace merge: cannot write %s: %s\n", out, strerror(errno));
        rt_out_abort(&o, 0);
        return -1;
    }
    if (rt_interrupted) {
        rt_out_abort(&o, 0);
        return 1;
    }
    return rt_out_commit("merge", &o, 0) == 0 ? 0 : -1;
}

int rt_merge_runs(char *const *files, size_t n, const char *out, const char *label,
                  const char *json)
{
    json_t **parts = calloc(n ? n : 1, sizeof *parts);
    json_t *merged = NULL;
    struct rt_err err = {0};
    struct vals vs = {0};
    int status = RT_EXIT_FAIL;
    /* no output is one of the parts, nor the summary the result: it would destroy what it
     * merges */
    int json_file = json && strcmp(json, "-");
    if (json_file && (!strcmp(json, out) || rt_same_file(json, out))) {
        free(parts);
        return rt_usage_error("merge", "--json=%s would overwrite the merged result", json);
    }
    if (rt_out_refuse_inputs("merge", out, (const char *const *)files, n) < 0 ||
        (json_file && rt_out_refuse_inputs("merge", json, (const char *const *)files, n) < 0)) {
        free(parts);
        return RT_EXIT_USAGE;
    }
    rt_catch_signals();
    if (!parts || vals_init(&vs, n) < 0) {
        fprintf(stderr, "resptrace merge: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (load_part(files[i], &parts[i], &err) < 0) {
            fprintf(stderr, "resptrace merge: %s\n", err.msg);
            goto done;
        }
        vs.v[i] = parts[i];
        vs.part[i] = i;
    }
    vs.n = n;
    struct mctx m = {.files = files, .err = &err};
    json_t *body = merge_value(NULL, "", &vs, &m);
    if (!body) {
        fprintf(stderr, "resptrace merge: %s\n", err.msg);
        goto done;
    }
    /* this program's header first, then the merged result */
    merged = rt_json_doc("merge");
    json_object_update(merged, body);
    json_decref(body);
    /* the rates follow from the merged counts: the parts ran side by side */
    double dur = json_number_value(json_object_get(merged, "duration_s"));
    json_int_t ops = json_integer_value(json_object_get(merged, "ops"));
    json_object_set_new(merged, "ops_per_s", json_real(dur > 0 ? (double)ops / dur : 0));
    if (label)
        json_object_set_new(merged, "label", json_string(label));
    else if (!json_is_string(json_object_get(merged, "label")))
        json_object_del(merged, "label"); /* the parts' labels differ: they are in "parts" */
    json_t *pa = json_array(), *pf = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(pa, part_name(parts[i], files[i]));
        json_array_append_new(pf, json_string(files[i]));
    }
    json_object_set_new(merged, "parts", pa);
    json_object_set_new(merged, "part_files", pf);

    int wr = write_merged(merged, out);
    if (wr > 0) {
        fprintf(stderr, "resptrace merge: interrupted: %s not written\n", out);
        status = RT_EXIT_INTERRUPTED;
        goto done;
    }
    if (wr < 0)
        goto done;
    int to_stdout = !strcmp(out, "-");
    status = RT_EXIT_OK;
    if (json_file) { /* the summary into its file, and as text where it would go without */
        print_summary(to_stdout ? stderr : stdout, merged, parts, files, n, out);
        if (rt_json_write("merge", summary_json(merged, parts, files, n, out), json) < 0)
            status = RT_EXIT_FAIL;
    } else if (json && !to_stdout) {
        if (rt_json_write("merge", summary_json(merged, parts, files, n, out), "-") < 0)
            status = RT_EXIT_FAIL;
    } else if (json) { /* the merged result is on stdout: the summary goes beside it */
        json_t *sj = summary_json(merged, parts, files, n, out);
        json_dumpf(sj, stderr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stderr);
        json_decref(sj);
    } else {
        print_summary(to_stdout ? stderr : stdout, merged, parts, files, n, out);
    }
done:
    for (size_t i = 0; parts && i < n; i++)
        json_decref(parts[i]);
    free(parts);
    vals_free(&vs);
    json_decref(merged);
    return status;
}
