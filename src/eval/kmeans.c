/* k-means for MAUVE (SPEC §6.3 step 4), following the faiss k-means the
 * public MAUVE calls: random distinct rows as init, Lloyd updates, faiss's
 * empty-cluster split, best of several restarts. Every random draw is keyed
 * by (seed, restart, iteration); each row's assignment is computed alone
 * and sums run in row order, so the result does not depend on threads. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/eval.h"
#include "duet/rng.h"

/* Streams of the evaluation's own draws (keyed by the evaluation seed). */
enum { KMEANS_STREAM_INIT = DUET_STREAM_USER + 32, KMEANS_STREAM_SPLIT };

#define SPLIT_EPS (1.0f / 1024.0f)

size_t duet_kmeans_reseed_empty(float *centroids, size_t *counts, size_t k, size_t d,
                                uint64_t seed, uint32_t restart, uint32_t iter)
{
    duet_rng rng = duet_rng_keyed(seed, restart, iter, KMEANS_STREAM_SPLIT);
    size_t nsplit = 0;
    for (size_t ci = 0; ci < k; ci++) {
        if (counts[ci] != 0)
            continue;
        uint64_t total = 0;
        for (size_t j = 0; j < k; j++)
            total += counts[j] > 1 ? counts[j] - 1 : 0;
        if (total == 0 || total > UINT32_MAX)
            break; /* no cluster has two rows: nothing to split (n < k) */
        uint32_t u = duet_rng_below(&rng, (uint32_t)total);
        size_t cj = 0;
        for (;; cj++) {
            size_t w = counts[cj] > 1 ? counts[cj] - 1 : 0;
            if (u < w)
                break;
            u -= (uint32_t)w;
        }
        float *dst = centroids + ci * d, *src = centroids + cj * d;
        memcpy(dst, src, d * sizeof *dst);
        for (size_t j = 0; j < d; j++) {
            float up = 1.0f + SPLIT_EPS, down = 1.0f - SPLIT_EPS;
            dst[j] *= (j % 2 == 0) ? up : down;
            src[j] *= (j % 2 == 0) ? down : up;
        }
        counts[ci] = counts[cj] / 2;
        counts[cj] -= counts[ci];
        nsplit++;
    }
    return nsplit;
}

typedef struct km_work {
    const float *X;
    size_t n, d, k;
    const double *xnorm; /* ||x_i||^2 */
    float *C;            /* centroids [k x d] */
    float *Ct;           /* transposed [d x k] */
    float *cnorm;        /* ||c||^2 */
    double *dist;        /* squared distance of each row to its centroid */
    double *sums;        /* [k x d] */
    size_t *counts;
} km_work;

/* Nearest centroid of every row (ties -> lower index); returns the inertia.
 * ||x - c||^2 = ||x||^2 + (||c||^2 - 2 x.c); the dot products of one row
 * with all centroids accumulate over coordinates in order (vectorised over
 * centroids, so the order per dot product is fixed). */
static double assign(km_work *w, uint32_t *labels)
{
    const size_t d = w->d, k = w->k;
    for (size_t c = 0; c < k; c++) {
        float s = 0.0f;
        for (size_t j = 0; j < d; j++) {
            w->Ct[j * k + c] = w->C[c * d + j];
            s += w->C[c * d + j] * w->C[c * d + j];
        }
        w->cnorm[c] = s;
    }
    /* Threads only pay off beyond ~1M multiply-adds per pass (waking a
     * team costs more than small passes); the result is the same either way. */
    const int parallel = w->n * k * d > (1u << 20);
    (void)parallel;
#ifdef _OPENMP
#pragma omp parallel if (parallel)
#endif
    {
        float *acc = duet_malloc(k * sizeof *acc);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (size_t i = 0; i < w->n; i++) {
            const float *x = w->X + i * d;
            memset(acc, 0, k * sizeof *acc);
            for (size_t j = 0; j < d; j++) {
                const float xj = x[j], *ct = w->Ct + j * k;
                for (size_t c = 0; c < k; c++)
                    acc[c] += xj * ct[c];
            }
            size_t best = 0;
            float best_v = FLT_MAX;
            for (size_t c = 0; c < k; c++) {
                float v = w->cnorm[c] - 2.0f * acc[c];
                if (v < best_v) {
                    best_v = v;
                    best = c;
                }
            }
            labels[i] = (uint32_t)best;
            double dd = w->xnorm[i] + (double)best_v;
            w->dist[i] = dd > 0 ? dd : 0.0;
        }
        free(acc);
    }
    double inertia = 0.0;
    for (size_t i = 0; i < w->n; i++)
        inertia += w->dist[i];
    return inertia;
}

