/* reader.c: trace reader: sequential decoding, seek by time, recovery of truncated files. */
#include "format_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

struct index_entry {
    uint64_t offset, ts_min, ts_max, req_base;
    uint32_t events;
};

/* frames a chunk may leave compressed (opts.lazy_args); more are decompressed at once */
#define TRACE_DEFER_MAX 8

struct block {
    uint64_t off;   /* offset of the envelope */
    uint32_t size;  /* content bytes */
    uint8_t type;
    const uint8_t *content; /* the whole content when loaded */
};

struct trace_reader {
    char *name;
    struct trace_reader_opts o;

    /* the source: a file, stdin, or a caller's buffer */
    int fd;
    const uint8_t *mem;
    int seekable;
    uint64_t size;   /* file or buffer size; for stdin, bytes consumed so far */
    uint64_t stream; /* stdin only: offset of the next byte read() returns */
    int eof_seen;    /* stdin only */
    /* stdin only: the block after the leading metadata, read by the open's look-ahead and
     * handed to the first trace_reader_next() because a pipe cannot be read twice */
    int has_ahead;
    int ahead_rc; /* block_read()'s result for it */
    struct block ahead;
    struct rt_err ahead_err;

    unsigned major, minor;
    uint64_t pos;         /* offset of the next block */
    uint64_t first_block; /* offset of the first block after header and leading metadata */
    int done;             /* the index block or a clean end was reached */

    struct trace_meta_kv *meta;
    size_t nmeta, capmeta;
    uint32_t *mslot; /* open addressing over meta: index + 1, 0 for an empty slot */
    size_t nmslot;   /* a power of two, at least twice nmeta */

    int has_index;
    struct index_entry *idx;
    size_t nidx;
    struct trace_totals itot, rtot;

    /* the chunk being decoded */
    ZSTD_DCtx *dctx;
    struct rt_buf comp, raw, blk;
    uint64_t chunk_off;
    uint32_t chunk_events, left;
    struct rt_cur c[W_NSTREAMS];
    /* encoding 2: cursors running ahead in the key and reply reference streams (prefetch_ref) */
    struct rt_cur pf[2], pf2;
    uint64_t prev_ts, prev_conn, req_next;
    uint64_t skip_before;
    uint8_t enc; /* the chunk's encoding */

    /* opts.lazy_args, encoding 3: the frames of the chunk left compressed (they hold only
     * bytes of arguments 2.., stream 0x37), and while `lazy`, the bytes of 0x37 that the
     * requests decoded so far take (argn_off, from their lengths in 0x3a); argn_req: where
     * the last request's arguments 2.. start in 0x37 */
    struct defer {
        size_t zoff, zlen, off, len;
    } defer[TRACE_DEFER_MAX];
    int ndefer, lazy;
    const uint8_t *argn_base;
    size_t argn_len, argn_off, argn_req;

    /* encoding 2: the tables of the chain being read; the chain's id and the position of its
     * last chunk loaded; chain_ok 0: the next encoding-2 chunk must start a chain */
    struct str_tab tab[2];
    struct desc_tab rtab;
    int chain_ok;
    uint32_t chain_id;
    uint64_t chain_seq;

    const char **argv;
    size_t *argvlen;
    size_t argcap;

    struct trace_damage dmg;
};

/* ---- source ---- */

/* Reads up to n bytes at `off`; fewer only at the end of the source. @return bytes or -1. */
static ssize_t src_read(struct trace_reader *r, uint64_t off, void *buf, size_t n)
{
    if (r->mem) {
        if (off >= r->size)
            return 0;
        size_t k = r->size - off < n ? (size_t)(r->size - off) : n;
        memcpy(buf, r->mem + off, k);
        return (ssize_t)k;
    }
    if (r->seekable) {
        size_t got = 0;
        while (got < n) {
            ssize_t k = pread(r->fd, (char *)buf + got, n - got, (off_t)(off + got));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return -1;
            if (k == 0)
                break;
            got += (size_t)k;
        }
        return (ssize_t)got;
    }
    /* stdin: forward only; skip what lies before `off` */
    if (off < r->stream) {
        errno = ESPIPE;
        return -1;
    }
    char sink[4096];
    while (r->stream < off && !r->eof_seen) {
        size_t want = off - r->stream < sizeof sink ? (size_t)(off - r->stream) : sizeof sink;
        ssize_t k = read(r->fd, sink, want);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            r->eof_seen = 1;
        r->stream += (uint64_t)k;
    }
    if (r->stream < off)
        return 0;
    size_t got = 0;
    while (got < n && !r->eof_seen) {
        ssize_t k = read(r->fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            r->eof_seen = 1;
        got += (size_t)k;
    }
    r->stream += got;
    if (r->stream > r->size)
        r->size = r->stream;
    return (ssize_t)got;
}

static int read_exact(struct trace_reader *r, uint64_t off, void *buf, size_t n,
                      const char *what, struct rt_err *err)
{
    ssize_t k = src_read(r, off, buf, n);
    if (k < 0) {
        rt_err_set(err, RT_EIO, "%s: read at offset %llu: %s", r->name,
                   (unsigned long long)off, strerror(errno));
        return RT_EIO;
    }
    if ((size_t)k < n) {
        rt_err_set(err, RT_ETRUNCATED,
                   "%s: truncated at offset %llu inside %s (%zd of %zu bytes present)",
                   r->name, (unsigned long long)(off + (uint64_t)k), what, k, n);
        return RT_ETRUNCATED;
    }
    return 0;
}

/* ---- metadata ---- */

/* @return the table slot holding key `k`, or the empty slot where it would go. */
static size_t meta_slot(const struct trace_reader *r, const uint8_t *k, size_t klen)
{
    size_t mask = r->nmslot - 1;
    for (size_t i = (size_t)trace_hash(k, klen) & mask;; i = (i + 1) & mask) {
        if (r->mslot[i] == 0)
            return i;
        /* keys hold no NUL, so strncmp stops inside both */
        const char *key = r->meta[r->mslot[i] - 1].key;
        if (strncmp(key, (const char *)k, klen) == 0 && key[klen] == 0)
            return i;
    }
}

/* Doubles the slot table and re-inserts every key. @return 0 or -1. */
static int meta_rehash(struct trace_reader *r)
{
    size_t n = r->nmslot ? r->nmslot * 2 : 64;
    uint32_t *t = calloc(n, sizeof *t);
    if (!t)
        return -1;
    free(r->mslot);
    r->mslot = t;
    r->nmslot = n;
    for (size_t i = 0; i < r->nmeta; i++) {
        const char *key = r->meta[i].key;
        r->mslot[meta_slot(r, (const uint8_t *)key, strlen(key))] = (uint32_t)(i + 1);
    }
    return 0;
}

/* @return 0, -1 out of memory, or -2 past TRACE_MAX_META_KEYS distinct keys. */
static int meta_set(struct trace_reader *r, const uint8_t *k, size_t klen, const uint8_t *v,
                    size_t vlen)
{
    if (2 * (r->nmeta + 1) > r->nmslot && meta_rehash(r))
        return -1;
    size_t slot = meta_slot(r, k, klen);
    char *val = malloc(vlen + 1);
    if (!val)
        return -1;
    memcpy(val, v, vlen);
    val[vlen] = 0;
    if (r->mslot[slot]) {
        struct trace_meta_kv *m = &r->meta[r->mslot[slot] - 1];
        free((char *)m->val);
        m->val = val;
        m->vlen = vlen;
        return 0;
    }
    if (r->nmeta == TRACE_MAX_META_KEYS) {
        free(val);
        return -2;
    }
    if (r->nmeta == r->capmeta) {
        size_t cap = r->capmeta ? r->capmeta * 2 : 16;
        struct trace_meta_kv *m = realloc(r->meta, cap * sizeof *m);
        if (!m) {
            free(val);
            return -1;
        }
        r->meta = m;
        r->capmeta = cap;
    }
    char *key = malloc(klen + 1);
    if (!key) {
        free(val);
        return -1;
    }
    memcpy(key, k, klen);
    key[klen] = 0;
    r->meta[r->nmeta++] = (struct trace_meta_kv){key, val, vlen};
    r->mslot[slot] = (uint32_t)r->nmeta;
    return 0;
}

static int parse_meta(struct trace_reader *r, const uint8_t *body, size_t n, uint64_t off,
                      struct rt_err *err)
{
    struct rt_cur c = {body, body + n};
    uint64_t count;
    if (rt_cur_varint(&c, &count))
        goto bad;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t klen, vlen;
        const uint8_t *k, *v;
        if (rt_cur_varint(&c, &klen) || klen > n || rt_cur_bytes(&c, (size_t)klen, &k) ||
            rt_cur_varint(&c, &vlen) || vlen > n || rt_cur_bytes(&c, (size_t)vlen, &v))
            goto bad;
        if (memchr(k, 0, (size_t)klen))
            goto bad;
        int rc = meta_set(r, k, (size_t)klen, v, (size_t)vlen);
        if (rc == -2) {
            rt_err_set(err, RT_ELIMIT, "%s: metadata block at offset %llu: more than %u keys",
                       r->name, (unsigned long long)off, TRACE_MAX_META_KEYS);
            return RT_ELIMIT;
        }
        if (rc) {
            rt_err_set(err, RT_ENOMEM, "%s: out of memory reading metadata", r->name);
            return RT_ENOMEM;
        }
    }
    return 0;
bad:
    rt_err_set(err, RT_ECORRUPT, "%s: corrupt metadata block at offset %llu", r->name,
               (unsigned long long)off);
    return RT_ECORRUPT;
}

