/* Transformer stack and time embedding: finite-difference gradients of a
 * full 2-block stack in every mask mode / conditioning / norm / MLP /
 * position / cross-attention variant, the SPEC 7 backbone oracles, the
 * backward-twice property, the grad hook, determinism and thread-count
 * independence, and the token network's head on selected rows against the
 * head on every row.
 *
 * Gradient tolerance: as in test_ops (float32 central differences, h = 1e-2,
 * double loss), pass iff |ana - num| <= 2e-4 + 2e-3 * max(|ana|, |num|):
 * twice the per-op tolerance for two blocks of composed float32 rounding
 * (observed worst ratio ~0.2). Up to 6 entries per parameter tensor and 48
 * per input are checked.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/objectives/tokennet.h"
#include "duet/model.h"
#include "gradcheck.h"
#include "testutil.h"

static const gc_tol TOL = {1e-2f, 2e-3, 2e-4};

typedef struct st_case {
    duet_stack_config c;
    int B, T, Tm, pos0;
    int pad, mem_pad; /* mask the last keys of sequence 1 */
} st_case;

typedef struct st_env {
    st_case k;
    duet_params p;
    duet_stack *s;
    float *h0, *h, *cond, *mem, *r;
    uint8_t *valid, *mem_valid;
    int32_t prefix[4];
    duet_stack_io io;
    size_t nh, ncond, nmem;
} st_env;

static duet_stack_config base_cfg(void)
{
    duet_stack_config c;
    memset(&c, 0, sizeof c);
    c.dim = 16;
    c.n_layer = 2;
    c.n_head = 2;
    c.ffn_dim = 24;
    c.final_norm = 1;
    c.max_batch = 2;
    c.max_seq = 8;
    c.max_mem = 6;
    c.init_std = 0.02f;
    return c;
}

/* Every tensor random (adaLN included, so no gate hides a gradient). */
static void randomize(duet_params *p, uint64_t seed)
{
    for (int i = 0; i < p->n; i++) {
        const duet_tensor *t = &p->t[i];
        float *w = p->w + t->offset;
        size_t len = strlen(t->name);
        if (t->ndim == 2) {
            float a = 1.0f / sqrtf((float)t->shape[1]);
            gc_fill(w, t->count, seed + i, -a, a);
        } else if (len > 2 && strcmp(t->name + len - 2, ".g") == 0) {
            gc_fill(w, t->count, seed + i, 0.8f, 1.2f);
        } else {
            gc_fill(w, t->count, seed + i, -0.1f, 0.1f);
        }
    }
}

static void env_init(st_env *e, const st_case *k, uint64_t seed, int random_params)
{
    memset(e, 0, sizeof *e);
    e->k = *k;
    duet_params_init(&e->p);
    duet_err err;
    e->s = duet_stack_create(&e->p, "st", &k->c, &err);
    ck_assert_msg(e->s != NULL, "%s", err.msg);
    duet_params_alloc(&e->p);
    duet_params_init_values(&e->p, seed);
    if (random_params)
        randomize(&e->p, seed);
    const int D = k->c.dim, B = k->B, T = k->T;
    e->nh = (size_t)B * T * D;
    e->ncond = k->c.cond == DUET_COND_NONE ? 0 : (size_t)(k->c.cond_per_token ? B * T : B) * D;
    e->nmem = k->c.cross_attn ? (size_t)B * k->Tm * D : 0;
    e->h0 = gc_zeros(e->nh), e->h = gc_zeros(e->nh), e->r = gc_zeros(e->nh);
    e->cond = gc_zeros(e->ncond + 1), e->mem = gc_zeros(e->nmem + 1);
    gc_fill(e->h0, e->nh, seed + 100, -1, 1);
    gc_fill(e->r, e->nh, seed + 101, -1, 1);
    gc_fill(e->cond, e->ncond, seed + 102, -1, 1);
    gc_fill(e->mem, e->nmem, seed + 103, -1, 1);
    e->valid = calloc((size_t)B * T, 1);
    e->mem_valid = calloc((size_t)B * (k->Tm + 1), 1);
    memset(e->valid, 1, (size_t)B * T);
    memset(e->mem_valid, 1, (size_t)B * k->Tm);
    if (k->pad)
        e->valid[(size_t)2 * T - 1] = e->valid[(size_t)2 * T - 2] = 0;
    if (k->mem_pad)
        e->mem_valid[(size_t)2 * k->Tm - 1] = 0;
    e->prefix[0] = 2;
    e->prefix[1] = T / 2 + 1;
    e->io.cond = k->c.cond == DUET_COND_NONE ? NULL : e->cond;
    e->io.self_mask.mode = k->c.mask;
    e->io.self_mask.key_valid = k->pad ? e->valid : NULL;
    e->io.self_mask.prefix_len = k->c.mask == DUET_MASK_PREFIX ? e->prefix : NULL;
    e->io.mem = k->c.cross_attn ? e->mem : NULL;
    e->io.mem_valid = k->mem_pad ? e->mem_valid : NULL;
    e->io.mem_len = k->Tm;
    e->io.pos0 = k->pos0;
}

