/* fuzz_resp_scan.c: libFuzzer target for the RESP scanner: requests, replies and resync. */
#include "fuzz_common.h"
#include "record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every byte a span points at is summed into this, so that a span that strays outside the
 * input or the scratch is read and caught by ASan, and the reads cannot be dropped. */
static volatile uint64_t sink;

static int inside(const void *p, size_t n, const void *base, size_t len)
{
    const uint8_t *b = p, *o = base;
    return b >= o && b <= o + len && n <= (size_t)(o + len - b);
}

/* One configuration: limits, and how much room the caller gives a request. */
struct config {
    struct resp_limits lim;
    size_t argv_cap;
    size_t scratch_cap;
};

static char scratch[64 << 10];
static const char *argv_room[16];
static size_t argvlen_room[16];

static void check_fail(int fail, size_t off, const char *what, size_t len)
{
    EXPECT(fail == RESP_FAIL_SYNTAX || fail == RESP_FAIL_LIMIT || fail == RESP_FAIL_SCRATCH);
    EXPECT(off <= len);
    EXPECT(what != NULL && what[0] != 0);
}

/* Scans buf as one request; checks what the API promises. @return the scan's result. */
static int check_request(const struct config *c, const uint8_t *buf, size_t len)
{
    struct resp_request q;
    memset(&q, 0x5a, sizeof q);
    q.argv = argv_room;
    q.argvlen = argvlen_room;
    q.argv_cap = c->argv_cap;
    q.scratch = c->scratch_cap ? scratch : NULL;
    q.scratch_cap = c->scratch_cap;
    size_t need = 0;
    int rc = resp_scan_request(buf, len, &c->lim, &q, &need);
    if (rc > 0) {
        EXPECT((size_t)rc <= len && q.len == (size_t)rc);
        EXPECT(q.argc <= q.total && q.argc <= c->argv_cap);
        EXPECT(q.argc == (q.total < c->argv_cap ? q.total : c->argv_cap));
        EXPECT(q.total <= c->lim.max_args);
        for (size_t i = 0; i < q.argc; i++) {
            EXPECT(inside(q.argv[i], q.argvlen[i], buf, (size_t)rc) ||
                   inside(q.argv[i], q.argvlen[i], scratch, c->scratch_cap));
            sink += touch(q.argv[i], q.argvlen[i]);
        }
        EXPECT(q.flags == 0 || q.flags == TRACE_REQ_INLINE);
        EXPECT((q.flags == TRACE_REQ_INLINE) == (buf[0] != '*'));
    } else if (rc == -2) {
        EXPECT(need > len && need <= RESP_MSG_MAX);
    } else {
        EXPECT(rc == -1);
        check_fail(q.fail, q.fail_off, q.fail_what, len);
    }
    return rc;
}

static int valid_rtype(unsigned t)
{
    return t != 0 && strchr("+-:$*_,#!=(%~>", (int)t) != NULL;
}

/* Scans buf as one reply; checks what the API promises. @return the scan's result. */
static int check_reply(const struct config *c, const uint8_t *buf, size_t len)
{
    struct resp_reply r;
    memset(&r, 0x5a, sizeof r);
    size_t need = 0;
    int rc = resp_scan_reply(buf, len, &c->lim, &r, &need);
    if (rc > 0) {
        size_t n = (size_t)rc;
        EXPECT(n <= len && r.len == n && r.attr_len < n);
        EXPECT(valid_rtype(r.type));
        EXPECT((r.flags & ~(uint32_t)(TRACE_REPLY_NULL_BULK | TRACE_REPLY_NULL_ARRAY |
                                      TRACE_REPLY_ATTRIBUTED)) == 0);
        EXPECT(!(r.flags & (TRACE_REPLY_NULL_BULK | TRACE_REPLY_NULL_ARRAY)) ||
               r.type == TRACE_R_NULL);
        EXPECT(((r.flags & TRACE_REPLY_ATTRIBUTED) != 0) == (r.attr_len > 0));
        EXPECT(r.str == NULL || inside(r.str, r.str_len, buf, n));
        EXPECT(r.err == NULL || inside(r.err, r.errlen, buf, n));
        EXPECT(r.first == NULL || inside(r.first, r.first_len, buf, n));
        EXPECT((r.err != NULL) == (r.type == TRACE_R_ERROR || r.type == TRACE_R_BLOB_ERROR));
        EXPECT(r.count <= c->lim.max_elems);
        EXPECT(r.size <= n);
        if (r.str)
            sink += touch(r.str, r.str_len);
        if (r.err)
            sink += touch(r.err, r.errlen);
        if (r.first)
            sink += touch(r.first, r.first_len);
    } else if (rc == -2) {
        EXPECT(need > len && need <= RESP_MSG_MAX);
    } else {
        EXPECT(rc == -1);
        check_fail(r.fail, r.fail_off, r.fail_what, len);
    }
    return rc;
}

