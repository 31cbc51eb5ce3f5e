/* BLEU-4 (SPEC §6.5): corpus BLEU, smoothed sentence BLEU, the MBR choice
 * of §4.4 and self-BLEU. All share the n-gram statistics and the score. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"

typedef struct bleu_stats {
    size_t m[EV_MAX_N]; /* clipped matches */
    size_t c[EV_MAX_N]; /* candidate n-grams */
    size_t c_len, r_len;
} bleu_stats;

/* smooth = 0: corpus BLEU (0 when some p_n = 0); smooth = 1: p_n = (m+1)/(c+1). */
static double bleu_score(const bleu_stats *s, int smooth, double *bp_out, double prec[EV_MAX_N])
{
    double bp = s->c_len == 0 ? 0.0
              : s->c_len > s->r_len ? 1.0
              : exp(1.0 - (double)s->r_len / (double)s->c_len);
    double log_sum = 0.0;
    int zero = s->c_len == 0;
    for (int n = 0; n < EV_MAX_N; n++) {
        double p = smooth ? (double)(s->m[n] + 1) / (double)(s->c[n] + 1)
                 : s->c[n] ? (double)s->m[n] / (double)s->c[n] : 0.0;
        if (prec)
            prec[n] = p;
        if (p == 0.0)
            zero = 1;
        else
            log_sum += log(p);
    }
    if (bp_out)
        *bp_out = bp;
    return zero ? 0.0 : bp * exp(0.25 * log_sum);
}

/* The reference length closest to c (ties -> shorter). */
static size_t closest(size_t c, size_t best, size_t r)
{
    size_t db = best > c ? best - c : c - best, dr = r > c ? r - c : c - r;
    return (dr < db || (dr == db && r < best)) ? r : best;
}

/* Adds the statistics of hypothesis text hi of kh against references ri[s]
 * of kr[s], s < nr (nr >= 1). cc, rc: counters sized for every order;
 * clip: scratch with room for the hypothesis' distinct n-grams. */
static void pair_stats(const ev_corpus *kh, size_t hi, const ev_corpus *const *kr,
                       const size_t *ri, size_t nr, ev_counter *cc, ev_counter *rc,
                       uint32_t **clip, size_t *clip_cap, bleu_stats *st)
{
    size_t lh = ev_corpus_len(kh, hi);
    size_t r_len = ev_corpus_len(kr[0], ri[0]);
    for (size_t s = 1; s < nr; s++)
        r_len = closest(lh, r_len, ev_corpus_len(kr[s], ri[s]));
    st->c_len += lh;
    st->r_len += r_len;
    for (int n = 1; n <= EV_MAX_N; n++) {
        size_t cn = ev_ngrams_in(lh, n);
        st->c[n - 1] += cn;
        if (cn == 0)
            continue;
        ev_counter_add(cc, ev_corpus_grams(kh, hi, n), cn);
        if (cc->nu > *clip_cap) {
            *clip_cap = 2 * cc->nu;
            *clip = duet_realloc(*clip, *clip_cap * sizeof **clip);
        }
        memset(*clip, 0, cc->nu * sizeof **clip);
        for (size_t s = 0; s < nr; s++) {
            size_t rl = ev_corpus_len(kr[s], ri[s]);
            ev_counter_add(rc, ev_corpus_grams(kr[s], ri[s], n), ev_ngrams_in(rl, n));
            for (size_t u = 0; u < cc->nu; u++)
                (*clip)[u] = DUET_MAX((*clip)[u], rc->cnt[cc->uniq[u]]);
            ev_counter_clear(rc);
        }
        for (size_t u = 0; u < cc->nu; u++)
            st->m[n - 1] += DUET_MIN(cc->cnt[cc->uniq[u]], (*clip)[u]);
        ev_counter_clear(cc);
    }
}

static size_t max_distinct(const ev_ngrams *ids)
{
    size_t m = 0;
    for (int n = 1; n <= EV_MAX_N; n++)
        m = DUET_MAX(m, ev_ngrams_distinct(ids, n));
    return m;
}

/* -------------------------------------------------------------- corpus */

