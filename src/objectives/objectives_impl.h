/* Private to src/objectives: the registry's view of each objective and
 * small helpers shared by the objectives. */
#ifndef DUET_OBJECTIVES_IMPL_H
#define DUET_OBJECTIVES_IMPL_H

#include <stdint.h>

#include "duet/objective.h"

extern const duet_objective_ops duet_objective_ar;
extern const duet_objective_ops duet_objective_mdlm;
extern const duet_objective_ops duet_objective_vqae;
extern const duet_objective_ops duet_objective_vqlm;
extern const duet_objective_ops duet_objective_joint1;
extern const duet_objective_ops duet_objective_joint2;
extern const duet_objective_ops duet_objective_separate;
extern const duet_objective_ops duet_objective_ardiff;
extern const duet_objective_ops duet_objective_lddm_fuji;
extern const duet_objective_ops duet_objective_lddm_seq;

/* Index drawn from probs[0..V) (summing to ~1) with uniform u in [0,1);
 * rounding slack goes to the last index with nonzero probability. */
int32_t sample_categorical(const float *probs, int V, double u);

/* Index of the largest of logits[0..V) leaving out index `skip` (> 0, or -1
 * for none); the first one on ties. */
int32_t argmax_logit(const float *logits, int V, int skip);

/* Global count i of the step, or 1 where no rank counted any (the loss sum
 * is then 0 too): what each loss sum is divided by. */
double loss_normalizer(const duet_step_ctx *ctx, int i);

/* count() of an objective whose one normalizer is the batch's tokens (B*L),
 * resp. its sequences (B). */
void objective_count_tokens(duet_objective *o, const duet_batch *b, uint64_t seed, double *counts);
void objective_count_sequences(duet_objective *o, const duet_batch *b, uint64_t seed,
                               double *counts);

#endif
