/* Masked-diffusion training and sampling core (see masked_core.h). */
#include "masked_core.h"

#include <math.h>
#include <string.h>

#include "duet/ops.h"
#include "duet/rng.h"
#include "objectives_impl.h"

void mdm_init(mdm *m, const duet_config *cfg, int V, int32_t mask, uint32_t train_stream,
              uint32_t sample_stream)
{
    m->sched = strcmp(cfg->mask_schedule, "cosine") == 0 ? DUET_MASK_COSINE : DUET_MASK_LOGLINEAR;
    m->delta = cfg->mask_eps;
    m->t_eps = cfg->t_eps;
    m->V = V;
    m->mask = mask;
    m->train_stream = train_stream;
    m->sample_stream = sample_stream;
}

void mdm_corrupt(const mdm *m, const duet_batch *b, int L, const int32_t *x, uint64_t seed,
                 int32_t *z, int32_t *targets, float *weights, float *tscaled)
{
    for (int r = 0; r < b->B; r++) {
        uint32_t g = b->first_index + (uint32_t)r;
        double t = duet_lowdisc_time(seed, b->step, g, b->global_batch, m->t_eps);
        double p_mask = 1.0 - duet_mask_alpha(m->sched, m->delta, t);
        float w = (float)duet_mask_weight(m->sched, m->delta, t);
        tscaled[r] = (float)(1000.0 * t);
        duet_rng rng = duet_rng_keyed(seed, b->step, g, m->train_stream);
        for (int l = 0; l < L; l++) {
            size_t i = (size_t)r * L + l;
            int masked = duet_rng_uniform(&rng) < p_mask;
            z[i] = masked ? m->mask : x[i];
            targets[i] = masked ? x[i] : -1;
            weights[i] = w;
        }
    }
}

double mdm_loss(const mdm *m, float *logits, const int32_t *targets, const float *weights,
                double count, int N, int grad)
{
    if (count <= 0)
        count = 1.0;
    double sum = duet_xent_forward_backward(grad ? logits : NULL, NULL, logits, targets, weights,
                                            (float)(1.0 / count), N, m->V, -1, m->mask);
    return sum / count;
}

void mdm_unmask_step(const mdm *m, int32_t *z, const float *logits, int n, int len,
                     double p_unmask, float temperature, uint64_t seed, uint32_t step,
                     uint32_t first_index, float *probs)
{
    int V = m->V;
    float temp = temperature > 0 ? temperature : 1.0f;
    for (int r = 0; r < n; r++) {
        duet_rng rng = duet_rng_keyed(seed, step, first_index + (uint32_t)r, m->sample_stream);
        for (int l = 0; l < len; l++) {
            int32_t *zi = z + (size_t)r * len + l;
            double coin = duet_rng_uniform64(&rng), u = duet_rng_uniform64(&rng);
            if (*zi != m->mask || coin >= p_unmask)
                continue;
            const float *lg = logits + ((size_t)r * len + l) * V;
            float mx = -INFINITY;
            for (int v = 0; v < V; v++)
                if (v != m->mask && lg[v] > mx)
                    mx = lg[v];
            double zsum = 0.0;
            for (int v = 0; v < V; v++) {
                probs[v] = v == m->mask ? 0.0f : expf((lg[v] - mx) / temp);
                zsum += probs[v];
            }
            for (int v = 0; v < V; v++)
                probs[v] = (float)(probs[v] / zsum);
            *zi = sample_categorical(probs, V, u);
        }
    }
}

void mdm_sample(const mdm *m, mdm_denoise_fn f, void *ctx, int32_t *z, int n, int len, int S,
                uint64_t seed, uint32_t first_index, float temperature, float *probs,
                float *tscaled, double *nfe)
{
    for (int i = 0; i < S; i++) {
        double t = 1.0 - (double)i / S, s = 1.0 - (double)(i + 1) / S;
        for (int r = 0; r < n; r++)
            tscaled[r] = (float)(1000.0 * t);
        const float *logits = f(ctx, z, tscaled, n, len);
        *nfe += 1.0;
        double p_unmask = duet_mask_unmask_prob(m->sched, m->delta, t, s);
        mdm_unmask_step(m, z, logits, n, len, p_unmask, temperature, seed, (uint32_t)i,
                        first_index, probs);
    }
}
