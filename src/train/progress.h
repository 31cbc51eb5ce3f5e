/* Private to src/train: rank-0 progress lines and the per-step JSONL log. */
#ifndef DUET_TRAIN_PROGRESS_H
#define DUET_TRAIN_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "duet/objective.h"

typedef struct step_record {
    int64_t step, steps;
    double loss;
    double terms[DUET_MAX_TERMS];
    int nterms;
    const char *const *term_names;
    duet_named_value metrics[DUET_MAX_METRICS];
    int nmetrics;
    double lr, grad_norm;
    double tokens;             /* tokens processed this step (all ranks) */
    double t_step, t_compute, t_comm, t_data; /* seconds, this rank */
    int skipped;               /* non-finite step skipped */
    int spike;                 /* loss spike detected */
    double val_loss;           /* NAN if not evaluated this step */
} step_record;

typedef struct progress {
    FILE *log;            /* JSONL, append mode; NULL on ranks != 0 */
    double every_s, last_print, t_start;
    double win_tokens, win_time, win_compute, win_comm, win_data;
    int64_t first_step;
} progress;

/* Opens run_dir/train.jsonl for appending (rank 0 only). */
int progress_open(progress *p, const char *run_dir, int is_root, double every_s,
                  int64_t first_step, duet_err *err);
void progress_close(progress *p);
/* Logs one step; prints a progress line when due (or force). */
void progress_step(progress *p, const step_record *r, int force);
/* A free-form event line in the log and on stderr (rank 0). */
void progress_event(progress *p, int64_t step, const char *event, const char *detail);

#endif
