/* `ardiff`: AR-Diffusion (SPEC 4) — Gaussian diffusion over learned token
 * embeddings with a position-dependent time: a sentence-level step c maps
 * to token steps f(n, c) that grow from left to right, so left tokens are
 * denoised first. Optional source encoder (paired data, src_len > 0) whose
 * outputs the denoiser cross-attends to.
 *
 * Training (SPEC 4.3): c ~ U{0..N+T-1} per sequence; loss per position =
 * ||x0_hat - z0||^2/d (z0_mean at t = 0) + ||sqrt(abar_{T-1}) z0||^2/d +
 * rounding NLL of z0 under the tied head z E^T, over the global count of
 * positions. Self-conditioning: pass A with z_sc = 0; rows whose coin is
 * below 1/2 rerun with z_sc = SG[pass A] (pass A is then only a forward).
 * Sampling (SPEC 4.4): the skipping grid of M sentence steps, clamping to
 * the nearest embedding, the multi-step Gaussian posterior per token.
 * ardiff_flat = 1 is the ablation with one time for every token (plain
 * embedding diffusion: c ~ U{0..T-1}, f(n, c) = c).
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

typedef struct ardiff_impl {
    int V, D, d, N, T, Ls, flat, self_cond, max_batch;
    double *abar;             /* [T] */
    size_t off_emb, off_in, off_out, off_enc_emb;
    duet_time_embed te;
    duet_stack *dif, *enc;    /* enc NULL when unconditional */
    int32_t *tstep;           /* [rows] token steps */
    float *ts;                /* [rows] scaled times t*1000/T */
    float *z0m, *z0, *eps;    /* [rows, d] */
    float *xin;               /* [rows, 2d]: (z_t, z_sc) */
    float *h, *dh, *temb, *dtemb; /* [rows, D] */
    float *xhat, *dxhat, *dz0, *dz0m; /* [rows, d] */
    float *dxin;              /* [rows, 2d] */
    float *logits;            /* [rows, V] */
    float *emb_norm;          /* [V] ||E_v||^2 (clamping) */
    float *coin;              /* [B] self-conditioning coins */
    float *mem, *dmem, *dsrc; /* [B*Ls, D] encoder output, its gradient, input gradient */
    uint8_t *src_valid;       /* [B*Ls] */
} ardiff_impl;

/* Sentence steps of the chain: N + T, or T for the flat ablation. */
static int sentence_steps(const ardiff_impl *a, int N) { return a->flat ? a->T : N + a->T; }

static int token_step(const ardiff_impl *a, int n, int c, int N)
{
    return a->flat ? c : duet_ardiff_token_step(n, c, N, a->T);
}

