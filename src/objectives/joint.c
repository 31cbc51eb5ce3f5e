/* `joint1`, `joint2`, `separate`: a text autoencoder and a continuous latent
 * diffusion model (SPEC 2, seed 001).
 *
 *   e = Enc(w); x0 = Norm(e); x_t = alpha_t x0 + sigma_t eps;
 *   x0_hat = Dif(x_t, x_sc, t) (self-conditioned with probability
 *   self_cond_prob); logits = Dec(x0_hat).
 *
 * Gradient routing (SPEC 2.5): L_dif trains Dif only (x0 is a constant
 * target); L_ae = CE trains Enc and Dec, reaching Enc through Dif's
 * activations but leaving Dif's parameters alone. Dif's backward therefore
 * runs twice on the same caches: with the L_dif cotangent for parameter
 * gradients only, with the L_ae cotangent for the input gradient only.
 * joint2 adds lambda_c ||x0 - SG[x0_hat]||^2 reaching Enc through x0 only.
 * separate: stage 1 (step < switch_step) trains Enc+Dec on a lightly noised
 * latent (SPEC 2.7), stage 2 freezes them and trains Dif on L_dif.
 * Sampling: DDIM(eta) or DDPM on the grid of SPEC 2.8 with self-conditioning,
 * then argmax of Dec.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/diffusion.h"
#include "duet/objective.h"
#include "duet/rng.h"
#include "joint.h"
#include "latnorm.h"
#include "objectives_impl.h"
#include "tokennet.h"

enum { MODE_JOINT1, MODE_JOINT2, MODE_SEPARATE };
enum { NET_ENC, NET_DIF, NET_DEC, NET_END };

typedef struct joint_impl {
    int mode, V, Dz, max_batch, max_seq;
    tokennet enc, dif, dec;
    latnorm norm;
    duet_vp vp;
    double t_min, sc_prob, lambda_c, tau_max;
    int lambda_ramp, switch_step;
    duet_params *params;   /* separate: toggles DUET_TF_FROZEN per stage */
    int tensors[NET_END + 1]; /* tensor index ranges of enc, dif, dec */
    uint32_t last_step;    /* last training step (picks the stage of validation) */
    double scale[3];       /* loss weights for the routing tests: ce, dif, enc */
    float *x0, *eps, *xin, *xhat, *g_xhat, *g_x0, *dxin; /* [rows, Dz] ([rows, 2Dz] xin, dxin) */
    float *tscaled;        /* [B] */
    double *at, *st;       /* [B] alpha_t, sigma_t */
    uint8_t *coin;         /* [B] self-conditioned pass */
    double m_acc, m_erms, m_x0std; /* metrics of the last training micro-batch */
} joint_impl;

void joint_set_loss_scales(duet_objective *o, double ce, double dif, double enc)
{
    joint_impl *m = o->impl;
    m->scale[0] = ce;
    m->scale[1] = dif;
    m->scale[2] = enc;
}

static int mode_of(const duet_objective *o)
{
    if (o->ops == &duet_objective_joint2)
        return MODE_JOINT2;
    return o->ops == &duet_objective_separate ? MODE_SEPARATE : MODE_JOINT1;
}

static duet_stack_config net_config(const duet_config *cfg, int n_layer, enum duet_cond_kind cond,
                                    int max_batch)
{
    duet_stack_config sc =
        tokennet_stack_config(cfg, DUET_MASK_BIDIR, cond, max_batch, cfg->seq_len);
    sc.n_layer = n_layer;
    return sc;
}

