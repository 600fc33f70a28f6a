/* session.c: one connection's two byte streams turned into paired REQUEST/REPLY/PUSH events. */

/*
 * Each direction keeps a buffer that only ever holds the start of one incomplete message:
 * complete messages are scanned and emitted as soon as their last byte arrives, straight from
 * the caller's chunk when nothing is buffered (zero-copy), and the scanner's `need` hint
 * spares rescans while a long message trickles in. Because of that invariant, the first
 * message scanned in a call starts either in the buffer (time: the segment that began the
 * buffer) or in the new chunk (time: that chunk's). So an event's ts is always the capture
 * time of the segment that carried the message's first byte, and a reply's ts minus its
 * request's ts is the server latency as seen at the capture point.
 *
 * Pairing is FIFO per connection, with these rules (see record.h for the full policy):
 * - CLIENT REPLY OFF/SKIP: commands that get no reply are flagged TRACE_REQ_NOREPLY and never
 *   queued. OFF and SKIP themselves get none; SKIP marks the next command; ON gets its +OK.
 * - Subscribe family: RESP2: the first confirmation is the REPLY, the other confirmations of
 *   the same command are PUSH events carrying the command's seq in req_seq; RESP3 (">"): all
 *   confirmations are PUSH events carrying the seq. UNSUBSCRIBE without arguments takes the
 *   confirmations of its type until one reports 0 subscriptions or another reply comes.
 * - RESP2 message/pmessage/smessage arrays while subscribed, RESP3 ">" pushes and MONITOR
 *   lines are PUSH events with req_seq TRACE_SEQ_NONE.
 * - db (SELECT) and proto (HELLO) are applied when the command is sent, since redis executes
 *   in order and a pipelined command after SELECT runs in the new db; an error reply restores
 *   the previous value for the commands sent after it. Subscribed and MONITOR state follow the
 *   server stream (they change when the reply that changes them is seen).
 * - Gaps: see lose_sync().
 * - Secrets: the arguments that carry one are replaced (redact()); the replies that can carry
 *   one keep their type only (reply_secret(), looks_secret(), and the errors of redacted
 *   commands, which can quote them): TRACE_REPLY_REDACTED.
 * - Bytes the server rejects as a command are one TRACE_REQ_MALFORMED request holding them as
 *   sent, paired like any other (on_malformed()).
 * - Memory: a connection that sends nothing costs its struct rec_conn; the direction buffers
 *   grow with the data and are freed when a long message has passed, and the scratch where
 *   requests are taken apart is the recorder's, shared by its sessions (struct rec_scratch).
 */
#include "record_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REDACTED "<redacted>"
#define ARGV_INITIAL 16
/* The most bytes of a malformed request kept (redis' own inline limit, PROTO_INLINE_MAX_SIZE). */
#define MALFORMED_MAX 65536u
/* A direction buffer that held a long message is freed, not kept, once it is empty again:
 * thousands of connections must not each keep the largest message they ever carried. */
#define BUF_KEEP 16384u
#define BUF_MIN 512u

/* The scratch where requests are taken apart: argument vectors, unquoted inline arguments,
 * --redact-values' filler and positions. Only used while one message is scanned and emitted,
 * so the sessions of one thread share one (struct rec_session_opts.scratch) instead of
 * holding 64 KiB each from their SYN on; allocated on first use. */
struct rec_scratch {
    const char **argv;
    size_t *argvlen;
    size_t argv_cap;
    char *scratch; /* unquoted inline arguments; a malformed request's redacted copy */
    size_t scratch_cap;
    char *filler; /* --redact-values: 'x' bytes standing in for values */
    size_t filler_len;
    uint32_t *pos;
    size_t pos_cap;
};

enum pend_kind {
    PK_PLAIN = 0,
    PK_SUB,       /* (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE with arguments: `expect` confirmations */
    PK_UNSUB_ALL, /* (P|S)UNSUBSCRIBE without arguments: confirmations until count 0 */
    PK_SELECT,
    PK_HELLO,
    PK_MONITOR,
    PK_EXEC,
    PK_RESET
};

/* The names of the subscribe family, indexed as struct pend.sub. */
static const char *const sub_names[] = {"subscribe",   "psubscribe",   "ssubscribe",
                                        "unsubscribe", "punsubscribe", "sunsubscribe"};
#define NSUB 6

struct pend {
    uint64_t seq;
    uint8_t kind;       /* enum pend_kind */
    uint8_t uncertain;  /* queued after a gap: its pairing is flagged TRACE_REPLY_AFTER_GAP */
    uint8_t secret;     /* its reply may hold a secret: written TRACE_REPLY_REDACTED */
    uint8_t secret_err; /* its arguments were redacted: an error reply may echo them */
    uint8_t sub;        /* PK_SUB, PK_UNSUB_ALL: index in sub_names */
    uint8_t prev_proto;
    uint32_t expect, got;
    uint32_t prev_db;
};

struct dirstate {
    uint8_t *buf; /* the start of one incomplete message */
    size_t len, cap;
    uint64_t buf_ts;     /* capture time of the segment that carried buf[0] */
    size_t need;         /* the scanner's lower bound for the buffered message; 0 when unknown */
    uint64_t base;       /* stream offset of buf[0] (or of the next byte when len is 0) */
    uint8_t resync;      /* look for a message start with resp_resync() */
    uint8_t midline;     /* resyncing and the last dropped byte was not '\n' */
    uint8_t after_gap;   /* the next message follows a gap or a resync */
    uint8_t tls_checked; /* the first two bytes were looked at */
    uint8_t speculative; /* at a resync candidate: a scan failure there is not worth a note */
    uint8_t skipline;    /* drop bytes up to the next '\n', then go on in step (the rest of a
                          * malformed inline line longer than MALFORMED_MAX) */
};

struct rec_conn {
    uint64_t id;
    struct rec_session_opts o;
    struct rec_sink sink;
    int sink_err; /* first negative return of the sink */
    uint8_t dead; /* TLS, or the sink failed: everything is ignored */
    struct dirstate d[2];

    /* pairing state (a connection that sends nothing costs this struct and no more, so the
     * flags are bytes) */
    struct pend *q;
    size_t qhead, qlen, qcap;
    uint32_t db;
    uint32_t multi_db;
    uint8_t proto;
    uint8_t reply_off, skip_next;
    uint8_t in_multi;
    uint8_t multi_select; /* a SELECT queued in MULTI: applied at EXEC */
    uint8_t multi_secret; /* a command queued in MULTI has a reply that may hold a secret */
    uint8_t subscribed;   /* RESP2 subscribed mode, from the confirmations' counts */
    uint8_t monitor;
    uint8_t uncertain; /* a gap happened: queued entries are flagged until the queue drains */

    /* where requests are taken apart: the recorder's shared scratch, or `own`, made when the
     * first request comes */
    struct rec_scratch *x;
    struct rec_scratch *own;

    struct rec_conn_stats st;
};

