/* cmd_slice.c: `resptrace slice` (a time range of a trace) and `resptrace filter` (the
 * requests matching commands, keys, connections, databases or a sample), written as new
 * traces with every kept request's reply following it. */
#include "tools.h"
#include "trace_edit.h"

#include <ctype.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void usage_slice(FILE *out)
{
    fputs("usage: resptrace slice TRACE -o OUT [--from TIME] [--to TIME]\n"
          "                       [--reply-window S] [--encoding N] [--json[=FILE]]\n"
          "                       [-q] [--salvage]\n"
          "\n"
          "Writes the events of TRACE whose time is in [--from, --to) to OUT, seeking to\n"
          "--from with the trace's index (chunks before it are not decompressed) and\n"
          "stopping after --to. TIME: seconds after the trace's start (\"+2.5\" or \"2.5\"),\n"
          "ns since the epoch, or ISO 8601 UTC (2026-11-26T15:42:32.5Z); default: the\n"
          "start, the end.\n"
          "\n"
          "  -o, --output FILE   the new trace (required; \"-\": stdout), written under a\n"
          "                      temporary name and renamed when complete; it may not be\n"
          "                      TRACE (nor a link to it)\n"
          "  --reply-window S    a request kept in the range keeps its reply even when the\n"
          "                      reply comes after --to, if it comes within S seconds\n"
          "                      after --to (default 10)\n"
          "  --encoding N        chunk encoding of OUT: 3 (format 1.3, the default), 2\n"
          "                      for resptrace 1.2 readers, 1 for 1.0 and 1.1 readers\n"
          "  --json[=FILE]       the summary as one JSON document on stdout (the text then\n"
          "                      goes to stderr), or into FILE\n"
          "  -q, --quiet         no status line on a terminal\n"
          "  --salvage           skip damaged chunks\n"
          "\n"
          "A reply goes with its request: replies in the range to requests before --from\n"
          "are left out (they belong to the slice before), so slices [a,b) and [b,c)\n"
          "merged with `resptrace merge --same-conns` give back the requests and replies\n"
          "of [a,c). Connections opened before --from have no open event in the slice.\n"
          "The metadata of TRACE is kept, with slice.source, slice.from_ns, slice.to_ns.\n"
          "Counted: events read and written, requests and replies written, replies left\n"
          "out. A range without requests is said on stderr (the trace is still written).\n"
          "Ctrl-C stops the reading; OUT is closed, complete up to there.\n"
          "Exit status: 0; 1 when TRACE cannot be read or is damaged (what was read is\n"
          "written) or OUT cannot be written; 2 for a bad command line; 130 interrupted.\n",
          out);
}

void usage_filter(FILE *out)
{
    fputs("usage: resptrace filter TRACE -o OUT [--cmd LIST] [--key-glob GLOB]\n"
          "                        [--conn ID]... [--db N]\n"
          "                        [--sample 1/N [--by conn|key] [--seed S]]\n"
          "                        [--encoding N] [--json[=FILE]] [-q] [--salvage]\n"
          "\n"
          "Writes the requests of TRACE that match every given condition to OUT, each with\n"
          "its reply, and the open, close, gap, note and push events of the connections\n"
          "that keep at least one request (STATS events are kept).\n"
          "\n"
          "  -o, --output FILE   the new trace (required; \"-\": stdout), written under a\n"
          "                      temporary name and renamed when complete; it may not be\n"
          "                      TRACE (nor a link to it)\n"
          "  --cmd LIST          commands, comma separated, case-insensitive (\"get,set\";\n"
          "                      a subcommand as \"config|get\")\n"
          "  --key-glob GLOB     a key of the request matches GLOB (fnmatch: * ? [..]);\n"
          "                      keys from the command table's key specifications\n"
          "  --conn ID           connection ID (repeatable, or comma separated)\n"
          "  --db N              requests on database N\n"
          "  --sample 1/N        one connection (--by conn, the default) or one key\n"
          "                      (--by key) in N, chosen by a hash of the connection id\n"
          "                      or of the key with the seed: a sampled key keeps all its\n"
          "                      requests, in order\n"
          "  --seed S            the sampling seed (default 0)\n"
          "  --encoding N        chunk encoding of OUT: 3 (format 1.3, the default), 2\n"
          "                      for resptrace 1.2 readers, 1 for 1.0 and 1.1 readers\n"
          "  --json[=FILE]       the summary as one JSON document on stdout (the text then\n"
          "                      goes to stderr), or into FILE\n"
          "  -q, --quiet         no status line on a terminal\n"
          "  --salvage           skip damaged chunks\n"
          "\n"
          "A request's key, for --by key, is its first key. Requests without keys (or\n"
          "whose keys the command table cannot resolve) are dropped by --key-glob and\n"
          "--by key; malformed requests (the raw bytes a server refused) have no command\n"
          "and no keys: --cmd, --key-glob and --by key drop them.\n"
          "Unless only --conn and --sample --by conn are given (then connections are\n"
          "decided up front), TRACE is read twice: first to find the connections that\n"
          "keep requests. Replies paired with no request are kept only in that\n"
          "connection-only case.\n"
          "Counted: requests read and kept, replies kept, connections kept. When no\n"
          "request matches, stderr says so (the trace is still written, without requests).\n"
          "Ctrl-C stops the reading; OUT is closed, complete up to there.\n"
          "Exit status: 0; 1 when TRACE cannot be read or is damaged (what was read is\n"
          "written) or OUT cannot be written; 2 for a bad command line; 130 interrupted.\n",
          out);
}

