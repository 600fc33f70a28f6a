/* writer.c: streaming trace writer: events into columnar streams, chunks into zstd frames. */
#include "format_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

struct index_entry {
    uint64_t offset, ts_min, ts_max, req_base;
    uint32_t events;
};

/* A chunk as the caller fills it, and as the emitter compresses and writes it. */
struct chunk {
    struct rt_buf s[W_NSTREAMS];
    struct rt_buf pre;  /* encoding 2: the preamble, built by the emitter */
    struct rt_buf dir;  /* the stream directory, built when the chunk is sealed */
    struct rt_buf meta; /* metadata blocks to write before the chunk (or alone) */
    size_t raw;         /* bytes in s[]; once sealed, the whole raw payload (dir included) */
    uint32_t events;
    uint64_t ts_min, ts_max, req_base;
    uint32_t req_count; /* set when sealed */
    int chain_first;    /* encoding 2: the chunk starts a chain (the tables start empty) */
    uint32_t tab_start[TRACE_NTABLES]; /* encoding 2: table entries before the chunk */
};

/* Who owns what. The caller (the thread calling trace_writer_*) owns `cur` and the event
 * state; the emitter owns `busy`, `cctx`, `out`, `off`, the index and the chunk totals. The
 * emitter is the background thread while one runs (o.synchronous == 0), else the caller.
 * `busy` changes hands under `mu` (`job`): the caller only touches it, or the emitter's
 * fields, while `job` is 0; the thread only while it is 1. When the thread fails it stores
 * its message in `terr`, then its code in `tcode` (release); the caller reports it once. */
struct trace_writer {
    int fd;
    int regular;   /* fd is a regular file: a failed write is cut back to a block boundary */
    uint64_t base; /* the file offset at which the writer began */
    int failed; /* the caller's: after an error the writer only closes */
    char *name;
    struct trace_writer_opts o;

    /* the caller's */
    struct chunk cur; /* the open chunk */
    uint64_t prev_ts, prev_conn;
    uint64_t ts_first;    /* the first event's ts: its delta is patched in when sealed */
    uint64_t opened_wall; /* wall clock when the chunk got its first event */
    uint64_t req_next;    /* seq of the next request */
    /* encoding 2: the tables of the current chain, and how much it holds */
    struct str_tab tab[2]; /* TAB_ARG0, TAB_ARG1 */
    struct desc_tab rtab;
    uint64_t chain_raw;
    uint32_t chain_chunks;
    /* tot.by_type, gap_bytes and stats are the caller's; events, chunks, raw_bytes,
     * compressed_bytes, ts_min and ts_max the emitter's (distinct members: no race) */
    struct trace_totals tot;

    /* the emitter's */
    ZSTD_CCtx *cctx;
    uint64_t off; /* bytes written to the file */
    uint64_t chain_seq; /* encoding 2: the last chunk's position in its chain */
    uint32_t chain_id;  /* encoding 2: the low 32 bits of the chain's first comp_hash */
    struct rt_buf out;
    struct index_entry *idx;
    size_t nidx, capidx;

    /* the background thread */
    int threaded; /* hand sealed chunks to the thread (started on the first one) */
    int started;
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_idle;
    int job;  /* under mu: 1 from the hand-over of `busy` until the thread is done with it */
    int stop; /* under mu: the thread exits once idle */
    struct chunk busy;
    atomic_int tcode;
    struct rt_err terr;
};

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A write failed (a full disk, a file size limit, an I/O error) `done` bytes into a block that
 * starts at w->off. Every block before it is complete, and the format is readable up to its
 * last complete chunk, so the message says how much that is; the partial block is cut off
 * (a regular file only) so that the file ends at a block boundary, as a killed writer's does. */
static void write_failed(struct trace_writer *w, size_t done, int e, struct rt_err *err)
{
    if (w->regular && ftruncate(w->fd, (off_t)(w->base + w->off)) != 0) {
        /* not fatal: a reader stops at the cut block and says where */
    }
    rt_err_set(err, RT_EIO,
               "%s: write failed at offset %llu: %s; the trace is cut there: its first %llu "
               "chunks (%llu events, %llu bytes) are readable",
               w->name, (unsigned long long)(w->off + done), strerror(e),
               (unsigned long long)w->tot.chunks, (unsigned long long)w->tot.events,
               (unsigned long long)w->off);
}

static int write_all(struct trace_writer *w, const struct iovec *iov, int n, struct rt_err *err)
{
    struct iovec v[4];
    size_t total = 0;
    memcpy(v, iov, sizeof(*iov) * (size_t)n);
    for (int i = 0; i < n; i++)
        total += v[i].iov_len;
    int i = 0;
    size_t done = 0;
    while (done < total) {
        ssize_t k = writev(w->fd, v + i, n - i);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            write_failed(w, done, errno, err);
            return RT_EIO;
        }
        done += (size_t)k;
        while (i < n && (size_t)k >= v[i].iov_len) {
            k -= (ssize_t)v[i].iov_len;
            i++;
        }
        if (i < n) {
            v[i].iov_base = (char *)v[i].iov_base + k;
            v[i].iov_len -= (size_t)k;
        }
    }
    w->off += total;
    return 0;
}

/* Starts a block in `b`: envelope with the size patched by block_end(), then the type byte. */
static int block_begin(struct rt_buf *b, uint8_t type)
{
    b->len = 0;
    if (rt_buf_reserve(b, 64))
        return -1;
    rt_le32(b->p, TRACE_BLOCK_MAGIC);
    b->len = TRACE_ENVELOPE;
    rt_put_u8_unchecked(b, type);
    return 0;
}

