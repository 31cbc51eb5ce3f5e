/* MAUVE (SPEC §6.3): frontier area by hand, PCA and k-means pieces, and
 * the oracles of §7 item 17 plus order / seed / thread invariance. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "duet/eval.h"
#include "duet/rng.h"

START_TEST(area_hand_computed)
{
    /* Disjoint p = (1, 0), q = (0, 1), c = 5, lambdas {1e-6, 0.5, 1 - 1e-6}:
     * r = (lam, 1 - lam), KL(q||r) = -ln(1 - lam), KL(p||r) = -ln lam, so a
     * point is ((1 - lam)^5, lam^5). Points in order:
     *   (0, 1), (1e-30, 1 - 5e-6), (1/32, 1/32), (1 - 5e-6, 1e-30), (1, 0)
     * trapezoids: ~0 + (1/32)(1 + 1/32)/2 + (31/32)(1/32)/2 + ~0 = 1/32
     * (terms of order 1e-6 / 32 neglected: tolerance 1e-6). */
    double p[] = {1, 0}, q[] = {0, 1};
    ck_assert_double_eq_tol(duet_mauve_area(p, q, 2, 5.0, 3), 1.0 / 32, 1e-6);

    /* p = (1, 0), q = (1/2, 1/2), one lambda = 1e-6 (r ~ q):
     * x = exp(-5 KL(q||r)) ~ 1, y = exp(-5 ln 2) = 1/32;
     * area ~ (1 - 0)(1 + 1/32)/2 + 0 = 33/64 */
    double q2[] = {0.5, 0.5};
    ck_assert_double_eq_tol(duet_mauve_area(p, q2, 2, 5.0, 1), 33.0 / 64, 1e-5);

    /* p = q: every point is (1, 1), area exactly 1 */
    double u[] = {0.1, 0.2, 0.3, 0.4};
    ck_assert_double_eq(duet_mauve_area(u, u, 4, 5.0, 25), 1.0);
}
END_TEST

START_TEST(pca_known_spectra)
{
    duet_err err;
    float *y = NULL;
    size_t m = 0;
    double expl = 0;
    /* Points t * u on a line, u = (1, 2, 2)/3, t = -2..2 (mean 0): one
     * component explains everything; projections are +-t (up to a global
     * sign); tolerance float rounding. */
    double X[15];
    for (int i = 0; i < 5; i++) {
        double t = i - 2;
        X[3 * i] = t / 3;
        X[3 * i + 1] = 2 * t / 3;
        X[3 * i + 2] = 2 * t / 3;
    }
    ck_assert_int_eq(duet_pca_project(X, 5, 3, 0.9, &y, &m, &expl, &err), 0);
    ck_assert_uint_eq(m, 1);
    ck_assert_double_eq_tol(expl, 1.0, 1e-12);
    double sign = y[4] > 0 ? 1 : -1;
    for (int i = 0; i < 5; i++)
        ck_assert_double_eq_tol(y[i], sign * (i - 2), 1e-6);
    free(y);

    /* (+-3, 0) and (0, +-1): covariance diag(18, 2)/3, ratios 0.9 and 0.1 */
    double Z[] = {3, 0, -3, 0, 0, 1, 0, -1};
    ck_assert_int_eq(duet_pca_project(Z, 4, 2, 0.8, &y, &m, &expl, &err), 0);
    ck_assert_uint_eq(m, 1);
    ck_assert_double_eq_tol(expl, 0.9, 1e-12);
    ck_assert_double_eq_tol(fabs(y[0]), 3.0, 1e-6);
    ck_assert_double_eq_tol(fabs(y[2]), 0.0, 1e-6);
    free(y);
    ck_assert_int_eq(duet_pca_project(Z, 4, 2, 0.95, &y, &m, &expl, &err), 0);
    ck_assert_uint_eq(m, 2);
    ck_assert_double_eq_tol(expl, 1.0, 1e-12);
    free(y);
}
END_TEST

