/* resp_scan.c: the RESP2/RESP3 scanner: the recorder runs it on reassembled TCP streams, the
 * replayer on the target's replies. */

/*
 * Why this is written by hand instead of using hiredis' reader (checked against the hiredis
 * 0.14.1 installed here, /usr/include/hiredis/read.h and the strings of libhiredis.so.0.14):
 *
 * - It knows RESP2 only: six reply types (string, array, integer, nil, status, error). Every
 *   RESP3 type byte (_ , # ! = ( % ~ | >) is "Protocol error, got ... as reply type byte",
 *   and a recorder must follow HELLO 3 connections and client-side-caching pushes.
 * - Its nesting depth is fixed at 7 (a task stack of 9, "No support for nested multi bulk
 *   replies with depth > 7"), so legal replies of Lua scripts are errors, while lengths and
 *   counts are only checked against the C integer types ("Bulk string length out of range",
 *   "Multi-bulk length out of range"): there is no configurable maximum, and Debian had to
 *   patch 0.14 for CVE-2021-32765, an overflow on a multi-bulk count. It must not be fed
 *   untrusted bytes without limits put in front of it, which means parsing headers anyway.
 * - redisReaderFeed() copies every byte into its own buffer and the reply callbacks build an
 *   object per element: a passive recorder wants to look at bytes it already holds, without
 *   copying a 512 MiB bulk string or allocating per element.
 * - It tells neither the wire length of a reply nor where its parts are in the caller's bytes
 *   (string callbacks get pointers into its own copy), which the trace needs (reply.len, the
 *   error text, the first element of a pub/sub message); and while a reply is pending it
 *   does not say how many more bytes it needs, which a recorder with bounded buffers wants
 *   to know when the header arrives.
 * - It parses replies only. Client commands need the request grammar redis applies, including
 *   inline commands split with sdssplitargs' quoting rules; hiredis' own sdssplitargs
 *   allocates an sds per argument.
 *
 * So this scanner is stateless and zero-copy like picohttpparser: one call per message,
 * (pointer, length) output into the caller's buffer, -2 for "the buffer ends inside the
 * message" and -1 for "these bytes are not a message", as tcpdump keeps truncated apart from
 * invalid. Nesting is followed with a fixed array of per-level counters, never recursion. The
 * request grammar follows redis' processMultibulkBuffer and processInlineBuffer: the server's
 * view is what a trace must record.
 */
#include "format.h"

#include <string.h>

/* The shortest reply element ("_\r\n") and the shortest argument of a RESP request
 * ("$0\r\n\r\n"): the lower bound of what a pending element still needs. */
#define MIN_REPLY_ELEM 3
#define MIN_REQ_ARG 6

/* The longest 64-bit integer in decimal, sign included ("-9223372036854775808"). */
#define NUM_MAX 20

/* The state of one scan: the input, the limits in force and how the scan ended. */
struct scan {
    const uint8_t *buf;
    size_t len;
    struct resp_limits lim;
    uint64_t need; /* on -2: the position the element being read must at least reach */
    int fail;      /* on -1 */
    size_t fail_off;
    const char *fail_what;
};

/* One reply element as read by scan_elem(). */
struct elem {
    uint8_t type;   /* the type byte */
    uint8_t rtype;  /* enum trace_reply_type */
    uint32_t flags; /* TRACE_REPLY_NULL_* */
    int agg;        /* an aggregate header: n elements follow */
    uint64_t n;     /* aggregates: elements that follow (maps and attributes: 2 per pair) */
    uint64_t count; /* aggregates: elements as reported (maps and attributes: pairs) */
    uint64_t size;
    int64_t ival;
    size_t str, str_len; /* offset and length of the payload of a scalar */
    int has_str;
    size_t end; /* offset after the element (aggregates: after the header) */
};

struct resp_limits resp_limits_default(void)
{
    struct resp_limits l = {
        .max_depth = 64,
        .max_elems = (uint64_t)1 << 28,
        .max_bulk = (uint64_t)512 << 20,
        .max_inline = (size_t)64 << 10,
        .max_args = (uint64_t)1 << 28,
    };
    return l;
}