/* Appends the check over the content and patches the envelope size. */
static int block_end(struct rt_buf *b)
{
    if (rt_buf_reserve(b, 4))
        return -1;
    uint32_t c = rt_check32(b->p + TRACE_ENVELOPE, b->len - TRACE_ENVELOPE);
    rt_le32(b->p + b->len, c);
    b->len += 4;
    rt_le32(b->p + 4, (uint32_t)(b->len - TRACE_ENVELOPE));
    return 0;
}

static int encode_meta(struct rt_buf *b, const struct trace_meta_kv *meta, size_t n)
{
    if (n > TRACE_MAX_META_KEYS)
        return -2; /* a reader would refuse the block */
    if (block_begin(b, TRACE_BLK_META) || rt_put_varint(b, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t klen = strlen(meta[i].key);
        if (rt_put_varint(b, klen) || rt_put_bytes(b, meta[i].key, klen) ||
            rt_put_varint(b, meta[i].vlen) || rt_put_bytes(b, meta[i].val, meta[i].vlen))
            return -1;
    }
    if (b->len > TRACE_MAX_META_BLOCK)
        return -2;
    return block_end(b);
}

static int write_buf(struct trace_writer *w, const struct rt_buf *b, struct rt_err *err)
{
    struct iovec v = {b->p, b->len};
    return write_all(w, &v, 1, err);
}

struct trace_writer *trace_writer_open_fd(int fd, const char *name,
                                          const struct trace_meta_kv *meta, size_t nmeta,
                                          const struct trace_writer_opts *opts,
                                          struct rt_err *err)
{
    struct trace_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->name = strdup(name ? name : "(trace)")) || !(w->cctx = ZSTD_createCCtx())) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", name ? name : "(trace)");
        goto fail;
    }
    w->fd = fd;
    struct stat st;
    off_t at = lseek(fd, 0, SEEK_CUR);
    w->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && at >= 0;
    w->base = w->regular ? (uint64_t)at : 0;
    atomic_init(&w->tcode, 0);
    if (opts)
        w->o = *opts;
    if (w->o.level == 0)
        w->o.level = 3;
    if (w->o.chunk_bytes == 0)
        w->o.chunk_bytes = 8u << 20;
    if (w->o.chunk_bytes > (64u << 20))
        w->o.chunk_bytes = 64u << 20;
    if (w->o.chunk_ns == 0)
        w->o.chunk_ns = 1000000000u;
    if (w->o.chunk_events == 0)
        w->o.chunk_events = 1u << 20;
    if (w->o.encoding == 0)
        w->o.encoding = TRACE_CHUNK_ENCODING_MAX;
    if (!TRACE_ENC_KNOWN(w->o.encoding)) {
        rt_err_set(err, RT_EINVAL, "%s: no chunk encoding %d (1, 2 or 3)", w->name,
                   w->o.encoding);
        goto fail;
    }
    if (w->o.chain_bytes == 0)
        w->o.chain_bytes = TRACE_CHAIN_BYTES;
    if (w->o.chain_chunks == 0)
        w->o.chain_chunks = TRACE_CHAIN_CHUNKS;
    w->threaded = !w->o.synchronous;
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->o.level);
    /* a window that spans the whole chunk: keys repeat across all of it, and a chunk is
     * decompressed in one piece anyway, so the window costs the reader nothing extra */
    int wlog = 10;
    while (wlog < 27 && ((size_t)1 << wlog) < w->o.chunk_bytes)
        wlog++;
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, wlog);

    /* the file header */
    struct rt_buf *b = &w->out;
    if (block_begin(b, TRACE_BLK_HEADER)) {
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", w->name);
        goto fail;
    }
    uint8_t *p = b->p + b->len;
    memcpy(p, TRACE_FILE_MAGIC, 8);
    rt_le16(p + 8, TRACE_FORMAT_MAJOR);
    rt_le16(p + 10, TRACE_FORMAT_MINOR);
    rt_le32(p + 12, 0);
    rt_le64(p + 16, wall_ns());
    b->len += 24;
    if (block_end(b) || write_buf(w, b, err))
        goto fail_io;
    if (nmeta) {
        int rc = encode_meta(&w->out, meta, nmeta);
        if (rc) {
            rt_err_set(err, rc == -2 ? RT_ELIMIT : RT_ENOMEM, "%s: metadata block %s", w->name,
                       rc == -2 ? "larger than 16 MiB or with more than 65536 keys" : "out of memory");
            goto fail;
        }
        if (write_buf(w, &w->out, err))
            goto fail_io;
    }
    return w;
fail_io:
    if (err && err->code == 0)
        rt_err_set(err, RT_ENOMEM, "%s: out of memory", w->name);
fail:
    if (w) {
        w->fd = -1;
        trace_writer_abort(w);
    }
    close(fd);
    return NULL;
}