static int joint_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                        duet_err *err)
{
    joint_impl *m = duet_calloc(1, sizeof *m);
    o->impl = m;
    m->mode = mode_of(o);
    m->V = o->vocab_size;
    m->Dz = cfg->latent_dim;
    m->max_batch = max_batch;
    m->max_seq = cfg->seq_len;
    m->t_min = cfg->t_eps;
    m->sc_prob = cfg->self_cond_prob;
    m->lambda_c = cfg->lambda_c;
    m->lambda_ramp = cfg->lambda_c_ramp;
    m->switch_step = cfg->switch_step;
    m->tau_max = cfg->ae_tau_max;
    m->scale[0] = m->scale[1] = m->scale[2] = 1.0;
    m->params = p;
    if (duet_vp_parse(cfg->vp_schedule, cfg->vp_d, &m->vp) != 0)
        return duet_errf(err, "vp_schedule '%s' is not tan-d, cosine or sqrt", cfg->vp_schedule);
    latnorm_kind nk;
    if (latnorm_parse(cfg->latent_norm, &nk) != 0)
        return duet_errf(err, "latent_norm '%s' is not sphere, layer, batch or data",
                         cfg->latent_norm);
    const int Dz = m->Dz;
    enum duet_cond_kind cond = strcmp(cfg->time_cond, "add") == 0 ? DUET_COND_ADD : DUET_COND_ADALN;
    duet_stack_config se = net_config(cfg, cfg->enc_layers, DUET_COND_NONE, max_batch);
    duet_stack_config sd = net_config(cfg, cfg->n_layer, cond, max_batch);
    duet_stack_config sx = net_config(cfg, cfg->dec_layers, DUET_COND_NONE, max_batch);
    m->tensors[NET_ENC] = p->n;
    if (tokennet_create_io(&m->enc, p, "enc", m->V, 0, Dz, &se, 0, err) != 0)
        return -1;
    m->tensors[NET_DIF] = p->n;
    if (tokennet_create_io(&m->dif, p, "dif", 0, 2 * Dz, Dz, &sd, 1, err) != 0)
        return -1;
    m->tensors[NET_DEC] = p->n;
    if (tokennet_create_io(&m->dec, p, "dec", 0, Dz, m->V, &sx, 0, err) != 0)
        return -1;
    m->tensors[NET_END] = p->n;
    size_t rows = (size_t)max_batch * (size_t)cfg->seq_len;
    latnorm_create(&m->norm, nk, Dz, cfg->datanorm_alpha, (int)rows);
    m->x0 = duet_falloc(rows * Dz);
    m->eps = duet_falloc(rows * Dz);
    m->xin = duet_falloc(rows * 2 * Dz);
    m->dxin = duet_falloc(rows * 2 * Dz);
    m->xhat = duet_falloc(rows * Dz);
    m->g_xhat = duet_falloc(rows * Dz);
    m->g_x0 = duet_falloc(rows * Dz);
    m->tscaled = duet_falloc((size_t)max_batch);
    m->at = duet_calloc((size_t)max_batch, sizeof(double));
    m->st = duet_calloc((size_t)max_batch, sizeof(double));
    m->coin = duet_calloc((size_t)max_batch, 1);
    return 0;
}

static void joint_destroy(duet_objective *o)
{
    joint_impl *m = o->impl;
    if (!m)
        return;
    tokennet_free(&m->enc);
    tokennet_free(&m->dif);
    tokennet_free(&m->dec);
    if (m->norm.mu)
        latnorm_free(&m->norm);
    free(m->x0);
    free(m->eps);
    free(m->xin);
    free(m->dxin);
    free(m->xhat);
    free(m->g_xhat);
    free(m->g_x0);
    free(m->tscaled);
    free(m->at);
    free(m->st);
    free(m->coin);
    free(m);
}

/* Freezes what the current stage of `separate` does not train. */
static void set_frozen(joint_impl *m, int stage2)
{
    for (int net = NET_ENC; net < NET_END; net++) {
        int frozen = (net == NET_DIF) != stage2;
        for (int i = m->tensors[net]; i < m->tensors[net + 1]; i++) {
            unsigned *f = &m->params->t[i].flags;
            *f = frozen ? (*f | DUET_TF_FROZEN) : (*f & ~(unsigned)DUET_TF_FROZEN);
        }
    }
}

/* Keyed draws of row r: time (t in [t_min, 1], or tau in [0, tau_max] for
 * the autoencoder stage), noise, self-conditioning coin. */