/* The limits in force: the caller's, capped so that no sum below can overflow and no message
 * longer than RESP_MSG_MAX is accepted. */
static struct resp_limits limits_in_force(const struct resp_limits *lim)
{
    struct resp_limits l = lim ? *lim : resp_limits_default();
    if (l.max_depth > RESP_DEPTH_MAX)
        l.max_depth = RESP_DEPTH_MAX;
    if (l.max_elems > RESP_MSG_MAX)
        l.max_elems = RESP_MSG_MAX;
    if (l.max_bulk > RESP_MSG_MAX)
        l.max_bulk = RESP_MSG_MAX;
    if (l.max_inline > RESP_MSG_MAX - 2)
        l.max_inline = RESP_MSG_MAX - 2;
    if (l.max_args > RESP_MSG_MAX)
        l.max_args = RESP_MSG_MAX;
    return l;
}

static int bad(struct scan *s, int code, size_t off, const char *what)
{
    s->fail = code;
    s->fail_off = off;
    s->fail_what = what;
    return -1;
}

static int more(struct scan *s, uint64_t need)
{
    s->need = need;
    return -2;
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* The blanks of isspace() in the C locale, which sdssplitargs() skips between arguments. */
static int is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Parses a decimal integer as redis' string2ll() does: an optional '-', no '+', no leading
 * zeros, no "-0", within int64. @return 0, or -1. */
static int parse_i64(const uint8_t *p, size_t n, int64_t *out)
{
    if (n == 0 || n > NUM_MAX)
        return -1;
    if (n == 1 && p[0] == '0') {
        *out = 0;
        return 0;
    }
    size_t i = 0;
    int neg = p[0] == '-';
    if (neg && n == 1)
        return -1;
    i = (size_t)neg;
    if (p[i] < '1' || p[i] > '9')
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(p[i]))
            return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)v;
    }
    return 0;
}

/* Checks for "\r\n" at `at`. @return 0, -2 (s->need set to cover it) or -1. */
static int expect_crlf(struct scan *s, size_t at)
{
    if (at >= s->len)
        return more(s, (uint64_t)at + 2);
    if (s->buf[at] != '\r')
        return bad(s, RESP_FAIL_SYNTAX, at, "expected CRLF");
    if (at + 1 >= s->len)
        return more(s, (uint64_t)at + 2);
    if (s->buf[at + 1] != '\n')
        return bad(s, RESP_FAIL_SYNTAX, at + 1, "CR not followed by LF");
    return 0;
}

/* Finds the CRLF that ends the line starting at `pos`, whose content may be at most `max`
 * bytes. A bare CR or LF in the line is invalid. @return 0 with *cr at the CR, -2 or -1. */
static int line_end(struct scan *s, size_t pos, size_t max, size_t *cr)
{
    const uint8_t *p = s->buf + pos;
    size_t avail = s->len - pos;
    size_t window = avail < max + 1 ? avail : max + 1; /* the content and its CR */
    const uint8_t *r = memchr(p, '\r', window);
    size_t stop = r ? (size_t)(r - p) : window;
    const uint8_t *lf = memchr(p, '\n', stop);
    if (lf)
        return bad(s, RESP_FAIL_SYNTAX, pos + (size_t)(lf - p), "LF without CR in a line");
    if (!r) {
        if (avail > max)
            return bad(s, RESP_FAIL_LIMIT, pos + max, "line longer than max_inline");
        return more(s, (uint64_t)s->len + 2);
    }
    *cr = pos + stop;
    return expect_crlf(s, *cr);
}

/* Reads the decimal line at `pos` (after a type byte). Bytes that cannot be part of a number
 * fail at once, without waiting for the CRLF. @return 0 with *v and *next (after the CRLF),
 * -2 or -1. */
