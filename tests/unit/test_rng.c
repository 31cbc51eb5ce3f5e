/* Philox-4x32-10 against the Random123 known-answer vectors; keyed draws and
 * the Feistel permutation. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "duet/rng.h"

START_TEST(philox_known_answers)
{
    static const uint32_t ctr[3][4] = {
        {0, 0, 0, 0},
        {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
        {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint32_t key[3][2] = {
        {0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {
        {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        duet_philox4x32(ctr[i], key[i], out);
        for (int j = 0; j < 4; j++)
            ck_assert_uint_eq(out[j], want[i][j]);
    }
}
END_TEST

START_TEST(keyed_draws_depend_only_on_key)
{
    duet_rng a = duet_rng_keyed(7, 3, 11, DUET_STREAM_NOISE);
    duet_rng b = duet_rng_keyed(7, 3, 11, DUET_STREAM_NOISE);
    duet_rng c = duet_rng_keyed(7, 3, 12, DUET_STREAM_NOISE);
    int differ = 0;
    for (int i = 0; i < 10; i++) {
        uint32_t x = duet_rng_u32(&a);
        ck_assert_uint_eq(x, duet_rng_u32(&b));
        differ += x != duet_rng_u32(&c);
    }
    ck_assert_int_gt(differ, 8);
    /* word e of the stream is word e%4 of block e/4 */
    duet_rng d = duet_rng_keyed(7, 3, 11, DUET_STREAM_NOISE);
    uint32_t block1[4], ctr[4] = {1, 11, 3, DUET_STREAM_NOISE}, key[2] = {7, 0};
    duet_philox4x32(ctr, key, block1);
    for (int i = 0; i < 5; i++)
        duet_rng_u32(&d);
    ck_assert_uint_eq(duet_rng_u32(&d), block1[1]);
}
END_TEST

START_TEST(uniform_and_normal_moments)
{
    duet_rng r = duet_rng_keyed(1, 0, 0, DUET_STREAM_USER);
    double su = 0, sn = 0, sn2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float u = duet_rng_uniform(&r);
        ck_assert(u >= 0.0f && u < 1.0f);
        su += u;
        float z = duet_rng_normal(&r);
        ck_assert(isfinite(z));
        sn += z;
        sn2 += (double)z * z;
    }
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
}
END_TEST

START_TEST(below_is_in_range)
{
    duet_rng r = duet_rng_keyed(5, 0, 0, DUET_STREAM_USER);
    int hist[7] = {0};
    for (int i = 0; i < 70000; i++)
        hist[duet_rng_below(&r, 7)]++;
    for (int k = 0; k < 7; k++)
        ck_assert_int_gt(hist[k], 9500);
}
END_TEST

START_TEST(permutation_is_bijective)
{
    const uint64_t sizes[] = {1, 2, 3, 17, 1000, 4097};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint64_t n = sizes[s];
        char *hit = calloc(n, 1);
        int moved = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t j = duet_permute(i, n, 42, 3);
            ck_assert_uint_lt(j, n);
            ck_assert_int_eq(hit[j], 0);
            hit[j] = 1;
            moved += j != i;
            ck_assert_uint_eq(j, duet_permute(i, n, 42, 3));
        }
        if (n >= 1000)
            ck_assert_int_gt(moved, (int)(n * 9 / 10));
        free(hit);
    }
    /* a different round (epoch) gives a different order */
    int same = 0;
    for (uint64_t i = 0; i < 1000; i++)
        same += duet_permute(i, 1000, 42, 3) == duet_permute(i, 1000, 42, 4);
    ck_assert_int_lt(same, 20);
}
END_TEST

Suite *suite_rng(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("philox");
    tcase_add_test(tc, philox_known_answers);
    tcase_add_test(tc, keyed_draws_depend_only_on_key);
    tcase_add_test(tc, uniform_and_normal_moments);
    tcase_add_test(tc, below_is_in_range);
    tcase_add_test(tc, permutation_is_bijective);
    suite_add_tcase(s, tc);
    return s;
}
