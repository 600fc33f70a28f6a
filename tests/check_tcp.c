/* check_tcp.c: unit tests of packet decoding and TCP reassembly in the recorder library. */
#define _GNU_SOURCE /* scandir, alphasort */
#include "check_suites.h"
#include "record_int.h"

#include <check.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Suite *tcp_suite(void);

#define MS 1000000ull
#define SEC 1000000000ull

/* =======================================================================================
 * Frame building
 * ===================================================================================== */

/* What one test frame carries; the builders write it from the IP header on. */
struct spec {
    int v6;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    const void *payload;
    size_t plen;
    size_t ip4_opts;    /* bytes of IPv4 options, a multiple of 4 */
    uint16_t ip4_frag;  /* flags and fragment offset field */
    uint8_t proto;      /* 0: TCP */
    const uint8_t *ext; /* IPv6 extension headers, the last one's next header left for TCP */
    size_t ext_len;
    uint8_t ext_first; /* next header of the IPv6 header when ext is set */
    size_t tcp_opts;   /* bytes of TCP options, a multiple of 4 */
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t build_tcp(uint8_t *o, const struct spec *s)
{
    size_t hl = 20 + s->tcp_opts;
    memset(o, 0, hl);
    put16(o, s->sport);
    put16(o + 2, s->dport);
    put32(o + 4, s->seq);
    put32(o + 8, s->ack);
    o[12] = (uint8_t)((hl / 4) << 4);
    o[13] = s->flags;
    put16(o + 14, 65535);
    for (size_t i = 20; i < hl; i++)
        o[i] = 1; /* NOP options */
    if (s->plen)
        memcpy(o + hl, s->payload, s->plen);
    return hl + s->plen;
}

/* IP header(s), TCP header, payload. @return the bytes written. */
static size_t build_ip(uint8_t *o, const struct spec *s)
{
    uint8_t proto = s->proto ? s->proto : 6;
    if (!s->v6) {
        size_t hl = 20 + s->ip4_opts;
        memset(o, 0, hl);
        o[0] = (uint8_t)(0x40 | hl / 4);
        o[8] = 64;
        o[9] = proto;
        put16(o + 6, s->ip4_frag);
        memcpy(o + 12, s->src, 4);
        memcpy(o + 16, s->dst, 4);
        for (size_t i = 20; i < hl; i++)
            o[i] = 1; /* NOP options */
        size_t n = hl + build_tcp(o + hl, s);
        put16(o + 2, (uint16_t)n);
        return n;
    }
    memset(o, 0, 40);
    o[0] = 0x60;
    o[6] = s->ext ? s->ext_first : proto;
    o[7] = 64;
    memcpy(o + 8, s->src, 16);
    memcpy(o + 24, s->dst, 16);
    if (s->ext)
        memcpy(o + 40, s->ext, s->ext_len);
    size_t n = s->ext_len + build_tcp(o + 40 + s->ext_len, s);
    put16(o + 4, (uint16_t)n);
    return 40 + n;
}

/* The link-layer framings the decoder knows, each built around an IP packet. */
enum framing {
    F_ETH,
    F_ETH_VLAN,
    F_ETH_QINQ,
    F_SLL,
    F_SLL_VLAN,
    F_SLL2,
    F_NULL_LE, /* host order on a little-endian capturer */
    F_NULL_BE,
    F_LOOP,
    F_RAW,
    F_IPV4_OR_6, /* DLT_IPV4 or DLT_IPV6 by the packet's version */
    F_COUNT
};

static const char *const framing_name[F_COUNT] = {"eth",      "eth-vlan", "eth-qinq", "sll",
                                                  "sll-vlan", "sll2",     "null-le",  "null-be",
                                                  "loop",     "raw",      "ipv4/6"};

static int framing_dlt(enum framing f, int v6)
{
    switch (f) {
    case F_ETH:
    case F_ETH_VLAN:
    case F_ETH_QINQ: return DLT_EN10MB;
    case F_SLL:
    case F_SLL_VLAN: return DLT_LINUX_SLL;
    case F_SLL2: return DLT_LINUX_SLL2;
    case F_NULL_LE:
    case F_NULL_BE: return DLT_NULL;
    case F_LOOP: return DLT_LOOP;
    case F_RAW: return DLT_RAW;
    default: return v6 ? DLT_IPV6 : DLT_IPV4;
    }
}

/* Writes the link header for `f` and copies the IP packet after it; `af6` is the BSD value
 * used for IPv6 in DLT_NULL/DLT_LOOP. @return the frame's length. */
static size_t frame_wrap(uint8_t *o, enum framing f, int v6, uint32_t af6, const uint8_t *ip,
                         size_t iplen)
{
    uint16_t et = v6 ? 0x86dd : 0x0800;
    uint32_t af = v6 ? af6 : 2;
    size_t h = 0;
    switch (f) {
    case F_ETH:
    case F_ETH_VLAN:
    case F_ETH_QINQ:
        memset(o, 0xaa, 12);
        h = 12;
        if (f == F_ETH_QINQ) {
            put16(o + h, 0x88a8);
            put16(o + h + 2, 0x0064);
            h += 4;
        }
        if (f != F_ETH) {
            put16(o + h, 0x8100);
            put16(o + h + 2, 0x0005);
            h += 4;
        }
        put16(o + h, et);
        h += 2;
        break;
    case F_SLL:
    case F_SLL_VLAN:
        memset(o, 0, 16);
        put16(o + 2, 1);
        put16(o + 4, 6);
        if (f == F_SLL_VLAN) {
            put16(o + 14, 0x8100);
            put16(o + 16, 7);
            put16(o + 18, et);
            h = 20;
        } else {
            put16(o + 14, et);
            h = 16;
        }
        break;
    case F_SLL2:
        memset(o, 0, 20);
        put16(o, et);
        put32(o + 4, 1);
        put16(o + 8, 1);
        h = 20;
        break;
    case F_NULL_LE:
        o[0] = (uint8_t)af;
        o[1] = o[2] = o[3] = 0;
        h = 4;
        break;
    case F_NULL_BE:
    case F_LOOP:
        put32(o, af);
        h = 4;
        break;
    default: break;
    }
    memcpy(o + h, ip, iplen);
    return h + iplen;
}

static const uint8_t A4[16] = {10, 0, 0, 1}, B4[16] = {10, 0, 0, 2};
static const uint8_t A6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t B6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

static struct spec spec_basic(int v6, const char *payload)
{
    struct spec s = {0};
    s.v6 = v6;
    memcpy(s.src, v6 ? A6 : A4, 16);
    memcpy(s.dst, v6 ? B6 : B4, 16);
    s.sport = 40000;
    s.dport = 6379;
    s.seq = 1000;
    s.ack = 2000;
    s.flags = RECORD_TCP_ACK | RECORD_TCP_PSH;
    s.payload = payload;
    s.plen = payload ? strlen(payload) : 0;
    return s;
}

static void assert_basic_decoded(const struct record_packet *p, const struct spec *s,
                                 const char *what)
{
    ck_assert_msg(p->src.family == (s->v6 ? 6 : 4), "%s: family %u", what, p->src.family);
    ck_assert_msg(memcmp(p->src.addr, s->src, s->v6 ? 16 : 4) == 0, "%s: src", what);
    ck_assert_msg(memcmp(p->dst.addr, s->dst, s->v6 ? 16 : 4) == 0, "%s: dst", what);
    ck_assert_msg(p->src.port == s->sport && p->dst.port == s->dport, "%s: ports", what);
    ck_assert_msg(p->seq == s->seq && p->ack == s->ack, "%s: seq/ack", what);
    ck_assert_msg(p->flags == s->flags, "%s: flags %x", what, p->flags);
    ck_assert_msg(p->payload_len == s->plen && p->payload_wire == s->plen, "%s: len %zu", what,
                  p->payload_len);
    ck_assert_msg(s->plen == 0 || memcmp(p->payload, s->payload, s->plen) == 0, "%s: payload",
                  what);
}

/* =======================================================================================
 * Packet decoding
 * ===================================================================================== */

START_TEST(test_packet_every_link_type)
{
    static const uint32_t af6s[] = {10, 24, 28, 30};
    for (int v6 = 0; v6 <= 1; v6++) {
        for (int f = 0; f < F_COUNT; f++) {
            for (size_t a = 0; a < (v6 ? 4u : 1u); a++) {
                struct spec s = spec_basic(v6, "*1\r\n$4\r\nPING\r\n");
                uint8_t ip[256], fr[300];
                size_t n = build_ip(ip, &s);
                size_t fl = frame_wrap(fr, (enum framing)f, v6, af6s[a], ip, n);
                struct record_packet p;
                char what[64];
                snprintf(what, sizeof what, "%s v%d af %u", framing_name[f], v6 ? 6 : 4, af6s[a]);
                int rc = record_packet_decode(framing_dlt((enum framing)f, v6), fr, fl, fl,
                                              123456789, &p);
                ck_assert_msg(rc == RECORD_PKT_OK, "%s: %s", what, record_packet_result_name(rc));
                assert_basic_decoded(&p, &s, what);
                ck_assert_uint_eq(p.ts, 123456789);
                ck_assert_ptr_eq(p.payload, fr + fl - s.plen); /* into the frame */
            }
        }
    }
}
END_TEST

START_TEST(test_packet_vlan_tags)
{
    struct spec s = spec_basic(0, "hello");
    uint8_t ip[128], fr[160];
    size_t n = build_ip(ip, &s);
    struct record_packet p;
    /* one 802.1Q tag, 802.1ad + 802.1Q, and the old 0x9100 outer tag */
    size_t fl = frame_wrap(fr, F_ETH_VLAN, 0, 0, ip, n);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_OK);
    fl = frame_wrap(fr, F_ETH_QINQ, 0, 0, ip, n);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_OK);
    assert_basic_decoded(&p, &s, "qinq");
    put16(fr + 12, 0x9100);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_OK);
    /* a third tag is beyond what the filter selects: not ours */
    uint8_t fr3[200];
    memcpy(fr3, fr, 12);
    put16(fr3 + 12, 0x88a8);
    put16(fr3 + 14, 1);
    memcpy(fr3 + 16, fr + 12, fl - 12);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr3, fl + 4, fl + 4, 0, &p),
                     RECORD_PKT_NOT_TCP);
    /* a VLAN tag cut by the capture is truncated, not malformed */
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, 16, fl, 0, &p), RECORD_PKT_TRUNCATED);
}
END_TEST

