/* check_resp.c: unit tests of the passive RESP scanner (record/resp_scan.c). */
#include "record.h"

#include <check.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

Suite *resp_suite(void);

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

/* A copy of `p` in a buffer of exactly `n` bytes, so that ASan reports a read past it. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    if (n)
        memcpy(b, p, n);
    return b;
}

static int reply(const uint8_t *p, size_t n, struct resp_reply *r, size_t *need)
{
    return resp_scan_reply(p, n, NULL, r, need);
}

/* Room for the arguments of the requests of these tests. */
struct req_room {
    const char *argv[16];
    size_t argvlen[16];
    char scratch[4096];
};

static void req_init(struct resp_request *q, struct req_room *room, size_t cap)
{
    memset(q, 0, sizeof *q);
    q->argv = room->argv;
    q->argvlen = room->argvlen;
    q->argv_cap = cap;
    q->scratch = room->scratch;
    q->scratch_cap = sizeof room->scratch;
}

static int request(const uint8_t *p, size_t n, struct resp_request *q, struct req_room *room,
                   size_t *need)
{
    req_init(q, room, 16);
    return resp_scan_request(p, n, NULL, q, need);
}

static void assert_arg(const struct resp_request *q, size_t i, const char *want, size_t wlen)
{
    ck_assert_msg(i < q->argc, "argument %zu missing (argc %zu)", i, q->argc);
    ck_assert_msg(q->argvlen[i] == wlen && memcmp(q->argv[i], want, wlen) == 0,
                  "argument %zu is '%.*s', expected '%.*s'", i, (int)q->argvlen[i], q->argv[i],
                  (int)wlen, want);
}

#define ARG(q, i, lit) assert_arg(q, i, lit, sizeof(lit) - 1)

static int span_inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
    const uint8_t *b = p;
    return b >= buf && b <= buf + len && n <= (size_t)(buf + len - b);
}

/* Every prefix of the message is "need more", with need a bound in (prefix, whole]. */
static void check_prefixes(const uint8_t *msg, size_t n, int is_reply)
{
    for (size_t k = 0; k < n; k++) {
        uint8_t *b = dup_exact(msg, k);
        size_t need = 0;
        int rc;
        if (is_reply) {
            struct resp_reply r;
            rc = resp_scan_reply(b, k, NULL, &r, &need);
        } else {
            struct resp_request q;
            struct req_room room;
            rc = request(b, k, &q, &room, &need);
        }
        ck_assert_msg(rc == -2, "prefix %zu of '%.*s': %d, expected -2", k, (int)n, msg, rc);
        ck_assert_msg(need > k && need <= n, "prefix %zu of %zu bytes '%.*s': need %zu", k, n,
                      (int)n, msg, need);
        free(b);
    }
}

/* The valid messages of these tests. */
static const char *const valid_replies[] = {
    "+OK\r\n",
    "+\r\n",
    "-ERR unknown command 'foo'\r\n",
    ":0\r\n",
    ":-9223372036854775808\r\n",
    ":9223372036854775807\r\n",
    "$5\r\nhello\r\n",
    "$0\r\n\r\n",
    "$-1\r\n",
    "*-1\r\n",
    "*0\r\n",
    "*2\r\n$3\r\nfoo\r\n$-1\r\n",
    "*3\r\n:1\r\n*2\r\n+a\r\n-b\r\n$1\r\nx\r\n",
    "_\r\n",
    ",3.14\r\n",
    ",inf\r\n",
    ",-inf\r\n",
    ",nan\r\n",
    ",1e-300\r\n",
    "#t\r\n",
    "#f\r\n",
    "!21\r\nSYNTAX invalid syntax\r\n",
    "=15\r\ntxt:Some string\r\n",
    "(3492890328409238509324850943850943825024385\r\n",
    "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
    "~3\r\n+a\r\n+b\r\n+c\r\n",
    ">3\r\n$7\r\nmessage\r\n$3\r\nFoo\r\n$2\r\nhi\r\n",
    "|1\r\n+popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.01\r\n*2\r\n:20\r\n:95\r\n",
    "*2\r\n|1\r\n+ttl\r\n:3600\r\n+v\r\n:7\r\n",
    "%1\r\n*1\r\n~1\r\n%0\r\n>1\r\n_\r\n",
};

static const char *const valid_requests[] = {
    "*1\r\n$4\r\nPING\r\n",
    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
    "*2\r\n$3\r\nGET\r\n$0\r\n\r\n",
    "*0\r\n",
    "*-1\r\n",
    "PING\r\n",
    "PING\n",
    "\r\n",
    "\n",
    "SET key \"my value with spaces\"\r\n",
    "SET k 'it\\'s'\n",
    "SET k \"\\x41\\n\\\"q\\\"\"\r\n",
};

/* ---------------------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------------------- */

/* The request encoder against snprintf: argument lengths on every side of a change in their
 * number of digits (the header's fast paths and its loop), with and without a key prefix;
 * resp_request_len() is the length written, and resp_ndigits() counts what "%zu" prints. */
START_TEST(test_resp_request_encoder)
{
    static const size_t lens[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000, 123457};
    const size_t nl = sizeof lens / sizeof *lens;
    char *val = malloc(123457 + 16);
    ck_assert_ptr_nonnull(val);
    memset(val, 'v', 123457 + 16);
    for (size_t i = 0; i < nl; i++) {
        char d[32];
        ck_assert_uint_eq(resp_ndigits(lens[i]), (size_t)snprintf(d, sizeof d, "%zu", lens[i]));
    }
    for (size_t pre = 0; pre < 2; pre++) {
        const char *prefix = pre ? "pfx:" : NULL;
        size_t plen = pre ? 4 : 0;
        for (size_t i = 0; i < nl; i++) {
            /* SET <key of lens[i] bytes> <value of lens[nl-1-i] bytes>, the key prefixed */
            const char *argv[3] = {"SET", val, val};
            size_t len[3] = {3, lens[i], lens[nl - 1 - i]};
            uint8_t iskey[3] = {0, 1, 0};
            size_t want_len = resp_request_len(3, len, iskey, plen);
            char *buf = malloc(want_len + 1), *ref = malloc(want_len + 64);
            ck_assert(buf && ref);
            size_t n = resp_request_write(buf, 3, argv, len, iskey, prefix, plen);
            ck_assert_uint_eq(n, want_len);
            int r = snprintf(ref, want_len + 64, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s%.*s\r\n$%zu\r\n%.*s\r\n",
                             len[1] + plen, pre ? prefix : "", (int)len[1], val, len[2],
                             (int)len[2], val);
            ck_assert_int_eq(r, (int)want_len);
            ck_assert(memcmp(buf, ref, n) == 0);
            free(buf);
            free(ref);
        }
    }
    free(val);
}
END_TEST

START_TEST(test_resp_reply_simple_string_and_error)
{
    struct resp_reply r;
    ck_assert_int_eq(reply(S("+OK\r\n"), &r, NULL), 5);
    ck_assert_uint_eq(r.type, TRACE_R_SIMPLE);
    ck_assert_uint_eq(r.len, 5);
    ck_assert_uint_eq(r.size, 2);
    ck_assert_uint_eq(r.str_len, 2);
    ck_assert_int_eq(memcmp(r.str, "OK", 2), 0);
    ck_assert_ptr_null(r.err);
    ck_assert_uint_eq(r.flags, 0);

    static const char e[] = "-WRONGTYPE Operation against a key\r\n";
    ck_assert_int_eq(reply(S(e), &r, NULL), (int)sizeof e - 1);
    ck_assert_uint_eq(r.type, TRACE_R_ERROR);
    ck_assert_uint_eq(r.errlen, sizeof e - 4);
    ck_assert_int_eq(memcmp(r.err, "WRONGTYPE Operation against a key", r.errlen), 0);
    ck_assert_uint_eq(r.size, sizeof e - 4);
}
END_TEST

START_TEST(test_resp_reply_integer)
{
    struct resp_reply r;
    ck_assert_int_eq(reply(S(":1000\r\n"), &r, NULL), 7);
    ck_assert_uint_eq(r.type, TRACE_R_INTEGER);
    ck_assert_int_eq(r.ival, 1000);
    ck_assert_uint_eq(r.size, 0);
    ck_assert_int_eq(reply(S(":-9223372036854775808\r\n"), &r, NULL), 23);
    ck_assert(r.ival == INT64_MIN);
    ck_assert_int_eq(reply(S(":9223372036854775807\r\n"), &r, NULL), 22);
    ck_assert(r.ival == INT64_MAX);
    ck_assert_int_eq(reply(S(":0\r\n"), &r, NULL), 4);
    ck_assert_int_eq(r.ival, 0);
    /* what redis' string2ll() refuses */
    static const char *const bad[] = {":9223372036854775808\r\n",
                                      ":-9223372036854775809\r\n",
                                      ":+5\r\n",
                                      ":-0\r\n",
                                      ":007\r\n",
                                      ":\r\n",
                                      ":-\r\n",
                                      ":1 2\r\n",
                                      ":1.5\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(reply((const uint8_t *)bad[i], strlen(bad[i]), &r, NULL) == -1, "accepted %s",
                      bad[i]);
        ck_assert_int_eq(r.fail, RESP_FAIL_SYNTAX);
    }
}
END_TEST

