/* The list of objectives: the only place that names them all. */
#include <stdlib.h>
#include <string.h>

#include "duet/objective.h"
#include "objectives_impl.h"

static const duet_objective_ops *const REGISTRY[] = {
    &duet_objective_ar,
    &duet_objective_mdlm,
    &duet_objective_vqae,
    &duet_objective_vqlm,
    &duet_objective_joint1,
    &duet_objective_joint2,
    &duet_objective_separate,
    &duet_objective_ardiff,
    &duet_objective_lddm_fuji,
    &duet_objective_lddm_seq,
};

const char *const *duet_objective_names(void)
{
    static const char *names[sizeof REGISTRY / sizeof REGISTRY[0] + 1];
    for (size_t i = 0; i < sizeof REGISTRY / sizeof REGISTRY[0]; i++)
        names[i] = REGISTRY[i]->name;
    return names;
}

duet_objective *duet_objective_create(const duet_config *cfg, int vocab_size, duet_params *p,
                                      int max_batch, duet_err *err)
{
    for (size_t i = 0; i < sizeof REGISTRY / sizeof REGISTRY[0]; i++) {
        if (strcmp(REGISTRY[i]->name, cfg->objective) != 0)
            continue;
        duet_objective *o = duet_calloc(1, sizeof *o);
        o->ops = REGISTRY[i];
        o->cfg = cfg;
        o->vocab_size = vocab_size;
        if (o->ops->create(o, cfg, p, max_batch, err) != 0) {
            duet_err_prefix(err, "objective '%s'", cfg->objective);
            duet_objective_free(o);
            return NULL;
        }
        return o;
    }
    duet_errf(err, "unknown objective '%s'", cfg->objective);
    return NULL;
}

void duet_objective_free(duet_objective *o)
{
    if (!o)
        return;
    if (o->ops && o->ops->destroy)
        o->ops->destroy(o);
    free(o);
}

int32_t sample_categorical(const float *probs, int V, double u)
{
    double acc = 0.0;
    int32_t last = 0;
    for (int v = 0; v < V; v++) {
        if (probs[v] <= 0.0f)
            continue;
        acc += probs[v];
        last = v;
        if (u < acc)
            return v;
    }
    return last;
}

int32_t argmax_logit(const float *logits, int V, int skip)
{
    int32_t best = 0;
    for (int v = 1; v < V; v++)
        if (v != skip && logits[v] > logits[best])
            best = v;
    return best;
}

double loss_normalizer(const duet_step_ctx *ctx, int i)
{
    return ctx->global_counts[i] > 0 ? ctx->global_counts[i] : 1.0;
}

void objective_count_tokens(duet_objective *o, const duet_batch *b, uint64_t seed, double *counts)
{
    (void)o;
    (void)seed;
    counts[0] = (double)b->B * (double)b->L;
}

void objective_count_sequences(duet_objective *o, const duet_batch *b, uint64_t seed,
                               double *counts)
{
    (void)o;
    (void)seed;
    counts[0] = (double)b->B;
}