static int ardiff_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                         duet_err *err)
{
    ardiff_impl *a = duet_calloc(1, sizeof *a);
    o->impl = a;
    a->V = o->vocab_size;
    a->D = cfg->dim;
    a->d = cfg->ardiff_emb_dim;
    a->N = cfg->seq_len;
    a->T = cfg->ardiff_T;
    a->Ls = cfg->src_len;
    a->flat = cfg->ardiff_flat;
    a->self_cond = cfg->ardiff_self_cond;
    a->max_batch = max_batch;
    a->abar = duet_malloc((size_t)a->T * sizeof(double));
    duet_ardiff_abar(a->abar, a->T);
    enum duet_cond_kind cond = strcmp(cfg->time_cond, "add") == 0 ? DUET_COND_ADD : DUET_COND_ADALN;
    const float std = (float)cfg->init_std;
    const int D = a->D, d = a->d, V = a->V;
    /* registered in forward order (encoder first) so the grad hook can
     * announce finished buckets while the denoiser runs backward */
    if (a->Ls > 0) {
        int shape[2] = {V, D};
        a->off_enc_emb = p->total;
        duet_params_add(p, "ardiff.enc.emb", 2, shape, DUET_INIT_NORMAL, std, 0);
        duet_stack_config ec = tokennet_stack_config(cfg, DUET_MASK_BIDIR, DUET_COND_NONE,
                                                     max_batch, a->Ls);
        ec.n_layer = cfg->ardiff_enc_layers;
        if (!(a->enc = duet_stack_create(p, "ardiff.enc.blocks", &ec, err)))
            return -1;
    }
    int se[2] = {V, d}, si[2] = {D, 2 * d}, so[2] = {d, D};
    a->off_emb = p->total;
    duet_params_add(p, "ardiff.emb", 2, se, DUET_INIT_NORMAL, std, 0);
    size_t rows = (size_t)max_batch * (size_t)a->N;
    duet_time_embed_create(&a->te, p, "ardiff.time", D, (int)rows, std);
    a->off_in = p->total;
    duet_params_add(p, "ardiff.in", 2, si, DUET_INIT_NORMAL, std, DUET_TF_DECAY);
    duet_stack_config sc = tokennet_stack_config(cfg, DUET_MASK_BIDIR, cond, max_batch, a->N);
    sc.cond_per_token = 1;
    sc.cross_attn = a->Ls > 0;
    sc.max_mem = a->Ls;
    if (!(a->dif = duet_stack_create(p, "ardiff.blocks", &sc, err)))
        return -1;
    a->off_out = p->total;
    duet_params_add(p, "ardiff.out", 2, so, DUET_INIT_ZERO, std, DUET_TF_DECAY);

    a->tstep = duet_malloc(rows * sizeof(int32_t));
    a->ts = duet_falloc(rows);
    a->z0m = duet_falloc(rows * d);
    a->z0 = duet_falloc(rows * d);
    a->eps = duet_falloc(rows * d);
    a->xin = duet_falloc(rows * 2 * d);
    a->dxin = duet_falloc(rows * 2 * d);
    a->h = duet_falloc(rows * D);
    a->dh = duet_falloc(rows * D);
    a->temb = duet_falloc(rows * D);
    a->dtemb = duet_falloc(rows * D);
    a->xhat = duet_falloc(rows * d);
    a->dxhat = duet_falloc(rows * d);
    a->dz0 = duet_falloc(rows * d);
    a->dz0m = duet_falloc(rows * d);
    a->logits = duet_falloc(rows * (size_t)V);
    a->emb_norm = duet_falloc((size_t)V);
    a->coin = duet_falloc((size_t)max_batch);
    if (a->Ls > 0) {
        size_t mrows = (size_t)max_batch * (size_t)a->Ls;
        a->mem = duet_falloc(mrows * D);
        a->dmem = duet_falloc(mrows * D);
        a->dsrc = duet_falloc(mrows * D);
        a->src_valid = duet_malloc(mrows);
    }
    return 0;
}