/* Centroids = means of their rows; empty clusters re-seeded. Returns the
 * number of re-seeded clusters. */
static size_t update(km_work *w, const uint32_t *labels, uint64_t seed, uint32_t restart,
                     uint32_t iter)
{
    const size_t d = w->d, k = w->k;
    memset(w->sums, 0, k * d * sizeof *w->sums);
    memset(w->counts, 0, k * sizeof *w->counts);
    for (size_t i = 0; i < w->n; i++) {
        double *s = w->sums + (size_t)labels[i] * d;
        const float *x = w->X + i * d;
        for (size_t j = 0; j < d; j++)
            s[j] += x[j];
        w->counts[labels[i]]++;
    }
    for (size_t c = 0; c < k; c++) {
        if (w->counts[c] == 0)
            continue;
        for (size_t j = 0; j < d; j++)
            w->C[c * d + j] = (float)(w->sums[c * d + j] / (double)w->counts[c]);
    }
    return duet_kmeans_reseed_empty(w->C, w->counts, k, d, seed, restart, iter);
}

/* One restart: init, then Lloyd updates until a fixed point (the
 * assignment repeats after an update without re-seeding, so the centroids
 * are already its means) or max_iter updates. */
static double run(km_work *w, int max_iter, uint64_t seed, uint32_t restart, uint32_t *labels,
                  uint32_t *prev, size_t *perm, int *iters)
{
    duet_rng rng = duet_rng_keyed(seed, restart, DUET_SAMPLE_SHARED, KMEANS_STREAM_INIT);
    for (size_t i = 0; i < w->n; i++)
        perm[i] = i;
    for (size_t c = 0; c < w->k; c++) { /* partial Fisher-Yates: k distinct rows */
        size_t j = c + duet_rng_below(&rng, (uint32_t)(w->n - c));
        size_t t = perm[c];
        perm[c] = perm[j];
        perm[j] = t;
        memcpy(w->C + c * w->d, w->X + perm[c] * w->d, w->d * sizeof *w->C);
    }
    double inertia = assign(w, labels);
    int it = 0;
    while (it < max_iter) {
        memcpy(prev, labels, w->n * sizeof *labels);
        size_t splits = update(w, prev, seed, restart, (uint32_t)it);
        it++;
        inertia = assign(w, labels);
        if (splits == 0 && memcmp(prev, labels, w->n * sizeof *labels) == 0)
            break;
    }
    *iters = it;
    return inertia;
}

double duet_kmeans(const float *X, size_t n, size_t d, size_t k, int restarts, int max_iter,
                   uint64_t seed, uint32_t *labels, int *iters)
{
    if (k == 0 || k > n || n > UINT32_MAX || restarts < 1)
        duet_fatal("duet_kmeans: bad arguments n=%zu k=%zu restarts=%d", n, k, restarts);
    km_work w = {.X = X, .n = n, .d = d, .k = k};
    double *xnorm = duet_malloc(n * sizeof *xnorm);
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < d; j++)
            s += (double)X[i * d + j] * X[i * d + j];
        xnorm[i] = s;
    }
    w.xnorm = xnorm;
    w.C = duet_malloc(k * d * sizeof *w.C);
    w.Ct = duet_malloc(k * d * sizeof *w.Ct);
    w.cnorm = duet_malloc(k * sizeof *w.cnorm);
    w.dist = duet_malloc(n * sizeof *w.dist);
    w.sums = duet_malloc(k * d * sizeof *w.sums);
    w.counts = duet_malloc(k * sizeof *w.counts);
    uint32_t *cur = duet_malloc(n * sizeof *cur), *prev = duet_malloc(n * sizeof *prev);
    size_t *perm = duet_malloc(n * sizeof *perm);

    double best = INFINITY;
    for (int r = 0; r < restarts; r++) {
        int it = 0;
        double inertia = run(&w, max_iter, seed, (uint32_t)r, cur, prev, perm, &it);
        if (r == 0 || inertia < best) { /* first of equal restarts wins */
            best = inertia;
            memcpy(labels, cur, n * sizeof *labels);
            *iters = it;
        }
    }
    free(xnorm);
    free(w.C);
    free(w.Ct);
    free(w.cnorm);
    free(w.dist);
    free(w.sums);
    free(w.counts);
    free(cur);
    free(prev);
    free(perm);
    return best;
}
