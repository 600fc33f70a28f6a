/* sync.c: --sync keys: the recorded order between requests of different connections that touch
 * the same keys, kept in the replay.
 *
 * The rule (issue 13, after Oracle Database Replay's OBJECT_ID synchronization): a request is
 * sent only once every earlier request that touched one of its keys has been answered in the
 * replay, whatever connection or thread it is on. "Earlier" is the order of the requests in
 * the recording, which on a single-threaded server is the order it executed them in (it reads
 * and runs each client's commands as they arrive; the order of its replies is not: replies
 * queued in one event-loop turn are written in the reverse of the order they were made in).
 * Reads after a write wait for the write; a write waits for the write before it and for every
 * read since; reads do not wait for each other. A command the table cannot place (a script or a
 * function without keys, a keyless write such as FLUSHDB or SWAPDB) is a barrier: it waits for
 * everything before it and everything after it waits for it. A blocking command (BLPOP) waits
 * for what came before it but nothing waits for it: its effect happens when it is served, after
 * the request that serves it. The commands of a MULTI block take effect at EXEC: EXEC touches
 * the keys of the commands it runs.
 *
 * Identical writes: a write that sets its key to what its arguments alone say, with a reply
 * that does not depend on the key (SET k v, with a TTL option: sync_key.same), right after
 * the same write on the key (reads in between allowed) joins it in a group: the group leaves
 * the key in one state (k = v) whichever member runs last, and every read after the group's
 * first member sees it. So a member need not wait for the members before it, once everything
 * before the group is answered ("settled", as this worker saw it when the group began): it
 * waits for nothing on the key. The key's entry takes the new member as its last write and
 * keeps the one before it as if it were a read (as it keeps the reads since the group began):
 * a later write waits for every member and those reads; a later read waits for the last
 * member, and any member gives it v. Cache refills of one value by many clients after a miss,
 * and benchmark clients that SET one value, are such groups. Whether a request joins a group
 * depends only on the trace, so every worker's table follows the same rule; whether a member
 * waits is its owner's decision alone. (`idem` remembers the groups in two-way sets: a group
 * forgotten there just waits as any write does.)
 *
 * Every worker thread reads the whole trace, so every worker sees every request, in the same
 * order, and computes the same dependencies; each keeps its own key table (only the keys of the
 * requests not yet answered: bounded by the read-ahead window). Only completion crosses threads:
 * a bitmap of answered requests, and per worker an inbox. A worker whose request waits for
 * another worker's asks that worker (SUBSCRIBE into its inbox); that worker, in its own thread,
 * answers at once when the request is already answered, else remembers and posts ANSWERED when
 * it is. Both happen in the owner's thread, in order, so no wake-up is lost.
 *
 * Requests are named by a global id: their sequence number in the trace plus the loop times the
 * trace's request count. Requests outside this host's part (--part) are not replayed here: they
 * are left out (and counted), since no host can wait for another's. */
#include "sync.h"

#include "format.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- the shared part --------------------------------------------------------------------- */

/* a message between workers */
struct sync_msg {
    uint64_t id;
    uint32_t from;     /* SUBSCRIBE: the worker that waits */
    uint32_t subscribe; /* 1: "tell me when id is answered"; 0: "id is answered" */
};

struct sync_inbox {
    pthread_mutex_t mu;
    struct sync_msg *m;
    size_t n, cap;
    sync_kick_fn kick;
    void *kick_arg;
};

struct sync_shared {
    unsigned nw;
    uint64_t nids;
    _Atomic uint64_t *done; /* one bit per id */
    struct sync_inbox *inbox;
};

struct sync_shared *sync_shared_new(unsigned nworkers, uint64_t nids)
{
    struct sync_shared *sh = calloc(1, sizeof *sh);
    if (!sh)
        return NULL;
    sh->nw = nworkers;
    sh->nids = nids;
    sh->done = calloc(nids / 64 + 1, sizeof *sh->done);
    sh->inbox = calloc(nworkers, sizeof *sh->inbox);
    if (!sh->done || !sh->inbox) {
        sync_shared_free(sh);
        return NULL;
    }
    for (unsigned i = 0; i < nworkers; i++)
        pthread_mutex_init(&sh->inbox[i].mu, NULL);
    return sh;
}

void sync_shared_free(struct sync_shared *sh)
{
    if (!sh)
        return;
    for (unsigned i = 0; sh->inbox && i < sh->nw; i++) {
        pthread_mutex_destroy(&sh->inbox[i].mu);
        free(sh->inbox[i].m);
    }
    free(sh->inbox);
    free((void *)sh->done);
    free(sh);
}

void sync_set_kick(struct sync_shared *sh, unsigned worker, sync_kick_fn kick, void *arg)
{
    sh->inbox[worker].kick = kick;
    sh->inbox[worker].kick_arg = arg;
}

int sync_is_done(const struct sync_shared *sh, uint64_t id)
{
    if (id >= sh->nids)
        return 1; /* not a request of the replay: nothing to wait for */
    return (atomic_load_explicit(&sh->done[id / 64], memory_order_acquire) >> (id % 64)) & 1;
}

static void set_done(struct sync_shared *sh, uint64_t id)
{
    if (id < sh->nids)
        atomic_fetch_or_explicit(&sh->done[id / 64], 1ull << (id % 64), memory_order_release);
}

