/* check_hist.c: the latency histogram against exact percentiles at every tenth of a percent,
 * the bucket error bound across the whole range, merging, the text form and its parser. */
#include "check_suites.h"
#include "replay.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANGE_TOP ((1ull << 43) - 1) /* the largest value not clamped */

/* splitmix64: deterministic, so that a failure reproduces */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rnd01(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t gen_uniform(void)
{
    return 1000 + rnd() % 10000000;
}
static uint64_t gen_loguniform(void)
{
    return (uint64_t)pow(10.0, 3.0 + 7.0 * rnd01());
}
static uint64_t gen_constant(void)
{
    return 987654;
}
static uint64_t gen_bimodal(void)
{
    return rnd() % 100 < 95 ? 150000 + rnd() % 20000 : 40000000 + rnd() % 5000000;
}
static uint64_t gen_tiny(void)
{
    return rnd() % 600;
} /* the linear buckets */
static uint64_t gen_pareto(void)
{
    return (uint64_t)(50000.0 / pow(1.0 - rnd01(), 1.0 / 1.2));
}

/* Every percentile from 0 to 100 in steps of 0.1 is within 1% of the exact nearest-rank
 * percentile (the ceil(p/100 * n)-th smallest, computed here in integers). */
static void check_distribution(uint64_t (*gen)(void), const char *what)
{
    enum { N = 100000 };
    uint64_t *v = malloc(N * sizeof *v);
    struct rt_hist *h = rt_hist_new();
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < N; i++) {
        v[i] = gen();
        rt_hist_record(h, v[i]);
    }
    qsort(v, N, sizeof *v, cmp_u64);
    for (unsigned k = 0; k <= 1000; k++) {
        uint64_t rank = ((uint64_t)k * N + 999) / 1000;
        uint64_t want = v[rank ? rank - 1 : 0];
        uint64_t got = rt_hist_percentile(h, k / 10.0);
        double rel = want ? fabs((double)got - (double)want) / (double)want : (double)got;
        ck_assert_msg(rel <= 0.01, "%s p%.1f: histogram %" PRIu64 ", exact %" PRIu64 " (%.3f%%)",
                      what, k / 10.0, got, want, rel * 100);
        ck_assert_msg(got >= want, "%s p%.1f: %" PRIu64 " below the exact %" PRIu64, what, k / 10.0,
                      got, want);
    }
    ck_assert_uint_eq(rt_hist_min(h), v[0]);
    ck_assert_uint_eq(rt_hist_max(h), v[N - 1]);
    ck_assert_uint_eq(rt_hist_percentile(h, 0), v[0]);
    ck_assert_uint_eq(rt_hist_percentile(h, 100), v[N - 1]);
    ck_assert_uint_eq(rt_hist_count(h), N);
    double sum = 0;
    for (size_t i = 0; i < N; i++)
        sum += (double)v[i];
    ck_assert_double_eq_tol(rt_hist_mean(h), sum / N, sum / N * 1e-9);
    rt_hist_free(h);
    free(v);
}

START_TEST(test_hist_every_percentile_within_one_percent)
{
    check_distribution(gen_uniform, "uniform 1us..10ms");
    check_distribution(gen_loguniform, "log-uniform 1us..10s");
    check_distribution(gen_constant, "constant");
    check_distribution(gen_bimodal, "bimodal");
    check_distribution(gen_tiny, "tiny");
    check_distribution(gen_pareto, "pareto");
}
END_TEST

/* A value's bucket reports at least the value and less than 1/128 above it, everywhere in the
 * range: at every power of two and its neighbours, and at random points. */
static void check_bound(struct rt_hist *h, uint64_t x)
{
    rt_hist_reset(h);
    rt_hist_record(h, x);
    rt_hist_record(h, RANGE_TOP); /* so that the max does not clamp the answer */
    uint64_t got = rt_hist_percentile(h, 50);
    ck_assert_msg(got >= x && (double)(got - x) <= (double)x / 128.0,
                  "value %" PRIu64 " reported as %" PRIu64, x, got);
}