/* ---- blocks ---- */

static uint32_t block_cap(uint8_t type)
{
    switch (type) {
    case TRACE_BLK_HEADER: return 4096;
    case TRACE_BLK_CHUNK: return 4096;
    case TRACE_BLK_META: return TRACE_MAX_META_BLOCK;
    case TRACE_BLK_INDEX: return TRACE_MAX_INDEX_BLOCK;
    default: return 0; /* unknown: never loaded */
    }
}

/* Reads the envelope and type at `off`; loads the content of known types and checks it.
 * @return 1 with *b filled, 0 at a clean end of the source, or a negative code. */
static int block_read(struct trace_reader *r, uint64_t off, struct block *b,
                      struct rt_err *err)
{
    uint8_t env[TRACE_ENVELOPE + 1];
    ssize_t k = src_read(r, off, env, sizeof env);
    if (k < 0) {
        rt_err_set(err, RT_EIO, "%s: read at offset %llu: %s", r->name,
                   (unsigned long long)off, strerror(errno));
        return RT_EIO;
    }
    if (k == 0)
        return 0;
    if (k < (ssize_t)sizeof env) {
        rt_err_set(err, RT_ETRUNCATED,
                   "%s: truncated at offset %llu inside a block header (%zd of 9 bytes)",
                   r->name, (unsigned long long)(off + (uint64_t)k), k);
        return RT_ETRUNCATED;
    }
    if (rt_rd32(env) != TRACE_BLOCK_MAGIC) {
        rt_err_set(err, RT_ECORRUPT, "%s: bad block magic at offset %llu", r->name,
                   (unsigned long long)off);
        return RT_ECORRUPT;
    }
    b->off = off;
    b->size = rt_rd32(env + 4);
    b->type = env[8];
    b->content = NULL;
    if (b->size < 1) {
        rt_err_set(err, RT_ECORRUPT, "%s: empty block at offset %llu", r->name,
                   (unsigned long long)off);
        return RT_ECORRUPT;
    }
    uint32_t cap = block_cap(b->type);
    if (cap == 0) {
        /* an unknown type, which the caller skips. Every block but the index ends with its
         * check, so a small one is verified: a damaged type byte must not hide a chunk. */
        if (b->size > TRACE_MAX_META_BLOCK)
            return 1;
        cap = TRACE_MAX_META_BLOCK;
    }
    uint32_t min = b->type == TRACE_BLK_INDEX ? 17 : b->type == TRACE_BLK_CHUNK
                                                       ? TRACE_CHUNK_HDR_CONTENT
                                                       : 5;
    if (b->size > cap || b->size < min) {
        rt_err_set(err, RT_ECORRUPT, "%s: block at offset %llu has impossible size %u",
                   r->name, (unsigned long long)off, b->size);
        return RT_ECORRUPT;
    }
    if (r->seekable && off + TRACE_ENVELOPE + b->size > r->size) {
        rt_err_set(err, RT_ETRUNCATED,
                   "%s: truncated at offset %llu inside a block (%llu of %u bytes present)",
                   r->name, (unsigned long long)r->size,
                   (unsigned long long)(r->size - off - TRACE_ENVELOPE), b->size);
        return RT_ETRUNCATED;
    }
    r->blk.len = 0;
    if (rt_buf_reserve(&r->blk, b->size)) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", r->name);
        return RT_ENOMEM;
    }
    /* the type byte came with the envelope: a pipe cannot give it twice */
    r->blk.p[0] = b->type;
    int rc = read_exact(r, off + TRACE_ENVELOPE + 1, r->blk.p + 1, b->size - 1, "a block", err);
    if (rc)
        return rc;
    const uint8_t *c = r->blk.p;
    size_t checked = b->type == TRACE_BLK_INDEX ? b->size - 16 : b->size - 4;
    if (rt_check32(c, checked) != rt_rd32(c + checked)) {
        rt_err_set(err, RT_ECORRUPT, "%s: block at offset %llu fails its check", r->name,
                   (unsigned long long)off);
        return RT_ECORRUPT;
    }
    b->content = c;
    return 1;
}

static uint64_t block_end_off(const struct block *b)
{
    return b->off + TRACE_ENVELOPE + b->size;
}

/* ---- index ---- */

static int parse_index(struct trace_reader *r, const uint8_t *c, size_t n)
{
    struct rt_cur cur = {c + 1, c + n - 16};
    uint64_t count, v[5], ntypes;
    if (rt_cur_varint(&cur, &count) || count > n)
        return -1;
    struct index_entry *e = count ? calloc((size_t)count, sizeof *e) : NULL;
    if (count && !e)
        return -1;
    uint64_t off = 0, ts = 0;
    for (uint64_t i = 0; i < count; i++) {
        for (int j = 0; j < 5; j++)
            if (rt_cur_varint(&cur, &v[j]))
                goto bad;
        off += v[0];
        ts += (uint64_t)rt_unzigzag(v[1]);
        e[i] = (struct index_entry){off, ts, ts + v[2], v[3], (uint32_t)v[4]};
        if ((i > 0 && e[i].offset <= e[i - 1].offset) || v[4] > UINT32_MAX)
            goto bad;
    }
    memset(&r->itot, 0, sizeof r->itot);
    if (rt_cur_varint(&cur, &ntypes) || ntypes > 4096)
        goto bad;
    for (uint64_t t = 0; t < ntypes; t++) {
        uint64_t x;
        if (rt_cur_varint(&cur, &x))
            goto bad;
        if (t <= TRACE_EV_MAX_KNOWN)
            r->itot.by_type[t] = x;
        else
            r->itot.by_type[0] += x;
    }
    uint64_t reqs;
    if (rt_cur_varint(&cur, &r->itot.events) || rt_cur_varint(&cur, &r->itot.chunks) ||
        rt_cur_varint(&cur, &r->itot.raw_bytes) ||
        rt_cur_varint(&cur, &r->itot.compressed_bytes) ||
        rt_cur_varint(&cur, &r->itot.ts_min) || rt_cur_varint(&cur, &r->itot.ts_max) ||
        rt_cur_varint(&cur, &reqs) || rt_cur_varint(&cur, &r->itot.gap_bytes[0]) ||
        rt_cur_varint(&cur, &r->itot.gap_bytes[1]) ||
        rt_cur_varint(&cur, &r->itot.stats.packets) ||
        rt_cur_varint(&cur, &r->itot.stats.bytes) ||
        rt_cur_varint(&cur, &r->itot.stats.kernel_drops) ||
        rt_cur_varint(&cur, &r->itot.stats.iface_drops) ||
        rt_cur_varint(&cur, &r->itot.stats.flows_dropped) ||
        rt_cur_varint(&cur, &r->itot.stats.bytes_dropped))
        goto bad;
    /* since 1.2: chunks by encoding (absent from older files) */
    uint64_t nenc, k;
    if (cur.p < cur.end) {
        if (rt_cur_varint(&cur, &nenc) || nenc > 256)
            goto bad;
        for (uint64_t enc = 0; enc < nenc; enc++) {
            if (rt_cur_varint(&cur, &k))
                goto bad;
            if (!TRACE_ENC_KNOWN(enc))
                r->itot.chunks_unknown += k;
        }
    }
    free(r->idx);
    r->idx = e;
    r->nidx = (size_t)count;
    return 0;
bad:
    free(e);
    return -1;
}

