/* block.h — one pre-norm transformer block (SPEC 1.1, 1.3), internal to
 * src/model: the stack owns the parameters, caches and workspace and calls
 * block_forward / block_backward layer by layer.
 *
 * Fused weights: attn.wqkv is [3D, D] (rows q | k | v), xattn.wkv [2D, D]
 * (k | v), SwiGLU mlp.w13 [2F, D] (rows W1 | W3), adaLN ada.w [6D, D] with
 * output order (sh1, sc1, g1, sh2, sc2, g2).
 */
#ifndef DUET_MODEL_BLOCK_H
#define DUET_MODEL_BLOCK_H

#include "duet/model.h"

#define DUET_NORM_EPS 1e-6f

/* Slab offsets of one block's tensors (unused ones stay 0). */
typedef struct block_off {
    size_t lo; /* lowest offset of the block (grad hook) */
    size_t ada_w, ada_b;
    size_t n1g, n1b, wqkv, wo;
    size_t nxg, nxb, xwq, xwkv, xwo;
    size_t n2g, n2b, w13, w2; /* w13: [2F,D] SwiGLU or [F,D] GELU (W1) */
} block_off;

/* Forward activations of one block, kept for backward. NULL when the
 * config does not need them (xm* alias xn* without adaLN). */
typedef struct block_cache {
    float *h_in, *mean1, *rstd1, *xn1, *xm1, *qkv, *probs, *att, *y1;
    float *hx, *meanx, *rstdx, *xnx, *qx, *kvx, *probsx, *attx;
    float *h_mid, *mean2, *rstd2, *xn2, *xm2, *pre, *u, *y2;
    float *mod; /* [rows, 6D] adaLN vectors */
} block_cache;

/* Backward workspace, shared by all blocks. */
typedef struct block_ws {
    float *dh;          /* [N,D] running gradient of the residual stream */
    float *dy, *dxm, *dxn, *datt; /* [N,D] */
    float *dqkv;        /* [N,3D] */
    float *dqx, *dkvx;  /* [N,D], [B*Tm,2D] */
    float *dpre, *du;   /* [N,2F or F], [N,F] */
    float *dmod;        /* [rows,6D] */
    float *dc;          /* [rows,D] gradient of SiLU(cond) */
    float *attn;        /* [B,H,T,max(T,Tm)] attention backward scratch */
} block_ws;

/* Per-call facts shared by every block of one forward/backward. */
typedef struct block_run {
    const duet_stack_config *c;
    int B, T, Tm, F;
    int rows;              /* rows of the conditioning: B or B*T */
    const float *cs;       /* SiLU(cond) [rows, D] (adaLN) */
    const float *rope_cos, *rope_sin; /* [T, dh/2] (RoPE) */
    const duet_stack_io *io;
} block_run;

void block_forward(const block_run *r, const block_off *o, const block_cache *a,
                   const float *W, float *h);
/* ws->dh holds the gradient w.r.t. the block output on entry and w.r.t.
 * its input on return. dW may be NULL; dmem (if non-NULL) and ws->dc (if
 * want_dc) accumulate. */
void block_backward(const block_run *r, const block_off *o, const block_cache *a,
                    const float *W, float *dW, float *dmem, int want_dc, const block_ws *ws);

/* Norm of the configured kind (RMSNorm: gain only; LayerNorm: gain, bias). */
void block_norm_forward(const duet_stack_config *c, float *out, float *mean, float *rstd,
                        const float *in, const float *W, size_t og, size_t ob, int N);
void block_norm_backward(const duet_stack_config *c, float *din, float *dW, size_t og,
                         size_t ob, const float *dout, const float *in, const float *W,
                         const float *mean, const float *rstd, int N);

#endif
