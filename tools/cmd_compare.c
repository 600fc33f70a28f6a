/* cmd_compare.c: `resptrace compare`: replay runs side by side, per command, per class
 * (writes, reads) and overall, with the differences from the first run marked. */
#include "analysis_int.h"
#include "prices.h"
#include "tools.h"

#include "replay.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void usage_compare(FILE *out)
{
    fprintf(
        out,
        "usage: resptrace compare RUN_A.json RUN_B.json [RUN.json ...]\n"
        "                         [--threshold PCT] [--prices FILE] [--json[=FILE]]\n\n"
        "Compares replay results (`resptrace replay --json=RUN.json`, or `resptrace\n"
        "merge` of several) side by side. The first run is the baseline; every other\n"
        "run's numbers are shown with their difference from it in percent, marked\n"
        "\"worse\" or \"better\" when it is beyond --threshold (and \"*\" for ops, where\n"
        "neither is better).\n\n"
        "  --threshold PCT   the difference that is marked (default 10; 0 marks any)\n"
        "  --prices FILE     what each run's target costs: adds the rows of scope\n"
        "                    \"cost\" (see below)\n"
        "  --json[=FILE]     one JSON document on stdout instead of the table, or into\n"
        "                    FILE (the table then still goes to stdout): {\"tool\",\n"
        "                    \"version\", \"schema\", \"command\", \"threshold_pct\",\n"
        "                    \"baseline\", \"runs\", \"rows\": [{\"scope\", \"name\", \"metric\",\n"
        "                    \"values\", \"diff_pct\", \"flag\"}], \"notes\", \"prices\"};\n"
        "                    each run has \"sweep\" and \"cost\" (null when none)\n\n"
        "Compared, overall, per command class and per command (commands in decreasing\n"
        "total ops):\n"
        "  ops                replies received (the run's \"ops\")\n"
        "  ops/s              ops divided by the run's duration (its \"ops_per_s\"\n"
        "                     overall)\n"
        "  p50 ... max        latency from the intended send time (coordinated omission\n"
        "                     corrected), printed in ms, in the JSON in microseconds\n"
        "                     (metrics p50_us ... max_us)\n"
        "  errors             error replies and requests lost with their connection\n"
        "  misses             nil (or empty) replies where the recording had a value\n"
        "Classes: \"write\" are the commands the command table flags write, \"read\"\n"
        "those it flags readonly, \"other\" the rest (and unknown commands). A class's\n"
        "percentiles come from the exact merge of its commands' histograms (\"hist\");\n"
        "a run without them shows none for the classes (a note says so). A run's name\n"
        "is its \"label\", else its \"target\" and file name, else its file name; a name\n"
        "two runs would share gets \" #2\", \" #3\"... A difference from a baseline of 0\n"
        "is printed \"new\". Results written before the JSON documents carried \"tool\"\n"
        "and \"schema\" are read as well.\n\n"
        "A sweep (`resptrace replay --sweep ... --slo ... --json=FILE`) is compared by\n"
        "its step at the fastest speed that held the SLO (its first step when none\n"
        "held), and adds the rows of scope \"capacity\": that speed (\"max_speed_held\",\n"
        "in multiples of the recorded load) and the ops/s the step served (ops over\n"
        "its duration, \"slo_ops_per_s\").\n\n"
        "Prices: a JSON file the user writes (no prices are built in):\n"
        "  {\"currency\": \"USD\", \"hours_per_month\": 730,\n"
        "   \"runs\": {\"LABEL\": {\"nodes\": 3, \"price_per_node_hour\": 0.3}, ...}}\n"
        "A run is priced by its label, else by its file name. currency is optional,\n"
        "hours_per_month 730 when absent; a \"comment\" string may go at the top and\n"
        "in each run; other fields are refused. Rows of scope \"cost\": nodes,\n"
        "price_per_node_hour, monthly_cost = nodes x price_per_node_hour x\n"
        "hours_per_month, and for sweeps cost_per_1k_ops_s = monthly_cost /\n"
        "(slo_ops_per_s / 1000): the cost of serving 1,000 ops/s within the SLO.\n\n"
        "Exit status: 0; 1 when a run cannot be read or is not a replay result, or\n"
        "the prices file is not valid (the message names the field); 2 for a bad\n"
        "command line; 130 when interrupted.\n");
}

