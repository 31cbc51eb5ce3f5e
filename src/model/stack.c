/* Transformer stack: tensor registration, activation caches (sized once
 * from max_batch/max_seq/max_mem), the input stage (learned positions,
 * additive conditioning, SiLU(cond) for adaLN), the blocks and the final
 * (optionally adaLN-modulated) norm. Tensors are registered in forward
 * order, so the blocks run backward over decreasing slab offsets and the
 * grad hook can announce finished buckets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ops_internal.h"
#include "block.h"

struct duet_stack {
    duet_stack_config c;
    int F, dh, max_rows;
    size_t lo;                      /* lowest slab offset of the stack */
    size_t off_pos;                 /* learned positions [max_seq, D] */
    size_t off_nfg, off_nfb;        /* final norm */
    size_t off_fada_w, off_fada_b;  /* final adaLN [2D, D], [2D] (sh_f, sc_f) */
    block_off *bo;
    block_cache *bc;
    block_ws ws;
    float *cs;                      /* SiLU(cond) [rows, D] */
    float *rope_cos, *rope_sin;     /* [max_seq, dh/2] */
    float *hf_in, *meanf, *rstdf, *xnf, *modf, *dmodf;
    float *slab;
    size_t slab_floats;
    int B, T, Tm, pos0;             /* shapes of the last forward */
};

/* ------------------------------------------------------------ creation */

static int validate(const duet_stack_config *c, duet_err *err)
{
    if (c->dim < 1 || c->n_layer < 1 || c->n_head < 1)
        return duet_errf(err, "stack: dim %d, n_layer %d, n_head %d must be positive", c->dim,
                         c->n_layer, c->n_head);
    if (c->dim % c->n_head)
        return duet_errf(err, "stack: dim %d is not divisible by n_head %d", c->dim, c->n_head);
    if (c->pos == DUET_POS_ROPE && (c->dim / c->n_head) % 2)
        return duet_errf(err, "stack: RoPE needs an even head dim (dim %d / n_head %d)", c->dim,
                         c->n_head);
    if (c->ffn_dim < 0)
        return duet_errf(err, "stack: ffn_dim %d is negative", c->ffn_dim);
    if ((unsigned)c->mlp > DUET_MLP_GELU || (unsigned)c->norm > DUET_NORM_LAYER ||
        (unsigned)c->pos > DUET_POS_NONE || (unsigned)c->mask > DUET_MASK_PREFIX ||
        (unsigned)c->cond > DUET_COND_ADD)
        return duet_errf(err, "stack: unknown mlp/norm/pos/mask/cond kind (%d/%d/%d/%d/%d)",
                         (int)c->mlp, (int)c->norm, (int)c->pos, (int)c->mask, (int)c->cond);
    if (c->max_batch < 1 || c->max_seq < 1)
        return duet_errf(err, "stack: max_batch %d and max_seq %d must be positive", c->max_batch,
                         c->max_seq);
    if (c->cross_attn && c->max_mem < 1)
        return duet_errf(err, "stack: cross-attention needs max_mem >= 1 (got %d)", c->max_mem);
    if (c->cond_per_token && c->cond == DUET_COND_NONE)
        return duet_errf(err, "stack: cond_per_token set without conditioning");
    return 0;
}

typedef struct reg {
    duet_params *p;
    const char *prefix;
} reg;

/* Registers "<prefix>.<layer>.<name>" (layer < 0: "<prefix>.<name>");
 * cols = 0 for a vector. decay: AdamW weight decay (matrices only). */
static size_t add(const reg *g, int layer, const char *name, int rows, int cols,
                  enum duet_init init, float std, int decay)
{
    char full[DUET_TENSOR_NAME_MAX];
    int n = layer >= 0 ? snprintf(full, sizeof full, "%s.%d.%s", g->prefix, layer, name)
                       : snprintf(full, sizeof full, "%s.%s", g->prefix, name);
    if (n >= (int)sizeof full)
        duet_fatal("stack: tensor name for '%s' under '%s' is too long", name, g->prefix);
    int shape[2] = {rows, cols};
    int idx = duet_params_add(g->p, full, cols ? 2 : 1, shape, init, std,
                              decay ? DUET_TF_DECAY : 0);
    return g->p->t[idx].offset;
}

