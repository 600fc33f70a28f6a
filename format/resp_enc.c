/* resp_enc.c: the one RESP request encoder: an array of bulk strings, as clients send
 * commands. The replayer's wire bytes (with a key prefix), `cat --format resp` and
 * `convert --to resp` all write requests with it. */
#include "format.h"

#include <stdio.h>
#include <string.h>

size_t resp_ndigits(uint64_t v)
{
    if (v < 10)
        return 1; /* (most headers: the common cases first) */
    if (v < 100)
        return 2;
    if (v < 1000)
        return 3;
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* `c`, the decimal `v` and CRLF at buf; @return the bytes written (at most 23) */
static size_t put_head(char *buf, char c, uint64_t v)
{
    buf[0] = c;
    if (v < 10) { /* (most headers: "*3", "$3") */
        buf[1] = (char)('0' + v);
        buf[2] = '\r';
        buf[3] = '\n';
        return 4;
    }
    if (v < 100) { /* (keys and short values: "$16") */
        buf[1] = (char)('0' + v / 10);
        buf[2] = (char)('0' + v % 10);
        buf[3] = '\r';
        buf[4] = '\n';
        return 5;
    }
    size_t d = resp_ndigits(v);
    for (size_t i = d; i > 0; i--) {
        buf[i] = (char)('0' + v % 10);
        v /= 10;
    }
    buf[d + 1] = '\r';
    buf[d + 2] = '\n';
    return d + 3;
}

size_t resp_request_len(size_t argc, const size_t *len, const uint8_t *iskey, size_t plen)
{
    size_t total = 3 + resp_ndigits(argc);
    for (size_t i = 0; i < argc; i++) {
        size_t n = len[i] + (iskey && iskey[i] ? plen : 0);
        total += 3 + resp_ndigits(n) + n + 2;
    }
    return total;
}

size_t resp_request_write(char *buf, size_t argc, const char *const *argv, const size_t *len,
                          const uint8_t *iskey, const char *prefix, size_t plen)
{
    size_t p = put_head(buf, '*', argc);
    for (size_t i = 0; i < argc; i++) {
        int k = iskey && iskey[i] && plen;
        p += put_head(buf + p, '$', len[i] + (k ? plen : 0));
        if (k) {
            memcpy(buf + p, prefix, plen);
            p += plen;
        }
        memcpy(buf + p, argv[i], len[i]);
        p += len[i];
        buf[p++] = '\r';
        buf[p++] = '\n';
    }
    return p;
}

int resp_request_fput(FILE *out, size_t argc, const char *const *argv, const size_t *len)
{
    char head[24];
    fwrite(head, 1, put_head(head, '*', argc), out);
    for (size_t i = 0; i < argc; i++) {
        fwrite(head, 1, put_head(head, '$', len[i]), out);
        fwrite(argv[i], 1, len[i], out);
        fwrite("\r\n", 1, 2, out);
    }
    return ferror(out) ? -1 : 0;
}
