/* Thread settings: one knob for OpenBLAS (GEMMs) and OpenMP (everything
 * else). Both are process-wide by nature. */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "duet/ops.h"
#include "ops_internal.h"

void duet_set_threads(int n)
{
    if (n < 1)
        n = 1;
    openblas_set_num_threads(n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int duet_get_threads(void) { return openblas_get_num_threads(); }

/* openblas_set_num_threads only changes a counter once the pool exists, so
 * toggling around a parallel region is cheap (measured: per-head 128x128x64
 * GEMMs from 2 OpenMP threads run at 114 GFLOP/s this way, 49 GFLOP/s when
 * each call is handed to the 2-thread OpenBLAS pool; results are bitwise
 * equal). */
int duet_blas_serial_begin(void)
{
    int n = openblas_get_num_threads();
    if (n > 1)
        openblas_set_num_threads(1);
    return n;
}

void duet_blas_serial_end(int saved)
{
    if (saved > 1)
        openblas_set_num_threads(saved);
}
