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
            "usage: resptrace replay TRACE [--target URL] [options]\n"
            "\n"
            "Reissues the requests of a trace at their recorded pace (open loop), with the\n"
            "recorded connections and pipelining, and reports latency from when each request\n"
            "was due (coordinated omission corrected), service time, errors and how the\n"
            "replies differ from the recorded ones. Without --target, a throwaway\n"
            "redis-server is started on a free 127.0.0.1 port. The trace, the outputs and\n"
            "the target are checked before anything is sent.\n"
            "\n"
            "target:\n"
            "  --target URL        redis://[user:pass@]host:port[/db] or rediss:// (TLS);\n"
            "                      repeat it to name more seed nodes of a cluster\n"
            "  --user NAME         ACL user (or RESPTRACE_USER)\n"
            "  --pass PASSWORD     password; better in RESPTRACE_PASS or REDISCLI_AUTH (a\n"
            "                      command line is visible to other users). Sent with AUTH\n"
            "                      on every connection, in place of the trace's AUTH/HELLO\n"
            RT_TLS_USAGE
            "  --connect-timeout S connect timeout in seconds (3)\n"
            "  --reply-timeout S   close a connection whose requests get no reply for S s\n"
            "                      (10 in cluster mode, none otherwise; blocking commands\n"
            "                      aside)\n"
            "  --stall-timeout S   end the replay (exit 1) when nothing is answered for S s\n"
            "                      while requests wait (15)\n"
            "  --label TEXT        a name for this run in the results\n"
            "\n"
            "cluster mode (detected with CLUSTER SHARDS, else CLUSTER SLOTS):\n"
            "  --cluster auto|yes|no  yes: fail unless the target is a cluster; no: treat\n"
            "                      a cluster node as one server (auto)\n"
            "  --read-from-replicas  reads go to replicas (READONLY), spread by connection\n"
            "  --no-split-multikey MGET/MSET/DEL/UNLINK/EXISTS/TOUCH whose keys span slots\n"
            "                      go whole (and fail with CROSSSLOT), not split per slot\n"
            "  --check             print what in the trace will not run as recorded on the\n"
            "                      target (cross-slot commands, SELECT, ...) and exit\n"
            "  Requests are routed by the hash slot of their keys, keyless ones to one node\n"
            "  per recorded connection; MOVED, ASK and TRYAGAIN are followed; a lost node\n"
            "  makes the replay re-read the topology.\n"
            "\n"
            "schedule:\n"
            "  --speed X|max       recorded pacing divided by X (1); max: as fast as the\n"
            "                      target answers, keeping each connection's order and\n"
            "                      pipelining\n"
            "  --rate OPS          a fixed global rate instead of the recorded pacing\n"
            "  --connections preserve|N  one target connection per recorded one (default),\n"
            "                      or the recorded connections folded onto N\n"
            "  --threads T         event loops (1); connections are partitioned\n"
            "  --from T, --to T    trace-time window: seconds from the start (\"+30\") or an\n"
            "                      ISO 8601 time\n"
            "  --loop N            go through the trace N times\n"
            "  --duration S        send for S seconds, then wait for the replies in flight\n"
            "  --max-lag MS        warn when the p99 schedule lag exceeds this (10 ms)\n"
            "  --strict            exit 1 when the replay could not keep its schedule\n"
            "  --part I/N          replay part I (1..N) of the recorded connections, chosen\n"
            "                      by a hash of their ids: N hosts with I = 1..N replay all\n"
            "  --start-at T        start the schedule at wall-clock time T (seconds since\n"
            "                      the epoch, or ISO 8601 UTC), so that the parts start\n"
            "                      together; a part up to 60 s late starts at once\n"
            "\n"
            "durability:\n"
            "  --verify-writes     remember each key's last write the target acknowledged;\n"
            "                      after the replay (and any failover in it) read the keys\n"
            "                      back and report acknowledged writes lost or reverted.\n"
            "                      Tracked exactly: SET (without expiry), SETNX, GETSET,\n"
            "                      MSET, MSETNX values, INCR/INCRBY/DECR/DECRBY results,\n"
            "                      DEL/UNLINK; a key's other writes make it 'untracked', a\n"
            "                      write never answered 'uncertain'\n"
            "  --wait-replicas N   WAIT N 0 after each tracked write: acknowledged only once\n"
            "                      N replicas have it (standalone targets)\n"
            "  --verify-target URL read back from here (e.g. the promoted replica)\n"
            "\n"
            "growth:\n"
            "  --scale N           replay every recorded connection N times at once, copy i\n"
            "                      on its own connections with its keys in its own namespace\n"
            "                      (\"~i\" at the end of the key, or of its {hash tag}: the\n"
            "                      copies spread over slots as new users would), started\n"
            "                      i/N s later (trace time)\n"
            "\n"
            "cache warm-up:\n"
            "  --read-through      a read that misses where the recording had a value writes\n"
            "                      it back as a cache-aside application would: GET/GETEX as\n"
            "                      SET NX, HGET as HSETNX, filler of the recorded size, the\n"
            "                      key's TTL in the trace; counted apart from the trace's\n"
            "  --read-through-ttl S  the TTL when the trace shows none for the key (3600;\n"
            "                      0: none)\n"
            "\n"
            "capacity sweep:\n"
            "  --sweep X,Y,...     replay at each speed in turn (e.g. 1,2,4,8) until the SLO\n"
            "                      breaks or the schedule slips (--max-lag), then narrow the\n"
            "                      highest speed that held by bisection: \"this target serves\n"
            "                      N.Nx the recorded load at SLO\"; --json: every step\n"
            "  --slo SPEC          terms joined by ',': [CMD:]pNN<V(us|ms|s), [CMD:]max<V,\n"
            "                      errors<P%% (of requests sent); e.g. p99<2ms,get:p99.9<5ms\n"
            "  --sweep-refine K    bisection steps after the first speed that broke (3)\n"
            "  --sweep-by scale    the factors are copies of the recorded users (--scale):\n"
            "                      \"this target serves N x the recorded users at SLO\"\n"
            "\n"
            "shaping and safety:\n"
            "  --allow CMD[,CMD]   send these although they destroy or reconfigure\n"
            "                      (FLUSHALL, CONFIG, DEBUG, ...: skipped and counted)\n"
            "  --only CMD[,CMD]    send only these commands\n"
            "  --skip CMD[,CMD]    never send these\n"
            "  --read-only         skip commands that write\n"
            "  --key-prefix P      prepend P to every key argument (positions from the\n"
            "                      command table, else the target's COMMAND GETKEYS)\n"
            "  --send-malformed    send requests recorded as malformed (the bytes the client\n"
            "                      sent; the server then closes the connection, as it did):\n"
            "                      skipped and counted by default\n"
            "\n"
            "output:\n"
            "  --json[=FILE]       the results as one JSON document on stdout (the table\n"
            "                      then goes to stderr), or into FILE\n"
            "  -q                  no status line\n"
            "\n"
            "Exit status: 0 when every request of the window was sent and answered (error\n"
            "replies are answers); 1 when the trace or the target failed, a request was\n"
            "lost, dropped, unanswered or never sent (one line says why), or --strict and\n"
            "the schedule slipped; 2 bad command line; 130 interrupted (what ran is\n"
            "reported).\n");
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

/* a count in at most 6 characters: 123456, 1.23M */
static char *human(uint64_t v, char *buf, size_t cap)
{
    if (v < 1000000)
        snprintf(buf, cap, "%llu", (unsigned long long)v);
    else if (v < 1000000000)
        snprintf(buf, cap, "%.2fM", (double)v / 1e6);
    else
        snprintf(buf, cap, "%.2fG", (double)v / 1e9);
    return buf;
}