static int read_int(struct scan *s, size_t pos, int64_t *v, size_t *next)
{
    size_t i = pos;
    for (; i < s->len; i++) {
        uint8_t c = s->buf[i];
        if (c == '\r')
            break;
        if (i - pos == NUM_MAX)
            return bad(s, RESP_FAIL_SYNTAX, i, "number longer than 20 characters");
        if (!is_digit(c) && !(c == '-' && i == pos))
            return bad(s, RESP_FAIL_SYNTAX, i,
                       c == '?' && i == pos ? "RESP3 streamed types are not supported"
                                            : "not a number");
    }
    int rc = expect_crlf(s, i);
    if (rc)
        return rc;
    if (parse_i64(s->buf + pos, i - pos, v))
        return bad(s, RESP_FAIL_SYNTAX, pos, "malformed or out of range number");
    *next = i + 2;
    return 0;
}

/* A RESP3 double: [+-] then "inf" or "nan" (any case), or digits with an optional fraction
 * and exponent. */
static int valid_double(const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (i < n && (p[i] == '-' || p[i] == '+'))
        i++;
    if (n - i == 3) {
        char w[4] = {(char)(p[i] | 0x20), (char)(p[i + 1] | 0x20), (char)(p[i + 2] | 0x20), 0};
        if (strcmp(w, "inf") == 0 || strcmp(w, "nan") == 0)
            return 1;
    }
    size_t digits = 0;
    while (i < n && is_digit(p[i]))
        i++, digits++;
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && is_digit(p[i]))
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '-' || p[i] == '+'))
            i++;
        size_t exp = 0;
        while (i < n && is_digit(p[i]))
            i++, exp++;
        if (exp == 0)
            return 0;
    }
    return i == n;
}

/* A RESP3 big number: an optional '-' and at least one digit. */
static int valid_bignum(const uint8_t *p, size_t n)
{
    size_t i = n && p[0] == '-';
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (!is_digit(p[i]))
            return 0;
    return 1;
}

/* + - ( , : a line whose content is the payload. */
static int scan_line_elem(struct scan *s, size_t pos, struct elem *e)
{
    size_t cr;
    int rc = line_end(s, pos + 1, s->lim.max_inline, &cr);
    if (rc)
        return rc;
    const uint8_t *p = s->buf + pos + 1;
    size_t n = cr - pos - 1;
    if (e->type == '(' && !valid_bignum(p, n))
        return bad(s, RESP_FAIL_SYNTAX, pos + 1, "malformed big number");
    if (e->type == ',' && !valid_double(p, n))
        return bad(s, RESP_FAIL_SYNTAX, pos + 1, "malformed double");
    e->str = pos + 1;
    e->str_len = n;
    e->has_str = 1;
    e->size = n;
    e->end = cr + 2;
    return 0;
}

/* $ ! = : a length line, then that many bytes and a CRLF. */
static int scan_bulk_elem(struct scan *s, size_t pos, struct elem *e)
{
    int64_t n;
    size_t data;
    int rc = read_int(s, pos + 1, &n, &data);
    if (rc)
        return rc;
    if (n == -1 && e->type == '$') {
        e->rtype = TRACE_R_NULL;
        e->flags = TRACE_REPLY_NULL_BULK;
        e->end = data;
        return 0;
    }
    if (n < 0)
        return bad(s, RESP_FAIL_SYNTAX, pos + 1, "negative length");
    if ((uint64_t)n > s->lim.max_bulk)
        return bad(s, RESP_FAIL_LIMIT, pos + 1, "string longer than max_bulk");
    /* wait for the data, but look at as much of its CRLF as is there */
    if ((uint64_t)data + (uint64_t)n >= s->len)
        return more(s, (uint64_t)data + (uint64_t)n + 2);
    size_t end = data + (size_t)n;
    rc = expect_crlf(s, end);
    if (rc)
        return rc;
    if (e->type == '=' && (n < 4 || s->buf[data + 3] != ':'))
        return bad(s, RESP_FAIL_SYNTAX, data, "verbatim string without a 3-byte format and ':'");
    e->str = data;
    e->str_len = (size_t)n;
    e->has_str = 1;
    e->size = (uint64_t)n;
    e->end = end + 2;
    return 0;
}

