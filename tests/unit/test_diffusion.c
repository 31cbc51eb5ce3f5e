/* Schedules and sampler steps against the oracles of SPEC 7 (items 1, 2, 5-7). */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "duet/diffusion.h"
#include "duet/rng.h"

static const char *VP_NAMES[] = {"tan-d", "cosine", "sqrt"};

/* 7.1: alpha^2 + sigma^2 = 1 on a 1e4-point grid; alpha non-increasing,
 * strictly decreasing while alpha > 0 (except tan-d's cap [0.9999, 1) and
 * sqrt's clip at the end). */
START_TEST(vp_identities)
{
    for (int k = 0; k < 3; k++) {
        duet_vp s;
        ck_assert_int_eq(duet_vp_parse(VP_NAMES[k], 9.0, &s), 0);
        double prev = 2.0;
        for (int i = 0; i <= 10000; i++) {
            double t = i / 10000.0, a, sg;
            duet_vp_alpha_sigma(&s, t, &a, &sg);
            ck_assert(fabs(a * a + sg * sg - 1.0) < 1e-6);
            ck_assert(a <= prev);
            int capped = (s.kind == DUET_VP_TAN_D && t >= 0.9999) || a == 0.0;
            if (i > 0 && !capped)
                ck_assert_msg(a < prev, "%s not strictly decreasing at t=%g", VP_NAMES[k], t);
            prev = a;
        }
    }
    duet_vp tan;
    duet_vp_parse("tan-d", 9.0, &tan);
    double a, sg;
    duet_vp_alpha_sigma(&tan, 0.0, &a, &sg);
    ck_assert(a == 1.0 && sg == 0.0);
    duet_vp_alpha_sigma(&tan, 1.0, &a, &sg);
    ck_assert(a == 0.0 && sg == 1.0);
    /* tan-d at t = 0.5: 1/sqrt(1 + 81 tan^2(pi/4)) = 1/sqrt(82) */
    duet_vp_alpha_sigma(&tan, 0.5, &a, &sg);
    ck_assert(fabs(a - 1.0 / sqrt(82.0)) < 1e-12);
    /* sigma^2_{t|s} >= 0 for s < t */
    for (int k = 0; k < 3; k++) {
        duet_vp s;
        duet_vp_parse(VP_NAMES[k], 9.0, &s);
        for (double t = 0.01; t <= 1.0; t += 0.01)
            for (double u = 0.0; u < t; u += 0.01) {
                double at, st, as, ss;
                duet_vp_alpha_sigma(&s, t, &at, &st);
                duet_vp_alpha_sigma(&s, u, &as, &ss);
                if (as > 0)
                    ck_assert(st * st - (at / as) * (at / as) * ss * ss >= -1e-12);
            }
    }
    ck_assert_int_eq(duet_vp_parse("linear", 9, &tan), -1);
}
END_TEST

/* 7.2: DDIM eta=0 with an oracle denoiser recovers eps at every step and
 * ends at alpha_tmin x0 + sigma_tmin eps. */
START_TEST(ddim_oracle)
{
    enum { N = 64, STEPS = 25 };
    duet_vp s;
    duet_vp_parse("tan-d", 9.0, &s);
    float x0[N], eps[N], x[N];
    duet_rng r = duet_rng_keyed(3, 0, 0, DUET_STREAM_USER);
    for (int i = 0; i < N; i++) {
        x0[i] = duet_rng_normal(&r);
        eps[i] = duet_rng_normal(&r);
    }
    const double tmin = 1e-3;
    double a, sg;
    duet_vp_alpha_sigma(&s, 1.0 - (1.0 - tmin) * 0.0, &a, &sg);
    for (int i = 0; i < N; i++)
        x[i] = (float)(a * x0[i] + sg * eps[i]);
    for (int i = 0; i < STEPS; i++) {
        double t = 1.0 - (1.0 - tmin) * i / STEPS, u = 1.0 - (1.0 - tmin) * (i + 1) / STEPS;
        double at, st, as, ss;
        duet_vp_alpha_sigma(&s, t, &at, &st);
        duet_vp_alpha_sigma(&s, u, &as, &ss);
        for (int j = 0; j < N; j++) /* eps-hat of the oracle */
            ck_assert(fabs((x[j] - at * x0[j]) / st - eps[j]) < 1e-5);
        duet_ddim_step(x, x0, NULL, N, at, st, as, ss, 0.0);
    }
    duet_vp_alpha_sigma(&s, tmin, &a, &sg);
    for (int j = 0; j < N; j++)
        ck_assert(fabs(x[j] - (a * x0[j] + sg * eps[j])) < 1e-5);
}
END_TEST

/* 7.2: DDIM eta = 1 has c^2 equal to the DDPM variance; DDPM at s = 0 for
 * tan-d / cosine has mean x0-hat and variance 0. */
