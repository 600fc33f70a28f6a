/* check_session.c: unit tests of the recorder's per-connection pairing layer (session.c). */
#define _GNU_SOURCE /* memmem */
#include "record_int.h"

#include <check.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *session_suite(void);

/* ---- a sink that copies every event and assigns seqs like the writer ------------------- */

struct tev {
    uint8_t type;
    uint64_t ts, conn;
    /* request */
    uint64_t seq;
    uint32_t db, flags;
    uint8_t proto;
    uint32_t argc;
    char **argv;
    size_t *argvlen;
    /* reply, push */
    uint64_t req_seq;
    uint8_t rtype;
    uint64_t len, count, hash;
    int64_t ival;
    uint8_t *payload;
    size_t payload_len;
    /* note, gap */
    char *text;
    uint32_t code;
    uint8_t dir;
    uint64_t bytes;
};

struct tsink {
    struct tev *ev;
    size_t n, cap;
    uint64_t next_seq;
    const char *secret[8]; /* bytes that must appear in no event */
};

static char *dupmem(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    ck_assert_ptr_nonnull(d);
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static void assert_no_secret(const struct tsink *s, const void *p, size_t n)
{
    for (int i = 0; i < 8 && s->secret[i]; i++)
        ck_assert_msg(memmem(p, n, s->secret[i], strlen(s->secret[i])) == NULL,
                      "secret \"%s\" reached the sink", s->secret[i]);
}

static int sink_event(void *ctx, struct trace_event *ev)
{
    struct tsink *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
        ck_assert_ptr_nonnull(s->ev);
    }
    struct tev *t = &s->ev[s->n++];
    memset(t, 0, sizeof *t);
    t->type = ev->type;
    t->ts = ev->ts;
    t->conn = ev->conn;
    switch (ev->type) {
    case TRACE_EV_REQUEST:
        ev->u.req.seq = s->next_seq++;
        t->seq = ev->u.req.seq;
        t->db = ev->u.req.db;
        t->proto = ev->u.req.proto;
        t->flags = ev->u.req.flags;
        t->argc = ev->u.req.argc;
        t->argv = calloc(t->argc + 1, sizeof *t->argv);
        t->argvlen = calloc(t->argc + 1, sizeof *t->argvlen);
        for (uint32_t i = 0; i < t->argc; i++) {
            assert_no_secret(s, ev->u.req.argv[i], ev->u.req.argvlen[i]);
            t->argv[i] = dupmem(ev->u.req.argv[i], ev->u.req.argvlen[i]);
            t->argvlen[i] = ev->u.req.argvlen[i];
        }
        break;
    case TRACE_EV_REPLY:
    case TRACE_EV_PUSH:
        if (ev->u.reply.err)
            assert_no_secret(s, ev->u.reply.err, ev->u.reply.errlen);
        if (ev->u.reply.flags & TRACE_REPLY_HAS_PAYLOAD)
            assert_no_secret(s, ev->u.reply.payload, ev->u.reply.payload_len);
        if (ev->u.reply.flags & TRACE_REPLY_REDACTED)
            /* its type only: a length, a hash or the bytes would let a password be checked */
            ck_assert_msg(!(ev->u.reply.flags & (TRACE_REPLY_HAS_HASH | TRACE_REPLY_HAS_PAYLOAD)) &&
                              ev->u.reply.len == 0 && ev->u.reply.count == 0 &&
                              ev->u.reply.size == 0 && ev->u.reply.ival == 0 &&
                              ev->u.reply.hash == 0 && ev->u.reply.err == NULL &&
                              ev->u.reply.payload == NULL,
                          "a redacted reply keeps more than its type");
        t->req_seq = ev->u.reply.req_seq;
        t->rtype = ev->u.reply.rtype;
        t->flags = ev->u.reply.flags;
        t->len = ev->u.reply.len;
        t->count = ev->u.reply.count;
        t->hash = ev->u.reply.hash;
        t->ival = ev->u.reply.ival;
        if (ev->u.reply.err)
            t->text = dupmem(ev->u.reply.err, ev->u.reply.errlen);
        if (ev->u.reply.flags & TRACE_REPLY_HAS_PAYLOAD) {
            t->payload = (uint8_t *)dupmem(ev->u.reply.payload, ev->u.reply.payload_len);
            t->payload_len = ev->u.reply.payload_len;
        }
        break;
    case TRACE_EV_NOTE:
        assert_no_secret(s, ev->u.note.text, ev->u.note.len);
        t->text = dupmem(ev->u.note.text, ev->u.note.len);
        t->code = ev->u.note.code;
        t->dir = ev->u.note.dir;
        break;
    case TRACE_EV_GAP:
        t->dir = ev->u.gap.dir;
        t->bytes = ev->u.gap.bytes;
        break;
    default: ck_abort_msg("unexpected event type %u from a session", ev->type);
    }
    return 0;
}

static void sink_free(struct tsink *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct tev *t = &s->ev[i];
        for (uint32_t k = 0; t->argv && k < t->argc; k++)
            free(t->argv[k]);
        free(t->argv);
        free(t->argvlen);
        free(t->payload);
        free(t->text);
    }
    free(s->ev);
    memset(s, 0, sizeof *s);
}

/* ---- scenarios: steps of bytes, fed whole or one byte at a time ---------------------- */

#define C2S TRACE_DIR_TO_SERVER
#define S2C TRACE_DIR_TO_CLIENT
#define GAP 2 /* a step that is a gap of `len` bytes in direction `gapdir` */

struct step {
    int dir;
    const char *data;
    size_t len; /* 0: strlen(data); for GAP: the lost bytes */
    int gapdir;
};

struct run_opts {
    uint32_t open_flags;
    int keep_payload;
    size_t max_buffer;
    int bytewise; /* deliver every byte in its own call */
    int redact_values;
};

/* Runs the steps into `s`; step i is delivered at ts (i + 1) * 1000, its bytes at + k when
 * bytewise (so each message's ts tells which byte it began at). */
