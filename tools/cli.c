/* cli.c: formatting and parsing helpers shared by the resptrace subcommands. */
#define _GNU_SOURCE
#include "tools.h"
#include "replay.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

struct trace_reader *rt_open_trace_opts(const char *cmd, const char *path,
                                        const struct trace_reader_opts *o)
{
    struct rt_err err = {0};
    struct trace_reader *r = trace_reader_open(path, o, &err);
    if (!r)
        fprintf(stderr, "resptrace %s: %s\n", cmd, err.msg);
    return r;
}

struct trace_reader *rt_open_trace(const char *cmd, const char *path, int salvage)
{
    struct trace_reader_opts o = {.salvage = salvage};
    return rt_open_trace_opts(cmd, path, &o);
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

/* ---- conventions ---- */

int rt_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "resptrace %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee 'resptrace %s --help'\n", cmd);
    return RT_EXIT_USAGE;
}

int rt_opt_encoding(const char *cmd, const char *arg, int *enc)
{
    if ((arg[0] >= '1' && arg[0] <= '3') && !arg[1]) {
        *enc = arg[0] - '0';
        return 0;
    }
    return rt_usage_error(cmd, "--encoding takes a chunk encoding 1-3, not '%s'", arg);
}

json_t *rt_json_doc(const char *cmd)
{
    json_t *j = json_object();
    if (!j || json_object_set_new(j, "tool", json_string("resptrace")) != 0 ||
        json_object_set_new(j, "version", json_string(RT_VERSION_STRING)) != 0 ||
        json_object_set_new(j, "schema", json_integer(RT_JSON_SCHEMA)) != 0 ||
        json_object_set_new(j, "command", json_string(cmd)) != 0)
        rt_oom(cmd);
    return j;
}

int rt_json_write(const char *cmd, json_t *doc, const char *path)
{
    if (!doc) {
        fprintf(stderr, "resptrace %s: out of memory\n", cmd);
        return -1;
    }
    int rc = 0;
    if (!path || !strcmp(path, "-")) {
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
            fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
            fprintf(stderr, "resptrace %s: cannot write the JSON to stdout: %s\n", cmd,
                    strerror(errno));
            rc = -1;
        }
        json_decref(doc);
        return rc;
    }
    struct rt_out o = {0};
    FILE *f = rt_out_open(cmd, &o, path, 0644);
    if (!f) {
        json_decref(doc);
        return -1;
    }
    if (json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', f) == EOF) {
        fprintf(stderr, "resptrace %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        rt_out_abort(&o, 0);
        rc = -1;
    } else if (rt_out_commit(cmd, &o, 0) != 0) {
        rc = -1;
    }
    json_decref(doc);
    return rc;
}

int rt_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int rt_out_refuse_inputs(const char *cmd, const char *out, const char *const *inputs, size_t n)
{
    if (!out || !strcmp(out, "-"))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!inputs[i] || !strcmp(inputs[i], "-"))
            continue;
        if (rt_same_file(out, inputs[i])) {
            fprintf(stderr, "resptrace %s: will not write %s: it is the input %s (choose another "
                            "output name)\n",
                    cmd, out, inputs[i]);
            return -1;
        }
    }
    return 0;
}

int rt_out_begin(const char *cmd, struct rt_out *o, const char *path, unsigned mode)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (!strcmp(path, "-")) {
        o->fd = 1;
        return 1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* a FIFO or a device (/dev/null, /dev/stdout): written in place, since renaming a
         * temporary file over it would replace the node itself */
        o->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0)
            fprintf(stderr, "resptrace %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        return o->fd;
    }
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    size_t cap = strlen(path) + 32;
    o->tmp = malloc(cap);
    o->path = strdup(path);
    if (!o->tmp || !o->path)
        rt_oom(cmd);
    snprintf(o->tmp, cap, "%.*s.%s.tmp-XXXXXX", (int)dlen, path, base);
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "resptrace %s: cannot create %s: %s\n", cmd, path, strerror(errno));
        free(o->tmp);
        free(o->path);
        o->tmp = o->path = NULL;
        return -1;
    }
    if (fchmod(fd, (mode_t)mode) != 0) {
        /* not fatal: the file keeps mkstemp's 0600 */
    }
    o->fd = fd;
    return fd;
}

