/* Parameter table and slabs: every tensor is a named range of one
 * contiguous float buffer; gradients use the same layout. */
#include <stdlib.h>
#include <string.h>

#include "duet/model.h"
#include "duet/rng.h"

/* Tensors start on 64-byte boundaries (16 floats) for aligned SIMD loads. */
#define PARAM_ALIGN 16

void duet_params_init(duet_params *p) { memset(p, 0, sizeof *p); }

void duet_params_free(duet_params *p)
{
    free(p->t);
    free(p->w);
    free(p->g);
    memset(p, 0, sizeof *p);
}

int duet_params_add(duet_params *p, const char *name, int ndim, const int *shape,
                    enum duet_init init, float init_std, unsigned flags)
{
    if (p->w)
        duet_fatal("params: tensor '%s' added after the slab was allocated", name);
    if (ndim < 1 || ndim > 4)
        duet_fatal("params: tensor '%s' has %d dims (1..4)", name, ndim);
    if (duet_params_find(p, name))
        duet_fatal("params: duplicate tensor name '%s'", name);
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->t = duet_realloc(p->t, (size_t)p->cap * sizeof *p->t);
    }
    duet_tensor *t = &p->t[p->n];
    memset(t, 0, sizeof *t);
    if (duet_strlcpy(t->name, name, sizeof t->name) != 0)
        duet_fatal("params: tensor name '%s' longer than %d bytes", name,
                   DUET_TENSOR_NAME_MAX - 1);
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            duet_fatal("params: tensor '%s' dim %d is %d", name, i, shape[i]);
        t->shape[i] = shape[i];
        t->count *= (size_t)shape[i];
    }
    t->offset = (p->total + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
    t->flags = flags;
    t->group = p->cur_group;
    t->init = init;
    t->init_std = init_std;
    p->total = t->offset + t->count;
    return p->n++;
}

void duet_params_alloc(duet_params *p)
{
    if (p->w)
        duet_fatal("params: slab allocated twice");
    p->w = duet_falloc(p->total);
    p->g = duet_falloc(p->total);
}

void duet_params_init_values(duet_params *p, uint64_t seed)
{
    for (int i = 0; i < p->n; i++) {
        const duet_tensor *t = &p->t[i];
        float *w = p->w + t->offset;
        switch (t->init) {
        case DUET_INIT_ZERO:
            memset(w, 0, t->count * sizeof *w);
            break;
        case DUET_INIT_ONE:
            for (size_t j = 0; j < t->count; j++)
                w[j] = 1.0f;
            break;
        case DUET_INIT_NORMAL: {
            /* keyed by the name, so the values do not depend on which
             * tensors were created before this one */
            uint64_t h = duet_hash64(t->name, strlen(t->name), 0);
            duet_rng r = duet_rng_keyed(seed, (uint32_t)(h >> 32), (uint32_t)h, DUET_STREAM_INIT);
            for (size_t j = 0; j < t->count; j++)
                w[j] = t->init_std * duet_rng_normal(&r);
            break;
        }
        }
    }
}

const duet_tensor *duet_params_find(const duet_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0)
            return &p->t[i];
    return NULL;
}

void duet_params_zero_grad(duet_params *p)
{
    if (p->g)
        memset(p->g, 0, p->total * sizeof *p->g);
}

/* Four interleaved multiply-xorshift lanes over the 32-bit words (fast on
 * 100M-float slabs), folded at the end. Bitwise: -0.0 != 0.0, NaN payloads count. */
uint64_t duet_checksum_floats(const float *x, size_t n)
{
    uint64_t h[4] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
                     0x27D4EB2F165667C5ull};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++) {
            uint32_t u;
            memcpy(&u, x + i + l, sizeof u);
            h[l] = (h[l] ^ u) * 0x100000001B3ull;
            h[l] ^= h[l] >> 29;
        }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        h[0] = (h[0] ^ u) * 0x100000001B3ull;
        h[0] ^= h[0] >> 29;
    }
    uint64_t r = (uint64_t)n;
    for (int l = 0; l < 4; l++)
        r = (r ^ h[l]) * 0xFF51AFD7ED558CCDull, r ^= r >> 33;
    return r;
}
