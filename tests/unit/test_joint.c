/* Latent objectives joint1 / joint2 / separate (SPEC 2, oracles 7.10-7.13):
 * latent normalizations (properties, DataNorm EMA, finite differences,
 * checkpoint state), the gradient routing of Config 1 and Config 2 (exact
 * zeros), finite differences of the joint losses on a tiny model, and the
 * sampler (deterministic with eta = 0, number of steps honoured).
 * 2 ranks == 1 rank for BatchNorm / DataNorm: tests/mpi/test_latnorm.c;
 * training-level equivalence, resume and sampling: tests/unit/test_train.c.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/objectives/joint.h"
#include "../../src/objectives/latnorm.h"
#include "duet/config.h"
#include "duet/objective.h"
#include "gradcheck.h"

enum { ROWS = 24, DZ = 6 };
static const gc_tol TOL = {1e-2f, 1e-2, 1e-4};

static void random_latents(float *e, size_t n, uint64_t seed)
{
    gc_fill(e, n, seed, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++)
        e[i] += (float)(i % DZ) * 0.5f; /* per-feature offsets */
}

/* SPEC 7.11: sphere rows have norm sqrt(Dz); layer rows mean 0 var 1;
 * batch and (first-step) data columns mean 0 var 1. */
START_TEST(norm_properties)
{
    float e[ROWS * DZ], x[ROWS * DZ];
    random_latents(e, ROWS * DZ, 3);
    for (int k = 0; k < 4; k++) {
        latnorm n;
        latnorm_create(&n, (latnorm_kind)k, DZ, 0.01, ROWS);
        latnorm_forward(&n, NULL, x, e, ROWS, 1);
        if (k == LATNORM_SPHERE || k == LATNORM_LAYER) {
            for (int r = 0; r < ROWS; r++) {
                double s1 = 0, s2 = 0;
                for (int j = 0; j < DZ; j++) {
                    s1 += x[r * DZ + j];
                    s2 += (double)x[r * DZ + j] * x[r * DZ + j];
                }
                if (k == LATNORM_SPHERE) {
                    ck_assert_double_eq_tol(sqrt(s2), sqrt((double)DZ), 1e-5);
                } else {
                    ck_assert_double_eq_tol(s1 / DZ, 0.0, 1e-5);
                    ck_assert_double_eq_tol(s2 / DZ, 1.0, 1e-3);
                }
            }
        } else {
            for (int j = 0; j < DZ; j++) {
                double s1 = 0, s2 = 0;
                for (int r = 0; r < ROWS; r++) {
                    s1 += x[r * DZ + j];
                    s2 += (double)x[r * DZ + j] * x[r * DZ + j];
                }
                ck_assert_double_eq_tol(s1 / ROWS, 0.0, 1e-5);
                ck_assert_double_eq_tol(s2 / ROWS, 1.0, 1e-3);
            }
        }
        latnorm_free(&n);
    }
}
END_TEST

/* SPEC 7.10: alpha = 1 gives the batch statistics at every step; alpha =
 * 0.01 on a stationary stream converges to the stream moments. */
START_TEST(datanorm_moments)
{
    float e[ROWS * DZ], x[ROWS * DZ];
    latnorm n;
    latnorm_create(&n, LATNORM_DATA, DZ, 1.0, ROWS);
    for (int step = 0; step < 3; step++) {
        random_latents(e, ROWS * DZ, 10 + (uint64_t)step);
        for (int i = 0; i < ROWS * DZ; i++)
            e[i] *= (float)(step + 1); /* a moving stream */
        latnorm_forward(&n, NULL, x, e, ROWS, 1);
        latnorm_end_step(&n);
        for (int j = 0; j < DZ; j++) {
            double m = 0, v = 0;
            for (int r = 0; r < ROWS; r++)
                m += e[r * DZ + j];
            m /= ROWS;
            for (int r = 0; r < ROWS; r++)
                v += (e[r * DZ + j] - m) * (e[r * DZ + j] - m);
            v /= ROWS;
            ck_assert_double_eq_tol(n.mu[j], m, 1e-9 * (1 + fabs(m)));
            ck_assert_double_eq_tol(1.0 / n.scale[j], sqrt(v + 1e-5), 1e-5 * sqrt(v + 1e-5));
        }
    }
    latnorm_free(&n);
    /* stationary stream: feature j ~ U[-2, 2] + 0.5 j, mean 0.5 j */
    latnorm_create(&n, LATNORM_DATA, DZ, 0.01, ROWS);
    for (int step = 0; step < 1500; step++) {
        random_latents(e, ROWS * DZ, 100 + (uint64_t)step);
        latnorm_forward(&n, NULL, x, e, ROWS, 1);
        latnorm_end_step(&n);
    }
    for (int j = 0; j < DZ; j++) {
        ck_assert_double_eq_tol(n.mu[j], 0.5 * j, 0.1);
        ck_assert_double_eq_tol(1.0 / n.scale[j], sqrt(4.0 / 3.0), 0.1);
    }
    latnorm_free(&n);
}
END_TEST

