/* Loader: framing (packed, document, paired) against a reference built here,
 * every sequence once per epoch, rank partitions for world sizes 1..3, the
 * same global order for any world size, and restart from a cursor. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "duet/data.h"
#include "duet/rng.h"
#include "testutil.h"

#define VOCAB 500
#define NDOCS 37

/* Document d: length 0..29 (some longer than the windows used below),
 * token i = 16 + (7d + i) % 400, so every window's content is distinct. */
static size_t doc_len(uint64_t d)
{
    return (size_t)((d * 13 + 5) % 30);
}

static int32_t doc_tok(uint64_t d, size_t i)
{
    return (int32_t)(DUET_TOK_NSPECIAL + (7 * d + i * 3 + d * i) % 400);
}

typedef struct fixture {
    char *dir;
    duet_shard_set *s;
} fixture;

/* NDOCS documents over two files (paired: records of two documents). */
static fixture make_shards(int paired)
{
    fixture fx;
    fx.dir = test_tmpdir();
    duet_err err;
    uint64_t d = 0;
    for (int f = 0; f < 2; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/t_%05d.bin", fx.dir, f);
        duet_shard_writer *w = duet_shard_writer_create(path, VOCAB, 5, paired, &err);
        ck_assert_msg(w != NULL, "%s", err.msg);
        uint64_t end = paired ? (f == 0 ? 20 : 2 * NDOCS) : (f == 0 ? 15 : NDOCS);
        for (; d < end; d++) {
            int32_t ids[64];
            size_t n = doc_len(d);
            for (size_t i = 0; i < n; i++)
                ids[i] = doc_tok(d, i);
            ck_assert_int_eq(duet_shard_writer_add(w, ids, n, n, &err), 0);
        }
        ck_assert_msg(duet_shard_writer_finish(w, &err) == 0, "%s", err.msg);
    }
    char spec[4200];
    snprintf(spec, sizeof spec, "%s/t", fx.dir);
    fx.s = duet_shards_open(spec, VOCAB, 5, &err);
    ck_assert_msg(fx.s != NULL, "%s", err.msg);
    return fx;
}

static void fixture_free(fixture *fx)
{
    duet_shards_close(fx->s);
    test_rmtree(fx->dir);
    free(fx->dir);
}

/* Reference windows [n][L] of an unpaired split. */
static int32_t *reference(enum duet_data_mode mode, int L, uint64_t *n)
{
    size_t len = 0;
    int32_t *out = malloc(4096 * sizeof *out);
    for (uint64_t d = 0; d < NDOCS; d++) {
        out[len++] = DUET_TOK_BOS;
        for (size_t i = 0; i < doc_len(d); i++)
            out[len++] = doc_tok(d, i);
        out[len++] = DUET_TOK_EOS;
        /* packed windows run on across documents; padded ones end with each */
        while (mode != DUET_DATA_PACKED && len % (size_t)L)
            out[len++] = DUET_TOK_PAD;
    }
    while (len % (size_t)L)
        out[len++] = DUET_TOK_PAD;
    *n = len / (size_t)L;
    return out;
}

