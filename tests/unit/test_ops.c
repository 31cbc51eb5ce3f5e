/* Core ops: finite-difference gradient checks of every op, naive reference
 * implementations of linear and attention, hand-computed values, the
 * "backward accumulates / NULL skips" convention.
 *
 * Gradient tolerance (all ops unless stated): central differences in
 * float32 with h = 1e-2 on L = sum r*out accumulated in double; pass iff
 * |ana - num| <= 1e-4 + 1e-3 * max(|ana|, |num|). Float32 rounding of the
 * forward gives FD noise ~1e-6 here and the O(h^2) truncation error stays
 * below ~2e-5 for these sizes (observed worst ratio ~0.2).
 * Every analytic gradient starts at 0.25 and has 0.25 subtracted after the
 * backward, so an op that overwrote instead of accumulating would fail.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/ops_internal.h"
#include "duet/ops.h"
#include "gradcheck.h"

static const gc_tol TOL = {1e-2f, 1e-3, 1e-4};
#define ACC0 0.25f
#define PTS 400

#define CHECK_GRAD(fn, ctx, x, g, n, what) \
    ck_assert_double_le(gc_check(fn, ctx, x, g, n, PTS, TOL, what), 1.0)

static float *acc_grad(size_t n) { return gc_const(n, ACC0); }

/* ------------------------------------------------------------------ linear */

typedef struct lin_ctx {
    int N, C, OC;
    float *x, *w, *b, *r, *out;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    duet_linear_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC);
    return gc_dot(c->r, c->out, (size_t)c->N * c->OC);
}

/* Naive reference in double. */
static void linear_naive(double *out, const float *x, const float *w, const float *b, int N,
                         int C, int OC)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b[o] : 0.0;
            for (int c = 0; c < C; c++)
                s += (double)x[(size_t)n * C + c] * w[(size_t)o * C + c];
            out[(size_t)n * OC + o] = s;
        }
}

START_TEST(linear_matches_naive_and_grads)
{
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        lin_ctx c = {7, 13, 5, NULL, NULL, NULL, NULL, NULL};
        size_t nx = (size_t)c.N * c.C, nw = (size_t)c.OC * c.C, no = (size_t)c.N * c.OC;
        c.x = gc_zeros(nx), c.w = gc_zeros(nw), c.b = with_bias ? gc_zeros(c.OC) : NULL;
        c.r = gc_zeros(no), c.out = gc_zeros(no);
        gc_fill(c.x, nx, 1, -1, 1);
        gc_fill(c.w, nw, 2, -1, 1);
        if (c.b)
            gc_fill(c.b, c.OC, 3, -1, 1);
        gc_fill(c.r, no, 4, -1, 1);
        lin_loss(&c);
        double *ref = malloc(no * sizeof *ref);
        linear_naive(ref, c.x, c.w, c.b, c.N, c.C, c.OC);
        for (size_t i = 0; i < no; i++) /* float GEMM vs double: 1e-5 relative to the row scale */
            ck_assert_double_le(fabs(c.out[i] - ref[i]), 1e-5 * (1 + fabs(ref[i])));
        float *dx = acc_grad(nx), *dw = acc_grad(nw), *db = acc_grad(c.OC);
        duet_linear_backward(dx, dw, c.b ? db : NULL, c.r, c.x, c.w, c.N, c.C, c.OC);
        gc_sub(dx, nx, ACC0);
        gc_sub(dw, nw, ACC0);
        gc_sub(db, c.OC, ACC0);
        CHECK_GRAD(lin_loss, &c, c.x, dx, nx, "linear dx");
        CHECK_GRAD(lin_loss, &c, c.w, dw, nw, "linear dw");
        if (c.b)
            CHECK_GRAD(lin_loss, &c, c.b, db, c.OC, "linear db");
        /* NULL skips: only dw requested, dx and db untouched */
        float *dx2 = gc_const(nx, 3.0f), *dw2 = gc_zeros(nw);
        duet_linear_backward(NULL, dw2, NULL, c.r, c.x, c.w, c.N, c.C, c.OC);
        for (size_t i = 0; i < nw; i++)
            ck_assert_double_le(fabs(dw2[i] - dw[i]), 1e-6);
        for (size_t i = 0; i < nx; i++)
            ck_assert_float_eq(dx2[i], 3.0f);
        free(ref), free(dx), free(dw), free(db), free(dx2), free(dw2);
        free(c.x), free(c.w), free(c.b), free(c.r), free(c.out);
    }
}
END_TEST

