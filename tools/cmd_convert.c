/* cmd_convert.c: `resptrace convert`: redis-cli MONITOR output and Twitter cache-trace CSV to
 * traces, and traces to RESP (for `redis-cli --pipe`) or to Twitter cache-trace CSV. */
#include "tools.h"
#include "trace_edit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void usage_convert(FILE *out)
{
    fputs(
        "usage: resptrace convert --from monitor|twitter FILE -o OUT.rtrace [options]\n"
        "       resptrace convert --to resp|twitter TRACE [-o FILE] [options]\n"
        "\n"
        "Converts other workload formats to traces and traces to other formats (\"-\" for\n"
        "FILE or TRACE reads stdin).\n"
        "\n"
        "--from monitor: the output of `redis-cli MONITOR`, lines like\n"
        "  1700000000.123456 [0 127.0.0.1:5555] \"SET\" \"k\" \"v\"\n"
        "  (also [0 [::1]:5555], [0 unix:/path] and [0 lua]). Each client address\n"
        "  becomes one connection, opened (with that address) at its first line and\n"
        "  closed at the end. The arguments are unquoted as redis' sdscatrepr() quoted\n"
        "  them (\\\\ \\\" \\n \\r \\t \\a \\b \\xHH); the db is the line's; a SELECT line shows\n"
        "  the db it selects, so the request keeps the db before it (as the recorder\n"
        "  does). Lines from scripts ([N lua]) are skipped and counted, since their\n"
        "  EVAL/FCALL is in the trace and runs them again (--lua keeps them, as\n"
        "  connection \"lua\"). Lines that do not start like a MONITOR line (\"OK\", blank)\n"
        "  are skipped and counted; a line that starts like one but cannot be read is\n"
        "  an error naming FILE:LINE (--skip-bad: counted, the first 10 shown).\n"
        "  Timestamps that go backwards are raised to the previous one (counted).\n"
        "  MONITOR does not show AUTH, admin commands or replies.\n"
        "--from twitter: the Twitter cache-trace CSV (github.com/twitter/cache-trace):\n"
        "  timestamp,key,key size,value size,client id,operation,TTL (seconds; a key\n"
        "  may contain commas: the fields are taken from both ends). Operations become:\n"
        "    get, gets -> GET (with a bulk reply event of `value size` bytes when > 0,\n"
        "                 the size the cache answered with; none when 0)\n"
        "    set, cas  -> SET k v [EX ttl]      add -> SET k v NX [EX ttl]\n"
        "    replace   -> SET k v XX [EX ttl]   append -> APPEND k v\n"
        "    prepend   -> EVAL of a script that prepends v when k exists (redis has\n"
        "                 no PREPEND; memcached's prepend stores nothing for a\n"
        "                 missing key)\n"
        "    delete    -> DEL k    incr -> INCR k    decr -> DECR k\n"
        "  v is `value size` bytes of 'x'; EX only when TTL > 0. The key is resized to\n"
        "  `key size` when its length differs (padded with '_' or truncated:\n"
        "  truncation may merge keys), unless --keep-keys. Client id N becomes\n"
        "  connection N+1. Requests of one second are spread evenly over that second\n"
        "  (rows of an integral timestamp), in file order. Timestamp T is at --start\n"
        "  TIME (default 2020-01-01T00:00:00Z) plus T seconds. A first line that\n"
        "  starts with a letter is taken as a header. Other operations are skipped and\n"
        "  counted.\n"
        "--to resp: the requests as RESP arrays for `redis-cli --pipe`, in trace\n"
        "  order, with a SELECT written before a request whose db differs from the one\n"
        "  the stream is in. All connections share the one pipe: blocking commands\n"
        "  block it, and MULTI/EXEC of connections that overlap in time interleave.\n"
        "  Malformed requests (raw bytes a server refused) are skipped and counted.\n"
        "--to twitter: the requests as cache-trace rows: GET -> get (value size: the\n"
        "  size of the paired bulk reply, else 0), MGET -> a get per key (value size\n"
        "  0), SET -> set, or add with NX, replace with XX (TTL from EX, PX rounded\n"
        "  up, EXAT/PXAT), SETEX, PSETEX, SETNX, APPEND -> append, convert's prepend\n"
        "  script -> prepend, DEL and UNLINK -> a delete per key, INCR/INCRBY -> incr,\n"
        "  DECR/DECRBY -> decr (value size 0); other requests are skipped and counted.\n"
        "  Timestamps are whole seconds since the --from twitter start (or since the\n"
        "  trace's first second). Client id: connection minus 1 for traces made by\n"
        "  --from twitter, else the connection id.\n"
        "\n"
        "  -o, --output FILE  the trace to write (--from; required) or the output\n"
        "                     (--to; stdout by default), written under a temporary\n"
        "                     name and renamed when complete; it may not be the input\n"
        "                     (nor a link to it)\n"
        "  --server ADDR      --from monitor: the server address of the connections\n"
        "                     (host:port; unknown by default)\n"
        "  --lua              --from monitor: keep the lines run by scripts\n"
        "  --skip-bad         skip lines that cannot be read instead of failing\n"
        "  --keep-keys        --from twitter: keep keys as they are\n"
        "  --start TIME       --from twitter: ISO 8601 UTC time of timestamp 0\n"
        "  --encoding N       --from: chunk encoding of the trace: 3 (format 1.3, the\n"
        "                     default), 2 for resptrace 1.2 readers, 1 for 1.0 and\n"
        "                     1.1 readers\n"
        "  --json[=FILE]      the summary as one JSON document on stdout (the text then\n"
        "                     goes to stderr), or into FILE (FILE is needed when the\n"
        "                     converted data goes to stdout)\n"
        "  -q, --quiet        no summary text and no status line\n"
        "  --salvage          --to: skip damaged chunks\n"
        "\n"
        "The summary goes to stdout, or to stderr when the converted data or the JSON\n"
        "does. It counts the lines read, requests written, connections, and lines\n"
        "skipped (by reason); nothing converted is said on stderr. Ctrl-C stops the\n"
        "reading; the output is closed, complete up to there.\n"
        "Exit status: 0; 1 when the input cannot be read or holds a bad line (without\n"
        "--skip-bad: no output is written; an existing OUT is left as it was), or the\n"
        "output cannot be written; 2 for a bad command line; 130 interrupted.\n",
        out);
}

#define MAX_BAD_SHOWN 10
#define ROW_GROUP_CAP (1u << 20)                /* rows of one second held to spread them */
#define DEFAULT_START_NS 1577836800000000000ull /* 2020-01-01T00:00:00Z */

