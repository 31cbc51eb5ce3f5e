/* Variance-preserving Gaussian schedules and DDIM / DDPM steps (SPEC 2.2, 2.8). */
#include <math.h>
#include <string.h>

#include "duet/diffusion.h"

int duet_vp_parse(const char *name, double d, duet_vp *out)
{
    if (strcmp(name, "tan-d") == 0)
        out->kind = DUET_VP_TAN_D;
    else if (strcmp(name, "cosine") == 0)
        out->kind = DUET_VP_COSINE;
    else if (strcmp(name, "sqrt") == 0)
        out->kind = DUET_VP_SQRT;
    else
        return -1;
    out->d = d;
    return 0;
}

void duet_vp_alpha_sigma(const duet_vp *s, double t, double *alpha, double *sigma)
{
    double a;
    switch (s->kind) {
    case DUET_VP_TAN_D:
        if (t >= 1.0) {
            a = 0.0;
        } else {
            double tt = tan(M_PI * fmin(t, 0.9999) / 2.0); /* capped: tan overflows at 1 */
            a = 1.0 / sqrt(1.0 + s->d * s->d * tt * tt);
        }
        break;
    case DUET_VP_COSINE:
        a = cos(M_PI * t / 2.0);
        break;
    default: {
        double abar = 1.0 - sqrt(t + 1e-4);
        abar = fmin(fmax(abar, 0.0), 1.0);
        a = sqrt(abar);
    }
    }
    if (a < 0.0)
        a = 0.0; /* cos(pi/2) rounds to -6e-17 */
    *alpha = a;
    *sigma = sqrt(fmax(1.0 - a * a, 0.0));
}

double duet_ddim_c(double a_t, double s_t, double a_s, double s_s, double eta)
{
    if (eta == 0.0 || s_t <= 0.0 || a_s <= 0.0)
        return 0.0;
    double v = (s_s * s_s) / (s_t * s_t) * (1.0 - (a_t * a_t) / (a_s * a_s));
    return eta * sqrt(fmax(v, 0.0));
}

void duet_ddim_step(float *x, const float *x0_hat, const float *z, size_t n, double a_t,
                    double s_t, double a_s, double s_s, double eta)
{
    double c = duet_ddim_c(a_t, s_t, a_s, s_s, eta);
    double keep = sqrt(fmax(s_s * s_s - c * c, 0.0));
    for (size_t i = 0; i < n; i++) {
        double eps = (x[i] - a_t * x0_hat[i]) / s_t;
        double v = a_s * x0_hat[i] + keep * eps;
        if (c > 0.0)
            v += c * z[i];
        x[i] = (float)v;
    }
}

double duet_ddpm_var(double a_t, double s_t, double a_s, double s_s)
{
    double a_ts = a_t / a_s;
    double var_ts = s_t * s_t - a_ts * a_ts * s_s * s_s;
    return fmax(var_ts * s_s * s_s / (s_t * s_t), 0.0);
}

void duet_ddpm_step(float *x, const float *x0_hat, const float *z, size_t n, double a_t,
                    double s_t, double a_s, double s_s)
{
    double a_ts = a_t / a_s;
    double var_ts = s_t * s_t - a_ts * a_ts * s_s * s_s;
    double cx = a_ts * s_s * s_s / (s_t * s_t), c0 = a_s * var_ts / (s_t * s_t);
    double sd = sqrt(duet_ddpm_var(a_t, s_t, a_s, s_s));
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(cx * x[i] + c0 * x0_hat[i] + (sd > 0.0 ? sd * z[i] : 0.0));
}
