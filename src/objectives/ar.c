/* `ar`: causal transformer language model (SPEC 6.1). The baseline, and the
 * judge model of duet-eval. Target at position i is token i+1; PAD targets
 * and the last position are ignored; loss = mean NLL over the global count
 * of targets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/data.h"
#include "duet/objective.h"
#include "duet/rng.h"
#include "objectives_impl.h"
#include "tokennet.h"

typedef struct ar_impl {
    tokennet net;
    int32_t *targets; /* [B*L] */
} ar_impl;

static int ar_create(duet_objective *o, const duet_config *cfg, duet_params *p, int max_batch,
                     duet_err *err)
{
    ar_impl *a = duet_calloc(1, sizeof *a);
    o->impl = a;
    duet_stack_config sc =
        tokennet_stack_config(cfg, DUET_MASK_CAUSAL, DUET_COND_NONE, max_batch, cfg->seq_len);
    if (tokennet_create(&a->net, p, "ar", o->vocab_size, &sc, 0, err) != 0)
        return -1;
    a->targets = duet_malloc((size_t)max_batch * (size_t)cfg->seq_len * sizeof(int32_t));
    return 0;
}

static void ar_destroy(duet_objective *o)
{
    ar_impl *a = o->impl;
    if (!a)
        return;
    tokennet_free(&a->net);
    free(a->targets);
    free(a);
}

/* Next-token targets; returns how many are scored. */
static size_t shift_targets(const int32_t *tokens, int32_t *targets, int B, int L)
{
    size_t n = 0;
    for (int b = 0; b < B; b++) {
        const int32_t *row = tokens + (size_t)b * L;
        int32_t *tg = targets + (size_t)b * L;
        for (int i = 0; i < L; i++) {
            int32_t t = i + 1 < L ? row[i + 1] : -1;
            tg[i] = t == DUET_TOK_PAD ? -1 : t;
            n += tg[i] >= 0;
        }
    }
    return n;
}

static void ar_count(duet_objective *o, const duet_batch *b, uint64_t seed, double *counts)
{
    (void)seed;
    ar_impl *a = o->impl;
    counts[0] = (double)shift_targets(b->tokens, a->targets, b->B, b->L);
}

static void ar_forward_backward(duet_objective *o, const duet_step_ctx *ctx, const duet_batch *b,
                                const float *W, float *dW, double *terms)
{
    ar_impl *a = o->impl;
    size_t rows = (size_t)b->B * (size_t)b->L;
    shift_targets(b->tokens, a->targets, b->B, b->L);
    tokennet_forward(&a->net, W, b->tokens, NULL, NULL, b->B, b->L);
    double count = loss_normalizer(ctx, 0);
    float scale = (float)(1.0 / count);
    double sum = duet_xent_forward_backward(dW ? a->net.logits : NULL, NULL, a->net.logits,
                                            a->targets, NULL, scale, (int)rows, o->vocab_size, -1,
                                            DUET_TOK_MASK);
    terms[0] = sum / count;
    if (dW)
        tokennet_backward(&a->net, W, dW, NULL, b->B, b->L, ctx->hook);
}

/* Keeps the top-k / nucleus subset of probs (sorted copy), renormalised in place. */
static void filter_probs(float *probs, int V, int top_k, float top_p, float *scratch)
{
    if ((top_k <= 0 || top_k >= V) && top_p >= 1.0f)
        return;
    memcpy(scratch, probs, (size_t)V * sizeof(float));
    /* threshold = the k-th largest / the smallest prob inside the nucleus */
    int k = (top_k > 0 && top_k < V) ? top_k : V;
    float thresh = 0.0f;
    double mass = 0.0;
    for (int i = 0; i < k; i++) { /* partial selection: k passes (k small or V small) */
        int best = -1;
        for (int v = 0; v < V; v++)
            if (scratch[v] >= 0.0f && (best < 0 || scratch[v] > scratch[best]))
                best = v;
        if (best < 0)
            break;
        thresh = scratch[best];
        mass += scratch[best];
        scratch[best] = -1.0f;
        if (mass >= top_p)
            break;
    }
    double z = 0.0;
    for (int v = 0; v < V; v++) {
        if (probs[v] < thresh)
            probs[v] = 0.0f;
        z += probs[v];
    }
    for (int v = 0; v < V; v++)
        probs[v] = (float)(probs[v] / z);
}

