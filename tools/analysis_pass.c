/* analysis_pass.c: the report's analyses (stat, hot keys, shard projections) as callbacks on
 * one walk over the trace, instead of one pass each. */
#include "analysis_int.h"
#include "walk.h"

#include <string.h>

int rt_analyses_json_pass(const char *path, const struct rt_hotkeys_opts *ho, const int *counts,
                          size_t ncounts, struct rt_pass *ps, struct rt_analyses *out,
                          struct rt_err *err)
{
    memset(out, 0, sizeof *out);
    struct trace_reader_opts ro = {.salvage = ho->salvage};
    struct trace_reader *r = trace_reader_open(path, &ro, err);
    if (!r)
        return -1;
    struct rt_walk *w = rt_walk_new("report");
    /* three analyses fit in a walk: their tags take 40 of its RT_WALK_TAG_MAX bytes */
    struct stat_an *st = stat_an_attach(w);
    struct hk_an *hk = st ? hk_an_attach(w, ho) : NULL;
    if (!hk) {
        rt_err_set(err, RT_ELIMIT, "report: the analyses do not fit in one walk");
        stat_an_free(st);
        rt_walk_free(w);
        trace_reader_close(r);
        return -1;
    }
    struct sh_an *sh = NULL;
    if (ncounts) {
        struct rt_err serr = {0};
        sh = sh_an_attach(w, counts, ncounts, &serr);
        if (!sh)
            snprintf(out->shards_why, sizeof out->shards_why, "%s", serr.msg);
    }
    int rc = rt_walk_run(w, r, ps, err);
    struct trace_damage dmg;
    const char *damage = rt_walk_damage(r, rc, err, &dmg);
    int interrupted = ps && ps->interrupted;
    out->stat = stat_an_json(st, path, damage, interrupted);
    out->hotkeys = hk_an_json(hk, path, damage, interrupted);
    if (sh && rc == 0)
        out->shards = sh_an_json(sh);
    else if (sh)
        snprintf(out->shards_why, sizeof out->shards_why, "%s", err->msg);
    if (rc >= 0 && damage)
        rt_err_set(err, RT_ECORRUPT, "%s", dmg.msg);
    trace_reader_close(r);
    stat_an_free(st);
    hk_an_free(hk);
    sh_an_free(sh);
    rt_walk_free(w);
    return 0;
}