static const char PREPEND_SCRIPT[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "return redis.call('SET', KEYS[1], ARGV[1] .. redis.call('GET', KEYS[1])) end "
    "return false";

struct conv {
    const char *in_path, *out_path, *json; /* json: NULL, "-" (stdout) or a file */
    FILE *in, *sum;                        /* sum: the text summary's stream */
    uint64_t in_size;                      /* bytes of the input file (0: not a file) */
    int quiet, skip_bad, keep_lua, keep_keys, salvage, interrupted;
    int encoding; /* --from: of the trace written (0: the newest) */
    struct rt_out o;
    struct rt_progress pg;
    struct trace_addr server;
    uint64_t start_ns;
    struct trace_writer *w;
    struct rt_err err;
    char *line;
    size_t line_cap;
    uint64_t lineno;
    /* counts */
    uint64_t lines, requests, replies, conns, skipped_other, skipped_lua, bad, backwards,
        unsupported, resized, header;
    uint64_t last_ts;
};

/* ---- small helpers ---- */

static int read_line(struct conv *c, size_t *len)
{
    if (rt_interrupted)
        return 0;
    ssize_t n = getline(&c->line, &c->line_cap, c->in);
    if (n < 0)
        return 0;
    c->lineno++;
    c->lines++;
    if ((c->lines & 4095) == 0 && rt_progress_due(&c->pg)) {
        off_t off = ftello(c->in);
        edit_progress(&c->pg, "convert", off > 0 ? (uint64_t)off : 0, c->in_size, c->lines, "lines",
                      NULL);
    }
    if (n && c->line[n - 1] == '\n')
        n--;
    if (n && c->line[n - 1] == '\r')
        n--;
    c->line[n] = 0;
    *len = (size_t)n;
    return 1;
}

static void bad_line(struct conv *c, const char *what)
{
    c->bad++;
    if (c->bad <= MAX_BAD_SHOWN || !c->skip_bad)
        fprintf(stderr, "resptrace convert: %s:%" PRIu64 ": %s\n", c->in_path, c->lineno, what);
    if (c->skip_bad && c->bad == MAX_BAD_SHOWN + 1)
        fprintf(stderr, "resptrace convert: more bad lines are counted, not shown\n");
}

/* An address "1.2.3.4:5" or "[::1]:5" into *a; 0 or -1. */
static int parse_addr(const char *s, size_t n, struct trace_addr *a)
{
    char host[64];
    const char *colon = NULL;
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    if (!colon)
        return -1;
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        h = s + 1;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (end != s + n || end == colon + 1 || port > 65535 || errno)
        return -1;
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, host, a->addr) == 1)
        a->family = 4;
    else if (inet_pton(AF_INET6, host, a->addr) == 1)
        a->family = 6;
    else
        return -1;
    a->port = (uint16_t)port;
    return 0;
}

