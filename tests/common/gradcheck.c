#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/rng.h"
#include "duet/util.h"

double gc_check(gc_loss_fn fn, void *ctx, float *x, const float *ana, size_t n,
                size_t max_points, gc_tol tol, const char *what)
{
    size_t points = n < max_points ? n : max_points;
    double worst = 0.0, w_ana = 0, w_num = 0;
    size_t w_i = 0;
    for (size_t k = 0; k < points; k++) {
        /* spread the points over the whole array, including both ends */
        size_t i = points == n ? k : (size_t)((double)k * (double)(n - 1) / (double)(points - 1));
        float x0 = x[i];
        x[i] = x0 + tol.h;
        double lp = fn(ctx);
        x[i] = x0 - tol.h;
        double lm = fn(ctx);
        x[i] = x0;
        /* divide by the step actually taken in float */
        double num = (lp - lm) / ((double)(x0 + tol.h) - (double)(x0 - tol.h));
        double a = ana[i];
        double r = fabs(a - num) / (tol.atol + tol.rtol * fmax(fabs(a), fabs(num)));
        if (!(r <= worst)) {
            worst = isnan(r) ? INFINITY : r;
            w_ana = a;
            w_num = num;
            w_i = i;
        }
    }
    fn(ctx); /* leave the forward caches of the unperturbed inputs */
    if (!(worst <= 1.0) || getenv("DUET_GC_VERBOSE"))
        fprintf(stderr, "gradcheck %s: worst at [%zu]: analytic %.8g numeric %.8g (ratio %.3g)\n",
                what, w_i, w_ana, w_num, worst);
    return worst;
}

void gc_fill(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    duet_rng r = duet_rng_keyed(seed, 0, 0, DUET_STREAM_USER);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * duet_rng_uniform(&r);
}

double gc_dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

float *gc_dup(const float *x, size_t n)
{
    float *y = duet_falloc(n);
    memcpy(y, x, n * sizeof *y);
    return y;
}

float *gc_zeros(size_t n) { return duet_falloc(n); }

float *gc_const(size_t n, float v)
{
    float *y = duet_falloc(n);
    for (size_t i = 0; i < n; i++)
        y[i] = v;
    return y;
}

void gc_sub(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] -= v;
}