/* ---- shared ---- */

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

/* Opens OUT (through a temporary name) with the metadata of `r` plus `extra`. */
static struct trace_writer *open_out(const char *cmd, struct rt_out *o, const char *out,
                                     struct trace_reader *r, const struct trace_meta_kv *extra,
                                     size_t nextra, int enc)
{
    size_t n;
    const struct trace_meta_kv *kv = trace_reader_meta(r, &n);
    struct trace_meta_kv *all = rt_xcalloc(cmd, n + nextra + 1, sizeof *all);
    memcpy(all, kv, n * sizeof *kv);
    memcpy(all + n, extra, nextra * sizeof *extra);
    struct trace_writer *w = edit_writer_open(cmd, o, out, all, n + nextra, enc);
    free(all);
    return w;
}

/* Reports the end of a read. @return 1 when the trace was damaged. */
static int read_status(const char *cmd, struct trace_reader *r, int rc, const struct rt_err *err)
{
    if (rc < 0) {
        fprintf(stderr, "resptrace %s: %s\n", cmd, err->msg);
        return 1;
    }
    struct trace_damage d;
    trace_reader_damage(r, &d);
    if (d.first_offset != UINT64_MAX) {
        fprintf(stderr, "resptrace %s: %s (salvaged: %llu damaged chunks skipped)\n", cmd, d.msg,
                (unsigned long long)d.chunks_skipped);
        return 1;
    }
    return 0;
}

struct counts {
    uint64_t read, written, req_read, req_kept, rep_kept, rep_dropped, conns;
};

/* What a run wrote, for the summary. */
struct result {
    const char *cmd, *in, *out;
    struct counts c;
    uint64_t from, to; /* slice */
    int interrupted;
};

static json_t *result_json(const struct result *x)
{
    const struct counts *c = &x->c;
    json_t *o = rt_json_doc(x->cmd);
    json_object_set_new(o, "file", json_string(x->in));
    json_object_set_new(o, "output", json_string(x->out));
    if (!strcmp(x->cmd, "slice")) {
        json_object_set_new(o, "from_ns", rt_json_u64(x->from));
        json_object_set_new(o, "to_ns", x->to == UINT64_MAX ? json_null() : rt_json_u64(x->to));
    }
    json_object_set_new(o, "events_read", rt_json_u64(c->read));
    json_object_set_new(o, "events_written", rt_json_u64(c->written));
    json_object_set_new(o, "requests_read", rt_json_u64(c->req_read));
    json_object_set_new(o, "requests_written", rt_json_u64(c->req_kept));
    json_object_set_new(o, "replies_written", rt_json_u64(c->rep_kept));
    json_object_set_new(o, "replies_left_out", rt_json_u64(c->rep_dropped));
    if (!strcmp(x->cmd, "filter"))
        json_object_set_new(o, "connections_kept", rt_json_u64(c->conns));
    json_object_set_new(o, "interrupted", json_boolean(x->interrupted));
    return o;
}