/* Seconds "123" or "123.456" into ns; *frac set when a fraction was given. 0 or -1. */
static int parse_seconds(const char *s, size_t n, uint64_t *ns, int *frac)
{
    uint64_t sec = 0, sub = 0;
    size_t i = 0, digits = 0;
    for (; i < n && isdigit((unsigned char)s[i]); i++, digits++) {
        if (sec > (UINT64_MAX / 1000000000ull - 10) / 10)
            return -1;
        sec = sec * 10 + (uint64_t)(s[i] - '0');
    }
    if (!digits)
        return -1;
    *frac = 0;
    if (i < n && s[i] == '.') {
        uint64_t scale = 100000000ull;
        i++;
        size_t fd = 0;
        for (; i < n && isdigit((unsigned char)s[i]); i++, fd++) {
            sub += (uint64_t)(s[i] - '0') * scale;
            scale /= 10;
        }
        if (!fd)
            return -1;
        *frac = sub != 0;
    }
    if (i != n)
        return -1;
    *ns = sec * 1000000000ull + sub;
    return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;
    if (!n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        if (x > (max - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return 0;
}

/* ---- a string -> connection map for MONITOR client addresses ---- */

struct cslot {
    char *name; /* NULL: empty */
    size_t len;
    uint64_t id;
    uint32_t db;
    uint8_t proto;
};

struct cmap {
    struct cslot *v;
    size_t cap, n;
};

static struct cslot *cmap_find(struct cmap *m, const char *s, size_t n, int *fresh)
{
    if (m->n * 2 >= m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        struct cslot *v = calloc(cap, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i].name) {
                size_t j = rt_hash_seeded(0, m->v[i].name, m->v[i].len) & (cap - 1);
                while (v[j].name)
                    j = (j + 1) & (cap - 1);
                v[j] = m->v[i];
            }
        free(m->v);
        m->v = v;
        m->cap = cap;
    }
    size_t j = rt_hash_seeded(0, s, n) & (m->cap - 1);
    while (m->v[j].name) {
        if (m->v[j].len == n && !memcmp(m->v[j].name, s, n)) {
            *fresh = 0;
            return &m->v[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    char *name = malloc(n + 1);
    if (!name)
        return NULL;
    memcpy(name, s, n);
    name[n] = 0;
    m->v[j] = (struct cslot){name, n, 0, 0, 2};
    m->n++;
    *fresh = 1;
    return &m->v[j];
}

static void cmap_free(struct cmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->v[i].name);
    free(m->v);
}

/* ---- writing events ---- */

static int add_event(struct conv *c, struct trace_event *ev)
{
    if (trace_writer_add(c->w, ev, &c->err) != 0) {
        fprintf(stderr, "resptrace convert: %s\n", c->err.msg);
        return -1;
    }
    return 0;
}

static int add_open(struct conv *c, uint64_t ts, uint64_t conn, const struct trace_addr *client)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = ts, .conn = conn};
    if (client)
        ev.u.open.client = *client;
    ev.u.open.server = c->server;
    ev.u.open.flags = TRACE_OPEN_MIDSTREAM; /* neither format shows the connection's start */
    c->conns++;
    return add_event(c, &ev);
}

static int add_close(struct conv *c, uint64_t ts, uint64_t conn)
{
    struct trace_event ev = {.type = TRACE_EV_CONN_CLOSE, .ts = ts, .conn = conn};
    ev.u.close.reason = TRACE_CLOSE_END;
    return add_event(c, &ev);
}

/* Raises ts to the last one written (the formats are in time order; a clock step is not). */
static uint64_t monotone(struct conv *c, uint64_t ts)
{
    if (ts < c->last_ts) {
        c->backwards++;
        return c->last_ts;
    }
    c->last_ts = ts;
    return ts;
}

/* ---- --from monitor ---- */

/* Unquotes the arguments of a MONITOR line (s..end) into out; argv/argvlen point into out.
 * @return argc, or -1 with *what set. */
static long monitor_args(const char *s, const char *end, char *out, const char ***argv,
                         size_t **argvlen, size_t *acap, const char **what)
{
    size_t argc = 0;
    char *o = out;
    while (s < end) {
        if (argc) {
            if (*s != ' ') {
                *what = "arguments are not separated by one space";
                return -1;
            }
            s++;
        }
        if (s >= end || *s != '"') {
            *what = "an argument does not start with '\"'";
            return -1;
        }
        s++;
        char *start = o;
        for (;;) {
            if (s >= end) {
                *what = "an argument has no closing '\"'";
                return -1;
            }
            char ch = *s++;
            if (ch == '"')
                break;
            if (ch != '\\') {
                *o++ = ch;
                continue;
            }
            if (s >= end) {
                *what = "a line ends inside an escape";
                return -1;
            }
            ch = *s++;
            switch (ch) {
            case '\\': *o++ = '\\'; break;
            case '"': *o++ = '"'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'a': *o++ = '\a'; break;
            case 'b': *o++ = '\b'; break;
            case 'x': {
                int hi = s + 1 < end ? rt_hexval((unsigned char)s[0]) : -1;
                int lo = hi >= 0 ? rt_hexval((unsigned char)s[1]) : -1;
                if (lo < 0) {
                    *what = "\\x is not followed by two hex digits";
                    return -1;
                }
                *o++ = (char)(hi << 4 | lo);
                s += 2;
                break;
            }
            default:
                *what = "an unknown escape (sdscatrepr writes \\\\ \\\" \\n \\r \\t \\a \\b \\xHH)";
                return -1;
            }
        }
        if (argc == *acap) {
            size_t cap = *acap ? *acap * 2 : 16;
            const char **a = realloc(*argv, cap * sizeof *a);
            if (!a) {
                *what = "out of memory";
                return -1;
            }
            *argv = a;
            size_t *l = realloc(*argvlen, cap * sizeof *l);
            if (!l) {
                *what = "out of memory";
                return -1;
            }
            *argvlen = l;
            *acap = cap;
        }
        (*argv)[argc] = start;
        (*argvlen)[argc] = (size_t)(o - start);
        argc++;
    }
    if (!argc) {
        *what = "no command after the client";
        return -1;
    }
    return (long)argc;
}

static int ieq(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && !strncasecmp(a, b, n);
}

static int from_monitor(struct conv *c)
{
    struct cmap map = {0};
    const char **argv = NULL;
    size_t *argvlen = NULL, acap = 0, len;
    char *args = NULL;
    size_t args_cap = 0;
    uint64_t next_conn = 1;
    int rc = -1;
    while (read_line(c, &len)) {
        const char *s = c->line, *end = s + len;
        /* a MONITOR line starts "<digits>.<digits> [" */
        const char *p = s;
        while (p < end && isdigit((unsigned char)*p))
            p++;
        const char *dot = p;
        if (p == s || p >= end || *p != '.') {
            c->skipped_other++;
            continue;
        }
        p++;
        while (p < end && isdigit((unsigned char)*p))
            p++;
        if (p == dot + 1 || end - p < 2 || p[0] != ' ' || p[1] != '[') {
            c->skipped_other++;
            continue;
        }
        uint64_t ts;
        int frac;
        if (parse_seconds(s, (size_t)(p - s), &ts, &frac) != 0) {
            bad_line(c, "the timestamp is out of range");
            goto bad;
        }
        p += 2;
        const char *dbs = p;
        while (p < end && isdigit((unsigned char)*p))
            p++;
        uint64_t db;
        if (p == dbs || p >= end || *p != ' ' ||
            parse_u64(dbs, (size_t)(p - dbs), UINT32_MAX, &db)) {
            bad_line(c, "no db number after '['");
            goto bad;
        }
        p++;
        const char *addr = p, *close = NULL;
        for (const char *q = p; q + 2 < end; q++)
            if (q[0] == ']' && q[1] == ' ' && q[2] == '"') {
                close = q;
                break;
            }
        if (!close) {
            bad_line(c, "no \"] \\\"\" after the client");
            goto bad;
        }
        size_t alen = (size_t)(close - addr);
        int lua = ieq(addr, alen, "lua");
        if (lua && !c->keep_lua) {
            c->skipped_lua++;
            continue;
        }
        struct trace_addr ca = {0};
        int unix_sock = alen > 5 && !strncmp(addr, "unix:", 5);
        if (!lua && !unix_sock && parse_addr(addr, alen, &ca) != 0) {
            bad_line(c, "the client is not an address, unix:PATH or lua");
            goto bad;
        }
        if (args_cap < len + 1) {
            free(args);
            args_cap = len + 1;
            if (!(args = malloc(args_cap))) {
                fprintf(stderr, "resptrace convert: out of memory\n");
                goto done;
            }
        }
        const char *what = NULL;
        long argc = monitor_args(close + 2, end, args, &argv, &argvlen, &acap, &what);
        if (argc < 0) {
            bad_line(c, what);
            goto bad;
        }
        int fresh;
        struct cslot *cs = cmap_find(&map, addr, alen, &fresh);
        if (!cs) {
            fprintf(stderr, "resptrace convert: out of memory\n");
            goto done;
        }
        ts = monotone(c, ts);
        if (fresh) {
            cs->id = next_conn++;
            cs->db = (uint32_t)db;
            if (add_open(c, ts, cs->id, &ca) != 0)
                goto done;
        }
        /* SELECT shows the db it selects; the request keeps the db in force when sent */
        int is_select = ieq(argv[0], argvlen[0], "select");
        struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = ts, .conn = cs->id};
        ev.u.req.db = is_select ? (fresh ? 0 : cs->db) : (uint32_t)db;
        ev.u.req.proto = cs->proto;
        ev.u.req.argc = (uint32_t)argc;
        ev.u.req.argv = argv;
        ev.u.req.argvlen = argvlen;
        if (add_event(c, &ev) != 0)
            goto done;
        c->requests++;
        cs->db = (uint32_t)db;
        if (ieq(argv[0], argvlen[0], "hello") && argc >= 2 && argvlen[1] == 1 &&
            (argv[1][0] == '2' || argv[1][0] == '3'))
            cs->proto = (uint8_t)(argv[1][0] - '0');
        continue;
    bad:
        if (!c->skip_bad)
            goto done;
    }
    if (ferror(c->in) && !rt_interrupted) {
        fprintf(stderr, "resptrace convert: %s: %s\n", c->in_path, strerror(errno));
        goto done;
    }
    /* the connections were open when the capture ended */
    for (uint64_t id = 1; id < next_conn; id++)
        if (add_close(c, c->last_ts, id) != 0)
            goto done;
    rc = 0;
done:
    free(args);
    free(argv);
    free(argvlen);
    cmap_free(&map);
    return rc;
}

/* ---- --from twitter ---- */

enum tw_op {
    OP_GET,
    OP_GETS,
    OP_SET,
    OP_ADD,
    OP_REPLACE,
    OP_CAS,
    OP_APPEND,
    OP_PREPEND,
    OP_DELETE,
    OP_INCR,
    OP_DECR,
    OP_NONE
};
static const char *const tw_ops[] = {"get",    "gets",    "set",    "add",  "replace", "cas",
                                     "append", "prepend", "delete", "incr", "decr"};

struct tw_row {
    uint64_t ts;             /* ns since timestamp 0 */
    size_t key_off, key_len; /* in the arena */
    uint64_t vsize, client, ttl;
    int op;
};

struct tw_state {
    struct tw_row *rows; /* the rows of the current timestamp */
    size_t n, cap;
    char *arena; /* their keys */
    size_t alen, acap;
    uint64_t group_ts;   /* the rows' timestamp (ns after --start) */
    int group_spread;    /* the group's timestamp is a whole second: spread its rows */
    uint64_t group_done; /* rows of the group already written (after an overflow) */
    struct u64set *seen; /* connections opened */
    uint64_t *ids;       /* ... in order, to close them */
    size_t nids, ids_cap;
    char *val; /* 'x' bytes */
    size_t val_cap;
    char *key; /* the key of the row being parsed */
    size_t key_cap;
};

static int grow(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *q = realloc(*p, n);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int tw_open(struct conv *c, struct tw_state *t, uint64_t ts, uint64_t conn)
{
    if (u64set_has(t->seen, conn))
        return 0;
    if (t->nids == t->ids_cap) {
        size_t cap = t->ids_cap ? t->ids_cap * 2 : 64;
        uint64_t *v = realloc(t->ids, cap * sizeof *v);
        if (!v)
            return -1;
        t->ids = v;
        t->ids_cap = cap;
    }
    t->ids[t->nids++] = conn;
    if (u64set_add(t->seen, conn) != 0)
        return -1;
    return add_open(c, ts, conn, NULL);
}

static int tw_write_row(struct conv *c, struct tw_state *t, const struct tw_row *r, uint64_t ts)
{
    uint64_t conn = r->client + 1;
    ts = monotone(c, c->start_ns + ts);
    if (tw_open(c, t, ts, conn) != 0)
        return -1;
    const char *key = t->arena + r->key_off;
    size_t klen = r->key_len;
    if (grow(&t->val, &t->val_cap, (size_t)r->vsize + 1) != 0) {
        fprintf(stderr, "resptrace convert: out of memory\n");
        return -1;
    }
    memset(t->val, 'x', (size_t)r->vsize);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRIu64, r->ttl);
    const char *argv[8];
    size_t argvlen[8], argc = 0;
#define ARG(p, n) (argv[argc] = (p), argvlen[argc++] = (n))
#define ARGS(s) ARG(s, strlen(s))
    switch (r->op) {
    case OP_GET:
    case OP_GETS:
        ARGS("GET");
        ARG(key, klen);
        break;
    case OP_SET:
    case OP_CAS:
    case OP_ADD:
    case OP_REPLACE:
        ARGS("SET");
        ARG(key, klen);
        ARG(t->val, (size_t)r->vsize);
        if (r->op == OP_ADD)
            ARGS("NX");
        if (r->op == OP_REPLACE)
            ARGS("XX");
        if (r->ttl) {
            ARGS("EX");
            ARGS(ttl);
        }
        break;
    case OP_APPEND:
        ARGS("APPEND");
        ARG(key, klen);
        ARG(t->val, (size_t)r->vsize);
        break;
    case OP_PREPEND:
        ARGS("EVAL");
        ARG(PREPEND_SCRIPT, sizeof PREPEND_SCRIPT - 1);
        ARGS("1");
        ARG(key, klen);
        ARG(t->val, (size_t)r->vsize);
        break;
    case OP_DELETE:
        ARGS("DEL");
        ARG(key, klen);
        break;
    case OP_INCR:
        ARGS("INCR");
        ARG(key, klen);
        break;
    default:
        ARGS("DECR");
        ARG(key, klen);
        break;
    }
#undef ARG
#undef ARGS
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = ts, .conn = conn};
    ev.u.req.proto = 2;
    ev.u.req.argc = (uint32_t)argc;
    ev.u.req.argv = argv;
    ev.u.req.argvlen = argvlen;
    if (add_event(c, &ev) != 0)
        return -1;
    c->requests++;
    if ((r->op == OP_GET || r->op == OP_GETS) && r->vsize) {
        char hdr[32];
        int hl = snprintf(hdr, sizeof hdr, "$%" PRIu64 "\r\n", r->vsize);
        struct trace_event rep = {.type = TRACE_EV_REPLY, .ts = ts, .conn = conn};
        rep.u.reply.req_seq = ev.u.req.seq;
        rep.u.reply.rtype = TRACE_R_BULK;
        rep.u.reply.size = r->vsize;
        rep.u.reply.len = (uint64_t)hl + r->vsize + 2;
        if (add_event(c, &rep) != 0)
            return -1;
        c->replies++;
    }
    return 0;
}

