/* PCA for MAUVE (SPEC §6.3 step 3): covariance, LAPACK dsyevd from
 * OpenBLAS, projection on the leading components (no whitening). Every sum
 * has a fixed order, so the result does not depend on the thread count. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/eval.h"

/* LAPACK's symmetric eigensolver (divide and conquer), Fortran interface;
 * OpenBLAS exports it and Debian ships no lapacke.h. Eigenvalues ascending,
 * eigenvectors in the columns of a (column-major). */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info);

static int eigh_serial(double *a, int n, double *w, duet_err *err)
{
    int lwork = -1, liwork = -1, info = 0, iwork_q = 0;
    double work_q = 0.0;
    dsyevd_("V", "L", &n, a, &n, w, &work_q, &lwork, &iwork_q, &liwork, &info);
    if (info != 0)
        return duet_errf(err, "PCA: dsyevd workspace query failed (info %d)", info);
    lwork = (int)work_q;
    liwork = iwork_q;
    double *work = duet_malloc((size_t)lwork * sizeof *work);
    int *iwork = duet_malloc((size_t)liwork * sizeof *iwork);
    dsyevd_("V", "L", &n, a, &n, w, work, &lwork, iwork, &liwork, &info);
    free(work);
    free(iwork);
    if (info != 0)
        return duet_errf(err, "PCA: dsyevd failed to converge (info %d)", info);
    return 0;
}

/* Eigen-decomposes the symmetric n x n matrix a in place. The BLAS calls
 * inside dsyevd round differently with OpenBLAS's thread count (measured:
 * last bits of the k-means inertia moved between 1 and 2 threads), so it
 * runs on one BLAS thread; D x D with D ~ 256 takes a few ms. */
static int eigh(double *a, int n, double *w, duet_err *err)
{
    int blas_threads = openblas_get_num_threads();
    if (blas_threads > 1)
        openblas_set_num_threads(1);
    int rc = eigh_serial(a, n, w, err);
    if (blas_threads > 1)
        openblas_set_num_threads(blas_threads);
    return rc;
}

int duet_pca_project(const double *X, size_t n, size_t D, double var_keep, float **out,
                     size_t *m_out, double *explained, duet_err *err)
{
    if (n == 0 || D == 0 || D > 46340) /* D*D must fit LAPACK's int */
        return duet_errf(err, "PCA: bad shape %zu x %zu", n, D);
    double *xc = duet_malloc(n * D * sizeof *xc);
    double *mean = duet_calloc(D, sizeof *mean);
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < D; a++)
            mean[a] += X[i * D + a];
    for (size_t a = 0; a < D; a++)
        mean[a] /= (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < D; a++)
            xc[i * D + a] = X[i * D + a] - mean[a];

    /* Covariance, lower triangle in column-major order = cov[a * D + b] for
     * b >= a. Each entry is one sum over the rows in order. Threads take
     * chunks of 8 a's and walk the rows in blocks that stay in cache. */
    double *cov = duet_calloc(D * D, sizeof *cov);
    /* Threads only for work beyond ~1M multiply-adds (see kmeans.c). */
    const int parallel = n * D * D > (1u << 21);
    (void)parallel;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
#endif
    for (size_t a0 = 0; a0 < D; a0 += 8) {
        for (size_t i0 = 0; i0 < n; i0 += 64) {
            for (size_t a = a0; a < DUET_MIN(D, a0 + 8); a++) {
                double *row = cov + a * D;
                for (size_t i = i0; i < DUET_MIN(n, i0 + 64); i++) {
                    const double *x = xc + i * D;
                    const double xa = x[a];
                    for (size_t b = a; b < D; b++)
                        row[b] += xa * x[b];
                }
            }
        }
    }
    double scale = n > 1 ? 1.0 / (double)(n - 1) : 1.0;
    for (size_t a = 0; a < D; a++)
        for (size_t b = a; b < D; b++)
            cov[a * D + b] *= scale;
    double *w = duet_malloc(D * sizeof *w);
    if (eigh(cov, (int)D, w, err) != 0) {
        free(xc);
        free(mean);
        free(cov);
        free(w);
        return -1;
    }

    /* Component c (descending eigenvalue) is column D-1-c. Round-off can
     * leave tiny negative eigenvalues; they explain no variance. */
    double total = 0.0;
    for (size_t a = 0; a < D; a++)
        total += w[a] > 0 ? w[a] : 0.0;
    size_t m = 1;
    double cum = w[D - 1] > 0 ? w[D - 1] : 0.0;
    if (total > 0) {
        while (m < D && cum / total < var_keep) {
            double e = w[D - 1 - m];
            cum += e > 0 ? e : 0.0;
            m++;
        }
        *explained = cum / total;
    } else {
        *explained = 1.0; /* all rows equal: one (zero) component */
    }

    /* basis[a * m + c]: so the projection accumulates every component of a
     * row in one pass with a fixed order per output. */
    double *basis = duet_malloc(D * m * sizeof *basis);
    for (size_t c = 0; c < m; c++)
        for (size_t a = 0; a < D; a++)
            basis[a * m + c] = cov[(D - 1 - c) * D + a];
    float *y = duet_malloc(n * m * sizeof *y);
#ifdef _OPENMP
#pragma omp parallel if (parallel)
#endif
    {
        double *acc = duet_malloc(m * sizeof *acc);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (size_t i = 0; i < n; i++) {
            memset(acc, 0, m * sizeof *acc);
            const double *x = xc + i * D;
            for (size_t a = 0; a < D; a++) {
                const double xa = x[a], *v = basis + a * m;
                for (size_t c = 0; c < m; c++)
                    acc[c] += xa * v[c];
            }
            for (size_t c = 0; c < m; c++)
                y[i * m + c] = (float)acc[c];
        }
        free(acc);
    }
    free(basis);
    free(xc);
    free(mean);
    free(cov);
    free(w);
    *out = y;
    *m_out = m;
    return 0;
}
