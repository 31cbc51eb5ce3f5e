/* duet/objective.h — the interface every training objective implements.
 *
 * An objective owns its networks (registered into the shared parameter
 * table), computes loss and gradients on a micro-batch, synchronizes any
 * extra state across ranks once per step (EMA codebooks, DataNorm moments),
 * saves/loads that state in checkpoints, and samples. The trainer loop and
 * the sampler only see this interface: adding an objective means adding a
 * file under src/objectives/ and one line to the registry.
 *
 * Loss normalization (SPEC 1.6 rule 2): an objective declares `ncounts`
 * normalizers (e.g. "masked positions", "sequences"); count() reports this
 * rank's counts for a micro-batch from data and keyed random draws alone;
 * the trainer sums them over micro-steps and ranks before any backward; and
 * forward_backward divides each loss sum by its GLOBAL count. Summing the
 * returned terms (and gradients) over micro-steps and ranks then gives the
 * loss (and gradient) of the whole global batch.
 */
#ifndef DUET_OBJECTIVE_H
#define DUET_OBJECTIVE_H

#include <stddef.h>
#include <stdint.h>

#include "duet/config.h"
#include "duet/dist.h"
#include "duet/model.h"
#include "duet/util.h"

#define DUET_MAX_COUNTS 4
#define DUET_MAX_TERMS 8
#define DUET_MAX_METRICS 8

/* One micro-batch on this rank. Row b has global sample index
 * first_index + b within the optimizer step (SPEC preamble), which keys
 * every random draw: R ranks x B rows draw what 1 rank x R*B rows draws. */
typedef struct duet_batch {
    int B, L;
    const int32_t *tokens;  /* [B,L] */
    const int32_t *src;     /* [B,Ls] paired source, or NULL */
    int Ls;
    uint32_t first_index;
    uint32_t step;          /* optimizer step (0-based) */
    int global_batch;       /* G = ranks * B * accumulation steps */
} duet_batch;

/* What forward_backward needs besides the batch. */
typedef struct duet_step_ctx {
    duet_dist *dist;             /* for in-forward statistics (BatchNorm, DataNorm) */
    uint64_t seed;
    const double *global_counts; /* [ncounts], summed over ranks and micro-steps */
    const duet_grad_hook *hook;  /* non-NULL on the last micro-step: report final grads */
    int training;                /* 0: validation (no statistics updates) */
} duet_step_ctx;

typedef struct duet_named_value {
    const char *name;
    double value;
} duet_named_value;

/* Generation request (duet-sample, duet-eval). */
typedef struct duet_sample_opts {
    int n;                 /* sequences in this call (<= the max_batch given to create) */
    int len;               /* tokens per sequence */
    int steps;             /* denoising steps; 0 = the objective's default */
    uint64_t seed;
    uint32_t first_index;  /* sample index of row 0 (keys the draws: chunking does not change output) */
    float temperature;
    int top_k;
    float top_p;
    const int32_t *prompt; /* prefix tokens, or NULL */
    int prompt_len;
    const int32_t *src;    /* [n, Ls] source tokens for conditional objectives, or NULL */
    int Ls;
    const duet_config *cfg; /* every sampling key, for objective-specific options */
} duet_sample_opts;

typedef struct duet_objective duet_objective;

typedef struct duet_objective_ops {
    const char *name;
    int ncounts;
    int nterms;
    const char *term_names[DUET_MAX_TERMS];

    /* Registers parameters into p (not yet allocated) and allocates the
     * objective's buffers for micro-batches of up to max_batch rows. */
    int (*create)(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                  duet_err *err);
    void (*destroy)(duet_objective *o);

    /* This rank's counts for one micro-batch (data and keyed draws only). */
    void (*count)(duet_objective *o, const duet_batch *b, uint64_t seed, double *counts);
    /* Loss terms (already divided by the global counts) into terms[nterms];
     * parameter gradients accumulated into dW unless dW is NULL (evaluation). */
    void (*forward_backward)(duet_objective *o, const duet_step_ctx *ctx, const duet_batch *b,
                             const float *W, float *dW, double *terms);
    /* Once per optimizer step after all micro-steps, on every rank: allreduce
     * and apply running statistics. May be NULL. */
    void (*end_step)(duet_objective *o, duet_dist *dist, uint32_t step, uint64_t seed);

    /* Extra state for checkpoints (identical on every rank). May be NULL. */
    size_t (*state_bytes)(const duet_objective *o);
    void (*state_save)(const duet_objective *o, void *buf);
    int (*state_load)(duet_objective *o, const void *buf, size_t n, duet_err *err);

    /* Values for the progress line and log (e.g. codebook usage). May be NULL. */
    int (*metrics)(const duet_objective *o, duet_named_value *out, int max);

    /* Generates opts->n sequences of opts->len tokens into out [n, len]
     * using weights W. Adds the number of network evaluations per sequence
     * to *nfe. May be NULL (objective cannot sample). */
    int (*sample)(duet_objective *o, const float *W, const duet_sample_opts *opts, int32_t *out,
                  double *nfe, duet_err *err);

    /* Judge scoring (the AR objective; NULL elsewhere): rows of n tokens
     * [B, L] (PAD after each row's lens[b] tokens, row starting with BOS).
     * Writes nll[b] = sum of -log p(tok_i | tok_<i) for i = 1..lens[b]-1
     * and features[b, dim] = final hidden state (after the final norm) at
     * position lens[b]-1 (SPEC 6.2, 6.3). */
    void (*score)(duet_objective *o, const float *W, const int32_t *tokens, const int *lens, int B,
                  int L, double *nll, float *features);
} duet_objective_ops;

struct duet_objective {
    const duet_objective_ops *ops;
    const duet_config *cfg;
    int vocab_size;
    void *impl; /* the objective's private state */
};

/* Looks up an objective by its config name and creates it. */
duet_objective *duet_objective_create(const duet_config *cfg, int vocab_size, duet_params *p,
                                      int max_batch, duet_err *err);
void duet_objective_free(duet_objective *o);
/* Names of all registered objectives, NULL-terminated. */
const char *const *duet_objective_names(void);

#endif