START_TEST(test_packet_loopback_byte_orders)
{
    struct spec s = spec_basic(1, "x");
    uint8_t ip[128], fr[160];
    size_t n = build_ip(ip, &s);
    struct record_packet p;
    /* IPv6 as Linux (10), the BSDs (24, 28) and macOS (30) write it, in both byte orders,
     * under DLT_NULL and DLT_LOOP */
    static const uint32_t fams[] = {10, 24, 28, 30};
    for (size_t i = 0; i < 4; i++) {
        for (int le = 0; le <= 1; le++) {
            size_t fl = frame_wrap(fr, le ? F_NULL_LE : F_NULL_BE, 1, fams[i], ip, n);
            ck_assert_int_eq(record_packet_decode(DLT_NULL, fr, fl, fl, 0, &p), RECORD_PKT_OK);
            ck_assert_int_eq(record_packet_decode(DLT_LOOP, fr, fl, fl, 0, &p), RECORD_PKT_OK);
            ck_assert_uint_eq(p.src.family, 6);
        }
    }
    /* an unknown family is not ours; a family naming IPv4 over an IPv6 packet is wrong */
    size_t fl = frame_wrap(fr, F_NULL_BE, 1, 99, ip, n);
    ck_assert_int_eq(record_packet_decode(DLT_NULL, fr, fl, fl, 0, &p), RECORD_PKT_NOT_TCP);
    put32(fr, 2);
    ck_assert_int_eq(record_packet_decode(DLT_NULL, fr, fl, fl, 0, &p), RECORD_PKT_MALFORMED);
}
END_TEST

START_TEST(test_packet_raw_link_types)
{
    struct spec s4 = spec_basic(0, "abc"), s6 = spec_basic(1, "abc");
    uint8_t ip4[128], ip6[128];
    size_t n4 = build_ip(ip4, &s4), n6 = build_ip(ip6, &s6);
    struct record_packet p;
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip4, n4, n4, 0, &p), RECORD_PKT_OK);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip6, n6, n6, 0, &p), RECORD_PKT_OK);
    ck_assert_int_eq(record_packet_decode(101, ip6, n6, n6, 0, &p), RECORD_PKT_OK);
    ck_assert_int_eq(record_packet_decode(DLT_IPV4, ip4, n4, n4, 0, &p), RECORD_PKT_OK);
    ck_assert_int_eq(record_packet_decode(DLT_IPV6, ip6, n6, n6, 0, &p), RECORD_PKT_OK);
    ck_assert_int_eq(record_packet_decode(DLT_IPV4, ip6, n6, n6, 0, &p), RECORD_PKT_MALFORMED);
    ck_assert_int_eq(record_packet_decode(DLT_IPV6, ip4, n4, n4, 0, &p), RECORD_PKT_MALFORMED);
    ip4[0] = 0x55; /* IP version 5 */
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip4, n4, n4, 0, &p), RECORD_PKT_NOT_TCP);
    ck_assert_int_eq(record_packet_decode(DLT_PPP, ip6, n6, n6, 0, &p), RECORD_PKT_LINKTYPE);
    ck_assert_int_eq(record_packet_decode(-1, ip6, n6, n6, 0, &p), RECORD_PKT_LINKTYPE);
    static const char *const names[] = {"linktype", "fragment", "malformed", "truncated",
                                        "not-tcp",  "ok",       "cut"};
    for (int rc = RECORD_PKT_LINKTYPE; rc <= RECORD_PKT_CUT; rc++)
        ck_assert_str_eq(record_packet_result_name(rc), names[rc - RECORD_PKT_LINKTYPE]);
    ck_assert_str_eq(record_packet_result_name(42), "unknown");
}
END_TEST

START_TEST(test_packet_ipv4_options)
{
    struct spec s = spec_basic(0, "GET k\r\n");
    s.ip4_opts = 12;
    s.tcp_opts = 12;
    uint8_t ip[128], fr[160];
    size_t n = build_ip(ip, &s);
    size_t fl = frame_wrap(fr, F_ETH, 0, 0, ip, n);
    struct record_packet p;
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_OK);
    assert_basic_decoded(&p, &s, "options");
    /* IHL below 5 and an IHL past the total length are malformed */
    fr[14] = 0x44;
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_MALFORMED);
    fr[14] = 0x4f;
    put16(fr + 16, 40);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_MALFORMED);
}
END_TEST

START_TEST(test_packet_ipv6_ext_headers)
{
    /* hop-by-hop (8 bytes) -> routing (16) -> destination options (8) -> AH (16) -> TCP */
    uint8_t ext[48] = {0};
    ext[0] = 43; /* hop-by-hop: next is routing, length 0 */
    ext[8] = 60; /* routing: next is dest opts, length 1 (16 bytes) */
    ext[9] = 1;
    ext[24] = 51; /* dest opts: next is AH, length 0 */
    ext[32] = 6;  /* AH: next is TCP, length 2 ((2+2)*4 = 16 bytes) */
    ext[33] = 2;
    struct spec s = spec_basic(1, "*1\r\n$4\r\nQUIT\r\n");
    s.ext = ext;
    s.ext_len = sizeof ext;
    s.ext_first = 0;
    uint8_t ip[200], fr[240];
    size_t n = build_ip(ip, &s);
    size_t fl = frame_wrap(fr, F_SLL2, 1, 0, ip, n);
    struct record_packet p;
    ck_assert_int_eq(record_packet_decode(DLT_LINUX_SLL2, fr, fl, fl, 0, &p), RECORD_PKT_OK);
    assert_basic_decoded(&p, &s, "ext");
    /* cut inside the extension headers: truncated at every length */
    for (size_t cl = 20 + 40; cl < 20 + 40 + sizeof ext + 20; cl++)
        ck_assert_int_eq(record_packet_decode(DLT_LINUX_SLL2, fr, cl, fl, 0, &p),
                         RECORD_PKT_TRUNCATED);
    /* a routing header longer than the packet is malformed */
    fr[20 + 40 + 9] = 200;
    ck_assert_int_eq(record_packet_decode(DLT_LINUX_SLL2, fr, fl, fl, 0, &p), RECORD_PKT_MALFORMED);
    fr[20 + 40 + 9] = 1;
    /* no next header, and UDP, are not TCP */
    fr[20 + 40 + 32] = 59;
    ck_assert_int_eq(record_packet_decode(DLT_LINUX_SLL2, fr, fl, fl, 0, &p), RECORD_PKT_NOT_TCP);
    fr[20 + 40 + 32] = 17;
    ck_assert_int_eq(record_packet_decode(DLT_LINUX_SLL2, fr, fl, fl, 0, &p), RECORD_PKT_NOT_TCP);
}
END_TEST

START_TEST(test_packet_fragments_skipped)
{
    struct record_packet p;
    uint8_t ip[128];
    /* IPv4: more-fragments, and a later fragment; a UDP fragment is simply not TCP */
    struct spec s = spec_basic(0, "0123456789");
    s.ip4_frag = 0x2000;
    size_t n = build_ip(ip, &s);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, n, 0, &p), RECORD_PKT_FRAGMENT);
    s.ip4_frag = 0x0010;
    n = build_ip(ip, &s);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, n, 0, &p), RECORD_PKT_FRAGMENT);
    s.ip4_frag = 0x4000; /* don't-fragment alone is no fragment */
    n = build_ip(ip, &s);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, n, 0, &p), RECORD_PKT_OK);
    s.ip4_frag = 0x2000;
    s.proto = 17;
    n = build_ip(ip, &s);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, n, 0, &p), RECORD_PKT_NOT_TCP);
    /* IPv6: a fragment header, behind a hop-by-hop header */
    uint8_t ext[16] = {44, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 9};
    struct spec s6 = spec_basic(1, "0123456789");
    s6.ext = ext;
    s6.ext_len = sizeof ext;
    s6.ext_first = 0;
    n = build_ip(ip, &s6);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, n, 0, &p), RECORD_PKT_FRAGMENT);
    ip[40 + 8] = 17; /* a fragment of UDP */
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, n, 0, &p), RECORD_PKT_NOT_TCP);
}
END_TEST

START_TEST(test_packet_not_tcp)
{
    struct record_packet p;
    uint8_t ip[128], fr[160];
    struct spec s = spec_basic(0, "x");
    s.proto = 17;
    size_t n = build_ip(ip, &s);
    size_t fl = frame_wrap(fr, F_ETH, 0, 0, ip, n);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_NOT_TCP);
    put16(fr + 12, 0x0806); /* ARP */
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_NOT_TCP);
    put16(fr + 12, 0x0040); /* an 802.3 length field */
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_NOT_TCP);
}
END_TEST

