/* cmdtable.c: the command table: what a request's command is, which of its arguments are
 * keys and which are values.
 *
 * Why one table, generated from the server itself: replay (--key-prefix, --read-only, cluster
 * routing), the recorder (--redact-values) and the analysis tools all ask these questions of
 * every request, and a hand-written table drifts from the server: a movable-keys command
 * guessed wrong corrupts a prefixed replay or sends a request to the wrong shard, silently.
 * cmdtable_data.c is written by gen_cmdtable.c from a redis-server's own COMMAND INFO (arity,
 * flags, ACL categories, tips, key specifications, subcommands) and COMMAND DOCS (argument
 * grammar), and a test regenerates it from a fresh server and diffs it with the committed file.
 *
 * Keys are read from the key specifications exactly as redis' getKeysUsingKeySpecs() reads
 * them; the three commands whose specs are incomplete in redis 7.0 (SORT, SORT_RO, MIGRATE)
 * use the server's own getkeys procedures, rewritten here; an integration test compares the
 * positions with the server's COMMAND GETKEYS. Values are found by matching the arguments
 * against the command's COMMAND DOCS grammar (tokens, oneof, blocks, optional and repeated
 * arguments; repetitions as few as possible first, so that trailing options are options),
 * with a step budget so that no request can make the match explode.
 */
#include "format.h"
#include "format_int.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* cmdtable_data.c (generated) */
extern const struct rt_cmd rt_cmd_table[];
extern const size_t rt_cmd_table_len;
extern const char rt_cmd_table_server[];

#define CMD_NAME_MAX 64 /* longer than any command name, "container|subcommand" included */

/* An index of the table by name: every request of every tool is looked up (the replay, the
 * recorder's --redact-values, the analyses), and a binary search over 400 names cost nine
 * string comparisons each. Open addressing over FNV-1a of the lower-case name, built once. */
#define IDX_CAP 2048 /* a power of two, over 4x the table's entries */
static uint16_t cmd_idx[IDX_CAP]; /* entry + 1; 0: empty */
static pthread_once_t cmd_idx_once = PTHREAD_ONCE_INIT;

static uint32_t name_hash(const char *low, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)low[i]) * 16777619u;
    return h;
}

static const struct rt_cmd *c_sort, *c_sort_ro, *c_migrate; /* keys found by procedure */
static void cmd_idx_build(void)
{
    for (size_t i = 0; i < rt_cmd_table_len && i + 1 < IDX_CAP; i++) {
        const char *n = rt_cmd_table[i].name;
        size_t j = name_hash(n, strlen(n)) & (IDX_CAP - 1);
        while (cmd_idx[j])
            j = (j + 1) & (IDX_CAP - 1);
        cmd_idx[j] = (uint16_t)(i + 1);
    }
    for (size_t i = 0; i < rt_cmd_table_len; i++) {
        const char *n = rt_cmd_table[i].name;
        if (!strcmp(n, "sort"))
            c_sort = &rt_cmd_table[i];
        else if (!strcmp(n, "sort_ro"))
            c_sort_ro = &rt_cmd_table[i];
        else if (!strcmp(n, "migrate"))
            c_migrate = &rt_cmd_table[i];
    }
}

