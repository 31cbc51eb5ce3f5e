/* `mdlm`: masked (absorbing-state) diffusion over tokens (SPEC 3.3, 5.8).
 *
 * Training: t per sequence by low-discrepancy sampling, each position masked
 * with probability 1 - alpha(t), a bidirectional adaLN transformer predicts
 * the clean tokens; loss = sum over masked positions of w(t) * CE, divided by
 * the global number of positions (continuous-time NELBO). SUBS: the MASK
 * logit is -inf, unmasked positions carry over (no loss).
 * Sampling: ancestral unmasking on the grid t_i = 1 - i/S.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/data.h"
#include "duet/diffusion.h"
#include "duet/objective.h"
#include "duet/rng.h"
#include "objectives_impl.h"
#include "tokennet.h"

typedef struct mdlm_impl {
    tokennet net;
    duet_mask_schedule sched;
    double delta, t_eps;
    int32_t *z, *targets; /* [B*L] */
    float *weights;       /* [B*L] */
    float *tscaled;       /* [B] */
    float *probs;         /* [V] sampling scratch */
} mdlm_impl;

static int mdlm_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                       duet_err *err)
{
    mdlm_impl *m = duet_calloc(1, sizeof *m);
    o->impl = m;
    m->sched = strcmp(cfg->mask_schedule, "cosine") == 0 ? DUET_MASK_COSINE : DUET_MASK_LOGLINEAR;
    m->delta = cfg->mask_eps;
    m->t_eps = cfg->t_eps;
    enum duet_cond_kind cond = strcmp(cfg->time_cond, "add") == 0 ? DUET_COND_ADD : DUET_COND_ADALN;
    duet_stack_config sc =
        tokennet_stack_config(cfg, DUET_MASK_BIDIR, cond, max_batch, cfg->seq_len);
    if (tokennet_create(&m->net, p, "mdlm", o->vocab_size, &sc, 1, err) != 0)
        return -1;
    size_t rows = (size_t)max_batch * (size_t)cfg->seq_len;
    m->z = duet_malloc(rows * sizeof(int32_t));
    m->targets = duet_malloc(rows * sizeof(int32_t));
    m->weights = duet_malloc(rows * sizeof(float));
    m->tscaled = duet_malloc((size_t)max_batch * sizeof(float));
    m->probs = duet_malloc((size_t)o->vocab_size * sizeof(float));
    return 0;
}

static void mdlm_destroy(duet_objective *o)
{
    mdlm_impl *m = o->impl;
    if (!m)
        return;
    tokennet_free(&m->net);
    free(m->z);
    free(m->targets);
    free(m->weights);
    free(m->tscaled);
    free(m->probs);
    free(m);
}

static void mdlm_count(duet_objective *o, const duet_batch *b, uint64_t seed, double *counts)
{
    (void)o;
    (void)seed;
    counts[0] = (double)b->B * (double)b->L;
}

/* Draws t and the mask of every row (keyed by its global sample index) and
 * fills the denoiser input, targets and per-position ELBO weights. */
static void corrupt(mdlm_impl *m, const duet_batch *b, uint64_t seed)
{
    for (int r = 0; r < b->B; r++) {
        uint32_t g = b->first_index + (uint32_t)r;
        double t = duet_lowdisc_time(seed, b->step, g, b->global_batch, m->t_eps);
        double p_mask = 1.0 - duet_mask_alpha(m->sched, m->delta, t);
        float w = (float)duet_mask_weight(m->sched, m->delta, t);
        m->tscaled[r] = (float)(1000.0 * t);
        duet_rng rng = duet_rng_keyed(seed, b->step, g, DUET_STREAM_MASK);
        for (int l = 0; l < b->L; l++) {
            size_t i = (size_t)r * b->L + l;
            int masked = duet_rng_uniform(&rng) < p_mask;
            m->z[i] = masked ? DUET_TOK_MASK : b->tokens[i];
            m->targets[i] = masked ? b->tokens[i] : -1;
            m->weights[i] = w;
        }
    }
}

static void mdlm_forward_backward(duet_objective *o, const duet_step_ctx *ctx,
                                  const duet_batch *b, const float *W, float *dW, double *terms)
{
    mdlm_impl *m = o->impl;
    corrupt(m, b, ctx->seed);
    tokennet_forward(&m->net, W, m->z, m->tscaled, NULL, b->B, b->L);
    double count = ctx->global_counts[0] > 0 ? ctx->global_counts[0] : 1.0;
    double sum = duet_xent_forward_backward(dW ? m->net.logits : NULL, NULL, m->net.logits,
                                            m->targets, m->weights, (float)(1.0 / count),
                                            b->B * b->L, o->vocab_size, -1, DUET_TOK_MASK);
    terms[0] = sum / count;
    if (dW)
        tokennet_backward(&m->net, W, dW, NULL, b->B, b->L, ctx->hook);
}

static int mdlm_sample(duet_objective *o, const float *W, const duet_sample_opts *opts,
                       int32_t *out, double *nfe, duet_err *err)
{
    mdlm_impl *m = o->impl;
    int n = opts->n, len = opts->len, V = o->vocab_size;
    int S = opts->steps > 0 ? opts->steps : len;
    if (len > m->net.max_seq)
        return duet_errf(err, "sample_len %d exceeds the model's seq_len %d", len, m->net.max_seq);
    if (opts->prompt_len > len)
        return duet_errf(err, "prompt of %d tokens does not fit in %d tokens", opts->prompt_len, len);
    for (int r = 0; r < n; r++)
        for (int l = 0; l < len; l++)
            out[(size_t)r * len + l] = l < opts->prompt_len ? opts->prompt[l] : DUET_TOK_MASK;
    float temp = opts->temperature > 0 ? opts->temperature : 1.0f;
    for (int i = 0; i < S; i++) {
        double t = 1.0 - (double)i / S, s = 1.0 - (double)(i + 1) / S;
        for (int r = 0; r < n; r++)
            m->tscaled[r] = (float)(1000.0 * t);
        tokennet_forward(&m->net, W, out, m->tscaled, NULL, n, len);
        *nfe += 1.0;
        double p_unmask = duet_mask_unmask_prob(m->sched, m->delta, t, s);
        masked_unmask_step(out, m->net.logits, n, len, V, p_unmask, temp, opts->seed, (uint32_t)i,
                           opts->first_index, m->probs);
    }
    return 0;
}

const duet_objective_ops duet_objective_mdlm = {
    .name = "mdlm",
    .ncounts = 1,
    .nterms = 1,
    .term_names = {"nelbo"},
    .create = mdlm_create,
    .destroy = mdlm_destroy,
    .count = mdlm_count,
    .forward_backward = mdlm_forward_backward,
    .sample = mdlm_sample,
};
