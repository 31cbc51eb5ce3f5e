/* `lddm-fuji`, `lddm-seq`: masked token diffusion coupled with a Gaussian
 * latent chain over Ly slots (SPEC 5, continuous latents).
 *
 * Latents y0 come from a frozen encoder (lddm.h). Both chains share one time
 * t per sequence (low-discrepancy, then shifted).
 *   FUJI: one joint denoiser D(x_t, y_t, t) predicts tokens and y0; loss =
 *         CE over masked tokens + lambda * MSE of y0 (p_cfg-dropped sequences
 *         see y = 0 and have no latent loss).
 *   SEQ:  D(x_t, y0, t_lat = 0) predicts tokens given the clean latent; a
 *         latent-only prior G(y_t, t) predicts y0. Sampling runs the latent
 *         chain with G first, then the token chain with D.
 * Counts: [0] sequences (L_tok is a per-sequence mean), [1] latent elements
 * of the sequences with a latent loss. With lddm_elbo the per-element
 * weights become the ELBO weights of SPEC 5.3.
 */
#include "lddm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/data.h"
#include "duet/diffusion.h"
#include "duet/objective.h"
#include "duet/rng.h"
#include "masked_core.h"
#include "objectives_impl.h"
#include "tokennet.h"

/* ------------------------------------------------------------ the network */

int lddm_net_create(lddm_net *n, duet_params *p, const duet_config *cfg, const char *prefix,
                    int V, int yhead, int max_batch, duet_err *err)
{
    memset(n, 0, sizeof *n);
    n->V = V;
    n->yhead = yhead;
    n->D = cfg->dim;
    n->Dy = cfg->lddm_slot_dim;
    n->Ly = cfg->lddm_slots;
    n->max_batch = max_batch;
    n->max_len = V > 0 ? cfg->seq_len : 0;
    int D = n->D, Dy = n->Dy, H = 4 * n->D;
    float std = (float)cfg->init_std;
    char name[DUET_TENSOR_NAME_MAX];
    n->off_lo = p->total;
    if (V > 0) {
        snprintf(name, sizeof name, "%s.emb", prefix);
        n->off_emb = p->total;
        duet_params_add(p, name, 2, (int[]){V, D}, DUET_INIT_NORMAL, std, 0);
    }
    snprintf(name, sizeof name, "%s.yin1", prefix);
    n->off_y1 = p->total;
    duet_params_add(p, name, 2, (int[]){H, Dy}, DUET_INIT_NORMAL, std, DUET_TF_DECAY);
    snprintf(name, sizeof name, "%s.yin2", prefix);
    n->off_y2 = p->total;
    duet_params_add(p, name, 2, (int[]){D, H}, DUET_INIT_NORMAL, std, DUET_TF_DECAY);
    snprintf(name, sizeof name, "%s.time", prefix);
    duet_time_embed_create(&n->te, p, name, D, max_batch, std);
    int T = n->max_len + n->Ly;
    duet_stack_config sc =
        tokennet_stack_config(cfg, DUET_MASK_BIDIR, DUET_COND_ADALN, max_batch, T);
    snprintf(name, sizeof name, "%s.blocks", prefix);
    n->stack = duet_stack_create(p, name, &sc, err);
    if (!n->stack)
        return -1;
    if (V > 0) {
        snprintf(name, sizeof name, "%s.head", prefix);
        n->off_head = p->total;
        duet_params_add(p, name, 2, (int[]){V, D}, DUET_INIT_ZERO, std, DUET_TF_DECAY);
    }
    if (yhead) {
        snprintf(name, sizeof name, "%s.yhead", prefix);
        n->off_yhead = p->total;
        duet_params_add(p, name, 2, (int[]){Dy, D}, DUET_INIT_ZERO, std, DUET_TF_DECAY);
    }
    size_t B = (size_t)max_batch, rows = B * (size_t)T, xr = B * (size_t)n->max_len,
           yr = B * (size_t)n->Ly;
    n->h = duet_falloc(rows * D);
    n->dh = duet_falloc(rows * D);
    n->din = duet_falloc(rows * D);
    n->yin = duet_falloc(yr * Dy);
    n->ypre = duet_falloc(yr * H);
    n->yact = duet_falloc(yr * H);
    n->dpre = duet_falloc(yr * H);
    n->dact = duet_falloc(yr * H);
    n->ox = duet_falloc(xr * D + 1);
    n->dox = duet_falloc(xr * D + 1);
    n->oy = duet_falloc(yr * D);
    n->doy = duet_falloc(yr * D);
    n->logits = duet_falloc(xr * (size_t)V + 1);
    n->yhat = duet_falloc(yr * Dy);
    n->dyhat = duet_falloc(yr * Dy);
    n->temb = duet_falloc(B * D);
    n->dtemb = duet_falloc(B * D);
    n->ids = duet_malloc((xr + 1) * sizeof(int32_t));
    return 0;
}

