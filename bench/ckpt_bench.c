/* Checkpoint write/read throughput and compression ratio on AdamW-like
 * float32 slabs: params ~ N(0, 0.02), EMA = params + N(0, 1e-4),
 * m ~ N(0, 1e-4), v = (1e-3 z)^2 (squared gradient scale).
 *
 *   ckpt_bench NPARAMS DIR LEVEL...
 *
 * Each level runs with the slabs declared as float32 ("elem":4: byte
 * shuffle + run-length coding, what the trainer uses) and, for levels >= 1,
 * as opaque bytes ("elem":0: plain zlib at that level) for comparison.
 * Prints one JSON line per (level, elem, operation). MB = 1e6 bytes of raw
 * (uncompressed) section data; write time includes fsync and rename. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "duet/ckpt.h"
#include "duet/rng.h"

enum { NSLAB = 4 };
static const char *const slab_names[NSLAB] = {"params", "adam_m", "adam_v", "ema"};

static void fill_slabs(float *slab[NSLAB], size_t n)
{
    duet_rng r = duet_rng_keyed(1234, 0, 0, DUET_STREAM_USER);
    for (size_t i = 0; i < n; i++) {
        float w = 0.02f * duet_rng_normal(&r);
        float g = 1e-3f * duet_rng_normal(&r);
        slab[0][i] = w;
        slab[1][i] = 1e-4f * duet_rng_normal(&r);
        slab[2][i] = g * g;
        slab[3][i] = w + 1e-4f * duet_rng_normal(&r);
    }
}

static int fail(const duet_err *err)
{
    fprintf(stderr, "ckpt_bench: %s\n", err->msg);
    return 1;
}

/* Write, read back (and compare), and verify one checkpoint. */
static int run(const char *path, float *slab[NSLAB], float *back[NSLAB], size_t n, int level,
               size_t elem)
{
    duet_err err;
    size_t bytes = n * sizeof(float);
    double raw_mb = 1e-6 * (double)bytes * NSLAB;
    duet_ckpt_section sec[NSLAB];
    for (int k = 0; k < NSLAB; k++)
        sec[k] = (duet_ckpt_section){slab_names[k], slab[k], bytes, elem};
    duet_ckpt_meta meta = {.step = 1000, .objective = "mdlm"};

    double t0 = duet_now();
    if (duet_ckpt_write(path, &meta, sec, NSLAB, level, &err) != 0)
        return fail(&err);
    double t_write = duet_now() - t0;
    struct stat st;
    if (stat(path, &st) != 0)
        return perror(path), 1;

    t0 = duet_now();
    duet_ckpt *h = duet_ckpt_open(path, &err);
    if (!h)
        return fail(&err);
    for (int k = 0; k < NSLAB; k++)
        if (duet_ckpt_read(h, slab_names[k], back[k], bytes, &err) != 0)
            return fail(&err);
    double t_read = duet_now() - t0;
    for (int k = 0; k < NSLAB; k++)
        if (memcmp(back[k], slab[k], bytes) != 0) {
            fprintf(stderr, "ckpt_bench: %s differs after the round trip\n", slab_names[k]);
            return 1;
        }
    printf("{\"bench\":\"ckpt\",\"op\":\"write\",\"level\":%d,\"elem\":%zu,\"params\":%zu,"
           "\"raw_mb\":%.1f,\"file_mb\":%.1f,\"ratio\":%.4f", level, elem, n, raw_mb,
           1e-6 * (double)st.st_size,
           1e6 * raw_mb / (double)st.st_size);
    for (int k = 0; k < NSLAB; k++) {
        const duet_ckpt_entry *e = duet_ckpt_find(h, slab_names[k]);
        printf(",\"ratio_%s\":%.4f", slab_names[k], (double)e->raw_size / (double)e->comp_size);
    }
    printf(",\"seconds\":%.3f,\"mb_s\":%.1f}\n", t_write, raw_mb / t_write);
    printf("{\"bench\":\"ckpt\",\"op\":\"read\",\"level\":%d,\"elem\":%zu,\"params\":%zu,"
           "\"raw_mb\":%.1f,\"seconds\":%.3f,\"mb_s\":%.1f}\n", level, elem, n, raw_mb, t_read,
           raw_mb / t_read);

    t0 = duet_now();
    if (duet_ckpt_check(h, &err) != 0)
        return fail(&err);
    double t_check = duet_now() - t0;
    printf("{\"bench\":\"ckpt\",\"op\":\"verify\",\"level\":%d,\"elem\":%zu,\"params\":%zu,"
           "\"raw_mb\":%.1f,\"seconds\":%.3f,\"mb_s\":%.1f}\n", level, elem, n, raw_mb, t_check,
           raw_mb / t_check);
    fflush(stdout);
    duet_ckpt_close(h);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ckpt_bench NPARAMS DIR LEVEL...\n");
        return 2;
    }
    char *end;
    size_t n = strtoull(argv[1], &end, 10);
    if (*end || n == 0) {
        fprintf(stderr, "ckpt_bench: bad NPARAMS '%s'\n", argv[1]);
        return 2;
    }
    char path[4096];
    if (duet_ckpt_path(argv[2], 1000, path, sizeof path) != 0) {
        fprintf(stderr, "ckpt_bench: directory name too long\n");
        return 2;
    }
    float *slab[NSLAB], *back[NSLAB];
    for (int k = 0; k < NSLAB; k++) {
        slab[k] = duet_falloc(n);
        back[k] = duet_falloc(n);
    }
    fill_slabs(slab, n);
    int rc = 0;
    for (int i = 3; rc == 0 && i < argc; i++) {
        int level = atoi(argv[i]);
        rc = run(path, slab, back, n, level, 4);
        if (rc == 0 && level > 0)
            rc = run(path, slab, back, n, level, 0);
    }
    remove(path);
    for (int k = 0; k < NSLAB; k++) {
        free(slab[k]);
        free(back[k]);
    }
    return rc;
}
