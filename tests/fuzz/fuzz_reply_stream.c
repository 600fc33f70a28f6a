/* fuzz_reply_stream.c: libFuzzer target for the replayer's streaming reply framer
 * (replay/reply_stream.c), checked against the stateless scanner it stands in for: fed the
 * same bytes in pieces of any size, it must find the same replies (same ends, types, counts,
 * sizes, integers) where the scanner finds whole ones, and fail where the scanner fails. */
#include "fuzz_common.h"
#include "replay_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* the first byte chooses how the bytes are split as they arrive */
    unsigned piece = data[0] ? data[0] : 1;
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    struct resp_limits lim = resp_limits_default();
    lim.max_bulk = 1u << 20; /* small limits, so that the fuzzer reaches them */
    lim.max_elems = 1u << 16;
    lim.max_depth = 16;
    lim.max_inline = 256;
    size_t off = 0;
    while (off < len) {
        struct resp_reply m;
        size_t need = 0;
        int k = resp_scan_reply(buf + off, len - off, &lim, &m, &need);
        struct rstream *s = calloc(1, sizeof *s);
        EXPECT(s != NULL);
        rs_init(s, &lim);
        size_t fed = 0;
        int done = 0;
        ssize_t got = 0;
        while (fed < len - off && !done) {
            size_t n = len - off - fed < piece ? len - off - fed : piece;
            got = rs_feed(s, buf + off + fed, n, &done);
            if (got < 0)
                break;
            EXPECT((size_t)got <= n);
            EXPECT(done || (size_t)got == n);
            fed += (size_t)got;
        }
        if (k > 0) {
            /* a whole reply: the framer ends it at the same byte, with the same figures */
            EXPECT(got >= 0 && done);
            EXPECT(fed == (size_t)k && s->r.len == (size_t)k);
            EXPECT(s->r.type == m.type);
            EXPECT(s->r.count == m.count);
            EXPECT(s->r.flags == m.flags);
            if (m.type == TRACE_R_INTEGER || m.type == TRACE_R_BOOLEAN)
                EXPECT(s->r.ival == m.ival);
            if (m.type == TRACE_R_BULK || m.type == TRACE_R_VERBATIM || m.type == TRACE_R_SIMPLE)
                EXPECT(s->r.size == m.size);
            if (m.first && m.first_len <= sizeof s->first) {
                EXPECT(s->r.first && s->r.first_len == m.first_len);
                EXPECT(!memcmp(s->r.first, m.first, m.first_len));
            }
            if (s->r.err)
                sink += touch(s->r.err, s->r.errlen);
            free(s);
            off += (size_t)k;
            continue;
        }
        if (k == -2) {
            /* incomplete for the scanner: the framer consumed everything and waits */
            EXPECT(got >= 0 && !done && fed == len - off);
        } else {
            /* the scanner rejects these bytes. The framer checks the framing only, not what a
             * double, a big number or a number's leading zeros look like, so it may accept
             * a reply the scanner refuses; what it promises there is only what rs_feed
             * promises everywhere (checked above), and no read outside the input (ASan). */
            if (s->r.err)
                sink += touch(s->r.err, s->r.errlen);
        }
        free(s);
        break;
    }
    return 0;
}
