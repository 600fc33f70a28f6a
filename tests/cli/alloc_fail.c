/* alloc_fail.c: an LD_PRELOAD shim for test_oom.sh (built by the test with cc -shared): the
 * program's malloc, calloc, realloc, posix_memalign and aligned_alloc calls are counted across
 * its threads, and with RT_FAIL_ALLOC=N the N-th one fails (NULL, errno ENOMEM), once; the
 * others go to glibc's allocator. With RT_COUNT_ALLOC=1 the count is printed on stderr at exit
 * ("alloc calls: C"), so that the test can make each part of a run fail in turn. Test code
 * only: not linked into resptrace. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t sz);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);

static atomic_long calls;
static long fail_at = -1; /* 1-based; -1: never */
static int report;

__attribute__((constructor)) static void init(void)
{
    const char *s = getenv("RT_FAIL_ALLOC");
    if (s && *s)
        fail_at = strtol(s, NULL, 10);
    s = getenv("RT_COUNT_ALLOC");
    report = s && *s == '1';
    atomic_store(&calls, 0);
}

__attribute__((destructor)) static void fini(void)
{
    if (report) {
        char b[64];
        int n = snprintf(b, sizeof b, "alloc calls: %ld\n", atomic_load(&calls));
        if (n > 0 && fwrite(b, 1, (size_t)n, stderr))
            fflush(stderr);
    }
}

/* 1 when this call is the one to fail */
static int fail_now(void)
{
    long c = atomic_fetch_add(&calls, 1) + 1;
    if (c == fail_at) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    return fail_now() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t sz)
{
    return fail_now() ? NULL : __libc_calloc(n, sz);
}

void *realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (fail_now())
        return ENOMEM;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    return fail_now() ? NULL : __libc_memalign(align, n);
}
