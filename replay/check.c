/* check.c: replay --check: what of a trace will not run as recorded against a target (its
 * topology read as replay reads it), without sending anything: unsafe and unknown commands,
 * multi-key commands across slots (split or refused), transactions across slots, SELECT on a
 * cluster, keyless, pub/sub and all-nodes commands, blocking commands, slots nobody serves;
 * and the keyed requests per primary. */
#include "replay_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *key, *text;
} names[REPLAY_CK_MAX] = {
    {"unsafe", "skipped as unsafe (destroy or reconfigure; --allow to send)"},
    {"unknown_commands", "not in the command table (keys asked of the target)"},
    {"split", "multi-key commands across slots, split per slot"},
    {"crossslot", "commands whose keys span slots: the target answers CROSSSLOT"},
    {"crossslot_transactions", "transactions whose keys span slots (fail on a cluster)"},
    {"select", "SELECT of a db other than 0 (skipped: a cluster has db 0 only)"},
    {"keyless", "keyless commands (sent to one node per recorded connection)"},
    {"pubsub", "subscriptions (served by one node, not the whole cluster)"},
    {"all_nodes",
     "commands meant for every node or shard (KEYS, SCAN, DBSIZE, ...): one node answers"},
    {"blocking", "blocking commands (replies may come late)"},
    {"unserved_slots", "requests for slots no node serves now"},
};

const char *replay_check_key(int kind)
{
    return kind >= 0 && kind < REPLAY_CK_MAX ? names[kind].key : "?";
}

const char *replay_check_text(int kind)
{
    return kind >= 0 && kind < REPLAY_CK_MAX ? names[kind].text : "?";
}

/* counts the request and keeps it as an example (the first 3: connection, offset, 4 words) */
static void add(struct replay_check_cat *c, const struct trace_event *ev, uint64_t t0)
{
    c->n++;
    if (c->nex == 3)
        return;
    const struct trace_request *q = &ev->u.req;
    char *b = c->ex[c->nex++];
    size_t cap = sizeof c->ex[0];
    int k = snprintf(b, cap, "conn %llu +%.3fs:", (unsigned long long)ev->conn,
                     (double)(ev->ts - t0) / 1e9);
    for (size_t i = 0; i < q->argc && i < 4 && k > 0 && (size_t)k < cap - 10; i++) {
        int m = snprintf(b + k, cap - (size_t)k, " %.*s",
                         (int)(q->argvlen[i] < 24 ? q->argvlen[i] : 24), q->argv[i]);
        for (int x = k + 1; m > 0 && x < k + m && (size_t)x < cap - 1; x++)
            if ((unsigned char)b[x] < 32 || (unsigned char)b[x] > 126)
                b[x] = '.';
        k += m;
    }
}

static void lower(char *out, size_t cap, const char *p, size_t n)
{
    size_t l = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < l; i++)
        out[i] = (char)tolower((unsigned char)p[i]);
    out[l] = 0;
}

void replay_check_free(struct replay_check *c)
{
    free(c->per_node);
    replay_topology_free(&c->topo);
    memset(c, 0, sizeof *c);
}

