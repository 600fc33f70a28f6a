/* fuzz_trace_reader.c: libFuzzer target for the trace reader: every source, every call. */
#define _GNU_SOURCE /* memfd_create, F_SETPIPE_SZ */
#include "format.h"
#include "fuzz_common.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Every byte the reader hands out is summed into this, so that a pointer or length that
 * strays outside the input or the reader's buffers is read and caught by ASan, and so that
 * the compiler cannot drop the reads. */
static volatile uint64_t sink;

/* 1: the readers are opened with opts.lazy_args, and every other request handed out without
 * the bytes of its arguments 2.. asks for them (trace_reader_load_args) */
static int lazy_mode;

static uint64_t touch_addr(const struct trace_addr *a)
{
    char buf[64];
    trace_addr_format(a, buf, sizeof buf);
    return touch(buf, strlen(buf)) + a->family + a->port + touch(a->addr, sizeof a->addr);
}

static uint64_t touch_reply(const struct trace_reply *p)
{
    const char *name = trace_reply_type_name(p->rtype);
    uint64_t s = touch(name, strlen(name));
    s += p->req_seq + p->rtype + p->flags + p->len + p->count + p->size + (uint64_t)p->ival;
    if (p->flags & TRACE_REPLY_HAS_HASH)
        s += p->hash;
    s += touch(p->err, p->errlen);
    s += touch(p->payload, p->payload_len);
    return s;
}

static uint64_t touch_event(const struct trace_event *ev)
{
    const char *name = trace_ev_type_name(ev->type);
    uint64_t s = touch(name, strlen(name)) + ev->type + ev->ts + ev->conn;
    switch (ev->type) {
    case TRACE_EV_CONN_OPEN:
        s += touch_addr(&ev->u.open.client) + touch_addr(&ev->u.open.server);
        s += ev->u.open.flags;
        break;
    case TRACE_EV_CONN_CLOSE: s += ev->u.close.reason; break;
    case TRACE_EV_REQUEST: {
        const struct trace_request *q = &ev->u.req;
        EXPECT(q->argc > 0 && q->argv && q->argvlen);
        s += q->seq + q->db + q->proto + q->flags + q->argc;
        for (uint32_t i = 0; i < q->argc; i++) {
            if (!q->argv[i]) { /* bytes left compressed: only arguments 2.., lazily */
                EXPECT(lazy_mode && i >= 2);
                s += q->argvlen[i];
                continue;
            }
            s += touch(q->argv[i], q->argvlen[i]) + q->argvlen[i];
        }
        break;
    }
    case TRACE_EV_REPLY:
    case TRACE_EV_PUSH: s += touch_reply(&ev->u.reply); break;
    case TRACE_EV_GAP: s += ev->u.gap.dir + ev->u.gap.bytes; break;
    case TRACE_EV_STATS: {
        const struct trace_stats *t = &ev->u.stats;
        s += t->packets + t->bytes + t->kernel_drops + t->iface_drops + t->flows_dropped +
             t->bytes_dropped;
        break;
    }
    case TRACE_EV_NOTE:
        s += ev->u.note.dir + ev->u.note.code + touch(ev->u.note.text, ev->u.note.len);
        break;
    default:
        /* an unknown type is never returned (the reader counts and skips it) */
        abort();
    }
    return s;
}

/* What one sequential read returned, to compare the ways of opening the same bytes. */
struct outcome {
    uint64_t events, sum, first_ts;
    int rc; /* 0 or the negative code that ended the read */
};

/* Reads to the end or the first error. After a seek to `from`, no earlier event may come
 * back. */
