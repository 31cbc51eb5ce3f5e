/* LDDM token and latent schedules (SPEC 5.1, 5.3, 5.5). */
#include "duet/diffusion.h"

#include <math.h>

#define E DUET_LDDM_E

double duet_lddm_alpha(double t) { return (1.0 - 2.0 * E) * (1.0 - t) + E; }

double duet_lddm_tok_weight(double t) { return (1.0 - 2.0 * E) / (E + (1.0 - 2.0 * E) * t); }

double duet_lddm_unmask_prob(double t, double s)
{
    double at = duet_lddm_alpha(t), as = duet_lddm_alpha(s);
    double p = (as - at) / (1.0 - at);
    return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

static double a2_of(double t) { return (1.0 - 2.0 * E) * sqrt(fmax(1.0 - t, 0.0)) + E; }

void duet_lddm_lat_as(double t, double *a, double *s)
{
    double a2 = a2_of(t);
    *a = sqrt(a2);
    *s = sqrt(1.0 - a2);
}

double duet_lddm_lat_weight(double t)
{
    const double d = 1e-4;
    double u = fmax(t - d, 0.0);
    double a2t = a2_of(t), a2u = a2_of(u), s2t = 1.0 - a2t, s2u = 1.0 - a2u;
    double var = s2t - (a2t / a2u) * s2u; /* sigma^2(t|u) */
    return ((1.0 - d) / d) * a2u * var / (2.0 * s2u * s2t);
}

double duet_lddm_shift(double t, double kappa)
{
    double v = kappa * t / (1.0 + (kappa - 1.0) * t);
    return fmin(fmax(v, 1e-4), 1.0 - 1e-4);
}

double duet_lddm_grid(int i, int K) { return 1.0 - (double)i * (1.0 - DUET_LDDM_T_END) / K; }
