/* LDDM (SPEC 5): schedules, the frozen encoder, each loss term against a
 * direct computation, SEQ's conditioning on the latent, and a
 * finite-difference check of the whole objective's gradient (joint stream
 * assembly, latent input MLP, both heads). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/objectives/lddm.h"
#include "duet/data.h"
#include "duet/diffusion.h"
#include "duet/objective.h"
#include "gradcheck.h"

enum { V = 24, L = 8, LY = 4, DY = 4, B = 3 };

typedef struct env {
    duet_config cfg;
    duet_params p;
    duet_objective *o;
    int32_t tokens[B * L];
    duet_batch b;
    double counts[DUET_MAX_COUNTS];
} env;

static void env_init(env *e, const char *objective, uint64_t seed)
{
    memset(e, 0, sizeof *e);
    duet_config_defaults(&e->cfg);
    duet_err err = {0};
    const char *text = "dim = 16\nn_layer = 1\nn_head = 2\nseq_len = 8\nlddm_slots = 4\n"
                       "lddm_slot_dim = 4\nlddm_p_cfg = 0.4\n";
    ck_assert_int_eq(duet_config_parse_text(&e->cfg, text, "test", ~0u, &err), 0);
    ck_assert_int_eq(duet_config_set(&e->cfg, "objective", objective, "test", 0, ~0u, &err), 0);
    duet_params_init(&e->p);
    e->o = duet_objective_create(&e->cfg, V, &e->p, B, &err);
    ck_assert_msg(e->o != NULL, "%s", err.msg);
    duet_params_alloc(&e->p);
    duet_params_init_values(&e->p, seed);
    /* random values everywhere (zero-init heads and adaLN would hide paths) */
    size_t enc = duet_params_find(&e->p, "lddm.enc")->offset;
    gc_fill(e->p.w + enc + (size_t)V * DY, e->p.total - enc - (size_t)V * DY, seed + 1, -0.3f,
            0.3f);
    for (int i = 0; i < B * L; i++)
        e->tokens[i] = 5 + (int32_t)((i * 7 + 3) % (V - 5));
    e->b = (duet_batch){.B = B, .L = L, .tokens = e->tokens, .first_index = 0, .step = 3,
                        .global_batch = B};
    e->o->ops->count(e->o, &e->b, 9, e->counts);
}

static void env_free(env *e)
{
    duet_objective_free(e->o);
    duet_params_free(&e->p);
}

static void run(env *e, float *dW, int training, double *terms)
{
    duet_step_ctx ctx = {.seed = 9, .global_counts = e->counts, .training = training};
    e->o->ops->forward_backward(e->o, &ctx, &e->b, e->p.w, dW, terms);
}

/* SPEC 5.10 items 1 and 7. */
START_TEST(schedules)
{
    ck_assert(fabs(duet_lddm_alpha(0.0) - (1 - 1e-4)) < 1e-12);
    ck_assert(fabs(duet_lddm_alpha(1.0) - 1e-4) < 1e-12);
    double prev = 2.0;
    for (int i = 0; i <= 1000; i++) {
        double t = i / 1000.0, a, s;
        duet_lddm_lat_as(t, &a, &s);
        ck_assert(fabs(a * a + s * s - 1.0) < 1e-12);
        ck_assert(a * a < prev);
        prev = a * a;
        double sh = duet_lddm_shift(t, 1.0 / sqrt(2.0));
        if (t > 1e-3 && t < 0.999)
            ck_assert(sh < t && sh > duet_lddm_shift(t - 1e-3, 1.0 / sqrt(2.0)));
        if (t > 1e-4)
            ck_assert(duet_lddm_lat_weight(t) > 0.0);
    }
    ck_assert(duet_lddm_shift(0.0, 0.7) == 1e-4 && duet_lddm_shift(1.0, 0.7) == 1 - 1e-4);
    /* w_tok * t -> 1 away from the floor; unmask probability at the grid */
    ck_assert(fabs(duet_lddm_tok_weight(0.5) * 0.5 - 1.0) < 1e-3);
    ck_assert(fabs(duet_lddm_unmask_prob(0.5, 0.25) - (0.25 * (1 - 2e-4)) / (1e-4 + 0.5 * (1 - 2e-4))) <
              1e-12);
    ck_assert(duet_lddm_grid(0, 4) == 1.0 && fabs(duet_lddm_grid(4, 4) - 1e-5) < 1e-15);
}
END_TEST

/* SPEC 5.10 item 2: Le = Ly puts one token per slot (last = EOS); Le < Ly
 * gives zeros; rows have unit norm. */
