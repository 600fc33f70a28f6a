/* cmd_shards.c: `resptrace shards`: projects a trace's load onto N cluster shards, or onto a
 * real slot map, and proposes slot moves that even it out. */
#include "analysis_int.h"
#include "replay.h"
#include "tools.h"
#include "walk.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* out of memory: "resptrace shards: out of memory", exit 1 (tools.h) */
#define oom() rt_oom("shards")
#define xrealloc(p, n) rt_xrealloc("shards", (p), (n))
#define xcalloc(n, sz) rt_xcalloc("shards", (n), (sz))
#define xstrdup(s) rt_xstrdup("shards", (s))

void usage_shards(FILE *out)
{
    fprintf(
        out,
        "usage: resptrace shards TRACE [--shards N[,N...]] [--slots-from FILE |\n"
        "                        --target URL [--user NAME] [--pass PASSWORD]\n"
        "                        [TLS options]]\n"
        "                        [--suggest [--max-imbalance X]] [--top K]\n"
        "                        [--json[=FILE]] [--salvage] [-q]\n\n"
        "Reads the trace once and projects its keyed requests onto Redis Cluster\n"
        "shards: per shard the slot ranges, requests (ops), mean and peak ops per\n"
        "second, bytes, distinct keys and estimated memory; the imbalance (the hottest\n"
        "shard's ops over the mean); the keys and slots that make the hottest shard\n"
        "hot; and the keys that alone exceed a shard's fair share (only splitting such\n"
        "a key helps, not more shards).\n\n"
        "  --shards N,...     shard counts to project on (default 3,6,12), each split\n"
        "                     into even slot ranges as `redis-cli --cluster create` does\n"
        "  --slots-from FILE  project on this slot map instead (formats below)\n"
        "  --target URL       read the slot map of a live cluster: HOST:PORT,\n"
        "                     redis://[[USER]:PASS@]HOST:PORT or rediss:// for TLS\n"
        "                     (CLUSTER SHARDS, or CLUSTER SLOTS on servers before 7;\n"
        "                     read as replay reads it)\n"
        "  --user NAME        ACL user for --target (or RESPTRACE_USER)\n"
        "  --pass PASSWORD    password for --target (or RESPTRACE_PASS, REDISCLI_AUTH;\n"
        "                     those keep it off the command line, which others can see)\n"
        RT_TLS_USAGE
        "  --suggest          propose slot moves from the hottest shard to the coldest\n"
        "                     until the imbalance is at most --max-imbalance (default\n"
        "                     1.1)\n"
        "  --top K            keys and slots listed for the hottest shard (default 5)\n"
        "  --json[=FILE]      one JSON document on stdout instead of the tables, or into\n"
        "                     FILE (the tables then still go to stdout)\n"
        "  --salvage          skip damaged chunks instead of stopping at the first\n"
        "  -q, --quiet        no status line (shown on a terminal while reading)\n\n"
        "What is counted. Keys come from the command table's key specifications. A\n"
        "request with keys goes to the slot of its first key (CLUSTER KEYSLOT, hashtags\n"
        "included): it is one op of that slot and of the shard serving it; a request\n"
        "whose keys hash to several slots (a CROSSSLOT error on a cluster) is routed the\n"
        "same way and counted as cross_slot. Requests without keys (PING, INFO...) go\n"
        "to whichever node the client picks: counted as keyless, on no shard. Unknown\n"
        "commands are counted as skipped, requests the server could not parse as\n"
        "malformed. Bytes are the request's size encoded as RESP plus its reply's wire\n"
        "length, all to the request's slot; per key they are split as `resptrace\n"
        "hotkeys` does. A key's ops are the requests naming it. Peak ops/s is the most\n"
        "ops of one shard within one second, seconds counted from the first request (at\n"
        "most 2^22 seconds); mean ops/s is ops over the seconds the trace spans. Keys\n"
        "are the distinct keys of the shard's slots (an exact hash set: memory grows\n"
        "with the distinct keys of the trace).\n"
        "Estimated memory of a shard: for each key, its bytes + its value size + 56\n"
        "bytes of server overhead, where the value size is the last value written by\n"
        "SET, SETEX, PSETEX, SETNX, GETSET, MSET, MSETNX or RESTORE, plus the values\n"
        "added by other writes (LPUSH, SADD, HSET, APPEND, XADD...), 0 after DEL, UNLINK\n"
        "or GETDEL; for a key never written in the trace, the payload of its last reply\n"
        "to a single-key read (a GET's bulk string; an aggregate's wire length). A\n"
        "rough figure: encodings are ignored.\n\n"
        "Slot map files (--slots-from), recognised by their content:\n"
        "  * `redis-cli --json CLUSTER SHARDS` or `redis-cli --json CLUSTER SLOTS`;\n"
        "  * redis-cli's text output of CLUSTER SHARDS or CLUSTER SLOTS (terminal or\n"
        "    raw);\n"
        "  * lines `FIRST-LAST NODE [HOST:PORT]` or `SLOT NODE [HOST:PORT]` ('#'\n"
        "    comments): the lines naming one NODE (a node id or any name) make one\n"
        "    shard.\n"
        "Slots missing from a map are unassigned: their ops are counted as\n"
        "unassigned_ops.\n\n"
        "--suggest moves, at each step, the lowest-numbered slots of the hottest shard\n"
        "to the coldest one: exactly the slots `redis-cli --cluster reshard` takes from\n"
        "a source node, so the printed lines, run in order, perform the moves listed\n"
        "beside them.\n\n"
        "JSON: {\"tool\", \"version\", \"schema\", \"command\", \"file\", \"requests\",\n"
        "\"keyed_requests\", ..., \"span_s\", \"damage\", \"interrupted\", \"projections\":\n"
        "[{\"shard_count\", \"source\", \"shards\": [{\"shard\", \"slots\": [[first, last],\n"
        "...], \"ops\", \"keys\", \"bytes\", \"peak_ops_per_s\", \"mean_ops_per_s\",\n"
        "\"bytes_per_s\", \"memory\", \"node\", \"addr\"}], \"imbalance\", \"hottest\",\n"
        "\"fair_share\", \"hottest_top_keys\", \"hottest_top_slots\",\n"
        "\"keys_over_fair_share\", \"moves\", ...}]} (\"imbalance\" is null without ops;\n"
        "\"moves\" only with --suggest).\n\n"
        "Exit status: 0, 1 when the trace or the slot map cannot be read or the trace\n"
        "is damaged (what was read is still reported), 2 for a bad command line, 130\n"
        "when interrupted (Ctrl-C: what was read is reported).\n");
}

/* ---- the slot map of a projection ------------------------------------------------------ */

#define UNASSIGNED 0xffffu
#define MAX_SHARDS 1024
#define MAX_SECONDS (1u << 22)
#define KEY_OVERHEAD 56

struct proj {
    size_t n;                     /* shards */
    uint16_t owner[RT_KEY_SLOTS]; /* slot -> shard, UNASSIGNED */
    char **node;                  /* per shard: node id or name, NULL for even splits */
    char **addr;                  /* per shard: "host:port" or NULL */
    uint64_t *persec;             /* [second][shard] ops */
    size_t nsec;                  /* seconds allocated */
};

static struct proj *proj_new(size_t n)
{
    struct proj *p = xcalloc(1, sizeof *p);
    p->n = n;
    p->node = xcalloc(n, sizeof *p->node);
    p->addr = xcalloc(n, sizeof *p->addr);
    for (size_t i = 0; i < RT_KEY_SLOTS; i++)
        p->owner[i] = UNASSIGNED;
    return p;
}

static void proj_free(struct proj *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->node[i]);
        free(p->addr[i]);
    }
    free(p->node);
    free(p->addr);
    free(p->persec);
    free(p);
}

/* The split of `redis-cli --cluster create` (clusterManagerCommandCreate in redis-cli.c):
 * slots_per_node = 16384 / (float)N; shard i ends at lround(cursor + slots_per_node - 1)
 * where cursor advances by slots_per_node in single precision; the last ends at 16383. */
static struct proj *proj_even(size_t n)
{
    struct proj *p = proj_new(n);
    float per = RT_KEY_SLOTS / (float)n, cursor = 0.0f;
    long first = 0;
    for (size_t i = 0; i < n; i++) {
        long last = lroundf(cursor + per - 1);
        if (last > RT_KEY_SLOTS || i == n - 1)
            last = RT_KEY_SLOTS - 1;
        if (last < first)
            last = first;
        for (long s = first; s <= last && s < RT_KEY_SLOTS; s++)
            p->owner[s] = (uint16_t)i;
        first = last + 1;
        cursor += per;
    }
    return p;
}

/* Shard index of node `name` in a map being built, added when new. */
static int proj_shard_of(struct proj *p, size_t *cap, const char *name, const char *addr)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->node[i] && !strcmp(p->node[i], name)) {
            if (addr && !p->addr[i])
                p->addr[i] = xstrdup(addr);
            return (int)i;
        }
    if (p->n == MAX_SHARDS)
        return -1;
    if (p->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        p->node = xrealloc(p->node, *cap * sizeof *p->node);
        p->addr = xrealloc(p->addr, *cap * sizeof *p->addr);
    }
    p->node[p->n] = xstrdup(name);
    p->addr[p->n] = addr ? xstrdup(addr) : NULL;
    return (int)p->n++;
}

static int proj_assign(struct proj *p, long first, long last, int shard, const char *src,
                       struct rt_err *err)
{
    if (first < 0 || last >= RT_KEY_SLOTS || first > last) {
        rt_err_set(err, RT_EINVAL, "%s: bad slot range %ld-%ld", src, first, last);
        return -1;
    }
    for (long s = first; s <= last; s++)
        p->owner[s] = (uint16_t)shard;
    return 0;
}