typedef struct norm_env {
    latnorm n;
    float e[ROWS * DZ], x[ROWS * DZ], w[ROWS * DZ];
} norm_env;

static double norm_loss(void *ctx)
{
    norm_env *v = ctx;
    latnorm_forward(&v->n, NULL, v->x, v->e, ROWS, 0);
    return gc_dot(v->x, v->w, ROWS * DZ);
}

/* SPEC 7.13: finite differences of every Norm's backward. */
START_TEST(norm_gradcheck)
{
    static norm_env v;
    for (int k = 0; k < 4; k++) {
        latnorm_create(&v.n, (latnorm_kind)k, DZ, 0.3, ROWS);
        random_latents(v.e, ROWS * DZ, 20 + (uint64_t)k);
        gc_fill(v.w, ROWS * DZ, 30 + (uint64_t)k, -1.0f, 1.0f);
        latnorm_forward(&v.n, NULL, v.x, v.e, ROWS, 1); /* DataNorm: commit moments */
        latnorm_end_step(&v.n);
        float de[ROWS * DZ] = {0};
        norm_loss(&v);
        latnorm_backward(&v.n, NULL, de, v.w, v.e, ROWS);
        char what[32];
        snprintf(what, sizeof what, "latnorm %d", k);
        ck_assert_double_le(gc_check(norm_loss, &v, v.e, de, ROWS * DZ, 64, TOL, what), 1.0);
        latnorm_free(&v.n);
    }
}
END_TEST

START_TEST(datanorm_state_round_trip)
{
    float e[ROWS * DZ], x[ROWS * DZ], y[ROWS * DZ];
    latnorm a, b;
    latnorm_create(&a, LATNORM_DATA, DZ, 0.1, ROWS);
    latnorm_create(&b, LATNORM_DATA, DZ, 0.1, ROWS);
    for (int step = 0; step < 3; step++) {
        random_latents(e, ROWS * DZ, 40 + (uint64_t)step);
        latnorm_forward(&a, NULL, x, e, ROWS, 1);
        latnorm_end_step(&a);
    }
    size_t nb = latnorm_state_bytes(&a);
    void *buf = malloc(nb);
    latnorm_state_save(&a, buf);
    duet_err err;
    ck_assert_int_eq(latnorm_state_load(&b, buf, nb, &err), 0);
    ck_assert_int_ne(latnorm_state_load(&b, buf, nb - 8, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "latent norm state"));
    random_latents(e, ROWS * DZ, 50);
    latnorm_forward(&a, NULL, x, e, ROWS, 1);
    latnorm_forward(&b, NULL, y, e, ROWS, 1);
    ck_assert_mem_eq(x, y, sizeof x);
    free(buf);
    latnorm_free(&a);
    latnorm_free(&b);
}
END_TEST

/* ------------------------------------------------------ objective level */

enum { JB = 3, JL = 4, JV = 40 };

typedef struct jenv {
    duet_config cfg;
    duet_params p;
    duet_objective *o;
    duet_dist *dist;
    int32_t tok[JB * JL];
    double count, terms[DUET_MAX_TERMS];
    int term; /* loss term returned by jenv_loss */
} jenv;

