/* cmd_replay.c: `resptrace replay`: reissue a trace against a target and report. */
#include "tools.h"

#include "replay.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void usage_replay(FILE *out)
{
    fprintf(out,
            "usage: resptrace replay TRACE [--target URL] [options]\n\n"
            "Reissues the requests of a trace at their recorded pace (open loop), with the\n"
            "recorded connections and pipelining, and reports latency measured from when each\n"
            "request was due (coordinated omission corrected), service time, errors and how the\n"
            "replies differ from the recorded ones. Without --target, a throwaway redis-server\n"
            "is started on a free 127.0.0.1 port.\n\n"
            "target:\n"
            "  --target URL        redis://[user:pass@]host:port[/db] or rediss:// (TLS)\n"
            "  --user NAME         ACL user (or RESPTRACE_USER)\n"
            "  --pass PASSWORD     password (or RESPTRACE_PASS, REDISCLI_AUTH); sent with AUTH\n"
            "                      on every new connection, and in place of the trace's AUTH/HELLO\n"
            "  --cacert FILE       TLS: CA bundle to verify the server with\n"
            "  --cacertdir DIR     TLS: directory of hashed CA certificates\n"
            "  --cert FILE         TLS: client certificate;  --key FILE: its private key\n"
            "  --sni NAME          TLS: server name to send and verify (default: the host)\n"
            "  --insecure          TLS: do not verify the server's certificate\n"
            "  --connect-timeout S connect timeout in seconds (3)\n\n"
            "schedule:\n"
            "  --speed X|max       recorded pacing divided by X (1); max: as fast as the target\n"
            "                      answers, keeping each connection's order and pipelining\n"
            "  --rate OPS          a fixed global rate instead of the recorded pacing\n"
            "  --connections preserve|N  one target connection per recorded one (default), or\n"
            "                      the recorded connections folded onto N\n"
            "  --threads T         event loops (1); connections are partitioned\n"
            "  --from T, --to T    trace-time window: seconds from the start (\"+30\") or ISO time\n"
            "  --loop N            go through the trace N times\n"
            "  --duration S        stop after S seconds\n"
            "  --max-lag MS        warn when the p99 schedule lag exceeds this (10 ms)\n"
            "  --strict            exit 1 when the replay could not keep its schedule\n\n"
            "shaping and safety:\n"
            "  --allow CMD[,CMD]   send these although they destroy or reconfigure (FLUSHALL,\n"
            "                      CONFIG, DEBUG, ...: skipped and counted by default)\n"
            "  --only CMD[,CMD]    send only these commands\n"
            "  --skip CMD[,CMD]    never send these\n"
            "  --read-only         skip commands that write\n"
            "  --key-prefix P      prepend P to every key argument (positions from the command\n"
            "                      table; for commands it cannot resolve, the target's COMMAND GETKEYS)\n\n"
            "output:\n"
            "  --json FILE         write the results as JSON (\"-\" for stdout)\n"
            "  -q                  no status line\n\n"
            "Exit status: 0 done, 1 the trace or the target failed (or --strict and the schedule\n"
            "slipped), 2 bad command line.\n");
}

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct ui {
    int tty, quiet;
};

static void status(void *ctx, const struct replay_status *st)
{
    struct ui *ui = ctx;
    if (!ui->tty || ui->quiet)
        return;
    fprintf(stderr,
            "\r\033[Kreplay %.0fs  sent %llu  ops %llu (%.0f/s)  p50 %.3f ms  p99 %.3f ms  "
            "errors %llu  skipped %llu  conns %llu  lag %.1f ms",
            st->elapsed_s, (unsigned long long)st->sent, (unsigned long long)st->ops,
            st->elapsed_s > 0 ? (double)st->ops / st->elapsed_s : 0.0, (double)st->p50_ns / 1e6,
            (double)st->p99_ns / 1e6, (unsigned long long)st->errors,
            (unsigned long long)st->skipped, (unsigned long long)st->conns,
            (double)st->lag_ns / 1e6);
    if (st->final)
        fputc('\n', stderr);
}