static void draw_row(joint_impl *m, const duet_batch *b, uint64_t seed, int r, int ae_stage)
{
    const int Dz = m->Dz;
    uint32_t g = b->first_index + (uint32_t)r;
    duet_rng rt = duet_rng_keyed(seed, b->step, g, DUET_STREAM_TIME);
    double u = duet_rng_uniform64(&rt);
    double t = ae_stage ? m->tau_max * u : m->t_min + (1.0 - m->t_min) * u;
    duet_vp_alpha_sigma(&m->vp, t, &m->at[r], &m->st[r]);
    m->tscaled[r] = (float)(1000.0 * t);
    duet_rng rn = duet_rng_keyed(seed, b->step, g, DUET_STREAM_NOISE);
    float *e = m->eps + (size_t)r * b->L * Dz;
    for (size_t i = 0; i < (size_t)b->L * Dz; i++)
        e[i] = duet_rng_normal(&rn);
    duet_rng rc = duet_rng_keyed(seed, b->step, g, DUET_STREAM_SELFCOND);
    m->coin[r] = duet_rng_uniform64(&rc) < m->sc_prob;
}

/* out[r,l,:Dz] (row stride `stride`) = alpha_r x0 + sigma_r eps. */
static void noise_latents(const joint_impl *m, float *out, int stride, int B, int L)
{
    const int Dz = m->Dz;
    for (int r = 0; r < B; r++)
        for (int l = 0; l < L; l++) {
            size_t i = ((size_t)r * L + l) * Dz;
            float *o = out + ((size_t)r * L + l) * stride;
            for (int j = 0; j < Dz; j++)
                o[j] = (float)(m->at[r] * m->x0[i + j] + m->st[r] * m->eps[i + j]);
        }
}

/* Latent statistics for the progress line (collapse shows here). */
static void latent_metrics(joint_impl *m, const float *e, int rows)
{
    const int Dz = m->Dz;
    double ss = 0.0, sd = 0.0;
    for (size_t i = 0; i < (size_t)rows * Dz; i++)
        ss += (double)e[i] * e[i];
    for (int j = 0; j < Dz; j++) {
        double s1 = 0.0, s2 = 0.0;
        for (int r = 0; r < rows; r++) {
            double v = m->x0[(size_t)r * Dz + j];
            s1 += v;
            s2 += v * v;
        }
        s1 /= rows;
        sd += sqrt(fmax(s2 / rows - s1 * s1, 0.0));
    }
    m->m_erms = sqrt(ss / ((double)rows * Dz));
    m->m_x0std = sd / Dz;
}

/* Token accuracy of argmax logits [rows, V]. */
static double accuracy(const float *logits, const int32_t *tok, int rows, int V)
{
    int hit = 0;
    for (int r = 0; r < rows; r++)
        hit += argmax_logit(logits + (size_t)r * V, V, -1) == tok[r];
    return rows ? (double)hit / rows : 0.0;
}

/* Dif on xin with self-conditioning: pass A on every row, pass B (x_sc =
 * SG[pass A]) when some row's coin says so. Rows without the coin get x_sc =
 * 0 in pass B, which recomputes pass A for them exactly, so the caches of
 * the last pass serve every row's backward [choice: one batched pass B
 * instead of a subset]. Output in m->xhat. */
static void denoise(joint_impl *m, const float *W, int B, int L, int use_sc)
{
    const int Dz = m->Dz;
    const size_t rows = (size_t)B * L;
    for (size_t i = 0; i < rows; i++)
        memset(m->xin + i * 2 * Dz + Dz, 0, (size_t)Dz * sizeof(float));
    tokennet_forward_vec(&m->dif, W, m->xin, m->tscaled, NULL, B, L);
    int any = 0;
    for (int r = 0; r < B && use_sc; r++)
        any |= m->coin[r];
    if (any) {
        for (int r = 0; r < B; r++) {
            if (!m->coin[r])
                continue;
            for (int l = 0; l < L; l++) {
                size_t i = (size_t)r * L + l;
                memcpy(m->xin + i * 2 * Dz + Dz, m->dif.logits + i * Dz,
                       (size_t)Dz * sizeof(float));
            }
        }
        tokennet_forward_vec(&m->dif, W, m->xin, m->tscaled, NULL, B, L);
    }
    memcpy(m->xhat, m->dif.logits, rows * Dz * sizeof(float));
}

