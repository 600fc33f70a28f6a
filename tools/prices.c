/* prices.c: prices files, capacity sweeps read as candidates, and the decision table that
 * compare and report show (prices.h). */
#include "prices.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HOURS_DEFAULT 730.0 /* 365 x 24 / 12 */
#define HOURS_MAX 744.0     /* 31 days */
#define NODES_MAX 100000
#define CURRENCY_MAX 16

struct price_entry {
    char *key;
    double nodes, price;
    int used;
};

struct rt_prices {
    char *path;
    char *currency; /* NULL: none given */
    double hours;
    struct price_entry *e;
    size_t n;
};

void rt_prices_free(struct rt_prices *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->e[i].key);
    free(p->e);
    free(p->currency);
    free(p->path);
    free(p);
}

/* A name from the file for a message: quoted, at most 60 bytes, control bytes as '?'. */
static const char *shown(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    if (cap < 8)
        return "";
    buf[o++] = '"';
    for (size_t i = 0; s[i] && o + 5 < cap && i < 60; i++)
        buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (strlen(s) > 60 && o + 5 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* @return 0 when every key of `o` is one of `allowed` (NULL-terminated), else -1 with err
 * naming the first that is not. */
static int only_keys(const json_t *o, const char *const *allowed, const char *path,
                     const char *where, const char *list, struct rt_err *err)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k))
            i++;
        if (!allowed[i]) {
            char b[80];
            rt_err_set(err, RT_EINVAL, "%s: %sunknown field %s (the fields are %s)", path, where,
                       shown(k, b, sizeof b), list);
            return -1;
        }
    }
    return 0;
}

/* Checks one entry of "runs" into e. @return 0 or -1 with err. */
static int load_entry(const char *path, const char *key, const json_t *v, struct price_entry *e,
                      struct rt_err *err)
{
    static const char *const fields[] = {"nodes", "price_per_node_hour", "comment", NULL};
    char b[80], where[120];
    snprintf(where, sizeof where, "runs.%s", shown(key, b, sizeof b));
    if (!*key) {
        rt_err_set(err, RT_EINVAL, "%s: runs: an empty name (a run's label or file name)", path);
        return -1;
    }
    if (!json_is_object(v)) {
        rt_err_set(err, RT_EINVAL,
                   "%s: %s: not an object (give {\"nodes\": N, \"price_per_node_hour\": P})", path,
                   where);
        return -1;
    }
    char pre[130];
    snprintf(pre, sizeof pre, "%s: ", where);
    if (only_keys(v, fields, path, pre, "nodes, price_per_node_hour, comment", err) < 0)
        return -1;
    const json_t *nodes = json_object_get(v, "nodes"),
                 *price = json_object_get(v, "price_per_node_hour");
    if (!nodes || !price) {
        rt_err_set(err, RT_EINVAL, "%s: %s: no \"%s\"", path, where,
                   !nodes ? "nodes" : "price_per_node_hour");
        return -1;
    }
    if (!json_is_integer(nodes) || json_integer_value(nodes) < 1 ||
        json_integer_value(nodes) > NODES_MAX) {
        rt_err_set(err, RT_EINVAL, "%s: %s.nodes: not a whole number of nodes from 1 to %d", path,
                   where, NODES_MAX);
        return -1;
    }
    if (!json_is_number(price) || !isfinite(json_number_value(price)) ||
        json_number_value(price) < 0) {
        rt_err_set(err, RT_EINVAL,
                   "%s: %s.price_per_node_hour: not a price (a number, 0 or more, per node "
                   "and hour)",
                   path, where);
        return -1;
    }
    const json_t *cm = json_object_get(v, "comment");
    if (cm && !json_is_string(cm)) {
        rt_err_set(err, RT_EINVAL, "%s: %s.comment: not a string", path, where);
        return -1;
    }
    e->key = strdup(key);
    if (!e->key) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", path);
        return -1;
    }
    e->nodes = (double)json_integer_value(nodes);
    e->price = json_number_value(price);
    return 0;
}

