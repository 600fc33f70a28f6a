/* cmd_report.c: `resptrace report`: one self-contained HTML file (inline SVG and CSS; no
 * scripts, fonts or anything else fetched) with a trace's request rate, command mix, hot keys
 * and shard balance, and the latency over time of replay runs. */
#define _GNU_SOURCE /* open_memstream */
#include "analysis_int.h"
#include "prices.h"
#include "tools.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void usage_report(FILE *out)
{
    fprintf(out,
            "usage: resptrace report TRACE [RUN.json ...] [-o FILE] [--top K]\n"
            "                        [--shards LIST] [--threshold PCT] [--prices FILE]\n"
            "                        [--salvage] [--json[=FILE]] [-q]\n\n"
            "Writes one self-contained HTML file (inline SVG and CSS only: no scripts, no\n"
            "fonts, nothing fetched, it works offline) that shows:\n"
            "  decision        with runs: one column per candidate target (runs with the\n"
            "                  same --label are one: a drill and a sweep): write and\n"
            "                  read p99, headroom at the SLO and the ops/s served within\n"
            "                  it (sweeps), acknowledged writes lost on failover\n"
            "                  (--verify-writes), miss storm and warm-up time (the run's\n"
            "                  disruption), monthly cost and cost per 1,000 ops/s at\n"
            "                  the SLO (--prices); the best of each row marked\n"
            "  overview        the numbers of `resptrace stat TRACE`\n"
            "  request rate    requests per second of trace time (as `stat` counts them),\n"
            "                  and error replies per second when there are any\n"
            "  command mix     requests per command and its class (read, write, other)\n"
            "  replay runs     for each RUN.json written by `resptrace replay\n"
            "                  --json=RUN.json`: a summary (throughput, latency\n"
            "                  percentiles, errors, divergence), side by side, and its\n"
            "                  per-second timeline (ops/s, errors/s, p50, p99 and max\n"
            "                  latency) when the run has one\n"
            "  runs compared   with two runs or more: each run against the first, overall,\n"
            "                  per command class and per command (the numbers of\n"
            "                  `resptrace compare`), differences beyond --threshold marked\n"
            "  hot keys        the top K keys, key prefixes (depth 1) and cluster slots by\n"
            "                  operations (as `resptrace hotkeys TRACE --top K` counts)\n"
            "  shard balance   for each shard count of LIST, the operations per shard\n"
            "                  with evenly split slot ranges (as `resptrace shards` counts)\n\n"
            "  -o, --output FILE  the HTML file (default report.html; \"-\" for stdout);\n"
            "                     never the trace or a run\n"
            "  --top K            keys, prefixes and slots listed (default 20)\n"
            "  --shards LIST      comma-separated shard counts, each 1 to 1024 (default\n"
            "                     3,6,12; \"none\": no shard section)\n"
            "  --salvage          skip damaged chunks of the trace instead of stopping\n"
            "  --threshold PCT    the difference between runs that is marked (default 10)\n"
            "  --prices FILE      what each run's target costs, as for `resptrace compare\n"
            "                     --prices` (see its help): monthly cost = nodes x price\n"
            "                     per node-hour x hours_per_month (730); cost per 1,000\n"
            "                     ops/s = monthly cost / (ops/s within the SLO / 1000)\n"
            "  --json[=FILE]      a JSON document of what was written, on stdout instead\n"
            "                     of the line saying so, or into FILE; with runs it has\n"
            "                     the decision table (\"decision\": rows of \"values\")\n"
            "  -q, --quiet        no status line (shown on a terminal while reading)\n\n"
            "A RUN.json may also be a sweep (`resptrace replay --sweep ... --slo ...\n"
            "--json=FILE`): it is shown by its step at the fastest speed that held the\n"
            "SLO (its first step when none held).\n"
            "A run's name is its \"label\", else its \"target\" and file name, else its file\n"
            "name; a name that two runs would share gets \" #2\", \" #3\"... Every string\n"
            "taken from the trace or a run (keys, command names, error prefixes, labels)\n"
            "is HTML-escaped; control characters and bytes that are not UTF-8 are shown\n"
            "as \\xHH. Rates are per second of each interval's real length: the last\n"
            "second of a trace or a run is often partial, and is drawn scaled to a whole\n"
            "second, or left out when it covers less than a quarter of one. Charts of\n"
            "more than 1000 seconds show 1000 buckets: rates as each bucket's mean, the\n"
            "latency lines as each bucket's maximum.\n\n"
            "Exit status: 0; 1 when the trace or a run cannot be read or the trace is\n"
            "damaged (the report is still written for a damaged trace); 2 for a bad\n"
            "command line; 130 when interrupted (Ctrl-C: the report is written with what\n"
            "was read, and says so).\n");
}

/* ---- palette: fixed colours, also looked for by tests/cli/test_report.sh ----------------- */

#define C_RATE "#1f77b4"
#define C_READ "#2ca02c"
#define C_WRITE "#ff7f0e"
#define C_OTHER "#7f7f7f"
#define C_HOT "#d62728"
#define C_SHARD "#9467bd"
#define C_P50 "#17becf"
#define C_P99 "#bcbd22"
#define C_MAX "#e377c2"
#define C_ERR "#e41a1c"
static const char *const run_colors[] = {"#8c564b", "#393b79", "#637939", "#843c39",
                                         "#7b4173", "#3182bd", "#e6550d", "#31a354"};
#define NRUNCOLORS (sizeof run_colors / sizeof run_colors[0])

#define MAX_POINTS 1000 /* points drawn per line */
#define MAX_SHARD_COUNTS 16
#define MAX_SHARDS 1024 /* the largest shard count rt_shards_json() projects onto */

/* ---- text ------------------------------------------------------------------------------- */

/* The length (1-4) and code point of the valid UTF-8 sequence at p, 0 when there is none. */
static size_t utf8_dec(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned c = p[0];
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        *cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        *cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        *cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))) ||
        (len == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
        return 0;
    return len;
}

/* Writes untrusted bytes as HTML text (also safe inside a quoted attribute): the five markup
 * characters as references, control characters, noncharacters and bytes that are not UTF-8 as
 * the visible text \xHH (\uHHHH above 0xff), at most `max` characters, then "…(+N bytes)". */
static void esc_n(FILE *f, const char *s, size_t n, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, shown = 0;
    while (i < n) {
        if (shown == max) {
            fprintf(f, "\xe2\x80\xa6(+%zu bytes)", n - i);
            return;
        }
        uint32_t cp;
        size_t k = utf8_dec(p + i, n - i, &cp);
        if (k == 0) {
            fprintf(f, "\\x%02x", p[i]);
            k = 1;
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xfdd0 && cp <= 0xfdef) ||
                   (cp & 0xfffe) == 0xfffe) {
            if (cp <= 0xff)
                fprintf(f, "\\x%02x", (unsigned)cp);
            else
                fprintf(f, "\\u%04x", (unsigned)cp);
        } else if (cp == '&') {
            fputs("&amp;", f);
        } else if (cp == '<') {
            fputs("&lt;", f);
        } else if (cp == '>') {
            fputs("&gt;", f);
        } else if (cp == '"') {
            fputs("&quot;", f);
        } else if (cp == '\'') {
            fputs("&#39;", f);
        } else {
            fwrite(p + i, 1, k, f);
        }
        i += k;
        shown++;
    }
}

static void esc(FILE *f, const char *s)
{
    esc_n(f, s ? s : "", s ? strlen(s) : 0, SIZE_MAX);
}

/* A JSON string value escaped (NUL bytes included), or `dflt` when `v` is not a string. */
static void esc_json(FILE *f, const json_t *v, size_t max, const char *dflt)
{
    if (json_is_string(v))
        esc_n(f, json_string_value(v), json_string_length(v), max);
    else
        esc(f, dflt);
}

/* ---- numbers ---------------------------------------------------------------------------- */