/* @return 0, or -1 on out of memory */
static int post(struct sync_shared *sh, unsigned worker, struct sync_msg msg)
{
    struct sync_inbox *in = &sh->inbox[worker];
    pthread_mutex_lock(&in->mu);
    if (in->n == in->cap) {
        size_t ncap = in->cap ? in->cap * 2 : 64;
        struct sync_msg *n2 = realloc(in->m, ncap * sizeof *n2);
        if (!n2) {
            pthread_mutex_unlock(&in->mu);
            return -1;
        }
        in->m = n2;
        in->cap = ncap;
    }
    in->m[in->n++] = msg;
    pthread_mutex_unlock(&in->mu);
    if (in->kick)
        in->kick(in->kick_arg);
    return 0;
}

/* ---- a worker's part: small open-addressing tables ------------------------------------------ */

/* an access: the request and the worker that owns it */
struct acc {
    uint64_t id;
    unsigned owner;
    uint64_t conn; /* its recorded connection (with the loop) */
};

/* A key's entry: one cache line. Most keys have at most one read open since their last write,
 * so the first read lives in the entry and only further ones in a block of their own. The
 * recording's view (for the overlap count, a statistic) keeps the low 32 bits of its ids (the
 * full id is the nearest one before the request being taken) and 16 bits of its connections. */
struct kreads {
    uint32_t n, cap;
    struct kreads *next; /* in the worker's pool of free blocks */
    struct acc a[];
};

/* Blocks of up to KPOOL_MAX reads go back to a pool of the worker's when their key has no
 * further read open, by size (4, 8, ..., KPOOL_MAX), and come out of it for the next key that
 * needs one: on redis-benchmark's pipelined GETs (100k keys, 800 requests in flight) a key
 * has a second read open about every 60 requests, and the block was a malloc and a free each
 * time. The pool holds at most what was in use at once; larger blocks are plain memory. */
#define KPOOL_CLASSES 7
#define KPOOL_MAX (4u << (KPOOL_CLASSES - 1))

struct kstate {
    uint64_t key;          /* 0: empty slot */
    uint64_t wid, wconn;   /* the last write (wid UINT64_MAX: none) */
    uint64_t rid, rconn;   /* the first read since it (rid UINT64_MAX: none) */
    struct kreads *more;   /* the further reads since it (NULL: none) */
    uint32_t rec_w, rec_r; /* the recording's last write and read (low bits of their ids) */
    uint8_t wown, rown;    /* the workers of wid and rid */
    uint8_t rec;           /* REC_W, REC_R: rec_w, rec_r are set */
    uint8_t pad;
    uint16_t rec_wc, rec_rc; /* the recording's view: their connections, folded */
};
enum { REC_W = 1, REC_R = 2 };
_Static_assert(sizeof(struct kstate) == 64, "a key's entry is one cache line");

/* own requests waiting for an id */
struct waitlist {
    uint64_t id; /* UINT64_MAX: empty */
    void **reqs;
    uint32_t n, cap;
};

/* other workers to tell when an own id is answered */
struct deplist {
    uint64_t id; /* UINT64_MAX: empty */
    uint64_t mask[4]; /* workers 0..255 */
};

/* a group of identical writes on a key (the rule above) */
struct idem {
    uint64_t key;  /* the key (0: empty) */
    uint64_t wid;  /* its last member (the key's last write while the group lasts),
                    * IDEM_SETTLED set when everything on the key before the group was
                    * answered */
    uint64_t same; /* what its members write (sync_key.same) */
    uint64_t pad;
};
#define IDEM_SETTLED (1ull << 63)
/* A group is remembered from one member to the next, across the requests in flight between
 * them (the read-ahead: thousands). Two places per set (one cache line), the older group
 * giving way: a group forgotten is only one more wait, but every worker must forget the same
 * ones (the choice uses the key and the ids, never what is answered), or their tables would
 * disagree about what a later write waits for. On redis-benchmark's pipelined trace (2M
 * requests) a direct-mapped table of 16,384 places left 521 waits, 4,096 sets of two 315-330,
 * 8,192 sets (512 KiB a worker) 75-86, and 262,144 direct-mapped places 53. */
#define IDEM_SETS 8192

/* the keys of a connection's open MULTI */
struct txstate {
    uint64_t conn; /* 0: empty (connection ids are never 0 for requests) */
    struct sync_key *keys;
    uint32_t n, cap;
    uint8_t barrier;
};

struct sync_w {
    struct sync_shared *sh;
    unsigned me;
    struct kstate *k;
    size_t kcap, kn;
    size_t kadds;           /* entries added since the last pass over the table */
    struct kstate *kspare;  /* the previous table's memory, for the next rehash to the same
                             * size (a fresh calloc of megabytes page-faulted on every sweep) */
    size_t kspare_cap;
    struct waitlist *wl;
    size_t wcap, wn;
    struct deplist *dl;
    size_t dcap, dn;
    struct txstate *tx;
    size_t txcap, txn;
    struct idem *idem;      /* IDEM_SETS x 2 groups of identical writes */
    struct kreads *kpool[KPOOL_CLASSES]; /* free blocks of 4 << i reads */
    struct acc barrier;     /* the last barrier */
    struct acc *since;      /* every access since it (what the next barrier waits for) */
    size_t nsince, capsince;
    uint64_t *scratch;      /* the dependencies of the request being taken */
    unsigned *scratch_owner;
    size_t nscratch, capscratch;
    struct sync_msg *drain; /* the inbox, swapped out */
    size_t capdrain;
    uint64_t *rec_done;     /* one bit per id: its reply was read in the trace */
    uint64_t *waited_on;    /* one bit per id: an own request waits for it (a wait list) */
    struct sync_stats st;
    int oom;
    int collect;            /* the request being taken is this worker's: its dependencies count */
    uint64_t cur_id;        /* the request being taken */
    uint64_t cur_conn;      /* and its connection */
};

