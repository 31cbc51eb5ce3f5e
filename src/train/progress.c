/* Progress lines (stderr, rank 0) and the JSONL training log. */
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/json.h"

int progress_open(progress *p, const char *run_dir, int is_root, double every_s,
                  int64_t first_step, duet_err *err)
{
    memset(p, 0, sizeof *p);
    p->every_s = every_s;
    p->t_start = p->last_print = duet_now();
    p->first_step = first_step;
    if (!is_root)
        return 0;
    char path[DUET_ERR_MAX];
    if (snprintf(path, sizeof path, "%s/train.jsonl", run_dir) >= (int)sizeof path)
        return duet_errf(err, "run_dir '%s' is too long", run_dir);
    p->log = fopen(path, "a");
    if (!p->log)
        return duet_errf(err, "cannot open log '%s': %s", path, strerror(errno));
    return 0;
}

void progress_close(progress *p)
{
    if (p->log)
        fclose(p->log);
    p->log = NULL;
}

static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.9g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

static void format_eta(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, cap, "?");
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

void progress_step(progress *p, const step_record *r, int force)
{
    p->win_tokens += r->tokens;
    p->win_time += r->t_step;
    p->win_compute += r->t_compute;
    p->win_comm += r->t_comm;
    p->win_data += r->t_data;
    if (p->log) {
        fprintf(p->log, "{\"step\":%lld", (long long)r->step);
        json_num(p->log, "loss", r->loss);
        for (int i = 0; i < r->nterms; i++)
            json_num(p->log, r->term_names[i], r->terms[i]);
        for (int i = 0; i < r->nmetrics; i++)
            json_num(p->log, r->metrics[i].name, r->metrics[i].value);
        json_num(p->log, "lr", r->lr);
        json_num(p->log, "grad_norm", r->grad_norm);
        json_num(p->log, "tokens_per_s", r->t_step > 0 ? r->tokens / r->t_step : NAN);
        json_num(p->log, "t_step", r->t_step);
        json_num(p->log, "t_compute", r->t_compute);
        json_num(p->log, "t_comm", r->t_comm);
        json_num(p->log, "t_data", r->t_data);
        if (!isnan(r->val_loss))
            json_num(p->log, "val_loss", r->val_loss);
        if (r->skipped)
            fprintf(p->log, ",\"skipped\":true");
        if (r->spike)
            fprintf(p->log, ",\"spike\":true");
        fputs("}\n", p->log);
        fflush(p->log);
    }
    double now = duet_now();
    if (!p->log || (!force && now - p->last_print < p->every_s))
        return;
    p->last_print = now;
    double done = (double)(r->step + 1 - p->first_step);
    double rate = done > 0 ? (now - p->t_start) / done : NAN;
    char eta[32];
    format_eta(eta, sizeof eta, rate * (double)(r->steps - r->step - 1));
    double wt = p->win_time > 0 ? p->win_time : 1;
    fprintf(stderr, "step %lld/%lld | loss %.4f", (long long)r->step + 1, (long long)r->steps,
            r->loss);
    for (int i = 0; i < r->nterms && r->nterms > 1; i++)
        fprintf(stderr, " %s %.4f", r->term_names[i], r->terms[i]);
    for (int i = 0; i < r->nmetrics; i++)
        fprintf(stderr, " %s %.4g", r->metrics[i].name, r->metrics[i].value);
    if (!isnan(r->val_loss))
        fprintf(stderr, " | val %.4f", r->val_loss);
    fprintf(stderr, " | lr %.3g | %.0f tok/s | compute %.0f%% comm %.1f%% data %.1f%% | ETA %s\n",
            r->lr, p->win_tokens / wt, 100 * p->win_compute / wt, 100 * p->win_comm / wt,
            100 * p->win_data / wt, eta);
    p->win_tokens = p->win_time = p->win_compute = p->win_comm = p->win_data = 0;
}

void progress_event(progress *p, int64_t step, const char *event, const char *detail)
{
    if (!p->log)
        return;
    fprintf(stderr, "duet-train: step %lld: %s: %s\n", (long long)step, event, detail);
    fprintf(p->log, "{\"step\":%lld,\"event\":", (long long)step);
    duet_json_write_string(p->log, event, strlen(event));
    fputs(",\"detail\":", p->log);
    duet_json_write_string(p->log, detail, strlen(detail));
    fputs("}\n", p->log);
    fflush(p->log);
}
