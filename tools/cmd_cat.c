/* cmd_cat.c: `resptrace cat`: a trace's events as text, JSON lines, or raw RESP requests. */
#include "tools.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void usage_cat(FILE *out)
{
    fprintf(out,
            "usage: resptrace cat TRACE [--format text|jsonl|resp] [--from TIME] [--limit N]\n"
            "                           [--salvage] [--pair-window N] [--pair-bytes N]\n\n"
            "Prints the events of a trace (\"-\" reads stdin).\n\n"
            "  --format text    one line per event (default)\n"
            "  --format jsonl   one JSON object per line; a request line carries its paired\n"
            "                   reply as \"reply\" (null when none was paired)\n"
            "  --format resp    the requests as RESP arrays, for `redis-cli --pipe`\n"
            "                   (malformed requests are left out and counted on stderr)\n"
            "  --from TIME      start at TIME: seconds after the trace's start (\"+2.5\"), ns\n"
            "                   since the epoch, or ISO 8601 UTC (2026-11-26T15:42:32.5Z)\n"
            "  --limit N        stop after N events (requests with --format resp)\n"
            "  --salvage        skip damaged chunks instead of stopping at the first\n"
            "  --pair-window N  jsonl: requests held back waiting for their reply (100000);\n"
            "                   beyond it the oldest is printed with \"reply\": null and its\n"
            "                   reply, when it comes, as its own line\n"
            "  --pair-bytes N   jsonl: the same bound on the bytes of the lines held back\n"
            "                   (their arguments as JSON strings): 64M (suffixes k, M, G)\n\n"
            "JSON strings hold the bytes as UTF-8; a backslash is written as two backslashes\n"
            "and a byte that is not valid UTF-8 as \\xHH (both JSON-escaped once more).\n"
            "A malformed request (bytes the server rejected as a command) shows as MALFORMED\n"
            "and its bytes as sent (jsonl: \"malformed\": true, \"cmd\": null, argv[0] the\n"
            "bytes); a reply that could hold a secret shows only its type and [redacted]\n"
            "(jsonl: \"redacted\": true, no len, hash or payload).\n"
            "Exit status: 0, or 1 when the trace is damaged, was not closed or holds chunks\n"
            "a newer resptrace wrote (everything readable is printed first, then the\n"
            "message on stderr).\n");
}

enum fmt { FMT_TEXT, FMT_JSONL, FMT_RESP };

/* ---- text ---- */

static const char *close_reason_name(uint32_t r)
{
    static const char *const n[] = {"fin", "rst", "idle", "end", "limit", "quit"};
    return r < sizeof n / sizeof n[0] ? n[r] : "unknown";
}

/* Request flag names, shared by the text and JSON outputs. */
static const struct {
    uint32_t bit;
    const char *name;
} req_flag_names[] = {{TRACE_REQ_INLINE, "inline"},
                      {TRACE_REQ_REDACTED, "redacted"},
                      {TRACE_REQ_VALUES_REDACTED, "values_redacted"},
                      {TRACE_REQ_NOREPLY, "noreply"},
                      {TRACE_REQ_TRUNCATED, "truncated"},
                      {TRACE_REQ_AFTER_GAP, "after_gap"},
                      {TRACE_REQ_MALFORMED, "malformed"}};
#define N_REQ_FLAGS (sizeof req_flag_names / sizeof req_flag_names[0])

static void print_req_flags(FILE *out, uint32_t f)
{
    for (size_t i = 0; i < N_REQ_FLAGS; i++)
        if ((f & req_flag_names[i].bit) && req_flag_names[i].bit != TRACE_REQ_MALFORMED)
            fprintf(out, " [%s]", req_flag_names[i].name);
}

static void text_reply(FILE *out, const struct trace_reply *p)
{
    if (p->flags & TRACE_REPLY_REDACTED) {
        /* only the type was kept: a length or a hash would help guess a password */
        fprintf(out, " %c%s [redacted]", p->rtype, trace_reply_type_name(p->rtype));
        return;
    }
    fprintf(out, " %c%s %" PRIu64 "B", p->rtype, trace_reply_type_name(p->rtype), p->len);
    if (p->count)
        fprintf(out, " count=%" PRIu64, p->count);
    if (p->size)
        fprintf(out, " size=%" PRIu64, p->size);
    if (p->rtype == TRACE_R_INTEGER || p->rtype == TRACE_R_BOOLEAN)
        fprintf(out, " value=%" PRId64, p->ival);
    if (p->errlen) {
        fputc(' ', out);
        rt_quote(out, p->err, p->errlen, 200);
    }
    if (p->flags & TRACE_REPLY_HAS_HASH)
        fprintf(out, " hash=%016" PRIx64, p->hash);
    if (p->flags & TRACE_REPLY_HAS_PAYLOAD) {
        fputc(' ', out);
        rt_quote(out, p->payload, p->payload_len, 64);
    }
}