START_TEST(encoder_chunks)
{
    float E[V * DY], y0[2 * LY * DY];
    gc_fill(E, V * DY, 3, -1, 1);
    int32_t tok[2 * L] = {7, 8, 9, 10, DUET_TOK_PAD, DUET_TOK_PAD, DUET_TOK_PAD, DUET_TOK_PAD,
                          7, 8, 9, DUET_TOK_PAD, DUET_TOK_PAD, DUET_TOK_PAD, DUET_TOK_PAD,
                          DUET_TOK_PAD};
    lddm_encode(y0, E, tok, tok, 2, L, LY, DY);
    for (int s = 0; s < LY; s++) {
        const float *e = E + (size_t)tok[s] * DY;
        double n = sqrt(gc_dot(e, e, DY));
        for (int j = 0; j < DY; j++)
            ck_assert(fabs(y0[s * DY + j] - e[j] / n) < 1e-6);
        ck_assert(y0[LY * DY + s * DY] == 0.0f);
    }
    /* L = 8 tokens in 4 slots: ranks 0..6 -> floor(r*3/7) = 0,0,0,1,1,2,2; last -> 3 */
    int32_t full[L] = {5, 6, 7, 8, 9, 10, 11, 12};
    lddm_encode(y0, E, full, full, 1, L, LY, DY);
    float mean[DY] = {0};
    for (int j = 0; j < DY; j++)
        mean[j] = E[8 * DY + j] + E[9 * DY + j];
    double n = sqrt(gc_dot(mean, mean, DY));
    for (int j = 0; j < DY; j++)
        ck_assert(fabs(y0[DY + j] - mean[j] / n) < 1e-6);
    for (int s = 0; s < LY; s++)
        ck_assert(fabs(gc_dot(y0 + s * DY, y0 + s * DY, DY) - 1.0) < 1e-5);
}
END_TEST

/* Both loss terms of FUJI against a direct computation from the network
 * outputs: CE over masked positions / (B L), and MSE against an independent
 * encoding of the clean tokens over the sequences whose latent input was
 * not dropped (their input is all zeros, SPEC 5.10 item 5). */
START_TEST(fuji_loss_terms)
{
    env e;
    env_init(&e, "lddm-fuji", 11);
    double terms[2];
    run(&e, NULL, 0, terms);
    lddm_net *den = lddm_denoiser(e.o);
    double ce = 0.0;
    int masked = 0;
    for (int i = 0; i < B * L; i++) {
        if (den->ids[i] != DUET_TOK_MASK) {
            ck_assert_int_eq(den->ids[i], e.tokens[i]);
            continue;
        }
        masked++;
        const float *lg = den->logits + (size_t)i * V;
        double mx = -INFINITY, z = 0.0;
        for (int v = 0; v < V; v++)
            if (v != DUET_TOK_MASK)
                mx = fmax(mx, lg[v]);
        for (int v = 0; v < V; v++)
            if (v != DUET_TOK_MASK)
                z += exp(lg[v] - mx);
        ce += -(lg[e.tokens[i]] - mx - log(z));
    }
    ck_assert(masked > 0 && masked < B * L);
    ck_assert_msg(fabs(terms[0] - ce / (B * L)) < 1e-5, "tok %g vs %g", terms[0], ce / (B * L));
    float y0[B * LY * DY];
    lddm_encode(y0, e.p.w + duet_params_find(&e.p, "lddm.enc")->offset, e.tokens, e.tokens, B, L,
                LY, DY);
    double se = 0.0;
    int kept = 0;
    for (int r = 0; r < B; r++) {
        const float *yin = den->yin + r * LY * DY;
        int dropped = 1;
        for (int j = 0; j < LY * DY; j++)
            dropped &= yin[j] == 0.0f;
        if (dropped)
            continue;
        kept++;
        for (int j = 0; j < LY * DY; j++) {
            double d = den->yhat[r * LY * DY + j] - y0[r * LY * DY + j];
            se += d * d;
        }
    }
    ck_assert(kept > 0 && kept < B); /* seed chosen so both cases occur */
    ck_assert(e.counts[1] == kept * LY * DY && e.counts[0] == B);
    ck_assert_msg(fabs(terms[1] - se / (kept * LY * DY)) < 1e-6, "lat %g vs %g", terms[1],
                  se / (kept * LY * DY));
    env_free(&e);
}
END_TEST

typedef struct gc_ctx {
    env *e;
} gc_ctx;

static double gc_loss(void *u)
{
    env *e = ((gc_ctx *)u)->e;
    double t[2];
    run(e, NULL, 1, t);
    return t[0] + t[1];
}

static void gradcheck_objective(const char *name)
{
    env e;
    env_init(&e, name, 21);
    duet_params_zero_grad(&e.p);
    double terms[2];
    run(&e, e.p.g, 1, terms);
    gc_ctx c = {&e};
    size_t lo = duet_params_find(&e.p, "lddm.enc")->offset + (size_t)V * DY;
    double worst = gc_check(gc_loss, &c, e.p.w + lo, e.p.g + lo, e.p.total - lo, 400,
                            (gc_tol){.h = 2e-3f, .rtol = 5e-2, .atol = 2e-4}, name);
    ck_assert_msg(worst <= 1.0, "%s gradient check: %g", name, worst);
    env_free(&e);
}