/* Looks for the index through the tail at the end of the file. A missing or damaged index is
 * not an error: the file is then read as one that was not closed. */
static void load_index(struct trace_reader *r)
{
    uint8_t tail[TRACE_TAIL_BYTES];
    if (!r->seekable || r->size < r->first_block + TRACE_ENVELOPE + 17)
        return;
    if (src_read(r, r->size - TRACE_TAIL_BYTES, tail, sizeof tail) != (ssize_t)sizeof tail)
        return;
    if (memcmp(tail + 8, TRACE_TAIL_MAGIC, 8) != 0)
        return;
    uint32_t total = rt_rd32(tail + 4);
    if (total > r->size - r->first_block || total < TRACE_ENVELOPE + 17)
        return;
    struct block b;
    struct rt_err ignored;
    uint64_t off = r->size - total;
    if (block_read(r, off, &b, &ignored) != 1 || b.type != TRACE_BLK_INDEX ||
        block_end_off(&b) != r->size)
        return;
    if (parse_index(r, b.content, b.size) == 0)
        r->has_index = 1;
}

/* ---- open ---- */

static struct trace_reader *reader_new(const char *name, const struct trace_reader_opts *opts)
{
    struct trace_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = -1;
    r->name = strdup(name ? name : "(trace)");
    r->dctx = ZSTD_createDCtx();
    if (!r->name || !r->dctx) {
        trace_reader_close(r);
        return NULL;
    }
    if (opts)
        r->o = *opts;
    if (r->o.max_chunk_raw == 0)
        r->o.max_chunk_raw = 256u << 20;
    r->dmg.first_offset = UINT64_MAX;
    r->dmg.unknown_offset = UINT64_MAX;
    return r;
}

static int reader_start(struct trace_reader *r, struct rt_err *err)
{
    struct block b;
    int rc = block_read(r, 0, &b, err);
    if (rc == 0 || (rc < 0 && (rc == RT_ECORRUPT || rc == RT_ETRUNCATED))) {
        /* nothing that starts like a trace: say so rather than "corrupt" */
        uint8_t m[4];
        ssize_t k = src_read(r, 0, m, 4);
        if (k < 4 || rt_rd32(m) != TRACE_BLOCK_MAGIC) {
            rt_err_set(err, RT_ENOTTRACE, "%s: not a resptrace trace (%s)", r->name,
                       k == 0 ? "empty file" : "no trace magic at offset 0");
            return RT_ENOTTRACE;
        }
        if (rc == 0)
            rc = RT_ETRUNCATED;
        return rc;
    }
    if (rc < 0)
        return rc;
    if (b.type != TRACE_BLK_HEADER || !b.content || b.size < TRACE_HEADER_CONTENT ||
        memcmp(b.content + 1, TRACE_FILE_MAGIC, 8) != 0) {
        rt_err_set(err, RT_ENOTTRACE, "%s: not a resptrace trace (no file header at offset 0)",
                   r->name);
        return RT_ENOTTRACE;
    }
    r->major = rt_rd16(b.content + 9);
    r->minor = rt_rd16(b.content + 11);
    if (r->major != TRACE_FORMAT_MAJOR) {
        rt_err_set(err, RT_EVERSION,
                   "%s: format version %u.%u; this resptrace reads version %u.x", r->name,
                   r->major, r->minor, TRACE_FORMAT_MAJOR);
        return RT_EVERSION;
    }
    r->pos = block_end_off(&b);
    /* leading metadata blocks */
    struct rt_err e2 = {0};
    for (;;) {
        rc = block_read(r, r->pos, &b, &e2);
        if (rc != 1 || b.type != TRACE_BLK_META)
            break;
        rc = parse_meta(r, b.content + 1, b.size - 5, b.off, err);
        if (rc)
            return rc;
        r->pos = block_end_off(&b);
    }
    if (!r->seekable) {
        r->has_ahead = 1;
        r->ahead_rc = rc;
        r->ahead = b;
        r->ahead_err = e2;
    }
    r->first_block = r->pos;
    load_index(r);
    return 0;
}