static void env_free(st_env *e)
{
    duet_stack_free(e->s);
    duet_params_free(&e->p);
    free(e->h0), free(e->h), free(e->r), free(e->cond), free(e->mem);
    free(e->valid), free(e->mem_valid);
}

static void env_forward(st_env *e)
{
    memcpy(e->h, e->h0, e->nh * sizeof *e->h);
    duet_stack_forward(e->s, e->p.w, e->h, &e->io, e->k.B, e->k.T);
}

static double env_loss(void *ctx)
{
    st_env *e = ctx;
    env_forward(e);
    return gc_dot(e->r, e->h, e->nh);
}

static void env_backward(st_env *e, float *dW, float *dinput, float *dcond, float *dmem,
                         const duet_grad_hook *hook)
{
    duet_stack_backward(e->s, e->p.w, dW, e->r, dinput, dcond, dmem, &e->io, e->k.B, e->k.T,
                        hook);
}

static void check_case(const st_case *k, uint64_t seed)
{
    st_env e;
    env_init(&e, k, seed, 1);
    env_forward(&e);
    float *din = gc_zeros(e.nh), *dcond = gc_zeros(e.ncond + 1), *dmem = gc_zeros(e.nmem + 1);
    duet_params_zero_grad(&e.p);
    env_backward(&e, e.p.g, din, e.ncond ? dcond : NULL, e.nmem ? dmem : NULL, NULL);
    ck_assert_double_le(gc_check(env_loss, &e, e.h0, din, e.nh, 48, TOL, "stack dinput"), 1.0);
    if (e.ncond)
        ck_assert_double_le(gc_check(env_loss, &e, e.cond, dcond, e.ncond, 48, TOL, "stack dcond"),
                            1.0);
    if (e.nmem)
        ck_assert_double_le(gc_check(env_loss, &e, e.mem, dmem, e.nmem, 48, TOL, "stack dmem"),
                            1.0);
    for (int i = 0; i < e.p.n; i++) {
        const duet_tensor *t = &e.p.t[i];
        ck_assert_double_le(gc_check(env_loss, &e, e.p.w + t->offset, e.p.g + t->offset,
                                     t->count, 6, TOL, t->name),
                            1.0);
    }
    free(din), free(dcond), free(dmem);
    env_free(&e);
}

static st_case mk(duet_mask_mode mask, enum duet_pos_kind pos, enum duet_norm_kind norm,
                  enum duet_mlp_kind mlp, enum duet_cond_kind cond, int per_token, int cross)
{
    st_case k;
    memset(&k, 0, sizeof k);
    k.c = base_cfg();
    k.c.mask = mask;
    k.c.pos = pos;
    k.c.norm = norm;
    k.c.mlp = mlp;
    k.c.cond = cond;
    k.c.cond_per_token = per_token;
    k.c.cross_attn = cross;
    k.B = 2;
    k.T = 6;
    k.Tm = 5;
    return k;
}

START_TEST(grads_bidir_rope_rms_swiglu)
{
    st_case k = mk(DUET_MASK_BIDIR, DUET_POS_ROPE, DUET_NORM_RMS, DUET_MLP_SWIGLU, DUET_COND_NONE,
                   0, 0);
    check_case(&k, 1);
}
END_TEST

START_TEST(grads_causal_rope_layernorm_gelu)
{
    st_case k = mk(DUET_MASK_CAUSAL, DUET_POS_ROPE, DUET_NORM_LAYER, DUET_MLP_GELU,
                   DUET_COND_NONE, 0, 0);
    k.pad = 1;
    k.pos0 = 3;
    check_case(&k, 2);
}
END_TEST