/* A matrix with weight decay. */
static size_t add_mat(const reg *g, int layer, const char *name, int rows, int cols,
                      enum duet_init init, float std)
{
    return add(g, layer, name, rows, cols, init, std, 1);
}

static void add_norm(const reg *g, const duet_stack_config *c, int layer, const char *name,
                     size_t *og, size_t *ob)
{
    char n[48];
    snprintf(n, sizeof n, "%s.g", name);
    *og = add(g, layer, n, c->dim, 0, DUET_INIT_ONE, 0, 0);
    if (c->norm == DUET_NORM_LAYER) {
        snprintf(n, sizeof n, "%s.b", name);
        *ob = add(g, layer, n, c->dim, 0, DUET_INIT_ZERO, 0, 0);
    }
}

static void register_tensors(duet_stack *s, const reg *g)
{
    const duet_stack_config *c = &s->c;
    const int D = c->dim, F = s->F;
    /* residual projections shrink with depth (SPEC 1.1) */
    const float out_std = c->init_std / sqrtf(2.0f * (float)c->n_layer);
    s->lo = g->p->total;
    if (c->pos == DUET_POS_LEARNED)
        s->off_pos = add(g, -1, "pos", c->max_seq, D, DUET_INIT_NORMAL, c->init_std, 0);
    for (int l = 0; l < c->n_layer; l++) {
        block_off *o = &s->bo[l];
        o->lo = g->p->total;
        if (c->cond == DUET_COND_ADALN) {
            o->ada_w = add_mat(g, l, "ada.w", 6 * D, D, DUET_INIT_ZERO, 0);
            o->ada_b = add(g, l, "ada.b", 6 * D, 0, DUET_INIT_ZERO, 0, 0);
        }
        add_norm(g, c, l, "attn_norm", &o->n1g, &o->n1b);
        o->wqkv = add_mat(g, l, "attn.wqkv", 3 * D, D, DUET_INIT_NORMAL, c->init_std);
        o->wo = add_mat(g, l, "attn.wo", D, D, DUET_INIT_NORMAL, out_std);
        if (c->cross_attn) {
            add_norm(g, c, l, "xattn_norm", &o->nxg, &o->nxb);
            o->xwq = add_mat(g, l, "xattn.wq", D, D, DUET_INIT_NORMAL, c->init_std);
            o->xwkv = add_mat(g, l, "xattn.wkv", 2 * D, D, DUET_INIT_NORMAL, c->init_std);
            o->xwo = add_mat(g, l, "xattn.wo", D, D, DUET_INIT_NORMAL, out_std);
        }
        add_norm(g, c, l, "mlp_norm", &o->n2g, &o->n2b);
        if (c->mlp == DUET_MLP_SWIGLU)
            o->w13 = add_mat(g, l, "mlp.w13", 2 * F, D, DUET_INIT_NORMAL, c->init_std);
        else
            o->w13 = add_mat(g, l, "mlp.w1", F, D, DUET_INIT_NORMAL, c->init_std);
        o->w2 = add_mat(g, l, "mlp.w2", D, F, DUET_INIT_NORMAL, out_std);
    }
    if (c->final_norm) {
        add_norm(g, c, -1, "final_norm", &s->off_nfg, &s->off_nfb);
        if (c->cond == DUET_COND_ADALN) {
            s->off_fada_w = add_mat(g, -1, "final_ada.w", 2 * D, D, DUET_INIT_ZERO, 0);
            s->off_fada_b = add(g, -1, "final_ada.b", 2 * D, 0, DUET_INIT_ZERO, 0, 0);
        }
    }
}

