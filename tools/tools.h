/* tools.h: the resptrace subcommands and the helpers they share. */
#ifndef RESPTRACE_TOOLS_H
#define RESPTRACE_TOOLS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "format.h"

/* Exit codes of every subcommand. */
enum {
    RT_EXIT_OK = 0,
    RT_EXIT_FAIL = 1, /* the work failed or the input is damaged */
    RT_EXIT_USAGE = 2,       /* bad command line */
    RT_EXIT_INTERRUPTED = 130 /* stopped by SIGINT/SIGTERM after writing what it had */
};

struct rt_subcmd {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
    const char *summary;
};

/* The table of subcommands, ending with a NULL name. */
extern const struct rt_subcmd rt_subcommands[];

int cmd_record(int argc, char **argv);
void usage_record(FILE *out);
int cmd_info(int argc, char **argv);
void usage_info(FILE *out);
int cmd_cat(int argc, char **argv);
void usage_cat(FILE *out);
int cmd_replay(int argc, char **argv);
void usage_replay(FILE *out);
int cmd_hotkeys(int argc, char **argv);
void usage_hotkeys(FILE *out);
int cmd_stat(int argc, char **argv);
void usage_stat(FILE *out);
int cmd_merge(int argc, char **argv);
void usage_merge(FILE *out);
int cmd_slice(int argc, char **argv);
void usage_slice(FILE *out);
int cmd_filter(int argc, char **argv);
void usage_filter(FILE *out);
int cmd_anonymize(int argc, char **argv);
void usage_anonymize(FILE *out);
int cmd_report(int argc, char **argv);
void usage_report(FILE *out);
int cmd_convert(int argc, char **argv);
void usage_convert(FILE *out);
int cmd_shards(int argc, char **argv);
void usage_shards(FILE *out);
int cmd_compare(int argc, char **argv);
void usage_compare(FILE *out);
int cmd_prime(int argc, char **argv);
void usage_prime(FILE *out);

/* ---- the analyses as JSON objects, for the report (the same objects their --json prints) ---- */

/*! rt_stat_json() : `resptrace stat --json` of the trace at `path`.
 *  @return a new reference, or NULL when the trace cannot be opened (err says why). When the
 *  trace is damaged the object is still returned (its "damage" names it) and err->code is
 *  negative. */
json_t *rt_stat_json(const char *path, int salvage, struct rt_err *err);

struct rt_hotkeys_opts {
    size_t top;       /* keys, prefixes and slots listed (0: 20) */
    int by_bytes;     /* rank by bytes moved instead of operations */
    int prefix_depth; /* ':'-levels of the prefixes (0: none) */
    int approx;       /* Space-Saving with `capacity` counters (0: 10000) */
    size_t capacity;
    int salvage;
};

/*! rt_hotkeys_json() : `resptrace hotkeys --json` of the trace at `path` with options `o`.
 *  @return a new reference, or NULL like rt_stat_json(); damage is reported the same way. */
json_t *rt_hotkeys_json(const char *path, const struct rt_hotkeys_opts *o, struct rt_err *err);

/*! rt_shards_json() : `resptrace shards --json --shards C1,C2,...` of the trace at
 *  `trace_path`: a JSON array with one object per count in `counts` (each 1..1024, slots split
 *  evenly as `redis-cli --cluster create` does): {"shard_count", "shards": [{"shard", "slots":
 *  [[first, last], ...], "ops", "keys", "bytes", "peak_ops_s", "mean_ops_s", "bytes_s",
 *  "memory", ...}], "imbalance" (null without ops), "hottest", "fair_share",
 *  "keys_over_fair_share", ...}. @return a new reference, or NULL with err set when the
 *  trace cannot be read or is damaged, or a count is out of range. */
json_t *rt_shards_json(const char *trace_path, const int *counts, size_t ncounts,
                       struct rt_err *err);

/* ---- replay results (RUN.json of `resptrace replay --json`): compare and merge ---- */

struct rt_hist;