/* Checks the document of a prices file into p. @return 0 or -1 with err. */
static int load_doc(const char *path, const json_t *j, struct rt_prices *p, struct rt_err *err)
{
    static const char *const fields[] = {"currency", "hours_per_month", "runs", "comment", NULL};
    if (!json_is_object(j)) {
        rt_err_set(err, RT_EINVAL,
                   "%s: not a prices file (a JSON object: {\"currency\", \"hours_per_month\", "
                   "\"runs\": {LABEL: {\"nodes\", \"price_per_node_hour\"}}})",
                   path);
        return -1;
    }
    if (only_keys(j, fields, path, "", "currency, hours_per_month, runs, comment", err) < 0)
        return -1;
    const json_t *cur = json_object_get(j, "currency"),
                 *hours = json_object_get(j, "hours_per_month"), *runs = json_object_get(j, "runs"),
                 *cm = json_object_get(j, "comment");
    if (cur && (!json_is_string(cur) || json_string_length(cur) < 1 ||
                json_string_length(cur) > CURRENCY_MAX ||
                strlen(json_string_value(cur)) != json_string_length(cur))) {
        rt_err_set(err, RT_EINVAL, "%s: currency: not a name of 1 to %d characters (\"USD\")", path,
                   CURRENCY_MAX);
        return -1;
    }
    for (const char *c = cur ? json_string_value(cur) : ""; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            rt_err_set(err, RT_EINVAL, "%s: currency: a control character", path);
            return -1;
        }
    if (hours && (!json_is_number(hours) || !(json_number_value(hours) > 0) ||
                  json_number_value(hours) > HOURS_MAX)) {
        rt_err_set(err, RT_EINVAL,
                   "%s: hours_per_month: not a number of hours above 0 and at most %g "
                   "(default %g)",
                   path, HOURS_MAX, HOURS_DEFAULT);
        return -1;
    }
    if (cm && !json_is_string(cm)) {
        rt_err_set(err, RT_EINVAL, "%s: comment: not a string", path);
        return -1;
    }
    if (!runs) {
        rt_err_set(err, RT_EINVAL,
                   "%s: no \"runs\" (an object of run labels or file names: {\"nodes\", "
                   "\"price_per_node_hour\"})",
                   path);
        return -1;
    }
    if (!json_is_object(runs) || json_object_size(runs) == 0) {
        rt_err_set(err, RT_EINVAL, "%s: runs: %s", path,
                   json_is_object(runs) ? "empty: no run is priced"
                                        : "not an object of run labels or file names");
        return -1;
    }
    p->hours = hours ? json_number_value(hours) : HOURS_DEFAULT;
    if (cur && !(p->currency = strdup(json_string_value(cur))))
        goto oom;
    p->e = calloc(json_object_size(runs), sizeof *p->e);
    if (!p->e)
        goto oom;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)runs, k, v)
    {
        if (load_entry(path, k, v, &p->e[p->n], err) < 0)
            return -1;
        p->n++;
    }
    return 0;
oom:
    rt_err_set(err, RT_ENOMEM, "%s: out of memory", path);
    return -1;
}

int rt_prices_load(const char *path, struct rt_prices **out, struct rt_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        rt_err_set(err, RT_EIO, "%s: %s", path, !f ? strerror(errno) : "a directory, not a file");
        if (f)
            fclose(f);
        return -1;
    }
    json_error_t je;
    json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!j) {
        rt_err_set(err, RT_EINVAL, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    struct rt_prices *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", path);
        json_decref(j);
        free(p);
        return -1;
    }
    int rc = load_doc(path, j, p, err);
    json_decref(j);
    if (rc < 0) {
        rt_prices_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

json_t *rt_prices_json(const struct rt_prices *p)
{
    return json_pack("{s:s,s:o,s:f}", "file", p->path, "currency",
                     p->currency ? json_string(p->currency) : json_null(), "hours_per_month",
                     p->hours);
}

static struct price_entry *find_entry(struct rt_prices *p, const char *key)
{
    for (size_t i = 0; key && i < p->n; i++)
        if (!strcmp(p->e[i].key, key))
            return &p->e[i];
    return NULL;
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *rt_prices_cost(struct rt_prices *p, const json_t *doc, const char *file)
{
    const char *label = json_string_value(json_object_get(doc, "label"));
    const char *base = file ? (strrchr(file, '/') ? strrchr(file, '/') + 1 : file) : NULL;
    const char *by = "label";
    struct price_entry *e = find_entry(p, label);
    if (!e) {
        by = "file";
        e = find_entry(p, file);
        if (!e)
            e = find_entry(p, base);
    }
    if (!e)
        return NULL;
    e->used = 1;
    double monthly = e->nodes * e->price * p->hours, ops = NAN;
    json_t *sw = rt_sweep_json(doc);
    const json_t *so = json_object_get(sw, "slo_ops_per_s");
    if (json_is_number(so))
        ops = json_number_value(so);
    json_decref(sw);
    double per1k = isfinite(ops) && ops > 0 ? monthly / (ops / 1000.0) : NAN;
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(e->key));
    json_object_set_new(o, "matched_by", json_string(by));
    json_object_set_new(o, "nodes", json_integer((json_int_t)e->nodes));
    json_object_set_new(o, "price_per_node_hour", json_real(e->price));
    json_object_set_new(o, "hours_per_month", json_real(p->hours));
    json_object_set_new(o, "monthly_cost", json_real(monthly));
    json_object_set_new(o, "slo_ops_per_s", num_or_null(ops));
    json_object_set_new(o, "cost_per_1k_ops_s", num_or_null(per1k));
    return o;
}

void rt_prices_notes(const struct rt_prices *p, json_t *notes)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->e[i].used)
            continue;
        char b[80], note[300];
        snprintf(note, sizeof note, "%s: runs.%s names no run given (by its label or file name)",
                 p->path, shown(p->e[i].key, b, sizeof b));
        json_array_append_new(notes, json_string(note));
    }
}