static void ardiff_destroy(duet_objective *o)
{
    ardiff_impl *a = o->impl;
    if (!a)
        return;
    duet_stack_free(a->dif);
    duet_stack_free(a->enc);
    duet_time_embed_free(&a->te);
    float *bufs[] = {a->ts, a->z0m, a->z0, a->eps, a->xin, a->dxin, a->h, a->dh, a->temb,
                     a->dtemb, a->xhat, a->dxhat, a->dz0, a->dz0m, a->logits, a->emb_norm,
                     a->coin, a->mem, a->dmem, a->dsrc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(a->abar);
    free(a->tstep);
    free(a->src_valid);
    free(a);
}

/* ------------------------------------------------------------ networks */

static duet_stack_io enc_io(const ardiff_impl *a)
{
    duet_stack_io io;
    memset(&io, 0, sizeof io);
    io.self_mask.mode = DUET_MASK_BIDIR;
    io.self_mask.key_valid = a->src_valid;
    return io;
}

static duet_stack_io dif_io(const ardiff_impl *a)
{
    duet_stack_io io;
    memset(&io, 0, sizeof io);
    io.cond = a->temb;
    io.self_mask.mode = DUET_MASK_BIDIR;
    if (a->enc) {
        io.mem = a->mem;
        io.mem_valid = a->src_valid;
        io.mem_len = a->Ls;
    }
    return io;
}

/* Encoder over src [B, Ls] into a->mem (PAD keys masked). */
static void encode(ardiff_impl *a, const float *W, const int32_t *src, int B)
{
    size_t n = (size_t)B * (size_t)a->Ls;
    for (size_t i = 0; i < n; i++)
        a->src_valid[i] = src[i] != DUET_TOK_PAD;
    duet_embedding_forward(a->mem, src, W + a->off_enc_emb, (int)n, a->D);
    duet_stack_io io = enc_io(a);
    duet_stack_forward(a->enc, W, a->mem, &io, B, a->Ls);
}

/* x0_hat [B*N, d] from a->xin and a->ts (and a->mem when conditional). */
static void denoise(ardiff_impl *a, const float *W, int B, int N)
{
    int rows = B * N;
    duet_time_embed_forward(&a->te, W, a->temb, a->ts, rows);
    duet_linear_forward(a->h, a->xin, W + a->off_in, NULL, rows, 2 * a->d, a->D);
    duet_stack_io io = dif_io(a);
    duet_stack_forward(a->dif, W, a->h, &io, B, N);
    duet_linear_forward(a->xhat, a->h, W + a->off_out, NULL, rows, a->D, a->d);
}

static void hook_ready(const duet_grad_hook *hook, size_t lo)
{
    if (hook && hook->ready)
        hook->ready(hook->user, lo);
}

/* Backward of denoise from a->dxhat: parameter gradients into dW, input
 * gradient into a->dxin (overwritten), encoder memory gradient into a->dmem. */
static void denoise_backward(ardiff_impl *a, const float *W, float *dW, int B, int N,
                             const duet_grad_hook *hook)
{
    size_t rows = (size_t)B * (size_t)N;
    const int D = a->D, d = a->d;
    memset(a->dh, 0, rows * D * sizeof(float));
    duet_linear_backward(a->dh, dW + a->off_out, NULL, a->dxhat, a->h, W + a->off_out, (int)rows,
                         D, d);
    hook_ready(hook, a->off_out);
    float *dinput = a->h; /* the stack keeps its input in its caches */
    memset(dinput, 0, rows * D * sizeof(float));
    memset(a->dtemb, 0, rows * D * sizeof(float));
    if (a->enc)
        memset(a->dmem, 0, (size_t)B * a->Ls * D * sizeof(float));
    duet_stack_io io = dif_io(a);
    duet_stack_backward(a->dif, W, dW, a->dh, dinput, a->dtemb, a->enc ? a->dmem : NULL, &io, B,
                        N, hook);
    memset(a->dxin, 0, rows * 2 * d * sizeof(float));
    duet_linear_backward(a->dxin, dW + a->off_in, NULL, dinput, a->xin, W + a->off_in, (int)rows,
                         2 * d, D);
    hook_ready(hook, a->off_in);
    duet_time_embed_backward(&a->te, W, dW, a->dtemb, (int)rows);
}

/* ------------------------------------------------------------- training */

/* Draws c, the token steps, the noises and the self-conditioning coin of
 * every row; builds z0_mean, z0 and z_t (into xin, z_sc = 0). */
static void corrupt(ardiff_impl *a, const float *W, const duet_batch *b, uint64_t seed)
{
    const int N = b->L, d = a->d, S = sentence_steps(a, N);
    const double j0 = sqrt(1.0 - a->abar[0]);
    duet_embedding_forward(a->z0m, b->tokens, W + a->off_emb, b->B * N, d);
    for (int r = 0; r < b->B; r++) {
        uint32_t g = b->first_index + (uint32_t)r;
        duet_rng rt = duet_rng_keyed(seed, b->step, g, DUET_STREAM_TIME);
        int c = (int)duet_rng_below(&rt, (uint32_t)S);
        duet_rng rc = duet_rng_keyed(seed, b->step, g, DUET_STREAM_SELFCOND);
        a->coin[r] = duet_rng_uniform(&rc);
        duet_rng rn = duet_rng_keyed(seed, b->step, g, DUET_STREAM_NOISE);
        for (int n = 0; n < N; n++) {
            size_t i = (size_t)r * N + n;
            int t = token_step(a, n, c, N);
            a->tstep[i] = t;
            a->ts[i] = (float)((double)t * 1000.0 / a->T);
            float sa = (float)sqrt(a->abar[t]), sb = (float)sqrt(1.0 - a->abar[t]);
            float *z0 = a->z0 + i * d, *x = a->xin + i * 2 * d, *e = a->eps + i * d;
            const float *m = a->z0m + i * d;
            for (int k = 0; k < d; k++)
                z0[k] = m[k] + (float)j0 * duet_rng_normal(&rn);
            for (int k = 0; k < d; k++) {
                e[k] = duet_rng_normal(&rn);
                x[k] = sa * z0[k] + sb * e[k];
                x[d + k] = 0.0f;
            }
        }
    }
}

static void ardiff_forward_backward(duet_objective *o, const duet_step_ctx *ctx,
                                    const duet_batch *b, const float *W, float *dW, double *terms)
{
    ardiff_impl *a = o->impl;
    const int B = b->B, N = b->L, d = a->d, V = a->V;
    const size_t rows = (size_t)B * N;
    if (a->enc && (!b->src || b->Ls != a->Ls))
        duet_fatal("ardiff: conditional model (src_len=%d) got a batch without sources", a->Ls);
    corrupt(a, W, b, ctx->seed);
    if (a->enc)
        encode(a, W, b->src, B);
    denoise(a, W, B, N);
    if (a->self_cond) { /* pass B for the rows whose coin says so */
        int any = 0;
        for (int r = 0; r < B; r++) {
            if (a->coin[r] >= 0.5f)
                continue;
            any = 1;
            for (int n = 0; n < N; n++) {
                size_t i = (size_t)r * N + n;
                memcpy(a->xin + i * 2 * d + d, a->xhat + i * d, (size_t)d * sizeof(float));
            }
        }
        if (any)
            denoise(a, W, B, N);
    }
    const double count = loss_normalizer(ctx, 0);
    const float scale = (float)(1.0 / count);
    const double abT = a->abar[a->T - 1];
    double mse = 0.0, tT = 0.0;
    memset(a->dxhat, 0, rows * d * sizeof(float));
    memset(a->dz0, 0, rows * d * sizeof(float));
    memset(a->dz0m, 0, rows * d * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        const float *z0 = a->z0 + i * d;
        int at0 = a->tstep[i] == 0;
        const float *tg = at0 ? a->z0m + i * d : z0;
        mse += duet_sqerr_forward(a->xhat + i * d, tg, (size_t)d) / d;
        duet_sqerr_backward(a->dxhat + i * d, (at0 ? a->dz0m : a->dz0) + i * d, a->xhat + i * d,
                            tg, scale / (float)d, (size_t)d);
        double nz = 0.0;
        for (int k = 0; k < d; k++) {
            nz += (double)z0[k] * z0[k];
            a->dz0[i * d + k] += (float)(2.0 * abT / d) * scale * z0[k];
        }
        tT += abT * nz / d;
    }
    /* rounding term on the sampled z0 with the tied head */
    duet_linear_forward(a->logits, a->z0, W + a->off_emb, NULL, (int)rows, d, V);
    double nll = duet_xent_forward_backward(dW ? a->logits : NULL, NULL, a->logits, b->tokens,
                                            NULL, scale, (int)rows, V, -1, -1);
    terms[0] = mse / count;
    terms[1] = tT / count;
    terms[2] = nll / count;
    if (!dW)
        return;
    duet_linear_backward(a->dz0, dW + a->off_emb, NULL, a->logits, a->z0, W + a->off_emb,
                         (int)rows, d, V);
    denoise_backward(a, W, dW, B, N, ctx->hook);
    /* z_t = sqrt(abar) z0 + ...; z0 = z0_mean + jitter */
    for (size_t i = 0; i < rows; i++) {
        float sa = (float)sqrt(a->abar[a->tstep[i]]);
        for (int k = 0; k < d; k++)
            a->dz0m[i * d + k] += a->dz0[i * d + k] + sa * a->dxin[i * 2 * d + k];
    }
    duet_embedding_backward(dW + a->off_emb, a->dz0m, b->tokens, (int)rows, d);
    hook_ready(ctx->hook, a->off_emb);
    if (a->enc) {
        size_t mrows = (size_t)B * a->Ls;
        memset(a->dsrc, 0, mrows * a->D * sizeof(float));
        duet_stack_io io = enc_io(a);
        duet_stack_backward(a->enc, W, dW, a->dmem, a->dsrc, NULL, NULL, &io, B, a->Ls, ctx->hook);
        duet_embedding_backward(dW + a->off_enc_emb, a->dsrc, b->src, (int)mrows, a->D);
        hook_ready(ctx->hook, a->off_enc_emb);
    }
}

/* ------------------------------------------------------------- sampling */

/* Replaces every row of x [n, d] by its nearest embedding row (clamping). */
static void clamp_rows(ardiff_impl *a, const float *W, float *x, int n)
{
    const int d = a->d, V = a->V;
    const float *E = W + a->off_emb;
    duet_linear_forward(a->logits, x, E, NULL, n, d, V);
    for (int i = 0; i < n; i++) {
        const float *lg = a->logits + (size_t)i * V;
        int best = 0;
        float bv = -INFINITY;
        for (int v = 0; v < V; v++) {
            float s = 2.0f * lg[v] - a->emb_norm[v];
            if (s > bv) {
                bv = s;
                best = v;
            }
        }
        memcpy(x + (size_t)i * d, E + (size_t)best * d, (size_t)d * sizeof(float));
    }
}

static int ardiff_sample(duet_objective *o, const float *W, const duet_sample_opts *opts,
                         int32_t *out, double *nfe, duet_err *err)
{
    ardiff_impl *a = o->impl;
    const int n = opts->n, N = opts->len, d = a->d, V = a->V, S = sentence_steps(a, N);
    const int M = opts->steps > 0 ? opts->steps : 20;
    const int clamp = opts->cfg ? opts->cfg->ardiff_clamp : 1;
    if (N > a->N)
        return duet_errf(err, "sample_len %d exceeds the model's seq_len %d", N, a->N);
    if (opts->prompt_len > 0)
        return duet_errf(err, "ardiff does not take a prompt (conditional models read source_file)");
    if (a->enc && (!opts->src || opts->Ls != a->Ls))
        return duet_errf(err, "conditional ardiff model (src_len=%d): give one source per sample "
                              "with source_file=PATH", a->Ls);
    int *grid = duet_malloc((size_t)(M + 1) * sizeof(int));
    if (duet_ardiff_skip_grid(grid, M, S) != 0) {
        free(grid);
        return duet_errf(err, "sample_steps %d must be in [1, %d) (sentence-level steps of %s)", M,
                         S, a->flat ? "T" : "seq_len + T");
    }
    const float *E = W + a->off_emb;
    for (int v = 0; v < V; v++) {
        double s = 0.0;
        for (int k = 0; k < d; k++)
            s += (double)E[(size_t)v * d + k] * E[(size_t)v * d + k];
        a->emb_norm[v] = (float)s;
    }
    if (a->enc)
        encode(a, W, opts->src, n);
    /* z lives in the first half of xin, z_sc in the second */
    for (int r = 0; r < n; r++) {
        duet_rng rng = duet_rng_keyed(opts->seed, 0, opts->first_index + (uint32_t)r,
                                      DUET_STREAM_SAMPLE);
        for (int k = 0; k < N; k++) {
            float *x = a->xin + ((size_t)r * N + k) * 2 * d;
            for (int j = 0; j < d; j++) {
                x[j] = duet_rng_normal(&rng);
                x[d + j] = 0.0f;
            }
        }
    }
    for (int i = 0; i < M; i++) {
        for (int r = 0; r < n; r++)
            for (int k = 0; k < N; k++)
                a->ts[(size_t)r * N + k] =
                    (float)((double)token_step(a, k, grid[i], N) * 1000.0 / a->T);
        denoise(a, W, n, N);
        *nfe += 1.0;
        if (clamp)
            clamp_rows(a, W, a->xhat, n * N);
        for (int r = 0; r < n; r++) {
            duet_rng rng = duet_rng_keyed(opts->seed, (uint32_t)i + 1,
                                          opts->first_index + (uint32_t)r, DUET_STREAM_SAMPLE);
            for (int k = 0; k < N; k++) {
                size_t row = (size_t)r * N + k;
                int ts = token_step(a, k, grid[i], N), tt = token_step(a, k, grid[i + 1], N);
                double cz, cx, var;
                duet_ardiff_skip_coef(a->abar[ts], a->abar[tt], &cz, &cx, &var);
                float sd = tt == 0 ? 0.0f : (float)sqrt(var);
                float *x = a->xin + row * 2 * d;
                const float *x0 = a->xhat + row * d;
                for (int j = 0; j < d; j++) {
                    float xi = duet_rng_normal(&rng);
                    x[j] = (float)cz * x[j] + (float)cx * x0[j] + sd * xi;
                    x[d + j] = a->self_cond ? x0[j] : 0.0f;
                }
            }
        }
    }
    /* decode the final sample: argmax of z E^T (not the nearest row) */
    for (int r = 0; r < n; r++)
        for (int k = 0; k < N; k++)
            memcpy(a->z0 + ((size_t)r * N + k) * d, a->xin + ((size_t)r * N + k) * 2 * d,
                   (size_t)d * sizeof(float));
    duet_linear_forward(a->logits, a->z0, E, NULL, n * N, d, V);
    for (size_t i = 0; i < (size_t)n * N; i++)
        out[i] = argmax_logit(a->logits + i * V, V, -1);
    free(grid);
    return 0;
}

const duet_objective_ops duet_objective_ardiff = {
    .name = "ardiff",
    .ncounts = 1,
    .nterms = 3,
    .term_names = {"mse", "tT", "nll"},
    .create = ardiff_create,
    .destroy = ardiff_destroy,
    .count = objective_count_tokens,
    .forward_backward = ardiff_forward_backward,
    .sample = ardiff_sample,
};