/* Every cut of every framing: a frame the capture cut short is TRUNCATED inside the headers
 * and CUT (usable) inside the payload; a frame that was that short on the wire is
 * MALFORMED. */
START_TEST(test_packet_truncated_vs_malformed)
{
    for (int v6 = 0; v6 <= 1; v6++) {
        for (int f = 0; f < F_COUNT; f++) {
            struct spec s = spec_basic(v6, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
            uint8_t ip[256], fr[300];
            size_t n = build_ip(ip, &s);
            size_t fl = frame_wrap(fr, (enum framing)f, v6, 10, ip, n);
            size_t hdr = fl - s.plen;
            int dlt = framing_dlt((enum framing)f, v6);
            for (size_t cl = 0; cl < fl; cl++) {
                /* a buffer of exactly cl bytes, so that ASan sees any over-read */
                uint8_t *b = malloc(cl ? cl : 1);
                memcpy(b, fr, cl);
                struct record_packet p;
                int rc = record_packet_decode(dlt, b, cl, fl, 0, &p);
                if (cl < hdr) {
                    ck_assert_msg(rc == RECORD_PKT_TRUNCATED, "%s v%d cut at %zu: %s",
                                  framing_name[f], v6, cl, record_packet_result_name(rc));
                } else {
                    ck_assert_msg(rc == RECORD_PKT_CUT, "%s cut at %zu: %s", framing_name[f], cl,
                                  record_packet_result_name(rc));
                    ck_assert_uint_eq(p.payload_len, cl - hdr);
                    ck_assert_uint_eq(p.payload_wire, s.plen);
                    ck_assert_uint_eq(p.seq, s.seq);
                }
                rc = record_packet_decode(dlt, b, cl, cl, 0, &p);
                ck_assert_msg(rc == RECORD_PKT_MALFORMED, "%s v%d short at %zu: %s",
                              framing_name[f], v6, cl, record_packet_result_name(rc));
                free(b);
            }
        }
    }
}
END_TEST

START_TEST(test_packet_lengths)
{
    struct record_packet p;
    uint8_t ip[128], fr[160];
    struct spec s = spec_basic(0, "hello");
    size_t n = build_ip(ip, &s);
    /* Ethernet padding and a frame check sequence after the IP packet are not payload */
    size_t fl = frame_wrap(fr, F_ETH, 0, 0, ip, n);
    memset(fr + fl, 0xee, 20);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl + 20, fl + 20, 0, &p), RECORD_PKT_OK);
    ck_assert_uint_eq(p.payload_len, 5);
    /* a TSO send shows total length 0: the frame's length stands for it */
    put16(fr + 14 + 2, 0);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_OK);
    ck_assert_uint_eq(p.payload_len, 5);
    /* an IP length past the wire, or below the header, is malformed */
    put16(fr + 14 + 2, (uint16_t)(n + 1));
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_MALFORMED);
    put16(fr + 14 + 2, 19);
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_MALFORMED);
    put16(fr + 14 + 2, (uint16_t)n);
    /* a TCP data offset below 5 or past the segment is malformed */
    fr[14 + 20 + 12] = 0x40;
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_MALFORMED);
    fr[14 + 20 + 12] = 0xf0;
    ck_assert_int_eq(record_packet_decode(DLT_EN10MB, fr, fl, fl, 0, &p), RECORD_PKT_MALFORMED);
    /* IPv6: a payload length past the wire is malformed, 0 (jumbo, GSO) takes the frame's */
    struct spec s6 = spec_basic(1, "hello");
    n = build_ip(ip, &s6);
    put16(ip + 4, (uint16_t)(n - 40 + 1));
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, n, 0, &p), RECORD_PKT_MALFORMED);
    put16(ip + 4, 0);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, n, 0, &p), RECORD_PKT_OK);
    ck_assert_uint_eq(p.payload_len, 5);
    /* caplen above len (a damaged file) is read as len = caplen; NULL frames are empty */
    ck_assert_int_eq(record_packet_decode(DLT_RAW, ip, n, 3, 0, &p), RECORD_PKT_OK);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, NULL, 0, 0, 0, &p), RECORD_PKT_MALFORMED);
    ck_assert_int_eq(record_packet_decode(DLT_RAW, NULL, 0, 60, 0, &p), RECORD_PKT_TRUNCATED);
}
END_TEST

/* =======================================================================================
 * TCP reassembly: a recording consumer
 * ===================================================================================== */

#define MAXC 16
#define SBUF 65536
#define MAXEV 4096

enum { E_OPEN, E_DATA, E_GAP, E_CLOSE };

struct ev {
    int type;
    uint64_t conn;
    int dir;
    uint64_t n; /* bytes, or open flags, or close reason */
    uint64_t ts;
};

/* What the consumer saw: events, and per connection and direction the stream with each gap
 * byte written as '~'. */
struct rec {
    struct ev ev[MAXEV];
    size_t nev;
    uint8_t s[MAXC][2][SBUF];
    size_t slen[MAXC][2];
    uint64_t gap[MAXC][2];
    uint64_t data[MAXC][2];
    struct trace_addr client[MAXC], server[MAXC];
    int open[MAXC], closed[MAXC];
    const uint8_t *last_p; /* the pointer of the last on_data */
    int user_ok;
};

static void rec_ev(struct rec *r, int type, uint64_t conn, int dir, uint64_t n, uint64_t ts)
{
    ck_assert_uint_lt(r->nev, MAXEV);
    r->ev[r->nev++] = (struct ev){type, conn, dir, n, ts};
}

static void *rec_open(void *ctx, uint64_t conn, const struct trace_addr *client,
                      const struct trace_addr *server, uint32_t flags, uint64_t ts)
{
    struct rec *r = ctx;
    ck_assert_uint_lt(conn, MAXC);
    ck_assert(!r->open[conn]);
    r->open[conn] = 1;
    r->client[conn] = *client;
    r->server[conn] = *server;
    rec_ev(r, E_OPEN, conn, 0, flags, ts);
    return (void *)(uintptr_t)(conn * 1000);
}

static void rec_check(struct rec *r, void *user, uint64_t conn)
{
    ck_assert_uint_lt(conn, MAXC);
    ck_assert(r->open[conn] && !r->closed[conn]);
    ck_assert_ptr_eq(user, (void *)(uintptr_t)(conn * 1000));
}

static void rec_data(void *ctx, void *user, uint64_t conn, enum trace_dir dir, const uint8_t *p,
                     size_t n, uint64_t ts)
{
    struct rec *r = ctx;
    rec_check(r, user, conn);
    ck_assert_uint_gt(n, 0);
    size_t *l = &r->slen[conn][dir];
    if (*l + n <= SBUF)
        memcpy(r->s[conn][dir] + *l, p, n);
    *l += n;
    r->data[conn][dir] += n;
    r->last_p = p;
    rec_ev(r, E_DATA, conn, dir, n, ts);
}

static void rec_gap(void *ctx, void *user, uint64_t conn, enum trace_dir dir, uint64_t bytes,
                    uint64_t ts)
{
    struct rec *r = ctx;
    rec_check(r, user, conn);
    ck_assert_uint_gt(bytes, 0);
    size_t *l = &r->slen[conn][dir];
    if (*l + bytes <= SBUF)
        memset(r->s[conn][dir] + *l, '~', bytes);
    *l += bytes;
    r->gap[conn][dir] += bytes;
    rec_ev(r, E_GAP, conn, dir, bytes, ts);
}

static void rec_close(void *ctx, void *user, uint64_t conn, enum trace_close_reason reason,
                      uint64_t ts)
{
    struct rec *r = ctx;
    rec_check(r, user, conn);
    r->closed[conn] = 1;
    rec_ev(r, E_CLOSE, conn, 0, reason, ts);
}

static const struct tcp_callbacks rec_cb = {rec_open, rec_data, rec_gap, rec_close};

static struct rec *rec_new(void)
{
    struct rec *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    return r;
}

