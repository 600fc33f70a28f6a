/* server.c: a throwaway redis-server on a free loopback port: the replayer's embedded default
 * target (no --target given) and the tests' server.
 *
 * The port comes from binding port 0 on 127.0.0.1 and closing the socket, so another process
 * may take it before redis-server binds it: the server then exits with "Address already in
 * use" in its log and is started again on another port. The readiness probe pipelines PING
 * and INFO server on the plain port and checks that the process_id in the reply is our
 * child's, so a server that some other process runs on the port we picked is never mistaken
 * for ours. With TLS options in `extra_args` the plain port stays open for that probe.
 *
 * The child cannot outlive us: it asks for SIGTERM when its parent dies (PR_SET_PDEATHSIG).
 * It runs in a process group of its own, so that a Ctrl-C at the terminal reaches the
 * replayer, which then finishes its report while the server is still up, and not the server.
 */
#define _GNU_SOURCE /* close_range, pipe2 */
#include "replay.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 5000 /* until the server answers */
#define STOP_TIMEOUT_MS 3000  /* from SIGTERM to SIGKILL */
#define PORT_ATTEMPTS 5       /* starts lost to a port race before giving up */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void msleep(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A port that nothing listens on right now. @return 0, or -1 with errno set. */
static int free_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int rc = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        *port = ntohs(a.sin_port);
        rc = 0;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Probes 127.0.0.1:port. @return 1 when the server there is process `pid` and answers PING
 * (or refuses it with NOAUTH: it serves, though requirepass hides its identity), else 0. */
static int probe(uint16_t port, pid_t pid)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    struct timeval tv = {0, 250000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    static const char req[] = "PING\r\nINFO server\r\n";
    char buf[8192];
    size_t len = 0;
    int ok = 0;
    char want[40];
    snprintf(want, sizeof want, "\r\nprocess_id:%ld\r\n", (long)pid);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
        goto done;
    while (len < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = 0;
        if (len >= 7 && strncmp(buf, "-NOAUTH", 7) == 0) {
            ok = 1;
            break;
        }
        if (len >= 7 && strncmp(buf, "+PONG\r\n", 7) != 0)
            break; /* -LOADING, or not a redis */
        if (strstr(buf, want)) {
            ok = 1;
            break;
        }
    }
done:
    close(fd);
    return ok;
}

/* Finds the server binary: o->binary (a path, or a name looked up in o->search_path), else
 * redis-server in o->search_path. */
static int find_binary(const struct replay_server_opts *o, char *path, size_t cap,
                       struct rt_err *err)
{
    const char *bin = o->binary && *o->binary ? o->binary : NULL;
    if (bin && strchr(bin, '/')) {
        struct stat st;
        const char *why = NULL;
        if (access(bin, X_OK) != 0 || stat(bin, &st) != 0)
            why = strerror(errno);
        else if (!S_ISREG(st.st_mode))
            why = "not a regular file";
        if (why) {
            rt_err_set(err, RT_EINVAL, "the redis-server binary %s: cannot run it: %s", bin, why);
            return RT_EINVAL;
        }
        if ((size_t)snprintf(path, cap, "%s", bin) >= cap) {
            rt_err_set(err, RT_EINVAL, "the redis-server binary: path too long");
            return RT_EINVAL;
        }
        return 0;
    }
    const char *name = bin ? bin : "redis-server";
    const char *dirs = o->search_path && *o->search_path ? o->search_path
                                                         : "/usr/local/bin:/usr/bin:/bin";
    for (const char *d = dirs; *d;) {
        size_t n = strcspn(d, ":");
        struct stat st;
        /* an empty PATH entry means the current directory */
        int w =
            n ? snprintf(path, cap, "%.*s/%s", (int)n, d, name) : snprintf(path, cap, "./%s", name);
        if (w > 0 && (size_t)w < cap && access(path, X_OK) == 0 && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode))
            return 0;
        d += n;
        if (*d == ':')
            d++;
    }
    rt_err_set(err, RT_EINVAL,
               "%s not found in PATH (install the redis-server package, or give its path)",
               name);
    return RT_EINVAL;
}

/* The last lines of the server's log (its stderr goes there too, for config errors), joined
 * with " | " and without the "pid:role date time level" prefix of redis log lines. */