static int rec_open(const struct sync_w *s, uint64_t id);

#define mix rt_fmix64

struct sync_w *sync_w_new(struct sync_shared *sh, unsigned me)
{
    struct sync_w *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->sh = sh;
    s->me = me;
    s->barrier.id = UINT64_MAX;
    s->rec_done = calloc(sh->nids / 64 + 1, sizeof *s->rec_done);
    s->waited_on = calloc(sh->nids / 64 + 1, sizeof *s->waited_on);
    /* the groups' table now, not at the first SET: a worker that had none while the others
     * had theirs would disagree with them about who joined a group */
    s->idem = aligned_alloc(64, IDEM_SETS * 2 * sizeof *s->idem);
    if (!s->rec_done || !s->waited_on || !s->idem) {
        free(s->rec_done);
        free(s->waited_on);
        free(s->idem);
        free(s);
        return NULL;
    }
    memset(s->idem, 0, IDEM_SETS * 2 * sizeof *s->idem);
    return s;
}

void sync_w_free(struct sync_w *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->kcap; i++)
        free(s->k[i].more);
    for (int c = 0; c < KPOOL_CLASSES; c++)
        for (struct kreads *m = s->kpool[c], *nx; m; m = nx) {
            nx = m->next;
            free(m);
        }
    free(s->k);
    free(s->kspare);
    free(s->idem);
    for (size_t i = 0; i < s->wcap; i++)
        free(s->wl[i].reqs);
    free(s->wl);
    free(s->dl);
    for (size_t i = 0; i < s->txn; i++)
        free(s->tx[i].keys);
    free(s->tx);
    free(s->since);
    free(s->scratch);
    free(s->scratch_owner);
    free(s->drain);
    free(s->rec_done);
    free(s->waited_on);
    free(s);
}

const struct sync_stats *sync_w_stats(const struct sync_w *s)
{
    return &s->st;
}

size_t sync_w_keys(const struct sync_w *s)
{
    return s->kn;
}

size_t sync_w_places(const struct sync_w *s)
{
    return s->kcap;
}

/* grows an array of `sz`-byte elements to hold `need`. @return 0 or -1 */
static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(*p, ncap * sz);
    if (!q)
        return -1;
    *p = q;
    *cap = ncap;
    return 0;
}

/* ---- the key table ---------------------------------------------------------------------- */

static int acc_done(struct sync_w *s, const struct acc *a)
{
    return a->id == UINT64_MAX || sync_is_done(s->sh, a->id);
}

static int id_done(struct sync_w *s, uint64_t id)
{
    return id == UINT64_MAX || sync_is_done(s->sh, id);
}

/* the full id of the recording's view `low` (the low 32 bits of an id taken before now) */
static uint64_t rec_id(const struct sync_w *s, uint32_t low)
{
    return s->cur_id - (uint32_t)((uint32_t)s->cur_id - low);
}

static uint16_t fold16(uint64_t conn)
{
    uint64_t h = mix(conn);
    return (uint16_t)(h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48));
}

/* the recording's view of the entry is closed: its requests' replies were read */
static int rec_closed(const struct sync_w *s, const struct kstate *e)
{
    return (!(e->rec & REC_W) || !rec_open(s, rec_id(s, e->rec_w))) &&
           (!(e->rec & REC_R) || !rec_open(s, rec_id(s, e->rec_r)));
}

/* the pool's class of a block of `cap` reads, -1 when it is not pooled */
static int kpool_class(uint32_t cap)
{
    if (cap < 4 || cap > KPOOL_MAX || (cap & (cap - 1)))
        return -1;
    return __builtin_ctz(cap) - 2;
}

/* an empty block of `cap` reads (a power of two from 4), from the pool when it has one */
static struct kreads *kreads_get(struct sync_w *s, uint32_t cap)
{
    int c = kpool_class(cap);
    struct kreads *m;
    if (c >= 0 && s->kpool[c]) {
        m = s->kpool[c];
        s->kpool[c] = m->next;
    } else if (!(m = malloc(sizeof *m + (size_t)cap * sizeof *m->a))) {
        return NULL;
    }
    m->n = 0;
    m->cap = cap;
    m->next = NULL;
    return m;
}

/* block `m` (NULL: none) is no longer a key's */
static void kreads_put(struct sync_w *s, struct kreads *m)
{
    if (!m)
        return;
    int c = kpool_class(m->cap);
    if (c < 0) {
        free(m);
        return;
    }
    m->next = s->kpool[c];
    s->kpool[c] = m;
}

