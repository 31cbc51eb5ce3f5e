/* Checkpoint files: bitwise round trips, the documented layout, every kind
 * of corruption failing cleanly with a message naming the file, crash-safe
 * writes (the previous checkpoint survives a failed write), and the
 * run-directory helpers (newest valid checkpoint, pruning). */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "duet/ckpt.h"
#include "duet/rng.h"
#include "testutil.h"

/* Layout constants as documented in docs/formats.md ("Checkpoint file"),
 * spelled out here independently of the implementation. */
enum { HEADER = 72, ENTRY = 64, CRC_FIELD = 36 };

static char *dir;
static duet_err err;

static void setup(void)
{
    dir = test_tmpdir();
    memset(&err, 0, sizeof err);
}

static void teardown(void)
{
    test_rmtree(dir);
    free(dir);
}

static char *path_in(const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    snprintf(p, len, "%s/%s", dir, name);
    return p;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- a standard checkpoint ------------------------------------------- */

/* N(0, 0.02) floats like freshly initialised weights. */
static float *weights(size_t n, uint32_t seed)
{
    float *w = malloc(n * sizeof *w + 1);
    duet_rng r = duet_rng_keyed(seed, 0, 0, DUET_STREAM_USER);
    for (size_t i = 0; i < n; i++)
        w[i] = 0.02f * duet_rng_normal(&r);
    return w;
}

typedef struct fixture {
    duet_ckpt_section sec[4];
    float *params;
    uint8_t state[100];
} fixture;

static const char config_text[] = "dim = 64\nobjective = mdlm\n";

/* Sections: text, an empty one, float params of nparams (typed with
 * elem_size elem: 4, or 0 for opaque bytes), a small blob. */
static void fixture_init(fixture *f, size_t nparams, size_t elem)
{
    f->params = weights(nparams, 7);
    for (size_t i = 0; i < sizeof f->state; i++)
        f->state[i] = (uint8_t)(i * 37 + 11);
    f->sec[0] = (duet_ckpt_section){"config", config_text, strlen(config_text), 0};
    f->sec[1] = (duet_ckpt_section){"empty", NULL, 0, 0};
    f->sec[2] = (duet_ckpt_section){"params", f->params, nparams * sizeof(float), elem};
    f->sec[3] = (duet_ckpt_section){"train_state", f->state, sizeof f->state, 1};
}

/* LARGE params are 5 MiB: more than one DUET_CKPT_BLOCK both before and
 * after compression, the last block partial. */
enum { SMALL = 1000, LARGE = 5 << 18 };

static void write_ok(const char *path, int64_t step, const fixture *f, int level)
{
    duet_ckpt_meta meta = {.step = step, .objective = "mdlm"};
    duet_err e;
    ck_assert_msg(duet_ckpt_write(path, &meta, f->sec, 4, level, &e) == 0, "%s", e.msg);
}

/* Every section of f read back bitwise. */
static void expect_sections(const char *path, const fixture *f)
{
    duet_ckpt *h = duet_ckpt_open(path, &err);
    ck_assert_msg(h != NULL, "%s", err.msg);
    ck_assert_uint_eq(duet_ckpt_nsections(h), 4);
    for (size_t i = 0; i < 4; i++) {
        const duet_ckpt_entry *e = duet_ckpt_entry_at(h, i);
        ck_assert_str_eq(e->name, f->sec[i].name);
        ck_assert_uint_eq(e->raw_size, f->sec[i].size);
        ck_assert_ptr_eq(duet_ckpt_find(h, f->sec[i].name), e);
        uint8_t *buf = malloc(f->sec[i].size + 1);
        ck_assert_msg(duet_ckpt_read(h, f->sec[i].name, buf, f->sec[i].size, &err) == 0, "%s",
                      err.msg);
        ck_assert_int_eq(memcmp(buf, f->sec[i].data ? f->sec[i].data : "", f->sec[i].size), 0);
        free(buf);
    }
    ck_assert_int_eq(duet_ckpt_check(h, &err), 0);
    duet_ckpt_close(h);
}

/* ---- raw file surgery ------------------------------------------------- */

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le(uint8_t *p, int n, uint64_t v)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the header CRC after an edit, as documented: crc32 of header
 * and table with the CRC field as zeros. */
static void fix_crc(uint8_t *buf)
{
    size_t table_end = HEADER + ENTRY * get_le(buf + 32, 4);
    put_le(buf + CRC_FIELD, 4, 0);
    put_le(buf + CRC_FIELD, 4, crc32(0L, buf, (uInt)table_end));
}

/* Opens path and expects failure with a message naming the file and
 * containing `what`. */
static void expect_open_fails(const char *path, const char *what)
{
    duet_ckpt *h = duet_ckpt_open(path, &err);
    ck_assert_msg(h == NULL, "opened a corrupt file (expected '%s')", what);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, what), "message '%s' lacks '%s'",
                  err.msg, what);
}

