/* hist.c: the latency histogram (of replay, and of the analyses: stat, report).
 *
 * Why a histogram of our own: Debian bookworm packages no C HdrHistogram (`apt-cache search
 * hdrhistogram` finds only the Java and Go ones), and what replay needs is small: fixed memory
 * per histogram (three per command per thread), O(1) recording without allocation in the event
 * loop, exact merging across threads and hosts, and a bounded relative error on every
 * percentile.
 *
 * The layout is HDR-style log-linear: values below 256 ns have a bucket each; above, every
 * power of two [2^m, 2^(m+1)) is cut into 128 equal buckets of width 2^(m-7), so a bucket's
 * width is at most 1/128 (0.78%) of any value in it. The top magnitude is 2^42 ns, so the
 * range ends at 2^43 - 1 ns (2.4 hours); larger values land in the last bucket and are counted
 * as clamped. Min, max and count are exact, the mean is kept as a double sum. 4,736 buckets of
 * 8 bytes: 37 KiB, allocated once by rt_hist_new().
 */
#include "format.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_BITS 7
#define SUB (1u << SUB_BITS) /* buckets per power of two */
#define LINEAR (2u * SUB)    /* values below this have their own bucket */
#define TOP_MAG 42           /* the last magnitude: [2^42, 2^43) */
#define NBUCKETS (LINEAR + (TOP_MAG - 8 + 1) * SUB)

struct rt_hist {
    uint64_t count, min, max, clamped;
    double sum;
    uint64_t b[NBUCKETS];
};

/* The bucket of value v; values past the range go to the last bucket. */
static unsigned bucket_of(uint64_t v)
{
    if (v < LINEAR)
        return (unsigned)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v);
    if (m > TOP_MAG)
        return NBUCKETS - 1;
    return LINEAR + (m - 8) * SUB + (unsigned)((v >> (m - SUB_BITS)) - SUB);
}

/* The highest value of bucket i. */
static uint64_t bucket_high(unsigned i)
{
    if (i < LINEAR)
        return i;
    unsigned m = (i - LINEAR) / SUB + 8, s = (i - LINEAR) % SUB;
    uint64_t lo = ((uint64_t)(SUB + s)) << (m - SUB_BITS);
    return lo + (1ull << (m - SUB_BITS)) - 1;
}

struct rt_hist *rt_hist_new(void)
{
    struct rt_hist *h = calloc(1, sizeof *h);
    if (h)
        h->min = UINT64_MAX;
    return h;
}

void rt_hist_free(struct rt_hist *h)
{
    free(h);
}

