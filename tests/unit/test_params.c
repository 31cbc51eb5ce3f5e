/* Parameter table: layout, deterministic order-independent init, flags,
 * groups, checksum. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "duet/model.h"

static void two_tensors(duet_params *p, int reversed, uint64_t seed)
{
    int sa[2] = {3, 5}, sb[1] = {7};
    duet_params_init(p);
    if (reversed)
        duet_params_add(p, "b", 1, sb, DUET_INIT_NORMAL, 0.5f, 0);
    duet_params_add(p, "a", 2, sa, DUET_INIT_NORMAL, 0.5f, DUET_TF_DECAY);
    if (!reversed)
        duet_params_add(p, "b", 1, sb, DUET_INIT_NORMAL, 0.5f, 0);
    duet_params_alloc(p);
    duet_params_init_values(p, seed);
}

START_TEST(layout_and_alignment)
{
    duet_params p;
    two_tensors(&p, 0, 1);
    const duet_tensor *a = duet_params_find(&p, "a"), *b = duet_params_find(&p, "b");
    ck_assert_uint_eq(a->offset, 0);
    ck_assert_uint_eq(a->count, 15);
    ck_assert_uint_eq(b->offset, 16); /* 64-byte aligned */
    ck_assert_uint_eq(p.total, 23);
    ck_assert_ptr_null(duet_params_find(&p, "c"));
    ck_assert_int_eq(((uintptr_t)p.w) % 64, 0);
    p.g[3] = 1.0f;
    duet_params_zero_grad(&p);
    ck_assert_float_eq(p.g[3], 0.0f);
    duet_params_free(&p);
}
END_TEST

START_TEST(init_depends_on_name_not_order)
{
    duet_params p, q, r;
    two_tensors(&p, 0, 42);
    two_tensors(&q, 1, 42);
    two_tensors(&r, 0, 43);
    const char *names[2] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        const duet_tensor *tp = duet_params_find(&p, names[i]), *tq = duet_params_find(&q, names[i]);
        ck_assert_uint_ne(tp->offset, tq->offset);
        ck_assert_mem_eq(p.w + tp->offset, q.w + tq->offset, tp->count * sizeof(float));
    }
    ck_assert_int_ne(memcmp(p.w, r.w, 15 * sizeof(float)), 0); /* the seed matters */
    duet_params_free(&p), duet_params_free(&q), duet_params_free(&r);
}
END_TEST

START_TEST(init_kinds_flags_groups)
{
    duet_params p;
    duet_params_init(&p);
    int s[1] = {20000}, s4[1] = {4};
    p.cur_group = 3;
    duet_params_add(&p, "n", 1, s, DUET_INIT_NORMAL, 0.02f, DUET_TF_DECAY);
    p.cur_group = 5;
    duet_params_add(&p, "one", 1, s4, DUET_INIT_ONE, 0, 0);
    duet_params_add(&p, "zero", 1, s4, DUET_INIT_ZERO, 0, DUET_TF_FROZEN);
    duet_params_alloc(&p);
    duet_params_init_values(&p, 9);
    const duet_tensor *n = duet_params_find(&p, "n");
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < n->count; i++)
        s1 += p.w[n->offset + i], s2 += (double)p.w[n->offset + i] * p.w[n->offset + i];
    /* 20000 samples of N(0, 0.02^2): mean within 4 sigma, std within 2% */
    ck_assert_double_le(fabs(s1 / 20000), 4 * 0.02 / sqrt(20000.0));
    ck_assert_double_le(fabs(sqrt(s2 / 20000) - 0.02), 0.0004);
    ck_assert_int_eq(n->group, 3);
    ck_assert_int_eq(duet_params_find(&p, "one")->group, 5);
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq(p.w[duet_params_find(&p, "one")->offset + i], 1.0f);
        ck_assert_float_eq(p.w[duet_params_find(&p, "zero")->offset + i], 0.0f);
    }
    ck_assert_uint_eq(duet_params_find(&p, "zero")->flags, DUET_TF_FROZEN);
    duet_params_free(&p);
}
END_TEST

START_TEST(checksum_bitwise)
{
    float a[5] = {1, 2, 3, 4, 5}, b[5] = {1, 2, 3, 4, 5};
    ck_assert_uint_eq(duet_checksum_floats(a, 5), duet_checksum_floats(b, 5));
    b[4] = nextafterf(5.0f, 6.0f);
    ck_assert_uint_ne(duet_checksum_floats(a, 5), duet_checksum_floats(b, 5));
    float z[1] = {0.0f}, nz[1] = {-0.0f};
    ck_assert_uint_ne(duet_checksum_floats(z, 1), duet_checksum_floats(nz, 1));
    ck_assert_uint_ne(duet_checksum_floats(a, 4), duet_checksum_floats(a, 5));
}
END_TEST

Suite *suite_params(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, layout_and_alignment);
    tcase_add_test(tc, init_depends_on_name_not_order);
    tcase_add_test(tc, init_kinds_flags_groups);
    tcase_add_test(tc, checksum_bitwise);
    suite_add_tcase(s, tc);
    return s;
}