/* ---- the comparison (shared with the HTML report) ---------------------------------------- */

enum { K_COUNT, K_RATE, K_LAT, K_SPEED, K_PRICE, K_MONEY };

static const struct metric {
    const char *key, *title;
    int kind;
    int better; /* +1: higher is better, -1: lower is better, 0: neither */
} metrics[] = {
    /* of every scope of a run: overall, class, command (NMET of them) */
    {"ops", "ops", K_COUNT, 0},
    {"ops_per_s", "ops/s", K_RATE, +1},
    {"p50_us", "p50", K_LAT, -1},
    {"p90_us", "p90", K_LAT, -1},
    {"p99_us", "p99", K_LAT, -1},
    {"p999_us", "p99.9", K_LAT, -1},
    {"max_us", "max", K_LAT, -1},
    {"errors", "errors", K_COUNT, -1},
    {"misses", "misses", K_COUNT, -1},
    /* capacity (sweeps) */
    {"max_speed_held", "speed held", K_SPEED, +1},
    {"slo_ops_per_s", "ops/s at SLO", K_RATE, +1},
    /* cost (--prices) */
    {"nodes", "nodes", K_COUNT, 0},
    {"price_per_node_hour", "per node-hour", K_PRICE, -1},
    {"monthly_cost", "monthly", K_MONEY, -1},
    {"cost_per_1k_ops_s", "per 1k ops/s", K_MONEY, -1},
};
#define NMET 9       /* the metrics of a run's scopes */
#define M_CAPACITY 9 /* the first of the capacity metrics (2) */
#define M_COST 11    /* the first of the cost metrics (4) */
#define NMET_ALL (sizeof metrics / sizeof metrics[0])

enum { S_OVERALL, S_CLASS, S_COMMAND, S_CAPACITY, S_COST };
static const char *const scope_names[] = {"overall", "class", "command", "capacity", "cost"};
static const char *const class_names[] = {"write", "read", "other"};

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int cmd_class(const char *name)
{
    const struct rt_cmd *c = rt_cmd_by_name(name);
    if (c && (c->flags & RT_CMD_WRITE))
        return 0;
    if (c && (c->flags & RT_CMD_READONLY))
        return 1;
    return 2;
}

/* latency metrics from a latency object (µs), or from a histogram (ns) */
static void lat_from_json(const json_t *lat, double *v)
{
    static const char *const k[] = {"p50", "p90", "p99", "p999", "max"};
    for (int i = 0; i < 5; i++)
        v[2 + i] = num(lat, k[i]);
}

static void lat_from_hist(const struct rt_hist *h, double *v)
{
    static const double p[] = {50, 90, 99, 99.9};
    for (int i = 0; i < 4; i++)
        v[2 + i] = (double)rt_hist_percentile(h, p[i]) / 1e3;
    v[6] = (double)rt_hist_max(h) / 1e3;
}

/* The metrics of one scope of one run into v[NMET] (NAN: not there). @return 1 when the run
 * has the scope at all. A class without histograms appends a note. */