static void run(struct tsink *s, const struct step *st, size_t nst, const struct run_opts *ro)
{
    struct rec_session_opts o = {.lim = resp_limits_default(),
                                 .keep_payload = ro ? ro->keep_payload : 0,
                                 .max_buffer = ro ? ro->max_buffer : 0,
                                 .redact_values = ro ? ro->redact_values : 0};
    struct rec_sink sink = {sink_event, s};
    struct rt_err err = {0};
    struct rec_conn *c = rec_conn_new(7, ro ? ro->open_flags : 0, &o, &sink, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    for (size_t i = 0; i < nst; i++) {
        uint64_t ts = (uint64_t)(i + 1) * 1000;
        if (st[i].dir == GAP) {
            rec_conn_gap(c, (enum trace_dir)st[i].gapdir, st[i].len, ts);
            continue;
        }
        size_t n = st[i].len ? st[i].len : strlen(st[i].data);
        /* copied so that ASan sees any read past the chunk */
        uint8_t *copy = malloc(n);
        memcpy(copy, st[i].data, n);
        if (ro && ro->bytewise) {
            for (size_t k = 0; k < n; k++) {
                uint8_t *b = malloc(1);
                *b = copy[k];
                rec_conn_data(c, (enum trace_dir)st[i].dir, b, 1, ts + k);
                free(b);
            }
        } else {
            rec_conn_data(c, (enum trace_dir)st[i].dir, copy, n, ts);
        }
        free(copy);
    }
    rec_conn_close(c, (uint64_t)(nst + 1) * 1000);
    ck_assert_int_eq(rec_conn_error(c), 0);
    rec_conn_free(c);
}

/* The events as a compact string: "Q0:PING R0 P- N3 G1 ..." (Q request seq:name, MALFORMED
 * for a malformed one, with flags n=noreply r=redacted g=after-gap t=truncated; R reply
 * req_seq or '-' with g=after-gap x=redacted; P push; N note code; G gap dir). */
static void describe(const struct tsink *s, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < s->n && o + 64 < cap; i++) {
        const struct tev *t = &s->ev[i];
        if (t->type == TRACE_EV_REQUEST)
            o += (size_t)snprintf(buf + o, cap - o, "Q%llu:%s%s%s%s%s ", (unsigned long long)t->seq,
                                  t->flags & TRACE_REQ_MALFORMED ? "MALFORMED" : t->argv[0],
                                  t->flags & TRACE_REQ_NOREPLY ? "/n" : "",
                                  t->flags & TRACE_REQ_REDACTED ? "/r" : "",
                                  t->flags & TRACE_REQ_AFTER_GAP ? "/g" : "",
                                  t->flags & TRACE_REQ_TRUNCATED ? "/t" : "");
        else if (t->type == TRACE_EV_REPLY || t->type == TRACE_EV_PUSH) {
            char seq[24] = "-";
            if (t->req_seq != TRACE_SEQ_NONE)
                snprintf(seq, sizeof seq, "%llu", (unsigned long long)t->req_seq);
            o += (size_t)snprintf(buf + o, cap - o, "%c%s%s%s ",
                                  t->type == TRACE_EV_REPLY ? 'R' : 'P', seq,
                                  t->flags & TRACE_REPLY_AFTER_GAP ? "/g" : "",
                                  t->flags & TRACE_REPLY_REDACTED ? "/x" : "");
        } else if (t->type == TRACE_EV_NOTE)
            o += (size_t)snprintf(buf + o, cap - o, "N%u ", t->code);
        else if (t->type == TRACE_EV_GAP)
            o += (size_t)snprintf(buf + o, cap - o, "G%u ", t->dir);
    }
    if (o > 0 && buf[o - 1] == ' ')
        buf[o - 1] = 0;
}

/* Runs the scenario whole and byte by byte, checks both against `want` (describe() form) and
 * leaves the whole run's events in `s`. */
static void scenario(struct tsink *s, const struct step *st, size_t nst, const struct run_opts *ro,
                     const char *want)
{
    char got[4096];
    struct run_opts o = ro ? *ro : (struct run_opts){0};
    struct tsink b = {0};
    memcpy(b.secret, s->secret, sizeof b.secret);
    o.bytewise = 1;
    run(&b, st, nst, &o);
    describe(&b, got, sizeof got);
    ck_assert_msg(strcmp(got, want) == 0, "byte by byte:\n got: %s\nwant: %s", got, want);
    sink_free(&b);
    o.bytewise = 0;
    run(s, st, nst, &o);
    describe(s, got, sizeof got);
    ck_assert_msg(strcmp(got, want) == 0, "whole:\n got: %s\nwant: %s", got, want);
}

static const struct tev *find_req(const struct tsink *s, uint64_t seq)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ev[i].type == TRACE_EV_REQUEST && s->ev[i].seq == seq)
            return &s->ev[i];
    ck_abort_msg("no request %llu", (unsigned long long)seq);
    return NULL;
}

static const struct tev *nth(const struct tsink *s, int type, size_t k)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ev[i].type == type && k-- == 0)
            return &s->ev[i];
    ck_abort_msg("no event %zu of type %d", k, type);
    return NULL;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- tests ---------------------------------------------------------------------------- */

START_TEST(test_session_pipelining)
{
    struct step st[] = {
        {.dir = C2S,
         .data = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\n"},
        {.dir = S2C, .data = "+OK\r\n$1\r\n1\r\n"},
        {.dir = C2S, .data = "*1\r\n$4\r\nPING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n+PONG\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL, "Q0:SET Q1:GET Q2:PING R0 R1 Q3:PING R2 R3");
    ck_assert_uint_eq(find_req(&s, 2)->flags & TRACE_REQ_INLINE, TRACE_REQ_INLINE);
    ck_assert_uint_eq(find_req(&s, 1)->argc, 2);
    ck_assert_str_eq(find_req(&s, 1)->argv[1], "a");
    ck_assert_uint_eq(find_req(&s, 0)->db, 0);
    ck_assert_uint_eq(find_req(&s, 0)->proto, 2);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 1)->rtype, TRACE_R_BULK);
    sink_free(&s);
}
END_TEST

START_TEST(test_session_timestamps)
{
    /* bytewise: the k-th byte of step i arrives at (i + 1) * 1000 + k */
    struct step st[] = {
        {.dir = C2S,
         .data = "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"}, /* second PING begins at byte 14 */
        {.dir = S2C, .data = "+PONG\r\n+PONG\r\n"},           /* second reply begins at byte 7 */
    };
    struct tsink s = {0};
    struct run_opts o = {.bytewise = 1};
    run(&s, st, N(st), &o);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REQUEST, 0)->ts, 1000);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REQUEST, 1)->ts, 1014);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 0)->ts, 2000);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 1)->ts, 2007);
    sink_free(&s);
    /* whole chunks: a request split over two segments has the first segment's time */
    struct step st2[] = {
        {.dir = C2S, .data = "*2\r\n$3\r\nGET\r\n$1"},
        {.dir = C2S, .data = "\r\nk\r\n*1\r\n$4\r\nPI"},
        {.dir = C2S, .data = "NG\r\n"},
        {.dir = S2C, .data = "$-1\r\n+PO"},
        {.dir = S2C, .data = "NG\r\n"},
    };
    run(&s, st2, N(st2), NULL);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REQUEST, 0)->ts, 1000);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REQUEST, 1)->ts, 2000);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 0)->ts, 4000);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 0)->rtype, TRACE_R_NULL);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 0)->flags & TRACE_REPLY_NULL_BULK,
                      TRACE_REPLY_NULL_BULK);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 1)->ts, 4000);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 1)->req_seq, 1);
    sink_free(&s);
}
END_TEST

