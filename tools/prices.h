/* prices.h: what a candidate target serves and costs, for `resptrace compare` and `resptrace
 * report`: capacity sweeps read as candidates, prices files, and the decision table. */
#ifndef RESPTRACE_PRICES_H
#define RESPTRACE_PRICES_H

#include "tools.h"

/* ---- prices files ----
 *
 * A small JSON file the user writes (no prices are built in):
 *
 *   {"currency": "USD", "hours_per_month": 730,
 *    "runs": {"memorydb r7g.large x3": {"nodes": 3, "price_per_node_hour": 0.3}, ...}}
 *
 * "runs" is keyed by a run's "label", else by its file name (as given, or its last path
 * component). "currency" (a string) and "hours_per_month" (more than 0, at most 744; 730 when
 * absent) are optional; "comment" may appear at the top and in each entry. Any other field is
 * refused, so that a misspelt one is not silently ignored. */

struct rt_prices;

/*! rt_prices_load() : reads and validates the prices file at `path`.
 *  @return 0 with *out (owned by the caller: rt_prices_free), or -1 with err naming the file
 *  and the field that is wrong ("p.json: runs.\"a\".nodes: ..."). */
int rt_prices_load(const char *path, struct rt_prices **out, struct rt_err *err);

/*! rt_prices_free() : accepts NULL. */
void rt_prices_free(struct rt_prices *p);

/*! rt_prices_json() : {"file", "currency" (null when none), "hours_per_month"}.
 *  @return a new reference. */
json_t *rt_prices_json(const struct rt_prices *p);

/*! rt_prices_cost() : the cost of the run read from `file` (document `doc`, a RUN.json or a
 *  sweep): {"key", "matched_by": "label"|"file", "nodes", "price_per_node_hour",
 *  "hours_per_month", "monthly_cost", "slo_ops_per_s", "cost_per_1k_ops_s"} where monthly_cost
 *  = nodes x price_per_node_hour x hours_per_month and, for a sweep whose SLO held at some
 *  speed, cost_per_1k_ops_s = monthly_cost / (slo_ops_per_s / 1000) (else null). Marks the
 *  entry used (rt_prices_notes). @return a new reference, or NULL when no entry names it. */
json_t *rt_prices_cost(struct rt_prices *p, const json_t *doc, const char *file);

/*! rt_prices_notes() : appends to `notes` one string per entry of the file that named no run
 *  given to rt_prices_cost() (a misspelt label). */
void rt_prices_notes(const struct rt_prices *p, json_t *notes);

/* ---- capacity sweeps (`resptrace replay --sweep ... --json`) ---- */

/*! rt_doc_is_sweep() : 1 when `doc` is a sweep document ("mode": "sweep" and "steps"). */
int rt_doc_is_sweep(const json_t *doc);

/*! rt_sweep_run() : the RUN object a sweep document is compared by: the "result" of its step
 *  at "max_speed_held" (the fastest speed that held the SLO), else of its first step (none
 *  held), as a new object (a shallow copy) that carries the document's "label".
 *  @return a new reference, or NULL with err naming `path` when it has no step with a result. */
json_t *rt_sweep_run(const json_t *doc, const char *path, struct rt_err *err);

/*! rt_sweep_json() : {"slo", "max_speed_held", "first_speed_broke", "steps", "step_speed",
 *  "slo_ops_per_s"} of a sweep document: step_speed is the speed of the step rt_sweep_run()
 *  picks, slo_ops_per_s the ops/s that step served (its "ops_per_s": ops over its duration)
 *  when it held the SLO, else null. @return a new reference, or NULL when `doc` is no sweep. */
json_t *rt_sweep_json(const json_t *doc);

/* ---- the candidates compared ---- */

/* One replay result given to compare or report. */
struct rt_cand {
    const json_t *doc; /* the file's document: a RUN.json, or a sweep */
    const json_t *run; /* the RUN object compared: doc, or rt_sweep_run(doc) */
    const char *name;  /* its unique name (label, else target and file name, else file name) */
    const char *file;  /* the file it was read from (NULL: none; matched by label only) */
};

/*! rt_compare_cands_json() : rt_compare_json() of the candidates, plus, when one of them is a
 *  sweep, rows of scope "capacity" (metrics "max_speed_held", "slo_ops_per_s") and, with
 *  prices `p` (may be NULL), rows of scope "cost" ("nodes", "price_per_node_hour",
 *  "monthly_cost", "cost_per_1k_ops_s"), both before the "overall" rows; each run's entry then
 *  has "sweep" (rt_sweep_json, or null) and "cost" (rt_prices_cost, or null), the document
 *  "prices" (rt_prices_json, or null). Defined in cmd_compare.c. @return a new reference, or
 *  NULL when out of memory. */
json_t *rt_compare_cands_json(const struct rt_cand *c, size_t n, double threshold_pct,
                              struct rt_prices *p);

/*! rt_decision_json() : the report's decision table from `cmp` (rt_compare_cands_json() of
 *  the same `n` candidates `c`): an array of rows {"key", "title", "kind": "us"|"speed"|
 *  "ops_s"|"count"|"s"|"money", "better": "lower"|"higher", "values": [number|null, ...],
 *  "why": [string|null, ...] (why a value is null, or what goes with it), "best": [bool, ...]
 *  (the best value of a row of two values or more)}. Rows: write_p99_us, read_p99_us (the
 *  classes' p99), max_speed_held, slo_ops_per_s, writes_lost (verify_writes.lost),
 *  extra_misses and warmup_s (disruption), monthly_cost, cost_per_1k_ops_s.
 *  @return a new reference, or NULL when out of memory. */
json_t *rt_decision_json(const json_t *cmp, const struct rt_cand *c, size_t n);

/*! rt_decision_columns() : the decision table's columns: runs with the same label are one
 *  candidate (e.g. its failover drill and its capacity sweep), others one each. col[r]
 *  receives run r's column, name[] each column's name (the label, else the run's name).
 *  @return the number of columns. */
size_t rt_decision_columns(const struct rt_cand *c, size_t n, size_t *col, const char **name);

#endif