static struct outcome read_all(struct trace_reader *r, struct rt_err *err, uint64_t from)
{
    struct trace_event ev;
    struct outcome out = {0, 0, from, 0};
    int rc;
    unsigned nulls = 0;
    for (;;) {
        if (err)
            memset(err, 0, sizeof *err);
        rc = trace_reader_next(r, &ev, err);
        if (rc != 1)
            break;
        EXPECT(ev.ts >= from);
        if (ev.type == TRACE_EV_REQUEST && ev.u.req.argc > 2 && !ev.u.req.argv[2] &&
            nulls++ % 2) {
            rc = trace_reader_load_args(r, &ev, err);
            if (rc < 0) {
                EXPECT(!err || err->code == rc);
                break;
            }
            if (rc == 1) /* salvaging: the chunk is skipped from here */
                continue;
            EXPECT(rc == 0);
            for (uint32_t i = 0; i < ev.u.req.argc; i++)
                EXPECT(ev.u.req.argv[i] != NULL);
        }
        if (out.events++ == 0)
            out.first_ts = ev.ts;
        out.sum = out.sum * 31 + touch_event(&ev);
    }
    EXPECT(rc <= 0);
    if (err && rc < 0) {
        EXPECT(err->code == rc);
        EXPECT(memchr(err->msg, 0, sizeof err->msg) != NULL);
    }
    out.rc = rc;
    sink += out.sum;
    /* one more call after the end or an error must not crash either */
    rc = trace_reader_next(r, &ev, err);
    if (rc == 1)
        sink += touch_event(&ev);
    return out;
}

static void touch_state(struct trace_reader *r)
{
    struct trace_totals t;
    trace_reader_totals(r, &t);
    sink += t.events + t.chunks + t.raw_bytes + t.compressed_bytes + t.ts_min + t.ts_max;
    for (int i = 0; i <= TRACE_EV_MAX_KNOWN; i++)
        sink += t.by_type[i];

    struct trace_damage d;
    trace_reader_damage(r, &d);
    EXPECT(memchr(d.msg, 0, sizeof d.msg) != NULL);
    sink += d.chunks_skipped + d.bytes_skipped + d.first_offset + touch(d.msg, strlen(d.msg));

    size_t n;
    const struct trace_meta_kv *m = trace_reader_meta(r, &n);
    for (size_t i = 0; i < n; i++) {
        EXPECT(m[i].key && m[i].val && m[i].val[m[i].vlen] == 0);
        sink += touch(m[i].key, strlen(m[i].key) + 1) + touch(m[i].val, m[i].vlen + 1);
        if (i >= 8 && i + 1 < n)
            continue; /* a lookup is linear: checking every key would be quadratic */
        size_t vlen = 0;
        const char *v = trace_reader_meta_get(r, m[i].key, &vlen);
        EXPECT(v == m[i].val && vlen == m[i].vlen);
    }

    sink += (uint64_t)(uintptr_t)trace_reader_meta_get(r, "", NULL); /* often absent */

    unsigned major, minor;
    trace_reader_version(r, &major, &minor);
    sink += major + minor + (uint64_t)trace_reader_has_index(r) + trace_reader_file_size(r);
}

static void seek_and_read(struct trace_reader *r, struct rt_err *err, uint64_t ts)
{
    if (err)
        memset(err, 0, sizeof *err);
    int rc = trace_reader_seek_time(r, ts, err);
    if (rc != 0) {
        EXPECT(rc < 0 && (!err || err->code == rc));
        return;
    }
    read_all(r, err, ts);
    touch_state(r);
}

/* Reads what `r` holds from the start, then seeks around and reads again (when seekable).
 * @return the outcome of the first, sequential read. */
static struct outcome exercise(struct trace_reader *r, struct rt_err *err, int seekable)
{
    touch_state(r);
    struct outcome first = read_all(r, err, 0);
    touch_state(r);
    if (!seekable) {
        EXPECT(trace_reader_seek_time(r, 0, err) == RT_EINVAL);
        return first;
    }
    struct trace_totals t;
    trace_reader_totals(r, &t);
    seek_and_read(r, err, t.ts_min + (t.ts_max - t.ts_min) / 2);
    seek_and_read(r, err, first.first_ts);
    seek_and_read(r, err, t.ts_max);
    seek_and_read(r, err, UINT64_MAX);
    seek_and_read(r, err, 0);
    return first;
}

static const struct outcome not_opened = {0, 0, 0, 1};
static const struct outcome skipped = {0, 0, 0, 2};