static void log_tail(const char *dir, char *out, size_t cap)
{
    char path[300], buf[4096];
    out[0] = 0;
    snprintf(path, sizeof path, "%s/redis.log", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz > (long)sizeof buf - 1)
            fseek(f, sz - ((long)sizeof buf - 1), SEEK_SET);
        else
            rewind(f);
        n = fread(buf, 1, sizeof buf - 1, f);
    }
    fclose(f);
    buf[n] = 0;
    /* the last three non-empty lines, oldest first */
    const char *lines[3] = {0};
    size_t lens[3] = {0}, nl = 0;
    char *end = buf + n;
    while (end > buf && nl < 3) {
        while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
            end--;
        char *start = end;
        while (start > buf && start[-1] != '\n')
            start--;
        if (start == end)
            break;
        for (const char *m = start; m + 3 <= end && m < start + 48; m++) {
            if (m[0] == ' ' && strchr("#*-.", m[1]) && m[2] == ' ' &&
                memchr(start, ':', (size_t)(m - start))) {
                lens[nl] = (size_t)(end - (m + 3));
                lines[nl] = m + 3;
                break;
            }
        }
        if (!lines[nl]) {
            lines[nl] = start;
            lens[nl] = (size_t)(end - start);
        }
        nl++;
        end = start;
    }
    size_t o = 0;
    for (size_t i = nl; i-- > 0 && o + 1 < cap;) {
        int w = snprintf(out + o, cap - o, "%s%.*s", o ? " | " : "", (int)lens[i], lines[i]);
        if (w < 0)
            break;
        o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
    }
}

/* Removes the server's directory and the files in it (the log, a dump it may have written). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

/* In the child, between fork and exec: only async-signal-safe calls. Reports exec's errno
 * through `errfd` (close-on-exec, so the parent reads nothing when exec succeeds). */
static void child_exec(const char *path, char *const argv[], int nullfd, int logfd, int errfd,
                       pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* the parent died before prctl took effect */
        _exit(127);
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &dfl, NULL);
    if (dup2(nullfd, 0) < 0 || dup2(nullfd, 1) < 0 || dup2(logfd, 2) < 0 || dup2(errfd, 3) < 0)
        _exit(127);
    fcntl(3, F_SETFD, FD_CLOEXEC);
    /* nothing of ours (trace files, sockets) stays open in the server */
    if (close_range(4, ~0u, 0) != 0)
        for (int fd = 4; fd < 1024; fd++)
            close(fd);
    execv(path, argv);
    int e = errno;
    ssize_t w = write(3, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* Describes how a child ended, for error messages. */
static void describe_status(int st, char *buf, size_t cap)
{
    if (WIFEXITED(st))
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, cap, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, cap, "stopped");
}

/* Kills and reaps the child (also its process group: a forked child of redis). */
static void kill_child(pid_t pid)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* One start on one port. @return 0 running, 1 lost a port race (try another), or a negative
 * code with `err` set. */
