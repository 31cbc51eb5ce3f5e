/* duet/dist.h — the data-parallel communicator.
 *
 * The only module that talks to MPI (src/dist/dist_mpi.c). A serial build
 * (src/dist/dist_serial.c: one rank, collectives are no-ops) links into unit
 * tests, duet-prep and duet-sample so they never need mpirun. Counts are in
 * elements, never bytes, and buffers larger than INT_MAX are chunked.
 */
#ifndef DUET_DIST_H
#define DUET_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct duet_dist duet_dist;

/* Initialises MPI (or the serial stub) and installs a fatal hook that aborts
 * every rank. Returns NULL only if MPI itself fails to start. */
duet_dist *duet_dist_init(int *argc, char ***argv);
void duet_dist_finalize(duet_dist *d);

int duet_dist_rank(const duet_dist *d);
int duet_dist_size(const duet_dist *d);
static inline int duet_dist_is_root(const duet_dist *d) { return duet_dist_rank(d) == 0; }
/* "mpi" or "serial": what this binary was linked with. */
const char *duet_dist_backend(void);

void duet_dist_barrier(duet_dist *d);
void duet_dist_allreduce_sum_f32(duet_dist *d, float *buf, size_t n);
void duet_dist_allreduce_sum_f64(duet_dist *d, double *buf, size_t n);
void duet_dist_allreduce_max_i64(duet_dist *d, int64_t *buf, size_t n);
void duet_dist_allreduce_min_i64(duet_dist *d, int64_t *buf, size_t n);
void duet_dist_bcast(duet_dist *d, void *buf, size_t bytes, int root);
/* Every rank contributes `bytes`; out receives size*bytes in rank order. */
void duet_dist_allgather(duet_dist *d, const void *in, void *out, size_t bytes);

/* Non-blocking sum-allreduce in place (gradient buckets). The returned handle
 * is valid until duet_dist_wait_all. duet_dist_progress lets MPI advance
 * outstanding requests from inside compute loops. */
int duet_dist_iallreduce_sum_f32(duet_dist *d, float *buf, size_t n);
void duet_dist_progress(duet_dist *d);
void duet_dist_wait_all(duet_dist *d);

/* Aborts every rank with the given exit code. */
_Noreturn void duet_dist_abort(duet_dist *d, int code);

#endif
