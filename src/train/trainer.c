/* The data-parallel training loop (see duet/trainer.h).
 *
 * One optimizer step:
 *   load A micro-batches of B rows for this rank   (global rows of the step:
 *                                                    cursor .. cursor + G - 1)
 *   count normalizers, allreduce them               (SPEC 1.6 rule 2)
 *   forward/backward each micro-batch; during the last backward, gradient
 *   buckets are allreduced as soon as they are final
 *   objective end_step (EMA codebooks, DataNorm ...)
 *   global grad norm -> non-finite? skip or stop -> clip -> AdamW -> EMA
 * Every decision that could differ between ranks is made from allreduced
 * values, so all ranks take it together.
 */
#include "duet/trainer.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "duet/ckpt.h"
#include "duet/data.h"
#include "duet/objective.h"
#include "duet/ops.h"
#include "duet/optim.h"
#include "buckets.h"
#include "progress.h"

#define TRAIN_STATE_VERSION 1
#define VAL_STEP_KEY 0xFFFFFFF0u /* keys validation draws: the same every time */
#define MAX_TOKENIZER_BYTES ((size_t)1 << 30)
#define MAX_STATE_BYTES ((size_t)1 << 26)

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

void duet_train_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

typedef struct trainer {
    const duet_config *cfg;
    duet_dist *dist;
    int rank, world, B, A, L, Ls, G;
    duet_tokenizer *tok;
    duet_shard_set *train_set, *val_set;
    duet_loader *train, *val;
    duet_params params;
    duet_objective *obj;
    float *m, *v, *ema;
    int32_t *tokens, *src; /* [A*B*L], [A*B*Ls] */
    grad_buckets buckets;
    progress prog;
    int64_t step;          /* next optimizer step */
    uint64_t cursor;       /* global index of the next step's first sequence */
    int64_t nan_skipped;
    int64_t ckpt_failed;   /* checkpoint writes that failed in this process */
    double loss_ema;
} trainer;

/* Every rank passes its local status; all return the same verdict. A rank
 * whose own call failed prints its message here (rank 0's goes to main). */
static int agree(trainer *tr, int local_rc, duet_err *err)
{
    int64_t bad = local_rc != 0;
    duet_dist_allreduce_max_i64(tr->dist, &bad, 1);
    if (!bad)
        return 0;
    if (local_rc != 0 && tr->rank != 0)
        fprintf(stderr, "duet-train: error: rank %d: %s\n", tr->rank, err->msg);
    if (local_rc == 0)
        duet_errf(err, "stopping: another rank reported an error (see its message above)");
    return -1;
}