struct trace_reader *trace_reader_open(const char *path, const struct trace_reader_opts *opts,
                                       struct rt_err *err)
{
    int is_stdin = strcmp(path, "-") == 0;
    struct trace_reader *r = reader_new(is_stdin ? "(stdin)" : path, opts);
    if (!r) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (is_stdin) {
        r->fd = dup(0);
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (r->fd < 0) {
        rt_err_set(err, RT_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
        rt_err_set(err, RT_EIO, "%s: stat: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        rt_err_set(err, RT_EINVAL, "%s: is a directory", path);
        goto fail;
    }
    if (S_ISREG(st.st_mode)) {
        r->seekable = 1;
        r->size = (uint64_t)st.st_size;
    }
    if (reader_start(r, err) != 0)
        goto fail;
    return r;
fail:
    trace_reader_close(r);
    return NULL;
}

struct trace_reader *trace_reader_open_mem(const void *buf, size_t len, const char *name,
                                           const struct trace_reader_opts *opts,
                                           struct rt_err *err)
{
    struct trace_reader *r = reader_new(name, opts);
    if (!r) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", name ? name : "(trace)");
        return NULL;
    }
    static const uint8_t empty[1];
    r->mem = len ? buf : empty;
    r->size = len;
    r->seekable = 1;
    if (reader_start(r, err) != 0) {
        trace_reader_close(r);
        return NULL;
    }
    return r;
}

/* ---- chunks ---- */

struct chunk_hdr {
    uint32_t events, req_count, raw_size, comp_size;
    uint64_t ts_min, ts_max, req_base, comp_hash;
    uint8_t encoding;
    uint16_t flags;
};

static void chunk_hdr_parse(const uint8_t *c, struct chunk_hdr *h)
{
    h->encoding = c[1];
    h->flags = rt_rd16(c + 2);
    h->events = rt_rd32(c + 4);
    h->ts_min = rt_rd64(c + 8);
    h->ts_max = rt_rd64(c + 16);
    h->req_base = rt_rd64(c + 24);
    h->req_count = rt_rd32(c + 32);
    h->raw_size = rt_rd32(c + 36);
    h->comp_size = rt_rd32(c + 40);
    h->comp_hash = rt_rd64(c + 44);
}

static void note_damage(struct trace_reader *r, uint64_t off)
{
    if (r->dmg.first_offset == UINT64_MAX)
        r->dmg.first_offset = off;
}

/* Encoding 2: reads the preamble in front of the stream directory and checks that the chunk
 * is the next of the chain the reader has read chunk by chunk (or starts a chain: then the
 * tables start empty). */
static int chain_check(struct trace_reader *r, const struct block *b, const struct chunk_hdr *h,
                       struct rt_cur *d, struct rt_err *err)
{
    uint64_t seq, ntab, n[TRACE_NTABLES];
    const uint8_t *id = NULL;
    int ok = r->chain_ok;
    r->chain_ok = 0; /* until this chunk is known good */
    if (rt_cur_varint(d, &seq) || (seq && rt_cur_bytes(d, 4, &id)) ||
        rt_cur_varint(d, &ntab) || ntab != TRACE_NTABLES)
        goto bad;
    for (int t = 0; t < TRACE_NTABLES; t++)
        if (rt_cur_varint(d, &n[t]))
            goto bad;
    if (!seq != !(h->flags & TRACE_CHUNK_DEPENDS))
        goto bad;
    if (seq == 0) {
        if (n[TAB_ARG0] || n[TAB_ARG1] || n[TAB_REPLY])
            goto bad;
        str_tab_reset(&r->tab[TAB_ARG0]);
        str_tab_reset(&r->tab[TAB_ARG1]);
        desc_tab_reset(&r->rtab);
        r->chain_id = (uint32_t)h->comp_hash;
    } else if (!ok || rt_rd32(id) != r->chain_id || seq != r->chain_seq + 1 ||
               n[TAB_ARG0] != r->tab[TAB_ARG0].n || n[TAB_ARG1] != r->tab[TAB_ARG1].n ||
               n[TAB_REPLY] != r->rtab.n) {
        rt_err_set(err, RT_ECORRUPT,
                   "%s: chunk at offset %llu needs the %llu chunks of its chain before it, "
                   "which were not all read (damaged or skipped)",
                   r->name, (unsigned long long)b->off, (unsigned long long)seq);
        return RT_ECORRUPT;
    }
    r->chain_seq = seq;
    r->chain_ok = 1;
    return 0;
bad:
    rt_err_set(err, RT_ECORRUPT, "%s: chunk at offset %llu has a corrupt preamble", r->name,
               (unsigned long long)b->off);
    return RT_ECORRUPT;
}

/* Prefetching the tables. A reference names an entry of the chain's string or reply table,
 * and a trace of many keys holds them in megabytes of table: on the analysis benchmark's
 * trace (100,000 keys, random values) two thirds of the decoder's time went to cache misses
 * on the entry a reference named (the key's end offset, its bytes, the reply's descriptor).
 * So cursors run ahead in the reference streams of argument 1 (k = 0: the first key of most
 * commands) and of replies (k = 1): PF_FAR references ahead, the entry's place in the table
 * is fetched; PF_NEAR ahead (the entry is in the cache by then), a string's bytes. Only hints:
 * nothing read ahead is trusted (an entry not in the table yet, or a stream that ends,
 * fetches nothing). Argument 0, the command's name, has a table of a few dozen entries that
 * stays in the cache: its cursors, which ran there too, only cost (`info --verify` on the
 * analysis benchmark's trace 7% faster, `hotkeys --approx` 3%, without them). */
#define PF_FAR 8
#define PF_NEAR 4
static const int pf_slot[2] = {W_REQ_ARG1_REF, W_REPLY + S_R_REF};

static inline void pf_far(struct trace_reader *r, int k)
{
    uint64_t ref;
    if (rt_cur_varint(&r->pf[k], &ref) || ref < TRACE_REF_ENTRY)
        return;
    ref -= TRACE_REF_ENTRY;
    if (k == 0) {
        const struct str_tab *t = &r->tab[TAB_ARG1];
        if (ref < t->n)
            __builtin_prefetch(&t->end[ref ? ref - 1 : 0]);
    } else if (ref < r->rtab.n) {
        const char *d = (const char *)&r->rtab.d[ref];
        __builtin_prefetch(d);
        __builtin_prefetch(d + sizeof(struct reply_desc) - 1);
    }
}

static inline void pf_near(struct trace_reader *r)
{
    uint64_t ref;
    if (rt_cur_varint(&r->pf2, &ref) || ref < TRACE_REF_ENTRY)
        return;
    ref -= TRACE_REF_ENTRY;
    const struct str_tab *t = &r->tab[TAB_ARG1];
    if (ref < t->n && t->bytes.p)
        __builtin_prefetch(t->bytes.p + (ref ? t->end[ref - 1] : 0));
}

/* a reference was read from stream k: the cursors ahead step one reference */
static inline void prefetch_ref(struct trace_reader *r, int k)
{
    pf_far(r, k);
    if (k == 0)
        pf_near(r);
}

static void prefetch_start(struct trace_reader *r)
{
    uint64_t ref;
    for (int k = 0; k < 2; k++) {
        r->pf[k] = TRACE_ENC_TABLES(r->enc) ? r->c[pf_slot[k]] : (struct rt_cur){0};
        if (k == 0)
            r->pf2 = r->pf[k];
        for (int i = 0; i < PF_FAR && r->pf[k].p; i++)
            if (rt_cur_varint(&r->pf[k], &ref))
                break;
        for (int i = 0; k == 0 && i < PF_NEAR && r->pf2.p; i++)
            if (rt_cur_varint(&r->pf2, &ref))
                break;
    }
}

/* Where the bytes of arguments 2.. (stream 0x37) of an encoding-3 chunk are in its payload,
 * of which the first `avail` bytes are decompressed: [*lo, *hi). @return 0, or -1 when the
 * preamble and the directory are not all within those bytes or there is no 0x37: then
 * nothing stays compressed. chunk_load() checks the directory in full afterwards. */
static int argn_range(const struct trace_reader *r, const struct chunk_hdr *h, size_t avail,
                      uint64_t *lo, uint64_t *hi)
{
    struct rt_cur d = {r->raw.p, r->raw.p + avail};
    uint64_t v, n, id, len;
    const uint8_t *skip;
    if (h->encoding != TRACE_CHUNK_ENCODING_3)
        return -1;
    /* the preamble, then the directory */
    if (rt_cur_varint(&d, &v) || (v && rt_cur_bytes(&d, 4, &skip)) || rt_cur_varint(&d, &n) ||
        n > TRACE_NTABLES)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (rt_cur_varint(&d, &v))
            return -1;
    if (rt_cur_varint(&d, &n) || n > 256)
        return -1;
    uint64_t off = 0, argn = UINT64_MAX, argn_len = 0;
    struct rt_cur dir = d;
    for (uint64_t i = 0; i < n; i++)
        if (rt_cur_varint(&d, &id) || rt_cur_varint(&d, &len))
            return -1;
    off = (uint64_t)(d.p - r->raw.p);
    for (uint64_t i = 0; i < n; i++) {
        rt_cur_varint(&dir, &id);
        rt_cur_varint(&dir, &len);
        if (len > h->raw_size)
            return -1;
        if (id == S_REQ_ARGN && argn == UINT64_MAX) {
            argn = off;
            argn_len = len;
        }
        off += len;
    }
    if (argn == UINT64_MAX)
        return -1;
    *lo = argn;
    *hi = argn + argn_len;
    return 0;
}

/* Decompresses the chunk in r->comp into r->raw: @return NULL, or why it failed. With
 * opts.lazy_args it goes frame by frame, and a frame that declares its size and whose bytes
 * lie inside stream 0x37 of an encoding-3 chunk is left compressed (r->defer) until
 * trace_reader_load_args(): an analysis of keys needs the lengths of arguments 2.. (0x3a),
 * not their bytes, and those bytes (the values of SETs) are most of a trace and most of the
 * time spent decompressing it (measured on the analysis benchmark's trace: 78%). */
static const char *chunk_decompress(struct trace_reader *r, const struct chunk_hdr *h)
{
    size_t zo = 0, oo = 0;
    r->ndefer = 0;
    if (r->o.lazy_args) {
        uint64_t lo = 0, hi = 0;
        for (int first = 1; zo < h->comp_size; first = 0) {
            size_t fc = ZSTD_findFrameCompressedSize(r->comp.p + zo, h->comp_size - zo);
            if (ZSTD_isError(fc))
                return ZSTD_getErrorName(fc);
            unsigned long long cs = ZSTD_getFrameContentSize(r->comp.p + zo, fc);
            if (cs == ZSTD_CONTENTSIZE_UNKNOWN || cs == ZSTD_CONTENTSIZE_ERROR ||
                cs > h->raw_size - oo)
                break; /* the rest in one call, which says what is wrong */
            if (!first && cs && oo >= lo && oo + cs <= hi && r->ndefer < TRACE_DEFER_MAX) {
                r->defer[r->ndefer++] = (struct defer){zo, fc, oo, (size_t)cs};
            } else {
                size_t got = ZSTD_decompressDCtx(r->dctx, r->raw.p + oo, (size_t)cs,
                                                 r->comp.p + zo, fc);
                if (ZSTD_isError(got))
                    return ZSTD_getErrorName(got);
                if (got != cs)
                    return "wrong size";
            }
            zo += fc;
            oo += (size_t)cs;
            if (first && argn_range(r, h, oo, &lo, &hi))
                break;
        }
        if (zo == h->comp_size && oo == h->raw_size)
            return NULL;
    }
    size_t got = ZSTD_decompressDCtx(r->dctx, r->raw.p + oo, h->raw_size - oo, r->comp.p + zo,
                                     h->comp_size - zo);
    if (ZSTD_isError(got))
        return ZSTD_getErrorName(got);
    return got == h->raw_size - oo ? NULL : "wrong size";
}

/* Loads the chunk whose header block is `b`: reads, verifies and decompresses the frame and
 * sets up the stream cursors. On a corrupt frame *next is still set past the frame.
 * @return 0, 1 for a chunk of an encoding this version does not know (*enc says which), or a
 * negative code. */
static int chunk_load(struct trace_reader *r, const struct block *b, uint64_t *next,
                      uint8_t *enc, struct rt_err *err)
{
    struct chunk_hdr h;
    chunk_hdr_parse(b->content, &h);
    r->lazy = 0;
    uint64_t foff = block_end_off(b);
    *next = foff + h.comp_size;
    *enc = h.encoding;
    if (!TRACE_ENC_KNOWN(h.encoding)) {
        /* a chunk encoding from a newer writer: skipped (and reported) */
        return 1;
    }
    if (h.raw_size > r->o.max_chunk_raw || h.events == 0 || h.events > h.raw_size ||
        h.comp_size > ZSTD_compressBound(h.raw_size) + TRACE_FRAME_SLACK) {
        rt_err_set(err, RT_ECORRUPT,
                   "%s: chunk at offset %llu has impossible sizes (%u events, %u raw, %u "
                   "compressed bytes)",
                   r->name, (unsigned long long)b->off, h.events, h.raw_size, h.comp_size);
        return RT_ECORRUPT;
    }
    if (r->seekable && foff + h.comp_size > r->size) {
        rt_err_set(err, RT_ETRUNCATED,
                   "%s: truncated at offset %llu inside the chunk at offset %llu (%llu of %u "
                   "compressed bytes present)",
                   r->name, (unsigned long long)r->size, (unsigned long long)b->off,
                   (unsigned long long)(r->size - foff), h.comp_size);
        return RT_ETRUNCATED;
    }
    r->comp.len = 0;
    if (rt_buf_reserve(&r->comp, h.comp_size ? h.comp_size : 1) ||
        rt_buf_reserve(&r->raw, h.raw_size ? h.raw_size : 1)) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory for the chunk at offset %llu", r->name,
                   (unsigned long long)b->off);
        return RT_ENOMEM;
    }
    int rc = read_exact(r, foff, r->comp.p, h.comp_size, "a chunk", err);
    if (rc)
        return rc;
    if (trace_hash(r->comp.p, h.comp_size) != h.comp_hash) {
        rt_err_set(err, RT_ECORRUPT, "%s: chunk at offset %llu fails its checksum", r->name,
                   (unsigned long long)b->off);
        return RT_ECORRUPT;
    }
    const char *why = chunk_decompress(r, &h);
    if (why) {
        rt_err_set(err, RT_ECORRUPT, "%s: chunk at offset %llu does not decompress (%s)",
                   r->name, (unsigned long long)b->off, why);
        return RT_ECORRUPT;
    }
    /* encoding 2: the preamble; then the stream directory: (id, length) pairs, then the
     * streams in that order */
    struct rt_cur d = {r->raw.p, r->raw.p + h.raw_size};
    if (TRACE_ENC_TABLES(h.encoding) && (rc = chain_check(r, b, &h, &d, err)) != 0)
        return rc;
    uint64_t n, id, len, total = 0;
    if (rt_cur_varint(&d, &n) || n > h.raw_size)
        goto bad_dir;
    struct rt_cur dir = d;
    for (uint64_t i = 0; i < n; i++) {
        if (rt_cur_varint(&d, &id) || rt_cur_varint(&d, &len) || len > h.raw_size)
            goto bad_dir;
        total += len;
    }
    if (total != (uint64_t)(d.end - d.p))
        goto bad_dir;
    memset(r->c, 0, sizeof r->c);
    const uint8_t *p = d.p;
    for (uint64_t i = 0; i < n; i++) {
        rt_cur_varint(&dir, &id);
        rt_cur_varint(&dir, &len);
        int s = stream_slot_of(id);
        if (s >= 0) { /* unknown ids are stepped over */
            if (r->c[s].p)
                goto bad_dir; /* the same stream twice */
            r->c[s] = (struct rt_cur){p, p + len};
        }
        p += len;
    }
    r->chunk_off = b->off;
    r->enc = h.encoding;
    /* frames left compressed (inside 0x37, where argn_range() found it by the directory
     * checked above): requests get their arguments 2.. without bytes until they are needed */
    r->lazy = r->ndefer > 0;
    if (r->lazy) {
        r->argn_base = r->c[W_REQ_ARGN].p;
        r->argn_len = (size_t)(r->c[W_REQ_ARGN].end - r->c[W_REQ_ARGN].p);
        r->argn_off = r->argn_req = 0;
    }
    prefetch_start(r);
    r->chunk_events = r->left = h.events;
    r->prev_ts = h.ts_min;
    r->prev_conn = 0;
    r->req_next = h.req_base;
    r->rtot.chunks++;
    r->rtot.raw_bytes += h.raw_size;
    r->rtot.compressed_bytes += h.comp_size;
    return 0;
bad_dir:
    rt_err_set(err, RT_ECORRUPT, "%s: chunk at offset %llu has a corrupt stream directory",
               r->name, (unsigned long long)b->off);
    return RT_ECORRUPT;
}