/* --------------------------------------------------------------- embedding */

START_TEST(embedding_forward_backward)
{
    enum { V = 5, D = 3, N = 6 };
    int32_t ids[N] = {4, 0, 4, 2, 4, 1};
    float table[V * D], out[N * D], dout[N * D];
    gc_fill(table, V * D, 5, -1, 1);
    gc_fill(dout, N * D, 6, -1, 1);
    duet_embedding_forward(out, ids, table, N, D);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < D; j++)
            ck_assert_float_eq(out[n * D + j], table[ids[n] * D + j]);
    float *dt = acc_grad(V * D);
    duet_embedding_backward(dt, dout, ids, N, D);
    for (int v = 0; v < V; v++)
        for (int j = 0; j < D; j++) {
            double want = ACC0; /* repeated id 4 sums three rows, id 3 gets nothing */
            for (int n = 0; n < N; n++)
                want += ids[n] == v ? dout[n * D + j] : 0.0f;
            ck_assert_double_le(fabs(dt[v * D + j] - want), 1e-6);
        }
    free(dt);
}
END_TEST

/* ------------------------------------------------------------------- norms */

typedef struct norm_ctx {
    int N, D, layer, affine;
    float *x, *g, *b, *r, *out, *mean, *rstd;
} norm_ctx;

static double norm_loss(void *p)
{
    norm_ctx *c = p;
    if (c->layer)
        duet_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->affine ? c->g : NULL,
                               c->affine ? c->b : NULL, c->N, c->D, 1e-6f);
    else
        duet_rmsnorm_forward(c->out, c->rstd, c->x, c->g, c->N, c->D, 1e-6f);
    return gc_dot(c->r, c->out, (size_t)c->N * c->D);
}