static int make_dir(const char *path, duet_err *err)
{
    char buf[DUET_CFG_STR_MAX];
    if (duet_strlcpy(buf, path, sizeof buf) != 0)
        return duet_errf(err, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return duet_errf(err, "cannot create directory '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return duet_errf(err, "cannot create directory '%s': %s", buf, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------------ setup */

static int open_data(trainer *tr, duet_err *err)
{
    const duet_config *c = tr->cfg;
    if (!*c->tokenizer)
        return duet_errf(err, "config key 'tokenizer' is empty: give the tokenizer file written by duet-prep");
    if (!*c->train_data)
        return duet_errf(err, "config key 'train_data' is empty: give the shards written by duet-prep");
    tr->tok = duet_tokenizer_load(c->tokenizer, err);
    if (!tr->tok)
        return -1;
    int V = duet_tokenizer_vocab_size(tr->tok);
    uint32_t id = duet_tokenizer_id(tr->tok);
    tr->train_set = duet_shards_open(c->train_data, V, id, err);
    if (!tr->train_set)
        return duet_err_prefix(err, "train_data");
    duet_loader_config lc = {c->seq_len, 0, strcmp(c->data_mode, "document") == 0
                                                ? DUET_DATA_DOCUMENT : DUET_DATA_PACKED,
                             (uint64_t)c->seed};
    if (duet_shards_paired(tr->train_set))
        lc.src_len = c->src_len;
    else if (c->src_len > 0)
        return duet_errf(err, "src_len=%d asks for a conditional model, but train_data '%s' is not "
                              "paired (write it with `duet-prep shards paired=1`, or set src_len=0)",
                         c->src_len, c->train_data);
    tr->Ls = lc.src_len;
    tr->train = duet_loader_create(tr->train_set, &lc, err);
    if (!tr->train)
        return duet_err_prefix(err, "train_data");
    if (*c->val_data) {
        tr->val_set = duet_shards_open(c->val_data, V, id, err);
        if (!tr->val_set)
            return duet_err_prefix(err, "val_data");
        tr->val = duet_loader_create(tr->val_set, &lc, err);
        if (!tr->val)
            return duet_err_prefix(err, "val_data");
    }
    return 0;
}

static int build_model(trainer *tr, duet_err *err)
{
    duet_params_init(&tr->params);
    tr->obj = duet_objective_create(tr->cfg, duet_tokenizer_vocab_size(tr->tok), &tr->params,
                                    tr->B, err);
    if (!tr->obj)
        return -1;
    duet_params_alloc(&tr->params);
    duet_params_init_values(&tr->params, (uint64_t)tr->cfg->seed);
    size_t n = tr->params.total;
    tr->m = duet_falloc(n);
    tr->v = duet_falloc(n);
    if (tr->cfg->ema_decay > 0) {
        tr->ema = duet_falloc(n);
        memcpy(tr->ema, tr->params.w, n * sizeof(float));
    }
    size_t rows = (size_t)tr->A * (size_t)tr->B;
    tr->tokens = duet_malloc(rows * (size_t)tr->L * sizeof(int32_t));
    tr->src = tr->Ls ? duet_malloc(rows * (size_t)tr->Ls * sizeof(int32_t)) : NULL;
    size_t bucket = (size_t)(tr->cfg->bucket_mb * 1048576.0 / sizeof(float));
    grad_buckets_init(&tr->buckets, tr->dist, tr->params.g, n, bucket ? bucket : 1);
    return 0;
}

/* ------------------------------------------------------------ checkpoints */

static void put_i64(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

/* train_state: version, step, cursor, nan_skipped, loss_ema (bits), world,
 * B, A, then the cursor of each rank's first row for the next step (the RNG
 * is keyed by step and sample index, so this is all the per-rank state). */
static unsigned char *train_state_pack(const trainer *tr, size_t *n)
{
    size_t count = 8 + (size_t)tr->world;
    unsigned char *buf = duet_malloc(count * 8);
    int64_t loss_bits;
    memcpy(&loss_bits, &tr->loss_ema, 8);
    int64_t head[8] = {TRAIN_STATE_VERSION, tr->step, (int64_t)tr->cursor, tr->nan_skipped,
                       loss_bits, tr->world, tr->B, tr->A};
    for (int i = 0; i < 8; i++)
        put_i64(buf + 8 * i, head[i]);
    for (int r = 0; r < tr->world; r++)
        put_i64(buf + 8 * (8 + r), (int64_t)(tr->cursor + (uint64_t)r * (uint64_t)tr->B));
    *n = count * 8;
    return buf;
}

static int train_state_unpack(trainer *tr, const unsigned char *buf, size_t n, int64_t ckpt_step,
                              const char *path, duet_err *err)
{
    if (n < 64 || n % 8)
        return duet_errf(err, "%s: train_state section has %zu bytes", path, n);
    if (get_i64(buf) != TRAIN_STATE_VERSION)
        return duet_errf(err, "%s: train_state version %lld unsupported", path,
                         (long long)get_i64(buf));
    int64_t step = get_i64(buf + 8), world = get_i64(buf + 40), B = get_i64(buf + 48),
            A = get_i64(buf + 56);
    if (step != ckpt_step || n != (size_t)(8 + world) * 8)
        return duet_errf(err, "%s: train_state is inconsistent with the header", path);
    if (world * B * A != (int64_t)tr->G)
        fprintf(stderr, "duet-train: warning: resuming a run of global batch %lld "
                        "(%lld ranks x %lld x %lld) with global batch %d: the data order "
                        "continues, but results will not match an uninterrupted run\n",
                (long long)(world * B * A), (long long)world, (long long)B, (long long)A, tr->G);
    tr->step = step;
    tr->cursor = (uint64_t)get_i64(buf + 16);
    tr->nan_skipped = get_i64(buf + 24);
    int64_t loss_bits = get_i64(buf + 32);
    memcpy(&tr->loss_ema, &loss_bits, 8);
    return 0;
}

/* Checkpoint files skipped or deleted while scanning run_dir go to the log. */
static void ckpt_note(void *ctx, const char *msg)
{
    trainer *tr = ctx;
    if (tr->prog.log)
        progress_event(&tr->prog, tr->step, "checkpoint scan", msg);
    else
        fprintf(stderr, "duet-train: %s\n", msg);
}

static int save_checkpoint(trainer *tr, duet_err *err)
{
    int rc = 0;
    if (tr->rank == 0) {
        char path[DUET_CFG_STR_MAX + 64];
        if (duet_ckpt_path(tr->cfg->run_dir, tr->step, path, sizeof path) != 0)
            duet_fatal("checkpoint path does not fit"); /* run_dir is bounded by the config */
        char *config = duet_config_to_text(tr->cfg, DUET_SCOPE_TRAIN);
        size_t tok_n = 0, state_n = 0, obj_n = 0;
        void *tok = duet_tokenizer_to_bytes(tr->tok, &tok_n);
        unsigned char *state = train_state_pack(tr, &state_n);
        void *obj_state = NULL;
        if (tr->obj->ops->state_bytes) {
            obj_n = tr->obj->ops->state_bytes(tr->obj);
            obj_state = duet_malloc(obj_n);
            tr->obj->ops->state_save(tr->obj, obj_state);
        }
        size_t pbytes = tr->params.total * sizeof(float);
        duet_ckpt_section sec[8];
        int ns = 0;
        sec[ns++] = (duet_ckpt_section){"config", config, strlen(config), 1};
        sec[ns++] = (duet_ckpt_section){"tokenizer", tok, tok_n, 1};
        sec[ns++] = (duet_ckpt_section){"params", tr->params.w, pbytes, sizeof(float)};
        sec[ns++] = (duet_ckpt_section){"adam_m", tr->m, pbytes, sizeof(float)};
        sec[ns++] = (duet_ckpt_section){"adam_v", tr->v, pbytes, sizeof(float)};
        if (tr->ema)
            sec[ns++] = (duet_ckpt_section){"ema", tr->ema, pbytes, sizeof(float)};
        if (obj_state)
            sec[ns++] = (duet_ckpt_section){"objective", obj_state, obj_n, 1};
        sec[ns++] = (duet_ckpt_section){"train_state", state, state_n, 1};
        duet_ckpt_meta meta = {tr->step, tr->cfg->objective,
                               tr->cfg->debug_ckpt_crash_step == tr->step ? ns / 2 : 0};
        double t0 = duet_now();
        rc = duet_ckpt_write(path, &meta, sec, (size_t)ns, tr->cfg->ckpt_level, err);
        if (rc == 0) {
            double dt = duet_now() - t0;
            char detail[DUET_CFG_STR_MAX + 128];
            snprintf(detail, sizeof detail, "%s (%.2f s)", path, dt);
            progress_event(&tr->prog, tr->step, "checkpoint", detail);
            duet_err perr;
            if (duet_ckpt_prune(tr->cfg->run_dir, tr->cfg->ckpt_keep, ckpt_note, tr, &perr) < 0)
                progress_event(&tr->prog, tr->step, "prune failed", perr.msg);
        }
        free(config);
        free(tok);
        free(state);
        free(obj_state);
    }
    int64_t status = rc;
    duet_dist_bcast(tr->dist, &status, sizeof status, 0);
    if (status != 0 && tr->rank != 0)
        duet_errf(err, "checkpoint write failed on rank 0");
    return status != 0 ? -1 : 0;
}

/* After a failed periodic checkpoint (every rank has the verdict from
 * save_checkpoint): counts and logs it; returns 0 to continue, -1 to stop
 * (ckpt_error=stop, or the final checkpoint, which holds the result). */
static int ckpt_failed(trainer *tr, duet_err *err)
{
    tr->ckpt_failed++;
    int go_on = strcmp(tr->cfg->ckpt_error, "continue") == 0 && tr->step < tr->cfg->steps;
    char detail[DUET_ERR_MAX + 96];
    snprintf(detail, sizeof detail, "%s (%lld failed so far; the previous checkpoint is kept)",
             err->msg, (long long)tr->ckpt_failed);
    progress_event(&tr->prog, tr->step,
                   go_on ? "checkpoint failed, continuing" : "checkpoint failed, stopping",
                   detail);
    return go_on ? 0 : -1;
}

/* Rank 0 reads the checkpoint and broadcasts it, so a cluster without a
 * shared file system only needs run_dir on rank 0's node. */
static int load_checkpoint(trainer *tr, const char *path, duet_err *err)
{
    size_t n = tr->params.total, pbytes = n * sizeof(float);
    int rc = 0;
    unsigned char *state = NULL, *obj_state = NULL;
    int64_t sizes[2] = {0, 0};
    if (tr->rank == 0) {
        duet_ckpt *h = duet_ckpt_open(path, err);
        rc = h ? 0 : -1;
        if (rc == 0)
            rc = duet_ckpt_expect_objective(h, tr->cfg->objective, err);
        if (rc == 0) {
            size_t tok_n = 0;
            void *tok_bytes = NULL;
            if (duet_ckpt_read_alloc(h, "tokenizer", MAX_TOKENIZER_BYTES, &tok_bytes, &tok_n, err) != 0)
                tok_bytes = NULL;
            duet_tokenizer *ck_tok =
                tok_bytes ? duet_tokenizer_from_bytes(tok_bytes, tok_n, path, err) : NULL;
            if (!ck_tok)
                rc = -1;
            else if (duet_tokenizer_id(ck_tok) != duet_tokenizer_id(tr->tok))
                rc = duet_errf(err, "%s was trained with a different tokenizer than '%s'", path,
                               tr->cfg->tokenizer);
            duet_tokenizer_free(ck_tok);
            free(tok_bytes);
        }
        if (rc == 0)
            rc = duet_ckpt_read(h, "params", tr->params.w, pbytes, err);
        if (rc == 0)
            rc = duet_ckpt_read(h, "adam_m", tr->m, pbytes, err);
        if (rc == 0)
            rc = duet_ckpt_read(h, "adam_v", tr->v, pbytes, err);
        if (rc == 0 && tr->ema) {
            if (duet_ckpt_find(h, "ema"))
                rc = duet_ckpt_read(h, "ema", tr->ema, pbytes, err);
            else
                memcpy(tr->ema, tr->params.w, pbytes);
        }
        if (rc == 0 && tr->obj->ops->state_bytes) {
            size_t want = tr->obj->ops->state_bytes(tr->obj);
            obj_state = duet_malloc(want);
            rc = duet_ckpt_read(h, "objective", obj_state, want, err);
            sizes[1] = (int64_t)want;
        }
        if (rc == 0) {
            size_t sn = 0;
            rc = duet_ckpt_read_alloc(h, "train_state", MAX_STATE_BYTES, (void **)&state, &sn, err);
            sizes[0] = (int64_t)sn;
            if (rc == 0)
                rc = train_state_unpack(tr, state, sn, duet_ckpt_step(h), path, err);
        }
        duet_ckpt_close(h);
    }
    if (agree(tr, rc, err) != 0) {
        free(state);
        free(obj_state);
        return -1;
    }
    duet_dist_bcast(tr->dist, sizes, sizeof sizes, 0);
    if (tr->rank != 0) {
        state = duet_malloc((size_t)sizes[0]);
        obj_state = sizes[1] ? duet_malloc((size_t)sizes[1]) : NULL;
    }
    duet_dist_bcast(tr->dist, tr->params.w, pbytes, 0);
    duet_dist_bcast(tr->dist, tr->m, pbytes, 0);
    duet_dist_bcast(tr->dist, tr->v, pbytes, 0);
    if (tr->ema)
        duet_dist_bcast(tr->dist, tr->ema, pbytes, 0);
    duet_dist_bcast(tr->dist, state, (size_t)sizes[0], 0);
    if (sizes[1])
        duet_dist_bcast(tr->dist, obj_state, (size_t)sizes[1], 0);
    if (tr->rank != 0)
        rc = train_state_unpack(tr, state, (size_t)sizes[0], get_i64(state + 8), path, err);
    if (rc == 0 && tr->obj->ops->state_load)
        rc = tr->obj->ops->state_load(tr->obj, obj_state, (size_t)sizes[1], err);
    free(state);
    free(obj_state);
    return agree(tr, rc, err);
}

static int resume(trainer *tr, duet_err *err)
{
    const char *how = tr->cfg->resume;
    if (strcmp(how, "none") == 0)
        return 0;
    char path[DUET_CFG_STR_MAX + 64] = "";
    int64_t found = 0;
    if (strcmp(how, "auto") == 0) {
        if (tr->rank == 0) {
            int64_t step = 0;
            int rc = duet_ckpt_find_latest(tr->cfg->run_dir, path, sizeof path, &step, ckpt_note,
                                           tr, err);
            found = rc == 0 ? 1 : (rc == 1 ? 0 : -1);
        }
        duet_dist_bcast(tr->dist, &found, sizeof found, 0);
        if (agree(tr, found < 0, err) != 0)
            return -1;
        if (!found)
            return 0;
    } else {
        if (duet_strlcpy(path, how, sizeof path) != 0)
            return duet_errf(err, "resume path too long");
    }
    if (load_checkpoint(tr, path, err) != 0)
        return -1;
    if (tr->rank == 0)
        fprintf(stderr, "duet-train: resumed from checkpoint %s at step %lld\n", path,
                (long long)tr->step);
    return 0;
}

/* ------------------------------------------------------------------- step */

static void load_batches(trainer *tr, const duet_loader *l, uint64_t cursor, int A)
{
    size_t per = (size_t)tr->B * (size_t)tr->L, per_src = (size_t)tr->B * (size_t)tr->Ls;
    for (int a = 0; a < A; a++)
        duet_loader_batch(l, cursor, a, tr->rank, tr->world, tr->B, tr->tokens + a * per,
                          tr->src ? tr->src + a * per_src : NULL);
}

static duet_batch micro_batch(const trainer *tr, int a, uint32_t step, int G)
{
    duet_batch b;
    b.B = tr->B;
    b.L = tr->L;
    b.tokens = tr->tokens + (size_t)a * tr->B * tr->L;
    b.src = tr->src ? tr->src + (size_t)a * tr->B * tr->Ls : NULL;
    b.Ls = tr->Ls;
    b.first_index = (uint32_t)((size_t)a * tr->world * tr->B + (size_t)tr->rank * tr->B);
    b.step = step;
    b.global_batch = G;
    return b;
}

/* Counts of A micro-batches, summed over micro-steps and ranks. */
static void global_counts(trainer *tr, int A, uint32_t step, int G, double *counts)
{
    const duet_objective_ops *ops = tr->obj->ops;
    memset(counts, 0, DUET_MAX_COUNTS * sizeof(double));
    for (int a = 0; a < A; a++) {
        duet_batch b = micro_batch(tr, a, step, G);
        double c[DUET_MAX_COUNTS] = {0};
        ops->count(tr->obj, &b, (uint64_t)tr->cfg->seed, c);
        for (int i = 0; i < ops->ncounts; i++)
            counts[i] += c[i];
    }
    duet_dist_allreduce_sum_f64(tr->dist, counts, (size_t)ops->ncounts);
}

static double validate(trainer *tr)
{
    const duet_objective_ops *ops = tr->obj->ops;
    int G = tr->world * tr->B;
    double total = 0.0;
    for (int vb = 0; vb < tr->cfg->val_batches; vb++) {
        load_batches(tr, tr->val, (uint64_t)vb * (uint64_t)G, 1);
        double counts[DUET_MAX_COUNTS];
        global_counts(tr, 1, VAL_STEP_KEY, G, counts);
        duet_step_ctx ctx = {tr->dist, (uint64_t)tr->cfg->seed, counts, NULL, 0};
        duet_batch b = micro_batch(tr, 0, VAL_STEP_KEY, G);
        double terms[DUET_MAX_TERMS] = {0};
        ops->forward_backward(tr->obj, &ctx, &b, tr->params.w, NULL, terms);
        duet_dist_allreduce_sum_f64(tr->dist, terms, (size_t)ops->nterms);
        for (int i = 0; i < ops->nterms; i++)
            total += terms[i];
    }
    return total / tr->cfg->val_batches;
}

static void check_replicas(trainer *tr)
{
    int64_t lo = (int64_t)duet_checksum_floats(tr->params.w, tr->params.total), hi = lo;
    duet_dist_allreduce_min_i64(tr->dist, &lo, 1);
    duet_dist_allreduce_max_i64(tr->dist, &hi, 1);
    if (lo != hi)
        duet_fatal("parameters diverged across ranks at step %lld (checksums differ); "
                   "replicas must stay identical", (long long)tr->step);
}

/* One optimizer step; returns 0, or DUET_TRAIN_NONFINITE to stop (message
 * in err). */
static int train_step(trainer *tr, step_record *rec, duet_err *err)
{
    const duet_config *c = tr->cfg;
    const duet_objective_ops *ops = tr->obj->ops;
    uint32_t step = (uint32_t)tr->step;
    double t0 = duet_now();
    load_batches(tr, tr->train, tr->cursor, tr->A);
    double t_data = duet_now() - t0;

    double counts[DUET_MAX_COUNTS];
    global_counts(tr, tr->A, step, tr->G, counts);
    duet_params_zero_grad(&tr->params);
    /* debug_nan_*: a fault on one rank, planted before the allreduces (the
     * backward accumulates into it), so the verdict below sees it on all. */
    int inject = c->debug_nan_step == tr->step && c->debug_nan_rank == tr->rank;
    double bad = strcmp(c->debug_nan_kind, "inf") == 0 ? INFINITY : NAN;
    if (inject && strcmp(c->debug_nan_where, "grad") == 0)
        tr->params.g[0] = (float)bad;
    grad_buckets_reset(&tr->buckets);
    duet_grad_hook hook = grad_buckets_hook(&tr->buckets);
    double terms[DUET_MAX_TERMS] = {0};
    for (int a = 0; a < tr->A; a++) {
        duet_batch b = micro_batch(tr, a, step, tr->G);
        duet_step_ctx ctx = {tr->dist, (uint64_t)c->seed, counts,
                             a == tr->A - 1 ? &hook : NULL, 1};
        double t[DUET_MAX_TERMS] = {0};
        ops->forward_backward(tr->obj, &ctx, &b, tr->params.w, tr->params.g, t);
        for (int i = 0; i < ops->nterms; i++)
            terms[i] += t[i];
    }
    if (inject && strcmp(c->debug_nan_where, "loss") == 0)
        terms[0] = bad;
    double t1 = duet_now();
    grad_buckets_finish(&tr->buckets);
    double t_comm = duet_now() - t1;
    if (ops->end_step)
        ops->end_step(tr->obj, tr->dist, step, (uint64_t)c->seed);
    duet_dist_allreduce_sum_f64(tr->dist, terms, (size_t)ops->nterms);

    double loss = 0.0;
    for (int i = 0; i < ops->nterms; i++)
        loss += terms[i];
    /* Gradients are identical on every rank after the allreduce, so is this. */
    double gnorm = duet_grad_norm(tr->params.g, tr->params.total);
    double lr = duet_lr_at(tr->step, c->lr, c->warmup, c->steps, c->lr_min_ratio,
                           strcmp(c->lr_schedule, "constant") == 0 ? DUET_LR_CONSTANT
                                                                    : DUET_LR_COSINE);
    memset(rec, 0, sizeof *rec);
    double loss_mean = tr->loss_ema; /* before this step, for the spike message */
    rec->skipped = !isfinite(gnorm) || !isfinite(loss);
    if (rec->skipped) {
        char detail[128];
        snprintf(detail, sizeof detail, "loss %g, gradient norm %g", loss, gnorm);
        if (strcmp(c->nan_policy, "stop") == 0) {
            progress_event(&tr->prog, tr->step, "non-finite step, stopping", detail);
            duet_errf(err, "non-finite loss or gradient at step %lld (%s); stopped without "
                           "updating the parameters, the last good checkpoint in '%s' is kept "
                           "(set nan_policy=skip to skip such steps)",
                      (long long)tr->step, detail, c->run_dir);
            return DUET_TRAIN_NONFINITE;
        }
        tr->nan_skipped++;
        snprintf(detail + strlen(detail), sizeof detail - strlen(detail), "; %lld skipped so far",
                 (long long)tr->nan_skipped);
        progress_event(&tr->prog, tr->step, "non-finite step skipped", detail);
    } else {
        if (c->grad_clip > 0)
            duet_clip_grad(tr->params.g, tr->params.total, gnorm, c->grad_clip);
        duet_adamw_hparams h = {lr, c->beta1, c->beta2, c->adam_eps, c->weight_decay};
        duet_adamw_step(&tr->params, tr->m, tr->v, &h, tr->step + 1);
        if (tr->ema) {
            /* warm-up keeps the EMA useful in short runs: min(decay, (1+n)/(10+n)) */
            double warm = (1.0 + (double)tr->step) / (10.0 + (double)tr->step);
            duet_ema_update(tr->ema, tr->params.w, tr->params.total,
                            (float)(c->ema_decay < warm ? c->ema_decay : warm));
        }
        rec->spike = tr->loss_ema > 0 && loss > c->spike_factor * tr->loss_ema;
        tr->loss_ema = tr->loss_ema > 0 ? 0.98 * tr->loss_ema + 0.02 * loss : loss;
    }
    double t_end = duet_now();
    rec->step = tr->step;
    rec->steps = c->steps;
    rec->loss = loss;
    rec->nterms = ops->nterms;
    rec->term_names = ops->term_names;
    memcpy(rec->terms, terms, sizeof terms);
    if (ops->metrics)
        rec->nmetrics = ops->metrics(tr->obj, rec->metrics, DUET_MAX_METRICS);
    rec->lr = lr;
    rec->grad_norm = gnorm;
    rec->tokens = (double)tr->G * tr->L;
    rec->t_step = t_end - t0;
    rec->t_data = t_data;
    rec->t_comm = t_comm;
    rec->t_compute = rec->t_step - t_data - t_comm;
    rec->val_loss = NAN;
    if (rec->spike) {
        char detail[128];
        snprintf(detail, sizeof detail, "loss %.4f vs running mean %.4f", loss, loss_mean);
        progress_event(&tr->prog, tr->step, "loss spike", detail);
    }
    tr->cursor += (uint64_t)tr->G;
    tr->step++;
    return 0;
}

/* ------------------------------------------------------------------- main */

static void trainer_free(trainer *tr)
{
    progress_close(&tr->prog);
    duet_objective_free(tr->obj);
    duet_params_free(&tr->params);
    free(tr->m);
    free(tr->v);
    free(tr->ema);
    free(tr->tokens);
    free(tr->src);
    duet_loader_free(tr->train);
    duet_loader_free(tr->val);
    duet_shards_close(tr->train_set);
    duet_shards_close(tr->val_set);
    duet_tokenizer_free(tr->tok);
}

static void announce(const trainer *tr)
{
    if (tr->rank != 0)
        return;
    const duet_config *c = tr->cfg;
    fprintf(stderr,
            "duet-train: objective %s, %zu parameters, %d rank%s (%s) x batch %d x accumulation "
            "%d = global batch %d sequences of %d tokens (%d tokens/step), %d thread%s/rank\n",
            c->objective, tr->params.total, tr->world, tr->world == 1 ? "" : "s",
            duet_dist_backend(), tr->B, tr->A, tr->G, tr->L, tr->G * tr->L, c->threads,
            c->threads == 1 ? "" : "s");
    fprintf(stderr, "duet-train: %llu training sequences per epoch; run_dir %s\n",
            (unsigned long long)duet_loader_epoch_size(tr->train), c->run_dir);
    uint64_t src_cut = 0, tgt_cut = duet_loader_truncated(tr->train, &src_cut);
    if (tgt_cut || src_cut)
        fprintf(stderr, "duet-train: warning: %llu targets longer than seq_len=%d and %llu sources "
                        "longer than src_len=%d are cut (raise them to keep every token)\n",
                (unsigned long long)tgt_cut, c->seq_len, (unsigned long long)src_cut, c->src_len);
}

enum duet_train_result duet_train(const duet_config *cfg, duet_dist *dist, duet_err *err)
{
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.cfg = cfg;
    tr.dist = dist;
    tr.rank = duet_dist_rank(dist);
    tr.world = duet_dist_size(dist);
    tr.B = cfg->batch_size;
    tr.A = cfg->grad_accum;
    tr.L = cfg->seq_len;
    tr.G = tr.world * tr.B * tr.A;
    duet_set_threads(cfg->threads);
    enum duet_train_result result = DUET_TRAIN_FAILED;

    if (agree(&tr, open_data(&tr, err), err) != 0)
        goto done;
    int rc = tr.rank == 0 ? make_dir(cfg->run_dir, err) : 0;
    if (agree(&tr, rc, err) != 0)
        goto done;
    if (agree(&tr, build_model(&tr, err), err) != 0)
        goto done;
    /* SPEC 1.6 rule 1: rank 0's initialisation is everyone's. */
    duet_dist_bcast(dist, tr.params.w, tr.params.total * sizeof(float), 0);
    if (tr.ema)
        memcpy(tr.ema, tr.params.w, tr.params.total * sizeof(float));
    if (resume(&tr, err) != 0)
        goto done;
    rc = progress_open(&tr.prog, cfg->run_dir, tr.rank == 0, cfg->log_every_s, tr.step, err);
    if (agree(&tr, rc, err) != 0)
        goto done;
    announce(&tr);

    while (tr.step < cfg->steps) {
        int64_t sig = stop_signal;
        duet_dist_allreduce_max_i64(dist, &sig, 1);
        if (sig) {
            char detail[64];
            snprintf(detail, sizeof detail, "signal %d: writing a checkpoint", (int)sig);
            progress_event(&tr.prog, tr.step, "stop requested", detail);
            if (save_checkpoint(&tr, err) != 0) {
                result = DUET_TRAIN_CKPT_FAILED;
                goto done;
            }
            result = DUET_TRAIN_PREEMPTED;
            goto done;
        }
        if (cfg->debug_kill_step == tr.step && cfg->debug_kill_rank == tr.rank)
            raise(SIGKILL);
        step_record rec;
        rc = train_step(&tr, &rec, err);
        if (rc != 0) {
            result = (enum duet_train_result)rc;
            goto done;
        }
        if (cfg->debug_signal_step == (int)tr.step && tr.rank == 0)
            raise(SIGUSR1);
        if (cfg->val_every > 0 && tr.val && tr.step % cfg->val_every == 0)
            rec.val_loss = validate(&tr);
        if (cfg->check_every > 0 && tr.step % cfg->check_every == 0)
            check_replicas(&tr);
        progress_step(&tr.prog, &rec, tr.step == cfg->steps);
        int due = cfg->ckpt_every > 0 && tr.step % cfg->ckpt_every == 0;
        if (due || tr.step == cfg->steps) {
            if (save_checkpoint(&tr, err) != 0 && ckpt_failed(&tr, err) != 0) {
                result = DUET_TRAIN_CKPT_FAILED;
                goto done;
            }
        }
    }
    if (tr.rank == 0 && tr.nan_skipped)
        fprintf(stderr, "duet-train: %lld non-finite steps were skipped\n",
                (long long)tr.nan_skipped);
    if (tr.rank == 0 && tr.ckpt_failed)
        fprintf(stderr, "duet-train: %lld checkpoint writes failed\n", (long long)tr.ckpt_failed);
    result = DUET_TRAIN_DONE;
done:
    trainer_free(&tr);
    return result;
}
