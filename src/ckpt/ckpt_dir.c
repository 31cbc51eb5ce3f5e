/* Run-directory conventions: canonical checkpoint names, the newest
 * checkpoint that verifies (for resume), and pruning old ones. */
#include "duet/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_FMT "ckpt_%010lld.duet"
#define TMP_SUFFIX ".tmp"

int duet_ckpt_path(const char *dir, int64_t step, char *buf, size_t cap)
{
    if (step < 0)
        return -1;
    int n = snprintf(buf, cap, "%s/" NAME_FMT, dir, (long long)step);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* One checkpoint-like file of a directory. */
typedef struct found {
    int64_t step;
    int is_tmp;
    char *path;
} found;

typedef struct listing {
    found *files; /* checkpoints newest first, then .tmp leftovers */
    size_t n, nckpt;
} listing;

/* Step of a canonical name "ckpt_<10+ digits>.duet[.tmp]", or -1. The name
 * must be exactly what duet_ckpt_path produces, so each step has one file. */
static int64_t parse_name(const char *name, int *is_tmp)
{
    if (strncmp(name, "ckpt_", 5) != 0)
        return -1;
    int64_t step = 0;
    const char *p = name + 5;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (p - name - 5 >= 18) /* keeps step < 10^18 < INT64_MAX */
            return -1;
        step = step * 10 + (*p - '0');
    }
    char canon[64];
    snprintf(canon, sizeof canon, NAME_FMT, (long long)step);
    size_t len = strlen(canon);
    if (strncmp(name, canon, len) != 0)
        return -1;
    *is_tmp = strcmp(name + len, TMP_SUFFIX) == 0;
    return *is_tmp || name[len] == 0 ? step : -1;
}

static int newest_first(const void *a, const void *b)
{
    const found *x = a, *y = b;
    if (x->is_tmp != y->is_tmp)
        return x->is_tmp - y->is_tmp;
    return (x->step < y->step) - (x->step > y->step);
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->files[i].path);
    free(l->files);
}

/* Lists the checkpoint files of dir. Returns 0, 1 if dir does not exist,
 * -1 on error. */
static int list_dir(const char *dir, listing *l, duet_err *err)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 1;
        return duet_errf(err, "cannot list checkpoint directory %s: %s", dir, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
        int is_tmp;
        int64_t step = parse_name(de->d_name, &is_tmp);
        if (step < 0)
            continue; /* not ours */
        if (l->n == cap)
            l->files = duet_realloc(l->files, (cap = cap ? 2 * cap : 16) * sizeof *l->files);
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        found *f = &l->files[l->n++];
        f->step = step;
        f->is_tmp = is_tmp;
        f->path = duet_malloc(len);
        snprintf(f->path, len, "%s/%s", dir, de->d_name);
        l->nckpt += !is_tmp;
    }
    int rd_errno = errno;
    closedir(d);
    if (rd_errno != 0) {
        listing_free(l);
        return duet_errf(err, "cannot list checkpoint directory %s: %s", dir, strerror(rd_errno));
    }
    if (l->n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(l->files, l->n, sizeof *l->files, newest_first);
    return 0;
}

static void notef(duet_ckpt_note_fn note, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void notef(duet_ckpt_note_fn note, void *ctx, const char *fmt, ...)
{
    if (!note)
        return;
    char msg[2 * DUET_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    note(ctx, msg);
}

/* Full verification plus agreement of the header step with the name. */
static int valid(const found *f, duet_err *err)
{
    duet_ckpt *h = duet_ckpt_open(f->path, err);
    if (!h)
        return -1;
    int rc = 0;
    if (duet_ckpt_step(h) != f->step)
        rc = duet_errf(err, "%s: header says step %lld, the file name says %lld", f->path,
                       (long long)duet_ckpt_step(h), (long long)f->step);
    if (rc == 0)
        rc = duet_ckpt_check(h, err);
    duet_ckpt_close(h);
    return rc;
}

int duet_ckpt_find_latest(const char *dir, char *out_path, size_t cap, int64_t *step,
                          duet_ckpt_note_fn note, void *ctx, duet_err *err)
{
    listing l;
    int rc = list_dir(dir, &l, err);
    if (rc != 0)
        return rc;
    for (size_t i = l.nckpt; i < l.n; i++)
        notef(note, ctx, "ignoring %s: leftover of an interrupted checkpoint write",
              l.files[i].path);
    rc = 1;
    for (size_t i = 0; rc == 1 && i < l.nckpt; i++) {
        duet_err why;
        if (valid(&l.files[i], &why) != 0) {
            notef(note, ctx, "skipping invalid checkpoint: %s", why.msg);
        } else if (duet_strlcpy(out_path, l.files[i].path, cap) != 0) {
            rc = duet_errf(err, "checkpoint path %s does not fit in %zu bytes", l.files[i].path,
                           cap);
        } else {
            *step = l.files[i].step;
            rc = 0;
        }
    }
    listing_free(&l);
    return rc;
}

static int remove_file(const char *path, const char *why, duet_ckpt_note_fn note, void *ctx,
                       duet_err *err)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return duet_errf(err, "cannot delete %s: %s", path, strerror(errno));
    notef(note, ctx, "deleted %s (%s)", path, why);
    return 0;
}

int duet_ckpt_prune(const char *dir, int keep, duet_ckpt_note_fn note, void *ctx,
                    duet_err *err)
{
    if (keep < 1)
        return duet_errf(err, "pruning %s: must keep at least 1 checkpoint, not %d", dir, keep);
    listing l;
    int rc = list_dir(dir, &l, err);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    int deleted = 0, kept = 0;
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        const found *f = &l.files[i];
        duet_err why;
        if (f->is_tmp) {
            rc = remove_file(f->path, "leftover of an interrupted checkpoint write", note, ctx, err);
        } else if (kept >= keep) {
            rc = remove_file(f->path, "older than the checkpoints kept", note, ctx, err);
        } else if (valid(f, &why) == 0) {
            kept++;
            continue;
        } else if (kept == 0) {
            notef(note, ctx, "keeping invalid checkpoint newer than any valid one: %s", why.msg);
            continue;
        } else {
            rc = remove_file(f->path, why.msg, note, ctx, err);
        }
        deleted += rc == 0;
    }
    listing_free(&l);
    return rc == 0 ? deleted : -1;
}