/* drops answered reads; @return 1 when the whole entry can go */
static int kstate_prune(struct sync_w *s, struct kstate *e)
{
    if (e->rid != UINT64_MAX && sync_is_done(s->sh, e->rid))
        e->rid = UINT64_MAX;
    if (e->more) {
        uint32_t o = 0;
        for (uint32_t i = 0; i < e->more->n; i++)
            if (!acc_done(s, &e->more->a[i]))
                e->more->a[o++] = e->more->a[i];
        e->more->n = o;
        if (e->rid == UINT64_MAX && o) {
            /* the first open one moves into the entry */
            e->rid = e->more->a[0].id;
            e->rconn = e->more->a[0].conn;
            e->rown = (uint8_t)e->more->a[0].owner;
            memmove(e->more->a, e->more->a + 1, (o - 1) * sizeof *e->more->a);
            e->more->n = o - 1;
        }
        if (!e->more->n) {
            kreads_put(s, e->more);
            e->more = NULL;
        }
    }
    return e->rid == UINT64_MAX && id_done(s, e->wid) && rec_closed(s, e);
}

static size_t kslot(const struct sync_w *s, uint64_t key)
{
    return mix(key) & (s->kcap - 1);
}

static int ktable_rehash(struct sync_w *s, size_t ncap, int prune)
{
    struct kstate *nk;
    if (s->kspare && s->kspare_cap == ncap) {
        nk = s->kspare;
        memset(nk, 0, ncap * sizeof *nk);
        s->kspare = NULL;
    } else if (!(nk = aligned_alloc(64, ncap * sizeof *nk))) {
        return -1;
    } else {
        memset(nk, 0, ncap * sizeof *nk);
    }
    size_t live = 0;
    for (size_t i = 0; i < s->kcap; i++) {
        struct kstate *e = &s->k[i];
        if (!e->key)
            continue;
        if (prune && kstate_prune(s, e)) {
            kreads_put(s, e->more);
            continue;
        }
        size_t j = mix(e->key) & (ncap - 1);
        while (nk[j].key)
            j = (j + 1) & (ncap - 1);
        nk[j] = *e;
        live++;
    }
    free(s->kspare);
    s->kspare = s->k;
    s->kspare_cap = s->kcap;
    s->k = nk;
    s->kcap = ncap;
    s->kn = live;
    return 0;
}

void sync_prefetch(const struct sync_w *s, const struct sync_req *q)
{
    if (!s->kcap || q->kind != SYNC_KEYS)
        return;
    for (size_t i = 0; i < q->nkeys && i < 4; i++)
        __builtin_prefetch(&s->k[kslot(s, q->keys[i].hash ? q->keys[i].hash : 1)], 1);
}

void sync_prefetch_key(const struct sync_w *s, uint64_t key)
{
    if (s->kcap)
        __builtin_prefetch(&s->k[kslot(s, key ? key : 1)], 1);
}

static struct kstate *kstate_get(struct sync_w *s, uint64_t key)
{
    if (!key)
        key = 1; /* 0 marks an empty slot */
    if ((s->kn + 1) * 2 > s->kcap) {
        /* full: first drop what is answered (the table keeps the read-ahead window's keys
         * only), then grow if that was not enough. A pass is tried once an eighth of the
         * table was added since the last one (a pass then costs at most eight places per
         * entry added). Entries that no forget removed add up slowly between passes; waiting
         * for twice the entries the last pass left let a burst of open keys double the
         * table for good: on redis-benchmark's pipelined trace over 100k keys (2,000-3,000 keys
         * open at a time) to 16,384 places, 1 MiB where 8,192 do. */
        size_t since = s->kcap / 8 > 512 ? s->kcap / 8 : 512;
        if (s->kcap && s->kadds >= since) {
            if (ktable_rehash(s, s->kcap, 1) < 0)
                return NULL;
            s->kadds = 0;
            s->st.sweeps++;
        }
        if ((s->kn + 1) * 2 > s->kcap && ktable_rehash(s, s->kcap ? s->kcap * 2 : 1024, 0) < 0)
            return NULL;
    }
    size_t j = kslot(s, key);
    while (s->k[j].key && s->k[j].key != key)
        j = (j + 1) & (s->kcap - 1);
    struct kstate *e = &s->k[j];
    if (!e->key) {
        *e = (struct kstate){.key = key, .wid = UINT64_MAX, .rid = UINT64_MAX};
        s->kn++;
        s->kadds++;
    }
    return e;
}

/* Deletes entry i (linear probing: the entries after it that would no longer be found move
 * back into the hole). */
static void kstate_del(struct sync_w *s, size_t i)
{
    size_t mask = s->kcap - 1;
    kreads_put(s, s->k[i].more);
    for (size_t j = (i + 1) & mask; s->k[j].key; j = (j + 1) & mask) {
        size_t h = kslot(s, s->k[j].key);
        /* j stays when its home is cyclically in (i, j] */
        int stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (!stays) {
            s->k[i] = s->k[j];
            i = j;
        }
    }
    s->k[i].key = 0;
    s->k[i].more = NULL;
    s->kn--;
}

