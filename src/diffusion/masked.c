/* Masked-diffusion schedules and low-discrepancy time draws (SPEC 3.3). */
#include "duet/diffusion.h"

#include <math.h>

#include "duet/rng.h"

double duet_mask_alpha(duet_mask_schedule s, double delta, double t)
{
    if (s == DUET_MASK_COSINE)
        return delta + (1.0 - delta) * cos(M_PI * t / 2.0);
    return 1.0 - (1.0 - delta) * t;
}

double duet_mask_weight(duet_mask_schedule s, double delta, double t)
{
    (void)delta; /* the floor delta cancels between -alpha' and 1 - alpha */
    if (s == DUET_MASK_COSINE)
        return (M_PI / 2.0) / tan(M_PI * t / 4.0);
    return 1.0 / t;
}

double duet_mask_unmask_prob(duet_mask_schedule s, double delta, double t, double sprev)
{
    if (sprev <= 0.0)
        return 1.0;
    double at = duet_mask_alpha(s, delta, t), as = duet_mask_alpha(s, delta, sprev);
    double p = (as - at) / (1.0 - at);
    return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

double duet_lowdisc_time(uint64_t seed, uint32_t step, uint32_t g, int G, double t_eps)
{
    duet_rng r = duet_rng_keyed(seed, step, DUET_SAMPLE_SHARED, DUET_STREAM_TIME);
    double u = duet_rng_uniform64(&r);
    double x = fmod(u + (double)g / (double)G, 1.0);
    return x * (1.0 - t_eps) + t_eps;
}