static struct tcp_table *table(struct rec *r, const struct tcp_opts *o)
{
    struct rt_err err = {0};
    struct tcp_table *t = tcp_table_new(o, &rec_cb, r, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

/* The stream seen so far in one direction, as a string (gaps as '~'). */
static const char *stream(struct rec *r, uint64_t conn, int dir)
{
    static char buf[SBUF + 1];
    size_t n = r->slen[conn][dir] < SBUF ? r->slen[conn][dir] : SBUF;
    memcpy(buf, r->s[conn][dir], n);
    buf[n] = 0;
    return buf;
}

/* The last event of a type, or NULL. */
static const struct ev *last_ev(const struct rec *r, int type)
{
    for (size_t i = r->nev; i-- > 0;)
        if (r->ev[i].type == type)
            return &r->ev[i];
    return NULL;
}

/* A segment between the client 10.0.0.1:40000 and the server 10.0.0.2:6379. */
static struct record_packet seg(int from_client, uint32_t seq, uint32_t ack, uint8_t flags,
                                const char *data, uint64_t ts)
{
    struct record_packet p = {0};
    struct trace_addr c = {4, {10, 0, 0, 1}, 40000}, s = {4, {10, 0, 0, 2}, 6379};
    p.ts = ts;
    p.src = from_client ? c : s;
    p.dst = from_client ? s : c;
    p.seq = seq;
    p.ack = ack;
    p.flags = flags;
    p.payload = (const uint8_t *)data;
    p.payload_len = p.payload_wire = data ? strlen(data) : 0;
    return p;
}

#define A RECORD_TCP_ACK
#define SYN RECORD_TCP_SYN
#define FIN RECORD_TCP_FIN
#define RST RECORD_TCP_RST
#define CISN 1000u
#define SISN 5000u

static void in(struct tcp_table *t, struct record_packet p)
{
    ck_assert_int_eq(tcp_table_input(t, &p), 0);
}

/* The three-way handshake: the client's data starts at CISN+1, the server's at SISN+1. */
static void handshake(struct tcp_table *t, uint64_t ts)
{
    in(t, seg(1, CISN, 0, SYN, NULL, ts));
    in(t, seg(0, SISN, CISN + 1, SYN | A, NULL, ts));
    in(t, seg(1, CISN + 1, SISN + 1, A, NULL, ts));
}

static struct tcp_stats stats(const struct tcp_table *t)
{
    struct tcp_stats s;
    tcp_table_stats(t, &s);
    return s;
}

/* =======================================================================================
 * TCP reassembly
 * ===================================================================================== */

START_TEST(test_tcp_in_order_zero_copy)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    handshake(t, 1 * MS);
    const char *req = "*1\r\n$4\r\nPING\r\n";
    struct record_packet p = seg(1, CISN + 1, SISN + 1, A, req, 2 * MS);
    in(t, p);
    ck_assert_ptr_eq(r->last_p, p.payload); /* handed over straight from the packet */
    in(t, seg(0, SISN + 1, CISN + 1 + 14, A, "+PONG\r\n", 3 * MS));
    in(t, seg(1, CISN + 15, SISN + 8, A | FIN, NULL, 4 * MS));
    ck_assert(!r->closed[1]);
    in(t, seg(0, SISN + 8, CISN + 16, A | FIN, NULL, 5 * MS));
    ck_assert_str_eq(stream(r, 1, TRACE_DIR_TO_SERVER), req);
    ck_assert_str_eq(stream(r, 1, TRACE_DIR_TO_CLIENT), "+PONG\r\n");
    ck_assert(r->closed[1]);
    const struct ev *o = &r->ev[0], *c = last_ev(r, E_CLOSE);
    ck_assert_int_eq(o->type, E_OPEN);
    ck_assert_uint_eq(o->n, 0); /* began with a SYN: not mid-stream */
    ck_assert_uint_eq(o->ts, 1 * MS);
    ck_assert_uint_eq(c->n, TRACE_CLOSE_FIN);
    ck_assert_uint_eq(c->ts, 5 * MS);
    ck_assert_uint_eq(r->client[1].port, 40000);
    ck_assert_uint_eq(r->server[1].port, 6379);
    /* the last ACK comes after the close: no ghost connection */
    in(t, seg(1, CISN + 16, SISN + 9, A, NULL, 6 * MS));
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.flows_opened, 1);
    ck_assert_uint_eq(s.flows_active, 0);
    ck_assert_uint_eq(s.bytes_delivered, 14 + 7);
    ck_assert_uint_eq(s.gaps + s.bytes_dup + s.bytes_dropped, 0);
    ck_assert_uint_eq(s.buffered_bytes, 0);
    tcp_table_free(t);
    free(r);
}
END_TEST

/* Five segments, every order of them: always the same stream, no gap. */
START_TEST(test_tcp_out_of_order_every_permutation)
{
    static const char *const part[5] = {"*3\r\n", "$3\r\nSET\r\n", "$1\r\nk", "\r\n$5\r\n",
                                        "value\r\n"};
    uint32_t off[5];
    uint32_t o = 0;
    for (int i = 0; i < 5; i++) {
        off[i] = o;
        o += (uint32_t)strlen(part[i]);
    }
    int perm[5] = {0, 1, 2, 3, 4};
    int count = 0;
    for (;;) {
        struct rec *r = rec_new();
        struct tcp_table *t = table(r, NULL);
        handshake(t, 0);
        for (int i = 0; i < 5; i++)
            in(t, seg(1, CISN + 1 + off[perm[i]], SISN + 1, A, part[perm[i]], 1 + (uint64_t)i));
        ck_assert_str_eq(stream(r, 1, 0), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n");
        struct tcp_stats s = stats(t);
        ck_assert_uint_eq(s.gaps, 0);
        ck_assert_uint_eq(s.buffered_bytes, 0);
        ck_assert_uint_eq(s.bytes_dup, 0);
        tcp_table_free(t);
        free(r);
        count++;
        /* next permutation (lexicographic) */
        int i = 3;
        while (i >= 0 && perm[i] > perm[i + 1])
            i--;
        if (i < 0)
            break;
        int j = 4;
        while (perm[j] < perm[i])
            j--;
        int x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
        for (int a = i + 1, b = 4; a < b; a++, b--) {
            x = perm[a];
            perm[a] = perm[b];
            perm[b] = x;
        }
    }
    ck_assert_int_eq(count, 120);
}
END_TEST

START_TEST(test_tcp_retransmission_deduplicated)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "abcde", 1));
    in(t, seg(1, CISN + 1, SISN + 1, A, "abcde", 2)); /* a retransmission */
    in(t, seg(1, CISN + 6, SISN + 1, A, "fghij", 3));
    in(t, seg(1, CISN + 11, SISN + 1, A, "klm", 4));
    in(t, seg(1, CISN + 6, SISN + 1, A, "fghij", 5)); /* a tail-loss probe, late */
    in(t, seg(1, CISN + 11, SISN + 1, A, "klm", 6));
    ck_assert_str_eq(stream(r, 1, 0), "abcdefghijklm");
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.bytes_dup, 5 + 5 + 3);
    ck_assert_uint_eq(s.bytes_dropped, 0);
    ck_assert_uint_eq(s.gaps, 0);
    /* a held segment sent twice is held once */
    in(t, seg(1, CISN + 20, SISN + 1, A, "uvw", 7));
    in(t, seg(1, CISN + 20, SISN + 1, A, "uvw", 8));
    in(t, seg(1, CISN + 14, SISN + 1, A, "nopqrs", 9));
    ck_assert_str_eq(stream(r, 1, 0), "abcdefghijklmnopqrsuvw");
    ck_assert_uint_eq(stats(t).bytes_dup, 13 + 3);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_overlap_first_copy_wins)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    handshake(t, 0);
    uint32_t b = CISN + 1;
    /* partial overlap with delivered bytes: the tail is new */
    in(t, seg(1, b, SISN + 1, A, "AAAAAAAAAA", 1));     /* [0,10) */
    in(t, seg(1, b + 5, SISN + 1, A, "bbbbbBBBBB", 2)); /* [5,15): 5 new */
    /* held pieces with holes between, then one segment over all of them */
    in(t, seg(1, b + 17, SISN + 1, A, "CC", 3));         /* [17,19) */
    in(t, seg(1, b + 21, SISN + 1, A, "DD", 4));         /* [21,23) */
    in(t, seg(1, b + 21, SISN + 1, A, "dd", 5));         /* full overlap of a held piece */
    in(t, seg(1, b + 16, SISN + 1, A, "eeeeeeeeee", 6)); /* [16,26) */
    ck_assert_str_eq(stream(r, 1, 0), "AAAAAAAAAABBBBB");
    in(t, seg(1, b + 15, SISN + 1, A, "f", 7)); /* fills [15,16) */
    ck_assert_str_eq(stream(r, 1, 0), "AAAAAAAAAABBBBBfeCCeeDDeee");
    /* an in-order segment that runs over a held piece: the held copy wins there */
    in(t, seg(1, b + 30, SISN + 1, A, "HH", 8));         /* [30,32) */
    in(t, seg(1, b + 26, SISN + 1, A, "gggggggggg", 9)); /* [26,36) */
    ck_assert_str_eq(stream(r, 1, 0), "AAAAAAAAAABBBBBfeCCeeDDeeeggggHHgggg");
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.bytes_dup, 5 + 2 + 4 + 2);
    ck_assert_uint_eq(s.buffered_bytes, 0);
    ck_assert_uint_eq(s.gaps, 0);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_sequence_wraparound)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    uint32_t isn = 0xfffffff0u;
    in(t, seg(1, isn, 0, SYN, NULL, 0));
    in(t, seg(0, 7, isn + 1, SYN | A, NULL, 0));
    /* the stream crosses 2^32 at its 15th byte; arrive in reverse, then in order */
    in(t, seg(1, isn + 1 + 20, 8, A, "UVWXY", 1)); /* seq 5 after the wrap */
    in(t, seg(1, isn + 1 + 10, 8, A, "KLMNOPQRST", 2));
    in(t, seg(1, isn + 1, 8, A, "ABCDEFGHIJ", 3));
    in(t, seg(1, isn + 1 + 25, 8, A, "Z", 4));
    in(t, seg(1, isn + 1 + 5, 8, A, "FGHIJ", 5)); /* a retransmission from before the wrap */
    ck_assert_str_eq(stream(r, 1, 0), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.gaps, 0);
    ck_assert_uint_eq(s.bytes_dup, 5);
    in(t, seg(0, 0xffffffffu, 0, SYN | A, NULL, 6)); /* a new SYN-ACK does not restart */
    ck_assert_uint_eq(stats(t).flows_opened, 1);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_midstream_start)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    /* a pure ACK does not start a connection (a keepalive's sequence number lies by one) */
    in(t, seg(0, 7777, 3333, A, NULL, 1));
    ck_assert_uint_eq(stats(t).flows_opened, 0);
    ck_assert_uint_eq(stats(t).segments_ignored, 1);
    /* the server speaks first: the capture began inside the connection */
    in(t, seg(0, 7777, 3333, A, "+OK\r\n", 2));
    ck_assert_int_eq(r->ev[0].type, E_OPEN);
    ck_assert_uint_eq(r->ev[0].n, TRACE_OPEN_MIDSTREAM);
    ck_assert_uint_eq(r->client[1].port, 40000); /* the port list decides, not the sender */
    /* the client's first segment seen places its stream; a pure ACK before it does not */
    in(t, seg(1, 3332, 7782, A, NULL, 3));
    in(t, seg(1, 3333, 7782, A, "*1\r\n", 4));
    in(t, seg(1, 3337, 7782, A, "$4\r\nPING\r\n", 5));
    in(t, seg(1, 3330, 7782, A, "old*1\r\n$4", 6)); /* from before the start on */
    ck_assert_str_eq(stream(r, 1, 0), "*1\r\n$4\r\nPING\r\n");
    ck_assert_str_eq(stream(r, 1, 1), "+OK\r\n");
    ck_assert_uint_eq(stats(t).gaps, 0);
    tcp_table_flush(t, 10);
    ck_assert_uint_eq(last_ev(r, E_CLOSE)->n, TRACE_CLOSE_END);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_syn_start)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    /* a SYN carrying data (TCP Fast Open): the data starts at ISN+1 */
    in(t, seg(1, CISN, 0, SYN, "*1\r\n", 1));
    in(t, seg(0, SISN, CISN + 5, SYN | A, NULL, 2));
    in(t, seg(1, CISN, 0, SYN, "*1\r\n", 3)); /* the SYN again: a copy, not a new connection */
    in(t, seg(1, CISN + 5, SISN + 1, A, "$4\r\nPING\r\n", 4));
    in(t, seg(0, SISN + 1, CISN + 15, A, "+PONG\r\n", 5));
    ck_assert_str_eq(stream(r, 1, 0), "*1\r\n$4\r\nPING\r\n");
    ck_assert_str_eq(stream(r, 1, 1), "+PONG\r\n");
    ck_assert_uint_eq(r->ev[0].n, 0);
    ck_assert_uint_eq(stats(t).flows_opened, 1);
    /* a server segment before the SYN-ACK's ISN+1 is old: the SYN placed the stream */
    in(t, seg(0, SISN - 3, CISN + 15, A, "xyz", 6));
    ck_assert_str_eq(stream(r, 1, 1), "+PONG\r\n");
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_server_side)
{
    struct record_ports ports = {{7000}, 1};
    struct tcp_opts o = {.ports = &ports};
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, &o);
    struct record_packet p = seg(1, 1, 0, A, "x", 1);
    /* the port in the list is the server's, whoever sends first */
    p.src.port = 7000;
    p.dst.port = 50000;
    in(t, p);
    ck_assert_uint_eq(r->server[1].port, 7000);
    /* neither in the list: a SYN's sender is the client, a SYN-ACK's the server */
    p = seg(1, 1, 0, SYN, NULL, 2);
    p.src.port = 80;
    p.dst.port = 50001;
    in(t, p);
    ck_assert_uint_eq(r->client[2].port, 80);
    p = seg(1, 1, 2, SYN | A, NULL, 3);
    p.src.port = 50002;
    p.dst.port = 81;
    in(t, p);
    ck_assert_uint_eq(r->server[3].port, 50002);
    /* neither, no SYN: the lower port; both in the list: the same rules */
    p = seg(1, 1, 0, A, "x", 4);
    p.src.port = 82;
    p.dst.port = 50003;
    in(t, p);
    ck_assert_uint_eq(r->server[4].port, 82);
    ck_assert_uint_eq(r->ev[r->nev - 2].n, TRACE_OPEN_MIDSTREAM);
    struct record_ports both = {{7000, 7001}, 2};
    o.ports = &both;
    struct rec *r2 = rec_new();
    struct tcp_table *t2 = table(r2, &o);
    p.src.port = 7001;
    p.dst.port = 7000;
    in(t2, p);
    ck_assert_uint_eq(r2->server[1].port, 7000);
    /* ids go up from 1 */
    ck_assert_uint_eq(stats(t).flows_opened, 4);
    for (size_t i = 0, id = 1; i < r->nev; i++)
        if (r->ev[i].type == E_OPEN)
            ck_assert_uint_eq(r->ev[i].conn, id++);
    tcp_table_free(t);
    tcp_table_free(t2);
    free(r);
    free(r2);
}
END_TEST