void rt_hist_reset(struct rt_hist *h)
{
    if (!h)
        return;
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void rt_hist_record_n(struct rt_hist *h, uint64_t ns, uint64_t n)
{
    if (!n || !h)
        return;
    unsigned i = bucket_of(ns);
    if (i == NBUCKETS - 1 && ns > bucket_high(i))
        h->clamped += n;
    h->b[i] += n;
    h->count += n;
    h->sum += (double)ns * (double)n;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
}

void rt_hist_record(struct rt_hist *h, uint64_t ns)
{
    rt_hist_record_n(h, ns, 1);
}

int rt_hist_merge(struct rt_hist *dst, const struct rt_hist *src)
{
    if (!dst || !src || !src->count)
        return 0;
    for (unsigned i = 0; i < NBUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->clamped += src->clamped;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    return 0;
}

uint64_t rt_hist_count(const struct rt_hist *h)
{
    return h ? h->count : 0;
}
uint64_t rt_hist_min(const struct rt_hist *h)
{
    return h && h->count ? h->min : 0;
}
uint64_t rt_hist_max(const struct rt_hist *h)
{
    return h ? h->max : 0;
}
uint64_t rt_hist_clamped(const struct rt_hist *h)
{
    return h ? h->clamped : 0;
}
double rt_hist_mean(const struct rt_hist *h)
{
    return h && h->count ? h->sum / (double)h->count : 0;
}

/* The nearest rank of percentile p among n values: ceil(p/100 * n), at least 1. The product
 * is rounded, so a result a few ulps above an integer (99.9% of 10000) counts as that
 * integer rather than the next rank. */
static uint64_t rank_of(double p, uint64_t n)
{
    double x = p / 100.0 * (double)n;
    uint64_t r = (uint64_t)x;
    if (x - (double)r > x * 1e-13 + 1e-9)
        r++;
    if (r < 1)
        r = 1;
    return r > n ? n : r;
}

uint64_t rt_hist_percentile(const struct rt_hist *h, double p)
{
    if (!h || !h->count)
        return 0;
    if (isnan(p) || p <= 0)
        return h->min;
    if (p >= 100)
        return h->max;
    uint64_t rank = rank_of(p, h->count), seen = 0;
    for (unsigned i = 0; i < NBUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

/* Appends printf output to the growing buffer *s. @return 0, or -1 out of memory. */
static int append(char **s, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char **s, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*s + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return 0;
        }
        char *bigger = realloc(*s, *cap * 2);
        if (!bigger)
            return -1;
        *s = bigger;
        *cap *= 2;
    }
}

char *rt_hist_encode(const struct rt_hist *h)
{
    static const struct rt_hist empty = {.min = UINT64_MAX};
    if (!h)
        h = &empty;
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = 0;
    int bad = append(&s, &len, &cap, "v1 %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %.17g",
                     SUB_BITS, rt_hist_min(h), h->max, h->count, h->clamped, h->sum);
    for (unsigned i = 0; i < NBUCKETS && !bad; i++)
        if (h->b[i])
            bad = append(&s, &len, &cap, " %u:%" PRIu64, i, h->b[i]);
    if (bad) {
        free(s);
        return NULL;
    }
    return s;
}

/* A decimal uint64 at *p (digits only: no sign, no blanks), advancing *p. @return 0 or -1. */
static int num(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    *out = v;
    *p = end;
    return 0;
}

/* The sum: a finite, non-negative decimal as "%.17g" prints it (no "inf", "nan" or hex). */
static int sum_field(const char **p, double *out)
{
    const char *s = *p;
    size_t n = strspn(s, "0123456789.e+-");
    if (n == 0 || s[0] < '0' || s[0] > '9' || (s[n] != ' ' && s[n] != 0))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s + n || errno || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    *p = end;
    return 0;
}

static struct rt_hist *bad_input(struct rt_hist *h, struct rt_err *err, const char *what,
                                 const char *s, const char *at)
{
    rt_err_set(err, RT_EINVAL, "histogram: %s at offset %zu", what, (size_t)(at - s));
    rt_hist_free(h);
    return NULL;
}

struct rt_hist *rt_hist_decode(const char *s, struct rt_err *err)
{
    struct rt_hist *h = rt_hist_new();
    if (!h) {
        rt_err_set(err, RT_ENOMEM, "histogram: out of memory");
        return NULL;
    }
    const char *p = s;
    uint64_t bits, mn, mx, cnt, cl;
    if (strncmp(p, "v1 ", 3) != 0)
        return bad_input(h, err, "expected \"v1 \" (the only version known)", s, p);
    p += 3;
    if (num(&p, &bits) || bits != SUB_BITS)
        return bad_input(h, err, "sub-bucket bits must be 7", s, p);
    if (*p++ != ' ' || num(&p, &mn) || *p++ != ' ' || num(&p, &mx))
        return bad_input(h, err, "bad min or max", s, p);
    if (*p++ != ' ' || num(&p, &cnt) || *p++ != ' ' || num(&p, &cl))
        return bad_input(h, err, "bad count or clamped count", s, p);
    if (*p++ != ' ' || sum_field(&p, &h->sum))
        return bad_input(h, err, "bad sum", s, p);
    uint64_t total = 0;
    unsigned first = NBUCKETS, last = 0;
    while (*p) {
        const char *at = p;
        uint64_t i, c;
        if (*p++ != ' ' || num(&p, &i) || *p++ != ':' || num(&p, &c))
            return bad_input(h, err, "expected \" bucket:count\"", s, at);
        if (i >= NBUCKETS)
            return bad_input(h, err, "bucket index out of range", s, at);
        if (c == 0)
            return bad_input(h, err, "bucket with a zero count", s, at);
        if (first != NBUCKETS && i <= last)
            return bad_input(h, err, "buckets out of order", s, at);
        if (total + c < total)
            return bad_input(h, err, "counts overflow", s, at);
        if (first == NBUCKETS)
            first = (unsigned)i;
        last = (unsigned)i;
        h->b[i] = c;
        total += c;
    }
    if (total != cnt)
        return bad_input(h, err, "bucket counts do not add up to the count", s, p);
    if (!cnt && (mn || mx || cl || h->sum != 0))
        return bad_input(h, err, "empty histogram with a min, max, clamped count or sum", s, p);
    if (cnt && (mn > mx || bucket_of(mn) != first || bucket_of(mx) != last))
        return bad_input(h, err, "min or max outside the lowest or highest bucket", s, p);
    if (cl > h->b[NBUCKETS - 1] || (cl && mx <= bucket_high(NBUCKETS - 1)))
        return bad_input(h, err, "clamped count does not match the last bucket", s, p);
    h->count = cnt;
    h->clamped = cl;
    h->min = cnt ? mn : UINT64_MAX;
    h->max = mx;
    return h;
}
