/* EMA vector quantizer (see vq.h). */
#include "vq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/ops.h"
#include "duet/rng.h"
#include "duet/util.h"

#define JITTER_STD 0.01f

void vq_create(vq_codebook *c, int K, int Dc)
{
    memset(c, 0, sizeof *c);
    c->K = K;
    c->Dc = Dc;
    size_t kd = (size_t)K * (size_t)Dc;
    c->e = duet_calloc(kd, sizeof(float));
    c->N = duet_calloc((size_t)K, sizeof(double));
    c->m = duet_calloc(kd, sizeof(double));
    c->stats = duet_calloc((size_t)K + kd, sizeof(double));
    c->last_n = duet_calloc((size_t)K, sizeof(double));
}

void vq_free(vq_codebook *c)
{
    free(c->e);
    free(c->N);
    free(c->m);
    free(c->stats);
    free(c->last_n);
    memset(c, 0, sizeof *c);
}

void vq_assign(const vq_codebook *c, const float *h, int N, int32_t *idx, float *q)
{
    int K = c->K, Dc = c->Dc;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *x = h + (size_t)i * Dc;
        double best = INFINITY;
        int bk = 0;
        for (int k = 0; k < K; k++) {
            const float *e = c->e + (size_t)k * Dc;
            double d = 0.0;
            for (int j = 0; j < Dc; j++) {
                double t = (double)x[j] - (double)e[j];
                d += t * t;
            }
            if (d < best) {
                best = d;
                bk = k;
            }
        }
        idx[i] = bk;
        if (q)
            memcpy(q + (size_t)i * Dc, c->e + (size_t)bk * Dc, (size_t)Dc * sizeof(float));
    }
}

void vq_accumulate(vq_codebook *c, const float *h, const int32_t *idx, int N)
{
    double *n = c->stats, *s = c->stats + c->K;
    for (int i = 0; i < N; i++) {
        int k = idx[i];
        n[k] += 1.0;
        for (int j = 0; j < c->Dc; j++)
            s[(size_t)k * c->Dc + j] += h[(size_t)i * c->Dc + j];
    }
}

void vq_ema_update(vq_codebook *c, duet_dist *dist, double gamma, double eps)
{
    int K = c->K, Dc = c->Dc;
    size_t kd = (size_t)K * (size_t)Dc;
    if (dist)
        duet_dist_allreduce_sum_f64(dist, c->stats, (size_t)K + kd);
    const double *n = c->stats, *s = c->stats + K;
    double total = 0.0;
    for (int k = 0; k < K; k++) {
        c->N[k] = gamma * c->N[k] + (1.0 - gamma) * n[k];
        total += c->N[k];
        c->last_n[k] = n[k];
    }
    for (size_t i = 0; i < kd; i++)
        c->m[i] = gamma * c->m[i] + (1.0 - gamma) * s[i];
    for (int k = 0; k < K; k++) {
        double smooth = (c->N[k] + eps) / (total + K * eps) * total;
        for (int j = 0; j < Dc; j++)
            c->e[(size_t)k * Dc + j] = (float)(c->m[(size_t)k * Dc + j] / smooth);
    }
    memset(c->stats, 0, ((size_t)K + kd) * sizeof(double));
}

int vq_count_dead(const vq_codebook *c, double tau, uint8_t *dead)
{
    double total = 0.0;
    for (int k = 0; k < c->K; k++)
        total += c->N[k];
    double thr = tau * total / c->K;
    int nd = 0;
    for (int k = 0; k < c->K; k++) {
        int d = c->N[k] < thr;
        nd += d;
        if (dead)
            dead[k] = (uint8_t)d;
    }
    return nd;
}

double vq_perplexity(const vq_codebook *c)
{
    double total = 0.0, h = 0.0;
    for (int k = 0; k < c->K; k++)
        total += c->last_n[k];
    if (total <= 0)
        return 0.0;
    for (int k = 0; k < c->K; k++)
        if (c->last_n[k] > 0) {
            double p = c->last_n[k] / total;
            h -= p * log(p);
        }
    return exp(h);
}

/* Vectors at global positions pos[0..n) into out [n, Dc]: owners copy their
 * rows into a zero buffer that is summed over ranks (exact: one owner each),
 * then jitter keyed by (seed, step, code index, stream + 1) is added. */
static void gather_positions(duet_dist *dist, const vq_source *src, const uint64_t *pos,
                             const int *codes, int n, int Dc, int jitter, float *out,
                             uint64_t seed, uint32_t step, uint32_t stream)
{
    memset(out, 0, (size_t)n * (size_t)Dc * sizeof(float));
    for (int i = 0; i < n; i++)
        if (pos[i] >= src->lo && pos[i] < src->lo + src->n)
            memcpy(out + (size_t)i * Dc, src->h + (size_t)(pos[i] - src->lo) * Dc,
                   (size_t)Dc * sizeof(float));
    if (dist)
        duet_dist_allreduce_sum_f32(dist, out, (size_t)n * (size_t)Dc);
    if (!jitter)
        return;
    for (int i = 0; i < n; i++) {
        duet_rng r = duet_rng_keyed(seed, step, (uint32_t)codes[i], stream + 1);
        for (int j = 0; j < Dc; j++)
            out[(size_t)i * Dc + j] += JITTER_STD * duet_rng_normal(&r);
    }
}