/* Wipes (unquoted inline arguments may be a secret's) and frees what the scratch holds. */
static void scratch_release(struct rec_scratch *x)
{
    if (x->scratch)
        memset(x->scratch, 0, x->scratch_cap);
    free(x->scratch);
    free(x->filler);
    free(x->pos);
    free(x->argv);
    free(x->argvlen);
    memset(x, 0, sizeof *x);
}

/* Wipes (it may hold a secret's original bytes) and frees a direction's buffer. */
static void buf_free(struct dirstate *d)
{
    if (d->buf)
        memset(d->buf, 0, d->cap);
    free(d->buf);
    d->buf = NULL;
    d->cap = 0;
}

/* ---- events ---------------------------------------------------------------------------- */

static void emit(struct rec_conn *c, struct trace_event *ev)
{
    if (c->dead)
        return;
    ev->conn = c->id;
    int rc = c->sink.event ? c->sink.event(c->sink.ctx, ev) : 0;
    if (rc < 0) {
        c->sink_err = rc;
        c->dead = 1;
    }
}

static void emit_note(struct rec_conn *c, enum trace_dir dir, uint32_t code, uint64_t ts,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void emit_note(struct rec_conn *c, enum trace_dir dir, uint32_t code, uint64_t ts,
                      const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof text)
        n = sizeof text - 1;
    struct trace_event ev = {.type = TRACE_EV_NOTE, .ts = ts};
    ev.u.note.dir = (uint8_t)dir;
    ev.u.note.code = code;
    ev.u.note.text = text;
    ev.u.note.len = (size_t)n;
    emit(c, &ev);
}

static const char *dir_name(enum trace_dir dir)
{
    return dir == TRACE_DIR_TO_SERVER ? "to-server" : "to-client";
}

/* ---- the queue of requests waiting for replies -------------------------------------------- */

static struct pend *q_head(struct rec_conn *c)
{
    return c->qlen ? &c->q[c->qhead] : NULL;
}

static void q_pop(struct rec_conn *c)
{
    c->qhead = (c->qhead + 1) % c->qcap;
    if (--c->qlen == 0) {
        c->qhead = 0;
        c->uncertain = 0; /* drained: what comes next pairs with what is sent next */
    }
}

static int q_push(struct rec_conn *c, const struct pend *p)
{
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? c->qcap * 2 : 16;
        struct pend *nq = malloc(ncap * sizeof *nq);
        if (nq == NULL)
            return RT_ENOMEM;
        for (size_t i = 0; i < c->qlen; i++)
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = nq;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = *p;
    c->qlen++;
    return 0;
}

/* ---- requests ------------------------------------------------------------------------- */

static int arg_is(const struct rec_conn *c, size_t i, const char *s)
{
    size_t n = strlen(s);
    return i < c->x->argv_cap && c->x->argvlen[i] == n && strncasecmp(c->x->argv[i], s, n) == 0;
}

/* Parses a small non-negative decimal argument. @return 0 or -1. */
static int arg_uint(const struct rec_conn *c, size_t i, uint32_t *v)
{
    if (c->x->argvlen[i] == 0 || c->x->argvlen[i] > 9)
        return -1;
    uint32_t x = 0;
    for (size_t k = 0; k < c->x->argvlen[i]; k++) {
        char ch = c->x->argv[i][k];
        if (ch < '0' || ch > '9')
            return -1;
        x = x * 10 + (uint32_t)(ch - '0');
    }
    *v = x;
    return 0;
}

static int sub_index(const struct rec_conn *c)
{
    for (int k = 0; k < NSUB; k++)
        if (arg_is(c, 0, sub_names[k]))
            return k;
    return -1;
}

/* Replaces a secret argument by the fixed placeholder, wiping our own copy of it (the bytes
 * may live in the direction buffer or in the inline scratch; bytes still in the caller's
 * chunk are the caller's). */
static void redact_arg(struct rec_conn *c, size_t i, const uint8_t *own, size_t ownlen)
{
    char *a = (char *)c->x->argv[i];
    size_t n = c->x->argvlen[i];
    int in_own = own && (const uint8_t *)a >= own && (const uint8_t *)a + n <= own + ownlen;
    int in_scratch = a >= c->x->scratch && a + n <= c->x->scratch + c->x->scratch_cap;
    if (in_own || in_scratch)
        memset(a, 'x', n);
    c->x->argv[i] = REDACTED;
    c->x->argvlen[i] = sizeof REDACTED - 1;
}

/* The configuration parameters whose value is a secret (redis and sentinel). */
static const char *const secret_params[] = {"requirepass",       "masterauth",
                                            "tls-key-file-pass", "tls-client-key-file-pass",
                                            "sentinel-pass",     NULL};

static int secret_param(const struct rec_conn *c, size_t i)
{
    for (const char *const *n = secret_params; *n; n++)
        if (arg_is(c, i, *n))
            return 1;
    return 0;
}

/* The secrets of the command whose name is argument `b` (arguments b .. argc-1):
 *   AUTH pass, AUTH user pass
 *   HELLO ver AUTH user pass;  MIGRATE ... AUTH pass / AUTH2 user pass
 *   CONFIG SET name value ... with name requirepass, masterauth, tls-*-pass
 *   ACL SETUSER name rule...: >pass <pass #hash !hash
 *   SENTINEL SET master option value ...: the value of auth-pass
 *   SENTINEL CONFIG SET name value ...: the value of sentinel-pass
 *   ACL DRYRUN user command arg...: the secrets of the command it names, by these rules.
 * @return 1 when something was redacted. */
static int redact(struct rec_conn *c, size_t b, size_t argc, const uint8_t *own, size_t ownlen)
{
    int r = 0;
    /* ACL DRYRUN user cmd ...: the command is judged, not run, but its arguments are as sent */
    while (argc >= b + 4 && arg_is(c, b, "ACL") && arg_is(c, b + 1, "DRYRUN"))
        b += 3;
    size_t n = argc - b; /* arguments of the command, its name included */
    if (arg_is(c, b, "AUTH")) {
        /* AUTH pass, AUTH user pass; anything longer is an error, redacted whole */
        for (size_t i = b + (n == 3 ? 2 : 1); i < argc; i++) {
            redact_arg(c, i, own, ownlen);
            r = 1;
        }
        return r;
    }
    if (arg_is(c, b, "CONFIG") && n > 1 && arg_is(c, b + 1, "SET")) {
        /* CONFIG SET name value [name value ...]: the values of secret parameters */
        for (size_t i = b + 2; i + 1 < argc; i += 2)
            if (secret_param(c, i)) {
                redact_arg(c, i + 1, own, ownlen);
                r = 1;
            }
        return r;
    }
    if (arg_is(c, b, "SENTINEL") && n > 3 &&
        (arg_is(c, b + 1, "SET") || (arg_is(c, b + 1, "CONFIG") && arg_is(c, b + 2, "SET")))) {
        /* SENTINEL SET master option value [option value ...] and SENTINEL CONFIG SET name
         * value [name value ...]: both have their pairs from argument 3 on */
        for (size_t i = b + 3; i + 1 < argc; i += 2)
            if (arg_is(c, i, "auth-pass") || secret_param(c, i)) {
                redact_arg(c, i + 1, own, ownlen);
                r = 1;
            }
        return r;
    }
    if (arg_is(c, b, "ACL") && n > 2 && arg_is(c, b + 1, "SETUSER")) {
        /* ACL SETUSER name rule...: >pass and <pass name a password, #hash and !hash its
         * SHA-256; rules are one argument each */
        for (size_t i = b + 3; i < argc; i++) {
            char k = i < c->x->argv_cap && c->x->argvlen[i] ? c->x->argv[i][0] : 0;
            if (k == '>' || k == '<' || k == '#' || k == '!') {
                redact_arg(c, i, own, ownlen);
                r = 1;
            }
        }
        return r;
    }
    int hello = arg_is(c, b, "HELLO"), migrate = arg_is(c, b, "MIGRATE");
    if (!hello && !migrate)
        return 0;
    for (size_t i = b + 1; i < argc; i++) {
        if (arg_is(c, i, "AUTH") && hello && i + 2 < argc) {
            redact_arg(c, i + 2, own, ownlen);
            r = 1;
            i += 2;
        } else if (arg_is(c, i, "AUTH") && migrate && i + 1 < argc) {
            redact_arg(c, i + 1, own, ownlen);
            r = 1;
            i += 1;
        } else if (arg_is(c, i, "AUTH2") && migrate && i + 2 < argc) {
            redact_arg(c, i + 2, own, ownlen);
            r = 1;
            i += 2;
        }
    }
    return r;
}