/* Writes the rows held for the current timestamp, spread over its second when it is whole.
 * After an overflow (more than ROW_GROUP_CAP rows in one second) the rows are 1/CAP s apart. */
static int tw_flush(struct conv *c, struct tw_state *t, int overflow)
{
    uint64_t total = t->group_done + t->n;
    for (size_t i = 0; i < t->n; i++) {
        uint64_t k = t->group_done + i, off = 0;
        if (t->group_spread)
            off = (overflow || t->group_done) ? k * (1000000000ull / ROW_GROUP_CAP)
                                              : k * 1000000000ull / total;
        if (off > 999999999ull)
            off = 999999999ull;
        if (tw_write_row(c, t, &t->rows[i], t->group_ts + off) != 0)
            return -1;
    }
    t->group_done = overflow ? total : 0;
    t->n = 0;
    t->alen = 0;
    return 0;
}

/* Splits one CSV row into *r, its key (resized) into t->key. @return 1 a row, 0 a header
 * line (skipped), -1 bad (reported), -2 out of memory. */
static int tw_parse(struct conv *c, struct tw_state *t, char *s, size_t len, struct tw_row *r,
                    int *frac)
{
    const char *f[7];
    size_t fl[7];
    char *first = memchr(s, ',', len), *e = s + len;
    f[0] = s;
    fl[0] = first ? (size_t)(first - s) : len;
    if (first)
        for (int i = 6; i >= 2; i--) {
            char *q = e;
            while (q > first + 1 && q[-1] != ',')
                q--;
            if (q <= first + 1) { /* no comma left between the key and this field */
                first = NULL;
                break;
            }
            f[i] = q;
            fl[i] = (size_t)(e - q);
            e = q - 1;
        }
    if (parse_seconds(f[0], fl[0], &r->ts, frac) != 0) {
        if (c->lineno == 1 && fl[0] && isalpha((unsigned char)f[0][0])) {
            c->header++;
            return 0;
        }
        bad_line(c, first ? "the timestamp is not a number of seconds"
                          : "not 7 comma-separated fields");
        return -1;
    }
    if (!first) {
        bad_line(c, "not 7 comma-separated fields");
        return -1;
    }
    f[1] = first + 1;
    fl[1] = (size_t)(e - f[1]);
    uint64_t ks;
    const char *what = NULL;
    if (parse_u64(f[2], fl[2], UINT32_MAX, &ks))
        what = "the key size is not a number";
    else if (parse_u64(f[3], fl[3], (uint64_t)512 << 20, &r->vsize))
        what = "the value size is not a number up to 512 MiB";
    else if (parse_u64(f[4], fl[4], (1ull << 48) - 2, &r->client))
        what = "the client id is not a number below 2^48";
    else if (parse_u64(f[6], fl[6], UINT32_MAX, &r->ttl))
        what = "the TTL is not a number of seconds";
    if (what) {
        bad_line(c, what);
        return -1;
    }
    r->op = OP_NONE;
    for (int i = 0; i < OP_NONE; i++)
        if (ieq(f[5], fl[5], tw_ops[i]))
            r->op = i;
    size_t klen = fl[1], want = c->keep_keys || ks == 0 ? klen : (size_t)ks;
    if (grow(&t->key, &t->key_cap, want + 1) != 0)
        return -2;
    memcpy(t->key, f[1], klen < want ? klen : want);
    if (want > klen)
        memset(t->key + klen, '_', want - klen);
    if (want != klen)
        c->resized++;
    r->key_len = want;
    return 1;
}