/* * % ~ > | : a count line; the elements follow. "*-1" is the RESP2 null array. */
static int scan_agg_elem(struct scan *s, size_t pos, struct elem *e)
{
    int64_t n;
    size_t next;
    int rc = read_int(s, pos + 1, &n, &next);
    if (rc)
        return rc;
    e->end = next;
    if (n == -1 && e->type == '*') {
        e->rtype = TRACE_R_NULL;
        e->flags = TRACE_REPLY_NULL_ARRAY;
        return 0;
    }
    if (n < 0)
        return bad(s, RESP_FAIL_SYNTAX, pos + 1, "negative count");
    if ((uint64_t)n > s->lim.max_elems)
        return bad(s, RESP_FAIL_LIMIT, pos + 1, "aggregate larger than max_elems");
    e->agg = 1;
    e->count = (uint64_t)n;
    e->n = e->type == '%' || e->type == '|' ? 2 * (uint64_t)n : (uint64_t)n;
    return 0;
}

/* Reads the reply element at `pos`: a whole scalar, or the header of an aggregate.
 * @return 0 with `e` filled, -2 (s->need: where this element must at least end) or -1. */
static int scan_elem(struct scan *s, size_t pos, struct elem *e)
{
    memset(e, 0, sizeof *e);
    if (pos >= s->len)
        return more(s, (uint64_t)pos + MIN_REPLY_ELEM);
    e->type = s->buf[pos];
    e->rtype = e->type;
    switch (e->type) {
    case '+':
    case '-':
    case '(':
    case ',': return scan_line_elem(s, pos, e);
    case ':': {
        int rc = read_int(s, pos + 1, &e->ival, &e->end);
        if (rc)
            return rc;
        e->str = pos + 1;
        e->str_len = e->end - 2 - e->str;
        e->has_str = 1;
        return 0;
    }
    case '#': {
        if (pos + 1 >= s->len)
            return more(s, (uint64_t)pos + 4);
        uint8_t c = s->buf[pos + 1];
        if (c != 't' && c != 'f')
            return bad(s, RESP_FAIL_SYNTAX, pos + 1, "boolean neither 't' nor 'f'");
        int rc = expect_crlf(s, pos + 2);
        if (rc)
            return rc;
        e->ival = c == 't';
        e->str = pos + 1;
        e->str_len = 1;
        e->has_str = 1;
        e->end = pos + 4;
        return 0;
    }
    case '_': {
        int rc = expect_crlf(s, pos + 1);
        if (rc)
            return rc;
        e->end = pos + 3;
        return 0;
    }
    case '$':
    case '!':
    case '=': return scan_bulk_elem(s, pos, e);
    case '*':
    case '%':
    case '~':
    case '>':
    case '|': return scan_agg_elem(s, pos, e);
    default: return bad(s, RESP_FAIL_SYNTAX, pos, "not a RESP type byte");
    }
}

/* -2 with *need = `at_least`, or -1 when even that exceeds RESP_MSG_MAX. */
static int need_more(struct scan *s, uint64_t at_least)
{
    if (at_least > RESP_MSG_MAX)
        return bad(s, RESP_FAIL_LIMIT, s->len, "message longer than RESP_MSG_MAX");
    s->need = at_least;
    return -2;
}

/* The nesting of a reply being scanned: per level, the elements still to complete (the one in
 * progress included) and whether the level is an attribute. */
struct nest {
    uint64_t left[RESP_DEPTH_MAX];
    uint8_t attr[RESP_DEPTH_MAX];
    unsigned depth;
    unsigned nattr;   /* attribute levels open: each is followed by an element not yet begun */
    uint64_t pending; /* sum of left - 1 over the levels: elements not yet begun */
};

/* The fewest elements the rest of the message must still hold, beyond the one in progress. */
static uint64_t nest_pending(const struct nest *t)
{
    return t->pending + t->nattr;
}

/* Marks an element of the innermost level complete, closing the levels it completes.
 * @return 1 when the whole message is complete, else 0. */
static int nest_complete(struct nest *t)
{
    for (;;) {
        if (t->depth == 0)
            return 1;
        unsigned d = t->depth - 1;
        if (t->left[d] > 1) {
            t->left[d]--;
            t->pending--;
            return 0;
        }
        t->depth--;
        if (t->attr[d]) {
            /* an attribute is not an element of its parent: the element it annotates is */
            t->nattr--;
            return 0;
        }
    }
}

