/* AdamW, LR schedule, gradient clipping and EMA against hand-computed
 * values (numbers below worked out from the update formulas by hand and
 * double-checked in double precision). */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "duet/optim.h"
#include "gradcheck.h"

START_TEST(adamw_three_steps)
{
    /* lr 0.1, betas (0.9, 0.99), eps 1e-8, wd 0.5; gradients 0.5, -0.25,
     * 0.125. Step 1: m = 0.05, v = 0.0025, m^ = 0.5, v^ = 0.25, so the
     * update is 1: decayed w 1 -> 0.95 - 0.1 = 0.85; undecayed 2 -> 1.9.
     * Step 2: m = 0.02, v = 0.0031, m^ = 0.02/0.19, v^ = 0.0031/0.0199,
     * update 0.266699 -> 0.85*0.95 - 0.0266699 = 0.78083006. */
    duet_params p;
    duet_params_init(&p);
    int s2[2] = {2, 2}, s1[1] = {1};
    duet_params_add(&p, "w", 2, s2, DUET_INIT_ZERO, 0, DUET_TF_DECAY);
    duet_params_add(&p, "g", 1, s1, DUET_INIT_ZERO, 0, 0);
    duet_params_add(&p, "f", 1, s1, DUET_INIT_ZERO, 0, DUET_TF_FROZEN | DUET_TF_DECAY);
    duet_params_alloc(&p);
    size_t ow = duet_params_find(&p, "w")->offset, og = duet_params_find(&p, "g")->offset;
    size_t of = duet_params_find(&p, "f")->offset;
    p.w[ow] = 1.0f, p.w[ow + 1] = -0.5f, p.w[og] = 2.0f, p.w[of] = 7.0f;
    float *m = gc_zeros(p.total), *v = gc_zeros(p.total);
    duet_adamw_hparams h = {0.1, 0.9, 0.99, 1e-8, 0.5};
    const float grads[3] = {0.5f, -0.25f, 0.125f};
    const double want_w[3] = {0.8500000019999999, 0.7808300596679334, 0.7076351225010823};
    const double want_g[3] = {1.900000002, 1.8733300597679337, 1.8391766255844793};
    const double want_zero_grad[3] = {-0.475, -0.45125, -0.42868749999999994}; /* decay only */
    for (int t = 0; t < 3; t++) {
        p.g[ow] = grads[t], p.g[ow + 1] = 0.0f, p.g[og] = grads[t], p.g[of] = grads[t];
        duet_adamw_step(&p, m, v, &h, t + 1);
        /* float32 state: 1e-6 relative */
        ck_assert_double_le(fabs(p.w[ow] - want_w[t]), 1e-6);
        ck_assert_double_le(fabs(p.w[og] - want_g[t]), 2e-6);
        ck_assert_double_le(fabs(p.w[ow + 1] - want_zero_grad[t]), 1e-6);
        ck_assert_float_eq(p.w[of], 7.0f); /* frozen: untouched, no state */
        ck_assert_float_eq(m[of], 0.0f);
        ck_assert_float_eq(v[of], 0.0f);
    }
    ck_assert_double_le(fabs(m[ow] - 0.0305), 1e-8);
    ck_assert_double_le(fabs(v[ow] - 0.00322525), 1e-8); /* float32: ~3e-6 relative */
    free(m), free(v);
    duet_params_free(&p);
}
END_TEST