struct trace_writer *trace_writer_open(const char *path, const struct trace_meta_kv *meta,
                                       size_t nmeta, const struct trace_writer_opts *opts,
                                       struct rt_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rt_err_set(err, RT_EIO, "%s: cannot create: %s", path, strerror(errno));
        return NULL;
    }
    /* O_CREAT's mode only applies to new files: an existing trace keeps stricter rights too
     * (a regular file only: a device such as /dev/null or a FIFO is not ours to change) */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fchmod(fd, 0600) != 0 && errno != EPERM) {
        rt_err_set(err, RT_EIO, "%s: chmod: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    return trace_writer_open_fd(fd, path, meta, nmeta, opts, err);
}

/* @return 0, or the error of a failed writer: the background thread's own message the first
 * time it is reported, then "writer failed earlier". */
static int writer_ok(struct trace_writer *w, struct rt_err *err)
{
    if (!w->failed) {
        int code = atomic_load_explicit(&w->tcode, memory_order_acquire);
        if (code == 0)
            return 0;
        w->failed = 1;
        if (err)
            *err = w->terr;
        return code;
    }
    rt_err_set(err, RT_EINVAL, "%s: writer failed earlier", w->name);
    return RT_EINVAL;
}

int trace_writer_add_meta(struct trace_writer *w, const struct trace_meta_kv *meta,
                          size_t nmeta, struct rt_err *err)
{
    int rc = writer_ok(w, err);
    if (rc)
        return rc;
    struct rt_buf b = {0};
    rc = encode_meta(&b, meta, nmeta);
    if (rc || rt_put_bytes(&w->cur.meta, b.p, b.len)) {
        rt_buf_free(&b);
        rt_err_set(err, rc == -2 ? RT_ELIMIT : RT_ENOMEM, "%s: metadata block %s", w->name,
                   rc == -2 ? "larger than 16 MiB or with more than 65536 keys" : "out of memory");
        return rc == -2 ? RT_ELIMIT : RT_ENOMEM;
    }
    rt_buf_free(&b);
    return 0;
}

/* ---- appending fields ---- */

static inline int sv(struct trace_writer *w, int slot, uint64_t v)
{
    struct rt_buf *b = &w->cur.s[slot];
    if (rt_buf_reserve(b, 10))
        return -1;
    size_t before = b->len;
    rt_put_varint_unchecked(b, v);
    w->cur.raw += b->len - before;
    return 0;
}

static inline int s8(struct trace_writer *w, int slot, uint8_t v)
{
    if (rt_put_u8(&w->cur.s[slot], v))
        return -1;
    w->cur.raw++;
    return 0;
}

static inline int sbytes(struct trace_writer *w, int slot, const void *p, size_t n)
{
    if (rt_put_bytes(&w->cur.s[slot], p, n))
        return -1;
    w->cur.raw += n;
    return 0;
}

static int put_addr(struct trace_writer *w, const struct trace_addr *a)
{
    uint8_t tmp[19];
    size_t n = 0;
    uint8_t fam = (a->family == 4 || a->family == 6) ? a->family : 0;
    tmp[n++] = fam;
    size_t alen = fam == 4 ? 4 : fam == 6 ? 16 : 0;
    memcpy(tmp + n, a->addr, alen);
    n += alen;
    rt_le16(tmp + n, a->port);
    n += 2;
    return sbytes(w, W_OPEN_ADDR, tmp, n);
}

/* Encoding 2: the reference to a reply table entry that holds every field but `back`, or a
 * literal reply (added to the table when it has neither error text nor payload). @return 1
 * when the fields are in the table (nothing more to write), 0 to write them, -1 out of
 * memory. */
static int put_reply_ref(struct trace_writer *w, const struct trace_reply *r, uint32_t flags)
{
    if ((r->err && r->errlen) || (flags & TRACE_REPLY_HAS_PAYLOAD))
        return sv(w, W_REPLY + S_R_REF, TRACE_REF_LITERAL);
    struct reply_desc d;
    memset(&d, 0, sizeof d);
    d.rtype = r->rtype;
    d.flags = flags;
    d.len = r->len;
    d.count = r->count;
    d.size = r->size;
    d.ival = r->ival;
    d.hash = (flags & TRACE_REPLY_HAS_HASH) ? r->hash : 0;
    uint32_t h = desc_tab_hash(&d);
    int e = desc_tab_find(&w->rtab, &d, h);
    if (e >= 0)
        return sv(w, W_REPLY + S_R_REF, TRACE_REF_ENTRY + (uint64_t)e) ? -1 : 1;
    int rc = desc_tab_add(&w->rtab, &d, 1, h);
    if (rc == -1)
        return -1;
    return sv(w, W_REPLY + S_R_REF, rc == 0 ? TRACE_REF_ADD : TRACE_REF_LITERAL);
}

static int put_reply(struct trace_writer *w, int base, const struct trace_reply *r, int paired,
                     struct rt_err *err)
{
    uint64_t back = 0;
    if (paired && r->req_seq != TRACE_SEQ_NONE) {
        if (r->req_seq >= w->req_next) {
            rt_err_set(err, RT_EINVAL, "%s: reply to request %llu that was not written",
                       w->name, (unsigned long long)r->req_seq);
            return RT_EINVAL;
        }
        back = w->req_next - r->req_seq;
    }
    uint32_t flags = r->flags & ~(TRACE_REPLY_HAS_HASH | TRACE_REPLY_HAS_PAYLOAD);
    struct trace_reply z;
    if (flags & TRACE_REPLY_REDACTED) {
        /* a reply that may hold a secret keeps its type only, whatever the caller filled in:
         * a hash or a length is enough to check a guessed password offline */
        z = (struct trace_reply){.req_seq = r->req_seq, .rtype = r->rtype, .flags = flags};
        r = &z;
    }
    if (r->flags & TRACE_REPLY_HAS_HASH)
        flags |= TRACE_REPLY_HAS_HASH;
    if ((r->flags & TRACE_REPLY_HAS_PAYLOAD) && r->payload)
        flags |= TRACE_REPLY_HAS_PAYLOAD;
    if (paired && sv(w, base + S_R_BACK, back))
        return RT_ENOMEM;
    if (paired && TRACE_ENC_TABLES(w->o.encoding)) {
        int in_table = put_reply_ref(w, r, flags);
        if (in_table)
            return in_table < 0 ? RT_ENOMEM : 0;
    }
    int bad = s8(w, base + S_R_TYPE, r->rtype) || sv(w, base + S_R_FLAGS, flags) ||
              sv(w, base + S_R_LEN, r->len) ||
              sv(w, base + S_R_COUNT, r->count) || sv(w, base + S_R_SIZE, r->size) ||
              sv(w, base + S_R_IVAL, rt_zigzag(r->ival)) ||
              sv(w, base + S_R_ERRLEN, r->err ? r->errlen : 0) ||
              (r->err && sbytes(w, base + S_R_ERR, r->err, r->errlen));
    if (!bad && (flags & TRACE_REPLY_HAS_HASH)) {
        uint8_t h[8];
        rt_le64(h, r->hash);
        bad = sbytes(w, base + S_R_HASH, h, 8);
    }
    if (!bad && (flags & TRACE_REPLY_HAS_PAYLOAD))
        bad = sv(w, base + S_R_PAYLEN, r->payload_len) ||
              sbytes(w, base + S_R_PAYLOAD, r->payload, r->payload_len);
    return bad ? RT_ENOMEM : 0;
}

/* Encoding 2: argument 0 or 1 as a reference to its table's entry, or as a literal (the
 * length, then the bytes, in the argument's stream) that becomes the next entry if it fits. */
static int put_arg_ref(struct trace_writer *w, int t, int ref_slot, int slot, const void *p,
                       size_t len)
{
    struct str_tab *tab = &w->tab[t];
    uint32_t h = 0;
    uint64_t ref = TRACE_REF_LITERAL;
    if (len <= TRACE_TAB_MAX_STR) {
        h = str_tab_hash(p, len);
        int e = str_tab_find(tab, p, len, h);
        if (e >= 0)
            return sv(w, ref_slot, TRACE_REF_ENTRY + (uint64_t)e);
        int rc = str_tab_add(tab, p, len, 1, h);
        if (rc == -1)
            return -1;
        if (rc == 0)
            ref = TRACE_REF_ADD;
    }
    return sv(w, ref_slot, ref) || sv(w, slot, len) || sbytes(w, slot, p, len);
}

static int put_request(struct trace_writer *w, struct trace_request *q, struct rt_err *err)
{
    if (q->argc == 0) {
        rt_err_set(err, RT_EINVAL, "%s: request with no arguments", w->name);
        return RT_EINVAL;
    }
    if (sv(w, W_REQ_DB, q->db) || s8(w, W_REQ_PROTO, q->proto) ||
        sv(w, W_REQ_FLAGS, q->flags) || sv(w, W_REQ_ARGC, q->argc))
        return RT_ENOMEM;
    uint32_t i = 0;
    if (TRACE_ENC_TABLES(w->o.encoding)) {
        for (; i < q->argc && i < 2; i++)
            if (put_arg_ref(w, i == 0 ? TAB_ARG0 : TAB_ARG1, i == 0 ? W_REQ_ARG0_REF : W_REQ_ARG1_REF,
                            i == 0 ? W_REQ_ARG0 : W_REQ_ARG1, q->argv[i], q->argvlen[i]))
                return RT_ENOMEM;
    }
    for (; i < q->argc; i++) {
        int slot = i == 0 ? W_REQ_ARG0 : i == 1 ? W_REQ_ARG1 : W_REQ_ARGN;
        /* the length goes in front of the bytes, in the same stream: a repeated key then
         * matches together with its length; but in encoding 3 the lengths of arguments 2..
         * have a stream of their own, so that a reader that needs their lengths and not
         * their bytes (an analysis of keys) can leave the frame of the bytes compressed */
        int len_slot =
            slot == W_REQ_ARGN && w->o.encoding == TRACE_CHUNK_ENCODING_3 ? W_REQ_ARGLEN : slot;
        if (sv(w, len_slot, q->argvlen[i]) || sbytes(w, slot, q->argv[i], q->argvlen[i]))
            return RT_ENOMEM;
    }
    q->seq = w->req_next++;
    return 0;
}

static int flush_chunk(struct trace_writer *w, int wait, struct rt_err *err);

/* Called as a chunk gets its first event: it continues the chain, or starts a new one with
 * empty tables once the chain is long enough (a seek decodes from a chain's first chunk, and
 * damage loses the rest of a chain) or a table is half full. */
static void chain_next(struct trace_writer *w, struct chunk *c)
{
    int full = w->tab[TAB_ARG0].bytes.len > TRACE_TAB_MAX_BYTES / 2 ||
               w->tab[TAB_ARG1].bytes.len > TRACE_TAB_MAX_BYTES / 2 ||
               w->tab[TAB_ARG0].n > TRACE_TAB_MAX_ENTRIES / 2 ||
               w->tab[TAB_ARG1].n > TRACE_TAB_MAX_ENTRIES / 2 ||
               w->rtab.n > TRACE_TAB_MAX_REPLIES / 2;
    c->chain_first = w->chain_chunks == 0 || w->chain_raw >= w->o.chain_bytes ||
                     w->chain_chunks >= w->o.chain_chunks || full;
    if (c->chain_first) {
        str_tab_reset(&w->tab[TAB_ARG0]);
        str_tab_reset(&w->tab[TAB_ARG1]);
        desc_tab_reset(&w->rtab);
        w->chain_raw = 0;
        w->chain_chunks = 0;
    }
    c->tab_start[TAB_ARG0] = w->tab[TAB_ARG0].n;
    c->tab_start[TAB_ARG1] = w->tab[TAB_ARG1].n;
    c->tab_start[TAB_REPLY] = w->rtab.n;
}

int trace_writer_add(struct trace_writer *w, struct trace_event *ev, struct rt_err *err)
{
    if (w->failed || atomic_load_explicit(&w->tcode, memory_order_relaxed))
        return writer_ok(w, err);
    if (ev->type == 0 || ev->type > TRACE_EV_MAX_KNOWN) {
        rt_err_set(err, RT_EINVAL, "%s: unknown event type %u", w->name, ev->type);
        return RT_EINVAL;
    }
    struct chunk *c = &w->cur;
    if (c->events == 0) {
        c->ts_min = c->ts_max = w->prev_ts = w->ts_first = ev->ts;
        w->prev_conn = 0;
        c->req_base = w->req_next;
        w->opened_wall = wall_ns();
        if (TRACE_ENC_TABLES(w->o.encoding))
            chain_next(w, c);
    }
    int rc = 0;
    uint64_t dts = rt_zigzag((int64_t)(ev->ts - w->prev_ts));
    int enc2 = TRACE_ENC_TABLES(w->o.encoding); /* encodings 2 and 3 */
    if (s8(w, W_TYPE, ev->type) || (enc2 && s8(w, W_TS_LO, (uint8_t)dts)) ||
        sv(w, W_TS, enc2 ? dts >> 8 : dts) ||
        sv(w, W_CONN, rt_zigzag((int64_t)(ev->conn - w->prev_conn)))) {
        rc = RT_ENOMEM;
        goto done;
    }
    switch (ev->type) {
    case TRACE_EV_CONN_OPEN:
        if (sv(w, W_OPEN_FLAGS, ev->u.open.flags) || put_addr(w, &ev->u.open.client) ||
            put_addr(w, &ev->u.open.server))
            rc = RT_ENOMEM;
        break;
    case TRACE_EV_CONN_CLOSE:
        rc = sv(w, W_CLOSE, ev->u.close.reason) ? RT_ENOMEM : 0;
        break;
    case TRACE_EV_REQUEST:
        rc = put_request(w, &ev->u.req, err);
        break;
    case TRACE_EV_REPLY:
        rc = put_reply(w, W_REPLY, &ev->u.reply, 1, err);
        break;
    case TRACE_EV_PUSH:
        rc = put_reply(w, W_PUSH, &ev->u.reply, 0, err);
        break;
    case TRACE_EV_GAP:
        rc = (s8(w, W_GAP, ev->u.gap.dir) || sv(w, W_GAP, ev->u.gap.bytes)) ? RT_ENOMEM : 0;
        break;
    case TRACE_EV_STATS: {
        const struct trace_stats *s = &ev->u.stats;
        rc = (sv(w, W_STATS, s->packets) || sv(w, W_STATS, s->bytes) ||
              sv(w, W_STATS, s->kernel_drops) || sv(w, W_STATS, s->iface_drops) ||
              sv(w, W_STATS, s->flows_dropped) || sv(w, W_STATS, s->bytes_dropped))
                 ? RT_ENOMEM
                 : 0;
        break;
    }
    case TRACE_EV_NOTE:
        rc = (s8(w, W_NOTE, ev->u.note.dir) || sv(w, W_NOTE, ev->u.note.code) ||
              sv(w, W_NOTE, ev->u.note.len) ||
              sbytes(w, W_NOTE_TEXT, ev->u.note.text, ev->u.note.len))
                 ? RT_ENOMEM
                 : 0;
        break;
    }
done:
    if (rc) {
        /* a half-written event would desynchronise the streams: the chunk is unusable */
        w->failed = 1;
        if (rc == RT_ENOMEM)
            rt_err_set(err, RT_ENOMEM, "%s: out of memory adding a %s event", w->name,
                       trace_ev_type_name(ev->type));
        return rc;
    }
    c->events++;
    w->prev_ts = ev->ts;
    w->prev_conn = ev->conn;
    if (ev->ts < c->ts_min)
        c->ts_min = ev->ts;
    if (ev->ts > c->ts_max)
        c->ts_max = ev->ts;
    w->tot.by_type[ev->type]++;
    if (ev->type == TRACE_EV_GAP)
        w->tot.gap_bytes[ev->u.gap.dir ? 1 : 0] += ev->u.gap.bytes;
    else if (ev->type == TRACE_EV_STATS)
        w->tot.stats = ev->u.stats;
    if (c->raw >= w->o.chunk_bytes || c->events >= w->o.chunk_events ||
        c->ts_max - c->ts_min >= w->o.chunk_ns)
        return flush_chunk(w, 0, err);
    return 0;
}

int trace_writer_poll(struct trace_writer *w, uint64_t now_ns, struct rt_err *err)
{
    if (!w->failed && atomic_load_explicit(&w->tcode, memory_order_relaxed))
        return writer_ok(w, err);
    if (w->cur.events && now_ns >= w->opened_wall && now_ns - w->opened_wall >= w->o.chunk_ns)
        return flush_chunk(w, 0, err);
    return 0;
}

static int index_add(struct trace_writer *w, const struct index_entry *e)
{
    if (w->nidx == w->capidx) {
        size_t cap = w->capidx ? w->capidx * 2 : 64;
        struct index_entry *p = realloc(w->idx, cap * sizeof *p);
        if (!p)
            return -1;
        w->idx = p;
        w->capidx = cap;
    }
    w->idx[w->nidx++] = *e;
    return 0;
}

/* The first event's time is stored relative to the chunk's ts_min, which is only known when
 * the chunk is complete: the event went in with a one-byte delta of 0, replaced here
 * (encoding 2: and a low byte of 0). */
static int ts_first_patch(struct trace_writer *w)
{
    struct rt_buf *b = &w->cur.s[W_TS];
    uint8_t v[10];
    struct rt_buf t = {v, 0, sizeof v};
    uint64_t dts = rt_zigzag((int64_t)(w->ts_first - w->cur.ts_min));
    if (TRACE_ENC_TABLES(w->o.encoding)) {
        w->cur.s[W_TS_LO].p[0] = (uint8_t)dts;
        dts >>= 8;
    }
    rt_put_varint_unchecked(&t, dts);
    if (t.len == 1) {
        b->p[0] = v[0];
        return 0;
    }
    if (rt_buf_reserve(b, t.len - 1))
        return -1;
    memmove(b->p + t.len, b->p + 1, b->len - 1);
    memcpy(b->p, v, t.len);
    b->len += t.len - 1;
    w->cur.raw += t.len - 1;
    return 0;
}

/* Caller side of a flush: completes the open chunk (first timestamp, stream directory) so
 * that what is left is compression and writing. Sets w->failed on error. */
static int seal(struct trace_writer *w, struct rt_err *err)
{
    struct chunk *c = &w->cur;
    if (ts_first_patch(w))
        goto nomem;
    /* directory: the non-empty streams with their lengths */
    struct rt_buf *d = &c->dir;
    d->len = 0;
    int n = 0;
    for (int i = 0; i < W_NSTREAMS; i++)
        n += c->s[i].len > 0;
    if (rt_put_varint(d, (uint64_t)n))
        goto nomem;
    for (int i = 0; i < W_NSTREAMS; i++)
        if (c->s[i].len && (rt_put_varint(d, stream_id_of(i)) || rt_put_varint(d, c->s[i].len)))
            goto nomem;
    size_t raw = d->len + c->raw;
    if (raw > UINT32_MAX) {
        w->failed = 1;
        rt_err_set(err, RT_ELIMIT, "%s: chunk of %zu bytes is too large", w->name, raw);
        return RT_ELIMIT;
    }
    c->raw = raw;
    c->req_count = (uint32_t)(w->req_next - c->req_base);
    w->chain_raw += raw;
    w->chain_chunks++;
    return 0;
nomem:
    w->failed = 1;
    rt_err_set(err, RT_ENOMEM, "%s: out of memory writing a chunk", w->name);
    return RT_ENOMEM;
}

/* The chunk's zstd frames: src[] is the preamble, the directory and the streams, in the order
 * they are written; the frame that starts at src[k] ends at the index returned. A stream of
 * TRACE_FRAME_SPLIT bytes or more ends its frame, so keys, values and timestamps are each
 * compressed with statistics of their own (measured: 3% smaller than one frame); small
 * streams share a frame. Since 1.3 the bytes of arguments 2.. (W_REQ_ARGN), when that large,
 * also start a frame: it then holds them alone, and a reader that needs only their lengths
 * (W_REQ_ARGLEN) can leave it compressed. Every frame declares its content size, which is
 * what lets a reader place a frame in the payload without decompressing it. */
static int frame_last(const struct rt_buf *const *src, int k)
{
    size_t acc = 0;
    for (int j = k;; j++) {
        acc += src[j]->len;
        if (j == W_NSTREAMS + 1 || acc >= TRACE_FRAME_SPLIT)
            return j;
        if (j + 1 == W_REQ_ARGN + 2 && acc && src[j + 1]->len >= TRACE_FRAME_SPLIT)
            return j;
    }
}

/* Emitter side: writes the pending metadata blocks of a sealed chunk, then compresses and
 * writes the chunk itself (when it has events). Touches only `c` and the emitter's fields. */
static int emit(struct trace_writer *w, struct chunk *c, struct rt_err *err)
{
    if (c->meta.len) {
        if (write_buf(w, &c->meta, err))
            return RT_EIO;
        c->meta.len = 0;
    }
    if (c->events == 0)
        return 0;

    /* encoding 2: the preamble says where in which chain the chunk is and how full the tables
     * were, so that a reader knows it read the chunks before it */
    c->pre.len = 0;
    if (TRACE_ENC_TABLES(w->o.encoding)) {
        w->chain_seq = c->chain_first ? 0 : w->chain_seq + 1;
        if (rt_put_varint(&c->pre, w->chain_seq) || rt_buf_reserve(&c->pre, 4))
            goto nomem;
        if (w->chain_seq) {
            rt_le32(c->pre.p + c->pre.len, w->chain_id);
            c->pre.len += 4;
        }
        if (rt_put_varint(&c->pre, TRACE_NTABLES))
            goto nomem;
        for (int t = 0; t < TRACE_NTABLES; t++)
            if (rt_put_varint(&c->pre, c->tab_start[t]))
                goto nomem;
    }
    size_t raw = c->raw + c->pre.len;
    if (raw > UINT32_MAX) {
        rt_err_set(err, RT_ELIMIT, "%s: chunk of %zu bytes is too large", w->name, raw);
        return RT_ELIMIT;
    }
    /* Compress the preamble, the directory and the streams without concatenating them, in
     * frames (frame_last()). */
    struct rt_buf *o = &w->out;
    o->len = 0;
    size_t bound = ZSTD_compressBound(raw) + TRACE_FRAME_SLACK;
    if (rt_buf_reserve(o, TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT + bound))
        goto nomem;
    const struct rt_buf *src[W_NSTREAMS + 2];
    src[0] = &c->pre;
    src[1] = &c->dir;
    for (int i = 0; i < W_NSTREAMS; i++)
        src[i + 2] = &c->s[i];
    ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
    ZSTD_outBuffer zo = {o->p + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT, bound, 0};
    for (int k = 0; k < W_NSTREAMS + 2;) {
        int last = frame_last(src, k);
        size_t fsize = 0;
        for (int j = k; j <= last; j++)
            fsize += src[j]->len;
        if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(w->cctx, fsize)))
            goto zerr;
        for (int j = k; j <= last; j++) {
            ZSTD_inBuffer zi = {src[j]->p, src[j]->len, 0};
            while (zi.pos < zi.size) {
                size_t r = ZSTD_compressStream2(w->cctx, &zo, &zi, ZSTD_e_continue);
                if (ZSTD_isError(r))
                    goto zerr;
            }
        }
        ZSTD_inBuffer none = {NULL, 0, 0};
        for (;;) {
            size_t r = ZSTD_compressStream2(w->cctx, &zo, &none, ZSTD_e_end);
            if (ZSTD_isError(r))
                goto zerr;
            if (r == 0)
                break;
        }
        k = last + 1;
    }

    /* chunk header block in front of the frame */
    uint8_t *h = o->p;
    uint8_t *hc = h + TRACE_ENVELOPE;
    rt_le32(h, TRACE_BLOCK_MAGIC);
    rt_le32(h + 4, TRACE_CHUNK_HDR_CONTENT);
    hc[0] = TRACE_BLK_CHUNK;
    hc[1] = (uint8_t)w->o.encoding;
    rt_le16(hc + 2, TRACE_ENC_TABLES(w->o.encoding) && !c->chain_first
                        ? TRACE_CHUNK_DEPENDS
                        : 0);
    rt_le32(hc + 4, c->events);
    rt_le64(hc + 8, c->ts_min);
    rt_le64(hc + 16, c->ts_max);
    rt_le64(hc + 24, c->req_base);
    rt_le32(hc + 32, c->req_count);
    rt_le32(hc + 36, (uint32_t)raw);
    rt_le32(hc + 40, (uint32_t)zo.pos);
    uint64_t comp_hash = trace_hash(hc + TRACE_CHUNK_HDR_CONTENT, zo.pos);
    rt_le64(hc + 44, comp_hash);
    if (TRACE_ENC_TABLES(w->o.encoding) && c->chain_first)
        w->chain_id = (uint32_t)comp_hash;
    rt_le32(hc + 52, rt_check32(hc, 52));
    o->len = TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT + zo.pos;

    struct index_entry e = {w->off, c->ts_min, c->ts_max, c->req_base, c->events};
    if (index_add(w, &e))
        goto nomem;
    if (write_buf(w, o, err))
        return RT_EIO;
    if (w->o.fsync_chunks)
        fsync(w->fd);

    if (w->tot.chunks == 0 || c->ts_min < w->tot.ts_min)
        w->tot.ts_min = c->ts_min;
    if (c->ts_max > w->tot.ts_max)
        w->tot.ts_max = c->ts_max;
    w->tot.events += c->events;
    w->tot.chunks++;
    w->tot.raw_bytes += raw;
    w->tot.compressed_bytes += zo.pos;
    return 0;
