/* Time conditioning ops (SPEC 1.2-1.3): sinusoidal timestep embedding,
 * adaLN modulation x*(1+scale)+shift and the gated residual h += gate*y.
 *
 * The modulation vectors are rows of a [rows, stride] array: one row per
 * sequence (mod_per_token = 0) or per token. Backward loops run over
 * (sequence, column block) pairs so the per-sequence reductions over
 * positions happen in position order inside one thread.
 */
#include <math.h>

#include "duet/ops.h"
#include "ops_internal.h"

void duet_timestep_embedding(float *out, const float *s, int N, int Dt)
{
    int half = Dt / 2;
    DUET_OMP_FOR((size_t)N * Dt)
    for (int n = 0; n < N; n++)
        for (int k = 0; k < half; k++) {
            /* double: s reaches 1000, float arguments would lose digits */
            double a = (double)s[n] * exp(-log(10000.0) * k / half);
            out[(size_t)n * Dt + k] = (float)cos(a);
            out[(size_t)n * Dt + half + k] = (float)sin(a);
        }
}

static inline size_t mod_row(int b, int t, int T, int per_token)
{
    return per_token ? (size_t)b * T + t : (size_t)b;
}

void duet_modulate_forward(float *out, const float *x, const float *shift,
                           const float *scale, int B, int T, int D, int stride,
                           int mod_per_token)
{
    DUET_OMP_FOR((size_t)B * T * D)
    for (int bt = 0; bt < B * T; bt++) {
        size_t r = mod_row(bt / T, bt % T, T, mod_per_token) * stride;
        const float *xi = x + (size_t)bt * D, *sh = shift + r, *sc = scale + r;
        float *o = out + (size_t)bt * D;
        for (int j = 0; j < D; j++)
            o[j] = xi[j] * (1.0f + sc[j]) + sh[j];
    }
}

/* The backward of out = x * (offset + m) + shift (shift optional): modulation
 * (offset 1) and the gate (offset 0, the residual's own gradient is dh). */
static void scale_shift_backward(float *dx, float beta, float *dshift, float *dscale,
                                 const float *dout, const float *x, const float *m, float offset,
                                 int B, int T, int D, int stride, int mod_per_token)
{
    int nblk = (D + DUET_COL_BLOCK - 1) / DUET_COL_BLOCK, acc = beta != 0.0f;
    DUET_OMP_FOR2((size_t)B * T * D)
    for (int b = 0; b < B; b++)
        for (int blk = 0; blk < nblk; blk++) {
            int j0 = blk * DUET_COL_BLOCK, j1 = DUET_MIN(j0 + DUET_COL_BLOCK, D);
            for (int t = 0; t < T; t++) {
                size_t row = ((size_t)b * T + t) * D, r = mod_row(b, t, T, mod_per_token) * stride;
                const float *dy = dout + row, *xi = x + row, *mr = m + r;
                if (dx) {
                    float *g = dx + row;
                    for (int j = j0; j < j1; j++)
                        g[j] = (acc ? g[j] : 0.0f) + dy[j] * (offset + mr[j]);
                }
                if (dshift)
                    for (int j = j0; j < j1; j++)
                        dshift[r + j] += dy[j];
                if (dscale)
                    for (int j = j0; j < j1; j++)
                        dscale[r + j] += dy[j] * xi[j];
            }
        }
}

void duet_modulate_backward_beta(float *dx, float beta, float *dshift, float *dscale,
                                 const float *dout, const float *x, const float *scale,
                                 int B, int T, int D, int stride, int mod_per_token)
{
    scale_shift_backward(dx, beta, dshift, dscale, dout, x, scale, 1.0f, B, T, D, stride,
                         mod_per_token);
}

void duet_modulate_backward(float *dx, float *dshift, float *dscale, const float *dout,
                            const float *x, const float *scale, int B, int T, int D,
                            int stride, int mod_per_token)
{
    duet_modulate_backward_beta(dx, 1.0f, dshift, dscale, dout, x, scale, B, T, D, stride,
                                mod_per_token);
}

void duet_gate_residual_forward(float *h, const float *gate, const float *y, int B, int T,
                                int D, int stride, int mod_per_token)
{
    DUET_OMP_FOR((size_t)B * T * D)
    for (int bt = 0; bt < B * T; bt++) {
        const float *g = gate + mod_row(bt / T, bt % T, T, mod_per_token) * stride;
        const float *yi = y + (size_t)bt * D;
        float *hi = h + (size_t)bt * D;
        for (int j = 0; j < D; j++)
            hi[j] += g[j] * yi[j];
    }
}

void duet_gate_residual_backward_beta(float *dgate, float *dy, float beta, const float *dh,
                                      const float *gate, const float *y, int B, int T, int D,
                                      int stride, int mod_per_token)
{
    scale_shift_backward(dy, beta, NULL, dgate, dh, y, gate, 0.0f, B, T, D, stride,
                         mod_per_token);
}

void duet_gate_residual_backward(float *dgate, float *dy, const float *dh, const float *gate,
                                 const float *y, int B, int T, int D, int stride,
                                 int mod_per_token)
{
    duet_gate_residual_backward_beta(dgate, dy, 1.0f, dh, gate, y, B, T, D, stride,
                                     mod_per_token);
}