START_TEST(test_tcp_gap_after_direction_cap)
{
    struct tcp_opts o = {.max_buffer_dir = 3000};
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, &o);
    handshake(t, 0);
    static char k[1001];
    memset(k, 'k', 1000);
    in(t, seg(1, CISN + 1, SISN + 1, A, "0123456789", 1));
    /* 10 bytes missing at [10,20), then 1000-byte segments: the third passes the cap */
    in(t, seg(1, CISN + 21, SISN + 1, A, k, 2));
    in(t, seg(1, CISN + 1021, SISN + 1, A, k, 3));
    ck_assert_uint_eq(r->gap[1][0], 0);
    in(t, seg(1, CISN + 2021, SISN + 1, A, k, 4));
    ck_assert_uint_eq(r->gap[1][0], 10);
    ck_assert_uint_eq(r->data[1][0], 10 + 3000);
    const struct ev *g = last_ev(r, E_GAP);
    ck_assert_uint_eq(g->ts, 4);
    ck_assert_uint_eq(stats(t).holes_by_cap, 1);
    ck_assert_uint_eq(stats(t).buffered_bytes, 0);
    /* the stream goes on after the gap */
    in(t, seg(1, CISN + 3021, SISN + 1, A, "end", 5));
    ck_assert_uint_eq(r->slen[1][0], 3023);
    ck_assert_int_eq(memcmp(r->s[1][0] + 3020, "end", 3), 0);
    ck_assert_int_eq(memcmp(r->s[1][0], "0123456789~~~~~~~~~~kkk", 23), 0);
    /* the missing bytes arriving now are late: dropped and counted */
    in(t, seg(1, CISN + 11, SISN + 1, A, "abcdefghij", 6));
    ck_assert_uint_eq(stats(t).bytes_dropped, 10);
    ck_assert_uint_eq(stats(t).bytes_dup, 0);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_gap_after_timeout)
{
    struct tcp_opts o = {.hole_timeout_ns = 1 * SEC};
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, &o);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "ab", 1 * MS));
    in(t, seg(1, CISN + 5, SISN + 1, A, "ef", 2 * MS));   /* [2,4) missing */
    in(t, seg(1, CISN + 9, SISN + 1, A, "ij", 900 * MS)); /* [6,8) missing */
    /* another connection's packets move time on: the first hole (known since 2 ms) goes */
    struct record_packet p = seg(1, 1, 0, SYN, NULL, 1200 * MS);
    p.src.port = 40001;
    in(t, p);
    ck_assert_str_eq(stream(r, 1, 0), "ab~~ef");
    ck_assert_uint_eq(last_ev(r, E_GAP)->ts, 1200 * MS);
    /* the second hole is known since 900 ms: expire() at 1.9 s takes it */
    tcp_table_expire(t, 1899 * MS);
    ck_assert_str_eq(stream(r, 1, 0), "ab~~ef");
    tcp_table_expire(t, 1900 * MS);
    ck_assert_str_eq(stream(r, 1, 0), "ab~~ef~~ij");
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.holes_by_time, 2);
    ck_assert_uint_eq(s.gaps, 2);
    ck_assert_uint_eq(s.gap_bytes, 4);
    ck_assert_uint_eq(s.buffered_bytes, 0);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_gap_after_fin)
{
    struct tcp_opts o = {.hole_timeout_ns = 1 * SEC};
    /* the hole before a FIN is never filled: a gap when the time bound passes, then the
     * close */
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, &o);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "0123", 1 * MS));
    in(t, seg(1, CISN + 9, SISN + 1, A | FIN, "89", 2 * MS)); /* [4,8) missing */
    in(t, seg(0, SISN + 1, CISN + 5, A | FIN, NULL, 3 * MS));
    ck_assert(!r->closed[1]);
    tcp_table_expire(t, 1100 * MS);
    ck_assert_str_eq(stream(r, 1, 0), "0123~~~~89");
    ck_assert(r->closed[1]);
    ck_assert_uint_eq(last_ev(r, E_CLOSE)->n, TRACE_CLOSE_FIN);
    tcp_table_free(t);
    free(r);
    /* the missing segment comes after the FIN: no gap at all */
    r = rec_new();
    t = table(r, &o);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "0123", 1 * MS));
    in(t, seg(1, CISN + 9, SISN + 1, A | FIN, "89", 2 * MS));
    in(t, seg(0, SISN + 1, CISN + 5, A | FIN, NULL, 3 * MS));
    in(t, seg(1, CISN + 5, SISN + 2, A, "4567", 4 * MS));
    ck_assert_str_eq(stream(r, 1, 0), "0123456789");
    ck_assert(r->closed[1]);
    ck_assert_uint_eq(stats(t).gaps, 0);
    tcp_table_free(t);
    free(r);
    /* bytes past a FIN are not part of the stream */
    r = rec_new();
    t = table(r, &o);
    handshake(t, 0);
    in(t, seg(1, CISN + 5, SISN + 1, A | FIN, "4567", 1 * MS)); /* held, FIN at 8 */
    in(t, seg(1, CISN + 1, SISN + 1, A, "0123456789", 2 * MS)); /* runs past it */
    ck_assert_str_eq(stream(r, 1, 0), "01234567");
    ck_assert_uint_eq(stats(t).bytes_dup, 2 + 4);
    in(t, seg(1, CISN + 3, SISN + 1, A, "23456", 3 * MS)); /* after the end */
    ck_assert_str_eq(stream(r, 1, 0), "01234567");
    ck_assert_uint_eq(stats(t).bytes_dup, 2 + 4 + 5);
    tcp_table_free(t);
    free(r);
    /* bytes missing right before a FIN, with nothing held: also a gap, on flush */
    r = rec_new();
    t = table(r, &o);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "01", 1 * MS));
    in(t, seg(1, CISN + 5, SISN + 1, A | FIN, NULL, 2 * MS));
    tcp_table_flush(t, 3 * MS);
    ck_assert_str_eq(stream(r, 1, 0), "01~~");
    ck_assert_uint_eq(last_ev(r, E_CLOSE)->n, TRACE_CLOSE_END);
    ck_assert_uint_eq(stats(t).holes_by_close, 1);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_gap_on_ack_past_hole)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "0123", 1));
    in(t, seg(1, CISN + 9, SISN + 1, A, "89", 2));
    in(t, seg(1, CISN + 11, SISN + 1, A, "ab", 3));
    /* the server acknowledges up to 6: [4,6) reached it but not the capture */
    in(t, seg(0, SISN + 1, CISN + 7, A, NULL, 4));
    ck_assert_str_eq(stream(r, 1, 0), "0123~~");
    /* then past the rest of the hole and the held bytes */
    in(t, seg(0, SISN + 1, CISN + 13, A, NULL, 5));
    ck_assert_str_eq(stream(r, 1, 0), "0123~~~~89ab");
    ck_assert_uint_eq(stats(t).holes_by_ack, 2);
    /* an acknowledgement with nothing held changes nothing */
    in(t, seg(0, SISN + 1, CISN + 20, A, NULL, 6));
    ck_assert_uint_eq(r->slen[1][0], 12);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_rst_closes)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "abc", 1));
    in(t, seg(1, CISN + 6, SISN + 1, A, "fg", 2)); /* [3,5) missing */
    in(t, seg(0, SISN + 1, CISN + 4, A | RST, NULL, 3));
    ck_assert_str_eq(stream(r, 1, 0), "abc~~fg");
    ck_assert(r->closed[1]);
    const struct ev *c = last_ev(r, E_CLOSE);
    ck_assert_uint_eq(c->n, TRACE_CLOSE_RST);
    ck_assert_uint_eq(c->ts, 3);
    ck_assert_uint_eq(stats(t).flows_active, 0);
    /* what the other side still sends is a late copy, not a new connection */
    in(t, seg(1, CISN + 8, SISN + 1, A, "more", 4));
    in(t, seg(1, CISN + 8, SISN + 1, RST, NULL, 5));
    ck_assert_uint_eq(stats(t).flows_opened, 1);
    ck_assert_uint_eq(stats(t).segments_ignored, 2);
    /* a new SYN on the same four-tuple is a new connection */
    in(t, seg(1, 9000, 0, SYN, NULL, 6));
    ck_assert_uint_eq(stats(t).flows_opened, 2);
    ck_assert(r->open[2]);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_syn_reuses_four_tuple)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "old", 1));
    /* the close was not seen; a new handshake on the same ports */
    in(t, seg(1, 90000, 0, SYN, NULL, 2));
    ck_assert(r->closed[1]);
    ck_assert_uint_eq(last_ev(r, E_CLOSE)->n, TRACE_CLOSE_IDLE);
    ck_assert(r->open[2]);
    in(t, seg(0, 777, 90001, SYN | A, NULL, 3));
    in(t, seg(1, 90001, 778, A, "new", 4));
    ck_assert_str_eq(stream(r, 2, 0), "new");
    ck_assert_str_eq(stream(r, 1, 0), "old");
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_idle_eviction)
{
    struct tcp_opts o = {.idle_timeout_ns = 10 * SEC, .hole_timeout_ns = 100 * SEC};
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, &o);
    handshake(t, 0);
    in(t, seg(1, CISN + 1, SISN + 1, A, "ab", 1 * SEC));
    in(t, seg(1, CISN + 5, SISN + 1, A, "ef", 2 * SEC)); /* a hole, held bytes */
    /* a second connection, active later */
    struct record_packet p = seg(1, 50, 0, A, "x", 5 * SEC);
    p.src.port = 40001;
    in(t, p);
    tcp_table_expire(t, 11 * SEC);
    ck_assert(!r->closed[1]); /* idle 9 s: not yet */
    tcp_table_expire(t, 0);   /* a clock behind the packets changes nothing */
    ck_assert(!r->closed[1] && !r->closed[2]);
    /* time passes by the other connection's packets only */
    p = seg(1, 51, 0, A, "y", 12 * SEC);
    p.src.port = 40001;
    in(t, p);
    ck_assert(r->closed[1]);
    ck_assert(!r->closed[2]);
    const struct ev *c = last_ev(r, E_CLOSE);
    ck_assert_uint_eq(c->n, TRACE_CLOSE_IDLE);
    ck_assert_uint_eq(c->ts, 12 * SEC);
    ck_assert_str_eq(stream(r, 1, 0), "ab~~ef"); /* what it held came out first */
    ck_assert_uint_eq(stats(t).holes_by_close, 1);
    tcp_table_expire(t, 22 * SEC);
    ck_assert(r->closed[2]);
    ck_assert_uint_eq(stats(t).flows_active, 0);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_flow_cap)
{
    struct tcp_opts o = {.max_flows = 2};
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, &o);
    for (int i = 0; i < 3; i++) {
        struct record_packet p = seg(1, 1, 0, A, "abcd", 1);
        p.src.port = (uint16_t)(40000 + i);
        ck_assert_int_eq(tcp_table_input(t, &p), i < 2 ? 0 : RT_ELIMIT);
    }
    struct record_packet p3 = seg(1, 5, 0, A, "efgh", 2);
    p3.src.port = 40002;
    ck_assert_int_eq(tcp_table_input(t, &p3), RT_ELIMIT);
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.flows_dropped, 1); /* one flow, however many packets */
    ck_assert_uint_eq(s.bytes_dropped, 8);
    ck_assert_uint_eq(s.flows_active, 2);
    /* a flow ends; the refused one is picked up mid-stream */
    struct record_packet f = seg(1, 5, 0, A | RST, NULL, 3);
    in(t, f);
    p3.seq = 9;
    p3.ts = 4;
    in(t, p3);
    ck_assert(r->open[3]);
    ck_assert_uint_eq(r->ev[r->nev - 2].n, TRACE_OPEN_MIDSTREAM);
    ck_assert_str_eq(stream(r, 3, 0), "efgh");
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_memory_cap)
{
    struct tcp_opts o = {.max_buffer_total = 3000};
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, &o);
    static char k[1001];
    memset(k, 'k', 1000);
    /* two connections, each with a hole and held bytes */
    for (int c = 0; c < 2; c++) {
        struct record_packet p = seg(1, 100, 0, A, "a", 1);
        p.src.port = (uint16_t)(40000 + c);
        in(t, p);
        p = seg(1, 111, 0, A, k, 2);
        p.src.port = (uint16_t)(40000 + c);
        in(t, p);
    }
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.holes_by_memory, 0);
    ck_assert_uint_le(s.buffered_bytes, 3000);
    /* one more held segment would pass the cap: its connection gives up on its hole */
    struct record_packet p = seg(1, 1111, 0, A, k, 3);
    p.src.port = 40001;
    in(t, p);
    s = stats(t);
    ck_assert_uint_eq(s.holes_by_memory, 1);
    ck_assert_uint_le(s.buffered_peak, 3000);
    ck_assert_uint_eq(r->gap[2][0], 10);
    ck_assert_uint_eq(r->data[2][0], 2001);
    ck_assert_uint_eq(r->gap[1][0], 0); /* the other connection still waits */
    /* a segment larger than the whole cap is never held: it comes after a gap at once */
    static char big[4001];
    memset(big, 'b', 4000);
    p = seg(1, 3111, 0, A, big, 4);
    p.src.port = 40001;
    in(t, p);
    ck_assert_uint_eq(r->data[2][0], 2001 + 4000);
    ck_assert_uint_eq(r->gap[2][0], 10 + 1000);
    ck_assert_uint_eq(stats(t).holes_by_memory, 2);
    /* what was missing arrives now: late, dropped and counted */
    p = seg(1, 2200, 0, A, big, 5);
    p.src.port = 40001;
    in(t, p);
    s = stats(t);
    ck_assert_uint_eq(s.bytes_dropped, 3111 - 2200);
    ck_assert_uint_eq(s.bytes_dup, 4000 - (3111 - 2200));
    ck_assert_uint_le(s.buffered_peak, 3000);
    tcp_table_flush(t, 6);
    ck_assert_uint_eq(stats(t).buffered_bytes, 0);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_cut_payload_is_a_gap)
{
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    handshake(t, 0);
    struct record_packet p = seg(1, CISN + 1, SISN + 1, A, "abcdefgh", 1);
    p.payload_len = 3; /* the snap length kept 3 of 8 bytes */
    in(t, p);
    ck_assert_str_eq(stream(r, 1, 0), "abc~~~~~");
    /* a cut segment held out of order: its missing tail comes out as a gap in its place */
    p = seg(1, CISN + 13, SISN + 1, A, "mnopqr", 2);
    p.payload_len = 2;
    in(t, p);
    in(t, seg(1, CISN + 9, SISN + 1, A, "ijkl", 3));
    in(t, seg(1, CISN + 19, SISN + 1, A, "st", 4));
    ck_assert_str_eq(stream(r, 1, 0), "abc~~~~~ijklmn~~~~st");
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.payload_cut, 9);
    ck_assert_uint_eq(s.gap_bytes, 9);
    ck_assert_uint_eq(s.holes_by_ack + s.holes_by_cap + s.holes_by_time, 0);
    tcp_table_free(t);
    free(r);
}
END_TEST

