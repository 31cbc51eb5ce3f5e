/* duet/optim.h — AdamW, learning-rate schedule, gradient clipping, weight EMA.
 *
 * All state is slabs with the parameter layout (duet/model.h), so each update
 * is one loop; the tensor table says which tensors decay or are frozen.
 */
#ifndef DUET_OPTIM_H
#define DUET_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "duet/model.h"

typedef struct duet_adamw_hparams {
    double lr, beta1, beta2, eps, weight_decay;
} duet_adamw_hparams;

/* One AdamW step (decoupled decay, bias correction) over every non-frozen
 * tensor; step is 1-based (the step being taken). m, v: slabs of p->total. */
void duet_adamw_step(duet_params *p, float *m, float *v, const duet_adamw_hparams *h,
                     int64_t step);

typedef enum { DUET_LR_COSINE = 0, DUET_LR_CONSTANT = 1 } duet_lr_kind;
/* LR at optimizer step `step` (0-based): linear warm-up from 0 over `warmup`
 * steps (step+1)/warmup * peak, then cosine from peak to peak*min_ratio at
 * `total`, or constant. */
double duet_lr_at(int64_t step, double peak, int64_t warmup, int64_t total, double min_ratio,
                  duet_lr_kind kind);

/* L2 norm of a gradient slab, accumulated in double. */
double duet_grad_norm(const float *g, size_t n);
/* Scales g so its norm is at most max_norm (given the norm already
 * computed); returns the factor applied (1 if none). */
float duet_clip_grad(float *g, size_t n, double norm, double max_norm);

/* ema = decay*ema + (1-decay)*w. */
void duet_ema_update(float *ema, const float *w, size_t n, float decay);

#endif