static int tw_push(struct tw_state *t, const struct tw_row *r)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct tw_row *v = realloc(t->rows, cap * sizeof *v);
        if (!v)
            return -1;
        t->rows = v;
        t->cap = cap;
    }
    if (grow(&t->arena, &t->acap, t->alen + r->key_len + 1) != 0)
        return -1;
    t->rows[t->n] = *r;
    t->rows[t->n].key_off = t->alen;
    memcpy(t->arena + t->alen, t->key, r->key_len);
    t->alen += r->key_len;
    t->n++;
    return 0;
}

static int from_twitter(struct conv *c)
{
    struct tw_state t = {0};
    int rc = -1;
    size_t len;
    if (!(t.seen = u64set_new()))
        goto nomem;
    while (read_line(c, &len)) {
        if (!len) {
            c->skipped_other++;
            continue;
        }
        struct tw_row r;
        int frac = 0, k = tw_parse(c, &t, c->line, len, &r, &frac);
        if (k == -2)
            goto nomem;
        if (k < 0 && !c->skip_bad)
            goto done;
        if (k <= 0)
            continue;
        if (r.op == OP_NONE) {
            c->unsupported++;
            continue;
        }
        if (t.n + t.group_done == 0 || r.ts != t.group_ts) {
            if ((t.n || t.group_done) && tw_flush(c, &t, 0) != 0)
                goto done;
            t.group_done = 0;
            t.group_ts = r.ts;
            t.group_spread = !frac;
        }
        if (tw_push(&t, &r) != 0)
            goto nomem;
        if (t.n == ROW_GROUP_CAP && tw_flush(c, &t, 1) != 0)
            goto done;
    }
    if (ferror(c->in) && !rt_interrupted) {
        fprintf(stderr, "resptrace convert: %s: %s\n", c->in_path, strerror(errno));
        goto done;
    }
    if (t.n && tw_flush(c, &t, 0) != 0)
        goto done;
    for (size_t i = 0; i < t.nids; i++)
        if (add_close(c, c->last_ts, t.ids[i]) != 0)
            goto done;
    rc = 0;
    goto done;
nomem:
    fprintf(stderr, "resptrace convert: out of memory\n");
done:
    free(t.rows);
    free(t.arena);
    free(t.val);
    free(t.key);
    free(t.ids);
    u64set_free(t.seen);
    return rc;
}

/* ---- --to resp ---- */

static int write_resp(FILE *out, uint32_t argc, const char *const *argv, const size_t *argvlen)
{
    return resp_request_fput(out, argc, argv, argvlen);
}

struct to_counts {
    uint64_t requests, written, skipped, selects, rows, waited_out, malformed, events;
    struct rt_progress *pg;
};

/* Counts an event read for the status line. */
static void to_tick(struct to_counts *k, const struct trace_reader *r)
{
    if ((++k->events & 4095) == 0 && rt_progress_due(k->pg))
        rt_progress_trace(k->pg, "convert", r, k->events, NULL);
}

static int to_resp(struct trace_reader *r, FILE *out, struct to_counts *k, struct rt_err *err)
{
    struct trace_event ev;
    uint32_t cur = 0; /* the db of the pipe's one connection */
    int rc;
    while (!rt_interrupted && (rc = trace_reader_next(r, &ev, err)) == 1) {
        to_tick(k, r);
        if (ev.type != TRACE_EV_REQUEST)
            continue;
        const struct trace_request *q = &ev.u.req;
        k->requests++;
        if (q->flags & TRACE_REQ_MALFORMED) { /* bytes a server refused: not a command */
            k->malformed++;
            k->skipped++;
            continue;
        }
        if (!q->argc)
            continue;
        int is_select = ieq(q->argv[0], q->argvlen[0], "select");
        if (!is_select && q->db != cur) {
            char db[16];
            int n = snprintf(db, sizeof db, "%u", q->db);
            const char *av[2] = {"SELECT", db};
            size_t al[2] = {6, (size_t)n};
            if (write_resp(out, 2, av, al) != 0)
                return -2;
            k->selects++;
            cur = q->db;
        }
        if (is_select && q->argc == 2) {
            uint64_t v;
            if (parse_u64(q->argv[1], q->argvlen[1], UINT32_MAX, &v) == 0)
                cur = (uint32_t)v;
        }
        if (write_resp(out, q->argc, q->argv, q->argvlen) != 0)
            return -2;
        k->written++;
    }
    return rc;
}

/* ---- --to twitter ---- */

struct out_row {
    uint64_t sec, seq, conn, vsize, client, ttl;
    char *key;
    size_t klen;
    int op, waiting;
};

struct row_ring {
    struct out_row *v;
    size_t head, len, cap, window;
    FILE *out;
    uint64_t forced;
    int failed;
};

static struct out_row *ring_at(struct row_ring *g, size_t i)
{
    return &g->v[(g->head + i) % g->cap];
}

static void csv_row(FILE *out, const struct out_row *w)
{
    fprintf(out, "%" PRIu64 ",", w->sec);
    fwrite(w->key, 1, w->klen, out);
    fprintf(out, ",%zu,%" PRIu64 ",%" PRIu64 ",%s,%" PRIu64 "\n", w->klen, w->vsize, w->client,
            tw_ops[w->op], w->ttl);
}

static void ring_drain(struct row_ring *g, int all)
{
    while (g->len && (all || !g->v[g->head].waiting || g->len > g->window)) {
        struct out_row *w = &g->v[g->head];
        if (w->waiting && !all && g->len > g->window)
            g->forced++;
        csv_row(g->out, w);
        free(w->key);
        g->head = (g->head + 1) % g->cap;
        g->len--;
    }
}

static int ring_push(struct row_ring *g, const struct out_row *w, const char *key)
{
    if (g->len == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        struct out_row *v = malloc(cap * sizeof *v);
        if (!v)
            return -1;
        for (size_t i = 0; i < g->len; i++)
            v[i] = *ring_at(g, i);
        free(g->v);
        g->v = v;
        g->cap = cap;
        g->head = 0;
    }
    struct out_row *d = ring_at(g, g->len);
    *d = *w;
    if (!(d->key = malloc(w->klen + 1)))
        return -1;
    memcpy(d->key, key, w->klen);
    g->len++;
    return 0;
}