void lddm_net_free(lddm_net *n)
{
    if (!n->stack && !n->h)
        return;
    duet_stack_free(n->stack);
    duet_time_embed_free(&n->te);
    float *bufs[] = {n->h,   n->dh,  n->din, n->yin,    n->ypre, n->yact,  n->dpre, n->dact,
                     n->ox,  n->dox, n->oy,  n->doy,    n->logits, n->yhat, n->dyhat, n->temb,
                     n->dtemb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(n->ids);
    memset(n, 0, sizeof *n);
}

/* joint [B, L+Ly, D] <-> token rows [B*L, D] and slot rows [B*Ly, D] */
static void join(float *h, const float *x, const float *y, int B, int L, int Ly, int D)
{
    for (int b = 0; b < B; b++) {
        float *hb = h + (size_t)b * (L + Ly) * D;
        memcpy(hb, x + (size_t)b * L * D, (size_t)L * D * sizeof(float));
        memcpy(hb + (size_t)L * D, y + (size_t)b * Ly * D, (size_t)Ly * D * sizeof(float));
    }
}

static void split(const float *h, float *x, float *y, int B, int L, int Ly, int D)
{
    for (int b = 0; b < B; b++) {
        const float *hb = h + (size_t)b * (L + Ly) * D;
        memcpy(x + (size_t)b * L * D, hb, (size_t)L * D * sizeof(float));
        memcpy(y + (size_t)b * Ly * D, hb + (size_t)L * D, (size_t)Ly * D * sizeof(float));
    }
}

static duet_stack_io net_io(const lddm_net *n)
{
    duet_stack_io io;
    memset(&io, 0, sizeof io);
    io.cond = n->temb;
    io.self_mask.mode = DUET_MASK_BIDIR;
    return io;
}

void lddm_net_forward(lddm_net *n, const float *W, const int32_t *ids, const float *y_in,
                      const float *time_scaled, int B, int L)
{
    if (B > n->max_batch || L > n->max_len)
        duet_fatal("lddm: batch %dx%d exceeds the allocated %dx%d", B, L, n->max_batch,
                   n->max_len);
    int D = n->D, Dy = n->Dy, Ly = n->Ly, H = 4 * D;
    size_t xr = (size_t)B * L, yr = (size_t)B * Ly;
    if (L > 0) {
        memcpy(n->ids, ids, xr * sizeof(int32_t));
        duet_embedding_forward(n->ox, ids, W + n->off_emb, (int)xr, D);
    }
    memcpy(n->yin, y_in, yr * Dy * sizeof(float));
    duet_linear_forward(n->ypre, n->yin, W + n->off_y1, NULL, (int)yr, Dy, H);
    duet_silu_forward(n->yact, n->ypre, yr * H);
    duet_linear_forward(n->oy, n->yact, W + n->off_y2, NULL, (int)yr, H, D);
    join(n->h, n->ox, n->oy, B, L, Ly, D);
    duet_time_embed_forward(&n->te, W, n->temb, time_scaled, B);
    duet_stack_io io = net_io(n);
    duet_stack_forward(n->stack, W, n->h, &io, B, L + Ly);
    split(n->h, n->ox, n->oy, B, L, Ly, D);
    if (L > 0)
        duet_linear_forward(n->logits, n->ox, W + n->off_head, NULL, (int)xr, D, n->V);
    if (n->yhead)
        duet_linear_forward(n->yhat, n->oy, W + n->off_yhead, NULL, (int)yr, D, Dy);
}

void lddm_net_backward(lddm_net *n, const float *W, float *dW, int B, int L,
                       const duet_grad_hook *hook)
{
    int D = n->D, Dy = n->Dy, Ly = n->Ly, H = 4 * D, T = L + Ly;
    size_t xr = (size_t)B * L, yr = (size_t)B * Ly;
    memset(n->dox, 0, xr * D * sizeof(float));
    memset(n->doy, 0, yr * D * sizeof(float));
    if (L > 0)
        duet_linear_backward(n->dox, dW + n->off_head, NULL, n->logits, n->ox, W + n->off_head,
                             (int)xr, D, n->V);
    if (n->yhead)
        duet_linear_backward(n->doy, dW + n->off_yhead, NULL, n->dyhat, n->oy, W + n->off_yhead,
                             (int)yr, D, Dy);
    if (hook && (L > 0 || n->yhead))
        hook->ready(hook->user, L > 0 ? n->off_head : n->off_yhead);
    join(n->dh, n->dox, n->doy, B, L, Ly, D);
    memset(n->din, 0, (size_t)B * T * D * sizeof(float));
    memset(n->dtemb, 0, (size_t)B * D * sizeof(float));
    duet_stack_io io = net_io(n);
    duet_stack_backward(n->stack, W, dW, n->dh, n->din, n->dtemb, NULL, &io, B, T, hook);
    duet_time_embed_backward(&n->te, W, dW, n->dtemb, B);
    split(n->din, n->dox, n->doy, B, L, Ly, D);
    if (L > 0)
        duet_embedding_backward(dW + n->off_emb, n->dox, n->ids, (int)xr, D);
    memset(n->dact, 0, yr * H * sizeof(float));
    memset(n->dpre, 0, yr * H * sizeof(float));
    duet_linear_backward(n->dact, dW + n->off_y2, NULL, n->doy, n->yact, W + n->off_y2, (int)yr,
                         H, D);
    duet_silu_backward(n->dpre, n->dact, n->ypre, yr * H);
    duet_linear_backward(NULL, dW + n->off_y1, NULL, n->dpre, n->yin, W + n->off_y1, (int)yr, Dy,
                         H);
    if (hook)
        hook->ready(hook->user, n->off_lo);
}

/* ------------------------------------------------------------ the encoder */

void lddm_encode(float *y0, const float *E, const int32_t *enc_ids, const int32_t *tokens, int B,
                 int L, int Ly, int Dy)
{
    memset(y0, 0, (size_t)B * Ly * Dy * sizeof(float));
    int cnt[4096];
    for (int b = 0; b < B; b++) {
        const int32_t *tok = tokens + (size_t)b * L, *ids = enc_ids + (size_t)b * L;
        float *yb = y0 + (size_t)b * Ly * Dy;
        int Le = 0;
        for (int l = 0; l < L; l++)
            Le += tok[l] != DUET_TOK_PAD;
        if (Le < Ly || Le < 2)
            continue;
        memset(cnt, 0, (size_t)Ly * sizeof(int));
        int r = 0;
        for (int l = 0; l < L; l++) {
            if (tok[l] == DUET_TOK_PAD)
                continue;
            int slot = r == Le - 1 ? Ly - 1 : (int)((int64_t)r * (Ly - 1) / (Le - 1));
            const float *e = E + (size_t)ids[l] * Dy;
            for (int j = 0; j < Dy; j++)
                yb[(size_t)slot * Dy + j] += e[j];
            cnt[slot]++;
            r++;
        }
        /* the slot mean's scale cancels in the normalization */
        for (int s = 0; s < Ly; s++) {
            float *v = yb + (size_t)s * Dy;
            double ss = 0.0;
            for (int j = 0; j < Dy; j++)
                ss += (double)v[j] * v[j];
            float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
            for (int j = 0; j < Dy; j++)
                v[j] *= inv;
        }
    }
}

/* ------------------------------------------------------------ objective */

typedef struct lddm_impl {
    int seq; /* SEQ (else FUJI) */
    int Ly, Dy;
    lddm_net den;   /* D_theta */
    lddm_net prior; /* G_phi (SEQ only) */
    size_t off_enc;
    int32_t *z, *targets, *enc_ids; /* [B*L] */
    float *weights;                 /* [B*L] */
    float *y0, *yt, *yin;           /* [B*Ly*Dy] */
    float *lat_w;                   /* [B]: latent-loss weight (0 = no latent loss) */
    float *tscaled, *tzero;         /* [B] */
    float *probs;                   /* [V] */
} lddm_impl;

lddm_net *lddm_denoiser(duet_objective *o) { return &((lddm_impl *)o->impl)->den; }

/* Per-sequence draws besides the mask and the noise. */
typedef struct lddm_draw {
    double t;
    int drop;    /* p_cfg: latent input zeroed */
    int corrupt; /* p_r coin: encoder sees MASK at masked positions */
} lddm_draw;

static lddm_draw draw_row(const duet_config *cfg, uint64_t seed, const duet_batch *b, int r)
{
    uint32_t g = b->first_index + (uint32_t)r;
    lddm_draw d;
    d.t = duet_lddm_shift(duet_lowdisc_time(seed, b->step, g, b->global_batch, DUET_LDDM_E),
                          cfg->lddm_shift);
    duet_rng rng = duet_rng_keyed(seed, b->step, g, DUET_STREAM_DROPOUT);
    d.drop = duet_rng_uniform64(&rng) < cfg->lddm_p_cfg;
    double p_r = duet_rng_uniform64(&rng) * cfg->lddm_p_r;
    d.corrupt = duet_rng_uniform64(&rng) < p_r;
    return d;
}

static int lddm_create_common(duet_objective *o, const duet_config *cfg, duet_params *p,
                              int max_batch, int seq, duet_err *err)
{
    lddm_impl *m = duet_calloc(1, sizeof *m);
    o->impl = m;
    m->seq = seq;
    m->Ly = cfg->lddm_slots;
    m->Dy = cfg->lddm_slot_dim;
    if (m->Ly > 4096)
        return duet_errf(err, "lddm_slots %d exceeds 4096", m->Ly);
    int V = o->vocab_size;
    m->off_enc = p->total;
    duet_params_add(p, "lddm.enc", 2, (int[]){V, m->Dy}, DUET_INIT_NORMAL, 1.0f, DUET_TF_FROZEN);
    if (lddm_net_create(&m->den, p, cfg, "lddm.den", V, !seq, max_batch, err) != 0)
        return -1;
    if (seq && lddm_net_create(&m->prior, p, cfg, "lddm.prior", 0, 1, max_batch, err) != 0)
        return -1;
    size_t rows = (size_t)max_batch * cfg->seq_len, yn = (size_t)max_batch * m->Ly * m->Dy;
    m->z = duet_malloc(rows * sizeof(int32_t));
    m->targets = duet_malloc(rows * sizeof(int32_t));
    m->enc_ids = duet_malloc(rows * sizeof(int32_t));
    m->weights = duet_falloc(rows);
    m->y0 = duet_falloc(yn);
    m->yt = duet_falloc(yn);
    m->yin = duet_falloc(yn);
    m->lat_w = duet_falloc((size_t)max_batch);
    m->tscaled = duet_falloc((size_t)max_batch);
    m->tzero = duet_falloc((size_t)max_batch);
    m->probs = duet_falloc((size_t)V);
    return 0;
}

static int fuji_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                       duet_err *err)
{
    return lddm_create_common(o, cfg, p, max_batch, 0, err);
}

