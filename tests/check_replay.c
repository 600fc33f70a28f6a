/* check_replay.c: unit tests of the replayer library: target URLs and the list of unsafe
 * commands (the histogram and the throwaway server have check_hist.c and check_server.c). */
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
    return s;
}