/* ---- sweeps ------------------------------------------------------------------------------ */

int rt_doc_is_sweep(const json_t *doc)
{
    const char *mode = json_string_value(json_object_get(doc, "mode"));
    return mode && !strcmp(mode, "sweep") && json_is_array(json_object_get(doc, "steps"));
}

/* The step compared: the one at max_speed_held that held, else the first. */
static const json_t *sweep_step(const json_t *doc)
{
    const json_t *steps = json_object_get(doc, "steps"),
                 *best = json_object_get(doc, "max_speed_held");
    size_t i;
    const json_t *s;
    if (json_is_number(best))
        json_array_foreach(steps, i, s)
        {
            const json_t *sp = json_object_get(s, "factor"); /* (a speed or a scale) */
            if (!json_is_number(sp))
                sp = json_object_get(s, "speed");
            if (json_is_true(json_object_get(s, "held")) && json_is_number(sp) &&
                json_number_value(sp) == json_number_value(best) &&
                json_is_object(json_object_get(s, "result")))
                return s;
        }
    s = json_array_get(steps, 0);
    return json_is_object(json_object_get(s, "result")) ? s : NULL;
}

json_t *rt_sweep_run(const json_t *doc, const char *path, struct rt_err *err)
{
    const json_t *s = sweep_step(doc);
    if (!s) {
        rt_err_set(err, RT_EINVAL, "%s: a sweep without a step that has a \"result\"", path);
        return NULL;
    }
    json_t *r = json_copy(json_object_get(s, "result"));
    if (!r) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    const json_t *label = json_object_get(doc, "label");
    if (json_is_string(label) && !json_object_get(r, "label"))
        json_object_set(r, "label", (json_t *)label);
    return r;
}

json_t *rt_sweep_json(const json_t *doc)
{
    if (!rt_doc_is_sweep(doc))
        return NULL;
    const json_t *s = sweep_step(doc), *slo = json_object_get(doc, "slo");
    const json_t *held = json_object_get(doc, "max_speed_held"),
                 *broke = json_object_get(doc, "first_speed_broke");
    double ops = NAN;
    if (s && json_is_true(json_object_get(s, "held"))) {
        const json_t *v = json_object_get(json_object_get(s, "result"), "ops_per_s");
        ops = json_is_number(v) ? json_number_value(v) : NAN;
    }
    const json_t *sp = json_object_get(s, "speed");
    json_t *o = json_object();
    json_object_set_new(o, "slo", json_is_string(slo) ? json_copy((json_t *)slo) : json_null());
    json_object_set_new(o, "max_speed_held",
                        json_is_number(held) ? json_copy((json_t *)held) : json_null());
    json_object_set_new(o, "first_speed_broke",
                        json_is_number(broke) ? json_copy((json_t *)broke) : json_null());
    json_object_set_new(o, "steps",
                        json_integer((json_int_t)json_array_size(json_object_get(doc, "steps"))));
    json_object_set_new(o, "step_speed",
                        json_is_number(sp) ? json_copy((json_t *)sp) : json_null());
    json_object_set_new(o, "slo_ops_per_s", num_or_null(ops));
    return o;
}

/* ---- the decision table ------------------------------------------------------------------ */

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The value of run r in the comparison row (scope, name, metric), NAN when none. */
static double cmp_value(const json_t *cmp, const char *scope, const char *name, const char *metric,
                        size_t r)
{
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(cmp, "rows"), i, row)
    {
        const char *s = json_string_value(json_object_get(row, "scope")),
                   *nm = json_string_value(json_object_get(row, "name")),
                   *m = json_string_value(json_object_get(row, "metric"));
        if (s && nm && m && !strcmp(s, scope) && !strcmp(nm, name) && !strcmp(m, metric)) {
            const json_t *v = json_array_get(json_object_get(row, "values"), r);
            return json_is_number(v) ? json_number_value(v) : NAN;
        }
    }
    return NAN;
}