static duet_loader *make_loader(const duet_shard_set *s, enum duet_data_mode mode, int L,
                                int src_len)
{
    duet_loader_config c = {L, src_len, mode, 77};
    duet_err err;
    duet_loader *l = duet_loader_create(s, &c, &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    return l;
}

static void check_epochs(enum duet_data_mode mode, int L)
{
    fixture fx = make_shards(0);
    duet_loader *l = make_loader(fx.s, mode, L, 0);
    uint64_t n;
    int32_t *ref = reference(mode, L, &n);
    ck_assert_uint_eq(duet_loader_epoch_size(l), n);
    int32_t *seq = malloc((size_t)L * sizeof *seq);
    for (uint64_t epoch = 0; epoch < 2; epoch++) {
        /* Sequence i of the epoch is reference window permute(i) (windows
         * may repeat in content, e.g. EOS + PAD, so they are matched by
         * position, not searched for), and every window comes once. */
        int *seen = calloc(n, sizeof *seen);
        int same_order = 1;
        for (uint64_t i = 0; i < n; i++) {
            duet_loader_get(l, epoch * n + i, seq, NULL);
            uint64_t w = duet_permute(i, n, 77, epoch);
            ck_assert_uint_lt(w, n);
            ck_assert_msg(memcmp(seq, ref + w * (size_t)L, (size_t)L * sizeof *seq) == 0,
                          "sequence %llu is not window %llu", (unsigned long long)(epoch * n + i),
                          (unsigned long long)w);
            seen[w]++;
            same_order &= w == duet_permute(i, n, 77, 0);
        }
        for (uint64_t k = 0; k < n; k++)
            ck_assert_int_eq(seen[k], 1);
        /* Epoch 0 follows permutation round 0; epoch 1 has another order. */
        ck_assert_int_eq(same_order, epoch == 0);
        free(seen);
    }
    free(seq);
    free(ref);
    duet_loader_free(l);
    fixture_free(&fx);
}

START_TEST(packed_every_token_once)
{
    check_epochs(DUET_DATA_PACKED, 8);
    check_epochs(DUET_DATA_PACKED, 64); /* windows span many documents */
}
END_TEST

START_TEST(document_mode_continues_long_documents)
{
    check_epochs(DUET_DATA_DOCUMENT, 8); /* documents up to 31 framed tokens */
    check_epochs(DUET_DATA_DOCUMENT, 32);
}
END_TEST

/* Rows of a whole optimizer step (A micro-steps of R ranks x B rows), in
 * global order: micro-step, then rank, then row. */
static void global_step(const duet_loader *l, uint64_t cursor, int A, int R, int B, int L,
                        int32_t *out, int *seen, uint64_t nseen)
{
    int32_t *buf = malloc((size_t)B * (size_t)L * sizeof *buf), *one = malloc((size_t)L * 4);
    size_t k = 0;
    for (int a = 0; a < A; a++) {
        for (int r = 0; r < R; r++) {
            duet_loader_batch(l, cursor, a, r, R, B, buf, NULL);
            for (int b = 0; b < B; b++) {
                uint64_t idx = cursor + (uint64_t)a * (uint64_t)(R * B) + (uint64_t)(r * B + b);
                duet_loader_get(l, idx, one, NULL);
                ck_assert(memcmp(one, buf + (size_t)b * (size_t)L, (size_t)L * 4) == 0);
                if (idx < nseen)
                    seen[idx]++;
                memcpy(out + k, one, (size_t)L * 4);
                k += (size_t)L;
            }
        }
    }
    free(buf);
    free(one);
}

START_TEST(ranks_partition_and_global_order)
{
    fixture fx = make_shards(0);
    const int L = 8, A = 2, G = 6; /* global rows per micro-step: R * B = 6 */
    duet_loader *l = make_loader(fx.s, DUET_DATA_PACKED, L, 0);
    uint64_t n = duet_loader_epoch_size(l);
    int steps = (int)((n + (uint64_t)(A * G) - 1) / (uint64_t)(A * G));
    size_t step_tokens = (size_t)A * (size_t)G * (size_t)L;
    int32_t *ref = malloc((size_t)steps * step_tokens * 4);
    int32_t *got = malloc((size_t)steps * step_tokens * 4);
    for (int R = 1; R <= 3; R++) {
        int B = G / R;
        int *seen = calloc(n, sizeof *seen);
        for (int st = 0; st < steps; st++)
            global_step(l, (uint64_t)st * (uint64_t)(A * G), A, R, B, L,
                        (R == 1 ? ref : got) + (size_t)st * step_tokens, seen, n);
        /* Ranks together use every sequence of the epoch exactly once. */
        for (uint64_t i = 0; i < n; i++)
            ck_assert_msg(seen[i] == 1, "R=%d: sequence %llu used %d times", R,
                          (unsigned long long)i, seen[i]);
        if (R > 1) /* the same global stream whatever the rank count */
            ck_assert(memcmp(ref, got, (size_t)steps * step_tokens * 4) == 0);
        free(seen);
    }
    /* Restart: a new loader over reopened shards continues from a cursor. */
    char spec[4200];
    snprintf(spec, sizeof spec, "%s/t", fx.dir);
    duet_err err;
    duet_shard_set *s2 = duet_shards_open(spec, 0, 0, &err);
    duet_loader *l2 = make_loader(s2, DUET_DATA_PACKED, L, 0);
    int32_t *a = malloc((size_t)L * 4), *b = malloc((size_t)L * 4);
    for (uint64_t i = 5 * n - 7; i < 5 * n + 20; i++) {
        duet_loader_get(l, i, a, NULL);
        duet_loader_get(l2, i, b, NULL);
        ck_assert(memcmp(a, b, (size_t)L * 4) == 0);
    }
    free(a);
    free(b);
    duet_loader_free(l2);
    duet_shards_close(s2);
    free(ref);
    free(got);
    duet_loader_free(l);
    fixture_free(&fx);
}
END_TEST

START_TEST(paired_framing_and_cuts)
{
    fixture fx = make_shards(1);
    const int L = 12, S = 9;
    duet_loader *l = make_loader(fx.s, DUET_DATA_PACKED, L, S);
    ck_assert_uint_eq(duet_loader_epoch_size(l), NDOCS);
    /* Reference cuts: framed length len + 2 over the window. */
    uint64_t want_t = 0, want_s = 0, cut_s = 0;
    for (uint64_t p = 0; p < NDOCS; p++) {
        want_s += doc_len(2 * p) + 2 > (size_t)S;
        want_t += doc_len(2 * p + 1) + 2 > (size_t)L;
    }
    ck_assert_uint_eq(duet_loader_truncated(l, &cut_s), want_t);
    ck_assert_uint_eq(cut_s, want_s);
    ck_assert_uint_gt(want_t, 0);
    int32_t tgt[12], src[9];
    int *seen = calloc(NDOCS, sizeof *seen);
    for (uint64_t i = 0; i < NDOCS; i++) {
        duet_loader_get(l, i, tgt, src);
        uint64_t p = duet_permute(i, NDOCS, 77, 0);
        seen[p]++;
        const int32_t *side[2] = {src, tgt};
        const int len[2] = {S, L};
        for (int k = 0; k < 2; k++) {
            uint64_t d = 2 * p + (uint64_t)k;
            size_t n = doc_len(d);
            ck_assert_int_eq(side[k][0], DUET_TOK_BOS);
            for (int j = 1; j < len[k]; j++) {
                int32_t want = (size_t)j <= n ? doc_tok(d, (size_t)j - 1)
                                              : (size_t)j == n + 1 ? DUET_TOK_EOS : DUET_TOK_PAD;
                ck_assert_int_eq(side[k][j], want);
            }
        }
    }
    for (int p = 0; p < NDOCS; p++)
        ck_assert_int_eq(seen[p], 1);
    free(seen);
    duet_loader_free(l);
    /* Paired data needs a source window. */
    duet_loader_config c = {L, 0, DUET_DATA_PACKED, 1};
    duet_err err;
    ck_assert_ptr_null(duet_loader_create(fx.s, &c, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "src_len"));
    fixture_free(&fx);
}
END_TEST

START_TEST(bad_config)
{
    fixture fx = make_shards(0);
    duet_loader_config c = {1, 0, DUET_DATA_PACKED, 1};
    duet_err err;
    ck_assert_ptr_null(duet_loader_create(fx.s, &c, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "seq_len"));
    fixture_free(&fx);
}
END_TEST

Suite *suite_loader(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, packed_every_token_once);
    tcase_add_test(tc, document_mode_continues_long_documents);
    tcase_add_test(tc, ranks_partition_and_global_order);
    tcase_add_test(tc, paired_framing_and_cuts);
    tcase_add_test(tc, bad_config);
    suite_add_tcase(s, tc);
    return s;
}