static void print_counts(FILE *f, const struct result *x)
{
    const struct counts *c = &x->c;
    char a[48], b[48];
    fprintf(f, "%-18s %s\n%-18s %s\n", "file", x->in, "output", x->out);
    if (!strcmp(x->cmd, "slice"))
        fprintf(f, "%-18s %s .. %s\n", "range", rt_fmt_time(x->from, a, sizeof a),
                x->to == UINT64_MAX ? "end" : rt_fmt_time(x->to, b, sizeof b));
    fprintf(f, "%-18s %" PRIu64 " read, %" PRIu64 " written\n", "events", c->read, c->written);
    fprintf(f, "%-18s %" PRIu64 " read, %" PRIu64 " written\n", "requests", c->req_read,
            c->req_kept);
    fprintf(f, "%-18s %" PRIu64 " written, %" PRIu64 " left out\n", "replies", c->rep_kept,
            c->rep_dropped);
    if (!strcmp(x->cmd, "filter"))
        fprintf(f, "%-18s %" PRIu64 " kept\n", "connections", c->conns);
}

/* The end of a run whose reading is over: OUT closed and renamed into place, the summary
 * (text, and the JSON document when `json`), the line of an interruption. @return the exit
 * status. */
static int finish_run(const struct result *x, struct rt_out *o, struct trace_writer *w,
                      const char *json, int damaged)
{
    if (edit_writer_commit(x->cmd, o, w) != 0)
        return RT_EXIT_FAIL;
    print_counts(edit_text_stream(x->out, json), x);
    int status = x->interrupted ? RT_EXIT_INTERRUPTED : damaged ? RT_EXIT_FAIL : RT_EXIT_OK;
    if (json && rt_json_write(x->cmd, result_json(x), json) != 0 && status == RT_EXIT_OK)
        status = RT_EXIT_FAIL;
    if (x->interrupted) {
        char n[32];
        fprintf(stderr, "resptrace %s: interrupted: wrote %s events\n", x->cmd,
                edit_fmt_count(x->c.written, n, sizeof n));
    }
    return status;
}

/* Writes a request and remembers its new seq for its reply. @return 0 or -1. */
static int put_request(const char *cmd, struct trace_writer *w, struct seqmap *map,
                       struct trace_event *ev, uint64_t *pending)
{
    struct rt_err err = {0};
    uint64_t old = ev->u.req.seq;
    if (trace_writer_add(w, ev, &err) < 0) {
        fprintf(stderr, "resptrace %s: %s\n", cmd, err.msg);
        return -1;
    }
    if (!(ev->u.req.flags & TRACE_REQ_NOREPLY)) {
        if (seqmap_put(map, old, ev->u.req.seq) < 0)
            rt_oom(cmd);
        (*pending)++;
    }
    return 0;
}

/* Writes a reply if its request was written (renumbered). @return 1 written, 0 not, -1 error. */
static int put_reply(const char *cmd, struct trace_writer *w, struct seqmap *map,
                     struct trace_event *ev, uint64_t *pending)
{
    uint64_t nv;
    if (ev->u.reply.req_seq == TRACE_SEQ_NONE || !seqmap_take(map, ev->u.reply.req_seq, &nv))
        return 0;
    (*pending)--;
    ev->u.reply.req_seq = nv;
    struct rt_err err = {0};
    if (trace_writer_add(w, ev, &err) < 0) {
        fprintf(stderr, "resptrace %s: %s\n", cmd, err.msg);
        return -1;
    }
    return 1;
}

static int put_event(const char *cmd, struct trace_writer *w, struct trace_event *ev)
{
    struct rt_err err = {0};
    if (trace_writer_add(w, ev, &err) < 0) {
        fprintf(stderr, "resptrace %s: %s\n", cmd, err.msg);
        return -1;
    }
    return 0;
}

/* The status line, every 4096 events read. */
static void progress(struct rt_progress *pg, const char *what, const struct trace_reader *r,
                     const struct counts *c)
{
    if ((c->read & 4095) != 0 || !rt_progress_due(pg))
        return;
    char extra[48], n[32];
    snprintf(extra, sizeof extra, "%s requests kept", edit_fmt_count(c->req_kept, n, sizeof n));
    rt_progress_trace(pg, what, r, c->read, extra);
}

