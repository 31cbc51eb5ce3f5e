/* The MPI backend of duet/dist.h on 2+ ranks. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/dist.h"
#include "duet/util.h"

extern duet_dist *test_dist;

START_TEST(allreduce_and_bcast)
{
    int r = duet_dist_rank(test_dist), n = duet_dist_size(test_dist);
    ck_assert_int_ge(n, 2);
    float f[3] = {(float)r, 1.0f, (float)(r * r)};
    duet_dist_allreduce_sum_f32(test_dist, f, 3);
    ck_assert_float_eq(f[0], (float)(n * (n - 1) / 2));
    ck_assert_float_eq(f[1], (float)n);
    double d = r + 0.5;
    duet_dist_allreduce_sum_f64(test_dist, &d, 1);
    ck_assert_double_eq(d, n * (n - 1) / 2.0 + 0.5 * n);
    int64_t mx = r, mn = r;
    duet_dist_allreduce_max_i64(test_dist, &mx, 1);
    duet_dist_allreduce_min_i64(test_dist, &mn, 1);
    ck_assert_int_eq(mx, n - 1);
    ck_assert_int_eq(mn, 0);
    char msg[16];
    snprintf(msg, sizeof msg, "rank%d", r);
    duet_dist_bcast(test_dist, msg, sizeof msg, 1);
    ck_assert_str_eq(msg, "rank1");
    int32_t mine = 100 + r, all[64];
    duet_dist_allgather(test_dist, &mine, all, sizeof mine);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(all[i], 100 + i);
}
END_TEST

START_TEST(nonblocking_buckets_match_blocking)
{
    int r = duet_dist_rank(test_dist);
    enum { N = 100003 };
    float *a = duet_falloc(N), *b = duet_falloc(N);
    for (int i = 0; i < N; i++)
        a[i] = b[i] = sinf((float)(i + 31 * r));
    duet_dist_allreduce_sum_f32(test_dist, a, N);
    /* uneven buckets from the top, as the trainer starts them */
    size_t hi = N;
    while (hi > 0) {
        size_t lo = hi > 7000 ? hi - 7000 : 0;
        duet_dist_iallreduce_sum_f32(test_dist, b + lo, hi - lo);
        duet_dist_progress(test_dist);
        hi = lo;
    }
    duet_dist_wait_all(test_dist);
    ck_assert_int_eq(memcmp(a, b, sizeof(float) * N), 0);
    free(a);
    free(b);
}
END_TEST

Suite *suite_dist(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("mpi");
    tcase_add_test(tc, allreduce_and_bcast);
    tcase_add_test(tc, nonblocking_buckets_match_blocking);
    suite_add_tcase(s, tc);
    return s;
}
