/* fuzz_packet_tcp.c: libFuzzer target for packet decoding feeding TCP reassembly. */
#include "fuzz_common.h"
#include "record_int.h"

#include <pcap/dlt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The input is a sequence of records: [mode:1][len:2, little-endian][len bytes]. The low four
 * bits of mode pick a link type from LINKS (the bytes are a frame for record_packet_decode), or
 * from 10 on a synthetic segment that skips the headers so that the fuzzer reaches deep into
 * reassembly quickly: [flags:1][who:1][seq:4 LE][ack:4 LE][payload], where `who` bit 0 is the
 * direction and bits 1-3 pick one of eight client ports. Bits 4-5 of mode cut the frame as a
 * snap length would (or shorten it on the wire); bits 6-7 move capture time on by 1 us, 1 ms,
 * 300 ms or 20 s, across the table's small timeouts. Every frame is copied into a buffer of
 * its exact size so that ASan catches a read past it.
 */

static const int LINKS[10] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP,
                              DLT_RAW,    DLT_IPV4,      DLT_IPV6,       101,      DLT_PPP};

#define MAX_FLOWS 4
#define MAX_DIR 2048
#define MAX_TOTAL 4096

struct ctx {
    uint64_t last_id, opened, closed;
    volatile uint64_t sink;
};

/* Per connection: allocated in on_open and freed in on_close, so that a call after the close
 * is a use after free and a missing close is a leak. */
struct conn {
    uint64_t id;
    uint64_t bytes[2];
};

static void *on_open(void *vctx, uint64_t id, const struct trace_addr *client,
                     const struct trace_addr *server, uint32_t flags, uint64_t ts)
{
    struct ctx *c = vctx;
    EXPECT(id == c->last_id + 1);
    EXPECT(client->family == server->family);
    EXPECT((flags & ~TRACE_OPEN_MIDSTREAM) == 0);
    c->last_id = id;
    c->opened++;
    c->sink += ts;
    struct conn *k = calloc(1, sizeof *k);
    EXPECT(k != NULL);
    k->id = id;
    return k;
}

static void on_data(void *vctx, void *user, uint64_t id, enum trace_dir dir, const uint8_t *p,
                    size_t n, uint64_t ts)
{
    struct ctx *c = vctx;
    struct conn *k = user;
    EXPECT(k->id == id && n > 0 && (dir == TRACE_DIR_TO_SERVER || dir == TRACE_DIR_TO_CLIENT));
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    c->sink += s + ts;
    k->bytes[dir] += n;
}

static void on_gap(void *vctx, void *user, uint64_t id, enum trace_dir dir, uint64_t bytes,
                   uint64_t ts)
{
    struct ctx *c = vctx;
    struct conn *k = user;
    EXPECT(k->id == id && bytes > 0 && (dir == TRACE_DIR_TO_SERVER || dir == TRACE_DIR_TO_CLIENT));
    c->sink += ts;
    k->bytes[dir] += bytes;
}

static void on_close(void *vctx, void *user, uint64_t id, enum trace_close_reason reason,
                     uint64_t ts)
{
    struct ctx *c = vctx;
    struct conn *k = user;
    EXPECT(k->id == id && reason <= TRACE_CLOSE_CLIENT_QUIT);
    c->closed++;
    c->sink += ts;
    free(k);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A segment from the synthetic record `b` of `n` bytes (at least 10). */
static void synthetic(const uint8_t *b, size_t n, unsigned cut, uint64_t ts,
                      struct record_packet *p)
{
    static const size_t extra[4] = {0, 1, 7, 100};
    struct trace_addr cl = {4, {10, 0, 0, 1}, (uint16_t)(40000 + ((b[1] >> 1) & 7))};
    struct trace_addr sv = {4, {10, 0, 0, 2}, 6379};
    memset(p, 0, sizeof *p);
    p->ts = ts;
    p->flags = b[0] & 0x1f;
    p->src = (b[1] & 1) ? sv : cl;
    p->dst = (b[1] & 1) ? cl : sv;
    p->seq = le32(b + 2);
    p->ack = le32(b + 6);
    p->payload = b + 10;
    p->payload_len = n - 10;
    p->payload_wire = n - 10 + extra[cut];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctx c = {0};
    struct record_ports ports = {{6379}, 1};
    struct tcp_opts o = {.ports = &ports,
                         .max_flows = MAX_FLOWS,
                         .max_buffer_dir = MAX_DIR,
                         .max_buffer_total = MAX_TOTAL,
                         .hole_timeout_ns = 1000000000ull,
                         .idle_timeout_ns = 10000000000ull};
    struct tcp_callbacks cb = {on_open, on_data, on_gap, on_close};
    struct tcp_table *t = tcp_table_new(&o, &cb, &c, NULL);
    EXPECT(t != NULL);
    static const uint64_t step[4] = {1000, 1000000, 300000000, 20000000000ull};
    uint64_t ts = 1700000000000000000ull;
    size_t at = 0;
    while (size - at >= 3) {
        uint8_t mode = data[at];
        size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
        at += 3;
        if (len > size - at)
            len = size - at;
        unsigned link = mode & 15, cut = (mode >> 4) & 3;
        ts += step[mode >> 6];
        uint8_t *frame = malloc(len ? len : 1);
        EXPECT(frame != NULL);
        memcpy(frame, data + at, len);
        at += len;
        struct record_packet p;
        int rc;
        if (link >= 10) {
            if (len < 10) {
                free(frame);
                continue;
            }
            synthetic(frame, len, cut, ts, &p);
            rc = RECORD_PKT_OK;
        } else {
            /* cut 1: the snap length kept part; 2: more on the wire than kept; 3: len below
             * caplen (a damaged file) */
            size_t caplen = cut == 1 ? len / 2 : len;
            size_t wire = cut == 2 ? len + 64 : cut == 3 ? len / 3 : len;
            rc = record_packet_decode(LINKS[link], frame, caplen, wire, ts, &p);
            EXPECT(rc >= RECORD_PKT_LINKTYPE && rc <= RECORD_PKT_CUT);
            if (rc >= 0) {
                EXPECT(p.payload_len <= p.payload_wire);
                EXPECT(p.payload >= frame && p.payload + p.payload_len <= frame + caplen);
                EXPECT(p.src.family == 4 || p.src.family == 6);
            }
            if (link == 9)
                EXPECT(rc == RECORD_PKT_LINKTYPE);
        }
        if (rc >= 0) {
            int r = tcp_table_input(t, &p);
            EXPECT(r == 0 || r == RT_ELIMIT || r == RT_ENOMEM);
        }
        free(frame);
        struct tcp_stats s;
        tcp_table_stats(t, &s);
        EXPECT(s.buffered_bytes <= MAX_TOTAL);
        EXPECT(s.flows_active <= MAX_FLOWS);
        EXPECT(s.flows_active == c.opened - c.closed);
        if ((mode & 0xc0) == 0xc0)
            tcp_table_expire(t, ts);
    }
    tcp_table_flush(t, ts + 1);
    struct tcp_stats s;
    tcp_table_stats(t, &s);
    EXPECT(s.flows_active == 0 && s.buffered_bytes == 0);
    EXPECT(c.opened == c.closed && c.opened == s.flows_opened);
    tcp_table_free(t);
    return 0;
}