/* Carves every cache and workspace buffer out of one slab. With base NULL
 * it only counts; returns the floats needed. */
static size_t layout(duet_stack *s, float *base)
{
    const duet_stack_config *c = &s->c;
    const size_t D = (size_t)c->dim, N = (size_t)c->max_batch * c->max_seq,
                 M = (size_t)c->max_batch * (c->cross_attn ? c->max_mem : 0),
                 F = (size_t)s->F, H = (size_t)c->n_head, T = (size_t)c->max_seq,
                 Tm = c->cross_attn ? (size_t)c->max_mem : 0, B = (size_t)c->max_batch,
                 R = (size_t)s->max_rows;
    const int ada = c->cond == DUET_COND_ADALN, ln = c->norm == DUET_NORM_LAYER;
    const size_t pre = c->mlp == DUET_MLP_SWIGLU ? 2 * F : F;
    size_t off = 0;
#define CARVE(ptr, n)                                                                          \
    do {                                                                                       \
        (ptr) = base ? base + off : NULL;                                                      \
        off += ((size_t)(n) + 15) / 16 * 16;                                                   \
    } while (0)
#define CARVE_IF(cond, ptr, n)                                                                 \
    do {                                                                                       \
        if (cond)                                                                              \
            CARVE(ptr, n);                                                                     \
        else                                                                                   \
            (ptr) = NULL;                                                                      \
    } while (0)
    for (int l = 0; l < c->n_layer; l++) {
        block_cache *a = &s->bc[l];
        CARVE(a->h_in, N * D);
        CARVE_IF(ln, a->mean1, N);
        CARVE(a->rstd1, N);
        CARVE(a->xn1, N * D);
        CARVE_IF(ada, a->xm1, N * D);
        CARVE(a->qkv, N * 3 * D);
        CARVE(a->probs, B * H * T * T);
        CARVE(a->att, N * D);
        CARVE_IF(ada, a->y1, N * D);
        CARVE_IF(c->cross_attn, a->hx, N * D);
        CARVE_IF(c->cross_attn && ln, a->meanx, N);
        CARVE_IF(c->cross_attn, a->rstdx, N);
        CARVE_IF(c->cross_attn, a->xnx, N * D);
        CARVE_IF(c->cross_attn, a->qx, N * D);
        CARVE_IF(c->cross_attn, a->kvx, M * 2 * D);
        CARVE_IF(c->cross_attn, a->probsx, B * H * T * Tm);
        CARVE_IF(c->cross_attn, a->attx, N * D);
        CARVE(a->h_mid, N * D);
        CARVE_IF(ln, a->mean2, N);
        CARVE(a->rstd2, N);
        CARVE(a->xn2, N * D);
        CARVE_IF(ada, a->xm2, N * D);
        CARVE(a->pre, N * pre);
        CARVE(a->u, N * F);
        CARVE_IF(ada, a->y2, N * D);
        CARVE_IF(ada, a->mod, R * 6 * D);
        if (!ada) { /* without modulation the GEMM input is the norm output */
            a->xm1 = a->xn1;
            a->xm2 = a->xn2;
        }
    }
    block_ws *w = &s->ws;
    CARVE(w->dh, N * D);
    CARVE_IF(ada, w->dy, N * D);
    CARVE(w->dxm, N * D);
    CARVE_IF(ada, w->dxn, N * D);
    CARVE(w->datt, N * D);
    CARVE(w->dqkv, N * 3 * D);
    CARVE_IF(c->cross_attn, w->dqx, N * D);
    CARVE_IF(c->cross_attn, w->dkvx, M * 2 * D);
    CARVE(w->dpre, N * pre);
    CARVE(w->du, N * F);
    CARVE_IF(ada, w->dmod, R * 6 * D);
    CARVE_IF(ada, w->dc, R * D);
    CARVE(w->attn, B * H * T * (Tm > T ? Tm : T));
    CARVE_IF(ada, s->cs, R * D);
    CARVE_IF(c->pos == DUET_POS_ROPE, s->rope_cos, T * (size_t)(s->dh / 2));
    CARVE_IF(c->pos == DUET_POS_ROPE, s->rope_sin, T * (size_t)(s->dh / 2));
    CARVE_IF(c->final_norm, s->hf_in, N * D);
    CARVE_IF(c->final_norm && ln, s->meanf, N);
    CARVE_IF(c->final_norm, s->rstdf, N);
    CARVE_IF(c->final_norm, s->xnf, N * D);
    CARVE_IF(c->final_norm && ada, s->modf, R * 2 * D);
    CARVE_IF(c->final_norm && ada, s->dmodf, R * 2 * D);
#undef CARVE
#undef CARVE_IF
    return off;
}