zerr:
    rt_err_set(err, RT_EIO, "%s: zstd compression failed", w->name);
    return RT_EIO;
nomem:
    rt_err_set(err, RT_ENOMEM, "%s: out of memory writing a chunk", w->name);
    return RT_ENOMEM;
}

static void chunk_reset(struct chunk *c)
{
    for (int i = 0; i < W_NSTREAMS; i++)
        c->s[i].len = 0;
    c->dir.len = 0;
    c->pre.len = 0;
    c->meta.len = 0;
    c->raw = 0;
    c->events = 0;
}

static void chunk_free(struct chunk *c)
{
    for (int i = 0; i < W_NSTREAMS; i++)
        rt_buf_free(&c->s[i]);
    rt_buf_free(&c->dir);
    rt_buf_free(&c->pre);
    rt_buf_free(&c->meta);
}

/* ---- the background thread ---- */

static void *emitter_main(void *arg)
{
    struct trace_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->job && !w->stop)
            pthread_cond_wait(&w->cv_job, &w->mu);
        if (!w->job)
            break; /* stopped and idle */
        pthread_mutex_unlock(&w->mu);
        /* after a failure nothing more is written (the caller hands over nothing more) */
        if (atomic_load_explicit(&w->tcode, memory_order_relaxed) == 0) {
            int rc = emit(w, &w->busy, &w->terr);
            if (rc)
                atomic_store_explicit(&w->tcode, rc, memory_order_release);
        }
        pthread_mutex_lock(&w->mu);
        w->job = 0;
        pthread_cond_signal(&w->cv_idle);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int thread_start(struct trace_writer *w)
{
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&w->cv_job, NULL) != 0)
        goto fail_mu;
    if (pthread_cond_init(&w->cv_idle, NULL) != 0)
        goto fail_job;
    /* the thread takes no signals: the recorder's loop must see its SIGINT, SIGTERM and
     * timers as EINTR, and a handler must not run on the thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thr, NULL, emitter_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail_idle;
    w->started = 1;
    return 0;
fail_idle:
    pthread_cond_destroy(&w->cv_idle);
fail_job:
    pthread_cond_destroy(&w->cv_job);
fail_mu:
    pthread_mutex_destroy(&w->mu);
    return -1;
}

/* Waits until the thread is done with `busy` (everything handed over is on disk or failed). */
static void thread_wait_idle(struct trace_writer *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    while (w->job)
        pthread_cond_wait(&w->cv_idle, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* Lets the thread finish the chunk it was handed, then joins it. */
static void thread_stop(struct trace_writer *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv_job);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thr, NULL);
    pthread_cond_destroy(&w->cv_idle);
    pthread_cond_destroy(&w->cv_job);
    pthread_mutex_destroy(&w->mu);
    w->started = 0;
}

