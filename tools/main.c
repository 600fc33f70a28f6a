/* main.c: the resptrace front end: git-style dispatch to the subcommands. */
#include "tools.h"

#include <string.h>

const struct rt_subcmd rt_subcommands[] = {
    {"record", cmd_record, usage_record, "capture RESP traffic from an interface or a pcap file"},
    {"replay", cmd_replay, usage_replay,
     "reissue a trace against a target and report latency, errors and divergence"},
    {"info", cmd_info, usage_info, "print a trace's metadata, counts and sizes"},
    {"cat", cmd_cat, usage_cat, "print a trace's events as text, JSON lines or RESP"},
    {"hotkeys", cmd_hotkeys, usage_hotkeys, "rank the hottest keys, key prefixes and cluster slots"},
    {"stat", cmd_stat, usage_stat, "summarise a trace: rates, commands, sizes, pipelining, latency"},
    {"merge", cmd_merge, usage_merge, "merge traces from several hosts into one, in time order"},
    {"slice", cmd_slice, usage_slice, "write the events of a time range of a trace to a new trace"},
    {"filter", cmd_filter, usage_filter,
     "write the requests matching commands, keys, connections or a sample to a new trace"},
    {"anonymize", cmd_anonymize, usage_anonymize,
     "replace keys (keeping shape and hash slot), values and addresses with a keyed mapping"},
    {"report", cmd_report, usage_report,
     "write one self-contained HTML report of a trace and of replay runs"},
    {"convert", cmd_convert, usage_convert,
     "convert redis-cli MONITOR output or Twitter cache-trace CSV to a trace, a trace to RESP or CSV"},
    {"shards", cmd_shards, usage_shards,
     "project a trace onto N cluster shards or a slot map; suggest slot moves"},
    {"compare", cmd_compare, usage_compare,
     "compare replay runs side by side per command, the differences marked"},
    {"prime", cmd_prime, usage_prime,
     "load the keys a trace reads before writing them into a target, before a replay"},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: resptrace <command> [options]\n\n"
                 "Record, replay and analyse Redis-protocol (RESP) traffic.\n\ncommands:\n");
    for (const struct rt_subcmd *c = rt_subcommands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "  %-10s %s\n", "help", "show this list, or a command's help");
    fprintf(out, "  %-10s %s\n", "version", "print the version and trace format version");
    fprintf(out, "\nSee 'resptrace help <command>' or 'resptrace <command> --help'.\n");
}

static const struct rt_subcmd *find(const char *name)
{
    for (const struct rt_subcmd *c = rt_subcommands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return RT_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        if (argc > 2) {
            const struct rt_subcmd *c = find(argv[2]);
            if (!c) {
                fprintf(stderr, "resptrace: '%s' is not a command. See 'resptrace help'.\n",
                        argv[2]);
                return RT_EXIT_USAGE;
            }
            c->usage(stdout);
            return RT_EXIT_OK;
        }
        usage(stdout);
        return RT_EXIT_OK;
    }
    if (!strcmp(name, "version") || !strcmp(name, "--version")) {
        printf("resptrace %s (trace format %d.%d)\n", RT_VERSION_STRING, TRACE_FORMAT_MAJOR,
               TRACE_FORMAT_MINOR);
        return RT_EXIT_OK;
    }
    const struct rt_subcmd *c = find(name);
    if (!c) {
        fprintf(stderr, "resptrace: '%s' is not a command. See 'resptrace help'.\n", name);
        return RT_EXIT_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
