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
#define TRACE_CHUNK_ENCODING 1   /* columnar, every chunk decodes on its own */
#define TRACE_CHUNK_ENCODING_2 2 /* since 1.2: as 1, with tables a chunk carries over to the next */
#define TRACE_CHUNK_ENCODING_3 3 /* since 1.3: as 2, with the lengths of arguments 2.. apart */
#define TRACE_CHUNK_ENCODING_MAX 3
/* encodings 2 and 3 carry tables from chunk to chunk, in chains */
#define TRACE_ENC_TABLES(e) ((e) == TRACE_CHUNK_ENCODING_2 || (e) == TRACE_CHUNK_ENCODING_3)
#define TRACE_ENC_KNOWN(e) ((e) >= TRACE_CHUNK_ENCODING && (e) <= TRACE_CHUNK_ENCODING_MAX)
/* chunk header flags */
#define TRACE_CHUNK_DEPENDS 0x1u /* encodings 2, 3: the chunk uses the tables of the chunks before it */
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
    S_TS_LO = 0x04, /* encoding 2: the low byte of the ts field; 0x02 holds the rest */
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
    S_REQ_ARG0_REF = 0x38, /* encoding 2 */
    S_REQ_ARG1_REF = 0x39, /* encoding 2 */
    S_REQ_ARGLEN = 0x3a,   /* encoding 3: the lengths of arguments 2.. (0x37: their bytes) */
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
    S_R_REF = 0xc, /* encoding 2, REPLY only */
    S_GAP = 0x60,
    S_STATS = 0x70,
    S_NOTE = 0x80,
    S_NOTE_TEXT = 0x81
};


/* Stream slots used in memory by the writer and the reader; stream_id_of() gives the id on
 * disk. REPLY and PUSH get 13 slots each (S_R_* offsets). */
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
    W_REQ_ARGLEN, /* before W_REQ_ARGN: the lengths share a frame with the streams before */
    W_REQ_ARGN,
    W_REQ_ARG0_REF,
    W_REQ_ARG1_REF,
    W_TS_LO,
    W_REPLY,
    W_PUSH = W_REPLY + 13,
    W_GAP = W_PUSH + 13,
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

/* Asks the kernel to back the whole 4 KiB pages of p[0..len) with transparent huge pages when
 * len is at least RT_HUGE_MIN (madvise MADV_HUGEPAGE; a hint: where the kernel does not have
 * them, nothing changes). Fresh memory is faulted in a page at a time, and a fault costs about
 * 10-20 us on the development machine (a paravirtualized VM: 256 MiB written page by page
 * took 1.3-1.5 s, on huge pages 37 ms); see table.c. rt_buf_grow() asks it
 * for every buffer it grows past RT_HUGE_MIN (chunk buffers, streams), before the pages are
 * first written, so it grows such a buffer by malloc, copy and free rather than realloc. */
#define RT_HUGE_MIN (2u << 20)
void rt_mem_huge(void *p, size_t len);

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

/* A varint (LEB128). Most of a trace's are one byte (deltas, references, lengths, flags) and
 * nearly all the rest two: those take a straight path of one or two loads and no loop (the
 * loop cost the reader a fifth of its instructions); the loop below decodes the same bytes the
 * same way, bounds and the 10-byte limit included. */