int duet_corpus_bleu(const duet_texts *cand, const duet_texts *const *refs, size_t n_refs,
                     duet_bleu *out, duet_err *err)
{
    if (n_refs == 0)
        return duet_errf(err, "BLEU: no reference set");
    for (size_t s = 0; s < n_refs; s++)
        if (refs[s]->n != cand->n)
            return duet_errf(err, "BLEU: %zu candidates (%s) but %zu references in set %zu (%s)",
                             cand->n, cand->source ? cand->source : "candidates", refs[s]->n, s,
                             refs[s]->source ? refs[s]->source : "references");
    if (cand->n == 0)
        return duet_errf(err, "BLEU: no examples");

    ev_ngrams ids;
    ev_ngrams_init(&ids, EV_TOK_WORDS, 0);
    ev_corpus kc;
    ev_corpus_build(&ids, cand, &kc);
    ev_corpus *kr = duet_malloc(n_refs * sizeof *kr);
    const ev_corpus **krp = duet_malloc(n_refs * sizeof *krp);
    for (size_t s = 0; s < n_refs; s++) {
        ev_corpus_build(&ids, refs[s], &kr[s]);
        krp[s] = &kr[s];
    }
    ev_counter cc = {0}, rc = {0};
    ev_counter_reserve(&cc, max_distinct(&ids));
    ev_counter_reserve(&rc, max_distinct(&ids));
    uint32_t *clip = NULL;
    size_t clip_cap = 0;
    size_t *ri = duet_malloc(n_refs * sizeof *ri);
    bleu_stats st = {{0}, {0}, 0, 0};
    for (size_t i = 0; i < kc.n; i++) {
        for (size_t s = 0; s < n_refs; s++)
            ri[s] = i;
        pair_stats(&kc, i, krp, ri, n_refs, &cc, &rc, &clip, &clip_cap, &st);
    }
    out->bleu = bleu_score(&st, 0, &out->bp, out->prec);
    memcpy(out->matches, st.m, sizeof st.m);
    memcpy(out->totals, st.c, sizeof st.c);
    out->c_len = st.c_len;
    out->r_len = st.r_len;

    free(ri);
    free(clip);
    ev_counter_free(&cc);
    ev_counter_free(&rc);
    for (size_t s = 0; s < n_refs; s++)
        ev_corpus_free(&kr[s]);
    free(kr);
    free(krp);
    ev_corpus_free(&kc);
    ev_ngrams_free(&ids);
    return 0;
}

/* ---------------------------------------------------- sentence and MBR */

/* Smoothed sentence-BLEU of every ordered pair (hypothesis x, reference y)
 * of k texts: score[x * k + y]. */
static void pairwise_sentence_bleu(const duet_texts *t, double *score)
{
    ev_ngrams ids;
    ev_ngrams_init(&ids, EV_TOK_WORDS, 1);
    ev_corpus kt;
    ev_corpus_build(&ids, t, &kt);
    ev_counter cc = {0}, rc = {0};
    ev_counter_reserve(&cc, max_distinct(&ids));
    ev_counter_reserve(&rc, max_distinct(&ids));
    uint32_t *clip = NULL;
    size_t clip_cap = 0;
    const ev_corpus *kp = &kt;
    for (size_t x = 0; x < t->n; x++) {
        for (size_t y = 0; y < t->n; y++) {
            bleu_stats st = {{0}, {0}, 0, 0};
            pair_stats(&kt, x, &kp, &y, 1, &cc, &rc, &clip, &clip_cap, &st);
            score[x * t->n + y] = bleu_score(&st, 1, NULL, NULL);
        }
    }
    free(clip);
    ev_counter_free(&cc);
    ev_counter_free(&rc);
    ev_corpus_free(&kt);
    ev_ngrams_free(&ids);
}

double duet_sentence_bleu(const char *hyp, size_t hyp_len, const char *ref, size_t ref_len)
{
    duet_texts t;
    duet_texts_init(&t);
    duet_texts_push(&t, hyp, hyp_len);
    duet_texts_push(&t, ref, ref_len);
    double score[4];
    pairwise_sentence_bleu(&t, score);
    duet_texts_free(&t);
    return score[0 * 2 + 1];
}

size_t duet_mbr_select(const char *const *cand, const size_t *lens, size_t k)
{
    if (k <= 1)
        return 0;
    duet_texts t;
    duet_texts_init(&t);
    for (size_t i = 0; i < k; i++)
        duet_texts_push(&t, cand[i], lens[i]);
    double *score = duet_malloc(k * k * sizeof *score);
    pairwise_sentence_bleu(&t, score);
    size_t best = 0;
    double best_mean = -1.0;
    for (size_t y = 0; y < k; y++) {
        double sum = 0.0;
        for (size_t x = 0; x < k; x++)
            if (x != y)
                sum += score[x * k + y];
        double mean = sum / (double)(k - 1);
        if (mean >= best_mean) { /* ties -> the later candidate */
            best_mean = mean;
            best = y;
        }
    }
    free(score);
    duet_texts_free(&t);
    return best;
}

