/* Private to src/objectives: the registry's view of each objective and
 * small helpers shared by their samplers. */
#ifndef DUET_OBJECTIVES_IMPL_H
#define DUET_OBJECTIVES_IMPL_H

#include <stdint.h>

#include "duet/objective.h"

extern const duet_objective_ops duet_objective_ar;
extern const duet_objective_ops duet_objective_mdlm;
extern const duet_objective_ops duet_objective_lddm_fuji;
extern const duet_objective_ops duet_objective_lddm_seq;

/* Index drawn from probs[0..V) (summing to ~1) with uniform u in [0,1);
 * rounding slack goes to the last index with nonzero probability. */
int32_t sample_categorical(const float *probs, int V, double u);

/* One ancestral unmasking step (SPEC 3.3, 5.5) on z [n, len] given logits
 * [n*len, V]: each MASK position is unmasked with probability p_unmask, its
 * token drawn from softmax(logits / temp) without MASK; other positions never
 * change. Row r draws from (seed, step, first_index + r, DUET_STREAM_SAMPLE).
 * probs: [V] scratch. */
void masked_unmask_step(int32_t *z, const float *logits, int n, int len, int V, double p_unmask,
                        float temp, uint64_t seed, uint32_t step, uint32_t first_index,
                        float *probs);

#endif