static double jnum(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static double jnum2(const json_t *o, const char *a, const char *b)
{
    return jnum(json_object_get(o, a), b);
}

/* "1,234,567" for whole numbers, 3 significant decimals otherwise, "-" for none. */
static const char *fmt_num(double v, char *buf, size_t cap)
{
    if (!isfinite(v)) {
        snprintf(buf, cap, "-");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        char d[32];
        snprintf(d, sizeof d, "%.0f", fabs(v));
        size_t n = strlen(d), o = 0;
        if (v < 0 && o + 1 < cap)
            buf[o++] = '-';
        for (size_t i = 0; i < n && o + 2 < cap; i++) {
            if (i && (n - i) % 3 == 0)
                buf[o++] = ',';
            buf[o++] = d[i];
        }
        buf[o] = '\0';
    } else if (fabs(v) >= 100) {
        snprintf(buf, cap, "%.1f", v);
    } else {
        snprintf(buf, cap, "%.3g", v);
    }
    return buf;
}

/* a time in microseconds: "850 ns", "12.3 µs", "1.23 ms", "1.23 s" */
static const char *fmt_us(double us, char *buf, size_t cap)
{
    if (!isfinite(us))
        snprintf(buf, cap, "-");
    else if (us < 1)
        snprintf(buf, cap, "%.0f ns", us * 1e3);
    else if (us < 1000)
        snprintf(buf, cap, "%.3g \xc2\xb5s", us);
    else if (us < 1e6)
        snprintf(buf, cap, "%.3g ms", us / 1e3);
    else
        snprintf(buf, cap, "%.3g s", us / 1e6);
    return buf;
}

/* a short axis number: 950, 1.5k, 20k, 3M */
static const char *fmt_short(double v, char *buf, size_t cap)
{
    double a = fabs(v);
    if (a >= 1e9)
        snprintf(buf, cap, "%gG", v / 1e9);
    else if (a >= 1e6)
        snprintf(buf, cap, "%gM", v / 1e6);
    else if (a >= 1e3)
        snprintf(buf, cap, "%gk", v / 1e3);
    else
        snprintf(buf, cap, "%g", v);
    return buf;
}

/* 1, 2 or 5 times a power of ten, at least `raw` */
static double nice_step(double raw)
{
    if (!(raw > 0))
        return 1;
    double p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* ---- line charts ------------------------------------------------------------------------- */

struct line {
    const char *name, *color;
    const double *x, *y; /* n points; points with a non-finite y are left out */
    size_t n;
    int agg_max; /* downsampled as each bucket's maximum (else its mean) */
};

enum { AX_COUNT, AX_US };

struct axes {
    const char *ylabel;
    int ykind;       /* AX_COUNT or AX_US (tick labels) */
    int logy;        /* log10 scale */
    double ylo, yhi; /* a shared scale (0, 0: from the data) */
};

#define CW 1000
#define CH 300
#define ML 78
#define MR 20
#define MT 34
#define MB 40

/* The points of a line, at most MAX_POINTS (buckets of equal width over [x0, x1]). */
static size_t line_points(const struct line *l, double x0, double x1, double *px, double *py)
{
    size_t m = 0;
    if (l->n <= MAX_POINTS) {
        for (size_t i = 0; i < l->n; i++)
            if (isfinite(l->x[i]) && isfinite(l->y[i])) {
                px[m] = l->x[i];
                py[m++] = l->y[i];
            }
        return m;
    }
    static double sx[MAX_POINTS], sy[MAX_POINTS], cnt[MAX_POINTS];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < l->n; i++) {
        if (!isfinite(l->x[i]) || !isfinite(l->y[i]))
            continue;
        double r = (l->x[i] - x0) / (x1 - x0) * MAX_POINTS;
        size_t b = r < 0 ? 0 : r >= MAX_POINTS ? MAX_POINTS - 1 : (size_t)r;
        if (cnt[b] == 0) {
            sx[b] = 0;
            sy[b] = l->agg_max ? l->y[i] : 0;
        }
        sx[b] += l->x[i];
        if (l->agg_max)
            sy[b] = l->y[i] > sy[b] ? l->y[i] : sy[b];
        else
            sy[b] += l->y[i];
        cnt[b]++;
    }
    for (size_t b = 0; b < MAX_POINTS; b++)
        if (cnt[b] > 0) {
            px[m] = sx[b] / cnt[b];
            py[m++] = l->agg_max ? sy[b] : sy[b] / cnt[b];
        }
    return m;
}

static void tick_label(FILE *f, double v, int kind)
{
    char b[32];
    esc(f, kind == AX_US ? fmt_us(v, b, sizeof b) : fmt_short(v, b, sizeof b));
}

/* Scans the lines for their x range and y range. @return 0 when no line has a point. */
static int line_ranges(const struct line *L, size_t nl, double *x0, double *x1, double *ylo,
                       double *yhi)
{
    int any = 0;
    *x0 = *ylo = INFINITY;
    *x1 = *yhi = -INFINITY;
    for (size_t k = 0; k < nl; k++)
        for (size_t i = 0; i < L[k].n; i++) {
            double x = L[k].x[i], y = L[k].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            any = 1;
            *x0 = x < *x0 ? x : *x0;
            *x1 = x > *x1 ? x : *x1;
            *ylo = y < *ylo ? y : *ylo;
            *yhi = y > *yhi ? y : *yhi;
        }
    return any;
}

struct yscale {
    double lo, hi, ph; /* the axis range (log10 of it on a log scale), the plot height */
    double top;        /* the plot's top edge */
    int logy;
};

/* The SVG y of value v, clamped to the plot. */
static double ypos(const struct yscale *s, double v)
{
    double t = s->logy ? (v > 0 ? log10(v) : s->lo) : v;
    double r = (t - s->lo) / (s->hi - s->lo);
    r = r < 0 ? 0 : r > 1 ? 1 : r;
    return s->top + s->ph * (1 - r);
}

/* Widths of text in SVG user units, generous so that nothing drawn is cut: 12px sans-serif
 * averages under 7 units a character (digits 6.7), 12px monospace is 7.2 a character. */
#define SANS_W 7.0
#define MONO_W 7.3

/* The characters a reader sees of `s` (n bytes) written by esc_n(f, s, n, max): what the
 * chart layout measures. */
static size_t esc_chars(const char *s, size_t n, size_t max)
{
    char *buf = NULL;
    size_t len = 0, k = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return n < max ? n : max;
    esc_n(m, s, n, max);
    fclose(m);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if ((c & 0xc0) == 0x80)
            continue; /* a UTF-8 continuation byte */
        if (c == '&') { /* a character reference is one character */
            while (i < len && buf[i] != ';')
                i++;
        }
        k++;
    }
    free(buf);
    return k;
}

#define LEG_MAX 60 /* characters of a legend name shown */
#define LEG_ROW 18 /* height of a row of legend entries */

/* Places the legend entries above the plot, wrapping them onto more rows when they do not
 * fit in one: lx[k], row[k]. @return the number of rows. */
static size_t legend_layout(const struct line *L, size_t nl, double *lx, size_t *row)
{
    double x = ML;
    size_t r = 0;
    for (size_t k = 0; k < nl; k++) {
        double w = 18 + SANS_W * (double)esc_chars(L[k].name, strlen(L[k].name), LEG_MAX) + 16;
        if (x > ML && x + w > CW - MR) {
            r++;
            x = ML;
        }
        lx[k] = x;
        row[k] = r;
        x += w;
    }
    return nl ? r + 1 : 1;
}

/* An SVG line chart with x in seconds. */
static void svg_lines(FILE *f, const char *css_class, const struct line *L, size_t nl,
                      const struct axes *ax)
{
    double x0, x1, dlo, dhi;
    if (!line_ranges(L, nl, &x0, &x1, &dlo, &dhi)) {
        fprintf(f, "<p class=\"none\">no data points</p>\n");
        return;
    }
    if (x1 <= x0)
        x1 = x0 + 1;
    if (ax->yhi > 0) {
        dlo = ax->ylo;
        dhi = ax->yhi;
    }
    double *lx = calloc(nl ? nl : 1, sizeof *lx);
    size_t *lrow = calloc(nl ? nl : 1, sizeof *lrow);
    if (!lx || !lrow) {
        free(lx);
        free(lrow);
        fprintf(f, "<p class=\"none\">out of memory</p>\n");
        return;
    }
    size_t rows = legend_layout(L, nl, lx, lrow);
    double mt = MT + LEG_ROW * (double)(rows - 1), height = CH + LEG_ROW * (double)(rows - 1);
    double pw = CW - ML - MR, ph = CH - MT - MB;
    /* y scale: [lo, hi] mapped linearly (or on log10) onto the plot */
    double lo, hi, step;
    if (ax->logy) {
        double mn = dlo > 0 ? dlo : 1; /* zero or less sits on the bottom edge */
        lo = floor(log10(mn));
        hi = ceil(log10(dhi > mn ? dhi : mn * 10));
        if (hi <= lo)
            hi = lo + 1;
        step = 1;
    } else {
        lo = 0;
        step = nice_step((dhi > 0 ? dhi : 1) / 5);
        hi = ceil((dhi > 0 ? dhi : 1) / step) * step;
    }
    struct yscale ys = {.lo = lo, .hi = hi, .ph = ph, .top = mt, .logy = ax->logy};
#define YPOS(v) ypos(&ys, (v))
#define XPOS(v) (ML + pw * ((v)-x0) / (x1 - x0))
    fprintf(f,
            "<svg class=\"%s\" viewBox=\"0 0 %d %.0f\" width=\"%d\" height=\"%.0f\" "
            "role=\"img\">\n",
            css_class, CW, height, CW, height);
    fprintf(f, "<rect x=\"%d\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" class=\"plot\"/>\n", ML,
            mt, pw, ph);
    /* y grid and labels */
    for (double t = lo; t <= hi + step / 2; t += step) {
        double v = ax->logy ? pow(10, t) : t;
        double y = mt + ph - ph * (t - lo) / (hi - lo);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" class=\"grid\"/>", ML, y,
                ML + pw, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"yt\">", ML - 6, y + 4);
        tick_label(f, v, ax->ykind);
        fprintf(f, "</text>\n");
    }
    /* x ticks in seconds */
    double xs = nice_step((x1 - x0) / 8);
    for (double t = ceil(x0 / xs) * xs; t <= x1 + xs / 1e6; t += xs) {
        double x = XPOS(t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" class=\"grid\"/>", x,
                mt, x, mt + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" class=\"xt\">%g s</text>\n", x, mt + ph + 16, t);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"xl\">seconds since start</text>\n",
            ML + pw / 2, height - 4);
    fprintf(f, "<text x=\"14\" y=\"%.0f\" class=\"yl\" transform=\"rotate(-90 14 %.0f)\">",
            mt + ph / 2, mt + ph / 2);
    esc(f, ax->ylabel);
    fprintf(f, "</text>\n");
    /* the lines */
    double *px = malloc(MAX_POINTS * sizeof *px), *py = malloc(MAX_POINTS * sizeof *py);
    for (size_t k = 0; k < nl && px && py; k++) {
        size_t m = line_points(&L[k], x0, x1, px, py);
        if (m == 1) {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", XPOS(px[0]),
                    YPOS(py[0]), L[k].color);
        } else if (m > 1) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                    L[k].color);
            for (size_t i = 0; i < m; i++)
                fprintf(f, "%s%.1f,%.1f", i ? " " : "", XPOS(px[i]), YPOS(py[i]));
            fprintf(f, "\"/>\n");
        }
        /* legend entry above the plot */
        double ly = 10 + LEG_ROW * (double)lrow[k];
        fprintf(f,
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\"/>"
                "<text x=\"%.0f\" y=\"%.0f\" class=\"lg\">",
                lx[k], ly, L[k].color, lx[k] + 18, ly + 12);
        esc_n(f, L[k].name, strlen(L[k].name), LEG_MAX);
        fprintf(f, "</text>\n");
    }
    free(px);
    free(py);
    free(lx);
    free(lrow);
    fprintf(f, "</svg>\n");
#undef YPOS
#undef XPOS
}

/* ---- bar charts -------------------------------------------------------------------------- */

struct bar {
    const json_t *label; /* a JSON string (untrusted), or NULL to use `text` */
    const char *text;
    const char *suffix; /* plain text after the label, e.g. " (read)" */
    const char *color;
    double v;
    char note[96]; /* shown right of the bar */
};

#define BW 1000    /* the chart's width when its labels and notes leave room for the bars */
#define BROW 22
#define BAREA 440  /* the bars' width at least */
#define BLAB_MAX 60 /* characters of a bar's label shown */

/* The characters of bar b's label as shown. */
static size_t bar_label_chars(const struct bar *b)
{
    size_t n = b->label ? (json_is_string(b->label)
                               ? esc_chars(json_string_value(b->label),
                                           json_string_length(b->label), BLAB_MAX)
                               : 1)
                        : esc_chars(b->text, strlen(b->text), BLAB_MAX);
    return n + (b->suffix ? esc_chars(b->suffix, strlen(b->suffix), SIZE_MAX) : 0);
}

