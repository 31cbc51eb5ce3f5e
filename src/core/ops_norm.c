/* RMSNorm and LayerNorm over the last axis. Rows are independent in the
 * forward and in din; gain/bias gradients are column reductions done in
 * column blocks so their summation order does not depend on threads. */
#include "duet/ops.h"
#include "ops_internal.h"

void duet_rmsnorm_forward(float *out, float *rstd, const float *in, const float *g,
                          int N, int D, float eps)
{
    DUET_OMP_FOR((size_t)N * D)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * D;
        float *o = out + (size_t)n * D;
        float ss = 0.0f;
        DUET_SIMD_REDUCE(+, ss)
        for (int j = 0; j < D; j++)
            ss += x[j] * x[j];
        float r = 1.0f / sqrtf(ss / (float)D + eps);
        rstd[n] = r;
        for (int j = 0; j < D; j++)
            o[j] = g[j] * (x[j] * r);
    }
}

void duet_rmsnorm_backward(float *din, float *dg, const float *dout, const float *in,
                           const float *g, const float *rstd, int N, int D)
{
    if (din) {
        DUET_OMP_FOR((size_t)N * D)
        for (int n = 0; n < N; n++) {
            const float *x = in + (size_t)n * D, *dy = dout + (size_t)n * D;
            float *dx = din + (size_t)n * D;
            float r = rstd[n], dot = 0.0f;
            DUET_SIMD_REDUCE(+, dot)
            for (int j = 0; j < D; j++)
                dot += dy[j] * g[j] * x[j];
            /* d/dx of g*x*r: r*(g*dy - x * r^2 * mean(g*dy*x)) */
            float c = dot * r * r / (float)D;
            for (int j = 0; j < D; j++)
                dx[j] += r * (g[j] * dy[j] - x[j] * c);
        }
    }
    if (dg) {
        int nblk = (D + DUET_COL_BLOCK - 1) / DUET_COL_BLOCK;
        DUET_OMP_FOR((size_t)N * D)
        for (int blk = 0; blk < nblk; blk++) {
            int j0 = blk * DUET_COL_BLOCK, j1 = DUET_MIN(j0 + DUET_COL_BLOCK, D);
            for (int n = 0; n < N; n++) {
                const float *x = in + (size_t)n * D, *dy = dout + (size_t)n * D;
                float r = rstd[n];
                for (int j = j0; j < j1; j++)
                    dg[j] += dy[j] * (x[j] * r);
            }
        }
    }
}

void duet_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *g, const float *b, int N, int D, float eps)
{
    DUET_OMP_FOR((size_t)N * D)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * D;
        float *o = out + (size_t)n * D;
        float s = 0.0f;
        DUET_SIMD_REDUCE(+, s)
        for (int j = 0; j < D; j++)
            s += x[j];
        float m = s / (float)D, ss = 0.0f;
        DUET_SIMD_REDUCE(+, ss)
        for (int j = 0; j < D; j++)
            ss += (x[j] - m) * (x[j] - m);
        float r = 1.0f / sqrtf(ss / (float)D + eps);
        mean[n] = m;
        rstd[n] = r;
        for (int j = 0; j < D; j++) {
            float y = (x[j] - m) * r;
            o[j] = (g ? g[j] * y : y) + (b ? b[j] : 0.0f);
        }
    }
}

void duet_layernorm_backward(float *din, float *dg, float *db, const float *dout,
                             const float *in, const float *g, const float *mean,
                             const float *rstd, int N, int D)
{
    if (din) {
        DUET_OMP_FOR((size_t)N * D)
        for (int n = 0; n < N; n++) {
            const float *x = in + (size_t)n * D, *dy = dout + (size_t)n * D;
            float *dx = din + (size_t)n * D;
            float m = mean[n], r = rstd[n], s1 = 0.0f, s2 = 0.0f;
            DUET_SIMD_REDUCE(+, s1)
            for (int j = 0; j < D; j++)
                s1 += g ? g[j] * dy[j] : dy[j];
            DUET_SIMD_REDUCE(+, s2)
            for (int j = 0; j < D; j++)
                s2 += (g ? g[j] * dy[j] : dy[j]) * ((x[j] - m) * r);
            s1 /= (float)D;
            s2 /= (float)D;
            for (int j = 0; j < D; j++) {
                float dxh = g ? g[j] * dy[j] : dy[j];
                dx[j] += r * (dxh - s1 - (x[j] - m) * r * s2);
            }
        }
    }
    if (dg || db) {
        int nblk = (D + DUET_COL_BLOCK - 1) / DUET_COL_BLOCK;
        DUET_OMP_FOR((size_t)N * D)
        for (int blk = 0; blk < nblk; blk++) {
            int j0 = blk * DUET_COL_BLOCK, j1 = DUET_MIN(j0 + DUET_COL_BLOCK, D);
            for (int n = 0; n < N; n++) {
                const float *x = in + (size_t)n * D, *dy = dout + (size_t)n * D;
                float m = mean[n], r = rstd[n];
                if (dg)
                    for (int j = j0; j < j1; j++)
                        dg[j] += dy[j] * ((x[j] - m) * r);
                if (db)
                    for (int j = j0; j < j1; j++)
                        db[j] += dy[j];
            }
        }
    }
}
