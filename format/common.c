/* common.c: error texts, names, hashes and buffers shared by the writer and the reader. */
#include "format_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
/* XXH3 compiled in, not called in the shared library: a key of a few bytes is hashed for every
 * request an analysis or the replayer's order looks at, and the library's entry point, which
 * dispatches on the length and the CPU, took 104 instructions a 16-byte key against 24 here
 * (callgrind, hotkeys on the analysis benchmark's requests); the hash is the same function. */
#define XXH_INLINE_ALL
#include <xxhash.h>

const char *rt_strerror(int code)
{
    switch (code) {
#define RT_X_CASE(name, val, text)                                                                 \
    case name: return text;
        RT_ERRORS(RT_X_CASE)
#undef RT_X_CASE
    default: return "unknown error";
    }
}

void rt_err_set(struct rt_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

const char *trace_ev_type_name(unsigned type)
{
    static const char *const names[] = {"unknown", "open", "close", "request", "reply",
                                        "push",    "gap",  "stats", "note"};
    return type <= TRACE_EV_MAX_KNOWN ? names[type] : "unknown";
}

const char *trace_reply_type_name(unsigned rtype)
{
    switch (rtype) {
    case TRACE_R_SIMPLE: return "simple";
    case TRACE_R_ERROR: return "error";
    case TRACE_R_INTEGER: return "integer";
    case TRACE_R_BULK: return "bulk";
    case TRACE_R_ARRAY: return "array";
    case TRACE_R_NULL: return "null";
    case TRACE_R_DOUBLE: return "double";
    case TRACE_R_BOOLEAN: return "boolean";
    case TRACE_R_BLOB_ERROR: return "blob_error";
    case TRACE_R_VERBATIM: return "verbatim";
    case TRACE_R_BIGNUM: return "bignum";
    case TRACE_R_MAP: return "map";
    case TRACE_R_SET: return "set";
    case TRACE_R_ATTRIBUTE: return "attribute";
    case TRACE_R_PUSH: return "push";
    default: return "unknown";
    }
}

uint64_t trace_hash(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

uint32_t rt_check32(const void *p, size_t n)
{
    return (uint32_t)XXH3_64bits(p, n);
}

int rt_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *trace_addr_format(const struct trace_addr *a, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->family == 4)
        inet_ntop(AF_INET, a->addr, ip, sizeof ip);
    else if (a->family == 6)
        inet_ntop(AF_INET6, a->addr, ip, sizeof ip);
    if (a->family == 6)
        snprintf(buf, cap, "[%s]:%u", ip, (unsigned)a->port);
    else
        snprintf(buf, cap, "%s:%u", ip, (unsigned)a->port);
    return buf;
}

int rt_buf_grow(struct rt_buf *b, size_t need)
{
    if (need > SIZE_MAX / 2 - b->len)
        return -1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < need)
        cap *= 2;
    uint8_t *p;
    if (cap < RT_HUGE_MIN) {
        p = realloc(b->p, cap);
        if (!p)
            return -1;
    } else {
        /* by hand: huge pages are asked for before the copy first writes the new pages */
        if (!(p = malloc(cap)))
            return -1;
        rt_mem_huge(p, cap);
        if (b->len)
            memcpy(p, b->p, b->len);
        free(b->p);
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void rt_mem_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t page = 4096;
    if (!p || len < RT_HUGE_MIN)
        return;
    /* the whole pages inside the buffer only: the ones it shares belong to others too */
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), e = ((uintptr_t)p + len) & ~(page - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

void rt_buf_free(struct rt_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

uint16_t stream_id_of(int slot)
{
    static const uint16_t fixed[W_REPLY] = {
        S_TYPE,      S_TS,        S_CONN,     S_OPEN_FLAGS, S_OPEN_ADDR, S_CLOSE_REASON, S_REQ_DB,
        S_REQ_PROTO, S_REQ_FLAGS, S_REQ_ARGC, S_REQ_ARG0,   S_REQ_ARG1,  S_REQ_ARGLEN, S_REQ_ARGN,
        S_REQ_ARG0_REF, S_REQ_ARG1_REF, S_TS_LO};
    if (slot < W_REPLY)
        return fixed[slot];
    if (slot < W_PUSH)
        return (uint16_t)((TRACE_EV_REPLY << 4) | (slot - W_REPLY));
    if (slot < W_GAP)
        return (uint16_t)((TRACE_EV_PUSH << 4) | (slot - W_PUSH));
    switch (slot) {
    case W_GAP: return S_GAP;
    case W_STATS: return S_STATS;
    case W_NOTE: return S_NOTE;
    default: return S_NOTE_TEXT;
    }
}

int stream_slot_of(uint64_t id)
{
    for (int i = 0; i < W_NSTREAMS; i++)
        if (stream_id_of(i) == id)
            return i;
    return -1;
}
