/* Div, distinct-n, Mem and self-BLEU against hand-computed values. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/eval.h"
#include "duet/rng.h"
#include "testutil.h"

static void texts_of(duet_texts *t, const char *const *s, size_t n)
{
    duet_texts_init(t);
    for (size_t i = 0; i < n; i++)
        duet_texts_push(t, s[i], strlen(s[i]));
}

START_TEST(div_hand_computed)
{
    /* "x y x y" and "y z":
     *   1-grams: 6 total, unique {x, y, z} = 3           -> 1/2
     *   2-grams: xy yx xy | yz = 4, unique {xy, yx, yz}   -> 3/4
     *            (pooling across the boundary would add "y y")
     *   3-grams: xyx yxy = 2, unique 2                    -> 1
     *   4-grams: xyxy = 1                                 -> 1
     *   Div = 3/4 * 1 * 1 */
    const char *s[] = {"x y x y", "y z"};
    duet_texts t;
    texts_of(&t, s, 2);
    duet_diversity d;
    duet_diversity_compute(&t, &d);
    ck_assert_uint_eq(d.total[0], 6);
    ck_assert_uint_eq(d.unique[0], 3);
    ck_assert_uint_eq(d.total[1], 4);
    ck_assert_uint_eq(d.unique[1], 3);
    ck_assert_uint_eq(d.total[2], 2);
    ck_assert_uint_eq(d.total[3], 1);
    ck_assert_double_eq(d.distinct[0], 0.5);
    ck_assert_double_eq(d.distinct[1], 0.75);
    ck_assert_double_eq(d.div, 0.75);
    duet_texts_free(&t);

    /* case kept, punctuation is a token: "Hi , hi ." -> 4 distinct 1-grams */
    const char *c[] = {"Hi, hi."};
    texts_of(&t, c, 1);
    duet_diversity_compute(&t, &d);
    ck_assert_uint_eq(d.unique[0], 4);
    ck_assert_uint_eq(d.total[0], 4);
    duet_texts_free(&t);

    /* §7 item 17: no repeated n-gram (n >= 2) -> Div = 1 exactly ("the"
     * repeats, but only as a 1-gram) */
    const char *u[] = {"the quick brown fox jumps over the lazy dog"};
    texts_of(&t, u, 1);
    duet_diversity_compute(&t, &d);
    ck_assert_double_eq(d.div, 1.0);
    ck_assert_double_eq(d.distinct[0], 8.0 / 9.0);
    duet_texts_free(&t);

    /* no 4-gram anywhere: Div undefined */
    const char *sh[] = {"a b c", ""};
    texts_of(&t, sh, 2);
    duet_diversity_compute(&t, &d);
    ck_assert(isnan(d.div));
    ck_assert(isnan(d.distinct[3]));
    ck_assert_double_eq(d.distinct[2], 1.0);
    duet_texts_free(&t);
}
END_TEST

