/* check_replay.c: unit tests of the replayer library: target URLs, the list of unsafe
 * commands and the disruption window of a timeline (the histogram and the throwaway server
 * have check_hist.c and check_server.c). */
#include "check_suites.h"
#include "replay.h"

#include <check.h>
#include <string.h>

START_TEST(test_replay_target_plain)
{
    struct replay_target t;
    struct rt_err err = {0};
    ck_assert_int_eq(replay_target_parse("redis://127.0.0.1:7001", &t, &err), 0);
    ck_assert_str_eq(t.host, "127.0.0.1");
    ck_assert_uint_eq(t.port, 7001);
    ck_assert_uint_eq(t.db, 0);
    ck_assert_int_eq(t.tls, 0);
    ck_assert_ptr_null(t.user);
    ck_assert_ptr_null(t.pass);
    replay_target_clear(&t);
    ck_assert_int_eq(replay_target_parse("redis://localhost", &t, &err), 0);
    ck_assert_str_eq(t.host, "localhost");
    ck_assert_uint_eq(t.port, 6379);
    replay_target_clear(&t);
}
END_TEST

START_TEST(test_replay_target_tls_auth_db_ipv6)
{
    struct replay_target t;
    struct rt_err err = {0};
    char buf[512];
    ck_assert_int_eq(replay_target_parse("rediss://app:p%40ss:w@rd@[::1]:6380/3", &t, &err), 0);
    ck_assert_int_eq(t.tls, 1);
    ck_assert_str_eq(t.host, "::1");
    ck_assert_uint_eq(t.port, 6380);
    ck_assert_uint_eq(t.db, 3);
    ck_assert_str_eq(t.user, "app");
    ck_assert_str_eq(t.pass, "p@ss:w@rd");
    replay_target_format(&t, buf, sizeof buf);
    ck_assert_str_eq(buf, "rediss://app@[::1]:6380/3");
    ck_assert_ptr_null(strstr(buf, "ss:w"));
    replay_target_clear(&t);
    ck_assert_int_eq(replay_target_parse("redis://:secret@cache.example:6379/0", &t, &err), 0);
    ck_assert_ptr_null(t.user);
    ck_assert_str_eq(t.pass, "secret");
    ck_assert_str_eq(t.host, "cache.example");
    replay_target_clear(&t);
}
END_TEST

START_TEST(test_replay_target_rejects_bad_urls)
{
    static const char *const bad[] = {"http://h:1",      "redis://",         "redis://:6379",
                                      "redis://h:0",     "redis://h:65536",  "redis://h:x",
                                      "redis://[::1",    "redis://[::1]x",   "redis://h/db",
                                      "redis://u:%zz@h", "redis://h:123456", "h:6379"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct replay_target t;
        struct rt_err err = {0};
        ck_assert_msg(replay_target_parse(bad[i], &t, &err) == RT_EINVAL, "accepted '%s'", bad[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "bad target URL"));
        ck_assert_ptr_null(t.user);
        ck_assert_ptr_null(t.pass);
    }
    /* the message never carries the password */
    struct replay_target t;
    struct rt_err err = {0};
    ck_assert_int_eq(replay_target_parse("redis://u:hunter2@h:99999", &t, &err), RT_EINVAL);
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));
}
END_TEST

START_TEST(test_unsafe_commands)
{
    ck_assert_int_eq(replay_cmd_is_unsafe("flushall", NULL), 1);
    ck_assert_int_eq(replay_cmd_is_unsafe("FLUSHDB", NULL), 1);
    ck_assert_int_eq(replay_cmd_is_unsafe("config", "set"), 1);
    ck_assert_int_eq(replay_cmd_is_unsafe("script", "flush"), 1);
    ck_assert_int_eq(replay_cmd_is_unsafe("script", "load"), 0);
    ck_assert_int_eq(replay_cmd_is_unsafe("client", "kill"), 1);
    ck_assert_int_eq(replay_cmd_is_unsafe("client", "setname"), 0);
    ck_assert_int_eq(replay_cmd_is_unsafe("get", NULL), 0);
    ck_assert_int_eq(replay_cmd_is_unsafe("flushallx", NULL), 0);
}
END_TEST

/* a timeline of N seconds at 2,000 replies each, p99 0.4 ms, no miss, no error */
#define NT 10
static void quiet(struct replay_tick *t)
{
    for (size_t i = 0; i < NT; i++)
        t[i] = (struct replay_tick){.t_s = (double)(i + 1),
                                    .ops = 2000,
                                    .hits = 2000,
                                    .p50_ns = 150000,
                                    .p99_ns = 400000,
                                    .max_ns = 900000};
}

