/* One training step of the `mdlm` objective (forward + backward + global
 * gradient-norm clip + AdamW), the model torch_ref.py trains: embedding ->
 * n_layer x [RMSNorm, bidirectional MHA with RoPE, RMSNorm, SwiGLU] ->
 * RMSNorm -> untied head, masked-diffusion loss on uniform random tokens.
 * time_cond=add keeps the blocks unconditioned (the time embedding is added
 * to the stack input once per sequence: a few D^2 FLOPs per sequence).
 *
 *   step_bench [vocab=4096] [warmup=3] [steps=10] [key=value ...]
 *
 * Other keys are training config keys (dim, n_layer, n_head, seq_len,
 * batch_size, threads, ...). Prints two JSON lines: the step (tokens/s,
 * GFLOP/s, phase times, peak RSS vs the memory computed from the config)
 * and the cblas_sgemm peak on square 1024 and 2048 matrices measured
 * afterwards in the same process (after, so its 48 MB of matrices do not
 * count in the step's peak RSS), with the MFU of the step against it.
 *
 * FLOPs per step (torch_ref.py's count): 6 * N_matmul * tokens + 12 * L * T
 * * D * tokens, N_matmul = L (4 D^2 + 3 D F) + D V.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/config.h"
#include "duet/data.h"
#include "duet/model.h"
#include "duet/objective.h"
#include "duet/ops.h"
#include "duet/optim.h"
#include "duet/rng.h"

static double median(double *x, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
            double t = x[j];
            x[j] = x[j - 1];
            x[j - 1] = t;
        }
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* Best of `reps` square n x n x n sgemm calls, in GFLOP/s. */
static double sgemm_peak(int n, int reps)
{
    size_t nn = (size_t)n * n;
    float *a = duet_falloc(nn), *b = duet_falloc(nn), *c = duet_falloc(nn);
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(i % 13) * 0.01f;
        b[i] = (float)(i % 7) * 0.02f;
    }
    double best = 0;
    for (int r = 0; r < reps + 1; r++) { /* first call warms the pool and pages */
        double t0 = duet_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
        double g = 2.0 * n * n * (double)n / (duet_now() - t0) / 1e9;
        if (r > 0 && g > best)
            best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* Bytes a step must hold, from the config: parameters, gradients and the
 * AdamW moments (4 slabs), the stack's caches for backward and its
 * workspace, and the network's input/output buffers (RMSNorm, RoPE, SwiGLU,
 * no adaLN: see layout() in src/model/stack.c). */
static double computed_bytes(size_t P, double V, double D, double L, double F, double H,
                             double B, double T)
{
    double N = B * T, att = B * H * T * T;
    double layer = 8 * N * D + 3 * N * F + att + 2 * N;     /* caches of one block */
    double ws = 6 * N * D + 3 * N * F + att;               /* backward workspace */
    double fin = 2 * N * D + N;                            /* final norm caches */
    double net = 2 * N * D + N * (V > D ? V : D) + 4 * N;  /* h, dh, logits, ids/targets */
    return 4.0 * (4.0 * (double)P + L * layer + ws + fin + net);
}

