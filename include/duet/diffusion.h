/* duet/diffusion.h — noise schedules, time sampling and sampler steps.
 *
 * Pure math shared by the objectives (SPEC 2.2, 2.8, 3.3): masked
 * (absorbing-state) schedules with their ELBO weights and unmasking
 * probabilities, and low-discrepancy time draws keyed by the global sample
 * index so R ranks draw exactly what one rank draws.
 */
#ifndef DUET_DIFFUSION_H
#define DUET_DIFFUSION_H

#include <stddef.h>
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

/* ---- Gaussian (variance-preserving) diffusion (SPEC 2.2, 2.8) ---- */

typedef enum { DUET_VP_TAN_D = 0, DUET_VP_COSINE = 1, DUET_VP_SQRT = 2 } duet_vp_kind;

typedef struct duet_vp {
    duet_vp_kind kind;
    double d; /* tan-d scale (9 by default) */
} duet_vp;

/* Parses "tan-d" | "cosine" | "sqrt"; returns -1 for anything else. */
int duet_vp_parse(const char *name, double d, duet_vp *out);
/* alpha_t and sigma_t with alpha^2 + sigma^2 = 1, t in [0, 1]:
 *   tan-d:  alpha = 1/sqrt(1 + d^2 tan^2(pi t/2)), tan evaluated at
 *           min(t, 0.9999); alpha(1) = 0
 *   cosine: alpha = cos(pi t/2)
 *   sqrt:   alpha^2 = clip(1 - sqrt(t + 1e-4), 0, 1) */
void duet_vp_alpha_sigma(const duet_vp *s, double t, double *alpha, double *sigma);

/* One reverse step from time t to s < t given the prediction x0_hat (n
 * floats; x updated in place). DDIM with eta (0: deterministic); z is
 * standard normal noise (may be NULL when eta = 0). */
void duet_ddim_step(float *x, const float *x0_hat, const float *z, size_t n, double a_t,
                    double s_t, double a_s, double s_s, double eta);
/* Ancestral DDPM posterior step (SPEC 2.8): x = mu + sqrt(v) z. */
void duet_ddpm_step(float *x, const float *x0_hat, const float *z, size_t n, double a_t,
                    double s_t, double a_s, double s_s);
/* The DDIM noise scale c and the DDPM variance v of a step (for tests and
 * for callers that draw their own noise). */
double duet_ddim_c(double a_t, double s_t, double a_s, double s_s, double eta);
double duet_ddpm_var(double a_t, double s_t, double a_s, double s_s);


/* ---- AR-Diffusion: discrete sqrt schedule, position-dependent time,
 * skipping sampler (SPEC 4.1, 4.2, 4.4) ---- */

/* abar[t] for t = 0..T-1: beta_t = min(1 - abar(t+1/T)/abar(t/T), 0.999)
 * with abar(u) = 1 - sqrt(u + 1e-4), abar_t = prod_{i<=t} (1 - beta_i). */
void duet_ardiff_abar(double *abar, int T);
/* Token-level step of position n (0-based) at sentence-level step c for
 * target length N: the line through S(c) = (max(N-1-c,0), max(c-(N-1),0))
 * and the anchor (2N, T-1), evaluated in float32 and rounded half to even,
 * clamped to [0, T-1]. Sentence steps run over 0..N+T-1. */
int duet_ardiff_token_step(int n, int c, int N, int T);
/* Skipping grid of M steps over sentence steps 0..S-1 (S = N+T; a flat,
 * uniform-time chain uses S = T): c[i] = S-1 - i*floor(S/M), i < M, and
 * c[M] = 0. Needs 1 <= M < S; returns -1 otherwise. c has M+1 entries. */
int duet_ardiff_skip_grid(int *c, int M, int S);
/* Posterior jump from abar a (current) to abar b (target), b >= a:
 * z' = cz*z + cx*x0_hat + sqrt(var)*xi (identity when a == b). */
void duet_ardiff_skip_coef(double a, double b, double *cz, double *cx, double *var);
/* ---- LDDM chains (SPEC 5.1, 5.3, 5.5), floor e = DUET_LDDM_E ---- */

#define DUET_LDDM_E 1e-4
#define DUET_LDDM_T_END 1e-5 /* last time of the sampling grid */

/* Token chain: alpha(t) = (1-2e)(1-t) + e (probability a token is clean). */
double duet_lddm_alpha(double t);
/* -alpha'(t) / (1 - alpha(t)) = (1-2e) / (e + (1-2e) t). */
double duet_lddm_tok_weight(double t);
/* (alpha(s) - alpha(t)) / (1 - alpha(t)) for s < t. */
double duet_lddm_unmask_prob(double t, double s);
/* Latent chain: a^2(t) = (1-2e) sqrt(1-t) + e, s^2 = 1 - a^2. */
void duet_lddm_lat_as(double t, double *a, double *s);
/* ((1-d)/d) a^2(u) sigma^2(t|u) / (2 s^2(u) s^2(t)), u = max(t-d, 0),
 * d = 1e-4: the latent ELBO weight on ||y0_hat - y0||^2. */
double duet_lddm_lat_weight(double t);
/* Time shift t -> k t / (1 + (k-1) t), clamped to [1e-4, 1 - 1e-4]. */
double duet_lddm_shift(double t, double kappa);
/* Sampling grid t_i = 1 - i (1 - 1e-5) / K, i = 0..K. */
double duet_lddm_grid(int i, int K);

#endif
