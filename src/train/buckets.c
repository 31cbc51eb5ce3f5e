/* Bucketed, overlapped gradient allreduce (see buckets.h). */
#include "buckets.h"

void grad_buckets_init(grad_buckets *b, duet_dist *dist, float *g, size_t total, size_t bucket)
{
    b->dist = dist;
    b->g = g;
    b->total = total;
    b->bucket = bucket > 0 ? bucket : total;
    grad_buckets_reset(b);
}

void grad_buckets_reset(grad_buckets *b)
{
    b->next_hi = b->total;
    b->started = 0;
}

static void start(grad_buckets *b, size_t lo, size_t hi)
{
    if (hi > lo) {
        duet_dist_iallreduce_sum_f32(b->dist, b->g + lo, hi - lo);
        b->started++;
    }
}

static void ready(void *user, size_t lo)
{
    grad_buckets *b = user;
    if (duet_dist_size(b->dist) == 1)
        return;
    while (b->next_hi >= b->bucket && b->next_hi - b->bucket >= lo) {
        start(b, b->next_hi - b->bucket, b->next_hi);
        b->next_hi -= b->bucket;
    }
    duet_dist_progress(b->dist);
}

duet_grad_hook grad_buckets_hook(grad_buckets *b)
{
    duet_grad_hook h = {ready, b};
    return h;
}

void grad_buckets_finish(grad_buckets *b)
{
    if (duet_dist_size(b->dist) == 1)
        return;
    start(b, 0, b->next_hi);
    b->next_hi = 0;
    duet_dist_wait_all(b->dist);
}
