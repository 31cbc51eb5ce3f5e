/* Multi-head scaled dot-product attention (masked softmax) and rotary
 * position embeddings.
 *
 * Each (batch, head) pair is an independent problem of a few small GEMMs
 * (Tq x Tk x dh): too small for OpenBLAS threads, so OpenMP runs the pairs
 * in parallel and BLAS is switched to serial for the region. Per-pair
 * outputs (probs, out rows/columns of one head) are disjoint, so results do
 * not depend on the thread count.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "duet/ops.h"
#include "duet/util.h"
#include "ops_internal.h"

/* Keys [0, jend) minus invalid ones are allowed for query i. */
static int allowed_end(const duet_attn_mask *m, int b, int i, int Tk)
{
    if (!m)
        return Tk;
    switch (m->mode) {
    case DUET_MASK_CAUSAL:
        return DUET_MIN(i + 1, Tk);
    case DUET_MASK_PREFIX: {
        int pl = m->prefix_len[b];
        return i < pl ? DUET_MIN(pl, Tk) : Tk;
    }
    default:
        return Tk;
    }
}

/* In place: scores -> probabilities; disallowed keys get exactly 0, a row
 * with no allowed key is all zeros. */
static void masked_softmax_row(float *s, int Tk, int jend, const uint8_t *valid)
{
    for (int j = jend; j < Tk; j++)
        s[j] = -INFINITY;
    if (valid)
        for (int j = 0; j < jend; j++)
            s[j] = valid[j] ? s[j] : -INFINITY;
    float m = duet_max_row(s, Tk);
    if (m == -INFINITY) {
        for (int j = 0; j < Tk; j++)
            s[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    DUET_SIMD_REDUCE(+, sum)
    for (int j = 0; j < Tk; j++) {
        float e = duet_expf(s[j] - m);
        s[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < Tk; j++)
        s[j] *= inv;
}

void duet_attention_fwd(float *out, float *probs, const float *q, const float *k,
                        const float *v, const duet_attn_dims *d, const duet_attn_mask *mask)
{
    const int B = d->B, Tq = d->Tq, Tk = d->Tk, H = d->H, dh = d->dh;
    const float scale = 1.0f / sqrtf((float)dh);
    int saved = duet_blas_serial_begin();
    DUET_OMP_FOR((size_t)B * H * Tq * Tk * dh)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *P = probs + (size_t)bh * Tq * Tk;
        const float *qb = q + (size_t)b * Tq * d->ldq + (size_t)h * dh;
        const float *kb = k + (size_t)b * Tk * d->ldk + (size_t)h * dh;
        const float *vb = v + (size_t)b * Tk * d->ldv + (size_t)h * dh;
        float *ob = out + (size_t)b * Tq * d->ldo + (size_t)h * dh;
        const uint8_t *valid = mask && mask->key_valid ? mask->key_valid + (size_t)b * Tk : NULL;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, dh, scale, qb, d->ldq, kb,
                    d->ldk, 0.0f, P, Tk);
        for (int i = 0; i < Tq; i++)
            masked_softmax_row(P + (size_t)i * Tk, Tk, allowed_end(mask, b, i, Tk), valid);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, dh, Tk, 1.0f, P, Tk, vb,
                    d->ldv, 0.0f, ob, d->ldo);
    }
    duet_blas_serial_end(saved);
}