/* Horizontal bars scaled to the largest value, with a dashed line at `mark` when finite. The
 * label column and the notes right of the bars are as wide as their longest text, so that
 * neither is cut; a chart wider than BW is scaled down to the page as a whole. */
static void svg_bars(FILE *f, const char *css_class, const struct bar *b, size_t n, double mark,
                     const char *mark_name)
{
    double mx = isfinite(mark) ? mark : 0;
    size_t lch = 1, nch = 1;
    for (size_t i = 0; i < n; i++) {
        mx = b[i].v > mx ? b[i].v : mx;
        size_t l = bar_label_chars(&b[i]), m = esc_chars(b[i].note, strlen(b[i].note), SIZE_MAX);
        lch = l > lch ? l : lch;
        nch = m > nch ? m : nch;
    }
    if (mx <= 0)
        mx = 1;
    double label_w = 16 + MONO_W * (double)lch, note_w = 12 + SANS_W * (double)nch;
    double area = BW - label_w - note_w;
    if (area < BAREA)
        area = BAREA;
    double width = ceil(label_w + area + note_w);
    int h = (int)n * BROW + 12 + (isfinite(mark) ? 18 : 0);
    fprintf(f, "<svg class=\"%s\" viewBox=\"0 0 %.0f %d\" width=\"%.0f\" height=\"%d\" "
               "role=\"img\">\n",
            css_class, width, h, width, h);
    for (size_t i = 0; i < n; i++) {
        double y = 6 + (double)i * BROW, w = area * (b[i].v > 0 ? b[i].v : 0) / mx;
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"bl\">", label_w - 8, y + 15);
        if (b[i].label)
            esc_json(f, b[i].label, BLAB_MAX, "?");
        else
            esc_n(f, b[i].text, strlen(b[i].text), BLAB_MAX);
        esc(f, b[i].suffix);
        fprintf(f, "</text><rect x=\"%.0f\" y=\"%.0f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>",
                label_w, y + 2, w < 1 && b[i].v > 0 ? 1 : w, BROW - 5, b[i].color);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" class=\"bv\">", label_w + w + 6, y + 15);
        esc(f, b[i].note);
        fprintf(f, "</text>\n");
    }
    if (isfinite(mark)) {
        double x = label_w + area * mark / mx, y1 = 6 + (double)n * BROW;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"4\" x2=\"%.1f\" y2=\"%.0f\" class=\"mark\"/>"
                "<text x=\"%.1f\" y=\"%.0f\" class=\"mk\">",
                x, x, y1, x, y1 + 14);
        esc(f, mark_name);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
}

/* A small bar for a table cell. */
static void cell_bar(FILE *f, double v, double mx, const char *color)
{
    double w = mx > 0 ? 200 * v / mx : 0;
    fprintf(f,
            "<td class=\"bar\"><svg viewBox=\"0 0 200 12\" width=\"200\" height=\"12\">"
            "<rect width=\"%.1f\" height=\"12\" fill=\"%s\"/></svg></td>",
            w < 1 && v > 0 ? 1 : w, color);
}

/* ---- the page ---------------------------------------------------------------------------- */

static const char css[] =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;margin-top:32px}"
    "h3{font-size:15px}table{border-collapse:collapse;font-size:13px;margin:8px 0}"
    "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right;vertical-align:top}"
    "th{background:#f4f4f4}td.k,th.k{text-align:left;font-family:monospace;"
    "max-width:420px;overflow-wrap:anywhere}"
    "td.bar{text-align:left}svg{max-width:100%;height:auto;display:block}"
    ".plot{fill:#fff;stroke:#999}.grid{stroke:#e4e4e4}"
    ".yt{font-size:11px;text-anchor:end;fill:#444}.xt{font-size:11px;text-anchor:middle;"
    "fill:#444}.xl,.yl{font-size:12px;text-anchor:middle;fill:#444}.lg{font-size:12px}"
    ".bl{font-size:12px;text-anchor:end;font-family:monospace}.bv{font-size:12px;fill:#444}"
    ".mark{stroke:#222;stroke-dasharray:4 3}.mk{font-size:11px;text-anchor:middle}"
    ".none{color:#888;font-style:italic}.warn{background:#fff3cd;padding:8px;border:1px solid "
    "#e0c060}.runs{display:flex;flex-wrap:wrap;gap:16px}.runs>div{flex:1 1 480px;min-width:0}"
    "nav a{margin-right:12px}.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 "
    "12px;vertical-align:middle}.worse{background:#f8d7da}.better{background:#d4edda}"
    ".changed{background:#fff3cd}th.grp{background:#e8e8e8;text-align:left}"
    ".best{background:#c6efce;font-weight:bold}.why{color:#777;font-size:11px;font-weight:normal}"
    "table.decision td{text-align:left}";

static void th(FILE *f, const char *s)
{
    fprintf(f, "<th>");
    esc(f, s);
    fprintf(f, "</th>");
}

static void td_num(FILE *f, double v)
{
    char b[48];
    fprintf(f, "<td>%s</td>", fmt_num(v, b, sizeof b));
}

static void td_us(FILE *f, double v)
{
    char b[48];
    fprintf(f, "<td>");
    esc(f, fmt_us(v, b, sizeof b));
    fprintf(f, "</td>");
}

/* one "name | value" row of an overview table */
static void kv_row(FILE *f, const char *k, const char *v)
{
    fprintf(f, "<tr><th class=\"k\">");
    esc(f, k);
    fprintf(f, "</th><td class=\"k\">");
    esc(f, v);
    fprintf(f, "</td></tr>\n");
}

/* a distribution {count, mean, p50, p90, p99, max} as text; ns: values in nanoseconds */
static const char *dist_text(const json_t *d, int ns, char *buf, size_t cap)
{
    char a[3][32];
    double p50 = jnum(d, "p50"), p99 = jnum(d, "p99"), mx = jnum(d, "max");
    if (ns) {
        fmt_us(p50 / 1e3, a[0], sizeof a[0]);
        fmt_us(p99 / 1e3, a[1], sizeof a[1]);
        fmt_us(mx / 1e3, a[2], sizeof a[2]);
    } else {
        fmt_num(p50, a[0], sizeof a[0]);
        fmt_num(p99, a[1], sizeof a[1]);
        fmt_num(mx, a[2], sizeof a[2]);
    }
    char c[32];
    snprintf(buf, cap, "p50 %s, p99 %s, max %s (%s values)", a[0], a[1], a[2],
             fmt_num(jnum(d, "count"), c, sizeof c));
    return buf;
}

static void section_overview(FILE *f, const json_t *st)
{
    char v[512], a[48], b[48], c[48];
    fprintf(f, "<h2 id=\"overview\">Overview</h2>\n<table>\n");
    const json_t *start = json_object_get(st, "start_ns");
    if (json_is_integer(start)) {
        char t[64];
        kv_row(f, "start", rt_fmt_time((uint64_t)json_integer_value(start), t, sizeof t));
    }
    snprintf(v, sizeof v, "%.3f s", jnum(st, "duration_s"));
    kv_row(f, "duration", v);
    kv_row(f, "events", fmt_num(jnum(st, "events"), a, sizeof a));
    snprintf(v, sizeof v, "%s (per second: min %s, mean %s, max %s)",
             fmt_num(jnum(st, "requests"), a, sizeof a), fmt_num(jnum2(st, "rate", "min"), b, 24),
             fmt_num(round(jnum2(st, "rate", "mean") * 10) / 10, c, sizeof c),
             fmt_num(jnum2(st, "rate", "max"), b + 24, 24));
    kv_row(f, "requests", v);
    snprintf(v, sizeof v, "%s", fmt_num(jnum(st, "replies"), a, sizeof a));
    kv_row(f, "replies", v);
    snprintf(v, sizeof v, "read %s, write %s, other %s",
             fmt_num(jnum2(st, "classes", "read"), a, sizeof a),
             fmt_num(jnum2(st, "classes", "write"), b, sizeof b),
             fmt_num(jnum2(st, "classes", "other"), c, sizeof c));
    kv_row(f, "command classes", v);
    snprintf(v, sizeof v, "%s (closed %s, open at end %s)",
             fmt_num(jnum2(st, "connections", "count"), a, sizeof a),
             fmt_num(jnum2(st, "connections", "closed"), b, sizeof b),
             fmt_num(jnum2(st, "connections", "open_at_end"), c, sizeof c));
    kv_row(f, "connections", v);
    kv_row(f, "key size (bytes)", dist_text(json_object_get(st, "key_size"), 0, v, sizeof v));
    kv_row(f, "value size (bytes)", dist_text(json_object_get(st, "value_size"), 0, v, sizeof v));
    kv_row(f, "reply size (bytes)", dist_text(json_object_get(st, "reply_size"), 0, v, sizeof v));
    kv_row(f, "pipeline depth", dist_text(json_object_get(st, "pipeline_depth"), 0, v, sizeof v));
    kv_row(f, "recorded server latency",
           dist_text(json_object_get(st, "latency_ns"), 1, v, sizeof v));
    kv_row(f, "gaps", fmt_num(jnum2(st, "gaps", "count"), a, sizeof a));
    snprintf(v, sizeof v, "kernel %s, interface %s, flows %s",
             fmt_num(jnum2(st, "capture", "kernel_drops"), a, sizeof a),
             fmt_num(jnum2(st, "capture", "iface_drops"), b, sizeof b),
             fmt_num(jnum2(st, "capture", "flows_dropped"), c, sizeof c));
    kv_row(f, "capture drops", v);
    /* errors by prefix: the prefixes come from the trace */
    const json_t *er = json_object_get(st, "errors");
    fprintf(f, "<tr><th class=\"k\">error replies</th><td class=\"k\">%s",
            fmt_num(jnum(er, "total"), a, sizeof a));
    const char *k;
    const json_t *n;
    int first = 1;
    json_object_foreach((json_t *)json_object_get(er, "by_prefix"), k, n)
    {
        fprintf(f, "%s", first ? " (" : ", ");
        esc_n(f, k, strlen(k), 32);
        fprintf(f, " %s", fmt_num(json_is_number(n) ? json_number_value(n) : NAN, a, sizeof a));
        first = 0;
    }
    fprintf(f, "%s</td></tr>\n</table>\n", first ? "" : ")");
}

/* An interval shorter than this (in seconds) is too little of a second to draw as a rate. */
#define MIN_RATE_SPAN 0.25