static void reply_set_top(struct resp_reply *out, const struct scan *s, const struct elem *e)
{
    out->type = e->rtype;
    out->flags |= e->flags;
    out->count = e->count;
    out->ival = e->ival;
    if (e->type == '+' || e->type == '-' || e->type == '$' || e->type == '!' || e->type == '=' ||
        e->type == '(' || e->type == ',')
        out->size = e->size;
    if (e->has_str) {
        out->str = s->buf + e->str;
        out->str_len = e->str_len;
    }
    if (e->type == '-' || e->type == '!') {
        out->err = (const char *)s->buf + e->str;
        out->errlen = e->str_len;
    }
}

static int scan_reply(struct scan *s, struct resp_reply *out)
{
    struct nest t;
    t.depth = 0;
    t.nattr = 0;
    t.pending = 0;
    size_t pos = 0;
    int top_seen = 0;   /* the top-level reply (not an attribute) has begun */
    int want_first = 0; /* the next element of level 0 is the first of an array or push */
    for (;;) {
        struct elem e;
        int rc = scan_elem(s, pos, &e);
        if (rc == -2)
            return need_more(s, s->need + MIN_REPLY_ELEM * nest_pending(&t));
        if (rc)
            return rc;
        int is_attr = e.type == '|';
        if (t.depth == 0 && !is_attr && !top_seen) {
            top_seen = 1;
            out->attr_len = pos;
            reply_set_top(out, s, &e);
            want_first = e.agg && e.n > 0 && (e.type == '*' || e.type == '>');
        } else if (t.depth == 0 && is_attr) {
            out->flags |= TRACE_REPLY_ATTRIBUTED;
        } else if (want_first && t.depth == 1 && !is_attr) {
            want_first = 0;
            if (e.type == '+' || (e.type == '$' && e.has_str)) {
                out->first = s->buf + e.str;
                out->first_len = e.str_len;
            }
        }
        if (e.agg && t.depth >= s->lim.max_depth)
            return bad(s, RESP_FAIL_LIMIT, pos, "aggregates nested deeper than max_depth");
        pos = e.end;
        if (e.agg && e.n > 0) {
            t.left[t.depth] = e.n;
            t.attr[t.depth] = (uint8_t)is_attr;
            t.depth++;
            t.nattr += (unsigned)is_attr;
            t.pending += e.n - 1;
            if ((uint64_t)pos + MIN_REPLY_ELEM * nest_pending(&t) > RESP_MSG_MAX)
                return bad(s, RESP_FAIL_LIMIT, pos, "message longer than RESP_MSG_MAX");
            continue;
        }
        if (is_attr)
            continue; /* an empty attribute: the element it annotates follows */
        if (nest_complete(&t))
            break;
    }
    if (pos > RESP_MSG_MAX)
        return bad(s, RESP_FAIL_LIMIT, pos, "message longer than RESP_MSG_MAX");
    return (int)pos;
}