/*! rt_compare_json() : `resptrace compare --json` of the `n` runs (parsed RUN.json objects,
 *  borrowed) named `names[i]` (their label, target or file), the first the baseline:
 *  {"threshold_pct", "baseline", "runs": [...], "rows": [{"scope": "overall"|"class"|
 *  "command", "name", "metric", "values": [...], "diff_pct": [null, ...], "flag": [null,
 *  "worse"|"better"|"changed"|null, ...]}, ...], "notes": [...]}. Used by the HTML report.
 *  @return a new reference, or NULL when out of memory. */
json_t *rt_compare_json(json_t *const *runs, const char *const *names, size_t n,
                        double threshold_pct);

/*! rt_run_latency_json() : a latency object of a RUN.json ({"p50", "p90", "p99", "p999",
 *  "max", "mean", "count", "hist"}, microseconds) from `h`. @return a new reference, or NULL. */
json_t *rt_run_latency_json(const struct rt_hist *h);

/*! rt_run_hist() : the histogram of latency object `lat` (owned by the caller: rt_hist_free),
 *  or NULL with err naming `where` when it has no valid "hist". */
struct rt_hist *rt_run_hist(const json_t *lat, const char *where, struct rt_err *err);

/*! rt_run_is_latency() : 1 when `o` is a latency object (has "hist" or "p50"). */
int rt_run_is_latency(const json_t *o);

/*! rt_merge_runs() : `resptrace merge RUN.json... -o OUT [--label L] [--json[=FILE]]`
 *  (merge_runs.c): `json` NULL for the text summary, "-" for the JSON summary instead of it
 *  (on stderr when OUT is "-"), or a file for the JSON summary there beside the text.
 *  @return the exit status. */
int rt_merge_runs(char *const *files, size_t n, const char *out, const char *label,
                  const char *json);

/* ---- memory (cli.c) ----
 * The analysis commands hold a trace's whole key set; on an allocation failure they stop with
 * "resptrace CMD: out of memory" (exit 1) rather than carry the failure through every counter
 * update. Sizes of 0 allocate 1 byte, so the result is never NULL. */
_Noreturn void rt_oom(const char *cmd);
void *rt_xrealloc(const char *cmd, void *p, size_t n);
void *rt_xcalloc(const char *cmd, size_t n, size_t sz);
char *rt_xstrdup(const char *cmd, const char *s);

/* ---- formatting helpers (cli.c) ---- */

/*! rt_fmt_time() : "2026-11-26T15:42:32.123456789Z" into buf (at least 32 bytes). */
char *rt_fmt_time(uint64_t ns, char *buf, size_t cap);

/*! rt_fmt_bytes() : "1.5 MiB" style into buf. */
char *rt_fmt_bytes(uint64_t n, char *buf, size_t cap);

/*! rt_json_bytes() : a JSON string for binary-safe bytes. Valid UTF-8 passes through except
 *  that a backslash becomes two backslashes; every byte that is not part of valid UTF-8
 *  becomes the four characters \xHH. Decoding is unambiguous: "\\" is a backslash, "\xHH"
 *  the byte HH, anything else itself. @return a new reference, NULL on out of memory. */
json_t *rt_json_bytes(const void *p, size_t n);

/*! rt_quote() : redis-cli style quoting of bytes for text output ("a\x00b"), at most `max`
 *  input bytes shown, then `...(+N bytes)`, written to `out`. */
void rt_quote(FILE *out, const void *p, size_t n, size_t max);

/*! rt_json_u64() : a JSON number for an unsigned 64-bit count. */
json_t *rt_json_u64(uint64_t v);

/*! rt_print_json() : one compact JSON object per line on `out`, then frees it. */
int rt_print_json(FILE *out, json_t *obj);

/*! rt_open_trace() : opens a trace for a command, printing the error if it fails. */
struct trace_reader *rt_open_trace(const char *cmd, const char *path, int salvage);
/*! rt_open_trace_opts() : the same with the reader's options (lazy_args: hotkeys). */
struct trace_reader *rt_open_trace_opts(const char *cmd, const char *path,
                                        const struct trace_reader_opts *o);

/*! rt_parse_time() : a time given on the command line: "+S" or "S" seconds after `base_ns`
 *  (fractions allowed), an integer of nanoseconds since the epoch (> 1e15), or an ISO 8601
 *  UTC time "2026-11-26T15:42:32[.fff]Z". @return 0 or -1. */
int rt_parse_time(const char *s, uint64_t base_ns, uint64_t *out);