static int ar_sample(duet_objective *o, const float *W, const duet_sample_opts *opts, int32_t *out,
                     double *nfe, duet_err *err)
{
    ar_impl *a = o->impl;
    int n = opts->n, len = opts->len, V = o->vocab_size;
    if (len > a->net.max_seq)
        return duet_errf(err, "sample_len %d exceeds the model's seq_len %d", len, a->net.max_seq);
    if (opts->prompt_len >= len)
        return duet_errf(err, "prompt of %d tokens leaves no room in %d tokens", opts->prompt_len, len);
    /* Every row starts with BOS, then the prompt. */
    int start = 1 + opts->prompt_len;
    if (start > len)
        return duet_errf(err, "prompt too long for sample_len %d", len);
    for (int r = 0; r < n; r++) {
        int32_t *row = out + (size_t)r * len;
        for (int i = 0; i < len; i++)
            row[i] = DUET_TOK_PAD;
        row[0] = DUET_TOK_BOS;
        for (int i = 0; i < opts->prompt_len; i++)
            row[1 + i] = opts->prompt[i];
    }
    int *done = duet_calloc((size_t)n, sizeof(int));
    int32_t *prefix = duet_malloc((size_t)n * (size_t)len * sizeof(int32_t));
    float *probs = duet_malloc((size_t)V * sizeof(float)), *scratch = duet_malloc((size_t)V * sizeof(float));
    float temp = opts->temperature > 0 ? opts->temperature : 1.0f;
    for (int pos = start; pos < len; pos++) {
        /* Causal: positions < pos are final; recompute the prefix (no KV cache). */
        for (int r = 0; r < n; r++)
            memcpy(prefix + (size_t)r * pos, out + (size_t)r * len, (size_t)pos * sizeof(int32_t));
        tokennet_forward(&a->net, W, prefix, NULL, NULL, n, pos);
        *nfe += 1.0;
        for (int r = 0; r < n; r++) {
            if (done[r])
                continue;
            const float *lg = a->net.logits + ((size_t)r * pos + (size_t)(pos - 1)) * V;
            float mx = -INFINITY;
            for (int v = 0; v < V; v++)
                if (v != DUET_TOK_MASK && v != DUET_TOK_PAD && lg[v] > mx)
                    mx = lg[v];
            double z = 0.0;
            for (int v = 0; v < V; v++) {
                float e = (v == DUET_TOK_MASK || v == DUET_TOK_PAD) ? 0.0f : expf((lg[v] - mx) / temp);
                probs[v] = e;
                z += e;
            }
            for (int v = 0; v < V; v++)
                probs[v] = (float)(probs[v] / z);
            filter_probs(probs, V, opts->top_k, opts->top_p, scratch);
            duet_rng rng = duet_rng_keyed(opts->seed, (uint32_t)pos, opts->first_index + (uint32_t)r,
                                          DUET_STREAM_SAMPLE);
            int32_t tok = sample_categorical(probs, V, duet_rng_uniform64(&rng));
            out[(size_t)r * len + pos] = tok;
            if (tok == DUET_TOK_EOS)
                done[r] = 1;
        }
    }
    free(done);
    free(prefix);
    free(probs);
    free(scratch);
    return 0;
}

/* Causal attention: positions before the longest row do not see the PAD
 * tail, so the batch runs over Lb = max(lens) columns instead of L (judge
 * rows are often half padding), with the fused cross-entropy of training. */
static void ar_score(duet_objective *o, const float *W, const int32_t *tokens, const int *lens,
                     int B, int L, double *nll, float *features)
{
    ar_impl *a = o->impl;
    int V = o->vocab_size, D = a->net.D, Lb = 1;
    for (int b = 0; b < B; b++)
        Lb = DUET_MAX(Lb, lens[b]);
    int32_t *rows = duet_malloc((size_t)B * (size_t)Lb * sizeof(int32_t));
    for (int b = 0; b < B; b++)
        memcpy(rows + (size_t)b * Lb, tokens + (size_t)b * L, (size_t)Lb * sizeof(int32_t));
    shift_targets(rows, a->targets, B, Lb);
    tokennet_forward(&a->net, W, rows, NULL, NULL, B, Lb);
    float *loss = duet_malloc((size_t)B * (size_t)Lb * sizeof(float));
    duet_xent_forward_backward(NULL, loss, a->net.logits, a->targets, NULL, 1.0f, B * Lb, V, -1,
                               DUET_TOK_MASK);
    for (int b = 0; b < B; b++) {
        double sum = 0.0;
        for (int i = 0; i + 1 < lens[b]; i++)
            sum += loss[(size_t)b * Lb + i];
        nll[b] = sum;
        /* the stack leaves its normalized output in net.h */
        memcpy(features + (size_t)b * D, a->net.h + ((size_t)b * Lb + lens[b] - 1) * D,
               (size_t)D * sizeof(float));
    }
    free(loss);
    free(rows);
}

const duet_objective_ops duet_objective_ar = {
    .name = "ar",
    .ncounts = 1,
    .nterms = 1,
    .term_names = {"nll"},
    .create = ar_create,
    .destroy = ar_destroy,
    .count = ar_count,
    .forward_backward = ar_forward_backward,
    .sample = ar_sample,
    .score = ar_score,
};