void sync_forget(struct sync_w *s, uint64_t key)
{
    if (!s->kcap)
        return;
    if (!key)
        key = 1;
    size_t j = kslot(s, key);
    while (s->k[j].key && s->k[j].key != key)
        j = (j + 1) & (s->kcap - 1);
    struct kstate *e = &s->k[j];
    if (!e->key)
        return;
    /* While the newest of its further reads is open the entry stays, and its answered reads
     * can wait for the next pass over them (when the block fills, or a write comes): on a
     * hot key, read by hundreds of requests in flight, pruning at every answer read them all
     * each time (5,000 instructions a request replaying redis-benchmark's -P 16 GETs of ten
     * keys). The entry still goes when its last read is answered: it cannot go while any
     * is open, the newest included, and once the newest is answered every forget passes over
     * them all, as before. */
    if (e->more && e->more->n && !acc_done(s, &e->more->a[e->more->n - 1]))
        return;
    /* (the recording's ids are counted back from the last request taken: s->cur_id) */
    if (kstate_prune(s, e))
        kstate_del(s, j);
}

/* ---- dependencies of the request being taken --------------------------------------------- */

static int dep_add(struct sync_w *s, const struct acc *a)
{
    if (!s->collect || acc_done(s, a) || a->id == s->cur_id || a->conn == s->cur_conn)
        return 0; /* another worker's request (only the key table follows it), itself (a key
                   * named twice: MSET k 1 k 2, a transaction's commands on one key), or one
                   * of its own connection's: those reach the server in order anyway, and
                   * waiting for them would undo the recorded pipelining */
    for (size_t i = 0; i < s->nscratch; i++)
        if (s->scratch[i] == a->id)
            return 0;
    if (s->nscratch == s->capscratch) {
        size_t c = s->capscratch;
        if (grow((void **)&s->scratch, &c, s->nscratch + 1, sizeof *s->scratch) < 0)
            return -1;
        /* the owners grow with the ids (same capacity) */
        unsigned *no = realloc(s->scratch_owner, c * sizeof *no);
        if (!no)
            return -1;
        s->scratch_owner = no;
        s->capscratch = c;
    }
    s->scratch[s->nscratch] = a->id;
    s->scratch_owner[s->nscratch++] = a->owner;
    return 0;
}

static int since_add(struct sync_w *s, const struct acc *a)
{
    if (s->nsince == s->capsince) {
        /* answered ones first go: what a barrier waits for is what is still pending */
        size_t o = 0;
        for (size_t i = 0; i < s->nsince; i++)
            if (!acc_done(s, &s->since[i]))
                s->since[o++] = s->since[i];
        s->nsince = o;
    }
    if (grow((void **)&s->since, &s->capsince, s->nsince + 1, sizeof *s->since) < 0)
        return -1;
    s->since[s->nsince++] = *a;
    return 0;
}

/* adds the open access `a` to the reads of entry `e` (the first open one in the entry, the
 * others in its block; answered ones leave first) */
static int reads_add(struct sync_w *s, struct kstate *e, const struct acc *a)
{
    int pruned = 0;
    if (e->rid != UINT64_MAX && (!e->more || !e->more->n) && sync_is_done(s->sh, e->rid)) {
        e->rid = UINT64_MAX;
    } else if (e->more && e->more->n == e->more->cap) {
        kstate_prune(s, e);
        pruned = 1;
    }
    if (e->rid == UINT64_MAX) {
        e->rid = a->id;
        e->rconn = a->conn;
        e->rown = (uint8_t)a->owner;
        return 0;
    }
    /* a block still more than half open after a pass is doubled: the next pass is then at
     * least half a block of reads away, so passes cost a few reads' worth per read added */
    if (!e->more || e->more->n == e->more->cap || (pruned && e->more->n * 2 > e->more->cap)) {
        uint32_t cap = e->more ? e->more->cap * 2 : 4;
        struct kreads *m;
        if (e->more && e->more->cap > KPOOL_MAX) {
            /* (beyond the pool's sizes: the block grows in place when it can) */
            m = realloc(e->more, sizeof *m + (size_t)cap * sizeof *m->a);
            if (!m)
                return -1;
            m->cap = cap;
        } else {
            if (!(m = kreads_get(s, cap)))
                return -1;
            if (e->more) {
                memcpy(m->a, e->more->a, e->more->n * sizeof *m->a);
                m->n = e->more->n;
                kreads_put(s, e->more);
            }
        }
        e->more = m;
    }
    e->more->a[e->more->n++] = *a;
    return 0;
}

/* the place of key `key`'s group: the one holding the key, else the one to take for it (an
 * empty one, else the one whose last member is older) */
static struct idem *idem_at(struct sync_w *s, uint64_t key)
{
    struct idem *g = &s->idem[((mix(key) >> 20) & (IDEM_SETS - 1)) * 2];
    if (g[0].key == key)
        return &g[0];
    if (g[1].key == key)
        return &g[1];
    return (g[0].wid & ~IDEM_SETTLED) <= (g[1].wid & ~IDEM_SETTLED) ? &g[0] : &g[1];
}

/* 1 when everything entry `e` and the last barrier hold is answered (this worker's view) */
static int kstate_settled(struct sync_w *s, const struct kstate *e)
{
    if (!id_done(s, e->wid) || !id_done(s, e->rid) || !acc_done(s, &s->barrier))
        return 0;
    for (uint32_t i = 0; e->more && i < e->more->n; i++)
        if (!acc_done(s, &e->more->a[i]))
            return 0;
    return 1;
}

