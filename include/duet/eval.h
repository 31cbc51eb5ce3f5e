/* duet/eval.h — model-independent evaluation metrics (SPEC §6.2–§6.5).
 *
 * Owns: reading sample/reference texts (plain lines or JSONL), the two word
 * tokenizations of §6.4 and §6.5, the n-gram metrics (Div, distinct-n, Mem,
 * self-BLEU), ROUGE-1/2/L, corpus and sentence BLEU (and the MBR choice of
 * §4.4 built on it), the perplexity aggregation of §6.2 from per-text NLL
 * sums, MAUVE (§6.3) from two feature matrices (PCA, k-means, divergence
 * frontier), and a results report written as one JSON object or a table.
 * The judge model that produces NLLs and features lives elsewhere.
 *
 * Conventions: a metric that is undefined on the given texts (e.g. Div when
 * no text has 4 tokens) is NaN, written as null in JSON; bad input (files,
 * mismatched counts, non-finite numbers) returns -1 with a duet_err message
 * naming the file / line / value.
 */
#ifndef DUET_EVAL_H
#define DUET_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "duet/util.h"

/* ------------------------------------------------------------------ texts */

/* A list of texts in one arena. Text i is buf[off[i] .. off[i+1]-1), the
 * last byte being a NUL that is not part of the text (texts may contain NUL
 * bytes; use the length). source names where the texts came from (the first
 * file read; NULL for texts pushed by the program) for error messages. */
typedef struct duet_texts {
    size_t n;
    char *buf;
    size_t *off; /* n + 1 entries */
    size_t buf_cap, off_cap;
    char *source; /* malloc'ed, or NULL */
} duet_texts;

/* Empty list (equivalent to zero-initialising the struct). */
void duet_texts_init(duet_texts *t);
void duet_texts_free(duet_texts *t);
/* Appends a copy of s[0..n). */
void duet_texts_push(duet_texts *t, const char *s, size_t n);
/* Text i (NUL-terminated) and its length. */
const char *duet_texts_get(const duet_texts *t, size_t i, size_t *len);

/* Appends the texts of a file (gzip-compressed files are read transparently).
 * format: "lines" (one text per line, a trailing '\r' removed, empty lines
 * are empty texts), "jsonl" (one JSON object per line, the string member
 * `field`, NULL or "" meaning "text"; blank lines skipped), or "auto" / NULL
 * (jsonl when the name ends in .jsonl or .jsonl.gz, else lines). A file
 * with no texts, a malformed JSON line or a missing field is an error
 * naming path:line, and then nothing is appended. */
int duet_texts_read(duet_texts *t, const char *path, const char *format, const char *field,
                    duet_err *err);

/* Calls fn(text, len, ctx) for every text of a file without keeping them
 * (same formats and errors as duet_texts_read, except that an empty file is
 * allowed; on an error fn has seen the texts before the bad line). Used to
 * stream large corpora. */
int duet_texts_stream(const char *path, const char *format, const char *field,
                      void (*fn)(const char *text, size_t len, void *ctx), void *ctx,
                      duet_err *err);

/* ------------------------------------------------------------ tokenization */

typedef struct duet_span {
    size_t off, len; /* a token is text[off .. off+len) */
} duet_span;

typedef struct duet_spans {
    duet_span *v;
    size_t n, cap;
} duet_spans;

void duet_spans_free(duet_spans *s);

/* §6.4 word tokens (replaces the contents of out). Split on ASCII
 * whitespace; from each chunk split off leading and then trailing
 * punctuation characters, one token per character (ASCII punctuation and
 * the UTF-8 quotes/dashes/ellipsis U+2013 U+2014 U+2018-U+201F U+2026 U+00AB
 * U+00BB); then split one English clitic ('s 'S n't N'T 're 've 'll 'd 'm
 * in any case, with ' or U+2019) off the end of the remaining word when
 * something precedes it. Case is kept. "(don't)." -> ( do n't ) . */
void duet_tokenize_words(const char *s, size_t n, duet_spans *out);

/* §6.5 ROUGE tokens: maximal runs of ASCII [A-Za-z0-9] (every other byte,
 * including non-ASCII, separates). Callers compare them lowercased. */
void duet_tokenize_rouge(const char *s, size_t n, duet_spans *out);

/* --------------------------------------------------- n-gram statistics */

/* Div and distinct-n over the pooled texts (§6.4; n-grams never cross text
 * boundaries; tokens compared with case kept). */
typedef struct duet_diversity {
    double div;         /* prod_{n=2..4} unique_n / total_n; NaN if a total is 0 */
    double distinct[4]; /* distinct[n-1] = unique_n / total_n, n = 1..4 */
    size_t unique[4], total[4];
} duet_diversity;

void duet_diversity_compute(const duet_texts *t, duet_diversity *out);