duet_stack *duet_stack_create(duet_params *p, const char *prefix, const duet_stack_config *c,
                              duet_err *err)
{
    if (validate(c, err))
        return NULL;
    duet_stack *s = duet_calloc(1, sizeof *s);
    s->c = *c;
    s->dh = c->dim / c->n_head;
    if (c->ffn_dim)
        s->F = c->ffn_dim;
    else if (c->mlp == DUET_MLP_SWIGLU)
        s->F = 64 * ((8 * c->dim / 3 + 63) / 64); /* SPEC 1.1: 64*ceil(8D/3/64) */
    else
        s->F = 4 * c->dim;
    s->c.ffn_dim = s->F;
    s->max_rows = c->cond_per_token ? c->max_batch * c->max_seq : c->max_batch;
    s->bo = duet_calloc((size_t)c->n_layer, sizeof *s->bo);
    s->bc = duet_calloc((size_t)c->n_layer, sizeof *s->bc);
    reg g = {p, prefix};
    register_tensors(s, &g);
    s->slab_floats = layout(s, NULL);
    s->slab = duet_falloc(s->slab_floats);
    layout(s, s->slab);
    return s;
}

void duet_stack_free(duet_stack *s)
{
    if (!s)
        return;
    free(s->bo);
    free(s->bc);
    free(s->slab);
    free(s);
}

const duet_stack_config *duet_stack_cfg(const duet_stack *s) { return &s->c; }
size_t duet_stack_lo_offset(const duet_stack *s) { return s->lo; }
size_t duet_stack_activation_bytes(const duet_stack *s) { return s->slab_floats * sizeof(float); }

/* ------------------------------------------------------------- forward */

static void check_call(const duet_stack *s, const duet_stack_io *io, int B, int T)
{
    const duet_stack_config *c = &s->c;
    if (B < 1 || B > c->max_batch || T < 1 || T > c->max_seq)
        duet_fatal("stack: B=%d T=%d outside max_batch %d, max_seq %d", B, T, c->max_batch,
                   c->max_seq);
    if (io->self_mask.mode != c->mask)
        duet_fatal("stack: mask mode %d differs from the configured %d", (int)io->self_mask.mode,
                   (int)c->mask);
    if (c->mask == DUET_MASK_PREFIX && !io->self_mask.prefix_len)
        duet_fatal("stack: prefix mask without prefix_len");
    if (c->cond != DUET_COND_NONE && !io->cond)
        duet_fatal("stack: conditioned stack called without cond");
    if (c->cross_attn && (!io->mem || io->mem_len < 1 || io->mem_len > c->max_mem))
        duet_fatal("stack: cross-attention memory missing or mem_len %d outside [1, %d]",
                   io->mem_len, c->max_mem);
    if (c->pos == DUET_POS_LEARNED && (io->pos0 < 0 || io->pos0 + T > c->max_seq))
        duet_fatal("stack: positions %d..%d exceed the learned table (max_seq %d)", io->pos0,
                   io->pos0 + T - 1, c->max_seq);
}

static block_run make_run(const duet_stack *s, const duet_stack_io *io, int B, int T)
{
    block_run r = {&s->c, B, T, s->c.cross_attn ? io->mem_len : 0, s->F,
                   s->c.cond_per_token ? B * T : B, s->cs, s->rope_cos, s->rope_sin, io};
    return r;
}

