/* sweep.c: the capacity sweep (--sweep): replays at growing speeds (or copies of the users,
 * --scale) until a step breaks the SLO, lags behind its schedule, or its request/response
 * loops slip behind their pace; then narrows the highest step that held by bisection. Each
 * step is a whole replay_run(); the caller is told of each step (to print and record it). */
#include "replay_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int replay_slo_parse(const char *spec, struct replay_slo_term **out, size_t *n, struct rt_err *err)
{
    *out = NULL;
    *n = 0;
    char *copy = strdup(spec), *save = NULL;
    if (!copy) {
        rt_err_set(err, RT_ENOMEM, "out of memory");
        return RT_ENOMEM;
    }
    for (char *t = strtok_r(copy, ",;", &save); t; t = strtok_r(NULL, ",;", &save)) {
        while (*t == ' ')
            t++;
        struct replay_slo_term x = {0};
        snprintf(x.text, sizeof x.text, "%s", t);
        char *colon = strchr(t, ':'), *lt = strchr(t, '<');
        if (!lt)
            goto bad;
        if (colon && colon < lt) {
            snprintf(x.cmd, sizeof x.cmd, "%.*s", (int)(colon - t), t);
            for (char *c = x.cmd; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            t = colon + 1;
        }
        char *end;
        if (!strncmp(t, "errors<", 7)) {
            x.errors = 1;
            x.limit = strtod(lt + 1, &end);
            if (end == lt + 1 || strcmp(end, "%") != 0)
                goto bad;
        } else {
            if (!strncmp(t, "max<", 4))
                x.pct = 100;
            else if (t[0] == 'p') {
                x.pct = strtod(t + 1, &end);
                if (end != lt || !(x.pct > 0) || x.pct > 100)
                    goto bad;
            } else
                goto bad;
            double v = strtod(lt + 1, &end);
            double unit = !strcmp(end, "us")   ? 1e3
                          : !strcmp(end, "ms") ? 1e6
                          : !strcmp(end, "s")  ? 1e9
                                               : 0;
            if (end == lt + 1 || !unit || !(v > 0))
                goto bad;
            x.limit = v * unit;
        }
        struct replay_slo_term *grown = realloc(*out, (*n + 1) * sizeof **out);
        if (!grown) {
            rt_err_set(err, RT_ENOMEM, "out of memory");
            free(copy);
            free(*out);
            *out = NULL;
            *n = 0;
            return RT_ENOMEM;
        }
        *out = grown;
        (*out)[(*n)++] = x;
    }
    free(copy);
    if (*n)
        return 0;
    rt_err_set(err, RT_EINVAL, "an SLO needs at least one term");
    return RT_EINVAL;
bad:
    rt_err_set(err, RT_EINVAL, "bad SLO term '%s'", spec);
    free(copy);
    free(*out);
    *out = NULL;
    *n = 0;
    return RT_EINVAL;
}

int replay_slo_holds(const struct replay_result *r, const struct replay_slo_term *t, size_t n,
                     char *why, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].errors) {
            double rate = r->sent ? 100.0 * (double)r->errors / (double)r->sent : 0;
            if (!(rate < t[i].limit)) {
                snprintf(why, cap, "%s broke: %.3f%% errors", t[i].text, rate);
                return 0;
            }
            continue;
        }
        const struct rt_hist *h = r->lat;
        if (t[i].cmd[0]) {
            h = NULL;
            for (size_t k = 0; k < r->ncmds; k++)
                if (!strcmp(r->cmds[k].name, t[i].cmd))
                    h = r->cmds[k].lat;
            if (!h)
                continue; /* the command did not run: nothing to hold against */
        }
        uint64_t v = t[i].pct >= 100 ? rt_hist_max(h) : rt_hist_percentile(h, t[i].pct);
        if (!((double)v < t[i].limit)) {
            snprintf(why, cap, "%s broke: %.3f ms", t[i].text, (double)v / 1e6);
            return 0;
        }
    }
    return 1;
}

/* one step: @return 1 held, 0 broke, -1 could not run (err set) */
static int step(struct replay_opts *o, const struct replay_sweep_opts *so, double factor,
                replay_status_fn status, void *sctx, volatile int *stop, struct rt_err *err)
{
    struct replay_result res;
    if (so->by_scale)
        o->scale = (unsigned)factor;
    else
        o->speed = factor;
    double speed = o->speed;
    if (replay_run(o, status, sctx, stop, &res, err) != 0) {
        replay_result_free(&res);
        return -1;
    }
    struct replay_sweep_step st = {.factor = factor, .speed = speed, .res = &res};
    uint64_t lag99 = rt_hist_percentile(res.lag, 99);
    st.lagging = res.sent && (double)lag99 / 1e6 > so->max_lag_ms;
    st.held = replay_slo_holds(&res, so->slo, so->nslo, st.why, sizeof st.why);
    if (st.held && st.lagging) {
        st.held = 0;
        snprintf(st.why, sizeof st.why, "could not keep the schedule: p99 lag %.1f ms > %.1f ms",
                 (double)lag99 / 1e6, so->max_lag_ms);
    }
    if (st.held && res.stopped) {
        st.held = 0;
        snprintf(st.why, sizeof st.why, "stopped");
    }
    /* request/response loops hold no schedule to lag behind: they slip. A run that took
     * longer than the trace at this speed (10% and 0.25 s of slack; --scale's copies start up
     * to 1 s later) did not serve its users at their pace */
    double want_s = (res.trace_span_s + (o->scale > 1 ? 1.0 - 1.0 / o->scale : 0)) / speed *
                    (o->loops ? o->loops : 1);
    if (st.held && res.trace_span_s > 0 && res.duration_s > 1.1 * want_s + 0.25) {
        st.held = 0;
        snprintf(st.why, sizeof st.why,
                 "the users could not keep their pace: %.2f s for %.2f s of trace (slip p99 "
                 "%.1f ms)",
                 res.duration_s, want_s, (double)rt_hist_percentile(res.slip, 99) / 1e6);
    }
    if (so->on_step)
        so->on_step(so->ctx, &st);
    replay_result_free(&res);
    return st.held;
}

int replay_sweep(struct replay_opts *o, const struct replay_sweep_opts *so, replay_status_fn status,
                 void *sctx, volatile int *stop, struct replay_sweep_result *out,
                 struct rt_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (size_t i = 0; i < so->nfactors && !(stop && *stop); i++) {
        int h = step(o, so, so->factors[i], status, sctx, stop, err);
        if (h < 0) {
            rc = err->code ? err->code : RT_EIO;
            out->failed_at = so->factors[i];
            return rc;
        }
        if (h) {
            out->best = so->factors[i];
        } else {
            out->broke = so->factors[i];
            break;
        }
    }
    if (out->best > 0 && out->broke > 0)
        for (unsigned k = 0; k < so->refine && !(stop && *stop); k++) {
            double mid = sqrt(out->best * out->broke);
            if (so->by_scale) { /* whole copies */
                mid = floor(mid + 0.5);
                if (mid <= out->best)
                    mid = out->best + 1;
                if (mid >= out->broke)
                    break;
            }
            int h = step(o, so, mid, status, sctx, stop, err);
            if (h < 0) {
                out->failed_at = mid;
                return err->code ? err->code : RT_EIO;
            }
            if (h)
                out->best = mid;
            else
                out->broke = mid;
        }
    return rc;
}