START_TEST(ddim_ddpm_agree)
{
    for (int k = 0; k < 2; k++) {
        duet_vp s;
        duet_vp_parse(VP_NAMES[k], 9.0, &s);
        for (double t = 0.05; t < 1.0; t += 0.05)
            for (double u = 0.0; u < t - 1e-9; u += 0.05) {
                double at, st, as, ss;
                duet_vp_alpha_sigma(&s, t, &at, &st);
                duet_vp_alpha_sigma(&s, u, &as, &ss);
                double c = duet_ddim_c(at, st, as, ss, 1.0);
                ck_assert(fabs(c * c - duet_ddpm_var(at, st, as, ss)) < 1e-12);
            }
        double at, st, as, ss;
        duet_vp_alpha_sigma(&s, 0.3, &at, &st);
        duet_vp_alpha_sigma(&s, 0.0, &as, &ss);
        float x[2] = {1.5f, -2.0f}, xh[2] = {0.25f, 0.75f}, z[2] = {10.0f, 10.0f};
        ck_assert(duet_ddpm_var(at, st, as, ss) == 0.0);
        duet_ddpm_step(x, xh, z, 2, at, st, as, ss);
        ck_assert(fabs(x[0] - 0.25f) < 1e-6 && fabs(x[1] - 0.75f) < 1e-6);
    }
}
END_TEST

/* 7.5-7.7: masked schedules. */
START_TEST(mask_schedules)
{
    const double delta = 1e-3;
    for (double t = 0.01; t <= 1.0; t += 0.01) {
        /* log-linear: E[mask fraction] = (1-delta) t and w = 1/t, so a
         * uniform predictor over K classes has expected NELBO (1-delta) ln K */
        double p_mask = 1.0 - duet_mask_alpha(DUET_MASK_LOGLINEAR, delta, t);
        ck_assert(fabs(p_mask - (1.0 - delta) * t) < 1e-12);
        ck_assert(fabs(duet_mask_weight(DUET_MASK_LOGLINEAR, delta, t) * p_mask * log(100.0) -
                       (1.0 - delta) * log(100.0)) < 1e-9);
        /* cosine: w(t) (1 - alpha(t)) = -alpha'(t), alpha' by central differences */
        double h = 1e-6;
        double da = (duet_mask_alpha(DUET_MASK_COSINE, delta, t + h) -
                     duet_mask_alpha(DUET_MASK_COSINE, delta, t - h)) / (2 * h);
        double lhs = duet_mask_weight(DUET_MASK_COSINE, delta, t) *
                     (1.0 - duet_mask_alpha(DUET_MASK_COSINE, delta, t));
        ck_assert_msg(fabs(lhs + da) < 1e-6 * fmax(1.0, fabs(da)), "t=%g %g vs %g", t, lhs, -da);
        /* unmask probability: (t-s)/t for log-linear, 1 at s = 0 */
        for (double u = 0.0; u < t; u += 0.1) {
            double p = duet_mask_unmask_prob(DUET_MASK_LOGLINEAR, delta, t, u);
            ck_assert(fabs(p - (t - u) / t) < 1e-9);
        }
        ck_assert(duet_mask_unmask_prob(DUET_MASK_COSINE, delta, t, 0.0) == 1.0);
    }
    /* 7.6: at t = 1, w = 1 and the mask probability is 1 - delta, not 1 */
    ck_assert(duet_mask_weight(DUET_MASK_LOGLINEAR, delta, 1.0) == 1.0);
    ck_assert(fabs(1.0 - duet_mask_alpha(DUET_MASK_LOGLINEAR, delta, 1.0) - (1.0 - delta)) < 1e-15);
}
END_TEST

START_TEST(lowdisc_times_cover_the_interval)
{
    enum { G = 64 };
    double t[G];
    for (int g = 0; g < G; g++) {
        t[g] = duet_lowdisc_time(9, 5, (uint32_t)g, G, 1e-3);
        ck_assert(t[g] >= 1e-3 && t[g] <= 1.0);
    }
    /* one per stratum of width (1 - eps)/G */
    int hit[G] = {0};
    for (int g = 0; g < G; g++)
        hit[(int)((t[g] - 1e-3) / (1.0 - 1e-3) * G) % G]++;
    for (int k = 0; k < G; k++)
        ck_assert_int_eq(hit[k], 1);
    /* the same on any rank: a pure function of (seed, step, g, G) */
    ck_assert(t[7] == duet_lowdisc_time(9, 5, 7, G, 1e-3));
    ck_assert(t[7] != duet_lowdisc_time(9, 6, 7, G, 1e-3));
}
END_TEST

Suite *suite_diffusion(void)
{
    Suite *s = suite_create("diffusion");
    TCase *tc = tcase_create("schedules");
    tcase_add_test(tc, vp_identities);
    tcase_add_test(tc, ddim_oracle);
    tcase_add_test(tc, ddim_ddpm_agree);
    tcase_add_test(tc, mask_schedules);
    tcase_add_test(tc, lowdisc_times_cover_the_interval);
    suite_add_tcase(s, tc);
    return s;
}
