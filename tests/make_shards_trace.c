/* make_shards_trace.c: writes a synthetic trace with seeded Zipf key popularity, known value
 * sizes and a known rate over time, and the answer `resptrace shards` must give for it
 * (tests/cli/test_shards.sh), computed here independently of the tool: its own CRC16 hash
 * slots, its own value-size bookkeeping.
 *
 * usage: make_shards_trace OUT.rtrace EXPECTED.json REQUESTS KEYS S SEED HOTSHARE COUNTS
 *   e.g. make_shards_trace t.rtrace e.json 60000 3000 1.0 7 0 3,6,12
 * HOTSHARE: the share (0..1) of requests that GET the single key "hot:{only}".
 *
 * Workload over 10 seconds (request counts per second in the ratio 1:2:...:10, in a seeded
 * shuffled order of the seconds): 55% GET, 25% SET (value size fixed per key),
 * 4% MGET of two keys of one hashtag "{tN}:a" / "{tN}:b" (one slot), 2% MGET of two
 * unrelated keys (cross-slot: routed to the first key), 3% DEL, 6% PING (keyless), 5% FROBNICATE
 * (unknown: skipped). Half of the keys exist before the trace (a GET answers a bulk string of
 * a known size); the others answer null until set. Every request is answered at once.
 *
 * EXPECTED.json: {requests, keyed_requests, keyless_requests, skipped_requests,
 * cross_slot_requests, distinct_keys, seconds, hot_ops, projections: [{shard_count, shards:
 * [{shard, slots, ops, keys, bytes, peak_ops_s, memory}], imbalance, over: [keys over the fair
 * share]}], slots: [{slot, ops, bytes, keys, memory, persec: [10 counts]} for every slot with
 * keys], keys: [{key, slot}] for 20 keys (cross-checked with a server's CLUSTER KEYSLOT)}. */
#include "format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSEC 10
#define OVERHEAD 56

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

/* CRC16/XMODEM (poly 0x1021, init 0), bit by bit, and the hashtag rule of CLUSTER KEYSLOT */
static unsigned crc16(const char *p, size_t n)
{
    unsigned crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned)(unsigned char)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}