/* The entry of `name` (`len` bytes, any case), or NULL. */
static const struct rt_cmd *cmd_find(const char *name, size_t len)
{
    char low[CMD_NAME_MAX];
    if (!name || len == 0 || len >= sizeof low || memchr(name, 0, len))
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        low[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    low[len] = 0;
    pthread_once(&cmd_idx_once, cmd_idx_build);
    for (size_t j = name_hash(low, len) & (IDX_CAP - 1); cmd_idx[j]; j = (j + 1) & (IDX_CAP - 1)) {
        const struct rt_cmd *c = &rt_cmd_table[cmd_idx[j] - 1];
        if (!strcmp(c->name, low))
            return c;
    }
    return NULL;
}

const struct rt_cmd *rt_cmd_lookup(size_t argc, const char *const *argv, const size_t *argvlen)
{
    if (argc == 0 || !argv || !argvlen)
        return NULL;
    const struct rt_cmd *c = cmd_find(argv[0], argvlen[0]);
    if (!c || !(c->flags & RT_CMD_CONTAINER) || argc < 2)
        return c;
    char full[CMD_NAME_MAX];
    size_t nl = strlen(c->name);
    if (nl + 1 + argvlen[1] >= sizeof full)
        return NULL;
    memcpy(full, c->name, nl);
    full[nl] = '|';
    memcpy(full + nl + 1, argv[1], argvlen[1]);
    return cmd_find(full, nl + 1 + argvlen[1]);
}

const struct rt_cmd *rt_cmd_by_name(const char *name)
{
    return name ? cmd_find(name, strlen(name)) : NULL;
}

size_t rt_cmd_count(void)
{
    return rt_cmd_table_len;
}

const struct rt_cmd *rt_cmd_at(size_t i)
{
    return i < rt_cmd_table_len ? &rt_cmd_table[i] : NULL;
}

const char *rt_cmd_table_source(void)
{
    return rt_cmd_table_server;
}

static int arity_ok(const struct rt_cmd *c, size_t argc)
{
    if (argc > INT32_MAX)
        return 0;
    return c->arity >= 0 ? argc == (size_t)c->arity : argc >= (size_t)-(long)c->arity;
}

/* An argument equal to `s`, case-insensitively. */
static int arg_is(const char *arg, size_t len, const char *s)
{
    return strlen(s) == len && strncasecmp(arg, s, len) == 0;
}

/* redis' string2ll(): an optional '-', digits without a leading zero, no overflow. */
static int parse_ll(const char *s, size_t len, long long *v)
{
    size_t i = 0;
    int neg = 0;
    if (len == 0 || len > 20)
        return 0;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (len == 1)
            return 0;
    }
    if (s[i] == '0' && len > i + 1)
        return 0;
    unsigned long long u = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (u > (~0ull - d) / 10)
            return 0;
        u = u * 10 + d;
    }
    if (neg ? u > (unsigned long long)INT64_MAX + 1 : u > (unsigned long long)INT64_MAX)
        return 0;
    *v = neg ? (long long)(0 - u) : (long long)u;
    return 1;
}

struct keyout {
    uint32_t *pos;
    size_t cap, n;
};

static void key_add(struct keyout *o, size_t i)
{
    if (o->n < o->cap)
        o->pos[o->n] = (uint32_t)i;
    o->n++;
}

/* redis' sortGetKeys(): the key, and the argument after the last STORE. */
static void sort_keys(size_t argc, const char *const *argv, const size_t *argvlen,
                      struct keyout *o)
{
    static const struct { const char *name; size_t skip; } skip[] = {
        {"limit", 2}, {"get", 1}, {"by", 1}};
    size_t store = 0;
    key_add(o, 1);
    for (size_t i = 2; i < argc; i++) {
        if (arg_is(argv[i], argvlen[i], "store") && i + 1 < argc) {
            store = i + 1;
            continue;
        }
        for (size_t j = 0; j < sizeof skip / sizeof skip[0]; j++)
            if (arg_is(argv[i], argvlen[i], skip[j].name)) {
                i += skip[j].skip;
                break;
            }
    }
    if (store)
        key_add(o, store);
}

/* redis' migrateGetKeys(): argv[3], or with an empty argv[3] the keys after KEYS. */
static void migrate_keys(size_t argc, const char *const *argv, const size_t *argvlen,
                         struct keyout *o)
{
    static const struct { const char *name; size_t skip; } skip[] = {
        {"copy", 0}, {"replace", 0}, {"auth", 1}, {"auth2", 2}};
    size_t first = 3, num = 1;
    for (size_t i = 6; i < argc; i++) {
        if (arg_is(argv[i], argvlen[i], "keys")) {
            if (argvlen[3] == 0) {
                first = i + 1;
                num = argc - first;
            }
            break;
        }
        for (size_t j = 0; j < sizeof skip / sizeof skip[0]; j++)
            if (arg_is(argv[i], argvlen[i], skip[j].name)) {
                i += skip[j].skip;
                break;
            }
    }
    for (size_t i = 0; i < num; i++)
        key_add(o, first + i);
}

/* The keys of one spec, as getKeysUsingKeySpecs() finds them. @return 0, -1 when the
 * arguments break the spec, -2 when the spec cannot tell. */