static int scope_values(const json_t *run, const char *rname, int scope, const char *name,
                        double *v, json_t *notes)
{
    for (size_t i = 0; i < NMET; i++)
        v[i] = NAN;
    double dur = num(run, "duration_s");
    if (scope == S_OVERALL) {
        v[0] = num(run, "ops");
        v[1] = num(run, "ops_per_s");
        lat_from_json(json_object_get(run, "latency_us"), v);
        v[7] = num(run, "errors");
        v[8] = num(json_object_get(run, "divergence"), "misses");
        return 1;
    }
    const json_t *cmds = json_object_get(run, "commands");
    if (scope == S_COMMAND) {
        const json_t *c = json_object_get(cmds, name);
        if (!json_is_object(c))
            return 0;
        v[0] = num(c, "ops");
        v[1] = dur > 0 ? v[0] / dur : NAN;
        lat_from_json(json_object_get(c, "latency_us"), v);
        v[7] = num(c, "errors");
        v[8] = num(json_object_get(c, "divergence"), "misses");
        return 1;
    }
    int cls = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(class_names[i], name))
            cls = i;
    struct rt_hist *acc = rt_hist_new();
    double ops = 0, errors = 0, misses = 0;
    int found = 0, exact = acc != NULL;
    const char *k;
    const json_t *c;
    json_object_foreach((json_t *)cmds, k, c)
    {
        if (cmd_class(k) != cls || !json_is_object(c))
            continue;
        found = 1;
        ops += num(c, "ops");
        errors += num(c, "errors");
        misses += num(json_object_get(c, "divergence"), "misses");
        if (!exact)
            continue;
        char where[200];
        snprintf(where, sizeof where, "commands.%.60s.latency_us", k);
        struct rt_err err = {0};
        struct rt_hist *h = rt_run_hist(json_object_get(c, "latency_us"), where, &err);
        if (!h) {
            char note[400];
            snprintf(note, sizeof note, "%.80s: %s; no latency for the class %s", rname, err.msg,
                     name);
            json_array_append_new(notes, json_string(note));
            exact = 0;
            continue;
        }
        rt_hist_merge(acc, h);
        rt_hist_free(h);
    }
    if (found) {
        v[0] = ops;
        v[1] = dur > 0 ? ops / dur : NAN;
        if (exact)
            lat_from_hist(acc, v);
        v[7] = errors;
        v[8] = misses;
    }
    rt_hist_free(acc);
    return found;
}

static json_t *jnum_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* one row: a metric of one scope across the runs */
static json_t *make_row(int scope, const char *name, size_t m, const double *vals, size_t n,
                        double threshold)
{
    json_t *row = json_object(), *va = json_array(), *da = json_array(), *fa = json_array();
    json_object_set_new(row, "scope", json_string(scope_names[scope]));
    json_object_set_new(row, "name", json_string(name));
    json_object_set_new(row, "metric", json_string(metrics[m].key));
    double base = vals[0];
    for (size_t r = 0; r < n; r++) {
        double v = vals[r];
        json_array_append_new(va, jnum_or_null(v));
        double d = NAN;
        int beyond = 0;
        if (r > 0 && isfinite(v) && isfinite(base)) {
            if (base != 0) {
                d = (v - base) / fabs(base) * 100.0;
                beyond = fabs(d) > threshold;
            } else {
                d = v == 0 ? 0 : NAN; /* from 0: "new" */
                beyond = v != 0;
            }
        }
        json_array_append_new(da, jnum_or_null(d));
        const char *flag = NULL;
        if (beyond) {
            int up = v > base;
            flag = metrics[m].better == 0            ? "changed"
                   : (up == (metrics[m].better > 0)) ? "better"
                                                     : "worse";
        }
        json_array_append_new(fa, flag ? json_string(flag) : json_null());
    }
    json_object_set_new(row, "values", va);
    json_object_set_new(row, "diff_pct", da);
    json_object_set_new(row, "flag", fa);
    return row;
}

static void add_scope(json_t *rows, json_t *const *runs, const char *const *names, size_t n,
                      int scope, const char *name, double threshold, json_t *notes)
{
    double *v = malloc(n * NMET * sizeof *v), *col = malloc(n * sizeof *col);
    int any = 0;
    for (size_t r = 0; v && col && r < n; r++)
        any |= scope_values(runs[r], names[r], scope, name, v + r * NMET, notes);
    for (size_t m = 0; v && col && any && m < NMET; m++) {
        for (size_t r = 0; r < n; r++)
            col[r] = v[r * NMET + m];
        json_array_append_new(rows, make_row(scope, name, m, col, n, threshold));
    }
    free(v);
    free(col);
}

struct cname {
    const char *name;
    double ops;
};