/* One pass over the input in memory. With use_err == 0 every call gets a NULL error
 * pointer, which the library accepts. */
static struct outcome run_mem(const uint8_t *data, size_t size, int salvage, int use_err)
{
    struct trace_reader_opts o = {.salvage = salvage, .max_chunk_raw = 1u << 20,
                                  .lazy_args = lazy_mode};
    struct rt_err e = {0};
    struct rt_err *err = use_err ? &e : NULL;
    struct trace_reader *r = trace_reader_open_mem(data, size, "fuzz", &o, err);
    if (!r) {
        EXPECT(!err || e.code < 0);
        return not_opened;
    }
    struct outcome out = exercise(r, err, 1);
    trace_reader_close(r);
    return out;
}

/* Puts the input in a pipe and the pipe on stdin. @return the previous stdin (-1 if it was
 * closed) for restore_stdin(), or -2 when the pipe cannot hold the input. */
static int pipe_to_stdin(const uint8_t *data, size_t size)
{
    int saved = dup(0), fds[2];
    EXPECT(pipe(fds) == 0);
    /* a write must never block: the pipe has to hold the whole input */
    if (fcntl(fds[1], F_SETPIPE_SZ, (int)(size < 4096 ? 4096 : size)) < (int)size) {
        close(fds[0]);
        close(fds[1]);
        if (saved >= 0)
            close(saved);
        return -2;
    }
    for (size_t done = 0; done < size;) {
        ssize_t k = write(fds[1], data + done, size - done);
        EXPECT(k > 0);
        done += (size_t)k;
    }
    close(fds[1]);
    if (fds[0] != 0) {
        EXPECT(dup2(fds[0], 0) == 0);
        close(fds[0]);
    }
    return saved;
}

static void restore_stdin(int saved)
{
    if (saved >= 0) {
        dup2(saved, 0);
        close(saved);
    } else {
        close(0);
    }
}

/* The same through a file descriptor: a memfd opened by its /proc path (the pread source),
 * or a pipe on stdin opened as "-" (the forward-only source). */
