/* fuzz_session.c: libFuzzer target for the RESP session layer (pairing, CLIENT REPLY, pub/sub,
 * MULTI, HELLO, redaction of requests and replies, malformed requests, --redact-values, gaps)
 * fed by a script of the two directions.
 *
 * Input: a first byte of options (bit 0 mid-stream, bit 1 keep payloads, bit 2 redact values,
 * bits 3-4 a small buffer cap, bit 5 a scratch shared with a second, idle session as the
 * recorder shares one), then records [op][len][len bytes]: op & 3 = 0 client bytes,
 * 1 server bytes, 2 a gap of len bytes in direction (op >> 2) & 1, 3 close (then the rest is
 * fed after the close). Every event the session emits is checked for what the API promises. */
#include "fuzz_common.h"
#include "record_int.h"

#include <string.h>

static volatile uint64_t sink_sum;

struct state {
    uint64_t requests, last_seq_seen, malformed, redacted;
    int any_request;
};

static int on_event(void *ctx, struct trace_event *ev)
{
    struct state *s = ctx;
    EXPECT(ev->conn == 42);
    switch (ev->type) {
    case TRACE_EV_REQUEST:
        EXPECT(ev->u.req.argc >= 1);
        EXPECT(ev->u.req.proto == 2 || ev->u.req.proto == 3);
        if (ev->u.req.flags & TRACE_REQ_MALFORMED) {
            /* the bytes as sent, a whole line unless cut at 64 KiB */
            size_t n = ev->u.req.argvlen[0];
            EXPECT(ev->u.req.argc == 1 && n > 0 && n <= 65536);
            EXPECT((ev->u.req.flags & TRACE_REQ_TRUNCATED) || ev->u.req.argv[0][n - 1] == '\n');
            EXPECT(!(ev->u.req.flags & TRACE_REQ_INLINE));
            s->malformed++;
        }
        for (uint32_t i = 0; i < ev->u.req.argc; i++)
            sink_sum += touch(ev->u.req.argv[i], ev->u.req.argvlen[i]);
        /* the recorder assigns sequence numbers in the writer: here they are ours */
        s->requests++;
        s->any_request = 1;
        break;
    case TRACE_EV_REPLY:
    case TRACE_EV_PUSH:
        if (ev->u.reply.flags & TRACE_REPLY_REDACTED) {
            /* its type only */
            EXPECT(ev->type == TRACE_EV_REPLY);
            EXPECT(!(ev->u.reply.flags & (TRACE_REPLY_HAS_HASH | TRACE_REPLY_HAS_PAYLOAD)));
            EXPECT(ev->u.reply.len == 0 && ev->u.reply.count == 0 && ev->u.reply.size == 0 &&
                   ev->u.reply.ival == 0 && ev->u.reply.hash == 0 && ev->u.reply.err == NULL &&
                   ev->u.reply.payload == NULL);
            s->redacted++;
            break;
        }
        EXPECT(ev->u.reply.len > 0);
        if (ev->u.reply.errlen)
            sink_sum += touch(ev->u.reply.err, ev->u.reply.errlen);
        if (ev->u.reply.flags & TRACE_REPLY_HAS_PAYLOAD) {
            EXPECT(ev->u.reply.payload_len == ev->u.reply.len);
            sink_sum += touch(ev->u.reply.payload, ev->u.reply.payload_len);
        }
        break;
    case TRACE_EV_NOTE:
        EXPECT(ev->u.note.len > 0);
        sink_sum += touch(ev->u.note.text, ev->u.note.len);
        break;
    case TRACE_EV_GAP: EXPECT(ev->u.gap.dir <= 1); break;
    default: EXPECT(0); /* the session emits no other type */
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    struct rec_session_opts o = {.lim = resp_limits_default()};
    o.lim.max_depth = 16;
    o.lim.max_elems = 1024;
    o.lim.max_bulk = 1 << 16;
    o.lim.max_args = 256;
    o.keep_payload = (opt >> 1) & 1;
    o.redact_values = (opt >> 2) & 1;
    o.max_buffer = ((opt >> 3) & 3) ? (size_t)1 << (8 + 2 * ((opt >> 3) & 3)) : 0;
    struct rec_scratch *shared = (opt >> 5) & 1 ? rec_scratch_new() : NULL;
    o.scratch = shared;
    struct state st = {0};
    struct rec_sink sk = {on_event, &st};
    struct rt_err err = {0};
    struct rec_conn *c = rec_conn_new(42, (opt & 1) ? TRACE_OPEN_MIDSTREAM : 0, &o, &sk, &err);
    EXPECT(c != NULL);
    /* a second session on the same scratch: it must not see the first one's bytes */
    struct rec_conn *idle = shared ? rec_conn_new(42, 0, &o, &sk, &err) : NULL;
    uint64_t ts = 1000;
    size_t i = 1;
    while (i + 2 <= size) {
        uint8_t op = data[i], len = data[i + 1];
        i += 2;
        size_t n = len <= size - i ? len : size - i;
        switch (op & 3) {
        case 0: rec_conn_data(c, TRACE_DIR_TO_SERVER, data + i, n, ts); break;
        case 1: rec_conn_data(c, TRACE_DIR_TO_CLIENT, data + i, n, ts); break;
        case 2:
            rec_conn_gap(c, (op >> 2) & 1 ? TRACE_DIR_TO_CLIENT : TRACE_DIR_TO_SERVER, len, ts);
            n = 0;
            break;
        case 3:
            rec_conn_close(c, ts);
            n = 0;
            break;
        }
        i += n;
        ts += 1000;
    }
    if (idle)
        rec_conn_data(idle, TRACE_DIR_TO_SERVER, (const uint8_t *)"PING\r\n", 6, ts);
    struct rec_conn_stats cs;
    rec_conn_stats(c, &cs);
    EXPECT(cs.requests + (idle ? 1 : 0) == st.requests);
    EXPECT(cs.malformed == st.malformed);
    EXPECT(cs.redacted_replies == st.redacted);
    rec_conn_close(c, ts);
    rec_conn_free(c);
    rec_conn_free(idle);
    rec_scratch_free(shared);
    return 0;
}