/* ---- replies that may hold a secret ---------------------------------------------------- */

static unsigned char lower(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
}

/* One element of a redis glob at p[i] (not '*') against the byte `ch`, case-insensitively as
 * CONFIG GET compares: '?', "[...]" with '^' negation, ranges and '\' escapes, "\x", or a
 * byte. @return 1 when it matches, with *adv set to the element's length. */
static int glob_elem(const char *p, size_t pn, size_t i, unsigned char ch, size_t *adv)
{
    ch = lower(ch);
    if (p[i] == '?') {
        *adv = 1;
        return 1;
    }
    if (p[i] == '\\' && i + 1 < pn) {
        *adv = 2;
        return lower((unsigned char)p[i + 1]) == ch;
    }
    if (p[i] != '[') {
        *adv = 1;
        return lower((unsigned char)p[i]) == ch;
    }
    size_t k = i + 1;
    int neg = 0, hit = 0;
    if (k < pn && p[k] == '^') {
        neg = 1;
        k++;
    }
    while (k < pn && p[k] != ']') {
        if (p[k] == '\\' && k + 1 < pn) {
            hit |= lower((unsigned char)p[k + 1]) == ch;
            k += 2;
        } else if (k + 2 < pn && p[k + 1] == '-') {
            unsigned char a = lower((unsigned char)p[k]), z = lower((unsigned char)p[k + 2]);
            if (a > z) {
                unsigned char t = a;
                a = z;
                z = t;
            }
            hit |= ch >= a && ch <= z;
            k += 3;
        } else {
            hit |= lower((unsigned char)p[k]) == ch;
            k++;
        }
    }
    /* an unclosed class ends with the pattern, as in redis' stringmatchlen() */
    *adv = (k < pn ? k + 1 : k) - i;
    return neg ? !hit : hit;
}

/* Whether the glob `p` matches `s` (redis' stringmatchlen() with nocase). Every element but
 * '*' takes one byte, so backtracking to the last '*' is enough: O(pn * sn), and the names
 * matched here are short. */
static int glob_match(const char *p, size_t pn, const char *s, size_t sn)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, star_s = 0, adv;
    while (si < sn) {
        if (pi < pn && p[pi] == '*') {
            while (pi < pn && p[pi] == '*')
                pi++;
            if (pi == pn)
                return 1;
            star = pi;
            star_s = si;
            continue;
        }
        if (pi < pn && glob_elem(p, pn, pi, (unsigned char)s[si], &adv)) {
            pi += adv;
            si++;
            continue;
        }
        if (star == SIZE_MAX)
            return 0;
        pi = star;
        si = ++star_s;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

static int contains_nocase(const char *p, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++) {
        size_t k = 0;
        while (k < w && lower((unsigned char)p[i + k]) == (unsigned char)word[k])
            k++;
        if (k == w)
            return 1;
    }
    return 0;
}

/* A CONFIG GET pattern that can name a secret: it matches one of secret_params, or it
 * spells "pass" or "auth" (so a parameter this list does not know, a module's password,
 * is covered when asked for by a name that says what it is). */
static int secret_pattern(const struct rec_conn *c, size_t i)
{
    if (i >= c->x->argv_cap)
        return 1;
    const char *p = c->x->argv[i];
    size_t n = c->x->argvlen[i];
    for (const char *const *name = secret_params; *name; name++)
        if (glob_match(p, n, *name, strlen(*name)))
            return 1;
    return contains_nocase(p, n, "pass") || contains_nocase(p, n, "auth");
}

/* Whether the reply of the command at argument `b` can carry a secret, so that it is written
 * TRACE_REPLY_REDACTED (its type only: no bytes, no hash, no length):
 *   CONFIG GET pattern...          a pattern can match a password parameter (secret_pattern)
 *   ACL LIST, ACL GETUSER user     the users' SHA-256 password hashes
 *   SENTINEL CONFIG GET pattern... sentinel-pass
 * SENTINEL MASTER, MASTERS, REPLICAS and SENTINELS do not show auth-pass (redis 7.0 was
 * asked), nor does INFO. An EXEC answers for its queued commands: see request_state(). The
 * error replies of commands whose arguments were redacted are redacted too (on_request()),
 * and replies whose request is unknown or uncertain when they look secret (looks_secret()). */
static int reply_secret(const struct rec_conn *c, size_t b, size_t argc)
{
    size_t n = argc - b;
    if (arg_is(c, b, "CONFIG") && n > 2 && arg_is(c, b + 1, "GET")) {
        for (size_t i = b + 2; i < argc; i++)
            if (secret_pattern(c, i))
                return 1;
        return 0;
    }
    if (arg_is(c, b, "ACL") && n > 1 && (arg_is(c, b + 1, "LIST") || arg_is(c, b + 1, "GETUSER")))
        return 1;
    if (arg_is(c, b, "SENTINEL") && n > 3 && arg_is(c, b + 1, "CONFIG") &&
        arg_is(c, b + 2, "GET")) {
        for (size_t i = b + 3; i < argc; i++)
            if (secret_pattern(c, i))
                return 1;
        return 0;
    }
    return 0;
}

/* --redact-values: the values of a write command (positions from the command table) become
 * 'x' bytes of the same length, so a replay writes as much as production did. Commands whose
 * arguments do not fit the table's grammar lose every argument that is not the name, a
 * subcommand or a key. @return 1 when something was replaced, -1 when out of memory. */
