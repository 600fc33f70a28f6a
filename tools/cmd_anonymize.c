/* cmd_anonymize.c: `resptrace anonymize`: keys replaced by a keyed mapping (HMAC-SHA256) that
 * keeps their ':'-separated shape, lengths and cluster hash slots; values and client
 * addresses replaced; the same secret gives the same mapping in every trace. */
#include "tools.h"
#include "trace_edit.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

void usage_anonymize(FILE *out)
{
    fputs("usage: resptrace anonymize TRACE -o OUT --key-secret FILE [--encoding N]\n"
          "                           [--json[=FILE]] [-q] [--salvage]\n"
          "\n"
          "Writes TRACE to OUT with its keys, values and client addresses replaced, so\n"
          "that it can be shared. The secret is the bytes of FILE (one trailing newline\n"
          "removed; at least 16 bytes): the same secret maps every key, value and address\n"
          "the same way in every trace; without it the mapping cannot be computed or\n"
          "reversed.\n"
          "\n"
          "Keys (found by the command table's key specifications): each run of bytes\n"
          "between the separators ':' '{' '}' is replaced by one of the same length,\n"
          "through a keyed permutation (a 10-round Feistel network with HMAC-SHA256\n"
          "rounds) of the strings of its class: digits stay digits, [A-Za-z0-9_.-] stays\n"
          "in that set (so distinct runs stay distinct and a prefix maps the same way in\n"
          "every key); runs with other bytes are replaced by HMAC-derived letters (not\n"
          "guaranteed distinct: counted). Then the key's Redis Cluster slot is restored:\n"
          "in the hashed part (the hash tag's content, or the whole key when it has no\n"
          "tag) the last 6 digits of a final run of 6 or more digits, else the last 3\n"
          "characters that are not separators (as letters and digits), are chosen by a\n"
          "keyed deterministic search so that CRC16 lands on the original slot. When the\n"
          "last run is shorter than 3 this reaches into the run before (counted: that\n"
          "key's deeper prefixes change). Keys sharing a tag keep sharing it. A hashed\n"
          "part with fewer than 3 such characters keeps its shape but not its slot\n"
          "(counted).\n"
          "Values (the arguments rt_cmd_values reports: SET's value, list/set/zset\n"
          "members, hash values, ...; every argument but the name and keys when the\n"
          "command table does not know the command): replaced by HMAC-derived bytes of\n"
          "the same length, digits for all-digit values (so counters stay numbers),\n"
          "letters and digits otherwise. Malformed requests (the raw bytes a server\n"
          "refused) are replaced whole, byte for byte: digits by digits, other bytes by\n"
          "letters and digits, keeping only line ends, blanks, quotes, '*' and '$'.\n"
          "Reply payloads are dropped and reply hashes replaced by keyed hashes (equal\n"
          "replies stay equal). Client addresses become 10.x.y.z with a mapped port.\n"
          "capture.host and capture.filter are replaced. Hash fields, scores, options\n"
          "and error texts are kept.\n"
          "\n"
          "  -o, --output FILE   the anonymized trace (required; \"-\": stdout), written\n"
          "                      under a temporary name and renamed when complete; it may\n"
          "                      not be TRACE or the secret (nor a link to them)\n"
          "  --key-secret FILE   the secret (required)\n"
          "  --encoding N        chunk encoding of OUT: 3 (format 1.3, the default), 2\n"
          "                      for resptrace 1.2 readers, 1 for 1.0 and 1.1 readers\n"
          "  --json[=FILE]       the summary as one JSON document on stdout (the text then\n"
          "                      goes to stderr), or into FILE\n"
          "  -q, --quiet         no status line on a terminal\n"
          "  --salvage           skip damaged chunks\n"
          "\n"
          "Counted: requests, keys, values and addresses replaced; keys whose slot could\n"
          "not be kept; runs mapped without the permutation; malformed requests\n"
          "replaced; the key cache (mapped keys of up to 1 KiB remembered, up to 4 Mi\n"
          "keys or 256 MiB of copies, then no more added; the output is the same\n"
          "without it). Ctrl-C stops the reading; OUT is closed, complete up to there.\n"
          "Exit status: 0; 1 when TRACE cannot be read or is damaged (what was read is\n"
          "written), the secret cannot be read, or OUT cannot be written; 2 for a bad\n"
          "command line; 130 interrupted.\n",
          out);
}

