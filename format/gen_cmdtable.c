/* gen_cmdtable.c: writes format/cmdtable_data.c, the command table, from a running
 * redis-server's own COMMAND INFO (name, arity, flags, ACL categories, tips, key
 * specifications, subcommands) and COMMAND DOCS (argument grammar).
 *
 * Usage: gen_cmdtable HOST PORT OUT.c   (format/gen_cmdtable.sh starts a throwaway server)
 *
 * The output is deterministic for a given server version: entries sorted by name (strcmp),
 * key specs and arguments in the server's order, no timestamps. The argument grammar is kept
 * only for the commands that carry values (write commands and @pubsub commands), with each
 * string argument classified as a value (payload) or not; see value_arg(). */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format.h"

struct gcmd {
    const char *name;
    long long arity, first, last, step;
    uint32_t flags;
    const redisReply *specs; /* array of key spec maps, or NULL */
    size_t arg0, nargs;      /* its lines in docs[] (the flattened COMMAND DOCS arguments) */
};

/* One argument of COMMAND DOCS, flattened by docs_lua: the tree in preorder with depths. */
struct gdoc {
    char *cmd, *name, *type, *token; /* token NULL when the argument has none */
    int depth;
    unsigned flags; /* RT_ARG_OPTIONAL | ... */
};
static struct gdoc *docs;
static size_t ndocs;

/* hiredis 0.14 reads replies nested 7 deep at most, and COMMAND DOCS nests deeper: a script
 * flattens it on the server into lines "command TAB depth TAB name TAB type TAB -|=token TAB
 * flags", each command's arguments in preorder. */
static const char docs_lua[] =
    "local out = {}\n"
    "local function s(x)\n"
    "  if type(x) == 'table' then return x.ok or x.err or '' end\n"
    "  return tostring(x)\n"
    "end\n"
    "local function map(a)\n"
    "  local m = {}\n"
    "  for i = 1, #a, 2 do m[s(a[i])] = a[i + 1] end\n"
    "  return m\n"
    "end\n"
    "local function args(cmd, list, depth)\n"
    "  for _, a in ipairs(list) do\n"
    "    local m = map(a)\n"
    "    local fl = {}\n"
    "    if type(m['flags']) == 'table' then\n"
    "      for _, f in ipairs(m['flags']) do table.insert(fl, s(f)) end\n"
    "    end\n"
    "    local tok = '-'\n"
    "    if m['token'] ~= nil then tok = '=' .. s(m['token']) end\n"
    "    table.insert(out, cmd .. '\\t' .. depth .. '\\t' .. s(m['name']) .. '\\t' .. s(m['type']) .. '\\t' ..\n"
    "                 tok .. '\\t' .. table.concat(fl, ','))\n"
    "    if type(m['arguments']) == 'table' then args(cmd, m['arguments'], depth + 1) end\n"
    "  end\n"
    "end\n"
    "local function docs(list)\n"
    "  for i = 1, #list, 2 do\n"
    "    local name, m = s(list[i]), map(list[i + 1])\n"
    "    if type(m['arguments']) == 'table' then args(name, m['arguments'], 0) end\n"
    "    if type(m['subcommands']) == 'table' then docs(m['subcommands']) end\n"
    "  end\n"
    "end\n"
    "docs(redis.call('COMMAND', 'DOCS'))\n"
    "return out\n";

static struct gcmd *cmds;
static size_t ncmds, capcmds;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gen_cmdtable: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* The value of `key` in a RESP2 flat map (array of key, value, ...), or NULL. */
static const redisReply *map_get(const redisReply *m, const char *key)
{
    if (!m || m->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < m->elements; i += 2) {
        const redisReply *k = m->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) && !strcmp(k->str, key))
            return m->element[i + 1];
    }
    return NULL;
}

static const char *str_of(const redisReply *r)
{
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
        return r->str;
    return NULL;
}

static long long int_of(const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r && r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    die("integer expected in a COMMAND reply");
    return 0;
}

static int has_str(const redisReply *arr, const char *s)
{
    if (!arr || arr->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < arr->elements; i++) {
        const char *e = str_of(arr->element[i]);
        if (e && !strcmp(e, s))
            return 1;
    }
    return 0;
}

