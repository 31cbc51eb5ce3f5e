/* Time embedding (SPEC 1.2): temb = W2 SiLU(W1 e(s) + b1) + b2, Dt = 256. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ops_internal.h"
#include "duet/model.h"

#define TIME_DT 256

static size_t add_tensor(duet_params *p, const char *prefix, const char *name, int rows,
                         int cols, enum duet_init init, float std, unsigned flags)
{
    char full[DUET_TENSOR_NAME_MAX];
    if (snprintf(full, sizeof full, "%s.%s", prefix, name) >= (int)sizeof full)
        duet_fatal("time_embed: tensor name '%s.%s' too long", prefix, name);
    int shape[2] = {rows, cols};
    int idx = duet_params_add(p, full, cols ? 2 : 1, shape, init, std, flags);
    return p->t[idx].offset;
}

void duet_time_embed_create(duet_time_embed *te, duet_params *p, const char *prefix, int dim,
                            int max_n, float init_std)
{
    memset(te, 0, sizeof *te);
    te->dim = dim;
    te->dt = TIME_DT;
    te->max_n = max_n;
    te->off_w1 = add_tensor(p, prefix, "w1", dim, TIME_DT, DUET_INIT_NORMAL, init_std, DUET_TF_DECAY);
    te->off_b1 = add_tensor(p, prefix, "b1", dim, 0, DUET_INIT_ZERO, 0, 0);
    te->off_w2 = add_tensor(p, prefix, "w2", dim, dim, DUET_INIT_NORMAL, init_std, DUET_TF_DECAY);
    te->off_b2 = add_tensor(p, prefix, "b2", dim, 0, DUET_INIT_ZERO, 0, 0);
    te->e = duet_falloc((size_t)max_n * TIME_DT);
    te->pre = duet_falloc((size_t)max_n * dim);
    te->act = duet_falloc((size_t)max_n * dim);
    te->ws = duet_falloc(2 * (size_t)max_n * dim);
}

void duet_time_embed_free(duet_time_embed *te)
{
    free(te->e);
    free(te->pre);
    free(te->act);
    free(te->ws);
    memset(te, 0, sizeof *te);
}

void duet_time_embed_forward(duet_time_embed *te, const float *W, float *out, const float *s,
                             int n)
{
    if (n > te->max_n)
        duet_fatal("time_embed: %d rows exceed max_n %d", n, te->max_n);
    size_t cnt = (size_t)n * te->dim;
    duet_timestep_embedding(te->e, s, n, te->dt);
    duet_linear_forward(te->pre, te->e, W + te->off_w1, W + te->off_b1, n, te->dt, te->dim);
    duet_silu_forward(te->act, te->pre, cnt);
    duet_linear_forward(out, te->act, W + te->off_w2, W + te->off_b2, n, te->dim, te->dim);
}

void duet_time_embed_backward(duet_time_embed *te, const float *W, float *dW, const float *dout,
                              int n)
{
    if (!dW)
        return;
    size_t cnt = (size_t)n * te->dim;
    float *dact = te->ws, *dpre = te->ws + (size_t)te->max_n * te->dim;
    duet_linear_backward_beta(dact, 0.0f, dW + te->off_w2, dW + te->off_b2, dout, te->act,
                              W + te->off_w2, n, te->dim, te->dim);
    memset(dpre, 0, cnt * sizeof *dpre);
    duet_silu_backward(dpre, dact, te->pre, cnt);
    duet_linear_backward(NULL, dW + te->off_w1, dW + te->off_b1, dpre, te->e, NULL, n, te->dt,
                         te->dim);
}
