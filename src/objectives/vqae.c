/* `vqae`: hierarchical VQ autoencoder over token sequences (SPEC 3.1, 3.2).
 *
 *   h0  = Blocks_enc(Embed(w))                      [B,L,D]
 *   hb  = PatchPool_K1(h0)                          [B,Lb,D]
 *   ht  = Linear(Blocks_top(PatchPool_r(hb)))       [B,Lt,Dc]   r = K2/K1
 *   qt  = VQ_t(ht)
 *   ut  = PatchUnpool_r(Blocks_tdec(Linear(qt)))    [B,Lb,D]
 *   hb' = Linear(concat(hb, ut))                    [B,Lb,Dc]
 *   qb  = VQ_b(hb')
 *   d   = PatchUnpool_K1(concat(qb, Up_r(qt)))      [B,L,D]
 *   logits = Head(Blocks_dec(d))
 * Loss: CE / (B_g L) + beta (|ht - SG qt|^2 / (B_g Lt Dc) + |hb' - SG qb|^2 /
 * (B_g Lb Dc)); straight-through gradients; codebooks follow EMAs (vq.h).
 * [choice] Patch pooling and unpooling (vq.h) instead of the spec's mean
 * pooling and repetition (Pool, Up): with repetition every position of a
 * span got the same decoder input and decoded samples repeated each token
 * about K1 times; a mean also discards the order inside a patch. Up_r(qt)
 * in the decoder input stays a repetition: qb already differs per position.
 * Codebooks are initialised from the first micro-batch's encoder outputs
 * (top first: hb' depends on qt) and dead codes restarted every
 * vq_restart_every steps after vq_restart_warmup.
 */
#include "vqae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/data.h"
#include "duet/rng.h"
#include "objectives_impl.h"
#include "tokennet.h"
#include "vq.h"

#define STREAM_INIT_T (DUET_STREAM_USER + 10)
#define STREAM_INIT_B (DUET_STREAM_USER + 12)
#define STREAM_RESTART_T (DUET_STREAM_USER + 14)
#define STREAM_RESTART_B (DUET_STREAM_USER + 16)
#define STATE_MAGIC 0x31515644 /* "DVQ1" */

typedef struct vqae_impl {
    vqae_shape s;
    int D, Dc, max_batch;
    double beta, gamma, eps, tau;
    int restart_every, restart_warmup;
    size_t off_emb, off_pool_b, off_pool_t, off_top_out, off_tdec_in, off_up_t, off_mix,
        off_dec_in, off_head;
    duet_stack *enc, *top, *tdec, *dec;
    vq_codebook cbt, cbb;
    /* activations */
    int32_t *ids, *ct, *cb;
    float *x, *hb, *pt, *ht, *qt, *ut, *ub, *cat1, *hbp, *qb, *cat2, *d, *logits;
    /* gradients */
    float *g_dec, *g_d, *g_cat2, *g_qt, *g_hbp, *g_cat1, *g_ub, *g_ut, *g_ut0, *g_ht, *g_at,
        *g_pt, *g_hb, *g_h0, *g_x;
    /* restart sources: this rank's rows of the last training micro-batch */
    size_t src_lo_rows, src_rows_global;
    int src_rows;
    int restarts_t, restarts_b;
    double acc[2]; /* correct, total reconstructed tokens this step (local, then global) */
    double last_acc;
} vqae_impl;

static duet_stack *make_stack(duet_params *p, const char *name, const duet_config *cfg,
                              int layers, int max_batch, int seq, duet_err *err)
{
    duet_stack_config sc =
        tokennet_stack_config(cfg, DUET_MASK_BIDIR, DUET_COND_NONE, max_batch, seq);
    sc.n_layer = layers;
    return duet_stack_create(p, name, &sc, err);
}

static size_t add_matrix(duet_params *p, const char *name, int rows, int cols, float std,
                         unsigned flags)
{
    int shape[2] = {rows, cols};
    size_t off = p->total;
    duet_params_add(p, name, 2, shape, DUET_INIT_NORMAL, std, flags);
    return off;
}