START_TEST(test_hist_bucket_error_bound_over_the_range)
{
    struct rt_hist *h = rt_hist_new();
    for (uint64_t x = 0; x < 5000; x++)
        check_bound(h, x);
    for (unsigned k = 1; k < 43; k++)
        for (int d = -2; d <= 2; d++)
            check_bound(h, (1ull << k) + (uint64_t)(int64_t)d);
    check_bound(h, RANGE_TOP - 1);
    for (int i = 0; i < 20000; i++)
        check_bound(h, rnd() % RANGE_TOP);
    for (int i = 0; i < 20000; i++) /* log-uniform over the whole range */
        check_bound(h, rnd() >> (21 + rnd() % 43));
    rt_hist_free(h);
}
END_TEST

START_TEST(test_hist_range_covers_an_hour_and_clamps_above)
{
    struct rt_hist *h = rt_hist_new();
    uint64_t hour = 3600ull * 1000000000ull;
    rt_hist_record(h, hour);
    ck_assert_uint_eq(rt_hist_clamped(h), 0);
    rt_hist_record(h, RANGE_TOP);
    ck_assert_uint_eq(rt_hist_clamped(h), 0);
    rt_hist_record(h, RANGE_TOP + 1);
    rt_hist_record_n(h, 5 * hour, 3);
    rt_hist_record(h, UINT64_MAX);
    ck_assert_uint_eq(rt_hist_clamped(h), 5);
    ck_assert_uint_eq(rt_hist_count(h), 7);
    ck_assert_uint_eq(rt_hist_min(h), hour);
    ck_assert_uint_eq(rt_hist_max(h), UINT64_MAX); /* exact, although clamped */
    ck_assert_uint_eq(rt_hist_percentile(h, 100), UINT64_MAX);
    /* within the clamped bucket the answer is the top of the range */
    ck_assert_uint_eq(rt_hist_percentile(h, 50), RANGE_TOP);
    uint64_t p10 = rt_hist_percentile(h, 10);
    ck_assert(p10 >= hour && (double)(p10 - hour) <= (double)hour / 128.0);
    char *s = rt_hist_encode(h);
    struct rt_err err = {0};
    struct rt_hist *d = rt_hist_decode(s, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_uint_eq(rt_hist_clamped(d), 5);
    ck_assert_uint_eq(rt_hist_max(d), UINT64_MAX);
    free(s);
    rt_hist_free(d);
    rt_hist_free(h);
}
END_TEST

static void assert_same(const struct rt_hist *a, const struct rt_hist *b)
{
    ck_assert_uint_eq(rt_hist_count(a), rt_hist_count(b));
    ck_assert_uint_eq(rt_hist_min(a), rt_hist_min(b));
    ck_assert_uint_eq(rt_hist_max(a), rt_hist_max(b));
    ck_assert_uint_eq(rt_hist_clamped(a), rt_hist_clamped(b));
    for (unsigned k = 0; k <= 1000; k++)
        ck_assert_uint_eq(rt_hist_percentile(a, k / 10.0), rt_hist_percentile(b, k / 10.0));
    double m = rt_hist_mean(b);
    ck_assert_double_eq_tol(rt_hist_mean(a), m, m * 1e-12 + 1e-12);
}

/* Merging per-thread histograms, and per-host ones through their text, gives what recording
 * everything into one would have given. */
START_TEST(test_hist_merge_equals_recording_into_one)
{
    enum { PARTS = 4 };
    struct rt_hist *part[PARTS], *all = rt_hist_new(), *merged = rt_hist_new(),
                                 *via_text = rt_hist_new();
    for (int i = 0; i < PARTS; i++)
        part[i] = rt_hist_new();
    for (int i = 0; i < 60000; i++) {
        uint64_t x = i % 1000 == 0 ? RANGE_TOP + rnd() % 1000 : gen_loguniform();
        int which = (int)(rnd() % (PARTS - 1)); /* the last part stays empty */
        rt_hist_record(part[which], x);
        rt_hist_record(all, x);
    }
    struct rt_err err = {0};
    for (int i = 0; i < PARTS; i++) {
        ck_assert_int_eq(rt_hist_merge(merged, part[i]), 0);
        char *s = rt_hist_encode(part[i]);
        ck_assert_ptr_nonnull(s);
        struct rt_hist *d = rt_hist_decode(s, &err);
        ck_assert_msg(d != NULL, "%s", err.msg);
        ck_assert_int_eq(rt_hist_merge(via_text, d), 0);
        rt_hist_free(d);
        free(s);
    }
    assert_same(merged, all);
    assert_same(via_text, all);
    /* merging an empty histogram, or into one, changes nothing */
    struct rt_hist *empty = rt_hist_new(), *copy = rt_hist_new();
    rt_hist_merge(all, empty);
    rt_hist_merge(copy, all);
    assert_same(copy, all);
    struct rt_hist *empty2 = rt_hist_new();
    rt_hist_merge(empty, empty2);
    ck_assert_uint_eq(rt_hist_count(empty), 0);
    ck_assert_uint_eq(rt_hist_min(empty), 0);
    rt_hist_record(empty2, 5);
    rt_hist_merge(empty, empty2);
    ck_assert_uint_eq(rt_hist_min(empty), 5);
    rt_hist_free(empty2);
    rt_hist_reset(empty);
    ck_assert_uint_eq(rt_hist_min(empty), 0);
    for (int i = 0; i < PARTS; i++)
        rt_hist_free(part[i]);
    rt_hist_free(all);
    rt_hist_free(merged);
    rt_hist_free(via_text);
    rt_hist_free(empty);
    rt_hist_free(copy);
}
END_TEST

static void roundtrip(const struct rt_hist *h)
{
    char *s = rt_hist_encode(h);
    ck_assert_ptr_nonnull(s);
    struct rt_err err = {0};
    struct rt_hist *d = rt_hist_decode(s, &err);
    ck_assert_msg(d != NULL, "decode '%.80s': %s", s, err.msg);
    char *s2 = rt_hist_encode(d);
    ck_assert_str_eq(s, s2);
    assert_same(d, h);
    ck_assert(rt_hist_mean(d) == rt_hist_mean(h)); /* %.17g keeps the sum exactly */
    free(s);
    free(s2);
    rt_hist_free(d);
}

START_TEST(test_hist_encode_decode_roundtrip)
{
    struct rt_hist *h = rt_hist_new();
    roundtrip(h); /* empty */
    char *s = rt_hist_encode(h);
    ck_assert_str_eq(s, "v1 7 0 0 0 0 0");
    free(s);
    rt_hist_record(h, 0);
    roundtrip(h);
    s = rt_hist_encode(h);
    ck_assert_str_eq(s, "v1 7 0 0 1 0 0 0:1");
    free(s);
    rt_hist_record_n(h, 1234567, 1000000000000ull);
    roundtrip(h);
    for (int i = 0; i < 100000; i++)
        rt_hist_record(h, gen_loguniform());
    rt_hist_record(h, UINT64_MAX);
    roundtrip(h);
    rt_hist_free(h);
}
END_TEST

START_TEST(test_hist_decode_rejects_bad_text)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "v1"},
        {"v2 7 1 1 1 0 1 1:1", "v1"},
        {"V1 7 1 1 1 0 1 1:1", "v1"},
        {"v1 6 1 1 1 0 1 1:1", "bits"},
        {"v1 7", "min"},
        {"v1 7 1", "min"},
        {"v1 7 -1 1 1 0 1 1:1", "min"},
        {"v1 7 +1 1 1 0 1 1:1", "min"},
        {"v1 7  1 1 1 0 1 1:1", "min"},
        {"v1 7 1 18446744073709551616 1 0 1 1:1", "max"},
        {"v1 7 1 1 x 0 1 1:1", "count"},
        {"v1 7 1 1 1 0 nan 1:1", "sum"},
        {"v1 7 1 1 1 0 inf 1:1", "sum"},
        {"v1 7 1 1 1 0 -1 1:1", "sum"},
        {"v1 7 1 1 1 0 0x1 1:1", "sum"},
        {"v1 7 1 1 1 0 1e999 1:1", "sum"},
        {"v1 7 1 1 1 0 1 1:1 ", "bucket:count"},
        {"v1 7 1 1 1 0 1 1:1\n", "bucket:count"},
        {"v1 7 1 1 1 0 1 1", "bucket:count"},
        {"v1 7 1 1 1 0 1 1:", "bucket:count"},
        {"v1 7 1 1 1 0 1 :1", "bucket:count"},
        {"v1 7 1 1 1 0 1 1:1,2:1", "bucket:count"},
        {"v1 7 1 1 1 0 1 99999:1", "out of range"},
        {"v1 7 1 1 1 0 1 4736:1", "out of range"},
        {"v1 7 1 1 1 0 1 1:0", "zero"},
        {"v1 7 1 2 2 0 3 2:1 1:1", "order"},
        {"v1 7 1 1 2 0 2 1:1 1:1", "order"},
        {"v1 7 1 1 2 0 1 1:1", "add up"},
        {"v1 7 1 2 18446744073709551615 0 3 1:18446744073709551615 2:1", "overflow"},
        {"v1 7 5 1 1 0 1 1:1", "min or max"},
        {"v1 7 1 1 1 0 1 2:1", "min or max"},
        {"v1 7 1 3 2 0 4 1:1 2:1", "min or max"},
        {"v1 7 3 0 0 0 0", "empty"},
        {"v1 7 0 0 0 1 0", "empty"},
        {"v1 7 0 0 0 0 5", "empty"},
        {"v1 7 1 1 1 1 1 1:1", "clamped"},
        {"v1 7 8796093022207 8796093022207 1 1 8796093022207 4735:1", "clamped"},
        {"v1 7 9000000000000 9000000000000 1 2 9000000000000 4735:1", "clamped"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rt_err e = {0};
        struct rt_hist *h = rt_hist_decode(bad[i].text, &e);
        ck_assert_msg(h == NULL, "accepted '%s'", bad[i].text);
        ck_assert_int_eq(e.code, RT_EINVAL);
        ck_assert_msg(strncmp(e.msg, "histogram: ", 11) == 0 && strstr(e.msg, "offset") &&
                          strstr(e.msg, bad[i].why),
                      "'%s': message '%s' (wanted '%s')", bad[i].text, e.msg, bad[i].why);
    }
    /* and what is right by the same rules is accepted */
    static const char *const good[] = {
        "v1 7 1 2 2 0 3 1:1 2:1",
        "v1 7 9000000000000 9000000000000 1 1 9000000000000 4735:1",
        "v1 7 256 257 2 0 513 256:2",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct rt_err e = {0};
        struct rt_hist *h = rt_hist_decode(good[i], &e);
        ck_assert_msg(h != NULL, "rejected '%s': %s", good[i], e.msg);
        rt_hist_free(h);
    }
}
END_TEST

