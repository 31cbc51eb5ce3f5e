/* Linear layers (cblas_sgemm), embeddings, residual add and the column
 * reductions their backward passes need. */
#include <cblas.h>
#include <string.h>

#include "duet/ops.h"
#include "ops_internal.h"

void duet_linear_forward(float *out, const float *in, const float *w, const float *b,
                         int N, int C, int OC)
{
    if (N <= 0 || OC <= 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, in, C, w, C, 0.0f,
                out, OC);
    if (!b)
        return;
    DUET_OMP_FOR((size_t)N * OC)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * OC;
        for (int j = 0; j < OC; j++)
            o[j] += b[j];
    }
}

void duet_colsum_acc(float *db, const float *x, int N, int D, int ld)
{
    int nblk = (D + DUET_COL_BLOCK - 1) / DUET_COL_BLOCK;
    DUET_OMP_FOR((size_t)N * D)
    for (int blk = 0; blk < nblk; blk++) {
        int j0 = blk * DUET_COL_BLOCK, j1 = DUET_MIN(j0 + DUET_COL_BLOCK, D);
        for (int n = 0; n < N; n++) {
            const float *r = x + (size_t)n * ld;
            for (int j = j0; j < j1; j++)
                db[j] += r[j];
        }
    }
}

void duet_linear_backward_beta(float *din, float beta, float *dw, float *db, const float *dout,
                               const float *in, const float *w, int N, int C, int OC)
{
    if (N <= 0)
        return;
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C,
                    beta, din, C);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, in, C,
                    1.0f, dw, C);
    if (db)
        duet_colsum_acc(db, dout, N, OC, OC);
}

void duet_linear_backward(float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, int N, int C, int OC)
{
    duet_linear_backward_beta(din, 1.0f, dw, db, dout, in, w, N, C, OC);
}

void duet_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int D)
{
    DUET_OMP_FOR((size_t)N * D)
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * D, table + (size_t)ids[n] * D, (size_t)D * sizeof(float));
}

/* Rows may repeat an id, so threads own column blocks (no races, and the
 * order of the sums is the row order whatever the thread count). */
void duet_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int D)
{
    int nblk = (D + DUET_COL_BLOCK - 1) / DUET_COL_BLOCK;
    DUET_OMP_FOR((size_t)N * D)
    for (int blk = 0; blk < nblk; blk++) {
        int j0 = blk * DUET_COL_BLOCK, j1 = DUET_MIN(j0 + DUET_COL_BLOCK, D);
        for (int n = 0; n < N; n++) {
            float *t = dtable + (size_t)ids[n] * D;
            const float *g = dout + (size_t)n * D;
            for (int j = j0; j < j1; j++)
                t[j] += g[j];
        }
    }
}

void duet_add_forward(float *out, const float *a, const float *b, size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}