static int redact_values(struct rec_conn *c, size_t argc)
{
    if (!c->o.redact_values || argc < 2)
        return 0;
    const struct rt_cmd *cmd = rt_cmd_lookup(argc, c->x->argv, c->x->argvlen);
    if (!cmd || !(cmd->flags & RT_CMD_WRITE))
        return 0;
    if (c->x->pos_cap < argc) {
        uint32_t *np = realloc(c->x->pos, argc * sizeof *np);
        if (!np)
            return -1;
        c->x->pos = np;
        c->x->pos_cap = argc;
    }
    size_t n = 0, longest = 0;
    if (rt_cmd_values(cmd, argc, c->x->argv, c->x->argvlen, c->x->pos, argc, &n) < 0) {
        /* no grammar match: keep only the name, the subcommand and the keys */
        size_t nk = 0;
        size_t first = strchr(cmd->name, '|') ? 2 : 1;
        uint8_t *key = calloc(argc, 1);
        if (!key)
            return -1;
        if (rt_cmd_keys(cmd, argc, c->x->argv, c->x->argvlen, c->x->pos, argc, &nk) == 0)
            for (size_t i = 0; i < nk && i < argc; i++)
                if (c->x->pos[i] < argc)
                    key[c->x->pos[i]] = 1;
        n = 0;
        for (size_t i = first; i < argc; i++)
            if (!key[i])
                c->x->pos[n++] = (uint32_t)i;
        free(key);
    }
    if (n > argc)
        n = argc;
    for (size_t i = 0; i < n; i++)
        if (c->x->pos[i] < argc && c->x->argvlen[c->x->pos[i]] > longest)
            longest = c->x->argvlen[c->x->pos[i]];
    if (!n)
        return 0;
    if (longest > c->x->filler_len) {
        char *nf = realloc(c->x->filler, longest);
        if (!nf)
            return -1;
        memset(nf, 'x', longest);
        c->x->filler = nf;
        c->x->filler_len = longest;
    }
    for (size_t i = 0; i < n; i++)
        if (c->x->pos[i] < argc)
            c->x->argv[c->x->pos[i]] = c->x->filler;
    return 1;
}

/* Decides whether the command gets a reply and what it changes in the connection's state
 * at send time; fills `p` for the queue. @return 1 when it expects a reply. */
static int request_state(struct rec_conn *c, size_t argc, struct pend *p)
{
    int noreply = c->reply_off;
    if (c->skip_next) {
        noreply = 1;
        c->skip_next = 0;
    }
    p->kind = PK_PLAIN;
    p->expect = 1;
    p->prev_db = c->db;
    p->prev_proto = c->proto;

    if (argc >= 3 && arg_is(c, 0, "CLIENT") && arg_is(c, 1, "REPLY")) {
        if (arg_is(c, 2, "OFF")) {
            c->reply_off = 1;
            return 0;
        }
        if (arg_is(c, 2, "SKIP")) {
            if (!c->reply_off)
                c->skip_next = 1;
            return 0;
        }
        if (arg_is(c, 2, "ON")) {
            c->reply_off = 0; /* ON clears a pending SKIP too and always answers +OK */
            c->skip_next = 0;
            return 1;
        }
    }
    if (noreply)
        return 0;

    int secret = reply_secret(c, 0, argc);
    if (c->in_multi) { /* queued: one reply (QUEUED or an error) each, effects at EXEC */
        if (arg_is(c, 0, "EXEC")) {
            c->in_multi = 0;
            p->kind = PK_EXEC;
            p->secret = (uint8_t)c->multi_secret; /* the replies of the queued commands */
            if (c->multi_select)
                c->db = c->multi_db;
            c->multi_select = 0;
            c->multi_secret = 0;
        } else if (arg_is(c, 0, "DISCARD")) {
            c->in_multi = 0;
            c->multi_select = 0;
            c->multi_secret = 0;
        } else if (argc == 2 && arg_is(c, 0, "SELECT") && arg_uint(c, 1, &c->multi_db) == 0) {
            c->multi_select = 1;
        } else if (secret) {
            c->multi_secret = 1;
        }
        return 1;
    }
    p->secret = (uint8_t)secret;
    if (arg_is(c, 0, "MULTI")) {
        c->in_multi = 1;
        c->multi_secret = 0;
        return 1;
    }
    int sub = sub_index(c);
    if (sub >= 0) {
        p->sub = (uint8_t)sub;
        if (argc >= 2) {
            p->kind = PK_SUB;
            p->expect = argc - 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(argc - 1);
        } else if (sub >= 3) {
            p->kind = PK_UNSUB_ALL;
        }
        return 1;
    }
    uint32_t v;
    if (argc == 2 && arg_is(c, 0, "SELECT") && arg_uint(c, 1, &v) == 0) {
        p->kind = PK_SELECT;
        c->db = v;
    } else if (argc >= 2 && arg_is(c, 0, "HELLO") && arg_uint(c, 1, &v) == 0) {
        p->kind = PK_HELLO;
        if (v == 2 || v == 3)
            c->proto = (uint8_t)v;
    } else if (arg_is(c, 0, "MONITOR")) {
        p->kind = PK_MONITOR;
    } else if (argc == 1 && arg_is(c, 0, "RESET")) {
        p->kind = PK_RESET;
        c->db = 0;
        c->proto = 2;
        c->reply_off = 0;
        c->skip_next = 0;
        c->in_multi = 0;
        c->multi_select = 0;
        c->multi_secret = 0;
    }
    return 1;
}

/* Grows argv to hold `n` arguments. @return 0 or RT_ENOMEM. */
static int argv_grow(struct rec_conn *c, size_t n)
{
    const char **a = realloc(c->x->argv, n * sizeof *a);
    if (a == NULL)
        return RT_ENOMEM;
    c->x->argv = a;
    size_t *l = realloc(c->x->argvlen, n * sizeof *l);
    if (l == NULL)
        return RT_ENOMEM;
    c->x->argvlen = l;
    c->x->argv_cap = n;
    return 0;
}

/* Makes the scratch fit this session's limits before a scan. @return 0 or RT_ENOMEM. */
static int scratch_ready(struct rec_conn *c)
{
    if (c->x == NULL && (c->x = c->own = rec_scratch_new()) == NULL)
        return RT_ENOMEM;
    struct rec_scratch *x = c->x;
    size_t want = c->o.lim.max_inline + 1;
    if (want < MALFORMED_MAX)
        want = MALFORMED_MAX; /* a malformed request's redacted copy */
    if (x->scratch_cap < want) {
        char *b = malloc(want);
        if (b == NULL)
            return RT_ENOMEM;
        if (x->scratch)
            memset(x->scratch, 0, x->scratch_cap);
        free(x->scratch);
        x->scratch = b;
        x->scratch_cap = want;
    }
    return x->argv_cap < ARGV_INITIAL ? argv_grow(c, ARGV_INITIAL) : 0;
}

