/* duet-eval: generation metrics of SPEC 6 (PPL and MAUVE under an AR judge,
 * Div, distinct-n, self-BLEU, Mem; ROUGE and BLEU for seq2seq). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/ckpt.h"
#include "duet/config.h"
#include "duet/eval.h"
#include "duet/ops.h"
#include "duet/sampler.h"

static const duet_cli CLI = {
    "duet-eval",
    "[--help] [--print-config] [CONFIG ...] samples=FILE [key=value ...]",
    "Evaluates generated texts (SPEC 6): Div, distinct-n, self-BLEU always; Mem with\n"
    "mem_corpus; generative perplexity (trimmed and corpus) with an AR judge checkpoint; MAUVE\n"
    "with a judge and human references; ROUGE-1/2/L and BLEU with eval_mode=seq2seq and\n"
    "aligned references. Prints one JSON object (to output, default stdout) and a table\n"
    "(stderr). With ckpt=GENERATOR the judge must share the generator's tokenizer.\n"
    "Example: build/bin/duet-eval samples=s.txt references=ref.txt judge=ar.duet mem_corpus=train.txt",
    DUET_SCOPE_EVAL,
};

static void cap_texts(duet_texts *t, int max)
{
    if (max > 0 && t->n > (size_t)max)
        t->n = (size_t)max;
}

/* Judge features and NLLs of every text of t. */
static int judge_texts(duet_model *judge, const duet_texts *t, int max_tokens, double *nll,
                       size_t *ntok, float *feat, size_t *cut, duet_err *err)
{
    const char **texts = duet_malloc(t->n * sizeof(char *));
    size_t *lens = duet_malloc(t->n * sizeof(size_t));
    for (size_t i = 0; i < t->n; i++)
        texts[i] = duet_texts_get(t, i, &lens[i]);
    int rc = duet_judge_score(judge, texts, lens, t->n, max_tokens, nll, ntok, feat, cut, err);
    free(texts);
    free(lens);
    return rc;
}

static int same_tokenizer(const char *generator, const duet_model *judge, duet_err *err)
{
    duet_ckpt *h = duet_ckpt_open(generator, err);
    if (!h)
        return -1;
    void *bytes = NULL;
    size_t n = 0;
    int rc = duet_ckpt_read_alloc(h, "tokenizer", (size_t)1 << 30, &bytes, &n, err);
    duet_ckpt_close(h);
    if (rc != 0)
        return -1;
    duet_tokenizer *t = duet_tokenizer_from_bytes(bytes, n, generator, err);
    free(bytes);
    if (!t)
        return -1;
    uint32_t a = duet_tokenizer_id(t), b = duet_tokenizer_id(judge->tok);
    duet_tokenizer_free(t);
    if (a != b)
        return duet_errf(err, "judge tokenizer (id %08x) differs from the generator's in %s "
                              "(id %08x): perplexities would not be comparable",
                         b, generator, a);
    return 0;
}

static int judge_metrics(const duet_config *c, const duet_texts *samples, duet_report *rep,
                         duet_err *err)
{
    static duet_model judge;
    if (duet_model_load(&judge, c->judge, c->use_ema, c->sample_batch, err) != 0)
        return duet_err_prefix(err, "judge");
    int rc = -1;
    size_t D = (size_t)judge.cfg.dim, np = samples->n, cut = 0, cut_ref = 0;
    double *nll = duet_malloc(np * sizeof(double));
    size_t *ntok = duet_malloc(np * sizeof(size_t));
    float *P = duet_malloc(np * D * sizeof(float)), *Q = NULL;
    duet_texts refs;
    duet_texts_init(&refs);
    if (*c->ckpt && same_tokenizer(c->ckpt, &judge, err) != 0)
        goto out;
    if (judge_texts(&judge, samples, 0, nll, ntok, P, &cut, err) != 0)
        goto out;
    duet_ppl ppl;
    if (duet_ppl_compute(nll, ntok, np, &ppl, err) != 0)
        goto out;
    duet_report_num(rep, "ppl_trim", ppl.ppl_trim);
    duet_report_num(rep, "ppl_corpus", ppl.ppl_corpus);
    duet_report_num(rep, "ppl_texts_empty", (double)ppl.n_empty);
    duet_report_num(rep, "judge_truncated_samples", (double)cut);
    if (*c->references && strcmp(c->eval_mode, "uncond") == 0) {
        if (duet_texts_read(&refs, c->references, c->eval_format, c->eval_field, err) != 0)
            goto out;
        cap_texts(&refs, c->eval_max_texts);
        double *rn = duet_malloc(refs.n * sizeof(double));
        size_t *rt = duet_malloc(refs.n * sizeof(size_t));
        Q = duet_malloc(refs.n * D * sizeof(float));
        int src = judge_texts(&judge, &refs, c->ref_tokens, rn, rt, Q, &cut_ref, err);
        free(rn);
        free(rt);
        if (src != 0)
            goto out;
        duet_mauve_opts mo = duet_mauve_default_opts((uint64_t)c->seed);
        mo.k = (size_t)c->mauve_k;
        duet_mauve m;
        if (duet_mauve_compute(P, np, Q, refs.n, D, &mo, &m, err) != 0)
            goto out;
        duet_report_num(rep, "mauve", m.mauve);
        duet_report_num(rep, "mauve_k", (double)m.k);
        duet_report_num(rep, "mauve_pca_components", (double)m.n_comp);
        duet_report_num(rep, "n_references", (double)refs.n);
        duet_report_num(rep, "judge_truncated_references", (double)cut_ref);
    }
    rc = 0;
out:
    free(nll);
    free(ntok);
    free(P);
    free(Q);
    duet_texts_free(&refs);
    duet_model_free(&judge);
    return rc;
}

