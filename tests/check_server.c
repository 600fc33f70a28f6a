/* check_server.c: the throwaway redis-server: start, answer, stop, errors that quote its log,
 * extra options, TLS beside the plain port, and no server outliving its parent. */
#include "check_suites.h"
#include "replay.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Connects to 127.0.0.1:port. @return the socket, or -1 (errno ECONNREFUSED when closed). */
static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Sends `req` (RESP or inline) and reads what arrives until `want` is in it or 2 s pass. */
static int exchange(uint16_t port, const char *req, const char *want, char *buf, size_t cap)
{
    int fd = dial(port);
    if (fd < 0)
        return -1;
    size_t len = 0;
    buf[0] = 0;
    int ok = send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req) ? 0 : -1;
    while (ok == 0 && !strstr(buf, want) && len < cap - 1) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            ok = -1;
        else
            buf[len += (size_t)n] = 0;
    }
    close(fd);
    return ok;
}

/* Waits up to ms for nothing to listen on the port any more. @return 1 when closed. */
static int port_closes(uint16_t port, int ms)
{
    for (int waited = 0; waited <= ms; waited += 20) {
        int fd = dial(port);
        if (fd < 0 && errno == ECONNREFUSED)
            return 1;
        if (fd >= 0)
            close(fd);
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

START_TEST(test_server_start_answers_and_stop_closes)
{
    struct replay_server s;
    struct rt_err err = {0};
    int rc = replay_server_start(&s, NULL, &err);
    ck_assert_msg(rc == 0, "start: %s", err.msg);
    ck_assert_int_gt(s.pid, 0);
    ck_assert_uint_gt(s.port, 0);
    struct stat st;
    ck_assert_int_eq(stat(s.dir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    char buf[512];
    ck_assert_int_eq(exchange(s.port, "PING\r\n", "\r\n", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "+PONG\r\n");
    ck_assert_int_eq(exchange(s.port, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\nGET k\r\n",
                              "$2\r\nv1\r\n", buf, sizeof buf),
                     0);
    ck_assert_str_eq(buf, "+OK\r\n$2\r\nv1\r\n");
    /* no persistence, and it runs in its directory */
    ck_assert_int_eq(exchange(s.port, "CONFIG GET save\r\n", "\r\n$0\r\n", buf, sizeof buf), 0);
    ck_assert_int_eq(exchange(s.port, "CONFIG GET dir\r\n", s.dir, buf, sizeof buf), 0);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s.dir);
    pid_t pid = s.pid;
    uint16_t port = s.port;
    replay_server_stop(&s);
    ck_assert_int_eq(s.pid, 0);
    int fd = dial(port);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    ck_assert_int_ne(stat(dir, &st), 0);               /* its directory is gone */
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1); /* and it was reaped */
    replay_server_stop(&s);                            /* a second stop does nothing */
}
END_TEST

START_TEST(test_server_extra_args_reach_the_server)
{
    static const char *const extra[] = {"--maxmemory", "12345678", "--databases", "3", NULL};
    struct replay_server s;
    struct rt_err err = {0};
    ck_assert_msg(
        replay_server_start(&s, &(struct replay_server_opts){.extra_args = extra}, &err) == 0,
        "start: %s", err.msg);
    char buf[512];
    ck_assert_int_eq(exchange(s.port, "CONFIG GET maxmemory\r\n", "12345678", buf, sizeof buf), 0);
    ck_assert_int_eq(exchange(s.port, "SELECT 3\r\n", "\r\n", buf, sizeof buf), 0);
    ck_assert_msg(buf[0] == '-', "SELECT 3 with 3 databases: %s", buf);
    replay_server_stop(&s);
}
END_TEST

START_TEST(test_server_missing_binary_is_named)
{
    struct replay_server s;
    struct rt_err err = {0};
    struct replay_server_opts o = {.binary = "/nonexistent/redis-server"};
    ck_assert_int_lt(replay_server_start(&s, &o, &err), 0);
    ck_assert_msg(strstr(err.msg, "/nonexistent/redis-server") && strstr(err.msg, "No such file"),
                  "message '%s'", err.msg);
    ck_assert_int_eq(s.pid, 0);
    ck_assert_str_eq(s.dir, "");
    o.binary = "no-such-redis-server-here";
    ck_assert_int_lt(replay_server_start(&s, &o, &err), 0);
    ck_assert_msg(strstr(err.msg, "no-such-redis-server-here not found in PATH"), "message '%s'",
                  err.msg);
    o.binary = "/";
    ck_assert_int_lt(replay_server_start(&s, &o, &err), 0);
    ck_assert_msg(strstr(err.msg, "not a regular file"), "message '%s'", err.msg);
    /* a name is looked up in the search path given (the CLI's $PATH), not the environment's */
    o.binary = "redis-server";
    o.search_path = "/nonexistent-dir";
    ck_assert_int_lt(replay_server_start(&s, &o, &err), 0);
    ck_assert_msg(strstr(err.msg, "redis-server not found in PATH"), "message '%s'", err.msg);
}
END_TEST

START_TEST(test_server_config_error_quotes_the_log)
{
    static const char *const extra[] = {"--no-such-directive", "1", NULL};
    struct replay_server s;
    struct rt_err err = {0};
    ck_assert_int_lt(replay_server_start(&s, &(struct replay_server_opts){.extra_args = extra}, &err), 0);
    ck_assert_msg(strstr(err.msg, "exited with status 1") && strstr(err.msg, "no-such-directive"),
                  "message '%s'", err.msg);
    ck_assert_int_eq(s.pid, 0);
}
END_TEST

/* A "server" that never answers is killed after the start timeout, and its output quoted. */
START_TEST(test_server_silent_binary_times_out)
{
    char dir[] = "/tmp/check-server-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/fake-redis", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("#!/bin/sh\necho 'fake server up, answering nothing' >&2\nexec sleep 60\n", f);
    fclose(f);
    chmod(path, 0700);
    struct replay_server s;
    struct rt_err err = {0};
    ck_assert_int_lt(replay_server_start(&s, &(struct replay_server_opts){.binary = path}, &err), 0);
    unlink(path);
    rmdir(dir);
    ck_assert_msg(strstr(err.msg, "did not answer PING") &&
                      strstr(err.msg, "fake server up, answering nothing"),
                  "message '%s'", err.msg);
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1); /* killed and reaped */
    ck_assert_int_eq(errno, ECHILD);
}
END_TEST

/* The child the parent forks starts a server, reports its port, and dies without stopping it. */
START_TEST(test_server_dies_with_its_parent)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        struct replay_server s;
        struct rt_err err = {0};
        char line[300] = "";
        if (replay_server_start(&s, NULL, &err) == 0)
            snprintf(line, sizeof line, "%u %s", (unsigned)s.port, s.dir);
        ssize_t w = write(p[1], line, strlen(line) + 1);
        _exit(w > 0 ? 0 : 1);
    }
    close(p[1]);
    char line[300] = "";
    ssize_t n = read(p[0], line, sizeof line - 1);
    close(p[0]);
    ck_assert_int_gt(n, 0);
    waitpid(child, NULL, 0);
    unsigned port = 0;
    char dir[300] = "";
    ck_assert_msg(sscanf(line, "%u %299s", &port, dir) == 2, "the child's server: '%s'", line);
    ck_assert_msg(port_closes((uint16_t)port, 3000), "the server outlived its parent");
    /* what the dead parent could not clean up */
    char log[400];
    snprintf(log, sizeof log, "%s/redis.log", dir);
    unlink(log);
    rmdir(dir);
}
END_TEST