static float *fa(size_t n) { return duet_falloc(n); }

static int vqae_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                       duet_err *err)
{
    vqae_impl *m = duet_calloc(1, sizeof *m);
    o->impl = m;
    vqae_shape *s = &m->s;
    s->L = cfg->seq_len;
    s->K1 = cfg->vq_k1;
    s->K2 = cfg->vq_k2;
    s->Kb = cfg->vq_kb;
    s->Kt = cfg->vq_kt;
    s->V = o->vocab_size;
    if (s->K2 % s->K1 != 0 || s->L % s->K2 != 0)
        return duet_errf(err, "vq_k2=%d must be a multiple of vq_k1=%d and seq_len=%d a multiple "
                              "of vq_k2", s->K2, s->K1, s->L);
    s->Lb = s->L / s->K1;
    s->Lt = s->L / s->K2;
    m->D = cfg->dim;
    m->Dc = cfg->vq_dim;
    m->max_batch = max_batch;
    m->beta = cfg->vq_beta;
    m->gamma = cfg->vq_decay;
    m->eps = cfg->vq_eps;
    m->tau = cfg->vq_dead;
    m->restart_every = cfg->vq_restart_every;
    m->restart_warmup = cfg->vq_restart_warmup;
    int D = m->D, Dc = m->Dc, B = max_batch, r = s->K2 / s->K1;
    float std = (float)cfg->init_std;
    m->off_emb = add_matrix(p, "vqae.emb", s->V, D, std, 0);
    if (!(m->enc = make_stack(p, "vqae.enc", cfg, cfg->n_layer, B, s->L, err)))
        return -1;
    m->off_pool_b = add_matrix(p, "vqae.pool_b", D, s->K1 * D, std, DUET_TF_DECAY);
    m->off_pool_t = add_matrix(p, "vqae.pool_t", D, r * D, std, DUET_TF_DECAY);
    if (!(m->top = make_stack(p, "vqae.top", cfg, cfg->vq_top_layers, B, s->Lt, err)))
        return -1;
    m->off_top_out = add_matrix(p, "vqae.top_out", Dc, D, std, DUET_TF_DECAY);
    m->off_tdec_in = add_matrix(p, "vqae.tdec_in", D, Dc, std, DUET_TF_DECAY);
    if (!(m->tdec = make_stack(p, "vqae.tdec", cfg, cfg->vq_top_layers, B, s->Lt, err)))
        return -1;
    m->off_up_t = add_matrix(p, "vqae.up_t", r * D, D, std, DUET_TF_DECAY);
    m->off_mix = add_matrix(p, "vqae.mix_b", Dc, 2 * D, std, DUET_TF_DECAY);
    m->off_dec_in = add_matrix(p, "vqae.dec_in", s->K1 * D, 2 * Dc, std, DUET_TF_DECAY);
    if (!(m->dec = make_stack(p, "vqae.dec", cfg, cfg->n_layer, B, s->L, err)))
        return -1;
    m->off_head = add_matrix(p, "vqae.head", s->V, D, std, DUET_TF_DECAY);
    vq_create(&m->cbt, s->Kt, Dc);
    vq_create(&m->cbb, s->Kb, Dc);
    size_t nL = (size_t)B * s->L, nb = (size_t)B * s->Lb, nt = (size_t)B * s->Lt;
    m->ids = duet_malloc(nL * sizeof(int32_t));
    m->ct = duet_malloc(nt * sizeof(int32_t));
    m->cb = duet_malloc(nb * sizeof(int32_t));
    m->x = fa(nL * D);
    m->hb = fa(nb * D);
    m->pt = fa(nt * D);
    m->ht = fa(nt * Dc);
    m->qt = fa(nt * Dc);
    m->ut = fa(nt * D);
    m->ub = fa(nb * D);
    m->cat1 = fa(nb * 2 * D);
    m->hbp = fa(nb * Dc);
    m->qb = fa(nb * Dc);
    m->cat2 = fa(nb * 2 * Dc);
    m->d = fa(nL * D);
    m->logits = fa(nL * (size_t)s->V);
    m->g_dec = fa(nL * D);
    m->g_d = fa(nL * D);
    m->g_cat2 = fa(nb * 2 * Dc);
    m->g_qt = fa(nt * Dc);
    m->g_hbp = fa(nb * Dc);
    m->g_cat1 = fa(nb * 2 * D);
    m->g_ub = fa(nb * D);
    m->g_ut = fa(nt * D);
    m->g_ut0 = fa(nt * D);
    m->g_ht = fa(nt * Dc);
    m->g_at = fa(nt * D);
    m->g_pt = fa(nt * D);
    m->g_hb = fa(nb * D);
    m->g_h0 = fa(nL * D);
    m->g_x = fa(nL * D);
    return 0;
}

