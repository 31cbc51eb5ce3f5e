/* `duet-prep shards`: text inputs -> tokenized train/val shard files.
 *
 * Streams the inputs in batches of records (a few MB of text per thread),
 * encodes a batch on `threads` threads (each a contiguous run of records,
 * with its own encoder cache) and writes the batch in record order, so the
 * output is byte-identical for any thread count and memory is O(batch)
 * whatever the corpus size. */
#include "duet/data.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BATCH_BYTES_PER_THREAD ((size_t)4 << 20)
#define BATCH_MAX_RECORDS 65536
#define SPLIT_SALT 0x7a11d5eed0ddba11ULL

typedef struct batch_rec {
    size_t off[2], len[2];   /* text of each part in batch.text */
    size_t tok[2], ntok[2];  /* ids of each part in its worker's buffer */
    int worker;
    int split;               /* 0 train, 1 val */
} batch_rec;

typedef struct batch {
    char *text;
    size_t text_n, text_cap;
    batch_rec *rec;
    size_t nrec;
    int nparts;
} batch;

typedef struct worker {
    duet_tok_encoder *enc;
    int32_t *ids;
    size_t n, cap;
    batch *b;
    size_t r0, r1;           /* its records of the current batch */
    pthread_t th;
    int running;
} worker;

typedef struct builder {
    const duet_shards_build_opts *o;
    duet_shards_report *rep;
    int nworkers;
    worker *w;
    batch b;
    duet_shard_writer **train;
    duet_shard_writer *val;
    int val_written;
    uint64_t next_train;     /* training documents so far: picks the file */
    uint64_t bytes_done;     /* input bytes of finished passes */
    double t0, last_report;
} builder;

static uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* Held out when a hash of (seed, record index) is below the fraction: a
 * deterministic choice that needs no state and no second pass. */
static int goes_to_val(uint64_t index, uint64_t seed, double frac)
{
    if (frac <= 0)
        return 0;
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(index >> (8 * i));
    uint64_t h = fmix64(duet_hash64(b, sizeof b, seed ^ SPLIT_SALT));
    return (double)(h >> 11) * 0x1.0p-53 < frac;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && (s[i] < '\t' || s[i] > '\r'))
            return 0;
    return 1;
}

static void *work(void *arg)
{
    worker *w = arg;
    batch *b = w->b;
    w->n = 0;
    for (size_t i = w->r0; i < w->r1; i++) {
        batch_rec *r = &b->rec[i];
        for (int p = 0; p < b->nparts; p++) {
            r->tok[p] = w->n;
            duet_tok_encode_append(w->enc, b->text + r->off[p], r->len[p], &w->ids, &w->n,
                                   &w->cap);
            r->ntok[p] = w->n - r->tok[p];
        }
    }
    return NULL;
}

/* Worker k gets a contiguous run of records holding ~1/nworkers of the
 * text; worker 0 runs on the calling thread. */
static void encode_batch(builder *B)
{
    batch *b = &B->b;
    size_t per = b->text_n / (size_t)B->nworkers + 1, i = 0;
    for (int k = 0; k < B->nworkers; k++) {
        worker *w = &B->w[k];
        w->b = b;
        w->r0 = i;
        for (size_t bytes = 0; i < b->nrec && (bytes < per || k == B->nworkers - 1); i++) {
            bytes += b->rec[i].len[0] + b->rec[i].len[1];
            b->rec[i].worker = k;
        }
        w->r1 = i;
    }
    for (int k = 1; k < B->nworkers; k++) {
        worker *w = &B->w[k];
        w->running = w->r1 > w->r0 && pthread_create(&w->th, NULL, work, w) == 0;
        if (!w->running) /* nothing to do, or no thread to be had: same result inline */
            work(w);
    }
    work(&B->w[0]);
    for (int k = 1; k < B->nworkers; k++)
        if (B->w[k].running)
            pthread_join(B->w[k].th, NULL);
}

static void batch_add_text(batch *b, const char *s, size_t n, size_t *off)
{
    if (b->text_n + n > b->text_cap) {
        b->text_cap = DUET_MAX(b->text_n + n, 2 * b->text_cap);
        b->text = duet_realloc(b->text, b->text_cap);
    }
    memcpy(b->text + b->text_n, s, n);
    *off = b->text_n;
    b->text_n += n;
}

