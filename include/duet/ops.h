/* duet/ops.h — core tensor ops: float32 forward/backward pairs on plain arrays.
 *
 * Conventions (every op):
 *   - Row-major arrays; shapes are explicit arguments; N = number of rows
 *     (positions, usually B*T). Linear weights are [out, in] (PyTorch layout).
 *   - `_forward` writes its outputs and whatever cache `_backward` needs.
 *   - `_backward` ACCUMULATES (+=) into every gradient it is given: input
 *     gradients and parameter gradients alike. A NULL gradient pointer means
 *     "not needed": that gradient is neither computed nor written. (The joint
 *     objective relies on this to route gradients, SPEC 2.5.)
 *   - Backward never modifies forward inputs or caches, so it may run more
 *     than once after one forward.
 * Core ops know nothing of MPI, files or configs.
 */
#ifndef DUET_OPS_H
#define DUET_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Threads per rank for OpenBLAS and OpenMP loops. */
void duet_set_threads(int n);
int duet_get_threads(void);

/* ---- linear: out[N,OC] = in[N,C] W^T + b,  W [OC,C], b [OC] or NULL ---- */
void duet_linear_forward(float *out, const float *in, const float *w, const float *b,
                         int N, int C, int OC);
void duet_linear_backward(float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, int N, int C, int OC);

/* ---- embedding: out[N,D] = table[ids[n]] ---- */
void duet_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int D);
void duet_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int D);

/* ---- RMSNorm: out = g * x / sqrt(mean(x^2) + eps); cache rstd[N] ---- */
void duet_rmsnorm_forward(float *out, float *rstd, const float *in, const float *g,
                          int N, int D, float eps);
void duet_rmsnorm_backward(float *din, float *dg, const float *dout, const float *in,
                           const float *g, const float *rstd, int N, int D);

/* ---- LayerNorm: out = (x - mean) * rstd * g + b; g, b may be NULL (no
 * affine); cache mean[N], rstd[N] ---- */
void duet_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *g, const float *b, int N, int D, float eps);
void duet_layernorm_backward(float *din, float *dg, float *db, const float *dout,
                             const float *in, const float *g, const float *mean,
                             const float *rstd, int N, int D);

/* ---- rotary position embedding on x[B,T,H,dh] in place, position of row
 * (b,t) = pos0 + t; the backward applies the inverse rotation to dx ---- */
void duet_rope_forward(float *x, int B, int T, int H, int dh, int pos0);
void duet_rope_backward(float *dx, int B, int T, int H, int dh, int pos0);

/* ---- multi-head scaled dot-product attention ----
 * q [B,Tq,H*dh], k,v [B,Tk,H*dh] -> out [B,Tq,H*dh]; probs cache [B,H,Tq,Tk].
 * Masking: mode BIDIR (only invalid keys masked), CAUSAL (key j <= query i),
 * PREFIX (queries < prefix_len[b] see only keys < prefix_len[b]; the rest
 * see every key). key_valid [B,Tk] (1 = attend) may be NULL (all valid).
 * A query with no allowed key gets a zero output. */
typedef enum { DUET_MASK_BIDIR = 0, DUET_MASK_CAUSAL = 1, DUET_MASK_PREFIX = 2 } duet_mask_mode;
typedef struct duet_attn_mask {
    duet_mask_mode mode;
    const uint8_t *key_valid; /* [B,Tk] or NULL */
    const int32_t *prefix_len; /* [B], PREFIX mode only */
} duet_attn_mask;
void duet_attention_forward(float *out, float *probs, const float *q, const float *k,
                            const float *v, int B, int Tq, int Tk, int H, int dh,
                            const duet_attn_mask *mask);
void duet_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                             const float *probs, const float *q, const float *k,
                             const float *v, int B, int Tq, int Tk, int H, int dh);

/* ---- activations (elementwise over n) ---- */
void duet_silu_forward(float *out, const float *x, size_t n);
void duet_silu_backward(float *dx, const float *dout, const float *x, size_t n);
void duet_gelu_forward(float *out, const float *x, size_t n); /* erf form */
void duet_gelu_backward(float *dx, const float *dout, const float *x, size_t n);
/* SwiGLU gate: out = SiLU(a) * b */
void duet_swiglu_forward(float *out, const float *a, const float *b, size_t n);
void duet_swiglu_backward(float *da, float *db, const float *dout, const float *a,
                          const float *b, size_t n);

/* ---- residual add: out = a + b (out may alias a) ---- */
void duet_add_forward(float *out, const float *a, const float *b, size_t n);

/* ---- sinusoidal time embedding (SPEC 1.2): out[N,Dt] =
 * [cos(s*freq_k), sin(s*freq_k)], freq_k = exp(-ln(10000) k/(Dt/2)) ---- */
void duet_timestep_embedding(float *out, const float *s, int N, int Dt);

/* ---- adaLN modulation (SPEC 1.3): out = x * (1 + scale) + shift.
 * x [B,T,D]; shift/scale are rows of a modulation array with row stride
 * `stride` floats: per sequence (mod_per_token = 0, row b) or per token
 * (row b*T+t). Gated residual: h += gate * y, same addressing. ---- */
void duet_modulate_forward(float *out, const float *x, const float *shift,
                           const float *scale, int B, int T, int D, int stride,
                           int mod_per_token);
void duet_modulate_backward(float *dx, float *dshift, float *dscale, const float *dout,
                            const float *x, const float *scale, int B, int T, int D,
                            int stride, int mod_per_token);
void duet_gate_residual_forward(float *h, const float *gate, const float *y, int B, int T,
                                int D, int stride, int mod_per_token);
void duet_gate_residual_backward(float *dgate, float *dy, const float *dh, const float *gate,
                                 const float *y, int B, int T, int D, int stride,
                                 int mod_per_token);

/* ---- softmax cross-entropy, fused forward+backward over rows of logits.
 * loss[n] = -w[n] * log softmax(logits[n])[target[n]]; rows whose target is
 * ignore_index contribute 0 (and zero gradient). forbid >= 0 forces that
 * logit to -inf (MASK is never predicted). If dlogits is non-NULL it is
 * WRITTEN (the one exception to "backward accumulates", so that it may
 * alias logits and save a [N,V] buffer) with scale * w[n] * (softmax -
 * onehot). weights may be NULL (all 1). Returns the sum of loss[n] in
 * double. loss may be NULL. ---- */
double duet_xent_forward_backward(float *dlogits, float *loss, const float *logits,
                                  const int32_t *target, const float *weights, float scale,
                                  int N, int V, int ignore_index, int forbid);

/* ---- mean squared error pieces: returns sum (a-b)^2 (b NULL: sum a^2),
 * bitwise the same for any thread count; backward accumulates
 * da += scale*2(a-b), db -= scale*2(a-b) (either may be NULL) ---- */
double duet_sqerr_forward(const float *a, const float *b, size_t n);
void duet_sqerr_backward(float *da, float *db, const float *a, const float *b, float scale,
                         size_t n);

#endif
