/* make_zipf_trace.c: writes a synthetic trace whose key popularity follows a seeded Zipf law,
 * and the exact answer `resptrace hotkeys` must give for it (tests/cli/test_hotkeys.sh).
 *
 * usage: make_zipf_trace OUT.rtrace EXPECTED.json [REQUESTS [KEYS [S [SEED [TOP]]]]]
 * (defaults 200000 requests over 10000 keys, s = 1.1, seed 42, top 20)
 *
 * Workload: 75% GET, 17% SET (value sizes fixed per key), 4% MGET of two keys, 2% PING (no
 * key), 2% FROBNICATE key (unknown to the command table: skipped). Requests go on 4
 * connections; each reply is written 0-5 requests after its request (pipelined), and the
 * last 8 requests get none. Keys: "user:N", "sess:N:data", "obj:{N}:name", "cart:{uN}" and
 * "plainN" (no ':'), popularity rank shuffled over the names.
 *
 * EXPECTED.json holds, computed here independently of the tool with the rules its usage
 * states (ops per key position; bytes = RESP request size + reply wire length, split evenly
 * among a request's keys, remainder to the first ones; ranking by the measure, then the
 * other, then the key bytes):
 *   keys_by_ops, keys_by_bytes: the top TOP keys {key, ops, bytes, reads, writes}
 *   prefixes_by_ops, prefixes_by_bytes (depth 1), prefixes2_by_ops (depth 2): top TOP
 *   slots_by_ops, slots_by_bytes: the top TOP slots {slot, ops, bytes}
 *   all_ops: {key: ops} for every key used; and the request counts. */
#include "format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stat_ent {
    char name[48];
    unsigned long long ops, bytes, reads, writes;
};