static void jenv_init(jenv *e, const char *objective, const char *norm, const char *extra)
{
    memset(e, 0, sizeof *e);
    duet_config_defaults(&e->cfg);
    char text[512];
    snprintf(text, sizeof text,
             "objective = %s\nlatent_norm = %s\ndim = 16\nn_layer = 1\nenc_layers = 1\n"
             "dec_layers = 1\nn_head = 2\nseq_len = %d\nlatent_dim = 4\n%s\n",
             objective, norm, JL, extra);
    duet_err err;
    ck_assert_msg(duet_config_parse_text(&e->cfg, text, "test", DUET_SCOPE_TRAIN, &err) == 0,
                  "%s", err.msg);
    duet_params_init(&e->p);
    e->o = duet_objective_create(&e->cfg, JV, &e->p, JB, &err);
    ck_assert_msg(e->o != NULL, "%s", err.msg);
    duet_params_alloc(&e->p);
    duet_params_init_values(&e->p, 11);
    /* every tensor random (zero-initialised heads and adaLN included) */
    float *noise = gc_zeros(e->p.total);
    gc_fill(noise, e->p.total, 12, -0.08f, 0.08f);
    for (size_t i = 0; i < e->p.total; i++)
        e->p.w[i] += noise[i];
    free(noise);
    for (int i = 0; i < JB * JL; i++)
        e->tok[i] = 5 + (int32_t)((i * 7 + 3) % (JV - 5));
    e->dist = duet_dist_init(NULL, NULL);
    e->count = JB * JL;
}

static void jenv_free(jenv *e)
{
    duet_objective_free(e->o);
    duet_params_free(&e->p);
    duet_dist_finalize(e->dist);
}

/* One forward(-backward) on the fixed batch; validation mode so that
 * DataNorm keeps no state between calls. */
static void jenv_run(jenv *e, float *dW)
{
    duet_batch b = {JB, JL, e->tok, NULL, 0, 0, 0, JB};
    duet_step_ctx ctx = {e->dist, 77, &e->count, NULL, 0};
    memset(e->terms, 0, sizeof e->terms);
    if (dW)
        memset(dW, 0, e->p.total * sizeof(float));
    e->o->ops->forward_backward(e->o, &ctx, &b, e->p.w, dW, e->terms);
}

static double jenv_loss(void *ctx)
{
    jenv *e = ctx;
    jenv_run(e, NULL);
    return e->terms[e->term];
}

/* [lo, hi) slab range of the tensors named "<net>.*" (registered together). */
static void net_range(const jenv *e, const char *net, size_t *lo, size_t *hi)
{
    *lo = (size_t)-1;
    *hi = 0;
    size_t len = strlen(net);
    for (int i = 0; i < e->p.n; i++) {
        const duet_tensor *t = &e->p.t[i];
        if (strncmp(t->name, net, len) || t->name[len] != '.')
            continue;
        *lo = t->offset < *lo ? t->offset : *lo;
        *hi = t->offset + t->count > *hi ? t->offset + t->count : *hi;
    }
    ck_assert_uint_lt(*lo, *hi);
}

static int all_zero(const float *g, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        if (g[i] != 0.0f)
            return 0;
    return 1;
}

static int any_nonzero(const float *g, size_t lo, size_t hi) { return !all_zero(g, lo, hi); }

/* SPEC 2.5 / 7.12: L_dif alone leaves Enc and Dec gradients exactly zero;
 * L_ae alone leaves Dif gradients exactly zero; the full loss gives Dif
 * exactly the L_dif gradient and Enc/Dec exactly the L_ae gradient. Config
 * 2's extra term reaches Enc only. */
START_TEST(gradient_routing)
{
    static const char *const norms[] = {"data", "batch", "sphere", "layer"};
    for (int k = 0; k < 4; k++) {
        for (int cfg2 = 0; cfg2 < 2; cfg2++) {
            jenv e;
            jenv_init(&e, cfg2 ? "joint2" : "joint1", norms[k], "self_cond_prob = 0.5");
            size_t el, eh, fl, fh, dl, dh;
            net_range(&e, "enc", &el, &eh);
            net_range(&e, "dif", &fl, &fh);
            net_range(&e, "dec", &dl, &dh);
            float *g_ae = gc_zeros(e.p.total), *g_dif = gc_zeros(e.p.total),
                  *g_all = gc_zeros(e.p.total), *g_enc = gc_zeros(e.p.total);
            joint_set_loss_scales(e.o, 1, 0, 0);
            jenv_run(&e, g_ae);
            joint_set_loss_scales(e.o, 0, 1, 0);
            jenv_run(&e, g_dif);
            joint_set_loss_scales(e.o, 1, 1, 1);
            jenv_run(&e, g_all);
            ck_assert(all_zero(g_ae, fl, fh));
            ck_assert(any_nonzero(g_ae, el, eh) && any_nonzero(g_ae, dl, dh));
            ck_assert(all_zero(g_dif, el, eh) && all_zero(g_dif, dl, dh));
            ck_assert(any_nonzero(g_dif, fl, fh));
            ck_assert_mem_eq(g_all + fl, g_dif + fl, (fh - fl) * sizeof(float));
            ck_assert_mem_eq(g_all + dl, g_ae + dl, (dh - dl) * sizeof(float));
            joint_set_loss_scales(e.o, 0, 0, 1);
            jenv_run(&e, g_enc);
            ck_assert(all_zero(g_enc, fl, fh) && all_zero(g_enc, dl, dh));
            if (cfg2) {
                ck_assert(any_nonzero(g_enc, el, eh));
                ck_assert_double_gt(e.terms[2], 0.0);
            } else {
                ck_assert(all_zero(g_enc, el, eh));
                ck_assert_mem_eq(g_all + el, g_ae + el, (eh - el) * sizeof(float));
            }
            free(g_ae);
            free(g_dif);
            free(g_all);
            free(g_enc);
            jenv_free(&e);
        }
    }
}
END_TEST