static int seq_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                      duet_err *err)
{
    return lddm_create_common(o, cfg, p, max_batch, 1, err);
}

static void lddm_destroy(duet_objective *o)
{
    lddm_impl *m = o->impl;
    if (!m)
        return;
    lddm_net_free(&m->den);
    lddm_net_free(&m->prior);
    free(m->z);
    free(m->targets);
    free(m->enc_ids);
    free(m->weights);
    free(m->y0);
    free(m->yt);
    free(m->yin);
    free(m->lat_w);
    free(m->tscaled);
    free(m->tzero);
    free(m->probs);
    free(m);
}

static void lddm_count(duet_objective *o, const duet_batch *b, uint64_t seed, double *counts)
{
    lddm_impl *m = o->impl;
    double kept = 0;
    for (int r = 0; r < b->B; r++)
        kept += m->seq || !draw_row(o->cfg, seed, b, r).drop;
    counts[0] = b->B;
    counts[1] = kept * m->Ly * m->Dy;
}

/* Fills the denoiser inputs, targets and weights of a micro-batch. */
static void corrupt(duet_objective *o, const duet_batch *b, uint64_t seed, int training,
                    const float *W)
{
    lddm_impl *m = o->impl;
    const duet_config *cfg = o->cfg;
    int L = b->L, Ly = m->Ly, Dy = m->Dy;
    size_t ny = (size_t)Ly * Dy;
    lddm_draw *d = duet_malloc((size_t)b->B * sizeof *d);
    for (int r = 0; r < b->B; r++) {
        uint32_t g = b->first_index + (uint32_t)r;
        d[r] = draw_row(cfg, seed, b, r);
        double t = d[r].t, p_mask = 1.0 - duet_lddm_alpha(t);
        const int32_t *tok = b->tokens + (size_t)r * L;
        int Lb = 0;
        for (int l = 0; l < L; l++)
            Lb += tok[l] != DUET_TOK_PAD;
        float w = (float)((cfg->lddm_elbo ? duet_lddm_tok_weight(t) : 1.0) / DUET_MAX(Lb, 1));
        m->tscaled[r] = (float)(1000.0 * t);
        m->tzero[r] = 0.0f;
        duet_rng rng = duet_rng_keyed(seed, b->step, g, DUET_STREAM_MASK);
        for (int l = 0; l < L; l++) {
            size_t i = (size_t)r * L + l;
            int masked = duet_rng_uniform(&rng) < p_mask && tok[l] != DUET_TOK_PAD;
            m->z[i] = masked ? DUET_TOK_MASK : tok[l];
            m->targets[i] = masked ? tok[l] : -1;
            m->weights[i] = w;
            m->enc_ids[i] = masked && training && d[r].corrupt ? DUET_TOK_MASK : tok[l];
        }
    }
    lddm_encode(m->y0, W + m->off_enc, m->enc_ids, b->tokens, b->B, L, Ly, Dy);
    for (int r = 0; r < b->B; r++) {
        double a, s;
        duet_lddm_lat_as(d[r].t, &a, &s);
        duet_rng rng = duet_rng_keyed(seed, b->step, b->first_index + (uint32_t)r,
                                      DUET_STREAM_NOISE);
        const float *y0 = m->y0 + r * ny;
        float *yt = m->yt + r * ny, *yin = m->yin + r * ny;
        for (size_t j = 0; j < ny; j++)
            yt[j] = (float)(a * y0[j] + s * duet_rng_normal(&rng));
        const float *src = m->seq ? y0 : yt;
        for (size_t j = 0; j < ny; j++)
            yin[j] = d[r].drop ? 0.0f : src[j];
        int lat_loss = m->seq || !d[r].drop;
        m->lat_w[r] = lat_loss ? (float)(cfg->lddm_elbo ? duet_lddm_lat_weight(d[r].t) : 1.0) : 0.0f;
    }
    free(d);
}

