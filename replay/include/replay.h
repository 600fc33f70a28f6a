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

struct rt_hist; /* the latency histogram (format.h: hist.c of format/) */

/* TLS settings for rediss:// targets. */
struct replay_tls {
    const char *ca_file;  /* PEM bundle of trusted CAs; NULL: the system's default paths */
    const char *ca_dir;   /* directory of hashed CA certificates */
    const char *cert;     /* client certificate (PEM), for servers that ask for one */
    const char *key;      /* its private key (PEM); NULL: in `cert` */
    const char *sni;      /* server name sent and verified; NULL: the target's host */
    int insecure;         /* do not verify the server's certificate */
};

/* How requests are paced (replay_opts.pace). */
enum replay_pace {
    REPLAY_PACE_AUTO = 0,  /* chained when the recording shows the client waited for the reply
                            * (nothing outstanding, sent within chain_gap_ms of it), else
                            * scheduled */
    REPLAY_PACE_CHAINED,   /* every request sent after a reply with nothing outstanding */
    REPLAY_PACE_SCHEDULED  /* the recorded schedule only (open loop, as before 0.2) */
};

/* The order kept across connections (replay_opts.sync). */
enum replay_sync {
    REPLAY_SYNC_KEYS = 0,  /* a request waits for the earlier requests on its keys (sync.c) */
    REPLAY_SYNC_OFF
};

/* Why a request was not sent (replay_result.skipped_by). */
enum replay_skip {
    REPLAY_SKIP_UNSAFE = 0, /* destroys or reconfigures the target (not in --allow) */
    REPLAY_SKIP_WRITE,      /* --read-only */
    REPLAY_SKIP_FILTER,     /* --only / --skip */
    REPLAY_SKIP_AUTH,       /* AUTH in the trace and no credentials for the target */
    REPLAY_SKIP_SELECT,     /* SELECT while the target URL fixes the database, or of a
                             * non-zero db in cluster mode */
    REPLAY_SKIP_KEYS,       /* --key-prefix: neither the table nor the target (COMMAND GETKEYS)
                             * could give the key positions */
    REPLAY_SKIP_UNREACHABLE,/* due while its connection was down for longer than the window */
    REPLAY_SKIP_MALFORMED,  /* recorded as malformed (the server rejected its bytes); sent only
                             * with replay_opts.send_malformed */
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
    size_t max_buffered;           /* read-ahead bound in requests per thread; 0 means 16384 */
    size_t max_buffered_bytes;     /* and in bytes of those requests; 0 means 64 MiB */
    /* cluster mode */
    int cluster;                   /* 0: detect (CLUSTER SHARDS on the target), 1: required,
                                    * -1: never (a cluster node is then one server) */
    const struct replay_target *seeds; /* further seed nodes tried after `target` */
    size_t nseeds;
    int read_from_replicas;        /* reads to replicas (READONLY), spread by connection */
    int no_split;                  /* cross-slot MGET/MSET/DEL/UNLINK/EXISTS/TOUCH go whole
                                    * (and fail with CROSSSLOT) instead of split per slot */
    unsigned part, nparts;         /* nparts > 1: replay only part `part` (0-based) of the
                                    * recorded connections, by a hash of their id (--part I/N) */
    uint64_t start_at_ns;          /* > 0: the schedule starts at this wall-clock time (ns since
                                    * the epoch), so that parts on several hosts start together */
    int verify_writes;             /* remember each key's last acknowledged write; read them back
                                    * at the end (replay_result.verify) */
    unsigned wait_replicas;        /* > 0: WAIT N 0 after each tracked write; a write counts as
                                    * acknowledged only when N replicas have it */
    const struct replay_target *verify_target; /* where to read back (NULL: the target) */
    double reply_timeout_s;        /* a connection with requests unanswered this long (blocking
                                    * commands aside) is closed as dead; 0 means 10 s in
                                    * cluster mode, none otherwise */
    double stall_timeout_s;        /* nothing answered, lost or dropped for this long while
                                    * requests (blocking commands aside) wait for the target: the
                                    * target is taken as stalled and the replay ends (exit 1);
                                    * 0 means 15 s */
    int send_malformed;            /* send requests recorded as malformed (their raw bytes) */
    int pace;                      /* REPLAY_PACE_*: chains of requests sent on replies, or the
                                    * recorded schedule only */
    double chain_gap_ms;           /* --pace auto: a request sent at most this long after its
                                    * connection's last reply (with nothing else outstanding) is
                                    * chained to it; 0 means 1 ms */
    int sync;                      /* REPLAY_SYNC_*: the recorded order across connections */
    int keys_from_target;          /* ask the target's COMMAND GETKEYS even for commands the table
                                    * knows (tests of that path) */
    int read_through;              /* a read that misses where the recording had a value writes
                                    * it back, as a cache-aside application would (replay.c's
                                    * rules: GET/GETEX as SET NX, HGET as HSETNX, the recorded
                                    * size, the recorded TTL or read_through_ttl_ms) */
    unsigned scale;                /* --scale N: every recorded connection N times, each copy
                                    * with its own connections and keys (scale.c); 0 means 1 */
    uint64_t read_through_ttl_ms;  /* the TTL of a written-back key the trace shows none for;
                                    * 0: none */
};

