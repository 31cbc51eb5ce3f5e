/* Private to src/train: gradient allreduce in buckets, started while
 * backward is still running. Buckets are fixed ranges of the gradient slab
 * taken from its top (backward finishes the highest offsets first); a
 * bucket starts as soon as every gradient in it is final. */
#ifndef DUET_TRAIN_BUCKETS_H
#define DUET_TRAIN_BUCKETS_H

#include <stddef.h>

#include "duet/dist.h"
#include "duet/model.h"

typedef struct grad_buckets {
    duet_dist *dist;
    float *g;
    size_t total, bucket; /* floats */
    size_t next_hi;       /* [next_hi, total) already started */
    int started;          /* buckets started this step */
} grad_buckets;

void grad_buckets_init(grad_buckets *b, duet_dist *dist, float *g, size_t total, size_t bucket);
/* Begins a step: nothing started yet. */
void grad_buckets_reset(grad_buckets *b);
/* The hook the objectives call: gradients at offsets >= lo are final. */
duet_grad_hook grad_buckets_hook(grad_buckets *b);
/* Starts what is left and waits for every bucket (the exposed part). */
void grad_buckets_finish(grad_buckets *b);

#endif
