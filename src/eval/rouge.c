/* ROUGE-1/2/L F1 (SPEC §6.5): rouge-score tokens (lowercased [a-z0-9]
 * runs), no stemming, whole-text LCS for ROUGE-L. */
#include <stdlib.h>

#include "eval_internal.h"

static double f1(double p, double r)
{
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

/* LCS length with one row of the DP table (row[j] = LCS of a[0..i), b[0..j)). */
static size_t lcs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, size_t *row)
{
    for (size_t j = 0; j <= nb; j++)
        row[j] = 0;
    for (size_t i = 0; i < na; i++) {
        size_t diag = 0; /* row[j-1] of the previous i */
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            row[j] = a[i] == b[j - 1] ? diag + 1 : (up > row[j - 1] ? up : row[j - 1]);
            diag = up;
        }
    }
    return row[nb];
}

int duet_rouge_compute(const duet_texts *cand, const duet_texts *ref, duet_rouge *out,
                       duet_err *err)
{
    const char *cs = cand->source ? cand->source : "candidates";
    const char *rs = ref->source ? ref->source : "references";
    if (cand->n != ref->n)
        return duet_errf(err, "ROUGE: %zu candidates (%s) but %zu references (%s)", cand->n, cs,
                         ref->n, rs);
    if (cand->n == 0)
        return duet_errf(err, "ROUGE: no examples");
    ev_ngrams ids;
    ev_ngrams_init(&ids, EV_TOK_ROUGE, 1);
    ev_corpus kc, kr;
    ev_corpus_build(&ids, cand, &kc);
    ev_corpus_build(&ids, ref, &kr);
    ev_counter counter = {0};
    ev_counter_reserve(&counter, DUET_MAX(ev_ngrams_distinct(&ids, 1), ev_ngrams_distinct(&ids, 2)));
    size_t row_cap = 0;
    size_t *row = NULL;
    double sum[3] = {0, 0, 0};
    for (size_t i = 0; i < kc.n; i++) {
        size_t lc = ev_corpus_len(&kc, i), lr = ev_corpus_len(&kr, i);
        for (int n = 1; n <= 2; n++) {
            size_t cn = ev_ngrams_in(lc, n), rn = ev_ngrams_in(lr, n);
            ev_counter_add(&counter, ev_corpus_grams(&kr, i, n), rn);
            size_t overlap = ev_counter_take(&counter, ev_corpus_grams(&kc, i, n), cn);
            ev_counter_clear(&counter);
            sum[n - 1] += f1((double)overlap / (double)DUET_MAX(cn, 1),
                             (double)overlap / (double)DUET_MAX(rn, 1));
        }
        if (lc > 0 && lr > 0) {
            if (lr + 1 > row_cap) {
                row_cap = 2 * (lr + 1);
                row = duet_realloc(row, row_cap * sizeof *row);
            }
            size_t l = lcs(ev_corpus_grams(&kc, i, 1), lc, ev_corpus_grams(&kr, i, 1), lr, row);
            sum[2] += f1((double)l / (double)lc, (double)l / (double)lr);
        }
    }
    out->n = kc.n;
    out->rouge1 = sum[0] / (double)kc.n;
    out->rouge2 = sum[1] / (double)kc.n;
    out->rougeL = sum[2] / (double)kc.n;
    free(row);
    ev_counter_free(&counter);
    ev_corpus_free(&kc);
    ev_corpus_free(&kr);
    ev_ngrams_free(&ids);
    return 0;
}
