/* Private to src/objectives: vector quantizer with an EMA codebook (SPEC 3.2).
 *
 * Codes e_k follow exponential moving averages of the assignment counts N_k
 * and summed encoder outputs m_k (with Laplace smoothing); no gradients. The
 * per-step statistics are summed over ranks before the update, and initial /
 * restart vectors are taken at keyed global batch positions whose owners
 * contribute them through one allreduce, so every rank holds the same
 * codebook as one rank with the global batch.
 */
#ifndef DUET_OBJECTIVES_VQ_H
#define DUET_OBJECTIVES_VQ_H

#include <stddef.h>
#include <stdint.h>

#include "duet/dist.h"

typedef struct vq_codebook {
    int K, Dc;
    int ready;      /* codes initialised */
    float *e;       /* [K,Dc] codes */
    double *N;      /* [K] EMA counts */
    double *m;      /* [K,Dc] EMA sums */
    double *stats;  /* [K + K*Dc]: this step's counts n_k then sums s_k */
    double *last_n; /* [K] global counts of the last update (for perplexity) */
} vq_codebook;

void vq_create(vq_codebook *c, int K, int Dc);
void vq_free(vq_codebook *c);

/* Nearest code of each of N vectors h [N,Dc] (squared distance, ties to the
 * lowest k): idx[N] and q [N,Dc] = e[idx]. */
void vq_assign(const vq_codebook *c, const float *h, int N, int32_t *idx, float *q);
/* Adds the assignments of N vectors to this step's statistics. */
void vq_accumulate(vq_codebook *c, const float *h, const int32_t *idx, int N);
/* Sums the step's statistics over ranks (dist may be NULL), applies
 * N <- g N + (1-g) n, m <- g m + (1-g) s, e = m / N~ with
 * N~_k = (N_k + eps) / (n + K eps) n, and clears the statistics. */
void vq_ema_update(vq_codebook *c, duet_dist *dist, double gamma, double eps);

/* Codes with N_k < tau * (sum N) / K; marks dead[k] when dead is non-NULL. */
int vq_count_dead(const vq_codebook *c, double tau, uint8_t *dead);
/* exp(entropy) of the last update's global assignment counts. */
double vq_perplexity(const vq_codebook *c);

/* Where vectors come from: this rank holds rows [lo, lo + n) of the P
 * vectors of a global batch (row-major [P, Dc] in global order). */
typedef struct vq_source {
    const float *h; /* [n, Dc] this rank's vectors */
    size_t lo, n, P;
} vq_source;

/* Initialises every code from K vectors of the global batch at keyed
 * positions (distinct when P >= K; else with replacement plus N(0, 0.01^2)
 * jitter); N_k = 1, m_k = e_k. Collective. */
void vq_init_codes(vq_codebook *c, duet_dist *dist, const vq_source *src, uint64_t seed,
                   uint32_t step, uint32_t stream);
/* Dead-code restart: every dead code (tau) gets the vector at a keyed uniform
 * position plus N(0, 0.01^2) jitter, N_k = n/K, m_k = N_k e_k. Collective;
 * returns the number of restarted codes (same on every rank). */
int vq_restart_dead(vq_codebook *c, duet_dist *dist, const vq_source *src, double tau,
                    uint64_t seed, uint32_t step, uint32_t stream);

/* Patch pooling between levels (SPEC 3.1 [choice]): the k consecutive rows
 * of a patch are concatenated and mapped by one linear, so the pooled vector
 * depends on the order of the rows (a mean would not), and unpooling maps
 * each vector to k distinct rows (repeating one vector k times would give
 * every position of the patch the same input, and a decoder that cannot
 * tell them apart repeats one token k times).
 *   pool:   out [n, Dout]   = in [n*k, Din] viewed as [n, k*Din]  x  w^T, w [Dout, k*Din]
 *   unpool: out [n*k, Dout] viewed as [n, k*Dout] = in [n, Din]  x  w^T, w [k*Dout, Din]
 * Backward passes accumulate into din and dw (the duet_linear convention). */
void vq_patch_pool_forward(float *out, const float *in, const float *w, int n, int k, int Din,
                           int Dout);
void vq_patch_pool_backward(float *din, float *dw, const float *dout, const float *in,
                            const float *w, int n, int k, int Din, int Dout);
void vq_patch_unpool_forward(float *out, const float *in, const float *w, int n, int k, int Din,
                             int Dout);
void vq_patch_unpool_backward(float *din, float *dw, const float *dout, const float *in,
                              const float *w, int n, int k, int Din, int Dout);

/* Checkpoint state: ready, e, N, m, last_n. */
size_t vq_state_bytes(const vq_codebook *c);
void vq_state_save(const vq_codebook *c, unsigned char *buf);
void vq_state_load(vq_codebook *c, const unsigned char *buf);

#endif