static void status(void *ctx, const struct replay_status *st)
{
    struct ui *ui = ctx;
    if (!ui->tty || ui->quiet)
        return;
    /* progress against the trace: requests answered or skipped of the window's */
    char prog[64] = "", a[16], b[16], r[16];
    uint64_t done = st->ops + st->skipped;
    if (st->total) {
        double f = (double)done / (double)st->total;
        if (f > 1)
            f = 1;
        char eta[24] = "";
        if (f > 0.01 && st->elapsed_s > 1 && f < 1)
            snprintf(eta, sizeof eta, " ETA %.0fs", st->elapsed_s / f - st->elapsed_s);
        snprintf(prog, sizeof prog, " %s/%s %.0f%%%s", human(done, a, sizeof a),
                 human(st->total, b, sizeof b), f * 100, eta);
    } else {
        snprintf(prog, sizeof prog, " %s done", human(done, a, sizeof a));
    }
    char line[256];
    snprintf(line, sizeof line, "replay %.0fs%s %s/s p99 %.2fms err %llu lag %.1fms slip %.0fms",
             st->elapsed_s, prog,
             human(st->elapsed_s > 0 ? (uint64_t)((double)st->ops / st->elapsed_s) : 0, r, sizeof r),
             (double)st->p99_ns / 1e6, (unsigned long long)st->errors, (double)st->lag_ns / 1e6,
             (double)st->slip_ns / 1e6);
    line[79] = 0; /* never wraps on an 80-column terminal */
    fprintf(stderr, "\r\033[K%s", line);
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
    /* the histogram itself, so that runs of several hosts merge exactly */
    char *enc = rt_hist_encode(h);
    if (enc)
        json_object_set_new(j, "hist", json_string(enc));
    free(enc);
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

static json_t *errmsgs_json(const struct replay_errmsg *e, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:o}", "message", e[i].msg, "count",
                                           rt_json_u64(e[i].count)));
    return a;
}

/* the pacing and order models a run used */
static void model_json(json_t *j, const struct replay_opts *o)
{
    static const char *const pace[] = {"auto", "chained", "scheduled"};
    json_object_set_new(j, "pace", json_string(pace[o->pace % 3]));
    json_object_set_new(j, "chain_gap_ms", json_real(o->chain_gap_ms > 0 ? o->chain_gap_ms : 1.0));
    json_object_set_new(j, "sync", json_string(o->sync == REPLAY_SYNC_OFF ? "off" : "keys"));
}

static json_t *result_json(const struct replay_result *r, const char *trace, const char *target,
                           double speed, double rate, int lagging, double max_lag_ms)
{
    json_t *j = rt_json_doc("replay");
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
    json_object_set_new(j, "lost", rt_json_u64(r->lost));
    json_object_set_new(j, "unsent", rt_json_u64(r->unsent));
    json_object_set_new(j, "cut", rt_json_u64(r->cut));
    json_object_set_new(j, "unread", rt_json_u64(r->unread));
    json_object_set_new(j, "unreadable_chunks", rt_json_u64(r->unreadable_chunks));
    json_object_set_new(j, "still_blocked", rt_json_u64(r->still_blocked));
    json_object_set_new(j, "protocol_errors", rt_json_u64(r->protocol_errors));
    json_object_set_new(j, "stalled", json_boolean(r->stalled));
    if (r->stalled)
        json_object_set_new(j, "stall", json_string(r->stall_why));
    {
        char why[400];
        uint64_t bad = replay_failed(r, why, sizeof why);
        json_object_set_new(j, "not_answered", rt_json_u64(bad));
        json_object_set_new(j, "failure", bad ? json_string(why) : json_null());
    }
    json_object_set_new(j, "error_messages", errmsgs_json(r->errmsgs, r->nerrmsgs));
    json_object_set_new(j, "pushes", rt_json_u64(r->pushes));
    json_object_set_new(j, "getkeys_asked", rt_json_u64(r->getkeys_asked));
    json_object_set_new(j, "duration_s", json_real(r->duration_s));
    json_object_set_new(j, "start_unix_s", json_real((double)r->start_unix_ns / 1e9));
    json_object_set_new(j, "start_late_s", json_real(r->start_late_s));
    json_object_set_new(j, "trace_span_s", json_real(r->trace_span_s));
    json_object_set_new(j, "ops_per_s",
                        json_real(r->duration_s > 0 ? (double)r->ops / r->duration_s : 0));
    json_object_set_new(j, "latency_us", pct_json(r->lat, 1e3));
    json_object_set_new(j, "service_time_us", pct_json(r->svc, 1e3));
    json_object_set_new(j, "lag_us", pct_json(r->lag, 1e3));
    {
        json_t *sl = pct_json(r->slip, 1e3);
        json_object_set_new(sl, "final", json_real((double)r->slip_final_ns / 1e3));
        json_object_set_new(j, "slip_us", sl);
        json_t *pc = json_object();
        json_object_set_new(pc, "chained", rt_json_u64(r->chained));
        json_object_set_new(pc, "scheduled", rt_json_u64(r->scheduled));
        json_object_set_new(j, "pacing", pc);
        json_object_set_new(j, "sync_wait_us", pct_json(r->sync_wait, 1e3));
        json_t *sy = json_object();
        json_object_set_new(sy, "waited", rt_json_u64(r->sync_waited));
        json_object_set_new(sy, "barriers", rt_json_u64(r->sync_barriers));
        json_object_set_new(sy, "unordered", rt_json_u64(r->sync_unordered));
        json_object_set_new(sy, "overlapped", rt_json_u64(r->sync_overlapped));
        json_object_set_new(sy, "commuted", rt_json_u64(r->sync_commuted));
        json_object_set_new(j, "sync_stats", sy);
    }
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
        json_object_set_new(o, "error_messages", errmsgs_json(c->errmsgs, c->nerrmsgs));
        json_object_set_new(o, "latency_us", pct_json(c->lat, 1e3));
        json_object_set_new(o, "service_time_us", pct_json(c->svc, 1e3));
        json_object_set_new(o, "divergence", divergence_json(c->misses, c->new_errors,
                                                             c->type_changed, c->new_values,
                                                             c->compared));
        json_object_set_new(cmds, c->name, o);
    }
    json_object_set_new(j, "commands", cmds);
    json_object_set_new(j, "scale", json_integer((json_int_t)(r->scale ? r->scale : 1)));
    json_object_set_new(j, "scale_unkeyed", rt_json_u64(r->scale_unkeyed));
    json_object_set_new(j, "hits", rt_json_u64(r->hits));
    if (r->read_through_on) {
        json_t *rt = json_object();
        json_object_set_new(rt, "written", rt_json_u64(r->read_through));
        json_object_set_new(rt, "refused", rt_json_u64(r->read_through_errors));
        json_object_set_new(rt, "skipped", rt_json_u64(r->read_through_skipped));
        json_object_set_new(j, "read_through", rt);
    } else {
        json_object_set_new(j, "read_through", json_null());
    }
    json_t *tl = json_array();
    for (size_t i = 0; i < r->nticks; i++) {
        const struct replay_tick *t = &r->ticks[i];
        json_t *o = json_object();
        json_object_set_new(o, "t_s", json_real(t->t_s));
        json_object_set_new(o, "ops", rt_json_u64(t->ops));
        json_object_set_new(o, "errors", rt_json_u64(t->errors));
        json_object_set_new(o, "hits", rt_json_u64(t->hits));
        json_object_set_new(o, "misses", rt_json_u64(t->misses));
        json_object_set_new(o, "p50_us", json_real((double)t->p50_ns / 1e3));
        json_object_set_new(o, "p99_us", json_real((double)t->p99_ns / 1e3));
        json_object_set_new(o, "max_us", json_real((double)t->max_ns / 1e3));
        json_object_set_new(o, "outstanding", rt_json_u64(t->outstanding));
        json_array_append_new(tl, o);
    }
    json_object_set_new(j, "timeline", tl);
    struct replay_disruption ds;
    if (replay_disruption(r, &ds)) {
        json_t *d = json_object();
        json_object_set_new(d, "from_s", json_real(ds.from_s));
        json_object_set_new(d, "to_s", json_real(ds.to_s));
        json_object_set_new(d, "errors", rt_json_u64(ds.errors));
        json_object_set_new(d, "peak_p99_us", json_real((double)ds.peak_p99_ns / 1e3));
        json_object_set_new(d, "misses_before_per_s", json_real(ds.misses_before));
        json_object_set_new(d, "extra_misses", rt_json_u64(ds.extra_misses));
        json_object_set_new(d, "warmup_s", ds.warmed ? json_real(ds.warmup_s) : json_null());
        json_object_set_new(j, "disruption", d);
    } else {
        json_object_set_new(j, "disruption", json_null());
    }
    if (r->verify.ran || r->verify.error[0]) {
        const struct replay_verify *v = &r->verify;
        json_t *vj = json_object();
        json_object_set_new(vj, "read_back", json_boolean(v->ran));
        json_object_set_new(vj, "keys", rt_json_u64(v->keys));
        json_object_set_new(vj, "verified", rt_json_u64(v->verified));
        json_object_set_new(vj, "lost", rt_json_u64(v->lost));
        json_object_set_new(vj, "reverted", rt_json_u64(v->reverted));
        json_object_set_new(vj, "uncertain", rt_json_u64(v->uncertain));
        json_object_set_new(vj, "untracked", rt_json_u64(v->untracked));
        json_object_set_new(vj, "unreadable", rt_json_u64(v->unreadable));
        json_object_set_new(vj, "error", v->error[0] ? json_string(v->error) : json_null());
        json_t *ex = json_array();
        for (size_t i = 0; i < v->nexamples; i++)
            json_array_append_new(ex, json_string(v->examples[i]));
        json_object_set_new(vj, "examples", ex);
        json_object_set_new(j, "verify_writes", vj);
    }
    json_object_set_new(j, "cluster", json_boolean(r->cluster));
    if (r->cluster) {
        json_t *rd = json_object();
        json_object_set_new(rd, "moved", rt_json_u64(r->moved));
        json_object_set_new(rd, "ask", rt_json_u64(r->ask));
        json_object_set_new(rd, "tryagain", rt_json_u64(r->tryagain));
        json_object_set_new(rd, "topology_refreshes", rt_json_u64(r->refreshes));
        json_object_set_new(j, "redirections", rd);
        json_t *cs = json_object();
        json_object_set_new(cs, "split", rt_json_u64(r->split));
        json_object_set_new(cs, "crossslot", rt_json_u64(r->crossslot));
        json_object_set_new(cs, "crossslot_transactions", rt_json_u64(r->crossslot_tx));
        json_object_set_new(cs, "transactions_aborted", rt_json_u64(r->tx_aborted));
        json_object_set_new(cs, "select_mapped", rt_json_u64(r->select_mapped));
        json_object_set_new(j, "cross_slot", cs);
        json_t *sh = json_array();
        for (size_t i = 0; i < r->nshards; i++) {
            const struct replay_shard_result *x = &r->shards[i];
            json_t *o = json_object();
            json_object_set_new(o, "node", json_string(x->addr));
            json_object_set_new(o, "id", json_string(x->id));
            json_object_set_new(o, "role", json_string(x->primary ? "primary" : "replica"));
            json_t *ranges = json_array();
            for (const char *p = x->slots; *p;) {
                char *e;
                long a = strtol(p, &e, 10), b = a;
                if (*e == '-')
                    b = strtol(e + 1, &e, 10);
                json_array_append_new(ranges, json_pack("[II]", (json_int_t)a, (json_int_t)b));
                p = *e ? e + 1 : e;
            }
            json_object_set_new(o, "slots", ranges);
            json_object_set_new(o, "sent", rt_json_u64(x->sent));
            json_object_set_new(o, "ops", rt_json_u64(x->ops));
            json_object_set_new(o, "errors", rt_json_u64(x->errors));
            json_object_set_new(o, "moved", rt_json_u64(x->moved));
            json_object_set_new(o, "ask", rt_json_u64(x->ask));
            json_object_set_new(o, "tryagain", rt_json_u64(x->tryagain));
            json_object_set_new(o, "latency_us", pct_json(x->lat, 1e3));
            json_array_append_new(sh, o);
        }
        json_object_set_new(j, "shards", sh);
    }
    return j;
}