static void vqae_destroy(duet_objective *o)
{
    vqae_impl *m = o->impl;
    if (!m)
        return;
    duet_stack_free(m->enc);
    duet_stack_free(m->top);
    duet_stack_free(m->tdec);
    duet_stack_free(m->dec);
    vq_free(&m->cbt);
    vq_free(&m->cbb);
    void *bufs[] = {m->ids, m->ct, m->cb, m->x, m->hb, m->pt, m->ht, m->qt, m->ut, m->ub,
                    m->cat1, m->hbp, m->qb, m->cat2, m->d, m->logits, m->g_dec, m->g_d,
                    m->g_cat2, m->g_qt, m->g_hbp, m->g_cat1, m->g_ub, m->g_ut, m->g_ut0,
                    m->g_ht, m->g_at, m->g_pt, m->g_hb, m->g_h0, m->g_x};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(m);
}

vqae_shape vqae_get_shape(const duet_objective *o)
{
    const vqae_impl *m = o->impl;
    return m->s;
}

static duet_stack_io plain_io(void)
{
    duet_stack_io io;
    memset(&io, 0, sizeof io);
    io.self_mask.mode = DUET_MASK_BIDIR;
    return io;
}

/* Row i of out (stride ostride, first D columns) = row i/k of in. */
static void up_forward(float *out, int ostride, const float *in, size_t nout, int k, int D)
{
    for (size_t i = 0; i < nout; i++)
        memcpy(out + i * ostride, in + (i / k) * D, (size_t)D * sizeof(float));
}

static void up_backward(float *din, const float *dout, int ostride, size_t nout, int k, int D)
{
    for (size_t i = 0; i < nout; i++)
        for (int j = 0; j < D; j++)
            din[(i / k) * D + j] += dout[i * ostride + j];
}

/* Encoder up to the top codes: fills x, hb, pt, ht. */
static void encode_top(vqae_impl *m, const float *W, const int32_t *tokens, int B)
{
    const vqae_shape *s = &m->s;
    int D = m->D, r = s->K2 / s->K1;
    size_t nL = (size_t)B * s->L, nb = (size_t)B * s->Lb, nt = (size_t)B * s->Lt;
    duet_stack_io io = plain_io();
    memcpy(m->ids, tokens, nL * sizeof(int32_t));
    duet_embedding_forward(m->x, tokens, W + m->off_emb, (int)nL, D);
    duet_stack_forward(m->enc, W, m->x, &io, B, s->L);
    vq_patch_pool_forward(m->hb, m->x, W + m->off_pool_b, (int)nb, s->K1, D, D);
    vq_patch_pool_forward(m->pt, m->hb, W + m->off_pool_t, (int)nt, r, D, D);
    duet_stack_forward(m->top, W, m->pt, &io, B, s->Lt);
    duet_linear_forward(m->ht, m->pt, W + m->off_top_out, NULL, (int)nt, D, m->Dc);
}