struct anon {
    uint8_t secret[4096];
    size_t slen;
    char *buf; /* the rewritten arguments of one request */
    size_t cap, used;
    const char **argv;
    size_t *argvlen;
    uint32_t *pos;
    size_t acap;
    uint64_t requests, keys, values, addrs, slot_lost, weak_runs, unknown_cmds, runs_crossed,
        malformed;
    struct keycache *kc;
};

/* ---- the key cache ----
 * Mapping a key costs HMAC rounds per run and up to 16,384 CRC16 trials for its slot, about
 * 130 us; traces repeat their keys, so the images are remembered: key bytes -> image bytes and
 * what mapping it counted (slot not kept, runs crossed, runs not permuted), so the counts stay
 * per occurrence. The mapping is a function of the key and the secret, so the output is the
 * same with or without the cache. Bounded: keys up to KC_MAX_KEY bytes, at most
 * KC_MAX_ENTRIES entries and KC_MAX_ARENA bytes of key and image copies (about 380 MiB at
 * most, with the table); once full, new keys are mapped without being remembered. */
#define KC_MAX_KEY 1024u
#define KC_MAX_ENTRIES (1u << 22)
#define KC_MAX_ARENA ((size_t)256 << 20)

struct kc_entry {
    uint64_t hash; /* 0: empty (a real hash of 0 is stored as 1) */
    uint64_t off;  /* arena offset of key then image */
    uint16_t len;
    uint16_t weak; /* runs not permuted */
    uint8_t lost, crossed;
};

struct keycache {
    struct kc_entry *t;
    size_t cap, n;
    uint8_t *arena;
    size_t alen, acap;
    uint64_t seed, hits, misses;
    int full;
};

static uint64_t kc_hash(const struct keycache *k, const uint8_t *p, size_t n)
{
    uint64_t h = rt_hash_seeded(k->seed, p, n);
    return h ? h : 1;
}

static const struct kc_entry *kc_get(const struct keycache *k, const uint8_t *p, size_t n,
                                     uint64_t h)
{
    if (!k->cap)
        return NULL;
    for (size_t i = h & (k->cap - 1);; i = (i + 1) & (k->cap - 1)) {
        const struct kc_entry *e = &k->t[i];
        if (!e->hash)
            return NULL;
        if (e->hash == h && e->len == n && !memcmp(k->arena + e->off, p, n))
            return e;
    }
}

static void kc_put(struct keycache *k, const uint8_t *p, size_t n, uint64_t h, const uint8_t *img,
                   uint16_t weak, uint8_t lost, uint8_t crossed)
{
    if (k->full || n > KC_MAX_KEY)
        return;
    if (k->n >= KC_MAX_ENTRIES || k->alen + 2 * n > KC_MAX_ARENA) {
        k->full = 1;
        return;
    }
    if ((k->n + 1) * 2 > k->cap) { /* load at most 1/2 */
        size_t cap = k->cap ? k->cap * 2 : 1 << 12;
        struct kc_entry *t = calloc(cap, sizeof *t);
        if (!t) {
            k->full = 1;
            return;
        }
        for (size_t i = 0; i < k->cap; i++)
            if (k->t[i].hash) {
                size_t j = k->t[i].hash & (cap - 1);
                while (t[j].hash)
                    j = (j + 1) & (cap - 1);
                t[j] = k->t[i];
            }
        free(k->t);
        k->t = t;
        k->cap = cap;
    }
    if (k->alen + 2 * n > k->acap) {
        size_t c = k->acap ? k->acap : 1 << 16;
        while (c < k->alen + 2 * n)
            c *= 2;
        uint8_t *a = realloc(k->arena, c);
        if (!a) {
            k->full = 1;
            return;
        }
        k->arena = a;
        k->acap = c;
    }
    size_t i = h & (k->cap - 1);
    while (k->t[i].hash)
        i = (i + 1) & (k->cap - 1);
    memcpy(k->arena + k->alen, p, n);
    memcpy(k->arena + k->alen + n, img, n);
    k->t[i] = (struct kc_entry){h, k->alen, (uint16_t)n, weak, lost, crossed};
    k->alen += 2 * n;
    k->n++;
}

static void kc_free(struct keycache *k)
{
    if (!k)
        return;
    free(k->t);
    free(k->arena);
    free(k);
}

/* ---- keyed primitives ---- */