/* Reads the next batch of non-empty records; *eof when the input ends. */
static int fill_batch(builder *B, duet_text_reader *r, int all_val, int *eof, duet_err *err)
{
    batch *b = &B->b;
    b->nrec = 0;
    b->text_n = 0;
    size_t budget = BATCH_BYTES_PER_THREAD * (size_t)B->nworkers;
    while (b->text_n < budget && b->nrec < BATCH_MAX_RECORDS) {
        duet_text_record rec;
        int rc = duet_text_next(r, &rec, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            *eof = 1;
            break;
        }
        B->rep->records++;
        int empty = 0;
        for (int p = 0; p < b->nparts; p++)
            empty |= is_blank(rec.text[p], rec.len[p]);
        if (empty) {
            B->rep->empty++;
            continue;
        }
        batch_rec *br = &b->rec[b->nrec++];
        memset(br, 0, sizeof *br);
        br->split = all_val || (B->o->val_in.npaths == 0 &&
                                goes_to_val(rec.index, B->o->seed, B->o->val_fraction));
        for (int p = 0; p < b->nparts; p++) {
            batch_add_text(b, rec.text[p], rec.len[p], &br->off[p]);
            br->len[p] = rec.len[p];
        }
    }
    return 0;
}

static int write_batch(builder *B, duet_err *err)
{
    batch *b = &B->b;
    for (size_t i = 0; i < b->nrec; i++) {
        const batch_rec *r = &b->rec[i];
        const worker *w = &B->w[r->worker];
        duet_shard_writer *out = r->split ? B->val
                                          : B->train[B->next_train++ % (uint64_t)B->o->num_shards];
        for (int p = 0; p < b->nparts; p++) {
            if (duet_shard_writer_add(out, w->ids + r->tok[p], r->ntok[p], r->len[p], err) != 0)
                return -1;
            B->rep->tokens[r->split] += r->ntok[p];
            B->rep->text_bytes += r->len[p];
        }
        B->rep->docs[r->split]++;
    }
    return 0;
}

static void report(builder *B, const duet_text_reader *r, int final)
{
    double now = duet_now();
    if (!B->o->progress || (!final && now - B->last_report < 2))
        return;
    B->last_report = now;
    double mb = (B->bytes_done + (r ? duet_text_bytes(r) : 0)) / 1e6;
    fprintf(stderr, "duet-prep: shards: %.1f MB read, %.1f MB/s, %llu train + %llu val "
            "%s\n", mb, mb / DUET_MAX(now - B->t0, 1e-9),
            (unsigned long long)B->rep->docs[0], (unsigned long long)B->rep->docs[1],
            B->b.nparts == 2 ? "records" : "documents");
}

/* One pass over a set of inputs (all_val: every record is validation). */
static int run_pass(builder *B, const duet_text_spec *in, int all_val, duet_err *err)
{
    duet_text_reader *r = duet_text_open(in, err);
    if (!r)
        return -1;
    int eof = 0, rc = 0;
    while (!eof && rc == 0) {
        rc = fill_batch(B, r, all_val, &eof, err);
        if (rc == 0) {
            encode_batch(B);
            rc = write_batch(B, err);
        }
        report(B, r, 0);
    }
    B->bytes_done += duet_text_bytes(r);
    duet_text_close(r);
    return rc;
}

static int mkdir_p(const char *dir, duet_err *err)
{
    char p[PATH_MAX];
    if (duet_strlcpy(p, dir, sizeof p) != 0)
        return duet_errf(err, "out_dir too long: '%s'", dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return duet_errf(err, "cannot create directory '%s': %s", p, strerror(errno));
            *s = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return duet_errf(err, "out_dir '%s' is not a directory", dir);
    return 0;
}

static char *shard_name(const char *dir, const char *split, int k)
{
    size_t n = strlen(dir) + strlen(split) + 32;
    char *p = duet_malloc(n);
    snprintf(p, n, "%s/%s_%05d.bin", dir, split, k);
    return p;
}

/* Removes train_NNNNN.bin / val_NNNNN.bin files this run did not write
 * (from an earlier run with more shards), so a directory or prefix spec
 * never mixes two runs. */
static void remove_stale(const builder *B)
{
    const char *splits[2] = {"train", "val"};
    for (int s = 0; s < 2; s++) {
        char pat[PATH_MAX + 32];
        snprintf(pat, sizeof pat, "%s/%s_[0-9][0-9][0-9][0-9][0-9].bin", B->o->out_dir,
                 splits[s]);
        glob_t g;
        if (glob(pat, 0, NULL, &g) != 0)
            continue;
        int keep = s == 0 ? B->o->num_shards : B->val_written;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *base = strrchr(g.gl_pathv[i], '/') + 1;
            int k = atoi(base + strlen(splits[s]) + 1);
            if (k >= keep && remove(g.gl_pathv[i]) == 0 && B->o->progress)
                fprintf(stderr, "duet-prep: removed stale shard %s\n", g.gl_pathv[i]);
        }
        globfree(&g);
    }
}