/* ---- slot maps from files and live clusters ---------------------------------------------- */

static char *addr_of(const char *host, long long port)
{
    char b[300];
    snprintf(b, sizeof b, "%s:%lld", host, port);
    return xstrdup(b);
}

/* CLUSTER SHARDS as JSON: [{"slots": [f, l, ...], "nodes": [{"id", "ip"/"endpoint", "port",
 * "role"}, ...]}, ...]; CLUSTER SLOTS as JSON: [[f, l, [ip, port, id, ...], ...], ...] */
static int map_from_json(struct proj *p, size_t *cap, json_t *root, const char *src,
                         struct rt_err *err)
{
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e)
    {
        if (json_is_object(e)) {
            json_t *slots = json_object_get(e, "slots"), *nodes = json_object_get(e, "nodes");
            json_t *prim = NULL, *nd;
            size_t j;
            json_array_foreach(nodes, j, nd)
            {
                const char *role = json_string_value(json_object_get(nd, "role"));
                if (!prim || (role && !strcmp(role, "master")))
                    prim = nd;
                if (role && !strcmp(role, "master"))
                    break;
            }
            if (!json_is_array(slots) || json_array_size(slots) % 2 || !prim) {
                rt_err_set(err, RT_EINVAL, "%s: shard %zu has no slots array or no nodes", src, i);
                return -1;
            }
            if (!json_array_size(slots))
                continue;
            const char *id = json_string_value(json_object_get(prim, "id"));
            const char *ip = json_string_value(json_object_get(prim, "ip"));
            if (!ip)
                ip = json_string_value(json_object_get(prim, "endpoint"));
            json_t *port = json_object_get(prim, "port");
            if (!port)
                port = json_object_get(prim, "tls-port");
            char *a = ip && json_is_integer(port) ? addr_of(ip, json_integer_value(port)) : NULL;
            char nm[32];
            snprintf(nm, sizeof nm, "shard%zu", i);
            int sh = proj_shard_of(p, cap, id ? id : nm, a);
            free(a);
            if (sh < 0) {
                rt_err_set(err, RT_EINVAL, "%s: more than %d shards", src, MAX_SHARDS);
                return -1;
            }
            for (j = 0; j + 1 < json_array_size(slots); j += 2)
                if (proj_assign(p, (long)json_integer_value(json_array_get(slots, j)),
                                (long)json_integer_value(json_array_get(slots, j + 1)), sh, src,
                                err) < 0)
                    return -1;
        } else if (json_is_array(e) && json_array_size(e) >= 3) {
            json_t *nd = json_array_get(e, 2);
            const char *ip = json_string_value(json_array_get(nd, 0));
            json_t *port = json_array_get(nd, 1);
            const char *id = json_string_value(json_array_get(nd, 2));
            char *a = ip && json_is_integer(port) ? addr_of(ip, json_integer_value(port)) : NULL;
            int sh = proj_shard_of(p, cap, id ? id : a ? a : "?", a);
            free(a);
            if (sh < 0) {
                rt_err_set(err, RT_EINVAL, "%s: more than %d shards", src, MAX_SHARDS);
                return -1;
            }
            if (proj_assign(p, (long)json_integer_value(json_array_get(e, 0)),
                            (long)json_integer_value(json_array_get(e, 1)), sh, src, err) < 0)
                return -1;
        } else {
            rt_err_set(err, RT_EINVAL,
                       "%s: element %zu is neither a CLUSTER SHARDS nor a CLUSTER "
                       "SLOTS entry",
                       src, i);
            return -1;
        }
    }
    return 0;
}

/* redis-cli's text output, terminal (`1) 2) (integer) 0`, `"slots"`) or raw, as tokens: the
 * `N)` prefixes, `(integer) ` and quotes removed; empty lines and "(empty array)" dropped. */
struct toks {
    char **t;
    size_t n, cap;
};

static void toks_split(struct toks *tk, char *text)
{
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *s = line, *e;
        for (;;) {
            while (*s == ' ' || *s == '\t')
                s++;
            char *d = s;
            while (isdigit((unsigned char)*d))
                d++;
            if (d > s && *d == ')' && (d[1] == ' ' || !d[1]))
                s = d + 1;
            else
                break;
        }
        if (!strncmp(s, "(integer) ", 10))
            s += 10;
        e = s + strlen(s);
        while (e > s && (e[-1] == '\r' || e[-1] == ' '))
            *--e = 0;
        if (e - s >= 2 && *s == '"' && e[-1] == '"') {
            s++;
            *--e = 0;
        }
        if (!*s || !strcmp(s, "(empty array)") || !strcmp(s, "(nil)"))
            continue;
        if (tk->n == tk->cap) {
            tk->cap = tk->cap ? tk->cap * 2 : 256;
            tk->t = xrealloc(tk->t, tk->cap * sizeof *tk->t);
        }
        tk->t[tk->n++] = s;
    }
}

static int is_int(const char *s, long *v)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return 0;
    long x = strtol(s, &end, 10);
    if (*end)
        return 0;
    *v = x;
    return 1;
}

/* CLUSTER SHARDS text: "slots" f l ... "nodes" then key/value pairs per node */
static int map_from_shards_text(struct proj *p, size_t *cap, struct toks *tk, const char *src,
                                struct rt_err *err)
{
    size_t i = 0, shard_no = 0;
    while (i < tk->n) {
        if (strcmp(tk->t[i], "slots")) {
            i++;
            continue;
        }
        i++;
        long rng[2 * 64];
        size_t nr = 0;
        long v;
        while (i < tk->n && is_int(tk->t[i], &v)) {
            if (nr == sizeof rng / sizeof rng[0]) {
                rt_err_set(err, RT_EINVAL, "%s: too many slot ranges in one shard", src);
                return -1;
            }
            rng[nr++] = v;
            i++;
        }
        if (nr % 2) {
            rt_err_set(err, RT_EINVAL, "%s: odd number of slot bounds in shard %zu", src, shard_no);
            return -1;
        }
        /* the nodes: up to the next "slots"; the primary is the node whose role is master */
        const char *id = NULL, *ip = NULL, *port = NULL, *pid = NULL, *pip = NULL, *pport = NULL;
        for (; i < tk->n && strcmp(tk->t[i], "slots"); i++) {
            const char *k = tk->t[i], *val = i + 1 < tk->n ? tk->t[i + 1] : "";
            if (!strcmp(k, "id")) {
                id = val;
                ip = port = NULL;
            } else if (!strcmp(k, "ip") || (!strcmp(k, "endpoint") && !ip)) {
                ip = val;
            } else if (!strcmp(k, "port") || (!strcmp(k, "tls-port") && !port)) {
                port = val;
            } else if (!strcmp(k, "role") && !strcmp(val, "master")) {
                pid = id;
                pip = ip;
                pport = port;
            }
        }
        if (nr) {
            if (!pid) {
                rt_err_set(err, RT_EINVAL, "%s: shard %zu has no node with role master", src,
                           shard_no);
                return -1;
            }
            long pn;
            char *a = pip && pport && is_int(pport, &pn) ? addr_of(pip, pn) : NULL;
            int sh = proj_shard_of(p, cap, pid, a);
            free(a);
            if (sh < 0) {
                rt_err_set(err, RT_EINVAL, "%s: more than %d shards", src, MAX_SHARDS);
                return -1;
            }
            for (size_t j = 0; j < nr; j += 2)
                if (proj_assign(p, rng[j], rng[j + 1], sh, src, err) < 0)
                    return -1;
        }
        shard_no++;
    }
    return 0;
}

/* CLUSTER SLOTS text: f l ip port id [metadata] [replica: ip port id ...] ...; a new range
 * starts at two integers in a row. */
static int map_from_slots_text(struct proj *p, size_t *cap, struct toks *tk, const char *src,
                               struct rt_err *err)
{
    size_t i = 0;
    long f, l, port;
    while (i < tk->n) {
        if (!(i + 3 < tk->n && is_int(tk->t[i], &f) && is_int(tk->t[i + 1], &l) &&
              !is_int(tk->t[i + 2], &port) && is_int(tk->t[i + 3], &port))) {
            rt_err_set(err, RT_EINVAL,
                       "%s: token %zu ('%s') does not start a CLUSTER SLOTS range (FIRST LAST IP "
                       "PORT ID)",
                       src, i + 1, tk->t[i]);
            return -1;
        }
        const char *ip = tk->t[i + 2];
        const char *id = i + 4 < tk->n && !is_int(tk->t[i + 4], &l) ? tk->t[i + 4] : NULL;
        is_int(tk->t[i + 1], &l);
        char *a = addr_of(ip, port);
        int sh = proj_shard_of(p, cap, id ? id : a, a);
        free(a);
        if (sh < 0) {
            rt_err_set(err, RT_EINVAL, "%s: more than %d shards", src, MAX_SHARDS);
            return -1;
        }
        if (proj_assign(p, f, l, sh, src, err) < 0)
            return -1;
        i += 4;
        long x, y;
        while (i < tk->n && !(i + 1 < tk->n && is_int(tk->t[i], &x) && is_int(tk->t[i + 1], &y)))
            i++;
    }
    return 0;
}

