/* Token transformer shared by the token-level objectives (see tokennet.h). */
#include "tokennet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

duet_stack_config tokennet_stack_config(const duet_config *cfg, duet_mask_mode mask,
                                        enum duet_cond_kind cond, int max_batch, int max_seq)
{
    duet_stack_config sc;
    memset(&sc, 0, sizeof sc);
    sc.dim = cfg->dim;
    sc.n_layer = cfg->n_layer;
    sc.n_head = cfg->n_head;
    sc.ffn_dim = cfg->ffn_dim;
    sc.mlp = strcmp(cfg->mlp, "gelu") == 0 ? DUET_MLP_GELU : DUET_MLP_SWIGLU;
    sc.norm = strcmp(cfg->norm, "layer") == 0 ? DUET_NORM_LAYER : DUET_NORM_RMS;
    sc.pos = strcmp(cfg->pos, "learned") == 0 ? DUET_POS_LEARNED : DUET_POS_ROPE;
    sc.mask = mask;
    sc.cond = cond;
    sc.final_norm = 1;
    sc.max_batch = max_batch;
    sc.max_seq = max_seq;
    sc.init_std = (float)cfg->init_std;
    return sc;
}

int tokennet_create_io(tokennet *n, duet_params *p, const char *prefix, int V, int din, int dout,
                       const duet_stack_config *sc, int head_zero, duet_err *err)
{
    memset(n, 0, sizeof *n);
    n->V = V;
    n->din = din;
    n->dout = dout;
    n->D = sc->dim;
    n->max_batch = sc->max_batch;
    n->max_seq = sc->max_seq;
    n->timed = sc->cond != DUET_COND_NONE;
    char name[DUET_TENSOR_NAME_MAX];
    n->off_emb = p->total;
    if (din > 0) {
        int shape[2] = {sc->dim, din};
        snprintf(name, sizeof name, "%s.in", prefix);
        duet_params_add(p, name, 2, shape, DUET_INIT_NORMAL, sc->init_std, DUET_TF_DECAY);
    } else {
        int shape[2] = {V, sc->dim};
        snprintf(name, sizeof name, "%s.emb", prefix);
        duet_params_add(p, name, 2, shape, DUET_INIT_NORMAL, sc->init_std, 0);
    }
    if (n->timed) {
        snprintf(name, sizeof name, "%s.time", prefix);
        duet_time_embed_create(&n->te, p, name, sc->dim, sc->max_batch, sc->init_std);
    }
    snprintf(name, sizeof name, "%s.blocks", prefix);
    n->stack = duet_stack_create(p, name, sc, err);
    if (!n->stack)
        return -1;
    snprintf(name, sizeof name, "%s.head", prefix);
    n->off_head = p->total;
    int hshape[2] = {dout, sc->dim};
    duet_params_add(p, name, 2, hshape, head_zero ? DUET_INIT_ZERO : DUET_INIT_NORMAL,
                    sc->init_std, DUET_TF_DECAY);
    size_t rows = (size_t)sc->max_batch * (size_t)sc->max_seq;
    n->h = duet_falloc(rows * (size_t)sc->dim);
    n->dh = duet_falloc(rows * (size_t)sc->dim);
    /* logits doubles as the [rows, D] input-gradient scratch in backward */
    n->logits = duet_falloc(rows * (size_t)DUET_MAX(dout, sc->dim));
    n->temb = duet_falloc((size_t)sc->max_batch * (size_t)sc->dim);
    n->dtemb = duet_falloc((size_t)sc->max_batch * (size_t)sc->dim);
    if (din > 0)
        n->x = duet_falloc(rows * (size_t)din);
    else
        n->ids = duet_malloc(rows * sizeof(int32_t));
    n->sel = duet_malloc(rows * sizeof(int32_t));
    return 0;
}

int tokennet_create(tokennet *n, duet_params *p, const char *prefix, int V,
                    const duet_stack_config *sc, int head_zero, duet_err *err)
{
    return tokennet_create_io(n, p, prefix, V, 0, V, sc, head_zero, err);
}

void tokennet_free(tokennet *n)
{
    if (!n)
        return;
    duet_stack_free(n->stack);
    if (n->timed)
        duet_time_embed_free(&n->te);
    free(n->h);
    free(n->dh);
    free(n->logits);
    free(n->temb);
    free(n->dtemb);
    free(n->ids);
    free(n->sel);
    free(n->x);
    memset(n, 0, sizeof *n);
}

static duet_stack_io make_io(const tokennet *n, const duet_attn_mask *mask)
{
    duet_stack_io io;
    memset(&io, 0, sizeof io);
    io.cond = n->timed ? n->temb : NULL;
    if (mask)
        io.self_mask = *mask;
    else
        io.self_mask.mode = duet_stack_cfg(n->stack)->mask;
    return io;
}

static void check_shape(const tokennet *n, int B, int L)
{
    if (B > n->max_batch || L > n->max_seq)
        duet_fatal("tokennet: batch %dx%d exceeds the allocated %dx%d", B, L, n->max_batch,
                   n->max_seq);
}

/* Token embeddings of ids [B,L] into n->h (ids kept for the backward). */
static void embed(tokennet *n, const float *W, const int32_t *ids, int B, int L)
{
    check_shape(n, B, L);
    size_t rows = (size_t)B * (size_t)L;
    memcpy(n->ids, ids, rows * sizeof(int32_t));
    duet_embedding_forward(n->h, ids, W + n->off_emb, (int)rows, n->D);
}

