/* MPI backend of duet/dist.h. */
#include "duet/dist.h"
#include "duet/util.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQS 4096
/* Chunk so that every MPI count fits in an int. */
#define CHUNK ((size_t)1 << 30)

struct duet_dist {
    int rank, size;
    MPI_Request reqs[MAX_REQS];
    int nreqs;
};

static void mpi_check(int rc, const char *what)
{
    if (rc != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        duet_fatal("%s failed: %s", what, msg);
    }
}

static void abort_all(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
}

duet_dist *duet_dist_init(int *argc, char ***argv)
{
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return NULL;
    duet_dist *d = duet_calloc(1, sizeof *d);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    /* Errors come back as codes and go through mpi_check -> fatal -> abort. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    duet_set_fatal_hook(abort_all);
    return d;
}

void duet_dist_finalize(duet_dist *d)
{
    if (!d)
        return;
    duet_dist_wait_all(d);
    duet_set_fatal_hook(NULL);
    free(d);
    MPI_Finalize();
}

int duet_dist_rank(const duet_dist *d) { return d->rank; }
int duet_dist_size(const duet_dist *d) { return d->size; }
const char *duet_dist_backend(void) { return "mpi"; }

void duet_dist_barrier(duet_dist *d)
{
    (void)d;
    mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

static void allreduce(void *buf, size_t n, size_t elem, MPI_Datatype type, MPI_Op op)
{
    char *p = buf;
    for (size_t off = 0; off < n; off += CHUNK) {
        int cnt = (int)DUET_MIN(CHUNK, n - off);
        mpi_check(MPI_Allreduce(MPI_IN_PLACE, p + off * elem, cnt, type, op, MPI_COMM_WORLD),
                  "MPI_Allreduce");
    }
}

void duet_dist_allreduce_sum_f32(duet_dist *d, float *buf, size_t n)
{
    (void)d;
    allreduce(buf, n, sizeof(float), MPI_FLOAT, MPI_SUM);
}

void duet_dist_allreduce_sum_f64(duet_dist *d, double *buf, size_t n)
{
    (void)d;
    allreduce(buf, n, sizeof(double), MPI_DOUBLE, MPI_SUM);
}

void duet_dist_allreduce_max_i64(duet_dist *d, int64_t *buf, size_t n)
{
    (void)d;
    allreduce(buf, n, sizeof(int64_t), MPI_INT64_T, MPI_MAX);
}

void duet_dist_allreduce_min_i64(duet_dist *d, int64_t *buf, size_t n)
{
    (void)d;
    allreduce(buf, n, sizeof(int64_t), MPI_INT64_T, MPI_MIN);
}

void duet_dist_bcast(duet_dist *d, void *buf, size_t bytes, int root)
{
    (void)d;
    char *p = buf;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        int cnt = (int)DUET_MIN(CHUNK, bytes - off);
        mpi_check(MPI_Bcast(p + off, cnt, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    }
}

void duet_dist_allgather(duet_dist *d, const void *in, void *out, size_t bytes)
{
    (void)d;
    if (bytes > (size_t)INT_MAX)
        duet_fatal("allgather of %zu bytes per rank exceeds INT_MAX", bytes);
    mpi_check(MPI_Allgather(in, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, MPI_COMM_WORLD),
              "MPI_Allgather");
}

int duet_dist_iallreduce_sum_f32(duet_dist *d, float *buf, size_t n)
{
    for (size_t off = 0; off < n; off += CHUNK) {
        if (d->nreqs == MAX_REQS)
            duet_fatal("more than %d outstanding allreduce requests", MAX_REQS);
        int cnt = (int)DUET_MIN(CHUNK, n - off);
        mpi_check(MPI_Iallreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                 &d->reqs[d->nreqs]),
                  "MPI_Iallreduce");
        d->nreqs++;
    }
    return d->nreqs - 1;
}

void duet_dist_progress(duet_dist *d)
{
    if (d->nreqs == 0)
        return;
    int flag = 0;
    mpi_check(MPI_Testall(d->nreqs, d->reqs, &flag, MPI_STATUSES_IGNORE), "MPI_Testall");
}

void duet_dist_wait_all(duet_dist *d)
{
    if (d->nreqs == 0)
        return;
    mpi_check(MPI_Waitall(d->nreqs, d->reqs, MPI_STATUSES_IGNORE), "MPI_Waitall");
    d->nreqs = 0;
}

_Noreturn void duet_dist_abort(duet_dist *d, int code)
{
    (void)d;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    _Exit(code); /* MPI_Abort does not return */
}
