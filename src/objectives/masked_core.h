/* Private to src/objectives: the masked (absorbing-state) diffusion core
 * (SPEC 3.3) shared by `mdlm` (over tokens) and `vqlm` (over top and bottom
 * VQ codes): keyed corruption of a batch, the SUBS-weighted NELBO, and
 * ancestral unmasking around a caller-supplied denoiser.
 */
#ifndef DUET_OBJECTIVES_MASKED_CORE_H
#define DUET_OBJECTIVES_MASKED_CORE_H

#include <stdint.h>

#include "duet/config.h"
#include "duet/diffusion.h"
#include "duet/objective.h"

typedef struct mdm {
    duet_mask_schedule sched;
    double delta, t_eps;
    int V;                  /* vocabulary including the mask id */
    int32_t mask;           /* the absorbing state (never a target, never sampled) */
    uint32_t train_stream;  /* keyed stream of the masking coins */
    uint32_t sample_stream; /* keyed stream of the sampling draws */
} mdm;

/* Schedule keys (mask_schedule, mask_eps, t_eps) from cfg. */
void mdm_init(mdm *m, const duet_config *cfg, int V, int32_t mask, uint32_t train_stream,
              uint32_t sample_stream);

/* Draws t (low-discrepancy, keyed by the batch's global indices) and the mask
 * of each row of x [b->B, L]: z = denoiser input, targets = x where masked
 * else -1, weights = w(t), tscaled[row] = 1000 t. */
void mdm_corrupt(const mdm *m, const duet_batch *b, int L, const int32_t *x, uint64_t seed,
                 int32_t *z, int32_t *targets, float *weights, float *tscaled);

/* Weighted CE over N positions with the mask logit forbidden, divided by
 * count; logits are replaced by dlogits when grad. Returns loss sum / count. */
double mdm_loss(const mdm *m, float *logits, const int32_t *targets, const float *weights,
                double count, int N, int grad);

/* Denoiser: logits [n, len, V] for input z at scaled times tscaled [n]. */
typedef const float *(*mdm_denoise_fn)(void *ctx, const int32_t *z, const float *tscaled, int n,
                                       int len);

/* One ancestral unmasking step (SPEC 3.3): each position still at the mask
 * id is unmasked with probability p_unmask, to a token drawn from
 * softmax(logits / temperature) with the mask id forbidden. Row r draws from
 * (seed, step, first_index + r, sample_stream). Scratch: probs [V]. Samplers
 * with their own time grid (lddm) call it directly. */
void mdm_unmask_step(const mdm *m, int32_t *z, const float *logits, int n, int len,
                     double p_unmask, float temperature, uint64_t seed, uint32_t step,
                     uint32_t first_index, float *probs);

/* S-step ancestral unmasking of z [n, len] in place (positions that are not
 * the mask id are kept: prompts). Draws keyed by (seed, step i, first_index +
 * row, sample_stream). Scratch: probs [V], tscaled [n]. Adds S to *nfe. */
void mdm_sample(const mdm *m, mdm_denoise_fn f, void *ctx, int32_t *z, int n, int len, int S,
                uint64_t seed, uint32_t first_index, float temperature, float *probs,
                float *tscaled, double *nfe);

#endif
