/* check_sync.c: --sync keys' dependency rules and cross-worker wake-ups (replay/sync.c). */
#include "check_suites.h"
#include "sync.h"

#include <stdlib.h>
#include <string.h>

/* a request of the tests: how many reasons it still has to wait, how often it was woken */
struct treq {
    uint32_t pending;
    int woken;
};

static void wake(void *ctx, void *req)
{
    (void)ctx;
    struct treq *r = req;
    ck_assert_uint_gt(r->pending, 0);
    r->pending--;
    r->woken++;
}

static struct sync_key K(uint64_t h, int w) { return (struct sync_key){h, (uint8_t)w, 0}; }

/* takes request `id` of `conn` (owner `owner`) on worker `s` */
static void take(struct sync_w *s, uint64_t id, uint64_t conn, unsigned owner, unsigned kind,
                 const struct sync_key *keys, size_t nk, struct treq *r)
{
    struct sync_req q = {id, conn, owner, kind, keys, nk};
    uint32_t pending = 0;
    ck_assert_int_eq(sync_take(s, &q, r, &pending), 0);
    if (r)
        r->pending = pending;
}

START_TEST(test_sync_reads_wait_for_writes)
{
    struct sync_shared *sh = sync_shared_new(1, 100);
    struct sync_w *s = sync_w_new(sh, 0);
    struct treq w0 = {0}, r1 = {0}, r2 = {0}, w3 = {0};
    struct sync_key k[] = {K(42, 1)}, rk[] = {K(42, 0)};
    take(s, 0, 1, 0, SYNC_KEYS, k, 1, &w0);
    take(s, 1, 2, 0, SYNC_KEYS, rk, 1, &r1);
    take(s, 2, 3, 0, SYNC_KEYS, rk, 1, &r2);
    take(s, 3, 4, 0, SYNC_KEYS, k, 1, &w3);
    ck_assert_uint_eq(w0.pending, 0);
    ck_assert_uint_eq(r1.pending, 1); /* the write */
    ck_assert_uint_eq(r2.pending, 1); /* the write, not the other read */
    ck_assert_uint_eq(w3.pending, 3); /* the write before it and both reads */
    sync_answered(s, 0, wake, NULL);
    ck_assert_uint_eq(r1.pending, 0);
    ck_assert_uint_eq(r2.pending, 0);
    ck_assert_uint_eq(w3.pending, 2);
    sync_answered(s, 2, wake, NULL);
    sync_answered(s, 1, wake, NULL);
    ck_assert_uint_eq(w3.pending, 0);
    ck_assert_int_eq(w3.woken, 3);
    sync_w_free(s);
    sync_shared_free(sh);
}
END_TEST

START_TEST(test_sync_barrier_blocking_and_transactions)
{
    struct sync_shared *sh = sync_shared_new(1, 100);
    struct sync_w *s = sync_w_new(sh, 0);
    struct treq a = {0}, bar = {0}, b = {0}, bl = {0}, push = {0}, e = {0}, g = {0}, q = {0};
    struct sync_key ka[] = {K(1, 1)}, kb[] = {K(2, 0)}, kq[] = {K(3, 1)}, kt[] = {K(4, 1)},
                    kt_r[] = {K(4, 0)};
    take(s, 0, 1, 0, SYNC_KEYS, ka, 1, &a);
    take(s, 1, 2, 0, SYNC_BARRIER, NULL, 0, &bar); /* FLUSHDB: waits for everything before */
    take(s, 2, 3, 0, SYNC_KEYS, kb, 1, &b);        /* an unrelated key: waits for the barrier */
    ck_assert_uint_eq(bar.pending, 1);
    ck_assert_uint_eq(b.pending, 1);
    sync_answered(s, 0, wake, NULL);
    sync_answered(s, 1, wake, NULL);
    ck_assert_uint_eq(b.pending, 0);
    sync_answered(s, 2, wake, NULL);
    /* BLPOP q then LPUSH q: the push does not wait for the pop it serves */
    take(s, 3, 4, 0, SYNC_BLOCKING, kq, 1, &bl);
    take(s, 4, 5, 0, SYNC_KEYS, kq, 1, &push);
    ck_assert_uint_eq(push.pending, 0);
    sync_answered(s, 4, wake, NULL);
    sync_answered(s, 3, wake, NULL);
    /* MULTI; SET t (queued); EXEC on conn 6, a GET t of conn 7 after the EXEC waits for the EXEC */
    take(s, 5, 6, 0, SYNC_MULTI, NULL, 0, NULL);
    take(s, 6, 6, 0, SYNC_KEYS, kt, 1, &q);
    take(s, 7, 6, 0, SYNC_EXEC, NULL, 0, &e);
    take(s, 8, 7, 0, SYNC_KEYS, kt_r, 1, &g);
    ck_assert_uint_eq(q.pending, 0); /* queued: nothing to wait for yet */
    ck_assert_uint_eq(g.pending, 1);
    sync_answered(s, 6, wake, NULL); /* QUEUED: the GET still waits */
    ck_assert_uint_eq(g.pending, 1);
    sync_answered(s, 7, wake, NULL);
    ck_assert_uint_eq(g.pending, 0);
    /* a key named twice (MSET t 1 t 2, a transaction's INCR t; INCR t) is no reason to wait
     * for itself */
    sync_answered(s, 8, wake, NULL);
    struct treq twice = {0};
    struct sync_key kk[] = {K(4, 1), K(4, 1)};
    take(s, 9, 8, 0, SYNC_KEYS, kk, 2, &twice);
    ck_assert_uint_eq(twice.pending, 0);
    sync_w_free(s);
    sync_shared_free(sh);
}
END_TEST