/* comma lists, repeatable options */
struct list {
    const char **v;
    size_t n;
};

static void list_add(struct list *l, char *arg)
{
    for (char *save = NULL, *t = strtok_r(arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        for (char *p = t; *p; p++)
            if (*p == ' ')
                *p = '|'; /* "CONFIG SET" as "config|set" */
        l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
        if (!l->v)
            abort();
        l->v[l->n++] = t;
    }
}

static json_t *pct_json(const struct rt_hist *h, double scale)
{
    json_t *j = json_object();
    static const struct {
        const char *k;
        double p;
    } ps[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        json_object_set_new(j, ps[i].k, json_real((double)rt_hist_percentile(h, ps[i].p) / scale));
    json_object_set_new(j, "max", json_real((double)rt_hist_max(h) / scale));
    json_object_set_new(j, "mean", json_real(rt_hist_mean(h) / scale));
    json_object_set_new(j, "count", rt_json_u64(rt_hist_count(h)));
    return j;
}

static json_t *divergence_json(uint64_t misses, uint64_t new_errors, uint64_t type_changed,
                               uint64_t new_values, uint64_t compared)
{
    json_t *j = json_object();
    json_object_set_new(j, "misses", rt_json_u64(misses));
    json_object_set_new(j, "new_errors", rt_json_u64(new_errors));
    json_object_set_new(j, "type_changed", rt_json_u64(type_changed));
    json_object_set_new(j, "new_values", rt_json_u64(new_values));
    json_object_set_new(j, "compared", rt_json_u64(compared));
    return j;
}

static json_t *result_json(const struct replay_result *r, const char *trace, const char *target,
                           double speed, double rate, int lagging, double max_lag_ms)
{
    json_t *j = json_object();
    json_object_set_new(j, "trace", json_string(trace));
    json_object_set_new(j, "target", json_string(target));
    json_object_set_new(j, "speed", speed > 0 ? json_real(speed) : json_string("max"));
    if (rate > 0)
        json_object_set_new(j, "rate", json_real(rate));
    json_object_set_new(j, "requests", rt_json_u64(r->requests));
    json_object_set_new(j, "sent", rt_json_u64(r->sent));
    json_object_set_new(j, "ops", rt_json_u64(r->ops));
    json_object_set_new(j, "errors", rt_json_u64(r->errors));
    json_object_set_new(j, "skipped", rt_json_u64(r->skipped));
    json_t *sb = json_object();
    for (unsigned i = 0; i < REPLAY_SKIP_MAX; i++)
        json_object_set_new(sb, replay_skip_name(i), rt_json_u64(r->skipped_by[i]));
    json_object_set_new(j, "skipped_by", sb);
    json_object_set_new(j, "unanswered", rt_json_u64(r->unanswered));
    json_object_set_new(j, "unsent", rt_json_u64(r->unsent));
    json_object_set_new(j, "pushes", rt_json_u64(r->pushes));
    json_object_set_new(j, "getkeys_asked", rt_json_u64(r->getkeys_asked));
    json_object_set_new(j, "duration_s", json_real(r->duration_s));
    json_object_set_new(j, "trace_span_s", json_real(r->trace_span_s));
    json_object_set_new(j, "ops_per_s",
                        json_real(r->duration_s > 0 ? (double)r->ops / r->duration_s : 0));
    json_object_set_new(j, "latency_us", pct_json(r->lat, 1e3));
    json_object_set_new(j, "service_time_us", pct_json(r->svc, 1e3));
    json_object_set_new(j, "lag_us", pct_json(r->lag, 1e3));
    json_object_set_new(j, "lag_exceeded", json_boolean(lagging));
    json_object_set_new(j, "max_lag_ms", json_real(max_lag_ms));
    json_object_set_new(j, "divergence", divergence_json(r->misses, r->new_errors,
                                                         r->type_changed, r->new_values,
                                                         r->compared));
    json_t *cn = json_object();
    json_object_set_new(cn, "opened", rt_json_u64(r->conn_opened));
    json_object_set_new(cn, "failures", rt_json_u64(r->conn_failures));
    if (r->conn_error[0])
        json_object_set_new(cn, "first_error", json_string(r->conn_error));
    json_object_set_new(j, "connections", cn);
    json_object_set_new(j, "stopped", json_boolean(r->stopped));
    json_t *cmds = json_object();
    for (size_t i = 0; i < r->ncmds; i++) {
        const struct replay_cmd_result *c = &r->cmds[i];
        json_t *o = json_object();
        json_object_set_new(o, "ops", rt_json_u64(c->ops));
        json_object_set_new(o, "errors", rt_json_u64(c->errors));
        json_object_set_new(o, "skipped", rt_json_u64(c->skipped));
        json_object_set_new(o, "latency_us", pct_json(c->lat, 1e3));
        json_object_set_new(o, "service_time_us", pct_json(c->svc, 1e3));
        json_object_set_new(o, "divergence", divergence_json(c->misses, c->new_errors,
                                                             c->type_changed, c->new_values,
                                                             c->compared));
        json_object_set_new(cmds, c->name, o);
    }
    json_object_set_new(j, "commands", cmds);
    return j;
}

static void ms(FILE *out, uint64_t ns) { fprintf(out, " %9.3f", (double)ns / 1e6); }

static void print_table(FILE *out, const struct replay_result *r)
{
    fprintf(out, "%-18s %9s %9s %9s %9s %9s %9s %7s %7s %7s %7s %7s\n", "command", "ops",
            "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "skipped", "misses",
            "newerr", "typechg");
    for (size_t i = 0; i < r->ncmds; i++) {
        const struct replay_cmd_result *c = &r->cmds[i];
        fprintf(out, "%-18.18s %9llu", c->name, (unsigned long long)c->ops);
        if (c->ops) {
            ms(out, rt_hist_percentile(c->lat, 50));
            ms(out, rt_hist_percentile(c->lat, 90));
            ms(out, rt_hist_percentile(c->lat, 99));
            ms(out, rt_hist_percentile(c->lat, 99.9));
            ms(out, rt_hist_max(c->lat));
        } else {
            fprintf(out, " %9s %9s %9s %9s %9s", "-", "-", "-", "-", "-");
        }
        fprintf(out, " %7llu %7llu %7llu %7llu %7llu\n", (unsigned long long)c->errors,
                (unsigned long long)c->skipped, (unsigned long long)c->misses,
                (unsigned long long)c->new_errors, (unsigned long long)c->type_changed);
    }
    fprintf(out, "%-18s %9llu", "(all)", (unsigned long long)r->ops);
    ms(out, rt_hist_percentile(r->lat, 50));
    ms(out, rt_hist_percentile(r->lat, 90));
    ms(out, rt_hist_percentile(r->lat, 99));
    ms(out, rt_hist_percentile(r->lat, 99.9));
    ms(out, rt_hist_max(r->lat));
    fprintf(out, " %7llu %7llu %7llu %7llu %7llu\n", (unsigned long long)r->errors,
            (unsigned long long)r->skipped, (unsigned long long)r->misses,
            (unsigned long long)r->new_errors, (unsigned long long)r->type_changed);
    fprintf(out, "%-18s %9s", "service time", "");
    ms(out, rt_hist_percentile(r->svc, 50));
    ms(out, rt_hist_percentile(r->svc, 90));
    ms(out, rt_hist_percentile(r->svc, 99));
    ms(out, rt_hist_percentile(r->svc, 99.9));
    ms(out, rt_hist_max(r->svc));
    fputc('\n', out);
    fprintf(out, "%-18s %9s", "schedule lag", "");
    ms(out, rt_hist_percentile(r->lag, 50));
    ms(out, rt_hist_percentile(r->lag, 90));
    ms(out, rt_hist_percentile(r->lag, 99));
    ms(out, rt_hist_percentile(r->lag, 99.9));
    ms(out, rt_hist_max(r->lag));
    fputc('\n', out);
    fprintf(out, "\n%llu requests in the trace window, %llu sent, %llu answered in %.2f s "
                 "(%.0f ops/s; the trace spans %.2f s)\n",
            (unsigned long long)r->requests, (unsigned long long)r->sent,
            (unsigned long long)r->ops, r->duration_s,
            r->duration_s > 0 ? (double)r->ops / r->duration_s : 0.0, r->trace_span_s);
    if (r->skipped) {
        fprintf(out, "skipped %llu:", (unsigned long long)r->skipped);
        for (unsigned i = 0; i < REPLAY_SKIP_MAX; i++)
            if (r->skipped_by[i])
                fprintf(out, " %s %llu", replay_skip_name(i), (unsigned long long)r->skipped_by[i]);
        fputc('\n', out);
    }
    fprintf(out, "replies compared with the recording: %llu (misses %llu, new errors %llu, "
                 "type changed %llu, new values %llu)\n",
            (unsigned long long)r->compared, (unsigned long long)r->misses,
            (unsigned long long)r->new_errors, (unsigned long long)r->type_changed,
            (unsigned long long)r->new_values);
    fprintf(out, "connections: %llu opened, %llu lost or refused%s%s\n",
            (unsigned long long)r->conn_opened, (unsigned long long)r->conn_failures,
            r->conn_error[0] ? "; first: " : "", r->conn_error);
    if (r->unanswered)
        fprintf(out, "unanswered when the replay ended: %llu\n", (unsigned long long)r->unanswered);
    if (r->unsent)
        fprintf(out, "never sent (the replay ended first): %llu\n", (unsigned long long)r->unsent);
    if (r->pushes)
        fprintf(out, "out-of-band messages (pub/sub, push): %llu\n",
                (unsigned long long)r->pushes);
    if (r->setup_errors)
        fprintf(out, "errors to resptrace's own AUTH/SELECT/HELLO: %llu (first: %s)\n",
                (unsigned long long)r->setup_errors, r->setup_error);
}

static char *env_first(const char *a, const char *b)
{
    char *v = getenv(a);
    if (!v && b)
        v = getenv(b);
    return v;
}

int cmd_replay(int argc, char **argv)
{
    enum {
        O_TARGET = 256, O_USER, O_PASS, O_CACERT, O_CACERTDIR, O_CERT, O_KEY, O_SNI, O_INSECURE,
        O_CTIMEOUT, O_SPEED, O_RATE, O_CONNS, O_THREADS, O_FROM, O_TO, O_LOOP, O_DURATION,
        O_MAXLAG, O_STRICT, O_ALLOW, O_ONLY, O_SKIP, O_READONLY, O_PREFIX, O_JSON
    };
    static const struct option opts[] = {
        {"target", required_argument, NULL, O_TARGET},
        {"user", required_argument, NULL, O_USER},
        {"pass", required_argument, NULL, O_PASS},
        {"cacert", required_argument, NULL, O_CACERT},
        {"cacertdir", required_argument, NULL, O_CACERTDIR},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"sni", required_argument, NULL, O_SNI},
        {"insecure", no_argument, NULL, O_INSECURE},
        {"connect-timeout", required_argument, NULL, O_CTIMEOUT},
        {"speed", required_argument, NULL, O_SPEED},
        {"rate", required_argument, NULL, O_RATE},
        {"connections", required_argument, NULL, O_CONNS},
        {"threads", required_argument, NULL, O_THREADS},
        {"from", required_argument, NULL, O_FROM},
        {"to", required_argument, NULL, O_TO},
        {"loop", required_argument, NULL, O_LOOP},
        {"duration", required_argument, NULL, O_DURATION},
        {"max-lag", required_argument, NULL, O_MAXLAG},
        {"strict", no_argument, NULL, O_STRICT},
        {"allow", required_argument, NULL, O_ALLOW},
        {"only", required_argument, NULL, O_ONLY},
        {"skip", required_argument, NULL, O_SKIP},
        {"read-only", no_argument, NULL, O_READONLY},
        {"key-prefix", required_argument, NULL, O_PREFIX},
        {"json", required_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct replay_opts o = {0};
    struct rt_err err = {0};
    struct ui ui = {.tty = isatty(2)};
    struct list allow = {0}, only = {0}, skip = {0};
    const char *target_url = NULL, *user = NULL, *pass = NULL, *json_path = NULL;
    const char *from_s = NULL, *to_s = NULL;
    double max_lag_ms = 10;
    int strict = 0, c, rc = RT_EXIT_OK;
    char *end;
    o.speed = 1;
    optind = 1;
#define NUM(var, what)                                                                             \
    do {                                                                                           \
        var = strtod(optarg, &end);                                                                \
        if (*end || !*optarg || !(var > 0) || !isfinite(var)) {                                    \
            fprintf(stderr, "resptrace replay: %s takes a positive number, not '%s'\n", what,      \
                    optarg);                                                                       \
            return RT_EXIT_USAGE;                                                                  \
        }                                                                                          \
    } while (0)
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        double d;
        switch (c) {
        case O_TARGET: target_url = optarg; break;
        case O_USER: user = optarg; break;
        case O_PASS: pass = optarg; break;
        case O_CACERT: o.tls.ca_file = optarg; break;
        case O_CACERTDIR: o.tls.ca_dir = optarg; break;
        case O_CERT: o.tls.cert = optarg; break;
        case O_KEY: o.tls.key = optarg; break;
        case O_SNI: o.tls.sni = optarg; break;
        case O_INSECURE: o.tls.insecure = 1; break;
        case O_CTIMEOUT: NUM(o.connect_timeout_s, "--connect-timeout"); break;
        case O_SPEED:
            if (!strcmp(optarg, "max"))
                o.speed = 0;
            else
                NUM(o.speed, "--speed");
            break;
        case O_RATE: NUM(o.rate, "--rate"); break;
        case O_CONNS:
            if (!strcmp(optarg, "preserve")) {
                o.connections = 0;
            } else {
                NUM(d, "--connections");
                if (d != floor(d) || d > 100000) {
                    fprintf(stderr, "resptrace replay: --connections takes 'preserve' or a "
                                    "count up to 100000\n");
                    return RT_EXIT_USAGE;
                }
                o.connections = (unsigned)d;
            }
            break;
        case O_THREADS:
            NUM(d, "--threads");
            if (d != floor(d) || d > 256) {
                fprintf(stderr, "resptrace replay: --threads takes a count from 1 to 256\n");
                return RT_EXIT_USAGE;
            }
            o.threads = (unsigned)d;
            break;
        case O_FROM: from_s = optarg; break;
        case O_TO: to_s = optarg; break;
        case O_LOOP:
            NUM(d, "--loop");
            o.loops = (unsigned)d;
            break;
        case O_DURATION: NUM(o.duration_s, "--duration"); break;
        case O_MAXLAG: NUM(max_lag_ms, "--max-lag"); break;
        case O_STRICT: strict = 1; break;
        case O_ALLOW: list_add(&allow, optarg); break;
        case O_ONLY: list_add(&only, optarg); break;
        case O_SKIP: list_add(&skip, optarg); break;
        case O_READONLY: o.read_only = 1; break;
        case O_PREFIX: o.key_prefix = optarg; break;
        case O_JSON: json_path = optarg; break;
        case 'q': ui.quiet = 1; break;
        case 'h': usage_replay(stdout); return RT_EXIT_OK;
        default: usage_replay(stderr); return RT_EXIT_USAGE;
        }
    }
#undef NUM
    if (optind + 1 != argc) {
        fprintf(stderr, "resptrace replay: give one trace\n");
        usage_replay(stderr);
        return RT_EXIT_USAGE;
    }
    o.trace = argv[optind];
    o.allow = allow.v;
    o.nallow = allow.n;
    o.only = only.v;
    o.nonly = only.n;
    o.skip = skip.v;
    o.nskip = skip.n;

    /* the time window, relative to the trace's first event */
    if (from_s || to_s) {
        struct trace_reader *r = rt_open_trace("replay", o.trace, 0);
        if (!r)
            return RT_EXIT_FAIL;
        struct trace_totals t;
        trace_reader_totals(r, &t);
        uint64_t base = t.ts_min;
        if (!base) {
            struct trace_event ev;
            if (trace_reader_next(r, &ev, &err) == 1)
                base = ev.ts;
        }
        trace_reader_close(r);
        if ((from_s && rt_parse_time(from_s, base, &o.from_ns) < 0) ||
            (to_s && rt_parse_time(to_s, base, &o.to_ns) < 0)) {
            fprintf(stderr, "resptrace replay: bad --from/--to time\n");
            return RT_EXIT_USAGE;
        }
    }

    struct replay_server srv = {0};
    int own_server = 0;
    if (target_url) {
        if (replay_target_parse(target_url, &o.target, &err) != 0) {
            fprintf(stderr, "resptrace replay: --target: %s\n", err.msg);
            return RT_EXIT_USAGE;
        }
    } else {
        if (replay_server_start(&srv, NULL, &err) != 0) {
            fprintf(stderr, "resptrace replay: no --target, and the throwaway redis-server did "
                            "not start: %s\n",
                    err.msg);
            return RT_EXIT_FAIL;
        }
        own_server = 1;
        snprintf(o.target.host, sizeof o.target.host, "127.0.0.1");
        o.target.port = srv.port;
        fprintf(stderr, "resptrace replay: no --target: replaying into a throwaway redis-server "
                        "on 127.0.0.1:%u\n",
                (unsigned)srv.port);
    }
    if (!user)
        user = env_first("RESPTRACE_USER", NULL);
    if (!pass)
        pass = env_first("RESPTRACE_PASS", "REDISCLI_AUTH");
    if (user) {
        free(o.target.user);
        o.target.user = strdup(user);
    }
    if (pass) {
        free(o.target.pass);
        o.target.pass = strdup(pass);
    }
    if (o.target.user && !o.target.pass) {
        fprintf(stderr, "resptrace replay: a user without a password (give --pass)\n");
        rc = RT_EXIT_USAGE;
        goto out;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct replay_result res;
    int run = replay_run(&o, status, &ui, &stop_flag, &res, &err);
    if (run != 0) {
        fprintf(stderr, "resptrace replay: %s\n", err.msg);
        rc = RT_EXIT_FAIL;
    }
    char tbuf[400];
    replay_target_format(&o.target, tbuf, sizeof tbuf);
    uint64_t lag99 = res.lag ? rt_hist_percentile(res.lag, 99) : 0;
    int lagging = res.sent && (double)lag99 / 1e6 > max_lag_ms;
    if (run == 0 && res.requests > res.skipped && res.ops == 0 && !res.stopped) {
        fprintf(stderr, "resptrace replay: the target answered none of the %llu requests sent "
                        "(%s)\n",
                (unsigned long long)res.sent, res.conn_error[0] ? res.conn_error : "no reply");
        rc = RT_EXIT_FAIL;
    }
    if (res.lat && (run == 0 || res.sent)) {
        FILE *out = json_path && !strcmp(json_path, "-") ? stderr : stdout;
        print_table(out, &res);
        if (lagging)
            fprintf(out,
                    "WARNING: the replay ran behind its schedule (p99 lag %.1f ms > %.1f ms): "
                    "the target or this host could not keep up, so this is not a valid test "
                    "of the recorded load\n",
                    (double)lag99 / 1e6, max_lag_ms);
        if (res.stopped)
            fprintf(out, "stopped early: the figures cover what ran\n");
        if (json_path) {
            json_t *j = result_json(&res, o.trace, tbuf, o.speed, o.rate, lagging, max_lag_ms);
            if (!strcmp(json_path, "-")) {
                json_dumpf(j, stdout, JSON_INDENT(2));
                fputc('\n', stdout);
            } else if (json_dump_file(j, json_path, JSON_INDENT(2)) != 0) {
                fprintf(stderr, "resptrace replay: cannot write %s\n", json_path);
                rc = RT_EXIT_FAIL;
            }
            json_decref(j);
        }
    }
    if (strict && lagging && rc == RT_EXIT_OK)
        rc = RT_EXIT_FAIL;
    replay_result_free(&res);
out:
    if (own_server)
        replay_server_stop(&srv);
    replay_target_clear(&o.target);
    free(allow.v);
    free(only.v);
    free(skip.v);
    return rc;
}