int resp_scan_reply(const uint8_t *buf, size_t len, const struct resp_limits *lim,
                    struct resp_reply *out, size_t *need)
{
    struct scan s = {.buf = buf, .len = len, .lim = limits_in_force(lim)};
    struct resp_reply r;
    memset(&r, 0, sizeof r);
    int rc = scan_reply(&s, &r);
    if (rc > 0)
        r.len = (size_t)rc;
    if (rc == -2 && need)
        *need = (size_t)s.need;
    r.fail = s.fail;
    r.fail_off = s.fail_off;
    r.fail_what = s.fail_what;
    if (out)
        *out = r;
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------- */

/* A RESP array of bulk strings, read as redis' processMultibulkBuffer() does, except that
 * the CRLFs it skips unread must be there. */
static int scan_multibulk(struct scan *s, struct resp_request *out)
{
    int64_t n;
    size_t pos;
    int rc = read_int(s, 1, &n, &pos);
    if (rc == -2)
        return need_more(s, s->need);
    if (rc)
        return rc;
    if (n <= 0) /* redis consumes "*0" and "*-1" without running anything */
        return (int)pos;
    if ((uint64_t)n > s->lim.max_args)
        return bad(s, RESP_FAIL_LIMIT, 1, "more arguments than max_args");
    uint64_t args = (uint64_t)n;
    if ((uint64_t)pos + MIN_REQ_ARG * args > RESP_MSG_MAX)
        return bad(s, RESP_FAIL_LIMIT, 1, "message longer than RESP_MSG_MAX");
    out->total = (size_t)args;
    for (uint64_t i = 0; i < args; i++) {
        uint64_t after = MIN_REQ_ARG * (args - i - 1); /* the fewest bytes of later arguments */
        if (pos >= s->len)
            return need_more(s, (uint64_t)pos + MIN_REQ_ARG + after);
        if (s->buf[pos] != '$')
            return bad(s, RESP_FAIL_SYNTAX, pos, "expected '$' in a request");
        int64_t blen;
        size_t data;
        rc = read_int(s, pos + 1, &blen, &data);
        if (rc == -2) /* the data's CRLF follows the header */
            return need_more(s, s->need + 2 + after);
        if (rc)
            return rc;
        if (blen < 0)
            return bad(s, RESP_FAIL_SYNTAX, pos + 1, "negative argument length");
        if ((uint64_t)blen > s->lim.max_bulk)
            return bad(s, RESP_FAIL_LIMIT, pos + 1, "argument longer than max_bulk");
        uint64_t end = (uint64_t)data + (uint64_t)blen;
        if (end >= s->len)
            return need_more(s, end + 2 + after);
        rc = expect_crlf(s, (size_t)end);
        if (rc == -2)
            return need_more(s, s->need + after);
        if (rc)
            return rc;
        if (i < out->argv_cap) {
            out->argv[i] = (const char *)s->buf + data;
            out->argvlen[i] = (size_t)blen;
            out->argc++;
        }
        pos = (size_t)end + 2;
    }
    if (pos > RESP_MSG_MAX)
        return bad(s, RESP_FAIL_LIMIT, pos, "message longer than RESP_MSG_MAX");
    return (int)pos;
}

/* One inline argument being built: borrowed from the buffer while its bytes are one run of
 * it, copied into the scratch from the first byte that is not (an escape, or a byte after a
 * quote). Arguments past argv_cap are only counted. */
struct tok {
    int store;
    int copied;
    size_t src; /* borrowed: offset of the run in the buffer */
    size_t dst; /* copied: offset in the scratch */
    size_t n;
};

static int tok_copy(struct scan *s, struct resp_request *out, struct tok *t, size_t used)
{
    if (out->scratch == NULL || out->scratch_cap < used || out->scratch_cap - used < t->n + 1)
        return bad(s, RESP_FAIL_SCRATCH, t->src, "scratch too small for an unquoted argument");
    memcpy(out->scratch + used, s->buf + t->src, t->n);
    t->dst = used;
    t->copied = 1;
    return 0;
}

/* Appends the buffer byte at `p` to the argument. */
static int tok_take(struct scan *s, struct resp_request *out, struct tok *t, size_t used, size_t p)
{
    if (!t->store) {
        t->n++;
        return 0;
    }
    if (!t->copied) {
        if (t->n == 0)
            t->src = p;
        if (t->src + t->n == p) {
            t->n++;
            return 0;
        }
        if (tok_copy(s, out, t, used))
            return -1;
    }
    if (out->scratch_cap - t->dst < t->n + 1)
        return bad(s, RESP_FAIL_SCRATCH, p, "scratch too small for an unquoted argument");
    out->scratch[t->dst + t->n++] = (char)s->buf[p];
    return 0;
}

/* Appends an unescaped byte that is not in the buffer as such. */
static int tok_put(struct scan *s, struct resp_request *out, struct tok *t, size_t used, size_t p,
                   uint8_t c)
{
    if (!t->store) {
        t->n++;
        return 0;
    }
    if (!t->copied && tok_copy(s, out, t, used))
        return -1;
    if (out->scratch_cap - t->dst < t->n + 1)
        return bad(s, RESP_FAIL_SCRATCH, p, "scratch too small for an unquoted argument");
    out->scratch[t->dst + t->n++] = (char)c;
    return 0;
}

/* The byte at `i` of a line that ends at `end`, or 0 past it (sdssplitargs sees a C string;
 * the caller has refused NUL bytes inside the line). */
static uint8_t at(const struct scan *s, size_t i, size_t end)
{
    return i < end ? s->buf[i] : 0;
}

/* The escape after a backslash inside double quotes. */
static uint8_t unescape(uint8_t c)
{
    switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return c;
    }
}

