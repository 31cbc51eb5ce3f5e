/* Elementwise activations: SiLU, GELU (erf form), SwiGLU. SiLU uses the
 * vectorisable duet_expf; GELU uses libm erff (not on the default path). */
#include <math.h>

#include "duet/ops.h"
#include "ops_internal.h"

static inline float silu_grad(float x)
{
    float s = duet_sigmoidf(x);
    return s * (1.0f + x * (1.0f - s));
}

void duet_silu_forward(float *out, const float *x, size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] * duet_sigmoidf(x[i]);
}

void duet_silu_backward(float *dx, const float *dout, const float *x, size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        dx[i] += dout[i] * silu_grad(x[i]);
}

static inline float gelu(float x) { return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2)); }

static inline float gelu_grad(float x)
{
    const float inv_sqrt_2pi = 0.3989422804014327f;
    return 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)) + x * inv_sqrt_2pi * duet_expf(-0.5f * x * x);
}

void duet_gelu_forward(float *out, const float *x, size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        out[i] = gelu(x[i]);
}

void duet_gelu_backward(float *dx, const float *dout, const float *x, size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        dx[i] += dout[i] * gelu_grad(x[i]);
}

void duet_gelu_backward_write(float *dx, const float *dout, const float *x, size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        dx[i] = dout[i] * gelu_grad(x[i]);
}

void duet_swiglu_forward(float *out, const float *a, const float *b, size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] * duet_sigmoidf(a[i]) * b[i];
}

void duet_swiglu_backward(float *da, float *db, const float *dout, const float *a,
                          const float *b, size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++) {
        if (da)
            da[i] += dout[i] * b[i] * silu_grad(a[i]);
        if (db)
            db[i] += dout[i] * a[i] * duet_sigmoidf(a[i]);
    }
}

void duet_swiglu_rows_forward(float *out, const float *ab, int N, int F)
{
    DUET_OMP_FOR((size_t)N * F)
    for (int n = 0; n < N; n++) {
        const float *a = ab + (size_t)n * 2 * F, *b = a + F;
        float *o = out + (size_t)n * F;
        for (int j = 0; j < F; j++)
            o[j] = a[j] * duet_sigmoidf(a[j]) * b[j];
    }
}

void duet_swiglu_rows_backward(float *dab, const float *dout, const float *ab, int N, int F)
{
    DUET_OMP_FOR((size_t)N * F)
    for (int n = 0; n < N; n++) {
        const float *a = ab + (size_t)n * 2 * F, *b = a + F, *dy = dout + (size_t)n * F;
        float *da = dab + (size_t)n * 2 * F, *db = da + F;
        for (int j = 0; j < F; j++) {
            float s = duet_sigmoidf(a[j]);
            da[j] = dy[j] * b[j] * s * (1.0f + a[j] * (1.0f - s));
            db[j] = dy[j] * a[j] * s;
        }
    }
}