static void hmac(const struct anon *a, const void *d1, size_t n1, const void *d2, size_t n2,
                 uint8_t out[32])
{
    uint8_t msg_static[512];
    uint8_t *msg = n1 + n2 <= sizeof msg_static ? msg_static : malloc(n1 + n2);
    unsigned olen = 32;
    if (!msg) { /* no memory: a fixed output keeps the program going and stays keyed */
        HMAC(EVP_sha256(), a->secret, (int)a->slen, d1, n1, out, &olen);
        return;
    }
    memcpy(msg, d1, n1);
    if (n2)
        memcpy(msg + n1, d2, n2);
    HMAC(EVP_sha256(), a->secret, (int)a->slen, msg, n1 + n2, out, &olen);
    if (msg != msg_static)
        free(msg);
}

/* A stream of keyed bytes for (domain, data): HMAC(domain || counter || data) blocks. */
static void keystream(const struct anon *a, char domain, const void *d, size_t n, uint8_t *out,
                      size_t len)
{
    for (uint32_t ctr = 0; len; ctr++) {
        uint8_t hd[5] = {(uint8_t)domain, (uint8_t)ctr, (uint8_t)(ctr >> 8), (uint8_t)(ctr >> 16),
                         (uint8_t)(ctr >> 24)};
        uint8_t blk[32];
        hmac(a, hd, sizeof hd, d, n, blk);
        size_t k = len < 32 ? len : 32;
        memcpy(out, blk, k);
        out += k;
        len -= k;
    }
}

static const char DIGITS[] = "0123456789";
static const char WORD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static int sep(uint8_t c)
{
    return c == ':' || c == '{' || c == '}';
}

/* The class of a run: its alphabet, or NULL when it holds other bytes. */
static const char *run_class(const uint8_t *p, size_t n)
{
    int digits = 1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= '0' && p[i] <= '9')
            continue;
        digits = 0;
        if (!memchr(WORD, p[i], sizeof WORD - 1) || p[i] == 0)
            return NULL;
    }
    return digits ? DIGITS : WORD;
}

static int digit_of(const char *alpha, uint8_t c)
{
    return (int)((const char *)memchr(alpha, c, strlen(alpha)) - alpha);
}

/* The keyed permutation of the strings of length n over `alpha`: a balanced Feistel network
 * whose rounds add HMAC-derived digits (mod the radix) to one half. Length 1: a keyed
 * permutation of the alphabet (the alphabet sorted by keyed hashes). */
