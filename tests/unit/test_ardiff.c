/* AR-Diffusion (SPEC 4, oracles 7.3-7.4): token-level time mapping,
 * skipping grid, skip update, and a finite-difference check of the whole
 * ardiff loss (conditional model, self-conditioning on). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/config.h"
#include "duet/diffusion.h"
#include "duet/objective.h"
#include "gradcheck.h"

/* Hand-computed (float32 line, round half to even) for N = 4, T = 10:
 * anchor (8, 9); c = 1: start (2, 0), f = 9 - 1.5 (8 - n); c = 8: start
 * (0, 5), f = 9 - 0.5 (8 - n) gives 5, 5.5, 6, 6.5 -> 5, 6, 6, 6 (ties to even). */
START_TEST(token_step_hand_values)
{
    static const int want[][5] = {
        /* c, f(0), f(1), f(2), f(3) */
        {0, 0, 0, 0, 0},  {1, 0, 0, 0, 2},  {2, 0, 0, 1, 3},  {3, 0, 1, 2, 3},
        {5, 2, 3, 4, 5},  {8, 5, 6, 6, 6},  {12, 9, 9, 9, 9}, {13, 9, 9, 9, 9},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        for (int n = 0; n < 4; n++)
            ck_assert_msg(duet_ardiff_token_step(n, want[i][0], 4, 10) == want[i][n + 1],
                          "f(%d, %d) = %d, want %d", n, want[i][0],
                          duet_ardiff_token_step(n, want[i][0], 4, 10), want[i][n + 1]);
    /* reference scale N = 64, T = 2000: right end leads, left end follows */
    ck_assert_int_eq(duet_ardiff_token_step(63, 1, 64, 2000), 30);
    ck_assert_int_eq(duet_ardiff_token_step(0, 100, 64, 2000), 37);
    ck_assert_int_eq(duet_ardiff_token_step(63, 100, 64, 2000), 1003);
}
END_TEST

/* 7.3: f(n, 0) = 0 and f(n, N+T-2) = T-1 for every n (the limits where all
 * tokens share one time, i.e. uniform diffusion); f non-decreasing in n and c. */
START_TEST(token_step_limits_and_monotone)
{
    static const int NT[][2] = {{1, 2}, {4, 10}, {7, 50}, {32, 2000}, {64, 2000}};
    for (size_t k = 0; k < sizeof NT / sizeof NT[0]; k++) {
        int N = NT[k][0], T = NT[k][1];
        for (int n = 0; n < N; n++) {
            ck_assert_int_eq(duet_ardiff_token_step(n, 0, N, T), 0);
            ck_assert_int_eq(duet_ardiff_token_step(n, N + T - 2, N, T), T - 1);
            ck_assert_int_eq(duet_ardiff_token_step(n, N + T - 1, N, T), T - 1);
        }
        for (int c = 0; c < N + T; c++)
            for (int n = 0; n < N; n++) {
                int f = duet_ardiff_token_step(n, c, N, T);
                ck_assert(f >= 0 && f <= T - 1);
                if (n > 0)
                    ck_assert_msg(f >= duet_ardiff_token_step(n - 1, c, N, T),
                                  "not monotone in n at N=%d T=%d c=%d n=%d", N, T, c, n);
                if (c > 0)
                    ck_assert_msg(f >= duet_ardiff_token_step(n, c - 1, N, T),
                                  "not monotone in c at N=%d T=%d c=%d n=%d", N, T, c, n);
            }
    }
}
END_TEST

/* 7.4: for every 1 <= M < S: c_0 = S-1, c_M = 0, strictly decreasing,
 * exactly M steps; M outside that range is refused. */
START_TEST(skip_grid)
{
    int c[64];
    ck_assert_int_eq(duet_ardiff_skip_grid(c, 3, 14), 0);
    ck_assert(c[0] == 13 && c[1] == 9 && c[2] == 5 && c[3] == 0); /* k = floor(14/3) = 4 */
    for (int S = 2; S < 60; S++) {
        for (int M = 1; M < S; M++) {
            ck_assert_int_eq(duet_ardiff_skip_grid(c, M, S), 0);
            ck_assert_int_eq(c[0], S - 1);
            ck_assert_int_eq(c[M], 0);
            for (int i = 1; i <= M; i++)
                ck_assert_msg(c[i] < c[i - 1], "S=%d M=%d: c[%d]=%d, c[%d]=%d", S, M, i, c[i],
                              i - 1, c[i - 1]);
        }
        ck_assert_int_eq(duet_ardiff_skip_grid(c, S, S), -1);
        ck_assert_int_eq(duet_ardiff_skip_grid(c, 0, S), -1);
    }
}
END_TEST

/* abar from its definition; the skip update is the identity when a = b and
 * the one-step DDPM posterior for consecutive steps (7.3). */
START_TEST(schedule_and_skip_update)
{
    enum { T = 2000 };
    static double abar[T];
    duet_ardiff_abar(abar, T);
    double b0 = 1.0 - (1.0 - sqrt(1.0 / T + 1e-4)) / (1.0 - sqrt(1e-4));
    ck_assert(fabs(abar[0] - (1.0 - b0)) < 1e-12);
    ck_assert(abar[0] > 0.98 && abar[0] < 0.99); /* SPEC: ~0.985 */
    for (int t = 1; t < T; t++)
        ck_assert(abar[t] < abar[t - 1] && abar[t] > 0.0);
    double cz, cx, var;
    duet_ardiff_skip_coef(abar[700], abar[700], &cz, &cx, &var);
    ck_assert(cz == 1.0 && cx == 0.0 && var == 0.0);
    for (int t = 1; t < T; t += 97) {
        double at = abar[t] / abar[t - 1], bt = 1.0 - at;
        duet_ardiff_skip_coef(abar[t], abar[t - 1], &cz, &cx, &var);
        ck_assert(fabs(cx - sqrt(abar[t - 1]) * bt / (1.0 - abar[t])) < 1e-12);
        ck_assert(fabs(cz - sqrt(at) * (1.0 - abar[t - 1]) / (1.0 - abar[t])) < 1e-12);
        ck_assert(fabs(var - bt * (1.0 - abar[t - 1]) / (1.0 - abar[t])) < 1e-12);
    }
}
END_TEST

/* Gradient of the full ardiff loss (mse + tT + nll, conditional, per-token
 * adaLN or add) against central differences. Self-conditioning is off: its
 * stop-gradient input makes the true derivative differ from the trained one
 * by design. */
typedef struct gc_obj {
    duet_objective *o;
    duet_step_ctx ctx;
    duet_batch b;
    float *W;
} gc_obj;

static double obj_loss(void *p)
{
    gc_obj *g = p;
    double terms[DUET_MAX_TERMS] = {0};
    g->o->ops->forward_backward(g->o, &g->ctx, &g->b, g->W, NULL, terms);
    return terms[0] + terms[1] + terms[2];
}

static void check_objective(const char *extra)
{
    char text[512];
    snprintf(text, sizeof text,
             "objective=ardiff\ndim=8\nn_layer=1\nn_head=2\nseq_len=5\nsrc_len=3\n"
             "ardiff_emb_dim=4\nardiff_enc_layers=1\nardiff_T=20\nardiff_self_cond=0\n%s",
             extra);
    duet_config cfg;
    duet_config_defaults(&cfg);
    duet_err err;
    ck_assert_msg(duet_config_parse_text(&cfg, text, "t", DUET_SCOPE_TRAIN, &err) == 0, "%s",
                  err.msg);
    duet_params p;
    duet_params_init(&p);
    enum { B = 3, V = 11 };
    duet_objective *o = duet_objective_create(&cfg, V, &p, B, &err);
    ck_assert_msg(o != NULL, "%s", err.msg);
    duet_params_alloc(&p);
    gc_fill(p.w, p.total, 17, -0.6f, 0.6f); /* zero-init heads would hide most gradients */
    const int32_t tokens[B * 5] = {1, 5, 6, 2, 0, 1, 7, 8, 9, 10, 1, 6, 5, 2, 0};
    const int32_t src[B * 3] = {1, 9, 2, 1, 2, 0, 1, 10, 7};
    double count = B * 5;
    gc_obj g = {o, {NULL, 99, &count, NULL, 1}, {B, 5, tokens, src, 3, 0, 4, B}, p.w};
    for (int step = 0; step < 3; step++) { /* different c, coins and noise per step */
        g.b.step = (uint32_t)step;
        memset(p.g, 0, p.total * sizeof(float));
        double terms[DUET_MAX_TERMS] = {0};
        o->ops->forward_backward(o, &g.ctx, &g.b, p.w, p.g, terms);
        ck_assert(terms[0] > 0 && terms[1] > 0 && terms[2] > 0);
        gc_tol tol = {1e-2f, 3e-2, 2e-4};
        double worst = gc_check(obj_loss, &g, p.w, p.g, p.total, 600, tol, "ardiff");
        ck_assert_msg(worst <= 1.0, "ardiff gradient (%s) off by %g tolerances", extra, worst);
    }
    duet_objective_free(o);
    duet_params_free(&p);
}

START_TEST(objective_gradient)
{
    check_objective("time_cond=adaln\n");
    check_objective("time_cond=add\nardiff_flat=1\n");
}
END_TEST

Suite *suite_ardiff(void)
{
    Suite *s = suite_create("ardiff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, token_step_hand_values);
    tcase_add_test(tc, token_step_limits_and_monotone);
    tcase_add_test(tc, skip_grid);
    tcase_add_test(tc, schedule_and_skip_update);
    tcase_add_test(tc, objective_gradient);
    suite_add_tcase(s, tc);
    return s;
}
