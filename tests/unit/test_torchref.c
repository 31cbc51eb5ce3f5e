/* Agreement with PyTorch: tiny 2-block models run here in float32 against
 * float64 PyTorch references written by tests/fixtures/gen_core_fixture.py
 * (layout and models described there; committed, so no PyTorch is needed
 * to run this). Logits, loss and every gradient must agree to 1e-4
 * relative error, |c - ref| <= 1e-4 * max(|ref|, floor), with the absolute
 * floor = 1e-2 * the largest |ref| of that tensor (elements far below a
 * tensor's scale come from cancellations, where float32 has no relative
 * accuracy to offer).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/model.h"
#include "gradcheck.h"
#include "testutil.h"

enum { D = 16, H = 2, FF = 32, L = 2, B = 2, T = 6, V = 24, TM = 4, N = B * T };
#define REL_TOL 1e-4
#define FLOOR_FRAC 1e-2

/* ---------------------------------------------------------- fixture file */

typedef struct fx_rec {
    char name[96];
    unsigned dtype, ndim, dims[4];
    size_t n;
    const unsigned char *data;
} fx_rec;

typedef struct fixture {
    unsigned char *buf;
    fx_rec r[256];
    int n;
} fixture;

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fx_load(fixture *f, const char *path)
{
    size_t len = 0;
    f->buf = test_read_file(path, &len);
    ck_assert_msg(f->buf != NULL, "cannot read %s (run the suite from the repository root)", path);
    ck_assert_msg(len >= 12 && memcmp(f->buf, "DUETFIX1", 8) == 0, "%s: bad magic", path);
    unsigned count = rd32(f->buf + 8);
    ck_assert_uint_le(count, 256);
    size_t pos = 12;
    for (f->n = 0; f->n < (int)count; f->n++) {
        fx_rec *r = &f->r[f->n];
        ck_assert_uint_le(pos + 4, len);
        unsigned nl = rd32(f->buf + pos);
        ck_assert_uint_lt(nl, sizeof r->name);
        ck_assert_uint_le(pos + 4 + nl + 8, len);
        memcpy(r->name, f->buf + pos + 4, nl);
        r->name[nl] = 0;
        pos += 4 + nl;
        r->dtype = rd32(f->buf + pos), r->ndim = rd32(f->buf + pos + 4);
        pos += 8;
        ck_assert_uint_le(r->ndim, 4);
        ck_assert_uint_le(pos + 4 * r->ndim, len);
        r->n = 1;
        for (unsigned d = 0; d < r->ndim; d++)
            r->dims[d] = rd32(f->buf + pos + 4 * d), r->n *= r->dims[d];
        pos += 4 * r->ndim;
        size_t bytes = r->n * (r->dtype == 2 ? 1 : 4);
        ck_assert_uint_le(pos + bytes, len);
        r->data = f->buf + pos;
        pos += bytes;
    }
    ck_assert_uint_eq(pos, len);
}

static const fx_rec *fx_get(const fixture *f, const char *name, unsigned dtype, size_t n)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->r[i].name, name) == 0) {
            ck_assert_msg(f->r[i].dtype == dtype && f->r[i].n == n,
                          "fixture record %s: dtype %u, %zu elements (want %u, %zu)", name,
                          f->r[i].dtype, f->r[i].n, dtype, n);
            return &f->r[i];
        }
    ck_abort_msg("fixture has no record %s", name);
    return NULL;
}

/* Copies (the data of a record may be unaligned). */
static float *fx_floats(const fixture *f, const char *name, size_t n)
{
    float *x = duet_falloc(n);
    memcpy(x, fx_get(f, name, 0, n)->data, n * sizeof *x);
    return x;
}

static int32_t *fx_ints(const fixture *f, const char *name, size_t n)
{
    int32_t *x = duet_malloc(n * sizeof *x);
    memcpy(x, fx_get(f, name, 1, n)->data, n * sizeof *x);
    return x;
}

/* Worst |c - ref| / max(|ref|, floor) of one record. */
static double compare(const fixture *f, const char *name, const float *c, size_t n)
{
    float *ref = fx_floats(f, name, n);
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs(ref[i]));
    double err = test_max_rel_err(c, ref, n, FLOOR_FRAC * mx);
    if (!(err <= REL_TOL) || getenv("DUET_GC_VERBOSE"))
        fprintf(stderr, "torchref %-24s rel err %.3g (max |ref| %.3g)\n", name, err, mx);
    free(ref);
    return err;
}

