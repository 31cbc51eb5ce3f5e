/* Judge scoring (the `ar` objective's score, SPEC 6.2-6.3): the NLL of each
 * row equals the training loss of that row alone, and neither the NLL nor
 * the feature depends on the padding after the row or on its batch mates. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/data.h"
#include "duet/objective.h"
#include "gradcheck.h"

enum { V = 40, L = 10, B = 3, D = 16 };
static const int LENS[B] = {10, 6, 3};

typedef struct env {
    duet_config cfg;
    duet_params p;
    duet_objective *o;
} env;

static void env_init(env *e)
{
    memset(e, 0, sizeof *e);
    duet_config_defaults(&e->cfg);
    duet_err err = {0};
    const char *text = "objective = ar\ndim = 16\nn_layer = 2\nn_head = 2\nseq_len = 10\n";
    ck_assert_int_eq(duet_config_parse_text(&e->cfg, text, "test", ~0u, &err), 0);
    duet_params_init(&e->p);
    e->o = duet_objective_create(&e->cfg, V, &e->p, B, &err);
    ck_assert_msg(e->o != NULL, "%s", err.msg);
    duet_params_alloc(&e->p);
    duet_params_init_values(&e->p, 21);
    /* random values everywhere: a zero-initialized head would make every
     * row's NLL log(V - 1) */
    gc_fill(e->p.w, e->p.total, 22, -0.3f, 0.3f);
}

/* Row b of the test batch: BOS, then tokens, then PAD up to width. */
static void make_row(int32_t *row, int b, int width)
{
    row[0] = DUET_TOK_BOS;
    for (int i = 1; i < width; i++)
        row[i] = i < LENS[b] ? 5 + (int32_t)((b * 11 + i * 7) % (V - 5)) : DUET_TOK_PAD;
}

/* Training loss of row b alone (mean over its targets), as a sum. */
static double training_nll(env *e, int b)
{
    int32_t row[L];
    make_row(row, b, LENS[b]);
    duet_batch batch = {.B = 1, .L = LENS[b], .tokens = row, .global_batch = 1};
    double counts[DUET_MAX_COUNTS] = {0}, terms[DUET_MAX_COUNTS] = {0};
    e->o->ops->count(e->o, &batch, 1, counts);
    ck_assert(fabs(counts[0] - (LENS[b] - 1)) < 1e-12);
    duet_step_ctx ctx = {.seed = 1, .global_counts = counts, .training = 0};
    e->o->ops->forward_backward(e->o, &ctx, &batch, e->p.w, NULL, terms);
    return terms[0] * counts[0];
}

START_TEST(score_matches_training_loss_and_ignores_padding)
{
    env e;
    env_init(&e);
    int32_t rows[B * L];
    for (int b = 0; b < B; b++)
        make_row(rows + b * L, b, L);
    double nll[B];
    float feat[B * D];
    e.o->ops->score(e.o, e.p.w, rows, LENS, B, L, nll, feat);
    for (int b = 0; b < B; b++) {
        double want = training_nll(&e, b);
        ck_assert_msg(fabs(nll[b] - want) < 1e-5 * want, "row %d: score %.9g, training %.9g", b,
                      nll[b], want);
        /* alone, without padding: the same NLL and feature */
        int32_t alone[L];
        make_row(alone, b, LENS[b]);
        double nll1;
        float feat1[D];
        e.o->ops->score(e.o, e.p.w, alone, &LENS[b], 1, LENS[b], &nll1, feat1);
        ck_assert_msg(fabs(nll1 - nll[b]) < 1e-5 * nll[b], "row %d: %.9g vs %.9g", b, nll1,
                      nll[b]);
        for (int d = 0; d < D; d++)
            ck_assert_msg(fabsf(feat1[d] - feat[b * D + d]) < 1e-5f, "row %d dim %d", b, d);
    }
    /* the feature is taken at the row's last token: changing that token
     * moves it, while tokens after the row (where PAD was) do not */
    int32_t edited[L];
    make_row(edited, 1, L);
    for (int i = LENS[1]; i < L; i++)
        edited[i] = 7;
    double nll2;
    float feat2[D];
    e.o->ops->score(e.o, e.p.w, edited, &LENS[1], 1, L, &nll2, feat2);
    ck_assert(fabs(nll2 - nll[1]) < 1e-5 * nll[1]);
    for (int d = 0; d < D; d++)
        ck_assert(fabsf(feat2[d] - feat[D + d]) < 1e-5f);
    edited[LENS[1] - 1] = edited[LENS[1] - 1] == 9 ? 10 : 9;
    e.o->ops->score(e.o, e.p.w, edited, &LENS[1], 1, L, &nll2, feat2);
    float moved = 0.0f;
    for (int d = 0; d < D; d++)
        moved = fmaxf(moved, fabsf(feat2[d] - feat[D + d]));
    ck_assert_msg(moved > 1e-3f, "feature ignores the last token (moved %g)", moved);
    /* rows differ, so the comparisons above are not vacuous */
    ck_assert(fabs(nll[0] - nll[1]) > 1e-3);
    ck_assert(fabsf(feat[0] - feat[D]) > 1e-4f);
    duet_objective_free(e.o);
    duet_params_free(&e.p);
}
END_TEST

Suite *suite_judge(void)
{
    Suite *s = suite_create("judge");
    TCase *tc = tcase_create("score");
    tcase_add_test(tc, score_matches_training_loss_and_ignores_padding);
    suite_add_tcase(s, tc);
    return s;
}