static void print_text(FILE *out, const struct trace_event *ev)
{
    char t[48], a[80], b[80];
    fprintf(out, "%s conn %" PRIu64 " %s", rt_fmt_time(ev->ts, t, sizeof t), ev->conn,
            trace_ev_type_name(ev->type));
    switch (ev->type) {
    case TRACE_EV_CONN_OPEN:
        fprintf(out, " %s > %s%s%s", trace_addr_format(&ev->u.open.client, a, sizeof a),
                trace_addr_format(&ev->u.open.server, b, sizeof b),
                ev->u.open.flags & TRACE_OPEN_MIDSTREAM ? " [midstream]" : "",
                ev->u.open.flags & TRACE_OPEN_TLS ? " [tls]" : "");
        break;
    case TRACE_EV_CONN_CLOSE: fprintf(out, " %s", close_reason_name(ev->u.close.reason)); break;
    case TRACE_EV_REQUEST: {
        const struct trace_request *q = &ev->u.req;
        fprintf(out, " #%" PRIu64 " db=%u resp%u", q->seq, q->db, q->proto);
        print_req_flags(out, q->flags);
        if (q->flags & TRACE_REQ_MALFORMED) {
            /* the bytes as the client sent them; the server rejected them as a command */
            fputs(" MALFORMED ", out);
            rt_quote(out, q->argv[0], q->argvlen[0], 512);
            break;
        }
        for (uint32_t i = 0; i < q->argc; i++) {
            fputc(' ', out);
            rt_quote(out, q->argv[i], q->argvlen[i], 128);
        }
        break;
    }
    case TRACE_EV_REPLY:
        if (ev->u.reply.req_seq != TRACE_SEQ_NONE)
            fprintf(out, " #%" PRIu64, ev->u.reply.req_seq);
        else
            fprintf(out, " (unpaired)");
        text_reply(out, &ev->u.reply);
        break;
    case TRACE_EV_PUSH: text_reply(out, &ev->u.reply); break;
    case TRACE_EV_GAP:
        fprintf(out, " %s %" PRIu64 " bytes missing",
                ev->u.gap.dir == TRACE_DIR_TO_SERVER ? "to-server" : "to-client", ev->u.gap.bytes);
        break;
    case TRACE_EV_STATS:
        fprintf(out,
                " packets=%" PRIu64 " bytes=%" PRIu64 " kernel_drops=%" PRIu64
                " iface_drops=%" PRIu64 " flows_dropped=%" PRIu64 " bytes_dropped=%" PRIu64,
                ev->u.stats.packets, ev->u.stats.bytes, ev->u.stats.kernel_drops,
                ev->u.stats.iface_drops, ev->u.stats.flows_dropped, ev->u.stats.bytes_dropped);
        break;
    case TRACE_EV_NOTE:
        fprintf(out, " %s code=%u ",
                ev->u.note.dir == TRACE_DIR_TO_SERVER ? "to-server" : "to-client", ev->u.note.code);
        rt_quote(out, ev->u.note.text, ev->u.note.len, 400);
        break;
    default: fprintf(out, " (type %u)", ev->type); break;
    }
    fputc('\n', out);
}

/* ---- RESP ---- */

static void print_resp(FILE *out, const struct trace_request *q)
{
    resp_request_fput(out, q->argc, q->argv, q->argvlen);
}

/* ---- JSON lines ---- */

static json_t *req_flags_json(uint32_t f)
{
    json_t *a = json_array();
    for (size_t i = 0; i < N_REQ_FLAGS; i++)
        if (f & req_flag_names[i].bit)
            json_array_append_new(a, json_string(req_flag_names[i].name));
    return a;
}