/* Self-BLEU: the mean over texts i of duet_sentence_bleu-style BLEU-4 of
 * text i (hypothesis) against all other texts as references. Per text:
 * §6.4 tokens lowercased (ASCII); m_n = sum over the n-grams g of text i of
 * min(count_i(g), max_{j != i} count_j(g)); c_n = number of n-grams of text
 * i; p_n = (m_n + 1) / (c_n + 1) for n = 1..4; r = the length of the other
 * text closest to |text i| (ties -> shorter); BP = 1 if c > r else
 * exp(1 - r/c); BLEU_i = BP exp(mean_n ln p_n), and 0 for an empty text.
 * Higher = less diverse. O(total tokens) time (per n-gram the two largest
 * per-text counts are kept). NaN when fewer than 2 texts. */
double duet_self_bleu(const duet_texts *t);

/* --------------------------------------------------------- memorisation */

/* Set of 64-bit hashes of the §6.4 4-grams (case kept) of a reference
 * corpus. Memory is 16-32 bytes per distinct 4-gram (open addressing, load
 * between 1/4 and 1/2; while the table doubles the old one is also held);
 * the corpus itself is streamed and never held. Two distinct 4-grams share
 * a hash with probability ~2^-64 per pair. */
typedef struct duet_ngram_set duet_ngram_set;

duet_ngram_set *duet_ngram_set_create(void);
void duet_ngram_set_free(duet_ngram_set *s);
void duet_ngram_set_add_text(duet_ngram_set *s, const char *text, size_t n);
/* Streams a file (formats as duet_texts_read) into the set. */
int duet_ngram_set_add_file(duet_ngram_set *s, const char *path, const char *format,
                            const char *field, duet_err *err);
size_t duet_ngram_set_size(const duet_ngram_set *s);

/* Mem (§6.4): fraction of the 4-grams of the texts, with multiplicity, whose
 * hash is in ref. NaN when the texts have no 4-gram. */
double duet_mem(const duet_ngram_set *ref, const duet_texts *t);

/* --------------------------------------------------------- ROUGE and BLEU */

typedef struct duet_rouge {
    double rouge1, rouge2, rougeL; /* mean F1 over examples, in [0, 1] */
    size_t n;
} duet_rouge;

/* ROUGE-1/2/L F1 (§6.5, whole-text LCS) of cand[i] against ref[i], mean
 * over i. Error if the counts differ or are 0. */
int duet_rouge_compute(const duet_texts *cand, const duet_texts *ref, duet_rouge *out,
                       duet_err *err);

typedef struct duet_bleu {
    double bleu;       /* in [0, 1] */
    double bp;         /* brevity penalty */
    double prec[4];    /* p_n = matches / totals (0 when totals = 0) */
    size_t matches[4]; /* clipped n-gram matches summed over the corpus */
    size_t totals[4];  /* candidate n-grams summed over the corpus */
    size_t c_len, r_len;
} duet_bleu;

/* Corpus BLEU-4 of §6.5 (no smoothing, §6.4 tokens with case kept).
 * refs[s] is the s-th reference set, aligned with cand (example i has the
 * references refs[0][i] .. refs[n_refs-1][i]); clipping uses the maximum
 * count over them, r_len the closest reference length (ties -> shorter).
 * Error if a set's count differs from cand's, or there are no examples. */
int duet_corpus_bleu(const duet_texts *cand, const duet_texts *const *refs, size_t n_refs,
                     duet_bleu *out, duet_err *err);

/* Smoothed sentence BLEU of §6.5 (for MBR): §6.4 tokens lowercased,
 * p_n = (m_n + 1) / (c_n + 1), n = 1..4, BP on the pair; 0 when hyp has no
 * tokens. */
double duet_sentence_bleu(const char *hyp, size_t hyp_len, const char *ref, size_t ref_len);

/* MBR choice of §4.4: the index y in [0, k) maximising the mean over x != y
 * of duet_sentence_bleu(hypothesis cand[x], reference cand[y]); ties -> the
 * larger index. k = 1 returns 0. lens[i] is the length of cand[i]. */
size_t duet_mbr_select(const char *const *cand, const size_t *lens, size_t k);

/* ------------------------------------------------------------ perplexity */

typedef struct duet_ppl {
    double ppl_trim;   /* §6.2 trimmed mean of per-text PPL */
    double ppl_corpus; /* exp(sum NLL / sum tokens) */
    size_t n_used;     /* texts with at least one scored token */
    size_t n_empty;    /* texts dropped because they had none */
} duet_ppl;

/* Aggregates per-text judge scores: nll_sum[i] = sum of -log p over the
 * n_tok[i] scored tokens of text i. Texts with n_tok = 0 are dropped. Error
 * on a negative or non-finite NLL sum, or when every text is empty. */
int duet_ppl_compute(const double *nll_sum, const size_t *n_tok, size_t n, duet_ppl *out,
                     duet_err *err);