/* Per cluster node (cluster mode), in the result. */
struct replay_shard_result {
    char addr[300];     /* host:port as the cluster announces it */
    char id[48];        /* node id, when known */
    char *slots;        /* the slot ranges it served at the end ("0-5460 ..."); malloc'd */
    int primary;        /* a primary at the end of the replay */
    uint64_t sent, ops, errors;
    uint64_t moved, ask, tryagain; /* redirections and retries answered by this node */
    struct rt_hist *lat;           /* from the intended send time */
};

/* --verify-writes: what the read back found. */
struct replay_verify {
    int ran;               /* the read back happened */
    uint64_t keys;         /* keys written */
    uint64_t verified;     /* the last acknowledged write is there */
    uint64_t lost;         /* acknowledged, and the key is gone */
    uint64_t reverted;     /* acknowledged, and the key holds another value (or is back) */
    uint64_t uncertain;    /* a write after the last acknowledged one was never answered */
    uint64_t untracked;    /* the last write's effect is not known exactly (see verify.c) */
    uint64_t unreadable;   /* the read back failed */
    char error[200];       /* why the read back could not run */
    char examples[5][200]; /* the first lost or reverted keys */
    size_t nexamples;
};

/* One second of the replay (by when replies were counted, to about 0.1 s). */
struct replay_tick {
    double t_s;                    /* end of the second, from the start */
    uint64_t ops, errors;
    uint64_t hits, misses;         /* reads answered with a value where the recording had one,
                                    * and with none (misses) */
    uint64_t p50_ns, p99_ns, max_ns;
    uint64_t outstanding;          /* requests sent and unanswered at the end of the second (a
                                    * second with no ops and some outstanding is a stall) */
};

/* The error replies of the target, by message (replay_errmsg_key() groups messages that differ
 * only by their arguments); the most frequent REPLAY_ERRMSG_MAX, the others summed into one
 * "(other messages)" entry. */