/* --------------------------------------------- parameters by formula */

static uint64_t splitmix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Same values as param() in gen_core_fixture.py. */
static void fill_params(duet_params *p)
{
    for (int k = 0; k < p->n; k++) {
        const duet_tensor *t = &p->t[k];
        size_t len = strlen(t->name);
        uint64_t h = duet_hash64(t->name, len, 0);
        for (size_t i = 0; i < t->count; i++) {
            double u = (double)(splitmix64(h + (i + 1) * 0x9E3779B97F4A7C15ull) >> 40) / 16777216.0;
            double v;
            if (t->ndim == 2)
                v = ((2 * u - 1) * sqrt(3.0)) / sqrt((double)t->shape[1]);
            else if (len > 2 && strcmp(t->name + len - 2, ".g") == 0)
                v = 1 + 0.2 * (2 * u - 1);
            else
                v = 0.1 * (2 * u - 1);
            p->w[t->offset + i] = (float)v;
        }
    }
}

static void compare_param_grads(const fixture *f, const duet_params *p)
{
    int grads = 0;
    for (int i = 0; i < f->n; i++)
        grads += strncmp(f->r[i].name, "grad:", 5) == 0 && strncmp(f->r[i].name, "grad:in:", 8);
    ck_assert_int_eq(grads, p->n); /* no tensor missing on either side */
    for (int k = 0; k < p->n; k++) {
        char name[128];
        snprintf(name, sizeof name, "grad:%s", p->t[k].name);
        ck_assert_double_le(compare(f, name, p->g + p->t[k].offset, p->t[k].count), REL_TOL);
    }
}

/* A [V, D] matrix (embedding or head); returns its offset. */
static size_t add_matrix(duet_params *p, const char *name)
{
    int shape[2] = {V, D};
    int idx = duet_params_add(p, name, 2, shape, DUET_INIT_NORMAL, 0.02f, 0);
    return p->t[idx].offset;
}

static duet_stack_config small_cfg(void)
{
    duet_stack_config c;
    memset(&c, 0, sizeof c);
    c.dim = D, c.n_layer = L, c.n_head = H, c.ffn_dim = FF, c.final_norm = 1;
    c.max_batch = B, c.max_seq = T, c.init_std = 0.02f;
    return c;
}

/* Head, loss and the head's backward (shared by both models): returns the
 * loss; dh gets the gradient w.r.t. the stack output. */
static double head_loss(const fixture *f, const duet_params *p, size_t off_head, const float *h,
                        const int32_t *targets, const float *weights, int forbid, float *dh)
{
    float *logits = duet_falloc((size_t)N * V);
    duet_linear_forward(logits, h, p->w + off_head, NULL, N, D, V);
    ck_assert_double_le(compare(f, "out:logits", logits, (size_t)N * V), REL_TOL);
    float scale = 1.0f / N;
    double loss = scale * duet_xent_forward_backward(logits, NULL, logits, targets, weights, scale,
                                                     N, V, -100, forbid);
    duet_linear_backward(dh, p->g + off_head, NULL, logits, h, p->w + off_head, N, D, V);
    free(logits);
    return loss;
}

