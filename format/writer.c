/* writer.c: streaming trace writer: events into columnar streams, chunks into zstd frames. */
#include "format_int.h"

#include <errno.h>
#include <fcntl.h>
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

struct trace_writer {
    int fd;
    int failed;
    char *name;
    struct trace_writer_opts o;
    ZSTD_CCtx *cctx;

    /* the open chunk */
    struct rt_buf s[W_NSTREAMS];
    size_t raw;
    uint32_t events;
    uint64_t ts_min, ts_max, prev_ts, prev_conn;
    uint64_t ts_first; /* the first event's ts: its delta is patched in at flush */
    uint64_t req_base;
    uint64_t opened_wall; /* wall clock when the chunk got its first event */

    uint64_t req_next; /* seq of the next request */
    uint64_t off;      /* bytes written to the file */
    struct rt_buf out, dir, meta;

    struct index_entry *idx;
    size_t nidx, capidx;
    struct trace_totals tot;
};

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
            w->failed = 1;
            rt_err_set(err, RT_EIO, "%s: write at offset %llu: %s", w->name,
                       (unsigned long long)(w->off + done), strerror(errno));
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
    /* O_CREAT's mode only applies to new files: an existing trace keeps stricter rights too */
    if (fchmod(fd, 0600) != 0 && errno != EPERM) {
        rt_err_set(err, RT_EIO, "%s: chmod: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    return trace_writer_open_fd(fd, path, meta, nmeta, opts, err);
}

int trace_writer_add_meta(struct trace_writer *w, const struct trace_meta_kv *meta,
                          size_t nmeta, struct rt_err *err)
{
    if (w->failed) {
        rt_err_set(err, RT_EINVAL, "%s: writer failed earlier", w->name);
        return RT_EINVAL;
    }
    struct rt_buf b = {0};
    int rc = encode_meta(&b, meta, nmeta);
    if (rc || rt_put_bytes(&w->meta, b.p, b.len)) {
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
    struct rt_buf *b = &w->s[slot];
    if (rt_buf_reserve(b, 10))
        return -1;
    size_t before = b->len;
    rt_put_varint_unchecked(b, v);
    w->raw += b->len - before;
    return 0;
}

static inline int s8(struct trace_writer *w, int slot, uint8_t v)
{
    if (rt_put_u8(&w->s[slot], v))
        return -1;
    w->raw++;
    return 0;
}

static inline int sbytes(struct trace_writer *w, int slot, const void *p, size_t n)
{
    if (rt_put_bytes(&w->s[slot], p, n))
        return -1;
    w->raw += n;
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
    if (r->flags & TRACE_REPLY_HAS_HASH)
        flags |= TRACE_REPLY_HAS_HASH;
    if ((r->flags & TRACE_REPLY_HAS_PAYLOAD) && r->payload)
        flags |= TRACE_REPLY_HAS_PAYLOAD;
    int bad = s8(w, base + S_R_TYPE, r->rtype) || sv(w, base + S_R_FLAGS, flags) ||
              (paired && sv(w, base + S_R_BACK, back)) || sv(w, base + S_R_LEN, r->len) ||
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

static int put_request(struct trace_writer *w, struct trace_request *q, struct rt_err *err)
{
    if (q->argc == 0) {
        rt_err_set(err, RT_EINVAL, "%s: request with no arguments", w->name);
        return RT_EINVAL;
    }
    if (sv(w, W_REQ_DB, q->db) || s8(w, W_REQ_PROTO, q->proto) ||
        sv(w, W_REQ_FLAGS, q->flags) || sv(w, W_REQ_ARGC, q->argc))
        return RT_ENOMEM;
    for (uint32_t i = 0; i < q->argc; i++) {
        int slot = i == 0 ? W_REQ_ARG0 : i == 1 ? W_REQ_ARG1 : W_REQ_ARGN;
        /* the length goes in front of the bytes, in the same stream: a repeated key then
         * matches together with its length */
        if (sv(w, slot, q->argvlen[i]) || sbytes(w, slot, q->argv[i], q->argvlen[i]))
            return RT_ENOMEM;
    }
    q->seq = w->req_next++;
    return 0;
}

int trace_writer_add(struct trace_writer *w, struct trace_event *ev, struct rt_err *err)
{
    if (w->failed) {
        rt_err_set(err, RT_EINVAL, "%s: writer failed earlier", w->name);
        return RT_EINVAL;
    }
    if (ev->type == 0 || ev->type > TRACE_EV_MAX_KNOWN) {
        rt_err_set(err, RT_EINVAL, "%s: unknown event type %u", w->name, ev->type);
        return RT_EINVAL;
    }
    if (w->events == 0) {
        w->ts_min = w->ts_max = w->prev_ts = w->ts_first = ev->ts;
        w->prev_conn = 0;
        w->req_base = w->req_next;
        w->opened_wall = wall_ns();
    }
    int rc = 0;
    if (s8(w, W_TYPE, ev->type) || sv(w, W_TS, rt_zigzag((int64_t)(ev->ts - w->prev_ts))) ||
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
    w->events++;
    w->prev_ts = ev->ts;
    w->prev_conn = ev->conn;
    if (ev->ts < w->ts_min)
        w->ts_min = ev->ts;
    if (ev->ts > w->ts_max)
        w->ts_max = ev->ts;
    w->tot.by_type[ev->type]++;
    if (ev->type == TRACE_EV_GAP)
        w->tot.gap_bytes[ev->u.gap.dir ? 1 : 0] += ev->u.gap.bytes;
    else if (ev->type == TRACE_EV_STATS)
        w->tot.stats = ev->u.stats;
    if (w->raw >= w->o.chunk_bytes || w->events >= w->o.chunk_events ||
        w->ts_max - w->ts_min >= w->o.chunk_ns)
        return trace_writer_flush(w, err);
    return 0;
}

int trace_writer_poll(struct trace_writer *w, uint64_t now_ns, struct rt_err *err)
{
    if (w->events && now_ns >= w->opened_wall && now_ns - w->opened_wall >= w->o.chunk_ns)
        return trace_writer_flush(w, err);
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
 * the chunk is complete: the event went in with a one-byte delta of 0, replaced here. */
static int ts_first_patch(struct trace_writer *w)
{
    struct rt_buf *b = &w->s[W_TS];
    uint8_t v[10];
    struct rt_buf t = {v, 0, sizeof v};
    rt_put_varint_unchecked(&t, rt_zigzag((int64_t)(w->ts_first - w->ts_min)));
    if (t.len == 1) {
        b->p[0] = v[0];
        return 0;
    }
    if (rt_buf_reserve(b, t.len - 1))
        return -1;
    memmove(b->p + t.len, b->p + 1, b->len - 1);
    memcpy(b->p, v, t.len);
    b->len += t.len - 1;
    w->raw += t.len - 1;
    return 0;
}

int trace_writer_flush(struct trace_writer *w, struct rt_err *err)
{
    if (w->failed) {
        rt_err_set(err, RT_EINVAL, "%s: writer failed earlier", w->name);
        return RT_EINVAL;
    }
    if (w->meta.len) {
        if (write_buf(w, &w->meta, err))
            return RT_EIO;
        w->meta.len = 0;
    }
    if (w->events == 0)
        return 0;

    if (ts_first_patch(w))
        goto nomem;

    /* directory: the non-empty streams with their lengths */
    struct rt_buf *d = &w->dir;
    d->len = 0;
    int n = 0;
    for (int i = 0; i < W_NSTREAMS; i++)
        n += w->s[i].len > 0;
    if (rt_put_varint(d, (uint64_t)n))
        goto nomem;
    for (int i = 0; i < W_NSTREAMS; i++)
        if (w->s[i].len && (rt_put_varint(d, stream_id_of(i)) || rt_put_varint(d, w->s[i].len)))
            goto nomem;
    size_t raw = d->len + w->raw;
    if (raw > UINT32_MAX) {
        w->failed = 1;
        rt_err_set(err, RT_ELIMIT, "%s: chunk of %zu bytes is too large", w->name, raw);
        return RT_ELIMIT;
    }

    /* Compress the directory and the streams without concatenating them. A stream of more
     * than TRACE_FRAME_SPLIT bytes ends its zstd frame, so keys, values and timestamps are
     * each compressed with statistics of their own (measured: 3% smaller than one frame);
     * small streams share a frame. */
    struct rt_buf *o = &w->out;
    o->len = 0;
    size_t bound = ZSTD_compressBound(raw) + TRACE_FRAME_SLACK;
    if (rt_buf_reserve(o, TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT + bound))
        goto nomem;
    ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
    ZSTD_outBuffer zo = {o->p + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT, bound, 0};
    size_t in_frame = 0;
    for (int i = -1; i < W_NSTREAMS; i++) {
        const struct rt_buf *src = i < 0 ? d : &w->s[i];
        ZSTD_inBuffer zi = {src->p, src->len, 0};
        while (zi.pos < zi.size) {
            size_t r = ZSTD_compressStream2(w->cctx, &zo, &zi, ZSTD_e_continue);
            if (ZSTD_isError(r))
                goto zerr;
        }
        in_frame += src->len;
        if (in_frame >= TRACE_FRAME_SPLIT || i == W_NSTREAMS - 1) {
            ZSTD_inBuffer none = {NULL, 0, 0};
            for (;;) {
                size_t r = ZSTD_compressStream2(w->cctx, &zo, &none, ZSTD_e_end);
                if (ZSTD_isError(r))
                    goto zerr;
                if (r == 0)
                    break;
            }
            in_frame = 0;
        }
    }

    /* chunk header block in front of the frame */
    uint8_t *h = o->p;
    uint8_t *c = h + TRACE_ENVELOPE;
    rt_le32(h, TRACE_BLOCK_MAGIC);
    rt_le32(h + 4, TRACE_CHUNK_HDR_CONTENT);
    c[0] = TRACE_BLK_CHUNK;
    c[1] = TRACE_CHUNK_ENCODING;
    rt_le16(c + 2, 0);
    rt_le32(c + 4, w->events);
    rt_le64(c + 8, w->ts_min);
    rt_le64(c + 16, w->ts_max);
    rt_le64(c + 24, w->req_base);
    rt_le32(c + 32, (uint32_t)(w->req_next - w->req_base));
    rt_le32(c + 36, (uint32_t)raw);
    rt_le32(c + 40, (uint32_t)zo.pos);
    rt_le64(c + 44, trace_hash(c + TRACE_CHUNK_HDR_CONTENT, zo.pos));
    rt_le32(c + 52, rt_check32(c, 52));
    o->len = TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT + zo.pos;

    struct index_entry e = {w->off, w->ts_min, w->ts_max, w->req_base, w->events};
    if (index_add(w, &e))
        goto nomem;
    if (write_buf(w, o, err))
        return RT_EIO;
    if (w->o.fsync_chunks)
        fsync(w->fd);

    if (w->tot.chunks == 0 || w->ts_min < w->tot.ts_min)
        w->tot.ts_min = w->ts_min;
    if (w->ts_max > w->tot.ts_max)
        w->tot.ts_max = w->ts_max;
    w->tot.events += w->events;
    w->tot.chunks++;
    w->tot.raw_bytes += raw;
    w->tot.compressed_bytes += zo.pos;
    for (int i = 0; i < W_NSTREAMS; i++)
        w->s[i].len = 0;
    w->raw = 0;
    w->events = 0;
    return 0;
zerr:
    w->failed = 1;
    rt_err_set(err, RT_EIO, "%s: zstd compression failed", w->name);
    return RT_EIO;
nomem:
    w->failed = 1;
    rt_err_set(err, RT_ENOMEM, "%s: out of memory writing a chunk", w->name);
    return RT_ENOMEM;
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
    for (int i = 0; i < W_NSTREAMS; i++)
        rt_buf_free(&w->s[i]);
    rt_buf_free(&w->out);
    rt_buf_free(&w->dir);
    rt_buf_free(&w->meta);
    ZSTD_freeCCtx(w->cctx);
    free(w->idx);
    free(w->name);
    free(w);
}

int trace_writer_close(struct trace_writer *w, struct rt_err *err)
{
    if (!w)
        return 0;
    int rc = w->failed ? RT_EINVAL : 0;
    if (rc)
        rt_err_set(err, RT_EINVAL, "%s: writer failed earlier; file left without index",
                   w->name);
    if (!rc)
        rc = trace_writer_flush(w, err);
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
    if (w->fd >= 0)
        close(w->fd);
    writer_free(w);
}