static void norm_case(int layer, int affine)
{
    norm_ctx c = {6, 10, layer, affine, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t n = (size_t)c.N * c.D;
    c.x = gc_zeros(n), c.g = gc_zeros(c.D), c.b = gc_zeros(c.D), c.r = gc_zeros(n);
    c.out = gc_zeros(n), c.mean = gc_zeros(c.N), c.rstd = gc_zeros(c.N);
    gc_fill(c.x, n, 11, -2, 2);
    gc_fill(c.g, c.D, 12, 0.5f, 1.5f);
    gc_fill(c.b, c.D, 13, -0.5f, 0.5f);
    gc_fill(c.r, n, 14, -1, 1);
    norm_loss(&c);
    /* value: row 0 by hand in double */
    double s = 0, ss = 0;
    for (int j = 0; j < c.D; j++)
        s += c.x[j], ss += (double)c.x[j] * c.x[j];
    double m = layer ? s / c.D : 0.0, var = layer ? ss / c.D - m * m : ss / c.D;
    for (int j = 0; j < c.D; j++) {
        double want = (c.x[j] - m) / sqrt(var + 1e-6);
        if (!layer || affine)
            want = want * c.g[j] + (layer ? c.b[j] : 0.0);
        ck_assert_double_le(fabs(c.out[j] - want), 1e-5);
    }
    float *dx = acc_grad(n), *dg = acc_grad(c.D), *db = acc_grad(c.D);
    if (layer)
        duet_layernorm_backward(dx, affine ? dg : NULL, affine ? db : NULL, c.r, c.x,
                                affine ? c.g : NULL, c.mean, c.rstd, c.N, c.D);
    else
        duet_rmsnorm_backward(dx, dg, c.r, c.x, c.g, c.rstd, c.N, c.D);
    gc_sub(dx, n, ACC0);
    gc_sub(dg, c.D, ACC0);
    gc_sub(db, c.D, ACC0);
    CHECK_GRAD(norm_loss, &c, c.x, dx, n, "norm dx");
    if (!layer || affine)
        CHECK_GRAD(norm_loss, &c, c.g, dg, c.D, "norm dg");
    if (layer && affine)
        CHECK_GRAD(norm_loss, &c, c.b, db, c.D, "norm db");
    free(dx), free(dg), free(db);
    free(c.x), free(c.g), free(c.b), free(c.r), free(c.out), free(c.mean), free(c.rstd);
}

START_TEST(rmsnorm_grads) { norm_case(0, 1); }
END_TEST
START_TEST(layernorm_grads)
{
    norm_case(1, 1);
    norm_case(1, 0);
}
END_TEST

/* -------------------------------------------------------------------- RoPE */

typedef struct rope_ctx {
    int B, T, H, dh, pos0;
    float *x0, *x, *r;
} rope_ctx;

static double rope_loss(void *p)
{
    rope_ctx *c = p;
    size_t n = (size_t)c->B * c->T * c->H * c->dh;
    memcpy(c->x, c->x0, n * sizeof *c->x);
    duet_rope_forward(c->x, c->B, c->T, c->H, c->dh, c->pos0);
    return gc_dot(c->r, c->x, n);
}

START_TEST(rope_values_and_grads)
{
    rope_ctx c = {2, 5, 3, 8, 7, NULL, NULL, NULL};
    size_t n = (size_t)c.B * c.T * c.H * c.dh;
    c.x0 = gc_zeros(n), c.x = gc_zeros(n), c.r = gc_zeros(n);
    gc_fill(c.x0, n, 21, -1, 1);
    gc_fill(c.r, n, 22, -1, 1);
    rope_loss(&c);
    /* value: b=1, t=3, head 2, pair i=1 rotated by (pos0+3) * 10000^(-2/8) */
    size_t base = (((size_t)1 * c.T + 3) * c.H + 2) * c.dh;
    double ang = (c.pos0 + 3) * pow(10000.0, -2.0 * 1 / c.dh);
    double a = c.x0[base + 2], b = c.x0[base + 3];
    ck_assert_double_le(fabs(c.x[base + 2] - (a * cos(ang) - b * sin(ang))), 1e-6);
    ck_assert_double_le(fabs(c.x[base + 3] - (a * sin(ang) + b * cos(ang))), 1e-6);
    /* relative positions: <rope(q, p), rope(k, p')> depends on p - p' only */
    float q[8], k[8], q1[8], k1[8], q2[8], k2[8];
    gc_fill(q, 8, 23, -1, 1);
    gc_fill(k, 8, 24, -1, 1);
    memcpy(q1, q, sizeof q), memcpy(k1, k, sizeof k), memcpy(q2, q, sizeof q), memcpy(k2, k, sizeof k);
    duet_rope_forward(q1, 1, 1, 1, 8, 5), duet_rope_forward(k1, 1, 1, 1, 8, 2);
    duet_rope_forward(q2, 1, 1, 1, 8, 13), duet_rope_forward(k2, 1, 1, 1, 8, 10);
    ck_assert_double_le(fabs(gc_dot(q1, k1, 8) - gc_dot(q2, k2, 8)), 1e-5);
    /* gradient: the backward un-rotates dx in place */
    float *dx = gc_dup(c.r, n);
    duet_rope_backward(dx, c.B, c.T, c.H, c.dh, c.pos0);
    CHECK_GRAD(rope_loss, &c, c.x0, dx, n, "rope dx");
    free(dx), free(c.x0), free(c.x), free(c.r);
}
END_TEST

/* --------------------------------------------------------------- attention */

typedef struct attn_ctx {
    int B, Tq, Tk, H, dh;
    duet_attn_mask mask;
    float *q, *k, *v, *r, *out, *probs;
} attn_ctx;

static double attn_loss(void *p)
{
    attn_ctx *c = p;
    duet_attention_forward(c->out, c->probs, c->q, c->k, c->v, c->B, c->Tq, c->Tk, c->H, c->dh,
                           &c->mask);
    return gc_dot(c->r, c->out, (size_t)c->B * c->Tq * c->H * c->dh);
}

/* Naive reference in double, straight from the definition. */
static void attention_naive(double *out, const attn_ctx *c)
{
    const int C = c->H * c->dh;
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < c->Tq; i++) {
                double s[64], m = -INFINITY, z = 0;
                for (int j = 0; j < c->Tk; j++) {
                    int ok = !c->mask.key_valid || c->mask.key_valid[b * c->Tk + j];
                    if (c->mask.mode == DUET_MASK_CAUSAL)
                        ok = ok && j <= i;
                    if (c->mask.mode == DUET_MASK_PREFIX && i < c->mask.prefix_len[b])
                        ok = ok && j < c->mask.prefix_len[b];
                    double d = 0;
                    for (int e = 0; e < c->dh; e++)
                        d += (double)c->q[((size_t)b * c->Tq + i) * C + h * c->dh + e] *
                             c->k[((size_t)b * c->Tk + j) * C + h * c->dh + e];
                    s[j] = ok ? d / sqrt(c->dh) : -INFINITY;
                    m = fmax(m, s[j]);
                }
                for (int j = 0; j < c->Tk; j++)
                    z += s[j] == -INFINITY ? 0 : exp(s[j] - m);
                for (int e = 0; e < c->dh; e++) {
                    double o = 0;
                    for (int j = 0; j < c->Tk && z > 0; j++)
                        if (s[j] != -INFINITY)
                            o += exp(s[j] - m) / z *
                                 c->v[((size_t)b * c->Tk + j) * C + h * c->dh + e];
                    out[((size_t)b * c->Tq + i) * C + h * c->dh + e] = o;
                }
            }
}