static void save(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- round trip and layout -------------------------------------------- */

START_TEST(round_trip_levels)
{
    static const int levels[] = {0, 1, 6};
    for (size_t elem = 0; elem <= 4; elem += 4) {
        fixture f;
        fixture_init(&f, LARGE, elem);
        for (size_t k = 0; k < 3; k++) {
            char *p = path_in("rt.duet"), *tmp = path_in("rt.duet.tmp");
            write_ok(p, 12345678901LL, &f, levels[k]);
            expect_sections(p, &f);
            ck_assert(!exists(tmp));
            free(tmp);

            duet_ckpt *h = duet_ckpt_open(p, &err);
            ck_assert_int_eq(duet_ckpt_step(h), 12345678901LL);
            ck_assert_str_eq(duet_ckpt_objective(h), "mdlm");
            ck_assert_str_eq(duet_ckpt_file(h), p);
            const duet_ckpt_entry *e = duet_ckpt_find(h, "params");
            ck_assert_uint_eq(e->method, levels[k] == 0 ? DUET_CKPT_STORED
                                         : elem ? DUET_CKPT_SHUFFLED
                                                : DUET_CKPT_ZLIB);
            ck_assert_uint_eq(e->elem_size, elem ? elem : 1);
            ck_assert_ptr_null(duet_ckpt_find(h, "adam_m"));
            ck_assert_ptr_null(duet_ckpt_entry_at(h, 4));
            /* variable-size text comes back NUL-terminated */
            void *text;
            size_t n;
            ck_assert_int_eq(duet_ckpt_read_alloc(h, "config", 1 << 20, &text, &n, &err), 0);
            ck_assert_uint_eq(n, strlen(config_text));
            ck_assert_str_eq(text, config_text);
            free(text);
            ck_assert_int_eq(duet_ckpt_read_alloc(h, "empty", 0, &text, &n, &err), 0);
            ck_assert_uint_eq(n, 0);
            free(text);
            ck_assert_int_eq(duet_ckpt_read(h, "empty", NULL, 0, &err), 0);
            /* a missing section is named along with the ones present */
            float x;
            ck_assert_int_ne(duet_ckpt_read(h, "adam_m", &x, sizeof x, &err), 0);
            ck_assert_ptr_nonnull(strstr(err.msg, "no section 'adam_m'"));
            ck_assert_ptr_nonnull(strstr(err.msg, "config, empty, params, train_state"));
            ck_assert_int_eq(duet_ckpt_expect_objective(h, "mdlm", &err), 0);
            ck_assert_int_ne(duet_ckpt_expect_objective(h, "ar", &err), 0);
            ck_assert_ptr_nonnull(strstr(err.msg, p));
            ck_assert_ptr_nonnull(strstr(err.msg, "'mdlm', expected 'ar'"));
            /* compression happened: N(0, 0.02) floats shrink by >= 5% */
            if (levels[k] > 0)
                ck_assert_uint_lt(e->comp_size, LARGE * sizeof(float) * 95 / 100);
            duet_ckpt_close(h);
            ck_assert_int_eq(duet_ckpt_verify(p, &err), 0);
            free(p);
        }
        free(f.params);
    }
}
END_TEST

/* The header and table follow docs/formats.md byte for byte. */
START_TEST(layout_matches_docs)
{
    fixture f;
    fixture_init(&f, SMALL, 4);
    char *p = path_in("l.duet");
    write_ok(p, 42, &f, 1);
    size_t n;
    uint8_t *b = test_read_file(p, &n);
    ck_assert_int_eq(memcmp(b, "DUETCKPT", 8), 0);
    ck_assert_uint_eq(get_le(b + 8, 4), 1);  /* version */
    ck_assert_uint_eq(get_le(b + 12, 4), 0); /* flags */
    ck_assert_uint_eq(get_le(b + 16, 8), 42);
    ck_assert_uint_eq(get_le(b + 24, 8), n);
    ck_assert_uint_eq(get_le(b + 32, 4), 4);
    ck_assert_str_eq((char *)b + 40, "mdlm");
    uint32_t crc = (uint32_t)get_le(b + CRC_FIELD, 4);
    fix_crc(b);
    ck_assert_uint_eq(get_le(b + CRC_FIELD, 4), crc);
    uint64_t off = HEADER + 4 * ENTRY;
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = b + HEADER + i * ENTRY;
        ck_assert_str_eq((const char *)e, f.sec[i].name);
        ck_assert_uint_eq(get_le(e + 32, 8), off);
        uint64_t comp = get_le(e + 40, 8);
        ck_assert_uint_eq(get_le(e + 48, 8), f.sec[i].size);
        ck_assert_uint_eq(get_le(e + 56, 4),
                          crc32(0L, f.sec[i].data ? f.sec[i].data : (const void *)"",
                                (uInt)f.sec[i].size));
        /* method, element size; params are shuffled in 4 byte lanes */
        int typed = i == 2;
        ck_assert_uint_eq(get_le(e + 60, 2), typed ? DUET_CKPT_SHUFFLED : DUET_CKPT_ZLIB);
        ck_assert_uint_eq(get_le(e + 62, 2), typed ? 4 : 1);
        /* each section is one zlib stream of exactly comp bytes */
        uLongf rawlen = (uLongf)f.sec[i].size + 1;
        uint8_t *raw = malloc(rawlen);
        ck_assert_int_eq(uncompress(raw, &rawlen, b + off, (uLong)comp), Z_OK);
        ck_assert_uint_eq(rawlen, f.sec[i].size);
        if (typed) { /* one block: byte k of float j is at raw[k * SMALL + j] */
            const uint8_t *w = (const uint8_t *)f.params;
            for (size_t j = 0; j < SMALL; j++)
                for (size_t k = 0; k < 4; k++)
                    ck_assert_uint_eq(raw[k * SMALL + j], w[4 * j + k]);
        } else if (rawlen > 0) {
            ck_assert_int_eq(memcmp(raw, f.sec[i].data, rawlen), 0);
        }
        free(raw);
        off += comp;
    }
    ck_assert_uint_eq(off, n);
    free(b);
    free(p);
    free(f.params);
}
END_TEST