static json_t *reply_json(const struct trace_event *ev, uint64_t req_ts, int with_req_ts)
{
    const struct trace_reply *p = &ev->u.reply;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(trace_reply_type_name(p->rtype)));
    if (p->flags & TRACE_REPLY_REDACTED) {
        /* the reply may hold a secret: only its type was kept */
        json_object_set_new(o, "redacted", json_true());
        json_object_set_new(o, "ts", rt_json_u64(ev->ts));
        if (with_req_ts)
            json_object_set_new(o, "latency_ns", json_integer((json_int_t)(ev->ts - req_ts)));
        if (p->flags & TRACE_REPLY_AFTER_GAP)
            json_object_set_new(o, "after_gap", json_true());
        return o;
    }
    json_object_set_new(o, "len", rt_json_u64(p->len));
    json_object_set_new(o, "ts", rt_json_u64(ev->ts));
    if (with_req_ts)
        json_object_set_new(o, "latency_ns", json_integer((json_int_t)(ev->ts - req_ts)));
    if (p->count || p->rtype == TRACE_R_ARRAY || p->rtype == TRACE_R_MAP ||
        p->rtype == TRACE_R_SET || p->rtype == TRACE_R_PUSH || p->rtype == TRACE_R_ATTRIBUTE)
        json_object_set_new(o, "count", rt_json_u64(p->count));
    if (p->size || p->rtype == TRACE_R_BULK || p->rtype == TRACE_R_SIMPLE)
        json_object_set_new(o, "size", rt_json_u64(p->size));
    if (p->rtype == TRACE_R_INTEGER)
        json_object_set_new(o, "int", json_integer(p->ival));
    if (p->rtype == TRACE_R_BOOLEAN)
        json_object_set_new(o, "bool", json_boolean(p->ival));
    if (p->flags & TRACE_REPLY_NULL_BULK)
        json_object_set_new(o, "resp2_null", json_string("bulk"));
    if (p->flags & TRACE_REPLY_NULL_ARRAY)
        json_object_set_new(o, "resp2_null", json_string("array"));
    if (p->errlen)
        json_object_set_new(o, "err", rt_json_bytes(p->err, p->errlen));
    if (p->flags & TRACE_REPLY_HAS_HASH)
        json_object_set_new(o, "hash", json_sprintf("%016" PRIx64, p->hash));
    if (p->flags & TRACE_REPLY_HAS_PAYLOAD)
        json_object_set_new(o, "payload", rt_json_bytes(p->payload, p->payload_len));
    if (p->flags & TRACE_REPLY_AFTER_GAP)
        json_object_set_new(o, "after_gap", json_true());
    if (p->flags & TRACE_REPLY_ATTRIBUTED)
        json_object_set_new(o, "attributed", json_true());
    return o;
}

