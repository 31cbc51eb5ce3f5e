/* duet-train: data-parallel training (run under mpirun or srun --mpi=pmix). */
#include <stdio.h>

#include "duet/config.h"
#include "duet/dist.h"
#include "duet/trainer.h"

static const duet_cli CLI = {
    "duet-train",
    "[--help] [--print-config] [CONFIG ...] [key=value ...]",
    "Trains a diffusion (or autoregressive) language model on duet-prep shards, data-parallel\n"
    "over MPI ranks. Rank 0 writes checkpoints to run_dir; resume=auto continues from the\n"
    "newest valid one. SIGTERM or SIGUSR1: every rank checkpoints at the next step and exits\n"
    "with preempt_exit_code. Exit codes: 0 done, 1 error, 3 a checkpoint write failed\n"
    "(ckpt_error=stop), 4 non-finite loss or gradient (nan_policy=stop).\n"
    "Example: launch/duet-mpirun.sh -np 2 build/bin/duet-train configs/mdlm-tiny.conf steps=200",
    DUET_SCOPE_TRAIN,
};

int main(int argc, char **argv)
{
    /* Before MPI_Init: a SIGTERM/SIGUSR1 that arrives while MPI starts (which can
     * take seconds under srun) is recorded and honoured at the first step. */
    duet_train_install_signals();
    duet_dist *dist = duet_dist_init(&argc, &argv);
    if (!dist) {
        fprintf(stderr, "duet-train: error: MPI failed to initialise\n");
        return 1;
    }
    int root = duet_dist_is_root(dist);
    static duet_config cfg;
    duet_config_defaults(&cfg);
    duet_err err;
    int rc = duet_config_from_args(&cfg, &CLI, argc, argv, &err);
    if (rc != 0) {
        if (rc < 0 && root)
            fprintf(stderr, "duet-train: error: %s\n", err.msg);
        duet_dist_finalize(dist);
        return rc < 0 ? 1 : 0;
    }
    enum duet_train_result r = duet_train(&cfg, dist, &err);
    if (r < 0 && root)
        fprintf(stderr, "duet-train: error: %s\n", err.msg);
    duet_dist_finalize(dist);
    switch (r) {
    case DUET_TRAIN_DONE: return 0;
    case DUET_TRAIN_PREEMPTED: return cfg.preempt_exit_code;
    case DUET_TRAIN_CKPT_FAILED: return DUET_EXIT_CKPT;
    case DUET_TRAIN_NONFINITE: return DUET_EXIT_NONFINITE;
    case DUET_TRAIN_FAILED: break;
    }
    return DUET_EXIT_ERROR;
}
