/* main.c: the resptrace front end: git-style dispatch to the subcommands. */
#include "tools.h"

#include <string.h>

/* Summaries fit the 80 columns of `resptrace help` after "  NAME       " (66 characters). */
const struct rt_subcmd rt_subcommands[] = {
    {"record", cmd_record, usage_record, "capture RESP traffic from an interface or a pcap file"},
    {"replay", cmd_replay, usage_replay,
     "reissue a trace against a target: latency, errors, divergence"},
    {"info", cmd_info, usage_info, "print a trace's metadata, counts and sizes"},
    {"cat", cmd_cat, usage_cat, "print a trace's events as text, JSON lines or RESP"},
    {"hotkeys", cmd_hotkeys, usage_hotkeys, "rank the hottest keys, key prefixes and cluster slots"},
    {"stat", cmd_stat, usage_stat, "summarise a trace: rates, commands, sizes, latency"},
    {"merge", cmd_merge, usage_merge,
     "merge traces into one in time order, or replay results into one"},
    {"slice", cmd_slice, usage_slice, "write the events of a time range of a trace to a new trace"},
    {"filter", cmd_filter, usage_filter,
     "write the requests matching commands, keys or a sample to a trace"},
    {"anonymize", cmd_anonymize, usage_anonymize,
     "replace keys (shape and slot kept), values and addresses"},
    {"report", cmd_report, usage_report,
     "write one self-contained HTML report of a trace and replay runs"},
    {"convert", cmd_convert, usage_convert,
     "MONITOR output or cache-trace CSV to a trace; a trace to RESP, CSV"},
    {"shards", cmd_shards, usage_shards, "project a trace onto cluster shards; suggest slot moves"},
    {"compare", cmd_compare, usage_compare,
     "compare replay runs per command, the differences marked"},
    {"prime", cmd_prime, usage_prime,
     "load the keys a trace reads before it writes them, before a replay"},
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

/* A bad command name: one line naming it, then where the list is (as rt_usage_error does for
 * a command's options). */
static int not_a_command(const char *name)
{
    fprintf(stderr, "resptrace: '%s' is not a command\nsee 'resptrace help'\n", name);
    return RT_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "resptrace: no command given\nsee 'resptrace help'\n");
        return RT_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        if (argc > 2) {
            const struct rt_subcmd *c = find(argv[2]);
            if (!c)
                return not_a_command(argv[2]);
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
    if (!c)
        return not_a_command(name);
    return c->run(argc - 1, argv + 1);
}
