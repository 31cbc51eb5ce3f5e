#include "duet/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void duet_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

duet_rng duet_rng_keyed(uint64_t seed, uint32_t step, uint32_t sample, uint32_t stream)
{
    duet_rng r;
    r.key[0] = (uint32_t)seed;
    r.key[1] = (uint32_t)(seed >> 32);
    r.ctr[0] = 0;
    r.ctr[1] = sample;
    r.ctr[2] = step;
    r.ctr[3] = stream;
    r.pos = 4;
    r.buf[0] = r.buf[1] = r.buf[2] = r.buf[3] = 0;
    return r;
}

uint32_t duet_rng_u32(duet_rng *r)
{
    if (r->pos >= 4) {
        duet_philox4x32(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

float duet_rng_uniform(duet_rng *r)
{
    return (float)(duet_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

double duet_rng_uniform64(duet_rng *r)
{
    uint64_t hi = duet_rng_u32(r) >> 5, lo = duet_rng_u32(r) >> 6;
    return (double)((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

float duet_rng_normal(duet_rng *r)
{
    /* u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(duet_rng_u32(r) >> 8) + 1.0) * (1.0 / 16777216.0);
    double u2 = (double)(duet_rng_u32(r) >> 8) * (1.0 / 16777216.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint32_t duet_rng_below(duet_rng *r, uint32_t n)
{
    /* Lemire-free simple rejection: accept x < limit, limit a multiple of n. */
    uint32_t limit = UINT32_MAX - (UINT32_MAX % n);
    uint32_t x;
    do {
        x = duet_rng_u32(r);
    } while (x >= limit);
    return x % n;
}

/* Round function of the Feistel network: Philox of (half, round index). */
static uint64_t feistel_f(uint64_t half, int r, uint64_t seed, uint64_t round)
{
    uint32_t ctr[4] = {(uint32_t)half, (uint32_t)(half >> 32), (uint32_t)r, (uint32_t)round};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32) ^ (uint32_t)(round >> 32)};
    uint32_t out[4];
    duet_philox4x32(ctr, key, out);
    return ((uint64_t)out[1] << 32) | out[0];
}

uint64_t duet_permute(uint64_t i, uint64_t n, uint64_t seed, uint64_t round)
{
    if (n <= 1)
        return 0;
    int bits = 2;
    while (bits < 64 && (1ULL << bits) < n)
        bits += 2; /* even width: two equal halves */
    int hb = bits / 2;
    uint64_t mask = (hb >= 64) ? ~0ULL : ((1ULL << hb) - 1);
    uint64_t x = i;
    do { /* cycle walking: domain is < 4n, so expected < 4 passes */
        uint64_t left = x >> hb, right = x & mask;
        for (int r = 0; r < 4; r++) {
            uint64_t nl = right;
            right = (left ^ feistel_f(right, r, seed, round)) & mask;
            left = nl;
        }
        x = (left << hb) | right;
    } while (x >= n);
    return x;
}