/* two workers see the same requests; the kick counts how often a worker was woken */
static int kicks[2];
static void kick(void *arg) { kicks[(size_t)arg]++; }

START_TEST(test_sync_across_workers)
{
    for (int order = 0; order < 3; order++) {
        struct sync_shared *sh = sync_shared_new(2, 100);
        struct sync_w *w0 = sync_w_new(sh, 0), *w1 = sync_w_new(sh, 1);
        sync_set_kick(sh, 0, kick, (void *)0);
        sync_set_kick(sh, 1, kick, (void *)1);
        struct sync_key kw[] = {K(9, 1)}, kr[] = {K(9, 0)};
        struct treq set = {0}, get = {0};
        /* id 0: worker 0's SET; id 1: worker 1's GET of the same key */
        take(w0, 0, 1, 0, SYNC_KEYS, kw, 1, &set);
        if (order == 2)
            sync_answered(w0, 0, wake, NULL); /* answered before worker 1 reads the GET */
        take(w0, 1, 2, 1, SYNC_KEYS, kr, 1, NULL);
        take(w1, 0, 1, 0, SYNC_KEYS, kw, 1, NULL);
        take(w1, 1, 2, 1, SYNC_KEYS, kr, 1, &get);
        if (order == 2) {
            ck_assert_uint_eq(get.pending, 0);
        } else {
            ck_assert_uint_eq(get.pending, 1);
            if (order == 0) {
                sync_drain(w0, wake, NULL); /* the question first, then the answer */
                sync_answered(w0, 0, wake, NULL);
            } else {
                sync_answered(w0, 0, wake, NULL); /* the answer before the question is read */
                sync_drain(w0, wake, NULL);
            }
            ck_assert_uint_eq(get.pending, 1); /* not until worker 1 reads its inbox */
            sync_drain(w1, wake, NULL);
            ck_assert_uint_eq(get.pending, 0);
            ck_assert_int_eq(get.woken, 1);
        }
        sync_w_free(w0);
        sync_w_free(w1);
        sync_shared_free(sh);
    }
}
END_TEST

/* the most a worker's key table held over n writes on distinct keys (keys from `base`) by 50
 * connections, none of which waits: the recording's reply to each is read `rec_lag` requests
 * after it, the replay answers it `ans_lag` after it and then forgets its key, but for every
 * keep-th (1: none is forgotten, only passes over the table drop them) */
struct distinct_run {
    size_t most_keys, most_places;
    uint64_t sweeps;
};

static struct distinct_run distinct_writes(uint64_t n, uint64_t base, uint64_t rec_lag,
                                           uint64_t ans_lag, uint64_t keep)
{
    struct distinct_run out = {0, 0, 0};
    struct sync_shared *sh = sync_shared_new(1, n);
    struct sync_w *s = sync_w_new(sh, 0);
    struct treq r;
    for (uint64_t i = 0; i < n; i++) {
        struct sync_key k[] = {K(base + i, 1)};
        take(s, i, i % 50 + 1, 0, SYNC_KEYS, k, 1, &r);
        ck_assert_uint_eq(r.pending, 0);
        if (i >= rec_lag)
            sync_recorded_reply(s, i - rec_lag);
        if (i >= ans_lag) {
            sync_answered(s, i - ans_lag, wake, NULL);
            if ((i - ans_lag) % keep)
                sync_forget(s, base + i - ans_lag);
        }
        if (sync_w_keys(s) > out.most_keys)
            out.most_keys = sync_w_keys(s);
        if (sync_w_places(s) > out.most_places)
            out.most_places = sync_w_places(s);
    }
    out.sweeps = sync_w_stats(s)->sweeps;
    sync_w_free(s);
    sync_shared_free(sh);
    return out;
}