static int spec_keys(const struct rt_keyspec *s, size_t argc, const char *const *argv,
                     const size_t *argvlen, struct keyout *o)
{
    long first = 0, last, step, n = (long)argc;
    if (s->bs == RT_KS_INDEX) {
        first = s->bs_arg;
    } else if (s->bs == RT_KS_KEYWORD) {
        long from = s->bs_arg > 0 ? s->bs_arg : n + s->bs_arg;
        long to = s->bs_arg > 0 ? n - 1 : 1;
        for (long i = from; i != to; i = from <= to ? i + 1 : i - 1) {
            if (i >= n || i < 1)
                break;
            if (arg_is(argv[i], argvlen[i], s->keyword)) {
                first = i + 1;
                break;
            }
        }
        if (!first)
            return 0; /* keyword not found: no keys from this spec */
    } else {
        return -2;
    }
    if (s->fk == RT_KS_RANGE) {
        step = s->fk_b;
        if (s->fk_a >= 0)
            last = first + s->fk_a;
        else if (!s->fk_c)
            last = n + s->fk_a;
        else
            last = first + ((n - first) / s->fk_c + s->fk_a);
    } else if (s->fk == RT_KS_KEYNUM) {
        step = s->fk_c;
        long idx = first + s->fk_a;
        long long num;
        if (idx >= n || !parse_ll(argv[idx], argvlen[idx], &num) || num < 0 || num > n)
            return -1;
        if (num == 0)
            return 0; /* EVAL script 0: a request without keys */
        first += s->fk_b;
        last = first + (long)num - 1;
    } else {
        return -2;
    }
    if (last >= n || last < first || first >= n || step <= 0)
        return -1;
    for (long i = first; i <= last; i += step)
        key_add(o, (size_t)i);
    return s->flags & RT_KS_INCOMPLETE ? -2 : 0;
}

int rt_cmd_keys(const struct rt_cmd *c, size_t argc, const char *const *argv,
                const size_t *argvlen, uint32_t *pos, size_t cap, size_t *n)
{
    struct keyout o = {pos, pos ? cap : 0, 0};
    *n = 0;
    if (!c || !arity_ok(c, argc))
        return -1;
    /* the most common shape (GET, SET, INCR, HSET...: one spec, one key at a fixed index)
     * answered without the general path, as spec_keys() would (SORT, SORT_RO and MIGRATE,
     * found by procedure below, have more specs than one): the replayer asks for every
     * request */
    const struct rt_keyspec *s1 = c->keyspecs;
    if (c->nkeyspecs == 1 && s1->bs == RT_KS_INDEX && s1->fk == RT_KS_RANGE && s1->fk_a == 0 &&
        s1->fk_b > 0 && s1->bs_arg >= 0 && !(s1->flags & (RT_KS_NOT_KEY | RT_KS_INCOMPLETE))) {
        if ((size_t)s1->bs_arg >= argc)
            return -1;
        key_add(&o, (size_t)s1->bs_arg);
        *n = o.n;
        return 0;
    }
    pthread_once(&cmd_idx_once, cmd_idx_build); /* (c_sort...: no name compared per request) */
    if (c == c_sort) {
        sort_keys(argc, argv, argvlen, &o);
    } else if (c == c_sort_ro) {
        key_add(&o, 1);
    } else if (c == c_migrate) {
        migrate_keys(argc, argv, argvlen, &o);
    } else {
        for (size_t j = 0; j < c->nkeyspecs; j++) {
            if (c->keyspecs[j].flags & RT_KS_NOT_KEY)
                continue;
            int rc = spec_keys(&c->keyspecs[j], argc, argv, argvlen, &o);
            if (rc < 0)
                return rc;
        }
    }
    *n = o.n;
    return 0;
}

/* ---- values: the arguments matched against the COMMAND DOCS grammar ----------------- */

struct match {
    const char *const *argv;
    const size_t *argvlen;
    size_t argc;
    uint8_t *isval; /* argc flags: matched by an RT_ARG_VALUE */
    int typed;      /* check integers and doubles (the first pass) */
    size_t end;     /* where a match continued by `stop` ended */
    unsigned long budget;
};

/* What follows a node: the `n` sibling nodes from `a`, then `next`. */
struct cont {
    const struct rt_cmdarg *a;
    size_t n;
    const struct cont *next;
};
static const struct cont stop; /* continuation that accepts anywhere (one repetition) */

static int m_node(struct match *m, const struct rt_cmdarg *a, size_t i, const struct cont *k);

static int m_cont(struct match *m, size_t i, const struct cont *k)
{
    if (k == &stop) {
        m->end = i;
        return 1;
    }
    if (!k)
        return i == m->argc;
    if (k->n == 0)
        return m_cont(m, i, k->next);
    const struct cont rest = {k->a + k->a->size, k->n - 1, k->next};
    return m_node(m, k->a, i, &rest);
}

