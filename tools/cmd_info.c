/* cmd_info.c: `resptrace info`: a trace's metadata, time range, counts and sizes. */
#include "tools.h"
#include "trace_edit.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

void usage_info(FILE *out)
{
    fputs("usage: resptrace info TRACE [--json[=FILE]] [--verify] [--salvage]\n"
          "\n"
          "Prints the trace's metadata, time range, counts of connections, requests,\n"
          "replies, gaps and drops, and its size on disk and uncompressed. Metadata keys\n"
          "and values that are not plain printable text are shown quoted and escaped\n"
          "(\"a\\x1bb\"), never as raw bytes.\n"
          "\n"
          "  --json[=FILE]  one JSON document on stdout instead of the table, or into\n"
          "                 FILE (then the table is printed too)\n"
          "  --verify       decode every chunk (a closed trace is otherwise summarised\n"
          "                 from its index without reading the chunks)\n"
          "  --salvage      skip damaged chunks instead of stopping at the first\n"
          "\n"
          "Exit status: 0 for a complete trace, 1 when it is damaged or was not closed\n"
          "(what is readable is still summarised), 2 for a bad command line.\n",
          out);
}

struct info {
    const char *path;
    struct trace_totals t;
    struct trace_damage dmg;
    unsigned major, minor;
    int indexed;
    uint64_t file_size;
    char errmsg[256];
};

static void print_table(struct trace_reader *r, const struct info *in)
{
    char a[64], b[64];
    const struct trace_totals *t = &in->t;
    printf("%-14s %s\n", "file", in->path);
    printf("%-14s %u.%u, %s\n", "format", in->major, in->minor,
           in->indexed ? "closed (indexed)" : "not closed (no index)");
    size_t n;
    const struct trace_meta_kv *m = trace_reader_meta(r, &n);
    for (size_t i = 0; i < n; i++) {
        /* a key is shown as text too: a key holding escape sequences would drive the terminal */
        char *k = edit_quoted(m[i].key, strlen(m[i].key), 200);
        printf("%-14s ", k);
        free(k);
        rt_quote(stdout, m[i].val, m[i].vlen, 200);
        putchar('\n');
    }
    if (t->events) {
        printf("%-14s %s\n", "start", rt_fmt_time(t->ts_min, a, sizeof a));
        printf("%-14s %s\n", "end", rt_fmt_time(t->ts_max, a, sizeof a));
        printf("%-14s %.3f s\n", "duration", (double)(t->ts_max - t->ts_min) / 1e9);
    }
    printf("%-14s %llu\n", "events", (unsigned long long)t->events);
    printf("%-14s %llu opened or first seen, %llu closed\n", "connections",
           (unsigned long long)t->by_type[TRACE_EV_CONN_OPEN],
           (unsigned long long)t->by_type[TRACE_EV_CONN_CLOSE]);
    printf("%-14s %llu\n", "requests", (unsigned long long)t->by_type[TRACE_EV_REQUEST]);
    printf("%-14s %llu\n", "replies", (unsigned long long)t->by_type[TRACE_EV_REPLY]);
    printf("%-14s %llu\n", "pushes", (unsigned long long)t->by_type[TRACE_EV_PUSH]);
    printf("%-14s %llu (%s to server, %s to client)\n", "gaps",
           (unsigned long long)t->by_type[TRACE_EV_GAP], rt_fmt_bytes(t->gap_bytes[0], a, 64),
           rt_fmt_bytes(t->gap_bytes[1], b, 64));
    printf("%-14s %llu\n", "notes", (unsigned long long)t->by_type[TRACE_EV_NOTE]);
    if (t->by_type[0])
        printf("%-14s %llu (event types newer than this resptrace)\n", "unknown",
               (unsigned long long)t->by_type[0]);
    printf("%-14s %llu packets, %s captured\n", "capture", (unsigned long long)t->stats.packets,
           rt_fmt_bytes(t->stats.bytes, a, 64));
    printf("%-14s kernel %llu, interface %llu, flows %llu, bytes %llu\n", "drops",
           (unsigned long long)t->stats.kernel_drops, (unsigned long long)t->stats.iface_drops,
           (unsigned long long)t->stats.flows_dropped, (unsigned long long)t->stats.bytes_dropped);
    printf("%-14s %llu\n", "chunks", (unsigned long long)t->chunks);
    printf("%-14s %s (%llu bytes)\n", "on disk", rt_fmt_bytes(in->file_size, a, 64),
           (unsigned long long)in->file_size);
    printf("%-14s %s (%.1fx the compressed chunks)\n", "uncompressed",
           rt_fmt_bytes(t->raw_bytes, a, 64),
           t->compressed_bytes ? (double)t->raw_bytes / (double)t->compressed_bytes : 0.0);
    if (t->events)
        printf("%-14s %.1f\n", "bytes/event", (double)in->file_size / (double)t->events);
    if (t->chunks_unknown && in->dmg.first_offset == UINT64_MAX)
        printf("%-14s %llu chunks of an encoding this version does not read (from the index)\n",
               "unreadable", (unsigned long long)t->chunks_unknown);
    if (in->dmg.first_offset != UINT64_MAX && in->dmg.chunks_skipped)
        printf("%-14s starts at offset %llu; %llu chunks (%llu bytes) skipped\n", "damage",
               (unsigned long long)in->dmg.first_offset, (unsigned long long)in->dmg.chunks_skipped,
               (unsigned long long)in->dmg.bytes_skipped);
    else if (in->dmg.first_offset != UINT64_MAX)
        printf("%-14s starts at offset %llu; the counts above stop there\n", "damage",
               (unsigned long long)in->dmg.first_offset);
}