START_TEST(test_tcp_free_with_held_data)
{
    /* freeing a table that holds connections and out-of-order bytes calls nothing and leaks
     * nothing (the sanitizer build checks the latter) */
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, NULL);
    handshake(t, 0);
    in(t, seg(1, CISN + 10, SISN + 1, A, "held", 1));
    in(t, seg(0, SISN + 10, CISN + 1, A, "held too", 2));
    size_t nev = r->nev;
    ck_assert_uint_gt(stats(t).buffered_bytes, 0);
    tcp_table_free(t);
    ck_assert_uint_eq(r->nev, nev);
    tcp_table_free(NULL);
    free(r);
}
END_TEST

/* A consumer that only counts, for tables with more connections than struct rec holds. */
#define MANY 3000

struct tally {
    uint64_t bytes[MANY + 1];
    uint16_t port[MANY + 1];
    uint64_t opened, closed;
};

static void *tally_open(void *ctx, uint64_t conn, const struct trace_addr *client,
                        const struct trace_addr *server, uint32_t flags, uint64_t ts)
{
    struct tally *y = ctx;
    (void)server, (void)flags, (void)ts;
    ck_assert_uint_le(conn, MANY);
    y->port[conn] = client->port;
    y->opened++;
    return NULL;
}

static void tally_data(void *ctx, void *user, uint64_t conn, enum trace_dir dir, const uint8_t *p,
                       size_t n, uint64_t ts)
{
    struct tally *y = ctx;
    (void)user, (void)dir, (void)ts;
    /* every payload names its client port: bytes delivered to the wrong connection show */
    char want[16];
    snprintf(want, sizeof want, "%05u", y->port[conn]);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(p, want, 5), 0);
    y->bytes[conn] += n;
}