/* From qt to hb': fills ut, ub, cat1, hbp. */
static void encode_bottom(vqae_impl *m, const float *W, int B)
{
    const vqae_shape *s = &m->s;
    int D = m->D, r = s->K2 / s->K1;
    size_t nb = (size_t)B * s->Lb, nt = (size_t)B * s->Lt;
    duet_stack_io io = plain_io();
    duet_linear_forward(m->ut, m->qt, W + m->off_tdec_in, NULL, (int)nt, m->Dc, D);
    duet_stack_forward(m->tdec, W, m->ut, &io, B, s->Lt);
    vq_patch_unpool_forward(m->ub, m->ut, W + m->off_up_t, (int)nt, r, D, D);
    for (size_t i = 0; i < nb; i++) {
        memcpy(m->cat1 + i * 2 * D, m->hb + i * D, (size_t)D * sizeof(float));
        memcpy(m->cat1 + i * 2 * D + D, m->ub + i * D, (size_t)D * sizeof(float));
    }
    duet_linear_forward(m->hbp, m->cat1, W + m->off_mix, NULL, (int)nb, 2 * D, m->Dc);
}

/* Decoder from qt, qb: fills cat2, d, logits. */
static void decode(vqae_impl *m, const float *W, int B)
{
    const vqae_shape *s = &m->s;
    int D = m->D, Dc = m->Dc, r = s->K2 / s->K1;
    size_t nL = (size_t)B * s->L, nb = (size_t)B * s->Lb;
    duet_stack_io io = plain_io();
    for (size_t i = 0; i < nb; i++)
        memcpy(m->cat2 + i * 2 * Dc, m->qb + i * Dc, (size_t)Dc * sizeof(float));
    up_forward(m->cat2 + Dc, 2 * Dc, m->qt, nb, r, Dc);
    vq_patch_unpool_forward(m->d, m->cat2, W + m->off_dec_in, (int)nb, s->K1, 2 * Dc, D);
    duet_stack_forward(m->dec, W, m->d, &io, B, s->L);
    duet_linear_forward(m->logits, m->d, W + m->off_head, NULL, (int)nL, D, s->V);
}

void vqae_encode(duet_objective *o, const float *W, const int32_t *tokens, int B, int32_t *ct,
                 int32_t *cb)
{
    vqae_impl *m = o->impl;
    encode_top(m, W, tokens, B);
    vq_assign(&m->cbt, m->ht, B * m->s.Lt, ct, m->qt);
    encode_bottom(m, W, B);
    vq_assign(&m->cbb, m->hbp, B * m->s.Lb, cb, m->qb);
}

const float *vqae_decode(duet_objective *o, const float *W, const int32_t *ct, const int32_t *cb,
                         int B)
{
    vqae_impl *m = o->impl;
    int Dc = m->Dc;
    for (int i = 0; i < B * m->s.Lt; i++)
        memcpy(m->qt + (size_t)i * Dc, m->cbt.e + (size_t)ct[i] * Dc, (size_t)Dc * sizeof(float));
    for (int i = 0; i < B * m->s.Lb; i++)
        memcpy(m->qb + (size_t)i * Dc, m->cbb.e + (size_t)cb[i] * Dc, (size_t)Dc * sizeof(float));
    decode(m, W, B);
    return m->logits;
}

/* This rank's rows of the micro-batch as a source of codebook vectors. */
static vq_source source_of(const vqae_impl *m, const float *h, int per_row)
{
    vq_source src = {h, m->src_lo_rows * (size_t)per_row, (size_t)m->src_rows * (size_t)per_row,
                     m->src_rows_global * (size_t)per_row};
    return src;
}

static void ready(const duet_grad_hook *hook, size_t lo)
{
    if (hook)
        hook->ready(hook->user, lo);
}

