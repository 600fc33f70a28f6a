/* reply_stream.c: framing of a large reply as its bytes arrive, without holding it.
 *
 * The replay frames replies with format/'s stateless scanner, which needs a whole reply in one
 * buffer: right for the usual small replies (zero-copy, no state), wrong for a reply of
 * hundreds of megabytes, which each connection would have to hold entirely (and rescan as it
 * grows). When a reply in progress outgrows a threshold, the connection switches to this
 * incremental framer: it keeps a stack of the elements left at each nesting level, the bytes
 * left of the current bulk string and the first bytes of the current line, and nothing else,
 * so a reply of any size costs a few hundred bytes. It is written here rather than taken from
 * hiredis because hiredis's reader builds (or has its callbacks build) every element and
 * buffers whole bulk strings; only the reply's type, size and first element are needed.
 *
 * It follows the same grammar and limits as resp_scan_reply() (RESP2 and RESP3, attributes
 * before a reply, no streamed types) but checks framing only, not the contents of doubles and
 * big numbers; tests/fuzz/fuzz_reply_stream.c checks that both find the same replies in the
 * same bytes, however the bytes are split. */
#include "replay_int.h"

#include <string.h>

void rs_init(struct rstream *s, const struct resp_limits *lim)
{
    memset(s, 0, sizeof *s);
    s->lim = lim ? *lim : resp_limits_default();
    if (s->lim.max_depth > RS_DEPTH_MAX)
        s->lim.max_depth = RS_DEPTH_MAX;
}