START_TEST(test_disruption_none)
{
    struct replay_tick t[NT];
    quiet(t);
    struct replay_result r = {.ticks = t, .nticks = NT};
    struct replay_disruption d;
    ck_assert_int_eq(replay_disruption(&r, &d), 0);
    r.nticks = 0;
    ck_assert_int_eq(replay_disruption(&r, &d), 0);
}
END_TEST

/* What CI's busy host made: a p99 spike of 4.75 ms in second 2 (12x the median: bad), then the
 * cache restarted empty in second 4 and every read missed to the end. The window is the
 * storm's (the larger event), and it never warmed up. */
START_TEST(test_disruption_storm_outranks_spike)
{
    struct replay_tick t[NT];
    quiet(t);
    t[1].p99_ns = 4750000;
    for (size_t i = 3; i < NT; i++) {
        t[i].misses = 2000;
        t[i].hits = 0;
    }
    t[3].p99_ns = 1800000; /* the restart's own second: slower, but less than the spike */
    struct replay_result r = {.ticks = t, .nticks = NT};
    struct replay_disruption d;
    ck_assert_int_eq(replay_disruption(&r, &d), 1);
    ck_assert_double_eq(d.from_s, 3.0); /* the start of second 4 */
    ck_assert_double_eq(d.to_s, 10.0);
    ck_assert_int_eq(d.warmed, 0);
    ck_assert_uint_eq(d.extra_misses, 7 * 2000); /* none before: every miss is extra */
    ck_assert_uint_eq(d.peak_p99_ns, 1800000);
    ck_assert_uint_eq(d.errors, 0);
}
END_TEST

/* a 500 ms stall (p99 1,250x the median) outranks a 2% miss bump (2x over its limit); a storm
 * that falls back warms up, and its warm-up time ends with the first second back under 1% */
START_TEST(test_disruption_stall_and_warmup)
{
    struct replay_tick t[NT];
    quiet(t);
    t[2].misses = 40; /* a 2% bump: bad, but mild */
    t[6].p99_ns = 500000000;
    struct replay_result r = {.ticks = t, .nticks = NT};
    struct replay_disruption d;
    ck_assert_int_eq(replay_disruption(&r, &d), 1);
    ck_assert_double_eq(d.from_s, 6.0);
    ck_assert_double_eq(d.to_s, 7.0);
    ck_assert_uint_eq(d.peak_p99_ns, 500000000);
    ck_assert_int_eq(d.warmed, 1);
    ck_assert_double_eq(d.warmup_s, 0); /* no storm after it: nothing to warm up */

    /* a restart: the storm in seconds 5-6, falling to 1% in second 7 */
    quiet(t);
    t[4].misses = 1800;
    t[5].misses = 400;
    t[6].misses = 20;
    ck_assert_int_eq(replay_disruption(&r, &d), 1);
    ck_assert_double_eq(d.from_s, 4.0);
    ck_assert_double_eq(d.to_s, 6.0);
    ck_assert_int_eq(d.warmed, 1);
    ck_assert_double_eq(d.warmup_s, 3.0); /* to the end of second 7 */
    ck_assert_uint_eq(d.extra_misses, 1800 + 400 + 20);
}
END_TEST

/* errors come first: one second with errors outranks a worse stall; a stall (nothing done,
 * requests waiting) outranks any latency */
START_TEST(test_disruption_errors_then_stall)
{
    struct replay_tick t[NT];
    quiet(t);
    t[1].p99_ns = 900000000;
    t[7].errors = 3;
    struct replay_result r = {.ticks = t, .nticks = NT};
    struct replay_disruption d;
    ck_assert_int_eq(replay_disruption(&r, &d), 1);
    ck_assert_double_eq(d.from_s, 7.0);
    ck_assert_uint_eq(d.errors, 3);

    quiet(t);
    t[1].p99_ns = 900000000;
    t[5] = (struct replay_tick){.t_s = 6.0, .outstanding = 8};
    ck_assert_int_eq(replay_disruption(&r, &d), 1);
    ck_assert_double_eq(d.from_s, 5.0);
    ck_assert_double_eq(d.to_s, 6.0);
}
END_TEST

Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("target");
    tcase_add_test(tc, test_replay_target_plain);
    tcase_add_test(tc, test_replay_target_tls_auth_db_ipv6);
    tcase_add_test(tc, test_replay_target_rejects_bad_urls);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("safety");
    tcase_add_test(ts, test_unsafe_commands);
    suite_add_tcase(s, ts);
    TCase *td = tcase_create("disruption");
    tcase_add_test(td, test_disruption_none);
    tcase_add_test(td, test_disruption_storm_outranks_spike);
    tcase_add_test(td, test_disruption_stall_and_warmup);
    tcase_add_test(td, test_disruption_errors_then_stall);
    suite_add_tcase(s, td);
    return s;
}