int main(int argc, char **argv)
{
    int V = 4096, warmup = 3, steps = 10;
    duet_config cfg;
    duet_config_defaults(&cfg);
    duet_err err = {0};
    const char *defaults[] = {"dim=256", "n_layer=4", "n_head=4", "seq_len=128",
                              "batch_size=16", "time_cond=add", "weight_decay=0.1",
                              "beta2=0.95", "lr=3e-4"};
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? argc - 1 : (int)DUET_ARRAY_LEN(defaults);
        for (int i = 0; i < n; i++) {
            const char *a = pass ? argv[i + 1] : defaults[i];
            const char *eq = strchr(a, '=');
            if (!eq) {
                fprintf(stderr, "step_bench: argument '%s' is not key=value\n", a);
                return 2;
            }
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
            if (!strcmp(key, "vocab") || !strcmp(key, "warmup") || !strcmp(key, "steps")) {
                int v = atoi(eq + 1);
                if (v < (strcmp(key, "vocab") ? 1 : DUET_TOK_NSPECIAL + 2)) {
                    fprintf(stderr, "step_bench: bad %s '%s'\n", key, eq + 1);
                    return 2;
                }
                *(!strcmp(key, "vocab") ? &V : !strcmp(key, "warmup") ? &warmup : &steps) = v;
            } else if (duet_config_set(&cfg, key, eq + 1, "command line", 0, DUET_SCOPE_TRAIN,
                                       &err) != 0) {
                fprintf(stderr, "step_bench: %s\n", err.msg);
                return 2;
            }
        }
    }
    if (duet_config_set(&cfg, "objective", "mdlm", "step_bench", 0, DUET_SCOPE_TRAIN, &err)) {
        fprintf(stderr, "step_bench: %s\n", err.msg);
        return 2;
    }
    duet_set_threads(cfg.threads);
    const int B = cfg.batch_size, T = cfg.seq_len, D = cfg.dim, L = cfg.n_layer;
    duet_params p;
    duet_params_init(&p);
    duet_objective *obj = duet_objective_create(&cfg, V, &p, B, &err);
    if (!obj) {
        fprintf(stderr, "step_bench: %s\n", err.msg);
        return 1;
    }
    duet_params_alloc(&p);
    duet_params_init_values(&p, 1234);
    float *m = duet_falloc(p.total), *v = duet_falloc(p.total);
    int32_t *tokens = duet_malloc((size_t)B * T * sizeof(int32_t));
    duet_rng rng = duet_rng_keyed(7, 0, 0, DUET_STREAM_USER);
    for (size_t i = 0; i < (size_t)B * T; i++)
        tokens[i] = DUET_TOK_NSPECIAL + (int32_t)duet_rng_below(&rng, (uint32_t)(V - DUET_TOK_NSPECIAL));

    const int F = cfg.ffn_dim ? cfg.ffn_dim : 64 * ((8 * D / 3 + 63) / 64);
    const double tok = (double)B * T;
    const double n_matmul = (double)L * (4.0 * D * D + 3.0 * D * F) + (double)D * V;
    const double flops = 6.0 * n_matmul * tok + 12.0 * L * (double)T * D * tok;
    duet_adamw_hparams h = {cfg.lr, cfg.beta1, cfg.beta2, cfg.adam_eps, cfg.weight_decay};
    double *ts = duet_malloc((size_t)steps * sizeof(double));
    double t_fb = 0, t_opt = 0, loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        duet_batch b = {B, T, tokens, NULL, 0, 0, (uint32_t)s, B};
        double counts[DUET_MAX_COUNTS] = {0}, terms[DUET_MAX_TERMS] = {0};
        double t0 = duet_now();
        obj->ops->count(obj, &b, cfg.seed, counts);
        duet_step_ctx ctx = {NULL, cfg.seed, counts, NULL, 1};
        duet_params_zero_grad(&p);
        obj->ops->forward_backward(obj, &ctx, &b, p.w, p.g, terms);
        double t1 = duet_now();
        double gn = duet_grad_norm(p.g, p.total);
        duet_clip_grad(p.g, p.total, gn, cfg.grad_clip);
        duet_adamw_step(&p, m, v, &h, s + 1);
        double t2 = duet_now();
        loss = terms[0];
        if (s >= warmup) {
            ts[s - warmup] = t2 - t0;
            t_fb += t1 - t0;
            t_opt += t2 - t1;
        }
    }
    double med = median(ts, steps);
    size_t rss = duet_peak_rss();
    double need = computed_bytes(p.total, V, D, L, F, cfg.n_head, B, T);
    printf("{\"bench\": \"step\", \"impl\": \"duet\", \"objective\": \"mdlm\", \"threads\": %d, "
           "\"d\": %d, \"layers\": %d, \"heads\": %d, \"ffn\": %d, \"seq\": %d, \"batch\": %d, "
           "\"vocab\": %d, \"params\": %zu, \"matmul_params\": %.0f, \"flops_per_step\": %.0f, "
           "\"steps\": %d, \"step_s_median\": %.4f, \"fwd_bwd_s_mean\": %.4f, "
           "\"clip_adamw_s_mean\": %.4f, \"tokens_per_s\": %.1f, \"gflops\": %.2f, "
           "\"loss_last\": %.4f, \"peak_rss_mb\": %.1f, \"computed_mb\": %.1f, "
           "\"rss_ratio\": %.3f}\n",
           cfg.threads, D, L, cfg.n_head, F, T, B, V, p.total, n_matmul, flops, steps, med,
           t_fb / steps, t_opt / steps, tok / med, flops / med / 1e9, loss, rss / 1e6,
           need / 1e6, rss / need);
    double p1 = sgemm_peak(1024, 5), p2 = sgemm_peak(2048, 2);
    double peak = p1 > p2 ? p1 : p2;
    printf("{\"bench\": \"sgemm_peak\", \"threads\": %d, \"gflops_1024\": %.2f, "
           "\"gflops_2048\": %.2f, \"step_mfu\": %.3f}\n",
           cfg.threads, p1, p2, flops / med / 1e9 / peak);
    free(ts);
    free(tokens);
    free(m);
    free(v);
    duet_objective_free(obj);
    duet_params_free(&p);
    return 0;
}
