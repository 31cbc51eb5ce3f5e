/* duet/trainer.h — the data-parallel training loop behind duet-train.
 *
 * Every rank holds a model replica and reads its own rows of each global
 * batch; gradients are averaged by bucketed non-blocking allreduce started
 * during backward; rank 0 writes checkpoints (zlib, atomic) that resume
 * bitwise. SIGTERM/SIGUSR1 make all ranks checkpoint at the next step
 * boundary and stop.
 */
#ifndef DUET_TRAINER_H
#define DUET_TRAINER_H

#include "duet/config.h"
#include "duet/dist.h"
#include "duet/util.h"

/* Every failure ends with the message in err (rank 0's is the full one) and
 * the same result on every rank. */
enum duet_train_result {
    DUET_TRAIN_DONE = 0,         /* reached `steps` */
    DUET_TRAIN_PREEMPTED = 1,    /* stopped by a signal after a checkpoint */
    DUET_TRAIN_FAILED = -1,      /* error */
    DUET_TRAIN_CKPT_FAILED = -2, /* a checkpoint write failed (ckpt_error=stop, or the
                                    final / preemption checkpoint); older ones are intact */
    DUET_TRAIN_NONFINITE = -3,   /* non-finite loss or gradient with nan_policy=stop */
};

/* duet-train's exit codes for the failures above (documented in its --help
 * and README "Fault tolerance"); DUET_TRAIN_PREEMPTED exits with
 * preempt_exit_code. */
#define DUET_EXIT_ERROR 1
#define DUET_EXIT_CKPT 3
#define DUET_EXIT_NONFINITE 4

/* Installs the SIGTERM/SIGUSR1 handlers (call before duet_train). */
void duet_train_install_signals(void);

/* Runs (or resumes) training as configured. */
enum duet_train_result duet_train(const duet_config *cfg, duet_dist *dist, duet_err *err);

#endif