static void attn_case(int Tq, int Tk, duet_mask_mode mode, const uint8_t *valid,
                      const int32_t *prefix, uint64_t seed)
{
    attn_ctx c = {2, Tq, Tk, 3, 4, {mode, valid, prefix}, NULL, NULL, NULL, NULL, NULL, NULL};
    const int C = c.H * c.dh;
    size_t nq = (size_t)c.B * Tq * C, nk = (size_t)c.B * Tk * C;
    c.q = gc_zeros(nq), c.k = gc_zeros(nk), c.v = gc_zeros(nk), c.r = gc_zeros(nq);
    c.out = gc_zeros(nq), c.probs = gc_zeros((size_t)c.B * c.H * Tq * Tk);
    gc_fill(c.q, nq, seed, -1.5f, 1.5f);
    gc_fill(c.k, nk, seed + 1, -1.5f, 1.5f);
    gc_fill(c.v, nk, seed + 2, -1, 1);
    gc_fill(c.r, nq, seed + 3, -1, 1);
    attn_loss(&c);
    double *ref = malloc(nq * sizeof *ref);
    attention_naive(ref, &c);
    for (size_t i = 0; i < nq; i++) /* float vs double reference */
        ck_assert_double_le(fabs(c.out[i] - ref[i]), 1e-5);
    float *dq = acc_grad(nq), *dk = acc_grad(nk), *dv = acc_grad(nk);
    duet_attention_backward(dq, dk, dv, c.r, c.probs, c.q, c.k, c.v, c.B, Tq, Tk, c.H, c.dh);
    gc_sub(dq, nq, ACC0);
    gc_sub(dk, nk, ACC0);
    gc_sub(dv, nk, ACC0);
    CHECK_GRAD(attn_loss, &c, c.q, dq, nq, "attention dq");
    CHECK_GRAD(attn_loss, &c, c.k, dk, nk, "attention dk");
    CHECK_GRAD(attn_loss, &c, c.v, dv, nk, "attention dv");
    /* NULL skips: dv alone equals the dv of the full call */
    float *dv2 = gc_zeros(nk);
    duet_attention_backward(NULL, NULL, dv2, c.r, c.probs, c.q, c.k, c.v, c.B, Tq, Tk, c.H, c.dh);
    for (size_t i = 0; i < nk; i++)
        ck_assert_double_le(fabs(dv2[i] - dv[i]), 1e-6);
    free(ref), free(dq), free(dk), free(dv), free(dv2);
    free(c.q), free(c.k), free(c.v), free(c.r), free(c.out), free(c.probs);
}

