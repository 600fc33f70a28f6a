/* format_int.h: private layout constants and byte helpers of the trace file library. */
#ifndef RESPTRACE_FORMAT_INT_H
#define RESPTRACE_FORMAT_INT_H

#include "format.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* Every block is a zstd skippable frame with this magic (nibble 0xA of the skippable range;
 * 0xE is taken by zstd's seekable format), so `zstd -t` walks a whole trace. */
#define TRACE_BLOCK_MAGIC 0x184D2A5Au
#define TRACE_ENVELOPE 8 /* u32 magic, u32 content size */
#define TRACE_FILE_MAGIC "RESPTRC\0"
#define TRACE_TAIL_MAGIC "RTRCIDX1"
#define TRACE_TAIL_BYTES 16 /* u32 check, u32 index block size, 8-byte tail magic */

enum trace_block_type {
    TRACE_BLK_HEADER = 1,
    TRACE_BLK_META = 2,
    TRACE_BLK_CHUNK = 3,
    TRACE_BLK_INDEX = 4
};

/* Chunk header content: type(1) encoding(1) flags(2) events(4) ts_min(8) ts_max(8)
 * req_base(8) req_count(4) raw_size(4) comp_size(4) comp_hash(8) check(4). */
#define TRACE_CHUNK_HDR_CONTENT 56
#define TRACE_CHUNK_ENCODING 1
#define TRACE_HEADER_CONTENT 29 /* type(1) magic(8) major(2) minor(2) flags(4) created(8) check(4) */
#define TRACE_MAX_META_BLOCK (16u << 20)
#define TRACE_MAX_META_KEYS 65536u /* distinct metadata keys a reader keeps */
/* A chunk's payload is one or more zstd frames: a stream of this many bytes ends a frame. */
#define TRACE_FRAME_SPLIT (64u << 10)
/* zstd frame headers and footers beyond ZSTD_compressBound(): at most one frame a stream */
#define TRACE_FRAME_SLACK (64u * 32u)
#define TRACE_MAX_INDEX_BLOCK (1u << 30)

/* Stream ids inside a chunk payload: 0x01-0x0f are common to all events; event type T owns
 * ids (T << 4) | f. */
enum trace_stream_id {
    S_TYPE = 0x01,
    S_TS = 0x02,
    S_CONN = 0x03,
    S_OPEN_FLAGS = 0x10,
    S_OPEN_ADDR = 0x11,
    S_CLOSE_REASON = 0x20,
    S_REQ_DB = 0x30,
    S_REQ_PROTO = 0x31,
    S_REQ_FLAGS = 0x32,
    S_REQ_ARGC = 0x33,
    /* 0x34 is reserved (never written): each argument carries its length in its stream */
    S_REQ_ARG0 = 0x35,
    S_REQ_ARG1 = 0x36,
    S_REQ_ARGN = 0x37,
    /* REPLY at 0x40, PUSH at 0x50: the same fields at the same offsets */
    S_R_TYPE = 0x0,
    S_R_FLAGS = 0x1,
    S_R_BACK = 0x2, /* REPLY only */
    S_R_LEN = 0x3,
    S_R_COUNT = 0x4,
    S_R_SIZE = 0x5,
    S_R_IVAL = 0x6,
    S_R_HASH = 0x7,
    S_R_ERRLEN = 0x8,
    S_R_ERR = 0x9,
    S_R_PAYLEN = 0xa,
    S_R_PAYLOAD = 0xb,
    S_GAP = 0x60,
    S_STATS = 0x70,
    S_NOTE = 0x80,
    S_NOTE_TEXT = 0x81
};


/* Stream slots used in memory by the writer and the reader; stream_id_of() gives the id on
 * disk. REPLY and PUSH get 12 slots each (S_R_* offsets). */
enum {
    W_TYPE,
    W_TS,
    W_CONN,
    W_OPEN_FLAGS,
    W_OPEN_ADDR,
    W_CLOSE,
    W_REQ_DB,
    W_REQ_PROTO,
    W_REQ_FLAGS,
    W_REQ_ARGC,
    W_REQ_ARG0,
    W_REQ_ARG1,
    W_REQ_ARGN,
    W_REPLY,
    W_PUSH = W_REPLY + 12,
    W_GAP = W_PUSH + 12,
    W_STATS,
    W_NOTE,
    W_NOTE_TEXT,
    W_NSTREAMS
};

uint16_t stream_id_of(int slot);
/* @return the slot of a stream id, or -1 for an id this version does not know */
int stream_slot_of(uint64_t id);


/* ---- growable byte buffer ---- */
struct rt_buf {
    uint8_t *p;
    size_t len, cap;
};

int rt_buf_grow(struct rt_buf *b, size_t need);
void rt_buf_free(struct rt_buf *b);

static inline int rt_buf_reserve(struct rt_buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    return rt_buf_grow(b, n);
}

static inline void rt_put_u8_unchecked(struct rt_buf *b, uint8_t v)
{
    b->p[b->len++] = v;
}

static inline void rt_put_varint_unchecked(struct rt_buf *b, uint64_t v)
{
    uint8_t *p = b->p + b->len;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    b->len = (size_t)(p - b->p);
}

static inline int rt_put_varint(struct rt_buf *b, uint64_t v)
{
    if (rt_buf_reserve(b, 10))
        return -1;
    rt_put_varint_unchecked(b, v);
    return 0;
}

static inline int rt_put_bytes(struct rt_buf *b, const void *p, size_t n)
{
    if (rt_buf_reserve(b, n))
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static inline int rt_put_u8(struct rt_buf *b, uint8_t v)
{
    if (rt_buf_reserve(b, 1))
        return -1;
    rt_put_u8_unchecked(b, v);
    return 0;
}

static inline uint64_t rt_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t rt_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- little-endian fixed-width ---- */
static inline void rt_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void rt_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void rt_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t rt_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t rt_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t rt_rd64(const uint8_t *p)
{
    return (uint64_t)rt_rd32(p) | ((uint64_t)rt_rd32(p + 4) << 32);
}

/* ---- bounds-checked cursor over untrusted bytes ---- */
struct rt_cur {
    const uint8_t *p, *end;
};

static inline int rt_cur_varint(struct rt_cur *c, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end)
            return -1;
        uint8_t b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

static inline int rt_cur_u8(struct rt_cur *c, uint8_t *out)
{
    if (c->p >= c->end)
        return -1;
    *out = *c->p++;
    return 0;
}

static inline int rt_cur_bytes(struct rt_cur *c, size_t n, const uint8_t **out)
{
    static const uint8_t empty[1];
    if ((size_t)(c->end - c->p) < n)
        return -1;
    if (n == 0) {
        /* a stream absent from its chunk is a NULL cursor, and NULL + 0 is undefined: an
         * empty field gets a valid pointer all the same */
        *out = c->p ? c->p : empty;
        return 0;
    }
    *out = c->p;
    c->p += n;
    return 0;
}

/* low 32 bits of the XXH3-64 of a block's content, used as the block check */
uint32_t rt_check32(const void *p, size_t n);

#endif