enum drow_id {
    D_WRITE_P99,
    D_READ_P99,
    D_HEADROOM,
    D_SLO_OPS,
    D_LOST,
    D_MISSES,
    D_WARMUP,
    D_MONTHLY,
    D_PER_1K,
    NDROWS
};

static const struct drow {
    const char *key, *title, *kind;
    int lower_better;
} drows[NDROWS] = {
    [D_WRITE_P99] = {"write_p99_us", "write p99", "us", 1},
    [D_READ_P99] = {"read_p99_us", "read p99", "us", 1},
    [D_HEADROOM] = {"max_speed_held", "headroom at the SLO", "speed", 0},
    [D_SLO_OPS] = {"slo_ops_per_s", "ops/s served within the SLO", "ops_s", 0},
    [D_LOST] = {"writes_lost", "acknowledged writes lost on failover", "count", 1},
    [D_MISSES] = {"extra_misses", "miss storm (extra misses)", "count", 1},
    [D_WARMUP] = {"warmup_s", "warm-up time", "s", 1},
    [D_MONTHLY] = {"monthly_cost", "monthly cost", "money", 1},
    [D_PER_1K] = {"cost_per_1k_ops_s", "cost per 1,000 ops/s at the SLO", "money", 1},
};

/* The value of decision row k for candidate r, and why it is missing (or what goes with it). */
static double decision_value(enum drow_id k, const json_t *cmp, const struct rt_cand *c, size_t r,
                             char *why, size_t cap)
{
    const json_t *run = c[r].run;
    const json_t *re = json_array_get(json_object_get(cmp, "runs"), r);
    const json_t *sw = json_object_get(re, "sweep"), *cost = json_object_get(re, "cost");
    int priced = json_is_object(json_object_get(cmp, "prices"));
    why[0] = '\0';
    double v = NAN;
    switch (k) {
    case D_WRITE_P99:
    case D_READ_P99:
        v = cmp_value(cmp, "class", k == D_WRITE_P99 ? "write" : "read", "p99_us", r);
        if (!isfinite(v))
            snprintf(why, cap, k == D_WRITE_P99 ? "no writes" : "no reads");
        return v;
    case D_HEADROOM:
    case D_SLO_OPS:
        if (!json_is_object(sw)) {
            snprintf(why, cap, "not a sweep");
            return NAN;
        }
        v = num(sw, k == D_HEADROOM ? "max_speed_held" : "slo_ops_per_s");
        if (!isfinite(v) && isfinite(num(sw, "first_speed_broke")))
            snprintf(why, cap, "broke at %gx", num(sw, "first_speed_broke"));
        else if (k == D_HEADROOM && json_is_string(json_object_get(sw, "slo")))
            snprintf(why, cap, "%s%s", json_string_value(json_object_get(sw, "slo")),
                     json_is_null(json_object_get(sw, "first_speed_broke"))
                         ? "; the fastest tried: it may hold more"
                         : "");
        return v;
    case D_LOST: {
        const json_t *vw = json_object_get(run, "verify_writes");
        if (!json_is_object(vw)) {
            snprintf(why, cap, "no --verify-writes");
            return NAN;
        }
        if (!json_is_true(json_object_get(vw, "read_back"))) {
            const char *e = json_string_value(json_object_get(vw, "error"));
            snprintf(why, cap, "not read back%s%.120s", e ? ": " : "", e ? e : "");
            return NAN;
        }
        v = num(vw, "lost");
        if (num(vw, "reverted") > 0)
            snprintf(why, cap, "and %.0f reverted", num(vw, "reverted"));
        return v;
    }
    case D_MISSES:
    case D_WARMUP: {
        const json_t *d = json_object_get(run, "disruption");
        const json_t *x = json_object_get(d, k == D_MISSES ? "extra_misses" : "warmup_s");
        if (json_is_null(d))
            snprintf(why, cap, "no disruption");
        else if (k == D_WARMUP && x && json_is_null(x))
            snprintf(why, cap, "not warmed up");
        return json_is_number(x) ? json_number_value(x) : NAN;
    }
    case D_MONTHLY:
    case D_PER_1K:
        if (!priced) {
            snprintf(why, cap, "no --prices");
            return NAN;
        }
        if (!json_is_object(cost)) {
            snprintf(why, cap, "no price in %.150s",
                     json_string_value(json_object_get(json_object_get(cmp, "prices"), "file")));
            return NAN;
        }
        v = num(cost, k == D_MONTHLY ? "monthly_cost" : "cost_per_1k_ops_s");
        if (k == D_PER_1K && !isfinite(v))
            snprintf(why, cap, !json_is_object(sw) ? "not a sweep" : "the SLO never held");
        return v;
    case NDROWS: break;
    }
    return NAN;
}