START_TEST(test_hist_edges_empty_reset_and_odd_percentiles)
{
    struct rt_hist *h = rt_hist_new(), *fresh = rt_hist_new();
    ck_assert_uint_eq(rt_hist_count(h), 0);
    ck_assert_uint_eq(rt_hist_min(h), 0);
    ck_assert_uint_eq(rt_hist_max(h), 0);
    ck_assert_uint_eq(rt_hist_percentile(h, 50), 0);
    ck_assert(rt_hist_mean(h) == 0);
    rt_hist_record_n(h, 77, 0); /* no-op */
    ck_assert_uint_eq(rt_hist_count(h), 0);
    rt_hist_record(h, 1000);
    rt_hist_record(h, 3000);
    rt_hist_record_n(h, 2000, 2);
    ck_assert(rt_hist_mean(h) == 2000.0);
    ck_assert_uint_eq(rt_hist_percentile(h, NAN), 1000);
    ck_assert_uint_eq(rt_hist_percentile(h, -5), 1000);
    ck_assert_uint_eq(rt_hist_percentile(h, 250), 3000);
    ck_assert_uint_eq(rt_hist_percentile(h, 25), 1003); /* the top of [1000, 1004) */
    ck_assert_uint_eq(rt_hist_percentile(h, 75), 2007); /* the top of [2000, 2008) */
    ck_assert_uint_eq(rt_hist_percentile(h, 75.0001), 3000);
    rt_hist_reset(h);
    char *a = rt_hist_encode(h), *b = rt_hist_encode(fresh);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    rt_hist_free(h);
    rt_hist_free(fresh);
    rt_hist_free(NULL);
}
END_TEST

Suite *hist_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("hist");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hist_every_percentile_within_one_percent);
    tcase_add_test(tc, test_hist_bucket_error_bound_over_the_range);
    tcase_add_test(tc, test_hist_range_covers_an_hour_and_clamps_above);
    tcase_add_test(tc, test_hist_merge_equals_recording_into_one);
    tcase_add_test(tc, test_hist_encode_decode_roundtrip);
    tcase_add_test(tc, test_hist_decode_rejects_bad_text);
    tcase_add_test(tc, test_hist_edges_empty_reset_and_odd_percentiles);
    suite_add_tcase(s, tc);
    return s;
}