START_TEST(kmeans_two_groups_and_reseed)
{
    /* 1-D points 0, 1, 10, 11, k = 2: every init ends in {0, 1}, {10, 11}
     * (e.g. init 0 and 1: centroids 0 and 22/3, then 0.5 and 10.5);
     * inertia = 4 * 0.5^2 = 1 exactly */
    float X[] = {10, 0, 11, 1};
    uint32_t lab[4];
    int iters = 0;
    double inertia = duet_kmeans(X, 4, 1, 2, 5, 500, 3, lab, &iters);
    ck_assert_double_eq(inertia, 1.0);
    ck_assert_uint_eq(lab[0], lab[2]);
    ck_assert_uint_eq(lab[1], lab[3]);
    ck_assert_uint_ne(lab[0], lab[1]);
    ck_assert_int_le(iters, 3);

    /* Re-seeding: counts {4, 0, 1}. Donor weights (count - 1) = {3, -, 0},
     * so cluster 0 is split: c1 = c0 * (1 + e, 1 - e, 1 + e), c0 *= (1 - e,
     * 1 + e, 1 - e), e = 1/1024 (exact in float for these values); counts
     * become {2, 2, 1}. */
    float C[9] = {2, 4, 8, 0, 0, 0, 5, 5, 5};
    size_t counts[3] = {4, 0, 1};
    ck_assert_uint_eq(duet_kmeans_reseed_empty(C, counts, 3, 3, 1, 0, 0), 1);
    const float e = 1.0f / 1024;
    float want[9] = {2 * (1 - e), 4 * (1 + e), 8 * (1 - e), 2 * (1 + e), 4 * (1 - e),
                     8 * (1 + e), 5, 5, 5};
    for (int j = 0; j < 9; j++)
        ck_assert_float_eq(C[j], want[j]);
    ck_assert_uint_eq(counts[0], 2);
    ck_assert_uint_eq(counts[1], 2);
    ck_assert_uint_eq(counts[2], 1);

    /* A cluster with one row is never a donor: counts {0, 1, 3} always split
     * cluster 2 (into 1 + 2), whatever the key */
    for (uint32_t it = 0; it < 50; it++) {
        float D2[3] = {0, 1, 2};
        size_t c2[3] = {0, 1, 3};
        ck_assert_uint_eq(duet_kmeans_reseed_empty(D2, c2, 3, 1, 7, 0, it), 1);
        ck_assert_uint_eq(c2[0], 1);
        ck_assert_uint_eq(c2[2], 2);
        ck_assert_float_eq(D2[0], 2 * (1 + e));
    }
}
END_TEST

/* n x D Gaussian rows, mean mu on coordinates j with j % 4 == dir. */
static float *cloud(size_t n, size_t D, float mu, size_t dir, uint32_t key)
{
    float *X = malloc(n * D * sizeof *X);
    duet_rng r = duet_rng_keyed(11, key, 0, DUET_STREAM_USER);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++)
            X[i * D + j] = duet_rng_normal(&r) + (j % 4 == dir ? mu : 0.0f);
    return X;
}

static duet_mauve mauve_of(const float *P, size_t np, const float *Q, size_t nq, size_t D,
                           uint64_t seed)
{
    duet_mauve_opts o = duet_mauve_default_opts(seed);
    duet_mauve m;
    duet_err err;
    ck_assert_msg(duet_mauve_compute(P, np, Q, nq, D, &o, &m, &err) == 0, "%s", err.msg);
    return m;
}

START_TEST(mauve_oracles)
{
    const size_t n = 200, D = 16;
    float *P = cloud(n, D, 0, 0, 1);
    /* §7 item 17: MAUVE(P, P) = 1 exactly */
    duet_mauve m = mauve_of(P, n, P, n, D, 1);
    ck_assert_double_eq(m.mauve, 1.0);
    ck_assert_uint_eq(m.k, 20);

    /* Disjoint supports: if no cluster holds rows of both P and Q, then
     * KL(q||r) = -ln(1 - lam) and KL(p||r) = -ln lam whatever the bin
     * masses, so MAUVE equals the area of p = (1, 0), q = (0, 1) with the
     * default 25 lambdas (~0.0041 < 0.05). Clouds 12 sigma apart along
     * different axes. */
    float *A = cloud(n, D, 12, 0, 2), *B = cloud(n, D, 12, 1, 3);
    m = mauve_of(A, n, B, n, D, 1);
    double p1[] = {1, 0}, q1[] = {0, 1};
    double disjoint = duet_mauve_area(p1, q1, 2, 5.0, 25);
    ck_assert_double_lt(disjoint, 0.05);
    ck_assert_double_eq_tol(m.mauve, disjoint, 1e-12);

    /* Same distribution, different draws (n = 500, D = 32): measured 0.94 -
     * 0.97 over seeds; bound 0.85. */
    float *S1 = cloud(500, 32, 0, 0, 4), *S2 = cloud(500, 32, 0, 0, 5);
    m = mauve_of(S1, 500, S2, 500, 32, 1);
    ck_assert_double_gt(m.mauve, 0.85);
    ck_assert_double_le(m.mauve, 1.0);
    ck_assert_uint_eq(m.k, 50);
    ck_assert_double_ge(m.explained, 0.9);
    free(P);
    free(A);
    free(B);
    free(S1);
    free(S2);
}
END_TEST