/* parses the decimal (with an optional '-') after the type byte of the current line */
static int line_number(const struct rstream *s, int64_t *v)
{
    size_t i = 1, n = s->linelen;
    int neg = 0;
    if (s->line_cut || n < 2)
        return -1;
    if (s->line[1] == '-') {
        neg = 1;
        i = 2;
    }
    if (i >= n)
        return -1;
    uint64_t x = 0;
    for (; i < n; i++) {
        if (s->line[i] < '0' || s->line[i] > '9' || x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(s->line[i] - '0');
    }
    if (x > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return -1;
    *v = neg ? (int64_t)(0 - x) : (int64_t)x;
    return 0;
}

static int fail(struct rstream *s, const char *what)
{
    s->fail_what = what;
    return -1;
}

/* one value (a scalar, or an aggregate whose last element came) is complete; `attr`: it was
 * an attribute, which is not a value of its parent (the value it describes follows).
 * @return 1 when the top-level reply is complete */
static int value_done(struct rstream *s, int attr)
{
    for (;;) {
        if (attr)
            return 0;
        if (s->depth == 0)
            return 1;
        if (--s->left[s->depth - 1] > 0)
            return 0;
        s->depth--; /* that aggregate is complete: a value of its parent, or an attribute */
        attr = s->is_attr[s->depth];
    }
}

/* the header line of a value is whole: what it says. @return 1 reply complete, 0 more to
 * come, -1 error */
static int on_line(struct rstream *s)
{
    uint8_t t = s->line[0];
    int top = s->depth == 0;
    /* the first element of the top-level array or push (attributes aside) */
    int first_el = s->want_first && s->depth == 1 && t != '|';
    if (first_el)
        s->want_first = 0;
    int64_t v = 0;
    if (top && !s->top_set && t != '|') {
        s->top_set = 1;
        s->r.type = t;
    }
    switch (t) {
    case '+':
    case '-':
    case ',':
    case '(':
        if (top) {
            s->r.size = s->linelen - 1 + s->line_extra;
            if (t == '-') {
                s->r.err = (const char *)s->line + 1;
                s->r.errlen = s->linelen - 1;
            }
        }
        if (first_el && t == '+' && !s->line_cut && s->linelen - 1 <= sizeof s->first) {
            s->firstlen = s->linelen - 1;
            memcpy(s->first, s->line + 1, s->firstlen);
            s->r.first = s->first;
            s->r.first_len = s->firstlen;
        }
        return value_done(s, 0);
    case ':':
    case '#':
    case '_':
        if (t == ':' && line_number(s, &v) < 0)
            return fail(s, "bad integer");
        if (t == '#' && (s->linelen != 2 || (s->line[1] != 't' && s->line[1] != 'f')))
            return fail(s, "bad boolean");
        if (t == '_' && s->linelen != 1)
            return fail(s, "bad null");
        if (top) {
            s->r.ival = t == ':' ? v : t == '#' ? s->line[1] == 't' : 0;
            if (t == '_')
                s->r.type = TRACE_R_NULL;
        }
        return value_done(s, 0);
    case '$':
    case '!':
    case '=':
        if (line_number(s, &v) < 0 || v < -1)
            return fail(s, "bad bulk length");
        if (v == -1) {
            if (t != '$')
                return fail(s, "bad bulk length");
            if (top) {
                s->r.type = TRACE_R_NULL;
                s->r.flags |= TRACE_REPLY_NULL_BULK;
            }
            return value_done(s, 0);
        }
        if ((uint64_t)v > s->lim.max_bulk)
            return fail(s, "bulk longer than the limit");
        if (top)
            s->r.size = (uint64_t)v;
        s->bulk_left = (uint64_t)v + 2; /* the payload and its CRLF */
        s->in_bulk = 1;
        s->bulk_first = first_el && t == '$' && (size_t)v <= sizeof s->first;
        s->firstlen = 0;
        return 0;
    case '*':
    case '~':
    case '>':
    case '%':
    case '|':
        if (line_number(s, &v) < 0 || v < -1)
            return fail(s, "bad aggregate count");
        if (v == -1) {
            if (t != '*')
                return fail(s, "bad aggregate count");
            if (top) {
                s->r.type = TRACE_R_NULL;
                s->r.flags |= TRACE_REPLY_NULL_ARRAY;
            }
            return value_done(s, 0);
        }
        if ((uint64_t)v > s->lim.max_elems)
            return fail(s, "aggregate larger than the limit");
        if (top && t == '|')
            s->r.flags |= TRACE_REPLY_ATTRIBUTED;
        else if (top)
            s->r.count = (uint64_t)v;
        if (top && t != '|')
            s->want_first = (t == '*' || t == '>') && v > 0;
        if (v == 0)
            return value_done(s, t == '|');
        if (s->depth >= s->lim.max_depth)
            return fail(s, "nested deeper than the limit");
        s->is_attr[s->depth] = t == '|';
        s->left[s->depth++] = (uint64_t)v * (t == '%' || t == '|' ? 2 : 1);
        return 0;
    case '?':
        return fail(s, "RESP3 streamed types are not supported");
    default:
        return fail(s, "not a RESP type byte");
    }
}

ssize_t rs_feed(struct rstream *s, const uint8_t *p, size_t n, int *done)
{
    size_t i = 0;
    *done = 0;
    while (i < n) {
        if (s->in_bulk) {
            size_t k = s->bulk_left < n - i ? (size_t)s->bulk_left : n - i;
            if (s->bulk_first) {
                /* the first element's bytes (short: it is a push's kind, "message") */
                size_t payload_left = s->bulk_left > 2 ? (size_t)(s->bulk_left - 2) : 0;
                size_t c = k < payload_left ? k : payload_left;
                if (c > sizeof s->first - s->firstlen)
                    c = sizeof s->first - s->firstlen;
                memcpy(s->first + s->firstlen, p + i, c);
                s->firstlen += c;
            }
            /* the CRLF after the payload must be one */
            for (size_t x = 0; x < k; x++) {
                uint64_t left = s->bulk_left - x;
                if ((left == 2 && p[i + x] != '\r') || (left == 1 && p[i + x] != '\n'))
                    return fail(s, "bulk not followed by CRLF");
            }
            s->bulk_left -= k;
            i += k;
            s->r.len += k;
            if (s->bulk_left)
                continue;
            s->in_bulk = 0;
            if (s->bulk_first) {
                s->r.first = s->first;
                s->r.first_len = s->firstlen;
                s->bulk_first = 0;
            }
            if (value_done(s, 0)) {
                *done = 1;
                return (ssize_t)i;
            }
            continue;
        }
        /* a header line: keep its first bytes, find its end */
        uint8_t c = p[i++];
        s->r.len++;
        if (s->cr) {
            if (c != '\n')
                return fail(s, "CR not followed by LF");
            s->cr = 0;
            int rc = on_line(s);
            s->linelen = s->line_extra = 0;
            s->line_cut = 0;
            if (rc < 0)
                return -1;
            if (rc == 1) {
                *done = 1;
                return (ssize_t)i;
            }
            continue;
        }
        if (c == '\r') {
            if (s->linelen == 0)
                return fail(s, "empty line");
            s->cr = 1;
            continue;
        }
        if (c == '\n')
            return fail(s, "LF without CR");
        if (s->linelen < sizeof s->line) {
            s->line[s->linelen++] = c;
        } else {
            s->line_cut = 1;
            if (++s->line_extra > s->lim.max_inline)
                return fail(s, "line longer than the limit");
        }
    }
    return (ssize_t)i;
}