static void forward_stack(tokennet *n, const float *W, const float *time_scaled,
                          const duet_attn_mask *mask, int B, int L)
{
    if (n->timed)
        duet_time_embed_forward(&n->te, W, n->temb, time_scaled, B);
    duet_stack_io io = make_io(n, mask);
    duet_stack_forward(n->stack, W, n->h, &io, B, L);
}

/* Stack and head over the input already in n->h. */
static void forward_body(tokennet *n, const float *W, const float *time_scaled,
                         const duet_attn_mask *mask, int B, int L)
{
    forward_stack(n, W, time_scaled, mask, B, L);
    n->head_all = 1;
    n->nsel = B * L;
    duet_linear_forward(n->logits, n->h, W + n->off_head, NULL, n->nsel, n->D, n->dout);
}

void tokennet_forward_rows(tokennet *n, const float *W, const int32_t *ids,
                           const float *time_scaled, const duet_attn_mask *mask, int B, int L,
                           const int32_t *sel, int nsel)
{
    size_t D = (size_t)n->D;
    embed(n, W, ids, B, L);
    forward_stack(n, W, time_scaled, mask, B, L);
    /* Gather in place: sel is increasing, so sel[i] >= i and no row is
     * overwritten before it is read. */
    for (int i = 0; i < nsel; i++) {
        n->sel[i] = sel[i];
        if (sel[i] != i)
            memcpy(n->h + (size_t)i * D, n->h + (size_t)sel[i] * D, D * sizeof(float));
    }
    n->head_all = 0;
    n->nsel = nsel;
    duet_linear_forward(n->logits, n->h, W + n->off_head, NULL, nsel, n->D, n->dout);
}

void tokennet_forward(tokennet *n, const float *W, const int32_t *ids, const float *time_scaled,
                      const duet_attn_mask *mask, int B, int L)
{
    tokennet_forward_add(n, W, ids, NULL, time_scaled, mask, B, L);
}

void tokennet_forward_add(tokennet *n, const float *W, const int32_t *ids, const float *extra,
                          const float *time_scaled, const duet_attn_mask *mask, int B, int L)
{
    embed(n, W, ids, B, L);
    size_t rows = (size_t)B * (size_t)L;
    if (extra)
        for (size_t i = 0; i < rows * (size_t)n->D; i++)
            n->h[i] += extra[i];
    forward_body(n, W, time_scaled, mask, B, L);
}

void tokennet_forward_vec(tokennet *n, const float *W, const float *x, const float *time_scaled,
                          const duet_attn_mask *mask, int B, int L)
{
    check_shape(n, B, L);
    size_t rows = (size_t)B * (size_t)L;
    memcpy(n->x, x, rows * (size_t)n->din * sizeof(float));
    duet_linear_forward(n->h, n->x, W + n->off_emb, NULL, (int)rows, n->din, n->D);
    forward_body(n, W, time_scaled, mask, B, L);
}

void tokennet_backward(tokennet *n, const float *W, float *dW, const duet_attn_mask *mask, int B,
                       int L, const duet_grad_hook *hook)
{
    tokennet_backward_ex(n, W, dW, NULL, mask, B, L, hook);
}

void tokennet_backward_ex(tokennet *n, const float *W, float *dW, float *dx,
                          const duet_attn_mask *mask, int B, int L, const duet_grad_hook *hook)
{
    size_t rows = (size_t)B * (size_t)L, D = (size_t)n->D;
    memset(n->dh, 0, rows * D * sizeof(float));
    duet_linear_backward(n->dh, dW ? dW + n->off_head : NULL, NULL, n->logits, n->h,
                         W + n->off_head, n->nsel, n->D, n->dout);
    /* Scatter the gathered rows' gradients back to their rows (decreasing
     * order: sel[i] >= i, so no gradient is overwritten before it moves). */
    if (!n->head_all)
        for (int i = n->nsel - 1; i >= 0; i--)
            if (n->sel[i] != i) {
                memcpy(n->dh + (size_t)n->sel[i] * D, n->dh + (size_t)i * D, D * sizeof(float));
                memset(n->dh + (size_t)i * D, 0, D * sizeof(float));
            }
    if (hook)
        hook->ready(hook->user, n->off_head);
    /* The stack overwrote n->h with its output; its input is in its caches. */
    float *dinput = n->logits; /* output gradients are consumed: reuse the buffer */
    memset(dinput, 0, rows * (size_t)n->D * sizeof(float));
    float *dtemb = n->timed && dW ? n->dtemb : NULL;
    if (dtemb)
        memset(dtemb, 0, (size_t)B * (size_t)n->D * sizeof(float));
    duet_stack_io io = make_io(n, mask);
    duet_stack_backward(n->stack, W, dW, n->dh, dinput, dtemb, NULL, &io, B, L, hook);
    if (dtemb)
        duet_time_embed_backward(&n->te, W, dW, dtemb, B);
    if (n->din > 0) {
        if (dW || dx)
            duet_linear_backward(dx, dW ? dW + n->off_emb : NULL, NULL, dinput, n->x,
                                 W + n->off_emb, (int)rows, n->din, n->D);
    } else if (dW) {
        duet_embedding_backward(dW + n->off_emb, dinput, n->ids, (int)rows, n->D);
    }
    if (hook)
        hook->ready(hook->user, n->off_emb);
}