/* Counts per second from stat's per-second series `ps` whose last second the trace covers for
 * `last_s` seconds: that one scaled to a whole second, or NAN (left out) when it covers less
 * than MIN_RATE_SPAN. x[i] = i. @return the number of points (x, y: new arrays). */
static size_t per_second_rates(const json_t *ps, double last_s, double **xo, double **yo)
{
    size_t n = json_array_size(ps);
    double *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        *xo = *yo = NULL;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(ps, i);
        x[i] = (double)i;
        y[i] = json_is_number(v) ? json_number_value(v) : NAN;
    }
    if (n && isfinite(last_s) && last_s < 1)
        y[n - 1] = last_s >= MIN_RATE_SPAN ? y[n - 1] / last_s : NAN;
    *xo = x;
    *yo = y;
    return n;
}

static void section_rate(FILE *f, const json_t *st)
{
    fprintf(f, "<h2 id=\"rate\">Request rate</h2>\n"
               "<p>Requests per second of trace time, second <i>i</i> covering [start + i s, "
               "start + i+1 s). ");
    const json_t *rate = json_object_get(st, "rate");
    double last_s = jnum(rate, "last_second_s");
    if (isfinite(last_s) && last_s < 1)
        fprintf(f, "The trace ends %.3f s into its last second: %s.", last_s,
                last_s >= MIN_RATE_SPAN ? "that second's count is drawn per second of that span"
                                        : "too little of a second to draw as a rate, it is "
                                          "left out");
    fprintf(f, "</p>\n");
    double *x, *y;
    size_t n = per_second_rates(json_object_get(rate, "per_second"), last_s, &x, &y);
    struct line l = {.name = "requests/s", .color = C_RATE, .x = x, .y = y, .n = n};
    struct axes ax = {.ylabel = "requests per second", .ykind = AX_COUNT};
    if (x)
        svg_lines(f, "chart rate", &l, 1, &ax);
    free(x);
    free(y);
    /* error replies per second, over the same seconds */
    const json_t *er = json_object_get(st, "errors");
    if (!(jnum(er, "total") > 0))
        return;
    fprintf(f, "<h3>error replies per second</h3>\n");
    const json_t *eps = json_object_get(er, "per_second");
    size_t ne = json_array_size(eps), nr = json_array_size(json_object_get(rate, "per_second"));
    json_t *padded = json_deep_copy(eps); /* zeros up to the last second of the requests */
    for (size_t i = ne; padded && i < nr; i++)
        json_array_append_new(padded, json_integer(0));
    n = per_second_rates(padded, json_array_size(padded) == nr ? last_s : 1, &x, &y);
    json_decref(padded);
    struct line le = {.name = "error replies/s", .color = C_ERR, .x = x, .y = y, .n = n};
    struct axes axe = {.ylabel = "error replies per second", .ykind = AX_COUNT};
    if (x)
        svg_lines(f, "chart errors", &le, 1, &axe);
    free(x);
    free(y);
}

#define MIX_MAX 20 /* commands drawn; the rest add up in one bar */

static void section_commands(FILE *f, const json_t *st)
{
    fprintf(f, "<h2 id=\"commands\">Command mix</h2>\n<p>Requests per command, coloured by "
               "class:<span class=\"sw\" style=\"background:" C_READ "\"></span>read"
               "<span class=\"sw\" style=\"background:" C_WRITE "\"></span>write"
               "<span class=\"sw\" style=\"background:" C_OTHER "\"></span>other</p>\n");
    const json_t *cmds = json_object_get(st, "commands");
    size_t n = json_array_size(cmds), nb = n > MIX_MAX ? MIX_MAX + 1 : n;
    if (n == 0) {
        fprintf(f, "<p class=\"none\">no requests</p>\n");
        return;
    }
    struct bar *b = calloc(nb, sizeof *b);
    if (!b)
        return;
    double rest = 0, rest_share = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(cmds, i);
        double cnt = jnum(c, "count"), share = jnum(c, "share");
        if (i >= MIX_MAX) {
            rest += cnt;
            rest_share += share;
            continue;
        }
        const char *cl = json_string_value(json_object_get(c, "class"));
        b[i].label = json_object_get(c, "name");
        b[i].suffix = !cl                    ? ""
                      : !strcmp(cl, "read")  ? " (read)"
                      : !strcmp(cl, "write") ? " (write)"
                                             : "";
        b[i].color = !cl                    ? C_OTHER
                     : !strcmp(cl, "read")  ? C_READ
                     : !strcmp(cl, "write") ? C_WRITE
                                            : C_OTHER;
        b[i].v = cnt;
        char a[48];
        snprintf(b[i].note, sizeof b[i].note, "%s (%.2f%%)", fmt_num(cnt, a, sizeof a),
                 share * 100);
    }
    if (n > MIX_MAX) {
        char a[48];
        b[MIX_MAX].text = "(the others)";
        b[MIX_MAX].suffix = "";
        b[MIX_MAX].color = C_OTHER;
        b[MIX_MAX].v = rest;
        snprintf(b[MIX_MAX].note, sizeof b[MIX_MAX].note, "%s (%.2f%%) in %zu commands",
                 fmt_num(rest, a, sizeof a), rest_share * 100, n - MIX_MAX);
    }
    svg_bars(f, "chart mix", b, nb, NAN, NULL);
    free(b);
}