static json_t *event_json(const struct trace_event *ev)
{
    char a[80];
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(trace_ev_type_name(ev->type)));
    json_object_set_new(o, "ts", rt_json_u64(ev->ts));
    json_object_set_new(o, "conn", rt_json_u64(ev->conn));
    switch (ev->type) {
    case TRACE_EV_CONN_OPEN:
        json_object_set_new(o, "client", json_string(trace_addr_format(&ev->u.open.client, a, 80)));
        json_object_set_new(o, "server", json_string(trace_addr_format(&ev->u.open.server, a, 80)));
        json_object_set_new(o, "midstream", json_boolean(ev->u.open.flags & TRACE_OPEN_MIDSTREAM));
        json_object_set_new(o, "tls", json_boolean(ev->u.open.flags & TRACE_OPEN_TLS));
        break;
    case TRACE_EV_CONN_CLOSE:
        json_object_set_new(o, "reason", json_string(close_reason_name(ev->u.close.reason)));
        break;
    case TRACE_EV_REQUEST: {
        const struct trace_request *q = &ev->u.req;
        json_t *argv = json_array();
        for (uint32_t i = 0; i < q->argc; i++)
            json_array_append_new(argv, rt_json_bytes(q->argv[i], q->argvlen[i]));
        char name[64];
        size_t n = q->argvlen[0] < sizeof name - 1 ? q->argvlen[0] : sizeof name - 1;
        for (size_t i = 0; i < n; i++) {
            char c = q->argv[0][i];
            name[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
        }
        int bad = (q->flags & TRACE_REQ_MALFORMED) != 0;
        json_object_set_new(o, "seq", rt_json_u64(q->seq));
        json_object_set_new(o, "db", json_integer(q->db));
        json_object_set_new(o, "proto", json_integer(q->proto));
        /* a malformed request has no command name: argv[0] is the bytes as sent */
        json_object_set_new(o, "cmd", bad ? json_null() : rt_json_bytes(name, n));
        if (bad)
            json_object_set_new(o, "malformed", json_true());
        json_object_set_new(o, "argv", argv);
        json_object_set_new(o, "flags", req_flags_json(q->flags));
        json_object_set_new(o, "reply", json_null());
        break;
    }
    case TRACE_EV_REPLY:
    case TRACE_EV_PUSH:
        if (ev->type == TRACE_EV_REPLY)
            json_object_set_new(o, "seq",
                                ev->u.reply.req_seq == TRACE_SEQ_NONE
                                    ? json_null()
                                    : rt_json_u64(ev->u.reply.req_seq));
        json_object_set_new(o, "reply", reply_json(ev, 0, 0));
        break;
    case TRACE_EV_GAP:
        json_object_set_new(o, "dir", json_string(ev->u.gap.dir ? "to_client" : "to_server"));
        json_object_set_new(o, "bytes", rt_json_u64(ev->u.gap.bytes));
        break;
    case TRACE_EV_STATS:
        json_object_set_new(o, "packets", rt_json_u64(ev->u.stats.packets));
        json_object_set_new(o, "bytes", rt_json_u64(ev->u.stats.bytes));
        json_object_set_new(o, "kernel_drops", rt_json_u64(ev->u.stats.kernel_drops));
        json_object_set_new(o, "iface_drops", rt_json_u64(ev->u.stats.iface_drops));
        json_object_set_new(o, "flows_dropped", rt_json_u64(ev->u.stats.flows_dropped));
        json_object_set_new(o, "bytes_dropped", rt_json_u64(ev->u.stats.bytes_dropped));
        break;
    case TRACE_EV_NOTE:
        json_object_set_new(o, "dir", json_string(ev->u.note.dir ? "to_client" : "to_server"));
        json_object_set_new(o, "code", json_integer(ev->u.note.code));
        json_object_set_new(o, "text", rt_json_bytes(ev->u.note.text, ev->u.note.len));
        break;
    default: json_object_set_new(o, "type", json_integer(ev->type)); break;
    }
    return o;
}

/* Lines wait in file order until the requests among them have their replies, so that each
 * request line can carry its reply. The window bounds the lines held, max_bytes their bytes:
 * a few requests of huge arguments would otherwise hold gigabytes. */
struct line {
    json_t *obj;
    uint64_t seq, conn, ts;
    size_t bytes; /* json_cost() of obj */
    int waiting;
};

struct pairing {
    struct line *v; /* ring */
    size_t head, len, cap, window;
    size_t bytes, max_bytes; /* held, and the bound */
    uint64_t forced, forced_bytes; /* printed before their reply: by the count, by the bytes */
    FILE *out;
};

/* What a JSON value holds in memory: its strings' bytes and a little for every value. */
static size_t json_cost(json_t *v)
{
    size_t n = 64;
    const char *k;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_STRING: n += json_string_length(v); break;
    case JSON_OBJECT:
        json_object_foreach(v, k, x) n += strlen(k) + json_cost(x);
        break;
    case JSON_ARRAY:
        json_array_foreach(v, i, x) n += json_cost(x);
        break;
    default: break;
    }
    return n;
}

static struct line *ring_at(struct pairing *p, size_t i)
{
    return &p->v[(p->head + i) % p->cap];
}

static int pairing_push(struct pairing *p, json_t *obj, uint64_t seq, uint64_t conn, uint64_t ts,
                        int waiting)
{
    size_t bytes = json_cost(obj);
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        struct line *v = malloc(cap * sizeof *v);
        if (!v)
            return -1;
        for (size_t i = 0; i < p->len; i++)
            v[i] = *ring_at(p, i);
        free(p->v);
        p->v = v;
        p->cap = cap;
        p->head = 0;
    }
    *ring_at(p, p->len++) = (struct line){obj, seq, conn, ts, bytes, waiting};
    p->bytes += bytes;
    return 0;
}