static uint32_t cmd_flags(const redisReply *flags, const redisReply *acl, const redisReply *tips)
{
    static const struct { const char *name; uint32_t bit; } fl[] = {
        {"write", RT_CMD_WRITE},       {"readonly", RT_CMD_READONLY},
        {"admin", RT_CMD_ADMIN},       {"blocking", RT_CMD_BLOCKING},
        {"pubsub", RT_CMD_PUBSUB},     {"movablekeys", RT_CMD_MOVABLEKEYS},
        {"fast", RT_CMD_FAST},         {"noscript", RT_CMD_NOSCRIPT},
        {"loading", RT_CMD_LOADING},   {"stale", RT_CMD_STALE},
        {"denyoom", RT_CMD_DENYOOM},   {"no_multi", RT_CMD_NO_MULTI},
        {"no_auth", RT_CMD_NO_AUTH},   {"may_replicate", RT_CMD_MAY_REPLICATE},
        {"skip_monitor", RT_CMD_SKIP_MONITOR},
    };
    uint32_t f = 0;
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
        if (has_str(flags, fl[i].name))
            f |= fl[i].bit;
    if (has_str(acl, "@dangerous"))
        f |= RT_CMD_DANGEROUS;
    if (has_str(acl, "@keyspace"))
        f |= RT_CMD_KEYSPACE;
    if (has_str(acl, "@scripting"))
        f |= RT_CMD_SCRIPTING;
    if (has_str(tips, "nondeterministic_output") || has_str(tips, "nondeterministic_output_order"))
        f |= RT_CMD_NONDETERMINISTIC;
    if (has_str(tips, "request_policy:all_nodes"))
        f |= RT_CMD_ALL_NODES;
    if (has_str(tips, "request_policy:all_shards"))
        f |= RT_CMD_ALL_SHARDS;
    if (has_str(tips, "request_policy:multi_shard"))
        f |= RT_CMD_MULTI_SHARD;
    if (has_str(tips, "request_policy:special"))
        f |= RT_CMD_SPECIAL_POLICY;
    return f;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        die("out of memory");
    return d;
}

/* Parses the lines of docs_lua into docs[]. */
static void load_docs(const redisReply *r)
{
    docs = calloc(r->elements ? r->elements : 1, sizeof *docs);
    if (!docs)
        die("out of memory");
    for (size_t i = 0; i < r->elements; i++) {
        const char *line = str_of(r->element[i]);
        if (!line)
            die("unexpected COMMAND DOCS line");
        char *f[6] = {0};
        char *copy = xstrdup(line), *p = copy;
        for (int k = 0; k < 6; k++) {
            f[k] = p;
            p = p ? strchr(p, '\t') : NULL;
            if (p)
                *p++ = 0;
        }
        if (!f[5] || (f[4][0] != '-' && f[4][0] != '='))
            die("bad COMMAND DOCS line: %s", line);
        struct gdoc *d = &docs[ndocs++];
        d->cmd = copy;
        d->depth = atoi(f[1]);
        d->name = f[2];
        d->type = f[3];
        d->token = f[4][0] == '=' ? f[4] + 1 : NULL;
        for (char *fl = strtok(f[5], ","); fl; fl = strtok(NULL, ","))
            d->flags |= !strcmp(fl, "optional")         ? RT_ARG_OPTIONAL
                        : !strcmp(fl, "multiple")       ? RT_ARG_MULTIPLE
                        : !strcmp(fl, "multiple_token") ? RT_ARG_MULTIPLE_TOKEN
                                                        : 0;
    }
}

static void add_cmd(const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 10)
        die("unexpected COMMAND INFO entry (redis 7.0 or later is needed)");
    if (ncmds == capcmds) {
        capcmds = capcmds ? 2 * capcmds : 512;
        cmds = realloc(cmds, capcmds * sizeof *cmds);
        if (!cmds)
            die("out of memory");
    }
    struct gcmd *c = &cmds[ncmds++];
    c->name = str_of(e->element[0]);
    if (!c->name)
        die("command without a name");
    c->arity = int_of(e->element[1]);
    c->first = int_of(e->element[3]);
    c->last = int_of(e->element[4]);
    c->step = int_of(e->element[5]);
    c->flags = cmd_flags(e->element[2], e->element[6], e->element[7]);
    c->specs = e->element[8]->type == REDIS_REPLY_ARRAY ? e->element[8] : NULL;
    const redisReply *sub = e->element[9];
    if (sub->type == REDIS_REPLY_ARRAY && sub->elements)
        c->flags |= RT_CMD_CONTAINER;
    c->arg0 = c->nargs = 0;
    for (size_t i = 0; i < ndocs; i++)
        if (!strcmp(docs[i].cmd, c->name)) {
            if (!c->nargs)
                c->arg0 = i;
            c->nargs++;
        }
    if (sub->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < sub->elements; i++)
            add_cmd(sub->element[i]);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct gcmd *)a)->name, ((const struct gcmd *)b)->name);
}