static void vqae_backward(vqae_impl *m, const float *W, float *dW, int B, double scale_commit_t,
                          double scale_commit_b, const duet_grad_hook *hook)
{
    const vqae_shape *s = &m->s;
    int D = m->D, Dc = m->Dc, r = s->K2 / s->K1;
    size_t nL = (size_t)B * s->L, nb = (size_t)B * s->Lb, nt = (size_t)B * s->Lt;
    duet_stack_io io = plain_io();
#define ZERO(buf, n) memset(buf, 0, (size_t)(n) * sizeof(float))
    ZERO(m->g_dec, nL * D);
    duet_linear_backward(m->g_dec, dW + m->off_head, NULL, m->logits, m->d, W + m->off_head,
                         (int)nL, D, s->V);
    ready(hook, m->off_head);
    ZERO(m->g_d, nL * D);
    duet_stack_backward(m->dec, W, dW, m->g_dec, m->g_d, NULL, NULL, &io, B, s->L, hook);
    ZERO(m->g_cat2, nb * 2 * Dc);
    vq_patch_unpool_backward(m->g_cat2, dW + m->off_dec_in, m->g_d, m->cat2, W + m->off_dec_in,
                             (int)nb, s->K1, 2 * Dc, D);
    ready(hook, m->off_dec_in);
    /* straight-through: dL/dhb' = dL/dqb (+ commitment) */
    ZERO(m->g_hbp, nb * Dc);
    for (size_t i = 0; i < nb; i++)
        memcpy(m->g_hbp + i * Dc, m->g_cat2 + i * 2 * Dc, (size_t)Dc * sizeof(float));
    duet_sqerr_backward(m->g_hbp, NULL, m->hbp, m->qb, (float)scale_commit_b, nb * Dc);
    ZERO(m->g_qt, nt * Dc);
    up_backward(m->g_qt, m->g_cat2 + Dc, 2 * Dc, nb, r, Dc);
    ZERO(m->g_cat1, nb * 2 * D);
    duet_linear_backward(m->g_cat1, dW + m->off_mix, NULL, m->g_hbp, m->cat1, W + m->off_mix,
                         (int)nb, 2 * D, Dc);
    ready(hook, m->off_mix);
    for (size_t i = 0; i < nb; i++)
        memcpy(m->g_ub + i * D, m->g_cat1 + i * 2 * D + D, (size_t)D * sizeof(float));
    ZERO(m->g_ut, nt * D);
    vq_patch_unpool_backward(m->g_ut, dW + m->off_up_t, m->g_ub, m->ut, W + m->off_up_t, (int)nt,
                             r, D, D);
    ready(hook, m->off_up_t);
    ZERO(m->g_ut0, nt * D);
    duet_stack_backward(m->tdec, W, dW, m->g_ut, m->g_ut0, NULL, NULL, &io, B, s->Lt, hook);
    duet_linear_backward(m->g_qt, dW + m->off_tdec_in, NULL, m->g_ut0, m->qt, W + m->off_tdec_in,
                         (int)nt, Dc, D);
    ready(hook, m->off_tdec_in);
    ZERO(m->g_ht, nt * Dc);
    memcpy(m->g_ht, m->g_qt, nt * Dc * sizeof(float));
    duet_sqerr_backward(m->g_ht, NULL, m->ht, m->qt, (float)scale_commit_t, nt * Dc);
    ZERO(m->g_at, nt * D);
    duet_linear_backward(m->g_at, dW + m->off_top_out, NULL, m->g_ht, m->pt, W + m->off_top_out,
                         (int)nt, D, Dc);
    ready(hook, m->off_top_out);
    ZERO(m->g_pt, nt * D);
    duet_stack_backward(m->top, W, dW, m->g_at, m->g_pt, NULL, NULL, &io, B, s->Lt, hook);
    ZERO(m->g_hb, nb * D);
    for (size_t i = 0; i < nb; i++)
        memcpy(m->g_hb + i * D, m->g_cat1 + i * 2 * D, (size_t)D * sizeof(float));
    vq_patch_pool_backward(m->g_hb, dW + m->off_pool_t, m->g_pt, m->hb, W + m->off_pool_t, (int)nt,
                           r, D, D);
    ready(hook, m->off_pool_t);
    ZERO(m->g_h0, nL * D);
    vq_patch_pool_backward(m->g_h0, dW + m->off_pool_b, m->g_hb, m->x, W + m->off_pool_b, (int)nb,
                           s->K1, D, D);
    ready(hook, m->off_pool_b);
    ZERO(m->g_x, nL * D);
    duet_stack_backward(m->enc, W, dW, m->g_h0, m->g_x, NULL, NULL, &io, B, s->L, hook);
    duet_embedding_backward(dW + m->off_emb, m->g_x, m->ids, (int)nL, D);
    ready(hook, m->off_emb);
#undef ZERO
}

