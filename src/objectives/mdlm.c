/* `mdlm`: masked (absorbing-state) diffusion over tokens (SPEC 3.3, 5.8).
 *
 * Training: t per sequence by low-discrepancy sampling, each position masked
 * with probability 1 - alpha(t), a bidirectional adaLN transformer predicts
 * the clean tokens; loss = sum over masked positions of w(t) * CE, divided by
 * the global number of positions (continuous-time NELBO). SUBS: the MASK
 * logit is -inf, unmasked positions carry over (no loss).
 * Sampling: ancestral unmasking on the grid t_i = 1 - i/S.
 */
#include <stdlib.h>
#include <string.h>

#include "duet/data.h"
#include "duet/objective.h"
#include "duet/rng.h"
#include "masked_core.h"
#include "objectives_impl.h"
#include "tokennet.h"

typedef struct mdlm_impl {
    tokennet net;
    mdm core;
    int32_t *z, *targets; /* [B*L] */
    int32_t *sel;         /* [B*L] masked rows (the only ones with a loss) */
    float *weights;       /* [B*L] */
    float *tscaled;       /* [B] */
    float *probs;         /* [V] sampling scratch */
} mdlm_impl;

static int mdlm_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                       duet_err *err)
{
    mdlm_impl *m = duet_calloc(1, sizeof *m);
    o->impl = m;
    mdm_init(&m->core, cfg, o->vocab_size, DUET_TOK_MASK, DUET_STREAM_MASK, DUET_STREAM_SAMPLE);
    enum duet_cond_kind cond = strcmp(cfg->time_cond, "add") == 0 ? DUET_COND_ADD : DUET_COND_ADALN;
    duet_stack_config sc =
        tokennet_stack_config(cfg, DUET_MASK_BIDIR, cond, max_batch, cfg->seq_len);
    if (tokennet_create(&m->net, p, "mdlm", o->vocab_size, &sc, 1, err) != 0)
        return -1;
    size_t rows = (size_t)max_batch * (size_t)cfg->seq_len;
    m->z = duet_malloc(rows * sizeof(int32_t));
    m->targets = duet_malloc(rows * sizeof(int32_t));
    m->sel = duet_malloc(rows * sizeof(int32_t));
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
    free(m->sel);
    free(m->weights);
    free(m->tscaled);
    free(m->probs);
    free(m);
}

static void mdlm_forward_backward(duet_objective *o, const duet_step_ctx *ctx,
                                  const duet_batch *b, const float *W, float *dW, double *terms)
{
    mdlm_impl *m = o->impl;
    mdm_corrupt(&m->core, b, b->L, b->tokens, ctx->seed, m->z, m->targets, m->weights,
                m->tscaled);
    /* Only masked positions carry a loss: the head (a fifth of the step at
     * V = 4096, D = 256) runs on those rows alone; targets and weights are
     * compacted to match. */
    int nsel = 0;
    for (int i = 0; i < b->B * b->L; i++)
        if (m->targets[i] >= 0) {
            m->sel[nsel] = i;
            m->targets[nsel] = m->targets[i];
            m->weights[nsel++] = m->weights[i];
        }
    tokennet_forward_rows(&m->net, W, m->z, m->tscaled, NULL, b->B, b->L, m->sel, nsel);
    terms[0] = mdm_loss(&m->core, m->net.logits, m->targets, m->weights, ctx->global_counts[0],
                        nsel, dW != NULL);
    if (dW)
        tokennet_backward(&m->net, W, dW, NULL, b->B, b->L, ctx->hook);
}

typedef struct denoise_ctx {
    tokennet *net;
    const float *W;
} denoise_ctx;

static const float *denoise(void *user, const int32_t *z, const float *tscaled, int n, int len)
{
    denoise_ctx *c = user;
    tokennet_forward(c->net, c->W, z, tscaled, NULL, n, len);
    return c->net->logits;
}

static int mdlm_sample(duet_objective *o, const float *W, const duet_sample_opts *opts,
                       int32_t *out, double *nfe, duet_err *err)
{
    mdlm_impl *m = o->impl;
    int n = opts->n, len = opts->len;
    int S = opts->steps > 0 ? opts->steps : len;
    if (len > m->net.max_seq)
        return duet_errf(err, "sample_len %d exceeds the model's seq_len %d", len, m->net.max_seq);
    if (opts->prompt_len > len)
        return duet_errf(err, "prompt of %d tokens does not fit in %d tokens", opts->prompt_len, len);
    for (int r = 0; r < n; r++)
        for (int l = 0; l < len; l++)
            out[(size_t)r * len + l] = l < opts->prompt_len ? opts->prompt[l] : DUET_TOK_MASK;
    denoise_ctx c = {&m->net, W};
    mdm_sample(&m->core, denoise, &c, out, n, len, S, opts->seed, opts->first_index,
               opts->temperature, m->probs, m->tscaled, nfe);
    return 0;
}

const duet_objective_ops duet_objective_mdlm = {
    .name = "mdlm",
    .ncounts = 1,
    .nterms = 1,
    .term_names = {"nelbo"},
    .create = mdlm_create,
    .destroy = mdlm_destroy,
    .count = objective_count_tokens,
    .forward_backward = mdlm_forward_backward,
    .sample = mdlm_sample,
};