/* Encoder gradient from g_x0 (through Norm). */
static void encoder_backward(joint_impl *m, duet_dist *dist, const float *W, float *dW, int B,
                             int L)
{
    const size_t n = (size_t)B * L * m->Dz;
    memset(m->g_xhat, 0, n * sizeof(float)); /* scratch for de */
    latnorm_backward(&m->norm, dist, m->g_xhat, m->g_x0, NULL, B * L);
    memcpy(m->enc.logits, m->g_xhat, n * sizeof(float));
    tokennet_backward_ex(&m->enc, W, dW, NULL, NULL, B, L, NULL);
}

static void joint_forward_backward(duet_objective *o, const duet_step_ctx *ctx,
                                   const duet_batch *b, const float *W, float *dW, double *terms)
{
    joint_impl *m = o->impl;
    const int B = b->B, L = b->L, Dz = m->Dz, V = m->V, rows = B * L;
    const size_t n = (size_t)rows * Dz;
    const double count = loss_normalizer(ctx, 0);
    if (ctx->training)
        m->last_step = b->step;
    int stage2 = (int64_t)m->last_step >= m->switch_step;
    int ae_stage = m->mode == MODE_SEPARATE && !stage2;
    if (m->mode == MODE_SEPARATE && ctx->training)
        set_frozen(m, stage2);

    tokennet_forward(&m->enc, W, b->tokens, NULL, NULL, B, L);
    latnorm_forward(&m->norm, ctx->dist, m->x0, m->enc.logits, rows, ctx->training);
    if (ctx->training)
        latent_metrics(m, m->enc.logits, rows);
    for (int r = 0; r < B; r++)
        draw_row(m, b, ctx->seed, r, ae_stage);

    if (ae_stage) { /* separate, stage 1: CE(w, Dec(alpha_tau x0 + sigma_tau eps)) */
        noise_latents(m, m->xin, Dz, B, L);
        tokennet_forward_vec(&m->dec, W, m->xin, NULL, NULL, B, L);
        if (ctx->training)
            m->m_acc = accuracy(m->dec.logits, b->tokens, rows, V);
        double ce = duet_xent_forward_backward(dW ? m->dec.logits : NULL, NULL, m->dec.logits,
                                               b->tokens, NULL, (float)(m->scale[0] / count),
                                               rows, V, -1, -1);
        terms[0] = ce / count;
        terms[1] = 0.0;
        if (dW) {
            memset(m->dxin, 0, n * sizeof(float));
            tokennet_backward_ex(&m->dec, W, dW, m->dxin, NULL, B, L, NULL);
            for (int r = 0; r < B; r++)
                for (size_t i = (size_t)r * L * Dz; i < (size_t)(r + 1) * L * Dz; i++)
                    m->g_x0[i] = (float)(m->at[r] * m->dxin[i]);
            encoder_backward(m, ctx->dist, W, dW, B, L);
        }
        if (ctx->hook)
            ctx->hook->ready(ctx->hook->user, 0);
        return;
    }

    noise_latents(m, m->xin, 2 * Dz, B, L);
    denoise(m, W, B, L, 1);
    double dif = duet_sqerr_forward(m->xhat, m->x0, n) / (count * Dz);
    tokennet_forward_vec(&m->dec, W, m->xhat, NULL, NULL, B, L);
    if (ctx->training)
        m->m_acc = accuracy(m->dec.logits, b->tokens, rows, V);
    int train_ae = dW && m->mode != MODE_SEPARATE;
    double ce = duet_xent_forward_backward(train_ae ? m->dec.logits : NULL, NULL, m->dec.logits,
                                           b->tokens, NULL, (float)(m->scale[0] / count), rows,
                                           V, -1, -1);
    terms[0] = ce / count;
    terms[1] = dif;
    double lam = m->lambda_c;
    if (m->lambda_ramp > 0 && (int64_t)m->last_step < m->lambda_ramp)
        lam *= (double)m->last_step / m->lambda_ramp;
    if (m->mode == MODE_JOINT2)
        terms[2] = lam * dif;
    if (dW) {
        /* (a) L_dif: Dif parameters only; x0 is a constant target */
        memset(m->dif.logits, 0, n * sizeof(float));
        duet_sqerr_backward(m->dif.logits, NULL, m->xhat, m->x0,
                            (float)(m->scale[1] / (count * Dz)), n);
        if (train_ae) {
            /* Dec first: its input gradient is L_ae's cotangent at x0_hat */
            memset(m->g_xhat, 0, n * sizeof(float));
            tokennet_backward_ex(&m->dec, W, dW, m->g_xhat, NULL, B, L, NULL);
        }
        tokennet_backward_ex(&m->dif, W, dW, NULL, NULL, B, L, NULL);
        if (train_ae) {
            /* (b) L_ae through Dif's activations to x_t, no Dif parameter gradient */
            memcpy(m->dif.logits, m->g_xhat, n * sizeof(float));
            memset(m->dxin, 0, (size_t)rows * 2 * Dz * sizeof(float));
            tokennet_backward_ex(&m->dif, W, NULL, m->dxin, NULL, B, L, NULL);
            for (int r = 0; r < B; r++)
                for (int l = 0; l < L; l++) {
                    size_t i = ((size_t)r * L + l) * Dz;
                    const float *dxt = m->dxin + ((size_t)r * L + l) * 2 * Dz;
                    for (int j = 0; j < Dz; j++)
                        m->g_x0[i + j] = (float)(m->at[r] * dxt[j]);
                }
            if (m->mode == MODE_JOINT2) /* lambda ||x0 - SG[x0_hat]||^2 reaches x0 only */
                duet_sqerr_backward(m->g_x0, NULL, m->x0, m->xhat,
                                    (float)(m->scale[2] * lam / (count * Dz)), n);
            encoder_backward(m, ctx->dist, W, dW, B, L);
        }
    }
    if (ctx->hook)
        ctx->hook->ready(ctx->hook->user, 0);
}