/* Lines "FIRST-LAST NODE [HOST:PORT]" or "SLOT NODE [HOST:PORT]". */
static int map_from_lines(struct proj *p, size_t *cap, char *text, const char *src,
                          struct rt_err *err)
{
    size_t lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *w[4] = {0};
        int nw = 0;
        for (char *sv = NULL, *t = strtok_r(line, " \t\r", &sv); t;
             t = strtok_r(NULL, " \t\r", &sv))
            if (nw < 4)
                w[nw++] = t;
        if (!nw)
            continue;
        char *end;
        long f = strtol(w[0], &end, 10), l = f;
        if (end != w[0] && *end == '-')
            l = strtol(end + 1, &end, 10);
        if (nw < 2 || nw > 3 || end == w[0] || *end || !isdigit((unsigned char)w[0][0])) {
            rt_err_set(err, RT_EINVAL,
                       "%s: line %zu: expected 'FIRST-LAST NODE [HOST:PORT]' or 'SLOT NODE "
                       "[HOST:PORT]'",
                       src, lineno);
            return -1;
        }
        int sh = proj_shard_of(p, cap, w[1], nw == 3 ? w[2] : NULL);
        if (sh < 0) {
            rt_err_set(err, RT_EINVAL, "%s: more than %d shards", src, MAX_SHARDS);
            return -1;
        }
        if (proj_assign(p, f, l, sh, src, err) < 0) {
            rt_err_set(err, RT_EINVAL, "%s: line %zu: bad slot range '%s'", src, lineno, w[0]);
            return -1;
        }
    }
    return 0;
}

