/* Serial backend of duet/dist.h: one rank, collectives are identities. */
#include "duet/dist.h"
#include "duet/util.h"

#include <stdlib.h>
#include <string.h>

struct duet_dist {
    int unused;
};

duet_dist *duet_dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return duet_calloc(1, sizeof(duet_dist));
}

void duet_dist_finalize(duet_dist *d) { free(d); }
int duet_dist_rank(const duet_dist *d) { (void)d; return 0; }
int duet_dist_size(const duet_dist *d) { (void)d; return 1; }
const char *duet_dist_backend(void) { return "serial"; }
void duet_dist_barrier(duet_dist *d) { (void)d; }
void duet_dist_allreduce_sum_f32(duet_dist *d, float *buf, size_t n) { (void)d; (void)buf; (void)n; }
void duet_dist_allreduce_sum_f64(duet_dist *d, double *buf, size_t n) { (void)d; (void)buf; (void)n; }
void duet_dist_allreduce_max_i64(duet_dist *d, int64_t *buf, size_t n) { (void)d; (void)buf; (void)n; }
void duet_dist_allreduce_min_i64(duet_dist *d, int64_t *buf, size_t n) { (void)d; (void)buf; (void)n; }
void duet_dist_bcast(duet_dist *d, void *buf, size_t bytes, int root)
{
    (void)d; (void)buf; (void)bytes; (void)root;
}
void duet_dist_allgather(duet_dist *d, const void *in, void *out, size_t bytes)
{
    (void)d;
    memmove(out, in, bytes);
}
int duet_dist_iallreduce_sum_f32(duet_dist *d, float *buf, size_t n)
{
    (void)d; (void)buf; (void)n;
    return 0;
}
void duet_dist_progress(duet_dist *d) { (void)d; }
void duet_dist_wait_all(duet_dist *d) { (void)d; }
_Noreturn void duet_dist_abort(duet_dist *d, int code)
{
    (void)d;
    fflush(stdout);
    fflush(stderr);
    exit(code);
}