START_TEST(lr_schedule_values)
{
    /* peak 1e-3, warm-up 10, total 110, floor 10% */
    ck_assert_double_eq_tol(duet_lr_at(0, 1e-3, 10, 110, 0.1, DUET_LR_COSINE), 1e-4, 1e-15);
    ck_assert_double_eq_tol(duet_lr_at(4, 1e-3, 10, 110, 0.1, DUET_LR_COSINE), 5e-4, 1e-15);
    ck_assert_double_eq_tol(duet_lr_at(9, 1e-3, 10, 110, 0.1, DUET_LR_COSINE), 1e-3, 1e-15);
    ck_assert_double_eq_tol(duet_lr_at(10, 1e-3, 10, 110, 0.1, DUET_LR_COSINE), 1e-3, 1e-15);
    /* halfway: 1e-4 + 0.9e-3 * (1 + cos(pi/2)) / 2 = 5.5e-4 */
    ck_assert_double_eq_tol(duet_lr_at(60, 1e-3, 10, 110, 0.1, DUET_LR_COSINE), 5.5e-4, 1e-15);
    /* a quarter: 1e-4 + 0.9e-3 * (1 + cos(pi/4)) / 2 = 8.681980515e-4 */
    ck_assert_double_eq_tol(duet_lr_at(35, 1e-3, 10, 110, 0.1, DUET_LR_COSINE), 8.681980515339464e-4,
                            1e-15);
    ck_assert_double_eq_tol(duet_lr_at(110, 1e-3, 10, 110, 0.1, DUET_LR_COSINE), 1e-4, 1e-15);
    ck_assert_double_eq_tol(duet_lr_at(500, 1e-3, 10, 110, 0.1, DUET_LR_COSINE), 1e-4, 1e-15);
    ck_assert_double_eq_tol(duet_lr_at(3, 1e-3, 10, 110, 0.1, DUET_LR_CONSTANT), 4e-4, 1e-15);
    ck_assert_double_eq_tol(duet_lr_at(50, 1e-3, 10, 110, 0.1, DUET_LR_CONSTANT), 1e-3, 1e-15);
    ck_assert_double_eq_tol(duet_lr_at(0, 1e-3, 0, 100, 0.1, DUET_LR_COSINE), 1e-3, 1e-15);
}
END_TEST

START_TEST(grad_norm_and_clip)
{
    float g[2] = {3.0f, 4.0f};
    double n = duet_grad_norm(g, 2);
    ck_assert_double_eq(n, 5.0);
    /* torch's rule: factor max/(norm + 1e-6) when below 1 */
    float f = duet_clip_grad(g, 2, n, 1.0);
    ck_assert_double_le(fabs(f - 1.0 / (5.0 + 1e-6)), 1e-7);
    ck_assert_double_le(fabs(g[0] - 0.6), 1e-6);
    ck_assert_double_le(fabs(g[1] - 0.8), 1e-6);
    ck_assert_float_eq(duet_clip_grad(g, 2, 0.5, 1.0), 1.0f);
    ck_assert_float_eq(duet_clip_grad(g, 2, 9.0, 0.0), 1.0f); /* 0 = off */
    ck_assert_double_le(fabs(g[0] - 0.6), 1e-6);
    /* a large slab: the norm does not depend on the thread count */
    size_t big = 1000003;
    float *x = gc_zeros(big);
    gc_fill(x, big, 3, -1, 1);
    int saved = duet_get_threads();
    duet_set_threads(1);
    double n1 = duet_grad_norm(x, big);
    duet_set_threads(2);
    double n2 = duet_grad_norm(x, big);
    duet_set_threads(saved);
    ck_assert_double_eq(n1, n2);
    ck_assert_double_le(fabs(n1 - sqrt(big / 3.0)), 0.01 * sqrt(big / 3.0));
    free(x);
}
END_TEST

START_TEST(ema_values)
{
    float ema[2] = {1.0f, -2.0f}, w[2] = {3.0f, 0.0f};
    duet_ema_update(ema, w, 2, 0.9f);
    ck_assert_double_le(fabs(ema[0] - 1.2), 1e-6);
    ck_assert_double_le(fabs(ema[1] + 1.8), 1e-6);
    duet_ema_update(ema, w, 2, 0.9f);
    ck_assert_double_le(fabs(ema[0] - 1.38), 1e-6);
    ck_assert_double_le(fabs(ema[1] + 1.62), 1e-6);
}
END_TEST

Suite *suite_optim(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, adamw_three_steps);
    tcase_add_test(tc, lr_schedule_values);
    tcase_add_test(tc, grad_norm_and_clip);
    tcase_add_test(tc, ema_values);
    suite_add_tcase(s, tc);
    return s;
}