static void tally_close(void *ctx, void *user, uint64_t conn, enum trace_close_reason reason,
                        uint64_t ts)
{
    struct tally *y = ctx;
    (void)user, (void)conn, (void)reason, (void)ts;
    y->closed++;
}

/* Thousands of connections: the hash table grows, and every segment still finds its own. */
START_TEST(test_tcp_many_flows)
{
    struct tally *y = calloc(1, sizeof *y);
    struct tcp_callbacks cb = {tally_open, tally_data, NULL, tally_close};
    struct tcp_opts o = {.max_flows = 2 * MANY};
    struct tcp_table *t = tcp_table_new(&o, &cb, y, NULL);
    ck_assert_ptr_nonnull(t);
    char pay[MANY][8];
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < MANY; k++) {
            int i = round ? MANY - 1 - k : k; /* the second round in reverse */
            uint16_t port = (uint16_t)(20000 + i);
            snprintf(pay[i], sizeof pay[i], "%05u", port);
            struct record_packet p = seg(1, 100 + 5 * (uint32_t)round, 0, A, pay[i], 1);
            p.src.port = port;
            p.src.addr[2] = (uint8_t)(i & 7); /* and a few client addresses */
            in(t, p);
        }
    }
    ck_assert_uint_eq(stats(t).flows_active, MANY);
    for (int c = 1; c <= MANY; c++)
        ck_assert_uint_eq(y->bytes[c], 10);
    tcp_table_flush(t, 2);
    ck_assert_uint_eq(y->closed, MANY);
    ck_assert_uint_eq(stats(t).flows_active, 0);
    tcp_table_free(t);
    free(y);
}
END_TEST

/* A small deterministic generator (xorshift64*), so that a failure can be replayed. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 33) % n;
}

struct piece {
    uint32_t off, len;
};

/* Random streams cut into random segments, reordered within a window, duplicated,
 * retransmitted over their neighbours, and (in some rounds) lost, under loose and tight
 * caps: every byte delivered is the stream's byte at that offset, data and gaps add up to the
 * stream's length, and without loss there is no gap. */
START_TEST(test_tcp_random_reorder_dup_overlap)
{
    enum { ROUNDS = 60, MAXN = 40000, MAXP = 4 * MAXN };
    static uint8_t src[MAXN];
    static struct piece pc[MAXP];
    for (int round = 0; round < ROUNDS; round++) {
        int lossy = round % 3 != 0, tight = round % 3 == 2;
        uint32_t n = 20000 + rnd(MAXN - 20000);
        for (uint32_t i = 0; i < n; i++)
            src[i] = (uint8_t)('a' + rnd(26));
        uint32_t isn = round % 4 == 0 ? 0xffffffffu - rnd(30000) : rnd(UINT32_MAX);
        size_t np = 0;
        for (uint32_t o = 0; o < n;) {
            uint32_t len = 1 + rnd(1400);
            if (len > n - o)
                len = n - o;
            if (!(lossy && rnd(100) < 3))
                pc[np++] = (struct piece){o, len};
            if (rnd(100) < 10)
                pc[np++] = (struct piece){o, len};
            if (rnd(100) < 10) { /* a retransmission over the neighbours */
                uint32_t lo = o > 300 ? o - rnd(300) : 0, hi = o + len + rnd(300);
                pc[np++] = (struct piece){lo, (hi > n ? n : hi) - lo};
            }
            o += len;
        }
        for (size_t i = 0; i + 1 < np; i++) { /* reorder within a window of 8 */
            size_t j = i + rnd(8);
            if (j >= np)
                j = np - 1;
            struct piece x = pc[i];
            pc[i] = pc[j];
            pc[j] = x;
        }
        struct tcp_opts o = {0};
        if (tight) {
            o.max_buffer_dir = 6000;
            o.max_buffer_total = 9000;
            o.hole_timeout_ns = 50;
        }
        struct rec *r = rec_new();
        struct tcp_table *t = table(r, &o);
        in(t, seg(1, isn, 0, SYN, NULL, 0));
        for (size_t i = 0; i < np; i++) {
            struct record_packet p = seg(1, isn + 1 + pc[i].off, 0, 0, NULL, 1 + i);
            p.payload = src + pc[i].off;
            p.payload_len = p.payload_wire = pc[i].len;
            in(t, p);
            ck_assert_uint_le(stats(t).buffered_bytes, tight ? 9000 : 1u << 30);
        }
        in(t, seg(1, isn + 1 + n, 0, FIN, NULL, np + 1));
        tcp_table_flush(t, np + 2);
        ck_assert_msg(r->slen[1][0] == n, "round %d: %zu bytes of %u", round, r->slen[1][0], n);
        for (uint32_t i = 0; i < n; i++)
            ck_assert_msg(r->s[1][0][i] == '~' || r->s[1][0][i] == src[i],
                          "round %d: byte %u differs", round, i);
        if (!lossy)
            ck_assert_msg(r->gap[1][0] == 0, "round %d: a gap without loss", round);
        struct tcp_stats s = stats(t);
        ck_assert_uint_eq(s.buffered_bytes, 0);
        ck_assert_uint_eq(s.bytes_delivered, r->data[1][0]);
        ck_assert_uint_eq(s.gap_bytes, r->gap[1][0]);
        tcp_table_free(t);
        free(r);
    }
}
END_TEST

/* Segments written with pcap_dump() and read back through libpcap, for three link types:
 * the decoder and the table together, over the real file path. */
START_TEST(test_tcp_pcap_file_roundtrip)
{
    static const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_NULL};
    static const enum framing fr_of[] = {F_ETH_VLAN, F_SLL, F_NULL_LE};
    const char *tmp = getenv("RT_TEST_TMP");
    for (size_t k = 0; k < 3; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/check_tcp_%d_%zu.pcap", tmp ? tmp : "/tmp", (int)getpid(),
                 k);
        pcap_t *dead = pcap_open_dead(dlts[k], 65535);
        pcap_dumper_t *dump = pcap_dump_open(dead, path);
        ck_assert_ptr_nonnull(dump);
        static const char *const parts[] = {"*2\r\n$3\r\nGET", "\r\n$3\r\nkey\r\n", "$-1\r\n"};
        struct spec ss[5];
        ss[0] = spec_basic(0, NULL);
        ss[0].flags = SYN;
        ss[0].seq = 99;
        ss[1] = spec_basic(0, parts[1]); /* out of order */
        ss[1].seq = 100 + 11;
        ss[2] = spec_basic(0, parts[0]);
        ss[2].seq = 100;
        ss[3] = spec_basic(0, parts[0]); /* retransmitted */
        ss[3].seq = 100;
        ss[4] = spec_basic(0, parts[2]); /* the reply */
        memcpy(ss[4].src, B4, 16);
        memcpy(ss[4].dst, A4, 16);
        ss[4].sport = 6379;
        ss[4].dport = 40000;
        ss[4].seq = 7;
        ss[4].ack = 100 + 22;
        for (int i = 0; i < 5; i++) {
            uint8_t ip[256], fr[300];
            size_t n = build_ip(ip, &ss[i]);
            size_t fl = frame_wrap(fr, fr_of[k], 0, 0, ip, n);
            struct pcap_pkthdr h = {{1700000000, i * 1000}, (bpf_u_int32)fl, (bpf_u_int32)fl};
            pcap_dump((u_char *)dump, &h, fr);
        }
        pcap_dump_close(dump);
        pcap_close(dead);

        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t *pc =
            pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
        ck_assert_msg(pc != NULL, "%s", errbuf);
        struct rec *r = rec_new();
        struct tcp_table *t = table(r, NULL);
        struct pcap_pkthdr *h;
        const u_char *data;
        while (pcap_next_ex(pc, &h, &data) == 1) {
            struct record_packet p;
            uint64_t ts = (uint64_t)h->ts.tv_sec * SEC + (uint64_t)h->ts.tv_usec;
            int rc = record_packet_decode(pcap_datalink(pc), data, h->caplen, h->len, ts, &p);
            ck_assert_int_eq(rc, RECORD_PKT_OK);
            in(t, p);
        }
        pcap_close(pc);
        unlink(path);
        ck_assert_str_eq(stream(r, 1, 0), "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
        ck_assert_str_eq(stream(r, 1, 1), "$-1\r\n");
        ck_assert_uint_eq(r->ev[0].ts, 1700000000ull * SEC);
        ck_assert_uint_eq(stats(t).bytes_dup, 11);
        tcp_table_flush(t, 2000000000ull * SEC);
        tcp_table_free(t);
        free(r);
    }
}
END_TEST