static char *read_file(const char *path, struct rt_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        rt_err_set(err, RT_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = 0, cap = 4096;
    char *b = xrealloc(NULL, cap);
    size_t k;
    while ((k = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n - 1 == 0) {
            if (cap > (64u << 20)) {
                fclose(f);
                free(b);
                rt_err_set(err, RT_EINVAL, "%s: larger than 64 MiB", path);
                return NULL;
            }
            cap *= 2;
            b = xrealloc(b, cap);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        rt_err_set(err, RT_EIO, "%s: read error", path);
        return NULL;
    }
    b[n] = 0;
    if (memchr(b, 0, n)) {
        free(b);
        rt_err_set(err, RT_EINVAL, "%s: binary data, not a slot map", path);
        return NULL;
    }
    return b;
}

static struct proj *proj_from_text(char *text, const char *src, struct rt_err *err)
{
    struct proj *p = proj_new(0);
    size_t cap = 0;
    int rc;
    const char *s = text;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '[') {
        json_error_t je;
        json_t *root = json_loads(s, 0, &je);
        if (!root || !json_is_array(root)) {
            rt_err_set(err, RT_EINVAL, "%s: line %d: not a JSON array: %s", src, je.line,
                       root ? "another JSON value" : je.text);
            json_decref(root);
            proj_free(p);
            return NULL;
        }
        rc = map_from_json(p, &cap, root, src, err);
        json_decref(root);
    } else {
        /* the first line decides between the lines format and redis-cli text */
        size_t fl = strcspn(s, "\n");
        char first[256];
        snprintf(first, sizeof first, "%.*s", (int)(fl < 255 ? fl : 255), s);
        int words = 0;
        for (char *sv = NULL, *t = strtok_r(first, " \t\r", &sv); t;
             t = strtok_r(NULL, " \t\r", &sv))
            words++;
        int redis_cli = words == 1 || strstr(s, "slots") || strstr(s, "(integer)");
        if (!redis_cli || *s == '#') {
            rc = map_from_lines(p, &cap, text, src, err);
        } else {
            struct toks tk = {0};
            toks_split(&tk, text);
            int shards = 0;
            for (size_t i = 0; i < tk.n && !shards; i++)
                shards = !strcmp(tk.t[i], "slots") || !strcmp(tk.t[i], "nodes");
            rc = shards ? map_from_shards_text(p, &cap, &tk, src, err)
                        : map_from_slots_text(p, &cap, &tk, src, err);
            free(tk.t);
        }
    }
    if (rc == 0 && p->n == 0) {
        rt_err_set(err, RT_EINVAL, "%s: no slot ranges", src);
        rc = -1;
    }
    if (rc < 0) {
        proj_free(p);
        return NULL;
    }
    return p;
}

static struct proj *proj_from_file(const char *path, struct rt_err *err)
{
    char *text = read_file(path, err);
    if (!text)
        return NULL;
    struct proj *p = proj_from_text(text, path, err);
    free(text);
    return p;
}

/* --target: the slot map of a live cluster, read as replay reads it (replay_topology_read:
 * CLUSTER SHARDS, CLUSTER SLOTS before 7.0; the same connection, TLS and AUTH): one shard
 * per primary serving slots, in the order of the topology. */
static struct proj *proj_from_target(const char *url, const char *user_opt, const char *pass_opt,
                                     const struct replay_tls *tls, struct rt_err *err)
{
    char full[1100];
    snprintf(full, sizeof full, "%s%s", strstr(url, "://") ? "" : "redis://", url);
    struct replay_opts o;
    memset(&o, 0, sizeof o);
    o.tls = *tls;
    o.cluster = 1;
    if (replay_target_parse(full, &o.target, err) != 0)
        return NULL;
    if (!o.target.user && user_opt)
        o.target.user = xstrdup(user_opt);
    if (!o.target.pass && pass_opt)
        o.target.pass = xstrdup(pass_opt);
    struct replay_topology topo;
    struct proj *p = NULL;
    if (replay_topology_read(&o, &topo, err) != 0)
        goto out;
    p = proj_new(0);
    size_t cap = 0;
    int *shard_of = xcalloc(topo.n ? topo.n : 1, sizeof *shard_of);
    for (size_t i = 0; i < topo.n; i++)
        shard_of[i] = -1;
    for (size_t slot = 0; slot < RT_KEY_SLOTS; slot++) {
        uint16_t nd = topo.owner[slot];
        if (nd >= topo.n)
            continue;
        if (shard_of[nd] < 0) {
            const struct replay_node *n = &topo.nodes[nd];
            shard_of[nd] = proj_shard_of(p, &cap, n->id[0] ? n->id : n->addr, n->addr);
            if (shard_of[nd] < 0) {
                rt_err_set(err, RT_EINVAL, "--target %s: more than %d shards", url, MAX_SHARDS);
                proj_free(p);
                p = NULL;
                break;
            }
        }
        p->owner[slot] = (uint16_t)shard_of[nd];
    }
    free(shard_of);
    if (p && p->n == 0) {
        rt_err_set(err, RT_EINVAL, "--target %s: the cluster serves no slots", url);
        proj_free(p);
        p = NULL;
    }
    replay_topology_free(&topo);
out:
    replay_target_clear(&o.target);
    return p;
}

/* ---- the pass over the trace ------------------------------------------------------------ */

struct key {
    uint64_t h;
    uint64_t koff;
    uint32_t klen;
    uint16_t slot;
    uint8_t vsrc; /* value size from: 0 nothing, 1 a read's reply, 2 a write */
    uint64_t ops, bytes, vsize;
};

struct keytab {
    struct key *e;
    size_t n, cap;
    uint32_t *idx; /* entry + 1, 0 empty */
    size_t mask;
    char *arena;
    size_t alen, acap;
};

static void keytab_init(struct keytab *t)
{
    memset(t, 0, sizeof *t);
    t->cap = 1024;
    t->e = xrealloc(NULL, t->cap * sizeof *t->e);
    t->idx = xcalloc(4096, sizeof *t->idx);
    t->mask = 4095;
}

static void keytab_free(struct keytab *t)
{
    free(t->e);
    free(t->idx);
    free(t->arena);
}

static const char *key_bytes(const struct keytab *t, const struct key *k)
{
    return t->arena + k->koff;
}

static void keytab_grow(struct keytab *t)
{
    size_t slots = (t->mask + 1) * 2;
    uint32_t *idx = xcalloc(slots, sizeof *idx);
    for (size_t i = 0; i < t->n; i++) {
        size_t p = t->e[i].h & (slots - 1);
        while (idx[p])
            p = (p + 1) & (slots - 1);
        idx[p] = (uint32_t)i + 1;
    }
    free(t->idx);
    t->idx = idx;
    t->mask = slots - 1;
}

/* The entry of key `k` whose trace_hash() is `h`, added when new. */
static uint32_t keytab_get(struct keytab *t, uint64_t h, const char *k, size_t len)
{
    size_t p = h & t->mask;
    for (uint32_t v; (v = t->idx[p]) != 0; p = (p + 1) & t->mask) {
        struct key *e = &t->e[v - 1];
        if (e->h == h && e->klen == len && memcmp(key_bytes(t, e), k, len) == 0)
            return v - 1;
    }
    if (t->n >= UINT32_MAX - 1 || len > UINT32_MAX)
        oom();
    if (t->n == t->cap) {
        t->cap *= 2;
        t->e = xrealloc(t->e, t->cap * sizeof *t->e);
    }
    if (t->alen + len > t->acap) {
        size_t c = t->acap ? t->acap * 2 : 1 << 16;
        while (c < t->alen + len)
            c *= 2;
        t->arena = xrealloc(t->arena, c);
        t->acap = c;
    }
    memcpy(t->arena + t->alen, k, len);
    uint32_t ei = (uint32_t)t->n++;
    struct key *e = &t->e[ei];
    memset(e, 0, sizeof *e);
    e->h = h;
    e->koff = t->alen;
    e->klen = (uint32_t)len;
    e->slot = rt_key_slot(k, len);
    t->alen += len;
    t->idx[p] = ei + 1;
    if (t->n * 2 > t->mask + 1)
        keytab_grow(t);
    return ei;
}

/* What a request waiting for its reply keeps: whether its reply's bytes are a keyed request's
 * (then where its key entries are in the walk's ring, one uint32_t each) or a keyless one's. */
enum { SH_NONE = 0, SH_KEYLESS, SH_KEYED };
struct sh_tag {
    uint64_t ref;
    uint32_t nref;
    uint16_t slot;     /* the slot of its first key */
    uint8_t kind;      /* SH_* (SH_NONE: skipped, malformed, or no references kept) */
    uint8_t read_size; /* a single-key read whose reply sizes the value */
};

struct slotc {
    uint64_t ops, bytes;
};

struct sh {
    struct keytab keys;
    struct slotc slots[RT_KEY_SLOTS];
    struct rt_walk_refs *refs;
    uint32_t *vpos, *kidx;
    size_t pos_cap;
    struct proj **proj;
    size_t nproj;
    uint64_t t0;
    int have_t0;
    uint64_t nsec; /* seconds spanned: last request's second + 1 */
    uint64_t late; /* requests beyond MAX_SECONDS (no per-second count) */
    uint64_t requests, keyed, keyless, skipped, malformed, cross_slot, keyless_bytes, key_ops;
    uint64_t req_bytes, reply_bytes, reply_unattr;
};

static int name_is(const struct rt_cmd *c, const char *const *names)
{
    for (; *names; names++)
        if (!strcmp(c->name, *names))
            return 1;
    return 0;
}

static const char *const replace_cmds[] = {"set",  "setex",  "psetex",  "setnx", "getset",
                                           "mset", "msetnx", "restore", NULL};
static const char *const delete_cmds[] = {"del", "unlink", "getdel", NULL};

/* The value sizes a write leaves: replaced, added to, or emptied. */
static void note_write(struct sh *s, const struct rt_cmd *c, const struct trace_request *rq,
                       const uint32_t *kidx, size_t nk)
{
    if (name_is(c, delete_cmds)) {
        for (size_t i = 0; i < nk; i++) {
            s->keys.e[kidx[i]].vsize = 0;
            s->keys.e[kidx[i]].vsrc = 2;
        }
        return;
    }
    size_t nv = 0;
    if (rt_cmd_values(c, rq->argc, rq->argv, rq->argvlen, s->vpos, s->pos_cap, &nv) < 0 || !nv ||
        nv > s->pos_cap)
        return;
    int replace = name_is(c, replace_cmds);
    if (nv == nk) { /* MSET: each key its value */
        for (size_t i = 0; i < nk; i++) {
            struct key *k = &s->keys.e[kidx[i]];
            uint64_t v = rq->argvlen[s->vpos[i]];
            k->vsize = replace || k->vsrc != 2 ? v : k->vsize + v;
            k->vsrc = 2;
        }
    } else if (nk == 1) {
        struct key *k = &s->keys.e[kidx[0]];
        uint64_t v = 0;
        for (size_t i = 0; i < nv; i++)
            v += rq->argvlen[s->vpos[i]];
        k->vsize = replace || k->vsrc != 2 ? v : k->vsize + v;
        k->vsrc = 2;
    }
}

static void count_second(struct sh *s, uint64_t ts, uint16_t slot)
{
    if (!s->have_t0) {
        s->t0 = ts;
        s->have_t0 = 1;
    }
    uint64_t sec = ts > s->t0 ? (ts - s->t0) / 1000000000u : 0;
    if (sec >= MAX_SECONDS) {
        s->late++;
        return;
    }
    if (sec + 1 > s->nsec)
        s->nsec = sec + 1;
    for (size_t i = 0; i < s->nproj; i++) {
        struct proj *p = s->proj[i];
        uint16_t sh = p->owner[slot];
        if (sh == UNASSIGNED)
            continue;
        if (sec >= p->nsec) {
            size_t ns = p->nsec ? p->nsec : 64;
            while (ns <= sec)
                ns *= 2;
            if (ns > MAX_SECONDS)
                ns = MAX_SECONDS;
            p->persec = xrealloc(p->persec, ns * p->n * sizeof *p->persec);
            memset(p->persec + p->nsec * p->n, 0, (ns - p->nsec) * p->n * sizeof *p->persec);
            p->nsec = ns;
        }
        p->persec[sec * p->n + sh]++;
    }
}

static void sh_request(void *ctx, struct rt_walk *w, const struct rt_walk_req *q, void *tag)
{
    struct sh *s = ctx;
    struct sh_tag *t = tag;
    const struct trace_request *rq = q->rq;
    (void)w;
    s->requests++;
    if (q->kind == RT_WALK_MALFORMED) { /* raw bytes the server rejected: no keys */
        s->malformed++;
        return;
    }
    if (q->kind != RT_WALK_CMD || q->keys_rc != 0) { /* unknown command, or keys */
        s->skipped++;
        return;
    }
    const struct rt_cmd *c = q->cmd;
    size_t n = q->nkeys;
    uint64_t rb = q->wire;
    if (n == 0) {
        s->keyless++;
        s->keyless_bytes += rb;
        t->kind = SH_KEYLESS;
        return;
    }
    if (n > s->pos_cap || rq->argc > s->pos_cap) {
        s->pos_cap = (n > rq->argc ? n : rq->argc) * 2;
        s->vpos = xrealloc(s->vpos, s->pos_cap * sizeof *s->vpos);
        s->kidx = xrealloc(s->kidx, s->pos_cap * sizeof *s->kidx);
    }
    s->keyed++;
    s->key_ops += n;
    s->req_bytes += rb;
    /* references for its reply to follow (none when no reply is expected) */
    uint64_t ref = q->waits ? rt_walk_refs_take(s->refs, n * sizeof(uint32_t)) : RT_WALK_NOREFS;
    uint32_t *refs = ref != RT_WALK_NOREFS ? rt_walk_refs_at(s->refs, ref) : NULL;
    uint64_t share = rb / n, extra = rb % n;
    uint16_t slot = 0;
    int cross = 0;
    uint32_t *kidx = s->kidx; /* the request's key entries, for note_write() */
    for (size_t i = 0; i < n; i++) {
        const char *k = rq->argv[q->keys[i]];
        size_t kl = rq->argvlen[q->keys[i]];
        uint32_t ki = keytab_get(&s->keys, q->key_hash[i], k, kl);
        struct key *ke = &s->keys.e[ki];
        kidx[i] = ki;
        ke->ops++;
        ke->bytes += share + (i < extra);
        if (i == 0)
            slot = ke->slot;
        else if (ke->slot != slot)
            cross = 1;
        if (refs)
            refs[i] = ki;
    }
    s->cross_slot += (uint64_t)cross;
    if (refs) {
        t->kind = SH_KEYED;
        t->ref = ref;
        t->nref = (uint32_t)n;
        t->slot = slot;
        t->read_size = n == 1 && (c->flags & RT_CMD_READONLY) && !(c->flags & RT_CMD_WRITE);
    }
    s->slots[slot].ops++;
    s->slots[slot].bytes += rb;
    if (c->flags & RT_CMD_WRITE)
        note_write(s, c, rq, kidx, n);
    count_second(s, q->ev->ts, slot);
}

static void sh_reply(void *ctx, struct rt_walk *w, const struct rt_walk_reply *p, void *tag)
{
    struct sh *s = ctx;
    const struct trace_reply *rp = p->rp;
    const struct sh_tag *t = tag;
    (void)w;
    if (p->pairing == RT_WALK_UNPAIRED)
        return;
    if (p->pairing == RT_WALK_LOST || t->kind == SH_NONE) {
        s->reply_unattr += rp->len;
        return;
    }
    if (t->kind == SH_KEYLESS) {
        s->keyless_bytes += rp->len;
        return;
    }
    if (!rt_walk_refs_valid(s->refs, t->ref)) {
        s->reply_unattr += rp->len; /* its key references were overwritten */
        return;
    }
    const uint32_t *refs = rt_walk_refs_at(s->refs, t->ref);
    s->reply_bytes += rp->len;
    s->slots[t->slot].bytes += rp->len;
    uint64_t share = rp->len / t->nref, extra = rp->len % t->nref;
    for (uint32_t i = 0; i < t->nref; i++)
        s->keys.e[refs[i]].bytes += share + (i < extra);
    if (t->read_size) {
        struct key *k = &s->keys.e[refs[0]];
        if (k->vsrc != 2) {
            if (rp->rtype == TRACE_R_BULK || rp->rtype == TRACE_R_VERBATIM) {
                k->vsize = rp->size;
                k->vsrc = 1;
            } else if (rp->rtype == TRACE_R_ARRAY || rp->rtype == TRACE_R_MAP ||
                       rp->rtype == TRACE_R_SET) {
                k->vsize = rp->len;
                k->vsrc = 1;
            }
        }
    }
}

/* The analysis on `w` of the projections `proj` (borrowed until sh_free). */
static struct sh *sh_new(struct rt_walk *w, struct proj **proj, size_t nproj)
{
    struct sh *s = xcalloc(1, sizeof *s);
    keytab_init(&s->keys);
    s->proj = proj;
    s->nproj = nproj;
    s->refs = rt_walk_refs(w);
    struct rt_walk_analysis a = {.ctx = s,
                                 .needs = RT_WALK_NEED_WIRE | RT_WALK_NEED_HASH,
                                 .tag_size = sizeof(struct sh_tag),
                                 .on_request = sh_request,
                                 .on_reply = sh_reply};
    if (rt_walk_add(w, &a) < 0)
        oom(); /* the walk has room for every analysis of one command */
    return s;
}

static void sh_free(struct sh *s)
{
    if (!s)
        return;
    keytab_free(&s->keys);
    free(s->vpos);
    free(s->kidx);
    free(s);
}

/* ---- per-shard results ------------------------------------------------------------------ */

struct shard_res {
    uint64_t ops, bytes, keys, memory, peak, slots;
};

struct move {
    size_t from, to;
    int reshard; /* 1: the lowest slots of `from` (a reshard line); 0: chosen slots */
    uint64_t ops;
    uint16_t *slots; /* ascending for reshard moves, in the order chosen otherwise */
    size_t nslots, cap;
};

struct result {
    struct proj *p;
    struct shard_res *r;
    uint64_t total, unassigned;
    size_t hottest;
    double imbalance;
    /* --suggest */
    int suggested;
    struct move *moves;
    size_t nmoves;
    double imbalance_after;
    uint16_t *owner_after;
    int reached;
};

static double imbalance_of(const uint64_t *ops, size_t n, uint64_t total, size_t *hot)
{
    size_t h = 0;
    for (size_t i = 1; i < n; i++)
        if (ops[i] > ops[h])
            h = i;
    if (hot)
        *hot = h;
    if (!total || !n)
        return 0;
    return (double)ops[h] * (double)n / (double)total;
}

static void compute(const struct sh *s, struct result *res)
{
    const struct proj *p = res->p;
    res->r = xcalloc(p->n, sizeof *res->r);
    for (size_t sl = 0; sl < RT_KEY_SLOTS; sl++) {
        uint16_t o = p->owner[sl];
        if (o == UNASSIGNED) {
            res->unassigned += s->slots[sl].ops;
            continue;
        }
        res->r[o].ops += s->slots[sl].ops;
        res->r[o].bytes += s->slots[sl].bytes;
        res->r[o].slots++;
        res->total += s->slots[sl].ops;
    }
    for (size_t i = 0; i < s->keys.n; i++) {
        const struct key *k = &s->keys.e[i];
        uint16_t o = p->owner[k->slot];
        if (o == UNASSIGNED)
            continue;
        res->r[o].keys++;
        res->r[o].memory += k->klen + k->vsize + KEY_OVERHEAD;
    }
    for (size_t sec = 0; sec < s->nsec && sec < p->nsec; sec++)
        for (size_t j = 0; j < p->n; j++)
            if (p->persec[sec * p->n + j] > res->r[j].peak)
                res->r[j].peak = p->persec[sec * p->n + j];
    uint64_t *ops = xcalloc(p->n, sizeof *ops);
    for (size_t j = 0; j < p->n; j++)
        ops[j] = res->r[j].ops;
    res->imbalance = imbalance_of(ops, p->n, res->total, &res->hottest);
    free(ops);
}

static int cmp_u16(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

static struct move *move_add(struct result *res, size_t *cap, size_t from, size_t to, int reshard)
{
    if (res->nmoves == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        res->moves = xrealloc(res->moves, *cap * sizeof *res->moves);
    }
    struct move *mv = &res->moves[res->nmoves++];
    memset(mv, 0, sizeof *mv);
    mv->from = from;
    mv->to = to;
    mv->reshard = reshard;
    return mv;
}

static void move_slot(struct move *mv, uint16_t *owner, uint16_t slot, uint64_t ops)
{
    if (mv->nslots == mv->cap) {
        mv->cap = mv->cap ? mv->cap * 2 : 16;
        mv->slots = xrealloc(mv->slots, mv->cap * sizeof *mv->slots);
    }
    mv->slots[mv->nslots++] = slot;
    mv->ops += ops;
    owner[slot] = (uint16_t)mv->to;
}

/* The prefix step: the k lowest-numbered slots of `hot` (what `redis-cli --cluster reshard`
 * takes from a source) with k minimising max(hot - moved, cold + moved). @return k, 0 when
 * no prefix lowers the pair's maximum. */
static size_t best_prefix(const struct sh *s, const uint16_t *owner, const uint64_t *ops,
                          size_t hot, size_t cold)
{
    uint64_t m = 0, best_peak = ops[hot];
    size_t best_k = 0, k = 0;
    for (size_t sl = 0; sl < RT_KEY_SLOTS; sl++) {
        if (owner[sl] != hot)
            continue;
        m += s->slots[sl].ops;
        k++;
        if (m > ops[hot])
            break;
        uint64_t a = ops[hot] - m, b = ops[cold] + m, peak = a > b ? a : b;
        if (peak < best_peak) {
            best_peak = peak;
            best_k = k;
        }
        if (b >= ops[hot])
            break;
    }
    return best_k;
}

/* The single-slot step: the slot of `hot` whose move gives the lowest max(hot - x, cold + x).
 * @return the slot, or -1 when none lowers it. */
static long best_slot(const struct sh *s, const uint16_t *owner, const uint64_t *ops, size_t hot,
                      size_t cold)
{
    long best = -1;
    uint64_t best_peak = ops[hot];
    for (size_t sl = 0; sl < RT_KEY_SLOTS; sl++) {
        uint64_t x = s->slots[sl].ops;
        if (owner[sl] != hot || !x)
            continue;
        uint64_t a = ops[hot] - x, b = ops[cold] + x, peak = a > b ? a : b;
        if (peak < best_peak) {
            best_peak = peak;
            best = (long)sl;
        }
    }
    return best;
}

/* --suggest: while the imbalance is over `target`, move load from the hottest shard to the
 * coldest. First with "reshard" moves: the lowest-numbered slots of the hottest shard, which
 * is exactly what `redis-cli --cluster reshard --cluster-from HOT --cluster-to COLD` takes,
 * so those lines can be run as printed. When no such prefix helps (a hot slot sits at the
 * start of the shard's range), with "setslot" moves of chosen single slots, which reshard
 * cannot pick: they are listed for CLUSTER SETSLOT. */
static void suggest(const struct sh *s, struct result *res, double target)
{
    const struct proj *p = res->p;
    size_t n = p->n, cap = 0;
    res->suggested = 1;
    res->owner_after = xrealloc(NULL, sizeof p->owner);
    memcpy(res->owner_after, p->owner, sizeof p->owner);
    uint64_t *ops = xcalloc(n, sizeof *ops);
    for (size_t j = 0; j < n; j++)
        ops[j] = res->r[j].ops;
    /* no move lowers the hottest shard below its hottest slot: aim at the target, or within
     * the same tolerance of that slot when it alone is over the target */
    uint64_t maxslot = 0;
    for (size_t sl = 0; sl < RT_KEY_SLOTS; sl++)
        if (p->owner[sl] != UNASSIGNED && s->slots[sl].ops > maxslot)
            maxslot = s->slots[sl].ops;
    double fair = n ? (double)res->total / (double)n : 0;
    double goal = target * (fair > (double)maxslot ? fair : (double)maxslot);
    for (int iter = 0; iter < 100000 && n > 1; iter++) {
        size_t hot, cold = 0;
        imbalance_of(ops, n, res->total, &hot);
        if ((double)ops[hot] <= goal)
            break;
        for (size_t j = 1; j < n; j++)
            if (ops[j] < ops[cold])
                cold = j;
        size_t k = best_prefix(s, res->owner_after, ops, hot, cold);
        struct move *last = res->nmoves ? &res->moves[res->nmoves - 1] : NULL;
        if (k) {
            struct move *mv = move_add(res, &cap, hot, cold, 1);
            for (size_t sl = 0; sl < RT_KEY_SLOTS && mv->nslots < k; sl++)
                if (res->owner_after[sl] == hot)
                    move_slot(mv, res->owner_after, (uint16_t)sl, s->slots[sl].ops);
            ops[hot] -= mv->ops;
            ops[cold] += mv->ops;
            continue;
        }
        long sl = best_slot(s, res->owner_after, ops, hot, cold);
        if (sl < 0)
            break; /* one slot alone outweighs the gap: only splitting its keys helps */
        struct move *mv = last && !last->reshard && last->from == hot && last->to == cold
                              ? last
                              : move_add(res, &cap, hot, cold, 0);
        move_slot(mv, res->owner_after, (uint16_t)sl, s->slots[sl].ops);
        ops[hot] -= s->slots[sl].ops;
        ops[cold] += s->slots[sl].ops;
    }
    for (size_t i = 0; i < res->nmoves; i++)
        qsort(res->moves[i].slots, res->moves[i].nslots, sizeof *res->moves[i].slots, cmp_u16);
    res->imbalance_after = imbalance_of(ops, n, res->total, NULL);
    res->reached = res->imbalance_after <= target;
    free(ops);
}

static void result_free(struct result *res)
{
    for (size_t i = 0; i < res->nmoves; i++)
        free(res->moves[i].slots);
    free(res->moves);
    free(res->owner_after);
    free(res->r);
}

/* ---- output --------------------------------------------------------------------------------- */

/* The slot ranges of `shard` in an owner map, as [[first, last], ...]. */
static json_t *ranges_json(const uint16_t *owner, size_t shard)
{
    json_t *a = json_array();
    for (size_t sl = 0; sl < RT_KEY_SLOTS;) {
        if (owner[sl] != shard) {
            sl++;
            continue;
        }
        size_t e = sl;
        while (e + 1 < RT_KEY_SLOTS && owner[e + 1] == shard)
            e++;
        json_t *r = json_array();
        json_array_append_new(r, json_integer((json_int_t)sl));
        json_array_append_new(r, json_integer((json_int_t)e));
        json_array_append_new(a, r);
        sl = e + 1;
    }
    return a;
}

static void print_ranges(FILE *out, const uint16_t *slots, size_t n, size_t max)
{
    size_t shown = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && slots[j + 1] == slots[j] + 1)
            j++;
        if (shown == max) {
            fprintf(out, " ...");
            return;
        }
        if (j > i)
            fprintf(out, "%s%u-%u", shown ? "," : "", slots[i], slots[j]);
        else
            fprintf(out, "%s%u", shown ? "," : "", slots[i]);
        shown++;
        i = j + 1;
    }
}

