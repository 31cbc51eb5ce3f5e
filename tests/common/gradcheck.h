/* Finite-difference gradient checks and random test data for the core
 * suites. The loss of a check is a random projection of an op's outputs,
 * L = sum r * out, accumulated in double. */
#ifndef DUET_GRADCHECK_H
#define DUET_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

/* Runs the forward on the current inputs and returns L. */
typedef double (*gc_loss_fn)(void *ctx);

typedef struct gc_tol {
    float h;     /* central-difference step */
    double rtol; /* pass iff |ana - num| <= atol + rtol * max(|ana|, |num|) */
    double atol;
} gc_tol;

/* Compares ana[i] = dL/dx[i] with (L(x+h) - L(x-h)) / 2h on every entry
 * (n <= max_points) or on max_points spread entries; x is restored.
 * Returns the worst |ana-num| / (atol + rtol*max(|ana|,|num|)): <= 1 passes.
 * Prints the worst entry, tagged `what`, when it fails (always when the
 * environment has DUET_GC_VERBOSE). */
double gc_check(gc_loss_fn fn, void *ctx, float *x, const float *ana, size_t n,
                size_t max_points, gc_tol tol, const char *what);

/* Uniform values in [lo, hi) from a keyed Philox stream. */
void gc_fill(float *x, size_t n, uint64_t seed, float lo, float hi);
/* sum a[i]*b[i] in double. */
double gc_dot(const float *a, const float *b, size_t n);
/* malloc'ed copy / zeroed buffer / constant buffer of n floats. */
float *gc_dup(const float *x, size_t n);
float *gc_zeros(size_t n);
float *gc_const(size_t n, float v);
/* x[i] -= v for all i (undoes a gc_const start value of an accumulating gradient). */
void gc_sub(float *x, size_t n, float v);

#endif
