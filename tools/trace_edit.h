/* trace_edit.h: helpers shared by the commands that write new traces from old ones (merge,
 * slice, filter, anonymize, convert): the request renumbering map and small parsers. */
#ifndef RESPTRACE_TRACE_EDIT_H
#define RESPTRACE_TRACE_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct rt_out;

/* A request written to a new trace gets a new sequence number (the writer numbers requests in
 * file order), so a reply copied after it must carry the new number. The map remembers, for
 * the requests whose replies may still come, old key -> new seq. Memory is bounded: the map
 * holds two generations of SEQMAP_GEN inserts each; a request inserted more than SEQMAP_GEN to
 * 2 * SEQMAP_GEN inserts before its reply is forgotten, and its reply is written unpaired
 * (counted by the caller). Keys are any u64 below UINT64_MAX - 1. */
#define SEQMAP_GEN (1u << 20)

struct seqmap;

/*! seqmap_new() : @return an empty map owned by the caller (seqmap_free), NULL on no memory. */
struct seqmap *seqmap_new(void);

/*! seqmap_put() : remembers key -> val. @return 0, or -1 on no memory. */
int seqmap_put(struct seqmap *m, uint64_t key, uint64_t val);

/*! seqmap_take() : finds key, stores its value in *val and forgets it. @return 1 found, 0 not. */
int seqmap_take(struct seqmap *m, uint64_t key, uint64_t *val);

/*! seqmap_has() : 1 when key is remembered (not taken). */
int seqmap_has(const struct seqmap *m, uint64_t key);

/*! seqmap_free() : NULL is accepted. */
void seqmap_free(struct seqmap *m);

/* A set of u64 (connection ids), growing, never forgetting. */
struct u64set;
struct u64set *u64set_new(void);
int u64set_add(struct u64set *s, uint64_t v); /* @return 0, -1 on no memory */
int u64set_has(const struct u64set *s, uint64_t v);
size_t u64set_count(const struct u64set *s);
void u64set_free(struct u64set *s);

/*! rt_file_is_json() : 1 when the file's first non-blank byte is '{' or '[' (a replay result
 *  rather than a trace), 0 otherwise or when it cannot be read. */
int rt_file_is_json(const char *path);

/*! rt_hash_seeded() : a 64-bit hash of bytes with a seed (XXH3 of seed bytes then data). */
uint64_t rt_hash_seeded(uint64_t seed, const void *p, size_t n);

/* ---- outputs of the commands that write traces (merge, slice, filter, anonymize, convert) ---- */

/* A request flagged malformed holds the raw bytes the client sent (argc 1): no command name,
 * no keys. Defined here until format.h has it. */
#ifndef TRACE_REQ_MALFORMED
#define TRACE_REQ_MALFORMED 0x40u
#endif

/*! edit_check_outputs() : refuses, before anything is opened for writing, an output trace
 *  `out` or a JSON file `json` (either may be NULL) that is one of the `n` inputs, a JSON file
 *  that is the output trace, and `--json` on stdout when the trace goes there (-o -).
 *  @return 0, or RT_EXIT_USAGE after printing why. */
int edit_check_outputs(const char *cmd, const char *out, const char *json,
                       const char *const *inputs, size_t n);

/*! edit_text_stream() : where the text summary goes: stderr when the trace (`out` "-") or
 *  the JSON (`json` "-") takes stdout, else stdout. */
FILE *edit_text_stream(const char *out, const char *json);

/*! edit_out_begin() : rt_out_begin(), except that an existing file that is not a regular file
 *  (a device such as /dev/null, a FIFO) is written in place: renaming a temporary file over it
 *  would replace the device. @return the fd (owned by `o` until handed over), or -1 after
 *  printing why. */
int edit_out_begin(const char *cmd, struct rt_out *o, const char *path, unsigned mode);

/*! edit_out_open() : edit_out_begin() with a stdio stream on it (o->f). @return o->f or NULL. */
FILE *edit_out_open(const char *cmd, struct rt_out *o, const char *path, unsigned mode);

/*! edit_out_commit() : rt_out_commit() for what edit_out_begin()/edit_out_open() opened (a
 *  device or FIFO is only flushed and closed: it cannot be synced or renamed).
 *  @return 0, or -1 after printing why. */
int edit_out_commit(const char *cmd, struct rt_out *o, int handed_over);

/*! edit_writer_open() : a trace writer on `path` ("-": stdout) with `meta`, writing chunks of
 *  `encoding` (0: the newest; --encoding), to a temporary file beside it (mode 0600) that
 *  edit_writer_commit() renames into place.
 *  @return the writer, or NULL after printing why (nothing is left behind). */
struct trace_writer *edit_writer_open(const char *cmd, struct rt_out *o, const char *path,
                                      const struct trace_meta_kv *meta, size_t nmeta,
                                      int encoding);

/*! edit_writer_commit() : closes `w` (index and footer) and renames the file into place.
 *  @return 0, or -1 after printing why (then the final name is left as it was). */
int edit_writer_commit(const char *cmd, struct rt_out *o, struct trace_writer *w);

/*! edit_writer_abort() : drops `w` (NULL accepted) and its temporary file; the final name is
 *  left as it was. */
void edit_writer_abort(struct rt_out *o, struct trace_writer *w);

/*! edit_bad_option() : the usage error for what getopt_long() returned as `c` ('?' or ':';
 *  parse with opterr = 0 and an optstring starting with ':'), naming the option.
 *  @return RT_EXIT_USAGE. */
int edit_bad_option(const char *cmd, int c, char *const *argv);

/*! edit_quoted() : bytes as text for a terminal: as they are when every byte is printable
 *  ASCII other than '"' and '\\', else quoted and escaped as rt_quote() does (at most `max`
 *  bytes shown). @return a string owned by the caller (free); out of memory exits (rt_oom). */
char *edit_quoted(const void *p, size_t n, size_t max);

struct rt_progress;

/*! edit_progress() : the status line of a pass over files (when `p` is on): "CMD 42%  1.2M
 *  UNIT (3.4M/s)  ETA 12s" from `off` of `size` bytes read (`size` 0: not known, no
 *  percentage) and `count` things done, plus `extra` (may be NULL). The caller decides when
 *  (rt_progress_due()). */
void edit_progress(struct rt_progress *p, const char *cmd, uint64_t off, uint64_t size,
                   uint64_t count, const char *unit, const char *extra);

/*! edit_fmt_count() : "2,000" style into buf. @return buf. */
char *edit_fmt_count(uint64_t v, char *buf, size_t cap);

#endif