/* the request `a` (of recorded connection `conn`) touches `key` (`write`; `same`: an identical
 * write's arguments, sync_key.same); its dependencies go to scratch; *overlap is set when
 * another connection's request on the key was still open in the recording (its reply not
 * read yet): both were in the server at once, and which ran first is not on the wire (the
 * order kept is the arrival order: a guess, counted); *commuted when it joined a group of
 * identical writes without waiting for an open member. The recording's view lives in the
 * key's entry, which goes when the replay answered its requests (by then the recording's
 * replies were read: the read-ahead reads a reply soon after its request). */
static int touch(struct sync_w *s, uint64_t key, int write, uint64_t same, int is_dep,
                 const struct acc *a, uint64_t conn, int *overlap, int *commuted)
{
    struct kstate *e = kstate_get(s, key);
    if (!e)
        return -1;
    uint16_t fc = fold16(conn);
    if (((e->rec & REC_W) && rec_open(s, rec_id(s, e->rec_w)) && e->rec_wc != fc) ||
        (write && (e->rec & REC_R) && rec_open(s, rec_id(s, e->rec_r)) && e->rec_rc != fc))
        *overlap = 1;
    if (write) {
        e->rec_w = (uint32_t)a->id;
        e->rec_wc = fc;
        e->rec |= REC_W;
    } else {
        e->rec_r = (uint32_t)a->id;
        e->rec_rc = fc;
        e->rec |= REC_R;
    }
    struct acc wa = {e->wid, e->wown, e->wconn};
    struct idem *g = write && same && is_dep ? idem_at(s, key) : NULL;
    if (g && g->key == key && g->same == same && (g->wid & ~IDEM_SETTLED) == e->wid &&
        e->wid != UINT64_MAX) {
        /* the same write as the key's last one: it joins its group. Unsettled, it waits for
         * the last member (which waited for what was before); the reads since need no wait
         * either way: they read what this writes. */
        if (!(g->wid & IDEM_SETTLED)) {
            if (dep_add(s, &wa) < 0)
                return -1;
        } else if (s->collect && !acc_done(s, &wa) && wa.conn != s->cur_conn) {
            *commuted = 1;
        }
        if (!acc_done(s, &wa) && reads_add(s, e, &wa) < 0)
            return -1; /* (a later write waits for it, as for the reads since the group began) */
        e->wid = a->id;
        e->wconn = a->conn;
        e->wown = (uint8_t)a->owner;
        g->wid = a->id | (g->wid & IDEM_SETTLED);
        return 0;
    }
    if (g) {
        /* a group begins: whether it may run in any order is what is open before it now */
        g->key = key;
        g->wid = a->id | (kstate_settled(s, e) ? IDEM_SETTLED : 0);
        g->same = same;
    }
    if (dep_add(s, &wa) < 0)
        return -1;
    if (write) {
        struct acc ra = {e->rid, e->rown, e->rconn};
        if (dep_add(s, &ra) < 0)
            return -1;
        for (uint32_t i = 0; e->more && i < e->more->n; i++)
            if (dep_add(s, &e->more->a[i]) < 0)
                return -1;
        if (is_dep) {
            e->wid = a->id;
            e->wconn = a->conn;
            e->wown = (uint8_t)a->owner;
            e->rid = UINT64_MAX;
            if (e->more)
                e->more->n = 0;
        }
    } else if (is_dep) {
        return reads_add(s, e, a);
    }
    return 0;
}

/* ---- waiting and waking ------------------------------------------------------------------ */

static struct waitlist *wl_find(struct sync_w *s, uint64_t id, int create)
{
    if (create && (s->wn + 1) * 2 > s->wcap) {
        /* sized by the lists still waited on: emptied ones go (a table that only grew would
         * grow with the whole replay) */
        size_t live = 0;
        for (size_t i = 0; i < s->wcap; i++)
            live += s->wl[i].id != UINT64_MAX && s->wl[i].n;
        size_t ncap = 256;
        while (ncap < (live + 1) * 4)
            ncap *= 2;
        struct waitlist *nw = malloc(ncap * sizeof *nw);
        if (!nw)
            return NULL;
        for (size_t i = 0; i < ncap; i++)
            nw[i] = (struct waitlist){.id = UINT64_MAX};
        live = 0;
        for (size_t i = 0; i < s->wcap; i++) {
            if (s->wl[i].id == UINT64_MAX)
                continue;
            if (!s->wl[i].n) { /* emptied: dropped now */
                free(s->wl[i].reqs);
                continue;
            }
            size_t j = mix(s->wl[i].id) & (ncap - 1);
            while (nw[j].id != UINT64_MAX)
                j = (j + 1) & (ncap - 1);
            nw[j] = s->wl[i];
            live++;
        }
        free(s->wl);
        s->wl = nw;
        s->wcap = ncap;
        s->wn = live;
    }
    if (!s->wcap)
        return NULL;
    size_t j = mix(id) & (s->wcap - 1);
    while (s->wl[j].id != UINT64_MAX && s->wl[j].id != id)
        j = (j + 1) & (s->wcap - 1);
    if (s->wl[j].id == id)
        return &s->wl[j];
    if (!create)
        return NULL;
    s->wl[j] = (struct waitlist){.id = id};
    s->wn++;
    if (id < s->sh->nids)
        s->waited_on[id / 64] |= 1ull << (id % 64);
    return &s->wl[j];
}