START_TEST(test_sync_memory_bounded)
{
    /* 200,000 requests on distinct keys, each answered soon after (in the recording and in
     * the replay), never forgotten: the table keeps only the keys of requests not yet
     * answered */
    struct distinct_run d = distinct_writes(200000, 1000, 50, 100, 1);
    ck_assert_uint_lt(d.most_keys, 20000);
}
END_TEST

START_TEST(test_sync_table_stays_small)
{
    /* 60,000 writes on distinct keys, 3,000 open at a time, each answered and its recorded
     * reply read; a quarter of them are never forgotten (as a multi-key request's keys are
     * not): only a pass over the table drops those. 3,000 open keys need 8,192 places (the
     * table is kept at most half full); strays must not double it for good. */
    struct distinct_run d = distinct_writes(60000, 5000, 0, 3000, 4);
    ck_assert_uint_eq(d.most_places, 8192);
    ck_assert_uint_gt(d.sweeps, 5);
}
END_TEST

START_TEST(test_sync_overlapped)
{
    /* connection 1 writes k; connection 2 writes k before (overlap) and after (none) the
     * recording's reply to 1; a read of k by connection 3 while 2's write is open overlaps; the
     * same connection never overlaps itself */
    struct sync_shared *sh = sync_shared_new(1, 16);
    struct sync_w *s = sync_w_new(sh, 0);
    struct treq r;
    struct sync_key w[] = {K(7, 1)}, rd[] = {K(7, 0)};
    take(s, 0, 1, 0, SYNC_KEYS, w, 1, &r);
    take(s, 1, 2, 0, SYNC_KEYS, w, 1, &r); /* 0's reply not read: overlapped */
    ck_assert_uint_eq(sync_w_stats(s)->overlapped, 1);
    sync_recorded_reply(s, 0);
    sync_recorded_reply(s, 1);
    take(s, 2, 2, 0, SYNC_KEYS, w, 1, &r); /* every earlier one answered: none */
    ck_assert_uint_eq(sync_w_stats(s)->overlapped, 1);
    take(s, 3, 3, 0, SYNC_KEYS, rd, 1, &r); /* 2's reply not read: overlapped */
    ck_assert_uint_eq(sync_w_stats(s)->overlapped, 2);
    sync_recorded_reply(s, 3);
    take(s, 4, 2, 0, SYNC_KEYS, w, 1, &r); /* its own connection's write open: not counted */
    ck_assert_uint_eq(sync_w_stats(s)->overlapped, 2);
    sync_w_free(s);
    sync_shared_free(sh);
}
END_TEST

START_TEST(test_sync_forget)
{
    /* 4,000 writes on distinct keys (hashes chosen to crowd the table's slots), answered in
     * an order of their own: an answered one's entry goes at once (sync_forget), the others
     * stay findable (a read of each still waits for its write), and the table ends empty */
    uint64_t n = 4000;
    struct sync_shared *sh = sync_shared_new(1, 3 * n);
    struct sync_w *s = sync_w_new(sh, 0);
    static struct treq w[4000], rd[4000];
    for (uint64_t i = 0; i < n; i++) {
        struct sync_key k[] = {K((i % 64) << 40 | i, 1)};
        take(s, i, 1 + i % 7, 0, SYNC_KEYS, k, 1, &w[i]);
        sync_recorded_reply(s, i);
    }
    ck_assert_uint_eq(sync_w_keys(s), n);
    for (uint64_t i = 0; i < n; i += 3) {
        sync_answered(s, i, wake, NULL);
        sync_forget(s, (i % 64) << 40 | i);
    }
    ck_assert_uint_eq(sync_w_keys(s), n - (n + 2) / 3);
    for (uint64_t i = 0; i < n; i++) {
        struct sync_key k[] = {K((i % 64) << 40 | i, 0)};
        take(s, n + i, 100, 0, SYNC_KEYS, k, 1, &rd[i]);
        ck_assert_uint_eq(rd[i].pending, i % 3 == 0 ? 0 : 1); /* its write, when not answered */
        sync_recorded_reply(s, n + i);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (i % 3)
            sync_answered(s, i, wake, NULL);
        ck_assert_uint_eq(rd[i].pending, 0);
        sync_answered(s, n + i, wake, NULL);
        sync_forget(s, (i % 64) << 40 | i);
    }
    ck_assert_uint_eq(sync_w_keys(s), 0);
    /* an entry whose recorded reply was not read yet stays (the overlap count needs it) */
    struct treq x;
    struct sync_key k[] = {K(99, 1)};
    take(s, 2 * n, 1, 0, SYNC_KEYS, k, 1, &x);
    sync_answered(s, 2 * n, wake, NULL);
    sync_forget(s, 99);
    ck_assert_uint_eq(sync_w_keys(s), 1);
    sync_recorded_reply(s, 2 * n);
    sync_forget(s, 99);
    ck_assert_uint_eq(sync_w_keys(s), 0);
    sync_w_free(s);
    sync_shared_free(sh);
}
END_TEST