START_TEST(grads_prefix_padding_learned_adaln_seq)
{
    st_case k = mk(DUET_MASK_PREFIX, DUET_POS_LEARNED, DUET_NORM_RMS, DUET_MLP_SWIGLU,
                   DUET_COND_ADALN, 0, 0);
    k.pad = 1;
    k.pos0 = 1;
    check_case(&k, 3);
}
END_TEST

START_TEST(grads_bidir_padding_adaln_token_cross)
{
    st_case k = mk(DUET_MASK_BIDIR, DUET_POS_ROPE, DUET_NORM_LAYER, DUET_MLP_GELU,
                   DUET_COND_ADALN, 1, 1);
    k.pad = 1;
    k.mem_pad = 1;
    check_case(&k, 4);
}
END_TEST

START_TEST(grads_causal_cross_add_seq)
{
    st_case k = mk(DUET_MASK_CAUSAL, DUET_POS_LEARNED, DUET_NORM_RMS, DUET_MLP_SWIGLU,
                   DUET_COND_ADD, 0, 1);
    k.mem_pad = 1;
    check_case(&k, 5);
}
END_TEST

START_TEST(grads_add_token_no_pos_no_final_norm)
{
    st_case k = mk(DUET_MASK_BIDIR, DUET_POS_NONE, DUET_NORM_RMS, DUET_MLP_GELU, DUET_COND_ADD, 1,
                   0);
    k.c.final_norm = 0;
    check_case(&k, 6);
}
END_TEST

/* ------------------------------------------------------- time embedding */

typedef struct te_ctx {
    duet_params p;
    duet_time_embed te;
    float s[3], *out, *r;
} te_ctx;

static double te_loss(void *ctx)
{
    te_ctx *c = ctx;
    duet_time_embed_forward(&c->te, c->p.w, c->out, c->s, 3);
    return gc_dot(c->r, c->out, 3 * 16);
}

START_TEST(time_embed_grads)
{
    te_ctx c;
    duet_params_init(&c.p);
    duet_time_embed_create(&c.te, &c.p, "temb", 16, 4, 0.02f);
    duet_params_alloc(&c.p);
    randomize(&c.p, 7);
    c.s[0] = 0.0f, c.s[1] = 3.5f, c.s[2] = 999.0f;
    c.out = gc_zeros(4 * 16), c.r = gc_zeros(3 * 16);
    gc_fill(c.r, 3 * 16, 8, -1, 1);
    te_loss(&c);
    duet_time_embed_backward(&c.te, c.p.w, c.p.g, c.r, 3);
    for (int i = 0; i < c.p.n; i++) {
        const duet_tensor *t = &c.p.t[i];
        ck_assert_double_le(gc_check(te_loss, &c, c.p.w + t->offset, c.p.g + t->offset, t->count,
                                     40, TOL, t->name),
                            1.0);
    }
    ck_assert_int_eq(c.p.t[0].shape[1], 256); /* Dt = 256 (SPEC 1.2) */
    free(c.out), free(c.r);
    duet_time_embed_free(&c.te);
    duet_params_free(&c.p);
}
END_TEST

/* ---------------------------------------------------------------- oracles */

START_TEST(causal_no_lookahead)
{
    /* SPEC 7.14: perturbing input j changes no output at i < j (bitwise) */
    st_case k = mk(DUET_MASK_CAUSAL, DUET_POS_ROPE, DUET_NORM_RMS, DUET_MLP_SWIGLU,
                   DUET_COND_NONE, 0, 0);
    st_env e;
    env_init(&e, &k, 11, 1);
    const int D = k.c.dim, T = k.T;
    env_forward(&e);
    float *ref = gc_dup(e.h, e.nh);
    for (int j = 0; j < T; j++) {
        float save = e.h0[(size_t)(1 * T + j) * D + 3];
        e.h0[(size_t)(1 * T + j) * D + 3] += 0.5f;
        env_forward(&e);
        e.h0[(size_t)(1 * T + j) * D + 3] = save;
        for (int i = 0; i < T; i++) {
            int same = memcmp(e.h + (size_t)(1 * T + i) * D, ref + (size_t)(1 * T + i) * D,
                              (size_t)D * sizeof(float)) == 0;
            ck_assert_int_eq(same, i < j); /* later outputs do change */
        }
        ck_assert_mem_eq(e.h, ref, (size_t)T * D * sizeof(float)); /* other sequence */
    }
    free(ref);
    env_free(&e);
}
END_TEST

