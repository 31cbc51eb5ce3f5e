/* duet-sample: generate text from a checkpoint (no MPI needed). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "duet/config.h"
#include "duet/sampler.h"

static const duet_cli CLI = {
    "duet-sample",
    "[--help] [--print-config] [CONFIG ...] ckpt=PATH [key=value ...]",
    "Generates text from a duet checkpoint: the model, its training config and its tokenizer\n"
    "all come from the file. Same seed, same output.\n"
    "Example: build/bin/duet-sample ckpt=run/ckpt_0000000200.duet n_samples=4 sample_steps=16",
    DUET_SCOPE_SAMPLE,
};

int main(int argc, char **argv)
{
    static duet_config cfg;
    duet_config_defaults(&cfg);
    duet_err err;
    int rc = duet_config_from_args(&cfg, &CLI, argc, argv, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "duet-sample: error: %s\n", err.msg);
        return rc < 0 ? 1 : 0;
    }
    static duet_model model;
    if (duet_model_load(&model, cfg.ckpt, cfg.use_ema, cfg.sample_batch, &err) != 0) {
        fprintf(stderr, "duet-sample: error: %s\n", err.msg);
        return 1;
    }
    FILE *out = stdout;
    if (*cfg.output && !(out = fopen(cfg.output, "w"))) {
        fprintf(stderr, "duet-sample: error: cannot open output '%s': %s\n", cfg.output,
                strerror(errno));
        duet_model_free(&model);
        return 1;
    }
    duet_sample_report rep;
    rc = duet_sample_to_file(&model, &cfg, out, &rep, &err);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = duet_errf(&err, "error closing '%s'", cfg.output);
    if (rc != 0)
        fprintf(stderr, "duet-sample: error: %s\n", err.msg);
    else
        fprintf(stderr, "duet-sample: %d samples from %s (%s, step %lld) in %.2f s, %.1f network "
                        "evaluations per sample\n",
                rep.n, cfg.ckpt, model.cfg.objective, (long long)model.step, rep.seconds,
                rep.nfe_per_sample);
    duet_model_free(&model);
    return rc != 0;
}
