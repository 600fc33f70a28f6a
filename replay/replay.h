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
    int db_set;     /* the URL named a database */
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

/* ---- The replay engine (engine.c) ----------------------------------------------------- */

struct rt_hist; /* the latency histogram (hist.c) */

/* TLS settings for rediss:// targets. */
struct replay_tls {
    const char *ca_file;  /* PEM bundle of trusted CAs; NULL: the system's default paths */
    const char *ca_dir;   /* directory of hashed CA certificates */
    const char *cert;     /* client certificate (PEM), for servers that ask for one */
    const char *key;      /* its private key (PEM); NULL: in `cert` */
    const char *sni;      /* server name sent and verified; NULL: the target's host */
    int insecure;         /* do not verify the server's certificate */
};

/* Why a request was not sent (replay_result.skipped_by). */
enum replay_skip {
    REPLAY_SKIP_UNSAFE = 0, /* destroys or reconfigures the target (not in --allow) */
    REPLAY_SKIP_WRITE,      /* --read-only */
    REPLAY_SKIP_FILTER,     /* --only / --skip */
    REPLAY_SKIP_AUTH,       /* AUTH in the trace and no credentials for the target */
    REPLAY_SKIP_SELECT,     /* SELECT while the target URL fixes the database */
    REPLAY_SKIP_KEYS,       /* --key-prefix and the key positions are unknown */
    REPLAY_SKIP_UNREACHABLE,/* due while its connection was down for longer than the window */
    REPLAY_SKIP_MAX
};

struct replay_opts {
    const char *trace;             /* path of the trace */
    struct replay_target target;   /* where to send (host, port, tls, user, pass, db) */
    struct replay_tls tls;
    double speed;                  /* recorded pacing divided by this; 0: as fast as possible */
    double rate;                   /* > 0: a fixed global rate in requests/s (replaces pacing) */
    unsigned connections;          /* 0: one per recorded connection; N: folded onto N */
    unsigned threads;              /* event loops (0 means 1) */
    uint64_t from_ns, to_ns;       /* trace-time window (absolute ns); 0: open */
    unsigned loops;                /* times through the trace (0 means 1) */
    double duration_s;             /* stop after this much wall time; 0: no bound */
    double connect_timeout_s;      /* 0 means 3 s */
    double drain_s;                /* wait this long for late replies at the end; 0 means 5 s */
    double reconnect_window_s;     /* requests due while a connection has been down this long
                                    * are dropped as errors; 0 means 2 s */
    const char *const *allow;      /* commands allowed although unsafe ("flushall", "config|set") */
    size_t nallow;
    const char *const *only;       /* send only these commands (NULL: all) */
    size_t nonly;
    const char *const *skip;       /* never send these */
    size_t nskip;
    int read_only;                 /* skip commands flagged write in the command table */
    const char *key_prefix;        /* prepended to every key argument */
    size_t max_buffered;           /* read-ahead bound in requests per thread; 0 means 65536 */
};

/* Per command name (lower case; "config|get" for container commands). */
struct replay_cmd_result {
    char name[64];
    uint64_t ops;          /* replies received (plus commands that expect none) */
    uint64_t errors;       /* error replies and requests lost with their connection */
    uint64_t skipped;      /* not sent */
    uint64_t misses;       /* null where the recording had a value */
    uint64_t new_errors;   /* error where the recording had none */
    uint64_t type_changed; /* another reply type than recorded (nulls and errors aside) */
    uint64_t new_values;   /* a value where the recording had a null */
    uint64_t compared;     /* replies compared with a recorded reply */
    struct rt_hist *lat;   /* from the intended send time (coordinated omission corrected) */
    struct rt_hist *svc;   /* service time, from the actual send */
};

struct replay_result {
    uint64_t requests;        /* requests read in the window (all loops) */
    uint64_t sent;            /* written to the target */
    uint64_t ops, errors, skipped, misses, new_errors, type_changed, new_values, compared;
    uint64_t skipped_by[REPLAY_SKIP_MAX];
    uint64_t conn_opened;     /* target connections established */
    uint64_t conn_failures;   /* connections lost or refused */
    uint64_t pushes;          /* out-of-band messages (pub/sub, RESP3 push) */
    uint64_t unanswered;      /* requests still waiting for a reply when the replay ended */
    uint64_t setup_errors;    /* errors to the AUTH/SELECT/HELLO resptrace sends itself */
    char setup_error[200];    /* the first of them */
    char conn_error[200];     /* the first connection error */
    double duration_s;        /* wall time from the first due request to the end */
    double trace_span_s;      /* trace time covered (one loop) */
    int stopped;              /* interrupted (signal or --duration) */
    struct rt_hist *lat, *svc, *lag; /* overall; lag: send time minus due time */
    struct replay_cmd_result *cmds;
    size_t ncmds;
};