static void feistel(const struct anon *a, const char *alpha, const uint8_t *in, size_t n,
                    uint8_t *out)
{
    size_t radix = strlen(alpha);
    if (n == 1) {
        uint8_t h[32];
        /* the image of c is the element whose rank in keyed order equals c's rank in alpha */
        int rank = digit_of(alpha, in[0]);
        uint8_t order[128];
        uint8_t keys[128][8];
        for (size_t i = 0; i < radix; i++) {
            uint8_t d[3] = {'P', (uint8_t)radix, (uint8_t)alpha[i]};
            hmac(a, d, sizeof d, NULL, 0, h);
            memcpy(keys[i], h, 8);
            order[i] = (uint8_t)i;
        }
        for (size_t i = 1; i < radix; i++) /* insertion sort by keyed hash */
            for (size_t j = i; j > 0 && memcmp(keys[order[j - 1]], keys[order[j]], 8) > 0; j--) {
                uint8_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        out[0] = (uint8_t)alpha[order[rank]];
        return;
    }
    uint8_t *v = malloc(n), *f = malloc(n + 8);
    if (!v || !f) {
        free(v);
        free(f);
        memset(out, alpha[0], n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (uint8_t)digit_of(alpha, in[i]);
    size_t u = n / 2, w = n - u; /* left u digits, right w digits */
    for (int round = 0; round < 10; round++) {
        /* even rounds: left += F(right); odd rounds: right += F(left) */
        uint8_t *src = round % 2 ? v : v + u, *dst = round % 2 ? v + u : v;
        size_t sn = round % 2 ? u : w, dn = round % 2 ? w : u;
        uint8_t hd[8] = {'F', (uint8_t)round, (uint8_t)radix, (uint8_t)n, (uint8_t)(n >> 8),
                         (uint8_t)(n >> 16), 0, 0};
        uint8_t *msg = malloc(sizeof hd + sn);
        if (!msg)
            break;
        memcpy(msg, hd, sizeof hd);
        memcpy(msg + sizeof hd, src, sn);
        keystream(a, 'R', msg, sizeof hd + sn, f, dn * 2);
        free(msg);
        for (size_t i = 0; i < dn; i++)
            dst[i] = (uint8_t)((dst[i] + ((f[2 * i] << 8 | f[2 * i + 1]) % radix)) % radix);
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)alpha[v[i]];
    free(v);
    free(f);
}

/* Maps one run between separators into out (same length). */
static void map_run(struct anon *a, const uint8_t *in, size_t n, uint8_t *out)
{
    const char *alpha = run_class(in, n);
    if (alpha) {
        feistel(a, alpha, in, n, out);
        return;
    }
    a->weak_runs++;
    keystream(a, 'W', in, n, out, n);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)ALNUM[out[i] % (sizeof ALNUM - 1)];
}

/* Maps the runs of p[0..n) into out, separators kept. */
static void map_runs(struct anon *a, const uint8_t *p, size_t n, uint8_t *out)
{
    size_t i = 0;
    while (i < n) {
        if (sep(p[i])) {
            out[i] = p[i];
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !sep(p[j]))
            j++;
        map_run(a, p + i, j - i, out + i);
        i = j;
    }
}

/* Rewrites the last characters of h[0..n) (the hashed region: the tag content, or the whole
 * key) so that CRC16(h) mod 16384 == slot: the last 6 digits of a final run of 6 or more
 * digits, else the last 3 non-separator characters (crossing into earlier runs when the last
 * run is shorter: counted in *crossed) as letters and digits. The search starts at a keyed
 * place and walks all candidates. @return 0, or -1 when no candidate fits. */
static int fix_slot(struct anon *a, uint8_t *h, size_t n, uint16_t slot, const uint8_t *orig,
                    size_t olen, int *crossed)
{
    *crossed = 0;
    if ((rt_crc16(0, h, n) & 0x3fff) == slot)
        return 0;
    size_t rs = n; /* start of the last run */
    while (rs > 0 && !sep(h[rs - 1]))
        rs--;
    const char *alpha = (n - rs >= 6 && run_class(h + rs, n - rs) == DIGITS) ? DIGITS : ALNUM;
    size_t want = alpha == DIGITS ? 6 : 3, m = 0, pos[8];
    for (size_t i = n; i > 0 && m < want; i--)
        if (!sep(h[i - 1]))
            pos[m++] = i - 1; /* pos[0] is the last character */
    uint64_t space = 1, radix = strlen(alpha);
    for (size_t i = 0; i < m; i++)
        space *= radix;
    if (m == 0 || space < RT_KEY_SLOTS)
        return -1;
    size_t first = pos[m - 1];
    uint16_t pre = rt_crc16(0, h, first);
    uint8_t k[32], t[32];
    hmac(a, "S", 1, orig, olen, k);
    uint64_t start = 0;
    memcpy(&start, k, sizeof start);
    start %= space;
    size_t tl = n - first;
    if (tl > sizeof t)
        return -1;
    memcpy(t, h + first, tl);
    for (uint64_t j = 0; j < space; j++) {
        uint64_t x = (start + j) % space;
        for (size_t i = 0; i < m; i++) {
            t[pos[i] - first] = (uint8_t)alpha[x % radix];
            x /= radix;
        }
        if ((rt_crc16(pre, t, tl) & 0x3fff) == slot) {
            memcpy(h + first, t, tl);
            *crossed = first < rs;
            return 0;
        }
    }
    return -1;
}

static void map_key_uncached(struct anon *a, const uint8_t *p, size_t n, uint8_t *out);

/* Maps a key into out (same length, same slot when it can), through the key cache. */
static void map_key(struct anon *a, const uint8_t *p, size_t n, uint8_t *out)
{
    struct keycache *k = a->kc;
    uint64_t h = k && n <= KC_MAX_KEY ? kc_hash(k, p, n) : 0;
    const struct kc_entry *e = h ? kc_get(k, p, n, h) : NULL;
    if (e) {
        memcpy(out, k->arena + e->off + n, n);
        a->weak_runs += e->weak;
        a->slot_lost += e->lost;
        a->runs_crossed += e->crossed;
        k->hits++;
        return;
    }
    uint64_t weak = a->weak_runs, lost = a->slot_lost, crossed = a->runs_crossed;
    map_key_uncached(a, p, n, out);
    if (h) {
        k->misses++;
        kc_put(k, p, n, h, out, (uint16_t)(a->weak_runs - weak), (uint8_t)(a->slot_lost - lost),
               (uint8_t)(a->runs_crossed - crossed));
    }
}

static void map_key_uncached(struct anon *a, const uint8_t *p, size_t n, uint8_t *out)
{
    map_runs(a, p, n, out);
    uint16_t slot = rt_key_slot(p, n);
    /* the hashed region: the tag content when the key has a non-empty tag */
    size_t s = 0, e = n;
    const uint8_t *ob = memchr(p, '{', n);
    if (ob) {
        const uint8_t *cb = memchr(ob + 1, '}', n - (size_t)(ob + 1 - p));
        if (cb && cb > ob + 1) {
            s = (size_t)(ob + 1 - p);
            e = (size_t)(cb - p);
        }
    }
    int crossed = 0;
    if (fix_slot(a, out + s, e - s, slot, p + s, e - s, &crossed) < 0)
        a->slot_lost++;
    a->runs_crossed += (uint64_t)crossed;
}

/* Maps a value: digits for all-digit values (a leading '-' kept), else letters and digits. */
static void map_value(struct anon *a, const uint8_t *p, size_t n, uint8_t *out)
{
    keystream(a, 'V', p, n, out, n);
    size_t st = n > 1 && p[0] == '-' ? 1 : 0;
    int digits = n > st;
    for (size_t i = st; i < n && digits; i++)
        digits = p[i] >= '0' && p[i] <= '9';
    if (st)
        out[0] = '-';
    for (size_t i = st; i < n; i++) {
        if (digits)
            out[i] = (uint8_t)(i == st && n - st > 1 ? '1' + out[i] % 9 : '0' + out[i] % 10);
        else
            out[i] = (uint8_t)ALNUM[out[i] % (sizeof ALNUM - 1)];
    }
}

/* ---- events ---- */

static void map_addr(struct anon *a, struct trace_addr *ad)
{
    if (ad->family != 4 && ad->family != 6)
        return;
    uint8_t k[32];
    uint8_t in[19] = {ad->family};
    memcpy(in + 1, ad->addr, 16);
    in[17] = (uint8_t)ad->port;
    in[18] = (uint8_t)(ad->port >> 8);
    hmac(a, "A", 1, in, 17, k); /* the host by its address alone */
    uint8_t kp[32];
    hmac(a, "p", 1, in, sizeof in, kp);
    memset(ad->addr, 0, sizeof ad->addr);
    ad->family = 4;
    ad->addr[0] = 10;
    memcpy(ad->addr + 1, k, 3);
    ad->port = (uint16_t)(1024 + ((kp[0] << 8 | kp[1]) % (65536 - 1024)));
    a->addrs++;
}

/* Makes the scratch hold `need` bytes. */
static int grow(struct anon *a, size_t need)
{
    if (need <= a->cap)
        return 0;
    size_t c = a->cap ? a->cap : 1 << 16;
    while (c < need)
        c *= 2;
    char *b = realloc(a->buf, c);
    if (!b)
        return -1;
    a->buf = b;
    a->cap = c;
    return 0;
}

/* A malformed request's raw bytes (what the client sent, keys and values included): each
 * byte replaced by a keyed one of its class, digits by digits and other bytes by letters and
 * digits, except the bytes that give the message its shape (line ends, blanks, quotes, the
 * RESP '*' and '$'), so that a server refuses the copy as it refused the original. */
static void map_raw(struct anon *a, const uint8_t *p, size_t n, uint8_t *out)
{
    keystream(a, 'M', p, n, out, n);
    for (size_t i = 0; i < n; i++) {
        if (strchr("\r\n \t\"'*$", p[i]) && p[i])
            out[i] = p[i];
        else if (p[i] >= '0' && p[i] <= '9')
            out[i] = (uint8_t)('0' + out[i] % 10);
        else
            out[i] = (uint8_t)ALNUM[out[i] % (sizeof ALNUM - 1)];
    }
}

static int map_request(struct anon *a, struct trace_request *q)
{
    a->requests++;
    if (q->argc > a->acap) {
        size_t c = q->argc * 2;
        void *p1 = realloc(a->argv, c * sizeof *a->argv);
        if (p1)
            a->argv = p1;
        void *p2 = realloc(a->argvlen, c * sizeof *a->argvlen);
        if (p2)
            a->argvlen = p2;
        void *p3 = realloc(a->pos, c * sizeof *a->pos);
        if (p3)
            a->pos = p3;
        if (!p1 || !p2 || !p3)
            return -1;
        a->acap = c;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < q->argc; i++)
        total += q->argvlen[i];
    if (grow(a, total + 1) < 0)
        return -1;
    if (q->flags & TRACE_REQ_MALFORMED) {
        size_t off = 0;
        for (uint32_t i = 0; i < q->argc; i++) {
            map_raw(a, (const uint8_t *)q->argv[i], q->argvlen[i], (uint8_t *)a->buf + off);
            a->argv[i] = a->buf + off;
            a->argvlen[i] = q->argvlen[i];
            off += q->argvlen[i];
        }
        a->malformed++;
        q->argv = a->argv;
        q->argvlen = a->argvlen;
        q->flags |= TRACE_REQ_VALUES_REDACTED;
        return 0;
    }
    /* role of each argument: 0 kept, 1 key, 2 value */
    uint8_t *role = calloc(q->argc ? q->argc : 1, 1);
    if (!role)
        return -1;
    const struct rt_cmd *c = rt_cmd_lookup(q->argc, q->argv, q->argvlen);
    size_t nk = 0, nv = 0;
    int keys_ok = c && rt_cmd_keys(c, q->argc, q->argv, q->argvlen, a->pos, a->acap, &nk) == 0 &&
                  nk <= a->acap;
    if (keys_ok)
        for (size_t i = 0; i < nk; i++)
            role[a->pos[i]] = 1;
    int vals_ok = keys_ok && rt_cmd_values(c, q->argc, q->argv, q->argvlen, a->pos, a->acap,
                                           &nv) == 0 && nv <= a->acap;
    if (vals_ok) {
        for (size_t i = 0; i < nv; i++)
            if (!role[a->pos[i]])
                role[a->pos[i]] = 2;
    } else {
        /* unknown command or keys: every argument but the name (and known keys) is a value */
        a->unknown_cmds++;
        size_t first = c && strchr(c->name, '|') ? 2 : 1;
        for (uint32_t i = (uint32_t)first; i < q->argc; i++)
            if (!role[i])
                role[i] = 2;
    }
    size_t off = 0;
    int any_value = 0;
    for (uint32_t i = 0; i < q->argc; i++) {
        const uint8_t *p = (const uint8_t *)q->argv[i];
        uint8_t *o = (uint8_t *)a->buf + off;
        size_t n = q->argvlen[i];
        if (role[i] == 1) {
            map_key(a, p, n, o);
            a->keys++;
        } else if (role[i] == 2) {
            map_value(a, p, n, o);
            a->values++;
            any_value = 1;
        } else {
            memcpy(o, p, n);
        }
        a->argv[i] = a->buf + off;
        a->argvlen[i] = n;
        off += n;
    }
    free(role);
    q->argv = a->argv;
    q->argvlen = a->argvlen;
    if (any_value)
        q->flags |= TRACE_REQ_VALUES_REDACTED;
    return 0;
}

static void map_reply(struct anon *a, struct trace_reply *r)
{
    if (r->flags & TRACE_REPLY_HAS_PAYLOAD) {
        r->flags &= ~TRACE_REPLY_HAS_PAYLOAD;
        r->payload = NULL;
        r->payload_len = 0;
    }
    if (r->flags & TRACE_REPLY_HAS_HASH) {
        uint8_t k[32];
        hmac(a, "H", 1, &r->hash, sizeof r->hash, k);
        memcpy(&r->hash, k, sizeof r->hash);
    }
}

static int read_secret(struct anon *a, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "resptrace anonymize: --key-secret %s: %s\n", path, strerror(errno));
        return -1;
    }
    a->slen = fread(a->secret, 1, sizeof a->secret, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        fprintf(stderr, "resptrace anonymize: --key-secret %s: longer than %zu bytes\n", path,
                sizeof a->secret);
        return -1;
    }
    if (a->slen && a->secret[a->slen - 1] == '\n')
        a->slen--;
    if (a->slen < 16) {
        fprintf(stderr, "resptrace anonymize: --key-secret %s: %zu bytes; give at least 16\n",
                path, a->slen);
        return -1;
    }
    return 0;
}