static int start_once(struct replay_server *s, const char *bin, char **argv, struct rt_err *err)
{
    char logpath[300], tail[400], how[64];
    snprintf(logpath, sizeof logpath, "%s/redis.log", s->dir);
    int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    int pfd[2] = {-1, -1};
    int rc = RT_EIO;
    if (nullfd < 0 || logfd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
        rt_err_set(err, RT_EIO, "redis-server: cannot set up %s: %s", logpath, strerror(errno));
        goto done;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        rt_err_set(err, RT_EIO, "redis-server: fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0)
        child_exec(bin, argv, nullfd, logfd, pfd[1], parent);
    close(pfd[1]);
    pfd[1] = -1;
    setpgid(pid, pid); /* also here, so that kill(-pid) works whichever runs first */
    int e = 0;
    ssize_t n;
    while ((n = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof e) {
        kill_child(pid);
        rt_err_set(err, RT_EINVAL, "cannot run %s: %s", bin, strerror(e));
        rc = RT_EINVAL;
        goto done;
    }
    uint64_t deadline = now_ms() + START_TIMEOUT_MS;
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            log_tail(s->dir, tail, sizeof tail);
            if (strstr(tail, "in use")) {
                rc = 1;
                goto done;
            }
            if (w == pid)
                describe_status(st, how, sizeof how);
            else
                snprintf(how, sizeof how, "exited");
            rt_err_set(err, RT_EIO, "%s %s before answering on 127.0.0.1:%u: %s", bin, how,
                       (unsigned)s->port, tail[0] ? tail : "(empty log)");
            goto done;
        }
        if (probe(s->port, pid)) {
            s->pid = pid;
            rc = 0;
            goto done;
        }
        if (now_ms() >= deadline)
            break;
        msleep(20);
    }
    kill_child(pid);
    log_tail(s->dir, tail, sizeof tail);
    rt_err_set(err, RT_EIO, "%s did not answer PING on 127.0.0.1:%u within %d s: %s", bin,
               (unsigned)s->port, START_TIMEOUT_MS / 1000, tail[0] ? tail : "(empty log)");
done:
    if (nullfd >= 0)
        close(nullfd);
    if (logfd >= 0)
        close(logfd);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    return rc;
}

int replay_server_start(struct replay_server *s, const struct replay_server_opts *o,
                        struct rt_err *err)
{
    static const struct replay_server_opts defaults;
    if (!o)
        o = &defaults;
    const char *const *extra_args = o->extra_args;
    memset(s, 0, sizeof *s);
    char bin[4096];
    int rc = find_binary(o, bin, sizeof bin, err);
    if (rc)
        return rc;
    size_t nextra = 0;
    while (extra_args && extra_args[nextra])
        nextra++;
    char **argv = calloc(nextra + 20, sizeof *argv);
    if (!argv) {
        rt_err_set(err, RT_ENOMEM, "redis-server: out of memory");
        return RT_ENOMEM;
    }
    const char *tmp = o->tmpdir;
    if ((size_t)snprintf(s->dir, sizeof s->dir, "%s/resptrace-redis-XXXXXX",
                         tmp && *tmp ? tmp : "/tmp") >= sizeof s->dir - 16) {
        s->dir[0] = 0;
        rt_err_set(err, RT_EINVAL, "redis-server: the temporary directory's name is too long");
        rc = RT_EINVAL;
        goto done;
    }
    if (!mkdtemp(s->dir)) {
        s->dir[0] = 0;
        rt_err_set(err, RT_EIO, "redis-server: cannot create a directory in %s: %s",
                   tmp && *tmp ? tmp : "/tmp", strerror(errno));
        rc = RT_EIO;
        goto done;
    }
    char port[8], logpath[300];
    snprintf(logpath, sizeof logpath, "%s/redis.log", s->dir);
    /* argv is not const in execv's prototype, though exec never writes to it */
    size_t n = 0;
    argv[n++] = bin;
    argv[n++] = (char *)"--bind";
    argv[n++] = (char *)"127.0.0.1";
    argv[n++] = (char *)"--port";
    argv[n++] = port;
    argv[n++] = (char *)"--save";
    argv[n++] = (char *)"";
    argv[n++] = (char *)"--appendonly";
    argv[n++] = (char *)"no";
    argv[n++] = (char *)"--daemonize";
    argv[n++] = (char *)"no";
    argv[n++] = (char *)"--dir";
    argv[n++] = s->dir;
    argv[n++] = (char *)"--logfile";
    argv[n++] = logpath;
    for (size_t i = 0; i < nextra; i++)
        argv[n++] = (char *)extra_args[i];
    argv[n] = NULL;
    rc = 1;
    for (int attempt = 0; attempt < PORT_ATTEMPTS && rc == 1; attempt++) {
        if (free_port(&s->port) < 0) {
            rt_err_set(err, RT_EIO, "no free port on 127.0.0.1: %s", strerror(errno));
            rc = RT_EIO;
            break;
        }
        snprintf(port, sizeof port, "%u", (unsigned)s->port);
        rc = start_once(s, bin, argv, err);
    }
    if (rc == 1) {
        rt_err_set(err, RT_EIO, "redis-server: every port tried was taken before it bound it");
        rc = RT_EIO;
    }
done:
    free(argv);
    if (rc != 0) {
        if (s->dir[0])
            remove_dir(s->dir);
        memset(s, 0, sizeof *s);
    }
    return rc;
}

void replay_server_stop(struct replay_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        uint64_t deadline = now_ms() + STOP_TIMEOUT_MS;
        for (;;) {
            pid_t w = waitpid(s->pid, NULL, WNOHANG);
            if (w == s->pid || (w < 0 && errno != EINTR))
                break;
            if (now_ms() >= deadline) {
                kill_child(s->pid);
                break;
            }
            msleep(10);
        }
    }
    if (s->dir[0])
        remove_dir(s->dir);
    s->pid = 0;
    s->dir[0] = 0;
}