static int scan_request(struct rec_conn *c, const uint8_t *m, size_t len, struct resp_request *r,
                        size_t *need)
{
    if (scratch_ready(c) < 0) {
        memset(r, 0, sizeof *r);
        r->fail = RESP_FAIL_SCRATCH;
        r->fail_what = "out of memory for the request scratch";
        return -1;
    }
    for (;;) {
        memset(r, 0, sizeof *r);
        r->argv = c->x->argv;
        r->argvlen = c->x->argvlen;
        r->argv_cap = c->x->argv_cap;
        r->scratch = c->x->scratch;
        r->scratch_cap = c->x->scratch_cap;
        int rc = resp_scan_request(m, len, &c->o.lim, r, need);
        if (rc <= 0 || r->total <= r->argc)
            return rc;
        if (argv_grow(c, r->total) < 0) {
            r->fail = RESP_FAIL_SCRATCH; /* our shortage, not the client's fault */
            r->fail_off = 0;
            r->fail_what = "out of memory for the arguments";
            return -1;
        }
    }
}

static void on_request(struct rec_conn *c, struct resp_request *r, uint64_t ts, int after_gap,
                       const uint8_t *own, size_t ownlen)
{
    if (r->total == 0)
        return; /* an empty line or "*0": redis skips it */
    size_t argc = r->argc;
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = ts};
    uint32_t flags = r->flags & TRACE_REQ_INLINE;
    if (redact(c, 0, argc, own, ownlen))
        flags |= TRACE_REQ_REDACTED;
    int rv = redact_values(c, argc);
    if (rv > 0)
        flags |= TRACE_REQ_VALUES_REDACTED;
    else if (rv < 0) {
        /* out of memory: never write a value we were asked to hide; keep the name only */
        flags |= TRACE_REQ_VALUES_REDACTED | TRACE_REQ_TRUNCATED;
        argc = 1;
    }
    if (after_gap)
        flags |= TRACE_REQ_AFTER_GAP;
    ev.u.req.db = c->db; /* in force when sent: before this command's own effect */
    ev.u.req.proto = c->proto;
    struct pend p = {0};
    int wants = request_state(c, argc, &p);
    if (!wants)
        flags |= TRACE_REQ_NOREPLY;
    /* Errors can quote the arguments ("unknown command 'SENTINEL', with args beginning with:
     * 'SET' 'm' 'auth-pass' '...'"): those of a command whose arguments were redacted are
     * redacted too, but AUTH's and HELLO's, whose texts are fixed (WRONGPASS, NOPROTO). */
    if ((flags & TRACE_REQ_REDACTED) && !arg_is(c, 0, "AUTH") && !arg_is(c, 0, "HELLO")) {
        p.secret_err = 1;
        if (c->in_multi)
            c->multi_secret = 1; /* EXEC's array holds the errors of the queued commands */
    }
    ev.u.req.flags = flags;
    ev.u.req.argc = (uint32_t)argc;
    ev.u.req.argv = c->x->argv;
    ev.u.req.argvlen = c->x->argvlen;
    ev.u.req.seq = TRACE_SEQ_NONE;
    c->st.requests++;
    emit(c, &ev);
    if (!wants || c->dead)
        return;
    p.seq = ev.u.req.seq;
    p.uncertain = (uint8_t)c->uncertain;
    if (q_push(c, &p) < 0)
        emit_note(c, TRACE_DIR_TO_SERVER, TRACE_NOTE_LIMIT, ts,
                  "conn %llu: out of memory queueing request %llu: it stays unpaired",
                  (unsigned long long)c->id, (unsigned long long)p.seq);
}

/* ---- malformed requests --------------------------------------------------------------- */

/* A malformed request that may carry a password (a broken AUTH, HELLO ... AUTH, CONFIG SET
 * requirepass, ACL SETUSER ...): its bytes cannot be split into arguments to redact one. */
static int malformed_secret(const uint8_t *m, size_t n)
{
    const char *p = (const char *)m;
    return contains_nocase(p, n, "auth") || contains_nocase(p, n, "pass") ||
           contains_nocase(p, n, "acl");
}

/* The client sent bytes the server rejects as a request (the scan at `m` failed with
 * `rq->fail_off`): redis answers "-ERR Protocol error: ..." and closes, after reading up to
 * the end of the line it failed in. They are recorded as one TRACE_REQ_MALFORMED request whose
 * only argument is those bytes, as sent, line terminator included (at most MALFORMED_MAX:
 * then TRUNCATED), paired with the reply like any request, so that a replay can send the same
 * bytes. A secret in them cannot be told apart from the rest: such bytes are replaced, all
 * but the first byte and the line terminator, by 'x', the first by '"' (inline) or kept
 * ('*'), so that the server still rejects them, with TRACE_REQ_REDACTED.
 * @return the bytes taken (> 0), or 0 while the end of the line is still to come. Where the
 * stream goes on is set in `d`: an inline line ends where the next command begins (the rest
 * of a line cut at MALFORMED_MAX is skipped first); after a RESP array cut short, the next
 * message start is looked for. */
static size_t on_malformed(struct rec_conn *c, struct dirstate *d, const uint8_t *m, size_t have,
                           const struct resp_request *rq, uint64_t ts, const uint8_t *own,
                           size_t ownlen)
{
    size_t from = rq->fail_off < have ? rq->fail_off : have;
    size_t lim = have < MALFORMED_MAX ? have : MALFORMED_MAX;
    const uint8_t *nl = from < lim ? memchr(m + from, '\n', lim - from) : NULL;
    size_t n;
    uint32_t flags = TRACE_REQ_MALFORMED | (d->after_gap ? TRACE_REQ_AFTER_GAP : 0);
    if (nl) {
        n = (size_t)(nl - m) + 1;
    } else if (have < MALFORMED_MAX) {
        return 0; /* redis too waits for the line's end before it answers */
    } else {
        n = MALFORMED_MAX;
        flags |= TRACE_REQ_TRUNCATED;
    }
    int cut = (flags & TRACE_REQ_TRUNCATED) != 0;
    d->resync = m[0] == '*';
    d->midline = d->resync && cut;
    d->skipline = !d->resync && cut;
    const char *raw = (const char *)m;
    if (malformed_secret(m, n)) {
        char *b = c->x->scratch; /* scratch_ready(): at least MALFORMED_MAX bytes */
        size_t term = n >= 2 && m[n - 2] == '\r' && m[n - 1] == '\n' ? 2 : m[n - 1] == '\n';
        if (flags & TRACE_REQ_TRUNCATED)
            term = 0;
        memset(b, 'x', n - term);
        memcpy(b + n - term, m + n - term, term);
        if (n > term)
            b[0] = m[0] == '*' ? '*' : '"';
        if (own && m >= own && m + n <= own + ownlen)
            memset((uint8_t *)(uintptr_t)m, 'x', n); /* our own copy of the secret */
        raw = b;
        flags |= TRACE_REQ_REDACTED;
    }
    struct pend p = {.kind = PK_PLAIN, .expect = 1, .prev_db = c->db, .prev_proto = c->proto};
    int wants = !c->reply_off && !c->skip_next;
    c->skip_next = 0;
    if (!wants)
        flags |= TRACE_REQ_NOREPLY;
    struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = ts};
    ev.u.req.db = c->db;
    ev.u.req.proto = c->proto;
    ev.u.req.flags = flags;
    ev.u.req.argc = 1;
    ev.u.req.argv = &raw;
    ev.u.req.argvlen = &n;
    ev.u.req.seq = TRACE_SEQ_NONE;
    c->st.requests++;
    c->st.malformed++;
    emit(c, &ev);
    if (wants && !c->dead) {
        p.seq = ev.u.req.seq;
        p.uncertain = (uint8_t)c->uncertain;
        if (q_push(c, &p) < 0)
            emit_note(c, TRACE_DIR_TO_SERVER, TRACE_NOTE_LIMIT, ts,
                      "conn %llu: out of memory queueing request %llu: it stays unpaired",
                      (unsigned long long)c->id, (unsigned long long)p.seq);
    }
    return n;
}