static int mem_metric(const duet_config *c, const duet_texts *samples, duet_report *rep,
                      duet_err *err)
{
    duet_ngram_set *set = duet_ngram_set_create();
    char *files = duet_strdup(c->mem_corpus), *save = NULL;
    int rc = 0;
    for (char *f = strtok_r(files, ",", &save); f && rc == 0; f = strtok_r(NULL, ",", &save))
        rc = duet_ngram_set_add_file(set, f, c->eval_format, c->eval_field, err);
    if (rc == 0)
        duet_report_num(rep, "mem", duet_mem(set, samples));
    free(files);
    duet_ngram_set_free(set);
    return rc;
}

static int seq2seq_metrics(const duet_config *c, const duet_texts *samples, duet_report *rep,
                           duet_err *err)
{
    if (!*c->references)
        return duet_errf(err, "eval_mode=seq2seq needs references=FILE (one reference per sample)");
    duet_texts refs;
    duet_texts_init(&refs);
    int rc = duet_texts_read(&refs, c->references, c->eval_format, c->eval_field, err);
    if (rc == 0) {
        cap_texts(&refs, c->eval_max_texts);
        duet_rouge r;
        rc = duet_rouge_compute(samples, &refs, &r, err);
        if (rc == 0) {
            duet_report_num(rep, "rouge1", r.rouge1);
            duet_report_num(rep, "rouge2", r.rouge2);
            duet_report_num(rep, "rougeL", r.rougeL);
        }
    }
    if (rc == 0) {
        const duet_texts *set[1] = {&refs};
        duet_bleu b;
        rc = duet_corpus_bleu(samples, set, 1, &b, err);
        if (rc == 0)
            duet_report_num(rep, "bleu", b.bleu);
    }
    duet_texts_free(&refs);
    return rc;
}

static int run(const duet_config *c, duet_err *err)
{
    if (!*c->samples)
        return duet_errf(err, "no samples given (samples=FILE)");
    duet_set_threads(c->threads);
    double t0 = duet_now();
    duet_texts samples;
    duet_texts_init(&samples);
    duet_report rep = {0};
    int rc = duet_texts_read(&samples, c->samples, c->eval_format, c->eval_field, err);
    if (rc == 0) {
        cap_texts(&samples, c->eval_max_texts);
        duet_report_str(&rep, "samples", c->samples);
        duet_report_num(&rep, "n_samples", (double)samples.n);
        duet_diversity d;
        duet_diversity_compute(&samples, &d);
        duet_report_num(&rep, "div", d.div);
        /* Fixed names, not snprintf: under UBSan gcc cannot bound n and
         * flags the formatted name as possibly truncated. */
        static const char *const distinct[4] = {"distinct1", "distinct2", "distinct3",
                                                "distinct4"};
        for (int n = 0; n < 4; n++)
            duet_report_num(&rep, distinct[n], d.distinct[n]);
        duet_report_num(&rep, "self_bleu", duet_self_bleu(&samples));
    }
    if (rc == 0 && *c->mem_corpus)
        rc = mem_metric(c, &samples, &rep, err);
    if (rc == 0 && strcmp(c->eval_mode, "seq2seq") == 0)
        rc = seq2seq_metrics(c, &samples, &rep, err);
    if (rc == 0 && *c->judge)
        rc = judge_metrics(c, &samples, &rep, err);
    if (rc == 0) {
        duet_report_num(&rep, "eval_seconds", duet_now() - t0);
        duet_report_num(&rep, "peak_rss_mb", (double)duet_peak_rss() / 1e6);
        FILE *out = stdout;
        if (*c->output && !(out = fopen(c->output, "w")))
            rc = duet_errf(err, "cannot open output '%s': %s", c->output, strerror(errno));
        if (rc == 0) {
            duet_report_write_json(&rep, out);
            if (out != stdout && fclose(out) != 0)
                rc = duet_errf(err, "error writing '%s'", c->output);
            duet_report_write_table(&rep, stderr);
        }
    }
    duet_report_free(&rep);
    duet_texts_free(&samples);
    return rc;
}

int main(int argc, char **argv)
{
    static duet_config cfg;
    duet_config_defaults(&cfg);
    duet_err err;
    int rc = duet_config_from_args(&cfg, &CLI, argc, argv, &err);
    if (rc == 0)
        rc = run(&cfg, &err);
    if (rc < 0)
        fprintf(stderr, "duet-eval: error: %s\n", err.msg);
    return rc < 0 ? 1 : 0;
}
