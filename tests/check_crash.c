/* check_crash.c: a writer killed with SIGKILL leaves a trace that reads up to its last chunk. */
#include "check_suites.h"
#include "format.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_EVENTS 1000

static void fill(struct trace_event *ev, uint64_t i, char *key, size_t *lens, const char **argv)
{
    memset(ev, 0, sizeof *ev);
    ev->type = TRACE_EV_REQUEST;
    ev->ts = 1764171752000000000ull + i * 1000;
    ev->conn = 1 + i % 13;
    lens[1] = (size_t)snprintf(key, 32, "key:%llu", (unsigned long long)i);
    argv[0] = "SET";
    lens[0] = 3;
    argv[1] = key;
    argv[2] = key;
    lens[2] = lens[1];
    ev->u.req.argc = 3;
    ev->u.req.argv = argv;
    ev->u.req.argvlen = lens;
    ev->u.req.proto = 2;
}

/* The child writes events forever; the parent kills it once a few chunks are on disk. With
 * `sync` 0 (the default) a background thread compresses and writes the chunks. */
static void writer_forever(const char *path, int sync)
{
    struct rt_err err = {0};
    struct trace_writer_opts o = {.chunk_events = CHUNK_EVENTS, .synchronous = sync};
    struct trace_writer *w = trace_writer_open(path, NULL, 0, &o, &err);
    if (!w)
        _exit(2);
    char key[32];
    size_t lens[3];
    const char *argv[3];
    for (uint64_t i = 0;; i++) {
        struct trace_event ev;
        fill(&ev, i, key, lens, argv);
        if (trace_writer_add(w, &ev, &err) != 0)
            _exit(3);
        if (i % 500 == 0)
            usleep(1000);
    }
}

START_TEST(test_crash_sigkill_leaves_readable_prefix)
{
    char path[512];
    const char *dir = getenv("RT_TEST_TMP") ? getenv("RT_TEST_TMP") : "/tmp";
    snprintf(path, sizeof path, "%s/crash-%d-%d.rtrace", dir, (int)getpid(), _i);
    unlink(path);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        writer_forever(path, _i);
    struct stat st;
    for (int tries = 0; tries < 2000; tries++) {
        if (stat(path, &st) == 0 && st.st_size > 20000)
            break;
        usleep(5000);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    struct rt_err err = {0};
    struct trace_reader *r = trace_reader_open(path, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(trace_reader_has_index(r), 0);
    struct trace_event ev, want;
    char key[32];
    size_t lens[3];
    const char *argv[3];
    uint64_t n = 0;
    int rc;
    while ((rc = trace_reader_next(r, &ev, &err)) == 1) {
        fill(&want, n, key, lens, argv);
        ck_assert_uint_eq(ev.ts, want.ts);
        ck_assert_uint_eq(ev.conn, want.conn);
        ck_assert_uint_eq(ev.u.req.seq, n);
        ck_assert_uint_eq(ev.u.req.argc, 3);
        ck_assert_uint_eq(ev.u.req.argvlen[1], lens[1]);
        ck_assert(memcmp(ev.u.req.argv[1], key, lens[1]) == 0);
        n++;
    }
    /* a kill between chunks or inside one: everything of the complete chunks, then the end */
    ck_assert_int_eq(rc, RT_ETRUNCATED);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_nonnull(strstr(err.msg, "offset"));
    ck_assert_uint_ge(n, CHUNK_EVENTS);
    ck_assert_uint_eq(n % CHUNK_EVENTS, 0);
    trace_reader_close(r);
    unlink(path);
}
END_TEST

Suite *crash_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("sigkill");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_crash_sigkill_leaves_readable_prefix, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