/* ---- events ---- */

static const char *slot_name(int s)
{
    static const char *const fixed[W_REPLY] = {
        "type",      "ts",       "conn",       "open.flags", "open.addr",
        "close",     "req.db",   "req.proto",  "req.flags",  "req.argc",
        "req.arg0",  "req.arg1",  "req.arglen", "req.argn",  "req.arg0.ref", "req.arg1.ref",
        "ts.lo"};
    if (s < W_REPLY)
        return fixed[s];
    if (s < W_PUSH)
        return "reply";
    if (s < W_GAP)
        return "push";
    return s == W_GAP ? "gap" : s == W_STATS ? "stats" : "note";
}

#define RV(slot, out)                                                                     \
    do {                                                                                  \
        if (rt_cur_varint(&r->c[slot], (out))) {                                          \
            bad = (slot);                                                                 \
            goto corrupt;                                                                 \
        }                                                                                 \
    } while (0)
#define R8(slot, out)                                                                     \
    do {                                                                                  \
        if (rt_cur_u8(&r->c[slot], (out))) {                                              \
            bad = (slot);                                                                 \
            goto corrupt;                                                                 \
        }                                                                                 \
    } while (0)
#define RB(slot, n, out)                                                                  \
    do {                                                                                  \
        if (rt_cur_bytes(&r->c[slot], (n), (out))) {                                      \
            bad = (slot);                                                                 \
            goto corrupt;                                                                 \
        }                                                                                 \
    } while (0)

static int decode_addr(struct trace_reader *r, struct trace_addr *a)
{
    uint8_t fam;
    const uint8_t *p;
    if (rt_cur_u8(&r->c[W_OPEN_ADDR], &fam) || (fam != 0 && fam != 4 && fam != 6))
        return -1;
    size_t alen = fam == 4 ? 4 : fam == 6 ? 16 : 0;
    memset(a, 0, sizeof *a);
    a->family = fam;
    if (rt_cur_bytes(&r->c[W_OPEN_ADDR], alen + 2, &p))
        return -1;
    memcpy(a->addr, p, alen);
    a->port = rt_rd16(p + alen);
    return 0;
}

/* Encoding 2: argument 0 or 1 from its reference (TRACE_REF_*). @return 0, RT_ENOMEM, or 1
 * with *bad naming the stream that is short or wrong. */
static int decode_arg_ref(struct trace_reader *r, int t, const char **p, size_t *len, int *bad)
{
    int ref_slot = t == TAB_ARG0 ? W_REQ_ARG0_REF : W_REQ_ARG1_REF;
    int slot = t == TAB_ARG0 ? W_REQ_ARG0 : W_REQ_ARG1;
    struct str_tab *tab = &r->tab[t];
    uint64_t ref, v;
    const uint8_t *b;
    *bad = ref_slot;
    if (rt_cur_varint(&r->c[ref_slot], &ref))
        return 1;
    if (t == TAB_ARG1)
        prefetch_ref(r, 0);
    if (ref >= TRACE_REF_ENTRY) {
        if (ref - TRACE_REF_ENTRY >= tab->n)
            return 1;
        *p = (const char *)str_tab_get(tab, (uint32_t)(ref - TRACE_REF_ENTRY), len);
        return 0;
    }
    *bad = slot;
    if (rt_cur_varint(&r->c[slot], &v) ||
        rt_cur_bytes(&r->c[slot], (size_t)(v > SIZE_MAX ? SIZE_MAX : v), &b))
        return 1;
    *p = (const char *)b; /* the chunk's copy: it stays put while the table grows */
    *len = (size_t)v;
    if (ref == TRACE_REF_ADD) {
        *bad = ref_slot;
        int rc = str_tab_add(tab, b, (size_t)v, 0, 0);
        if (rc == -1)
            return RT_ENOMEM;
        if (rc)
            return 1; /* past a table limit */
    }
    return 0;
}