static inline int rt_cur_varint(struct rt_cur *c, uint64_t *out)
{
    const uint8_t *p = c->p;
    if (__builtin_expect(p < c->end, 1)) {
        uint8_t b0 = p[0];
        if (__builtin_expect(!(b0 & 0x80), 1)) {
            *out = b0;
            c->p = p + 1;
            return 0;
        }
        if (p + 1 < c->end && !(p[1] & 0x80)) {
            *out = (uint64_t)(b0 & 0x7f) | (uint64_t)p[1] << 7;
            c->p = p + 2;
            return 0;
        }
    }
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

/* ---- the tables of chunk encoding 2 (table.c) ----
 * A chain of encoding-2 chunks shares three tables that start empty at the chain's first
 * chunk: the command names (argument 0), the keys (argument 1) and the replies without
 * error text or payload. A field that repeats an entry is stored as the entry's number.
 * The limits are the format's: a writer never goes past them, a reader refuses a chunk that
 * would. */
enum { TAB_ARG0, TAB_ARG1, TAB_REPLY, TRACE_NTABLES };
#define TRACE_TAB_MAX_STR 1024u            /* longest string a table holds */
#define TRACE_TAB_MAX_BYTES (32u << 20)    /* bytes of strings in one string table */
#define TRACE_TAB_MAX_ENTRIES (1u << 20)   /* entries in one string table */
#define TRACE_TAB_MAX_REPLIES (512u << 10) /* entries in the reply table */
/* A field's reference: REF_LITERAL, the value follows in the field's own stream as in
 * encoding 1; REF_ADD, the same and it becomes the table's next entry; REF_ADD + 1 + i:
 * entry i. */
/* the writer's chain bounds: a seek decodes at most this much from the chain's first chunk,
 * and damage to a chunk loses at most the rest of its chain */
#define TRACE_CHAIN_BYTES (128u << 20)
#define TRACE_CHAIN_CHUNKS 256u
#define TRACE_REF_LITERAL 0u
#define TRACE_REF_ADD 1u
#define TRACE_REF_ENTRY 2u

struct str_tab {
    struct rt_buf bytes; /* the strings back to back */
    uint32_t *end;       /* entry i is bytes [end[i - 1] (0 for i = 0), end[i]) */
    uint32_t n, cap;
    uint64_t *slot; /* the writer's index: (hash << 32) | (entry + 1), 0 when empty */
    uint32_t nslot; /* a power of two, or 0 */
    int unmapped;   /* its reservations were refused: bytes and end grow by realloc (table.c) */
};

/* What a reply table entry fixes: every field of a reply but `back`, which is per event. */
struct reply_desc {
    uint64_t len, count, size, hash;
    int64_t ival;
    uint32_t flags;
    uint8_t rtype;
};

struct desc_tab {
    struct reply_desc *d;
    uint32_t n, cap;
    uint64_t *slot;
    uint32_t nslot;
    int unmapped; /* its reservation was refused: d grows by realloc (table.c) */
};

static inline const uint8_t *str_tab_get(const struct str_tab *t, uint32_t i, size_t *len)
{
    uint32_t start = i ? t->end[i - 1] : 0;
    *len = t->end[i] - start;
    /* (a table of empty strings has no bytes at all: NULL + 0 is undefined, "" is not) */
    return t->bytes.p ? t->bytes.p + start : (const uint8_t *)"";
}

uint32_t str_tab_hash(const void *p, size_t len);
/* @return the entry equal to p[0..len), or -1 (the writer's index only) */
int str_tab_find(const struct str_tab *t, const void *p, size_t len, uint32_t hash);
/* Appends an entry (indexed: also to the index, under `hash`). @return 0, -1 out of memory,
 * or -2 past a TRACE_TAB_* limit. */
int str_tab_add(struct str_tab *t, const void *p, size_t len, int indexed, uint32_t hash);
void str_tab_reset(struct str_tab *t);
void str_tab_free(struct str_tab *t);

uint32_t desc_tab_hash(const struct reply_desc *d);
int desc_tab_find(const struct desc_tab *t, const struct reply_desc *d, uint32_t hash);
int desc_tab_add(struct desc_tab *t, const struct reply_desc *d, int indexed, uint32_t hash);
void desc_tab_reset(struct desc_tab *t);
void desc_tab_free(struct desc_tab *t);

/* ---- the command table (cmdtable.c) ---- */

/* rt_cmd_values() is cmd_values(..., 1); with plain 0 every request goes through the grammar
 * match, without the shortcut for plain argument lists (for the test that compares them). */
int cmd_values(const struct rt_cmd *c, size_t argc, const char *const *argv,
               const size_t *argvlen, uint32_t *pos, size_t cap, size_t *n, int plain);

#endif