/* The waiting row of request `seq` (rows are in seq order), or NULL. */
static struct out_row *ring_find(struct row_ring *g, uint64_t seq)
{
    size_t lo = 0, hi = g->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(g, mid)->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < g->len && ring_at(g, lo)->seq == seq; lo++)
        if (ring_at(g, lo)->waiting)
            return ring_at(g, lo);
    return NULL;
}

/* Seconds (rounded up, at least 1) of the TTL option `opt` with value `v` of a request at
 * `ts_ns`; 0 when `opt` is not a TTL option or v is not a number. */
static uint64_t ttl_of(const char *opt, size_t ol, const char *v, size_t vl, uint64_t ts_ns)
{
    uint64_t x;
    if (parse_u64(v, vl, UINT64_MAX / 2, &x) != 0)
        return 0;
    uint64_t now_s = ts_ns / 1000000000ull, now_ms = ts_ns / 1000000ull;
    if (ieq(opt, ol, "ex"))
        return x;
    if (ieq(opt, ol, "px"))
        return (x + 999) / 1000;
    if (ieq(opt, ol, "exat"))
        return x > now_s ? x - now_s : 1;
    if (ieq(opt, ol, "pxat"))
        return x > now_ms ? (x - now_ms + 999) / 1000 : 1;
    return 0;
}

static int to_twitter(struct trace_reader *r, FILE *out, struct to_counts *k, struct rt_err *err)
{
    size_t vlen;
    const char *from = trace_reader_meta_get(r, "convert.from", &vlen);
    int ours = from && vlen == 7 && !memcmp(from, "twitter", 7);
    const char *basestr = trace_reader_meta_get(r, "convert.time_base_ns", &vlen);
    uint64_t base = 0;
    int have_base = basestr && parse_u64(basestr, vlen, UINT64_MAX, &base) == 0;
    struct row_ring g = {.window = 100000, .out = out};
    struct trace_event ev;
    int rc;
    while (!rt_interrupted && (rc = trace_reader_next(r, &ev, err)) == 1) {
        to_tick(k, r);
        if (ev.type == TRACE_EV_REPLY && ev.u.reply.req_seq != TRACE_SEQ_NONE) {
            struct out_row *w = ring_find(&g, ev.u.reply.req_seq);
            if (w) {
                w->vsize = ev.u.reply.rtype == TRACE_R_BULK ? ev.u.reply.size : 0;
                w->waiting = 0;
                ring_drain(&g, 0);
            }
            continue;
        }
        if (ev.type == TRACE_EV_CONN_CLOSE) {
            for (size_t i = 0; i < g.len; i++)
                if (ring_at(&g, i)->conn == ev.conn)
                    ring_at(&g, i)->waiting = 0;
            ring_drain(&g, 0);
            continue;
        }
        if (ev.type != TRACE_EV_REQUEST)
            continue;
        const struct trace_request *q = &ev.u.req;
        k->requests++;
        if (q->flags & TRACE_REQ_MALFORMED) {
            k->malformed++;
            k->skipped++;
            continue;
        }
        if (!have_base) {
            base = ev.ts / 1000000000ull * 1000000000ull;
            have_base = 1;
        }
        struct out_row w = {.sec = ev.ts > base ? (ev.ts - base) / 1000000000ull : 0,
                            .seq = q->seq,
                            .conn = ev.conn,
                            .client = ours && ev.conn ? ev.conn - 1 : ev.conn,
                            .op = OP_NONE};
        const char *const *a = q->argv;
        const size_t *al = q->argvlen;
        uint32_t n = q->argc;
        uint32_t kfirst = 1, klast = 0; /* keys a[kfirst..klast], one row each */
        if (n == 2 && ieq(a[0], al[0], "get")) {
            w.op = OP_GET;
            w.waiting = !(q->flags & TRACE_REQ_NOREPLY);
            klast = 1;
        } else if (n >= 2 && ieq(a[0], al[0], "mget")) {
            w.op = OP_GET;
            klast = n - 1;
        } else if (n >= 3 && ieq(a[0], al[0], "set")) {
            w.op = OP_SET;
            w.vsize = al[2];
            klast = 1;
            for (uint32_t i = 3; i < n; i++) {
                if (ieq(a[i], al[i], "nx"))
                    w.op = OP_ADD;
                else if (ieq(a[i], al[i], "xx"))
                    w.op = OP_REPLACE;
                else if (i + 1 < n && ttl_of(a[i], al[i], a[i + 1], al[i + 1], ev.ts)) {
                    w.ttl = ttl_of(a[i], al[i], a[i + 1], al[i + 1], ev.ts);
                    i++;
                }
            }
        } else if (n == 4 && (ieq(a[0], al[0], "setex") || ieq(a[0], al[0], "psetex"))) {
            w.op = OP_SET;
            w.vsize = al[3];
            w.ttl = ttl_of(ieq(a[0], al[0], "setex") ? "ex" : "px", 2, a[2], al[2], ev.ts);
            klast = 1;
        } else if (n == 3 && ieq(a[0], al[0], "setnx")) {
            w.op = OP_ADD;
            w.vsize = al[2];
            klast = 1;
        } else if (n == 3 && ieq(a[0], al[0], "append")) {
            w.op = OP_APPEND;
            w.vsize = al[2];
            klast = 1;
        } else if (n == 5 && ieq(a[0], al[0], "eval") && al[1] == sizeof PREPEND_SCRIPT - 1 &&
                   !memcmp(a[1], PREPEND_SCRIPT, al[1]) && ieq(a[2], al[2], "1")) {
            w.op = OP_PREPEND;
            w.vsize = al[4];
            kfirst = klast = 3;
        } else if (n >= 2 && (ieq(a[0], al[0], "del") || ieq(a[0], al[0], "unlink"))) {
            w.op = OP_DELETE;
            klast = n - 1;
        } else if ((n == 2 && ieq(a[0], al[0], "incr")) || (n == 3 && ieq(a[0], al[0], "incrby"))) {
            w.op = OP_INCR;
            klast = 1;
        } else if ((n == 2 && ieq(a[0], al[0], "decr")) || (n == 3 && ieq(a[0], al[0], "decrby"))) {
            w.op = OP_DECR;
            klast = 1;
        }
        for (uint32_t i = kfirst; w.op != OP_NONE && i <= klast; i++)
            if (memchr(a[i], '\n', al[i]) || memchr(a[i], '\r', al[i]))
                w.op = OP_NONE; /* a CSV line cannot hold it */
        if (w.op == OP_NONE) {
            k->skipped++;
            continue;
        }
        k->written++;
        for (uint32_t i = kfirst; i <= klast; i++) {
            w.klen = al[i];
            if (ring_push(&g, &w, a[i]) != 0) {
                rt_err_set(err, RT_ENOMEM, "out of memory");
                rc = RT_ENOMEM;
                goto done;
            }
            k->rows++;
        }
        ring_drain(&g, 0);
    }
done:
    ring_drain(&g, 1);
    free(g.v);
    k->waited_out = g.forced;
    return rc;
}