/* ---- conventions every subcommand follows (cli.c) ----
 *
 * Usage errors: one line naming the problem, then "see 'resptrace CMD --help'" (never the
 * whole help), exit 2. Help texts fit 80 columns.
 *
 * JSON: `--json` writes the command's one JSON document to stdout, `--json=FILE` to FILE
 * (getopt: {"json", optional_argument, ...}; the path is `optarg ? optarg : "-"`). Every
 * document starts with rt_json_doc()'s "tool", "version", "schema" and "command"; times carry
 * their unit in their name (_s, _ms, _us, _ns). Text output then goes to stderr when the
 * JSON goes to stdout.
 *
 * Outputs never destroy inputs: an output that is one of the inputs (same device and inode)
 * is refused, and every output file is written under a temporary name in its directory and
 * renamed into place only when complete (struct rt_out).
 *
 * Ctrl-C: rt_catch_signals() makes SIGINT/SIGTERM set rt_interrupted; the command stops
 * reading, writes what it has and exits RT_EXIT_INTERRUPTED (130).
 *
 * Long work shows a one-line status on a terminal (struct rt_progress), at most 79 columns,
 * updated in place about four times a second, cleared when done. */

#define RT_JSON_SCHEMA 2 /* bumped when a field changes meaning or name */

/*! rt_usage_error() : prints "resptrace CMD: <message>" and "see 'resptrace CMD --help'" to
 *  stderr. @return RT_EXIT_USAGE. */
int rt_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*! rt_opt_encoding() : `arg` of --encoding (the commands that write traces: record, slice,
 *  filter, merge, anonymize, convert --from) into *enc (1-3). @return 0, or RT_EXIT_USAGE
 *  after rt_usage_error() naming it. */
int rt_opt_encoding(const char *cmd, const char *arg, int *enc);

/*! rt_json_doc() : a new JSON object {"tool": "resptrace", "version": "...", "schema":
 *  RT_JSON_SCHEMA, "command": cmd} for a command's document to be added to (aborts with
 *  rt_oom on out of memory). */
json_t *rt_json_doc(const char *cmd);

/*! rt_json_write() : writes `doc` (released) indented to `path`: NULL or "-" is stdout, else
 *  a file written through struct rt_out (temporary name, renamed when complete).
 *  @return 0, or -1 after printing why. */
int rt_json_write(const char *cmd, json_t *doc, const char *path);

/*! rt_same_file() : 1 when `a` and `b` name the same existing file (device and inode). */
int rt_same_file(const char *a, const char *b);

/*! rt_out_refuse_inputs() : refuses an output that is one of the `n` inputs (same device and
 *  inode), printing "resptrace CMD: will not write OUT: it is the input IN" . @return 0 when
 *  the output is none of them, else -1. "-" (stdout/stdin) is never compared. */
int rt_out_refuse_inputs(const char *cmd, const char *out, const char *const *inputs, size_t n);

/* An output file written under a temporary name beside it and renamed into place. */
struct rt_out {
    char *path;  /* the final name (NULL for stdout) */
    char *tmp;   /* the temporary file ("DIR/.NAME.tmp-XXXXXX") */
    int fd;      /* its descriptor, -1 once handed to a FILE or closed */
    FILE *f;     /* rt_out_open()'s stream */
};

/*! rt_out_begin() : creates the temporary file for `path` (mode `mode`, e.g. 0644, or 0600 for
 *  traces) and returns its descriptor (owned by `o` until handed over, e.g. to
 *  trace_writer_open_fd, which then closes it). "-" means stdout (fd 1, nothing renamed); an
 *  existing FIFO or device (/dev/null) is opened and written in place (o->tmp NULL).
 *  @return the fd, or -1 after printing why. */
int rt_out_begin(const char *cmd, struct rt_out *o, const char *path, unsigned mode);

/*! rt_out_open() : rt_out_begin() with a stdio stream on it (o->f). @return o->f or NULL. */
FILE *rt_out_open(const char *cmd, struct rt_out *o, const char *path, unsigned mode);

/*! rt_out_commit() : flushes and closes o->f (when rt_out_open made it) or o->fd (unless
 *  `handed_over`: the descriptor was closed by its new owner), then renames the temporary
 *  file to the final name. @return 0, or -1 after printing why (the temporary file is
 *  removed and the final name is left as it was). */