/* ---- replies -------------------------------------------------------------------------- */

/* Reads the three elements of a subscribe confirmation: [name, channel, count]. @return the
 * sub_names index with *count set, or -1 when the message is not one. */
static int confirmation(const struct rec_conn *c, const uint8_t *m, const struct resp_reply *r,
                        int64_t *count)
{
    if ((r->type != TRACE_R_ARRAY && r->type != TRACE_R_PUSH) || r->count != 3 || !r->first)
        return -1;
    int k;
    for (k = 0; k < NSUB; k++)
        if (r->first_len == strlen(sub_names[k]) &&
            strncasecmp((const char *)r->first, sub_names[k], r->first_len) == 0)
            break;
    if (k == NSUB)
        return -1;
    const uint8_t *end = m + r->len, *p = m + r->attr_len;
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        return -1;
    p = nl + 1;
    struct resp_reply e;
    for (int i = 0; i < 3; i++) {
        int rc = resp_scan_reply(p, (size_t)(end - p), &c->o.lim, &e, NULL);
        if (rc <= 0)
            return -1;
        p += rc;
    }
    if (e.type != TRACE_R_INTEGER)
        return -1;
    *count = e.ival;
    return k;
}

/* A pub/sub message: message/smessage [kind, channel, data], pmessage [kind, pattern, channel,
 * data]. */
static int is_message(const struct resp_reply *r)
{
    if (!r->first || (r->type != TRACE_R_ARRAY && r->type != TRACE_R_PUSH))
        return 0;
    if ((r->first_len == 7 && strncasecmp((const char *)r->first, "message", 7) == 0) ||
        (r->first_len == 8 && strncasecmp((const char *)r->first, "smessage", 8) == 0))
        return r->count == 3;
    return r->first_len == 8 && strncasecmp((const char *)r->first, "pmessage", 8) == 0 &&
           r->count == 4;
}

/* A reply whose request is unknown or uncertain (unpaired, or paired after a gap) may answer
 * a secret-bearing command the recorder did not see: it is redacted as well when its bytes
 * name a password parameter ("pass", "auth": CONFIG GET's names) or hold an ACL password hash
 * ('#' and 64 hex digits: ACL LIST, ACL GETUSER). */
static int looks_secret(const uint8_t *m, size_t n)
{
    if (contains_nocase((const char *)m, n, "pass") || contains_nocase((const char *)m, n, "auth"))
        return 1;
    const uint8_t *end = m + n;
    for (const uint8_t *h = m; end - h >= 65 && (h = memchr(h, '#', (size_t)(end - h))); h++) {
        size_t k = 0;
        while (h + 1 + k < end && k < 64 && rt_hexval(h[1 + k]) >= 0)
            k++;
        if (k == 64)
            return 1;
    }
    return 0;
}

static void emit_reply(struct rec_conn *c, uint8_t type, const uint8_t *m,
                       const struct resp_reply *r, uint64_t req_seq, uint32_t extra, uint64_t ts)
{
    struct trace_event ev = {.type = type, .ts = ts};
    struct trace_reply *y = &ev.u.reply;
    if (type == TRACE_EV_PUSH)
        c->st.pushes++;
    else
        c->st.replies++;
    if (type == TRACE_EV_REPLY && req_seq == TRACE_SEQ_NONE)
        c->st.unpaired_replies++;
    if (type == TRACE_EV_REPLY && !(extra & TRACE_REPLY_REDACTED) &&
        (req_seq == TRACE_SEQ_NONE || (extra & TRACE_REPLY_AFTER_GAP)) && looks_secret(m, r->len))
        extra |= TRACE_REPLY_REDACTED;
    y->req_seq = req_seq;
    y->rtype = r->type;
    if (extra & TRACE_REPLY_REDACTED) {
        /* its type only: a length, a hash or the bytes would let a password be checked */
        y->flags = extra;
        c->st.redacted_replies++;
        emit(c, &ev);
        return;
    }
    y->flags =
        (r->flags & (TRACE_REPLY_NULL_BULK | TRACE_REPLY_NULL_ARRAY | TRACE_REPLY_ATTRIBUTED)) |
        extra | TRACE_REPLY_HAS_HASH;
    y->len = r->len;
    y->count = r->count;
    y->size = r->size;
    y->ival = r->ival;
    y->hash = trace_hash(m, r->len);
    y->err = r->err;
    y->errlen = r->errlen;
    if (c->o.keep_payload) {
        y->flags |= TRACE_REPLY_HAS_PAYLOAD;
        y->payload = m;
        y->payload_len = r->len;
    }
    emit(c, &ev);
}

/* The effects of a reply on the state, for the entry it answered. */
static void reply_effects(struct rec_conn *c, const struct pend *p, const struct resp_reply *r)
{
    int failed = r->type == TRACE_R_ERROR || r->type == TRACE_R_BLOB_ERROR;
    switch (p->kind) {
    case PK_SELECT:
    case PK_EXEC:
        if (failed || r->type == TRACE_R_NULL)
            c->db = p->prev_db;
        break;
    case PK_HELLO:
        if (failed)
            c->proto = p->prev_proto;
        break;
    case PK_MONITOR:
        if (r->type == TRACE_R_SIMPLE)
            c->monitor = 1;
        break;
    case PK_RESET:
        c->subscribed = 0;
        c->monitor = 0;
        break;
    default: break;
    }
}