static const struct keytab *sort_keys;
static const struct sh *sort_sh;

static int cmp_u64desc(uint64_t a, uint64_t b)
{
    return a > b ? -1 : a < b;
}

static int cmp_key(const void *pa, const void *pb)
{
    const struct key *a = &sort_keys->e[*(const uint32_t *)pa];
    const struct key *b = &sort_keys->e[*(const uint32_t *)pb];
    int c = cmp_u64desc(a->ops, b->ops);
    if (!c)
        c = cmp_u64desc(a->bytes, b->bytes);
    if (c)
        return c;
    size_t m = a->klen < b->klen ? a->klen : b->klen;
    c = memcmp(key_bytes(sort_keys, a), key_bytes(sort_keys, b), m);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

static int cmp_slot(const void *pa, const void *pb)
{
    uint16_t x = *(const uint16_t *)pa, y = *(const uint16_t *)pb;
    int c = cmp_u64desc(sort_sh->slots[x].ops, sort_sh->slots[y].ops);
    return c ? c : (x > y) - (x < y);
}

/* Keys of shard `shard` (or of every shard when shard == SIZE_MAX) by ops, at most top. */
static uint32_t *top_keys(const struct sh *s, const uint16_t *owner, size_t shard, size_t top,
                          size_t *nout)
{
    uint32_t *ix = xrealloc(NULL, (s->keys.n ? s->keys.n : 1) * sizeof *ix);
    size_t n = 0;
    for (size_t i = 0; i < s->keys.n; i++)
        if (shard == SIZE_MAX || owner[s->keys.e[i].slot] == shard)
            ix[n++] = (uint32_t)i;
    sort_keys = &s->keys;
    qsort(ix, n, sizeof *ix, cmp_key);
    *nout = n < top ? n : top;
    return ix;
}

static size_t top_slots(const struct sh *s, const uint16_t *owner, size_t shard, size_t top,
                        uint16_t *ix)
{
    size_t n = 0;
    for (size_t i = 0; i < RT_KEY_SLOTS; i++)
        if (owner[i] == shard && s->slots[i].ops)
            ix[n++] = (uint16_t)i;
    sort_sh = s;
    qsort(ix, n, sizeof *ix, cmp_slot);
    return n < top ? n : top;
}

static double secs_of(const struct sh *s)
{
    return s->nsec ? (double)s->nsec : 1.0;
}

static json_t *key_json(const struct sh *s, const struct key *k)
{
    json_t *o = json_object();
    json_object_set_new(o, "key", rt_json_bytes(key_bytes(&s->keys, k), k->klen));
    json_object_set_new(o, "ops", rt_json_u64(k->ops));
    json_object_set_new(o, "bytes", rt_json_u64(k->bytes));
    json_object_set_new(o, "slot", json_integer(k->slot));
    return o;
}

static json_t *shard_name_json(const struct proj *p, size_t i)
{
    return p->node[i] ? json_string(p->node[i]) : json_null();
}

static json_t *result_json(const struct sh *s, const struct result *res, size_t top,
                           const char *source)
{
    const struct proj *p = res->p;
    json_t *o = json_object(), *arr = json_array();
    double secs = secs_of(s);
    for (size_t i = 0; i < p->n; i++) {
        const struct shard_res *r = &res->r[i];
        json_t *so = json_object();
        json_object_set_new(so, "shard", json_integer((json_int_t)i));
        json_object_set_new(so, "slots", ranges_json(p->owner, i));
        json_object_set_new(so, "ops", rt_json_u64(r->ops));
        json_object_set_new(so, "keys", rt_json_u64(r->keys));
        json_object_set_new(so, "bytes", rt_json_u64(r->bytes));
        json_object_set_new(so, "peak_ops_per_s", rt_json_u64(r->peak));
        json_object_set_new(so, "mean_ops_per_s", json_real((double)r->ops / secs));
        json_object_set_new(so, "bytes_per_s", json_real((double)r->bytes / secs));
        json_object_set_new(so, "memory", rt_json_u64(r->memory));
        json_object_set_new(so, "slot_count", rt_json_u64(r->slots));
        json_object_set_new(so, "node", shard_name_json(p, i));
        json_object_set_new(so, "addr", p->addr[i] ? json_string(p->addr[i]) : json_null());
        json_array_append_new(arr, so);
    }
    json_object_set_new(o, "shard_count", json_integer((json_int_t)p->n));
    json_object_set_new(o, "source", json_string(source));
    json_object_set_new(o, "shards", arr);
    json_object_set_new(o, "imbalance", res->total ? json_real(res->imbalance) : json_null());
    json_object_set_new(o, "hottest", json_integer((json_int_t)res->hottest));
    json_object_set_new(o, "ops", rt_json_u64(res->total));
    json_object_set_new(o, "unassigned_ops", rt_json_u64(res->unassigned));
    double fair = p->n ? (double)res->total / (double)p->n : 0;
    json_object_set_new(o, "fair_share", json_real(fair));
    if (top) {
        size_t n;
        uint32_t *ix = top_keys(s, p->owner, res->hottest, top, &n);
        json_t *ka = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(ka, key_json(s, &s->keys.e[ix[i]]));
        free(ix);
        json_object_set_new(o, "hottest_top_keys", ka);
        uint16_t *sx = xrealloc(NULL, RT_KEY_SLOTS * sizeof *sx);
        n = top_slots(s, p->owner, res->hottest, top, sx);
        json_t *sa = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "slot", json_integer(sx[i]));
            json_object_set_new(e, "ops", rt_json_u64(s->slots[sx[i]].ops));
            json_object_set_new(e, "bytes", rt_json_u64(s->slots[sx[i]].bytes));
            json_array_append_new(sa, e);
        }
        free(sx);
        json_object_set_new(o, "hottest_top_slots", sa);
    }
    /* keys whose own ops exceed a shard's fair share */
    json_t *over = json_array();
    size_t n;
    uint32_t *ix = top_keys(s, p->owner, SIZE_MAX, SIZE_MAX, &n);
    for (size_t i = 0; i < n && res->total; i++) {
        const struct key *k = &s->keys.e[ix[i]];
        if ((double)k->ops <= fair)
            break;
        json_t *e = key_json(s, k);
        json_object_set_new(e, "share_of_fair", json_real((double)k->ops / fair));
        json_array_append_new(over, e);
        if (json_array_size(over) >= 100)
            break;
    }
    free(ix);
    json_object_set_new(o, "keys_over_fair_share", over);
    if (res->suggested) {
        json_t *ma = json_array();
        for (size_t i = 0; i < res->nmoves; i++) {
            const struct move *mv = &res->moves[i];
            json_t *e = json_object();
            json_object_set_new(e, "from", json_integer((json_int_t)mv->from));
            json_object_set_new(e, "to", json_integer((json_int_t)mv->to));
            json_object_set_new(e, "from_node", shard_name_json(p, mv->from));
            json_object_set_new(e, "to_node", shard_name_json(p, mv->to));
            json_object_set_new(e, "count", rt_json_u64(mv->nslots));
            json_object_set_new(e, "kind", json_string(mv->reshard ? "reshard" : "setslot"));
            json_object_set_new(e, "ops", rt_json_u64(mv->ops));
            json_t *sl = json_array();
            for (size_t j = 0; j < mv->nslots;) {
                size_t k = j;
                while (k + 1 < mv->nslots && mv->slots[k + 1] == mv->slots[k] + 1)
                    k++;
                json_t *r = json_array();
                json_array_append_new(r, json_integer(mv->slots[j]));
                json_array_append_new(r, json_integer(mv->slots[k]));
                json_array_append_new(sl, r);
                j = k + 1;
            }
            json_object_set_new(e, "slots", sl);
            json_array_append_new(ma, e);
        }
        json_object_set_new(o, "moves", ma);
        json_object_set_new(o, "imbalance_after",
                            res->total ? json_real(res->imbalance_after) : json_null());
        json_object_set_new(o, "target_reached", json_boolean(res->reached));
    }
    return o;
}

