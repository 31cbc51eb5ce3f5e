/* Private to src/objectives: normalization of continuous latents (SPEC 2.4):
 * SphereNorm and LayerNorm per position, BatchNorm per feature over the
 * GLOBAL batch (synchronized forward and backward sums), DataNorm per
 * feature with running moments updated from allreduced sums (gradient only
 * through e, the statistics are constants). Statistics are kept in double so
 * every rank applies bit-identical updates.
 */
#ifndef DUET_OBJECTIVES_LATNORM_H
#define DUET_OBJECTIVES_LATNORM_H

#include <stddef.h>

#include "duet/dist.h"
#include "duet/util.h"

typedef enum { LATNORM_SPHERE = 0, LATNORM_LAYER, LATNORM_BATCH, LATNORM_DATA } latnorm_kind;

typedef struct latnorm {
    latnorm_kind kind;
    int dz, max_rows;
    double alpha;           /* DataNorm EMA rate */
    double *mu, *q;         /* DataNorm running first / second moments [dz] */
    int have_stats;         /* DataNorm: mu, q hold a committed step */
    double *sums;           /* [2 dz + 1]: sum e, sum e^2, count (global) */
    double *pend;           /* DataNorm: global sums of this optimizer step [2 dz + 1] */
    float *shift, *scale;   /* per feature [dz] (batch/data) or per row [rows] */
    float *xhat;            /* [rows, dz] normalized output of the last forward */
    double *gsum;           /* BatchNorm backward sums [2 dz] */
} latnorm;

/* "sphere" | "layer" | "batch" | "data"; -1 otherwise. */
int latnorm_parse(const char *name, latnorm_kind *out);
void latnorm_create(latnorm *n, latnorm_kind kind, int dz, double alpha, int max_rows);
void latnorm_free(latnorm *n);

/* x0 [rows, dz] = Norm(e). dist: every rank calls this with its own rows
 * (batch/data allreduce their sums); NULL: these rows are the whole batch. update (DataNorm): fold this batch
 * into the running moments as step n (normalizing with mu_n, sigma_n);
 * otherwise normalize with the committed moments (batch statistics before
 * the first committed step). */
void latnorm_forward(latnorm *n, duet_dist *dist, float *x0, const float *e, int rows, int update);
/* de [rows, dz] += dNorm/de^T dx0 for the last forward (collective for batch). */
void latnorm_backward(latnorm *n, duet_dist *dist, float *de, const float *dx0, const float *e,
                      int rows);
/* DataNorm: commits the moments of the step's batches (sums already global,
 * so no communication); no-op otherwise. */
void latnorm_end_step(latnorm *n);

/* Checkpoint state (DataNorm moments; empty for the others). */
size_t latnorm_state_bytes(const latnorm *n);
void latnorm_state_save(const latnorm *n, void *buf);
int latnorm_state_load(latnorm *n, const void *buf, size_t bytes, duet_err *err);

#endif