static struct outcome run_fd(const uint8_t *data, size_t size, int salvage, int as_pipe)
{
    struct trace_reader_opts o = {.salvage = salvage, .max_chunk_raw = 1u << 20};
    struct rt_err e = {0};
    struct outcome out = not_opened;
    char path[64] = "-";
    int fd = -1;
    if (as_pipe) {
        fd = pipe_to_stdin(data, size);
        if (fd == -2)
            return skipped;
    } else {
        fd = memfd_create("fuzz", 0);
        EXPECT(fd >= 0);
        for (size_t done = 0; done < size;) {
            ssize_t k = write(fd, data + done, size - done);
            EXPECT(k > 0);
            done += (size_t)k;
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    struct trace_reader *r = trace_reader_open(path, &o, &e);
    if (r) {
        out = exercise(r, &e, !as_pipe);
        trace_reader_close(r);
    } else {
        EXPECT(e.code < 0);
    }
    if (as_pipe)
        restore_stdin(fd);
    else
        close(fd);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome mem = run_mem(data, size, 0, 1);
    run_mem(data, size, 1, 1);
    run_mem(data, size, 1, 0);
    /* without salvage every source returns the same events and stops the same way */
    struct outcome file = run_fd(data, size, 0, 0);
    struct outcome pipe_ = run_fd(data, size, 0, 1);
    EXPECT(file.events == mem.events && file.sum == mem.sum && file.rc == mem.rc);
    EXPECT(pipe_.rc == skipped.rc ||
           (pipe_.events == mem.events && pipe_.sum == mem.sum && pipe_.rc == mem.rc));
    run_fd(data, size, 1, 1);
    /* lazily: what a key analysis does (hotkeys) */
    lazy_mode = 1;
    run_mem(data, size, 0, 1);
    run_mem(data, size, 1, 0);
    lazy_mode = 0;
    return 0;
}

#ifdef RT_LIBFUZZER
/* A structure-aware mutator, for libFuzzer only (the corpus replay does not need it). Every
 * block carries a check and every chunk frame a hash, so nearly all plain mutations die at
 * the first check and never reach the event decoder. Here some mutations are followed by a
 * repair of the checks, and others decompress one chunk, mutate its raw streams and put it
 * back recompressed with its sizes, hash and check updated. The reader is still fuzzed with
 * its checks on: inputs with broken checks keep coming from the plain mutations. */
#include "format_int.h"

#include <zstd.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

#define RAW_CAP (64u << 10)

/* Rewrites the check of every block that can be found, the hash of every chunk frame and the
 * size in the index tail, so that the damage a mutation did to them disappears. */
static void repair_checks(uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off + TRACE_ENVELOPE + 5 <= size) {
        uint32_t bsize = rt_rd32(data + off + 4);
        if (rt_rd32(data + off) != TRACE_BLOCK_MAGIC || bsize < 5 ||
            bsize > size - off - TRACE_ENVELOPE) {
            off++; /* not a block here: look for the next one */
            continue;
        }
        uint8_t *c = data + off + TRACE_ENVELOPE;
        size_t end = off + TRACE_ENVELOPE + bsize;
        switch (c[0]) {
        case TRACE_BLK_CHUNK:
            if (bsize < TRACE_CHUNK_HDR_CONTENT)
                break;
            if (rt_rd32(c + 40) <= size - end) {
                rt_le64(c + 44, trace_hash(data + end, rt_rd32(c + 40)));
                end += rt_rd32(c + 40);
            }
            rt_le32(c + bsize - 4, rt_check32(c, bsize - 4));
            break;
        case TRACE_BLK_INDEX:
            if (bsize < 17)
                break;
            rt_le32(c + bsize - 16, rt_check32(c, bsize - 16));
            rt_le32(c + bsize - 12, bsize + TRACE_ENVELOPE);
            memcpy(c + bsize - 8, TRACE_TAIL_MAGIC, 8);
            break;
        case TRACE_BLK_HEADER:
        case TRACE_BLK_META: rt_le32(c + bsize - 4, rt_check32(c, bsize - 4)); break;
        default: break;
        }
        off = end;
    }
}

/* Offset of the header block of the k-th chunk (counting modulo the number of chunks), or
 * SIZE_MAX when there is none. */
static size_t find_chunk(const uint8_t *data, size_t size, unsigned k)
{
    size_t found[64], n = 0, off = 0;
    while (off + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT <= size && n < 64) {
        uint32_t bsize = rt_rd32(data + off + 4);
        if (rt_rd32(data + off) != TRACE_BLOCK_MAGIC || bsize < 5 ||
            bsize > size - off - TRACE_ENVELOPE) {
            off++;
            continue;
        }
        size_t end = off + TRACE_ENVELOPE + bsize;
        if (data[off + TRACE_ENVELOPE] == TRACE_BLK_CHUNK && bsize == TRACE_CHUNK_HDR_CONTENT) {
            uint32_t comp = rt_rd32(data + off + TRACE_ENVELOPE + 40);
            if (comp <= size - end) {
                found[n++] = off;
                end += comp;
            }
        }
        off = end;
    }
    return n ? found[k % n] : SIZE_MAX;
}

/* Replaces the frame of the chunk whose header block is at `off` by raw[0..n) compressed, and
 * sets its raw and compressed sizes. @return the new size of the input, or 0 when it would not
 * fit in max_size. */
static size_t chunk_replace(uint8_t *data, size_t size, size_t max_size, size_t off,
                            const uint8_t *raw, size_t n)
{
    static uint8_t comp[ZSTD_COMPRESSBOUND(RAW_CAP)];
    uint8_t *c = data + off + TRACE_ENVELOPE;
    size_t foff = off + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT;
    size_t oldcomp = rt_rd32(c + 40);
    size_t k = ZSTD_compress(comp, sizeof comp, raw, n, 1);
    if (ZSTD_isError(k) || size - oldcomp + k > max_size)
        return 0;
    memmove(data + foff + k, data + foff + oldcomp, size - foff - oldcomp);
    memcpy(data + foff, comp, k);
    rt_le32(c + 36, (uint32_t)n);
    rt_le32(c + 40, (uint32_t)k);
    rt_le64(c + 44, trace_hash(data + foff, k));
    return size - oldcomp + k;
}

/* Encoding 2: the chunks that follow the first chunk of a chain name it by its compressed
 * bytes' hash. After that chunk was mutated, they are given its new id (decompressed,
 * patched, recompressed), so that mutations of a chain's first chunk reach the tables of the
 * chunks after it instead of stopping at the chain check. @return the new size. */
static size_t relink_chain(uint8_t *data, size_t size, size_t max_size, size_t off)
{
    static uint8_t raw[RAW_CAP];
    const uint8_t *c = data + off + TRACE_ENVELOPE;
    if (c[1] != TRACE_CHUNK_ENCODING_2 || (rt_rd16(c + 2) & TRACE_CHUNK_DEPENDS))
        return size;
    uint32_t id = (uint32_t)rt_rd64(c + 44);
    size_t next = off + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT + rt_rd32(c + 40);
    while (next + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT <= size &&
           rt_rd32(data + next) == TRACE_BLOCK_MAGIC &&
           rt_rd32(data + next + 4) == TRACE_CHUNK_HDR_CONTENT) {
        c = data + next + TRACE_ENVELOPE;
        size_t comp = rt_rd32(c + 40), foff = next + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT;
        if (c[0] != TRACE_BLK_CHUNK || c[1] != TRACE_CHUNK_ENCODING_2 ||
            !(rt_rd16(c + 2) & TRACE_CHUNK_DEPENDS) || comp > size - foff)
            break;
        size_t n = ZSTD_decompress(raw, sizeof raw, data + foff, comp);
        if (ZSTD_isError(n) || n < 5 || raw[0] == 0 || raw[0] >= 0x80)
            break; /* a seq of one byte, then the id */
        rt_le32(raw + 1, id);
        size_t nsize = chunk_replace(data, size, max_size, next, raw, n);
        if (!nsize)
            break;
        size = nsize;
        next = foff + rt_rd32(data + next + TRACE_ENVELOPE + 40);
    }
    return size;
}

/* Decompresses one chunk, mutates its raw bytes and splices it back recompressed.
 * @return the new size, or 0 when the input has no usable chunk. */
static size_t mutate_chunk(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
    static uint8_t raw[RAW_CAP];
    size_t off = find_chunk(data, size, seed >> 3);
    if (off == SIZE_MAX)
        return 0;
    uint8_t *c = data + off + TRACE_ENVELOPE;
    size_t foff = off + TRACE_ENVELOPE + TRACE_CHUNK_HDR_CONTENT;
    size_t n = ZSTD_decompress(raw, sizeof raw, data + foff, rt_rd32(c + 40));
    if (ZSTD_isError(n))
        return 0;
    n = LLVMFuzzerMutate(raw, n, sizeof raw);
    size_t nsize = chunk_replace(data, size, max_size, off, raw, n);
    if (!nsize)
        return 0;
    size = nsize;
    if ((seed & 7) == 7) /* now and then, an event count that disagrees with the streams */
        rt_le32(c + 4, rt_rd32(c + 4) + (seed & 8 ? 1u : -1u));
    if ((seed & 48) != 48) /* mostly, the chain after it still follows it */
        size = relink_chain(data, size, max_size, off);
    repair_checks(data, size);
    return size;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    switch (seed % 4) {
    case 0:
        /* plain: the checks catch it */
        return LLVMFuzzerMutate(data, size, max_size);
    case 1: /* plain, then the checks are repaired */
        size = LLVMFuzzerMutate(data, size, max_size);
        repair_checks(data, size);
        return size;
    default: { /* inside a chunk */
        size_t n = mutate_chunk(data, size, max_size, seed >> 2);
        return n ? n : LLVMFuzzerMutate(data, size, max_size);
    }
    }
}
#endif