/* Seals the open chunk and writes it with its pending metadata, or hands both to the thread.
 * `wait`: return only once they are on disk (and report the thread's error, if any). */
static int flush_chunk(struct trace_writer *w, int wait, struct rt_err *err)
{
    int rc = writer_ok(w, err);
    if (rc)
        return rc;
    struct chunk *c = &w->cur;
    if (c->events == 0 && c->meta.len == 0) {
        if (!wait)
            return 0;
        thread_wait_idle(w);
        return writer_ok(w, err);
    }
    if (c->events && (rc = seal(w, err)) != 0)
        return rc;
    if (w->threaded && !w->started && thread_start(w) != 0)
        w->threaded = 0; /* no thread to be had: write synchronously */
    if (!w->threaded) {
        rc = emit(w, c, err);
        if (rc) {
            w->failed = 1;
            return rc;
        }
        chunk_reset(c);
        return 0;
    }
    /* double buffering: wait for the previous chunk (bounded memory), then swap buffers */
    thread_wait_idle(w);
    if ((rc = writer_ok(w, err)) != 0)
        return rc;
    struct chunk t = w->busy;
    w->busy = *c;
    *c = t;
    chunk_reset(c);
    pthread_mutex_lock(&w->mu);
    w->job = 1;
    pthread_cond_signal(&w->cv_job);
    pthread_mutex_unlock(&w->mu);
    if (!wait)
        return 0;
    thread_wait_idle(w);
    return writer_ok(w, err);
}