static struct deplist *dl_find(struct sync_w *s, uint64_t id, int create)
{
    if (create && (s->dn + 1) * 2 > s->dcap) {
        size_t live = 0;
        for (size_t i = 0; i < s->dcap; i++)
            live += s->dl[i].id != UINT64_MAX && !sync_is_done(s->sh, s->dl[i].id);
        size_t ncap = 256;
        while (ncap < (live + 1) * 4)
            ncap *= 2;
        struct deplist *nd = malloc(ncap * sizeof *nd);
        if (!nd)
            return NULL;
        for (size_t i = 0; i < ncap; i++)
            nd[i] = (struct deplist){.id = UINT64_MAX};
        live = 0;
        for (size_t i = 0; i < s->dcap; i++) {
            if (s->dl[i].id == UINT64_MAX || sync_is_done(s->sh, s->dl[i].id))
                continue;
            size_t j = mix(s->dl[i].id) & (ncap - 1);
            while (nd[j].id != UINT64_MAX)
                j = (j + 1) & (ncap - 1);
            nd[j] = s->dl[i];
            live++;
        }
        free(s->dl);
        s->dl = nd;
        s->dcap = ncap;
        s->dn = live;
    }
    if (!s->dcap)
        return NULL;
    size_t j = mix(id) & (s->dcap - 1);
    while (s->dl[j].id != UINT64_MAX && s->dl[j].id != id)
        j = (j + 1) & (s->dcap - 1);
    if (s->dl[j].id == id)
        return &s->dl[j];
    if (!create)
        return NULL;
    s->dl[j] = (struct deplist){.id = id};
    s->dn++;
    return &s->dl[j];
}

/* the own requests waiting for `id` each lose one reason to wait */
static void wake_waiters(struct sync_w *s, uint64_t id, sync_wake_fn wake, void *ctx)
{
    if (!s->wn)
        return; /* nothing waits (a trace whose connections share no key) */
    if (id < s->sh->nids) {
        /* most answered requests have nobody waiting: a bit says so without a table probe */
        uint64_t bit = 1ull << (id % 64);
        if (!(s->waited_on[id / 64] & bit))
            return;
        s->waited_on[id / 64] &= ~bit;
    }
    struct waitlist *w = wl_find(s, id, 0);
    if (!w || !w->n)
        return;
    /* taken out first: a wake may take further requests (and grow the table) */
    void **reqs = w->reqs;
    uint32_t n = w->n;
    w->reqs = NULL;
    w->n = w->cap = 0;
    for (uint32_t i = 0; i < n; i++)
        wake(ctx, reqs[i]);
    free(reqs);
}

/* ---- the per-connection transaction ------------------------------------------------------- */

static struct txstate *tx_find(struct sync_w *s, uint64_t conn, int create)
{
    for (size_t i = 0; i < s->txn; i++)
        if (s->tx[i].conn == conn)
            return &s->tx[i];
    if (!create)
        return NULL;
    if (grow((void **)&s->tx, &s->txcap, s->txn + 1, sizeof *s->tx) < 0)
        return NULL;
    s->tx[s->txn] = (struct txstate){.conn = conn};
    return &s->tx[s->txn++];
}

static void tx_drop(struct sync_w *s, struct txstate *t)
{
    free(t->keys);
    *t = s->tx[--s->txn];
    s->tx[s->txn] = (struct txstate){0};
}

/* ---- where the recording cannot say ------------------------------------------------------ */

static int rec_open(const struct sync_w *s, uint64_t id)
{
    return id != UINT64_MAX && id < s->sh->nids && !((s->rec_done[id / 64] >> (id % 64)) & 1);
}

void sync_recorded_reply(struct sync_w *s, uint64_t id)
{
    if (id < s->sh->nids)
        s->rec_done[id / 64] |= 1ull << (id % 64);
}

/* ---- taking a request -------------------------------------------------------------------- */

