/* Latent normalizations (see latnorm.h, SPEC 2.4). */
#include "latnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LATNORM_EPS 1e-5

int latnorm_parse(const char *name, latnorm_kind *out)
{
    static const char *const names[] = {"sphere", "layer", "batch", "data"};
    for (int k = 0; k < 4; k++)
        if (strcmp(name, names[k]) == 0) {
            *out = (latnorm_kind)k;
            return 0;
        }
    return -1;
}

void latnorm_create(latnorm *n, latnorm_kind kind, int dz, double alpha, int max_rows)
{
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->dz = dz;
    n->alpha = alpha;
    n->max_rows = max_rows;
    n->mu = duet_calloc((size_t)dz, sizeof(double));
    n->q = duet_calloc((size_t)dz, sizeof(double));
    n->sums = duet_calloc(2 * (size_t)dz + 1, sizeof(double));
    n->pend = duet_calloc(2 * (size_t)dz + 1, sizeof(double));
    n->gsum = duet_calloc(2 * (size_t)dz, sizeof(double));
    size_t per = (size_t)DUET_MAX(dz, max_rows);
    n->shift = duet_falloc(per);
    n->scale = duet_falloc(per);
    n->xhat = duet_falloc((size_t)max_rows * (size_t)dz);
}

void latnorm_free(latnorm *n)
{
    free(n->mu);
    free(n->q);
    free(n->sums);
    free(n->pend);
    free(n->gsum);
    free(n->shift);
    free(n->scale);
    free(n->xhat);
    memset(n, 0, sizeof *n);
}

/* Global sum e, sum e^2 and count into n->sums. */
static void global_sums(latnorm *n, duet_dist *dist, const float *e, int rows)
{
    const int dz = n->dz;
    memset(n->sums, 0, (2 * (size_t)dz + 1) * sizeof(double));
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < dz; j++) {
            double v = e[(size_t)r * dz + j];
            n->sums[j] += v;
            n->sums[dz + j] += v * v;
        }
    n->sums[2 * dz] = rows;
    if (dist)
        duet_dist_allreduce_sum_f64(dist, n->sums, 2 * (size_t)dz + 1);
}

/* Per-feature shift/scale from moments (first, second). */
static void feature_stats(latnorm *n, const double *m1, const double *m2)
{
    for (int j = 0; j < n->dz; j++) {
        double var = fmax(m2[j] - m1[j] * m1[j], 0.0);
        n->shift[j] = (float)m1[j];
        n->scale[j] = (float)(1.0 / sqrt(var + LATNORM_EPS));
    }
}

static void per_feature(latnorm *n, duet_dist *dist, const float *e, int rows, int update)
{
    const int dz = n->dz;
    global_sums(n, dist, e, rows);
    double *a = n->gsum, *y = n->gsum + dz; /* scratch: batch moments */
    const double *s = n->sums;
    if (n->kind == LATNORM_DATA && update) {
        for (size_t i = 0; i < 2 * (size_t)dz + 1; i++)
            n->pend[i] += s[i];
        s = n->pend; /* every micro-batch of the step so far */
    }
    double cnt = s[2 * dz] > 0 ? s[2 * dz] : 1.0;
    for (int j = 0; j < dz; j++) {
        a[j] = s[j] / cnt;
        y[j] = s[dz + j] / cnt;
    }
    if (n->kind == LATNORM_BATCH || (n->kind == LATNORM_DATA && !update && !n->have_stats)) {
        feature_stats(n, a, y);
        return;
    }
    if (!update) {
        feature_stats(n, n->mu, n->q);
        return;
    }
    /* DataNorm step n: mu_n = mu_{n-1} + alpha (a_n - mu_{n-1}); init with the first batch */
    for (int j = 0; j < dz; j++) {
        if (n->have_stats) {
            a[j] = n->mu[j] + n->alpha * (a[j] - n->mu[j]);
            y[j] = n->q[j] + n->alpha * (y[j] - n->q[j]);
        }
    }
    feature_stats(n, a, y);
}