int trace_writer_flush(struct trace_writer *w, struct rt_err *err)
{
    return flush_chunk(w, 1, err);
}

static int write_index(struct trace_writer *w, struct rt_err *err)
{
    struct rt_buf *b = &w->out;
    if (block_begin(b, TRACE_BLK_INDEX) || rt_put_varint(b, w->nidx))
        goto nomem;
    uint64_t prev_off = 0, prev_ts = 0;
    for (size_t i = 0; i < w->nidx; i++) {
        const struct index_entry *e = &w->idx[i];
        if (rt_put_varint(b, e->offset - prev_off) ||
            rt_put_varint(b, rt_zigzag((int64_t)(e->ts_min - prev_ts))) ||
            rt_put_varint(b, e->ts_max - e->ts_min) || rt_put_varint(b, e->req_base) ||
            rt_put_varint(b, e->events))
            goto nomem;
        prev_off = e->offset;
        prev_ts = e->ts_min;
    }
    if (rt_put_varint(b, TRACE_EV_MAX_KNOWN + 1))
        goto nomem;
    for (int t = 0; t <= TRACE_EV_MAX_KNOWN; t++)
        if (rt_put_varint(b, w->tot.by_type[t]))
            goto nomem;
    if (rt_put_varint(b, w->tot.events) || rt_put_varint(b, w->tot.chunks) ||
        rt_put_varint(b, w->tot.raw_bytes) || rt_put_varint(b, w->tot.compressed_bytes) ||
        rt_put_varint(b, w->tot.ts_min) || rt_put_varint(b, w->tot.ts_max) ||
        rt_put_varint(b, w->req_next) || rt_put_varint(b, w->tot.gap_bytes[0]) ||
        rt_put_varint(b, w->tot.gap_bytes[1]) || rt_put_varint(b, w->tot.stats.packets) ||
        rt_put_varint(b, w->tot.stats.bytes) || rt_put_varint(b, w->tot.stats.kernel_drops) ||
        rt_put_varint(b, w->tot.stats.iface_drops) ||
        rt_put_varint(b, w->tot.stats.flows_dropped) ||
        rt_put_varint(b, w->tot.stats.bytes_dropped))
        goto nomem;
    /* since 1.2: chunks by encoding, so that a reader learns from the index alone that some
     * are of an encoding it does not read */
    if (rt_put_varint(b, TRACE_CHUNK_ENCODING_MAX + 1) || rt_put_varint(b, 0))
        goto nomem;
    for (int e = 1; e <= TRACE_CHUNK_ENCODING_MAX; e++)
        if (rt_put_varint(b, e == w->o.encoding ? w->tot.chunks : 0))
            goto nomem;
    /* check, then the tail that lets a reader find this block from the end of the file */
    if (rt_buf_reserve(b, 16))
        goto nomem;
    uint32_t c = rt_check32(b->p + TRACE_ENVELOPE, b->len - TRACE_ENVELOPE);
    rt_le32(b->p + b->len, c);
    rt_le32(b->p + b->len + 4, (uint32_t)(b->len + 16));
    memcpy(b->p + b->len + 8, TRACE_TAIL_MAGIC, 8);
    b->len += 16;
    if (b->len > TRACE_MAX_INDEX_BLOCK) {
        rt_err_set(err, RT_ELIMIT, "%s: index larger than 1 GiB", w->name);
        return RT_ELIMIT;
    }
    rt_le32(b->p + 4, (uint32_t)(b->len - TRACE_ENVELOPE));
    return write_buf(w, b, err);
nomem:
    rt_err_set(err, RT_ENOMEM, "%s: out of memory writing the index", w->name);
    return RT_ENOMEM;
}