START_TEST(attention_bidirectional) { attn_case(5, 5, DUET_MASK_BIDIR, NULL, NULL, 31); }
END_TEST
START_TEST(attention_causal) { attn_case(6, 6, DUET_MASK_CAUSAL, NULL, NULL, 41); }
END_TEST
START_TEST(attention_prefix_and_padding)
{
    static const uint8_t valid[2 * 6] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    static const int32_t prefix[2] = {2, 3};
    attn_case(6, 6, DUET_MASK_PREFIX, valid, prefix, 51);
    attn_case(6, 6, DUET_MASK_BIDIR, valid, NULL, 61);
}
END_TEST
START_TEST(attention_cross_with_empty_rows)
{
    /* sequence 1 has no valid key: its outputs and gradients must be 0 */
    static const uint8_t valid[2 * 7] = {1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    attn_case(4, 7, DUET_MASK_BIDIR, valid, NULL, 71);
    float q[1 * 2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8}, k[4] = {1, 1, 1, 1}, v[4] = {3, 3, 3, 3};
    float out[8], probs[2];
    const uint8_t none[1] = {0};
    duet_attn_mask m = {DUET_MASK_BIDIR, none, NULL};
    duet_attention_forward(out, probs, q, k, v, 1, 2, 1, 1, 4, &m);
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(out[i], 0.0f);
}
END_TEST

/* ------------------------------------------------------------- activations */

typedef struct act_ctx {
    int kind; /* 0 silu, 1 gelu, 2 swiglu */
    size_t n;
    float *a, *b, *r, *out;
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    if (c->kind == 0)
        duet_silu_forward(c->out, c->a, c->n);
    else if (c->kind == 1)
        duet_gelu_forward(c->out, c->a, c->n);
    else
        duet_swiglu_forward(c->out, c->a, c->b, c->n);
    return gc_dot(c->r, c->out, c->n);
}

START_TEST(activation_values_and_grads)
{
    /* values from the definitions: SiLU(1) = 1/(1+e^-1), GELU(1) = Phi(1) */
    float one = 1.0f, y;
    duet_silu_forward(&y, &one, 1);
    ck_assert_double_le(fabs(y - 0.7310585786300049), 1e-6);
    duet_gelu_forward(&y, &one, 1);
    ck_assert_double_le(fabs(y - 0.8413447460685429), 1e-6);
    for (int kind = 0; kind < 3; kind++) {
        act_ctx c = {kind, 200, NULL, NULL, NULL, NULL};
        c.a = gc_zeros(c.n), c.b = gc_zeros(c.n), c.r = gc_zeros(c.n), c.out = gc_zeros(c.n);
        gc_fill(c.a, c.n, 80 + kind, -5, 5);
        gc_fill(c.b, c.n, 90 + kind, -2, 2);
        gc_fill(c.r, c.n, 100 + kind, -1, 1);
        float *da = acc_grad(c.n), *db = acc_grad(c.n);
        if (kind == 0)
            duet_silu_backward(da, c.r, c.a, c.n);
        else if (kind == 1)
            duet_gelu_backward(da, c.r, c.a, c.n);
        else
            duet_swiglu_backward(da, db, c.r, c.a, c.b, c.n);
        gc_sub(da, c.n, ACC0);
        gc_sub(db, c.n, ACC0);
        CHECK_GRAD(act_loss, &c, c.a, da, c.n, "activation da");
        if (kind == 2)
            CHECK_GRAD(act_loss, &c, c.b, db, c.n, "swiglu db");
        free(da), free(db), free(c.a), free(c.b), free(c.r), free(c.out);
    }
}
END_TEST

START_TEST(residual_add)
{
    float a[3] = {1, 2, 3}, b[3] = {0.5f, -2, 4};
    duet_add_forward(a, a, b, 3); /* out may alias a */
    ck_assert_float_eq(a[0], 1.5f);
    ck_assert_float_eq(a[1], 0.0f);
    ck_assert_float_eq(a[2], 7.0f);
}
END_TEST

/* --------------------------------------------------- time conditioning ops */

START_TEST(timestep_embedding_values)
{
    float s[2] = {0.0f, 437.5f}, out[2 * 8];
    duet_timestep_embedding(out, s, 2, 8);
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 4; k++) {
            double a = s[n] * exp(-log(10000.0) * k / 4.0);
            ck_assert_double_le(fabs(out[n * 8 + k] - cos(a)), 1e-6);
            ck_assert_double_le(fabs(out[n * 8 + 4 + k] - sin(a)), 1e-6);
        }
}
END_TEST

typedef struct mod_ctx {
    int B, T, D, stride, per_token, gate;
    float *x, *mod, *h0, *r, *out;
} mod_ctx;

/* shift at mod[.. + 0], scale at + D, gate at + 2D of each row */
static double mod_loss(void *p)
{
    mod_ctx *c = p;
    size_t n = (size_t)c->B * c->T * c->D;
    if (c->gate) {
        memcpy(c->out, c->h0, n * sizeof *c->out);
        duet_gate_residual_forward(c->out, c->mod + 2 * c->D, c->x, c->B, c->T, c->D, c->stride,
                                   c->per_token);
    } else {
        duet_modulate_forward(c->out, c->x, c->mod, c->mod + c->D, c->B, c->T, c->D, c->stride,
                              c->per_token);
    }
    return gc_dot(c->r, c->out, n);
}

