/* Losses: fused softmax cross-entropy (forward + gradient in one pass over
 * the [N,V] logits, in place if asked) and squared error.
 *
 * Sums are taken over a fixed split of the rows into at most
 * DUET_SUM_CHUNKS chunks (chunk partials in parallel, then added in order),
 * so the returned double is bitwise the same for any thread count.
 */
#include <math.h>

#include "duet/ops.h"
#include "duet/util.h"
#include "ops_internal.h"

/* Loss of one row (weight included); writes the gradient row if asked. */
static double xent_row(float *dl, const float *l, int32_t t, float w, float scale, int V,
                       int forbid)
{
    /* the max (which only shifts exp's argument) skips the forbidden logit */
    float m = forbid >= 0 && forbid < V
                  ? fmaxf(duet_max_row(l, forbid), duet_max_row(l + forbid + 1, V - forbid - 1))
                  : duet_max_row(l, V);
    const float lt = l[t];
    float sum = 0.0f;
    if (dl) {
        /* dl may alias l: each element is read before it is written */
        DUET_SIMD_REDUCE(+, sum)
        for (int j = 0; j < V; j++) {
            float e = j == forbid ? 0.0f : duet_expf(l[j] - m);
            dl[j] = e;
            sum += e;
        }
        float c = scale * w / sum;
        for (int j = 0; j < V; j++)
            dl[j] *= c;
        dl[t] -= scale * w;
    } else {
        DUET_SIMD_REDUCE(+, sum)
        for (int j = 0; j < V; j++)
            sum += j == forbid ? 0.0f : duet_expf(l[j] - m);
    }
    return (double)w * ((double)m + log((double)sum) - (double)lt);
}

double duet_xent_forward_backward(float *dlogits, float *loss, const float *logits,
                                  const int32_t *target, const float *weights, float scale,
                                  int N, int V, int ignore_index, int forbid)
{
    if (N <= 0)
        return 0.0;
    for (int n = 0; n < N; n++)
        if (target[n] != ignore_index && (target[n] < 0 || target[n] >= V))
            duet_fatal("xent: target %d of row %d outside [0, %d)", (int)target[n], n, V);
    int nchunk = DUET_MIN(N, DUET_SUM_CHUNKS), per = (N + nchunk - 1) / nchunk;
    double part[DUET_SUM_CHUNKS];
    DUET_OMP_FOR((size_t)N * V)
    for (int c = 0; c < nchunk; c++) {
        double s = 0.0;
        for (int n = c * per; n < DUET_MIN(N, (c + 1) * per); n++) {
            float *dl = dlogits ? dlogits + (size_t)n * V : NULL;
            double ln = 0.0;
            if (target[n] == ignore_index) {
                if (dl)
                    for (int j = 0; j < V; j++)
                        dl[j] = 0.0f;
            } else {
                ln = xent_row(dl, logits + (size_t)n * V, target[n], weights ? weights[n] : 1.0f,
                              scale, V, forbid);
            }
            if (loss)
                loss[n] = (float)ln;
            s += ln;
        }
        part[c] = s;
    }
    double total = 0.0;
    for (int c = 0; c < nchunk; c++)
        total += part[c];
    return total;
}

double duet_sqerr_forward(const float *a, const float *b, size_t n)
{
    if (n == 0)
        return 0.0;
    size_t nchunk = DUET_MIN(n, (size_t)DUET_SUM_CHUNKS), per = (n + nchunk - 1) / nchunk;
    double part[DUET_SUM_CHUNKS];
    DUET_OMP_FOR(n)
    for (size_t c = 0; c < nchunk; c++) {
        double s = 0.0;
        size_t end = DUET_MIN(n, (c + 1) * per);
        if (b) {
            DUET_SIMD_REDUCE(+, s)
            for (size_t i = c * per; i < end; i++) {
                double d = (double)a[i] - (double)b[i];
                s += d * d;
            }
        } else {
            DUET_SIMD_REDUCE(+, s)
            for (size_t i = c * per; i < end; i++)
                s += (double)a[i] * (double)a[i];
        }
        part[c] = s;
    }
    double total = 0.0;
    for (size_t c = 0; c < nchunk; c++)
        total += part[c];
    return total;
}

void duet_sqerr_backward(float *da, float *db, const float *a, const float *b, float scale,
                         size_t n)
{
    DUET_OMP_FOR(n)
    for (size_t i = 0; i < n; i++) {
        float g = 2.0f * scale * (a[i] - b[i]);
        if (da)
            da[i] += g;
        if (db)
            db[i] -= g;
    }
}