START_TEST(bidirectional_permutation_equivariant)
{
    /* SPEC 7.14: without positions a bidirectional stack commutes with a
     * permutation of positions (up to float reassociation: 1e-5) */
    st_case k = mk(DUET_MASK_BIDIR, DUET_POS_NONE, DUET_NORM_RMS, DUET_MLP_SWIGLU,
                   DUET_COND_ADALN, 0, 0);
    st_env e;
    env_init(&e, &k, 12, 1);
    const int D = k.c.dim, T = k.T, perm[6] = {3, 0, 5, 1, 4, 2};
    env_forward(&e);
    float *ref = gc_dup(e.h, e.nh), *x = gc_dup(e.h0, e.nh);
    for (int b = 0; b < k.B; b++)
        for (int t = 0; t < T; t++)
            memcpy(e.h0 + (size_t)(b * T + t) * D, x + (size_t)(b * T + perm[t]) * D,
                   (size_t)D * sizeof(float));
    env_forward(&e);
    for (int b = 0; b < k.B; b++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < D; j++)
                ck_assert_double_le(fabs(e.h[(size_t)(b * T + t) * D + j] -
                                         ref[(size_t)(b * T + perm[t]) * D + j]),
                                    1e-5);
    free(ref), free(x);
    env_free(&e);
}
END_TEST

START_TEST(zero_adaln_is_identity)
{
    /* SPEC 7.15: with the default init (adaLN zero) every block is the
     * identity on h; the final adaLN norm is then the plain RMSNorm (g = 1) */
    for (int per_token = 0; per_token < 2; per_token++) {
        st_case k = mk(DUET_MASK_BIDIR, DUET_POS_ROPE, DUET_NORM_RMS, DUET_MLP_SWIGLU,
                       DUET_COND_ADALN, per_token, 0);
        k.c.final_norm = 0;
        st_env e;
        env_init(&e, &k, 13, 0);
        env_forward(&e);
        ck_assert_mem_eq(e.h, e.h0, e.nh * sizeof(float));
        env_free(&e);
        k.c.final_norm = 1;
        env_init(&e, &k, 13, 0);
        env_forward(&e);
        for (size_t row = 0; row < e.nh / 16; row++) {
            double ss = 0;
            for (int j = 0; j < 16; j++)
                ss += (double)e.h0[row * 16 + j] * e.h0[row * 16 + j];
            for (int j = 0; j < 16; j++)
                ck_assert_double_le(fabs(e.h[row * 16 + j] - e.h0[row * 16 + j] / sqrt(ss / 16 + 1e-6)),
                                    1e-5);
        }
        env_free(&e);
    }
}
END_TEST

/* ------------------------------------------------------- backward twice */

START_TEST(backward_twice_equals_full)
{
    /* joint objective (SPEC 2.5): a dW-only pass and then a dinput-only pass
     * after one forward give bitwise the gradients of one full pass */
    st_case k = mk(DUET_MASK_BIDIR, DUET_POS_ROPE, DUET_NORM_LAYER, DUET_MLP_SWIGLU,
                   DUET_COND_ADALN, 0, 1);
    k.pad = 1;
    st_env e;
    env_init(&e, &k, 14, 1);
    env_forward(&e);
    size_t np = e.p.total;
    float *g_full = gc_zeros(np), *din_full = gc_zeros(e.nh), *dc_full = gc_zeros(e.ncond);
    float *dm_full = gc_zeros(e.nmem);
    env_backward(&e, g_full, din_full, dc_full, dm_full, NULL);
    float *g1 = gc_zeros(np), *din2 = gc_zeros(e.nh), *dc2 = gc_zeros(e.ncond);
    float *dm2 = gc_zeros(e.nmem);
    env_backward(&e, g1, NULL, NULL, NULL, NULL);
    env_backward(&e, NULL, din2, dc2, dm2, NULL);
    ck_assert_mem_eq(g1, g_full, np * sizeof(float));
    ck_assert_mem_eq(din2, din_full, e.nh * sizeof(float));
    ck_assert_mem_eq(dc2, dc_full, e.ncond * sizeof(float));
    ck_assert_mem_eq(dm2, dm_full, e.nmem * sizeof(float));
    /* the other order, accumulating on top, gives twice the gradient (to
     * rounding: GEMMs add their K-blocks onto a non-zero C one by one) */
    env_backward(&e, NULL, din2, dc2, dm2, NULL);
    env_backward(&e, g1, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < np; i++)
        ck_assert_double_le(fabs(g1[i] - 2 * g_full[i]), 1e-6 * (1 + fabs(g_full[i])));
    for (size_t i = 0; i < e.nh; i++)
        ck_assert_double_le(fabs(din2[i] - 2 * din_full[i]), 1e-6 * (1 + fabs(din_full[i])));
    free(g_full), free(din_full), free(dc_full), free(dm_full);
    free(g1), free(din2), free(dc2), free(dm2);
    env_free(&e);
}
END_TEST