int replay_check(const struct replay_opts *o, struct replay_check *c, struct rt_err *err)
{
    memset(c, 0, sizeof *c);
    int rc = replay_topology_read(o, &c->topo, err);
    if (rc != 0)
        return rc;
    struct trace_reader *rd = trace_reader_open(o->trace, NULL, err);
    c->per_node = calloc(c->topo.n + 1, sizeof *c->per_node);
    /* per recorded connection in a transaction: its first slot, whether it crossed already */
    struct txs {
        uint64_t conn;
        int32_t slot;
        int cross;
    } *tx = NULL;
    size_t ntx = 0;
    if (!rd || !c->per_node) {
        if (rd)
            rt_err_set(err, RT_ENOMEM, "out of memory");
        rc = rd ? RT_ENOMEM : err->code;
        goto out;
    }
    uint32_t pos[256];
    uint64_t t0 = 0;
    struct trace_event ev;
    int r;
    while ((r = trace_reader_next(rd, &ev, err)) == 1) {
        if (!t0)
            t0 = ev.ts;
        if (ev.type != TRACE_EV_REQUEST || !ev.u.req.argc)
            continue;
        const struct trace_request *q = &ev.u.req;
        c->requests++;
        char name[32], sub[32];
        lower(name, sizeof name, q->argv[0], q->argvlen[0]);
        sub[0] = 0;
        if (q->argc > 1)
            lower(sub, sizeof sub, q->argv[1], q->argvlen[1]);
        if (replay_cmd_is_unsafe(name, q->argc > 1 ? sub : NULL)) {
            add(&c->cat[REPLAY_CK_UNSAFE], &ev, t0);
            continue;
        }
        const struct rt_cmd *cmd = rt_cmd_lookup(q->argc, q->argv, q->argvlen);
        if (!cmd) {
            add(&c->cat[REPLAY_CK_UNKNOWN], &ev, t0);
            continue;
        }
        if (cmd->flags & RT_CMD_BLOCKING)
            add(&c->cat[REPLAY_CK_BLOCKING], &ev, t0);
        if (!c->topo.cluster) {
            c->per_node[0]++;
            continue;
        }
        size_t nk = 0;
        int32_t slot = -1;
        int cross = 0;
        if (rt_cmd_keys(cmd, q->argc, q->argv, q->argvlen, pos, 256, &nk) == 0)
            for (size_t i = 0; i < nk && i < 256; i++) {
                size_t p = pos[i];
                if (p >= q->argc)
                    continue;
                int32_t s = rt_sent_key_slot(o->key_prefix, q->argv[p], q->argvlen[p]);
                if (slot < 0)
                    slot = s;
                else if (s != slot)
                    cross = 1;
            }
        /* transactions */
        size_t ti = 0;
        while (ti < ntx && tx[ti].conn != ev.conn)
            ti++;
        int in_tx = ti < ntx;
        if (!strcmp(name, "multi") && !in_tx) {
            struct txs *nt = realloc(tx, (ntx + 1) * sizeof *tx);
            if (!nt) {
                rt_err_set(err, RT_ENOMEM, "out of memory");
                rc = RT_ENOMEM;
                goto out;
            }
            tx = nt;
            tx[ntx++] = (struct txs){ev.conn, -1, 0};
        } else if (in_tx) {
            if (slot >= 0 && tx[ti].slot < 0)
                tx[ti].slot = slot;
            if (slot >= 0 && (slot != tx[ti].slot || cross) && !tx[ti].cross) {
                tx[ti].cross = 1;
                add(&c->cat[REPLAY_CK_TX_CROSS], &ev, t0);
            }
            if (!strcmp(name, "exec") || !strcmp(name, "discard"))
                tx[ti] = tx[--ntx];
        }
        if (!strcmp(name, "select") &&
            !(q->argc == 2 && q->argvlen[1] == 1 && q->argv[1][0] == '0'))
            add(&c->cat[REPLAY_CK_SELECT], &ev, t0);
        if (cmd->flags & (RT_CMD_ALL_NODES | RT_CMD_ALL_SHARDS))
            add(&c->cat[REPLAY_CK_ALLNODES], &ev, t0);
        else if (cmd->flags & RT_CMD_PUBSUB && strstr(name, "subscribe") && slot < 0)
            add(&c->cat[REPLAY_CK_PUBSUB], &ev, t0);
        else if (slot < 0 && strcmp(name, "multi") && strcmp(name, "exec") &&
                 strcmp(name, "discard") && strcmp(name, "select"))
            add(&c->cat[REPLAY_CK_KEYLESS], &ev, t0);
        if (cross && !in_tx) {
            int pairs;
            int splittable = rt_split_kind(name, &pairs) != 0; /* as the engine splits */
            add(&c->cat[splittable && !o->no_split ? REPLAY_CK_SPLIT : REPLAY_CK_CROSSSLOT], &ev,
                t0);
        }
        if (slot >= 0) {
            uint16_t own = c->topo.owner[slot];
            if (own == 0xffff)
                add(&c->cat[REPLAY_CK_NOSLOT], &ev, t0);
            else
                c->per_node[own]++;
        }
    }
    if (r < 0)
        rc = err->code ? err->code : RT_EIO;
out:
    free(tx);
    trace_reader_close(rd);
    return rc;
}