START_TEST(rejects_bad_arguments)
{
    fixture f;
    fixture_init(&f, SMALL, 4);
    char *p = path_in("a.duet");
    duet_ckpt_meta meta = {.step = 1, .objective = "mdlm"};
    ck_assert_int_ne(duet_ckpt_write(p, &meta, f.sec, 4, 10, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "level 10"));
    meta.step = -1;
    ck_assert_int_ne(duet_ckpt_write(p, &meta, f.sec, 4, 1, &err), 0);
    meta = (duet_ckpt_meta){.step = 1, .objective = "an-objective-name-of-32-bytes-xx"};
    ck_assert_int_ne(duet_ckpt_write(p, &meta, f.sec, 4, 1, &err), 0);
    meta.objective = "mdlm";
    duet_ckpt_section dup[2] = {{"params", "a", 1, 0}, {"params", "b", 1, 0}};
    ck_assert_int_ne(duet_ckpt_write(p, &meta, dup, 2, 1, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "'params' given twice"));
    duet_ckpt_section bad[4] = {{"", "a", 1, 0},
                                {"a-section-name-of-32-bytes-xxxxx", "b", 1, 0},
                                {"params", "abcdef", 6, 3},
                                {"params", "abcdef", 6, 4}};
    ck_assert_int_ne(duet_ckpt_write(p, &meta, bad, 1, 1, &err), 0);
    ck_assert_int_ne(duet_ckpt_write(p, &meta, bad + 1, 1, 1, &err), 0);
    ck_assert_int_ne(duet_ckpt_write(p, &meta, bad + 2, 1, 1, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "element size 3"));
    ck_assert_int_ne(duet_ckpt_write(p, &meta, bad + 3, 1, 1, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "6 bytes is not a whole number of 4-byte elements"));
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    ck_assert(!exists(p));
    free(p);
    free(f.params);
}
END_TEST

/* ---- corruption ------------------------------------------------------- */

/* Writes the SMALL fixture (params typed with elem) at `level` to
 * good.duet and returns the file's bytes (*n of them); *bad is a path for
 * mutated copies. Undone by free_sample. */
static uint8_t *write_sample(fixture *f, size_t elem, int level, char **good, char **bad,
                             size_t *n)
{
    fixture_init(f, SMALL, elem);
    *good = path_in("good.duet");
    *bad = path_in("bad.duet");
    write_ok(*good, 5, f, level);
    return test_read_file(*good, n);
}