START_TEST(test_sync_hot_key_reads)
{
    /* one key read by many connections at once, as a hot key is: 2,000 reads, each answered
     * and forgotten 700 reads after it was taken (the entry then keeps answered reads until a
     * later pass over them; 700 open need a block beyond the pool's sizes); once the open ones
     * are answered too, newest first, the entry goes. Then 1,400 more reads, the first 700
     * answered: a write waits for exactly the 700 open. */
    enum { N = 2000, WIN = 700 };
    struct sync_shared *sh = sync_shared_new(1, N + 2 * WIN + 2);
    struct sync_w *s = sync_w_new(sh, 0);
    static struct treq rd[N + 2 * WIN + 1];
    struct treq w0 = {0}, w1 = {0};
    struct sync_key kw[] = {K(5, 1)}, kr[] = {K(5, 0)};
    take(s, 0, 1, 0, SYNC_KEYS, kw, 1, &w0);
    sync_recorded_reply(s, 0);
    sync_answered(s, 0, wake, NULL);
    sync_forget(s, 5);
    ck_assert_uint_eq(sync_w_keys(s), 0);
    for (uint64_t i = 1; i < N; i++) {
        take(s, i, 2 + i % 500, 0, SYNC_KEYS, kr, 1, &rd[i]);
        ck_assert_uint_eq(rd[i].pending, 0); /* the write was answered; reads wait for no read */
        sync_recorded_reply(s, i);
        if (i > WIN) {
            sync_answered(s, i - WIN, wake, NULL);
            sync_forget(s, 5);
        }
    }
    for (uint64_t i = N - 1; i >= N - WIN; i--) {
        ck_assert_uint_eq(sync_w_keys(s), 1);
        sync_answered(s, i, wake, NULL);
        sync_forget(s, 5);
    }
    ck_assert_uint_eq(sync_w_keys(s), 0); /* every read answered: the entry went */
    for (uint64_t i = N; i < N + 2 * WIN; i++) {
        take(s, i, 2 + i % 500, 0, SYNC_KEYS, kr, 1, &rd[i]);
        sync_recorded_reply(s, i);
    }
    for (uint64_t i = N; i < N + WIN; i++) {
        sync_answered(s, i, wake, NULL);
        sync_forget(s, 5);
    }
    take(s, N + 2 * WIN, 1000, 0, SYNC_KEYS, kw, 1, &w1);
    ck_assert_uint_eq(w1.pending, WIN); /* the open reads, not the answered ones */
    sync_recorded_reply(s, N + 2 * WIN);
    for (uint64_t i = N + WIN; i < N + 2 * WIN; i++) {
        sync_answered(s, i, wake, NULL);
        sync_forget(s, 5);
    }
    ck_assert_int_eq(w1.woken, WIN);
    ck_assert_uint_eq(w1.pending, 0);
    ck_assert_uint_eq(sync_w_keys(s), 1); /* the write is open */
    sync_answered(s, N + 2 * WIN, wake, NULL);
    sync_forget(s, 5);
    ck_assert_uint_eq(sync_w_keys(s), 0);
    sync_w_free(s);
    sync_shared_free(sh);
}
END_TEST

/* a write that is the same SET as another (sync_key.same) */
static struct sync_key KS(uint64_t h, uint64_t same) { return (struct sync_key){h, 1, same}; }