/* a latency in ms in 8 columns (with a leading space) */
static void ms(FILE *out, uint64_t ns)
{
    double v = (double)ns / 1e6;
    if (v < 10000)
        fprintf(out, " %8.3f", v);
    else
        fprintf(out, " %8.0f", v);
}

static void lat_cols(FILE *out, const struct rt_hist *h)
{
    ms(out, rt_hist_percentile(h, 50));
    ms(out, rt_hist_percentile(h, 90));
    ms(out, rt_hist_percentile(h, 99));
    ms(out, rt_hist_percentile(h, 99.9));
    ms(out, rt_hist_max(h));
}

static void print_errmsgs(FILE *out, const struct replay_errmsg *e, size_t n, const char *indent)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%9llu  %.66s\n", indent, (unsigned long long)e[i].count, e[i].msg);
}

/* The report: two tables of at most 80 columns (latency and errors; then how the replies
 * differ from the recorded ones), then the totals and what went wrong. */
static void print_table(FILE *out, const struct replay_result *r)
{
    fprintf(out, "%-14s %9s %8s %8s %8s %8s %8s %7s\n", "command", "ops", "p50 ms", "p90 ms",
            "p99 ms", "p99.9 ms", "max ms", "errors");
    for (size_t i = 0; i < r->ncmds; i++) {
        const struct replay_cmd_result *c = &r->cmds[i];
        fprintf(out, "%-14.14s %9llu", c->name, (unsigned long long)c->ops);
        if (c->ops)
            lat_cols(out, c->lat);
        else
            fprintf(out, " %8s %8s %8s %8s %8s", "-", "-", "-", "-", "-");
        fprintf(out, " %7llu\n", (unsigned long long)c->errors);
    }
    fprintf(out, "%-14s %9llu", "(all)", (unsigned long long)r->ops);
    lat_cols(out, r->lat);
    fprintf(out, " %7llu\n", (unsigned long long)r->errors);
    fprintf(out, "%-14s %9s", "service time", "");
    lat_cols(out, r->svc);
    fputc('\n', out);
    fprintf(out, "%-14s %9s", "schedule lag", "");
    lat_cols(out, r->lag);
    fputc('\n', out);
    fprintf(out, "latency: from when each request was due (a chained one: when its predecessor's\n"
                 "reply came, plus the recorded gap); service time: from its send; schedule lag:\n"
                 "its send after it was due and free to go (the replayer's own lateness)\n");
    if (r->chained)
        fprintf(out, "slip behind the recording (chained requests' due time after their recorded\n"
                     "time): p50 %.3f, p99 %.3f, max %.3f ms; at the end %.3f ms\n",
                (double)rt_hist_percentile(r->slip, 50) / 1e6,
                (double)rt_hist_percentile(r->slip, 99) / 1e6, (double)rt_hist_max(r->slip) / 1e6,
                (double)r->slip_final_ns / 1e6);
    else
        fprintf(out, "slip behind the recording: none (no request was chained)\n");
    fprintf(out, "pacing: %llu chained to their predecessor's reply, %llu on their recorded time\n",
            (unsigned long long)r->chained, (unsigned long long)r->scheduled);
    if (r->sync_waited || r->sync_barriers || r->sync_unordered)
        fprintf(out, "order across connections: %llu waited for others' requests on their keys\n"
                     "(p50 %.3f, p99 %.3f ms), %llu barriers, %llu not ordered\n",
                (unsigned long long)r->sync_waited,
                (double)rt_hist_percentile(r->sync_wait, 50) / 1e6,
                (double)rt_hist_percentile(r->sync_wait, 99) / 1e6,
                (unsigned long long)r->sync_barriers, (unsigned long long)r->sync_unordered);
    if (r->sync_overlapped)
        fprintf(out, "%llu overlapped another connection's request on a key in the recording (both\n"
                     "in the server at once: which ran first is not on the wire; kept in the order\n"
                     "they arrived)\n",
                (unsigned long long)r->sync_overlapped);
    if (r->sync_commuted)
        fprintf(out, "%llu identical writes (the same SET as the key's last write) went without\n"
                     "waiting for it: either order leaves the key in the same state\n",
                (unsigned long long)r->sync_commuted);

    fprintf(out, "\n%-14s %9s %9s %8s %8s %8s %8s\n", "command", "skipped", "compared",
            "misses", "newerr", "typechg", "newval");
    for (size_t i = 0; i < r->ncmds; i++) {
        const struct replay_cmd_result *c = &r->cmds[i];
        fprintf(out, "%-14.14s %9llu %9llu %8llu %8llu %8llu %8llu\n", c->name,
                (unsigned long long)c->skipped, (unsigned long long)c->compared,
                (unsigned long long)c->misses, (unsigned long long)c->new_errors,
                (unsigned long long)c->type_changed, (unsigned long long)c->new_values);
    }
    fprintf(out, "%-14s %9llu %9llu %8llu %8llu %8llu %8llu\n", "(all)",
            (unsigned long long)r->skipped, (unsigned long long)r->compared,
            (unsigned long long)r->misses, (unsigned long long)r->new_errors,
            (unsigned long long)r->type_changed, (unsigned long long)r->new_values);

    if (r->nerrmsgs) {
        fprintf(out, "\nerror replies of the target, most frequent first:\n");
        print_errmsgs(out, r->errmsgs, r->nerrmsgs, "  ");
    }
    fprintf(out, "\n%llu requests in the trace window, %llu sent, %llu answered in %.2f s\n"
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
    fprintf(out, "connections: %llu opened, %llu lost or refused%s%.120s\n",
            (unsigned long long)r->conn_opened, (unsigned long long)r->conn_failures,
            r->conn_error[0] ? "; first: " : "", r->conn_error);
    if (r->lost)
        fprintf(out, "lost with their connection: %llu\n", (unsigned long long)r->lost);
    if (r->unanswered)
        fprintf(out, "unanswered when the replay ended: %llu\n", (unsigned long long)r->unanswered);
    if (r->still_blocked)
        fprintf(out, "  of them blocking commands with no recorded reply either: %llu\n",
                (unsigned long long)r->still_blocked);
    if (r->unsent || r->unread)
        fprintf(out, "never sent (the replay ended first): %llu\n",
                (unsigned long long)(r->unsent + r->unread));
    if (r->cut)
        fprintf(out, "not sent (--duration or a signal ended the run): %llu\n",
                (unsigned long long)r->cut);
    if (r->stalled)
        fprintf(out, "%s\n", r->stall_why);
    if (r->protocol_errors)
        fprintf(out, "replies nobody asked for (protocol errors of the target): %llu\n",
                (unsigned long long)r->protocol_errors);
    if (r->pushes)
        fprintf(out, "out-of-band messages (pub/sub, push): %llu\n",
                (unsigned long long)r->pushes);
    if (r->setup_errors)
        fprintf(out, "errors to resptrace's own AUTH/SELECT/HELLO: %llu (first: %s)\n",
                (unsigned long long)r->setup_errors, r->setup_error);
    if (r->verify.ran || r->verify.error[0]) {
        const struct replay_verify *v = &r->verify;
        if (!v->ran)
            fprintf(out, "verify-writes: could not read back: %s\n", v->error);
        else
            fprintf(out, "verify-writes: %llu LOST, %llu REVERTED, %llu verified of the last\n"
                         "  acknowledged writes of %llu keys; %llu uncertain (a later write "
                         "unanswered),\n  %llu untracked, %llu unreadable\n",
                    (unsigned long long)v->lost, (unsigned long long)v->reverted,
                    (unsigned long long)v->verified, (unsigned long long)v->keys,
                    (unsigned long long)v->uncertain, (unsigned long long)v->untracked,
                    (unsigned long long)v->unreadable);
        for (size_t i = 0; i < v->nexamples; i++)
            fprintf(out, "  e.g. %s\n", v->examples[i]);
    }
    struct replay_disruption ds;
    if (replay_disruption(r, &ds)) {
        fprintf(out, "disruption: from %.1f s to %.1f s after the start: %llu errors, p99 up to "
                     "%.3f ms\n",
                ds.from_s, ds.to_s, (unsigned long long)ds.errors, (double)ds.peak_p99_ns / 1e6);
        fprintf(out, "  misses: %llu more than the %.1f/s before it; ",
                (unsigned long long)ds.extra_misses, ds.misses_before);
        if (ds.warmed)
            fprintf(out, "warmed up %.1f s after its start\n", ds.warmup_s);
        else
            fprintf(out, "not warmed up when the run ended\n");
    }
    if (r->scale > 1)
        fprintf(out, "scale: %u copies of the recorded users, each with its own connections and "
                     "keys;\n  %llu requests of the copies sent with the recorded keys (no key "
                     "spec)\n",
                r->scale, (unsigned long long)r->scale_unkeyed);
    if (r->hits || r->misses)
        fprintf(out, "reads: %llu found what the recording found, %llu missed\n",
                (unsigned long long)r->hits, (unsigned long long)r->misses);
    if (r->read_through_on)
        fprintf(out, "read-through: %llu misses written back (%llu refused), %llu not (no rule "
                     "for the read,\n  or its connection gone)\n",
                (unsigned long long)r->read_through, (unsigned long long)r->read_through_errors,
                (unsigned long long)r->read_through_skipped);
    if (!r->cluster)
        return;
    fprintf(out, "\ncluster: %zu nodes; MOVED %llu, ASK %llu, TRYAGAIN %llu; topology read %llu "
                 "times\n",
            r->nshards, (unsigned long long)r->moved, (unsigned long long)r->ask,
            (unsigned long long)r->tryagain, (unsigned long long)r->refreshes);
    if (r->split || r->crossslot || r->crossslot_tx || r->select_mapped || r->tx_aborted)
        fprintf(out, "cross-slot: %llu split per slot, %llu sent whole (CROSSSLOT), %llu\n"
                     "transactions across slots, %llu transactions aborted (EXEC failed);\n"
                     "SELECT of another db skipped: %llu\n",
                (unsigned long long)r->split, (unsigned long long)r->crossslot,
                (unsigned long long)r->crossslot_tx, (unsigned long long)r->tx_aborted,
                (unsigned long long)r->select_mapped);
    fprintf(out, "%-21s %-3s %8s %8s %8s %8s %6s %5s %4s %5s\n", "node", "", "ops", "p50 ms",
            "p99 ms", "max ms", "errors", "moved", "ask", "retry");
    for (size_t i = 0; i < r->nshards; i++) {
        const struct replay_shard_result *x = &r->shards[i];
        fprintf(out, "%-21.21s %-3s %8llu", x->addr, x->primary ? "pri" : "rep",
                (unsigned long long)x->ops);
        if (x->ops) {
            ms(out, rt_hist_percentile(x->lat, 50));
            ms(out, rt_hist_percentile(x->lat, 99));
            ms(out, rt_hist_max(x->lat));
        } else {
            fprintf(out, " %8s %8s %8s", "-", "-", "-");
        }
        fprintf(out, " %6llu %5llu %4llu %5llu\n", (unsigned long long)x->errors,
                (unsigned long long)x->moved, (unsigned long long)x->ask,
                (unsigned long long)x->tryagain);
        fprintf(out, "  slots %.70s%s\n", x->slots[0] ? x->slots : "-",
                strlen(x->slots) > 70 ? "..." : "");
    }
}

/* The JSON output, opened (under a temporary name) before the replay, so that a path that
 * cannot be written fails before anything is sent, and renamed into place once written. */
static struct rt_out jout;
static int jout_open;

/* Writes `j` (then released) to `path`, "-" for stdout. @return 0, or -1 after saying so. */
static int write_json(json_t *j, const char *path)
{
    if (!jout_open)
        return rt_json_write("replay", j, path);
    int rc = 0;
    if (json_dumpf(j, jout.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', jout.f) == EOF) {
        fprintf(stderr, "resptrace replay: cannot write %s\n", path);
        rc = -1;
    } else {
        rc = rt_out_commit("replay", &jout, 0);
    }
    jout_open = 0;
    if (rc)
        rt_out_abort(&jout, 0);
    json_decref(j);
    return rc;
}

/* ---- --check: what will not run as recorded ------------------------------------------- */

/* --check (replay_check): prints and writes what will not run as recorded */
static int run_check(const struct replay_opts *o, const char *json_path)
{
    struct rt_err err = {0};
    struct replay_check chk;
    int crc = replay_check(o, &chk, &err);
    if (crc != 0 && (!chk.requests || !chk.per_node)) { /* nothing read: nothing to show */
        fprintf(stderr, "resptrace replay: --check: %s\n", err.msg);
        replay_check_free(&chk);
        return RT_EXIT_FAIL;
    }
    const struct replay_topology *tp = &chk.topo;
    const struct replay_check_cat *cat = chk.cat;
    const uint64_t *per_node = chk.per_node;
    uint64_t requests = chk.requests;
    int rc = RT_EXIT_OK;
    if (crc != 0) {
        fprintf(stderr, "resptrace replay: --check: %s\n", err.msg);
        rc = RT_EXIT_FAIL;
    }
    char tb[400];
    replay_target_format(&o->target, tb, sizeof tb);
    if (json_path) {
        json_t *j = rt_json_doc("replay");
        json_object_set_new(j, "mode", json_string("check"));
        json_object_set_new(j, "trace", json_string(o->trace));
        json_object_set_new(j, "target", json_string(tb));
        json_object_set_new(j, "cluster", json_boolean(tp->cluster));
        json_object_set_new(j, "requests", rt_json_u64(requests));
        json_t *cj = json_object();
        for (int i = 0; i < REPLAY_CK_MAX; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "count", rt_json_u64(cat[i].n));
            json_t *ex = json_array();
            for (size_t k = 0; k < cat[i].nex; k++)
                json_array_append_new(ex, json_string(cat[i].ex[k]));
            json_object_set_new(e, "examples", ex);
            json_object_set_new(cj, replay_check_key(i), e);
        }
        json_object_set_new(j, "findings", cj);
        json_t *nodes = json_array();
        for (size_t i = 0; i < tp->n; i++)
            if (tp->nodes[i].primary)
                json_array_append_new(nodes, json_pack("{s:s,s:o}", "node", tp->nodes[i].addr,
                                                       "requests", rt_json_u64(per_node[i])));
        json_object_set_new(j, "primaries", nodes);
        if (write_json(j, json_path) < 0)
            rc = RT_EXIT_FAIL;
    }
    if (!json_path || strcmp(json_path, "-")) {
        printf("%s: %llu requests; target %s: %s\n", o->trace, (unsigned long long)requests, tb,
               tp->cluster ? "a cluster" : "a standalone server");
        if (tp->cluster) {
            size_t np = 0;
            for (size_t i = 0; i < tp->n; i++)
                np += tp->nodes[i].primary;
            printf("%zu primaries, %zu replicas; requests with keys per primary:\n", np,
                   tp->n - np);
            for (size_t i = 0; i < tp->n; i++)
                if (tp->nodes[i].primary)
                    printf("  %-24s %10llu\n", tp->nodes[i].addr,
                           (unsigned long long)per_node[i]);
        }
        int any = 0;
        for (int i = 0; i < REPLAY_CK_MAX; i++) {
            if (!cat[i].n)
                continue;
            if (!any)
                printf("\nwill not run as recorded:\n");
            any = 1;
            printf("  %10llu  %s\n", (unsigned long long)cat[i].n, replay_check_text(i));
            for (size_t k = 0; k < cat[i].nex; k++)
                printf("              e.g. %s\n", cat[i].ex[k]);
        }
        if (!any)
            printf("\neverything runs as recorded.\n");
    }
    replay_check_free(&chk);
    return rc;
}

/* ---- --sweep and --slo -------------------------------------------------------------------- */

struct sweep_ctx {
    struct replay_opts *o;
    double max_lag_ms;
    json_t *steps;
    const char *target;
    int by_scale; /* --sweep-by scale: the factors are copies of the users (--scale) */
};

/* a step of the sweep (replay_sweep decided whether it held): its line and its JSON */
static void sweep_step(void *ctx, const struct replay_sweep_step *st)
{
    struct sweep_ctx *c = ctx;
    const struct replay_result *res = st->res;
    uint64_t lag99 = rt_hist_percentile(res->lag, 99);
    printf("%s %7.3fx  %9.0f ops/s  p50 %8.3f ms  p99 %8.3f ms  errors %llu  lag p99 %.2f ms  "
           "%s%s%s\n",
           c->by_scale ? "users" : "speed", st->factor,
           res->duration_s > 0 ? (double)res->ops / res->duration_s : 0.0,
           (double)rt_hist_percentile(res->lat, 50) / 1e6,
           (double)rt_hist_percentile(res->lat, 99) / 1e6, (unsigned long long)res->errors,
           (double)lag99 / 1e6, st->held ? "held" : "BROKE", st->held ? "" : ": ", st->why);
    fflush(stdout);
    json_t *step = json_object();
    json_object_set_new(step, "speed", json_real(st->speed));
    json_object_set_new(step, "factor", json_real(st->factor));
    if (c->by_scale)
        json_object_set_new(step, "scale", json_integer((json_int_t)st->factor));
    json_object_set_new(step, "held", json_boolean(st->held));
    json_object_set_new(step, "why", st->held ? json_null() : json_string(st->why));
    json_object_set_new(step, "result",
                        result_json(res, c->o->trace, c->target, st->speed, 0, st->lagging,
                                    c->max_lag_ms));
    model_json(json_object_get(step, "result"), c->o);
    json_array_append_new(c->steps, step);
}

/* --sweep (replay_sweep: the steps, the SLO, the bisection): prints each step and the
 * headroom, writes the JSON. @return the exit code. */
static int run_sweep(struct replay_opts *o, struct ui *ui, const double *speeds, size_t nspeeds,
                     const char *slo_spec, const struct replay_slo_term *slo, size_t nslo,
                     double max_lag_ms, unsigned refine, const char *json_path, const char *label,
                     const char *target, int by_scale)
{
    struct sweep_ctx c = {o, max_lag_ms, json_array(), target, by_scale};
    struct replay_sweep_opts so = {.factors = speeds,
                                   .nfactors = nspeeds,
                                   .by_scale = by_scale,
                                   .slo = slo,
                                   .nslo = nslo,
                                   .max_lag_ms = max_lag_ms,
                                   .refine = refine,
                                   .on_step = sweep_step,
                                   .ctx = &c};
    struct replay_sweep_result sr;
    struct rt_err err = {0};
    int failed = replay_sweep(o, &so, status, ui, &stop_flag, &sr, &err) != 0;
    double best = sr.best, broke = sr.broke;
    int rc = failed ? RT_EXIT_FAIL : RT_EXIT_OK;
    if (failed) {
        fprintf(stderr, "resptrace replay: --sweep %gx: %s\n", sr.failed_at, err.msg);
    } else {
        const char *what = by_scale ? "users" : "load";
        if (best > 0)
            printf("\nthis target serves %.*fx the recorded %s at %s%s\n", by_scale ? 0 : 1, best,
                   what, slo_spec,
                   broke > 0 ? "" : by_scale ? " (the most tried: it may serve more)"
                                             : " (the highest speed tried: it may serve more)");
        else
            printf("\nthis target does not hold %s even at %gx the recorded %s\n", slo_spec,
                   speeds[0], what);
    }
    if (json_path) {
        json_t *j = rt_json_doc("replay");
        json_object_set_new(j, "mode", json_string("sweep"));
        json_object_set_new(j, "trace", json_string(o->trace));
        json_object_set_new(j, "target", json_string(target));
        if (label)
            json_object_set_new(j, "label", json_string(label));
        json_object_set_new(j, "slo", json_string(slo_spec));
        /* the factor swept: a speed, or (by scale) copies of the recorded users; compare, the
         * report and the prices read max_speed_held as the headroom either way */
        json_object_set_new(j, "sweep_by", json_string(by_scale ? "scale" : "speed"));
        if (by_scale) {
            json_object_set_new(j, "max_scale_held", best > 0 ? json_real(best) : json_null());
            json_object_set_new(j, "first_scale_broke", broke > 0 ? json_real(broke) : json_null());
        }
        json_object_set_new(j, "max_speed_held", best > 0 ? json_real(best) : json_null());
        json_object_set_new(j, "first_speed_broke", broke > 0 ? json_real(broke) : json_null());
        json_object_set_new(j, "steps", c.steps);
        c.steps = NULL;
        if (write_json(j, json_path) < 0)
            rc = RT_EXIT_FAIL;
    }
    json_decref(c.steps);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    enum {
        O_TARGET = 256, O_USER, O_PASS, O_CTIMEOUT, O_SPEED, O_RATE, O_CONNS, O_THREADS, O_FROM,
        O_TO, O_LOOP, O_DURATION, O_MAXLAG, O_STRICT, O_ALLOW, O_ONLY, O_SKIP, O_READONLY, O_PREFIX, O_JSON, O_CLUSTER,
        O_REPLICAS, O_NOSPLIT, O_SPLIT, O_RTIMEOUT, O_CHECK, O_LABEL, O_PART, O_STARTAT, O_SWEEP,
        O_SLO, O_REFINE, O_VERIFY, O_WAITREP, O_VTARGET, O_STALL, O_SENDMAL, O_PACE, O_CHAINGAP,
        O_SYNC, O_RTHRU, O_RTTTL, O_SCALE, O_SWEEPBY
    };
    static const struct option opts[] = {
        {"target", required_argument, NULL, O_TARGET},
        {"user", required_argument, NULL, O_USER},
        {"pass", required_argument, NULL, O_PASS},
        RT_TLS_LONGOPTS,
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
        {"json", optional_argument, NULL, O_JSON},
        {"cluster", required_argument, NULL, O_CLUSTER},
        {"read-from-replicas", no_argument, NULL, O_REPLICAS},
        {"no-split-multikey", no_argument, NULL, O_NOSPLIT},
        {"split-multikey", no_argument, NULL, O_SPLIT},
        {"reply-timeout", required_argument, NULL, O_RTIMEOUT},
        {"check", no_argument, NULL, O_CHECK},
        {"label", required_argument, NULL, O_LABEL},
        {"part", required_argument, NULL, O_PART},
        {"start-at", required_argument, NULL, O_STARTAT},
        {"sweep", required_argument, NULL, O_SWEEP},
        {"slo", required_argument, NULL, O_SLO},
        {"sweep-refine", required_argument, NULL, O_REFINE},
        {"verify-writes", no_argument, NULL, O_VERIFY},
        {"wait-replicas", required_argument, NULL, O_WAITREP},
        {"verify-target", required_argument, NULL, O_VTARGET},
        {"stall-timeout", required_argument, NULL, O_STALL},
        {"send-malformed", no_argument, NULL, O_SENDMAL},
        {"pace", required_argument, NULL, O_PACE},
        {"chain-gap", required_argument, NULL, O_CHAINGAP},
        {"sync", required_argument, NULL, O_SYNC},
        {"read-through", no_argument, NULL, O_RTHRU},
        {"scale", required_argument, NULL, O_SCALE},
        {"sweep-by", required_argument, NULL, O_SWEEPBY},
        {"read-through-ttl", required_argument, NULL, O_RTTTL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int sweep_by_scale = 0;
    double rt_ttl_s = 3600;
    struct replay_opts o = {0};
    struct rt_err err = {0};
    struct ui ui = {.tty = isatty(2)};
    struct list allow = {0}, only = {0}, skip = {0};
    const char *target_url = NULL, *user = NULL, *pass = NULL, *json_path = NULL, *label = NULL;
    const char **seed_urls = NULL;
    size_t nseed_urls = 0;
    struct replay_target *seeds = NULL;
    int check = 0;
    double *sweep = NULL;
    size_t nsweep = 0;
    const char *slo_spec = NULL;
    unsigned refine = 3;
    const char *vtarget_url = NULL;
    struct replay_target vtarget = {0};
    const char *from_s = NULL, *to_s = NULL;
    double max_lag_ms = 10;
    int strict = 0, c, rc = RT_EXIT_OK;
    struct replay_server srv = {0};
    int own_server = 0;
    struct replay_slo_term *slo = NULL;
    size_t nslo = 0;
    /* a usage error: one line, then everything allocated so far is released at `out` */
#define USAGE(...)                                                                                 \
    do {                                                                                           \
        rc = rt_usage_error("replay", __VA_ARGS__);                                                \
        goto out;                                                                                  \
    } while (0)
    char *end;
    o.speed = 1;
    optind = 1;
#define NUM(var, what)                                                                             \
    do {                                                                                           \
        var = strtod(optarg, &end);                                                                \
        if (*end || !*optarg || !(var > 0) || !isfinite(var)) {                                    \
            USAGE("%s takes a positive number, not '%s'", what, optarg); \
        }                                                                                          \
    } while (0)
    opterr = 0; /* one line of our own instead of getopt's */
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        double d;
        switch (c) {
        case O_TARGET:
            if (!target_url) {
                target_url = optarg;
                break;
            }
            seed_urls = realloc(seed_urls, (nseed_urls + 1) * sizeof *seed_urls);
            if (!seed_urls)
                abort();
            seed_urls[nseed_urls++] = optarg;
            break;
        case O_CLUSTER:
            if (!strcmp(optarg, "auto"))
                o.cluster = 0;
            else if (!strcmp(optarg, "yes"))
                o.cluster = 1;
            else if (!strcmp(optarg, "no"))
                o.cluster = -1;
            else {
                USAGE("--cluster takes auto, yes or no");
            }
            break;
        case O_REPLICAS: o.read_from_replicas = 1; break;
        case O_NOSPLIT: o.no_split = 1; break;
        case O_SPLIT: o.no_split = 0; break;
        case O_RTIMEOUT: NUM(o.reply_timeout_s, "--reply-timeout"); break;
        case O_CHECK: check = 1; break;
        case O_LABEL: label = optarg; break;
        case O_PART: {
            unsigned i = 0, n = 0;
            char tail;
            if (sscanf(optarg, "%u/%u%c", &i, &n, &tail) != 2 || n < 1 || i < 1 || i > n ||
                n > 100000) {
                USAGE("--part takes I/N with 1 <= I <= N, not '%s'",
                        optarg);
            }
            o.part = i - 1;
            o.nparts = n;
            break;
        }
        case O_STARTAT:
            if (rt_parse_time(optarg, 0, &o.start_at_ns) < 0 || o.start_at_ns < 1000000000ull * 1000000000ull) {
                USAGE("--start-at takes seconds since the epoch or an "
                                                "ISO 8601 UTC time, not '%s'",
                                      optarg);
            }
            break;
        case O_SWEEP:
            for (char *save = NULL, *t = strtok_r(optarg, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                double v = strtod(t, &end);
                if (*end || !(v > 0) || !isfinite(v) || (nsweep && v <= sweep[nsweep - 1])) {
                    USAGE("--sweep takes increasing positive speeds, "
                                                    "not '%s'",
                                          t);
                }
                sweep = realloc(sweep, (nsweep + 1) * sizeof *sweep);
                sweep[nsweep++] = v;
            }
            break;
        case O_SLO: slo_spec = optarg; break;
        case O_VERIFY: o.verify_writes = 1; break;
        case O_WAITREP:
            NUM(d, "--wait-replicas");
            if (d != floor(d) || d > 1000) {
                USAGE("--wait-replicas takes a count");
            }
            o.wait_replicas = (unsigned)d;
            break;
        case O_VTARGET: vtarget_url = optarg; break;
        case O_REFINE:
            NUM(d, "--sweep-refine");
            refine = (unsigned)d;
            break;
        case O_USER: user = optarg; break;
        case O_PASS: pass = optarg; break;
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
                    USAGE("--connections takes 'preserve' or a count "
                                                    "up to 100000");
                }
                o.connections = (unsigned)d;
            }
            break;
        case O_THREADS:
            NUM(d, "--threads");
            if (d != floor(d) || d > 256) {
                USAGE("--threads takes a count from 1 to 256");
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
        case O_JSON: json_path = optarg ? optarg : "-"; break;
        case 'q': ui.quiet = 1; break;
        case 'h': usage_replay(stdout); goto out;
        case O_STALL: NUM(o.stall_timeout_s, "--stall-timeout"); break;
        case O_SENDMAL: o.send_malformed = 1; break;
        case O_RTHRU: o.read_through = 1; break;
        case O_SCALE:
            NUM(d, "--scale");
            if (d != floor(d) || d > 1024)
                USAGE("--scale takes a whole number of copies (1 to 1024), not '%s'", optarg);
            o.scale = (unsigned)d;
            break;
        case O_SWEEPBY:
            if (!strcmp(optarg, "speed"))
                sweep_by_scale = 0;
            else if (!strcmp(optarg, "scale"))
                sweep_by_scale = 1;
            else
                USAGE("--sweep-by takes speed or scale, not '%s'", optarg);
            break;
        case O_RTTTL:
            rt_ttl_s = strtod(optarg, &end);
            if (*end || !*optarg || !(rt_ttl_s >= 0) || rt_ttl_s > 1e9)
                USAGE("--read-through-ttl takes seconds (0: no TTL), not '%s'", optarg);
            break;
        case O_PACE:
            if (!strcmp(optarg, "auto"))
                o.pace = REPLAY_PACE_AUTO;
            else if (!strcmp(optarg, "chained"))
                o.pace = REPLAY_PACE_CHAINED;
            else if (!strcmp(optarg, "scheduled"))
                o.pace = REPLAY_PACE_SCHEDULED;
            else
                USAGE("--pace takes auto, chained or scheduled, not '%s'", optarg);
            break;
        case O_CHAINGAP: NUM(o.chain_gap_ms, "--chain-gap"); break;
        case O_SYNC:
            if (!strcmp(optarg, "keys"))
                o.sync = REPLAY_SYNC_KEYS;
            else if (!strcmp(optarg, "off"))
                o.sync = REPLAY_SYNC_OFF;
            else
                USAGE("--sync takes keys or off, not '%s'", optarg);
            break;
        default:
            if (rt_tls_option(c, optarg, &o.tls))
                break;
            USAGE("unknown option or missing argument: '%s'",
                                  argv[optind - 1]);
        }
    }
#undef NUM
    o.read_through_ttl_ms = (uint64_t)(rt_ttl_s * 1000 + 0.5);
    if (optind + 1 != argc) {
        if (optind + 1 < argc && json_path && !strcmp(json_path, "-"))
            USAGE("give one trace ('%s' too: --json takes a file as "
                                            "--json=FILE)",
                                  argv[optind + 1]);
        USAGE(optind == argc ? "give a trace" : "give one trace");
    }
    o.trace = argv[optind];
    o.allow = allow.v;
    o.nallow = allow.n;
    o.only = only.v;
    o.nonly = only.n;
    o.skip = skip.v;
    o.nskip = skip.n;

    /* test hooks: key positions from the target's COMMAND GETKEYS even where the table knows
     * them; no preflight, so that the tests reach each connection kind's own checks */
    o.keys_from_target = getenv("RESPTRACE_KEYS_FROM_TARGET") &&
                         !strcmp(getenv("RESPTRACE_KEYS_FROM_TARGET"), "1");
    int preflight = !(getenv("RESPTRACE_NO_PREFLIGHT") &&
                      !strcmp(getenv("RESPTRACE_NO_PREFLIGHT"), "1"));

    /* ---- preflight: the arguments, the trace, the outputs and the target are checked before
     * a throwaway server starts or anything is sent */
    if (nsweep && !slo_spec)
        USAGE("--sweep needs an --slo");
    if (sweep_by_scale && !nsweep)
        USAGE("--sweep-by goes with --sweep");
    if (sweep_by_scale && o.scale > 1)
        USAGE("--sweep-by scale sets --scale itself");
    for (size_t i = 0; sweep_by_scale && i < nsweep; i++)
        if (sweep[i] != floor(sweep[i]) || sweep[i] > 1024)
            USAGE("--sweep-by scale takes whole numbers of copies, not %g", sweep[i]);
    if (slo_spec && !nsweep)
        USAGE("--slo goes with --sweep");
    struct rt_err slo_err = {0};
    if (slo_spec && replay_slo_parse(slo_spec, &slo, &nslo, &slo_err) != 0)
        USAGE("--slo: cannot read '%s' (terms like p99<2ms, "
                                        "get:p99.9<5ms, max<50ms, errors<0.1%%)",
                              slo_spec);
    if (check && !target_url)
        USAGE("--check needs a --target");
    {
        struct trace_reader *r = rt_open_trace("replay", o.trace, 0);
        if (!r) {
            rc = RT_EXIT_FAIL;
            goto out;
        }
        struct trace_totals t;
        trace_reader_totals(r, &t);
        uint64_t base = t.ts_min;
        if (!base) {
            struct trace_event ev;
            if (trace_reader_next(r, &ev, &err) == 1)
                base = ev.ts;
        }
        int indexed = trace_reader_has_index(r);
        trace_reader_close(r);
        /* the time window, relative to the trace's first event */
        if ((from_s && rt_parse_time(from_s, base, &o.from_ns) < 0) ||
            (to_s && rt_parse_time(to_s, base, &o.to_ns) < 0)) {
            USAGE("bad --from/--to time (seconds from the start, "
                                            "\"+30\", or an ISO 8601 time)");
        }
        if (indexed && (o.from_ns || o.to_ns) &&
            ((o.from_ns && o.from_ns > t.ts_max) || (o.to_ns && o.to_ns < t.ts_min) ||
             (o.from_ns && o.to_ns && o.from_ns > o.to_ns) || !t.by_type[TRACE_EV_REQUEST])) {
            /* an empty window: nothing to replay, and the user is told so */
            fprintf(stderr, "resptrace replay: --from/--to select no request of %s (it spans "
                            "%.3f s from its start)\n",
                    o.trace, t.ts_max > t.ts_min ? (double)(t.ts_max - t.ts_min) / 1e9 : 0.0);
            goto out;
        }
    }
    if (json_path && strcmp(json_path, "-")) {
        const char *in[1] = {o.trace};
        if (rt_out_refuse_inputs("replay", json_path, in, 1) < 0 ||
            !rt_out_open("replay", &jout, json_path, 0644)) {
            rc = RT_EXIT_FAIL;
            goto out;
        }
        jout_open = 1;
    }
    if (target_url) {
        if (replay_target_parse(target_url, &o.target, &err) != 0) {
            rc = rt_usage_error("replay", "--target: %s", err.msg);
            goto out;
        }
        if (rt_url_has_password(target_url))
            rt_warn_cmdline_password("replay", "the target URL");
        seeds = nseed_urls ? calloc(nseed_urls, sizeof *seeds) : NULL;
        for (size_t i = 0; i < nseed_urls; i++)
            if (replay_target_parse(seed_urls[i], &seeds[i], &err) != 0) {
                rc = rt_usage_error("replay", "--target %s: %s", seed_urls[i], err.msg);
                goto out;
            }
        o.seeds = seeds;
        o.nseeds = nseed_urls;
    }
    if (pass)
        rt_warn_cmdline_password("replay", "--pass");
    if (!user)
        user = rt_env_first("RESPTRACE_USER", NULL);
    if (!pass)
        pass = rt_env_first("RESPTRACE_PASS", "REDISCLI_AUTH");
    if (user) {
        free(o.target.user);
        o.target.user = strdup(user);
    }
    if (pass) {
        free(o.target.pass);
        o.target.pass = strdup(pass);
    }
    if (o.target.user && !o.target.pass) {
        rc = rt_usage_error("replay", "a user without a password (give --pass or "
                                      "RESPTRACE_PASS)");
        goto out;
    }
    if (vtarget_url) {
        if (replay_target_parse(vtarget_url, &vtarget, &err) != 0) {
            rc = rt_usage_error("replay", "--verify-target: %s", err.msg);
            goto out;
        }
        if (rt_url_has_password(vtarget_url))
            rt_warn_cmdline_password("replay", "the --verify-target URL");
        if (!vtarget.pass && o.target.pass) {
            vtarget.user = o.target.user ? strdup(o.target.user) : NULL;
            vtarget.pass = strdup(o.target.pass);
        }
        o.verify_target = &vtarget;
        o.verify_writes = 1;
    }
    if (o.wait_replicas)
        o.verify_writes = 1;
    if (target_url && preflight && replay_probe(&o, &err) != 0) {
        fprintf(stderr, "resptrace replay: %s\n", err.msg);
        rc = RT_EXIT_FAIL;
        goto out;
    }
    if (!target_url) {
        /* the binary: $RESPTRACE_REDIS_SERVER (a path, or a name looked up in $PATH) */
        struct replay_server_opts so = {.binary = rt_env_first("RESPTRACE_REDIS_SERVER", NULL),
                                        .search_path = getenv("PATH"),
                                        .tmpdir = rt_env_first("TMPDIR", NULL)};
        if (replay_server_start(&srv, &so, &err) != 0) {
            fprintf(stderr, "resptrace replay: no --target, and the throwaway redis-server did "
                            "not start: %s\n",
                    err.msg);
            rc = RT_EXIT_FAIL;
            goto out;
        }
        own_server = 1;
        snprintf(o.target.host, sizeof o.target.host, "127.0.0.1");
        o.target.port = srv.port;
        fprintf(stderr, "resptrace replay: no --target: a throwaway redis-server on 127.0.0.1:%u\n",
                (unsigned)srv.port);
    }

    if (check) {
        rc = run_check(&o, json_path);
        goto out;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (nsweep) {
        char tb[400];
        replay_target_format(&o.target, tb, sizeof tb);
        rc = run_sweep(&o, &ui, sweep, nsweep, slo_spec, slo, nslo, max_lag_ms, refine, json_path,
                       label, tb, sweep_by_scale);
        if (stop_flag)
            rc = RT_EXIT_INTERRUPTED;
        goto out;
    }

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
    if (res.lat && (run == 0 || res.sent)) {
        FILE *out = json_path && !strcmp(json_path, "-") ? stderr : stdout;
        print_table(out, &res);
        if (lagging)
            fprintf(out,
                    "WARNING: the replay ran behind its schedule (p99 lag %.1f ms > %.1f ms):\n"
                    "the target or this host could not keep up, so this is not a valid test of\n"
                    "the recorded load\n",
                    (double)lag99 / 1e6, max_lag_ms);
        if (res.stopped)
            fprintf(out, "stopped early: the figures cover what ran\n");
        if (res.start_late_s > 0)
            fprintf(out, "WARNING: --start-at had passed %.3f s before this part could start: it\n"
                         "started at once, behind the other parts\n",
                    res.start_late_s);
        if (json_path) {
            json_t *j = result_json(&res, o.trace, tbuf, o.speed, o.rate, lagging, max_lag_ms);
            model_json(j, &o);
            if (label)
                json_object_set_new(j, "label", json_string(label));
            if (write_json(j, json_path) < 0)
                rc = RT_EXIT_FAIL;
        }
    }
    /* the exit status says whether the replay did its job, in one line when it did not (after
     * the table: both may go to one file) */
    fflush(stdout);
    char why[400];
    if (stop_flag) {
        fprintf(stderr, "resptrace replay: interrupted: the figures cover what ran\n");
        rc = RT_EXIT_INTERRUPTED;
    } else if (run == 0 && replay_failed(&res, why, sizeof why)) {
        fprintf(stderr, "resptrace replay: %s\n", why);
        rc = RT_EXIT_FAIL;
    } else if (run == 0 && res.requests > res.skipped && res.ops == 0) {
        fprintf(stderr, "resptrace replay: the target answered none of the %llu requests sent "
                        "(%s)\n",
                (unsigned long long)res.sent, res.conn_error[0] ? res.conn_error : "no reply");
        rc = RT_EXIT_FAIL;
    } else if (strict && lagging && rc == RT_EXIT_OK) {
        fprintf(stderr, "resptrace replay: --strict: the replay ran behind its schedule (p99 lag "
                        "%.1f ms > %.1f ms)\n",
                (double)lag99 / 1e6, max_lag_ms);
        rc = RT_EXIT_FAIL;
    }
    replay_result_free(&res);
out:
    if (jout_open) {
        rt_out_abort(&jout, 0); /* nothing, when the JSON was written and committed */
        jout_open = 0;
    }
    free(slo);
    if (own_server)
        replay_server_stop(&srv);
    replay_target_clear(&o.target);
    replay_target_clear(&vtarget);
    for (size_t i = 0; seeds && i < nseed_urls; i++)
        replay_target_clear(&seeds[i]);
    free(seeds);
    free(seed_urls);
    free(sweep);
    free(allow.v);
    free(only.v);
    free(skip.v);
    return rc;
#undef USAGE
}