/* A message of n bytes scans the same alone, and each prefix of it needs more. Checked for
 * short messages only, since it costs n scans. */
static void check_prefixes(const struct config *c, const uint8_t *buf, size_t n, int is_reply)
{
    EXPECT((is_reply ? check_reply(c, buf, n) : check_request(c, buf, n)) == (int)n);
    if (n > 96)
        return;
    for (size_t k = 0; k < n; k++) {
        /* a copy of exactly k bytes, so that a read past the prefix is caught */
        uint8_t *p = malloc(k ? k : 1);
        EXPECT(p != NULL);
        memcpy(p, buf, k);
        size_t need = 0;
        int rc;
        if (is_reply) {
            struct resp_reply r;
            rc = resp_scan_reply(p, k, &c->lim, &r, &need);
        } else {
            struct resp_request q = {0};
            q.scratch = scratch;
            q.scratch_cap = sizeof scratch;
            rc = resp_scan_request(p, k, &c->lim, &q, &need);
        }
        EXPECT(rc == -2 && need > k && need <= n);
        free(p);
    }
}

/* Scans the whole input as a stream of messages, resynchronising after invalid ones. */
static void scan_stream(const struct config *c, const uint8_t *data, size_t size, int is_reply)
{
    int dir = is_reply ? TRACE_DIR_TO_CLIENT : TRACE_DIR_TO_SERVER;
    size_t pos = 0;
    unsigned steps = 0;
    while (pos < size && steps++ < 4096) {
        const uint8_t *b = data + pos;
        size_t len = size - pos;
        int rc = is_reply ? check_reply(c, b, len) : check_request(c, b, len);
        if (rc > 0) {
            check_prefixes(c, b, (size_t)rc, is_reply);
            pos += (size_t)rc;
            continue;
        }
        if (rc == -2)
            break;
        ssize_t off = resp_resync(b + 1, len - 1, dir);
        if (off < 0)
            break;
        EXPECT((size_t)off < len - 1);
        EXPECT(off == 0 || b[off] == '\n'); /* a line start */
        pos += 1 + (size_t)off;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config configs[3];
    static int ready;
    if (!ready) {
        configs[0].lim = resp_limits_default();
        configs[0].argv_cap = 16;
        configs[0].scratch_cap = sizeof scratch;
        /* tiny limits, little room: every bound is in reach of small inputs */
        configs[1].lim = (struct resp_limits){
            .max_depth = 2, .max_elems = 3, .max_bulk = 8, .max_inline = 16, .max_args = 4};
        configs[1].argv_cap = 2;
        configs[1].scratch_cap = 6;
        /* limits past their caps, and no room at all */
        configs[2].lim = (struct resp_limits){.max_depth = UINT32_MAX,
                                              .max_elems = UINT64_MAX,
                                              .max_bulk = UINT64_MAX,
                                              .max_inline = SIZE_MAX,
                                              .max_args = UINT64_MAX};
        configs[2].argv_cap = 0;
        configs[2].scratch_cap = 0;
        ready = 1;
    }
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        scan_stream(&configs[i], data, size, 0);
        scan_stream(&configs[i], data, size, 1);
    }
    ssize_t a = resp_resync(data, size, TRACE_DIR_TO_SERVER);
    ssize_t b = resp_resync(data, size, TRACE_DIR_TO_CLIENT);
    EXPECT(a == -1 || (a >= 0 && (size_t)a < size));
    EXPECT(b == -1 || (b >= 0 && (size_t)b < size));
    return 0;
}
