/* ports.c: the recorder's port list and the BPF filter built from it. */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int add_one(struct record_ports *p, uint16_t port)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->port[i] == port)
            return 0;
    if (p->n == RECORD_MAX_PORTS)
        return -1;
    p->port[p->n++] = port;
    return 0;
}

int record_ports_add(struct record_ports *p, const char *arg, struct rt_err *err)
{
    const char *s = arg;
    for (;;) {
        size_t n = strcspn(s, ",");
        const char *dash = memchr(s, '-', n);
        uint16_t lo, hi;
        if (dash) {
            if (parse_port(s, (size_t)(dash - s), &lo) ||
                parse_port(dash + 1, n - (size_t)(dash - s) - 1, &hi) || hi < lo) {
                rt_err_set(err, RT_EINVAL, "bad port range '%.*s' in '%s'", (int)n, s, arg);
                return RT_EINVAL;
            }
        } else if (parse_port(s, n, &lo) == 0) {
            hi = lo;
        } else {
            rt_err_set(err, RT_EINVAL, "bad port '%.*s' in '%s' (1 to 65535)", (int)n, s, arg);
            return RT_EINVAL;
        }
        for (unsigned v = lo; v <= hi; v++) {
            if (add_one(p, (uint16_t)v)) {
                rt_err_set(err, RT_ELIMIT, "more than %d server ports in '%s'", RECORD_MAX_PORTS,
                           arg);
                return RT_ELIMIT;
            }
        }
        if (s[n] == 0)
            return 0;
        s += n + 1;
    }
}

int record_filter_build(const struct record_ports *p, int vlan, char *buf, size_t cap,
                        struct rt_err *err)
{
    struct record_ports def = {{RECORD_DEFAULT_PORT}, 1};
    if (p == NULL || p->n == 0)
        p = &def;
    /* "tcp port A or tcp port B", then the same behind a VLAN tag: BPF's `vlan` shifts the
     * offsets of everything after it, so the untagged alternative must come first */
    char ports[RECORD_MAX_PORTS * 24]; /* " or tcp port 65535" is 18 bytes */
    size_t o = 0;
    for (size_t i = 0; i < p->n; i++)
        o += (size_t)snprintf(ports + o, sizeof ports - o, "%stcp port %u", i ? " or " : "",
                              (unsigned)p->port[i]);
    int k = vlan ? snprintf(buf, cap, "(%s) or (vlan and (%s))", ports, ports)
                 : snprintf(buf, cap, "%s", ports);
    if (k < 0 || (size_t)k >= cap) {
        rt_err_set(err, RT_ELIMIT, "filter for %zu ports needs %d bytes", p->n, k);
        return RT_ELIMIT;
    }
    return 0;
}