static void free_sample(fixture *f, uint8_t *b, char *good, char *bad)
{
    free(b);
    free(good);
    free(bad);
    free(f->params);
}

/* Every single byte of the header and the table, flipped, is caught. */
START_TEST(header_and_table_flips)
{
    fixture f;
    char *good, *bad;
    size_t n;
    uint8_t *b = write_sample(&f, 4, 1, &good, &bad, &n);
    for (size_t i = 0; i < HEADER + 4 * ENTRY; i++) {
        b[i] ^= 0x10;
        save(bad, b, n);
        b[i] ^= 0x10;
        const char *what = i < 8 ? "not a duet checkpoint"
                         : i < 12 ? "newer duet" /* a flipped bit makes version 1 larger */
                         : "";
        expect_open_fails(bad, what);
    }
    free_sample(&f, b, good, bad);
}
END_TEST

/* Flips at the start, middle and end of each section's stored bytes fail
 * that section's read (naming it) and leave the other sections readable. */
START_TEST(section_flips)
{
    for (int level = 0; level <= 1; level++) {
        fixture f;
        char *good, *bad;
        size_t n;
        uint8_t *b = write_sample(&f, 4, level, &good, &bad, &n);
        for (int s = 0; s < 4; s++) {
            const uint8_t *e = b + HEADER + s * ENTRY;
            uint64_t off = get_le(e + 32, 8), comp = get_le(e + 40, 8);
            if (comp == 0)
                continue; /* the empty section stored at level 0 */
            uint64_t where[3] = {off, off + comp / 2, off + comp - 1};
            for (int k = 0; k < 3; k++) {
                b[where[k]] ^= 0xFF;
                save(bad, b, n);
                b[where[k]] ^= 0xFF;
                duet_ckpt *h = duet_ckpt_open(bad, &err);
                ck_assert_msg(h != NULL, "%s", err.msg);
                for (int t = 0; t < 4; t++) {
                    uint8_t *buf = malloc(f.sec[t].size + 1);
                    int rc = duet_ckpt_read(h, f.sec[t].name, buf, f.sec[t].size, &err);
                    if (t == s) {
                        ck_assert_msg(rc != 0, "level %d: flip at %llu in '%s' not detected",
                                      level, (unsigned long long)where[k], f.sec[s].name);
                        char want[64];
                        snprintf(want, sizeof want, "section '%s'", f.sec[s].name);
                        ck_assert_msg(strstr(err.msg, bad) && strstr(err.msg, want), "%s",
                                      err.msg);
                    } else {
                        ck_assert_msg(rc == 0, "%s", err.msg);
                    }
                    free(buf);
                }
                ck_assert_int_ne(duet_ckpt_check(h, &err), 0);
                duet_ckpt_close(h);
                ck_assert_int_ne(duet_ckpt_verify(bad, &err), 0);
            }
        }
        free_sample(&f, b, good, bad);
    }
}
END_TEST

START_TEST(truncations)
{
    fixture f;
    char *good, *bad;
    size_t n;
    uint8_t *b = write_sample(&f, 4, 1, &good, &bad, &n);
    for (int k = 0; k <= 50; k++) {
        size_t len = k < 50 ? n * (size_t)k / 50 : n - 1;
        save(bad, b, len);
        char sizes[64];
        snprintf(sizes, sizeof sizes, "has %zu bytes", len);
        expect_open_fails(bad, len < 8 ? "not a duet checkpoint" : "truncated");
        if (len >= 8)
            ck_assert_msg(strstr(err.msg, sizes), "%s", err.msg);
        if (len >= HEADER + 4 * ENTRY) { /* the declared size is known and named */
            snprintf(sizes, sizeof sizes, "declares %zu", n);
            ck_assert_msg(strstr(err.msg, sizes), "%s", err.msg);
        }
    }
    /* and bytes appended are refused too */
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    save(bad, longer, n + 1);
    expect_open_fails(bad, "trailing data");
    free(longer);
    free_sample(&f, b, good, bad);
}
END_TEST

START_TEST(wrong_magic_and_future_version)
{
    fixture f;
    char *good, *bad;
    size_t n;
    uint8_t *b = write_sample(&f, 4, 1, &good, &bad, &n);

    save(bad, "dim = 64\nobjective = mdlm\n", 26);
    expect_open_fails(bad, "not a duet checkpoint");
    memcpy(b, "DUETSHRD", 8);
    save(bad, b, n);
    expect_open_fails(bad, "not a duet checkpoint");
    memcpy(b, "DUETCKPT", 8);

    put_le(b + 8, 4, 2);
    fix_crc(b);
    save(bad, b, n);
    expect_open_fails(bad, "written by a newer duet (checkpoint format version 2");
    put_le(b + 8, 4, 1);
    put_le(b + 12, 4, 1); /* a flag this version does not know */
    fix_crc(b);
    save(bad, b, n);
    expect_open_fails(bad, "unknown header flags");
    free_sample(&f, b, good, bad);
}
END_TEST

