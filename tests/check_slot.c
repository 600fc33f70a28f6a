/* check_slot.c: unit tests of rt_key_slot(): the Redis Cluster hash slot (CRC16/XMODEM of the
 * key or its {hashtag}, mod 16384), against values a redis-server 7.0 answered to CLUSTER
 * KEYSLOT and (with hiredis and a redis-server in PATH) against a live server. */
#include "check_suites.h"
#include "format.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef RT_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

struct slot_case {
    const char *key;
    size_t len;
    int slot;
};

/* Answers of `CLUSTER KEYSLOT` (redis 7.0.15, cluster-enabled). "123456789" is the CRC16
 * check string (CRC 0x31c3 = 12739); "somekey" and "foo{hash_tag}" are the examples of the
 * CLUSTER KEYSLOT documentation; the rest cover hashtag edge cases and binary keys. */
static const struct slot_case known[] = {
    {"", 0, 0},
    {"123456789", 9, 12739},
    {"somekey", 7, 11058},
    {"foo{hash_tag}", 13, 2515},
    {"{}", 2, 15257},
    {"{a", 2, 10276},
    {"a}", 2, 5921},
    {"}{", 2, 12793},
    {"{}a", 3, 10875},
    {"a{}", 3, 6082},
    {"{a}", 3, 15495},
    {"{}{a}", 5, 13650},
    {"{{a}}", 5, 10276},
    {"{a}{b}", 6, 15495},
    {"x{a}y", 5, 15495},
    {"{user1000}.following", 20, 3443},
    {"{user1000}.followers", 20, 3443},
    {"foo{}{bar}", 10, 8363},
    {"foo{{bar}}zap", 13, 4015},
    {"foo{bar}{zap}", 13, 5061},
    {"user:1000", 9, 1649},
    {"user:1001", 9, 5712},
    {"session:abc", 11, 14788},
    {"a", 1, 15495},
    {"b", 1, 3300},
    {"A", 1, 6373},
    {"key", 3, 12539},
    {"key:{", 5, 13199},
    {"key:}", 5, 4937},
    {"{", 1, 4092},
    {"}", 1, 12090},
    {"{{", 2, 7007},
    {"}}", 2, 4415},
    {"a{b", 3, 13340},
    {"a{b}", 4, 3300},
    {"a{b}c", 5, 3300},
    {"\000", 1, 0},
    {"\000\001\002", 3, 4979},
    {"\377\376", 2, 3374},
    {"{\000}", 3, 0},
    {"k\000{v}", 5, 7761},
    {"\342\202\254", 3, 1997},
    {"\200{\377}\200", 5, 7920},
    {"{ }", 3, 9314},
    {" ", 1, 9314},
    {"\015\012", 2, 5910},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 100, 2134},
    {"{xyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy}", 53, 8251},
    {"obj:{42}:name", 13, 8000},
    {"cart:{u7}", 9, 12568},
};

START_TEST(test_known)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ck_assert_msg(rt_key_slot(known[i].key, known[i].len) == known[i].slot,
                      "case %zu (%zu bytes): got %u, want %d", i, known[i].len,
                      rt_key_slot(known[i].key, known[i].len), known[i].slot);
}
END_TEST

/* The bitwise CRC16/XMODEM, straight from its definition, to check the table-driven one. */
static uint16_t crc16_bitwise(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A random key of up to 40 bytes, with braces often enough to hit every hashtag case. */
static size_t random_key(uint8_t *k)
{
    size_t n = (size_t)(rng() % 41);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng();
        k[i] = (r % 5 == 0) ? (uint8_t)"{}"[(r >> 8) & 1] : (uint8_t)(r >> 16);
    }
    return n;
}

START_TEST(test_bitwise)
{
    uint8_t k[64];
    for (int t = 0; t < 20000; t++) {
        size_t n = (size_t)(rng() % 41);
        for (size_t i = 0; i < n; i++)
            k[i] = (uint8_t)rng();
        /* without braces the whole key is hashed */
        for (size_t i = 0; i < n; i++)
            if (k[i] == '{')
                k[i] = 'x';
        ck_assert_uint_eq(rt_key_slot(k, n), crc16_bitwise(k, n) % 16384);
    }
    ck_assert_uint_eq(crc16_bitwise((const uint8_t *)"123456789", 9), 0x31c3);
}
END_TEST

#ifdef RT_HAVE_HIREDIS
/* Starts a cluster-enabled redis-server on 127.0.0.1 and a free port (CLUSTER KEYSLOT works
 * without slots assigned). @return its pid, 0 when it cannot. */
static pid_t start_cluster_server(const char *dir, redisContext **rc_out)
{
    srand((unsigned)(time(NULL) ^ getpid()));
    for (int attempt = 0; attempt < 20; attempt++) {
        int port = 20000 + rand() % 40000;
        char ps[16], log[512], conf[512];
        snprintf(ps, sizeof ps, "%d", port);
        snprintf(log, sizeof log, "%s/redis.log", dir);
        snprintf(conf, sizeof conf, "nodes-%d.conf", port);
        pid_t pid = fork();
        if (pid < 0)
            return 0;
        if (pid == 0) {
            execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file",
                   conf, "--dir", dir, "--logfile", log, (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 50; i++) {
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid)
                break; /* exited: port taken, or no redis-server */
            redisContext *rc = redisConnect("127.0.0.1", port);
            if (rc && !rc->err) {
                *rc_out = rc;
                return pid;
            }
            redisFree(rc);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return 0;
}

static long long server_slot(redisContext *rc, const void *key, size_t len)
{
    const char *argv[3] = {"CLUSTER", "KEYSLOT", key};
    size_t lens[3] = {7, 7, len};
    redisReply *rep = redisCommandArgv(rc, 3, argv, lens);
    ck_assert_ptr_nonnull(rep);
    ck_assert_msg(rep->type == REDIS_REPLY_INTEGER, "CLUSTER KEYSLOT: %s",
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "not an integer");
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

START_TEST(test_vs_server)
{
    char dir[] = "/tmp/check_slot_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    redisContext *rc = NULL;
    pid_t pid = start_cluster_server(dir, &rc);
    if (!pid) {
        fprintf(stderr, "check_slot: no redis-server, CLUSTER KEYSLOT comparison skipped\n");
        rmdir(dir);
        return;
    }
    int compared = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++, compared++)
        ck_assert_msg(server_slot(rc, known[i].key, known[i].len) == rt_key_slot(known[i].key,
                                                                                  known[i].len),
                      "known case %zu", i);
    uint8_t k[64];
    for (int t = 0; t < 2000; t++, compared++) {
        size_t n = random_key(k);
        long long want = server_slot(rc, k, n);
        ck_assert_msg(want == rt_key_slot(k, n), "random key %d (%zu bytes): server %lld, ours %u",
                      t, n, want, rt_key_slot(k, n));
    }
    redisFree(rc);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "check_slot: could not remove %s\n", dir);
    ck_assert_int_ge(compared, 2050);
}
END_TEST
#endif

Suite *slot_suite(void)
{
    Suite *s = suite_create("slot");
    TCase *tc = tcase_create("slot");
    tcase_add_test(tc, test_known);
    tcase_add_test(tc, test_bitwise);
#ifdef RT_HAVE_HIREDIS
    tcase_add_test(tc, test_vs_server);
    tcase_set_timeout(tc, 30);
#endif
    suite_add_tcase(s, tc);
    return s;
}
