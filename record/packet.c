/* packet.c: decodes one captured frame (link layer, IPv4/IPv6, TCP) into a TCP segment. */
#include "record_int.h"

#include <pcap/dlt.h>
#include <string.h>

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif
/* LINKTYPE_RAW as a pcap file stores it; libpcap maps it to DLT_RAW, other readers may not. */
#define LINKTYPE_RAW 101

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100     /* 802.1Q */
#define ETH_QINQ 0x88a8     /* 802.1ad */
#define ETH_QINQ_OLD 0x9100 /* pre-standard double tagging */
#define MAX_VLAN_TAGS 2

#define IPPROTO_TCP_ 6
#define IP6_HOPOPTS 0
#define IP6_ROUTING 43
#define IP6_FRAGMENT 44
#define IP6_AH 51
#define IP6_NONE 59
#define IP6_DSTOPTS 60

/* A read position in a frame: `cap` bytes were captured of `wire` on the wire. Every read goes
 * through need(), which tells a read past the capture (truncated) from one past the wire
 * (malformed). Invariant: off <= cap <= wire. */
struct cursor {
    const uint8_t *p;
    size_t off, cap, wire;
};

static int need(const struct cursor *c, size_t n)
{
    if (n <= c->cap - c->off)
        return 0;
    if (n <= c->wire - c->off)
        return RECORD_PKT_TRUNCATED;
    return RECORD_PKT_MALFORMED;
}

/* The readers below are called only after need() vouched for the bytes. */
static uint8_t rd8(const struct cursor *c, size_t at)
{
    return c->p[c->off + at];
}

static uint16_t rd16(const struct cursor *c, size_t at)
{
    return (uint16_t)(c->p[c->off + at] << 8 | c->p[c->off + at + 1]);
}