/* ---- the command ---- */

static json_t *from_json(const struct conv *c, const char *from)
{
    json_t *o = rt_json_doc("convert");
    json_object_set_new(o, "from", json_string(from));
    json_object_set_new(o, "input", json_string(c->in_path));
    json_object_set_new(o, "output", json_string(c->out_path));
    json_object_set_new(o, "lines", rt_json_u64(c->lines));
    json_object_set_new(o, "requests", rt_json_u64(c->requests));
    json_object_set_new(o, "replies", rt_json_u64(c->replies));
    json_object_set_new(o, "connections", rt_json_u64(c->conns));
    json_t *sk = json_object();
    if (!strcmp(from, "monitor")) {
        json_object_set_new(sk, "not_monitor", rt_json_u64(c->skipped_other));
        json_object_set_new(sk, "lua", rt_json_u64(c->skipped_lua));
    } else {
        json_object_set_new(sk, "blank", rt_json_u64(c->skipped_other));
        json_object_set_new(sk, "header", rt_json_u64(c->header));
        json_object_set_new(sk, "unsupported_op", rt_json_u64(c->unsupported));
    }
    json_object_set_new(sk, "bad", rt_json_u64(c->bad));
    json_object_set_new(o, "skipped", sk);
    json_object_set_new(o, "clock_backwards", rt_json_u64(c->backwards));
    if (strcmp(from, "monitor"))
        json_object_set_new(o, "keys_resized", rt_json_u64(c->resized));
    json_object_set_new(o, "interrupted", json_boolean(c->interrupted));
    return o;
}

static void summary_from(struct conv *c, const char *from)
{
    if (c->quiet)
        return;
    FILE *f = c->sum;
    fprintf(f, "converted %s (%s) -> %s\n", c->in_path, from, c->out_path);
    fprintf(f, "  %-26s %" PRIu64 "\n", "lines read", c->lines);
    fprintf(f, "  %-26s %" PRIu64 "\n", "requests written", c->requests);
    if (c->replies)
        fprintf(f, "  %-26s %" PRIu64 "\n", "replies written (get size)", c->replies);
    fprintf(f, "  %-26s %" PRIu64 "\n", "connections", c->conns);
    if (!strcmp(from, "monitor")) {
        fprintf(f, "  %-26s %" PRIu64 "\n", "skipped: not MONITOR lines", c->skipped_other);
        fprintf(f, "  %-26s %" PRIu64 "\n", "skipped: run by scripts", c->skipped_lua);
    } else {
        fprintf(f, "  %-26s %" PRIu64 "\n", "skipped: blank lines", c->skipped_other);
        fprintf(f, "  %-26s %" PRIu64 "\n", "skipped: header", c->header);
        fprintf(f, "  %-26s %" PRIu64 "\n", "skipped: other operations", c->unsupported);
        fprintf(f, "  %-26s %" PRIu64 "\n", "keys resized to key size", c->resized);
    }
    fprintf(f, "  %-26s %" PRIu64 "\n", "skipped: bad lines", c->bad);
    fprintf(f, "  %-26s %" PRIu64 "\n", "timestamps raised", c->backwards);
}

/* The end of a conversion: the line of an interruption, the exit status. */
static int end_status(struct conv *c, int status, uint64_t written, const char *what)
{
    if (!c->interrupted)
        return status;
    char n[32];
    fprintf(stderr, "resptrace convert: interrupted: wrote %s %s\n",
            edit_fmt_count(written, n, sizeof n), what);
    return RT_EXIT_INTERRUPTED;
}

static int run_from(struct conv *c, const char *from)
{
    if (!c->out_path)
        return rt_usage_error("convert", "--from needs -o OUT.rtrace");
    c->in = strcmp(c->in_path, "-") ? fopen(c->in_path, "r") : stdin;
    if (!c->in) {
        fprintf(stderr, "resptrace convert: %s: %s\n", c->in_path, strerror(errno));
        return RT_EXIT_FAIL;
    }
    struct stat st;
    if (fstat(fileno(c->in), &st) == 0 && S_ISREG(st.st_mode))
        c->in_size = (uint64_t)st.st_size;
    char src[512], base[24];
    snprintf(src, sizeof src, "resptrace convert --from %s %s", from, c->in_path);
    snprintf(base, sizeof base, "%" PRIu64, c->start_ns);
    int tw = !strcmp(from, "twitter");
    struct trace_meta_kv meta[] = {
        {"source", src, strlen(src)},
        {"convert.from", from, strlen(from)},
        {"convert.file", c->in_path, strlen(c->in_path)},
        {tw ? "convert.time_base_ns" : "convert.values", tw ? base : "as captured",
         strlen(tw ? base : "as captured")},
    };
    c->w = edit_writer_open("convert", &c->o, c->out_path, meta, sizeof meta / sizeof meta[0],
                            c->encoding);
    if (!c->w) {
        if (c->in != stdin)
            fclose(c->in);
        return RT_EXIT_FAIL;
    }
    int rc = tw ? from_twitter(c) : from_monitor(c);
    rt_progress_done(&c->pg);
    c->interrupted = rt_interrupted != 0;
    if (c->in != stdin)
        fclose(c->in);
    free(c->line);
    if (rc != 0) {
        /* a bad line or a failed write: no output (an OUT from before is left as it was) */
        edit_writer_abort(&c->o, c->w);
        return end_status(c, RT_EXIT_FAIL, 0, "requests (no output)");
    }
    if (edit_writer_commit("convert", &c->o, c->w) != 0)
        return RT_EXIT_FAIL;
    if (!c->requests && !c->interrupted) {
        char n[32];
        fprintf(stderr,
                "resptrace convert: no request in %s (%s lines read, none %s); wrote an "
                "empty trace\n",
                c->in_path, edit_fmt_count(c->lines, n, sizeof n),
                tw ? "a supported cache-trace row" : "a MONITOR line of a client");
    }
    summary_from(c, from);
    int status = RT_EXIT_OK;
    if (c->json && rt_json_write("convert", from_json(c, from), c->json) != 0)
        status = RT_EXIT_FAIL;
    return end_status(c, status, c->requests, "requests");
}

static json_t *to_json(const struct conv *c, const char *to, const struct to_counts *k)
{
    json_t *o = rt_json_doc("convert");
    json_object_set_new(o, "to", json_string(to));
    json_object_set_new(o, "input", json_string(c->in_path));
    json_object_set_new(o, "output", json_string(c->out_path ? c->out_path : "-"));
    json_object_set_new(o, "requests", rt_json_u64(k->requests));
    json_object_set_new(o, "written", rt_json_u64(k->written));
    json_object_set_new(o, "skipped", rt_json_u64(k->skipped));
    json_object_set_new(o, "malformed_skipped", rt_json_u64(k->malformed));
    if (!strcmp(to, "resp")) {
        json_object_set_new(o, "selects_added", rt_json_u64(k->selects));
    } else {
        json_object_set_new(o, "rows", rt_json_u64(k->rows));
        json_object_set_new(o, "rows_before_reply", rt_json_u64(k->waited_out));
    }
    json_object_set_new(o, "interrupted", json_boolean(c->interrupted));
    return o;
}