START_TEST(mem_hand_computed)
{
    char *dir = test_tmpdir();
    /* reference 4-grams: [the cat sat on] [cat sat on the] [sat on the mat];
     * "w1 w2" and "w3 w4" are separate texts, so "w1 w2 w3 w4" is not one */
    const char ref[] = "the cat sat on the mat\nw1 w2\nw3 w4\n";
    char *p = test_write_file(dir, "train.txt", ref, sizeof ref - 1);
    duet_ngram_set *set = duet_ngram_set_create();
    duet_err err;
    ck_assert_int_eq(duet_ngram_set_add_file(set, p, "auto", NULL, &err), 0);
    ck_assert_uint_eq(duet_ngram_set_size(set), 3);
    /* generated: [the cat sat on] yes, [cat sat on a] no, [sat on a mat] no;
     * [w1 w2 w3 w4] no; "short" has none -> Mem = 1/4 */
    const char *g[] = {"the cat sat on a mat", "w1 w2 w3 w4", "short"};
    duet_texts t;
    texts_of(&t, g, 3);
    ck_assert_double_eq(duet_mem(set, &t), 0.25);
    duet_texts_free(&t);
    /* case is kept: "The cat sat on" is not "the cat sat on" */
    const char *cs[] = {"The cat sat on"};
    texts_of(&t, cs, 1);
    ck_assert_double_eq(duet_mem(set, &t), 0.0);
    duet_texts_free(&t);
    const char *none[] = {"a b c"};
    texts_of(&t, none, 1);
    ck_assert(isnan(duet_mem(set, &t)));
    duet_texts_free(&t);
    duet_ngram_set_free(set);

    /* §7 item 17: a corpus against itself (streamed from JSONL) -> 1, with
     * enough 4-grams to make the set grow several times */
    duet_texts corpus;
    duet_texts_init(&corpus);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    duet_rng rng = duet_rng_keyed(5, 0, 0, DUET_STREAM_USER);
    char line[400];
    for (int i = 0; i < 300; i++) {
        size_t n = 0;
        for (int w = 0; w < 30; w++)
            n += (size_t)sprintf(line + n, "%sw%u", w ? " " : "", duet_rng_below(&rng, 50));
        duet_texts_push(&corpus, line, n);
        fprintf(f, "{\"text\": \"%s\"}\n", line);
    }
    ck_assert_int_eq(fclose(f), 0);
    set = duet_ngram_set_create();
    ck_assert_int_eq(duet_ngram_set_add_file(set, p, "jsonl", "text", &err), 0);
    ck_assert_uint_gt(duet_ngram_set_size(set), 4096);
    ck_assert_double_eq(duet_mem(set, &corpus), 1.0);
    duet_ngram_set_free(set);
    duet_texts_free(&corpus);

    /* a bad reference file is an error naming file:line */
    const char bad[] = "{\"text\": \"a b c d\"}\nnot json\n";
    char *q = test_write_file(dir, "bad.jsonl", bad, sizeof bad - 1);
    set = duet_ngram_set_create();
    ck_assert_int_eq(duet_ngram_set_add_file(set, q, "auto", NULL, &err), -1);
    snprintf(line, sizeof line, "%s:2", q);
    ck_assert_msg(strstr(err.msg, line) != NULL, "%s", err.msg);
    duet_ngram_set_free(set);
    free(p);
    free(q);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(self_bleu_hand_computed)
{
    /* A = "a b c d", B = "a b c e", C = "A A b" (= a a b lowercased).
     * A against {B, C}: 1-grams a(max ref 2) b c d -> m 3 of 4, p1 = 4/5;
     *   2-grams ab bc cd -> ab, bc match: p2 = 3/4; 3-grams abc bcd -> abc:
     *   p3 = 2/3; 4-gram abcd -> none: p4 = 1/2; r = 4 (closest) = c: BP 1.
     *   BLEU_A = (4/5 * 3/4 * 2/3 * 1/2)^(1/4) = 0.2^(1/4); B likewise.
     * C against {A, B}: 1-grams a a b: a clipped at 1, b 1 -> m 2 of 3,
     *   p1 = 3/4; 2-grams aa ab -> ab: p2 = 2/3; 3-gram aab: p3 = 1/2;
     *   no 4-gram: p4 = (0+1)/(0+1) = 1; c = 3 < r = 4: BP = exp(1 - 4/3).
     *   BLEU_C = exp(-1/3) * (1/4)^(1/4). */
    const char *s[] = {"a b c d", "a b c e", "A A b"};
    duet_texts t;
    texts_of(&t, s, 3);
    double want = (2 * pow(0.2, 0.25) + exp(-1.0 / 3) * pow(0.25, 0.25)) / 3;
    ck_assert_double_eq_tol(duet_self_bleu(&t), want, 1e-12);
    duet_texts_free(&t);

    /* identical texts are fully "self-similar" */
    const char *same[] = {"one two three four five", "one two three four five"};
    texts_of(&t, same, 2);
    ck_assert_double_eq_tol(duet_self_bleu(&t), 1.0, 1e-15);
    duet_texts_free(&t);
    const char *single[] = {"alone"};
    texts_of(&t, single, 1);
    ck_assert(isnan(duet_self_bleu(&t)));
    duet_texts_free(&t);
}
END_TEST

/* Brute force of the self-BLEU definition in the header, on token strings:
 * every n-gram of text i clipped by its max count over the other texts. */
static size_t count_ngram(char **tok, size_t len, char **g, int n)
{
    size_t c = 0;
    for (size_t j = 0; j + (size_t)n <= len; j++) {
        int eq = 1;
        for (int q = 0; q < n && eq; q++)
            eq = strcmp(tok[j + (size_t)q], g[q]) == 0;
        c += (size_t)eq;
    }
    return c;
}

static double brute_self_bleu(char ***tok, const size_t *len, size_t nt)
{
    double sum = 0;
    for (size_t i = 0; i < nt; i++) {
        if (len[i] == 0)
            continue; /* BLEU 0 */
        double logp = 0;
        for (int n = 1; n <= 4; n++) {
            size_t m = 0, c = 0;
            for (size_t j = 0; j + (size_t)n <= len[i]; j++) {
                char **g = tok[i] + j;
                /* count each distinct n-gram once: at its first occurrence */
                size_t first = j;
                for (size_t jj = 0; jj < j && first == j; jj++)
                    if (count_ngram(tok[i] + jj, (size_t)n, g, n))
                        first = jj;
                c++;
                if (first != j)
                    continue;
                size_t own = count_ngram(tok[i], len[i], g, n), best = 0;
                for (size_t o = 0; o < nt; o++)
                    if (o != i)
                        best = DUET_MAX(best, count_ngram(tok[o], len[o], g, n));
                m += DUET_MIN(own, best);
            }
            logp += log((double)(m + 1) / (double)(c + 1));
        }
        size_t r = SIZE_MAX, dr = SIZE_MAX;
        for (size_t o = 0; o < nt; o++) {
            if (o == i)
                continue;
            size_t d = len[o] > len[i] ? len[o] - len[i] : len[i] - len[o];
            if (d < dr || (d == dr && len[o] < r)) {
                dr = d;
                r = len[o];
            }
        }
        double bp = len[i] > r ? 1.0 : exp(1.0 - (double)r / (double)len[i]);
        sum += bp * exp(logp / 4);
    }
    return sum / (double)nt;
}

START_TEST(self_bleu_matches_brute_force)
{
    /* 40 random texts over a 4-word vocabulary (many repeated n-grams and
     * ties between texts), lengths 0..9. Tolerance: summation order only. */
    static const char *const words[] = {"a", "b", "c", "D"};
    const size_t nt = 40;
    duet_texts t;
    duet_texts_init(&t);
    char ***tok = duet_malloc(nt * sizeof *tok);
    size_t *len = duet_malloc(nt * sizeof *len);
    duet_rng rng = duet_rng_keyed(9, 0, 0, DUET_STREAM_USER);
    for (size_t i = 0; i < nt; i++) {
        len[i] = duet_rng_below(&rng, 10);
        tok[i] = duet_malloc((len[i] + 1) * sizeof **tok);
        char buf[64];
        size_t n = 0;
        for (size_t j = 0; j < len[i]; j++) {
            const char *w = words[duet_rng_below(&rng, 4)];
            n += (size_t)sprintf(buf + n, "%s%s", j ? " " : "", w);
            tok[i][j] = strcmp(w, "D") == 0 ? "d" : (char *)w; /* lowercased */
        }
        duet_texts_push(&t, buf, n);
    }
    ck_assert_double_eq_tol(duet_self_bleu(&t), brute_self_bleu(tok, len, nt), 1e-12);
    for (size_t i = 0; i < nt; i++)
        free(tok[i]);
    free(tok);
    free(len);
    duet_texts_free(&t);
}
END_TEST

Suite *suite_eval_ngram(void)
{
    Suite *s = suite_create("eval_ngram");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, div_hand_computed);
    tcase_add_test(tc, mem_hand_computed);
    tcase_add_test(tc, self_bleu_hand_computed);
    tcase_add_test(tc, self_bleu_matches_brute_force);
    suite_add_tcase(s, tc);
    return s;
}
