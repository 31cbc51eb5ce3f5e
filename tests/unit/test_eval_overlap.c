/* ROUGE-1/2/L, corpus BLEU, sentence BLEU and MBR against hand-computed
 * values. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/eval.h"
#include "testutil.h"

static void texts_of(duet_texts *t, const char *const *s, size_t n)
{
    duet_texts_init(t);
    for (size_t i = 0; i < n; i++)
        duet_texts_push(t, s[i], strlen(s[i]));
}

static duet_rouge rouge_of(const char *const *c, const char *const *r, size_t n)
{
    duet_texts tc, tr;
    texts_of(&tc, c, n);
    texts_of(&tr, r, n);
    duet_rouge out;
    duet_err err;
    ck_assert_int_eq(duet_rouge_compute(&tc, &tr, &out, &err), 0);
    duet_texts_free(&tc);
    duet_texts_free(&tr);
    return out;
}

START_TEST(rouge_hand_computed)
{
    /* 1: "the cat sat on the mat" vs "The cat is on the mat!" (lowercased,
     *    '!' dropped): 6 vs 6 tokens.
     *    R1 overlap the 2 + cat + on + mat = 5 -> P = R = F = 5/6.
     *    R2 bigrams the-cat cat-sat sat-on on-the the-mat vs the-cat cat-is
     *    is-on on-the the-mat: overlap 3 of 5 each -> F = 3/5.
     *    LCS "the cat on the mat" = 5 -> F = 5/6.
     * 2: "a b c d e" vs "a x c": R1 overlap {a, c} = 2, P = 2/5, R = 2/3,
     *    F = 2PR/(P+R) = (8/15)/(16/15) = 1/2; R2 overlap 0 -> 0; LCS "a c"
     *    = 2 -> F = 1/2.
     * mean: R1 = (5/6 + 1/2)/2 = 2/3, R2 = 3/10, RL = 2/3. */
    const char *c[] = {"the cat sat on the mat", "a b c d e"};
    const char *r[] = {"The cat is on the mat!", "a x c"};
    duet_rouge o = rouge_of(c, r, 2);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_double_eq_tol(o.rouge1, 2.0 / 3, 1e-15);
    ck_assert_double_eq_tol(o.rouge2, 0.3, 1e-15);
    ck_assert_double_eq_tol(o.rougeL, 2.0 / 3, 1e-15);

    /* LCS differs from the unigram overlap: "a b c d" vs "b d a c": every
     * unigram matches (R1 = 1), LCS = 2 ("b d", "a c", ...) -> RL = 1/2;
     * bigrams ab bc cd vs bd da ac share none -> R2 = 0 */
    const char *c2[] = {"a b c d"};
    const char *r2[] = {"b d a c"};
    o = rouge_of(c2, r2, 1);
    ck_assert_double_eq(o.rouge1, 1.0);
    ck_assert_double_eq(o.rouge2, 0.0);
    ck_assert_double_eq(o.rougeL, 0.5);

    /* §7 item 17: identical texts (>= 2 tokens) -> 1; an empty candidate -> 0 */
    const char *c3[] = {"Exactly the same text.", ""};
    const char *r3[] = {"exactly the same text", "not empty"};
    o = rouge_of(c3, r3, 2);
    ck_assert_double_eq(o.rouge1, 0.5);
    ck_assert_double_eq(o.rouge2, 0.5);
    ck_assert_double_eq(o.rougeL, 0.5);
}
END_TEST