static uint64_t rs;
static uint64_t rnd(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unif(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static struct trace_writer *w;
static struct rt_err err;
static uint64_t now = 1764171752000000000ull;

static void add(struct trace_event *ev)
{
    if (trace_writer_add(w, ev, &err) != 0) {
        fprintf(stderr, "make_zipf_trace: %s\n", err.msg);
        exit(1);
    }
    now += 1000;
}

static unsigned long long digits(unsigned long long v)
{
    unsigned long long n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}
static unsigned long long bulk_len(unsigned long long n)
{
    return 1 + digits(n) + 2 + n + 2;
}

/* the stats tables: keys by id, prefixes and slots looked up linearly / by index */
static struct stat_ent *keys, *pfx1, *pfx2;
static size_t npfx1, npfx2, pfxcap;
static struct stat_ent slots[16384];
static int *was_set, *vlen;

static struct stat_ent *prefix_ent(struct stat_ent *tab, size_t *n, const char *key, int depth)
{
    char p[48];
    size_t end = 0;
    int d = 0;
    for (size_t i = 0; key[i] && d < depth; i++)
        if (key[i] == ':') {
            end = i + 1;
            d++;
        }
    memcpy(p, key, end);
    p[end] = 0;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(tab[i].name, p))
            return &tab[i];
    if (*n == pfxcap) {
        fprintf(stderr, "make_zipf_trace: too many prefixes\n");
        exit(1);
    }
    snprintf(tab[*n].name, sizeof tab[*n].name, "%s", p);
    return &tab[(*n)++];
}

static struct stat_ent **kp1, **kp2; /* each key's prefix entries, found once */

static void account(int id, unsigned long long ops, unsigned long long bytes, int rd, int wr)
{
    if (!kp1[id]) {
        kp1[id] = prefix_ent(pfx1, &npfx1, keys[id].name, 1);
        kp2[id] = prefix_ent(pfx2, &npfx2, keys[id].name, 2);
    }
    struct stat_ent *t[4] = {&keys[id], kp1[id], kp2[id],
                             &slots[rt_key_slot(keys[id].name, strlen(keys[id].name))]};
    for (int i = 0; i < 4; i++) {
        t[i]->ops += ops;
        t[i]->bytes += bytes;
        t[i]->reads += (unsigned long long)(rd && ops);
        t[i]->writes += (unsigned long long)(wr && ops);
    }
}

static int sort_by_bytes;
static int cmp_stat(const void *pa, const void *pb)
{
    const struct stat_ent *a = pa, *b = pb;
    unsigned long long a1 = sort_by_bytes ? a->bytes : a->ops, b1 = sort_by_bytes ? b->bytes : b->ops;
    unsigned long long a2 = sort_by_bytes ? a->ops : a->bytes, b2 = sort_by_bytes ? b->ops : b->bytes;
    if (a1 != b1)
        return a1 > b1 ? -1 : 1;
    if (a2 != b2)
        return a2 > b2 ? -1 : 1;
    return strcmp(a->name, b->name); /* ASCII, no NUL: memcmp order, shorter first */
}

static void dump(FILE *f, const char *label, const char *field, struct stat_ent *tab, size_t n,
                 int by_bytes, size_t top, int with_rw)
{
    struct stat_ent *c = malloc((n ? n : 1) * sizeof *c);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (tab[i].ops)
            c[m++] = tab[i];
    sort_by_bytes = by_bytes;
    qsort(c, m, sizeof *c, cmp_stat);
    fprintf(f, "\"%s\":[", label);
    for (size_t i = 0; i < m && i < top; i++) {
        fprintf(f, "%s{\"%s\":", i ? "," : "", field);
        if (!strcmp(field, "slot"))
            fprintf(f, "%s", c[i].name);
        else
            fprintf(f, "\"%s\"", c[i].name);
        fprintf(f, ",\"ops\":%llu,\"bytes\":%llu", c[i].ops, c[i].bytes);
        if (with_rw)
            fprintf(f, ",\"reads\":%llu,\"writes\":%llu", c[i].reads, c[i].writes);
        fputc('}', f);
    }
    fprintf(f, "]");
    free(c);
}

struct pending {
    uint64_t conn, seq;
    unsigned long long len;
    uint8_t rtype;
    int nk, ids[2];
};

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: make_zipf_trace OUT.rtrace EXPECTED.json [REQUESTS [KEYS [S [SEED "
                        "[TOP]]]]]\n");
        return 2;
    }
    long nreq = argc > 3 ? atol(argv[3]) : 200000;
    int nkeys = argc > 4 ? atoi(argv[4]) : 10000;
    double s = argc > 5 ? atof(argv[5]) : 1.1;
    rs = argc > 6 ? strtoull(argv[6], NULL, 10) : 42;
    size_t top = argc > 7 ? (size_t)atol(argv[7]) : 20;
    if (nreq < 1 || nkeys < 2) {
        fprintf(stderr, "make_zipf_trace: bad sizes\n");
        return 2;
    }

    keys = calloc((size_t)nkeys, sizeof *keys);
    was_set = calloc((size_t)nkeys, sizeof *was_set);
    vlen = calloc((size_t)nkeys, sizeof *vlen);
    pfxcap = (size_t)nkeys + 16;
    pfx1 = calloc(pfxcap, sizeof *pfx1);
    pfx2 = calloc(pfxcap, sizeof *pfx2);
    kp1 = calloc((size_t)nkeys, sizeof *kp1);
    kp2 = calloc((size_t)nkeys, sizeof *kp2);
    double *cdf = malloc((size_t)nkeys * sizeof *cdf);
    int *perm = malloc((size_t)nkeys * sizeof *perm);
    for (int i = 0; i < nkeys; i++) {
        const char *fmt[] = {"user:%d", "sess:%d:data", "obj:{%d}:name", "cart:{u%d}", "plain%d"};
        snprintf(keys[i].name, sizeof keys[i].name, fmt[i % 5], i);
        vlen[i] = 8 + (i % 13) * 24;
        perm[i] = i;
    }
    for (int i = 0; i < 16384; i++)
        snprintf(slots[i].name, sizeof slots[i].name, "%d", i);
    for (int i = nkeys - 1; i > 0; i--) { /* rank -> key id */
        int j = (int)(rnd() % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    double sum = 0;
    for (int r = 0; r < nkeys; r++)
        cdf[r] = (sum += 1.0 / pow(r + 1, s));
    for (int r = 0; r < nkeys; r++)
        cdf[r] /= sum;

    w = trace_writer_open(argv[1], NULL, 0, NULL, &err);
    if (!w) {
        fprintf(stderr, "make_zipf_trace: %s\n", err.msg);
        return 1;
    }
    for (uint64_t c = 1; c <= 4; c++) {
        struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = now, .conn = c};
        ev.u.open.client.family = ev.u.open.server.family = 4;
        ev.u.open.client.addr[0] = ev.u.open.server.addr[0] = 127;
        ev.u.open.client.addr[3] = ev.u.open.server.addr[3] = 1;
        ev.u.open.client.port = (uint16_t)(40000 + c);
        ev.u.open.server.port = 6379;
        add(&ev);
    }

    static char value[8 + 12 * 24 + 1];
    memset(value, 'v', sizeof value - 1);
    struct pending q[16];
    size_t qn = 0;
    long keyless = 0, skipped = 0, keyed = 0;
    for (long i = 0; i < nreq; i++) {
        int ids[2], nk = 0;
        for (int k = 0; k < 2; k++) {
            double u = unif();
            size_t lo = 0, hi = (size_t)nkeys - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cdf[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            ids[k] = perm[lo];
        }
        double u = unif();
        const char *argv_[4];
        size_t lens[4];
        int argc_ = 0, rd = 0, wr = 0;
        unsigned long long rlen;
        uint8_t rtype;
        if (u < 0.75) {
            argv_[0] = "GET";
            argv_[1] = keys[ids[0]].name;
            argc_ = 2;
            nk = 1;
            rd = 1;
            rlen = was_set[ids[0]] ? bulk_len((unsigned long long)vlen[ids[0]]) : 5;
            rtype = was_set[ids[0]] ? TRACE_R_BULK : TRACE_R_NULL;
        } else if (u < 0.92) {
            argv_[0] = "SET";
            argv_[1] = keys[ids[0]].name;
            argv_[2] = value;
            lens[2] = (size_t)vlen[ids[0]];
            argc_ = 3;
            nk = 1;
            wr = 1;
            rlen = 5; /* +OK */
            rtype = TRACE_R_SIMPLE;
        } else if (u < 0.96) {
            argv_[0] = "MGET";
            argv_[1] = keys[ids[0]].name;
            argv_[2] = keys[ids[1]].name;
            argc_ = 3;
            nk = 2;
            rd = 1;
            rlen = 4; /* *2\r\n */
            for (int k = 0; k < 2; k++)
                rlen += was_set[ids[k]] ? bulk_len((unsigned long long)vlen[ids[k]]) : 5;
            rtype = TRACE_R_ARRAY;
        } else if (u < 0.98) {
            argv_[0] = "PING";
            argc_ = 1;
            rlen = 7; /* +PONG */
            rtype = TRACE_R_SIMPLE;
        } else {
            argv_[0] = "FROBNICATE";
            argv_[1] = keys[ids[0]].name;
            argc_ = 2;
            rlen = 40;
            rtype = TRACE_R_ERROR;
        }
        for (int a = 0; a < argc_; a++)
            if (!(argv_[0][0] == 'S' && a == 2))
                lens[a] = strlen(argv_[a]);
        unsigned long long reqb = 1 + digits((unsigned long long)argc_) + 2;
        for (int a = 0; a < argc_; a++)
            reqb += bulk_len(lens[a]);
        struct trace_event ev = {.type = TRACE_EV_REQUEST, .ts = now, .conn = 1 + rnd() % 4};
        ev.u.req = (struct trace_request){
            .proto = 2, .argc = (uint32_t)argc_, .argv = argv_, .argvlen = lens};
        add(&ev);
        if (nk) {
            keyed++;
            for (int k = 0; k < nk; k++)
                account(ids[k], 1, reqb / (unsigned)nk + ((unsigned)k < reqb % (unsigned)nk), rd,
                        wr);
        } else if (argv_[0][0] == 'P') {
            keyless++;
        } else {
            skipped++;
        }
        if (wr)
            was_set[ids[0]] = 1;
        /* the reply goes in the queue; the queue drains to a random depth of 0-5 */
        q[qn++] = (struct pending){.conn = ev.conn, .seq = ev.u.req.seq, .len = rlen,
                                   .rtype = rtype, .nk = nk, .ids = {ids[0], ids[1]}};
        size_t keep = (size_t)(rnd() % 6);
        if (i >= nreq - 8)
            keep = 16; /* the last requests are never answered */
        while (qn > keep) {
            struct pending p = q[0];
            memmove(q, q + 1, --qn * sizeof *q);
            unsigned long long len = p.len;
            struct trace_event rv = {.type = TRACE_EV_REPLY, .ts = now, .conn = p.conn};
            rv.u.reply = (struct trace_reply){.req_seq = p.seq, .rtype = p.rtype,
                                              .len = len};
            if (rv.u.reply.rtype == TRACE_R_ERROR) {
                rv.u.reply.err = "ERR unknown command 'FROBNICATE'";
                rv.u.reply.errlen = strlen(rv.u.reply.err);
            }
            add(&rv);
            for (int k = 0; k < p.nk; k++)
                account(p.ids[k], 0, len / (unsigned)p.nk + ((unsigned)k < len % (unsigned)p.nk),
                        0, 0);
        }
    }
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_zipf_trace: %s\n", err.msg);
        return 1;
    }

    FILE *f = fopen(argv[2], "w");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fprintf(f, "{\"requests\":%ld,\"keyed_requests\":%ld,\"keyless_requests\":%ld,"
               "\"skipped_requests\":%ld,",
            nreq, keyed, keyless, skipped);
    dump(f, "keys_by_ops", "key", keys, (size_t)nkeys, 0, top, 1);
    fputc(',', f);
    dump(f, "keys_by_bytes", "key", keys, (size_t)nkeys, 1, top, 1);
    fputc(',', f);
    dump(f, "prefixes_by_ops", "prefix", pfx1, npfx1, 0, top, 1);
    fputc(',', f);
    dump(f, "prefixes_by_bytes", "prefix", pfx1, npfx1, 1, top, 1);
    fputc(',', f);
    dump(f, "prefixes2_by_ops", "prefix", pfx2, npfx2, 0, top, 1);
    fputc(',', f);
    dump(f, "slots_by_ops", "slot", slots, 16384, 0, top, 0);
    fputc(',', f);
    dump(f, "slots_by_bytes", "slot", slots, 16384, 1, top, 0);
    fprintf(f, ",\"all_ops\":{");
    int first = 1;
    for (int i = 0; i < nkeys; i++)
        if (keys[i].ops) {
            fprintf(f, "%s\"%s\":%llu", first ? "" : ",", keys[i].name, keys[i].ops);
            first = 0;
        }
    fprintf(f, "}}\n");
    if (fclose(f) != 0) {
        perror(argv[2]);
        return 1;
    }
    free(keys);
    free(was_set);
    free(vlen);
    free(pfx1);
    free(pfx2);
    free(kp1);
    free(kp2);
    free(cdf);
    free(perm);
    return 0;
}