static void totals_json(json_t *o, const struct sh *s, const char *path, const char *damage,
                        int interrupted)
{
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "requests", rt_json_u64(s->requests));
    json_object_set_new(o, "keyed_requests", rt_json_u64(s->keyed));
    json_object_set_new(o, "keyless_requests", rt_json_u64(s->keyless));
    json_object_set_new(o, "skipped_requests", rt_json_u64(s->skipped));
    json_object_set_new(o, "malformed_requests", rt_json_u64(s->malformed));
    json_object_set_new(o, "cross_slot_requests", rt_json_u64(s->cross_slot));
    json_object_set_new(o, "keyless_bytes", rt_json_u64(s->keyless_bytes));
    json_object_set_new(o, "distinct_keys", rt_json_u64(s->keys.n));
    json_object_set_new(o, "span_s", rt_json_u64(s->nsec));
    json_object_set_new(o, "late_requests", rt_json_u64(s->late));
    json_object_set_new(o, "damage", damage ? json_string(damage) : json_null());
    json_object_set_new(o, "interrupted", json_boolean(interrupted));
}

/* "-h HOST -p PORT" of an address "host:port" (placeholders when unknown). */
static void host_opts(const char *addr, char *b, size_t cap)
{
    const char *c = addr ? strrchr(addr, ':') : NULL;
    if (c)
        snprintf(b, cap, "-h %.*s -p %s", (int)(c - addr), addr, c + 1);
    else
        snprintf(b, cap, "-h HOST -p PORT");
}