void duet_stack_forward(duet_stack *s, const float *W, float *h, const duet_stack_io *io,
                        int B, int T)
{
    const duet_stack_config *c = &s->c;
    const int D = c->dim, N = B * T;
    check_call(s, io, B, T);
    s->B = B;
    s->T = T;
    s->Tm = c->cross_attn ? io->mem_len : 0;
    s->pos0 = io->pos0;
    block_run r = make_run(s, io, B, T);

    /* input stage */
    if (c->pos == DUET_POS_LEARNED || c->cond == DUET_COND_ADD) {
        const float *pos = c->pos == DUET_POS_LEARNED ? W + s->off_pos : NULL;
        const float *add = c->cond == DUET_COND_ADD ? io->cond : NULL;
        DUET_OMP_FOR((size_t)N * D)
        for (int bt = 0; bt < N; bt++) {
            float *x = h + (size_t)bt * D;
            int b = bt / T, t = bt % T;
            if (pos)
                for (int j = 0; j < D; j++)
                    x[j] += pos[(size_t)(io->pos0 + t) * D + j];
            if (add) {
                const float *a = add + (size_t)(c->cond_per_token ? bt : b) * D;
                for (int j = 0; j < D; j++)
                    x[j] += a[j];
            }
        }
    }
    if (c->cond == DUET_COND_ADALN)
        duet_silu_forward(s->cs, io->cond, (size_t)r.rows * D);
    if (c->pos == DUET_POS_ROPE)
        duet_rope_table(s->rope_cos, s->rope_sin, T, s->dh, io->pos0);

    for (int l = 0; l < c->n_layer; l++)
        block_forward(&r, &s->bo[l], &s->bc[l], W, h);

    if (c->final_norm) {
        memcpy(s->hf_in, h, (size_t)N * D * sizeof *h);
        if (c->cond == DUET_COND_ADALN) {
            duet_linear_forward(s->modf, s->cs, W + s->off_fada_w, W + s->off_fada_b, r.rows, D,
                                2 * D);
            block_norm_forward(c, s->xnf, s->meanf, s->rstdf, s->hf_in, W, s->off_nfg, s->off_nfb,
                               N);
            duet_modulate_forward(h, s->xnf, s->modf, s->modf + D, B, T, D, 2 * D,
                                  c->cond_per_token);
        } else {
            block_norm_forward(c, h, s->meanf, s->rstdf, s->hf_in, W, s->off_nfg, s->off_nfb, N);
        }
    }
}

/* ------------------------------------------------------------ backward */

static void final_backward(duet_stack *s, const block_run *r, const float *W, float *dW,
                           const float *dh, int want_dc)
{
    const duet_stack_config *c = &s->c;
    const int D = c->dim, N = r->B * r->T;
    const size_t ND = (size_t)N * D;
    if (!c->final_norm) {
        memcpy(s->ws.dh, dh, ND * sizeof *dh);
        return;
    }
    const float *dxn = dh;
    if (c->cond == DUET_COND_ADALN) {
        float *dm = dW || want_dc ? s->dmodf : NULL;
        if (dm)
            memset(dm, 0, (size_t)r->rows * 2 * D * sizeof *dm);
        duet_modulate_backward_beta(s->ws.dxm, 0.0f, dm, dm ? dm + D : NULL, dh, s->xnf,
                                    s->modf + D, r->B, r->T, D, 2 * D, c->cond_per_token);
        dxn = s->ws.dxm;
        if (dm)
            duet_linear_backward_beta(want_dc ? s->ws.dc : NULL, 1.0f,
                                      dW ? dW + s->off_fada_w : NULL,
                                      dW ? dW + s->off_fada_b : NULL, dm, s->cs,
                                      W + s->off_fada_w, r->rows, D, 2 * D);
    }
    memset(s->ws.dh, 0, ND * sizeof *s->ws.dh);
    block_norm_backward(c, s->ws.dh, dW, s->off_nfg, s->off_nfb, dxn, s->hf_in, W, s->meanf,
                        s->rstdf, N);
}

