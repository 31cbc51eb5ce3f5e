/* `vqlm`: the generative half of the two-level pipeline (SPEC 3.3-3.5).
 *
 * A frozen trained `vqae` (vq_ckpt) turns each training sequence into top
 * codes ct [Lt] and bottom codes cb [Lb]. Two masked-diffusion models (the
 * core shared with mdlm) are trained together, one loss term each:
 *   top:    MDLM over ct (vocabulary Kt + MASK)
 *   bottom: MDLM over cb (vocabulary Kb + MASK) whose input adds
 *           Embed_t(ct[floor(l K1 / K2)]) to each bottom position
 * Sampling runs the whole pipeline: S top steps -> S_b bottom steps -> vqae
 * decoder -> argmax tokens (the sampler detokenizes and cleans whitespace).
 * [choice] one objective trains both levels (SPEC 3.5 allows concurrent
 * training on the frozen codes); its checkpoint plus the vqae checkpoint it
 * names are the bundle. Prompts are not supported (Lp = 0).
 */
#include <stdlib.h>
#include <string.h>

#include "duet/ckpt.h"
#include "duet/data.h"
#include "duet/rng.h"
#include "masked_core.h"
#include "objectives_impl.h"
#include "tokennet.h"
#include "vqae.h"

#define STREAM_BOT_MASK (DUET_STREAM_USER + 20)
#define STREAM_BOT_SAMPLE (DUET_STREAM_USER + 21)

typedef struct vqlm_impl {
    duet_config fcfg;      /* the frozen vqae's training config */
    duet_params fparams;   /* its weights */
    duet_objective *fvq;
    vqae_shape s;
    int D, r;
    tokennet top, bot;
    mdm ctop, cbot;
    size_t off_cond;       /* Embed_t [Kt, D] of the bottom model's conditioning */
    int32_t *ct, *cb, *z, *targets;
    float *weights, *tscaled, *extra, *probs;
    int32_t *tokens;
} vqlm_impl;

static int load_frozen(vqlm_impl *m, const char *path, int V, int max_batch, duet_err *err)
{
    if (!*path)
        return duet_errf(err, "config key 'vq_ckpt' is empty: give the checkpoint of a trained "
                              "vqae");
    duet_ckpt *h = duet_ckpt_open(path, err);
    if (!h)
        return -1;
    int rc = -1;
    char *text = NULL;
    size_t n = 0;
    duet_params_init(&m->fparams);
    if (duet_ckpt_read_alloc(h, "config", (size_t)16 << 20, (void **)&text, &n, err) != 0)
        goto out;
    duet_config_defaults(&m->fcfg);
    char where[DUET_CFG_STR_MAX + 32];
    snprintf(where, sizeof where, "%s [config section]", path);
    if (duet_config_parse_text(&m->fcfg, text, where, DUET_SCOPE_TRAIN, err) != 0 ||
        duet_ckpt_expect_objective(h, "vqae", err) != 0)
        goto out;
    m->fvq = duet_objective_create(&m->fcfg, V, &m->fparams, max_batch, err);
    if (!m->fvq)
        goto out;
    duet_params_alloc(&m->fparams);
    if (duet_ckpt_read(h, "params", m->fparams.w, m->fparams.total * sizeof(float), err) != 0)
        goto out;
    size_t want = m->fvq->ops->state_bytes(m->fvq);
    void *state = duet_malloc(want);
    rc = duet_ckpt_read(h, "objective", state, want, err);
    if (rc == 0)
        rc = m->fvq->ops->state_load(m->fvq, state, want, err);
    free(state);
out:
    if (rc != 0)
        duet_err_prefix(err, "vq_ckpt=%s", path);
    free(text);
    duet_ckpt_close(h);
    return rc;
}

