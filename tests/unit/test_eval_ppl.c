/* Perplexity aggregation (SPEC §6.2). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "duet/eval.h"

START_TEST(trim_of_twenty)
{
    /* PPL_i = i + 1 for i = 0..19 (one token each, NLL = ln(i + 1)), given
     * in a scrambled order, plus two empty texts that must be dropped.
     * n = 20: keep sorted indices [floor(1), floor(19)) = 1..18, i.e. the
     * values 2..19, mean (2 + 19) / 2 = 10.5. Tolerance: exp(log(v)) is v to
     * a few ulp. */
    double nll[22];
    size_t ntok[22];
    for (int i = 0; i < 20; i++) {
        int v = (i * 7) % 20 + 1; /* 7 is coprime to 20: a permutation of 1..20 */
        nll[i] = log((double)v);
        ntok[i] = 1;
    }
    nll[20] = nll[21] = 0.0;
    ntok[20] = ntok[21] = 0;
    duet_ppl p;
    duet_err err;
    ck_assert_int_eq(duet_ppl_compute(nll, ntok, 22, &p, &err), 0);
    ck_assert_double_eq_tol(p.ppl_trim, 10.5, 1e-12);
    ck_assert_uint_eq(p.n_used, 20);
    ck_assert_uint_eq(p.n_empty, 2);
    /* corpus: exp(sum ln v / 20) = (20!)^(1/20) */
    ck_assert_double_eq_tol(p.ppl_corpus, exp(lgamma(21.0) / 20), 1e-10);
}
END_TEST

START_TEST(small_n_and_corpus)
{
    duet_ppl p;
    duet_err err;
    /* n = 1: the kept range is empty, report PPL_1 = exp(6 / 3) */
    double one[] = {6.0};
    size_t t1[] = {3};
    ck_assert_int_eq(duet_ppl_compute(one, t1, 1, &p, &err), 0);
    ck_assert_double_eq_tol(p.ppl_trim, exp(2.0), 1e-15);
    /* PPL = exp(3/1), exp(2/2), exp(2/1) = e^3, e, e^2. n = 3: keep sorted
     * [0, floor(2.85)) = the two smallest: (e + e^2) / 2.
     * corpus: exp((3 + 2 + 2) / (1 + 2 + 1)) = exp(7/4) */
    double nll[] = {3.0, 2.0, 2.0};
    size_t ntok[] = {1, 2, 1};
    ck_assert_int_eq(duet_ppl_compute(nll, ntok, 3, &p, &err), 0);
    ck_assert_double_eq_tol(p.ppl_trim, (exp(1.0) + exp(2.0)) / 2, 1e-14);
    ck_assert_double_eq_tol(p.ppl_corpus, exp(7.0 / 4), 1e-14);
}
END_TEST

START_TEST(identical_values)
{
    /* §7 item 17: n >= 2 identical PPL values -> exactly that value */
    size_t sizes[] = {2, 5, 20, 41};
    double nll[41];
    size_t ntok[41];
    for (size_t i = 0; i < 41; i++) {
        nll[i] = 18.5;
        ntok[i] = 5;
    }
    for (size_t s = 0; s < 4; s++) {
        duet_ppl p;
        duet_err err;
        ck_assert_int_eq(duet_ppl_compute(nll, ntok, sizes[s], &p, &err), 0);
        ck_assert_double_eq(p.ppl_trim, exp(18.5 / 5.0));
    }
}
END_TEST

START_TEST(bad_values)
{
    duet_ppl p;
    duet_err err;
    double nan_nll[] = {1.0, NAN};
    size_t t[] = {1, 1};
    ck_assert_int_eq(duet_ppl_compute(nan_nll, t, 2, &p, &err), -1);
    ck_assert_msg(strstr(err.msg, "text 1") != NULL, "%s", err.msg);
    double neg[] = {-0.5, 1.0};
    ck_assert_int_eq(duet_ppl_compute(neg, t, 2, &p, &err), -1);
    double zero[] = {0.0, 0.0};
    size_t none[] = {0, 0};
    ck_assert_int_eq(duet_ppl_compute(zero, none, 2, &p, &err), -1);
    ck_assert_msg(strstr(err.msg, "empty") != NULL, "%s", err.msg);
}
END_TEST

Suite *suite_eval_ppl(void)
{
    Suite *s = suite_create("eval_ppl");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, trim_of_twenty);
    tcase_add_test(tc, small_n_and_corpus);
    tcase_add_test(tc, identical_values);
    tcase_add_test(tc, bad_values);
    suite_add_tcase(s, tc);
    return s;
}