/* The node a reshard line names: its id, else "shardN". */
static void node_label(const struct proj *p, size_t i, char *b, size_t cap)
{
    if (p->node[i])
        snprintf(b, cap, "%s", p->node[i]);
    else
        snprintf(b, cap, "<shard%zu>", i);
}

static void print_result(const struct sh *s, const struct result *res, size_t top,
                         const char *source)
{
    const struct proj *p = res->p;
    double secs = secs_of(s);
    char a[32], b[32], m[32];
    printf("\n== %zu shards (%s)", p->n, source);
    if (res->total)
        printf(": imbalance %.3f (hottest shard %zu: %.1f%% of %llu ops; fair share %.1f%%)\n",
               res->imbalance, res->hottest,
               100.0 * (double)res->r[res->hottest].ops / (double)res->total,
               (unsigned long long)res->total, 100.0 / (double)p->n);
    else
        printf(": no keyed requests\n");
    if (res->unassigned)
        printf("   %llu ops on slots no shard serves\n", (unsigned long long)res->unassigned);
    printf("%5s  %-24s %10s %10s %10s %10s %10s %10s %10s\n", "shard", "slots", "ops", "ops/s",
           "peak/s", "bytes", "bytes/s", "keys", "memory");
    for (size_t i = 0; i < p->n; i++) {
        const struct shard_res *r = &res->r[i];
        char rng[64] = "";
        FILE *f = fmemopen(rng, sizeof rng - 1, "w");
        if (f) {
            uint16_t *sl = xrealloc(NULL, RT_KEY_SLOTS * sizeof *sl);
            size_t ns = 0;
            for (size_t k = 0; k < RT_KEY_SLOTS; k++)
                if (p->owner[k] == i)
                    sl[ns++] = (uint16_t)k;
            if (!ns)
                fprintf(f, "(none)");
            print_ranges(f, sl, ns, 2);
            fclose(f);
            free(sl);
        }
        printf("%5zu%c %-24s %10llu %10.1f %10llu %10s %10s %10llu %10s\n", i,
               i == res->hottest && res->total ? '*' : ' ', rng, (unsigned long long)r->ops,
               (double)r->ops / secs, (unsigned long long)r->peak,
               rt_fmt_bytes(r->bytes, a, sizeof a),
               rt_fmt_bytes((uint64_t)((double)r->bytes / secs), b, sizeof b),
               (unsigned long long)r->keys, rt_fmt_bytes(r->memory, m, sizeof m));
        if (p->node[i])
            printf("       node %s%s%s\n", p->node[i], p->addr[i] ? " at " : "",
                   p->addr[i] ? p->addr[i] : "");
    }
    if (!res->total)
        return;
    size_t n;
    uint32_t *ix = top_keys(s, p->owner, res->hottest, top, &n);
    if (n)
        printf("   what makes shard %zu hot: top keys (ops: requests naming the key)\n",
               res->hottest);
    for (size_t i = 0; i < n; i++) {
        const struct key *k = &s->keys.e[ix[i]];
        printf("     ");
        rt_quote(stdout, key_bytes(&s->keys, k), k->klen, 60);
        printf(" %llu ops (%.1f%% of the shard), slot %u\n", (unsigned long long)k->ops,
               100.0 * (double)k->ops / (double)res->r[res->hottest].ops, k->slot);
    }
    free(ix);
    uint16_t *sx = xrealloc(NULL, RT_KEY_SLOTS * sizeof *sx);
    n = top_slots(s, p->owner, res->hottest, top, sx);
    if (n) {
        printf("   top slots of shard %zu:", res->hottest);
        for (size_t i = 0; i < n; i++)
            printf("%s %u (%llu ops)", i ? "," : "", sx[i],
                   (unsigned long long)s->slots[sx[i]].ops);
        putchar('\n');
    }
    free(sx);
    double fair = (double)res->total / (double)p->n;
    ix = top_keys(s, p->owner, SIZE_MAX, SIZE_MAX, &n);
    size_t over = 0;
    for (size_t i = 0; i < n && (double)s->keys.e[ix[i]].ops > fair; i++) {
        const struct key *k = &s->keys.e[ix[i]];
        if (over++ == 0)
            printf("   keys over a shard's fair share (%.0f ops): only splitting them helps:\n",
                   fair);
        if (over > 10) {
            printf("     ...\n");
            break;
        }
        printf("     ");
        rt_quote(stdout, key_bytes(&s->keys, k), k->klen, 60);
        printf(" %llu ops = %.2f x the fair share (slot %u)\n", (unsigned long long)k->ops,
               (double)k->ops / fair, k->slot);
    }
    free(ix);
    if (!res->suggested)
        return;
    if (!res->nmoves) {
        printf("   suggest: %s\n", res->reached ? "already within the target imbalance"
                                                : "no move lowers the hottest shard (one slot "
                                                  "alone outweighs the gap)");
        return;
    }
    printf("   suggest: %zu moves, imbalance %.3f -> %.3f%s; run in this order:\n", res->nmoves,
           res->imbalance, res->imbalance_after,
           res->reached ? "" : " (target not reached: one slot alone is over it)");
    const char *seed = NULL;
    for (size_t i = 0; i < p->n && !seed; i++)
        seed = p->addr[i];
    for (size_t i = 0; i < res->nmoves; i++) {
        const struct move *mv = &res->moves[i];
        char fl[128], tl[128];
        node_label(p, mv->from, fl, sizeof fl);
        node_label(p, mv->to, tl, sizeof tl);
        if (mv->reshard) {
            printf("   redis-cli --cluster reshard %s --cluster-from %s --cluster-to %s "
                   "--cluster-slots %zu --cluster-yes\n",
                   seed ? seed : "HOST:PORT", fl, tl, mv->nslots);
            printf("     # shard %zu -> %zu, slots ", mv->from, mv->to);
            print_ranges(stdout, mv->slots, mv->nslots, 20);
            printf(" (%llu ops)\n", (unsigned long long)mv->ops);
            continue;
        }
        printf("   # shard %zu -> %zu, slots ", mv->from, mv->to);
        print_ranges(stdout, mv->slots, mv->nslots, 20);
        printf(" (%llu ops): `--cluster reshard` cannot choose these slots; for each:\n",
               (unsigned long long)mv->ops);
        char src[300], dst[300];
        host_opts(p->addr[mv->from], src, sizeof src);
        host_opts(p->addr[mv->to], dst, sizeof dst);
        for (size_t j = 0; j < mv->nslots && j < 10; j++) {
            unsigned sl = mv->slots[j];
            printf("   redis-cli %s CLUSTER SETSLOT %u IMPORTING %s\n", dst, sl, fl);
            printf("   redis-cli %s CLUSTER SETSLOT %u MIGRATING %s\n", src, sl, tl);
            printf("     # then MIGRATE the keys of CLUSTER GETKEYSINSLOT %u from the source\n",
                   sl);
            printf("   redis-cli %s CLUSTER SETSLOT %u NODE %s\n", src, sl, tl);
            printf("   redis-cli %s CLUSTER SETSLOT %u NODE %s\n", dst, sl, tl);
        }
        if (mv->nslots > 10)
            printf("     # ... and %zu more slots (see --json)\n", mv->nslots - 10);
    }
}

/* ---- the analysis on a walk shared with others (the report) ------------------------------- */

struct sh_an {
    struct sh *s;
    struct proj **pr;
    size_t npr;
};

struct sh_an *sh_an_attach(struct rt_walk *w, const int *counts, size_t ncounts,
                           struct rt_err *err)
{
    if (!ncounts) {
        rt_err_set(err, RT_EINVAL, "shards: no shard counts");
        return NULL;
    }
    for (size_t i = 0; i < ncounts; i++)
        if (counts[i] < 1 || counts[i] > MAX_SHARDS) {
            rt_err_set(err, RT_EINVAL, "shards: bad shard count %d (1..%d)", counts[i], MAX_SHARDS);
            return NULL;
        }
    struct sh_an *a = xcalloc(1, sizeof *a);
    a->pr = xcalloc(ncounts, sizeof *a->pr);
    for (size_t i = 0; i < ncounts; i++)
        a->pr[i] = proj_even((size_t)counts[i]);
    a->npr = ncounts;
    a->s = sh_new(w, a->pr, a->npr);
    return a;
}

json_t *sh_an_json(struct sh_an *a)
{
    json_t *out = json_array();
    for (size_t i = 0; i < a->npr; i++) {
        struct result res = {.p = a->pr[i]};
        compute(a->s, &res);
        json_array_append_new(out, result_json(a->s, &res, 5, "even split"));
        result_free(&res);
    }
    return out;
}

void sh_an_free(struct sh_an *a)
{
    if (!a)
        return;
    sh_free(a->s);
    for (size_t i = 0; i < a->npr; i++)
        proj_free(a->pr[i]);
    free(a->pr);
    free(a);
}

/* ---- entry points ----------------------------------------------------------------------- */

json_t *rt_shards_json_pass(const char *trace_path, const int *counts, size_t ncounts,
                            int salvage, struct rt_pass *ps, struct rt_err *err)
{
    struct rt_walk *w = rt_walk_new("shards");
    struct sh_an *a = sh_an_attach(w, counts, ncounts, err);
    json_t *out = NULL;
    struct trace_reader_opts ro = {.salvage = salvage};
    struct trace_reader *r = a ? trace_reader_open(trace_path, &ro, err) : NULL;
    if (r && rt_walk_run(w, r, ps, err) == 0)
        out = sh_an_json(a);
    trace_reader_close(r);
    sh_an_free(a);
    rt_walk_free(w);
    return out;
}