/* ------------------------------------------------------------- grad hook */

typedef struct hook_rec {
    const float *g, *final;
    size_t total, calls[8];
    int n, ok;
} hook_rec;

static void on_ready(void *user, size_t lo)
{
    hook_rec *h = user;
    if (h->n < 8)
        h->calls[h->n] = lo;
    h->n++;
    /* everything from lo up must already be final */
    if (memcmp(h->g + lo, h->final + lo, (h->total - lo) * sizeof(float)) != 0)
        h->ok = 0;
}

START_TEST(grad_hook_order_and_finality)
{
    st_case k = mk(DUET_MASK_CAUSAL, DUET_POS_LEARNED, DUET_NORM_RMS, DUET_MLP_SWIGLU,
                   DUET_COND_ADALN, 0, 0);
    st_env e;
    env_init(&e, &k, 15, 1);
    env_forward(&e);
    float *final = gc_zeros(e.p.total);
    env_backward(&e, final, NULL, NULL, NULL, NULL);
    duet_params_zero_grad(&e.p);
    hook_rec rec = {e.p.g, final, e.p.total, {0}, 0, 1};
    duet_grad_hook hook = {on_ready, &rec};
    env_backward(&e, e.p.g, NULL, NULL, NULL, &hook);
    ck_assert_int_eq(rec.n, k.c.n_layer + 1);
    ck_assert(rec.ok);
    /* blocks in reverse (block 1 above block 0 above the position table) */
    ck_assert_uint_eq(rec.calls[0], duet_params_find(&e.p, "st.1.ada.w")->offset);
    ck_assert_uint_eq(rec.calls[1], duet_params_find(&e.p, "st.0.ada.w")->offset);
    ck_assert_uint_eq(rec.calls[2], duet_stack_lo_offset(e.s));
    ck_assert_uint_eq(duet_stack_lo_offset(e.s), duet_params_find(&e.p, "st.pos")->offset);
    ck_assert_uint_gt(rec.calls[1], rec.calls[2]);
    free(final);
    env_free(&e);
}
END_TEST

/* ------------------------------------------------ determinism and threads */

static void run_step(const st_case *k, int threads, float *out, float *grads, float *din)
{
    duet_set_threads(threads);
    st_env e;
    env_init(&e, k, 21, 1);
    env_forward(&e);
    memcpy(out, e.h, e.nh * sizeof(float));
    duet_params_zero_grad(&e.p);
    env_backward(&e, e.p.g, din, NULL, NULL, NULL);
    memcpy(grads, e.p.g, e.p.total * sizeof(float));
    env_free(&e);
}

/* max |a-b| over max |a| */
static double max_rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)a[i]));
    }
    return d / m;
}