#define REPLAY_ERRMSG_MAX 16
struct replay_errmsg {
    char msg[128];
    uint64_t count;
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
    struct replay_errmsg *errmsgs; /* error replies by message, most frequent first (malloc'd) */
    size_t nerrmsgs;
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
    uint64_t still_blocked;   /* of them, blocking commands whose recorded reply never came
                               * either (a consumer waiting when the capture ended): not a
                               * failure */
    uint64_t lost;            /* sent, and lost with their connection (counted in errors) */
    uint64_t hits;            /* reads answered with a value where the recording had one */
    int read_through_on;      /* --read-through was given */
    unsigned scale;           /* --scale: copies of the recorded users */
    uint64_t scale_unkeyed;   /* requests of copies whose keys could not be moved (a command
                               * the command table cannot place): sent as recorded */
    uint64_t read_through;    /* --read-through: misses written back */
    uint64_t read_through_errors; /* of them, refused by the target or lost */
    uint64_t read_through_skipped; /* misses not written back (a read it has no rule for, no
                               * connection to the key's node) */
    uint64_t unsent;          /* requests read but never sent because the replay failed first
                               * (the target stalled, a fatal error) */
    uint64_t cut;             /* requests read but not sent because --duration or a signal ended
                               * the run (not a failure of the target) */
    uint64_t unread;          /* requests of the window never read because the target stalled
                               * first (from the trace's index) */
    uint64_t protocol_errors; /* replies the target sent before any request asked for them */
    uint64_t unreadable_chunks; /* chunks of an encoding this version cannot read (skipped, and
                                 * their requests with them) */
    uint64_t unreadable_offset; /* the first of them */
    uint64_t total_requests;  /* requests the replay will read (all loops; estimated for a time
                               * window), for progress; 0 when not known */
    int stalled;              /* the target stopped answering (stall_timeout_s) */
    char stall_why[200];
    uint64_t setup_errors;    /* errors to the AUTH/SELECT/HELLO resptrace sends itself */
    uint64_t getkeys_asked;   /* --key-prefix: key positions asked of the target (COMMAND GETKEYS) */
    char setup_error[200];    /* the first of them */
    char conn_error[200];     /* the first connection error */
    double duration_s;        /* wall time from the first due request to the end */
    uint64_t start_unix_ns;   /* the schedule's start, wall-clock (ns since the epoch) */
    double start_late_s;      /* --start-at had passed by this much: started at once */
    double trace_span_s;      /* trace time covered (one loop) */
    int stopped;              /* interrupted (signal or --duration) */
    struct rt_hist *lat, *svc, *lag; /* overall; lag: send time minus due time */
    struct rt_hist *slip;     /* how far behind the recording requests were due (chained ones;
                               * scheduled ones count 0) */
    int64_t slip_final_ns;    /* the slip of the last request sent (negative: ahead) */
    uint64_t chained, scheduled; /* requests sent by each pacing */
    struct rt_hist *sync_wait;   /* --sync keys: how long requests waited for others' */
    uint64_t sync_waited;     /* requests that waited */
    uint64_t sync_barriers;   /* requests ordered as barriers (keyless writes, keyless scripts) */
    uint64_t sync_unordered;  /* requests the order could not place (unknown commands, keys the
                               * table cannot find, out of memory, a wait given up) */
    uint64_t sync_overlapped; /* requests on a key that another connection's request had open
                               * in the recording (sent, reply not yet come): which of the two
                               * the server ran first is not on the wire; the order kept is the
                               * order they arrived in, a guess */
    uint64_t sync_commuted;   /* identical writes (SET k v after the same SET k v) that did not
                               * wait for the one before them: either order leaves one state */
    struct replay_cmd_result *cmds;
    size_t ncmds;
    struct replay_errmsg *errmsgs; /* every command's error replies by message */
    size_t nerrmsgs;
    /* cluster mode */
    int cluster;              /* the target ran in cluster mode */
    uint64_t moved, ask, tryagain, refreshes;
    uint64_t split;           /* cross-slot multi-key commands sent split per slot */
    uint64_t crossslot;       /* commands whose keys span slots, sent whole */
    uint64_t crossslot_tx;    /* transactions whose keys span slots */
    uint64_t tx_aborted;      /* EXEC answered with an error (e.g. a queued command met a
                               * slot being migrated: MOVED/ASK inside MULTI are not followed) */
    uint64_t select_mapped;   /* SELECT of a non-zero db skipped (cluster mode has db 0) */
    struct replay_shard_result *shards;
    size_t nshards;
    struct replay_tick *ticks;
    size_t nticks;
    struct replay_verify verify;
};