/* ---- real captures ------------------------------------------------------------------- */

/* The payload of one direction of one four-tuple, as the union of the sequence ranges seen:
 * an independent count of the unique bytes, to hold the reassembler's output against. */
struct uniq {
    struct trace_addr src, dst;
    uint32_t base;
    size_t n;
    int64_t lo[4096], hi[4096];
};

static uint64_t uniq_bytes(const struct uniq *u)
{
    /* sort the ranges by start (insertion sort: a few hundred at most), then merge */
    int64_t lo[4096], hi[4096];
    size_t n = u->n;
    memcpy(lo, u->lo, n * sizeof lo[0]);
    memcpy(hi, u->hi, n * sizeof hi[0]);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && lo[j - 1] > lo[j]; j--) {
            int64_t a = lo[j], b = hi[j];
            lo[j] = lo[j - 1];
            hi[j] = hi[j - 1];
            lo[j - 1] = a;
            hi[j - 1] = b;
        }
    uint64_t total = 0;
    int64_t cur = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t a = lo[i] > cur ? lo[i] : cur;
        if (hi[i] > a)
            total += (uint64_t)(hi[i] - a);
        if (hi[i] > cur)
            cur = hi[i];
    }
    return total;
}

static int addr_same(const struct trace_addr *a, const struct trace_addr *b)
{
    return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

static void check_capture(const char *path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    ck_assert_msg(pc != NULL, "%s: %s", path, errbuf);
    struct record_ports ports = {{6379, 10625}, 2};
    struct tcp_opts o = {.ports = &ports};
    struct rec *r = rec_new();
    struct tcp_table *t = table(r, &o);
    static struct uniq u[32];
    size_t nu = 0;
    struct pcap_pkthdr *h;
    const u_char *data;
    size_t packets = 0;
    while (pcap_next_ex(pc, &h, &data) == 1) {
        struct record_packet p;
        uint64_t ts = (uint64_t)h->ts.tv_sec * SEC + (uint64_t)h->ts.tv_usec;
        int rc = record_packet_decode(pcap_datalink(pc), data, h->caplen, h->len, ts, &p);
        ck_assert_msg(rc == RECORD_PKT_OK || rc == RECORD_PKT_NOT_TCP, "%s: packet %zu: %s", path,
                      packets, record_packet_result_name(rc));
        packets++;
        if (rc != RECORD_PKT_OK)
            continue;
        tcp_table_input(t, &p);
        if (p.payload_wire == 0)
            continue;
        size_t i = 0;
        while (i < nu && !(addr_same(&u[i].src, &p.src) && addr_same(&u[i].dst, &p.dst)))
            i++;
        if (i == nu) {
            ck_assert_uint_lt(nu, 32);
            u[nu].src = p.src;
            u[nu].dst = p.dst;
            u[nu].base = p.seq;
            u[nu].n = 0;
            nu++;
        }
        uint32_t seq = p.seq + ((p.flags & RECORD_TCP_SYN) ? 1u : 0u);
        int64_t lo = (int32_t)(seq - u[i].base);
        ck_assert_uint_lt(u[i].n, 4096);
        u[i].lo[u[i].n] = lo;
        u[i].hi[u[i].n] = lo + (int64_t)p.payload_len;
        u[i].n++;
    }
    pcap_close(pc);
    tcp_table_flush(t, UINT64_MAX / 2);
    ck_assert_msg(packets > 0, "%s: no packets", path);
    /* per four-tuple and direction: what the table delivered = the unique payload bytes */
    for (size_t i = 0; i < nu; i++) {
        uint64_t got = 0;
        int first_checked = 0;
        for (uint64_t c = 1; c < MAXC && r->open[c]; c++) {
            for (int d = 0; d < 2; d++) {
                const struct trace_addr *from = d == 0 ? &r->client[c] : &r->server[c];
                const struct trace_addr *to = d == 0 ? &r->server[c] : &r->client[c];
                if (!addr_same(from, &u[i].src) || !addr_same(to, &u[i].dst))
                    continue;
                got += r->data[c][d];
                if (d == 0 && r->data[c][d] > 0 && !first_checked) {
                    uint8_t b = r->s[c][d][0];
                    ck_assert_msg(b == '*' || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z'),
                                  "%s: conn %llu: client stream starts with 0x%02x", path,
                                  (unsigned long long)c, b);
                    first_checked = 1;
                }
            }
        }
        ck_assert_msg(got == uniq_bytes(&u[i]), "%s: stream %zu: delivered %llu, unique %llu", path,
                      i, (unsigned long long)got, (unsigned long long)uniq_bytes(&u[i]));
    }
    struct tcp_stats s = stats(t);
    ck_assert_uint_eq(s.gaps, 0);
    ck_assert_uint_eq(s.flows_active, 0);
    ck_assert_uint_eq(s.buffered_bytes, 0);
    printf("  %s: %zu packets, %llu connections, %llu bytes, %llu duplicate\n",
           strrchr(path, '/') ? strrchr(path, '/') + 1 : path, packets,
           (unsigned long long)s.flows_opened, (unsigned long long)s.bytes_delivered,
           (unsigned long long)s.bytes_dup);
    tcp_table_free(t);
    free(r);
}

/* The Zeek project's Redis captures (real clients and servers), when RT_ZEEK_FIXTURES names
 * their directory; they are not committed, so the test says so and passes without them. */
START_TEST(test_tcp_zeek_fixtures)
{
    const char *dir = getenv("RT_ZEEK_FIXTURES");
    if (!dir || !*dir) {
        printf("test_tcp_zeek_fixtures: RT_ZEEK_FIXTURES is not set: skipped\n");
        return;
    }
    struct dirent **names;
    int nn = scandir(dir, &names, NULL, alphasort);
    ck_assert_msg(nn >= 0, "RT_ZEEK_FIXTURES=%s: cannot open", dir);
    int n = 0;
    for (int i = 0; i < nn; i++) {
        const char *name = names[i]->d_name;
        size_t l = strlen(name);
        if ((l > 5 && strcmp(name + l - 5, ".pcap") == 0) ||
            (l > 7 && strcmp(name + l - 7, ".pcapng") == 0)) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, name);
            check_capture(path);
            n++;
        }
        free(names[i]);
    }
    free(names);
    ck_assert_msg(n > 0, "RT_ZEEK_FIXTURES=%s: no captures", dir);
    printf("test_tcp_zeek_fixtures: %d captures checked\n", n);
}
END_TEST

Suite *tcp_suite(void)
{
    Suite *s = suite_create("tcp");
    TCase *p = tcase_create("packet");
    tcase_add_test(p, test_packet_every_link_type);
    tcase_add_test(p, test_packet_vlan_tags);
    tcase_add_test(p, test_packet_loopback_byte_orders);
    tcase_add_test(p, test_packet_raw_link_types);
    tcase_add_test(p, test_packet_ipv4_options);
    tcase_add_test(p, test_packet_ipv6_ext_headers);
    tcase_add_test(p, test_packet_fragments_skipped);
    tcase_add_test(p, test_packet_not_tcp);
    tcase_add_test(p, test_packet_truncated_vs_malformed);
    tcase_add_test(p, test_packet_lengths);
    suite_add_tcase(s, p);
    TCase *t = tcase_create("reassembly");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_tcp_in_order_zero_copy);
    tcase_add_test(t, test_tcp_out_of_order_every_permutation);
    tcase_add_test(t, test_tcp_retransmission_deduplicated);
    tcase_add_test(t, test_tcp_overlap_first_copy_wins);
    tcase_add_test(t, test_tcp_sequence_wraparound);
    tcase_add_test(t, test_tcp_midstream_start);
    tcase_add_test(t, test_tcp_syn_start);
    tcase_add_test(t, test_tcp_server_side);
    tcase_add_test(t, test_tcp_gap_after_direction_cap);
    tcase_add_test(t, test_tcp_gap_after_timeout);
    tcase_add_test(t, test_tcp_gap_after_fin);
    tcase_add_test(t, test_tcp_gap_on_ack_past_hole);
    tcase_add_test(t, test_tcp_rst_closes);
    tcase_add_test(t, test_tcp_syn_reuses_four_tuple);
    tcase_add_test(t, test_tcp_idle_eviction);
    tcase_add_test(t, test_tcp_flow_cap);
    tcase_add_test(t, test_tcp_memory_cap);
    tcase_add_test(t, test_tcp_cut_payload_is_a_gap);
    tcase_add_test(t, test_tcp_free_with_held_data);
    tcase_add_test(t, test_tcp_many_flows);
    tcase_add_test(t, test_tcp_random_reorder_dup_overlap);
    tcase_add_test(t, test_tcp_pcap_file_roundtrip);
    tcase_add_test(t, test_tcp_zeek_fixtures);
    suite_add_tcase(s, t);
    return s;
}