static void on_reply(struct rec_conn *c, const uint8_t *m, const struct resp_reply *r, uint64_t ts,
                     int after_gap)
{
    uint32_t gapf = after_gap ? TRACE_REPLY_AFTER_GAP : 0;
    if (c->monitor && r->type == TRACE_R_SIMPLE && r->str_len > 0 && r->str[0] >= '0' &&
        r->str[0] <= '9') {
        emit_reply(c, TRACE_EV_PUSH, m, r, TRACE_SEQ_NONE, gapf, ts);
        return;
    }
    int64_t cnt = 0;
    int conf = confirmation(c, m, r, &cnt);
    struct pend *h = q_head(c);
    /* A subscribe entry that has had its first confirmation ends when something else comes. */
    while (h && (h->kind == PK_SUB || h->kind == PK_UNSUB_ALL) && h->got > 0 && conf != h->sub) {
        q_pop(c);
        h = q_head(c);
    }
    if (conf >= 0) {
        if (r->type == TRACE_R_ARRAY)
            c->subscribed = cnt > 0;
        if (h && (h->kind == PK_SUB || h->kind == PK_UNSUB_ALL) && conf == h->sub) {
            uint32_t f = gapf | (h->uncertain ? TRACE_REPLY_AFTER_GAP : 0);
            int first = h->got++ == 0;
            uint64_t seq = h->seq;
            if ((h->kind == PK_SUB && h->got >= h->expect) || (h->kind == PK_UNSUB_ALL && cnt <= 0))
                q_pop(c);
            emit_reply(c, first && r->type == TRACE_R_ARRAY ? TRACE_EV_REPLY : TRACE_EV_PUSH, m, r,
                       seq, f, ts);
        } else {
            emit_reply(c, TRACE_EV_PUSH, m, r, TRACE_SEQ_NONE, gapf, ts);
        }
        return;
    }
    if (r->type == TRACE_R_PUSH ||
        (r->type == TRACE_R_ARRAY && (c->subscribed || !h) && is_message(r))) {
        emit_reply(c, TRACE_EV_PUSH, m, r, TRACE_SEQ_NONE, gapf, ts);
        return;
    }
    if (!h) {
        emit_reply(c, TRACE_EV_REPLY, m, r, TRACE_SEQ_NONE, gapf, ts);
        return;
    }
    struct pend p = *h;
    q_pop(c);
    reply_effects(c, &p, r);
    emit_reply(c, TRACE_EV_REPLY, m, r, p.seq,
               gapf | (p.uncertain ? TRACE_REPLY_AFTER_GAP : 0) |
                   (p.secret || (p.secret_err &&
                                 (r->type == TRACE_R_ERROR || r->type == TRACE_R_BLOB_ERROR))
                        ? TRACE_REPLY_REDACTED
                        : 0),
               ts);
}

/* ---- the byte streams ------------------------------------------------------------------- */

static void note_scan_failure(struct rec_conn *c, enum trace_dir dir, uint64_t off, int fail,
                              size_t fail_off, const char *what, uint64_t ts)
{
    uint32_t code = fail == RESP_FAIL_SYNTAX ? TRACE_NOTE_PROTO_ERROR : TRACE_NOTE_LIMIT;
    if (fail == RESP_FAIL_SYNTAX && fail_off == 0)
        code = TRACE_NOTE_NOT_RESP; /* not even a message type: the peer does not speak RESP */
    c->st.proto_errors++;
    emit_note(c, dir, code, ts, "conn %llu %s offset %llu: %s (at +%zu); resynchronising",
              (unsigned long long)c->id, dir_name(dir), (unsigned long long)off,
              what ? what : "invalid", fail_off);
}

/* Pairing after bytes of `dir` were lost. Server side: the replies of every pending request
 * may have been in the lost bytes, so the whole queue is dropped (those requests stay
 * unpaired). Client side: the replies of lost commands will come before those of the
 * commands sent after the gap. Either way the connection becomes uncertain: requests queued
 * from now on have their replies flagged TRACE_REPLY_AFTER_GAP until the queue drains, as
 * does the first reply after a server gap. Pairing is then flagged, never silently wrong. */
static void lose_sync(struct rec_conn *c, enum trace_dir dir)
{
    struct dirstate *d = &c->d[dir];
    d->base += d->len;
    d->len = 0;
    d->need = 0;
    d->resync = 1;
    d->midline = 0;
    d->skipline = 0;
    d->after_gap = 1;
    c->uncertain = 1;
    if (dir == TRACE_DIR_TO_CLIENT) {
        while (c->qlen)
            q_pop(c);
        c->uncertain = 1;
    }
}

/* Processes `len` bytes at `buf` (the buffer or the caller's chunk), of which the first
 * `old` were buffered before this call. @return the bytes consumed; the rest is the start of
 * an incomplete message (or, when resyncing, bytes to look at again). */
static size_t process(struct rec_conn *c, enum trace_dir dir, const uint8_t *buf, size_t len,
                      size_t old, uint64_t ts, const uint8_t *own, size_t ownlen)
{
    struct dirstate *d = &c->d[dir];
    size_t pos = 0;
    while (pos < len && !c->dead) {
        if (d->skipline) {
            const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
            if (nl == NULL)
                return len;
            pos = (size_t)(nl - buf) + 1;
            d->skipline = 0;
            continue;
        }
        if (!d->tls_checked) {
            if (buf[pos] == 0x16 && len - pos < 2)
                return pos;
            d->tls_checked = 1;
            if (buf[pos] == 0x16 && buf[pos + 1] == 0x03) {
                emit_note(c, dir, TRACE_NOTE_TLS, ts,
                          "conn %llu %s: TLS handshake; the connection is not traced",
                          (unsigned long long)c->id, dir_name(dir));
                c->dead = 1;
                return len;
            }
        }
        if (d->resync) {
            if (d->midline) {
                const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
                if (nl == NULL)
                    return len;
                pos = (size_t)(nl - buf); /* resync looks past the '\n' at offset 0 */
                d->midline = 0;
            }
            ssize_t r = resp_resync(buf + pos, len - pos, dir);
            if (r < 0) {
                const uint8_t *last = NULL;
                for (size_t i = len; i > pos; i--)
                    if (buf[i - 1] == '\n') {
                        last = buf + i - 1;
                        break;
                    }
                if (last)
                    return (size_t)(last - buf); /* keep from the last '\n' */
                d->midline = 1;
                return len;
            }
            pos += (size_t)r;
            d->resync = 0;
            d->after_gap = 1;
            d->speculative = 1;
            c->st.resyncs++;
            d->tls_checked = 1;
        }
        const uint8_t *m = buf + pos;
        size_t have = len - pos;
        uint64_t mts = pos < old ? d->buf_ts : ts;
        size_t need = 0;
        int rc;
        struct resp_request rq;
        struct resp_reply rp;
        if (dir == TRACE_DIR_TO_SERVER)
            rc = scan_request(c, m, have, &rq, &need);
        else
            rc = resp_scan_reply(m, have, &c->o.lim, &rp, &need);
        if (rc == -2) {
            d->need = need;
            return pos;
        }
        if (rc < 0) {
            int fail = dir == TRACE_DIR_TO_SERVER ? rq.fail : rp.fail;
            size_t foff = dir == TRACE_DIR_TO_SERVER ? rq.fail_off : rp.fail_off;
            const char *what = dir == TRACE_DIR_TO_SERVER ? rq.fail_what : rp.fail_what;
            if (dir == TRACE_DIR_TO_SERVER && !d->speculative && fail != RESP_FAIL_SCRATCH) {
                /* in step with the client, so these bytes are what it sent as a command */
                size_t used = on_malformed(c, d, m, have, &rq, mts, own, ownlen);
                if (used == 0) {
                    d->need = have + 1;
                    return pos;
                }
                c->st.proto_errors++;
                d->after_gap = 0;
                d->need = 0;
                pos += used;
                continue;
            }
            if (!d->speculative) {
                note_scan_failure(c, dir, d->base + pos, fail, foff, what, mts);
                if (dir == TRACE_DIR_TO_CLIENT) /* a reply was lost: as after a gap */
                    while (c->qlen)
                        q_pop(c);
                c->uncertain = 1;
                d->after_gap = 1;
            }
            d->resync = 1;
            d->midline = 1; /* look again from the next line */
            pos++;
            continue;
        }
        int ag = d->after_gap;
        d->after_gap = 0;
        d->speculative = 0;
        d->need = 0;
        if (dir == TRACE_DIR_TO_SERVER)
            on_request(c, &rq, mts, ag, own, ownlen);
        else
            on_reply(c, m, &rp, mts, ag);
        pos += (size_t)rc;
    }
    return pos;
}

