/* trace_edit.h: helpers shared by the commands that write new traces from old ones (merge,
 * slice, filter, anonymize, convert): the request renumbering map and small parsers. */
#ifndef RESPTRACE_TRACE_EDIT_H
#define RESPTRACE_TRACE_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

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

#endif