/* SPEC 7.13 on the whole model: L_ae's gradient w.r.t. Enc and Dec (through
 * Dif's activations and the Norm) and L_dif's w.r.t. Dif match central
 * differences. Without self-conditioning (its SG input would make the
 * numeric derivative see a path the spec cuts); DataNorm is covered by
 * norm_gradcheck (its statistics are constants). */
START_TEST(joint_loss_gradcheck)
{
    static const char *const norms[] = {"sphere", "layer", "batch"};
    for (int k = 0; k < 3; k++) {
        jenv e;
        jenv_init(&e, "joint1", norms[k], "self_cond_prob = 0");
        float *g_ae = gc_zeros(e.p.total), *g_dif = gc_zeros(e.p.total);
        joint_set_loss_scales(e.o, 1, 0, 0);
        jenv_run(&e, g_ae);
        joint_set_loss_scales(e.o, 0, 1, 0);
        jenv_run(&e, g_dif);
        static const char *const nets[] = {"enc", "dec", "dif"};
        for (int n = 0; n < 3; n++) {
            size_t lo, hi;
            net_range(&e, nets[n], &lo, &hi);
            e.term = n == 2 ? 1 : 0;
            char what[48];
            snprintf(what, sizeof what, "%s %s", norms[k], nets[n]);
            ck_assert_double_le(gc_check(jenv_loss, &e, e.p.w + lo, (n == 2 ? g_dif : g_ae) + lo,
                                         hi - lo, 40, TOL, what),
                                1.0);
        }
        free(g_ae);
        free(g_dif);
        jenv_free(&e);
    }
}
END_TEST

/* DDIM with eta = 0 is a function of the seed; S steps cost S + 1 Dif
 * evaluations; DDPM and DDIM(eta=1) draw noise, so they differ from eta = 0. */
START_TEST(sampling_is_deterministic)
{
    jenv e;
    jenv_init(&e, "joint1", "data", "");
    duet_config scfg;
    duet_config_defaults(&scfg);
    duet_sample_opts o = {0};
    o.n = JB;
    o.len = JL;
    o.steps = 7;
    o.seed = 5;
    o.cfg = &scfg;
    int32_t a[JB * JL], b[JB * JL];
    double nfe = 0;
    duet_err err;
    ck_assert_int_eq(e.o->ops->sample(e.o, e.p.w, &o, a, &nfe, &err), 0);
    ck_assert_double_eq(nfe, 8.0);
    ck_assert_int_eq(e.o->ops->sample(e.o, e.p.w, &o, b, &nfe, &err), 0);
    ck_assert_mem_eq(a, b, sizeof a);
    for (int i = 0; i < JB * JL; i++)
        ck_assert(a[i] >= 0 && a[i] < JV);
    /* the first row does not depend on the rows sampled with it */
    o.n = 1;
    ck_assert_int_eq(e.o->ops->sample(e.o, e.p.w, &o, b, &nfe, &err), 0);
    ck_assert_mem_eq(a, b, JL * sizeof(int32_t));
    o.prompt_len = 1;
    o.prompt = a;
    ck_assert_int_ne(e.o->ops->sample(e.o, e.p.w, &o, b, &nfe, &err), 0);
    jenv_free(&e);
}
END_TEST

Suite *suite_joint(void)
{
    Suite *s = suite_create("joint");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, norm_properties);
    tcase_add_test(tc, datanorm_moments);
    tcase_add_test(tc, norm_gradcheck);
    tcase_add_test(tc, datanorm_state_round_trip);
    tcase_add_test(tc, gradient_routing);
    tcase_add_test(tc, joint_loss_gradcheck);
    tcase_add_test(tc, sampling_is_deterministic);
    suite_add_tcase(s, tc);
    return s;
}
