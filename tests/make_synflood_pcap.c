/* make_synflood_pcap.c: writes a pcap of bare SYNs (a SYN flood), optionally mixed into a real
 * capture. */

/*
 * usage: make_synflood_pcap OUT.pcap COUNT [-p PORT] [-g USEC] [MIX.pcap]
 *
 * COUNT bare SYNs (no handshake, no data, never closed) from distinct client addresses and
 * ports (10.A.B.C:P) to 192.0.2.1:PORT (6379 by default), as Ethernet/IPv4 frames. Without
 * MIX they are USEC microseconds apart (10 by default) from a fixed time. With MIX (an Ethernet
 * capture, e.g. traces/sample-clients.pcap) every packet of MIX is copied, in order and with its
 * own time, and the SYNs are spread evenly between them, so a recorder sees the flood while the
 * real connections run. Used by tests/cli/test_record_synflood.sh: each connection that never sends
 * data must cost the recorder little memory.
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_LEN (14 + 20 + 20)

static uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)(p[n - 1] << 8);
    return s;
}

/* The i-th SYN: client 10.(i>>16).(i>>8).(i) port 1024 + i % 50000, server 192.0.2.1:port. */
static void syn_frame(uint8_t *f, uint64_t i, uint16_t port)
{
    memset(f, 0, FRAME_LEN);
    /* Ethernet: zero MACs as on loopback, type IPv4 */
    f[12] = 0x08;
    uint8_t *ip = f + 14, *tcp = ip + 20;
    ip[0] = 0x45;
    ip[2] = 0;
    ip[3] = 40; /* total length */
    ip[4] = (uint8_t)(i >> 8);
    ip[5] = (uint8_t)i;
    ip[6] = 0x40; /* DF */
    ip[8] = 64;   /* TTL */
    ip[9] = 6;    /* TCP */
    ip[12] = 10;
    ip[13] = (uint8_t)(i >> 16);
    ip[14] = (uint8_t)(i >> 8);
    ip[15] = (uint8_t)i;
    ip[16] = 192;
    ip[17] = 0;
    ip[18] = 2;
    ip[19] = 1;
    uint16_t c = csum_fold(csum_add(0, ip, 20));
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    uint16_t sport = (uint16_t)(1024 + i % 50000);
    tcp[0] = (uint8_t)(sport >> 8);
    tcp[1] = (uint8_t)sport;
    tcp[2] = (uint8_t)(port >> 8);
    tcp[3] = (uint8_t)port;
    uint32_t seq = (uint32_t)(i * 2654435761u);
    tcp[4] = (uint8_t)(seq >> 24);
    tcp[5] = (uint8_t)(seq >> 16);
    tcp[6] = (uint8_t)(seq >> 8);
    tcp[7] = (uint8_t)seq;
    tcp[12] = 5 << 4; /* data offset: 20 bytes */
    tcp[13] = 0x02;   /* SYN */
    tcp[14] = 0xff;   /* window */
    tcp[15] = 0xff;
    /* checksum over the pseudo-header (addresses, protocol, TCP length) and the segment */
    uint8_t ph[12];
    memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = 6;
    ph[10] = 0;
    ph[11] = 20;
    c = csum_fold(csum_add(csum_add(0, ph, sizeof ph), tcp, 20));
    tcp[16] = (uint8_t)(c >> 8);
    tcp[17] = (uint8_t)c;
}

static void dump_syn(pcap_dumper_t *d, uint64_t i, uint16_t port, uint64_t ts_us)
{
    uint8_t f[FRAME_LEN];
    syn_frame(f, i, port);
    struct pcap_pkthdr h = {0};
    h.ts.tv_sec = (time_t)(ts_us / 1000000u);
    h.ts.tv_usec = (suseconds_t)(ts_us % 1000000u);
    h.caplen = h.len = FRAME_LEN;
    pcap_dump((u_char *)d, &h, f);
}

int main(int argc, char **argv)
{
    const char *out = NULL, *mix = NULL;
    uint64_t count = 0;
    unsigned long port = 6379;
    uint64_t gap_us = 10;
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-p") && i + 1 < argc) {
            char *end;
            port = strtoul(argv[++i], &end, 10);
            if (*end || port == 0 || port > 65535) {
                fprintf(stderr, "make_synflood_pcap: bad port '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "-g") && i + 1 < argc) {
            char *end;
            gap_us = strtoull(argv[++i], &end, 10);
            if (*end || gap_us == 0 || gap_us > 1000000000) {
                fprintf(stderr, "make_synflood_pcap: bad -g '%s'\n", argv[i]);
                return 2;
            }
        } else if (npos == 0) {
            out = argv[i];
            npos++;
        } else if (npos == 1) {
            char *end;
            count = strtoull(argv[i], &end, 10);
            if (*end || count == 0 || count > 16000000) {
                fprintf(stderr, "make_synflood_pcap: COUNT must be 1..16000000\n");
                return 2;
            }
            npos++;
        } else if (npos == 2) {
            mix = argv[i];
            npos++;
        } else {
            npos = 9;
        }
    }
    if (npos < 2 || npos > 3) {
        fprintf(stderr,
                "usage: make_synflood_pcap OUT.pcap COUNT [-p PORT] [-g USEC] [MIX.pcap]\n");
        return 2;
    }
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *in = NULL;
    uint64_t nmix = 0;
    if (mix) {
        /* counted first, so that the SYNs can be spread evenly among its packets */
        in = pcap_open_offline(mix, ebuf);
        if (!in) {
            fprintf(stderr, "make_synflood_pcap: %s: %s\n", mix, ebuf);
            return 1;
        }
        if (pcap_datalink(in) != DLT_EN10MB) {
            fprintf(stderr, "make_synflood_pcap: %s: not an Ethernet capture\n", mix);
            return 1;
        }
        struct pcap_pkthdr *h;
        const u_char *b;
        while (pcap_next_ex(in, &h, &b) == 1)
            nmix++;
        pcap_close(in);
        in = pcap_open_offline(mix, ebuf);
        if (!in) {
            fprintf(stderr, "make_synflood_pcap: %s: %s\n", mix, ebuf);
            return 1;
        }
    }
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);
    pcap_dumper_t *d = dead ? pcap_dump_open(dead, out) : NULL;
    if (!d) {
        fprintf(stderr, "make_synflood_pcap: %s: %s\n", out, dead ? pcap_geterr(dead) : "pcap");
        return 1;
    }
    uint64_t written = 0;
    if (!in) {
        for (uint64_t i = 0; i < count; i++)
            dump_syn(d, i, (uint16_t)port, 1700000000000000ull + i * gap_us);
        written = count;
    } else {
        struct pcap_pkthdr *h;
        const u_char *b;
        uint64_t k = 0;
        while (pcap_next_ex(in, &h, &b) == 1) {
            uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
            pcap_dump((u_char *)d, h, b);
            k++;
            /* the SYNs due by this packet of the mix, at its time */
            uint64_t due = nmix ? count * k / nmix : count;
            for (; written < due; written++)
                dump_syn(d, written, (uint16_t)port, ts);
        }
        for (; written < count; written++)
            dump_syn(d, written, (uint16_t)port, 1700000000000000ull + written * gap_us);
        pcap_close(in);
    }
    if (pcap_dump_flush(d) != 0) {
        fprintf(stderr, "make_synflood_pcap: %s: write failed\n", out);
        return 1;
    }
    pcap_dump_close(d);
    pcap_close(dead);
    printf("%llu SYNs%s%s\n", (unsigned long long)written, mix ? " mixed into " : "",
           mix ? mix : "");
    return 0;
}
