/* replay.h: the replayer library: targets, scheduling, latency. */
#ifndef RESPTRACE_REPLAY_H
#define RESPTRACE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A replay target from `--target redis://[user:pass@]host:port[/db]` or `rediss://` (TLS). */
struct replay_target {
    int tls;
    char host[256]; /* a name, an IPv4 address, or an IPv6 address without brackets */
    uint16_t port;  /* 6379 when the URL names none */
    uint32_t db;    /* 0 when the URL names none */
    char *user;     /* NULL when absent; percent-decoded */
    char *pass;     /* NULL when absent; percent-decoded */
};

/*! replay_target_parse() :
 *  Parses `url` into `t` (whose user and pass are then owned by `t`: release them with
 *  replay_target_clear). @return 0, or RT_EINVAL with `err` saying which part is wrong (the
 *  message never contains the password). */
int replay_target_parse(const char *url, struct replay_target *t, struct rt_err *err);

/*! replay_target_clear() : frees user and pass (wiping the password) and zeroes `t`. */
void replay_target_clear(struct replay_target *t);

/*! replay_target_format() : "redis://user@host:port/db" without the password, into buf. */
char *replay_target_format(const struct replay_target *t, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
