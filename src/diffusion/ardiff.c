/* AR-Diffusion schedule, token-level time and skip steps (SPEC 4.1-4.4). */
#include <math.h>

#include "duet/diffusion.h"

static double abar_u(double u)
{
    double a = 1.0 - sqrt(u + 1e-4);
    return fmin(fmax(a, 0.0), 1.0);
}

void duet_ardiff_abar(double *abar, int T)
{
    double prod = 1.0;
    for (int t = 0; t < T; t++) {
        double beta = fmin(1.0 - abar_u((double)(t + 1) / T) / abar_u((double)t / T), 0.999);
        prod *= 1.0 - beta;
        abar[t] = prod;
    }
}

int duet_ardiff_token_step(int n, int c, int N, int T)
{
    /* float32 in the reference's order, so that exact .5 ties round alike */
    float ex = (float)(2 * N), ey = (float)(T - 1);
    float sx = (float)(N - 1 - c > 0 ? N - 1 - c : 0);
    float sy = (float)(c - (N - 1) > 0 ? c - (N - 1) : 0);
    float v = (((float)n - ex) / (sx - ex)) * (sy - ey) + ey;
    float r = rintf(v);
    if (r < 0.0f)
        return 0;
    if (r > ey)
        return T - 1;
    return (int)r;
}

int duet_ardiff_skip_grid(int *c, int M, int S)
{
    if (M < 1 || M >= S)
        return -1;
    int k = S / M;
    for (int i = 0; i < M; i++)
        c[i] = S - 1 - i * k;
    c[M] = 0;
    return 0;
}

void duet_ardiff_skip_coef(double a, double b, double *cz, double *cx, double *var)
{
    if (a >= b) { /* the token's time does not move */
        *cz = 1.0;
        *cx = 0.0;
        *var = 0.0;
        return;
    }
    *cz = sqrt(a / b) * (1.0 - b) / (1.0 - a);
    *cx = sqrt(b) * (1.0 - a / b) / (1.0 - a);
    *var = (1.0 - a / b) * (1.0 - b) / (1.0 - a);
}