START_TEST(threads_agree_and_runs_bitwise_equal)
{
    /* big enough that every OpenMP loop and OpenBLAS call goes parallel.
     * Two runs with the same thread count agree bitwise (threads own
     * disjoint outputs, reductions run in a fixed order). Across thread
     * counts OpenBLAS may pick other kernels (seen: a different summation
     * order in 1- vs 2-thread SGEMM on some CPUs), so 1 vs 2 threads agree
     * to float reassociation: 1e-4 relative to each array's largest value. */
    st_case k = mk(DUET_MASK_CAUSAL, DUET_POS_ROPE, DUET_NORM_RMS, DUET_MLP_SWIGLU,
                   DUET_COND_ADALN, 0, 1);
    k.c.dim = 128, k.c.n_head = 4, k.c.ffn_dim = 0, k.c.max_batch = 4, k.c.max_seq = 64;
    k.c.max_mem = 16, k.B = 4, k.T = 64, k.Tm = 16;
    st_env probe;
    env_init(&probe, &k, 21, 0);
    size_t nh = probe.nh, np = probe.p.total;
    env_free(&probe);
    float *o1 = gc_zeros(nh), *o2 = gc_zeros(nh), *o3 = gc_zeros(nh);
    float *g1 = gc_zeros(np), *g2 = gc_zeros(np), *g3 = gc_zeros(np);
    float *d1 = gc_zeros(nh), *d2 = gc_zeros(nh), *d3 = gc_zeros(nh);
    int saved = duet_get_threads();
    run_step(&k, 1, o1, g1, d1);
    run_step(&k, 2, o2, g2, d2);
    run_step(&k, 2, o3, g3, d3);
    duet_set_threads(saved);
    ck_assert_msg(max_rel_diff(o1, o2, nh) < 1e-4, "outputs: %g", max_rel_diff(o1, o2, nh));
    ck_assert_msg(max_rel_diff(g1, g2, np) < 1e-4, "grads: %g", max_rel_diff(g1, g2, np));
    ck_assert_msg(max_rel_diff(d1, d2, nh) < 1e-4, "input grads: %g", max_rel_diff(d1, d2, nh));
    ck_assert_mem_eq(o2, o3, nh * sizeof(float));
    ck_assert_mem_eq(g2, g3, np * sizeof(float));
    free(o1), free(o2), free(o3), free(g1), free(g2), free(g3), free(d1), free(d2), free(d3);
}
END_TEST

START_TEST(invalid_configs_rejected)
{
    duet_params p;
    duet_params_init(&p);
    duet_err err;
    duet_stack_config c = base_cfg();
    c.n_head = 3;
    ck_assert_ptr_null(duet_stack_create(&p, "x", &c, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "divisible"));
    c = base_cfg();
    c.dim = 12, c.n_head = 4; /* head dim 3: RoPE needs pairs */
    ck_assert_ptr_null(duet_stack_create(&p, "x", &c, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "even"));
    c = base_cfg();
    c.cross_attn = 1, c.max_mem = 0;
    ck_assert_ptr_null(duet_stack_create(&p, "x", &c, &err));
    ck_assert_int_eq(p.n, 0); /* nothing registered on failure */
    duet_params_free(&p);
}
END_TEST

START_TEST(default_ffn_and_init)
{
    /* SPEC 1.1: SwiGLU F = 64*ceil(8D/3/64); Wo, W2 std 0.02/sqrt(2 L) */
    duet_params p;
    duet_params_init(&p);
    duet_err err;
    duet_stack_config c = base_cfg();
    c.dim = 256, c.ffn_dim = 0, c.n_layer = 4, c.n_head = 4;
    duet_stack *s = duet_stack_create(&p, "m", &c, &err);
    ck_assert_int_eq(duet_stack_cfg(s)->ffn_dim, 704);
    duet_params_alloc(&p);
    duet_params_init_values(&p, 5);
    const duet_tensor *wo = duet_params_find(&p, "m.2.attn.wo");
    const duet_tensor *wq = duet_params_find(&p, "m.2.attn.wqkv");
    ck_assert_double_le(fabs(wo->init_std - 0.02 / sqrt(8.0)), 1e-9);
    ck_assert_double_le(fabs(wq->init_std - 0.02), 1e-9);
    double ss = 0;
    for (size_t i = 0; i < wq->count; i++)
        ss += (double)p.w[wq->offset + i] * p.w[wq->offset + i];
    ck_assert_double_le(fabs(sqrt(ss / wq->count) - 0.02), 0.02 * 0.01); /* 196k samples */
    ck_assert(wq->flags & DUET_TF_DECAY);
    ck_assert(!(duet_params_find(&p, "m.2.mlp_norm.g")->flags & DUET_TF_DECAY));
    ck_assert_float_eq(p.w[duet_params_find(&p, "m.final_norm.g")->offset], 1.0f);
    ck_assert_double_gt(duet_stack_flops_forward(&c, 2, 8, 0), 0);
    duet_stack_free(s);
    duet_params_free(&p);
}
END_TEST