/* Reads one argument at *pp (not a blank) of the line [.., end), as sdssplitargs() does.
 * @return 0 with *pp after it, or -1. */
static int split_one(struct scan *s, struct resp_request *out, struct tok *t, size_t used,
                     size_t *pp, size_t end)
{
    size_t p = *pp;
    int inq = 0, insq = 0;
    for (;;) {
        uint8_t c = at(s, p, end);
        int rc = 0;
        if (inq) {
            if (p == end)
                return bad(s, RESP_FAIL_SYNTAX, p, "unbalanced double quotes");
            if (c == '\\' && at(s, p + 1, end) == 'x' && rt_hexval(at(s, p + 2, end)) >= 0 &&
                rt_hexval(at(s, p + 3, end)) >= 0) {
                uint8_t v =
                    (uint8_t)(rt_hexval(at(s, p + 2, end)) * 16 + rt_hexval(at(s, p + 3, end)));
                rc = tok_put(s, out, t, used, p, v);
                p += 4;
            } else if (c == '\\' && p + 1 < end) {
                rc = tok_put(s, out, t, used, p, unescape(s->buf[p + 1]));
                p += 2;
            } else if (c == '"') {
                if (p + 1 < end && !is_blank(s->buf[p + 1]))
                    return bad(s, RESP_FAIL_SYNTAX, p + 1, "closing quote not followed by a blank");
                *pp = p + 1;
                return 0;
            } else {
                rc = tok_take(s, out, t, used, p++);
            }
        } else if (insq) {
            if (p == end)
                return bad(s, RESP_FAIL_SYNTAX, p, "unbalanced single quotes");
            if (c == '\\' && at(s, p + 1, end) == '\'') {
                rc = tok_take(s, out, t, used, p + 1);
                p += 2;
            } else if (c == '\'') {
                if (p + 1 < end && !is_blank(s->buf[p + 1]))
                    return bad(s, RESP_FAIL_SYNTAX, p + 1, "closing quote not followed by a blank");
                *pp = p + 1;
                return 0;
            } else {
                rc = tok_take(s, out, t, used, p++);
            }
        } else {
            /* unquoted: only these end an argument (not \v or \f, which isspace() skips) */
            if (p == end || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                *pp = p;
                return 0;
            }
            if (c == '"')
                inq = 1, p++;
            else if (c == '\'')
                insq = 1, p++;
            else
                rc = tok_take(s, out, t, used, p++);
        }
        if (rc)
            return rc;
    }
}

/* Splits the line [0, end) into arguments. @return 0 or -1. */
static int split_inline(struct scan *s, struct resp_request *out, size_t end)
{
    size_t p = 0, used = 0, nargs = 0;
    for (;;) {
        while (p < end && is_blank(s->buf[p]))
            p++;
        if (p == end)
            break;
        if (nargs == s->lim.max_args)
            return bad(s, RESP_FAIL_LIMIT, p, "more arguments than max_args");
        struct tok t = {.store = nargs < out->argv_cap, .src = p};
        int rc = split_one(s, out, &t, used, &p, end);
        if (rc)
            return rc;
        if (t.store) {
            out->argv[nargs] = t.copied ? out->scratch + t.dst : (const char *)s->buf + t.src;
            out->argvlen[nargs] = t.n;
            out->argc++;
            if (t.copied)
                used = t.dst + t.n;
        }
        nargs++;
    }
    out->total = nargs;
    return 0;
}