static size_t children(const struct rt_cmdarg *a)
{
    size_t n = 0;
    for (const struct rt_cmdarg *c = a + 1; c < a + a->size; c += c->size)
        n++;
    return n;
}

static int type_ok(unsigned type, const char *s, size_t len)
{
    char buf[64], *end;
    long long v;
    switch (type) {
    case RT_ARG_INTEGER:
    case RT_ARG_UNIXTIME: return parse_ll(s, len, &v);
    case RT_ARG_DOUBLE:
        if (len && s[0] == '(') { /* exclusive score bounds */
            s++;
            len--;
        }
        if (len == 0 || len >= sizeof buf)
            return 0;
        memcpy(buf, s, len);
        buf[len] = 0;
        (void)strtod(buf, &end);
        return *end == 0 && end != buf;
    default: return 1;
    }
}

static int m_token(const struct match *m, const struct rt_cmdarg *a, size_t i)
{
    return i < m->argc && arg_is(m->argv[i], m->argvlen[i], a->token);
}

/* The node's type part at i, then k. */
static int m_body(struct match *m, const struct rt_cmdarg *a, size_t i, const struct cont *k)
{
    switch (a->type) {
    case RT_ARG_TOKEN: return m_cont(m, i, k);
    case RT_ARG_ONEOF:
        for (const struct rt_cmdarg *c = a + 1; c < a + a->size; c += c->size)
            if (m_node(m, c, i, k))
                return 1;
        return 0;
    case RT_ARG_BLOCK: {
        const struct cont seq = {a + 1, children(a), k};
        return m_cont(m, i, &seq);
    }
    default:
        if (i >= m->argc || (m->typed && !type_ok(a->type, m->argv[i], m->argvlen[i])))
            return 0;
        if (a->type == RT_ARG_VALUE)
            m->isval[i] = 1;
        if (m_cont(m, i + 1, k))
            return 1;
        m->isval[i] = 0;
        return 0;
    }
}

/* The node at i (token, type part, repetitions), then k; the budget bounds the backtracking.
 * Repetitions are matched one at a time, fewest first, by a loop: the recursion depth stays
 * bounded by the grammar, whatever the number of arguments. */
static int m_node(struct match *m, const struct rt_cmdarg *a, size_t i, const struct cont *k)
{
    if (m->budget == 0)
        return 0;
    m->budget--;
    if (!(a->flags & RT_ARG_MULTIPLE)) {
        if (a->token) {
            if (m_token(m, a, i) && m_body(m, a, i + 1, k))
                return 1;
        } else if (m_body(m, a, i, k)) {
            return 1;
        }
    } else {
        size_t j = i;
        int ok = 1;
        if (a->token && !(a->flags & RT_ARG_MULTIPLE_TOKEN)) {
            ok = m_token(m, a, j);
            j++;
        }
        size_t start = j;
        while (ok && m->budget) {
            size_t b = j;
            if (a->flags & RT_ARG_MULTIPLE_TOKEN) {
                if (!m_token(m, a, b))
                    break;
                b++;
            }
            if (!m_body(m, a, b, &stop) || m->end == j)
                break;
            j = m->end;
            if (m_cont(m, j, k))
                return 1;
        }
        for (size_t x = start; x < j && x < m->argc; x++)
            m->isval[x] = 0;
    }
    return (a->flags & RT_ARG_OPTIONAL) && m->budget && m_cont(m, i, k);
}

/* The matcher's answer without matching, for the common shape: a grammar that starts with
 * `lead` single plain arguments (no token, not optional, not repeated, not a choice or a
 * block) and has only optional arguments after them, called with exactly those arguments (SET
 * k v without options, GETSET k v, APPEND k v, PUBLISH c m, LSET k i e...). Each
 * argument then takes its own node: the typed pass fails only where the untyped one takes the
 * same positions, and every optional node after the last argument matches nothing (a node
 * marks a value only at an argument it consumes). check_cmdtable compares the two on every
 * command of the table. (On `stat`'s benchmark trace, SET/GET, the match and its two
 * allocations took a sixth of the pass; `record --redact-values` matches every write it
 * captures too.)
 * @return 1 with isval[] set, 0 when the shape is not this one (then match). */