START_TEST(rouge_count_mismatch)
{
    char *dir = test_tmpdir();
    char *pc = test_write_file(dir, "cand.txt", "a\nb\nc\n", 6);
    char *pr = test_write_file(dir, "ref.txt", "a\nb\n", 4);
    duet_texts c, r;
    duet_texts_init(&c);
    duet_texts_init(&r);
    duet_err err;
    ck_assert_int_eq(duet_texts_read(&c, pc, "auto", NULL, &err), 0);
    ck_assert_int_eq(duet_texts_read(&r, pr, "auto", NULL, &err), 0);
    duet_rouge o;
    ck_assert_int_eq(duet_rouge_compute(&c, &r, &o, &err), -1);
    ck_assert_msg(strstr(err.msg, "3 candidates") && strstr(err.msg, pc) &&
                      strstr(err.msg, "2 references") && strstr(err.msg, pr),
                  "%s", err.msg);
    const duet_texts *refs[] = {&r};
    duet_bleu b;
    ck_assert_int_eq(duet_corpus_bleu(&c, refs, 1, &b, &err), -1);
    ck_assert_msg(strstr(err.msg, pr) != NULL, "%s", err.msg);
    duet_texts_free(&c);
    duet_texts_free(&r);
    duet_texts empty;
    duet_texts_init(&empty);
    ck_assert_int_eq(duet_rouge_compute(&empty, &empty, &o, &err), -1);
    free(pc);
    free(pr);
    test_rmtree(dir);
    free(dir);
}
END_TEST

static duet_bleu bleu_of(const char *const *c, const char *const *r1, const char *const *r2,
                         size_t n)
{
    duet_texts tc, t1, t2;
    texts_of(&tc, c, n);
    texts_of(&t1, r1, n);
    texts_of(&t2, r2 ? r2 : r1, n);
    const duet_texts *refs[] = {&t1, &t2};
    duet_bleu out;
    duet_err err;
    ck_assert_int_eq(duet_corpus_bleu(&tc, refs, r2 ? 2 : 1, &out, &err), 0);
    duet_texts_free(&tc);
    duet_texts_free(&t1);
    duet_texts_free(&t2);
    return out;
}

START_TEST(corpus_bleu_hand_computed)
{
    /* 1: "the cat sat on the mat" vs "the cat is on the mat" (6 / 6)
     *    1-grams: the 2 + cat + on + mat = 5 of 6
     *    2-grams: the-cat on-the the-mat = 3 of 5
     *    3-grams: on-the-mat = 1 of 4;  4-grams: 0 of 3
     * 2: "a b c d e" vs "a b c d x y z" (5 / 7)
     *    4 of 5, 3 of 4, 2 of 3, 1 of 2
     * corpus: matches 9 6 3 1, totals 11 9 7 5, c = 11, r = 13,
     * BLEU = exp(1 - 13/11) * (9/11 * 6/9 * 3/7 * 1/5)^(1/4) */
    const char *c[] = {"the cat sat on the mat", "a b c d e"};
    const char *r[] = {"the cat is on the mat", "a b c d x y z"};
    duet_bleu b = bleu_of(c, r, NULL, 2);
    size_t m[4] = {9, 6, 3, 1}, tot[4] = {11, 9, 7, 5};
    for (int n = 0; n < 4; n++) {
        ck_assert_uint_eq(b.matches[n], m[n]);
        ck_assert_uint_eq(b.totals[n], tot[n]);
    }
    ck_assert_uint_eq(b.c_len, 11);
    ck_assert_uint_eq(b.r_len, 13);
    ck_assert_double_eq_tol(b.bp, exp(1.0 - 13.0 / 11), 1e-15);
    double want = exp(1.0 - 13.0 / 11) * pow(9.0 / 11 * 6.0 / 9 * 3.0 / 7 * 1.0 / 5, 0.25);
    ck_assert_double_eq_tol(b.bleu, want, 1e-14);

    /* two references: "a b c d e" vs {"a b c d x y z", "b c d e"}: each
     * n-gram clipped by its max count over the references -> all match
     * (5/5 4/4 3/3 2/2); r = 4 (|4-5| < |7-5|) < c: BP = 1 -> BLEU 1 */
    const char *c2[] = {"a b c d e"};
    const char *r21[] = {"a b c d x y z"};
    const char *r22[] = {"b c d e"};
    b = bleu_of(c2, r21, r22, 1);
    ck_assert_uint_eq(b.matches[3], 2);
    ck_assert_uint_eq(b.r_len, 4);
    ck_assert_double_eq(b.bleu, 1.0);

    /* equally close references (6 and 4 for c = 5): the shorter is taken;
     * with r = 6 BP would be exp(-0.2) */
    const char *r31[] = {"a b c d e f"};
    const char *r32[] = {"a b c d"};
    b = bleu_of(c2, r31, r32, 1);
    ck_assert_uint_eq(b.r_len, 4);
    ck_assert_double_eq(b.bleu, 1.0);
    b = bleu_of(c2, r32, r31, 1);
    ck_assert_uint_eq(b.r_len, 4);

    /* §7 item 17: identical (>= 4 tokens) -> 1; no 4-gram match -> 0 */
    const char *same[] = {"One, two: three four."};
    b = bleu_of(same, same, NULL, 1);
    ck_assert_double_eq(b.bleu, 1.0);
    const char *c4[] = {"a b c d"};
    const char *r4[] = {"a b c e"};
    b = bleu_of(c4, r4, NULL, 1);
    ck_assert_double_eq(b.bleu, 0.0);
    ck_assert_double_eq(b.prec[0], 0.75);
    /* case is kept for corpus BLEU */
    const char *c5[] = {"A B C D"};
    const char *r5[] = {"a b c d"};
    b = bleu_of(c5, r5, NULL, 1);
    ck_assert_uint_eq(b.matches[0], 0);
}
END_TEST