static void vqae_forward_backward(duet_objective *o, const duet_step_ctx *ctx, const duet_batch *b,
                                  const float *W, float *dW, double *terms)
{
    vqae_impl *m = o->impl;
    const vqae_shape *s = &m->s;
    int B = b->B, Dc = m->Dc;
    size_t nL = (size_t)B * s->L, nb = (size_t)B * s->Lb, nt = (size_t)B * s->Lt;
    if (b->L != s->L)
        duet_fatal("vqae: batch length %d != seq_len %d", b->L, s->L);
    if (ctx->training) {
        int rank = duet_dist_rank(ctx->dist), world = duet_dist_size(ctx->dist);
        m->src_lo_rows = (size_t)rank * (size_t)B;
        m->src_rows = B;
        m->src_rows_global = (size_t)world * (size_t)B;
    }
    encode_top(m, W, b->tokens, B);
    if (!m->cbt.ready) {
        vq_source src = source_of(m, m->ht, s->Lt);
        vq_init_codes(&m->cbt, ctx->dist, &src, ctx->seed, b->step, STREAM_INIT_T);
    }
    vq_assign(&m->cbt, m->ht, (int)nt, m->ct, m->qt);
    encode_bottom(m, W, B);
    if (!m->cbb.ready) {
        vq_source src = source_of(m, m->hbp, s->Lb);
        vq_init_codes(&m->cbb, ctx->dist, &src, ctx->seed, b->step, STREAM_INIT_B);
    }
    vq_assign(&m->cbb, m->hbp, (int)nb, m->cb, m->qb);
    if (ctx->training) {
        vq_accumulate(&m->cbt, m->ht, m->ct, (int)nt);
        vq_accumulate(&m->cbb, m->hbp, m->cb, (int)nb);
    }
    decode(m, W, B);
    if (ctx->training) {
        for (size_t i = 0; i < nL; i++) {
            m->acc[0] += argmax_logit(m->logits + i * s->V, s->V, DUET_TOK_MASK) == b->tokens[i];
        }
        m->acc[1] += (double)nL;
    }
    double Bg = loss_normalizer(ctx, 0);
    double ce = duet_xent_forward_backward(dW ? m->logits : NULL, NULL, m->logits, b->tokens, NULL,
                                           (float)(1.0 / (Bg * s->L)), (int)nL, s->V, -1,
                                           DUET_TOK_MASK);
    double ct_scale = m->beta / (Bg * s->Lt * Dc), cb_scale = m->beta / (Bg * s->Lb * Dc);
    terms[0] = ce / (Bg * s->L);
    terms[1] = ct_scale * duet_sqerr_forward(m->ht, m->qt, nt * Dc) +
               cb_scale * duet_sqerr_forward(m->hbp, m->qb, nb * Dc);
    if (dW)
        vqae_backward(m, W, dW, B, ct_scale, cb_scale, ctx->hook);
}

