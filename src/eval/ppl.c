/* Generative perplexity aggregation (SPEC §6.2). */
#include <math.h>
#include <stdlib.h>

#include "duet/eval.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int duet_ppl_compute(const double *nll_sum, const size_t *n_tok, size_t n, duet_ppl *out,
                     duet_err *err)
{
    size_t used = 0, tokens = 0;
    double nll_total = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(nll_sum[i]) || nll_sum[i] < 0)
            return duet_errf(err, "perplexity: text %zu has NLL sum %g (must be finite and >= 0)",
                             i, nll_sum[i]);
        if (n_tok[i] == 0)
            continue;
        used++;
        tokens += n_tok[i];
        nll_total += nll_sum[i];
    }
    if (used == 0)
        return duet_errf(err, "perplexity: all %zu texts are empty", n);

    double *ppl = duet_malloc(used * sizeof *ppl);
    for (size_t i = 0, j = 0; i < n; i++)
        if (n_tok[i] > 0)
            ppl[j++] = exp(nll_sum[i] / (double)n_tok[i]);
    qsort(ppl, used, sizeof *ppl, cmp_double);
    /* Keep [floor(0.05 n), floor(0.95 n)) in exact integer arithmetic; the
     * range is empty only for n = 1, which reports PPL_1. */
    size_t lo = used / 20, hi = 19 * used / 20;
    if (hi <= lo) {
        lo = 0;
        hi = 1;
    }
    /* Mean as offset from the first kept value: exact for equal values. */
    double base = ppl[lo], dev = 0.0;
    for (size_t i = lo; i < hi; i++)
        dev += ppl[i] - base;
    /* exp overflows only for absurd NLLs; keep inf rather than inf - inf. */
    out->ppl_trim = isinf(ppl[hi - 1]) ? INFINITY : base + dev / (double)(hi - lo);
    out->ppl_corpus = exp(nll_total / (double)tokens);
    out->n_used = used;
    out->n_empty = n - used;
    free(ppl);
    return 0;
}