int sync_take(struct sync_w *s, const struct sync_req *q, void *req, uint32_t *pending)
{
    *pending = 0;
    s->nscratch = 0;
    struct acc a = {q->id, q->owner, q->conn};
    const struct sync_key *keys = q->keys;
    size_t nk = q->nkeys;
    unsigned kind = q->kind;
    int mine = q->owner == s->me;
    s->collect = mine && req; /* an own request that will not be sent waits for nothing */
    s->cur_id = q->id;
    s->cur_conn = q->conn;
    if (mine)
        s->st.taken++;

    /* MULTI ... EXEC: the queued commands touch their keys at EXEC */
    struct txstate *t = NULL;
    if (kind == SYNC_MULTI) {
        t = tx_find(s, q->conn, 1);
        if (!t)
            goto oom;
        t->n = 0;
        t->barrier = 0;
        return 0;
    }
    if ((t = tx_find(s, q->conn, 0))) {
        if (kind == SYNC_EXEC) {
            keys = t->keys;
            nk = t->n;
            kind = t->barrier ? SYNC_BARRIER : SYNC_KEYS;
        } else if (kind == SYNC_DISCARD) {
            tx_drop(s, t);
            return 0;
        } else {
            /* queued: its keys wait for the EXEC */
            if (kind == SYNC_BARRIER)
                t->barrier = 1;
            size_t cap = t->cap;
            if (grow((void **)&t->keys, &cap, t->n + nk, sizeof *t->keys) < 0)
                goto oom;
            t->cap = (uint32_t)cap;
            memcpy(t->keys + t->n, q->keys, nk * sizeof *q->keys);
            t->n += (uint32_t)nk;
            return 0;
        }
    } else if (kind == SYNC_EXEC || kind == SYNC_DISCARD) {
        return 0; /* no MULTI seen (before the window): nothing queued to order */
    }
    if (kind == SYNC_NONE)
        goto out;

    /* everything waits for the last barrier; a barrier waits for everything since */
    if (dep_add(s, &s->barrier) < 0)
        goto oom;
    if (kind == SYNC_BARRIER) {
        for (size_t i = 0; i < s->nsince; i++)
            if (dep_add(s, &s->since[i]) < 0)
                goto oom;
        s->barrier = a;
        s->nsince = 0;
        if (mine)
            s->st.barriers++;
    } else {
        int is_dep = kind != SYNC_BLOCKING;
        int overlap = 0, commuted = 0;
        /* (an identical write is one request's only key: a transaction's are not) */
        uint64_t same = q->kind == SYNC_KEYS && nk == 1 ? keys[0].same : 0;
        for (size_t i = 0; i < nk; i++)
            if (touch(s, keys[i].hash, keys[i].write, same, is_dep, &a, q->conn, &overlap,
                      &commuted) < 0)
                goto oom;
        if (overlap && mine)
            s->st.overlapped++;
        if (commuted && mine)
            s->st.commuted++;
        if (is_dep && since_add(s, &a) < 0)
            goto oom;
    }

    /* own: wait for what is not answered; other: tell its worker when an own one is */
    for (size_t i = 0; i < s->nscratch; i++) {
        uint64_t d = s->scratch[i];
        unsigned downer = s->scratch_owner[i];
        if (s->collect) {
            struct waitlist *w = wl_find(s, d, 1);
            if (!w)
                goto oom_waiting;
            if (w->n == w->cap) {
                size_t cap = w->cap;
                if (grow((void **)&w->reqs, &cap, w->n + 1, sizeof *w->reqs) < 0)
                    goto oom_waiting;
                w->cap = (uint32_t)cap;
            }
            w->reqs[w->n++] = req;
            (*pending)++;
            if (downer != s->me &&
                post(s->sh, downer,
                     (struct sync_msg){.id = d, .from = s->me, .subscribe = 1}) < 0) {
                i++; /* (its wait is in the list: taken back below) */
                goto oom_waiting;
            }
        }
        continue;
    oom_waiting:
        /* the request goes unordered: it must not stay in the lists it joined in this call,
         * or their wake-up would reach it after it was sent and freed */
        for (size_t j = 0; s->collect && j < i; j++) {
            struct waitlist *w = wl_find(s, s->scratch[j], 0);
            if (w && w->n && w->reqs[w->n - 1] == req)
                w->n--;
        }
        goto oom;
    }
    if (mine && *pending)
        s->st.waited++;
out:
    if (t && kind != SYNC_NONE && q->kind == SYNC_EXEC)
        tx_drop(s, t);
    return 0;
oom:
    /* no memory for the order: this request goes unordered (and it is counted) */
    s->oom = 1;
    s->st.unordered++;
    *pending = 0;
    return -1;
}

void sync_w_release(struct sync_w *s, sync_wake_fn drop, void *ctx)
{
    for (size_t i = 0; i < s->wcap; i++) {
        struct waitlist *w = &s->wl[i];
        if (w->id == UINT64_MAX || !w->n)
            continue;
        void **reqs = w->reqs;
        uint32_t n = w->n;
        w->reqs = NULL;
        w->n = w->cap = 0;
        for (uint32_t k = 0; k < n; k++)
            drop(ctx, reqs[k]);
        free(reqs);
    }
}

void sync_answered(struct sync_w *s, uint64_t id, sync_wake_fn wake, void *ctx)
{
    set_done(s->sh, id);
    wake_waiters(s, id, wake, ctx);
    struct deplist *dl = s->dn ? dl_find(s, id, 0) : NULL;
    if (!dl)
        return;
    for (unsigned wk = 0; wk < s->sh->nw && wk < 256; wk++)
        if (wk != s->me && (dl->mask[wk / 64] >> (wk % 64) & 1))
            post(s->sh, wk, (struct sync_msg){.id = id});
    memset(dl->mask, 0, sizeof dl->mask);
}

void sync_drain(struct sync_w *s, sync_wake_fn wake, void *ctx)
{
    struct sync_inbox *in = &s->sh->inbox[s->me];
    pthread_mutex_lock(&in->mu);
    struct sync_msg *m = in->m;
    size_t n = in->n;
    size_t cap = in->cap;
    in->m = s->drain;
    in->cap = s->capdrain;
    in->n = 0;
    pthread_mutex_unlock(&in->mu);
    s->drain = m;
    s->capdrain = cap;
    for (size_t i = 0; i < n; i++) {
        if (!m[i].subscribe) {
            wake_waiters(s, m[i].id, wake, ctx);
            continue;
        }
        /* another worker waits for an own request: answered already, or remembered */
        if (sync_is_done(s->sh, m[i].id)) {
            post(s->sh, m[i].from, (struct sync_msg){.id = m[i].id});
            continue;
        }
        struct deplist *dl = dl_find(s, m[i].id, 1);
        if (dl)
            dl->mask[(m[i].from / 64) & 3] |= 1ull << (m[i].from % 64);
        else
            post(s->sh, m[i].from, (struct sync_msg){.id = m[i].id}); /* no memory: let it go */
    }
}
