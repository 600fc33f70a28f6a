/* check_record.c: unit tests of the recorder library (ports and the BPF filter). */
#include "check_suites.h"
#include "record.h"

#include <check.h>
#include <pcap/pcap.h>
#include <string.h>

START_TEST(test_record_ports_lists_and_ranges)
{
    struct record_ports p = {0};
    struct rt_err err = {0};
    ck_assert_int_eq(record_ports_add(&p, "6379", &err), 0);
    ck_assert_int_eq(record_ports_add(&p, "7000-7002,6379,10625", &err), 0);
    ck_assert_uint_eq(p.n, 5);
    ck_assert_uint_eq(p.port[0], 6379);
    ck_assert_uint_eq(p.port[1], 7000);
    ck_assert_uint_eq(p.port[3], 7002);
    ck_assert_uint_eq(p.port[4], 10625);
}
END_TEST

START_TEST(test_record_ports_rejects_bad_input)
{
    static const char *const bad[] = {"",          "0",  "65536", "abc",   "6379,", ",6379",
                                      "7002-7000", "1-", "-5",    "63 79", "123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct record_ports p = {0};
        struct rt_err err = {0};
        ck_assert_msg(record_ports_add(&p, bad[i], &err) == RT_EINVAL, "accepted '%s'", bad[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, bad[i]));
    }
    struct record_ports p = {0};
    struct rt_err err = {0};
    ck_assert_int_eq(record_ports_add(&p, "1000-2000", &err), RT_ELIMIT);
}
END_TEST

/* An Ethernet + IPv4 + TCP frame from port sport to dport, optionally VLAN-tagged. */
static size_t make_frame(uint8_t *f, uint16_t sport, uint16_t dport, int vlan)
{
    size_t o = 12;
    memset(f, 0, 128);
    if (vlan) {
        f[o++] = 0x81;
        f[o++] = 0x00;
        f[o++] = 0x00;
        f[o++] = 0x05;
    }
    f[o++] = 0x08;
    f[o++] = 0x00;
    uint8_t *ip = f + o;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[8] = 64;
    ip[9] = 6; /* TCP */
    memcpy(ip + 12, "\x7f\x00\x00\x01\x7f\x00\x00\x01", 8);
    uint8_t *tcp = ip + 20;
    tcp[0] = (uint8_t)(sport >> 8);
    tcp[1] = (uint8_t)sport;
    tcp[2] = (uint8_t)(dport >> 8);
    tcp[3] = (uint8_t)dport;
    tcp[12] = 0x50;
    return o + 40;
}

static int filter_matches(const char *filter, uint16_t sport, uint16_t dport, int vlan)
{
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    struct bpf_program prog;
    ck_assert_msg(pcap_compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) == 0,
                  "filter does not compile: %s: %s", filter, pcap_geterr(dead));
    uint8_t frame[128];
    struct pcap_pkthdr h = {0};
    h.caplen = h.len = (bpf_u_int32)make_frame(frame, sport, dport, vlan);
    int m = pcap_offline_filter(&prog, &h, frame) != 0;
    pcap_freecode(&prog);
    pcap_close(dead);
    return m;
}

START_TEST(test_record_filter_selects_both_directions_and_vlan)
{
    struct record_ports p = {0};
    struct rt_err err = {0};
    char f[4096];
    ck_assert_int_eq(record_ports_add(&p, "6379,7000", &err), 0);
    ck_assert_int_eq(record_filter_build(&p, 1, f, sizeof f, &err), 0);
    ck_assert(filter_matches(f, 50000, 6379, 0));
    ck_assert(filter_matches(f, 6379, 50000, 0));
    ck_assert(filter_matches(f, 50000, 7000, 0));
    ck_assert(filter_matches(f, 50000, 6379, 1));
    ck_assert(filter_matches(f, 7000, 50000, 1));
    ck_assert(!filter_matches(f, 50000, 80, 0));
    ck_assert(!filter_matches(f, 50000, 80, 1));
}
END_TEST

START_TEST(test_record_filter_default_port_and_small_buffer)
{
    struct rt_err err = {0};
    char f[256];
    ck_assert_int_eq(record_filter_build(NULL, 1, f, sizeof f, &err), 0);
    ck_assert(filter_matches(f, 40000, 6379, 0));
    ck_assert(!filter_matches(f, 40000, 6380, 0));
    struct record_ports p = {0};
    ck_assert_int_eq(record_ports_add(&p, "7000-7063", &err), 0);
    ck_assert_int_eq(record_filter_build(&p, 1, f, sizeof f, &err), RT_ELIMIT);
}
END_TEST

START_TEST(test_record_filter_without_vlan_compiles_on_loopback)
{
    struct record_ports p = {0};
    struct rt_err err = {0};
    char f[4096];
    ck_assert_int_eq(record_ports_add(&p, "6379,7000", &err), 0);
    ck_assert_int_eq(record_filter_build(&p, 0, f, sizeof f, &err), 0);
    ck_assert_ptr_null(strstr(f, "vlan"));
    pcap_t *dead = pcap_open_dead(DLT_NULL, 65535);
    struct bpf_program prog;
    ck_assert_msg(pcap_compile(dead, &prog, f, 1, PCAP_NETMASK_UNKNOWN) == 0, "%s: %s", f,
                  pcap_geterr(dead));
    pcap_freecode(&prog);
    pcap_close(dead);
    ck_assert(filter_matches(f, 50000, 7000, 0));
    ck_assert(!filter_matches(f, 50000, 80, 0));
}
END_TEST

Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("ports");
    tcase_add_test(tc, test_record_ports_lists_and_ranges);
    tcase_add_test(tc, test_record_ports_rejects_bad_input);
    tcase_add_test(tc, test_record_filter_selects_both_directions_and_vlan);
    tcase_add_test(tc, test_record_filter_default_port_and_small_buffer);
    tcase_add_test(tc, test_record_filter_without_vlan_compiles_on_loopback);
    suite_add_tcase(s, tc);
    return s;
}