static int vqlm_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                       duet_err *err)
{
    vqlm_impl *m = duet_calloc(1, sizeof *m);
    o->impl = m;
    if (load_frozen(m, cfg->vq_ckpt, o->vocab_size, max_batch, err) != 0)
        return -1;
    m->s = vqae_get_shape(m->fvq);
    if (cfg->seq_len != m->s.L)
        return duet_errf(err, "seq_len=%d differs from the vqae's seq_len=%d", cfg->seq_len,
                         m->s.L);
    m->D = cfg->dim;
    m->r = m->s.K2 / m->s.K1;
    int Kt = m->s.Kt, Kb = m->s.Kb;
    mdm_init(&m->ctop, cfg, Kt + 1, Kt, DUET_STREAM_MASK, DUET_STREAM_SAMPLE);
    mdm_init(&m->cbot, cfg, Kb + 1, Kb, STREAM_BOT_MASK, STREAM_BOT_SAMPLE);
    enum duet_cond_kind cond = strcmp(cfg->time_cond, "add") == 0 ? DUET_COND_ADD : DUET_COND_ADALN;
    duet_stack_config st = tokennet_stack_config(cfg, DUET_MASK_BIDIR, cond, max_batch, m->s.Lt);
    if (tokennet_create(&m->top, p, "vqlm.top", Kt + 1, &st, 1, err) != 0)
        return -1;
    int shape[2] = {Kt, m->D};
    m->off_cond = p->total;
    duet_params_add(p, "vqlm.cond", 2, shape, DUET_INIT_NORMAL, (float)cfg->init_std, 0);
    duet_stack_config sb = tokennet_stack_config(cfg, DUET_MASK_BIDIR, cond, max_batch, m->s.Lb);
    if (tokennet_create(&m->bot, p, "vqlm.bot", Kb + 1, &sb, 1, err) != 0)
        return -1;
    size_t nb = (size_t)max_batch * m->s.Lb;
    m->ct = duet_malloc((size_t)max_batch * m->s.Lt * sizeof(int32_t));
    m->cb = duet_malloc(nb * sizeof(int32_t));
    m->z = duet_malloc(nb * sizeof(int32_t));
    m->targets = duet_malloc(nb * sizeof(int32_t));
    m->weights = duet_malloc(nb * sizeof(float));
    m->tscaled = duet_malloc((size_t)max_batch * sizeof(float));
    m->extra = duet_falloc(nb * (size_t)m->D);
    m->probs = duet_malloc((size_t)(Kt > Kb ? Kt + 1 : Kb + 1) * sizeof(float));
    m->tokens = duet_malloc((size_t)max_batch * m->s.L * sizeof(int32_t));
    return 0;
}

static void vqlm_destroy(duet_objective *o)
{
    vqlm_impl *m = o->impl;
    if (!m)
        return;
    duet_objective_free(m->fvq);
    duet_params_free(&m->fparams);
    tokennet_free(&m->top);
    tokennet_free(&m->bot);
    free(m->ct);
    free(m->cb);
    free(m->z);
    free(m->targets);
    free(m->weights);
    free(m->tscaled);
    free(m->extra);
    free(m->probs);
    free(m->tokens);
    free(m);
}

/* Conditioning of the bottom model: row l gets Embed_t of its parent top code. */
static void make_extra(vqlm_impl *m, const float *W, const int32_t *ct, int B)
{
    const float *tab = W + m->off_cond;
    for (int b = 0; b < B; b++)
        for (int l = 0; l < m->s.Lb; l++)
            memcpy(m->extra + ((size_t)b * m->s.Lb + l) * m->D,
                   tab + (size_t)ct[(size_t)b * m->s.Lt + l / m->r] * m->D,
                   (size_t)m->D * sizeof(float));
}