/* ---- slice ---- */

/* A point of the range: "+1.500 s" after the trace's start, else the time. */
static char *fmt_point(uint64_t ns, uint64_t base, char *buf, size_t cap)
{
    if (ns == UINT64_MAX)
        snprintf(buf, cap, "the end");
    else if (ns >= base)
        snprintf(buf, cap, "+%.3f s", (double)(ns - base) / 1e9);
    else
        rt_fmt_time(ns, buf, cap);
    return buf;
}

/* Says on stderr that the range holds no request. */
static void say_slice_empty(const struct result *x, uint64_t base, const struct trace_totals *t)
{
    char a[48], b[48], n[32];
    fprintf(stderr, "resptrace slice: no request in [%s, %s)",
            fmt_point(x->from, base, a, sizeof a), fmt_point(x->to, base, b, sizeof b));
    if (t->events && t->ts_max >= t->ts_min && t->ts_min == base)
        fprintf(stderr, " (the trace runs from +0 s to +%.3f s)",
                (double)(t->ts_max - t->ts_min) / 1e9);
    if (x->c.written)
        fprintf(stderr, "; wrote %s events, no requests\n",
                edit_fmt_count(x->c.written, n, sizeof n));
    else
        fprintf(stderr, "; wrote an empty trace\n");
}