static unsigned slot_of(const char *k)
{
    size_t n = strlen(k);
    const char *o = strchr(k, '{');
    if (o) {
        const char *c = strchr(o + 1, '}');
        if (c && c > o + 1)
            return crc16(o + 1, (size_t)(c - o - 1)) & 16383;
    }
    return crc16(k, n) & 16383;
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

struct key {
    char name[40];
    unsigned slot;
    int used;
    long cur;   /* the server's value size, -1 when the key does not exist */
    int vsrc;   /* the tool's rule: 0 unknown, 1 from a read, 2 from a write */
    long vsize; /* the tool's estimate */
    int setlen; /* the size SET writes */
    unsigned long long ops;
};

struct slotst {
    unsigned long long ops, bytes, keys, memory, persec[NSEC];
};

static struct key *keys;
static int nkeys_all;
static struct slotst slots[16384];

static struct trace_writer *w;
static struct rt_err err;

static void add(struct trace_event *ev)
{
    if (trace_writer_add(w, ev, &err) != 0) {
        fprintf(stderr, "make_shards_trace: %s\n", err.msg);
        exit(1);
    }
}

static int cmp_ops(const void *a, const void *b)
{
    const struct key *x = *(struct key *const *)a, *y = *(struct key *const *)b;
    if (x->ops != y->ops)
        return x->ops > y->ops ? -1 : 1;
    return strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: make_shards_trace OUT.rtrace EXPECTED.json REQUESTS KEYS S SEED "
                        "HOTSHARE COUNTS\n");
        return 2;
    }
    long nreq = atol(argv[3]);
    int nk = atoi(argv[4]);
    double s = atof(argv[5]);
    rs = strtoull(argv[6], NULL, 10);
    double hot = atof(argv[7]);
    int counts[32], ncounts = 0;
    for (char *t = strtok(argv[8], ","); t && ncounts < 32; t = strtok(NULL, ","))
        counts[ncounts++] = atoi(t);

    /* keys: nk plain ones ("u:N", "{tN}:a"/"{tN}:b" pairs) plus the hot key */
    nkeys_all = nk + 1;
    keys = calloc((size_t)nkeys_all, sizeof *keys);
    for (int i = 0; i < nk; i++) {
        if (i % 10 < 8)
            snprintf(keys[i].name, sizeof keys[i].name, "u:%d", i);
        else
            snprintf(keys[i].name, sizeof keys[i].name, "{t%d}:%c", i / 10,
                     i % 10 == 8 ? 'a' : 'b');
        keys[i].setlen = 8 + (int)(rnd() % 300);
        keys[i].cur = rnd() % 2 ? (long)(4 + rnd() % 500) : -1;
    }
    snprintf(keys[nk].name, sizeof keys[nk].name, "hot:{only}");
    keys[nk].setlen = 16;
    keys[nk].cur = 100;
    for (int i = 0; i < nkeys_all; i++)
        keys[i].slot = slot_of(keys[i].name);

    int *perm = malloc((size_t)nk * sizeof *perm);
    double *cdf = malloc((size_t)nk * sizeof *cdf);
    for (int i = 0; i < nk; i++)
        perm[i] = i;
    for (int i = nk - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    double sum = 0;
    for (int r = 0; r < nk; r++)
        cdf[r] = (sum += 1.0 / pow(r + 1, s));
    for (int r = 0; r < nk; r++)
        cdf[r] /= sum;

    /* requests per second: weights 1..10, shuffled */
    int wsec[NSEC];
    long persec[NSEC], tot_w = 0;
    for (int i = 0; i < NSEC; i++)
        wsec[i] = i + 1;
    for (int i = NSEC - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1)), t = wsec[i];
        wsec[i] = wsec[j];
        wsec[j] = t;
    }
    for (int i = 0; i < NSEC; i++)
        tot_w += wsec[i];
    long assigned = 0;
    for (int i = 0; i < NSEC; i++) {
        persec[i] = nreq * wsec[i] / tot_w;
        assigned += persec[i];
    }
    persec[NSEC - 1] += nreq - assigned;

    w = trace_writer_open(argv[1], NULL, 0, NULL, &err);
    if (!w) {
        fprintf(stderr, "make_shards_trace: %s\n", err.msg);
        return 1;
    }
    const uint64_t t0 = 1764171752000000000ull;
    struct trace_event ev = {.type = TRACE_EV_CONN_OPEN, .ts = t0, .conn = 1};
    ev.u.open.client.family = ev.u.open.server.family = 4;
    ev.u.open.client.addr[0] = ev.u.open.server.addr[0] = 127;
    ev.u.open.client.addr[3] = ev.u.open.server.addr[3] = 1;
    ev.u.open.client.port = 40001;
    ev.u.open.server.port = 6379;
    add(&ev);

    static char value[400];
    memset(value, 'v', sizeof value);
    long keyless = 0, skipped = 0, keyed = 0, cross = 0;
    for (int sec = 0; sec < NSEC; sec++) {
        for (long i = 0; i < persec[sec]; i++) {
            uint64_t ts = t0 + (uint64_t)sec * 1000000000u +
                          (uint64_t)(i * (999000000 / (persec[sec] ? persec[sec] : 1)));
            int id[2];
            for (int k = 0; k < 2; k++) {
                double u = unif();
                size_t lo = 0, hi = (size_t)nk - 1;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (cdf[mid] < u)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                id[k] = perm[lo];
            }
            double u = unif();
            const char *av[4];
            size_t lens[4];
            int ac = 0, nkeys = 0, kind;
            unsigned long long rlen = 0;
            uint8_t rtype = TRACE_R_SIMPLE;
            uint64_t rsize = 0;
            enum { GET, SET, MGET, XMGET, DEL, PING, FROB };
            if (unif() < hot) {
                kind = GET;
                id[0] = nk;
            } else {
                kind = u < 0.55   ? GET
                       : u < 0.80 ? SET
                       : u < 0.84 ? MGET
                       : u < 0.86 ? XMGET
                       : u < 0.89 ? DEL
                       : u < 0.95 ? PING
                                  : FROB;
            }
            if (kind == MGET) { /* the pair of a hashtag: ids 10j+8, 10j+9 */
                int j = (id[0] / 10) * 10;
                if (j + 9 >= nk)
                    j = 0;
                id[0] = j + 8;
                id[1] = j + 9;
            }
            if (kind == XMGET && keys[id[0]].slot == keys[id[1]].slot)
                kind = GET;
            struct key *k0 = &keys[id[0]], *k1 = &keys[id[1]];
            switch (kind) {
            case GET:
                av[0] = "GET";
                av[1] = k0->name;
                ac = 2;
                nkeys = 1;
                if (k0->cur >= 0) {
                    rtype = TRACE_R_BULK;
                    rsize = (uint64_t)k0->cur;
                    rlen = bulk_len((unsigned long long)k0->cur);
                    if (k0->vsrc != 2) {
                        k0->vsrc = 1;
                        k0->vsize = k0->cur;
                    }
                } else {
                    rtype = TRACE_R_NULL;
                    rlen = 5;
                }
                break;
            case SET:
                av[0] = "SET";
                av[1] = k0->name;
                av[2] = value;
                lens[2] = (size_t)k0->setlen;
                ac = 3;
                nkeys = 1;
                rlen = 5;
                k0->cur = k0->setlen;
                k0->vsrc = 2;
                k0->vsize = k0->setlen;
                break;
            case MGET:
            case XMGET:
                av[0] = "MGET";
                av[1] = k0->name;
                av[2] = k1->name;
                ac = 3;
                nkeys = 2;
                rtype = TRACE_R_ARRAY;
                rlen = 4 + (k0->cur >= 0 ? bulk_len((unsigned long long)k0->cur) : 5) +
                       (k1->cur >= 0 ? bulk_len((unsigned long long)k1->cur) : 5);
                cross += kind == XMGET;
                break;
            case DEL:
                av[0] = "DEL";
                av[1] = k0->name;
                ac = 2;
                nkeys = 1;
                rtype = TRACE_R_INTEGER;
                rlen = 4;
                k0->cur = -1;
                k0->vsrc = 2;
                k0->vsize = 0;
                break;
            case PING:
                av[0] = "PING";
                ac = 1;
                rlen = 7;
                break;
            default:
                av[0] = "FROBNICATE";
                av[1] = k0->name;
                ac = 2;
                rtype = TRACE_R_ERROR;
                rlen = 40;
                break;
            }
            for (int a = 0; a < ac; a++)
                if (!(kind == SET && a == 2))
                    lens[a] = strlen(av[a]);
            unsigned long long reqb = 1 + digits((unsigned long long)ac) + 2;
            for (int a = 0; a < ac; a++)
                reqb += bulk_len(lens[a]);
            ev = (struct trace_event){.type = TRACE_EV_REQUEST, .ts = ts, .conn = 1};
            ev.u.req = (struct trace_request){
                .proto = 2, .argc = (uint32_t)ac, .argv = av, .argvlen = lens};
            add(&ev);
            uint64_t seq = ev.u.req.seq;
            struct trace_event rv = {.type = TRACE_EV_REPLY, .ts = ts + 1000, .conn = 1};
            rv.u.reply =
                (struct trace_reply){.req_seq = seq, .rtype = rtype, .len = rlen, .size = rsize};
            if (rtype == TRACE_R_ARRAY)
                rv.u.reply.count = 2;
            if (rtype == TRACE_R_ERROR) {
                rv.u.reply.err = "ERR unknown command 'FROBNICATE'";
                rv.u.reply.errlen = strlen(rv.u.reply.err);
                rv.u.reply.size = rv.u.reply.errlen;
            }
            if (rtype == TRACE_R_INTEGER)
                rv.u.reply.ival = 1;
            add(&rv);
            if (!nkeys) {
                if (kind == PING)
                    keyless++;
                else
                    skipped++;
                continue;
            }
            keyed++;
            struct slotst *st = &slots[k0->slot];
            st->ops++;
            st->bytes += reqb + rlen;
            st->persec[sec]++;
            for (int k = 0; k < nkeys; k++) {
                keys[id[k]].used = 1;
                keys[id[k]].ops++;
            }
        }
    }
    if (trace_writer_close(w, &err) != 0) {
        fprintf(stderr, "make_shards_trace: %s\n", err.msg);
        return 1;
    }
    int distinct = 0;
    for (int i = 0; i < nkeys_all; i++) {
        if (!keys[i].used)
            continue;
        distinct++;
        slots[keys[i].slot].keys++;
        slots[keys[i].slot].memory +=
            strlen(keys[i].name) + (unsigned long long)keys[i].vsize + OVERHEAD;
    }

    FILE *f = fopen(argv[2], "w");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fprintf(f,
            "{\"requests\":%ld,\"keyed_requests\":%ld,\"keyless_requests\":%ld,"
            "\"skipped_requests\":%ld,\"cross_slot_requests\":%ld,\"distinct_keys\":%d,"
            "\"seconds\":%d,\"hot_ops\":%llu,\"projections\":[",
            nreq, keyed, keyless, skipped, cross, distinct, NSEC, keys[nk].ops);
    struct key **byops = malloc((size_t)nkeys_all * sizeof *byops);
    for (int i = 0; i < nkeys_all; i++)
        byops[i] = &keys[i];
    qsort(byops, (size_t)nkeys_all, sizeof *byops, cmp_ops);
    for (int c = 0; c < ncounts; c++) {
        int n = counts[c];
        /* redis-cli --cluster create: slots_per_node in single precision, lround of the end */
        float per = 16384 / (float)n, cursor = 0.0f;
        long first = 0;
        unsigned long long total = 0, maxops = 0;
        fprintf(f, "%s{\"shard_count\":%d,\"shards\":[", c ? "," : "", n);
        for (int i = 0; i < n; i++) {
            long last = lround(cursor + per - 1);
            if (last > 16384 || i == n - 1)
                last = 16383;
            if (last < first)
                last = first;
            struct slotst agg = {0};
            for (long sl = first; sl <= last; sl++) {
                agg.ops += slots[sl].ops;
                agg.bytes += slots[sl].bytes;
                agg.keys += slots[sl].keys;
                agg.memory += slots[sl].memory;
                for (int t = 0; t < NSEC; t++)
                    agg.persec[t] += slots[sl].persec[t];
            }
            unsigned long long peak = 0;
            for (int t = 0; t < NSEC; t++)
                if (agg.persec[t] > peak)
                    peak = agg.persec[t];
            fprintf(f,
                    "%s{\"shard\":%d,\"slots\":[[%ld,%ld]],\"ops\":%llu,\"keys\":%llu,"
                    "\"bytes\":%llu,\"peak_ops_s\":%llu,\"memory\":%llu}",
                    i ? "," : "", i, first, last, agg.ops, agg.keys, agg.bytes, peak, agg.memory);
            total += agg.ops;
            if (agg.ops > maxops)
                maxops = agg.ops;
            first = last + 1;
            cursor += per;
        }
        fprintf(f, "],\"imbalance\":%.6f,\"over\":[", (double)maxops * n / (double)total);
        for (int i = 0, m = 0; i < nkeys_all; i++)
            if ((double)byops[i]->ops > (double)total / n)
                fprintf(f, "%s\"%s\"", m++ ? "," : "", byops[i]->name);
        fprintf(f, "]}");
    }
    fprintf(f, "],\"slots\":[");
    for (int sl = 0, m = 0; sl < 16384; sl++) {
        if (!slots[sl].ops && !slots[sl].keys)
            continue;
        fprintf(f,
                "%s{\"slot\":%d,\"ops\":%llu,\"bytes\":%llu,\"keys\":%llu,\"memory\":%llu,"
                "\"persec\":[",
                m++ ? "," : "", sl, slots[sl].ops, slots[sl].bytes, slots[sl].keys,
                slots[sl].memory);
        for (int t = 0; t < NSEC; t++)
            fprintf(f, "%s%llu", t ? "," : "", slots[sl].persec[t]);
        fprintf(f, "]}");
    }
    fprintf(f, "],\"keys\":[");
    for (int i = 0; i < 20 && i < nkeys_all; i++)
        fprintf(f, "%s{\"key\":\"%s\",\"slot\":%u}", i ? "," : "", byops[i]->name, byops[i]->slot);
    fprintf(f, "]}\n");
    if (fclose(f) != 0) {
        perror(argv[2]);
        return 1;
    }
    free(byops);
    free(perm);
    free(cdf);
    free(keys);
    return 0;
}
