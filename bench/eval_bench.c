/* Evaluation-metric timings on synthetic data (one JSON line per metric).
 *
 *   eval_bench [n_texts [words_per_text [n_features [dim]]]]
 *
 * Defaults: 1,000 generated and 1,000 reference texts of ~100 words
 * (Zipf-distributed pseudo-words over a 10,000-word vocabulary, sentences
 * with punctuation and clitics), a 20,000-text Mem reference corpus streamed
 * from a temporary file, 100 MBR choices among 10 candidates, and MAUVE on
 * 2 x 1,000 Gaussian features of dimension 256 (threads: OMP_NUM_THREADS).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "duet/eval.h"
#include "duet/rng.h"

#define VOCAB 10000

typedef struct gen {
    double cdf[VOCAB];
    char words[VOCAB][12];
} gen;

static void gen_init(gen *g)
{
    double s = 0;
    for (int r = 0; r < VOCAB; r++)
        g->cdf[r] = (s += 1.0 / pow(r + 1.0, 1.1));
    for (int r = 0; r < VOCAB; r++) {
        g->cdf[r] /= s;
        duet_rng w = duet_rng_keyed(99, 0, (uint32_t)r, DUET_STREAM_USER);
        int len = 2 + (int)duet_rng_below(&w, 8);
        for (int j = 0; j < len; j++)
            g->words[r][j] = (char)('a' + duet_rng_below(&w, 26));
        g->words[r][len] = '\0';
    }
}

static const char *zipf_word(const gen *g, duet_rng *r)
{
    double u = duet_rng_uniform64(r);
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (g->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return g->words[lo];
}

/* ~words words: sentences of 5-24 words, capitalised, with commas, a few
 * clitics, ending in '.', '?' or '!'. */
static size_t make_text(const gen *g, duet_rng *r, int words, char *buf)
{
    static const char *const clitic[] = {"'s", "n't", "'re", "'ll"};
    size_t n = 0;
    int left = 0, first = 1;
    for (int i = 0; i < words; i++) {
        if (left == 0) {
            left = 5 + (int)duet_rng_below(r, 20);
            first = 1;
        }
        const char *w = zipf_word(g, r);
        if (i)
            buf[n++] = ' ';
        size_t start = n;
        n += (size_t)sprintf(buf + n, "%s", w);
        if (first && buf[start] >= 'a')
            buf[start] = (char)(buf[start] - 32);
        first = 0;
        uint32_t x = duet_rng_below(r, 100);
        if (--left == 0)
            buf[n++] = ".?!"[x % 3];
        else if (x < 6)
            buf[n++] = ',';
        else if (x < 9)
            n += (size_t)sprintf(buf + n, "%s", clitic[x % 4]);
    }
    buf[n] = '\0';
    return n;
}

static void make_texts(const gen *g, duet_texts *t, size_t n, int words, uint32_t key)
{
    char *buf = malloc((size_t)words * 20 + 64);
    duet_texts_init(t);
    for (size_t i = 0; i < n; i++) {
        duet_rng r = duet_rng_keyed(7, key, (uint32_t)i, DUET_STREAM_USER);
        size_t len = make_text(g, &r, words, buf);
        duet_texts_push(t, buf, len);
    }
    free(buf);
}