START_TEST(sentence_bleu_and_mbr)
{
    /* lowercased: "A B C D" vs "a b c e": m = 3 2 1 0, c = 4 3 2 1,
     * p = 4/5 3/4 2/3 1/2, BP 1 -> 0.2^(1/4) */
    ck_assert_double_eq_tol(duet_sentence_bleu("A B C D", 7, "a b c e", 7), pow(0.2, 0.25),
                            1e-15);
    /* short hypothesis "a b" vs "a b c d": p = 3/3 2/2 1/1 1/1,
     * BP = exp(1 - 4/2) */
    ck_assert_double_eq_tol(duet_sentence_bleu("a b", 3, "a b c d", 7), exp(-1.0), 1e-15);
    ck_assert_double_eq(duet_sentence_bleu("", 0, "a b c d", 7), 0.0);
    ck_assert_double_eq(duet_sentence_bleu("x y z w", 7, "x y z w", 7), 1.0);

    /* MBR: candidates 0 and 1 equal, 2 unrelated. mean BLEU as reference:
     * y=0: (1 + b)/2, y=1: (1 + b)/2, y=2: b with b = (1/5 1/4 1/3 1/2)^(1/4)
     * -> tie between 0 and 1 goes to the later one */
    const char *c[] = {"a b c d", "a b c d", "x y z w"};
    size_t lens[] = {7, 7, 7};
    ck_assert_uint_eq(duet_mbr_select(c, lens, 3), 1);
    const char *c2[] = {"p q r s t", "x y z w", "p q r s"};
    size_t lens2[] = {9, 7, 7};
    /* S(x | y) = BLEU(hypothesis x, reference y), u = (1/120)^(1/4),
     * v = (1/360)^(1/4), e = exp(1 - 5/4):
     *   S(2|0) = e (all p = 1, short)   S(1|0) = e u
     *   S(0|2) = (5/6 4/5 3/4 2/3)^(1/4) = (1/3)^(1/4)   S(1|2) = u
     *   S(0|1) = v   S(2|1) = u
     * means: y=0 (e u + e)/2 = 0.507, y=1 (v + u)/2 = 0.266,
     *        y=2 ((1/3)^(1/4) + u)/2 = 0.531 -> 2 */
    ck_assert_uint_eq(duet_mbr_select(c2, lens2, 3), 2);
    ck_assert_uint_eq(duet_mbr_select(c2, lens2, 1), 0);
}
END_TEST

Suite *suite_eval_overlap(void)
{
    Suite *s = suite_create("eval_overlap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rouge_hand_computed);
    tcase_add_test(tc, rouge_count_mismatch);
    tcase_add_test(tc, corpus_bleu_hand_computed);
    tcase_add_test(tc, sentence_bleu_and_mbr);
    suite_add_tcase(s, tc);
    return s;
}
