/* Private to src/objectives: the hierarchical VQ autoencoder of `vqae` as a
 * frozen component of `vqlm` (SPEC 3.1, 3.5): text -> (top, bottom) codes and
 * codes -> token logits, with the weights and codebooks of a trained vqae.
 */
#ifndef DUET_OBJECTIVES_VQAE_H
#define DUET_OBJECTIVES_VQAE_H

#include <stdint.h>

#include "duet/objective.h"

typedef struct vqae_shape {
    int L, K1, K2, Lb, Lt, Kb, Kt, V;
} vqae_shape;

/* o must be a `vqae` objective. */
vqae_shape vqae_get_shape(const duet_objective *o);
/* Codes of B rows of tokens [B, L]: ct [B, Lt], cb [B, Lb] (codebooks must be
 * initialised; no statistics are recorded). */
void vqae_encode(duet_objective *o, const float *W, const int32_t *tokens, int B, int32_t *ct,
                 int32_t *cb);
/* Decoder logits [B, L, V] from codes ct [B, Lt], cb [B, Lb]; valid until the
 * next call on o. */
const float *vqae_decode(duet_objective *o, const float *W, const int32_t *ct, const int32_t *cb,
                         int B);

#endif