static void ident(char *out, size_t cap, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++)
        out[i] = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ? name[i] : '_';
    out[i] = 0;
}

/* A C string literal of `s` (or NULL). */
static void put_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("NULL", f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            fprintf(f, "\\%03o", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* --- key specs */

static uint16_t ks_flags(const redisReply *fl)
{
    static const struct { const char *name; uint16_t bit; } t[] = {
        {"RO", RT_KS_RO},         {"RW", RT_KS_RW},         {"OW", RT_KS_OW},
        {"RM", RT_KS_RM},         {"access", RT_KS_ACCESS}, {"update", RT_KS_UPDATE},
        {"insert", RT_KS_INSERT}, {"delete", RT_KS_DELETE}, {"not_key", RT_KS_NOT_KEY},
        {"incomplete", RT_KS_INCOMPLETE}, {"variable_flags", RT_KS_VARIABLE_FLAGS},
    };
    uint16_t f = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (has_str(fl, t[i].name))
            f |= t[i].bit;
    return f;
}

static void put_ks_flags(FILE *f, uint16_t fl)
{
    static const char *const names[] = {"RO",     "RW",     "OW",      "RM",
                                        "ACCESS", "UPDATE", "INSERT",  "DELETE",
                                        "NOT_KEY", "INCOMPLETE", "VARIABLE_FLAGS"};
    int any = 0;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (fl & (1u << i)) {
            fprintf(f, "%sRT_KS_%s", any ? " | " : "", names[i]);
            any = 1;
        }
    if (!any)
        fputs("0", f);
}

static void put_spec(FILE *f, const redisReply *s)
{
    const redisReply *bs = map_get(s, "begin_search"), *fk = map_get(s, "find_keys");
    const char *bst = str_of(map_get(bs, "type")), *fkt = str_of(map_get(fk, "type"));
    const redisReply *bspec = map_get(bs, "spec"), *fspec = map_get(fk, "spec");
    fputs("    {", f);
    long long bsarg = 0, a = 0, b = 0, c = 0;
    const char *kw = NULL;
    if (bst && !strcmp(bst, "index")) {
        fputs("RT_KS_INDEX, ", f);
        bsarg = int_of(map_get(bspec, "index"));
    } else if (bst && !strcmp(bst, "keyword")) {
        fputs("RT_KS_KEYWORD, ", f);
        kw = str_of(map_get(bspec, "keyword"));
        bsarg = int_of(map_get(bspec, "startfrom"));
    } else {
        fputs("RT_KS_UNKNOWN, ", f);
    }
    if (fkt && !strcmp(fkt, "range")) {
        fputs("RT_KS_RANGE, ", f);
        a = int_of(map_get(fspec, "lastkey"));
        b = int_of(map_get(fspec, "keystep"));
        c = int_of(map_get(fspec, "limit"));
    } else if (fkt && !strcmp(fkt, "keynum")) {
        fputs("RT_KS_KEYNUM, ", f);
        a = int_of(map_get(fspec, "keynumidx"));
        b = int_of(map_get(fspec, "firstkey"));
        c = int_of(map_get(fspec, "keystep"));
    } else {
        fputs("RT_KS_FK_UNKNOWN, ", f);
    }
    put_ks_flags(f, ks_flags(map_get(s, "flags")));
    fprintf(f, ", %lld, ", bsarg);
    put_str(f, kw);
    fprintf(f, ", %lld, %lld, %lld},\n", a, b, c);
}

/* --- argument grammar */

struct gnode {
    int type;
    unsigned flags, size;
    const char *token, *name;
};
static struct gnode *nodes;
static size_t nnodes, capnodes;

/* Whether a string argument of a value-carrying command is a value (payload written to the
 * keyspace or published) by its COMMAND DOCS name: strings after a token are option
 * arguments, and these names are structure (ids, names of groups, fields and channels,
 * ranges and operations), not payload. */
static int value_arg(const char *name, const char *token)
{
    static const char *const notval[] = {
        "id",        "group",    "consumer", "min-idle-time", "start",      "end",
        "threshold", "operation", "encoding", "last-id",       "field",      "channel",
        "shardchannel", "subcommand", "groupname", "consumername", "library-name", "host",
        "username", "password", "min",  "max",
    };
    if (token)
        return 0;
    for (size_t i = 0; i < sizeof notval / sizeof notval[0]; i++)
        if (!strcmp(name, notval[i]))
            return 0;
    return 1;
}

/* Appends the argument docs[*i] and its subtree to nodes[]. @return the nodes appended. */
static size_t add_node(size_t *i, size_t end)
{
    if (nnodes == capnodes) {
        capnodes = capnodes ? 2 * capnodes : 256;
        nodes = realloc(nodes, capnodes * sizeof *nodes);
        if (!nodes)
            die("out of memory");
    }
    const struct gdoc *a = &docs[(*i)++];
    size_t me = nnodes++;
    struct gnode n = {0, a->flags, 1, a->token, a->name};
    if (!strcmp(a->type, "key"))
        n.type = RT_ARG_KEY;
    else if (!strcmp(a->type, "string"))
        n.type = value_arg(a->name, a->token) ? RT_ARG_VALUE : RT_ARG_STRING;
    else if (!strcmp(a->type, "integer"))
        n.type = RT_ARG_INTEGER;
    else if (!strcmp(a->type, "double"))
        n.type = RT_ARG_DOUBLE;
    else if (!strcmp(a->type, "unix-time"))
        n.type = RT_ARG_UNIXTIME;
    else if (!strcmp(a->type, "pattern"))
        n.type = RT_ARG_PATTERN;
    else if (!strcmp(a->type, "pure-token"))
        n.type = RT_ARG_TOKEN;
    else if (!strcmp(a->type, "oneof"))
        n.type = RT_ARG_ONEOF;
    else if (!strcmp(a->type, "block"))
        n.type = RT_ARG_BLOCK;
    else
        die("unknown argument type %s", a->type);
    nodes[me] = n;
    while (*i < end && docs[*i].depth > a->depth)
        nodes[me].size += (unsigned)add_node(i, end);
    return nodes[me].size;
}

static void put_arg_flags(FILE *f, unsigned fl)
{
    static const char *const names[] = {"OPTIONAL", "MULTIPLE", "MULTIPLE_TOKEN"};
    int any = 0;
    for (unsigned i = 0; i < 3; i++)
        if (fl & (1u << i)) {
            fprintf(f, "%sRT_ARG_%s", any ? " | " : "", names[i]);
            any = 1;
        }
    if (!any)
        fputs("0", f);
}

static void put_flags(FILE *f, uint32_t fl)
{
    static const char *const names[] = {
        "WRITE",         "READONLY",     "ADMIN",      "DANGEROUS",       "BLOCKING",
        "PUBSUB",        "MOVABLEKEYS",  "FAST",       "NOSCRIPT",        "LOADING",
        "STALE",         "DENYOOM",      "NO_MULTI",   "NO_AUTH",         "MAY_REPLICATE",
        "SKIP_MONITOR",  "CONTAINER",    "NONDETERMINISTIC", "ALL_NODES", "ALL_SHARDS",
        "MULTI_SHARD",   "SPECIAL_POLICY", "KEYSPACE", "SCRIPTING",
    };
    int any = 0;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (fl & (1u << i)) {
            fprintf(f, "%sRT_CMD_%s", any ? " | " : "", names[i]);
            any = 1;
        }
    if (!any)
        fputs("0", f);
}

/* Fills nodes[] with the grammar of `c` when it carries values (write and @pubsub commands
 * with a value argument). @return 1 when it does, else 0 (nodes[] empty). */
static int grammar(const struct gcmd *c)
{
    nnodes = 0;
    if (!(c->flags & (RT_CMD_WRITE | RT_CMD_PUBSUB)) || !c->nargs)
        return 0;
    size_t i = c->arg0, end = c->arg0 + c->nargs;
    while (i < end)
        add_node(&i, end);
    for (size_t j = 0; j < nnodes; j++)
        if (nodes[j].type == RT_ARG_VALUE)
            return 1;
    nnodes = 0;
    return 0;
}

static const char *const type_names[] = {"",        "KEY",      "VALUE",   "STRING",
                                         "INTEGER", "DOUBLE",   "UNIXTIME", "PATTERN",
                                         "TOKEN",   "ONEOF",    "BLOCK"};

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: gen_cmdtable HOST PORT OUT.c\n");
        return 2;
    }
    struct timeval tv = {10, 0};
    redisContext *rc = redisConnectWithTimeout(argv[1], atoi(argv[2]), tv);
    if (!rc || rc->err)
        die("cannot connect to %s:%s: %s", argv[1], argv[2], rc ? rc->errstr : "out of memory");
    redisReply *info = redisCommand(rc, "INFO server");
    redisReply *ci = redisCommand(rc, "COMMAND INFO");
    redisReply *cd = redisCommand(rc, "EVAL %s 0", docs_lua);
    if (!info || !ci || !cd || info->type != REDIS_REPLY_STRING || ci->type != REDIS_REPLY_ARRAY ||
        cd->type != REDIS_REPLY_ARRAY)
        die("COMMAND INFO / COMMAND DOCS failed (redis 7.0 or later is needed): %s",
            cd && cd->type == REDIS_REPLY_ERROR ? cd->str : rc->errstr);
    char version[64] = "unknown";
    const char *v = strstr(info->str, "redis_version:");
    if (v)
        sscanf(v + 14, "%63[^\r\n]", version);

    load_docs(cd);
    for (size_t i = 0; i < ci->elements; i++)
        if (ci->element[i]->type == REDIS_REPLY_ARRAY)
            add_cmd(ci->element[i]);
    qsort(cmds, ncmds, sizeof *cmds, by_name);

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[3]);
    FILE *f = fopen(tmp, "w");
    if (!f)
        die("cannot write %s", tmp);
    fprintf(f,
            "/* cmdtable_data.c: GENERATED by format/gen_cmdtable.c from redis %s (COMMAND INFO and\n"
            " * COMMAND DOCS): do not edit. Regenerate with `cmake --build build --target\n"
            " * regen_cmdtable` (format/gen_cmdtable.sh: a throwaway redis-server on 127.0.0.1).\n"
            " * %zu commands and subcommands, sorted by name (strcmp) for rt_cmd_lookup(). */\n"
            "#include \"format.h\"\n\n"
            "const char rt_cmd_table_server[] = \"redis %s\";\n",
            version, ncmds, version);

    char id[128];
    for (size_t i = 0; i < ncmds; i++) {
        struct gcmd *c = &cmds[i];
        ident(id, sizeof id, c->name);
        if (c->specs && c->specs->elements) {
            fprintf(f, "\nstatic const struct rt_keyspec ks_%s[] = {\n", id);
            for (size_t j = 0; j < c->specs->elements; j++)
                put_spec(f, c->specs->element[j]);
            fputs("};\n", f);
        }
        if (!grammar(c))
            continue;
        fprintf(f, "\nstatic const struct rt_cmdarg args_%s[] = {\n", id);
        for (size_t j = 0; j < nnodes; j++) {
            fprintf(f, "    {RT_ARG_%s, ", type_names[nodes[j].type]);
            put_arg_flags(f, nodes[j].flags);
            fprintf(f, ", %u, ", nodes[j].size);
            put_str(f, nodes[j].token);
            fprintf(f, "}, /* %s */\n", nodes[j].name);
        }
        fputs("};\n", f);
    }

    fprintf(f, "\nconst struct rt_cmd rt_cmd_table[] = {\n");
    for (size_t i = 0; i < ncmds; i++) {
        struct gcmd *c = &cmds[i];
        ident(id, sizeof id, c->name);
        fputs("    {", f);
        put_str(f, c->name);
        fprintf(f, ", %lld, ", c->arity);
        put_flags(f, c->flags);
        fprintf(f, ", %lld, %lld, %lld, ", c->first, c->last, c->step);
        if (c->specs && c->specs->elements)
            fprintf(f, "%zu, ks_%s, ", c->specs->elements, id);
        else
            fputs("0, NULL, ", f);
        if (grammar(c))
            fprintf(f, "%zu, args_%s},\n", nnodes, id);
        else
            fputs("0, NULL},\n", f);
    }
    fprintf(f, "};\n\nconst size_t rt_cmd_table_len = sizeof rt_cmd_table / sizeof rt_cmd_table[0];\n");
    if (fclose(f) != 0 || rename(tmp, argv[3]) != 0)
        die("cannot write %s", argv[3]);
    freeReplyObject(info);
    freeReplyObject(ci);
    freeReplyObject(cd);
    redisFree(rc);
    for (size_t i = 0; i < ndocs; i++)
        free(docs[i].cmd);
    free(docs);
    free(cmds);
    free(nodes);
    return 0;
}