/* Keeps the unconsumed `n` bytes at `p` as the buffered start of a message. @return 0, or -1
 * when max_buffer does not allow it. */
static int keep(struct dirstate *d, const uint8_t *p, size_t n, size_t max)
{
    if (n > max)
        return -1;
    if (n > d->cap) {
        size_t ncap = d->cap ? d->cap : BUF_MIN;
        while (ncap < n)
            ncap *= 2;
        if (ncap > max)
            ncap = max;
        uint8_t *nb = realloc(d->buf, ncap);
        if (nb == NULL)
            return -1;
        d->buf = nb;
        d->cap = ncap;
    }
    memmove(d->buf, p, n);
    d->len = n;
    return 0;
}

static void overflow(struct rec_conn *c, enum trace_dir dir, uint64_t ts)
{
    struct dirstate *d = &c->d[dir];
    emit_note(c, dir, TRACE_NOTE_LIMIT, ts,
              "conn %llu %s offset %llu: message longer than the %zu-byte buffer (needs %zu); "
              "skipped, resynchronising",
              (unsigned long long)c->id, dir_name(dir), (unsigned long long)d->base,
              c->o.max_buffer, d->need);
    lose_sync(c, dir);
    d->midline = 1; /* the rest of the message follows: resume at a line start after it */
}

void rec_conn_data(struct rec_conn *c, enum trace_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
    if (c == NULL || c->dead || n == 0 ||
        (dir != TRACE_DIR_TO_SERVER && dir != TRACE_DIR_TO_CLIENT))
        return;
    struct dirstate *d = &c->d[dir];
    if (d->len == 0) { /* zero-copy: scan the caller's chunk */
        size_t used = process(c, dir, p, n, 0, ts, NULL, 0);
        d->base += used;
        if (used < n && !c->dead) {
            d->buf_ts = ts;
            if (keep(d, p + used, n - used, c->o.max_buffer) < 0) {
                d->len = n - used;
                overflow(c, dir, ts);
            }
        }
        return;
    }
    if (d->len + n > c->o.max_buffer) {
        d->need = d->len + n;
        overflow(c, dir, ts);
        rec_conn_data(c, dir, p, n, ts);
        return;
    }
    if (d->len + n > d->cap) {
        size_t ncap = d->cap;
        while (ncap < d->len + n)
            ncap *= 2;
        if (ncap > c->o.max_buffer)
            ncap = c->o.max_buffer;
        uint8_t *nb = realloc(d->buf, ncap);
        if (nb == NULL) {
            overflow(c, dir, ts);
            return;
        }
        d->buf = nb;
        d->cap = ncap;
    }
    memcpy(d->buf + d->len, p, n);
    size_t old = d->len;
    d->len += n;
    if (!d->resync && d->need > d->len)
        return; /* the scanner said the message is longer: no rescan yet */
    size_t used = process(c, dir, d->buf, d->len, old, ts, d->buf, d->len);
    if (c->dead)
        return;
    if (used >= old)
        d->buf_ts = ts; /* what is left began in this chunk */
    d->base += used;
    memmove(d->buf, d->buf + used, d->len - used);
    d->len -= used;
    if (d->len == 0 && d->cap > BUF_KEEP)
        buf_free(d); /* memory follows the data: a long message's buffer is not kept */
}

void rec_conn_gap(struct rec_conn *c, enum trace_dir dir, uint64_t bytes, uint64_t ts)
{
    if (c == NULL || c->dead || (dir != TRACE_DIR_TO_SERVER && dir != TRACE_DIR_TO_CLIENT))
        return;
    struct trace_event ev = {.type = TRACE_EV_GAP, .ts = ts};
    ev.u.gap.dir = (uint8_t)dir;
    ev.u.gap.bytes = bytes;
    c->st.gaps++;
    emit(c, &ev);
    lose_sync(c, dir);
    c->d[dir].base += bytes;
    c->d[dir].midline = 1; /* the stream resumes at an unknown point of a line */
    c->d[dir].tls_checked = 1;
}

void rec_conn_close(struct rec_conn *c, uint64_t ts)
{
    if (c == NULL || c->dead)
        return;
    for (int dir = 0; dir < 2; dir++) {
        struct dirstate *d = &c->d[dir];
        if (d->len && !d->resync)
            emit_note(c, (enum trace_dir)dir, TRACE_NOTE_PROTO_ERROR, ts,
                      "conn %llu %s offset %llu: closed inside a message (%zu bytes held)",
                      (unsigned long long)c->id, dir_name((enum trace_dir)dir),
                      (unsigned long long)d->base, d->len);
        d->len = 0;
    }
    while (c->qlen)
        q_pop(c);
}

struct rec_conn *rec_conn_new(uint64_t conn, uint32_t open_flags, const struct rec_session_opts *o,
                              const struct rec_sink *sink, struct rt_err *err)
{
    struct rec_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        goto nomem;
    c->id = conn;
    if (o)
        c->o = *o;
    else
        c->o.lim = resp_limits_default();
    if (c->o.max_buffer == 0)
        c->o.max_buffer = (size_t)64 << 20;
    if (sink)
        c->sink = *sink;
    c->proto = 2;
    /* mid-stream, replies of commands sent before the capture may still come */
    c->uncertain = (open_flags & TRACE_OPEN_MIDSTREAM) != 0;
    for (int dir = 0; dir < 2; dir++) {
        c->d[dir].resync = (open_flags & TRACE_OPEN_MIDSTREAM) != 0;
        c->d[dir].tls_checked = c->d[dir].resync;
    }
    if (open_flags & TRACE_OPEN_TLS)
        c->dead = 1;
    /* nothing more until data comes: a connection that never sends any costs this struct */
    c->x = c->o.scratch;
    return c;
nomem:
    rec_conn_free(c);
    rt_err_set(err, RT_ENOMEM, "conn %llu: out of memory for its session",
               (unsigned long long)conn);
    return NULL;
}

void rec_conn_free(struct rec_conn *c)
{
    if (c == NULL)
        return;
    for (int dir = 0; dir < 2; dir++)
        buf_free(&c->d[dir]);
    rec_scratch_free(c->own);
    free(c->q);
    free(c);
}

struct rec_scratch *rec_scratch_new(void)
{
    return calloc(1, sizeof(struct rec_scratch));
}

void rec_scratch_free(struct rec_scratch *x)
{
    if (x == NULL)
        return;
    scratch_release(x);
    free(x);
}

void rec_conn_stats(const struct rec_conn *c, struct rec_conn_stats *st)
{
    *st = c->st;
}

int rec_conn_error(const struct rec_conn *c)
{
    return c->sink_err;
}
