/* Latent BatchNorm and DataNorm over ranks (SPEC 2.4, 7.10-7.11): R ranks
 * with b rows each give the statistics, outputs and (BatchNorm) input
 * gradients of one process holding all R*b rows. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "../../src/objectives/latnorm.h"
#include "duet/dist.h"
#include "gradcheck.h"
#include "testutil.h"

extern duet_dist *test_dist;

enum { PER = 10, DZ = 5 };

START_TEST(batch_and_data_norm_equal_one_rank)
{
    int rank = duet_dist_rank(test_dist), R = duet_dist_size(test_dist);
    const int all = PER * R;
    float *e = gc_zeros((size_t)all * DZ), *g = gc_zeros((size_t)all * DZ);
    float *x1 = gc_zeros((size_t)all * DZ), *xr = gc_zeros((size_t)PER * DZ);
    float *d1 = gc_zeros((size_t)all * DZ), *dr = gc_zeros((size_t)PER * DZ);
    for (int kind = LATNORM_BATCH; kind <= LATNORM_DATA; kind++) {
        latnorm one, dist;
        latnorm_create(&one, (latnorm_kind)kind, DZ, 0.3, all);
        latnorm_create(&dist, (latnorm_kind)kind, DZ, 0.3, PER);
        for (int step = 0; step < 4; step++) {
            gc_fill(e, (size_t)all * DZ, 7 + (uint64_t)step, -1.0f, 3.0f);
            gc_fill(g, (size_t)all * DZ, 70 + (uint64_t)step, -1.0f, 1.0f);
            const float *mine = e + (size_t)rank * PER * DZ, *gm = g + (size_t)rank * PER * DZ;
            latnorm_forward(&one, NULL, x1, e, all, 1);
            latnorm_forward(&dist, test_dist, xr, mine, PER, 1);
            ck_assert_double_le(
                test_max_rel_err(xr, x1 + (size_t)rank * PER * DZ, (size_t)PER * DZ, 1e-3), 1e-4);
            for (size_t i = 0; i < (size_t)all * DZ; i++)
                d1[i] = 0.0f;
            for (size_t i = 0; i < (size_t)PER * DZ; i++)
                dr[i] = 0.0f;
            latnorm_backward(&one, NULL, d1, g, e, all);
            latnorm_backward(&dist, test_dist, dr, gm, mine, PER);
            ck_assert_double_le(
                test_max_rel_err(dr, d1 + (size_t)rank * PER * DZ, (size_t)PER * DZ, 1e-3), 1e-4);
            latnorm_end_step(&one);
            latnorm_end_step(&dist);
        }
        for (int j = 0; j < DZ; j++) {
            ck_assert_double_eq_tol(dist.mu[j], one.mu[j], 1e-12);
            ck_assert_double_eq_tol(dist.q[j], one.q[j], 1e-12);
        }
        latnorm_free(&one);
        latnorm_free(&dist);
    }
    free(e);
    free(g);
    free(x1);
    free(xr);
    free(d1);
    free(dr);
}
END_TEST

Suite *suite_latnorm(void)
{
    Suite *s = suite_create("latnorm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, batch_and_data_norm_equal_one_rank);
    suite_add_tcase(s, tc);
    return s;
}
