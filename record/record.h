/* record.h: the recorder library: what `resptrace record` captures and how it filters. */
#ifndef RESPTRACE_RECORD_H
#define RESPTRACE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECORD_MAX_PORTS 64
#define RECORD_DEFAULT_PORT 6379

/* The server ports whose traffic is recorded (`-p`, repeatable, comma lists and ranges). */
struct record_ports {
    uint16_t port[RECORD_MAX_PORTS];
    size_t n;
};

/*! record_ports_add() :
 *  Adds the ports of one `-p` argument: "6379", "6379,7000", "7000-7005", or a mix. Duplicates
 *  are kept once. @return 0, or RT_EINVAL / RT_ELIMIT with `err` naming the bad part. */
int record_ports_add(struct record_ports *p, const char *arg, struct rt_err *err);

/*! record_filter_build() :
 *  Writes the BPF filter that selects the TCP traffic of the ports, both directions, with or
 *  without VLAN tags: "(tcp port 6379) or (vlan and tcp port 6379)" style. With no ports the
 *  default port 6379 is used. @return 0, or RT_ELIMIT when `cap` is too small. */
int record_filter_build(const struct record_ports *p, char *buf, size_t cap, struct rt_err *err);

#ifdef __cplusplus
}
#endif
#endif