/* An inline command: one line, as redis' processInlineBuffer() reads it. */
static int scan_inline(struct scan *s, struct resp_request *out)
{
    size_t max = s->lim.max_inline;
    size_t window = s->len < max + 2 ? s->len : max + 2; /* the longest line and its CRLF */
    const uint8_t *nl = memchr(s->buf, '\n', window);
    if (!nl) {
        if (s->len >= max + 2)
            return bad(s, RESP_FAIL_LIMIT, max, "inline command longer than max_inline");
        return more(s, (uint64_t)s->len + 1);
    }
    size_t lf = (size_t)(nl - s->buf);
    size_t end = lf > 0 && s->buf[lf - 1] == '\r' ? lf - 1 : lf;
    if (end > max)
        return bad(s, RESP_FAIL_LIMIT, max, "inline command longer than max_inline");
    /* redis looks for the newline with strchr(): a NUL before it hides the line, and redis
     * never runs the command */
    const uint8_t *nul = memchr(s->buf, 0, end);
    if (nul)
        return bad(s, RESP_FAIL_SYNTAX, (size_t)(nul - s->buf), "NUL byte in an inline command");
    int rc = split_inline(s, out, end);
    if (rc)
        return rc;
    out->flags = TRACE_REQ_INLINE;
    return (int)(lf + 1);
}

int resp_scan_request(const uint8_t *buf, size_t len, const struct resp_limits *lim,
                      struct resp_request *out, size_t *need)
{
    struct scan s = {.buf = buf, .len = len, .lim = limits_in_force(lim)};
    out->argc = 0;
    out->total = 0;
    out->flags = 0;
    out->len = 0;
    if (out->argv == NULL || out->argvlen == NULL)
        out->argv_cap = 0;
    int rc;
    if (len == 0)
        rc = more(&s, 1);
    else if (buf[0] == '*')
        rc = scan_multibulk(&s, out);
    else
        rc = scan_inline(&s, out);
    if (rc > 0)
        out->len = (size_t)rc;
    if (rc == -2 && need)
        *need = (size_t)s.need;
    out->fail = s.fail;
    out->fail_off = s.fail_off;
    out->fail_what = s.fail_what;
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Resynchronisation
 * ------------------------------------------------------------------------------------- */

/* "*<n>\r\n$<len>\r\n" at `pos`, n >= 1, possibly cut by the end of the buffer. */
static int plausible_request(const uint8_t *buf, size_t len, size_t pos)
{
    struct scan s = {.buf = buf, .len = len, .lim = resp_limits_default()};
    if (buf[pos] != '*')
        return 0;
    int64_t n;
    size_t next;
    int rc = read_int(&s, pos + 1, &n, &next);
    if (rc != 0)
        return rc == -2;
    if (n < 1 || (uint64_t)n > s.lim.max_args)
        return 0;
    if (next >= len)
        return 1;
    if (buf[next] != '$')
        return 0;
    rc = read_int(&s, next + 1, &n, &next);
    if (rc != 0)
        return rc == -2;
    return n >= 0 && (uint64_t)n <= s.lim.max_bulk;
}

/* A reply element header at `pos` (a whole element for scalars), possibly cut by the end. */
static int plausible_reply(const uint8_t *buf, size_t len, size_t pos)
{
    struct scan s = {.buf = buf, .len = len, .lim = resp_limits_default()};
    struct elem e;
    int rc = scan_elem(&s, pos, &e);
    return rc == 0 || rc == -2;
}

ssize_t resp_resync(const uint8_t *buf, size_t len, int dir)
{
    if (dir != TRACE_DIR_TO_SERVER && dir != TRACE_DIR_TO_CLIENT)
        return -1;
    size_t pos = 0;
    while (pos < len) {
        int ok = dir == TRACE_DIR_TO_SERVER ? plausible_request(buf, len, pos)
                                            : plausible_reply(buf, len, pos);
        if (ok)
            return (ssize_t)pos;
        const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            break;
        pos = (size_t)(nl - buf) + 1;
    }
    return -1;
}