static int by_ops(const void *a, const void *b)
{
    const struct cname *x = a, *y = b;
    if (x->ops != y->ops)
        return x->ops < y->ops ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* a note when the runs differ in a setting that makes the comparison unfair */
static void note_differs(json_t *notes, json_t *const *runs, size_t n, const char *key,
                         const char *what)
{
    for (size_t r = 1; r < n; r++)
        if (!json_equal(json_object_get(runs[0], key), json_object_get(runs[r], key))) {
            char b[200];
            snprintf(b, sizeof b, "the runs %s (\"%s\" differs)", what, key);
            json_array_append_new(notes, json_string(b));
            return;
        }
}

/* The capacity rows (sweeps) and the cost rows (prices) of the comparison. */
static void add_capacity_cost(json_t *rows, json_t *const *sweeps, json_t *const *costs, size_t n,
                              int cost, double threshold)
{
    double *col = malloc((n ? n : 1) * sizeof *col);
    if (!col)
        return;
    size_t from = cost ? M_COST : M_CAPACITY, to = cost ? NMET_ALL : M_COST;
    for (size_t m = from; m < to; m++) {
        for (size_t r = 0; r < n; r++)
            col[r] = num(cost ? costs[r] : sweeps[r], metrics[m].key);
        json_array_append_new(rows,
                              make_row(cost ? S_COST : S_CAPACITY, "all", m, col, n, threshold));
    }
    free(col);
}

/* notes on the prices: runs without one, entries that named no run */
static void note_prices(json_t *notes, const struct rt_cand *c, json_t *const *costs, size_t n,
                        struct rt_prices *p)
{
    json_t *pj = rt_prices_json(p);
    const char *file = json_string_value(json_object_get(pj, "file"));
    for (size_t r = 0; r < n; r++) {
        if (costs[r])
            continue;
        const char *label = json_string_value(json_object_get(c[r].doc, "label"));
        const char *base = !c[r].file                ? NULL
                           : strrchr(c[r].file, '/') ? strrchr(c[r].file, '/') + 1
                                                     : c[r].file;
        char b[600];
        snprintf(b, sizeof b,
                 "%.100s: no price in %.200s (runs are priced by label%s%.80s%s%s%.80s%s)",
                 c[r].name, file, label ? " \"" : "", label ? label : "", label ? "\"" : "",
                 base ? ", else file name \"" : "", base ? base : "", base ? "\"" : "");
        json_array_append_new(notes, json_string(b));
    }
    rt_prices_notes(p, notes);
    json_decref(pj);
}

json_t *rt_compare_cands_json(const struct rt_cand *c, size_t n, double threshold_pct,
                              struct rt_prices *p)
{
    json_t *o = rt_json_doc("compare"), *ra = json_array(), *rows = json_array(),
           *notes = json_array();
    json_t **runs = calloc(n ? n : 1, sizeof *runs), **sweeps = calloc(n ? n : 1, sizeof *sweeps),
           **costs = calloc(n ? n : 1, sizeof *costs);
    const char **names = calloc(n ? n : 1, sizeof *names);
    struct cname *cn = NULL;
    size_t ncn = 0;
    int any_sweep = 0;
    if (!o || !ra || !rows || !notes || !runs || !sweeps || !costs || !names)
        goto fail;
    for (size_t r = 0; r < n; r++) {
        runs[r] = (json_t *)c[r].run;
        names[r] = c[r].name;
        sweeps[r] = rt_sweep_json(c[r].doc);
        any_sweep |= sweeps[r] != NULL;
        costs[r] = p ? rt_prices_cost(p, c[r].doc, c[r].file) : NULL;
    }
    json_object_set_new(o, "threshold_pct", json_real(threshold_pct));
    json_object_set_new(o, "baseline", json_string(names[0]));
    json_object_set_new(o, "prices", p ? rt_prices_json(p) : json_null());
    for (size_t r = 0; r < n; r++) {
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(names[r]));
        static const char *const keep[] = {"label", "target",     "trace",
                                           "speed", "duration_s", "parts"};
        for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
            json_t *x = json_object_get(runs[r], keep[k]);
            if (x)
                json_object_set(e, keep[k], x);
        }
        json_object_set(e, "sweep", sweeps[r] ? sweeps[r] : json_null());
        json_object_set(e, "cost", costs[r] ? costs[r] : json_null());
        json_array_append_new(ra, e);
    }
    json_object_set_new(o, "runs", ra);
    ra = NULL;
    note_differs(notes, runs, n, "trace", "replayed different traces");
    note_differs(notes, runs, n, "speed", "replayed at different speeds");
    note_differs(notes, runs, n, "requests", "sent different numbers of requests");
    for (size_t r = 1; r < n; r++)
        if (sweeps[0] && sweeps[r] &&
            !json_equal(json_object_get(sweeps[0], "slo"), json_object_get(sweeps[r], "slo"))) {
            json_array_append_new(notes, json_string("the sweeps held different SLOs (\"slo\" "
                                                     "differs): their capacities do not compare"));
            break;
        }
    if (p)
        note_prices(notes, c, costs, n, p);

    if (any_sweep)
        add_capacity_cost(rows, sweeps, costs, n, 0, threshold_pct);
    if (p)
        add_capacity_cost(rows, sweeps, costs, n, 1, threshold_pct);
    add_scope(rows, runs, names, n, S_OVERALL, "all", threshold_pct, notes);
    for (int k = 0; k < 3; k++)
        add_scope(rows, runs, names, n, S_CLASS, class_names[k], threshold_pct, notes);
    /* the commands of every run, busiest first */
    for (size_t r = 0; r < n; r++) {
        const char *k;
        json_t *cm;
        json_object_foreach(json_object_get(runs[r], "commands"), k, cm)
        {
            size_t i = 0;
            while (i < ncn && strcmp(cn[i].name, k))
                i++;
            if (i == ncn) {
                struct cname *q = realloc(cn, (ncn + 1) * sizeof *cn);
                if (!q)
                    goto fail;
                cn = q;
                cn[ncn++] = (struct cname){.name = k, .ops = 0};
            }
            double ops = num(cm, "ops");
            cn[i].ops += isfinite(ops) ? ops : 0;
        }
    }
    if (ncn)
        qsort(cn, ncn, sizeof *cn, by_ops);
    for (size_t i = 0; i < ncn; i++)
        add_scope(rows, runs, names, n, S_COMMAND, cn[i].name, threshold_pct, notes);
    json_object_set_new(o, "rows", rows);
    json_object_set_new(o, "notes", notes);
    rows = notes = NULL;
    goto done;
