/* AdamW (decoupled weight decay, bias correction, PyTorch's update form),
 * the learning-rate schedule, global gradient-norm clipping and the weight
 * EMA. Each update is one pass over slabs with the parameter layout; the
 * tensor table says which tensors decay or are frozen.
 */
#include <math.h>

#include "../core/ops_internal.h"
#include "duet/ops.h"
#include "duet/optim.h"

void duet_adamw_step(duet_params *p, float *m, float *v, const duet_adamw_hparams *h,
                     int64_t step)
{
    /* torch.optim.AdamW: w *= 1 - lr*wd; w -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) */
    const double bc1 = 1.0 - pow(h->beta1, (double)step);
    const double bc2 = 1.0 - pow(h->beta2, (double)step);
    const float b1 = (float)h->beta1, b2 = (float)h->beta2, eps = (float)h->eps;
    const float step_size = (float)(h->lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float decay = (float)(1.0 - h->lr * h->weight_decay);
    for (int i = 0; i < p->n; i++) {
        const duet_tensor *t = &p->t[i];
        if (t->flags & DUET_TF_FROZEN)
            continue;
        float *w = p->w + t->offset, *mi = m + t->offset, *vi = v + t->offset;
        const float *g = p->g + t->offset;
        const float dec = (t->flags & DUET_TF_DECAY) ? decay : 1.0f;
        const size_t n = t->count;
        DUET_OMP_FOR(n)
        for (size_t j = 0; j < n; j++) {
            float mj = b1 * mi[j] + (1.0f - b1) * g[j];
            float vj = b2 * vi[j] + (1.0f - b2) * g[j] * g[j];
            mi[j] = mj;
            vi[j] = vj;
            w[j] = w[j] * dec - step_size * mj / (sqrtf(vj) * inv_sqrt_bc2 + eps);
        }
    }
}

double duet_lr_at(int64_t step, double peak, int64_t warmup, int64_t total, double min_ratio,
                  duet_lr_kind kind)
{
    if (step < warmup)
        return peak * (double)(step + 1) / (double)warmup;
    if (kind == DUET_LR_CONSTANT)
        return peak;
    double progress = total > warmup ? (double)(step - warmup) / (double)(total - warmup) : 1.0;
    if (progress > 1.0)
        progress = 1.0;
    double lo = peak * min_ratio;
    return lo + (peak - lo) * 0.5 * (1.0 + cos(M_PI * progress));
}

/* duet_sqerr_forward's fixed chunking makes the norm bitwise reproducible
 * for any thread count. */
double duet_grad_norm(const float *g, size_t n)
{
    return sqrt(duet_sqerr_forward(g, NULL, n));
}

float duet_clip_grad(float *g, size_t n, double norm, double max_norm)
{
    /* torch.nn.utils.clip_grad_norm_: coef = max/(norm + 1e-6), only if < 1 */
    if (max_norm <= 0.0)
        return 1.0f;
    double coef = max_norm / (norm + 1e-6);
    if (!(coef < 1.0))
        return 1.0f;
    float f = (float)coef;
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        g[i] *= f;
    return f;
}

void duet_ema_update(float *ema, const float *w, size_t n, float decay)
{
    const float a = 1.0f - decay;
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        ema[i] = decay * ema[i] + a * w[i];
}