START_TEST(test_sync_identical_writes)
{
    struct sync_shared *sh = sync_shared_new(1, 100);
    struct sync_w *s = sync_w_new(sh, 0);
    struct sync_key w0[] = {KS(5, 11)}, v[] = {KS(5, 22)}, x[] = {KS(5, 33)}, rd[] = {K(5, 0)},
                    plain[] = {K(5, 1)};
    /* settled: everything before the group answered. B and A write the same: A does not wait
     * for B; a read after them waits for the last one; a different write waits for both and
     * for the read between them */
    struct treq W0 = {0}, B = {0}, R1 = {0}, A = {0}, R2 = {0}, D = {0};
    take(s, 0, 1, 0, SYNC_KEYS, w0, 1, &W0);
    sync_answered(s, 0, wake, NULL);
    take(s, 1, 2, 0, SYNC_KEYS, v, 1, &B);
    take(s, 2, 3, 0, SYNC_KEYS, rd, 1, &R1);
    take(s, 3, 4, 0, SYNC_KEYS, v, 1, &A);
    take(s, 4, 5, 0, SYNC_KEYS, rd, 1, &R2);
    take(s, 5, 6, 0, SYNC_KEYS, x, 1, &D);
    ck_assert_uint_eq(B.pending, 0);
    ck_assert_uint_eq(R1.pending, 1);
    ck_assert_uint_eq(A.pending, 0);
    ck_assert_uint_eq(R2.pending, 1); /* A */
    ck_assert_uint_eq(D.pending, 4);  /* A, B, R1, R2 */
    ck_assert_uint_eq(sync_w_stats(s)->commuted, 1);
    sync_answered(s, 3, wake, NULL); /* A */
    ck_assert_uint_eq(R2.pending, 0);
    ck_assert_uint_eq(R1.pending, 1); /* (B's read: B is still open) */
    sync_answered(s, 4, wake, NULL);
    ck_assert_uint_eq(D.pending, 2);
    sync_answered(s, 1, wake, NULL); /* B */
    sync_answered(s, 2, wake, NULL);
    ck_assert_uint_eq(D.pending, 0);
    sync_answered(s, 5, wake, NULL);

    /* not settled: the write before the group is open. The second member waits for the
     * first (which waits for that write), not for nothing */
    struct treq W1 = {0}, B2 = {0}, A2 = {0}, A3 = {0};
    take(s, 10, 1, 0, SYNC_KEYS, w0, 1, &W1);
    take(s, 11, 2, 0, SYNC_KEYS, v, 1, &B2);
    take(s, 12, 3, 0, SYNC_KEYS, v, 1, &A2);
    take(s, 13, 4, 0, SYNC_KEYS, v, 1, &A3);
    ck_assert_uint_eq(B2.pending, 1);
    ck_assert_uint_eq(A2.pending, 1);
    ck_assert_uint_eq(A3.pending, 1);
    sync_answered(s, 10, wake, NULL);
    ck_assert_uint_eq(B2.pending, 0);
    ck_assert_uint_eq(A2.pending, 1);
    sync_answered(s, 11, wake, NULL);
    ck_assert_uint_eq(A2.pending, 0);
    ck_assert_uint_eq(A3.pending, 1);
    sync_answered(s, 12, wake, NULL);
    ck_assert_uint_eq(A3.pending, 0);
    sync_answered(s, 13, wake, NULL);
    ck_assert_uint_eq(sync_w_stats(s)->commuted, 1);

    /* not the same write: a different value, or a write that is not an identical one (0),
     * waits as any write does; so does the same value after a different write in between */
    struct treq P = {0}, Q = {0}, S = {0}, T = {0}, U = {0};
    take(s, 20, 1, 0, SYNC_KEYS, v, 1, &P);
    take(s, 21, 2, 0, SYNC_KEYS, x, 1, &Q);
    take(s, 22, 3, 0, SYNC_KEYS, x, 1, &S); /* joins Q's group, which began on P still open */
    take(s, 23, 4, 0, SYNC_KEYS, plain, 1, &T);
    take(s, 24, 5, 0, SYNC_KEYS, x, 1, &U);
    ck_assert_uint_eq(P.pending, 0);
    ck_assert_uint_eq(Q.pending, 1);
    ck_assert_uint_eq(S.pending, 1);
    ck_assert_uint_eq(T.pending, 2); /* Q and S */
    ck_assert_uint_eq(U.pending, 1); /* T */
    ck_assert_uint_eq(sync_w_stats(s)->commuted, 1);
    sync_w_free(s);
    sync_shared_free(sh);
}
END_TEST

Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sync_reads_wait_for_writes);
    tcase_add_test(tc, test_sync_barrier_blocking_and_transactions);
    tcase_add_test(tc, test_sync_across_workers);
    tcase_add_test(tc, test_sync_memory_bounded);
    tcase_add_test(tc, test_sync_table_stays_small);
    tcase_add_test(tc, test_sync_overlapped);
    tcase_add_test(tc, test_sync_forget);
    tcase_add_test(tc, test_sync_hot_key_reads);
    tcase_add_test(tc, test_sync_identical_writes);
    tcase_set_timeout(tc, 60); /* (under a sanitizer: the larger ones take seconds) */
    suite_add_tcase(s, tc);
    return s;
}