/* a table of ranked entries (keys or prefixes) with a bar of their ops */
static void ent_table(FILE *f, const json_t *arr, const char *name, const char *title)
{
    size_t n = json_array_size(arr);
    fprintf(f, "<h3>");
    esc(f, title);
    fprintf(f, "</h3>\n");
    if (n == 0) {
        fprintf(f, "<p class=\"none\">none</p>\n");
        return;
    }
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double v = jnum(json_array_get(arr, i), "ops");
        mx = v > mx ? v : mx;
    }
    int approx = json_object_get(json_array_get(arr, 0), "error") != NULL;
    fprintf(f, "<table class=\"hot\"><tr><th>#</th><th class=\"k\">%s</th>", name);
    th(f, "ops");
    th(f, "reads");
    th(f, "writes");
    th(f, "bytes");
    if (approx)
        th(f, "error");
    fprintf(f, "<th class=\"k\">ops</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        char b[48];
        fprintf(f, "<tr><td>%zu</td><td class=\"k\">", i + 1);
        esc_json(f, json_object_get(e, name), 120, "?");
        fprintf(f, "</td>");
        td_num(f, jnum(e, "ops"));
        td_num(f, jnum(e, "reads"));
        td_num(f, jnum(e, "writes"));
        double by = jnum(e, "bytes");
        fprintf(f, "<td>%s</td>", by >= 0 ? rt_fmt_bytes((uint64_t)by, b, sizeof b) : "-");
        if (approx)
            td_num(f, jnum(e, "error"));
        cell_bar(f, jnum(e, "ops"), mx, C_HOT);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

static void section_hotkeys(FILE *f, const json_t *hk, const char *why_none)
{
    char a[48], b[48], c[48], d[48], m[48];
    fprintf(f, "<h2 id=\"hotkeys\">Hot keys</h2>\n");
    if (!hk) {
        fprintf(f, "<p class=\"none\">");
        esc(f, why_none ? why_none : "not computed");
        fprintf(f, "</p>\n");
        return;
    }
    fprintf(f, "<p>Each key position of a request is one operation on that key; bytes are the "
               "request plus its reply, split evenly among the request's keys. ");
    /* one buffer per number: each fmt_num() result is used when the line is printed */
    fprintf(f,
            "<span class=\"hkcounts\">%s keyed requests, %s key operations, %s distinct keys; "
            "%s requests skipped (unknown command or keys)",
            fmt_num(jnum(hk, "keyed_requests"), a, sizeof a),
            fmt_num(jnum(hk, "key_ops"), b, sizeof b),
            fmt_num(jnum(hk, "distinct_keys"), c, sizeof c),
            fmt_num(jnum(hk, "skipped_requests"), d, sizeof d));
    if (jnum(hk, "malformed_requests") > 0)
        fprintf(f, ", %s malformed (the server could not parse them)",
                fmt_num(jnum(hk, "malformed_requests"), m, sizeof m));
    fprintf(f, "</span>.</p>\n");
    ent_table(f, json_object_get(hk, "keys"), "key", "top keys by operations");
    ent_table(f, json_object_get(hk, "prefixes"), "prefix",
              "top key prefixes (up to the first ':')");
    const json_t *sl = json_object_get(hk, "slots");
    size_t n = json_array_size(sl);
    fprintf(f, "<h3>top cluster hash slots</h3>\n");
    if (!n) {
        fprintf(f, "<p class=\"none\">none</p>\n");
        return;
    }
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double v = jnum(json_array_get(sl, i), "ops");
        mx = v > mx ? v : mx;
    }
    fprintf(f, "<table class=\"hot\"><tr><th>#</th><th>slot</th><th>ops</th><th>bytes</th>"
               "<th class=\"k\">ops</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(sl, i);
        fprintf(f, "<tr><td>%zu</td>", i + 1);
        td_num(f, jnum(e, "slot"));
        td_num(f, jnum(e, "ops"));
        double by = jnum(e, "bytes");
        fprintf(f, "<td>%s</td>", by >= 0 ? rt_fmt_bytes((uint64_t)by, b, sizeof b) : "-");
        cell_bar(f, jnum(e, "ops"), mx, C_HOT);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

/* ---- replay runs ------------------------------------------------------------------------- */

struct run {
    const char *path;
    json_t *doc; /* the file's document: a RUN.json, or a sweep */
    json_t *j;   /* the RUN object shown: doc, or the sweep's step (rt_sweep_run) */
    char name[200]; /* its unique name (raw bytes, escaped when written): run_names() */
    /* the timeline as columns; tput and errps per second of each entry's real length (NAN
     * when the entry is too short to be a rate) */
    size_t n;
    double *t, *ops, *errors, *p50, *p99, *max, *tput, *errps;
};

static void run_free(struct run *r)
{
    json_decref(r->doc);
    json_decref(r->j);
    free(r->t);
    free(r->ops);
    free(r->errors);
    free(r->p50);
    free(r->p99);
    free(r->max);
    free(r->tput);
    free(r->errps);
}

/* The rates of a timeline: entry i counts what happened from the previous entry's t_s (0 for
 * the first) to its own, normally one second; the last one is whatever was left of the run. */
static void run_rates(struct run *r)
{
    double prev = 0;
    for (size_t i = 0; i < r->n; i++) {
        double span = r->t[i] - prev;
        prev = r->t[i];
        int ok = isfinite(span) && span >= MIN_RATE_SPAN;
        r->tput[i] = ok ? r->ops[i] / span : NAN;
        r->errps[i] = ok ? r->errors[i] / span : NAN;
    }
}

/* Loads a run JSON file. @return 0, or -1 with the message in err. */
static int run_load(struct run *r, const char *path, struct rt_err *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    json_error_t je;
    r->doc = json_load_file(path, JSON_DECODE_ANY, &je);
    if (!r->doc) {
        rt_err_set(err, RT_EINVAL, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    if (!json_is_object(r->doc)) {
        rt_err_set(err, RT_EINVAL, "%s: not a JSON object (a `resptrace replay --json` file?)",
                   path);
        return -1;
    }
    /* a sweep is shown by its step at the fastest speed that held */
    r->j = rt_doc_is_sweep(r->doc) ? rt_sweep_run(r->doc, path, err) : json_incref(r->doc);
    if (!r->j)
        return -1;
    const json_t *tl = json_object_get(r->j, "timeline");
    if (!json_is_array(tl))
        return 0;
    size_t n = json_array_size(tl);
    double **cols[] = {&r->t, &r->ops, &r->errors, &r->p50, &r->p99, &r->max, &r->tput, &r->errps};
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        *cols[c] = malloc((n ? n : 1) * sizeof(double));
        if (!*cols[c]) {
            rt_err_set(err, RT_ENOMEM, "%s: out of memory for its timeline", path);
            return -1;
        }
    }
    static const char *const keys[] = {"t_s", "ops", "errors", "p50_us", "p99_us", "max_us"};
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(tl, i);
        for (size_t c = 0; c < 6; c++)
            (*cols[c])[r->n] = jnum(e, keys[c]);
        if (isfinite(r->t[r->n]))
            r->n++;
    }
    run_rates(r);
    return 0;
}

/* Names the runs: a run's "label", else its "target" and file name, else its file name; a
 * name that an earlier run has already gets " #2", " #3"... (a NUL inside a label ends the
 * name: it is only a caption). */
static void run_names(struct run *rs, size_t nr)
{
    for (size_t i = 0; i < nr; i++) {
        struct run *r = &rs[i];
        const json_t *label = json_object_get(r->j, "label"), *target = json_object_get(r->j, "target");
        const char *base = strrchr(r->path, '/') ? strrchr(r->path, '/') + 1 : r->path;
        char name[sizeof r->name];
        if (json_is_string(label))
            snprintf(name, sizeof name, "%s", json_string_value(label));
        else if (json_is_string(target))
            snprintf(name, sizeof name, "%s (%s)", json_string_value(target), base);
        else
            snprintf(name, sizeof name, "%s", base);
        snprintf(r->name, sizeof r->name, "%s", name);
        for (unsigned k = 2;; k++) {
            size_t j = 0;
            while (j < i && strcmp(rs[j].name, r->name))
                j++;
            if (j == i)
                break;
            snprintf(r->name, sizeof r->name, "%.180s #%u", name, k);
        }
    }
}

/* one row of the side-by-side table: a number from each run, by JSON path a[.b] */
static void runs_row(FILE *f, const struct run *rs, size_t nr, const char *title, const char *a,
                     const char *b, int us)
{
    fprintf(f, "<tr><th class=\"k\">");
    esc(f, title);
    fprintf(f, "</th>");
    for (size_t i = 0; i < nr; i++) {
        double v = b ? jnum2(rs[i].j, a, b) : jnum(rs[i].j, a);
        if (us)
            td_us(f, v);
        else
            td_num(f, v);
    }
    fprintf(f, "</tr>\n");
}

static void runs_row_str(FILE *f, const struct run *rs, size_t nr, const char *title,
                         const char *key)
{
    fprintf(f, "<tr><th class=\"k\">");
    esc(f, title);
    fprintf(f, "</th>");
    for (size_t i = 0; i < nr; i++) {
        const json_t *v = json_object_get(rs[i].j, key);
        fprintf(f, "<td class=\"k\">");
        if (json_is_number(v)) {
            char b[48];
            fprintf(f, "%s", fmt_num(json_number_value(v), b, sizeof b));
        } else {
            esc_json(f, v, 120, "-");
        }
        fprintf(f, "</td>");
    }
    fprintf(f, "</tr>\n");
}

/* The comparison of the runs (rt_compare_cands_json(): the numbers `resptrace compare`
 * prints), with the capacity of sweeps and the costs of `prices` (may be NULL). @return a new
 * reference, or NULL without runs or memory. */
static json_t *runs_compared(const struct run *rs, size_t nr, double threshold,
                             struct rt_prices *prices)
{
    if (nr == 0)
        return NULL;
    struct rt_cand *c = calloc(nr, sizeof *c);
    if (!c)
        return NULL;
    for (size_t i = 0; i < nr; i++)
        c[i] = (struct rt_cand){
            .doc = rs[i].doc, .run = rs[i].j, .name = rs[i].name, .file = rs[i].path};
    json_t *cmp = rt_compare_cands_json(c, nr, threshold, prices);
    free(c);
    return cmp;
}

/* The decision table of the runs (rt_decision_json()). @return a new reference, or NULL. */
static json_t *runs_decision(const struct run *rs, size_t nr, const json_t *cmp)
{
    if (!cmp)
        return NULL;
    struct rt_cand *c = calloc(nr ? nr : 1, sizeof *c);
    if (!c)
        return NULL;
    for (size_t i = 0; i < nr; i++)
        c[i] = (struct rt_cand){
            .doc = rs[i].doc, .run = rs[i].j, .name = rs[i].name, .file = rs[i].path};
    json_t *d = rt_decision_json(cmp, c, nr);
    free(c);
    return d;
}

/* "USD 1234.50" (the currency of the prices, when they name one) */
static const char *fmt_money(double v, const json_t *cmp, char *buf, size_t cap)
{
    const char *cur =
        json_string_value(json_object_get(json_object_get(cmp, "prices"), "currency"));
    if (!isfinite(v))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%s%s%.2f", cur ? cur : "", cur ? " " : "", v);
    return buf;
}

/* The decision table: one column per candidate run, the rows of rt_decision_json(), the best
 * value of a row where the candidates differ marked. */
static void section_decision(FILE *f, const struct run *rs, size_t nr, const json_t *cmp,
                             const json_t *dec, const json_t *notes)
{
    fprintf(f, "<h2 id=\"decision\">Decision</h2>\n");
    if (!dec) {
        fprintf(f, "<p class=\"none\">out of memory</p>\n");
        return;
    }
    /* one column per candidate: runs sharing a label are one */
    struct rt_cand *cd = calloc(nr ? nr : 1, sizeof *cd);
    size_t *col = calloc(nr ? nr : 1, sizeof *col);
    const char **cname = calloc(nr ? nr : 1, sizeof *cname);
    size_t ncol = 0;
    if (cd && col && cname) {
        for (size_t i = 0; i < nr; i++)
            cd[i] = (struct rt_cand){
                .doc = rs[i].doc, .run = rs[i].j, .name = rs[i].name, .file = rs[i].path};
        ncol = rt_decision_columns(cd, nr, col, cname);
    }
    fprintf(f, "<table class=\"decision\"><tr><th></th>");
    for (size_t g = 0; g < ncol; g++) {
        size_t i = 0;
        while (i < nr && col[i] != g)
            i++;
        fprintf(f, "<th class=\"k\"><span class=\"sw\" style=\"background:%s\"></span>",
                run_colors[i % NRUNCOLORS]);
        esc_n(f, cname[g], strlen(cname[g]), 60);
        fprintf(f, "</th>");
    }
    free(cd);
    free(col);
    free(cname);
    fprintf(f, "</tr>\n");
    size_t k;
    const json_t *row;
    json_array_foreach(dec, k, row)
    {
        const char *kind = json_string_value(json_object_get(row, "kind"));
        const json_t *va = json_object_get(row, "values"), *wa = json_object_get(row, "why"),
                     *ba = json_object_get(row, "best");
        fprintf(f, "<tr><th class=\"k\">");
        esc(f, json_string_value(json_object_get(row, "title")));
        fprintf(f, "</th>");
        for (size_t i = 0; i < ncol; i++) {
            const json_t *v = json_array_get(va, i);
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            char b[64];
            if (!isfinite(x))
                snprintf(b, sizeof b, "-");
            else if (!strcmp(kind, "us"))
                fmt_us(x, b, sizeof b);
            else if (!strcmp(kind, "speed"))
                snprintf(b, sizeof b, "%.3gx", x);
            else if (!strcmp(kind, "ops_s"))
                fmt_num(round(x), b, sizeof b);
            else if (!strcmp(kind, "s"))
                snprintf(b, sizeof b, "%.1f s", x);
            else if (!strcmp(kind, "money"))
                fmt_money(x, cmp, b, sizeof b);
            else
                fmt_num(x, b, sizeof b);
            fprintf(f, "<td%s>", json_is_true(json_array_get(ba, i)) ? " class=\"best\"" : "");
            esc(f, b);
            const json_t *why = json_array_get(wa, i);
            if (json_is_string(why)) {
                fprintf(f, " <span class=\"why\">");
                esc_json(f, why, 120, "");
                fprintf(f, "</span>");
            }
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
    const json_t *pr = json_object_get(cmp, "prices");
    fprintf(f, "<p>One column per candidate: runs with the same <code>--label</code> are one "
               "(a failover drill and a sweep of one target), a cell the first of them that "
               "has the value; a sweep (<code>replay --sweep --slo</code>) is shown by "
               "its step at the fastest speed that held its SLO. Write and read p99: the p99 "
               "of the commands flagged write and readonly, from the exact merge of their "
               "histograms. Headroom: that fastest speed, in multiples of the recorded load; "
               "ops/s served within the SLO: what that step served (its ops over its "
               "duration). Acknowledged writes lost: keys whose last acknowledged write "
               "<code>--verify-writes</code> did not find after the run. Miss storm and "
               "warm-up time: the disruption's <code>extra_misses</code> and "
               "<code>warmup_s</code>. ");
    if (json_is_object(pr)) {
        fprintf(f,
                "Monthly cost = nodes &#215; price per node-hour &#215; %g hours (prices "
                "from <code>",
                jnum(pr, "hours_per_month"));
        esc(f, json_string_value(json_object_get(pr, "file")));
        fprintf(f, "</code>); cost per 1,000 ops/s at the SLO = monthly cost / (ops/s served "
                   "within the SLO / 1,000). ");
    } else {
        fprintf(f, "Costs: give the prices of the targets with <code>--prices FILE</code>. ");
    }
    fprintf(f, "The best value of a row where the runs differ is marked "
               "<span class=\"best\">so</span>.</p>\n");
    const json_t *nt;
    json_array_foreach(notes, k, nt)
    {
        fprintf(f, "<p class=\"warn\">");
        esc(f, json_string_value(nt));
        fprintf(f, "</p>\n");
    }
}

/* The runs compared with the first (`cmp`, the numbers `resptrace compare` prints): per
 * scope (capacity, cost, overall, class, command) and metric, each run's value and its
 * difference from the first, coloured when beyond the threshold. */
static void section_compare(FILE *f, const struct run *rs, size_t nr, const json_t *cmp,
                            double threshold)
{
    fprintf(f, "<h2 id=\"compare\">Runs compared</h2>\n");
    if (nr < 2) {
        fprintf(f, "<p class=\"none\">give two replay runs or more to compare them</p>\n");
        return;
    }
    if (!cmp) {
        fprintf(f, "<p class=\"none\">out of memory</p>\n");
        return;
    }
    fprintf(f, "<p>Each run against the first (<b>");
    esc_n(f, rs[0].name, strlen(rs[0].name), 60);
    fprintf(f, "</b>); differences beyond %g%% are marked <span class=\"worse\">worse</span> or "
               "<span class=\"better\">better</span> (<span class=\"changed\">changed</span> "
               "for ops). Classes: the commands flagged write, readonly, or neither; their "
               "latency is the exact merge of their commands' histograms.</p>\n",
            threshold);
    fprintf(f, "<table class=\"cmp\"><tr><th></th>");
    for (size_t i = 0; i < nr; i++) {
        fprintf(f, "<th class=\"k\"%s><span class=\"sw\" style=\"background:%s\"></span>",
                i ? " colspan=\"2\"" : "", run_colors[i % NRUNCOLORS]);
        esc_n(f, rs[i].name, strlen(rs[i].name), 60);
        fprintf(f, "</th>");
    }
    fprintf(f, "</tr>\n");
    enum { V_NUM, V_US, V_SPEED, V_MONEY, V_PRICE };
    static const struct {
        const char *key, *title;
        int kind;
    } mt[] = {{"ops", "ops", V_NUM},
              {"ops_per_s", "ops/s", V_NUM},
              {"p50_us", "p50", V_US},
              {"p90_us", "p90", V_US},
              {"p99_us", "p99", V_US},
              {"p999_us", "p99.9", V_US},
              {"max_us", "max", V_US},
              {"errors", "errors", V_NUM},
              {"misses", "misses", V_NUM},
              {"max_speed_held", "speed held", V_SPEED},
              {"slo_ops_per_s", "ops/s at the SLO", V_NUM},
              {"nodes", "nodes", V_NUM},
              {"price_per_node_hour", "price per node-hour", V_PRICE},
              {"monthly_cost", "monthly cost", V_MONEY},
              {"cost_per_1k_ops_s", "cost per 1,000 ops/s", V_MONEY}};
    const char *ls = "", *ln = "";
    size_t k;
    const json_t *row;
    json_array_foreach(json_object_get(cmp, "rows"), k, row)
    {
        const char *sc = json_string_value(json_object_get(row, "scope"));
        const char *nm = json_string_value(json_object_get(row, "name"));
        const char *mk = json_string_value(json_object_get(row, "metric"));
        if (!sc || !nm || !mk)
            continue;
        if (strcmp(sc, ls) || strcmp(nm, ln)) {
            fprintf(f, "<tr><th class=\"k grp\" colspan=\"%zu\">%s ", 2 * nr, sc);
            if (!strcmp(sc, "class") || !strcmp(sc, "command"))
                esc(f, nm);
            fprintf(f, "</th></tr>\n");
            ls = sc;
            ln = nm;
        }
        int kind = V_NUM;
        const char *title = mk;
        for (size_t m = 0; m < sizeof mt / sizeof mt[0]; m++)
            if (!strcmp(mt[m].key, mk)) {
                kind = mt[m].kind;
                title = mt[m].title;
            }
        fprintf(f, "<tr><th class=\"k\">");
        esc(f, title);
        fprintf(f, "</th>");
        const json_t *va = json_object_get(row, "values"), *da = json_object_get(row, "diff_pct"),
                     *fa = json_object_get(row, "flag");
        for (size_t i = 0; i < nr; i++) {
            const json_t *v = json_array_get(va, i);
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            char b[64];
            if (kind == V_US) {
                td_us(f, x);
            } else if (kind == V_PRICE) {
                if (isfinite(x))
                    snprintf(b, sizeof b, "%.6g", x);
                fprintf(f, "<td>%s</td>", isfinite(x) ? b : "-");
            } else if (kind == V_SPEED) {
                if (isfinite(x))
                    snprintf(b, sizeof b, "%.3gx", x);
                fprintf(f, "<td>%s</td>", isfinite(x) ? b : "-");
            } else if (kind == V_MONEY) {
                fprintf(f, "<td>");
                esc(f, fmt_money(x, cmp, b, sizeof b));
                fprintf(f, "</td>");
            } else {
                td_num(f, x);
            }
            if (i == 0)
                continue;
            const json_t *d = json_array_get(da, i);
            const char *fl = json_string_value(json_array_get(fa, i));
            if (fl)
                fprintf(f, "<td class=\"%s\">", fl);
            else
                fprintf(f, "<td>");
            if (json_is_number(d))
                fprintf(f, "%+.1f%%", json_number_value(d));
            else if (isfinite(x) && json_is_number(json_array_get(va, 0)))
                fprintf(f, "new"); /* from 0 */
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
    const json_t *nt;
    json_array_foreach(json_object_get(cmp, "notes"), k, nt)
    {
        fprintf(f, "<p class=\"warn\">");
        esc(f, json_string_value(nt));
        fprintf(f, "</p>\n");
    }
}

static void section_runs(FILE *f, const struct run *rs, size_t nr)
{
    fprintf(f, "<h2 id=\"runs\">Replay runs</h2>\n");
    if (nr == 0) {
        fprintf(f, "<p class=\"none\">no replay run given (resptrace report TRACE RUN.json "
                   "...)</p>\n");
        return;
    }
    fprintf(f, "<table class=\"runsum\"><tr><th></th>");
    for (size_t i = 0; i < nr; i++) {
        fprintf(f, "<th class=\"k\"><span class=\"sw\" style=\"background:%s\"></span>",
                run_colors[i % NRUNCOLORS]);
        esc_n(f, rs[i].name, strlen(rs[i].name), 60);
        fprintf(f, "</th>");
    }
    fprintf(f, "</tr>\n<tr><th class=\"k\">file</th>");
    for (size_t i = 0; i < nr; i++) {
        fprintf(f, "<td class=\"k\">");
        esc(f, rs[i].path);
        fprintf(f, "</td>");
    }
    fprintf(f, "</tr>\n");
    runs_row_str(f, rs, nr, "target", "target");
    runs_row_str(f, rs, nr, "trace", "trace");
    runs_row_str(f, rs, nr, "speed", "speed");
    runs_row(f, rs, nr, "requests in the trace", "requests", NULL, 0);
    runs_row(f, rs, nr, "ops (answered)", "ops", NULL, 0);
    runs_row(f, rs, nr, "duration (s)", "duration_s", NULL, 0);
    runs_row(f, rs, nr, "throughput (ops/s)", "ops_per_s", NULL, 0);
    runs_row(f, rs, nr, "latency p50", "latency_us", "p50", 1);
    runs_row(f, rs, nr, "latency p90", "latency_us", "p90", 1);
    runs_row(f, rs, nr, "latency p99", "latency_us", "p99", 1);
    runs_row(f, rs, nr, "latency p99.9", "latency_us", "p999", 1);
    runs_row(f, rs, nr, "latency max", "latency_us", "max", 1);
    runs_row(f, rs, nr, "latency mean", "latency_us", "mean", 1);
    runs_row(f, rs, nr, "errors", "errors", NULL, 0);
    runs_row(f, rs, nr, "skipped", "skipped", NULL, 0);
    runs_row(f, rs, nr, "unanswered", "unanswered", NULL, 0);
    runs_row(f, rs, nr, "divergence: replies compared", "divergence", "compared", 0);
    runs_row(f, rs, nr, "divergence: misses", "divergence", "misses", 0);
    runs_row(f, rs, nr, "divergence: new errors", "divergence", "new_errors", 0);
    runs_row(f, rs, nr, "divergence: type changed", "divergence", "type_changed", 0);
    runs_row(f, rs, nr, "divergence: new values", "divergence", "new_values", 0);
    runs_row(f, rs, nr, "connections opened", "connections", "opened", 0);
    runs_row(f, rs, nr, "connection failures", "connections", "failures", 0);
    fprintf(f, "</table>\n<p>Latency is measured from each request's intended send time "
               "(corrected for coordinated omission).</p>\n");

    /* throughput and errors over time: one line per run with a timeline */
    struct line *ls = calloc(nr, sizeof *ls), *le = calloc(nr, sizeof *le);
    size_t nl = 0;
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < nr && ls && le; i++) {
        if (!rs[i].n)
            continue;
        le[nl] = (struct line){.name = rs[i].name,
                               .color = run_colors[i % NRUNCOLORS],
                               .x = rs[i].t,
                               .y = rs[i].errps,
                               .n = rs[i].n};
        ls[nl++] = (struct line){.name = rs[i].name,
                                 .color = run_colors[i % NRUNCOLORS],
                                 .x = rs[i].t,
                                 .y = rs[i].tput,
                                 .n = rs[i].n};
        for (size_t k = 0; k < rs[i].n; k++) {
            const double v[3] = {rs[i].p50[k], rs[i].p99[k], rs[i].max[k]};
            for (int c = 0; c < 3; c++)
                if (isfinite(v[c])) {
                    lo = v[c] > 0 && v[c] < lo ? v[c] : lo;
                    hi = v[c] > hi ? v[c] : hi;
                }
        }
    }
    if (nl) {
        fprintf(f, "<h3>throughput over time</h3>\n<p>Replies per second of each timeline "
                   "entry's real length (a run's last entry is often a fraction of a second; "
                   "under %g s it is left out).</p>\n",
                MIN_RATE_SPAN);
        struct axes ax = {.ylabel = "ops per second", .ykind = AX_COUNT};
        svg_lines(f, "chart tput", ls, nl, &ax);
        fprintf(f, "<h3>errors over time</h3>\n<p>Error replies and requests lost with their "
                   "connection, per second, as the throughput is counted.</p>\n");
        struct axes axe = {.ylabel = "errors per second", .ykind = AX_COUNT};
        svg_lines(f, "chart rerr", le, nl, &axe);
    }
    free(ls);
    free(le);
    /* latency over time, side by side on one shared scale */
    fprintf(f, "<h3>latency over time (p50, p99 and max of each second; log scale)</h3>\n"
               "<div class=\"runs\">\n");
    for (size_t i = 0; i < nr; i++) {
        fprintf(f, "<div><h3>");
        esc_n(f, rs[i].name, strlen(rs[i].name), 60);
        fprintf(f, "</h3>\n");
        if (!rs[i].n) {
            fprintf(f, "<p class=\"none\">no timeline in this run</p></div>\n");
            continue;
        }
        struct line l[3] = {
            {.name = "p50",
             .color = C_P50,
             .x = rs[i].t,
             .y = rs[i].p50,
             .n = rs[i].n,
             .agg_max = 1},
            {.name = "p99",
             .color = C_P99,
             .x = rs[i].t,
             .y = rs[i].p99,
             .n = rs[i].n,
             .agg_max = 1},
            {.name = "max",
             .color = C_MAX,
             .x = rs[i].t,
             .y = rs[i].max,
             .n = rs[i].n,
             .agg_max = 1},
        };
        struct axes ax = {.ylabel = "latency",
                          .ykind = AX_US,
                          .logy = 1,
                          .ylo = isfinite(lo) ? lo : 1,
                          .yhi = hi > 0 ? hi : 1};
        svg_lines(f, "chart lat", l, 3, &ax);
        fprintf(f, "</div>\n");
    }
    fprintf(f, "</div>\n");
}

/* ---- shard balance ----------------------------------------------------------------------- */

/* the slot ranges of a shard as "0-5460" or "0-99, 200-299 (+3 more)" */
static void slot_text(const json_t *ranges, char *buf, size_t cap)
{
    size_t o = 0, n = json_array_size(ranges);
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < 2; i++) {
        const json_t *r = json_array_get(ranges, i);
        double a = json_number_value(json_array_get(r, 0)),
               b = json_number_value(json_array_get(r, 1));
        int k = a == b ? snprintf(buf + o, cap - o, "%s%.0f", i ? ", " : "", a)
                       : snprintf(buf + o, cap - o, "%s%.0f-%.0f", i ? ", " : "", a, b);
        if (k < 0 || (size_t)k >= cap - o)
            return;
        o += (size_t)k;
    }
    if (n > 2)
        snprintf(buf + o, cap - o, " (+%zu more)", n - 2);
}

/* the keys that make the hottest shard hot, and those above a shard's fair share alone */
static void shard_keys(FILE *f, const json_t *sc)
{
    static const struct {
        const char *key, *title;
    } lists[] = {{"hottest_top_keys", "hottest shard's top keys"},
                 {"keys_over_fair_share", "keys above a shard's fair share on their own (only "
                                          "splitting the key helps)"}};
    for (size_t l = 0; l < 2; l++) {
        const json_t *ks = json_object_get(sc, lists[l].key);
        size_t n = json_array_size(ks);
        if (!n)
            continue;
        fprintf(f, "<p>");
        esc(f, lists[l].title);
        fprintf(f, ": ");
        for (size_t i = 0; i < n && i < 10; i++) {
            const json_t *k = json_array_get(ks, i);
            char a[48];
            fprintf(f, "%s<code>", i ? ", " : "");
            esc_json(f, json_object_get(k, "key"), 60, "?");
            fprintf(f, "</code> %s ops", fmt_num(jnum(k, "ops"), a, sizeof a));
        }
        fprintf(f, "%s</p>\n", n > 10 ? ", ..." : "");
    }
}

static void section_shards(FILE *f, const json_t *arr, const char *why_none)
{
    fprintf(f, "<h2 id=\"shards\">Shard balance</h2>\n");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        fprintf(f, "<p class=\"none\">");
        esc(f, why_none ? why_none : "no shard projection");
        fprintf(f, "</p>\n");
        return;
    }
    fprintf(f, "<p>The trace's key operations projected onto N shards that split the 16384 hash "
               "slots evenly. The dashed line is the fair share (the mean); the imbalance is the "
               "busiest shard's ops over the mean.</p>\n");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *sc = json_array_get(arr, i);
        const json_t *sh = json_object_get(sc, "shards");
        size_t n = json_array_size(sh);
        char a[48];
        fprintf(f, "<h3>%s shards: imbalance %.3f</h3>\n",
                fmt_num(jnum(sc, "shard_count"), a, sizeof a), jnum(sc, "imbalance"));
        if (!n) {
            fprintf(f, "<p class=\"none\">no shards</p>\n");
            continue;
        }
        struct bar *b = calloc(n, sizeof *b);
        char(*labels)[96] = calloc(n, sizeof *labels);
        if (!b || !labels) {
            free(b);
            free(labels);
            return;
        }
        double sum = 0;
        for (size_t k = 0; k < n; k++) {
            const json_t *s = json_array_get(sh, k);
            char r[64], x[48], y[48], z[48];
            slot_text(json_object_get(s, "slots"), r, sizeof r);
            snprintf(labels[k], sizeof labels[k], "shard %.0f [%s]", jnum(s, "shard"), r);
            b[k].text = labels[k];
            b[k].suffix = "";
            b[k].color = C_SHARD;
            b[k].v = jnum(s, "ops");
            sum += isfinite(b[k].v) ? b[k].v : 0;
            double by = jnum(s, "bytes");
            snprintf(b[k].note, sizeof b[k].note, "%s ops, %s keys, %s moved, peak %s ops/s",
                     fmt_num(b[k].v, x, sizeof x), fmt_num(jnum(s, "keys"), y, sizeof y),
                     by >= 0 ? rt_fmt_bytes((uint64_t)by, a, sizeof a) : "-",
                     fmt_num(jnum(s, "peak_ops_per_s"), z, sizeof z));
        }
        svg_bars(f, "chart shards", b, n, sum / (double)n, "mean");
        free(b);
        free(labels);
        shard_keys(f, sc);
    }
}

/* ---- the page ---------------------------------------------------------------------------- */

struct page {
    const char *trace;
    const json_t *st, *hk, *shards;
    const char *hk_none, *shards_none;
    const struct run *rs;
    size_t nr;
    const char *damage;
    const char *interrupted; /* what an interruption left out, or NULL */
    double threshold;
    const json_t *cmp; /* the runs compared (runs_compared), NULL without runs */
    const json_t *dec; /* their decision table (runs_decision) */
    const json_t *price_notes; /* entries of the prices file that named no run */
};

static void write_page(FILE *f, const struct page *pg)
{
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
               "<meta name=\"generator\" content=\"resptrace " RT_VERSION_STRING "\"/>\n"
               "<title>resptrace report: ");
    esc_n(f, pg->trace, strlen(pg->trace), 200);
    fprintf(f,
            "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>resptrace report</h1>\n"
            "<p>trace <code>",
            css);
    esc(f, pg->trace);
    fprintf(f, "</code>, %zu replay run%s</p>\n", pg->nr, pg->nr == 1 ? "" : "s");
    if (pg->damage) {
        fprintf(f, "<p class=\"warn\">The trace is damaged: ");
        esc(f, pg->damage);
        fprintf(f, ". The numbers cover what could be read.</p>\n");
    }
    if (pg->interrupted) {
        fprintf(f, "<p class=\"warn\">Interrupted (Ctrl-C) while reading the trace: ");
        esc(f, pg->interrupted);
        fprintf(f, ".</p>\n");
    }
    /* the decision first; the replay runs before the long tables of hot keys and shards */
    fprintf(f, "<nav>%s<a href=\"#overview\">overview</a><a href=\"#rate\">request rate</a>"
               "<a href=\"#commands\">command mix</a><a href=\"#runs\">replay runs</a>"
               "<a href=\"#compare\">runs compared</a><a href=\"#hotkeys\">hot keys</a>"
               "<a href=\"#shards\">shard balance</a></nav>\n",
            pg->nr ? "<a href=\"#decision\">decision</a>" : "");
    if (pg->nr)
        section_decision(f, pg->rs, pg->nr, pg->cmp, pg->dec, pg->price_notes);
    section_overview(f, pg->st);
    section_rate(f, pg->st);
    section_commands(f, pg->st);
    section_runs(f, pg->rs, pg->nr);
    section_compare(f, pg->rs, pg->nr, pg->cmp, pg->threshold);
    section_hotkeys(f, pg->hk, pg->hk_none);
    section_shards(f, pg->shards, pg->shards_none);
    fprintf(f, "<p class=\"none\">written by resptrace " RT_VERSION_STRING "</p>\n"
               "</body>\n</html>\n");
}

/* "3,6,12" into counts (1..MAX_SHARDS each, at most MAX_SHARD_COUNTS). @return the number or -1. */
static int parse_counts(const char *s, int *counts)
{
    if (!strcmp(s, "none"))
        return 0;
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        if (*p < '0' || *p > '9')
            return -1;
        long v = strtol(p, &end, 10);
        if (errno || v < 1 || v > MAX_SHARDS || n == MAX_SHARD_COUNTS)
            return -1;
        counts[n++] = (int)v;
        if (*end == '\0')
            return n;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
}

static int fail(const char *msg)
{
    fprintf(stderr, "resptrace report: %s\n", msg);
    return RT_EXIT_FAIL;
}

/* The status line's pass `label` over the trace, restarted for each pass (its rate and ETA). */
static struct rt_pass pass_begin(struct rt_progress *prog, int quiet, const char *label)
{
    rt_progress_init(prog, quiet);
    return (struct rt_pass){.progress = prog, .label = label};
}

/* The document of `report --json`. */
static json_t *report_doc(const char *out_path, long size, const char *trace, const json_t *st,
                          const struct run *rs, size_t nr, const int *counts, int ncounts,
                          const json_t *sh, const char *damage, int interrupted,
                          const json_t *cmp, const json_t *dec)
{
    json_t *o = rt_json_doc("report"), *ra = json_array(), *ca = json_array();
    json_object_set_new(o, "output", json_string(out_path));
    json_object_set_new(o, "bytes", size >= 0 ? json_integer(size) : json_null());
    json_object_set_new(o, "trace", json_string(trace));
    json_object_set_new(o, "requests", json_deep_copy(json_object_get(st, "requests")));
    for (size_t i = 0; i < nr; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "file", json_string(rs[i].path));
        json_object_set_new(r, "name", rt_json_bytes(rs[i].name, strlen(rs[i].name)));
        json_object_set_new(r, "timeline_entries", json_integer((json_int_t)rs[i].n));
        json_array_append_new(ra, r);
    }
    json_object_set_new(o, "runs", ra);
    for (int i = 0; i < ncounts && sh; i++)
        json_array_append_new(ca, json_integer(counts[i]));
    json_object_set_new(o, "shard_counts", ca);
    json_object_set_new(o, "damage", damage ? json_string(damage) : json_null());
    json_object_set_new(o, "interrupted", json_boolean(interrupted));
    /* the decision table as shown (null without runs), with the prices it used */
    const json_t *pr = json_object_get(cmp, "prices");
    json_object_set_new(o, "prices", pr ? json_deep_copy(pr) : json_null());
    json_object_set_new(o, "decision", dec ? json_deep_copy(dec) : json_null());
    /* its columns: runs sharing a label are one candidate */
    json_t *cols = json_array();
    struct rt_cand *cd = calloc(nr ? nr : 1, sizeof *cd);
    size_t *col = calloc(nr ? nr : 1, sizeof *col);
    const char **cname = calloc(nr ? nr : 1, sizeof *cname);
    if (cols && cd && col && cname && dec) {
        for (size_t i = 0; i < nr; i++)
            cd[i] = (struct rt_cand){.doc = rs[i].doc, .run = rs[i].j, .name = rs[i].name};
        size_t ncol = rt_decision_columns(cd, nr, col, cname);
        for (size_t g = 0; g < ncol; g++)
            json_array_append_new(cols, rt_json_bytes(cname[g], strlen(cname[g])));
    }
    free(cd);
    free(col);
    free(cname);
    json_object_set_new(o, "decision_columns", dec && cols ? cols : json_null());
    if (!dec)
        json_decref(cols);
    return o;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"top", required_argument, NULL, 't'},
                                         {"shards", required_argument, NULL, 'S'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"threshold", required_argument, NULL, 'T'},
                                         {"prices", required_argument, NULL, 'P'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out_path = "report.html", *json_path = NULL, *prices_path = NULL;
    double threshold = 10;
    struct rt_hotkeys_opts ho = {.top = 20, .prefix_depth = 1};
    int counts[MAX_SHARD_COUNTS] = {3, 6, 12}, ncounts = 3, quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:q", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 't': {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || v < 1 || v > 100000)
                return rt_usage_error("report", "bad --top '%s' (1 to 100000)", optarg);
            ho.top = (size_t)v;
            break;
        }
        case 'S':
            ncounts = parse_counts(optarg, counts);
            if (ncounts < 0)
                return rt_usage_error("report",
                                      "bad --shards '%s' (comma-separated shard counts from 1 "
                                      "to %d, at most %d of them, or none)",
                                      optarg, MAX_SHARDS, MAX_SHARD_COUNTS);
            break;
        case 's': ho.salvage = 1; break;
        case 'j': json_path = optarg ? optarg : "-"; break;
        case 'T': {
            char *end;
            errno = 0;
            threshold = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(threshold) || threshold < 0)
                return rt_usage_error("report", "bad --threshold '%s' (a percentage >= 0)",
                                      optarg);
            break;
        }
        case 'P':
            if (!*optarg)
                return rt_usage_error("report", "--prices needs a file name");
            prices_path = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'h': usage_report(stdout); return RT_EXIT_OK;
        default: return rt_opt_error("report", c, argv);
        }
    }
    if (optind >= argc)
        return rt_usage_error("report", "give the trace to report on");
    if (!*out_path)
        return rt_usage_error("report", "-o needs a file name (or '-' for stdout)");
    if (json_path && !*json_path)
        return rt_usage_error("report", "--json= needs a file name (or '-' for stdout)");
    int to_stdout = !strcmp(out_path, "-");
    if (to_stdout && json_path && !strcmp(json_path, "-"))
        return rt_usage_error("report", "the HTML goes to stdout (-o -): give the JSON a file "
                                        "(--json=FILE)");
    if (json_path && !strcmp(json_path, out_path))
        return rt_usage_error("report", "the HTML and the JSON cannot both be written to %s",
                              out_path);
    const char *trace = argv[optind];
    size_t nr = (size_t)(argc - optind - 1);
    /* the trace, the runs and the prices are inputs: never overwritten by the HTML or the
     * JSON */
    const char **inputs = calloc(nr + 2, sizeof *inputs);
    if (!inputs)
        rt_oom("report");
    for (size_t i = 0; i < nr + 1; i++)
        inputs[i] = argv[optind + (int)i];
    inputs[nr + 1] = prices_path;
    size_t ninputs = prices_path ? nr + 2 : nr + 1;
    int refused = rt_out_refuse_inputs("report", out_path, inputs, ninputs) < 0 ||
                  rt_out_refuse_inputs("report", json_path, inputs, ninputs) < 0;
    free(inputs);
    if (refused)
        return RT_EXIT_USAGE;
    struct run *rs = calloc(nr ? nr : 1, sizeof *rs);
    struct rt_prices *prices = NULL;
    json_t *st = NULL, *hk = NULL, *sh = NULL, *cmp = NULL, *dec = NULL, *pnotes = json_array();
    char damage[256] = "", hk_none[300] = "", shards_none[300] = "", intr[300] = "";
    int status = RT_EXIT_FAIL;
    struct rt_err err = {0};
    struct rt_out out = {0};
    if (!rs) {
        fail("out of memory");
        goto done;
    }
    /* the prices and the runs first: a typo in a name fails before the trace is read */
    if (prices_path && rt_prices_load(prices_path, &prices, &err) < 0) {
        fail(err.msg);
        nr = 0;
        goto done;
    }
    for (size_t i = 0; i < nr; i++)
        if (run_load(&rs[i], argv[optind + 1 + (int)i], &err) < 0) {
            fail(err.msg);
            nr = i + 1;
            goto done;
        }
    run_names(rs, nr);
    cmp = runs_compared(rs, nr, threshold, prices);
    dec = runs_decision(rs, nr, cmp);
    if (prices && cmp)
        rt_prices_notes(prices, pnotes);
    rt_catch_signals();
    struct rt_progress prog;
    struct rt_pass ps = pass_begin(&prog, quiet, "report: stat");
    st = rt_stat_json_pass(trace, ho.salvage, &ps, &err);
    rt_progress_done(&prog);
    if (!st) {
        fail(err.msg);
        goto done;
    }
    if (err.code < 0)
        snprintf(damage, sizeof damage, "%s", err.msg);
    if (ps.interrupted)
        snprintf(intr, sizeof intr, "the overview, rate and command mix cover its first %llu "
                                    "events; hot keys and shards were not computed",
                 (unsigned long long)ps.events);
    if (!intr[0]) {
        err = (struct rt_err){0};
        ps = pass_begin(&prog, quiet, "report: hot keys");
        hk = rt_hotkeys_json_pass(trace, &ho, &ps, &err);
        rt_progress_done(&prog);
        if (!hk) {
            fail(err.msg);
            goto done;
        }
        if (ps.interrupted)
            snprintf(intr, sizeof intr, "the hot keys cover its first %llu events; shards were "
                                        "not computed",
                     (unsigned long long)ps.events);
    } else {
        snprintf(hk_none, sizeof hk_none, "not computed: interrupted");
    }
    if (ncounts == 0) {
        snprintf(shards_none, sizeof shards_none, "not asked for (--shards none)");
    } else if (intr[0]) {
        snprintf(shards_none, sizeof shards_none, "not computed: interrupted");
    } else {
        err = (struct rt_err){0};
        ps = pass_begin(&prog, quiet, "report: shards");
        sh = rt_shards_json_pass(trace, counts, (size_t)ncounts, ho.salvage, &ps, &err);
        rt_progress_done(&prog);
        if (!sh)
            snprintf(shards_none, sizeof shards_none, "no shard projection: %s", err.msg);
        else if (ps.interrupted)
            snprintf(intr, sizeof intr, "the shard projections cover its first %llu events",
                     (unsigned long long)ps.events);
    }

    FILE *f = rt_out_open("report", &out, out_path, 0644);
    if (!f)
        goto done;
    struct page pg = {.trace = trace,
                      .st = st,
                      .hk = hk,
                      .shards = sh,
                      .hk_none = hk_none,
                      .shards_none = shards_none,
                      .rs = rs,
                      .nr = nr,
                      .damage = damage[0] ? damage : NULL,
                      .interrupted = intr[0] ? intr : NULL,
                      .threshold = threshold,
                      .cmp = cmp,
                      .dec = dec,
                      .price_notes = pnotes};
    write_page(f, &pg);
    long size = to_stdout ? -1 : ftell(f);
    if (ferror(f)) {
        fprintf(stderr, "resptrace report: cannot write %s: %s\n", out_path, strerror(errno));
        rt_out_abort(&out, 0);
        goto done;
    }
    if (rt_out_commit("report", &out, 0) != 0)
        goto done;
    if (damage[0])
        fprintf(stderr, "resptrace report: %s (the report covers what could be read)\n", damage);
    status = damage[0] ? RT_EXIT_FAIL : RT_EXIT_OK;
    if (json_path) {
        json_t *doc = report_doc(out_path, size, trace, st, rs, nr, counts, sh ? ncounts : 0, sh,
                                 damage[0] ? damage : NULL, intr[0] != 0, cmp, dec);
        if (rt_json_write("report", doc, json_path) < 0)
            status = RT_EXIT_FAIL;
    }
    if (!to_stdout && (!json_path || strcmp(json_path, "-"))) {
        char b[64];
        printf("wrote %s (%s): trace %s, %zu replay run%s\n", out_path,
               rt_fmt_bytes((uint64_t)size, b, sizeof b), trace, nr, nr == 1 ? "" : "s");
    }
    if (intr[0]) {
        fprintf(stderr, "resptrace report: interrupted: %s\n", intr);
        status = RT_EXIT_INTERRUPTED;
    }
done:
    for (size_t i = 0; rs && i < nr; i++)
        run_free(&rs[i]);
    free(rs);
    json_decref(st);
    json_decref(hk);
    json_decref(sh);
    json_decref(cmp);
    json_decref(dec);
    json_decref(pnotes);
    rt_prices_free(prices);
    return status;
}