static struct trace_writer *open_out(struct anon *a, struct trace_reader *r, struct rt_out *o,
                                     const char *out, int enc)
{
    size_t n;
    const struct trace_meta_kv *kv = trace_reader_meta(r, &n);
    struct trace_meta_kv *m = calloc(n + 4, sizeof *m);
    if (!m)
        return NULL;
    char host[32], id[32];
    uint8_t k[32];
    size_t k2 = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "capture.host")) {
            hmac(a, "h", 1, kv[i].val, kv[i].vlen, k);
            snprintf(host, sizeof host, "host-%02x%02x%02x%02x", k[0], k[1], k[2], k[3]);
            m[k2++] = (struct trace_meta_kv){kv[i].key, host, strlen(host)};
        } else if (!strcmp(kv[i].key, "capture.filter")) {
            m[k2++] = (struct trace_meta_kv){kv[i].key, "(anonymized)", 12};
        } else if (strcmp(kv[i].key, "redaction.values") != 0) {
            m[k2++] = kv[i];
        }
    }
    hmac(a, "id", 2, NULL, 0, k);
    snprintf(id, sizeof id, "%02x%02x%02x%02x%02x%02x%02x%02x", k[0], k[1], k[2], k[3], k[4],
             k[5], k[6], k[7]);
    m[k2++] = (struct trace_meta_kv){"redaction.values", "on", 2};
    m[k2++] = (struct trace_meta_kv){"anonymize.method", "hmac-sha256 v1", 14};
    m[k2++] = (struct trace_meta_kv){"anonymize.secret_id", id, strlen(id)};
    struct trace_writer *w = edit_writer_open("anonymize", o, out, m, k2, enc);
    free(m);
    return w;
}