json_t *rt_shards_json(const char *trace_path, const int *counts, size_t ncounts,
                       struct rt_err *err)
{
    return rt_shards_json_pass(trace_path, counts, ncounts, 0, NULL, err);
}

static int parse_counts(const char *arg, struct proj ***pr, size_t *n)
{
    const char *s = arg;
    while (*s) {
        char *end;
        if (!isdigit((unsigned char)*s))
            return -1;
        long v = strtol(s, &end, 10);
        if (v < 1 || v > MAX_SHARDS || (*end && *end != ','))
            return -1;
        *pr = xrealloc(*pr, (*n + 1) * sizeof **pr);
        (*pr)[(*n)++] = proj_even((size_t)v);
        s = *end ? end + 1 : end;
        if (*end && !*s)
            return -1;
    }
    return *n ? 0 : -1;
}

/* The summary above the projections' tables. */
static void print_totals(const struct sh *s, const char *path)
{
    char a[32], b[32];
    printf("%-18s %s\n", "file", path);
    printf("%-18s %llu (%llu with keys, %llu without, %llu skipped: unknown command or keys",
           "requests", (unsigned long long)s->requests, (unsigned long long)s->keyed,
           (unsigned long long)s->keyless, (unsigned long long)s->skipped);
    if (s->malformed)
        printf(", %llu malformed", (unsigned long long)s->malformed);
    printf(")\n");
    printf("%-18s %llu keyed requests span keys of several slots (CROSSSLOT on a cluster)\n",
           "cross-slot", (unsigned long long)s->cross_slot);
    printf("%-18s %llu requests, %s with replies, go to whichever node the client picks\n",
           "keyless", (unsigned long long)s->keyless, rt_fmt_bytes(s->keyless_bytes, a, sizeof a));
    printf("%-18s %zu distinct, %s of requests and replies\n", "keys", s->keys.n,
           rt_fmt_bytes(s->req_bytes + s->reply_bytes, b, sizeof b));
    printf("%-18s %llu s (from the first request)\n", "span", (unsigned long long)s->nsec);
}

int cmd_shards(int argc, char **argv)
{
    enum { O_USER = 256, O_PASS };
    struct replay_tls tls = {0};
    int tls_set = 0;
    static const struct option opts[] = {{"shards", required_argument, NULL, 'n'},
                                         {"slots-from", required_argument, NULL, 'f'},
                                         {"target", required_argument, NULL, 'T'},
                                         {"user", required_argument, NULL, O_USER},
                                         {"pass", required_argument, NULL, O_PASS},
                                         RT_TLS_LONGOPTS,
                                         {"suggest", no_argument, NULL, 'S'},
                                         {"max-imbalance", required_argument, NULL, 'm'},
                                         {"top", required_argument, NULL, 't'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct proj **pr = NULL;
    size_t npr = 0, top = 5;
    const char *slots_from = NULL, *target = NULL, *counts = NULL, *json_path = NULL;
    const char *user = NULL, *pass = NULL;
    int salvage = 0, quiet = 0, sug = 0, max_set = 0, c, status = RT_EXIT_USAGE;
    double max_imb = 1.1;
    char *end;
    struct sh *s = NULL;
    struct rt_walk *w = NULL;
    struct trace_reader *r = NULL;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hq", opts, NULL)) != -1) {
        switch (c) {
        case 'n': counts = optarg; break;
        case 'f': slots_from = optarg; break;
        case 'T': target = optarg; break;
        case O_USER: user = optarg; break;
        case O_PASS: pass = optarg; break;
        case 'S': sug = 1; break;
        case 'm':
            max_imb = strtod(optarg, &end);
            if (*end || end == optarg || !(max_imb >= 1.0 && max_imb < 1e6)) {
                rt_usage_error("shards", "bad --max-imbalance '%s' (a number >= 1)", optarg);
                goto done;
            }
            max_set = 1;
            break;
        case 't': {
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 100000) {
                rt_usage_error("shards", "bad --top '%s' (0 to 100000)", optarg);
                goto done;
            }
            top = (size_t)v;
            break;
        }
        case 'j': json_path = optarg ? optarg : "-"; break;
        case 's': salvage = 1; break;
        case 'q': quiet = 1; break;
        case 'h':
            usage_shards(stdout);
            status = RT_EXIT_OK;
            goto done;
        default:
            if (rt_tls_option(c, optarg, &tls)) {
                tls_set = 1;
                break;
            }
            rt_opt_error("shards", c, argv);
            goto done;
        }
    }
    if (optind >= argc) {
        rt_usage_error("shards", "give the trace to read");
        goto done;
    }
    if (optind < argc - 1) {
        rt_usage_error("shards", "one trace at a time (got '%s' after '%s')", argv[optind + 1],
                       argv[optind]);
        goto done;
    }
    if (slots_from && target) {
        rt_usage_error("shards", "--slots-from and --target exclude each other");
        goto done;
    }
    if ((slots_from || target) && counts) {
        rt_usage_error("shards", "--shards goes without --slots-from and --target");
        goto done;
    }
    if ((user || pass) && !target) {
        rt_usage_error("shards", "--user and --pass go with --target");
        goto done;
    }
    if (tls_set && !target) {
        rt_usage_error("shards", "the TLS options go with --target");
        goto done;
    }
    if (max_set && !sug) {
        rt_usage_error("shards", "--max-imbalance goes with --suggest");
        goto done;
    }
    if (counts && parse_counts(counts, &pr, &npr) < 0) {
        rt_usage_error("shards", "bad --shards '%s' (counts 1..%d separated by ',')", counts,
                       MAX_SHARDS);
        goto done;
    }
    if (json_path && !*json_path) {
        rt_usage_error("shards", "--json= needs a file name (or '-' for stdout)");
        goto done;
    }
    const char *path = argv[optind];
    const char *inputs[2] = {path, slots_from};
    if (rt_out_refuse_inputs("shards", json_path, inputs, slots_from ? 2 : 1) < 0)
        goto done;
    /* a password on the command line is visible to every local user (ps, /proc) */
    if (pass)
        rt_warn_cmdline_password("shards", "--pass");
    else if (target && rt_url_has_password(target))
        rt_warn_cmdline_password("shards", "the URL");
    if (target && !user)
        user = rt_env_first("RESPTRACE_USER", NULL);
    if (target && !pass)
        pass = rt_env_first("RESPTRACE_PASS", "REDISCLI_AUTH");
    status = RT_EXIT_FAIL;
    struct rt_err err = {0};
    const char *source = "even split";
    if (slots_from || target) {
        struct proj *p = slots_from ? proj_from_file(slots_from, &err)
                                    : proj_from_target(target, user, pass, &tls, &err);
        if (!p) {
            fprintf(stderr, "resptrace shards: %s\n", err.msg);
            goto done;
        }
        pr = xrealloc(NULL, sizeof *pr);
        pr[0] = p;
        npr = 1;
        source = slots_from ? slots_from : target;
    } else if (!npr) {
        parse_counts("3,6,12", &pr, &npr);
    }
    r = rt_open_trace("shards", path, salvage);
    if (!r)
        goto done;
    rt_catch_signals();
    struct rt_progress prog;
    rt_progress_init(&prog, quiet);
    struct rt_pass ps = {.progress = &prog, .label = "shards"};
    w = rt_walk_new("shards");
    s = sh_new(w, pr, npr);
    int rc = rt_walk_run(w, r, &ps, &err);
    rt_progress_done(&prog);
    struct trace_damage dmg;
    const char *damage = rt_walk_damage(r, rc, &err, &dmg);
    int text = !json_path || strcmp(json_path, "-");
    json_t *doc = NULL, *projs = NULL;
    if (json_path) {
        doc = rt_json_doc("shards");
        totals_json(doc, s, path, damage, ps.interrupted);
        projs = json_array();
    }
    if (text)
        print_totals(s, path);
    for (size_t i = 0; i < npr; i++) {
        struct result res = {.p = pr[i]};
        compute(s, &res);
        if (sug)
            suggest(s, &res, max_imb);
        if (projs)
            json_array_append_new(projs, result_json(s, &res, top, source));
        if (text)
            print_result(s, &res, top, source);
        result_free(&res);
    }
    if (text)
        fflush(stdout);
    status = RT_EXIT_OK;
    if (doc) {
        json_object_set_new(doc, "projections", projs);
        if (rt_json_write("shards", doc, json_path) < 0)
            status = RT_EXIT_FAIL;
    }
    if (rc < 0) {
        fprintf(stderr, "resptrace shards: %s\n", err.msg);
        status = RT_EXIT_FAIL;
    } else if (dmg.first_offset != UINT64_MAX) {
        fprintf(stderr, "resptrace shards: %s (salvaged: %llu damaged chunks skipped)\n", dmg.msg,
                (unsigned long long)dmg.chunks_skipped);
        status = RT_EXIT_FAIL;
    }
    if (ps.interrupted) {
        fprintf(stderr,
                "resptrace shards: interrupted: the projections cover the first %llu events "
                "(to offset %llu of %llu bytes)\n",
                (unsigned long long)ps.events, (unsigned long long)trace_reader_offset(r),
                (unsigned long long)trace_reader_file_size(r));
        status = RT_EXIT_INTERRUPTED;
    }
done:
    trace_reader_close(r);
    sh_free(s);
    rt_walk_free(w);
    for (size_t i = 0; i < npr; i++)
        proj_free(pr[i]);
    free(pr);
    return status;
}