static uint32_t rd32(const struct cursor *c, size_t at)
{
    const uint8_t *b = c->p + c->off + at;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void skip(struct cursor *c, size_t n)
{
    c->off += n;
}

/* Narrows the cursor to the `n` bytes from here that a header says its packet has: trailing
 * link-layer padding or a frame check sequence is cut off. @return 0, or MALFORMED when the
 * header claims more than the wire carried. */
static int limit(struct cursor *c, size_t n)
{
    if (n > c->wire - c->off)
        return RECORD_PKT_MALFORMED;
    c->wire = c->off + n;
    if (c->cap > c->wire)
        c->cap = c->wire;
    return 0;
}

static int decode_tcp(struct cursor *c, struct record_packet *pkt)
{
    int rc = need(c, 20);
    if (rc)
        return rc;
    size_t hlen = (size_t)(rd8(c, 12) >> 4) * 4;
    if (hlen < 20 || hlen > c->wire - c->off)
        return RECORD_PKT_MALFORMED;
    if ((rc = need(c, hlen)) != 0)
        return rc;
    pkt->src.port = rd16(c, 0);
    pkt->dst.port = rd16(c, 2);
    pkt->seq = rd32(c, 4);
    pkt->ack = rd32(c, 8);
    pkt->flags = rd8(c, 13) & 0x1f;
    skip(c, hlen);
    pkt->payload = c->p + c->off;
    pkt->payload_len = c->cap - c->off;
    pkt->payload_wire = c->wire - c->off;
    return pkt->payload_len < pkt->payload_wire ? RECORD_PKT_CUT : RECORD_PKT_OK;
}

static int decode_ipv4(struct cursor *c, struct record_packet *pkt)
{
    int rc = need(c, 20);
    if (rc)
        return rc;
    uint8_t vihl = rd8(c, 0);
    size_t hlen = (size_t)(vihl & 0x0f) * 4;
    size_t total = rd16(c, 2);
    if (vihl >> 4 != 4 || hlen < 20)
        return RECORD_PKT_MALFORMED;
    /* A total length of 0 is what a capture of a TSO/GSO send shows: tcpdump then takes the
     * frame's own length, and so do we. */
    if (total == 0)
        total = c->wire - c->off;
    if (total < hlen)
        return RECORD_PKT_MALFORMED;
    if ((rc = limit(c, total)) != 0)
        return rc;
    if ((rc = need(c, hlen)) != 0)
        return rc;
    uint16_t frag = rd16(c, 6);
    uint8_t proto = rd8(c, 9);
    if (proto != IPPROTO_TCP_)
        return RECORD_PKT_NOT_TCP;
    if (frag & 0x3fff) /* more-fragments flag or a fragment offset */
        return RECORD_PKT_FRAGMENT;
    pkt->src.family = pkt->dst.family = 4;
    memcpy(pkt->src.addr, c->p + c->off + 12, 4);
    memcpy(pkt->dst.addr, c->p + c->off + 16, 4);
    skip(c, hlen); /* options included */
    return decode_tcp(c, pkt);
}

/* Walks the IPv6 extension headers from `nh` up to TCP. */
static int decode_ipv6_ext(struct cursor *c, uint8_t nh, struct record_packet *pkt)
{
    for (;;) {
        int rc;
        size_t hlen;
        switch (nh) {
        case IPPROTO_TCP_: return decode_tcp(c, pkt);
        case IP6_HOPOPTS:
        case IP6_ROUTING:
        case IP6_DSTOPTS:
            if ((rc = need(c, 2)) != 0)
                return rc;
            hlen = ((size_t)rd8(c, 1) + 1) * 8;
            break;
        case IP6_AH:
            if ((rc = need(c, 2)) != 0)
                return rc;
            hlen = ((size_t)rd8(c, 1) + 2) * 4;
            break;
        case IP6_FRAGMENT:
            /* Only a fragment whose next header could lead to TCP counts as a lost fragment
             * of TCP; others are simply not ours. */
            if ((rc = need(c, 8)) != 0)
                return rc;
            nh = rd8(c, 0);
            if (nh == IPPROTO_TCP_ || nh == IP6_HOPOPTS || nh == IP6_ROUTING || nh == IP6_DSTOPTS ||
                nh == IP6_AH)
                return RECORD_PKT_FRAGMENT;
            return RECORD_PKT_NOT_TCP;
        default: /* IP6_NONE, ESP, ICMPv6, UDP, ... */ return RECORD_PKT_NOT_TCP;
        }
        if (hlen > c->wire - c->off)
            return RECORD_PKT_MALFORMED;
        if ((rc = need(c, hlen)) != 0)
            return rc;
        nh = rd8(c, 0);
        skip(c, hlen);
    }
}

static int decode_ipv6(struct cursor *c, struct record_packet *pkt)
{
    int rc = need(c, 40);
    if (rc)
        return rc;
    if (rd8(c, 0) >> 4 != 6)
        return RECORD_PKT_MALFORMED;
    size_t plen = rd16(c, 4);
    uint8_t nh = rd8(c, 6);
    /* A payload length of 0 is a jumbogram or a GSO send (BIG TCP): the frame's length then
     * stands for it, as in tcpdump. */
    if (plen == 0)
        plen = c->wire - c->off - 40;
    if ((rc = limit(c, 40 + plen)) != 0)
        return rc;
    pkt->src.family = pkt->dst.family = 6;
    memcpy(pkt->src.addr, c->p + c->off + 8, 16);
    memcpy(pkt->dst.addr, c->p + c->off + 24, 16);
    skip(c, 40);
    return decode_ipv6_ext(c, nh, pkt);
}

/* Decodes by ethertype, after any VLAN tags (an Ethernet or Linux cooked header's type). */
static int decode_ethertype(struct cursor *c, uint16_t type, struct record_packet *pkt)
{
    for (int tags = 0; type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD; tags++) {
        if (tags == MAX_VLAN_TAGS)
            return RECORD_PKT_NOT_TCP;
        int rc = need(c, 4);
        if (rc)
            return rc;
        type = rd16(c, 2);
        skip(c, 4);
    }
    if (type == ETH_IPV4)
        return decode_ipv4(c, pkt);
    if (type == ETH_IPV6)
        return decode_ipv6(c, pkt);
    return RECORD_PKT_NOT_TCP;
}

/* By the IP version nibble (raw IP link types). `want` is 4, 6, or 0 for either. */
static int decode_ip(struct cursor *c, int want, struct record_packet *pkt)
{
    int rc = need(c, 1);
    if (rc)
        return rc;
    int v = rd8(c, 0) >> 4;
    if (want && v != want)
        return RECORD_PKT_MALFORMED;
    if (v == 4)
        return decode_ipv4(c, pkt);
    if (v == 6)
        return decode_ipv6(c, pkt);
    return RECORD_PKT_NOT_TCP;
}

/* DLT_NULL holds the address family in the capturing host's byte order, DLT_LOOP in network
 * order, and files travel between hosts: read it in whichever order gives a small number.
 * IPv6 is 10 on Linux, 24, 28 or 30 on the BSDs and macOS, 23 on Windows. */
static int decode_loopback(struct cursor *c, struct record_packet *pkt)
{
    int rc = need(c, 4);
    if (rc)
        return rc;
    uint32_t fam = rd32(c, 0);
    if (fam > 0xffff)
        fam = (fam >> 24) | ((fam >> 8) & 0xff00) | ((fam << 8) & 0xff0000) | (fam << 24);
    skip(c, 4);
    switch (fam) {
    case 2: return decode_ip(c, 4, pkt);
    case 10:
    case 23:
    case 24:
    case 28:
    case 30: return decode_ip(c, 6, pkt);
    default: return RECORD_PKT_NOT_TCP;
    }
}

int record_packet_decode(int linktype, const uint8_t *frame, size_t caplen, size_t len, uint64_t ts,
                         struct record_packet *pkt)
{
    memset(pkt, 0, sizeof *pkt);
    pkt->ts = ts;
    /* pcap promises caplen <= len; a damaged file may not keep it */
    struct cursor c = {frame, 0, caplen, len > caplen ? len : caplen};
    if (frame == NULL)
        c.cap = 0;
    int rc;
    uint16_t type;
    switch (linktype) {
    case DLT_EN10MB:
        if ((rc = need(&c, 14)) != 0)
            return rc;
        skip(&c, 12);
        type = rd16(&c, 0);
        skip(&c, 2);
        return decode_ethertype(&c, type, pkt);
    case DLT_LINUX_SLL: /* type, ARPHRD, address length, address[8], protocol */
        if ((rc = need(&c, 16)) != 0)
            return rc;
        skip(&c, 14);
        type = rd16(&c, 0);
        skip(&c, 2);
        return decode_ethertype(&c, type, pkt);
    case DLT_LINUX_SLL2: /* protocol, reserved, ifindex, ARPHRD, type, address length, [8] */
        if ((rc = need(&c, 20)) != 0)
            return rc;
        type = rd16(&c, 0);
        skip(&c, 20);
        return decode_ethertype(&c, type, pkt);
    case DLT_NULL:
    case DLT_LOOP: return decode_loopback(&c, pkt);
    case DLT_RAW:
    case LINKTYPE_RAW: return decode_ip(&c, 0, pkt);
    case DLT_IPV4: return decode_ip(&c, 4, pkt);
    case DLT_IPV6: return decode_ip(&c, 6, pkt);
    default: return RECORD_PKT_LINKTYPE;
    }
}

const char *record_packet_result_name(int rc)
{
    switch (rc) {
    case RECORD_PKT_OK: return "ok";
    case RECORD_PKT_CUT: return "cut";
    case RECORD_PKT_NOT_TCP: return "not-tcp";
    case RECORD_PKT_TRUNCATED: return "truncated";
    case RECORD_PKT_MALFORMED: return "malformed";
    case RECORD_PKT_FRAGMENT: return "fragment";
    case RECORD_PKT_LINKTYPE: return "linktype";
    default: return "unknown";
    }
}