static json_t *summary_json(const struct anon *a, const char *in, const char *out, int interrupted)
{
    json_t *o = rt_json_doc("anonymize");
    json_object_set_new(o, "file", json_string(in));
    json_object_set_new(o, "output", json_string(out));
    json_object_set_new(o, "requests", rt_json_u64(a->requests));
    json_object_set_new(o, "keys", rt_json_u64(a->keys));
    json_object_set_new(o, "values", rt_json_u64(a->values));
    json_object_set_new(o, "addresses", rt_json_u64(a->addrs));
    json_object_set_new(o, "malformed_requests", rt_json_u64(a->malformed));
    json_object_set_new(o, "slots_not_kept", rt_json_u64(a->slot_lost));
    json_object_set_new(o, "runs_not_permuted", rt_json_u64(a->weak_runs));
    json_object_set_new(o, "slot_fix_crossed_runs", rt_json_u64(a->runs_crossed));
    json_object_set_new(o, "requests_unknown_to_table", rt_json_u64(a->unknown_cmds));
    if (a->kc) {
        json_t *k = json_object();
        json_object_set_new(k, "entries", rt_json_u64(a->kc->n));
        json_object_set_new(k, "hits", rt_json_u64(a->kc->hits));
        json_object_set_new(k, "misses", rt_json_u64(a->kc->misses));
        json_object_set_new(k, "full", json_boolean(a->kc->full));
        json_object_set_new(o, "key_cache", k);
    }
    json_object_set_new(o, "interrupted", json_boolean(interrupted));
    return o;
}

