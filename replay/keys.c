/* keys.c: which recorded requests are sent, and as what: the unsafe list and the other skip
 * reasons, the keys of a request, --key-prefix, the split of a request whose keys span cluster
 * slots, and what --verify-writes records of a write.
 *
 * All of it is decided once per request, as it is read from the trace and before it is
 * scheduled (sched.c): a request is skipped (counted by reason), or turned into the bytes sent
 * to the target, its keys prefixed and the trace's credentials (redacted) replaced by the
 * target's. The keys come from format/'s command table; for a command the table does not know
 * or cannot resolve, the target itself is asked (COMMAND GETKEYS) over a blocking control
 * connection of its own.
 */
#include "engine_int.h"

/* ---- unsafe commands ------------------------------------------------------------------- */

/* Commands that destroy data, reconfigure or stop the server, or reach other hosts. A name
 * alone covers all its subcommands; "name|sub" one subcommand. */
static const char *const unsafe_cmds[] = {
    "flushall", "flushdb", "config", "shutdown", "debug", "save", "bgsave", "bgrewriteaof",
    "replicaof", "slaveof", "cluster", "acl", "script|flush", "script|kill", "function|flush",
    "function|delete", "function|restore", "function|kill", "monitor", "sync", "psync",
    "failover", "migrate", "module", "swapdb", "client|kill", "client|pause",
    "client|unpause", "client|no-evict", "client|no-touch", "latency|reset", "slowlog|reset",
    "memory|purge", "lastsave", "restore-asking", "pfdebug", "pfselftest", "replconf",
    "quit", NULL};

/* matches "name" or "name|sub" (or "name sub") of the list against the command */
static int list_match(const char *const *list, size_t n, const char *name, size_t nlen,
                      const char *sub, size_t slen)
{
    for (size_t i = 0; n == (size_t)-1 ? list[i] != NULL : i < n; i++) {
        const char *e = list[i];
        if ((e[0] | 0x20) != (name[0] | 0x20))
            continue; /* (most entries: no need to measure them) */
        size_t el = strcspn(e, "| ");
        if (el != nlen || strncasecmp(e, name, nlen) != 0)
            continue;
        if (!e[el])
            return 1;
        if (sub && name_eq(e + el + 1, sub, slen))
            return 1;
    }
    return 0;
}

int replay_cmd_is_unsafe(const char *name, const char *sub)
{
    return list_match(unsafe_cmds, (size_t)-1, name, strlen(name), sub, sub ? strlen(sub) : 0);
}

const char *replay_skip_name(unsigned why)
{
    static const char *const names[] = {"unsafe", "read_only", "filter",      "auth",
                                        "select", "keys",      "unreachable", "malformed"};
    return why < REPLAY_SKIP_MAX ? names[why] : "unknown";
}

/* ---- names, lists and skips ------------------------------------------------------------ */

/* 1 when an entry of the list is "name|sub" or "name sub" for this name (any subcommand):
 * whether a request of the command is in the list may then depend on its arguments */
static int list_names_sub(const char *const *list, size_t n, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; n == (size_t)-1 ? list[i] != NULL : i < n; i++) {
        const char *e = list[i];
        size_t el = strcspn(e, "| ");
        if (e[el] && el == nlen && strncasecmp(e, name, nlen) == 0)
            return 1;
    }
    return 0;
}

static int in_list(const char *const *list, size_t n, const char *name, const char *sub)
{
    return list_match(list, n, name, strlen(name), sub, sub ? strlen(sub) : 0);
}

static void lower_copy(char *dst, size_t cap, const char *src, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++)
        dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
    dst[i] = 0;
}

