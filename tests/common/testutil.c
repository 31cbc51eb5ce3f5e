#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <math.h>
#include <stdarg.h>

#include "duet/ckpt.h"
#include "duet/util.h"

char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/duet-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl))
        duet_fatal("mkdtemp(%s) failed", tmpl);
    return duet_strdup(tmpl);
}

void test_rmtree(const char *path)
{
    if (!path || !*path || strcmp(path, "/") == 0)
        return;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

char *test_write_file(const char *dir, const char *name, const void *data, size_t n)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = duet_malloc(len);
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        duet_fatal("cannot write %s", path);
    return path;
}

/* All of f, NUL-terminated (the terminator not counted in *n). */
static char *read_stream(FILE *f, size_t *n)
{
    size_t cap = 1 << 12, len = 0, got;
    char *buf = duet_malloc(cap);
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap)
            buf = duet_realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    if (n)
        *n = len;
    return buf;
}

void *test_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = read_stream(f, n);
    fclose(f);
    return buf;
}

char *test_bin(const char *name)
{
    const char *b = getenv("DUET_BUILD");
    size_t len = strlen(name) + 4096;
    char *p = duet_malloc(len);
    snprintf(p, len, "%s/bin/%s", b && *b ? b : "build", name);
    return p;
}

int test_run(const char *cmd, char **out)
{
    size_t len = strlen(cmd) + 16;
    char *full = duet_malloc(len);
    snprintf(full, len, "( %s ) 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (!p)
        return -1;
    char *buf = read_stream(p, NULL);
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

double test_max_rel_err(const float *a, const float *b, size_t n, double floor)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double s = fmax(fabs((double)b[i]), floor);
        if (!(d / s <= m)) /* also catches NaN */
            m = isnan(d) ? INFINITY : d / s;
    }
    return m;
}

char *test_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = duet_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *test_tiny_data(void)
{
    char *dir = test_tmpdir(), *prep = test_bin("duet-prep"), *out = NULL;
    char *cmd = test_strf(
        "%s tokenizer input=shards/brown-train.txt.gz vocab_size=512 tok_sample_mb=2 "
        "tokenizer=%s/tok.bin && %s shards input=shards/brown-valid.txt.gz "
        "tokenizer=%s/tok.bin out_dir=%s/data num_shards=2 val_fraction=0.1",
        prep, dir, prep, dir, dir);
    if (test_run(cmd, &out) != 0)
        duet_fatal("data preparation failed: %s", out);
    free(out);
    free(cmd);
    free(prep);
    return dir;
}

int test_train_run(int np, const char *prefix, const char *dir, const char *run, const char *keys,
                   char **out)
{
    char *cmd =
        test_strf("launch/duet-mpirun.sh -np %d %s run_dir=%s/%s %s", np, prefix, dir, run, keys);
    int rc = test_run(cmd, out);
    free(cmd);
    return rc;
}

char *test_ckpt_of(const char *dir, const char *run, int step)
{
    char *sub = test_strf("%s/%s", dir, run), *path = duet_malloc(8192);
    if (duet_ckpt_path(sub, step, path, 8192) != 0)
        duet_fatal("checkpoint path of %s too long", sub);
    free(sub);
    return path;
}

void *test_ckpt_section(const char *path, const char *name, size_t *n)
{
    duet_err err;
    duet_ckpt *h = duet_ckpt_open(path, &err);
    void *buf = NULL;
    if (!h || duet_ckpt_read_alloc(h, name, (size_t)1 << 30, &buf, n, &err) != 0)
        duet_fatal("%s", err.msg);
    duet_ckpt_close(h);
    return buf;
}

int test_ckpt_sections_equal(const char *a, const char *b, const char *name)
{
    size_t na, nb;
    void *x = test_ckpt_section(a, name, &na), *y = test_ckpt_section(b, name, &nb);
    int eq = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return eq;
}