static void print_summary(FILE *f, const struct anon *a, const char *in, const char *out)
{
    fprintf(f, "%-26s %s\n%-26s %s\n", "file", in, "output", out);
    fprintf(f, "%-26s %" PRIu64 "\n", "requests", a->requests);
    fprintf(f, "%-26s %" PRIu64 " (slot not kept: %" PRIu64 ")\n", "keys replaced", a->keys,
            a->slot_lost);
    fprintf(f, "%-26s %" PRIu64 "\n", "values replaced", a->values);
    fprintf(f, "%-26s %" PRIu64 "\n", "addresses replaced", a->addrs);
    if (a->malformed)
        fprintf(f, "%-26s %" PRIu64 "\n", "malformed requests", a->malformed);
    fprintf(f, "%-26s %" PRIu64 "\n", "runs not permuted", a->weak_runs);
    fprintf(f, "%-26s %" PRIu64 "\n", "slot fixes across runs", a->runs_crossed);
    fprintf(f, "%-26s %" PRIu64 " (all their arguments replaced)\n", "requests unknown to table",
            a->unknown_cmds);
    if (a->kc)
        fprintf(f, "%-26s %zu keys, %" PRIu64 " hits, %" PRIu64 " misses%s\n", "key cache",
                a->kc->n, a->kc->hits, a->kc->misses, a->kc->full ? " (full)" : "");
}