static const char *cand_label(const struct rt_cand *c)
{
    const char *l = json_string_value(json_object_get(c->doc, "label"));
    if (!l)
        l = json_string_value(json_object_get(c->run, "label"));
    return l;
}

size_t rt_decision_columns(const struct rt_cand *c, size_t n, size_t *col, const char **name)
{
    size_t ncol = 0;
    for (size_t r = 0; r < n; r++) {
        const char *l = cand_label(&c[r]);
        size_t k = ncol;
        for (size_t q = 0; l && q < r; q++) {
            const char *lq = cand_label(&c[q]);
            if (lq && !strcmp(l, lq)) {
                k = col[q];
                break;
            }
        }
        col[r] = k;
        if (k == ncol)
            name[ncol++] = l ? l : c[r].name;
    }
    return ncol;
}

json_t *rt_decision_json(const json_t *cmp, const struct rt_cand *c, size_t n)
{
    json_t *rows = json_array();
    if (!rows)
        return NULL;
    double *v = calloc(n ? n : 1, sizeof *v);
    size_t *col = calloc(n ? n : 1, sizeof *col);
    const char **names = calloc(n ? n : 1, sizeof *names);
    char(*whys)[200] = calloc(n ? n : 1, sizeof *whys);
    if (!v || !col || !names || !whys) {
        free(v);
        free(col);
        free(names);
        free(whys);
        json_decref(rows);
        return NULL;
    }
    /* runs of one label are one candidate (a failover drill and a sweep of the same target):
     * a cell is the first of its runs that has the value, the runs of the kind the row is
     * about first: latency, headroom and cost per load from a sweep (its step at the SLO),
     * writes lost and the miss storm from a run that is not a sweep (a drill) */
    size_t ncol = rt_decision_columns(c, n, col, names);
    for (enum drow_id k = 0; k < NDROWS; k++) {
        json_t *va = json_array(), *wa = json_array(), *ba = json_array();
        size_t have = 0;
        double best = NAN;
        for (size_t g = 0; g < ncol; g++) {
            v[g] = NAN;
            whys[g][0] = '\0';
            int want_sweep = k == D_WRITE_P99 || k == D_READ_P99 || k == D_HEADROOM ||
                             k == D_SLO_OPS || k == D_PER_1K;
            int want_drill = k == D_LOST || k == D_MISSES || k == D_WARMUP;
            for (size_t rr = 0; rr < 2 * n; rr++) {
                size_t r = rr % n;
                int sweep = c[r].doc != c[r].run;
                int first = (want_sweep && sweep) || (want_drill && !sweep) ||
                            (!want_sweep && !want_drill);
                if (col[r] != g || (rr < n) != first)
                    continue; /* (first pass: the preferred kind; second: the others) */
                char why[200];
                double x = decision_value(k, cmp, c, r, why, sizeof why);
                if (isfinite(x) && !isfinite(v[g])) {
                    v[g] = x;
                    snprintf(whys[g], sizeof whys[g], "%s", why);
                } else if (!isfinite(v[g]) && !whys[g][0]) {
                    snprintf(whys[g], sizeof whys[g], "%s", why);
                }
            }
            json_array_append_new(va, num_or_null(v[g]));
            json_array_append_new(wa, whys[g][0] ? json_string(whys[g]) : json_null());
            if (!isfinite(v[g]))
                continue;
            have++;
            if (!isfinite(best) || (drows[k].lower_better ? v[g] < best : v[g] > best))
                best = v[g];
        }
        /* marked only where the candidates differ: a row of equal values has no best */
        size_t nbest = 0;
        for (size_t g = 0; g < ncol; g++)
            nbest += isfinite(v[g]) && v[g] == best;
        for (size_t g = 0; g < ncol; g++)
            json_array_append_new(ba, json_boolean(have >= 2 && nbest < have && v[g] == best));
        json_array_append_new(rows, json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "key", drows[k].key,
                                              "title", drows[k].title, "kind", drows[k].kind,
                                              "better", drows[k].lower_better ? "lower" : "higher",
                                              "values", va, "why", wa, "best", ba));
    }
    free(v);
    free(col);
    free(names);
    free(whys);
    return rows;
}