/* A snapshot for the live status line. */
struct replay_status {
    double elapsed_s;
    uint64_t sent, ops, errors, skipped, conns;
    uint64_t p50_ns, p99_ns; /* intended-time latency so far */
    uint64_t lag_ns;         /* the largest lag of the last interval */
    int final;
};

typedef void (*replay_status_fn)(void *ctx, const struct replay_status *st);

/*! replay_run() :
 *  Replays `o->trace` against `o->target` and fills `res` (free with replay_result_free).
 *  `status` (may be NULL) is called about once a second from the calling thread; `*stop`
 *  set to non-zero (e.g. from a signal handler) ends the replay early with what was measured.
 *  @return 0 when the replay ran (errors from the target are results, not failures), or a
 *  negative code with `err` saying why it could not run (trace unreadable, target
 *  unreachable before any connection succeeded, TLS set-up, AUTH refused). */
int replay_run(const struct replay_opts *o, replay_status_fn status, void *ctx,
               volatile int *stop, struct replay_result *res, struct rt_err *err);

/*! replay_result_free() : frees what replay_run() put in `res`. */
void replay_result_free(struct replay_result *res);

/*! replay_skip_name() : "unsafe", "read_only", "filter", "auth", "select", "keys",
 *  "unreachable". */
const char *replay_skip_name(unsigned why);

/*! replay_cmd_is_unsafe() : 1 if the command (argv, lower or upper case) destroys or
 *  reconfigures a server, so that replay skips it unless allowed. */
int replay_cmd_is_unsafe(const char *name, const char *sub);


/* ---- Latency histogram (hist.c) -------------------------------------------------------- */

/* Log-linear, HDR-style: at most 1/128 relative error, values in nanoseconds up to 2^43
 * (larger ones are clamped into the last bucket and counted), 37 KiB each, mergeable. */

/*! rt_hist_new() : an empty histogram, or NULL when out of memory. */
struct rt_hist *rt_hist_new(void);
void rt_hist_free(struct rt_hist *h);
void rt_hist_reset(struct rt_hist *h);
void rt_hist_record(struct rt_hist *h, uint64_t ns);
void rt_hist_record_n(struct rt_hist *h, uint64_t ns, uint64_t n);
/*! rt_hist_merge() : adds `src` into `dst` (exact). @return 0. */
int rt_hist_merge(struct rt_hist *dst, const struct rt_hist *src);
/*! rt_hist_percentile() : the value at or below which p percent (0-100) of the values lie:
 *  the highest value of its bucket (within 1/128), clamped to the exact min and max. */
uint64_t rt_hist_percentile(const struct rt_hist *h, double p);
uint64_t rt_hist_count(const struct rt_hist *h);
uint64_t rt_hist_min(const struct rt_hist *h); /* exact; 0 when empty */
uint64_t rt_hist_max(const struct rt_hist *h); /* exact */
uint64_t rt_hist_clamped(const struct rt_hist *h);
double rt_hist_mean(const struct rt_hist *h);
/*! rt_hist_encode() : "v1 7 min max count clamped sum idx:n idx:n ..." (malloc'd; NULL on
 *  out of memory), the form result files carry so that hosts' results merge exactly. */
char *rt_hist_encode(const struct rt_hist *h);
/*! rt_hist_decode() : parses rt_hist_encode()'s text strictly. @return a new histogram, or
 *  NULL with `err` saying what is wrong and where. */
struct rt_hist *rt_hist_decode(const char *s, struct rt_err *err);

/* ---- A throwaway redis-server (server.c) ------------------------------------------------ */

#include <sys/types.h>

struct replay_server {
    pid_t pid;
    uint16_t port;  /* on 127.0.0.1 */
    char dir[256];  /* its working directory (removed by replay_server_stop) */
};

/*! replay_server_start() :
 *  Starts redis-server ($RESPTRACE_REDIS_SERVER, else from PATH) on a free 127.0.0.1 port in
 *  a fresh temporary directory, without persistence, plus `extra_args` (NULL-terminated; may
 *  be NULL; TLS options may be added: the plain port stays open for the readiness probe),
 *  and waits until it answers PING (up to 5 s). The server dies with the calling process.
 *  @return 0, or a negative code with `err` quoting the end of the server's log. */
int replay_server_start(struct replay_server *s, const char *const *extra_args,
                        struct rt_err *err);

/*! replay_server_stop() : SIGTERM (SIGKILL after 3 s), reaps it, removes its directory. */
void replay_server_stop(struct replay_server *s);

#ifdef __cplusplus
}
#endif
#endif