static void joint_end_step(duet_objective *o, duet_dist *dist, uint32_t step, uint64_t seed)
{
    (void)dist;
    (void)step;
    (void)seed;
    joint_impl *m = o->impl;
    latnorm_end_step(&m->norm);
}

static size_t joint_state_bytes(const duet_objective *o)
{
    const joint_impl *m = o->impl;
    return latnorm_state_bytes(&m->norm);
}

static void joint_state_save(const duet_objective *o, void *buf)
{
    const joint_impl *m = o->impl;
    latnorm_state_save(&m->norm, buf);
}

static int joint_state_load(duet_objective *o, const void *buf, size_t bytes, duet_err *err)
{
    joint_impl *m = o->impl;
    return latnorm_state_load(&m->norm, buf, bytes, err);
}

static int joint_metrics(const duet_objective *o, duet_named_value *out, int max)
{
    const joint_impl *m = o->impl;
    const duet_named_value v[] = {{"acc", m->m_acc}, {"e_rms", m->m_erms}, {"x0_std", m->m_x0std}};
    int k = 0;
    for (; k < (int)(sizeof v / sizeof v[0]) && k < max; k++)
        out[k] = v[k];
    return k;
}

static int joint_sample(duet_objective *o, const float *W, const duet_sample_opts *opts,
                        int32_t *out, double *nfe, duet_err *err)
{
    joint_impl *m = o->impl;
    const int N = opts->n, L = opts->len, Dz = m->Dz, V = m->V;
    const int S = opts->steps > 0 ? opts->steps : 100;
    if (L > m->max_seq)
        return duet_errf(err, "sample_len %d exceeds the model's seq_len %d", L, m->max_seq);
    if (N > m->max_batch)
        return duet_errf(err, "%d samples per call exceed the allocated %d", N, m->max_batch);
    if (opts->prompt_len > 0)
        return duet_errf(err, "objective '%s' generates unconditionally: prompt is not supported",
                         o->ops->name);
    int ddpm = opts->cfg && strcmp(opts->cfg->latent_sampler, "ddpm") == 0;
    double eta = opts->cfg ? opts->cfg->ddim_eta : 0.0;
    int use_sc = m->sc_prob > 0;
    const size_t per = (size_t)L * Dz, n = (size_t)N * per;
    float *x = m->x0, *z = m->eps; /* training buffers are free while sampling */
    for (int r = 0; r < N; r++) {
        duet_rng rng = duet_rng_keyed(opts->seed, 0, opts->first_index + (uint32_t)r,
                                      DUET_STREAM_SAMPLE);
        for (size_t i = 0; i < per; i++)
            x[(size_t)r * per + i] = duet_rng_normal(&rng);
    }
    memset(m->xhat, 0, n * sizeof(float)); /* x_sc = 0 */
    for (int r = 0; r < N; r++)
        m->coin[r] = 1;
    for (int i = 0; i <= S; i++) {
        double t = 1.0 - (1.0 - m->t_min) * i / S;
        for (int r = 0; r < N; r++)
            m->tscaled[r] = (float)(1000.0 * t);
        for (size_t k = 0; k < (size_t)N * L; k++) {
            memcpy(m->xin + k * 2 * Dz, x + k * Dz, (size_t)Dz * sizeof(float));
            if (use_sc)
                memcpy(m->xin + k * 2 * Dz + Dz, m->xhat + k * Dz, (size_t)Dz * sizeof(float));
            else
                memset(m->xin + k * 2 * Dz + Dz, 0, (size_t)Dz * sizeof(float));
        }
        tokennet_forward_vec(&m->dif, W, m->xin, m->tscaled, NULL, N, L);
        memcpy(m->xhat, m->dif.logits, n * sizeof(float));
        *nfe += 1.0;
        if (i == S)
            break; /* final x0_hat = Dif(x, x_sc, t_min) */
        double s = 1.0 - (1.0 - m->t_min) * (i + 1) / S, at, st, as, ss;
        duet_vp_alpha_sigma(&m->vp, t, &at, &st);
        duet_vp_alpha_sigma(&m->vp, s, &as, &ss);
        for (int r = 0; r < N; r++) {
            duet_rng rng = duet_rng_keyed(opts->seed, (uint32_t)i + 1,
                                          opts->first_index + (uint32_t)r, DUET_STREAM_SAMPLE);
            for (size_t k = 0; k < per; k++)
                z[(size_t)r * per + k] = duet_rng_normal(&rng);
        }
        if (ddpm)
            duet_ddpm_step(x, m->xhat, z, n, at, st, as, ss);
        else
            duet_ddim_step(x, m->xhat, z, n, at, st, as, ss, eta);
    }
    tokennet_forward_vec(&m->dec, W, m->xhat, NULL, NULL, N, L);
    for (size_t k = 0; k < (size_t)N * L; k++)
        out[k] = argmax_logit(m->dec.logits + k * V, V, -1);
    return 0;
}

#define JOINT_OPS(NAME, NTERMS, ...)                                                           \
    {                                                                                          \
        .name = NAME, .ncounts = 1, .nterms = NTERMS, .term_names = {__VA_ARGS__},             \
        .create = joint_create, .destroy = joint_destroy, .count = objective_count_tokens,     \
        .forward_backward = joint_forward_backward, .end_step = joint_end_step,                \
        .state_bytes = joint_state_bytes, .state_save = joint_state_save,                      \
        .state_load = joint_state_load, .metrics = joint_metrics, .sample = joint_sample,      \
    }

const duet_objective_ops duet_objective_joint1 = JOINT_OPS("joint1", 2, "ce", "dif");
const duet_objective_ops duet_objective_joint2 = JOINT_OPS("joint2", 3, "ce", "dif", "enc");
const duet_objective_ops duet_objective_separate = JOINT_OPS("separate", 2, "ce", "dif");
