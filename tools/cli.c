/* cli.c: formatting and parsing helpers shared by the resptrace subcommands. */
#define _GNU_SOURCE
#include "tools.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *rt_fmt_time(uint64_t ns, char *buf, size_t cap)
{
    time_t sec = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%09uZ", day, (unsigned)(ns % 1000000000u));
    return buf;
}

char *rt_fmt_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, cap, "%.1f %s", v, unit[u]);
    return buf;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if the bytes there are not one. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

json_t *rt_json_bytes(const void *vp, size_t n)
{
    const uint8_t *p = vp;
    size_t i = 0;
    /* fast path: valid UTF-8 without backslashes is stored as it is */
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0 || p[i] == '\\')
            break;
        i += k;
    }
    if (i == n)
        return json_stringn((const char *)p, n);
    size_t cap = n * 4 + 1;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t o = 0;
    for (i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) {
            o += (size_t)snprintf(s + o, cap - o, "\\x%02x", p[i]);
            i++;
        } else if (p[i] == '\\') {
            s[o++] = '\\';
            s[o++] = '\\';
            i++;
        } else {
            memcpy(s + o, p + i, k);
            o += k;
            i += k;
        }
    }
    json_t *j = json_stringn(s, o);
    free(s);
    return j;
}

void rt_quote(FILE *out, const void *vp, size_t n, size_t max)
{
    const uint8_t *p = vp;
    size_t shown = n < max ? n : max;
    fputc('"', out);
    for (size_t i = 0; i < shown; i++) {
        uint8_t c = p[i];
        switch (c) {
        case '\\': fputs("\\\\", out); break;
        case '"': fputs("\\\"", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c >= 0x20 && c < 0x7f)
                fputc(c, out);
            else
                fprintf(out, "\\x%02x", c);
        }
    }
    fputc('"', out);
    if (shown < n)
        fprintf(out, "...(+%zu bytes)", n - shown);
}

json_t *rt_json_u64(uint64_t v)
{
    /* jansson integers are signed 64-bit: counters beyond INT64_MAX are written as reals */
    if (v > (uint64_t)INT64_MAX)
        return json_real((double)v);
    return json_integer((json_int_t)v);
}

int rt_print_json(FILE *out, json_t *obj)
{
    if (!obj)
        return -1;
    int rc = json_dumpf(obj, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(obj);
    return rc;
}

struct trace_reader *rt_open_trace(const char *cmd, const char *path, int salvage)
{
    struct rt_err err = {0};
    struct trace_reader_opts o = {.salvage = salvage};
    struct trace_reader *r = trace_reader_open(path, &o, &err);
    if (!r)
        fprintf(stderr, "resptrace %s: %s\n", cmd, err.msg);
    return r;
}

int rt_parse_time(const char *s, uint64_t base_ns, uint64_t *out)
{
    char *end;
    if (strchr(s, 'T')) {
        struct tm tm = {0};
        const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest)
            return -1;
        uint64_t frac = 0, scale = 1000000000u;
        if (*rest == '.') {
            rest++;
            while (isdigit((unsigned char)*rest)) {
                if (scale > 1) {
                    scale /= 10;
                    frac += (uint64_t)(*rest - '0') * scale;
                }
                rest++;
            }
        }
        if (strcmp(rest, "Z") != 0 && *rest != 0)
            return -1;
        time_t t = timegm(&tm);
        if (t < 0)
            return -1;
        *out = (uint64_t)t * 1000000000u + frac;
        return 0;
    }
    errno = 0;
    if (s[0] != '+' && !strchr(s, '.')) {
        unsigned long long v = strtoull(s, &end, 10);
        if (!errno && *end == 0 && v > 1000000000000000ull) {
            *out = v;
            return 0;
        }
    }
    double sec = strtod(s[0] == '+' ? s + 1 : s, &end);
    if (errno || *end != 0 || sec < 0 || end == s)
        return -1;
    *out = base_ns + (uint64_t)(sec * 1e9 + 0.5);
    return 0;
}

/* ---- memory ---- */

void rt_oom(const char *cmd)
{
    fprintf(stderr, "resptrace %s: out of memory\n", cmd);
    exit(RT_EXIT_FAIL);
}

void *rt_xrealloc(const char *cmd, void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        rt_oom(cmd);
    return q;
}

void *rt_xcalloc(const char *cmd, size_t n, size_t sz)
{
    void *q = calloc(n ? n : 1, sz ? sz : 1);
    if (!q)
        rt_oom(cmd);
    return q;
}

char *rt_xstrdup(const char *cmd, const char *s)
{
    char *d = strdup(s);
    if (!d)
        rt_oom(cmd);
    return d;
}