START_TEST(modulate_and_gate_grads)
{
    for (int per_token = 0; per_token < 2; per_token++)
        for (int gate = 0; gate < 2; gate++) {
            mod_ctx c = {2, 3, 5, 4 * 5, per_token, gate, NULL, NULL, NULL, NULL, NULL};
            size_t n = (size_t)c.B * c.T * c.D, rows = per_token ? (size_t)c.B * c.T : (size_t)c.B;
            size_t nm = rows * c.stride;
            c.x = gc_zeros(n), c.mod = gc_zeros(nm), c.h0 = gc_zeros(n), c.r = gc_zeros(n);
            c.out = gc_zeros(n);
            gc_fill(c.x, n, 110, -1, 1);
            gc_fill(c.mod, nm, 111, -1, 1);
            gc_fill(c.h0, n, 112, -1, 1);
            gc_fill(c.r, n, 113, -1, 1);
            float *dx = acc_grad(n), *dm = acc_grad(nm);
            if (gate)
                duet_gate_residual_backward(dm + 2 * c.D, dx, c.r, c.mod + 2 * c.D, c.x, c.B, c.T,
                                            c.D, c.stride, per_token);
            else
                duet_modulate_backward(dx, dm, dm + c.D, c.r, c.x, c.mod + c.D, c.B, c.T, c.D,
                                       c.stride, per_token);
            gc_sub(dx, n, ACC0);
            gc_sub(dm, nm, ACC0);
            CHECK_GRAD(mod_loss, &c, c.x, dx, n, gate ? "gate dy" : "modulate dx");
            CHECK_GRAD(mod_loss, &c, c.mod, dm, nm, gate ? "gate dgate" : "modulate dshift/dscale");
            free(dx), free(dm), free(c.x), free(c.mod), free(c.h0), free(c.r), free(c.out);
        }
}
END_TEST

/* ------------------------------------------------------------------ losses */

typedef struct xent_ctx {
    int N, V, ignore, forbid;
    float scale;
    float *logits, *w;
    int32_t *t;
} xent_ctx;

static double xent_loss(void *p)
{
    xent_ctx *c = p;
    return c->scale * duet_xent_forward_backward(NULL, NULL, c->logits, c->t, c->w, c->scale,
                                                 c->N, c->V, c->ignore, c->forbid);
}

START_TEST(xent_values_and_grads)
{
    enum { N = 6, V = 9 };
    int32_t t[N] = {3, -100, 0, 8, 5, 3};
    xent_ctx c = {N, V, -100, 7, 0.3f, NULL, NULL, t};
    c.logits = gc_zeros(N * V), c.w = gc_zeros(N);
    gc_fill(c.logits, N * V, 120, -3, 3);
    gc_fill(c.w, N, 121, 0.5f, 2);
    float loss[N], *dl = gc_zeros(N * V);
    double sum = duet_xent_forward_backward(dl, loss, c.logits, t, c.w, c.scale, N, V, -100, 7);
    /* hand computation in double; the forbidden logit is excluded */
    double want = 0;
    for (int n = 0; n < N; n++) {
        double ln = 0;
        if (t[n] != -100) {
            double z = 0;
            for (int j = 0; j < V; j++)
                z += j == 7 ? 0 : exp(c.logits[n * V + j]);
            ln = c.w[n] * (log(z) - c.logits[n * V + t[n]]);
        }
        ck_assert_double_le(fabs(loss[n] - ln), 1e-5);
        want += ln;
    }
    ck_assert_double_le(fabs(sum - want), 1e-5);
    for (int j = 0; j < V; j++) /* ignored row: zero gradient */
        ck_assert_float_eq(dl[1 * V + j], 0.0f);
    for (int n = 0; n < N; n++) /* forbidden logit: zero gradient */
        ck_assert_float_eq(dl[n * V + 7], 0.0f);
    CHECK_GRAD(xent_loss, &c, c.logits, dl, N * V, "xent dlogits");
    /* in place (dlogits aliases logits) gives the same gradient and sum */
    float *inplace = gc_dup(c.logits, N * V);
    double s2 = duet_xent_forward_backward(inplace, NULL, inplace, t, c.w, c.scale, N, V, -100, 7);
    ck_assert_double_eq(s2, sum);
    for (int i = 0; i < N * V; i++)
        ck_assert_float_eq(inplace[i], dl[i]);
    /* weights NULL = all ones */
    float ones[N] = {1, 1, 1, 1, 1, 1};
    double a = duet_xent_forward_backward(NULL, NULL, c.logits, t, NULL, 1, N, V, -100, -1);
    double b = duet_xent_forward_backward(NULL, NULL, c.logits, t, ones, 1, N, V, -100, -1);
    ck_assert_double_eq(a, b);
    free(dl), free(inplace), free(c.logits), free(c.w);
}
END_TEST