START_TEST(mauve_invariances)
{
    const size_t n = 150, D = 24;
    float *P = cloud(n, D, 0.5f, 0, 6), *Q = cloud(n, D, 0.5f, 1, 7);
    duet_mauve ref = mauve_of(P, n, Q, n, D, 42);
    ck_assert(ref.mauve > 0.0 && ref.mauve < 1.0);

    /* same seed -> the same bits */
    duet_mauve again = mauve_of(P, n, Q, n, D, 42);
    ck_assert(again.mauve == ref.mauve && again.inertia == ref.inertia);

    /* rows permuted (P reversed, Q rotated by 37): the canonical row order
     * makes the result bitwise identical */
    float *P2 = malloc(n * D * sizeof *P2), *Q2 = malloc(n * D * sizeof *Q2);
    for (size_t i = 0; i < n; i++) {
        memcpy(P2 + i * D, P + (n - 1 - i) * D, D * sizeof *P2);
        memcpy(Q2 + i * D, Q + ((i + 37) % n) * D, D * sizeof *Q2);
    }
    duet_mauve perm = mauve_of(P2, n, Q2, n, D, 42);
    ck_assert(perm.mauve == ref.mauve && perm.inertia == ref.inertia);

    free(P);
    free(Q);
    free(P2);
    free(Q2);
}
END_TEST

START_TEST(mauve_thread_count)
{
#ifdef _OPENMP
    /* Every reduction has a fixed order -> the same bits on 1 and 2 threads.
     * Sizes just above the thresholds where the covariance and projection
     * (n D^2 > 2^21) and the k-means assignment (n k d > 2^20) go parallel:
     * 600 x 96 rows, k = 30, ~77 components. */
    const size_t n = 300, D = 96;
    float *P = cloud(n, D, 0.3f, 0, 9), *Q = cloud(n, D, 0.3f, 2, 10);
    duet_mauve_opts o = duet_mauve_default_opts(5);
    o.k = 30;
    duet_mauve one, two;
    duet_err err;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ck_assert_int_eq(duet_mauve_compute(P, n, Q, n, D, &o, &one, &err), 0);
    omp_set_num_threads(2);
    ck_assert_int_eq(duet_mauve_compute(P, n, Q, n, D, &o, &two, &err), 0);
    omp_set_num_threads(saved);
    ck_assert_uint_ge(n * 2 * o.k * one.n_comp, 1u << 20);
    ck_assert(one.mauve == two.mauve && one.inertia == two.inertia && one.iters == two.iters);
    free(P);
    free(Q);
#endif
}
END_TEST

START_TEST(mauve_default_k)
{
    /* k = max(2, round_half_even(min(n_p, n_q) / 10)): 15 -> 2 (1.5 -> 2),
     * 25 -> 2 (2.5 -> 2), 35 -> 4, 1005 -> 100, 1015 -> 102; the larger
     * side does not matter */
    const size_t mins[] = {15, 25, 35, 1005, 1015};
    const size_t want[] = {2, 2, 4, 100, 102};
    float *big = cloud(1100, 2, 0, 0, 8);
    for (size_t i = 0; i < 5; i++) {
        duet_mauve m = mauve_of(big, 1100, big, mins[i], 2, 1);
        ck_assert_uint_eq(m.k, want[i]);
    }
    free(big);
}
END_TEST

START_TEST(mauve_bad_input)
{
    float P[12] = {0}, Q[12] = {0};
    P[1 * 4 + 3] = NAN;
    duet_mauve_opts o = duet_mauve_default_opts(1);
    duet_mauve m;
    duet_err err;
    ck_assert_int_eq(duet_mauve_compute(P, 3, Q, 3, 4, &o, &m, &err), -1);
    ck_assert_msg(strstr(err.msg, "P[1][3]") != NULL, "%s", err.msg);
    ck_assert_int_eq(duet_mauve_compute(Q, 3, P, 0, 4, &o, &m, &err), -1);
    o.k = 7; /* more clusters than rows */
    ck_assert_int_eq(duet_mauve_compute(Q, 3, Q, 3, 4, &o, &m, &err), -1);
    /* all-zero rows are allowed (they stay zero): one point, MAUVE 1 */
    o.k = 0;
    ck_assert_int_eq(duet_mauve_compute(Q, 3, Q, 3, 4, &o, &m, &err), 0);
    ck_assert_double_eq(m.mauve, 1.0);
}
END_TEST

Suite *suite_eval_mauve(void)
{
    Suite *s = suite_create("eval_mauve");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, area_hand_computed);
    tcase_add_test(tc, pca_known_spectra);
    tcase_add_test(tc, kmeans_two_groups_and_reseed);
    tcase_add_test(tc, mauve_oracles);
    tcase_add_test(tc, mauve_invariances);
    tcase_add_test(tc, mauve_thread_count);
    tcase_add_test(tc, mauve_default_k);
    tcase_add_test(tc, mauve_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