static int values_plain(const struct rt_cmd *c, size_t argc, uint8_t *isval)
{
    size_t lead = 0, i = 1;
    const struct rt_cmdarg *a = c->args, *end = c->args + c->nargs;
    for (; a < end; a += a->size) {
        int plain = !a->token && !a->flags && a->type != RT_ARG_TOKEN &&
                    a->type != RT_ARG_ONEOF && a->type != RT_ARG_BLOCK;
        if (!plain)
            break;
        if (++lead >= argc)
            return 0; /* more required arguments than given: not this shape */
    }
    if (argc != 1 + lead)
        return 0;
    for (const struct rt_cmdarg *b = a; b < end; b += b->size)
        if (!(b->flags & RT_ARG_OPTIONAL))
            return 0;
    for (a = c->args; i < argc; a += a->size, i++)
        isval[i] = a->type == RT_ARG_VALUE;
    return 1;
}

/* The arguments of at most this many fit the flags and key positions on the stack. */
#define VALUES_STACK 64

int rt_cmd_values(const struct rt_cmd *c, size_t argc, const char *const *argv,
                  const size_t *argvlen, uint32_t *pos, size_t cap, size_t *n)
{
    return cmd_values(c, argc, argv, argvlen, pos, cap, n, 1);
}

int rt_cmd_values_bytes(const struct rt_cmd *c, size_t argc)
{
    /* cmd_values()'s paths: no answer or no grammar (no bytes read), the plain shape
     * (values_plain: none read, then rt_cmd_keys() when a value is found, which reads none
     * when every key spec is an index and a range), else the matcher (bytes read) */
    if (!c || !arity_ok(c, argc) || !c->nargs)
        return 0;
    uint8_t isval[VALUES_STACK];
    if (argc > VALUES_STACK || !values_plain(c, argc, isval))
        return 1;
    int any = 0;
    for (size_t i = 1; i < argc; i++)
        any |= isval[i];
    if (!any)
        return 0;
    pthread_once(&cmd_idx_once, cmd_idx_build);
    if (c == c_sort || c == c_sort_ro || c == c_migrate)
        return 1;
    for (size_t j = 0; j < c->nkeyspecs; j++) {
        const struct rt_keyspec *ks = &c->keyspecs[j];
        if (!(ks->flags & RT_KS_NOT_KEY) && (ks->bs != RT_KS_INDEX || ks->fk != RT_KS_RANGE))
            return 1;
    }
    return 0;
}

int cmd_values(const struct rt_cmd *c, size_t argc, const char *const *argv,
               const size_t *argvlen, uint32_t *pos, size_t cap, size_t *n, int plain)
{
    *n = 0;
    if (!c || !arity_ok(c, argc))
        return -1;
    if (!c->nargs)
        return 0;
    uint8_t isval_s[VALUES_STACK];
    uint32_t kp_s[VALUES_STACK];
    int heap = argc > VALUES_STACK;
    struct match m = {argv, argvlen, argc, heap ? calloc(argc, 1) : isval_s, 1, 0, 0};
    uint32_t *kp = heap ? malloc(argc * sizeof *kp) : kp_s;
    if (!m.isval || !kp) {
        if (heap) {
            free(m.isval);
            free(kp);
        }
        return -1;
    }
    int ok = 0, any = 0;
    if (plain && !heap && values_plain(c, argc, m.isval)) {
        ok = 1;
    } else {
        if (!heap)
            memset(m.isval, 0, argc);
        struct cont top = {c->args, 0, NULL};
        for (const struct rt_cmdarg *a = c->args; a < c->args + c->nargs; a += a->size)
            top.n++;
        for (int pass = 0; pass < 2 && !ok; pass++) {
            m.typed = pass == 0; /* then untyped: ZINCRBY's "integer" increment may be 1.5 */
            m.budget = 4096 + 64 * (unsigned long)argc;
            ok = m_cont(&m, 1, &top);
        }
    }
    if (ok) {
        for (size_t i = 1; i < argc && !any; i++)
            any = m.isval[i];
        /* keys are never values, whatever the match says (no need to look when no value) */
        size_t nk = 0;
        if (any && rt_cmd_keys(c, argc, argv, argvlen, kp, argc, &nk) == 0)
            for (size_t i = 0; i < nk && i < argc; i++)
                if (kp[i] < argc)
                    m.isval[kp[i]] = 0;
        for (size_t i = 1; i < argc && any; i++)
            if (m.isval[i]) {
                if (*n < cap && pos)
                    pos[*n] = (uint32_t)i;
                (*n)++;
            }
    }
    if (heap) {
        free(m.isval);
        free(kp);
    }
    return ok ? 0 : -1;
}