/* Latent loss sum_r lat_w[r] ||yhat_r - y0_r||^2 / count; writes dyhat. */
static double latent_loss(lddm_impl *m, lddm_net *n, int B, double count, double lambda)
{
    size_t ny = (size_t)m->Ly * m->Dy;
    double sum = 0.0;
    for (int r = 0; r < B; r++) {
        const float *yh = n->yhat + r * ny, *y0 = m->y0 + r * ny;
        float *dy = n->dyhat + r * ny;
        memset(dy, 0, ny * sizeof(float));
        if (m->lat_w[r] == 0.0f)
            continue;
        sum += m->lat_w[r] * duet_sqerr_forward(yh, y0, ny);
        duet_sqerr_backward(dy, NULL, yh, y0, (float)(lambda * m->lat_w[r] / count), ny);
    }
    return lambda * sum / count;
}

static void lddm_forward_backward(duet_objective *o, const duet_step_ctx *ctx,
                                  const duet_batch *b, const float *W, float *dW, double *terms)
{
    lddm_impl *m = o->impl;
    const duet_config *cfg = o->cfg;
    int B = b->B, L = b->L;
    corrupt(o, b, ctx->seed, ctx->training, W);
    double c_tok = loss_normalizer(ctx, 0);
    double c_lat = loss_normalizer(ctx, 1);
    lddm_net *lat = m->seq ? &m->prior : &m->den;
    if (m->seq)
        lddm_net_forward(&m->prior, W, NULL, m->yt, m->tscaled, B, 0);
    terms[1] = latent_loss(m, lat, B, c_lat, cfg->lddm_lambda_lat);
    if (m->seq && dW)
        lddm_net_backward(&m->prior, W, dW, B, 0, ctx->hook);
    lddm_net_forward(&m->den, W, m->z, m->yin, m->seq ? m->tzero : m->tscaled, B, L);
    if (!m->seq)
        terms[1] = latent_loss(m, &m->den, B, c_lat, cfg->lddm_lambda_lat);
    double sum = duet_xent_forward_backward(dW ? m->den.logits : NULL, NULL, m->den.logits,
                                            m->targets, m->weights, (float)(1.0 / c_tok),
                                            B * L, o->vocab_size, -1, DUET_TOK_MASK);
    terms[0] = sum / c_tok;
    if (dW) {
        lddm_net_backward(&m->den, W, dW, B, L, ctx->hook);
        if (ctx->hook)
            ctx->hook->ready(ctx->hook->user, m->off_enc);
    }
}

