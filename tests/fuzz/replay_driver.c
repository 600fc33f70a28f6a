/* replay_driver.c: runs a fuzz target over saved inputs without libFuzzer (corpus regression). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Present when built with a sanitizer: lets us name the input that made it report. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* The input being run, named on a crash so that a failing ctest says which file to look at. */
static const char *current;

static void say_current(void)
{
    if (!current)
        return;
    static const char pre[] = "replay: crashed on input ";
    ssize_t ignored = write(2, pre, sizeof pre - 1);
    ignored = write(2, current, strlen(current));
    ignored = write(2, "\n", 1);
    (void)ignored;
}

static void on_signal(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads the whole file into a buffer of exactly its size, so that ASan sees a read one byte
 * past the input. @return 0, or -1 with a message printed. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    uint8_t *buf = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fprintf(stderr, "replay: %s: stat: %s\n", path, strerror(errno));
        goto done;
    }
    size_t n = (size_t)st.st_size;
    buf = malloc(n ? n : 1);
    if (!buf) {
        fprintf(stderr, "replay: %s: out of memory for %zu bytes\n", path, n);
        goto done;
    }
    if (n && fread(buf, 1, n, f) != n) {
        fprintf(stderr, "replay: %s: short read\n", path);
        goto done;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    fclose(f);
    return rc;
}

static int run_file(const char *path)
{
    uint8_t *buf;
    size_t len;
    if (read_file(path, &buf, &len) != 0)
        return -1;
    current = path;
    LLVMFuzzerTestOneInput(buf, len);
    current = NULL;
    free(buf);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the regular files of `dir` (not hidden ones, not subdirectories), sorted.
 * @return the count, or -1 with a message printed. */
static int list_dir(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = -1;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t plen = strlen(dir) + strlen(de->d_name) + 2;
        char *path = malloc(plen);
        if (!path)
            goto oom;
        snprintf(path, plen, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                free(path);
                goto oom;
            }
            names = p;
        }
        names[n++] = path;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    *out = names;
    names = NULL;
    rc = (int)n;
    goto done;
oom:
    fprintf(stderr, "replay: %s: out of memory\n", dir);
done:
    if (names) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(say_current);
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGILL, on_signal);
    signal(SIGABRT, on_signal);

    unsigned passed = 0, failed = 0;
    int bad_path = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            bad_path = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) == 0)
                passed++;
            else
                failed++;
            continue;
        }
        char **names = NULL;
        int n = list_dir(argv[i], &names);
        if (n <= 0) {
            if (n == 0)
                fprintf(stderr, "replay: %s: no inputs in the corpus directory\n", argv[i]);
            bad_path = 1;
            continue;
        }
        for (int j = 0; j < n; j++) {
            if (run_file(names[j]) == 0)
                passed++;
            else
                failed++;
            free(names[j]);
        }
        free(names);
    }
    printf("%u passed, %u failed\n", passed, failed);
    return failed || bad_path ? 1 : 0;
}