/* Gradients of the input stage: h_in = input + pos[pos0+t] + cond. */
static void input_backward(duet_stack *s, const block_run *r, float *dW, float *dinput,
                           float *dcond)
{
    const duet_stack_config *c = &s->c;
    const int D = c->dim, B = r->B, T = r->T, N = B * T;
    const float *g = s->ws.dh;
    if (dinput)
        duet_add_forward(dinput, dinput, g, (size_t)N * D);
    if (c->pos == DUET_POS_LEARNED && dW) {
        float *dp = dW + s->off_pos + (size_t)s->pos0 * D;
        DUET_OMP_FOR((size_t)N * D)
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < D; j++)
                    dp[(size_t)t * D + j] += g[((size_t)b * T + t) * D + j];
    }
    if (!dcond)
        return;
    if (c->cond == DUET_COND_ADD) {
        if (c->cond_per_token) {
            duet_add_forward(dcond, dcond, g, (size_t)N * D);
        } else {
            DUET_OMP_FOR((size_t)N * D)
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    for (int j = 0; j < D; j++)
                        dcond[(size_t)b * D + j] += g[((size_t)b * T + t) * D + j];
        }
    } else if (c->cond == DUET_COND_ADALN) {
        duet_silu_backward(dcond, s->ws.dc, r->io->cond, (size_t)r->rows * D);
    }
}

void duet_stack_backward(duet_stack *s, const float *W, float *dW, const float *dh,
                         float *dinput, float *dcond, float *dmem, const duet_stack_io *io,
                         int B, int T, const duet_grad_hook *hook)
{
    const duet_stack_config *c = &s->c;
    if (B != s->B || T != s->T || (c->cross_attn && io->mem_len != s->Tm) || io->pos0 != s->pos0)
        duet_fatal("stack: backward shapes (B=%d T=%d) differ from the forward (B=%d T=%d)", B, T,
                   s->B, s->T);
    block_run r = make_run(s, io, B, T);
    const int want_dc = dcond && c->cond == DUET_COND_ADALN;
    if (want_dc)
        memset(s->ws.dc, 0, (size_t)r.rows * c->dim * sizeof *s->ws.dc);
    final_backward(s, &r, W, dW, dh, want_dc);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        block_backward(&r, &s->bo[l], &s->bc[l], W, dW, dmem, want_dc, &s->ws);
        if (dW && hook && hook->ready)
            hook->ready(hook->user, s->bo[l].lo);
    }
    input_backward(s, &r, dW, dinput, dcond);
    if (dW && hook && hook->ready)
        hook->ready(hook->user, s->lo);
}

/* ---------------------------------------------------------------- FLOPs */

double duet_stack_flops_forward(const duet_stack_config *c, int B, int T, int Tm)
{
    const double D = c->dim, N = (double)B * T;
    double F = c->ffn_dim ? c->ffn_dim
                          : (c->mlp == DUET_MLP_SWIGLU ? 64.0 * ((8 * c->dim / 3 + 63) / 64)
                                                       : 4.0 * c->dim);
    double rows = c->cond_per_token ? N : B;
    double per = 2 * N * (3 * D * D + D * D) + 4.0 * B * T * T * D;
    per += 2 * N * D * F * (c->mlp == DUET_MLP_SWIGLU ? 3 : 2);
    if (c->cross_attn)
        per += 2 * N * 2 * D * D + 2.0 * B * Tm * 2 * D * D + 4.0 * B * T * Tm * D;
    if (c->cond == DUET_COND_ADALN)
        per += 2 * rows * D * 6 * D;
    double f = c->n_layer * per;
    if (c->final_norm && c->cond == DUET_COND_ADALN)
        f += 2 * rows * D * 2 * D;
    return f;
}
