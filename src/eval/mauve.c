/* MAUVE (SPEC §6.3): normalise, PCA, k-means, histograms, frontier area. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/eval.h"

duet_mauve_opts duet_mauve_default_opts(uint64_t seed)
{
    duet_mauve_opts o = {
        .seed = seed, .k = 0, .restarts = 5, .max_iter = 500, .var_keep = 0.9, .c = 5.0,
        .n_lambda = 25,
    };
    return o;
}

/* KL(a || b) over K bins; +inf if some a_k > 0 has b_k = 0. */
static double kl(const double *a, const double *b, size_t K)
{
    double s = 0.0;
    for (size_t i = 0; i < K; i++) {
        if (a[i] <= 0)
            continue;
        if (b[i] <= 0)
            return INFINITY;
        s += a[i] * log(a[i] / b[i]);
    }
    return s;
}

double duet_mauve_area(const double *p, const double *q, size_t K, double c, int n_lambda)
{
    double *r = duet_malloc(K * sizeof *r);
    double x_prev = 0.0, y_prev = 1.0, area = 0.0; /* start at (0, 1) */
    /* lambda from 1 - 1e-6 down to 1e-6 (numpy linspace values), then (1, 0). */
    for (int j = 0; j <= n_lambda; j++) {
        double x = 1.0, y = 0.0;
        if (j < n_lambda) {
            int i = n_lambda - 1 - j;
            double lam = n_lambda == 1 ? 1e-6
                       : i == n_lambda - 1 ? 1.0 - 1e-6
                       : 1e-6 + i * ((1.0 - 2e-6) / (n_lambda - 1));
            /* r = lam p + (1 - lam) q written so that p = q gives r = q exactly */
            for (size_t k = 0; k < K; k++)
                r[k] = q[k] + lam * (p[k] - q[k]);
            x = exp(-c * kl(q, r, K));
            y = exp(-c * kl(p, r, K));
        }
        area += (x - x_prev) * (y + y_prev) / 2;
        x_prev = x;
        y_prev = y;
    }
    free(r);
    return area;
}

/* Rows compared lexicographically by a total order on floats (validated
 * finite), so the canonical order does not depend on the input order. */
typedef struct row_ref {
    const float *row;
    size_t D;
} row_ref;

static uint32_t float_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static int cmp_rows(const void *pa, const void *pb)
{
    const row_ref *a = pa, *b = pb;
    for (size_t j = 0; j < a->D; j++) {
        uint32_t x = float_key(a->row[j]), y = float_key(b->row[j]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

/* Appends the rows of M in canonical order, L2-normalised, to X. */
static int add_rows(const float *M, size_t n, size_t D, const char *name, double *X,
                    duet_err *err)
{
    row_ref *refs = duet_malloc(n * sizeof *refs);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < D; j++)
            if (!isfinite(M[i * D + j])) {
                free(refs);
                return duet_errf(err, "MAUVE: feature %s[%zu][%zu] = %g is not finite", name, i,
                                 j, (double)M[i * D + j]);
            }
        refs[i].row = M + i * D;
        refs[i].D = D;
    }
    qsort(refs, n, sizeof *refs, cmp_rows);
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < D; j++)
            s += (double)refs[i].row[j] * refs[i].row[j];
        double inv = s > 0 ? 1.0 / sqrt(s) : 0.0;
        for (size_t j = 0; j < D; j++)
            X[i * D + j] = refs[i].row[j] * inv;
    }
    free(refs);
    return 0;
}

/* max(2, round_half_even(m / 10)) in integers (m / 10 is exact at .5). */
static size_t default_k(size_t m)
{
    size_t q = m / 10, r = m % 10;
    if (r > 5 || (r == 5 && q % 2 == 1))
        q++;
    return q < 2 ? 2 : q;
}

int duet_mauve_compute(const float *P, size_t n_p, const float *Q, size_t n_q, size_t D,
                       const duet_mauve_opts *o, duet_mauve *out, duet_err *err)
{
    if (n_p == 0 || n_q == 0 || D == 0)
        return duet_errf(err, "MAUVE: empty input (%zu generated, %zu reference rows, D = %zu)",
                         n_p, n_q, D);
    if (o->restarts < 1 || o->max_iter < 0 || !(o->var_keep > 0 && o->var_keep <= 1) ||
        !(o->c > 0) || o->n_lambda < 1)
        return duet_errf(err, "MAUVE: bad options (restarts %d, max_iter %d, var_keep %g, c %g, "
                              "n_lambda %d)",
                         o->restarts, o->max_iter, o->var_keep, o->c, o->n_lambda);
    size_t N = n_p + n_q;
    size_t k = o->k ? o->k : default_k(DUET_MIN(n_p, n_q));
    if (k > N || N > UINT32_MAX)
        return duet_errf(err, "MAUVE: %zu clusters for %zu rows", k, N);

    double *X = duet_malloc(N * D * sizeof *X);
    if (add_rows(P, n_p, D, "P", X, err) != 0 || add_rows(Q, n_q, D, "Q", X + n_p * D, err) != 0) {
        free(X);
        return -1;
    }
    float *Y = NULL;
    size_t m = 0;
    int rc = duet_pca_project(X, N, D, o->var_keep, &Y, &m, &out->explained, err);
    free(X);
    if (rc != 0)
        return -1;

    uint32_t *labels = duet_malloc(N * sizeof *labels);
    out->inertia = duet_kmeans(Y, N, m, k, o->restarts, o->max_iter, o->seed, labels, &out->iters);
    double *p = duet_calloc(k, sizeof *p), *q = duet_calloc(k, sizeof *q);
    for (size_t i = 0; i < n_p; i++)
        p[labels[i]] += 1.0;
    for (size_t i = n_p; i < N; i++)
        q[labels[i]] += 1.0;
    for (size_t c = 0; c < k; c++) {
        p[c] /= (double)n_p;
        q[c] /= (double)n_q;
    }
    out->mauve = duet_mauve_area(p, q, k, o->c, o->n_lambda);
    out->k = k;
    out->n_comp = m;
    free(p);
    free(q);
    free(labels);
    free(Y);
    return 0;
}