START_TEST(fuji_gradcheck) { gradcheck_objective("lddm-fuji"); }
END_TEST

START_TEST(seq_gradcheck) { gradcheck_objective("lddm-seq"); }
END_TEST

/* SEQ: the token denoiser reads the clean latent: a zero latent (what a
 * p_cfg-dropped sequence sees) changes its predictions. */
START_TEST(seq_conditioning)
{
    env e;
    env_init(&e, "lddm-seq", 11);
    lddm_net *den = lddm_denoiser(e.o);
    float y[B * LY * DY], zero[B * LY * DY] = {0}, t0[B] = {0};
    gc_fill(y, B * LY * DY, 5, -1, 1);
    size_t nl = (size_t)B * L * V;
    float *a = malloc(nl * sizeof(float));
    lddm_net_forward(den, e.p.w, e.tokens, y, t0, B, L);
    memcpy(a, den->logits, nl * sizeof(float));
    lddm_net_forward(den, e.p.w, e.tokens, zero, t0, B, L);
    double diff = 0.0;
    for (size_t i = 0; i < nl; i++)
        diff = fmax(diff, fabs(a[i] - den->logits[i]));
    ck_assert_msg(diff > 1e-3, "zero latent changed logits by only %g", diff);
    free(a);
    env_free(&e);
}
END_TEST

/* Rows are independent given the global counts: the batch split into two
 * micro-batches (row offsets kept in first_index) gives the same loss and
 * gradient as the whole batch, i.e. R ranks equal 1 rank (SPEC 1.6, 5.9). */
static void split_is_additive(const char *name)
{
    env e;
    env_init(&e, name, 31);
    double whole[2], part[2], sum[2] = {0, 0};
    duet_params_zero_grad(&e.p);
    run(&e, e.p.g, 1, whole);
    float *g_whole = gc_dup(e.p.g, e.p.total);
    duet_params_zero_grad(&e.p);
    int cut[3] = {0, 2, B};
    for (int k = 0; k < 2; k++) {
        e.b.B = cut[k + 1] - cut[k];
        e.b.tokens = e.tokens + cut[k] * L;
        e.b.first_index = (uint32_t)cut[k];
        run(&e, e.p.g, 1, part);
        sum[0] += part[0];
        sum[1] += part[1];
    }
    ck_assert(fabs(sum[0] - whole[0]) < 1e-6 && fabs(sum[1] - whole[1]) < 1e-7);
    double gmax = 0.0, dmax = 0.0;
    for (size_t i = 0; i < e.p.total; i++) {
        gmax = fmax(gmax, fabs(g_whole[i]));
        dmax = fmax(dmax, fabs(g_whole[i] - e.p.g[i]));
    }
    ck_assert_msg(gmax > 0 && dmax < 1e-5 * gmax, "%s: gradients differ by %g of %g", name, dmax,
                  gmax);
    free(g_whole);
    env_free(&e);
}

START_TEST(split_batches_add_up)
{
    split_is_additive("lddm-fuji");
    split_is_additive("lddm-seq");
}
END_TEST

/* Sampling: no MASK left; FUJI makes K + 1 calls, SEQ (K_lat + 1) + (K + 1). */
START_TEST(sampler_calls)
{
    const char *names[2] = {"lddm-fuji", "lddm-seq"};
    for (int k = 0; k < 2; k++) {
        env e;
        env_init(&e, names[k], 11);
        int32_t out[B * L];
        double nfe = 0.0;
        duet_err err = {0};
        duet_sample_opts so = {.n = B, .len = L, .steps = 3, .seed = 4, .cfg = &e.cfg};
        ck_assert_int_eq(e.o->ops->sample(e.o, e.p.w, &so, out, &nfe, &err), 0);
        for (int i = 0; i < B * L; i++)
            ck_assert(out[i] != DUET_TOK_MASK && out[i] >= 0 && out[i] < V);
        ck_assert(nfe == (k == 0 ? 4.0 : 4.0 + LY + 1));
        env_free(&e);
    }
}
END_TEST

Suite *suite_lddm(void)
{
    Suite *s = suite_create("lddm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, schedules);
    tcase_add_test(tc, encoder_chunks);
    tcase_add_test(tc, fuji_loss_terms);
    tcase_add_test(tc, seq_conditioning);
    tcase_add_test(tc, fuji_gradcheck);
    tcase_add_test(tc, seq_gradcheck);
    tcase_add_test(tc, sampler_calls);
    tcase_add_test(tc, split_batches_add_up);
    suite_add_tcase(s, tc);
    return s;
}