void duet_attention_bwd(float *dq, float *dk, float *dv, float beta, const float *dout,
                        const float *probs, const float *q, const float *k, const float *v,
                        const duet_attn_dims *d, float *ws)
{
    const int B = d->B, Tq = d->Tq, Tk = d->Tk, H = d->H, dh = d->dh;
    const float scale = 1.0f / sqrtf((float)dh);
    int saved = duet_blas_serial_begin();
    DUET_OMP_FOR((size_t)B * H * Tq * Tk * dh)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        const float *P = probs + (size_t)bh * Tq * Tk;
        float *W = ws + (size_t)bh * Tq * Tk;
        size_t oq = (size_t)b * Tq * d->ldq + (size_t)h * dh;
        size_t ok = (size_t)b * Tk * d->ldk + (size_t)h * dh;
        size_t ov = (size_t)b * Tk * d->ldv + (size_t)h * dh;
        const float *dob = dout + (size_t)b * Tq * d->ldo + (size_t)h * dh;
        if (dv) /* dV = P^T dO */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, dh, Tq, 1.0f, P, Tk, dob,
                        d->ldo, beta, dv + ov, d->ldv);
        if (!dq && !dk)
            continue;
        /* dP = dO V^T, then dS = scale * P * (dP - rowsum(P * dP)) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, dh, 1.0f, dob, d->ldo,
                    v + ov, d->ldv, 0.0f, W, Tk);
        for (int i = 0; i < Tq; i++) {
            const float *p = P + (size_t)i * Tk;
            float *w = W + (size_t)i * Tk, dot = 0.0f;
            DUET_SIMD_REDUCE(+, dot)
            for (int j = 0; j < Tk; j++)
                dot += p[j] * w[j];
            for (int j = 0; j < Tk; j++)
                w[j] = scale * p[j] * (w[j] - dot);
        }
        if (dq) /* dQ = dS K */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, dh, Tk, 1.0f, W, Tk,
                        k + ok, d->ldk, beta, dq + oq, d->ldq);
        if (dk) /* dK = dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, dh, Tq, 1.0f, W, Tk,
                        q + oq, d->ldq, beta, dk + ok, d->ldk);
    }
    duet_blas_serial_end(saved);
}

static duet_attn_dims packed_dims(int B, int Tq, int Tk, int H, int dh)
{
    duet_attn_dims d = {B, Tq, Tk, H, dh, H * dh, H * dh, H * dh, H * dh};
    return d;
}

void duet_attention_forward(float *out, float *probs, const float *q, const float *k,
                            const float *v, int B, int Tq, int Tk, int H, int dh,
                            const duet_attn_mask *mask)
{
    duet_attn_dims d = packed_dims(B, Tq, Tk, H, dh);
    duet_attention_fwd(out, probs, q, k, v, &d, mask);
}

void duet_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                             const float *probs, const float *q, const float *k,
                             const float *v, int B, int Tq, int Tk, int H, int dh)
{
    duet_attn_dims d = packed_dims(B, Tq, Tk, H, dh);
    float *ws = (dq || dk) ? duet_falloc((size_t)B * H * Tq * Tk) : NULL;
    duet_attention_bwd(dq, dk, dv, 1.0f, dout, probs, q, k, v, &d, ws);
    free(ws);
}

/* ---- RoPE: pairs (2i, 2i+1), theta_i = 10000^(-2i/dh) (SPEC 1.1) ---- */

void duet_rope_table(float *cosv, float *sinv, int T, int dh, int pos0)
{
    int half = dh / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            /* double: angles reach pos * 1 rad, float would lose digits */
            double ang = (double)(pos0 + t) * pow(10000.0, -2.0 * i / dh);
            cosv[(size_t)t * half + i] = (float)cos(ang);
            sinv[(size_t)t * half + i] = (float)sin(ang);
        }
}

void duet_rope_apply(float *x, int ld, int B, int T, int H, int dh, const float *cosv,
                     const float *sinv, int inverse)
{
    int half = dh / 2;
    float sgn = inverse ? -1.0f : 1.0f;
    DUET_OMP_FOR((size_t)B * T * H * dh)
    for (int row = 0; row < B * T; row++) {
        const float *c = cosv + (size_t)(row % T) * half, *s = sinv + (size_t)(row % T) * half;
        for (int h = 0; h < H; h++) {
            float *p = x + (size_t)row * ld + (size_t)h * dh;
            for (int i = 0; i < half; i++) {
                float a = p[2 * i], b = p[2 * i + 1], si = sgn * s[i];
                p[2 * i] = a * c[i] - b * si;
                p[2 * i + 1] = a * si + b * c[i];
            }
        }
    }
}

static void rope_public(float *x, int B, int T, int H, int dh, int pos0, int inverse)
{
    if (dh % 2)
        duet_fatal("rope: head dim %d is odd", dh);
    float *cs = duet_falloc((size_t)T * dh);
    duet_rope_table(cs, cs + (size_t)T * (dh / 2), T, dh, pos0);
    duet_rope_apply(x, H * dh, B, T, H, dh, cs, cs + (size_t)T * (dh / 2), inverse);
    free(cs);
}

void duet_rope_forward(float *x, int B, int T, int H, int dh, int pos0)
{
    rope_public(x, B, T, H, dh, pos0, 0);
}

void duet_rope_backward(float *dx, int B, int T, int H, int dh, int pos0)
{
    rope_public(dx, B, T, H, dh, pos0, 1);
}