/* max |a - b| / max |b|: float32 summation-order noise is ~1e-6 of a
 * tensor's largest entry (entries much smaller than it see larger relative
 * noise), a missing or misplaced row is O(1). */
static double scaled_err(const float *a, const float *b, size_t n)
{
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

/* tokennet_forward_rows: a loss over the selected rows gives the same loss,
 * parameter and input gradients as the same loss through the full head (the
 * other rows' targets ignored); only GEMM summation order differs. */
START_TEST(head_on_selected_rows_equals_full_head)
{
    enum { V = 40, B = 2, L = 8 };
    duet_stack_config c = base_cfg();
    c.mask = DUET_MASK_BIDIR;
    c.cond = DUET_COND_ADD;
    duet_params p;
    duet_params_init(&p);
    tokennet n;
    duet_err err;
    ck_assert_int_eq(tokennet_create(&n, &p, "t", V, &c, 0, &err), 0);
    duet_params_alloc(&p);
    randomize(&p, 5);
    int32_t ids[B * L], tgt[B * L], sel[B * L];
    float w[B * L], ts[B] = {100.0f, 700.0f};
    int nsel = 0;
    for (int i = 0; i < B * L; i++) {
        ids[i] = (7 * i + 3) % V;
        tgt[i] = i % 3 == 1 || i == B * L - 1 ? (5 * i + 1) % V : -1;
        w[i] = 0.5f + 0.1f * (float)(i % 4);
    }
    tokennet_forward(&n, p.w, ids, ts, NULL, B, L);
    double l_full = duet_xent_forward_backward(n.logits, NULL, n.logits, tgt, w, 0.25f, B * L, V,
                                               -1, -1);
    tokennet_backward(&n, p.w, p.g, NULL, B, L, NULL);
    float *g_full = gc_dup(p.g, p.total), *din_full = gc_dup(n.logits, (size_t)B * L * c.dim);
    for (int i = 0; i < B * L; i++)
        if (tgt[i] >= 0) {
            sel[nsel] = i;
            tgt[nsel] = tgt[i];
            w[nsel++] = w[i];
        }
    ck_assert_int_lt(nsel, B * L / 2); /* the test skips rows, first and middle ones */
    duet_params_zero_grad(&p);
    tokennet_forward_rows(&n, p.w, ids, ts, NULL, B, L, sel, nsel);
    double l_rows = duet_xent_forward_backward(n.logits, NULL, n.logits, tgt, w, 0.25f, nsel, V,
                                               -1, -1);
    tokennet_backward(&n, p.w, p.g, NULL, B, L, NULL);
    ck_assert_double_eq_tol(l_rows, l_full, 1e-6 * fabs(l_full));
    for (int t = 0; t < p.n; t++) {
        const duet_tensor *pt = &p.t[t];
        ck_assert_msg(scaled_err(p.g + pt->offset, g_full + pt->offset, pt->count) < 1e-5,
                      "%s: gradients differ", pt->name);
    }
    ck_assert_double_lt(scaled_err(n.logits, din_full, (size_t)B * L * c.dim), 1e-5);
    free(g_full);
    free(din_full);
    tokennet_free(&n);
    duet_params_free(&p);
}
END_TEST

Suite *suite_stack(void)
{
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("stack");
    tcase_add_test(tc, grads_bidir_rope_rms_swiglu);
    tcase_add_test(tc, grads_causal_rope_layernorm_gelu);
    tcase_add_test(tc, grads_prefix_padding_learned_adaln_seq);
    tcase_add_test(tc, grads_bidir_padding_adaln_token_cross);
    tcase_add_test(tc, grads_causal_cross_add_seq);
    tcase_add_test(tc, grads_add_token_no_pos_no_final_norm);
    tcase_add_test(tc, time_embed_grads);
    tcase_add_test(tc, causal_no_lookahead);
    tcase_add_test(tc, bidirectional_permutation_equivariant);
    tcase_add_test(tc, zero_adaln_is_identity);
    tcase_add_test(tc, backward_twice_equals_full);
    tcase_add_test(tc, grad_hook_order_and_finality);
    tcase_add_test(tc, threads_agree_and_runs_bitwise_equal);
    tcase_add_test(tc, invalid_configs_rejected);
    tcase_add_test(tc, default_ffn_and_init);
    tcase_add_test(tc, head_on_selected_rows_equals_full_head);
    suite_add_tcase(s, tc);
    return s;
}