fail:
    json_decref(o);
    o = NULL;
done:
    for (size_t r = 0; r < n && sweeps && costs; r++) {
        json_decref(sweeps[r]);
        json_decref(costs[r]);
    }
    free(cn);
    free(runs);
    free(sweeps);
    free(costs);
    free(names);
    json_decref(ra);
    json_decref(rows);
    json_decref(notes);
    return o;
}

json_t *rt_compare_json(json_t *const *runs, const char *const *names, size_t n,
                        double threshold_pct)
{
    struct rt_cand *c = calloc(n ? n : 1, sizeof *c);
    if (!c)
        return NULL;
    for (size_t r = 0; r < n; r++)
        c[r] = (struct rt_cand){.doc = runs[r], .run = runs[r], .name = names[r]};
    json_t *o = rt_compare_cands_json(c, n, threshold_pct, NULL);
    free(c);
    return o;
}

/* ---- the terminal table ------------------------------------------------------------------ */

static const struct metric *metric_of(const char *key)
{
    for (size_t m = 0; m < NMET_ALL; m++)
        if (!strcmp(metrics[m].key, key))
            return &metrics[m];
    return NULL;
}

static void fmt_value(const struct metric *m, const json_t *v, char *b, size_t cap)
{
    if (!json_is_number(v)) {
        snprintf(b, cap, "-");
        return;
    }
    double x = json_number_value(v);
    if (m->kind == K_LAT)
        snprintf(b, cap, "%.3f", x / 1e3);
    else if (m->kind == K_RATE)
        snprintf(b, cap, "%.1f", x);
    else if (m->kind == K_SPEED)
        snprintf(b, cap, "%.3fx", x);
    else if (m->kind == K_PRICE)
        snprintf(b, cap, "%.4f", x);
    else if (m->kind == K_MONEY)
        snprintf(b, cap, "%.2f", x);
    else
        snprintf(b, cap, "%.0f", x);
}