FILE *rt_out_open(const char *cmd, struct rt_out *o, const char *path, unsigned mode)
{
    int fd = rt_out_begin(cmd, o, path, mode);
    if (fd < 0)
        return NULL;
    if (fd == 1) {
        o->f = stdout;
        return stdout;
    }
    o->f = fdopen(fd, "w");
    if (!o->f) {
        fprintf(stderr, "resptrace %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        rt_out_abort(o, 0);
        return NULL;
    }
    o->fd = -1; /* the stream owns it now */
    return o->f;
}

int rt_out_commit(const char *cmd, struct rt_out *o, int handed_over)
{
    int rc = 0, e = 0;
    if (!o->tmp && o->f != stdout && o->fd != 1) {
        /* written in place (a FIFO or a device): close it, nothing to rename */
        if (o->f && fclose(o->f) != 0)
            e = errno;
        else if (!o->f && o->fd >= 0 && !handed_over && close(o->fd) != 0)
            e = errno;
        if (e)
            fprintf(stderr, "resptrace %s: cannot write: %s\n", cmd, strerror(e));
        memset(o, 0, sizeof *o);
        o->fd = -1;
        return e ? -1 : 0;
    }
    if (o->f == stdout || (!o->tmp && o->fd == 1)) {
        if (fflush(stdout) != 0) {
            fprintf(stderr, "resptrace %s: cannot write to stdout: %s\n", cmd, strerror(errno));
            rc = -1;
        }
        memset(o, 0, sizeof *o);
        o->fd = -1;
        return rc;
    }
    if (o->f) {
        if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
            e = errno;
        if (fclose(o->f) != 0 && !e)
            e = errno;
        o->f = NULL;
    } else if (o->fd >= 0 && !handed_over) {
        if (fsync(o->fd) != 0)
            e = errno;
        if (close(o->fd) != 0 && !e)
            e = errno;
    }
    o->fd = -1;
    if (!e && o->tmp && rename(o->tmp, o->path) != 0)
        e = errno;
    if (e) {
        fprintf(stderr, "resptrace %s: cannot write %s: %s (left as it was)\n", cmd,
                o->path ? o->path : "?", strerror(e));
        rc = -1;
        if (o->tmp)
            unlink(o->tmp);
    }
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
    return rc;
}

void rt_out_abort(struct rt_out *o, int handed_over)
{
    if (o->f && o->f != stdout)
        fclose(o->f);
    else if (o->fd > 1 && !handed_over)
        close(o->fd);
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    o->fd = -1;
}

volatile int rt_interrupted;

static void on_stop_signal(int sig)
{
    (void)sig;
    rt_interrupted = 1;
}

void rt_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rt_progress_init(struct rt_progress *p, int quiet)
{
    memset(p, 0, sizeof *p);
    p->on = !quiet && isatty(2);
    p->start_ns = p->last_ns = mono_ns();
}

int rt_progress_due(struct rt_progress *p)
{
    if (!p->on)
        return 0;
    uint64_t now = mono_ns();
    if (now - p->last_ns < 250000000u)
        return 0;
    p->last_ns = now;
    return 1;
}

void rt_progress_show(struct rt_progress *p, const char *fmt, ...)
{
    if (!p->on)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    line[79] = 0; /* a status line never wraps on an 80-column terminal */
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    p->shown = 1;
}

static void fmt_count(uint64_t v, char *buf, size_t cap)
{
    if (v >= 1000000)
        snprintf(buf, cap, "%.2fM", (double)v / 1e6);
    else if (v >= 10000)
        snprintf(buf, cap, "%.1fk", (double)v / 1e3);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)v);
}

void rt_progress_trace(struct rt_progress *p, const char *cmd, const struct trace_reader *r,
                       uint64_t events, const char *extra)
{
    if (!p->on)
        return;
    double el = (double)(mono_ns() - p->start_ns) / 1e9;
    uint64_t size = trace_reader_file_size(r), off = trace_reader_offset(r);
    char ev[32], rate[32], eta[32] = "";
    fmt_count(events, ev, sizeof ev);
    fmt_count(el > 0 ? (uint64_t)((double)events / el) : 0, rate, sizeof rate);
    if (!size || off >= size) {
        /* stdin: its size is what was read so far, so no part of a whole to show */
        rt_progress_show(p, "%s  %s events (%s/s)%s%s", cmd, ev, rate, extra ? "  " : "",
                         extra ? extra : "");
        return;
    }
    double frac = (double)off / (double)size;
    if (frac > 0.01 && el > 0.5)
        snprintf(eta, sizeof eta, "  ETA %.0fs", el / frac - el);
    rt_progress_show(p, "%s %3.0f%%  %s events (%s/s)%s%s%s", cmd, frac * 100, ev, rate, eta,
                     extra ? "  " : "", extra ? extra : "");
}

void rt_progress_done(struct rt_progress *p)
{
    if (p->on && p->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->shown = 0;
}

void rt_warn_cmdline_password(const char *cmd, const char *what)
{
    static int warned;
    if (warned)
        return;
    warned = 1;
    fprintf(stderr, "resptrace %s: Warning: a password given with %s on the command line may "
                    "be seen by other users (ps, /proc); set RESPTRACE_PASS or REDISCLI_AUTH "
                    "instead\n",
            cmd, what);
}

int rt_url_has_password(const char *url)
{
    const char *s = !strncmp(url, "redis://", 8) ? url + 8 : !strncmp(url, "rediss://", 9) ? url + 9
                                                                                        : NULL;
    if (!s)
        return 0;
    size_t alen = strcspn(s, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (s[i] == '@')
            at = s + i;
    return at && memchr(s, ':', (size_t)(at - s)) != NULL;
}

int rt_tls_option(int c, const char *arg, struct replay_tls *t)
{
    switch (c) {
    case RT_O_CACERT: t->ca_file = arg; return 1;
    case RT_O_CACERTDIR: t->ca_dir = arg; return 1;
    case RT_O_CERT: t->cert = arg; return 1;
    case RT_O_KEY: t->key = arg; return 1;
    case RT_O_SNI: t->sni = arg; return 1;
    case RT_O_INSECURE: t->insecure = 1; return 1;
    default: return 0;
    }
}

const char *rt_env_first(const char *a, const char *b)
{
    const char *v = getenv(a);
    if ((!v || !*v) && b)
        v = getenv(b);
    return v && *v ? v : NULL;
}