int cmd_slice(int argc, char **argv)
{
    static const struct option opts[] = {{"from", required_argument, NULL, 'F'},
                                         {"to", required_argument, NULL, 'T'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"reply-window", required_argument, NULL, 'w'},
                                         {"encoding", required_argument, NULL, 'E'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *from_s = NULL, *to_s = NULL, *out = NULL, *json = NULL;
    double window = 10;
    int salvage = 0, quiet = 0, c, enc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:q", opts, NULL)) != -1) {
        switch (c) {
        case 'F': from_s = optarg; break;
        case 'T': to_s = optarg; break;
        case 'o': out = optarg; break;
        case 'w': {
            char *end;
            window = strtod(optarg, &end);
            if (end == optarg || *end || window < 0 || window > 1e9)
                return rt_usage_error("slice", "bad --reply-window '%s'", optarg);
            break;
        }
        case 'E':
            if (rt_opt_encoding("slice", optarg, &enc))
                return RT_EXIT_USAGE;
            break;
        case 'j': json = optarg ? optarg : "-"; break;
        case 's': salvage = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage_slice(stdout); return RT_EXIT_OK;
        default: return edit_bad_option("slice", c, argv);
        }
    }
    if (optind >= argc)
        return rt_usage_error("slice", "give the trace to slice");
    if (optind < argc - 1)
        return rt_usage_error("slice", "one trace at a time ('%s' is extra)", argv[optind + 1]);
    if (!out)
        return rt_usage_error("slice", "give the output with -o FILE");
    const char *path = argv[optind];
    if (edit_check_outputs("slice", out, json, &path, 1) != 0)
        return RT_EXIT_USAGE;
    rt_catch_signals();
    struct rt_progress pg;
    rt_progress_init(&pg, quiet); /* from the start: the first chunk may be slow to come */
    struct trace_reader *r = rt_open_trace("slice", path, salvage);
    if (!r)
        return RT_EXIT_FAIL;
    struct rt_err err = {0};
    struct trace_event ev;
    int rc = 0, have = 0, status = RT_EXIT_FAIL;
    struct trace_totals t;
    trace_reader_totals(r, &t);
    uint64_t base = t.ts_min, from = 0, to = UINT64_MAX;
    if (!trace_reader_has_index(r) && (rc = trace_reader_next(r, &ev, &err)) == 1) {
        base = ev.ts; /* no index: the first event gives the start */
        have = 1;
    }
    if (from_s && rt_parse_time(from_s, base, &from) != 0) {
        trace_reader_close(r);
        return rt_usage_error("slice", "--from: cannot read '%s' as a time", from_s);
    }
    if (to_s && rt_parse_time(to_s, base, &to) != 0) {
        trace_reader_close(r);
        return rt_usage_error("slice", "--to: cannot read '%s' as a time", to_s);
    }
    if (to < from) {
        trace_reader_close(r);
        return rt_usage_error("slice", "--to is before --from");
    }
    if (from_s && from > base && strcmp(path, "-") != 0) {
        if (trace_reader_seek_time(r, from, &err) != 0) {
            fprintf(stderr, "resptrace slice: %s\n", err.msg);
            trace_reader_close(r);
            return RT_EXIT_FAIL;
        }
        have = 0;
    }
    char fb[32], tb[32];
    snprintf(fb, sizeof fb, "%" PRIu64, from);
    snprintf(tb, sizeof tb, "%" PRIu64, to);
    struct trace_meta_kv extra[] = {{"slice.source", path, strlen(path)},
                                    {"slice.from_ns", fb, strlen(fb)},
                                    {"slice.to_ns", to_s ? tb : "", to_s ? strlen(tb) : 0}};
    struct rt_out o = {0};
    struct trace_writer *w = open_out("slice", &o, out, r, extra, 3, enc);
    struct seqmap *map = seqmap_new();
    if (!map)
        rt_oom("slice");
    if (!w)
        goto done;
    /* After --to: replies of kept requests for up to --reply-window; other events that come
     * late by up to one second (streams slightly out of order). */
    uint64_t wns = (uint64_t)(window * 1e9), late = 1000000000ull;
    uint64_t stop = to == UINT64_MAX ? UINT64_MAX : to + (wns > late ? wns : late);
    if (stop < to)
        stop = UINT64_MAX;
    struct result x = {.cmd = "slice", .in = path, .out = out, .from = from, .to = to};
    struct counts *cn = &x.c;
    uint64_t pending = 0;
    while (!rt_interrupted && (have || (rc = trace_reader_next(r, &ev, &err)) == 1)) {
        have = 0;
        cn->read++;
        progress(&pg, "slice", r, cn);
        if (ev.ts > stop || (ev.ts > to && ev.ts - to > late && pending == 0))
            break;
        int in = ev.ts >= from && ev.ts < to;
        int wr = 0;
        if (ev.type == TRACE_EV_REQUEST) {
            cn->req_read += in;
            if (in && put_request("slice", w, map, &ev, &pending) < 0)
                goto done;
            wr = in;
            cn->req_kept += in;
        } else if (ev.type == TRACE_EV_REPLY && ev.u.reply.req_seq != TRACE_SEQ_NONE) {
            if (ev.ts <= to || ev.ts - to <= wns) {
                wr = put_reply("slice", w, map, &ev, &pending);
                if (wr < 0)
                    goto done;
            }
            cn->rep_kept += (uint64_t)wr;
            cn->rep_dropped += (uint64_t)(in && !wr);
        } else if (in) {
            if (put_event("slice", w, &ev) < 0)
                goto done;
            wr = 1;
            cn->rep_kept += ev.type == TRACE_EV_REPLY;
        }
        cn->written += (uint64_t)wr;
    }
    rt_progress_done(&pg);
    x.interrupted = rt_interrupted != 0;
    int damaged = !x.interrupted && read_status("slice", r, rc < 0 ? rc : 0, &err);
    if (!x.interrupted && !cn->req_kept)
        say_slice_empty(&x, base, &t);
    status = finish_run(&x, &o, w, json, damaged);
    w = NULL;
done:
    rt_progress_done(&pg);
    edit_writer_abort(&o, w);
    seqmap_free(map);
    trace_reader_close(r);
    return status;
}

/* ---- filter ---- */

struct filt {
    char **cmds;
    size_t ncmds;
    const char *glob;
    uint64_t *conns;
    size_t nconns;
    int has_db;
    uint64_t db;
    uint64_t sample_n; /* 0: no sampling */
    int by_key;
    uint64_t seed;
    uint32_t *pos;
    size_t pos_cap;
    char *kbuf;
    size_t kcap;
};

static int conn_level(const struct filt *f)
{
    return !f->ncmds && !f->glob && !f->has_db && !(f->sample_n && f->by_key);
}

static int conn_passes(const struct filt *f, uint64_t conn)
{
    if (f->nconns) {
        size_t i;
        for (i = 0; i < f->nconns && f->conns[i] != conn; i++)
            ;
        if (i == f->nconns)
            return 0;
    }
    if (f->sample_n && !f->by_key &&
        rt_hash_seeded(f->seed, &conn, sizeof conn) % f->sample_n != 0)
        return 0;
    return 1;
}

static int cmd_passes(const struct filt *f, const struct trace_request *q, const struct rt_cmd *c)
{
    if (!f->ncmds)
        return 1;
    for (size_t i = 0; i < f->ncmds; i++) {
        if (strlen(f->cmds[i]) == q->argvlen[0] && !strncasecmp(f->cmds[i], q->argv[0], q->argvlen[0]))
            return 1;
        if (c && !strcasecmp(f->cmds[i], c->name))
            return 1;
    }
    return 0;
}

/* @return 1 keep, 0 drop, -1 out of memory */
static int req_passes(struct filt *f, uint64_t conn, const struct trace_request *q)
{
    if (!conn_passes(f, conn) || q->argc == 0)
        return 0;
    if (f->has_db && q->db != f->db)
        return 0;
    if (q->flags & TRACE_REQ_MALFORMED) /* raw bytes: no command name, no keys */
        return !f->ncmds && !f->glob && !(f->sample_n && f->by_key);
    const struct rt_cmd *c = rt_cmd_lookup(q->argc, q->argv, q->argvlen);
    if (!cmd_passes(f, q, c))
        return 0;
    if (!f->glob && !(f->sample_n && f->by_key))
        return 1;
    if (!c)
        return 0;
    if (q->argc > f->pos_cap) {
        size_t cap = q->argc * 2;
        void *p = realloc(f->pos, cap * sizeof *f->pos);
        if (!p)
            return -1;
        f->pos = p;
        f->pos_cap = cap;
    }
    size_t n = 0;
    if (rt_cmd_keys(c, q->argc, q->argv, q->argvlen, f->pos, f->pos_cap, &n) < 0 || n == 0 ||
        n > f->pos_cap)
        return 0;
    if (f->sample_n && f->by_key &&
        rt_hash_seeded(f->seed, q->argv[f->pos[0]], q->argvlen[f->pos[0]]) % f->sample_n != 0)
        return 0;
    if (!f->glob)
        return 1;
    for (size_t i = 0; i < n; i++) {
        size_t kl = q->argvlen[f->pos[i]];
        if (memchr(q->argv[f->pos[i]], 0, kl))
            continue; /* fnmatch sees C strings: a key with a NUL byte never matches */
        if (kl + 1 > f->kcap) {
            void *p = realloc(f->kbuf, kl + 1);
            if (!p)
                return -1;
            f->kbuf = p;
            f->kcap = kl + 1;
        }
        memcpy(f->kbuf, q->argv[f->pos[i]], kl);
        f->kbuf[kl] = 0;
        if (fnmatch(f->glob, f->kbuf, 0) == 0)
            return 1;
    }
    return 0;
}

static int add_list(char ***v, size_t *n, const char *s)
{
    char *dup = strdup(s);
    if (!dup)
        return -1;
    for (char *tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) {
        void *p = realloc(*v, (*n + 1) * sizeof **v);
        if (!p || !(((char **)p)[*n] = strdup(tok))) {
            if (p)
                *v = p;
            free(dup);
            return -1;
        }
        *v = p;
        (*n)++;
    }
    free(dup);
    return 0;
}

static void filt_free(struct filt *f)
{
    for (size_t i = 0; i < f->ncmds; i++)
        free(f->cmds[i]);
    free(f->cmds);
    free(f->conns);
    free(f->pos);
    free(f->kbuf);
}

/* First pass: the connections that keep at least one request. @return 0, -1 on an error
 * (printed), -2 when interrupted. */
static int find_conns(struct filt *f, const char *path, int salvage, struct u64set *set,
                      struct rt_progress *pg)
{
    struct trace_reader *r = rt_open_trace("filter", path, salvage);
    if (!r)
        return -1;
    struct trace_event ev;
    struct rt_err err = {0};
    struct counts c = {0};
    while (!rt_interrupted && trace_reader_next(r, &ev, &err) == 1) {
        c.read++;
        progress(pg, "filter 1/2", r, &c);
        if (ev.type != TRACE_EV_REQUEST || u64set_has(set, ev.conn))
            continue;
        int k = req_passes(f, ev.conn, &ev.u.req);
        if (k < 0 || (k == 1 && u64set_add(set, ev.conn) < 0))
            rt_oom("filter");
    }
    trace_reader_close(r); /* damage is reported by the second pass */
    return rt_interrupted ? -2 : 0;
}

int cmd_filter(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"cmd", required_argument, NULL, 'c'},
                                         {"key-glob", required_argument, NULL, 'k'},
                                         {"conn", required_argument, NULL, 'C'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"sample", required_argument, NULL, 'S'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"seed", required_argument, NULL, 'e'},
                                         {"encoding", required_argument, NULL, 'E'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct filt f = {0};
    const char *out = NULL, *json = NULL;
    int salvage = 0, quiet = 0, c, by_set = 0, seed_set = 0, status = RT_EXIT_USAGE, enc = 0;
    char **cl = NULL;
    size_t ncl = 0;
    char cond[512] = ""; /* the conditions as given, for the line saying nothing matched */
    size_t condlen = 0;
#define COND(...)                                                                                  \
    do {                                                                                           \
        if (condlen < sizeof cond)                                                                 \
            condlen += (size_t)snprintf(cond + condlen, sizeof cond - condlen, __VA_ARGS__);       \
    } while (0)
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:q", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'c':
            if (add_list(&f.cmds, &f.ncmds, optarg) < 0)
                rt_oom("filter");
            COND(" --cmd %s", optarg);
            break;
        case 'k':
            f.glob = optarg;
            COND(" --key-glob '%s'", optarg);
            break;
        case 'C':
            if (add_list(&cl, &ncl, optarg) < 0)
                rt_oom("filter");
            COND(" --conn %s", optarg);
            break;
        case 'd':
            if (parse_u64(optarg, &f.db) < 0 || f.db > UINT32_MAX) {
                rt_usage_error("filter", "bad --db '%s'", optarg);
                goto usage_out;
            }
            f.has_db = 1;
            COND(" --db %s", optarg);
            break;
        case 'S':
            if (strncmp(optarg, "1/", 2) || parse_u64(optarg + 2, &f.sample_n) < 0 ||
                f.sample_n == 0) {
                rt_usage_error("filter", "--sample takes 1/N (N >= 1), not '%s'", optarg);
                goto usage_out;
            }
            COND(" --sample %s", optarg);
            break;
        case 'b':
            if (strcmp(optarg, "conn") && strcmp(optarg, "key")) {
                rt_usage_error("filter", "--by takes conn or key, not '%s'", optarg);
                goto usage_out;
            }
            f.by_key = optarg[0] == 'k';
            by_set = 1;
            COND(" --by %s", optarg);
            break;
        case 'e':
            if (parse_u64(optarg, &f.seed) < 0) {
                rt_usage_error("filter", "bad --seed '%s'", optarg);
                goto usage_out;
            }
            seed_set = 1;
            COND(" --seed %s", optarg);
            break;
        case 'E':
            if (rt_opt_encoding("filter", optarg, &enc))
                goto usage_out;
            break;
        case 'j': json = optarg ? optarg : "-"; break;
        case 's': salvage = 1; break;
        case 'q': quiet = 1; break;
        case 'h':
            usage_filter(stdout);
            status = RT_EXIT_OK;
            goto usage_out;
        default: edit_bad_option("filter", c, argv); goto usage_out;
        }
    }