static void vqlm_forward_backward(duet_objective *o, const duet_step_ctx *ctx,
                                  const duet_batch *b, const float *W, float *dW, double *terms)
{
    vqlm_impl *m = o->impl;
    int B = b->B, Lt = m->s.Lt, Lb = m->s.Lb, D = m->D;
    double Bg = ctx->global_counts[0];
    vqae_encode(m->fvq, m->fparams.w, b->tokens, B, m->ct, m->cb);
    /* bottom level first: its parameters follow the top's in the slab, so
     * its gradients are final first (grad hook order) */
    mdm_corrupt(&m->cbot, b, Lb, m->cb, ctx->seed, m->z, m->targets, m->weights, m->tscaled);
    make_extra(m, W, m->ct, B);
    tokennet_forward_add(&m->bot, W, m->z, m->extra, m->tscaled, NULL, B, Lb);
    terms[1] = mdm_loss(&m->cbot, m->bot.logits, m->targets, m->weights, Bg * Lb, B * Lb,
                        dW != NULL);
    if (dW) {
        tokennet_backward(&m->bot, W, dW, NULL, B, Lb, ctx->hook);
        const float *dextra = m->bot.logits;
        for (int r = 0; r < B; r++)
            for (int l = 0; l < Lb; l++) {
                float *g = dW + m->off_cond + (size_t)m->ct[(size_t)r * Lt + l / m->r] * D;
                const float *src = dextra + ((size_t)r * Lb + l) * D;
                for (int j = 0; j < D; j++)
                    g[j] += src[j];
            }
        if (ctx->hook)
            ctx->hook->ready(ctx->hook->user, m->off_cond);
    }
    mdm_corrupt(&m->ctop, b, Lt, m->ct, ctx->seed, m->z, m->targets, m->weights, m->tscaled);
    tokennet_forward(&m->top, W, m->z, m->tscaled, NULL, B, Lt);
    terms[0] = mdm_loss(&m->ctop, m->top.logits, m->targets, m->weights, Bg * Lt, B * Lt,
                        dW != NULL);
    if (dW)
        tokennet_backward(&m->top, W, dW, NULL, B, Lt, ctx->hook);
}

typedef struct denoise_ctx {
    tokennet *net;
    const float *W, *extra;
} denoise_ctx;

static const float *denoise(void *user, const int32_t *z, const float *tscaled, int n, int len)
{
    denoise_ctx *c = user;
    tokennet_forward_add(c->net, c->W, z, c->extra, tscaled, NULL, n, len);
    return c->net->logits;
}

static int vqlm_sample(duet_objective *o, const float *W, const duet_sample_opts *opts,
                       int32_t *out, double *nfe, duet_err *err)
{
    vqlm_impl *m = o->impl;
    int n = opts->n, len = opts->len, Lt = m->s.Lt, Lb = m->s.Lb, L = m->s.L, V = m->s.V;
    if (len > L)
        return duet_errf(err, "sample_len %d exceeds the model's seq_len %d", len, L);
    if (opts->prompt_len > 0)
        return duet_errf(err, "objective 'vqlm' generates unconditionally: prompts are not "
                              "supported");
    int S = opts->steps > 0 ? opts->steps : Lt;
    int Sb = opts->cfg ? opts->cfg->vq_bottom_steps : 8;
    for (size_t i = 0; i < (size_t)n * Lt; i++)
        m->ct[i] = m->s.Kt;
    denoise_ctx top = {&m->top, W, NULL};
    mdm_sample(&m->ctop, denoise, &top, m->ct, n, Lt, S, opts->seed, opts->first_index,
               opts->temperature, m->probs, m->tscaled, nfe);
    for (size_t i = 0; i < (size_t)n * Lb; i++)
        m->cb[i] = m->s.Kb;
    make_extra(m, W, m->ct, n);
    denoise_ctx bot = {&m->bot, W, m->extra};
    mdm_sample(&m->cbot, denoise, &bot, m->cb, n, Lb, Sb, opts->seed, opts->first_index,
               opts->temperature, m->probs, m->tscaled, nfe);
    const float *logits = vqae_decode(m->fvq, m->fparams.w, m->ct, m->cb, n);
    for (int r = 0; r < n; r++)
        for (int l = 0; l < len; l++)
            out[(size_t)r * len + l] =
                argmax_logit(logits + ((size_t)r * L + l) * V, V, DUET_TOK_MASK);
    return 0;
}

const duet_objective_ops duet_objective_vqlm = {
    .name = "vqlm",
    .ncounts = 1,
    .nterms = 2,
    .term_names = {"top", "bottom"},
    .create = vqlm_create,
    .destroy = vqlm_destroy,
    .count = objective_count_sequences,
    .forward_backward = vqlm_forward_backward,
    .sample = vqlm_sample,
};
