/* ops_internal.h — pieces shared by the op files and the transformer stack
 * (src/model), not part of the public API:
 *   - OpenMP pragmas that vanish in OMP=0 builds (no unknown-pragma warnings);
 *   - a vectorisable exp with exact 0 for masked (-inf) inputs and NaN
 *     propagation (the trainer's NaN guard must see NaN logits);
 *   - strided variants of the kernels the stack runs on fused buffers
 *     (q|k|v in one [N,3D] GEMM output, SwiGLU a|b in one [N,2F] output)
 *     and "write" (beta = 0) variants that spare zeroing a workspace.
 * Everything here is deterministic and independent of the thread count:
 * parallel loops own disjoint outputs, reductions run in a fixed order.
 */
#ifndef DUET_OPS_INTERNAL_H
#define DUET_OPS_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "duet/ops.h"
#include "duet/util.h"

#define DUET_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define DUET_OMP(x) DUET_PRAGMA(omp x)
#else
#define DUET_OMP(x)
#endif
/* Parallel loop over independent rows/items, for `work` elements (or
 * flops) in all: small problems stay serial, since a fork/join costs more
 * than they do (and far more on an oversubscribed machine). */
#define DUET_PAR_MIN 32768
#define DUET_OMP_FOR(work) DUET_OMP(parallel for schedule(static) if ((work) >= DUET_PAR_MIN))
#define DUET_OMP_FOR2(work) \
    DUET_OMP(parallel for collapse(2) schedule(static) if ((work) >= DUET_PAR_MIN))
/* Vectorised reduction: the order is fixed by the binary (vector width),
 * never by the thread count. */
#define DUET_SIMD_REDUCE(op, var) DUET_OMP(simd reduction(op : var))

/* Column blocks for reductions over rows (bias / gain / gate gradients):
 * threads own column blocks, each summing rows in order. */
#define DUET_COL_BLOCK 64
/* Deterministic sums: at most this many fixed row chunks, summed in order. */
#define DUET_SUM_CHUNKS 256

/* exp(x) for float, ~2 ulp, branch-free so loops over it vectorise.
 * x < -87.33 (incl. -inf) gives exactly 0, x > 88.37 gives +inf, NaN stays NaN. */
static inline float duet_expf(float x)
{
    const float lo = -87.33654f, hi = 88.37626f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    /* k = round(x / ln2) by the 1.5*2^23 trick (no libm call, vectorises) */
    float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    y = x < lo ? 0.0f : y;
    y = x > hi ? INFINITY : y;
    return x != x ? x : y;
}

/* Max of x[0..n) (-inf if n = 0). Max is exact in any order, so 16
 * independent lanes let compilers vectorise it without fast-math. */
static inline float duet_max_row(const float *x, int n)
{
    float lane[16];
    for (int l = 0; l < 16; l++)
        lane[l] = -INFINITY;
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++)
            lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l];
    for (; j < n; j++)
        lane[0] = x[j] > lane[0] ? x[j] : lane[0];
    float m = lane[0];
    for (int l = 1; l < 16; l++)
        m = lane[l] > m ? lane[l] : m;
    return m;
}

static inline float duet_sigmoidf(float x) { return 1.0f / (1.0f + duet_expf(-x)); }

/* Threads: BLAS calls made from inside OpenMP loops (per-head attention
 * GEMMs) must run serially, or the OpenBLAS pthread build queues every call
 * on its own pool. begin returns the count to restore with end. */
int duet_blas_serial_begin(void);
void duet_blas_serial_end(int saved);

/* linear backward with din = beta*din + dout W (beta 0 or 1, so a fresh
 * workspace needs no zeroing); dw, db accumulate; NULL skips. */
void duet_linear_backward_beta(float *din, float beta, float *dw, float *db, const float *dout,
                               const float *in, const float *w, int N, int C, int OC);

/* db[j] += sum_n x[n*ld + j], j < D (fixed row order). */
void duet_colsum_acc(float *db, const float *x, int N, int D, int ld);

/* Attention on strided rows: row (b,t) of q starts at q + (b*Tq+t)*ldq,
 * head h at + h*dh; same for k, v, out (and their gradients). */
typedef struct duet_attn_dims {
    int B, Tq, Tk, H, dh;
    int ldq, ldk, ldv, ldo;
} duet_attn_dims;

void duet_attention_fwd(float *out, float *probs, const float *q, const float *k,
                        const float *v, const duet_attn_dims *d, const duet_attn_mask *mask);
/* ws: [B,H,Tq,Tk] scratch. Gradients: beta 0 writes, 1 accumulates; NULL skips. */
void duet_attention_bwd(float *dq, float *dk, float *dv, float beta, const float *dout,
                        const float *probs, const float *q, const float *k, const float *v,
                        const duet_attn_dims *d, float *ws);

/* RoPE angle tables cos/sin [T, dh/2] for positions pos0..pos0+T-1. */
void duet_rope_table(float *cosv, float *sinv, int T, int dh, int pos0);
/* Rotates (inverse = 0) or un-rotates (1) x rows of stride ld, heads of dh. */
void duet_rope_apply(float *x, int ld, int B, int T, int H, int dh, const float *cosv,
                     const float *sinv, int inverse);

/* SwiGLU on rows of a fused [N, 2F] buffer ab = [a | b]:
 * out[N,F] = SiLU(a)*b; backward WRITES dab = [da | db]. */
void duet_swiglu_rows_forward(float *out, const float *ab, int N, int F);
void duet_swiglu_rows_backward(float *dab, const float *dout, const float *ab, int N, int F);
/* GELU backward that writes dx (no accumulation). */
void duet_gelu_backward_write(float *dx, const float *dout, const float *x, size_t n);

/* Modulate backward: dx = (beta*dx) + dout*(1+scale), dshift/dscale
 * accumulate; dx may be NULL. */
void duet_modulate_backward_beta(float *dx, float beta, float *dshift, float *dscale,
                                 const float *dout, const float *x, const float *scale,
                                 int B, int T, int D, int stride, int mod_per_token);
/* Gated residual backward writing dy = dh*gate (dy may be NULL); dgate accumulates. */
void duet_gate_residual_backward_beta(float *dgate, float *dy, float beta, const float *dh,
                                      const float *gate, const float *y, int B, int T, int D,
                                      int stride, int mod_per_token);

#endif