/* ------------------------------------------------------------------ MAUVE */

typedef struct duet_mauve_opts {
    uint64_t seed;      /* k-means draws are keyed by it */
    size_t k;           /* clusters; 0 = max(2, round_half_even(min(n_p, n_q) / 10)) */
    int restarts;       /* k-means restarts (5) */
    int max_iter;       /* Lloyd iterations per restart (500) */
    double var_keep;    /* PCA explained-variance target (0.9) */
    double c;           /* frontier scaling (5) */
    int n_lambda;       /* frontier mixture weights (25) */
} duet_mauve_opts;

/* The §6.3 defaults with the given seed. */
duet_mauve_opts duet_mauve_default_opts(uint64_t seed);

typedef struct duet_mauve {
    double mauve;
    size_t k;            /* clusters used */
    size_t n_comp;       /* PCA components kept */
    double explained;    /* their cumulative explained-variance ratio */
    double inertia;      /* of the kept k-means restart */
    int iters;           /* Lloyd iterations of the kept restart */
} duet_mauve;

/* MAUVE of §6.3 between P [n_p x D] and Q [n_q x D] (row-major features).
 * Rows are L2-normalised (an all-zero row stays zero). The rows of P and of
 * Q are first put in a canonical (lexicographic) order, so the result is
 * bitwise independent of the order of the samples; every reduction has a
 * fixed order, so it is also independent of the thread count (OpenMP's
 * default team size is used for the covariance, projection and k-means
 * assignment; the eigensolver runs on one OpenBLAS thread). Error on a
 * non-finite feature, n_p = 0 or n_q = 0, k > n_p + n_q, or bad options. */
int duet_mauve_compute(const float *P, size_t n_p, const float *Q, size_t n_q, size_t D,
                       const duet_mauve_opts *o, duet_mauve *out, duet_err *err);

/* Steps 6–7 of §6.3: the area under the divergence frontier of histograms p
 * and q (each summing to 1) over K bins, with n_lambda weights
 * linspace(1e-6, 1 - 1e-6) and scaling c. */
double duet_mauve_area(const double *p, const double *q, size_t K, double c, int n_lambda);

/* Step 3 of §6.3: PCA of X [n x D] (rows already normalised). Centres the
 * rows, eigendecomposes the D x D covariance (LAPACK dsyevd), keeps the
 * smallest number m of leading components with cumulative explained
 * variance >= var_keep (m = 1 if the total variance is 0), and returns the
 * centred rows projected on them: *out [n x m] float, malloc'ed. */
int duet_pca_project(const double *X, size_t n, size_t D, double var_keep, float **out,
                     size_t *m, double *explained, duet_err *err);

/* k-means of §6.3 on X [n x d] (n >= k >= 1): `restarts` runs, each from k
 * distinct rows drawn by (seed, restart), at most max_iter Lloyd updates
 * (stopping at a fixed point), empty clusters re-seeded by
 * duet_kmeans_reseed_empty; keeps the run of lowest inertia (first on
 * ties). labels[n] receives the nearest final centroid of every row (ties
 * -> lower index). Returns the inertia; *iters the kept run's updates. */
double duet_kmeans(const float *X, size_t n, size_t d, size_t k, int restarts, int max_iter,
                   uint64_t seed, uint32_t *labels, int *iters);

/* Re-seeds every empty cluster (counts[c] = 0), in index order, as faiss
 * does: a donor cluster is drawn with probability proportional to
 * counts - 1, its centroid copied, the copy's coordinates multiplied by
 * 1 + 1/1024, 1 - 1/1024, ... alternately and the donor's by the opposite
 * factors; the copy gets counts[donor] / 2 (floor) and the donor keeps the
 * rest. Draws are keyed by (seed, restart, iter). Clusters stay empty only
 * if no cluster has two rows. Returns the number of re-seeded clusters. */
size_t duet_kmeans_reseed_empty(float *centroids, size_t *counts, size_t k, size_t d,
                                uint64_t seed, uint32_t restart, uint32_t iter);

/* ----------------------------------------------------------------- report */

/* Ordered (name, value) results, printed as one JSON object or a table. */
typedef struct duet_report_item {
    char *name;
    char *str;  /* string value, or NULL for a number */
    double num; /* NaN / inf written as null */
} duet_report_item;

typedef struct duet_report {
    duet_report_item *v;
    size_t n, cap;
} duet_report;

void duet_report_free(duet_report *r);
void duet_report_num(duet_report *r, const char *name, double value);
void duet_report_str(duet_report *r, const char *name, const char *value);
/* One line: {"name": value, ...}\n (numbers in the fewest digits, up to
 * 17, that read back exactly). */
int duet_report_write_json(const duet_report *r, FILE *f);
/* Aligned two-column table for humans. */
int duet_report_write_table(const duet_report *r, FILE *f);

#endif