static void pairing_drain(struct pairing *p, int all)
{
    while (p->len && (all || !p->v[p->head].waiting || p->len > p->window ||
                      p->bytes > p->max_bytes)) {
        struct line *l = &p->v[p->head];
        if (l->waiting && !all) {
            if (p->len > p->window)
                p->forced++;
            else
                p->forced_bytes++;
        }
        p->bytes -= l->bytes;
        rt_print_json(p->out, l->obj);
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
}

/* Finds the waiting request with `seq` (requests sit in seq order among other lines). */
static struct line *pairing_find(struct pairing *p, uint64_t seq)
{
    size_t lo = 0, hi = p->len;
    /* binary search over positions, skipping lines that are not requests */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, m = mid;
        while (m < hi && ring_at(p, m)->seq == UINT64_MAX)
            m++;
        if (m == hi) {
            hi = mid;
            continue;
        }
        uint64_t s = ring_at(p, m)->seq;
        if (s == seq)
            return ring_at(p, m);
        if (s < seq)
            lo = m + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int jsonl_event(struct pairing *p, const struct trace_event *ev)
{
    if (ev->type == TRACE_EV_REPLY && ev->u.reply.req_seq != TRACE_SEQ_NONE) {
        struct line *l = pairing_find(p, ev->u.reply.req_seq);
        if (l && l->waiting) {
            json_t *reply = reply_json(ev, l->ts, 1);
            size_t bytes = json_cost(reply);
            json_object_set_new(l->obj, "reply", reply);
            l->bytes += bytes;
            p->bytes += bytes;
            l->waiting = 0;
            pairing_drain(p, 0);
            return 0;
        }
    }
    if (ev->type == TRACE_EV_CONN_CLOSE) {
        /* requests still waiting on a closed connection will get no reply */
        for (size_t i = 0; i < p->len; i++) {
            struct line *l = ring_at(p, i);
            if (l->waiting && l->conn == ev->conn)
                l->waiting = 0;
        }
    }
    json_t *o = event_json(ev);
    if (!o)
        return -1;
    int waiting = ev->type == TRACE_EV_REQUEST && !(ev->u.req.flags & TRACE_REQ_NOREPLY);
    uint64_t seq = ev->type == TRACE_EV_REQUEST ? ev->u.req.seq : UINT64_MAX;
    if (pairing_push(p, o, seq, ev->conn, ev->ts, waiting)) {
        json_decref(o);
        return -1;
    }
    pairing_drain(p, 0);
    return 0;
}

/* ---- the command ---- */

/* A byte count: digits, then k, M or G (powers of 1024). @return 0 or -1. */
static int parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    uint64_t v = strtoull(s, &end, 10);
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    case 0: break;
    default: return -1;
    }
    if (shift && end[1])
        return -1;
    if (v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

int cmd_cat(int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"from", required_argument, NULL, 'F'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"pair-window", required_argument, NULL, 'w'},
                                         {"pair-bytes", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    enum fmt fmt = FMT_TEXT;
    const char *from = NULL;
    uint64_t limit = UINT64_MAX;
    size_t window = 100000, max_bytes = (size_t)64 << 20;
    int salvage = 0, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":f:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!strcmp(optarg, "text"))
                fmt = FMT_TEXT;
            else if (!strcmp(optarg, "jsonl") || !strcmp(optarg, "json"))
                fmt = FMT_JSONL;
            else if (!strcmp(optarg, "resp"))
                fmt = FMT_RESP;
            else
                return rt_usage_error("cat", "unknown format '%s' (text, jsonl, resp)", optarg);
            break;
        case 'F': from = optarg; break;
        case 'n':
            limit = strtoull(optarg, &end, 10);
            if (*end || !*optarg || *optarg == '-')
                return rt_usage_error("cat", "--limit takes a number, not '%s'", optarg);
            break;
        case 'w':
            window = strtoull(optarg, &end, 10);
            if (*end || window == 0 || *optarg == '-')
                return rt_usage_error("cat", "--pair-window takes a positive number, not '%s'",
                                      optarg);
            break;
        case 'b': {
            uint64_t v;
            if (parse_bytes(optarg, &v) != 0 || v == 0 || v > SIZE_MAX)
                return rt_usage_error("cat", "--pair-bytes takes a size (64M), not '%s'", optarg);
            max_bytes = (size_t)v;
            break;
        }
        case 's': salvage = 1; break;
        case 'h': usage_cat(stdout); return RT_EXIT_OK;
        case ':': return rt_usage_error("cat", "%s needs a value", argv[optind - 1]);
        default: return rt_usage_error("cat", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return rt_usage_error("cat", "which trace? (\"-\" reads stdin)");
    if (optind != argc - 1)
        return rt_usage_error("cat", "one trace at a time (got '%s' after '%s')", argv[optind + 1],
                              argv[optind]);
    const char *path = argv[optind];
    struct trace_reader *r = rt_open_trace("cat", path, salvage);
    if (!r)
        return RT_EXIT_FAIL;

    struct rt_err err = {0};
    struct trace_event ev;
    int rc = 0;
    if (from) {
        struct trace_totals t;
        trace_reader_totals(r, &t);
        uint64_t base = t.ts_min, at;
        if (!trace_reader_has_index(r) && (rc = trace_reader_next(r, &ev, &err)) == 1)
            base = ev.ts; /* no index: the first event gives the start */
        if (rt_parse_time(from, base, &at) != 0) {
            trace_reader_close(r);
            return rt_usage_error("cat", "--from: cannot read '%s' as a time", from);
        }
        if (trace_reader_seek_time(r, at, &err) != 0) {
            fprintf(stderr, "resptrace cat: %s\n", err.msg);
            trace_reader_close(r);
            return RT_EXIT_FAIL;
        }
    }

    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    struct pairing pair = {.window = window, .max_bytes = max_bytes, .out = stdout};
    uint64_t n = 0, malformed = 0;
    while (n < limit && (rc = trace_reader_next(r, &ev, &err)) == 1) {
        switch (fmt) {
        case FMT_TEXT:
            print_text(stdout, &ev);
            n++;
            break;
        case FMT_RESP:
            if (ev.type == TRACE_EV_REQUEST && (ev.u.req.flags & TRACE_REQ_MALFORMED)) {
                malformed++; /* a server would close the pipe at its bytes */
            } else if (ev.type == TRACE_EV_REQUEST) {
                print_resp(stdout, &ev.u.req);
                n++;
            }
            break;
        case FMT_JSONL:
            if (jsonl_event(&pair, &ev) != 0) {
                snprintf(err.msg, sizeof err.msg, "out of memory");
                rc = RT_ENOMEM;
                goto out;
            }
            n++;
            break;
        }
    }
out:
    pairing_drain(&pair, 1);
    free(pair.v);
    fflush(stdout);
    struct trace_damage dmg;
    trace_reader_damage(r, &dmg);
    int status = RT_EXIT_OK;
    if (rc < 0) {
        fprintf(stderr, "resptrace cat: %s\n", err.msg);
        status = RT_EXIT_FAIL;
    } else if (dmg.first_offset != UINT64_MAX && dmg.chunks_unknown) {
        /* a newer resptrace wrote them: what was printed is not the whole trace */
        fprintf(stderr,
                "resptrace cat: %s (%llu chunks skipped, %llu of them of an encoding this "
                "version does not read, the first at offset %llu)\n",
                dmg.msg, (unsigned long long)dmg.chunks_skipped,
                (unsigned long long)dmg.chunks_unknown, (unsigned long long)dmg.unknown_offset);
        status = RT_EXIT_FAIL;
    } else if (dmg.first_offset != UINT64_MAX) {
        fprintf(stderr, "resptrace cat: %s (salvaged: %llu damaged chunks skipped)\n", dmg.msg,
                (unsigned long long)dmg.chunks_skipped);
        status = RT_EXIT_FAIL;
    }
    if (malformed)
        fprintf(stderr,
                "resptrace cat: %llu malformed requests left out (the server rejected their "
                "bytes as commands; see them with --format text)\n",
                (unsigned long long)malformed);
    if (pair.forced)
        fprintf(stderr,
                "resptrace cat: %llu requests printed before their reply came (more than "
                "--pair-window %zu waiting)\n",
                (unsigned long long)pair.forced, window);
    if (pair.forced_bytes)
        fprintf(stderr,
                "resptrace cat: %llu requests printed before their reply came (the lines "
                "waiting held more than --pair-bytes %zu bytes)\n",
                (unsigned long long)pair.forced_bytes, max_bytes);
    trace_reader_close(r);
    return status;
}
