/* disrupt.c: the disruption window of a replay's timeline (a failover, a restart, a
 * resharding, a flushed cache) and the miss storm after it: replay_disruption().
 *
 * A second is "bad" when it had errors, a p99 above 5 times the run's median per-second p99
 * and above 1 ms, nothing completed while requests waited (a stall), or a miss storm (misses
 * above twice the run's usual share of the replies, its quietest quarter of seconds, and above
 * 1%). The window is the run of consecutive bad seconds around the worst one: the most errors,
 * then a stall, then the one furthest over its own limit (p99 over 5x the median, or misses
 * over the storm's limit), so that a restarted cache missing every read outranks a p99 that
 * just passed 5x the median on a busy host, and a 500 ms stall outranks a 2% miss bump.
 * The misses it caused and how long the target took to warm up follow (warmup()).
 */
#include "replay.h"

#include <math.h>
#include <stdlib.h>

/* the misses of a disruption: the storm after it and how long the target took to warm up */
static void warmup(const struct replay_result *r, size_t a, size_t b, struct replay_disruption *d)
{
    double before = 0, span = 0;
    for (size_t i = 0; i < a; i++) {
        before += (double)r->ticks[i].misses;
        span = r->ticks[i].t_s;
    }
    d->misses_before = span > 0 ? before / span : 0;
    d->extra_misses = 0;
    d->warmed = 0;
    d->warmup_s = 0;
    int storm = 0; /* misses rose above the limit: there was something to warm up */
    for (size_t i = a; i < r->nticks; i++) {
        const struct replay_tick *t = &r->ticks[i];
        double dt = t->t_s - (i ? r->ticks[i - 1].t_s : 0);
        double base = d->misses_before * dt;
        double limit = 2 * base > 0.01 * (double)t->ops ? 2 * base : 0.01 * (double)t->ops;
        if ((double)t->misses > base)
            d->extra_misses += (uint64_t)((double)t->misses - base + 0.5);
        if (i > b && t->ops && (double)t->misses <= limit) {
            d->warmed = 1; /* (its own few misses were still the storm's) */
            d->warmup_s = storm ? t->t_s - d->from_s : 0; /* no storm: nothing to warm up */
            return;
        }
        storm |= (double)t->misses > limit;
    }
    if (!storm) { /* the misses never rose: nothing to warm up */
        d->warmed = 1;
        d->warmup_s = 0;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* the thresholds of a bad second, from the whole timeline */
struct limits {
    uint64_t med; /* the median per-second p99 (0: none, or out of memory) */
    double usual; /* the usual share of misses in the replies */
    double mlim;  /* the storm's limit on that share */
};

static int bad(const struct replay_tick *t, const struct limits *l)
{
    return t->errors || (l->med && t->p99_ns > 5 * l->med && t->p99_ns > 1000000) ||
           (!t->ops && t->outstanding) ||
           (t->ops && (double)t->misses > 2 * l->usual * (double)t->ops &&
            (double)t->misses > 0.01 * (double)t->ops);
}

/* after its errors, how far a bad second went over its limit; a stall is the worst */
static double severity(const struct replay_tick *t, const struct limits *l)
{
    if (!t->ops)
        return HUGE_VAL;
    double lat = l->med ? (double)t->p99_ns / (5.0 * (double)l->med) : 0;
    double miss = (double)t->misses / (double)t->ops / l->mlim;
    return lat > miss ? lat : miss;
}

int replay_disruption(const struct replay_result *r, struct replay_disruption *d)
{
    if (!r->nticks)
        return 0;
    struct limits l = {0, 0, 0.01};
    uint64_t *p = malloc(r->nticks * sizeof *p);
    double *mr = malloc(r->nticks * sizeof *mr);
    size_t n = 0;
    for (size_t i = 0; p && mr && i < r->nticks; i++)
        if (r->ticks[i].ops) {
            p[n] = r->ticks[i].p99_ns;
            mr[n++] = (double)r->ticks[i].misses / (double)r->ticks[i].ops;
        }
    if (n) {
        qsort(p, n, sizeof *p, cmp_u64);
        qsort(mr, n, sizeof *mr, cmp_double);
        l.med = p[n / 2];
        l.usual = mr[n / 4]; /* the quietest quarter of the seconds */
    }
    free(p);
    free(mr);
    l.mlim = 2 * l.usual > 0.01 ? 2 * l.usual : 0.01;
    size_t worst = r->nticks;
    for (size_t i = 0; i < r->nticks; i++) {
        const struct replay_tick *t = &r->ticks[i];
        if (!bad(t, &l))
            continue;
        if (worst == r->nticks || t->errors > r->ticks[worst].errors ||
            (t->errors == r->ticks[worst].errors &&
             severity(t, &l) > severity(&r->ticks[worst], &l)))
            worst = i;
    }
    if (worst == r->nticks)
        return 0;
    size_t a = worst, b = worst;
    while (a > 0 && bad(&r->ticks[a - 1], &l))
        a--;
    while (b + 1 < r->nticks && bad(&r->ticks[b + 1], &l))
        b++;
    d->from_s = a ? r->ticks[a - 1].t_s : 0;
    d->to_s = r->ticks[b].t_s;
    d->errors = d->peak_p99_ns = 0;
    for (size_t i = a; i <= b; i++) {
        d->errors += r->ticks[i].errors;
        if (r->ticks[i].p99_ns > d->peak_p99_ns)
            d->peak_p99_ns = r->ticks[i].p99_ns;
    }
    warmup(r, a, b, d);
    return 1;
}