/* a difference in percent; "new" from a baseline of 0, nothing from a baseline without one */
static void fmt_diff(const json_t *d, const json_t *v, const json_t *base, char *b, size_t cap)
{
    if (json_is_number(d))
        snprintf(b, cap, "%+.1f%%", json_number_value(d));
    else if (json_is_number(v) && json_is_number(base))
        snprintf(b, cap, "new");
    else
        b[0] = 0;
}

#define NAMEW 16
#define VALW 12

static void print_table(FILE *f, const json_t *cmp, char *const *files)
{
    const json_t *runs = json_object_get(cmp, "runs");
    size_t n = json_array_size(runs);
    fprintf(f, "baseline: %s; differences from it, marked beyond +-%g%%\n",
            json_string_value(json_object_get(json_array_get(runs, 0), "name")),
            num(cmp, "threshold_pct"));
    for (size_t r = 0; r < n; r++) {
        const json_t *e = json_array_get(runs, r), *sw = json_object_get(e, "sweep");
        fprintf(f, "  run %zu: %s (%s)", r + 1, json_string_value(json_object_get(e, "name")),
                files[r]);
        if (json_is_object(sw))
            fprintf(f, ": a sweep of SLO %s, compared by its step at %.3gx (%s)",
                    json_string_value(json_object_get(sw, "slo"))
                        ? json_string_value(json_object_get(sw, "slo"))
                        : "?",
                    num(sw, "step_speed"),
                    json_is_number(json_object_get(sw, "max_speed_held"))
                        ? "the fastest speed that held"
                        : "none held: its first step");
        fputc('\n', f);
    }
    const json_t *pr = json_object_get(cmp, "prices");
    if (json_is_object(pr)) {
        const char *cur = json_string_value(json_object_get(pr, "currency"));
        fprintf(f,
                "cost: prices from %s%s%s; monthly = nodes x price per node-hour x %g hours;\n"
                "  per 1k ops/s = monthly / (ops/s served within the SLO / 1000), that ops/s\n"
                "  being what a sweep's step at its fastest speed that held served (sweeps "
                "only)\n",
                json_string_value(json_object_get(pr, "file")), cur ? ", in " : "", cur ? cur : "",
                num(pr, "hours_per_month"));
    }
    fputc('\n', f);
    /* headers: the baseline's column is VALW wide, the others' VALW + diff + flag */
    fprintf(f, "%-*s", NAMEW, "");
    for (size_t r = 0; r < n; r++) {
        const char *nm = json_string_value(json_object_get(json_array_get(runs, r), "name"));
        int w = r == 0 ? VALW : VALW + 16;
        char alt[32];
        if (!nm || strlen(nm) > (size_t)w) { /* too wide: the legend above names it */
            snprintf(alt, sizeof alt, "run %zu", r + 1);
            nm = alt;
        }
        fprintf(f, " %*s", w, nm);
    }
    fputc('\n', f);
    const char *last_scope = "", *last_name = "";
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(cmp, "rows"), i, row)
    {
        const char *sc = json_string_value(json_object_get(row, "scope"));
        const char *nm = json_string_value(json_object_get(row, "name"));
        if (strcmp(sc, last_scope) || strcmp(nm, last_name)) {
            if (!strcmp(sc, "overall"))
                fprintf(f, "overall\n");
            else if (!strcmp(sc, "capacity"))
                fprintf(f, "capacity at the SLO (a sweep's fastest speed that held)\n");
            else if (!strcmp(sc, "cost")) {
                const char *cur = json_string_value(json_object_get(pr, "currency"));
                fprintf(f, "cost%s%s\n", cur ? " in " : "", cur ? cur : "");
            } else if (!strcmp(sc, "class"))
                fprintf(f, "class %s (commands flagged %s)\n", nm,
                        !strcmp(nm, "write")  ? "write"
                        : !strcmp(nm, "read") ? "readonly"
                                              : "neither");
            else
                fprintf(f, "command %s\n", nm);
            last_scope = sc;
            last_name = nm;
        }
        const struct metric *m = metric_of(json_string_value(json_object_get(row, "metric")));
        char title[32];
        snprintf(title, sizeof title, "%s%s", m->title, m->kind == K_LAT ? " ms" : "");
        fprintf(f, "  %-*s", NAMEW - 2, title);
        const json_t *va = json_object_get(row, "values"), *da = json_object_get(row, "diff_pct"),
                     *fa = json_object_get(row, "flag");
        for (size_t r = 0; r < n; r++) {
            char b[48], d[32];
            fmt_value(m, json_array_get(va, r), b, sizeof b);
            fprintf(f, " %*s", VALW, b);
            if (r == 0)
                continue;
            fmt_diff(json_array_get(da, r), json_array_get(va, r), json_array_get(va, 0), d,
                     sizeof d);
            const char *fl = json_string_value(json_array_get(fa, r));
            fprintf(f, " %8s %-6s", d, !fl ? "" : !strcmp(fl, "changed") ? "*" : fl);
        }
        fputc('\n', f);
    }
    size_t k;
    const json_t *nt;
    json_array_foreach(json_object_get(cmp, "notes"), k, nt)
    {
        if (k == 0)
            fputc('\n', f);
        fprintf(f, "note: %s\n", json_string_value(nt));
    }
}