/* Adds metadata key `key` to `meta`: as it is when it is UTF-8 (JSON escapes control
 * characters), else with its bytes written as rt_json_bytes() writes values. */
static void meta_set(json_t *meta, const char *key, json_t *val)
{
    if (json_object_set(meta, key, val) != 0) {
        json_t *k = rt_json_bytes(key, strlen(key));
        if (k)
            json_object_set(meta, json_string_value(k), val);
        json_decref(k);
    }
    json_decref(val);
}

static json_t *info_json(struct trace_reader *r, const struct info *in)
{
    const struct trace_totals *t = &in->t;
    json_t *o = rt_json_doc("info"), *meta = json_object(), *stats = json_object();
    json_object_set_new(o, "file", json_string(in->path));
    json_object_set_new(o, "format_version", json_sprintf("%u.%u", in->major, in->minor));
    json_object_set_new(o, "closed", json_boolean(in->indexed));
    size_t n;
    const struct trace_meta_kv *m = trace_reader_meta(r, &n);
    for (size_t i = 0; i < n; i++)
        meta_set(meta, m[i].key, rt_json_bytes(m[i].val, m[i].vlen));
    json_object_set_new(o, "metadata", meta);
    json_object_set_new(o, "start_ns", t->events ? rt_json_u64(t->ts_min) : json_null());
    json_object_set_new(o, "end_ns", t->events ? rt_json_u64(t->ts_max) : json_null());
    json_object_set_new(o, "duration_s", json_real((double)(t->ts_max - t->ts_min) / 1e9));
    json_object_set_new(o, "events", rt_json_u64(t->events));
    json_object_set_new(o, "connections", rt_json_u64(t->by_type[TRACE_EV_CONN_OPEN]));
    json_object_set_new(o, "closes", rt_json_u64(t->by_type[TRACE_EV_CONN_CLOSE]));
    json_object_set_new(o, "requests", rt_json_u64(t->by_type[TRACE_EV_REQUEST]));
    json_object_set_new(o, "replies", rt_json_u64(t->by_type[TRACE_EV_REPLY]));
    json_object_set_new(o, "pushes", rt_json_u64(t->by_type[TRACE_EV_PUSH]));
    json_object_set_new(o, "gaps", rt_json_u64(t->by_type[TRACE_EV_GAP]));
    json_object_set_new(o, "gap_bytes_to_server", rt_json_u64(t->gap_bytes[0]));
    json_object_set_new(o, "gap_bytes_to_client", rt_json_u64(t->gap_bytes[1]));
    json_object_set_new(o, "notes", rt_json_u64(t->by_type[TRACE_EV_NOTE]));
    json_object_set_new(o, "unknown_events", rt_json_u64(t->by_type[0]));
    json_object_set_new(stats, "packets", rt_json_u64(t->stats.packets));
    json_object_set_new(stats, "bytes", rt_json_u64(t->stats.bytes));
    json_object_set_new(stats, "kernel_drops", rt_json_u64(t->stats.kernel_drops));
    json_object_set_new(stats, "iface_drops", rt_json_u64(t->stats.iface_drops));
    json_object_set_new(stats, "flows_dropped", rt_json_u64(t->stats.flows_dropped));
    json_object_set_new(stats, "bytes_dropped", rt_json_u64(t->stats.bytes_dropped));
    json_object_set_new(o, "capture", stats);
    json_object_set_new(o, "chunks", rt_json_u64(t->chunks));
    json_object_set_new(o, "bytes_on_disk", rt_json_u64(in->file_size));
    json_object_set_new(o, "bytes_compressed", rt_json_u64(t->compressed_bytes));
    json_object_set_new(o, "bytes_uncompressed", rt_json_u64(t->raw_bytes));
    if (in->dmg.first_offset != UINT64_MAX || in->errmsg[0]) {
        json_t *d = json_object();
        json_object_set_new(d, "first_offset",
                            in->dmg.first_offset != UINT64_MAX ? rt_json_u64(in->dmg.first_offset)
                                                               : json_null());
        json_object_set_new(d, "chunks_skipped", rt_json_u64(in->dmg.chunks_skipped));
        json_object_set_new(d, "bytes_skipped", rt_json_u64(in->dmg.bytes_skipped));
        json_object_set_new(d, "message", json_string(in->errmsg[0] ? in->errmsg : in->dmg.msg));
        json_object_set_new(o, "damage", d);
    } else {
        json_object_set_new(o, "damage", json_null());
    }
    return o;
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", optional_argument, NULL, 'j'},
                                         {"verify", no_argument, NULL, 'v'},
                                         {"salvage", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *json = NULL;
    int verify = 0, salvage = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = optarg ? optarg : "-"; break;
        case 'v': verify = 1; break;
        case 's': salvage = 1; break;
        case 'h': usage_info(stdout); return RT_EXIT_OK;
        default: return edit_bad_option("info", c, argv);
        }
    }
    if (optind >= argc)
        return rt_usage_error("info", "give the trace");
    if (optind < argc - 1)
        return rt_usage_error("info", "one trace at a time ('%s' is extra)", argv[optind + 1]);
    struct info in = {.path = argv[optind]};
    if (edit_check_outputs("info", NULL, json, &in.path, 1) != 0)
        return RT_EXIT_USAGE;
    struct trace_reader *r = rt_open_trace("info", in.path, salvage);
    if (!r)
        return RT_EXIT_FAIL;
    in.indexed = trace_reader_has_index(r);
    int rc = 0;
    if (!in.indexed || verify) {
        /* count by reading: the file was not closed, or the user wants every chunk checked */
        struct trace_event ev;
        struct rt_err err = {0};
        while ((rc = trace_reader_next(r, &ev, &err)) == 1)
            ;
        if (rc < 0)
            snprintf(in.errmsg, sizeof in.errmsg, "%s", err.msg);
    }
    trace_reader_totals(r, &in.t);
    trace_reader_damage(r, &in.dmg);
    trace_reader_version(r, &in.major, &in.minor);
    in.file_size = trace_reader_file_size(r);
    int wrc = 0;
    if (!json || strcmp(json, "-"))
        print_table(r, &in);
    fflush(stdout);
    if (json)
        wrc = rt_json_write("info", info_json(r, &in), json);
    if (in.errmsg[0])
        fprintf(stderr, "resptrace info: %s\n", in.errmsg);
    else if (in.dmg.first_offset != UINT64_MAX && in.dmg.chunks_unknown)
        fprintf(stderr, "resptrace info: %s (%llu chunks skipped, %llu of them of an encoding "
                        "this version does not read)\n",
                in.dmg.msg, (unsigned long long)in.dmg.chunks_skipped,
                (unsigned long long)in.dmg.chunks_unknown);
    else if (in.dmg.first_offset != UINT64_MAX)
        fprintf(stderr, "resptrace info: %s (salvaged: %llu damaged chunks skipped)\n", in.dmg.msg,
                (unsigned long long)in.dmg.chunks_skipped);
    else if (in.t.chunks_unknown)
        fprintf(stderr, "resptrace info: %s: the index counts %llu chunks of an encoding this "
                        "version does not read (a newer resptrace's): not complete for this one\n",
                argv[optind], (unsigned long long)in.t.chunks_unknown);
    trace_reader_close(r);
    return (rc < 0 || in.dmg.first_offset != UINT64_MAX || in.t.chunks_unknown || wrc != 0)
               ? RT_EXIT_FAIL
               : RT_EXIT_OK;
}