/* A snapshot for the live status line. */
struct replay_status {
    double elapsed_s;
    uint64_t sent, ops, errors, skipped, conns;
    uint64_t hits, misses;
    uint64_t requests;       /* requests read from the trace so far (sent, skipped or waiting) */
    uint64_t total;          /* requests the replay will read; 0 when not known */
    uint64_t inflight;       /* sent and unanswered now */
    int64_t slip_ns;         /* how far behind the recording the replay runs (the latest) */
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

/* A target's topology, as replay reads it before replaying. */
struct replay_node {
    char addr[300]; /* host:port */
    char id[48];
    int primary;
    int master;     /* a replica's primary (index), else -1 */
};

struct replay_topology {
    int cluster;             /* 0: a standalone server (one node serving every slot) */
    struct replay_node *nodes;
    size_t n;
    uint16_t owner[16384];   /* the node index serving each slot; 0xffff: none */
};

/*! replay_probe() : the preflight check of a target: connects (TLS as replay would, with the
 *  same identity check), sends PING and reads the first bytes of the answer, then AUTH and the
 *  URL's SELECT. Names what it met within about 2 s: a refused connection, a server that does
 *  not speak RESP (an HTTP server, a TLS port spoken to in plain text, a plaintext port spoken
 *  to in TLS), NOAUTH without credentials, AUTH refused, a database that does not exist.
 *  @return 0, or a negative code with `err` saying which. */
int replay_probe(const struct replay_opts *o, struct rt_err *err);

/*! replay_topology_read() : connects to `o->target` (then `o->seeds`) and reads its topology
 *  as replay_run() would (honouring o->cluster). @return 0, or a negative code with `err`.
 *  Free with replay_topology_free(). */
int replay_topology_read(const struct replay_opts *o, struct replay_topology *t,
                         struct rt_err *err);
void replay_topology_free(struct replay_topology *t);

/* ---- one connection to a server (conn.c) ------------------------------------------------
 * Blocking, pipelined, for the tools that talk to a server outside a replay (prime's loader,
 * shards' slot map): the replayer's own control connection, so the same TLS setup and
 * identity check (a host name, or the IP address of an IP target, against the certificate),
 * the same AUTH and SELECT. Replies are hiredis's (struct redisReply, freeReplyObject). */
struct replay_conn;
struct redisReply;

/*! replay_conn_open() : connects to `addr` ("host:port"; NULL: the target's own host and
 *  port) with the target's TLS (rediss://, `tls` may be NULL), user and password; SELECTs the
 *  target's database when it names one other than 0. `timeout_s` bounds the connect and each
 *  read and write (0: 3 s). @return the connection, or NULL with `err` naming the server and
 *  what failed (the certificate, AUTH, ...). */
struct replay_conn *replay_conn_open(const struct replay_target *t, const struct replay_tls *tls,
                                     const char *addr, double timeout_s, struct rt_err *err);
/*! replay_conn_append() : queues a command (argv with lengths): it leaves with the next
 *  replay_conn_reply(), and its reply comes in order. @return 0 or a negative code. */
int replay_conn_append(struct replay_conn *c, int argc, const char **argv, const size_t *len,
                       struct rt_err *err);
/*! replay_conn_reply() : writes what is queued and reads the next reply. @return it (the
 *  caller frees it), or NULL with `err` when the connection failed (it is then closed). */
struct redisReply *replay_conn_reply(struct replay_conn *c, struct rt_err *err);
/*! replay_conn_command() : append and reply. */
struct redisReply *replay_conn_command(struct replay_conn *c, int argc, const char **argv,
                                       const size_t *len, struct rt_err *err);
/*! replay_conn_set_timeout() : bounds each later read and write. */
void replay_conn_set_timeout(struct replay_conn *c, double seconds);
/*! replay_conn_name() : "host:port" of the connection, for messages. */
const char *replay_conn_name(const struct replay_conn *c);
void replay_conn_close(struct replay_conn *c);

/*! replay_result_free() : frees what replay_run() put in `res`. */
void replay_result_free(struct replay_result *res);

/* ---- replay --check (check.c) ------------------------------------------------------------
 * What of a trace will not run as recorded against a target, found without sending anything. */
enum replay_check_kind {
    REPLAY_CK_UNSAFE, REPLAY_CK_UNKNOWN, REPLAY_CK_SPLIT, REPLAY_CK_CROSSSLOT,
    REPLAY_CK_TX_CROSS, REPLAY_CK_SELECT, REPLAY_CK_KEYLESS, REPLAY_CK_PUBSUB,
    REPLAY_CK_ALLNODES, REPLAY_CK_BLOCKING, REPLAY_CK_NOSLOT, REPLAY_CK_MAX
};

struct replay_check_cat {
    uint64_t n;
    char ex[3][120]; /* the first three: "conn C +T s: ARGV..." (printable) */
    size_t nex;
};

struct replay_check {
    struct replay_topology topo; /* as replay reads it */
    uint64_t requests;
    struct replay_check_cat cat[REPLAY_CK_MAX];
    uint64_t *per_node;          /* keyed requests per topology node (all on node 0 when
                                  * standalone) */
};

/*! replay_check() : reads o->target's topology and walks o->trace. @return 0; or a negative
 *  code with `err` (the topology could not be read: `c` empty; the trace is damaged: `c`
 *  holds what came before). Free with replay_check_free() either way. */
int replay_check(const struct replay_opts *o, struct replay_check *c, struct rt_err *err);
void replay_check_free(struct replay_check *c);
/*! replay_check_key() / replay_check_text() : the JSON name and the sentence of a kind. */
const char *replay_check_key(int kind);
const char *replay_check_text(int kind);

/* ---- the capacity sweep (sweep.c) -------------------------------------------------------
 * One term of an SLO: "p99<2ms", "get:p99.9<5ms", "max<50ms", "errors<0.1%". */
struct replay_slo_term {
    char cmd[64];  /* empty: overall; else the command (lower case) */
    int errors;    /* the error rate, in percent of the requests sent */
    double pct;    /* the percentile (100: max) */
    double limit;  /* ns, or percent for errors */
    char text[96]; /* as given */
};

/*! replay_slo_parse() : "p99<2ms,get:p99.9<5ms,errors<0.1%" (',' or ';' between terms) into
 *  `*out` (free() it). @return 0, or RT_EINVAL naming the spec. */
int replay_slo_parse(const char *spec, struct replay_slo_term **out, size_t *n,
                     struct rt_err *err);

/*! replay_slo_holds() : @return 1 when every term holds in `r`; else 0 with `why` naming the
 *  first that broke and its value. A term of a command that did not run holds. */
int replay_slo_holds(const struct replay_result *r, const struct replay_slo_term *t, size_t n,
                     char *why, size_t cap);

/* What a step of the sweep was, for the caller to print and record. */
struct replay_sweep_step {
    double factor;                  /* the speed, or (by_scale) the copies of the users */
    double speed;                   /* the replay's speed */
    int held;
    int lagging;                    /* its p99 lag passed max_lag_ms */
    char why[200];                  /* when it broke: the SLO term, the lag, or the users' slip */
    const struct replay_result *res; /* valid during the call only */
};

struct replay_sweep_opts {
    const double *factors; /* tried in turn until one breaks */
    size_t nfactors;
    int by_scale;          /* the factors are --scale copies of the users, not speeds */
    const struct replay_slo_term *slo;
    size_t nslo;
    double max_lag_ms;     /* a step whose p99 lag passes this breaks (it could not keep the
                            * schedule: the replayer, not the target, was the limit) */
    unsigned refine;       /* bisection steps between the last that held and the first that
                            * broke (geometric; whole copies by scale) */
    void (*on_step)(void *ctx, const struct replay_sweep_step *st);
    void *ctx;
};

struct replay_sweep_result {
    double best;      /* the highest factor that held; 0: none */
    double broke;     /* the lowest that broke; 0: none did */
    double failed_at; /* the factor whose replay could not run (the error says why) */
};

/*! replay_sweep() : replays `o` at each factor in turn (o->speed or o->scale set per step)
 *  until one breaks the SLO, lags, is stopped, or its request/response loops slip behind
 *  their pace (the run took over 1.1x the trace's span at that speed, plus 0.25 s); then
 *  narrows between the last that held and the first that broke. @return 0, or the code of a
 *  replay that could not run (with `err`). */
int replay_sweep(struct replay_opts *o, const struct replay_sweep_opts *so,
                 replay_status_fn status, void *sctx, volatile int *stop,
                 struct replay_sweep_result *out, struct rt_err *err);

/* The disruption window of a result's timeline (disrupt.c: which seconds are bad and which is
 * the worst) and the miss storm after it. */
struct replay_disruption {
    double from_s, to_s;       /* from the start of its first bad second to the end of its last */
    uint64_t errors;           /* in the window */
    uint64_t peak_p99_ns;      /* the highest per-second p99 in it */
    double misses_before;      /* misses per second before the window */
    uint64_t extra_misses;     /* misses above that rate, from the window's start until warm */
    int warmed;                /* 0: the misses had not come back down when the run ended */
    double warmup_s;           /* from the window's start to the end of the first second after
                                * it whose misses are back within 2x of the rate before (or
                                * under 1% of that second's replies); 0 without a storm */
};

/*! replay_disruption() : finds the disruption window of `r->ticks`.
 *  @return 1 and fills `d` when there is one, else 0. */
int replay_disruption(const struct replay_result *r, struct replay_disruption *d);

/*! replay_skip_name() : "unsafe", "read_only", "filter", "auth", "select", "keys",
 *  "unreachable", "malformed". */
const char *replay_skip_name(unsigned why);

/*! replay_failed() : whether a finished replay did not do its job: some request of the window
 *  was neither answered nor skipped by policy (lost with its connection, dropped while the
 *  target was unreachable, unanswered at the end, never sent because the target stalled).
 *  Requests cut by --duration or a signal do not count. @return 0 when every request was
 *  answered (error replies are answers), else the number of requests that were not, with
 *  `why` (a line without newline) saying what happened to them. */
uint64_t replay_failed(const struct replay_result *r, char *why, size_t cap);

/*! replay_errmsg_key() : the grouping key of an error message: the message up to its
 *  arguments (", with args beginning with:" and the like cut), printable, at most cap-1
 *  bytes. */
void replay_errmsg_key(const char *msg, size_t len, char *out, size_t cap);

/*! replay_cmd_is_unsafe() : 1 if the command (argv, lower or upper case) destroys or
 *  reconfigures a server, so that replay skips it unless allowed. */
int replay_cmd_is_unsafe(const char *name, const char *sub);


/* ---- A throwaway redis-server (server.c) ------------------------------------------------ */

#include <sys/types.h>

struct replay_server {
    pid_t pid;     /* 0 when not running */
    uint16_t port; /* on 127.0.0.1 */
    char dir[256]; /* its working directory and log (removed by replay_server_stop) */
};

/* Where the server comes from (the library reads no environment: the CLI passes
 * $RESPTRACE_REDIS_SERVER, $PATH and $TMPDIR). */
struct replay_server_opts {
    const char *binary;            /* a path (with a '/') or a name looked up in search_path;
                                    * NULL: "redis-server" */
    const char *search_path;       /* directories as in PATH; NULL: /usr/local/bin:/usr/bin:/bin */
    const char *tmpdir;            /* where its directory is made; NULL: /tmp */
    const char *const *extra_args; /* more arguments (NULL-terminated; may be NULL) */
};

/*! replay_server_start() :
 *  Starts redis-server (`o` may be NULL: the defaults) with --bind 127.0.0.1 --port P (a free
 *  port, picked again when another process takes it first) --save "" --appendonly no in a
 *  fresh directory under o->tmpdir, its log in dir/redis.log (stderr too), stdin and stdout on
 *  /dev/null, plus o->extra_args. Waits up to 5 s until it answers PING
 *  and INFO with its own process id on the plain port (a -NOAUTH answer counts: requirepass
 *  in extra_args), so TLS options (--tls-port ...) may be added but the plain port must stay
 *  (no --port in extra_args). The server runs in its own process group (a terminal's Ctrl-C
 *  does not reach it) and gets SIGTERM when the thread that started it ends
 *  (PR_SET_PDEATHSIG): start it from a thread that lives as long as it is needed.
 *  @return 0, or a negative code with `err` naming the binary and quoting the last lines of
 *  its log; `s` is then zeroed and nothing is left behind. */
int replay_server_start(struct replay_server *s, const struct replay_server_opts *o,
                        struct rt_err *err);

/*! replay_server_stop() : SIGTERM (SIGKILL after 3 s), reaps it, removes its directory.
 *  Does nothing on a server already stopped or never started (zeroed). */
void replay_server_stop(struct replay_server *s);

#ifdef __cplusplus
}
#endif
#endif