int cmd_anonymize(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"key-secret", required_argument, NULL, 'k'},
                                         {"encoding", required_argument, NULL, 'E'},
                                         {"json", optional_argument, NULL, 'j'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *secret = NULL, *json = NULL;
    int salvage = 0, quiet = 0, c, enc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:q", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'k': secret = optarg; break;
        case 'E':
            if (rt_opt_encoding("anonymize", optarg, &enc))
                return RT_EXIT_USAGE;
            break;
        case 'j': json = optarg ? optarg : "-"; break;
        case 's': salvage = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage_anonymize(stdout); return RT_EXIT_OK;
        default: return edit_bad_option("anonymize", c, argv);
        }
    }
    if (optind >= argc)
        return rt_usage_error("anonymize", "give the trace to anonymize");
    if (optind < argc - 1)
        return rt_usage_error("anonymize", "one trace at a time ('%s' is extra)", argv[optind + 1]);
    if (!out)
        return rt_usage_error("anonymize", "give the output with -o FILE");
    if (!secret)
        return rt_usage_error("anonymize", "give the secret with --key-secret FILE");
    const char *path = argv[optind];
    const char *inputs[] = {path, secret};
    if (edit_check_outputs("anonymize", out, json, inputs, 2) != 0)
        return RT_EXIT_USAGE;
    rt_catch_signals();
    struct anon *a = rt_xcalloc("anonymize", 1, sizeof *a);
    int status = RT_EXIT_FAIL, interrupted = 0;
    struct trace_reader *r = NULL;
    struct trace_writer *w = NULL;
    struct rt_out o = {0};
    struct rt_progress pg;
    rt_progress_init(&pg, quiet);
    if (read_secret(a, secret) < 0)
        goto done;
    a->kc = calloc(1, sizeof *a->kc); /* without it (no memory) every key is mapped anew */
    if (a->kc)
        a->kc->seed = rt_hash_seeded(0x6b6579636163686full, a->secret, a->slen);
    r = rt_open_trace("anonymize", path, salvage);
    if (!r || !(w = open_out(a, r, &o, out, enc)))
        goto done;
    struct trace_event ev;
    struct rt_err err = {0};
    uint64_t events = 0;
    int rc;
    while (!rt_interrupted && (rc = trace_reader_next(r, &ev, &err)) == 1) {
        switch (ev.type) {
        case TRACE_EV_REQUEST:
            if (map_request(a, &ev.u.req) < 0)
                rt_oom("anonymize");
            break;
        case TRACE_EV_REPLY:
        case TRACE_EV_PUSH: map_reply(a, &ev.u.reply); break;
        case TRACE_EV_CONN_OPEN: map_addr(a, &ev.u.open.client); break;
        default: break;
        }
        if (trace_writer_add(w, &ev, &err) < 0) {
            fprintf(stderr, "resptrace anonymize: %s\n", err.msg);
            goto done;
        }
        if ((++events & 1023) == 0 && rt_progress_due(&pg)) {
            char extra[48], nb[32];
            snprintf(extra, sizeof extra, "%s keys", edit_fmt_count(a->keys, nb, sizeof nb));
            rt_progress_trace(&pg, "anonymize", r, events, extra);
        }
    }
    rt_progress_done(&pg);
    interrupted = rt_interrupted != 0;
    int damaged = 0;
    if (interrupted) {
        /* the reading stopped here: what was written is complete */
    } else if (rc < 0) {
        fprintf(stderr, "resptrace anonymize: %s\n", err.msg);
        damaged = 1;
    } else {
        struct trace_damage d;
        trace_reader_damage(r, &d);
        if (d.first_offset != UINT64_MAX) {
            fprintf(stderr, "resptrace anonymize: %s (salvaged)\n", d.msg);
            damaged = 1;
        }
    }
    int crc = edit_writer_commit("anonymize", &o, w);
    w = NULL;
    if (crc < 0)
        goto done;
    print_summary(edit_text_stream(out, json), a, path, out);
    status = interrupted ? RT_EXIT_INTERRUPTED : damaged ? RT_EXIT_FAIL : RT_EXIT_OK;
    if (json && rt_json_write("anonymize", summary_json(a, path, out, interrupted), json) != 0 &&
        status == RT_EXIT_OK)
        status = RT_EXIT_FAIL;
    if (interrupted) {
        char nb[32];
        fprintf(stderr, "resptrace anonymize: interrupted: wrote %s events\n",
                edit_fmt_count(events, nb, sizeof nb));
    }
done:
    rt_progress_done(&pg);
    edit_writer_abort(&o, w);
    trace_reader_close(r);
    free(a->buf);
    free(a->argv);
    free(a->argvlen);
    free(a->pos);
    kc_free(a->kc);
    free(a);
    return status;
}