static void writer_free(struct trace_writer *w)
{
    thread_stop(w);
    chunk_free(&w->cur);
    chunk_free(&w->busy);
    str_tab_free(&w->tab[TAB_ARG0]);
    str_tab_free(&w->tab[TAB_ARG1]);
    desc_tab_free(&w->rtab);
    rt_buf_free(&w->out);
    ZSTD_freeCCtx(w->cctx);
    free(w->idx);
    free(w->name);
    free(w);
}

int trace_writer_close(struct trace_writer *w, struct rt_err *err)
{
    if (!w)
        return 0;
    int rc;
    if (w->failed) {
        rc = RT_EINVAL;
        rt_err_set(err, RT_EINVAL, "%s: writer failed earlier; file left without index",
                   w->name);
    } else {
        rc = trace_writer_flush(w, err); /* also reports an error of the thread */
    }
    /* joined: the index, offsets and totals are the caller's from here on */
    thread_stop(w);
    if (!rc)
        rc = write_index(w, err);
    if (!rc && w->o.fsync_chunks && fsync(w->fd) != 0) {
        rt_err_set(err, RT_EIO, "%s: fsync: %s", w->name, strerror(errno));
        rc = RT_EIO;
    }
    if (w->fd >= 0 && close(w->fd) != 0 && !rc) {
        rt_err_set(err, RT_EIO, "%s: close: %s", w->name, strerror(errno));
        rc = RT_EIO;
    }
    writer_free(w);
    return rc;
}

void trace_writer_abort(struct trace_writer *w)
{
    if (!w)
        return;
    /* a chunk already handed to the thread is written, as the synchronous writer would have
     * written it before returning; the open chunk and the index are not */
    thread_stop(w);
    if (w->fd >= 0)
        close(w->fd);
    writer_free(w);
}