static void vqae_end_step(duet_objective *o, duet_dist *dist, uint32_t step, uint64_t seed)
{
    vqae_impl *m = o->impl;
    duet_dist_allreduce_sum_f64(dist, m->acc, 2);
    m->last_acc = m->acc[1] > 0 ? m->acc[0] / m->acc[1] : 0.0;
    m->acc[0] = m->acc[1] = 0.0;
    vq_ema_update(&m->cbt, dist, m->gamma, m->eps);
    vq_ema_update(&m->cbb, dist, m->gamma, m->eps);
    uint32_t done = step + 1;
    if (m->restart_every > 0 && done >= (uint32_t)m->restart_warmup &&
        done % (uint32_t)m->restart_every == 0) {
        vq_source st = source_of(m, m->ht, m->s.Lt), sb = source_of(m, m->hbp, m->s.Lb);
        m->restarts_t += vq_restart_dead(&m->cbt, dist, &st, m->tau, seed, step, STREAM_RESTART_T);
        m->restarts_b += vq_restart_dead(&m->cbb, dist, &sb, m->tau, seed, step, STREAM_RESTART_B);
    }
}

static int vqae_metrics(const duet_objective *o, duet_named_value *out, int max)
{
    const vqae_impl *m = o->impl;
    duet_named_value v[] = {
        {"acc", m->last_acc},
        {"ppl_t", vq_perplexity(&m->cbt)},
        {"dead_t", (double)vq_count_dead(&m->cbt, m->tau, NULL)},
        {"ppl_b", vq_perplexity(&m->cbb)},
        {"dead_b", (double)vq_count_dead(&m->cbb, m->tau, NULL)},
        {"restarts", (double)(m->restarts_t + m->restarts_b)},
    };
    int n = (int)(sizeof v / sizeof v[0]);
    n = n < max ? n : max;
    memcpy(out, v, (size_t)n * sizeof *out);
    return n;
}

/* State: magic, Kt, Kb, Dc, restart counters, then both codebooks. */
static size_t vqae_state_bytes(const duet_objective *o)
{
    const vqae_impl *m = o->impl;
    return 6 * sizeof(int32_t) + vq_state_bytes(&m->cbt) + vq_state_bytes(&m->cbb);
}

static void vqae_state_save(const duet_objective *o, void *buf)
{
    const vqae_impl *m = o->impl;
    int32_t head[6] = {STATE_MAGIC, m->s.Kt, m->s.Kb, m->Dc, m->restarts_t, m->restarts_b};
    unsigned char *p = buf;
    memcpy(p, head, sizeof head);
    p += sizeof head;
    vq_state_save(&m->cbt, p);
    vq_state_save(&m->cbb, p + vq_state_bytes(&m->cbt));
}

static int vqae_state_load(duet_objective *o, const void *buf, size_t n, duet_err *err)
{
    vqae_impl *m = o->impl;
    int32_t head[6];
    if (n != vqae_state_bytes(o))
        return duet_errf(err, "vqae state has %zu bytes, expected %zu", n, vqae_state_bytes(o));
    memcpy(head, buf, sizeof head);
    if (head[0] != STATE_MAGIC || head[1] != m->s.Kt || head[2] != m->s.Kb || head[3] != m->Dc)
        return duet_errf(err, "vqae state does not match vq_kt=%d vq_kb=%d vq_dim=%d", m->s.Kt,
                         m->s.Kb, m->Dc);
    m->restarts_t = head[4];
    m->restarts_b = head[5];
    const unsigned char *p = (const unsigned char *)buf + sizeof head;
    vq_state_load(&m->cbt, p);
    vq_state_load(&m->cbb, p + vq_state_bytes(&m->cbt));
    return 0;
}

const duet_objective_ops duet_objective_vqae = {
    .name = "vqae",
    .ncounts = 1,
    .nterms = 2,
    .term_names = {"ce", "commit"},
    .create = vqae_create,
    .destroy = vqae_destroy,
    .count = objective_count_sequences,
    .forward_backward = vqae_forward_backward,
    .end_step = vqae_end_step,
    .state_bytes = vqae_state_bytes,
    .state_save = vqae_state_save,
    .state_load = vqae_state_load,
    .metrics = vqae_metrics,
};
