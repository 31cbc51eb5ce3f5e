/* Div and distinct-n over pooled texts (SPEC §6.4). */
#include <math.h>

#include "eval_internal.h"

void duet_diversity_compute(const duet_texts *t, duet_diversity *out)
{
    /* One id space for just these texts: its distinct n-gram count is the
     * number of unique n-grams of the pooled texts. */
    ev_ngrams ids;
    ev_ngrams_init(&ids, EV_TOK_WORDS, 0);
    ev_corpus k;
    ev_corpus_build(&ids, t, &k);
    out->div = 1.0;
    for (int n = 1; n <= EV_MAX_N; n++) {
        size_t total = 0;
        for (size_t i = 0; i < k.n; i++)
            total += ev_ngrams_in(ev_corpus_len(&k, i), n);
        out->unique[n - 1] = ev_ngrams_distinct(&ids, n);
        out->total[n - 1] = total;
        out->distinct[n - 1] = total ? (double)out->unique[n - 1] / (double)total : NAN;
        if (n >= 2)
            out->div *= out->distinct[n - 1];
    }
    ev_corpus_free(&k);
    ev_ngrams_free(&ids);
}