/* With TLS options the server still starts (probed on its plain port) and serves TLS too. */
START_TEST(test_server_tls_beside_the_plain_port)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "check_server: no openssl command, TLS start not tested\n");
        return;
    }
    char dir[] = "/tmp/check-server-tls-XXXXXX", cmd[600], cert[64], key[64], tlsport[8];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-keyout %s -out %s >/dev/null 2>&1",
             key, cert);
    ck_assert_int_eq(system(cmd), 0);
    /* a port for TLS: the kernel's pick, as the server's own is */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    snprintf(tlsport, sizeof tlsport, "%u", (unsigned)ntohs(a.sin_port));
    close(fd);
    const char *const extra[] = {"--tls-port",
                                 tlsport,
                                 "--tls-cert-file",
                                 cert,
                                 "--tls-key-file",
                                 key,
                                 "--tls-ca-cert-file",
                                 cert,
                                 "--tls-auth-clients",
                                 "no",
                                 NULL};
    struct replay_server s;
    struct rt_err err = {0};
    int rc = replay_server_start(&s, &(struct replay_server_opts){.extra_args = extra}, &err);
    if (rc != 0 && strstr(err.msg, "tls")) {
        fprintf(stderr, "check_server: redis-server without TLS? %s\n", err.msg);
    } else {
        ck_assert_msg(rc == 0, "start with TLS: %s", err.msg);
        int t = dial((uint16_t)atoi(tlsport));
        ck_assert_msg(t >= 0, "nothing listens on the TLS port %s", tlsport);
        close(t);
        char buf[64];
        ck_assert_int_eq(exchange(s.port, "PING\r\n", "\r\n", buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "+PONG\r\n");
        replay_server_stop(&s);
        ck_assert(port_closes((uint16_t)atoi(tlsport), 1000));
    }
    unlink(cert);
    unlink(key);
    rmdir(dir);
}
END_TEST

Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_server_start_answers_and_stop_closes);
    tcase_add_test(tc, test_server_extra_args_reach_the_server);
    tcase_add_test(tc, test_server_missing_binary_is_named);
    tcase_add_test(tc, test_server_config_error_quotes_the_log);
    tcase_add_test(tc, test_server_silent_binary_times_out);
    tcase_add_test(tc, test_server_dies_with_its_parent);
    tcase_add_test(tc, test_server_tls_beside_the_plain_port);
    suite_add_tcase(s, tc);
    return s;
}