#undef COND
    if (optind >= argc) {
        rt_usage_error("filter", "give the trace to filter");
        goto usage_out;
    }
    if (optind < argc - 1) {
        rt_usage_error("filter", "one trace at a time ('%s' is extra)", argv[optind + 1]);
        goto usage_out;
    }
    if (!out) {
        rt_usage_error("filter", "give the output with -o FILE");
        goto usage_out;
    }
    if ((by_set || seed_set) && !f.sample_n) {
        rt_usage_error("filter", "--by and --seed go with --sample");
        goto usage_out;
    }
    f.conns = rt_xcalloc("filter", ncl + 1, sizeof *f.conns);
    for (size_t i = 0; i < ncl; i++)
        if (parse_u64(cl[i], &f.conns[f.nconns++]) < 0) {
            rt_usage_error("filter", "bad --conn '%s'", cl[i]);
            goto usage_out;
        }
    const char *path = argv[optind];
    int two_pass = !conn_level(&f);
    if (two_pass && !strcmp(path, "-")) {
        rt_usage_error("filter", "these conditions read the trace twice: give a file, not stdin");
        goto usage_out;
    }
    if (edit_check_outputs("filter", out, json, &path, 1) != 0)
        goto usage_out;
    rt_catch_signals();
    status = RT_EXIT_FAIL;
    struct u64set *set = NULL, *seen = NULL;
    struct seqmap *map = NULL;
    struct trace_writer *w = NULL;
    struct trace_reader *r = NULL;
    struct rt_out o = {0};
    struct rt_progress pg;
    rt_progress_init(&pg, quiet);
    set = u64set_new();
    map = seqmap_new();
    seen = u64set_new(); /* connections-only: the kept ones, counted */
    if (!set || !map || !seen)
        rt_oom("filter");
    if (two_pass) {
        int k = find_conns(&f, path, salvage, set, &pg);
        if (k == -2) {
            fprintf(stderr,
                    "resptrace filter: interrupted while finding the connections: %s "
                    "not written\n",
                    out);
            status = RT_EXIT_INTERRUPTED;
        }
        if (k < 0)
            goto done;
    }
    r = rt_open_trace("filter", path, salvage);
    if (!r)
        goto done;
    struct trace_meta_kv extra[] = {{"filter.source", path, strlen(path)}};
    w = open_out("filter", &o, out, r, extra, 1, enc);
    if (!w)
        goto done;
    struct trace_event ev;
    struct rt_err err = {0};
    struct result x = {.cmd = "filter", .in = path, .out = out};
    struct counts *cn = &x.c;
    uint64_t pending = 0;
    int rc;
    while (!rt_interrupted && (rc = trace_reader_next(r, &ev, &err)) == 1) {
        cn->read++;
        progress(&pg, two_pass ? "filter 2/2" : "filter", r, cn);
        int keep_conn = ev.conn == 0 ? ev.type == TRACE_EV_STATS
                        : two_pass   ? u64set_has(set, ev.conn)
                                     : conn_passes(&f, ev.conn);
        int wr = 0;
        if (ev.type == TRACE_EV_REQUEST) {
            cn->req_read++;
            int k = keep_conn ? req_passes(&f, ev.conn, &ev.u.req) : 0;
            if (k < 0)
                rt_oom("filter");
            if (k && put_request("filter", w, map, &ev, &pending) < 0)
                goto done;
            wr = k;
            cn->req_kept += (uint64_t)k;
        } else if (ev.type == TRACE_EV_REPLY &&
                   (two_pass || ev.u.reply.req_seq != TRACE_SEQ_NONE)) {
            wr = put_reply("filter", w, map, &ev, &pending);
            if (wr < 0)
                goto done;
            cn->rep_kept += (uint64_t)wr;
            cn->rep_dropped += (uint64_t)!wr;
        } else if (keep_conn) {
            if (put_event("filter", w, &ev) < 0)
                goto done;
            wr = 1;
            cn->rep_kept += ev.type == TRACE_EV_REPLY;
        } else {
            cn->rep_dropped += ev.type == TRACE_EV_REPLY;
        }
        if (wr && ev.conn && !two_pass && u64set_add(seen, ev.conn) < 0)
            rt_oom("filter");
        cn->written += (uint64_t)wr;
    }
    rt_progress_done(&pg);
    x.interrupted = rt_interrupted != 0;
    cn->conns = two_pass ? u64set_count(set) : u64set_count(seen);
    int damaged = !x.interrupted && read_status("filter", r, rc < 0 ? rc : 0, &err);
    if (!x.interrupted && !cn->req_kept) {
        char a[32], b[32];
        fprintf(stderr, "resptrace filter: no request matched%s (%s of %s requests); %s\n",
                cond[0] ? cond : " (no condition)", edit_fmt_count(0, a, sizeof a),
                edit_fmt_count(cn->req_read, b, sizeof b),
                cn->written ? "wrote a trace without requests" : "wrote an empty trace");
    }
    status = finish_run(&x, &o, w, json, damaged);
    w = NULL;
done:
    rt_progress_done(&pg);
    edit_writer_abort(&o, w);
    trace_reader_close(r);
    seqmap_free(map);
    u64set_free(set);
    u64set_free(seen);
usage_out:
    for (size_t i = 0; i < ncl; i++)
        free(cl[i]);
    free(cl);
    filt_free(&f);
    return status;
}