/* ---- the command ------------------------------------------------------------------------- */

/* Loads one run: a replay result (with or without the "tool"/"schema" header of newer
 * files) into *doc and the RUN object compared into *run (the document itself, or a sweep's
 * step: rt_sweep_run). @return 0 or -1 after printing why. */
static int load_run(const char *path, json_t **doc, json_t **run)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_DECODE_ANY, &je);
    if (!j) {
        fprintf(stderr, "resptrace compare: %s: line %d column %d: %s\n", path, je.line, je.column,
                je.text);
        return -1;
    }
    const char *tool = json_string_value(json_object_get(j, "tool"));
    if (json_is_object(j) && rt_doc_is_sweep(j) && (!tool || !strcmp(tool, "resptrace"))) {
        struct rt_err err = {0};
        json_t *r = rt_sweep_run(j, path, &err);
        if (!r) {
            fprintf(stderr, "resptrace compare: %s\n", err.msg);
            json_decref(j);
            return -1;
        }
        *doc = j;
        *run = r;
        return 0;
    }
    if (!json_is_object(j) || !json_is_object(json_object_get(j, "latency_us")) ||
        !json_is_number(json_object_get(j, "ops")) || (tool && strcmp(tool, "resptrace"))) {
        const char *cmd = json_string_value(json_object_get(j, "command"));
        fprintf(stderr,
                "resptrace compare: %s: not a replay result%s%s%s (no \"ops\" and "
                "\"latency_us\", nor a sweep's \"steps\"; write one with `resptrace replay "
                "--json=FILE`)\n",
                path, cmd ? " (written by `resptrace " : "", cmd ? cmd : "", cmd ? "`)" : "");
        json_decref(j);
        return -1;
    }
    *doc = j;
    *run = json_incref(j);
    return 0;
}

/* The runs' names: label, else target and file name, else file name; unique (" #2"). */
static void run_names(json_t *const *runs, char *const *files, size_t n, char (*names)[200])
{
    for (size_t r = 0; r < n; r++) {
        const json_t *label = json_object_get(runs[r], "label"),
                     *target = json_object_get(runs[r], "target");
        const char *base = strrchr(files[r], '/') ? strrchr(files[r], '/') + 1 : files[r];
        char name[200];
        if (json_is_string(label))
            snprintf(name, sizeof name, "%s", json_string_value(label));
        else if (json_is_string(target))
            snprintf(name, sizeof name, "%s (%s)", json_string_value(target), base);
        else
            snprintf(name, sizeof name, "%s", base);
        snprintf(names[r], sizeof names[r], "%s", name);
        for (unsigned k = 2;; k++) {
            size_t j = 0;
            while (j < r && strcmp(names[j], names[r]))
                j++;
            if (j == r)
                break;
            snprintf(names[r], sizeof names[r], "%.180s #%u", name, k);
        }
    }
}

int cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {{"threshold", required_argument, NULL, 't'},
                                         {"prices", required_argument, NULL, 'p'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    double threshold = 10;
    const char *json_path = NULL, *prices_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end;
            errno = 0;
            threshold = strtod(optarg, &end);
            if (errno || end == optarg || (*end && strcmp(end, "%")) || !isfinite(threshold) ||
                threshold < 0)
                return rt_usage_error("compare", "bad --threshold '%s' (a percentage >= 0)",
                                      optarg);
            break;
        }
        case 'p':
            if (!*optarg)
                return rt_usage_error("compare", "--prices needs a file name");
            prices_path = optarg;
            break;
        case 'j': json_path = optarg ? optarg : "-"; break;
        case 'h': usage_compare(stdout); return RT_EXIT_OK;
        default: return rt_opt_error("compare", c, argv);
        }
    }
    size_t n = (size_t)(argc - optind);
    if (n < 2)
        return rt_usage_error("compare", "give at least two runs (RUN.json files)");
    if (json_path && !*json_path)
        return rt_usage_error("compare", "--json= needs a file name (or '-' for stdout)");
    char *const *files = argv + optind;
    /* the inputs: the runs and the prices file */
    const char **inputs = calloc(n + 1, sizeof *inputs);
    if (!inputs)
        rt_oom("compare");
    for (size_t r = 0; r < n; r++)
        inputs[r] = files[r];
    inputs[n] = prices_path;
    int refused = rt_out_refuse_inputs("compare", json_path, inputs, prices_path ? n + 1 : n) < 0;
    free(inputs);
    if (refused)
        return RT_EXIT_USAGE;
    rt_catch_signals();
    json_t **docs = calloc(n, sizeof *docs), **runs = calloc(n, sizeof *runs);
    char(*names)[200] = calloc(n, sizeof *names);
    struct rt_cand *cands = calloc(n, sizeof *cands);
    struct rt_prices *prices = NULL;
    int status = RT_EXIT_FAIL;
    if (!docs || !runs || !names || !cands) {
        fprintf(stderr, "resptrace compare: out of memory\n");
        goto done;
    }
    if (prices_path) {
        struct rt_err err = {0};
        if (rt_prices_load(prices_path, &prices, &err) < 0) {
            fprintf(stderr, "resptrace compare: %s\n", err.msg);
            goto done;
        }
    }
    for (size_t r = 0; r < n; r++)
        if (load_run(files[r], &docs[r], &runs[r]) < 0)
            goto done;
    run_names(docs, files, n, names);
    for (size_t r = 0; r < n; r++)
        cands[r] =
            (struct rt_cand){.doc = docs[r], .run = runs[r], .name = names[r], .file = files[r]};
    json_t *cmp = rt_compare_cands_json(cands, n, threshold, prices);
    if (!cmp) {
        fprintf(stderr, "resptrace compare: out of memory\n");
        goto done;
    }
    if (rt_interrupted) { /* nothing half written: the comparison is all or nothing */
        fprintf(stderr, "resptrace compare: interrupted\n");
        json_decref(cmp);
        status = RT_EXIT_INTERRUPTED;
        goto done;
    }
    status = RT_EXIT_OK;
    if (!json_path || strcmp(json_path, "-"))
        print_table(stdout, cmp, files);
    if (json_path) {
        json_t *ra = json_object_get(cmp, "runs");
        for (size_t r = 0; r < n; r++)
            json_object_set_new(json_array_get(ra, r), "file", json_string(files[r]));
        if (rt_json_write("compare", cmp, json_path) < 0)
            status = RT_EXIT_FAIL;
    } else {
        json_decref(cmp);
    }
done:
    for (size_t r = 0; docs && runs && r < n; r++) {
        json_decref(docs[r]);
        json_decref(runs[r]);
    }
    free(docs);
    free(runs);
    free(names);
    free(cands);
    rt_prices_free(prices);
    return status;
}