/* ------------------------------------------------------------ sampling */

/* Runs SEQ's latent chain (prior G) on y [n, Ly, Dy]: K DDIM steps from
 * t = 1, then y = y0_hat at t = 1e-5 (K + 1 calls). */
static void latent_chain(lddm_impl *m, lddm_net *net, const float *W, float *y, int n, int K,
                         double *nfe)
{
    size_t ny = (size_t)n * m->Ly * m->Dy;
    for (int i = 0; i <= K; i++) {
        double t = duet_lddm_grid(i, K);
        for (int r = 0; r < n; r++)
            m->tscaled[r] = (float)(1000.0 * t);
        lddm_net_forward(net, W, NULL, y, m->tscaled, n, 0);
        *nfe += 1.0;
        if (i == K) {
            memcpy(y, net->yhat, ny * sizeof(float));
            break;
        }
        double at, st, as, ss;
        duet_lddm_lat_as(t, &at, &st);
        duet_lddm_lat_as(duet_lddm_grid(i + 1, K), &as, &ss);
        duet_ddim_step(y, net->yhat, NULL, ny, at, st, as, ss, 0.0);
    }
}

static int lddm_sample(duet_objective *o, const float *W, const duet_sample_opts *opts,
                       int32_t *out, double *nfe, duet_err *err)
{
    lddm_impl *m = o->impl;
    int n = opts->n, len = opts->len, V = o->vocab_size;
    int K = opts->steps > 0 ? opts->steps : 16;
    if (len > m->den.max_len)
        return duet_errf(err, "sample_len %d exceeds the model's seq_len %d", len, m->den.max_len);
    if (opts->prompt_len > len)
        return duet_errf(err, "prompt of %d tokens does not fit in %d tokens", opts->prompt_len, len);
    for (int r = 0; r < n; r++)
        for (int l = 0; l < len; l++)
            out[(size_t)r * len + l] = l < opts->prompt_len ? opts->prompt[l] : DUET_TOK_MASK;
    size_t ny = (size_t)m->Ly * m->Dy;
    float *y = m->yt;
    for (int r = 0; r < n; r++) {
        duet_rng rng = duet_rng_keyed(opts->seed, 0, opts->first_index + (uint32_t)r,
                                      DUET_STREAM_NOISE);
        for (size_t j = 0; j < ny; j++)
            y[r * ny + j] = duet_rng_normal(&rng);
    }
    /* the token chain's unmasking draws, as mdlm's sampler makes them */
    const mdm unmask = {.V = V, .mask = DUET_TOK_MASK, .sample_stream = DUET_STREAM_SAMPLE};
    if (m->seq) {
        int Klat = opts->cfg && opts->cfg->lddm_lat_steps > 0 ? opts->cfg->lddm_lat_steps : m->Ly;
        latent_chain(m, &m->prior, W, y, n, Klat, nfe);
    }
    for (int i = 0; i <= K; i++) {
        double t = duet_lddm_grid(i, K);
        for (int r = 0; r < n; r++)
            m->tscaled[r] = m->seq ? 0.0f : (float)(1000.0 * t);
        lddm_net_forward(&m->den, W, out, y, m->tscaled, n, len);
        *nfe += 1.0;
        /* the final call (noise removal) fills every remaining MASK */
        double s = i < K ? duet_lddm_grid(i + 1, K) : 0.0;
        double p_unmask = i < K ? duet_lddm_unmask_prob(t, s) : 1.0;
        if (!m->seq && i < K) {
            double at, st, as, ss;
            duet_lddm_lat_as(t, &at, &st);
            duet_lddm_lat_as(s, &as, &ss);
            duet_ddim_step(y, m->den.yhat, NULL, (size_t)n * ny, at, st, as, ss, 0.0);
        }
        mdm_unmask_step(&unmask, out, m->den.logits, n, len, p_unmask, opts->temperature,
                        opts->seed, (uint32_t)i, opts->first_index, m->probs);
    }
    return 0;
}

/* The two variants differ only in name and create. */
#define LDDM_OPS(NAME, CREATE)                                                                 \
    {                                                                                          \
        .name = NAME, .ncounts = 2, .nterms = 2, .term_names = {"tok", "lat"},                 \
        .create = CREATE, .destroy = lddm_destroy, .count = lddm_count,                        \
        .forward_backward = lddm_forward_backward, .sample = lddm_sample,                      \
    }

const duet_objective_ops duet_objective_lddm_fuji = LDDM_OPS("lddm-fuji", fuji_create);
const duet_objective_ops duet_objective_lddm_seq = LDDM_OPS("lddm-seq", seq_create);
