/* Model loading from checkpoints and text generation (see duet/sampler.h). */
#include "duet/sampler.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duet/ckpt.h"
#include "duet/json.h"
#include "duet/ops.h"

int duet_model_load(duet_model *m, const char *path, int use_ema, int max_batch, duet_err *err)
{
    memset(m, 0, sizeof *m);
    duet_params_init(&m->params);
    m->max_batch = max_batch;
    if (!*path)
        return duet_errf(err, "no checkpoint given (set ckpt=PATH)");
    duet_ckpt *h = duet_ckpt_open(path, err);
    if (!h)
        return -1;
    int rc = -1;
    size_t n = 0;
    char *config = NULL;
    void *tok = NULL;
    m->step = duet_ckpt_step(h);
    if (duet_ckpt_read_alloc(h, "config", (size_t)16 << 20, (void **)&config, &n, err) != 0)
        goto out; /* read_alloc NUL-terminates */
    duet_config_defaults(&m->cfg);
    char where[DUET_CFG_STR_MAX + 32];
    snprintf(where, sizeof where, "%s [config section]", path);
    if (duet_config_parse_text(&m->cfg, config, where, DUET_SCOPE_TRAIN, err) != 0)
        goto out;
    if (duet_ckpt_expect_objective(h, m->cfg.objective, err) != 0)
        goto out;
    if (duet_ckpt_read_alloc(h, "tokenizer", (size_t)1 << 30, &tok, &n, err) != 0 ||
        !(m->tok = duet_tokenizer_from_bytes(tok, n, path, err)))
        goto out;
    m->obj = duet_objective_create(&m->cfg, duet_tokenizer_vocab_size(m->tok), &m->params,
                                   max_batch, err);
    if (!m->obj) {
        /* a config that builds no model is a bad checkpoint: say which one */
        duet_err_prefix(err, "%s", path);
        goto out;
    }
    duet_params_alloc(&m->params);
    size_t bytes = m->params.total * sizeof(float);
    if (duet_ckpt_read(h, "params", m->params.w, bytes, err) != 0)
        goto out;
    m->W = m->params.w;
    if (use_ema && duet_ckpt_find(h, "ema")) {
        m->ema = duet_falloc(m->params.total);
        if (duet_ckpt_read(h, "ema", m->ema, bytes, err) != 0)
            goto out;
        m->W = m->ema;
    }
    if (m->obj->ops->state_bytes) {
        size_t want = m->obj->ops->state_bytes(m->obj);
        void *state = duet_malloc(want);
        int src = duet_ckpt_read(h, "objective", state, want, err);
        if (src == 0)
            src = m->obj->ops->state_load(m->obj, state, want, err);
        free(state);
        if (src != 0)
            goto out;
    }
    rc = 0;
out:
    free(config);
    free(tok);
    duet_ckpt_close(h);
    if (rc != 0)
        duet_model_free(m);
    return rc;
}

void duet_model_free(duet_model *m)
{
    duet_objective_free(m->obj);
    duet_params_free(&m->params);
    duet_tokenizer_free(m->tok);
    free(m->ema);
    memset(m, 0, sizeof *m);
}

char *duet_tokens_to_text(const duet_tokenizer *t, const int32_t *ids, int n, size_t *len)
{
    int end = 0;
    while (end < n && ids[end] != DUET_TOK_EOS)
        end++;
    size_t raw_len = 0;
    char *raw = duet_tokenizer_decode(t, ids, (size_t)end, &raw_len);
    size_t o = 0;
    int pending_space = 0;
    for (size_t i = 0; i < raw_len; i++) {
        if (isspace((unsigned char)raw[i])) {
            pending_space = o > 0;
            continue;
        }
        if (pending_space)
            raw[o++] = ' ';
        pending_space = 0;
        raw[o++] = raw[i];
    }
    raw[o] = 0;
    if (len)
        *len = o;
    return raw;
}

/* Sources of a conditional model: one text per line of path, each framed
 * like paired training data (BOS s EOS PAD... in Ls, or BOS + the first
 * Ls-1 tokens). Returns [*n, Ls] (malloc'ed) or NULL with a message. */
static int32_t *read_sources(duet_model *m, const char *path, int Ls, int *n, duet_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        duet_errf(err, "source_file '%s': %s", path, strerror(errno));
        return NULL;
    }
    int32_t *src = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t k = 0;
        int32_t *ids = duet_tokenizer_encode(m->tok, line, (size_t)len, &k);
        src = duet_realloc(src, (size_t)(*n + 1) * (size_t)Ls * sizeof(int32_t));
        int32_t *row = src + (size_t)*n * Ls;
        int w = 0;
        row[w++] = DUET_TOK_BOS;
        for (size_t i = 0; i < k && w < Ls; i++)
            row[w++] = ids[i];
        if (w < Ls)
            row[w++] = DUET_TOK_EOS;
        while (w < Ls)
            row[w++] = DUET_TOK_PAD;
        free(ids);
        (*n)++;
    }
    int bad = ferror(f);
    free(line);
    fclose(f);
    if (bad || *n == 0) {
        duet_errf(err, "source_file '%s': %s", path, bad ? "read error" : "no lines");
        free(src);
        return NULL;
    }
    return src;
}

