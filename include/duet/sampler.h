/* duet/sampler.h — loading a trained model from its checkpoint and
 * generating text with it (duet-sample; duet-eval reuses the loader).
 *
 * A checkpoint is self-contained: it carries the training config and the
 * tokenizer, so a model is rebuilt from the file alone, without MPI.
 */
#ifndef DUET_SAMPLER_H
#define DUET_SAMPLER_H

#include <stdint.h>
#include <stdio.h>

#include "duet/config.h"
#include "duet/data.h"
#include "duet/model.h"
#include "duet/objective.h"

typedef struct duet_model {
    duet_config cfg;      /* training config stored in the checkpoint */
    duet_tokenizer *tok;
    duet_params params;
    duet_objective *obj;
    float *ema;           /* weight EMA, if the checkpoint has one */
    const float *W;       /* the weights in use: ema or params.w */
    int64_t step;
    int max_batch;
} duet_model;

/* Rebuilds the objective from the checkpoint for batches of up to max_batch
 * rows and loads its weights (the EMA if use_ema and present). */
int duet_model_load(duet_model *m, const char *path, int use_ema, int max_batch, duet_err *err);
void duet_model_free(duet_model *m);

/* Text of one generated row: cut at the first EOS, special tokens dropped,
 * detokenized, whitespace runs collapsed to one space and trimmed.
 * Malloc'ed; *len excludes the NUL. */
char *duet_tokens_to_text(const duet_tokenizer *t, const int32_t *ids, int n, size_t *len);

typedef struct duet_sample_report {
    int n;
    double seconds, nfe_per_sample;
} duet_sample_report;

/* Generates scfg->n_samples texts (keys of scope SAMPLE: n_samples,
 * sample_steps, sample_len, temperature, top_k, top_p, prompt, seed,
 * sample_batch, format, source_file: one sample per source line for
 * conditional models) and writes them to out, one per line (text) or as
 * JSON lines. Same seed, same output, whatever sample_batch is. */
int duet_sample_to_file(duet_model *m, const duet_config *scfg, FILE *out,
                        duet_sample_report *rep, duet_err *err);

/* Judge scoring (SPEC 6.2-6.3) with an AR checkpoint: each text is encoded
 * with the judge's tokenizer, BOS prepended, cut to max_tokens text tokens
 * (0 = as many as the judge's seq_len allows; cuts are counted in
 * *truncated). Writes nll[i] (sum of -log p over the text's tokens), ntok[i]
 * (their count; 0 for an empty text) and features[i * dim] (the final
 * hidden state at the last token); dim = m->cfg.dim. */
int duet_judge_score(duet_model *m, const char *const *texts, const size_t *lens, size_t n,
                     int max_tokens, double *nll, size_t *ntok, float *features,
                     size_t *truncated, duet_err *err);

#endif