START_TEST(size_not_what_the_caller_expects)
{
    fixture f;
    fixture_init(&f, SMALL, 4);
    char *p = path_in("c.duet");
    write_ok(p, 5, &f, 1);
    duet_ckpt *h = duet_ckpt_open(p, &err);
    float *buf = malloc((SMALL + 1) * sizeof(float));
    ck_assert_int_ne(duet_ckpt_read(h, "params", buf, (SMALL + 1) * sizeof(float), &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    ck_assert_ptr_nonnull(strstr(err.msg, "section 'params' holds 4000 bytes, expected 4004"));
    ck_assert_int_ne(duet_ckpt_read(h, "params", buf, (SMALL - 1) * sizeof(float), &err), 0);
    void *text;
    size_t n;
    ck_assert_int_ne(duet_ckpt_read_alloc(h, "config", 10, &text, &n, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than the 10 accepted"));
    duet_ckpt_close(h);
    free(buf);
    free(p);
    free(f.params);
}
END_TEST

/* Table entries edited with a valid header CRC (a crafted file): a huge
 * raw size is refused at open, and a plausible but wrong one fails the
 * bounded inflate instead of overrunning or allocating. */
START_TEST(lying_raw_sizes)
{
    fixture f;
    char *good, *bad;
    size_t n;
    uint8_t *b = write_sample(&f, 0, 1, &good, &bad, &n);
    uint8_t *params = b + HEADER + 2 * ENTRY; /* entry of "params" */
    uint64_t comp = get_le(params + 40, 8), raw = get_le(params + 48, 8);

    put_le(params + 48, 8, (uint64_t)1 << 60);
    fix_crc(b);
    save(bad, b, n);
    expect_open_fails(bad, "section 'params' declares 1152921504606846976 raw bytes");

    put_le(params + 48, 8, comp * 1033);
    fix_crc(b);
    save(bad, b, n);
    expect_open_fails(bad, "impossible");

    /* more than the data holds: inflate ends early */
    size_t big = (size_t)comp * 1000;
    put_le(params + 48, 8, big);
    fix_crc(b);
    save(bad, b, n);
    duet_ckpt *h = duet_ckpt_open(bad, &err);
    ck_assert_msg(h != NULL, "%s", err.msg);
    ck_assert_int_ne(duet_ckpt_read(h, "params", f.params, raw, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "expected 4000"));
    void *out;
    size_t got;
    ck_assert_int_ne(duet_ckpt_read_alloc(h, "params", 1 << 20, &out, &got, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than the 1048576 accepted"));
    ck_assert_int_ne(duet_ckpt_read_alloc(h, "params", big, &out, &got, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "decompressed to 4000 bytes, table declares"));
    ck_assert_int_ne(duet_ckpt_check(h, &err), 0);
    duet_ckpt_close(h);

    /* less than the data holds: stops at the declared size */
    put_le(params + 48, 8, raw - 1);
    fix_crc(b);
    save(bad, b, n);
    h = duet_ckpt_open(bad, &err);
    ck_assert_msg(h != NULL, "%s", err.msg);
    uint8_t *buf = malloc(raw - 1);
    ck_assert_int_ne(duet_ckpt_read(h, "params", buf, raw - 1, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than the declared 3999 bytes"));
    free(buf);
    duet_ckpt_close(h);

    /* an element size the format does not know */
    put_le(params + 48, 8, raw);
    put_le(params + 62, 2, 3);
    fix_crc(b);
    save(bad, b, n);
    expect_open_fails(bad, "section 'params': invalid element size 3");
    put_le(params + 62, 2, 1);

    /* overlapping or gapped sections */
    put_le(params + 48, 8, raw);
    put_le(params + 32, 8, get_le(params + 32, 8) - 1);
    fix_crc(b);
    save(bad, b, n);
    expect_open_fails(bad, "section 'params' starts at byte");
    free_sample(&f, b, good, bad);
}
END_TEST

/* 300 random byte flips and truncations of a real checkpoint: each either
 * fails cleanly, naming the file, or reads back identical data (a flip in
 * deflate's final padding bits changes nothing). Run under ASan by
 * `make SAN=1 check-unit`. */
START_TEST(fuzz_flips_and_truncations)
{
    fixture f;
    char *good, *bad;
    size_t n;
    uint8_t *b = write_sample(&f, 4, 1, &good, &bad, &n);
    uint8_t *m = malloc(n);
    duet_rng r = duet_rng_keyed(99, 0, 0, DUET_STREAM_USER);
    int accepted = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(m, b, n);
        size_t len = n;
        if (duet_rng_below(&r, 3) == 0) {
            len = duet_rng_below(&r, (uint32_t)n);
        } else {
            size_t at = duet_rng_below(&r, (uint32_t)n);
            m[at] ^= (uint8_t)(1 + duet_rng_below(&r, 255));
        }
        save(bad, m, len);
        duet_ckpt *h = duet_ckpt_open(bad, &err);
        int ok = h != NULL;
        for (int s = 0; ok && s < 4; s++) {
            void *out = NULL;
            size_t got = 0;
            ok = duet_ckpt_read_alloc(h, f.sec[s].name, 1 << 20, &out, &got, &err) == 0;
            if (ok) {
                ck_assert_uint_eq(got, f.sec[s].size);
                ck_assert_int_eq(memcmp(out, f.sec[s].data ? f.sec[s].data : "", got), 0);
            }
            free(out);
        }
        if (ok) {
            accepted++;
        } else {
            ck_assert_msg(strstr(err.msg, bad), "message '%s' does not name the file", err.msg);
        }
        duet_ckpt_close(h);
    }
    ck_assert_int_le(accepted, 5); /* only padding bits may go unnoticed */
    free(m);
    free_sample(&f, b, good, bad);
}
END_TEST

/* ---- failed writes ---------------------------------------------------- */

/* Number of "*.tmp" files in dir (leftovers of a write). */
static int count_tmp(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int k = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        k += len >= 4 && strcmp(de->d_name + len - 4, ".tmp") == 0;
    }
    closedir(d);
    return k;
}

START_TEST(failed_writes_leave_previous_checkpoint)
{
    fixture f;
    fixture_init(&f, SMALL, 4);
    char prev[4096], next[4096];
    ck_assert_int_eq(duet_ckpt_path(dir, 100, prev, sizeof prev), 0);
    ck_assert_int_eq(duet_ckpt_path(dir, 200, next, sizeof next), 0);
    write_ok(prev, 100, &f, 1);
    size_t n0;
    uint8_t *before = test_read_file(prev, &n0);
    duet_ckpt_meta meta = {.step = 200, .objective = "mdlm"};

    /* directory does not exist */
    char *missing = path_in("no/such/dir/ckpt_0000000200.duet");
    ck_assert_int_ne(duet_ckpt_write(missing, &meta, f.sec, 4, 1, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, missing));
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file or directory"));
    free(missing);

    /* the target name is taken by a directory: rename fails, tmp removed */
    ck_assert_int_eq(mkdir(next, 0755), 0);
    ck_assert_int_ne(duet_ckpt_write(next, &meta, f.sec, 4, 1, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, next));
    ck_assert_ptr_nonnull(strstr(err.msg, "rename"));
    ck_assert_int_eq(rmdir(next), 0);
    ck_assert_int_eq(count_tmp(), 0);

    /* read-only directory (root ignores permissions: then only the other
     * cases apply) */
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(dir, 0555), 0);
        ck_assert_int_ne(duet_ckpt_write(next, &meta, f.sec, 4, 1, &err), 0);
        ck_assert_ptr_nonnull(strstr(err.msg, "Permission denied"));
        ck_assert_int_eq(chmod(dir, 0755), 0);
    }

    /* file size limit hit in mid-section, in a child: SIGXFSZ would kill it
     * unless the writer ignores it; both a new name and an overwrite of the
     * previous checkpoint must fail cleanly. */
    fixture big;
    fixture_init(&big, 1 << 18, 4); /* 1 MiB of params */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        struct rlimit rl = {64 << 10, 64 << 10};
        setrlimit(RLIMIT_FSIZE, &rl);
        duet_ckpt_meta m100 = {.step = 100, .objective = "mdlm"};
        duet_err e1, e2;
        int rc1 = duet_ckpt_write(next, &meta, big.sec, 4, 1, &e1);
        int rc2 = duet_ckpt_write(prev, &m100, big.sec, 4, 1, &e2);
        struct sigaction now;
        sigaction(SIGXFSZ, NULL, &now);
        dprintf(pfd[1], "%s\n%s\n", e1.msg, e2.msg);
        _exit(rc1 == 0 || rc2 == 0 ? 1 : now.sa_handler != SIG_DFL ? 3 : 0);
    }
    close(pfd[1]);
    char msgs[2 * DUET_ERR_MAX + 4] = "";
    size_t got = 0;
    ssize_t k;
    while ((k = read(pfd[0], msgs + got, sizeof msgs - 1 - got)) > 0)
        got += (size_t)k;
    msgs[got] = 0;
    close(pfd[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x: %s", st, msgs);
    ck_assert_msg(strstr(msgs, next) && strstr(msgs, "File too large"), "%s", msgs);
    char *second = strchr(msgs, '\n') + 1;
    ck_assert_msg(strstr(second, prev) && strstr(second, "File too large"), "%s", second);

    ck_assert(!exists(next));
    ck_assert_int_eq(count_tmp(), 0);
    size_t n1;
    uint8_t *after = test_read_file(prev, &n1);
    ck_assert_uint_eq(n1, n0);
    ck_assert_int_eq(memcmp(before, after, n0), 0);
    char found[4096];
    int64_t step = -1;
    ck_assert_int_eq(duet_ckpt_find_latest(dir, found, sizeof found, &step, NULL, NULL, &err), 0);
    ck_assert_str_eq(found, prev);
    ck_assert_int_eq(step, 100);
    free(before);
    free(after);
    free(big.params);
    free(f.params);
}
END_TEST

/* ---- run directories -------------------------------------------------- */

typedef struct notes {
    char text[8192];
} notes;

static void collect(void *ctx, const char *msg)
{
    notes *n = ctx;
    size_t len = strlen(n->text);
    snprintf(n->text + len, sizeof n->text - len, "%s\n", msg);
}

static void write_step(const fixture *f, int64_t step)
{
    char p[4096];
    ck_assert_int_eq(duet_ckpt_path(dir, step, p, sizeof p), 0);
    write_ok(p, step, f, 1);
}

/* Flips the last byte (zlib's adler32) of the file at step. */
static void corrupt_step(int64_t step)
{
    char p[4096];
    duet_ckpt_path(dir, step, p, sizeof p);
    size_t n;
    uint8_t *b = test_read_file(p, &n);
    b[n - 1] ^= 1;
    save(p, b, n);
    free(b);
}

static void truncate_step(int64_t step)
{
    char p[4096];
    duet_ckpt_path(dir, step, p, sizeof p);
    size_t n;
    uint8_t *b = test_read_file(p, &n);
    save(p, b, n / 2);
    free(b);
}

static int step_exists(int64_t step)
{
    char p[4096];
    duet_ckpt_path(dir, step, p, sizeof p);
    return exists(p);
}

START_TEST(canonical_paths)
{
    char buf[64];
    ck_assert_int_eq(duet_ckpt_path("run", 42, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "run/ckpt_0000000042.duet");
    ck_assert_int_eq(duet_ckpt_path("run", 12345678901LL, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "run/ckpt_12345678901.duet");
    ck_assert_int_ne(duet_ckpt_path("run", -1, buf, sizeof buf), 0);
    ck_assert_int_ne(duet_ckpt_path("run", 42, buf, 24), 0); /* needs 25 */
    ck_assert_int_eq(duet_ckpt_path("run", 42, buf, 25), 0);
}
END_TEST

START_TEST(find_latest_skips_invalid)
{
    fixture f;
    fixture_init(&f, SMALL, 4);
    char found[4096];
    int64_t step = -1;
    notes nt = {""};
    /* nothing yet: no directory, then an empty one */
    char *none = path_in("absent");
    ck_assert_int_eq(duet_ckpt_find_latest(none, found, sizeof found, &step, NULL, NULL, &err), 1);
    free(none);
    ck_assert_int_eq(duet_ckpt_find_latest(dir, found, sizeof found, &step, NULL, NULL, &err), 1);

    for (int64_t s = 100; s <= 500; s += 100)
        write_step(&f, s);
    corrupt_step(500);
    truncate_step(400);
    /* a copy under a name whose step disagrees with its header */
    char p300[4096], p700[4096];
    duet_ckpt_path(dir, 300, p300, sizeof p300);
    duet_ckpt_path(dir, 700, p700, sizeof p700);
    size_t n;
    uint8_t *b = test_read_file(p300, &n);
    save(p700, b, n);
    free(b);
    free(test_write_file(dir, "ckpt_0000000600.duet.tmp", "partial", 7));
    free(test_write_file(dir, "notes.txt", "hello", 5));
    free(test_write_file(dir, "ckpt_12.duet", "x", 1));
    free(test_write_file(dir, "ckpt_0000000800.duet.bak", "x", 1));

    ck_assert_int_eq(duet_ckpt_find_latest(dir, found, sizeof found, &step, collect, &nt, &err), 0);
    ck_assert_str_eq(found, p300);
    ck_assert_int_eq(step, 300);
    ck_assert_msg(strstr(nt.text, "ckpt_0000000600.duet.tmp: leftover"), "%s", nt.text);
    ck_assert_msg(strstr(nt.text, "ckpt_0000000700.duet: header says step 300"), "%s", nt.text);
    ck_assert_msg(strstr(nt.text, "ckpt_0000000500.duet: section 'train_state'"), "%s", nt.text);
    ck_assert_msg(strstr(nt.text, "ckpt_0000000400.duet: truncated"), "%s", nt.text);
    ck_assert_ptr_null(strstr(nt.text, "notes.txt"));
    ck_assert_ptr_null(strstr(nt.text, "ckpt_12"));
    ck_assert_ptr_null(strstr(nt.text, ".bak"));
    ck_assert_ptr_null(strstr(nt.text, "ckpt_0000000200"));

    ck_assert_int_eq(duet_ckpt_find_latest(dir, found, 10, &step, NULL, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "does not fit"));

    /* prune: invalid files newer than the newest valid one stay, 100 goes */
    nt.text[0] = 0;
    ck_assert_int_eq(duet_ckpt_prune(dir, 2, collect, &nt, &err), 2);
    ck_assert(step_exists(700) && step_exists(500) && step_exists(400));
    ck_assert(step_exists(300) && step_exists(200) && !step_exists(100));
    char *tmp = path_in("ckpt_0000000600.duet.tmp"), *other = path_in("notes.txt");
    ck_assert(!exists(tmp) && exists(other));
    ck_assert_msg(strstr(nt.text, "keeping invalid checkpoint newer than any valid one"), "%s",
                  nt.text);
    free(tmp);
    free(other);
    free(f.params);
}
END_TEST

START_TEST(prune_keeps_newest_valid)
{
    fixture f;
    fixture_init(&f, SMALL, 4);
    for (int64_t s = 1; s <= 5; s++)
        write_step(&f, s);
    ck_assert_int_eq(duet_ckpt_prune(dir, 2, NULL, NULL, &err), 3);
    ck_assert(step_exists(5) && step_exists(4) && !step_exists(3) && !step_exists(1));
    ck_assert_int_eq(duet_ckpt_prune(dir, 2, NULL, NULL, &err), 0);
    ck_assert_int_eq(duet_ckpt_prune(dir, 0, NULL, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "at least 1"));

    /* an invalid file between valid ones is deleted; valid ones are kept */
    write_step(&f, 6);
    write_step(&f, 7);
    corrupt_step(6);
    ck_assert_int_eq(duet_ckpt_prune(dir, 10, NULL, NULL, &err), 1);
    ck_assert(step_exists(7) && !step_exists(6) && step_exists(5) && step_exists(4));
    /* the newest being corrupt, keep=1 still keeps the newest valid one */
    corrupt_step(7);
    ck_assert_int_eq(duet_ckpt_prune(dir, 1, NULL, NULL, &err), 1);
    ck_assert(step_exists(7) && step_exists(5) && !step_exists(4));
    free(f.params);
}
END_TEST

Suite *suite_ckpt(void)
{
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip_levels);
    tcase_add_test(tc, layout_matches_docs);
    tcase_add_test(tc, rejects_bad_arguments);
    tcase_add_test(tc, header_and_table_flips);
    tcase_add_test(tc, section_flips);
    tcase_add_test(tc, truncations);
    tcase_add_test(tc, wrong_magic_and_future_version);
    tcase_add_test(tc, size_not_what_the_caller_expects);
    tcase_add_test(tc, lying_raw_sizes);
    tcase_add_test(tc, fuzz_flips_and_truncations);
    tcase_add_test(tc, failed_writes_leave_previous_checkpoint);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("dir");
    tcase_add_checked_fixture(td, setup, teardown);
    tcase_add_test(td, canonical_paths);
    tcase_add_test(td, find_latest_skips_invalid);
    tcase_add_test(td, prune_keeps_newest_valid);
    suite_add_tcase(s, td);
    return s;
}