int duet_sample_to_file(duet_model *m, const duet_config *scfg, FILE *out,
                        duet_sample_report *rep, duet_err *err)
{
    if (!m->obj->ops->sample)
        return duet_errf(err, "objective '%s' cannot generate text on its own",
                         m->cfg.objective);
    duet_set_threads(scfg->threads);
    int len = scfg->sample_len > 0 ? scfg->sample_len : m->cfg.seq_len;
    if (len > m->cfg.seq_len)
        return duet_errf(err, "sample_len %d exceeds the model's seq_len %d", len, m->cfg.seq_len);
    size_t prompt_len = 0;
    int32_t *prompt = NULL;
    if (*scfg->prompt)
        prompt = duet_tokenizer_encode(m->tok, scfg->prompt, strlen(scfg->prompt), &prompt_len);
    int total = scfg->n_samples, Ls = m->cfg.src_len;
    int32_t *srcs = NULL;
    if (*scfg->source_file) {
        if (Ls <= 0) {
            free(prompt);
            return duet_errf(err, "source_file '%s' given, but the model is unconditional "
                                  "(src_len=0 in its checkpoint)", scfg->source_file);
        }
        if (!(srcs = read_sources(m, scfg->source_file, Ls, &total, err))) {
            free(prompt);
            return -1;
        }
    }
    int chunk = DUET_MIN(scfg->sample_batch, m->max_batch);
    int32_t *ids = duet_malloc((size_t)chunk * (size_t)len * sizeof(int32_t));
    double nfe_total = 0.0, t0 = duet_now();
    int rc = 0;
    for (int start = 0; start < total && rc == 0; start += chunk) {
        int n = DUET_MIN(chunk, total - start);
        duet_sample_opts o;
        memset(&o, 0, sizeof o);
        o.n = n;
        o.len = len;
        o.steps = scfg->sample_steps;
        o.seed = (uint64_t)scfg->seed;
        o.first_index = (uint32_t)start;
        o.temperature = (float)scfg->temperature;
        o.top_k = scfg->top_k;
        o.top_p = (float)scfg->top_p;
        o.prompt = prompt;
        o.prompt_len = (int)prompt_len;
        o.src = srcs ? srcs + (size_t)start * Ls : NULL;
        o.Ls = srcs ? Ls : 0;
        o.cfg = scfg;
        double nfe = 0.0;
        rc = m->obj->ops->sample(m->obj, m->W, &o, ids, &nfe, err);
        if (rc != 0)
            break;
        nfe_total += nfe * n;
        for (int r = 0; r < n; r++) {
            size_t tl = 0;
            char *text = duet_tokens_to_text(m->tok, ids + (size_t)r * len, len, &tl);
            if (strcmp(scfg->format, "jsonl") == 0) {
                fprintf(out, "{\"index\":%d,\"text\":", start + r);
                duet_json_write_string(out, text, tl);
                fprintf(out, ",\"nfe\":%g}\n", nfe);
            } else {
                fwrite(text, 1, tl, out);
                fputc('\n', out);
            }
            free(text);
        }
        fflush(out);
    }
    if (rep) {
        rep->n = total;
        rep->seconds = duet_now() - t0;
        rep->nfe_per_sample = total ? nfe_total / total : 0;
    }
    free(ids);
    free(srcs);
    free(prompt);
    if (rc == 0 && ferror(out))
        return duet_errf(err, "error writing samples");
    return rc;
}

int duet_judge_score(duet_model *m, const char *const *texts, const size_t *lens, size_t n,
                     int max_tokens, double *nll, size_t *ntok, float *features,
                     size_t *truncated, duet_err *err)
{
    if (!m->obj->ops->score)
        return duet_errf(err, "judge checkpoint has objective '%s'; the judge must be an 'ar' model",
                         m->cfg.objective);
    int L = m->cfg.seq_len, D = m->cfg.dim, B = m->max_batch;
    int limit = max_tokens > 0 && max_tokens < L - 1 ? max_tokens : L - 1; /* BOS takes one */
    int32_t *rows = duet_malloc((size_t)B * (size_t)L * sizeof(int32_t));
    int *row_len = duet_malloc((size_t)B * sizeof(int));
    double *row_nll = duet_malloc((size_t)B * sizeof(double));
    float *row_feat = duet_malloc((size_t)B * (size_t)D * sizeof(float));
    *truncated = 0;
    for (size_t start = 0; start < n; start += (size_t)B) {
        int nb = (int)DUET_MIN((size_t)B, n - start);
        for (int b = 0; b < nb; b++) {
            size_t count = 0;
            int32_t *ids = duet_tokenizer_encode(m->tok, texts[start + b], lens[start + b], &count);
            if (count > (size_t)limit) {
                count = (size_t)limit;
                (*truncated)++;
            }
            int32_t *row = rows + (size_t)b * L;
            row[0] = DUET_TOK_BOS;
            memcpy(row + 1, ids, count * sizeof(int32_t));
            for (int i = 1 + (int)count; i < L; i++)
                row[i] = DUET_TOK_PAD;
            row_len[b] = 1 + (int)count;
            free(ids);
        }
        m->obj->ops->score(m->obj, m->W, rows, row_len, nb, L, row_nll, row_feat);
        for (int b = 0; b < nb; b++) {
            nll[start + b] = row_nll[b];
            ntok[start + b] = (size_t)(row_len[b] - 1);
            memcpy(features + (start + b) * (size_t)D, row_feat + (size_t)b * D,
                   (size_t)D * sizeof(float));
        }
    }
    free(rows);
    free(row_len);
    free(row_nll);
    free(row_feat);
    return 0;
}