void latnorm_forward(latnorm *n, duet_dist *dist, float *x0, const float *e, int rows, int update)
{
    const int dz = n->dz;
    if (rows > n->max_rows)
        duet_fatal("latnorm: %d rows exceed the allocated %d", rows, n->max_rows);
    if (n->kind == LATNORM_BATCH || n->kind == LATNORM_DATA) {
        per_feature(n, dist, e, rows, update);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < dz; j++) {
                size_t i = (size_t)r * dz + j;
                x0[i] = (e[i] - n->shift[j]) * n->scale[j];
            }
    } else {
        for (int r = 0; r < rows; r++) {
            const float *er = e + (size_t)r * dz;
            double m = 0.0, ss = 0.0;
            if (n->kind == LATNORM_LAYER) {
                for (int j = 0; j < dz; j++)
                    m += er[j];
                m /= dz;
                for (int j = 0; j < dz; j++)
                    ss += (er[j] - m) * (er[j] - m);
                n->scale[r] = (float)(1.0 / sqrt(ss / dz + LATNORM_EPS));
            } else { /* sphere: radius sqrt(dz) */
                for (int j = 0; j < dz; j++)
                    ss += (double)er[j] * er[j];
                n->scale[r] = (float)(sqrt((double)dz) / fmax(sqrt(ss), 1e-20));
            }
            n->shift[r] = (float)m;
            for (int j = 0; j < dz; j++)
                x0[(size_t)r * dz + j] = (er[j] - n->shift[r]) * n->scale[r];
        }
    }
    memcpy(n->xhat, x0, (size_t)rows * dz * sizeof(float));
}

void latnorm_backward(latnorm *n, duet_dist *dist, float *de, const float *dx0, const float *e,
                      int rows)
{
    (void)e;
    const int dz = n->dz;
    const float *x = n->xhat;
    switch (n->kind) {
    case LATNORM_DATA: /* statistics are constants (SG) */
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < dz; j++) {
                size_t i = (size_t)r * dz + j;
                de[i] += dx0[i] * n->scale[j];
            }
        break;
    case LATNORM_BATCH: {
        /* synchronized batch norm: de = s (g - mean g - x mean(g x)), means global */
        memset(n->gsum, 0, 2 * (size_t)dz * sizeof(double));
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < dz; j++) {
                size_t i = (size_t)r * dz + j;
                n->gsum[j] += dx0[i];
                n->gsum[dz + j] += (double)dx0[i] * x[i];
            }
        if (dist)
            duet_dist_allreduce_sum_f64(dist, n->gsum, 2 * (size_t)dz);
        double cnt = n->sums[2 * dz];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < dz; j++) {
                size_t i = (size_t)r * dz + j;
                double g = dx0[i] - n->gsum[j] / cnt - x[i] * n->gsum[dz + j] / cnt;
                de[i] += (float)(n->scale[j] * g);
            }
        break;
    }
    default: /* per row: layer de = s (g - mean g - x mean(g x)); sphere without mean g */
        for (int r = 0; r < rows; r++) {
            const float *g = dx0 + (size_t)r * dz, *xr = x + (size_t)r * dz;
            double mg = 0.0, mgx = 0.0;
            for (int j = 0; j < dz; j++) {
                mg += g[j];
                mgx += (double)g[j] * xr[j];
            }
            mg = n->kind == LATNORM_LAYER ? mg / dz : 0.0;
            mgx /= dz;
            for (int j = 0; j < dz; j++)
                de[(size_t)r * dz + j] += (float)(n->scale[r] * (g[j] - mg - xr[j] * mgx));
        }
    }
}

void latnorm_end_step(latnorm *n)
{
    const int dz = n->dz;
    if (n->kind != LATNORM_DATA || n->pend[2 * dz] <= 0)
        return;
    double cnt = n->pend[2 * dz];
    for (int j = 0; j < dz; j++) {
        double a = n->pend[j] / cnt, y = n->pend[dz + j] / cnt;
        if (n->have_stats) {
            n->mu[j] += n->alpha * (a - n->mu[j]);
            n->q[j] += n->alpha * (y - n->q[j]);
        } else {
            n->mu[j] = a;
            n->q[j] = y;
        }
    }
    n->have_stats = 1;
    memset(n->pend, 0, (2 * (size_t)dz + 1) * sizeof(double));
}

size_t latnorm_state_bytes(const latnorm *n) { return (2 * (size_t)n->dz + 1) * sizeof(double); }

void latnorm_state_save(const latnorm *n, void *buf)
{
    double *d = buf;
    d[0] = n->have_stats;
    memcpy(d + 1, n->mu, (size_t)n->dz * sizeof(double));
    memcpy(d + 1 + n->dz, n->q, (size_t)n->dz * sizeof(double));
}

int latnorm_state_load(latnorm *n, const void *buf, size_t bytes, duet_err *err)
{
    if (bytes != latnorm_state_bytes(n))
        return duet_errf(err, "latent norm state has %zu bytes, expected %zu (latent_dim %d)",
                         bytes, latnorm_state_bytes(n), n->dz);
    const double *d = buf;
    n->have_stats = d[0] != 0.0;
    memcpy(n->mu, d + 1, (size_t)n->dz * sizeof(double));
    memcpy(n->q, d + 1 + n->dz, (size_t)n->dz * sizeof(double));
    memset(n->pend, 0, (2 * (size_t)n->dz + 1) * sizeof(double));
    return 0;
}