START_TEST(mdlm_adaln_bidirectional)
{
    fixture f;
    fx_load(&f, "tests/fixtures/core_mdlm.bin");
    duet_params p;
    duet_params_init(&p);
    size_t off_emb = add_matrix(&p, "emb");
    duet_stack_config c = small_cfg();
    c.cond = DUET_COND_ADALN;
    duet_err err;
    duet_stack *s = duet_stack_create(&p, "dif", &c, &err);
    ck_assert_ptr_nonnull(s);
    duet_time_embed te;
    duet_time_embed_create(&te, &p, "temb", D, B, 0.02f);
    size_t off_head = add_matrix(&p, "head");
    duet_params_alloc(&p);
    fill_params(&p);

    int32_t *ids = fx_ints(&f, "in:ids", N), *targets = fx_ints(&f, "in:targets", N);
    float *weights = fx_floats(&f, "in:weights", N), *sv_t = fx_floats(&f, "in:s", B);
    const uint8_t *valid = fx_get(&f, "in:key_valid", 2, N)->data;
    float *h = duet_falloc((size_t)N * D), *temb = duet_falloc((size_t)B * D);
    float *dh = duet_falloc((size_t)N * D), *dx = duet_falloc((size_t)N * D);
    float *dtemb = duet_falloc((size_t)B * D);
    duet_embedding_forward(h, ids, p.w + off_emb, N, D);
    duet_time_embed_forward(&te, p.w, temb, sv_t, B);
    duet_stack_io io = {temb, {DUET_MASK_BIDIR, valid, NULL}, NULL, NULL, 0, 0};
    duet_stack_forward(s, p.w, h, &io, B, T);
    double loss = head_loss(&f, &p, off_head, h, targets, weights, V - 1, dh);
    float lf = (float)loss;
    ck_assert_double_le(compare(&f, "out:loss", &lf, 1), REL_TOL);
    duet_stack_backward(s, p.w, p.g, dh, dx, dtemb, NULL, &io, B, T, NULL);
    duet_time_embed_backward(&te, p.w, p.g, dtemb, B);
    duet_embedding_backward(p.g + off_emb, dx, ids, N, D);
    compare_param_grads(&f, &p);

    free(ids), free(targets), free(weights), free(sv_t), free(h), free(temb), free(dh), free(dx);
    free(dtemb), free(f.buf);
    duet_time_embed_free(&te);
    duet_stack_free(s);
    duet_params_free(&p);
}
END_TEST

START_TEST(ar_causal_cross_add)
{
    fixture f;
    fx_load(&f, "tests/fixtures/core_ar.bin");
    duet_params p;
    duet_params_init(&p);
    size_t off_emb = add_matrix(&p, "emb");
    duet_stack_config c = small_cfg();
    c.norm = DUET_NORM_LAYER, c.mlp = DUET_MLP_GELU, c.pos = DUET_POS_LEARNED;
    c.mask = DUET_MASK_CAUSAL, c.cond = DUET_COND_ADD, c.cond_per_token = 1, c.cross_attn = 1;
    c.max_seq = T + 2, c.max_mem = TM;
    duet_err err;
    duet_stack *s = duet_stack_create(&p, "dec", &c, &err);
    ck_assert_ptr_nonnull(s);
    size_t off_head = add_matrix(&p, "head");
    duet_params_alloc(&p);
    fill_params(&p);

    int32_t *ids = fx_ints(&f, "in:ids", N), *targets = fx_ints(&f, "in:targets", N);
    float *cond = fx_floats(&f, "in:cond", (size_t)N * D);
    float *mem = fx_floats(&f, "in:mem", (size_t)B * TM * D);
    const uint8_t *mem_valid = fx_get(&f, "in:mem_valid", 2, (size_t)B * TM)->data;
    float *h = duet_falloc((size_t)N * D), *dh = duet_falloc((size_t)N * D);
    float *dx = duet_falloc((size_t)N * D), *dcond = duet_falloc((size_t)N * D);
    float *dmem = duet_falloc((size_t)B * TM * D);
    duet_embedding_forward(h, ids, p.w + off_emb, N, D);
    duet_stack_io io = {cond, {DUET_MASK_CAUSAL, NULL, NULL}, mem, mem_valid, TM, 1};
    duet_stack_forward(s, p.w, h, &io, B, T);
    double loss = head_loss(&f, &p, off_head, h, targets, NULL, -1, dh);
    float lf = (float)loss;
    ck_assert_double_le(compare(&f, "out:loss", &lf, 1), REL_TOL);
    duet_stack_backward(s, p.w, p.g, dh, dx, dcond, dmem, &io, B, T, NULL);
    duet_embedding_backward(p.g + off_emb, dx, ids, N, D);
    compare_param_grads(&f, &p);
    ck_assert_double_le(compare(&f, "grad:in:cond", dcond, (size_t)N * D), REL_TOL);
    ck_assert_double_le(compare(&f, "grad:in:mem", dmem, (size_t)B * TM * D), REL_TOL);

    free(ids), free(targets), free(cond), free(mem), free(h), free(dh), free(dx), free(dcond);
    free(dmem), free(f.buf);
    duet_stack_free(s);
    duet_params_free(&p);
}
END_TEST

Suite *suite_torchref(void)
{
    Suite *s = suite_create("torchref");
    TCase *tc = tcase_create("torchref");
    tcase_add_test(tc, mdlm_adaln_bidirectional);
    tcase_add_test(tc, ar_causal_cross_add);
    suite_add_tcase(s, tc);
    return s;
}