void vq_init_codes(vq_codebook *c, duet_dist *dist, const vq_source *src, uint64_t seed,
                   uint32_t step, uint32_t stream)
{
    int K = c->K, Dc = c->Dc;
    uint64_t *pos = duet_malloc((size_t)K * sizeof(uint64_t));
    int *codes = duet_malloc((size_t)K * sizeof(int));
    int distinct = src->P >= (size_t)K;
    duet_rng r = duet_rng_keyed(seed, step, DUET_SAMPLE_SHARED, stream);
    for (int k = 0; k < K; k++) {
        codes[k] = k;
        pos[k] = distinct ? duet_permute((uint64_t)k, src->P, seed, stream)
                          : duet_rng_below(&r, (uint32_t)src->P);
    }
    gather_positions(dist, src, pos, codes, K, Dc, !distinct, c->e, seed, step, stream);
    for (int k = 0; k < K; k++) {
        c->N[k] = 1.0;
        for (int j = 0; j < Dc; j++)
            c->m[(size_t)k * Dc + j] = c->e[(size_t)k * Dc + j];
    }
    c->ready = 1;
    free(pos);
    free(codes);
}

int vq_restart_dead(vq_codebook *c, duet_dist *dist, const vq_source *src, double tau,
                    uint64_t seed, uint32_t step, uint32_t stream)
{
    int K = c->K, Dc = c->Dc;
    uint8_t *dead = duet_malloc((size_t)K);
    int nd = vq_count_dead(c, tau, dead);
    if (nd == 0) {
        free(dead);
        return 0;
    }
    double total = 0.0;
    for (int k = 0; k < K; k++)
        total += c->N[k];
    uint64_t *pos = duet_malloc((size_t)nd * sizeof(uint64_t));
    int *codes = duet_malloc((size_t)nd * sizeof(int));
    float *vec = duet_malloc((size_t)nd * (size_t)Dc * sizeof(float));
    duet_rng r = duet_rng_keyed(seed, step, DUET_SAMPLE_SHARED, stream);
    for (int k = 0, i = 0; k < K; k++)
        if (dead[k]) {
            codes[i] = k;
            pos[i++] = duet_rng_below(&r, (uint32_t)src->P);
        }
    gather_positions(dist, src, pos, codes, nd, Dc, 1, vec, seed, step, stream);
    for (int i = 0; i < nd; i++) {
        int k = codes[i];
        c->N[k] = total / K;
        for (int j = 0; j < Dc; j++) {
            float v = vec[(size_t)i * Dc + j];
            c->e[(size_t)k * Dc + j] = v;
            c->m[(size_t)k * Dc + j] = c->N[k] * v;
        }
    }
    free(dead);
    free(pos);
    free(codes);
    free(vec);
    return nd;
}

size_t vq_state_bytes(const vq_codebook *c)
{
    size_t kd = (size_t)c->K * (size_t)c->Dc;
    return sizeof(int32_t) + kd * sizeof(float) + (2 * (size_t)c->K + kd) * sizeof(double);
}

void vq_state_save(const vq_codebook *c, unsigned char *buf)
{
    size_t kd = (size_t)c->K * (size_t)c->Dc;
    int32_t ready = c->ready;
    memcpy(buf, &ready, sizeof ready);
    buf += sizeof ready;
    memcpy(buf, c->e, kd * sizeof(float));
    buf += kd * sizeof(float);
    memcpy(buf, c->N, (size_t)c->K * sizeof(double));
    buf += (size_t)c->K * sizeof(double);
    memcpy(buf, c->m, kd * sizeof(double));
    buf += kd * sizeof(double);
    memcpy(buf, c->last_n, (size_t)c->K * sizeof(double));
}

void vq_state_load(vq_codebook *c, const unsigned char *buf)
{
    size_t kd = (size_t)c->K * (size_t)c->Dc;
    int32_t ready;
    memcpy(&ready, buf, sizeof ready);
    c->ready = ready != 0;
    buf += sizeof ready;
    memcpy(c->e, buf, kd * sizeof(float));
    buf += kd * sizeof(float);
    memcpy(c->N, buf, (size_t)c->K * sizeof(double));
    buf += (size_t)c->K * sizeof(double);
    memcpy(c->m, buf, kd * sizeof(double));
    buf += kd * sizeof(double);
    memcpy(c->last_n, buf, (size_t)c->K * sizeof(double));
}

/* Both directions are a linear on a row-major reshape: a patch of k rows of
 * width D is one row of width k*D. */
void vq_patch_pool_forward(float *out, const float *in, const float *w, int n, int k, int Din,
                           int Dout)
{
    duet_linear_forward(out, in, w, NULL, n, k * Din, Dout);
}

void vq_patch_pool_backward(float *din, float *dw, const float *dout, const float *in,
                            const float *w, int n, int k, int Din, int Dout)
{
    duet_linear_backward(din, dw, NULL, dout, in, w, n, k * Din, Dout);
}

void vq_patch_unpool_forward(float *out, const float *in, const float *w, int n, int k, int Din,
                             int Dout)
{
    duet_linear_forward(out, in, w, NULL, n, Din, k * Dout);
}

void vq_patch_unpool_backward(float *din, float *dw, const float *dout, const float *in,
                              const float *w, int n, int k, int Din, int Dout)
{
    duet_linear_backward(din, dw, NULL, dout, in, w, n, Din, k * Dout);
}