int rt_out_commit(const char *cmd, struct rt_out *o, int handed_over);

/*! rt_out_abort() : closes and removes the temporary file; the final name is untouched.
 *  Accepts an rt_out that was never begun (zeroed) or already committed. */
void rt_out_abort(struct rt_out *o, int handed_over);

/* SIGINT/SIGTERM seen since rt_catch_signals(). */
extern volatile int rt_interrupted;

/*! rt_catch_signals() : SIGINT and SIGTERM set rt_interrupted (no SA_RESTART, so a blocking
 *  read returns EINTR); SIGPIPE is ignored. */
void rt_catch_signals(void);

/* The one-line status of long work on a terminal (stderr). */
struct rt_progress {
    int on;             /* stderr is a terminal and not --quiet */
    int shown;          /* something is on the line */
    uint64_t start_ns, last_ns;
};

/*! rt_progress_init() : on when stderr is a terminal and `quiet` is 0. */
void rt_progress_init(struct rt_progress *p, int quiet);

/*! rt_progress_due() : 1 when the line should be updated now (about 4 times a second). Cheap
 *  enough to call every few thousand events. */
int rt_progress_due(struct rt_progress *p);

/*! rt_progress_show() : rewrites the status line in place ("\r\033[K" then the text cut to
 *  79 columns). */
void rt_progress_show(struct rt_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*! rt_progress_trace() : the common line for a pass over a trace: "CMD 42%  1.2M events
 *  (3.4M/s)  ETA 12s" from the reader's offset in its file, plus `extra` (may be NULL). */
void rt_progress_trace(struct rt_progress *p, const char *cmd, const struct trace_reader *r,
                       uint64_t events, const char *extra);

/*! rt_progress_done() : clears the status line. */
void rt_progress_done(struct rt_progress *p);

/*! rt_warn_cmdline_password() : the warning redis-cli gives for -a: a password on the command
 *  line (`what`: "--pass", "the URL") is visible to every local user; points to the
 *  environment variables RESPTRACE_PASS / REDISCLI_AUTH. Printed once per process. */
void rt_warn_cmdline_password(const char *cmd, const char *what);

/*! rt_env_first() : the value of environment variable `a`, else of `b` (may be NULL); an
 *  empty value counts as unset. @return it, or NULL. */
const char *rt_env_first(const char *a, const char *b);

/*! rt_url_has_password() : 1 when a redis:// or rediss:// URL carries user:pass@. */
int rt_url_has_password(const char *url);

/* The TLS options of every command that talks to a server (replay, prime, shards --target):
 * RT_TLS_LONGOPTS in its getopt_long table, rt_tls_option() in its switch's default, the
 * lines RT_TLS_USAGE in its usage. */
struct replay_tls;
enum { RT_O_CACERT = 0x1000, RT_O_CACERTDIR, RT_O_CERT, RT_O_KEY, RT_O_SNI, RT_O_INSECURE };
#define RT_TLS_LONGOPTS                                                                            \
    {"cacert", required_argument, NULL, RT_O_CACERT},                                              \
        {"cacertdir", required_argument, NULL, RT_O_CACERTDIR},                                    \
        {"cert", required_argument, NULL, RT_O_CERT}, {"key", required_argument, NULL, RT_O_KEY},  \
        {"sni", required_argument, NULL, RT_O_SNI}, {"insecure", no_argument, NULL, RT_O_INSECURE}
#define RT_TLS_USAGE                                                                               \
    "  --cacert FILE       TLS: CA bundle to verify the server with\n"                            \
    "  --cacertdir DIR     TLS: directory of hashed CA certificates\n"                            \
    "  --cert FILE         TLS: client certificate;  --key FILE: its private key\n"               \
    "  --sni NAME          TLS: server name to send and verify (default: the host)\n"             \
    "  --insecure          TLS: do not verify the server's certificate\n"

/*! rt_tls_option() : stores option `c` (with `arg`) in `t` when it is one of RT_TLS_LONGOPTS.
 *  @return 1 when it was, else 0. */
int rt_tls_option(int c, const char *arg, struct replay_tls *t);

#endif