static int decode_one(struct trace_reader *r, struct trace_event *ev, struct rt_err *err)
{
    int bad = W_TYPE;
    uint64_t v, dts, dconn;
    uint8_t type;
    R8(W_TYPE, &type);
    if (TRACE_ENC_TABLES(r->enc)) {
        /* the noisy low byte of a nanosecond delta is kept apart from the rest */
        uint8_t lo;
        R8(W_TS_LO, &lo);
        RV(W_TS, &dts);
        dts = dts << 8 | lo;
    } else {
        RV(W_TS, &dts);
    }
    RV(W_CONN, &dconn);
    /* a request sets every field of its part of the event and a reply by reference every one
     * but the four it zeroes: only the other kinds start from a zeroed event (half the events
     * are requests, and the memset was a tenth of the decoder) */
    if (type != TRACE_EV_REQUEST && type != TRACE_EV_REPLY)
        memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->ts = r->prev_ts + (uint64_t)rt_unzigzag(dts);
    ev->conn = r->prev_conn + (uint64_t)rt_unzigzag(dconn);
    r->prev_ts = ev->ts;
    r->prev_conn = ev->conn;
    switch (type) {
    case TRACE_EV_CONN_OPEN:
        RV(W_OPEN_FLAGS, &v);
        ev->u.open.flags = (uint32_t)v;
        if (decode_addr(r, &ev->u.open.client) || decode_addr(r, &ev->u.open.server)) {
            bad = W_OPEN_ADDR;
            goto corrupt;
        }
        break;
    case TRACE_EV_CONN_CLOSE:
        RV(W_CLOSE, &v);
        ev->u.close.reason = (uint32_t)v;
        break;
    case TRACE_EV_REQUEST: {
        struct trace_request *q = &ev->u.req;
        uint64_t argc;
        RV(W_REQ_DB, &v);
        q->db = (uint32_t)v;
        R8(W_REQ_PROTO, &q->proto);
        RV(W_REQ_FLAGS, &v);
        q->flags = (uint32_t)v;
        RV(W_REQ_ARGC, &argc);
        /* every argument has at least one length byte: caps argc before allocating. The
         * argument table costs 16 bytes an argument, so it is also held to the chunk limit
         * the caller chose, or one byte of a chunk could cost 16 of memory. */
        if (argc == 0 ||
            (argc > r->argcap && /* (within the tables already allocated, the reads below
                                  * find a short stream themselves) */
             argc > (uint64_t)(r->c[W_REQ_ARG0].end - r->c[W_REQ_ARG0].p) +
                       (uint64_t)(r->c[W_REQ_ARG1].end - r->c[W_REQ_ARG1].p) +
                       (uint64_t)(r->c[W_REQ_ARGN].end - r->c[W_REQ_ARGN].p) +
                       (uint64_t)(r->c[W_REQ_ARGLEN].end - r->c[W_REQ_ARGLEN].p) +
                       (uint64_t)(r->c[W_REQ_ARG0_REF].end - r->c[W_REQ_ARG0_REF].p) +
                       (uint64_t)(r->c[W_REQ_ARG1_REF].end - r->c[W_REQ_ARG1_REF].p)) ||
            argc > r->o.max_chunk_raw / (sizeof *r->argv + sizeof *r->argvlen)) {
            bad = W_REQ_ARGC;
            goto corrupt;
        }
        if (argc > r->argcap) {
            size_t cap = r->argcap ? r->argcap : 16;
            while (cap < argc)
                cap *= 2;
            const char **a = realloc(r->argv, cap * sizeof *a);
            if (a)
                r->argv = a;
            size_t *l = a ? realloc(r->argvlen, cap * sizeof *l) : NULL;
            if (!a || !l) {
                rt_err_set(err, RT_ENOMEM, "%s: out of memory for %llu arguments", r->name,
                           (unsigned long long)argc);
                return RT_ENOMEM;
            }
            r->argvlen = l;
            r->argcap = cap;
        }
        uint64_t i = 0;
        if (TRACE_ENC_TABLES(r->enc)) {
            for (; i < argc && i < 2; i++) {
                int rc = decode_arg_ref(r, i == 0 ? TAB_ARG0 : TAB_ARG1, &r->argv[i],
                                        &r->argvlen[i], &bad);
                if (rc == RT_ENOMEM) {
                    rt_err_set(err, RT_ENOMEM, "%s: out of memory for the chunk at offset %llu",
                               r->name, (unsigned long long)r->chunk_off);
                    return RT_ENOMEM;
                }
                if (rc)
                    goto corrupt;
            }
        }
        if (r->enc == TRACE_CHUNK_ENCODING_3) {
            /* arguments 2..: lengths in 0x3a, bytes in 0x37; while the bytes are still
             * compressed (r->lazy), argv[i] is NULL and only the lengths are checked against
             * what 0x37 holds, until trace_reader_load_args() */
            r->argn_req = r->argn_off;
            for (; i < argc; i++) {
                RV(W_REQ_ARGLEN, &v);
                if (r->lazy) {
                    if (v > r->argn_len - r->argn_off) {
                        bad = W_REQ_ARGN;
                        goto corrupt;
                    }
                    r->argn_off += (size_t)v;
                    r->argv[i] = NULL;
                } else {
                    const uint8_t *p;
                    RB(W_REQ_ARGN, (size_t)(v > SIZE_MAX ? SIZE_MAX : v), &p);
                    r->argv[i] = (const char *)p;
                }
                r->argvlen[i] = (size_t)v;
            }
        }
        for (; i < argc; i++) {
            int slot = i == 0 ? W_REQ_ARG0 : i == 1 ? W_REQ_ARG1 : W_REQ_ARGN;
            const uint8_t *p;
            RV(slot, &v);
            RB(slot, (size_t)(v > SIZE_MAX ? SIZE_MAX : v), &p);
            r->argv[i] = (const char *)p;
            r->argvlen[i] = (size_t)v;
        }
        q->argc = (uint32_t)argc;
        q->argv = r->argv;
        q->argvlen = r->argvlen;
        q->seq = r->req_next++;
        break;
    }
    case TRACE_EV_REPLY:
    case TRACE_EV_PUSH: {
        struct trace_reply *p = &ev->u.reply;
        p->err = NULL;
        p->errlen = 0;
        p->payload = NULL;
        p->payload_len = 0;
        int base = type == TRACE_EV_REPLY ? W_REPLY : W_PUSH;
        uint64_t back = 0, errlen, ref = TRACE_REF_LITERAL;
        if (type == TRACE_EV_REPLY)
            RV(base + S_R_BACK, &back);
        if (back > r->req_next) {
            bad = base + S_R_BACK;
            goto corrupt;
        }
        p->req_seq = back ? r->req_next - back : TRACE_SEQ_NONE;
        if (type == TRACE_EV_REPLY && TRACE_ENC_TABLES(r->enc)) {
            RV(base + S_R_REF, &ref);
            prefetch_ref(r, 1);
            if (ref >= TRACE_REF_ENTRY) {
                if (ref - TRACE_REF_ENTRY >= r->rtab.n) {
                    bad = base + S_R_REF;
                    goto corrupt;
                }
                const struct reply_desc *d = &r->rtab.d[ref - TRACE_REF_ENTRY];
                p->rtype = d->rtype;
                p->flags = d->flags;
                p->len = d->len;
                p->count = d->count;
                p->size = d->size;
                p->ival = d->ival;
                p->hash = d->hash;
                break;
            }
        }
        R8(base + S_R_TYPE, &p->rtype);
        RV(base + S_R_FLAGS, &v);
        p->flags = (uint32_t)v;
        RV(base + S_R_LEN, &p->len);
        RV(base + S_R_COUNT, &p->count);
        RV(base + S_R_SIZE, &p->size);
        RV(base + S_R_IVAL, &v);
        p->ival = rt_unzigzag(v);
        RV(base + S_R_ERRLEN, &errlen);
        if (errlen) {
            const uint8_t *e;
            RB(base + S_R_ERR, (size_t)(errlen > SIZE_MAX ? SIZE_MAX : errlen), &e);
            p->err = (const char *)e;
            p->errlen = (size_t)errlen;
        }
        p->hash = 0;
        if (p->flags & TRACE_REPLY_HAS_HASH) {
            const uint8_t *h;
            RB(base + S_R_HASH, 8, &h);
            p->hash = rt_rd64(h);
        }
        if (p->flags & TRACE_REPLY_HAS_PAYLOAD) {
            RV(base + S_R_PAYLEN, &v);
            RB(base + S_R_PAYLOAD, (size_t)(v > SIZE_MAX ? SIZE_MAX : v), &p->payload);
            p->payload_len = (size_t)v;
        }
        if (ref == TRACE_REF_ADD) {
            /* only a reply without error text or payload is an entry */
            struct reply_desc d = {p->len, p->count, p->size, p->hash, p->ival, p->flags,
                                   p->rtype};
            int rc = p->errlen || (p->flags & TRACE_REPLY_HAS_PAYLOAD)
                         ? -2
                         : desc_tab_add(&r->rtab, &d, 0, 0);
            if (rc == -1) {
                rt_err_set(err, RT_ENOMEM, "%s: out of memory for the chunk at offset %llu",
                           r->name, (unsigned long long)r->chunk_off);
                return RT_ENOMEM;
            }
            if (rc) {
                bad = base + S_R_REF;
                goto corrupt;
            }
        }
        break;
    }
    case TRACE_EV_GAP:
        R8(W_GAP, &ev->u.gap.dir);
        RV(W_GAP, &ev->u.gap.bytes);
        break;
    case TRACE_EV_STATS: {
        struct trace_stats *s = &ev->u.stats;
        RV(W_STATS, &s->packets);
        RV(W_STATS, &s->bytes);
        RV(W_STATS, &s->kernel_drops);
        RV(W_STATS, &s->iface_drops);
        RV(W_STATS, &s->flows_dropped);
        RV(W_STATS, &s->bytes_dropped);
        break;
    }
    case TRACE_EV_NOTE: {
        const uint8_t *t;
        R8(W_NOTE, &ev->u.note.dir);
        RV(W_NOTE, &v);
        ev->u.note.code = (uint32_t)v;
        RV(W_NOTE, &v);
        RB(W_NOTE_TEXT, (size_t)(v > SIZE_MAX ? SIZE_MAX : v), &t);
        ev->u.note.text = (const char *)t;
        ev->u.note.len = (size_t)v;
        break;
    }
    default:
        /* an event type from a newer writer: its own streams are unknown here; only the
         * common fields were consumed */
        break;
    }
    return 0;
corrupt:
    rt_err_set(err, RT_ECORRUPT,
               "%s: chunk at offset %llu: event %u of %u: stream %s ends early or holds a bad "
               "value",
               r->name, (unsigned long long)r->chunk_off, r->chunk_events - r->left + 1,
               r->chunk_events, slot_name(bad));
    return RT_ECORRUPT;
}