START_TEST(test_resp_reply_bulk_string)
{
    static const char m[] = "$12\r\nhello\r\nworld\r\n";
    struct resp_reply r;
    ck_assert_int_eq(reply(S(m), &r, NULL), (int)sizeof m - 1);
    ck_assert_uint_eq(r.type, TRACE_R_BULK);
    ck_assert_uint_eq(r.size, 12);
    ck_assert_ptr_eq(r.str, (const uint8_t *)m + 5);
    ck_assert_uint_eq(r.str_len, 12);
    ck_assert_int_eq(reply(S("$0\r\n\r\n"), &r, NULL), 6);
    ck_assert_uint_eq(r.type, TRACE_R_BULK);
    ck_assert_uint_eq(r.size, 0);
    ck_assert_uint_eq(r.flags, 0);
}
END_TEST

START_TEST(test_resp_reply_resp2_nulls)
{
    struct resp_reply r;
    ck_assert_int_eq(reply(S("$-1\r\n"), &r, NULL), 5);
    ck_assert_uint_eq(r.type, TRACE_R_NULL);
    ck_assert_uint_eq(r.flags, TRACE_REPLY_NULL_BULK);
    ck_assert_ptr_null(r.str);
    ck_assert_int_eq(reply(S("*-1\r\n"), &r, NULL), 5);
    ck_assert_uint_eq(r.type, TRACE_R_NULL);
    ck_assert_uint_eq(r.flags, TRACE_REPLY_NULL_ARRAY);
    ck_assert_uint_eq(r.count, 0);
    ck_assert_int_eq(reply(S("_\r\n"), &r, NULL), 3);
    ck_assert_uint_eq(r.type, TRACE_R_NULL);
    ck_assert_uint_eq(r.flags, 0);
    /* nested nulls are elements; only the top level sets flags */
    ck_assert_int_eq(reply(S("*3\r\n$-1\r\n*-1\r\n_\r\n"), &r, NULL), 17);
    ck_assert_uint_eq(r.type, TRACE_R_ARRAY);
    ck_assert_uint_eq(r.count, 3);
    ck_assert_uint_eq(r.flags, 0);
    ck_assert_ptr_null(r.first);
    /* -1 is a null only for $ and * (RESP3 has _ for the others) */
    static const char *const bad[] = {"%-1\r\n", "~-1\r\n", ">-1\r\n",
                                      "!-1\r\n", "=-1\r\n", "|-1\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(reply((const uint8_t *)bad[i], strlen(bad[i]), &r, NULL) == -1, "accepted %s",
                      bad[i]);
}
END_TEST

START_TEST(test_resp_reply_array_and_nested)
{
    static const char m[] = "*3\r\n:1\r\n*2\r\n+a\r\n*1\r\n$1\r\nx\r\n%1\r\n+k\r\n~0\r\n";
    struct resp_reply r;
    ck_assert_int_eq(reply(S(m), &r, NULL), (int)sizeof m - 1);
    ck_assert_uint_eq(r.type, TRACE_R_ARRAY);
    ck_assert_uint_eq(r.count, 3);
    ck_assert_uint_eq(r.size, 0);
    ck_assert_ptr_null(r.first); /* the first element is an integer */
    ck_assert_int_eq(reply(S("*0\r\n"), &r, NULL), 4);
    ck_assert_uint_eq(r.type, TRACE_R_ARRAY);
    ck_assert_uint_eq(r.count, 0);
    /* a RESP2 array whose first element is a bulk string: its span is given */
    static const char sub[] = "*3\r\n$9\r\nsubscribe\r\n$3\r\nFoo\r\n:1\r\n";
    ck_assert_int_eq(reply(S(sub), &r, NULL), (int)sizeof sub - 1);
    ck_assert_uint_eq(r.first_len, 9);
    ck_assert_ptr_eq(r.first, (const uint8_t *)sub + 8);
    ck_assert_int_eq(reply(S("*2\r\n+pong\r\n$0\r\n\r\n"), &r, NULL), 17);
    ck_assert_uint_eq(r.first_len, 4);
    ck_assert_int_eq(memcmp(r.first, "pong", 4), 0);
}
END_TEST

START_TEST(test_resp_reply_map_set_push)
{
    struct resp_reply r;
    static const char map[] = "%2\r\n+first\r\n:1\r\n+second\r\n*2\r\n:2\r\n:3\r\n";
    ck_assert_int_eq(reply(S(map), &r, NULL), (int)sizeof map - 1);
    ck_assert_uint_eq(r.type, TRACE_R_MAP);
    ck_assert_uint_eq(r.count, 2);
    ck_assert_ptr_null(r.first); /* first is only for arrays and pushes */
    static const char set[] = "~3\r\n+a\r\n:1\r\n#f\r\n";
    ck_assert_int_eq(reply(S(set), &r, NULL), (int)sizeof set - 1);
    ck_assert_uint_eq(r.type, TRACE_R_SET);
    ck_assert_uint_eq(r.count, 3);
    static const char push[] = ">3\r\n$7\r\nmessage\r\n$3\r\nFoo\r\n$11\r\nHi there :)\r\n";
    ck_assert_int_eq(reply(S(push), &r, NULL), (int)sizeof push - 1);
    ck_assert_uint_eq(r.type, TRACE_R_PUSH);
    ck_assert_uint_eq(r.count, 3);
    ck_assert_uint_eq(r.first_len, 7);
    ck_assert_int_eq(memcmp(r.first, "message", 7), 0);
    static const char inval[] = ">2\r\n+invalidate\r\n*1\r\n$3\r\nkey\r\n";
    ck_assert_int_eq(reply(S(inval), &r, NULL), (int)sizeof inval - 1);
    ck_assert_uint_eq(r.type, TRACE_R_PUSH);
    ck_assert_uint_eq(r.first_len, 10);
    /* a map inside a map inside a set */
    static const char deep[] = "~1\r\n%1\r\n%1\r\n:1\r\n:2\r\n*0\r\n";
    ck_assert_int_eq(reply(S(deep), &r, NULL), (int)sizeof deep - 1);
    ck_assert_uint_eq(r.count, 1);
}
END_TEST

START_TEST(test_resp_reply_resp3_scalars)
{
    struct resp_reply r;
    ck_assert_int_eq(reply(S("#t\r\n"), &r, NULL), 4);
    ck_assert_uint_eq(r.type, TRACE_R_BOOLEAN);
    ck_assert_int_eq(r.ival, 1);
    ck_assert_int_eq(reply(S("#f\r\n"), &r, NULL), 4);
    ck_assert_int_eq(r.ival, 0);
    static const char big[] = "(-3492890328409238509324850943850943825024385\r\n";
    ck_assert_int_eq(reply(S(big), &r, NULL), (int)sizeof big - 1);
    ck_assert_uint_eq(r.type, TRACE_R_BIGNUM);
    ck_assert_uint_eq(r.size, sizeof big - 4);
    static const char *const doubles[] = {",1.23\r\n", ",inf\r\n", ",-inf\r\n",  ",nan\r\n",
                                          ",INF\r\n",  ",10\r\n",  ",-0\r\n",    ",1e+300\r\n",
                                          ",.5\r\n",   ",5.\r\n",  ",1.5E-7\r\n"};
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
        int n = (int)strlen(doubles[i]);
        ck_assert_msg(reply((const uint8_t *)doubles[i], (size_t)n, &r, NULL) == n, "refused %s",
                      doubles[i]);
        ck_assert_uint_eq(r.type, TRACE_R_DOUBLE);
        ck_assert_uint_eq(r.size, (size_t)n - 3);
    }
    static const char verb[] = "=15\r\ntxt:Some string\r\n";
    ck_assert_int_eq(reply(S(verb), &r, NULL), (int)sizeof verb - 1);
    ck_assert_uint_eq(r.type, TRACE_R_VERBATIM);
    ck_assert_uint_eq(r.size, 15);
    ck_assert_int_eq(memcmp(r.str, "txt:Some string", 15), 0);
    static const char berr[] = "!21\r\nSYNTAX invalid syntax\r\n";
    ck_assert_int_eq(reply(S(berr), &r, NULL), (int)sizeof berr - 1);
    ck_assert_uint_eq(r.type, TRACE_R_BLOB_ERROR);
    ck_assert_uint_eq(r.errlen, 21);
    ck_assert_int_eq(memcmp(r.err, "SYNTAX invalid syntax", 21), 0);
    ck_assert_uint_eq(r.size, 21);
    static const char *const bad[] = {",\r\n",
                                      ",1.2.3\r\n",
                                      ",e5\r\n",
                                      ",inf1\r\n",
                                      ",1e\r\n",
                                      ",--1\r\n",
                                      ",.\r\n",
                                      "(\r\n",
                                      "(-\r\n",
                                      "(12a\r\n",
                                      "#x\r\n",
                                      "#t\r\r\n",
                                      "#tt\r\n",
                                      "_x\r\n",
                                      "_\n",
                                      "=3\r\nabc\r\n",
                                      "=8\r\ntxt_abcd\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(reply((const uint8_t *)bad[i], strlen(bad[i]), &r, NULL) == -1, "accepted %s",
                      bad[i]);
}
END_TEST