int duet_shards_build(const duet_shards_build_opts *o, const duet_tokenizer *t,
                      duet_shards_report *rep, duet_err *err)
{
    memset(rep, 0, sizeof *rep);
    if (o->num_shards < 1)
        return duet_errf(err, "num_shards %d: must be at least 1", o->num_shards);
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return duet_errf(err, "val_fraction %g: must be in [0, 1)", o->val_fraction);
    if (o->val_in.npaths > 0 && o->val_in.paired != o->in.paired)
        return duet_errf(err, "validation inputs must be paired exactly when the inputs are");
    if (!o->out_dir || !*o->out_dir)
        return duet_errf(err, "out_dir is empty");
    if (mkdir_p(o->out_dir, err) != 0)
        return -1;
    builder B;
    memset(&B, 0, sizeof B);
    B.o = o;
    B.rep = rep;
    B.nworkers = DUET_MAX(1, o->threads);
    B.w = duet_calloc((size_t)B.nworkers, sizeof *B.w);
    for (int k = 0; k < B.nworkers; k++)
        B.w[k].enc = duet_tok_encoder_create(t);
    B.b.nparts = o->in.paired ? 2 : 1;
    B.b.rec = duet_malloc(BATCH_MAX_RECORDS * sizeof *B.b.rec);
    B.train = duet_calloc((size_t)o->num_shards, sizeof *B.train);
    B.t0 = B.last_report = duet_now();
    int vocab = duet_tokenizer_vocab_size(t), rc = 0;
    uint32_t id = duet_tokenizer_id(t);
    for (int k = 0; k < o->num_shards && rc == 0; k++) {
        char *path = shard_name(o->out_dir, "train", k);
        B.train[k] = duet_shard_writer_create(path, vocab, id, o->in.paired, err);
        rc = B.train[k] ? 0 : -1;
        free(path);
    }
    if (rc == 0 && (o->val_fraction > 0 || o->val_in.npaths > 0)) {
        char *path = shard_name(o->out_dir, "val", 0);
        B.val = duet_shard_writer_create(path, vocab, id, o->in.paired, err);
        rc = B.val ? 0 : -1;
        free(path);
    }
    if (rc == 0)
        rc = run_pass(&B, &o->in, 0, err);
    if (rc == 0 && o->val_in.npaths > 0)
        rc = run_pass(&B, &o->val_in, 1, err);
    if (rc == 0 && rep->docs[0] == 0)
        rc = duet_errf(err, "no training documents (%llu records read, %llu empty)",
                       (unsigned long long)rep->records, (unsigned long long)rep->empty);
    /* Finish (or on error abort) every writer. */
    for (int k = 0; k < o->num_shards; k++) {
        if (rc == 0)
            rc = duet_shard_writer_finish(B.train[k], err);
        else
            duet_shard_writer_abort(B.train[k]);
    }
    if (rc == 0 && B.val) {
        rc = duet_shard_writer_finish(B.val, err);
        B.val_written = rc == 0;
    } else {
        duet_shard_writer_abort(B.val);
    }
    if (rc == 0)
        remove_stale(&B);
    rep->seconds = duet_now() - B.t0;
    report(&B, NULL, 1);
    for (int k = 0; k < B.nworkers; k++) {
        duet_tok_encoder_free(B.w[k].enc);
        free(B.w[k].ids);
    }
    free(B.w);
    free(B.b.text);
    free(B.b.rec);
    free(B.train);
    return rc;
}
