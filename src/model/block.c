/* One pre-norm block, forward and backward (SPEC 1.1, 1.3):
 *   h += g1 * Wo Attn(mod(Norm1(h), sh1, sc1))        (g1 = 1, no mod without adaLN)
 *   h += Wxo XAttn(Normx(h), mem)                      (cross-attention, optional)
 *   h += g2 * W2 MLP(mod(Norm2(h), sh2, sc2))
 * Backward routes gradients only where asked: dW NULL skips every weight
 * GEMM, and nothing here writes to the forward caches.
 */
#include <cblas.h>
#include <string.h>

#include "../core/ops_internal.h"
#include "block.h"

void block_norm_forward(const duet_stack_config *c, float *out, float *mean, float *rstd,
                        const float *in, const float *W, size_t og, size_t ob, int N)
{
    if (c->norm == DUET_NORM_RMS)
        duet_rmsnorm_forward(out, rstd, in, W + og, N, c->dim, DUET_NORM_EPS);
    else
        duet_layernorm_forward(out, mean, rstd, in, W + og, W + ob, N, c->dim, DUET_NORM_EPS);
}

void block_norm_backward(const duet_stack_config *c, float *din, float *dW, size_t og,
                         size_t ob, const float *dout, const float *in, const float *W,
                         const float *mean, const float *rstd, int N)
{
    if (c->norm == DUET_NORM_RMS)
        duet_rmsnorm_backward(din, dW ? dW + og : NULL, dout, in, W + og, rstd, N, c->dim);
    else
        duet_layernorm_backward(din, dW ? dW + og : NULL, dW ? dW + ob : NULL, dout, in, W + og,
                                mean, rstd, N, c->dim);
}

/* out[N,OC] (+)= in[N,C] W^T: beta 1 adds the sublayer output straight
 * onto the residual stream. */
static void matmul_wt(float *out, float beta, const float *in, const float *w, int N, int C,
                      int OC)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, in, C, w, C, beta, out,
                OC);
}

/* Sublayer output y = in Wo^T added to h, through the adaLN gate if any. */
static void residual_out(const block_run *r, float *h, float *y, const float *gate,
                         const float *in, const float *w, int C)
{
    const int D = r->c->dim, N = r->B * r->T;
    if (!gate) {
        matmul_wt(h, 1.0f, in, w, N, C, D);
        return;
    }
    matmul_wt(y, 0.0f, in, w, N, C, D);
    duet_gate_residual_forward(h, gate, y, r->B, r->T, D, 6 * D, r->c->cond_per_token);
}

static duet_attn_dims attn_dims(const block_run *r, int Tk, int ldq, int ldkv)
{
    const duet_stack_config *c = r->c;
    duet_attn_dims d = {r->B, r->T, Tk, c->n_head, c->dim / c->n_head, ldq, ldkv, ldkv, c->dim};
    return d;
}