/* Scans forward from `from` for the next block with a valid check (salvage). */
#define TRACE_RESYNC_MAX_BLOCK 4096u
static int resync(struct trace_reader *r, uint64_t from, uint64_t *found)
{
    if (!r->seekable)
        return -1;
    uint8_t win[65536 + 3];
    uint64_t off = from;
    while (off < r->size) {
        ssize_t k = src_read(r, off, win, sizeof win);
        if (k < 4)
            return -1;
        for (ssize_t i = 0; i + 4 <= k; i++) {
            if (rt_rd32(win + i) != TRACE_BLOCK_MAGIC)
                continue;
            /* verifying a candidate costs its size: a big one at every magic would make the
             * scan quadratic, so only small blocks (chunk headers) end the damage */
            if (i + TRACE_ENVELOPE <= k && rt_rd32(win + i + 4) > TRACE_RESYNC_MAX_BLOCK)
                continue;
            struct block b;
            struct rt_err e;
            if (block_read(r, off + (uint64_t)i, &b, &e) == 1 && b.content) {
                *found = off + (uint64_t)i;
                return 0;
            }
        }
        off += (uint64_t)k - 3;
    }
    return -1;
}

/* A chunk of an encoding this version does not know (a newer writer's) is skipped, whatever
 * the salvage option, and reported like damage: the trace was not read in full. */
static void unknown_encoding(struct trace_reader *r, const struct block *b, uint8_t enc,
                             uint64_t next)
{
    if (r->dmg.first_offset == UINT64_MAX)
        snprintf(r->dmg.msg, sizeof r->dmg.msg,
                 "%s: chunk at offset %llu has encoding %u, which this version of resptrace "
                 "does not read (a newer one wrote it): skipped",
                 r->name, (unsigned long long)b->off, enc);
    note_damage(r, b->off);
    if (r->dmg.unknown_offset == UINT64_MAX)
        r->dmg.unknown_offset = b->off;
    r->dmg.chunks_unknown++;
    r->rtot.chunks_unknown++;
    r->dmg.chunks_skipped++;
    r->dmg.bytes_skipped += next - b->off;
}

/* Handles a damaged block at r->pos. With salvage it moves r->pos past the damage and
 * returns 0; without, it returns the error. */
static int damaged(struct trace_reader *r, int rc, uint64_t skip_to, struct rt_err *err)
{
    if (r->dmg.first_offset == UINT64_MAX && err)
        memcpy(r->dmg.msg, err->msg, sizeof r->dmg.msg);
    note_damage(r, r->pos);
    if (!r->o.salvage || rc == RT_EIO || rc == RT_ENOMEM)
        return rc;
    uint64_t next = skip_to;
    if (next <= r->pos || (r->seekable && next > r->size)) {
        if (resync(r, r->pos + 1, &next) != 0) {
            r->dmg.bytes_skipped += (r->size > r->pos ? r->size - r->pos : 0);
            r->dmg.chunks_skipped++;
            r->pos = r->size;
            r->done = 1;
            return rc == RT_ETRUNCATED ? rc : 0;
        }
    }
    r->dmg.chunks_skipped++;
    r->dmg.bytes_skipped += next - r->pos;
    r->pos = next;
    return 0;
}

/* The bytes a chunk left compressed are damaged: none of its events more; salvaging, it
 * counts as a damaged chunk. */
static int load_failed(struct trace_reader *r, struct rt_err *err)
{
    r->left = 0;
    r->ndefer = 0;
    if (!r->o.salvage)
        return RT_ECORRUPT;
    if (r->dmg.first_offset == UINT64_MAX)
        memcpy(r->dmg.msg, err->msg, sizeof r->dmg.msg);
    note_damage(r, r->chunk_off);
    r->dmg.chunks_skipped++;
    return 1;
}

