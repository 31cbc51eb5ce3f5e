/* Helpers shared by the Check suites. */
#ifndef DUET_TESTUTIL_H
#define DUET_TESTUTIL_H

#include <stddef.h>

/* A fresh empty directory for this test (under $TMPDIR or /tmp); the caller
 * owns the returned string. Removed recursively by test_rmtree. */
char *test_tmpdir(void);
void test_rmtree(const char *path);

/* Writes n bytes to dir/name; returns the malloc'ed full path. */
char *test_write_file(const char *dir, const char *name, const void *data, size_t n);
/* Reads a whole file, NUL-terminated; *n (if non-NULL) receives its size.
 * NULL if unreadable. */
void *test_read_file(const char *path, size_t *n);

/* Path of a built binary, e.g. test_bin("duet-train"): $DUET_BUILD/bin/NAME
 * (DUET_BUILD defaults to "build"). Caller frees. */
char *test_bin(const char *name);

/* Runs a shell command, capturing stdout+stderr into *out (malloc'ed, may be
 * NULL). Returns the exit status (or 128+signal). */
int test_run(const char *cmd, char **out);

/* printf into a new string (caller frees): commands and paths of any length. */
char *test_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Max of |a-b| / max(|b|, floor) over n elements. */
double test_max_rel_err(const float *a, const float *b, size_t n, double floor);

/* Runs `PREFIX run_dir=DIR/RUN KEYS` on np ranks through
 * launch/duet-mpirun.sh (PREFIX: duet-train and the suite's common keys);
 * returns the exit status, output in *out as test_run. */
int test_train_run(int np, const char *prefix, const char *dir, const char *run, const char *keys,
                   char **out);
/* Path of the checkpoint of `step` in the run directory dir/run (caller
 * frees). */
char *test_ckpt_of(const char *dir, const char *run, int step);
/* The whole section `name` of the checkpoint at `path`, *n its bytes;
 * exits with the reader's error if it cannot be read. Caller frees. */
void *test_ckpt_section(const char *path, const char *name, size_t *n);
/* 1 if section `name` of checkpoints a and b holds the same bytes. */
int test_ckpt_sections_equal(const char *a, const char *b, const char *name);

/* A new temporary directory holding a 512-token tokenizer (tok.bin) and
 * shards of the embedded Brown validation text (data/train*, data/val*):
 * the small data of the end-to-end suites. Caller frees the path. */
char *test_tiny_data(void);

#endif