void block_forward(const block_run *r, const block_off *o, const block_cache *a,
                   const float *W, float *h)
{
    const duet_stack_config *c = r->c;
    const int D = c->dim, B = r->B, T = r->T, N = B * T, F = r->F, H = c->n_head;
    const int ada = c->cond == DUET_COND_ADALN, pt = c->cond_per_token;
    const size_t ND = (size_t)N * D;

    if (ada)
        duet_linear_forward(a->mod, r->cs, W + o->ada_w, W + o->ada_b, r->rows, D, 6 * D);

    /* self-attention */
    memcpy(a->h_in, h, ND * sizeof *h);
    block_norm_forward(c, a->xn1, a->mean1, a->rstd1, h, W, o->n1g, o->n1b, N);
    if (ada)
        duet_modulate_forward(a->xm1, a->xn1, a->mod, a->mod + D, B, T, D, 6 * D, pt);
    matmul_wt(a->qkv, 0.0f, a->xm1, W + o->wqkv, N, D, 3 * D);
    if (c->pos == DUET_POS_ROPE) {
        duet_rope_apply(a->qkv, 3 * D, B, T, H, D / H, r->rope_cos, r->rope_sin, 0);
        duet_rope_apply(a->qkv + D, 3 * D, B, T, H, D / H, r->rope_cos, r->rope_sin, 0);
    }
    duet_attn_dims ds = attn_dims(r, T, 3 * D, 3 * D);
    duet_attention_fwd(a->att, a->probs, a->qkv, a->qkv + D, a->qkv + 2 * D, &ds,
                       &r->io->self_mask);
    residual_out(r, h, a->y1, ada ? a->mod + 2 * D : NULL, a->att, W + o->wo, D);

    /* cross-attention: no RoPE, only padding masked */
    if (c->cross_attn) {
        memcpy(a->hx, h, ND * sizeof *h);
        block_norm_forward(c, a->xnx, a->meanx, a->rstdx, h, W, o->nxg, o->nxb, N);
        matmul_wt(a->qx, 0.0f, a->xnx, W + o->xwq, N, D, D);
        matmul_wt(a->kvx, 0.0f, r->io->mem, W + o->xwkv, B * r->Tm, D, 2 * D);
        duet_attn_mask mm = {DUET_MASK_BIDIR, r->io->mem_valid, NULL};
        duet_attn_dims dx = attn_dims(r, r->Tm, D, 2 * D);
        duet_attention_fwd(a->attx, a->probsx, a->qx, a->kvx, a->kvx + D, &dx, &mm);
        matmul_wt(h, 1.0f, a->attx, W + o->xwo, N, D, D);
    }

    /* MLP */
    memcpy(a->h_mid, h, ND * sizeof *h);
    block_norm_forward(c, a->xn2, a->mean2, a->rstd2, h, W, o->n2g, o->n2b, N);
    if (ada)
        duet_modulate_forward(a->xm2, a->xn2, a->mod + 3 * D, a->mod + 4 * D, B, T, D, 6 * D, pt);
    if (c->mlp == DUET_MLP_SWIGLU) {
        matmul_wt(a->pre, 0.0f, a->xm2, W + o->w13, N, D, 2 * F);
        duet_swiglu_rows_forward(a->u, a->pre, N, F);
    } else {
        matmul_wt(a->pre, 0.0f, a->xm2, W + o->w13, N, D, F);
        duet_gelu_forward(a->u, a->pre, (size_t)N * F);
    }
    residual_out(r, h, a->y2, ada ? a->mod + 5 * D : NULL, a->u, W + o->w2, F);
}

/* Backward of `residual_out`: returns the gradient of the sublayer output
 * (ws->dh itself without a gate), accumulating the gate gradient. */
static const float *gate_backward(const block_run *r, const block_ws *ws, const float *gate,
                                  float *dgate, const float *y)
{
    if (!gate)
        return ws->dh;
    const int D = r->c->dim;
    duet_gate_residual_backward_beta(dgate, ws->dy, 0.0f, ws->dh, gate, y, r->B, r->T, D,
                                     6 * D, r->c->cond_per_token);
    return ws->dy;
}

/* From the gradient of a modulated norm input (dxm) back into ws->dh. */
static void norm_mod_backward(const block_run *r, const block_ws *ws, const float *W,
                              float *dW, size_t og, size_t ob, const float *in, const float *xn,
                              const float *mean, const float *rstd, const float *mod_sc,
                              float *dshift, float *dscale)
{
    const duet_stack_config *c = r->c;
    const int D = c->dim, N = r->B * r->T;
    const float *dxn = ws->dxm;
    if (mod_sc) {
        duet_modulate_backward_beta(ws->dxn, 0.0f, dshift, dscale, ws->dxm, xn, mod_sc, r->B,
                                    r->T, D, 6 * D, c->cond_per_token);
        dxn = ws->dxn;
    }
    block_norm_backward(c, ws->dh, dW, og, ob, dxn, in, W, mean, rstd, N);
}

