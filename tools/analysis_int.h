/* analysis_int.h: what the analysis commands (stat, hotkeys, shards, report, compare) share
 * beyond tools.h: their passes with a status line and Ctrl-C (the walk over a trace they are
 * callbacks on is walk.h), and getopt's errors as one line. */
#ifndef RESPTRACE_ANALYSIS_INT_H
#define RESPTRACE_ANALYSIS_INT_H

#include <getopt.h>
#include <string.h>

#include "tools.h"

/* The request flag of a request the server could not parse (the recorder writes argc 1,
 * argv[0] = the raw bytes the client sent). Defined here until format.h has it. */
#ifndef TRACE_REQ_MALFORMED
#define TRACE_REQ_MALFORMED 0x40u
#endif

/* One pass over a trace as a command runs it: its status line and whether Ctrl-C stopped it. */
struct rt_pass {
    struct rt_progress *progress; /* the status line, or NULL for none */
    const char *label;            /* what the status line names ("stat", "report: hot keys") */
    uint64_t events;              /* out: the events read */
    int interrupted;              /* out: stopped early by SIGINT/SIGTERM (rt_interrupted) */
};

/* Events between two looks at the clock and at rt_interrupted: a look costs a clock read,
 * which would be a tenth of the time of the fastest pass if it were done at every event. */
#define RT_PASS_EVERY 4096u

/*! rt_pass_check() : called every RT_PASS_EVERY events of a pass over `r` with the count so
 *  far: updates the status line when it is due. @return 1 when the pass must stop (Ctrl-C;
 *  ps->interrupted is then set), else 0. `ps` may be NULL (no status line). */
static inline int rt_pass_check(struct rt_pass *ps, const struct trace_reader *r,
                                uint64_t events)
{
    if (rt_interrupted) {
        if (ps)
            ps->interrupted = 1;
        return 1;
    }
    if (ps && ps->progress && rt_progress_due(ps->progress))
        rt_progress_trace(ps->progress, ps->label, r, events, NULL);
    return 0;
}

/*! rt_stat_json_pass() : rt_stat_json() with a status line and Ctrl-C (`ps`, may be NULL).
 *  An interrupted pass returns what it counted, with "interrupted": true. */
json_t *rt_stat_json_pass(const char *path, int salvage, struct rt_pass *ps, struct rt_err *err);

/*! rt_hotkeys_json_pass() : rt_hotkeys_json() with a status line and Ctrl-C (`ps`). */
json_t *rt_hotkeys_json_pass(const char *path, const struct rt_hotkeys_opts *o,
                             struct rt_pass *ps, struct rt_err *err);

/*! rt_shards_json_pass() : rt_shards_json() of a trace read with `salvage`, with a status line
 *  and Ctrl-C (`ps`). An interrupted pass returns the projections of what was read (NULL only
 *  when nothing could be read: err says why). */
json_t *rt_shards_json_pass(const char *trace_path, const int *counts, size_t ncounts,
                            int salvage, struct rt_pass *ps, struct rt_err *err);

/* The analyses of the report from one walk over the trace (analysis_pass.c). */
struct rt_analyses {
    json_t *stat;     /* rt_stat_json()'s object (a new reference) */
    json_t *hotkeys;  /* rt_hotkeys_json()'s */
    json_t *shards;   /* rt_shards_json()'s array; NULL when not asked for or not computed */
    char shards_why[256]; /* why shards is NULL when counts were given */
};

/*! rt_analyses_json_pass() : stat, hot keys (options `ho`; ho->salvage reads the trace with
 *  salvage) and, when `ncounts` > 0, the shard projections onto `counts` of the trace at `path`
 *  in one pass, with a status line and Ctrl-C (`ps`, may be NULL): the objects the three
 *  functions above return after three passes. An interrupted pass returns what it counted,
 *  marked "interrupted". @return 0 with `out` filled (err->code negative when the trace is
 *  damaged: the objects name the damage, and shards is NULL when the trace could not be read
 *  to its end), or -1 with err set when the trace cannot be opened. */
int rt_analyses_json_pass(const char *path, const struct rt_hotkeys_opts *ho, const int *counts,
                          size_t ncounts, struct rt_pass *ps, struct rt_analyses *out,
                          struct rt_err *err);

/*! rt_opt_error() : the usage error for what getopt_long() returned (`c`: '?' or ':', with
 *  opterr = 0 and an optstring that starts with ':'), as one line and "see 'resptrace CMD
 *  --help'". @return RT_EXIT_USAGE. */
static inline int rt_opt_error(const char *cmd, int c, char *const *argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return rt_usage_error(cmd, "option '%s' needs a value", arg);
    if (optopt && !strncmp(arg, "--", 2) && strchr(arg, '='))
        return rt_usage_error(cmd, "option '%.*s' takes no value", (int)strcspn(arg, "="), arg);
    if (optopt > 0 && optopt < 128 && strncmp(arg, "--", 2) != 0)
        return rt_usage_error(cmd, "unknown option '-%c'", optopt);
    return rt_usage_error(cmd, "unknown option '%s'", arg);
}

#endif
