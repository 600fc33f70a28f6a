/* replay_int.h: what engine.c and cluster.c share and nobody else sees: the blocking control
 * connection and the cluster topology. */
#ifndef RESPTRACE_REPLAY_INT_H
#define RESPTRACE_REPLAY_INT_H

#include "replay.h"

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#define CL_SLOTS 16384
#define CL_NONE 0xffffu /* a slot no node serves */

/* ---- TLS (tls.c): the one setup every connection kind uses ------------------------------ */

/*! rt_tls_ctx_new() : a client context from the TLS settings (CA, client certificate).
 *  @return it (SSL_CTX_free), or NULL with `err`. */
SSL_CTX *rt_tls_ctx_new(const struct replay_tls *t, struct rt_err *err);

/*! rt_tls_ssl_new() : a connection's SSL for server `name` (a host name or an IP address):
 *  SNI for a name, and unless `insecure` the certificate must name that host or that IP
 *  address. @return it, or NULL on out of memory. */
SSL *rt_tls_ssl_new(SSL_CTX *ctx, const char *name, int insecure);

/*! rt_sent_key_slot() : the slot of a key as the replay sends it (after --key-prefix
 *  `prefix`, may be NULL); -1 when out of memory. The engine routes by it, --check counts by it. */
int32_t rt_sent_key_slot(const char *prefix, const char *k, size_t n);

/*! rt_split_kind() : for a command (lower-case name) whose keys span slots, the type of the
 *  reply merged from its per-slot parts (MGET an array, MSET a status, DEL/UNLINK/EXISTS/TOUCH
 *  an integer; `*pairs` 1 for MSET's key-value pairs); 0: not split (CROSSSLOT). */
uint8_t rt_split_kind(const char *name, int *pairs);

/*! rt_tls_error() : why a handshake on `ssl` (may be NULL) failed, from the verify result and
 *  OpenSSL's error queue (which it clears), as one line. */
void rt_tls_error(SSL *ssl, char *buf, size_t cap);

/* A blocking connection of its own for the questions the replayer asks a server outside the
 * replay's traffic (CLUSTER SHARDS, COMMAND GETKEYS): rare, small, and simpler without the
 * event loop. Replies are parsed with hiredis's reader (RESP2: the connection never says
 * HELLO 3). */
#define RT_CTL_REPLY_MAX (64u << 20) /* a control reply larger than this is refused */

struct rt_ctl {
    int fd;         /* -1 when closed */
    SSL *ssl;
    redisReader *rd;
    char *obuf;     /* commands queued by rt_ctl_append, written by rt_ctl_reply */
    size_t olen, ocap;
};

/*! rt_ctl_open() : connects to `addr` (TLS when `ssl` is not NULL, verifying `sni` unless
 *  `insecure`), each step bounded by `timeout_s`, and authenticates with `user`/`pass` when
 *  `pass` is set. @return 0, or -1 with `why` saying what failed. */
int rt_ctl_open(struct rt_ctl *c, const struct sockaddr *addr, socklen_t addrlen, SSL_CTX *ssl,
                const char *sni, int insecure, const char *user, const char *pass,
                double timeout_s, char *why, size_t cap);

/*! rt_ctl_command() : sends argv and reads one reply. @return the reply (owned by the caller:
 *  freeReplyObject), or NULL with `why` when the connection failed (then it is closed). */
redisReply *rt_ctl_command(struct rt_ctl *c, int argc, const char **argv, const size_t *len,
                           char *why, size_t cap);

/*! rt_ctl_append() : queues argv (pipelined: rt_ctl_reply writes what is queued, then reads
 *  the replies in order). @return 0, or -1 when out of memory. */
int rt_ctl_append(struct rt_ctl *c, int argc, const char **argv, const size_t *len);

/*! rt_ctl_reply() : writes what is queued and reads the next reply; as rt_ctl_command. */
redisReply *rt_ctl_reply(struct rt_ctl *c, char *why, size_t cap);

/*! rt_ctl_close() : closes (a closed or zeroed-then-fd=-1 connection is accepted). */
void rt_ctl_close(struct rt_ctl *c);

/* One server of a cluster, as the topology names it. Indices into cl_topo.nodes never change
 * during a replay (a node that leaves keeps its index), so per-node connections and
 * statistics can be kept by index. */
struct cl_node {
    char host[256];    /* the endpoint the cluster announces (name or address) */
    uint16_t port;     /* the port to connect to (the TLS port for rediss://) */
    char id[48];       /* node id; empty when unknown (a MOVED to a new node) */
    int primary;       /* serves slots as a primary in the last topology read */
    int master;        /* replica: index of its primary; -1 */
    int failed;        /* the topology says it failed */
    int listed;        /* named by the last topology read (or by a redirection since) */
    struct sockaddr_storage addr;
    socklen_t addrlen; /* 0: not resolved */
};