START_TEST(xent_nan_propagates)
{
    /* the trainer's NaN guard needs a NaN loss when any logit is NaN */
    float l[4] = {0.1f, NAN, 0.3f, 0.2f};
    int32_t t[1] = {0};
    ck_assert(isnan(duet_xent_forward_backward(NULL, NULL, l, t, NULL, 1, 1, 4, -100, -1)));
}
END_TEST

typedef struct sq_ctx {
    size_t n;
    float *a, *b;
} sq_ctx;

static double sq_loss(void *p)
{
    sq_ctx *c = p;
    return 0.7 * duet_sqerr_forward(c->a, c->b, c->n);
}

START_TEST(sqerr_grads)
{
    sq_ctx c = {50, NULL, NULL};
    c.a = gc_zeros(c.n), c.b = gc_zeros(c.n);
    gc_fill(c.a, c.n, 130, -1, 1);
    gc_fill(c.b, c.n, 131, -1, 1);
    double want = 0;
    for (size_t i = 0; i < c.n; i++)
        want += ((double)c.a[i] - c.b[i]) * ((double)c.a[i] - c.b[i]);
    ck_assert_double_le(fabs(duet_sqerr_forward(c.a, c.b, c.n) - want), 1e-9);
    float *da = acc_grad(c.n), *db = acc_grad(c.n);
    duet_sqerr_backward(da, db, c.a, c.b, 0.7f, c.n);
    gc_sub(da, c.n, ACC0);
    gc_sub(db, c.n, ACC0);
    CHECK_GRAD(sq_loss, &c, c.a, da, c.n, "sqerr da");
    CHECK_GRAD(sq_loss, &c, c.b, db, c.n, "sqerr db");
    free(da), free(db), free(c.a), free(c.b);
}
END_TEST

START_TEST(fast_exp_accuracy)
{
    /* duet_expf (softmax, SiLU) against double exp: <= 4 ulp-ish (5e-7
     * relative) over the range softmax and SiLU use */
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + 175.0f * (float)i / 200000.0f;
        double want = exp((double)x);
        worst = fmax(worst, fabs(duet_expf(x) - want) / want);
    }
    ck_assert_double_le(worst, 5e-7);
    ck_assert_float_eq(duet_expf(-INFINITY), 0.0f);
    ck_assert_float_eq(duet_expf(-100.0f), 0.0f);
    ck_assert(isinf(duet_expf(100.0f)));
    ck_assert(isnan(duet_expf(NAN)));
    ck_assert_float_eq(duet_expf(0.0f), 1.0f);
}
END_TEST

Suite *suite_ops(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, linear_matches_naive_and_grads);
    tcase_add_test(tc, embedding_forward_backward);
    tcase_add_test(tc, rmsnorm_grads);
    tcase_add_test(tc, layernorm_grads);
    tcase_add_test(tc, rope_values_and_grads);
    tcase_add_test(tc, attention_bidirectional);
    tcase_add_test(tc, attention_causal);
    tcase_add_test(tc, attention_prefix_and_padding);
    tcase_add_test(tc, attention_cross_with_empty_rows);
    tcase_add_test(tc, activation_values_and_grads);
    tcase_add_test(tc, residual_add);
    tcase_add_test(tc, timestep_embedding_values);
    tcase_add_test(tc, modulate_and_gate_grads);
    tcase_add_test(tc, xent_values_and_grads);
    tcase_add_test(tc, xent_nan_propagates);
    tcase_add_test(tc, sqerr_grads);
    tcase_add_test(tc, fast_exp_accuracy);
    suite_add_tcase(s, tc);
    return s;
}