static int64_t parse_i64(const char *p, size_t n)
{
    int64_t v = 0;
    if (!n || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static void skip_req(struct worker *w, uint16_t cmd, unsigned why)
{
    w->cmds[cmd].r.skipped++;
    w->res.skipped++;
    w->res.skipped_by[why]++;
}

/* ---- the bytes sent -------------------------------------------------------------------- */

/* RESP array of bulk strings, with `prefix` before the arguments iskey marks. The buffer is
 * eng_wire_alloc()'s: free it with eng_wire_free(buf, *out_len). */
char *eng_fmt_cmd(struct worker *w, size_t argc, const char *const *argv, const size_t *len,
                  const uint8_t *iskey, const char *prefix, size_t *out_len)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    char *buf = eng_wire_alloc(w, resp_request_len(argc, len, iskey, plen));
    *out_len = buf ? resp_request_write(buf, argc, argv, len, iskey, prefix, plen) : 0;
    return buf;
}

/* ---- COMMAND GETKEYS on the target ----------------------------------------------------- */

/* For a command the command table does not know or cannot resolve, the target itself says
 * where the keys are. The question goes over a blocking control connection of its own (the same
 * kind, with the same TLS identity check, as the topology read): it is rare (no command of
 * redis 7.0 needs it), and a blocked loop shows in the lag it causes. */
static int ctl_ready(struct worker *w)
{
    if (w->ctl.fd >= 0)
        return 0;
    if (w->ctl_failed)
        return -1;
    const struct replay_opts *o = w->o;
    char why[256];
    double ct = o->connect_timeout_s > 0 ? o->connect_timeout_s : 3.0;
    if (rt_ctl_open(&w->ctl, (const struct sockaddr *)&w->addr, w->addrlen,
                    o->target.tls ? w->ssl : NULL,
                    o->tls.sni ? o->tls.sni : o->target.host, o->tls.insecure,
                    o->target.user, o->target.pass, ct, why,
                    sizeof why) < 0) {
        /* without it the requests it was for cannot be sent as they should: stop */
        w->ctl_failed = 1;
        char msg[320];
        snprintf(msg, sizeof msg, "cannot ask the target where the keys are (COMMAND GETKEYS): %s",
                 why);
        eng_fatal(w, RT_EIO, msg);
        return -1;
    }
    return 0;
}

/* Marks in iskey[] the arguments the target's COMMAND GETKEYS names. @return 0, or -1 when the
 * target could not be asked (then the request is skipped). A command the target refuses to
 * analyse has no keys: it goes as it is, and the target answers it as it would have. */
static int getkeys_remote(struct worker *w, const struct trace_request *q, uint8_t *iskey)
{
    if (ctl_ready(w) < 0)
        return -1;
    size_t n = q->argc + 2;
    const char **av = eng_calloc(w, n, sizeof *av);
    size_t *len = eng_calloc(w, n, sizeof *len);
    if (!av || !len) {
        free(av);
        free(len);
        return -1;
    }
    av[0] = "COMMAND";
    len[0] = 7;
    av[1] = "GETKEYS";
    len[1] = 7;
    for (size_t i = 0; i < q->argc; i++) {
        av[i + 2] = q->argv[i];
        len[i + 2] = q->argvlen[i];
    }
    char why[200];
    redisReply *r = rt_ctl_command(&w->ctl, (int)n, av, len, why, sizeof why);
    if (!r && ctl_ready(w) == 0) /* the connection broke (rt_ctl closed it): once more */
        r = rt_ctl_command(&w->ctl, (int)n, av, len, why, sizeof why);
    free(av);
    free(len);
    if (!r) {
        char msg[320];
        snprintf(msg, sizeof msg, "COMMAND GETKEYS failed on the target: %s", why);
        eng_fatal(w, RT_EIO, msg);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        /* each key names the first unmarked argument with its bytes */
        for (size_t e = 0; e < r->elements; e++) {
            const redisReply *k = r->element[e];
            if (k->type != REDIS_REPLY_STRING && k->type != REDIS_REPLY_STATUS)
                continue;
            for (size_t i = 1; i < q->argc; i++)
                if (!iskey[i] && q->argvlen[i] == (size_t)k->len &&
                    memcmp(q->argv[i], k->str, (size_t)k->len) == 0) {
                    iskey[i] = 1;
                    break;
                }
        }
    }
    w->res.getkeys_asked++;
    freeReplyObject(r);
    return 0;
}

/* ---- cluster slots and split requests -------------------------------------------------- */

int32_t rt_sent_key_slot(const char *prefix, const char *k, size_t n)
{
    if (!prefix || !*prefix)
        return rt_key_slot(k, n);
    size_t pl = strlen(prefix);
    char stackbuf[512];
    char *b = pl + n <= sizeof stackbuf ? stackbuf : malloc(pl + n);
    if (!b)
        return -1;
    memcpy(b, prefix, pl);
    memcpy(b + pl, k, n);
    int32_t s = rt_key_slot(b, pl + n);
    if (b != stackbuf)
        free(b);
    return s;
}

uint8_t rt_split_kind(const char *name, int *pairs)
{
    *pairs = 0;
    if (!strcmp(name, "mget"))
        return TRACE_R_ARRAY;
    if (!strcmp(name, "mset")) {
        *pairs = 1;
        return TRACE_R_SIMPLE;
    }
    if (!strcmp(name, "del") || !strcmp(name, "unlink") || !strcmp(name, "exists") ||
        !strcmp(name, "touch"))
        return TRACE_R_INTEGER;
    return 0;
}

/* Splits `p` (whose keys span slots) into one request per slot, keys in their order.
 * @return 0, or -1 when out of memory (the run fails; p keeps the parts made). */
static int make_parts(struct worker *w, struct rconn *rc, struct req *p,
                      const struct trace_request *q, const uint32_t *pos, const int32_t *ks,
                      size_t nk, int pairs)
{
    int32_t *slots = eng_calloc(w, nk, sizeof *slots);
    const char **av = eng_calloc(w, 2 * nk + 1, sizeof *av);
    size_t *len = eng_calloc(w, 2 * nk + 1, sizeof *len);
    uint8_t *isk = eng_calloc(w, 2 * nk + 1, 1);
    int rc_ = 0;
    if (!slots || !av || !len || !isk) {
        rc_ = -1;
        goto out;
    }
    size_t ns = 0;
    for (size_t i = 0; i < nk; i++) {
        size_t j = 0;
        while (j < ns && slots[j] != ks[i])
            j++;
        if (j == ns)
            slots[ns++] = ks[i];
    }
    p->parts = eng_calloc(w, ns, sizeof *p->parts);
    if (!p->parts) {
        rc_ = -1;
        goto out;
    }
    for (size_t j = 0; j < ns; j++) {
        size_t n = 0;
        av[n] = q->argv[0];
        len[n++] = q->argvlen[0];
        for (size_t i = 0; i < nk; i++) {
            if (ks[i] != slots[j])
                continue;
            isk[n] = 1;
            av[n] = q->argv[pos[i]];
            len[n++] = q->argvlen[pos[i]];
            if (pairs && pos[i] + 1 < q->argc) {
                isk[n] = 0;
                av[n] = q->argv[pos[i] + 1];
                len[n++] = q->argvlen[pos[i] + 1];
            }
        }
        struct req *x = eng_req_new(w);
        if (!x) {
            rc_ = -1;
            goto out;
        }
        p->parts[j] = x;
        p->nparts = (uint32_t)j + 1;
        x->kind = K_PART;
        x->parent = p;
        x->rc = rc;
        x->slot = slots[j];
        x->node = -1;
        x->cmd = p->cmd;
        x->proto = p->proto;
        x->is_read = p->is_read;
        x->expect = 1;
        x->refs = 1;
        x->wire = eng_fmt_cmd(w, n, av, len, isk, w->o->key_prefix, &x->wlen);
        memset(isk, 0, n);
        if (!x->wire) {
            rc_ = -1;
            goto out;
        }
    }
out:
    free(av);
    free(len);
    free(isk);
    free(slots);
    return rc_;
}

/* ---- --verify-writes ------------------------------------------------------------------- */

/* --verify-writes: what a write request leaves in its keys when acknowledged (verify.c says
 * what is tracked). NULL for a request that writes nothing. */
static struct vwrite *make_vwrite(struct worker *w, const char *name, const struct rt_cmd *c,
                                  const struct trace_request *q, const uint32_t *pos, size_t nk,
                                  int in_tx)
{
    const struct replay_opts *o = w->o;
    if (!c || !nk || !(c->flags & (RT_CMD_WRITE | RT_CMD_SCRIPTING | RT_CMD_MAY_REPLICATE)))
        return NULL;
    struct vwrite *v = eng_calloc(w, 1, sizeof *v + nk * sizeof v->k[0]);
    if (!v)
        return NULL;
    uint8_t kind = VW_UNTRACKED, cond = 0;
    if (in_tx) {
        /* inside MULTI the reply is QUEUED, not the outcome */
    } else if (!strcmp(name, "set")) {
        int get = 0, nx_or_xx = 0, expiry = 0;
        for (size_t i = 3; i < q->argc; i++) {
            char a[8];
            lower_copy(a, sizeof a, q->argv[i], q->argvlen[i]);
            if (!strcmp(a, "ex") || !strcmp(a, "px") || !strcmp(a, "exat") || !strcmp(a, "pxat"))
                expiry = 1;
            else if (!strcmp(a, "nx") || !strcmp(a, "xx"))
                nx_or_xx = 1;
            else if (!strcmp(a, "get"))
                get = 1;
        }
        if (!expiry && !(get && nx_or_xx)) {
            kind = VW_VALUE;
            cond = nx_or_xx ? 1 : 0;
        }
    } else if (!strcmp(name, "getset") || !strcmp(name, "mset")) {
        kind = VW_VALUE;
    } else if (!strcmp(name, "setnx") || !strcmp(name, "msetnx")) {
        kind = VW_VALUE;
        cond = 2;
    } else if (!strcmp(name, "incr") || !strcmp(name, "decr") || !strcmp(name, "incrby") ||
               !strcmp(name, "decrby")) {
        kind = VW_COUNTER;
    } else if (!strcmp(name, "del") || !strcmp(name, "unlink")) {
        kind = VW_ABSENT;
    }
    v->cond = cond;
    size_t pl = o->key_prefix ? strlen(o->key_prefix) : 0;
    for (size_t i = 0; i < nk; i++) {
        uint32_t p = pos[i] < q->argc ? pos[i] : 0;
        struct vw_key *k = &v->k[v->n++];
        k->kind = kind;
        k->klen = (uint32_t)(pl + q->argvlen[p]);
        k->key = eng_calloc(w, 1, k->klen + 1);
        if (!k->key) {
            vwrite_free(v);
            return NULL;
        }
        if (pl)
            memcpy(k->key, o->key_prefix, pl);
        memcpy(k->key + pl, q->argv[p], q->argvlen[p]);
        if (kind == VW_VALUE) {
            if (p + 1 >= q->argc) {
                k->kind = VW_UNTRACKED;
                continue;
            }
            k->vlen = (uint32_t)q->argvlen[p + 1];
            k->val = eng_calloc(w, 1, k->vlen + 1);
            if (!k->val) {
                vwrite_free(v);
                return NULL;
            }
            memcpy(k->val, q->argv[p + 1], k->vlen);
        }
    }
    return v;
}

/* ---- a request read from the trace ----------------------------------------------------- */

/* A request of connection `rc` read from the trace (argc > 0): decided (skipped and counted,
 * or kept), its keys found, rewritten (key prefix, the target's credentials, split per slot).
 * @return the request (refs 1), or NULL when skipped; `pl` says what its scheduling needs. */
struct req *eng_req_make(struct worker *w, struct rconn *rc, const struct trace_request *q,
                         uint64_t due, struct req_plan *pl)
{
    const struct replay_opts *o = w->o;
    w->res.requests++;
    /* bytes the server rejected as a request (unbalanced quotes, a bad multibulk): argv[0] is
     * what the client sent. Skipped and counted, or with --send-malformed sent as they were
     * (the server then answers with its protocol error and closes, as it did) */
    int malformed = (q->flags & TRACE_REQ_MALFORMED) != 0;
    const struct rt_cmd *c = malformed ? NULL : eng_req_cmd(w, q);
    /* what a known command's name decides is decided once per command (cmd_memo): a request
     * of a command seen before does not look at its name again */
    struct cmd_memo *cm = c ? &w->cmemo[((uintptr_t)c * 0x9e3779b97f4a7c15ull) >> 58] : NULL;
    int memo_hit = cm && cm->c == c;
    char name[48], sub[48];
    name[0] = sub[0] = 0;
    if (malformed)
        snprintf(name, sizeof name, "(malformed)");
    else if (!memo_hit)
        lower_copy(name, sizeof name, q->argv[0], q->argvlen[0]);
    if (q->argc > 1 && !malformed && !memo_hit)
        lower_copy(sub, sizeof sub, q->argv[1], q->argvlen[1]);
    uint16_t ci = memo_hit ? cm->ci : eng_cmd_index(w, c ? c->name : name);
    int expect = !(q->flags & TRACE_REQ_NOREPLY);
    uint32_t max_out = rc->rec_out;

    uint8_t special = S_NONE;
    if (memo_hit)
        special = cm->special;
    else if (!strcmp(name, "select"))
        special = S_SELECT;
    else if (!strcmp(name, "hello"))
        special = S_HELLO;
    else if (!strcmp(name, "auth"))
        special = S_AUTH;
    else if (!strcmp(name, "subscribe") || !strcmp(name, "psubscribe") ||
             !strcmp(name, "ssubscribe"))
        special = S_SUBSCRIBE;
    else if (!strcmp(name, "unsubscribe") || !strcmp(name, "punsubscribe") ||
             !strcmp(name, "sunsubscribe"))
        special = S_UNSUBSCRIBE;
    else if (!strcmp(name, "reset"))
        special = S_RESET;
    else if (!strcmp(name, "quit"))
        special = S_QUIT;
    else if (!strcmp(name, "multi"))
        special = S_MULTI;
    else if (!strcmp(name, "exec") || !strcmp(name, "discard"))
        special = S_EXEC;
    int64_t select_db = special == S_SELECT && q->argc == 2 ? parse_i64(q->argv[1], q->argvlen[1])
                                                            : -1;

    int why = -1;
    const char *subp = q->argc > 1 ? sub : NULL;
    if (malformed && !o->send_malformed)
        why = REPLAY_SKIP_MALFORMED;
    else if (malformed)
        why = -1; /* sent as it was: none of the rules below applies to bytes with no command */
    else if (memo_hit && cm->why_set)
        why = cm->why;
    else if (special != S_QUIT && replay_cmd_is_unsafe(name, subp) &&
        !in_list(o->allow, o->nallow, name, subp))
        why = REPLAY_SKIP_UNSAFE;
    else if (special == S_QUIT)
        why = REPLAY_SKIP_UNSAFE; /* the recorded connection's close does what QUIT did */
    else if ((o->nonly && !in_list(o->only, o->nonly, name, subp)) ||
             in_list(o->skip, o->nskip, name, subp))
        why = REPLAY_SKIP_FILTER;
    else if (o->read_only && c && (c->flags & RT_CMD_WRITE))
        why = REPLAY_SKIP_WRITE;
    else if (special == S_AUTH && !o->target.pass)
        why = REPLAY_SKIP_AUTH;
    if (cm && !memo_hit) {
        /* the reason above depends on the name only unless a list names one of its
         * subcommands (a container's subcommand is its own entry: fixed by c) */
        int by_name = special != S_SELECT &&
                      (strchr(c->name, '|') ||
                       (!list_names_sub(unsafe_cmds, (size_t)-1, name) &&
                        !list_names_sub(o->allow, o->nallow, name) &&
                        !list_names_sub(o->only, o->nonly, name) &&
                        !list_names_sub(o->skip, o->nskip, name)));
        *cm = (struct cmd_memo){
            .c = c,
            .ci = ci,
            .special = special,
            .blocking = (c->flags & RT_CMD_BLOCKING) || !strcmp(name, "wait") ||
                        !strcmp(name, "waitaof") || special == S_SUBSCRIBE,
            .why_set = (uint8_t)by_name,
            .why = (int8_t)why,
        };
    }
    if (why < 0 && special == S_SELECT && o->target.db_set)
        why = REPLAY_SKIP_SELECT;
    else if (why < 0 && special == S_SELECT && w->cluster && select_db != 0) {
        why = REPLAY_SKIP_SELECT; /* a cluster has db 0 only: its commands go there */
        w->res.select_mapped++;
    }

    /* the keys (to prefix, to route): from the command table, else from the target's
     * COMMAND GETKEYS */
    uint8_t *iskey = NULL;
    uint32_t *pos = NULL;
    size_t nk = 0;
    int keys_known = 0;
    if (why < 0 && !malformed && (o->key_prefix || w->cluster || o->verify_writes)) {
        pos = eng_calloc(w, q->argc, sizeof *pos);
        iskey = eng_calloc(w, q->argc, 1);
        if (!pos || !iskey)
            why = REPLAY_SKIP_KEYS; /* (out of memory: the run fails) */
        else if (c && !w->no_table_keys &&
            rt_cmd_keys(c, q->argc, q->argv, q->argvlen, pos, q->argc, &nk) == 0) {
            keys_known = 1;
            for (size_t i = 0; i < nk; i++)
                if (pos[i] < q->argc)
                    iskey[pos[i]] = 1;
        } else if (getkeys_remote(w, q, iskey) == 0) {
            keys_known = 1;
            nk = 0;
            for (size_t i = 0; i < q->argc; i++)
                if (iskey[i])
                    pos[nk++] = (uint32_t)i;
        } else if (o->key_prefix) {
            why = REPLAY_SKIP_KEYS;
        }
    }
    /* cluster: the slot of the first key, and whether the keys span slots */
    int32_t slot = -1, *ks = NULL;
    int cross = 0;
    if (why < 0 && w->cluster && keys_known && nk) {
        ks = eng_calloc(w, nk, sizeof *ks);
        for (size_t i = 0; ks && i < nk; i++) {
            ks[i] = pos[i] < q->argc
                        ? rt_sent_key_slot(o->key_prefix, q->argv[pos[i]], q->argvlen[pos[i]])
                        : 0;
            if (slot < 0)
                slot = ks[i];
            else if (ks[i] != slot)
                cross = 1;
        }
    }

    struct req *r = NULL;
    if (why >= 0) {
        skip_req(w, ci, (unsigned)why);
    } else {
        r = eng_req_new(w);
    }
    if (r) {
        r->rc = rc;
        r->seq = q->seq;
        r->due = due;
        r->max_out = max_out;
        r->db = w->cluster ? 0 : q->db;
        r->proto = q->proto;
        r->cmd = ci;
        r->kind = K_REQ;
        r->special = special;
        r->expect = (uint8_t)expect;
        r->arg = -1;
        r->refs = 1;
        r->slot = slot;
        r->node = -1;
        r->is_read = c && (c->flags & RT_CMD_READONLY) && !(c->flags & RT_CMD_WRITE);
        eng_fill_mark(w, r, q);
        r->blocking = cm ? cm->blocking
                         : (c && (c->flags & RT_CMD_BLOCKING)) || !strcmp(name, "wait") ||
                               !strcmp(name, "waitaof") || special == S_SUBSCRIBE;
        if (special == S_SELECT)
            r->arg = select_db;
        if (special == S_SUBSCRIBE || special == S_UNSUBSCRIBE)
            r->replies_left = q->argc > 1 ? (uint32_t)(q->argc - 1) : 1;
        int pairs = 0;
        if (cross && memo_hit)
            lower_copy(name, sizeof name, q->argv[0], q->argvlen[0]);
        uint8_t sk = cross && !rc->in_tx && !o->no_split ? rt_split_kind(name, &pairs) : 0;
        if (special == S_AUTH || special == S_HELLO) {
            /* the trace's credentials (redacted) give way to the target's */
            const char *av[8];
            size_t n = 0;
            av[n++] = special == S_AUTH ? "AUTH" : "HELLO";
            if (special == S_HELLO && q->argc > 1) {
                r->arg = parse_i64(q->argv[1], q->argvlen[1]);
                av[n++] = r->arg == 3 ? "3" : "2";
            }
            if (special == S_AUTH || (special == S_HELLO && o->target.pass && q->argc > 1)) {
                if (special == S_HELLO)
                    av[n++] = "AUTH";
                if (o->target.user || special == S_HELLO)
                    av[n++] = o->target.user ? o->target.user : "default";
                av[n++] = o->target.pass;
            }
            size_t len[8];
            for (size_t i = 0; i < n; i++)
                len[i] = strlen(av[i]);
            /* HELLO ... SETNAME name is kept */
            char *setname = NULL;
            size_t setlen = 0;
            for (size_t i = 2; special == S_HELLO && i + 1 < q->argc; i++)
                if (q->argvlen[i] == 7 && !strncasecmp(q->argv[i], "setname", 7)) {
                    av[n] = "SETNAME";
                    len[n++] = 7;
                    setname = (char *)q->argv[i + 1];
                    setlen = q->argvlen[i + 1];
                    av[n] = setname;
                    len[n++] = setlen;
                    break;
                }
            r->wire = eng_fmt_cmd(w, n, av, len, NULL, NULL, &r->wlen);
        } else if (sk && ks) {
            r->split_kind = sk;
            make_parts(w, rc, r, q, pos, ks, nk, pairs);
            w->res.split++;
        } else if (malformed) {
            r->wire = eng_wire_alloc(w, q->argvlen[0]);
            if (r->wire)
                memcpy(r->wire, q->argv[0], q->argvlen[0]);
            r->wlen = r->wire ? q->argvlen[0] : 0;
        } else {
            if (cross && !rc->in_tx)
                w->res.crossslot++; /* goes whole: the target answers CROSSSLOT */
            r->wire =
                eng_fmt_cmd(w, q->argc, q->argv, q->argvlen, iskey, o->key_prefix, &r->wlen);
        }
    }
    if (r && o->verify_writes && keys_known)
        r->vw = make_vwrite(w, c ? c->name : name, c, q, pos, nk, rc->vw_tx || special == S_EXEC);
    if (special == S_MULTI)
        rc->vw_tx = 1;
    else if (special == S_EXEC)
        rc->vw_tx = 0;
    free(iskey);
    free(pos);
    free(ks);
    if (r && w->fatal) { /* out of memory somewhere above: the run fails, nothing is sent */
        eng_release(r);
        r = NULL;
    }
    pl->special = special;
    pl->expect = (uint8_t)expect;
    pl->cross = (uint8_t)cross;
    pl->slot = slot;
    return r;
}

/* ---- --sync keys: what a request does to the order -------------------------------------- */

/* the hash of a key as the order knows it: its database and its bytes */
static uint64_t sync_key_hash(uint32_t db, uint64_t khash)
{
    return khash ^ mix64((uint64_t)db + 1);
}

/* sync_key.same of a request on one key (argument kpos, whose trace_hash() is khash): SET k v,
 * or SET k v with EX, PX, EXAT or PXAT (an option that makes the state or the reply depend on
 * the key, NX, XX, GET or KEEPTTL, is not an identical write), as the hash of its arguments
 * after the name; else 0 */
static uint64_t sync_same(const struct worker *w, const struct rt_cmd *c,
                          const struct trace_request *q, uint32_t kpos, uint64_t khash)
{
    if (c != w->c_set || (q->argc != 3 && q->argc != 5))
        return 0;
    if (q->argc == 5) {
        const char *o = q->argv[3];
        size_t n = q->argvlen[3];
        if (!(n == 2 && (!strncasecmp(o, "ex", 2) || !strncasecmp(o, "px", 2))) &&
            !(n == 4 && (!strncasecmp(o, "exat", 4) || !strncasecmp(o, "pxat", 4))))
            return 0;
    }
    /* (the key's hash is the caller's, not computed a second time) */
    uint64_t h = 0x5e7;
    for (uint32_t i = 1; i < q->argc; i++)
        h = mix64(h ^ (i == kpos ? khash : trace_hash(q->argv[i], q->argvlen[i])) ^
                  ((uint64_t)q->argvlen[i] << 32));
    return h ? h : 1;
}

const struct rt_cmd *eng_req_cmd(struct worker *w, const struct trace_request *q)
{
    /* (the order looks a request up before eng_req_make() does: once is enough) */
    if (w->lk_set && w->lk_q == q && w->lk_seq == q->seq && w->lk_argv == q->argv)
        return w->lk_cmd;
    w->lk_set = 1;
    w->lk_q = q;
    w->lk_seq = q->seq;
    w->lk_argv = q->argv;
    /* a short name's entry is remembered by its exact bytes (a table lookup lower-cases and
     * hashes the name: 140 instructions a request); a container's subcommand is looked up */
    size_t n = q->argc ? q->argvlen[0] : 0;
    if (n && n <= 8) {
        uint64_t k = 0;
        memcpy(&k, q->argv[0], n);
        struct name_memo *m = &w->nmemo[((k ^ n) * 0x9e3779b97f4a7c15ull) >> 60];
        if (!(m->n == n && m->k == k)) {
            m->c = rt_cmd_lookup(1, q->argv, q->argvlen);
            m->k = k;
            m->n = (uint8_t)n;
        }
        if (!m->c || !(m->c->flags & RT_CMD_CONTAINER) || q->argc < 2)
            return w->lk_cmd = m->c;
    }
    return w->lk_cmd = rt_cmd_lookup(q->argc, q->argv, q->argvlen);
}

int eng_sync_req(struct worker *w, const struct trace_request *q, struct sync_req *sq)
{
    sq->kind = SYNC_NONE;
    sq->keys = NULL;
    sq->nkeys = 0;
    if (!q->argc || (q->flags & TRACE_REQ_MALFORMED))
        return 0; /* the server ran nothing */
    const struct rt_cmd *c = eng_req_cmd(w, q);
    if (!c)
        return -1; /* unknown: not ordered, counted */
    if (c == w->c_multi) {
        sq->kind = SYNC_MULTI;
        return 0;
    }
    if (c == w->c_exec) {
        sq->kind = SYNC_EXEC;
        return 0;
    }
    if (c == w->c_discard) {
        sq->kind = SYNC_DISCARD;
        return 0;
    }
    int write = (c->flags & (RT_CMD_WRITE | RT_CMD_SCRIPTING | RT_CMD_MAY_REPLICATE)) != 0;
    if (w->spcap < q->argc) {
        if (eng_grow(w, &w->spos, q->argc * sizeof *w->spos) < 0)
            return -1; /* (out of memory: the run fails) */
        w->spcap = q->argc;
    }
    size_t nk = 0;
    if (rt_cmd_keys(c, q->argc, q->argv, q->argvlen, w->spos, q->argc, &nk) != 0) {
        if (write) {
            sq->kind = SYNC_BARRIER; /* a write whose keys cannot be found: may touch anything */
            return 0;
        }
        return -1;
    }
    if (!nk) {
        /* keyless: a write (FLUSHDB, SWAPDB) or a script without keys may touch anything */
        sq->kind = write ? SYNC_BARRIER : SYNC_NONE;
        return 0;
    }
    if (w->skcap < nk) {
        if (eng_grow(w, &w->skeys, nk * sizeof *w->skeys) < 0)
            return -1;
        w->skcap = nk;
    }
    uint32_t db = w->cluster ? 0 : q->db;
    for (size_t i = 0; i < nk; i++) {
        uint32_t p = w->spos[i] < q->argc ? w->spos[i] : 0;
        uint64_t kh = trace_hash(q->argv[p], q->argvlen[p]);
        w->skeys[i].hash = sync_key_hash(db, kh);
        w->skeys[i].write = (uint8_t)write;
        w->skeys[i].same = nk == 1 ? sync_same(w, c, q, p, kh) : 0;
    }
    sq->kind = (c->flags & RT_CMD_BLOCKING) ? SYNC_BLOCKING : SYNC_KEYS;
    sq->keys = w->skeys;
    sq->nkeys = nk;
    return 0;
}