START_TEST(test_session_reply_off_on)
{
    /* as in Zeek's reply-off-on capture */
    struct step st[] = {
        {.dir = C2S, .data = "PING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
        {.dir = C2S, .data = "CLIENT REPLY OFF\r\n"},
        {.dir = C2S, .data = "PING\r\n"},
        {.dir = C2S, .data = "client reply on\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "PING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
        {.dir = C2S,
         .data = "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n*1\r\n$4\r\nPING\r\nPING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL,
             "Q0:PING R0 Q1:CLIENT/n Q2:PING/n Q3:client R3 Q4:PING R4 Q5:CLIENT/n Q6:PING/n "
             "Q7:PING R7");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_client_skip_while_off)
{
    struct step st[] = {
        {.dir = C2S, .data = "PING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
        {.dir = C2S,
         .data = "CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY SKIP\r\nCLIENT REPLY "
                 "ON\r\nPING\r\nPING\r\n"},
        {.dir = S2C, .data = "+OK\r\n+PONG\r\n+PONG\r\n"},
        /* SKIP then ON: ON clears the skip and answers */
        {.dir = C2S, .data = "CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING\r\n"},
        {.dir = S2C, .data = "+OK\r\n+PONG\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL,
             "Q0:PING R0 Q1:CLIENT/n Q2:PING/n Q3:CLIENT/n Q4:CLIENT Q5:PING Q6:PING R4 R5 R6 "
             "Q7:CLIENT/n Q8:CLIENT Q9:PING R8 R9");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_subscribe_resp2)
{
    struct step st[] = {
        {.dir = C2S, .data = "*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n"},
        {.dir = S2C,
         .data = "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:"
                 "2\r\n"},
        {.dir = S2C, .data = "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"},
        {.dir = C2S,
         .data = "*3\r\n$10\r\nPSUBSCRIBE\r\n$2\r\nb*\r\n$2\r\nc*\r\n*1\r\n$4\r\nPING\r\n"},
        {.dir = S2C,
         .data =
             "*4\r\n$8\r\npmessage\r\n$2\r\nb*\r\n$2\r\nbb\r\n$1\r\nx\r\n"
             "*3\r\n$10\r\npsubscribe\r\n$2\r\nb*\r\n:3\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n"
             ":4\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n"},
        {.dir = C2S, .data = "*1\r\n$11\r\nUNSUBSCRIBE\r\n"},
        {.dir = S2C,
         .data =
             "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:3\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n"
             ":2\r\n"},
        {.dir = C2S, .data = "*1\r\n$12\r\nPUNSUBSCRIBE\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"},
        {.dir = S2C,
         .data =
             "*3\r\n$12\r\npunsubscribe\r\n$2\r\nb*\r\n:1\r\n*3\r\n$12\r\npunsubscribe\r\n$2\r\n"
             "c*\r\n:0\r\n$1\r\nv\r\n"},
        /* not subscribed any more: a list that looks like a message is a reply */
        {.dir = C2S, .data = "*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n"},
        {.dir = S2C, .data = "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL,
             "Q0:SUBSCRIBE R0 P0 P- Q1:PSUBSCRIBE Q2:PING P- R1 P1 R2 Q3:UNSUBSCRIBE R3 P3 "
             "Q4:PUNSUBSCRIBE Q5:GET R4 P4 R5 Q6:LRANGE R6");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_resp3_push)
{
    struct step st[] = {
        {.dir = C2S, .data = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"},
        {.dir = S2C, .data = "%1\r\n+proto\r\n:3\r\n"},
        {.dir = C2S, .data = "*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"},
        {.dir = S2C,
         .data =
             ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\n"
             "x\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n_\r\n"},
        {.dir = C2S, .data = "*1\r\n$5\r\nRESET\r\n*1\r\n$4\r\nPING\r\n"},
        {.dir = S2C, .data = "+RESET\r\n+PONG\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL,
             "Q0:HELLO R0 Q1:SUBSCRIBE Q2:GET P1 P- P- R2 Q3:RESET Q4:PING R3 R4");
    ck_assert_uint_eq(find_req(&s, 0)->proto, 2);
    ck_assert_uint_eq(find_req(&s, 1)->proto, 3);
    ck_assert_uint_eq(find_req(&s, 3)->proto, 3);
    ck_assert_uint_eq(find_req(&s, 4)->proto, 2);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 0)->rtype, TRACE_R_MAP);
    ck_assert_uint_eq(nth(&s, TRACE_EV_PUSH, 0)->rtype, TRACE_R_PUSH);
    sink_free(&s);
    /* a refused HELLO keeps the protocol */
    struct step st2[] = {
        {.dir = C2S, .data = "HELLO 4\r\nPING\r\n"},
        {.dir = S2C,
         .data = "-NOPROTO sorry, this protocol version is not supported.\r\n+PONG\r\n"},
        {.dir = C2S, .data = "PING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
    };
    scenario(&s, st2, N(st2), NULL, "Q0:HELLO Q1:PING R0 R1 Q2:PING R2");
    ck_assert_uint_eq(find_req(&s, 2)->proto, 2);
    ck_assert_str_eq(nth(&s, TRACE_EV_REPLY, 0)->text,
                     "NOPROTO sorry, this protocol version is not supported.");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_monitor)
{
    struct step st[] = {
        {.dir = C2S, .data = "MONITOR\r\n"},
        {.dir = S2C, .data = "+OK\r\n+1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\"\r\n"},
        {.dir = S2C, .data = "+1339518087.877697 [0 127.0.0.1:60866] \"dbsize\"\r\n"},
        {.dir = C2S, .data = "RESET\r\n"},
        {.dir = S2C,
         .data = "+1339518090.000000 [0 127.0.0.1:60866] \"set\" \"a\" \"1\"\r\n+RESET\r\n"},
        {.dir = C2S, .data = "PING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL, "Q0:MONITOR R0 P- P- Q1:RESET P- R1 Q2:PING R2");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_multi_exec)
{
    struct step st[] = {
        {.dir = C2S, .data = "MULTI\r\nSET a 1\r\nSELECT 2\r\nGET a\r\nEXEC\r\nGET b\r\n"},
        {.dir = S2C,
         .data = "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n+OK\r\n$1\r\n1\r\n$-1\r\n"},
        {.dir = C2S, .data = "MULTI\r\nNOSUCH\r\nEXEC\r\nBLPOP q 0\r\n"},
        {.dir = S2C,
         .data = "+OK\r\n-ERR unknown command 'NOSUCH'\r\n"
                 "-EXECABORT Transaction discarded because of previous errors.\r\n"},
        {.dir = S2C, .data = "*2\r\n$1\r\nq\r\n$1\r\nx\r\n"},
        {.dir = C2S, .data = "MULTI\r\nGET a\r\nDISCARD\r\nGET a\r\n"},
        {.dir = S2C, .data = "+OK\r\n+QUEUED\r\n+OK\r\n$1\r\n1\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL,
             "Q0:MULTI Q1:SET Q2:SELECT Q3:GET Q4:EXEC Q5:GET R0 R1 R2 R3 R4 R5 "
             "Q6:MULTI Q7:NOSUCH Q8:EXEC Q9:BLPOP R6 R7 R8 R9 "
             "Q10:MULTI Q11:GET Q12:DISCARD Q13:GET R10 R11 R12 R13");
    ck_assert_uint_eq(find_req(&s, 3)->db, 0); /* queued: SELECT runs at EXEC */
    ck_assert_uint_eq(find_req(&s, 5)->db, 2);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 4)->rtype, TRACE_R_ARRAY);
    ck_assert_uint_eq(nth(&s, TRACE_EV_REPLY, 4)->count, 3);
    ck_assert_str_eq(nth(&s, TRACE_EV_REPLY, 8)->text,
                     "EXECABORT Transaction discarded because of previous errors.");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_select_db)
{
    struct step st[] = {
        {.dir = C2S, .data = "SELECT 3\r\nGET a\r\n"},
        {.dir = S2C, .data = "+OK\r\n$-1\r\n"},
        {.dir = C2S, .data = "SELECT 99\r\nGET a\r\n"},
        {.dir = S2C, .data = "-ERR DB index is out of range\r\n$-1\r\n"},
        {.dir = C2S, .data = "GET a\r\nRESET\r\nGET a\r\n"},
        {.dir = S2C, .data = "$-1\r\n+RESET\r\n$-1\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL,
             "Q0:SELECT Q1:GET R0 R1 Q2:SELECT Q3:GET R2 R3 Q4:GET Q5:RESET Q6:GET R4 R5 R6");
    ck_assert_uint_eq(find_req(&s, 0)->db, 0);
    ck_assert_uint_eq(find_req(&s, 1)->db, 3);  /* pipelined behind SELECT: runs in db 3 */
    ck_assert_uint_eq(find_req(&s, 3)->db, 99); /* sent before the error was seen */
    ck_assert_uint_eq(find_req(&s, 4)->db, 3);  /* the error restored db 3 */
    ck_assert_uint_eq(find_req(&s, 6)->db, 0);  /* RESET */
    sink_free(&s);
}
END_TEST

START_TEST(test_session_redaction)
{
    struct step st[] = {
        {.dir = C2S, .data = "*2\r\n$4\r\nAUTH\r\n$11\r\nhunter2pass\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "*3\r\n$4\r\nauth\r\n$5\r\nalice\r\n$9\r\nsw0rdfish\r\n"},
        {.dir = S2C, .data = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
        {.dir = C2S, .data = "AUTH bob \"s3cr\\x65tpw\"\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S,
         .data =
             "*6\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$10\r\nopensesame\r\n"
             "$7\r\nSETNAME\r\n"},
        {.dir = S2C, .data = "-ERR Syntax error in HELLO option 'SETNAME'\r\n"},
        {.dir = C2S, .data = "*1\r\n$4\r\nPING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
    };
    struct tsink s = {.secret = {"hunter2pass", "sw0rdfish", "s3cretpw", "opensesame"}};
    scenario(&s, st, N(st), NULL,
             "Q0:AUTH/r R0 Q1:auth/r R1 Q2:AUTH/r R2 Q3:HELLO/r R3 Q4:PING R4");
    ck_assert_str_eq(find_req(&s, 0)->argv[1], "<redacted>");
    ck_assert_str_eq(find_req(&s, 1)->argv[1], "alice");
    ck_assert_str_eq(find_req(&s, 1)->argv[2], "<redacted>");
    ck_assert_str_eq(find_req(&s, 2)->argv[1], "bob");
    ck_assert_str_eq(find_req(&s, 2)->argv[2], "<redacted>");
    ck_assert_uint_eq(find_req(&s, 3)->argc, 6);
    ck_assert_str_eq(find_req(&s, 3)->argv[3], "alice");
    ck_assert_str_eq(find_req(&s, 3)->argv[4], "<redacted>");
    ck_assert_str_eq(find_req(&s, 3)->argv[5], "SETNAME");
    ck_assert_uint_eq(find_req(&s, 4)->proto, 2); /* the HELLO failed */
    sink_free(&s);
}
END_TEST

START_TEST(test_session_redaction_config_acl)
{
    struct step st[] = {
        {.dir = C2S,
         .data = "*6\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\nmaxmemory\r\n$4\r\n100m\r\n"
                 "$11\r\nrequirepass\r\n$9\r\nn3wsecret\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "CONFIG SET masterauth upstr3am\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S,
         .data = "*6\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$3\r\nbob\r\n$2\r\non\r\n$9\r\n>bobspass\r\n"
                 "$5\r\n~key*\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "*2\r\n$3\r\nGET\r\n$11\r\nrequirepass\r\n"},
        {.dir = S2C, .data = "$-1\r\n"},
    };
    struct tsink s = {.secret = {"n3wsecret", "upstr3am", "bobspass"}};
    scenario(&s, st, N(st), NULL, "Q0:CONFIG/r R0 Q1:CONFIG/r R1 Q2:ACL/r R2 Q3:GET R3");
    ck_assert_str_eq(find_req(&s, 0)->argv[3], "100m"); /* not a secret */
    ck_assert_str_eq(find_req(&s, 0)->argv[5], "<redacted>");
    ck_assert_str_eq(find_req(&s, 1)->argv[3], "<redacted>");
    ck_assert_str_eq(find_req(&s, 2)->argv[3], "on");
    ck_assert_str_eq(find_req(&s, 2)->argv[4], "<redacted>");
    ck_assert_str_eq(find_req(&s, 2)->argv[5], "~key*");
    ck_assert_str_eq(find_req(&s, 3)->argv[1], "requirepass"); /* a key, not CONFIG */
    sink_free(&s);
}
END_TEST

START_TEST(test_session_redact_values)
{
    struct step st[] = {
        {.dir = C2S,
         .data = "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\nsecret\r\n$2\r\nEX\r\n$2\r\n10\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "HSET h field1 hidden1 field2 hidden2\r\n"},
        {.dir = S2C, .data = ":2\r\n"},
        {.dir = C2S, .data = "*4\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$4\r\nelem\r\n$5\r\nelem2\r\n"},
        {.dir = S2C, .data = ":2\r\n"},
        {.dir = C2S, .data = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"},
        {.dir = S2C, .data = "$6\r\nsecret\r\n"},
    };
    struct run_opts ro = {.redact_values = 1};
    struct tsink s = {.secret = {"hidden1", "hidden2", "elem2"}};
    scenario(&s, st, N(st), &ro, "Q0:SET R0 Q1:HSET R1 Q2:RPUSH R2 Q3:GET R3");
    const struct tev *q = find_req(&s, 0);
    ck_assert(q->flags & TRACE_REQ_VALUES_REDACTED);
    ck_assert_str_eq(q->argv[1], "k");
    ck_assert_str_eq(q->argv[2], "xxxxxx"); /* same length */
    ck_assert_str_eq(q->argv[3], "EX");     /* options stay */
    ck_assert_str_eq(q->argv[4], "10");
    q = find_req(&s, 1);
    ck_assert_str_eq(q->argv[2], "field1");
    ck_assert_str_eq(q->argv[3], "xxxxxxx");
    ck_assert_str_eq(q->argv[5], "xxxxxxx");
    q = find_req(&s, 2);
    ck_assert_str_eq(q->argv[2], "xxxx");
    ck_assert_str_eq(q->argv[3], "xxxxx");
    q = find_req(&s, 3);
    ck_assert(!(q->flags & TRACE_REQ_VALUES_REDACTED)); /* reads are kept */
    ck_assert_str_eq(q->argv[1], "k");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_midstream)
{
    /* the capture begins inside a bulk reply and inside a request */
    struct step st[] = {
        {.dir = S2C, .data = "llo world\r\n+OK\r\n"},
        {.dir = C2S, .data = "\r\n$3\r\nfoo\r\n*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$5\r\nthere\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
    };
    struct tsink s = {0};
    struct run_opts o = {.open_flags = TRACE_OPEN_MIDSTREAM};
    scenario(&s, st, N(st), &o, "R-/g Q0:SET/g R0/g");
    ck_assert_str_eq(find_req(&s, 0)->argv[2], "there");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_gap)
{
    struct step st[] = {
        {.dir = C2S, .data = "GET a\r\nGET b\r\nGET c\r\n"},
        {.dir = S2C, .data = "$1\r\n1\r\n$5\r\nab"},
        {GAP, NULL, 100, S2C},
        {.dir = S2C, .data = "cdef\r\n$1\r\n3\r\n"},
        {.dir = C2S, .data = "GET d\r\n"},
        {.dir = S2C, .data = "$1\r\n4\r\n"},
        {.dir = C2S, .data = "GET e\r\n"},
        {.dir = S2C, .data = "$1\r\n5\r\n"},
        {.dir = C2S, .data = "*2\r\n$3\r\nGET\r\n$1\r\nf\r\n*2\r\n$3\r\nG"},
        {GAP, NULL, 10, C2S},
        {.dir = C2S, .data = "k\r\n*2\r\n$3\r\nGET\r\n$1\r\nh\r\n"},
        {.dir = S2C, .data = "$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n"},
        {.dir = C2S, .data = "GET i\r\n"},
        {.dir = S2C, .data = "$1\r\n9\r\n"},
    };
    struct tsink s = {0};
    /* after the server gap, "$1\r\n3" (GET c's reply, or GET b's?) is unpaired and GET d's
     * pairing is flagged until the queue drains; after the client gap the lost command's reply
     * shifts everything: GET h gets the lost GET's reply, flagged, and its own is unpaired */
    scenario(&s, st, N(st), NULL,
             "Q0:GET Q1:GET Q2:GET R0 G1 R-/g Q3:GET R3/g Q4:GET R4 Q5:GET G0 Q6:GET/g R5 R6/g "
             "R- Q7:GET R7");
    ck_assert_uint_eq(nth(&s, TRACE_EV_GAP, 0)->bytes, 100);
    sink_free(&s);
}
END_TEST

START_TEST(test_session_not_resp)
{
    /* as almost-resp.pcap: two good exchanges, then the server stops speaking RESP */
    struct step st[] = {
        {.dir = C2S, .data = "AUTH pw\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "PING\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "GET a\r\n"},
        {.dir = S2C, .data = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"},
        {.dir = C2S, .data = "GET b\r\n"},
        {.dir = S2C, .data = "$1\r\n1\r\n"},
    };
    struct tsink s = {.secret = {"pw\r"}};
    scenario(&s, st, N(st), NULL, "Q0:AUTH/r R0 Q1:PING R1 Q2:GET N1 Q3:GET R3/g");
    const struct tev *n = nth(&s, TRACE_EV_NOTE, 0);
    ck_assert_uint_eq(n->dir, S2C);
    ck_assert_msg(strstr(n->text, "conn 7") && strstr(n->text, "to-client") &&
                      strstr(n->text, "offset 10"),
                  "note: %s", n->text);
    sink_free(&s);
    /* a framing error inside a message */
    struct step st2[] = {
        {.dir = C2S, .data = "GET a\r\n"},
        {.dir = S2C, .data = "$3\r\nabcdef\r\n"},
    };
    scenario(&s, st2, N(st2), NULL, "Q0:GET N3");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_tls)
{
    static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03PING\r\n";
    struct step st[] = {
        {.dir = C2S, .data = hello, .len = sizeof hello - 1},
        {.dir = S2C, .data = "\x16\x03\x03\x00\x7a\x02+OK\r\n"},
        {.dir = C2S, .data = "PING\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL, "N2");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_hash_payload)
{
    static const char r1[] = "|1\r\n+ttl\r\n:3600\r\n$5\r\nhello\r\n";
    struct step st[] = {
        {.dir = C2S, .data = "GET a\r\nGET b\r\n"},
        {.dir = S2C, .data = r1},
        {.dir = S2C, .data = "$-1\r\n"},
    };
    struct tsink s = {0};
    struct run_opts o = {.keep_payload = 1};
    scenario(&s, st, N(st), &o, "Q0:GET Q1:GET R0 R1");
    const struct tev *r = nth(&s, TRACE_EV_REPLY, 0);
    ck_assert_uint_eq(r->len, strlen(r1));
    ck_assert_uint_eq(r->flags &
                          (TRACE_REPLY_HAS_HASH | TRACE_REPLY_HAS_PAYLOAD | TRACE_REPLY_ATTRIBUTED),
                      TRACE_REPLY_HAS_HASH | TRACE_REPLY_HAS_PAYLOAD | TRACE_REPLY_ATTRIBUTED);
    ck_assert_uint_eq(r->hash, trace_hash(r1, strlen(r1)));
    ck_assert_uint_eq(r->payload_len, strlen(r1));
    ck_assert_mem_eq(r->payload, r1, strlen(r1));
    sink_free(&s);
    o.keep_payload = 0;
    run(&s, st, N(st), &o);
    r = nth(&s, TRACE_EV_REPLY, 1);
    ck_assert_uint_eq(r->flags & (TRACE_REPLY_HAS_HASH | TRACE_REPLY_HAS_PAYLOAD),
                      TRACE_REPLY_HAS_HASH);
    ck_assert_uint_eq(r->hash, trace_hash("$-1\r\n", 5));
    sink_free(&s);
}
END_TEST

START_TEST(test_session_max_buffer)
{
    struct step st[] = {
        {.dir = C2S, .data = "GET big\r\nGET small\r\n"},
        {.dir = S2C, .data = "$100\r\n0123456789012345678901234567890123456789"},
        {.dir = S2C, .data = "012345678901234567890123456789012345678901234567890123456789\r\n"},
        {.dir = S2C, .data = "$1\r\nx\r\n"},
        {.dir = C2S, .data = "PING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
    };
    struct tsink s = {0};
    struct run_opts o = {.max_buffer = 64};
    scenario(&s, st, N(st), &o, "Q0:GET Q1:GET N4 R-/g Q2:PING R2/g");
    sink_free(&s);
}
END_TEST

/* Replies that can carry a secret keep their type only (checked for every event by the sink:
 * no length, hash or payload), also inside a transaction; the others keep their hash. */
START_TEST(test_session_reply_redaction)
{
    static const char hash[] = "d9c5946d067b63cab791455d318c83daa0c64742bee79a807623811eb76ad0c0";
    char acl_list[256], acl_user[256];
    snprintf(acl_list, sizeof acl_list, "*1\r\n$%zu\r\nuser default on #%s ~* &* +@all\r\n",
             strlen("user default on # ~* &* +@all") + 64, hash);
    snprintf(acl_user, sizeof acl_user,
             "*4\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n$64\r\n%s\r\n", hash);
    struct step st[] = {
        /* Q0 */ {.dir = C2S, .data = "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$11\r\nrequirepass\r\n"},
        {.dir = S2C, .data = "*2\r\n$11\r\nrequirepass\r\n$8\r\ns3cr3tpw\r\n"},
        /* Q1 */ {.dir = C2S, .data = "CONFIG GET *\r\n"},
        {.dir = S2C,
         .data = "*4\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$11\r\nrequirepass\r\n$8\r\ns3cr3tpw\r\n"},
        /* Q2: not a secret */ {.dir = C2S, .data = "CONFIG GET maxmemory\r\n"},
        {.dir = S2C, .data = "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
        /* Q3: a glob that matches masterauth */ {.dir = C2S, .data = "config get MASTER?UTH\r\n"},
        {.dir = S2C, .data = "*2\r\n$10\r\nmasterauth\r\n$8\r\nupstr3am\r\n"},
        /* Q4: the second of two patterns */
        {.dir = C2S, .data = "CONFIG GET maxmemory tls-[k]ey-file-?ass\r\n"},
        {.dir = S2C, .data = "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
        /* Q5, Q6 */ {.dir = C2S, .data = "ACL LIST\r\nACL GETUSER default\r\n"},
        {.dir = S2C, .data = acl_list},
        {.dir = S2C, .data = acl_user},
        /* Q7-Q9: a transaction that reads requirepass; its QUEUED are no secret */
        {.dir = C2S, .data = "MULTI\r\nCONFIG GET requirepass\r\nEXEC\r\n"},
        {.dir = S2C,
         .data = "+OK\r\n+QUEUED\r\n*1\r\n*2\r\n$11\r\nrequirepass\r\n$8\r\ns3cr3tpw\r\n"},
        /* Q10-Q12: one that does not */
        {.dir = C2S, .data = "MULTI\r\nGET a\r\nEXEC\r\n"},
        {.dir = S2C, .data = "+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n"},
        /* Q13: sentinel's own password; Q14: SENTINEL MASTER shows no auth-pass */
        {.dir = C2S, .data = "SENTINEL CONFIG GET sentinel-pass\r\nSENTINEL MASTER mymaster\r\n"},
        {.dir = S2C, .data = "*2\r\n$13\r\nsentinel-pass\r\n$8\r\nsentpw99\r\n"},
        {.dir = S2C, .data = "*2\r\n$4\r\nname\r\n$8\r\nmymaster\r\n"},
        /* Q15: a key named requirepass is a key */
        {.dir = C2S, .data = "GET requirepass\r\n"},
        {.dir = S2C, .data = "$-1\r\n"},
    };
    struct run_opts o = {.keep_payload = 1};
    struct tsink s = {.secret = {"s3cr3tpw", "upstr3am", hash, "sentpw99"}};
    scenario(&s, st, N(st), &o,
             "Q0:CONFIG R0/x Q1:CONFIG R1/x Q2:CONFIG R2 Q3:config R3/x Q4:CONFIG R4/x Q5:ACL "
             "Q6:ACL R5/x R6/x Q7:MULTI Q8:CONFIG Q9:EXEC R7 R8 R9/x Q10:MULTI Q11:GET Q12:EXEC "
             "R10 R11 R12 Q13:SENTINEL Q14:SENTINEL R13/x R14 Q15:GET R15");
    const struct tev *r = nth(&s, TRACE_EV_REPLY, 2);
    ck_assert_uint_eq(r->flags & TRACE_REPLY_HAS_HASH, TRACE_REPLY_HAS_HASH);
    ck_assert_uint_eq(r->rtype, TRACE_R_ARRAY);
    r = nth(&s, TRACE_EV_REPLY, 0);
    ck_assert_uint_eq(r->rtype, TRACE_R_ARRAY); /* the type is kept */
    ck_assert_uint_eq(r->req_seq, 0);           /* and the pairing */
    sink_free(&s);
}
END_TEST

/* A reply whose request the recorder did not see (mid-stream) is redacted when its bytes
 * look like a password parameter or an ACL hash. */
START_TEST(test_session_reply_redaction_unpaired)
{
    struct step st[] = {
        {.dir = S2C, .data = "*2\r\n$11\r\nrequirepass\r\n$8\r\ns3cr3tpw\r\n$5\r\nhello\r\n"},
        {.dir = C2S, .data = "*1\r\n$4\r\nPING\r\n"},
        {.dir = S2C, .data = "+PONG\r\n"},
    };
    struct run_opts o = {.keep_payload = 1, .open_flags = TRACE_OPEN_MIDSTREAM};
    struct tsink s = {.secret = {"s3cr3tpw"}};
    scenario(&s, st, N(st), &o, "R-/g/x R- Q0:PING/g R0/g");
    sink_free(&s);
}
END_TEST

START_TEST(test_session_redaction_sentinel_dryrun)
{
    struct step st[] = {
        {.dir = C2S,
         .data =
             "SENTINEL SET mymaster quorum 2 auth-pass s3ntpw down-after-milliseconds 1000\r\n"},
        /* a redis that is no sentinel quotes the arguments in its error */
        {.dir = S2C,
         .data = "-ERR unknown command 'SENTINEL', with args beginning with: 'SET' 'mymaster' "
                 "'quorum' '2' 'auth-pass' 's3ntpw' 'down-after-milliseconds' '1000' \r\n"},
        {.dir = C2S,
         .data = "*5\r\n$8\r\nSENTINEL\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$13\r\nsentinel-pass\r\n"
                 "$10\r\ns3ntinelpw\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "ACL DRYRUN alice AUTH alice al1cepw\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "ACL DRYRUN alice HELLO 3 AUTH alice h3llopw\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "acl dryrun bob config set requirepass n3wpw\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
        {.dir = C2S, .data = "ACL DRYRUN bob GET auth-pass\r\n"},
        {.dir = S2C, .data = "+OK\r\n"},
    };
    struct tsink s = {.secret = {"s3ntpw", "s3ntinelpw", "al1cepw", "h3llopw", "n3wpw"}};
    scenario(&s, st, N(st), NULL,
             "Q0:SENTINEL/r R0/x Q1:SENTINEL/r R1 Q2:ACL/r R2 Q3:ACL/r R3 Q4:acl/r R4 Q5:ACL R5");
    const struct tev *q = find_req(&s, 0);
    ck_assert_str_eq(q->argv[4], "2"); /* quorum is no secret */
    ck_assert_str_eq(q->argv[6], "<redacted>");
    ck_assert_str_eq(q->argv[8], "1000");
    ck_assert_str_eq(find_req(&s, 1)->argv[4], "<redacted>");
    ck_assert_str_eq(find_req(&s, 2)->argv[4], "alice");
    ck_assert_str_eq(find_req(&s, 2)->argv[5], "<redacted>");
    ck_assert_str_eq(find_req(&s, 3)->argv[7], "<redacted>");
    ck_assert_str_eq(find_req(&s, 4)->argv[6], "<redacted>");
    ck_assert_str_eq(find_req(&s, 5)->argv[4], "auth-pass"); /* a key */
    sink_free(&s);
}
END_TEST

/* Bytes the server rejects as a command are a request with their raw bytes, paired with the
 * server's error (the Zeek pipeline-quotes capture, then RESP arrays it refuses). */
START_TEST(test_session_malformed)
{
    struct step st[] = {
        {.dir = C2S,
         .data = "SET key \"my value\"\r\nSET bad1 \"unclosed double quotes\r\n"
                 "SET bad2 'unclosed single quotes\r\n"},
        {.dir = S2C, .data = "+OK\r\n-ERR Protocol error: unbalanced quotes in request\r\n"},
    };
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL, "Q0:SET Q1:MALFORMED Q2:MALFORMED R0 R1");
    const struct tev *q = find_req(&s, 1);
    ck_assert_uint_eq(q->argc, 1);
    ck_assert_uint_eq(q->flags, TRACE_REQ_MALFORMED);
    ck_assert_uint_eq(q->argvlen[0], strlen("SET bad1 \"unclosed double quotes\r\n"));
    ck_assert_str_eq(q->argv[0], "SET bad1 \"unclosed double quotes\r\n");
    ck_assert_str_eq(find_req(&s, 2)->argv[0], "SET bad2 'unclosed single quotes\r\n");
    const struct tev *r = nth(&s, TRACE_EV_REPLY, 1);
    ck_assert_uint_eq(r->req_seq, 1);
    ck_assert_str_eq(r->text, "ERR Protocol error: unbalanced quotes in request");
    sink_free(&s);

    /* RESP: a bulk without its '$' (redis: "expected '$', got 'x'"): the bytes up to the end
     * of the line redis stops in; what follows is found by a resync */
    struct step st2[] = {
        {.dir = C2S, .data = "*2\r\n$3\r\nGET\r\nxyz\r\n*1\r\n$4\r\nPING\r\n"},
        {.dir = S2C, .data = "-ERR Protocol error: expected '$', got 'x'\r\n"},
    };
    scenario(&s, st2, N(st2), NULL, "Q0:MALFORMED Q1:PING/g R0");
    ck_assert_str_eq(find_req(&s, 0)->argv[0], "*2\r\n$3\r\nGET\r\nxyz\r\n");
    sink_free(&s);

    /* a count that is not a number, after a good command */
    struct step st3[] = {
        {.dir = C2S, .data = "*1\r\n$4\r\nPING\r\n*1x\r\n"},
        {.dir = S2C, .data = "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"},
    };
    scenario(&s, st3, N(st3), NULL, "Q0:PING Q1:MALFORMED R0 R1");
    ck_assert_str_eq(find_req(&s, 1)->argv[0], "*1x\r\n");
    sink_free(&s);
}
END_TEST

/* A malformed command that may carry a password is written as 'x' bytes of its length, still
 * malformed; a line longer than 64 KiB is cut there and the next line is the next command. */
START_TEST(test_session_malformed_secret_and_long)
{
    struct step st[] = {
        {.dir = C2S, .data = "AUTH \"hunter2pw\r\n*2\r\n$4\r\nAUTH\r\n$-9\r\nsw0rdfish\r\n"},
        {.dir = S2C, .data = "-ERR Protocol error: unbalanced quotes in request\r\n"},
    };
    struct tsink s = {.secret = {"hunter2pw", "sw0rdfish"}};
    scenario(&s, st, N(st), NULL, "Q0:MALFORMED/r Q1:MALFORMED/r R0");
    ck_assert_str_eq(find_req(&s, 0)->argv[0], "\"xxxxxxxxxxxxxx\r\n");
    ck_assert_str_eq(find_req(&s, 1)->argv[0], "*xxxxxxxxxxxxxxxx\r\n");
    sink_free(&s);

    size_t n = 70000;
    char *line = malloc(n + 16);
    memset(line, 'a', n);
    memcpy(line + n, "\r\nPING\r\n", 9);
    struct step st2[] = {
        {.dir = C2S, .data = line},
        {.dir = S2C, .data = "-ERR Protocol error: too big inline request\r\n"},
    };
    struct run_opts o = {0};
    run(&s, st2, N(st2), &o);
    char got[512];
    describe(&s, got, sizeof got);
    ck_assert_str_eq(got, "Q0:MALFORMED/t Q1:PING R0");
    ck_assert_uint_eq(find_req(&s, 0)->argvlen[0], 65536);
    sink_free(&s);
    free(line);
}
END_TEST

/* Sessions of one recorder share one scratch: interleaved, each still reads its own
 * commands, inline arguments unquoted into the scratch included. */
START_TEST(test_session_shared_scratch)
{
    struct rec_scratch *x = rec_scratch_new();
    ck_assert_ptr_nonnull(x);
    struct rec_session_opts o = {.lim = resp_limits_default(), .scratch = x};
    struct tsink s1 = {0}, s2 = {0};
    struct rec_sink k1 = {sink_event, &s1}, k2 = {sink_event, &s2};
    struct rt_err err = {0};
    struct rec_conn *a = rec_conn_new(1, 0, &o, &k1, &err);
    struct rec_conn *b = rec_conn_new(2, 0, &o, &k2, &err);
    ck_assert(a && b);
    static const char qa[] = "SET \"k\\x41\" \"v a\"\r\n", qb[] = "SET 'kb' \"x\\ty\"\r\n";
    for (size_t i = 0; i < sizeof qa - 1 || i < sizeof qb - 1; i++) {
        if (i < sizeof qa - 1)
            rec_conn_data(a, C2S, (const uint8_t *)qa + i, 1, 10 + i);
        if (i < sizeof qb - 1)
            rec_conn_data(b, C2S, (const uint8_t *)qb + i, 1, 10 + i);
    }
    rec_conn_close(a, 100);
    rec_conn_close(b, 100);
    ck_assert_uint_eq(s1.n, 1);
    ck_assert_uint_eq(s2.n, 1);
    ck_assert_str_eq(s1.ev[0].argv[1], "kA");
    ck_assert_str_eq(s1.ev[0].argv[2], "v a");
    ck_assert_str_eq(s2.ev[0].argv[1], "kb");
    ck_assert_str_eq(s2.ev[0].argv[2], "x\ty");
    rec_conn_free(a);
    rec_conn_free(b);
    rec_scratch_free(x);
    sink_free(&s1);
    sink_free(&s2);
}
END_TEST

START_TEST(test_session_argv_growth)
{
    char req[4096];
    size_t o = (size_t)snprintf(req, sizeof req, "*41\r\n$4\r\nMSET\r\n");
    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(req + o, sizeof req - o, "$3\r\nk%02d\r\n$1\r\nv\r\n", i);
    struct step st[] = {{.dir = C2S, .data = req}, {.dir = S2C, .data = "+OK\r\n"}};
    struct tsink s = {0};
    scenario(&s, st, N(st), NULL, "Q0:MSET R0");
    ck_assert_uint_eq(find_req(&s, 0)->argc, 41);
    ck_assert_str_eq(find_req(&s, 0)->argv[39], "k19");
    sink_free(&s);
}
END_TEST

/* ---- the Zeek captures ------------------------------------------------------------------ */

struct zconn {
    uint64_t id;
    uint16_t client_port;
    struct rec_conn *c;
};

struct zctx {
    struct tsink sink;
    struct zconn conns[16];
    size_t n;
    uint64_t order[16]; /* connection ids in the order their first request came */
    size_t norder;
};

static void *z_open(void *ctx, uint64_t conn, const struct trace_addr *client,
                    const struct trace_addr *server, uint32_t flags, uint64_t ts)
{
    (void)server, (void)ts;
    struct zctx *z = ctx;
    ck_assert_uint_lt(z->n, 16);
    struct rec_session_opts o = {.lim = resp_limits_default()};
    struct rec_sink sink = {sink_event, &z->sink};
    struct rt_err err = {0};
    struct zconn *zc = &z->conns[z->n++];
    zc->id = conn;
    zc->client_port = client->port;
    zc->c = rec_conn_new(conn, flags, &o, &sink, &err);
    ck_assert_msg(zc->c != NULL, "%s", err.msg);
    return zc;
}

static void z_data(void *ctx, void *cc, uint64_t conn, enum trace_dir dir, const uint8_t *p,
                   size_t n, uint64_t ts)
{
    (void)ctx, (void)conn;
    rec_conn_data(((struct zconn *)cc)->c, dir, p, n, ts);
}

static void z_gap(void *ctx, void *cc, uint64_t conn, enum trace_dir dir, uint64_t bytes,
                  uint64_t ts)
{
    (void)ctx, (void)conn;
    rec_conn_gap(((struct zconn *)cc)->c, dir, bytes, ts);
}

static void z_close(void *ctx, void *cc, uint64_t conn, enum trace_close_reason reason, uint64_t ts)
{
    (void)ctx, (void)conn, (void)reason;
    struct zconn *zc = cc;
    rec_conn_close(zc->c, ts);
    ck_assert_int_eq(rec_conn_error(zc->c), 0);
    rec_conn_free(zc->c);
    zc->c = NULL;
}

static const char *fixtures(void)
{
    const char *d = getenv("RT_ZEEK_FIXTURES");
    if (d == NULL || *d == 0) {
        printf("check_session: RT_ZEEK_FIXTURES is not set: skipping the Zeek capture tests\n");
        return NULL;
    }
    return d;
}

static void z_run(struct zctx *z, const char *dir, const char *name)
{
    char path[4096], errbuf[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct tsink keep = z->sink; /* only its secrets */
    memset(z, 0, sizeof *z);
    memcpy(z->sink.secret, keep.secret, sizeof keep.secret);
    struct record_ports ports = {.port = {6379, 10625}, .n = 2};
    struct tcp_opts to = {.ports = &ports};
    struct tcp_callbacks cb = {z_open, z_data, z_gap, z_close};
    struct rt_err err = {0};
    struct tcp_table *t = tcp_table_new(&to, &cb, z, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    pcap_t *pc = pcap_open_offline(path, errbuf);
    ck_assert_msg(pc != NULL, "%s: %s", path, errbuf);
    int dlt = pcap_datalink(pc);
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t last = 0;
    while (pcap_next_ex(pc, &h, &data) == 1) {
        uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec * 1000u;
        struct record_packet pkt;
        int rc = record_packet_decode(dlt, data, h->caplen, h->len, ts, &pkt);
        if (rc >= 0)
            tcp_table_input(t, &pkt);
        last = ts;
    }
    pcap_close(pc);
    tcp_table_flush(t, last + 1);
    tcp_table_free(t);
    if (getenv("RT_SESSION_DEBUG")) {
        static char d[1 << 16];
        describe(&z->sink, d, sizeof d);
        printf("%s: %s\n", name, d);
    }
}

/* The (name, paired) list of the requests of connection `conn`. */
static size_t z_requests(const struct tsink *s, uint64_t conn, char names[][32], int *paired,
                         size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n && n < cap; i++) {
        const struct tev *t = &s->ev[i];
        if (t->type != TRACE_EV_REQUEST || t->conn != conn)
            continue;
        /* Zeek names a malformed inline command by its first word, as it splits it */
        int w = t->flags & TRACE_REQ_MALFORMED ? (int)strcspn(t->argv[0], " \r\n") : 31;
        snprintf(names[n], 32, "%.*s", w, t->argv[0]);
        for (char *p = names[n]; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 32);
        paired[n] = 0;
        for (size_t j = 0; j < s->n; j++)
            if (s->ev[j].type == TRACE_EV_REPLY && s->ev[j].req_seq == t->seq)
                paired[n] = 1;
        n++;
    }
    return n;
}

/* Compares our requests with Zeek's redis.log: per connection (by client port), in order, the
 * command name and whether a reply was paired. Zeek does not pair subscribe confirmations;
 * we pair the first (see record.h), so for the subscribe family we expect a pairing where
 * Zeek shows '-'. */
static void z_compare(const struct zctx *z, const char *dir, const char *base)
{
    char path[4096], line[4096];
    snprintf(path, sizeof path, "%s/baseline/%s/redis.log", dir, base);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    static char names[16][256][32];
    static int paired[16][256];
    size_t nreq[16], idx[16] = {0};
    for (size_t k = 0; k < z->n; k++)
        nreq[k] = z_requests(&z->sink, z->conns[k].id, names[k], paired[k], 256);
    size_t rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char *col[12] = {0};
        size_t nc = 0;
        for (char *p = strtok(line, "\t\n"); p && nc < 12; p = strtok(NULL, "\t\n"))
            col[nc++] = p;
        ck_assert_uint_ge(nc, 10);
        size_t u;
        for (u = 0; u < z->n && z->conns[u].client_port != atoi(col[3]); u++)
            ;
        ck_assert_msg(u < z->n, "%s: no connection from port %s", base, col[3]);
        size_t i = idx[u]++;
        ck_assert_msg(i < nreq[u], "%s: port %s: Zeek has more commands (%s)", base, col[3],
                      col[6]);
        ck_assert_msg(strcmp(names[u][i], col[6]) == 0, "%s: port %s cmd %zu: %s, Zeek %s", base,
                      col[3], i, names[u][i], col[6]);
        int zeek_paired = strcmp(col[9], "-") != 0;
        if (strstr(col[6], "SUBSCRIBE"))
            zeek_paired = 1;
        ck_assert_msg(paired[u][i] == zeek_paired, "%s: port %s cmd %zu %s: paired %d, Zeek %s",
                      base, col[3], i, col[6], paired[u][i], col[9]);
        rows++;
    }
    fclose(f);
    ck_assert_uint_gt(rows, 0);
    for (size_t u = 0; u < z->n; u++)
        ck_assert_msg(idx[u] == nreq[u], "%s: port %u: %zu commands, Zeek %zu", base,
                      z->conns[u].client_port, nreq[u], idx[u]);
}

START_TEST(test_session_zeek_redis_log)
{
    const char *dir = fixtures();
    if (!dir)
        return;
    static const char *const caps[][2] = {
        {"pipelining-example.pcap", "pipelining-example"},
        {"pipeline-with-commands.pcap", "pipeline-with-commands"},
        {"reply-off-on.pcap", "reply-off-on"},
        {"reply-off-on-2conn.pcap", "reply-off-on-2conn"},
        {"client-skip-while-off.pcap", "client-skip-while-off"},
        {"pubsub.pcap", "pubsub"},
        {"almost-resp.pcap", "almost-resp"},
        /* two malformed inline commands: the first answered by the server's protocol error,
         * the second sent after it and never answered (the server closed) */
        {"pipeline-quotes.pcap", "pipeline-quotes"},
    };
    for (size_t i = 0; i < N(caps); i++) {
        struct zctx *z = calloc(1, sizeof *z);
        z_run(z, dir, caps[i][0]);
        z_compare(z, dir, caps[i][1]);
        sink_free(&z->sink);
        free(z);
    }
}
END_TEST

START_TEST(test_session_zeek_set_auth)
{
    const char *dir = fixtures();
    if (!dir)
        return;
    struct zctx *z = calloc(1, sizeof *z);
    z_run(z, dir, "set.pcap");
    char names[8][32];
    int paired[8];
    ck_assert_uint_eq(z_requests(&z->sink, z->conns[0].id, names, paired, 8), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(names[i], "SET");
        ck_assert_int_eq(paired[i], 1);
    }
    ck_assert_str_eq(nth(&z->sink, TRACE_EV_REQUEST, 1)->argv[1], "one:1");
    sink_free(&z->sink);

    /* auth.pcap: three AUTHs with user and password, all answered, no password anywhere */
    memset(z, 0, sizeof *z);
    z->sink.secret[0] = "notapassword";
    z->sink.secret[1] = "defaultpassword";
    z_run(z, dir, "auth.pcap");
    size_t nauth = 0, nreply = 0;
    for (size_t i = 0; i < z->sink.n; i++) {
        const struct tev *t = &z->sink.ev[i];
        if (t->type == TRACE_EV_REQUEST && strcmp(t->argv[0], "AUTH") == 0) {
            nauth++;
            ck_assert_uint_eq(t->argc, 3);
            ck_assert_str_eq(t->argv[2], "<redacted>");
            ck_assert_uint_eq(t->flags & TRACE_REQ_REDACTED, TRACE_REQ_REDACTED);
            for (size_t k = 0; k < t->argc; k++)
                ck_assert_msg(!strstr(t->argv[k], "password"), "password in %s", t->argv[k]);
        }
        if (t->type == TRACE_EV_REPLY && t->req_seq != TRACE_SEQ_NONE)
            nreply++;
    }
    ck_assert_uint_eq(nauth, 3);
    ck_assert_uint_ge(nreply, 3);
    sink_free(&z->sink);

    /* start-with-server: a stray reply first (unpaired), then SET hello there */
    memset(z, 0, sizeof *z);
    z_run(z, dir, "start-with-server.pcapng");
    const struct tev *r = nth(&z->sink, TRACE_EV_REPLY, 0);
    ck_assert_uint_eq(r->req_seq, TRACE_SEQ_NONE);
    const struct tev *q = nth(&z->sink, TRACE_EV_REQUEST, 0);
    ck_assert_str_eq(q->argv[0], "SET");
    ck_assert_str_eq(q->argv[2], "there");
    sink_free(&z->sink);
    free(z);
}
END_TEST

Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_session_pipelining);
    tcase_add_test(tc, test_session_timestamps);
    tcase_add_test(tc, test_session_reply_off_on);
    tcase_add_test(tc, test_session_client_skip_while_off);
    tcase_add_test(tc, test_session_subscribe_resp2);
    tcase_add_test(tc, test_session_resp3_push);
    tcase_add_test(tc, test_session_monitor);
    tcase_add_test(tc, test_session_multi_exec);
    tcase_add_test(tc, test_session_select_db);
    tcase_add_test(tc, test_session_redaction);
    tcase_add_test(tc, test_session_redaction_config_acl);
    tcase_add_test(tc, test_session_redact_values);
    tcase_add_test(tc, test_session_midstream);
    tcase_add_test(tc, test_session_gap);
    tcase_add_test(tc, test_session_not_resp);
    tcase_add_test(tc, test_session_tls);
    tcase_add_test(tc, test_session_hash_payload);
    tcase_add_test(tc, test_session_max_buffer);
    tcase_add_test(tc, test_session_argv_growth);
    tcase_add_test(tc, test_session_reply_redaction);
    tcase_add_test(tc, test_session_reply_redaction_unpaired);
    tcase_add_test(tc, test_session_redaction_sentinel_dryrun);
    tcase_add_test(tc, test_session_malformed);
    tcase_add_test(tc, test_session_malformed_secret_and_long);
    tcase_add_test(tc, test_session_shared_scratch);
    tcase_add_test(tc, test_session_zeek_redis_log);
    tcase_add_test(tc, test_session_zeek_set_auth);
    suite_add_tcase(s, tc);
    return s;
}