/* ------------------------------------------------------------ self-BLEU */

/* Per n-gram id of one order: the largest count in any text (best1, first
 * such text = owner) and the largest count in any other text (best2). The
 * clip count of text i against all others is best2 if i owns the n-gram,
 * else best1. */
typedef struct top2 {
    uint32_t *best1, *best2;
    size_t *owner;
} top2;

/* Length of the other text closest to len (ties -> shorter); sorted holds
 * all n >= 2 lengths ascending, len among them. */
static size_t closest_other(const size_t *sorted, size_t n, size_t len)
{
    size_t lo = 0, hi = n; /* first index with sorted[] >= len */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < len)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t first = lo, after = lo;
    while (after < n && sorted[after] == len)
        after++;
    if (after - first >= 2)
        return len;
    size_t best = first > 0 ? sorted[first - 1] : sorted[after];
    if (after < n)
        best = closest(len, best, sorted[after]);
    return best;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

double duet_self_bleu(const duet_texts *t)
{
    if (t->n < 2)
        return NAN;
    ev_ngrams ids;
    ev_ngrams_init(&ids, EV_TOK_WORDS, 1);
    ev_corpus k;
    ev_corpus_build(&ids, t, &k);
    ev_counter cc = {0};
    ev_counter_reserve(&cc, max_distinct(&ids));

    top2 tp[EV_MAX_N];
    for (int n = 1; n <= EV_MAX_N; n++) {
        size_t d = ev_ngrams_distinct(&ids, n);
        tp[n - 1].best1 = duet_calloc(d, sizeof(uint32_t));
        tp[n - 1].best2 = duet_calloc(d, sizeof(uint32_t));
        tp[n - 1].owner = duet_calloc(d, sizeof(size_t));
        for (size_t i = 0; i < k.n; i++) {
            ev_counter_add(&cc, ev_corpus_grams(&k, i, n), ev_ngrams_in(ev_corpus_len(&k, i), n));
            for (size_t u = 0; u < cc.nu; u++) {
                uint32_t g = cc.uniq[u], c = cc.cnt[g];
                if (c > tp[n - 1].best1[g]) {
                    tp[n - 1].best2[g] = tp[n - 1].best1[g];
                    tp[n - 1].best1[g] = c;
                    tp[n - 1].owner[g] = i;
                } else if (c > tp[n - 1].best2[g]) {
                    tp[n - 1].best2[g] = c;
                }
            }
            ev_counter_clear(&cc);
        }
    }

    size_t *sorted = duet_malloc(k.n * sizeof *sorted);
    for (size_t i = 0; i < k.n; i++)
        sorted[i] = ev_corpus_len(&k, i);
    qsort(sorted, k.n, sizeof *sorted, cmp_size);

    double sum = 0.0;
    for (size_t i = 0; i < k.n; i++) {
        size_t len = ev_corpus_len(&k, i);
        bleu_stats st = {{0}, {0}, len, closest_other(sorted, k.n, len)};
        for (int n = 1; n <= EV_MAX_N; n++) {
            size_t cn = ev_ngrams_in(len, n);
            st.c[n - 1] = cn;
            ev_counter_add(&cc, ev_corpus_grams(&k, i, n), cn);
            for (size_t u = 0; u < cc.nu; u++) {
                uint32_t g = cc.uniq[u];
                uint32_t ref = tp[n - 1].owner[g] == i ? tp[n - 1].best2[g] : tp[n - 1].best1[g];
                st.m[n - 1] += DUET_MIN(cc.cnt[g], ref);
            }
            ev_counter_clear(&cc);
        }
        sum += bleu_score(&st, 1, NULL, NULL);
    }

    free(sorted);
    for (int n = 0; n < EV_MAX_N; n++) {
        free(tp[n].best1);
        free(tp[n].best2);
        free(tp[n].owner);
    }
    ev_counter_free(&cc);
    ev_corpus_free(&k);
    ev_ngrams_free(&ids);
    return sum / (double)t->n;
}