START_TEST(test_resp_reply_attribute)
{
    /* the example of the RESP3 specification */
    static const char m[] = "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0."
                            "0012\r\n*2\r\n:2039123\r\n:9543892\r\n";
    static const char reply_part[] = "*2\r\n:2039123\r\n:9543892\r\n";
    struct resp_reply r;
    ck_assert_int_eq(reply(S(m), &r, NULL), (int)sizeof m - 1);
    ck_assert_uint_eq(r.type, TRACE_R_ARRAY);
    ck_assert_uint_eq(r.count, 2);
    ck_assert_uint_eq(r.flags, TRACE_REPLY_ATTRIBUTED);
    ck_assert_uint_eq(r.attr_len, sizeof m - sizeof reply_part);
    /* an attribute inside an array is not one of its elements */
    static const char in[] = "*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:7\r\n";
    ck_assert_int_eq(reply(S(in), &r, NULL), (int)sizeof in - 1);
    ck_assert_uint_eq(r.count, 2);
    ck_assert_uint_eq(r.flags, 0);
    ck_assert_uint_eq(r.first_len, 1); /* the element after the attribute */
    ck_assert_int_eq(memcmp(r.first, "v", 1), 0);
    /* an empty attribute, and two in a row */
    ck_assert_int_eq(reply(S("|0\r\n+OK\r\n"), &r, NULL), 9);
    ck_assert_uint_eq(r.type, TRACE_R_SIMPLE);
    ck_assert_uint_eq(r.flags, TRACE_REPLY_ATTRIBUTED);
    ck_assert_uint_eq(r.attr_len, 4);
    ck_assert_int_eq(reply(S("|1\r\n+a\r\n+b\r\n|0\r\n:5\r\n"), &r, NULL), 20);
    ck_assert_uint_eq(r.type, TRACE_R_INTEGER);
    ck_assert_int_eq(r.ival, 5);
    ck_assert_uint_eq(r.attr_len, 16);
    /* an attribute with no reply after it is not a whole message */
    size_t need = 0;
    ck_assert_int_eq(reply(S("|1\r\n+a\r\n+b\r\n"), &r, &need), -2);
    ck_assert_uint_ge(need, 15);
}
END_TEST

START_TEST(test_resp_reply_invalid)
{
    static const struct {
        const char *in;
        size_t len;
    } bad[] = {
#define B(lit) {lit, sizeof(lit) - 1}
        B("@foo\r\n"),  /* not a type byte */
        B("hello\r\n"), /* text from something that is not a RESP server */
        B("$-2\r\n"),   /* negative lengths other than -1 */
        B("*-2\r\n"),
        B("$-10\r\nabc\r\n"),
        B("$3\r\nabcd\r\n"), /* no CRLF after the data */
        B("$3\r\nab\r\n"),
        B("+OK\n"),      /* LF without CR */
        B("+OK\rX\r\n"), /* CR without LF */
        B("-ERR\ra\n"),
        B(":123456789012345678901\r\n"), /* longer than 20 */
        B("$00000000000000000000001\r\n"),
        B("$01\r\nx\r\n"),               /* a leading zero */
        B("$?\r\n;4\r\nabcd\r\n;0\r\n"), /* RESP3 streamed string */
        B("*?\r\n:1\r\n.\r\n"),
        B(";4\r\nabcd\r\n"),
        B("*1\r\n@\r\n"), /* a bad element */
        B("*2\r\n:1\r\n:x\r\n"),
        B("$1\r\nab"), /* bad even though incomplete */
        B("$abc"),
        B("*1x"),
        B(":12a"),
        B("\x00\x01\x02"),
#undef B
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct resp_reply r;
        size_t need = 0;
        uint8_t *b = dup_exact((const uint8_t *)bad[i].in, bad[i].len);
        int rc = resp_scan_reply(b, bad[i].len, NULL, &r, &need);
        ck_assert_msg(rc == -1, "case %zu '%.*s': %d, expected -1", i, (int)bad[i].len, bad[i].in,
                      rc);
        ck_assert_int_eq(r.fail, RESP_FAIL_SYNTAX);
        ck_assert_ptr_nonnull(r.fail_what);
        ck_assert_uint_le(r.fail_off, bad[i].len);
        free(b);
    }
}
END_TEST

START_TEST(test_resp_reply_depth_limit)
{
    struct resp_limits lim = resp_limits_default();
    ck_assert_uint_eq(lim.max_depth, 64);
    uint8_t buf[70 * 4 + 8];
    size_t n = 0;
    for (int i = 0; i < 64; i++) {
        memcpy(buf + n, "*1\r\n", 4);
        n += 4;
    }
    memcpy(buf + n, ":1\r\n", 4);
    struct resp_reply r;
    ck_assert_int_eq(resp_scan_reply(buf, n + 4, &lim, &r, NULL), (int)n + 4);
    /* one more level */
    memmove(buf + 4, buf, n + 4);
    ck_assert_int_eq(resp_scan_reply(buf, n + 8, &lim, &r, NULL), -1);
    ck_assert_int_eq(r.fail, RESP_FAIL_LIMIT);
    /* attributes are levels too */
    lim.max_depth = 1;
    ck_assert_int_eq(resp_scan_reply(S("*1\r\n:1\r\n"), &lim, &r, NULL), 8);
    ck_assert_int_eq(resp_scan_reply(S("*1\r\n*0\r\n"), &lim, &r, NULL), -1);
    ck_assert_int_eq(resp_scan_reply(S("*1\r\n|0\r\n:1\r\n"), &lim, &r, NULL), -1);
    /* a depth above RESP_DEPTH_MAX is capped, not trusted */
    lim.max_depth = 1000000;
    size_t big = (RESP_DEPTH_MAX + 1) * 4 + 4;
    uint8_t *deep = malloc(big);
    for (size_t i = 0; i + 4 < big; i += 4)
        memcpy(deep + i, "*1\r\n", 4);
    memcpy(deep + big - 4, ":1\r\n", 4);
    ck_assert_int_eq(resp_scan_reply(deep, big, &lim, &r, NULL), -1);
    ck_assert_int_eq(r.fail, RESP_FAIL_LIMIT);
    ck_assert_int_eq(resp_scan_reply(deep + 4, big - 4, &lim, &r, NULL), (int)big - 4);
    free(deep);
}
END_TEST