static int run_to(struct conv *c, const char *to)
{
    struct trace_reader *r = rt_open_trace("convert", c->in_path, c->salvage);
    if (!r)
        return RT_EXIT_FAIL;
    const char *path = c->out_path ? c->out_path : "-";
    FILE *out = edit_out_open("convert", &c->o, path, 0600); /* the trace's data: not for all */
    if (!out) {
        trace_reader_close(r);
        return RT_EXIT_FAIL;
    }
    struct to_counts k = {.pg = &c->pg};
    struct rt_err err = {0};
    int rc = !strcmp(to, "resp") ? to_resp(r, out, &k, &err) : to_twitter(r, out, &k, &err);
    rt_progress_done(&c->pg);
    c->interrupted = rt_interrupted != 0;
    int status = RT_EXIT_OK;
    if (fflush(out) != 0 || ferror(out) || rc == -2) {
        fprintf(stderr, "resptrace convert: cannot write %s: %s\n",
                c->out_path ? c->out_path : "stdout", strerror(errno));
        rt_out_abort(&c->o, 0);
        trace_reader_close(r);
        return RT_EXIT_FAIL;
    }
    if (rc < 0 && !c->interrupted) {
        fprintf(stderr, "resptrace convert: %s\n", err.msg);
        status = RT_EXIT_FAIL;
    } else if (!c->interrupted) {
        struct trace_damage d;
        trace_reader_damage(r, &d);
        if (d.first_offset != UINT64_MAX) {
            fprintf(stderr, "resptrace convert: %s (salvaged: %llu damaged chunks skipped)\n",
                    d.msg, (unsigned long long)d.chunks_skipped);
            status = RT_EXIT_FAIL;
        }
    }
    trace_reader_close(r);
    /* what was read is written, also from a damaged trace */
    if (edit_out_commit("convert", &c->o, 0) != 0)
        return RT_EXIT_FAIL;
    int resp = !strcmp(to, "resp");
    if (!k.written && !c->interrupted) {
        char a[32], b[32];
        fprintf(stderr,
                "resptrace convert: no request of %s could be converted (%s of %s "
                "requests%s); wrote nothing\n",
                c->in_path, edit_fmt_count(0, a, sizeof a), edit_fmt_count(k.requests, b, sizeof b),
                resp ? "" : ": none is a cache operation");
    }
    if (!c->quiet) {
        FILE *sum = c->sum;
        fprintf(sum, "converted %s -> %s (%s)\n", c->in_path, c->out_path ? c->out_path : "stdout",
                to);
        fprintf(sum, "  %-26s %" PRIu64 "\n", "requests read", k.requests);
        fprintf(sum, "  %-26s %" PRIu64 "\n", "requests written", k.written);
        fprintf(sum, "  %-26s %" PRIu64 "\n", "requests skipped", k.skipped);
        if (k.malformed)
            fprintf(sum, "  %-26s %" PRIu64 "\n", "of them malformed", k.malformed);
        if (resp)
            fprintf(sum, "  %-26s %" PRIu64 "\n", "SELECTs added", k.selects);
        else
            fprintf(sum, "  %-26s %" PRIu64 "\n", "rows written", k.rows);
    }
    if (c->json && rt_json_write("convert", to_json(c, to, &k), c->json) != 0 &&
        status == RT_EXIT_OK)
        status = RT_EXIT_FAIL;
    return end_status(c, status, k.written, "requests");
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {{"from", required_argument, NULL, 'F'},
                                         {"to", required_argument, NULL, 'T'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"server", required_argument, NULL, 'S'},
                                         {"lua", no_argument, NULL, 'L'},
                                         {"skip-bad", no_argument, NULL, 'B'},
                                         {"keep-keys", no_argument, NULL, 'K'},
                                         {"start", required_argument, NULL, 's'},
                                         {"encoding", required_argument, NULL, 'E'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"salvage", no_argument, NULL, 'V'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct conv c = {.start_ns = DEFAULT_START_NS};
    const char *from = NULL, *to = NULL;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
        switch (o) {
        case 'F': from = optarg; break;
        case 'T': to = optarg; break;
        case 'o': c.out_path = optarg; break;
        case 'S':
            if (parse_addr(optarg, strlen(optarg), &c.server) != 0)
                return rt_usage_error("convert", "--server takes HOST:PORT, not '%s'", optarg);
            break;
        case 'L': c.keep_lua = 1; break;
        case 'B': c.skip_bad = 1; break;
        case 'K': c.keep_keys = 1; break;
        case 's':
            if (rt_parse_time(optarg, 0, &c.start_ns) != 0 || c.start_ns < 1000000000000000ull)
                return rt_usage_error("convert", "--start takes an ISO 8601 UTC time, not '%s'",
                                      optarg);
            break;
        case 'E':
            if (rt_opt_encoding("convert", optarg, &c.encoding))
                return RT_EXIT_USAGE;
            break;
        case 'j': c.json = optarg ? optarg : "-"; break;
        case 'q': c.quiet = 1; break;
        case 'V': c.salvage = 1; break;
        case 'h': usage_convert(stdout); return RT_EXIT_OK;
        default: return edit_bad_option("convert", o, argv);
        }
    }
    if (!!from == !!to)
        return rt_usage_error("convert", "give one of --from FORMAT or --to FORMAT");
    if (optind != argc - 1)
        return rt_usage_error("convert",
                              optind >= argc ? "give the input file" : "one input file at a time");
    c.in_path = argv[optind];
    if (from && strcmp(from, "monitor") && strcmp(from, "twitter"))
        return rt_usage_error("convert", "--from takes monitor or twitter, not '%s'", from);
    if (to && strcmp(to, "resp") && strcmp(to, "twitter"))
        return rt_usage_error("convert", "--to takes resp or twitter, not '%s'", to);
    if (to && c.encoding)
        return rt_usage_error("convert", "--encoding is for the trace --from writes, not --to");
    const char *data = c.out_path ? c.out_path : from ? NULL : "-"; /* --to: stdout default */
    if (to && !strcmp(data, "-") && c.json && !strcmp(c.json, "-"))
        return rt_usage_error("convert", "the converted data goes to stdout: give -o FILE or "
                                         "--json=FILE");
    if (edit_check_outputs("convert", data, c.json, &c.in_path, 1) != 0)
        return RT_EXIT_USAGE;
    c.sum = edit_text_stream(data, c.json);
    rt_catch_signals();
    rt_progress_init(&c.pg, c.quiet);
    return from ? run_from(&c, from) : run_to(&c, to);
}
