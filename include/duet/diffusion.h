/* duet/diffusion.h — noise schedules, time sampling and sampler steps.
 *
 * Pure math shared by the objectives (SPEC 2.2, 2.8, 3.3): masked
 * (absorbing-state) schedules with their ELBO weights and unmasking
 * probabilities, and low-discrepancy time draws keyed by the global sample
 * index so R ranks draw exactly what one rank draws.
 */
#ifndef DUET_DIFFUSION_H
#define DUET_DIFFUSION_H

#include <stdint.h>

/* ---- masked diffusion (SPEC 3.3) ---- */

typedef enum { DUET_MASK_LOGLINEAR = 0, DUET_MASK_COSINE = 1 } duet_mask_schedule;

/* alpha(t): probability that a position is still unmasked at time t.
 * log-linear: 1 - (1-delta) t;  cosine: delta + (1-delta) cos(pi t / 2). */
double duet_mask_alpha(duet_mask_schedule s, double delta, double t);
/* ELBO weight w(t) = -alpha'(t) / (1 - alpha(t)): 1/t (log-linear),
 * (pi/2) cot(pi t / 4) (cosine). */
double duet_mask_weight(duet_mask_schedule s, double delta, double t);
/* Probability that a position masked at t is unmasked at s < t:
 * (alpha(s) - alpha(t)) / (1 - alpha(t)); 1 at s = 0. */
double duet_mask_unmask_prob(duet_mask_schedule s, double delta, double t, double sprev);

/* Low-discrepancy time of global sample g in a global batch of G:
 * ((u + g/G) mod 1) (1 - t_eps) + t_eps, with one u per step drawn from
 * (seed, step, DUET_SAMPLE_SHARED, DUET_STREAM_TIME). */
double duet_lowdisc_time(uint64_t seed, uint32_t step, uint32_t g, int G, double t_eps);

#endif