struct cl_topo {
    struct cl_node *nodes;
    size_t n, cap;
    uint16_t owner[CL_SLOTS]; /* the primary serving each slot, CL_NONE when none */
    int tls;
    uint64_t version;         /* bumped by every change */
};

/*! cl_topo_node() : the index of host:port, added (and resolved) when new; -1 when the name
 *  does not resolve. */
int cl_topo_node(struct cl_topo *t, const char *host, uint16_t port);

/*! cl_topo_fetch() : asks `c` for the topology (CLUSTER SHARDS, else CLUSTER SLOTS) and
 *  applies it to `t`. @return 1 when the server runs in cluster mode and `t` was updated, 0
 *  when it does not run in cluster mode, -1 with `why` on a failure. */
int cl_topo_fetch(struct rt_ctl *c, struct cl_topo *t, char *why, size_t cap);

/*! cl_topo_ranges() : the slot ranges `node` serves, as "0-5460 10923-16383" into buf. */
char *cl_topo_ranges(const struct cl_topo *t, size_t node, char *buf, size_t cap);

void cl_topo_free(struct cl_topo *t);

/* ---- a large reply framed as it arrives (reply_stream.c) -------------------------------- */

#define RS_DEPTH_MAX RESP_DEPTH_MAX

/* The state of one reply being framed: a few hundred bytes whatever the reply's size. */
struct rstream {
    struct resp_limits lim;
    struct resp_reply r;      /* what is known of the reply: type, flags, len (bytes so far),
                               * count, size, ival, err (a prefix), first */
    uint32_t depth;
    uint64_t left[RS_DEPTH_MAX]; /* values left at each open aggregate */
    uint8_t is_attr[RS_DEPTH_MAX]; /* that aggregate is an attribute (not a value itself) */
    uint64_t bulk_left;       /* bytes left of the current bulk, its CRLF included */
    uint8_t in_bulk, bulk_first, want_first, line_cut, cr, top_set;
    uint8_t line[128];        /* the first bytes of the current header line */
    size_t linelen, line_extra;
    uint8_t first[64];
    size_t firstlen;
    const char *fail_what;    /* on -1: what was wrong */
};

/*! rs_init() : ready to frame one reply (`lim` NULL: resp_limits_default()). */
void rs_init(struct rstream *s, const struct resp_limits *lim);

/*! rs_feed() : consumes bytes of the reply. @return the bytes consumed (all of `n` while the
 *  reply goes on; fewer when it ended inside `p`), with *done = 1 once the reply is complete
 *  (s->r then describes it; its err and first point into `s`), or -1 on bytes that are not
 *  RESP (s->fail_what says why). */
ssize_t rs_feed(struct rstream *s, const uint8_t *p, size_t n, int *done);

/* ---- --verify-writes (verify.c) --------------------------------------------------------- */

enum { VW_VALUE = 1, VW_COUNTER, VW_ABSENT, VW_UNTRACKED };

struct vw_key {
    uint8_t kind;      /* VW_*: what the write leaves when acknowledged */
    char *key, *val;   /* malloc'd (val: VW_VALUE only) */
    uint32_t klen, vlen;
};

/* The keys one write request sets (built when the request is read; owned by the request). */
struct vwrite {
    uint8_t cond;      /* 0: acknowledged by any non-error reply; 1: by a non-null reply (SET NX/XX);
                        * 2: by the integer 1 (SETNX, MSETNX) */
    size_t n;
    struct vw_key k[];
};

void vwrite_free(struct vwrite *w);

struct vw_table;
struct vw_table *vw_table_new(void);
void vw_table_free(struct vw_table *t);
/*! vw_ack() : the target acknowledged `w` (a counter's value is `ival`). */
void vw_ack(struct vw_table *t, const struct vwrite *w, int64_t ival, uint64_t now);
/*! vw_lost() : `w` was sent and never answered: its keys are uncertain until the next ack. */
void vw_lost(struct vw_table *t, const struct vwrite *w, uint64_t now);
/*! vw_merge() : adds `src` (another thread's) into `dst`: the newest acknowledgement wins. */
void vw_merge(struct vw_table *dst, const struct vw_table *src);
/*! vw_table_oom() : 1 when a key could not be kept (out of memory): the run must fail. */
int vw_table_oom(const struct vw_table *t);
/* kind 0: uncertain (or never acknowledged) */
typedef void (*vw_visit_fn)(void *ctx, const char *key, size_t klen, int kind, const char *val,
                            size_t vlen, int64_t ival, int uncertain);
void vw_foreach(const struct vw_table *t, vw_visit_fn fn, void *ctx);

#endif