START_TEST(test_resp_reply_size_limits)
{
    struct resp_limits lim = resp_limits_default();
    struct resp_reply r;
    size_t need = 0;
    /* 512 MiB is redis' proto-max-bulk-len: one more byte is refused without waiting */
    ck_assert_int_eq(resp_scan_reply(S("$536870912\r\n"), &lim, &r, &need), -2);
    ck_assert_uint_eq(need, 12 + 536870912 + 2);
    ck_assert_int_eq(resp_scan_reply(S("$536870913\r\n"), &lim, &r, &need), -1);
    ck_assert_int_eq(r.fail, RESP_FAIL_LIMIT);
    lim.max_bulk = 3;
    ck_assert_int_eq(resp_scan_reply(S("$3\r\nabc\r\n"), &lim, &r, NULL), 9);
    ck_assert_int_eq(resp_scan_reply(S("$4\r\nabcd\r\n"), &lim, &r, NULL), -1);
    ck_assert_int_eq(resp_scan_reply(S("=8\r\ntxt:abcd\r\n"), &lim, &r, NULL), -1);
    ck_assert_int_eq(r.fail, RESP_FAIL_LIMIT);
    lim = resp_limits_default();
    lim.max_elems = 2;
    ck_assert_int_eq(resp_scan_reply(S("*2\r\n:1\r\n:2\r\n"), &lim, &r, NULL), 12);
    ck_assert_int_eq(resp_scan_reply(S("*3\r\n"), &lim, &r, NULL), -1);
    ck_assert_int_eq(resp_scan_reply(S("%3\r\n"), &lim, &r, NULL), -1);
    ck_assert_int_eq(resp_scan_reply(S("%2\r\n"), &lim, &r, &need), -2); /* 2 pairs is fine */
    ck_assert_int_eq(r.fail, 0);
    lim = resp_limits_default();
    lim.max_inline = 4;
    ck_assert_int_eq(resp_scan_reply(S("+abcd\r\n"), &lim, &r, NULL), 7);
    ck_assert_int_eq(resp_scan_reply(S("+abcde"), &lim, &r, NULL), -1);
    ck_assert_int_eq(r.fail, RESP_FAIL_LIMIT);
    ck_assert_int_eq(resp_scan_reply(S("-abcde\r\n"), &lim, &r, NULL), -1);
    /* a count whose smallest encoding exceeds RESP_MSG_MAX is refused at once */
    lim = resp_limits_default();
    lim.max_elems = UINT64_MAX;
    ck_assert_int_eq(resp_scan_reply(S("*1000000000\r\n"), &lim, &r, &need), -1);
    ck_assert_int_eq(r.fail, RESP_FAIL_LIMIT);
    ck_assert_int_eq(resp_scan_reply(S("*9223372036854775807\r\n"), &lim, &r, &need), -1);
    ck_assert_int_eq(resp_scan_reply(S("*100000000\r\n"), &lim, &r, &need), -2);
    ck_assert_uint_eq(need, 12 + 3 * 100000000ull);
    lim.max_bulk = UINT64_MAX;
    ck_assert_int_eq(resp_scan_reply(S("$2147483646\r\n"), &lim, &r, &need), -1);
    ck_assert_int_eq(r.fail, RESP_FAIL_LIMIT);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------- */

START_TEST(test_resp_request_array)
{
    static const char m[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n";
    struct resp_request q;
    struct req_room room;
    ck_assert_int_eq(request(S(m), &q, &room, NULL), (int)sizeof m - 1);
    ck_assert_uint_eq(q.argc, 3);
    ck_assert_uint_eq(q.total, 3);
    ck_assert_uint_eq(q.flags, 0);
    ck_assert_uint_eq(q.len, sizeof m - 1);
    ARG(&q, 0, "SET");
    ARG(&q, 1, "key");
    ARG(&q, 2, "va\r\nl");
    /* zero-copy: the arguments are in the buffer */
    for (size_t i = 0; i < 3; i++)
        ck_assert(span_inside(q.argv[i], q.argvlen[i], (const uint8_t *)m, sizeof m - 1));
    ck_assert_int_eq(request(S("*2\r\n$3\r\nGET\r\n$0\r\n\r\n"), &q, &room, NULL), 19);
    ARG(&q, 1, "");
}
END_TEST

START_TEST(test_resp_request_empty)
{
    struct resp_request q;
    struct req_room room;
    static const struct {
        const char *in;
        int len;
    } empty[] = {{"\r\n", 2},   {"\n", 1},      {"   \t \r\n", 7},
                 {"*0\r\n", 4}, {"*-1\r\n", 5}, {"*-7\r\n", 5}};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        ck_assert_int_eq(
            request((const uint8_t *)empty[i].in, strlen(empty[i].in), &q, &room, NULL),
            empty[i].len);
        ck_assert_uint_eq(q.argc, 0);
        ck_assert_uint_eq(q.total, 0);
    }
}
END_TEST

START_TEST(test_resp_request_inline_quoting)
{
    static const struct {
        const char *line;
        int nargs;
        const char *args[4];
        size_t lens[4];
    } cases[] = {
        {"SET key \"my value\"\r\n", 3, {"SET", "key", "my value"}, {3, 3, 8}},
        {"SET k 'it\\'s'\r\n", 3, {"SET", "k", "it's"}, {3, 1, 4}},
        {"ECHO \"\\x41\\x6a\\n\\r\\t\\b\\a\\\\\\\"\\z\"\n",
         2,
         {"ECHO", "Aj\n\r\t\b\a\\\"z"},
         {4, 10}},
        {"ECHO 'a\\nb\\\\c'\n", 2, {"ECHO", "a\\nb\\\\c"}, {4, 7}},
        {"ECHO \"\\x4\" \"\\xZZ\"\n", 3, {"ECHO", "x4", "xZZ"}, {4, 2, 3}},
        {"a\"b c\" d\n", 2, {"ab c", "d"}, {4, 1}},
        {"x'y z'\n", 1, {"xy z"}, {4}},
        {"ECHO \"\" ''\n", 3, {"ECHO", "", ""}, {4, 0, 0}},
        {"  PING  \r\n", 1, {"PING"}, {4}},
        {"a\tb\rc\r\n", 3, {"a", "b", "c"}, {1, 1, 1}},
        {"a\vb\fc\n", 1, {"a\vb\fc"}, {5}},      /* \v and \f do not end an argument... */
        {"\v\fa \v b\n", 2, {"a", "b"}, {1, 1}}, /* ...but are skipped between them */
        {"\"a\"\v'b'\fc\n", 3, {"a", "b", "c"}, {1, 1, 1}},
        {"GET k\r\r\n", 2, {"GET", "k"}, {3, 1}},
        {"\"\\\\\"\n", 1, {"\\"}, {1}},
        {"'\\'' 'a\\\\x'\n", 2, {"'", "a\\\\x"}, {1, 4}},
        {"\"\\x00a\"\n", 1, {"\0a"}, {2}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct resp_request q;
        struct req_room room;
        size_t n = strlen(cases[i].line);
        uint8_t *b = dup_exact((const uint8_t *)cases[i].line, n);
        ck_assert_msg(request(b, n, &q, &room, NULL) == (int)n, "case %zu: rc", i);
        ck_assert_uint_eq(q.flags, TRACE_REQ_INLINE);
        ck_assert_msg(q.total == (size_t)cases[i].nargs, "case %zu: %zu args", i, q.total);
        for (int a = 0; a < cases[i].nargs; a++)
            assert_arg(&q, (size_t)a, cases[i].args[a], cases[i].lens[a]);
        free(b);
    }
}
END_TEST

START_TEST(test_resp_request_inline_zero_copy)
{
    /* plain and escape-free quoted arguments stay in the buffer; unquoted ones that are not
     * one run of it go to the scratch */
    static const char m[] = "SET \"my key\" \"a\\tb\" 'c' d\"e\"\r\n";
    struct resp_request q;
    struct req_room room;
    ck_assert_int_eq(request(S(m), &q, &room, NULL), (int)sizeof m - 1);
    ck_assert_uint_eq(q.argc, 5);
    ARG(&q, 0, "SET");
    ARG(&q, 1, "my key");
    ARG(&q, 2, "a\tb");
    ARG(&q, 3, "c");
    ARG(&q, 4, "de");
    const uint8_t *b = (const uint8_t *)m;
    ck_assert_ptr_eq(q.argv[0], (const char *)b);
    ck_assert_ptr_eq(q.argv[1], (const char *)b + 5);
    ck_assert_ptr_eq(q.argv[3], (const char *)b + 21);
    ck_assert(span_inside(q.argv[2], q.argvlen[2], (uint8_t *)room.scratch, sizeof room.scratch));
    ck_assert(span_inside(q.argv[4], q.argvlen[4], (uint8_t *)room.scratch, sizeof room.scratch));
    /* without a scratch, what needs none still scans */
    q.scratch = NULL;
    q.scratch_cap = 0;
    ck_assert_int_eq(resp_scan_request(S("GET \"k k\"\n"), NULL, &q, NULL), 10);
    ARG(&q, 1, "k k");
    ck_assert_int_eq(resp_scan_request(S("GET \"k\\nk\"\n"), NULL, &q, NULL), -1);
    ck_assert_int_eq(q.fail, RESP_FAIL_SCRATCH);
    /* a scratch one byte short */
    char small[4];
    q.scratch = small;
    q.scratch_cap = sizeof small;
    ck_assert_int_eq(resp_scan_request(S("GET \"a\\nbc\"\n"), NULL, &q, NULL), 12);
    ARG(&q, 1, "a\nbc");
    ck_assert_int_eq(resp_scan_request(S("GET \"a\\nbcd\"\n"), NULL, &q, NULL), -1);
    ck_assert_int_eq(q.fail, RESP_FAIL_SCRATCH);
    ck_assert_int_eq(resp_scan_request(S("GET \"ab\" \"c\\nd\"\n"), NULL, &q, NULL), 16);
    ck_assert_int_eq(resp_scan_request(S("GET \"a\\nb\" \"c\\nd\"\n"), NULL, &q, NULL), -1);
}
END_TEST

START_TEST(test_resp_request_inline_invalid)
{
    static const char *const bad[] = {
        "SET k \"unclosed double quotes\r\n",
        "SET k 'unclosed single quotes\r\n",
        "SET k \"a\"b\r\n", /* a closing quote must be followed by a blank */
        "SET k 'a'b\r\n",
        "SET k \"a\\\"\r\n", /* the quote is escaped: unbalanced */
        "SET k 'a\\'\n",
        "SET k \"a\\\r\n", /* a backslash at the end of the line */
        "GET a\0b\r\n",    /* redis never sees this line's end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct resp_request q;
        struct req_room room;
        size_t n = i == 7 ? 9 : strlen(bad[i]);
        ck_assert_msg(request((const uint8_t *)bad[i], n, &q, &room, NULL) == -1, "accepted %s",
                      bad[i]);
        ck_assert_int_eq(q.fail, RESP_FAIL_SYNTAX);
    }
    /* too long, with and without its end */
    struct resp_limits lim = resp_limits_default();
    lim.max_inline = 8;
    struct resp_request q;
    struct req_room room;
    req_init(&q, &room, 16);
    size_t need = 0;
    ck_assert_int_eq(resp_scan_request(S("12345678\r\n"), &lim, &q, NULL), 10);
    ck_assert_int_eq(resp_scan_request(S("12345678\n"), &lim, &q, NULL), 9);
    ck_assert_int_eq(resp_scan_request(S("123456789\r\n"), &lim, &q, NULL), -1);
    ck_assert_int_eq(q.fail, RESP_FAIL_LIMIT);
    ck_assert_int_eq(resp_scan_request(S("12345678\r"), &lim, &q, &need), -2);
    ck_assert_int_eq(resp_scan_request(S("12345678xx"), &lim, &q, &need), -1);
    ck_assert_int_eq(q.fail, RESP_FAIL_LIMIT);
    lim.max_args = 2;
    ck_assert_int_eq(resp_scan_request(S("a b\n"), &lim, &q, NULL), 4);
    ck_assert_int_eq(resp_scan_request(S("a b c\n"), &lim, &q, NULL), -1);
    ck_assert_int_eq(q.fail, RESP_FAIL_LIMIT);
}
END_TEST

START_TEST(test_resp_request_invalid)
{
    static const struct {
        const char *in;
        size_t len;
    } bad[] = {
#define B(lit) {lit, sizeof(lit) - 1}
        B("*1\r\n:1\r\n"),  /* redis: "expected '$', got ':'" */
        B("*1\r\n$-1\r\n"), /* no null arguments */
        B("*1\r\n$-2\r\n"),
        B("*1\r\n$3\r\nabcd\r\n"), /* no CRLF after the data */
        B("*1\r\n$3\r\nabc\n\n"),
        B("*x\r\n"),
        B("*1\r\n$3x\r\n"),
        B("*1\r\n$3\r\r\nabc\r\n"),
        B("*1\n$3\r\nabc\r\n"),
        B("*01\r\n$3\r\nabc\r\n"),
        B("*123456789012345678901\r\n"),
        B("*2\r\n$1\r\na\r\n$"), /* bad before its end */
        B("*2\r\n$1\r\na\r\n$1x"),
#undef B
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct resp_request q;
        struct req_room room;
        uint8_t *b = dup_exact((const uint8_t *)bad[i].in, bad[i].len);
        int rc = request(b, bad[i].len, &q, &room, NULL);
        if (i == 11) /* "$" alone is only incomplete */
            ck_assert_int_eq(rc, -2);
        else
            ck_assert_msg(rc == -1 && q.fail == RESP_FAIL_SYNTAX, "case %zu '%.*s': %d", i,
                          (int)bad[i].len, bad[i].in, rc);
        free(b);
    }
}
END_TEST

START_TEST(test_resp_request_limits_and_argv_cap)
{
    static const char m[] = "*5\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n";
    struct resp_request q;
    struct req_room room;
    req_init(&q, &room, 2);
    ck_assert_int_eq(resp_scan_request(S(m), NULL, &q, NULL), (int)sizeof m - 1);
    ck_assert_uint_eq(q.argc, 2);
    ck_assert_uint_eq(q.total, 5);
    ARG(&q, 1, "a");
    req_init(&q, &room, 2);
    ck_assert_int_eq(resp_scan_request(S("MGET \"a\\n\" b \"c\\n\" d\r\n"), NULL, &q, NULL), 22);
    ck_assert_uint_eq(q.argc, 2);
    ck_assert_uint_eq(q.total, 5);
    ARG(&q, 1, "a\n");
    /* counting only */
    req_init(&q, &room, 0);
    q.argv = NULL;
    ck_assert_int_eq(resp_scan_request(S(m), NULL, &q, NULL), (int)sizeof m - 1);
    ck_assert_uint_eq(q.argc, 0);
    ck_assert_uint_eq(q.total, 5);

    struct resp_limits lim = resp_limits_default();
    lim.max_args = 4;
    req_init(&q, &room, 16);
    ck_assert_int_eq(resp_scan_request(S(m), &lim, &q, NULL), -1);
    ck_assert_int_eq(q.fail, RESP_FAIL_LIMIT);
    lim.max_args = 5;
    lim.max_bulk = 3;
    ck_assert_int_eq(resp_scan_request(S(m), &lim, &q, NULL), -1);
    ck_assert_int_eq(q.fail, RESP_FAIL_LIMIT);
    ck_assert_uint_eq(q.fail_off, 5);
    /* 512 MiB arguments wait; bigger ones are refused */
    size_t need = 0;
    ck_assert_int_eq(request(S("*1\r\n$536870912\r\n"), &q, &room, &need), -2);
    ck_assert_uint_eq(need, 16 + 536870912 + 2);
    ck_assert_int_eq(request(S("*1\r\n$536870913\r\n"), &q, &room, &need), -1);
    ck_assert_int_eq(request(S("*2147483647\r\n"), &q, &room, &need), -1);
    ck_assert_int_eq(q.fail, RESP_FAIL_LIMIT);
    ck_assert_int_eq(request(S("*1000\r\n"), &q, &room, &need), -2);
    ck_assert_uint_eq(need, 7 + 6 * 1000);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * Every prefix, every split, pipelines, the guard page
 * ------------------------------------------------------------------------------------- */

START_TEST(test_resp_every_prefix_needs_more)
{
    for (size_t i = 0; i < sizeof valid_replies / sizeof valid_replies[0]; i++) {
        const uint8_t *m = (const uint8_t *)valid_replies[i];
        size_t n = strlen(valid_replies[i]);
        struct resp_reply r;
        ck_assert_msg(reply(m, n, &r, NULL) == (int)n, "reply %zu refused", i);
        check_prefixes(m, n, 1);
    }
    for (size_t i = 0; i < sizeof valid_requests / sizeof valid_requests[0]; i++) {
        const uint8_t *m = (const uint8_t *)valid_requests[i];
        size_t n = strlen(valid_requests[i]);
        struct resp_request q;
        struct req_room room;
        ck_assert_msg(request(m, n, &q, &room, NULL) == (int)n, "request %zu refused", i);
        check_prefixes(m, n, 0);
    }
}
END_TEST

/* A consumer as the recorder will be: appends what arrives, scans only once `need` bytes are
 * there, and drops what each message took. Writes one line per message into `log`. */
struct consumer {
    uint8_t buf[4096];
    size_t len;
    size_t need;
    int is_reply;
    unsigned scans;
    char log[4096];
    size_t loglen;
};

static void consumer_feed(struct consumer *c, const uint8_t *p, size_t n)
{
    ck_assert_uint_le(c->len + n, sizeof c->buf);
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    while (c->len > 0 && c->len >= c->need) {
        uint8_t *b = dup_exact(c->buf, c->len);
        size_t need = 0;
        int rc;
        char line[256];
        c->scans++;
        if (c->is_reply) {
            struct resp_reply r;
            rc = resp_scan_reply(b, c->len, NULL, &r, &need);
            if (rc > 0) {
                const uint8_t *t = r.first ? r.first : r.str;
                size_t tl = r.first ? r.first_len : r.str_len;
                snprintf(line, sizeof line, "%c%llu:%.*s|", r.type, (unsigned long long)r.count,
                         (int)tl, t ? (const char *)t : "");
            }
        } else {
            struct resp_request q;
            struct req_room room;
            rc = request(b, c->len, &q, &room, &need);
            if (rc > 0) {
                int k = snprintf(line, sizeof line, "%zu", q.total);
                for (size_t i = 0; i < q.argc; i++)
                    k += snprintf(line + k, sizeof line - (size_t)k, " %.*s", (int)q.argvlen[i],
                                  q.argv[i]);
                snprintf(line + k, sizeof line - (size_t)k, "|");
            }
        }
        free(b);
        ck_assert_msg(rc != -1, "invalid at a message start");
        if (rc == -2) {
            ck_assert_uint_gt(need, c->len);
            c->need = need;
            return;
        }
        size_t ll = strlen(line);
        ck_assert_uint_lt(c->loglen + ll, sizeof c->log);
        memcpy(c->log + c->loglen, line, ll + 1);
        c->loglen += ll;
        memmove(c->buf, c->buf + rc, c->len - (size_t)rc);
        c->len -= (size_t)rc;
        c->need = 0;
    }
}

static const char pipeline_requests[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"
                                        "PING\r\n"
                                        "SET k2 \"a b\" 'c d'\n"
                                        "\r\n"
                                        "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                                        "*0\r\n"
                                        "ECHO \"\\x41\"\r\n";
static const char pipeline_requests_log[] =
    "3 SET k hello|1 PING|4 SET k2 a b c d|0|2 GET k|0|2 ECHO A|";

static const char pipeline_replies[] = "+OK\r\n"
                                       "+PONG\r\n"
                                       "-ERR wrong\r\n"
                                       "$5\r\nhello\r\n"
                                       ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n"
                                       "*2\r\n:1\r\n:2\r\n"
                                       "|1\r\n+a\r\n+b\r\n#t\r\n"
                                       "%1\r\n+k\r\n*1\r\n$-1\r\n";
static const char pipeline_replies_log[] = "+0:OK|+0:PONG|-0:ERR wrong|$0:hello|>3:message|*2:|"
                                           "#0:t|%1:|";

START_TEST(test_resp_pipeline_scanned_repeatedly)
{
    struct consumer *c = calloc(1, sizeof *c);
    consumer_feed(c, S(pipeline_requests));
    ck_assert_str_eq(c->log, pipeline_requests_log);
    ck_assert_uint_eq(c->len, 0);
    memset(c, 0, sizeof *c);
    c->is_reply = 1;
    consumer_feed(c, S(pipeline_replies));
    ck_assert_str_eq(c->log, pipeline_replies_log);
    ck_assert_uint_eq(c->len, 0);
    free(c);
}
END_TEST

START_TEST(test_resp_split_at_every_byte)
{
    struct consumer *c = calloc(1, sizeof *c);
    for (int is_reply = 0; is_reply < 2; is_reply++) {
        const uint8_t *m = (const uint8_t *)(is_reply ? pipeline_replies : pipeline_requests);
        size_t n = strlen((const char *)m);
        const char *want = is_reply ? pipeline_replies_log : pipeline_requests_log;
        /* in two pieces, cut at every byte */
        for (size_t cut = 0; cut <= n; cut++) {
            memset(c, 0, sizeof *c);
            c->is_reply = is_reply;
            consumer_feed(c, m, cut);
            consumer_feed(c, m + cut, n - cut);
            ck_assert_msg(strcmp(c->log, want) == 0, "cut at %zu: %s", cut, c->log);
            ck_assert_uint_eq(c->len, 0);
        }
        /* one byte at a time: `need` spares most of the scans */
        memset(c, 0, sizeof *c);
        c->is_reply = is_reply;
        for (size_t i = 0; i < n; i++)
            consumer_feed(c, m + i, 1);
        ck_assert_str_eq(c->log, want);
        ck_assert_uint_lt(c->scans, n);
    }
    free(c);
}
END_TEST

START_TEST(test_resp_need_spares_rescans_of_a_big_bulk)
{
    /* a 1 MB bulk string arriving in 1448-byte segments is scanned twice, not 700 times */
    size_t blen = 1000000;
    size_t n = 0;
    uint8_t *m = malloc(blen + 32);
    n += (size_t)sprintf((char *)m, "$%zu\r\n", blen);
    memset(m + n, 'x', blen);
    n += blen;
    memcpy(m + n, "\r\n", 2);
    n += 2;
    size_t have = 0, need = 0;
    unsigned scans = 0;
    int rc = -2;
    while (have < n) {
        have += n - have < 1448 ? n - have : 1448;
        if (have < need)
            continue;
        struct resp_reply r;
        scans++;
        rc = resp_scan_reply(m, have, NULL, &r, &need);
        if (rc == -2)
            ck_assert_uint_eq(need, n);
    }
    ck_assert_int_eq(rc, (int)n);
    ck_assert_uint_eq(scans, 2);
    free(m);
}
END_TEST

/* The input placed against a PROT_NONE page: any read past its end faults. */
struct guard {
    uint8_t *base;
    size_t page;
};

static void guard_open(struct guard *g)
{
    g->page = (size_t)sysconf(_SC_PAGESIZE);
    g->base = mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(g->base != MAP_FAILED);
    ck_assert_int_eq(mprotect(g->base + g->page, g->page, PROT_NONE), 0);
}

static const uint8_t *guard_place(struct guard *g, const void *p, size_t n)
{
    ck_assert_uint_le(n, g->page);
    uint8_t *at = g->base + g->page - n;
    memcpy(at, p, n);
    return at;
}

static void guard_scan_all_prefixes(struct guard *g, const uint8_t *m, size_t n)
{
    for (size_t k = 0; k <= n; k++) {
        const uint8_t *b = guard_place(g, m, k);
        struct resp_reply r;
        struct resp_request q;
        struct req_room room;
        size_t need;
        resp_scan_reply(b, k, NULL, &r, &need);
        request(b, k, &q, &room, &need);
        resp_resync(b, k, TRACE_DIR_TO_SERVER);
        resp_resync(b, k, TRACE_DIR_TO_CLIENT);
    }
}

START_TEST(test_resp_guard_page)
{
    struct guard g;
    guard_open(&g);
    for (size_t i = 0; i < sizeof valid_replies / sizeof valid_replies[0]; i++)
        guard_scan_all_prefixes(&g, (const uint8_t *)valid_replies[i], strlen(valid_replies[i]));
    for (size_t i = 0; i < sizeof valid_requests / sizeof valid_requests[0]; i++)
        guard_scan_all_prefixes(&g, (const uint8_t *)valid_requests[i], strlen(valid_requests[i]));
    static const char *const tricky[] = {
        "$3\r\nabc\r", "$3\r\nabc", "#t\r",      "#",   "_\r", ":1\r",   "*1\r\n$",       "\"a\\x4",
        "GET \"a\\",   "'a\\",      "=4\r\ntxt", ",in", "(-",  "|1\r\n", "*2\r\n$3\r\nab"};
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        guard_scan_all_prefixes(&g, (const uint8_t *)tricky[i], strlen(tricky[i]));
    guard_scan_all_prefixes(&g, S(pipeline_requests));
    guard_scan_all_prefixes(&g, S(pipeline_replies));
    munmap(g.base, 2 * g.page);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * Resynchronisation and defaults
 * ------------------------------------------------------------------------------------- */

START_TEST(test_resp_resync)
{
    /* requests: an array of bulk strings at a line start */
    ck_assert_int_eq(resp_resync(S("*1\r\n$4\r\nPING\r\n"), TRACE_DIR_TO_SERVER), 0);
    ck_assert_int_eq(resp_resync(S("lue\r\n*2\r\n$3\r\nGET\r\n"), TRACE_DIR_TO_SERVER), 5);
    ck_assert_int_eq(resp_resync(S("a*2\r\n$3\r\nx\r\n*1\r\n$4\r\nPING\r\n"), TRACE_DIR_TO_SERVER),
                     12);
    ck_assert_int_eq(resp_resync(S("x\r\n*0\r\n*x\r\n*1\r\n:1\r\n"), TRACE_DIR_TO_SERVER), -1);
    ck_assert_int_eq(resp_resync(S("PING\r\nPING\r\n"), TRACE_DIR_TO_SERVER), -1);
    ck_assert_int_eq(resp_resync(S("garbage\n*3\r\n$"), TRACE_DIR_TO_SERVER), 8); /* cut */
    ck_assert_int_eq(resp_resync(S("garbage\n*3"), TRACE_DIR_TO_SERVER), 8);
    /* replies: a type byte with a valid header at a line start */
    ck_assert_int_eq(resp_resync(S("tail of a bulk\r\n+OK\r\n"), TRACE_DIR_TO_CLIENT), 16);
    ck_assert_int_eq(resp_resync(S("# Server\r\nredis_version:7.2\r\n:5\r\n"), TRACE_DIR_TO_CLIENT),
                     29);
    ck_assert_int_eq(resp_resync(S("xx\r\n$-5\r\n*x\r\n$3\r\nab\r\n"), TRACE_DIR_TO_CLIENT), -1);
    ck_assert_int_eq(resp_resync(S("xx\r\n$300\r\nab"), TRACE_DIR_TO_CLIENT), 4); /* cut */
    ck_assert_int_eq(resp_resync(S("xx\r\n"), TRACE_DIR_TO_CLIENT), -1);
    ck_assert_int_eq(resp_resync(NULL, 0, TRACE_DIR_TO_CLIENT), -1);
    ck_assert_int_eq(resp_resync(S("+OK\r\n"), 7), -1);
}
END_TEST

START_TEST(test_resp_limits_default)
{
    struct resp_limits l = resp_limits_default();
    ck_assert_uint_eq(l.max_depth, 64);
    ck_assert_uint_eq(l.max_bulk, 512u << 20);
    ck_assert_uint_eq(l.max_inline, 64u << 10);
    ck_assert_uint_ge(l.max_elems, 1u << 20);
    ck_assert_uint_ge(l.max_args, 1u << 20);
    /* a NULL lim is the defaults */
    struct resp_reply r;
    ck_assert_int_eq(resp_scan_reply(S("$536870913\r\n"), NULL, &r, NULL), -1);
    ck_assert_int_eq(r.fail, RESP_FAIL_LIMIT);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * Real captures (Zeek's test traces): RT_ZEEK_FIXTURES names their directory
 * ------------------------------------------------------------------------------------- */

/* The payload bytes of one TCP connection to port 6379, per direction, in sequence order. */
struct flow {
    uint16_t client_port;
    uint8_t *data[2];
    size_t len[2], cap[2];
    uint32_t next_seq[2];
    int have_seq[2];
};

struct capture {
    struct flow flows[8];
    size_t n;
};

static const char *fixtures_dir(void)
{
    const char *d = getenv("RT_ZEEK_FIXTURES");
    if (d == NULL || *d == 0) {
        printf("check_resp: RT_ZEEK_FIXTURES is not set: skipping the Zeek capture tests\n");
        return NULL;
    }
    return d;
}

static void flow_append(struct flow *f, int dir, uint32_t seq, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (f->have_seq[dir] && seq != f->next_seq[dir])
        return; /* a retransmission (these captures have no reordering) */
    f->have_seq[dir] = 1;
    f->next_seq[dir] = seq + (uint32_t)n;
    if (f->len[dir] + n > f->cap[dir]) {
        f->cap[dir] = (f->len[dir] + n) * 2;
        f->data[dir] = realloc(f->data[dir], f->cap[dir]);
        ck_assert_ptr_nonnull(f->data[dir]);
    }
    memcpy(f->data[dir] + f->len[dir], p, n);
    f->len[dir] += n;
}

/* Decodes one BSD-loopback, Ethernet or raw frame far enough to find a TCP payload. */
static void capture_frame(struct capture *c, int dlt, const uint8_t *p, size_t n)
{
    size_t o;
    if (dlt == DLT_NULL || dlt == DLT_LOOP)
        o = 4;
    else if (dlt == DLT_EN10MB)
        o = 14;
    else
        o = 0;
    if (n < o + 1)
        return;
    size_t ipl, tot;
    if ((p[o] >> 4) == 4) {
        ipl = (size_t)(p[o] & 15) * 4;
        if (n < o + 20 || p[o + 9] != 6)
            return;
        tot = (size_t)p[o + 2] << 8 | p[o + 3];
    } else if ((p[o] >> 4) == 6) {
        ipl = 40;
        if (n < o + 40 || p[o + 6] != 6)
            return;
        tot = 40 + ((size_t)p[o + 4] << 8 | p[o + 5]);
    } else {
        return;
    }
    if (tot > n - o)
        tot = n - o;
    const uint8_t *t = p + o + ipl;
    if (tot < ipl + 20)
        return;
    size_t tl = (size_t)(t[12] >> 4) * 4;
    if (tot < ipl + tl)
        return;
    uint16_t sport = (uint16_t)(t[0] << 8 | t[1]), dport = (uint16_t)(t[2] << 8 | t[3]);
    uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
    int dir = dport == 6379 ? TRACE_DIR_TO_SERVER : TRACE_DIR_TO_CLIENT;
    uint16_t client = dir == TRACE_DIR_TO_SERVER ? sport : dport;
    struct flow *f = NULL;
    for (size_t i = 0; i < c->n; i++)
        if (c->flows[i].client_port == client)
            f = &c->flows[i];
    if (!f) {
        ck_assert_uint_lt(c->n, 8);
        f = &c->flows[c->n++];
        f->client_port = client;
    }
    flow_append(f, dir, seq, t + tl, tot - ipl - tl);
}

static void capture_load(struct capture *c, const char *dir, const char *name)
{
    char path[4096], errbuf[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    memset(c, 0, sizeof *c);
    pcap_t *pc = pcap_open_offline(path, errbuf);
    ck_assert_msg(pc != NULL, "%s: %s", path, errbuf);
    int dlt = pcap_datalink(pc);
    struct pcap_pkthdr *h;
    const u_char *data;
    while (pcap_next_ex(pc, &h, &data) == 1)
        capture_frame(c, dlt, data, h->caplen);
    pcap_close(pc);
}

static void capture_free(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->flows[i].data[0]);
        free(c->flows[i].data[1]);
    }
}

static struct flow *capture_flow(struct capture *c, uint16_t client_port)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->flows[i].client_port == client_port)
            return &c->flows[i];
    ck_abort_msg("no connection from port %u", client_port);
    return NULL;
}

/* One row of Zeek's redis.log: the command name, key and value columns. */
struct zeek_row {
    char name[64], key[128], value[128];
};

static size_t zeek_log(const char *dir, const char *capture, struct zeek_row *rows, size_t cap)
{
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/baseline/%s/redis.log", dir, capture);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char *col[11] = {0};
        size_t nc = 0;
        for (char *s = line, *tab; nc < 11 && s; s = tab ? tab + 1 : NULL) {
            tab = strpbrk(s, "\t\n");
            if (tab)
                *tab = 0;
            col[nc++] = s;
        }
        ck_assert_uint_ge(nc, 9);
        ck_assert_uint_lt(n, cap);
        snprintf(rows[n].name, sizeof rows[n].name, "%s", col[6]);
        snprintf(rows[n].key, sizeof rows[n].key, "%s", col[7]);
        snprintf(rows[n].value, sizeof rows[n].value, "%s", col[8]);
        n++;
    }
    fclose(f);
    return n;
}

/* Scans the client stream of `f` into `argv0` (upper-cased names) and the key argument.
 * @return the commands scanned; *end is where scanning stopped (-1 or the end). */
static size_t scan_commands(const struct flow *f, char names[][64], char keys[][128], size_t cap,
                            int *last_rc)
{
    size_t pos = 0, n = 0;
    *last_rc = 0;
    while (pos < f->len[0]) {
        struct resp_request q;
        struct req_room room;
        int rc = request(f->data[0] + pos, f->len[0] - pos, &q, &room, NULL);
        *last_rc = rc;
        if (rc <= 0)
            break;
        pos += (size_t)rc;
        if (q.total == 0)
            continue;
        ck_assert_uint_lt(n, cap);
        snprintf(names[n], 64, "%.*s", (int)q.argvlen[0], q.argv[0]);
        for (char *s = names[n]; *s; s++)
            if (*s >= 'a' && *s <= 'z')
                *s = (char)(*s - 'a' + 'A');
        snprintf(keys[n], 128, "%.*s", q.argc > 1 ? (int)q.argvlen[1] : 1,
                 q.argc > 1 ? q.argv[1] : "-");
        n++;
    }
    return n;
}

/* Scans the server stream of `f`; writes the replies as "type:text" into `out`. */
static size_t scan_replies(const struct flow *f, char out[][128], size_t cap)
{
    size_t pos = 0, n = 0;
    while (pos < f->len[1]) {
        struct resp_reply r;
        int rc = reply(f->data[1] + pos, f->len[1] - pos, &r, NULL);
        ck_assert_msg(rc > 0, "reply %zu at offset %zu: %d", n, pos, rc);
        ck_assert_uint_lt(n, cap);
        const uint8_t *t = r.first ? r.first : r.str;
        size_t tl = r.first ? r.first_len : r.str_len;
        snprintf(out[n], 128, "%c:%.*s", r.type, (int)tl, t ? (const char *)t : "");
        pos += (size_t)rc;
        n++;
    }
    return n;
}

START_TEST(test_resp_zeek_set)
{
    const char *dir = fixtures_dir();
    if (!dir)
        return;
    struct capture c;
    capture_load(&c, dir, "set.pcap");
    ck_assert_uint_eq(c.n, 1);
    char names[8][64], keys[8][128], replies[8][128];
    int rc;
    size_t n = scan_commands(&c.flows[0], names, keys, 8, &rc);
    ck_assert_int_gt(rc, 0);
    /* Zeek's baseline/set/output: "Key: test Value: hi", "Key: one:1 Value: 2", ... */
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/baseline/set/output", dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    size_t rows = 0;
    while (fgets(line, sizeof line, f)) {
        char key[128], value[128];
        if (sscanf(line, "Key: %127s Value: %127s", key, value) != 2)
            continue;
        ck_assert_uint_lt(rows, n);
        ck_assert_str_eq(names[rows], "SET");
        ck_assert_str_eq(keys[rows], key);
        rows++;
    }
    fclose(f);
    ck_assert_uint_eq(rows, 3);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(scan_replies(&c.flows[0], replies, 8), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(replies[i], "+:OK");
    capture_free(&c);
}
END_TEST

START_TEST(test_resp_zeek_pipelining_example)
{
    const char *dir = fixtures_dir();
    if (!dir)
        return;
    struct capture c;
    capture_load(&c, dir, "pipelining-example.pcap");
    ck_assert_uint_eq(c.n, 1);
    struct zeek_row rows[8];
    size_t nz = zeek_log(dir, "pipelining-example", rows, 8);
    char names[8][64], keys[8][128], replies[8][128];
    int rc;
    size_t n = scan_commands(&c.flows[0], names, keys, 8, &rc);
    ck_assert_uint_eq(n, nz);
    ck_assert_uint_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(names[i], rows[i].name);
    ck_assert_uint_eq(scan_replies(&c.flows[0], replies, 8), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(replies[i], "+:PONG");
    capture_free(&c);
}
END_TEST

START_TEST(test_resp_zeek_pipeline_quotes)
{
    const char *dir = fixtures_dir();
    if (!dir)
        return;
    struct capture c;
    capture_load(&c, dir, "pipeline-quotes.pcap");
    ck_assert_uint_eq(c.n, 1);
    struct zeek_row rows[16];
    size_t nz = zeek_log(dir, "pipeline-quotes", rows, 16);
    ck_assert_uint_eq(nz, 8);
    /* Zeek names eight SETs; redis ran six and refused the seventh line ("unbalanced quotes"),
     * closing the connection: the scanner stops at the same line */
    struct flow *f = &c.flows[0];
    static const char *const values[] = {"my value with spaces",
                                         "my value with single quotes",
                                         "my value with \"double\" inners",
                                         "my value with 'single' inners",
                                         "my value with \"escaped\" quotes",
                                         "my value with 'escaped' quotes"};
    size_t pos = 0;
    for (size_t i = 0; i < nz; i++) {
        struct resp_request q;
        struct req_room room;
        int rc = request(f->data[0] + pos, f->len[0] - pos, &q, &room, NULL);
        if (i >= 6) {
            ck_assert_int_eq(rc, -1);
            ck_assert_int_eq(q.fail, RESP_FAIL_SYNTAX);
            ck_assert_str_eq(rows[i].name, "SET");
            /* skip the refused line, as Zeek does, to check the last one too */
            const uint8_t *nl = memchr(f->data[0] + pos, '\n', f->len[0] - pos);
            ck_assert_ptr_nonnull(nl);
            pos = (size_t)(nl - f->data[0]) + 1;
            continue;
        }
        ck_assert_int_gt(rc, 0);
        ck_assert_uint_eq(q.flags, TRACE_REQ_INLINE);
        ck_assert_uint_eq(q.total, 3);
        ck_assert_uint_eq(strlen(rows[i].name), q.argvlen[0]);
        ck_assert_int_eq(memcmp(rows[i].name, q.argv[0], q.argvlen[0]), 0);
        ck_assert_uint_eq(strlen(rows[i].key), q.argvlen[1]);
        ck_assert_int_eq(memcmp(rows[i].key, q.argv[1], q.argvlen[1]), 0);
        assert_arg(&q, 2, values[i], strlen(values[i]));
        pos += (size_t)rc;
    }
    ck_assert_uint_eq(pos, f->len[0]);
    char replies[16][128];
    ck_assert_uint_eq(scan_replies(f, replies, 16), 7);
    for (size_t i = 0; i < 6; i++)
        ck_assert_str_eq(replies[i], "+:OK");
    ck_assert_str_eq(replies[6], "-:ERR Protocol error: unbalanced quotes in request");
    capture_free(&c);
}
END_TEST

START_TEST(test_resp_zeek_pubsub)
{
    const char *dir = fixtures_dir();
    if (!dir)
        return;
    struct capture c;
    capture_load(&c, dir, "pubsub.pcap");
    struct zeek_row rows[16];
    size_t nz = zeek_log(dir, "pubsub", rows, 16);
    /* the commands of every connection, in Zeek's order of connections */
    size_t matched = 0;
    for (size_t i = 0; i < c.n; i++) {
        char names[8][64], keys[8][128];
        int rc;
        size_t n = scan_commands(&c.flows[i], names, keys, 8, &rc);
        ck_assert_int_gt(rc, 0);
        for (size_t j = 0; j < n; j++) {
            int found = 0;
            for (size_t k = 0; k < nz && !found; k++)
                found = strcmp(rows[k].name, names[j]) == 0;
            ck_assert_msg(found, "%s is not in Zeek's log", names[j]);
            matched++;
        }
    }
    ck_assert_uint_eq(matched, nz);
    /* the subscriber's replies: Zeek's output lists what was published to it */
    struct flow *sub = capture_flow(&c, 60831);
    char replies[16][128];
    size_t nr = scan_replies(sub, replies, 16);
    ck_assert_uint_eq(nr, 7);
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/baseline/pubsub/output", dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    size_t k = 0;
    while (fgets(line, sizeof line, f)) {
        char kind[32];
        if (sscanf(line, "Got published data!, [%31[^,]", kind) != 1)
            continue;
        char want[64];
        snprintf(want, sizeof want, "*:%s", kind);
        ck_assert_uint_lt(k, nr);
        ck_assert_str_eq(replies[k], want);
        k++;
    }
    fclose(f);
    ck_assert_uint_eq(k, 5);
    ck_assert_str_eq(replies[5], "+:RESET");
    ck_assert_str_eq(replies[6], "$:you_are_sane");
    capture_free(&c);
}
END_TEST

Suite *resp_suite(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, test_resp_request_encoder);
    tcase_add_test(tc, test_resp_reply_simple_string_and_error);
    tcase_add_test(tc, test_resp_reply_integer);
    tcase_add_test(tc, test_resp_reply_bulk_string);
    tcase_add_test(tc, test_resp_reply_resp2_nulls);
    tcase_add_test(tc, test_resp_reply_array_and_nested);
    tcase_add_test(tc, test_resp_reply_map_set_push);
    tcase_add_test(tc, test_resp_reply_resp3_scalars);
    tcase_add_test(tc, test_resp_reply_attribute);
    tcase_add_test(tc, test_resp_reply_invalid);
    tcase_add_test(tc, test_resp_reply_depth_limit);
    tcase_add_test(tc, test_resp_reply_size_limits);
    tcase_add_test(tc, test_resp_request_array);
    tcase_add_test(tc, test_resp_request_empty);
    tcase_add_test(tc, test_resp_request_inline_quoting);
    tcase_add_test(tc, test_resp_request_inline_zero_copy);
    tcase_add_test(tc, test_resp_request_inline_invalid);
    tcase_add_test(tc, test_resp_request_invalid);
    tcase_add_test(tc, test_resp_request_limits_and_argv_cap);
    tcase_add_test(tc, test_resp_every_prefix_needs_more);
    tcase_add_test(tc, test_resp_pipeline_scanned_repeatedly);
    tcase_add_test(tc, test_resp_split_at_every_byte);
    tcase_add_test(tc, test_resp_need_spares_rescans_of_a_big_bulk);
    tcase_add_test(tc, test_resp_guard_page);
    tcase_add_test(tc, test_resp_resync);
    tcase_add_test(tc, test_resp_limits_default);
    suite_add_tcase(s, tc);
    TCase *zeek = tcase_create("zeek");
    tcase_add_test(zeek, test_resp_zeek_set);
    tcase_add_test(zeek, test_resp_zeek_pipelining_example);
    tcase_add_test(zeek, test_resp_zeek_pipeline_quotes);
    tcase_add_test(zeek, test_resp_zeek_pubsub);
    suite_add_tcase(s, zeek);
    return s;
}
