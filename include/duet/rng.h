/* duet/rng.h — counter-based random numbers (Philox-4x32-10).
 *
 * Every random draw in duet is a pure function of its key and counter, so a
 * draw does not depend on the order in which things are created or on how a
 * batch is split across ranks (SPEC preamble "Randomness"):
 *   key     = the 64-bit seed (two 32-bit words)
 *   counter = (j, global_sample_index, step, stream)
 * j numbers the 4-word blocks of one (sample, stream) draw; words are consumed
 * in order. Draws shared by a whole step use DUET_SAMPLE_SHARED as the index.
 */
#ifndef DUET_RNG_H
#define DUET_RNG_H

#include <stdint.h>

#define DUET_SAMPLE_SHARED 0xFFFFFFFFu

/* Stream ids: one per kind of draw, so two kinds never share numbers.
 * Objectives needing more use ids from DUET_STREAM_USER upward. */
enum duet_stream {
    DUET_STREAM_INIT = 1,   /* parameter initialisation */
    DUET_STREAM_TIME,       /* diffusion time t / c per sequence */
    DUET_STREAM_NOISE,      /* Gaussian noise epsilon */
    DUET_STREAM_MASK,       /* masking decisions */
    DUET_STREAM_SELFCOND,   /* self-conditioning coin */
    DUET_STREAM_DROPOUT,    /* dropout / latent dropout coins */
    DUET_STREAM_SAMPLE,     /* generation-time draws */
    DUET_STREAM_DATA,       /* data order */
    DUET_STREAM_FAULT,      /* debug fault injection */
    DUET_STREAM_USER = 64
};

typedef struct duet_rng {
    uint32_t key[2];
    uint32_t ctr[4]; /* ctr[0] = next block index j */
    uint32_t buf[4];
    int pos;         /* next word of buf to consume; 4 = empty */
} duet_rng;

/* One Philox-4x32-10 block. */
void duet_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Generator for the draw identified by (seed, step, sample index, stream). */
duet_rng duet_rng_keyed(uint64_t seed, uint32_t step, uint32_t sample, uint32_t stream);

uint32_t duet_rng_u32(duet_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float duet_rng_uniform(duet_rng *r);
/* Uniform in [0, 1) with 53 random bits (two words). */
double duet_rng_uniform64(duet_rng *r);
/* Standard normal by Box-Muller over two consecutive words (cosine branch). */
float duet_rng_normal(duet_rng *r);
/* Uniform integer in [0, n), n >= 1 (rejection sampling, unbiased). */
uint32_t duet_rng_below(duet_rng *r, uint32_t n);

/* Pseudo-random permutation of [0, n): returns the image of i. A keyed Feistel
 * network with cycle walking, O(1) memory, so data order for any corpus size
 * is a pure function of (seed, round). */
uint64_t duet_permute(uint64_t i, uint64_t n, uint64_t seed, uint64_t round);

#endif