int trace_reader_load_args(struct trace_reader *r, const struct trace_event *ev,
                           struct rt_err *err)
{
    struct rt_err own;
    if (!err)
        err = &own;
    if (!r->lazy)
        return 0;
    r->lazy = 0;
    for (int k = 0; k < r->ndefer; k++) {
        const struct defer *f = &r->defer[k];
        size_t got = ZSTD_decompressDCtx(r->dctx, r->raw.p + f->off, f->len, r->comp.p + f->zoff,
                                         f->zlen);
        if (ZSTD_isError(got) || got != f->len) {
            rt_err_set(err, RT_ECORRUPT, "%s: chunk at offset %llu does not decompress (%s)",
                       r->name, (unsigned long long)r->chunk_off,
                       ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
            return load_failed(r, err);
        }
    }
    r->ndefer = 0;
    r->c[W_REQ_ARGN].p = r->argn_base + r->argn_off;
    /* the request just returned */
    if (ev && ev->type == TRACE_EV_REQUEST && ev->u.req.argc > 2 && !r->argv[2]) {
        const uint8_t *p = r->argn_base + r->argn_req;
        for (uint32_t i = 2; i < ev->u.req.argc; i++) {
            r->argv[i] = (const char *)p;
            p += r->argvlen[i];
        }
    }
    return 0;
}

int trace_reader_next(struct trace_reader *r, struct trace_event *ev, struct rt_err *err)
{
    /* salvage copies the message into the damage report, so it needs one even when the
     * caller does not ask for it */
    struct rt_err own;
    if (!err)
        err = &own;
    for (;;) {
        while (r->left) {
            int rc = decode_one(r, ev, err);
            r->left--;
            if (rc) {
                if (rc == RT_ECORRUPT && r->o.salvage) {
                    if (r->dmg.first_offset == UINT64_MAX)
                        memcpy(r->dmg.msg, err->msg, sizeof r->dmg.msg);
                    note_damage(r, r->chunk_off);
                    r->dmg.chunks_skipped++;
                    r->left = 0;
                    break;
                }
                r->left = 0;
                return rc;
            }
            if (ev->type > TRACE_EV_MAX_KNOWN || ev->type == 0) {
                r->rtot.by_type[0]++;
                continue;
            }
            r->rtot.events++;
            r->rtot.by_type[ev->type]++;
            if (ev->type >= TRACE_EV_GAP) { /* (one test for the common kinds) */
                if (ev->type == TRACE_EV_GAP)
                    r->rtot.gap_bytes[ev->u.gap.dir ? 1 : 0] += ev->u.gap.bytes;
                else if (ev->type == TRACE_EV_STATS)
                    r->rtot.stats = ev->u.stats;
            }
            if (r->rtot.events == 1 || ev->ts < r->rtot.ts_min)
                r->rtot.ts_min = ev->ts;
            if (ev->ts > r->rtot.ts_max)
                r->rtot.ts_max = ev->ts;
            if (ev->ts < r->skip_before)
                continue;
            return 1;
        }
        if (r->done)
            return 0;
        struct block b;
        int rc;
        if (r->has_ahead) {
            r->has_ahead = 0;
            rc = r->ahead_rc;
            b = r->ahead;
            if (rc < 0)
                *err = r->ahead_err;
        } else {
            rc = block_read(r, r->pos, &b, err);
        }
        if (rc == 0) {
            r->done = 1;
            rt_err_set(err, RT_ETRUNCATED,
                       "%s: ends at offset %llu without an index: the writer did not close "
                       "it (%llu complete chunks read)",
                       r->name, (unsigned long long)r->pos,
                       (unsigned long long)r->rtot.chunks);
            note_damage(r, r->pos);
            return RT_ETRUNCATED;
        }
        if (rc < 0) {
            rc = damaged(r, rc, 0, err);
            if (rc)
                return rc;
            continue;
        }
        switch (b.type) {
        case TRACE_BLK_CHUNK: {
            uint64_t next = 0;
            uint8_t enc = 0;
            rc = chunk_load(r, &b, &next, &enc, err);
            if (rc < 0) {
                rc = damaged(r, rc, rc == RT_ETRUNCATED ? 0 : next, err);
                if (rc)
                    return rc;
                continue;
            }
            if (rc == 1)
                unknown_encoding(r, &b, enc, next);
            r->pos = next;
            break;
        }
        case TRACE_BLK_META:
            rc = parse_meta(r, b.content + 1, b.size - 5, b.off, err);
            if (rc) {
                rc = damaged(r, rc, block_end_off(&b), err);
                if (rc)
                    return rc;
                continue;
            }
            r->pos = block_end_off(&b);
            break;
        case TRACE_BLK_INDEX:
            r->done = 1;
            r->pos = block_end_off(&b);
            break;
        case TRACE_BLK_HEADER:
            rt_err_set(err, RT_ECORRUPT, "%s: second file header at offset %llu", r->name,
                       (unsigned long long)b.off);
            rc = damaged(r, RT_ECORRUPT, block_end_off(&b), err);
            if (rc)
                return rc;
            break;
        default: /* unknown block type: skipped */
            r->pos = block_end_off(&b);
            break;
        }
    }
}

/* ---- seeking ---- */

/* Builds the chunk list by walking block headers, for files without an index. */
static int scan_chunks(struct trace_reader *r, struct rt_err *err)
{
    uint64_t off = r->first_block;
    size_t cap = 0;
    free(r->idx);
    r->idx = NULL;
    r->nidx = 0;
    for (;;) {
        struct block b;
        struct rt_err e = {0};
        int rc = block_read(r, off, &b, &e);
        if (rc <= 0)
            break; /* the end, or damage: seek among what came before it */
        if (b.type == TRACE_BLK_INDEX)
            break;
        uint64_t next = block_end_off(&b);
        if (b.type == TRACE_BLK_CHUNK) {
            struct chunk_hdr h;
            chunk_hdr_parse(b.content, &h);
            next += h.comp_size;
            if (r->nidx == cap) {
                cap = cap ? cap * 2 : 64;
                struct index_entry *p = realloc(r->idx, cap * sizeof *p);
                if (!p) {
                    rt_err_set(err, RT_ENOMEM, "%s: out of memory", r->name);
                    return RT_ENOMEM;
                }
                r->idx = p;
            }
            r->idx[r->nidx++] =
                (struct index_entry){b.off, h.ts_min, h.ts_max, h.req_base, h.events};
        }
        off = next;
    }
    return 0;
}

/* Encoding 2: the first chunk of the chain that chunk i belongs to (a chunk whose header says
 * it depends on the one before it is decoded after that one). Reads chunk headers only. */
static size_t chain_start(struct trace_reader *r, size_t i)
{
    while (i > 0) {
        struct block b;
        struct rt_err e;
        struct chunk_hdr h;
        if (block_read(r, r->idx[i].offset, &b, &e) != 1 || b.type != TRACE_BLK_CHUNK)
            break; /* damage: reading from here reports it */
        chunk_hdr_parse(b.content, &h);
        if (!TRACE_ENC_TABLES(h.encoding) || !(h.flags & TRACE_CHUNK_DEPENDS))
            break;
        i--;
    }
    return i;
}

int trace_reader_seek_time(struct trace_reader *r, uint64_t ts, struct rt_err *err)
{
    if (!r->seekable) {
        rt_err_set(err, RT_EINVAL, "%s: cannot seek in a pipe", r->name);
        return RT_EINVAL;
    }
    if (!r->has_index) {
        int rc = scan_chunks(r, err);
        if (rc)
            return rc;
    }
    size_t i = 0;
    while (i < r->nidx && r->idx[i].ts_max < ts)
        i++;
    r->left = 0;
    r->lazy = 0;
    r->skip_before = ts;
    if (i == r->nidx) {
        /* past the last event: the next read reports the end as a sequential read would */
        r->pos = r->nidx ? r->idx[r->nidx - 1].offset : r->first_block;
        if (r->nidx) {
            struct block b;
            if (block_read(r, r->pos, &b, err) == 1 && b.type == TRACE_BLK_CHUNK) {
                struct chunk_hdr h;
                chunk_hdr_parse(b.content, &h);
                r->pos = block_end_off(&b) + h.comp_size;
            }
        }
        r->done = 0;
        return 0;
    }
    /* the chunks of its chain before it are read too (their events are before ts) */
    r->pos = r->idx[chain_start(r, i)].offset;
    r->chain_ok = 0;
    r->done = 0;
    return 0;
}

/* ---- accessors ---- */

const struct trace_meta_kv *trace_reader_meta(const struct trace_reader *r, size_t *n)
{
    *n = r->nmeta;
    return r->meta;
}

const char *trace_reader_meta_get(const struct trace_reader *r, const char *key, size_t *vlen)
{
    for (size_t i = 0; i < r->nmeta; i++)
        if (strcmp(r->meta[i].key, key) == 0) {
            if (vlen)
                *vlen = r->meta[i].vlen;
            return r->meta[i].val;
        }
    return NULL;
}

int trace_reader_has_index(const struct trace_reader *r)
{
    return r->has_index;
}

void trace_reader_totals(const struct trace_reader *r, struct trace_totals *t)
{
    *t = r->has_index ? r->itot : r->rtot;
}

void trace_reader_version(const struct trace_reader *r, unsigned *major, unsigned *minor)
{
    *major = r->major;
    *minor = r->minor;
}

uint64_t trace_reader_file_size(const struct trace_reader *r)
{
    return r->size;
}

uint64_t trace_reader_offset(const struct trace_reader *r)
{
    return r->pos;
}

void trace_reader_damage(const struct trace_reader *r, struct trace_damage *d)
{
    *d = r->dmg;
}

void trace_reader_close(struct trace_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; i < r->nmeta; i++) {
        free((char *)r->meta[i].key);
        free((char *)r->meta[i].val);
    }
    free(r->meta);
    free(r->mslot);
    free(r->idx);
    rt_buf_free(&r->comp);
    rt_buf_free(&r->raw);
    rt_buf_free(&r->blk);
    str_tab_free(&r->tab[TAB_ARG0]);
    str_tab_free(&r->tab[TAB_ARG1]);
    desc_tab_free(&r->rtab);
    ZSTD_freeDCtx(r->dctx);
    free(r->argv);
    free(r->argvlen);
    free(r->name);
    free(r);
}