void block_backward(const block_run *r, const block_off *o, const block_cache *a,
                    const float *W, float *dW, float *dmem, int want_dc, const block_ws *ws)
{
    const duet_stack_config *c = r->c;
    const int D = c->dim, B = r->B, T = r->T, N = B * T, F = r->F, H = c->n_head;
    const int ada = c->cond == DUET_COND_ADALN;
    /* adaLN vector gradients are needed for dW of ada.* or for dcond */
    float *dm = ada && (dW || want_dc) ? ws->dmod : NULL;
#define DW(off) (dW ? dW + (off) : NULL)
#define DMOD(k) (dm ? dm + (k) * D : NULL)
#define MOD(k) (ada ? a->mod + (k) * D : NULL)
    if (dm)
        memset(dm, 0, (size_t)r->rows * 6 * D * sizeof *dm);

    /* MLP */
    const float *gy = gate_backward(r, ws, MOD(5), DMOD(5), a->y2);
    duet_linear_backward_beta(ws->du, 0.0f, DW(o->w2), NULL, gy, a->u, W + o->w2, N, F, D);
    int pre_w = c->mlp == DUET_MLP_SWIGLU ? 2 * F : F;
    if (c->mlp == DUET_MLP_SWIGLU)
        duet_swiglu_rows_backward(ws->dpre, ws->du, a->pre, N, F);
    else
        duet_gelu_backward_write(ws->dpre, ws->du, a->pre, (size_t)N * F);
    duet_linear_backward_beta(ws->dxm, 0.0f, DW(o->w13), NULL, ws->dpre, a->xm2, W + o->w13, N,
                              D, pre_w);
    norm_mod_backward(r, ws, W, dW, o->n2g, o->n2b, a->h_mid, a->xn2, a->mean2, a->rstd2,
                      MOD(4), DMOD(3), DMOD(4));

    /* cross-attention */
    if (c->cross_attn) {
        const int Tm = r->Tm;
        duet_linear_backward_beta(ws->datt, 0.0f, DW(o->xwo), NULL, ws->dh, a->attx, W + o->xwo,
                                  N, D, D);
        duet_attn_dims dx = attn_dims(r, Tm, D, 2 * D);
        duet_attention_bwd(ws->dqx, ws->dkvx, ws->dkvx + D, 0.0f, ws->datt, a->probsx, a->qx,
                           a->kvx, a->kvx + D, &dx, ws->attn);
        duet_linear_backward_beta(ws->dxm, 0.0f, DW(o->xwq), NULL, ws->dqx, a->xnx, W + o->xwq,
                                  N, D, D);
        duet_linear_backward_beta(dmem, 1.0f, DW(o->xwkv), NULL, ws->dkvx, r->io->mem,
                                  W + o->xwkv, B * Tm, D, 2 * D);
        block_norm_backward(c, ws->dh, dW, o->nxg, o->nxb, ws->dxm, a->hx, W, a->meanx, a->rstdx,
                            N);
    }

    /* self-attention */
    gy = gate_backward(r, ws, MOD(2), DMOD(2), a->y1);
    duet_linear_backward_beta(ws->datt, 0.0f, DW(o->wo), NULL, gy, a->att, W + o->wo, N, D, D);
    duet_attn_dims ds = attn_dims(r, T, 3 * D, 3 * D);
    duet_attention_bwd(ws->dqkv, ws->dqkv + D, ws->dqkv + 2 * D, 0.0f, ws->datt, a->probs,
                       a->qkv, a->qkv + D, a->qkv + 2 * D, &ds, ws->attn);
    if (c->pos == DUET_POS_ROPE) {
        duet_rope_apply(ws->dqkv, 3 * D, B, T, H, D / H, r->rope_cos, r->rope_sin, 1);
        duet_rope_apply(ws->dqkv + D, 3 * D, B, T, H, D / H, r->rope_cos, r->rope_sin, 1);
    }
    duet_linear_backward_beta(ws->dxm, 0.0f, DW(o->wqkv), NULL, ws->dqkv, a->xm1, W + o->wqkv, N,
                              D, 3 * D);
    norm_mod_backward(r, ws, W, dW, o->n1g, o->n1b, a->h_in, a->xn1, a->mean1, a->rstd1, MOD(1),
                      DMOD(0), DMOD(1));

    /* adaLN projection: mod = cs Wm^T + bm */
    if (dm)
        duet_linear_backward_beta(want_dc ? ws->dc : NULL, 1.0f, DW(o->ada_w), DW(o->ada_b), dm,
                                  r->cs, W + o->ada_w, r->rows, D, 6 * D);
#undef DW
#undef DMOD
#undef MOD
}