static void line(const char *metric, double seconds, double value, const char *extra)
{
    printf("{\"bench\": \"eval\", \"metric\": \"%s\", \"seconds\": %.6f, \"value\": %.6g%s%s}\n",
           metric, seconds, value, extra ? ", " : "", extra ? extra : "");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000;
    int words = argc > 2 ? atoi(argv[2]) : 100;
    size_t nf = argc > 3 ? (size_t)atol(argv[3]) : 1000;
    size_t dim = argc > 4 ? (size_t)atol(argv[4]) : 256;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    char extra[256];
    gen *g = malloc(sizeof *g);
    gen_init(g);
    duet_texts cand, ref;
    make_texts(g, &cand, n, words, 1);
    make_texts(g, &ref, n, words, 2);
    duet_err err;

    snprintf(extra, sizeof extra, "\"n_texts\": %zu, \"words\": %d", n, words);
    double t0 = duet_now();
    duet_diversity d;
    duet_diversity_compute(&cand, &d);
    double t_div = duet_now() - t0;
    snprintf(extra, sizeof extra, "\"n_texts\": %zu, \"words\": %d, \"tokens_per_text\": %.1f", n,
             words, (double)d.total[0] / (double)n);
    line("div", t_div, d.div, extra);
    snprintf(extra, sizeof extra, "\"n_texts\": %zu, \"words\": %d", n, words);

    t0 = duet_now();
    double sb = duet_self_bleu(&cand);
    line("self_bleu", duet_now() - t0, sb, extra);

    t0 = duet_now();
    duet_rouge ro;
    if (duet_rouge_compute(&cand, &ref, &ro, &err) != 0)
        return fprintf(stderr, "%s\n", err.msg), 1;
    line("rouge", duet_now() - t0, ro.rougeL, extra);

    t0 = duet_now();
    duet_bleu bl;
    const duet_texts *refs[] = {&ref};
    if (duet_corpus_bleu(&cand, refs, 1, &bl, &err) != 0)
        return fprintf(stderr, "%s\n", err.msg), 1;
    line("corpus_bleu", duet_now() - t0, bl.bleu, extra);

    /* Mem: reference corpus written to a file, then streamed into the set */
    size_t n_corpus = 20 * n;
    char path[] = "/tmp/duet-eval-bench-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        return fprintf(stderr, "eval_bench: cannot create %s\n", path), 1;
    char *buf = malloc((size_t)words * 20 + 64);
    size_t bytes = 0;
    for (size_t i = 0; i < n_corpus; i++) {
        duet_rng r = duet_rng_keyed(7, 3, (uint32_t)i, DUET_STREAM_USER);
        size_t len = make_text(g, &r, words, buf);
        bytes += len + 1;
        if (fprintf(f, "%s\n", buf) < 0)
            return fprintf(stderr, "eval_bench: write error on %s\n", path), 1;
    }
    free(buf);
    if (fclose(f) != 0)
        return fprintf(stderr, "eval_bench: write error on %s\n", path), 1;
    t0 = duet_now();
    duet_ngram_set *set = duet_ngram_set_create();
    int rc = duet_ngram_set_add_file(set, path, "lines", NULL, &err);
    double t_build = duet_now() - t0;
    unlink(path);
    if (rc != 0)
        return fprintf(stderr, "%s\n", err.msg), 1;
    snprintf(extra, sizeof extra, "\"corpus_texts\": %zu, \"corpus_mb\": %.1f, \"set_size\": %zu",
             n_corpus, bytes / 1e6, duet_ngram_set_size(set));
    line("mem_build", t_build, bytes / 1e6 / t_build, extra);
    t0 = duet_now();
    double mem = duet_mem(set, &cand);
    snprintf(extra, sizeof extra, "\"n_texts\": %zu, \"words\": %d", n, words);
    line("mem", duet_now() - t0, mem, extra);
    duet_ngram_set_free(set);

    /* MBR: 100 choices among 10 candidates (the references, in groups) */
    const size_t k = 10, reps = DUET_MIN(100, n / k);
    t0 = duet_now();
    size_t picked = 0;
    for (size_t rep = 0; rep < reps; rep++) {
        const char *c[10];
        size_t lens[10];
        for (size_t j = 0; j < k; j++)
            c[j] = duet_texts_get(&ref, rep * k + j, &lens[j]);
        picked += duet_mbr_select(c, lens, k);
    }
    snprintf(extra, sizeof extra, "\"choices\": %zu, \"candidates\": %zu", reps, k);
    line("mbr", duet_now() - t0, (double)picked / (double)DUET_MAX(reps, 1), extra);

    /* perplexity aggregation of n per-text NLL sums */
    double *nll = malloc(n * sizeof *nll);
    size_t *ntok = malloc(n * sizeof *ntok);
    duet_rng r = duet_rng_keyed(7, 4, 0, DUET_STREAM_USER);
    for (size_t i = 0; i < n; i++) {
        ntok[i] = 100 + duet_rng_below(&r, 50);
        nll[i] = ntok[i] * (3.0 + duet_rng_uniform(&r));
    }
    t0 = duet_now();
    duet_ppl ppl;
    if (duet_ppl_compute(nll, ntok, n, &ppl, &err) != 0)
        return fprintf(stderr, "%s\n", err.msg), 1;
    snprintf(extra, sizeof extra, "\"n_texts\": %zu", n);
    line("ppl", duet_now() - t0, ppl.ppl_trim, extra);
    free(nll);
    free(ntok);

    /* MAUVE on two Gaussian clouds with slightly different means */
    float *P = malloc(nf * dim * sizeof *P), *Q = malloc(nf * dim * sizeof *Q);
    r = duet_rng_keyed(7, 5, 0, DUET_STREAM_USER);
    for (size_t i = 0; i < nf * dim; i++) {
        P[i] = duet_rng_normal(&r);
        Q[i] = duet_rng_normal(&r) + 0.05f;
    }
    duet_mauve_opts o = duet_mauve_default_opts(1);
    duet_mauve m;
    t0 = duet_now();
    if (duet_mauve_compute(P, nf, Q, nf, dim, &o, &m, &err) != 0)
        return fprintf(stderr, "%s\n", err.msg), 1;
    snprintf(extra, sizeof extra,
             "\"n_p\": %zu, \"n_q\": %zu, \"dim\": %zu, \"k\": %zu, \"components\": %zu, "
             "\"iters\": %d, \"threads\": %d",
             nf, nf, dim, m.k, m.n_comp, m.iters, threads);
    line("mauve", duet_now() - t0, m.mauve, extra);
    free(P);
    free(Q);

    duet_texts_free(&cand);
    duet_texts_free(&ref);
    free(g);
    return 0;
}
